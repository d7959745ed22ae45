"""Blind spots and site suggestions against an independent geodesic recomputation."""

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from pyproj import Geod

from geo.config import DEFAULTS
from geo.errors import InvalidInput
from geo.planning.coverage import (
    blind_spots,
    caseloads,
    cells_without_worker,
    suggest_sites,
    villages_without,
)

RULES = DEFAULTS["rules"]
GEOD = Geod(ellps="WGS84")


def _min_distance(points: pd.DataFrame, targets: pd.DataFrame) -> np.ndarray:
    """Brute force: every point against every target, geodesic metres."""
    out = np.full(len(points), np.inf)
    for t in targets.itertuples():
        _, _, d = GEOD.inv(points["lon"].to_numpy(), points["lat"].to_numpy(),
                           np.full(len(points), t.lon), np.full(len(points), t.lat))
        out = np.minimum(out, d)
    return out


@pytest.fixture
def households(conn):
    return pd.read_sql(
        "SELECT h.id, h.cell_id, ST_X(h.geom) lon, ST_Y(h.geom) lat, "
        "(SELECT count(*) FROM child c WHERE c.household_id = h.id) AS children "
        "FROM household h", conn)


@pytest.mark.parametrize("ftype", ["rescue_station", "designated_hospital", "school",
                                   "children_home"])
def test_blind_spot_counts_match_brute_force(conn, households, ftype):
    facilities = pd.read_sql(sa.text(
        "SELECT ST_X(geom) lon, ST_Y(geom) lat FROM facility WHERE type = :t"), conn,
        params={"t": ftype})
    reach = RULES["service_reach_m"][ftype]
    hh = households.assign(uncovered=_min_distance(households, facilities) > reach)
    got = blind_spots(conn, RULES, ftype)
    assert got["totals"]["households"] == len(hh)
    assert got["totals"]["uncovered_households"] == int(hh["uncovered"].sum())
    assert got["totals"]["uncovered_children"] == int(hh.loc[hh["uncovered"], "children"].sum())
    per_cell = hh[hh["uncovered"]].groupby("cell_id")["children"].sum()
    got_cells = {c["cell_id"]: c["uncovered_children"] for c in got["cells"]}
    assert {k: v for k, v in got_cells.items() if v} == {k: v for k, v in
                                                         per_cell.items() if v}
    assert sum(v["uncovered_children"] for v in got["villages"]) == \
        got["totals"]["uncovered_children"]
    if got["totals"]["uncovered_children"]:
        assert got["area"]["geometry"]["type"] in ("Polygon", "MultiPolygon")
        assert got["area"]["km2"] > 0


def test_suggested_first_site_is_the_best_single_site(conn, households):
    ftype = "school"
    reach = RULES["service_reach_m"][ftype]
    facilities = pd.read_sql("SELECT ST_X(geom) lon, ST_Y(geom) lat FROM facility "
                             "WHERE type = 'school'", conn)
    gap = households[_min_distance(households, facilities) > reach]
    cands = pd.read_sql("SELECT code, ST_X(p) lon, ST_Y(p) lat FROM unit c, "
                        "LATERAL ST_PointOnSurface(c.geom) p WHERE level = 'cell'", conn)
    gains = []
    for c in cands.itertuples():
        _, _, d = GEOD.inv(gap["lon"].to_numpy(), gap["lat"].to_numpy(),
                           np.full(len(gap), c.lon), np.full(len(gap), c.lat))
        gains.append(int(gap.loc[d <= reach, "children"].sum()))
    got = suggest_sites(conn, RULES, ftype, k=3)
    assert got["uncovered_children_before"] == int(gap["children"].sum())
    assert got["sites"][0]["children_added"] == max(gains)
    added = [s["children_added"] for s in got["sites"]]
    assert added == sorted(added, reverse=True) and all(a > 0 for a in added)
    assert got["children_reached"] == sum(added)


def test_suggest_sites_with_given_candidates(conn):
    point = conn.execute(sa.text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom)"
                                 " p FROM unit WHERE level = 'county') c")).one()
    got = suggest_sites(conn, RULES, "rescue_station", k=2, candidates=[tuple(point)])
    assert len(got["sites"]) <= 1
    with pytest.raises(InvalidInput, match="outside the county"):
        suggest_sites(conn, RULES, "school", candidates=[(116.4, 39.9)])


def test_cells_without_worker(conn):
    cells = cells_without_worker(conn)
    assert cells and all(c["children"] > 0 for c in cells)
    conn.execute(sa.text(
        "INSERT INTO worker_unit (worker_id, unit_id) SELECT w.id, :c FROM worker w "
        "WHERE w.role = 'grid_worker' LIMIT 1"), {"c": cells[0]["cell_id"]})
    assert cells[0]["cell_id"] not in {c["cell_id"] for c in cells_without_worker(conn)}


def test_caseloads_against_pandas(conn):
    rows = caseloads(conn, RULES)
    kids = pd.read_sql("SELECT h.cell_id FROM child c JOIN household h ON h.id = c.household_id",
                       conn)
    per_cell = kids["cell_id"].value_counts()
    assign = pd.read_sql("SELECT wu.worker_id, wu.unit_id FROM worker_unit wu JOIN worker w "
                         "ON w.id = wu.worker_id WHERE w.role = 'grid_worker'", conn)
    want = assign.assign(n=assign["unit_id"].map(per_cell).fillna(0)).groupby("worker_id")["n"]
    want = want.sum().astype(int).to_dict()
    assert {r["worker_id"]: r["children"] for r in rows} == want
    over = caseloads(conn, RULES, over_only=True)
    assert all(r["children"] > RULES["caseload_limit"] for r in over)
    assert len(over) == sum(1 for v in want.values() if v > RULES["caseload_limit"])


def test_villages_without_a_childrens_home(conn):
    rows = villages_without(conn)
    homes = pd.read_sql("SELECT DISTINCT c.village_id FROM facility f JOIN unit c "
                        "ON c.id = f.unit_id WHERE f.type = 'children_home'", conn)
    total = conn.execute(sa.text("SELECT count(*) FROM unit WHERE level = 'village'")).scalar()
    assert len(rows) == total - len(homes) > 0


@pytest.mark.parametrize("kwargs, message", [
    ({"facility_type": "zoo"}, "unknown facility type zoo"),
    ({"facility_type": "school", "reach_m": -5}, "reach_m must be above 0"),
    ({"facility_type": "police_station"}, "no service reach configured"),
])
def test_bad_input(conn, kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        blind_spots(conn, RULES, **kwargs)
    with pytest.raises(InvalidInput, match="k must be between 1 and 50"):
        suggest_sites(conn, RULES, "school", k=0)

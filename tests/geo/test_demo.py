"""The seeded demo county has what the rest of the product relies on."""

import csv
import re
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from geo import vocab
from geo.config import DEFAULTS
from geo.demo import generate_units

UNITS = Path(__file__).resolve().parents[2] / "data" / "boundaries" / "renhe_units.csv"


def _scalar(conn, sql):
    return conn.execute(sa.text(sql)).scalar_one()


def test_counts_match_the_summary(conn, demo):
    for table, count in demo["rows"].items():
        assert _scalar(conn, f"SELECT count(*) FROM {table}") == count
    assert demo["rows"]["household"] == 5000 and demo["rows"]["child"] == 2000


def test_real_townships_and_villages(conn):
    with open(UNITS, encoding="utf-8") as fh:
        shipped = {(r["code"], r["name"]) for r in csv.DictReader(fh)}
    loaded = set(conn.execute(sa.text(
        "SELECT code, name FROM unit WHERE level IN ('township', 'village')")).all())
    assert loaded == shipped


def test_every_township_has_a_grid_head_and_a_supervisor(conn):
    missing = conn.execute(sa.text(
        """
        SELECT t.code, array_agg(DISTINCT w.role) AS roles
          FROM unit t
          LEFT JOIN unit u ON u.township_id = t.id
          LEFT JOIN worker w ON w.unit_id = u.id
         WHERE t.level = 'township'
         GROUP BY t.code
        HAVING NOT array_agg(w.role) @> ARRAY['grid_head', 'supervisor']::varchar[]
        """)).all()
    assert missing == []


def test_a_few_cells_with_children_lack_a_grid_worker(conn):
    row = conn.execute(sa.text(
        """
        SELECT count(*) AS cells,
               count(*) FILTER (WHERE NOT EXISTS (
                   SELECT 1 FROM worker_unit wu JOIN worker w ON w.id = wu.worker_id
                    WHERE wu.unit_id = c.id AND w.role = 'grid_worker')) AS without
          FROM unit c WHERE c.level = 'cell'
        """)).mappings().one()
    assert 0 < row["without"] < 0.1 * row["cells"]


def test_every_facility_type_and_beds_respect_capacity(conn):
    types = {t for (t,) in conn.execute(sa.text("SELECT DISTINCT type FROM facility"))}
    assert types == set(vocab.FACILITY_TYPES)
    assert _scalar(conn, "SELECT count(*) FROM facility WHERE occupied > capacity") == 0
    assert _scalar(conn, "SELECT count(*) FROM facility WHERE capacity > 0 "
                         "AND occupied = capacity") > 0  # some are full
    villages = _scalar(conn, "SELECT count(*) FROM unit WHERE level = 'village'")
    with_home = _scalar(conn, """SELECT count(DISTINCT c.village_id) FROM facility f
                                  JOIN unit c ON c.id = f.unit_id
                                 WHERE f.type = 'children_home'""")
    assert 0.5 * villages < with_home < villages  # some villages lack a children's home


def test_categories_and_risk_levels(conn):
    cats = pd.read_sql("SELECT categories, risk_level FROM child", conn)
    assert cats["categories"].map(len).min() >= 1
    seen = {c for row in cats["categories"] for c in row}
    assert seen <= set(vocab.CHILD_CATEGORIES)
    assert {"left_behind", "orphan", "poor_family"} <= seen
    assert set(cats["risk_level"]) == set(DEFAULTS["rules"]["risk_levels"])
    share_left_behind = cats["categories"].map(lambda c: "left_behind" in c).mean()
    assert 0.3 < share_left_behind < 0.7


def test_identity_numbers_are_never_stored_in_clear(conn):
    columns = conn.execute(sa.text(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND data_type IN ('text', 'character varying')"
    )).all()
    # 18 characters standing alone (a hex hash may contain long runs of digits).
    clear = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
    for table, column in columns:
        values = conn.execute(sa.text(f'SELECT "{column}" FROM "{table}" '
                                      f'WHERE "{column}" IS NOT NULL LIMIT 5000')).scalars()
        hits = [v for v in values if clear.search(v) and table != "spatial_ref_sys"]
        assert not hits, f"{table}.{column} holds identity numbers in clear"
    masked = conn.execute(sa.text("SELECT id_masked FROM child LIMIT 50")).scalars().all()
    assert all(m.count("*") == 8 and len(m) == 18 for m in masked)
    assert _scalar(conn, "SELECT count(DISTINCT id_hash) = count(*) FROM child")


def test_some_cells_never_visited_and_some_overdue(conn, demo):
    """Recomputed from raw visit rows with pandas and the configured intervals."""
    rules = DEFAULTS["rules"]
    children = pd.read_sql(
        "SELECT c.id, c.risk_level, h.cell_id FROM child c "
        "JOIN household h ON h.id = c.household_id", conn)
    visits = pd.read_sql("SELECT child_id, visited_at FROM visit", conn)
    last = visits.groupby("child_id")["visited_at"].max()
    children["last"] = children["id"].map(last)
    today = pd.Timestamp(demo["today"], tz="Asia/Shanghai")
    due = children["last"] + pd.to_timedelta(
        children["risk_level"].map(rules["visit_interval_days"]), unit="D")
    children["overdue"] = children["last"].isna() | (due < today)
    per_cell = children.groupby("cell_id").agg(
        visited=("last", lambda s: s.notna().any()), overdue=("overdue", "any"))
    never = (~per_cell["visited"]).sum()
    overdue = (per_cell["visited"] & per_cell["overdue"]).sum()
    up_to_date = (~per_cell["overdue"]).sum()
    assert never == demo["cells_never_visited"]
    assert overdue >= demo["cells_overdue_planted"] * 0.8
    assert up_to_date > 0.5 * len(per_cell)


def test_visits_lie_within_the_last_year(conn, demo):
    span = conn.execute(sa.text(
        "SELECT min(visited_at)::date, max(visited_at)::date FROM visit")).one()
    today = pd.Timestamp(demo["today"]).date()
    assert (today - span[0]).days <= 366 and span[1] <= today


def test_boundary_generation_is_deterministic():
    a = generate_units(4, seed=11)
    b = generate_units(4, seed=11)
    c = generate_units(4, seed=12)
    assert [u["code"] for u in a] == [u["code"] for u in b]
    assert all(x["geom"].equals_exact(y["geom"], 0) for x, y in zip(a, b, strict=True))
    assert not all(x["geom"].equals_exact(y["geom"], 1e-9)
                   for x, y in zip(a, c, strict=True) if x["level"] != "county")

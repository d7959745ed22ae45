"""The real county: its boundary in WGS84 and its real townships and villages."""

import csv
import json
from pathlib import Path

import numpy as np
import prcoords
import pytest
import shapely
import sqlalchemy as sa
from pyproj import Geod

BOUNDARIES = Path(__file__).resolve().parents[2] / "data" / "boundaries"
GEOD = Geod(ellps="WGS84")


def _shipped_units():
    with open(BOUNDARIES / "renhe_units.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_real_codes_and_names(conn):
    shipped = _shipped_units()
    rows = conn.execute(sa.text(
        "SELECT u.code, u.name, u.level, p.code AS parent_code FROM unit u "
        "JOIN unit p ON p.id = u.parent_id WHERE u.level IN ('township', 'village')"
    )).mappings().all()
    got = {(r["code"], r["name"], r["level"], r["parent_code"]) for r in rows}
    want = {(r["code"], r["name"], r["level"], r["parent_code"]) for r in shipped}
    assert got == want
    assert sum(1 for r in rows if r["level"] == "village") == 89
    assert sum(1 for r in rows if r["level"] == "township") == 14
    # Spot checks against the 2023 national statistics codes.
    names = {r["code"]: r["name"] for r in rows}
    assert names["510411100"] == "仁和镇"
    assert names["510411001"] == "大河中路街道"
    assert names["510411001001"] == "大河中路社区居民委员会"


def test_county_is_real_and_in_wgs84(conn):
    county = conn.execute(sa.text(
        "SELECT code, name, generated, ST_AsGeoJSON(geom) AS gj, ST_SRID(geom) AS srid "
        "FROM unit WHERE level = 'county'")).mappings().one()
    assert (county["code"], county["name"], county["generated"]) == ("510411", "仁和区", False)
    assert county["srid"] == 4326
    stored = shapely.from_geojson(county["gj"])

    # The same boundary converted independently: the raw Amap (GCJ-02) file through
    # prcoords, a separate public-domain implementation of the GCJ-02 inverse.
    raw = json.loads((BOUNDARIES / "renhe_510411_gcj02.geojson").read_text(encoding="utf-8"))
    raw_geom = shapely.geometry.shape(raw.get("geometry", raw))

    def to_wgs(coords):
        out = [prcoords.gcj_wgs_bored((lat, lon)) for lon, lat in coords]
        return np.array([(p[1], p[0]) for p in out])

    independent = shapely.transform(raw_geom, to_wgs)
    a, b = stored.centroid, independent.centroid
    _, _, dist = GEOD.inv(a.x, a.y, b.x, b.y)
    assert dist < 100
    # GCJ-02 is offset from WGS84 by a few hundred metres here: not converting would show.
    _, _, shift = GEOD.inv(a.x, a.y, raw_geom.centroid.x, raw_geom.centroid.y)
    assert shift > 100
    area_km2 = abs(GEOD.geometry_area_perimeter(stored)[0]) / 1e6
    assert area_km2 == pytest.approx(
        abs(GEOD.geometry_area_perimeter(independent)[0]) / 1e6, rel=1e-3)


def test_generated_units_are_labelled(conn):
    rows = dict(conn.execute(sa.text(
        "SELECT level, bool_and(generated) FROM unit GROUP BY level")).all())
    assert rows == {"county": False, "township": True, "village": True, "cell": True}


def test_children_units_cover_their_parent(conn):
    # A ratio of planar areas: exact up to floating noise. (Geography areas of the
    # noise slivers are not meaningful: their long edges become great-circle arcs.)
    gaps = conn.execute(sa.text(
        """
        SELECT p.code,
               ST_Area(ST_SymDifference(p.geom, ST_Union(c.geom))) / ST_Area(p.geom) AS mismatch
          FROM unit p JOIN unit c ON c.parent_id = p.id
         GROUP BY p.id, p.code, p.geom
        """)).all()
    assert len(gaps) == 1 + 14 + 89
    assert gaps and all(m < 1e-6 for _, m in gaps), [g for g in gaps if g[1] >= 1e-6]

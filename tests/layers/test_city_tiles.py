"""Tiles drawn the city-scale way keep their content: children without an effective
guardian binned one point per cell at zooms 13-14 (from the kept child_due rows) add up
to the children a count from the child and household tables finds, and follow a
guardian recorded, a case closed and a household moved."""

import math

import mapbox_vector_tile
import sqlalchemy as sa

from layers.tiles import LAYERS, tile


def tile_of(lon, lat, z):
    n = 2 ** z
    return (int((lon + 180) / 360 * n),
            int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))

# Children without an effective guardian today in the cells whose point lies in the
# tile, counted from the tables themselves.
SCRATCH = """
SELECT c.code, count(*) AS children
  FROM child ch JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id
 WHERE c.level = 'cell' AND ST_PointOnSurface(c.geom) &&
       ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 0.02), 4326)
   AND ch.case_status <> 'closed'
   AND (ch.birth_date + interval '18 years')::date > (now() AT TIME ZONE :tz)::date
   AND NOT EXISTS (SELECT 1 FROM guardian g WHERE g.child_id = ch.id AND g.able_to_care
                   AND (g.unavailable_until IS NULL
                        OR g.unavailable_until < (now() AT TIME ZONE :tz)::date))
 GROUP BY c.code"""


def _bins(conn, z, x, y, county):
    data = tile(conn, LAYERS["no_guardian"], z, x, y, county)
    feats = mapbox_vector_tile.decode(data).get("no_guardian", {}).get("features", [])
    assert all("id" not in f["properties"] and "name" not in f["properties"] for f in feats)
    return {f["properties"]["cell"]: f["properties"]["children"] for f in feats}


def _scratch(conn, z, x, y):
    return {r.code: r.children for r in conn.execute(
        sa.text(SCRATCH), {"z": z, "x": x, "y": y, "tz": "Asia/Shanghai"})}


def test_no_guardian_bins_equal_a_count_and_follow_writes(conn):
    county = conn.execute(sa.text("SELECT id FROM unit WHERE level = 'county' LIMIT 1")
                          ).scalar()
    child, lon, lat = conn.execute(sa.text(
        "SELECT ch.id, ST_X(h.geom), ST_Y(h.geom) FROM child ch "
        "JOIN household h ON h.id = ch.household_id WHERE ch.case_status <> 'closed' "
        "AND ch.birth_date > now() - interval '15 years' ORDER BY ch.id LIMIT 1")).one()
    for z in (13, 14):
        x, y = tile_of(lon, lat, z)
        got = _bins(conn, z, x, y, county)
        assert len(got) > 1 and got == _scratch(conn, z, x, y)
    z = 13
    x, y = tile_of(lon, lat, z)
    cell = conn.execute(sa.text(
        "SELECT c.code FROM child ch JOIN household h ON h.id = ch.household_id "
        "JOIN unit c ON c.id = h.cell_id WHERE ch.id = :c"), {"c": child}).scalar()
    before = _bins(conn, z, x, y, county)
    # An effective guardian: one child fewer in its cell.
    conn.execute(sa.text(
        "INSERT INTO guardian (child_id, relation, name, able_to_care) "
        "VALUES (:c, 'mother', '王芳', true)"), {"c": child})
    after = _bins(conn, z, x, y, county)
    assert after.get(cell, 0) == before[cell] - 1
    assert after == _scratch(conn, z, x, y)
    # Another child's case closed, and a household moved to another cell.
    conn.execute(sa.text(
        "UPDATE child SET case_status = 'closed' WHERE id = (SELECT ch.id FROM child ch "
        "JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id "
        "WHERE c.code = :cell AND ch.id <> :c AND ch.case_status <> 'closed' LIMIT 1)"),
        {"cell": cell, "c": child})
    conn.execute(sa.text(
        "UPDATE household SET cell_id = (SELECT id FROM unit WHERE code = :other) "
        "WHERE id = (SELECT ch.household_id FROM child ch JOIN household h "
        "ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id WHERE c.code = :cell "
        "AND ch.id <> :c ORDER BY ch.id DESC LIMIT 1)"),
        {"cell": cell, "c": child, "other": next(c for c in before if c != cell)})
    assert _bins(conn, z, x, y, county) == _scratch(conn, z, x, y)
    # From zoom 15, one point per child with its id.
    x, y = tile_of(lon, lat, 15)
    single = mapbox_vector_tile.decode(tile(conn, LAYERS["no_guardian"], 15, x, y, county))
    assert all(f["properties"]["children"] == 1 and "id" in f["properties"]
               for f in single["no_guardian"]["features"])

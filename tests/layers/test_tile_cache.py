"""The tile cache (layers/tile_cache.py): repeat views come from memory; a visit, a
household move and an import clear the tiles of their county; one township supervisor
never receives another township's cached tile."""

import math

import mapbox_vector_tile
import pandas as pd
import pytest
import sqlalchemy as sa

from geo.ledgers.ledger import COLUMNS, import_ledger
from geo.office.users import User
from layers import tile_cache
from layers.serve import tile_for_user


def tile_of(lon, lat, z):
    n = 2 ** z
    return (int((lon + 180) / 360 * n),
            int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))


@pytest.fixture(autouse=True)
def empty_cache():
    tile_cache.clear()
    yield
    tile_cache.clear()


@pytest.fixture
def admin(conn):
    county = conn.execute(sa.text(
        "SELECT id, code FROM unit WHERE level = 'county' ORDER BY code LIMIT 1")).one()
    return User(0, "tile_admin", "admin", county.id, county.code, "county")


def fresh(conn, cfg, name, z, x, y, user):
    """The tile built without the cache."""
    return tile_for_user(conn, {**cfg, "tile_cache_mb": 0}, name, z, x, y, user)[0]


def cached(conn, cfg, name, z, x, y, user):
    return tile_for_user(conn, cfg, name, z, x, y, user)[0]


def test_a_repeat_view_comes_from_the_cache(conn, cfg, admin):
    lon, lat = conn.execute(sa.text(
        "SELECT ST_X(geom), ST_Y(geom) FROM household ORDER BY id LIMIT 1")).one()
    x, y = tile_of(lon, lat, 15)
    first = cached(conn, cfg, "households", 15, x, y, admin)
    assert first and cached(conn, cfg, "households", 15, x, y, admin) is first
    assert tile_cache.size()[0] == 1


def test_a_visit_clears_the_status_tile(conn, cfg, admin):
    cell = conn.execute(sa.text(
        "SELECT c.id, ST_X(ST_PointOnSurface(c.geom)) lon, ST_Y(ST_PointOnSurface(c.geom)) lat,"
        " ch.id AS child, (SELECT id FROM worker ORDER BY id LIMIT 1) AS worker FROM unit c "
        "JOIN household h ON h.cell_id = c.id JOIN child ch ON ch.household_id = h.id "
        "WHERE c.level = 'cell' AND NOT EXISTS (SELECT 1 FROM household h2 "
        "  JOIN child c2 ON c2.household_id = h2.id WHERE h2.cell_id = c.id "
        "  AND c2.last_visit_at IS NOT NULL) ORDER BY c.id LIMIT 1")).one()
    x, y = tile_of(cell.lon, cell.lat, 14)
    before = cached(conn, cfg, "cell_status", 14, x, y, admin)
    assert cached(conn, cfg, "cell_status", 14, x, y, admin) is before
    conn.execute(sa.text(
        "INSERT INTO visit (child_id, worker_id, visited_at, kind) "
        "VALUES (:c, :w, now() - interval '1 hour', 'return')"),
        {"c": cell.child, "w": cell.worker})
    after = cached(conn, cfg, "cell_status", 14, x, y, admin)
    assert after != before
    assert after == fresh(conn, cfg, "cell_status", 14, x, y, admin)


def test_a_household_move_clears_the_household_tile(conn, cfg, admin):
    home = conn.execute(sa.text(
        "SELECT id, ST_X(geom) lon, ST_Y(geom) lat, cell_id FROM household "
        "ORDER BY id LIMIT 1")).one()
    away = conn.execute(sa.text(
        "SELECT c.id, ST_X(ST_PointOnSurface(c.geom)) lon, ST_Y(ST_PointOnSurface(c.geom)) lat "
        "FROM unit c WHERE c.level = 'cell' AND c.id <> :c "
        "ORDER BY c.geom <-> (SELECT geom FROM household WHERE id = :h) DESC LIMIT 1"),
        {"c": home.cell_id, "h": home.id}).one()
    x, y = tile_of(home.lon, home.lat, 15)
    before = cached(conn, cfg, "households", 15, x, y, admin)
    assert home.id in _ids(before, "households")
    conn.execute(sa.text(
        "UPDATE household SET cell_id = :c, geom = ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) "
        "WHERE id = :h"), {"c": away.id, "lon": away.lon, "lat": away.lat, "h": home.id})
    after = cached(conn, cfg, "households", 15, x, y, admin)
    assert home.id not in _ids(after, "households")
    assert after == fresh(conn, cfg, "households", 15, x, y, admin)


def test_an_import_clears_the_household_tile(conn, cfg, admin, tmp_path):
    pts = conn.execute(sa.text(
        "SELECT ST_X(g), ST_Y(g) FROM (SELECT (ST_Dump(ST_GeneratePoints(v.geom, 5, 3))).geom g"
        " FROM (SELECT geom FROM unit WHERE level = 'village' ORDER BY code LIMIT 1) v) p")).all()
    x, y = tile_of(*pts[0], 15)
    before = cached(conn, cfg, "households", 15, x, y, admin)
    frame = pd.DataFrame({"ledger_id": [f"TC-H{i}" for i in range(len(pts))],
                          "address": [f"缓存测试{i}号" for i in range(len(pts))],
                          "lon": [p[0] for p in pts], "lat": [p[1] for p in pts],
                          "head_name": "测试户主", "phone": "19900000000", "flags": ""})
    path = tmp_path / "hh.xlsx"
    frame.rename(columns={f: h for f, (h, _) in COLUMNS["households"].items()}).to_excel(
        path, index=False)
    report = import_ledger(conn, path, "households", cfg, role="admin", scope_id=admin.unit_id)
    assert report.created == len(pts), report.errors
    after = cached(conn, cfg, "households", 15, x, y, admin)
    new = set(conn.execute(sa.text(
        "SELECT id FROM household WHERE ledger_id LIKE 'TC-H%'")).scalars())
    assert new & _ids(after, "households") and not new & _ids(before, "households")
    assert after == fresh(conn, cfg, "households", 15, x, y, admin)


def test_a_supervisor_never_gets_another_townships_cached_tile(conn, cfg):
    pair = conn.execute(sa.text(
        "SELECT a.id a_id, a.code a_code, b.id b_id, b.code b_code, "
        "       ST_X(p) lon, ST_Y(p) lat "
        "  FROM unit a JOIN unit b ON b.level = 'township' AND b.id > a.id "
        "   AND ST_Touches(a.geom, b.geom), "
        "       LATERAL ST_ClosestPoint(a.geom, ST_PointOnSurface(b.geom)) p "
        " WHERE a.level = 'township' ORDER BY a.id, b.id LIMIT 1")).one()
    one = User(0, "sup_a", "supervisor", pair.a_id, pair.a_code, "township")
    two = User(0, "sup_b", "supervisor", pair.b_id, pair.b_code, "township")
    x, y = tile_of(pair.lon, pair.lat, 12)
    for layer in ("cells", "coverage"):
        a = cached(conn, cfg, layer, 12, x, y, one)
        b = cached(conn, cfg, layer, 12, x, y, two)
        assert a and b and a != b
        assert b == fresh(conn, cfg, layer, 12, x, y, two)
        mine = set(conn.execute(sa.text(
            "SELECT id FROM unit WHERE level = 'cell' AND township_id = :t"),
            {"t": pair.b_id}).scalars())
        assert _ids(b, layer) <= mine
    z, x, y = 14, *tile_of(pair.lon, pair.lat, 14)
    a = cached(conn, cfg, "households", z, x, y, one)
    b = cached(conn, cfg, "households", z, x, y, two)
    assert b == fresh(conn, cfg, "households", z, x, y, two)
    assert a != b or not a


def _ids(data: bytes, layer: str) -> set[int]:
    if not data:
        return set()
    decoded = mapbox_vector_tile.decode(data)
    return {f["properties"]["id"] for f in decoded.get(layer, {}).get("features", [])
            if "id" in f["properties"]}

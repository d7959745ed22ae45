"""Vector tiles decoded with an independent decoder (mapbox-vector-tile)."""

import math

import mapbox_vector_tile
import pytest
import sqlalchemy as sa

from layers.tiles import LAYERS, tile


def tile_of(lon, lat, z):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def bounds_of(x, y, z):
    n = 2 ** z

    def lat(t):
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * t / n))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


@pytest.fixture
def seat(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit "
            "WHERE level = 'township' AND name LIKE '%街道') t")).one()


def test_facility_tile_has_the_facilities_in_it(as_role, engine, seat):
    z = 10
    x, y = tile_of(*seat, z)
    resp = as_role("responder", "GET", f"/tiles/facilities/{z}/{x}/{y}.pbf")
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.mapbox-vector-tile"
    decoded = mapbox_vector_tile.decode(resp.data)
    got = {f["properties"]["id"] for f in decoded["facilities"]["features"]}
    minx, miny, maxx, maxy = bounds_of(x, y, z)
    with engine.connect() as conn:
        want = set(conn.execute(sa.text(
            "SELECT id FROM facility WHERE ST_X(geom) BETWEEN :a AND :c "
            "AND ST_Y(geom) BETWEEN :b AND :d"),
            {"a": minx, "b": miny, "c": maxx, "d": maxy}).scalars())
    assert want and want <= got  # the tile may also hold features in its small margin


def test_household_tiles_follow_area_and_role(as_role, engine, logins):
    village = logins["grid_worker"]["unit"]
    with engine.connect() as conn:
        lon, lat = conn.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit "
            "WHERE code = :v) t"), {"v": village}).one()
    z = 13
    x, y = tile_of(lon, lat, z)
    assert as_role("planner", "GET", f"/tiles/households/{z}/{x}/{y}.pbf").status_code == 403
    admin = mapbox_vector_tile.decode(
        as_role("admin", "GET", f"/tiles/households/{z}/{x}/{y}.pbf").data)
    mine = mapbox_vector_tile.decode(
        as_role("grid_worker", "GET", f"/tiles/households/{z}/{x}/{y}.pbf").data)
    admin_cells = {f["properties"]["cell"] for f in admin["households"]["features"]}
    my_cells = {f["properties"]["cell"] for f in mine["households"]["features"]}
    assert my_cells and all(c.startswith(village) for c in my_cells)
    assert admin_cells >= my_cells
    assert "name" not in mine["households"]["features"][0]["properties"]


@pytest.mark.parametrize("url, status", [
    ("/tiles/facilities/23/0/0.pbf", 400),
    ("/tiles/facilities/3/9/0.pbf", 400),
    ("/tiles/nothing/3/1/1.pbf", 404),
])
def test_bad_tiles(as_role, url, status):
    resp = as_role("admin", "GET", url)
    assert resp.status_code == status
    assert resp.get_json()["error"]["code"] in ("invalid_input", "not_found")


def test_low_zoom_household_tile_is_empty(as_role, seat):
    x, y = tile_of(*seat, 5)
    resp = as_role("admin", "GET", f"/tiles/households/5/{x}/{y}.pbf")
    assert resp.status_code == 200 and resp.data == b""


def test_coverage_and_reach_layers(as_role, engine, seat):
    z = 10
    x, y = tile_of(*seat, z)
    assert as_role("planner", "GET", f"/tiles/coverage/{z}/{x}/{y}.pbf").status_code == 403
    # Coverage from zoom 11 (a city's z10 tile held ~5,000 cells of 2 px each).
    assert as_role("admin", "GET", f"/tiles/coverage/{z}/{x}/{y}.pbf").data == b""
    cx, cy = tile_of(*seat, 11)
    cov = mapbox_vector_tile.decode(as_role("admin", "GET",
                                            f"/tiles/coverage/11/{cx}/{cy}.pbf").data)
    feats = cov["coverage"]["features"]
    assert feats and {"workers", "caseload", "unstaffed"} <= feats[0]["properties"].keys()
    with engine.connect() as conn:
        worst = conn.execute(sa.text(
            "SELECT max(n) FROM (SELECT count(*) n FROM worker_unit wu "
            "JOIN household h ON h.cell_id = wu.unit_id JOIN child c ON c.household_id = h.id "
            "GROUP BY wu.worker_id) t")).scalar()
    assert max(f["properties"]["caseload"] for f in feats) <= worst
    reach = mapbox_vector_tile.decode(as_role("responder", "GET",
                                              f"/tiles/reach/{z}/{x}/{y}.pbf").data)
    types = {f["properties"]["type"] for f in reach["reach"]["features"]}
    assert types and types <= {"rescue_station", "designated_hospital", "school",
                               "children_home"}


def test_household_bins_keep_every_household(as_role, seat, engine):
    """Below zoom 15 households come one point per cell (from the tallies the database
    keeps): fewer features, every household and child of the tile's cells counted, and
    no household id to pick one out; from zoom 15 one feature per household."""
    z = 13
    x, y = tile_of(*seat, z)
    feats = mapbox_vector_tile.decode(as_role(
        "admin", "GET", f"/tiles/households/{z}/{x}/{y}.pbf").data)["households"]["features"]
    assert feats and all("id" not in f["properties"] for f in feats)
    with engine.connect() as conn:
        cells, households, children = conn.execute(sa.text(
            "SELECT count(DISTINCT c.id), count(DISTINCT h.id), count(ch.id) FROM unit c "
            "JOIN household h ON h.cell_id = c.id "
            "LEFT JOIN child ch ON ch.household_id = h.id WHERE c.level = 'cell' AND "
            "ST_PointOnSurface(c.geom) && "
            "ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 0.02), 4326)"),
            {"z": z, "x": x, "y": y}).one()
    assert len(feats) == cells < households
    assert sum(f["properties"]["households"] for f in feats) == households
    assert sum(f["properties"]["children"] for f in feats) == children
    x15, y15 = tile_of(*seat, 15)
    single = mapbox_vector_tile.decode(as_role(
        "admin", "GET", f"/tiles/households/15/{x15}/{y15}.pbf").data)["households"]
    assert single["features"] and all(
        f["properties"]["households"] == 1 and "id" in f["properties"]
        for f in single["features"])


# The coverage tile against a count from scratch: each worker's caseload is summed once
# per tile from the kept per-cell tallies and per-unit sums (layers/tiles.py), which must
# give what counting the households and children themselves gives, also for a worker
# whose units overlap (a cell and its village) and for one of a whole township.
FROM_SCRATCH = """
    WITH staffs AS (
        SELECT c.id AS cell_id, w.id AS worker_id, w.name FROM unit c
          JOIN worker_unit wu ON wu.unit_id IN (c.id, c.village_id, c.township_id)
          JOIN worker w ON w.id = wu.worker_id
         WHERE c.level = 'cell' AND w.role = 'grid_worker' AND w.active),
    loads AS (
        SELECT s.worker_id, count(ch.id) AS children
          FROM (SELECT DISTINCT worker_id, cell_id FROM staffs) s
          JOIN household h ON h.cell_id = s.cell_id
          JOIN child ch ON ch.household_id = h.id GROUP BY s.worker_id)
    SELECT c.id, coalesce(string_agg(DISTINCT s.name, '、'), '') AS workers,
           coalesce(max(l.children), 0) AS caseload
      FROM unit c LEFT JOIN staffs s ON s.cell_id = c.id
      LEFT JOIN loads l ON l.worker_id = s.worker_id
     WHERE c.id = ANY(:ids) GROUP BY c.id"""


def test_coverage_tile_matches_a_count_from_scratch(conn):
    seat = conn.execute(sa.text(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit "
        "WHERE level = 'township' AND name LIKE '%街道' ORDER BY code LIMIT 1) t")).one()
    county = conn.execute(sa.text(
        "SELECT id FROM unit WHERE level = 'county' ORDER BY code LIMIT 1")).scalar()
    z = 12
    x, y = tile_of(*seat, z)
    in_tile = ("c.level = 'cell' AND c.geom && "
               "ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 0.02), 4326)")
    xyz = {"z": z, "x": x, "y": y}
    # A worker of a cell in the tile also gets the cell's village and a cell of it
    # (overlaps: counted once), another the whole township of a cell in the tile.
    cell = conn.execute(sa.text(
        f"SELECT c.id, c.village_id, c.township_id, wu.worker_id FROM unit c "
        f"JOIN worker_unit wu ON wu.unit_id = c.id JOIN worker w ON w.id = wu.worker_id "
        f"WHERE {in_tile} AND w.role = 'grid_worker' AND w.active ORDER BY c.id LIMIT 1"),
        xyz).one()
    other = conn.execute(sa.text(
        "SELECT w.id FROM worker w WHERE w.role = 'grid_worker' AND w.active AND w.id <> :w "
        "ORDER BY w.id LIMIT 1"), {"w": cell.worker_id}).scalar()
    conn.execute(sa.text(
        "INSERT INTO worker_unit (worker_id, unit_id) "
        "SELECT :w, :v UNION SELECT :w, id FROM unit WHERE village_id = :v AND level = 'cell' "
        "UNION SELECT :o, :t ON CONFLICT DO NOTHING"),
        {"w": cell.worker_id, "v": cell.village_id, "o": other, "t": cell.township_id})

    feats = mapbox_vector_tile.decode(tile(conn, LAYERS["coverage"], z, x, y, county))[
        "coverage"]["features"]
    got = {f["properties"]["id"]: (f["properties"]["workers"], f["properties"]["caseload"],
                                   f["properties"]["unstaffed"]) for f in feats}
    want_ids = set(conn.execute(sa.text(f"SELECT c.id FROM unit c WHERE {in_tile}"),
                                xyz).scalars())
    assert set(got) == want_ids and len(got) > 10
    rows = conn.execute(sa.text(FROM_SCRATCH), {"ids": list(got)}).all()
    assert any(r.caseload > 0 for r in rows)
    assert {r.id: (r.workers, r.caseload, not r.workers) for r in rows} == got

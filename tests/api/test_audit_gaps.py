"""Reads that were not in the audit log: the nearest facility from a child's record,
household tiles, 404 probes on child and household records, the unit of a layer
export."""

import math

import sqlalchemy as sa


def _log(as_role, **filters):
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    return as_role("admin", "GET", f"/api/audit?limit=50&{query}").get_json()["items"]


def _child_and_home(engine, village):
    with engine.connect() as c:
        return c.execute(sa.text(
            "SELECT ch.id, h.id, ST_X(h.geom), ST_Y(h.geom) FROM child ch "
            "JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id "
            "JOIN unit v ON v.id = c.village_id WHERE v.code = :v ORDER BY ch.id LIMIT 1"),
            {"v": village}).one()


def test_nearest_from_a_child_is_audited(as_role, engine, logins):
    child, _, _, _ = _child_and_home(engine, logins["grid_worker"]["unit"])
    resp = as_role("grid_worker", "GET",
                   f"/api/facilities/nearest?child_id={child}&type=rescue_station")
    assert resp.status_code == 200, resp.get_json()
    rows = _log(as_role, resource="child", resource_id=child, username="demo_grid_worker")
    assert rows and rows[0]["action"] == "read"
    assert rows[0]["detail"]["query"] == "nearest_facility"


def test_child_404_probe_is_audited(as_role, other_child):
    assert as_role("grid_worker", "GET", f"/api/children/{other_child}").status_code == 404
    rows = _log(as_role, resource="child", resource_id=other_child,
                username="demo_grid_worker")
    assert rows and rows[0]["action"] == "read_denied" and rows[0]["ip"]
    missing = 2_000_000_000
    assert as_role("grid_worker", "GET", f"/api/children/{missing}").status_code == 404
    assert _log(as_role, resource="child", resource_id=missing)[0]["action"] == "read_denied"


def test_household_404_probe_is_audited(as_role, engine, logins):
    with engine.connect() as c:
        other = c.execute(sa.text(
            "SELECT h.id FROM household h JOIN unit c ON c.id = h.cell_id "
            "JOIN unit v ON v.id = c.village_id WHERE v.code <> :v ORDER BY h.id LIMIT 1"),
            {"v": logins["grid_worker"]["unit"]}).scalar_one()
    assert as_role("grid_worker", "GET", f"/api/households/{other}").status_code == 404
    rows = _log(as_role, resource="household", resource_id=other)
    assert rows and rows[0]["action"] == "read_denied"
    assert rows[0]["username"] == "demo_grid_worker"


def test_household_tiles_are_audited(as_role, engine, logins):
    _, _, lon, lat = _child_and_home(engine, logins["grid_worker"]["unit"])
    z = 15
    x = int((lon + 180) / 360 * 2**z)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)
    resp = as_role("grid_worker", "GET", f"/tiles/households/{z}/{x}/{y}.pbf")
    assert resp.status_code == 200 and resp.data
    rows = _log(as_role, resource="tile_households", resource_id=f"{z}/{x}/{y}")
    assert rows and rows[0]["username"] == "demo_grid_worker"
    assert rows[0]["detail"]["unit"] == logins["grid_worker"]["unit"]
    assert (rows[0]["detail"]["z"], rows[0]["detail"]["x"], rows[0]["detail"]["y"]) == (z, x, y)


def test_layer_export_audit_names_the_unit(as_role, logins):
    resp = as_role("supervisor", "GET", "/api/exports/layer?layer=cells&format=geojson")
    assert resp.status_code == 200
    rows = _log(as_role, resource="layer_cells", username="demo_supervisor")
    assert rows and rows[0]["detail"]["unit"] == logins["supervisor"]["unit"]

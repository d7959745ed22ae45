"""GET /api/routes with a start point (the route sheet's "我的位置")."""

import sqlalchemy as sa


def _worker(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT worker_id FROM app_user WHERE username = 'demo_grid_head'")).scalar_one()


def test_route_starts_where_asked(as_role, engine):
    w = _worker(engine)
    base = f"/api/routes?worker={w}&date=2026-11-24&within_days=30"
    office = as_role("grid_head", "GET", base).get_json()
    far = office["stops"][-1]
    here = as_role("grid_head", "GET",
                   f"{base}&start_lon={far['lon']}&start_lat={far['lat']}").get_json()
    assert here["start"] == [far["lon"], far["lat"]]
    assert here["stops"][0]["leg_m"] <= office["stops"][0]["leg_m"] or \
        here["stops"] != office["stops"]
    again = as_role("grid_head", "GET", f"{base}&start_lon={far['lon']}&start_lat={far['lat']}")
    assert again.get_json()["stops"] == here["stops"]


def test_half_a_start_point_is_refused(as_role, engine):
    w = _worker(engine)
    resp = as_role("grid_head", "GET", f"/api/routes?worker={w}&start_lon=101.7")
    assert resp.status_code == 400
    assert resp.get_json()["error"]["field"] == "start_lon"
    resp = as_role("grid_head", "GET", f"/api/routes?worker={w}&start_lon=500&start_lat=1")
    assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "start_lon"

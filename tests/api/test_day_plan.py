"""The grid head's day through the API: the day plan and the week plan, the same
answer every time in JSON, CSV and GPX, Chinese reasons, and the access rules."""

import csv
import io
import re

import pytest
import sqlalchemy as sa


@pytest.fixture(scope="module")
def workers(engine, logins):
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text(
            "SELECT username, worker_id FROM app_user WHERE worker_id IS NOT NULL")).all())
    return {"grid_head": rows["demo_grid_head"], "grid_worker": rows["demo_grid_worker"]}


def test_route_is_the_same_every_time_in_json_csv_and_gpx(as_role, workers):
    from geo.routing.routes import clear_route_cache

    url = f"?worker={workers['grid_head']}&date=2026-11-24&within_days=14"
    first = as_role("grid_head", "GET", "/api/routes" + url)
    assert first.status_code == 200, first.get_json()
    route = first.get_json()
    assert route["stops"] and route["budget_min"] == 480
    assert route["total_min"] <= 480
    clear_route_cache()
    assert as_role("grid_head", "GET", "/api/routes" + url).get_json() == route
    ids = [s["household_id"] for s in route["stops"]]
    sheet = as_role("grid_head", "GET", "/api/routes.csv" + url)
    rows = list(csv.reader(io.StringIO(sheet.get_data(as_text=True).lstrip("\ufeff"))))
    assert [int(r[1]) for r in rows[1:]] == ids
    reasons = [r[4] for r in rows[1:]]
    assert all(re.search(r"(逾期 \d+ 天|天内到期|今日到期|尚未走访)（", r) for r in reasons)
    assert not any(word in r for r in reasons for word in ("overdue", "due_soon", "first"))
    gpx = as_role("grid_head", "GET", "/api/routes.gpx" + url).get_data(as_text=True)
    wpts = re.findall(r'<wpt lat="([\d.]+)" lon="([\d.]+)"><name>.*?</name><desc>(.*?)</desc>',
                      gpx)
    assert [(float(lat), float(lon)) for lat, lon, _ in wpts] == [
        (pytest.approx(s["lat"], abs=1e-6), pytest.approx(s["lon"], abs=1e-6))
        for s in route["stops"]]
    assert all("（" in desc for _, _, desc in wpts)


def test_week_plan_api(as_role, workers):
    head = workers["grid_head"]
    resp = as_role("grid_head", "GET", f"/api/routes/plan?worker={head}&from=2026-11-23&days=5")
    assert resp.status_code == 200, resp.get_json()
    plan = resp.get_json()
    assert [d["date"] for d in plan["days"]] == ["2026-11-23", "2026-11-24", "2026-11-25",
                                                "2026-11-26", "2026-11-27"]
    ids = [s["household_id"] for d in plan["days"] for s in d["stops"]] + \
        [u["household_id"] for u in plan["unplanned"]]
    assert ids and len(ids) == len(set(ids))
    assert all(d["total_min"] <= plan["budget_min"] + 1e-6 for d in plan["days"])
    stop = next(s for d in plan["days"] for s in d["stops"])
    assert {"household_id", "address", "lon", "lat", "children", "reasons", "leg_m",
            "arrive_min"} <= set(stop)
    again = as_role("grid_head", "GET", f"/api/routes/plan?worker={head}&from=2026-11-23")
    assert again.get_json() == plan  # 5 working days by default


def test_week_plan_access_and_bad_input(as_role, workers):
    head = workers["grid_head"]
    other = as_role("grid_worker", "GET", f"/api/routes/plan?worker={head}&from=2026-11-23")
    assert other.status_code == 404 and other.get_json()["error"]["field"] == "worker"
    assert as_role("planner", "GET", f"/api/routes/plan?worker={head}").status_code == 403
    assert as_role("supervisor", "GET",
                   f"/api/routes/plan?worker={head}&days=2").status_code == 200
    for query, field in ((f"worker={head}&days=32", "days"), (f"worker={head}&days=0", "days"),
                         (f"worker={head}&from=23.11.2026", "from"), ("days=3", "worker")):
        bad = as_role("grid_head", "GET", f"/api/routes/plan?{query}")
        assert bad.status_code == 400, (query, bad.get_json())
        assert field in str(bad.get_json()["error"].get("field", "")) + \
            str(bad.get_json()["error"]), (query, bad.get_json())

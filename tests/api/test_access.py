"""Each role against each endpoint (the README's matrix is the table), area scoping,
field rights, planner aggregates and the audit log."""

import re
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

README = Path(__file__).resolve().parents[2] / "README.md"
ROLES = ["admin", "supervisor", "grid_head", "grid_worker", "planner", "responder"]


def matrix():
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- access-matrix -->")[1].split("<!-- /access-matrix -->")[0]
    rows = [line.strip("| ").split(" | ") for line in block.strip().splitlines()[2:]]
    return [(r[0], dict(zip(ROLES, [c.strip(" |") == "✓" for c in r[1:]], strict=True)))
            for r in rows]


@pytest.fixture(scope="module")
def ids(engine, demo, logins):
    """Ids the matrix calls need: a county point, a child and worker in the grid
    worker's village, a facility with beds."""
    with engine.connect() as conn:
        x, y = conn.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit "
            "WHERE level = 'county') c")).one()
        village = logins["grid_worker"]["unit"]
        child = conn.execute(sa.text(
            "SELECT ch.id FROM child ch JOIN household h ON h.id = ch.household_id "
            "JOIN unit c ON c.id = h.cell_id JOIN unit v ON v.id = c.village_id "
            "WHERE v.code = :v ORDER BY ch.id LIMIT 1"), {"v": village}).scalar_one()
        worker = conn.execute(sa.text(
            "SELECT worker_id FROM app_user WHERE username = 'demo_grid_worker'")).scalar_one()
    return {"lon": x, "lat": y, "child": child, "worker": worker}


def _url(endpoint, ids):
    method, path = endpoint.split(" ", 1)
    path = path.replace("{child_id}", str(ids["child"]))  # per-child rows (case loop)
    path = path.replace("{referral_id}", "999999999")  # referral answers: role check first
    if path.startswith("/tiles/"):
        return method, f"{path}/12/3200/1700.pbf"
    query = {
        "/api/facilities/nearest": f"?lon={ids['lon']}&lat={ids['lat']}&k=2",
        "/api/coverage/blind-spots": "?type=school",
        "/api/coverage/suggest-sites": "?type=school&k=1",
        "/api/routes": f"?worker={ids['worker']}&date=2026-11-24",
        "/api/routes/plan": f"?worker={ids['worker']}&from=2026-11-24&days=1",
        "/api/imports/template": "?kind=children",
        "/api/exports/ledger": "?kind=facilities",
        "/api/exports/layer": "?layer=villages&format=geojson",
        "/api/reports/monthly": "?month=2026-10",
        "/api/search": "?q=村",
    }.get(path, "")
    return method, path + query


@pytest.mark.parametrize("endpoint, allowed", matrix(), ids=[m[0] for m in matrix()])
def test_role_matrix(as_role, ids, endpoint, allowed):
    method, url = _url(endpoint, ids)
    for role in ROLES:
        # An empty body: allowed roles get 400 (checked after the role), nothing written.
        kwargs = {"json": {}} if method == "POST" else {}
        resp = as_role(role, method, url, **kwargs)
        if allowed[role]:
            assert resp.status_code not in (401, 403), (role, resp.get_json())
        else:
            assert resp.status_code == 403, (role, resp.status_code)
            assert resp.get_json()["error"]["code"] == "forbidden"


def test_no_token_is_401(client):
    resp = client.get("/api/children")
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "unauthorized"


def test_wrong_password_and_bad_token(client, logins):
    resp = client.post("/api/auth/token", json={"username": "demo_admin", "password": "nope"})
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "invalid_credentials"
    resp = client.get("/api/children", headers={"Authorization": "Bearer forged"})
    assert resp.status_code == 401


def test_grid_worker_cannot_see_another_village(as_role, other_child, ids, logins):
    other = other_child
    mine = as_role("grid_worker", "GET", f"/api/children/{ids['child']}")
    assert mine.status_code == 200
    theirs = as_role("grid_worker", "GET", f"/api/children/{other}")
    assert theirs.status_code == 404  # not 403: existence does not leak
    assert as_role("admin", "GET", f"/api/children/{other}").status_code == 200
    listed = as_role("grid_worker", "GET", "/api/children?limit=500").get_json()["items"]
    assert listed and all(c["cell_code"].startswith(logins["grid_worker"]["unit"])
                          for c in listed)
    county = as_role("grid_worker", "GET", "/api/cells/status?unit=510411")
    assert county.status_code == 404


def test_sensitive_fields_by_role(as_role, engine, logins):
    village = logins["grid_worker"]["unit"]
    with engine.begin() as conn:
        child = conn.execute(sa.text(
            "SELECT ch.id FROM child ch JOIN household h ON h.id = ch.household_id "
            "JOIN unit c ON c.id = h.cell_id JOIN unit v ON v.id = c.village_id "
            "WHERE v.code = :v ORDER BY ch.id DESC LIMIT 1"), {"v": village}).scalar_one()
        old = conn.execute(sa.text("SELECT categories FROM child WHERE id = :c"),
                           {"c": child}).scalar_one()
        conn.execute(sa.text("UPDATE child SET categories = ARRAY['abused', 'left_behind'] "
                             "WHERE id = :c"), {"c": child})
    try:
        seen = {role: as_role(role, "GET", f"/api/children/{child}").get_json()
                for role in ("admin", "supervisor", "grid_head", "grid_worker")}
        assert "abused" in seen["admin"]["categories"] and "id_masked" in seen["admin"]
        assert "abused" in seen["supervisor"]["categories"] and "id_masked" in seen["supervisor"]
        assert "abused" in seen["grid_head"]["categories"] and "id_masked" not in seen["grid_head"]
        assert seen["grid_worker"]["categories"] == ["left_behind"]
        assert "id_masked" not in seen["grid_worker"]
        assert all("id_hash" not in s for s in seen.values())
        filtered = as_role("grid_worker", "GET", "/api/children?category=abused")
        assert filtered.get_json()["items"] == []
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE child SET categories = :c WHERE id = :id"),
                         {"c": old, "id": child})


def _numbers(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, int) and not isinstance(v, bool) and k in (
                    "children", "overdue_children", "uncovered_children", "households",
                    "uncovered_households", "children_added"):
                yield v
            yield from _numbers(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _numbers(v)


def _keys(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _keys(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _keys(v)


def test_planner_sees_aggregates_only(as_role):
    for url in ("/api/cells/status", "/api/cells/status?rollup=village",
                "/api/coverage/blind-spots?type=children_home",
                "/api/coverage/suggest-sites?type=school&k=3"):
        resp = as_role("planner", "GET", url)
        assert resp.status_code == 200, url
        body = resp.get_json()
        assert all(n == 0 or n >= 5 for n in _numbers(body)), url
        keys = set(_keys(body))
        assert not keys & {"child_id", "household_id", "address", "head_name", "id_masked",
                           "birth_date"}, url
    # The same query for an admin does contain small counts: suppression is real.
    admin = as_role("admin", "GET", "/api/cells/status").get_json()
    assert any(0 < n < 5 for n in _numbers(admin))


def test_reads_are_audited_and_the_log_is_append_only(as_role, engine, ids):
    as_role("admin", "GET", f"/api/children/{ids['child']}")
    log = as_role("admin", "GET", f"/api/audit?resource=child&resource_id={ids['child']}")
    entries = log.get_json()["items"]
    assert entries and entries[0]["username"] == "demo_admin"
    assert entries[0]["action"] == "read" and entries[0]["ip"]
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE audit_log SET username = 'x'"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM audit_log"))


def test_placement_race_through_the_api(app, tokens, engine, demo):
    with engine.begin() as conn:
        fid = conn.execute(sa.text(
            "INSERT INTO facility (type, name, geom, capacity, occupied, open_24h, "
            "accepts_disability) SELECT 'rescue_station', 'API测试中心', ST_PointOnSurface(geom), "
            "3, 2, true, true FROM unit WHERE level = 'county' RETURNING id")).scalar_one()
        kids = conn.execute(sa.text(
            "SELECT id FROM child WHERE NOT EXISTS (SELECT 1 FROM placement p WHERE "
            "p.child_id = child.id AND p.status = 'active') ORDER BY id DESC LIMIT 12"
        )).scalars().all()
    barrier = threading.Barrier(len(kids))
    codes = [None] * len(kids)

    def go(i, kid):
        client = app.test_client()
        barrier.wait()
        resp = client.post("/api/placements", json={"child_id": kid, "facility_id": fid},
                           headers={"Authorization": f"Bearer {tokens['responder']}"})
        codes[i] = (resp.status_code, resp.get_json())

    threads = [threading.Thread(target=go, args=(i, k)) for i, k in enumerate(kids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with engine.begin() as conn:
        occupied = conn.execute(sa.text("SELECT occupied FROM facility WHERE id = :f"),
                                {"f": fid}).scalar_one()
        conn.execute(sa.text("DELETE FROM placement WHERE facility_id = :f"), {"f": fid})
        conn.execute(sa.text("DELETE FROM facility WHERE id = :f"), {"f": fid})
    assert occupied == 3
    assert sorted(c for c, _ in codes).count(201) == 1
    assert all(b["error"]["code"] == "facility_full" for c, b in codes if c == 409)
    assert sum(1 for c, _ in codes if c == 409) == len(kids) - 1


@pytest.mark.parametrize("url, field, message", [
    ("/api/facilities/nearest?lon=101.7&lat=26.5&k=0", "k", "k"),
    ("/api/facilities/nearest?lon=east&lat=26.5", "lon", "lon"),
    ("/api/facilities/nearest?lon=26.5&lat=101.7", "lat", "lat"),
    ("/api/facilities?limit=100000", "limit", "limit"),
    ("/api/children/overdue?as_of=24-11-2026", "as_of", "as_of"),
    ("/api/routes?worker=1&date=tomorrow", "date", "date"),
])
def test_bad_input_names_the_field(as_role, url, field, message):
    resp = as_role("admin", "GET", url)
    assert resp.status_code == 400, resp.get_json()
    err = resp.get_json()["error"]
    assert err["field"] == field and re.search(message, err["message"])


def test_malformed_json_is_400(as_role):
    resp = as_role("admin", "POST", "/api/placements", data="{not json",
                   content_type="application/json")
    assert resp.status_code == 400
    assert resp.get_json()["error"]["code"] == "invalid_input"


def test_facilities_page_and_next_link(as_role):
    first = as_role("admin", "GET", "/api/facilities?type=school&limit=5").get_json()
    assert first["type"] == "FeatureCollection" and len(first["features"]) == 5
    props = first["features"][0]["properties"]
    assert {"id", "name", "type", "capacity", "occupied"} <= props.keys()
    assert first["next"] and "offset=5" in first["next"]
    second = as_role("admin", "GET", first["next"].split("localhost", 1)[1]).get_json()
    assert {f["id"] for f in second["features"]}.isdisjoint({f["id"] for f in first["features"]})

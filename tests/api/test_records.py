"""Writing through the API: households, children and visits are validated in full,
scoped to the user's area, audited, and never half-written."""

import datetime as dt

import pytest
import sqlalchemy as sa


@pytest.fixture
def place(engine, logins):
    """A point inside the grid worker's village and one in another village; the rows the
    test creates are removed afterwards (the API commits)."""
    village = logins["grid_worker"]["unit"]
    with engine.connect() as conn:
        mine = conn.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit "
            "WHERE code = :v) x"), {"v": village}).one()
        other = conn.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit "
            "WHERE level = 'village' AND code <> :v ORDER BY code DESC LIMIT 1) x"),
            {"v": village}).one()
        before = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM household")).scalar()
    yield {"mine": tuple(mine), "other": tuple(other)}
    with engine.begin() as conn:
        ids = conn.execute(sa.text("SELECT id FROM household WHERE id > :b"),
                           {"b": before}).scalars().all()
        conn.execute(sa.text("DELETE FROM visit WHERE child_id IN (SELECT id FROM child "
                             "WHERE household_id = ANY(:ids))"), {"ids": ids})
        conn.execute(sa.text("DELETE FROM child WHERE household_id = ANY(:ids)"), {"ids": ids})
        conn.execute(sa.text("DELETE FROM household WHERE id = ANY(:ids)"), {"ids": ids})


def _household(as_role, xy, role="grid_worker"):
    return as_role(role, "POST", "/api/households",
                   json={"address": "测试村1组1号", "lon": xy[0], "lat": xy[1],
                         "flags": ["poor_family"]})


CHILD = {"name": "测试儿童", "sex": "female", "birth_date": "2015-06-15",
         "id_number": "510411201506150324", "categories": ["left_behind"],
         "risk_level": "high"}


def test_household_gets_its_cell_and_moves(as_role, place):
    resp = _household(as_role, place["mine"])
    assert resp.status_code == 201, resp.get_json()
    hh = resp.get_json()
    assert hh["cell_code"]
    moved = as_role("admin", "PATCH", f"/api/households/{hh['id']}",
                    json={"lon": place["other"][0], "lat": place["other"][1]})
    assert moved.status_code == 200
    assert moved.get_json()["cell_code"] != hh["cell_code"]


def test_household_outside_area_or_county(as_role, place):
    resp = _household(as_role, place["other"])
    assert resp.status_code == 400 and "your area" in resp.get_json()["error"]["message"]
    far = _household(as_role, (116.4, 39.9))
    assert far.status_code == 400 and far.get_json()["error"]["field"] == "lon"


def test_child_registration_and_validation(as_role, place, engine):
    hh = _household(as_role, place["mine"]).get_json()
    good = {**CHILD, "household_id": hh["id"]}
    resp = as_role("grid_worker", "POST", "/api/children", json=good)
    assert resp.status_code == 201, resp.get_json()
    child = resp.get_json()
    assert "id_masked" not in child and "id_hash" not in child  # grid workers: no ID
    sensitive = as_role("admin", "PATCH", f"/api/children/{child['id']}",
                        json={"categories": ["left_behind", "abused"]})
    assert sensitive.status_code == 200
    seen = as_role("grid_worker", "GET", f"/api/children/{child['id']}").get_json()
    assert seen["categories"] == ["left_behind"]  # no sensitive category either
    as_admin = as_role("admin", "GET", f"/api/children/{child['id']}").get_json()
    assert as_admin["id_masked"] == "510411********0324"
    assert "abused" in as_admin["categories"]
    dup = as_role("admin", "POST", "/api/children", json=good)
    assert dup.status_code == 409 and dup.get_json()["error"]["code"] == "duplicate_child"
    cases = [({"id_number": "510411201506150325"}, "id_number", "check digit"),
             ({"birth_date": "2001-01-01", "id_number": None}, "birth_date", "adult"),
             ({"categories": ["martian"]}, "categories", ""),
             ({"risk_level": "purple"}, "risk_level", "risk_level must be one of"),
             ({"household_id": 2_000_000_000}, "household_id", "no household")]
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM child")).scalar()
    for change, field, words in cases:
        body = {**good, **change}
        if body.get("id_number") is None:
            body.pop("id_number")
        bad = as_role("admin", "POST", "/api/children", json=body)
        assert bad.status_code in (400, 404), (change, bad.get_json())
        assert bad.get_json()["error"]["field"].startswith(field), bad.get_json()
        assert words in bad.get_json()["error"]["message"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM child")).scalar() == before


def test_visits_are_checked_and_flagged(as_role, place, engine):
    hh = _household(as_role, place["mine"]).get_json()
    child = as_role("grid_worker", "POST", "/api/children",
                    json={**CHILD, "id_number": "510411201506150519",
                          "household_id": hh["id"]}).get_json()
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(microsecond=0)
    near = as_role("grid_worker", "POST", "/api/visits", json={
        "child_id": child["id"], "visited_at": (now - dt.timedelta(hours=3)).isoformat(),
        "lon": hh["lon"] + 0.0003, "lat": hh["lat"], "outcome": "情况正常", "note": "入户"})
    assert near.status_code == 201, near.get_json()
    assert near.get_json()["flagged"] is False and "note" not in near.get_json()
    far = as_role("grid_worker", "POST", "/api/visits", json={
        "child_id": child["id"], "visited_at": (now - dt.timedelta(hours=2, minutes=55))
        .isoformat(), "lon": hh["lon"] + 0.1, "lat": hh["lat"]})
    body = far.get_json()
    assert body["flagged"] and set(body["flags"]) == {"gps_far_from_household",
                                                      "impossible_travel"}
    blind = as_role("grid_worker", "POST", "/api/visits", json={
        "child_id": child["id"], "visited_at": (now - dt.timedelta(hours=1)).isoformat()})
    assert blind.status_code == 201 and blind.get_json()["flags"] == ["no_gps"]
    future = as_role("grid_worker", "POST", "/api/visits", json={
        "child_id": child["id"], "visited_at": (now + dt.timedelta(days=1)).isoformat()})
    assert future.status_code == 400 and future.get_json()["error"]["field"] == "visited_at"
    naive = as_role("grid_worker", "POST", "/api/visits", json={
        "child_id": child["id"], "visited_at": "2026-11-24T10:00:00"})
    assert naive.status_code == 400 and naive.get_json()["error"]["field"] == "visited_at"
    listed = as_role("supervisor", "GET", f"/api/children/{child['id']}/visits")
    items = listed.get_json()["items"]
    assert len(items) == 3 and items[0]["flagged"] and items[2]["note"] == "入户"
    hidden = as_role("grid_worker", "GET", f"/api/children/{child['id']}/visits").get_json()
    assert all("note" not in v for v in hidden["items"])


def test_writes_are_audited(as_role, place):
    hh = _household(as_role, place["mine"]).get_json()
    log = as_role("admin", "GET", f"/api/audit?resource=household&resource_id={hh['id']}")
    actions = [e["action"] for e in log.get_json()["items"]]
    assert actions == ["create"]


def test_facility_admin(as_role, place):
    body = {"type": "children_home", "name": "测试儿童之家", "lon": place["mine"][0],
            "lat": place["mine"][1], "capacity": 2}
    assert as_role("supervisor", "POST", "/api/facilities", json=body).status_code == 403
    made = as_role("admin", "POST", "/api/facilities", json=body)
    assert made.status_code == 201
    fid = made.get_json()["id"]
    over = as_role("admin", "PATCH", f"/api/facilities/{fid}", json={"occupied": 3})
    assert over.status_code == 400 and over.get_json()["error"]["field"] == "occupied"
    ok = as_role("admin", "PATCH", f"/api/facilities/{fid}", json={"occupied": 2})
    assert ok.get_json()["free_beds"] == 0
    assert as_role("admin", "DELETE", f"/api/facilities/{fid}").status_code == 204
    assert as_role("admin", "GET", f"/api/facilities/{fid}").status_code == 404


def test_units_and_workers(as_role, logins, engine, cfg):
    tree = as_role("supervisor", "GET", "/api/units").get_json()["items"]
    assert {u["level"] for u in tree} == {"township", "village"}
    town = logins["supervisor"]["unit"]
    assert tree[0]["code"] == town
    feature = as_role("supervisor", "GET", f"/api/units/{town}").get_json()
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "MultiPolygon"
    props = feature["properties"]
    assert props["children"] > 0
    # The panel's visit figures are today's statuses of the township's cells.
    from geo.visits.due import cell_status

    with engine.connect() as conn:
        cells = cell_status(conn, cfg["rules"], unit=town, tz=cfg["timezone"])
    assert props["overdue_children"] == sum(c["overdue_children"] for c in cells) > 0
    assert props["cells_never_visited"] == sum(c["status"] == "never_visited" for c in cells)
    assert props["cells_overdue"] == sum(c["status"] == "overdue" for c in cells)
    assert "unit_id" not in props
    assert as_role("supervisor", "GET", "/api/units/510411").status_code == 404
    workers = as_role("supervisor", "GET", "/api/workers?role=grid_worker&limit=5").get_json()
    assert workers["items"] and all("caseload" in w for w in workers["items"])
    bad = as_role("supervisor", "POST", "/api/workers", json={
        "role": "grid_worker", "name": "新网格员", "unit": "510411"})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "unit"

"""Bad input is refused with a 4xx naming the field, never a 500 or a silent change
(issue 10 items 3 and 7): sensitive categories a role cannot see are kept and may not be
set by it, dates lie in a plausible window, numbers are exact, and every malformed body
names ``body``."""

import datetime as dt
import json
import re

import pytest
import sqlalchemy as sa

NOW = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(microsecond=0)


@pytest.fixture
def child(engine, logins, as_role):
    """A fresh household and child (categories left_behind + abused) in the grid worker's
    village, written by the admin; removed afterwards (the API commits)."""
    village = logins["grid_worker"]["unit"]
    with engine.connect() as conn:
        lon, lat = conn.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit "
            "WHERE code = :v) x"), {"v": village}).one()
    hh = as_role("admin", "POST", "/api/households",
                 json={"address": "校验村1组1号", "lon": lon, "lat": lat})
    assert hh.status_code == 201, hh.get_json()
    hid = hh.get_json()["id"]
    made = as_role("admin", "POST", "/api/children", json={
        "household_id": hid, "name": "校验儿童", "sex": "male", "birth_date": "2016-03-01",
        "categories": ["left_behind", "abused"], "risk_level": "high"})
    assert made.status_code == 201, made.get_json()
    yield {**made.get_json(), "household_id": hid}
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM visit WHERE child_id IN "
                             "(SELECT id FROM child WHERE household_id = :h)"), {"h": hid})
        conn.execute(sa.text("DELETE FROM child WHERE household_id = :h"), {"h": hid})
        conn.execute(sa.text("DELETE FROM household WHERE id = :h"), {"h": hid})


@pytest.fixture(scope="module")
def worker_of(engine, logins):
    with engine.connect() as conn:
        return dict(conn.execute(sa.text(
            "SELECT role, worker_id FROM app_user WHERE worker_id IS NOT NULL")).all())


def _stored_categories(engine, child_id):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT categories FROM child WHERE id = :c"),
                            {"c": child_id}).scalar_one()


def _field(resp):
    return (resp.get_json() or {}).get("error", {}).get("field")


# -- item 3: protective categories --------------------------------------------------------
def test_grid_worker_patch_keeps_hidden_sensitive_category(as_role, child, engine):
    seen = as_role("grid_worker", "GET", f"/api/children/{child['id']}").get_json()
    assert seen["categories"] == ["left_behind"]
    resp = as_role("grid_worker", "PATCH", f"/api/children/{child['id']}",
                   json={"categories": ["left_behind", "dropout"]})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["categories"] == ["dropout", "left_behind"]
    assert _stored_categories(engine, child["id"]) == ["abused", "dropout", "left_behind"]


def test_grid_worker_patch_may_not_add_sensitive_category(as_role, child, engine):
    resp = as_role("grid_worker", "PATCH", f"/api/children/{child['id']}",
                   json={"categories": ["left_behind", "hiv_affected"]})
    assert resp.status_code == 403 and _field(resp) == "categories", resp.get_json()
    assert _stored_categories(engine, child["id"]) == ["abused", "left_behind"]


def test_grid_worker_may_not_register_sensitive_category(as_role, child, engine):
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM child")).scalar()
    resp = as_role("grid_worker", "POST", "/api/children", json={
        "household_id": child["household_id"], "name": "另一儿童", "sex": "female",
        "birth_date": "2017-05-02", "categories": ["orphan", "juvenile_justice"],
        "risk_level": "high"})
    assert resp.status_code == 403 and _field(resp) == "categories", resp.get_json()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM child")).scalar() == before


def test_grid_head_may_remove_sensitive_category(as_role, child, engine):
    resp = as_role("grid_head", "PATCH", f"/api/children/{child['id']}",
                   json={"categories": ["left_behind"]})
    if resp.status_code == 404:  # the grid head's cell may not hold this household
        resp = as_role("supervisor", "PATCH", f"/api/children/{child['id']}",
                       json={"categories": ["left_behind"]})
    assert resp.status_code == 200, resp.get_json()
    assert _stored_categories(engine, child["id"]) == ["left_behind"]


# -- item 7: dates in a plausible window --------------------------------------------------
@pytest.mark.parametrize("url,field", [
    ("/api/cells/status?as_of=9999-12-31", "as_of"),
    ("/api/cells/status?as_of=1999-12-31", "as_of"),
    ("/api/children/overdue?as_of=9999-12-31", "as_of"),
    ("/api/children/overdue?as_of=0001-01-01", "as_of"),
    ("/api/routes?worker={worker}&date=9999-12-31", "date"),
    ("/api/routes.csv?worker={worker}&date=0001-01-01", "date"),
    ("/api/reports/monthly?month=0001-01", "month"),
    ("/api/reports/monthly?month=9999-12", "month"),
    ("/api/reports/monthly?month=2026-13", "month"),
])
def test_dates_outside_the_window_are_refused(as_role, worker_of, url, field):
    resp = as_role("admin", "GET", url.format(worker=worker_of["grid_worker"]))
    assert resp.status_code == 400 and _field(resp) == field, resp.get_json()


def test_dates_inside_the_window_still_work(as_role, logins):
    today = dt.date.today()
    assert as_role("admin", "GET", f"/api/cells/status?as_of={today}").status_code == 200
    assert as_role("admin", "GET", "/api/reports/monthly?month=2026-10").status_code == 200
    ahead = today + dt.timedelta(days=300)
    assert as_role("admin", "GET",
                   f"/api/children/overdue?as_of={ahead}&limit=1").status_code == 200


@pytest.mark.parametrize("visited_at", [
    "2026-11-24T10:00:00+23:59", "2026-11-24T10:00:00-23:59", "2026-11-24T10:00:00+15:00",
    "0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00Z", "1999-06-01T08:00:00+08:00",
    "2015-01-01T08:00:00+08:00",  # before the child was born
    "9999-12-31T23:59:59+00:00",
])
def test_implausible_visit_times_are_refused(as_role, child, engine, visited_at):
    resp = as_role("grid_worker", "POST", "/api/visits",
                   json={"child_id": child["id"], "visited_at": visited_at})
    assert resp.status_code == 400 and _field(resp) == "visited_at", resp.get_json()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM visit WHERE child_id = :c"),
                            {"c": child["id"]}).scalar() == 0


def test_visit_day_before_registration_is_refused_beyond_the_grace(as_role, child):
    long_ago = (NOW - dt.timedelta(days=400)).isoformat()
    resp = as_role("grid_worker", "POST", "/api/visits",
                   json={"child_id": child["id"], "visited_at": long_ago})
    assert resp.status_code == 400 and _field(resp) == "visited_at", resp.get_json()
    recent = (NOW - dt.timedelta(days=2)).isoformat()
    ok = as_role("grid_worker", "POST", "/api/visits",
                 json={"child_id": child["id"], "visited_at": recent})
    assert ok.status_code == 201, ok.get_json()


def test_year_one_visit_is_refused_and_record_pages_keep_working(as_role, child):
    # Stored, 0001-01-01T00:00+08:00 lies in year 0 UTC, which no page could read back.
    resp = as_role("grid_worker", "POST", "/api/visits",
                   json={"child_id": child["id"], "visited_at": "0001-01-01T00:00:00+08:00"})
    assert resp.status_code == 400 and _field(resp) == "visited_at", resp.get_json()
    for role in ("admin", "supervisor", "grid_worker"):
        page = as_role(role, "GET", f"/record/child/{child['id']}")
        assert page.status_code == 200, (role, page.status_code)


# -- item 7: identity numbers -------------------------------------------------------------
@pytest.mark.parametrize("id_number", [
    "510411201513150324",   # month 13
    "510411000002300324",   # year 0000, 30 February
    "51041120150615032A",   # a letter where the check character goes
    "5104112015O6150324",   # a letter O among the digits
    "510411２01506150324",   # a full-width digit
    "51041120150615032²",   # a superscript two (str.isdigit says yes)
    "51041120150615\x00324",
    "ｆｆ0411201506150324"[:18],
])
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_bad_identity_numbers_are_refused(as_role, child, engine, id_number, method):
    if method == "POST":
        url, body = "/api/children", {
            "household_id": child["household_id"], "name": "身份证", "sex": "female",
            "birth_date": "2015-06-15", "categories": ["orphan"], "risk_level": "low",
            "id_number": id_number}
    else:
        url, body = f"/api/children/{child['id']}", {"id_number": id_number}
    resp = as_role("admin", method, url, json=body)
    assert resp.status_code == 400 and _field(resp) == "id_number", resp.get_json()


# -- item 7: exact numbers ----------------------------------------------------------------
def test_fractional_integers_are_refused(as_role, child, logins):
    patch = as_role("admin", "PATCH", f"/api/children/{child['id']}",
                    json={"household_id": child["household_id"] + 0.9})
    assert patch.status_code == 400 and _field(patch) == "household_id", patch.get_json()
    fac = as_role("admin", "POST", "/api/facilities", json={
        "type": "children_home", "name": "小数", "lon": 101.7, "lat": 26.5, "max_age": 16.9})
    assert fac.status_code == 400 and _field(fac) == "max_age", fac.get_json()
    visit = as_role("grid_worker", "POST", "/api/visits", json={
        "child_id": child["id"] + 0.5, "visited_at": NOW.isoformat()})
    assert visit.status_code == 400 and _field(visit) == "child_id", visit.get_json()
    flag = as_role("admin", "PATCH", f"/api/children/{child['id']}",
                   json={"household_id": True})
    assert flag.status_code == 400 and _field(flag) == "household_id", flag.get_json()


# -- item 7: visits credited to a worker out of scope -------------------------------------
def test_supervisor_cannot_credit_another_townships_worker(as_role, child, logins, engine,
                                                          worker_of):
    with engine.connect() as conn:
        other = conn.execute(sa.text(
            "SELECT w.id FROM worker w JOIN unit u ON u.id = w.unit_id "
            "JOIN unit t ON t.code = :t WHERE t.id NOT IN (u.id, u.township_id) "
            "AND w.active ORDER BY w.id LIMIT 1"),
            {"t": logins["supervisor"]["unit"]}).scalar_one()
    resp = as_role("supervisor", "POST", "/api/visits", json={
        "child_id": child["id"], "visited_at": (NOW - dt.timedelta(hours=1)).isoformat(),
        "worker_id": other})
    assert resp.status_code in (400, 404) and _field(resp) == "worker_id", resp.get_json()
    mine = as_role("supervisor", "POST", "/api/visits", json={
        "child_id": child["id"], "visited_at": (NOW - dt.timedelta(hours=1)).isoformat(),
        "worker_id": worker_of["grid_worker"]})
    assert mine.status_code == 201, mine.get_json()


# -- item 7: NUL characters and deep JSON -------------------------------------------------
def test_nul_in_path_is_refused(as_role):
    resp = as_role("admin", "GET", "/api/units/51%00")
    assert resp.status_code in (400, 404) and _field(resp), resp.get_json()


def test_nul_in_login_form_is_refused(client):
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    for form in ({"username": "ad\x00min", "password": "x"},
                 {"username": "admin", "password": "p\x00w"}):
        resp = client.post("/login", data={**form, "csrf_token": csrf})
        assert resp.status_code == 400, resp.status_code
    token = client.post("/api/auth/token", data={"username": "a\x00", "password": "x"})
    assert token.status_code in (400, 415) and _field(token), token.get_json()


def test_deeply_nested_json_is_refused(as_role, child):
    deep = "[" * 50_000 + "]" * 50_000
    for method, url in (("POST", "/api/visits"), ("PATCH", f"/api/children/{child['id']}"),
                        ("POST", "/api/auth/token")):
        resp = as_role("admin", method, url, data=deep, content_type="application/json")
        assert resp.status_code == 400 and _field(resp) == "body", (url, resp.get_json())
    nested = {"a": 1}
    for _ in range(200):
        nested = {"a": nested}
    resp = as_role("admin", "POST", "/api/visits", data=json.dumps(nested),
                   content_type="application/json")
    assert resp.status_code == 400 and _field(resp) == "body", resp.get_json()


# -- item 7: malformed bodies name "body" -------------------------------------------------
@pytest.mark.parametrize("data,content_type", [
    ("not json", "application/json"),
    ("[1, 2]", "application/json"),
    ('"text"', "application/json"),
    ("null", "application/json"),
    ("child_id=1", "application/x-www-form-urlencoded"),
    ("hello", "text/plain"),
])
@pytest.mark.parametrize("method,url", [("POST", "/api/visits"),
                                        ("POST", "/api/households"),
                                        ("PATCH", "/api/children/{id}"),
                                        ("POST", "/api/facilities")])
def test_malformed_bodies_name_the_body(as_role, child, data, content_type, method, url):
    resp = as_role("admin", method, url.format(id=child["id"]), data=data,
                   content_type=content_type)
    assert 400 <= resp.status_code < 500, resp.status_code
    assert _field(resp) == "body", resp.get_json()


# -- item 7: every 4xx names its field ----------------------------------------------------
def test_every_4xx_names_a_field(client, as_role, tokens):
    cases = [
        client.get("/api/children"),                                       # 401
        as_role("grid_worker", "GET", "/api/audit"),                       # 403
        as_role("admin", "GET", "/api/no-such-thing"),                     # 404
        as_role("admin", "PUT", "/api/children"),                          # 405
        as_role("admin", "GET", "/api/children?limit=0"),                  # 400
        as_role("admin", "GET", "/api/children/2000000000"),               # 404
        as_role("admin", "POST", "/api/imports", data={"kind": "children"},
                content_type="multipart/form-data"),                       # 400 file
    ]
    for resp in cases:
        assert 400 <= resp.status_code < 500, resp.status_code
        assert _field(resp), (resp.status_code, resp.get_json())
    upload = cases[-1]
    assert _field(upload) == "file", upload.get_json()


@pytest.mark.parametrize("date", ["9999-12-31", "0001-01-01"])
def test_route_page_refuses_dates_outside_the_window(as_role, worker_of, date):
    resp = as_role("admin", "GET", f"/map/route/{worker_of['grid_worker']}?date={date}")
    assert resp.status_code == 400 and _field(resp) == "date", resp.status_code


def test_control_characters_are_refused_and_not_exported(as_role, child, engine):
    bad = as_role("admin", "PATCH", f"/api/households/{child['household_id']}",
                  json={"address": "校验村\x0b1组"})
    assert bad.status_code == 400 and _field(bad) == "address", bad.get_json()
    with engine.begin() as conn:  # stored before the API refused such text
        conn.execute(sa.text("UPDATE child SET name = :n WHERE id = :c"),
                     {"n": "校验\x0b儿童", "c": child["id"]})
    resp = as_role("admin", "GET", "/api/exports/ledger?kind=children")
    assert resp.status_code == 200, resp.get_json()


@pytest.mark.parametrize("value", ["1.2.3.4\x00", "\ud800", "10.0.0.1\x07"])
def test_unstorable_header_is_refused(client, tokens, value):
    resp = client.get("/api/children?limit=1", headers={
        "Authorization": f"Bearer {tokens['admin']}", "X-Forwarded-For": value})
    assert resp.status_code == 400 and _field(resp) == "X-Forwarded-For", resp.get_json()

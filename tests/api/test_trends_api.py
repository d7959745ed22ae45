"""GET /api/stats/trends and /dashboard: roles, area scope, planner suppression, the
page's charts and tables."""


import sqlalchemy as sa
from page_sessions import signed_in

from geo.reporting.trends import COUNTS, PERCENTAGES


def _units(engine, parent_code, level):
    with engine.connect() as c:
        return {r.code for r in c.execute(sa.text(
            "SELECT u.code FROM unit u JOIN unit p ON p.code = :p "
            "WHERE u.level = :l AND p.id IN (u.county_id, u.township_id, u.village_id)"),
            {"p": parent_code, "l": level})}


def test_supervisor_sees_own_villages_only(as_role, logins, engine):
    township = logins["supervisor"]["unit"]
    resp = as_role("supervisor", "GET", "/api/stats/trends?months=3")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["unit"]["code"] == township and body["group_level"] == "village"
    assert {g["code"] for g in body["groups"]} == _units(engine, township, "village")
    assert len(body["months"]) == 3 and "cells" not in body
    for g in body["groups"]:
        assert [r["month"] for r in g["series"]] == body["months"]
    village = body["groups"][0]["code"]
    cells = as_role("supervisor", "GET", f"/api/stats/trends?unit={village}&months=2")
    assert cells.status_code == 200 and cells.get_json()["group_level"] == "cell"
    assert {g["code"] for g in cells.get_json()["groups"]} == _units(engine, village, "cell")
    with engine.connect() as c:
        other = c.execute(sa.text(
            "SELECT code FROM unit WHERE level = 'township' AND code <> :t ORDER BY code "
            "LIMIT 1"), {"t": township}).scalar_one()
    far = as_role("supervisor", "GET", f"/api/stats/trends?unit={other}")
    assert far.status_code == 404 and far.get_json()["error"]["field"] == "unit"


def test_county_by_township_and_roles(as_role, engine):
    body = as_role("admin", "GET", "/api/stats/trends?months=2").get_json()
    assert body["group_level"] == "township" and body["unit"]["level"] == "county"
    last = body["total"]["series"][-1]
    for f in COUNTS:
        assert last[f] == sum(g["series"][-1][f] for g in body["groups"])
    for role in ("grid_head", "grid_worker", "responder"):
        assert as_role(role, "GET", "/api/stats/trends").status_code == 403
    for bad in ("0", "37", "x"):
        resp = as_role("admin", "GET", f"/api/stats/trends?months={bad}")
        assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "months"


def test_planner_small_counts_hidden(as_role):
    full = as_role("admin", "GET", "/api/stats/trends?months=6").get_json()
    seen = as_role("planner", "GET", "/api/stats/trends?months=6").get_json()
    assert seen["suppressed"] == 5
    rows = [(g["code"], r) for g in seen["groups"] for r in g["series"]] + \
        [("total", r) for r in seen["total"]["series"]]
    truth = {(g["code"], r["month"]): r for g in full["groups"] for r in g["series"]}
    truth |= {("total", r["month"]): r for r in full["total"]["series"]}
    hidden = 0
    for code, r in rows:
        for f in COUNTS:
            v = r[f]
            assert v is None or not 0 < v < 5, (code, r["month"], f, v)
            if v is None:
                hidden += 1
                continue
            assert v == truth[(code, r["month"])][f]
        for pct, (num, den) in PERCENTAGES.items():
            if r[num] is None or r[den] is None:
                assert r[pct] is None, (code, pct)
    assert hidden, "the demo has small counts to hide"
    small = [(k, f) for k, r in truth.items() for f in COUNTS if 0 < r[f] < 5]
    assert small
    # Each township's count hidden in one month cannot be worked out from the total.
    for i, r in enumerate(seen["total"]["series"]):
        for f in COUNTS:
            gone = [g for g in seen["groups"] if g["series"][i][f] is None]
            if r[f] is not None:
                assert len(gone) != 1, (r["month"], f)


def test_dashboard_page(app, logins):
    client = signed_in(app, logins["supervisor"])
    assert 'href="/dashboard"' in client.get("/").get_data(as_text=True)
    resp = client.get("/dashboard?months=6")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert page.count("<svg class=\"gm-chart\"") == 8
    assert "<polyline" in page and "<caption>" in page and "按时走访率" in page
    assert client.get("/dashboard?months=99").status_code == 400
    worker = signed_in(app, logins["grid_worker"])
    assert 'href="/dashboard"' not in worker.get("/").get_data(as_text=True)
    assert worker.get("/dashboard").status_code == 403


def test_planner_narrower_unit_hides_the_same(as_role):
    """A township asked for on its own shows the same counts (and hides the same) as its
    row in the county's answer: the two cannot be differenced."""
    county = as_role("planner", "GET", "/api/stats/trends?months=3").get_json()
    row = county["groups"][0]
    one = as_role("planner", "GET", f"/api/stats/trends?months=3&unit={row['code']}")
    assert one.status_code == 200
    total = one.get_json()["total"]["series"]
    for mine, theirs in zip(total, row["series"], strict=True):
        assert {f: mine[f] for f in COUNTS} == {f: theirs[f] for f in COUNTS}

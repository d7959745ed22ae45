"""The lists behind the figures (GET /api/lists/<name>, /lists/<name>), the staffing gaps
(GET /api/coverage/gaps) and the home page per role, on the real demo database."""

import io

import mapbox_vector_tile
import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from page_sessions import signed_in
from test_tiles import tile_of

from geo.planning.coverage import cells_without_worker
from geo.reporting import lists
from geo.visits.due import due_visits

ROLES = ["admin", "supervisor", "grid_head", "grid_worker", "planner", "responder"]


def _audit(engine, action, resource):
    with engine.connect() as c:
        return c.execute(sa.text(
            "SELECT username, detail FROM audit_log WHERE action = :a AND resource = :r "
            "ORDER BY id DESC LIMIT 1"), {"a": action, "r": resource}).first()


def test_overdue_list_matches_the_overdue_children(as_role, app, engine):
    resp = as_role("supervisor", "GET", "/api/lists/overdue?limit=20")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    cfg = app.config["GRIDMAP"]
    with engine.connect() as c:
        unit = c.execute(sa.text("SELECT u.code FROM app_user a JOIN unit u ON u.id = a.unit_id "
                                 "WHERE a.username = 'demo_supervisor'")).scalar_one()
        due = [d for d in due_visits(c, cfg["rules"], unit=unit, tz=cfg["timezone"])
               if d["overdue"]]
    assert body["total"] == len(due) > 20
    assert len(body["items"]) == 20 and body["next"]
    days = [r["days_overdue"] for r in body["items"]]
    assert days == sorted(days, reverse=True)
    first = body["items"][0]
    assert first["record"] == f"/record/child/{first['child_id']}"
    assert first["lat"] and first["lon"] and first["name"]
    assert {r["child_id"] for r in body["items"]} <= {d["child_id"] for d in due}
    entry = _audit(engine, "list", "list:overdue")
    assert entry.username == "demo_supervisor"
    assert entry.detail["ids"] == [r["id"] for r in body["items"]]


def test_sort_any_column_and_page(as_role):
    a = as_role("supervisor", "GET", "/api/lists/overdue?sort=name&order=asc&limit=10")
    b = as_role("supervisor", "GET", "/api/lists/overdue?sort=name&order=asc&limit=10&offset=10")
    names = [r["name"] for r in a.get_json()["items"] + b.get_json()["items"]]
    assert names == sorted(names)
    assert len(set(r["id"] for r in a.get_json()["items"] + b.get_json()["items"])) == 20
    bad = as_role("supervisor", "GET", "/api/lists/overdue?sort=id_hash")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "sort"
    bad = as_role("supervisor", "GET", "/api/lists/overdue?order=up")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "order"


def test_filters(as_role):
    all_ = as_role("supervisor", "GET", "/api/lists/overdue?limit=500").get_json()
    high = as_role("supervisor", "GET", "/api/lists/overdue?risk=high&limit=500").get_json()
    assert high["total"] == sum(1 for r in all_["items"] if r["risk_level"] == "high")
    cat = as_role("supervisor", "GET",
                  "/api/lists/overdue?category=left_behind&limit=500").get_json()
    assert cat["items"] and all("left_behind" in r["categories"] for r in cat["items"])
    bad = as_role("supervisor", "GET", "/api/lists/overdue?risk=purple")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "risk"
    bad = as_role("supervisor", "GET", "/api/lists/overdue?since=2026-01-01")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "since"
    bad = as_role("supervisor", "GET", "/api/lists/flagged?since=2026-13-01")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "since"
    assert as_role("supervisor", "GET", "/api/lists/nothing").status_code == 404


@pytest.mark.parametrize("name", list(lists.LISTS))
def test_every_list_answers_each_role(as_role, name):
    s = lists.LISTS[name]
    for role in ROLES:
        resp = as_role(role, "GET", f"/api/lists/{name}?limit=5")
        allowed = role in s.roles and not (role == "planner" and s.person)
        assert resp.status_code == (200 if allowed else 403), (role, resp.get_json())
        if allowed:
            body = resp.get_json()
            assert body["total"] >= len(body["items"])


def test_scope_grid_worker_sees_only_their_village(as_role, engine, logins):
    body = as_role("grid_worker", "GET", "/api/lists/overdue?limit=500").get_json()
    with engine.connect() as c:
        village = c.execute(sa.text("SELECT name FROM unit WHERE code = :c"),
                            {"c": logins["grid_worker"]["unit"]}).scalar_one()
        county = c.execute(sa.text("SELECT code FROM unit WHERE level = 'county'")).scalar_one()
    assert body["items"] and {r["village"] for r in body["items"]} == {village}
    resp = as_role("grid_worker", "GET", f"/api/lists/overdue?unit={county}")
    assert resp.status_code == 404 and resp.get_json()["error"]["field"] == "unit"


def test_field_rights_on_categories(as_role):
    sensitive = {"hiv_affected", "juvenile_justice", "abused"}
    body = as_role("grid_worker", "GET", "/api/lists/overdue?limit=500").get_json()
    assert not any(sensitive & set(r["categories"]) for r in body["items"])
    assert not any("id_masked" in r or "id_hash" in r for r in body["items"])
    hidden = as_role("grid_worker", "GET", "/api/lists/overdue?category=abused").get_json()
    assert hidden["items"] == [] and hidden["total"] == 0


def test_planner_gets_cells_with_small_counts_hidden(as_role, app):
    assert as_role("planner", "GET", "/api/lists/overdue").status_code == 403
    body = as_role("planner", "GET", "/api/lists/cells?limit=500").get_json()
    full = as_role("admin", "GET", "/api/lists/cells?limit=500").get_json()
    assert body["total"] == full["total"] > 0
    threshold = app.config["GRIDMAP"]["rules"]["suppress_below"]
    values = [r["overdue_children"] for r in body["items"]]
    assert not any(v is not None and 0 < v < threshold for v in values)
    assert any(v is None for v in values)
    unstaffed = as_role("planner", "GET", "/api/lists/unstaffed?limit=500").get_json()
    assert not any(r["children"] is not None and 0 < r["children"] < threshold
                   for r in unstaffed["items"])


def test_xlsx_export_is_neutralised_and_audited(as_role, engine):
    resp = as_role("supervisor", "GET", "/api/lists/overdue?format=xlsx&sort=name")
    assert resp.status_code == 200
    assert resp.mimetype.endswith("spreadsheetml.sheet")
    ws = load_workbook(io.BytesIO(resp.data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[1][:3] == ("姓名", "风险等级", "类别")
    total = as_role("supervisor", "GET", "/api/lists/overdue?limit=1").get_json()["total"]
    assert len(rows) == total + 2
    entry = _audit(engine, "export", "list:overdue")
    assert entry.username == "demo_supervisor" and entry.detail["rows"] == total


def test_xlsx_text_cells_are_neutralised():
    body = lists.to_xlsx("caseload", [{"worker": "=HYPERLINK(\"http://x\")", "unit": "@a",
                                       "children": 3, "cells": 1, "caseload_limit": 2,
                                       "lon": 1.0, "lat": 2.0}], "县")
    rows = list(load_workbook(io.BytesIO(body)).active.iter_rows(values_only=True))
    assert rows[2][0].startswith("'=") and rows[2][1] == "'@a" and rows[2][2] == 3


def test_gaps(as_role, engine):
    body = as_role("supervisor", "GET", "/api/coverage/gaps").get_json()
    assert set(body["counts"]) == {"cells_without_worker", "workers_over_limit",
                                   "villages_without_children_home"}
    assert body["counts"]["cells_without_worker"] == len(body["cells_without_worker"])
    lst = as_role("supervisor", "GET", "/api/lists/unstaffed?limit=1").get_json()
    assert lst["total"] == body["counts"]["cells_without_worker"]
    over = as_role("supervisor", "GET", "/api/lists/caseload?limit=1").get_json()
    assert over["total"] == body["counts"]["workers_over_limit"]
    assert as_role("grid_head", "GET", "/api/coverage/gaps").status_code == 403
    planner = as_role("planner", "GET", "/api/coverage/gaps").get_json()
    assert planner["workers_over_limit"] is None and planner["suppressed"]
    assert _audit(engine, "list", "coverage_gaps").username == "demo_planner"


def test_coverage_layer_counts_workers_like_the_gaps_query(as_role, engine):
    """A grid worker assigned to a whole village staffs its cells on the map too."""
    with engine.begin() as c:
        cell = c.execute(sa.text(
            "SELECT c.id, c.village_id, ST_X(ST_PointOnSurface(c.geom)) x, "
            "ST_Y(ST_PointOnSurface(c.geom)) y FROM unit c "
            "WHERE c.level = 'cell' AND EXISTS (SELECT 1 FROM household h "
            "JOIN child ch ON ch.household_id = h.id WHERE h.cell_id = c.id) "
            "ORDER BY c.id LIMIT 1")).one()
        worker = c.execute(sa.text(
            "INSERT INTO worker (role, name, unit_id) VALUES ('grid_worker', '村级网格员', :v) "
            "RETURNING id"), {"v": cell.village_id}).scalar_one()
        c.execute(sa.text("INSERT INTO worker_unit VALUES (:w, :v)"),
                  {"w": worker, "v": cell.village_id})
    try:
        z = 12
        x, y = tile_of(cell.x, cell.y, z)
        feats = mapbox_vector_tile.decode(as_role(
            "admin", "GET", f"/tiles/coverage/{z}/{x}/{y}.pbf").data)["coverage"]["features"]
        mine = next(f["properties"] for f in feats if f["properties"]["id"] == cell.id)
        assert not mine["unstaffed"] and "村级网格员" in mine["workers"]
        with engine.connect() as c:
            gaps = {r["cell_id"] for r in cells_without_worker(c)}
            with_kids = {r[0] for r in c.execute(sa.text(
                "SELECT DISTINCT h.cell_id FROM household h JOIN child ch "
                "ON ch.household_id = h.id"))}
        shown = {f["properties"]["id"] for f in feats}
        assert cell.id not in gaps
        assert {f["properties"]["id"] for f in feats if f["properties"]["unstaffed"]} \
            & with_kids == gaps & shown
    finally:
        with engine.begin() as c:
            c.execute(sa.text("DELETE FROM worker_unit WHERE worker_id = :w"), {"w": worker})
            c.execute(sa.text("DELETE FROM worker WHERE id = :w"), {"w": worker})


# -- pages ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_home_per_role(app, logins, role):
    client = signed_in(app, logins[role])
    resp = client.get("/")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert 'id="gm-figures"' in page and 'href="/map"' in page
    assert ('href="/lists/overdue"' in page) == (role in lists.LISTS["overdue"].roles)
    assert ('href="/imports"' in page) == (role in ("admin", "supervisor"))
    assert ('href="/map/planner"' in page) == (role in ("admin", "supervisor", "planner"))
    assert ('href="/reports/new"' in page) == (role != "planner")


def test_signed_out_root_is_the_status_page(client):
    resp = client.get("/")
    assert resp.status_code == 200 and 'id="gm-figures"' not in resp.get_data(as_text=True)


def test_list_page(app, logins):
    client = signed_in(app, logins["supervisor"])
    resp = client.get("/lists/overdue?sort=name&order=asc")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "逾期未走访儿童" in page and "/record/child/" in page and "/map?at=" in page
    assert "/api/lists/overdue?" in page and "format=xlsx" in page
    assert signed_in(app, logins["planner"]).get("/lists/overdue").status_code == 403
    assert app.test_client().get("/lists/overdue").status_code == 302


# -- search -----------------------------------------------------------------------------

def _common_surname(engine, unit_code):
    with engine.connect() as c:
        return c.execute(sa.text(
            "SELECT left(ch.name, 1) s, count(*) FROM child ch "
            "JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id "
            "JOIN unit t ON t.id = c.township_id WHERE t.code = :t "
            "GROUP BY 1 ORDER BY 2 DESC LIMIT 1"), {"t": unit_code}).one()


def test_search_lists_every_match_paged(as_role, engine, logins):
    surname, n = _common_surname(engine, logins["supervisor"]["unit"])
    first = as_role("supervisor", "GET", f"/api/search?q={surname}&limit=3").get_json()
    assert first["total"] >= n > 3 and len(first["items"]) == 3 and first["next"]
    ids, offset = [], 0
    while offset < first["total"]:
        page = as_role("supervisor", "GET",
                       f"/api/search?q={surname}&limit=3&offset={offset}").get_json()
        ids += [(r["kind"], r["id"]) for r in page["items"]]
        offset += 3
    assert len(set(ids)) == len(ids) == first["total"]
    kid = next(r for r in first["items"] if r["kind"] == "child")
    assert kid["record"] == f"/record/child/{kid['id']}" and kid["lat"] and kid["place"]
    entry = _audit(engine, "list", "search")
    assert entry.detail["q"] == surname
    assert entry.detail["children"] == [i for _, i in ids[offset - 3:]]


def test_search_by_ledger_id_address_and_village(as_role, engine, logins):
    with engine.connect() as c:
        kid = c.execute(sa.text(
            "SELECT ch.id, ch.ledger_id, h.id AS hid, h.address, v.name AS village "
            "FROM child ch JOIN household h ON h.id = ch.household_id "
            "JOIN unit c ON c.id = h.cell_id JOIN unit v ON v.id = c.village_id "
            "WHERE v.code = :v AND ch.ledger_id IS NOT NULL ORDER BY ch.id LIMIT 1"),
            {"v": logins["grid_worker"]["unit"]}).one()
    by_id = as_role("grid_worker", "GET", f"/api/search?q={kid.ledger_id}").get_json()
    assert ("child", kid.id) in {(r["kind"], r["id"]) for r in by_id["items"]}
    by_addr = as_role("grid_worker", "GET", f"/api/search?q={kid.address}").get_json()
    assert ("household", kid.hid) in {(r["kind"], r["id"]) for r in by_addr["items"]}
    by_village = as_role("grid_worker", "GET", f"/api/search?q={kid.village}").get_json()
    assert by_village["items"][0]["kind"] == "village"
    # Planners find places, not people; an empty query names the field.
    planner = as_role("planner", "GET", f"/api/search?q={kid.village}").get_json()
    assert planner["items"] and {r["kind"] for r in planner["items"]} <= {"village",
                                                                          "township"}
    assert as_role("planner", "GET", f"/api/search?q={kid.ledger_id}").get_json()["total"] == 0
    bad = as_role("planner", "GET", "/api/search?q=")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "q"


def test_search_stays_in_the_area(as_role, engine, logins):
    with engine.connect() as c:
        other = c.execute(sa.text(
            "SELECT ch.ledger_id FROM child ch JOIN household h ON h.id = ch.household_id "
            "JOIN unit c ON c.id = h.cell_id JOIN unit v ON v.id = c.village_id "
            "WHERE v.code <> :v AND ch.ledger_id IS NOT NULL LIMIT 1"),
            {"v": logins["grid_worker"]["unit"]}).scalar_one()
    assert as_role("grid_worker", "GET", f"/api/search?q={other}").get_json()["total"] == 0
    assert as_role("admin", "GET", f"/api/search?q={other}").get_json()["total"] == 1
    assert as_role("admin", "GET", "/api/search?q=%25").get_json()["total"] == 0

"""The discovery report pages (intake form, inbox, one report): roles, Chinese labels,
scope (404 outside the area), the reporter's identity by role, and the audit log."""

import re

import pytest
import sqlalchemy as sa


@pytest.fixture(scope="module")
def spot(engine, demo, logins):
    """A point in the grid worker's village and one in another township."""
    q = ("SELECT ST_X(p) AS x, ST_Y(p) AS y FROM (SELECT ST_PointOnSurface(c.geom) AS p "
         "FROM unit c WHERE c.level = 'cell' AND {where} ORDER BY c.id LIMIT 1) s")
    with engine.connect() as conn:
        mine = conn.execute(sa.text(q.format(
            where="c.village_id = (SELECT id FROM unit WHERE code = :v)")),
            {"v": logins["grid_worker"]["unit"]}).mappings().one()
        other = conn.execute(sa.text(q.format(
            where="c.township_id <> (SELECT township_id FROM unit WHERE code = :v)")),
            {"v": logins["grid_worker"]["unit"]}).mappings().one()
    return {"mine": dict(mine), "other": dict(other)}


def _file(as_role, spot, where="mine", role="responder", **extra):
    body = {"source": "hotline_12355", "reporter_name": "李先生",
            "reporter_phone": "13900000000", "harm": "abuse", "severity": "serious",
            "description": "邻居听到孩子哭喊<script>x</script>", "lon": spot[where]["x"],
            "lat": spot[where]["y"], **extra}
    resp = as_role(role, "POST", "/api/reports", json=body)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def test_intake_page_by_role(as_role):
    page = as_role("responder", "GET", "/reports/new")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for label in ("紧急", "12355青少年热线", "虐待/侵害", "GCJ-02（高德/腾讯）", "发生了什么",
                  "县/区 1 小时内受理"):
        assert label in text
    assert "onclick" not in text and "<script>" not in text.replace(
        '<script type="application/json" id="gm-config">', "")
    assert as_role("grid_worker", "GET", "/reports/new").status_code == 200
    assert as_role("planner", "GET", "/reports/new").status_code == 403


def test_pages_need_a_login(client):
    resp = client.get("/reports")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_inbox_lists_reports_at_my_level(as_role, spot):
    rid = _file(as_role, spot)               # serious: waits at the township
    sup = as_role("supervisor", "GET", "/reports").get_data(as_text=True)
    row = re.search(rf'href="/reports/{rid}".*?</tr>', sup, re.S).group(0)
    assert re.search("剩余 (1天0小时|23小时)", row) and "严重" in row and "gm-late" not in row
    assert "乡镇/街道级" in sup
    # The village does not see a township's report in its inbox; the county neither.
    assert f'href="/reports/{rid}"' not in as_role("grid_head", "GET", "/reports").get_data(
        as_text=True)
    assert as_role("planner", "GET", "/reports").status_code == 403
    assert as_role("supervisor", "GET", "/reports?status=bogus").status_code == 400


def test_overdue_shows_red(as_role, spot, engine):
    rid = _file(as_role, spot, severity="general",
                reported_at="2026-01-01T08:00:00+08:00")
    page = as_role("grid_head", "GET", "/reports").get_data(as_text=True)
    row = re.search(rf'href="/reports/{rid}".*?</tr>', page, re.S).group(0)
    assert 'gm-late' in row and "逾期" in row


def test_report_page(as_role, spot, engine):
    rid = _file(as_role, spot)
    page = as_role("supervisor", "GET", f"/reports/{rid}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "李先生" in text and "13900000000" in text      # the supervisor sees the reporter
    assert "&lt;script&gt;x&lt;/script&gt;" in text          # data is escaped
    assert 'data-action="accept"' in text and 'id="gm-place"' in text
    assert "登记报告" in text and "待受理" in text and "12355青少年热线" in text
    worker = as_role("grid_worker", "GET", f"/reports/{rid}").get_data(as_text=True)
    assert "李先生" not in worker and "13900000000" not in worker
    # The village may not accept a township's report and gets no such button.
    assert 'data-action="accept"' not in worker
    with engine.connect() as conn:
        reads = conn.execute(sa.text(
            "SELECT count(*) FROM audit_log WHERE resource = 'report' AND action = 'read' "
            "AND resource_id = :r"), {"r": str(rid)}).scalar()
    assert reads == 2


def test_report_elsewhere_is_not_found(as_role, spot):
    rid = _file(as_role, spot, where="other")
    assert as_role("grid_worker", "GET", f"/reports/{rid}").status_code == 404
    assert as_role("supervisor", "GET", f"/reports/{rid}").status_code == 404
    assert as_role("admin", "GET", f"/reports/{rid}").status_code == 200
    assert as_role("planner", "GET", f"/reports/{rid}").status_code == 403


def test_history_in_chinese(as_role, spot):
    rid = _file(as_role, spot)
    assert as_role("supervisor", "POST", f"/api/reports/{rid}/accept", json={}).status_code == 200
    resp = as_role("supervisor", "POST", f"/api/reports/{rid}/close",
                   json={"outcome": "unfounded", "note": "核实无此事"})
    assert resp.status_code == 200
    text = as_role("supervisor", "GET", f"/reports/{rid}").get_data(as_text=True)
    assert "受理" in text and "经核实不属实：核实无此事" in text and "unfounded" not in text
    assert 'data-action="accept"' not in text and 'id="gm-place"' not in text


@pytest.fixture
def free_child(engine, logins):
    """A child of the grid worker's village without an active placement."""
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT ch.id FROM child ch JOIN household h ON h.id = ch.household_id "
            "JOIN unit c ON c.id = h.cell_id JOIN unit v ON v.id = c.village_id "
            "WHERE v.code = :v AND NOT ch.has_disability AND NOT EXISTS (SELECT 1 FROM "
            "placement p WHERE p.child_id = ch.id AND p.status = 'active') "
            "AND ch.birth_date < now() - interval '7 years' ORDER BY ch.id LIMIT 1"),
            {"v": logins["grid_worker"]["unit"]}).scalar_one()


def test_placement_page_from_a_report(as_role, spot, free_child, engine, other_child):
    rid = _file(as_role, spot, child_id=free_child)
    page = as_role("responder", "GET", f"/map/nearest?report={rid}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f'id="gm-child" size="8" type="number" value="{free_child}"' in text
    assert '"report": {"age": ' in text and f'"id": {rid}' in text
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT count(*) FROM audit_log WHERE resource = 'report' AND action = 'read' "
            "AND resource_id = :r AND detail->>'page' = 'placement'"),
            {"r": str(rid)}).scalar() == 1
    elsewhere = _file(as_role, spot, where="other")
    assert as_role("grid_head", "GET", f"/map/nearest?report={elsewhere}").status_code == 404
    assert as_role("planner", "GET", f"/map/nearest?report={rid}").status_code == 403
    bad = as_role("responder", "GET", "/map/nearest?report=x")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "report"


def test_child_placements_and_record_page(as_role, spot, free_child, engine, other_child):
    rid = _file(as_role, spot, child_id=free_child)
    listed = as_role("responder", "GET", f"/api/children/{free_child}/placements")
    assert listed.status_code == 200
    who = listed.get_json()["child"]
    assert who["id"] == free_child and who["name"] and 0 <= who["age"] < 18
    assert as_role("grid_head", "GET",
                   f"/api/children/{other_child}/placements").status_code == 404
    assert as_role("planner", "GET",
                   f"/api/children/{free_child}/placements").status_code == 403
    near = as_role("responder", "GET", f"/api/facilities/nearest?child_id={free_child}"
                   "&need_bed=true&k=1").get_json()["facilities"][0]
    placed = as_role("responder", "POST", "/api/placements", json={
        "child_id": free_child, "facility_id": near["id"], "report_id": rid})
    assert placed.status_code == 201, placed.get_json()
    pid = placed.get_json()["id"]
    try:
        items = as_role("responder", "GET",
                        f"/api/children/{free_child}/placements").get_json()["items"]
        assert items[0]["id"] == pid and items[0]["report_id"] == rid
        report = as_role("responder", "GET", f"/reports/{rid}").get_data(as_text=True)
        assert near["name"] in report and "在住" in report and "处置中" in report
        assert as_role("responder", "POST", f"/api/placements/{pid}/release",
                       json={"reason": "to_relatives"}).status_code == 200
        record = as_role("responder", "GET", f"/record/child/{free_child}").get_data(
            as_text=True)
        assert "交亲属照料" in record and f"/reports/{rid}" in record
        report = as_role("responder", "GET", f"/reports/{rid}").get_data(as_text=True)
        assert "交亲属照料" in report and "已离开" in report
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "UPDATE facility SET occupied = occupied - 1 WHERE id = :f AND "
                "EXISTS (SELECT 1 FROM placement WHERE id = :p AND status = 'active')"),
                {"f": near["id"], "p": pid})
            conn.execute(sa.text("DELETE FROM placement WHERE id = :p"), {"p": pid})


def _tile_of(lon, lat, z):
    import math

    n = 2 ** z
    return (int((lon + 180) / 360 * n),
            int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))


def test_report_layer_by_time_left_and_scope(as_role, spot, engine):
    import mapbox_vector_tile

    mine = _file(as_role, spot)                                     # serious: 24 h
    late = _file(as_role, spot, severity="general", reported_at="2026-01-01T08:00:00+08:00")
    other = _file(as_role, spot, where="other", severity="urgent")

    def features(role, where):
        x, y = _tile_of(spot[where]["x"], spot[where]["y"], 14)
        resp = as_role(role, "GET", f"/tiles/reports/14/{x}/{y}.pbf")
        assert resp.status_code == 200
        layer = mapbox_vector_tile.decode(resp.data).get("reports", {"features": []})
        return {f["properties"]["id"]: f["properties"] for f in layer["features"]}

    got = features("grid_worker", "mine")
    assert got[mine]["band"] == "within_24h" and got[mine]["severity_label"] == "严重"
    assert got[late]["band"] == "overdue" and got[late]["state"] == "待受理"
    assert features("admin", "other")[other]["band"] == "within_1h"
    assert other not in features("grid_worker", "other")
    x, y = _tile_of(spot["mine"]["x"], spot["mine"]["y"], 14)
    assert as_role("planner", "GET", f"/tiles/reports/14/{x}/{y}.pbf").status_code == 403
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT count(*) FROM audit_log WHERE resource = 'tile_reports'")).scalar() >= 3
    from layers.registry import layers_for

    assert "reports" in {layer.name for layer in layers_for("responder")}
    assert "reports" not in {layer.name for layer in layers_for("planner")}

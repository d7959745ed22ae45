"""Exports (re-importable, role-redacted, audited), imports over HTTP, monthly report."""

import io

import geopandas as gpd
import openpyxl
import pandas as pd
import sqlalchemy as sa


def _village(logins):
    return logins["grid_worker"]["unit"]


def test_export_reimports_to_the_same_records(as_role, logins):
    village = _village(logins)
    for kind in ("households", "children"):
        resp = as_role("admin", "GET", f"/api/exports/ledger?kind={kind}&unit={village}")
        assert resp.status_code == 200
        frame = pd.read_excel(io.BytesIO(resp.data), dtype=str)
        assert len(frame) > 0
        back = as_role("admin", "POST", "/api/imports", data={
            "kind": kind, "file": (io.BytesIO(resp.data), f"{kind}.xlsx")},
            content_type="multipart/form-data")
        report = back.get_json()
        assert back.status_code == 200, report
        assert report["errors"] == [], report["errors"][:3]
        assert (report["created"], report["updated"], report["unchanged"]) == \
            (0, 0, len(frame)), report


def test_export_follows_field_rights_and_is_audited(as_role, logins, engine):
    village = _village(logins)
    admin = pd.read_excel(io.BytesIO(as_role(
        "admin", "GET", f"/api/exports/ledger?kind=children&unit={village}").data), dtype=str)
    worker = pd.read_excel(io.BytesIO(as_role(
        "grid_worker", "GET", "/api/exports/ledger?kind=children").data), dtype=str)
    assert "身份证号（脱敏）" in admin.columns and "身份证号（脱敏）" not in worker.columns
    assert set(admin["台账编号"]) == set(worker["台账编号"])
    for sensitive in ("受侵害", "受艾滋病影响", "社区矫正"):
        assert not worker["困境类别"].fillna("").str.contains(sensitive).any()
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM audit_log WHERE action = 'export' "
                                 "AND username = 'demo_grid_worker'")).scalar()
    assert n >= 1


def test_layer_export(as_role, logins, engine):
    resp = as_role("supervisor", "GET", "/api/exports/layer?layer=cells&format=gpkg")
    assert resp.status_code == 200
    cells = gpd.read_file(io.BytesIO(resp.data))
    with engine.connect() as conn:
        want = conn.execute(sa.text(
            "SELECT count(*) FROM unit c JOIN unit t ON t.id = c.township_id "
            "WHERE c.level = 'cell' AND t.code = :t"),
            {"t": logins["supervisor"]["unit"]}).scalar()
    assert len(cells) == want and cells.crs.to_epsg() == 4326
    gj = as_role("planner", "GET", "/api/exports/layer?layer=facilities&format=geojson")
    assert gj.status_code == 200 and gj.get_json()["type"] == "FeatureCollection"
    refused = as_role("planner", "GET", "/api/exports/layer?layer=households")
    assert refused.status_code == 400


def test_monthly_report(as_role, engine, logins):
    town = logins["supervisor"]["unit"]
    resp = as_role("supervisor", "GET", "/api/reports/monthly?month=2026-10")
    assert resp.status_code == 200, resp.get_json()
    report = resp.get_json()
    figures = {f["key"]: f for f in report["figures"]}
    with engine.connect() as conn:
        visits = conn.execute(sa.text(
            "SELECT count(*) FROM visit v JOIN child ch ON ch.id = v.child_id "
            "JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id "
            "JOIN unit t ON t.id = c.township_id WHERE t.code = :t "
            "AND (v.visited_at AT TIME ZONE 'Asia/Shanghai')::date "
            "BETWEEN '2026-10-01' AND '2026-10-31'"), {"t": town}).scalar()
        previous = conn.execute(sa.text(
            "SELECT count(*) FROM visit v JOIN child ch ON ch.id = v.child_id "
            "JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id "
            "JOIN unit t ON t.id = c.township_id WHERE t.code = :t "
            "AND (v.visited_at AT TIME ZONE 'Asia/Shanghai')::date "
            "BETWEEN '2026-09-01' AND '2026-09-30'"), {"t": town}).scalar()
    assert figures["visits"]["this_month"] == visits
    assert figures["visits"]["last_month"] == previous
    assert figures["visits"]["change"] == visits - previous
    assert report["blind_spots"]
    xlsx = as_role("supervisor", "GET", "/api/reports/monthly?month=2026-10&format=xlsx")
    book = openpyxl.load_workbook(io.BytesIO(xlsx.data))
    assert book["月报"]["B3"].value == visits and book["月报"]._charts
    html = as_role("supervisor", "GET", "/api/reports/monthly?month=2026-10&format=html")
    assert "月报" in html.get_data(as_text=True) and "<svg" in html.get_data(as_text=True)
    bad = as_role("supervisor", "GET", "/api/reports/monthly?month=2026-13")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "month"


def test_imports_are_for_admins_and_supervisors(as_role):
    resp = as_role("grid_worker", "POST", "/api/imports", data={
        "kind": "children", "file": (io.BytesIO(b"x"), "a.xlsx")},
        content_type="multipart/form-data")
    assert resp.status_code == 403
    wrong = as_role("admin", "POST", "/api/imports", data={
        "kind": "children", "file": (io.BytesIO(b"x"), "a.pdf")},
        content_type="multipart/form-data")
    assert wrong.status_code == 400 and wrong.get_json()["error"]["field"] == "file"
    tpl = as_role("grid_worker", "GET", "/api/imports/template?kind=children")
    assert list(pd.read_excel(io.BytesIO(tpl.data)).columns)[:3] == ["台账编号", "户台账编号",
                                                                     "姓名"]


def test_planner_report_hides_small_counts(as_role, logins):
    """A village's report for a planner: every count from 1 to 4 hidden, and the change
    next to a hidden count too (it would give it away); the page still renders."""
    village = logins["grid_worker"]["unit"]
    url = f"/api/reports/monthly?month=2026-10&unit={village}"
    full = as_role("supervisor", "GET", url).get_json()
    seen = as_role("planner", "GET", url).get_json()
    small = [(i, k) for i, f in enumerate(full["figures"])
             for k in ("this_month", "last_month") if 0 < f[k] < 5]
    assert small, "the seeded village should have some count under 5"
    for i, k in small:
        assert seen["figures"][i][k] is None and seen["figures"][i]["change"] is None
    for f in seen["figures"]:
        for k in ("this_month", "last_month", "change"):
            assert f[k] is None or not 0 < abs(f[k]) < 5 or k == "change"
    for s in seen["blind_spots"]:
        assert s["uncovered_children"] is None or not 0 < s["uncovered_children"] < 5
    page = as_role("planner", "GET", url + "&format=html")
    assert page.status_code == 200 and "–" in page.get_data(as_text=True)
    assert as_role("planner", "GET", url + "&format=xlsx").status_code == 200

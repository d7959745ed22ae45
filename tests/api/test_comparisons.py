"""POST /api/comparisons, confirm and tasks over HTTP, and `gridmap compare`."""

import datetime as dt
import hashlib
import io

import openpyxl
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from api.cli import main
from geo import identity

BORN = dt.date(2014, 2, 2)


def _idno(seq):
    return identity.make_id("510493", BORN, seq, "male")


@pytest.fixture
def listed(engine, logins, cfg):
    """A child on file in the supervisor's township, and a prisoners' list naming them
    and a child not on file."""
    with engine.begin() as c:
        place = c.execute(sa.text(
            """SELECT c.id AS cell_id, v.name AS village FROM unit s, unit c
                 JOIN unit v ON v.id = c.village_id
                WHERE s.code = :code AND c.level = 'cell'
                  AND s.id IN (c.id, c.village_id, c.township_id, c.county_id)
                  AND EXISTS (SELECT 1 FROM household h WHERE h.cell_id = c.id)
                ORDER BY c.code LIMIT 1"""),
            {"code": logins["supervisor"]["unit"]}).mappings().one()
        hh = c.execute(sa.text(
            "INSERT INTO household (ledger_id, address, geom, cell_id) SELECT 'CMPAPI-H', "
            "'比对接口1号', geom, cell_id FROM household WHERE cell_id = :c ORDER BY id LIMIT 1 "
            "RETURNING id"), {"c": place["cell_id"]}).scalar_one()
        child = c.execute(sa.text(
            "INSERT INTO child (household_id, ledger_id, name, sex, birth_date, id_hash, "
            "categories, risk_level) VALUES (:h, 'CMPAPI-C', '接口小安', 'male', :b, :hash, "
            "'{}', 'medium') RETURNING id"),
            {"h": hh, "b": BORN, "hash": identity.keyed_hash(_idno(1), cfg["id_key"])}
        ).scalar_one()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["姓名", "身份证号", "村", "子女姓名", "子女身份证号", "状态"])
    ws.append(["接口大军", "", place["village"], "接口小安", _idno(1), "在押"])
    ws.append(["接口大福", "", place["village"], "接口小福", _idno(2), "在押"])
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    yield {"data": data, "child": child, "sha": hashlib.sha256(data).hexdigest()}
    with engine.begin() as c:
        ids = list(c.execute(sa.text("SELECT id FROM comparison WHERE file_sha256 = :s"),
                             {"s": hashlib.sha256(data).hexdigest()}).scalars())
        c.execute(sa.text("DELETE FROM task WHERE comparison_id = ANY(:i) OR child_id = :c"),
                  {"i": ids, "c": child})
        c.execute(sa.text("DELETE FROM comparison WHERE id = ANY(:i)"), {"i": ids})
        c.execute(sa.text("DELETE FROM child WHERE id = :c"), {"c": child})
        c.execute(sa.text("DELETE FROM household WHERE ledger_id = 'CMPAPI-H'"))


def _post(client, tokens, role, data, name="list.xlsx", **form):
    return client.post("/api/comparisons", data={
        "list": "prisoners", "file": (io.BytesIO(data), name), **form},
        headers={"Authorization": f"Bearer {tokens[role]}"},
        content_type="multipart/form-data")


def test_compare_confirm_and_tasks_over_http(client, tokens, listed, engine):
    assert _post(client, tokens, "grid_worker", listed["data"]).status_code == 403
    resp = _post(client, tokens, "supervisor", listed["data"])
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["counts"]["by_hash"] == 1 and body["counts"]["unregistered"] == 1
    assert [u["name"] for u in body["unregistered"]] == ["接口小福"]
    (proposal,) = body["proposals"]
    assert (proposal["child_id"], proposal["action"], proposal["category"]) == \
        (listed["child"], "add", "prisoner_child")
    auth = {"Authorization": f"Bearer {tokens['supervisor']}"}
    got = client.get(f"/api/comparisons/{body['id']}", headers=auth).get_json()
    assert got["file_sha256"] == listed["sha"] and "接口大军" not in str(got)
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT categories FROM child WHERE id = :i"),
                         {"i": listed["child"]}).scalar_one() == []
    refused = client.post(f"/api/comparisons/{body['id']}/confirm", json={"proposals": [1]},
                          headers={"Authorization": f"Bearer {tokens['grid_worker']}"})
    assert refused.status_code == 403
    bad = client.post(f"/api/comparisons/{body['id']}/confirm", json={"proposals": [77]},
                      headers=auth)
    assert bad.status_code in (400, 422) and bad.get_json()["error"]["field"] == "proposals"
    ok = client.post(f"/api/comparisons/{body['id']}/confirm",
                     json={"proposals": [proposal["id"]]}, headers=auth)
    assert ok.status_code == 200 and ok.get_json()["applied"] == [proposal["id"]]
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT categories FROM child WHERE id = :i"),
                         {"i": listed["child"]}).scalar_one() == ["prisoner_child"]
    tasks = client.get("/api/tasks?kind=verify_unregistered", headers=auth).get_json()["tasks"]
    assert "接口小福" in [t["detail"].get("name") for t in tasks]


def test_bad_comparison_input_is_a_named_4xx(client, tokens, listed):
    resp = _post(client, tokens, "admin", listed["data"], name="list.txt")
    assert resp.status_code in (400, 422) and resp.get_json()["error"]["field"] == "file"
    resp = _post(client, tokens, "admin", b"PK\x03\x04 broken", name="list.xlsx")
    assert resp.status_code in (400, 422) and resp.get_json()["error"]["field"] == "file"
    resp = _post(client, tokens, "admin", listed["data"], threshold="30")
    assert resp.status_code in (400, 422)
    assert "threshold" in str(resp.get_json()["error"])
    resp = client.post("/api/comparisons", data={
        "list": "astrologers", "file": (io.BytesIO(listed["data"]), "l.xlsx")},
        headers={"Authorization": f"Bearer {tokens['admin']}"},
        content_type="multipart/form-data")
    assert resp.status_code in (400, 422) and "list" in str(resp.get_json()["error"])


def test_cli_compare(database, demo, monkeypatch, listed, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database)
    path = tmp_path / "prisoners.xlsx"
    path.write_bytes(listed["data"])
    out = CliRunner().invoke(main, ["compare", str(path), "--list", "prisoners"],
                             catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "1 possibly unregistered" in out.output and "proposal 1: add" in out.output

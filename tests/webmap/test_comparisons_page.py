"""The comparisons page in Chromium: a supervisor uploads the planted prisoners' list
(tests/data/comparison_prisoners.xlsx, made by make_ledgers.py), sees the three
worklists with why each child matched, confirms one category change, and sees the
tasks given; in the database the proposals are applied only after confirmation, and
nothing of the list's rows is stored."""

import datetime as dt
import importlib.util
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from geo import identity

DATA = Path(__file__).resolve().parents[1] / "data"
# The generator of the planted files says what the list holds.
_spec = importlib.util.spec_from_file_location("make_ledgers", DATA / "make_ledgers.py")
make_ledgers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_ledgers)
LIST_ADDRESS, LIST_KIDS = make_ledgers.LIST_ADDRESS, make_ledgers.LIST_KIDS
PLANT_VILLAGE, list_idno = make_ledgers.PLANT_VILLAGE, make_ledgers.list_idno
LIST = DATA / "comparison_prisoners.xlsx"
# Only on the list: parents, the unregistered child's number, the adult child.
LIST_ONLY = ["陈大军", "林大海", "张大勇", "周大福", "刘大成", "吴大成", "吴小成", "刘晓英",
             "张小曰"]


@pytest.fixture
def planted(engine, cfg, logins):
    """The grid head's village renamed to the list's village for the test, a household
    at the list's address in a cell with a grid worker, and the children on file."""
    with engine.begin() as c:
        village = c.execute(sa.text("SELECT id, name FROM unit WHERE code = :v"),
                            {"v": logins["grid_head"]["unit"]}).one()
        cell = c.execute(sa.text(
            """SELECT c.id FROM unit c JOIN worker_unit wu ON wu.unit_id IN (c.id, c.village_id)
                 JOIN worker w ON w.id = wu.worker_id AND w.role = 'grid_worker' AND w.active
                WHERE c.village_id = :v AND c.level = 'cell'
                  AND EXISTS (SELECT 1 FROM household h WHERE h.cell_id = c.id)
                ORDER BY c.code LIMIT 1"""), {"v": village.id}).scalar_one()
        c.execute(sa.text("UPDATE unit SET name = :n WHERE id = :v"),
                  {"n": PLANT_VILLAGE, "v": village.id})
        hh = c.execute(sa.text(
            "INSERT INTO household (ledger_id, address, geom, cell_id) SELECT 'CMPW-H', :a, "
            "geom, cell_id FROM household WHERE cell_id = :c ORDER BY id LIMIT 1 RETURNING id"),
            {"a": LIST_ADDRESS, "c": cell}).scalar_one()
        kids = {}
        for seq, (lid, (name, born, cats, numbered)) in enumerate(LIST_KIDS.items(), 1):
            number = list_idno(seq, born) if numbered else None
            kids[lid] = c.execute(sa.text(
                "INSERT INTO child (household_id, ledger_id, name, sex, birth_date, id_masked, "
                "id_hash, categories, risk_level) VALUES (:h, :l, :n, 'male', :b, :m, :hash, "
                "CAST(:c AS text[]), 'medium') RETURNING id"),
                {"h": hh, "l": lid, "n": name, "b": born, "c": cats,
                 "m": identity.mask(number) if number else None,
                 "hash": identity.keyed_hash(number, cfg["id_key"]) if number else None}
            ).scalar_one()
    yield {"kids": kids, "cell": cell, "village": village.id}
    with engine.begin() as c:
        ids = list(c.execute(sa.text(
            "SELECT id FROM comparison WHERE username = :u"),
            {"u": logins["supervisor"]["username"]}).scalars())
        c.execute(sa.text("DELETE FROM task WHERE comparison_id = ANY(:i) "
                          "OR child_id = ANY(:k) OR detail->>'name' = '周小福'"),
                  {"i": ids, "k": list(kids.values())})
        c.execute(sa.text("DELETE FROM comparison WHERE id = ANY(:i)"), {"i": ids})
        c.execute(sa.text("DELETE FROM child WHERE id = ANY(:k)"), {"k": list(kids.values())})
        c.execute(sa.text("DELETE FROM household WHERE id = :h"), {"h": hh})
        c.execute(sa.text("UPDATE unit SET name = :n WHERE id = :v"),
                  {"n": village.name, "v": village.id})


def _categories(engine, child_id):
    with engine.connect() as c:
        return c.execute(sa.text("SELECT categories FROM child WHERE id = :i"),
                         {"i": child_id}).scalar_one()


def test_compare_a_list_confirm_and_see_tasks(page, server, login, logins, planted, engine,
                                              artifacts):
    kids = planted["kids"]
    login(page, logins["supervisor"])
    page.goto(f"{server}/comparisons")
    page.screenshot(path=str(artifacts / "comparisons-upload.png"), full_page=True)
    page.select_option("#list", "prisoners")
    page.set_input_files("#file", str(LIST))
    page.click("#compare-button")
    page.wait_for_selector("#comparison")
    # (1) possibly unregistered: 周小福, in the cell of the household at the same address,
    # given to that cell's grid worker.
    unregistered = page.locator("#unregistered tr")
    assert unregistered.count() == 2
    row = unregistered.nth(1).text_content()
    assert "周小福" in row and "同地址家庭户所在网格" in row and "核实疑似未登记儿童" in row
    assert "无网格员" not in row
    # (2) proposals: add for 陈小安 (hash), 张小日 (fuzzy), 刘小英 (hash); end for 林小波.
    proposals = page.text_content("#proposals")
    for name in ("陈小安", "林小波", "张小日", "刘小英"):
        assert name in proposals
    assert page.locator("#proposals td.state", has_text="待确认").count() == 4
    # (3) a contradiction: 刘小英's number under another name.
    assert "名单姓名与台账不一致" in page.text_content("#contradictions")
    # Why each matched.
    matches = page.text_content("#matches")
    assert "身份证号一致" in matches and "姓名、出生日期、村一致" in matches
    assert "姓名相似度" in matches
    page.screenshot(path=str(artifacts / "comparisons-result.png"), full_page=True)

    # Nothing applied before confirmation.
    assert _categories(engine, kids["CMPW-A"]) == []
    assert "prisoner_child" in _categories(engine, kids["CMPW-B"])
    with engine.connect() as c:
        cmp = c.execute(sa.text(
            "SELECT id, result, counts, file_sha256 FROM comparison WHERE username = :u "
            "ORDER BY id DESC LIMIT 1"), {"u": logins["supervisor"]["username"]}).one()
        stored = json.dumps([cmp.result, cmp.counts], ensure_ascii=False)
        tasks = c.execute(sa.text("SELECT detail FROM task WHERE comparison_id = :i"),
                          {"i": cmp.id}).scalars().all()
    # Nothing of the list's rows is stored: no parent, no name as the list spells it,
    # no identity number; the task keeps what finds the child, masked.
    for text in LIST_ONLY:
        assert text not in stored, text
    task_text = json.dumps(tasks, ensure_ascii=False)
    for text in ("陈大军", "周大福", list_idno(6, dt.date(2014, 1, 6))):
        assert text not in task_text
    assert len(cmp.file_sha256) == 64

    # The supervisor confirms the addition for 陈小安 only.
    pid = next(p["id"] for p in cmp.result["proposals"] if p["child_id"] == kids["CMPW-A"])
    page.check(f"#proposal-{pid}")
    page.click("#confirm-proposals")
    page.wait_for_selector("#comparison-applied")
    assert "1" in page.text_content("#comparison-applied")
    assert page.locator("#proposals td.state", has_text="已确认").count() == 1
    assert _categories(engine, kids["CMPW-A"]) == ["prisoner_child"]
    # The others wait still.
    assert "prisoner_child" in _categories(engine, kids["CMPW-B"])
    assert "prisoner_child" not in _categories(engine, kids["CMPW-C"])
    assert "prisoner_child" not in _categories(engine, kids["CMPW-D"])
    history = page.text_content("#comparison-history")
    assert "服刑人员名单" in history and logins["supervisor"]["username"] in history
    page.screenshot(path=str(artifacts / "comparisons-confirmed.png"), full_page=True)
    assert page.console_errors == []
    assert page.hosts <= {server.split("/")[2]}


def test_the_page_is_for_admins_and_supervisors(page, server, login, logins):
    login(page, logins["grid_head"])
    assert page.goto(f"{server}/comparisons").status == 403

"""Comparing department lists with the children on file (信息比对): planted lists find
unregistered children, propose category changes that wait for confirmation, match fuzzy
names only above the threshold, give 劝返 tasks, and keep nothing of the list."""

import csv
import datetime as dt
import io
import json

import openpyxl
import pytest
import sqlalchemy as sa

from geo import identity
from geo.errors import Forbidden, InvalidInput
from geo.ledgers.compare import compare_list, confirm

TODAY = dt.date(2026, 11, 24)
HEAD = ["序号", "姓名", "性别", "身份证号", "村（社区）", "家庭住址", "子女姓名",
        "子女身份证号", "子女出生日期", "状态"]


def idno(born, seq, sex="male"):
    return identity.make_id("510494", born, seq, sex)


@pytest.fixture
def place(conn):
    """A cell with a grid worker, its village, and a household there (head 王大山)."""
    row = conn.execute(sa.text(
        """SELECT c.id AS cell_id, c.village_id, v.name AS village, w.id AS worker_id,
                  t.id AS township_id
             FROM unit c JOIN unit v ON v.id = c.village_id JOIN unit t ON t.id = c.township_id
             JOIN worker_unit wu ON wu.unit_id = c.id
             JOIN worker w ON w.id = wu.worker_id AND w.role = 'grid_worker' AND w.active
            WHERE c.level = 'cell' AND EXISTS (SELECT 1 FROM household h WHERE h.cell_id = c.id)
            ORDER BY c.code, w.id LIMIT 1""")).mappings().one()
    made = []
    for lid, address, head in (("CMP-H1", "比对测试1组1号", "赵某某"),
                               ("CMP-H2", "比对测试2组2号", "王大山")):
        made.append(conn.execute(sa.text(
            "INSERT INTO household (ledger_id, address, geom, cell_id, head_name) "
            "SELECT :l, :a, geom, cell_id, :h FROM household "
            "WHERE cell_id = :c ORDER BY id LIMIT 1 RETURNING id, cell_id"),
            {"c": row["cell_id"], "l": lid, "a": address, "h": head}).one())
    assert made[0].cell_id == row["cell_id"]
    return {**row, "household_id": made[0].id, "wang_household_id": made[1].id}


def _child(conn, cfg, place, lid, name, born, cats, number=None, school=None,
           disability=False, household=None):
    return conn.execute(sa.text(
        "INSERT INTO child (household_id, ledger_id, name, sex, birth_date, id_masked, "
        "id_hash, categories, risk_level, school, has_disability) VALUES (:h, :l, :n, 'male', "
        ":b, :m, :hash, CAST(:c AS text[]), 'medium', :s, :d) RETURNING id"),
        {"h": household or place["household_id"], "l": lid, "n": name, "b": born, "c": cats,
         "m": identity.mask(number) if number else None,
         "hash": identity.keyed_hash(number, cfg["id_key"]) if number else None,
         "s": school, "d": disability}).scalar_one()


def _xlsx(path, head, rows, title="某监狱在押人员子女信息表"):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([title])
    ws.append(head)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def _county(conn):
    return conn.execute(sa.text(
        "SELECT id FROM unit WHERE level = 'county' ORDER BY code LIMIT 1")).scalar_one()


@pytest.fixture
def planted(conn, cfg, place, tmp_path):
    v = place["village"]
    b = {k: dt.date(2014, 1, k) for k in range(1, 9)}
    kids = {
        "A": _child(conn, cfg, place, "CMP-A", "陈小安", b[1], [], idno(b[1], 1)),
        "B": _child(conn, cfg, place, "CMP-B", "林小波", b[2], ["prisoner_child", "left_behind"]),
        "C": _child(conn, cfg, place, "CMP-C", "张小日", b[3], ["left_behind"]),
        "D": _child(conn, cfg, place, "CMP-D", "李大卫", b[4], ["left_behind"]),
        "F": _child(conn, cfg, place, "CMP-F", "王小山", b[5], [],
                    household=place["wang_household_id"]),
    }
    parents = {"A": ("陈大军", idno(dt.date(1985, 5, 5), 100)),
               "B": ("林大海", idno(dt.date(1984, 4, 4), 101)),
               "C": ("张大勇", ""), "D": ("李大强", ""), "E": ("周大福", ""),
               "F": ("王大山", idno(dt.date(1980, 3, 3), 102)),
               "G": ("吴大成", idno(dt.date(1975, 1, 1), 103))}
    rows = [
        # A: the child's number matches (hash): add 服刑人员子女.
        [1, *parents["A"][:1], "男", parents["A"][1], v, "", "陈小安", idno(b[1], 1), "",
         "在押"],
        # B: name + birth date + village; the parent released: end 服刑人员子女.
        [2, parents["B"][0], "男", parents["B"][1], v, "", "林 小波", "", "2014年1月2日",
         "刑满释放"],
        # C: 张小曰 for 张小日 (a look-alike): fuzzy above the threshold.
        [3, parents["C"][0], "男", "", v, "", "张小曰", "", "2014.1.3", "在押"],
        # D: 李大伟 for 李大卫: below the threshold, so possibly unregistered.
        [4, parents["D"][0], "男", "", v, "", "李大伟", "", "2014-01-04", "在押"],
        # E: a child not on file.
        [5, parents["E"][0], "男", "", v, "比对测试1组1号", "周小福", idno(b[6], 6), "",
         "在押"],
        # F: a parent without child columns: the household whose head they are.
        [6, parents["F"][0], "男", parents["F"][1], v, "", "", "", "", "在押"],
        # G: a child now adult (born 2000): not a child to register.
        [7, parents["G"][0], "男", parents["G"][1], v, "", "吴小成",
         idno(dt.date(2000, 1, 1), 7), "", "在押"],
    ]
    path = _xlsx(tmp_path / "prisoners.xlsx", HEAD, rows)
    return {"kids": kids, "parents": parents, "path": path, "rows": rows}


def _compare(conn, cfg, path, kind="prisoners", **kw):
    return compare_list(conn, path, kind, cfg, role=kw.pop("role", "admin"),
                        scope_id=kw.pop("scope_id", _county(conn)), username="tester",
                        today=TODAY, **kw)


def _categories(conn, child_id):
    return conn.execute(sa.text("SELECT categories FROM child WHERE id = :i"),
                        {"i": child_id}).scalar_one()


def test_prisoners_list_matches_proposes_and_finds_unregistered(conn, cfg, place, planted):
    kids = planted["kids"]
    result = _compare(conn, cfg, planted["path"])
    how = {m["child_id"]: (m["how"], m["score"]) for m in result.matches}
    assert how[kids["A"]] == ("hash", None)
    assert how[kids["B"]] == ("name+date", None)
    assert how[kids["C"]][0] == "fuzzy" and how[kids["C"]][1] >= 85
    assert kids["D"] not in how
    assert how[kids["F"]] == ("guardian", None)
    assert all(m["why"] for m in result.matches)
    proposals = {(p["child_id"], p["action"], p["category"]) for p in result.proposals}
    assert proposals == {(kids["A"], "add", "prisoner_child"),
                         (kids["B"], "end", "prisoner_child"),
                         (kids["C"], "add", "prisoner_child"),
                         (kids["F"], "add", "prisoner_child")}
    names = sorted(u["name"] for u in result.unregistered)
    assert names == ["周小福", "李大伟"]
    assert result.counts["not_a_child"] == 1
    # Nothing applied before a supervisor confirms.
    assert _categories(conn, kids["A"]) == []
    assert "prisoner_child" in _categories(conn, kids["B"])
    # Tasks for the cell's grid worker (周小福 by the household at the same address).
    tasks = conn.execute(sa.text(
        "SELECT detail->>'name', cell_id, worker_id, detail->>'placed_by' FROM task "
        "WHERE comparison_id = :c AND kind = 'verify_unregistered' ORDER BY 1"),
        {"c": result.id}).all()
    assert [t[0] for t in tasks] == ["周小福", "李大伟"]
    zhou = {t[0]: t for t in tasks}["周小福"]
    assert (zhou[1], zhou[2], zhou[3]) == (place["cell_id"], place["worker_id"], "address")
    # Run again: the open tasks are not doubled.
    again = _compare(conn, cfg, planted["path"])
    assert conn.execute(sa.text(
        "SELECT count(*) FROM task WHERE kind = 'verify_unregistered' AND comparison_id IN "
        "(:a, :b)"), {"a": result.id, "b": again.id}).scalar_one() == 2


def test_lower_threshold_matches_the_farther_name(conn, cfg, place, planted):
    kids = planted["kids"]
    result = _compare(conn, cfg, planted["path"], threshold=60)
    how = {m["child_id"]: (m["how"], m["score"]) for m in result.matches}
    assert how[kids["D"]][0] == "fuzzy" and 60 <= how[kids["D"]][1] < 85
    assert [u["name"] for u in result.unregistered] == ["周小福"]


def test_confirm_applies_only_the_chosen_proposals(conn, cfg, place, planted):
    kids = planted["kids"]
    result = _compare(conn, cfg, planted["path"])
    by = {(p["child_id"], p["action"]): p["id"] for p in result.proposals}
    chosen = [by[(kids["A"], "add")], by[(kids["B"], "end")]]
    county = _county(conn)
    with pytest.raises(Forbidden):
        confirm(conn, result.id, chosen, role="grid_worker", scope_id=county, username="x")
    with pytest.raises(InvalidInput):
        confirm(conn, result.id, [999], role="admin", scope_id=county, username="x")
    out = confirm(conn, result.id, chosen, role="supervisor", scope_id=county, username="sup")
    assert sorted(out["applied"]) == sorted(chosen)
    assert _categories(conn, kids["A"]) == ["prisoner_child"]
    assert _categories(conn, kids["B"]) == ["left_behind"]
    assert _categories(conn, kids["C"]) == ["left_behind"]  # not chosen: unchanged
    assert _categories(conn, kids["F"]) == []
    twice = confirm(conn, result.id, chosen, role="admin", scope_id=county, username="sup")
    assert twice["applied"] == []


def test_nothing_of_the_list_is_kept(conn, cfg, place, planted):
    result = _compare(conn, cfg, planted["path"])
    stored = conn.execute(sa.text(
        "SELECT row_to_json(cm)::text FROM comparison cm WHERE id = :i"),
        {"i": result.id}).scalar_one()
    stored += " ".join(conn.execute(sa.text(
        "SELECT row_to_json(t)::text FROM task t WHERE comparison_id = :i"),
        {"i": result.id}).scalars())
    stored += " ".join(conn.execute(sa.text(
        "SELECT COALESCE(detail::text, '') FROM audit_log")).scalars())
    for name, number in planted["parents"].values():
        assert name not in stored
        if number:
            assert number not in stored and number[-8:] not in stored
    for row in planted["rows"]:
        assert row[7] == "" or row[7] not in stored  # no child's clear number
    assert "吴小成" not in stored  # a row that matched nothing and is no task
    import hashlib
    assert hashlib.sha256(planted["path"].read_bytes()).hexdigest() in stored


def test_school_roll_absences_give_bring_back_tasks(conn, cfg, place, tmp_path):
    b = dt.date(2013, 6, 1)
    absent = _child(conn, cfg, place, "CMP-S1", "郑小学", b, ["left_behind"], idno(b, 40))
    back = _child(conn, cfg, place, "CMP-S2", "冯小读", b, ["dropout"])
    path = tmp_path / "roll.csv"
    buf = io.StringIO()
    csv.writer(buf).writerows([
        ["仁和镇中心小学缺课学生名单"],
        ["姓名", "身份证号", "出生日期", "村", "学校", "缺课天数"],
        ["郑小学", idno(b, 40), "", place["village"], "仁和镇中心小学", "１０"],
        ["冯小读", "", "2013/6/1", place["village"], "仁和镇中心小学", "0"],
        ["钱小缺", "", "2013/6/2", place["village"], "仁和镇中心小学", "9"],
        ["孙小到", "", "2013/6/3", place["village"], "仁和镇中心小学", "2"],
    ])
    path.write_bytes(buf.getvalue().encode("gb18030"))
    result = _compare(conn, cfg, path, "school_roll")
    tasks = conn.execute(sa.text(
        "SELECT child_id, detail->>'name', worker_id FROM task WHERE comparison_id = :c "
        "AND kind = 'bring_back_to_school' ORDER BY id"), {"c": result.id}).all()
    assert [(t[0], t[1]) for t in tasks] == [(absent, None), (None, "钱小缺")]
    assert tasks[0][2] == place["worker_id"]
    assert {(p["child_id"], p["action"], p["category"]) for p in result.proposals} == {
        (back, "end", "dropout")}
    assert [c["child_id"] for c in result.contradictions] == [back]
    assert result.unregistered == []  # a school roll is not a list of children in distress
    assert "孙小到" not in json.dumps(result.as_dict(), ensure_ascii=False)


def test_a_supervisor_compares_only_their_area(conn, cfg, place, planted):
    other = conn.execute(sa.text(
        "SELECT id FROM unit WHERE level = 'township' AND id <> :t ORDER BY code LIMIT 1"),
        {"t": place["township_id"]}).scalar_one()
    result = _compare(conn, cfg, planted["path"], role="supervisor", scope_id=other)
    assert result.matches == [] and result.unregistered == [] and result.proposals == []
    mine = _compare(conn, cfg, planted["path"], role="supervisor",
                    scope_id=place["township_id"])
    assert len(mine.unregistered) == 2
    with pytest.raises(Forbidden):
        _compare(conn, cfg, planted["path"], role="grid_worker")


def test_a_township_assigned_worker_gets_the_task(conn, cfg, place, planted):
    """Tasks follow the coverage query's staffing rule (STAFFED_BY): with nobody on the
    cell or its village, the grid worker assigned to the township gets the task."""
    conn.execute(sa.text(
        "DELETE FROM worker_unit wu USING unit c WHERE c.id = :c "
        "AND wu.unit_id IN (c.id, c.village_id, c.township_id)"), {"c": place["cell_id"]})
    worker = conn.execute(sa.text(
        "INSERT INTO worker (ledger_id, role, name, unit_id) VALUES "
        "('CMP-TOWN-W', 'grid_worker', '乡镇网格员', :t) RETURNING id"),
        {"t": place["township_id"]}).scalar_one()
    conn.execute(sa.text("INSERT INTO worker_unit (worker_id, unit_id) VALUES (:w, :t)"),
                 {"w": worker, "t": place["township_id"]})
    result = _compare(conn, cfg, planted["path"])
    tasks = conn.execute(sa.text(
        "SELECT detail->>'name', cell_id, worker_id FROM task WHERE comparison_id = :c "
        "AND kind = 'verify_unregistered' ORDER BY 1"), {"c": result.id}).all()
    zhou = {t[0]: t for t in tasks}["周小福"]
    assert (zhou[1], zhou[2]) == (place["cell_id"], worker)


@pytest.mark.parametrize("pinyin", [False, True])
def test_pinyin_matching_behind_a_flag(conn, cfg, place, tmp_path, pinyin):
    """李斯文 for 李思文 (the same sound, far apart as characters) and a name in pinyin
    match only with the flag on; off, they are possibly unregistered."""
    born, other = dt.date(2014, 1, 9), dt.date(2014, 1, 10)
    si = _child(conn, cfg, place, "CMP-PY1", "李思文", born, ["left_behind"])
    fang = _child(conn, cfg, place, "CMP-PY2", "王芳", other, ["left_behind"])
    v = place["village"]
    path = _xlsx(tmp_path / "py.xlsx", HEAD, [
        [1, "李大文", "男", "", v, "", "李斯文", "", "2014-01-09", "在押"],
        [2, "王大华", "男", "", v, "", "Wang Fang", "", "2014-01-10", "在押"]])
    result = _compare(conn, cfg, path, pinyin=pinyin)
    how = {m["child_id"]: m["how"] for m in result.matches}
    if pinyin:
        assert how == {si: "pinyin", fang: "pinyin"}
        assert result.counts["by_pinyin"] == 2 and result.unregistered == []
        assert all("拼音" in m["why"] for m in result.matches)
    else:
        assert how == {} and sorted(u["name"] for u in result.unregistered) == \
            ["Wang Fang", "李斯文"]
    # The county's switch gives the default.
    flagged = {**cfg, "rules": {**cfg["rules"], "comparison_pinyin": pinyin}}
    again = compare_list(conn, path, "prisoners", flagged, role="admin",
                         scope_id=_county(conn), today=TODAY, save=False)
    assert bool(again.counts["by_pinyin"]) is pinyin

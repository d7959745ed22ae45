"""Ledger import under the API's area and role rules: every role × every kind, with rows
inside and outside the importer's area. Outside rows are row errors that tell nothing of
the other record; nothing outside is written or changed, and nothing is half-written."""

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from geo import access, identity
from geo.errors import Forbidden
from geo.ledgers.ledger import COLUMNS, import_ledger

TODAY = dt.date(2026, 11, 24)
ROLES = ("admin", "supervisor", "grid_head", "grid_worker", "planner", "responder")
KINDS = ("households", "children", "facilities", "workers")
WRITERS = {"households": access.WRITES_RECORDS, "children": access.WRITES_RECORDS,
           "facilities": access.WRITES_FACILITIES, "workers": access.WRITES_WORKERS}
# A well-formed number with an area code the demo never uses.
OTHER_ID = identity.make_id("510496", dt.date(2015, 6, 15), 3, "male")
MINE_ID = identity.make_id("510496", dt.date(2015, 6, 15), 4, "male")


def _village(conn, code):
    """The village's id, a cell code and a point inside that cell, a household with its
    children, and a worker of the village."""
    row = conn.execute(sa.text(
        "SELECT v.id, c.code AS cell, ST_X(ST_PointOnSurface(c.geom)) AS x, "
        "ST_Y(ST_PointOnSurface(c.geom)) AS y FROM unit v JOIN unit c ON c.parent_id = v.id "
        "WHERE v.code = :v ORDER BY c.code LIMIT 1"), {"v": code}).mappings().one()
    hh = conn.execute(sa.text(
        "SELECT h.id, h.ledger_id FROM household h JOIN unit c ON c.id = h.cell_id "
        "WHERE c.village_id = :v AND EXISTS (SELECT 1 FROM child WHERE household_id = h.id) "
        "ORDER BY h.id LIMIT 1"), {"v": row["id"]}).one()
    child = conn.execute(sa.text(
        "SELECT id, ledger_id FROM child WHERE household_id = :h ORDER BY id LIMIT 1"),
        {"h": hh.id}).one()
    worker = conn.execute(sa.text(
        "SELECT id, ledger_id FROM worker WHERE unit_id = :v ORDER BY id LIMIT 1"),
        {"v": row["id"]}).one()
    return {"code": code, **row, "household": hh, "child": child, "worker": worker}


@pytest.fixture
def area(conn):
    """The demo logins' places: the county, the supervisor's township, the grid head's
    village in it, another village of that township and a village of another township."""
    county = conn.execute(sa.text(
        "SELECT id FROM unit WHERE level = 'county' ORDER BY code LIMIT 1")).scalar_one()
    head = conn.execute(sa.text(
        "SELECT u.code, u.township_id FROM worker w JOIN unit u ON u.id = w.unit_id "
        "WHERE w.role = 'grid_head' ORDER BY u.code LIMIT 1")).one()
    near = conn.execute(sa.text(
        "SELECT v.code FROM unit v WHERE v.level = 'village' AND v.township_id = :t "
        "AND v.code <> :v AND EXISTS (SELECT 1 FROM household h JOIN unit c ON c.id = h.cell_id"
        " WHERE c.village_id = v.id) AND EXISTS (SELECT 1 FROM worker w WHERE w.unit_id = v.id)"
        " ORDER BY v.code LIMIT 1"), {"t": head.township_id, "v": head.code}).scalar_one()
    far = conn.execute(sa.text(
        "SELECT v.code FROM unit v WHERE v.level = 'village' AND v.township_id <> :t "
        "AND EXISTS (SELECT 1 FROM household h JOIN unit c ON c.id = h.cell_id"
        " WHERE c.village_id = v.id) AND EXISTS (SELECT 1 FROM worker w WHERE w.unit_id = v.id)"
        " ORDER BY v.code LIMIT 1"), {"t": head.township_id}).scalar_one()
    villages = {"home": _village(conn, head.code), "near": _village(conn, near),
                "far": _village(conn, far)}
    scope = {"admin": county, "supervisor": head.township_id, "grid_head":
             villages["home"]["id"], "grid_worker": villages["home"]["id"],
             "planner": county, "responder": county}
    # What lies outside each role's area (the county office's area is everything).
    outside = {"admin": None, "supervisor": villages["far"], "grid_head": villages["near"],
               "grid_worker": villages["near"], "planner": None, "responder": None}
    return {"scope": scope, "outside": outside, **villages}


def _write(rows, path, kind):
    frame = pd.DataFrame(rows, columns=list(COLUMNS[kind]))
    frame.rename(columns={f: h for f, (h, _) in COLUMNS[kind].items()}).to_excel(
        path, index=False)
    return path


def _child(ledger_id, household, id_number=""):
    return [ledger_id, household, "测试儿童", "男", "2015-06-15", id_number, "留守", "中", "",
            "", "否"]


def _snapshot(conn, out):
    """Everything about the other area's records an import might touch."""
    if out is None:
        return None
    return (
        conn.execute(sa.text("SELECT h.*, ST_AsText(h.geom) g FROM household h WHERE id = :i"),
                     {"i": out["household"].id}).mappings().one(),
        conn.execute(sa.text("SELECT * FROM child WHERE id = :i"),
                     {"i": out["child"].id}).mappings().one(),
        conn.execute(sa.text("SELECT w.*, ST_AsText(w.office) o FROM worker w WHERE id = :i"),
                     {"i": out["worker"].id}).mappings().one(),
        conn.execute(sa.text("SELECT array_agg(unit_id ORDER BY unit_id) FROM worker_unit "
                             "WHERE worker_id = :i"), {"i": out["worker"].id}).scalar())


def _counts(conn):
    return conn.execute(sa.text(
        "SELECT (SELECT count(*) FROM household), (SELECT count(*) FROM child), "
        "(SELECT count(*) FROM facility), (SELECT count(*) FROM worker), "
        "(SELECT count(*) FROM worker_unit)")).one()


def _rows(kind, home, out):
    """(rows, expected errors as {row: column}, ledger ids that must be written)."""
    if kind == "households":
        rows = [["S-H-IN", "本辖区1号", home["x"], home["y"], "", "", ""]]
        errors = {}
        if out:
            rows += [["S-H-OUT", "外辖区1号", out["x"], out["y"], "", "", ""],
                     # Someone else's household moved into my area by its ledger id.
                     [out["household"].ledger_id, "搬进来", home["x"], home["y"], "", "", ""]]
            errors = {3: "经度", 4: "台账编号"}
        return rows, errors, {"S-H-IN"}
    if kind == "children":
        rows = [_child("S-C-IN", home["household"].ledger_id),
                # The same person as a child already registered in my area.
                _child("S-C-MINE", home["household"].ledger_id, MINE_ID)]
        errors = {3: "身份证号"}
        if out:
            rows += [_child("S-C-OUT", out["household"].ledger_id),
                     _child(out["child"].ledger_id, home["household"].ledger_id),
                     _child("S-C-DUP", home["household"].ledger_id, OTHER_ID)]
            errors.update({4: "户台账编号", 5: "台账编号", 6: "身份证号"})
        return rows, errors, {"S-C-IN"}
    if kind == "facilities":
        rows = [["S-F-1", "儿童之家", "测试之家", "", home["x"], home["y"], "", "0", "0", "否",
                 "", "", "", ""]]
        return rows, {}, {"S-F-1"}
    rows = [["S-W-IN", "网格员", "测试", "", home["code"], home["cell"], "", ""]]
    errors = {}
    if out:
        rows += [["S-W-OUT", "网格员", "测试", "", out["code"], "", "", ""],
                 # At home, but looking after someone else's village: not written at all.
                 ["S-W-OUT2", "网格员", "测试", "", home["code"],
                  f"{home['cell']}、{out['code']}", "", ""],
                 [out["worker"].ledger_id, "网格员", "改名", "", home["code"], home["cell"], "",
                  ""]]
        errors = {3: "所属单位代码", 4: "负责单位代码", 5: "台账编号"}
    return rows, errors, {"S-W-IN"}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", ROLES)
def test_import_follows_the_roles_and_areas_of_the_api(conn, cfg, tmp_path, area, role, kind):
    home, out = area["home"], area["outside"][role]
    # One child outside the area (and one of mine) whose identity numbers we know.
    for child, idno in (((out or area["far"])["child"], OTHER_ID), (home["child"], MINE_ID)):
        conn.execute(sa.text("UPDATE child SET id_hash = :h, id_masked = :m WHERE id = :i"),
                     {"h": identity.keyed_hash(idno, cfg["id_key"]),
                      "m": identity.mask(idno), "i": child.id})
    rows, errors, written = _rows(kind, home, out)
    path = _write(rows, tmp_path / f"{kind}.xlsx", kind)
    before, theirs = _counts(conn), _snapshot(conn, out)
    run = {"role": role, "scope_id": area["scope"][role], "today": TODAY}

    if role not in WRITERS[kind]:
        for dry in (True, False):
            with pytest.raises(Forbidden) as refused:
                import_ledger(conn, path, kind, cfg, dry_run=dry, **run)
            assert refused.value.status == 403
        assert _counts(conn) == before
        return

    dry = import_ledger(conn, path, kind, cfg, dry_run=True, **run)
    report = import_ledger(conn, path, kind, cfg, **run)
    for r in (dry, report):
        assert {e["row"]: e["column"] for e in r.errors} == errors, r.errors
    strict = import_ledger(conn, path, kind, cfg, strict=True, **run)
    assert not strict.written if errors else strict.unchanged == len(written)
    assert report.created == len(written)
    # Nothing about the other record in any message (a household ledger id the file
    # names is echoed as for one that does not exist: see the test below).
    text = " ".join(e["problem_en"] for e in report.errors)
    if out is not None:
        for record in ("child", "worker") if kind == "children" else ("household", "child",
                                                                       "worker"):
            assert out[record].ledger_id not in text
        assert _snapshot(conn, out) == theirs
    table = {"households": "household", "children": "child", "facilities": "facility",
             "workers": "worker"}[kind]
    stored = set(conn.execute(sa.text(
        f"SELECT ledger_id FROM {table} WHERE ledger_id LIKE 'S-%'")).scalars())
    assert stored == written
    after = _counts(conn)
    grew = {"households": 0, "children": 1, "facilities": 2, "workers": 3}[kind]
    assert [a - b for a, b in zip(after, before, strict=True)][:4] == \
        [len(written) if i == grew else 0 for i in range(4)]
    if kind == "workers":
        # The new worker looks after exactly the listed cell; the refused one has no row
        # anywhere, so no worker_unit rows either.
        assert after[4] - before[4] == 1


def test_a_duplicate_identity_number_tells_only_what_the_importer_may_see(conn, cfg, tmp_path,
                                                                          area):
    """A dry run by the supervisor: a number held by a child of their township is named
    by its ledger id; a number held by a child elsewhere only 'cannot be used'."""
    mine, theirs = area["home"]["child"], area["far"]["child"]
    for child, idno in ((mine, MINE_ID), (theirs, OTHER_ID)):
        conn.execute(sa.text("UPDATE child SET id_hash = :h WHERE id = :i"),
                     {"h": identity.keyed_hash(idno, cfg["id_key"]), "i": child.id})
    hh = area["home"]["household"].ledger_id
    path = _write([_child("S-1", hh, MINE_ID), _child("S-2", hh, OTHER_ID)],
                  tmp_path / "kids.xlsx", "children")
    report = import_ledger(conn, path, "children", cfg, role="supervisor",
                           scope_id=area["scope"]["supervisor"], dry_run=True, today=TODAY)
    problems = {e["row"]: e["problem_en"] for e in report.errors}
    assert mine.ledger_id in problems[2]
    assert theirs.ledger_id not in problems[3] and "DEMO-C" not in problems[3]
    assert "cannot be used" in problems[3]
    # The county office sees both.
    admin = import_ledger(conn, path, "children", cfg, role="admin",
                          scope_id=area["scope"]["admin"], dry_run=True, today=TODAY)
    assert theirs.ledger_id in {e["row"]: e["problem_en"] for e in admin.errors}[3]


def test_an_unknown_and_an_outside_household_read_the_same(conn, cfg, tmp_path, area):
    hh = area["far"]["household"].ledger_id
    path = _write([_child("S-1", hh), _child("S-2", "NO-SUCH-HOUSEHOLD")],
                  tmp_path / "kids.xlsx", "children")
    report = import_ledger(conn, path, "children", cfg, role="supervisor",
                           scope_id=area["scope"]["supervisor"], dry_run=True, today=TODAY)
    first, second = (e["problem_en"] for e in report.errors)
    assert first.replace(hh, "X") == second.replace("NO-SUCH-HOUSEHOLD", "X")

"""Imports over HTTP and on the command line under the API's area and role rules, every
attempt audited (a failed one too), and routes only over the reader's area."""

import csv
import io
import json

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from api.cli import main
from geo.ledgers.ledger import COLUMNS, template

ROLES = ("admin", "supervisor", "grid_head", "grid_worker", "planner", "responder")
KINDS = ("households", "children", "facilities", "workers")
# The endpoint is for the county office and township supervisors; facilities only for
# the county office (as POST /api/facilities).
ALLOWED = {("admin", k) for k in KINDS} | {("supervisor", k) for k in KINDS
                                           if k != "facilities"}


def _post(as_role, role, kind, data: bytes, name=None, **form):
    return as_role(role, "POST", "/api/imports", data={
        "kind": kind, "file": (io.BytesIO(data), name or f"{kind}.xlsx"),
        **{k: str(v).lower() for k, v in form.items()}}, content_type="multipart/form-data")


def _xlsx(kind, rows) -> bytes:
    frame = pd.DataFrame(rows, columns=[h for h, _ in COLUMNS[kind].values()])
    buf = io.BytesIO()
    frame.to_excel(buf, index=False)
    return buf.getvalue()


def _last_import_audit(engine, username, kind):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT detail FROM audit_log WHERE username = :u AND resource = :r "
            "ORDER BY id DESC LIMIT 1"), {"u": username, "r": f"import_{kind}"}).scalar()


@pytest.fixture
def far(engine, logins):
    """A household, a child and a village outside the supervisor's township."""
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT h.id AS household_id, h.ledger_id AS household, h.address, "
            "ch.ledger_id AS child, v.code AS village, "
            "ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat FROM household h "
            "JOIN child ch ON ch.household_id = h.id JOIN unit c ON c.id = h.cell_id "
            "JOIN unit v ON v.id = c.village_id JOIN unit t ON t.id = c.township_id "
            "WHERE t.code <> :t ORDER BY h.id LIMIT 1"),
            {"t": logins["supervisor"]["unit"]}).mappings().one()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", ROLES)
def test_who_may_import_what(as_role, role, kind):
    """A dry run of the template: 200 where the role may write the kind, else 403."""
    resp = _post(as_role, role, kind, template(kind), dry_run=True)
    want = 200 if (role, kind) in ALLOWED else 403
    assert resp.status_code == want, resp.get_json()
    if want == 403:
        assert resp.get_json()["error"]["code"] == "forbidden"


def test_a_refused_import_is_audited(as_role, engine):
    resp = _post(as_role, "supervisor", "facilities", template("facilities"))
    assert resp.status_code == 403
    detail = _last_import_audit(engine, "demo_supervisor", "facilities")
    assert detail["failed"] is True and detail["error"]["code"] == "forbidden"


def test_supervisor_cannot_touch_another_townships_household(as_role, engine, far, logins):
    with engine.connect() as conn:
        x, y = conn.execute(sa.text(
            "SELECT ST_X(ST_PointOnSurface(c.geom)), ST_Y(ST_PointOnSurface(c.geom)) "
            "FROM unit c JOIN unit t ON t.id = c.township_id WHERE c.level = 'cell' "
            "AND t.code = :t ORDER BY c.code LIMIT 1"),
            {"t": logins["supervisor"]["unit"]}).one()
    data = _xlsx("households", [
        [far["household"], "改到本镇", x, y, "", "", ""],              # someone else's
        ["SCOPE-API-H1", "外镇新户", far["lon"], far["lat"], "", "", ""]])  # point elsewhere
    report = _post(as_role, "supervisor", "households", data).get_json()
    assert [e["column"] for e in report["errors"]] == ["台账编号", "经度"]
    assert far["household"] not in json.dumps(report, ensure_ascii=False)
    assert not report["written"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT address FROM household WHERE id = :i"),
                            {"i": far["household_id"]}).scalar() == far["address"]
        assert conn.execute(sa.text(
            "SELECT count(*) FROM household WHERE ledger_id = 'SCOPE-API-H1'")).scalar() == 0


def test_supervisor_cannot_add_a_worker_over_another_township(as_role, engine, far, logins):
    data = _xlsx("workers", [["SCOPE-API-W1", "网格员", "越界", "", far["village"], "", "", ""],
                             ["SCOPE-API-W2", "网格员", "越界", "", logins["grid_head"]["unit"],
                              far["village"], "", ""]])
    report = _post(as_role, "supervisor", "workers", data).get_json()
    assert [e["column"] for e in report["errors"]] == ["所属单位代码", "负责单位代码"]
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT count(*) FROM worker WHERE ledger_id LIKE 'SCOPE-API-W%'")).scalar() == 0


def test_dry_run_does_not_name_a_child_outside_the_area(as_role, engine, far, cfg, logins):
    """The identity number of a child in another township: 'cannot be used', with no
    ledger id; the county office is told which child it is."""
    from geo import identity

    idno = identity.make_id("510495", pd.Timestamp("2015-06-15").date(), 7, "male")
    with engine.begin() as conn:
        old = conn.execute(sa.text("SELECT id_hash FROM child WHERE ledger_id = :c"),
                           {"c": far["child"]}).scalar()
        conn.execute(sa.text("UPDATE child SET id_hash = :h WHERE ledger_id = :c"),
                     {"h": identity.keyed_hash(idno, cfg["id_key"]), "c": far["child"]})
    try:
        with engine.connect() as conn:
            home = conn.execute(sa.text(
                "SELECT h.ledger_id FROM household h JOIN unit c ON c.id = h.cell_id "
                "JOIN unit t ON t.id = c.township_id WHERE t.code = :t ORDER BY h.id LIMIT 1"),
                {"t": logins["supervisor"]["unit"]}).scalar()
        data = _xlsx("children", [["SCOPE-API-C1", home, "测试", "男", "2015-06-15", idno,
                                   "留守", "中", "", "", "否"]])
        sup = _post(as_role, "supervisor", "children", data, dry_run=True).get_json()
        assert [e["column"] for e in sup["errors"]] == ["身份证号"]
        assert far["child"] not in json.dumps(sup, ensure_ascii=False)
        assert "DEMO-C" not in json.dumps(sup, ensure_ascii=False)
        admin = _post(as_role, "admin", "children", data, dry_run=True).get_json()
        assert far["child"] in admin["errors"][0]["problem"]
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE child SET id_hash = :h WHERE ledger_id = :c"),
                         {"h": old, "c": far["child"]})


def test_bad_files_are_400_and_audited(as_role, engine):
    corrupt = _post(as_role, "admin", "households", b"PK\x03\x04 not a workbook")
    assert corrupt.status_code == 400 and corrupt.get_json()["error"]["field"] == "file"
    detail = _last_import_audit(engine, "demo_admin", "households")
    assert detail["failed"] is True and detail["error"]["field"] == "file"
    pdf = _post(as_role, "admin", "children", b"%PDF", name="a.pdf")
    assert pdf.status_code == 400
    assert _last_import_audit(engine, "demo_admin", "children")["failed"] is True


def test_an_import_that_crashes_is_audited(as_role, engine, monkeypatch):
    """Whatever goes wrong inside, the attempt leaves its audit entry (the rows it may
    have written are rolled back with the request)."""
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("api.ledgers.import_ledger", boom)
    resp = _post(as_role, "admin", "workers", template("workers"))
    assert resp.status_code == 500
    assert "disk" not in resp.get_data(as_text=True)
    detail = _last_import_audit(engine, "demo_admin", "workers")
    assert detail["failed"] is True and detail["error"] == {"code": "internal_error"}


def test_a_malformed_identity_number_over_http_is_a_row_error(as_role, logins, engine):
    with engine.connect() as conn:
        home = conn.execute(sa.text(
            "SELECT h.ledger_id FROM household h JOIN unit c ON c.id = h.cell_id "
            "JOIN unit t ON t.id = c.township_id WHERE t.code = :t ORDER BY h.id LIMIT 1"),
            {"t": logins["supervisor"]["unit"]}).scalar()
    rows = [["SCOPE-API-C2", home, "测试", "男", "2015-06-15", "110105194913310027", "留守",
             "中", "", "", "也许"],
            ["SCOPE-API-C3", home, "测试", "男", "2015-06-15", "", "留守", "中", "", "", "否"]]
    resp = _post(as_role, "supervisor", "children", _xlsx("children", rows), dry_run=True)
    assert resp.status_code == 200, resp.get_json()
    assert {(e["row"], e["column"]) for e in resp.get_json()["errors"]} == {
        (2, "身份证号"), (2, "是否残疾")}


def test_a_strict_import_refused_for_bad_rows_is_audited(as_role, engine, far):
    data = _xlsx("households", [["SCOPE-API-H2", "", far["lon"], far["lat"], "", "", ""]])
    resp = _post(as_role, "admin", "households", data, strict=True)
    assert resp.status_code == 200 and not resp.get_json()["written"]
    detail = _last_import_audit(engine, "demo_admin", "households")
    assert detail["strict"] is True and detail["written"] is False and detail["bad_rows"] == 1


# -- the command line ------------------------------------------------------------------
@pytest.fixture
def run(database, demo, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database)

    def invoke(*args):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_cli_import_acts_as_county_admin_or_as_a_login(run, tmp_path, engine, logins):
    path = tmp_path / "facilities.xlsx"
    path.write_bytes(template("facilities"))
    ok = run("import", str(path), "--kind", "facilities", "--dry-run")
    assert ok.exit_code == 0, ok.output
    assert "1 rows, 0 with problems; would write" in ok.output
    refused = run("import", str(path), "--kind", "facilities", "--as", "demo_supervisor")
    assert refused.exit_code == 1 and "may not import facilities" in refused.output
    assert _last_import_audit(engine, "demo_supervisor", "facilities")["failed"] is True
    nobody = run("import", str(path), "--kind", "facilities", "--as", "no_such_login")
    assert nobody.exit_code == 1 and "no_such_login" in nobody.output
    with engine.connect() as conn:
        last = conn.execute(sa.text(
            "SELECT username, detail FROM audit_log WHERE resource = 'import_facilities' "
            "ORDER BY id DESC LIMIT 1")).one()
    assert last.username.startswith("cli") and last.detail["as"] == "no_such_login"
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT count(*) FROM facility WHERE ledger_id = 'FA-0001'")).scalar() == 0


def test_cli_failed_and_strict_imports_are_audited(run, tmp_path, engine):
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not a workbook")
    bad = run("import", str(broken), "--kind", "households")
    assert bad.exit_code == 1 and "cannot read" in bad.output
    with engine.connect() as conn:
        last = conn.execute(sa.text(
            "SELECT username, role, detail FROM audit_log WHERE resource = 'import_households' "
            "ORDER BY id DESC LIMIT 1")).one()
    assert last.username.startswith("cli") and last.detail["failed"] is True
    book = openpyxl.Workbook()
    book.active.append([h for h, _ in COLUMNS["households"].values()])
    book.active.append(["SCOPE-CLI-H1", "", 0, 0, "", "", ""])
    path = tmp_path / "strict.xlsx"
    book.save(path)
    strict = run("import", str(path), "--kind", "households", "--strict")
    assert strict.exit_code == 1
    with engine.connect() as conn:
        detail = conn.execute(sa.text(
            "SELECT detail FROM audit_log WHERE resource = 'import_households' "
            "ORDER BY id DESC LIMIT 1")).scalar()
    assert detail["strict"] is True and detail["written"] is False and detail["bad_rows"] == 1


# -- routes ------------------------------------------------------------------------------
@pytest.fixture
def straddling_worker(engine, logins, far):
    """A worker at home in the supervisor's township who also looks after a village of
    another township (as a worker ledger could once make)."""
    with engine.begin() as conn:
        wid = conn.execute(sa.text(
            "INSERT INTO worker (role, name, unit_id) SELECT 'grid_worker', '跨镇测试', id "
            "FROM unit WHERE code = :v RETURNING id"),
            {"v": logins["grid_head"]["unit"]}).scalar_one()
        conn.execute(sa.text(
            "INSERT INTO worker_unit (worker_id, unit_id) SELECT :w, id FROM unit "
            "WHERE code IN (:home, :far)"),
            {"w": wid, "home": logins["grid_head"]["unit"], "far": far["village"]})
    yield wid
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM worker_unit WHERE worker_id = :w"), {"w": wid})
        conn.execute(sa.text("DELETE FROM worker WHERE id = :w"), {"w": wid})


def _stop_townships(engine, route):
    ids = [s["household_id"] for s in route["stops"]]
    with engine.connect() as conn:
        return set(conn.execute(sa.text(
            "SELECT DISTINCT t.code FROM household h JOIN unit c ON c.id = h.cell_id "
            "JOIN unit t ON t.id = c.township_id WHERE h.id = ANY(:ids)"), {"ids": ids}).scalars())


def test_a_route_covers_only_the_readers_area(as_role, engine, logins, straddling_worker):
    url = f"/api/routes?worker={straddling_worker}&date=2026-11-24&within_days=90"
    admin = as_role("admin", "GET", url)
    assert admin.status_code == 200
    assert len(_stop_townships(engine, admin.get_json())) == 2
    sup = as_role("supervisor", "GET", url)
    assert sup.status_code == 200
    assert _stop_townships(engine, sup.get_json()) == {logins["supervisor"]["unit"]}
    # The downloads hold the same stops as the JSON: none outside the supervisor's area.
    stops = [s["household_id"] for s in sup.get_json()["stops"]]
    csv_out = as_role("supervisor", "GET", url.replace("/api/routes", "/api/routes.csv"))
    assert csv_out.status_code == 200
    rows = list(csv.reader(io.StringIO(csv_out.data.decode("utf-8-sig"))))[1:]
    assert [int(r[1]) for r in rows] == stops
    gpx = as_role("supervisor", "GET", url.replace("/api/routes", "/api/routes.gpx"))
    assert gpx.status_code == 200
    assert gpx.data.count(b"<wpt ") == len(stops)
    # A worker the reader may not see at all is not found.
    assert as_role("grid_head", "GET", url).status_code == 404
    assert as_role("planner", "GET", url).status_code == 403

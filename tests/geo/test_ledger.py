"""Ledger import: row-level validation, strict and dry runs, idempotent re-import, and
Chinese phone coordinates converted to WGS84."""

import datetime as dt

import numpy as np
import pandas as pd
import prcoords
import pytest
import sqlalchemy as sa
from pyproj import Geod

from geo import identity
from geo.errors import InvalidInput
from geo.ledgers.ledger import COLUMNS, template
from geo.ledgers.ledger import import_ledger as _import_ledger

TODAY = dt.date(2026, 11, 24)
GEOD = Geod(ellps="WGS84")


def import_ledger(bind, path, kind, cfg, **kw):
    """As the county office's admin (the scope rules have their own tests)."""
    county = bind.execute(sa.text(
        "SELECT id FROM unit WHERE level = 'county' ORDER BY code LIMIT 1")).scalar_one()
    return _import_ledger(bind, path, kind, cfg, **{"role": "admin", "scope_id": county, **kw})


def headers(kind):
    return {f: h for f, (h, _) in COLUMNS[kind].items()}


def _households(conn, n, seed=1):
    pts = conn.execute(sa.text(
        "SELECT ST_X(g), ST_Y(g) FROM (SELECT (ST_Dump(ST_GeneratePoints(v.geom, :n, :s))).geom g"
        " FROM (SELECT geom FROM unit WHERE level = 'village' ORDER BY code LIMIT 1) v) p"),
        {"n": n, "s": seed}).all()
    return pd.DataFrame({"ledger_id": [f"T-H{i:05d}" for i in range(n)],
                         "address": [f"测试地址{i}号" for i in range(n)],
                         "lon": [p[0] for p in pts], "lat": [p[1] for p in pts],
                         "head_name": "测试户主", "phone": "19900000000",
                         "flags": "低保/低收入"})


def _children(n, households, seed=2):
    rng = np.random.default_rng(seed)
    born = [TODAY - dt.timedelta(days=int(d)) for d in rng.integers(400, 17 * 365, n)]
    # Area codes the demo never uses, so no number collides with a demo child's.
    ids = [identity.make_id("510499", b, i % 500, "male" if i % 2 else "female")
           for i, b in enumerate(born)]
    # Make numbers unique across the whole frame (same date and order code is rare).
    seen, uniq = set(), []
    for i, (idno, b) in enumerate(zip(ids, born, strict=True)):
        k = 0
        while idno in seen:
            k += 1
            idno = identity.make_id("510498", b, (i + k) % 500, "male" if i % 2 else "female")
        seen.add(idno)
        uniq.append(idno)
    return pd.DataFrame({
        "ledger_id": [f"T-C{i:06d}" for i in range(n)],
        "household": rng.choice(households, n),
        "name": "测试儿童", "sex": np.where(np.arange(n) % 2, "男", "女"),
        "birth_date": [b.isoformat() for b in born], "id_number": uniq,
        "categories": rng.choice(["留守", "单亲、低保", "孤儿", "留守、重病"], n),
        "risk_level": rng.choice(["高", "中", "低"], n),
        "guardian_situation": "祖辈照料", "school": "", "has_disability": "否"})


def _write(frame, path, kind):
    frame.rename(columns=headers(kind)).to_excel(path, index=False)
    return path


@pytest.fixture
def cfg_today(cfg):
    return cfg


def test_ten_thousand_rows_import_and_reimport_changes_nothing(conn, cfg, tmp_path):
    hh = _households(conn, 300)
    r1 = import_ledger(conn, _write(hh, tmp_path / "hh.xlsx", "households"), "households", cfg)
    assert (r1.rows, r1.created, r1.errors) == (300, 300, [])
    kids = _children(10_000, hh["ledger_id"].to_numpy())
    path = _write(kids, tmp_path / "kids.xlsx", "children")
    first = import_ledger(conn, path, "children", cfg, today=TODAY)
    assert first.errors == [] and first.created == 10_000 and first.written
    stored = conn.execute(sa.text(
        "SELECT count(*), count(DISTINCT id_hash), bool_and(id_masked LIKE '%*%') "
        "FROM child WHERE ledger_id LIKE 'T-C%'")).one()
    assert stored == (10_000, 10_000, True)
    again = import_ledger(conn, path, "children", cfg, today=TODAY)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 10_000)
    hh_again = import_ledger(conn, tmp_path / "hh.xlsx", "households", cfg)
    assert (hh_again.created, hh_again.updated, hh_again.unchanged) == (0, 0, 300)


def test_fifty_planted_bad_rows_are_reported_exactly(conn, cfg, tmp_path):
    hh = _households(conn, 50, seed=4)
    import_ledger(conn, _write(hh, tmp_path / "hh.xlsx", "households"), "households", cfg)
    kids = _children(500, hh["ledger_id"].to_numpy(), seed=5)
    rng = np.random.default_rng(9)
    bad = sorted(rng.choice(np.arange(1, 500), 50, replace=False))
    planted = {}
    for k, i in enumerate(bad):
        kind = k % 6
        if kind == 0:
            kids.loc[i, "categories"] = "外星人"
            planted[i] = "困境类别"
        elif kind == 1:
            kids.loc[i, "birth_date"] = "2001-03-04"
            planted[i] = "出生日期"
        elif kind == 2:
            idno = kids.loc[i, "id_number"]
            kids.loc[i, "id_number"] = idno[:17] + ("0" if idno[17] != "0" else "1")
            planted[i] = "身份证号"
        elif kind == 3:
            kids.loc[i, "name"] = ""
            planted[i] = "姓名"
        elif kind == 4:
            kids.loc[i, "ledger_id"] = kids.loc[i - 1, "ledger_id"] if i - 1 not in planted \
                else kids.loc[0, "ledger_id"]
            planted[i] = "台账编号"
        else:
            kids.loc[i, "birth_date"] = "2030-01-01"
            planted[i] = "出生日期"
    path = _write(kids, tmp_path / "bad.xlsx", "children")
    before = conn.execute(sa.text("SELECT count(*) FROM child")).scalar()
    strict = import_ledger(conn, path, "children", cfg, strict=True, today=TODAY)
    columns: dict[int, set] = {}
    for e in strict.errors:
        columns.setdefault(e["row"], set()).add(e["column"])
    assert strict.bad_rows == 50 and not strict.written
    assert set(columns) == {i + 2 for i in planted}  # Excel row = index + 2
    # Each planted problem is named by its column (a changed birth date also no longer
    # matches the identity number, which is reported too).
    assert all(planted[r - 2] in cols for r, cols in columns.items())
    assert conn.execute(sa.text("SELECT count(*) FROM child")).scalar() == before
    dry = import_ledger(conn, path, "children", cfg, dry_run=True, today=TODAY)
    assert dry.bad_rows == 50 and not dry.written
    loose = import_ledger(conn, path, "children", cfg, today=TODAY)
    assert loose.written and loose.created == 450
    assert conn.execute(sa.text("SELECT count(*) FROM child")).scalar() == before + 450


@pytest.mark.parametrize("crs, forward", [
    ("gcj02", prcoords.wgs_gcj),
    ("bd09", prcoords.wgs_bd),
])
def test_phone_coordinates_land_within_5_m(conn, cfg, tmp_path, crs, forward):
    hh = _households(conn, 40, seed=7)
    truth = hh[["lon", "lat"]].to_numpy().copy()
    shifted = np.array([forward((lat, lon)) for lon, lat in truth])  # independent
    hh["lon"], hh["lat"] = shifted[:, 1], shifted[:, 0]
    hh["ledger_id"] = [f"{crs}-{i}" for i in range(len(hh))]
    report = import_ledger(conn, _write(hh, tmp_path / f"{crs}.xlsx", "households"),
                           "households", cfg, crs=crs)
    assert report.errors == [] and report.created == 40
    stored = pd.read_sql(sa.text("SELECT ledger_id, ST_X(geom) lon, ST_Y(geom) lat "
                                 "FROM household WHERE ledger_id LIKE :p ORDER BY id"),
                         conn, params={"p": f"{crs}-%"})
    _, _, d = GEOD.inv(stored["lon"], stored["lat"], truth[:, 0], truth[:, 1])
    assert d.max() < 5.0
    # Without conversion the points would be hundreds of metres off.
    _, _, raw = GEOD.inv(shifted[:, 1], shifted[:, 0], truth[:, 0], truth[:, 1])
    assert raw.min() > 100


def test_points_outside_or_swapped_are_row_errors(conn, cfg, tmp_path):
    hh = _households(conn, 3, seed=8)
    hh.loc[1, ["lon", "lat"]] = [116.4, 39.9]
    hh.loc[2, ["lon", "lat"]] = [hh.loc[2, "lat"], hh.loc[2, "lon"]]
    report = import_ledger(conn, _write(hh, tmp_path / "x.xlsx", "households"), "households",
                           cfg)
    assert [(e["row"], e["problem_en"]) for e in report.errors] == [
        (3, "the point lies outside the county"), (4, "longitude and latitude are swapped")]
    assert report.created == 1


def test_csv_with_english_headers_and_templates(conn, cfg, tmp_path):
    hh = _households(conn, 2, seed=10)
    path = tmp_path / "hh.csv"
    hh.to_csv(path, index=False, encoding="utf-8-sig")
    assert import_ledger(conn, path, "households", cfg).created == 2
    for kind in COLUMNS:
        (tmp_path / f"{kind}.xlsx").write_bytes(template(kind))
        back = pd.read_excel(tmp_path / f"{kind}.xlsx")
        assert list(back.columns) == list(headers(kind).values()) and len(back) == 1


def test_facilities_and_workers_ledgers(conn, cfg, tmp_path):
    x, y = conn.execute(sa.text(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit "
        "WHERE level = 'county') c")).one()
    village, cells = conn.execute(sa.text(
        "SELECT v.code, array_agg(c.code ORDER BY c.code) FROM unit v JOIN unit c "
        "ON c.parent_id = v.id WHERE v.level = 'village' GROUP BY v.code ORDER BY v.code "
        "LIMIT 1")).one()
    fac = pd.DataFrame([
        ["F-1", "儿童之家", "测试之家", "", x, y, "", "0", "0", "否", "", "", "", ""],
        ["F-2", "救助管理站", "测试救助站", "", x, y, "110", "10", "3", "是", "0", "17", "不限",
         "是"],
        ["F-3", "动物园", "错类型", "", x, y, "", "5", "9", "", "", "", "", ""],
    ], columns=list(COLUMNS["facilities"]))
    path = _write(fac, tmp_path / "fac.xlsx", "facilities")
    report = import_ledger(conn, path, "facilities", cfg)
    assert {(e["row"], e["column"]) for e in report.errors} == {(4, "机构类型"),
                                                                (4, "已用床位")}
    assert report.created == 2
    assert conn.execute(sa.text("SELECT capacity, occupied, open_24h FROM facility "
                                "WHERE ledger_id = 'F-2'")).one() == (10, 3, True)
    assert import_ledger(conn, path, "facilities", cfg).unchanged == 2
    workers = pd.DataFrame([
        ["W-1", "网格员", "测试网格员", "", village, "、".join(cells[:2]), x, y],
        ["W-2", "网格长", "测试网格长", "", village, village, "", ""],
        ["W-3", "局长", "错角色", "", "999", "", "", ""],
    ], columns=list(COLUMNS["workers"]))
    wpath = _write(workers, tmp_path / "w.xlsx", "workers")
    wr = import_ledger(conn, wpath, "workers", cfg)
    assert {(e["row"], e["column"]) for e in wr.errors} == {(4, "角色"), (4, "所属单位代码")}
    assert wr.created == 2
    units = conn.execute(sa.text(
        "SELECT array_agg(u.code ORDER BY u.code) FROM worker w JOIN worker_unit wu "
        "ON wu.worker_id = w.id JOIN unit u ON u.id = wu.unit_id WHERE w.ledger_id = 'W-1'"
    )).scalar()
    assert units == sorted(cells[:2])
    assert import_ledger(conn, wpath, "workers", cfg).unchanged == 2


# -- bad input is a row error or a 400, never a crash ---------------------------------
def _one_child_file(conn, cfg, tmp_path, rows, name="kids.xlsx"):
    hh = _households(conn, 1, seed=21)
    hh["ledger_id"] = ["T-BAD-H"]
    import_ledger(conn, _write(hh, tmp_path / "hh.xlsx", "households"), "households", cfg)
    frame = pd.DataFrame([{**{"ledger_id": f"T-BAD-{i}", "household": "T-BAD-H", "name": "测试",
                              "sex": "男", "birth_date": "2015-06-15", "id_number": "",
                              "categories": "留守", "risk_level": "中",
                              "guardian_situation": "", "school": "", "has_disability": "否"},
                           **r} for i, r in enumerate(rows)])
    return _write(frame, tmp_path / name, "children")


def test_a_corrupt_xlsx_is_a_bad_file(conn, cfg, tmp_path):
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not really a workbook")
    with pytest.raises(InvalidInput) as err:
        import_ledger(conn, path, "households", cfg)
    assert err.value.field == "file"
    truncated = tmp_path / "truncated.xlsx"
    truncated.write_bytes(template("households")[:200])
    with pytest.raises(InvalidInput) as err:
        import_ledger(conn, truncated, "households", cfg)
    assert err.value.field == "file"


@pytest.mark.parametrize("idno", [
    "110105194913310027",   # 18 characters, no such date (month 13)
    "110105194912A1002X",   # a letter in the birth date
    "110105200002300025",   # 30 February
])
def test_a_malformed_identity_number_is_a_row_error(conn, cfg, tmp_path, idno):
    path = _one_child_file(conn, cfg, tmp_path, [{"id_number": idno}])
    for dry in (True, False):
        report = import_ledger(conn, path, "children", cfg, today=TODAY, dry_run=dry)
        assert [(e["row"], e["column"]) for e in report.errors] == [(2, "身份证号")]
        assert not report.written


def test_children_with_and_without_identity_numbers_mix(conn, cfg, tmp_path):
    born = dt.date(2015, 6, 15)
    rows = [{"id_number": identity.make_id("510497", born, 1, "male")}, {"id_number": ""},
            {"id_number": identity.make_id("510497", born, 2, "male")}]
    path = _one_child_file(conn, cfg, tmp_path, rows)
    dry = import_ledger(conn, path, "children", cfg, today=TODAY, dry_run=True)
    assert dry.errors == []
    real = import_ledger(conn, path, "children", cfg, today=TODAY)
    assert real.errors == [] and real.created == 3
    stored = conn.execute(sa.text(
        "SELECT ledger_id, id_masked IS NOT NULL FROM child WHERE ledger_id LIKE 'T-BAD-%' "
        "ORDER BY ledger_id")).all()
    assert stored == [("T-BAD-0", True), ("T-BAD-1", False), ("T-BAD-2", True)]


def test_an_unclear_yes_no_is_a_row_error(conn, cfg, tmp_path):
    path = _one_child_file(conn, cfg, tmp_path, [{"has_disability": "也许"},
                                            {"has_disability": "是"},
                                            {"has_disability": ""}])
    report = import_ledger(conn, path, "children", cfg, today=TODAY)
    assert [(e["row"], e["column"]) for e in report.errors] == [(2, "是否残疾")]
    assert "也许" in report.errors[0]["problem"]
    assert conn.execute(sa.text(
        "SELECT ledger_id, has_disability FROM child WHERE ledger_id LIKE 'T-BAD-%' "
        "ORDER BY ledger_id")).all() == [("T-BAD-1", True), ("T-BAD-2", False)]

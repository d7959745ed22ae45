"""One record typed into a form (geo/ledgers/form.py) gets the ledger import's verdict:
the same value refused in a one-row ledger and in the form, with the same Chinese words,
and the same values accepted and converted alike."""

import datetime as dt

import pytest
import sqlalchemy as sa

from geo import identity
from geo.errors import InvalidInput
from geo.ledgers.form import check_child, check_household, locate
from geo.ledgers.ledger import COLUMNS, import_ledger

TODAY = dt.date(2026, 11, 24)
GOOD = {"ledger_id": "F-C1", "household": "F-H1", "name": "表单儿童", "sex": "女",
        "birth_date": "2015年6月15日", "id_number": "", "categories": "留守、单亲",
        "risk_level": "中", "guardian_situation": "", "school": "", "has_disability": "否"}


def _ledger_problem(conn, cfg, tmp_path, row: dict, column: str) -> str | None:
    """The import's Chinese problem for ``column`` of a one-row children's ledger."""
    county = conn.execute(sa.text(
        "SELECT id FROM unit WHERE level = 'county' ORDER BY code LIMIT 1")).scalar_one()
    path = tmp_path / "one.csv"
    heads = [h for h, _ in COLUMNS["children"].values()]
    path.write_text(",".join(heads) + "\n" + ",".join(
        str(row[f]) for f in COLUMNS["children"]) + "\n", encoding="utf-8")
    report = import_ledger(conn, path, "children", {**cfg, "rules": cfg["rules"]},
                           role="admin", scope_id=county, dry_run=True, today=TODAY)
    header = COLUMNS["children"][column][0]
    found = [e["problem"] for e in report.errors if e["column"] == header]
    return found[0] if found else None


def _idno(born="20150615", seq="071"):
    return "510411" + born + seq + identity.check_digit("510411" + born + seq)


@pytest.mark.parametrize("column, value", [
    ("birth_date", "2015年13月1日"),
    ("birth_date", "2030-01-01"),
    ("birth_date", "1999.1.1"),
    ("sex", "未知"),
    ("categories", "留守、火星"),
    ("risk_level", "紫"),
    ("id_number", "510411201506150325"),
    ("id_number", _idno("20140615")),
    ("id_number", "1.10105E+17"),
    ("has_disability", "也许"),
])
def test_form_and_ledger_refuse_alike(conn, cfg, tmp_path, column, value):
    ledger = _ledger_problem(conn, cfg, tmp_path, {**GOOD, column: value}, column)
    assert ledger is not None
    form = {k: v for k, v in GOOD.items() if k not in ("ledger_id", "household") and v != ""}
    with pytest.raises(InvalidInput) as err:
        check_child({**form, column: value}, cfg["rules"], cfg["id_key"], TODAY, create=True)
    assert err.value.field == column
    assert err.value.zh == f"{COLUMNS['children'][column][0]}：{ledger}"


def test_form_values_convert_as_the_ledger_converts(cfg):
    number = _idno()
    got = check_child({"name": "表单儿童", "sex": "女", "birth_date": "2015.6.15",
                       "categories": ["留守", "single_parent"], "risk_level": "中",
                       "id_number": number, "has_disability": True},
                      cfg["rules"], cfg["id_key"], TODAY, create=True)
    assert got["sex"] == "female" and got["birth_date"] == dt.date(2015, 6, 15)
    assert got["categories"] == ["left_behind", "single_parent"]
    assert got["risk_level"] == "medium" and got["has_disability"] is True
    assert got["id_masked"] == identity.mask(number)
    assert got["id_hash"] == identity.keyed_hash(number, cfg["id_key"])
    assert "id_number" not in got


def test_an_update_checks_the_number_against_the_stored_birth_date(cfg):
    with pytest.raises(InvalidInput) as err:
        check_child({"id_number": _idno("20140615")}, cfg["rules"], cfg["id_key"], TODAY,
                    stored={"birth_date": dt.date(2015, 6, 15)})
    assert err.value.field == "id_number"
    ok = check_child({"id_number": _idno()}, cfg["rules"], cfg["id_key"], TODAY,
                     stored={"birth_date": dt.date(2015, 6, 15)})
    assert set(ok) == {"id_masked", "id_hash"}
    with pytest.raises(InvalidInput) as err:
        check_child({"name": ""}, cfg["rules"], cfg["id_key"], TODAY)
    assert err.value.field == "name" and err.value.zh == "姓名：必填，不能为空"


def test_household_points_are_checked_as_the_import_checks_them(conn):
    county, town = conn.execute(sa.text(
        "SELECT t.county_id, t.id FROM unit t WHERE t.level = 'township' ORDER BY t.code "
        "LIMIT 1")).one()
    x, y = conn.execute(sa.text(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit "
        "WHERE level = 'village' AND township_id = :t ORDER BY code LIMIT 1) v"),
        {"t": town}).one()
    ox, oy = conn.execute(sa.text(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit "
        "WHERE level = 'village' AND township_id <> :t ORDER BY code LIMIT 1) v"),
        {"t": town}).one()
    got = check_household(conn, {"address": "x", "lon": x, "lat": y, "flags": ["单亲家庭"]},
                          town, create=True)
    assert got["flags"] == ["single_parent"] and (got["lon"], got["lat"]) == (x, y)
    for point, zh in [((ox, oy), "位置：该位置不在您的辖区内"),
                      ((116.4, 39.9), "位置：该位置在本县之外"),
                      ((y, x), "位置：经度和纬度填反了")]:
        with pytest.raises(InvalidInput) as err:
            check_household(conn, {"lon": point[0], "lat": point[1]}, town)
        assert err.value.field == "lon" and err.value.zh == zh
    with pytest.raises(InvalidInput) as err:
        check_household(conn, {"address": "x", "lon": x, "lat": y, "flags": ["豪宅"]}, town)
    assert err.value.field == "flags"
    with pytest.raises(InvalidInput) as err:
        check_household(conn, {"lon": x}, town)
    assert err.value.field == "lat"
    where = locate(conn, x, y, county)
    assert where["village_name"] and where["township_name"] and where["cell_code"]

"""One household or child typed into a form (the map's 登记住户 panel, the JSON API),
checked by the ledger import's own checks (:mod:`geo.ledgers.ledger`): the same identity
check digit and birth date, dates in Chinese formats too (2015年6月15日, 2015.6.15),
categories, risk levels and household types by code or Chinese label, points converted
from GCJ-02 or BD-09 and checked to lie in the county and in the writer's area.

The first problem raises :class:`InvalidInput` naming the field, worded in English with
its Chinese (``zh``, from :mod:`geo.ledgers.messages`) for clients that prefer Chinese.

>>> check_child({"sex": "女", "birth_date": "2015年6月15日"}, rules, key, today)  # doctest: +SKIP
{'sex': 'female', 'birth_date': datetime.date(2015, 6, 15)}
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo.errors import InvalidInput
from geo.ledgers.ledger import COLUMNS, _child_fields, _household_fields, _Rows

# What a new record must have (the ledger's required columns, less its ledger ids).
REQUIRED = {"children": ("name", "sex", "birth_date", "categories", "risk_level"),
            "households": ("address", "lon", "lat")}
# A point's problems name the place, not the longitude column.
_ZH_COLUMN = {"lon": "位置", "lat": "位置"}


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list | tuple):
        return "、".join(str(v).strip() for v in value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _rows(kind: str, data: dict) -> _Rows:
    """A one-row ledger table of ``data`` (absent fields empty), as the import reads it."""
    table = pd.DataFrame({f: [_text(data.get(f))] for f in COLUMNS[kind]}, dtype=object)
    table["_row"] = [1]
    return _Rows(kind, table)


def _required(rows: _Rows, kind: str, data: dict, create: bool) -> None:
    for f in REQUIRED[kind]:
        if create or f in data:
            rows.bad(rows.table[f] == "", f, "is empty")


def _raise_first(rows: _Rows, kind: str) -> None:
    if not rows.errors:
        return
    e = rows.errors[0]
    field = next(f for f, (h, _) in COLUMNS[kind].items() if h == e["column"])
    raise InvalidInput(f"{field} {e['problem_en']}", field=field,
                       zh=f"{_ZH_COLUMN.get(field, e['column'])}：{e['problem']}")


def check_child(data: dict, rules: dict, id_key: str, today: dt.date, *,
                create: bool = False, stored: dict | None = None) -> dict:
    """The columns to write for the child fields in ``data`` (as typed: codes or Chinese
    labels, dates in any form the import reads, 是/否 or booleans); ``stored`` (the
    current row of an update) supplies the birth date an identity number must match.
    The identity number comes back only as ``id_masked`` and ``id_hash``."""
    given = {f: v for f, v in data.items() if f in COLUMNS["children"]}
    rows = _rows("children", given)
    if "birth_date" not in given and stored and stored.get("birth_date"):
        rows.table.loc[0, "birth_date"] = _text(stored["birth_date"])
    _required(rows, "children", given, create)
    _child_fields(rows, rules, id_key, today)
    _raise_first(rows, "children")
    t = rows.table.iloc[0]
    out: dict = {}
    converted = {"sex": ("sex", t["sex_code"]), "birth_date": ("birth_date", t["born"]),
                 "categories": ("categories", list(t["category_list"])),
                 "risk_level": ("risk_level", t["risk_code"]),
                 "has_disability": ("has_disability", bool(t["disability"]))}
    for f in given:
        if f in converted:
            key, value = converted[f]
            out[key] = value
        elif f == "id_number":
            if t["id_hash"]:
                out["id_masked"], out["id_hash"] = t["id_masked"], t["id_hash"]
        elif f in ("name", "guardian_situation", "school"):
            out[f] = t[f] or None
    return out


def check_household(conn: Connection, data: dict, scope_id: int, crs: str = "wgs84", *,
                    create: bool = False) -> dict:
    """The columns to write for the household fields in ``data``: the point converted
    from ``crs`` to WGS84 (``lon``, ``lat``) and checked to lie in a grid cell of the
    writer's area (unit ``scope_id``), household types as codes."""
    given = {f: v for f, v in data.items() if f in COLUMNS["households"]}
    if ("lon" in given) != ("lat" in given):
        missing = "lat" if "lon" in given else "lon"
        raise InvalidInput(f"give both lon and lat ({missing} is missing)", field=missing,
                           zh="请同时填写经度和纬度")
    rows = _rows("households", given)
    _required(rows, "households", given, create)
    _household_fields(conn, rows, crs, scope_id)
    _raise_first(rows, "households")
    t = rows.table.iloc[0]
    out: dict = {}
    if "lon" in given:
        out["lon"], out["lat"] = float(t["wlon"]), float(t["wlat"])
    if "flags" in given:
        out["flags"] = list(t["flag_list"])
    for f in ("address", "head_name", "phone"):
        if f in given:
            out[f] = t[f] or None
    return out


def locate(conn: Connection, lon, lat, scope_id: int, crs: str = "wgs84") -> dict:
    """Where a household at (``lon``, ``lat``) in ``crs`` would be registered: the WGS84
    point and its cell, village and township (codes and names), checked as a new
    household's point is."""
    point = check_household(conn, {"lon": lon, "lat": lat}, scope_id, crs)
    row = conn.execute(sa.text(
        "SELECT c.code AS cell_code, c.name AS cell_name, v.code AS village_code, "
        "v.name AS village_name, t.code AS township_code, t.name AS township_name "
        "FROM unit c LEFT JOIN unit v ON v.id = c.village_id "
        "LEFT JOIN unit t ON t.id = c.township_id "
        "WHERE c.id = gridmap_cell_at(ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
        {"x": point["lon"], "y": point["lat"]}).mappings().one()
    return {"lon": point["lon"], "lat": point["lat"], **row}

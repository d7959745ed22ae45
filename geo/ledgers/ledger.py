"""Village ledgers (台账) in, from Excel (.xlsx, .xls) or CSV with Chinese column headers
(read as villages keep them: see :mod:`geo.ledgers.read`).

Every row is checked before anything is written; the report lists each problem with
its row number (as Excel shows it), column (the header as in the file), the value and
what is wrong, in Chinese (English on request, :mod:`geo.ledgers.messages`). A dry run
writes in a transaction it rolls back, to count new, changed and unchanged rows; a real
run writes all valid rows in one transaction, or with
``strict`` nothing at all when any row is bad. Rows are keyed on their ledger id (台账编号)
— and children also on the keyed hash of their identity number — so importing the same
file twice changes nothing.

Coordinates are converted to WGS84 from the file's system (``wgs84``, ``gcj02`` for
Amap/Tencent phones, ``bd09`` for Baidu); a point more than a few kilometres outside
the county, or with latitude and longitude swapped, is an error on its row.

The importer's role and unit bound what may be written, as in the API: households and
children in their area, facilities for the county office, workers (over units in their
area) for the county office and township supervisors.

>>> report = import_ledger(engine, "children.xlsx", "children", cfg, role="supervisor",
...                        scope_id=town.id, dry_run=True)  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geo import access, identity, vocab
from geo.config import county_rules, risk_levels_anywhere
from geo.demo.copyload import copy_frame, pg_array, point_ewkt
from geo.errors import Forbidden, InvalidInput, NotFound
from geo.grid.chinacrs import CRS_NAMES, to_wgs84
from geo.ledgers import messages
from geo.ledgers.read import fold, parse_date, read_rows
from geo.ledgers.spreadsheet import neutralise_frame, restore

# Column headers by kind: field -> (Chinese header, required).
COLUMNS = {
    "households": {
        "ledger_id": ("台账编号", True), "address": ("地址", True), "lon": ("经度", True),
        "lat": ("纬度", True), "head_name": ("户主姓名", False), "phone": ("联系电话", False),
        "flags": ("家庭类型", False),
    },
    "children": {
        "ledger_id": ("台账编号", True), "household": ("户台账编号", True),
        "name": ("姓名", True), "sex": ("性别", True), "birth_date": ("出生日期", True),
        "id_number": ("身份证号", False), "categories": ("困境类别", True),
        "risk_level": ("风险等级", True), "guardian_situation": ("监护情况", False),
        "school": ("就读学校", False), "has_disability": ("是否残疾", False),
    },
    "facilities": {
        "ledger_id": ("台账编号", True), "type": ("机构类型", True), "name": ("名称", True),
        "address": ("地址", False), "lon": ("经度", True), "lat": ("纬度", True),
        "phone": ("联系电话", False), "capacity": ("床位数", False),
        "occupied": ("已用床位", False), "open_24h": ("24小时开放", False),
        "min_age": ("最小年龄", False), "max_age": ("最大年龄", False),
        "sex_accepted": ("接收性别", False), "accepts_disability": ("接收残疾儿童", False),
    },
    "workers": {
        "ledger_id": ("台账编号", True), "role": ("角色", True), "name": ("姓名", True),
        "phone": ("联系电话", False), "unit": ("所属单位代码", True),
        "units": ("负责单位代码", False), "lon": ("办公地经度", False),
        "lat": ("办公地纬度", False),
    },
}
EXAMPLES = {
    "households": ["HH-0001", "仁和镇仁和村3组12号", 101.7376, 26.4976, "张某", "19900000001",
                   "低保/低收入"],
    "children": ["CH-0001", "HH-0001", "张小明", "男", "2015-06-15", "11010519491231002X",
                 "留守、单亲", "中", "父母外出务工，由祖辈照料", "仁和镇中心小学", "否"],
    "facilities": ["FA-0001", "儿童之家", "仁和村儿童之家", "仁和镇仁和村", 101.7376, 26.4976,
                   "19900000002", 0, 0, "否", 0, 17, "不限", "否"],
    "workers": ["WK-0001", "网格员", "李某", "19900000003", "510411100201",
                "510411100201001、510411100201002", 101.7376, 26.4976],
}
YES = {"是", "有", "yes", "true", "1", "y"}
NO = {"否", "无", "没有", "no", "false", "0", "n", ""}
# Who may import which kind: the same roles as the API's writes of that kind.
WRITERS = {"households": access.WRITES_RECORDS, "children": access.WRITES_RECORDS,
           "facilities": access.WRITES_FACILITIES, "workers": access.WRITES_WORKERS}
# A row about a record the importer may not see: the same words whether or not it exists
# elsewhere, and nothing about it.
NOT_YOURS = "is not in your area (不在您的辖区内)"
SEPARATORS = re.compile(r"[、,，;；/\s]+")
RISK_ZH = {label: level for level, label in vocab.RISK_LABELS.items()}
OUTSIDE_MARGIN_M = 5000
# Kept as written; every other column is folded (full-width digits and letters to
# plain ones, see geo.ledgers.read.fold).
FREE_TEXT = {"name", "address", "head_name", "guardian_situation", "school"}
# An identity number typed into a number cell: Excel keeps 15 digits and shows 1.1E+17.
_FLOATED = re.compile(r"^\d(\.\d+)?E\+?\d+$")
STORED_AS_NUMBER = "was stored as a number and lost its last digits (set the column to text)"


@dataclass
class LedgerReport:
    kind: str
    rows: int = 0
    errors: list[dict] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    written: bool = False
    dry_run: bool = False

    @property
    def bad_rows(self) -> int:
        return len({e["row"] for e in self.errors})

    def as_dict(self, lang: str = "zh") -> dict:
        """The report; problems in Chinese, or English with ``lang='en'``; each error
        also as the one ``message`` a person reads (row, column, value, problem)."""
        errors = [{"row": e["row"], "column": e["column"], "value": e["value"],
                   "problem": e["problem_en"] if lang == "en" else e["problem"],
                   "message": messages.sentence(e["row"], e["column"], e["value"],
                                                e["problem_en"], lang)}
                  for e in self.errors]
        return {"kind": self.kind, "rows": self.rows, "bad_rows": self.bad_rows,
                "errors": errors, "created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "written": self.written, "dry_run": self.dry_run}


def template(kind: str) -> bytes:
    """An .xlsx with the headers and one example row."""
    if kind not in COLUMNS:
        raise InvalidInput(f"unknown ledger kind '{kind}' (one of {', '.join(COLUMNS)})",
                           field="kind")
    frame = pd.DataFrame([EXAMPLES[kind]], columns=[h for h, _ in COLUMNS[kind].values()])
    frame = neutralise_frame(frame)
    buf = io.BytesIO()
    frame.to_excel(buf, index=False, sheet_name=kind)
    return buf.getvalue()


def read_table(path: str | Path, kind: str) -> pd.DataFrame:
    """The file's rows as text, with columns renamed to field names; ``_row`` is the row
    number a person sees in Excel (see :mod:`geo.ledgers.read` for what is tolerated)."""
    path = Path(path)
    headers = {h: f for f, (h, _) in COLUMNS[kind].items()}
    headers.update({f: f for f in COLUMNS[kind]})  # English headers work too
    names, body, numbers = read_rows(path, set(headers))
    missing = [h for f, (h, req) in COLUMNS[kind].items()
               if req and h not in names and f not in names]
    if missing:
        raise InvalidInput(f"{path.name}: 缺少列 {'、'.join(missing)} "
                           f"(missing column {', '.join(missing)})", field="file")
    data, seen = {}, set()
    for j, name in enumerate(names):
        field_name = headers.get(name)
        if field_name is None or field_name in seen:
            continue
        seen.add(field_name)
        # restore: a leading ' our own export put before formula-like text goes again.
        values = [restore(v) if v[:1] == "'" else v for v in (r[j] for r in body)]
        if field_name not in FREE_TEXT:
            values = [fold(v) for v in values]
        data[field_name] = values
    table = pd.DataFrame(data, dtype=object)
    for f in COLUMNS[kind]:
        if f not in table.columns:
            table[f] = [""] * len(body)
    table["_row"] = np.asarray(numbers, dtype=int)
    return table.reset_index(drop=True)


class _Rows:
    """Collects problems per row while the checks run."""

    def __init__(self, kind: str, table: pd.DataFrame):
        self.kind, self.table, self.errors = kind, table, []

    def bad(self, mask, column: str, problem) -> None:
        """Rows in ``mask`` have ``problem`` (English; the report carries the Chinese
        too, see :mod:`geo.ledgers.messages`) in ``column``."""
        header = COLUMNS[self.kind][column][0] if column in COLUMNS[self.kind] else column
        values = self.table[column] if column in self.table.columns else None
        for i in np.flatnonzero(np.asarray(mask)):
            text = problem(i) if callable(problem) else problem
            # A value about a record elsewhere is not echoed (the same words either way).
            value = "" if values is None or NOT_YOURS in text or "cannot be used" in text \
                else str(values.iat[i])
            self.errors.append({"row": int(self.table["_row"].iat[i]), "column": header,
                                "value": value, "problem": messages.zh(text),
                                "problem_en": text})

    def required(self) -> None:
        for f, (_, req) in COLUMNS[self.kind].items():
            if req:
                self.bad(self.table[f] == "", f, "is empty")

    def unique(self, column: str, values: pd.Series | None = None) -> None:
        values = (self.table[column] if values is None else values).tolist()
        numbers = self.table["_row"].tolist()
        first: dict[str, int] = {}
        dup, text = np.zeros(len(values), dtype=bool), {}
        for i, v in enumerate(values):
            if not v:
                continue
            if v in first:
                dup[i], text[i] = True, f"repeats row {first[v]}"
            else:
                first[v] = numbers[i]
        self.bad(dup, column, lambda i: text[i])

    def valid_mask(self) -> np.ndarray:
        bad = {e["row"] for e in self.errors}
        return ~self.table["_row"].isin(bad).to_numpy()


def _points(conn: Connection, rows: _Rows, crs: str, scope_id: int | None = None) -> None:
    """Points converted to WGS84 (``wlon``, ``wlat``) and checked to lie in the county;
    with ``scope_id`` also in a grid cell under that unit (the importer's area)."""
    t = rows.table
    lon = pd.to_numeric(t["lon"], errors="coerce")
    lat = pd.to_numeric(t["lat"], errors="coerce")
    rows.bad(lon.isna() & (t["lon"] != ""), "lon", "is not a number")
    rows.bad(lat.isna() & (t["lat"] != ""), "lat", "is not a number")
    ok = lon.notna() & lat.notna()
    x, y = to_wgs84(lon.fillna(0).to_numpy(), lat.fillna(0).to_numpy(), crs)
    t["wlon"], t["wlat"] = np.where(ok, x, np.nan), np.where(ok, y, np.nan)
    idx = np.flatnonzero(ok.to_numpy())
    if len(idx) == 0:
        return
    inside = _inside(conn, t["wlon"].to_numpy()[idx], t["wlat"].to_numpy()[idx])
    sx, sy = to_wgs84(lat.to_numpy()[idx], lon.to_numpy()[idx], crs)
    swapped = _inside(conn, np.asarray(sx), np.asarray(sy)) & ~inside
    out = np.zeros(len(t), dtype=bool)
    out[idx[~inside & ~swapped]] = True
    sw = np.zeros(len(t), dtype=bool)
    sw[idx[swapped]] = True
    rows.bad(out, "lon", "the point lies outside the county")
    rows.bad(sw, "lon", "longitude and latitude are swapped")
    near = idx[inside]
    if len(near) and scope_id is not None:
        found = conn.execute(sa.text(
            f"SELECT p.i, {access.cell_in_scope_sql('c')} AS mine "
            "FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) "
            "WITH ORDINALITY AS p(x, y, i) "
            "JOIN unit c ON c.id = gridmap_cell_at(ST_SetSRID(ST_MakePoint(x, y), 4326))"),
            {"xs": [float(v) for v in t["wlon"].to_numpy()[near]],
             "ys": [float(v) for v in t["wlat"].to_numpy()[near]],
             "scope_id": scope_id}).all()
        no_cell = np.ones(len(near), dtype=bool)
        theirs = np.zeros(len(near), dtype=bool)
        for i, mine in found:
            no_cell[i - 1] = False
            theirs[i - 1] = not mine
        mask = np.zeros(len(t), dtype=bool)
        mask[near[no_cell]] = True
        rows.bad(mask, "lon", "the point lies in no grid cell (just outside the county)")
        mask = np.zeros(len(t), dtype=bool)
        mask[near[theirs]] = True
        rows.bad(mask, "lon", f"the point {NOT_YOURS}")


def _inside(conn: Connection, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Which points lie within OUTSIDE_MARGIN_M of a county we hold (one query)."""
    rows = conn.execute(sa.text(
        """
        SELECT i FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[]))
                      WITH ORDINALITY AS p(x, y, i)
         WHERE x BETWEEN -180 AND 180 AND y BETWEEN -90 AND 90 AND EXISTS (
               SELECT 1 FROM unit u WHERE u.level = 'county'
                  AND ST_DWithin(u.geom::geography,
                                 ST_SetSRID(ST_MakePoint(x, y), 4326)::geography, :m))
        """), {"xs": [float(v) for v in lon], "ys": [float(v) for v in lat],
               "m": OUTSIDE_MARGIN_M}).scalars().all()
    out = np.zeros(len(lon), dtype=bool)
    out[np.asarray(rows, dtype=int) - 1] = True
    return out


def _codes_of(values, vocabulary: dict) -> list[tuple[list[str], list[str]]]:
    """:func:`_codes` of each value (a ledger repeats the same few texts)."""
    seen: dict[str, tuple[list[str], list[str]]] = {}
    out = []
    for v in values:
        found = seen.get(v)
        if found is None:
            found = seen[v] = _codes(v, vocabulary)
        out.append(found)
    return out


def _codes(text: str, vocabulary: dict) -> tuple[list[str], list[str]]:
    """Codes from Chinese labels or codes, and the words that are neither."""
    by_label = _labels(tuple(vocabulary.items()))
    codes, unknown = [], []
    for word in (w for w in SEPARATORS.split(text) if w):
        code = word if word in vocabulary else by_label.get(word)
        (codes if code else unknown).append(code or word)
    return sorted(set(codes)), unknown


@functools.lru_cache(maxsize=16)
def _labels(items: tuple) -> dict[str, str]:
    by_label = {label: code for code, label in items}
    for code, label in items:
        for part in label.split("/"):
            by_label.setdefault(part, code)
    return by_label


def text_array(values) -> str:
    """Values as one PostgreSQL text[] literal, to bind as ``CAST(:x AS text[])``: a long
    list bound as a Python list becomes an ARRAY[...] of one constant per value, which
    PostgreSQL parses several times slower."""
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for v in values) + "}"


def _not_yours(conn: Connection, rows: _Rows, sql: str, scope_id: int) -> None:
    """Rows whose ledger id is held by a record outside the importer's area: an error
    that says no more than that (``sql`` selects the ledger ids of such records among
    ``:ids``)."""
    t = rows.table
    theirs = set(conn.execute(sa.text(sql.replace("ANY(:ids)", "ANY(CAST(:ids AS text[]))")), {
        "ids": text_array(sorted(set(t["ledger_id"]) - {""})), "scope_id": scope_id}).scalars())
    if theirs:
        rows.bad(t["ledger_id"].isin(theirs), "ledger_id", f"this ledger id {NOT_YOURS}")


def _yes_no(rows: _Rows, column: str) -> pd.Series:
    """是/否 (and the like) as booleans; anything else is an error naming the column."""
    t = rows.table
    words = t[column].str.lower()
    rows.bad(~words.isin(YES | NO), column,
             lambda i: f"must be 是 or 否, not '{t[column].iat[i]}'")
    return words.isin(YES)


def _check_households(conn: Connection, rows: _Rows, crs: str, scope_id: int) -> None:
    rows.required()
    rows.unique("ledger_id")
    _not_yours(conn, rows, "SELECT h.ledger_id FROM household h "
               "LEFT JOIN unit c ON c.id = h.cell_id WHERE h.ledger_id = ANY(:ids) "
               f"AND NOT COALESCE({access.cell_in_scope_sql('c')}, false)", scope_id)
    _household_fields(conn, rows, crs, scope_id)


def _household_fields(conn: Connection, rows: _Rows, crs: str, scope_id: int) -> None:
    """The checks of a household's own fields (point, flags), also run on one household
    typed into a form (:mod:`geo.ledgers.record`)."""
    t = rows.table
    _points(conn, rows, crs, scope_id)
    flags = _codes_of(t["flags"], vocab.HOUSEHOLD_FLAGS)
    t["flag_codes"] = [pg_array(c) for c, _ in flags]
    t["flag_list"] = [c for c, _ in flags]
    rows.bad([bool(u) for _, u in flags], "flags",
             lambda i: f"unknown household type {'、'.join(flags[i][1])}")


def _check_children(conn: Connection, rows: _Rows, rules: dict, id_key: str,
                    today: dt.date, scope_id: int) -> None:
    rows.required()
    rows.unique("ledger_id")
    _not_yours(conn, rows, "SELECT ch.ledger_id FROM child ch "
               "JOIN household h ON h.id = ch.household_id "
               "LEFT JOIN unit c ON c.id = h.cell_id WHERE ch.ledger_id = ANY(:ids) "
               f"AND NOT COALESCE({access.cell_in_scope_sql('c')}, false)", scope_id)
    ids = _child_fields(rows, rules, id_key, today)
    rows.unique("id_number", ids)
    _child_clashes(conn, rows, scope_id)
    _levels_of_county(conn, rows, rules)


def _levels_of_county(conn: Connection, rows: _Rows, rules: dict) -> None:
    """A risk level must be one of the levels of the household's county (a city's
    counties may keep their own tiers, ``[rules.counties.<code>]``): a level only another
    county uses would leave the child with no visit interval."""
    if not rules.get("counties"):
        return
    t = rows.table
    county = dict(conn.execute(sa.text(
        "SELECT ledger_id, county_code FROM household WHERE ledger_id = ANY(CAST(:ids AS text[]))"),
        {"ids": text_array(sorted(set(t["household"]) - {""}))}).all())
    own = {c: county_rules(rules, c)["risk_levels"] for c in set(county.values())}
    wrong = [bool(r) and h in county and r not in own[county[h]]
             for r, h in zip(t["risk_code"], t["household"], strict=True)]
    rows.bad(wrong, "risk_level", lambda i: "must be one of " + "、".join(
        vocab.RISK_LABELS.get(v, v) for v in own[county[t["household"].iat[i]]]))


def _child_fields(rows: _Rows, rules: dict, id_key: str, today: dt.date) -> pd.Series:
    """The checks of a child's own fields (sex, birth date, categories, risk level,
    identity number and its birth date, disability), also run on one child typed into a
    form (:mod:`geo.ledgers.record`); the identity numbers as cleaned."""
    t = rows.table
    sex = t["sex"].map({"男": "male", "女": "female", "male": "male", "female": "female"})
    rows.bad(sex.isna() & (t["sex"] != ""), "sex", "must be 男 or 女")
    t["sex_code"] = sex
    born = pd.Series([parse_date(v) for v in t["birth_date"]], index=t.index, dtype=object)
    rows.bad(born.isna() & (t["birth_date"] != ""), "birth_date", "is not a date")
    ok = born.notna()
    future = ok & (born.where(ok, today) > today)
    rows.bad(future, "birth_date", "lies in the future")
    adult = ok & ~future & born.where(ok, today).map(
        lambda b: (today.year - b.year - ((today.month, today.day) < (b.month, b.day))) >= 18)
    rows.bad(adult, "birth_date", "makes this person an adult, not a child")
    t["born"] = born
    cats = _codes_of(t["categories"], vocab.CHILD_CATEGORIES)
    rows.bad([bool(u) for _, u in cats], "categories",
             lambda i: f"unknown category {'、'.join(cats[i][1])}")
    t["category_codes"] = [pg_array(c) for c, _ in cats]
    t["category_list"] = [c for c, _ in cats]
    levels = risk_levels_anywhere(rules)  # the shared levels and the counties' own
    risk = t["risk_level"].map(lambda v: v if v in levels else RISK_ZH.get(v))
    rows.bad(~risk.isin(levels) & (t["risk_level"] != ""), "risk_level",
             "must be one of " + "、".join(vocab.RISK_LABELS.get(v, v) for v in levels))
    t["risk_code"] = risk
    ids = t["id_number"].str.upper().str.replace(" ", "", regex=False)
    # Lists, not Series.map: a column mixing numbers and blanks must keep None, not NaN.
    problems = [(STORED_AS_NUMBER if _FLOATED.match(v) else identity.problem(v)) if v
                else None for v in ids]
    rows.bad([p is not None for p in problems], "id_number", lambda i: problems[i])
    good = [bool(v) and p is None for v, p in zip(ids, problems, strict=True)]
    mismatch = [g and o and identity.birth_date_of(v) != b
                for v, g, o, b in zip(ids, good, ok, born, strict=True)]
    rows.bad(mismatch, "id_number", "does not match the birth date")
    t["id_masked"] = pd.Series([identity.mask(v) if g else None for v, g in zip(ids, good,
                                                                                strict=True)],
                               index=t.index, dtype=object)
    t["id_hash"] = pd.Series([identity.keyed_hash(v, id_key) if g else None
                              for v, g in zip(ids, good, strict=True)],
                             index=t.index, dtype=object)
    t["disability"] = _yes_no(rows, "has_disability")
    return ids


def _child_clashes(conn: Connection, rows: _Rows, scope_id: int) -> None:
    t = rows.table
    # The same person already registered under another ledger id; of a child outside
    # the importer's area nothing is told, not even its ledger id.
    taken = {r.id_hash: r for r in conn.execute(sa.text(
        f"SELECT ch.id_hash, ch.ledger_id, COALESCE({access.cell_in_scope_sql('c')}, false) "
        "AS mine FROM child ch JOIN household h ON h.id = ch.household_id "
        "LEFT JOIN unit c ON c.id = h.cell_id WHERE ch.id_hash = ANY(CAST(:h AS text[]))"),
        {"h": text_array(h for h in t["id_hash"] if h), "scope_id": scope_id})}
    clash = [h in taken and taken[h].ledger_id != lid
             for h, lid in zip(t["id_hash"], t["ledger_id"], strict=True)]

    def _clash(i: int) -> str:
        other = taken[t["id_hash"].iat[i]]
        if not other.mine:
            return "this identity number cannot be used (该身份证号不能使用)"
        return ("this child is already registered as "
                f"{other.ledger_id or 'a record without ledger id'}")
    rows.bad(clash, "id_number", _clash)
    # Households outside the area are answered as if they did not exist.
    known = set(conn.execute(sa.text(
        "SELECT h.ledger_id FROM household h JOIN unit c ON c.id = h.cell_id "
        f"WHERE h.ledger_id = ANY(CAST(:ids AS text[])) AND {access.cell_in_scope_sql('c')}"),
        {"ids": text_array(sorted(set(t["household"]) - {""})), "scope_id": scope_id}).scalars())
    rows.bad(~t["household"].isin(known) & (t["household"] != ""), "household",
             lambda i: f"no household with ledger id {t['household'].iat[i]}")


def _integer(rows: _Rows, column: str, default: int, low: int, high: int) -> pd.Series:
    t = rows.table
    values = pd.to_numeric(t[column].replace("", str(default)), errors="coerce")
    rows.bad(values.isna() | (values < low) | (values > high) | (values % 1 != 0), column,
             f"must be a whole number from {low} to {high}")
    return values.fillna(default).astype(int)


def _check_facilities(conn: Connection, rows: _Rows, crs: str) -> None:
    t = rows.table
    rows.required()
    rows.unique("ledger_id")
    types = _codes_of(t["type"], vocab.FACILITY_TYPES)
    rows.bad([len(c) != 1 or bool(u) for c, u in types], "type",
             f"must be one facility type ({'、'.join(vocab.FACILITY_TYPES.values())})")
    t["type_code"] = [c[0] if len(c) == 1 else None for c, _ in types]
    _points(conn, rows, crs)
    t["cap"] = _integer(rows, "capacity", 0, 0, 10_000)
    t["occ"] = _integer(rows, "occupied", 0, 0, 10_000)
    rows.bad(t["occ"] > t["cap"], "occupied", "exceeds the number of beds")
    t["amin"] = _integer(rows, "min_age", 0, 0, 17)
    t["amax"] = _integer(rows, "max_age", 17, 0, 17)
    rows.bad(t["amin"] > t["amax"], "min_age", "is above the maximum age")
    sex = t["sex_accepted"].replace("", "不限").map(
        {"不限": "any", "男": "male", "女": "female", "any": "any", "male": "male",
         "female": "female"})
    rows.bad(sex.isna(), "sex_accepted", "must be 不限, 男 or 女")
    t["sex_code"] = sex
    t["h24"] = _yes_no(rows, "open_24h")
    t["disab"] = _yes_no(rows, "accepts_disability")


def _check_workers(conn: Connection, rows: _Rows, crs: str, scope_id: int) -> None:
    t = rows.table
    rows.required()
    rows.unique("ledger_id")
    _not_yours(conn, rows, "SELECT w.ledger_id FROM worker w JOIN unit u ON u.id = w.unit_id "
               "WHERE w.ledger_id = ANY(:ids) "
               f"AND NOT COALESCE({access.cell_in_scope_sql('u')}, false)",
               scope_id)
    roles = _codes_of(t["role"], vocab.WORKER_ROLES)
    rows.bad([len(c) != 1 or bool(u) for c, u in roles], "role",
             f"must be one of {'、'.join(vocab.WORKER_ROLES.values())}")
    t["role_code"] = [c[0] if len(c) == 1 else None for c, _ in roles]
    codes = sorted({c for v in t["units"] for c in SEPARATORS.split(v) if c} | set(t["unit"]))
    # Units outside the importer's area are answered as if they did not exist.
    known = set(conn.execute(sa.text(
        f"SELECT u.code FROM unit u WHERE u.code = ANY(:c) AND {access.cell_in_scope_sql('u')}"),
        {"c": codes, "scope_id": scope_id}).scalars())
    rows.bad(~t["unit"].isin(known) & (t["unit"] != ""), "unit",
             lambda i: f"no unit with code {t['unit'].iat[i]} in your area")
    missing = [[c for c in SEPARATORS.split(v) if c and c not in known] for v in t["units"]]
    rows.bad([bool(m) for m in missing], "units",
             lambda i: f"no unit with code {'、'.join(missing[i])} in your area")
    t["unit_list"] = [pg_array(c for c in SEPARATORS.split(v) if c) for v in t["units"]]
    has_point = (t["lon"] != "") | (t["lat"] != "")
    t["wlon"], t["wlat"] = np.nan, np.nan
    if has_point.any():
        sub = _Rows("workers", t[has_point].reset_index(drop=True))
        _points(conn, sub, crs)
        rows.errors += sub.errors
        t.loc[has_point, "wlon"] = sub.table["wlon"].to_numpy()
        t.loc[has_point, "wlat"] = sub.table["wlat"].to_numpy()


# After the workers themselves: each listed worker looks after exactly the listed units.
_WORKER_UNITS = """
WITH listed AS (
    SELECT w.id AS worker_id, u.id AS unit_id
      FROM ledger_stage s JOIN worker w ON w.ledger_id = s.ledger_id,
           unnest(s.units::text[]) AS lc(code) JOIN unit u ON u.code = lc.code
), gone AS (
    DELETE FROM worker_unit wu USING ledger_stage s, worker w
     WHERE w.ledger_id = s.ledger_id AND wu.worker_id = w.id
       AND (wu.worker_id, wu.unit_id) NOT IN (SELECT worker_id, unit_id FROM listed)
)
INSERT INTO worker_unit (worker_id, unit_id)
SELECT worker_id, unit_id FROM listed ON CONFLICT DO NOTHING
"""

_UPSERT = {
    # Households and children are partitioned by county (migration 0018): their ledger
    # ids are unique in the key registries, not on the tables, so these update the rows
    # that exist and insert the others instead of ON CONFLICT (same counts, same rows).
    "households": """
        WITH up AS (
            UPDATE household h
               SET address = s.address, geom = ST_GeomFromEWKT(s.geom),
                   head_name = s.head_name, phone = s.phone, flags = s.flags::text[]
              FROM ledger_stage s
             WHERE h.ledger_id = s.ledger_id
               AND (h.address, ST_AsEWKB(h.geom), h.head_name, h.phone,
                    ARRAY(SELECT f FROM unnest(h.flags) f ORDER BY f))
                   IS DISTINCT FROM (s.address, ST_AsEWKB(ST_GeomFromEWKT(s.geom)),
                    s.head_name, s.phone, s.flags::text[])
            RETURNING false AS created
        ), ins AS (
            INSERT INTO household (ledger_id, address, geom, head_name, phone, flags,
                                   county_code)
            SELECT s.ledger_id, s.address, ST_GeomFromEWKT(s.geom), s.head_name, s.phone,
                   s.flags::text[], gridmap_cell_county(gridmap_cell_at(ST_GeomFromEWKT(s.geom)))
              FROM ledger_stage s
             WHERE NOT EXISTS (SELECT FROM household_key k WHERE k.ledger_id = s.ledger_id)
            RETURNING true AS created
        )
        SELECT created FROM up UNION ALL SELECT created FROM ins
    """,
    "children": """
        WITH src AS (
            SELECT s.ledger_id, h.id AS household_id, h.county_code, s.name, s.sex,
                   s.birth_date::date AS birth_date, s.id_masked, s.id_hash,
                   CASE WHEN :keep_sensitive THEN ARRAY(
                       SELECT DISTINCT x FROM unnest(s.categories::text[] || COALESCE((
                           SELECT array_agg(c) FROM child o, unnest(o.categories) c
                            WHERE o.ledger_id = s.ledger_id
                              AND c = ANY(CAST(:sensitive AS text[]))), '{}')) x ORDER BY x)
                        ELSE s.categories::text[] END AS categories,
                   s.risk_level, s.guardian_situation, s.school,
                   s.has_disability::boolean AS has_disability
              FROM ledger_stage s JOIN household h ON h.ledger_id = s.household
        ), up AS (
            UPDATE child c
               SET household_id = s.household_id, name = s.name, sex = s.sex,
                   birth_date = s.birth_date,
                   id_masked = COALESCE(s.id_masked, c.id_masked),
                   id_hash = COALESCE(s.id_hash, c.id_hash),
                   categories = s.categories, risk_level = s.risk_level,
                   guardian_situation = s.guardian_situation, school = s.school,
                   has_disability = s.has_disability, updated_at = now()
              FROM src s
             WHERE c.ledger_id = s.ledger_id
               AND (c.household_id, c.name, c.sex, c.birth_date, c.id_hash, c.categories,
                    c.risk_level, c.guardian_situation, c.school, c.has_disability)
                   IS DISTINCT FROM (s.household_id, s.name, s.sex, s.birth_date,
                    COALESCE(s.id_hash, c.id_hash), s.categories, s.risk_level,
                    s.guardian_situation, s.school, s.has_disability)
            RETURNING false AS created
        ), ins AS (
            INSERT INTO child (ledger_id, household_id, name, sex, birth_date, id_masked,
                               id_hash, categories, risk_level, guardian_situation, school,
                               has_disability, county_code)
            SELECT s.ledger_id, s.household_id, s.name, s.sex, s.birth_date, s.id_masked,
                   s.id_hash, s.categories, s.risk_level, s.guardian_situation, s.school,
                   s.has_disability, s.county_code
              FROM src s
             WHERE NOT EXISTS (SELECT FROM child_key k WHERE k.ledger_id = s.ledger_id)
            RETURNING true AS created
        )
        SELECT created FROM up UNION ALL SELECT created FROM ins
    """,
    "facilities": """
        INSERT INTO facility (ledger_id, type, name, address, geom, phone, capacity, occupied,
                              open_24h, min_age, max_age, sex_accepted, accepts_disability)
        SELECT ledger_id, type, name, address, ST_GeomFromEWKT(geom), phone, capacity::int,
               occupied::int, open_24h::boolean, min_age::int, max_age::int, sex_accepted,
               accepts_disability::boolean
          FROM ledger_stage
        ON CONFLICT (ledger_id) DO UPDATE
           SET type = EXCLUDED.type, name = EXCLUDED.name, address = EXCLUDED.address,
               geom = EXCLUDED.geom, phone = EXCLUDED.phone, capacity = EXCLUDED.capacity,
               occupied = EXCLUDED.occupied, open_24h = EXCLUDED.open_24h,
               min_age = EXCLUDED.min_age, max_age = EXCLUDED.max_age,
               sex_accepted = EXCLUDED.sex_accepted,
               accepts_disability = EXCLUDED.accepts_disability
         WHERE (facility.type, facility.name, facility.address, ST_AsEWKB(facility.geom),
                facility.phone, facility.capacity, facility.occupied, facility.open_24h,
                facility.min_age, facility.max_age, facility.sex_accepted,
                facility.accepts_disability)
               IS DISTINCT FROM (EXCLUDED.type, EXCLUDED.name, EXCLUDED.address,
                ST_AsEWKB(EXCLUDED.geom), EXCLUDED.phone, EXCLUDED.capacity, EXCLUDED.occupied,
                EXCLUDED.open_24h, EXCLUDED.min_age, EXCLUDED.max_age, EXCLUDED.sex_accepted,
                EXCLUDED.accepts_disability)
        RETURNING (xmax = 0) AS created
    """,
    "workers": """
        WITH up AS (
            INSERT INTO worker (ledger_id, role, name, phone, unit_id, office)
            SELECT s.ledger_id, s.role, s.name, s.phone, u.id,
                   CASE WHEN s.geom IS NULL THEN NULL ELSE ST_GeomFromEWKT(s.geom) END
              FROM ledger_stage s JOIN unit u ON u.code = s.unit
            ON CONFLICT (ledger_id) DO UPDATE
               SET role = EXCLUDED.role, name = EXCLUDED.name, phone = EXCLUDED.phone,
                   unit_id = EXCLUDED.unit_id, office = EXCLUDED.office
             WHERE (worker.role, worker.name, worker.phone, worker.unit_id,
                    ST_AsEWKB(worker.office))
                   IS DISTINCT FROM (EXCLUDED.role, EXCLUDED.name, EXCLUDED.phone,
                    EXCLUDED.unit_id, ST_AsEWKB(EXCLUDED.office))
            RETURNING id, ledger_id, (xmax = 0) AS created
        )
        SELECT created FROM up
    """,
}


def _stage(t: pd.DataFrame, kind: str) -> pd.DataFrame:
    if kind == "facilities":
        return pd.DataFrame({
            "ledger_id": t["ledger_id"], "type": t["type_code"], "name": t["name"],
            "address": t["address"].replace("", None),
            "geom": point_ewkt(t["wlon"].to_numpy(), t["wlat"].to_numpy()).to_numpy(),
            "phone": t["phone"].replace("", None), "capacity": t["cap"], "occupied": t["occ"],
            "open_24h": t["h24"], "min_age": t["amin"], "max_age": t["amax"],
            "sex_accepted": t["sex_code"], "accepts_disability": t["disab"]})
    if kind == "workers":
        geom = point_ewkt(t["wlon"].to_numpy(), t["wlat"].to_numpy()).to_numpy()
        return pd.DataFrame({
            "ledger_id": t["ledger_id"], "role": t["role_code"], "name": t["name"],
            "phone": t["phone"].replace("", None), "unit": t["unit"],
            "units": t["unit_list"],
            "geom": np.where(t["wlon"].notna().to_numpy(), geom, None)})
    if kind == "households":
        return pd.DataFrame({
            "ledger_id": t["ledger_id"], "address": t["address"],
            "geom": point_ewkt(t["wlon"].to_numpy(), t["wlat"].to_numpy()).to_numpy(),
            "head_name": t["head_name"].replace("", None),
            "phone": t["phone"].replace("", None), "flags": t["flag_codes"]})
    return pd.DataFrame({
        "ledger_id": t["ledger_id"], "household": t["household"], "name": t["name"],
        "sex": t["sex_code"], "birth_date": t["born"].astype(str), "id_masked": t["id_masked"],
        "id_hash": t["id_hash"], "categories": t["category_codes"], "risk_level": t["risk_code"],
        "guardian_situation": t["guardian_situation"].replace("", None),
        "school": t["school"].replace("", None), "has_disability": t["disability"]})


def acting_user(conn: Connection, username: str | None, label: str = "cli"):
    """Who an import from the command line acts as: the active login ``username`` (its
    role and unit), or else the admin of the county, audited as ``label``."""
    from geo.office.users import User, get_user_by_name

    if username:
        user = get_user_by_name(conn, username)
        if user is None:
            raise NotFound(f"no active login named {username}", field="as")
        return user
    counties = conn.execute(sa.text(
        "SELECT id, code FROM unit WHERE level = 'county' ORDER BY code LIMIT 2")).all()
    if len(counties) != 1:
        raise InvalidInput("the database holds " + ("no county" if not counties else
                           "several counties") + ": name a login to act as with --as",
                           field="as")
    return User(id=None, username=label, role=access.COUNTY_ADMIN, unit_id=counties[0].id,
                unit_code=counties[0].code, unit_level="county")


def import_ledger(bind: Engine | Connection, path: str | Path, kind: str, cfg: dict, *,
                  role: str, scope_id: int, crs: str = "wgs84", dry_run: bool = False,
                  strict: bool = False, today: dt.date | None = None,
                  progress=None) -> LedgerReport:
    """Check every row of ``path``; write the valid ones (see the module docstring).

    The importer acts with ``role`` over the unit ``scope_id`` (their own unit), under
    the same rules as the API's writes: a kind their role may not write is refused as a
    whole (:class:`Forbidden`); a row about a record, point or unit outside their area is
    an error on that row which tells nothing about the other record. An importer who may
    not see sensitive categories (their export left them out) keeps a child's existing
    sensitive categories rather than erasing them.

    ``progress(stage, done, total)``, when given, is called as the work goes on: stage
    ``read``, ``validate`` and ``write`` with the rows done of the rows to do (the import
    page shows it; geo/ledgers/jobs.py)."""
    progress = progress or (lambda stage, done, total: None)
    if kind not in COLUMNS:
        raise InvalidInput(f"unknown ledger kind '{kind}' (one of {', '.join(COLUMNS)})",
                           field="kind")
    if role not in WRITERS[kind]:
        raise Forbidden(f"the {role} role may not import {kind}", field="kind")
    keep_sensitive = role not in access.SEES_SENSITIVE_CATEGORIES
    if crs not in CRS_NAMES:
        raise InvalidInput(f"unknown coordinate system '{crs}' (one of {', '.join(CRS_NAMES)})",
                           field="crs")
    progress("read", 0, None)
    table = read_table(path, kind)
    progress("read", len(table), len(table))
    report = LedgerReport(kind=kind, rows=len(table), dry_run=dry_run)
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return _run(conn, table, kind, cfg, crs, dry_run, strict, today, report,
                        keep_sensitive, scope_id, progress)
    return _run(bind, table, kind, cfg, crs, dry_run, strict, today, report, keep_sensitive,
                scope_id, progress)


def _run(conn, table, kind, cfg, crs, dry_run, strict, today, report,
         keep_sensitive, scope_id, progress=lambda *a: None) -> LedgerReport:
    trans = conn.begin_nested() if conn.in_transaction() else conn.begin()
    with trans:
        rows = _Rows(kind, table)
        progress("validate", 0, len(table))
        if kind == "households":
            _check_households(conn, rows, crs, scope_id)
        elif kind == "facilities":
            _check_facilities(conn, rows, crs)
        elif kind == "workers":
            _check_workers(conn, rows, crs, scope_id)
        else:
            _check_children(conn, rows, cfg["rules"], cfg["id_key"], today or dt.date.today(),
                            scope_id)
        report.errors = sorted(rows.errors, key=lambda e: (e["row"], e["column"]))
        good = table[rows.valid_mask()]
        progress("validate", len(table), len(table))
        if (strict and report.errors) or good.empty:
            trans.rollback()
            return report
        # A dry run writes too, to count new, changed and unchanged rows, and rolls back.
        progress("write", 0, len(good))
        conn.execute(sa.text("DROP TABLE IF EXISTS ledger_stage"))
        stage = _stage(good, kind)
        conn.execute(sa.text(
            "CREATE TEMP TABLE ledger_stage (" + ", ".join(f"{c} text" for c in stage.columns)
            + ")"))
        copy_frame(conn.connection.dbapi_connection.cursor(), "ledger_stage", stage)
        changed = [r.created for r in conn.execute(sa.text(_UPSERT[kind]), {
            "keep_sensitive": keep_sensitive, "sensitive": sorted(vocab.SENSITIVE_CATEGORIES)})]
        if kind == "workers":
            conn.execute(sa.text(_WORKER_UNITS))
        conn.execute(sa.text("DROP TABLE ledger_stage"))
        report.created = sum(changed)
        report.updated = len(changed) - report.created
        report.unchanged = len(good) - len(changed)
        progress("write", len(good), len(good))
        if dry_run:
            trans.rollback()
            return report
        report.written = True
        trans.commit()
    return report

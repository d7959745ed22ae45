"""The lists behind the figures (工作清单): overdue children, children never visited,
cells never visited or overdue, flagged visits, workers over the caseload limit, cells
without a grid worker and open placements. Each list is one SQL query over the unit's
area; :func:`run` filters (category, risk, date), sorts by any of its columns and pages
it, :func:`count` gives the figure. Who may read which list is in ``LISTS[...].roles``
(sets from geo.access); the API applies field rights and the planner's suppression.

>>> rows, total = run(conn, rules, "overdue", unit="510411", sort="days_overdue")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import sqlalchemy as sa
from openpyxl import Workbook
from sqlalchemy.engine import Connection

from geo import access, vocab
from geo.cases.lifecycle import EFFECTIVE
from geo.config import risk_levels_anywhere
from geo.errors import InvalidInput, NotFound
from geo.ledgers.spreadsheet import neutralise_row
from geo.local_rules import by_county
from geo.planning.coverage import STAFFED_BY
from geo.scope import CELL_IN_SCOPE, check_day, county_codes, find_unit
from geo.visits.due import _DUE_SQL, _params

# The tables are partitioned by county (migrations 0018, 0019): a list of a unit names
# its counties (:counties, NULL for all) so only their partitions are read.
_IN = "= ANY(CAST(:counties AS varchar[]))"
_COUNTY_OF = "(CAST(:counties AS varchar[]) IS NULL OR {} " + _IN + ")"

_CHILD_COLS = (("name", "姓名"), ("risk_level", "风险等级"), ("categories", "类别"),
               ("village", "村/社区"), ("cell", "网格"), ("address", "住址"))

_DUE_CHILDREN = f"""
    WITH d AS ({_DUE_SQL})
    SELECT d.id AS child_id, d.name, d.risk_level, d.categories, v.name AS village,
           c.name AS cell, h.address, (d.last_visit AT TIME ZONE :tz)::date AS last_visit,
           d.registered_on, d.next_due, d.days_overdue, d.overdue,
           ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat
      FROM d JOIN household h ON h.id = d.household_id
      JOIN unit c ON c.id = d.cell_id JOIN unit v ON v.id = d.village_id
"""

_CELLS = f"""
    WITH d AS ({_DUE_SQL})
    SELECT c.id AS cell_id, c.code, c.name AS cell, v.name AS village,
           count(d.id)::int AS children,
           (count(d.id) FILTER (WHERE d.overdue))::int AS overdue_children,
           CAST(:as_of AS date) - (max(d.last_visit) AT TIME ZONE :tz)::date
               AS days_since_visit,
           CASE WHEN count(d.last_visit) = 0 THEN 'never_visited' ELSE 'overdue' END
               AS status,
           ST_X(ST_PointOnSurface(c.geom)) AS lon, ST_Y(ST_PointOnSurface(c.geom)) AS lat
      FROM unit c JOIN d ON d.cell_id = c.id JOIN unit v ON v.id = c.village_id
     GROUP BY c.id, v.name
    HAVING count(d.last_visit) = 0 OR bool_or(d.overdue)
"""

_FLAGGED = f"""
    SELECT vi.id AS visit_id, (vi.visited_at AT TIME ZONE :tz) AS visited_at,
           ch.id AS child_id, ch.name, ch.risk_level, ch.categories, w.name AS worker,
           vi.flag_reason, v.name AS village, h.address,
           ST_X(COALESCE(vi.geom, h.geom)) AS lon, ST_Y(COALESCE(vi.geom, h.geom)) AS lat
      FROM visit vi JOIN child ch ON ch.id = vi.child_id
      JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id
      JOIN unit v ON v.id = c.village_id LEFT JOIN worker w ON w.id = vi.worker_id
     WHERE vi.flagged AND {CELL_IN_SCOPE}
"""

_CASELOAD = f"""
    SELECT w.id AS worker_id, w.name AS worker, u.name AS unit,
           count(DISTINCT ch.id)::int AS children, count(DISTINCT c.id)::int AS cells,
           COALESCE(max((CAST(:caseload_limits AS jsonb) ->> c.county_id::text)::int),
                    CAST(:caseload_limit AS int)) AS caseload_limit,
           ST_X(w.office) AS lon, ST_Y(w.office) AS lat
      FROM worker w JOIN unit u ON u.id = w.unit_id
      JOIN worker_unit wu ON wu.worker_id = w.id
      JOIN unit c ON c.level = 'cell' AND {STAFFED_BY}
      LEFT JOIN household h ON h.cell_id = c.id
      LEFT JOIN child ch ON ch.household_id = h.id
     WHERE w.role = 'grid_worker' AND w.active AND {CELL_IN_SCOPE}
     GROUP BY w.id, u.name
    HAVING count(DISTINCT ch.id) > COALESCE(
           max((CAST(:caseload_limits AS jsonb) ->> c.county_id::text)::int),
           CAST(:caseload_limit AS int))
"""

_UNSTAFFED = f"""
    SELECT c.id AS cell_id, c.code, c.name AS cell, v.name AS village,
           count(ch.id)::int AS children,
           ST_X(ST_PointOnSurface(c.geom)) AS lon, ST_Y(ST_PointOnSurface(c.geom)) AS lat
      FROM unit c JOIN unit v ON v.id = c.village_id
      JOIN household h ON h.cell_id = c.id JOIN child ch ON ch.household_id = h.id
     WHERE c.level = 'cell' AND {CELL_IN_SCOPE}
       AND NOT EXISTS (
           SELECT 1 FROM worker_unit wu JOIN worker w ON w.id = wu.worker_id
            WHERE w.role = 'grid_worker' AND w.active AND {STAFFED_BY})
     GROUP BY c.id, v.name
"""

_PLACEMENTS = f"""
    SELECT p.id AS placement_id, ch.id AS child_id, ch.name, ch.risk_level, ch.categories,
           f.name AS facility, (p.placed_at AT TIME ZONE :tz)::date AS placed_on,
           (CAST(:as_of AS date) - (p.placed_at AT TIME ZONE :tz)::date) AS days,
           p.reason, v.name AS village, ST_X(f.geom) AS lon, ST_Y(f.geom) AS lat
      FROM placement p JOIN child ch ON ch.id = p.child_id
      JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id
      JOIN unit v ON v.id = c.village_id JOIN facility f ON f.id = p.facility_id
     WHERE p.status = 'active' AND {CELL_IN_SCOPE}
       AND {_COUNTY_OF.format("p.county_code")} AND {_COUNTY_OF.format("ch.county_code")}
       AND {_COUNTY_OF.format("h.county_code")}
"""


# Open cases of children under 18 without an effective guardian on the day (none
# recorded, or none able and available: geo.cases.lifecycle.EFFECTIVE), with the day the
# first absent guardian is back. No guardian names here: the child's record has them.
_NO_GUARDIAN = f"""
    SELECT ch.id AS child_id, ch.name, ch.risk_level, ch.categories, v.name AS village,
           c.name AS cell, h.address,
           (SELECT count(*) FROM guardian g WHERE g.child_id = ch.id
               AND {_COUNTY_OF.format("g.county_code")})::int AS guardians,
           (SELECT min(g.unavailable_until) FROM guardian g WHERE g.child_id = ch.id
               AND {_COUNTY_OF.format("g.county_code")}
               AND g.able_to_care AND g.unavailable_until >= :as_of) AS back_on,
           ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat
      FROM child ch JOIN household h ON h.id = ch.household_id
      JOIN unit c ON c.id = h.cell_id JOIN unit v ON v.id = c.village_id
     WHERE {CELL_IN_SCOPE} AND ch.case_status <> 'closed'
       AND {_COUNTY_OF.format("ch.county_code")} AND {_COUNTY_OF.format("h.county_code")}
       AND (ch.birth_date + interval '18 years')::date > :as_of
       AND NOT EXISTS (SELECT 1 FROM guardian g WHERE g.child_id = ch.id
                       AND {_COUNTY_OF.format("g.county_code")}
                       AND {EFFECTIVE.replace(":day", ":as_of")})
"""


@dataclass(frozen=True)
class ListSpec:
    name: str
    title: str
    roles: frozenset
    columns: tuple  # (key, Chinese header)
    sql: str
    key: str  # the row's id column
    sort: str  # default sort column
    desc: bool = True
    where: str = "true"  # condition on the query's rows
    filters: tuple = ()  # of "category", "risk", "as_of", "since", "until"
    date_col: str | None = None  # what since/until filter
    person: bool = True  # rows name people: planners get 403
    record: str | None = None  # the row's record page, {id} from ``record_key``
    record_key: str | None = None
    planner_fields: tuple = ()  # counts suppressed for planners
    # Links on each row for some roles: (label, href with {id} from key, key, roles).
    actions: tuple = ()


LISTS = {s.name: s for s in [
    ListSpec("overdue", "逾期未走访儿童", access.READS_DUE_LISTS,
             _CHILD_COLS + (("last_visit", "上次走访"), ("next_due", "应访日期"),
                            ("days_overdue", "逾期天数")),
             _DUE_CHILDREN, "child_id", "days_overdue", where="q.overdue",
             filters=("category", "risk", "as_of"),
             record="/record/child/{id}", record_key="child_id"),
    ListSpec("never_visited", "从未走访儿童", access.READS_DUE_LISTS,
             _CHILD_COLS + (("registered_on", "登记日期"), ("next_due", "应访日期"),
                            ("days_overdue", "逾期天数")),
             _DUE_CHILDREN, "child_id", "days_overdue", where="q.last_visit IS NULL",
             filters=("category", "risk", "as_of"),
             record="/record/child/{id}", record_key="child_id"),
    ListSpec("cells", "从未走访或逾期网格", access.READS_CELL_LISTS,
             (("cell", "网格"), ("code", "网格编码"), ("village", "村/社区"),
              ("status", "状态"), ("children", "在册儿童"), ("overdue_children", "逾期儿童"),
              ("days_since_visit", "距上次走访天数")),
             _CELLS, "cell_id", "overdue_children", filters=("as_of",), person=False,
             planner_fields=("children", "overdue_children")),
    ListSpec("flagged", "存疑走访", access.READS_FLAGGED,
             (("visited_at", "走访时间"), ("name", "儿童"), ("risk_level", "风险等级"),
              ("categories", "类别"), ("worker", "网格员"), ("flag_reason", "存疑原因"),
              ("village", "村/社区"), ("address", "住址")),
             _FLAGGED, "visit_id", "visited_at", filters=("category", "risk", "since", "until"),
             date_col="visited_at", record="/record/child/{id}", record_key="child_id"),
    ListSpec("caseload", "超负荷网格员", access.READS_CASELOADS,
             (("worker", "网格员"), ("unit", "所属单位"), ("children", "负责儿童"),
              ("cells", "负责网格"), ("caseload_limit", "上限")),
             _CASELOAD, "worker_id", "children",
             actions=(("交接网格", "/workers/{id}/handover", "worker_id",
                       access.WRITES_WORKERS),)),
    ListSpec("unstaffed", "无网格员的网格", access.SEES_COVERAGE,
             (("cell", "网格"), ("code", "网格编码"), ("village", "村/社区"),
              ("children", "在册儿童")),
             _UNSTAFFED, "cell_id", "children", person=False, planner_fields=("children",)),
    ListSpec("placements", "在住安置", access.PLACES_CHILDREN,
             (("name", "儿童"), ("risk_level", "风险等级"), ("categories", "类别"),
              ("facility", "安置机构"), ("placed_on", "安置日期"), ("days", "已住天数"),
              ("reason", "原因"), ("village", "村/社区")),
             _PLACEMENTS, "placement_id", "placed_on",
             filters=("category", "risk", "since", "until"), date_col="placed_on",
             record="/record/child/{id}", record_key="child_id"),
    ListSpec("no_guardian", "无有效监护人的儿童", access.READS_CASES,
             (("name", "姓名"), ("risk_level", "风险等级"), ("categories", "类别"),
              ("village", "村/社区"), ("cell", "网格"), ("guardians", "已登记监护人"),
              ("back_on", "监护人最早恢复日期"), ("address", "住址")),
             _NO_GUARDIAN, "child_id", "village", desc=False,
             filters=("category", "risk", "as_of"),
             record="/record/child/{id}", record_key="child_id"),
]}

FLAG_LABELS = {"no_gps": "无定位", "gps_far_from_household": "离家过远",
               "impossible_travel": "速度不可能"}
STATUS_LABELS = {"never_visited": "从未走访", "overdue": "逾期"}
MAX_EXPORT = 100_000


def spec(name: str) -> ListSpec:
    if name not in LISTS:
        raise NotFound(f"no list {name} (one of {', '.join(LISTS)})", field="name")
    return LISTS[name]


def _query(conn: Connection, rules: dict, s: ListSpec, unit: str, tz: str, f: dict
           ) -> tuple[str, dict]:
    """The list's SQL with its filters, and the parameters."""
    for key in ("category", "risk", "as_of", "since", "until"):
        if f.get(key) is not None and key not in s.filters:
            raise InvalidInput(f"the {s.name} list has no {key} filter", field=key)
    if f.get("risk") is not None and f["risk"] not in (
            [*rules["visit_interval_days"], *risk_levels_anywhere(rules)]):
        raise InvalidInput(f"unknown risk level {f['risk']}", field="risk")
    if f.get("category") is not None and f["category"] not in vocab.CHILD_CATEGORIES:
        raise InvalidInput(f"unknown category {f['category']}", field="category")
    for key in ("since", "until"):
        check_day(f.get(key), key, rules, tz)
    params = _params(conn, rules, f.get("as_of"), unit, tz)
    params.update(category=f.get("category"), risk=f.get("risk"), since=f.get("since"),
                  until=f.get("until"), caseload_limit=int(rules["caseload_limit"]),
                  caseload_limits=by_county(conn, rules, "caseload_limit"),
                  counties=county_codes(conn, params["unit_id"]) if params["unit_id"] else None)
    where = [s.where]
    if "category" in s.filters:
        where.append("(CAST(:category AS text) IS NULL OR :category = ANY(q.categories))")
    if "risk" in s.filters:
        where.append("(CAST(:risk AS text) IS NULL OR q.risk_level = :risk)")
    if s.date_col:
        where.append(f"(CAST(:since AS date) IS NULL OR q.{s.date_col}::date >= :since)")
        where.append(f"(CAST(:until AS date) IS NULL OR q.{s.date_col}::date <= :until)")
    return f"SELECT q.* FROM ({s.sql}) q WHERE {' AND '.join(where)}", params


def count(conn: Connection, rules: dict, name: str, unit: str, tz: str = "Asia/Shanghai",
          **filters) -> int:
    sql, params = _query(conn, rules, spec(name), unit, tz, filters)
    return conn.execute(sa.text(f"SELECT count(*) FROM ({sql}) n"), params).scalar_one()


def run(conn: Connection, rules: dict, name: str, unit: str, tz: str = "Asia/Shanghai", *,
        sort: str | None = None, order: str | None = None, limit: int | None = 50,
        offset: int = 0, **filters) -> tuple[list[dict], int]:
    """One page of the list (all rows with ``limit`` None) and the number of rows."""
    s = spec(name)
    sort = sort or s.sort
    columns = [k for k, _ in s.columns]
    if sort not in columns:
        raise InvalidInput(f"sort must be one of {', '.join(columns)}, not '{sort}'",
                           field="sort")
    if order not in (None, "asc", "desc"):
        raise InvalidInput("order must be asc or desc", field="order")
    desc = s.desc if order is None else order == "desc"
    sql, params = _query(conn, rules, s, unit, tz, filters)
    params.update(limit=MAX_EXPORT if limit is None else limit, offset=offset)
    rows = conn.execute(sa.text(
        f"SELECT l.*, count(*) OVER () AS total_rows FROM ({sql}) l "
        f"ORDER BY l.{sort} {'DESC' if desc else 'ASC'} NULLS LAST, l.{s.key} "
        f"LIMIT :limit OFFSET :offset"), params).mappings().all()
    total = rows[0]["total_rows"] if rows else (count(conn, rules, name, unit, tz, **filters)
                                                if offset else 0)
    out = []
    for r in rows:
        item = {k: v for k, v in r.items() if k not in ("total_rows", "overdue")}
        item["id"] = item[s.key]
        if s.record:
            item["record"] = s.record.format(id=item[s.record_key])
        out.append(item)
    return out, total


def row_actions(s: ListSpec, role: str, row: dict) -> list[dict]:
    """The links of ``s.actions`` that ``role`` may follow on ``row`` (label, href)."""
    return [{"label": label, "href": href.format(id=int(row[key]))}
            for label, href, key, roles in s.actions if role in roles]


def cell_text(key: str, value) -> object:
    """A cell of a list as people read it (Chinese labels for codes)."""
    if value is None:
        return ""
    if key == "categories":
        return "、".join(vocab.CHILD_CATEGORIES.get(c, c) for c in value)
    if key == "risk_level":
        return vocab.RISK_LABELS.get(value, value)
    if key == "flag_reason":
        return "、".join(FLAG_LABELS.get(f, f) for f in value.split(","))
    if key == "status":
        return STATUS_LABELS.get(value, value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def to_xlsx(name: str, rows: list[dict], unit_name: str) -> bytes:
    """The rows as a workbook (text cells neutralised), with the position of each row."""
    s = spec(name)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(s.title[:31])
    ws.append(neutralise_row([f"{unit_name} {s.title}"]))
    ws.append(neutralise_row([label for _, label in s.columns] + ["经度", "纬度"]))
    for r in rows:
        ws.append(neutralise_row([cell_text(k, r.get(k)) for k, _ in s.columns]
                                 + [r.get("lon"), r.get("lat")]))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def unit_name(conn: Connection, code: str) -> str:
    return find_unit(conn, code).name

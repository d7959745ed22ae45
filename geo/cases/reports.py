"""Discovery reports (发现报告) and the three-level response (三级响应).

A report says who reported what about which child, where. The county's rules
(configuration ``reports``) decide who must answer it: by default an ``urgent`` report
goes to the county within 1 hour, a ``serious`` one to the township within 24 hours, a
``general`` one to the village within 72 hours. The responsible unit is the report's
village's ancestor at that level. A report nobody accepts by its deadline is escalated
one level (village → township → county) with a new deadline, by :func:`escalate_due`:
``gridmap reports escalate [--now ISO]`` runs one pass, and ``gridmap serve`` runs one a
minute in a background thread (:class:`EscalationLoop`). The pass takes its rows with
``FOR UPDATE SKIP LOCKED``, so several processes (or a user accepting a report at the
same moment) never escalate a report twice; all state is in the database, so nothing is
lost on a restart.

Every change writes a row to the report's append-only history (``report_event``); the
API writes the audit log. Scoping follows the children's rules: a report's area is its
village, and a user sees reports in their unit and below (NotFound elsewhere).

(Not to be confused with geo/reporting/monthly.py, the monthly report.)
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geo import vocab
from geo.access import in_scope_sql
from geo.errors import Conflict, InvalidInput, NotFound
from geo.facilities.nearest import check_point
from geo.grid.chinacrs import CRS_NAMES, to_wgs84
from geo.people.children import find_child
from geo.scope import county_codes, today
from geo.store.metrics import ESCALATION_PASSES, REPORTS_ESCALATED
from geo.visits.due import recount_grown_up

log = logging.getLogger(__name__)

LEVELS = list(vocab.REPORT_LEVELS)  # village, township, county: escalation goes right
OPEN = vocab.REPORT_OPEN_STATUSES
SYSTEM = "gridmap-escalation"
# SQL: the report's village (alias v) lies in the unit bound as :scope_id.
# A report lies in scope when its cell is the scope unit or its village lies under it.
IN_SCOPE = f"(:scope_id = r.cell_id OR {in_scope_sql('v')})"
# Reports are partitioned by their village's county (migration 0019): naming the scope's
# counties (bound as :counties, geo.scope.county_codes) lets the planner read only theirs.
IN_COUNTIES = "r.county_code = ANY(CAST(:counties AS varchar[]))"
_UNIT_AT = {"village": "v.id", "township": "v.township_id", "county": "v.county_id"}

REPORTER_FIELDS = ("reporter_name", "reporter_phone", "reporter_org")


def rules(cfg: dict) -> dict:
    return cfg["reports"]


def _now(now: dt.datetime | None) -> dt.datetime:
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise InvalidInput("time must carry a time zone (e.g. 2026-11-24T10:00+08:00)",
                           field="now")
    return now


def route(cfg: dict, severity: str) -> tuple[str, float]:
    """The level that must answer a report of ``severity`` and the hours it has to accept."""
    r = rules(cfg)
    if severity not in vocab.REPORT_SEVERITIES:
        raise InvalidInput(f"unknown severity '{severity}' "
                           f"(one of {', '.join(vocab.REPORT_SEVERITIES)})", field="severity")
    level = r["route"][severity]
    if level not in vocab.REPORT_LEVELS:
        raise InvalidInput(f"configuration: reports.route.{severity} = '{level}' is not a "
                           f"level", field="severity")
    return level, float(r["accept_hours"][severity])


def next_level(level: str) -> str | None:
    i = LEVELS.index(level)
    return LEVELS[i + 1] if i + 1 < len(LEVELS) else None


# -- writing -----------------------------------------------------------------------------
def _event(conn: Connection, report_id: int, user, action: str, *, from_level=None,
           to_level=None, from_status=None, to_status=None, note=None, at=None) -> None:
    conn.execute(sa.text(
        "INSERT INTO report_event (report_id, at, user_id, username, action, from_level, "
        "to_level, from_status, to_status, note, county_code) VALUES (:r, COALESCE(:at, now()), "
        ":uid, :un, :a, :fl, :tl, :fs, :ts, :note, "
        "(SELECT county_code FROM report_key WHERE id = :r))"),
        {"r": report_id, "at": at, "uid": getattr(user, "id", None),
         "un": getattr(user, "username", None) or SYSTEM, "a": action, "fl": from_level,
         "tl": to_level, "fs": from_status, "ts": to_status, "note": note})


def _village_in_scope(conn: Connection, code: str, scope_id: int) -> int:
    row = conn.execute(sa.text(
        "SELECT v.id FROM unit v WHERE v.code = :code AND v.level = 'village' AND "
        f"{in_scope_sql('v')}"),
        {"code": str(code), "scope_id": scope_id}).first()
    if row is None:
        raise NotFound(f"no village with code {code} in your area", field="village")
    return row.id


def _village_of_point(conn: Connection, lon: float, lat: float, scope_id: int) -> int:
    row = conn.execute(sa.text(
        f"SELECT v.id, {in_scope_sql('c')} AS mine "
        "FROM unit c JOIN unit v ON v.id = c.village_id "
        "WHERE c.id = gridmap_cell_at(ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
        {"x": lon, "y": lat, "scope_id": scope_id}).first()
    if row is None:
        raise InvalidInput(f"point ({lon:.6f}, {lat:.6f}) lies in no grid cell", field="lon")
    if not row.mine:
        raise InvalidInput(f"point ({lon:.6f}, {lat:.6f}) lies outside your area",
                           field="lon")
    return row.id


def _place(conn: Connection, data: dict, scope_id: int, child: dict | None):
    """(lon, lat, village_id) of a new report, in WGS84, from a point in any of the
    Chinese coordinate systems, an address in a village, or the child's home."""
    lon, lat = data.get("lon"), data.get("lat")
    if (lon is None) != (lat is None):
        raise InvalidInput("give both lon and lat, or neither",
                           field="lat" if lat is None else "lon")
    if lon is not None:
        crs = (data.get("crs") or "wgs84").lower()
        if crs not in CRS_NAMES:
            raise InvalidInput(f"unknown coordinate system '{crs}' "
                               f"(one of {', '.join(CRS_NAMES)})", field="crs")
        x, y = to_wgs84(float(lon), float(lat), crs)
        x, y = check_point(conn, float(x), float(y))
        village = _village_of_point(conn, x, y, scope_id)
        if data.get("village"):
            asked = _village_in_scope(conn, data["village"], scope_id)
            if asked != village:
                raise InvalidInput("the point lies in another village than the one given",
                                   field="village")
        return x, y, village
    if data.get("village"):
        if not data.get("address"):
            raise InvalidInput("a report placed by village needs an address", field="address")
        return None, None, _village_in_scope(conn, data["village"], scope_id)
    if child is not None:
        return child["lon"], child["lat"], _village_of_point(conn, child["lon"], child["lat"],
                                                             scope_id)
    raise InvalidInput("a report needs a place: lon and lat, or an address and a village "
                       "code, or a registered child", field="lon")


def create_report(conn: Connection, data: dict, cfg: dict, user,
                  now: dt.datetime | None = None) -> int:
    """Validate and write a report and its first history row; returns its id."""
    now = _now(now)
    r = rules(cfg)
    if data.get("source") not in r["sources"]:
        raise InvalidInput(f"unknown source '{data.get('source')}' "
                           f"(one of {', '.join(r['sources'])})", field="source")
    if data.get("harm") not in vocab.REPORT_HARMS:
        raise InvalidInput(f"unknown harm '{data.get('harm')}' "
                           f"(one of {', '.join(vocab.REPORT_HARMS)})", field="harm")
    level, hours = route(cfg, data.get("severity"))
    reported_at = data.get("reported_at") or now
    if reported_at.tzinfo is None:
        raise InvalidInput("reported_at must carry a time zone", field="reported_at")
    if reported_at > now + dt.timedelta(minutes=5):
        raise InvalidInput("reported_at lies in the future", field="reported_at")
    if reported_at < now - dt.timedelta(days=366 * 5):
        raise InvalidInput("reported_at lies more than five years back", field="reported_at")
    child = None
    if data.get("child_id") is not None:
        child = find_child(conn, data["child_id"], user.unit_id)
    lon, lat, village_id = _place(conn, data, user.unit_id, child)
    rid = conn.execute(sa.text(
        f"""
        INSERT INTO report (source, reporter_name, reporter_phone, reporter_org, reported_at,
                            geom, address, village_id, child_id, child_name, child_sex,
                            child_age, child_disability, harm, severity, description, level,
                            unit_id, deadline, created_by, county_code)
        SELECT :source, :rname, :rphone, :rorg, :reported_at,
               CASE WHEN CAST(:x AS float8) IS NULL THEN NULL
                    ELSE ST_SetSRID(ST_MakePoint(:x, :y), 4326) END,
               :address, v.id, :child_id, :cname, :csex, :cage, :cdis, :harm, :severity,
               :description, :level, {_UNIT_AT[level]},
               CAST(:reported_at AS timestamptz) + make_interval(secs => :hours * 3600), :uid,
               gridmap_cell_county(v.id)
          FROM unit v WHERE v.id = :village
        RETURNING id"""),
        {"source": data["source"], "rname": data.get("reporter_name"),
         "rphone": data.get("reporter_phone"), "rorg": data.get("reporter_org"),
         "reported_at": reported_at, "x": lon, "y": lat, "address": data.get("address"),
         "village": village_id, "child_id": data.get("child_id"),
         "cname": data.get("child_name"), "csex": data.get("child_sex"),
         "cage": data.get("child_age"), "cdis": data.get("child_disability"),
         "harm": data["harm"], "severity": data["severity"],
         "description": data.get("description") or "", "level": level, "hours": hours,
         "uid": getattr(user, "id", None)}).scalar_one()
    _event(conn, rid, user, "create", to_level=level, to_status="new",
           note=f"{vocab.REPORT_SEVERITIES[data['severity']]}: "
                f"{vocab.REPORT_LEVELS[level]} {hours:g} 小时内受理")
    return rid


# -- reading -----------------------------------------------------------------------------
_REPORT = """
SELECT r.id, r.source, r.reporter_name, r.reporter_phone, r.reporter_org, r.reported_at,
       ST_X(r.geom) AS lon, ST_Y(r.geom) AS lat, r.address, c.code AS cell_code,
       v.code AS village_code, v.name AS village_name, r.child_id,
       COALESCE(ch.name, r.child_name) AS child_name, COALESCE(ch.sex, r.child_sex) AS child_sex,
       COALESCE(date_part('year', age(CAST(:now AS date), ch.birth_date))::int,
                r.child_age) AS child_age,
       COALESCE(ch.has_disability, r.child_disability) AS child_disability,
       r.harm, r.severity, r.description, r.level, u.code AS unit_code, u.name AS unit_name,
       r.deadline, r.status, r.accepted_at, r.closed_at, r.outcome, r.merged_into,
       r.created_at,
       CASE WHEN r.status = 'new'
            THEN EXTRACT(EPOCH FROM r.deadline - CAST(:now AS timestamptz))::int END
           AS seconds_left
  FROM report r
  JOIN unit v ON v.id = r.village_id
  JOIN unit u ON u.id = r.unit_id
  LEFT JOIN unit c ON c.id = r.cell_id
  LEFT JOIN child ch ON ch.id = r.child_id
"""


def find_report(conn: Connection, report_id: int, scope_id: int,
                now: dt.datetime | None = None) -> dict:
    """The report if its village lies under ``scope_id``; NotFound otherwise."""
    row = conn.execute(sa.text(_REPORT + f" WHERE r.id = :id AND {IN_SCOPE} AND {IN_COUNTIES}"),
                       {"id": report_id, "scope_id": scope_id, "now": _now(now),
                        "counties": county_codes(conn, scope_id)}).mappings().first()
    if row is None:
        raise NotFound(f"no report {report_id}", field="report_id")
    return dict(row)


def history(conn: Connection, report_id: int) -> list[dict]:
    """The report's history with that of every report merged into it, in the order it
    was written."""
    rows = conn.execute(sa.text(
        """
        WITH RECURSIVE merged(id) AS (
            SELECT CAST(:id AS integer)
            UNION SELECT r.id FROM report r JOIN merged m ON r.merged_into = m.id
        )
        SELECT e.report_id, e.at, e.username, e.action, e.from_level, e.to_level,
               e.from_status, e.to_status, e.note
          FROM report_event e JOIN merged m ON m.id = e.report_id
         ORDER BY e.id
        """), {"id": report_id}).mappings()
    return [dict(r) for r in rows]


def placements(conn: Connection, report_id: int) -> list[dict]:
    rows = conn.execute(sa.text(
        "SELECT p.id, p.child_id, p.status, p.placed_at, p.released_at, p.release_reason, "
        "f.id AS facility_id, f.name AS facility, f.type FROM placement p "
        "JOIN facility f ON f.id = p.facility_id WHERE p.report_id = :r "
        "ORDER BY p.placed_at"), {"r": report_id}).mappings()
    return [dict(r) for r in rows]


def redact(report: dict, role: str, sees_reporter: frozenset) -> dict:
    out = dict(report)
    if role not in sees_reporter:
        for key in REPORTER_FIELDS:
            out.pop(key, None)
    return out


def inbox(conn: Connection, scope_id: int, *, level: str | None, status: str = "open",
          now: dt.datetime | None = None, limit: int = 50, offset: int = 0) -> list[dict]:
    """Reports under ``scope_id`` at ``level`` (any when None) with ``status`` ("open":
    new, accepted or in progress; "all"; or one status), oldest deadline first."""
    if level is not None and level not in vocab.REPORT_LEVELS:
        raise InvalidInput(f"unknown level '{level}'", field="level")
    statuses = {"open": list(OPEN), "all": list(vocab.REPORT_STATUSES)}.get(status, [status])
    if not set(statuses) <= set(vocab.REPORT_STATUSES):
        raise InvalidInput(f"unknown status '{status}'", field="status")
    rows = conn.execute(sa.text(
        _REPORT + f""" WHERE {IN_SCOPE} AND {IN_COUNTIES}
           AND r.status = ANY(:statuses)
           AND (CAST(:level AS text) IS NULL OR r.level = :level)
         ORDER BY r.deadline, r.id LIMIT :limit OFFSET :offset"""),
        {"scope_id": scope_id, "counties": county_codes(conn, scope_id),
         "statuses": statuses, "level": level, "now": _now(now),
         "limit": limit, "offset": offset}).mappings()
    return [dict(r) for r in rows]


def counts(conn: Connection, scope_id: int, by: str, now: dt.datetime | None = None
           ) -> list[dict]:
    """Per unit at level ``by`` (township or village) under ``scope_id``: open reports,
    waiting to be accepted, overdue (waiting past the deadline), and urgent ones."""
    if by not in ("county", "township", "village"):
        raise InvalidInput("by must be county, township or village", field="by")
    col = {"county": "county_id", "township": "township_id"}.get(by, "id")
    rows = conn.execute(sa.text(
        f"""
        SELECT u.code, u.name,
               count(r.id) AS open_reports,
               count(r.id) FILTER (WHERE r.status = 'new') AS waiting,
               count(r.id) FILTER (WHERE r.status = 'new' AND r.deadline < :now) AS overdue,
               count(r.id) FILTER (WHERE r.severity = 'urgent') AS urgent
          FROM unit u
          LEFT JOIN unit v ON v.{col} = u.id AND v.level = 'village'
          LEFT JOIN report r ON r.village_id = v.id AND r.status = ANY(:open)
               AND {IN_COUNTIES}
         WHERE u.level = :by AND {in_scope_sql('u')}
         GROUP BY u.id, u.code, u.name ORDER BY u.code
        """), {"by": by, "scope_id": scope_id, "now": _now(now), "open": list(OPEN),
               "counties": county_codes(conn, scope_id)}
    ).mappings()
    return [dict(r) for r in rows]


def waiting_for(conn: Connection, unit_id: int) -> int:
    """How many reports wait for ``unit_id`` to accept them (the home page's count)."""
    return conn.execute(sa.text(
        "SELECT count(*) FROM report WHERE unit_id = :u AND status = 'new'"),
        {"u": unit_id}).scalar_one()


# -- actions -----------------------------------------------------------------------------
def _lock(conn: Connection, report_id: int, user, lock: bool = True) -> dict:
    """The report row, locked, if it lies in the user's area; whether the user's unit is
    the one responsible for it now (or above it)."""
    row = conn.execute(sa.text(
        f"""
        SELECT r.id, r.status, r.level, r.severity, r.child_id, r.deadline, r.village_id,
               r.unit_id, {in_scope_sql('u')} AS answerable
          FROM report r JOIN unit v ON v.id = r.village_id JOIN unit u ON u.id = r.unit_id
         WHERE r.id = :id AND {IN_SCOPE} AND {IN_COUNTIES}
        {"FOR UPDATE OF r" if lock else ""}
        """), {"id": report_id, "scope_id": user.unit_id,
               "counties": county_codes(conn, user.unit_id)}).mappings().first()
    if row is None:
        raise NotFound(f"no report {report_id}", field="report_id")
    return dict(row)


def _must_answer(row: dict) -> None:
    if not row["answerable"]:
        raise Conflict(f"report {row['id']} waits for the {row['level']} level "
                       f"({vocab.REPORT_LEVELS[row['level']]}), not for your unit",
                       code="not_your_level")


def accept(conn: Connection, report_id: int, user, note: str | None = None) -> None:
    row = _lock(conn, report_id, user)
    _must_answer(row)
    if row["status"] != "new":
        raise Conflict(f"report {report_id} is {row['status']}, not new", code="not_new")
    conn.execute(sa.text("UPDATE report SET status = 'accepted', accepted_at = now() "
                         "WHERE id = :id"), {"id": report_id})
    _event(conn, report_id, user, "accept", from_status="new", to_status="accepted",
           from_level=row["level"], to_level=row["level"], note=note)


def escalate(conn: Connection, report_id: int, user, cfg: dict, note: str | None = None,
             now: dt.datetime | None = None) -> None:
    """Hand a report up one level by hand (it waits there to be accepted again)."""
    now = _now(now)
    row = _lock(conn, report_id, user)
    _must_answer(row)
    if row["status"] not in OPEN:
        raise Conflict(f"report {report_id} is {row['status']}", code="not_open")
    up = next_level(row["level"])
    if up is None:
        raise Conflict(f"report {report_id} is already at the county level",
                       code="top_level")
    hours = float(rules(cfg)["escalated_accept_hours"][up])
    conn.execute(sa.text(
        f"UPDATE report r SET level = :up, unit_id = {_UNIT_AT[up]}, status = 'new', "
        "accepted_at = NULL, deadline = CAST(:now AS timestamptz) "
        "+ make_interval(secs => :h * 3600) FROM unit v "
        "WHERE r.id = :id AND v.id = r.village_id"),
        {"up": up, "now": now, "h": hours, "id": report_id})
    _event(conn, report_id, user, "escalate", from_level=row["level"], to_level=up,
           from_status=row["status"], to_status="new", note=note)


def close(conn: Connection, report_id: int, user, outcome: str | None,
          note: str | None = None) -> None:
    if not outcome:
        raise InvalidInput("closing a report needs an outcome "
                           f"(one of {', '.join(vocab.REPORT_OUTCOMES)})", field="outcome")
    if outcome not in vocab.REPORT_OUTCOMES:
        raise InvalidInput(f"unknown outcome '{outcome}' "
                           f"(one of {', '.join(vocab.REPORT_OUTCOMES)})", field="outcome")
    row = _lock(conn, report_id, user)
    _must_answer(row)
    if row["status"] not in OPEN:
        raise Conflict(f"report {report_id} is {row['status']}", code="not_open")
    conn.execute(sa.text(
        "UPDATE report SET status = 'closed', outcome = :o, closed_at = now(), "
        "accepted_at = COALESCE(accepted_at, now()) WHERE id = :id"),
        {"o": outcome, "id": report_id})
    _event(conn, report_id, user, "close", from_status=row["status"], to_status="closed",
           from_level=row["level"], to_level=row["level"],
           note=f"{outcome}" + (f": {note}" if note else ""))


_SEVERITY_RANK = {s: i for i, s in enumerate(vocab.REPORT_SEVERITIES)}  # urgent first


def merge(conn: Connection, report_id: int, into_id: int, user,
          note: str | None = None) -> None:
    """Merge a report into another about the same child. Both keep their history; the
    target takes the more severe of the two severities, the source's child if it had
    none, and — while still waiting — the higher level and the earlier deadline."""
    if report_id == into_id:
        raise InvalidInput("a report cannot be merged into itself", field="into")
    first, second = sorted((report_id, into_id))   # lock in id order: no deadlock
    locked = {first: _lock(conn, first, user), second: _lock(conn, second, user)}
    src, dst = locked[report_id], locked[into_id]
    _must_answer(src)
    if src["status"] not in OPEN:
        raise Conflict(f"report {report_id} is {src['status']}", code="not_open")
    if dst["status"] not in OPEN:
        raise Conflict(f"report {into_id} is {dst['status']}", code="not_open")
    if src["child_id"] and dst["child_id"] and src["child_id"] != dst["child_id"]:
        raise Conflict(f"reports {report_id} and {into_id} are about different children",
                       code="different_child")
    severity = min(src["severity"], dst["severity"], key=_SEVERITY_RANK.__getitem__)
    raise_level = (dst["status"] == "new"
                   and LEVELS.index(src["level"]) > LEVELS.index(dst["level"]))
    conn.execute(sa.text(
        "UPDATE report SET severity = :sev, child_id = COALESCE(child_id, :child), "
        "level = CASE WHEN :up THEN :lvl ELSE level END, "
        "unit_id = CASE WHEN :up THEN :unit ELSE unit_id END, "
        "deadline = CASE WHEN :up THEN LEAST(deadline, :deadline) ELSE deadline END "
        "WHERE id = :id"),
        {"sev": severity, "child": src["child_id"], "up": raise_level, "lvl": src["level"],
         "unit": src["unit_id"], "deadline": src["deadline"], "id": into_id})
    conn.execute(sa.text("UPDATE report SET status = 'merged', merged_into = :into "
                         "WHERE id = :id"), {"into": into_id, "id": report_id})
    _event(conn, report_id, user, "merge", from_status=src["status"], to_status="merged",
           note=f"并入报告 {into_id}" + (f": {note}" if note else ""))
    _event(conn, into_id, user, "merged_from", from_level=dst["level"],
           to_level=src["level"] if raise_level else dst["level"],
           from_status=dst["status"], to_status=dst["status"],
           note=f"合并报告 {report_id}" + (f": {note}" if note else ""))


# -- placements ----------------------------------------------------------------------------
def check_for_placement(conn: Connection, report_id: int, child_id: int, user) -> None:
    """A placement may answer ``report_id`` if the report is in the user's area, still
    open, and about this child (or about a child not yet identified). No row lock: the
    placement's own transaction must be able to reference the report."""
    row = _lock(conn, report_id, user, lock=False)
    if row["status"] not in OPEN:
        raise Conflict(f"report {report_id} is {row['status']}", code="not_open")
    if row["child_id"] and row["child_id"] != child_id:
        raise Conflict(f"report {report_id} is about child {row['child_id']}, "
                       f"not {child_id}", code="different_child")


def link_placement(conn: Connection, report_id: int, child_id: int, placement_id: int,
                   user) -> None:
    """After a placement answering the report: the report names the child and is in
    progress (accepted first if it was still waiting)."""
    row = conn.execute(sa.text(
        "SELECT status, level FROM report WHERE id = :id FOR UPDATE"), {"id": report_id}
    ).mappings().one()
    conn.execute(sa.text(
        "UPDATE report SET child_id = COALESCE(child_id, :c), status = 'in_progress', "
        "accepted_at = COALESCE(accepted_at, now()) WHERE id = :id"),
        {"c": child_id, "id": report_id})
    _event(conn, report_id, user, "place", from_status=row["status"], to_status="in_progress",
           from_level=row["level"], to_level=row["level"],
           note=f"安置 {placement_id}")


# -- escalation ----------------------------------------------------------------------------
_ESCALATE = f"""
WITH due AS (
    SELECT r.id, r.level AS from_level
      FROM report r
     WHERE r.status = 'new' AND r.level <> 'county' AND r.deadline <= :now
     ORDER BY r.deadline
     LIMIT :batch
       FOR UPDATE SKIP LOCKED
), moved AS (
    UPDATE report r
       SET level = CASE due.from_level WHEN 'village' THEN 'township' ELSE 'county' END,
           unit_id = CASE due.from_level WHEN 'village' THEN {_UNIT_AT['township']}
                                         ELSE {_UNIT_AT['county']} END,
           deadline = CAST(:now AS timestamptz) + make_interval(secs => 3600 *
               CASE due.from_level WHEN 'village' THEN :h_township ELSE :h_county END)
      FROM due, unit v
     WHERE r.id = due.id AND v.id = r.village_id
    RETURNING r.id, due.from_level, r.level AS to_level, r.deadline, r.county_code
)
INSERT INTO report_event (report_id, at, username, action, from_level, to_level,
                          from_status, to_status, note, county_code)
SELECT id, :now, '{SYSTEM}', 'auto_escalate', from_level, to_level, 'new', 'new',
       '逾期未受理, 升级; 新期限 ' || to_char(deadline AT TIME ZONE :tz, 'YYYY-MM-DD HH24\\:MI'),
       county_code
  FROM moved
RETURNING report_id, from_level, to_level
"""


def escalate_due(conn: Connection, cfg: dict, now: dt.datetime | None = None,
                 batch: int = 100_000) -> list[dict]:
    """One escalation pass on ``conn`` (the caller commits): every report still waiting
    past its deadline below the county goes up one level with a new deadline. Rows
    another transaction holds are skipped (they are being accepted, or escalated by
    another process); returns what moved."""
    now = _now(now)
    hours = rules(cfg)["escalated_accept_hours"]
    rows = conn.execute(sa.text(_ESCALATE), {
        "now": now, "batch": batch, "h_township": float(hours["township"]),
        "h_county": float(hours["county"]), "tz": cfg.get("timezone") or "UTC"}).mappings()
    return [dict(r) for r in rows]


def run_escalation(engine: Engine, cfg: dict, now: dt.datetime | None = None) -> list[dict]:
    """One pass in its own transaction, with one audit row naming the reports moved."""
    from geo import audit

    with engine.begin() as conn:
        moved = escalate_due(conn, cfg, now)
        if moved:
            audit.record(conn, None, "escalate", "report", detail={
                "by": SYSTEM, "ids": [m["report_id"] for m in moved],
                "now": _now(now).isoformat()})
    return moved


class EscalationLoop(threading.Thread):
    """Runs :func:`run_escalation` every ``every_s`` seconds until :meth:`stop`. A
    daemon thread of ``gridmap serve``; errors are logged and the next pass retried."""

    def __init__(self, engine: Engine, cfg: dict, every_s: float | None = None):
        super().__init__(name="report-escalation", daemon=True)
        self.engine, self.cfg = engine, cfg
        self.every_s = float(every_s or rules(cfg)["escalate_every_s"])
        self._stop_event = threading.Event()
        self._grown_up_on: dt.date | None = None

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                moved = run_escalation(self.engine, self.cfg)
                ESCALATION_PASSES.labels("ok").inc()
                REPORTS_ESCALATED.inc(len(moved))
                if moved:
                    log.info("escalated %d reports", len(moved))
            except Exception:  # noqa: BLE001 - a failed pass must not end the loop
                ESCALATION_PASSES.labels("failed").inc()
                log.exception("report escalation pass failed")
            self._grown_up()
            self._stop_event.wait(self.every_s)

    def _grown_up(self) -> None:
        """Once a day (in the county's time zone), with the first pass of the day: the
        cells whose kept status figures count a child who has turned 18 are counted again
        (geo.visits.due.recount_grown_up), so they are read from the figures again."""
        day = today(self.cfg["timezone"])
        if self._grown_up_on == day:
            return
        try:
            with self.engine.begin() as conn:
                recount_grown_up(conn, self.cfg["timezone"])
            self._grown_up_on = day
        except Exception:  # noqa: BLE001 - the cells are counted child by child meanwhile
            log.exception("counting again the cells of children turned 18 failed")

    def stop(self) -> None:
        self._stop_event.set()

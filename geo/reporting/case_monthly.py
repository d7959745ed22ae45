"""The case loop's part of the monthly report (每月15日上报), per township (for a county)
or per village (for a township; a village reports itself): on-time visits, return-visit
compliance, flagged visits, cells never visited, discovery reports received and accepted
in time, referrals overdue, cases opened and closed by reason — and whether each unit
has submitted its report for the month (who, when; late after the due day, by default
the 15th of the following month).

Status figures are as of the month's last day (only children on the books then: under
18, case not closed); counts are of what happened in the month. "On time" is the share
of those children not overdue for a visit; return-visit compliance the share of those
owed a monthly return visit who are not overdue for it; a report is answered in time
when it was accepted by its (last) deadline; a referral is overdue when its due date
passed in or before the month and it was neither done nor declined by the month's end.
Closures count ``case_event`` rows of the month by reason; openings are children
registered in the month plus cases reopened in it.

(geo/reporting/monthly.py holds the unit's own figures; this module can be folded into it.)
"""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo import vocab
from geo.access import in_scope_sql
from geo.errors import Conflict, InvalidInput, NotFound
from geo.reporting.monthly import END, START, month_bounds
from geo.scope import county_codes, find_unit, today
from geo.visits.due import cell_status, due_visits

# A county code among the scope's (bound as :counties, geo.scope.county_codes).
IN_C = "= ANY(CAST(:counties AS varchar[]))"

_CHILD_LEVEL = {"city": "county", "county": "township", "township": "village", "village": "village",
                "cell": "village"}


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def due_date(cfg: dict, month: str) -> dt.date:
    """The day a month's report is due: ``cases.report_due_day`` of the next month."""
    first, last = month_bounds(month)
    nxt = last + dt.timedelta(days=1)
    day = min(int(cfg["cases"].get("report_due_day", 15)),
              calendar.monthrange(nxt.year, nxt.month)[1])
    return nxt.replace(day=day)


def _units(conn: Connection, scope) -> tuple[str, list[dict]]:
    level = _CHILD_LEVEL[scope.level]
    if scope.level in ("village", "cell"):
        uid = scope.id if scope.level == "village" else conn.execute(sa.text(
            "SELECT village_id FROM unit WHERE id = :id"), {"id": scope.id}).scalar()
        rows = conn.execute(sa.text("SELECT id, code, name FROM unit WHERE id = :id"),
                            {"id": uid}).mappings()
    else:
        rows = conn.execute(sa.text(
            "SELECT id, code, name FROM unit WHERE level = :lvl AND "
            "(township_id = :id OR county_id = :id OR city_id = :id) ORDER BY code"),
            {"lvl": level, "id": scope.id}).mappings()
    return level, [dict(r) for r in rows]


def monthly_case_figures(conn: Connection, cfg: dict, unit: str, month: str,
                         tz: str = "Asia/Shanghai", now: dt.date | None = None) -> dict:
    """The figures per unit under ``unit`` for ``month`` (YYYY-MM), with submissions."""
    scope = find_unit(conn, unit)
    if scope is None:
        raise NotFound(f"no unit with code {unit}", field="unit")
    first, last = month_bounds(month)
    level, units = _units(conn, scope)
    key = f"{level}_id"
    rules = cfg["rules"]
    out = {u["id"]: {"unit": {"code": u["code"], "name": u["name"], "level": level},
                     "children": 0, "overdue_children": 0, "return_owed": 0,
                     "return_overdue": 0, "cells": 0, "cells_never_visited": 0}
           for u in units}
    cells = cell_status(conn, rules, as_of=last, unit=scope.code, tz=tz)
    cell_unit = {c["cell_id"]: c[key] for c in cells}
    for c in cells:
        row = out.get(c[key])
        if row is None:
            continue
        row["cells"] += 1
        row["children"] += c["children"]
        row["overdue_children"] += c["overdue_children"]
        row["cells_never_visited"] += c["status"] == "never_visited"
    for d in due_visits(conn, rules, as_of=last, unit=scope.code, tz=tz):
        row = out.get(cell_unit.get(d["cell_id"]))
        if row is None or d["return_due_on"] is None:
            continue
        row["return_owed"] += 1
        row["return_overdue"] += d["return_due_on"] < last
    cutoff = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), ZoneInfo(tz))
    # Every table read is partitioned by county (migrations 0016, 0018, 0019): naming the
    # scope's counties (:counties, IN_C) lets the planner read only their partitions.
    params = {"u": scope.id, "a": first, "b": last, "tz": tz, "cutoff": cutoff,
              "counties": county_codes(conn, scope.id)}
    cells_sql = f"""SELECT c.id AS cell_id, c.{key} AS unit_id, c.village_id FROM unit c
                     WHERE c.level = 'cell' AND {in_scope_sql('c', 'u')}"""
    counts = conn.execute(sa.text(f"""
        WITH cells AS ({cells_sql}),
        kids AS (SELECT ch.id, ch.registered_on, cl.unit_id FROM child ch
                   JOIN household h ON h.id = ch.household_id
                   JOIN cells cl ON cl.cell_id = h.cell_id
                  WHERE ch.county_code {IN_C} AND h.county_code {IN_C}),
        vis AS (SELECT k.unit_id, count(*) AS visits,
                       count(*) FILTER (WHERE v.flagged) AS flagged
                  FROM visit v JOIN kids k ON k.id = v.child_id
                 WHERE v.visited_at >= {START} AND v.visited_at < {END}
                   AND v.county_code {IN_C}
                 GROUP BY k.unit_id),
        reg AS (SELECT unit_id, count(*) AS n FROM kids
                 WHERE registered_on BETWEEN :a AND :b GROUP BY unit_id),
        reopened AS (SELECT k.unit_id, count(*) AS n FROM case_event e
                       JOIN kids k ON k.id = e.child_id
                      WHERE e.action = 'reopen' AND e.county_code {IN_C}
                        AND (e.at AT TIME ZONE :tz)::date BETWEEN :a AND :b
                      GROUP BY k.unit_id),
        vill AS (SELECT DISTINCT village_id, unit_id FROM cells),
        rep AS (SELECT vl.unit_id, count(*) AS received,
                       count(*) FILTER (WHERE r.accepted_at IS NOT NULL
                                          AND r.accepted_at <= r.deadline) AS in_time
                  FROM report r JOIN vill vl ON vl.village_id = r.village_id
                 WHERE (r.reported_at AT TIME ZONE :tz)::date BETWEEN :a AND :b
                   AND r.county_code {IN_C}
                 GROUP BY vl.unit_id),
        ref AS (SELECT k.unit_id, count(*) AS overdue FROM referral f
                  JOIN kids k ON k.id = f.child_id
                 WHERE f.due_on <= :b AND f.sent_at < :cutoff AND f.county_code {IN_C}
                   AND NOT EXISTS (SELECT 1 FROM referral_event e WHERE e.referral_id = f.id
                                     AND e.county_code = f.county_code
                                     AND e.county_code {IN_C}
                                     AND e.to_status IN ('done', 'declined')
                                     AND e.at < :cutoff)
                 GROUP BY k.unit_id)
        SELECT u.unit_id, COALESCE(vis.visits, 0) AS visits,
               COALESCE(vis.flagged, 0) AS flagged_visits,
               COALESCE(reg.n, 0) + COALESCE(reopened.n, 0) AS cases_opened,
               COALESCE(rep.received, 0) AS reports_received,
               COALESCE(rep.in_time, 0) AS reports_answered_in_time,
               COALESCE(ref.overdue, 0) AS referrals_overdue
          FROM (SELECT DISTINCT unit_id FROM cells) u
          LEFT JOIN vis ON vis.unit_id = u.unit_id LEFT JOIN reg ON reg.unit_id = u.unit_id
          LEFT JOIN reopened ON reopened.unit_id = u.unit_id
          LEFT JOIN rep ON rep.unit_id = u.unit_id LEFT JOIN ref ON ref.unit_id = u.unit_id
    """), params).mappings()
    for r in counts:
        if r["unit_id"] in out:
            out[r["unit_id"]].update({k: int(v) for k, v in r.items() if k != "unit_id"})
    closed = conn.execute(sa.text(f"""
        WITH cells AS ({cells_sql})
        SELECT cl.unit_id, e.reason, count(*) AS n FROM case_event e
          JOIN child ch ON ch.id = e.child_id JOIN household h ON h.id = ch.household_id
          JOIN cells cl ON cl.cell_id = h.cell_id
         WHERE e.action = 'close' AND (e.at AT TIME ZONE :tz)::date BETWEEN :a AND :b
           AND e.county_code {IN_C} AND ch.county_code {IN_C} AND h.county_code {IN_C}
         GROUP BY cl.unit_id, e.reason"""), params).mappings()
    for row in out.values():
        row["cases_closed"] = dict.fromkeys(vocab.CLOSE_REASONS, 0)
    for r in closed:
        if r["unit_id"] in out:
            out[r["unit_id"]]["cases_closed"][r["reason"]] = int(r["n"])
    due = due_date(cfg, month)
    now = now or today(tz)
    subs = {r["unit_id"]: r for r in conn.execute(sa.text(
        "SELECT s.unit_id, s.submitted_at, a.username FROM report_submission s "
        "LEFT JOIN app_user a ON a.id = s.submitted_by "
        "WHERE s.month = :m AND s.unit_id = ANY(:ids)"),
        {"m": month, "ids": list(out)}).mappings()}
    for uid, row in out.items():
        for k in ("visits", "flagged_visits", "cases_opened", "reports_received",
                  "reports_answered_in_time", "referrals_overdue"):
            row.setdefault(k, 0)
        row["on_time_visits_pct"] = _pct(row["children"] - row["overdue_children"],
                                         row["children"])
        row["return_visit_compliance_pct"] = _pct(row["return_owed"] - row["return_overdue"],
                                                  row["return_owed"])
        row["flagged_visits_pct"] = _pct(row["flagged_visits"], row["visits"])
        row["reports_answered_in_time_pct"] = _pct(row["reports_answered_in_time"],
                                                   row["reports_received"])
        sub = subs.get(uid)
        at = sub["submitted_at"] if sub else None
        day = at.astimezone(ZoneInfo(tz)).date() if at else None
        row["submission"] = {"submitted": sub is not None,
                             "submitted_by": sub["username"] if sub else None,
                             "submitted_at": at,
                             "late": (day > due) if day else now > due}
    return {"unit": {"code": scope.code, "name": scope.name, "level": scope.level},
            "month": month, "by": level, "due": due, "units": list(out.values())}


def submit(conn: Connection, user, unit_code: str, month: str, scope_id: int) -> dict:
    """Mark the month's report of a village or township (in the user's area) submitted;
    a second submission is refused."""
    month_bounds(month)
    row = conn.execute(sa.text(
        f"SELECT u.id, u.level FROM unit u WHERE u.code = :c AND {in_scope_sql('u', 's')}"),
        {"c": str(unit_code), "s": scope_id}).first()
    if row is None:
        raise NotFound(f"no unit with code {unit_code}", field="unit")
    if row.level not in ("village", "township"):
        raise InvalidInput("只有村（社区）和乡镇（街道）报送月报", field="unit")
    done = conn.execute(sa.text(
        "INSERT INTO report_submission (unit_id, month, submitted_by) VALUES (:u, :m, :by) "
        "ON CONFLICT (unit_id, month) DO NOTHING RETURNING id, submitted_at"),
        {"u": row.id, "m": month, "by": getattr(user, "id", None)}).first()
    if done is None:
        raise Conflict(f"{month} 月报已报送", field="month")
    return {"unit": unit_code, "month": month, "submitted_at": done.submitted_at}

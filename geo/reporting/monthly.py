"""The monthly report (每月15日上报): a unit's figures for a month next to the month
before, as a dict, an Excel workbook with a chart, and a printable HTML page.

Visits, registrations and placements count what happened in the month; overdue
children and cell statuses are as of the month's last day; blind spots are as of today
(facilities keep no history).
"""

from __future__ import annotations

import calendar
import datetime as dt
import io
import re

import sqlalchemy as sa
from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from sqlalchemy.engine import Connection

from geo.access import in_scope_sql
from geo.errors import InvalidInput
from geo.ledgers.spreadsheet import neutralise_row
from geo.local_rules import rules_for_unit
from geo.planning.blind_totals import blind_totals
from geo.planning.coverage import reach_by_county
from geo.scope import county_codes, find_unit
from geo.visits.due import cell_status

FIGURES = [
    ("visits", "本月走访次数"),
    ("flagged_visits", "存疑走访（定位异常）"),
    ("children_registered", "新登记未成年人"),
    ("placements", "新安置（临时庇护等）"),
    ("children", "在册未成年人"),
    ("overdue_children", "逾期未走访未成年人"),
    ("cells_never_visited", "从未走访网格"),
    ("cells_overdue", "逾期网格"),
]


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    if not re.fullmatch(r"\d{4}-\d{2}", month or ""):
        raise InvalidInput(f"month must be YYYY-MM, not '{month}'", field="month")
    year, mon = int(month[:4]), int(month[5:])
    if not 1 <= mon <= 12:
        raise InvalidInput(f"month must be YYYY-MM, not '{month}'", field="month")
    return dt.date(year, mon, 1), dt.date(year, mon, calendar.monthrange(year, mon)[1])


# The first instant of day :a and of the day after :b in :tz: ``t >= START AND t < END``
# holds exactly when ``(t AT TIME ZONE :tz)::date BETWEEN :a AND :b``, but as a range of
# the stored value the planner estimates the month's rows (about a twelfth of a year's)
# rather than guessing a fraction of the whole table and probing every partition per
# row (bench/city.py: the city's visit count took twice as long), and no time zone
# conversion is made per row.
START = "(CAST(:a AS date)::timestamp AT TIME ZONE :tz)"
END = "((CAST(:b AS date) + 1)::timestamp AT TIME ZONE :tz)"
# The month's visits in the scope; the county filter lets PostgreSQL read only the
# partitions of the scope's counties (visit is partitioned by county_code).
VISITS_SQL = f"""
    SELECT count(*) AS visits, count(*) FILTER (WHERE v.flagged) AS flagged_visits
      FROM visit v JOIN child ch ON ch.id = v.child_id
      JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id
     WHERE v.county_code = ANY(CAST(:counties AS varchar[])) AND {in_scope_sql("c", "u")}
       AND ch.county_code = ANY(CAST(:counties AS varchar[]))
       AND h.county_code = ANY(CAST(:counties AS varchar[]))
       AND v.visited_at >= {START} AND v.visited_at < {END}
"""


def _figures(conn: Connection, rules: dict, unit_id: int, unit_code: str, first: dt.date,
             last: dt.date, tz: str) -> dict:
    scope = in_scope_sql("c", "u")
    counties = county_codes(conn, unit_id)
    # Households and children are partitioned by county too (migration 0018).
    in_counties = ("ch.county_code = ANY(CAST(:counties AS varchar[])) "
                   "AND h.county_code = ANY(CAST(:counties AS varchar[]))")
    visits = conn.execute(sa.text(VISITS_SQL), {
        "u": unit_id, "a": first, "b": last, "tz": tz,
        "counties": counties}).mappings().one()
    row = conn.execute(sa.text(
        f"""
        SELECT
          (SELECT count(*) FROM child ch JOIN household h ON h.id = ch.household_id
             JOIN unit c ON c.id = h.cell_id
            WHERE {scope} AND {in_counties} AND ch.registered_on BETWEEN :a AND :b)
            AS children_registered,
          (SELECT count(*) FROM placement p JOIN child ch ON ch.id = p.child_id
             JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id
            WHERE {scope} AND {in_counties}
              AND p.placed_at >= {START} AND p.placed_at < {END}) AS placements
        """), {"u": unit_id, "a": first, "b": last, "tz": tz,
               "counties": counties}).mappings().one()
    cells = cell_status(conn, rules, as_of=last, unit=unit_code, tz=tz)
    return {**dict(visits), **dict(row),
            "children": sum(c["children"] for c in cells),
            "overdue_children": sum(c["overdue_children"] for c in cells),
            "cells_never_visited": sum(1 for c in cells if c["status"] == "never_visited"),
            "cells_overdue": sum(1 for c in cells if c["status"] == "overdue")}


def monthly_report(conn: Connection, rules: dict, unit: str, month: str,
                   tz: str = "Asia/Shanghai") -> dict:
    found = find_unit(conn, unit)
    first, last = month_bounds(month)
    prev_last = first - dt.timedelta(days=1)
    prev_first = prev_last.replace(day=1)
    now = _figures(conn, rules, found.id, found.code, first, last, tz)
    before = _figures(conn, rules, found.id, found.code, prev_first, prev_last, tz)
    rows = [{"key": k, "label": label, "this_month": now[k], "last_month": before[k],
             "change": now[k] - before[k]} for k, label in FIGURES]
    reach = []
    # Each household by its own county's reach; the radius shown is the scope's county's
    # (a city's: the shared one, with the counties that keep another).
    # Only the totals of blind_spots: every type in one pass over the households.
    mine = rules_for_unit(conn, rules, found.id)
    spots = blind_totals(conn, rules, list(mine["service_reach_m"]), unit=found.code)
    for ftype, metres in mine["service_reach_m"].items():
        totals = spots[ftype]
        by_county = reach_by_county(conn, rules, ftype) if found.level == "city" else {}
        reach.append({"facility_type": ftype, "reach_m": metres,
                      "uncovered_children": totals["uncovered_children"],
                      "children": totals["children"],
                      **({"reach_m_by_county": by_county} if by_county else {})})
    return {"unit": {"code": found.code, "name": found.name, "level": found.level},
            "month": month, "period": [first.isoformat(), last.isoformat()],
            "previous": prev_first.strftime("%Y-%m"), "figures": rows, "blind_spots": reach}


COUNT_FIGURES = ("visits", "flagged_visits", "children_registered", "placements")


def _cell_figures(conn: Connection, scope_id: int, first: dt.date, last: dt.date,
                  tz: str) -> list[dict]:
    """The month's counted figures per cell of the scope (for the planner's pattern)."""
    sql = f"""
        WITH cells AS (
            SELECT c.id, c.village_id, c.township_id FROM unit c
             WHERE c.level = 'cell' AND {in_scope_sql('c', 'u')}
        ), v AS (
            SELECT h.cell_id, count(*) AS visits, count(*) FILTER (WHERE v.flagged) AS flagged
              FROM visit v JOIN child ch ON ch.id = v.child_id
              JOIN household h ON h.id = ch.household_id
             WHERE (v.visited_at AT TIME ZONE :tz)::date BETWEEN :a AND :b GROUP BY h.cell_id
        ), r AS (
            SELECT h.cell_id, count(*) AS n FROM child ch
              JOIN household h ON h.id = ch.household_id
             WHERE ch.registered_on BETWEEN :a AND :b GROUP BY h.cell_id
        ), p AS (
            SELECT h.cell_id, count(*) AS n FROM placement p JOIN child ch ON ch.id = p.child_id
              JOIN household h ON h.id = ch.household_id
             WHERE (p.placed_at AT TIME ZONE :tz)::date BETWEEN :a AND :b GROUP BY h.cell_id
        )
        SELECT c.id AS cell_id, c.village_id, c.township_id,
               COALESCE(v.visits, 0)::int AS visits, COALESCE(v.flagged, 0)::int AS flagged_visits,
               COALESCE(r.n, 0)::int AS children_registered, COALESCE(p.n, 0)::int AS placements
          FROM cells c LEFT JOIN v ON v.cell_id = c.id LEFT JOIN r ON r.cell_id = c.id
          LEFT JOIN p ON p.cell_id = c.id ORDER BY c.id
    """
    return [dict(r) for r in conn.execute(sa.text(sql), {
        "u": scope_id, "a": first, "b": last, "tz": tz}).mappings()]


def planner_hidden(conn: Connection, rules: dict, report: dict, scope_code: str,
                   threshold: int, tz: str = "Asia/Shanghai") -> dict:
    """Which of the report's counts a planner (whose area is ``scope_code``) may not see:
    the complementary patterns of :mod:`geo.suppression` over the planner's whole area,
    so the reports of a township and of its villages cannot be differenced."""
    from geo import suppression

    scope = find_unit(conn, scope_code)
    key = suppression.unit_key(find_unit(conn, report["unit"]["code"]), scope_code)
    first, last = month_bounds(report["month"])
    prev_first, prev_last = month_bounds(report["previous"])
    out: dict = {"blind_spots": {}}
    for side, (a, b) in (("this_month", (first, last)), ("last_month", (prev_first, prev_last))):
        counted = suppression.protect_tree(_cell_figures(conn, scope.id, a, b, tz),
                                           COUNT_FIGURES, threshold)
        status = suppression.status_pattern(conn, rules, scope_code, b, tz, threshold)
        out[side] = {f for f in COUNT_FIGURES if (*key, f) in counted} | \
            {f for f in suppression.STATUS_FIELDS if (*key, f) in status}
    for s in report["blind_spots"]:
        hidden = suppression.blind_pattern(conn, rules, s["facility_type"], None,
                                           scope_code, threshold)
        out["blind_spots"][s["facility_type"]] = {
            f for f in ("children", "uncovered_children") if (*key, f) in hidden}
    return out


def suppress_small_counts(report: dict, threshold: int, hidden: dict | None = None) -> dict:
    """The report as a planner may see it: every count from 1 to ``threshold`` - 1 is
    None, so is every count in ``hidden`` (from :func:`planner_hidden`: complements that
    keep the small ones from being worked out through other units' reports), and so is
    a change whose either side is hidden (it would give the hidden count away)."""
    from geo.suppression import small

    hidden = hidden or {}

    def hide(v, key=None, side=None, group=None):
        if small(v, threshold) or key in (group if group is not None
                                          else hidden.get(side, ())):
            return None
        return v

    figures = []
    for f in report["figures"]:
        this = hide(f["this_month"], f["key"], "this_month")
        last = hide(f["last_month"], f["key"], "last_month")
        figures.append({**f, "this_month": this, "last_month": last,
                        "change": None if this is None or last is None else f["change"]})
    spots = []
    for s in report["blind_spots"]:
        group = hidden.get("blind_spots", {}).get(s["facility_type"], set())
        spots.append({**s, "children": hide(s["children"], "children", group=group),
                      "uncovered_children": hide(s["uncovered_children"],
                                                 "uncovered_children", group=group)})
    return {**report, "figures": figures, "blind_spots": spots, "suppressed": threshold}


def report_xlsx(report: dict) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "月报"
    ws.append(neutralise_row([
        f"{report['unit']['name']}（{report['unit']['code']}）困境未成年人工作月报",
        report["month"]]))
    ws.append(neutralise_row(["指标", "本月", "上月", "变化"]))
    for r in report["figures"]:
        ws.append(neutralise_row([r["label"], r["this_month"], r["last_month"], r["change"]]))
    chart = BarChart()
    chart.title = "本月与上月"
    data = Reference(ws, min_col=2, max_col=3, min_row=2, max_row=2 + len(report["figures"]))
    cats = Reference(ws, min_col=1, min_row=3, max_row=2 + len(report["figures"]))
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(cats)
    ws.add_chart(chart, "F2")
    spots = wb.create_sheet("服务盲区")
    spots.append(neutralise_row(["机构类型", "服务半径（米）", "半径外未成年人", "未成年人总数"]))
    for s in report["blind_spots"]:
        spots.append(neutralise_row([s["facility_type"], s["reach_m"],
                                     s["uncovered_children"], s["children"]]))
    if report.get("cases"):
        from geo.reporting.monthly_cases import case_sheet

        case_sheet(wb, report["cases"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

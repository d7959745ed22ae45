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

from geo.coverage import blind_spots
from geo.errors import InvalidInput
from geo.scope import find_unit
from geo.visits import cell_status

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


def _figures(conn: Connection, rules: dict, unit_id: int, unit_code: str, first: dt.date,
             last: dt.date, tz: str) -> dict:
    scope = ":u IN (c.id, c.village_id, c.township_id, c.county_id)"
    row = conn.execute(sa.text(
        f"""
        SELECT
          (SELECT count(*) FROM visit v JOIN child ch ON ch.id = v.child_id
             JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id
            WHERE {scope} AND (v.visited_at AT TIME ZONE :tz)::date BETWEEN :a AND :b)
            AS visits,
          (SELECT count(*) FROM visit v JOIN child ch ON ch.id = v.child_id
             JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id
            WHERE {scope} AND v.flagged
              AND (v.visited_at AT TIME ZONE :tz)::date BETWEEN :a AND :b) AS flagged_visits,
          (SELECT count(*) FROM child ch JOIN household h ON h.id = ch.household_id
             JOIN unit c ON c.id = h.cell_id
            WHERE {scope} AND ch.registered_on BETWEEN :a AND :b) AS children_registered,
          (SELECT count(*) FROM placement p JOIN child ch ON ch.id = p.child_id
             JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id
            WHERE {scope} AND (p.placed_at AT TIME ZONE :tz)::date BETWEEN :a AND :b)
            AS placements
        """), {"u": unit_id, "a": first, "b": last, "tz": tz}).mappings().one()
    cells = cell_status(conn, rules, as_of=last, unit=unit_code, tz=tz)
    return {**dict(row),
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
    for ftype, metres in rules["service_reach_m"].items():
        totals = blind_spots(conn, rules, ftype, unit=found.code)["totals"]
        reach.append({"facility_type": ftype, "reach_m": metres,
                      "uncovered_children": totals["uncovered_children"],
                      "children": totals["children"]})
    return {"unit": {"code": found.code, "name": found.name, "level": found.level},
            "month": month, "period": [first.isoformat(), last.isoformat()],
            "previous": prev_first.strftime("%Y-%m"), "figures": rows, "blind_spots": reach}


def suppress_small_counts(report: dict, threshold: int) -> dict:
    """The report as a planner may see it: every count from 1 to ``threshold`` - 1 is
    None, and so is a change whose either side is hidden (it would give the hidden
    count away)."""
    def hide(v):
        return None if isinstance(v, int) and 0 < v < threshold else v

    figures = []
    for f in report["figures"]:
        this, last = hide(f["this_month"]), hide(f["last_month"])
        figures.append({**f, "this_month": this, "last_month": last,
                        "change": None if this is None or last is None else f["change"]})
    spots = [{**s, "children": hide(s["children"]),
              "uncovered_children": hide(s["uncovered_children"])}
             for s in report["blind_spots"]]
    return {**report, "figures": figures, "blind_spots": spots, "suppressed": threshold}


def report_xlsx(report: dict) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "月报"
    ws.append([f"{report['unit']['name']}（{report['unit']['code']}）困境未成年人工作月报",
               report["month"]])
    ws.append(["指标", "本月", "上月", "变化"])
    for r in report["figures"]:
        ws.append([r["label"], r["this_month"], r["last_month"], r["change"]])
    chart = BarChart()
    chart.title = "本月与上月"
    data = Reference(ws, min_col=2, max_col=3, min_row=2, max_row=2 + len(report["figures"]))
    cats = Reference(ws, min_col=1, min_row=3, max_row=2 + len(report["figures"]))
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(cats)
    ws.add_chart(chart, "F2")
    spots = wb.create_sheet("服务盲区")
    spots.append(["机构类型", "服务半径（米）", "半径外未成年人", "未成年人总数"])
    for s in report["blind_spots"]:
        spots.append([s["facility_type"], s["reach_m"], s["uncovered_children"],
                      s["children"]])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

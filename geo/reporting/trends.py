"""Trends (issue 13): a unit's monthly figures over the last months, per township (a
county), per village (a township) or per cell (a village), plus the unit's total.

For each month, ``last`` is the month's last day in the county's time zone (today for
the current month) and ``cutoff`` midnight after it:

- ``visits``: visits made in the month; ``visits_on_time``: those made no later than the
  child's due day (the previous visit of any kind, or registration, plus the interval of
  the child's risk level — today's level: levels keep no history);
- ``flagged_visits``: visits of the month that were flagged;
- ``return_due``: children active at month end who need the monthly grid-head return
  visit (not all categories exempt, ``rules.return_visit_exempt_categories``);
  ``return_done``: those of them with a return visit (kind ``return``, the grid heads'
  visit, as in geo/visits/due.py) in the month;
- ``children``: children active at month end (registered by then, under 18 on that day,
  case not closed on that day — read from the case history, ``case_event``);
- ``overdue_children``: active children overdue at month end, by the same rule as
  :mod:`geo.visits.due` (regular interval or return visit, whichever is due first);
- ``cells_never_visited``: cells with active children none of whom had a visit by then;
- ``new_children``: children registered in the month; ``placements``: placements made
  in the month.

Percentages (``*_pct``) are worked out from these counts. One query for every month and
cell (``generate_series`` over the months); the rollup to groups happens here.
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo.access import in_scope_sql
from geo.errors import InvalidInput
from geo.local_rules import own_counties
from geo.scope import find_unit, today

MAX_MONTHS = 36
COUNTS = ("visits", "visits_on_time", "flagged_visits", "return_due", "return_done",
          "children", "overdue_children", "cells_never_visited", "new_children",
          "placements")
# percentage → (numerator, denominator)
PERCENTAGES = {
    "on_time_pct": ("visits_on_time", "visits"),
    "return_pct": ("return_done", "return_due"),
    "flagged_pct": ("flagged_visits", "visits"),
}
# The figures the dashboard draws, in order, with their Chinese labels.
FIGURES = [
    ("visits", "走访次数", "count"),
    ("on_time_pct", "按时走访率（%）", "pct"),
    ("return_pct", "网格长月回访完成率（%）", "pct"),
    ("flagged_pct", "存疑走访占比（%）", "pct"),
    ("overdue_children", "月末逾期未走访儿童", "count"),
    ("cells_never_visited", "月末从未走访网格", "count"),
    ("new_children", "新登记儿童", "count"),
    ("placements", "新安置", "count"),
]
# The level a unit's figures are broken down by.
GROUP_BY = {"county": "township", "township": "village", "village": "cell",
            "cell": "cell"}

_SQL = """
WITH rules AS (
    -- Intervals per county (0: the shared rules; a county of rules.counties: its id).
    SELECT cc.key::int AS county_id, e.key AS risk_level, e.value::int AS days,
           (CAST(:return_days AS jsonb) ->> cc.key)::int AS return_days
      FROM jsonb_each(CAST(:intervals AS jsonb)) cc, jsonb_each_text(cc.value) e
), months AS (
    SELECT m::date AS first,
           LEAST((m + interval '1 month' - interval '1 day')::date, CAST(:today AS date))
               AS last
      FROM generate_series(CAST(:start AS date), CAST(:end AS date), interval '1 month') m
), mm AS (
    SELECT first, last, (first::timestamp AT TIME ZONE :tz) AS start_at,
           ((last + 1)::timestamp AT TIME ZONE :tz) AS cutoff
      FROM months
), cells AS (
    SELECT c.id AS cell_id, c.village_id, c.township_id, c.county_id FROM unit c
     WHERE c.level = 'cell' AND {scope}
), kids AS MATERIALIZED (
    SELECT ch.id, ch.risk_level, ch.categories, ch.registered_on, ch.birth_date,
           ch.case_status, cl.cell_id, r.days, r.return_days,
           NOT (ch.categories <@ CAST(:exempt AS text[])) AS return_needed
      FROM cells cl JOIN household h ON h.cell_id = cl.cell_id
      JOIN child ch ON ch.household_id = h.id
      LEFT JOIN rules r ON r.risk_level = ch.risk_level
       AND r.county_id = CASE WHEN cl.county_id = ANY(CAST(:own_rules AS int[]))
                              THEN cl.county_id ELSE 0 END
), bounds AS (
    SELECT min(start_at) AS start_at, max(cutoff) AS cutoff FROM mm
), hist AS (
    -- Each child's last visit and last return visit before the first month.
    SELECT v.child_id, max(v.visited_at) AS last_visit,
           max(v.visited_at) FILTER (WHERE v.kind = 'return') AS last_return
      FROM bounds b JOIN visit v ON v.visited_at < b.start_at
      JOIN kids k ON k.id = v.child_id
     GROUP BY v.child_id
), win AS MATERIALIZED (
    -- The visits of the months, each with the child's visit before it.
    SELECT m.first, v.child_id, v.visited_at, v.kind, v.flagged,
           COALESCE(lag(v.visited_at) OVER (PARTITION BY v.child_id
                                            ORDER BY v.visited_at, v.id),
                    h.last_visit) AS prev
      FROM bounds b
      JOIN visit v ON v.visited_at >= b.start_at AND v.visited_at < b.cutoff
      JOIN kids k ON k.id = v.child_id
      JOIN mm m ON v.visited_at >= m.start_at AND v.visited_at < m.cutoff
      LEFT JOIN hist h ON h.child_id = v.child_id
), cm AS (
    SELECT first, child_id, max(visited_at) AS last_visit,
           max(visited_at) FILTER (WHERE kind = 'return') AS last_return
      FROM win GROUP BY first, child_id
), ev AS (
    -- The case status at each month end, for the children with a case history: the
    -- last move before the cutoff, else where the first move after it started.
    SELECT m.first, e.child_id,
           (array_agg(e.to_status ORDER BY e.at DESC, e.id DESC)
               FILTER (WHERE e.at < m.cutoff))[1] AS after_move,
           (array_agg(e.from_status ORDER BY e.at, e.id)
               FILTER (WHERE e.at >= m.cutoff))[1] AS before_move
      FROM mm m CROSS JOIN case_event e JOIN kids k ON k.id = e.child_id
     GROUP BY m.first, e.child_id
), grid AS (
    -- Every child at every month end, last visits carried forward month by month.
    SELECT m.first, m.last, m.start_at, k.id, k.cell_id, k.days, k.return_days,
           k.registered_on,
           k.birth_date, k.return_needed,
           GREATEST(h.last_visit, max(cm.last_visit) OVER w) AS last_visit,
           GREATEST(h.last_return, max(cm.last_return) OVER w) AS last_return,
           COALESCE(ev.after_move, ev.before_move, k.case_status) AS status
      FROM mm m CROSS JOIN kids k
      LEFT JOIN hist h ON h.child_id = k.id
      LEFT JOIN cm ON cm.first = m.first AND cm.child_id = k.id
      LEFT JOIN ev ON ev.first = m.first AND ev.child_id = k.id
    WINDOW w AS (PARTITION BY k.id ORDER BY m.first ROWS UNBOUNDED PRECEDING)
), at_end AS (
    -- Every child on the books at each month end.
    SELECT * FROM grid
     WHERE registered_on <= last AND (birth_date + interval '18 years')::date > last
       AND status <> 'closed' AND days IS NOT NULL
), due AS (
    SELECT a.*,
           LEAST(COALESCE((a.last_visit AT TIME ZONE :tz)::date, a.registered_on) + a.days,
                 CASE WHEN a.return_needed THEN
                      COALESCE((a.last_return AT TIME ZONE :tz)::date, a.registered_on)
                      + a.return_days END) AS next_due
      FROM at_end a
), per_cell_end AS (
    SELECT first, cell_id, count(*) AS children,
           count(*) FILTER (WHERE last > next_due) AS overdue_children,
           count(*) FILTER (WHERE return_needed) AS return_due,
           count(*) FILTER (WHERE return_needed AND last_return >= start_at)
               AS return_done,
           (count(last_visit) = 0)::int AS cells_never_visited
      FROM due GROUP BY first, cell_id
), visits AS (
    SELECT w.first, k.cell_id, count(*) AS visits,
           count(*) FILTER (WHERE (w.visited_at AT TIME ZONE :tz)::date <=
               COALESCE((w.prev AT TIME ZONE :tz)::date, k.registered_on) + k.days)
               AS visits_on_time,
           count(*) FILTER (WHERE w.flagged) AS flagged_visits
      FROM win w JOIN kids k ON k.id = w.child_id
     GROUP BY w.first, k.cell_id
), registered AS (
    SELECT m.first, k.cell_id, count(*) AS new_children
      FROM mm m JOIN kids k ON k.registered_on BETWEEN m.first AND m.last
     GROUP BY m.first, k.cell_id
), placed AS (
    SELECT m.first, k.cell_id, count(*) AS placements
      FROM mm m JOIN placement p ON p.placed_at >= m.start_at AND p.placed_at < m.cutoff
      JOIN kids k ON k.id = p.child_id
     GROUP BY m.first, k.cell_id
), keys AS (
    SELECT first, cell_id FROM per_cell_end UNION SELECT first, cell_id FROM visits
    UNION SELECT first, cell_id FROM registered UNION SELECT first, cell_id FROM placed
)
SELECT k.first, k.cell_id, cl.village_id, cl.township_id,
       COALESCE(v.visits, 0)::int AS visits,
       COALESCE(v.visits_on_time, 0)::int AS visits_on_time,
       COALESCE(v.flagged_visits, 0)::int AS flagged_visits,
       COALESCE(e.return_due, 0)::int AS return_due,
       COALESCE(e.return_done, 0)::int AS return_done,
       COALESCE(e.children, 0)::int AS children,
       COALESCE(e.overdue_children, 0)::int AS overdue_children,
       COALESCE(e.cells_never_visited, 0)::int AS cells_never_visited,
       COALESCE(r.new_children, 0)::int AS new_children,
       COALESCE(p.placements, 0)::int AS placements
  FROM keys k JOIN cells cl ON cl.cell_id = k.cell_id
  LEFT JOIN per_cell_end e ON e.first = k.first AND e.cell_id = k.cell_id
  LEFT JOIN visits v ON v.first = k.first AND v.cell_id = k.cell_id
  LEFT JOIN registered r ON r.first = k.first AND r.cell_id = k.cell_id
  LEFT JOIN placed p ON p.first = k.first AND p.cell_id = k.cell_id
 ORDER BY k.first, k.cell_id
"""


def month_range(months, until: dt.date) -> list[dt.date]:
    """The first days of the ``months`` months ending with ``until``'s month."""
    try:
        months = int(months)
    except (TypeError, ValueError):
        raise InvalidInput("months must be a whole number", field="months") from None
    if not 1 <= months <= MAX_MONTHS:
        raise InvalidInput(f"months must be between 1 and {MAX_MONTHS}, not {months}",
                           field="months")
    out = []
    y, m = until.year, until.month
    for _ in range(months):
        out.append(dt.date(y, m, 1))
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out[::-1]


def cell_figures(conn: Connection, rules: dict, scope_id: int, months: list[dt.date],
                 until: dt.date, tz: str) -> list[dict]:
    """The monthly counts per cell of the scope (cells with nothing in a month are left
    out), each row with its ``month`` (first day), cell, village and township."""
    own = {cid: r for cid, (_, r) in own_counties(conn, rules).items()}
    every = {0: rules, **own}
    rows = conn.execute(sa.text(_SQL.format(scope=in_scope_sql("c", "scope_id"))), {
        "intervals": json.dumps({str(k): r["visit_interval_days"] for k, r in every.items()}),
        "return_days": json.dumps({str(k): int(r["return_visit_days"])
                                   for k, r in every.items()}),
        "own_rules": list(own),
        "exempt": list(rules.get("return_visit_exempt_categories", [])),
        "start": months[0], "end": months[-1], "today": until, "tz": tz,
        "scope_id": scope_id}).mappings()
    return [{**dict(r), "month": r["first"]} for r in rows]


def with_percentages(row: dict) -> dict:
    out = dict(row)
    for key, (num, den) in PERCENTAGES.items():
        n, d = row.get(num), row.get(den)
        out[key] = None if n is None or not d else round(100.0 * n / d, 1)
    return out


def trends(conn: Connection, rules: dict, unit: str, months: int = 12,
           tz: str = "Asia/Shanghai", until: dt.date | None = None) -> dict:
    """The unit's monthly figures: ``months`` (labels), ``groups`` (the units one level
    down, each with ``series``: one row of counts and percentages per month) and
    ``total`` (the unit's own series). ``cells`` keeps the per-cell rows (for the
    planner's suppression pattern); callers drop it before answering."""
    found = find_unit(conn, unit)
    until = until or today(tz)
    firsts = month_range(months, until)
    cells = cell_figures(conn, rules, found.id, firsts, until, tz)
    level = GROUP_BY[found.level]
    key = {"township": "township_id", "village": "village_id", "cell": "cell_id"}[level]
    if found.level == "cell":
        units = conn.execute(sa.text("SELECT id, code, name FROM unit WHERE id = :id"),
                             {"id": found.id}).all()
    else:
        units = conn.execute(sa.text(
            f"SELECT u.id, u.code, u.name FROM unit u WHERE u.level = :level "
            f"AND {in_scope_sql('u', 'scope_id')} AND u.id <> :scope_id ORDER BY u.code"),
            {"level": level, "scope_id": found.id}).all()
    index = {m: i for i, m in enumerate(firsts)}
    zero = dict.fromkeys(COUNTS, 0)
    per_group = {u.id: [dict(zero) for _ in firsts] for u in units}
    total = [dict(zero) for _ in firsts]
    for r in cells:
        i = index[r["month"]]
        bucket = per_group.get(r[key])
        for f in COUNTS:
            total[i][f] += r[f]
            if bucket is not None:
                bucket[i][f] += r[f]
    labels = [{"month": m.strftime("%Y-%m"),
               "as_of": min(_month_end(m), until).isoformat()} for m in firsts]
    groups = [{"unit_id": u.id, "code": u.code, "name": u.name, "level": level,
               "series": [with_percentages({**lab, **per_group[u.id][i]})
                          for i, lab in enumerate(labels)]} for u in units]
    return {"unit": {"code": found.code, "name": found.name, "level": found.level},
            "group_level": level, "months": [lab["month"] for lab in labels],
            "figures": [{"key": k, "label": lab, "kind": kind} for k, lab, kind in FIGURES],
            "groups": groups,
            "total": {"code": found.code, "name": found.name,
                      "series": [with_percentages({**lab, **total[i]})
                                 for i, lab in enumerate(labels)]},
            "cells": cells}


def _month_end(first: dt.date) -> dt.date:
    nxt = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def for_planner(result: dict, conn: Connection, rules: dict, scope_code: str, threshold: int,
                tz: str, until: dt.date | None = None) -> dict:
    """``result`` as a planner may see it: the counts hidden by the complementary pattern
    over the planner's whole area (cell → village → township → area, per month), so a
    narrower query cannot be differenced against a wider one; a percentage is hidden
    when its numerator or denominator is."""
    from geo import suppression

    scope = find_unit(conn, scope_code)
    until = until or today(tz)
    firsts = [dt.date.fromisoformat(m + "-01") for m in result["months"]]
    if result["unit"]["code"] == scope.code and "cells" in result:
        cells = result["cells"]  # the planner's whole area: the rows are already there
    else:
        cells = cell_figures(conn, rules, scope.id, firsts, until, tz)
    unit = find_unit(conn, result["unit"]["code"])
    root_key = suppression.unit_key(unit, scope_code)
    level = result["group_level"]
    hidden_by_month = []
    for m in firsts:
        rows = [r for r in cells if r["month"] == m]
        hidden_by_month.append(suppression.protect_tree(rows, COUNTS, threshold)
                               if rows else set())

    def apply(series: list[dict], key: tuple) -> list[dict]:
        out = []
        for i, row in enumerate(series):
            hidden = hidden_by_month[i]
            row = dict(row)
            for f in COUNTS:
                if (*key, f) in hidden or suppression.small(row[f], threshold):
                    row[f] = None
            out.append(with_percentages(row))
        return out

    groups = []
    for g in result["groups"]:
        gkey = ("cell", g["unit_id"]) if level == "cell" else (level, g["unit_id"])
        if g["unit_id"] == scope.id:
            gkey = suppression.ROOT
        groups.append({**g, "series": apply(g["series"], gkey)})
    return {**result, "groups": groups,
            "total": {**result["total"], "series": apply(result["total"]["series"], root_key)},
            "suppressed": threshold}

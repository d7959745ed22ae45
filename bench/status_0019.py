"""Cell status as it was at migration 0019 (commit 9ac7734), kept for bench/queries.py to
measure next to the current one in the same run: every child's row of ``child_due``
joined to its cell, its last visit (or its registration day's midnight, converted in the
time zone per child) compared with the threshold picked by nested CASE expressions,
evaluated twice per row, behind an OFFSET 0 fence (no parallel partial aggregate). Only
the path for a day no stored visit lies after (``_NOW_LAST``), which is what the bench
asks for."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from geo.scope import CELL_IN_SCOPE
from geo.visits.due import _params, born_after

_CELLS = f"""c.level = 'cell' AND {CELL_IN_SCOPE}
       AND (CAST(:cells AS int[]) IS NULL OR c.id = ANY(CAST(:cells AS int[])))"""
_STATUS_SQL = f"""
WITH kids AS (
    SELECT ch.cell_id, ch.child_id AS id, ch.registered_on, ch.categories, ch.risk_level,
           CASE WHEN c.county_id = ANY(CAST(:own_rules AS int[])) THEN c.county_id
                ELSE 0 END AS rules_id,
           c.county_id, ch.last_visit_at AS stored_visit, ch.last_return_at AS stored_return
      FROM child_due ch
      JOIN unit c ON c.id = ch.cell_id
     WHERE ch.open AND ch.registered_on <= CAST(:as_of AS date)
       AND ch.birth_date > CAST(:born_after AS date) AND {_CELLS}
), last AS ({{last}}
), marked AS (
    -- One narrow row per child (cell, last visit, overdue) for the aggregate to group.
    SELECT l.cell_id, l.last_visit,
           COALESCE(l.last_visit, l.registered_on::timestamp AT TIME ZONE :tz)
               < {{due_at}}
           OR (l.return_due AND
               COALESCE(l.last_return, l.registered_on::timestamp AT TIME ZONE :tz)
               < {{return_at}}) AS overdue
      FROM last l
     -- A level its rules give no interval (data from before a county's own tiers) makes
     -- the child due for nothing, as in the due-visit list (which joins the rules).
     WHERE {{due_at}} IS NOT NULL OFFSET 0
), agg AS (
    SELECT m.cell_id, count(*) AS children,
           count(*) FILTER (WHERE m.overdue) AS overdue_children,
           max(m.last_visit) AS last_visit, count(m.last_visit) AS visited
      FROM marked m
     GROUP BY m.cell_id
)
SELECT c.id AS cell_id, c.code, c.name, c.village_id, c.township_id, c.county_id,
       coalesce(a.children, 0) AS children,
       coalesce(a.overdue_children, 0) AS overdue_children,
       CAST(:as_of AS date) - (a.last_visit AT TIME ZONE :tz)::date AS days_since_visit,
       CASE WHEN a.children IS NULL THEN 'empty'
            WHEN a.visited = 0 THEN 'never_visited'
            WHEN a.overdue_children > 0 THEN 'overdue'
            ELSE 'up_to_date' END AS status
  FROM unit c LEFT JOIN agg a ON a.cell_id = c.id
 WHERE {_CELLS}
 ORDER BY c.code
"""


# The stored last visits as they are (no stored visit after the day asked for).
_NOW_LAST = """
    SELECT k.cell_id, k.registered_on, k.risk_level, k.rules_id,
           k.stored_visit AS last_visit, k.stored_return AS last_return,
           NOT (k.categories <@ CAST(:exempt AS text[])) AS return_due
      FROM kids k
"""


def _thresholds(params: dict) -> tuple[dict, str, str]:
    """Per set of rules (0: the shared ones; else a county's id) and risk level, the
    first instant in the time zone of the first day a child must have been visited on
    or after (``as_of`` less the interval), and of the return visit's: bound values and
    the two CASE expressions that pick them per child (NULL for a level the child's
    rules do not have)."""
    day, tz = params["as_of"], ZoneInfo(params["tz"])
    intervals, returns = json.loads(params["intervals"]), json.loads(params["return_days"])

    def midnight(back: int) -> dt.datetime:
        return dt.datetime.combine(day - dt.timedelta(days=int(back)), dt.time(), tz)

    binds: dict = {}
    due, back = [], []
    for i, (key, levels) in enumerate(sorted(intervals.items())):
        binds[f"rs{i}"] = int(key)
        binds[f"rr{i}"] = midnight(returns[key])
        back.append(f"WHEN CAST(:rs{i} AS int) THEN CAST(:rr{i} AS timestamptz)")
        whens = []
        for j, (level, days) in enumerate(levels.items()):
            binds[f"rl{i}_{j}"], binds[f"ra{i}_{j}"] = level, midnight(days)
            whens.append(f"WHEN CAST(:rl{i}_{j} AS text) THEN CAST(:ra{i}_{j} AS timestamptz)")
        due.append(f"WHEN CAST(:rs{i} AS int) THEN CASE l.risk_level {' '.join(whens)} END")
    return (binds, f"CASE l.rules_id {' '.join(due)} END",
            f"CASE l.rules_id {' '.join(back)} END")


def cell_status_0019(conn, rules: dict, as_of: dt.date, unit: str | None = None,
                     tz: str = "Asia/Shanghai") -> list[dict]:
    params = _params(conn, rules, as_of, unit, tz, None)
    binds, due_at, return_at = _thresholds(params)
    sql = _STATUS_SQL.format(due_at=due_at, return_at=return_at, last=_NOW_LAST)
    result = conn.execute(sa.text(sql), {
        **params, **binds, "born_after": born_after(params["as_of"])})
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.fetchall()]

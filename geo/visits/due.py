"""Due visits and cell status, by the configured interval rules, in one SQL query each.

A child's next visit is due ``visit_interval_days[risk_level]`` days after their last
visit of any kind, and — unless all their categories are exempt (left-behind or migrant
children) — ``return_visit_days`` after their last grid-head return visit, whichever
comes first. A child never visited is due that long after registration. Only visits up
to the end of ``as_of`` (in the configured time zone) count.

A cell is ``empty`` with no children, ``never_visited`` when none of its children has a
visit, ``overdue`` when any child is overdue, and ``up_to_date`` otherwise.

>>> rows = cell_status(conn, rules, as_of=date(2026, 11, 24), unit="510411100")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo.config import county_rules
from geo.scope import CELL_IN_SCOPE, check_day, find_unit, parse_date, today

STATUSES = ("up_to_date", "overdue", "never_visited", "empty")

# Who is on the books on ``as_of``: a child whose case is closed, or whose 18th birthday
# falls on or before ``as_of``, is never due (so never in cell status, routes, plans or
# the report's counts). The age test is made here, at query time, rather than by closing
# cases on the birthday in a background pass: it costs one comparison and is right for
# any ``as_of``, past or future, even before anyone closes the case (geo/cases/lifecycle.py lists
# those still open for closing with reason ``turned_18``). The case status is today's.
UNDER_18 = "(ch.birth_date + interval '18 years')::date > CAST(:as_of AS date)"

# The last visit and last return visit of each child in ``kids``, read from the state
# the database keeps current (child.last_visit_at / last_return_at, maintained by
# triggers on visit). Only for a child whose stored last visit lies after the cutoff
# (``as_of`` in the past) are its visits looked up, through the (child, time) index of
# the child's county's partition only (run-time partition pruning on county_code).
_LAST = """
    SELECT k.*,
           CASE WHEN k.stored_visit IS NULL OR k.stored_visit < :cutoff THEN k.stored_visit
                ELSE (SELECT max(v.visited_at) FROM visit v
                       WHERE v.child_id = k.id AND v.county_code = k.county_code
                         AND v.visited_at < :cutoff) END
               AS last_visit,
           CASE WHEN k.stored_return IS NULL OR k.stored_return < :cutoff THEN k.stored_return
                ELSE (SELECT max(v.visited_at) FROM visit v
                       WHERE v.child_id = k.id AND v.county_code = k.county_code
                         AND v.kind = 'return' AND v.visited_at < :cutoff) END
               AS last_return,
           NOT (k.categories <@ CAST(:exempt AS text[])) AS return_due
      FROM kids k
"""

# One row per child in scope with last visits, due date and days overdue.
_DUE_SQL = f"""
WITH rules AS (
    -- Intervals per county (0: the shared rules; a county with its own rules in
    -- rules.counties has its id), each with the return-visit interval.
    SELECT cc.key::int AS county_id, e.key AS risk_level, e.value::int AS days,
           (CAST(:return_days AS jsonb) ->> cc.key)::int AS return_days
      FROM jsonb_each(CAST(:intervals AS jsonb)) cc, jsonb_each_text(cc.value) e
), bounds AS (
    SELECT CAST(:as_of AS date) AS as_of
), kids AS (
    SELECT ch.id, ch.name, ch.risk_level, ch.categories, ch.registered_on, ch.household_id,
           ch.last_visit_at AS stored_visit, ch.last_return_at AS stored_return,
           c.id AS cell_id, c.village_id, c.township_id, r.days, r.return_days,
           co.code AS county_code
      FROM unit c
      JOIN unit co ON co.id = c.county_id
      JOIN household h ON h.cell_id = c.id
      JOIN child ch ON ch.household_id = h.id
      JOIN rules r ON r.risk_level = ch.risk_level
       AND r.county_id = CASE WHEN c.county_id = ANY(CAST(:own_rules AS int[]))
                              THEN c.county_id ELSE 0 END
     WHERE c.level = 'cell' AND {CELL_IN_SCOPE} AND ch.registered_on <= CAST(:as_of AS date)
       AND ch.case_status <> 'closed' AND {UNDER_18}
       AND (CAST(:cells AS int[]) IS NULL OR c.id = ANY(CAST(:cells AS int[])))
), last AS ({_LAST}
), due AS (
    SELECT l.*,
           COALESCE((l.last_visit AT TIME ZONE :tz)::date, l.registered_on) + l.days
               AS regular_due,
           CASE WHEN l.return_due THEN
               COALESCE((l.last_return AT TIME ZONE :tz)::date, l.registered_on)
               + l.return_days END AS return_due_on
      FROM last l
)
SELECT d.*, LEAST(d.regular_due, d.return_due_on) AS next_due,
       GREATEST((SELECT as_of FROM bounds) - LEAST(d.regular_due, d.return_due_on), 0)
           AS days_overdue,
       (SELECT as_of FROM bounds) > LEAST(d.regular_due, d.return_due_on) AS overdue
  FROM due d
"""


def _due_sql(params: dict) -> str:
    """The due query (one shape for every scope: no scan of the visits)."""
    return _DUE_SQL


def _params(conn: Connection, rules: dict, as_of, unit: str | None, tz: str,
            cells: list[int] | None = None) -> dict:
    found = find_unit(conn, unit)
    day = parse_date(as_of, "as_of", tz)
    check_day(day, "as_of", rules, tz)
    cutoff = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), ZoneInfo(tz))
    # Counties with rules of their own (rules.counties, keyed by code) inside the scope.
    own = {}
    if rules.get("counties"):
        own = {r.id: county_rules(rules, r.code) for r in conn.execute(sa.text(
            "SELECT id, code FROM unit WHERE level = 'county' AND code = ANY(:codes)"),
            {"codes": [str(k) for k in rules["counties"]]})}
    every = {0: rules, **own}
    return {
        "cells": cells,
        "unit_level": found.level if found else None,
        "cutoff": cutoff,
        "intervals": json.dumps({str(k): r["visit_interval_days"] for k, r in every.items()}),
        "return_days": json.dumps({str(k): int(r["return_visit_days"])
                                   for k, r in every.items()}),
        "own_rules": list(own),
        "exempt": list(rules.get("return_visit_exempt_categories", [])),
        "as_of": day,
        "tz": tz,
        "unit_id": found.id if found else None,
    }


def due_visits(conn: Connection, rules: dict, as_of: dt.date | str | None = None,
               unit: str | None = None, within_days: int | None = None,
               tz: str = "Asia/Shanghai", cells: list[int] | None = None) -> list[dict]:
    """Every child in ``unit`` (or in the given cell ids) with last visit, next due date
    and days overdue, most overdue first. ``within_days`` keeps only children overdue
    or due that soon."""
    params = _params(conn, rules, as_of, unit, tz, cells)
    sql = f"""
        SELECT q.id AS child_id, q.household_id, q.cell_id, q.risk_level, q.categories,
               q.last_visit, q.last_return, q.regular_due, q.return_due_on, q.next_due,
               q.days_overdue, q.overdue,
               CASE WHEN q.next_due = q.return_due_on AND q.return_due_on < q.regular_due
                    THEN 'return' ELSE 'regular' END AS due_kind
          FROM ({_due_sql(params)}) q
         WHERE CAST(:within AS int) IS NULL
            OR q.next_due <= CAST(:as_of AS date) + CAST(:within AS int)
         ORDER BY q.days_overdue DESC, q.next_due, q.id
    """
    rows = conn.execute(sa.text(sql), {**params, "within": within_days}).mappings()
    return [dict(r) for r in rows]


# Cell status from the kept per-child rows (``child_due``, migration 0019: the child's
# cell, rules fields and visit state in one narrow row), without joining households to
# children. The same rules as _DUE_SQL: a child is overdue when its last visit's day
# (or its registration day) plus its interval falls before ``as_of``, or its last return
# visit's (unless exempt) plus the return interval does. Each test is worked out once
# per set of rules and risk level (``{overdue}``, see _overdue) as a comparison with
# bound values: a stored visit with the first instant in ``tz`` of the first day the
# child must have been visited on or after, a registration day (no visit) with that day
# itself, so no time-zone conversion or date arithmetic per child.
#
# One flat statement: each child's row is read, tested and counted once (no OFFSET 0
# fence), and the aggregate may run partly in parallel workers. ``{join}`` is the join to
# the cells for the scope and the county's rules; a call for every cell under shared
# rules leaves it out and keeps the cells' scope in the outer join (``{kids_where}``).
_CELLS = f"""c.level = 'cell' AND {CELL_IN_SCOPE}
       AND (CAST(:cells AS int[]) IS NULL OR c.id = ANY(CAST(:cells AS int[])))"""
_STATUS_SQL = f"""
WITH kids AS (
    SELECT ch.cell_id, ch.child_id AS id, ch.registered_on, ch.categories, ch.risk_level,
           {{rules_id}} AS rules_id, {{county_id}} AS county_id,
           ch.last_visit_at AS stored_visit, ch.last_return_at AS stored_return
      FROM child_due ch {{join}}
     WHERE ch.open AND ch.registered_on <= CAST(:as_of AS date)
       AND ch.birth_date > CAST(:born_after AS date) {{kids_where}}
), last AS ({{last}}
), agg AS (
    SELECT l.cell_id, count(*) AS children,
           count(*) FILTER (WHERE {{overdue}}) AS overdue_children,
           max(l.last_visit) AS last_visit, count(l.last_visit) AS visited
      FROM last l
     -- A level its rules give no interval (data from before a county's own tiers) makes
     -- the child due for nothing, as in the due-visit list (which joins the rules).
     WHERE {{has_interval}}
     GROUP BY l.cell_id
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
_JOIN_CELLS = "JOIN unit c ON c.id = ch.cell_id"
_RULES_ID = ("CASE WHEN c.county_id = ANY(CAST(:own_rules AS int[])) THEN c.county_id "
             "ELSE 0 END")


# The last visits for an ``as_of`` some stored visit lies after (see _LAST).
_PAST_LAST = """
    -- As _LAST, the county's code looked up only for a child whose visits are (for an
    -- as_of in the past); OFFSET 0 keeps each row's values computed once.
    SELECT k.cell_id, k.registered_on, k.risk_level, k.rules_id, k.categories,
           CASE WHEN k.stored_visit IS NULL OR k.stored_visit < :cutoff THEN k.stored_visit
                ELSE (SELECT max(v.visited_at) FROM visit v
                       WHERE v.child_id = k.id AND v.visited_at < :cutoff
                         AND v.county_code = (SELECT co.code FROM unit co
                                               WHERE co.id = k.county_id)) END
               AS last_visit,
           CASE WHEN k.stored_return IS NULL OR k.stored_return < :cutoff
                THEN k.stored_return
                ELSE (SELECT max(v.visited_at) FROM visit v
                       WHERE v.child_id = k.id AND v.kind = 'return'
                         AND v.visited_at < :cutoff
                         AND v.county_code = (SELECT co.code FROM unit co
                                               WHERE co.id = k.county_id)) END
               AS last_return
      FROM kids k OFFSET 0
"""
# ... and when none does (today: the usual case), the stored ones as they are.
_NOW_LAST = """
    SELECT k.cell_id, k.registered_on, k.risk_level, k.rules_id, k.categories,
           k.stored_visit AS last_visit, k.stored_return AS last_return
      FROM kids k
"""


def _overdue(params: dict) -> tuple[dict, str, str]:
    """Per set of rules (0: the shared ones; else a county's id) and risk level, the
    overdue test of a child's row ``l`` as bound values: the first day it must have been
    visited on or after (``as_of`` less the interval) and that day's first instant in the
    time zone, the same for the return visit; and the test that the row's level has an
    interval in its rules. Bind values, the overdue test and the interval test."""
    day, tz = params["as_of"], ZoneInfo(params["tz"])
    intervals, returns = json.loads(params["intervals"]), json.loads(params["return_days"])
    binds: dict = {}

    def before(stored: str, name: str, back: int) -> str:
        # Visited (or, never visited, registered) before the day ``back`` days before
        # as_of: a stored instant against that day's first instant in tz, else the
        # registration day against the day (the first instant of a later day is later).
        first = day - dt.timedelta(days=int(back))
        binds[f"{name}d"] = first
        binds[f"{name}t"] = dt.datetime.combine(first, dt.time(), tz)
        return (f"CASE WHEN l.{stored} IS NULL THEN l.registered_on < CAST(:{name}d AS date)"
                f" ELSE l.{stored} < CAST(:{name}t AS timestamptz) END")

    tests, has = {}, {}
    for i, (key, levels) in enumerate(sorted(intervals.items())):
        whens = []
        for j, (level, days) in enumerate(levels.items()):
            binds[f"rl{i}_{j}"] = level
            whens.append(f"WHEN CAST(:rl{i}_{j} AS text) THEN "
                         + before("last_visit", f"ra{i}_{j}", days))
        # The array test only for a child whose return visit is late by its day.
        back = (f"CASE WHEN {before('last_return', f'rr{i}', returns[key])} "
                "THEN NOT (l.categories <@ CAST(:exempt AS text[])) ELSE false END")
        tests[key] = f"(CASE l.risk_level {' '.join(whens)} END OR {back})"
        binds[f"rs{i}"] = int(key)
        binds[f"rv{i}"] = sorted(levels)
        has[key] = (i, f"l.risk_level = ANY(CAST(:rv{i} AS text[]))")
    if len(tests) == 1:
        ((key, test),) = tests.items()
        return binds, test, has[key][1]
    overdue = " ".join(f"WHEN CAST(:rs{has[k][0]} AS int) THEN {t}" for k, t in tests.items())
    levels = " ".join(f"WHEN CAST(:rs{i} AS int) THEN {t}" for i, t in has.values())
    return binds, f"CASE l.rules_id {overdue} END", f"CASE l.rules_id {levels} END"


def _status_sql(params: dict, past: bool) -> tuple[str, dict]:
    """The cell status statement for ``params`` (see _STATUS_SQL) and its extra binds."""
    binds, overdue, has_interval = _overdue(params)
    # Today, every cell, shared rules: the children are counted per cell id alone and the
    # outer join to the cells keeps those in scope (no join per child).
    every = (not past and params["unit_id"] is None and params["cells"] is None
             and not params["own_rules"])
    sql = _STATUS_SQL.format(
        join="" if every else _JOIN_CELLS, kids_where="" if every else f"AND {_CELLS}",
        rules_id="0" if every else _RULES_ID, county_id="NULL" if every else "c.county_id",
        last=_PAST_LAST if past else _NOW_LAST, overdue=overdue, has_interval=has_interval)
    return sql, binds


# Cell status from the figures kept per cell (``cell_due``, migration 0021), when they
# were counted by the rules asked for and the day is today or later (no stored visit
# after it): a cell's overdue children are its children whose next due day lies before
# ``as_of`` (a binary search of its sorted due days). A cell with a child registered after
# ``as_of`` or 18 by then (or counted by another county's rules), or one whose children
# already 18 on the day it was counted were left out and ``as_of`` is before that day, is
# marked ``recount`` and counted child by child instead (_STATUS_SQL for those cells).
_KEPT_SQL = f"""
SELECT c.id AS cell_id, c.code, c.name, c.village_id, c.township_id, c.county_id,
       coalesce(k.children, 0) AS children,
       coalesce(width_bucket(CAST(:as_of AS date) - 1, k.due), 0) AS overdue_children,
       CAST(:as_of AS date) - (k.last_visit AT TIME ZONE :tz)::date AS days_since_visit,
       CASE WHEN coalesce(k.children, 0) = 0 THEN 'empty'
            WHEN k.visited = 0 THEN 'never_visited'
            WHEN width_bucket(CAST(:as_of AS date) - 1, k.due) > 0 THEN 'overdue'
            ELSE 'up_to_date' END AS status,
       coalesce(k.children > 0 AND (k.last_registered > CAST(:as_of AS date)
                                    OR k.first_born <= CAST(:born_after AS date)
                                    OR k.rules_id <> {_RULES_ID})
                OR k.adults > 0 AND k.counted_on > CAST(:as_of AS date), false) AS recount
  FROM unit c LEFT JOIN cell_due k ON k.cell_id = c.id
 WHERE {_CELLS}
 ORDER BY c.code
"""


def _kept_rules(params: dict) -> dict:
    """What the kept per-cell figures depend on, as stored in ``due_rules``."""
    return {"tz": params["tz"], "intervals": json.loads(params["intervals"]),
            "return_days": json.loads(params["return_days"]),
            "exempt": sorted(params["exempt"])}


def keep_rules(conn: Connection, rules: dict, tz: str) -> bool:
    """Keep cell status per cell by ``rules`` and ``tz`` (the server's, at start-up):
    when the stored rules differ, store these and count every cell again (one pass over
    child_due; the caller commits). True when it counted."""
    from geo.store.maintained import CELL_DUE  # noqa: PLC0415 - a leaf module, no cycle

    want = _kept_rules(_params(conn, rules, None, None, tz))
    conn.execute(sa.text("INSERT INTO due_rules (id) VALUES (1) ON CONFLICT DO NOTHING"))
    have = conn.execute(sa.text("SELECT rules FROM due_rules WHERE id = 1 FOR UPDATE")
                        ).scalar()
    if have == want:
        return False
    conn.execute(sa.text("UPDATE due_rules SET rules = CAST(:r AS jsonb) WHERE id = 1"),
                 {"r": json.dumps(want)})
    conn.exec_driver_sql(CELL_DUE)
    return True


def recount_grown_up(conn: Connection, tz: str) -> int:
    """Count again the cells whose kept figures count a child who is 18 today (in
    ``tz``), so that it is left out and the cell is read from its kept figures again
    (until then it is counted child by child). Run once a day by ``gridmap serve``'s
    escalation loop (its first pass at start-up); returns how many cells it counted."""
    cells = conn.execute(sa.text(
        "SELECT array_agg(cell_id) FROM cell_due WHERE children > 0 "
        "AND first_born <= CAST(:b AS date)"), {"b": born_after(today(tz))}).scalar()
    if cells:
        conn.execute(sa.text("SELECT cell_due_recount(CAST(:c AS int[]))"), {"c": cells})
    return len(cells or [])


def cell_status(conn: Connection, rules: dict, as_of: dt.date | str | None = None,
                unit: str | None = None, tz: str = "Asia/Shanghai",
                cells: list[int] | None = None) -> list[dict]:
    """Every cell in ``unit`` (or of the given cell ids) with its status, children,
    overdue children and the days since the last visit to any child in it."""
    params = _params(conn, rules, as_of, unit, tz, cells)
    params["born_after"] = born_after(params["as_of"])
    # A return visit is a visit, so no stored return lies after the newest stored visit
    # (found through the index on child_due.last_visit_at).
    newest, kept = conn.execute(sa.text(
        "SELECT (SELECT max(last_visit_at) FROM child_due), "
        "(SELECT rules FROM due_rules WHERE id = 1)")).one()
    past = not (newest is None or newest < params["cutoff"])
    if not past and kept == _kept_rules(params):
        return _kept_status(conn, params)
    return _counted_status(conn, params, past)


def _counted_status(conn: Connection, params: dict, past: bool) -> list[dict]:
    """Cell status counted child by child (_STATUS_SQL)."""
    sql, binds = _status_sql(params, past)
    result = conn.execute(sa.text(sql), {**params, **binds})
    # Plain tuples zipped with the keys: a city's 17,889 rows as mappings cost more than
    # the query's own aggregation.
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.fetchall()]


def _kept_status(conn: Connection, params: dict) -> list[dict]:
    """Cell status from the kept per-cell figures (_KEPT_SQL), the cells it marks counted
    child by child."""
    result = conn.execute(sa.text(_KEPT_SQL), params)
    keys = list(result.keys())[:-1]
    rows, again = [], []
    for *row, recount in result.fetchall():
        rows.append(dict(zip(keys, row, strict=True)))
        if recount:
            again.append(row[0])
    if again:
        counted = {r["cell_id"]: r for r in _counted_status(
            conn, {**params, "cells": again}, past=False)}
        rows = [counted.get(r["cell_id"], r) for r in rows]
    return rows


def born_after(as_of: dt.date) -> dt.date:
    """The last birth date of an adult on ``as_of``: ``birth_date > born_after(d)`` is
    UNDER_18 (PostgreSQL's ``birth_date + interval '18 years'``, which takes 29 February
    to 28 February) as a plain date comparison."""
    def adult_on(born: dt.date) -> dt.date:
        try:
            return born.replace(year=born.year + 18)
        except ValueError:  # 29 February
            return born.replace(year=born.year + 18, day=28)

    day = as_of.replace(year=as_of.year - 18, day=min(as_of.day, 28)) + dt.timedelta(days=3)
    while adult_on(day) > as_of:
        day -= dt.timedelta(days=1)
    return day


def status_rollup(conn: Connection, cells: list[dict], level: str) -> list[dict]:
    """Cells' statuses summed per village, township or county (``level``), with unit
    names."""
    key = {"village": "village_id", "township": "township_id", "county": "county_id"}[level]
    out: dict[int, dict] = {}
    for cell in cells:
        agg = out.setdefault(cell[key], {"unit_id": cell[key], "cells": 0, "children": 0,
                                         "overdue_children": 0, **dict.fromkeys(STATUSES, 0)})
        agg["cells"] += 1
        agg["children"] += cell["children"]
        agg["overdue_children"] += cell["overdue_children"]
        agg[cell["status"]] += 1
    names = {r.id: (r.code, r.name) for r in conn.execute(
        sa.text("SELECT id, code, name FROM unit WHERE id = ANY(:ids)"), {"ids": list(out)})}
    for agg in out.values():
        agg["code"], agg["name"] = names[agg["unit_id"]]
    return sorted(out.values(), key=lambda r: r["code"])

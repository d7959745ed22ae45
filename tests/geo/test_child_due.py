"""The per-child rows the database keeps for cell status (``child_due``, migration 0019)
against the child and household tables after random writes (children added, moved,
edited, closed and deleted; households moved; visits recorded, corrected and undone);
and cell status, which reads them, against a from-scratch count over every visit, for
today, a past day and a county with rules of its own."""

import datetime as dt
import json
import random

import pytest
import sqlalchemy as sa
from test_cell_tally import delete_a_child_without_visits

from geo.config import DEFAULTS
from geo.visits.due import cell_status, keep_rules

RULES = DEFAULTS["rules"]
TZ = "Asia/Shanghai"
TODAY = dt.date(2026, 11, 24)  # the test demo's day (tests/conftest.py)

KEPT = """SELECT child_id, cell_id, risk_level, categories, registered_on, birth_date, open,
                 last_visit_at, last_return_at FROM child_due"""
SCRATCH = """
SELECT ch.id AS child_id, h.cell_id, ch.risk_level, ch.categories, ch.registered_on,
       ch.birth_date, ch.case_status <> 'closed' AS open, ch.last_visit_at, ch.last_return_at
  FROM child ch LEFT JOIN household h ON h.id = ch.household_id"""

# Cell status the slow way: every visit aggregated, dates compared day by day, the
# interval looked up per child (per county when the county has rules of its own).
STATUS_SCRATCH = """
WITH lv AS (
    SELECT child_id,
           max(visited_at) FILTER (WHERE visited_at < :cutoff) AS last_visit,
           max(visited_at) FILTER (WHERE kind = 'return' AND visited_at < :cutoff)
               AS last_return
      FROM visit GROUP BY child_id
), k AS (
    SELECT h.cell_id, ch.id, lv.last_visit,
           COALESCE((lv.last_visit AT TIME ZONE :tz)::date, ch.registered_on)
             + (CAST(:days AS jsonb) -> co.code ->> ch.risk_level)::int < :as_of
           OR (NOT ch.categories <@ CAST(:exempt AS text[])
               AND COALESCE((lv.last_return AT TIME ZONE :tz)::date, ch.registered_on)
                   + (CAST(:ret AS jsonb) ->> co.code)::int < :as_of) AS overdue
      FROM child ch JOIN household h ON h.id = ch.household_id
      JOIN unit c ON c.id = h.cell_id JOIN unit co ON co.id = c.county_id
      LEFT JOIN lv ON lv.child_id = ch.id
     WHERE ch.case_status <> 'closed' AND ch.registered_on <= :as_of
       AND (ch.birth_date + interval '18 years')::date > :as_of)
SELECT c.id AS cell_id, count(k.id) AS children,
       count(k.id) FILTER (WHERE k.overdue) AS overdue_children,
       :as_of - (max(k.last_visit) AT TIME ZONE :tz)::date AS days_since_visit,
       CASE WHEN count(k.id) = 0 THEN 'empty'
            WHEN count(k.last_visit) = 0 THEN 'never_visited'
            WHEN bool_or(k.overdue) THEN 'overdue' ELSE 'up_to_date' END AS status
  FROM unit c LEFT JOIN k ON k.cell_id = c.id WHERE c.level = 'cell' GROUP BY c.id"""


def kept(conn) -> dict:
    return {r.child_id: tuple(r) for r in conn.execute(sa.text(KEPT))}


def scratch(conn) -> dict:
    return {r.child_id: tuple(r) for r in conn.execute(sa.text(SCRATCH))}


def status_scratch(conn, rules: dict, as_of: dt.date) -> dict:
    counties = conn.execute(sa.text("SELECT code FROM unit WHERE level = 'county'")
                            ).scalars().all()
    own = rules.get("counties") or {}
    days = {c: {**rules["visit_interval_days"],
                **own.get(c, {}).get("visit_interval_days", {})} for c in counties}
    ret = {c: own.get(c, {}).get("return_visit_days", rules["return_visit_days"])
           for c in counties}
    cutoff = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(),
                                 dt.timezone(dt.timedelta(hours=8)))
    rows = conn.execute(sa.text(STATUS_SCRATCH), {
        "cutoff": cutoff, "tz": TZ, "days": json.dumps(days), "ret": json.dumps(ret),
        "exempt": list(rules["return_visit_exempt_categories"]), "as_of": as_of})
    return {r.cell_id: (r.children, r.overdue_children, r.days_since_visit, r.status)
            for r in rows}


def status_kept(conn, rules: dict, as_of: dt.date) -> dict:
    return {r["cell_id"]: (r["children"], r["overdue_children"], r["days_since_visit"],
                           r["status"])
            for r in cell_status(conn, rules, as_of=as_of, tz=TZ)}


def test_backfilled_rows_equal_the_tables(conn):
    assert len(kept(conn)) > 100
    assert kept(conn) == scratch(conn)


def test_cell_status_equals_a_count_over_every_visit(conn):
    for as_of in (TODAY, TODAY - dt.timedelta(days=75)):
        want = status_scratch(conn, RULES, as_of)
        assert {s for *_, s in want.values()} >= {"overdue", "up_to_date", "empty"} or (
            as_of != TODAY)
        assert status_kept(conn, RULES, as_of) == want, as_of


def test_cell_status_with_a_countys_own_rules(conn):
    county = conn.execute(sa.text("SELECT code FROM unit WHERE level = 'county' LIMIT 1")
                          ).scalar()
    rules = {**RULES, "counties": {county: {
        "visit_interval_days": {"high": 3, "medium": 10, "low": 200},
        "return_visit_days": 12}}}
    as_of = TODAY
    want = status_scratch(conn, rules, as_of)
    assert want != status_scratch(conn, RULES, as_of)
    assert status_kept(conn, rules, as_of) == want


@pytest.mark.parametrize("keep", [False, True])
def test_rows_and_status_follow_random_writes(conn, keep):
    """``keep``: with the figures kept per cell (cell_due, migration 0021), which cell
    status then reads, and which must follow every write too."""
    rng = random.Random(19)
    # The visits below are recorded up to now(), after the demo's day: as of that day
    # the visits are looked up per child; as of the day after now the kept figures
    # (when kept) are read.
    days = [TODAY, dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
            + dt.timedelta(days=1)]
    if keep:
        assert keep_rules(conn, RULES, TZ)
    cells = conn.execute(sa.text(
        "SELECT id FROM unit WHERE level = 'cell' ORDER BY id")).scalars().all()
    worker = conn.execute(sa.text("SELECT id FROM worker ORDER BY id LIMIT 1")).scalar()
    template = conn.execute(sa.text(
        "SELECT sex, birth_date, categories, registered_on FROM child ORDER BY id LIMIT 1")
    ).one()
    today = TODAY
    for step in range(80):
        households = conn.execute(sa.text(
            "SELECT id FROM household ORDER BY id")).scalars().all()
        kids = conn.execute(sa.text("SELECT id FROM child ORDER BY id")).scalars().all()
        op = rng.choice(["add_children", "move_household", "move_households", "move_child",
                         "risk", "close", "reopen", "visit", "visits", "undo_visit",
                         "correct_visit", "delete_child", "birthday"])
        if op == "add_children":
            conn.execute(sa.text(
                "INSERT INTO child (household_id, name, sex, birth_date, categories, "
                "risk_level, registered_on) SELECT h, '随机', :sex, :b, :cat, :r, :reg "
                "FROM unnest(CAST(:hs AS int[])) h"),
                {"hs": rng.sample(households, 3), "sex": template.sex,
                 "b": template.birth_date, "cat": rng.choice([[], ["left_behind"],
                                                               ["orphan", "migrant"]]),
                 "r": rng.choice(RULES["risk_levels"]),
                 "reg": today - dt.timedelta(days=rng.randrange(400))})
        elif op == "move_household":
            conn.execute(sa.text("UPDATE household SET cell_id = :c WHERE id = :h"),
                         {"c": rng.choice(cells), "h": rng.choice(households)})
        elif op == "move_households":
            conn.execute(sa.text("UPDATE household SET cell_id = :c WHERE id = ANY(:hs)"),
                         {"c": rng.choice(cells), "hs": rng.sample(households, 6)})
        elif op == "move_child":
            conn.execute(sa.text("UPDATE child SET household_id = :h WHERE id = :c"),
                         {"h": rng.choice(households), "c": rng.choice(kids)})
        elif op == "risk":
            conn.execute(sa.text("UPDATE child SET risk_level = :r WHERE id = ANY(:cs)"),
                         {"r": rng.choice(RULES["risk_levels"]), "cs": rng.sample(kids, 5)})
        elif op in ("close", "reopen"):
            conn.execute(sa.text("UPDATE child SET case_status = :s WHERE id = :c"),
                         {"s": "closed" if op == "close" else "open", "c": rng.choice(kids)})
        elif op == "birthday":
            conn.execute(sa.text(
                "UPDATE child SET birth_date = :b, categories = :cat WHERE id = :c"),
                {"b": today - dt.timedelta(days=rng.choice([365 * 18 + 5, 365 * 3])),
                 "cat": rng.choice([["left_behind"], ["abused"]]), "c": rng.choice(kids)})
        elif op in ("visit", "visits"):
            n = 1 if op == "visit" else 7
            conn.execute(sa.text(
                "INSERT INTO visit (child_id, worker_id, visited_at, kind) "
                "SELECT c, :w, now() - make_interval(days => c % 120), "
                "       CASE WHEN c % 2 = 0 THEN 'return' ELSE 'regular' END "
                "  FROM unnest(CAST(:cs AS int[])) c"),
                {"cs": rng.sample(kids, n), "w": worker})
        elif op in ("undo_visit", "correct_visit"):
            visit = conn.execute(sa.text(
                "SELECT id FROM visit ORDER BY visited_at DESC OFFSET :o LIMIT 1"),
                {"o": rng.randrange(50)}).scalar()
            if op == "undo_visit":
                conn.execute(sa.text("DELETE FROM visit WHERE id = :v"), {"v": visit})
            else:
                conn.execute(sa.text(
                    "UPDATE visit SET visited_at = visited_at - interval '100 days' "
                    "WHERE id = :v"), {"v": visit})
        else:
            delete_a_child_without_visits(conn)
        if step % 10 == 9:
            assert kept(conn) == scratch(conn), f"after step {step} ({op})"
            for day in days:
                assert status_kept(conn, RULES, day) == status_scratch(conn, RULES, day), (
                    f"after step {step} ({op}), as of {day}")
    assert kept(conn) == scratch(conn)
    assert status_kept(conn, RULES, today) == status_scratch(conn, RULES, today)

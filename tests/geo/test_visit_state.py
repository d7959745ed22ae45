"""The visit state the database keeps current (child.last_visit_at / last_return_at)
against a from-scratch aggregation of every visit, after random inserts, corrections
and undos; and due visits for a past date, which must not read the current state."""

import datetime as dt
import random

import pandas as pd
import sqlalchemy as sa

from geo.config import DEFAULTS
from geo.visits.due import due_visits

RULES = DEFAULTS["rules"]
TZ = "Asia/Shanghai"

MISMATCH = """
SELECT ch.id, ch.last_visit_at, a.last_visit, ch.last_return_at, a.last_return
  FROM child ch
  LEFT JOIN (SELECT child_id, max(visited_at) AS last_visit,
                    max(visited_at) FILTER (WHERE kind = 'return') AS last_return
               FROM visit GROUP BY child_id) a ON a.child_id = ch.id
 WHERE ch.last_visit_at IS DISTINCT FROM a.last_visit
    OR ch.last_return_at IS DISTINCT FROM a.last_return
"""


def mismatches(conn) -> list:
    return conn.execute(sa.text(MISMATCH)).all()


def test_backfilled_and_loaded_state_equals_aggregation(conn):
    assert conn.execute(sa.text("SELECT count(*) FROM child WHERE last_visit_at IS NOT NULL")
                        ).scalar() > 0
    assert mismatches(conn) == []


def test_state_follows_random_inserts_corrections_and_undos(conn):
    rng = random.Random(17)
    kids = [r[0] for r in conn.execute(sa.text(
        "SELECT id FROM child ORDER BY id LIMIT 60")).all()]
    worker = conn.execute(sa.text("SELECT id FROM worker ORDER BY id LIMIT 1")).scalar()
    base = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    for step in range(300):
        op = rng.choice(["insert", "insert", "bulk", "move", "kind", "time", "delete"])
        child = rng.choice(kids)
        when = base + dt.timedelta(hours=rng.randrange(0, 24 * 200))
        if op == "insert":
            conn.execute(sa.text(
                "INSERT INTO visit (child_id, worker_id, visited_at, kind) "
                "VALUES (:c, :w, :t, :k)"),
                {"c": child, "w": worker, "t": when, "k": rng.choice(["regular", "return"])})
        elif op == "bulk":
            conn.execute(sa.text(
                "INSERT INTO visit (child_id, worker_id, visited_at, kind) "
                "SELECT c, :w, :t + make_interval(hours => c % 97), "
                "       CASE WHEN c % 3 = 0 THEN 'return' ELSE 'regular' END "
                "  FROM unnest(CAST(:cs AS int[])) c"),
                {"cs": rng.sample(kids, 8), "w": worker, "t": when})
        else:
            visit = conn.execute(sa.text(
                "SELECT id FROM visit WHERE child_id = ANY(:cs) ORDER BY random() LIMIT 1"),
                {"cs": kids}).scalar()
            if visit is None:
                continue
            if op == "move":
                conn.execute(sa.text("UPDATE visit SET child_id = :c WHERE id = :v"),
                             {"c": child, "v": visit})
            elif op == "kind":
                conn.execute(sa.text(
                    "UPDATE visit SET kind = CASE kind WHEN 'return' THEN 'regular' "
                    "ELSE 'return' END WHERE id = :v"), {"v": visit})
            elif op == "time":
                conn.execute(sa.text("UPDATE visit SET visited_at = :t WHERE id = :v"),
                             {"t": when - dt.timedelta(days=400), "v": visit})
            else:
                conn.execute(sa.text("DELETE FROM visit WHERE id = :v"), {"v": visit})
        if step % 50 == 0:
            assert mismatches(conn) == [], f"after step {step} ({op})"
    # Deleting every visit of a child leaves it never visited.
    conn.execute(sa.text("DELETE FROM visit WHERE child_id = :c"), {"c": kids[0]})
    assert mismatches(conn) == []
    assert conn.execute(sa.text("SELECT last_visit_at FROM child WHERE id = :c"),
                        {"c": kids[0]}).scalar() is None


def test_due_visits_for_a_past_day_ignore_later_visits(conn):
    """For a past as_of the last visits are those before it (oracle: pandas over all
    visits), although the stored state holds later ones."""
    as_of = dt.date(2026, 9, 1)
    visits = pd.read_sql("SELECT child_id, visited_at, kind FROM visit", conn)
    visits["day"] = visits["visited_at"].dt.tz_convert(TZ).dt.date
    before = visits[visits["day"] <= as_of]
    last_any = before.groupby("child_id")["visited_at"].max()
    last_ret = before[before["kind"] == "return"].groupby("child_id")["visited_at"].max()
    rows = due_visits(conn, RULES, as_of=as_of, unit="510411")
    later = set(visits[visits["day"] > as_of]["child_id"])
    assert any(r["child_id"] in later for r in rows), "the demo must have later visits"
    for r in rows:
        want = last_any.get(r["child_id"])
        assert (r["last_visit"] is None) == (want is None or pd.isna(want)), r
        if r["last_visit"] is not None:
            assert pd.Timestamp(r["last_visit"]) == want
        want_ret = last_ret.get(r["child_id"])
        if r["last_return"] is not None:
            assert pd.Timestamp(r["last_return"]) == want_ret
        else:
            assert want_ret is None or pd.isna(want_ret)


def test_any_change_of_a_record_moves_updated_at_but_a_visit_does_not(conn):
    """Routes are cached under the newest updated_at: a corrected address must move it
    (it did not: only a moved point did), a recorded visit must not touch the child."""
    hh, child = conn.execute(sa.text(
        "SELECT h.id, ch.id FROM household h JOIN child ch ON ch.household_id = h.id "
        "ORDER BY h.id LIMIT 1")).one()
    conn.execute(sa.text("UPDATE household SET updated_at = '2020-01-01' WHERE id = :h"),
                 {"h": hh})
    conn.execute(sa.text("UPDATE child SET updated_at = '2020-01-01' WHERE id = :c"),
                 {"c": child})
    worker = conn.execute(sa.text("SELECT id FROM worker ORDER BY id LIMIT 1")).scalar()
    conn.execute(sa.text("INSERT INTO visit (child_id, worker_id, visited_at, kind) "
                         "VALUES (:c, :w, now(), 'regular')"), {"c": child, "w": worker})
    assert conn.execute(sa.text("SELECT updated_at FROM child WHERE id = :c"),
                        {"c": child}).scalar().year == 2020
    conn.execute(sa.text("UPDATE household SET address = address || '号' WHERE id = :h"),
                 {"h": hh})
    conn.execute(sa.text("UPDATE child SET name = name || '一' WHERE id = :c"), {"c": child})
    for table, key in (("household", hh), ("child", child)):
        assert conn.execute(sa.text(f"SELECT updated_at FROM {table} WHERE id = :k"),
                            {"k": key}).scalar().year > 2020

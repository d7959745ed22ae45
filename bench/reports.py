"""Benchmark of discovery reports: 10,000 open reports in the demo county, one
escalation pass and the inbox's first page, each next to a naive way of doing the same
work, measured in the same run.

    .venv/bin/python bench/reports.py                 # 10,000 reports at scale 1
    .venv/bin/python bench/reports.py --reports 50000 --scale 1

Targets on a 2-core machine: one escalation pass over 10,000 open reports < 1 s; the
inbox's first page (50 rows) < 100 ms. Everything is written inside one transaction
that is rolled back at the end, so the benchmark database is left as it was.
"""

from __future__ import annotations

import argparse
import datetime as dt

import sqlalchemy as sa
from common import bench_engine, config, machine_line, timed

from geo.cases import reports
from geo.store.db import open_database

TARGETS_MS = {"escalation pass": 1000, "inbox first page": 100}
NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))

# Reports spread over the county's cells; severities one urgent : three serious : six
# general; reported over the last five days, so about a third are past their deadline.
_FILL = """
WITH cells AS (
    SELECT c.village_id, ST_PointOnSurface(c.geom) AS p,
           row_number() OVER (ORDER BY c.id) - 1 AS k, count(*) OVER () AS n
      FROM unit c WHERE c.level = 'cell'
), src AS (
    SELECT g, CASE WHEN g % 10 = 0 THEN 'urgent' WHEN g % 10 < 4 THEN 'serious'
                   ELSE 'general' END AS severity,
           CAST(:now AS timestamptz) - make_interval(mins => (g * 37) % (5 * 24 * 60)) AS at
      FROM generate_series(1, :n) g
)
INSERT INTO report (source, harm, severity, description, reported_at, geom, village_id,
                    level, unit_id, deadline)
SELECT 'public', 'neglect', s.severity, 'bench', s.at, c.p, c.village_id,
       CASE s.severity WHEN 'urgent' THEN 'county' WHEN 'serious' THEN 'township'
                       ELSE 'village' END,
       CASE s.severity WHEN 'urgent' THEN v.county_id WHEN 'serious' THEN v.township_id
                       ELSE v.id END,
       s.at + make_interval(hours => CASE s.severity WHEN 'urgent' THEN 1
                                     WHEN 'serious' THEN 24 ELSE 72 END)
  FROM src s JOIN cells c ON c.k = (s.g * 7919) % c.n
  JOIN unit v ON v.id = c.village_id
"""


def naive_pass(conn, cfg, now):
    """Select the due reports, then update each one and write its history row by row."""
    due = conn.execute(sa.text(
        "SELECT r.id, r.level, v.township_id, v.county_id FROM report r "
        "JOIN unit v ON v.id = r.village_id WHERE r.status = 'new' AND r.level <> 'county' "
        "AND r.deadline <= :now"), {"now": now}).all()
    hours = cfg["reports"]["escalated_accept_hours"]
    for rid, level, township, county in due:
        up, unit = ("township", township) if level == "village" else ("county", county)
        conn.execute(sa.text(
            "UPDATE report SET level = :l, unit_id = :u, deadline = :d WHERE id = :id"),
            {"l": up, "u": unit, "d": now + dt.timedelta(hours=hours[up]), "id": rid})
        conn.execute(sa.text(
            "INSERT INTO report_event (report_id, action, from_level, to_level) "
            "VALUES (:r, 'auto_escalate', :f, :t)"), {"r": rid, "f": level, "t": up})
    return len(due)


def naive_inbox(conn, scope_id, level, limit=50):
    """Every open report in the area, sorted in Python."""
    rows = reports.inbox(conn, scope_id, level=level, now=NOW, limit=10_000_000)
    return sorted(rows, key=lambda r: (r["deadline"], r["id"]))[:limit]


def once(func):
    """Time ``func`` inside a savepoint that is rolled back, so it can run again."""
    def run(conn):
        def go():
            sp = conn.begin_nested()
            try:
                return func()
            finally:
                sp.rollback()
        return go
    return run


def bench(cfg, scale: float, n: int) -> None:
    engine = bench_engine(cfg, scale)
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            conn.execute(sa.text(_FILL), {"n": n, "now": NOW})
            conn.execute(sa.text("ANALYZE report"))
            stats = conn.execute(sa.text(
                "SELECT count(*) FILTER (WHERE status IN ('new', 'accepted', 'in_progress')),"
                " count(*) FILTER (WHERE status = 'new' AND level <> 'county' "
                "AND deadline <= :now) FROM report"), {"now": NOW}).one()
            print(f"scale {scale:g}: {stats[0]:,} open reports, {stats[1]:,} past their "
                  "deadline below the county")
            county = conn.execute(sa.text(
                "SELECT id FROM unit WHERE level = 'county' ORDER BY id LIMIT 1")).scalar_one()
            town = conn.execute(sa.text(
                "SELECT unit_id FROM report WHERE level = 'township' GROUP BY unit_id "
                "ORDER BY count(*) DESC LIMIT 1")).scalar_one()
            rows = [
                ("escalation pass", timed(once(lambda: len(
                    reports.escalate_due(conn, cfg, NOW)))(conn), 5),
                 timed(once(lambda: naive_pass(conn, cfg, NOW))(conn), 1)),
                ("inbox first page", timed(lambda: len(reports.inbox(
                    conn, county, level="county", now=NOW, limit=50)), 20),
                 timed(lambda: len(naive_inbox(conn, county, "county")), 3)),
                ("inbox, township", timed(lambda: len(reports.inbox(
                    conn, town, level="township", now=NOW, limit=50)), 20),
                 timed(lambda: len(naive_inbox(conn, town, "township")), 3)),
                ("inbox, county, all levels", timed(lambda: len(reports.inbox(
                    conn, county, level=None, now=NOW, limit=50)), 20),
                 timed(lambda: len(naive_inbox(conn, county, None)), 3)),
                ("counts per village", timed(lambda: len(reports.counts(
                    conn, county, "village", NOW)), 10), None),
            ]
            print(f"{'':<28}{'median ms':>10}{'p95 ms':>10}{'rows':>8}{'naive ms':>10}"
                  f"{'target':>9}")
            for name, ours, naive in rows:
                target = TARGETS_MS.get(name)
                verdict = "" if target is None else (
                    f"<{target} {'ok' if ours['p95_ms'] < target else 'MISSED'}")
                print(f"{name:<28}{ours['median_ms']:>10.1f}{ours['p95_ms']:>10.1f}"
                      f"{ours['result']:>8}"
                      f"{(naive['median_ms'] if naive else float('nan')):>10.1f}  {verdict}")
        finally:
            tx.rollback()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--reports", type=int, default=10_000)
    args = parser.parse_args()
    print(machine_line())
    cfg = config()
    with open_database(cfg, migrate=False):
        bench(cfg, args.scale, args.reports)


if __name__ == "__main__":
    main()

"""Status of every cell from the visit state the database keeps current, next to the
same query re-aggregating all visits (what it did before migration 0006), in one run.

    .venv/bin/python bench/visit_state.py --scale 1     # county
    .venv/bin/python bench/visit_state.py --scale 20    # city (loads once, minutes)

Targets: county ≤ 60 ms, city ≤ 0.5 s (p95).
"""

from __future__ import annotations

import argparse
import os

import sqlalchemy as sa
from common import BENCH_TODAY, bench_engine, config, machine_line, timed
from queries import PREVIOUS_STATUS, previous_status

from geo.store.db import open_database
from geo.visits import due as visits
from geo.visits.due import cell_status

TARGET_MS = {1: 60, 20: 500}

# Before 0006: the last visits of every child aggregated from all visits per call.
_AGGREGATE = """
    SELECT k.*, a.last_visit, a.last_return,
           NOT (k.categories <@ CAST(:exempt AS text[])) AS return_due
      FROM kids k
      LEFT JOIN (SELECT child_id, max(visited_at) AS last_visit,
                        max(visited_at) FILTER (WHERE kind = 'return') AS last_return
                   FROM visit WHERE visited_at < :cutoff GROUP BY child_id) a
        ON a.child_id = k.id
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, action="append")
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    cfg = config()
    rules, tz = cfg["rules"], cfg["timezone"]
    print(machine_line())
    with open_database(cfg, migrate=False):
        for scale in args.scale or [1.0]:
            _measure(cfg, rules, tz, scale, args.repeat)


def _measure(cfg, rules, tz, scale, repeat) -> None:
    """Both sides for one scale, same database, same run."""
    engine = bench_engine(cfg, scale)
    with engine.connect() as conn:
        counts = conn.execute(sa.text(
            "SELECT (SELECT count(*) FROM unit WHERE level = 'cell'), "
            "(SELECT count(*) FROM child), (SELECT count(*) FROM visit)")).one()
        print(f"scale {scale:g}: {counts[0]:,} cells, {counts[1]:,} children, "
              f"{counts[2]:,} visits")
        kept = timed(lambda c=conn: cell_status(c, rules, BENCH_TODAY, None, tz),
                     repeat)
        saved = visits._DUE_SQL
        start = saved.index("last AS (") + len("last AS (")
        end = saved.index("), due AS (")
        old = PREVIOUS_STATUS.replace(saved, saved[:start] + _AGGREGATE + saved[end:])
        again = timed(lambda c=conn: previous_status(c, rules, BENCH_TODAY, tz, old), repeat)
    if not kept["result"] or not again["result"]:
        print("  one side returned nothing: no ratio")
        return
    same = ([(r["cell_id"], r["status"]) for r in kept["result"]]
            == [(r["cell_id"], r["status"]) for r in again["result"]])
    target = TARGET_MS.get(round(scale))
    print(f"  kept state      median {kept['median_ms']:8.1f} ms  p95 {kept['p95_ms']:8.1f} ms"
          + (f"  (target {target} ms)" if target else ""))
    print(f"  re-aggregated   median {again['median_ms']:8.1f} ms  "
          f"p95 {again['p95_ms']:8.1f} ms")
    print(f"  same statuses: {same}; p95 ratio {again['p95_ms'] / kept['p95_ms']:.1f}x")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()

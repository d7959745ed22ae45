"""Benchmark of visit tours: our solver next to LKH-3 (elkai) and nearest neighbour on
the same distance matrices, and the week plan of the largest village, in one run.

    .venv/bin/python bench/routes.py            # needs the test extra (elkai)

For 25, 50, 100 and 200 stops (demo households of the largest villages, the office
first) it prints our time and tour length, LKH-3's, and nearest neighbour's, as ratios
to LKH-3 (three instances per size: mean and worst). Target: within 1 % of LKH-3 in
≤ 1 s at 100 stops. elkai is LKH-3 under a non-commercial licence: it is used here and
in the tests only, never by the product.
"""

from __future__ import annotations

import os
import time

import elkai
import numpy as np
import sqlalchemy as sa
from common import BENCH_TODAY, bench_engine, config

from geo.routing import StraightLine, nearest_neighbour, solve_tour
from geo.routing.improve import tour_length
from geo.routing.plan import week_plan
from geo.routing.routes import clear_route_cache
from geo.store.db import open_database

SIZES = (25, 50, 100, 200)
INSTANCES = 3


def _households(conn, n: int, k: int) -> np.ndarray:
    """``n`` + 1 demo households of the ``k``-th largest township (the first one is the
    office), in id order."""
    town = conn.execute(sa.text(
        "SELECT c.township_id FROM household h JOIN unit c ON c.id = h.cell_id "
        "GROUP BY c.township_id ORDER BY count(*) DESC, c.township_id OFFSET :k LIMIT 1"),
        {"k": k}).scalar_one()
    rows = conn.execute(sa.text(
        "SELECT ST_X(h.geom), ST_Y(h.geom) FROM household h JOIN unit c ON c.id = h.cell_id "
        "WHERE c.township_id = :t ORDER BY h.id LIMIT :n"), {"t": town, "n": n + 1}).all()
    return np.array(rows, dtype=float)


def _tours(conn) -> None:
    print(f"{'stops':>5} | {'ours s':>7} {'ours/LKH':>9} {'worst':>7} | {'LKH s':>6} | "
          f"{'NN/LKH':>7}")
    for n in SIZES:
        ours_t, lkh_t, ratio, nn_ratio = [], [], [], []
        for k in range(INSTANCES):
            pts = _households(conn, n, k)
            dist = StraightLine(1.3).matrix(pts)
            started = time.perf_counter()
            tour = solve_tour(dist)
            ours_t.append(time.perf_counter() - started)
            started = time.perf_counter()
            lkh = elkai.DistanceMatrix(np.round(dist).astype(int).tolist()).solve_tsp(runs=10)
            lkh_t.append(time.perf_counter() - started)
            best = tour_length(lkh[:-1], dist)
            ratio.append(tour_length(tour, dist) / best)
            nn_ratio.append(tour_length(nearest_neighbour(dist), dist) / best)
        print(f"{n:>5} | {np.mean(ours_t):7.2f} {np.mean(ratio):9.4f} {max(ratio):7.4f} | "
              f"{np.mean(lkh_t):6.2f} | {np.mean(nn_ratio):7.3f}", flush=True)


def _week(conn, cfg) -> None:
    worker, village, households = conn.execute(sa.text(
        """
        SELECT w.id, v.name, count(DISTINCT h.id) FROM worker w
          JOIN worker_unit wu ON wu.worker_id = w.id
          JOIN unit c ON c.level = 'cell' AND wu.unit_id IN (c.id, c.village_id)
          JOIN unit v ON v.id = c.village_id
          JOIN household h ON h.cell_id = c.id
         WHERE w.role = 'grid_head' AND w.active
         GROUP BY w.id, v.name ORDER BY count(DISTINCT h.id) DESC, w.id LIMIT 1
        """)).one()
    clear_route_cache()
    started = time.perf_counter()
    plan = week_plan(conn, cfg["rules"], worker, BENCH_TODAY, 5, tz=cfg["timezone"])
    elapsed = time.perf_counter() - started
    planned = sum(len(d["stops"]) for d in plan["days"])
    print(f"week plan, largest village ({village}, {households} households, grid head "
          f"{worker}): {elapsed:.2f} s for 5 working days, {planned} planned, "
          f"{len(plan['unplanned'])} unplanned, days of "
          + ", ".join(f"{d['total_min']:.0f}" for d in plan["days"]) + " min")


def main() -> None:
    cfg = config()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cores: {cores}; load average: "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    with open_database(cfg, migrate=False):
        engine = bench_engine(cfg, 1.0)
        with engine.connect() as conn:
            _tours(conn)
            _week(conn, cfg)


if __name__ == "__main__":
    main()

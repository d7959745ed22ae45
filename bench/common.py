"""Shared by the benchmarks: a demo database per scale, loaded once and kept
(``gridmap_bench_s1``, ``gridmap_bench_s20``) so repeated runs measure queries, not
loading; timing helpers that report median and p95."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geo import migrate  # noqa: E402
from geo.config import load_config  # noqa: E402
from geo.demo import is_empty, load_demo  # noqa: E402
from geo.office.secrets import ensure_secrets  # noqa: E402
from geo.store.db import create_database, database_url, get_engine  # noqa: E402

BENCH_TODAY = "2026-11-24"


def config() -> dict:
    return ensure_secrets(load_config())


def bench_engine(cfg: dict, scale: float):
    """The benchmark database for ``scale``, loading the demo the first time."""
    name = f"gridmap_bench_s{scale:g}".replace(".", "_")
    url = make_url(database_url(cfg)).set(database=name).render_as_string(hide_password=False)
    create_database(url)
    engine = get_engine(url)
    migrate.upgrade(engine)
    if is_empty(engine):
        import datetime as dt

        started = time.perf_counter()
        print(f"loading the demo at scale {scale:g} into {name}…", flush=True)
        load_demo(engine, cfg, scale=scale, today=dt.date.fromisoformat(BENCH_TODAY))
        print(f"  loaded in {time.perf_counter() - started:.0f} s", flush=True)
    return engine


def timed(func, repeat: int) -> dict:
    """Run ``func`` ``repeat`` times; median and p95 in milliseconds, and its last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = func()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return {"median_ms": statistics.median(times), "p95_ms": p95, "result": result,
            "n": repeat}


def machine_line() -> str:
    """Cores and the load of everything else on the machine, printed by every bench so
    a figure can be read against what else was running."""
    import os

    load1, load5, _ = os.getloadavg()
    return (f"machine: {os.cpu_count()} cores, load average {load1:.2f} (1 min) "
            f"{load5:.2f} (5 min) before this run")

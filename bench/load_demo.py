"""Benchmark: how long the seeded demo takes to load, and what it holds.

    .venv/bin/python bench/load_demo.py --scale 1 --scale 20

Each scale loads into a scratch database on the configured server (the embedded
cluster when DATABASE_URL is unset), prints the load time per phase and rows per
table, then drops the database. Not part of the test run.
"""

from __future__ import annotations

import argparse
import time
import uuid

import sqlalchemy as sa
from common import machine_line
from sqlalchemy import make_url

from geo.config import load_config
from geo.demo import load_demo
from geo.office.secrets import ensure_secrets
from geo.store.db import create_database, database_url, drop_database, get_engine, open_database

TABLES = ["unit", "household", "child", "worker", "worker_unit", "facility", "visit",
          "placement"]


def bench(cfg: dict, scale: float) -> None:
    url = make_url(database_url(cfg)).set(database=f"gridmap_bench_{uuid.uuid4().hex[:8]}")
    create_database(url)
    engine = get_engine(url.render_as_string(hide_password=False))
    try:
        from geo import migrate

        migrate.upgrade(engine)
        started = time.perf_counter()
        summary = load_demo(engine, cfg, scale=scale)
        seconds = time.perf_counter() - started
        with engine.connect() as conn:
            rows = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in TABLES}
            size = conn.execute(sa.text(
                "SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar_one()
        print(f"scale {scale:g}: loaded in {seconds:.1f} s, database {size}")
        for key, value in summary.get("seconds", {}).items():
            print(f"    phase {key:<12} {value:8.1f} s")
        for table, count in rows.items():
            print(f"    {table:<12} {count:>10,}")
    finally:
        engine.dispose()
        drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, action="append", default=None)
    args = parser.parse_args()
    print(machine_line())
    cfg = ensure_secrets(load_config())
    with open_database(cfg, migrate=False):
        for scale in args.scale or [1.0]:
            bench(cfg, scale)


if __name__ == "__main__":
    main()

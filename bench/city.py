"""The demo city (510400 攀枝花市, five counties) with visits partitioned by county, next
to an unpartitioned copy of the same data, in one run.

    .venv/bin/python bench/city.py --scale 0.1     # small: ~24k households (minutes)
    .venv/bin/python bench/city.py --scale 8.5     # the issue's size: ~2M households

Prints, for each copy: load time, cell status for the city and for one county (today,
from the kept visit state, and as of a past day, which reads the visits), nearest
facility p95, one tile p95 and the monthly report of the city. Two databases
(``gridmap_bench_city_s<scale>`` and ``…_flat``) are loaded each run and dropped after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import math
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from common import BENCH_TODAY, config, machine_line, timed
from sqlalchemy import make_url

from geo import migrate
from geo.demo import load_demo
from geo.facilities.nearest import nearest_facilities
from geo.reporting.monthly import monthly_report
from geo.store.db import create_database, database_url, drop_database, get_engine, open_database
from geo.visits.due import cell_status
from layers.tiles import LAYERS, tile

CITY, COUNTY = "510400", "510411"
PAST = "2026-09-30"
MONTH = BENCH_TODAY[:7]


def _unpartition(engine) -> None:
    """Turn ``visit`` back into one plain table (the downgrade half of migration 0016)."""
    path = Path(migrate.MIGRATIONS) / "versions" / "0015_city.py"
    spec = importlib.util.spec_from_file_location("m0015", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with engine.begin() as conn:
        class Op:
            @staticmethod
            def execute(sql):
                conn.exec_driver_sql(sql)
        module.op = Op
        module._unpartition_visits()
        # The same column, unpartitioned, so the same queries run on both copies.
        conn.exec_driver_sql(
            "ALTER TABLE visit ADD COLUMN county_code varchar(6) NOT NULL DEFAULT ''")
        conn.exec_driver_sql(
            "UPDATE visit v SET county_code = co.code FROM child ch, household h, unit c, "
            "unit co WHERE ch.id = v.child_id AND h.id = ch.household_id "
            "AND c.id = h.cell_id AND co.id = c.county_id")
        conn.exec_driver_sql("ANALYZE visit")


def _tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    return (int((lon + 180) / 360 * n),
            int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))


def _measure(engine, cfg, repeat: int) -> dict:
    rules, tz = cfg["rules"], cfg["timezone"]
    out = {}
    with engine.connect() as conn:
        city_id = conn.execute(sa.text("SELECT id FROM unit WHERE code = :c"),
                               {"c": CITY}).scalar_one()
        for label, unit in (("city", CITY), ("county", COUNTY)):
            out[f"status {label} today"] = timed(
                lambda u=unit: cell_status(conn, rules, BENCH_TODAY, u, tz), repeat)
            out[f"status {label} {PAST}"] = timed(
                lambda u=unit: cell_status(conn, rules, PAST, u, tz), repeat)
        rng = np.random.default_rng(1)
        points = [tuple(p) for p in conn.execute(sa.text(
            "SELECT ST_X(geom), ST_Y(geom) FROM household ORDER BY id"))]
        picks = [points[i] for i in rng.integers(0, len(points), 200)]
        it = iter(picks * 2)
        out["nearest (k=5, rescue/hospital)"] = timed(lambda: nearest_facilities(
            conn, *next(it), types=["rescue_station", "designated_hospital"], k=5), 200)
        seat = conn.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit "
            "WHERE level = 'township' AND code LIKE '510402%' ORDER BY code LIMIT 1) t")).one()
        x, y = _tile_xy(*seat, 14)
        out["tile households z14"] = timed(lambda: tile(conn, LAYERS["households"], 14, x, y,
                                                        city_id), 50)
        out["monthly report (city)"] = timed(
            lambda: monthly_report(conn, rules, CITY, MONTH, tz), max(3, repeat // 3))
        out["rows"] = conn.execute(sa.text(
            "SELECT (SELECT count(*) FROM household), (SELECT count(*) FROM child), "
            "(SELECT count(*) FROM visit)")).one()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--keep", action="store_true", help="keep the two databases")
    args = parser.parse_args()
    cfg = config()
    print(machine_line())
    results, urls = {}, []
    with open_database(cfg, migrate=False):
        try:
            for kind in ("partitioned", "flat"):
                name = f"gridmap_bench_city_s{args.scale:g}".replace(".", "_")
                name += "_flat" if kind == "flat" else ""
                url = make_url(database_url(cfg)).set(database=name).render_as_string(
                    hide_password=False)
                drop_database(url)
                create_database(url)
                urls.append(url)
                engine = get_engine(url)
                migrate.upgrade(engine)
                started = time.perf_counter()
                summary = load_demo(engine, cfg, scale=args.scale, city=CITY,
                                    today=dt.date.fromisoformat(BENCH_TODAY))
                load_s = time.perf_counter() - started
                if kind == "flat":
                    _unpartition(engine)
                results[kind] = _measure(engine, cfg, args.repeat)
                results[kind]["load"] = load_s
                results[kind]["phases"] = summary["seconds"]
        finally:
            if not args.keep:
                for url in urls:
                    get_engine(url).dispose()
                    drop_database(url)
    p, f = results["partitioned"], results["flat"]
    hh, ch, vi = p["rows"]
    print(f"city {CITY} at scale {args.scale:g}: {hh:,} households, {ch:,} children, "
          f"{vi:,} visits; five counties")
    print(f"{'':38} {'partitioned':>14} {'unpartitioned':>14}")
    print(f"{'load (s)':38} {p['load']:>14.1f} {f['load']:>14.1f}")
    for key in [k for k in p if k not in ("rows", "load", "phases")]:
        print(f"{key + ' p95 (ms)':38} {p[key]['p95_ms']:>14.1f} {f[key]['p95_ms']:>14.1f}")
    print(f"load phases, partitioned: {p['phases']}")


if __name__ == "__main__":
    main()

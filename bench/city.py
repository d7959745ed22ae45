"""The demo city (510400 攀枝花市, five counties) partitioned by county, next to an
unpartitioned copy of the same data, in one run.

    .venv/bin/python bench/city.py --scale 1       # ~237k households, ~1.6M visits
    .venv/bin/python bench/city.py --scale 8.5     # the issue's size: ~2M households, 13M visits

The city is loaded once (``gridmap_bench_city_s<scale>``, the demo's bulk load); the
unpartitioned copy (``…_flat``) is made from it with CREATE DATABASE … TEMPLATE, every
partitioned table then turned into one plain table (``geo.demo.flat``). Prints, for
each copy: cell status for the city and for one county (today, from the kept visit
state, and as of a past day, which reads the visits), nearest facility p95, one tile
p95 and the monthly report of the city; the load time and its phases, and whether both
copies hold the same rows and give the same cell status totals. Both databases are
dropped after (``--keep`` keeps them)."""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import math
import sys
import time

import numpy as np
import sqlalchemy as sa
from common import BENCH_TODAY, config, machine_line, timed
from sqlalchemy import make_url

from geo import migrate
from geo.demo import load_demo
from geo.demo.flat import unpartition
from geo.facilities.nearest import nearest_facilities
from geo.reporting.monthly import monthly_report
from geo.store.db import create_database, database_url, drop_database, get_engine, open_database
from geo.visits.due import cell_status
from layers.tiles import LAYERS, tile

CITY, COUNTY = "510400", "510411"
PAST = "2026-09-30"
MONTH = BENCH_TODAY[:7]


def _copy_database(source: str, target: str) -> float:
    """``target``: a copy of the loaded ``source`` (CREATE DATABASE … TEMPLATE, a file
    copy on the server), then every partitioned table made one plain table
    (``geo.demo.flat``, found in the catalog). Returns the seconds it took."""
    started = time.perf_counter()
    get_engine(source).dispose()
    admin = sa.create_engine(make_url(source).set(database="postgres"),
                             isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{make_url(target).database}" '
                                 f'TEMPLATE "{make_url(source).database}"')
    finally:
        admin.dispose()
    with get_engine(target).begin() as conn:
        flattened = unpartition(conn)
    print(f"unpartitioned copy: {', '.join(flattened)} made plain tables", flush=True)
    with get_engine(target).connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("VACUUM ANALYZE")
    return time.perf_counter() - started


def _tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    return (int((lon + 180) / 360 * n),
            int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))


def _measure(engine, cfg, repeat: int, kind: str = "") -> dict:
    rules, tz = cfg["rules"], cfg["timezone"]

    class Out(dict):
        def __setitem__(self, key, value):  # each figure printed as soon as it is known
            super().__setitem__(key, value)
            if isinstance(value, dict):
                print(f"  {kind} {key}: p95 {value['p95_ms']:.1f} ms (n={value['n']})",
                      flush=True)

    out = Out()
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
            lambda: monthly_report(conn, rules, CITY, MONTH, tz), max(1, repeat // 3))
        out["rows"] = conn.execute(sa.text(
            "SELECT (SELECT count(*) FROM household), (SELECT count(*) FROM child), "
            "(SELECT count(*) FROM visit)")).one()
    return out


def _status_total(cells: list[dict]) -> tuple:
    """Cells, children and overdue children of a cell status answer, and the cells per
    status: what both copies must agree on."""
    return (len(cells), sum(c["children"] for c in cells),
            sum(c["overdue_children"] for c in cells),
            sorted(collections.Counter(c["status"] for c in cells).items()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--keep", action="store_true", help="keep the two databases")
    args = parser.parse_args()
    cfg = config()
    print(machine_line(), flush=True)
    results, urls = {}, []
    name = f"gridmap_bench_city_s{args.scale:g}".replace(".", "_")
    url, flat = (make_url(database_url(cfg)).set(database=n).render_as_string(
        hide_password=False) for n in (name, name + "_flat"))
    with open_database(cfg, migrate=False):
        try:
            for u in (url, flat):
                drop_database(u)
            urls += [url, flat]
            create_database(url)
            engine = get_engine(url)
            migrate.upgrade(engine)
            started = time.perf_counter()
            summary = load_demo(engine, cfg, scale=args.scale, city=CITY,
                                today=dt.date.fromisoformat(BENCH_TODAY))
            load_s = time.perf_counter() - started
            print(f"loaded in {load_s:.0f} s: {summary['seconds']}", flush=True)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql("VACUUM ANALYZE")
            copy_s = _copy_database(url, flat)
            for kind, u in (("partitioned", url), ("flat", flat)):
                results[kind] = _measure(get_engine(u), cfg, args.repeat, kind)
                print(f"measured {kind}", flush=True)
        finally:
            if not args.keep:
                for u in urls:
                    get_engine(u).dispose()
                    drop_database(u)
    p, f = results["partitioned"], results["flat"]
    hh, ch, vi = p["rows"]
    print(f"city {CITY} at scale {args.scale:g}: {hh:,} households, {ch:,} children, "
          f"{vi:,} visits; five counties")
    same = p["rows"] == f["rows"] and all(
        _status_total(p[k]["result"]) == _status_total(f[k]["result"])
        for k in p if k.startswith("status"))
    status = _status_total(p[f"status city {PAST}"]["result"])
    print(f"both copies: same rows and cell status totals: {'yes' if same else 'NO'} "
          f"(city on {PAST}: {status[0]:,} cells, {status[1]:,} children, "
          f"{status[2]:,} overdue)")
    print(f"{'':38} {'partitioned':>14} {'unpartitioned':>14}")
    print(f"{'load (s)':38} {load_s:>14.1f} {copy_s:>14.1f}  (flat: copied from the load)")
    for key in [k for k in p if k != "rows"]:
        print(f"{key + ' p95 (ms)':38} {p[key]['p95_ms']:>14.1f} {f[key]['p95_ms']:>14.1f}")
    print("load phases (s): " + ", ".join(f"{k} {v:g}" for k, v in summary["seconds"].items()))
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()

"""API throughput: requests per second and latency of ``GET /api/facilities/nearest`` and
of one vector tile under concurrent load from a second process on loopback, next to the
same queries run directly against PostGIS, so the API's own overhead is a ratio.

    .venv/bin/python bench/api_load.py [--seconds 10] [--clients 8]

Starts ``gridmap serve`` (waitress) on 127.0.0.1:5077 against the county-scale
benchmark database, loads it from a separate process, then stops it. Only loopback
traffic; every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import http.client
import math
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from common import bench_engine, config

from geo.facilities.nearest import _NEAREST
from geo.office.users import create_user, issue_token, user_for_token
from geo.store.db import open_database
from layers.tiles import LAYERS, tile

PORT = 5077
ROOT = Path(__file__).resolve().parent.parent


def _tile_xy(lon, lat, z):
    n = 2 ** z
    return (int((lon + 180) / 360 * n),
            int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))


def _client(paths, token, seconds, out):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    headers = {"Authorization": f"Bearer {token}"}
    end, i, lat = time.perf_counter() + seconds, 0, []
    errors = 0
    while time.perf_counter() < end:
        started = time.perf_counter()
        conn.request("GET", paths[i % len(paths)], headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            errors += 1
        lat.append(time.perf_counter() - started)
        i += 1
    out.put((lat, errors))


def _load(paths, token, seconds, clients, queue):
    """The second process: ``clients`` threads, each with a keep-alive connection."""
    inner: mp.Queue = queue
    threads = [threading.Thread(target=_client, args=(paths, token, seconds, inner))
               for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _summary(latencies, seconds, errors=0):
    latencies = sorted(latencies)
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    return {"rps": len(latencies) / seconds, "median_ms": statistics.median(latencies) * 1000,
            "p95_ms": p95 * 1000, "n": len(latencies), "errors": errors}


def over_http(paths, token, seconds, clients):
    queue = mp.Queue()
    proc = mp.Process(target=_load, args=(paths, token, seconds, clients, queue))
    proc.start()
    results = [queue.get(timeout=seconds + 60) for _ in range(clients)]
    proc.join(timeout=30)
    latencies = [x for lat, _ in results for x in lat]
    return _summary(latencies, seconds, sum(e for _, e in results))


def direct(engine, work, seconds, clients):
    """The same queries straight to PostGIS, one connection per thread."""
    out: list[list[float]] = []

    def run():
        mine = []
        with engine.connect() as conn:
            end, i = time.perf_counter() + seconds, 0
            while time.perf_counter() < end:
                started = time.perf_counter()
                work(conn, i)
                mine.append(time.perf_counter() - started)
                i += 1
        out.append(mine)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return _summary([x for m in out for x in m], seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    cfg = config()
    with open_database(cfg, migrate=False):
        engine = bench_engine(cfg, 1)
        url = engine.url.render_as_string(hide_password=False)
        with engine.begin() as conn:
            user = conn.execute(sa.text("SELECT id FROM app_user WHERE username = 'bench_admin'"))
            if user.first() is None:
                create_user(conn, "bench_admin", "admin", "510411", "bench-password-1")
            from geo.office.users import authenticate

            token = issue_token(conn, authenticate(conn, "bench_admin", "bench-password-1"))
            token = token["token"]
            assert user_for_token(conn, token)
            rng = random.Random(1)
            points = conn.execute(sa.text(
                "SELECT ST_X(g), ST_Y(g) FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, 200, 1)))"
                ".geom g FROM unit WHERE level = 'county') p")).all()
            seat = conn.execute(sa.text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit "
                "WHERE level = 'township' AND name LIKE '%街道') t")).one()
        rng.shuffle(points)
        z = 12
        tx, ty = _tile_xy(*seat, z)
        nearest_paths = [f"/api/facilities/nearest?lon={x}&lat={y}&k=5&need_bed=true"
                         for x, y in points]
        tile_paths = [f"/tiles/households/{z}/{tx}/{ty}.pbf"]

        env = {**os.environ, "DATABASE_URL": url}
        server = subprocess.Popen(
            [str(ROOT / ".venv/bin/gridmap"), "serve", "--port", str(PORT), "--no-demo",
             "--threads", str(args.clients)], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
                    c.request("GET", "/api/health")
                    if c.getresponse().status == 200:
                        break
                except OSError:
                    time.sleep(0.2)
            print(f"{args.clients} clients for {args.seconds:g} s each, county scale, "
                  f"2 cores shared by load, server and database", flush=True)
            params = [{"lon": x, "lat": y, "types": None, "need_bed": True, "open_24h": False,
                       "age": None, "sex": None, "disability": False, "k": 5, "margin": 10}
                      for x, y in points]
            layer = LAYERS["households"]
            cases = [
                ("nearest", nearest_paths,
                 lambda conn, i: conn.execute(sa.text(_NEAREST), params[i % len(params)]).all()),
                (f"tile z{z}", tile_paths,
                 lambda conn, i: tile(conn, layer, z, tx, ty, 1)),
            ]
            for name, paths, work in cases:
                api = over_http(paths, token, args.seconds, args.clients)
                db = direct(engine, work, args.seconds, args.clients)
                print(f"  {name:<9} API   {api['rps']:8.0f} req/s  median {api['median_ms']:6.1f}"
                      f" ms  p95 {api['p95_ms']:6.1f} ms  ({api['n']} requests, "
                      f"{api['errors']} errors)")
                print(f"  {'':<9} SQL   {db['rps']:8.0f} q/s    median {db['median_ms']:6.1f}"
                      f" ms  p95 {db['p95_ms']:6.1f} ms  → API overhead: "
                      f"{db['rps'] / api['rps']:.1f}x the time per request", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())

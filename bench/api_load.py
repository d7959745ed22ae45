"""API throughput: requests per second and latency of ``GET /api/facilities/nearest`` and
of one vector tile with content under concurrent load from a second process on loopback,
next to the same work done directly against PostGIS (the same geo function, so the same
SQL, with the same number of clients), so the API's own overhead is a ratio.

    .venv/bin/python bench/api_load.py [--seconds 10] [--clients 8] [--workers N]

Starts ``gridmap serve`` on 127.0.0.1:5077 against the county-scale benchmark database
(``--workers``: as many processes as ``gridmap serve`` starts by default, one per core
up to 4; > 1: gunicorn with that many processes, 1: waitress), loads it from a
separate process, then stops it. Only loopback traffic; every loop is bounded in time.

The tile is one the households layer draws (z15 over the densest cell: a point per
household); both sides must
return non-empty bytes, and no ratio is printed when either side returned nothing or
failed. The API side of the tile is measured twice: with its tile cache (what a user
gets on repeat views) and with the cache bypassed (``?fresh`` is not a client option:
the server is started with ``GRIDMAP_TILE_CACHE_MB=0`` for that pass).
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
from common import bench_engine, config, machine_line

from api.cli import default_workers
from geo import audit
from geo.facilities.nearest import nearest_facilities
from geo.office.users import authenticate, create_user, issue_token, user_for_token
from geo.store.db import open_database
from layers.serve import tile_for_user

PORT = 5077
ROOT = Path(__file__).resolve().parent.parent
TILE_Z = 15


def _tile_xy(lon, lat, z):
    n = 2 ** z
    return (int((lon + 180) / 360 * n),
            int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))


def _client(paths, token, seconds, out):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    headers = {"Authorization": f"Bearer {token}"}
    end, i, lat = time.perf_counter() + seconds, 0, []
    errors = empty = 0
    while time.perf_counter() < end:
        started = time.perf_counter()
        conn.request("GET", paths[i % len(paths)], headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            errors += 1
        elif not body:
            empty += 1
        lat.append(time.perf_counter() - started)
        i += 1
    out.put((lat, errors, empty))


def _load(paths, token, seconds, clients, queue):
    """The second process: ``clients`` threads, each with a keep-alive connection."""
    threads = [threading.Thread(target=_client, args=(paths, token, seconds, queue))
               for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _summary(latencies, seconds, errors=0, empty=0):
    latencies = sorted(latencies)
    if not latencies:
        return {"rps": 0.0, "median_ms": 0.0, "p95_ms": 0.0, "n": 0, "errors": errors,
                "empty": empty}
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    return {"rps": len(latencies) / seconds, "median_ms": statistics.median(latencies) * 1000,
            "p95_ms": p95 * 1000, "n": len(latencies), "errors": errors, "empty": empty}


def _split(server_pid) -> list[int]:
    """The clients' connections held by each server process (busiest first): each
    keep-alive connection stays with the process that accepted it, so with few clients
    one process may carry most of the load."""
    import psutil

    family = [psutil.Process(server_pid), *psutil.Process(server_pid).children(recursive=True)]
    counts = [sum(1 for c in p.net_connections(kind="tcp")
                  if c.laddr and c.laddr.port == PORT and c.status == "ESTABLISHED")
              for p in family]
    return sorted((n for n in counts if n), reverse=True)


def over_http(paths, token, seconds, clients, server_pid=None):
    queue = mp.Queue()
    proc = mp.Process(target=_load, args=(paths, token, seconds, clients, queue))
    proc.start()
    split = None
    if server_pid is not None:
        time.sleep(min(1.0, seconds / 4))
        split = _split(server_pid)
    results = [queue.get(timeout=seconds + 60) for _ in range(clients)]
    proc.join(timeout=30)
    latencies = [x for lat, _, _ in results for x in lat]
    return {**_summary(latencies, seconds, sum(r[1] for r in results),
                       sum(r[2] for r in results)), "split": split}


def direct(engine, work, seconds, clients):
    """The same work straight to PostGIS: ``clients`` threads, one connection each, one
    transaction per call (as the API has one per request)."""
    out: list[tuple[list[float], int]] = []

    def run():
        mine, empty = [], 0
        with engine.connect() as conn:
            end, i = time.perf_counter() + seconds, 0
            while time.perf_counter() < end:
                started = time.perf_counter()
                with conn.begin():
                    result = work(conn, i)
                if not result:
                    empty += 1
                mine.append(time.perf_counter() - started)
                i += 1
        out.append((mine, empty))

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return _summary([x for m, _ in out for x in m], seconds, 0, sum(e for _, e in out))


def _get(path, token):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    c.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    resp = c.getresponse()
    return resp.status, resp.read()


class Server:
    """``gridmap serve`` from this checkout, in its own process."""

    def __init__(self, url, clients, workers, env=None):
        self.args = [sys.executable, "-c", "import sys; from api.cli import main; "
                     "sys.argv[0] = 'gridmap'; sys.exit(main())",
                     "serve", "--port", str(PORT), "--no-demo", "--threads", str(clients)]
        self.args += ["--workers", str(workers)]
        self.env = {**os.environ, "DATABASE_URL": url, **(env or {})}

    def __enter__(self):
        self.proc = subprocess.Popen(self.args, cwd=ROOT, env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(150):
            try:
                c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
                c.request("GET", "/api/health")
                if c.getresponse().status == 200:
                    return self
            except OSError:
                time.sleep(0.2)
        raise SystemExit("the server did not start")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _profile(pid, out, seconds):
    """py-spy sampling ``pid`` (and its worker processes) for ``seconds``, or None."""
    if not out:
        return None
    spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen([str(spy), "record", "--pid", str(pid), "--subprocesses",
                             "--duration", str(int(seconds)), "--rate", "200",
                             "--format", "raw", "--output", out, "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _line(name, side, r):
    unit = "req/s" if side == "API" else "q/s  "
    split = (f"; connections per process {'/'.join(map(str, r['split']))}"
             if r.get("split") and len(r["split"]) > 1 else "")
    return (f"  {name:<16} {side:<4} {r['rps']:7.0f} {unit}  median {r['median_ms']:6.1f} ms"
            f"  p95 {r['p95_ms']:6.1f} ms  ({r['n']} calls, {r['errors']} errors, "
            f"{r['empty']} empty{split})")


def _ratio(api, db) -> str:
    if not api["n"] or not db["n"] or api["errors"] or api["empty"] or db["empty"]:
        return "  → no ratio: a side failed or returned nothing"
    return (f"  → API p95 / SQL p95 = {api['p95_ms'] / db['p95_ms']:.1f}x, "
            f"throughput SQL / API = {db['rps'] / api['rps']:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="server processes (> 1: gunicorn, gthread workers; 1: "
                             "waitress); default: gridmap serve's, one per core up to 4")
    parser.add_argument("--threads", type=int, default=None,
                        help="server threads per process (default: as many as clients)")
    parser.add_argument("--only", choices=("nearest", "tile"), default=None,
                        help="measure one of the two endpoints")
    parser.add_argument("--profile", metavar="FILE",
                        help="sample the server with py-spy during the nearest pass "
                             "(collapsed stacks to FILE; needs the bench extra)")
    args = parser.parse_args()
    cfg = config()
    print(machine_line(), flush=True)
    with open_database(cfg, migrate=False):
        engine = bench_engine(cfg, 1)
        url = engine.url.render_as_string(hide_password=False)
        with engine.begin() as conn:
            user = conn.execute(sa.text("SELECT id FROM app_user WHERE username = 'bench_admin'"))
            if user.first() is None:
                create_user(conn, "bench_admin", "admin", "510411", "bench-password-1")
            token = issue_token(conn, authenticate(conn, "bench_admin", "bench-password-1"))
            token = token["token"]
            admin = user_for_token(conn, token)
            assert admin
            rng = random.Random(1)
            points = conn.execute(sa.text(
                "SELECT ST_X(g), ST_Y(g) FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, 200, 1)))"
                ".geom g FROM unit WHERE level = 'county') p")).all()
            # The middle of the densest cell: the households layer draws it at z14.
            dense = conn.execute(sa.text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Centroid(ST_Collect(h.geom)) p "
                "FROM household h GROUP BY h.cell_id ORDER BY count(*) DESC LIMIT 1) t")).one()
        rng.shuffle(points)
        z = TILE_Z
        tx, ty = _tile_xy(*dense, z)
        nearest_paths = [f"/api/facilities/nearest?lon={x}&lat={y}&k=5&need_bed=true"
                         for x, y in points]
        tile_path = f"/tiles/households/{z}/{tx}/{ty}.pbf"

        def nearest_work(conn, i):
            x, y = points[i % len(points)]
            return nearest_facilities(conn, x, y, k=5, need_bed=True)["facilities"]

        uncached = {**cfg, "tile_cache_mb": 0}

        def tile_work(conn, i):
            # The tile built (never from a cache) and the read audited, as the API does.
            data, audited = tile_for_user(conn, uncached, "households", z, tx, ty, admin)
            if audited:
                audit.record(conn, admin, "read", "tile_households", f"{z}/{tx}/{ty}",
                             ip="127.0.0.1", detail={"z": z, "x": tx, "y": ty,
                                                     "unit": admin.unit_code,
                                                     "bytes": len(data)})
            return data

        with engine.connect() as conn:
            sample = tile_work(conn, 0)
            conn.rollback()
        server = (f"gunicorn, {args.workers} processes" if args.workers > 1
                  else "waitress")
        print(f"{args.clients} clients for {args.seconds:g} s each, county scale, "
              f"{server} with {args.threads or args.clients} threads; "
              f"tile {z}/{tx}/{ty} of households ({len(sample)} bytes)", flush=True)
        if not sample:
            raise SystemExit("the chosen tile is empty: nothing honest to measure")

        # Each API pass is followed at once by its direct pass, so both sides of a ratio
        # see the same background load.
        results, sql = {}, {}
        for cached in (True, False) if args.only != "nearest" else (True,):
            env = {} if cached else {"GRIDMAP_TILE_CACHE_MB": "0"}
            with Server(url, args.threads or args.clients, args.workers, env) as srv:
                status, body = _get(tile_path, token)
                if status != 200 or not body:
                    raise SystemExit(f"the API answered the tile with {status}, "
                                     f"{len(body)} bytes")
                if cached and args.only != "tile":
                    spy = _profile(srv.proc.pid, args.profile, args.seconds)
                    results["nearest"] = over_http(nearest_paths, token, args.seconds,
                                                   args.clients, srv.proc.pid)
                    if spy is not None:
                        spy.wait(timeout=60)
                    sql["nearest"] = direct(engine, nearest_work, args.seconds, args.clients)
                name = "tile (cached)" if cached else "tile (uncached)"
                if args.only != "nearest":
                    results[name] = over_http([tile_path], token, args.seconds, args.clients,
                                              srv.proc.pid)
                    sql[name] = direct(engine, tile_work, args.seconds, args.clients)
        for name, api in results.items():
            db = sql[name]
            print(_line(name, "API", api))
            print(_line("", "SQL", db))
            print(_ratio(api, db), flush=True)


if __name__ == "__main__":
    sys.exit(main())

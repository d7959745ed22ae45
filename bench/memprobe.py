"""Where the service's memory goes across repeated large imports and exports (issue 19):
the soak's admin loop (a 20,000-row household ledger imported, the ledger exported)
played in this process through the Flask test client, each cycle on one of eight
threads in turn as waitress would, with after every cycle:

- ``rss``: the process's resident memory;
- ``py``: what Python's allocators hold (tracemalloc's current size, with ``--trace``);
- ``malloc used`` / ``malloc free``: glibc's ``mallinfo2()`` — bytes in use, and bytes
  free inside malloc's arenas but not given back to the system (fragmentation);
- with ``--trace``, the 12 allocation sites that grew most since the first cycle.

    .venv/bin/python bench/memprobe.py [--cycles 8] [--trace] [--arena-max 2] [--no-trim]

The service's memory settings (``geo.store.memory``: two arenas, memory given back after
each large job) apply; ``--arena-max 0 --no-trim`` measures without them. The database
is a copy of the county-scale benchmark database, dropped at the end.

What it showed (2 cores shared with other work, 2026-11-26): after each cycle Python
held under 1 MB more than before (``--trace``) and malloc's bytes in use stayed at
about 55 MB, with or without the settings; resident memory crept about 2 MB a cycle
either way. Jobs one at a time free what they took; the soak's steps (+45.7 %) came
from jobs running beside other requests on eight threads, each thread's glibc arena
keeping its peak — the soak's "memory at the end by kind" line shows where.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import io
import queue
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import psutil
import sqlalchemy as sa
from common import bench_engine, config
from sqlalchemy import make_url

ROOT = Path(__file__).resolve().parent.parent
PROBE_DB = "gridmap_memprobe"


class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def mallinfo() -> MallInfo2 | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
        return libc.mallinfo2()
    except (OSError, AttributeError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=8)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--trace", action="store_true", help="tracemalloc (slower)")
    parser.add_argument("--arena-max", type=int, default=2,
                        help="glibc malloc arenas (0: glibc's default, 8 per core)")
    parser.add_argument("--no-trim", action="store_true",
                        help="do not give freed memory back after large jobs")
    parser.add_argument("--no-export", action="store_true")
    args = parser.parse_args()
    from geo.store import memory

    # As gridmap serve does, before any thread allocates (0: glibc's default arenas).
    print(memory.configure({"memory": {"arena_max": args.arena_max,
                                       "trim_after_jobs": not args.no_trim}}))
    from geo.store.db import database_url, get_engine, open_database

    cfg = config()
    with open_database(cfg, migrate=False):
        bench = bench_engine(cfg, 1)
        template = bench.url.database
        bench.dispose()
        admin = sa.create_engine(make_url(database_url(cfg)).set(database="postgres"),
                                 isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{PROBE_DB}" WITH (FORCE)')
            c.exec_driver_sql(f'CREATE DATABASE "{PROBE_DB}" TEMPLATE "{template}"')
        url = make_url(database_url(cfg)).set(database=PROBE_DB) \
            .render_as_string(hide_password=False)
        try:
            probe(args, url)
        finally:
            get_engine.cache_clear()
            with admin.connect() as c:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{PROBE_DB}" WITH (FORCE)')


def probe(args, url: str) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from soak import _ledger

    from api.app import create_app
    from geo.office.users import create_user, issue_token
    from geo.store.db import get_engine

    engine = get_engine(url)
    with engine.begin() as conn:
        county = conn.execute(sa.text("SELECT code FROM unit WHERE level = 'county'")).scalar()
        user = create_user(conn, "probe_admin", "admin", county, "probe-password-1")
        token = issue_token(conn, user, hours=2)["token"]
        ledger = _ledger(conn, args.rows)
    app = create_app({"database_url": url, "log_file": str(Path("/tmp") / "memprobe.log")})
    headers = {"Authorization": f"Bearer {token}"}
    proc = psutil.Process()

    def cycle() -> None:
        client = app.test_client()
        r = client.post("/api/imports", headers=headers, data={
            "kind": "households", "file": (io.BytesIO(ledger), "soak.csv")},
            content_type="multipart/form-data")
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        r.close()
        if not args.no_export:
            r = client.get("/api/exports/ledger?kind=households", headers=headers)
            assert r.status_code == 200, r.status_code
            r.get_data()
            r.close()

    # Eight threads that live as long as the server's, each cycle on the next one: each
    # thread allocates from its own glibc arena, as waitress's do.
    done: queue.Queue = queue.Queue()

    def serve(inbox: queue.Queue) -> None:
        while True:
            inbox.get()
            try:
                cycle()
            finally:
                done.put(None)

    workers = []
    for n in range(8):
        inbox: queue.Queue = queue.Queue()
        threading.Thread(target=serve, args=(inbox,), daemon=True, name=f"worker-{n}").start()
        workers.append(inbox)
    if args.trace:
        tracemalloc.start(12)
    first = None
    print(f"{'cycle':>5}{'s':>6}{'rss MB':>9}{'py MB':>8}{'malloc used':>13}"
          f"{'malloc free':>13}{'mmapped':>9}", flush=True)
    for i in range(args.cycles):
        started = time.perf_counter()
        workers[i % len(workers)].put(None)
        done.get()
        gc.collect()
        m = mallinfo()
        py = tracemalloc.get_traced_memory()[0] / 2**20 if args.trace else float("nan")
        print(f"{i + 1:>5}{time.perf_counter() - started:>6.1f}"
              f"{proc.memory_info().rss / 2**20:>9.0f}{py:>8.0f}"
              f"{(m.uordblks + m.hblkhd) / 2**20 if m else 0:>13.0f}"
              f"{m.fordblks / 2**20 if m else 0:>13.0f}{m.hblkhd / 2**20 if m else 0:>9.0f}",
              flush=True)
        if args.trace:
            snap = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)])
            if i == 1:
                first = snap
            elif first is not None and i == args.cycles - 1:
                print("\ngrowth since cycle 2, by allocation site:")
                for stat in snap.compare_to(first, "traceback")[:12]:
                    print(f"  {stat.size_diff / 2**20:+7.2f} MB {stat.count_diff:+8d} blocks")
                    for line in stat.traceback.format(limit=4):
                        print("     " + line)
    engine.dispose()


if __name__ == "__main__":
    sys.exit(main())

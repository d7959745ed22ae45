"""Soak: a working morning played against ``gridmap serve`` on loopback, bounded in time.

    .venv/bin/python bench/soak.py [--minutes 10] [--port 5078] [--keep]

Who plays (locust, in this process; the service runs in a child process):

- 40 supervisors panning the map (vector tiles of cells, households and facilities
  around their township) and opening lists (cell status, overdue children, households);
- 60 grid heads opening their day plan (``/api/routes``, now and then the route sheet)
  and posting visits — some posted twice with the same payload (a retry), some in
  offline bursts of five;
- 5 hotline operators filing reports (``POST /api/reports``) and reading their inbox;
- 10 responders searching the nearest facility with a free bed and reserving it (and
  releasing half of the placements again);
- one admin importing a 20,000-row household ledger and exporting the ledger, in a loop.

The database is a copy (``CREATE DATABASE … TEMPLATE``) of the county-scale benchmark
database, dropped at the end unless ``--keep``. Printed at the end: server errors (5xx
answers and error lines in the service's log; must be 0), visits accepted vs visit rows
in the database (0 lost, 0 duplicated), beds (no facility above capacity, occupied beds
moved exactly as the placements did), the service's resident memory sampled every 10 s
and its growth over the last half of the run, and p95 per endpoint.
"""

from __future__ import annotations

# locust patches the standard library for gevent when imported: import it first.
import locust  # noqa: I001,F401  isort: skip
import gevent  # isort: skip
from locust import HttpUser, between, events, task  # isort: skip
from locust.env import Environment  # isort: skip

import argparse
import datetime as dt
import io
import itertools
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import psutil
import sqlalchemy as sa
from common import bench_engine, config, machine_line
from sqlalchemy import make_url

from geo.ledgers.ledger import COLUMNS
from geo.office.users import create_user, issue_token
from geo.store.db import database_url, get_engine, open_database
from geo.vocab import REPORT_HARMS

ROOT = Path(__file__).resolve().parent.parent
SOAK_DB = "gridmap_soak"
PASSWORD = "soak-password-1"
TZ = dt.timezone(dt.timedelta(hours=8))
LEDGER_ROWS = 20_000

# Filled by setup(); the users take their seats from these pools.
POOLS: dict[str, list] = {}
COUNTS: dict[str, int] = defaultdict(int)
ACCEPTED_VISITS: set[int] = set()
SENT_VISITS: dict[str, int] = {}     # client_id -> the visit id first answered
SEATS = defaultdict(itertools.count)
PLACEMENTS: list[int] = []
IMPORTS: list[tuple[float, int]] = []
_LOCK = threading.Lock()


def _tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    return (int((lon + 180) / 360 * n),
            int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))


def _seat(kind: str) -> dict:
    pool = POOLS[kind]
    return pool[next(SEATS[kind]) % len(pool)]


class Seated(HttpUser):
    abstract = True
    kind = ""

    def on_start(self):
        self.seat = _seat(self.kind)
        self.client.headers["Authorization"] = f"Bearer {self.seat['token']}"
        self.rng = random.Random(hash((self.kind, self.seat["token"])))

    def get(self, path: str, name: str, **kw):
        return self.client.get(path, name=name, timeout=120, **kw)


class Supervisor(Seated):
    fixed_count = 40
    kind = "supervisor"
    wait_time = between(4, 12)

    @task(5)
    def pan(self):
        z = self.rng.choice([13, 14])
        cx, cy = _tile_xy(*self.seat["center"], z)
        cx += self.rng.randint(-2, 2)
        cy += self.rng.randint(-2, 2)
        for layer in ("cells", "households", "facilities"):
            for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
                if layer == "facilities" and (dx, dy) != (0, 0):
                    continue
                self.get(f"/tiles/{layer}/{z}/{cx + dx}/{cy + dy}.pbf",
                         f"/tiles/{layer}/z/x/y.pbf")

    @task(2)
    def lists(self):
        unit = self.seat["unit"]
        self.get(f"/api/cells/status?unit={unit}", "/api/cells/status")
        self.get("/api/children/overdue?limit=50", "/api/children/overdue")
        self.get(f"/api/households?unit={unit}&limit=100", "/api/households")


class GridHead(Seated):
    fixed_count = 60
    kind = "grid_head"
    wait_time = between(6, 20)

    def visit_payload(self, minutes_ago: float = 0) -> dict:
        """The body the route page's outbox posts (webmap/static/route.js): the phone's
        own ``client_id`` (a UUID made when the visit is saved on the phone, sent again
        unchanged on every retry), the time of the visit on the phone, the visit form's
        answers and the phone's GPS fix."""
        child, lon, lat = self.rng.choice(self.seat["children"])
        at = dt.datetime.now(TZ) - dt.timedelta(minutes=minutes_ago,
                                                seconds=self.rng.randint(0, 59))
        return {"child_id": child, "kind": "return",
                "visited_at": at.astimezone(dt.UTC).isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "outcome": "情况正常", "note": "监护人在家",
                "checks": {"child_seen": True, "guardian_present": True,
                           "harm_signs": False, "living_conditions": "good",
                           "school_attendance": "attending"},
                "client_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                "lon": lon + self.rng.uniform(-0.0005, 0.0005),
                "lat": lat + self.rng.uniform(-0.0005, 0.0005)}

    def post_visit(self, body: dict, again: bool = False) -> None:
        """Post as the outbox does; sent ``again`` (the phone never saw the answer), the
        same body must be answered 200 with the visit stored the first time."""
        with self.client.post("/api/visits", json=body, name="/api/visits", timeout=120,
                              catch_response=True) as resp:
            if resp.status_code in (200, 201):
                vid = resp.json()["id"]
                with _LOCK:
                    COUNTS["visits_accepted"] += 1
                    first = SENT_VISITS.setdefault(body["client_id"], vid)
                    if resp.status_code == 201:
                        COUNTS["visits_created"] += 1
                        ACCEPTED_VISITS.add(vid)
                    if again:
                        COUNTS["reposts_same_visit" if resp.status_code == 200 and first == vid
                               else "reposts_wrong"] += 1
                    elif resp.status_code == 200:
                        COUNTS["first_posts_answered_200"] += 1
                resp.success()

    @task(2)
    def day_plan(self):
        self.get(f"/api/routes?worker={self.seat['worker']}", "/api/routes")

    @task(1)
    def route_sheet(self):
        self.get(f"/map/route/{self.seat['worker']}", "/map/route/<worker>")

    @task(5)
    def visit(self):
        body = self.visit_payload()
        self.post_visit(body)
        if self.rng.random() < 0.15:          # the phone retries the same payload
            COUNTS["visits_reposted"] += 1
            self.post_visit(body, again=True)

    @task(1)
    def offline_burst(self):
        COUNTS["bursts"] += 1
        outbox = [self.visit_payload(minutes_ago=30 * (5 - i)) for i in range(5)]
        for body in outbox:                    # queued while offline, sent at once
            self.post_visit(body)
        if self.rng.random() < 0.2:            # the answers were lost: all sent again
            COUNTS["bursts_resent"] += 1
            for body in outbox:
                COUNTS["visits_reposted"] += 1
                self.post_visit(body, again=True)


class Hotline(Seated):
    fixed_count = 5
    kind = "hotline"
    wait_time = between(10, 30)

    @task(3)
    def file_report(self):
        lon, lat = self.rng.choice(POOLS["points"])
        body = {"source": self.rng.choice(["hotline_12355", "hotline_110", "hotline_12345"]),
                "reporter_name": "来电群众", "reporter_phone": "19900000000",
                "lon": lon, "lat": lat, "harm": self.rng.choice(sorted(REPORT_HARMS)),
                "severity": self.rng.choices(["urgent", "serious", "general"], [1, 3, 6])[0],
                "child_sex": self.rng.choice(["male", "female"]),
                "child_age": self.rng.randint(3, 16),
                "description": "热线来电反映：一名儿童独自在路边，无人照看。"}
        with self.client.post("/api/reports", json=body, name="/api/reports",
                              timeout=120, catch_response=True) as resp:
            if resp.status_code == 201:
                COUNTS["reports_filed"] += 1
                resp.success()

    @task(1)
    def inbox(self):
        self.get("/api/reports?limit=20", "/api/reports")


class Responder(Seated):
    fixed_count = 10
    kind = "responder"
    wait_time = between(5, 15)

    @task
    def place(self):
        lon, lat = self.rng.choice(POOLS["points"])
        resp = self.get(f"/api/facilities/nearest?lon={lon}&lat={lat}&k=5&need_bed=true",
                        "/api/facilities/nearest")
        if resp.status_code != 200:
            return
        found = [f for f in resp.json()["facilities"] if (f.get("free_beds") or 0) > 0]
        if not found:
            return
        child = self.rng.choice(POOLS["children"])
        with self.client.post("/api/placements", name="/api/placements", timeout=120,
                              json={"child_id": child, "facility_id": found[0]["id"]},
                              catch_response=True) as placed:
            if placed.status_code == 201:
                COUNTS["placements"] += 1
                placed.success()
                if self.rng.random() < 0.5:
                    pid = placed.json()["id"]
                    gevent.sleep(self.rng.uniform(1, 5))
                    with self.client.post(f"/api/placements/{pid}/release",
                                          name="/api/placements/<id>/release",
                                          json={"reason": "returned_home"}, timeout=120,
                                          catch_response=True) as rel:
                        if rel.status_code == 200:
                            COUNTS["releases"] += 1
            elif placed.status_code == 409:     # bed just taken, or child already placed
                COUNTS["placements_refused_409"] += 1
                placed.success()


class Admin(Seated):
    fixed_count = 1
    kind = "admin"
    wait_time = between(20, 40)

    @task
    def import_and_export(self):
        started = time.perf_counter()
        with self.client.post("/api/imports", name="/api/imports (20,000 rows)",
                              data={"kind": "households"}, timeout=600, catch_response=True,
                              files={"file": ("soak.csv", POOLS["ledger"], "text/csv")}) as r:
            if r.status_code == 200:
                report = r.json()
                IMPORTS.append((time.perf_counter() - started, report.get("rows", 0)))
                COUNTS["imports"] += 1
                r.success()
        self.get("/api/exports/ledger?kind=households", "/api/exports/ledger")


@events.request.add_listener
def _count(request_type, name, response_time, response_length, response=None,
           exception=None, **kw):
    status = getattr(response, "status_code", None)
    if status is not None and status >= 500:
        COUNTS["server_errors"] += 1
        COUNTS[f"5xx {request_type} {name}"] += 1
    elif status in (None, 0):
        COUNTS["connection_errors"] += 1


# -- set-up ---------------------------------------------------------------------------
def _ledger(conn, rows: int) -> bytes:
    points = conn.execute(sa.text(
        "SELECT ST_X(g), ST_Y(g) FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, :n, 19))).geom g "
        "FROM unit WHERE level = 'county') p"), {"n": rows}).all()
    header = [COLUMNS["households"][k][0] for k in COLUMNS["households"]]
    out = io.StringIO()
    out.write(",".join(header) + "\n")
    for i, (x, y) in enumerate(points):
        out.write(f"SOAK-H{i:06d},压力测试地址{i}号,{x:.6f},{y:.6f},测试户主,19900000000,"
                  "低保/低收入\n")
    return out.getvalue().encode("utf-8-sig")


def setup(engine) -> None:
    rng = random.Random(5)
    with engine.begin() as conn:
        county = conn.execute(sa.text("SELECT code FROM unit WHERE level = 'county'")).scalar()
        towns = conn.execute(sa.text(
            "SELECT code, ST_X(p), ST_Y(p) FROM (SELECT code, ST_PointOnSurface(geom) p "
            "FROM unit WHERE level = 'township' ORDER BY code) t")).all()
        heads = conn.execute(sa.text(
            "SELECT DISTINCT ON (u.code) w.id, u.code FROM worker w JOIN unit u ON u.id = w.unit_id"
            " WHERE w.role = 'grid_head' AND w.active AND u.level = 'village' "
            "ORDER BY u.code, w.id LIMIT 60")).all()

        def user(name, role, unit, worker=None):
            made = create_user(conn, name, role, unit, PASSWORD, worker_id=worker)
            return issue_token(conn, made, hours=24)["token"]

        POOLS["supervisor"] = [
            {"token": user(f"soak_sup_{i:02d}", "supervisor", code), "unit": code,
             "center": (x, y)} for i, (code, x, y) in
            enumerate(towns[i % len(towns)] for i in range(40))]
        POOLS["grid_head"] = []
        for i, (worker, village) in enumerate(heads):
            kids = conn.execute(sa.text(
                "SELECT c.id, ST_X(h.geom), ST_Y(h.geom) FROM child c "
                "JOIN household h ON h.id = c.household_id JOIN unit cell ON cell.id = h.cell_id "
                "WHERE cell.village_id = (SELECT id FROM unit WHERE code = :v) ORDER BY c.id"),
                {"v": village}).all()
            POOLS["grid_head"].append({"token": user(f"soak_head_{i:02d}", "grid_head", village,
                                                     worker), "worker": worker,
                                       "children": [tuple(k) for k in kids]})
        POOLS["hotline"] = [{"token": user(f"soak_hotline_{i}", "responder", county)}
                            for i in range(5)]
        POOLS["responder"] = [{"token": user(f"soak_resp_{i:02d}", "responder", county)}
                              for i in range(10)]
        POOLS["admin"] = [{"token": user("soak_admin", "admin", county)}]
        POOLS["points"] = [tuple(p) for p in conn.execute(sa.text(
            "SELECT ST_X(g), ST_Y(g) FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, 500, 3))).geom"
            " g FROM unit WHERE level = 'county') p")).all()]
        children = conn.execute(sa.text("SELECT id FROM child ORDER BY id")).scalars().all()
        POOLS["children"] = rng.sample(children, min(3000, len(children)))
        POOLS["ledger"] = _ledger(conn, LEDGER_ROWS)
    missing = [p for p in POOLS["grid_head"] if not p["children"]]
    assert not missing, "a grid head without children in the demo"


def _state(engine) -> dict:
    with engine.connect() as conn:
        return {
            "max_visit": conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM visit")).scalar(),
            "beds": dict(conn.execute(sa.text(
                "SELECT f.id, f.occupied - (SELECT count(*) FROM placement p "
                "WHERE p.facility_id = f.id AND p.status = 'active') FROM facility f")).all()),
            "overbooked": conn.execute(sa.text(
                "SELECT count(*) FROM facility WHERE occupied > capacity")).scalar(),
        }


def _wait_up(port: int, proc: subprocess.Popen, seconds: float = 180) -> None:
    import http.client

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"the service exited with {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/api/health")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("the service did not answer /api/health")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--port", type=int, default=5078)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the soak database")
    args = parser.parse_args()
    if not 0 < args.minutes <= 60:
        raise SystemExit("--minutes must be above 0 and at most 60")
    cfg = config()
    print(machine_line(), flush=True)
    with open_database(cfg, migrate=False):
        bench = bench_engine(cfg, 1)
        template = bench.url.database
        bench.dispose()
        admin_url = make_url(database_url(cfg)).set(database="postgres")
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT",
                                 poolclass=sa.pool.NullPool)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{SOAK_DB}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{SOAK_DB}" TEMPLATE "{template}"')
        url = make_url(database_url(cfg)).set(database=SOAK_DB) \
            .render_as_string(hide_password=False)
        engine = get_engine(url)
        try:
            run(args, cfg, engine, url)
        finally:
            engine.dispose()
            if not args.keep:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{SOAK_DB}" WITH (FORCE)')


def run(args, cfg, engine, url) -> None:
    started = time.perf_counter()
    setup(engine)
    before = _state(engine)
    logins = sum(len(POOLS[k]) for k in ("supervisor", "grid_head", "hotline", "responder",
                                         "admin"))
    print(f"set-up: {logins} logins, {LEDGER_ROWS:,}-row ledger, "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="gridmap-soak-"))
    log_file = workdir / "service.log"
    env = {**os.environ, "DATABASE_URL": url, "GRIDMAP_LOG_FILE": str(log_file),
           "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        # One process (waitress): the memory sampled is that of the process serving
        # every request (with gunicorn each worker would grow on its own share).
        [sys.executable, "-c", "from api.cli import main; main()", "serve", "--no-demo",
         "--host", "127.0.0.1", "--port", str(args.port), "--threads", str(args.threads),
         "--workers", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(workdir / "stderr.txt", "w"))
    memory: list[tuple[float, int]] = []
    try:
        _wait_up(args.port, server)
        proc = psutil.Process(server.pid)
        t0 = time.monotonic()

        def sample():
            while True:
                try:
                    memory.append((time.monotonic() - t0, proc.memory_info().rss))
                except psutil.Error:
                    return
                gevent.sleep(10)

        sampler = gevent.spawn(sample)
        env_ = Environment(user_classes=[Supervisor, GridHead, Hotline, Responder, Admin],
                           host=f"http://127.0.0.1:{args.port}", events=events,
                           stop_timeout=180)   # at the end users finish what they began
        runner = env_.create_local_runner()
        runner.start(116, spawn_rate=20)
        print(f"116 users for {args.minutes:g} min against http://127.0.0.1:{args.port} "
              f"({args.threads} service threads)…", flush=True)
        gevent.spawn_later(args.minutes * 60, runner.quit)
        runner.greenlet.join()
        sampler.kill()
        memory.append((time.monotonic() - t0, proc.memory_info().rss))
        kinds = _memory_kinds(server.pid)
        stats = env_.stats
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    report(stats, memory, before, _state(engine), engine, log_file, args, kinds)


def _memory_kinds(pid: int) -> dict[str, float]:
    """The service's resident memory (MB) by where it lies (/proc/PID/smaps): glibc's
    per-thread malloc arenas (64 MB-aligned heaps), the main heap, other anonymous memory
    (Python's object arenas, large buffers) and mapped files (code)."""
    out: dict[str, float] = defaultdict(float)
    kind = "files"
    try:
        with open(f"/proc/{pid}/smaps") as fh:
            for line in fh:
                head = line.split()
                if "-" in head[0] and len(head) >= 5 and ":" in head[3]:
                    start = int(head[0].split("-")[0], 16)
                    name = head[5] if len(head) > 5 else ""
                    kind = ("main heap" if name == "[heap]" else "files" if name else
                            "glibc thread arenas" if start % 2**26 == 0 and head[1][0] == "r"
                            else "other anonymous")
                elif head[0] == "Rss:":
                    out[kind] += int(head[1]) / 1024
    except OSError:
        pass
    return dict(out)


def report(stats, memory, before, after, engine, log_file, args, kinds=None) -> None:
    log_text = log_file.read_text("utf-8") if log_file.exists() else ""
    error_lines = [x for x in log_text.splitlines() if '"event": "error"' in x]
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id FROM visit WHERE id > :m"),
                            {"m": before["max_visit"]}).scalars().all()
    rows = set(rows)
    lost = len(ACCEPTED_VISITS - rows)
    extra = len(rows - ACCEPTED_VISITS)
    drift = {f: after["beds"].get(f, 0) - d for f, d in before["beds"].items()
             if after["beds"].get(f, 0) != d}
    print("\n== soak results ==")
    print(f"server errors: {COUNTS['server_errors']} 5xx answers, {len(error_lines)} error "
          f"lines in the service log, {COUNTS['connection_errors']} connection errors")
    for key in sorted(k for k in COUNTS if k.startswith("5xx ")):
        print(f"  {key}: {COUNTS[key]}")
    with engine.connect() as conn:
        stored = conn.execute(sa.text(
            "SELECT count(*), count(DISTINCT client_id) FROM visit "
            "WHERE client_id = ANY(CAST(:c AS uuid[]))"), {"c": list(SENT_VISITS)}).one()
    print(f"visits: {COUNTS['visits_accepted']} posts accepted ({COUNTS['visits_created']} "
          f"created 201, {COUNTS['visits_accepted'] - COUNTS['visits_created']} answered 200 "
          f"as already stored), {len(SENT_VISITS)} client_ids, {len(ACCEPTED_VISITS)} "
          f"distinct ids answered, {len(rows)} new rows in the database ({stored[0]} with "
          f"the client_ids sent, {stored[1]} distinct) → {lost} lost, {extra} not answered")
    print(f"  re-posts of the same body with its client_id: {COUNTS['visits_reposted']} "
          f"({COUNTS['reposts_same_visit']} answered 200 with the visit stored first, "
          f"{COUNTS['reposts_wrong']} otherwise), {COUNTS['bursts']} offline bursts of 5 "
          f"({COUNTS['bursts_resent']} sent twice), "
          f"{COUNTS['first_posts_answered_200']} first posts answered 200")
    print(f"beds: {after['overbooked']} facilities above capacity; occupied beds moved "
          f"exactly with the placements in {len(before['beds']) - len(drift)} of "
          f"{len(before['beds'])} facilities" + (f", drift {drift}" if drift else "")
          + f"; {COUNTS['placements']} reserved, {COUNTS['releases']} released, "
          f"{COUNTS['placements_refused_409']} refused with 409")
    print(f"reports filed: {COUNTS['reports_filed']}; ledger imports: {COUNTS['imports']} "
          + ", ".join(f"{s:.1f} s for {n:,} rows" for s, n in IMPORTS))
    mb = [(t, r / 2**20) for t, r in memory]
    print("service memory (RSS, MB, every 10 s): "
          + " ".join(f"{m:.0f}" for _, m in mb))
    print("service memory (RSS, MB, each minute): " + " ".join(
        f"{minute}:{min(mb, key=lambda p: abs(p[0] - 60 * minute))[1]:.0f}"
        for minute in range(int(mb[-1][0] // 60) + 1)) if mb else "")
    if kinds:
        print("service memory at the end by kind (MB): " + ", ".join(
            f"{k} {v:.0f}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])))
    growth = 0.0
    if len(mb) >= 4:
        # The last five minutes (the last half of a shorter run), after warm-up.
        end = mb[-1][0]
        start = min((p for p in mb if p[0] >= max(end - 300, end / 2)), key=lambda p: p[0])
        growth = (mb[-1][1] - start[1]) / start[1] * 100
        peak = max(m for t, m in mb if t >= start[0])
        print(f"memory growth over the last {(end - start[0]) / 60:.1f} min ({start[0]:.0f} s "
              f"→ {end:.0f} s): {start[1]:.0f} → {mb[-1][1]:.0f} MB, {growth:+.1f} % "
              f"(target ≤ 10 %), peak {peak:.0f} MB")
    print(f"\n{'endpoint':<44}{'requests':>9}{'fails':>7}{'median ms':>11}{'p95 ms':>9}")
    for (name, method), entry in sorted(stats.entries.items(), key=lambda e: e[0][0]):
        if not entry.num_requests:
            continue
        print(f"{method + ' ' + name:<44}{entry.num_requests:>9}{entry.num_failures:>7}"
              f"{entry.median_response_time:>11.0f}"
              f"{entry.get_response_time_percentile(0.95):>9.0f}")
    for err in sorted(stats.errors.values(), key=lambda e: -e.occurrences):
        print(f"  failure ×{err.occurrences}: {err.method} {err.name}: {err.error}")
    total = stats.total
    print(f"{'all':<44}{total.num_requests:>9}{total.num_failures:>7}"
          f"{total.median_response_time:>11.0f}{total.get_response_time_percentile(0.95):>9.0f}"
          f"   ({total.total_rps:.1f} req/s)")
    duplicated = stored[0] - len(SENT_VISITS) + COUNTS["reposts_wrong"] \
        + COUNTS["first_posts_answered_200"]
    ok = (COUNTS["server_errors"] == 0 and not error_lines and lost == 0 and extra == 0
          and duplicated == 0
          and after["overbooked"] == 0 and not drift and growth <= 10
          and COUNTS["connection_errors"] == 0)
    print("\nverdict: " + ("PASS" if ok else "FAIL") + f" (service log: {log_file})")


if __name__ == "__main__":
    sys.exit(main())

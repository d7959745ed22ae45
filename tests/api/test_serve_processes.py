"""``gridmap serve`` with more than one process (gunicorn, the default on a machine with
more than one core): it serves, a logout in one process holds in every other, the
status cache of each worker is its own, and SIGTERM stops the whole server."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from api import cli

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(port, method, path, token=None, body=None):
    """One request on a new connection (so successive ones may reach either worker)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Connection": "close"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


@pytest.fixture(scope="module")
def served(database, demo, logins, cfg, engine, tmp_path_factory):
    """The server on the test database; what its start-up commits there (the rules the
    cell status figures are kept by, geo.visits.due.keep_rules) is taken back after."""
    with engine.connect() as conn:
        kept_before = conn.execute(sa.text("SELECT count(*) FROM due_rules")).scalar()
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database, "GRIDMAP_WORKERS": "2",
           "GRIDMAP_VAR_DIR": str(tmp_path_factory.mktemp("servevar"))}
    out = tmp_path_factory.mktemp("serve") / "out.txt"
    with open(out, "w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from api.cli import main; "
             "sys.argv[0] = 'gridmap'; sys.exit(main())",
             "serve", "--no-demo", "--port", str(port), "--threads", "2"],
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            if proc.poll() is not None:
                pytest.fail(f"the server stopped: {out.read_text()[-2000:]}")
            try:
                if _request(port, "GET", "/api/health")[0] in (200, 503):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the server did not answer")
        for _ in range(300):   # the first worker may answer before the second is forked
            if len(psutil.Process(proc.pid).children()) == 2:
                break
            time.sleep(0.1)
        yield proc, port, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        if not kept_before:
            with engine.begin() as conn:
                conn.execute(sa.text("DELETE FROM due_rules"))
                conn.execute(sa.text("DELETE FROM cell_due"))


def test_two_processes_serve_and_a_logout_holds_in_both(served, logins):
    proc, port, out = served
    assert "gunicorn, 2 processes" in out.read_text()
    workers = psutil.Process(proc.pid).children()
    assert len(workers) == 2
    admin = logins["admin"]
    status, body = _request(port, "POST", "/api/auth/token",
                            body={"username": admin["username"],
                                  "password": admin["password"]})
    assert status == 200, body
    token = json.loads(body)["token"]
    path = "/api/facilities/nearest?lon=101.72&lat=26.58&k=3"
    seen = [_request(port, "GET", path, token) for _ in range(12)]
    assert [s for s, _ in seen] == [200] * 12, seen[0]
    assert all(json.loads(b)["facilities"] for _, b in seen)
    assert _request(port, "POST", "/api/auth/logout", token)[0] == 204
    # Whichever process answers (new connections spread over both), the token is gone.
    after = [_request(port, "GET", path, token)[0] for _ in range(12)]
    assert after == [401] * 12


def test_a_worker_that_ends_leaves_the_masters_clean_up_alone(served, logins):
    """A worker restarted by the master (here: told to stop) must not run ``gridmap
    serve``'s clean-up, which stops the embedded database and says "gridmap stopped"."""
    proc, port, out = served
    first = psutil.Process(proc.pid).children()[0]
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=60)
    for _ in range(300):
        workers = psutil.Process(proc.pid).children()
        if len(workers) == 2 and first.pid not in {w.pid for w in workers}:
            break
        time.sleep(0.1)
    assert len(workers) == 2
    assert "gridmap stopped" not in out.read_text()
    assert _request(port, "GET", "/api/health")[0] in (200, 503)


def test_sigterm_stops_every_process(served):
    proc, port, out = served
    family = [proc.pid] + [p.pid for p in psutil.Process(proc.pid).children()]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    time.sleep(0.5)
    assert not [pid for pid in family if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    with pytest.raises(OSError):
        _request(port, "GET", "/api/health")
    assert out.read_text().count("gridmap stopped") == 1


@pytest.mark.parametrize(("cores", "expected"), [(1, 1), (2, 2), (3, 3), (16, 4)])
def test_default_processes_follow_the_cores(monkeypatch, cores, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    assert cli.default_workers() == expected

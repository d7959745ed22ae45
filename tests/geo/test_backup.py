"""The restore drill: back up a cluster with pgBackRest, keep writing, restore to a
noted time into a fresh cluster, and check what is there and what is not."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from api.app import create_app
from geo import audit, migrate
from geo.store import backup
from geo.store.db import get_engine, open_database
from geo.store.embedded import BACKUP_CONF, EmbeddedCluster
from geo.visits.record import record_visit

pytestmark = pytest.mark.slow


def test_target_time_is_utc_for_postgres():
    assert backup.target_time("2026-11-25T21:40:00+08:00") == "2026-11-25 13:40:00.000000+00"
    assert backup.target_time("2026-11-25T21:40:00") == "2026-11-25 13:40:00.000000+00"
    with pytest.raises(backup.BackupError, match="to-time"):
        backup.target_time("yesterday")


def _visit(conn, rules, child, worker, note):
    visit = record_visit(conn, rules, child_id=child, worker_id=worker,
                         visited_at=dt.datetime.now(dt.UTC), lon=None, lat=None, note=note)
    audit.record(conn, None, "create", "visit", visit["id"], detail={"note": note})
    return visit["id"]


@pytest.mark.skipif(not shutil.which("pgbackrest"), reason="pgbackrest is not installed")
def test_restore_drill_to_a_point_in_time(cfg):
    if cfg.get("database_url"):
        pytest.skip("the drill backs up an embedded cluster")
    base = Path(tempfile.mkdtemp(prefix="gm-drill-", dir="/tmp"))
    repo = base / "repo"
    one = dict(cfg, var_dir=str(base / "a"), pg_port=54391, database_url=None,
               backup_key="drill-" + "k" * 40, backup=dict(cfg["backup"], repo=str(repo)))
    restored = EmbeddedCluster(base / "b", port=54392)
    try:
        with open_database(one) as engine:
            from geo.demo import load_demo

            load_demo(engine, one, scale=0.01, seed=3, today=dt.date(2026, 11, 24))
            with engine.connect() as conn:
                child, worker = conn.execute(sa.text(
                    "SELECT c.id, w.id FROM child c CROSS JOIN worker w WHERE w.active "
                    "ORDER BY c.id, w.id LIMIT 1")).one()
                counts_before = conn.execute(sa.text("SELECT count(*) FROM visit")).scalar_one()

            full = backup.backup(one, kind="full", engine=engine)
            assert full["type"] == "full"
            with engine.begin() as conn:
                first = _visit(conn, one["rules"], child, worker, "after the full backup")
            incr = backup.backup(one, engine=engine)        # auto: a recent full → incr
            assert incr["type"] == "incr"
            with engine.begin() as conn:
                second = _visit(conn, one["rules"], child, worker, "before the noted time")
            time.sleep(1.5)
            noted = dt.datetime.now(dt.UTC)
            time.sleep(1.5)
            with engine.begin() as conn:
                third = _visit(conn, one["rules"], child, worker, "after the noted time")
                conn.execute(sa.text("UPDATE facility SET occupied = occupied"))
            with engine.connect() as conn:
                audit_before = conn.execute(sa.text(
                    "SELECT id, action, resource, resource_id FROM audit_log "
                    "WHERE at <= :t ORDER BY id"), {"t": noted}).all()
            cluster = EmbeddedCluster(one["var_dir"], port=54391)
            backup._run(cluster, cluster.root / BACKUP_CONF, "check")   # WAL archived

        # The repository is encrypted: its catalogue is not readable text.
        catalogue = (repo / "backup" / "gridmap" / "backup.info").read_bytes()
        assert b"backup:current" not in catalogue

        two = dict(one, var_dir=str(base / "b"), pg_port=54392)
        done = backup.restore(two, repo, to_time=noted.isoformat(), cluster=restored)
        assert done["recovery_target"].startswith(noted.strftime("%Y-%m-%d %H:%M:%S"))
        engine2 = get_engine(restored.url("gridmap"))
        try:
            with engine2.connect() as conn:
                visits = set(conn.execute(sa.text(
                    "SELECT id FROM visit WHERE id = ANY(:ids)"),
                    {"ids": [first, second, third]}).scalars())
                assert visits == {first, second}
                assert conn.execute(sa.text("SELECT count(*) FROM visit")).scalar_one() \
                    == counts_before + 2
                audit_after = conn.execute(sa.text(
                    "SELECT id, action, resource, resource_id FROM audit_log ORDER BY id")).all()
                assert audit_after == audit_before          # intact, and nothing later
                assert str(third) not in {row.resource_id for row in audit_after}
            with pytest.raises(sa.exc.DBAPIError), engine2.begin() as conn:
                conn.execute(sa.text("UPDATE audit_log SET action = 'read'"))
            with pytest.raises(sa.exc.DBAPIError), engine2.begin() as conn:
                conn.execute(sa.text("DELETE FROM audit_log"))
            migrate.upgrade(engine2)
            assert migrate.is_up_to_date(engine2)
            app = create_app({"database_url": restored.url("gridmap"),
                              "var_dir": str(base / "b"), "id_key": cfg["id_key"],
                              "secret_key": cfg["secret_key"]})
            health = app.test_client().get("/api/health")
            assert health.status_code == 200
            assert health.get_json()["status"] == "ok"
        finally:
            engine2.dispose()
    finally:
        restored.stop()
        EmbeddedCluster(base / "a", port=54391).stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.skipif(not shutil.which("pgbackrest"), reason="pgbackrest is not installed")
def test_backup_and_restore_commands(cfg, monkeypatch):
    from click.testing import CliRunner

    from api.cli import main

    if cfg.get("database_url"):
        pytest.skip("the commands back up the embedded cluster")
    base = Path(tempfile.mkdtemp(prefix="gm-cli-", dir="/tmp"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("GRIDMAP_VAR_DIR", str(base / "var"))
    monkeypatch.setenv("GRIDMAP_PG_PORT", "54393")
    monkeypatch.setenv("GRIDMAP_BACKUP_KEY", "cli-" + "k" * 40)
    cluster = EmbeddedCluster(base / "var", port=54393)
    repo = base / "elsewhere"

    def run(*args):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    try:
        first = run("db", "backup", str(repo))
        assert first.exit_code == 0, first.output
        assert '"type": "full"' in first.output
        assert not cluster.is_running()                 # started for the backup, stopped
        assert run("db", "start").exit_code == 0
        engine = get_engine(cluster.url("gridmap"))
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO audit_log (action, resource) "
                                 "VALUES ('export', 'after-full')"))
        second = run("db", "backup", str(repo))
        assert second.exit_code == 0 and '"type": "incr"' in second.output, second.output
        listing = run("db", "backup", str(repo), "--list")
        assert [b["type"] for b in json.loads(listing.output)["backups"]] \
            == ["full", "incr"]
        time.sleep(1.2)
        noted = dt.datetime.now().astimezone().replace(microsecond=0).isoformat()
        time.sleep(1.2)
        with engine.begin() as conn:                    # still in the server's current WAL
            conn.execute(sa.text("INSERT INTO audit_log (action, resource) "
                                 "VALUES ('export', 'after-noted')"))
        engine.dispose()
        assert run("db", "restore", str(repo), "--to-time", "soon").exit_code == 1
        done = run("db", "restore", str(repo), "--to-time", noted, "--yes")
        assert done.exit_code == 0, done.output
        assert "data.before-restore-" in done.output and '"schema_revision"' in done.output
        assert cluster.is_running()                     # it was running before
        with get_engine(cluster.url("gridmap")).connect() as conn:
            kept = dict(conn.execute(sa.text(
                "SELECT resource, count(*) FROM audit_log WHERE resource LIKE 'after-%' "
                "GROUP BY resource")).all())
        assert kept == {"after-full": 1}
        get_engine(cluster.url("gridmap")).dispose()
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_nightly_run_is_the_next_configured_local_time():
    cfg = {"timezone": "Asia/Shanghai", "backup": {"nightly_at": "02:30"}}
    now = dt.datetime(2026, 11, 25, 17, 0, tzinfo=dt.UTC)          # 01:00 in Shanghai
    assert backup._next_run(cfg, now).isoformat() == "2026-11-26T02:30:00+08:00"
    now = dt.datetime(2026, 11, 25, 19, 0, tzinfo=dt.UTC)          # 03:00: tomorrow
    assert backup._next_run(cfg, now).isoformat() == "2026-11-27T02:30:00+08:00"

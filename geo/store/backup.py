"""Backups of the embedded database with point-in-time recovery, by pgBackRest.

pgBackRest (Debian package ``pgbackrest``) takes full and incremental backups of the
cluster and keeps the WAL between them, which the server pushes to the same repository
through its ``archive_command`` (geo.store.embedded). A restore lays down the last backup
before the target time and replays the archived WAL up to that time. The repository is
encrypted (``aes-256-cbc``) with ``backup_key`` — generated into ``var/secrets.toml`` or
given as ``GRIDMAP_BACKUP_KEY`` — which is kept outside the repository: without it the
backups cannot be read.

The pgBackRest settings are written to ``var/pg/pgbackrest.conf`` (mode 0600, owned by
the server's user): its presence is what turns the archive command on. When we are root
the server runs as ``postgres``, so every pgBackRest command runs as that user too and
the repository belongs to it.

>>> backup(cfg)                                  # doctest: +SKIP
{'type': 'full', 'label': '20261125-213000F', ...}
>>> restore(cfg, "/srv/backup", to_time="2026-11-25T21:40:00+08:00")   # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import threading
import time
import zoneinfo
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from geo.store.embedded import BACKUP_CONF, STANZA, EmbeddedCluster, EmbeddedError
from geo.store.metrics import BACKUPS, LAST_BACKUP

log = logging.getLogger(__name__)


class BackupError(RuntimeError):
    """A backup or restore could not be done; the message says why."""


def repo_path(cfg: dict, dest: str | os.PathLike | None = None) -> Path:
    """The repository: ``dest``, else ``backup.repo``, else ``var/backup``."""
    chosen = dest or cfg.get("backup", {}).get("repo") or Path(cfg["var_dir"]) / "backup"
    return Path(chosen).resolve()


def _pgbackrest() -> str:
    exe = shutil.which("pgbackrest")
    if not exe:
        raise BackupError("pgbackrest is not installed (Debian: apt-get install pgbackrest)")
    return exe


def write_conf(cluster: EmbeddedCluster, repo: Path, key: str, retention_full: int = 2) -> Path:
    """Write the cluster's pgbackrest.conf (the archive command starts pushing WAL)."""
    if not key:
        raise BackupError("no backup key: set GRIDMAP_BACKUP_KEY or let var/secrets.toml hold one")
    work = cluster.root / "pgbackrest"
    for path in (work, work / "lock", work / "log", work / "spool"):
        path.mkdir(parents=True, exist_ok=True)
        cluster._own(path)
    text = "\n".join([
        "# written by gridmap (geo/store/backup.py); the key is also in var/secrets.toml",
        "[global]",
        f"repo1-path={repo}",
        "repo1-cipher-type=aes-256-cbc",
        f"repo1-cipher-pass={key}",
        f"repo1-retention-full={int(retention_full)}",
        "compress-type=lz4",
        "start-fast=y",
        "archive-check=y",
        f"lock-path={work / 'lock'}",
        f"log-path={work / 'log'}",
        f"spool-path={work / 'spool'}",
        "log-level-console=warn",
        "log-level-stderr=warn",
        "log-level-file=info",
        "",
        f"[{STANZA}]",
        f"pg1-path={cluster.data}",
        f"pg1-socket-path={cluster.sockets}",
        f"pg1-port={cluster.port}",
        "pg1-user=gridmap",
        "",
    ])
    conf = cluster.root / BACKUP_CONF
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    cluster._own(conf)
    return conf


def _prepare_repo(cluster: EmbeddedCluster, repo: Path) -> None:
    """The repository directory, owned by the server's user and closed to others."""
    if repo.exists() and not repo.is_dir():
        raise BackupError(f"{repo} is not a directory")
    repo.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(repo, 0o700)
    cluster._own(repo)
    if cluster.run_as:
        _grant_traverse(cluster, repo)


def _grant_traverse(cluster: EmbeddedCluster, path: Path) -> None:
    if cluster._run("test", "-w", path, check=False).returncode == 0:
        return
    setfacl = shutil.which("setfacl")
    if not setfacl:
        raise BackupError(f"the {cluster.run_as} user cannot reach {path}; install 'acl' "
                          "or choose a repository other users can traverse to")
    for parent in reversed(path.parents):
        if not parent.stat().st_mode & 0o001:
            subprocess.run([setfacl, "-m", f"u:{cluster.run_as}:x", str(parent)], check=True)


def _run(cluster: EmbeddedCluster, conf: Path, *args: str, timeout: float = 3600) -> str:
    cmd = cluster._cmd(_pgbackrest(), f"--config={conf}", f"--stanza={STANZA}", *args)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise BackupError(f"pgbackrest {args[-1]} failed ({proc.returncode}): "
                          f"{(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def info(cluster: EmbeddedCluster, conf: Path) -> list[dict]:
    """The backups in the repository, oldest first (pgBackRest's ``info`` in JSON)."""
    out = json.loads(_run(cluster, conf, "--output=json", "info") or "[]")
    return out[0].get("backup", []) if out else []


def _server_setting(engine, name: str) -> str:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT current_setting(:n)"), {"n": name}).scalar_one()


def backup(cfg: dict, dest: str | os.PathLike | None = None, kind: str = "auto",
           engine=None) -> dict:
    """Back up the running embedded cluster into the repository ``dest``: ``full``,
    ``incr`` or ``auto`` (full when there is none yet or the last full one is older than
    ``backup.full_every_days``, else incremental). Returns the new backup's summary."""
    from geo.store.db import embedded_cluster, get_engine

    if cfg.get("database_url"):
        raise BackupError("DATABASE_URL is set: back up that server with its own pgBackRest "
                          "(see the README's operations section)")
    cluster = embedded_cluster(cfg)
    if not cluster.is_running():
        raise BackupError("the embedded database is not running")
    engine = engine or get_engine(cluster.url("gridmap"))
    if _server_setting(engine, "archive_mode") != "on":
        raise BackupError("WAL archiving is off in the running database (it predates "
                          "backups): restart the service once (gridmap db stop, then start "
                          "it again) and back up then")
    settings = cfg.get("backup", {})
    repo = repo_path(cfg, dest)
    started = time.monotonic()
    chosen = kind
    try:
        _prepare_repo(cluster, repo)
        conf = write_conf(cluster, repo, cfg.get("backup_key"),
                          int(settings.get("retention_full", 2)))
        _run(cluster, conf, "stanza-create")
        if kind == "auto":
            fulls = [b for b in info(cluster, conf) if b["type"] == "full"]
            age_days = (time.time() - fulls[-1]["timestamp"]["stop"]) / 86400 if fulls else None
            chosen = ("full" if age_days is None
                      or age_days >= float(settings.get("full_every_days", 7)) else "incr")
        if chosen not in ("full", "incr", "diff"):
            raise BackupError(f"unknown backup type {chosen!r} (full, incr, diff or auto)")
        _run(cluster, conf, f"--type={chosen}", "backup")
        last = info(cluster, conf)[-1]
    except (BackupError, EmbeddedError, subprocess.TimeoutExpired):
        BACKUPS.labels(chosen, "failed").inc()
        raise
    BACKUPS.labels(chosen, "ok").inc()
    LAST_BACKUP.set_to_current_time()
    return {"type": last["type"], "label": last["label"], "repository": str(repo),
            "database_bytes": last.get("info", {}).get("size"),
            "stored_bytes": last.get("info", {}).get("repository", {}).get("delta"),
            "seconds": round(time.monotonic() - started, 1)}


def target_time(text: str, tz: str = "Asia/Shanghai") -> str:
    """An ISO time (with a zone, or in ``tz``) as PostgreSQL's recovery target, in UTC."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise BackupError(f"--to-time must be an ISO time such as 2026-11-25T21:40:00+08:00, "
                          f"not {text!r}") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=zoneinfo.ZoneInfo(tz))
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def restore(cfg: dict, src: str | os.PathLike, to_time: str | None = None,
            cluster: EmbeddedCluster | None = None, timeout_s: float = 600) -> dict:
    """Restore the embedded cluster (or ``cluster``) from the repository ``src``: the
    newest state, or the state at ``to_time``. The server is stopped, its data directory
    kept beside as ``data.before-restore-<time>``, the backup laid down, the WAL replayed
    and the server promoted and left running. The caller migrates the schema."""
    from geo.store.db import embedded_cluster

    if cfg.get("database_url") and cluster is None:
        raise BackupError("DATABASE_URL is set: restore that server with its own pgBackRest")
    cluster = cluster or embedded_cluster(cfg)
    repo = Path(src).resolve()
    if not repo.is_dir():
        raise BackupError(f"no backup repository at {repo}")
    target = target_time(to_time, cfg.get("timezone", "Asia/Shanghai")) if to_time else None
    flush_wal(cluster)
    cluster.stop()
    for path in (cluster.root, cluster.sockets, cluster.logfile.parent):
        path.mkdir(parents=True, exist_ok=True)
        cluster._own(path)
    os.chmod(cluster.root, 0o700)
    os.chmod(cluster.sockets, 0o700)
    cluster._grant_traverse()
    kept = None
    if cluster.data.exists():
        kept = cluster.root / f"data.before-restore-{dt.datetime.now():%Y%m%d%H%M%S}"
        cluster.data.rename(kept)
    cluster.data.mkdir(mode=0o700)
    cluster._own(cluster.data)
    if cluster.run_as:
        _grant_traverse(cluster, repo)
    conf = write_conf(cluster, repo, cfg.get("backup_key"),
                      int(cfg.get("backup", {}).get("retention_full", 2)))
    args = ["--type=time", f"--target={target}", "--target-action=promote"] if target else []
    _run(cluster, conf, *args, "restore")
    # The backup carries the settings of the cluster it came from: point them here.
    cluster.write_settings(cluster.own_settings())
    cluster.start()
    deadline = time.monotonic() + timeout_s
    engine = sa.create_engine(cluster.url("postgres"), poolclass=sa.pool.NullPool)
    try:
        while True:
            try:
                with engine.connect() as conn:
                    if not conn.execute(sa.text("SELECT pg_is_in_recovery()")).scalar_one():
                        break
            except sa.exc.OperationalError:
                if not cluster.is_running():
                    tail = "\n".join(cluster.logfile.read_text(errors="replace")
                                     .splitlines()[-8:]) if cluster.logfile.exists() else ""
                    raise BackupError(
                        "the restored database stopped during recovery (a time after the "
                        f"last archived change cannot be reached):\n{tail}") from None
            if time.monotonic() > deadline:
                raise BackupError("the restored database is still recovering; see "
                                  f"{cluster.logfile}")
            time.sleep(0.5)
    finally:
        engine.dispose()
    return {"restored_from": str(repo), "to_time": to_time, "recovery_target": target,
            "data_directory": str(cluster.data),
            "previous_data_kept_in": str(kept) if kept else None}


def flush_wal(cluster: EmbeddedCluster, timeout_s: float = 60) -> bool:
    """Before a restore: push the cluster's last WAL to the repository, so that every
    change committed until now can be restored. The cluster is started for it when it is
    stopped but intact (and stopped again); a cluster that will not start is left as it
    is. True when the archive now reaches the present."""
    if not cluster.initialised or not (cluster.root / BACKUP_CONF).exists():
        return False
    started = False
    if not cluster.is_running():
        try:
            started = cluster.start()
        except EmbeddedError:
            return False
    engine = sa.create_engine(cluster.url("postgres"), poolclass=sa.pool.NullPool,
                              isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT txid_current()"))   # a commit stamped now
            segment = conn.execute(sa.text(
                "SELECT pg_walfile_name(pg_switch_wal())")).scalar_one()
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                done = conn.execute(sa.text(
                    "SELECT last_archived_wal FROM pg_stat_archiver")).scalar()
                if done and done[8:] >= segment[8:]:
                    return True
                time.sleep(0.5)
            log.warning("WAL segment %s was not archived within %s s", segment, timeout_s)
            return False
    except sa.exc.SQLAlchemyError:
        log.exception("could not flush the WAL before the restore")
        return False
    finally:
        engine.dispose()
        if started:
            cluster.stop()


def _next_run(cfg: dict, now: dt.datetime) -> dt.datetime:
    tz = zoneinfo.ZoneInfo(cfg.get("timezone", "Asia/Shanghai"))
    hour, minute = (int(x) for x in cfg["backup"].get("nightly_at", "02:30").split(":"))
    local = now.astimezone(tz)
    run = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if run <= local:
        run += dt.timedelta(days=1)
    return run


class BackupLoop(threading.Thread):
    """The nightly backup of ``gridmap serve`` on the embedded database: at
    ``backup.nightly_at`` (local time) a full or incremental backup, and a first full
    one ``first_after_s`` after start when the repository holds none yet."""

    def __init__(self, cfg: dict, engine=None, first_after_s: float = 300):
        super().__init__(name="nightly-backup", daemon=True)
        self.cfg, self.engine, self.first_after_s = cfg, engine, first_after_s
        self._stop_event = threading.Event()

    def _has_backup(self) -> bool:
        from geo.store.db import embedded_cluster

        cluster = embedded_cluster(self.cfg)
        conf = cluster.root / BACKUP_CONF
        if not conf.exists():
            return False
        try:
            return bool(info(cluster, conf))
        except BackupError:
            return False

    def run(self) -> None:
        wait = None if self._has_backup() else self.first_after_s
        while not self._stop_event.is_set():
            if wait is None:
                now = dt.datetime.now(dt.UTC)
                wait = (_next_run(self.cfg, now) - now).total_seconds()
            if self._stop_event.wait(wait):
                return
            wait = None
            try:
                done = backup(self.cfg, engine=self.engine)
                log.info("nightly backup %s (%s) done in %s s", done["label"], done["type"],
                         done["seconds"])
            except Exception:  # noqa: BLE001 - a failed night must not end the loop
                log.exception("nightly backup failed")

    def stop(self) -> None:
        self._stop_event.set()


def describe(cfg: dict) -> dict[str, Any]:
    """Where backups go and what is in the repository (for ``gridmap db backup --list``)."""
    from geo.store.db import embedded_cluster

    cluster = embedded_cluster(cfg)
    conf = cluster.root / BACKUP_CONF
    return {"repository": str(repo_path(cfg)),
            "backups": [{"label": b["label"], "type": b["type"],
                         "stop": dt.datetime.fromtimestamp(b["timestamp"]["stop"], dt.UTC)
                         .isoformat()} for b in info(cluster, conf)] if conf.exists() else []}

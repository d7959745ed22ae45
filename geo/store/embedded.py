"""A private PostgreSQL + PostGIS cluster under ``var/``, for when no DATABASE_URL is set.

The cluster listens on a Unix socket only (``var/pg/run``, a directory only its owner
can enter), never on TCP, and trusts connections on that socket. PostgreSQL refuses to
run as root: when we are root the server runs as the ``postgres`` system user (created
by Debian's ``postgresql-common``) and owns ``var/pg``.

>>> cluster = EmbeddedCluster("/srv/gridmap/var", port=54329)   # doctest: +SKIP
>>> cluster.start()          # True when this call started it      # doctest: +SKIP
>>> cluster.url("gridmap")                                          # doctest: +SKIP
'postgresql+psycopg2://gridmap@/gridmap?host=/srv/gridmap/var/pg/run&port=54329'
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "gridmap"
SERVER_SETTINGS = {
    "listen_addresses": "''",
    "max_connections": "100",
    "shared_buffers": "'1GB'",
    "work_mem": "'64MB'",
    "maintenance_work_mem": "'1GB'",
    "effective_cache_size": "'8GB'",
    "max_wal_size": "'4GB'",
    "random_page_cost": "1.1",
    "jit": "off",
    # Parallel query on a 2-core county server: one worker beside the leader uses both
    # cores for a large aggregate (cell status counted child by child at city scale:
    # median 200 ms serial, 147 ms with one worker, no better with two, issue 17), and at
    # most two workers at a time across sessions, so a burst of large reads does not
    # start more processes than there are cores. PostgreSQL's defaults are 2 and 8.
    "max_parallel_workers_per_gather": "1",
    "max_parallel_workers": "2",
    "log_min_messages": "warning",
    "timezone": "'Asia/Shanghai'",
    # WAL archiving for point-in-time recovery (geo.store.backup): the archive command pushes
    # to pgBackRest once `gridmap db backup` has written var/pg/pgbackrest.conf, and
    # drops the segment until then (there is no backup it could extend).
    "wal_level": "replica",
    "archive_mode": "on",
    "archive_timeout": "300",
}
BACKUP_CONF = "pgbackrest.conf"
STANZA = "gridmap"


class EmbeddedError(RuntimeError):
    """The embedded cluster could not be set up or started; the message says why."""


def find_bindir() -> Path:
    """Directory of PostgreSQL's server programs (``GRIDMAP_PG_BIN`` overrides)."""
    configured = os.environ.get("GRIDMAP_PG_BIN")
    candidates = [configured] if configured else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True
    )
    for cand in candidates:
        if cand and Path(cand, "initdb").exists() and Path(cand, "pg_ctl").exists():
            return Path(cand)
    raise EmbeddedError(
        "PostgreSQL server programs not found (looked for /usr/lib/postgresql/*/bin/initdb); "
        "install postgresql-15 and postgresql-15-postgis-3, or set DATABASE_URL"
    )


@dataclass
class EmbeddedCluster:
    var_dir: str | Path
    port: int = 54329

    def __post_init__(self) -> None:
        self.var_dir = Path(self.var_dir).resolve()
        self.root = self.var_dir / "pg"
        self.data = self.root / "data"
        self.sockets = self.root / "run"
        self.logfile = self.root / "log" / "postgres.log"
        if len(str(self.sockets)) + 20 > 107:
            raise EmbeddedError(
                f"path too long for a Unix socket: {self.sockets}; set GRIDMAP_VAR_DIR "
                "to a shorter directory"
            )

    # -- who runs the server -------------------------------------------------------
    @property
    def run_as(self) -> str | None:
        """The system user the server runs as: ``postgres`` when we are root."""
        return "postgres" if os.geteuid() == 0 else None

    def _cmd(self, *args: str | Path) -> list[str]:
        prefix = ["runuser", "-u", self.run_as, "--"] if self.run_as else []
        return prefix + [str(a) for a in args]

    def _run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(self._cmd(*args), capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise EmbeddedError(
                f"{Path(str(args[0])).name} failed ({proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()}"
            )
        return proc

    def _grant_traverse(self) -> None:
        """Let the ``postgres`` user reach var/pg when we are root (ACL, execute only)."""
        if not self.run_as:
            return
        if self._run("test", "-x", self.root, check=False).returncode == 0:
            return
        setfacl = shutil.which("setfacl")
        if not setfacl:
            raise EmbeddedError(
                f"the postgres user cannot reach {self.root}; install the 'acl' package "
                "or move the project to a directory other users can traverse"
            )
        for parent in reversed(self.root.parents):
            mode = parent.stat().st_mode
            if not mode & 0o001:
                subprocess.run([setfacl, "-m", f"u:{self.run_as}:x", str(parent)], check=True)

    def _own(self, *paths: Path) -> None:
        if self.run_as:
            user = pwd.getpwnam(self.run_as)
            for path in paths:
                os.chown(path, user.pw_uid, user.pw_gid)

    # -- life cycle ----------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def init(self) -> bool:
        """Create the cluster if it does not exist yet; True when this call created it."""
        if self.initialised:
            return False
        if self.run_as:
            try:
                pwd.getpwnam(self.run_as)
            except KeyError as exc:
                raise EmbeddedError(
                    "running as root but there is no 'postgres' system user to run the "
                    "server; install postgresql-15 (it creates the user)"
                ) from exc
        bindir = find_bindir()
        for path in (self.root, self.sockets, self.logfile.parent):
            path.mkdir(parents=True, exist_ok=True)
        self._own(self.root, self.sockets, self.logfile.parent)
        os.chmod(self.root, 0o700)
        os.chmod(self.sockets, 0o700)
        self._grant_traverse()
        self._run(
            bindir / "initdb", "-D", self.data, "-U", SUPERUSER, "--auth=trust",
            "--encoding=UTF8", "--locale=C.UTF-8",
        )
        self.write_settings(dict(SERVER_SETTINGS, **self.own_settings()))
        return True

    def own_settings(self) -> dict[str, str]:
        """Settings naming this cluster's own places (port, socket, archive command)."""
        conf = self.root / BACKUP_CONF
        archive = (f'test ! -f "{conf}" || pgbackrest --config="{conf}" --stanza={STANZA} '
                   'archive-push "%p"')
        return {"port": str(self.port), "unix_socket_directories": f"'{self.sockets}'",
                "archive_command": "'" + archive.replace("'", "''") + "'"}

    def write_settings(self, settings: dict[str, str]) -> None:
        """Set ``settings`` in postgresql.auto.conf, replacing earlier lines for them."""
        conf = self.data / "postgresql.auto.conf"
        kept = []
        if conf.exists():
            kept = [line for line in conf.read_text("utf-8").splitlines()
                    if line.split("=", 1)[0].strip() not in settings
                    and line != "# gridmap embedded cluster"]
        lines = [f"{key} = {value}" for key, value in settings.items()]
        conf.write_text("\n".join(kept + ["# gridmap embedded cluster"] + lines) + "\n",
                        encoding="utf-8")

    def ensure_archiving(self) -> None:
        """Clusters made before WAL archiving was on get it at their next start."""
        conf = self.data / "postgresql.auto.conf"
        text = conf.read_text("utf-8") if conf.exists() else ""
        if "archive_command" not in text:
            keys = ("wal_level", "archive_mode", "archive_timeout")
            self.write_settings({**{k: SERVER_SETTINGS[k] for k in keys},
                                 "archive_command": self.own_settings()["archive_command"]})

    def is_running(self) -> bool:
        if not self.initialised:
            return False
        proc = self._run(find_bindir() / "pg_ctl", "status", "-D", self.data, check=False)
        return proc.returncode == 0

    def start(self) -> bool:
        """Initialise if needed and start; True when this call started the server."""
        self.init()
        if self.is_running():
            return False
        self.ensure_archiving()
        self._grant_traverse()
        proc = self._run(
            find_bindir() / "pg_ctl", "start", "-D", self.data, "-l", self.logfile,
            "-w", "-t", "120", check=False,
        )
        if proc.returncode != 0:
            tail = ""
            if self.logfile.exists():
                tail = "\n".join(self.logfile.read_text(errors="replace").splitlines()[-15:])
            raise EmbeddedError(f"the embedded PostgreSQL did not start:\n{proc.stdout}{tail}")
        return True

    def stop(self) -> bool:
        """Stop the server (fast shutdown); True when it was running."""
        if not self.is_running():
            return False
        self._run(find_bindir() / "pg_ctl", "stop", "-D", self.data, "-m", "fast", "-w")
        return True

    def status(self) -> dict:
        return {
            "data_directory": str(self.data),
            "socket_directory": str(self.sockets),
            "port": self.port,
            "initialised": self.initialised,
            "running": self.is_running(),
            "server_user": self.run_as or pwd.getpwuid(os.geteuid()).pw_name,
        }

    # -- connecting ----------------------------------------------------------------
    def url(self, dbname: str = "gridmap") -> str:
        return f"postgresql+psycopg2://{SUPERUSER}@/{dbname}?host={self.sockets}&port={self.port}"

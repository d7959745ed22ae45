"""Engines, databases and the PostGIS check.

One cached engine per URL and process; callers open ``with Session(engine)`` or
``with engine.begin()`` per unit of work.

>>> url = database_url(load_config())            # doctest: +SKIP
>>> engine = get_engine(url)                     # doctest: +SKIP
>>> postgis_version(engine)                      # doctest: +SKIP
'3.3 USE_GEOS=1 USE_PROJ=1 USE_STATS=1'
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from geo.store.embedded import EmbeddedCluster


class DatabaseError(RuntimeError):
    """The database cannot be used as it is; the message says what to do."""


def embedded_cluster(cfg: dict[str, Any]) -> EmbeddedCluster:
    return EmbeddedCluster(cfg["var_dir"], port=int(cfg["pg_port"]))


def database_url(cfg: dict[str, Any]) -> str:
    """``DATABASE_URL`` when configured, else the embedded cluster's ``gridmap`` database."""
    if cfg.get("database_url"):
        url = make_url(cfg["database_url"])
        if url.drivername in ("postgres", "postgresql"):
            url = url.set(drivername="postgresql+psycopg2")
        return url.render_as_string(hide_password=False)
    return embedded_cluster(cfg).url("gridmap")


# A pooled connection idle longer than this is pinged before use. Pinging every checkout
# (``pool_pre_ping``) cost a round trip per API request, a tenth of a request's time
# (bench/api_load.py --profile); a connection in steady use is not pinged, and one the
# server dropped while it was in use fails that request only and leaves the pool
# (SQLAlchemy invalidates it on the disconnect error).
IDLE_PING_S = 10.0
POOL_SIZE = 10


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    engine = sa.create_engine(url, pool_size=POOL_SIZE, max_overflow=10)
    _ping_when_idle(engine, IDLE_PING_S)
    return engine


# Statements that write, lock or need a transaction block. On a read engine's connection
# the first one opens a transaction (``BEGIN READ WRITE``) that the caller then commits or
# rolls back as a whole; anything this misses (a function that writes, called from a
# SELECT) is refused by PostgreSQL, since the read engine's sessions default to read-only.
_NEEDS_TRANSACTION = frozenset((
    "insert", "update", "delete", "merge", "copy", "create", "alter", "drop", "truncate",
    "savepoint", "lock", "grant", "revoke", "comment", "nextval", "setval", "set",
    "set_config", "refresh", "vacuum", "analyze", "call", "do", "notify", "listen",
    "prepare", "execute", "share"))
_WORD = re.compile(r"[a-z_]+")
_NEEDS = {}
READ_ONLY_OPTION = "-c default_transaction_read_only=on"


def needs_transaction(statement: str) -> bool:
    """True when ``statement`` may write, lock, or only make sense in a transaction."""
    known = _NEEDS.get(statement)
    if known is None:
        lowered = statement.lower()
        known = "advisory" in lowered or not _NEEDS_TRANSACTION.isdisjoint(
            _WORD.findall(lowered))
        if len(_NEEDS) < 4096:
            _NEEDS[statement] = known
    return known


def in_transaction_block(dbapi_conn) -> bool:
    """The server has a transaction open on this DBAPI connection (read locally)."""
    import psycopg2.extensions as ext

    return dbapi_conn.info.transaction_status != ext.TRANSACTION_STATUS_IDLE


@lru_cache(maxsize=8)
def get_read_engine(url: str) -> Engine:
    """An engine for requests that mostly read (the API's GET requests): autocommit, so a
    read costs its own round trip only (no ``BEGIN`` and ``COMMIT`` around it), in sessions
    that are read-only by default. The first statement that writes or locks opens a
    transaction, ``BEGIN READ WRITE``, on the same connection; whoever holds the
    connection ends it with :func:`end_transaction`, and a connection going back to the
    pool with one still open has it rolled back."""
    parsed = make_url(url)
    options = " ".join(filter(None, (parsed.query.get("options"), READ_ONLY_OPTION)))
    engine = sa.create_engine(url, pool_size=POOL_SIZE, max_overflow=10,
                              isolation_level="AUTOCOMMIT",
                              connect_args={"options": options})
    _ping_when_idle(engine, IDLE_PING_S)

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _begin_before_write(conn, cursor, statement, parameters, context, executemany):
        if needs_transaction(statement) and not in_transaction_block(cursor.connection):
            cursor.execute("BEGIN READ WRITE")

    @sa.event.listens_for(engine, "checkin")
    def _roll_back_leftover(dbapi_conn, record):
        if dbapi_conn is not None and not dbapi_conn.closed and in_transaction_block(dbapi_conn):
            cur = dbapi_conn.cursor()
            try:
                cur.execute("ROLLBACK")
            finally:
                cur.close()

    return engine


def end_transaction(connection: sa.Connection, commit: bool) -> bool:
    """Commit (or roll back) the transaction a read engine's connection opened for a
    write; True when there was one. Does nothing on a connection that only read."""
    dbapi_conn = connection.connection.dbapi_connection
    if dbapi_conn is None or not in_transaction_block(dbapi_conn):
        return False
    cur = dbapi_conn.cursor()
    try:
        cur.execute("COMMIT" if commit else "ROLLBACK")
    finally:
        cur.close()
    return True


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Ping a connection at checkout only when it sat in the pool for ``idle_s`` or
    more; a dead one is replaced (the pool retries on ``DisconnectionError``)."""
    import time

    @sa.event.listens_for(engine, "checkin")
    def _checkin(dbapi_conn, record):
        record.info["gridmap_idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn, record, proxy):
        since = record.info.get("gridmap_idle_since")
        if since is None or time.monotonic() - since < idle_s:
            return
        try:
            cur = dbapi_conn.cursor()
            try:
                cur.execute("SELECT 1")
            finally:
                cur.close()
            # The ping opened a transaction (the driver is not in autocommit).
            dbapi_conn.rollback()
        except Exception as exc:
            raise sa.exc.DisconnectionError(str(exc)) from exc


def _admin_engine(url: str | URL) -> Engine:
    admin = make_url(url).set(database="postgres")
    return sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def create_database(url: str | URL) -> bool:
    """Create the database named in ``url`` on its server if missing; True when created."""
    name = make_url(url).database
    engine = _admin_engine(url)
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
            if exists:
                return False
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            return True
    finally:
        engine.dispose()


def drop_database(url: str | URL) -> None:
    name = make_url(url).database
    engine = _admin_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        engine.dispose()


def check_postgis(engine: Engine) -> None:
    """Raise :class:`DatabaseError` with a clear message when PostGIS cannot be used."""
    try:
        with engine.connect() as conn:
            available = conn.execute(
                sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
            ).first()
    except sa.exc.OperationalError as exc:
        raise DatabaseError(
            f"cannot connect to {engine.url.render_as_string(hide_password=True)}: "
            f"{exc.orig}".strip()
        ) from exc
    if not available:
        raise DatabaseError(
            f"PostGIS is not installed on the server at "
            f"{engine.url.render_as_string(hide_password=True)}; install it there "
            "(Debian: postgresql-15-postgis-3) or unset DATABASE_URL to use the embedded one"
        )


def postgis_version(engine: Engine) -> str | None:
    with engine.connect() as conn:
        installed = conn.execute(
            sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
        ).first()
        if not installed:
            return None
        return conn.execute(sa.text("SELECT postgis_lib_version()")).scalar_one()


@contextmanager
def open_database(cfg: dict[str, Any], migrate: bool = True) -> Iterator[Engine]:
    """A ready engine: the embedded cluster started (and stopped again on exit when this
    call started it) or DATABASE_URL checked for PostGIS, and the schema migrated."""
    from geo import migrate as migrations  # noqa: PLC0415 - alembic is slow to import

    cluster = None if cfg.get("database_url") else embedded_cluster(cfg)
    started = False
    try:
        if cluster is not None:
            started = cluster.start()
            create_database(database_url(cfg))
        engine = get_engine(database_url(cfg))
        check_postgis(engine)
        if migrate:
            migrations.upgrade(engine)
        yield engine
    finally:
        if started:
            get_engine(database_url(cfg)).dispose()
            get_read_engine(database_url(cfg)).dispose()   # the API's GET requests' pool
            cluster.stop()

"""Engines, databases and the PostGIS check.

One cached engine per URL and process; callers open ``with Session(engine)`` or
``with engine.begin()`` per unit of work.

>>> url = database_url(load_config())            # doctest: +SKIP
>>> engine = get_engine(url)                     # doctest: +SKIP
>>> postgis_version(engine)                      # doctest: +SKIP
'3.3 USE_GEOS=1 USE_PROJ=1 USE_STATS=1'
"""

from __future__ import annotations

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


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


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
            cluster.stop()

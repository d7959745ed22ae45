"""Tests run against a real PostGIS: the embedded cluster under var/ (started here when
it is not running, stopped again afterwards) or the server in DATABASE_URL. Each run
gets a fresh database, migrated and loaded once with a small seeded demo; each test
runs inside a transaction that is rolled back at the end."""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest
from sqlalchemy import make_url
from sqlalchemy.orm import Session

from api.app import create_app
from geo import migrate
from geo.config import load_config
from geo.office.demo_users import create_demo_users
from geo.office.secrets import ensure_secrets
from geo.store.db import (
    check_postgis,
    create_database,
    database_url,
    drop_database,
    embedded_cluster,
    get_engine,
)

# The demo every test sees: small enough to load in seconds, large enough that every
# cell status, facility type and worker role occurs.
TEST_SCALE = 0.1
TEST_SEED = 7
TEST_TODAY = dt.date(2026, 11, 24)


@pytest.fixture(scope="session")
def cfg(tmp_path_factory):
    base = load_config()
    overrides = {"id_key": base.get("id_key") or "test-id-key",
                 "secret_key": base.get("secret_key") or "test-secret-key"}
    return ensure_secrets(load_config(overrides))


@pytest.fixture(scope="session")
def database(cfg):
    """URL of a fresh, migrated database for this test run."""
    cluster = None if cfg.get("database_url") else embedded_cluster(cfg)
    started = cluster.start() if cluster else False
    name = f"gridmap_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = make_url(database_url(cfg)).set(database=name).render_as_string(hide_password=False)
    create_database(url)
    engine = get_engine(url)
    try:
        check_postgis(engine)
        migrate.upgrade(engine)
        yield url
    finally:
        engine.dispose()
        drop_database(url)
        if started:
            cluster.stop()


@pytest.fixture(scope="session")
def engine(database):
    return get_engine(database)


@pytest.fixture(scope="session")
def demo(engine, cfg):
    """The demo county, loaded once: returns the loader's summary (row counts)."""
    from geo.demo import load_demo

    return load_demo(engine, cfg, scale=TEST_SCALE, seed=TEST_SEED, today=TEST_TODAY)


@pytest.fixture
def conn(engine, demo):
    """A connection inside a transaction that is rolled back after the test."""
    with engine.connect() as connection:
        trans = connection.begin()
        try:
            yield connection
        finally:
            trans.rollback()


@pytest.fixture
def session(conn):
    with Session(bind=conn, join_transaction_mode="create_savepoint") as sess:
        yield sess


@pytest.fixture(scope="session")
def app(database, demo, cfg, tmp_path_factory):
    return create_app({"database_url": database, "var_dir": str(tmp_path_factory.mktemp("var")),
                       "id_key": cfg["id_key"], "secret_key": cfg["secret_key"]})


@pytest.fixture(scope="session")
def logins(app, engine):
    users = create_demo_users(engine, app.config["GRIDMAP"])
    assert len(users) == 7  # one per role, the department user of education
    return {u["role"]: u for u in users}

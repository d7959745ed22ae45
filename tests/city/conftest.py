"""The demo city (510400 攀枝花市, five counties) in a database of its own, so the
one-county demo every other test reads stays as it is; an app on it, and one login per
role bound to the city (city admin, city supervisor, city planner) and to one county."""

from __future__ import annotations

import os
import uuid

import pytest
from citydemo import CITY, CITY_SCALE, CITY_TODAY, PASSWORD
from sqlalchemy import make_url

from api.app import create_app
from geo import migrate
from geo.office.users import create_user
from geo.store.db import create_database, database_url, drop_database, get_engine


@pytest.fixture(scope="session")
def city_database(database, cfg):
    """A second fresh database on the same server (the cluster ``database`` started)."""
    name = f"gridmap_city_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = make_url(database_url(cfg) if cfg.get("database_url") else database).set(
        database=name).render_as_string(hide_password=False)
    create_database(url)
    engine = get_engine(url)
    try:
        migrate.upgrade(engine)
        yield url
    finally:
        engine.dispose()
        drop_database(url)


@pytest.fixture(scope="session")
def city_engine(city_database):
    return get_engine(city_database)


@pytest.fixture(scope="session")
def city_demo(city_engine, cfg):
    from geo.demo import load_demo

    return load_demo(city_engine, cfg, scale=CITY_SCALE, seed=11, today=CITY_TODAY,
                     city=CITY)


@pytest.fixture
def city_conn(city_engine, city_demo):
    with city_engine.connect() as connection:
        trans = connection.begin()
        try:
            yield connection
        finally:
            trans.rollback()


@pytest.fixture(scope="session")
def city_app(city_database, city_demo, cfg, tmp_path_factory):
    return create_app({"database_url": city_database,
                       "var_dir": str(tmp_path_factory.mktemp("cityvar")),
                       "id_key": cfg["id_key"], "secret_key": cfg["secret_key"]})


@pytest.fixture(scope="session")
def city_tokens(city_app, city_engine):
    """Bearer tokens: ``city_<role>`` bound to the city, ``renhe_<role>`` to 510411."""
    logins = {f"city_{r}": (r, CITY) for r in ("admin", "supervisor", "planner")}
    logins |= {f"renhe_{r}": (r, "510411") for r in ("admin", "supervisor", "planner")}
    with city_engine.begin() as conn:
        for name, (role, unit) in logins.items():
            create_user(conn, name, role, unit, PASSWORD)
    client = city_app.test_client()
    out = {}
    for name in logins:
        resp = client.post("/api/auth/token", json={"username": name, "password": PASSWORD})
        assert resp.status_code == 200, resp.get_json()
        out[name] = resp.get_json()["token"]
    return out


@pytest.fixture
def city_as(city_app, city_tokens):
    client = city_app.test_client()

    def call(who, method, url, **kwargs):
        return client.open(url, method=method,
                           headers={"Authorization": f"Bearer {city_tokens[who]}"}, **kwargs)

    return call

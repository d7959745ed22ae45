"""Schemathesis against the app's own ``/api/openapi.json``: generated requests, valid
(positive) and invalid (negative), reads and writes, as an admin and as a grid worker,
must never get a server error.

The fuzzer writes (and deletes) freely, so it runs against a database of its own,
created, migrated and loaded with a small demo here and dropped afterwards; the other
tests' database is not touched. Bounded to a few examples per operation (well under
90 s on a small machine)."""

from __future__ import annotations

import os
import time
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode
from sqlalchemy import make_url

from api.app import create_app
from api.db import engine_for
from geo import migrate
from geo.office.demo_users import create_demo_users
from geo.store.db import create_database, database_url, drop_database, get_engine

pytestmark = pytest.mark.slow

FUZZ_SCALE = 0.03
FUZZ_SEED = 11
EXAMPLES = int(os.environ.get("GRIDMAP_FUZZ_EXAMPLES", "8"))
ROLES = ("admin", "grid_worker")


@pytest.fixture(scope="module")
def fuzz_database(database, cfg):
    """A fresh database beside the session's (same server, which ``database`` started)."""
    import datetime as dt

    from geo.demo import load_demo

    name = f"gridmap_fuzz_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = make_url(database_url({**cfg, "database_url": database})).set(database=name)
    url = url.render_as_string(hide_password=False)
    create_database(url)
    engine = get_engine(url)
    try:
        migrate.upgrade(engine)
        load_demo(engine, cfg, scale=FUZZ_SCALE, seed=FUZZ_SEED, today=dt.date.today())
        yield url
    finally:
        engine.dispose()
        drop_database(url)


@pytest.fixture(scope="module")
def fuzz_app(fuzz_database, cfg, tmp_path_factory):
    app = create_app({"database_url": fuzz_database,
                      "var_dir": str(tmp_path_factory.mktemp("fuzz_var")),
                      "id_key": cfg["id_key"], "secret_key": cfg["secret_key"],
                      # keep route solving short: the fuzzer asks for many routes
                      "rules": {"route_time_limit_s": 0.05}})
    yield app
    engine_for(app).dispose()


@pytest.fixture(scope="module")
def fuzz_tokens(fuzz_app, fuzz_database):
    users = create_demo_users(get_engine(fuzz_database), fuzz_app.config["GRIDMAP"])
    client = fuzz_app.test_client()
    tokens = {}
    for user in users:
        if user["role"] in ROLES:
            resp = client.post("/api/auth/token", json={"username": user["username"],
                                                        "password": user["password"]})
            assert resp.status_code == 200, resp.get_json()
            tokens[user["role"]] = resp.get_json()["token"]
    return tokens


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app)


# Hypothesis is driven directly (schemathesis' pytest plugin does not run under pytest 9).
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                         derandomize=not os.environ.get("GRIDMAP_FUZZ_RANDOM"),
                         database=None, suppress_health_check=list(HealthCheck),
                         phases=[Phase.explicit, Phase.generate])


def _fuzz(schema, token: str) -> tuple[list[str], dict[str, float]]:
    """Every operation in both modes; the server errors seen and the time per operation."""
    headers = {"Authorization": f"Bearer {token}"}
    errors: list[str] = []
    times: dict[str, float] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            started = time.perf_counter()

            @given(case=operation.as_strategy(generation_mode=mode))
            @FUZZ_SETTINGS
            def run(case):
                response = case.call(headers=headers)
                if response.status_code >= 500:
                    errors.append(f"{response.status_code} {case.as_curl_command()}")

            try:
                run()
            except Unsatisfiable:  # nothing to negate in this operation
                pass
            key = f"{operation.label} {mode.value}"
            times[key] = time.perf_counter() - started
    return errors, times


@pytest.mark.parametrize("role", ROLES)
def test_no_server_errors(fuzz_schema, fuzz_tokens, role):
    errors, times = _fuzz(fuzz_schema, fuzz_tokens[role])
    slowest = sorted(times.items(), key=lambda kv: -kv[1])[:5]
    print(f"\n{role}: {sum(times.values()):.1f} s; slowest: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in slowest))
    assert not errors, "\n".join(errors[:20])

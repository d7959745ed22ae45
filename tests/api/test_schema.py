"""Schemathesis against /api/openapi.json: generated requests, as an admin, on a database
of their own (the fuzzer writes). No response may be a server error or contradict the
schema."""

import datetime as dt
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from sqlalchemy import make_url

from api.app import create_app
from geo import migrate
from geo.demo import load_demo
from geo.office.demo_users import create_demo_users
from geo.store.db import create_database, drop_database, get_engine

# The bar: no server error and nothing that contradicts the schema. (Business
# rules beyond the schema — a point outside the county, an adult's birth date — are
# rightly refused with 400, so "schema-valid data must be accepted" is not checked.)
CHECKS = [checks.not_a_server_error, checks.response_schema_conformance,
          checks.status_code_conformance, checks.content_type_conformance]


@pytest.fixture(scope="module")
def fuzz_app(database, cfg, tmp_path_factory):
    url = make_url(database).set(database=f"gridmap_fuzz_{uuid.uuid4().hex[:8]}")
    url = url.render_as_string(hide_password=False)
    create_database(url)
    engine = get_engine(url)
    migrate.upgrade(engine)
    load_demo(engine, cfg, scale=0.02, seed=3, today=dt.date(2026, 11, 24))
    app = create_app({"database_url": url, "var_dir": str(tmp_path_factory.mktemp("fuzz")),
                      "id_key": cfg["id_key"], "secret_key": cfg["secret_key"]})
    users = {u["role"]: u for u in create_demo_users(engine, app.config["GRIDMAP"])}
    token = app.test_client().post("/api/auth/token", json={
        "username": users["admin"]["username"],
        "password": users["admin"]["password"]}).get_json()["token"]
    yield app, token
    engine.dispose()
    drop_database(url)


def test_api_conforms(fuzz_app):
    """Every operation, with generated input: no server error, no response that
    contradicts the schema. (Driven by hand, one Hypothesis run per operation.)"""
    app, token = fuzz_app
    api = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    failures, ran = [], 0
    for result in api.get_all_operations():
        operation = result.ok()
        if operation.label == "POST /api/auth/logout":
            continue  # it would revoke the fuzzer's token; tests/api/test_sessions.py has it

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"},
                                   checks=CHECKS)

        try:
            run()
            ran += 1
        except Exception as exc:  # collect every operation's failure, then report all
            failures.append(f"{operation.label}: {str(exc)[:600]}")
    assert ran > 20
    assert not failures, "\n\n".join(failures)

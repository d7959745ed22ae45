"""A request's database work: a safe (GET) request reads in autocommit, without BEGIN and
COMMIT round trips, but what any request writes is still one transaction, committed with
the request's success or rolled back as a whole; logout stays immediate."""

import uuid

import psycopg2.extensions as ext
import pytest
import sqlalchemy as sa

from api.app import create_app
from api.auth import current_user
from api.db import conn
from geo import audit
from geo.errors import InvalidInput
from geo.store.db import get_read_engine, needs_transaction


@pytest.fixture
def marker():
    return f"thin_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def probe_app(database, demo, cfg, tmp_path, marker):
    """A second app on the test database with routes that write two audit rows and then
    succeed, fail with a 4xx, or crash, on a safe method and on POST."""
    app = create_app({"database_url": database, "var_dir": str(tmp_path),
                      "id_key": cfg["id_key"], "secret_key": cfg["secret_key"],
                      "read_pool": True})

    def write_two(then: str):
        user = current_user()
        if user is None:
            return {"error": "no user"}, 401
        audit.record(conn(), user, "read", marker, "1")
        # A read between the writes, then the second write: all in the one transaction.
        conn().execute(sa.text("SELECT count(*) FROM audit_log WHERE resource = :r"),
                       {"r": marker}).scalar_one()
        audit.record(conn(), user, "read", marker, "2")
        if then == "refuse":
            raise InvalidInput("refused after writing", field="then")
        if then == "crash":
            raise RuntimeError("crashed after writing")
        return {"ok": True}

    @app.get("/_probe/write/<then>")
    def probe_get(then):
        return write_two(then)

    @app.post("/_probe/write/<then>")
    def probe_post(then):
        return write_two(then)

    @app.get("/_probe/read")
    def probe_read():
        current_user()
        conn().execute(sa.text("SELECT 1")).scalar_one()
        raw = conn().connection.dbapi_connection
        return {"in_transaction":
                raw.info.transaction_status != ext.TRANSACTION_STATUS_IDLE,
                "autocommit": raw.autocommit}

    @app.get("/_probe/hidden_write")
    def probe_hidden_write():
        current_user()
        # A function that writes, called from a plain SELECT: no write keyword to see.
        conn().execute(sa.text("SELECT thin_probe_write(:r)"), {"r": marker}).scalar_one()
        return {"ok": True}

    return app


def _rows(engine, marker):
    with engine.connect() as c:
        return c.execute(sa.text("SELECT resource_id FROM audit_log WHERE resource = :r "
                                 "ORDER BY resource_id"), {"r": marker}).scalars().all()


def _get(client, tokens, url, method="GET"):
    return client.open(url, method=method,
                       headers={"Authorization": f"Bearer {tokens['admin']}"})


def test_a_safe_request_reads_outside_a_transaction(probe_app, tokens):
    resp = _get(probe_app.test_client(), tokens, "/_probe/read")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"in_transaction": False, "autocommit": True}


def test_read_pool_off_reads_in_a_transaction(probe_app, tokens):
    probe_app.config["GRIDMAP"]["read_pool"] = False
    resp = _get(probe_app.test_client(), tokens, "/_probe/read")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"in_transaction": True, "autocommit": False}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_request_that_writes_commits_all_its_writes(probe_app, tokens, engine, marker,
                                                      method):
    resp = _get(probe_app.test_client(), tokens, "/_probe/write/ok", method)
    assert resp.status_code == 200, resp.get_json()
    assert _rows(engine, marker) == ["1", "2"]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("then,status", [("refuse", 400), ("crash", 500)])
def test_a_request_that_fails_after_writing_writes_nothing(probe_app, tokens, engine,
                                                           marker, method, then, status):
    """Fails if a safe request ran its writes in autocommit: the first audit row would
    be committed before the request failed."""
    resp = _get(probe_app.test_client(), tokens, f"/_probe/write/{then}", method)
    assert resp.status_code == status
    assert _rows(engine, marker) == []
    # The pooled connection went back without a transaction left open.
    with get_read_engine(probe_app.config["DATABASE_URL"]).connect() as c:
        raw = c.connection.dbapi_connection
        assert raw.info.transaction_status == ext.TRANSACTION_STATUS_IDLE


def test_a_write_hidden_in_a_select_is_refused_not_committed(probe_app, tokens, engine,
                                                             marker):
    """A function that writes, called from a SELECT, does not open the transaction; the
    read-only session refuses it instead of committing it on its own."""
    with engine.begin() as c:
        c.execute(sa.text(
            "CREATE OR REPLACE FUNCTION thin_probe_write(r text) RETURNS int "
            "LANGUAGE sql AS $$ INSERT INTO audit_log (action, resource) "
            "VALUES ('read', r) RETURNING 1 $$"))
    with engine.connect() as c:   # it does write, in a transaction (rolled back here)
        assert c.execute(sa.text("SELECT thin_probe_write(:r)"), {"r": marker}).scalar() == 1
    try:
        resp = _get(probe_app.test_client(), tokens, "/_probe/hidden_write")
        assert resp.status_code == 500
        assert _rows(engine, marker) == []
    finally:
        with engine.begin() as c:
            c.execute(sa.text("DROP FUNCTION thin_probe_write(text)"))


def test_logout_is_refused_on_the_very_next_request(app, logins, engine):
    client = app.test_client()
    user = logins["supervisor"]
    token = client.post("/api/auth/token", json={"username": user["username"],
                                                 "password": user["password"]}
                        ).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    url = "/api/facilities/nearest?lon=101.7&lat=26.5&k=3"
    # Hold pooled read connections so later requests are served on other connections.
    read_engine = get_read_engine(app.config["DATABASE_URL"])
    held = [read_engine.connect() for _ in range(2)]
    try:
        for _ in range(3):
            assert client.get(url, headers=headers).status_code == 200
        assert client.post("/api/auth/logout", headers=headers).status_code == 204
        held.append(read_engine.connect())
        for _ in range(3):
            resp = client.get(url, headers=headers)
            assert resp.status_code == 401, resp.get_json()
    finally:
        for c in held:
            c.close()


@pytest.mark.parametrize("statement,needs", [
    ("SELECT a.id FROM app_user a JOIN api_token t ON t.user_id = a.id", False),
    ("WITH p AS (SELECT 1) SELECT * FROM p ORDER BY updated_at OFFSET 3", False),
    ("INSERT INTO audit_log (action) VALUES ('read')", True),
    ("WITH x AS (DELETE FROM t RETURNING id) SELECT id FROM x", True),
    ("SELECT id FROM worker WHERE id = 1 FOR UPDATE", True),
    ("SELECT id FROM report FOR NO KEY UPDATE SKIP LOCKED", True),
    ("select pg_advisory_xact_lock(1)", True),
    ("SELECT nextval('data_generation')", True),
    ("SAVEPOINT sa_savepoint_1", True),
    ("SET LOCAL statement_timeout = 1000", True),
])
def test_statements_that_need_a_transaction(statement, needs):
    assert needs_transaction(statement) is needs

"""Request logs (one JSON line per request, no personal data), request ids on 500s, and
the Prometheus metrics endpoint."""

import json
import logging

import pytest
import sqlalchemy as sa

from api import observability
from api.app import create_app


class Lines(logging.Handler):
    """Collects what the gridmap loggers write, formatted as they would be."""

    def __init__(self):
        super().__init__()
        self.setFormatter(observability.JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture
def log_lines():
    handler = Lines()
    loggers = [logging.getLogger("gridmap.request"), logging.getLogger("gridmap.error")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler.lines
    for logger in loggers:
        logger.removeHandler(handler)


def test_one_line_per_request_without_personal_data(as_role, engine, logins, log_lines):
    with engine.connect() as conn:
        child = conn.execute(sa.text(
            "SELECT c.id, c.name, h.id AS household_id, h.address, h.head_name "
            "FROM child c JOIN household h ON h.id = c.household_id "
            "WHERE h.address IS NOT NULL AND h.head_name IS NOT NULL ORDER BY c.id LIMIT 1"
        )).mappings().one()
        admin_id = conn.execute(sa.text("SELECT id FROM app_user WHERE username = :u"),
                                {"u": logins["admin"]["username"]}).scalar_one()
    resp = as_role("admin", "GET", f"/api/children/{child['id']}")
    assert resp.status_code == 200
    assert resp.get_json()["name"] == child["name"]        # the record was really read
    resp2 = as_role("admin", "GET", f"/api/households/{child['household_id']}")
    assert resp2.status_code == 200 and child["address"] in resp2.get_data(as_text=True)

    request_lines = [json.loads(x) for x in log_lines if '"event": "request"' in x]
    assert len(request_lines) == 2                             # one line per request
    line = request_lines[0]
    assert line["request_id"] == resp.headers["X-Request-Id"]
    assert line["user_id"] == admin_id and line["role"] == "admin"
    assert line["method"] == "GET" and line["status"] == 200
    assert line["endpoint"] == "/api/children/<int:child_id>"  # the template, not the id
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["time"].endswith("Z")
    everything = "\n".join(log_lines)
    for secret in (child["name"], child["address"], child["head_name"]):
        assert secret not in everything
    assert str(child["id"]) not in json.dumps([x["endpoint"] for x in request_lines])


def test_incoming_request_id_is_kept_when_plausible(client):
    resp = client.get("/api/health", headers={"X-Request-Id": "proxy-abc-12345"})
    assert resp.headers["X-Request-Id"] == "proxy-abc-12345"
    resp = client.get("/api/health", headers={"X-Request-Id": "<script>"})
    assert resp.headers["X-Request-Id"] != "<script>"
    assert len(resp.headers["X-Request-Id"]) == 32


def test_500_carries_the_request_id_in_body_and_log(database, demo, cfg, tmp_path):
    log_file = tmp_path / "logs" / "gridmap.log"
    app = create_app({"database_url": database, "var_dir": str(tmp_path / "var"),
                      "id_key": cfg["id_key"], "secret_key": cfg["secret_key"],
                      "log_file": str(log_file)})

    @app.get("/test-only/boom")
    def boom():
        raise RuntimeError("boom for the test")

    try:
        resp = app.test_client().get("/test-only/boom?name=张三")
        assert resp.status_code == 500
        err = resp.get_json()["error"]
        assert err["code"] == "internal_error" and "boom" not in err["message"]
        rid = err["request_id"]
        assert rid and resp.headers["X-Request-Id"] == rid
        lines = [json.loads(x) for x in log_file.read_text("utf-8").splitlines()]
        error = [x for x in lines if x.get("event") == "error"]
        assert len(error) == 1 and error[0]["request_id"] == rid
        assert "RuntimeError: boom for the test" in error[0]["traceback"]
        assert error[0]["endpoint"] == "/test-only/boom"
        request = [x for x in lines if x.get("event") == "request"]
        assert [(x["request_id"], x["status"]) for x in request] == [(rid, 500)]
        assert "张三" not in log_file.read_text("utf-8")
    finally:
        observability.configure_logging({})                  # back to stderr


def _metric(text: str, name: str, **labels) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_from_loopback(client, as_role):
    as_role("admin", "GET", "/api/units")
    bad = as_role("admin", "POST", "/api/imports", data={"kind": "children"})   # no file
    assert bad.status_code == 400
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    text = resp.get_data(as_text=True)
    assert _metric(text, "gridmap_http_requests_total", method="GET", endpoint="/api/units",
                   status="200") >= 1
    assert _metric(text, "gridmap_http_request_duration_seconds_count", method="GET",
                   endpoint="/api/units", status="200") >= 1
    assert _metric(text, "gridmap_db_pool_connections", state="in_use") is not None
    assert _metric(text, "gridmap_db_pool_connections", state="read_size") is not None
    assert _metric(text, "gridmap_import_jobs_total", outcome="refused") >= 1
    assert "# TYPE gridmap_escalation_passes_total counter" in text
    assert _metric(text, "gridmap_reports_escalated_total") is not None
    assert _metric(text, "process_resident_memory_bytes") > 0


def test_metrics_elsewhere_admin_only(client, tokens):
    remote = {"REMOTE_ADDR": "10.1.2.3"}
    assert client.get("/metrics", environ_base=remote).status_code == 401
    for role in ("supervisor", "planner", "responder"):
        resp = client.get("/metrics", environ_base=remote,
                          headers={"Authorization": f"Bearer {tokens[role]}"})
        assert resp.status_code == 403, role
    resp = client.get("/metrics", environ_base=remote,
                      headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert resp.status_code == 200 and b"gridmap_http_requests_total" in resp.data

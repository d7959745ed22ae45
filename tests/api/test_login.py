"""Page login with a session cookie and CSRF, route downloads, and creating logins."""

import re
import xml.etree.ElementTree as ET

import sqlalchemy as sa
from click.testing import CliRunner

from api.cli import main


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_session_login_needs_csrf(app, logins):
    client = app.test_client()
    page = client.get("/login")
    assert page.status_code == 200 and "登录" in page.get_data(as_text=True)
    user = logins["supervisor"]
    forged = client.post("/login", data={"username": user["username"],
                                         "password": user["password"]})
    assert forged.status_code == 400 and forged.get_json()["error"]["code"] == "csrf_failed"
    token = _csrf(client.get("/login").get_data(as_text=True))
    wrong = client.post("/login", data={"username": user["username"], "password": "x" * 9,
                                        "csrf_token": token})
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.get_data(as_text=True)
    ok = client.post("/login", data={"username": user["username"],
                                     "password": user["password"], "csrf_token": token})
    assert ok.status_code == 302
    assert client.get("/api/cells/status?rollup=township").status_code == 200
    # A cookie-authenticated write without the CSRF header is refused...
    blocked = client.post("/api/households", json={})
    assert blocked.status_code == 400 and blocked.get_json()["error"]["code"] == "csrf_failed"
    # ...and with a token of the new session, the request reaches validation.
    fresh = _csrf(client.get("/login").get_data(as_text=True))
    allowed = client.post("/api/households", json={}, headers={"X-CSRFToken": fresh})
    assert allowed.status_code == 400 and allowed.get_json()["error"]["code"] == "invalid_input"


def test_route_downloads(as_role, engine, logins):
    with engine.connect() as conn:
        worker = conn.execute(sa.text(
            "SELECT worker_id FROM app_user WHERE username = 'demo_grid_head'")).scalar_one()
    url = f"?worker={worker}&date=2026-11-24&within_days=30"
    js = as_role("grid_head", "GET", "/api/routes" + url).get_json()
    assert js["stops"], js
    csv_text = as_role("grid_head", "GET", "/api/routes.csv" + url).get_data(as_text=True)
    lines = csv_text.lstrip("\ufeff").strip().splitlines()
    assert lines[0].startswith("序号") and len(lines) == len(js["stops"]) + 1
    gpx = as_role("grid_head", "GET", "/api/routes.gpx" + url)
    assert gpx.mimetype == "application/gpx+xml"
    root = ET.fromstring(gpx.data)
    ns = {"g": "http://www.topografix.com/GPX/1/1"}
    assert len(root.findall("g:wpt", ns)) == len(js["stops"])
    assert len(root.findall("g:rte/g:rtept", ns)) == len(js["stops"]) + 2
    # A grid head asking for someone else's route: not found.
    other = as_role("grid_head", "GET", f"/api/routes?worker={worker + 1}&date=2026-11-24")
    assert other.status_code == 404
    # A supervisor asking for a worker in another township: not found either.
    with engine.connect() as conn:
        elsewhere = conn.execute(sa.text(
            "SELECT w.id FROM worker w JOIN unit u ON u.id = w.unit_id "
            "WHERE u.township_id <> (SELECT id FROM unit WHERE code = :t) "
            "AND w.role = 'grid_worker' LIMIT 1"), {"t": logins["supervisor"]["unit"]}).scalar()
    far = as_role("supervisor", "GET", f"/api/routes?worker={elsewhere}&date=2026-11-24")
    assert far.status_code == 404 and far.get_json()["error"]["field"] == "worker"
    assert as_role("admin", "GET", f"/api/routes?worker={elsewhere}&date=2026-11-24"
                   ).status_code == 200


def test_users_create_on_the_command_line(database, demo, monkeypatch, engine):
    monkeypatch.setenv("DATABASE_URL", database)
    runner = CliRunner()
    ok = runner.invoke(main, ["users", "create", "wang_cli", "--role", "planner", "--unit",
                              "510411", "--password", "long enough pw"])
    assert ok.exit_code == 0, ok.output
    again = runner.invoke(main, ["users", "create", "wang_cli", "--role", "planner", "--unit",
                                 "510411", "--password", "long enough pw"])
    assert again.exit_code == 1 and "already exists" in again.output
    short = runner.invoke(main, ["users", "create", "li_cli", "--role", "planner", "--unit",
                                 "510411", "--password", "short"])
    assert short.exit_code == 1 and "at least 8 characters" in short.output
    with engine.connect() as conn:
        stored = conn.execute(sa.text(
            "SELECT password_hash FROM app_user WHERE username = 'wang_cli'")).scalar_one()
    assert stored.startswith("$argon2id$") and "long enough pw" not in stored

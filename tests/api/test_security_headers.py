"""Security headers (issue 10.2): a Content-Security-Policy on every response whose
scripts need the request's nonce, the other headers, and a session cookie that is
Secure over HTTPS."""

import re

import pytest
import sqlalchemy as sa

from api.app import create_app


def _script_src(resp) -> str:
    csp = resp.headers["Content-Security-Policy"]
    return re.search(r"script-src ([^;]*)", csp).group(1)


def _nonce(resp) -> str:
    return re.search(r"'nonce-([^']+)'", _script_src(resp)).group(1)


@pytest.mark.parametrize("url", ["/", "/login", "/api/health", "/api/children",
                                 "/api/openapi.json", "/no-such-page"])
def test_headers_on_every_response(client, url):
    resp = client.get(url)
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "object-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp and "base-uri 'none'" in csp
    assert "'unsafe-inline'" not in _script_src(resp)
    assert "'unsafe-eval'" not in _script_src(resp)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in resp.headers  # plain HTTP


def _inline_scripts_carry_the_nonce(resp):
    page = resp.get_data(as_text=True)
    nonce = _nonce(resp)
    tags = re.findall(r"<script\b[^>]*>", page)
    inline = [t for t in tags if "src=" not in t]
    assert inline, "no inline script on the page"
    assert all(f'nonce="{nonce}"' in t for t in inline), inline
    assert not re.search(r"\son[a-z]+=", page), "an inline event handler"
    return nonce


@pytest.mark.parametrize("role,url", [
    ("supervisor", "/map"), ("admin", "/map/planner?type=school"),
    ("responder", "/map/nearest"), ("supervisor", "/record/facility/1"),
    ("admin", "/api/reports/monthly?format=html&month=2026-10"),
])
def test_pages_scripts_have_the_nonce(as_role, role, url):
    first, second = as_role(role, "GET", url), as_role(role, "GET", url)
    assert first.status_code == 200, first.get_data(as_text=True)[:300]
    assert _inline_scripts_carry_the_nonce(first) != _inline_scripts_carry_the_nonce(second)


def test_route_and_record_pages_have_the_nonce(as_role, engine):
    with engine.connect() as conn:
        worker = conn.execute(sa.text(
            "SELECT worker_id FROM app_user WHERE username = 'demo_grid_head'")).scalar_one()
        child, household = conn.execute(sa.text(
            "SELECT ch.id, ch.household_id FROM child ch JOIN household h "
            "ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id "
            "WHERE c.village_id = (SELECT unit_id FROM worker WHERE id = :w) "
            "ORDER BY ch.id LIMIT 1"), {"w": worker}).one()
    for url in (f"/map/route/{worker}?date=2026-11-24&within_days=30",
                f"/record/child/{child}", f"/record/household/{household}"):
        resp = as_role("grid_head", "GET", url)
        assert resp.status_code == 200, url
        _inline_scripts_carry_the_nonce(resp)


def _login(client, user, base_url):
    page = client.get("/login", base_url=base_url).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    # (Flask-WTF checks the Referer of HTTPS form posts.)
    return client.post("/login", base_url=base_url, headers={"Referer": f"{base_url}/login"},
                       data={
        "username": user["username"], "password": user["password"], "csrf_token": token})


def _session_cookie(resp) -> str:
    return next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session="))


def test_session_cookie_secure_over_https(app, logins):
    plain = _login(app.test_client(), logins["supervisor"], "http://localhost")
    assert plain.status_code == 302
    assert "Secure" not in _session_cookie(plain)
    assert "HttpOnly" in _session_cookie(plain) and "SameSite=Lax" in _session_cookie(plain)
    tls = _login(app.test_client(), logins["supervisor"], "https://localhost")
    assert tls.status_code == 302
    assert "Secure" in _session_cookie(tls)
    assert tls.headers["Strict-Transport-Security"].startswith("max-age=")


def test_session_cookie_secure_by_config(app, logins):
    cfg = app.config["GRIDMAP"]
    secure = create_app({"database_url": app.config["DATABASE_URL"],
                         "var_dir": cfg["var_dir"], "id_key": cfg["id_key"],
                         "secret_key": cfg["secret_key"], "session_cookie_secure": True})
    resp = _login(secure.test_client(), logins["supervisor"], "http://localhost")
    assert resp.status_code == 302 and "Secure" in _session_cookie(resp)


def test_tile_host_allowed_for_the_base_map(app):
    from api.security import policy

    assert "https://tile.openstreetmap.org" in policy({"basemap": "osm"})["img-src"]
    assert "tianditu" not in policy({"basemap": "tianditu"})["img-src"]  # no key: no layer
    assert "tianditu" in policy({"basemap": "tianditu", "tianditu_key": "k"})["img-src"]
    assert policy({"basemap": "none"})["img-src"] == "'self' data: blob:"

"""Sessions and login (issue 10, item 4, and the failed-login part of item 8): only
same-site ``next`` after login, logout ends cookie sessions and bearer tokens on the
server, failed logins are throttled per user name and per address and audited.

Each test logs in from addresses of its own (``REMOTE_ADDR``) and with users of its own,
so the counters, which are committed, do not reach into other tests."""

import itertools
import json
import re
import uuid

import pytest
import sqlalchemy as sa

from geo.office import logins
from geo.office.users import create_user

_addresses = itertools.count(1)


def _address() -> str:
    """An address no other test uses."""
    n = next(_addresses)
    return f"198.51.{n // 250}.{n % 250 + 1}"


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture
def fresh_user(engine, logins):
    """A committed login of its own (role supervisor, the demo supervisor's township)."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    password = "a right passphrase"
    with engine.begin() as conn:
        user = create_user(conn, name, "supervisor", logins["supervisor"]["unit"], password)
    return {"username": name, "password": password, "id": user.id}


def _client(app, address=None):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address or _address()
    return client


def _form_login(client, username, password, next_url=None):
    token = _csrf(client.get("/login").get_data(as_text=True))
    url = "/login" if next_url is None else "/login?" + _query(next_url)
    return client.post(url, data={"username": username, "password": password,
                                  "csrf_token": token})


def _query(next_url):
    from urllib.parse import urlencode

    return urlencode({"next": next_url})


def _token(client, username, password):
    return client.post("/api/auth/token", json={"username": username, "password": password})


# --- next after login --------------------------------------------------------------

@pytest.mark.parametrize("target", [
    "https://evil.example/phish",
    "http://evil.example",
    "//evil.example/x",
    "///evil.example/x",
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "https:evil.example",
    "evil.example",
    "data:text/html,<script>alert(1)</script>",
])
def test_next_never_leads_off_site(app, fresh_user, target):
    client = _client(app)
    resp = _form_login(client, fresh_user["username"], fresh_user["password"], target)
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/", resp.headers["Location"]


def test_next_keeps_a_path_on_this_site(app, fresh_user):
    client = _client(app)
    resp = _form_login(client, fresh_user["username"], fresh_user["password"],
                       "/map?layer=cells&z=12")
    assert resp.status_code == 302 and resp.headers["Location"] == "/map?layer=cells&z=12"


# --- logout ends the session on the server --------------------------------------------

def test_cookie_replayed_after_logout_is_refused(app, fresh_user):
    client = _client(app)
    assert _form_login(client, fresh_user["username"],
                       fresh_user["password"]).status_code == 302
    assert client.get("/api/cells/status?rollup=township").status_code == 200
    stolen = client.get_cookie("session").value
    token = _csrf(client.get("/login").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/api/cells/status?rollup=township").status_code == 401
    replay = _client(app)
    replay.set_cookie("session", stolen)
    assert replay.get("/api/cells/status?rollup=township").status_code == 401
    assert replay.get("/map").status_code == 302  # pages send it to /login again


def test_each_session_ends_on_its_own(app, fresh_user):
    """Logging out on one device leaves the user's other sessions alone."""
    phone, desk = _client(app), _client(app)
    for c in (phone, desk):
        assert _form_login(c, fresh_user["username"], fresh_user["password"]).status_code == 302
    token = _csrf(phone.get("/login").get_data(as_text=True))
    phone.post("/logout", data={"csrf_token": token})
    assert phone.get("/api/cells/status?rollup=township").status_code == 401
    assert desk.get("/api/cells/status?rollup=township").status_code == 200


def test_old_style_cookie_with_a_user_id_is_not_a_login(app, fresh_user):
    """A signed cookie holding only a user id (as sessions were before) logs nobody in."""
    client = _client(app)
    with client.session_transaction() as sess:
        sess["user_id"] = fresh_user["id"]
    assert client.get("/api/cells/status?rollup=township").status_code == 401


def test_api_logout_revokes_the_token(app, fresh_user, engine):
    client = _client(app)
    token = _token(client, fresh_user["username"], fresh_user["password"]).get_json()["token"]
    other = _token(client, fresh_user["username"], fresh_user["password"]).get_json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/cells/status?rollup=township", headers=auth).status_code == 200
    out = client.post("/api/auth/logout", headers=auth)
    assert out.status_code == 204
    assert client.get("/api/cells/status?rollup=township", headers=auth).status_code == 401
    assert client.post("/api/auth/logout", headers=auth).status_code == 401
    # Another token of the same user still works.
    assert client.get("/api/cells/status?rollup=township",
                      headers={"Authorization": f"Bearer {other}"}).status_code == 200
    assert client.post("/api/auth/logout").status_code == 401
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT action, resource FROM audit_log WHERE user_id = :u ORDER BY id"),
            {"u": fresh_user["id"]}).all()
    assert ("logout", "token") in [tuple(r) for r in rows]


def test_api_logout_ends_a_cookie_session_with_csrf(app, fresh_user):
    client = _client(app)
    _form_login(client, fresh_user["username"], fresh_user["password"])
    refused = client.post("/api/auth/logout")
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "csrf_failed"
    token = _csrf(client.get("/login").get_data(as_text=True))
    assert client.post("/api/auth/logout", headers={"X-CSRFToken": token}).status_code == 204
    assert client.get("/api/cells/status?rollup=township").status_code == 401


def test_a_session_id_is_not_a_bearer_token(app, fresh_user):
    client = _client(app)
    _form_login(client, fresh_user["username"], fresh_user["password"])
    with client.session_transaction() as sess:
        sid = sess["sid"]
    other = _client(app)
    assert other.get("/api/cells/status?rollup=township",
                     headers={"Authorization": f"Bearer {sid}"}).status_code == 401


# --- throttling -------------------------------------------------------------------

def _failed_logins(engine, since_id):
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(
            "SELECT user_id, username, role, action, resource, ip, detail FROM audit_log "
            "WHERE id > :i AND action = 'login_failed' ORDER BY id"), {"i": since_id}
        ).mappings()]


def _last_audit_id(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar()


def test_account_locks_after_five_failures(app, fresh_user, engine):
    limit = app.config["GRIDMAP"]["login"]["account"]["failures"]
    assert limit == 5
    mark = _last_audit_id(engine)
    # Failures from different addresses all count against the account.
    for i in range(limit):
        wrong = _token(_client(app), fresh_user["username"], f"wrong password {i}")
        assert wrong.status_code == 401, (i, wrong.get_json())
    locked = _token(_client(app), fresh_user["username"], fresh_user["password"])
    assert locked.status_code == 429
    assert locked.get_json()["error"]["code"] == "too_many_attempts"
    wait = int(locked.headers["Retry-After"])
    assert 1 <= wait <= 60
    # The page refuses the right password too, in Chinese, with Retry-After.
    page = _form_login(_client(app), fresh_user["username"], fresh_user["password"])
    assert page.status_code == 429 and "登录失败次数过多" in page.get_data(as_text=True)
    assert 1 <= int(page.headers["Retry-After"]) <= 60
    # Five audit rows, with the account's id and the address, never the password.
    rows = _failed_logins(engine, mark)
    assert len(rows) == limit
    assert all(r["user_id"] == fresh_user["id"] and r["resource"] == "token" for r in rows)
    assert all(r["ip"] and r["ip"].startswith("198.51.") for r in rows)
    assert "wrong password" not in json.dumps(rows, default=str)
    assert rows[-1]["detail"]["locked"] == ["account"] and rows[-1]["detail"]["locked_s"] > 0


def test_lock_backs_off_and_the_right_password_clears_it(app, fresh_user, engine):
    cfg = app.config["GRIDMAP"]
    key = logins.throttle_key(cfg["secret_key"], "account", fresh_user["username"])
    for i in range(5):
        _token(_client(app), fresh_user["username"], f"wrong {i}")

    def lock_ends():
        with engine.begin() as conn:
            conn.execute(sa.text(
                "UPDATE login_throttle SET locked_until = now() - interval '1 second', "
                "last_at = now() - interval '61 seconds' WHERE key = :k"), {"k": key})

    lock_ends()
    # One more wrong password after the lock: locked again, twice as long.
    assert _token(_client(app), fresh_user["username"], "wrong again").status_code == 401
    again = _token(_client(app), fresh_user["username"], fresh_user["password"])
    assert again.status_code == 429 and 60 < int(again.headers["Retry-After"]) <= 120
    lock_ends()
    assert _token(_client(app), fresh_user["username"],
                  fresh_user["password"]).status_code == 200
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM login_throttle WHERE key = :k"),
                            {"k": key}).scalar() == 0


def test_unknown_name_is_counted_and_audited_like_a_known_one(app, engine):
    name = f"nobody_{uuid.uuid4().hex[:8]}"
    mark = _last_audit_id(engine)
    answers = [_token(_client(app), name, f"guess {i}").status_code for i in range(6)]
    assert answers == [401] * 5 + [429]
    rows = _failed_logins(engine, mark)
    assert len(rows) == 5
    assert all(r["user_id"] is None and r["username"] is None for r in rows)
    assert all(r["detail"]["account"] == "unknown" for r in rows)
    assert name not in json.dumps(rows, default=str)


def test_address_locks_after_twenty_failures(app, fresh_user, engine):
    limit = app.config["GRIDMAP"]["login"]["address"]["failures"]
    assert limit == 20
    address = _address()
    client = _client(app, address)
    mark = _last_audit_id(engine)
    for i in range(limit):
        # A different name each time: no account reaches its own limit.
        wrong = _token(client, f"spray_{uuid.uuid4().hex[:8]}", "password1")
        assert wrong.status_code == 401, i
    # A forged X-Forwarded-For does not make it another address.
    locked = client.post("/api/auth/token", headers={"X-Forwarded-For": "203.0.113.9"},
                         json={"username": fresh_user["username"],
                               "password": fresh_user["password"]})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 60
    page = _form_login(client, fresh_user["username"], fresh_user["password"])
    assert page.status_code == 429 and "登录失败次数过多" in page.get_data(as_text=True)
    # The same account from another address logs in.
    assert _token(_client(app), fresh_user["username"],
                  fresh_user["password"]).status_code == 200
    rows = _failed_logins(engine, mark)
    assert len(rows) == limit and {r["ip"] for r in rows} == {address}
    assert rows[-1]["detail"]["locked"] == ["address"]


def test_ipv6_addresses_count_by_their_64(app, fresh_user):
    prefix = f"2001:db8:{next(_addresses):x}:1"
    for i in range(20):
        _token(_client(app, f"{prefix}::{i + 1:x}"), f"v6_{uuid.uuid4().hex[:8]}", "pw123456")
    assert _token(_client(app, f"{prefix}::ffff"), fresh_user["username"],
                  fresh_user["password"]).status_code == 429


def test_right_passwords_do_not_lock_an_address(app, fresh_user):
    """Many people behind one office address logging in correctly lock nobody out."""
    client = _client(app)
    for _ in range(22):
        assert _token(client, fresh_user["username"],
                      fresh_user["password"]).status_code == 200


def test_inactive_account_is_refused_and_audited(app, fresh_user, engine):
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE app_user SET active = false WHERE id = :i"),
                     {"i": fresh_user["id"]})
    mark = _last_audit_id(engine)
    refused = _token(_client(app), fresh_user["username"], fresh_user["password"])
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "invalid_credentials"
    [row] = _failed_logins(engine, mark)
    assert row["user_id"] == fresh_user["id"]
    assert row["detail"] == {"reason": "inactive_account"}


def test_the_cookie_serializer_is_built_once_per_set_of_keys(database):
    """Built once per app (not per request), and anew when the key changes: a cookie
    signed with the old key is then refused."""
    from itsdangerous import BadSignature

    from api.app import create_app

    app = create_app({"database_url": database, "secret_key": "first-key-" + "x" * 32})
    iface = app.session_interface
    first = iface.get_signing_serializer(app)
    assert iface.get_signing_serializer(app) is first
    cookie = first.dumps({"sid": "abc"})
    app.secret_key = "second-key-" + "y" * 32
    second = iface.get_signing_serializer(app)
    assert second is not first
    with pytest.raises(BadSignature):
        second.loads(cookie)
    app.config["SECRET_KEY_FALLBACKS"] = ["first-key-" + "x" * 32]
    assert iface.get_signing_serializer(app).loads(cookie) == {"sid": "abc"}

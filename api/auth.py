"""Logging in: ``POST /api/auth/token`` for API clients (bearer tokens that expire) and
``/login`` for pages (a session cookie, CSRF-protected form). ``login_required`` guards
endpoints by role; scoping by area is done by each endpoint with geo.access.

Both kinds of login end server-side: ``POST /api/auth/logout`` revokes the bearer token
sent, ``POST /logout`` deletes the page session (the cookie only carries its id). Failed
logins are throttled and audited by geo.office.logins.
"""

from __future__ import annotations

import functools
import math
from urllib.parse import urlsplit

from apiflask import APIBlueprint, Schema, abort, fields
from apiflask.validators import Length
from flask import current_app, g, redirect, render_template, request, session, url_for
from werkzeug.middleware.proxy_fix import ProxyFix

from api.db import conn, csrf, engine_for
from geo import audit
from geo.office import logins
from geo.office.users import issue_token, revoke_token, user_for_token

bp = APIBlueprint("auth", __name__, tag="auth")


class TokenIn(Schema):
    username = fields.String(required=True, validate=Length(1, 64))
    password = fields.String(required=True, validate=Length(1, 256))


class TokenOut(Schema):
    token = fields.String(required=True)
    expires_at = fields.String(required=True, metadata={"format": "date-time"})


def _session_token() -> str | None:
    sid = session.get("sid")
    return sid if isinstance(sid, str) and sid else None


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.startswith("Bearer ") else None


def current_user():
    if "user" not in g:
        user = None
        bearer = _bearer()
        if bearer is not None:
            user = user_for_token(conn(), bearer) if bearer else None
        elif _session_token():
            # The cookie carries a session id; logout deletes its row, so a replayed
            # cookie finds nothing.
            user = user_for_token(conn(), _session_token(), kind="session")
        g.user = user
    return g.user


def login_required(*roles: str):
    """401 without a valid login; 403 when the role may not use the endpoint at all."""
    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            user = current_user()
            if user is None:
                abort(401, "log in first: POST /api/auth/token, then send "
                           "'Authorization: Bearer <token>'")
            if roles and user.role not in roles:
                abort(403, f"the {user.role} role may not use this endpoint")
            return view(*args, **kwargs)
        return inner
    return wrap


def page_login_required(*roles: str):
    """For pages: a browser without a login is sent to ``/login`` and comes back after
    it; a role that may not use the page gets 403 (the error handler answers a browser
    with a page). The view finds the user in ``current_user()``."""
    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            user = current_user()
            if user is None:
                # A session cookie whose session has ended: say so on the login page.
                expired = {"expired": 1} if _session_token() else {}
                return redirect(url_for("auth.login", next=request.full_path, **expired))
            if roles and user.role not in roles:
                abort(403, f"the {user.role} role may not use this page")
            return view(*args, **kwargs)
        return inner
    return wrap


def init_app(app) -> None:
    """Trust X-Forwarded-For only from the configured number of proxies."""
    hops = int(app.config["GRIDMAP"].get("trusted_proxies") or 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)


def client_ip() -> str | None:
    """The client's address: the TCP peer, or what trusted proxies say (see init_app);
    a client's own X-Forwarded-For is not believed."""
    return request.remote_addr


def _attempt(username: str, password: str, channel: str) -> logins.Attempt:
    return logins.attempt(engine_for(current_app), current_app.config["GRIDMAP"], username,
                          password, client_ip(), channel)


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site ("/map?x=1"), else None: no scheme, no
    host, no "//" or backslash that a browser would read as another host, no control
    characters (browsers drop tabs and newlines: "/<tab>/evil" becomes "//evil")."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _wait_text(seconds: int) -> str:
    return f"登录失败次数过多，请在 {max(1, math.ceil(seconds / 60))} 分钟后再试"


@bp.post("/api/auth/token")
@bp.input(TokenIn, arg_name="body")
@bp.output(TokenOut)
@bp.doc(summary="Exchange a username and password for a bearer token",
        description="Too many failed logins for a user name or from an address lock "
                    "further attempts for a while: 429 with a Retry-After header.",
        responses={401: "wrong username or password", 429: {
            "description": "too many failed logins: wait Retry-After seconds",
            "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}}})
def token(body):
    result = _attempt(body["username"], body["password"], "token")
    if result.retry_after is not None:
        abort(429, _wait_text(result.retry_after),
              headers={"Retry-After": str(result.retry_after)},
              extra_data={"code": "too_many_attempts"})
    if result.user is None:
        abort(401, "wrong username or password", extra_data={"code": "invalid_credentials"})
    issued = issue_token(conn(), result.user)
    audit.record(conn(), result.user, "login", "token", ip=client_ip())
    return issued


@bp.post("/api/auth/logout")
@login_required()
@bp.output({}, status_code=204)
@bp.doc(summary="Log out: revoke the bearer token sent (or end the cookie session)",
        security="BearerAuth")
def api_logout():
    user = current_user()
    bearer = _bearer()
    if bearer:
        revoke_token(conn(), bearer)
        audit.record(conn(), user, "logout", "token", ip=client_ip())
    else:
        _end_session()
    return ""


def _end_session() -> None:
    sid = _session_token()
    if sid:
        revoke_token(conn(), sid, kind="session")
        user = current_user()
        if user is not None:
            audit.record(conn(), user, "logout", "session", ip=client_ip())
    session.clear()


@bp.route("/login", methods=["GET", "POST"])
@bp.doc(hide=True)
def login():
    error, status, headers = None, 200, {}
    if request.args.get("expired"):
        error = "登录已过期，请重新登录"
    if request.method == "POST":
        csrf.protect()
        result = _attempt(request.form.get("username", ""), request.form.get("password", ""),
                          "session")
        if result.user is not None:
            session.clear()
            hours = current_app.config["GRIDMAP"]["login"]["session_hours"]
            session["sid"] = issue_token(conn(), result.user, hours=hours,
                                         kind="session")["token"]
            audit.record(conn(), result.user, "login", "session", ip=client_ip())
            return redirect(safe_next(request.args.get("next")) or url_for("health.index"))
        if result.retry_after is not None:
            error, status = _wait_text(result.retry_after), 429
            headers["Retry-After"] = str(result.retry_after)
        else:
            error, status = "用户名或密码错误", 401
    return render_template("login.html", error=error), status, headers


@bp.post("/logout")
@bp.doc(hide=True)
def logout():
    csrf.protect()
    _end_session()
    return redirect(url_for("auth.login"))


def csrf_for_cookie_sessions() -> None:
    """Unsafe requests authenticated by the session cookie must carry the CSRF token
    (form field or X-CSRFToken header); bearer-token requests need none."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.headers.get("Authorization", "").startswith("Bearer "):
        return
    if request.endpoint in ("auth.token", "auth.login"):
        return
    if _session_token():
        csrf.protect()

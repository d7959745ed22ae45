"""Logging in: ``POST /api/auth/token`` for API clients (bearer tokens that expire) and
``/login`` for pages (a session cookie, CSRF-protected form). ``login_required`` guards
endpoints by role; scoping by area is done by each endpoint with geo.access.
"""

from __future__ import annotations

import functools

from apiflask import APIBlueprint, Schema, abort, fields
from apiflask.validators import Length
from flask import g, redirect, render_template, request, session, url_for

from api.db import conn
from geo import audit
from geo.users import authenticate, get_user, issue_token, user_for_token

bp = APIBlueprint("auth", __name__, tag="auth")


class TokenIn(Schema):
    username = fields.String(required=True, validate=Length(1, 64))
    password = fields.String(required=True, validate=Length(1, 256))


class TokenOut(Schema):
    token = fields.String(required=True)
    expires_at = fields.String(required=True, metadata={"format": "date-time"})


def current_user():
    if "user" not in g:
        user = None
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            user = user_for_token(conn(), header[7:].strip())
        elif session.get("user_id"):
            user = get_user(conn(), session["user_id"])
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


def client_ip() -> str | None:
    return request.headers.get("X-Forwarded-For", request.remote_addr)


@bp.post("/api/auth/token")
@bp.input(TokenIn, arg_name="body")
@bp.output(TokenOut)
@bp.doc(summary="Exchange a username and password for a bearer token",
        responses={401: "wrong username or password"})
def token(body):
    user = authenticate(conn(), body["username"], body["password"])
    if user is None:
        abort(401, "wrong username or password", extra_data={"code": "invalid_credentials"})
    issued = issue_token(conn(), user)
    audit.record(conn(), user, "login", "token", ip=client_ip())
    return issued


@bp.route("/login", methods=["GET", "POST"])
@bp.doc(hide=True)
def login():
    error = None
    if request.method == "POST":
        from api.app import csrf

        csrf.protect()
        user = authenticate(conn(), request.form.get("username", ""),
                            request.form.get("password", ""))
        if user:
            session.clear()
            session["user_id"] = user.id
            audit.record(conn(), user, "login", "session", ip=client_ip())
            return redirect(request.args.get("next") or url_for("health.index"))
        error = "用户名或密码错误"
    return render_template("login.html", error=error), 401 if error else 200


@bp.post("/logout")
@bp.doc(hide=True)
def logout():
    from api.app import csrf

    csrf.protect()
    session.clear()
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
    if session.get("user_id"):
        from api.app import csrf

        csrf.protect()

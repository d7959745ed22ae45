"""Accounts, bearer tokens and page sessions. Passwords are hashed with Argon2id
(argon2-cffi); tokens and session ids are random, handed out once and stored only as
their SHA-256 (``api_token.kind``), so revoking one deletes its row. Throttling and the
audit of failed logins are in geo.office.logins.

>>> create_user(conn, "zhang", "supervisor", "510411100", "a long passphrase")  # doctest: +SKIP
>>> issue_token(conn, authenticate(conn, "zhang", "a long passphrase"))       # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection

from geo.errors import Conflict, InvalidInput, NotFound
from geo.store.models import USER_ROLES
from geo.vocab import DEPARTMENTS

HASHER = PasswordHasher()
MIN_PASSWORD = 8
TOKEN_HOURS = 12


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    unit_id: int
    unit_code: str
    unit_level: str
    worker_id: int | None = None
    # A department user's department (vocab.DEPARTMENTS), None for everyone else.
    department: str | None = None


_USER = """
SELECT a.id, a.username, a.role, a.unit_id, u.code AS unit_code, u.level AS unit_level,
       a.worker_id, a.department
  FROM app_user a JOIN unit u ON u.id = a.unit_id
"""


def create_user(conn: Connection, username: str, role: str, unit_code: str, password: str,
                worker_id: int | None = None, department: str | None = None) -> User:
    if role not in USER_ROLES:
        raise InvalidInput(f"unknown role '{role}' (one of {', '.join(USER_ROLES)})",
                           field="role")
    if (role == "department") != (department is not None):
        raise InvalidInput("a department user needs a department, and only one has one",
                           field="department")
    if department is not None and department not in DEPARTMENTS:
        raise InvalidInput(f"unknown department '{department}' "
                           f"(one of {', '.join(DEPARTMENTS)})", field="department")
    if not username or len(username) > 64:
        raise InvalidInput("username must be 1 to 64 characters", field="username")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password must have at least {MIN_PASSWORD} characters",
                           field="password")
    unit = conn.execute(sa.text("SELECT id FROM unit WHERE code = :c"), {"c": unit_code}).first()
    if unit is None:
        raise NotFound(f"no unit with code {unit_code}", field="unit")
    try:
        with conn.begin_nested():
            uid = conn.execute(sa.text(
                "INSERT INTO app_user (username, password_hash, role, unit_id, worker_id, "
                "department) VALUES (:u, :h, :r, :unit, :w, :d) RETURNING id"),
                {"u": username, "h": HASHER.hash(password), "r": role, "unit": unit.id,
                 "w": worker_id, "d": department}).scalar_one()
    except sa.exc.IntegrityError:
        raise Conflict(f"user {username} already exists", field="username",
                       code="user_exists") from None
    return get_user(conn, uid)


def get_user(conn: Connection, user_id: int) -> User | None:
    row = conn.execute(sa.text(_USER + " WHERE a.id = :id AND a.active"), {"id": user_id}).first()
    return User(*row) if row else None


def get_user_by_name(conn: Connection, username: str) -> User | None:
    row = conn.execute(sa.text(_USER + " WHERE a.username = :u AND a.active"),
                       {"u": username}).first()
    return User(*row) if row else None


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password with the hasher's parameters: unknown user names are
    verified against it, so they cost one Argon2 verification like known ones."""
    return HASHER.hash(secrets.token_urlsafe(16))


def check_password(conn: Connection, username: str, password: str) -> tuple[int | None, bool]:
    """(the account's id or None, whether the password is right for an active account).

    Exactly one Argon2 verification whether or not the name exists (the dummy hash
    stands in for a missing one), so the answer takes the same time either way."""
    row = conn.execute(sa.text(
        "SELECT id, password_hash, active FROM app_user WHERE username = :u"),
        {"u": username}).first()
    stored = row.password_hash if row else _dummy_hash()
    try:
        ok = HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        ok = False
    if row is None:
        return None, False
    return row.id, bool(ok and row.active)


def authenticate(conn: Connection, username: str, password: str) -> User | None:
    """The user when the password is right; None otherwise (same time either way)."""
    account, ok = check_password(conn, username, password)
    return get_user(conn, account) if ok else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(conn: Connection, user: User, hours: float = TOKEN_HOURS,
                kind: str = "token") -> dict:
    """A new random token (``kind`` "token": bearer; "session": a page session's id)."""
    token = secrets.token_urlsafe(32)
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)
    conn.execute(sa.text(
        "INSERT INTO api_token (token_hash, user_id, expires_at, kind) "
        "VALUES (:h, :u, :e, :k)"),
        {"h": _digest(token), "u": user.id, "e": expires, "k": kind})
    # Expired rows of this user are of no use any more.
    conn.execute(sa.text("DELETE FROM api_token WHERE user_id = :u AND expires_at <= now()"),
                 {"u": user.id})
    return {"token": token, "expires_at": expires.isoformat(timespec="seconds")}


# Built once: every API request runs it, and a text() parsed per call costs more than
# the statement's own execution in Python.
_TOKEN_USER = sa.text(
    _USER + " JOIN api_token t ON t.user_id = a.id WHERE t.token_hash = :h "
    "AND t.kind = :k AND t.expires_at > now() AND a.active")


def user_for_token(conn: Connection, token: str, kind: str = "token") -> User | None:
    """The active user behind a live token or session id, in one round trip (every API
    request asks this)."""
    row = conn.execute(_TOKEN_USER, {"h": _digest(token), "k": kind}).first()
    return User(*row) if row else None


def revoke_token(conn: Connection, token: str, kind: str = "token") -> bool:
    """End a token or session at once; True when there was one to end."""
    return conn.execute(sa.text(
        "DELETE FROM api_token WHERE token_hash = :h AND kind = :k"),
        {"h": _digest(token), "k": kind}).rowcount > 0

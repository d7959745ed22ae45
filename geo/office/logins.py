"""Logging in with throttling, and the audit of failed logins.

Failed logins are counted in PostgreSQL (table ``login_throttle``), so a lock-out holds
across processes and restarts. Two counters apply to every attempt, with their own
numbers (``login.account`` and ``login.address`` in geo.config):

- per **user name**: ``failures`` wrong passwords within ``window_s``, then every attempt
  (the right password too) is refused for ``lock_s`` seconds; each wrong password after
  a lock has ended doubles the next lock, up to ``max_lock_s``. The right password
  (outside a lock) clears the count; ``window_s`` without failures after the last lock
  forgets it.
- per **client address** (an IPv6 address counts by its /64) the same way; the right
  password does not clear it (it only takes back its own attempt).

User names that do not exist are counted exactly like names that do, so neither a
lock-out nor the time an answer takes tells whether an account exists. Each attempt is
counted *before* its password is checked (and taken back when it was right), so
parallel guesses cannot slip past the limit. The keys are HMACs of the name or address
under the app's secret key: the table holds neither.

Every wrong password is written to the audit log (action ``login_failed``) with the
client address and the account's id when the name exists (else ``"account":
"unknown"``), never the name tried or the password. Refusals during a lock-out check no
password and are not audited one by one: the failure that set the lock says so
(``locked_s``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import math
from dataclasses import dataclass
from types import SimpleNamespace

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geo import audit
from geo.office.users import User, check_password, get_user


@dataclass(frozen=True)
class Rule:
    failures: int
    window_s: float
    lock_s: float
    max_lock_s: float


@dataclass(frozen=True)
class Attempt:
    """The user when the login succeeded; ``retry_after`` (seconds) when it was refused
    because of a lock-out; neither when the name or password was wrong."""
    user: User | None = None
    retry_after: int | None = None


def rule(cfg: dict, scope: str) -> Rule:
    return Rule(**cfg["login"][scope])


def address_bucket(ip: str | None) -> str:
    """The unit an address is counted by: the IPv4 address, or the IPv6 /64."""
    try:
        addr = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return "unknown"
    if addr.version == 6:
        if addr.ipv4_mapped:
            return str(addr.ipv4_mapped)
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr)


def throttle_key(secret: str, scope: str, value: str) -> str:
    return hmac.new(secret.encode(), f"{scope}\0{value}".encode(), hashlib.sha256).hexdigest()


def reserve(conn: Connection, key: str, r: Rule) -> tuple[int | None, bool]:
    """Count one attempt under ``key``: (seconds to wait, False) when the key is locked
    (nothing counted), else (None, whether this attempt set a lock)."""
    conn.execute(sa.text(
        "INSERT INTO login_throttle (key, failures, window_start, last_at) "
        "VALUES (:k, 0, now(), now()) ON CONFLICT (key) DO NOTHING"), {"k": key})
    row = conn.execute(sa.text(
        "SELECT failures, window_start, last_at, locked_until, now() AS now "
        "FROM login_throttle WHERE key = :k FOR UPDATE"), {"k": key}).one()
    now = row.now
    if row.locked_until is not None and row.locked_until > now:
        return max(1, math.ceil((row.locked_until - now).total_seconds())), False
    failures, start = row.failures, row.window_start
    quiet = (now - max(row.last_at, row.locked_until or row.last_at)).total_seconds()
    if quiet > r.window_s or (failures < r.failures
                              and (now - start).total_seconds() > r.window_s):
        failures, start = 0, now
    failures += 1
    locked = None
    if failures >= r.failures:
        seconds = min(r.lock_s * 2 ** min(failures - r.failures, 32), r.max_lock_s)
        locked = now + dt.timedelta(seconds=seconds)
    conn.execute(sa.text(
        "UPDATE login_throttle SET failures = :f, window_start = :s, last_at = :n, "
        "locked_until = :l WHERE key = :k"),
        {"f": failures, "s": start, "n": now, "l": locked, "k": key})
    return None, locked is not None


def release(conn: Connection, key: str, set_lock: bool) -> None:
    """Take back an attempt counted by :func:`reserve` (and the lock it set)."""
    conn.execute(sa.text(
        "UPDATE login_throttle SET failures = greatest(failures - 1, 0), "
        "locked_until = CASE WHEN :undo THEN NULL ELSE locked_until END WHERE key = :k"),
        {"k": key, "undo": set_lock})


def clear(conn: Connection, key: str) -> None:
    conn.execute(sa.text("DELETE FROM login_throttle WHERE key = :k"), {"k": key})


def locked_for(conn: Connection, key: str) -> int | None:
    """Seconds the key stays locked, or None."""
    left = conn.execute(sa.text(
        "SELECT extract(epoch FROM locked_until - now()) FROM login_throttle "
        "WHERE key = :k AND locked_until > now()"), {"k": key}).scalar()
    return max(1, math.ceil(left)) if left is not None else None


def _prune(conn: Connection, keep_s: float) -> None:
    """Forget counters nobody has touched for longer than any window."""
    conn.execute(sa.text(
        "DELETE FROM login_throttle WHERE key IN (SELECT key FROM login_throttle "
        " WHERE last_at < now() - make_interval(secs => :s) "
        "   AND (locked_until IS NULL OR locked_until < now() - make_interval(secs => :s)) "
        " FOR UPDATE SKIP LOCKED)"), {"s": keep_s})


def attempt(engine: Engine, cfg: dict, username: str, password: str, ip: str | None,
            channel: str) -> Attempt:
    """One login attempt through both counters. Runs its own short transactions, so the
    counting and the audit of a failure stay written whatever the request does next;
    ``channel`` ("token" or "session") is the audit resource."""
    secret = cfg["secret_key"]
    by_name, by_address = rule(cfg, "account"), rule(cfg, "address")
    name_key = throttle_key(secret, "account", username)
    address_key = throttle_key(secret, "address", address_bucket(ip))
    with engine.begin() as conn:
        wait, address_locked = reserve(conn, address_key, by_address)
        if wait is not None:
            return Attempt(retry_after=wait)
        wait, name_locked = reserve(conn, name_key, by_name)
        if wait is not None:
            release(conn, address_key, address_locked)
            return Attempt(retry_after=wait)
    with engine.connect() as conn:
        account, ok = check_password(conn, username, password)
        user = get_user(conn, account) if ok else None
    with engine.begin() as conn:
        if user is not None:
            # Rows are locked in the order reserve() takes them (address, then name).
            release(conn, address_key, address_locked)
            clear(conn, name_key)
            return Attempt(user=user)
        detail: dict = {"reason": "wrong_password"}
        # The same query whether or not the name exists (no time difference).
        row = conn.execute(sa.text(
            "SELECT id, username, role, active FROM app_user WHERE id = :id"),
            {"id": account}).mappings().first()
        who = SimpleNamespace(**row) if row else None
        if who is None:
            detail["account"] = "unknown"
        elif not who.active:
            detail["reason"] = "inactive_account"
        if name_locked or address_locked:
            detail["locked_s"] = max(locked_for(conn, k) or 0
                                     for k in (name_key, address_key))
            detail["locked"] = [s for s, hit in (("account", name_locked),
                                                 ("address", address_locked)) if hit]
        audit.record(conn, who, "login_failed", channel, ip=ip, detail=detail)
        _prune(conn, max(by_name.window_s, by_address.window_s, by_name.max_lock_s,
                         by_address.max_lock_s))
    return Attempt()

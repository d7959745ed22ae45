"""The audit log: every read of a child's record, every export and every write says
who, when, what and from where. The table is append-only (a trigger refuses UPDATE,
DELETE and TRUNCATE), so nothing here can change a past entry.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

ACTIONS = ("read", "list", "create", "update", "delete", "export", "login", "place",
           "release", "login_failed", "logout", "read_denied")
# Actions on discovery reports (geo/cases/reports.py).
ACTIONS += ("accept", "escalate", "close", "merge")
# Actions on cases, assessments and referrals (geo/cases/lifecycle.py).
ACTIONS += ("assess", "support", "monitor", "reopen", "approve", "decline", "done")


def record(conn: Connection, user, action: str, resource: str, resource_id=None,
           ip: str | None = None, detail: dict | None = None) -> None:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action}")
    conn.execute(sa.text(
        "INSERT INTO audit_log (user_id, username, role, action, resource, resource_id, ip, "
        "detail) VALUES (:uid, :un, :role, :a, :r, :rid, :ip, CAST(:d AS jsonb))"),
        {"uid": getattr(user, "id", None), "un": getattr(user, "username", None),
         "role": getattr(user, "role", None), "a": action, "r": resource,
         "rid": None if resource_id is None else str(resource_id), "ip": ip,
         "d": json.dumps(detail, ensure_ascii=False, default=str) if detail else None})


def record_apart(engine: Engine, user, action: str, resource: str, resource_id=None,
                 ip: str | None = None, detail: dict | None = None) -> None:
    """:func:`record` in a transaction of its own, committed at once: for an attempt
    that failed, whose own transaction is rolled back (and would take its entry along)."""
    with engine.begin() as conn:
        record(conn, user, action, resource, resource_id, ip, detail)


def entries(conn: Connection, *, limit: int = 100, offset: int = 0, resource: str | None = None,
            resource_id: str | None = None, username: str | None = None) -> list[dict]:
    rows = conn.execute(sa.text(
        """
        SELECT id, at, user_id, username, role, action, resource, resource_id, ip, detail
          FROM audit_log
         WHERE (CAST(:r AS text) IS NULL OR resource = :r)
           AND (CAST(:rid AS text) IS NULL OR resource_id = :rid)
           AND (CAST(:u AS text) IS NULL OR username = :u)
         ORDER BY id DESC LIMIT :limit OFFSET :offset
        """), {"r": resource, "rid": resource_id, "u": username, "limit": limit,
               "offset": offset}).mappings()
    return [dict(r) for r in rows]

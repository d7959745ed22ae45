"""Visits from phones that lose their signal: sent once or twice, taken back in time.

* **Return visits.** Only a grid head's visit counts as the monthly return visit (and
  a supervisor's, when the county lists the role in ``return_visit_roles``); a visit
  with kind ``return`` from any other role is refused.
* **Idempotent.** A visit may carry the phone's own UUID (``client_id``). Posting it
  again answers the stored visit instead of storing a second one; requests with the
  same id wait for each other (a transaction-level advisory lock), so two copies
  arriving together still give one visit.
* **Undo.** The login that recorded a visit may delete it within
  ``visit_undo_minutes`` of its arrival at the server.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo import vocab
from geo.errors import Conflict, Forbidden, NotFound


def check_return_visit(role: str, kind: str, rules: dict) -> None:
    """:class:`Forbidden` when ``role`` may not record a return visit."""
    allowed = list(rules["return_visit_roles"])
    if kind == "return" and role not in allowed:
        who = "、".join(vocab.ROLE_LABELS.get(r, r) for r in allowed)
        raise Forbidden(f"只有{who}的走访才计为每月回访（return_visit_roles），"
                        f"请以定期随访（regular）记录", field="kind")


def claim_client_id(conn: Connection, client_id: uuid.UUID | None,
                    user_id: int) -> int | None:
    """Lock ``client_id`` for this transaction; the id of the visit already stored
    under it (by this login), or None. Another login's id is a :class:`Conflict`."""
    if client_id is None:
        return None
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 20261125))"),
                 {"k": str(client_id)})
    row = conn.execute(sa.text("SELECT id, created_by FROM visit WHERE client_id = :c"),
                       {"c": client_id}).first()
    if row is None:
        return None
    if row.created_by != user_id:
        raise Conflict("这个 client_id 已被另一位用户的走访记录使用", field="client_id")
    return row.id


def stamp_visit(conn: Connection, visit_id: int, client_id: uuid.UUID | None,
                user_id: int) -> None:
    """Record the phone's id and the login on a just-stored visit."""
    conn.execute(sa.text("UPDATE visit SET client_id = :c, created_by = :u WHERE id = :id"),
                 {"c": client_id, "u": user_id, "id": visit_id})


def stored_visit(conn: Connection, visit_id: int) -> dict:
    """A stored visit in the shape POST /api/visits answers."""
    row = conn.execute(sa.text(
        "SELECT id, child_id, worker_id, visited_at, kind, outcome, note, checks, flagged, "
        "flag_reason, client_id FROM visit WHERE id = :id"), {"id": visit_id}).mappings().one()
    flags = row["flag_reason"].split(",") if row["flag_reason"] else []
    return {"id": row["id"], "child_id": row["child_id"], "worker_id": row["worker_id"],
            "visited_at": row["visited_at"].isoformat(), "kind": row["kind"],
            "outcome": row["outcome"], "note": row["note"], "checks": row["checks"],
            "flagged": row["flagged"],
            "flags": flags, "client_id": str(row["client_id"]) if row["client_id"] else None}


def undo_visit(conn: Connection, rules: dict, visit_id: int, user_id: int) -> dict:
    """Delete the visit if ``user_id`` recorded it less than ``visit_undo_minutes`` ago;
    returns what was deleted."""
    minutes = int(rules.get("visit_undo_minutes", 10))
    row = conn.execute(sa.text(
        "SELECT id, child_id, visited_at, kind, created_by, "
        "now() - created_at > make_interval(mins => :m) AS expired "
        "FROM visit WHERE id = :id FOR UPDATE"), {"id": visit_id, "m": minutes}).first()
    if row is None or row.created_by != user_id:
        # Only one's own visits can be taken back; others' are not even confirmed.
        raise NotFound(f"no visit {visit_id} recorded by you (只能撤销本人记录的走访)",
                       field="visit_id")
    if row.expired:
        raise Conflict(f"走访记录已超过 {minutes} 分钟的撤销时限，不能撤销；"
                       "如有错误请联系督导员更正", field="visit_id")
    conn.execute(sa.text("DELETE FROM visit WHERE id = :id"), {"id": visit_id})
    return {"id": row.id, "child_id": row.child_id, "visited_at": row.visited_at.isoformat(),
            "kind": row.kind}

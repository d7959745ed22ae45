"""Referrals (转介): a child's need sent to the department that owns it (education,
public security, …), with a service, a due date and a note; the department accepts or
declines it (with a reason) and reports it done (with what was done). Status
``sent`` → ``accepted`` / ``declined`` → ``done``; every change writes a row of the
append-only ``referral_event`` (the API also writes the audit log).

Who sees what: civil-affairs users (access.READS_REFERRALS) see the referrals of children
in their area; a department user sees only those sent to its own department (any other
id is answered as not existing), and of the child only
``access.DEPARTMENT_CHILD_FIELDS`` (name, sex, age, village) — no categories, identity,
address or point. A referral open (sent or accepted) past its due date is overdue.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo import access, vocab
from geo.access import cell_in_scope_sql
from geo.errors import Conflict, InvalidInput, NotFound
from geo.scope import county_codes

# action → (statuses it starts from, status it leads to, field that must be given)
ACTIONS = {
    "accept": (("sent",), "accepted", None),
    "decline": (("sent", "accepted"), "declined", "reason"),
    "done": (("accepted",), "done", "outcome"),
}
OPEN = vocab.REFERRAL_OPEN_STATUSES

_REFERRAL = """
SELECT r.id, r.child_id, r.department, r.service, r.due_on, r.note, r.status,
       r.decline_reason, r.outcome, r.sent_at, r.updated_at, su.username AS sent_by,
       ch.name AS child_name, ch.sex AS child_sex,
       date_part('year', age(CAST(:day AS date), ch.birth_date))::int AS child_age,
       v.name AS village_name, c.code AS cell_code,
       r.status IN ('sent', 'accepted') AND r.due_on < CAST(:day AS date) AS overdue,
       r.county_code
  FROM referral r JOIN child ch ON ch.id = r.child_id
  JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id
  JOIN unit v ON v.id = c.village_id LEFT JOIN app_user su ON su.id = r.sent_by
"""
# The user's view: their area, and for a department user only its department.
_VISIBLE = f"{cell_in_scope_sql()} AND (CAST(:dept AS text) IS NULL OR r.department = :dept)"
# Referrals, children and households are partitioned by county (migrations 0018, 0019):
# naming the scope's counties (:counties) lets the planner read only theirs.
_VISIBLE += (" AND r.county_code = ANY(CAST(:counties AS varchar[]))"
             " AND ch.county_code = ANY(CAST(:counties AS varchar[]))"
             " AND h.county_code = ANY(CAST(:counties AS varchar[]))")
_DEPARTMENT_FIELDS = ("id", "department", "service", "due_on", "note", "status",
                      "decline_reason", "outcome", "sent_at", "updated_at", "overdue",
                      *access.DEPARTMENT_CHILD_FIELDS)


def _dept(user) -> str | None:
    if user.role in access.DEPARTMENT_ROLES:
        if not getattr(user, "department", None):
            raise NotFound("no referrals for a department user without a department")
        return user.department
    return None


def _event(conn, referral_id, user, action, from_status, to_status, note=None) -> None:
    conn.execute(sa.text(
        "INSERT INTO referral_event (referral_id, user_id, username, action, from_status, "
        "to_status, note, county_code) VALUES (:r, :uid, :un, :a, :f, :t, :n, "
        "(SELECT county_code FROM referral_key WHERE id = :r))"),
        {"r": referral_id, "uid": getattr(user, "id", None),
         "un": getattr(user, "username", None), "a": action, "f": from_status,
         "t": to_status, "n": note})


def send(conn: Connection, data: dict, scope_id: int, user) -> int:
    """Refer a need of a child in the user's area (an open case) to a department."""
    if data.get("department") not in vocab.DEPARTMENTS:
        raise InvalidInput(f"unknown department '{data.get('department')}' "
                           f"(one of {', '.join(vocab.DEPARTMENTS)})", field="department")
    row = conn.execute(sa.text(
        "SELECT ch.case_status FROM child ch JOIN household h ON h.id = ch.household_id "
        f"JOIN unit c ON c.id = h.cell_id WHERE ch.id = :id AND {cell_in_scope_sql()}"),
        {"id": data["child_id"], "scope_id": scope_id}).first()
    if row is None:
        raise NotFound(f"no child {data['child_id']}", field="child_id")
    if row.case_status == "closed":
        raise Conflict("已结案的儿童不能转介", field="child_id")
    rid = conn.execute(sa.text(
        "INSERT INTO referral (child_id, department, service, due_on, note, sent_by, "
        "county_code) VALUES (:c, :d, :s, :due, :n, :u, gridmap_child_county(:c)) "
        "RETURNING id"),
        {"c": data["child_id"], "d": data["department"], "s": data["service"],
         "due": data["due_on"], "n": data.get("note"), "u": getattr(user, "id", None)}
    ).scalar_one()
    _event(conn, rid, user, "send", None, "sent", data.get("note"))
    return rid


def shape(row: dict, user) -> dict:
    """The referral as ``user`` may see it (a department user: the minimum fields)."""
    if user.role in access.DEPARTMENT_ROLES:
        out = {k: row[k] for k in _DEPARTMENT_FIELDS if k in row}
        if "history" in row:
            out["history"] = [{k: e[k] for k in ("at", "action", "from_status", "to_status",
                                                 "note")} for e in row["history"]]
        return out
    return dict(row)


def find(conn: Connection, referral_id: int, user, scope_id: int,
         day: dt.date | None = None) -> dict:
    """One referral the user may see, with its history; NotFound otherwise."""
    row = conn.execute(sa.text(_REFERRAL + f" WHERE r.id = :id AND {_VISIBLE}"),
                       {"id": referral_id, "scope_id": scope_id, "dept": _dept(user),
                        "counties": county_codes(conn, scope_id),
                        "day": day or dt.date.today()}).mappings().first()
    if row is None:
        raise NotFound(f"no referral {referral_id}", field="referral_id")
    out = dict(row)
    out["history"] = [dict(r) for r in conn.execute(sa.text(
        "SELECT at, username, action, from_status, to_status, note FROM referral_event "
        "WHERE referral_id = :id AND county_code = :county ORDER BY at, id"),
        {"id": referral_id, "county": out.pop("county_code")}).mappings()]
    return out


def listing(conn: Connection, user, scope_id: int, *, status: str | None = None,
            overdue: bool = False, child_id: int | None = None, day: dt.date | None = None,
            limit: int = 100, offset: int = 0) -> list[dict]:
    """Referrals the user may see, by due date; ``status`` ``open`` means sent or
    accepted; ``overdue`` only those open past their due date."""
    rows = conn.execute(sa.text(
        _REFERRAL + f""" WHERE {_VISIBLE}
           AND (CAST(:status AS text) IS NULL OR r.status = :status
                OR (:status = 'open' AND r.status IN ('sent', 'accepted')))
           AND (NOT :overdue OR (r.status IN ('sent', 'accepted')
                                 AND r.due_on < CAST(:day AS date)))
           AND (CAST(:child AS int) IS NULL OR r.child_id = :child)
         ORDER BY r.due_on, r.id LIMIT :limit OFFSET :offset"""),
        {"scope_id": scope_id, "counties": county_codes(conn, scope_id),
         "dept": _dept(user), "status": status, "overdue": overdue,
         "child": child_id, "day": day or dt.date.today(), "limit": limit,
         "offset": offset}).mappings()
    return [{k: v for k, v in r.items() if k != "county_code"} for r in rows]


def overdue(conn: Connection, scope_id: int, day: dt.date) -> list[dict]:
    """Open referrals of children under ``scope_id`` past their due date (for the
    supervisor's home page and the monthly report)."""
    civil = type("Reader", (), {"role": "admin"})()
    return listing(conn, civil, scope_id, overdue=True, day=day, limit=10_000)


def act(conn: Connection, referral_id: int, user, scope_id: int, action: str,
        text: str | None = None) -> dict:
    """Accept, decline (``text`` the reason) or report done (``text`` what was done)."""
    if action not in ACTIONS:
        raise InvalidInput(f"unknown action '{action}'", field="action")
    starts, to, needs = ACTIONS[action]
    if needs and not (text or "").strip():
        raise InvalidInput("退回须填写原因" if needs == "reason" else "办结须填写办理情况",
                           field=needs)
    found = find(conn, referral_id, user, scope_id)
    row = conn.execute(sa.text(
        "UPDATE referral SET status = :to, updated_at = now(), "
        "decline_reason = CASE WHEN :to = 'declined' THEN :text ELSE decline_reason END, "
        "outcome = CASE WHEN :to = 'done' THEN :text ELSE outcome END "
        "WHERE id = :id AND status = ANY(:starts) RETURNING id"),
        {"to": to, "text": text, "id": referral_id, "starts": list(starts)}).first()
    if row is None:
        raise Conflict(f"转介状态为“{vocab.REFERRAL_STATUSES[found['status']]}”"
                       f"（{found['status']}），不能执行 {action}", field="action")
    _event(conn, referral_id, user, action, found["status"], to, text)
    return {"from": found["status"], "to": to}

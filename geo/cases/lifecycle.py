"""The case loop (issue 15): each child's case status, its history, the children about
to turn 18, and assessments.

A case moves ``open`` → ``assessed`` → ``supported`` → ``monitoring`` → ``closed`` by
actions (:data:`TRANSITIONS`); every move writes a row of the append-only ``case_event``.
Closing needs a reason from :data:`geo.vocab.CLOSE_REASONS` (``moved_away`` also the
destination county's 6-digit code); only the roles in ``access.CLOSES_CASES`` close or
reopen a case, the other record writers move it along. A closed case drops out of due
visits, cell status, routes and plans (geo/visits/due.py) but stays readable.

Turning 18 is handled at query time: geo/visits/due.py leaves out every child whose 18th
birthday falls on or before ``as_of``; :func:`turning_18` lists the open cases whose
birthday is near (or passed, still to close with ``turned_18``).

An assessment (调查评估) scores the configured items (``cases.assessment_items``, each
answered 0, 1 or 2, weighted) and proposes the first risk level whose minimum score
(``cases.assessment_thresholds``) the weighted sum reaches. It changes nothing until a
supervisor approves it (:func:`approve_assessment`): only then does the child's
``risk_level`` (and so the visit interval) change, and an ``open`` case becomes
``assessed``.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo import vocab
from geo.access import cell_in_scope_sql
from geo.errors import Conflict, InvalidInput, NotFound
from geo.local_rules import rules_for_child
from geo.scope import parse_date

# action → (statuses it starts from, status it leads to)
TRANSITIONS = {
    "assess": (("open", "monitoring"), "assessed"),
    "support": (("assessed", "monitoring"), "supported"),
    "monitor": (("assessed", "supported"), "monitoring"),
    "close": (("open", "assessed", "supported", "monitoring"), "closed"),
    "reopen": (("closed",), "open"),
}
COUNTY_CODE = re.compile(r"^\d{6}$")


# A child's case records lie in its county's partitions (migration 0019): naming that
# county (a stable function, so the partitions are chosen when the query starts) reads
# only them.
_OF_CHILD = "{0}.county_code = gridmap_child_county(:c)"

def _child_status(conn: Connection, child_id: int, scope_id: int, lock: bool = False) -> str:
    row = conn.execute(sa.text(
        "SELECT ch.case_status FROM child ch JOIN household h ON h.id = ch.household_id "
        f"JOIN unit c ON c.id = h.cell_id WHERE ch.id = :id AND {cell_in_scope_sql()}"
        + (" FOR UPDATE OF ch" if lock else "")),
        {"id": child_id, "scope_id": scope_id}).first()
    if row is None:
        raise NotFound(f"no child {child_id}", field="child_id")
    return row.case_status


def _event(conn: Connection, child_id: int, user, action: str, from_status: str,
           to_status: str, reason=None, destination=None, note=None) -> None:
    conn.execute(sa.text(
        "INSERT INTO case_event (child_id, user_id, username, action, from_status, "
        "to_status, reason, destination, note, county_code) VALUES (:c, :uid, :un, :a, :f, "
        ":t, :r, :d, :n, gridmap_child_county(:c))"),
        {"c": child_id, "uid": getattr(user, "id", None),
         "un": getattr(user, "username", None), "a": action, "f": from_status,
         "t": to_status, "r": reason, "d": destination, "n": note})


def move_case(conn: Connection, child_id: int, scope_id: int, user, action: str,
              reason: str | None = None, destination: str | None = None,
              note: str | None = None) -> dict:
    """Apply ``action`` to the child's case; returns ``{from, to}``. The caller checks
    the role (access.CLOSES_CASES for close and reopen)."""
    if action not in TRANSITIONS:
        raise InvalidInput(f"unknown action '{action}' (one of {', '.join(TRANSITIONS)})",
                           field="action")
    if action == "close":
        if not reason:
            raise InvalidInput("结案须填写原因（reason）", field="reason")
        if reason not in vocab.CLOSE_REASONS:
            raise InvalidInput(f"unknown reason '{reason}' "
                               f"(one of {', '.join(vocab.CLOSE_REASONS)})", field="reason")
        if reason == "moved_away":
            if not destination or not COUNTY_CODE.match(destination):
                raise InvalidInput("迁出结案须填写迁入地县级行政区划代码（6位）",
                                   field="destination")
        elif destination:
            raise InvalidInput("destination is only for reason moved_away",
                               field="destination")
    elif reason or destination:
        raise InvalidInput("reason and destination are only for closing",
                           field="reason" if reason else "destination")
    current = _child_status(conn, child_id, scope_id, lock=True)
    starts, to = TRANSITIONS[action]
    if current not in starts:
        raise Conflict(f"案件状态为“{vocab.CASE_STATUSES[current]}”（{current}），"
                       f"不能执行“{vocab.CASE_ACTIONS[action]}”（{action}）", field="action")
    conn.execute(sa.text("UPDATE child SET case_status = :s, updated_at = now() "
                         "WHERE id = :id"), {"s": to, "id": child_id})
    _event(conn, child_id, user, action, current, to, reason, destination, note)
    return {"from": current, "to": to}


def case(conn: Connection, child_id: int, scope_id: int) -> dict:
    """The child's case status and its history, oldest first."""
    status = _child_status(conn, child_id, scope_id)
    rows = conn.execute(sa.text(
        "SELECT id, at, username, action, from_status, to_status, reason, destination, note "
        "FROM case_event WHERE child_id = :id AND county_code = gridmap_child_county(:id) "
        "ORDER BY at, id"), {"id": child_id}).mappings()
    return {"child_id": child_id, "status": status, "history": [dict(r) for r in rows]}


def turning_18(conn: Connection, scope_id: int, as_of: dt.date, within_days: int = 60
               ) -> list[dict]:
    """Children under ``scope_id`` whose case is not closed and whose 18th birthday
    falls within ``within_days`` after ``as_of`` or has already passed (to be closed
    with reason ``turned_18``), earliest birthday first."""
    rows = conn.execute(sa.text(f"""
        SELECT ch.id AS child_id, ch.name, ch.sex, ch.birth_date, ch.case_status,
               (ch.birth_date + interval '18 years')::date AS turns_18_on,
               (ch.birth_date + interval '18 years')::date - CAST(:as_of AS date)
                   AS days_left,
               c.code AS cell_code, v.name AS village_name
          FROM child ch JOIN household h ON h.id = ch.household_id
          JOIN unit c ON c.id = h.cell_id JOIN unit v ON v.id = c.village_id
         WHERE {cell_in_scope_sql()} AND ch.case_status <> 'closed'
           AND (ch.birth_date + interval '18 years')::date
               <= CAST(:as_of AS date) + CAST(:within AS int)
         ORDER BY turns_18_on, ch.id"""),
        {"scope_id": scope_id, "as_of": as_of, "within": int(within_days)}).mappings()
    return [dict(r) for r in rows]


# -- assessments -------------------------------------------------------------------------
def score_answers(cfg: dict, answers: dict, rules: dict | None = None) -> tuple[int, str]:
    """The weighted score of ``answers`` (every configured item, 0..2) and the risk
    level it proposes, by ``rules`` (the child's county's; default the shared rules)."""
    items = cfg["cases"]["assessment_items"]
    if not isinstance(answers, dict):
        raise InvalidInput("answers must be an object of item: 0, 1 or 2", field="answers")
    unknown = sorted(set(answers) - set(items))
    if unknown:
        raise InvalidInput(f"unknown assessment item '{unknown[0]}' "
                           f"(items: {', '.join(items)})", field="answers")
    score = 0
    for item, weight in items.items():
        value = answers.get(item)
        if value is None:
            raise InvalidInput(f"评估项“{item}”未填写", field="answers")
        if isinstance(value, bool) or not isinstance(value, int) or value not in (0, 1, 2):
            raise InvalidInput(f"评估项“{item}”须为 0、1 或 2", field="answers")
        score += int(weight) * value
    rules = rules or cfg["rules"]
    thresholds = rules.get("assessment_thresholds") or cfg["cases"]["assessment_thresholds"]
    for level in rules["risk_levels"]:
        if level in thresholds and score >= int(thresholds[level]):
            return score, level
    return score, rules["risk_levels"][-1]


def add_assessment(conn: Connection, cfg: dict, child_id: int, scope_id: int, user,
                   answers: dict, note: str | None = None) -> int:
    _child_status(conn, child_id, scope_id)
    score, level = score_answers(cfg, answers, rules_for_child(conn, cfg["rules"], child_id))
    return conn.execute(sa.text(
        "INSERT INTO assessment (child_id, answers, score, proposed_risk, note, taken_by, "
        "county_code) VALUES (:c, CAST(:a AS jsonb), :s, :p, :n, :u, "
        "gridmap_child_county(:c)) RETURNING id"),
        {"c": child_id, "a": json.dumps(answers), "s": score, "p": level, "n": note,
         "u": getattr(user, "id", None)}).scalar_one()


_ASSESSMENT = """
SELECT a.id, a.child_id, a.answers, a.score, a.proposed_risk, a.note, a.status,
       a.taken_at, tu.username AS taken_by, a.approved_at, au.username AS approved_by,
       a.previous_risk
  FROM assessment a LEFT JOIN app_user tu ON tu.id = a.taken_by
  LEFT JOIN app_user au ON au.id = a.approved_by
"""


def assessments(conn: Connection, child_id: int, scope_id: int) -> list[dict]:
    """The child's assessments, newest first."""
    _child_status(conn, child_id, scope_id)
    rows = conn.execute(sa.text(_ASSESSMENT + " WHERE a.child_id = :c "
                                f"AND {_OF_CHILD.format('a')} "
                                "ORDER BY a.taken_at DESC, a.id DESC"), {"c": child_id})
    return [dict(r) for r in rows.mappings()]


def find_assessment(conn: Connection, assessment_id: int, scope_id: int) -> dict:
    row = conn.execute(sa.text(_ASSESSMENT + " WHERE a.id = :id"),
                       {"id": assessment_id}).mappings().first()
    if row is None:
        raise NotFound(f"no assessment {assessment_id}", field="assessment_id")
    try:
        _child_status(conn, row["child_id"], scope_id)
    except NotFound:
        raise NotFound(f"no assessment {assessment_id}", field="assessment_id") from None
    return dict(row)


def approve_assessment(conn: Connection, assessment_id: int, scope_id: int, user) -> dict:
    """Approve a proposed assessment: the child's risk level becomes the proposed one
    (so the visit interval changes) and an open case becomes assessed."""
    found = find_assessment(conn, assessment_id, scope_id)
    row = conn.execute(sa.text(
        "UPDATE assessment a SET status = 'approved', approved_by = :u, approved_at = now(),"
        " previous_risk = ch.risk_level FROM child ch WHERE a.id = :id AND ch.id = a.child_id"
        " AND a.status = 'proposed' RETURNING a.child_id, a.proposed_risk, ch.case_status"),
        {"id": assessment_id, "u": getattr(user, "id", None)}).first()
    if row is None:
        raise Conflict(f"评估 {assessment_id} 已审批", field="assessment_id")
    conn.execute(sa.text("UPDATE child SET risk_level = :r, updated_at = now() "
                         "WHERE id = :c"), {"r": row.proposed_risk, "c": row.child_id})
    if row.case_status == "open":
        move_case(conn, row.child_id, scope_id, user, "assess",
                  note=f"评估 #{assessment_id} 审批通过")
    return find_assessment(conn, found["id"], scope_id)


def assessment_queue(conn: Connection, scope_id: int, status: str | None = "proposed",
                     limit: int = 100, offset: int = 0) -> list[dict]:
    """Assessments of children under ``scope_id`` (by default those waiting for
    approval), oldest first, with the child's name and current risk level."""
    rows = conn.execute(sa.text(f"""
        SELECT q.*, ch.name AS child_name, ch.risk_level AS current_risk,
               v.name AS village_name
          FROM ({_ASSESSMENT}) q JOIN child ch ON ch.id = q.child_id
          JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id
          JOIN unit v ON v.id = c.village_id
         WHERE {cell_in_scope_sql()} AND (CAST(:status AS text) IS NULL OR q.status = :status)
         ORDER BY q.taken_at, q.id LIMIT :limit OFFSET :offset"""),
        {"scope_id": scope_id, "status": status, "limit": limit, "offset": offset})
    return [dict(r) for r in rows.mappings()]


# -- guardians ---------------------------------------------------------------------------
# A guardian is effective on :day when able to care and not unavailable then (an
# ``unavailable_until`` date is the last day of the absence).
EFFECTIVE = "g.able_to_care AND (g.unavailable_until IS NULL OR g.unavailable_until < :day)"


def _check_guardian(data: dict) -> None:
    if data.get("relation") not in vocab.GUARDIAN_RELATIONS:
        raise InvalidInput(f"unknown relation '{data.get('relation')}' "
                           f"(one of {', '.join(vocab.GUARDIAN_RELATIONS)})", field="relation")
    until, why = data.get("unavailable_until"), data.get("unavailable_reason")
    if (until is None) != (why is None):
        raise InvalidInput("暂不能履行监护职责须同时填写截止日期和原因",
                           field="unavailable_reason" if why is None else "unavailable_until")
    if why is not None and why not in vocab.UNAVAILABLE_REASONS:
        raise InvalidInput(f"unknown reason '{why}' "
                           f"(one of {', '.join(vocab.UNAVAILABLE_REASONS)})",
                           field="unavailable_reason")


def add_guardian(conn: Connection, child_id: int, scope_id: int, user, data: dict) -> int:
    _child_status(conn, child_id, scope_id)
    _check_guardian(data)
    return conn.execute(sa.text(
        "INSERT INTO guardian (child_id, relation, name, phone, lives_with_child, "
        "able_to_care, appointed_carer, unavailable_until, unavailable_reason, created_by, "
        "county_code) VALUES (:c, :relation, :name, :phone, :lives, :able, :appointed, "
        ":until, :why, :u, gridmap_child_county(:c)) RETURNING id"),
        {"c": child_id, **_guardian_params(data),
         "u": getattr(user, "id", None)}).scalar_one()


def _guardian_params(data: dict) -> dict:
    """The guardian's columns as bound by both the insert and the edit."""
    return {"relation": data["relation"], "name": data["name"], "phone": data.get("phone"),
            "lives": bool(data.get("lives_with_child")),
            "able": bool(data.get("able_to_care", True)),
            "appointed": bool(data.get("appointed_carer")),
            "until": data.get("unavailable_until"), "why": data.get("unavailable_reason")}


def update_guardian(conn: Connection, child_id: int, guardian_id: int, scope_id: int,
                    data: dict) -> dict:
    """Replace a guardian's fields (the edit form sends them all; e.g. a parent back from
    prison: ``unavailable_until`` and its reason cleared). Returns the previous values."""
    _child_status(conn, child_id, scope_id)
    _check_guardian(data)
    old = conn.execute(sa.text(
        "SELECT relation, lives_with_child, able_to_care, appointed_carer, unavailable_until,"
        " unavailable_reason FROM guardian WHERE id = :g AND child_id = :c FOR UPDATE"),
        {"g": guardian_id, "c": child_id}).mappings().first()
    if old is None:
        raise NotFound(f"no guardian {guardian_id} of child {child_id}", field="guardian_id")
    conn.execute(sa.text(
        "UPDATE guardian SET relation = :relation, name = :name, phone = :phone, "
        "lives_with_child = :lives, able_to_care = :able, appointed_carer = :appointed, "
        "unavailable_until = :until, unavailable_reason = :why WHERE id = :g"),
        {"g": guardian_id, **_guardian_params(data)})
    return dict(old)


def guardians(conn: Connection, child_id: int, scope_id: int, day: dt.date) -> list[dict]:
    """The child's guardians, each with ``effective`` on ``day``."""
    _child_status(conn, child_id, scope_id)
    rows = conn.execute(sa.text(
        f"SELECT g.id, g.child_id, g.relation, g.name, g.phone, g.lives_with_child, "
        f"g.able_to_care, g.appointed_carer, g.unavailable_until, g.unavailable_reason, "
        f"g.created_at, {EFFECTIVE} AS effective FROM guardian g WHERE g.child_id = :c "
        f"AND {_OF_CHILD.format('g')} ORDER BY g.id"), {"c": child_id, "day": day})
    return [dict(r) for r in rows.mappings()]


def is_placed(conn: Connection, child_id: int) -> bool:
    """True while the child has an active placement."""
    return conn.execute(sa.text("SELECT EXISTS (SELECT 1 FROM placement p WHERE child_id = :c "
                                f"AND {_OF_CHILD.format('p')} AND status = 'active')"),
                        {"c": child_id}).scalar_one()


def without_guardian(conn: Connection, scope_id: int, day: dt.date | str | None = None,
                     tz: str | None = None) -> list[dict]:
    """Open cases of children under 18 under ``scope_id`` with no effective guardian on
    ``day`` (none recorded, or none able and available), with the guardian nearest to
    coming back."""
    day = parse_date(day, "as_of", tz)
    rows = conn.execute(sa.text(f"""
        SELECT ch.id AS child_id, ch.name, ch.sex, ch.birth_date, ch.risk_level,
               ch.case_status, c.code AS cell_code, v.name AS village_name,
               ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat,
               (SELECT count(*) FROM guardian g WHERE g.child_id = ch.id) AS guardians,
               (SELECT min(g.unavailable_until) FROM guardian g WHERE g.child_id = ch.id
                   AND g.able_to_care AND g.unavailable_until >= :day) AS back_on
          FROM child ch JOIN household h ON h.id = ch.household_id
          JOIN unit c ON c.id = h.cell_id JOIN unit v ON v.id = c.village_id
         WHERE {cell_in_scope_sql()} AND ch.case_status <> 'closed'
           AND (ch.birth_date + interval '18 years')::date > :day
           AND NOT EXISTS (SELECT 1 FROM guardian g WHERE g.child_id = ch.id
                           AND {EFFECTIVE})
         ORDER BY c.code, ch.id"""), {"scope_id": scope_id, "day": day})
    return [dict(r) for r in rows.mappings()]


# -- supports ----------------------------------------------------------------------------
# A support's last day: its end date, or the last day its guardian is away (a support
# for a child whose parent is in prison ends when the parent is back).
_SUPPORT_END = "LEAST(s.end_on, g.unavailable_until)"
_SUPPORT = f"""
SELECT s.id, s.child_id, s.type, s.amount, s.start_on, s.end_on, s.granted_by,
       s.guardian_id, s.note, s.created_at, {_SUPPORT_END} AS ends_on, s.county_code
  FROM support s LEFT JOIN guardian g ON g.id = s.guardian_id
       AND g.county_code = s.county_code
"""


def supports(conn: Connection, child_id: int, scope_id: int, day: dt.date) -> list[dict]:
    """The child's supports, each with ``active`` on ``day``, newest start first."""
    _child_status(conn, child_id, scope_id)
    rows = conn.execute(sa.text(
        f"SELECT q.*, q.start_on <= :day AND (q.ends_on IS NULL OR q.ends_on >= :day) "
        f"AS active FROM ({_SUPPORT}) q WHERE q.child_id = :c "
        f"AND q.county_code = gridmap_child_county(:c) ORDER BY q.start_on DESC, "
        f"q.id DESC"), {"c": child_id, "day": day})
    return [{k: v for k, v in r.items() if k != "county_code"} for r in rows.mappings()]


def add_support(conn: Connection, cfg: dict, child_id: int, scope_id: int, user,
                data: dict) -> int:
    """Record a support; one of the exclusive allowances (``cases.exclusive_allowances``)
    that overlaps another is refused (Conflict naming the rule and the higher one)."""
    _child_status(conn, child_id, scope_id, lock=True)
    kind = data.get("type")
    if kind not in vocab.SUPPORT_TYPES:
        raise InvalidInput(f"unknown support type '{kind}' "
                           f"(one of {', '.join(vocab.SUPPORT_TYPES)})", field="type")
    start, end = data["start_on"], data.get("end_on")
    if end is not None and end < start:
        raise InvalidInput("end_on lies before start_on", field="end_on")
    guardian = data.get("guardian_id")
    if guardian is not None and not conn.execute(sa.text(
            "SELECT 1 FROM guardian WHERE id = :g AND child_id = :c"),
            {"g": guardian, "c": child_id}).first():
        raise NotFound(f"no guardian {guardian} of child {child_id}", field="guardian_id")
    exclusive = list(cfg["cases"].get("exclusive_allowances", []))
    if kind in exclusive:
        clash = conn.execute(sa.text(
            f"SELECT q.* FROM ({_SUPPORT}) q WHERE q.child_id = :c "
            f"AND q.county_code = gridmap_child_county(:c) AND q.type = ANY(:types) "
            f"AND q.start_on <= COALESCE(CAST(:end AS date), "
            f"'infinity'::date) AND COALESCE(q.ends_on, 'infinity'::date) >= :start "
            f"ORDER BY q.start_on LIMIT 1"),
            {"c": child_id, "types": exclusive, "start": start, "end": end}
        ).mappings().first()
        if clash is not None:
            names = "、".join(vocab.SUPPORT_TYPES[t] for t in exclusive)
            old_amount = float(clash["amount"] or 0)
            new_amount = float(data.get("amount") or 0)
            higher = (f"新的{vocab.SUPPORT_TYPES[kind]}较高，请先结束现有的"
                      f"{vocab.SUPPORT_TYPES[clash['type']]}" if new_amount > old_amount else
                      f"现有的{vocab.SUPPORT_TYPES[clash['type']]}较高或相同，保留现有一项")
            raise Conflict(
                f"{names}不得重复享受（规则 cases.exclusive_allowances：就高不就低）："
                f"与现有的{vocab.SUPPORT_TYPES[clash['type']]}（#{clash['id']}，"
                f"{clash['start_on'].isoformat()}起，{old_amount:g}元）时间重叠；{higher}",
                field="type", code="exclusive_allowance")
    return conn.execute(sa.text(
        "INSERT INTO support (child_id, type, amount, start_on, end_on, granted_by, "
        "guardian_id, note, created_by, county_code) VALUES (:c, :t, :a, :s, :e, :g, :gid, "
        ":n, :u, gridmap_child_county(:c)) RETURNING id"),
        {"c": child_id, "t": kind, "a": data.get("amount"), "s": start, "e": end,
         "g": data["granted_by"], "gid": guardian, "n": data.get("note"),
         "u": getattr(user, "id", None)}).scalar_one()

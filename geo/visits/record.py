"""Recording a visit from a phone, with the plausibility checks supervisors rely on.

A visit is flagged (it still counts) when its GPS point is farther than
``visit_flag_distance_m`` from the household, when the same worker's previous visit
was too far away to reach in the time between them at ``visit_max_speed_kmh``, or
(``visit_flag_without_gps``) when it comes with no GPS point to check.
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo import vocab
from geo.errors import InvalidInput, NotFound

FUTURE_SLACK = dt.timedelta(minutes=10)
# Real UTC offsets run from -12:00 to +14:00.
MAX_OFFSET = dt.timedelta(hours=14)


def _check_time(conn: Connection, rules: dict, child_id: int, visited_at: dt.datetime) -> None:
    """:class:`InvalidInput` naming ``visited_at`` unless it is a plausible time for a
    visit to this child: a real UTC offset, not before ``rules.date_earliest``, the
    child's birth or (by more than ``visit_before_registration_days``) registration,
    and not after now plus ``visit_future_slack_min``."""
    offset = visited_at.utcoffset()
    if offset is None:
        raise InvalidInput("visited_at needs a time zone, e.g. 2026-11-24T10:30:00+08:00",
                           field="visited_at")
    if abs(offset) > MAX_OFFSET:
        raise InvalidInput("visited_at has a UTC offset beyond ±14:00", field="visited_at")
    earliest = rules.get("date_earliest", "2000-01-01")
    earliest = earliest if isinstance(earliest, dt.date) else dt.date.fromisoformat(earliest)
    day = visited_at.date()
    if day < earliest:
        raise InvalidInput(f"visited_at lies before {earliest}", field="visited_at")
    slack = dt.timedelta(minutes=float(rules.get("visit_future_slack_min",
                                                 FUTURE_SLACK.total_seconds() / 60)))
    if day > dt.date.today() + dt.timedelta(days=2) or \
            visited_at > dt.datetime.now(dt.UTC) + slack:
        raise InvalidInput("visited_at lies in the future", field="visited_at")
    child = conn.execute(sa.text("SELECT birth_date, registered_on FROM child WHERE id = :c"),
                         {"c": child_id}).first()
    if child is None:
        raise NotFound(f"no child {child_id}", field="child_id")
    if day < child.birth_date:
        raise InvalidInput("visited_at lies before the child was born", field="visited_at")
    grace = dt.timedelta(days=int(rules.get("visit_before_registration_days", 31)))
    if day < child.registered_on - grace:
        raise InvalidInput(f"visited_at lies more than {grace.days} days before the child "
                           f"was registered ({child.registered_on})", field="visited_at")


ANSWER_FLAGS = ("child_seen", "guardian_present", "harm_signs")
ANSWER_CHOICES = ("living_conditions", "school_attendance")
HARM_DETAIL_MAX = 500


def check_answers(rules: dict, checks: dict | None) -> dict | None:
    """The visit form's answers, checked: ``child_seen``, ``guardian_present`` and
    ``harm_signs`` are true/false, ``living_conditions`` and ``school_attendance`` one of
    the codes in ``rules.visit_form``, ``harm_detail`` (what was seen) text up to 500
    characters. Anything else is :class:`InvalidInput` naming ``checks.<key>``."""
    if checks is None:
        return None
    form = rules.get("visit_form", {})
    out: dict = {}
    for key, value in checks.items():
        field = f"checks.{key}"
        if key in ANSWER_FLAGS:
            if not isinstance(value, bool):
                raise InvalidInput(f"{field} must be true or false", field=field)
        elif key in ANSWER_CHOICES:
            choices = form.get(key, {})
            if value is not None and (not isinstance(value, str) or value not in choices):
                raise InvalidInput(f"{field} must be one of {', '.join(choices)}", field=field)
        elif key == "harm_detail":
            if value is not None and (not isinstance(value, str)
                                      or len(value) > HARM_DETAIL_MAX):
                raise InvalidInput(f"{field} must be text of at most {HARM_DETAIL_MAX} "
                                   "characters", field=field)
        else:
            raise InvalidInput(f"{field} is not a question of the visit form", field=field)
        out[key] = value
    if out.get("harm_detail") and not out.get("harm_signs"):
        raise InvalidInput("checks.harm_detail needs checks.harm_signs = true",
                           field="checks.harm_detail")
    return out


def record_visit(conn: Connection, rules: dict, *, child_id: int, worker_id: int,
                 visited_at: dt.datetime, lon: float | None, lat: float | None,
                 kind: str = "regular", outcome: str | None = None,
                 note: str | None = None, checks: dict | None = None) -> dict:
    """Store a visit (see the module docstring for its flags). ``checks`` are the visit
    form's answers (:func:`check_answers`); signs of harm flag the visit ``harm_signs``
    for the supervisor."""
    if kind not in vocab.VISIT_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(vocab.VISIT_KINDS)}", field="kind")
    checks = check_answers(rules, checks)
    _check_time(conn, rules, child_id, visited_at)
    if (lon is None) != (lat is None):
        raise InvalidInput("give both lon and lat, or neither", field="lon")
    worker = conn.execute(sa.text("SELECT id FROM worker WHERE id = :w AND active"),
                          {"w": worker_id}).first()
    if worker is None:
        raise NotFound(f"no worker {worker_id}", field="worker_id")
    flags: list[str] = []
    detail: dict = {}
    if checks and checks.get("harm_signs"):
        flags.append("harm_signs")
    if lon is None and rules.get("visit_flag_without_gps", True):
        flags.append("no_gps")
    if lon is not None:
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidInput("lon/lat out of range", field="lon")
        far = conn.execute(sa.text(
            "SELECT ST_Distance(h.geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)"
            "::geography) FROM child c JOIN household h ON h.id = c.household_id "
            "WHERE c.id = :c"), {"x": lon, "y": lat, "c": child_id}).scalar()
        if far is None:
            raise NotFound(f"no child {child_id}", field="child_id")
        detail["distance_from_household_m"] = round(far, 1)
        if far > float(rules["visit_flag_distance_m"]):
            flags.append("gps_far_from_household")
        prev = conn.execute(sa.text(
            "SELECT visited_at, ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:x, :y),"
            " 4326)::geography) AS metres FROM visit WHERE worker_id = :w AND geom IS NOT NULL"
            " AND visited_at <= :t ORDER BY visited_at DESC LIMIT 1"),
            {"x": lon, "y": lat, "w": worker_id, "t": visited_at}).first()
        if prev is not None:
            hours = max((visited_at - prev.visited_at).total_seconds(), 1) / 3600
            speed = prev.metres / 1000 / hours
            detail["speed_from_previous_kmh"] = round(speed, 1)
            if speed > float(rules["visit_max_speed_kmh"]):
                flags.append("impossible_travel")
    row = conn.execute(sa.text(
        "INSERT INTO visit (child_id, worker_id, visited_at, geom, kind, outcome, note, "
        "flagged, flag_reason, checks, county_code) VALUES (:c, :w, :t, CASE WHEN "
        "CAST(:x AS float8) IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(:x, :y), 4326) END, "
        ":k, :o, :n, :f, :r, CAST(:checks AS jsonb), gridmap_child_county(:c)) "
        "RETURNING id, created_at"),
        {"c": child_id, "w": worker_id, "t": visited_at, "x": lon, "y": lat, "k": kind,
         "o": outcome, "n": note, "f": bool(flags), "r": ",".join(flags) or None,
         "checks": json.dumps(checks, ensure_ascii=False) if checks is not None else None}
    ).one()
    return {"id": row.id, "child_id": child_id, "worker_id": worker_id,
            "visited_at": visited_at.isoformat(), "kind": kind, "outcome": outcome,
            "note": note, "checks": checks, "flagged": bool(flags), "flags": flags, **detail}


def child_visits(conn: Connection, child_id: int, limit: int = 100) -> list[dict]:
    rows = conn.execute(sa.text(
        "SELECT v.id, v.visited_at, v.kind, v.outcome, v.note, v.checks, v.flagged, "
        "v.flag_reason, "
        "v.worker_id, w.name AS worker_name, ST_X(v.geom) AS lon, ST_Y(v.geom) AS lat "
        "FROM visit v JOIN worker w ON w.id = v.worker_id WHERE v.child_id = :c "
        "ORDER BY v.visited_at DESC LIMIT :n"), {"c": child_id, "n": limit}).mappings()
    return [{**dict(r), "visited_at": r["visited_at"].isoformat()} for r in rows]

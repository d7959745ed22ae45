"""Placing a child at a facility takes a bed; releasing the placement frees it.

Reserving is one transaction: a conditional ``UPDATE … WHERE occupied < capacity``
takes the bed (its row lock makes concurrent requests wait, then re-check), and the
placement row is written in the same transaction. With many requests for the last bed
exactly one succeeds; the others get :class:`Conflict` with code ``facility_full``.
The ``facility_occupied_check`` constraint makes overfilling impossible anyway.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geo.errors import Conflict, InvalidInput, NotFound
from geo.facilities.nearest import child_needs
from geo.vocab import RELEASE_REASONS

_TAKE_BED = """
UPDATE facility SET occupied = occupied + 1
 WHERE id = :facility_id AND occupied < capacity
RETURNING id, name, capacity, occupied
"""


def _eligibility(conn, child_id: int, facility_id: int) -> None:
    fac = conn.execute(sa.text(
        "SELECT id, name, capacity, min_age, max_age, sex_accepted, accepts_disability "
        "FROM facility WHERE id = :id"), {"id": facility_id}).mappings().first()
    if fac is None:
        raise NotFound(f"no facility {facility_id}", field="facility_id")
    needs = child_needs(conn, child_id)
    if fac["capacity"] == 0:
        raise Conflict(f"{fac['name']} has no beds", code="not_eligible")
    if not fac["min_age"] <= needs["age"] <= fac["max_age"]:
        raise Conflict(f"{fac['name']} takes ages {fac['min_age']}–{fac['max_age']}, "
                       f"the child is {needs['age']}", code="not_eligible")
    if fac["sex_accepted"] not in ("any", needs["sex"]):
        raise Conflict(f"{fac['name']} takes {fac['sex_accepted']} children only",
                       code="not_eligible")
    if needs["disability"] and not fac["accepts_disability"]:
        raise Conflict(f"{fac['name']} cannot care for a child with a disability",
                       code="not_eligible")


def reserve_bed(engine: Engine, child_id: int, facility_id: int,
                reason: str | None = None, report_id: int | None = None) -> dict:
    """Place ``child_id`` at ``facility_id``; returns the placement. Raises NotFound,
    Conflict ``facility_full`` / ``already_placed`` / ``not_eligible``."""
    with engine.begin() as conn:
        _eligibility(conn, child_id, facility_id)
        active = conn.execute(sa.text(
            "SELECT facility_id FROM placement WHERE child_id = :c AND status = 'active'"),
            {"c": child_id}).first()
        if active:
            raise Conflict(f"child {child_id} is already placed at facility {active[0]}",
                           code="already_placed")
        bed = conn.execute(sa.text(_TAKE_BED), {"facility_id": facility_id}).mappings().first()
        if bed is None:
            raise Conflict("the facility has no free bed", code="facility_full")
        try:
            with conn.begin_nested():
                row = conn.execute(sa.text(
                    "INSERT INTO placement (child_id, facility_id, reason, report_id, "
                    "county_code) VALUES (:c, :f, :r, :rep, gridmap_child_county(:c)) "
                    "RETURNING id, placed_at, status"),
                    {"c": child_id, "f": facility_id, "r": reason,
                     "rep": report_id}).mappings().one()
        except sa.exc.IntegrityError:
            raise Conflict(f"child {child_id} is already placed",
                           code="already_placed") from None
    return {"id": row["id"], "child_id": child_id, "facility_id": facility_id,
            "placed_at": row["placed_at"], "status": row["status"], "report_id": report_id,
            "facility": {"name": bed["name"], "capacity": bed["capacity"],
                         "occupied": bed["occupied"]}}


def release_placement(engine: Engine, placement_id: int,
                      when: dt.datetime | None = None, reason: str | None = None) -> dict:
    """End an active placement and free its bed; ``reason`` from vocab.RELEASE_REASONS."""
    if reason is not None and reason not in RELEASE_REASONS:
        raise InvalidInput(f"unknown release reason '{reason}' "
                           f"(one of {', '.join(RELEASE_REASONS)})", field="reason")
    with engine.begin() as conn:
        row = conn.execute(sa.text(
            "UPDATE placement SET status = 'released', released_at = COALESCE(:t, now()), "
            "release_reason = :reason WHERE id = :id AND status = 'active' "
            "RETURNING id, facility_id, released_at, release_reason"),
            {"id": placement_id, "t": when, "reason": reason}).mappings().first()
        if row is None:
            exists = conn.execute(sa.text("SELECT status FROM placement WHERE id = :id"),
                                  {"id": placement_id}).first()
            if exists is None:
                raise NotFound(f"no placement {placement_id}", field="placement_id")
            raise Conflict(f"placement {placement_id} is already released",
                           code="already_released")
        conn.execute(sa.text(
            "UPDATE facility SET occupied = occupied - 1 WHERE id = :f AND occupied > 0"),
            {"f": row["facility_id"]})
    return {"id": row["id"], "status": "released", "released_at": row["released_at"],
            "release_reason": row["release_reason"]}


def placement_child(conn: Connection, placement_id: int) -> int:
    """The child a placement is for; :class:`NotFound` for an unknown placement."""
    child = conn.execute(sa.text("SELECT child_id FROM placement WHERE id = :id"),
                         {"id": placement_id}).scalar()
    if child is None:
        raise NotFound(f"no placement {placement_id}", field="placement_id")
    return child


def child_placements(conn: Connection, child_id: int) -> list[dict]:
    """A child's placements, newest first, with the facility's name and type."""
    rows = conn.execute(sa.text(
        "SELECT p.id, p.status, p.placed_at, p.released_at, p.release_reason, p.report_id, "
        "f.id AS facility_id, "
        "f.name AS facility, f.type FROM placement p JOIN facility f ON f.id = p.facility_id "
        "WHERE p.child_id = :c ORDER BY p.placed_at DESC"), {"c": child_id}).mappings()
    return [dict(r) for r in rows]

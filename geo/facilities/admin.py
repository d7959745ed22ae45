"""Creating and changing facilities (the county office's job). Occupancy can be set
by hand (people placed outside the system) but never above capacity: the database's
``facility_occupied_check`` refuses it, and this module names the problem first."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo.errors import Conflict, InvalidInput, NotFound
from geo.facilities.nearest import check_point

FIELDS = ("name", "address", "phone", "capacity", "occupied", "open_24h", "min_age",
          "max_age", "sex_accepted", "accepts_disability")


def _check(values: dict) -> None:
    if values.get("occupied", 0) > values.get("capacity", 0):
        raise InvalidInput("occupied cannot exceed capacity", field="occupied")
    if values.get("min_age", 0) > values.get("max_age", 17):
        raise InvalidInput("min_age cannot exceed max_age", field="min_age")


def get_facility(conn: Connection, facility_id: int) -> dict:
    row = conn.execute(sa.text(
        "SELECT f.id, f.type, f.name, f.address, f.phone, f.capacity, f.occupied, "
        "f.capacity - f.occupied AS free_beds, f.open_24h, f.min_age, f.max_age, "
        "f.sex_accepted, f.accepts_disability, ST_X(f.geom) AS lon, ST_Y(f.geom) AS lat, "
        "c.code AS cell FROM facility f LEFT JOIN unit c ON c.id = f.unit_id WHERE f.id = :id"),
        {"id": facility_id}).mappings().first()
    if row is None:
        raise NotFound(f"no facility {facility_id}", field="facility_id")
    return dict(row)


def create_facility(conn: Connection, data: dict) -> dict:
    lon, lat = check_point(conn, data["lon"], data["lat"])
    _check(data)
    values = {k: data[k] for k in FIELDS}
    fid = conn.execute(sa.text(
        f"INSERT INTO facility (type, geom, {', '.join(FIELDS)}) VALUES (:type, "
        f"ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), {', '.join(':' + k for k in FIELDS)}) "
        "RETURNING id"), {**values, "type": data["type"], "lon": lon, "lat": lat}).scalar_one()
    conn.execute(sa.text("UPDATE facility SET ledger_id = 'FAC-' || id WHERE id = :id"),
                 {"id": fid})
    return get_facility(conn, fid)


def update_facility(conn: Connection, facility_id: int, data: dict) -> dict:
    current = get_facility(conn, facility_id)
    values = {k: data.get(k, current[k]) for k in FIELDS}
    _check(values)
    conn.execute(sa.text(
        f"UPDATE facility SET {', '.join(f'{k} = :{k}' for k in FIELDS)} WHERE id = :id"),
        {**values, "id": facility_id})
    return get_facility(conn, facility_id)


def delete_facility(conn: Connection, facility_id: int) -> None:
    get_facility(conn, facility_id)
    active = conn.execute(sa.text(
        "SELECT count(*) FROM placement WHERE facility_id = :id AND status = 'active'"),
        {"id": facility_id}).scalar_one()
    if active:
        raise Conflict(f"facility {facility_id} still has {active} children placed",
                       code="facility_in_use")
    conn.execute(sa.text("DELETE FROM placement WHERE facility_id = :id"), {"id": facility_id})
    conn.execute(sa.text("DELETE FROM facility WHERE id = :id"), {"id": facility_id})

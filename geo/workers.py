"""Workers: their office point, the units they look after, and their caseload."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo.access import in_scope_sql
from geo.errors import InvalidInput, NotFound
from geo.facilities.nearest import check_point
from geo.planning.coverage import STAFFED_BY

_WORKER = f"""
SELECT w.id, w.role, w.name, w.phone, w.active, u.code AS unit, ST_X(w.office) AS lon,
       ST_Y(w.office) AS lat,
       COALESCE((SELECT array_agg(a.code ORDER BY a.code) FROM worker_unit wu
                   JOIN unit a ON a.id = wu.unit_id WHERE wu.worker_id = w.id), '{{}}') AS units,
       (SELECT count(DISTINCT ch.id) FROM worker_unit wu
          JOIN unit c ON c.level = 'cell' AND {STAFFED_BY}
          JOIN household h ON h.cell_id = c.id JOIN child ch ON ch.household_id = h.id
         WHERE wu.worker_id = w.id) AS caseload
  FROM worker w JOIN unit u ON u.id = w.unit_id
"""
_IN_SCOPE = in_scope_sql("u")


def list_workers(conn: Connection, scope_id: int, limit: int, offset: int,
                 role: str | None = None) -> list[dict]:
    rows = conn.execute(sa.text(
        _WORKER + f" WHERE {_IN_SCOPE} AND (CAST(:role AS text) IS NULL OR w.role = :role) "
        "ORDER BY w.id LIMIT :limit OFFSET :offset"),
        {"scope_id": scope_id, "role": role, "limit": limit, "offset": offset}).mappings()
    return [dict(r) for r in rows]


def check_worker_in_scope(conn: Connection, worker_id: int, scope_id: int,
                          field: str = "worker") -> None:
    """:class:`NotFound` (naming ``field``) unless the worker's unit lies under
    ``scope_id``; cheaper than :func:`get_worker` when only access is in question."""
    if conn.execute(sa.text(f"SELECT 1 FROM worker w JOIN unit u ON u.id = w.unit_id "
                            f"WHERE w.id = :id AND {_IN_SCOPE}"),
                    {"id": worker_id, "scope_id": scope_id}).first() is None:
        raise NotFound(f"no worker {worker_id}", field=field)


def get_worker(conn: Connection, worker_id: int, scope_id: int) -> dict:
    row = conn.execute(sa.text(_WORKER + f" WHERE w.id = :id AND {_IN_SCOPE}"),
                       {"id": worker_id, "scope_id": scope_id}).mappings().first()
    if row is None:
        raise NotFound(f"no worker {worker_id}", field="worker_id")
    return dict(row)


def _unit_ids(conn: Connection, codes: list[str], scope_id: int, field: str) -> list[int]:
    ids = []
    for code in codes:
        row = conn.execute(sa.text(
            f"SELECT u.id FROM unit u WHERE u.code = :c AND {_IN_SCOPE}"),
            {"c": code, "scope_id": scope_id}).first()
        if row is None:
            raise InvalidInput(f"no unit {code} in your area", field=field)
        ids.append(row.id)
    return ids


def _office(conn, data):
    if data.get("lon") is None and data.get("lat") is None:
        return None, None
    if data.get("lon") is None or data.get("lat") is None:
        raise InvalidInput("give both lon and lat for the office", field="lon")
    return check_point(conn, data["lon"], data["lat"])


def create_worker(conn: Connection, data: dict, scope_id: int) -> dict:
    (home,) = _unit_ids(conn, [data["unit"]], scope_id, "unit")
    assigned = _unit_ids(conn, data.get("units") or [], scope_id, "units")
    lon, lat = _office(conn, data)
    wid = conn.execute(sa.text(
        "INSERT INTO worker (role, name, phone, unit_id, office) VALUES (:r, :n, :p, :u, "
        "CASE WHEN CAST(:x AS float8) IS NULL THEN NULL "
        "ELSE ST_SetSRID(ST_MakePoint(:x, :y), 4326) END) RETURNING id"),
        {"r": data["role"], "n": data["name"], "p": data.get("phone"), "u": home,
         "x": lon, "y": lat}).scalar_one()
    conn.execute(sa.text("UPDATE worker SET ledger_id = 'WK-' || id WHERE id = :id"),
                 {"id": wid})
    for uid in assigned:
        conn.execute(sa.text("INSERT INTO worker_unit (worker_id, unit_id) VALUES (:w, :u)"),
                     {"w": wid, "u": uid})
    return get_worker(conn, wid, scope_id)


def update_worker(conn: Connection, worker_id: int, data: dict, scope_id: int) -> dict:
    current = get_worker(conn, worker_id, scope_id)
    if "lon" in data or "lat" in data:
        lon, lat = _office(conn, {"lon": data.get("lon", current["lon"]),
                                  "lat": data.get("lat", current["lat"])})
        conn.execute(sa.text("UPDATE worker SET office = ST_SetSRID(ST_MakePoint(:x, :y), 4326)"
                             " WHERE id = :id"), {"x": lon, "y": lat, "id": worker_id})
    conn.execute(sa.text("UPDATE worker SET name = :n, phone = :p, active = :a WHERE id = :id"),
                 {"n": data.get("name", current["name"]), "p": data.get("phone", current["phone"]),
                  "a": data.get("active", current["active"]), "id": worker_id})
    if "units" in data:
        ids = _unit_ids(conn, data["units"], scope_id, "units")
        conn.execute(sa.text("DELETE FROM worker_unit WHERE worker_id = :w"), {"w": worker_id})
        for uid in ids:
            conn.execute(sa.text("INSERT INTO worker_unit (worker_id, unit_id) VALUES (:w, :u)"),
                         {"w": worker_id, "u": uid})
    return get_worker(conn, worker_id, scope_id)

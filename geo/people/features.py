"""Pages of GeoJSON features built by PostGIS (``json_build_object`` + ``ST_AsGeoJSON``):
households and facilities under a unit, optionally inside a bounding box. Each function
returns one more feature than ``limit`` when more remain, so the caller can tell
whether to offer a next page.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo.access import cell_in_scope_sql
from geo.scope import county_codes

_IN_BOX = """(CAST(:minx AS float8) IS NULL
               OR {alias}.geom && ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326))"""


def _box_params(box) -> dict:
    minx, miny, maxx, maxy = box if box else (None,) * 4
    return {"minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy}


def household_features(conn: Connection, scope_id: int, box=None, *, limit: int,
                       offset: int = 0) -> list[dict]:
    """Households under ``scope_id`` with their address, cell, flags and child count."""
    return conn.execute(sa.text(f"""
        SELECT json_build_object('type', 'Feature', 'id', h.id,
                 'geometry', ST_AsGeoJSON(h.geom, 7)::json,
                 'properties', json_build_object('id', h.id, 'address', h.address,
                     'cell', c.code, 'flags', h.flags,
                     'children', (SELECT count(*) FROM child ch WHERE ch.household_id = h.id
                                    AND ch.county_code = ANY(CAST(:counties AS varchar[])))))
          FROM household h JOIN unit c ON c.id = h.cell_id
         WHERE {cell_in_scope_sql()} AND {_IN_BOX.format(alias="h")}
           -- the scope's counties' partitions only (migration 0018)
           AND h.county_code = ANY(CAST(:counties AS varchar[]))
         ORDER BY h.id LIMIT :limit OFFSET :offset"""),
        {"scope_id": scope_id, "counties": county_codes(conn, scope_id), **_box_params(box),
         "limit": limit + 1, "offset": offset}).scalars().all()


def facility_features(conn: Connection, scope_id: int, box=None, *,
                      facility_type: str | None = None, limit: int,
                      offset: int = 0) -> list[dict]:
    """Facilities under ``scope_id`` (and those outside every unit, which serve all),
    with capacity, occupancy and what they accept."""
    return conn.execute(sa.text(f"""
        SELECT json_build_object(
                 'type', 'Feature', 'id', f.id,
                 'geometry', ST_AsGeoJSON(f.geom, 7)::json,
                 'properties', json_build_object(
                     'id', f.id, 'name', f.name, 'type', f.type, 'address', f.address,
                     'phone', f.phone, 'capacity', f.capacity, 'occupied', f.occupied,
                     'free_beds', f.capacity - f.occupied, 'open_24h', f.open_24h,
                     'min_age', f.min_age, 'max_age', f.max_age,
                     'sex_accepted', f.sex_accepted,
                     'accepts_disability', f.accepts_disability, 'cell', c.code)) AS feature
          FROM facility f LEFT JOIN unit c ON c.id = f.unit_id
         WHERE (f.unit_id IS NULL OR {cell_in_scope_sql()})
           AND (CAST(:type AS text) IS NULL OR f.type = :type)
           AND {_IN_BOX.format(alias="f")}
         ORDER BY f.id LIMIT :limit OFFSET :offset"""),
        {"scope_id": scope_id, "type": facility_type, **_box_params(box),
         "limit": limit + 1, "offset": offset}).scalars().all()

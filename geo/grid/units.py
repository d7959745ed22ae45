"""The unit tree and one unit with its geometry and figures."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo.access import in_scope_sql
from geo.errors import NotFound

_IN_SCOPE = in_scope_sql("u")


def unit_tree(conn: Connection, scope_id: int, depth: str = "village") -> list[dict]:
    """Units under (and including) the scope down to ``depth``, parents before children,
    each with its parent's code."""
    levels = {"city": 0, "county": 1, "township": 2, "village": 3, "cell": 4}
    rows = conn.execute(sa.text(
        f"""
        SELECT u.id, u.code, u.name, u.level, p.code AS parent, u.generated
          FROM unit u LEFT JOIN unit p ON p.id = u.parent_id
         WHERE {_IN_SCOPE}
           AND CASE u.level WHEN 'city' THEN 0 WHEN 'county' THEN 1 WHEN 'township' THEN 2
                            WHEN 'village' THEN 3 ELSE 4 END <= :depth
         ORDER BY CASE u.level WHEN 'city' THEN 0 WHEN 'county' THEN 1 WHEN 'township' THEN 2
                               WHEN 'village' THEN 3 ELSE 4 END, u.code
        """), {"scope_id": scope_id, "depth": levels[depth]}).mappings()
    return [dict(r) for r in rows]


_LEVEL_COLUMN = {"city": "city_id", "county": "county_id", "township": "township_id",
                 "village": "village_id", "cell": "id"}


def unit_feature(conn: Connection, code: str, scope_id: int) -> dict:
    """A GeoJSON Feature: the unit's polygon and its figures."""
    row = conn.execute(sa.text(
        f"""
        SELECT u.id, u.code, u.name, u.level, u.generated, u.source, p.code AS parent,
               ST_AsGeoJSON(u.geom, 6) AS gj, ST_Area(u.geom::geography) / 1e6 AS area_km2
          FROM unit u LEFT JOIN unit p ON p.id = u.parent_id
         WHERE u.code = :code AND {_IN_SCOPE}
        """), {"code": code, "scope_id": scope_id}).mappings().first()
    if row is None:
        raise NotFound(f"no unit with code {code}", field="code")
    # The cells under the unit through the ancestor column of its level (indexed).
    column = _LEVEL_COLUMN[row["level"]]
    under = f"SELECT id FROM unit c WHERE c.level = 'cell' AND c.{column} = :uid"
    figures = conn.execute(sa.text(
        f"""
        SELECT (SELECT count(*) FROM ({under}) x) AS cells,
               (SELECT count(*) FROM household h WHERE h.cell_id IN ({under})) AS households,
               (SELECT count(*) FROM child ch JOIN household h ON h.id = ch.household_id
                 WHERE h.cell_id IN ({under})) AS children,
               (SELECT COALESCE(sum(f.capacity - f.occupied), 0) FROM facility f
                 WHERE f.unit_id IN ({under})) AS free_beds
        """), {"uid": row["id"]}).mappings().one()
    props = {k: row[k] for k in ("code", "name", "level", "parent", "generated", "source")}
    props.update({k: int(v) for k, v in figures.items()}, unit_id=row["id"])
    props["area_km2"] = round(row["area_km2"], 3)
    return {"type": "Feature", "id": row["code"], "geometry": json.loads(row["gj"]),
            "properties": props}


def villages_geojson(conn: Connection, scope_id: int, tolerance: float = 0.0003) -> dict:
    """The villages under the scope as a (simplified) GeoJSON FeatureCollection with code
    and name: boundaries only, for choropleths."""
    return conn.execute(sa.text(
        f"""
        SELECT json_build_object('type', 'FeatureCollection', 'features',
                 COALESCE(json_agg(json_build_object(
                   'type', 'Feature', 'id', u.code,
                   'geometry', ST_AsGeoJSON(ST_SimplifyPreserveTopology(u.geom, :tol), 5)::json,
                   'properties', json_build_object('code', u.code, 'name', u.name))
                 ORDER BY u.code), '[]'::json))
          FROM unit u WHERE u.level = 'village' AND {_IN_SCOPE}
        """), {"scope_id": scope_id, "tol": tolerance}).scalar_one()


def unit_bounds(conn: Connection, unit_id: int) -> list[list[float]]:
    """The unit's extent as Leaflet bounds ``[[south, west], [north, east]]``, so a map
    opens on the user's own area (no centre is written into the pages)."""
    row = conn.execute(sa.text(
        "SELECT ST_YMin(b), ST_XMin(b), ST_YMax(b), ST_XMax(b) FROM "
        "(SELECT ST_Extent(geom)::geometry AS b FROM unit WHERE id = :u) x"),
        {"u": unit_id}).one()
    return [[row[0], row[1]], [row[2], row[3]]]


def unit_centre(conn: Connection, unit_id: int) -> tuple[float, float]:
    """A point inside the unit (lon, lat), to centre a map on it."""
    row = conn.execute(sa.text(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit "
        "WHERE id = :u) x"), {"u": unit_id}).one()
    return row[0], row[1]

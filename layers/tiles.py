"""Vector tiles made by PostGIS: one ``ST_AsMVT`` query over ``ST_TileEnvelope`` per
layer, scoped to the user's area like the JSON endpoints. The map pages (issue: map)
read the same definitions."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo import access
from geo.access import in_scope_sql
from geo.cases.lifecycle import EFFECTIVE
from geo.errors import InvalidInput, NotFound
from geo.vocab import REPORT_SEVERITIES, REPORT_STATUSES

MAX_ZOOM = 22
CLUSTER_BIN = 128  # tile units of 4096: 8 px of a 256 px tile
# One tile unit (of 4096) at zoom 0 in web Mercator metres; at zoom z, this / 2^z.
MERCATOR_UNIT = 40075016.685578488 / 4096


@dataclass(frozen=True)
class TileLayer:
    name: str
    roles: frozenset[str]
    # SELECT returning (geom in 4326, properties…) for rows in the tile and in scope;
    # binds :scope_id and uses the CTE ``bounds`` (geom4326).
    source: str
    min_zoom: int = 0
    max_zoom: int = MAX_ZOOM
    # Points below this zoom are binned: one feature per bin of CLUSTER_BIN tile units
    # (and per ``cluster_by`` column), at the bin's centroid, with ``cluster`` as its
    # aggregate columns. Keeps tiles small at city scale, and no single household
    # can be picked out until the map is zoomed in.
    cluster_below: int | None = None
    cluster_by: str = ""
    cluster: str = ""
    # Below this zoom the layer draws ``coarse`` instead of ``source`` (same columns,
    # same binds): for households, one point per cell with the cell's tallies, which the
    # database keeps current (migration 0017), so a city's tile does not read every
    # household in it.
    coarse_below: int | None = None
    coarse: str = ""
    # Visit statuses joined in as :statuses, per "cell" or summed per "village"
    # (layers/serve.py provides them from the status cache).
    statuses: str | None = None
    # Every request for this layer is audited (tiles with people's points).
    audited: bool = False
    # ``source`` gives its geometry in web Mercator (3857) already.
    mercator: bool = False


def _labels(column: str, labels: dict) -> str:
    """``WHEN 'code' THEN '标签' …`` for a CASE over a vocabulary (codes and labels are
    ours, not user data)."""
    return " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in labels.items())


_SCOPE = in_scope_sql("c")
ALL = access.EVERYONE
PERSON = access.PERSON_ROLES

LAYERS = {layer.name: layer for layer in (
    # From zoom 15 one point per household; at 13 and 14 one per cell (at a point inside
    # it) with its households and children, so no household can be picked out until the
    # map is zoomed in, and a tile costs its cells, not its households (a city's z13
    # tile holds ~90,000 households).
    TileLayer("households", PERSON, f"""
        SELECT h.geom, h.id, c.code AS cell, 1 AS households,
               (SELECT count(*) FROM child ch WHERE ch.household_id = h.id) AS children
          FROM household h JOIN unit c ON c.id = h.cell_id, bounds
         WHERE h.geom && bounds.geom4326 AND {_SCOPE}""", min_zoom=13, audited=True,
              coarse_below=15, coarse=f"""
        SELECT p.geom, NULL::int AS id, c.code AS cell, t.households, t.children
          FROM unit c JOIN cell_tally t ON t.cell_id = c.id, bounds,
               LATERAL ST_PointOnSurface(c.geom) p(geom)
         WHERE c.level = 'cell' AND c.geom && bounds.geom4326 AND {_SCOPE}
           AND t.households > 0 AND p.geom && bounds.geom4326"""),
    TileLayer("facilities", ALL, f"""
        SELECT f.geom, f.id, f.name, f.type,
               CASE WHEN f.occupied > 0 AND f.occupied < :suppress_below THEN NULL
                    ELSE f.capacity - f.occupied END AS free_beds, f.open_24h
          FROM facility f LEFT JOIN unit c ON c.id = f.unit_id, bounds
         WHERE f.geom && bounds.geom4326 AND (f.unit_id IS NULL OR {_SCOPE})"""),
    TileLayer("cells", ALL, f"""
        SELECT c.geom, c.id, c.code, c.name
          FROM unit c, bounds
         WHERE c.level = 'cell' AND c.geom && bounds.geom4326 AND {_SCOPE}""", min_zoom=9),
    # Cells coloured by visit status: statuses for the cells in the tile come from
    # geo.visits.due (the same rules as everywhere) and are joined in as :statuses.
    TileLayer("cell_status", ALL, """
        SELECT c.geom, c.id, c.code, c.name, s.status, s.children, s.overdue_children,
               s.days_since_visit
          FROM unit c, bounds,
               jsonb_to_recordset(CAST(:statuses AS jsonb))
                   AS s(cell_id int, status text, children int, overdue_children int,
                        days_since_visit int)
         WHERE c.level = 'cell' AND c.id = s.cell_id AND c.geom && bounds.geom4326""",
              min_zoom=11, statuses="cell"),
    # Below zoom 11 the same statuses summed per village (a city has ~20,000 cells).
    TileLayer("village_status", ALL, """
        SELECT c.geom, c.id, c.code, c.name, s.cells, s.not_up_to_date, s.children,
               s.overdue_children,
               CASE WHEN s.cells = 0 THEN 'empty'
                    WHEN s.not_up_to_date::float / s.cells < 0.1 THEN 'low'
                    WHEN s.not_up_to_date::float / s.cells < 0.3 THEN 'mid'
                    ELSE 'high' END AS band
          FROM unit c, bounds,
               jsonb_to_recordset(CAST(:statuses AS jsonb))
                   AS s(village_id int, cells int, not_up_to_date int, children int,
                        overdue_children int)
         WHERE c.level = 'village' AND c.id = s.village_id
           AND c.geom && bounds.geom4326""", max_zoom=10, statuses="village"),
    TileLayer("townships", ALL, f"""
        SELECT c.geom, c.id, c.code, c.name
          FROM unit c, bounds
         WHERE c.level = 'township' AND c.geom && bounds.geom4326 AND {_SCOPE}"""),
    # Each cell with its grid worker(s) and their caseload (children in all their cells,
    # from the per-cell tallies the database keeps, migration 0017), staffed by the same
    # rule as the gaps query (geo.planning.coverage.STAFFED_BY: a worker of the cell, its
    # village or its township). Each worker's caseload is summed once per tile, not once
    # per cell they staff (a township's worker staffs a thousand cells of a city's tile).
    # From zoom 11, like the cells by visit status: at 10 a city's cell is 2 px across
    # and a tile holds ~5,000 of them (181 ms, over the 100 ms a tile may take), so
    # neither an unstaffed cell nor a caseload colour could be read; zoomed out the
    # county office reads the village status layer, and the cells without a worker and
    # the workers over their caseload from their lists (/lists/unstaffed, /lists/caseload).
    TileLayer("coverage", access.SEES_WORKERS, f"""
        WITH cells AS MATERIALIZED (
            SELECT c.id, c.geom, c.code, c.name, c.village_id, c.township_id
              FROM unit c
             WHERE c.level = 'cell' AND {_SCOPE} AND c.geom && ST_Transform(
                   ST_TileEnvelope(:z, :x, :y, margin => 0.02), 4326)),
        -- STAFFED_BY as three equi-joins: one hash join each over worker_unit instead
        -- of three index probes per cell.
        staff AS MATERIALIZED (
            SELECT wu.cell_id, w.id AS worker_id, w.name
              FROM (SELECT c.id AS cell_id, wu.worker_id
                      FROM cells c JOIN worker_unit wu ON wu.unit_id = c.id
                    UNION ALL
                    SELECT c.id, wu.worker_id
                      FROM cells c JOIN worker_unit wu ON wu.unit_id = c.village_id
                    UNION ALL
                    SELECT c.id, wu.worker_id
                      FROM cells c JOIN worker_unit wu ON wu.unit_id = c.township_id) wu
              JOIN worker w ON w.id = wu.worker_id AND w.role = 'grid_worker' AND w.active),
        -- A worker's units, less those under another of their units (a cell of their
        -- village): the rest are disjoint, so their children add up to the caseload.
        mine AS MATERIALIZED (
            SELECT wu2.worker_id, wu2.unit_id
              FROM (SELECT DISTINCT worker_id FROM staff) ws
              JOIN worker_unit wu2 ON wu2.worker_id = ws.worker_id
              JOIN unit u ON u.id = wu2.unit_id
             WHERE NOT EXISTS (SELECT 1 FROM worker_unit o
                                WHERE o.worker_id = wu2.worker_id AND o.unit_id <> u.id
                                  AND o.unit_id IN (u.village_id, u.township_id))),
        -- Children per cell, village and township of those units (a unit above a
        -- township staffs no cell: STAFFED_BY).
        unit_children AS (
            SELECT a.unit_id, sum(t.children) AS children
              FROM unit c2 JOIN cell_tally t ON t.cell_id = c2.id
              CROSS JOIN LATERAL (VALUES (c2.id), (c2.village_id), (c2.township_id)) a(unit_id)
             WHERE c2.level = 'cell' AND a.unit_id IN (SELECT unit_id FROM mine)
             GROUP BY a.unit_id),
        load AS (
            SELECT m.worker_id, sum(uc.children)::bigint AS children
              FROM mine m JOIN unit_children uc ON uc.unit_id = m.unit_id
             GROUP BY m.worker_id)
        SELECT c.geom, c.id, c.code, c.name,
               COALESCE(string_agg(DISTINCT s.name, '、'), '') AS workers,
               -- [[name, id], ...] by name: the popup's handover links (supervisor.js).
               COALESCE(jsonb_agg(DISTINCT jsonb_build_array(s.name, s.worker_id)
                                  ORDER BY jsonb_build_array(s.name, s.worker_id))
                        FILTER (WHERE s.worker_id IS NOT NULL), '[]')::text AS worker_list,
               COALESCE(max(l.children), 0) AS caseload,
               count(s.worker_id) = 0 AS unstaffed
          FROM cells c LEFT JOIN staff s ON s.cell_id = c.id
          LEFT JOIN load l ON l.worker_id = s.worker_id
         GROUP BY c.id, c.geom, c.code, c.name""", min_zoom=11),
    # Service reach of the facility types that have one: a ring per facility, drawn in
    # web Mercator (the radius scaled by 1/cos(latitude): within 0.5 % of the geodesic
    # circle at 15 km) and left there (``mercator``: no round trip through 4326), with
    # as many segments as keep each chord within a quarter pixel of the circle at this
    # zoom (a 2 km ring at z8 is a few pixels across), for the rings whose box meets
    # the tile (a geodesic buffer of every facility within 200 km cost 70 ms at z8).
    TileLayer("reach", ALL, f"""
        SELECT ST_Buffer(ST_Transform(f.geom, 3857), r.merc,
                         least(24, greatest(2, ceil(pi() / (4 * acos(greatest(0,
                             1 - 4 * {MERCATOR_UNIT} / 2 ^ :z / r.merc))))))::int) AS geom,
               f.id, f.name, f.type, r.metres
          FROM facility f
          LEFT JOIN unit c ON c.id = f.unit_id
          -- The reach of the facility's county: its own (rules.counties) or the shared.
          JOIN LATERAL jsonb_each_text(COALESCE(
                   CAST(:reach_by_county AS jsonb) -> COALESCE(c.county_id, c.id)::text,
                   CAST(:reach AS jsonb))) AS r0(type, m) ON r0.type = f.type
          CROSS JOIN LATERAL (SELECT r0.m::float8 AS metres,
                                     r0.m::float8 / cos(radians(ST_Y(f.geom))) AS merc) r
          CROSS JOIN bounds
         WHERE ST_Expand(f.geom, r.metres / (111000 * cos(radians(ST_Y(f.geom)))),
                         r.metres / 110000) && bounds.geom4326
           AND (f.unit_id IS NULL OR {_SCOPE})""", mercator=True),
    TileLayer("villages", ALL, f"""
        SELECT c.geom, c.id, c.code, c.name
          FROM unit c, bounds
         WHERE c.level = 'village' AND c.geom && bounds.geom4326 AND {_SCOPE}"""),
    # Open discovery reports with a point, coloured by the time left to accept them;
    # scoped like children (the report's village under the user's unit), no planners.
    TileLayer("reports", PERSON, f"""
        SELECT r.geom, r.id, r.severity, r.status,
               CASE WHEN r.status <> 'new' THEN 'accepted'
                    WHEN r.deadline <= now() THEN 'overdue'
                    WHEN r.deadline <= now() + interval '1 hour' THEN 'within_1h'
                    WHEN r.deadline <= now() + interval '24 hours' THEN 'within_24h'
                    ELSE 'later' END AS band,
               CASE r.severity {_labels("severity", REPORT_SEVERITIES)} END
                   AS severity_label,
               CASE r.status {_labels("status", REPORT_STATUSES)} END AS state,
               to_char(r.deadline AT TIME ZONE :tz, 'YYYY-MM-DD HH24:MI') AS deadline
          FROM report r JOIN unit v ON v.id = r.village_id, bounds
         WHERE r.status IN ('new', 'accepted', 'in_progress') AND r.geom IS NOT NULL
           AND r.geom && bounds.geom4326
           AND :scope_id IN (r.cell_id, v.id, v.township_id, v.county_id, v.city_id)""",
              audited=True),
    # Children without an effective guardian today (open cases, under 18), at their
    # household; the record writers of the area (as /api/cases/no-guardian), no
    # guardian names (the child's record has them, by field rights). At zooms 13 and 14
    # one point per cell with the number of such children, counted from the kept
    # per-child rows (child_due, migration 0019: no household read), so no child can be
    # picked out until the map is zoomed in and a city's tile costs its cells.
    TileLayer("no_guardian", access.READS_CASES, f"""
        SELECT h.geom, ch.id, ch.name, v.name AS village, c.code AS cell, 1 AS children,
               (SELECT count(*) FROM guardian g WHERE g.child_id = ch.id)::int AS guardians,
               (SELECT to_char(min(g.unavailable_until), 'YYYY-MM-DD') FROM guardian g
                 WHERE g.child_id = ch.id AND g.able_to_care
                   AND g.unavailable_until >= day.d) AS back_on
          FROM child ch JOIN household h ON h.id = ch.household_id
          JOIN unit c ON c.id = h.cell_id JOIN unit v ON v.id = c.village_id, bounds,
               (SELECT (now() AT TIME ZONE :tz)::date AS d) day
         WHERE h.geom && bounds.geom4326 AND {_SCOPE} AND ch.case_status <> 'closed'
           AND (ch.birth_date + interval '18 years')::date > day.d
           AND NOT EXISTS (SELECT 1 FROM guardian g WHERE g.child_id = ch.id
                           AND {EFFECTIVE.replace(":day", "day.d")})""",
              coarse_below=15, coarse=f"""
        SELECT p.geom, v.name AS village, c.code AS cell, n.children
          FROM unit c JOIN unit v ON v.id = c.village_id, bounds,
               (SELECT (now() AT TIME ZONE :tz)::date AS d) day,
               LATERAL ST_PointOnSurface(c.geom) p(geom),
               LATERAL (SELECT count(*)::int AS children FROM child_due ch
                         WHERE ch.cell_id = c.id AND ch.open
                           AND (ch.birth_date + interval '18 years')::date > day.d
                           AND NOT EXISTS (SELECT 1 FROM guardian g
                                            WHERE g.child_id = ch.child_id
                                              AND {EFFECTIVE.replace(":day", "day.d")})) n
         WHERE c.level = 'cell' AND c.geom && bounds.geom4326 AND {_SCOPE}
           AND p.geom && bounds.geom4326 AND n.children > 0""",
              min_zoom=13, audited=True),
)}


def layer_for(name: str, role: str) -> TileLayer:
    layer = LAYERS.get(name)
    if layer is None:
        raise NotFound(f"no tile layer {name} (one of {', '.join(LAYERS)})", field="layer")
    return layer


def tile(conn: Connection, layer: TileLayer, z: int, x: int, y: int, scope_id: int,
         statuses: str = "[]", reach: str = "{}", suppress_below: int = 0,
         tz: str = "Asia/Shanghai", reach_by_county: str = "{}") -> bytes:
    """The tile's bytes; ``suppress_below`` hides a facility's free beds while it holds
    1 to ``suppress_below`` - 1 children (a planner's tile: capacity minus free beds
    would give the small count away). ``reach`` is the shared service reach by facility
    type, ``reach_by_county`` the reach maps of counties with their own (JSON keyed by
    county id; a facility's ring has its county's radius)."""
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidInput(f"zoom must be 0 to {MAX_ZOOM}", field="z")
    if not (0 <= x < 2**z and 0 <= y < 2**z):
        raise InvalidInput(f"tile {x}/{y} does not exist at zoom {z}", field="x")
    if z < layer.min_zoom or z > layer.max_zoom:
        return b""
    sql = f"""
        WITH bounds AS (
            SELECT ST_TileEnvelope(:z, :x, :y) AS geom3857,
                   ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 0.02), 4326) AS geom4326
        ), rows AS ({_source(layer, z)}),
        mvt AS MATERIALIZED (
            SELECT ST_AsMVTGeom({"r.geom" if layer.mercator else "ST_Transform(r.geom, 3857)"},
                                b.geom3857) AS mvtgeom, r.*
              FROM rows r, bounds b
        )
        SELECT ST_AsMVT(m, :name, 4096, 'mvtgeom') FROM ({_features(layer, z)}) m
    """
    data = conn.execute(sa.text(sql), {"z": z, "x": x, "y": y, "scope_id": scope_id,
                                       "name": layer.name, "statuses": statuses,
                                       "reach": reach,
                                       "reach_by_county": reach_by_county,
                                       "suppress_below": suppress_below,
                                       "tz": tz}).scalar()
    return bytes(data or b"")


def cells_in_tile(conn: Connection, z: int, x: int, y: int, scope_id: int,
                  level: str = "cell") -> list[int]:
    if level not in ("cell", "village"):
        raise ValueError(level)
    return list(conn.execute(sa.text(
        f"SELECT c.id FROM unit c WHERE c.level = '{level}' AND {_SCOPE} AND c.geom && "
        "ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 0.02), 4326)"),
        {"z": z, "x": x, "y": y, "scope_id": scope_id}).scalars())


def _source(layer: TileLayer, z: int) -> str:
    if layer.coarse_below is not None and z < layer.coarse_below:
        return layer.coarse
    return layer.source


def _features(layer: TileLayer, z: int) -> str:
    """The SELECT over ``mvt`` that gives the tile's features: one per row, or one per
    bin when the layer is clustered at this zoom."""
    if layer.cluster_below is None or z >= layer.cluster_below:
        columns = _columns(layer)
        if layer.coarse_below is not None and z < layer.coarse_below:
            columns = COARSE_COLUMNS[layer.name]
        return f"SELECT mvtgeom, {columns} FROM mvt WHERE mvtgeom IS NOT NULL"
    by = f", {layer.cluster_by}" if layer.cluster_by else ""
    return f"""
        SELECT ST_SnapToGrid(ST_Centroid(ST_Collect(mvtgeom)), 1) AS mvtgeom,
               {layer.cluster}{by}
          FROM mvt WHERE mvtgeom IS NOT NULL
         GROUP BY ST_SnapToGrid(mvtgeom, {CLUSTER_BIN}){by}"""


def _columns(layer: TileLayer) -> str:
    cols = {"households": "id, cell, households, children",
            "facilities": "id, name, type, free_beds, open_24h",
            "cells": "id, code, name", "villages": "id, code, name",
            "cell_status": "id, code, name, status, children, overdue_children, "
                           "days_since_visit",
            "village_status": "id, code, name, cells, not_up_to_date, children, "
                              "overdue_children, band",
            "townships": "id, code, name",
            "coverage": "id, code, name, workers, worker_list, caseload, unstaffed",
            "reach": "id, name, type, metres",
            "reports": "id, severity, status, band, severity_label, state, deadline",
            "no_guardian": "id, name, village, cell, children, guardians, back_on"}
    return cols[layer.name]


# The columns of a layer's ``coarse`` rows (one point per cell: no one's id or name).
COARSE_COLUMNS = {"households": "cell, households, children",
                  "no_guardian": "village, cell, children"}

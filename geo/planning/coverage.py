"""Coverage and blind spots (帮扶盲区): who is beyond reach of help, which cells have no
grid worker, which workers carry too many children, which villages lack a children's
home, and where a new facility would reach the most children not reached today.

Reach is straight-line (geodesic, on geography) with the configured radius per facility
type (``rules.service_reach_m``).

>>> blind_spots(conn, rules, "school")["totals"]          # doctest: +SKIP
{'households': 50000, 'children': 20000, 'uncovered_children': 812, ...}
"""

from __future__ import annotations

import json

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo import vocab
from geo.access import in_scope_sql
from geo.errors import InvalidInput
from geo.facilities.nearest import check_point
from geo.local_rules import by_county, own_counties, rules_for_code
from geo.planning.reach import pairs_within
from geo.scope import CELL_IN_SCOPE, unit_id

MAX_SITES = 50
# Staffing: a cell (alias ``c``) is looked after by a grid worker assigned (worker_unit
# alias ``wu``) to the cell, its village or its township. The map's coverage layer, the
# gaps query (GET /api/coverage/gaps, ``gridmap query gaps``) and the lists use this rule.
STAFFED_BY = "wu.unit_id IN (c.id, c.village_id, c.township_id)"
# A worker's caseload limit (an aggregate over the cells ``c`` they staff, grouped per
# worker): their county's own (``:limits``, geo.local_rules.by_county) or ``:limit``.
LIMIT_OF_CELLS = ("COALESCE(max((CAST(:limits AS jsonb) ->> c.county_id::text)::int), "
                  "CAST(:limit AS int))")

# Households in scope with their children and whether a facility of the type is in
# reach. Coverage is found from the facilities' side (few facilities, each an index range
# scan over household_geog) rather than probing once per household.
_COVERED = """
    SELECT DISTINCT h.id FROM facility f
      JOIN household h ON ST_DWithin(h.geom::geography, f.geom::geography, :reach)
     WHERE f.type = :type
"""
# With counties of their own reach (rules.counties): found within the longest reach, then
# kept within the reach of the household's own county.
_COVERED_BY_COUNTY = """
    SELECT DISTINCT h.id FROM facility f
      JOIN household h ON ST_DWithin(h.geom::geography, f.geom::geography, :reach_max)
      JOIN unit hc ON hc.id = h.cell_id
     WHERE f.type = :type
       AND ST_DWithin(h.geom::geography, f.geom::geography,
                      COALESCE((CAST(:reach_by_county AS jsonb) ->> hc.county_id::text)::float8,
                               :reach))
"""
_REACH_OF = f"""
WITH covered AS (/*covered*/), kids AS (
    SELECT household_id, count(*) AS n FROM child GROUP BY household_id
)
SELECT h.id, h.geom, c.id AS cell_id, c.village_id, c.township_id, c.county_id,
       COALESCE(k.n, 0) AS children, cv.id IS NOT NULL AS covered
  FROM unit c JOIN household h ON h.cell_id = c.id
  LEFT JOIN kids k ON k.household_id = h.id
  LEFT JOIN covered cv ON cv.id = h.id
 WHERE c.level = 'cell' AND {CELL_IN_SCOPE}
"""
_REACH = _REACH_OF.replace("/*covered*/", _COVERED)


def reach_of(rules: dict, facility_type: str, reach_m: float | None = None) -> float:
    if facility_type not in vocab.FACILITY_TYPES:
        raise InvalidInput(f"unknown facility type {facility_type} "
                           f"(one of {', '.join(vocab.FACILITY_TYPES)})", field="type")
    if reach_m is None:
        reach_m = rules["service_reach_m"].get(facility_type)
    if reach_m is None:
        raise InvalidInput(f"no service reach configured for {facility_type}; give reach_m",
                           field="reach_m")
    reach_m = float(reach_m)
    if not 0 < reach_m <= 200_000:
        raise InvalidInput(f"reach_m must be above 0 and at most 200000, not {reach_m:g}",
                           field="reach_m")
    return reach_m


def _reach_params(conn: Connection, rules: dict, facility_type: str, reach: float,
                  reach_m: float | None) -> tuple[str, dict]:
    """The reach SQL and its parameters: one radius when ``reach_m`` is given or every
    county keeps the shared one, else each household's county's own radius."""
    if reach_m is not None:
        return _REACH, {}
    own = json.loads(by_county(conn, rules, "service_reach_m", facility_type))
    if not own:
        return _REACH, {}
    return _REACH_OF.replace("/*covered*/", _COVERED_BY_COUNTY), {
        "reach_by_county": json.dumps(own), "reach_max": max([reach, *map(float, own.values())])}


def reach_by_county(conn: Connection, rules: dict, facility_type: str) -> dict[str, float]:
    """County code -> reach of ``facility_type`` for the counties whose reach differs
    from the shared one."""
    return {code: float(own["service_reach_m"][facility_type])
            for code, own in own_counties(conn, rules).values()
            if own["service_reach_m"].get(facility_type)
            != rules["service_reach_m"].get(facility_type)}


def blind_spots(conn: Connection, rules: dict, facility_type: str, *,
                reach_m: float | None = None, unit: str | None = None) -> dict:
    """Households and children beyond reach of any facility of ``facility_type``, per
    cell, village and township, and the blind-spot area: the union of the cells with
    children beyond reach, as GeoJSON."""
    reach = reach_of(rules_for_code(conn, rules, unit), facility_type, reach_m)
    cells = coverage_cells(conn, rules, facility_type, reach_m=reach_m, unit=unit)
    area = conn.execute(sa.text(
        "SELECT ST_AsGeoJSON(ST_Union(geom), 6) AS gj, "
        "COALESCE(sum(ST_Area(geom::geography)), 0) / 1e6 AS km2 "
        "FROM unit WHERE id = ANY(:ids)"),
        {"ids": [c["cell_id"] for c in cells if c["uncovered_children"] > 0]}).mappings().one()
    totals = {k: sum(c[k] for c in cells) for k in
              ("households", "uncovered_households", "children", "uncovered_children")}
    return {
        "facility_type": facility_type, "reach_m": reach, "distance": "straight",
        **({} if reach_m is not None else
           {"reach_m_by_county": reach_by_county(conn, rules, facility_type)}),
        "totals": totals,
        "cells": [c for c in cells if c["uncovered_children"] or c["uncovered_households"]],
        "villages": _rollup(conn, cells, "village_id"),
        "townships": _rollup(conn, cells, "township_id"),
        "area": {"km2": round(area["km2"], 3),
                 "geometry": json.loads(area["gj"]) if area["gj"] else None},
    }


def coverage_cells(conn: Connection, rules: dict, facility_type: str, *,
                   reach_m: float | None = None, unit: str | None = None) -> list[dict]:
    """Per cell with households in ``unit``: households, children, and those beyond reach
    of ``facility_type``, with the cell's village and township."""
    reach = reach_of(rules_for_code(conn, rules, unit), facility_type, reach_m)
    reach_sql, extra = _reach_params(conn, rules, facility_type, reach, reach_m)
    params = {"type": facility_type, "reach": reach, "unit_id": unit_id(conn, unit), **extra}
    sql = f"""
        WITH r AS MATERIALIZED ({reach_sql}),
        per_cell AS (
            SELECT cell_id, village_id, township_id,
                   count(*) AS households,
                   count(*) FILTER (WHERE NOT covered) AS uncovered_households,
                   sum(children) AS children,
                   sum(children) FILTER (WHERE NOT covered) AS uncovered_children
              FROM r GROUP BY cell_id, village_id, township_id
        )
        SELECT p.*, u.code, u.name FROM per_cell p JOIN unit u ON u.id = p.cell_id
         ORDER BY u.code
    """
    cells = []
    for row in conn.execute(sa.text(sql), params).mappings():
        item = dict(row)
        item["children"] = int(item["children"] or 0)
        item["uncovered_children"] = int(item["uncovered_children"] or 0)
        cells.append(item)
    return cells


def people_cells(conn: Connection, unit: str | None = None) -> list[dict]:
    """Per cell with households in ``unit``: households and children (the same figures
    as :func:`coverage_cells`, without a facility type)."""
    sql = f"""
        SELECT c.id AS cell_id, c.village_id, c.township_id, count(*) AS households,
               COALESCE(sum(k.n), 0)::int AS children
          FROM unit c JOIN household h ON h.cell_id = c.id
          LEFT JOIN (SELECT household_id, count(*) AS n FROM child GROUP BY household_id) k
            ON k.household_id = h.id
         WHERE c.level = 'cell' AND {CELL_IN_SCOPE}
         GROUP BY c.id ORDER BY c.code
    """
    return [dict(r) for r in conn.execute(sa.text(sql), {"unit_id": unit_id(conn, unit)})
            .mappings()]


def _rollup(conn: Connection, cells: list[dict], key: str) -> list[dict]:
    out: dict[int, dict] = {}
    for c in cells:
        agg = out.setdefault(c[key], {"unit_id": c[key], "households": 0,
                                      "uncovered_households": 0, "children": 0,
                                      "uncovered_children": 0})
        for k in ("households", "uncovered_households", "children", "uncovered_children"):
            agg[k] += c[k]
    names = {r.id: (r.code, r.name) for r in conn.execute(
        sa.text("SELECT id, code, name FROM unit WHERE id = ANY(:ids)"), {"ids": list(out)})}
    for agg in out.values():
        agg["code"], agg["name"] = names[agg["unit_id"]]
    return sorted(out.values(), key=lambda r: r["code"])


def cells_without_worker(conn: Connection, unit: str | None = None) -> list[dict]:
    """Cells with children and no active grid worker assigned to the cell or above it."""
    sql = f"""
        SELECT c.id AS cell_id, c.code, c.name, count(ch.id) AS children
          FROM unit c
          JOIN household h ON h.cell_id = c.id
          JOIN child ch ON ch.household_id = h.id
         WHERE c.level = 'cell' AND {CELL_IN_SCOPE}
           AND NOT EXISTS (
               SELECT 1 FROM worker_unit wu JOIN worker w ON w.id = wu.worker_id
                WHERE w.role = 'grid_worker' AND w.active
                  AND {STAFFED_BY})
         GROUP BY c.id ORDER BY c.code
    """
    return [dict(r) for r in conn.execute(sa.text(sql), {"unit_id": unit_id(conn, unit)})
            .mappings()]


def caseloads(conn: Connection, rules: dict, unit: str | None = None,
              over_only: bool = False) -> list[dict]:
    """Children per active grid worker (through the units they are assigned to), with
    the configured limit; ``over_only`` keeps workers above it."""
    sql = f"""
        SELECT w.id AS worker_id, w.name, w.unit_id, count(DISTINCT ch.id) AS children,
               count(DISTINCT c.id) AS cells, {LIMIT_OF_CELLS} AS limit
          FROM worker w
          JOIN worker_unit wu ON wu.worker_id = w.id
          JOIN unit c ON c.level = 'cell' AND {STAFFED_BY}
          LEFT JOIN household h ON h.cell_id = c.id
          LEFT JOIN child ch ON ch.household_id = h.id
         WHERE w.role = 'grid_worker' AND w.active AND {CELL_IN_SCOPE}
         GROUP BY w.id
        HAVING NOT :over_only OR count(DISTINCT ch.id) > {LIMIT_OF_CELLS}
         ORDER BY count(DISTINCT ch.id) DESC, w.id
    """
    limit = int(rules["caseload_limit"])
    rows = conn.execute(sa.text(sql), {"unit_id": unit_id(conn, unit), "limit": limit,
                         "limits": by_county(conn, rules, "caseload_limit"),
                         "over_only": over_only}).mappings()
    return [{**dict(r), "over_limit": r["children"] > r["limit"]} for r in rows]


def villages_without(conn: Connection, facility_type: str = "children_home",
                     unit: str | None = None) -> list[dict]:
    """Villages with no facility of ``facility_type`` inside them."""
    reach_of({"service_reach_m": {facility_type: 1}}, facility_type)  # validates the type
    sql = f"""
        SELECT v.id AS village_id, v.code, v.name,
               (SELECT count(*) FROM child ch JOIN household h ON h.id = ch.household_id
                  JOIN unit c ON c.id = h.cell_id WHERE c.village_id = v.id) AS children
          FROM unit v
         WHERE v.level = 'village'
           AND {in_scope_sql('v', 'unit_id', everything_when_null=True)}
           AND NOT EXISTS (SELECT 1 FROM facility f JOIN unit c ON c.id = f.unit_id
                            WHERE f.type = :type AND c.village_id = v.id)
         ORDER BY v.code
    """
    return [dict(r) for r in conn.execute(sa.text(sql), {
        "unit_id": unit_id(conn, unit), "type": facility_type}).mappings()]


def suggest_sites(conn: Connection, rules: dict, facility_type: str, k: int = 3, *,
                  candidates: list[tuple[float, float]] | None = None,
                  reach_m: float | None = None, unit: str | None = None) -> dict:
    """Greedy maximal covering: the ``k`` candidate sites (cell points on surface, or
    the given lon/lat points) that together reach the most children who are beyond
    reach today; each site reports the children it adds."""
    reach = reach_of(rules_for_code(conn, rules, unit), facility_type, reach_m)
    try:
        k = int(k)
    except (TypeError, ValueError):
        raise InvalidInput("k must be a whole number", field="k") from None
    if not 1 <= k <= MAX_SITES:
        raise InvalidInput(f"k must be between 1 and {MAX_SITES}, not {k}", field="k")
    reach_sql, extra = _reach_params(conn, rules, facility_type, reach, reach_m)
    params = {"type": facility_type, "reach": reach, "unit_id": unit_id(conn, unit), **extra}
    gap = conn.execute(sa.text(
        f"SELECT id, ST_X(geom) AS lon, ST_Y(geom) AS lat, children, county_id "
        f"FROM ({reach_sql}) r "
        f"WHERE NOT covered AND children > 0 ORDER BY id"), params).all()
    if candidates:
        cand = [(None, None, *check_point(conn, x, y)) for x, y in candidates]
    else:
        cand = conn.execute(sa.text(
            f"SELECT c.code, c.name, ST_X(p) AS lon, ST_Y(p) AS lat FROM unit c, "
            f"LATERAL ST_PointOnSurface(c.geom) p WHERE c.level = 'cell' AND {CELL_IN_SCOPE} "
            f"ORDER BY c.code"), params).all()
    children = np.array([g.children for g in gap], dtype=float)
    # Each household beyond reach by its own county's radius (rules.counties).
    own = json.loads(extra.get("reach_by_county", "{}"))
    radius = np.array([float(own.get(str(g.county_id), reach)) for g in gap])
    points = np.array([(c[2], c[3]) for c in cand]).reshape(-1, 2)
    found = [(ic, np.flatnonzero(radius == r)[ih]) for r in np.unique(radius)
             for ic, ih in [pairs_within(points, np.array(
                 [(g.lon, g.lat) for g, rr in zip(gap, radius, strict=True) if rr == r]
             ).reshape(-1, 2), float(r))]]
    ic = np.concatenate([f[0] for f in found]) if found else np.empty(0, dtype=int)
    ih = np.concatenate([f[1] for f in found]) if found else np.empty(0, dtype=int)
    taken = np.zeros(len(gap), dtype=bool)
    sites = []
    for _ in range(k):
        open_ = ~taken[ih]
        gains = np.bincount(ic[open_], weights=children[ih[open_]], minlength=len(cand))
        if len(gains) == 0 or gains.max() <= 0:
            break
        best = int(np.argmax(gains))  # ties go to the first candidate
        new = ih[(ic == best) & open_]
        taken[new] = True
        code, name, lon, lat = cand[best]
        sites.append({"lon": lon, "lat": lat, "cell_code": code, "cell_name": name,
                      "children_added": int(gains[best]), "households_added": len(new)})
    before = int(children.sum())
    covered = sum(s["children_added"] for s in sites)
    return {"facility_type": facility_type, "reach_m": reach, "distance": "straight",
            "uncovered_children_before": before, "children_reached": covered,
            "uncovered_children_after": before - covered, "sites": sites}

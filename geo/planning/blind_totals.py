"""The totals of :func:`geo.planning.coverage.blind_spots` (children, and children beyond
reach, of a unit) for several facility types at once, for the monthly report.

``blind_spots`` finds coverage from the facilities' side: every (facility, household)
pair within reach, geodesic, in SQL. The pairs grow with households times facilities
in reach of each (a 15 km rescue station reaches a whole district), so at the issue's
size (bench/city.py --scale 8.5) the report spent minutes there. Here each household
is read once (its point, its county and its children) and each type's facilities are
put in an STRtree in a local azimuthal equidistant projection: a household whose
nearest facility lies clearly inside (or clearly outside) its reach is settled by the
planar distance; those within :data:`geo.planning.reach.SLACK` of the reach are settled
by the exact geodesic on the WGS84 ellipsoid (pyproj.Geod), as ``ST_DWithin`` on
geography does. The same households (cells of the scope), the same children (every
child row of the household) and the same reach per household (its county's own, else
the scope's) as ``blind_spots``.
"""

from __future__ import annotations

import json

import numpy as np
import shapely
import sqlalchemy as sa
from pyproj import Transformer
from sqlalchemy.engine import Connection

from geo.local_rules import by_county, rules_for_code
from geo.planning.coverage import reach_of
from geo.planning.reach import GEOD, SLACK
from geo.scope import CELL_IN_SCOPE, county_codes, unit_id

# Households of the scope's cells with their county and children (a child's county is
# its household's, kept by the triggers of migration 0018: naming the scope's counties
# lets the planner read only their partitions).
_HOUSEHOLDS = f"""
    SELECT ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat, c.county_id, COALESCE(k.n, 0) AS n
      FROM unit c JOIN household h ON h.cell_id = c.id
      LEFT JOIN (SELECT household_id, count(*) AS n FROM child
                  WHERE CAST(:counties AS varchar[]) IS NULL
                     OR county_code = ANY(CAST(:counties AS varchar[]))
                  GROUP BY household_id) k ON k.household_id = h.id
     WHERE c.level = 'cell' AND {CELL_IN_SCOPE}
       AND (CAST(:counties AS varchar[]) IS NULL
            OR h.county_code = ANY(CAST(:counties AS varchar[])))
"""


def _covered(points: np.ndarray, lon: np.ndarray, lat: np.ndarray, fx: np.ndarray,
             fy: np.ndarray, flon: np.ndarray, flat: np.ndarray,
             reach: np.ndarray) -> np.ndarray:
    """Per household (``points``: projected; ``lon``, ``lat``): is any facility within
    its ``reach`` (metres, geodesic)?"""
    covered = np.zeros(len(points), dtype=bool)
    if len(fx) == 0 or len(points) == 0:
        return covered
    tree = shapely.STRtree(shapely.points(fx, fy))
    found, near = tree.query_nearest(points, return_distance=True, all_matches=False)
    dist = np.full(len(points), np.inf)   # a household without a point is beyond reach
    dist[found[0]] = near
    covered[dist <= reach * (1 - SLACK)] = True
    unsure = np.flatnonzero((dist > reach * (1 - SLACK)) & (dist <= reach * (1 + SLACK)))
    if len(unsure):
        ia, ib = tree.query(points[unsure], predicate="dwithin",
                            distance=float(reach[unsure].max() * (1 + SLACK)))
        households = unsure[ia]
        _, _, d = GEOD.inv(lon[households], lat[households], flon[ib], flat[ib])
        covered[households[d <= reach[households]]] = True
    return covered


def blind_totals(conn: Connection, rules: dict, facility_types: list[str],
                 unit: str | None = None) -> dict[str, dict]:
    """Facility type -> ``{"children", "uncovered_children"}`` in ``unit``: the
    ``totals`` of ``blind_spots(conn, rules, type, unit=unit)`` for those two keys."""
    scope_id = unit_id(conn, unit)
    counties = county_codes(conn, scope_id) if scope_id is not None else None
    rows = conn.execute(sa.text(_HOUSEHOLDS), {"unit_id": scope_id,
                                               "counties": counties}).all()
    # One float array (a household without a point: NaN, beyond every reach).
    table = np.array([tuple(r) for r in rows], dtype=float).reshape(-1, 4)
    lon, lat = table[:, 0], table[:, 1]
    county = np.nan_to_num(table[:, 2], nan=-1).astype(np.int64)
    kids = table[:, 3].astype(np.int64)
    local = rules_for_code(conn, rules, unit)
    facilities = conn.execute(sa.text(
        "SELECT type, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM facility "
        "WHERE type = ANY(:types)"), {"types": list(facility_types)}).all()
    every = np.vstack([np.column_stack([lon, lat]),
                       np.array([[f.lon, f.lat] for f in facilities], dtype=float)
                       .reshape(-1, 2)])
    out = {}
    if len(every):
        lon0, lat0 = every.mean(axis=0)
        proj = Transformer.from_crs(
            "EPSG:4326", f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m",
            always_xy=True)
        points = shapely.points(*proj.transform(lon, lat))
    for ftype in facility_types:
        reach = reach_of(local, ftype)
        own = {int(k): v for k, v in json.loads(
            by_county(conn, rules, "service_reach_m", ftype)).items() if v is not None}
        per = np.full(len(lon), reach, dtype=float)
        for cid, metres in own.items():
            per[county == cid] = float(metres)
        mine = [f for f in facilities if f.type == ftype]
        flon = np.array([f.lon for f in mine], dtype=float)
        flat = np.array([f.lat for f in mine], dtype=float)
        if len(mine) and len(lon):
            fx, fy = proj.transform(flon, flat)
            covered = _covered(points, lon, lat, np.asarray(fx), np.asarray(fy), flon, flat,
                               per)
        else:
            covered = np.zeros(len(lon), dtype=bool)
        out[ftype] = {"children": int(kids.sum()),
                      "uncovered_children": int(kids[~covered].sum())}
    return out

"""The road network: import a line layer, and road distances with pgRouting.

Import (``gridmap roads import FILE``) reads any line layer pyogrio can (an OSM-derived
GeoPackage or Shapefile is the normal source), splits lines where they share a vertex
(junctions), builds the vertex table and the edge costs in metres, all in one
transaction that replaces the previous network.

Road distance between two points is: the geodesic hop from each point to its nearest
road vertex, plus the shortest path between those vertices (``pgr_dijkstraCostMatrix``
/ ``pgr_dijkstraCost``). Points whose vertices are not connected get ``inf``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyogrio
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from geo.errors import InvalidInput

# Edges within this many degrees of the points' bounding box take part in a search.
SEARCH_MARGIN_DEG = 0.15

_SPLIT = """
CREATE TEMP TABLE road_cut ON COMMIT DROP AS
WITH pts AS (
    SELECT r.id, (ST_DumpPoints(r.geom)).geom AS p FROM road_raw r
), shared AS (
    SELECT p FROM pts GROUP BY p HAVING count(DISTINCT id) > 1
), cut AS (
    SELECT r.id, r.name, r.kind, r.oneway,
           (ST_Dump(CASE WHEN count(s.p) = 0 THEN r.geom
                         ELSE ST_Split(r.geom, ST_Collect(s.p)) END)).geom AS geom
      FROM road_raw r LEFT JOIN shared s ON ST_Intersects(r.geom, s.p)
     GROUP BY r.id, r.name, r.kind, r.oneway, r.geom
)
SELECT row_number() OVER (ORDER BY id) AS id, geom, name, kind, oneway
  FROM cut WHERE ST_Length(geom) > 0
"""

_VERTICES = """
INSERT INTO road_vertex (id, geom)
SELECT row_number() OVER (ORDER BY p), p FROM (
    SELECT ST_StartPoint(geom) AS p FROM road_cut
     UNION SELECT ST_EndPoint(geom) FROM road_cut) v
"""

_EDGES = """
INSERT INTO road (id, geom, name, kind, oneway, length_m, source, target, cost, reverse_cost)
SELECT c.id, c.geom, c.name, c.kind, c.oneway, ST_Length(c.geom::geography), s.id, t.id,
       ST_Length(c.geom::geography),
       CASE WHEN c.oneway THEN -1 ELSE ST_Length(c.geom::geography) END
  FROM road_cut c
  JOIN road_vertex s ON s.geom = ST_StartPoint(c.geom)
  JOIN road_vertex t ON t.geom = ST_EndPoint(c.geom)
"""


def has_pgrouting(conn: Connection) -> bool:
    return bool(conn.execute(sa.text(
        "SELECT 1 FROM pg_extension WHERE extname = 'pgrouting'")).first())


def has_roads(conn: Connection) -> bool:
    """pgRouting is installed and a road network is loaded (one round trip: it is asked
    on every nearest-facility search)."""
    return bool(conn.execute(sa.text(f"SELECT {HAS_ROADS}")).scalar())


# The test of has_roads, for callers that ask it within another query.
HAS_ROADS = ("(EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgrouting') "
             "AND EXISTS (SELECT 1 FROM road))")


def import_roads(bind: Engine | Connection, path: str | Path, *, name_field: str | None = None,
                 kind_field: str | None = None, oneway_field: str | None = None) -> dict:
    """Replace the road network with the lines in ``path``; returns counts."""
    try:
        gdf = pyogrio.read_dataframe(path)
    except Exception as exc:  # pyogrio raises several error types for unreadable files
        raise InvalidInput(f"cannot read {path}: {exc}", field="file") from exc
    for field in (name_field, kind_field, oneway_field):
        if field and field not in gdf.columns:
            raise InvalidInput(f"{path}: no field {field}", field=field)
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    rows = []
    for i, rec in enumerate(gdf.itertuples(index=False), start=1):
        geom = rec.geometry
        if geom is None or geom.is_empty:
            continue
        if geom.geom_type not in ("LineString", "MultiLineString"):
            raise InvalidInput(f"feature {i}: a {geom.geom_type}, not a line", field="geometry")
        rec = rec._asdict()
        oneway = str(rec.get(oneway_field, "")).lower() in ("yes", "true", "1", "t")
        for part in shapely.get_parts(shapely.force_2d(geom)):
            rows.append({"geom": shapely.to_wkb(part, hex=True),
                         "name": rec.get(name_field) if name_field else None,
                         "kind": rec.get(kind_field) if kind_field else None,
                         "oneway": oneway and bool(oneway_field)})
    if not rows:
        raise InvalidInput(f"{path}: no lines to import", field="file")
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            return _load(conn, rows)
    with bind.begin_nested():
        return _load(bind, rows)


def _load(conn: Connection, rows: list[dict]) -> dict:
    if not has_pgrouting(conn):
        raise InvalidInput("pgRouting is not installed in this database "
                           "(Debian: postgresql-15-pgrouting)", field="file")
    conn.execute(sa.text("DROP TABLE IF EXISTS road_raw"))
    conn.execute(sa.text(
        "CREATE TEMP TABLE road_raw (id serial, geom geometry(LineString, 4326), name text, "
        "kind text, oneway boolean)"))
    conn.execute(sa.text(
        "INSERT INTO road_raw (geom, name, kind, oneway) VALUES (ST_SetSRID(ST_GeomFromWKB("
        "decode(:geom, 'hex')), 4326), :name, :kind, :oneway)"), rows)
    conn.execute(sa.text("DELETE FROM road"))
    conn.execute(sa.text("DELETE FROM road_vertex"))
    conn.execute(sa.text("DROP TABLE IF EXISTS road_cut"))
    conn.execute(sa.text(_SPLIT))
    conn.execute(sa.text(_VERTICES))
    conn.execute(sa.text(_EDGES))
    conn.execute(sa.text("DROP TABLE road_raw"))
    conn.execute(sa.text("DROP TABLE road_cut"))
    stats = conn.execute(sa.text(
        "SELECT count(*) AS edges, COALESCE(sum(length_m), 0) / 1000 AS km, "
        "(SELECT count(*) FROM road_vertex) AS vertices FROM road")).mappings().one()
    return {"lines": len(rows), "edges": stats["edges"], "vertices": stats["vertices"],
            "length_km": round(stats["km"], 2)}


def _snap(conn: Connection, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest road vertex of each point and the geodesic metres to it."""
    rows = conn.execute(sa.text(
        """
        SELECT v.id, ST_Distance(v.geom::geography, p.g) AS d
          FROM (SELECT i, ST_SetSRID(ST_MakePoint(x, y), 4326)::geography AS g
                  FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[]))
                       WITH ORDINALITY AS t(x, y, i)) p
          CROSS JOIN LATERAL (SELECT id, geom FROM road_vertex
                               ORDER BY geom::geography <-> p.g LIMIT 1) v
         ORDER BY p.i
        """), {"xs": [float(x) for x in points[:, 0]],
               "ys": [float(y) for y in points[:, 1]]}).all()
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows], dtype=float)


def _edges_sql(points: np.ndarray) -> str:
    minx, miny = points.min(axis=0) - SEARCH_MARGIN_DEG
    maxx, maxy = points.max(axis=0) + SEARCH_MARGIN_DEG
    return ("SELECT id, source, target, cost, reverse_cost FROM road WHERE geom && "
            f"ST_MakeEnvelope({minx:.6f}, {miny:.6f}, {maxx:.6f}, {maxy:.6f}, 4326)")


def road_matrix(conn: Connection, points: np.ndarray) -> np.ndarray:
    """(n, n) road distances in metres between lon/lat ``points`` (inf: unreachable)."""
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    vids, hop = _snap(conn, points)
    unique = sorted(set(int(v) for v in vids))
    cost: dict[tuple[int, int], float] = {}
    if len(unique) > 1:
        for s, t, c in conn.execute(sa.text(
                "SELECT start_vid, end_vid, agg_cost FROM pgr_dijkstraCostMatrix("
                ":edges, CAST(:vids AS bigint[]), directed => true)"),
                {"edges": _edges_sql(points), "vids": unique}):
            cost[(s, t)] = c
    n = len(points)
    out = np.full((n, n), np.inf)
    for i in range(n):
        for j in range(n):
            if i == j:
                out[i, j] = 0.0
            elif vids[i] == vids[j]:
                out[i, j] = hop[i] + hop[j]
            elif (vids[i], vids[j]) in cost:
                out[i, j] = hop[i] + cost[(vids[i], vids[j])] + hop[j]
    return out


def road_distances_from(conn: Connection, origin: tuple[float, float],
                        targets: np.ndarray) -> np.ndarray:
    """Road metres from ``origin`` to each lon/lat target (inf: unreachable)."""
    targets = np.asarray(targets, dtype=float).reshape(-1, 2)
    if len(targets) == 0:
        return np.empty(0)
    points = np.vstack([np.asarray(origin, dtype=float).reshape(1, 2), targets])
    vids, hop = _snap(conn, points)
    ends = sorted(set(int(v) for v in vids[1:]) - {int(vids[0])})
    cost: dict[int, float] = {}
    if ends:
        for t, c in conn.execute(sa.text(
                "SELECT end_vid, agg_cost FROM pgr_dijkstraCost(:edges, CAST(:start AS bigint), "
                "CAST(:ends AS bigint[]), directed => true)"),
                {"edges": _edges_sql(points), "start": int(vids[0]), "ends": ends}):
            cost[t] = c
    cost[int(vids[0])] = 0.0
    return np.array([hop[0] + cost[int(v)] + h if int(v) in cost else np.inf
                     for v, h in zip(vids[1:], hop[1:], strict=True)])


class RoadNetwork:
    """A distance source over the loaded road network (see geo.routing)."""

    kind = "road"

    def __init__(self, conn: Connection):
        self.conn = conn

    def matrix(self, points: np.ndarray) -> np.ndarray:
        return road_matrix(self.conn, points)

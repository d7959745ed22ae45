"""Plausible administrative polygons inside a real boundary, for when the real ones are
not public: a Voronoi partition of seeded points, smoothed by Lloyd relaxation and
clipped to the boundary. The pieces cover the boundary exactly and do not overlap.

Seeds and relaxation work in a local azimuthal equidistant projection (metres) so shapes
are not stretched by latitude; the final clip is done in lon/lat so the pieces cover
the original polygon exactly.

>>> from shapely.geometry import box
>>> pieces = partition(box(101.5, 26.5, 101.6, 26.6), 5, seed=1)
>>> len(pieces)
5
"""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry


def _local(geom: BaseGeometry) -> tuple[Transformer, Transformer]:
    c = geom.centroid
    proj = f"+proj=aeqd +lat_0={c.y} +lon_0={c.x} +datum=WGS84 +units=m"
    fwd = Transformer.from_crs("EPSG:4326", proj, always_xy=True)
    inv = Transformer.from_crs(proj, "EPSG:4326", always_xy=True)
    return fwd, inv


def _apply(geom: BaseGeometry, transformer: Transformer) -> BaseGeometry:
    def f(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, f)


def random_points_in(polygon: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform random points inside ``polygon`` as an (n, 2) array (rejection)."""
    minx, miny, maxx, maxy = polygon.bounds
    shapely.prepare(polygon)
    out = np.empty((0, 2))
    box_area = (maxx - minx) * (maxy - miny)
    ratio = max(polygon.area / box_area, 0.01) if box_area > 0 else 1.0
    while len(out) < n:
        k = int((n - len(out)) / ratio * 1.3) + 16
        pts = np.column_stack([rng.uniform(minx, maxx, k), rng.uniform(miny, maxy, k)])
        out = np.vstack([out, pts[shapely.contains_xy(polygon, pts[:, 0], pts[:, 1])]])
    return out[:n]


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return shapely.Polygon()
    merged = shapely.union_all(parts) if len(parts) > 1 else parts[0]
    return merged


def _regions(area: BaseGeometry, seeds: np.ndarray) -> list[BaseGeometry]:
    """Voronoi regions of ``seeds`` (unclipped, padded past ``area``), in seed order."""
    points = shapely.multipoints(seeds)
    minx, miny, maxx, maxy = area.bounds
    pad = max(maxx - minx, maxy - miny)
    envelope = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    regions = shapely.get_parts(shapely.voronoi_polygons(points, extend_to=envelope))
    # voronoi_polygons does not keep the input order: match regions to seeds.
    tree = shapely.STRtree(regions)
    seed_idx, region_idx = tree.query(shapely.points(seeds), predicate="intersects")
    order = np.full(len(seeds), -1)
    for s, r in zip(seed_idx, region_idx, strict=True):
        if order[s] < 0:
            order[s] = r
    return [regions[r] for r in order]


def _cells(area: BaseGeometry, seeds: np.ndarray) -> list[BaseGeometry]:
    shapely.prepare(area)
    return [shapely.intersection(r, area) for r in _regions(area, seeds)]


def partition(polygon: BaseGeometry, n: int, seed: int, relax: int = 2,
              weights_point: tuple[float, float] | None = None) -> list[BaseGeometry]:
    """Split ``polygon`` (lon/lat) into ``n`` pieces; deterministic for a seed.

    ``weights_point`` (lon, lat) draws seeds towards a point (a town centre), making
    pieces smaller there, as urban units are.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    if n == 1:
        return [polygon]
    rng = np.random.default_rng(seed)
    fwd, inv = _local(polygon)
    area = _apply(polygon, fwd)
    seeds = random_points_in(area, n, rng)
    if weights_point is not None:
        cx, cy = fwd.transform(*weights_point)
        pull = rng.uniform(0.2, 0.9, (n, 1))
        candidates = seeds * pull + np.array([cx, cy]) * (1 - pull)
        inside = shapely.contains_xy(area, candidates[:, 0], candidates[:, 1])
        seeds[inside] = candidates[inside]
    for _ in range(relax):
        pieces = _cells(area, seeds)
        centroids = np.array([[p.centroid.x, p.centroid.y] if not p.is_empty else s
                              for p, s in zip(pieces, seeds, strict=True)])
        # Keep a centroid only when it falls inside the area (concave boundaries).
        ok = shapely.contains_xy(area, centroids[:, 0], centroids[:, 1])
        seeds = np.where(ok[:, None], centroids, seeds)
    # Clip in lon/lat: the regions tile the plane with shared vertices, and still do
    # after the inverse projection, so the pieces cover the polygon exactly.
    shapely.prepare(polygon)
    return [_polygonal(shapely.intersection(_apply(r, inv), polygon))
            for r in _regions(area, seeds)]

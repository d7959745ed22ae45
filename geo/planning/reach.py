"""Which pairs of points lie within a distance of each other, geodesically exact.

A local azimuthal equidistant projection and an STRtree find candidate pairs quickly;
pairs whose planar distance is within a hair of the reach are settled by the exact
geodesic on the WGS84 ellipsoid (pyproj.Geod), so the answer matches PostGIS's
``ST_DWithin`` on geography.

>>> a = np.array([[101.70, 26.50]]); b = np.array([[101.71, 26.50], [101.80, 26.50]])
>>> pairs_within(a, b, 2000)
(array([0]), array([0]))
"""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import Geod, Transformer

GEOD = Geod(ellps="WGS84")
# Planar distances in the local projection are within this relative error of the
# geodesic over a county or city; pairs nearer the threshold than this are checked.
SLACK = 2e-3


def pairs_within(a: np.ndarray, b: np.ndarray, reach_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices (ia, ib) of every pair of lon/lat points a[ia], b[ib] at most ``reach_m``
    metres apart."""
    if len(a) == 0 or len(b) == 0:
        return np.empty(0, dtype=int), np.empty(0, dtype=int)
    both = np.vstack([a, b])
    lon0, lat0 = both.mean(axis=0)
    proj = Transformer.from_crs(
        "EPSG:4326", f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m",
        always_xy=True)
    ax, ay = proj.transform(a[:, 0], a[:, 1])
    bx, by = proj.transform(b[:, 0], b[:, 1])
    tree = shapely.STRtree(shapely.points(bx, by))
    ia, ib = tree.query(shapely.points(ax, ay), predicate="dwithin",
                        distance=reach_m * (1 + SLACK))
    planar = np.hypot(ax[ia] - bx[ib], ay[ia] - by[ib])
    sure = planar <= reach_m * (1 - SLACK)
    check = ~sure
    if check.any():
        _, _, d = GEOD.inv(a[ia[check], 0], a[ia[check], 1], b[ib[check], 0], b[ib[check], 1])
        ok = sure.copy()
        ok[check] = d <= reach_m
    else:
        ok = sure
    return ia[ok], ib[ok]

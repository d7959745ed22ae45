"""Where route distances come from: one small interface, two sources.

``StraightLine`` is the geodesic on the WGS84 ellipsoid times a circuity factor (roads
are not straight); ``geo.grid.roads.RoadNetwork`` asks pgRouting for real road distances.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from pyproj import Geod

GEOD = Geod(ellps="WGS84")


class DistanceSource(Protocol):
    kind: str

    def matrix(self, points: np.ndarray) -> np.ndarray:
        """(n, n) metres between lon/lat ``points``; ``inf`` where unreachable."""


class StraightLine:
    kind = "straight"

    def __init__(self, circuity: float = 1.3):
        if circuity < 1:
            raise ValueError(f"circuity must be at least 1, not {circuity}")
        self.circuity = circuity

    def matrix(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=float).reshape(-1, 2)
        n = len(points)
        i, j = np.triu_indices(n, k=1)
        _, _, d = GEOD.inv(points[i, 0], points[i, 1], points[j, 0], points[j, 1])
        out = np.zeros((n, n))
        out[i, j] = out[j, i] = d * self.circuity
        return out

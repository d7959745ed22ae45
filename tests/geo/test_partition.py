"""Generated polygons cover their parent exactly and do not overlap."""

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon

from geo.grid.partition import partition, random_points_in

# A concave, county-sized shape (about 60 km across at 26.5° N).
PARENT = Polygon([(101.4, 26.2), (101.95, 26.25), (101.9, 26.75), (101.65, 26.45),
                  (101.45, 26.7)])


@pytest.mark.parametrize("n", [2, 14, 90])
def test_pieces_cover_without_overlap(n):
    pieces = partition(PARENT, n, seed=3)
    assert len(pieces) == n
    assert all(p.is_valid and not p.is_empty for p in pieces)
    assert shapely.union_all(pieces).symmetric_difference(PARENT).area < 1e-9 * PARENT.area
    assert sum(p.area for p in pieces) == pytest.approx(PARENT.area, rel=1e-9)
    tree = shapely.STRtree(pieces)
    left, right = tree.query(pieces, predicate="intersects")
    overlap = sum(pieces[i].intersection(pieces[j]).area
                  for i, j in zip(left, right, strict=True) if i < j)
    assert overlap < 1e-12


def test_deterministic_per_seed():
    a = partition(PARENT, 10, seed=5)
    b = partition(PARENT, 10, seed=5)
    c = partition(PARENT, 10, seed=6)
    assert all(x.equals_exact(y, 0) for x, y in zip(a, b, strict=True))
    assert not all(x.equals_exact(y, 1e-9) for x, y in zip(a, c, strict=True))


def test_random_points_inside():
    pts = random_points_in(PARENT, 500, np.random.default_rng(1))
    assert pts.shape == (500, 2)
    assert shapely.contains_xy(PARENT, pts[:, 0], pts[:, 1]).all()

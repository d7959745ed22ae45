"""GCJ-02 / BD-09 conversions against an independent implementation (prcoords)."""

import numpy as np
import prcoords
import pytest
import shapely

from geo.grid import chinacrs


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(11)
    return rng.uniform(75, 134, 300), rng.uniform(18, 53, 300)


def _ref(func, lon, lat):
    out = np.array([func((la, lo)) for lo, la in zip(lon, lat, strict=True)])
    return out[:, 1], out[:, 0]


def test_wgs84_to_gcj02_matches_prcoords(points):
    lon, lat = points
    got = chinacrs.wgs84_to_gcj02(lon, lat)
    want = _ref(prcoords.wgs_gcj, lon, lat)
    assert np.allclose(got, want, atol=1e-9, rtol=0)


def test_gcj02_inverse_matches_prcoords_and_round_trips(points):
    lon, lat = points
    glon, glat = chinacrs.wgs84_to_gcj02(lon, lat)
    back = chinacrs.gcj02_to_wgs84(glon, glat)
    assert np.allclose(back, (lon, lat), atol=1e-9, rtol=0)
    want = _ref(prcoords.gcj_wgs_bored, glon, glat)
    assert np.allclose(back, want, atol=1e-7, rtol=0)


def test_bd09_matches_prcoords(points):
    lon, lat = points
    got = chinacrs.wgs84_to_bd09(lon, lat)
    assert np.allclose(got, _ref(prcoords.wgs_bd, lon, lat), atol=1e-9, rtol=0)
    back = chinacrs.bd09_to_wgs84(*got)
    # Within 1 m of where it started and of prcoords (1e-5 degrees is about 1 m).
    assert np.allclose(back, (lon, lat), atol=1e-5, rtol=0)
    assert np.allclose(back, _ref(prcoords.bd_wgs_bored, *got), atol=1e-5, rtol=0)


def test_known_offset_in_panzhihua():
    # In Panzhihua GCJ-02 moves points by a few hundred metres.
    from pyproj import Geod

    lon, lat = chinacrs.wgs84_to_gcj02(101.7, 26.5)
    assert isinstance(lon, float)
    _, _, metres = Geod(ellps="WGS84").inv(101.7, 26.5, lon, lat)
    assert 200 < metres < 800


def test_out_of_china_unchanged():
    assert chinacrs.wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)
    assert chinacrs.gcj02_to_wgs84(-74.0, 40.7) == (-74.0, 40.7)


def test_to_wgs84_names_bad_crs():
    assert chinacrs.to_wgs84(101.7, 26.5, "WGS84") == (101.7, 26.5)
    with pytest.raises(ValueError, match="unknown coordinate system 'utm'"):
        chinacrs.to_wgs84(101.7, 26.5, "utm")


def test_transform_geometry():
    square = shapely.box(101.7, 26.5, 101.71, 26.51)
    moved = chinacrs.transform_geometry(square, chinacrs.wgs84_to_gcj02)
    back = chinacrs.transform_geometry(moved, chinacrs.gcj02_to_wgs84)
    assert shapely.equals_exact(back, square, 1e-9)
    assert not shapely.equals_exact(moved, square, 1e-4)

"""Chinese map coordinate systems: GCJ-02 ("Mars" coordinates of Amap, Tencent and most
phones in China) and BD-09 (Baidu), to and from WGS84.

GCJ-02 is WGS84 shifted by an obfuscating function of a few hundred metres; BD-09 is a
further rotation of GCJ-02. The forward transforms are the published formulas; the
inverse of GCJ-02 has no closed form, so it is found by fixed-point iteration to better
than 1e-9 degrees. Points outside China's bounding box are returned unchanged, as
the devices that produce GCJ-02 do. Functions take scalars or numpy arrays.

>>> lon, lat = wgs84_to_gcj02(101.7, 26.5)
>>> back = gcj02_to_wgs84(lon, lat)
>>> round(float(back[0]), 7), round(float(back[1]), 7)
(101.7, 26.5)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323
_BD_K = np.pi * 3000.0 / 180.0

CRS_NAMES = ("wgs84", "gcj02", "bd09")


def out_of_china(lon, lat):
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _delta(lon, lat):
    x, y = lon - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y
            + 0.2 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def _out(lon, lat, like):
    if np.ndim(like) == 0:
        return float(lon), float(lat)
    return lon, lat


def wgs84_to_gcj02(lon, lat):
    lon0, lat0 = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _delta(lon0, lat0)
    outside = out_of_china(lon0, lat0)
    return _out(np.where(outside, lon0, lon0 + dlon), np.where(outside, lat0, lat0 + dlat), lon)


def gcj02_to_wgs84(lon, lat):
    """Exact inverse of :func:`wgs84_to_gcj02` (iterated until it stops moving)."""
    glon, glat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(30):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = np.asarray(flon) - glon, np.asarray(flat) - glat
        wlon, wlat = wlon - elon, wlat - elat
        if np.all(np.abs(elon) < 1e-12) and np.all(np.abs(elat) < 1e-12):
            break
    return _out(wlon, wlat, lon)


def gcj02_to_bd09(lon, lat):
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _BD_K)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _BD_K)
    return _out(z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006, lon)


def bd09_to_gcj02(lon, lat):
    x = np.asarray(lon, dtype=float) - 0.0065
    y = np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _BD_K)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_K)
    return _out(z * np.cos(theta), z * np.sin(theta), lon)


def bd09_to_wgs84(lon, lat):
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def wgs84_to_bd09(lon, lat):
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


_TO_WGS84: dict[str, Callable] = {
    "wgs84": lambda lon, lat: (lon, lat),
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}


def to_wgs84(lon, lat, crs: str):
    """Convert from ``crs`` ("wgs84", "gcj02" or "bd09") to WGS84."""
    try:
        func = _TO_WGS84[crs.lower()]
    except KeyError:
        raise ValueError(
            f"unknown coordinate system '{crs}' (one of {', '.join(CRS_NAMES)})") from None
    return func(lon, lat)


def transform_geometry(geom, func: Callable):
    """Apply a ``(lon, lat) -> (lon, lat)`` function to every vertex of a shapely geometry.

    >>> import shapely
    >>> g = transform_geometry(shapely.Point(101.7, 26.5), wgs84_to_gcj02)
    >>> round(g.x - 101.7, 4) != 0
    True
    """

    def apply(coords: np.ndarray) -> np.ndarray:
        lon, lat = func(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geom, apply)

"""Nearest facility equals a brute-force geodesic search over all facilities."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from pyproj import Geod

from geo.errors import InvalidInput, NotFound
from geo.facilities.nearest import nearest_facilities

GEOD = Geod(ellps="WGS84")


def brute_force(facilities: pd.DataFrame, lon, lat, k, types=None, need_bed=False,
                open_24h=False, age=None, sex=None, disability=False):
    f = facilities
    if types:
        f = f[f["type"].isin(types)]
    if need_bed:
        f = f[f["occupied"] < f["capacity"]]
    if open_24h:
        f = f[f["open_24h"]]
    if age is not None:
        f = f[(f["min_age"] <= age) & (age <= f["max_age"])]
    if sex is not None:
        f = f[f["sex_accepted"].isin(["any", sex])]
    if disability:
        f = f[f["accepts_disability"]]
    _, _, d = GEOD.inv(np.full(len(f), lon), np.full(len(f), lat), f["lon"], f["lat"])
    return f.assign(d=d).sort_values(["d", "id"]).head(k)


@pytest.fixture
def facilities(conn):
    return pd.read_sql("SELECT *, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM facility", conn)


@pytest.fixture
def points(conn):
    """Random points inside the county."""
    return conn.execute(sa.text(
        "SELECT ST_X(g), ST_Y(g) FROM (SELECT (ST_Dump(ST_GeneratePoints(geom, 40, 5))).geom g "
        "FROM unit WHERE level = 'county') p")).all()


FILTERS = [
    {},
    {"types": ["rescue_station", "designated_hospital", "welfare_home"], "need_bed": True},
    {"types": ["nursing_home"], "sex": "female", "age": 12, "need_bed": True},
    {"need_bed": True, "open_24h": True, "disability": True},
    {"types": ["school"], "age": 7},
]


@pytest.mark.parametrize("filters", FILTERS)
def test_matches_brute_force(conn, facilities, points, filters):
    rng = np.random.default_rng(len(str(filters)))
    for lon, lat in points[:20]:
        k = int(rng.integers(1, 8))
        got = nearest_facilities(conn, lon, lat, k=k, **filters)
        want = brute_force(facilities, lon, lat, k, **filters)
        assert [f["id"] for f in got["facilities"]] == list(want["id"])
        assert np.allclose([f["distance_m"] for f in got["facilities"]], want["d"], atol=0.1)
        assert got["distance"] == "geodesic"


def test_stays_right_when_the_nearest_are_full(conn, facilities, points):
    lon, lat = points[0]
    types = ["designated_hospital", "hospital", "health_center", "rescue_station"]
    first = nearest_facilities(conn, lon, lat, k=3, types=types, need_bed=True)
    ids = [f["id"] for f in first["facilities"]]
    conn.execute(sa.text("UPDATE facility SET occupied = capacity WHERE id = ANY(:ids)"),
                 {"ids": ids})
    facilities.loc[facilities["id"].isin(ids), "occupied"] = facilities["capacity"]
    again = nearest_facilities(conn, lon, lat, k=3, types=types, need_bed=True)
    assert not {f["id"] for f in again["facilities"]} & set(ids)
    want = brute_force(facilities, lon, lat, 3, types=types, need_bed=True)
    assert [f["id"] for f in again["facilities"]] == list(want["id"])


def test_from_a_child_record(conn, facilities):
    child = conn.execute(sa.text(
        "SELECT c.id, ST_X(h.geom) lon, ST_Y(h.geom) lat, c.sex, c.birth_date, c.has_disability "
        "FROM child c JOIN household h ON h.id = c.household_id "
        "WHERE c.has_disability ORDER BY c.id LIMIT 1")).mappings().one()
    today = dt.date.today()
    b = child["birth_date"]
    age = today.year - b.year - ((today.month, today.day) < (b.month, b.day))
    got = nearest_facilities(conn, child_id=child["id"], k=3, need_bed=True)
    want = brute_force(facilities, child["lon"], child["lat"], 3, need_bed=True, age=age,
                       sex=child["sex"], disability=True)
    assert [f["id"] for f in got["facilities"]] == list(want["id"])
    assert all(f["accepts_disability"] and f["free_beds"] > 0 for f in got["facilities"])


@pytest.mark.parametrize("kwargs, message", [
    ({"lon": 101.7, "lat": 26.5, "k": 0}, "k must be between 1 and 50, not 0"),
    ({"lon": 101.7, "lat": 26.5, "k": "many"}, "k must be a whole number"),
    ({"lon": 116.4, "lat": 39.9}, "lies outside the county"),
    ({"lon": 26.5, "lat": 101.7}, "look swapped"),
    ({"lon": "east", "lat": 26.5}, "lon and lat must be numbers"),
    ({"lon": 101.7, "lat": 26.5, "types": ["zoo"]}, "unknown facility type zoo"),
    ({"lon": 101.7, "lat": 26.5, "sex": "x"}, "sex must be male or female"),
    ({"lon": 101.7, "lat": 26.5, "age": 30}, "age must be 0 to 17"),
    ({}, "give lon and lat, or a child_id"),
])
def test_bad_input_is_named(conn, kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        nearest_facilities(conn, **kwargs)


def test_unknown_child(conn):
    with pytest.raises(NotFound, match="no child 99999999"):
        nearest_facilities(conn, child_id=99999999)

"""The nearest facilities that can take a child now, for emergency placement.

Candidates come from the KNN index on ``geom::geography`` (``<->``, sphere distance,
filters applied inside the index scan so the answer stays right when the nearest few
are full or unsuitable); the distance reported and the final order are geodesic on the
WGS84 spheroid (``ST_Distance`` on geography). A margin of extra candidates guards the
re-ranking from sphere to spheroid.

>>> nearest_facilities(conn, 101.72, 26.50, types=["rescue_station"], k=3)  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo import vocab
from geo.errors import InvalidInput, NotFound
from geo.grid.roads import HAS_ROADS, road_distances_from

MAX_K = 50
MARGIN = 10

_NEAREST = """
WITH here AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography AS g),
cand AS (
    SELECT f.id, f.name, f.type, f.address, f.phone, f.capacity, f.occupied, f.open_24h,
           f.min_age, f.max_age, f.sex_accepted, f.accepts_disability,
           ST_X(f.geom) AS lon, ST_Y(f.geom) AS lat,
           ST_Distance(f.geom::geography, here.g) AS distance_m
      FROM facility f, here
     WHERE (CAST(:types AS text[]) IS NULL OR f.type = ANY(CAST(:types AS text[])))
       AND (NOT :need_bed OR f.occupied < f.capacity)
       AND (NOT :open_24h OR f.open_24h)
       AND (CAST(:age AS int) IS NULL OR CAST(:age AS int) BETWEEN f.min_age AND f.max_age)
       AND (CAST(:sex AS text) IS NULL OR f.sex_accepted IN ('any', CAST(:sex AS text)))
       AND (NOT :disability OR f.accepts_disability)
     ORDER BY f.geom::geography <-> here.g
     LIMIT :k + :margin
)
SELECT * FROM cand ORDER BY distance_m, id LIMIT :k
"""

# Inside a county (cheap planar test first), or within margin_m of one (geodesic).
_IN_AREA = """
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g)
SELECT EXISTS (SELECT 1 FROM unit, p WHERE level = 'county' AND ST_Intersects(geom, p.g))
    OR EXISTS (SELECT 1 FROM unit, p WHERE level = 'county'
                  AND ST_DWithin(geom::geography, p.g::geography, :margin_m)) AS inside
"""

# Statements built once (a search runs two of them; text() parses its binds each time).
_IN_AREA_ONLY = sa.text(_IN_AREA)
_IN_AREA_ROADS = sa.text(_IN_AREA.rstrip() + f", {HAS_ROADS} AS roads")
_NEAREST_SQL = sa.text(_NEAREST)


def check_point(conn: Connection, lon, lat, margin_m: float = 5000, *,
                with_roads: bool = False) -> tuple:
    """Validate a WGS84 point and that it lies in (or within ``margin_m`` of) a county
    we hold; name the problem otherwise, including swapped coordinates. ``(lon, lat)``,
    or with ``with_roads`` ``(lon, lat, a road network is loaded)``."""
    try:
        lon, lat = float(lon), float(lat)
    except (TypeError, ValueError):
        raise InvalidInput("lon and lat must be numbers", field="lon") from None
    if not (-180 <= lon <= 180):
        raise InvalidInput(f"lon {lon} is out of range -180..180", field="lon")
    if not (-90 <= lat <= 90):
        hint = " (longitude and latitude look swapped)" if -90 <= lon <= 90 else ""
        raise InvalidInput(f"lat {lat} is out of range -90..90{hint}", field="lat")
    inside, roads = _in_area(conn, lon, lat, margin_m, with_roads)
    if not inside:
        swapped = -90 <= lon <= 90 and conn.execute(
            _IN_AREA_ONLY, {"lon": lat, "lat": lon, "margin_m": margin_m}).scalar_one()
        hint = " (longitude and latitude look swapped)" if swapped else ""
        raise InvalidInput(f"point ({lon}, {lat}) lies outside the county{hint}", field="lon")
    return (lon, lat, roads) if with_roads else (lon, lat)


def _in_area(conn: Connection, lon: float, lat: float, margin_m: float,
             with_roads: bool = False) -> tuple[bool, bool]:
    """Whether the point lies in (or near) a county, and (``with_roads``) whether a road
    network is loaded, in one round trip."""
    row = conn.execute(_IN_AREA_ROADS if with_roads else _IN_AREA_ONLY,
                       {"lon": lon, "lat": lat, "margin_m": margin_m}).one()
    return bool(row[0]), bool(row[1]) if with_roads else False


def check_types(types) -> list[str] | None:
    if types is None or types == []:
        return None
    if isinstance(types, str):
        types = [t for t in types.split(",") if t]
    unknown = [t for t in types if t not in vocab.FACILITY_TYPES]
    if unknown:
        raise InvalidInput(f"unknown facility type {', '.join(unknown)} "
                           f"(one of {', '.join(vocab.FACILITY_TYPES)})", field="type")
    return list(types)


def child_needs(conn: Connection, child_id: int, today: dt.date | None = None) -> dict:
    """A child's household point, age, sex and disability, for a placement search."""
    row = conn.execute(sa.text(
        "SELECT ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat, c.birth_date, c.sex, "
        "c.has_disability FROM child c JOIN household h ON h.id = c.household_id "
        "WHERE c.id = :id"), {"id": child_id}).mappings().first()
    if row is None:
        raise NotFound(f"no child {child_id}", field="child_id")
    today = today or dt.date.today()
    b = row["birth_date"]
    age = today.year - b.year - ((today.month, today.day) < (b.month, b.day))
    return {"lon": row["lon"], "lat": row["lat"], "age": age, "sex": row["sex"],
            "disability": row["has_disability"]}


def nearest_facilities(conn: Connection, lon=None, lat=None, *, types=None, k: int = 5,
                       need_bed: bool = False, open_24h: bool = False,
                       age: int | None = None, sex: str | None = None,
                       disability: bool = False, child_id: int | None = None,
                       margin_m: float = 5000, rank: str = "auto") -> dict:
    """The ``k`` nearest suitable facilities, nearest first, with distance in metres.

    With ``child_id`` the point, age, sex and disability come from the child's record
    (explicit arguments win). ``rank`` is ``geodesic``, ``road`` (needs a loaded road
    network) or ``auto`` (road when a network is loaded); the answer says which."""
    if child_id is not None:
        needs = child_needs(conn, child_id)
        lon = needs["lon"] if lon is None else lon
        lat = needs["lat"] if lat is None else lat
        age = needs["age"] if age is None else age
        sex = sex or needs["sex"]
        disability = disability or needs["disability"]
    if lon is None or lat is None:
        raise InvalidInput("give lon and lat, or a child_id", field="lon")
    try:
        k = int(k)
    except (TypeError, ValueError):
        raise InvalidInput("k must be a whole number", field="k") from None
    if not 1 <= k <= MAX_K:
        raise InvalidInput(f"k must be between 1 and {MAX_K}, not {k}", field="k")
    if sex is not None and sex not in vocab.SEXES:
        raise InvalidInput(f"sex must be male or female, not '{sex}'", field="sex")
    if age is not None and not 0 <= int(age) <= 17:
        raise InvalidInput(f"age must be 0 to 17, not {age}", field="age")
    types = check_types(types)
    if rank not in ("auto", "geodesic", "road"):
        raise InvalidInput(f"rank must be auto, geodesic or road, not '{rank}'", field="rank")
    # The road test rides with the point's (one round trip less per search).
    lon, lat, has_roads = check_point(conn, lon, lat, margin_m, with_roads=True)
    params = {"lon": lon, "lat": lat, "types": types, "need_bed": bool(need_bed),
              "open_24h": bool(open_24h), "age": age, "sex": sex,
              "disability": bool(disability), "margin": MARGIN}
    roads = rank != "geodesic" and has_roads
    by_road = rank == "road" or (rank == "auto" and roads)
    if rank == "road" and not roads:
        raise InvalidInput("no road network is loaded (gridmap roads import FILE)",
                           field="rank")
    rows = _by_road(conn, params, k) if by_road else [
        dict(r) for r in conn.execute(_NEAREST_SQL, {**params, "k": k}).mappings()]
    for item in rows:
        item["distance_m"] = round(item["distance_m"], 1)
        item["free_beds"] = item["capacity"] - item["occupied"]
        item["type_zh"] = vocab.FACILITY_TYPES[item["type"]]
    return {"distance": "road" if by_road else "geodesic", "point": [lon, lat],
            "facilities": rows}


def _by_road(conn: Connection, params: dict, k: int) -> list[dict]:
    """Rank by road distance. Road distance is never shorter than the geodesic, so once
    the k-th best road distance is within the geodesic distance of the farthest
    candidate fetched, no facility further out can beat it; otherwise fetch more."""
    n = k + MARGIN
    while True:
        cands = [dict(r) for r in conn.execute(
            _NEAREST_SQL, {**params, "k": n, "margin": 0}).mappings()]
        road = road_distances_from(conn, (params["lon"], params["lat"]),
                                   np.array([(c["lon"], c["lat"]) for c in cands]))
        for c, d in zip(cands, road, strict=True):
            c["straight_m"] = round(c["distance_m"], 1)
            c["distance_m"] = float(d)
        reachable = sorted((c for c in cands if np.isfinite(c["distance_m"])),
                           key=lambda c: (c["distance_m"], c["id"]))
        exhausted = len(cands) < n
        if exhausted or (len(reachable) >= k
                         and reachable[k - 1]["distance_m"] <= cands[-1]["straight_m"]):
            return reachable[:k]
        n *= 4

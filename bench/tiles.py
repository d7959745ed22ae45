"""Vector-tile build time and size per layer and zoom, around the busiest township seat,
at county and city scale; the household layer also unbinned (one feature per household
at every zoom, the naive way) so the binning's effect is a ratio measured in one run.

    .venv/bin/python bench/tiles.py [--scale 1 --scale 20] [--repeat 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import math

import sqlalchemy as sa
from common import bench_engine, config, timed

from geo.store.db import open_database
from layers.tiles import LAYERS, tile

ZOOMS = (10, 12, 13, 14, 15)


def _tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    return (int((lon + 180) / 360 * n),
            int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))


def run(cfg: dict, scale: float, repeat: int) -> None:
    engine = bench_engine(cfg, scale)
    with engine.connect() as conn:
        seat = conn.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit "
            "WHERE level = 'township' AND name LIKE '%街道' ORDER BY code LIMIT 1) t")).one()
        county = conn.execute(sa.text(
            "SELECT id FROM unit WHERE level = 'county' ORDER BY code LIMIT 1")).scalar_one()
        print(f"scale {scale:g}: tiles around {seat[0]:.4f}, {seat[1]:.4f} (admin's scope)",
              flush=True)
        unbinned = dataclasses.replace(LAYERS["households"], cluster_below=None)
        for z in ZOOMS:
            x, y = _tile_xy(*seat, z)
            for layer in (LAYERS["households"], LAYERS["cells"], LAYERS["villages"],
                          LAYERS["facilities"]):
                if z < layer.min_zoom:
                    continue
                ours = timed(lambda lay=layer, z=z, x=x, y=y: tile(conn, lay, z, x, y, county),
                             repeat)
                line = (f"  z{z:<2} {layer.name:<11} median {ours['median_ms']:8.1f} ms  "
                        f"p95 {ours['p95_ms']:8.1f} ms  {len(ours['result']) / 1024:8.1f} KiB")
                if layer.name == "households" and z < layer.cluster_below:
                    naive = timed(lambda z=z, x=x, y=y: tile(conn, unbinned, z, x, y, county),
                                  max(2, repeat // 2))
                    line += (f" | unbinned: {naive['median_ms']:8.1f} ms "
                             f"{len(naive['result']) / 1024:8.1f} KiB → "
                             f"{len(naive['result']) / max(len(ours['result']), 1):.0f}x "
                             f"smaller")
                print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, action="append", default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cfg = config()
    with open_database(cfg, migrate=False):
        for scale in args.scale or [1.0, 20.0]:
            run(cfg, scale, args.repeat)


if __name__ == "__main__":
    main()

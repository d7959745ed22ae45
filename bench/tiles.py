"""Vector-tile build time and size per layer and zoom, around the busiest township seat,
at county and city scale, as the admin gets them (layers/serve.py: statuses, scope) with
the tile cache off, then a repeat view from the cache; the household and no-guardian
layers at zooms 13 and 14 also the naive way (one feature per household or child instead
of one per cell from the kept tallies and child_due rows), so their effect is a ratio
measured in one run. Every layer at every zoom from 6 to 16 that it serves (the maps ask
for tiles up to 16: maxNativeZoom); tiles over 100 ms p95 are marked, an empty tile is
said to be empty (nothing measured), and the figures measured before (issue 17 and the
last round) are printed next to today's, with no ratio when either side returned nothing.

    .venv/bin/python bench/tiles.py [--scale 1 --scale 20] [--repeat 5] [--layer reach]
        [--zoom 10]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path

import sqlalchemy as sa
from common import bench_engine, config, machine_line, timed

from geo.office.users import User
from geo.store.db import open_database
from layers import tile_cache
from layers.serve import tile_for_user
from layers.tiles import LAYERS, tile

ZOOMS = tuple(range(6, 17))
TARGET_MS = 100
# p95 ms measured before at city scale, uncached: (scale, layer, zoom) -> (ms, where).
BASELINES_MS = {(20.0, "households", 13): (369, "issue 17"),
                (20.0, "coverage", 10): (181, "last round"),
                (20.0, "no_guardian", 13): (299, "last round")}


def _tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    return (int((lon + 180) / 360 * n),
            int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))


def _server_cpu(conn):
    """The database backend's CPU time so far in ms (Linux, the server on this machine),
    or None: on a loaded machine a tile's wall time mostly measures the others."""
    pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    path = Path(f"/proc/{pid}/schedstat")

    def now():
        try:
            return int(path.read_text().split()[0]) / 1e6
        except (OSError, ValueError, IndexError):
            return None

    return now if now() is not None else None


def run(cfg: dict, scale: float, repeat: int, layers=None, zooms=None) -> None:
    engine = bench_engine(cfg, scale)
    uncached = {**cfg, "tile_cache_mb": 0}
    with engine.connect() as conn:
        cpu = _server_cpu(conn)
        seat = conn.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit "
            "WHERE level = 'township' AND name LIKE '%街道' ORDER BY code LIMIT 1) t")).one()
        county = conn.execute(sa.text(
            "SELECT id, code FROM unit WHERE level = 'county' ORDER BY code LIMIT 1")).one()
        admin = User(0, "bench", "admin", county.id, county.code, "county")
        print(f"scale {scale:g}: tiles around {seat[0]:.4f}, {seat[1]:.4f} (admin's scope), "
              f"uncached; 'repeat' is the same tile from the tile cache", flush=True)
        # The statuses are cached per day and data generation: warm them, as the server does.
        tile_for_user(conn, uncached, "cell_status", 12, *_tile_xy(*seat, 12), admin)
        slow = 0
        for z in zooms or ZOOMS:
            x, y = _tile_xy(*seat, z)
            for layer in LAYERS.values():
                if not layer.min_zoom <= z <= layer.max_zoom or (
                        layers and layer.name not in layers):
                    continue
                cpu0 = cpu() if cpu else None
                ours = timed(lambda lay=layer, z=z, x=x, y=y: tile_for_user(
                    conn, uncached, lay.name, z, x, y, admin)[0], repeat)
                server = f" (server CPU {(cpu() - cpu0) / repeat:5.1f} ms)" if cpu else ""
                conn.rollback()
                tile_cache.clear()
                tile_for_user(conn, cfg, layer.name, z, x, y, admin)
                again = timed(lambda lay=layer, z=z, x=x, y=y: tile_for_user(
                    conn, cfg, lay.name, z, x, y, admin)[0], repeat)
                conn.rollback()
                mark = " > 100 ms" if ours["p95_ms"] > TARGET_MS else ""
                slow += bool(mark)
                empty = not ours["result"]
                line = (f"  z{z:<2} {layer.name:<14} median {ours['median_ms']:7.1f} ms  "
                        f"p95 {ours['p95_ms']:7.1f} ms  {len(ours['result']) / 1024:7.1f} KiB"
                        f"{server}  repeat p95 {again['p95_ms']:5.1f} ms{mark}"
                        f"{'  (empty tile: nothing measured)' if empty else ''}")
                before = BASELINES_MS.get((scale, layer.name, z))
                if before:
                    line += f" | before: p95 {before[0]} ms ({before[1]})"
                    line += ("  (no ratio: empty tile)" if empty
                             else f"  → {before[0] / ours['p95_ms']:.1f}x")
                if layer.coarse_below is not None and z < layer.coarse_below:
                    unbinned = dataclasses.replace(layer, coarse_below=None)
                    naive = timed(lambda z=z, x=x, y=y, u=unbinned: tile(
                        conn, u, z, x, y, county.id, tz=cfg.get("timezone") or "Asia/Shanghai"),
                        max(2, repeat // 2))
                    line += (f" | unbinned: {naive['median_ms']:7.1f} ms "
                             f"{len(naive['result']) / 1024:7.1f} KiB")
                    line += ("  (no ratio: one side returned nothing)"
                             if empty or not naive["result"]
                             else f"  → {naive['median_ms'] / ours['median_ms']:.1f}x")
                print(line, flush=True)
        print(f"  {slow} tiles over {TARGET_MS} ms p95 at scale {scale:g}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, action="append", default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--layer", action="append", default=None,
                        help="only these layers (repeatable)")
    parser.add_argument("--zoom", type=int, action="append", default=None,
                        help="only these zooms (repeatable)")
    args = parser.parse_args()
    cfg = config()
    print(machine_line(), flush=True)
    with open_database(cfg, migrate=False):
        for scale in args.scale or [1.0, 20.0]:
            run(cfg, scale, args.repeat, args.layer, args.zoom)


if __name__ == "__main__":
    main()

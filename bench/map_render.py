"""Map page weight and first render at city scale, next to a naive folium page.

    .venv/bin/python bench/map_render.py [--scale 20] [--naive-limit 0]

Serves the app on loopback against the benchmark database, opens /map in Debian's
headless Chromium (Playwright) and prints the bytes of HTML, scripts and styles sent,
the tile bytes of the first view, and the time until the page's layers are drawn. Then
builds the naive page — folium with every household embedded as GeoJSON, the way a
first version would — and measures the same (bounded by a time limit).
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

import folium
import sqlalchemy as sa
from common import bench_engine, config, machine_line
from playwright.sync_api import sync_playwright
from waitress.server import create_server

from api.app import create_app
from geo.office.users import create_user
from geo.store.db import open_database

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def measure(browser, url, ready_js, login=None, timeout_s=120):
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    sizes = {"page": 0, "tiles": 0}

    def on_response(resp):
        try:
            n = len(resp.body())
        except Exception:  # aborted or redirected responses have no body
            return
        sizes["tiles" if "/tiles/" in resp.url or "/api/" in resp.url else "page"] += n

    if login:
        login(page)
    page.on("response", on_response)
    started = time.perf_counter()
    try:
        page.goto(url, timeout=timeout_s * 1000)
        page.wait_for_function(ready_js, timeout=timeout_s * 1000)
        seconds = time.perf_counter() - started
    except Exception:  # a timeout is a result too
        seconds = None
    page.wait_for_timeout(300)
    page.close()
    return seconds, sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=20)
    parser.add_argument("--naive-limit", type=int, default=0,
                        help="households in the naive page (0: all)")
    parser.add_argument("--timeout", type=int, default=180)
    args = parser.parse_args()
    print(machine_line())
    cfg = config()
    with open_database(cfg, migrate=False):
        engine = bench_engine(cfg, args.scale)
        with engine.begin() as conn:
            if not conn.execute(sa.text(
                    "SELECT 1 FROM app_user WHERE username = 'bench_map'")).first():
                create_user(conn, "bench_map", "admin", "510411", "bench-map-password")
            households = conn.execute(sa.text("SELECT count(*) FROM household")).scalar()
        app = create_app({"database_url": engine.url.render_as_string(hide_password=False),
                          "basemap": "none"})
        # As `gridmap serve` does: today's statuses computed when the server starts.
        from layers import status_cache

        started = time.perf_counter()
        status_cache.warm(engine, app.config["GRIDMAP"])
        print(f"status cache warmed in {time.perf_counter() - started:.1f} s (at start-up)")
        srv = create_server(app, host="127.0.0.1", port=0, threads=8)
        threading.Thread(target=srv.run, daemon=True).start()
        base = f"http://127.0.0.1:{srv.effective_port}"

        def login(page):
            page.goto(f"{base}/login")
            page.fill("#username", "bench_map")
            page.fill("#password", "bench-map-password")
            page.click("button[type=submit]")
            page.wait_for_load_state()

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            ours, ours_sizes = measure(
                browser, f"{base}/map", "window.gridmap && window.gridmap.unitLoaded && "
                "window.gridmap.layers.status && window.gridmap.layers.facilities",
                login=login, timeout_s=args.timeout)
            print(f"scale {args.scale:g} ({households:,} households)")
            print(f"  /map: page (HTML, scripts, styles) {ours_sizes['page'] / 1024:,.0f} KiB,"
                  f" first view's tiles and API calls {ours_sizes['tiles'] / 1024:,.0f} KiB, "
                  f"first complete render {ours:.2f} s" if ours else "  /map: timed out")
            started = time.perf_counter()
            limit = f"LIMIT {args.naive_limit}" if args.naive_limit else ""
            with engine.connect() as conn:
                gj = conn.execute(sa.text(
                    "SELECT json_build_object('type', 'FeatureCollection', 'features', "
                    "json_agg(json_build_object('type', 'Feature', 'geometry', "
                    "ST_AsGeoJSON(geom, 6)::json, 'properties', json_build_object('id', id))))"
                    f"::text FROM (SELECT id, geom FROM household ORDER BY id {limit}) h"
                )).scalar_one()
            m = folium.Map(location=[26.5, 101.7], zoom_start=10, tiles=None)
            # The same local Leaflet (no network here), so only the data differs.
            vendor = Path(__file__).resolve().parent.parent / "webmap/static/vendor/leaflet"
            m.default_js = [("leaflet", f"file://{vendor}/leaflet.js")]
            m.default_css = [("leaflet_css", f"file://{vendor}/leaflet.css")]
            folium.GeoJson(gj, name="households").add_to(m)
            naive = Path("/tmp/gridmap_naive_map.html")
            m.save(str(naive))
            built = time.perf_counter() - started
            naive_s, naive_sizes = measure(
                browser, f"file://{naive}",
                "document.querySelectorAll('.leaflet-overlay-pane path, "
                ".leaflet-marker-icon').length > 0", timeout_s=args.timeout)
            size = naive.stat().st_size
            print(f"  naive folium page: {size / 1024:,.0f} KiB of HTML (built in {built:.0f} s),"
                  f" first render "
                  + (f"{naive_s:.2f} s" if naive_s else f"not within {args.timeout} s"))
            print(f"  → /map sends {size / max(ours_sizes['page'], 1):,.0f}x less page weight")
            browser.close()
        srv.close()


if __name__ == "__main__":
    main()

"""Stored XSS (issue 10.2): names, addresses, phones and unit names that carry markup
and script are shown as text on every page an admin opens, no script of theirs runs,
and every page is sent with a Content-Security-Policy that forbids inline script
without the page's nonce."""

import re

import pytest
import sqlalchemy as sa

from geo.routing.routes import clear_route_cache

# Markup for HTML text, an attribute, a <title>, a JSON-in-script and a JS template
# literal (folium's tooltips): whichever context a value lands in, one of these would
# run if it were not escaped.
TAIL = ('</title></textarea></script><script>window.__xss=1</script>'
        '<img src=x onerror="window.__xss=1">${window.__xss=1}`\'";window.__xss=1;//')
CHILD, ADDRESS = "童XSSKID" + TAIL, "址XSSADDR" + TAIL
FACILITY, PHONE = "院XSSFAC" + TAIL, "0812XSSPHONE" + TAIL
UNITS = {"county": "县XSSCOUNTY", "township": "镇XSSTOWN", "village": "村XSSVILL",
         "cell": "格XSSCELL"}
DATE = "2026-11-24"


@pytest.fixture
def poisoned(engine, logins):
    """One household on the grid head's route, its first child, its units up to the
    county and a rescue station with free beds, with script-bearing text; put back
    afterwards."""
    with engine.connect() as conn:
        worker = conn.execute(sa.text(
            "SELECT worker_id FROM app_user WHERE username = 'demo_grid_head'")).scalar_one()
        fac = conn.execute(sa.text(
            "SELECT id, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM facility "
            "WHERE type = 'rescue_station' AND capacity > occupied ORDER BY id LIMIT 1")).one()
    saved = []
    yield {"worker": worker, "facility": fac, "saved": saved, "engine": engine}
    with engine.begin() as conn:
        for table, key, column, value in reversed(saved):
            conn.execute(sa.text(f"UPDATE {table} SET {column} = :v WHERE id = :k"),
                         {"v": value, "k": key})


def _poison(p, household_id):
    """Write the payloads (the household chosen from the grid head's route)."""
    engine, saved = p["engine"], p["saved"]
    with engine.begin() as conn:
        cell = conn.execute(sa.text(
            "SELECT c.id, c.village_id, c.township_id, c.county_id FROM unit c "
            "JOIN household h ON h.cell_id = c.id WHERE h.id = :h"), {"h": household_id}).one()

        def put(table, key, column, value):
            saved.append((table, key, column, conn.execute(sa.text(
                f"SELECT {column} FROM {table} WHERE id = :k"), {"k": key}).scalar_one()))
            conn.execute(sa.text(f"UPDATE {table} SET {column} = :v WHERE id = :k"),
                         {"v": value, "k": key})

        child = conn.execute(sa.text(
            "SELECT id FROM child WHERE household_id = :h ORDER BY id LIMIT 1"),
            {"h": household_id}).scalar_one()
        put("child", child, "name", CHILD)
        put("household", household_id, "address", ADDRESS)
        put("household", household_id, "phone", PHONE)
        put("household", household_id, "head_name", "户主" + TAIL)
        put("facility", p["facility"].id, "name", FACILITY)
        put("facility", p["facility"].id, "phone", PHONE)
        put("facility", p["facility"].id, "address", ADDRESS)
        for level, key in (("cell", cell.id), ("village", cell.village_id),
                           ("township", cell.township_id), ("county", cell.county_id)):
            put("unit", key, "name", UNITS[level] + TAIL)
        lon, lat = conn.execute(sa.text(
            "SELECT ST_X(geom), ST_Y(geom) FROM household WHERE id = :h"),
            {"h": household_id}).one()
    return child, lon, lat


def _safe(page, resp, what, allowed=()):
    """No payload ran; the page came with our CSP; our own code broke no rule of it."""
    assert page.evaluate("window.__xss") is None, f"script ran on {what}"
    csp = resp.headers.get("content-security-policy", "")
    script_src = re.search(r"script-src ([^;]*)", csp)
    assert script_src, f"no CSP script-src on {what}: {csp!r}"
    assert "'unsafe-inline'" not in script_src.group(1) and "'nonce-" in script_src.group(1)
    assert "frame-ancestors 'none'" in csp
    assert resp.headers.get("x-content-type-options") == "nosniff"
    errors = [e for e in page.console_errors if not any(a in e for a in allowed)]
    assert errors == [], f"{what}: {errors}"
    page.console_errors.clear()


MAP = "window[Object.keys(window).find(k => k.startsWith('map_') && window[k].setView)]"


def _only_layer(page, label):
    for box in page.locator(".leaflet-control-layers-overlays input").all():
        box.uncheck()
    page.get_by_label(label, exact=True).check()


def _click_at(page, lat, lon, zoom, layer):
    """Centre the map on a point at ``zoom``, wait for ``layer`` to redraw and click
    there; returns the popup's text."""
    # The flag is cleared before the move: tiles the layer still holds for that zoom
    # are not fetched again, and the map marks the layer settled once the move ends.
    page.evaluate(f"window.gridmap.layers.{layer} = false; {MAP}.closePopup(); "
                  f"{MAP}.setView([{lat}, {lon}], {zoom}, {{animate: false}});")
    page.wait_for_function(f"() => window.gridmap.layers.{layer}", timeout=15_000)
    page.wait_for_timeout(400)
    x, y = page.evaluate(f"""() => {{ const m = {MAP};
      const r = m.getContainer().getBoundingClientRect();
      const p = m.latLngToContainerPoint([{lat}, {lon}]);
      return [r.left + p.x, r.top + p.y]; }}""")
    page.mouse.click(x, y)
    page.wait_for_selector(".leaflet-popup-content", timeout=5_000)
    return page.locator(".leaflet-popup-content").last.inner_text()


def test_stored_script_never_runs(page, server, logins, login, poisoned, artifacts):
    login(page, logins["admin"])
    # The household: the first stop of the grid head's route that day.
    route = page.request.get(f"{server}/api/routes?worker={poisoned['worker']}"
                             f"&date={DATE}&within_days=30").json()
    assert route["stops"], route
    household = route["stops"][0]["household_id"]
    child, lon, lat = _poison(poisoned, household)
    # The payloads are written behind the app's back (max(updated_at) need not move):
    # forget the kept routes, as a visit recorded through the API would.
    clear_route_cache()
    fac = poisoned["facility"]

    # Record pages: the title, heading, fields, tables and the map's tooltip.
    for kind, key, text in (("child", child, "童XSSKID"), ("household", household, "址XSSADDR"),
                            ("facility", fac.id, "院XSSFAC")):
        resp = page.goto(f"{server}/record/{kind}/{key}")
        assert resp.status == 200
        page.wait_for_function("() => window.gridmap && window.gridmap.boundaries >= 2",
                               timeout=10_000)
        page.locator(".leaflet-overlay-pane .leaflet-interactive").first.hover()
        page.wait_for_selector(".leaflet-tooltip", timeout=5_000)
        assert text + "</title>" in page.locator("h1").inner_text()
        assert "<script>" in page.title()
        assert "<img" in page.locator(".leaflet-tooltip").inner_text()
        if kind == "household":
            assert "童XSSKID</title>" in page.locator(".gm-rows").inner_text()
            assert "0812XSSPHONE" in page.locator("#gm-fields").inner_text()
        _safe(page, resp, f"/record/{kind}")

    # The route sheet: stop address, child's name, the tooltip of the stop's marker.
    resp = page.goto(f"{server}/map/route/{poisoned['worker']}?date={DATE}&within_days=30")
    page.wait_for_function("() => window.gridmap && window.gridmap.ready")
    stop = page.locator(f"#gm-stop-{household}").inner_text()
    assert "址XSSADDR</title>" in stop and "童XSSKID</title>" in stop
    # The stop's marker, shown on its own (not in a group of overlapping stops).
    page.evaluate(f"""() => {{ const m = window.gridmap.cluster.getLayers()
      .find(l => l.options.household === {household});
      window.gridmap.cluster.zoomToShowLayer(m, () => m.openTooltip()); }}""")
    page.wait_for_selector(".leaflet-tooltip", timeout=5_000)
    assert "址XSSADDR</title>" in page.locator(".leaflet-tooltip").inner_text()
    _safe(page, resp, "/map/route")

    # Emergency placement: the facility's name and phone in the list and its tooltip.
    resp = page.goto(f"{server}/map/nearest")
    page.wait_for_function("() => window.gridmap && window.gridmap.ready")
    page.fill("#gm-lon", f"{fac.lon:.6f}")
    page.fill("#gm-lat", f"{fac.lat:.6f}")
    page.click("#gm-search")
    page.wait_for_function("() => window.gridmap.results > 0", timeout=10_000)
    first = page.locator(".gm-fac").first.inner_text()
    assert "院XSSFAC</title>" in first and "0812XSSPHONE</title>" in first
    page.locator("#gm-results").scroll_into_view_if_needed()
    # An error message from the server is text too.
    page.fill("#gm-lon", "<img src=x onerror=window.__xss=1>")
    page.click("#gm-search")
    page.wait_for_selector(".gm-err", timeout=10_000)
    page.wait_for_timeout(300)
    _safe(page, resp, "/map/nearest", allowed=["status of 400"])

    # The planner view: village names in the table, the tooltip and the CSV data.
    resp = page.goto(f"{server}/map/planner?type=school")
    page.wait_for_function("() => window.gridmap && window.gridmap.ready")
    assert "村XSSVILL</title>" in page.locator("#gm-villages").inner_text()
    page.evaluate(f"{MAP}.setView([{lat}, {lon}], 13, {{animate: false}})")
    page.wait_for_timeout(400)
    x, y = page.evaluate(f"""() => {{ const m = {MAP};
      const r = m.getContainer().getBoundingClientRect();
      const p = m.latLngToContainerPoint([{lat}, {lon}]);
      return [r.left + p.x, r.top + p.y]; }}""")
    page.mouse.move(x, y)
    page.wait_for_selector(".leaflet-tooltip", timeout=5_000)
    assert "村XSSVILL</title>" in page.locator(".leaflet-tooltip").inner_text()
    _safe(page, resp, "/map/planner")

    # The monthly report (the county's name in the title and heading).
    resp = page.goto(f"{server}/api/reports/monthly?format=html&month=2026-10")
    assert resp.status == 200 and "县XSSCOUNTY</title>" in page.locator("h1").inner_text()
    _safe(page, resp, "monthly report")

    # The map: the search popup (child's name and address) and feature popups (the
    # facility, the cell, the village).
    resp = page.goto(f"{server}/map")
    page.wait_for_function("() => window.gridmap && window.gridmap.unitLoaded", timeout=30_000)
    assert "县XSSCOUNTY</title>" in page.locator("#gm-unit").inner_text()
    page.fill("#gm-search", "童XSSKID")
    page.press("#gm-search", "Enter")
    page.wait_for_function("() => window.gridmap.found", timeout=10_000)
    popup = page.locator(".leaflet-popup-content").last.inner_text()
    assert "童XSSKID</title>" in popup and "址XSSADDR</title>" in popup
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") is None, "script ran in the search popup"
    _only_layer(page, "救助与服务机构")
    assert "院XSSFAC</title>" in _click_at(page, fac.lat, fac.lon, 16, "facilities")
    assert page.evaluate("window.__xss") is None, "script ran in a facility popup"
    _only_layer(page, "走访状况")
    assert "格XSSCELL</title>" in _click_at(page, lat, lon, 15, "cell_status")
    _only_layer(page, "走访状况")
    assert "村XSSVILL</title>" in _click_at(page, lat, lon, 10, "village_status")
    page.screenshot(path=str(artifacts / "xss_map_popup.png"))
    _safe(page, resp, "/map")

"""The coverage popup's handover links (issue 13) in real headless Chromium: a
supervisor clicks a staffed cell, each of its grid workers has a 交接网格 link, and the
link opens the worker's handover page."""

import sqlalchemy as sa


def test_coverage_popup_links_to_the_handover(page, server, logins, login, engine,
                                               artifacts):
    with engine.connect() as conn:
        lon, lat = conn.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(c.geom) p FROM unit c "
            "JOIN unit t ON t.id = c.township_id JOIN worker_unit wu ON wu.unit_id = c.id "
            "JOIN worker w ON w.id = wu.worker_id AND w.active AND w.role = 'grid_worker' "
            "WHERE c.level = 'cell' AND t.code = :t ORDER BY c.id LIMIT 1) x"),
            {"t": logins["supervisor"]["unit"]}).one()
    login(page, logins["supervisor"])
    page.goto(f"{server}/map")
    page.wait_for_function("() => window.gridmap && window.gridmap.unitLoaded", timeout=30_000)
    for box in page.locator(".leaflet-control-layers-overlays input").all():
        box.uncheck()
    page.get_by_label("网格员覆盖与工作量").check()
    map_name = page.evaluate(
        "Object.keys(window).find(k => k.startsWith('map_') && window[k].setView)")
    page.evaluate(f"window['{map_name}'].setView([{lat}, {lon}], 14, {{animate: false}}); "
                  "window.gridmap.layers.coverage = false;")
    page.wait_for_function("() => window.gridmap.layers.coverage", timeout=15_000)
    page.wait_for_timeout(300)
    x, y = page.evaluate(f"""() => {{
      const m = window['{map_name}'], r = m.getContainer().getBoundingClientRect();
      const p = m.latLngToContainerPoint([{lat}, {lon}]);
      return [r.left + p.x, r.top + p.y]; }}""")
    page.mouse.click(x, y)
    page.wait_for_selector(".leaflet-popup-content .gm-handover a", timeout=5_000)
    links = page.locator(".leaflet-popup-content .gm-handover a")
    assert links.count() >= 1 and set(links.all_inner_texts()) == {"交接网格"}
    href = links.first.get_attribute("href")
    assert href.startswith("/workers/") and href.endswith("/handover")
    page.wait_for_timeout(400)  # the popup's fade-in
    page.screenshot(path=str(artifacts / "coverage_handover_popup.png"))
    assert page.console_errors == []
    links.first.click()
    page.wait_for_load_state()
    assert page.url.endswith(href) and "交接" in page.locator("h1").inner_text()

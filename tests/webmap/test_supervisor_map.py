"""The supervisor map in real headless Chromium."""

import sqlalchemy as sa

PATHS = "document.querySelectorAll('.leaflet-tile-pane path').length"


def _paths(page):
    return page.evaluate(PATHS)


def _click_a_feature(page):
    """Click the first map feature drawn inside the window, where it is drawn (a tile's
    features may lie outside the view), and wait for its popup."""
    x, y = page.evaluate("""() => {
      for (const p of document.querySelectorAll('.leaflet-tile-pane path.leaflet-interactive')) {
        const r = p.getBoundingClientRect();
        const x = r.left + r.width / 2, y = r.top + r.height / 2;
        if (r.width > 0 && x > 300 && x < 1000 && y > 100 && y < 800) return [x, y];
      }
      return [0, 0]; }""")
    assert x and y, "no feature drawn in the window"
    page.mouse.click(x, y)
    page.wait_for_selector(".leaflet-popup-content", timeout=5_000)
    return page.locator(".leaflet-popup-content").last.inner_text()


def _redrawn(page, layer):
    """Wait until ``layer``'s tiles have loaded again after a change of view or layers."""
    page.wait_for_function(f"() => window.gridmap.layers.{layer}", timeout=15_000)
    page.wait_for_timeout(300)


def test_supervisor_map(page, server, logins, artifacts, login):
    login(page, logins["supervisor"])
    page.goto(f"{server}/map")
    page.wait_for_function("() => window.gridmap && window.gridmap.unitLoaded "
                           "&& window.gridmap.layers.status", timeout=30_000)
    # Cells, village outlines and facilities drawn (tiles arrive in their own time).
    page.wait_for_function(f"() => {PATHS} > 50", timeout=15_000)
    assert page.locator("#gm-unit").inner_text() != "困境未成年人网格化管理地图"
    figures = page.locator("#gm-figures").inner_text()
    assert "在册未成年人" in figures and "逾期未走访儿童" in figures and "从未走访网格" in figures
    # Toggle a layer off and back on through the layer control.
    before = _paths(page)
    legend = page.locator(".gm-legend")
    assert "按期走访" in legend.inner_text() and "无网格员" not in legend.inner_text()
    text = legend.inner_text()  # in the registry's order, not alphabetical
    assert text.index("按期走访") < text.index("有逾期") < text.index("从未走访")
    # One status layer at a time: zoomed in, cells; the villages' bands are not keyed.
    assert "<10%" not in text and "走访状况" in text
    # Every facility type in the legend; a metric scale bar.
    from geo.vocab import FACILITY_TYPES
    from layers.registry import FACILITY_LEGEND

    assert all(FACILITY_LEGEND[k]["zh"] in text for k in FACILITY_TYPES)
    scale = page.locator(".leaflet-control-scale-line")
    assert scale.count() == 1 and scale.inner_text().endswith("m")
    page.get_by_label("走访状况").uncheck()
    page.wait_for_function(f"() => {PATHS} < {before}", timeout=5_000)
    assert "按期走访" not in legend.inner_text()  # the legend follows the layers shown
    page.evaluate("window.gridmap.layers.cell_status = false")
    page.get_by_label("走访状况").check()
    _redrawn(page, "cell_status")
    # A popup with the figures of whatever was clicked (a cell, a village, a facility).
    _click_a_feature(page)
    assert page.locator(".leaflet-popup-content table").count() == 1
    page.wait_for_timeout(400)  # the popup's fade-in
    page.screenshot(path=str(artifacts / "supervisor_map.png"))
    assert page.console_errors == []
    assert page.hosts == {server.split("/")[2]}
    # The panel leads to the supervisor's other pages, and only to those.
    links = page.locator(".gm-links a")
    assert {"紧急安置", "规划视图", "上月月报", "导出儿童台账"} <= set(links.all_inner_texts())
    assert "我的走访路线" not in links.all_inner_texts()
    page.locator(".gm-links a", has_text="上月月报").click()
    page.wait_for_load_state()
    assert "/api/reports/monthly?format=html&month=" in page.url
    assert page.locator("table").count() >= 1


def test_english_and_login_required(page, server, logins, login):
    page.goto(f"{server}/map")
    assert "/login" in page.url
    login(page, logins["planner"])
    page.goto(f"{server}/map?lang=en")
    page.wait_for_function("() => window.gridmap && window.gridmap.unitLoaded", timeout=30_000)
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Children on file" in page.locator("#gm-figures").inner_text()
    # Planners are offered no household layer.
    assert page.get_by_label("Households").count() == 0
    links = page.locator(".gm-links a").all_inner_texts()
    assert "Planner view" in links and "Last month's report" in links
    assert "Emergency placement" not in links and "Export children's ledger" not in links
    assert page.console_errors == []


def test_search_finds_a_child(page, server, logins, login, engine, artifacts):
    with engine.connect() as conn:
        child_id, name = conn.execute(sa.text(
            "SELECT ch.id, ch.name FROM child ch JOIN household h ON h.id = ch.household_id "
            "JOIN unit c ON c.id = h.cell_id JOIN unit t ON t.id = c.township_id "
            "WHERE t.code = :t ORDER BY ch.id LIMIT 1"),
            {"t": logins["supervisor"]["unit"]}).one()
    login(page, logins["supervisor"])
    page.goto(f"{server}/map")
    page.wait_for_function("() => window.gridmap && window.gridmap.unitLoaded", timeout=30_000)
    page.fill("#gm-search", name)
    page.press("#gm-search", "Enter")
    # Every match is listed (one alone is shown at once); pick the child.
    page.wait_for_function("() => window.gridmap.searchHits > 0", timeout=10_000)
    if not page.evaluate("() => window.gridmap.found"):
        page.locator("#gm-results li.gm-hit a", has_text=name).first.click()
    page.wait_for_function("() => window.gridmap.found", timeout=10_000)
    found = page.evaluate("window.gridmap.found")
    with engine.connect() as conn:
        same = conn.execute(sa.text("SELECT name FROM child WHERE id = :i"),
                            {"i": found}).scalar()
    assert same == name or name in same
    href = page.locator(".leaflet-popup-content a").last.get_attribute("href")
    assert href == f"/record/child/{found}"
    # The record behind the link: the child's file with the place on a small map.
    page.goto(f"{server}{href}")
    assert page.locator("h1").inner_text() == f"儿童档案 · {same}"
    assert page.locator("#gm-fields").inner_text().count("\n") >= 10
    assert page.locator(".leaflet-overlay-pane .leaflet-interactive").count() == 1  # home
    page.wait_for_function("() => window.gridmap.boundaries >= 2", timeout=10_000)
    page.screenshot(path=str(artifacts / "child_record.png"), full_page=True)
    assert page.console_errors == []
    assert page.hosts == {server.split("/")[2]}


def test_households_binned_then_single(page, server, logins, login, engine):
    """The household layer in the browser: bins with counts at zoom 13, single
    households with a link to their record at 16."""
    with engine.connect() as conn:
        lon, lat = conn.execute(sa.text(
            "SELECT ST_X(h.geom), ST_Y(h.geom) FROM household h JOIN unit c "
            "ON c.id = h.cell_id JOIN unit v ON v.id = c.village_id WHERE v.code = :v "
            "ORDER BY h.id LIMIT 1"), {"v": logins["grid_worker"]["unit"]}).one()
    login(page, logins["grid_worker"])
    page.goto(f"{server}/map")
    page.wait_for_function("() => window.gridmap && window.gridmap.unitLoaded", timeout=30_000)
    # Only the household layer on, so a click lands on a household feature.
    for box in page.locator(".leaflet-control-layers-overlays input").all():
        box.uncheck()
    page.get_by_label("家庭户").check()
    map_name = page.evaluate(
        "Object.keys(window).find(k => k.startsWith('map_') && window[k].setView)")
    for zoom, single in ((13, False), (16, True)):
        page.evaluate(f"window['{map_name}'].setView([{lat}, {lon}], {zoom}, "
                      "{animate: false}); window.gridmap.layers.households = false;")
        _redrawn(page, "households")
        page.evaluate(f"window['{map_name}'].closePopup()")
        popup = _click_a_feature(page)
        assert "户数" in popup
        if single:
            assert "户编号" in popup
            assert page.locator(".leaflet-popup-content a").last.get_attribute(
                "href").startswith("/record/household/")
        else:
            assert "户编号" not in popup
    assert page.console_errors == []



def test_on_a_phone_the_map_shows(browser, server, logins, login, artifacts):
    """At phone width the layer list and the legend start folded; a tap opens them."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    login(page, logins["grid_worker"])
    page.goto(f"{server}/map")
    page.wait_for_function("() => window.gridmap && window.gridmap.unitLoaded", timeout=30_000)
    page.wait_for_function("() => window.gridmap.layers.status", timeout=15_000)
    page.wait_for_timeout(800)  # the zoom to the unit settles
    assert not page.get_by_label("走访状况").is_visible()
    legend = page.locator(".gm-legend")
    assert "按期走访" not in legend.inner_text()
    page.screenshot(path=str(artifacts / "supervisor_map_phone.png"))
    legend.click()
    assert "按期走访" in legend.inner_text()
    page.locator(".leaflet-control-layers").hover()
    assert page.get_by_label("走访状况").is_visible()
    context.close()

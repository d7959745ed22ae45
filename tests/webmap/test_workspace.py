"""The workspace in Chromium: each role lands on its home, a figure leads to its list,
the list sorts and exports, the map's search lists several matches, and a missing page
is a Chinese page with a way back. Screenshots at desktop and phone size."""

import io

import sqlalchemy as sa
from openpyxl import load_workbook

ROLES = ["admin", "supervisor", "grid_head", "grid_worker", "planner", "responder"]


def _fresh(browser, width=1366, height=768):
    context = browser.new_context(viewport={"width": width, "height": height},
                                  locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    return context, page


def test_each_role_lands_on_its_home(browser, server, logins, login, artifacts):
    for role in ROLES:
        context, page = _fresh(browser)
        login(page, logins[role])
        assert page.url.rstrip("/") == server
        figures = page.locator("#gm-figures li")
        assert figures.count() >= 3, role
        pages = page.locator("#gm-pages a").all_inner_texts()
        assert "地图" in pages
        assert ("台账导入" in pages) == (role in ("admin", "supervisor"))
        assert ("逾期未走访儿童" in pages) == (role in ("admin", "supervisor", "grid_head",
                                                       "grid_worker"))
        if role == "supervisor":
            page.screenshot(path=str(artifacts / "home_supervisor.png"), full_page=True)
        assert page.console_errors == [], role
        context.close()


def test_figure_to_list_sort_and_export(browser, server, logins, login, artifacts):
    context, page = _fresh(browser)
    login(page, logins["supervisor"])
    page.locator("#gm-figures li[data-key=overdue] a").click()
    page.wait_for_load_state()
    assert "/lists/overdue" in page.url
    assert page.locator("h1").inner_text().endswith("逾期未走访儿童")
    rows = page.locator("#gm-list tbody tr")
    assert rows.count() == 50
    days = [int(t) for t in page.locator("#gm-list tbody tr td:nth-child(9)").all_inner_texts()]
    assert days == sorted(days, reverse=True)
    page.locator("#gm-list th a[data-sort=name]").click()
    page.wait_for_load_state()
    names = page.locator("#gm-list tbody tr td:first-child").all_inner_texts()
    again = page.locator("#gm-list th a[data-sort=name]").inner_text()
    assert "↑" in again or "↓" in again
    assert names == sorted(names) or names == sorted(names, reverse=True)
    page.screenshot(path=str(artifacts / "list_overdue.png"))
    # The next page, then a row's record.
    page.locator("#gm-next").click()
    page.wait_for_load_state()
    assert "offset=50" in page.url
    with page.expect_download() as dl:
        page.locator("#gm-export").click()
    data = open(dl.value.path(), "rb").read()
    ws = load_workbook(io.BytesIO(data)).active
    sheet = list(ws.iter_rows(values_only=True))
    assert sheet[1][0] == "姓名" and len(sheet) > 52
    href = page.locator("#gm-list tbody tr td:first-child a").first.get_attribute("href")
    page.goto(f"{server}{href}")
    assert page.locator("h1").inner_text().startswith("儿童档案")
    assert page.console_errors == []
    context.close()


def test_list_on_a_phone(browser, server, logins, login, artifacts):
    context, page = _fresh(browser, 390, 844)
    login(page, logins["supervisor"])
    page.screenshot(path=str(artifacts / "home_supervisor_phone.png"), full_page=True)
    page.goto(f"{server}/lists/cells")
    assert page.locator("#gm-list tbody tr").count() > 0
    page.screenshot(path=str(artifacts / "list_cells_phone.png"))
    context.close()


def test_map_panel_figure_links_to_its_list(browser, server, logins, login):
    context, page = _fresh(browser)
    login(page, logins["supervisor"])
    page.goto(f"{server}/map")
    page.wait_for_function("() => window.gridmap && window.gridmap.unitLoaded", timeout=30_000)
    page.locator("#gm-figures a", has_text="逾期未走访儿童").click()
    page.wait_for_load_state()
    assert "/lists/overdue" in page.url
    # A row's map link opens the map at its place.
    href = page.locator("#gm-list tbody tr td:last-child a").first.get_attribute("href")
    assert href.startswith("/map?at=")
    page.goto(f"{server}{href}")
    page.wait_for_function("() => window.gridmap && window.gridmap.unitLoaded", timeout=30_000)
    assert page.evaluate("() => window.gridmap.at.length") == 2
    context.close()


def test_search_with_several_matches(browser, server, logins, login, engine, artifacts):
    with engine.connect() as c:
        surname, n = c.execute(sa.text(
            "SELECT left(ch.name, 1), count(*) FROM child ch "
            "JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id "
            "JOIN unit t ON t.id = c.township_id WHERE t.code = :t "
            "GROUP BY 1 ORDER BY 2 DESC LIMIT 1"), {"t": logins["supervisor"]["unit"]}).one()
    context, page = _fresh(browser)
    login(page, logins["supervisor"])
    page.goto(f"{server}/map")
    page.wait_for_function("() => window.gridmap && window.gridmap.unitLoaded", timeout=30_000)
    page.fill("#gm-search", surname)
    page.press("#gm-search", "Enter")
    page.wait_for_function("() => window.gridmap.searchHits > 1", timeout=10_000)
    hits = min(n, 10)
    assert page.locator("#gm-results li.gm-hit").count() == hits
    assert page.evaluate("() => window.gridmap.found") is None  # several: none is picked
    if n > 10:
        page.locator("#gm-more").click()
        page.wait_for_function(f"() => window.gridmap.searchHits > {hits}", timeout=10_000)
    page.locator("#gm-results li.gm-hit a").nth(1).click()
    page.wait_for_function("() => window.gridmap.found", timeout=10_000)
    assert page.locator(".leaflet-popup-content a").get_attribute("href").startswith(
        "/record/child/")
    page.screenshot(path=str(artifacts / "map_search.png"))
    assert page.console_errors == []
    context.close()


def test_chinese_404_page(browser, server, logins, login):
    context, page = _fresh(browser)
    resp = page.goto(f"{server}/no/such/page")
    assert resp.status == 404
    assert page.locator("h1").inner_text() == "页面不存在"
    page.locator("#gm-back").click()
    page.wait_for_load_state()
    assert page.url.rstrip("/") == server
    login(page, logins["planner"])
    resp = page.goto(f"{server}/lists/overdue")
    assert resp.status == 403 and page.locator("h1").inner_text() == "无权访问"
    context.close()


MAP = "window[Object.keys(window).find(k => k.startsWith('map_') && window[k].setView)]"


def test_map_reads_at_a_glance(browser, server, logins, login, artifacts):
    for width, height, name in ((1366, 768, "map_1366x768.png"), (390, 844, "map_390x844.png")):
        context, page = _fresh(browser, width, height)
        login(page, logins["supervisor"])
        page.goto(f"{server}/map")
        page.wait_for_function("() => window.gridmap && window.gridmap.unitLoaded "
                               "&& window.gridmap.layers.status", timeout=30_000)
        page.wait_for_timeout(1500)
        # One entry for the status layers in the layer list.
        labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
        assert sum("走访状况" in t for t in labels) == 1
        assert not any("网格走访状态" in t or "村级走访状况" in t for t in labels)
        # Facility symbols come from the current zoom's tiles only (tiles of another
        # zoom would be drawn scaled up).
        levels = page.evaluate("""() => { const vg = window.gridmap.vgs.facilities;
            return Object.keys(vg._levels).filter(
              z => vg._levels[z].el.style.display !== 'none').map(Number)
              .concat([vg._tileZoom]); }""")
        assert len(set(levels)) == 1, levels
        if width < 700:
            panel = page.locator("#gm-panel")
            assert "gm-folded" in panel.get_attribute("class")
            assert not page.locator("#gm-figures").is_visible()
            page.screenshot(path=str(artifacts / name))
            page.locator("#gm-unit").click()
            assert page.locator("#gm-figures").is_visible()
            page.screenshot(path=str(artifacts / name.replace(".png", "_panel.png")))
        else:
            page.screenshot(path=str(artifacts / name))
            # Zoomed out, the villages' status is shown and keyed instead of the cells'.
            page.evaluate(f"() => {{ const m = {MAP}; m.setView(m.getCenter(), 9); }}")
            page.wait_for_timeout(1500)
            legend = page.locator(".gm-legend").inner_text()
            assert "逾期网格 <10%" in legend and "按期走访" not in legend
            page.screenshot(path=str(artifacts / "map_1366x768_zoomed_out.png"))
        assert page.console_errors == []
        context.close()

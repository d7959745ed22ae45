"""The planner view: choropleth, blind spots, sites; aggregates only."""

import re


def test_planner_view(page, server, logins, login, artifacts):
    login(page, logins["planner"])
    resp = page.goto(f"{server}/map/planner?type=children_home")
    assert resp.status == 200
    page.wait_for_function("() => window.gridmap && window.gridmap.ready")
    html = page.content()
    assert page.locator("#gm-villages tr").count() == 90  # header + 89 villages
    assert page.locator(".leaflet-overlay-pane path").count() >= 89
    assert page.locator("#gm-sites tr").count() > 1
    # Layer names and the legend come from the registry's planner layers.
    from layers.registry import PLANNER

    control = page.locator(".leaflet-control-layers").inner_text()
    assert all(layer.title["zh"] in control for layer in PLANNER[:2])
    legend = page.locator(".gm-legend").inner_text()
    assert "半径外 >60%" in legend and "建议新址" in legend
    # No people: no household or child fields, and every shown count is 0 or at least 5.
    for bad in ("household_id", "child_id", "head_name", "address"):
        assert bad not in html
    counts = [int(x.replace(",", "")) for x in re.findall(
        r"class=['\"]n['\"]>([\d,]+)<", html)]
    assert counts and all(c == 0 or c >= 5 for c in counts)
    page.select_option("select[name=type]", "school")
    page.wait_for_function("() => window.gridmap && window.gridmap.ready")
    assert "type=school" in page.url
    page.screenshot(path=str(artifacts / "planner.png"), full_page=True)
    assert page.console_errors == []
    assert page.hosts == {server.split("/")[2]}


def test_planner_view_is_not_for_grid_workers(page, server, logins, login):
    login(page, logins["grid_worker"])
    assert page.goto(f"{server}/map/planner").status == 403

"""Emergency placement in the browser: search near a point, reserve a bed."""

import sqlalchemy as sa


def test_find_and_reserve(page, server, logins, login, engine, artifacts):
    with engine.connect() as conn:
        child, lon, lat = conn.execute(sa.text(
            "SELECT c.id, ST_X(h.geom), ST_Y(h.geom) FROM child c "
            "JOIN household h ON h.id = c.household_id WHERE NOT EXISTS (SELECT 1 FROM placement p "
            "WHERE p.child_id = c.id AND p.status = 'active') AND NOT c.has_disability "
            "AND c.birth_date < now() - interval '7 years' ORDER BY c.id LIMIT 1")).one()
    login(page, logins["responder"])
    page.goto(f"{server}/map/nearest")
    page.wait_for_function("() => window.gridmap && window.gridmap.ready")
    page.fill("#gm-child", str(child))
    page.click("#gm-from-child")
    page.wait_for_function("() => window.gridmap.results > 0", timeout=10_000)
    # The search started from the child's home, and the boundaries are drawn for context.
    assert abs(float(page.input_value("#gm-lon")) - lon) < 1e-5
    assert abs(float(page.input_value("#gm-lat")) - lat) < 1e-5
    page.wait_for_function("() => window.gridmap.boundaries >= 2", timeout=10_000)
    assert page.locator(".gm-fac").count() >= 1
    assert "公里" in page.locator("#gm-results").inner_text()
    page.locator(".gm-reserve").first.click()
    page.wait_for_function("() => window.gridmap.reserved", timeout=10_000)
    placement = page.evaluate("window.gridmap.reserved")
    page.screenshot(path=str(artifacts / "placement.png"), full_page=True)
    with engine.begin() as conn:
        row = conn.execute(sa.text("SELECT child_id, facility_id, status FROM placement "
                                   "WHERE id = :p"), {"p": placement}).one()
        assert row.child_id == child and row.status == "active"
        conn.execute(sa.text("UPDATE facility SET occupied = occupied - 1 WHERE id = :f"),
                     {"f": row.facility_id})
        conn.execute(sa.text("DELETE FROM placement WHERE id = :p"), {"p": placement})
    assert page.console_errors == []
    assert page.hosts == {server.split("/")[2]}


def test_clicking_the_map_searches_there(page, server, logins, login):
    login(page, logins["responder"])
    page.goto(f"{server}/map/nearest?lang=en")
    page.wait_for_function("() => window.gridmap && window.gridmap.ready")
    page.locator(".folium-map").click(position={"x": 640, "y": 240})
    page.wait_for_function("() => window.gridmap.results > 0 || "
                           "document.querySelector('.gm-err')", timeout=10_000)
    assert page.locator("#gm-results").inner_text()
    assert page.console_errors == []


def test_names_the_child_and_drops_earlier_filters(page, server, logins, login, engine):
    """Issue 14: the page says whose bed it reserves, and choosing a child replaces the
    age, sex and disability an earlier search had typed in."""
    with engine.connect() as conn:
        child = conn.execute(sa.text(
            "SELECT c.id, c.name, c.sex FROM child c WHERE NOT c.has_disability "
            "AND c.birth_date < now() - interval '7 years' ORDER BY c.id LIMIT 1 OFFSET 5")
        ).mappings().one()
    login(page, logins["responder"])
    page.goto(f"{server}/map/nearest")
    page.wait_for_function("() => window.gridmap && window.gridmap.ready")
    assert "尚未选择儿童" in page.inner_text("#gm-who")
    page.fill("#gm-age", "3")
    page.select_option("#gm-sex", "female" if child["sex"] == "male" else "male")
    page.check("#gm-dis")
    page.click("#gm-search")
    page.wait_for_function("() => window.gridmap.searches >= 1", timeout=10_000)
    # Reserving with no child named is refused on the page, before any request.
    if page.locator(".gm-reserve").count():
        page.locator(".gm-reserve").first.click()
        assert "尚未选择儿童" in page.locator(".gm-msg").first.inner_text()
    page.fill("#gm-child", str(child["id"]))
    page.click("#gm-from-child")
    page.wait_for_function("() => window.gridmap.searches >= 2", timeout=10_000)
    assert child["name"] in page.inner_text("#gm-who-name")
    assert page.input_value("#gm-sex") == child["sex"]
    assert not page.is_checked("#gm-dis")
    assert int(page.input_value("#gm-age")) >= 7
    assert child["name"] in page.locator(".gm-reserve").first.inner_text()
    assert page.console_errors == []

"""The route sheet on a phone-sized screen: stops in order, downloads, record a visit."""

import sqlalchemy as sa


def test_route_sheet(browser, server, logins, login, engine, artifacts):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                  geolocation=None)
    page = context.new_page()
    errors, hosts = [], set()
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
    with engine.connect() as conn:
        worker = conn.execute(sa.text(
            "SELECT worker_id FROM app_user WHERE username = 'demo_grid_head'")).scalar_one()
        before = conn.execute(sa.text("SELECT count(*) FROM visit")).scalar()
    login(page, logins["grid_head"])
    page.goto(f"{server}/map/route/{worker}?date=2026-11-24&within_days=30")
    stops = page.locator(".gm-stop")
    assert stops.count() > 0
    assert "公里" in page.locator("#gm-summary").inner_text()
    assert page.locator("h1").inner_text().endswith("2026年11月24日")
    assert page.locator(".leaflet-marker-icon").count() == stops.count()
    csv = page.request.get(page.locator("a", has_text="下载 CSV").get_attribute("href")
                           .replace("/api", f"{server}/api", 1))
    assert csv.ok and csv.text().lstrip("\ufeff").startswith("序号")
    page.screenshot(path=str(artifacts / "route_sheet.png"), full_page=True)
    button = page.locator(".gm-record").first
    button.click()
    page.wait_for_function("() => document.querySelector('.gm-record').disabled", timeout=10_000)
    with engine.begin() as conn:
        after = conn.execute(sa.text("SELECT count(*) FROM visit")).scalar()
        kind, point, flags = conn.execute(sa.text(
            "SELECT kind, geom IS NOT NULL, flag_reason FROM visit "
            "WHERE id = (SELECT max(id) FROM visit)")).one()
        conn.execute(sa.text("DELETE FROM visit WHERE id = (SELECT max(id) FROM visit)"))
    assert after == before + 1
    # The browser gave no position: no point is made up, the visit is flagged, and a
    # grid head's visit is the return visit.
    assert kind == "return" and not point and flags == "no_gps"
    assert "无定位" in button.inner_text()
    assert errors == [] and hosts == {server.split("/")[2]}
    context.close()


def test_someone_elses_route_is_not_found(page, server, logins, login, engine):
    with engine.connect() as conn:
        other = conn.execute(sa.text(
            "SELECT id FROM worker WHERE role = 'grid_head' AND id <> (SELECT worker_id "
            "FROM app_user WHERE username = 'demo_grid_head') LIMIT 1")).scalar_one()
    login(page, logins["grid_head"])
    resp = page.goto(f"{server}/map/route/{other}")
    assert resp.status == 404


def test_record_visit_sends_the_phones_position(browser, server, logins, login, engine):
    """With the phone's position allowed, the visit carries it and is checked against the
    household: a fix 0.1° away is flagged as far from the household."""
    with engine.connect() as conn:
        worker = conn.execute(sa.text(
            "SELECT worker_id FROM app_user WHERE username = 'demo_grid_head'")).scalar_one()
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    login(page, logins["grid_head"])
    page.goto(f"{server}/map/route/{worker}?date=2026-11-24&within_days=30")
    child = int(page.locator(".gm-record").first.get_attribute("data-child"))
    with engine.connect() as conn:
        lon, lat = conn.execute(sa.text(
            "SELECT ST_X(h.geom), ST_Y(h.geom) FROM child c JOIN household h "
            "ON h.id = c.household_id WHERE c.id = :c"), {"c": child}).one()
    context.grant_permissions(["geolocation"])
    context.set_geolocation({"longitude": lon + 0.1, "latitude": lat})
    page.locator(".gm-record").first.click()
    page.wait_for_function("() => document.querySelector('.gm-record').disabled", timeout=10_000)
    with engine.begin() as conn:
        x, flags = conn.execute(sa.text(
            "SELECT ST_X(geom), flag_reason FROM visit WHERE id = (SELECT max(id) FROM visit)"
        )).one()
        conn.execute(sa.text("DELETE FROM visit WHERE id = (SELECT max(id) FROM visit)"))
    assert abs(x - (lon + 0.1)) < 1e-6
    assert "gps_far_from_household" in flags
    context.close()


def test_map_panel_leads_to_my_route(page, server, logins, login):
    login(page, logins["grid_head"])
    page.goto(f"{server}/map")
    page.wait_for_function("() => window.gridmap && window.gridmap.unitLoaded", timeout=30_000)
    assert "规划视图" not in page.locator(".gm-links").inner_text()
    page.locator(".gm-links a", has_text="我的走访路线").click()
    page.wait_for_load_state()
    assert "/map/route/" in page.url
    assert page.locator("h1").inner_text().startswith("走访路线单")

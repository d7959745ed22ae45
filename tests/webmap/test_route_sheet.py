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
    assert page.locator(".leaflet-marker-icon").count() == stops.count()
    csv = page.request.get(page.locator("a", has_text="下载 CSV").get_attribute("href")
                           .replace("/api", f"{server}/api", 1))
    assert csv.ok and csv.text().lstrip("\ufeff").startswith("序号")
    page.screenshot(path=str(artifacts / "route_sheet.png"), full_page=True)
    button = page.locator(".gm-record").first
    button.click()
    page.wait_for_function("document.querySelector('.gm-record').disabled", timeout=10_000)
    with engine.begin() as conn:
        after = conn.execute(sa.text("SELECT count(*) FROM visit")).scalar()
        conn.execute(sa.text("DELETE FROM visit WHERE id = (SELECT max(id) FROM visit)"))
    assert after == before + 1
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

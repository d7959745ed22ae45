"""The route sheet on a phone-sized screen and on paper: choose a day and a budget, one
number per stop, the whole day printed, the visit form with undo, visits recorded
without signal and sent once when it returns. One browser for the module."""

import subprocess

import pytest
import sqlalchemy as sa

DATE = "2026-11-24"
READY = "() => window.gridmap && window.gridmap.ready"


@pytest.fixture(scope="module")
def worker(engine):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT worker_id FROM app_user WHERE username = 'demo_grid_head'")).scalar_one()


@pytest.fixture
def phone(browser, login, logins):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    page.errors, page.hosts = [], set()
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("request", lambda r: page.hosts.add(r.url.split("/")[2]))
    login(page, logins["grid_head"])
    yield page
    context.close()


def _open(page, server, worker, query=f"date={DATE}&within_days=30"):
    resp = page.goto(f"{server}/map/route/{worker}?{query}")
    assert resp.status == 200
    page.wait_for_function(READY, timeout=20_000)
    return resp


def _numbers(page) -> list[str]:
    return page.locator(".gm-stop-icon .gm-num").all_inner_texts()


def test_choose_date_and_budget(phone, server, worker, artifacts):
    page = phone
    _open(page, server, worker)
    full = page.locator(".gm-stop").count()
    assert full > 0
    assert "公里" in page.locator("#gm-summary").inner_text()
    assert "2026年11月24日" in page.locator("h1").inner_text()
    # A shorter day on the page's own controls: fewer stops, within the budget.
    page.fill("#gm-date", "2026-11-25")
    page.fill("#gm-budget", "120")
    page.evaluate("() => { window.gridmap.ready = false; }")
    page.click("#gm-apply")
    page.wait_for_function(READY, timeout=20_000)
    assert "budget_min=120" in page.url and "date=2026-11-25" in page.url
    assert "2026年11月25日" in page.locator("h1").inner_text()
    short = page.locator(".gm-stop").count()
    assert 0 < short <= full
    summary = page.locator("#gm-summary").inner_text()
    assert "时间预算 120 分钟" in summary
    # Each stop numbered once: no number twice, and zoomed in all of them are there.
    numbers = _numbers(page)
    assert len(numbers) == len(set(numbers))
    # Every stop has one marker with its own number; at the zoom the page chose (the
    # day's stops) each is either shown or counted in a group.
    labels = page.evaluate("""() => window.gridmap.cluster.getLayers()
      .map(m => m.options.icon.options.html.textContent)""")
    assert sorted(labels, key=int) == [str(i) for i in range(1, short + 1)]
    shown = page.evaluate("""() => { const n = document.querySelectorAll(
        '.gm-stop-icon .gm-num').length;
      const groups = [...document.querySelectorAll('.gm-cluster')]
        .map(e => parseInt(e.textContent, 10)).reduce((a, b) => a + b, 0);
      return n + groups; }""")
    assert shown == short
    page.screenshot(path=str(artifacts / "route_sheet_budget.png"), full_page=True)
    # The CSV link follows the controls.
    csv = page.request.get(server + page.locator("#gm-csv").get_attribute("href"))
    assert csv.ok and csv.text().lstrip("\ufeff").startswith("序号")
    assert len(csv.text().strip().splitlines()) == short + 1
    assert page.errors == [] and page.hosts == {server.split("/")[2]}


def test_week_view_lists_days_and_unplanned(phone, server, worker, artifacts):
    page = phone
    _open(page, server, worker, f"date={DATE}&mode=week&budget_min=240")
    days = page.locator(".gm-day")
    assert page.locator("#gm-net").inner_text() == ""
    assert days.count() == 5
    assert "一周计划" in page.locator("#gm-summary").inner_text()
    numbers = _numbers(page)
    assert len(numbers) == len(set(numbers))
    page.screenshot(path=str(artifacts / "route_sheet_week.png"))
    assert page.errors == []


def test_print_holds_every_stop(phone, server, worker, artifacts, engine):
    page = phone
    _open(page, server, worker, f"date={DATE}&within_days=30")
    addresses = page.locator(".gm-stop .gm-address").all_inner_texts()
    assert len(addresses) > 6
    page.set_viewport_size({"width": 1000, "height": 900})
    page.emulate_media(media="print")
    page.wait_for_timeout(500)
    pdf = artifacts / "route_sheet.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    flat = "".join(text.split())
    missing = [a for a in addresses if "".join(a.split()) not in flat]
    assert missing == []
    assert text.count("\f") >= 2
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(pdf),
                    str(artifacts / "route_sheet_print")], check=True)
    # The map with its line is on the first page.
    first = text.split("\f")[0]
    assert "走访路线单" in first and "".join(addresses[0].split()) in "".join(first.split())


def _visits(engine, child):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT id, kind, checks, flag_reason, outcome, note, client_id FROM visit "
            "WHERE child_id = :c ORDER BY id"), {"c": child}).mappings().all()


def test_visit_form_and_undo(phone, server, worker, engine, artifacts):
    page = phone
    _open(page, server, worker)
    button = page.locator(".gm-record").first
    child = int(button.get_attribute("data-child"))
    before = len(_visits(engine, child))
    button.click()
    dialog = page.locator("#gm-visit")
    assert dialog.is_visible()
    assert "记录" in page.locator("#gm-visit-for").inner_text()
    assert "demo_grid_head" in page.locator("#gm-visit-by").inner_text()
    page.check("input[name=child_seen][value=yes]")
    page.check("input[name=guardian_present][value=no]")
    page.select_option("#gm-living", "poor")
    page.select_option("#gm-school", "irregular")
    page.check("input[name=harm_signs][value=yes]")
    page.fill("textarea[name=harm_detail]", "手臂有淤青")
    page.select_option("#gm-outcome", "follow_up")
    page.fill("textarea[name=note]", "下周再访")
    page.screenshot(path=str(artifacts / "route_visit_form.png"), full_page=False)
    page.click("#gm-visit-save")
    page.wait_for_selector(".gm-undo", timeout=10_000)
    rows = _visits(engine, child)
    assert len(rows) == before + 1
    v = rows[-1]
    assert v["kind"] == "return" and v["outcome"] == "需再次走访" and v["note"] == "下周再访"
    assert v["checks"] == {"child_seen": True, "guardian_present": False, "harm_signs": True,
                           "living_conditions": "poor", "school_attendance": "irregular",
                           "harm_detail": "手臂有淤青"}
    assert "harm_signs" in v["flag_reason"] and v["client_id"] is not None
    assert "受侵害迹象" in button.inner_text()
    page.screenshot(path=str(artifacts / "route_visit_saved.png"), full_page=False)
    page.click(".gm-undo")
    page.wait_for_function("() => window.gridmap.undone === 1", timeout=10_000)
    assert len(_visits(engine, child)) == before
    assert not button.is_disabled()
    assert page.errors == []


def test_offline_visits_sync_once(phone, server, worker, engine, artifacts):
    page = phone
    _open(page, server, worker)
    page.wait_for_function("() => window.gridmap.offlineReady", timeout=20_000)
    buttons = page.locator(".gm-record")
    children = [int(buttons.nth(i).get_attribute("data-child")) for i in range(2)]
    before = {c: len(_visits(engine, c)) for c in children}
    page.context.set_offline(True)
    for i in range(2):
        buttons.nth(i).click()
        page.check("input[name=child_seen][value=yes]")
        page.check("input[name=guardian_present][value=yes]")
        page.check("input[name=harm_signs][value=no]")
        page.select_option("#gm-outcome", "no_concern")
        page.click("#gm-visit-save")
        page.wait_for_function(f"() => window.gridmap.queued === {i + 1}", timeout=10_000)
    assert "离线" in page.locator("#gm-net").inner_text()
    page.screenshot(path=str(artifacts / "route_offline.png"), full_page=False)
    assert {c: len(_visits(engine, c)) for c in children} == before
    # Sent after a reconnect (the page's CSRF token having run out meanwhile: it fetches
    # a fresh one), and once more by hand: stored once each.
    page.evaluate("() => { window.gridmap.cfg.csrf = 'expired'; }")
    page.context.set_offline(False)
    page.wait_for_function("() => window.gridmap.queued === 0 && window.gridmap.sent >= 2",
                           timeout=20_000)
    after = {c: _visits(engine, c) for c in children}
    for c in children:
        assert len(after[c]) == before[c] + 1
    v = after[children[0]][-1]
    resend = page.request.post(f"{server}/api/visits", headers={
        "X-CSRFToken": page.evaluate(
            "() => JSON.parse(document.getElementById('gm-data').textContent).csrf")},
        data={"child_id": children[0], "visited_at": "2026-11-24T10:00:00+08:00",
              "kind": "return", "client_id": str(v["client_id"])})
    assert resend.status == 200 and resend.json()["id"] == v["id"]
    assert len(_visits(engine, children[0])) == before[children[0]] + 1
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM visit WHERE id = ANY(:ids)"),
                     {"ids": [after[c][-1]["id"] for c in children]})


def test_service_worker_and_manifest_are_served(phone, server):
    sw = phone.request.get(f"{server}/map/route/sw.js")
    assert sw.ok and "javascript" in sw.headers["content-type"]
    assert sw.headers["service-worker-allowed"] == "/map/route/"
    man = phone.request.get(f"{server}/map/route/manifest.webmanifest")
    assert man.ok and man.json()["scope"] == "/map/route/"
    csp = sw.headers["content-security-policy"]
    assert "worker-src 'self'" in csp and "manifest-src 'self'" in csp


def test_grid_worker_records_regular_visits(browser, server, logins, login, engine):
    """A grid worker's form sends kind=regular (return is refused for the role)."""
    with engine.connect() as conn:
        gw = conn.execute(sa.text(
            "SELECT worker_id FROM app_user WHERE username = 'demo_grid_worker'")).scalar()
    if gw is None:
        pytest.skip("no demo grid worker login")
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    login(page, logins["grid_worker"])
    page.goto(f"{server}/map/route/{gw}?date={DATE}&within_days=30")
    page.wait_for_function(READY, timeout=20_000)
    kind = page.evaluate("() => JSON.parse(document.getElementById('gm-data').textContent)"
                         ".visit_kind")
    assert kind == "regular"
    context.close()


def test_someone_elses_route_is_not_found(phone, server, engine):
    with engine.connect() as conn:
        other = conn.execute(sa.text(
            "SELECT id FROM worker WHERE role = 'grid_head' AND id <> (SELECT worker_id "
            "FROM app_user WHERE username = 'demo_grid_head') LIMIT 1")).scalar_one()
    resp = phone.goto(f"{server}/map/route/{other}")
    assert resp.status == 404


def test_record_visit_sends_the_phones_position(browser, server, logins, login, engine,
                                                worker):
    """With the phone's position allowed, the visit carries it and is checked against the
    household: a fix 0.1° away is flagged as far from the household."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    login(page, logins["grid_head"])
    _open(page, server, worker)
    child = int(page.locator(".gm-record").first.get_attribute("data-child"))
    with engine.connect() as conn:
        lon, lat = conn.execute(sa.text(
            "SELECT ST_X(h.geom), ST_Y(h.geom) FROM child c JOIN household h "
            "ON h.id = c.household_id WHERE c.id = :c"), {"c": child}).one()
    context.grant_permissions(["geolocation"])
    context.set_geolocation({"longitude": lon + 0.1, "latitude": lat})
    page.locator(".gm-record").first.click()
    page.check("input[name=child_seen][value=yes]")
    page.check("input[name=guardian_present][value=yes]")
    page.check("input[name=harm_signs][value=no]")
    page.select_option("#gm-outcome", "no_concern")
    page.click("#gm-visit-save")
    page.wait_for_selector(".gm-undo", timeout=10_000)
    rows = _visits(engine, child)
    with engine.begin() as conn:
        x, flags = conn.execute(sa.text(
            "SELECT ST_X(geom), flag_reason FROM visit WHERE id = :id"),
            {"id": rows[-1]["id"]}).one()
        conn.execute(sa.text("DELETE FROM visit WHERE id = :id"), {"id": rows[-1]["id"]})
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
    page.wait_for_function(READY, timeout=20_000)
    assert page.locator("h1").inner_text().startswith("走访路线单")


def test_start_where_i_am(browser, server, logins, login, worker, engine):
    """"我的位置": the phone's position is the start, the API orders the tour from there
    and the start marker sits there."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    login(page, logins["grid_head"])
    _open(page, server, worker)
    office = page.evaluate("() => JSON.parse(document.getElementById('gm-data').textContent)"
                           ".route.start")
    last = page.evaluate("() => JSON.parse(document.getElementById('gm-data').textContent)"
                         ".route.stops.slice(-1)[0]")
    context.grant_permissions(["geolocation"])
    context.set_geolocation({"longitude": last["lon"], "latitude": last["lat"]})
    page.select_option("#gm-start", "here")
    page.evaluate("() => { window.gridmap.ready = false; }")
    with page.expect_response(lambda r: "/api/routes?" in r.url) as info:
        page.click("#gm-apply")
    page.wait_for_function(READY, timeout=20_000)
    assert "start_lon=" in info.value.url
    route = info.value.json()
    assert route["start"] != office
    assert abs(route["start"][0] - last["lon"]) < 1e-5
    assert page.locator(".gm-stop").count() > 0
    context.close()


def test_sheet_opens_without_signal(phone, server, worker, artifacts):
    """Opened once with signal, the sheet (page, plan, assets) opens again without."""
    page = phone
    _open(page, server, worker)
    page.wait_for_function("() => window.gridmap.offlineReady && "
                           "navigator.serviceWorker.controller", timeout=20_000)
    page.wait_for_timeout(3500)  # the page keeps its own copy after 3 s
    stops = page.locator(".gm-stop").count()
    page.context.set_offline(True)
    page.reload()
    page.wait_for_function(READY, timeout=20_000)
    assert page.locator(".gm-stop").count() == stops
    assert page.locator(".leaflet-marker-icon").count() > 0
    page.screenshot(path=str(artifacts / "route_offline_reload.png"))
    page.context.set_offline(False)


def test_signing_out_forgets_the_kept_sheet(phone, server, worker):
    """The kept copy of a route sheet holds children's names and addresses: after the
    grid head signs out, the phone must not open it without signal."""
    page = phone
    _open(page, server, worker)
    page.wait_for_function("() => window.gridmap.offlineReady && "
                           "navigator.serviceWorker.controller", timeout=20_000)
    page.wait_for_timeout(3500)
    kept = page.evaluate("() => caches.open('gridmap-route-v1').then(c => c.keys())"
                         ".then(k => k.length)")
    assert kept > 0
    page.locator("form.gm-logout button").click()
    page.wait_for_url("**/login**")
    page.wait_for_function("() => window.gridmapSignedOut === true", timeout=10_000)
    left = page.evaluate("() => caches.keys()")
    assert "gridmap-route-v1" not in left
    page.context.set_offline(True)
    resp = page.goto(f"{server}/map/route/{worker}?date={DATE}&within_days=30")
    assert page.locator(".gm-stop").count() == 0
    assert resp is None or resp.status != 200 or "登录" in page.content() or \
        "没有网络" in page.content()
    page.context.set_offline(False)

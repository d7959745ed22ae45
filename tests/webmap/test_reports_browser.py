"""Discovery reports in the browser: a hotline operator records an urgent report on a
phone; the responder finds it in the inbox, accepts it and places the child from it (a
bed is reserved, the placement names the report); a general report nobody accepts
reaches the township supervisor's inbox after an escalation pass."""

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from geo.cases import reports

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def child(engine, demo):
    """A child old enough for a shelter, without a disability or an active placement,
    whose name is unique in the county (so a search by name finds one)."""
    with engine.connect() as conn:
        return dict(conn.execute(sa.text(
            "SELECT c.id, c.name FROM child c WHERE NOT c.has_disability "
            "AND c.birth_date < now() - interval '8 years' "
            "AND c.birth_date > now() - interval '15 years' "
            "AND NOT EXISTS (SELECT 1 FROM placement p WHERE p.child_id = c.id "
            "                AND p.status = 'active') "
            "AND (SELECT count(*) FROM child o WHERE strpos(o.name, c.name) > 0) = 1 "
            "ORDER BY c.id DESC LIMIT 1")).mappings().one())


@pytest.fixture
def phone(browser, server):
    context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    pg = context.new_page()
    pg.console_errors = []
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))
    yield pg
    context.close()


def _english(page) -> list[str]:
    """Visible words of English on a Chinese page (user names and codes aside)."""
    text = re.sub(r"demo_\w+", "", page.locator("main").inner_text())
    return [w for w in re.findall(r"[A-Za-z]{4,}", text)
            if w not in ("WGS", "GCJ", "GPS")]


def test_hotline_report_accept_and_place(phone, page, server, logins, login, engine, child,
                                         artifacts):
    # 1. The hotline operator records an urgent report on a phone.
    login(phone, logins["responder"])
    phone.goto(f"{server}/reports/new")
    phone.wait_for_function("() => window.gridmap && window.gridmap.ready")
    phone.locator(".gm-sev-urgent").click()
    phone.select_option("#source", "hotline_110")
    phone.fill("#reporter_name", "张女士")
    phone.fill("#reporter_phone", "13700000000")
    phone.fill("#gm-child-q", child["name"])
    phone.click("#gm-child-search")
    phone.wait_for_function("() => window.gridmap.hits > 0", timeout=10_000)
    phone.locator(".gm-hit").first.click()
    assert phone.locator("#gm-child-chosen").is_visible()
    assert child["name"] in phone.inner_text("#gm-child-chosen-text")
    phone.select_option("#harm", "abuse")
    phone.fill("#description", "邻居报警：孩子被打伤，独自在家")
    phone.screenshot(path=str(artifacts / "report_new_phone.png"), full_page=True)
    assert _english(phone) == []
    # Nothing sticks out sideways on a phone.
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    phone.click("#gm-submit")
    phone.wait_for_url(re.compile(r".*/reports/\d+$"), timeout=10_000)
    rid = int(phone.url.rsplit("/", 1)[1])
    phone.wait_for_function("() => window.gridmap && window.gridmap.ready")
    phone.screenshot(path=str(artifacts / "report_show_phone.png"), full_page=True)
    assert "紧急" in phone.inner_text("h1") and "待受理" in phone.inner_text("h1")
    assert "剩余" in phone.inner_text("#gm-time-left")
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT severity, level, status, child_id, source, reporter_name FROM report "
            "WHERE id = :r"), {"r": rid}).mappings().one()
    assert dict(row) == {"severity": "urgent", "level": "county", "status": "new",
                         "child_id": child["id"], "source": "hotline_110",
                         "reporter_name": "张女士"}
    assert phone.console_errors == []

    # 2. The responder at the desk sees it in the inbox, opens it and accepts it.
    login(page, logins["responder"])
    page.goto(f"{server}/reports")
    link = page.locator(f'a[href="/reports/{rid}"]')
    assert link.count() == 1
    page.screenshot(path=str(artifacts / "report_inbox.png"), full_page=True)
    assert _english(page) == []
    link.click()
    page.wait_for_function("() => window.gridmap && window.gridmap.ready")
    page.click("#gm-accept")
    page.wait_for_function(
        "() => document.querySelector('h1').textContent.indexOf('已受理') >= 0",
        timeout=10_000)
    assert page.locator("#gm-accept").count() == 0
    assert "受理" in page.inner_text("#gm-history")

    # 3. … and places the child from the report.
    page.click("#gm-place")
    page.wait_for_function("() => window.gridmap && window.gridmap.ready", timeout=15_000)
    page.wait_for_function("() => window.gridmap.results > 0", timeout=10_000)
    assert child["name"] in page.inner_text("#gm-who-name")
    assert f"#{rid}" in page.inner_text("#gm-who")
    assert child["name"] in page.locator(".gm-reserve").first.inner_text()
    beds_before = page.locator(".gm-beds").first.inner_text()
    page.locator(".gm-reserve").first.click()
    page.wait_for_function("() => window.gridmap.reserved", timeout=10_000)
    placement = page.evaluate("() => window.gridmap.reserved")
    page.screenshot(path=str(artifacts / "report_placement.png"), full_page=True)
    with engine.connect() as conn:
        placed = conn.execute(sa.text(
            "SELECT p.child_id, p.report_id, p.status, p.facility_id, f.capacity - "
            "f.occupied AS free FROM placement p JOIN facility f ON f.id = p.facility_id "
            "WHERE p.id = :p"), {"p": placement}).mappings().one()
        status = conn.execute(sa.text("SELECT status FROM report WHERE id = :r"),
                              {"r": rid}).scalar_one()
    assert (placed["child_id"], placed["report_id"], placed["status"]) == \
        (child["id"], rid, "active")
    assert status == "in_progress"
    # The free beds shown were refreshed after the reservation.
    beds = page.locator(f'.gm-beds[data-id="{placed["facility_id"]}"]')
    if beds.count():
        assert beds.inner_text().endswith(f" {placed['free']}")
        assert beds.inner_text() != beds_before or placed["free"] == 0
    assert "在住" not in page.inner_text("#gm-who")
    assert page.locator(".gm-release").count() == 1

    # The report page shows the placement; the child is released with a reason.
    page.select_option(".gm-release-reason", "returned_home")
    page.click(".gm-release")
    page.wait_for_function("() => window.gridmap.released", timeout=10_000)
    with engine.connect() as conn:
        released = conn.execute(sa.text(
            "SELECT status, release_reason FROM placement WHERE id = :p"),
            {"p": placement}).one()
    assert tuple(released) == ("released", "returned_home")
    page.goto(f"{server}/reports/{rid}")
    assert "返回家庭" in page.inner_text("#gm-placements")
    page.screenshot(path=str(artifacts / "report_show.png"), full_page=True)
    assert _english(page) == []
    assert page.console_errors == []


def test_unaccepted_general_report_reaches_the_township(page, server, logins, login, engine,
                                                        web_app, artifacts):
    login(page, logins["grid_worker"])
    page.goto(f"{server}/reports/new")
    page.wait_for_function("() => window.gridmap && window.gridmap.ready")
    # Placed by address in the worker's own village, with a provisional child.
    page.select_option("#village", logins["grid_worker"]["unit"])
    page.fill("#address", "三组 7 号")
    page.fill("#child_name", "小明")
    page.select_option("#child_sex", "male")
    page.fill("#child_age", "9")
    page.select_option("#harm", "dropout")
    page.fill("#description", "开学两周未到校")
    page.click("#gm-submit")
    page.wait_for_url(re.compile(r".*/reports/\d+$"), timeout=10_000)
    rid = int(page.url.rsplit("/", 1)[1])
    with engine.connect() as conn:
        level, deadline = conn.execute(sa.text(
            "SELECT level, deadline FROM report WHERE id = :r"), {"r": rid}).one()
    assert level == "village"
    login(page, logins["supervisor"])
    page.goto(f"{server}/reports")
    assert page.locator(f'a[href="/reports/{rid}"]').count() == 0
    # Nobody accepts it: an escalation pass after the deadline moves it up.
    moved = reports.run_escalation(engine, web_app.config["GRIDMAP"],
                                   now=deadline + dt.timedelta(minutes=1))
    assert {"report_id": rid, "from_level": "village", "to_level": "township"} in moved
    page.goto(f"{server}/reports")
    assert page.locator(f'a[href="/reports/{rid}"]').count() == 1
    page.screenshot(path=str(artifacts / "report_inbox_township.png"), full_page=True)
    page.click(f'a[href="/reports/{rid}"]')
    page.wait_for_function("() => window.gridmap && window.gridmap.ready")
    history = page.inner_text("#gm-history")
    assert "逾期自动升级" in history and "村/社区 → 乡镇/街道" in history
    assert page.locator("#gm-accept").count() == 1
    assert page.console_errors == []


def test_intake_says_what_is_wrong_in_chinese(phone, server, logins, login):
    login(phone, logins["grid_worker"])
    phone.goto(f"{server}/reports/new")
    phone.wait_for_function("() => window.gridmap && window.gridmap.ready")
    phone.click("#gm-submit")
    assert "发生了什么" in phone.inner_text("#gm-form-error")
    phone.fill("#description", "有孩子在路边乞讨")
    # A point far outside the worker's village.
    phone.fill("#lon", "101.0")
    phone.fill("#lat", "27.5")
    phone.click("#gm-submit")
    phone.wait_for_function(
        "() => document.getElementById('gm-form-error').textContent.length > 0")
    text = phone.inner_text("#gm-form-error")
    assert "经度" in text and "辖区" in text, text
    assert not re.search(r"[A-Za-z]{4,}", text), text
    assert "/reports/new" in phone.url


def test_report_layer_on_the_map(page, server, logins, login, engine, web_app, child):
    """The layer of open reports is in the map's layer list (off by default) and draws
    the reports in time-left colours, with its legend."""
    from types import SimpleNamespace

    with engine.begin() as conn:
        county = conn.execute(sa.text(
            "SELECT id FROM unit WHERE code = :c"), {"c": logins["admin"]["unit"]}).scalar_one()
        reports.create_report(conn, {
            "source": "public", "harm": "street", "severity": "urgent",
            "description": "街头有儿童独自乞讨", "child_id": child["id"]},
            web_app.config["GRIDMAP"], SimpleNamespace(id=None, username="test",
                                                       unit_id=county))
    login(page, logins["admin"])
    page.goto(f"{server}/map")
    page.wait_for_function("() => window.gridmap && window.gridmap.unitLoaded", timeout=30_000)
    assert "已逾期未受理" not in page.locator(".gm-legend").inner_text()
    from layers.registry import REPORT_COLOURS

    # An urgent report just filed is due within the hour.
    fills = f"""() => Array.from(document.querySelectorAll('.leaflet-tile-pane path'))
        .filter(p => p.getAttribute('fill') === '{REPORT_COLOURS["within_1h"]}').length"""
    page.wait_for_function("() => window.gridmap.layers.facilities", timeout=15_000)
    page.wait_for_timeout(1000)
    before = page.evaluate(fills)
    page.get_by_label("待处理发现报告").check()
    page.wait_for_function("() => window.gridmap.layers.reports", timeout=15_000)
    assert "已逾期未受理" in page.locator(".gm-legend").inner_text()
    assert "1小时内到期" in page.locator(".gm-legend").inner_text()
    page.wait_for_timeout(500)
    assert page.evaluate(fills) > before     # an urgent report due within the hour
    assert page.console_errors == []

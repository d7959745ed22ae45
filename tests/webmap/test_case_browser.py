"""The case loop in the browser (issue 15): a grid head assesses a child and a supervisor
approves it (the risk level, so the visit interval, changes); a grid head refers a need
to education and the education user accepts it and reports it done; a supervisor records
a guardian and supports (the overlap rule's message shown) and closes a case with a
reason; the supervisor's home lists a child turning 18; the township marks its monthly
report submitted. Outcomes are read from the database. The pages commit (the app runs
in its own thread): the children's rows are put back afterwards."""

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from geo.scope import today as county_today
from geo.visits.due import due_visits


def _english(text: str) -> list[str]:
    """Words of English on a Chinese page (user names and codes aside)."""
    text = re.sub(r"demo_\w+", "", text)
    return [w for w in re.findall(r"[A-Za-z]{4,}", text) if w != "Excel"]


@pytest.fixture(scope="module")
def kids(engine, demo, logins):
    """Four children of the grid head's village: low risk, open case, under 16, no
    active placement, visited at least once; their rows are restored at the end."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT ch.id, ch.name, ch.risk_level, ch.case_status, ch.birth_date "
            "FROM child ch JOIN household h ON h.id = ch.household_id "
            "JOIN unit c ON c.id = h.cell_id JOIN unit v ON v.id = c.village_id "
            "WHERE v.code = :v AND ch.risk_level = 'low' AND ch.case_status = 'open' "
            "AND ch.birth_date > now() - interval '16 years' "
            "AND EXISTS (SELECT 1 FROM visit vi WHERE vi.child_id = ch.id) "
            "AND NOT EXISTS (SELECT 1 FROM placement p WHERE p.child_id = ch.id "
            "                AND p.status = 'active') "
            "ORDER BY ch.id LIMIT 4"), {"v": logins["grid_head"]["unit"]}).mappings().all()
    assert len(rows) == 4, "the demo village has too few low-risk children"
    yield [dict(r) for r in rows]
    with engine.begin() as conn:
        for r in rows:
            conn.execute(sa.text(
                "UPDATE child SET risk_level = :risk, case_status = :status, "
                "birth_date = :born WHERE id = :id"),
                {"risk": r["risk_level"], "status": r["case_status"],
                 "born": r["birth_date"], "id": r["id"]})
            for table in ("assessment", "support", "guardian"):
                conn.execute(sa.text(f"DELETE FROM {table} WHERE child_id = :id"),
                             {"id": r["id"]})


@pytest.fixture
def second(browser, server):
    """A second browser (another user at the same time)."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    pg = context.new_page()
    pg.console_errors = []
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))
    yield pg
    context.close()


def _record(page, server, child_id):
    page.goto(f"{server}/record/child/{child_id}")
    page.wait_for_function("() => window.gridmap && window.gridmap.ready")


def _due(engine, cfg, child_id):
    with engine.connect() as conn:
        return next(d for d in due_visits(conn, cfg["rules"], tz=cfg["timezone"])
                    if d["child_id"] == child_id)


def test_assess_and_approve(page, second, server, logins, login, engine, kids, cfg,
                            artifacts):
    child = kids[0]
    before = _due(engine, cfg, child["id"])
    # The grid head fills in the form: every item a serious concern proposes "high".
    login(page, logins["grid_head"])
    _record(page, server, child["id"])
    assert page.locator("#gm-case-status").inner_text() == "在册"
    assert page.locator("button[data-approve]").count() == 0  # grid heads do not approve
    for item in cfg["cases"]["assessment_items"]:
        page.select_option(f"#gm-item-{item}", "2")
    assert page.inner_text("#gm-assess-proposed") == "高"
    assert int(page.inner_text("#gm-assess-score")) == 2 * sum(
        cfg["cases"]["assessment_items"].values())
    page.fill("#gm-assess-note", "父母均外出，祖母卧病")
    with page.expect_navigation():
        page.click("#gm-assess-submit")
    page.wait_for_function("() => window.gridmap && window.gridmap.ready")
    assert "待审批" in page.inner_text("#gm-assessments")
    page.locator("#gm-case").screenshot(path=str(artifacts / "case-assess.png"))
    assert _english(page.inner_text("#gm-case")) == []
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT a.id, a.status, a.proposed_risk, ch.risk_level FROM assessment a "
            "JOIN child ch ON ch.id = a.child_id WHERE a.child_id = :c"),
            {"c": child["id"]}).mappings().one()
    assert (row["status"], row["proposed_risk"], row["risk_level"]) == \
        ("proposed", "high", "low")  # nothing changes before the approval
    assert _due(engine, cfg, child["id"])["regular_due"] == before["regular_due"]

    # The township supervisor approves it: risk level and interval change.
    login(second, logins["supervisor"])
    _record(second, server, child["id"])
    with second.expect_navigation():
        second.click(f"button[data-approve='{row['id']}']")
    second.wait_for_function("() => window.gridmap && window.gridmap.ready")
    assert second.inner_text("#gm-case-risk") == "高"
    assert second.inner_text("#gm-case-status") == "已评估"
    assert "已审批" in second.inner_text("#gm-assessments")
    second.locator("#gm-case").screenshot(path=str(artifacts / "case-approve.png"))
    assert "评估 #" in second.inner_text("#gm-case-history")
    assert _english(second.inner_text("#gm-case")) == []
    with engine.connect() as conn:
        risk, status = conn.execute(sa.text(
            "SELECT risk_level, case_status FROM child WHERE id = :c"),
            {"c": child["id"]}).one()
    assert (risk, status) == ("high", "assessed")
    # The high-risk interval (7 days, not 90) from the same last visit.
    assert _due(engine, cfg, child["id"])["regular_due"] < before["regular_due"]
    assert page.console_errors == [] and second.console_errors == []


def test_refer_to_education_and_accept(page, second, server, logins, login, engine, kids,
                                       cfg, artifacts):
    child = kids[1]
    login(page, logins["grid_head"])
    _record(page, server, child["id"])
    page.select_option("#gm-r-department", "education")
    page.fill("#gm-r-service", "复学安置")
    due = (county_today(cfg["timezone"]) + dt.timedelta(days=14)).isoformat()
    page.fill("#gm-r-due", due)
    page.fill("#gm-r-note", "辍学两个月，需协调学校")
    with page.expect_navigation():
        page.click("#gm-referral-submit")
    page.wait_for_function("() => window.gridmap && window.gridmap.ready")
    assert "已转介" in page.inner_text("#gm-referrals")
    with engine.connect() as conn:
        rid, status, address = conn.execute(sa.text(
            "SELECT r.id, r.status, h.address FROM referral r JOIN child ch ON "
            "ch.id = r.child_id JOIN household h ON h.id = ch.household_id "
            "WHERE r.child_id = :c ORDER BY r.id DESC LIMIT 1"), {"c": child["id"]}).one()
    assert status == "sent"

    # The education user signs in and lands on its referrals.
    login(second, logins["department"])
    second.goto(f"{server}/")
    second.wait_for_function("() => window.gridmap && window.gridmap.ready")
    assert second.url.endswith("/referrals")
    card = second.locator(f"#gm-referral-{rid}")
    assert child["name"] in card.inner_text() and "复学安置" in card.inner_text()
    assert address not in second.content()  # the minimum of the child: no address
    assert second.locator(f"#gm-referral-{rid} a[href^='/record/']").count() == 0
    with second.expect_navigation():
        second.click(f"button[data-referral-action=accept][data-id='{rid}']")
    second.wait_for_function("() => window.gridmap && window.gridmap.ready")
    assert "已接收" in second.locator(f"#gm-referral-{rid}").inner_text()
    second.screenshot(path=str(artifacts / "case-referral-department.png"), full_page=True)
    assert _english(second.inner_text("main")) == []
    # Done needs what was done.
    second.click(f"button[data-referral-action=done][data-id='{rid}']")
    assert "办理情况" in second.inner_text("#gm-action-error")
    second.fill(f"input.gm-referral-text[data-id='{rid}']", "已联系学校，下周一返校")
    with second.expect_navigation():
        second.click(f"button[data-referral-action=done][data-id='{rid}']")
    second.wait_for_function("() => window.gridmap && window.gridmap.ready")
    with engine.connect() as conn:
        status, outcome = conn.execute(sa.text(
            "SELECT status, outcome FROM referral WHERE id = :r"), {"r": rid}).one()
        actions = conn.execute(sa.text(
            "SELECT action FROM referral_event WHERE referral_id = :r ORDER BY id"),
            {"r": rid}).scalars().all()
    assert (status, outcome) == ("done", "已联系学校，下周一返校")
    assert actions == ["send", "accept", "done"]
    # Another department's page would not show it; the done one leaves the open list.
    assert second.locator(f"#gm-referral-{rid}").count() == 0
    assert page.console_errors == [] and second.console_errors == []


def test_guardian_supports_and_close(page, server, logins, login, engine, kids, artifacts):
    child = kids[2]
    login(page, logins["supervisor"])
    _record(page, server, child["id"])
    # A guardian away in prison: not effective today.
    page.select_option("#gm-g-relation", "father")
    page.fill("#gm-g-name", "王建国")
    page.fill("#gm-g-phone", "13800000000")
    page.fill("#gm-g-until", (dt.date.today() + dt.timedelta(days=300)).isoformat())
    page.select_option("#gm-g-why", "prison")
    with page.expect_navigation():
        page.click("#gm-guardian-submit")
    page.wait_for_function("() => window.gridmap && window.gridmap.ready")
    assert "王建国" in page.inner_text("#gm-guardians")
    assert "无效" in page.inner_text("#gm-guardians")
    # Two overlapping allowances: the second is refused with the rule named.
    start = dt.date.today().replace(day=1).isoformat()
    for kind, amount in (("dibao", "600"), ("living_allowance", "1200")):
        page.select_option("#gm-s-type", kind)
        page.fill("#gm-s-amount", amount)
        page.fill("#gm-s-granted", "县民政局")
        page.fill("#gm-s-start", start)
        if kind == "dibao":
            with page.expect_navigation():
                page.click("#gm-support-submit")
            page.wait_for_function("() => window.gridmap && window.gridmap.ready")
        else:
            page.click("#gm-support-submit")
            page.wait_for_function("() => window.gridmap.refused === 409")
    message = page.inner_text("#gm-support-error")
    assert "不得重复享受" in message and "就高不就低" in message
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT array_agg(type) FROM support WHERE child_id = :c"),
                            {"c": child["id"]}).scalar() == ["dibao"]
    page.locator("#gm-case").screenshot(path=str(artifacts / "case-guardian-support.png"))
    # (The message names the rule by its configuration key.)
    assert _english(page.inner_text("#gm-case").replace(
        "cases.exclusive_allowances", "")) == []

    # Close the case: moved away asks for the destination county.
    page.select_option("#gm-close-reason", "moved_away")
    assert page.locator("#gm-close-destination").is_visible()
    page.click("#gm-close-submit")
    assert "6位" in page.inner_text("#gm-close-error")
    page.fill("#gm-close-destination", "510402")
    page.fill("#gm-close-note", "随母亲迁居东区")
    with page.expect_navigation():
        page.click("#gm-close-submit")
    page.wait_for_function("() => window.gridmap && window.gridmap.ready")
    assert page.inner_text("#gm-case-status") == "已结案"
    assert "迁出" in page.inner_text("#gm-case-history")
    assert page.locator("#gm-close-form").count() == 0
    assert page.locator("#gm-case-reopen").count() == 1
    page.screenshot(path=str(artifacts / "case-close.png"), full_page=True)
    with engine.connect() as conn:
        status = conn.execute(sa.text("SELECT case_status FROM child WHERE id = :c"),
                              {"c": child["id"]}).scalar()
        event = conn.execute(sa.text(
            "SELECT action, reason, destination, note FROM case_event WHERE child_id = :c "
            "ORDER BY id DESC LIMIT 1"), {"c": child["id"]}).mappings().one()
    assert status == "closed"
    assert dict(event) == {"action": "close", "reason": "moved_away",
                           "destination": "510402", "note": "随母亲迁居东区"}
    # The refused allowance's 409 is the only error the browser logged.
    assert [e for e in page.console_errors if "409" not in e] == []


def test_turning_18_on_the_supervisors_home(page, server, logins, login, engine, kids,
                                            cfg, artifacts):
    child = kids[3]
    today = county_today(cfg["timezone"])  # the server's day, on the county's clock
    born = today.replace(year=today.year - 18) + dt.timedelta(days=20)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE child SET birth_date = :b WHERE id = :c"),
                     {"b": born, "c": child["id"]})
    login(page, logins["supervisor"])
    page.goto(f"{server}/")
    turning = page.locator("#gm-turning-18")
    link = turning.locator(f"a[href='/record/child/{child['id']}']")
    assert link.count() == 1 and link.inner_text() == child["name"]
    assert "还有 20 天" in turning.inner_text()
    assert page.locator("#gm-overdue-referrals").count() == 1
    page.screenshot(path=str(artifacts / "case-home-turning18.png"), full_page=True)
    # The grid worker's home has no such block.
    login(page, logins["grid_worker"])
    page.goto(f"{server}/")
    assert page.locator("#gm-case-home").count() == 0


def test_township_marks_its_monthly_report_submitted(page, server, logins, login, engine,
                                                     cfg, artifacts):
    month = f"{county_today(cfg['timezone']):%Y-%m}"  # due on the 15th of next month: not late
    with engine.begin() as conn:
        conn.execute(sa.text(
            "DELETE FROM report_submission s USING unit u WHERE u.id = s.unit_id "
            "AND u.code = :t AND s.month = :m"),
            {"t": logins["supervisor"]["unit"], "m": month})
    login(page, logins["supervisor"])
    page.goto(f"{server}/reports/monthly?month={month}")
    page.wait_for_function("() => window.gridmap && window.gridmap.ready")
    assert page.locator("#gm-case-figures tbody tr").count() > 0
    assert "尚未报送" in page.inner_text("#gm-submit-state")
    with page.expect_navigation():
        page.click("#gm-submit-report")
    page.wait_for_function("() => window.gridmap && window.gridmap.ready")
    assert "已于" in page.inner_text("#gm-submit-state")
    page.screenshot(path=str(artifacts / "case-monthly.png"), full_page=True)
    assert _english(page.inner_text("main")) == []
    try:
        with engine.connect() as conn:
            who = conn.execute(sa.text(
                "SELECT a.username FROM report_submission s JOIN unit u ON u.id = s.unit_id "
                "JOIN app_user a ON a.id = s.submitted_by WHERE u.code = :t AND s.month = :m"),
                {"t": logins["supervisor"]["unit"], "m": month}).scalar()
        assert who == "demo_supervisor"
        # The county sees the township's submission in its table.
        login(page, logins["admin"])
        page.goto(f"{server}/reports/monthly?month={month}")
        row = page.locator(f"#gm-case-figures tr[data-code='{logins['supervisor']['unit']}']")
        assert row.count() == 1
        assert "未报送" not in row.inner_text() and "逾期" not in row.inner_text()
        assert "按期报送" in page.inner_text("#gm-submissions")
        page.screenshot(path=str(artifacts / "case-monthly-county.png"), full_page=True)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "DELETE FROM report_submission s USING unit u WHERE u.id = s.unit_id "
                "AND u.code = :t AND s.month = :m"),
                {"t": logins["supervisor"]["unit"], "m": month})

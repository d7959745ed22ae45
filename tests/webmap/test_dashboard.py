"""The trends page in Chromium: a supervisor opens /dashboard from the home page, the
eight charts are drawn with a line per village, the tables are under them; screenshots
at desktop and phone size, and a planner's page with hidden counts."""


def _fresh(browser, width=1366, height=768):
    context = browser.new_context(viewport={"width": width, "height": height},
                                  locale="zh-CN")
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    return context, page


def test_supervisor_opens_the_dashboard_from_home(browser, server, logins, login, artifacts):
    context, page = _fresh(browser)
    login(page, logins["supervisor"])
    page.locator("#gm-pages a", has_text="工作趋势").click()
    page.wait_for_load_state()
    assert page.url.endswith("/dashboard")
    assert page.locator("h1").inner_text().endswith("工作趋势")
    charts = page.locator("svg.gm-chart")
    assert charts.count() == 8
    villages = page.locator("#fig-visits table tbody tr").count() - 1
    assert villages >= 1
    assert page.locator("#fig-visits svg.gm-chart g.gm-line").count() == villages
    # Percentage charts also carry the township's total line.
    assert page.locator("#fig-on_time_pct svg.gm-chart g.gm-line").count() == villages + 1
    box = charts.first.bounding_box()
    assert box["width"] > 500 and box["height"] > 150
    assert page.locator("#fig-visits polyline").count() >= 1
    assert page.locator("#fig-visits table th[scope=col]").count() == 13
    page.screenshot(path=str(artifacts / "dashboard-supervisor.png"), full_page=True)
    page.locator("#fig-return_pct").screenshot(path=str(artifacts / "dashboard-chart.png"))
    page.locator("#fig-new_children").screenshot(
        path=str(artifacts / "dashboard-chart-counts.png"))
    page.select_option("select[name=months]", "6")
    page.click("#gm-trend-form button[type=submit]")
    page.wait_for_load_state()
    assert "months=6" in page.url
    assert page.locator("#fig-visits table th[scope=col]").count() == 7
    assert page.console_errors == []
    context.close()
    context, page = _fresh(browser, 390, 844)
    login(page, logins["supervisor"])
    page.goto(f"{server}/dashboard")
    page.screenshot(path=str(artifacts / "dashboard-phone.png"))
    context.close()


def test_planner_dashboard(browser, server, logins, login, artifacts):
    context, page = _fresh(browser)
    login(page, logins["planner"])
    page.goto(f"{server}/dashboard")
    assert page.locator("svg.gm-chart").count() == 8
    assert "为保护个人信息隐藏" in page.locator("main").inner_text()
    cells = page.locator("table.gm-trend-table td").all_inner_texts()
    assert "–" in cells
    assert not any(c.strip() in {"1", "2", "3", "4"} for c in cells
                   if not c.strip().replace(".", "").isdigit() or "." not in c)
    page.screenshot(path=str(artifacts / "dashboard-planner.png"), full_page=True)
    assert page.console_errors == []
    context.close()

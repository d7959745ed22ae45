"""The printable monthly report's section 案件与报送 in a browser (county user)."""


def test_case_section_prints(page, server, logins, login, artifacts):
    login(page, logins["admin"])
    page.goto(f"{server}/api/reports/monthly?format=html&month=2026-10")
    section = page.locator("#cases")
    assert section.locator("h2").inner_text() == "案件与报送"
    assert section.locator("table").count() == 3
    assert "月报报送情况" in section.inner_text()
    # The ten columns fit the page: nothing runs past the body's right edge.
    assert page.evaluate("() => document.documentElement.scrollWidth "
                         "<= document.documentElement.clientWidth")
    page.emulate_media(media="print")
    section.screenshot(path=str(artifacts / "monthly-report-cases.png"))
    assert page.console_errors == []

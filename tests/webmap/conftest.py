"""Browser tests: the app served by waitress on a free loopback port (test database,
no base map so nothing is fetched from other hosts) and Debian's Chromium driven by
Playwright (no browser download).

The pages send a Content-Security-Policy without 'unsafe-eval': ``wait_for_function``
takes an arrow function (``"() => window.gridmap.ready"``), which Playwright calls as
it is; a bare expression would be eval'd on each poll and refused by the page."""

import threading
from pathlib import Path

import pytest

from api.app import create_app

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def web_app(database, demo, cfg, tmp_path_factory, logins):
    return create_app({"database_url": database, "basemap": "none",
                       "var_dir": str(tmp_path_factory.mktemp("webvar")),
                       "id_key": cfg["id_key"], "secret_key": cfg["secret_key"]})


@pytest.fixture(scope="session")
def server(web_app):
    from waitress.server import create_server

    srv = create_server(web_app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.effective_port}"
    srv.close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (make test installs it)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    """A fresh page that records console errors and every host it contacts."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    pg = context.new_page()
    pg.console_errors = []
    pg.hosts = set()
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))
    pg.on("request", lambda r: pg.hosts.add(r.url.split("/")[2]))
    yield pg
    context.close()


@pytest.fixture
def login(server):
    def go(page, user):
        page.goto(f"{server}/login")
        page.fill("#username", user["username"])
        page.fill("#password", user["password"])
        page.click("button[type=submit]")
        page.wait_for_load_state()

    return go


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS

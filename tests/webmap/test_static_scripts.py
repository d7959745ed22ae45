"""The pages' scripts call the JSON API through one helper (static/send.js), so the
CSRF header, credentials and the Chinese "page expired" message live in one place."""

from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "webmap" / "static"
# route.js keeps its own: its offline outbox retries with a fresh token from the sheet.
OWN_FETCH = {"send.js", "route.js", "route-sw.js"}


def test_only_the_shared_helper_sends_the_csrf_header():
    senders = sorted(p.name for p in STATIC.glob("*.js")
                     if "X-CSRFToken" in p.read_text(encoding="utf-8"))
    assert set(senders) <= OWN_FETCH, senders


def test_pages_load_the_helper_before_their_script():
    templates = Path(__file__).resolve().parents[2] / "webmap" / "templates"
    for page in ("referrals", "case_monthly", "reports_new", "reports_show"):
        text = (templates / f"{page}.html").read_text(encoding="utf-8")
        own = max(text.find("filename='case.js'"), text.find("filename='reports.js'"))
        assert 0 <= text.find("filename='send.js'") < own, page

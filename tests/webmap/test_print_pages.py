"""The child record and the placement page print whole: folium's ``html, body {height:
100%}`` must not cut them to one sheet of paper."""

import re
import subprocess

import sqlalchemy as sa


def _pdf_text(page, path) -> str:
    page.emulate_media(media="print")
    page.pdf(path=str(path), format="A4")
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def _flat(text: str) -> str:
    return "".join(text.split())


def test_child_record_prints_every_visit(page, server, logins, login, engine, artifacts):
    with engine.connect() as conn:
        child = conn.execute(sa.text(
            "SELECT child_id FROM visit GROUP BY child_id ORDER BY count(*) DESC, child_id "
            "LIMIT 1")).scalar_one()
    login(page, logins["admin"])
    page.goto(f"{server}/record/child/{child}")
    rows = page.locator("#gm-record tr").all_inner_texts()
    assert len(rows) > 25, len(rows)
    text = _flat(_pdf_text(page, artifacts / "record_child.pdf"))
    assert _flat(rows[-1]) in text, rows[-1]


def test_placement_prints_every_facility(page, server, logins, login, engine, artifacts):
    with engine.connect() as conn:
        lon, lat = conn.execute(sa.text(
            "SELECT ST_X(geom), ST_Y(geom) FROM facility WHERE type = 'rescue_station' "
            "ORDER BY id LIMIT 1")).one()
    login(page, logins["responder"])
    page.set_viewport_size({"width": 800, "height": 700})
    page.goto(f"{server}/map/nearest")
    page.wait_for_function("() => window.gridmap && window.gridmap.ready")
    page.fill("#gm-lon", f"{lon:.6f}")
    page.fill("#gm-lat", f"{lat:.6f}")
    page.click("#gm-search")
    page.wait_for_function("() => window.gridmap.results > 0", timeout=10_000)
    names = page.locator(".gm-fac b").all_inner_texts() or \
        page.locator(".gm-fac").all_inner_texts()
    text = _flat(_pdf_text(page, artifacts / "placement.pdf"))
    names = [re.sub(r"^\d+\.\s*", "", n.split("\n")[0]) for n in names]
    assert len(names) >= 1
    missing = [n for n in names if _flat(n) not in text]
    assert missing == []

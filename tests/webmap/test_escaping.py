"""Data reaches our pages as text (issue 10.2), checked on the HTML without a browser."""

import re

import pytest

from webmap.base import js, offline_map, render_page, text, tooltip
from webmap.record import facility_page

EVIL = '</title></script><script>alert(1)</script><img src=x onerror=alert(1)>${alert(1)}`\\'


def test_text_is_safe_in_html_and_in_template_literals():
    out = text(EVIL)
    assert "<" not in out and ">" not in out and "`" not in out and "${" not in out
    assert "\\" not in out and '"' not in text('"') and "'" not in text("'")
    tip = offline_map({"basemap": "none"}, [26, 101])
    tooltip(EVIL).add_to(tip)
    page = render_page(tip, "zh")
    assert "<img" not in page and "${alert" not in page


def test_js_cannot_close_the_script():
    out = js({"name": EVIL, "n": 1})
    assert "</script" not in out.lower() and "<" not in out and "'" not in out
    import json

    assert json.loads(out.replace("\\u003c", "<").replace("\\u003e", ">")
                      .replace("\\u0026", "&").replace("\\u0027", "'"))["name"] == EVIL


def test_scripts_carry_the_nonce_and_markup_may_hold_none():
    m = offline_map({"basemap": "none"}, [26, 101], title=EVIL)
    page = render_page(m, "en", "<p>ours</p>", nonce="abc123", script="var ours = 1;")
    inline = [t for t in re.findall(r"<script\b[^>]*>", page) if "src=" not in t]
    assert len(inline) == 2 and all('nonce="abc123"' in t for t in inline)
    assert "var ours = 1;" in page and page.index("<p>ours</p>") < page.index("var ours")
    assert "<title>&lt;/title&gt;&lt;/script&gt;" in page
    assert page.count("<script") == len(re.findall(r"<script\b[^>]*>", page))
    with pytest.raises(ValueError):
        render_page(offline_map({"basemap": "none"}, [26, 101]), "en", "<SCRIPT>x</SCRIPT>")


def test_facility_page_shows_data_as_text():
    f = {"name": EVIL, "type": "rescue_station", "address": EVIL, "phone": EVIL,
         "free_beds": 1, "capacity": 2, "open_24h": True, "min_age": 0, "max_age": 17,
         "sex_accepted": "any", "accepts_disability": True, "lon": 101.7, "lat": 26.5}
    page = facility_page({"basemap": "none", "timezone": "Asia/Shanghai"}, "zh", f,
                         nonce="n0")
    assert "<img" not in page and "<script>alert" not in page
    script = page[page.rindex("<script"):]
    # The tooltip, in folium's JS template literal: no `${`, backtick or backslash of ours.
    assert "${alert" not in script and "&#36;{alert(1)}&#96;&#92;" in script
    assert "&lt;img src=x onerror=alert(1)&gt;" in page

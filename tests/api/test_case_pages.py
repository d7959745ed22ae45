"""The case loop's pages without a browser: who sees which part of the record page's case
panel (guardian names by field rights, escaped), the department's landing page and its
referrals page, the monthly report page (submission box, a bad month named), editing a
guardian, and the list and map layer of children without an effective guardian."""

import datetime as dt

import mapbox_vector_tile
import pytest
import sqlalchemy as sa
from test_tiles import tile_of

from geo.scope import today


@pytest.fixture
def child(engine, logins):
    """An open case in the grid worker's village; its guardians and the rows the tests
    change are put back afterwards (API writes commit)."""
    with engine.begin() as conn:
        row = conn.execute(sa.text(
            "SELECT ch.id, ch.case_status FROM child ch JOIN household h ON h.id = "
            "ch.household_id JOIN unit c ON c.id = h.cell_id WHERE (SELECT id FROM unit "
            "WHERE code = :u) IN (c.id, c.village_id) AND ch.case_status = 'open' "
            "AND ch.birth_date > now() - interval '15 years' "
            "AND NOT EXISTS (SELECT 1 FROM placement p WHERE p.child_id = ch.id "
            "                AND p.status = 'active') ORDER BY ch.id DESC LIMIT 1"),
            {"u": logins["grid_worker"]["unit"]}).one()
    yield row.id
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM support WHERE child_id = :id"), {"id": row.id})
        conn.execute(sa.text("DELETE FROM guardian WHERE child_id = :id"), {"id": row.id})


EVIL = "<img src=x onerror=alert(1)>王"


def _guardian(as_role, child, **extra):
    body = {"relation": "mother", "name": EVIL, "phone": "13900000000", **extra}
    resp = as_role("grid_worker", "POST", f"/api/children/{child}/guardians", json=body)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def test_case_panel_by_role(as_role, child):
    _guardian(as_role, child)
    page = as_role("supervisor", "GET", f"/record/child/{child}").get_data(as_text=True)
    assert 'id="gm-case"' in page and "gm-close-form" in page and "gm-assess-form" in page
    assert EVIL not in page and "&lt;img src=x onerror=alert(1)&gt;王" in page
    assert "13900000000" in page
    worker = as_role("grid_worker", "GET", f"/record/child/{child}").get_data(as_text=True)
    assert "gm-case-status" in worker and "gm-close-form" not in worker
    assert "gm-assess-form" not in worker and "gm-referral-form" not in worker
    assert "13900000000" in worker  # grid workers read guardians' contacts
    # Responders read guardians, without names or phones while the child is not placed,
    # and nothing of the case.
    responder = as_role("responder", "GET", f"/record/child/{child}").get_data(as_text=True)
    assert 'id="gm-guardians"' in responder and "gm-case-status" not in responder
    assert "13900000000" not in responder and "onerror" not in responder
    # The English record page has no case panel (it is Chinese only).
    english = as_role("supervisor", "GET", f"/record/child/{child}?lang=en")
    assert english.status_code == 200 and "gm-case" not in english.get_data(as_text=True)


def test_edit_guardian(as_role, child, other_child):
    until = (dt.date.today() + dt.timedelta(days=200)).isoformat()
    gid = _guardian(as_role, child, unavailable_until=until, unavailable_reason="prison")
    url = f"/api/children/{child}/guardians/{gid}"
    body = {"relation": "mother", "name": "李红", "phone": None}
    # Half the absence: refused, naming the field; nothing written.
    resp = as_role("grid_worker", "PATCH", url, json={**body, "unavailable_until": until})
    assert resp.status_code == 400
    assert resp.get_json()["error"]["field"] == "unavailable_reason"
    rows = as_role("grid_worker", "GET", f"/api/children/{child}/guardians").get_json()
    assert [(g["name"], g["effective"]) for g in rows["items"]] == [(EVIL, False)]
    # Back home: the absence cleared, effective again.
    resp = as_role("grid_worker", "PATCH", url, json=body)
    assert resp.status_code == 200, resp.get_json()
    assert (resp.get_json()["name"], resp.get_json()["effective"]) == ("李红", True)
    # Not a guardian of that child, a child outside the area, roles without the right.
    assert as_role("grid_worker", "PATCH", f"/api/children/{other_child}/guardians/{gid}",
                   json=body).status_code == 404
    assert as_role("supervisor", "PATCH", f"/api/children/{other_child}/guardians/{gid}",
                   json=body).status_code == 404
    assert as_role("planner", "PATCH", url, json=body).status_code == 403
    assert as_role("responder", "PATCH", url, json=body).status_code == 403


def test_no_guardian_list_and_layer(as_role, child, cfg):
    def listed():
        ids = set()
        url = "/api/lists/no_guardian?limit=200"
        while url:
            body = as_role("grid_worker", "GET", url).get_json()
            ids |= {r["child_id"] for r in body["items"]}
            url = body["next"]
        return ids

    assert child in listed()  # no guardian on file
    until = (today(cfg["timezone"]) + dt.timedelta(days=30)).isoformat()
    gid = _guardian(as_role, child, unavailable_until=until, unavailable_reason="rehabilitation")
    assert child in listed()  # the only guardian is away
    page = as_role("grid_worker", "GET", "/lists/no_guardian").get_data(as_text=True)
    assert "无有效监护人的儿童" in page and "onerror" not in page
    as_role("grid_worker", "PATCH", f"/api/children/{child}/guardians/{gid}",
            json={"relation": "mother", "name": "李红"})
    assert child not in listed()
    assert as_role("planner", "GET", "/api/lists/no_guardian").status_code == 403
    assert as_role("responder", "GET", "/api/lists/no_guardian").status_code == 403
    assert as_role("planner", "GET", "/tiles/no_guardian/14/0/0.pbf").status_code == 403
    assert as_role("grid_worker", "GET", "/tiles/no_guardian/14/0/0.pbf").status_code == 200


def test_no_guardian_tile(as_role, child, engine, cfg):
    with engine.connect() as conn:
        lon, lat = conn.execute(sa.text(
            "SELECT ST_X(h.geom), ST_Y(h.geom) FROM child ch JOIN household h "
            "ON h.id = ch.household_id WHERE ch.id = :c"), {"c": child}).one()
    x, y = tile_of(lon, lat, 15)
    url = f"/tiles/no_guardian/15/{x}/{y}.pbf"

    def features():
        tile = mapbox_vector_tile.decode(as_role("grid_worker", "GET", url).data)
        return {f["properties"]["id"]: f["properties"]
                for f in tile.get("no_guardian", {}).get("features", [])}

    assert child in features() and "phone" not in features()[child]
    until = (today(cfg["timezone"]) + dt.timedelta(days=30)).isoformat()
    _guardian(as_role, child, unavailable_until=until, unavailable_reason="prison")
    assert features()[child]["back_on"] == until
    assert "onerror" not in str(features()[child])  # no guardian names in the layer
    _guardian(as_role, child)  # an effective one
    assert child not in features()
    assert as_role("grid_worker", "GET", "/tiles/no_guardian/12/0/0.pbf").data == b""


def test_department_lands_on_its_referrals(as_role):
    resp = as_role("department", "GET", "/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/referrals")
    page = as_role("department", "GET", "/referrals")
    assert page.status_code == 200 and "教育部门" in page.get_data(as_text=True)
    # Nothing else: not the map pages either (they were open to any login).
    for url in ("/reports/monthly", "/lists/no_guardian", "/map", "/map/nearest"):
        assert as_role("department", "GET", url).status_code == 403, url
    bad = as_role("supervisor", "GET", "/referrals?status=bogus")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "status"


def test_monthly_page(as_role):
    month = dt.date.today().strftime("%Y-%m")
    head = as_role("grid_head", "GET", f"/reports/monthly?month={month}")
    text = head.get_data(as_text=True)
    assert head.status_code == 200 and "gm-submit-box" in text
    assert "gm-case-figures" not in text  # grid heads mark their village's, no figures
    sup = as_role("supervisor", "GET", f"/reports/monthly?month={month}")
    assert "gm-case-figures" in sup.get_data(as_text=True)
    county = as_role("admin", "GET", f"/reports/monthly?month={month}").get_data(as_text=True)
    assert "gm-case-figures" in county and "gm-submit-box" not in county
    for bad in ("2026-13", "1990-01", "abc"):
        resp = as_role("supervisor", "GET", f"/reports/monthly?month={bad}")
        assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "month", bad
    resp = as_role("supervisor", "GET", f"/reports/monthly?month={month}&unit=999999")
    assert resp.status_code == 404

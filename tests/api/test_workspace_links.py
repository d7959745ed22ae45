"""Issue 13's two links: "交接网格" from where a supervisor sees a worker (rows of
/lists/caseload, the coverage layer's popup on /map) to /workers/<id>/handover, only for
the roles that hand over; and "在地图上编辑" from the record pages to
/map?household=<id>, only for the roles that write households and children."""

import json
import re

import mapbox_vector_tile
import pytest
import sqlalchemy as sa
from test_tiles import tile_of

from geo import access

HANDOVER = re.compile(r'href="/workers/(\d+)/handover"')
EDIT = re.compile(r"""id=["']gm-edit-on-map["'] href=["']/map\?household=(\d+)["']""")


@pytest.fixture
def low_limit(app, monkeypatch):
    """A caseload limit of one child, so the demo's workers are over it."""
    monkeypatch.setitem(app.config["GRIDMAP"]["rules"], "caseload_limit", 1)


@pytest.mark.parametrize("role", sorted(access.WRITES_WORKERS))
def test_caseload_rows_link_to_the_handover(as_role, low_limit, role):
    page = as_role(role, "GET", "/lists/caseload")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    rows = re.findall(r'<tr data-id="(\d+)">(.*?)</tr>', html, re.S)
    assert rows, "no worker over a limit of one child"
    for worker, row in rows:
        assert HANDOVER.findall(row) == [worker] and "交接网格" in row
    target = as_role(role, "GET", f"/workers/{rows[0][0]}/handover")
    assert target.status_code == 200 and "交接" in target.get_data(as_text=True)


@pytest.mark.parametrize("role", ["planner", "responder", "grid_head", "grid_worker"])
def test_caseload_list_and_handover_kept_from_other_roles(as_role, low_limit, role):
    page = as_role(role, "GET", "/lists/caseload")
    assert page.status_code == 403
    assert "/handover" not in page.get_data(as_text=True)


def test_row_actions_follow_the_handover_role_set():
    from geo.reporting import lists

    s = lists.LISTS["caseload"]
    for role in access.ROLES:
        links = lists.row_actions(s, role, {"worker_id": 7})
        assert links == ([{"label": "交接网格", "href": "/workers/7/handover"}]
                         if role in access.WRITES_WORKERS else [])


def _map_config(as_role, role):
    page = as_role(role, "GET", "/map")
    assert page.status_code == 200
    block = re.search(r'<script[^>]*id="gm-config"[^>]*>(.*?)</script>',
                      page.get_data(as_text=True), re.S)
    return json.loads(block.group(1))


@pytest.mark.parametrize("role", sorted(access.ROLES - access.DEPARTMENT_ROLES))
def test_map_offers_the_handover_only_to_its_roles(as_role, role):
    cfg = _map_config(as_role, role)
    assert cfg["handover"] is (role in access.WRITES_WORKERS)
    assert cfg["text"]["handover"] == "交接网格"


def test_coverage_popup_has_each_workers_id(as_role, engine, logins):
    """The coverage tile carries [[name, id], ...] of the cell's workers (the popup's
    links), the same workers as its ``workers`` names, and each link answers 200."""
    with engine.connect() as c:
        lon, lat = c.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(c.geom) p FROM unit c "
            "JOIN unit t ON t.id = c.township_id JOIN worker_unit wu ON wu.unit_id = c.id "
            "WHERE c.level = 'cell' AND t.code = :t ORDER BY c.id LIMIT 1) x"),
            {"t": logins["supervisor"]["unit"]}).one()
        names = dict(c.execute(sa.text("SELECT id, name FROM worker")).all())
    z = 13
    x, y = tile_of(lon, lat, z)
    feats = mapbox_vector_tile.decode(as_role(
        "supervisor", "GET", f"/tiles/coverage/{z}/{x}/{y}.pbf").data)["coverage"]["features"]
    staffed = [f["properties"] for f in feats if not f["properties"]["unstaffed"]]
    assert staffed
    seen = set()
    for p in staffed:
        workers = json.loads(p["worker_list"])
        assert workers and [w[0] for w in workers] == sorted(w[0] for w in workers)
        assert set(p["workers"].split("、")) == {w[0] for w in workers}
        assert all(names[w[1]] == w[0] for w in workers)
        seen |= {w[1] for w in workers}
    for p in feats:
        if p["properties"]["unstaffed"]:
            assert json.loads(p["properties"]["worker_list"]) == []
    worker = min(seen)
    assert as_role("supervisor", "GET", f"/workers/{worker}/handover").status_code == 200
    assert as_role("admin", "GET", f"/workers/{worker}/handover").status_code == 200
    assert as_role("grid_head", "GET", f"/workers/{worker}/handover").status_code == 403


@pytest.fixture
def child_at_home(engine, logins):
    """A child in the grid worker's village (inside every demo user's area) and its
    household."""
    with engine.connect() as c:
        return c.execute(sa.text(
            "SELECT ch.id, ch.household_id FROM child ch "
            "JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id "
            "JOIN unit v ON v.id = c.village_id WHERE v.code = :v ORDER BY ch.id LIMIT 1"),
            {"v": logins["grid_worker"]["unit"]}).one()


@pytest.mark.parametrize("role", sorted(access.PERSON_ROLES))
def test_record_pages_link_to_editing_on_the_map(as_role, child_at_home, role):
    child, household = child_at_home
    for url in (f"/record/child/{child}", f"/record/household/{household}"):
        page = as_role(role, "GET", url)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        if role in access.WRITES_RECORDS:
            assert EDIT.findall(html) == [str(household)] and "在地图上编辑" in html
        else:
            assert "gm-edit-on-map" not in html and "在地图上编辑" not in html
    if role in access.WRITES_RECORDS:
        target = as_role(role, "GET", f"/map?household={household}")
        assert target.status_code == 200 and "register.js" in target.get_data(as_text=True)


def test_record_pages_without_the_link_for_readers_and_planners(as_role, child_at_home):
    child, household = child_at_home
    assert as_role("planner", "GET", f"/record/child/{child}").status_code == 403
    assert as_role("planner", "GET", f"/record/household/{household}").status_code == 403
    for url in (f"/record/child/{child}", f"/record/household/{household}"):
        resp = as_role("responder", "GET", url)  # reads records, does not write them
        assert resp.status_code == 200
        assert "在地图上编辑" not in resp.get_data(as_text=True)


def test_english_record_page_keeps_the_language(as_role, child_at_home):
    child, household = child_at_home
    html = as_role("grid_worker", "GET", f"/record/child/{child}?lang=en").get_data(
        as_text=True)
    assert f"/map?household={household}&amp;lang=en" in html and "Edit on the map" in html

"""Record pages behind the map's popups: scoped like the API, field rights applied,
planners kept out, every child read in the audit log."""

import pytest
import sqlalchemy as sa


@pytest.fixture
def abused_child(engine, logins):
    """A child in the grid worker's village with the sensitive category ``abused`` added
    for the test (the pages read committed data), taken off again afterwards."""
    village = logins["grid_worker"]["unit"]
    with engine.begin() as conn:
        child, cats, household = conn.execute(sa.text(
            "SELECT ch.id, ch.categories, ch.household_id FROM child ch "
            "JOIN household h ON h.id = ch.household_id JOIN unit c ON c.id = h.cell_id "
            "JOIN unit v ON v.id = c.village_id WHERE v.code = :v ORDER BY ch.id LIMIT 1"),
            {"v": village}).one()
        conn.execute(sa.text("UPDATE child SET categories = :c WHERE id = :i"),
                     {"c": sorted(set(cats) | {"abused"}), "i": child})
    yield {"id": child, "household": household}
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE child SET categories = :c WHERE id = :i"),
                     {"c": cats, "i": child})


def test_child_page_by_role(as_role, abused_child, engine):
    url = f"/record/child/{abused_child['id']}"
    with engine.connect() as conn:
        name = conn.execute(sa.text("SELECT name FROM child WHERE id = :i"),
                            {"i": abused_child["id"]}).scalar_one()
        before = conn.execute(sa.text(
            "SELECT count(*) FROM audit_log WHERE resource = 'child' AND action = 'read' "
            "AND resource_id = :i"), {"i": str(abused_child["id"])}).scalar()
    sup = as_role("supervisor", "GET", url)
    assert sup.status_code == 200
    page = sup.get_data(as_text=True)
    assert name in page and "受侵害" in page and "走访记录" in page and "身份证号" in page
    worker = as_role("grid_worker", "GET", url).get_data(as_text=True)
    assert name in worker and "受侵害" not in worker and "身份证号" not in worker
    assert as_role("planner", "GET", url).status_code == 403
    with engine.connect() as conn:
        after = conn.execute(sa.text(
            "SELECT count(*) FROM audit_log WHERE resource = 'child' AND action = 'read' "
            "AND resource_id = :i"), {"i": str(abused_child["id"])}).scalar()
    assert after == before + 2


def test_child_elsewhere_is_not_found(as_role, other_child):
    other = other_child
    resp = as_role("grid_worker", "GET", f"/record/child/{other}")
    assert resp.status_code == 404 and resp.get_json()["error"]["field"] == "child_id"
    assert as_role("grid_worker", "GET", "/record/child/999999999").status_code == 404


def test_household_and_facility_pages(as_role, abused_child, engine, client):
    page = as_role("grid_worker", "GET", f"/record/household/{abused_child['household']}")
    assert page.status_code == 200
    assert f"/record/child/{abused_child['id']}" in page.get_data(as_text=True)
    assert as_role("planner", "GET",
                   f"/record/household/{abused_child['household']}").status_code == 403
    with engine.connect() as conn:
        fid, fname = conn.execute(sa.text(
            "SELECT id, name FROM facility ORDER BY id LIMIT 1")).one()
    facility = as_role("planner", "GET", f"/record/facility/{fid}?lang=en")
    assert facility.status_code == 200 and fname in facility.get_data(as_text=True)
    assert "Beds (free/total)" in facility.get_data(as_text=True)
    assert client.get(f"/record/facility/{fid}").status_code == 302  # login first

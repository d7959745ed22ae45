"""The route sheet's visit form answers (``checks``): checked against rules.visit_form,
stored with the visit, signs of harm flag it for the supervisor, what was seen is kept
from roles without the right to visit notes; bad answers are a 400 naming the field and
store nothing."""

import datetime as dt

import pytest
import sqlalchemy as sa

TZ = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def child(engine, logins):
    with engine.connect() as conn:
        cid = conn.execute(sa.text(
            "SELECT ch.id FROM child ch JOIN household h ON h.id = ch.household_id "
            "JOIN unit c ON c.id = h.cell_id JOIN unit v ON v.id = c.village_id "
            "WHERE v.code = :v ORDER BY ch.id LIMIT 1"),
            {"v": logins["grid_worker"]["unit"]}).scalar_one()
        before = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM visit")).scalar()
    yield cid
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM visit WHERE id > :b"), {"b": before})


def _body(child, **extra):
    at = dt.datetime.now(TZ).replace(microsecond=0) - dt.timedelta(hours=1)
    return {"child_id": child, "visited_at": at.isoformat(), **extra}


def _count(engine, child):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM visit WHERE child_id = :c"),
                            {"c": child}).scalar()


def test_answers_are_stored_and_harm_flags_the_visit(as_role, child, engine):
    checks = {"child_seen": True, "guardian_present": False, "living_conditions": "unsafe",
              "school_attendance": "dropped_out", "harm_signs": True,
              "harm_detail": "手臂有淤青"}
    resp = as_role("grid_head", "POST", "/api/visits",
                   json=_body(child, kind="return", outcome="需紧急处置", checks=checks))
    assert resp.status_code == 201, resp.get_json()
    visit = resp.get_json()
    assert visit["checks"] == checks and "harm_signs" in visit["flags"] and visit["flagged"]
    with engine.connect() as conn:
        stored, flags = conn.execute(sa.text(
            "SELECT checks, flag_reason FROM visit WHERE id = :id"), {"id": visit["id"]}).one()
    assert stored == checks and "harm_signs" in flags
    # ... and opens a discovery report for the township to accept.
    with engine.connect() as conn:
        report = conn.execute(sa.text(
            "SELECT child_id, severity, source, description FROM report WHERE id = :r"),
            {"r": visit["report_id"]}).one()
    assert report.child_id == child and report.severity == "serious"
    assert report.source == "grid_worker" and "手臂有淤青" in report.description
    # The supervisor sees the flag and what was seen; a grid worker not what was seen.
    sup = as_role("supervisor", "GET", f"/api/children/{child}/visits").get_json()["items"]
    mine = next(v for v in sup if v["id"] == visit["id"])
    assert mine["flagged"] and "harm_signs" in mine["flag_reason"]
    assert mine["checks"]["harm_detail"] == "手臂有淤青"
    gw = as_role("grid_worker", "GET", f"/api/children/{child}/visits").get_json()["items"]
    theirs = next(v for v in gw if v["id"] == visit["id"])
    assert "harm_detail" not in theirs["checks"] and theirs["checks"]["harm_signs"] is True


def test_no_harm_no_flag(as_role, child):
    resp = as_role("grid_worker", "POST", "/api/visits", json=_body(
        child, lon=None, checks={"child_seen": True, "harm_signs": False}))
    assert resp.status_code == 201, resp.get_json()
    assert "harm_signs" not in resp.get_json()["flags"] and "report_id" not in resp.get_json()


@pytest.mark.parametrize("checks, field", [
    ({"living_conditions": "palace"}, "checks.living_conditions"),
    ({"school_attendance": 3}, "checks.school_attendance"),
    ({"school_attendance": ["attending"]}, "checks.school_attendance"),
    ({"child_seen": "yes"}, "checks.child_seen"),
    ({"harm_signs": 1}, "checks.harm_signs"),
    ({"harm_signs": True, "harm_detail": "x" * 501}, "checks.harm_detail"),
    ({"harm_signs": False, "harm_detail": "淤青"}, "checks.harm_detail"),
    ({"weather": "sunny"}, "checks.weather"),
])
def test_bad_answers_are_refused(as_role, child, engine, checks, field):
    before = _count(engine, child)
    resp = as_role("grid_head", "POST", "/api/visits", json=_body(child, checks=checks))
    assert resp.status_code == 400, resp.get_json()
    assert resp.get_json()["error"]["field"] == field
    assert _count(engine, child) == before


def test_checks_must_be_an_object(as_role, child):
    resp = as_role("grid_head", "POST", "/api/visits", json=_body(child, checks=["yes"]))
    assert resp.status_code in (400, 422)
    assert "checks" in str(resp.get_json())

"""The case loop through the API: case actions and who may take them (closing needs a
reason and a supervisor), 404 outside the area, the turning-18 list, assessments taken
by grid heads and approved by supervisors (only then the risk level changes), and the
audit log."""

import pytest
import sqlalchemy as sa

ANSWERS = {"guardian": 2, "basic_needs": 2, "schooling": 1, "health": 1, "safety": 1,
           "income": 1}


@pytest.fixture
def child(engine, logins):
    """A child in the grid worker's area, put back as it was after the test (API writes
    commit)."""
    with engine.begin() as conn:
        row = conn.execute(sa.text(
            "SELECT ch.id, ch.risk_level FROM child ch JOIN household h ON h.id = "
            "ch.household_id JOIN unit c ON c.id = h.cell_id WHERE (SELECT id FROM unit "
            "WHERE code = :u) IN (c.id, c.village_id) AND ch.risk_level = 'low' "
            "AND ch.case_status = 'open' ORDER BY ch.id DESC LIMIT 1"),
            {"u": logins["grid_worker"]["unit"]}).one()
    yield row.id
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE child SET case_status = 'open', risk_level = :r "
                             "WHERE id = :id"), {"r": row.risk_level, "id": row.id})


def test_case_actions_and_roles(as_role, child, engine):
    url = f"/api/children/{child}/case"
    got = as_role("grid_worker", "GET", url)
    assert got.status_code == 200 and got.get_json()["status"] == "open"
    assert as_role("planner", "GET", url).status_code == 403
    assert as_role("responder", "GET", url).status_code == 403
    resp = as_role("grid_worker", "POST", url, json={"action": "assess"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "assessed"
    # Closing: a supervisor's, and never without a reason.
    resp = as_role("grid_worker", "POST", url, json={"action": "close", "reason": "resolved"})
    assert resp.status_code == 403
    resp = as_role("supervisor", "POST", url, json={"action": "close"})
    assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "reason"
    resp = as_role("supervisor", "POST", url, json={"action": "close", "reason": "moved_away"})
    assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "destination"
    resp = as_role("supervisor", "POST", url, json={"action": "close", "reason": "bored"})
    assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "reason"
    resp = as_role("supervisor", "POST", url, json={"action": "close", "reason": "resolved",
                                                    "note": "已回归家庭"})
    assert resp.status_code == 200, resp.get_json()
    case = resp.get_json()
    assert case["status"] == "closed"
    assert [(e["action"], e["to_status"]) for e in case["history"]][-2:] == [
        ("assess", "assessed"), ("close", "closed")]
    assert case["history"][-1]["username"] == "demo_supervisor"
    # Still readable; a second close is a conflict.
    assert as_role("grid_worker", "GET", f"/api/children/{child}").status_code == 200
    resp = as_role("supervisor", "POST", url, json={"action": "close", "reason": "died"})
    assert resp.status_code == 409 and resp.get_json()["error"]["field"] == "action"
    assert as_role("supervisor", "POST", url, json={"action": "reopen"}).status_code == 200
    with engine.connect() as conn:
        audited = conn.execute(sa.text(
            "SELECT action FROM audit_log WHERE resource = 'case' AND resource_id = :id "
            "AND action <> 'read' ORDER BY id"), {"id": str(child)}).scalars().all()
    assert audited[-3:] == ["assess", "close", "reopen"]


def test_case_outside_area_is_404(as_role, other_child):
    url = f"/api/children/{other_child}/case"
    assert as_role("grid_worker", "GET", url).status_code == 404
    assert as_role("grid_worker", "POST", url, json={"action": "assess"}).status_code == 404
    assert as_role("grid_worker", "GET", f"/api/children/{other_child}/assessments"
                   ).status_code == 404


def test_turning_18_list(as_role):
    resp = as_role("supervisor", "GET", "/api/cases/turning-18?within_days=366")
    assert resp.status_code == 200
    items = resp.get_json()["items"]
    assert all(i["days_left"] <= 366 and i["case_status"] != "closed" for i in items)
    assert [i["turns_18_on"] for i in items] == sorted(i["turns_18_on"] for i in items)
    assert as_role("planner", "GET", "/api/cases/turning-18").status_code == 403
    resp = as_role("supervisor", "GET", "/api/cases/turning-18?within_days=-1")
    assert resp.status_code in (400, 422)


def test_assessment_approved_by_supervisor(as_role, child):
    url = f"/api/children/{child}/assessments"
    assert as_role("grid_worker", "POST", url, json={"answers": ANSWERS}).status_code == 403
    resp = as_role("grid_head", "POST", url, json={"answers": {**ANSWERS, "income": 5}})
    assert resp.status_code in (400, 422)
    resp = as_role("grid_head", "POST", url, json={"answers": {"guardian": 1}})
    assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "answers"
    resp = as_role("grid_head", "POST", url, json={"answers": ANSWERS, "note": "父亲服刑"})
    assert resp.status_code == 201, resp.get_json()
    made = resp.get_json()
    assert (made["status"], made["proposed_risk"], made["score"]) == ("proposed", "high", 17)
    child_url = f"/api/children/{child}"
    assert as_role("grid_head", "GET", child_url).get_json()["risk_level"] == "low"
    queue = as_role("supervisor", "GET", "/api/assessments").get_json()["items"]
    assert made["id"] in [a["id"] for a in queue]
    approve = f"/api/assessments/{made['id']}/approve"
    assert as_role("grid_head", "POST", approve).status_code == 403
    resp = as_role("supervisor", "POST", approve)
    assert resp.status_code == 200 and resp.get_json()["status"] == "approved"
    assert as_role("grid_head", "GET", child_url).get_json()["risk_level"] == "high"
    assert as_role("grid_head", "GET", f"/api/children/{child}/case").get_json()["status"] \
        == "assessed"
    assert as_role("supervisor", "POST", approve).status_code == 409
    items = as_role("grid_worker", "GET", url).get_json()["items"]
    assert items[0]["id"] == made["id"] and items[0]["approved_by"] == "demo_supervisor"
    queue = as_role("supervisor", "GET", "/api/assessments").get_json()["items"]
    assert made["id"] not in [a["id"] for a in queue]


@pytest.fixture
def clean_child(engine, child):
    yield child
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM support WHERE child_id = :c"), {"c": child})
        conn.execute(sa.text("DELETE FROM guardian WHERE child_id = :c"), {"c": child})


def test_guardians_contacts_by_role(as_role, clean_child, engine):
    child = clean_child
    url = f"/api/children/{child}/guardians"
    listed = as_role("grid_worker", "GET", "/api/cases/no-guardian").get_json()["items"]
    assert child in [r["child_id"] for r in listed]
    resp = as_role("grid_worker", "POST", url, json={
        "relation": "appointed", "name": "李阿姨", "phone": "13700000000",
        "appointed_carer": True, "lives_with_child": True})
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["effective"] is True
    resp = as_role("grid_worker", "POST", url, json={
        "relation": "father", "name": "张父", "unavailable_until": "2027-06-30"})
    assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "unavailable_reason"
    listed = as_role("grid_worker", "GET", "/api/cases/no-guardian").get_json()["items"]
    assert child not in [r["child_id"] for r in listed]
    seen = as_role("grid_head", "GET", url).get_json()["items"]
    assert seen[0]["name"] == "李阿姨" and seen[0]["phone"] == "13700000000"
    # Responders: no name or phone unless the child is placed.
    seen = as_role("responder", "GET", url).get_json()["items"]
    assert seen and not {"name", "phone"} & seen[0].keys()
    assert as_role("planner", "GET", url).status_code == 403
    assert as_role("responder", "POST", url, json={"relation": "other", "name": "x"}
                   ).status_code == 403


def test_overlapping_allowance_refused(as_role, clean_child):
    url = f"/api/children/{clean_child}/supports"
    body = {"type": "dibao", "amount": 500, "start_on": "2026-01-01",
            "end_on": "2026-12-31", "granted_by": "区民政局"}
    assert as_role("grid_worker", "POST", url, json=body).status_code == 403
    resp = as_role("grid_head", "POST", url, json=body)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["amount"] == 500 and resp.get_json()["active"] is True
    resp = as_role("grid_head", "POST", url, json={**body, "type": "living_allowance",
                                                   "amount": 300, "start_on": "2026-10-01"})
    assert resp.status_code == 409
    err = resp.get_json()["error"]
    assert err["field"] == "type" and err["code"] == "exclusive_allowance"
    assert "cases.exclusive_allowances" in err["message"] and "保留现有一项" in err["message"]
    resp = as_role("grid_head", "POST", url, json={**body, "type": "pony"})
    assert resp.status_code in (400, 422)
    items = as_role("grid_worker", "GET", url).get_json()["items"]
    assert [i["type"] for i in items] == ["dibao"]


def test_guardian_contact_rule():
    from geo import access

    g = {"relation": "father", "name": "张父", "phone": "139"}
    assert access.redact_guardian(g, "responder", placing=True) == g
    assert access.redact_guardian(g, "responder") == {"relation": "father"}
    assert access.redact_guardian(g, "planner", placing=True) == {"relation": "father"}
    assert access.redact_guardian(g, "grid_worker") == g


def test_monthly_case_figures_and_submission(as_role, engine, logins):
    resp = as_role("supervisor", "GET", "/api/cases/monthly?month=2026-10")
    assert resp.status_code == 200, resp.get_json()
    report = resp.get_json()
    assert report["by"] == "village" and report["due"] == "2026-11-15"
    assert report["units"] and all("submission" in u and "cases_closed" in u
                                   for u in report["units"])
    assert as_role("planner", "GET", "/api/cases/monthly?month=2026-10").status_code == 403
    assert as_role("supervisor", "GET", "/api/cases/monthly?month=2026-13").status_code \
        in (400, 422)
    village = report["units"][0]["unit"]["code"]
    try:
        resp = as_role("supervisor", "POST", "/api/cases/monthly/submit",
                       json={"month": "2026-10", "unit": village})
        assert resp.status_code == 201, resp.get_json()
        again = as_role("supervisor", "POST", "/api/cases/monthly/submit",
                        json={"month": "2026-10", "unit": village})
        assert again.status_code == 409
        got = as_role("supervisor", "GET", "/api/cases/monthly?month=2026-10").get_json()
        sub = next(u for u in got["units"] if u["unit"]["code"] == village)["submission"]
        assert sub["submitted"] and sub["submitted_by"] == "demo_supervisor"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM report_submission WHERE month = '2026-10'"))

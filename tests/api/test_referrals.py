"""Referrals through the API: a grid head refers a need to education; the education
department user sees only referrals sent to education, with the minimum fields of the
child, gets 404 for others', accepts, declines (reason required) and reports done (what
was done required); every status change is in the history and the audit log; the
department role reaches nothing else."""

import datetime as dt

import pytest
import sqlalchemy as sa
from test_access import matrix

CHILD_FIELDS = {"child_name", "child_sex", "child_age", "village_name"}
SECRET = {"child_id", "categories", "id_masked", "address", "lon", "lat", "cell_code",
          "risk_level", "sent_by"}


@pytest.fixture
def child(engine, logins):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT ch.id FROM child ch JOIN household h ON h.id = ch.household_id "
            "JOIN unit c ON c.id = h.cell_id WHERE (SELECT id FROM unit WHERE code = :u) "
            "IN (c.id, c.village_id) AND ch.case_status <> 'closed' ORDER BY ch.id LIMIT 1"),
            {"u": logins["grid_worker"]["unit"]}).scalar_one()


def _send(as_role, child, department="education", due=None):
    due = due or (dt.date.today() + dt.timedelta(days=10)).isoformat()
    resp = as_role("grid_head", "POST", "/api/referrals", json={
        "child_id": child, "department": department, "service": "复学安置",
        "due_on": due, "note": "辍学两个月"})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def test_refer_to_education_and_answer(as_role, child, engine):
    sent = _send(as_role, child)
    assert sent["status"] == "sent" and sent["child_id"] == child
    assert as_role("grid_worker", "POST", "/api/referrals", json={}).status_code == 403
    mine = as_role("department", "GET", "/api/referrals?status=open").get_json()["items"]
    got = next(r for r in mine if r["id"] == sent["id"])
    assert CHILD_FIELDS <= got.keys() and not SECRET & got.keys()
    assert all(r["department"] == "education" for r in mine)
    url = f"/api/referrals/{sent['id']}"
    one = as_role("department", "GET", url).get_json()
    assert one["note"] == "辍学两个月" and not SECRET & one.keys()
    assert as_role("department", "POST", f"{url}/done", json={"outcome": "x"}
                   ).status_code == 409  # not accepted yet
    assert as_role("grid_head", "POST", f"{url}/accept", json={}).status_code == 403
    resp = as_role("department", "POST", f"{url}/accept", json={"note": "已安排学位"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "accepted"
    resp = as_role("department", "POST", f"{url}/done", json={})
    assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "outcome"
    resp = as_role("department", "POST", f"{url}/done", json={"outcome": "已复学"})
    assert resp.status_code == 200, resp.get_json()
    done = resp.get_json()
    assert (done["status"], done["outcome"]) == ("done", "已复学")
    assert [e["to_status"] for e in done["history"]] == ["sent", "accepted", "done"]
    seen = as_role("grid_worker", "GET", url).get_json()
    assert seen["status"] == "done" and seen["sent_by"] == "demo_grid_head"
    with engine.connect() as conn:
        audited = conn.execute(sa.text(
            "SELECT action FROM audit_log WHERE resource = 'referral' AND resource_id = :id "
            "AND action NOT IN ('read', 'list') ORDER BY id"),
            {"id": str(sent["id"])}).scalars().all()
    assert audited == ["create", "accept", "done"]


def test_decline_needs_a_reason(as_role, child):
    url = f"/api/referrals/{_send(as_role, child)['id']}"
    resp = as_role("department", "POST", f"{url}/decline", json={"reason": " "})
    assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "reason"
    resp = as_role("department", "POST", f"{url}/decline", json={"reason": "非本部门职责"})
    assert resp.status_code == 200 and resp.get_json()["decline_reason"] == "非本部门职责"


def test_other_departments_referrals_are_404(as_role, child, engine):
    theirs = _send(as_role, child, department="health")
    url = f"/api/referrals/{theirs['id']}"
    assert as_role("department", "GET", url).status_code == 404
    assert as_role("department", "POST", f"{url}/accept", json={}).status_code == 404
    listed = as_role("department", "GET", "/api/referrals").get_json()["items"]
    assert theirs["id"] not in [r["id"] for r in listed]
    with engine.connect() as conn:
        denied = conn.execute(sa.text(
            "SELECT count(*) FROM audit_log WHERE resource = 'referral' AND resource_id = :id"
            " AND action = 'read_denied'"), {"id": str(theirs["id"])}).scalar()
    assert denied >= 2


def test_overdue_referrals(as_role, child):
    late = _send(as_role, child, due=(dt.date.today() - dt.timedelta(days=3)).isoformat())
    items = as_role("supervisor", "GET", "/api/referrals?overdue=true").get_json()["items"]
    assert late["id"] in [r["id"] for r in items] and all(r["overdue"] for r in items)


def test_department_reaches_nothing_else(as_role, child):
    """Every route of the access matrix refuses the department user (403), except the
    referral rows."""
    for endpoint, _ in matrix():
        method, path = endpoint.split(" ", 1)
        if path.startswith("/api/referrals"):
            continue
        path = path.replace("{child_id}", str(child))
        url = f"{path}/12/3200/1700.pbf" if path.startswith("/tiles/") else path
        resp = as_role("department", method, url, **({"json": {}} if method == "POST"
                                                      else {}))
        assert resp.status_code == 403, (endpoint, resp.status_code)
    assert as_role("department", "GET", f"/api/children/{child}").status_code == 403

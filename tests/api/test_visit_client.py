"""Visits from phones: the return-visit rule, a visit sent twice stored once (also when
both copies arrive together), the phone's own time kept, and undo within the window."""

import datetime as dt
import threading
import uuid

import pytest
import sqlalchemy as sa

from geo.config import DEFAULTS
from geo.errors import Forbidden
from geo.visits.client import check_return_visit

TZ = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def child(engine, logins):
    """A child in the grid worker's (and grid head's) village; visits the test stores
    are removed afterwards (the API commits)."""
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


def _count(engine, **where):
    clause = " AND ".join(f"{k} = :{k}" for k in where)
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM visit WHERE {clause}"),
                            where).scalar()


def _body(child, **extra):
    at = dt.datetime.now(TZ).replace(microsecond=0) - dt.timedelta(hours=2)
    return {"child_id": child, "visited_at": at.isoformat(), **extra}


def test_return_visit_only_from_grid_heads(as_role, child, engine):
    before = _count(engine, child_id=child, kind="return")
    refused = as_role("grid_worker", "POST", "/api/visits", json=_body(child, kind="return"))
    assert refused.status_code == 403, refused.get_json()
    error = refused.get_json()["error"]
    assert error["field"] == "kind" and "网格长" in error["message"] and "回访" in error["message"]
    assert _count(engine, child_id=child, kind="return") == before
    for role in ("supervisor", "admin"):
        body = _body(child, kind="return", worker_id=1)
        assert as_role(role, "POST", "/api/visits", json=body).status_code == 403
    ok = as_role("grid_head", "POST", "/api/visits", json=_body(child, kind="return"))
    assert ok.status_code == 201, ok.get_json()
    assert _count(engine, child_id=child, kind="return") == before + 1
    regular = as_role("grid_worker", "POST", "/api/visits", json=_body(child))
    assert regular.status_code == 201


def test_return_visit_roles_are_configurable():
    rules = {**DEFAULTS["rules"], "return_visit_roles": ["grid_head", "supervisor"]}
    check_return_visit("supervisor", "return", rules)
    check_return_visit("grid_worker", "regular", rules)
    with pytest.raises(Forbidden, match="网格长、督导员"):
        check_return_visit("grid_worker", "return", rules)
    with pytest.raises(Forbidden):
        check_return_visit("supervisor", "return", DEFAULTS["rules"])


def test_visit_sent_twice_is_stored_once_with_the_phones_time(as_role, child, engine):
    cid = str(uuid.uuid4())
    body = _body(child, client_id=cid, outcome="情况正常")
    first = as_role("grid_worker", "POST", "/api/visits", json=body)
    assert first.status_code == 201, first.get_json()
    again = as_role("grid_worker", "POST", "/api/visits", json=body)
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["client_id"] == cid
    assert _count(engine, client_id=cid) == 1
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT visited_at FROM visit WHERE client_id = :c"),
                              {"c": cid}).scalar_one()
    assert stored == dt.datetime.fromisoformat(body["visited_at"])
    # Another login cannot reuse the id.
    taken = as_role("grid_head", "POST", "/api/visits", json=body)
    assert taken.status_code == 409 and taken.get_json()["error"]["field"] == "client_id"
    bad = as_role("grid_worker", "POST", "/api/visits", json={**body, "client_id": "x"})
    assert bad.status_code == 400 and "client_id" in str(bad.get_json()["error"])


def test_two_copies_arriving_together_store_one_visit(app, tokens, child, engine):
    cid = str(uuid.uuid4())
    body = _body(child, client_id=cid)
    codes = []

    def send():
        resp = app.test_client().post("/api/visits", json=body, headers={
            "Authorization": f"Bearer {tokens['grid_worker']}"})
        codes.append(resp.status_code)

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 200, 201]
    assert _count(engine, client_id=cid) == 1


def test_undo_within_the_window_only_by_the_recorder(as_role, child, engine):
    made = as_role("grid_worker", "POST", "/api/visits", json=_body(child)).get_json()
    assert as_role("grid_head", "DELETE", f"/api/visits/{made['id']}").status_code == 404
    gone = as_role("grid_worker", "DELETE", f"/api/visits/{made['id']}")
    assert gone.status_code == 200, gone.get_json()
    assert _count(engine, id=made["id"]) == 0
    assert as_role("grid_worker", "DELETE", f"/api/visits/{made['id']}").status_code == 404
    log = as_role("admin", "GET", f"/api/audit?resource=visit&resource_id={made['id']}")
    assert [e["action"] for e in log.get_json()["items"]] == ["delete", "create"]
    old = as_role("grid_worker", "POST", "/api/visits", json=_body(child)).get_json()
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE visit SET created_at = now() - interval '11 minutes' "
                             "WHERE id = :id"), {"id": old["id"]})
    late = as_role("grid_worker", "DELETE", f"/api/visits/{old['id']}")
    assert late.status_code == 409
    assert "10 分钟" in late.get_json()["error"]["message"]
    assert _count(engine, id=old["id"]) == 1

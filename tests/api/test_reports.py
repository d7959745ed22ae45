"""Discovery reports through the API and the command line: filing, the inbox, scope
(404 outside the area), reporter identity by role, planner counts with small counts
hidden, close needs an outcome, merge, escalation by `gridmap reports escalate --now`,
a placement made from a report and released with a reason, and the audit log."""

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from api.cli import main

ROLES = ["admin", "supervisor", "grid_head", "grid_worker", "planner", "responder"]


@pytest.fixture(scope="module")
def spots(engine, demo, logins):
    """A point in the grid worker's village, a point in another township, a child of the
    village with no active placement."""
    with engine.connect() as conn:
        mine = conn.execute(sa.text(
            "SELECT ST_X(p) AS x, ST_Y(p) AS y, v.code FROM (SELECT ST_PointOnSurface(c.geom)"
            " AS p, c.village_id FROM unit c WHERE c.level = 'cell' AND c.village_id = "
            "(SELECT id FROM unit WHERE code = :v) ORDER BY c.id LIMIT 1) s "
            "JOIN unit v ON v.id = s.village_id"), {"v": logins["grid_worker"]["unit"]}
        ).mappings().one()
        other = conn.execute(sa.text(
            "SELECT ST_X(p) AS x, ST_Y(p) AS y, v.code FROM (SELECT ST_PointOnSurface(c.geom)"
            " AS p, c.village_id FROM unit c WHERE c.level = 'cell' AND c.township_id <> "
            "(SELECT township_id FROM unit WHERE code = :v) ORDER BY c.id LIMIT 1) s "
            "JOIN unit v ON v.id = s.village_id"), {"v": logins["grid_worker"]["unit"]}
        ).mappings().one()
        child = conn.execute(sa.text(
            "SELECT ch.id FROM child ch JOIN household h ON h.id = ch.household_id "
            "JOIN unit c ON c.id = h.cell_id JOIN unit v ON v.id = c.village_id "
            "WHERE v.code = :v AND NOT EXISTS (SELECT 1 FROM placement p WHERE "
            "p.child_id = ch.id AND p.status = 'active') ORDER BY ch.id DESC LIMIT 1"),
            {"v": logins["grid_worker"]["unit"]}).scalar_one()
    return {"mine": dict(mine), "other": dict(other), "child": child}


def body(spots, where="mine", **extra):
    return {"source": "hotline_12355", "reporter_name": "王女士", "reporter_phone": "13800000000",
            "harm": "neglect", "severity": "general", "description": "孩子晚上独自在外",
            "lon": spots[where]["x"], "lat": spots[where]["y"], **extra}


def test_file_and_read_a_report(as_role, spots):
    resp = as_role("responder", "POST", "/api/reports", json=body(spots, severity="urgent"))
    assert resp.status_code == 201, resp.get_json()
    rep = resp.get_json()
    assert (rep["level"], rep["status"], rep["severity"]) == ("county", "new", "urgent")
    assert 3500 < rep["seconds_left"] <= 3600
    assert rep["reporter_name"] == "王女士"
    assert [e["action"] for e in rep["history"]] == ["create"]
    # Grid staff of the village see it, without the reporter's identity.
    seen = as_role("grid_head", "GET", f"/api/reports/{rep['id']}").get_json()
    assert seen["id"] == rep["id"] and seen["village_code"] == spots["mine"]["code"]
    assert not {"reporter_name", "reporter_phone", "reporter_org"} & seen.keys()
    sup = as_role("supervisor", "GET", f"/api/reports/{rep['id']}").get_json()
    assert sup["reporter_phone"] == "13800000000"
    log = as_role("admin", "GET", f"/api/audit?resource=report&resource_id={rep['id']}")
    actions = {(e["username"], e["action"]) for e in log.get_json()["items"]}
    assert {("demo_responder", "create"), ("demo_grid_head", "read"),
            ("demo_supervisor", "read")} <= actions


@pytest.mark.parametrize("patch, field", [
    ({"severity": "critical"}, "severity"), ({"harm": "bad"}, "harm"),
    ({"source": "fax"}, "source"), ({"crs": "utm"}, "crs"), ({"lon": None, "lat": None}, "lon"),
    ({"reported_at": "2026-11-24T10:00:00"}, "reported_at"), ({"child_age": 19}, "child_age"),
])
def test_bad_report_names_the_field(as_role, spots, patch, field):
    resp = as_role("admin", "POST", "/api/reports", json={**body(spots), **patch})
    assert resp.status_code == 400, resp.get_json()
    assert resp.get_json()["error"]["field"] == field


def test_scope_grid_worker_sees_own_village_only(as_role, spots):
    mine = as_role("grid_worker", "POST", "/api/reports", json=body(spots)).get_json()["id"]
    theirs = as_role("admin", "POST", "/api/reports",
                     json=body(spots, "other")).get_json()["id"]
    assert as_role("grid_worker", "GET", f"/api/reports/{theirs}").status_code == 404
    assert as_role("grid_worker", "POST", f"/api/reports/{theirs}/accept",
                   json={}).status_code == 404
    assert as_role("admin", "GET", f"/api/reports/{theirs}").status_code == 200
    inbox = as_role("grid_worker", "GET", "/api/reports?limit=500").get_json()["items"]
    assert mine in [r["id"] for r in inbox]
    assert all(r["village_code"] == spots["mine"]["code"] and r["level"] == "village"
               for r in inbox)
    every = as_role("grid_worker", "GET", "/api/reports?level=all&status=all&limit=500")
    assert theirs not in [r["id"] for r in every.get_json()["items"]]
    away = as_role("grid_worker", "GET", f"/api/reports?unit={spots['other']['code']}")
    assert away.status_code == 404
    # Filing in another village is refused too.
    resp = as_role("grid_worker", "POST", "/api/reports", json=body(spots, "other"))
    assert resp.status_code == 400 and resp.get_json()["error"]["field"] == "lon"


def test_inbox_is_by_deadline_and_paged(as_role, spots):
    for severity in ("general", "serious", "general"):
        as_role("admin", "POST", "/api/reports", json=body(spots, severity=severity))
    first = as_role("supervisor", "GET", "/api/reports?level=all&limit=2").get_json()
    assert len(first["items"]) == 2 and first["next"] and "offset=2" in first["next"]
    rest = as_role("supervisor", "GET", "/api/reports?level=all&limit=500").get_json()["items"]
    deadlines = [r["deadline"] for r in rest]
    assert deadlines == sorted(deadlines)
    assert as_role("supervisor", "GET", "/api/reports?status=nope").status_code == 400


def test_close_needs_an_outcome(as_role, spots):
    rid = as_role("grid_worker", "POST", "/api/reports", json=body(spots)).get_json()["id"]
    resp = as_role("grid_head", "POST", f"/api/reports/{rid}/close", json={})
    assert resp.status_code == 400
    assert resp.get_json()["error"]["field"] == "outcome"
    assert as_role("grid_head", "GET", f"/api/reports/{rid}").get_json()["status"] == "new"
    resp = as_role("grid_head", "POST", f"/api/reports/{rid}/close",
                   json={"outcome": "resolved_on_site", "note": "已联系家长"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "closed"
    again = as_role("grid_head", "POST", f"/api/reports/{rid}/close", json={"outcome": "other"})
    assert again.status_code == 409


def test_accept_escalate_merge(as_role, spots):
    a = as_role("grid_worker", "POST", "/api/reports",
                json=body(spots, child_id=spots["child"])).get_json()["id"]
    b = as_role("responder", "POST", "/api/reports",
                json=body(spots, severity="serious")).get_json()["id"]
    assert as_role("grid_worker", "POST", f"/api/reports/{b}/accept",
                   json={}).get_json()["error"]["code"] == "not_your_level"
    ok = as_role("grid_head", "POST", f"/api/reports/{a}/accept", json={"note": "收到"})
    assert ok.status_code == 200 and ok.get_json()["status"] == "accepted"
    up = as_role("grid_head", "POST", f"/api/reports/{a}/escalate", json={"note": "需乡镇协调"})
    assert up.get_json()["level"] == "township" and up.get_json()["status"] == "new"
    merged = as_role("supervisor", "POST", f"/api/reports/{a}/merge", json={"into": b})
    assert merged.status_code == 200, merged.get_json()
    out = merged.get_json()
    assert out["id"] == b and out["child_id"] == spots["child"]
    assert {e["report_id"] for e in out["history"]} == {a, b}
    src = as_role("supervisor", "GET", f"/api/reports/{a}").get_json()
    assert (src["status"], src["merged_into"]) == ("merged", b)
    assert [e["action"] for e in src["history"]] == ["create", "accept", "escalate", "merge"]


def test_planner_gets_counts_only_small_ones_hidden(as_role, spots):
    as_role("grid_worker", "POST", "/api/reports", json=body(spots))
    assert as_role("planner", "GET", "/api/reports").status_code == 403
    assert as_role("planner", "GET", "/api/reports/1").status_code == 403
    admin = as_role("admin", "GET", "/api/reports/counts?by=village").get_json()
    mine = next(r for r in admin["items"] if r["code"] == spots["mine"]["code"])
    assert mine["open_reports"] >= 1 and "waiting_for_you" in admin
    resp = as_role("planner", "GET", "/api/reports/counts?by=village")
    assert resp.status_code == 200
    items = resp.get_json()["items"]
    counts = [v for r in items for k, v in r.items()
              if k in ("open_reports", "waiting", "overdue", "urgent")]
    assert all(v is None or v == 0 or v >= 5 for v in counts)
    seen = {r["code"]: r for r in items}
    for row in admin["items"]:
        if 0 < row["open_reports"] < 5:
            assert seen[row["code"]]["open_reports"] is None
    assert not {"id", "child_id", "child_name", "reporter_name"} & {k for r in items for k in r}


def test_placement_from_a_report_and_release_with_a_reason(as_role, spots, engine):
    with engine.begin() as conn:
        fid = conn.execute(sa.text(
            "INSERT INTO facility (type, name, geom, capacity, occupied, open_24h, "
            "accepts_disability) VALUES ('rescue_station', '报告测试中心', "
            "ST_SetSRID(ST_MakePoint(:x, :y), 4326), 5, 0, true, true) RETURNING id"),
            {"x": spots["mine"]["x"], "y": spots["mine"]["y"]}).scalar_one()
    try:
        rid = as_role("responder", "POST", "/api/reports", json=body(
            spots, severity="urgent", child_name="不详", child_age=8)).get_json()["id"]
        resp = as_role("responder", "POST", "/api/placements", json={
            "child_id": spots["child"], "facility_id": fid, "report_id": rid})
        assert resp.status_code == 201, resp.get_json()
        placement = resp.get_json()
        assert placement["report_id"] == rid
        rep = as_role("responder", "GET", f"/api/reports/{rid}").get_json()
        assert rep["status"] == "in_progress" and rep["child_id"] == spots["child"]
        assert [p["id"] for p in rep["placements"]] == [placement["id"]]
        assert rep["history"][-1]["action"] == "place"
        # Release needs a reason from the vocabulary.
        url = f"/api/placements/{placement['id']}/release"
        bad = as_role("responder", "POST", url, json={})
        assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "reason"
        bad = as_role("responder", "POST", url, json={"reason": "bored"})
        assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "reason"
        done = as_role("responder", "POST", url, json={"reason": "to_relatives"})
        assert done.status_code == 200, done.get_json()
        assert done.get_json()["release_reason"] == "to_relatives"
        rep = as_role("responder", "GET", f"/api/reports/{rid}").get_json()
        assert rep["placements"][0]["release_reason"] == "to_relatives"
        # A report about another child cannot be answered by this placement.
        other = as_role("grid_worker", "POST", "/api/reports", json=body(
            spots, child_id=spots["child"])).get_json()["id"]
        with engine.connect() as conn:
            kid = conn.execute(sa.text("SELECT id FROM child WHERE id <> :c AND NOT EXISTS "
                                       "(SELECT 1 FROM placement p WHERE p.child_id = child.id "
                                       "AND p.status = 'active') ORDER BY id LIMIT 1"),
                               {"c": spots["child"]}).scalar_one()
        resp = as_role("admin", "POST", "/api/placements",
                       json={"child_id": kid, "facility_id": fid, "report_id": other})
        assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "different_child"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM placement WHERE facility_id = :f"), {"f": fid})
            conn.execute(sa.text("DELETE FROM facility WHERE id = :f"), {"f": fid})


@pytest.fixture
def run(database, demo, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database)

    def invoke(*args):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_escalation_by_the_command_line(as_role, spots, run):
    rid = as_role("grid_worker", "POST", "/api/reports", json=body(
        spots, reported_at="2026-01-05T09:00:00+08:00")).get_json()["id"]
    kept = as_role("grid_worker", "POST", "/api/reports", json=body(
        spots, reported_at="2026-01-05T09:00:00+08:00")).get_json()["id"]
    assert as_role("grid_head", "POST", f"/api/reports/{kept}/accept", json={}).status_code == 200

    def escalate(now):
        result = run("reports", "escalate", "--now", now)
        assert result.exit_code == 0, result.output
        return {m["report_id"]: m for m in json.loads(result.output)["escalated"]}

    assert rid not in escalate("2026-01-08T08:59:59+08:00")
    moved = escalate("2026-01-08T09:00:01+08:00")
    assert moved[rid]["to_level"] == "township" and kept not in moved
    sup = as_role("supervisor", "GET", "/api/reports?limit=500").get_json()["items"]
    assert rid in [r["id"] for r in sup]                      # the township's inbox now
    gw = as_role("grid_worker", "GET", "/api/reports?limit=500").get_json()["items"]
    assert rid not in [r["id"] for r in gw]
    assert rid not in escalate("2026-01-09T09:00:00+08:00")   # 24 h at the township
    assert escalate("2026-01-09T09:00:02+08:00")[rid]["to_level"] == "county"
    rep = as_role("admin", "GET", f"/api/reports/{rid}").get_json()
    assert rep["level"] == "county"
    assert [(e["action"], e["to_level"]) for e in rep["history"]] == [
        ("create", "village"), ("auto_escalate", "township"), ("auto_escalate", "county")]
    assert as_role("grid_head", "GET", f"/api/reports/{kept}").get_json()["level"] == "village"
    log = as_role("admin", "GET", "/api/audit?resource=report&limit=50").get_json()["items"]
    assert any(e["action"] == "escalate" and rid in (e["detail"] or {}).get("ids", [])
               for e in log)
    bad = run("reports", "escalate", "--now", "tomorrow")
    assert bad.exit_code == 1 and "--now" in bad.output


# Rows for the README's access matrix (the per-id actions follow their collection's row);
# checked here the way tests/api/test_access.py checks the README.
MATRIX = {
    "GET /api/reports": {"admin", "supervisor", "grid_head", "grid_worker", "responder"},
    "POST /api/reports": {"admin", "supervisor", "grid_head", "grid_worker", "responder"},
    "GET /api/reports/counts": set(ROLES),
    "GET /api/reports/0": {"admin", "supervisor", "grid_head", "grid_worker", "responder"},
    "POST /api/reports/0/accept": {"admin", "supervisor", "grid_head", "grid_worker",
                                   "responder"},
    "POST /api/reports/0/escalate": {"admin", "supervisor", "grid_head", "grid_worker",
                                     "responder"},
    "POST /api/reports/0/close": {"admin", "supervisor", "grid_head", "grid_worker",
                                  "responder"},
    "POST /api/reports/0/merge": {"admin", "supervisor", "grid_head", "grid_worker",
                                  "responder"},
}


@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_role_matrix(as_role, endpoint):
    method, url = endpoint.split(" ", 1)
    for role in ROLES:
        resp = as_role(role, method, url, **({"json": {}} if method == "POST" else {}))
        if role in MATRIX[endpoint]:
            assert resp.status_code not in (401, 403, 500), (role, resp.get_json())
        else:
            assert resp.status_code == 403, (role, resp.status_code)

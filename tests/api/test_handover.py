"""Worker handover (GET/POST /api/workers/<id>/handover, the page's form, PATCH
active=false): roles × area, proposals nearest first and within the caseload limit, all
or nothing in one transaction, audit rows, and no cell left without a worker on the map
or in the gaps list afterwards. Writes go through the app (committed): each test puts
worker_unit and the workers' active flags back as they were."""

import contextlib
import re

import mapbox_vector_tile
import pytest
import sqlalchemy as sa
from page_sessions import signed_in
from test_tiles import tile_of

from geo.planning.coverage import caseloads
from geo.store.generation import generation

LIMIT = 40


@contextlib.contextmanager
def restoring(engine):
    """Put worker_unit, the workers and their active flags back afterwards."""
    with engine.connect() as c:
        links = set(c.execute(sa.text("SELECT worker_id, unit_id FROM worker_unit")).all())
        active = dict(c.execute(sa.text("SELECT id, active FROM worker")).all())
    try:
        yield
    finally:
        with engine.begin() as c:
            now = set(c.execute(sa.text("SELECT worker_id, unit_id FROM worker_unit")).all())
            for w, u in now - links:
                c.execute(sa.text("DELETE FROM worker_unit WHERE worker_id = :w AND "
                                  "unit_id = :u"), {"w": w, "u": u})
            for w, u in links - now:
                c.execute(sa.text("INSERT INTO worker_unit VALUES (:w, :u)"), {"w": w, "u": u})
            c.execute(sa.text("DELETE FROM worker_unit WHERE worker_id <> ALL(:ids)"),
                      {"ids": list(active)})
            c.execute(sa.text("DELETE FROM worker WHERE id <> ALL(:ids)"), {"ids": list(active)})
            for w, a in active.items():
                c.execute(sa.text("UPDATE worker SET active = :a WHERE id = :w AND "
                                  "active <> :a"), {"a": a, "w": w})


@pytest.fixture(scope="module")
def scene(engine, demo, logins):
    """A demo grid worker of the supervisor's township whose cells have children and
    nobody else, and a worker of another township."""
    with engine.connect() as c:
        township = c.execute(sa.text("SELECT id FROM unit WHERE code = :t"),
                             {"t": logins["supervisor"]["unit"]}).scalar_one()
        leaving = c.execute(sa.text(
            "SELECT w.id FROM worker w JOIN worker_unit wu ON wu.worker_id = w.id "
            "JOIN unit c ON c.id = wu.unit_id AND c.level = 'cell' "
            "WHERE w.role = 'grid_worker' AND w.active AND c.township_id = :t "
            "AND EXISTS (SELECT 1 FROM household h JOIN child ch ON ch.household_id = h.id "
            "            WHERE h.cell_id = c.id) "
            "GROUP BY w.id HAVING count(*) >= 2 ORDER BY w.id LIMIT 1"),
            {"t": township}).scalar_one()
        cells = [r[0] for r in c.execute(sa.text(
            "SELECT unit_id FROM worker_unit WHERE worker_id = :w ORDER BY unit_id"),
            {"w": leaving})]
        elsewhere = c.execute(sa.text(
            "SELECT w.id FROM worker w JOIN unit u ON u.id = w.unit_id "
            "WHERE w.role = 'grid_worker' AND COALESCE(u.township_id, u.id) <> :t "
            "ORDER BY w.id LIMIT 1"), {"t": township}).scalar_one()
    return {"township": township, "leaving": leaving, "cells": cells,
            "elsewhere": elsewhere}


def _plan(as_role, worker, role="supervisor"):
    resp = as_role(role, "GET", f"/api/workers/{worker}/handover")
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_cells_children_and_proposals(as_role, scene, engine, app):
    plan = _plan(as_role, scene["leaving"])
    assert plan["worker"]["id"] == scene["leaving"] and plan["caseload_limit"] == LIMIT
    assert sorted(c["cell_id"] for c in plan["cells"]) == scene["cells"]
    rules = app.config["GRIDMAP"]["rules"]
    with engine.connect() as c:
        loads = {r["worker_id"]: r["children"] for r in caseloads(c, rules)}
        for cell in plan["cells"]:
            assert cell["via"] == "cell" and cell["others"] == []
            kids = c.execute(sa.text(
                "SELECT ch.id FROM child ch JOIN household h ON h.id = ch.household_id "
                "WHERE h.cell_id = :c ORDER BY ch.id"), {"c": cell["cell_id"]}).scalars().all()
            assert [k["id"] for k in cell["children_list"]] == kids
            assert cell["children"] == len(kids) and cell["left_without"] == bool(kids)
            props = cell["proposals"]
            assert props, "the township has grid workers with room"
            dist = [p["distance_m"] for p in props]
            assert dist == sorted(dist)
            for p in props:
                assert p["worker_id"] != scene["leaving"]
                assert p["caseload"] == loads.get(p["worker_id"], 0)
                assert p["caseload"] + cell["children"] <= LIMIT
                township = c.execute(sa.text(
                    "SELECT COALESCE(u.township_id, u.id) FROM worker w JOIN unit u "
                    "ON u.id = w.unit_id WHERE w.id = :w"), {"w": p["worker_id"]}).scalar()
                assert township == scene["township"]
            # Independent distance: office to the cell's point on surface.
            d = c.execute(sa.text(
                "SELECT round(ST_Distance(w.office::geography, "
                "ST_PointOnSurface(c.geom)::geography)) FROM worker w, unit c "
                "WHERE w.id = :w AND c.id = :c"),
                {"w": props[0]["worker_id"], "c": cell["cell_id"]}).scalar()
            assert props[0]["distance_m"] == int(d)
            # Nobody nearer with room was left out.
            over = [w for w, n in loads.items() if n + cell["children"] > LIMIT]
            assert not {p["worker_id"] for p in props} & set(over)
    assert plan["counts"]["cells_left_without"] == sum(
        1 for c in plan["cells"] if c["left_without"])


def test_roles_and_area(as_role, scene):
    w = scene["leaving"]
    assert _plan(as_role, w, "admin")["worker"]["id"] == w
    for role in ("grid_head", "grid_worker", "planner", "responder"):
        assert as_role(role, "GET", f"/api/workers/{w}/handover").status_code == 403
        resp = as_role(role, "POST", f"/api/workers/{w}/handover",
                       json={"assignments": [], "deactivate": True})
        assert resp.status_code == 403
    far = as_role("supervisor", "GET", f"/api/workers/{scene['elsewhere']}/handover")
    assert far.status_code == 404
    far = as_role("supervisor", "POST", f"/api/workers/{scene['elsewhere']}/handover",
                  json={"assignments": [], "deactivate": True})
    assert far.status_code == 404
    bad = as_role("supervisor", "POST", f"/api/workers/{w}/handover",
                  json={"assignments": [{"cell": "x", "worker": 1}]})
    assert bad.status_code == 400 and "cell" in bad.get_json()["error"]["field"]


def _state(engine, worker):
    with engine.connect() as c:
        return (c.execute(sa.text("SELECT active FROM worker WHERE id = :w"),
                          {"w": worker}).scalar(),
                set(c.execute(sa.text("SELECT worker_id, unit_id FROM worker_unit")).all()))


def _last_audit(engine, resource):
    with engine.connect() as c:
        return c.execute(sa.text(
            "SELECT id, action, resource_id, detail, username FROM audit_log "
            "WHERE resource = :r ORDER BY id DESC LIMIT 1"), {"r": resource}).first()


def test_one_invalid_assignment_changes_nothing(as_role, scene, engine):
    plan = _plan(as_role, scene["leaving"])
    first, second = plan["cells"][:2]
    good = {"cell": first["cell_id"], "worker": first["proposals"][0]["worker_id"]}
    before = _state(engine, scene["leaving"])
    with restoring(engine):
        # Out of the area / township: 422 naming the assignment's worker.
        resp = as_role("supervisor", "POST", f"/api/workers/{scene['leaving']}/handover",
                       json={"assignments": [good, {"cell": second["cell_id"],
                                                    "worker": scene["elsewhere"]}],
                             "deactivate": True})
        assert resp.status_code == 422, resp.get_json()
        assert resp.get_json()["error"]["field"] == "assignments.1.worker"
        assert _state(engine, scene["leaving"]) == before
        entry = _last_audit(engine, "worker_handover")
        assert entry.action == "update" and entry.resource_id == str(scene["leaving"])
        assert entry.detail["failed"] == "unprocessable"
        assert entry.detail["field"] == "assignments.1.worker"
        # A cell that is not the worker's.
        resp = as_role("supervisor", "POST", f"/api/workers/{scene['leaving']}/handover",
                       json={"assignments": [good, {"cell": 1, "worker": good["worker"]}]})
        assert resp.status_code == 422
        assert resp.get_json()["error"]["field"] == "assignments.1.cell"
        # Over the limit: a grid worker who already looks after more than the limit.
        with engine.begin() as c:
            busy = c.execute(sa.text(
                "INSERT INTO worker (role, name, unit_id, office) SELECT 'grid_worker', "
                "'满负荷网格员', c.village_id, ST_PointOnSurface(c.geom) FROM unit c "
                "WHERE c.id = :c RETURNING id"), {"c": second["cell_id"]}).scalar_one()
            c.execute(sa.text(
                "INSERT INTO worker_unit SELECT :w, c.id FROM unit c WHERE c.level = 'cell' "
                "AND c.township_id = :t AND c.id <> ALL(:mine)"),
                {"w": busy, "t": scene["township"], "mine": scene["cells"]})
        again = _plan(as_role, scene["leaving"])
        assert all(p["worker_id"] != busy for c in again["cells"] for p in c["proposals"])
        before = _state(engine, scene["leaving"])
        resp = as_role("supervisor", "POST", f"/api/workers/{scene['leaving']}/handover",
                       json={"assignments": [good, {"cell": second["cell_id"],
                                                    "worker": busy}],
                             "deactivate": True})
        assert resp.status_code == 409, resp.get_json()
        assert resp.get_json()["error"]["field"] == "assignments.1.worker"
        assert _state(engine, scene["leaving"]) == before


def test_handover_applies_all_audits_and_leaves_no_gap(as_role, scene, engine, app, logins):
    plan = _plan(as_role, scene["leaving"])
    chosen = [{"cell": c["cell_id"], "worker": c["proposals"][0]["worker_id"]}
              for c in plan["cells"] if c["proposals"]]
    assert len(chosen) == len(plan["cells"])
    with restoring(engine):
        with engine.connect() as c:
            gen = generation(c)
            mark = c.execute(sa.text("SELECT max(id) FROM audit_log")).scalar()
        # The map's tile first (any cache filled), then the handover.
        cell = plan["cells"][0]
        z = 12
        x, y = tile_of(cell["lon"], cell["lat"], z)
        url = f"/tiles/coverage/{z}/{x}/{y}.pbf"
        feats = mapbox_vector_tile.decode(as_role("supervisor", "GET", url).data)
        resp = as_role("supervisor", "POST", f"/api/workers/{scene['leaving']}/handover",
                       json={"assignments": chosen, "deactivate": True})
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        assert body["deactivated"] and body["left_without"] == []
        assert all(a["caseload"] <= LIMIT for a in body["assigned"])
        active, links = _state(engine, scene["leaving"])
        assert active is False
        assert {(a["worker"], a["cell"]) for a in chosen} <= links
        with engine.connect() as c:
            assert generation(c) > gen
            rows = c.execute(sa.text(
                "SELECT action, resource, resource_id, detail, username FROM audit_log "
                "WHERE id > :m ORDER BY id"), {"m": mark}).all()
        made = [r for r in rows if r.resource == "worker_unit"]
        assert {(r.detail["worker"], r.detail["cell"]) for r in made} == \
            {(a["worker"], a["cell"]) for a in chosen}
        assert all(r.username == "demo_supervisor" and r.detail["from_worker"] ==
                   scene["leaving"] for r in made)
        assert any(r.resource == "worker" and r.action == "update" and
                   r.resource_id == str(scene["leaving"]) for r in rows)
        gaps = as_role("supervisor", "GET", "/api/coverage/gaps").get_json()
        assert not {c["cell_id"] for c in gaps["cells_without_worker"]} & set(scene["cells"])
        unstaffed = as_role("supervisor", "GET", "/api/lists/unstaffed?limit=500").get_json()
        assert not {r["cell_id"] for r in unstaffed["items"]} & set(scene["cells"])
        feats = mapbox_vector_tile.decode(as_role("supervisor", "GET", url).data)
        mine = next(f["properties"] for f in feats["coverage"]["features"]
                    if f["properties"]["id"] == cell["cell_id"])
        assert not mine["unstaffed"]
        assert plan["cells"][0]["proposals"][0]["name"] in mine["workers"]
        # The worker's page shows nothing left without anyone now.
        after = _plan(as_role, scene["leaving"])
        assert after["counts"]["cells_left_without"] == 0


def test_patch_deactivate_shows_what_is_left(as_role, scene, engine):
    with restoring(engine):
        resp = as_role("supervisor", "PATCH", f"/api/workers/{scene['leaving']}",
                       json={"active": False})
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        assert body["active"] is False
        assert {c["cell_id"] for c in body["left_without"]} == set(scene["cells"])
        assert body["handover"] == f"/workers/{scene['leaving']}/handover"
        gaps = as_role("supervisor", "GET", "/api/coverage/gaps").get_json()
        assert set(scene["cells"]) <= {c["cell_id"] for c in gaps["cells_without_worker"]}


def test_page_form_error_keeps_everything(app, logins, scene, engine):
    client = signed_in(app, logins["supervisor"])
    page = client.get(f"/workers/{scene['leaving']}/handover")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    before = _state(engine, scene["leaving"])
    with restoring(engine):
        form = {"csrf_token": token, "deactivate": "1",
                f"cell_{scene['cells'][0]}": str(scene["elsewhere"])}
        resp = client.post(f"/workers/{scene['leaving']}/handover", data=form)
        assert resp.status_code == 422
        text = resp.get_data(as_text=True)
        assert 'id="gm-error"' in text and "未作任何更改" in text
        assert _state(engine, scene["leaving"]) == before
    assert client.get(f"/workers/{scene['elsewhere']}/handover").status_code == 404

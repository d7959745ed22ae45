"""Editing the register from the map (issue 13): registering and moving households and
adding and correcting children through the JSON API, by role and area, in the three
coordinate systems, checked by the ledger import's own checks, every change audited."""

import json

import mapbox_vector_tile
import prcoords
import pytest
import sqlalchemy as sa
from pyproj import Geod
from test_tiles import tile_of

from geo import identity

ROLES = ["admin", "supervisor", "grid_head", "grid_worker", "planner", "responder"]
WRITERS = {"admin", "supervisor", "grid_head", "grid_worker"}
GEOD = Geod(ellps="WGS84")
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


@pytest.fixture
def in_zh(client, tokens):
    """A call as ``role`` from a client that prefers Chinese."""
    def call(role, method, url, **kwargs):
        return client.open(url, method=method, headers={
            "Authorization": f"Bearer {tokens[role]}", **ZH}, **kwargs)

    return call


def id_number(born="20150615", seq="981"):
    first = "510411" + born + seq
    return first + identity.check_digit(first)


@pytest.fixture
def spots(engine, logins):
    """Points in the grid worker's village (two cells of it) and in a village of another
    township; the households the test registers are removed afterwards (the API
    commits)."""
    village = logins["grid_worker"]["unit"]
    with engine.connect() as conn:
        cells = conn.execute(sa.text(
            "SELECT c.code, ST_X(ST_PointOnSurface(c.geom)), ST_Y(ST_PointOnSurface(c.geom)) "
            "FROM unit c JOIN unit v ON v.id = c.village_id WHERE v.code = :v "
            "AND c.level = 'cell' ORDER BY c.code LIMIT 2"), {"v": village}).all()
        other = conn.execute(sa.text(
            "SELECT ST_X(ST_PointOnSurface(o.geom)), ST_Y(ST_PointOnSurface(o.geom)) "
            "FROM unit o, unit v WHERE v.code = :v AND o.level = 'village' "
            "AND o.township_id <> v.township_id ORDER BY o.code LIMIT 1"),
            {"v": village}).one()
        before = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM household")).scalar()
    assert len(cells) == 2
    yield {"mine": tuple(cells[0][1:]), "mine_cell": cells[0][0],
           "mine2": tuple(cells[1][1:]), "mine2_cell": cells[1][0], "other": tuple(other)}
    with engine.begin() as conn:
        ids = conn.execute(sa.text("SELECT id FROM household WHERE id > :b"),
                           {"b": before}).scalars().all()
        conn.execute(sa.text("DELETE FROM child WHERE household_id = ANY(:ids)"), {"ids": ids})
        conn.execute(sa.text("DELETE FROM household WHERE id = ANY(:ids)"), {"ids": ids})


def _household(as_role, role, xy, **extra):
    return as_role(role, "POST", "/api/households", json={
        "address": "测试村2组8号", "lon": xy[0], "lat": xy[1], "head_name": "王某", **extra})


def _child(household_id, **extra):
    return {"household_id": household_id, "name": "王小花", "sex": "女",
            "birth_date": "2015年6月15日", "categories": ["留守", "single_parent"],
            "risk_level": "中", "guardian_situation": "由祖母照料", **extra}


def _stored_point(engine, household_id):
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT ST_X(h.geom), ST_Y(h.geom), c.code FROM household h "
            "JOIN unit c ON c.id = h.cell_id WHERE h.id = :id"), {"id": household_id}).one()


def _metres(a, b):
    return GEOD.inv(a[0], a[1], b[0], b[1])[2]


# -- role x write, inside and outside the writer's area ------------------------------------
INSIDE = {"admin": 201, "supervisor": 201, "grid_head": 201, "grid_worker": 201,
          "planner": 403, "responder": 403}
OUTSIDE = {"admin": 201, "supervisor": 400, "grid_head": 400, "grid_worker": 400,
           "planner": 403, "responder": 403}


@pytest.mark.parametrize("role", ROLES)
def test_register_a_household_by_role_and_area(as_role, spots, role):
    inside = _household(as_role, role, spots["mine"])
    assert inside.status_code == INSIDE[role], inside.get_json()
    outside = _household(as_role, role, spots["other"])
    assert outside.status_code == OUTSIDE[role], outside.get_json()
    if outside.status_code == 400:
        assert outside.get_json()["error"]["field"] == "lon"
    where = as_role(role, "GET",
                    f"/api/households/locate?lon={spots['mine'][0]}&lat={spots['mine'][1]}")
    assert where.status_code == (200 if role in WRITERS else 403)
    if role in WRITERS:
        assert where.get_json()["cell_code"] == spots["mine_cell"]
        assert where.get_json()["village_name"]
        far = as_role(role, "GET",
                      f"/api/households/locate?lon={spots['other'][0]}&lat={spots['other'][1]}")
        assert far.status_code == (200 if role == "admin" else 400)


@pytest.mark.parametrize("role", ROLES)
def test_move_a_household_and_edit_children_by_role_and_area(as_role, spots, engine, role):
    near = _household(as_role, "admin", spots["mine"]).get_json()
    far = _household(as_role, "admin", spots["other"]).get_json()
    # Moving within the area: the cell follows the point.
    moved = as_role(role, "PATCH", f"/api/households/{near['id']}",
                    json={"lon": spots["mine2"][0], "lat": spots["mine2"][1]})
    assert moved.status_code == {**INSIDE, "admin": 200, "supervisor": 200, "grid_head": 200,
                                 "grid_worker": 200}[role], moved.get_json()
    if role in WRITERS:
        assert moved.get_json()["cell_code"] == spots["mine2_cell"]
        assert _stored_point(engine, near["id"])[2] == spots["mine2_cell"]
        # Out of the area: refused, and nothing moved.
        away = as_role(role, "PATCH", f"/api/households/{near['id']}",
                       json={"lon": spots["other"][0], "lat": spots["other"][1]})
        assert away.status_code == (200 if role == "admin" else 400), away.get_json()
        if role != "admin":
            assert away.get_json()["error"]["field"] == "lon"
            assert _stored_point(engine, near["id"])[2] == spots["mine2_cell"]
    # A household elsewhere is not there for them (404), for the others 403.
    elsewhere = as_role(role, "PATCH", f"/api/households/{far['id']}", json={"address": "改"})
    assert elsewhere.status_code == {"admin": 200, "planner": 403, "responder": 403}.get(
        role, 404)
    # Children: added to and corrected in a household of the area, not elsewhere.
    added = as_role(role, "POST", "/api/children", json=_child(near["id"]))
    assert added.status_code == INSIDE[role], added.get_json()
    refused = as_role(role, "POST", "/api/children", json=_child(far["id"]))
    assert refused.status_code == {"admin": 201, "planner": 403, "responder": 403}.get(
        role, 404), refused.get_json()
    child = as_role("admin", "POST", "/api/children", json=_child(near["id"])).get_json()
    fixed = as_role(role, "PATCH", f"/api/children/{child['id']}",
                    json={"risk_level": "高", "birth_date": "2016.3.8"})
    assert fixed.status_code == (200 if role in WRITERS else 403), fixed.get_json()
    if role in WRITERS:
        assert fixed.get_json()["risk_level"] == "high"
        assert fixed.get_json()["birth_date"] == "2016-03-08"


def test_form_values_are_read_as_the_ledger_reads_them(as_role, spots):
    hh = _household(as_role, "grid_worker", spots["mine"], flags=["低保/低收入"]).get_json()
    assert hh["flags"] == ["poor_family"]
    resp = as_role("grid_worker", "POST", "/api/children",
                   json=_child(hh["id"], has_disability=True, school="仁和镇中心小学"))
    assert resp.status_code == 201, resp.get_json()
    child = resp.get_json()
    assert child["sex"] == "female" and child["birth_date"] == "2015-06-15"
    assert child["categories"] == ["left_behind", "single_parent"]
    assert child["risk_level"] == "medium" and child["has_disability"] is True


# -- coordinate systems --------------------------------------------------------------------
@pytest.mark.parametrize("crs, forward", [("gcj02", prcoords.wgs_gcj),
                                          ("bd09", prcoords.wgs_bd)])
def test_points_in_gcj02_and_bd09_land_at_the_wgs84_place(as_role, spots, engine, crs,
                                                          forward):
    """A place given in GCJ-02 or BD-09 (converted by prcoords, an independent
    implementation) is stored within 1 m of its WGS84 position; read as WGS84 the same
    numbers would lie hundreds of metres away."""
    lon, lat = spots["mine"]
    shifted = forward((lat, lon))
    resp = _household(as_role, "grid_worker", (shifted[1], shifted[0]), crs=crs)
    assert resp.status_code == 201, resp.get_json()
    hid = resp.get_json()["id"]
    stored = _stored_point(engine, hid)
    assert _metres(stored[:2], (lon, lat)) < 1.0
    assert _metres((shifted[1], shifted[0]), (lon, lat)) > 100
    where = as_role("grid_worker", "GET", f"/api/households/locate?lon={shifted[1]}"
                    f"&lat={shifted[0]}&crs={crs}").get_json()
    assert _metres((where["lon"], where["lat"]), (lon, lat)) < 1.0
    # Moved by new coordinates in the same system.
    lon2, lat2 = spots["mine2"]
    target = forward((lat2, lon2))
    moved = as_role("grid_worker", "PATCH", f"/api/households/{hid}",
                    json={"lon": target[1], "lat": target[0], "crs": crs})
    assert moved.status_code == 200, moved.get_json()
    stored = _stored_point(engine, hid)
    assert _metres(stored[:2], (lon2, lat2)) < 1.0 and stored[2] == spots["mine2_cell"]


def test_a_point_outside_the_county_or_swapped_is_named(as_role, in_zh, spots):
    far = _household(as_role, "admin", (116.4, 39.9))
    assert far.status_code == 400 and far.get_json()["error"]["field"] == "lon"
    named = in_zh("admin", "POST", "/api/households", json={
        "address": "x", "lon": 116.4, "lat": 39.9})
    assert named.status_code == 400
    assert named.get_json()["error"] == {
        "code": "invalid_input", "field": "lon", "message": "位置：该位置在本县之外"}
    half = as_role("admin", "PATCH", "/api/households/1", json={"lon": 101.7})
    assert half.status_code in (400, 404)


# -- validation: the ledger's checks, errors naming the field, nothing written ---------------
@pytest.mark.parametrize("change, field, zh", [
    ({"id_number": "510411201506150325"}, "id_number", "身份证号：校验位不对"),
    ({"id_number": id_number("20140615")}, "id_number", "身份证号：与出生日期不一致"),
    ({"birth_date": "2015年13月1日"}, "birth_date", "出生日期：不是日期"),
    ({"birth_date": "2001-01-01"}, "birth_date", "出生日期：按此日期已满18周岁"),
    ({"categories": ["火星人"]}, "categories", "困境类别：未知的困境类别：火星人"),
    ({"categories": []}, "categories", "困境类别：必填"),
    ({"sex": "未知"}, "sex", "性别：须填“男”或“女”"),
    ({"risk_level": "紫"}, "risk_level", "风险等级：须为以下之一：高、中、低"),
])
def test_bad_fields_are_refused_in_chinese_naming_the_field(as_role, in_zh, spots, engine,
                                                             change, field, zh):
    hh = _household(as_role, "supervisor", spots["mine"]).get_json()
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM child")).scalar()
    resp = in_zh("supervisor", "POST", "/api/children", json=_child(hh["id"], **change))
    assert 400 <= resp.status_code < 500
    err = resp.get_json()["error"]
    assert err["field"] == field and err["message"].startswith(zh), err
    english = as_role("supervisor", "POST", "/api/children", json=_child(hh["id"], **change))
    assert english.get_json()["error"]["field"] == field
    assert english.get_json()["error"]["message"].startswith(field)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM child")).scalar() == before


def test_grid_worker_may_give_but_not_replace_an_identity_number(as_role, in_zh, spots):
    hh = _household(as_role, "grid_worker", spots["mine"]).get_json()
    child = as_role("grid_worker", "POST", "/api/children", json=_child(hh["id"])).get_json()
    first = as_role("grid_worker", "PATCH", f"/api/children/{child['id']}",
                    json={"id_number": id_number(seq="982")})
    assert first.status_code == 200 and "id_masked" not in first.get_json()
    again = in_zh("grid_worker", "PATCH", f"/api/children/{child['id']}",
                  json={"id_number": id_number(seq="983")})
    assert again.status_code == 403 and again.get_json()["error"]["field"] == "id_number"
    seen = as_role("supervisor", "GET", f"/api/children/{child['id']}").get_json()
    assert seen["id_masked"] == "510411********982" + id_number(seq="982")[-1]
    # A PATCH that leaves the number out keeps it.
    as_role("grid_worker", "PATCH", f"/api/children/{child['id']}", json={"name": "王小华"})
    assert as_role("admin", "GET", f"/api/children/{child['id']}").get_json()["id_masked"]


# -- the audit log: who, which record, which fields; never an identity number --------------
def test_every_change_is_audited_without_identity_numbers(as_role, spots, engine):
    number = id_number(seq="984")
    hh = _household(as_role, "grid_worker", spots["mine"]).get_json()
    child = as_role("grid_worker", "POST", "/api/children",
                    json=_child(hh["id"], id_number=number)).get_json()
    as_role("supervisor", "PATCH", f"/api/children/{child['id']}",
            json={"risk_level": "high", "id_number": number})
    as_role("grid_worker", "PATCH", f"/api/households/{hh['id']}",
            json={"lon": spots["mine2"][0], "lat": spots["mine2"][1]})
    bad = as_role("grid_worker", "POST", "/api/children",
                  json=_child(hh["id"], id_number=number[:-1] + ("0" if number[-1] != "0"
                                                                 else "1")))
    assert bad.status_code == 400
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT username, action, resource, resource_id, detail FROM audit_log "
            "WHERE (resource = 'household' AND resource_id = :h) "
            "OR (resource = 'child' AND (resource_id = :c OR detail->>'household_id' = :h)) "
            "ORDER BY id"), {"h": str(hh["id"]), "c": str(child["id"])}).mappings().all()
        leaked = conn.execute(sa.text(
            "SELECT count(*) FROM audit_log WHERE detail::text LIKE :n OR detail::text LIKE :m"),
            {"n": f"%{number}%", "m": f"%{number[:-1]}%"}).scalar()
    assert leaked == 0
    got = [(r["username"], r["action"], r["resource"]) for r in rows]
    assert ("demo_grid_worker", "create", "household") in got
    assert ("demo_grid_worker", "create", "child") in got
    update = next(r for r in rows if r["action"] == "update" and r["resource"] == "child")
    assert update["username"] == "demo_supervisor"
    assert update["detail"]["fields"] == ["id_number", "risk_level"]
    move = next(r for r in rows if r["action"] == "update" and r["resource"] == "household")
    assert move["detail"]["cell_from"] == spots["mine_cell"]
    assert move["detail"]["cell_to"] == spots["mine2_cell"]
    failed = [r for r in rows if (r["detail"] or {}).get("failed")]
    assert failed and failed[-1]["detail"]["error"] == {"code": "invalid_input",
                                                        "field": "id_number"}
    assert "id_number" in failed[-1]["detail"]["fields"]
    assert number not in json.dumps([dict(r["detail"] or {}) for r in rows])


# -- the map shows a new household at once (caches key on the data generation) -------------
def test_a_new_household_shows_on_the_map_at_once(as_role, spots):
    z = 15
    x, y = tile_of(*spots["mine"], z)
    url = f"/tiles/households/{z}/{x}/{y}.pbf"

    def ids():
        tile = mapbox_vector_tile.decode(as_role("supervisor", "GET", url).data)
        return {f["properties"]["id"] for f in tile.get("households", {}).get("features", [])}

    before = ids()
    hh = _household(as_role, "supervisor", spots["mine"]).get_json()
    assert hh["id"] not in before and hh["id"] in ids()
    unit = as_role("supervisor", "GET", f"/api/units/{spots['mine_cell']}").get_json()
    assert unit["properties"]["households"] >= 1

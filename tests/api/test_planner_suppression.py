"""Planner suppression is complementary: an independent attacker who holds every table a
planner can fetch (cells, villages, townships, the county, blind spots, units) and
solves the sums between them recovers no hidden count.

The oracle below knows nothing of geo.suppression: it repeatedly takes each identity
(parent = sum of children, or a within-row identity) with exactly one unknown and solves
it, and also flags a group of unknowns whose known sum is too small to hide anything
(every hidden count is at least 1)."""

import pytest

from geo.suppression import protect

THRESHOLD = 5


def recover(values: dict, identities: list[tuple], threshold: int = THRESHOLD) -> dict:
    """``values``: key -> int or None (hidden). ``identities``: (parent, [children]).
    Returns the hidden keys the attacker pins down, with the value found."""
    known = {k: v for k, v in values.items() if v is not None}
    found = {}
    progress = True
    while progress:
        progress = False
        for parent, kids in identities:
            terms = [parent, *kids]
            unknown = [t for t in terms if t not in known]
            if len(unknown) == 1:
                u = unknown[0]
                rest = sum(known[k] for k in kids if k in known)
                known[u] = found[u] = rest if u == parent else known[parent] - rest
                progress = True
            elif unknown and parent in known:
                s = known[parent] - sum(known[k] for k in kids if k in known)
                if s == len(unknown):  # every hidden count is at least 1: all ones
                    for u in unknown:
                        known[u] = found[u] = 1
                    progress = True
                elif 0 < s < threshold:  # a small group total is itself a leak
                    found[tuple(unknown)] = s
    return found


def test_oracle_recovers_a_plain_one_cell_suppression():
    # village 10 = cells 2 + 8: hiding only the 2 gives it away.
    assert recover({"v": 10, "a": None, "b": 8}, [("v", ["a", "b"])]) == {"a": 2}
    # ... complementary suppression does not.
    hidden = protect({"v": 10, "a": 2, "b": 8}, [[("v", -1), ("a", 1), ("b", 1)]], 5)
    values = {k: (None if k in hidden else v) for k, v in {"v": 10, "a": 2, "b": 8}.items()}
    assert recover(values, [("v", ["a", "b"])]) == {}


def _tree(rows_by_level: dict, fields: tuple) -> tuple[dict, list]:
    """Values and identities of a cell → village → township → county table set."""
    values, identities = {}, []
    cells, villages, townships, county = (rows_by_level[k] for k in
                                          ("cell", "village", "township", "county"))
    for f in fields:
        for c in cells:
            values[("cell", c["cell_id"], f)] = c[f]
        for v in villages:
            values[("village", v["unit_id"], f)] = v[f]
        for t in townships:
            values[("township", t["unit_id"], f)] = t[f]
        values[("county", 0, f)] = county[f]
        for v in villages:
            identities.append((("village", v["unit_id"], f),
                               [("cell", c["cell_id"], f) for c in cells
                                if c["village_id"] == v["unit_id"]]))
        for t in townships:
            identities.append((("township", t["unit_id"], f),
                               [("village", v["unit_id"], f) for v in villages
                                if v["township_id"] == t["unit_id"]]))
        identities.append((("county", 0, f), [("township", t["unit_id"], f)
                                              for t in townships]))
    return values, identities


@pytest.fixture
def village_townships(engine):
    import sqlalchemy as sa

    with engine.connect() as c:
        return dict(c.execute(sa.text(
            "SELECT id, township_id FROM unit WHERE level = 'village'")).all())


def _status_tables(as_role, role, village_townships, county_children=None):
    cells = as_role(role, "GET", "/api/cells/status").get_json()["items"]
    villages = as_role(role, "GET", "/api/cells/status?rollup=village").get_json()["items"]
    for v in villages:
        v["township_id"] = village_townships[v["unit_id"]]
    townships = as_role(role, "GET", "/api/cells/status?rollup=township").get_json()["items"]
    county_code = as_role(role, "GET", "/api/units?depth=county").get_json()["items"][0]
    county = as_role(role, "GET", f"/api/units/{county_code['code']}").get_json()
    # The county's status children are assumed known too (the attacker's best case).
    total = {"children": county_children or sum(c["children"] for c in cells),
             "overdue_children": county["properties"]["overdue_children"]}
    return {"cell": cells, "village": villages, "township": townships, "county": total}


def test_no_hidden_status_count_is_recoverable(as_role, village_townships):
    fields = ("children", "overdue_children")
    admin_values, identities = _tree(_status_tables(as_role, "admin", village_townships),
                                     fields)
    values, _ = _tree(_status_tables(as_role, "planner", village_townships,
                                     admin_values[("county", 0, "children")]), fields)
    hidden = [k for k, v in values.items() if v is None and k[0] != "county"]
    assert hidden, "the demo has small counts to hide"
    assert all(values[k] is None for k, v in admin_values.items() if 0 < v < THRESHOLD)
    assert recover(values, identities) == {}
    # What the planner sees is true where it is shown.
    assert all(values[k] == admin_values[k] for k in values if values[k] is not None)


def test_plain_suppression_would_leak_on_the_demo(as_role, village_townships):
    """The old rule (hide 1–4, nothing else) lets the sums give counts away."""
    fields = ("children", "overdue_children")
    admin_values, identities = _tree(_status_tables(as_role, "admin", village_townships),
                                     fields)
    plain = {k: (None if v is not None and 0 < v < THRESHOLD else v)
             for k, v in admin_values.items()}
    leaked = recover(plain, identities)
    exact = {k: v for k, v in leaked.items() if k in admin_values}
    assert exact and all(admin_values[k] == v for k, v in exact.items())


def _blind_tables(as_role, role, village_townships, ftype="children_home"):
    body = as_role(role, "GET", f"/api/coverage/blind-spots?type={ftype}").get_json()
    for v in body["villages"]:
        v["township_id"] = village_townships[v["unit_id"]]
    return body


def test_no_hidden_blind_spot_count_is_recoverable(as_role, village_townships):
    fields = ("households", "uncovered_households", "children", "uncovered_children")
    admin = _blind_tables(as_role, "admin", village_townships)
    planner = _blind_tables(as_role, "planner", village_townships)
    # Cells not listed have nothing beyond reach: the uncovered sums are complete.
    listed = {c["cell_id"] for c in planner["cells"]}
    assert listed == {c["cell_id"] for c in admin["cells"]}

    def tables(body):
        return {"cell": body["cells"], "village": body["villages"],
                "township": body["townships"], "county": body["totals"]}

    admin_values, ids = _tree(tables(admin), fields)
    values, _ = _tree(tables(planner), fields)
    complete = [i for i in ids if i[0][0] != "village" or "uncovered" in i[0][2]]
    assert any(v is None for v in values.values())
    assert all(values[k] is None for k, v in admin_values.items() if 0 < v < THRESHOLD)
    assert recover(values, complete) == {}


def test_planner_suggest_sites_hide_sums(as_role):
    body = as_role("planner", "GET",
                   "/api/coverage/suggest-sites?type=school&k=5").get_json()
    sites = [s["children_added"] for s in body["sites"]]
    values = {"before": body["uncovered_children_before"],
              "reached": body["children_reached"],
              "after": body["uncovered_children_after"],
              **{i: s for i, s in enumerate(sites)}}
    assert recover(values, [("before", ["reached", "after"]),
                            ("reached", list(range(len(sites))))]) == {}
    assert all(v is None or v == 0 or v >= THRESHOLD for v in values.values())


def test_monthly_reports_cannot_be_differenced(as_role, engine, logins):
    """Reports of the county, its townships, one township's villages and one village's
    cells: no hidden figure follows from the others (parent = sum of children)."""
    import sqlalchemy as sa

    village = logins["grid_worker"]["unit"]
    with engine.connect() as c:
        units = c.execute(sa.text(
            "SELECT u.code, u.level, u.parent_id, u.id FROM unit u, unit v "
            "WHERE v.code = :v AND (u.level IN ('county', 'township') "
            "OR (u.level = 'village' AND u.township_id = v.township_id) "
            "OR (u.level = 'cell' AND u.village_id = v.id))"), {"v": village}).all()
    tables = {}
    for code, _level, parent, uid in units:
        url = f"/api/reports/monthly?month=2026-10&unit={code}"
        seen = as_role("planner", "GET", url).get_json()
        full = as_role("admin", "GET", url).get_json()
        tables[uid] = (parent, seen, full)
    keys = [(f["key"], side) for f in next(iter(tables.values()))[1]["figures"]
            for side in ("this_month", "last_month")]
    values, truth, identities = {}, {}, []
    for uid, (_parent, seen, full) in tables.items():
        for i, f in enumerate(seen["figures"]):
            for side in ("this_month", "last_month"):
                values[(uid, f["key"], side)] = f[side]
                truth[(uid, f["key"], side)] = full["figures"][i][side]
        for i, s in enumerate(seen["blind_spots"]):
            for k in ("children", "uncovered_children"):
                key = (uid, f"{s['facility_type']}.{k}", "now")
                values[key], truth[key] = s[k], full["blind_spots"][i][k]
    all_keys = {k[1:] for k in values} - {(k, s) for k, s in keys
                                          if k in ("cells_never_visited", "cells_overdue")}
    for uid in tables:
        kids = [k for k, (p, _, _) in tables.items() if p == uid]
        if kids:
            for k in all_keys:
                identities.append(((uid, *k), [(kid, *k) for kid in kids]))
    assert any(v is None for v in values.values())
    assert all(values[k] is None for k, v in truth.items() if 0 < v < THRESHOLD)
    found = recover(values, identities)
    assert found == {}, {k: (v, truth.get(k)) for k, v in found.items()}


@pytest.fixture
def small_facility(engine):
    import sqlalchemy as sa

    with engine.begin() as c:
        fid = c.execute(sa.text(
            "INSERT INTO facility (type, name, geom, capacity, occupied, open_24h, "
            "accepts_disability) SELECT 'rescue_station', '抑制测试中心', "
            "ST_PointOnSurface(geom), 20, 2, true, true FROM unit WHERE level = 'county' "
            "RETURNING id")).scalar_one()
    yield fid
    with engine.begin() as c:
        c.execute(sa.text("DELETE FROM facility WHERE id = :id"), {"id": fid})


def test_planners_do_not_see_small_occupancy(as_role, small_facility, engine):
    fid = small_facility
    one = as_role("planner", "GET", f"/api/facilities/{fid}").get_json()
    assert one["capacity"] == 20 and one["occupied"] is None and one["free_beds"] is None
    assert as_role("admin", "GET", f"/api/facilities/{fid}").get_json()["occupied"] == 2
    feats = as_role("planner", "GET", "/api/facilities?type=rescue_station&limit=500")
    props = [f["properties"] for f in feats.get_json()["features"] if f["id"] == fid
             or f["properties"].get("id") == fid]
    assert props and props[0]["occupied"] is None and props[0]["free_beds"] is None
    for f in feats.get_json()["features"]:
        assert f["properties"]["occupied"] is None or not 0 < f["properties"]["occupied"] < 5
    near = as_role("planner", "GET",
                   "/api/facilities/nearest?lon=101.7&lat=26.5&type=rescue_station&k=50")
    mine = [f for f in near.get_json()["facilities"] if f["id"] == fid]
    assert mine and mine[0]["occupied"] is None and mine[0]["free_beds"] is None
    layer = as_role("planner", "GET", "/api/exports/layer?layer=facilities&format=geojson")
    feature = [f for f in layer.get_json()["features"] if f["properties"]["id"] == fid][0]
    assert feature["properties"]["occupied"] is None
    assert feature["properties"]["capacity"] == 20
    admin_layer = as_role("admin", "GET", "/api/exports/layer?layer=facilities&format=geojson")
    assert [f for f in admin_layer.get_json()["features"]
            if f["properties"]["id"] == fid][0]["properties"]["occupied"] == 2


def test_planner_tiles_hide_free_beds_of_small_occupancy(as_role, small_facility, engine):
    import mapbox_vector_tile as mvt  # noqa: F401 - skip below when missing
    import sqlalchemy as sa

    with engine.connect() as c:
        lon, lat = c.execute(sa.text("SELECT ST_X(geom), ST_Y(geom) FROM facility "
                                     "WHERE id = :id"), {"id": small_facility}).one()
    import math

    z = 14
    x = int((lon + 180) / 360 * 2**z)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)
    feats = {}
    for role in ("planner", "admin"):
        data = as_role(role, "GET", f"/tiles/facilities/{z}/{x}/{y}.pbf").data
        layer = mvt.decode(data)["facilities"]["features"]
        feats[role] = [f["properties"] for f in layer
                       if f["properties"]["id"] == small_facility][0]
    assert feats["admin"]["free_beds"] == 18
    assert "free_beds" not in feats["planner"] or feats["planner"]["free_beds"] is None


def test_planner_page_and_csv_use_the_same_pattern(as_role, tokens, client):
    import html
    import json
    import re

    api = as_role("planner", "GET", "/api/coverage/blind-spots?type=children_home").get_json()
    resp = client.get("/map/planner?type=children_home",
                      headers={"Authorization": f"Bearer {tokens['planner']}"})
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    data = json.loads(html.unescape(re.search(r'data-rows="([^"]*)"', page).group(1)))
    assert [[v["children"], v["uncovered_children"]] for v in api["villages"]] == \
        [row[1:] for row in data]
    assert any(None in row for row in data)


def test_a_narrower_query_hides_the_same_counts(as_role, engine, village_townships):
    """One township's cells (or villages) as a planner sees them are the county-wide
    rows for those units: two queries cannot be differenced against each other."""
    import sqlalchemy as sa

    full = {c["cell_id"]: c for c in
            as_role("planner", "GET", "/api/cells/status").get_json()["items"]}
    villages = {v["unit_id"]: v for v in as_role(
        "planner", "GET", "/api/cells/status?rollup=village").get_json()["items"]}
    with engine.connect() as c:
        codes = c.execute(sa.text("SELECT code FROM unit WHERE level = 'township' "
                                  "ORDER BY code LIMIT 3")).scalars().all()
    for code in codes:
        part = as_role("planner", "GET", f"/api/cells/status?unit={code}").get_json()["items"]
        assert part and all(full[c["cell_id"]] == c for c in part)
        part = as_role("planner", "GET",
                       f"/api/cells/status?unit={code}&rollup=village").get_json()["items"]
        assert part and all(villages[v["unit_id"]] == v for v in part)


def test_units_and_tiles_show_what_the_tables_show(as_role, engine):
    """A unit's figures and the status tiles carry the same pattern as the tables."""
    import mapbox_vector_tile
    import sqlalchemy as sa

    villages = {v["code"]: v for v in as_role(
        "planner", "GET", "/api/coverage/blind-spots?type=school").get_json()["villages"]}
    status = {v["code"]: v for v in as_role(
        "planner", "GET", "/api/cells/status?rollup=village").get_json()["items"]}
    hidden_seen = 0
    for code in list(villages)[:25]:
        props = as_role("planner", "GET", f"/api/units/{code}").get_json()["properties"]
        assert props["children"] == villages[code]["children"]
        assert props["households"] == villages[code]["households"]
        assert props["overdue_children"] == status[code]["overdue_children"]
        assert props["free_beds"] is None
        hidden_seen += props["children"] is None or props["overdue_children"] is None
    assert hidden_seen
    import math

    with engine.connect() as c:
        ids = dict(c.execute(sa.text("SELECT id, code FROM unit WHERE level = 'village'")).all())
        lon, lat = c.execute(sa.text("SELECT ST_X(p), ST_Y(p) FROM (SELECT "
                                     "ST_PointOnSurface(geom) p FROM unit "
                                     "WHERE level = 'county') q")).one()
    z = 9
    x0 = int((lon + 180) / 360 * 2**z)
    y0 = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)
    seen = 0
    for x, y in ((x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 - 1, y0), (x0, y0 - 1)):
        data = as_role("planner", "GET", f"/tiles/village_status/{z}/{x}/{y}.pbf").data
        layer = mapbox_vector_tile.decode(data).get("village_status", {"features": []})
        for f in layer["features"]:
            p = f["properties"]
            row = status[ids[p["id"]]]
            for k in ("children", "overdue_children"):
                assert p.get(k) == row[k], (p, row)
            seen += 1
    assert seen

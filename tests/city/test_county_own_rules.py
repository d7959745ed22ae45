"""Per-county rules inside one city (issue 18): reach, risk tiers and caseload limits set
under [rules.counties.<code>] change that county's results only, at city scope and at
county scope, and the city's figures stay the sum of its counties'."""

import copy
import json
import math
from pathlib import Path

import mapbox_vector_tile
import pytest
import sqlalchemy as sa
from citydemo import CITY, CITY_TODAY, COUNTIES

from geo.cases import lifecycle
from geo.config import ConfigError, load_config
from geo.planning.coverage import blind_spots, caseloads, coverage_cells
from geo.planning.handover import handover
from geo.reporting import lists
from geo.reporting.monthly import monthly_report
from geo.reporting.trends import cell_figures
from geo.visits.due import cell_status, due_visits
from layers import tile_cache
from layers.tiles import LAYERS, tile

OWN = "510421"  # 米易县 keeps rules of its own
OTHERS = tuple(c for c in COUNTIES if c != OWN)
TIERS = ["red", "yellow", "blue", "green"]


def with_own(**own):
    base = load_config()["rules"]
    return base, {**copy.deepcopy(base), "counties": {OWN: own}}


def county_id(conn, code):
    return conn.execute(sa.text("SELECT id FROM unit WHERE code = :c"), {"c": code}).scalar()


# -- reach ---------------------------------------------------------------------------------
def test_a_countys_own_reach_changes_its_blind_spots_only(city_conn):
    base, own = with_own(service_reach_m={"school": 300})

    def uncovered(rules, unit):
        return blind_spots(city_conn, rules, "school", unit=unit)["totals"]["uncovered_children"]

    for code in OTHERS:
        assert uncovered(own, code) == uncovered(base, code), code
    assert uncovered(own, OWN) > uncovered(base, OWN)
    assert uncovered(own, CITY) == sum(uncovered(own, c) for c in COUNTIES)
    assert uncovered(base, CITY) == sum(uncovered(base, c) for c in COUNTIES)
    city = blind_spots(city_conn, own, "school", unit=CITY)
    assert city["reach_m"] == 3000 and city["reach_m_by_county"] == {OWN: 300.0}
    # Cell by cell: the other counties' cells are exactly as before.
    before = {c["cell_id"]: c for c in coverage_cells(city_conn, base, "school", unit=CITY)}
    after = {c["cell_id"]: c for c in coverage_cells(city_conn, own, "school", unit=CITY)}
    mine = set(city_conn.execute(sa.text(
        "SELECT c.id FROM unit c JOIN unit co ON co.id = c.county_id "
        "WHERE c.level = 'cell' AND co.code = :c"), {"c": OWN}).scalars())
    assert {i: v for i, v in after.items() if i not in mine} == \
        {i: v for i, v in before.items() if i not in mine}
    # An explicit reach_m still applies to every county alike.
    assert blind_spots(city_conn, own, "school", reach_m=3000, unit=OWN)["totals"] == \
        blind_spots(city_conn, base, "school", unit=OWN)["totals"]


def test_the_monthly_report_counts_blind_spots_by_each_countys_reach(city_conn):
    base, own = with_own(service_reach_m={"school": 300})

    def school(rules, unit):
        report = monthly_report(city_conn, rules, unit, CITY_TODAY.strftime("%Y-%m"))
        return next(s for s in report["blind_spots"] if s["facility_type"] == "school")

    assert school(own, OWN)["reach_m"] == 300
    assert school(own, OWN)["uncovered_children"] > school(base, OWN)["uncovered_children"]
    for code in OTHERS:
        assert school(own, code) == school(base, code)
    city = school(own, CITY)
    assert city["reach_m_by_county"] == {OWN: 300.0}
    assert city["uncovered_children"] == sum(school(own, c)["uncovered_children"]
                                             for c in COUNTIES)


def _tile_of(lon, lat, z):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_reach_rings_follow_the_facilitys_county(city_conn):
    """The reach layer draws a school of 米易县 with its county's radius, one of 仁和区
    with the shared one."""
    base, own = with_own(service_reach_m={"school": 300})
    reach = json.dumps(base["service_reach_m"])
    by_county = json.dumps({str(county_id(city_conn, OWN)): {**base["service_reach_m"],
                                                             "school": 300}})
    for code, want in ((OWN, 300), ("510411", 3000)):
        fid, lon, lat = city_conn.execute(sa.text(
            "SELECT f.id, ST_X(f.geom), ST_Y(f.geom) FROM facility f JOIN unit c "
            "ON c.id = f.unit_id JOIN unit co ON co.id = c.county_id "
            "WHERE f.type = 'school' AND co.code = :c ORDER BY f.id LIMIT 1"), {"c": code}).one()
        x, y = _tile_of(lon, lat, 12)
        data = tile(city_conn, LAYERS["reach"], 12, x, y, county_id(city_conn, CITY),
                    reach=reach, reach_by_county=by_county)
        rings = {f["properties"]["id"]: f["properties"]["metres"]
                 for f in mapbox_vector_tile.decode(data)["reach"]["features"]}
        assert rings[fid] == want, code


def test_a_countys_own_rules_change_only_its_own_tiles_cache_key(city_conn):
    base, own = with_own(service_reach_m={"school": 300}, caseload_limit=20)
    ids = {c: county_id(city_conn, c) for c in (*COUNTIES, CITY)}
    for code in OTHERS:
        assert tile_cache.rules_key(city_conn, own, ids[code]) == \
            tile_cache.rules_key(city_conn, base, ids[code]), code
    township = city_conn.execute(sa.text(
        "SELECT t.id FROM unit t JOIN unit co ON co.id = t.county_id "
        "WHERE t.level = 'township' AND co.code = '510411' LIMIT 1")).scalar()
    assert tile_cache.rules_key(city_conn, own, township) == \
        tile_cache.rules_key(city_conn, base, township)
    for code in (OWN, CITY):
        assert tile_cache.rules_key(city_conn, own, ids[code]) != \
            tile_cache.rules_key(city_conn, base, ids[code]), code


# -- caseload ------------------------------------------------------------------------------
def test_a_countys_own_caseload_limit_changes_its_overloaded_workers_only(city_conn):
    base, own = with_own(caseload_limit=1)

    def over(rules, unit):
        return {r["worker_id"]: r["limit"] for r in caseloads(city_conn, rules, unit,
                                                                  over_only=True)}

    for code in OTHERS:
        assert over(own, code) == over(base, code), code
    mine = over(own, OWN)
    assert len(mine) > len(over(base, OWN)) and set(mine.values()) == {1}
    city = over(own, CITY)
    assert city == {k: v for c in COUNTIES for k, v in over(own, c).items()}
    # The list of overloaded workers (超负荷网格员) the same way.

    def listed(rules, unit):
        return lists.count(city_conn, rules, "caseload", unit, as_of=None)

    for code in OTHERS:
        assert listed(own, code) == listed(base, code), code
    assert listed(own, OWN) == len(mine)
    assert listed(own, CITY) == sum(listed(own, c) for c in COUNTIES)


def test_handover_proposals_keep_within_the_workers_countys_limit(city_conn):
    worker, unit = city_conn.execute(sa.text(
        "SELECT w.id, w.unit_id FROM worker w JOIN unit u ON u.id = w.unit_id "
        "JOIN unit co ON co.id = u.county_id WHERE w.role = 'grid_worker' AND w.active "
        "AND co.code = :c ORDER BY w.id LIMIT 1"), {"c": OWN}).one()
    base, own = with_own(caseload_limit=1)
    city = county_id(city_conn, CITY)
    assert handover(city_conn, base, worker, city)["caseload_limit"] == base["caseload_limit"]
    plan = handover(city_conn, own, worker, city)
    assert plan["caseload_limit"] == 1
    assert all(p["caseload"] + c["children"] <= 1 for c in plan["cells"]
               for p in c["proposals"])
    other = city_conn.execute(sa.text(
        "SELECT w.id FROM worker w JOIN unit u ON u.id = w.unit_id JOIN unit co "
        "ON co.id = u.county_id WHERE w.role = 'grid_worker' AND w.active "
        "AND co.code = '510411' ORDER BY w.id LIMIT 1")).scalar()
    assert handover(city_conn, own, other, city) == handover(city_conn, base, other, city)


# -- risk tiers ----------------------------------------------------------------------------
@pytest.fixture
def tiered(city_conn):
    """米易县's children on four colour tiers (high → red, medium → yellow, low → green),
    red visited every 3 days; the rules with and without those tiers."""
    city_conn.execute(sa.text(
        """UPDATE child ch SET risk_level = CASE ch.risk_level WHEN 'high' THEN 'red'
                  WHEN 'medium' THEN 'yellow' ELSE 'green' END
             FROM household h JOIN unit c ON c.id = h.cell_id JOIN unit co ON co.id = c.county_id
            WHERE h.id = ch.household_id AND co.code = :c"""), {"c": OWN})
    base, own = with_own(risk_levels=TIERS,
                         visit_interval_days={"red": 3, "yellow": 30, "blue": 60, "green": 90},
                         assessment_thresholds={"red": 14, "yellow": 8, "blue": 4, "green": 0})
    return base, own


def test_a_countys_own_risk_tiers_set_its_due_visits_only(city_conn, tiered):
    base, own = tiered

    def due(rules, unit):
        rows = due_visits(city_conn, rules, CITY_TODAY, unit)
        return len(rows), sum(r["overdue"] for r in rows)

    # Without its tiers the county's children match no interval: nobody is due there.
    assert due(base, OWN)[0] == 0
    n, overdue = due(own, OWN)
    assert n > 0 and overdue > 0
    levels = {r["risk_level"] for r in due_visits(city_conn, own, CITY_TODAY, OWN)}
    assert levels <= set(TIERS) and "red" in levels
    for code in OTHERS:
        assert due(own, code) == due(base, code), code
    assert due(own, CITY) == tuple(map(sum, zip(*(due(own, c) for c in COUNTIES),
                                                strict=True)))

    def statuses(rules, unit):
        return [(c["cell_id"], c["status"], c["overdue_children"])
                for c in cell_status(city_conn, rules, CITY_TODAY, unit)]

    for code in OTHERS:
        assert statuses(own, code) == statuses(base, code), code
    assert sorted(statuses(own, CITY)) == sorted(s for c in COUNTIES for s in statuses(own, c))


def test_the_monthly_report_and_trends_count_by_each_countys_tiers(city_conn, tiered):
    base, own = tiered
    month = CITY_TODAY.strftime("%Y-%m")

    def figures(rules, unit):
        report = monthly_report(city_conn, rules, unit, month)
        return {f["key"]: f["this_month"] for f in report["figures"]}

    assert figures(own, OWN)["overdue_children"] > 0
    assert figures(base, OWN)["overdue_children"] == 0
    for code in OTHERS:
        assert figures(own, code) == figures(base, code), code
    city = figures(own, CITY)
    assert city == {k: sum(figures(own, c)[k] for c in COUNTIES) for k in city}

    first = CITY_TODAY.replace(day=1)

    def trend(rules, code):
        rows = cell_figures(city_conn, rules, county_id(city_conn, code), [first],
                            CITY_TODAY, "Asia/Shanghai")
        return sum(r["overdue_children"] or 0 for r in rows), sum(r["children"] or 0
                                                                  for r in rows)

    assert trend(own, OWN)[1] > trend(base, OWN)[1] == 0
    for code in OTHERS:
        assert trend(own, code) == trend(base, code), code
    assert trend(own, CITY) == tuple(map(sum, zip(*(trend(own, c) for c in COUNTIES),
                                                  strict=True)))


def test_an_assessment_proposes_a_level_of_the_childs_county(city_conn, tiered):
    base, own = tiered
    cfg = {**load_config(), "rules": own}
    kids = {code: city_conn.execute(sa.text(
        "SELECT ch.id FROM child ch JOIN household h ON h.id = ch.household_id JOIN unit c "
        "ON c.id = h.cell_id JOIN unit co ON co.id = c.county_id WHERE co.code = :c "
        "AND ch.case_status <> 'closed' ORDER BY ch.id LIMIT 1"), {"c": code}).scalar()
        for code in (OWN, "510411")}
    answers = dict.fromkeys(cfg["cases"]["assessment_items"], 2)  # the highest score
    city = county_id(city_conn, CITY)
    proposed = {}
    for code, child in kids.items():
        aid = lifecycle.add_assessment(city_conn, cfg, child, city, None, answers)
        proposed[code] = city_conn.execute(sa.text(
            "SELECT proposed_risk FROM assessment WHERE id = :i"), {"i": aid}).scalar()
    assert proposed == {OWN: "red", "510411": "high"}


def test_lists_filter_by_a_countys_own_tier(city_conn, tiered):
    base, own = tiered
    assert lists.count(city_conn, own, "overdue", OWN, risk="red") > 0
    assert lists.count(city_conn, own, "overdue", "510411", risk="red") == 0
    assert lists.count(city_conn, own, "overdue", CITY, risk="red") == \
        lists.count(city_conn, own, "overdue", OWN, risk="red")


# -- checked at start-up -------------------------------------------------------------------
@pytest.mark.parametrize(("own", "key"), [
    ({"visit_interval": {"high": 7}}, f"rules.counties.{OWN}.visit_interval"),
    ({"suppress_below": 3}, f"rules.counties.{OWN}.suppress_below"),
    ({"caseload_limit": 0}, f"rules.counties.{OWN}.caseload_limit"),
    ({"caseload_limit": "40"}, f"rules.counties.{OWN}.caseload_limit"),
    ({"service_reach_m": {"school": -5}}, f"rules.counties.{OWN}.service_reach_m.school"),
    ({"service_reach_m": {"shop": 500}}, f"rules.counties.{OWN}.service_reach_m.shop"),
    ({"service_reach_m": {"hospital": 500}}, f"rules.counties.{OWN}.service_reach_m.hospital"),
    ({"risk_levels": ["red", "red"]}, f"rules.counties.{OWN}.risk_levels"),
    ({"risk_levels": TIERS, "assessment_thresholds": {"red": 9}},
     f"rules.counties.{OWN}.visit_interval_days"),
    ({"risk_levels": TIERS, "visit_interval_days": dict.fromkeys(TIERS, 7)},
     f"rules.counties.{OWN}.assessment_thresholds"),
    ({"visit_interval_days": {"high": 2.5}}, f"rules.counties.{OWN}.visit_interval_days.high"),
    ({"return_visit_days": -1}, f"rules.counties.{OWN}.return_visit_days"),
    ({"holidays": ["2026-13-01"]}, f"rules.counties.{OWN}.holidays"),
    ({"grid_heads_import": "yes"}, f"rules.counties.{OWN}.grid_heads_import"),
    ({"route_circuity": 0}, f"rules.counties.{OWN}.route_circuity"),
    ({"workday_minutes": 2000}, f"rules.counties.{OWN}.workday_minutes"),
])
def test_a_bad_county_rule_stops_the_start_naming_the_key(own, key):
    with pytest.raises(ConfigError) as err:
        load_config({"rules": {"counties": {OWN: own}}})
    assert key in str(err.value) and "配置错误" in str(err.value)


def test_a_bad_county_code_or_table_stops_the_start():
    with pytest.raises(ConfigError, match="rules.counties.5104"):
        load_config({"rules": {"counties": {"5104": {"caseload_limit": 3}}}})
    with pytest.raises(ConfigError, match=f"rules.counties.{OWN}"):
        load_config({"rules": {"counties": {OWN: 7}}})


def test_the_command_line_says_which_county_rule_is_bad(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from api.cli import main

    path = tmp_path / "gridmap.toml"
    path.write_text(f"[rules.counties.{OWN}]\ncaseload = 30\n", encoding="utf-8")
    monkeypatch.setenv("GRIDMAP_CONFIG", str(path))
    result = CliRunner().invoke(main, ["db", "status"])
    assert result.exit_code == 1
    assert f"rules.counties.{OWN}.caseload" in result.output


def test_good_county_rules_load():
    cfg = load_config({"rules": {"counties": {OWN: {
        "risk_levels": TIERS, "visit_interval_days": dict.fromkeys(TIERS, 7),
        "assessment_thresholds": {"red": 12, "yellow": 6, "blue": 3, "green": 0},
        "service_reach_m": {"school": 2000}, "caseload_limit": 30,
        "return_visit_days": 20}}}})
    assert cfg["rules"]["counties"][OWN]["caseload_limit"] == 30


def test_suggested_sites_reach_households_by_their_countys_radius(city_conn):
    from geo.planning.coverage import suggest_sites

    base, own = with_own(service_reach_m={"school": 300})
    for code in OTHERS[:2]:
        assert suggest_sites(city_conn, own, "school", 3, unit=code) == \
            suggest_sites(city_conn, base, "school", 3, unit=code)
    mine = suggest_sites(city_conn, own, "school", 3, unit=OWN)
    assert mine["reach_m"] == 300
    assert mine["uncovered_children_before"] > \
        suggest_sites(city_conn, base, "school", 3, unit=OWN)["uncovered_children_before"]
    city = suggest_sites(city_conn, own, "school", 3, unit=CITY)
    assert city["uncovered_children_before"] == sum(
        suggest_sites(city_conn, own, "school", 1, unit=c)["uncovered_children_before"]
        for c in COUNTIES)


def test_through_the_api_a_county_and_the_city_see_each_countys_own_rules(
        city_as, city_app, monkeypatch):
    def spots(who, unit):
        resp = city_as(who, "GET", f"/api/coverage/blind-spots?type=school&unit={unit}")
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        return body["reach_m"], body["totals"]["uncovered_children"]

    def overloaded(who, unit):
        resp = city_as(who, "GET", f"/api/lists/caseload?unit={unit}")
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()["total"]

    before = {c: spots("city_admin", c) for c in COUNTIES}
    renhe = spots("renhe_admin", "510411"), overloaded("renhe_admin", "510411")
    over_before = overloaded("city_admin", OWN)
    monkeypatch.setitem(city_app.config["GRIDMAP"]["rules"], "counties", {
        OWN: {"service_reach_m": {"school": 300}, "caseload_limit": 1}})
    after = {c: spots("city_admin", c) for c in COUNTIES}
    assert after[OWN][0] == 300 and after[OWN][1] > before[OWN][1]
    assert {c: after[c] for c in OTHERS} == {c: before[c] for c in OTHERS}
    assert spots("city_admin", CITY)[1] == sum(v[1] for v in after.values())
    assert (spots("renhe_admin", "510411"), overloaded("renhe_admin", "510411")) == renhe
    assert overloaded("city_admin", OWN) > over_before
    assert overloaded("city_admin", CITY) == sum(overloaded("city_admin", c) for c in COUNTIES)
    gaps = city_as("city_admin", "GET", f"/api/coverage/gaps?unit={OWN}").get_json()
    assert gaps["caseload_limit"] == 1
    assert {w["limit"] for w in gaps["workers_over_limit"]} == {1}
    assert city_as("city_admin", "GET", "/api/coverage/gaps?unit=510411").get_json()[
        "caseload_limit"] == 40


# -- routes and imports --------------------------------------------------------------------
def _first_worker(conn, code):
    return conn.execute(sa.text(
        "SELECT w.id FROM worker w JOIN unit u ON u.id = w.unit_id JOIN unit co "
        "ON co.id = u.county_id WHERE w.role = 'grid_worker' AND w.active AND co.code = :c "
        "ORDER BY w.id LIMIT 1"), {"c": code}).scalar()


def test_routes_and_week_plans_follow_the_workers_countys_working_rules(city_conn):
    import datetime as dt

    from geo.routing.plan import week_plan
    from geo.routing.routes import clear_route_cache, worker_route

    monday = CITY_TODAY - dt.timedelta(days=CITY_TODAY.weekday())
    base, own = with_own(visit_minutes=45, route_speed_kmh=20, workday_minutes=300,
                         holidays=[(monday + dt.timedelta(days=1)).isoformat()])
    clear_route_cache()
    mine, other = _first_worker(city_conn, OWN), _first_worker(city_conn, "510411")
    route = worker_route(city_conn, own, mine, monday, within_days=7, time_limit_s=0.2)
    assert (route["visit_minutes"], route["speed_kmh"], route["budget_min"]) == (45, 20, 300)
    theirs = worker_route(city_conn, own, other, monday, within_days=7, time_limit_s=0.2)
    assert (theirs["visit_minutes"], theirs["speed_kmh"], theirs["budget_min"]) == \
        (base["visit_minutes"], base["route_speed_kmh"], base["workday_minutes"])

    def days(worker):
        return [d["date"] for d in week_plan(city_conn, own, worker, monday, 5)["days"]]

    assert (monday + dt.timedelta(days=1)).isoformat() not in days(mine)
    assert (monday + dt.timedelta(days=1)).isoformat() in days(other)


def test_a_county_may_let_its_own_grid_heads_import(city_app, city_engine, monkeypatch):
    from citydemo import PASSWORD

    from geo.office.users import create_user

    with city_engine.begin() as conn:
        heads = {code: conn.execute(sa.text(
            "SELECT v.code FROM unit v JOIN unit co ON co.id = v.county_id "
            "WHERE v.level = 'village' AND co.code = :c ORDER BY v.code LIMIT 1"),
            {"c": code}).scalar() for code in (OWN, "510411")}
        for code, village in heads.items():
            create_user(conn, f"head_{code}", "grid_head", village, PASSWORD)
    client = city_app.test_client()
    tokens = {code: client.post("/api/auth/token", json={
        "username": f"head_{code}", "password": PASSWORD}).get_json()["token"]
        for code in heads}
    monkeypatch.setitem(city_app.config["GRIDMAP"]["rules"], "counties",
                        {OWN: {"grid_heads_import": True}})

    def status(code):
        return client.post("/api/imports", headers={"Authorization": f"Bearer {tokens[code]}"},
                           data={}).status_code

    assert status("510411") == 403
    assert status(OWN) not in (403, 500)


# -- writes take the level of the household's county ---------------------------------------
def _household_in(conn, code):
    return conn.execute(sa.text(
        "SELECT id, ledger_id FROM household WHERE county_code = :c ORDER BY id LIMIT 1"),
        {"c": code}).one()


def test_a_child_written_through_the_api_takes_its_households_countys_levels(city_conn, cfg):
    from geo.errors import InvalidInput
    from geo.people.households_children import create_child, update_child

    _, own = with_own(risk_levels=TIERS,
                      visit_interval_days={"red": 3, "yellow": 30, "blue": 60, "green": 90},
                      assessment_thresholds={"red": 14, "yellow": 8, "blue": 4, "green": 0})
    city = county_id(city_conn, CITY)
    kid = {"name": "测试童", "sex": "女", "birth_date": "2015年3月8日", "categories": "留守"}
    theirs, mine = _household_in(city_conn, OWN), _household_in(city_conn, "510411")
    made = create_child(city_conn, {**kid, "household_id": theirs.id, "risk_level": "red"},
                        own, cfg["id_key"], city)
    assert city_conn.execute(sa.text("SELECT risk_level FROM child WHERE id = :i"),
                             {"i": made}).scalar() == "red"
    # 仁和区 keeps the shared levels: "red" is only 米易县's, so the child would never be due.
    with pytest.raises(InvalidInput) as err:
        create_child(city_conn, {**kid, "household_id": mine.id, "risk_level": "red"},
                     own, cfg["id_key"], city)
    assert err.value.field == "risk_level"
    other = create_child(city_conn, {**kid, "household_id": mine.id, "risk_level": "high"},
                         own, cfg["id_key"], city)
    with pytest.raises(InvalidInput):
        update_child(city_conn, other, {"risk_level": "red"}, own, cfg["id_key"], city)
    with pytest.raises(InvalidInput):  # nor "high" in 米易县, which keeps colours instead
        update_child(city_conn, made, {"risk_level": "high"}, own, cfg["id_key"], city)


def test_the_ledger_import_checks_each_rows_level_by_its_households_county(
        city_conn, cfg, tmp_path):
    import pandas as pd

    from geo.ledgers.ledger import COLUMNS, import_ledger

    _, own = with_own(risk_levels=TIERS,
                      visit_interval_days={"red": 3, "yellow": 30, "blue": 60, "green": 90},
                      assessment_thresholds={"red": 14, "yellow": 8, "blue": 4, "green": 0})
    theirs, mine = _household_in(city_conn, OWN), _household_in(city_conn, "510411")
    head = {f: h for f, (h, _) in COLUMNS["children"].items()}
    rows = [{"ledger_id": f"OWN-T{i}", "household": hh, "name": f"测试{i}", "sex": "男",
             "birth_date": "2016-05-01", "categories": "留守", "risk_level": level}
            for i, (hh, level) in enumerate([(theirs.ledger_id, "red"),
                                             (mine.ledger_id, "red"),
                                             (mine.ledger_id, "高")])]
    path = tmp_path / "children.xlsx"
    pd.DataFrame(rows).rename(columns=head).to_excel(path, index=False)
    report = import_ledger(city_conn, path, "children", {**cfg, "rules": own}, role="admin",
                           scope_id=county_id(city_conn, CITY), dry_run=True)
    bad = [(e["row"], e["column"]) for e in report.errors]
    assert bad == [(3, "风险等级")], report.as_dict()
    assert "须为以下之一" in report.as_dict()["errors"][0]["problem"]


def test_a_city_users_map_colours_each_countys_cells_by_its_own_caseload_limit(cfg):
    """The coverage layer's colour (supervisor.js) compares a cell's caseload with the
    limit of the cell's county, which the page names per county for a city user."""
    import re
    from types import SimpleNamespace

    from webmap.supervisor import supervisor_map

    _, own = with_own(caseload_limit=12)
    user = SimpleNamespace(role="admin", unit_code=CITY, worker_id=None)
    page = supervisor_map({**cfg, "rules": own}, user)
    config = json.loads(re.search(
        r'<script type="application/json" id="gm-config"[^>]*>(.*?)</script>', page, re.S)[1])
    assert config["caseloadLimits"] == {OWN: 12}
    assert config["caseloadLimit"] == own["caseload_limit"] != 12
    js = (Path(__file__).resolve().parents[2] / "webmap" / "static" / "supervisor.js").read_text()
    assert "cfg.caseloadLimits[String(p.code).slice(0, 6)]" in js

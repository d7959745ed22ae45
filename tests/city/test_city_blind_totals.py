"""The monthly report's blind-spot totals (geo.planning.blind_totals: every type in one
pass, the distances in Python) against blind_spots' own totals (the SQL ST_DWithin on
geography, kept as the oracle): at city, county, township and village scope, with the
shared reach and with a county's own, and for households right at the reach's edge."""

import copy

import pytest
import sqlalchemy as sa
from citydemo import CITY, COUNTIES

from geo.config import load_config
from geo.planning.blind_totals import blind_totals
from geo.planning.coverage import blind_spots
from geo.reporting.monthly import monthly_report

OWN = "510421"


def rules_with_own_reach():
    base = load_config()["rules"]
    own = {**copy.deepcopy(base), "counties": {OWN: {"service_reach_m": {
        "school": 300, "rescue_station": 40000}}}}
    return base, own


def oracle(conn, rules, types, unit):
    return {t: {k: blind_spots(conn, rules, t, unit=unit)["totals"][k]
                for k in ("children", "uncovered_children")} for t in types}


def scopes(conn):
    some = conn.execute(sa.text(
        "SELECT (SELECT code FROM unit WHERE level = 'township' AND code LIKE :c "
        "ORDER BY code LIMIT 1), (SELECT code FROM unit WHERE level = 'village' "
        "AND code LIKE :c ORDER BY code LIMIT 1)"), {"c": OWN + "%"}).one()
    return [CITY, *COUNTIES, *some]


@pytest.mark.parametrize("own_reach", [False, True])
def test_blind_totals_are_blind_spots_totals(city_conn, own_reach):
    base, own = rules_with_own_reach()
    rules = own if own_reach else base
    types = list(base["service_reach_m"])
    for unit in scopes(city_conn):
        assert blind_totals(city_conn, rules, types, unit=unit) == \
            oracle(city_conn, rules, types, unit), unit


def test_households_at_the_reach_edge_count_as_blind_spots_do(city_conn):
    """Households moved to 1 m inside and 1 m outside a school's reach (geodesic, east
    and north of it): the planar shortcut must not settle them wrongly."""
    rules = load_config()["rules"]
    reach = float(rules["service_reach_m"]["school"])
    school = city_conn.execute(sa.text(
        "SELECT f.id, f.geom FROM facility f JOIN unit co ON co.level = 'county' "
        "AND co.code = :c AND ST_Contains(co.geom, f.geom) WHERE f.type = 'school' "
        "ORDER BY f.id LIMIT 1"), {"c": OWN}).one()
    moved = city_conn.execute(sa.text(
        "SELECT h.id FROM household h JOIN child ch ON ch.household_id = h.id "
        "WHERE h.county_code = :c GROUP BY h.id ORDER BY h.id LIMIT 4"),
        {"c": OWN}).scalars().all()
    for hid, (metres, azimuth) in zip(moved, [(reach - 1, 90), (reach + 1, 90),
                                              (reach - 1, 0), (reach + 1, 0)], strict=True):
        city_conn.execute(sa.text(
            "UPDATE household SET geom = ST_Project(CAST(:g AS geometry)::geography, :m, "
            "radians(:az))::geometry WHERE id = :id"),
            {"g": school.geom, "m": metres, "az": azimuth, "id": hid})
    for unit in (CITY, OWN):
        assert blind_totals(city_conn, rules, ["school"], unit=unit) == \
            oracle(city_conn, rules, ["school"], unit)


def test_the_monthly_report_gives_blind_spots_totals(city_conn):
    base, own = rules_with_own_reach()
    for rules in (base, own):
        report = monthly_report(city_conn, rules, CITY, "2026-11")
        got = {s["facility_type"]: {"children": s["children"],
                                    "uncovered_children": s["uncovered_children"]}
               for s in report["blind_spots"]}
        assert got == oracle(city_conn, rules, list(got), CITY)
        by_county = {s["facility_type"]: s.get("reach_m_by_county")
                     for s in report["blind_spots"]}
        assert by_county["school"] == (None if rules is base else {OWN: 300.0})

"""Across county borders and per-county rules inside one city."""

import sqlalchemy as sa
from citydemo import CITY, CITY_TODAY

from geo.config import county_rules, load_config
from geo.facilities.nearest import nearest_facilities
from geo.visits.due import cell_status, due_visits


def test_nearest_rescue_station_may_lie_in_the_next_district(city_conn, city_as):
    """A child near Renhe's border with 东区: a rescue station 300 m away across the
    border is nearest, before any of Renhe's own."""
    here, there = city_conn.execute(sa.text(
        """
        WITH b AS (SELECT ST_Boundary(r.geom) AS line, r.geom AS renhe, d.geom AS east
                     FROM unit r, unit d WHERE r.code = '510411' AND d.code = '510402'),
             p AS (SELECT ST_ClosestPoint(ST_Intersection(b.line, b.east), ST_Centroid(b.east))
                          AS onb, b.* FROM b)
        SELECT ST_AsText(ST_Project(onb::geography, 400, radians(az))::geometry),
               ST_AsText(ST_Project(onb::geography, 300, radians(az + 180))::geometry)
          FROM p, LATERAL (SELECT degrees(ST_Azimuth(onb, ST_Centroid(renhe))) AS az) a
        """)).one()
    side = city_conn.execute(sa.text(
        "SELECT (SELECT code FROM unit WHERE level = 'county' AND ST_Covers(geom, "
        "ST_GeomFromText(:a, 4326))), (SELECT code FROM unit WHERE level = 'county' AND "
        "ST_Covers(geom, ST_GeomFromText(:b, 4326)))"), {"a": here, "b": there}).one()
    assert tuple(side) == ("510411", "510402")
    city_conn.execute(sa.text(
        "INSERT INTO facility (type, name, geom, capacity, occupied, open_24h, "
        "accepts_disability) VALUES ('rescue_station', '东区边界救助站', "
        "ST_GeomFromText(:b, 4326), 10, 0, true, true)"), {"b": there})
    lon, lat = city_conn.execute(sa.text(
        "SELECT ST_X(g), ST_Y(g) FROM ST_GeomFromText(:a, 4326) g"), {"a": here}).one()
    found = nearest_facilities(city_conn, lon, lat, types=["rescue_station"], k=3)
    items = found["facilities"]
    assert items[0]["name"] == "东区边界救助站"
    assert 200 < items[0]["distance_m"] < 1200
    assert all(a["distance_m"] <= b["distance_m"] for a, b in zip(items, items[1:], strict=False))


def test_nearest_through_the_api_crosses_the_border_for_a_county_user(city_as, city_engine):
    """Renhe's own responder asks from a point in Renhe next to 西区; the answer lists
    facilities of other districts too, nearest first."""
    with city_engine.connect() as conn:
        lon, lat = conn.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_ClosestPoint(r.geom, ST_Centroid(w.geom)) "
            "AS p FROM unit r, unit w WHERE r.code = '510411' AND w.code = '510403') x")).one()
    resp = city_as("renhe_admin", "GET",
                   f"/api/facilities/nearest?lon={lon}&lat={lat}&k=10")
    assert resp.status_code == 200, resp.get_json()
    items = resp.get_json()["facilities"]
    with city_engine.connect() as conn:
        counties = {conn.execute(sa.text(
            "SELECT co.code FROM facility f JOIN unit c ON c.id = f.unit_id "
            "JOIN unit co ON co.id = c.county_id WHERE f.id = :id"), {"id": i["id"]}).scalar()
            for i in items}
    assert len(counties - {"510411"}) >= 1, counties


def test_each_county_may_keep_its_own_visit_intervals(city_conn):
    """米易县 (510421) visits every child weekly; the other four keep the city's rules."""
    base = load_config()["rules"]
    own = {**base, "counties": {"510421": {"visit_interval_days": {
        level: 1 for level in base["risk_levels"]}, "return_visit_days": 1}}}
    assert county_rules(own, "510421")["visit_interval_days"]["low"] == 1
    assert county_rules(own, "510411") is own

    def overdue(rules, unit):
        return sum(r["overdue"] for r in due_visits(city_conn, rules, CITY_TODAY, unit))

    for code in ("510402", "510403", "510411", "510422"):
        assert overdue(own, code) == overdue(base, code)
    assert overdue(own, "510421") > overdue(base, "510421")
    # The whole city is still one query, and equals the sum of its counties.
    assert overdue(own, CITY) == sum(overdue(own, c) for c in
                                     ("510402", "510403", "510411", "510421", "510422"))
    def overdue_cells(rules, unit):
        return sum(c["status"] == "overdue" for c in cell_status(city_conn, rules, CITY_TODAY,
                                                                 unit))

    assert overdue_cells(own, "510421") > overdue_cells(base, "510421")
    assert overdue_cells(own, "510422") == overdue_cells(base, "510422")

"""The demo city: five real counties under the city, households in proportion to their
population, every unit's ancestors pointing at the city."""

import sqlalchemy as sa
from citydemo import CITY, COUNTIES

from geo.demo.boundaries import CITY_POPULATION


def test_city_holds_its_five_counties_with_real_codes(city_conn):
    rows = city_conn.execute(sa.text(
        "SELECT u.code, u.name, p.code AS parent, u.generated FROM unit u "
        "JOIN unit p ON p.id = u.parent_id WHERE u.level = 'county' ORDER BY u.code")).all()
    assert [r.code for r in rows] == list(COUNTIES)
    assert {r.parent for r in rows} == {CITY} and not any(r.generated for r in rows)
    assert [r.name for r in rows] == ["东区", "西区", "仁和区", "米易县", "盐边县"]
    # Every unit below lies in the city (the ancestor trigger fills city_id).
    assert city_conn.execute(sa.text(
        "SELECT count(*) FROM unit WHERE level <> 'city' AND city_id IS DISTINCT FROM "
        "(SELECT id FROM unit WHERE code = :c)"), {"c": CITY}).scalar_one() == 0
    towns = city_conn.execute(sa.text(
        "SELECT count(*) FROM unit WHERE level = 'township'")).scalar_one()
    villages = city_conn.execute(sa.text(
        "SELECT count(*) FROM unit WHERE level = 'village'")).scalar_one()
    assert (towns, villages) == (49, 336)


def test_households_follow_the_counties_population(city_conn):
    counts = dict(city_conn.execute(sa.text(
        "SELECT co.code, count(*) FROM household h JOIN unit c ON c.id = h.cell_id "
        "JOIN unit co ON co.id = c.county_id GROUP BY co.code")).all())
    total = sum(counts.values())
    assert set(counts) == set(COUNTIES)
    people = sum(CITY_POPULATION.values())
    for code, n in counts.items():
        assert abs(n / total - CITY_POPULATION[code] / people) < 0.03, (code, n, total)

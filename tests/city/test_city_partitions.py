"""Households, children and visits partitioned by county in the demo city (migrations
0016, 0018): every row in its county's partition, queries naming counties read only
theirs, register-wide keys in ``household_key`` / ``child_key``, and a household moved
into another county takes its children and their visits along."""

import json

import pytest
import sqlalchemy as sa
from citydemo import CITY, COUNTIES, plans_of, read_partitions

from geo.people.children import find_child, find_children
from geo.people.features import household_features
from geo.people.households_children import update_household
from geo.people.search import search
from geo.scope import unit_id

TABLES = ("household", "child", "visit")


def _plan(conn, sql: str, **params) -> str:
    return json.dumps(conn.execute(sa.text(f"EXPLAIN (FORMAT JSON) {sql}"),
                                   params).scalar_one())


def test_every_row_lies_in_its_countys_partition(city_conn):
    for table in TABLES:
        rows = city_conn.execute(sa.text(
            f"SELECT tableoid::regclass::text, county_code, count(*) FROM {table} "
            "GROUP BY 1, 2")).all()
        assert {r[0] for r in rows} == {f"{table}_c{c}" for c in COUNTIES}, table
        assert all(r[0] == f"{table}_c{r[1]}" for r in rows), rows
    # The county is the cell's (households), the household's (children), the child's
    # (visits).
    wrong = city_conn.execute(sa.text("""
        SELECT (SELECT count(*) FROM household h JOIN unit c ON c.id = h.cell_id
                  JOIN unit co ON co.id = c.county_id WHERE h.county_code <> co.code),
               (SELECT count(*) FROM child ch JOIN household h ON h.id = ch.household_id
                 WHERE ch.county_code <> h.county_code),
               (SELECT count(*) FROM visit v JOIN child ch ON ch.id = v.child_id
                 WHERE v.county_code <> ch.county_code)""")).one()
    assert tuple(wrong) == (0, 0, 0)


def test_the_key_registries_hold_every_row(city_conn):
    mismatched = city_conn.execute(sa.text("""
        SELECT (SELECT count(*) FROM household h FULL JOIN household_key k ON k.id = h.id
                 WHERE (h.county_code, h.ledger_id) IS DISTINCT FROM (k.county_code, k.ledger_id)),
               (SELECT count(*) FROM child c FULL JOIN child_key k ON k.id = c.id
                 WHERE (c.county_code, c.household_id, c.ledger_id, c.id_hash)
                       IS DISTINCT FROM (k.county_code, k.household_id, k.ledger_id, k.id_hash))
    """)).one()
    assert tuple(mismatched) == (0, 0)


def test_a_query_naming_counties_reads_only_their_partitions(city_conn):
    for table in TABLES:
        one = _plan(city_conn, f"SELECT count(*) FROM {table} WHERE county_code = :c",
                    c="510411")
        assert read_partitions(one, table) == {f"{table}_c510411"}, one
        two = _plan(city_conn, f"SELECT count(*) FROM {table} "
                    "WHERE county_code = ANY(CAST(:c AS varchar[]))", c=["510402", "510421"])
        assert read_partitions(two, table) == {f"{table}_c510402", f"{table}_c510421"}, two
        every = _plan(city_conn, f"SELECT count(*) FROM {table}")
        assert len(read_partitions(every, table)) == len(COUNTIES) + 1


def test_a_countys_lists_and_records_read_only_its_partitions(city_conn):
    """The people queries add the scope's counties, so a county's list, record and map
    page read its partitions only; the city's read all five."""
    county = unit_id(city_conn, "510402")
    with plans_of(city_conn, lambda statement: "county_code = ANY" in statement) as seen:
        kids = find_children(city_conn, county, limit=5)
        assert kids
        find_child(city_conn, kids[0]["id"], county)
        assert household_features(city_conn, county, limit=5)
        search(city_conn, kids[0]["name"], county, people=True)
    assert len(seen) == 4
    for plan in seen:
        assert read_partitions(plan, "household") == {"household_c510402"}, plan
        assert read_partitions(plan, "child") <= {"child_c510402"}, plan
    city = unit_id(city_conn, CITY)
    assert len(find_children(city_conn, city, limit=10_000)) == city_conn.execute(
        sa.text("SELECT count(*) FROM child")).scalar_one()


def test_rows_written_without_their_county_are_routed(city_conn):
    cell = city_conn.execute(sa.text(
        "SELECT id, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM unit "
        "WHERE level = 'cell' AND code LIKE '510421%' ORDER BY id LIMIT 1")).one()
    hid = city_conn.execute(sa.text(
        "INSERT INTO household (address, geom) VALUES ('某村1号', "
        "ST_SetSRID(ST_MakePoint(:x, :y), 4326)) RETURNING id"),
        {"x": cell[1], "y": cell[2]}).scalar_one()
    cid = city_conn.execute(sa.text(
        "INSERT INTO child (household_id, name, sex, birth_date, risk_level, ledger_id) "
        "VALUES (:h, '小明', 'male', '2016-05-01', 'low', 'ROUTED-1') RETURNING id"),
        {"h": hid}).scalar_one()
    where = city_conn.execute(sa.text(
        "SELECT (SELECT tableoid::regclass::text FROM household WHERE id = :h), "
        "(SELECT tableoid::regclass::text FROM child WHERE id = :c), "
        "(SELECT county_code FROM household_key WHERE id = :h), "
        "(SELECT county_code FROM child_key WHERE id = :c)"), {"h": hid, "c": cid}).one()
    assert tuple(where) == ("household_c510421", "child_c510421", "510421", "510421")


def test_ledger_ids_and_identity_numbers_stay_unique_across_counties(city_conn):
    a, b = (city_conn.execute(sa.text(
        "SELECT ch.id, ch.household_id, ch.ledger_id, ch.id_hash FROM child ch "
        "WHERE ch.county_code = :c AND ch.id_hash IS NOT NULL ORDER BY ch.id LIMIT 1"),
        {"c": c}).one() for c in ("510411", "510422"))
    for column in ("ledger_id", "id_hash"):
        with pytest.raises(sa.exc.IntegrityError), city_conn.begin_nested():
            city_conn.execute(sa.text(
                f"UPDATE child SET {column} = :v WHERE id = :id"),
                {"v": getattr(a, column), "id": b.id})
        with pytest.raises(sa.exc.IntegrityError), city_conn.begin_nested():
            city_conn.execute(sa.text(
                f"INSERT INTO child (household_id, name, sex, birth_date, risk_level, {column}) "
                "VALUES (:h, '重复', 'female', '2015-01-01', 'low', :v)"),
                {"h": b.household_id, "v": getattr(a, column)})
    ledger = city_conn.execute(sa.text(
        "SELECT ledger_id FROM household WHERE county_code = '510403' AND ledger_id IS NOT NULL "
        "LIMIT 1")).scalar_one()
    with pytest.raises(sa.exc.IntegrityError), city_conn.begin_nested():
        city_conn.execute(sa.text(
            "INSERT INTO household (address, geom, ledger_id, county_code) "
            "SELECT '别处', geom, :l, '510402' FROM household WHERE county_code = '510402' "
            "LIMIT 1"), {"l": ledger})


def test_foreign_keys_to_a_child_hold_across_partitions(city_conn):
    child = city_conn.execute(sa.text(
        "SELECT child_id FROM visit WHERE county_code = '510403' LIMIT 1")).scalar_one()
    with pytest.raises(sa.exc.IntegrityError), city_conn.begin_nested():
        city_conn.execute(sa.text("DELETE FROM child WHERE id = :c"), {"c": child})
    with pytest.raises(sa.exc.IntegrityError), city_conn.begin_nested():
        city_conn.execute(sa.text(
            "INSERT INTO guardian (child_id, name, relation) VALUES (-1, '某', 'mother')"))
    # A child without visits or records goes, and its key with it.
    lone = city_conn.execute(sa.text(
        "SELECT ch.id FROM child ch WHERE NOT EXISTS (SELECT FROM visit v "
        "WHERE v.child_id = ch.id) ORDER BY ch.id LIMIT 1")).scalar_one_or_none()
    if lone is not None:
        city_conn.execute(sa.text("DELETE FROM child WHERE id = :c"), {"c": lone})
        assert city_conn.execute(sa.text("SELECT count(*) FROM child_key WHERE id = :c"),
                                 {"c": lone}).scalar_one() == 0


def test_a_household_moved_into_another_county_takes_children_and_visits(city_conn):
    hid, old_cell = city_conn.execute(sa.text("""
        SELECT h.id, h.cell_id FROM household h
         WHERE h.county_code = '510411' AND EXISTS (
               SELECT FROM child ch JOIN visit v ON v.child_id = ch.id
                WHERE ch.household_id = h.id)
         ORDER BY h.id LIMIT 1""")).one()
    new_cell, lon, lat = city_conn.execute(sa.text(
        "SELECT id, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM unit "
        "WHERE level = 'cell' AND code LIKE '510402%' ORDER BY id LIMIT 1")).one()
    kids = city_conn.execute(sa.text(
        "SELECT id, last_visit_at, (SELECT count(*) FROM visit v WHERE v.child_id = ch.id) "
        "FROM child ch WHERE household_id = :h ORDER BY id"), {"h": hid}).all()
    tally = dict(city_conn.execute(sa.text(
        "SELECT cell_id, children FROM cell_tally WHERE cell_id IN (:a, :b)"),
        {"a": old_cell, "b": new_cell}).all())

    moved = update_household(city_conn, hid, {"lon": lon, "lat": lat},
                             unit_id(city_conn, CITY))
    assert moved["cell_code"].startswith("510402")

    where = city_conn.execute(sa.text(
        "SELECT tableoid::regclass::text, county_code FROM household WHERE id = :h"),
        {"h": hid}).one()
    assert tuple(where) == ("household_c510402", "510402")
    for kid, last_visit, visits in kids:
        row = city_conn.execute(sa.text(
            "SELECT tableoid::regclass::text, county_code, last_visit_at FROM child "
            "WHERE id = :c"), {"c": kid}).one()
        assert tuple(row) == ("child_c510402", "510402", last_visit)
        parts = city_conn.execute(sa.text(
            "SELECT tableoid::regclass::text, count(*) FROM visit WHERE child_id = :c "
            "GROUP BY 1"), {"c": kid}).all()
        assert parts == ([("visit_c510402", visits)] if visits else [])
        assert city_conn.execute(sa.text("SELECT county_code FROM child_key WHERE id = :c"),
                                 {"c": kid}).scalar_one() == "510402"
    assert city_conn.execute(sa.text("SELECT county_code FROM household_key WHERE id = :h"),
                             {"h": hid}).scalar_one() == "510402"
    after = dict(city_conn.execute(sa.text(
        "SELECT cell_id, children FROM cell_tally WHERE cell_id IN (:a, :b)"),
        {"a": old_cell, "b": new_cell}).all())
    assert after[old_cell] == tally[old_cell] - len(kids)
    assert after[new_cell] == tally.get(new_cell, 0) + len(kids)
    # The old county no longer sees it; the new one does.
    renhe, dongqu = unit_id(city_conn, "510411"), unit_id(city_conn, "510402")
    assert find_children(city_conn, renhe, household_id=hid) == []
    assert len(find_children(city_conn, dongqu, household_id=hid)) == len(kids)

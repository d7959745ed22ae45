"""Visits are list-partitioned by county code (migration 0016): each county's visits in
its own partition, the planner reads only the partitions a query's county allows, a
visit written without its county code is routed, and the kept visit state (statement
triggers with transition tables on the partitioned parent) still follows."""

import datetime as dt
import json

import sqlalchemy as sa


def test_demo_visits_live_in_their_countys_partition(conn):
    rows = dict(conn.execute(sa.text(
        "SELECT tableoid::regclass::text, count(*) FROM visit GROUP BY 1")).all())
    assert set(rows) == {"visit_c510411"} and rows["visit_c510411"] > 0
    kind = conn.execute(sa.text(
        "SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'visit'::regclass")
    ).scalar_one()
    assert kind == "l"


def _plan(conn, sql: str, **params) -> str:
    plan = conn.execute(sa.text(f"EXPLAIN (FORMAT JSON) {sql}"), params).scalar_one()
    return json.dumps(plan)


def test_a_countys_query_reads_only_its_partition(conn):
    conn.execute(sa.text(
        "INSERT INTO unit (code, name, level, geom) VALUES ('510402', '东区', 'county', "
        "ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(101.7, 26.6), 4326), 0.01)))"))
    # One partition per partitioned table: household, child, visit (migrations 0016, 0018)
    # and the ten report and case tables (0019).
    assert conn.execute(sa.text("SELECT gridmap_county_partitions()")).scalar_one() == 13
    for table in ("visit", "household", "child"):
        one = _plan(conn, f"SELECT count(*) FROM {table} WHERE county_code = :c", c="510411")
        assert (f"{table}_c510411" in one and f"{table}_c510402" not in one
                and f"{table}_other" not in one), one
        every = _plan(conn, f"SELECT count(*) FROM {table}")
        assert all(p in every for p in (f"{table}_c510411", f"{table}_c510402",
                                        f"{table}_other"))
    # The monthly report's visit counts filter by the scope's counties, so they prune too.
    from geo.reporting.monthly import VISITS_SQL

    plan = _plan(conn, VISITS_SQL, u=1, counties=["510411"], a="2026-11-01",
                 b="2026-11-30", tz="Asia/Shanghai")
    assert "visit_c510411" in plan and "visit_c510402" not in plan
    # ... and of households and children (migration 0018).
    assert "household_c510411" in plan and "household_c510402" not in plan
    assert "child_c510411" in plan and "child_c510402" not in plan


def test_a_visit_written_without_its_county_is_routed(conn):
    child, worker = conn.execute(sa.text(
        "SELECT ch.id, w.id FROM child ch, worker w ORDER BY ch.id, w.id LIMIT 1")).one()
    vid = conn.execute(sa.text(
        "INSERT INTO visit (child_id, worker_id, visited_at, kind) VALUES "
        "(:c, :w, '2026-11-24 23:59:59+08', 'regular') RETURNING id"),
        {"c": child, "w": worker}).scalar_one()
    where, code = conn.execute(sa.text(
        "SELECT tableoid::regclass::text, county_code FROM visit WHERE id = :v"),
        {"v": vid}).one()
    assert (where, code) == ("visit_c510411", "510411")
    last = conn.execute(sa.text("SELECT last_visit_at FROM child WHERE id = :c"),
                        {"c": child}).scalar_one()
    assert last == dt.datetime(2026, 11, 24, 15, 59, 59, tzinfo=dt.UTC)
    conn.execute(sa.text("DELETE FROM visit WHERE id = :v"), {"v": vid})
    assert conn.execute(sa.text("SELECT last_visit_at FROM child WHERE id = :c"),
                        {"c": child}).scalar_one() != last

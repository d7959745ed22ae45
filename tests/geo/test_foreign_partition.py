"""One county's visits on another PostgreSQL server, with PostgreSQL's own tools: a
second embedded cluster (its own socket) holds the county's partition; here it is a
``postgres_fdw`` foreign table attached to ``visit`` as that county's partition. Reads
through the parent, the due-visit queries and aggregates work, and the aggregate of that
county is computed on the other server (EXPLAIN VERBOSE shows it in the Remote SQL)."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import make_url

from geo.store.db import create_database, get_engine
from geo.store.embedded import EmbeddedCluster
from geo.visits.due import due_visits

REMOTE_PORT = 54397
COUNTY = "510411"
PART = f"visit_c{COUNTY}"
AS_OF = dt.date(2026, 10, 15)  # in the past: the due query reads visits, not the kept state


@pytest.fixture(scope="module")
def remote(cfg):
    if cfg.get("database_url"):
        pytest.skip("starts a second embedded cluster")
    base = Path(tempfile.mkdtemp(prefix="gm-fdw-", dir="/tmp"))
    cluster = EmbeddedCluster(base, port=REMOTE_PORT)
    try:
        cluster.init()
        cluster.write_settings({"shared_buffers": "'32MB'", "max_connections": "20",
                                "archive_mode": "off", "wal_level": "minimal",
                                "max_wal_senders": "0"})
        cluster.start()
        url = cluster.url("county")
        create_database(url)
        yield cluster, url
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


def _explain(conn, sql: str) -> str:
    return "\n".join(r[0] for r in conn.execute(sa.text(f"EXPLAIN (VERBOSE) {sql}")))


@pytest.mark.slow
def test_a_countys_partition_on_another_server(conn, remote):
    cluster, url = remote
    columns = [r.attname for r in conn.execute(sa.text(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'visit'::regclass AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum"))]
    ddl = conn.execute(sa.text(
        "SELECT string_agg(format('%I %s%s', attname, format_type(atttypid, atttypmod), "
        "CASE WHEN attnotnull THEN ' NOT NULL' ELSE '' END), ', ' ORDER BY attnum) "
        "FROM pg_attribute WHERE attrelid = 'visit'::regclass "
        "AND attnum > 0 AND NOT attisdropped")).scalar_one()
    # The other server: PostGIS (the point column) and the county's table, keyed as a
    # local partition is.
    remote_engine = get_engine(url)
    with remote_engine.begin() as rc:
        rc.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
        rc.execute(sa.text(f"CREATE TABLE {PART} ({ddl}, PRIMARY KEY (id), "
                           f"CHECK (county_code = '{COUNTY}'))"))

    before = conn.execute(sa.text(
        "SELECT count(*), count(*) FILTER (WHERE county_code = :c), max(visited_at) "
        "FILTER (WHERE county_code = :c) FROM visit"), {"c": COUNTY}).one()
    due_before = due_visits(conn, _rules(), AS_OF, COUNTY)
    assert before[1] > 0

    u = make_url(url)
    conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgres_fdw"))
    conn.execute(sa.text(
        f"CREATE SERVER county_{COUNTY} FOREIGN DATA WRAPPER postgres_fdw OPTIONS "
        f"(host '{u.query['host']}', port '{REMOTE_PORT}', dbname 'county', "
        "batch_size '1000', fetch_size '10000')"))
    conn.execute(sa.text(f"CREATE USER MAPPING FOR CURRENT_USER SERVER county_{COUNTY} "
                         f"OPTIONS (user '{u.username}')"))
    conn.execute(sa.text(f"CREATE SCHEMA county_{COUNTY}"))
    # Move the county: detach the local partition, put a foreign table in its place (it
    # takes the parent's columns and CHECK constraints), copy the rows over.
    cols = ", ".join(columns)
    conn.execute(sa.text(f"ALTER TABLE visit DETACH PARTITION {PART}"))
    conn.execute(sa.text(f"ALTER TABLE {PART} RENAME TO {PART}_leaving"))
    conn.execute(sa.text(
        f"CREATE FOREIGN TABLE county_{COUNTY}.{PART} PARTITION OF visit "
        f"FOR VALUES IN ('{COUNTY}') SERVER county_{COUNTY} "
        f"OPTIONS (schema_name 'public', table_name '{PART}')"))
    conn.execute(sa.text(f"INSERT INTO county_{COUNTY}.{PART} ({cols}) "
                         f"SELECT {cols} FROM {PART}_leaving"))
    conn.execute(sa.text(f"DROP TABLE {PART}_leaving"))
    # Statistics of the foreign table (sampled through the same remote transaction), so
    # the planner knows the county's size when it chooses where to aggregate.
    conn.execute(sa.text(f"ANALYZE county_{COUNTY}.{PART}"))

    # Reads through the parent see the same visits.
    after = conn.execute(sa.text(
        "SELECT count(*), count(*) FILTER (WHERE county_code = :c), max(visited_at) "
        "FILTER (WHERE county_code = :c) FROM visit"), {"c": COUNTY}).one()
    assert tuple(after) == tuple(before)
    assert due_visits(conn, _rules(), AS_OF, COUNTY) == due_before

    # Households (partitioned the same way, migration 0018) move over just as well.
    homes = _move_to_remote(conn, remote_engine, "household")
    assert conn.execute(sa.text(
        "SELECT count(*), max(id) FROM household WHERE county_code = :c"),
        {"c": COUNTY}).one() == homes
    assert due_visits(conn, _rules(), AS_OF, COUNTY) == due_before

    # The county's aggregate runs on the other server (the planner plans aggregates over
    # a partitioned table per partition only when partitionwise aggregation is on).
    conn.execute(sa.text("SET LOCAL enable_partitionwise_aggregate = on"))
    plan = _explain(conn, "SELECT county_code, count(*), max(visited_at) FROM visit "
                          f"WHERE county_code = '{COUNTY}' GROUP BY county_code")
    assert "Foreign Scan" in plan, plan
    assert "Remote SQL: SELECT county_code, count(*), max(visited_at)" in plan, plan
    # Per county across the whole table: the remote county's part is aggregated there,
    # the local ones here.
    plan = _explain(conn, "SELECT county_code, count(*) FROM visit GROUP BY county_code")
    assert "Remote SQL: SELECT county_code, count(*)" in plan and "GROUP BY" in plan, plan
    grouped = dict(conn.execute(sa.text(
        "SELECT county_code, count(*) FROM visit GROUP BY county_code")).all())
    assert grouped[COUNTY] == before[1]


def _move_to_remote(conn, remote_engine, table: str) -> tuple:
    """Put the county's partition of ``table`` on the other server (same steps as for
    visits above); returns its row count and highest id, read before the move."""
    part = f"{table}_c{COUNTY}"
    before = tuple(conn.execute(sa.text(f"SELECT count(*), max(id) FROM {part}")).one())
    ddl = conn.execute(sa.text(
        "SELECT string_agg(format('%I %s%s', attname, format_type(atttypid, atttypmod), "
        "CASE WHEN attnotnull THEN ' NOT NULL' ELSE '' END), ', ' ORDER BY attnum) "
        "FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) "
        "AND attnum > 0 AND NOT attisdropped"), {"t": table}).scalar_one()
    cols = ", ".join(r[0] for r in conn.execute(sa.text(
        "SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) "
        "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"), {"t": table}))
    with remote_engine.begin() as rc:
        rc.execute(sa.text(f"CREATE TABLE {part} ({ddl}, PRIMARY KEY (id), "
                           f"CHECK (county_code = '{COUNTY}'))"))
    conn.execute(sa.text(f"ALTER TABLE {table} DETACH PARTITION {part}"))
    conn.execute(sa.text(f"ALTER TABLE {part} RENAME TO {part}_leaving"))
    conn.execute(sa.text(
        f"CREATE FOREIGN TABLE county_{COUNTY}.{part} PARTITION OF {table} "
        f"FOR VALUES IN ('{COUNTY}') SERVER county_{COUNTY} "
        f"OPTIONS (schema_name 'public', table_name '{part}')"))
    conn.execute(sa.text(f"INSERT INTO county_{COUNTY}.{part} ({cols}) "
                         f"SELECT {cols} FROM {part}_leaving"))
    conn.execute(sa.text(f"DROP TABLE {part}_leaving"))
    conn.execute(sa.text(f"ANALYZE county_{COUNTY}.{part}"))
    return before


def _rules() -> dict:
    from geo.config import load_config

    return load_config()["rules"]

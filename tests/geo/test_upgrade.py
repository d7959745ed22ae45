"""The upgrade path: a database at the previous schema revision, with rows in every
table, migrated to head loses nothing (counts and a sample of rows compared)."""

from __future__ import annotations

import io
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy import make_url

from geo import migrate
from geo.store.db import create_database, drop_database, get_engine

pytestmark = pytest.mark.slow
PREVIOUS = "0005"
SAMPLE = 50


def _tables(engine) -> dict[str, list[str]]:
    """Tables (partitioned parents, not their partitions) and their stored columns."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT c.relname, a.attname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "AND a.attgenerated = '' "
            "AND c.relname NOT IN ('spatial_ref_sys', 'alembic_version') "
            "ORDER BY c.relname, a.attnum")).all()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def _key(engine, table: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = CAST(:t AS regclass) "
            "AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)"),
            {"t": table}).scalars())


# Rows of today's demo that an older schema could not hold (a role added since).
OLD_ROWS_ONLY = {"app_user": "role IN ('admin', 'supervisor', 'grid_head', 'grid_worker', "
                             "'planner', 'responder')"}


def _copy(src, dst, table: str, columns: list[str]) -> None:
    cols = ", ".join(f'"{c}"' for c in columns)
    where = f" WHERE {OLD_ROWS_ONLY[table]}" if table in OLD_ROWS_ONLY else ""
    buf = io.BytesIO()
    raw_src = src.raw_connection()
    try:
        raw_src.cursor().copy_expert(
            f'COPY (SELECT {cols} FROM "{table}"{where}) TO STDOUT', buf)
    finally:
        raw_src.close()
    buf.seek(0)
    raw = dst.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SET session_replication_role = replica")   # rows as they were
        cur.copy_expert(f'COPY "{table}" ({cols}) FROM STDIN', buf)
        raw.commit()
    finally:
        raw.close()


def _snapshot(engine, tables: dict[str, list[str]]) -> dict:
    out = {}
    with engine.connect() as conn:
        for table, columns in tables.items():
            key = _key(engine, table) or columns[:1]
            cols = ", ".join(f'"{c}"::text' for c in columns)
            order = ", ".join(f'"{c}"' for c in key)
            count = conn.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one()
            first = conn.execute(sa.text(
                f'SELECT {cols} FROM "{table}" ORDER BY {order} LIMIT {SAMPLE}')).all()
            last = conn.execute(sa.text(
                f'SELECT {cols} FROM "{table}" ORDER BY {order} DESC LIMIT {SAMPLE}')).all()
            out[table] = (count, first, last)
    return out


def _fill_empty(engine) -> None:
    """Rows for the tables the demo leaves empty, so every table is carried across."""
    with engine.begin() as conn:
        conn.execute(sa.text("SET session_replication_role = replica"))
        tables = _tables(engine)
        for table in [*FILLERS, *tables]:      # fillers in their order, then the rest
            if table not in tables or conn.execute(
                    sa.text(f'SELECT EXISTS (SELECT FROM "{table}")')).scalar():
                continue
            assert table in FILLERS, f"no filler for the empty table {table}"
            conn.execute(sa.text(FILLERS[table]))


FILLERS = {
    "placement": (
        "INSERT INTO placement (child_id, facility_id, status, placed_at) "
        "SELECT (SELECT min(id) FROM child), (SELECT min(id) FROM facility), 'active', now()"),
    "road_vertex": "INSERT INTO road_vertex (id, geom) VALUES "
                   "(1, ST_SetSRID(ST_MakePoint(101.7, 26.5), 4326))",
    "road": (
        "INSERT INTO road (id, geom, length_m, source, target, cost, reverse_cost) VALUES "
        "(1, ST_SetSRID(ST_MakeLine(ST_MakePoint(101.7, 26.5), ST_MakePoint(101.7001, 26.5)),"
        " 4326), 10, 1, 1, 10, 10)"),
    "app_user": (
        "INSERT INTO app_user (username, password_hash, role, unit_id) SELECT 'upgrade_admin', "
        "'x', 'admin', id FROM unit WHERE level = 'county' LIMIT 1"),
    "api_token": (
        "INSERT INTO api_token (token_hash, user_id, expires_at) SELECT md5('t'), min(id), "
        "now() + interval '1 hour' FROM app_user"),
    "audit_log": "INSERT INTO audit_log (action, resource, resource_id) "
                 "VALUES ('read', 'child', '1')",
}


def test_previous_release_database_migrates_to_head_without_loss(database, demo, engine):
    url = make_url(database).set(database=f"gridmap_upgrade_{uuid.uuid4().hex[:8]}")
    create_database(url)
    old = get_engine(url.render_as_string(hide_password=False))
    try:
        migrate.upgrade(old, PREVIOUS)
        assert migrate.current(old) == PREVIOUS
        tables = _tables(old)
        head_tables = _tables(engine)
        for table, columns in tables.items():
            common = [c for c in columns if c in head_tables.get(table, [])]
            _copy(engine, old, table, common)
        with old.begin() as conn:     # serial columns continue after the copied ids
            conn.execute(sa.text(
                "SELECT setval(s.seq, GREATEST(1, (xpath('/row/m/text()', query_to_xml("
                "format('SELECT max(%I) AS m FROM %I', s.col, s.tab), false, true, '')))[1]"
                "::text::bigint)) FROM (SELECT c.relname AS tab, a.attname AS col, "
                "pg_get_serial_sequence(c.relname, a.attname) AS seq FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' "
                "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
                "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition) s "
                "WHERE s.seq IS NOT NULL"))
        _fill_empty(old)
        before = _snapshot(old, tables)
        assert all(count > 0 for count, _, _ in before.values()), \
            {t: c for t, (c, _, _) in before.items() if not c}

        migrate.upgrade(old)
        assert migrate.is_up_to_date(old)
        after = _snapshot(old, tables)
        for table in tables:
            assert after[table][0] == before[table][0], f"{table}: row count changed"
            assert after[table][1:] == before[table][1:], f"{table}: sampled rows changed"
        with old.connect() as conn:
            # 0006 filled the children's last visit from their visits
            wrong = conn.execute(sa.text(
                "SELECT count(*) FROM child c WHERE c.last_visit_at IS DISTINCT FROM "
                "(SELECT max(v.visited_at) FROM visit v WHERE v.child_id = c.id)")).scalar()
            assert wrong == 0
            # the new tables work on the upgraded data
            assert conn.execute(sa.text("SELECT count(*) FROM report")).scalar() == 0
            assert conn.execute(sa.text(
                "SELECT DISTINCT kind FROM api_token")).scalars().all() == ["token"]
    finally:
        old.dispose()
        drop_database(url)

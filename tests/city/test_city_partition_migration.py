"""Migration 0018 on a loaded database: partitioning households and children by county
keeps every row, key and reference, and its downgrade gives back the plain tables with
the same rows (the way to an unpartitioned copy, e.g. for bench/city.py)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from citydemo import CITY, COUNTIES
from sqlalchemy import make_url

from geo import migrate
from geo.store.db import create_database, drop_database, get_engine

# Row fingerprints of the tables the migration rebuilds or re-points (every column
# 0017 has, so county_code is left out).
TABLES = ("household", "child", "visit", "guardian", "report", "task", "placement")


def _fingerprints(conn) -> dict:
    out = {}
    for table in TABLES:
        cols = [r[0] for r in conn.execute(sa.text(
            "SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) "
            "AND attnum > 0 AND NOT attisdropped AND attname <> 'county_code' ORDER BY attnum"),
            {"t": table})]
        out[table] = tuple(conn.execute(sa.text(
            f"SELECT count(*), md5(string_agg(CAST(ROW({', '.join(cols)}) AS text), ',' "
            f"ORDER BY id)) FROM {table}")).one())
    for seq in ("household_id_seq", "child_id_seq"):
        out[seq] = conn.execute(sa.text(f"SELECT last_value FROM {seq}")).scalar_one()
    return out


def _references(conn, table: str) -> int:
    """The tables (a partitioned table's partitions count as it: migration 0019 moves
    the case tables' foreign keys onto their partitions) and columns referencing
    ``table``."""
    return conn.execute(sa.text(
        "SELECT count(DISTINCT (regexp_replace(conrelid::regclass::text, "
        "'_(c[0-9]{6}|other)$', ''), conkey)) FROM pg_constraint WHERE contype = 'f' "
        "AND confrelid = CAST(:t AS regclass)"), {"t": table}).scalar_one()


@pytest.mark.slow
def test_upgrade_and_downgrade_keep_a_loaded_city(database, cfg):
    from geo.demo import load_demo

    url = make_url(database).set(database=f"gridmap_part_{uuid.uuid4().hex[:8]}")
    create_database(url)
    engine = get_engine(url.render_as_string(hide_password=False))
    try:
        # The demo loads into the schema of today; taken back to 0017 (the downgrades
        # keep every row), it is a city as it stood before the partitions.
        migrate.upgrade(engine)
        load_demo(engine, cfg, scale=0.01, seed=5, today=dt.date(2026, 11, 24), city=CITY)
        migrate.downgrade(engine, "0017")
        with engine.begin() as conn:
            # A guardian and a task, so foreign keys to a child carry rows.
            conn.execute(sa.text(
                "INSERT INTO guardian (child_id, name, relation) "
                "SELECT id, '某', 'mother' FROM child ORDER BY id LIMIT 3"))
            before = _fingerprints(conn)
            refs = _references(conn, "child")
        assert before["household"][0] > 0 and before["guardian"][0] == 3

        migrate.upgrade(engine)
        with engine.begin() as conn:
            assert _fingerprints(conn) == before
            parts = dict(conn.execute(sa.text(
                "SELECT tableoid::regclass::text, count(*) FROM household GROUP BY 1")).all())
            assert set(parts) == {f"household_c{c}" for c in COUNTIES}
            keys = conn.execute(sa.text(
                "SELECT (SELECT count(*) FROM household_key), (SELECT count(*) FROM child_key)")
            ).one()
            assert tuple(keys) == (before["household"][0], before["child"][0])
            # Each reference to a child now points at its key (the visit partitions' too).
            assert _references(conn, "child_key") == refs
            assert _references(conn, "child") == 0
            # Writing still works (and is undone): a guardian of a child.
            with conn.begin_nested() as undo:
                conn.execute(sa.text(
                    "INSERT INTO guardian (child_id, name, relation) "
                    "SELECT max(id), '某', 'father' FROM child"))
                undo.rollback()

        migrate.downgrade(engine, "0017")
        with engine.begin() as conn:
            assert _fingerprints(conn) == before
            assert _references(conn, "child") == refs
            assert conn.execute(sa.text(
                "SELECT count(*) FROM pg_partitioned_table "
                "WHERE partrelid IN ('household'::regclass, 'child'::regclass)")).scalar_one() == 0
            assert conn.execute(sa.text(
                "SELECT to_regclass('child_key') IS NULL")).scalar_one()

        migrate.upgrade(engine)
        with engine.begin() as conn:
            assert _fingerprints(conn) == before
    finally:
        engine.dispose()
        drop_database(url)

"""The demo's bulk load (geo.demo with geo.store.maintained.bulk_load): the maintenance
triggers and foreign keys are back after it and the kept state equals a count from
scratch; and the unpartitioned copy the city bench compares against (geo.demo.flat)
holds the same rows and answers the same, with the same keys and triggers."""


import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from test_cell_tally import _scratch, _tallies
from test_child_due import kept, scratch
from test_visit_state import mismatches

from geo.config import DEFAULTS
from geo.demo.flat import unpartition
from geo.visits.due import cell_status

TRIGGERS = """
SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_trigger
 WHERE tgrelid IN ('household'::regclass, 'child'::regclass, 'visit'::regclass)
   AND NOT tgisinternal ORDER BY 1, 2
"""


def test_after_a_bulk_load_triggers_and_keys_are_back_and_state_is_from_scratch(conn):
    triggers = conn.execute(sa.text(TRIGGERS)).all()
    assert {"visit_state_insert", "household_tally_insert", "child_tally_insert",
            "visit_tile_insert"} <= {t.tgname for t in triggers}
    assert all(t.tgenabled == "O" for t in triggers), triggers
    keys = conn.execute(sa.text(
        "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid IN (SELECT relid FROM pg_partition_tree('visit') "
        "UNION SELECT relid FROM pg_partition_tree('child') "
        "UNION SELECT relid FROM pg_partition_tree('household'))")).all()
    # Foreign keys to a child or household point at the key registries (migration 0018).
    assert ("visit_c510411", "FOREIGN KEY (child_id) REFERENCES child_key(id)") in keys
    assert ("child_c510411", "FOREIGN KEY (household_id) REFERENCES household_key(id)") in keys
    # The registries hold every row, though their triggers were off for the COPYs.
    assert conn.execute(sa.text(
        "SELECT (SELECT count(*) FROM household) - (SELECT count(*) FROM household_key "
        "k JOIN household h USING (id, county_code, ledger_id)), (SELECT count(*) FROM child) "
        "- (SELECT count(*) FROM child_key k JOIN child c USING (id, county_code, household_id,"
        " ledger_id))")).one() == (0, 0)
    assert conn.execute(sa.text(
        "SELECT count(*) FROM household_other")).scalar_one() == 0  # every row in its county
    # The indexes dropped for the load are built again, on every partition, and valid.
    indexes = conn.execute(sa.text(
        "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c "
        "ON c.oid = i.indexrelid WHERE i.indrelid IN ('visit_c510411'::regclass, "
        "'visit'::regclass, 'household'::regclass, 'child'::regclass)")).all()
    assert all(valid for _, valid in indexes), indexes
    names = {n for n, _ in indexes}
    assert {"visit_child_time", "visit_worker_time", "visit_child_return", "visit_client_id",
            "visit_c510411_pkey", "visit_c510411_client_id", "idx_household_geom",
            "household_geog", "ix_child_household_id", "child_categories_gin"} <= names
    assert sum(n.startswith("visit_c510411") for n in names) == 6, names
    # Households COPYed with the cell they were drawn in: the cell the trigger would give.
    assert conn.execute(sa.text(
        "SELECT count(*) FROM household WHERE cell_id IS DISTINCT FROM gridmap_cell_at(geom)")
    ).scalar_one() == 0
    assert conn.execute(sa.text(
        "SELECT array_agg(DISTINCT tgenabled) FROM pg_trigger WHERE tgname = 'household_cell'")
    ).scalar_one() == ["O"]  # on the parent and each partition
    assert mismatches(conn) == []
    assert _tallies(conn) == _scratch(conn)
    assert len(kept(conn)) > 0 and kept(conn) == scratch(conn)  # child_due (migration 0019)
    assert conn.execute(sa.text("SELECT count(*) FROM tile_change WHERE county_id = 0")
                        ).scalar_one() >= 1
    # The triggers work again: a new visit moves its child's state.
    child = conn.execute(sa.text("SELECT id FROM child ORDER BY id LIMIT 1")).scalar_one()
    conn.execute(sa.text(
        "INSERT INTO visit (child_id, worker_id, visited_at, kind, county_code) "
        "SELECT :c, min(id), '2026-11-25 10:00+08', 'return', '510411' FROM worker"),
        {"c": child})
    assert mismatches(conn) == []


def _answers(conn) -> dict:
    rules = DEFAULTS["rules"]
    status = cell_status(conn, rules, "2026-11-24", "510411", "Asia/Shanghai")
    past = cell_status(conn, rules, "2026-09-30", "510411", "Asia/Shanghai")
    return {
        "rows": conn.execute(sa.text(
            "SELECT (SELECT count(*) FROM household), (SELECT count(*) FROM child), "
            "(SELECT count(*) FROM visit), (SELECT count(*) FROM visit "
            "WHERE county_code = '510411')")).one(),
        "status": sorted(map(str, status)), "past": sorted(map(str, past)),
    }


def test_the_unpartitioned_copy_answers_the_same(conn):
    before = _answers(conn)
    assert {"child", "household", "visit", "report", "case_event"} <= set(unpartition(conn))
    assert conn.execute(sa.text("SELECT count(*) FROM pg_class WHERE relkind = 'p'")
                        ).scalar_one() == 0
    assert conn.execute(sa.text("SELECT count(*) FROM pg_inherits")).scalar_one() == 0
    assert _answers(conn) == before
    # Same keys: a primary key, a unique client id, the foreign keys; the triggers.
    defs = {r[0] for r in conn.execute(sa.text(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'visit'::regclass"))}
    assert {"PRIMARY KEY (id)", "FOREIGN KEY (child_id) REFERENCES child_key(id)",
            "FOREIGN KEY (worker_id) REFERENCES worker(id)"} <= defs
    assert any("CHECK" in d and "return" in d for d in defs)
    assert {"visit_state_insert", "visit_tile_insert", "visit_generation"} <= {
        r[0] for r in conn.execute(sa.text(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'visit'::regclass"))}
    child = conn.execute(sa.text("SELECT id FROM child ORDER BY id LIMIT 1")).scalar_one()
    conn.execute(sa.text(
        "INSERT INTO visit (child_id, worker_id, visited_at, kind, county_code) "
        "SELECT :c, min(id), '2026-11-25 10:00+08', 'return', '510411' FROM worker"),
        {"c": child})
    assert mismatches(conn) == []
    with pytest.raises(IntegrityError), conn.begin_nested():
        conn.execute(sa.text(
            "INSERT INTO visit (child_id, worker_id, visited_at, kind) "
            "SELECT -1, min(id), now(), 'regular' FROM worker"))
    uid = "7d3b5a6e-0000-4000-8000-000000000001"
    conn.execute(sa.text(
        "INSERT INTO visit (child_id, worker_id, visited_at, kind, client_id) "
        "SELECT :c, min(id), now(), 'regular', :u FROM worker"), {"c": child, "u": uid})
    with pytest.raises(IntegrityError), conn.begin_nested():
        conn.execute(sa.text(
            "INSERT INTO visit (child_id, worker_id, visited_at, kind, client_id) "
            "SELECT :c, min(id), now(), 'regular', :u FROM worker"), {"c": child, "u": uid})

"""State the database keeps current with statement triggers, rebuilt set-based.

The migrations that add the state (0006: each child's last visit and last return visit;
0017: households and children per cell, and ``tile_change``) back-fill it with these
statements, and a bulk load (``geo.demo``) runs them once after its COPYs instead of
letting the triggers maintain the state statement by statement: ``bulk_load`` switches
the maintenance triggers off for the load and rebuilds the state after, in the same
transaction, so nothing half-maintained is ever committed.
"""

from __future__ import annotations

from contextlib import contextmanager

# Migration 0006: each child's last visit and last return visit, from every visit.
VISIT_STATE = """
UPDATE child ch
   SET last_visit_at = a.last_visit, last_return_at = a.last_return
  FROM (SELECT child_id, max(visited_at) AS last_visit,
               max(visited_at) FILTER (WHERE kind = 'return') AS last_return
          FROM visit GROUP BY child_id) a
 WHERE a.child_id = ch.id
   AND (ch.last_visit_at, ch.last_return_at) IS DISTINCT FROM (a.last_visit, a.last_return)
"""

# Migration 0017: households and children per cell, counted from scratch (one group-by
# per table, not a count per cell).
CELL_TALLY = """
INSERT INTO cell_tally (cell_id, households, children)
SELECT c.id, coalesce(h.n, 0), coalesce(k.n, 0)
  FROM unit c
  LEFT JOIN (SELECT cell_id, count(*) AS n FROM household GROUP BY cell_id) h
         ON h.cell_id = c.id
  LEFT JOIN (SELECT h.cell_id, count(*) AS n FROM child ch
               JOIN household h ON h.id = ch.household_id GROUP BY h.cell_id) k
         ON k.cell_id = c.id
 WHERE c.level = 'cell'
ON CONFLICT (cell_id) DO UPDATE
   SET households = EXCLUDED.households, children = EXCLUDED.children
 WHERE (cell_tally.households, cell_tally.children)
       IS DISTINCT FROM (EXCLUDED.households, EXCLUDED.children)
"""

# Every county's tiles are stale after a bulk load (county 0 counts for all).
TILES_STALE = "INSERT INTO tile_change (county_id) VALUES (0)"

# The maintenance triggers of a table: statement triggers with transition tables
# (visit state, cell tallies, tile_change), found in the catalog, not by name.
_MAINTENANCE = """
SELECT t.tgname FROM pg_trigger t
 WHERE t.tgrelid = %s::regclass AND NOT t.tgisinternal AND t.tgparentid = 0
   AND (t.tgnewtable IS NOT NULL OR t.tgoldtable IS NOT NULL)
 ORDER BY t.tgname
"""

# Foreign keys declared on a table or any of its partitions (not the copies a
# partitioned parent's key makes on its partitions).
_FOREIGN_KEYS = """
SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
  FROM pg_constraint c
 WHERE c.contype = 'f' AND c.conparentid = 0
   AND c.conrelid IN (SELECT relid FROM pg_partition_tree(%s::regclass))
 ORDER BY 1, 2
"""


# Indexes of a table or its partitions that no key needs (a partitioned parent's index
# stands for its partitions' copies): dropped for a bulk load and built after, sorted.
_INDEXES = """
SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid IN (SELECT relid FROM pg_partition_tree(%s::regclass))
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
   AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
 ORDER BY c.relname
"""


# Migration 0018: the register-wide key registries of the partitioned households and
# children (their statement triggers are off during a bulk load like the others).
HOUSEHOLD_KEYS = """
INSERT INTO household_key (id, county_code, ledger_id)
SELECT id, county_code, ledger_id FROM household
ON CONFLICT (id) DO UPDATE SET county_code = EXCLUDED.county_code, ledger_id = EXCLUDED.ledger_id
 WHERE (household_key.county_code, household_key.ledger_id)
       IS DISTINCT FROM (EXCLUDED.county_code, EXCLUDED.ledger_id)
"""
CHILD_KEYS = """
INSERT INTO child_key (id, county_code, household_id, ledger_id, id_hash)
SELECT id, county_code, household_id, ledger_id, id_hash FROM child
ON CONFLICT (id) DO UPDATE SET county_code = EXCLUDED.county_code,
       household_id = EXCLUDED.household_id, ledger_id = EXCLUDED.ledger_id,
       id_hash = EXCLUDED.id_hash
 WHERE (child_key.county_code, child_key.household_id, child_key.ledger_id, child_key.id_hash)
       IS DISTINCT FROM (EXCLUDED.county_code, EXCLUDED.household_id, EXCLUDED.ledger_id,
                         EXCLUDED.id_hash)
"""


# Migration 0019: each child's row of what its due date depends on (cell status reads it),
# from the children as they stand (after VISIT_STATE, so with their last visits).
CHILD_DUE = """
DELETE FROM child_due;
INSERT INTO child_due (child_id, cell_id, risk_level, categories, registered_on, birth_date,
                       open, last_visit_at, last_return_at)
SELECT ch.id, h.cell_id, ch.risk_level, ch.categories, ch.registered_on, ch.birth_date,
       ch.case_status <> 'closed', ch.last_visit_at, ch.last_return_at
  FROM child ch LEFT JOIN household h ON h.id = ch.household_id
"""


# Migration 0021: every cell's kept status figures counted again from child_due by the
# kept rules (nothing when no rules are kept). child_due's own triggers recount the cells
# whose children a statement changes; this is for the rules changing.
CELL_DUE = """
DELETE FROM cell_due;
SELECT cell_due_recount(ARRAY(SELECT DISTINCT cell_id FROM child_due
                               WHERE cell_id IS NOT NULL));
ANALYZE cell_due;
"""


def rebuild(cursor) -> None:
    """Rebuild the kept state from scratch (a DB-API cursor)."""
    cursor.execute(HOUSEHOLD_KEYS)
    cursor.execute(CHILD_KEYS)
    cursor.execute(VISIT_STATE)
    cursor.execute(CHILD_DUE)
    cursor.execute(CELL_TALLY)
    cursor.execute(TILES_STALE)


@contextmanager
def bulk_load(cursor, tables: list[str]):
    """For COPYs into ``tables`` on the cursor's transaction: their maintenance triggers
    off, their foreign keys and the indexes no key needs dropped during the block;
    after it, the state rebuilt, the indexes built again (one sort each, not one insert
    per row), the foreign keys added back (each checked in one pass over the table) and
    the triggers on again. The caller commits (or rolls back: then nothing changed)."""
    triggers, keys, indexes = [], [], []
    for table in tables:
        cursor.execute(_MAINTENANCE, (table,))
        triggers += [(table, name) for (name,) in cursor.fetchall()]
        cursor.execute(_FOREIGN_KEYS, (table,))
        keys += cursor.fetchall()
        cursor.execute(_INDEXES, (table,))
        indexes += cursor.fetchall()
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    for table, name in triggers:
        cursor.execute(f'ALTER TABLE {table} DISABLE TRIGGER "{name}"')
    for rel, name, _ in keys:
        cursor.execute(f'ALTER TABLE {rel} DROP CONSTRAINT "{name}"')
    yield
    rebuild(cursor)  # first: its updates then touch no index that is not there yet
    for _, definition in indexes:  # a partitioned parent's: for every partition again
        cursor.execute(definition.replace(" ON ONLY ", " ON ", 1))
    for rel, name, definition in keys:
        cursor.execute(f'ALTER TABLE {rel} ADD CONSTRAINT "{name}" {definition}')
    for table, name in triggers:
        cursor.execute(f'ALTER TABLE {table} ENABLE TRIGGER "{name}"')

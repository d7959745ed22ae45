"""Each child's due-visit facts in one narrow row, with the child's cell (issue 17).

``child_due``: per child, its cell (its household's), risk level, categories,
registration and birth dates, whether its case is open, and its last visit and last
return visit (the visit state of 0006) — everything cell status needs, about 80 bytes a
child instead of a 550-byte child row joined to its household. Cell status for a whole
city reads it alone (400,000 rows) instead of joining a million households to 400,000
children; the no-guardian tile bins children per cell from it.

Kept by statement-level triggers (transition tables, so a bulk COPY is one statement):

- child inserted, or moved to another household: its row is written again from ``child``
  and ``household`` (``child_due_place``) after locking the households' rows ``FOR
  SHARE`` in id order, so a concurrent move of the household (which holds its row for
  update) commits first and the new statement reads the household's new cell;
- household moved to another cell: its children are placed again the same way;
- any other change to a child (visit state, risk level, case status…): the columns are
  copied from the new rows (the child's own row lock orders concurrent writers);
- child deleted: its row goes; TRUNCATE of ``child`` empties it.

Created on the parent tables only, with no ctid, so they hold for tables partitioned by
county too. Back-filled here once.

Revision ID: 0019
Revises: 0017
"""

from alembic import op

from geo.store.maintained import CHILD_DUE

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_COLUMNS = ("risk_level, categories, registered_on, birth_date, open, last_visit_at, "
            "last_return_at")
_VALUES = ("{a}.risk_level, {a}.categories, {a}.registered_on, {a}.birth_date, "
           "{a}.case_status <> 'closed', {a}.last_visit_at, {a}.last_return_at")

_OLD = ", ".join(f"d.{c}" for c in _COLUMNS.split(", "))

SCHEMA = f"""
CREATE TABLE child_due (
    child_id integer PRIMARY KEY,
    cell_id integer,
    risk_level varchar(16) NOT NULL,
    categories text[] NOT NULL,
    registered_on date NOT NULL,
    birth_date date NOT NULL,
    open boolean NOT NULL,
    last_visit_at timestamptz,
    last_return_at timestamptz
);
CREATE INDEX child_due_cell ON child_due (cell_id);
-- The newest stored visit: cell status for today reads the stored visits as they are
-- when none lies after the day asked for (geo/visits/due.py).
CREATE INDEX child_due_last_visit ON child_due (last_visit_at);

CREATE FUNCTION child_due_place(ids int[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- Joined to unnest(ids), not "= ANY(ids)": a parameter array is searched from the
    -- start for every row, which for a bulk load of 400,000 children is quadratic.
    PERFORM 1 FROM household h
      WHERE h.id IN (SELECT ch.household_id FROM unnest(ids) i(id)
                       JOIN child ch ON ch.id = i.id)
      ORDER BY h.id FOR SHARE;
    INSERT INTO child_due (child_id, cell_id, {_COLUMNS})
    SELECT ch.id, h.cell_id, {_VALUES.format(a="ch")}
      FROM (SELECT DISTINCT id FROM unnest(ids) i(id)) i
      JOIN child ch ON ch.id = i.id LEFT JOIN household h ON h.id = ch.household_id
    ON CONFLICT (child_id) DO UPDATE
       SET cell_id = excluded.cell_id, risk_level = excluded.risk_level,
           categories = excluded.categories, registered_on = excluded.registered_on,
           birth_date = excluded.birth_date, open = excluded.open,
           last_visit_at = excluded.last_visit_at, last_return_at = excluded.last_return_at;
END $$;

CREATE FUNCTION child_due_child_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM child_due_place(ARRAY(SELECT id FROM changed));
    RETURN NULL;
END $$;

CREATE FUNCTION child_due_child_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE child_due d
       SET ({_COLUMNS}) = ({_VALUES.format(a="n")})
      FROM changed n
     WHERE d.child_id = n.id
       AND ({_OLD}) IS DISTINCT FROM ({_VALUES.format(a="n")});
    PERFORM child_due_place(ARRAY(
        SELECT n.id FROM changed n JOIN changed_old o ON o.id = n.id
         WHERE o.household_id IS DISTINCT FROM n.household_id
        UNION ALL
        SELECT n.id FROM changed n WHERE NOT EXISTS (
            SELECT 1 FROM child_due d WHERE d.child_id = n.id)));
    RETURN NULL;
END $$;

CREATE FUNCTION child_due_child_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM child_due d USING changed o WHERE d.child_id = o.id;
    RETURN NULL;
END $$;

CREATE FUNCTION child_due_child_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM child_due;
    RETURN NULL;
END $$;

CREATE FUNCTION child_due_household_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM child_due_place(ARRAY(
        SELECT ch.id FROM changed n JOIN changed_old o ON o.id = n.id
          JOIN child ch ON ch.household_id = n.id
         WHERE o.cell_id IS DISTINCT FROM n.cell_id));
    RETURN NULL;
END $$;

CREATE TRIGGER child_due_insert AFTER INSERT ON child
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION child_due_child_insert();
CREATE TRIGGER child_due_update AFTER UPDATE ON child
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION child_due_child_update();
CREATE TRIGGER child_due_delete AFTER DELETE ON child
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION child_due_child_delete();
CREATE TRIGGER child_due_truncate AFTER TRUNCATE ON child
    FOR EACH STATEMENT EXECUTE FUNCTION child_due_child_truncate();
CREATE TRIGGER child_due_household_update AFTER UPDATE ON household
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION child_due_household_update();
"""

# cell_tally_recount (migration 0017) counted each cell in a correlated subquery, which
# the planner ran as a hash join per cell: loading a city's 400,000 children (17,889
# cells) did not finish in 15 minutes. Counted here per cell in one grouped pass over
# the cells' households, joined to unnest(cells) (never "= ANY(cells)": see above).
RECOUNT = """
CREATE OR REPLACE FUNCTION cell_tally_recount(cells int[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    cells := ARRAY(SELECT DISTINCT c FROM unnest(cells) c WHERE c IS NOT NULL ORDER BY c);
    IF cardinality(cells) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO cell_tally (cell_id)
    SELECT u.id FROM unnest(cells) c JOIN unit u ON u.id = c ORDER BY u.id
    ON CONFLICT (cell_id) DO NOTHING;
    PERFORM 1 FROM unnest(cells) c JOIN cell_tally t ON t.cell_id = c
      ORDER BY t.cell_id FOR UPDATE OF t;
    UPDATE cell_tally t
       SET households = n.households, children = n.children
      FROM (SELECT c.c AS cell_id, coalesce(hh.households, 0) AS households,
                   coalesce(hh.children, 0) AS children
              FROM unnest(cells) c(c)
              LEFT JOIN (SELECT h.cell_id, count(DISTINCT h.id) AS households,
                                count(ch.id) AS children
                           FROM unnest(cells) k(c) JOIN household h ON h.cell_id = k.c
                           LEFT JOIN child ch ON ch.household_id = h.id
                          GROUP BY h.cell_id) hh ON hh.cell_id = c.c) n
     WHERE t.cell_id = n.cell_id
       AND (t.households, t.children) IS DISTINCT FROM (n.households, n.children);
END $$;
"""

BACKFILL = CHILD_DUE + ";\nANALYZE child_due;"


def upgrade() -> None:
    op.execute(RECOUNT)
    op.execute(SCHEMA)
    op.execute(BACKFILL)


def downgrade() -> None:
    # cell_tally_recount keeps this revision's body: it counts the same.
    op.execute("DROP TRIGGER IF EXISTS child_due_household_update ON household")
    for event in ("insert", "update", "delete", "truncate"):
        op.execute(f"DROP TRIGGER IF EXISTS child_due_{event} ON child")
    for fn in ("child_insert", "child_update", "child_delete", "child_truncate",
               "household_update"):
        op.execute(f"DROP FUNCTION IF EXISTS child_due_{fn}()")
    op.execute("DROP FUNCTION IF EXISTS child_due_place(int[])")
    op.execute("DROP TABLE IF EXISTS child_due")

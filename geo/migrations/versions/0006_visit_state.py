"""Visit state kept current: each child's last visit and last return visit.

``child.last_visit_at`` and ``child.last_return_at`` are maintained by statement-level
triggers on ``visit`` (insert, update, delete, with transition tables, so a bulk COPY
of a million visits is one aggregate, not a million updates), and back-filled here once.
Due visits, cell status, routes and tiles read them instead of aggregating all visits.

Concurrency: an insert only raises the values (``GREATEST``), which is right whatever
order concurrent inserts commit in; an update or delete first locks the children's
rows, then recomputes from the visits in a new statement, whose snapshot sees every
visit committed before the lock was granted.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

from geo.store.maintained import VISIT_STATE

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

FUNCTIONS = """
CREATE FUNCTION visit_state_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE child ch
       SET last_visit_at = GREATEST(ch.last_visit_at, n.last_visit),
           last_return_at = GREATEST(ch.last_return_at, n.last_return)
      FROM (SELECT child_id, max(visited_at) AS last_visit,
                   max(visited_at) FILTER (WHERE kind = 'return') AS last_return
              FROM new_visits GROUP BY child_id) n
     WHERE ch.id = n.child_id
       AND (ch.last_visit_at IS DISTINCT FROM GREATEST(ch.last_visit_at, n.last_visit)
            OR ch.last_return_at IS DISTINCT FROM GREATEST(ch.last_return_at, n.last_return));
    RETURN NULL;
END $$;

CREATE FUNCTION visit_state_refresh(ids int[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM child WHERE id = ANY(ids) ORDER BY id FOR UPDATE;
    UPDATE child ch
       SET last_visit_at = (SELECT max(v.visited_at) FROM visit v WHERE v.child_id = ch.id),
           last_return_at = (SELECT max(v.visited_at) FROM visit v
                              WHERE v.child_id = ch.id AND v.kind = 'return')
     WHERE ch.id = ANY(ids);
END $$;

CREATE FUNCTION visit_state_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM visit_state_refresh(ARRAY(SELECT DISTINCT child_id FROM old_visits));
    RETURN NULL;
END $$;

CREATE FUNCTION visit_state_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM visit_state_refresh(ARRAY(
        SELECT child_id FROM old_visits UNION SELECT child_id FROM new_visits));
    RETURN NULL;
END $$;
"""

TRIGGERS = """
CREATE TRIGGER visit_state_insert AFTER INSERT ON visit
    REFERENCING NEW TABLE AS new_visits
    FOR EACH STATEMENT EXECUTE FUNCTION visit_state_after_insert();
CREATE TRIGGER visit_state_delete AFTER DELETE ON visit
    REFERENCING OLD TABLE AS old_visits
    FOR EACH STATEMENT EXECUTE FUNCTION visit_state_after_delete();
CREATE TRIGGER visit_state_update AFTER UPDATE ON visit
    REFERENCING OLD TABLE AS old_visits NEW TABLE AS new_visits
    FOR EACH STATEMENT EXECUTE FUNCTION visit_state_after_update();
"""

# The same statement rebuilds the state after a bulk load (geo.demo).
BACKFILL = VISIT_STATE


def upgrade() -> None:
    op.execute("ALTER TABLE child ADD COLUMN last_visit_at timestamptz, "
               "ADD COLUMN last_return_at timestamptz")
    op.execute(FUNCTIONS)
    op.execute(TRIGGERS)
    op.execute(BACKFILL)


def downgrade() -> None:
    for trig in ("visit_state_insert", "visit_state_delete", "visit_state_update"):
        op.execute(f"DROP TRIGGER IF EXISTS {trig} ON visit")
    for fn in ("visit_state_after_insert()", "visit_state_after_delete()",
               "visit_state_after_update()", "visit_state_refresh(int[])"):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    op.execute("ALTER TABLE child DROP COLUMN last_visit_at, DROP COLUMN last_return_at")

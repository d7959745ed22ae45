"""Cell status kept per cell for the rules the server runs with (issue 17).

``due_rules``: one row, the due-visit rules the kept figures are worked out by (the
time zone, each set of rules' intervals per risk level and return interval, keyed 0 for
the shared rules and by county id for a county's own, and the exempt categories), as
``geo.visits.due.keep_rules`` writes them when the server starts. Empty (no row, or
``rules`` NULL): nothing is kept and cell status counts every child (child_due) itself.

``cell_due``: per cell, for its children with an open case and a risk level their rules
give an interval: how many, each one's next due day (the earlier of its last visit's day
— or its registration day — plus its level's interval, and, unless exempt, its last
return visit's plus the return interval), sorted, so the children overdue on a day are
``width_bucket(day - 1, due)`` (a binary search); the earliest birth date and latest
registration day (a cell is read from here only for a day on which all of them are on
the books), the newest visit and how many were visited. Children 18 or over on the day
counted (``counted_on``, in the rules' time zone) are left out and only counted
(``adults``): an open case of a young adult waiting to be closed would otherwise send its
cell to be counted child by child every day; a day before ``counted_on`` counts a cell
with such children child by child. And the rules it was counted by
(``rules_id``: 0 or the county's id), so a cell moved to a county with other rules is
counted from child_due until it is recounted.

The intervals are baked in, so the rows hold for one set of rules: ``keep_rules`` counts
every cell again (one pass over child_due) when the configured rules differ from the
stored ones, and cell status reads them only for the rules they were counted by.

Kept by statement triggers on ``child_due`` (transition tables: a bulk load is one
recount) and on ``unit`` (a cell given another county): ``cell_due_recount(cells)`` locks
the cells' rows (inserting the missing ones first) in id order, then counts them again in
a new statement, so of two transactions changing children of one cell the second counts
the first's committed change too.

Revision ID: 0021
Revises: 0020
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# Per cell of ``{cells}`` (a set of cell ids), inside cell_due_recount (its variables
# ``r``, the kept rules, and ``exempt``): its counted children's figures. A child's
# rules are its cell's county's when the kept rules have that county's id, else the
# shared ones (0); a child whose level those rules give no interval is not counted.
CELL_DUE_COUNT = """
SELECT d.cell_id, min(g.rid) AS rules_id, count(*) FILTER (WHERE NOT a.adult) AS children,
       array_agg(x.next_due ORDER BY x.next_due) FILTER (WHERE NOT a.adult) AS due,
       min(d.birth_date) FILTER (WHERE NOT a.adult) AS first_born,
       max(d.registered_on) FILTER (WHERE NOT a.adult) AS last_registered,
       max(d.last_visit_at) FILTER (WHERE NOT a.adult) AS last_visit,
       count(d.last_visit_at) FILTER (WHERE NOT a.adult) AS visited,
       count(*) FILTER (WHERE a.adult) AS adults
  FROM {cells} s(c)
  JOIN child_due d ON d.cell_id = s.c
  JOIN unit u ON u.id = d.cell_id
  CROSS JOIN LATERAL (SELECT CASE WHEN r -> 'intervals' ? u.county_id::text
                                  THEN u.county_id ELSE 0 END AS rid) g
  CROSS JOIN LATERAL (SELECT LEAST(
        COALESCE((d.last_visit_at AT TIME ZONE (r ->> 'tz'))::date, d.registered_on)
            + (r -> 'intervals' -> g.rid::text ->> d.risk_level)::int,
        CASE WHEN NOT d.categories <@ exempt THEN
            COALESCE((d.last_return_at AT TIME ZONE (r ->> 'tz'))::date, d.registered_on)
            + (r -> 'return_days' ->> g.rid::text)::int END) AS next_due) x
  -- 18 or over on the day counted: never counted again on that day or after.
  CROSS JOIN LATERAL (SELECT (d.birth_date + interval '18 years')::date <= today AS adult) a
 WHERE d.open AND r -> 'intervals' -> g.rid::text ? d.risk_level
 GROUP BY d.cell_id
"""

SCHEMA = f"""
CREATE TABLE due_rules (
    id integer PRIMARY KEY CHECK (id = 1),
    rules jsonb
);
CREATE TABLE cell_due (
    cell_id integer PRIMARY KEY,
    rules_id integer NOT NULL DEFAULT 0,
    children integer NOT NULL DEFAULT 0,
    due date[] NOT NULL DEFAULT '{{}}',
    first_born date,
    last_registered date,
    last_visit timestamptz,
    visited integer NOT NULL DEFAULT 0,
    adults integer NOT NULL DEFAULT 0,
    counted_on date
);

CREATE FUNCTION cell_due_recount(cells int[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
    exempt text[];
    today date;
BEGIN
    SELECT d.rules INTO r FROM due_rules d WHERE d.id = 1;
    IF r IS NULL THEN
        RETURN;
    END IF;
    today := (now() AT TIME ZONE (r ->> 'tz'))::date;
    cells := ARRAY(SELECT DISTINCT c FROM unnest(cells) c WHERE c IS NOT NULL ORDER BY c);
    IF cardinality(cells) = 0 THEN
        RETURN;
    END IF;
    exempt := ARRAY(SELECT jsonb_array_elements_text(r -> 'exempt'));
    INSERT INTO cell_due (cell_id) SELECT c FROM unnest(cells) c ORDER BY c
    ON CONFLICT (cell_id) DO NOTHING;
    PERFORM 1 FROM unnest(cells) c JOIN cell_due k ON k.cell_id = c
      ORDER BY k.cell_id FOR UPDATE OF k;
    UPDATE cell_due k
       SET rules_id = n.rules_id, children = n.children, due = n.due,
           first_born = n.first_born, last_registered = n.last_registered,
           last_visit = n.last_visit, visited = n.visited, adults = n.adults,
           counted_on = today
      FROM (SELECT q.c AS cell_id, coalesce(a.rules_id, 0) AS rules_id,
                   coalesce(a.children, 0) AS children, coalesce(a.due, '{{}}') AS due,
                   a.first_born, a.last_registered, a.last_visit,
                   coalesce(a.visited, 0) AS visited, coalesce(a.adults, 0) AS adults
              FROM unnest(cells) q(c)
              LEFT JOIN ({CELL_DUE_COUNT.format(cells="unnest(cells)")}) a
                     ON a.cell_id = q.c) n
     WHERE k.cell_id = n.cell_id
       AND (k.rules_id, k.children, k.due, k.first_born, k.last_registered, k.last_visit,
            k.visited, k.adults, k.counted_on)
           IS DISTINCT FROM (n.rules_id, n.children, n.due, n.first_born,
                             n.last_registered, n.last_visit, n.visited, n.adults, today);
END $$;

CREATE FUNCTION cell_due_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM cell_due_recount(ARRAY(SELECT DISTINCT cell_id FROM changed));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM cell_due_recount(ARRAY(SELECT DISTINCT cell_id FROM changed_old));
    ELSE
        PERFORM cell_due_recount(ARRAY(SELECT cell_id FROM changed
                                       UNION SELECT cell_id FROM changed_old));
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION cell_due_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM cell_due;
    RETURN NULL;
END $$;

CREATE FUNCTION cell_due_unit_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cell_due_recount(ARRAY(
        SELECT n.id FROM changed n JOIN changed_old o ON o.id = n.id
         WHERE n.level = 'cell' AND o.county_id IS DISTINCT FROM n.county_id));
    RETURN NULL;
END $$;

CREATE TRIGGER cell_due_insert AFTER INSERT ON child_due
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION cell_due_changed();
CREATE TRIGGER cell_due_update AFTER UPDATE ON child_due
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION cell_due_changed();
CREATE TRIGGER cell_due_delete AFTER DELETE ON child_due
    REFERENCING OLD TABLE AS changed_old
    FOR EACH STATEMENT EXECUTE FUNCTION cell_due_changed();
CREATE TRIGGER cell_due_truncate AFTER TRUNCATE ON child_due
    FOR EACH STATEMENT EXECUTE FUNCTION cell_due_truncate();
CREATE TRIGGER cell_due_unit_update AFTER UPDATE ON unit
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION cell_due_unit_update();
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS cell_due_unit_update ON unit")
    for event in ("insert", "update", "delete", "truncate"):
        op.execute(f"DROP TRIGGER IF EXISTS cell_due_{event} ON child_due")
    for fn in ("cell_due_changed()", "cell_due_truncate()", "cell_due_unit_update()",
               "cell_due_recount(int[])"):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    op.execute("DROP TABLE IF EXISTS cell_due")
    op.execute("DROP TABLE IF EXISTS due_rules")

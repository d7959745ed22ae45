"""Tile cache invalidation and per-cell tallies (issue 17).

``tile_change``: one row per county a write statement touched, written by statement-level
triggers with transition tables on the tables behind the map (so a bulk COPY adds one row
per county, not one per row). The service's tile cache keys a tile on the number and the
newest id of the rows of the counties in the user's scope (county 0: writes that belong
to no one county, such as a worker's name, a facility without a unit or a TRUNCATE, and
count for every county). The rows are transactional, unlike a sequence: a reader sees a
change only once the write committed, so it cannot cache old data under the new key; and
because the count is in the key, a write that commits after a later one still changes it.
Insert-only, so concurrent writers never wait for each other here; the service prunes
old rows (layers/tile_cache.py).

``cell_tally``: households and children per cell, kept current by statement-level
triggers on ``household`` and ``child`` (insert, update, delete; the cells a statement
touched are counted again, so a household moved to another cell takes its children
along), back-filled here once. Tiles and caseloads
read it instead of counting all households and children.

Neither trigger names a physical table beyond the parent it is created on, nor uses
ctid: on a table partitioned by county code they are created on the partitioned parent
(statement triggers with transition tables see the rows of every partition).

Revision ID: 0017
Revises: 0016
"""

from alembic import op

from geo.store.maintained import CELL_TALLY

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# The county of a unit row ``u`` (0 for units above a county).
_COUNTY = "coalesce(u.county_id, CASE WHEN u.level = 'county' THEN u.id END, 0)"

# Per table: the counties of the rows of the transition table ``{rel}``.
COUNTIES = {
    "unit": f"SELECT {_COUNTY} FROM {{rel}} u",
    "household": f"SELECT {_COUNTY} FROM {{rel}} r JOIN unit u ON u.id = r.cell_id",
    "child": f"SELECT {_COUNTY} FROM {{rel}} r JOIN household h ON h.id = r.household_id "
             "JOIN unit u ON u.id = h.cell_id",
    "visit": f"SELECT {_COUNTY} FROM {{rel}} r JOIN child ch ON ch.id = r.child_id "
             "JOIN household h ON h.id = ch.household_id JOIN unit u ON u.id = h.cell_id",
    "facility": f"SELECT coalesce({_COUNTY}, 0) FROM {{rel}} r "
                "LEFT JOIN unit u ON u.id = r.unit_id",
    "placement": f"SELECT coalesce({_COUNTY}, 0) FROM {{rel}} r "
                 "JOIN facility f ON f.id = r.facility_id LEFT JOIN unit u ON u.id = f.unit_id",
    "worker_unit": f"SELECT {_COUNTY} FROM {{rel}} r JOIN unit u ON u.id = r.unit_id",
    "worker": "SELECT 0 FROM {rel} r",
    "guardian": f"SELECT {_COUNTY} FROM {{rel}} r JOIN child ch ON ch.id = r.child_id "
                "JOIN household h ON h.id = ch.household_id JOIN unit u ON u.id = h.cell_id",
}


def _tile_change_sql() -> str:
    out = ["""
CREATE TABLE tile_change (
    id bigserial PRIMARY KEY,
    county_id integer NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tile_change_county ON tile_change (county_id, id);
CREATE FUNCTION tile_change_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tile_change (county_id) VALUES (0);
    RETURN NULL;
END $$;
"""]
    for table, counties in COUNTIES.items():
        one = counties.format(rel="changed")
        both = (f"{counties.format(rel='changed')} UNION "
                f"{counties.format(rel='changed_old')}")
        out.append(f"""
CREATE FUNCTION tile_change_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tile_change (county_id) SELECT DISTINCT k FROM ({one}) s(k);
    RETURN NULL;
END $$;
CREATE FUNCTION tile_change_{table}_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tile_change (county_id) SELECT DISTINCT k FROM ({both}) s(k);
    RETURN NULL;
END $$;
CREATE TRIGGER {table}_tile_insert AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION tile_change_{table}();
CREATE TRIGGER {table}_tile_delete AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION tile_change_{table}();
CREATE TRIGGER {table}_tile_update AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION tile_change_{table}_update();
CREATE TRIGGER {table}_tile_truncate AFTER TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION tile_change_truncate();
""")
    return "\n".join(out)


TALLY = """
CREATE TABLE cell_tally (
    cell_id integer PRIMARY KEY REFERENCES unit (id) ON DELETE CASCADE,
    households integer NOT NULL DEFAULT 0,
    children integer NOT NULL DEFAULT 0
);

-- Count the cells again. Like the visit state (0006): lock the cells' rows first (in
-- cell order, so concurrent writers cannot deadlock), then count in a new statement,
-- whose snapshot sees every write committed before the lock was granted. Counting
-- instead of adding deltas keeps it right whatever the order of cascades: children
-- deleted with their household are not counted, since their household is gone.
CREATE FUNCTION cell_tally_recount(cells int[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    cells := ARRAY(SELECT DISTINCT c FROM unnest(cells) c WHERE c IS NOT NULL ORDER BY c);
    IF cardinality(cells) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO cell_tally (cell_id)
    SELECT u.id FROM unit u WHERE u.id = ANY(cells) ORDER BY u.id
    ON CONFLICT (cell_id) DO NOTHING;
    PERFORM 1 FROM cell_tally WHERE cell_id = ANY(cells) ORDER BY cell_id FOR UPDATE;
    UPDATE cell_tally t
       SET households = n.households, children = n.children
      FROM (SELECT c AS cell_id,
                   (SELECT count(*) FROM household h WHERE h.cell_id = c) AS households,
                   (SELECT count(*) FROM household h JOIN child ch ON ch.household_id = h.id
                     WHERE h.cell_id = c) AS children
              FROM unnest(cells) c) n
     WHERE t.cell_id = n.cell_id
       AND (t.households, t.children) IS DISTINCT FROM (n.households, n.children);
END $$;

CREATE FUNCTION cell_tally_household() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cell_tally_recount(ARRAY(SELECT cell_id FROM changed));
    RETURN NULL;
END $$;

CREATE FUNCTION cell_tally_household_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cell_tally_recount(ARRAY(
        SELECT o.cell_id FROM changed_old o JOIN changed n ON n.id = o.id
         WHERE o.cell_id IS DISTINCT FROM n.cell_id
        UNION
        SELECT n.cell_id FROM changed_old o JOIN changed n ON n.id = o.id
         WHERE o.cell_id IS DISTINCT FROM n.cell_id));
    RETURN NULL;
END $$;

CREATE FUNCTION cell_tally_child() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cell_tally_recount(ARRAY(
        SELECT DISTINCT h.cell_id FROM changed r JOIN household h ON h.id = r.household_id));
    RETURN NULL;
END $$;

CREATE FUNCTION cell_tally_child_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cell_tally_recount(ARRAY(
        SELECT h.cell_id FROM changed_old o JOIN changed n ON n.id = o.id
          JOIN household h ON h.id IN (o.household_id, n.household_id)
         WHERE o.household_id IS DISTINCT FROM n.household_id));
    RETURN NULL;
END $$;

-- TRUNCATE (no transition table): nothing is left to count.
CREATE FUNCTION cell_tally_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cell_tally SET children = 0,
           households = CASE WHEN TG_ARGV[0] = 'household' THEN 0 ELSE households END
     WHERE children <> 0 OR (TG_ARGV[0] = 'household' AND households <> 0);
    RETURN NULL;
END $$;
CREATE TRIGGER household_tally_truncate AFTER TRUNCATE ON household
    FOR EACH STATEMENT EXECUTE FUNCTION cell_tally_truncate('household');
CREATE TRIGGER child_tally_truncate AFTER TRUNCATE ON child
    FOR EACH STATEMENT EXECUTE FUNCTION cell_tally_truncate('child');
CREATE TRIGGER household_tally_insert AFTER INSERT ON household
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION cell_tally_household();
CREATE TRIGGER household_tally_delete AFTER DELETE ON household
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION cell_tally_household();
CREATE TRIGGER household_tally_update AFTER UPDATE ON household
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION cell_tally_household_update();
CREATE TRIGGER child_tally_insert AFTER INSERT ON child
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION cell_tally_child();
CREATE TRIGGER child_tally_delete AFTER DELETE ON child
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION cell_tally_child();
CREATE TRIGGER child_tally_update AFTER UPDATE ON child
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION cell_tally_child_update();
"""

# The same statement rebuilds the state after a bulk load (geo.demo).
BACKFILL = CELL_TALLY


def upgrade() -> None:
    op.execute(_tile_change_sql())
    op.execute(TALLY)
    op.execute(BACKFILL)


def downgrade() -> None:
    for table in ("household", "child"):
        for event in ("insert", "delete", "update", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_tally_{event} ON {table}")
    for fn in ("household", "household_update", "child", "child_update", "truncate"):
        op.execute(f"DROP FUNCTION IF EXISTS cell_tally_{fn}()")
    op.execute("DROP FUNCTION IF EXISTS cell_tally_recount(int[])")
    op.execute("DROP TABLE IF EXISTS cell_tally")
    for table in COUNTIES:
        for event in ("insert", "delete", "update", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_tile_{event} ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS tile_change_{table}()")
        op.execute(f"DROP FUNCTION IF EXISTS tile_change_{table}_update()")
    op.execute("DROP FUNCTION IF EXISTS tile_change_truncate()")
    op.execute("DROP TABLE IF EXISTS tile_change")

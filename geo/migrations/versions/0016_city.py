"""A city above the counties (issue 18).

``unit`` gets the level ``city`` (6-digit national code, e.g. 510400 攀枝花市) and the
ancestor column ``city_id``; a county may have a city as its parent (or none, as the
one-county demo has). The ancestor trigger fills ``city_id`` like the others, so the
one area test (``geo.access.in_scope_sql``) covers a city user as it covers a county user.

``visit`` — the table that grows to tens of millions of rows — becomes a declaratively
list-partitioned table on ``county_code`` (the 6-digit code of the child's county): one
partition per county (``visit_c<code>``) and a DEFAULT partition (``visit_other``) for
rows of a county that has none yet. Rules PostgreSQL sets, and how they are met:

* a primary key or unique index on the parent must contain the partition key, and a
  foreign table (a county kept on another server, postgres_fdw) cannot be attached to
  a parent that has any unique index: so uniqueness lives on each local partition —
  ``PRIMARY KEY (id)`` and a unique ``client_id`` per partition (a resent visit is about
  the same child, so the same county: still stored once; ``geo.visits.client`` also
  looks it up under a lock) — and the parent has plain indexes only; ids come from one
  sequence;
* a row is routed before any BEFORE ROW trigger runs, and such a trigger may not move
  it to another partition: so the writer sets ``county_code`` (``gridmap_child_county``,
  used by ``geo.visits.record`` and the demo's COPY); a writer that does not (an old
  script, psql) lands with ``''`` in the DEFAULT partition, whose AFTER ROW trigger
  moves the row to its county's partition by an UPDATE (row movement);
* statement triggers with transition tables (migration 0006, the kept visit state)
  are allowed on the partitioned parent (not on partitions): they are recreated there;
* nor can a parent with foreign keys take a foreign table as a partition: the foreign
  keys to ``child``, ``worker`` and ``app_user`` are likewise declared on each local
  partition (same rules, ON DELETE SET NULL for the login); nothing references
  ``visit``. A county moved to another server keeps them there, where its reference
  tables are (README: across machines).

``gridmap_county_partitions()`` creates the partitions of counties that have none
(called here, by the demo loader and after a units import).

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ANCESTORS = """
CREATE OR REPLACE FUNCTION gridmap_unit_ancestors() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p unit%ROWTYPE;
    expected text;
BEGIN
    IF NEW.parent_id IS NULL THEN
        NEW.city_id := CASE WHEN NEW.level = 'city' THEN NEW.id END;
        NEW.county_id := CASE WHEN NEW.level = 'city' THEN NULL ELSE NEW.id END;
        NEW.township_id := NULL; NEW.village_id := NULL;
        RETURN NEW;
    END IF;
    SELECT * INTO p FROM unit WHERE id = NEW.parent_id;
    expected := CASE p.level WHEN 'city' THEN 'county' WHEN 'county' THEN 'township'
                             WHEN 'township' THEN 'village' WHEN 'village' THEN 'cell' END;
    IF expected IS DISTINCT FROM NEW.level THEN
        RAISE EXCEPTION 'a % cannot be the parent of a % (unit %)', p.level, NEW.level, NEW.code
            USING ERRCODE = 'check_violation';
    END IF;
    NEW.city_id := p.city_id;
    NEW.county_id := CASE WHEN NEW.level = 'county' THEN NEW.id ELSE p.county_id END;
    NEW.township_id := CASE WHEN NEW.level = 'township' THEN NEW.id ELSE p.township_id END;
    NEW.village_id := CASE WHEN NEW.level = 'village' THEN NEW.id ELSE p.village_id END;
    RETURN NEW;
END $$;
"""

OLD_ANCESTORS = """
CREATE OR REPLACE FUNCTION gridmap_unit_ancestors() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p unit%ROWTYPE;
    expected text;
BEGIN
    IF NEW.parent_id IS NULL THEN
        NEW.county_id := NEW.id; NEW.township_id := NULL; NEW.village_id := NULL;
        RETURN NEW;
    END IF;
    SELECT * INTO p FROM unit WHERE id = NEW.parent_id;
    expected := CASE p.level WHEN 'county' THEN 'township' WHEN 'township' THEN 'village'
                             WHEN 'village' THEN 'cell' END;
    IF expected IS DISTINCT FROM NEW.level THEN
        RAISE EXCEPTION 'a % cannot be the parent of a % (unit %)', p.level, NEW.level, NEW.code
            USING ERRCODE = 'check_violation';
    END IF;
    NEW.county_id := p.county_id;
    NEW.township_id := CASE WHEN NEW.level = 'township' THEN NEW.id ELSE p.township_id END;
    NEW.village_id := CASE WHEN NEW.level = 'village' THEN NEW.id ELSE p.village_id END;
    RETURN NEW;
END $$;
"""


PARTITIONING = """
CREATE FUNCTION gridmap_child_county(child integer) RETURNS varchar
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT COALESCE((SELECT co.code FROM child ch JOIN household h ON h.id = ch.household_id
                       JOIN unit c ON c.id = h.cell_id JOIN unit co ON co.id = c.county_id
                      WHERE ch.id = child), '')
$$;

CREATE TABLE visit_partitioned (
    id bigint NOT NULL DEFAULT nextval('visit_id_seq'),
    child_id integer NOT NULL,
    worker_id integer NOT NULL,
    visited_at timestamptz NOT NULL,
    geom geometry(Point, 4326),
    kind varchar(16) NOT NULL,
    outcome text,
    note text,
    flagged boolean NOT NULL DEFAULT false,
    flag_reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    client_id uuid,
    created_by integer,
    checks jsonb,
    county_code varchar(6) NOT NULL DEFAULT ''
) PARTITION BY LIST (county_code);

-- A local partition's keys (a partitioned parent cannot hold them: see above).
CREATE FUNCTION gridmap_partition_keys(part text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (id)', part);
    EXECUTE format('CREATE UNIQUE INDEX %I ON %I (client_id)', part || '_client_id', part);
    EXECUTE format('ALTER TABLE %I ADD FOREIGN KEY (child_id) REFERENCES child(id), '
                   'ADD FOREIGN KEY (worker_id) REFERENCES worker(id), '
                   'ADD FOREIGN KEY (created_by) REFERENCES app_user(id) ON DELETE SET NULL',
                   part);
END $$;

CREATE TABLE visit_other PARTITION OF visit_partitioned DEFAULT;
SELECT gridmap_partition_keys('visit_other');

-- One partition per county; rows already in the default partition move into it.
CREATE FUNCTION gridmap_county_partitions() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    c record;
    made integer := 0;
BEGIN
    FOR c IN SELECT code FROM unit WHERE level = 'county'
               AND to_regclass('visit_c' || code) IS NULL ORDER BY code LOOP
        EXECUTE format('CREATE TABLE %I (LIKE visit INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                       'visit_c' || c.code);
        EXECUTE format('WITH moved AS (DELETE FROM visit_other WHERE county_code = %L '
                       'RETURNING *) INSERT INTO %I SELECT * FROM moved', c.code,
                       'visit_c' || c.code);
        EXECUTE format('ALTER TABLE visit ATTACH PARTITION %I FOR VALUES IN (%L)',
                       'visit_c' || c.code, c.code);
        PERFORM gridmap_partition_keys('visit_c' || c.code);
        made := made + 1;
    END LOOP;
    RETURN made;
END $$;

-- A row written without its county code ('' routes to the default partition) is moved
-- to its county's partition: a BEFORE trigger could not, routing happens before it.
CREATE FUNCTION gridmap_visit_route() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE visit SET county_code = gridmap_child_county(NEW.child_id)
     WHERE county_code = '' AND id = NEW.id AND gridmap_child_county(NEW.child_id) <> '';
    RETURN NULL;
END $$;
"""

VISIT_COLUMNS = ("id, child_id, worker_id, visited_at, geom, kind, outcome, note, flagged, "
                 "flag_reason, created_at, client_id, created_by, checks")

VISIT_TRIGGERS = """
CREATE TRIGGER visit_state_insert AFTER INSERT ON visit
    REFERENCING NEW TABLE AS new_visits
    FOR EACH STATEMENT EXECUTE FUNCTION visit_state_after_insert();
CREATE TRIGGER visit_state_delete AFTER DELETE ON visit
    REFERENCING OLD TABLE AS old_visits
    FOR EACH STATEMENT EXECUTE FUNCTION visit_state_after_delete();
CREATE TRIGGER visit_state_update AFTER UPDATE ON visit
    REFERENCING OLD TABLE AS old_visits NEW TABLE AS new_visits
    FOR EACH STATEMENT EXECUTE FUNCTION visit_state_after_update();
CREATE TRIGGER visit_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON visit
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_bump_generation();
"""

VISIT_INDEXES = """
ALTER TABLE visit ADD CONSTRAINT visit_kind_check
    CHECK (kind IN ('regular', 'return', 'emergency'));
CREATE INDEX visit_child_time ON visit (child_id, visited_at);
CREATE INDEX visit_worker_time ON visit (worker_id, visited_at);
CREATE INDEX visit_child_return ON visit (child_id, visited_at) WHERE kind = 'return';
CREATE INDEX visit_client_id ON visit (client_id);
"""


def _drop_visit_triggers(table: str) -> None:
    for trig in ("visit_state_insert", "visit_state_delete", "visit_state_update",
                 "visit_generation"):
        op.execute(f"DROP TRIGGER IF EXISTS {trig} ON {table}")


def _partition_visits() -> None:
    op.execute(PARTITIONING)
    _drop_visit_triggers("visit")
    # Counties' partitions first (named after the table they will belong to).
    op.execute("ALTER TABLE visit RENAME TO visit_unpartitioned")
    op.execute("ALTER TABLE visit_partitioned RENAME TO visit")
    op.execute("SELECT gridmap_county_partitions()")
    op.execute(f"INSERT INTO visit ({VISIT_COLUMNS}, county_code) "
               f"SELECT {', '.join('v.' + c for c in VISIT_COLUMNS.split(', '))}, "
               "gridmap_child_county(v.child_id) FROM visit_unpartitioned v")
    op.execute("ALTER SEQUENCE visit_id_seq OWNED BY NONE")
    op.execute("DROP TABLE visit_unpartitioned")
    op.execute("ALTER SEQUENCE visit_id_seq OWNED BY visit.id")
    op.execute(VISIT_INDEXES)
    op.execute(VISIT_TRIGGERS)
    op.execute("CREATE TRIGGER visit_route AFTER INSERT ON visit_other FOR EACH ROW "
               "WHEN (NEW.county_code = '') EXECUTE FUNCTION gridmap_visit_route()")
    op.execute("ANALYZE visit")


def _unpartition_visits() -> None:
    _drop_visit_triggers("visit")
    op.execute("ALTER TABLE visit RENAME TO visit_partitioned")
    op.execute(f"""
CREATE TABLE visit (
    id bigint NOT NULL DEFAULT nextval('visit_id_seq'),
    child_id integer NOT NULL REFERENCES child(id),
    worker_id integer NOT NULL REFERENCES worker(id),
    visited_at timestamptz NOT NULL,
    geom geometry(Point, 4326),
    kind varchar(16) NOT NULL CONSTRAINT visit_kind_check
        CHECK (kind IN ('regular', 'return', 'emergency')),
    outcome text, note text,
    flagged boolean NOT NULL DEFAULT false,
    flag_reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    client_id uuid,
    created_by integer CONSTRAINT visit_created_by_fkey2 REFERENCES app_user(id)
        ON DELETE SET NULL,
    checks jsonb);
INSERT INTO visit ({VISIT_COLUMNS}) SELECT {VISIT_COLUMNS} FROM visit_partitioned;
ALTER SEQUENCE visit_id_seq OWNED BY NONE;
DROP TABLE visit_partitioned;
ALTER SEQUENCE visit_id_seq OWNED BY visit.id;
ALTER TABLE visit RENAME CONSTRAINT visit_created_by_fkey2 TO visit_created_by_fkey;
ALTER TABLE visit ADD CONSTRAINT visit_pkey PRIMARY KEY (id);
CREATE INDEX visit_child_time ON visit (child_id, visited_at);
CREATE INDEX visit_worker_time ON visit (worker_id, visited_at);
CREATE INDEX visit_child_return ON visit (child_id, visited_at) WHERE kind = 'return';
CREATE UNIQUE INDEX visit_client_id ON visit (client_id);
""")
    op.execute(VISIT_TRIGGERS)
    op.execute("DROP FUNCTION IF EXISTS gridmap_visit_route()")
    op.execute("DROP FUNCTION IF EXISTS gridmap_county_partitions()")
    op.execute("DROP FUNCTION IF EXISTS gridmap_partition_keys(text)")
    op.execute("DROP FUNCTION IF EXISTS gridmap_child_county(integer)")


def upgrade() -> None:
    op.execute("ALTER TABLE unit ADD COLUMN city_id integer REFERENCES unit(id)")
    op.execute("CREATE INDEX ix_unit_city_id ON unit (city_id)")
    op.execute("ALTER TABLE unit DROP CONSTRAINT unit_level_check, ADD CONSTRAINT "
               "unit_level_check CHECK (level IN ('city', 'county', 'township', 'village', "
               "'cell'))")
    op.execute("ALTER TABLE unit DROP CONSTRAINT unit_parent_check, ADD CONSTRAINT "
               "unit_parent_check CHECK (CASE level WHEN 'city' THEN parent_id IS NULL "
               "WHEN 'county' THEN true ELSE parent_id IS NOT NULL END)")
    op.execute(ANCESTORS)
    op.execute("DROP TRIGGER unit_ancestors ON unit")
    op.execute("CREATE TRIGGER unit_ancestors BEFORE INSERT OR UPDATE OF parent_id, level "
               "ON unit FOR EACH ROW EXECUTE FUNCTION gridmap_unit_ancestors()")
    _partition_visits()


def downgrade() -> None:
    _unpartition_visits()
    op.execute("DELETE FROM unit WHERE level = 'city'")
    op.execute(OLD_ANCESTORS)
    op.execute("ALTER TABLE unit DROP CONSTRAINT unit_parent_check, ADD CONSTRAINT "
               "unit_parent_check CHECK ((level = 'county') = (parent_id IS NULL))")
    op.execute("ALTER TABLE unit DROP CONSTRAINT unit_level_check, ADD CONSTRAINT "
               "unit_level_check CHECK (level IN ('county', 'township', 'village', 'cell'))")
    op.execute("ALTER TABLE unit DROP COLUMN city_id")

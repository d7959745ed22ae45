"""Households and children partitioned by county, like visits (issue 18).

``household`` and ``child`` become list-partitioned on ``county_code`` (the 6-digit code
of the household's county): ``household_c<code>`` / ``child_c<code>`` per county and a
DEFAULT partition (``household_other`` / ``child_other``) for rows written without it.

What stood in the way, and how it is met:

* a partitioned table's unique keys must contain the partition key, so ``child(id)``
  could no longer be referenced by the nine tables that point at a child, nor could
  ``ledger_id`` / ``id_hash`` stay unique register-wide. Two small unpartitioned **key
  registries** take that part: ``household_key (id, county_code, ledger_id UNIQUE)`` and
  ``child_key (id, county_code, household_id, ledger_id UNIQUE, id_hash UNIQUE)``, kept
  by statement triggers (transition tables, so a COPY of a million rows costs one
  statement) on the partitioned parents. Foreign keys that pointed at ``child(id)`` /
  ``household(id)`` point at the registry (same ON DELETE behaviour: deleting a child
  deletes its key, which cascades to its tasks or is refused while a guardian, visit, …
  refers to it). A duplicate ledger id or identity number fails on the registry's
  unique key, in the same statement, as it failed on the table's before.
* as for visits (migration 0016), uniqueness (``PRIMARY KEY (id)``) and foreign keys are
  on each local partition (a parent with either cannot take a county kept on another
  server as a foreign partition); ids come from the register-wide sequences.
* a row is routed before a BEFORE ROW trigger runs on INSERT, so writers set
  ``county_code`` where they know it; a row written without it lands in the DEFAULT
  partition and the parent's AFTER INSERT statement trigger moves it (one UPDATE per
  statement: a household's county from its cell, a child's from its household).
* on UPDATE a BEFORE ROW trigger may change the partition key (PostgreSQL then moves the
  row): a household whose new point lies in a cell of another county gets that county
  (``household_county``), a child given another household gets its county
  (``child_county``); the parents' AFTER UPDATE statement triggers then move the
  household's children, and a child's visits, to the new county's partitions.

``gridmap_county_partitions()`` now creates the county partitions of all three tables.
The downgrade turns household and child back into plain tables (data, keys, indexes and
triggers as before); visit stays partitioned (0016's downgrade undoes that).

Revision ID: 0018
Revises: 0017
"""

import re

from alembic import op

from geo.store.maintained import CHILD_KEYS, HOUSEHOLD_KEYS

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

TABLES = ("household", "child")
# Triggers this migration adds (not carried over by the downgrade).
OUR_TRIGGERS = {
    "household": ("household_county", "household_keys_insert", "household_keys_update",
                  "household_keys_delete", "household_keys_truncate", "household_route"),
    "child": ("child_county", "child_keys_insert", "child_keys_update", "child_keys_delete",
              "child_keys_truncate", "child_route"),
}

REGISTRIES = """
CREATE TABLE household_key (
    id integer PRIMARY KEY,
    county_code varchar(6) NOT NULL DEFAULT '',
    ledger_id text UNIQUE
);
CREATE TABLE child_key (
    id integer PRIMARY KEY,
    county_code varchar(6) NOT NULL DEFAULT '',
    household_id integer NOT NULL REFERENCES household_key (id),
    ledger_id text UNIQUE,
    id_hash varchar(64) UNIQUE
);
CREATE INDEX ix_child_key_household_id ON child_key (household_id);
"""

# The county code of a cell (via its county), '' when none.
FUNCTIONS = """
CREATE OR REPLACE FUNCTION gridmap_cell_county(cell integer) RETURNS varchar
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT COALESCE((SELECT co.code FROM unit c JOIN unit co ON co.id = c.county_id
                      WHERE c.id = cell), '')
$$;

CREATE OR REPLACE FUNCTION gridmap_household_county(household integer) RETURNS varchar
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT COALESCE((SELECT county_code FROM household_key WHERE id = household), '')
$$;

CREATE OR REPLACE FUNCTION gridmap_child_county(child integer) RETURNS varchar
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT COALESCE((SELECT county_code FROM child_key WHERE id = child), '')
$$;

-- A local partition's keys (a partitioned parent cannot hold them: migration 0016).
CREATE OR REPLACE FUNCTION gridmap_partition_keys(part text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (id)', part);
    IF part LIKE 'visit\\_%' THEN
        EXECUTE format('CREATE UNIQUE INDEX %I ON %I (client_id)', part || '_client_id', part);
        EXECUTE format('ALTER TABLE %I ADD FOREIGN KEY (child_id) REFERENCES child_key(id), '
                       'ADD FOREIGN KEY (worker_id) REFERENCES worker(id), '
                       'ADD FOREIGN KEY (created_by) REFERENCES app_user(id) '
                       'ON DELETE SET NULL', part);
    ELSIF part LIKE 'household\\_%' THEN
        EXECUTE format('ALTER TABLE %I ADD FOREIGN KEY (cell_id) REFERENCES unit(id)', part);
    ELSIF part LIKE 'child\\_%' THEN
        EXECUTE format('ALTER TABLE %I ADD FOREIGN KEY (household_id) '
                       'REFERENCES household_key(id)', part);
    END IF;
END $$;

-- One partition per county and table; rows already in the default partition move into it.
CREATE OR REPLACE FUNCTION gridmap_county_partitions() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    c record;
    t text;
    made integer := 0;
BEGIN
    FOREACH t IN ARRAY ARRAY['household', 'child', 'visit'] LOOP
        IF to_regclass(t || '_other') IS NULL THEN
            CONTINUE;
        END IF;
        FOR c IN SELECT code FROM unit WHERE level = 'county'
                   AND to_regclass(t || '_c' || code) IS NULL ORDER BY code LOOP
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                           t || '_c' || c.code, t);
            EXECUTE format('WITH moved AS (DELETE FROM %I WHERE county_code = %L '
                           'RETURNING *) INSERT INTO %I SELECT * FROM moved',
                           t || '_other', c.code, t || '_c' || c.code);
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES IN (%L)',
                           t, t || '_c' || c.code, c.code);
            PERFORM gridmap_partition_keys(t || '_c' || c.code);
            made := made + 1;
        END LOOP;
    END LOOP;
    RETURN made;
END $$;

-- Key registries: statement triggers with transition tables on the parents.
CREATE FUNCTION gridmap_household_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO household_key (id, county_code, ledger_id)
        SELECT id, county_code, ledger_id FROM changed;
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM household_key k USING changed o WHERE k.id = o.id;
    ELSIF TG_OP = 'TRUNCATE' THEN
        DELETE FROM household_key;
    ELSE
        UPDATE household_key k SET county_code = n.county_code, ledger_id = n.ledger_id
          FROM changed n
         WHERE k.id = n.id AND (k.county_code, k.ledger_id)
               IS DISTINCT FROM (n.county_code, n.ledger_id);
        -- A household moved to another county takes its children along.
        -- (Only then: a statement trigger fires on no rows too, and the visit state's
        -- triggers update children again.)
        IF EXISTS (SELECT FROM changed n JOIN changed_old o ON o.id = n.id
                    WHERE o.county_code <> n.county_code) THEN
            UPDATE child c SET county_code = n.county_code
              FROM changed n JOIN changed_old o ON o.id = n.id
             WHERE o.county_code <> n.county_code AND c.household_id = n.id
               AND c.county_code <> n.county_code;
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION gridmap_child_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO child_key (id, county_code, household_id, ledger_id, id_hash)
        SELECT id, county_code, household_id, ledger_id, id_hash FROM changed;
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM child_key k USING changed o WHERE k.id = o.id;
    ELSIF TG_OP = 'TRUNCATE' THEN
        DELETE FROM child_key;
    ELSE
        UPDATE child_key k SET county_code = n.county_code, household_id = n.household_id,
               ledger_id = n.ledger_id, id_hash = n.id_hash
          FROM changed n
         WHERE k.id = n.id AND (k.county_code, k.household_id, k.ledger_id, k.id_hash)
               IS DISTINCT FROM (n.county_code, n.household_id, n.ledger_id, n.id_hash);
        -- A child moved to another county takes its visits along.
        -- (Only then: a statement trigger fires on no rows too, and the visit state's
        -- triggers update children again.)
        IF EXISTS (SELECT FROM changed n JOIN changed_old o ON o.id = n.id
                    WHERE o.county_code <> n.county_code) THEN
            UPDATE visit v SET county_code = n.county_code
              FROM changed n JOIN changed_old o ON o.id = n.id
             WHERE o.county_code <> n.county_code AND v.child_id = n.id
               AND v.county_code <> n.county_code;
        END IF;
    END IF;
    RETURN NULL;
END $$;

-- Rows written without their county code: moved out of the default partition (a BEFORE
-- INSERT trigger could not, routing happens before it).
CREATE FUNCTION gridmap_household_route() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE household h SET county_code = co.code
      FROM unit c JOIN unit co ON co.id = c.county_id
     WHERE h.county_code = '' AND h.id IN (SELECT id FROM changed WHERE county_code = '')
       AND c.id = h.cell_id;
    RETURN NULL;
END $$;

CREATE FUNCTION gridmap_child_route() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE child c SET county_code = k.county_code
      FROM household_key k
     WHERE c.county_code = '' AND c.id IN (SELECT id FROM changed WHERE county_code = '')
       AND k.id = c.household_id AND k.county_code <> '';
    RETURN NULL;
END $$;

-- On UPDATE the partition key may change in a BEFORE trigger (the row then moves).
CREATE FUNCTION gridmap_household_county_set() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.cell_id IS DISTINCT FROM OLD.cell_id OR NEW.county_code = '' THEN
        NEW.county_code := COALESCE(NULLIF(gridmap_cell_county(NEW.cell_id), ''),
                                    NEW.county_code);
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION gridmap_child_county_set() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.household_id IS DISTINCT FROM OLD.household_id OR NEW.county_code = '' THEN
        NEW.county_code := COALESCE(NULLIF(gridmap_household_county(NEW.household_id), ''),
                                    NEW.county_code);
    END IF;
    RETURN NEW;
END $$;
"""

TRIGGERS = """
CREATE TRIGGER {t}_county BEFORE UPDATE ON {t}
    FOR EACH ROW EXECUTE FUNCTION gridmap_{t}_county_set();
CREATE TRIGGER {t}_keys_insert AFTER INSERT ON {t} REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_{t}_keys();
CREATE TRIGGER {t}_keys_update AFTER UPDATE ON {t}
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_{t}_keys();
CREATE TRIGGER {t}_keys_delete AFTER DELETE ON {t} REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_{t}_keys();
CREATE TRIGGER {t}_keys_truncate AFTER TRUNCATE ON {t}
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_{t}_keys();
CREATE TRIGGER {t}_route AFTER INSERT ON {t} REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_{t}_route();
"""

# 0016's versions, for the downgrade.
OLD_FUNCTIONS = """
CREATE OR REPLACE FUNCTION gridmap_child_county(child integer) RETURNS varchar
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT COALESCE((SELECT co.code FROM child ch JOIN household h ON h.id = ch.household_id
                       JOIN unit c ON c.id = h.cell_id JOIN unit co ON co.id = c.county_id
                      WHERE ch.id = child), '')
$$;

CREATE OR REPLACE FUNCTION gridmap_partition_keys(part text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (id)', part);
    EXECUTE format('CREATE UNIQUE INDEX %I ON %I (client_id)', part || '_client_id', part);
    EXECUTE format('ALTER TABLE %I ADD FOREIGN KEY (child_id) REFERENCES child(id), '
                   'ADD FOREIGN KEY (worker_id) REFERENCES worker(id), '
                   'ADD FOREIGN KEY (created_by) REFERENCES app_user(id) ON DELETE SET NULL',
                   part);
END $$;

CREATE OR REPLACE FUNCTION gridmap_county_partitions() RETURNS integer
LANGUAGE plpgsql AS $$
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
"""


def _rows(sql: str) -> list:
    return list(op.get_bind().exec_driver_sql(sql).fetchall())


def _foreign_keys_to(tables: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(table, constraint, definition) of the foreign keys pointing at ``tables``, but
    not those declared by the tables themselves or their partitions."""
    names = ", ".join(f"'{t}'::regclass" for t in tables)
    return [(r[0], r[1], r[2]) for r in _rows(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
        f"FROM pg_constraint WHERE contype = 'f' AND confrelid IN ({names}) "
        "AND conparentid = 0 ORDER BY 1, 2")]


def _indexes(table: str) -> list[str]:
    """The plain (not unique) indexes of ``table``, as statements for its successor."""
    return [r[0].replace(" ON ONLY ", " ON ") for r in _rows(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
        f"WHERE i.indrelid = '{table}'::regclass AND NOT i.indisunique ORDER BY 1")]


def _triggers(table: str, skip: tuple[str, ...] = ()) -> list[str]:
    return [r[0] for r in _rows(
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger "
        f"WHERE tgrelid = '{table}'::regclass AND NOT tgisinternal AND tgparentid = 0 "
        "ORDER BY tgname") if not any(f"TRIGGER {s} " in r[0] for s in skip)]


def _columns(table: str) -> list[str]:
    return [r[0] for r in _rows(
        "SELECT quote_ident(attname) FROM pg_attribute "
        f"WHERE attrelid = '{table}'::regclass AND attnum > 0 AND NOT attisdropped "
        "ORDER BY attnum")]


def upgrade() -> None:
    fks = _foreign_keys_to(TABLES)
    indexes = {t: _indexes(t) for t in TABLES}
    triggers = {t: _triggers(t) for t in TABLES}
    for table, name, _ in fks:
        op.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    op.execute(REGISTRIES)
    for t in TABLES:
        op.execute(f"ALTER TABLE {t} RENAME TO {t}_unpartitioned")
        op.execute(f"CREATE TABLE {t} (LIKE {t}_unpartitioned INCLUDING DEFAULTS "
                   "INCLUDING CONSTRAINTS, county_code varchar(6) NOT NULL DEFAULT '') "
                   "PARTITION BY LIST (county_code)")
        op.execute(f"CREATE TABLE {t}_other PARTITION OF {t} DEFAULT")
    op.execute(FUNCTIONS)
    op.execute("SELECT gridmap_partition_keys('household_other')")
    op.execute("SELECT gridmap_partition_keys('child_other')")
    op.execute("SELECT gridmap_county_partitions()")
    # The rows, each into its county's partition, and their keys.
    op.execute("INSERT INTO household SELECT h.*, gridmap_cell_county(h.cell_id) "
               "FROM household_unpartitioned h")
    op.execute(HOUSEHOLD_KEYS)
    op.execute("INSERT INTO child SELECT c.*, gridmap_household_county(c.household_id) "
               "FROM child_unpartitioned c")
    op.execute(CHILD_KEYS)
    for t in TABLES:
        op.execute(f"ALTER SEQUENCE {t}_id_seq OWNED BY NONE")
    for t in reversed(TABLES):
        op.execute(f"DROP TABLE {t}_unpartitioned")
    for t in TABLES:
        op.execute(f"ALTER SEQUENCE {t}_id_seq OWNED BY {t}.id")
        for statement in indexes[t] + triggers[t]:
            op.execute(statement)
        op.execute(TRIGGERS.format(t=t))
    for table, name, definition in fks:
        if table in TABLES:
            continue
        definition = (definition.replace("REFERENCES child(id)", "REFERENCES child_key(id)")
                      .replace("REFERENCES household(id)", "REFERENCES household_key(id)"))
        op.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    op.execute("ANALYZE household, child, household_key, child_key")


def downgrade() -> None:
    fks = _foreign_keys_to(("household_key", "child_key"))
    indexes = {t: _indexes(t) for t in TABLES}
    triggers = {t: _triggers(t, OUR_TRIGGERS[t]) for t in TABLES}
    for table, name, _ in fks:
        op.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for t in TABLES:
        op.execute(f"ALTER TABLE {t} RENAME TO {t}_partitioned")
        op.execute(f"CREATE TABLE {t} (LIKE {t}_partitioned INCLUDING DEFAULTS "
                   "INCLUDING CONSTRAINTS)")
        op.execute(f"ALTER TABLE {t} DROP COLUMN county_code")
        cols = ", ".join(_columns(t))
        op.execute(f"INSERT INTO {t} ({cols}) SELECT {cols} FROM {t}_partitioned")
        op.execute(f"ALTER SEQUENCE {t}_id_seq OWNED BY NONE")
    op.execute("DROP TABLE child_partitioned, household_partitioned")
    op.execute("DROP TABLE child_key, household_key")
    op.execute("""
ALTER TABLE household ADD CONSTRAINT household_pkey PRIMARY KEY (id),
    ADD CONSTRAINT household_ledger_id_key UNIQUE (ledger_id),
    ADD CONSTRAINT household_cell_id_fkey FOREIGN KEY (cell_id) REFERENCES unit(id);
ALTER TABLE child ADD CONSTRAINT child_pkey PRIMARY KEY (id),
    ADD CONSTRAINT child_ledger_id_key UNIQUE (ledger_id),
    ADD CONSTRAINT child_id_hash_key UNIQUE (id_hash),
    ADD CONSTRAINT child_household_id_fkey FOREIGN KEY (household_id) REFERENCES household(id);
""")
    for t in TABLES:
        op.execute(f"ALTER SEQUENCE {t}_id_seq OWNED BY {t}.id")
        for statement in indexes[t] + triggers[t]:
            op.execute(statement)
    for table, name, definition in fks:
        if table == "child_key" or re.match(r"^(household|child)_(c\d{6}|other)$", table):
            continue
        definition = (definition.replace("REFERENCES child_key(id)", "REFERENCES child(id)")
                      .replace("REFERENCES household_key(id)", "REFERENCES household(id)"))
        op.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    op.execute(OLD_FUNCTIONS)
    for t in TABLES:
        op.execute(f"DROP FUNCTION IF EXISTS gridmap_{t}_keys()")
        op.execute(f"DROP FUNCTION IF EXISTS gridmap_{t}_route()")
        op.execute(f"DROP FUNCTION IF EXISTS gridmap_{t}_county_set()")
    op.execute("DROP FUNCTION IF EXISTS gridmap_household_county(integer)")
    op.execute("DROP FUNCTION IF EXISTS gridmap_cell_county(integer)")

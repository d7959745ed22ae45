"""Reports and the case loop's tables partitioned by county, like visits, households and
children (issue 18).

``report``, ``report_event``, ``placement``, ``case_event``, ``assessment``, ``guardian``,
``support``, ``referral``, ``referral_event`` and ``task`` become list-partitioned on
``county_code``: ``<table>_c<code>`` per county and a DEFAULT partition ``<table>_other``
for rows written without it. Whose county a row belongs to:

* a report: the county of its village (where it was made, and so the county whose
  units answer it: its ``unit_id`` lies there). A report is about a place and stays
  with the county that received it, also when the child it names moves away;
* a report's or referral's history row: its report's / referral's county;
* a placement, case event, assessment, guardian, support or referral: its child's county
  (``gridmap_child_county``), and they move with the child;
* a task: its child's county, else its cell's.

The chains of foreign keys between these tables (report <- report_event, placement,
report.merged_into; guardian <- support; referral <- referral_event) are met the way 0018
met the references to a child: small unpartitioned **key registries** ``report_key``,
``guardian_key`` and ``referral_key`` (``id``, ``county_code``), kept by statement triggers
on the partitioned parents, and the foreign keys point there. Chosen over composite keys
to the same county's partition (``(county_code, report_id) -> report_c…(county_code, id)``)
because references do cross counties (a placement of a child of one county answers a
report made in another; a report may be merged into another county's), because a row
moving county would have to move every referencing row in the same statement, and
because it is the pattern household/child already use: one rule for the whole schema.

Keys (``PRIMARY KEY (id)``, a child's one active placement) and the tables' own foreign
keys are declared on each local partition (a parent with either cannot take a county
kept on another server as a foreign partition); ids come from the register-wide sequences.

A child moved to another county (its household moved, or it was given another household)
takes its placements, case history, assessments, guardians, supports, referrals (and
their histories) and tasks along: an AFTER UPDATE statement trigger on ``child``. The
append-only histories (``report_event``, ``case_event``, ``referral_event``) still refuse
UPDATE, DELETE and TRUNCATE on the parent and on every partition (a row trigger on the
parent, cloned to each partition, and a TRUNCATE trigger per partition), except the county
moves this migration's own triggers make (they set ``gridmap.county_move`` for the one
statement; moving a row is a DELETE from one partition and an INSERT into the other).

A report given another village, or a case record another child, gets that one's county
(BEFORE UPDATE row triggers ``*_county``; PostgreSQL moves the row, and a report's history
follows it).

``gridmap_county_partitions()`` now creates 13 partitions per new county (household,
child, visit and these ten). The downgrade turns the ten back into plain tables with the
same rows, keys, indexes and triggers.

Revision ID: 0020
Revises: 0019
"""

import re

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# In the order they are rebuilt (a referenced table's registry before its referrers).
TABLES = ("report", "report_event", "placement", "case_event", "assessment", "guardian",
          "support", "referral", "referral_event", "task")
REGISTERED = ("report", "guardian", "referral")
HISTORIES = ("report_event", "case_event", "referral_event")
CHILD_TABLES = ("placement", "case_event", "assessment", "guardian", "support", "referral",
                "task")

# A row's county, from its own columns (alias ``t``).
COUNTY = {
    "report": "gridmap_cell_county(t.village_id)",
    "report_event": "(SELECT k.county_code FROM report_key k WHERE k.id = t.report_id)",
    "referral_event": "(SELECT k.county_code FROM referral_key k WHERE k.id = t.referral_id)",
    "task": "COALESCE(NULLIF(gridmap_child_county(t.child_id), ''), "
            "gridmap_cell_county(t.cell_id))",
}
for _t in CHILD_TABLES:
    COUNTY.setdefault(_t, "gridmap_child_county(t.child_id)")

OUR_TRIGGERS = ("_keys_insert", "_keys_update", "_keys_delete", "_keys_truncate", "_route",
                "_append_only_row")

REGISTRIES = """
CREATE TABLE report_key (id integer PRIMARY KEY, county_code varchar(6) NOT NULL DEFAULT '');
CREATE TABLE guardian_key (id integer PRIMARY KEY, county_code varchar(6) NOT NULL DEFAULT '');
CREATE TABLE referral_key (id integer PRIMARY KEY, county_code varchar(6) NOT NULL DEFAULT '');
"""

# The histories refuse changes, but for a county move made by the triggers below.
APPEND_ONLY = """
CREATE OR REPLACE FUNCTION gridmap_report_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- A county move: an UPDATE on the parent, which moves each row by a DELETE from
    -- its partition and an INSERT into the other (the row triggers see both).
    IF current_setting('gridmap.county_move', true) = 'on'
       AND (TG_OP = 'UPDATE' OR TG_LEVEL = 'ROW') THEN
        IF TG_LEVEL = 'ROW' AND TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the report history is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE OR REPLACE FUNCTION gridmap_case_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- A county move: an UPDATE on the parent, which moves each row by a DELETE from
    -- its partition and an INSERT into the other (the row triggers see both).
    IF current_setting('gridmap.county_move', true) = 'on'
       AND (TG_OP = 'UPDATE' OR TG_LEVEL = 'ROW') THEN
        IF TG_LEVEL = 'ROW' AND TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the case history is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
"""

OLD_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION gridmap_report_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the report history is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE OR REPLACE FUNCTION gridmap_case_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the case history is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
"""

FUNCTIONS = """
-- Registries of report, guardian and referral ids (statement triggers on the parents).
CREATE FUNCTION gridmap_case_keys() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    reg text := TG_TABLE_NAME || '_key';
    hist text := CASE TG_TABLE_NAME WHEN 'report' THEN 'report_event'
                                    WHEN 'referral' THEN 'referral_event' END;
    was text := current_setting('gridmap.county_move', true);
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE format('INSERT INTO %I (id, county_code) SELECT id, county_code FROM changed',
                       reg);
    ELSIF TG_OP = 'DELETE' THEN
        EXECUTE format('DELETE FROM %I k USING changed o WHERE k.id = o.id', reg);
    ELSIF TG_OP = 'TRUNCATE' THEN
        EXECUTE format('DELETE FROM %I', reg);
    ELSIF EXISTS (SELECT FROM changed n JOIN changed_old o ON o.id = n.id
                   WHERE o.county_code <> n.county_code) THEN
        EXECUTE format('UPDATE %I k SET county_code = n.county_code FROM changed n '
                       'WHERE k.id = n.id AND k.county_code <> n.county_code', reg);
        -- A report or referral moved to another county takes its history along.
        IF hist IS NOT NULL THEN
            PERFORM set_config('gridmap.county_move', 'on', true);
            EXECUTE format(
                'UPDATE %I h SET county_code = n.county_code FROM changed n '
                'JOIN changed_old o ON o.id = n.id WHERE o.county_code <> n.county_code '
                'AND h.%I = n.id AND h.county_code <> n.county_code',
                hist, TG_TABLE_NAME || '_id');
            PERFORM set_config('gridmap.county_move', COALESCE(was, ''), true);
        END IF;
    END IF;
    RETURN NULL;
END $$;

-- A row given another village (a report) or child (the rest) gets that one's county (a
-- BEFORE UPDATE trigger may change the partition key: PostgreSQL then moves the row).
CREATE FUNCTION gridmap_case_county_set() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- (The parent's name as argument: on a partition TG_TABLE_NAME is the partition's.)
    IF TG_ARGV[0] = 'report' THEN
        NEW.county_code := COALESCE(NULLIF(gridmap_cell_county(NEW.village_id), ''),
                                    NEW.county_code);
    ELSIF TG_ARGV[0] = 'task' THEN
        NEW.county_code := COALESCE(NULLIF(gridmap_child_county(NEW.child_id), ''),
                                    NULLIF(gridmap_cell_county(NEW.cell_id), ''),
                                    NEW.county_code);
    ELSE
        NEW.county_code := COALESCE(NULLIF(gridmap_child_county(NEW.child_id), ''),
                                    NEW.county_code);
    END IF;
    RETURN NEW;
END $$;

-- A child moved to another county takes its case records along.
CREATE FUNCTION gridmap_child_case_move() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t text;
    was text := current_setting('gridmap.county_move', true);
BEGIN
    IF NOT EXISTS (SELECT FROM changed n JOIN changed_old o ON o.id = n.id
                    WHERE o.county_code <> n.county_code) THEN
        RETURN NULL;
    END IF;
    FOREACH t IN ARRAY ARRAY['placement', 'case_event', 'assessment', 'guardian', 'support',
                             'referral', 'task'] LOOP
        PERFORM set_config('gridmap.county_move', 'on', true);
        EXECUTE format(
            'UPDATE %I r SET county_code = n.county_code FROM changed n '
            'JOIN changed_old o ON o.id = n.id WHERE o.county_code <> n.county_code '
            'AND r.child_id = n.id AND r.county_code <> n.county_code', t);
        PERFORM set_config('gridmap.county_move', COALESCE(was, ''), true);
    END LOOP;
    RETURN NULL;
END $$;
"""

ROUTE = """
CREATE FUNCTION gridmap_{t}_route() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was text := current_setting('gridmap.county_move', true);
BEGIN
    PERFORM set_config('gridmap.county_move', 'on', true);
    UPDATE {t} t SET county_code = {county}
     WHERE t.county_code = '' AND t.id IN (SELECT id FROM changed WHERE county_code = '')
       AND {county} <> '';
    PERFORM set_config('gridmap.county_move', COALESCE(was, ''), true);
    RETURN NULL;
END $$;
CREATE TRIGGER {t}_route AFTER INSERT ON {t} REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_{t}_route();
"""

KEY_TRIGGERS = """
CREATE TRIGGER {t}_keys_insert AFTER INSERT ON {t} REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_case_keys();
CREATE TRIGGER {t}_keys_update AFTER UPDATE ON {t}
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_case_keys();
CREATE TRIGGER {t}_keys_delete AFTER DELETE ON {t} REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_case_keys();
CREATE TRIGGER {t}_keys_truncate AFTER TRUNCATE ON {t}
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_case_keys();
"""

# Row triggers on a parent are cloned to every partition (statement triggers are not):
# an UPDATE or DELETE naming a partition is refused as well; TRUNCATE of a partition by
# its own statement trigger (gridmap_partition_keys).
HISTORY_TRIGGER = """
CREATE TRIGGER {t}_append_only_row BEFORE UPDATE OR DELETE ON {t}
    FOR EACH ROW EXECUTE FUNCTION {fn}();
"""
HISTORY_FUNCTION = {"report_event": "gridmap_report_event_append_only",
                    "case_event": "gridmap_case_event_append_only",
                    "referral_event": "gridmap_case_event_append_only"}

# After report_place (which sets a report's village from its point): names sort so.
COUNTY_TRIGGER = """
CREATE TRIGGER {name} BEFORE UPDATE OF {cols} ON {t}
    FOR EACH ROW EXECUTE FUNCTION gridmap_case_county_set('{t}');
"""
COUNTY_TRIGGERS = {"report": ("report_place_county", "geom, cell_id, village_id"),
                   "task": ("task_county", "child_id, cell_id"),
                   **{t: (f"{t}_county", "child_id") for t in CHILD_TABLES if t != "task"}}

CHILD_TRIGGER = """
CREATE TRIGGER child_case_move AFTER UPDATE ON child
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_child_case_move();
"""

# 0018's keys of a partition (household, child, visit), then the tables of this migration.
PARTITION_KEYS_HEAD = r"""
CREATE OR REPLACE FUNCTION gridmap_partition_keys(part text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    parent text := (SELECT inhparent::regclass::text FROM pg_inherits
                     WHERE inhrelid = part::regclass);
BEGIN
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (id)', part);
    IF parent = 'visit' THEN
        EXECUTE format('CREATE UNIQUE INDEX %I ON %I (client_id)', part || '_client_id', part);
        EXECUTE format('ALTER TABLE %I ADD FOREIGN KEY (child_id) REFERENCES child_key(id), '
                       'ADD FOREIGN KEY (worker_id) REFERENCES worker(id), '
                       'ADD FOREIGN KEY (created_by) REFERENCES app_user(id) '
                       'ON DELETE SET NULL', part);
    ELSIF parent = 'household' THEN
        EXECUTE format('ALTER TABLE %I ADD FOREIGN KEY (cell_id) REFERENCES unit(id)', part);
    ELSIF parent = 'child' THEN
        EXECUTE format('ALTER TABLE %I ADD FOREIGN KEY (household_id) '
                       'REFERENCES household_key(id)', part);
"""

COUNTY_PARTITIONS = """
CREATE OR REPLACE FUNCTION gridmap_county_partitions() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    c record;
    t text;
    made integer := 0;
BEGIN
    FOREACH t IN ARRAY ARRAY['household', 'child', 'visit', {tables}] LOOP
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
"""

# 0018's versions, for the downgrade.
OLD_FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION gridmap_partition_keys(part text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (id)', part);
    IF part LIKE 'visit\_%' THEN
        EXECUTE format('CREATE UNIQUE INDEX %I ON %I (client_id)', part || '_client_id', part);
        EXECUTE format('ALTER TABLE %I ADD FOREIGN KEY (child_id) REFERENCES child_key(id), '
                       'ADD FOREIGN KEY (worker_id) REFERENCES worker(id), '
                       'ADD FOREIGN KEY (created_by) REFERENCES app_user(id) '
                       'ON DELETE SET NULL', part);
    ELSIF part LIKE 'household\_%' THEN
        EXECUTE format('ALTER TABLE %I ADD FOREIGN KEY (cell_id) REFERENCES unit(id)', part);
    ELSIF part LIKE 'child\_%' THEN
        EXECUTE format('ALTER TABLE %I ADD FOREIGN KEY (household_id) '
                       'REFERENCES household_key(id)', part);
    END IF;
END $$;
"""

REPOINT = (("REFERENCES report(id)", "REFERENCES report_key(id)"),
           ("REFERENCES guardian(id)", "REFERENCES guardian_key(id)"),
           ("REFERENCES referral(id)", "REFERENCES referral_key(id)"))


def _rows(sql: str) -> list:
    return list(op.get_bind().exec_driver_sql(sql).fetchall())


def _foreign_keys(where: str) -> list[tuple[str, str, str]]:
    return [(r[0], r[1], r[2]) for r in _rows(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
        f"FROM pg_constraint WHERE contype = 'f' AND conparentid = 0 AND {where} "
        "ORDER BY 1, 2")]


def _indexes(table: str, unique: bool) -> list[str]:
    return [r[0].replace(" ON ONLY ", " ON ") for r in _rows(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
        f"WHERE i.indrelid = '{table}'::regclass AND NOT i.indisprimary "
        f"AND i.indisunique = {unique} ORDER BY 1")]


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


def _repoint(definition: str) -> str:
    for old, new in REPOINT:
        definition = definition.replace(old, new)
    return definition


def _unpoint(definition: str) -> str:
    for old, new in REPOINT:
        definition = definition.replace(new, old)
    return definition


def _literal(sql: str) -> str:
    return "'" + sql.replace("'", "''") + "'"


def _partition_keys(own: dict[str, list[str]]) -> str:
    """gridmap_partition_keys with a branch per table of this migration."""
    body = [PARTITION_KEYS_HEAD]
    for t in TABLES:
        body.append(f"    ELSIF parent = '{t}' THEN\n")
        body.extend(f"        {line}\n" for line in own[t])
    body.append("    END IF;\nEND $$;\n")
    return "".join(body)


def _own_statements(t: str) -> list[str]:
    """PL/pgSQL lines giving a partition (``part``) of ``t`` the table's unique indexes
    (named after the partition) and foreign keys (re-pointed at the registries)."""
    out = []
    for definition in _indexes(t, True):
        m = re.match(r"CREATE UNIQUE INDEX (\S+) ON (?:ONLY )?(?:public\.)?\S+ (.*)$", definition)
        suffix = m.group(1).removeprefix(t + "_")
        out.append(f"EXECUTE format({_literal('CREATE UNIQUE INDEX %I ON %I ' + m.group(2))}, "
                   f"part || '_{suffix}', part);")
    for _table, _name, definition in _foreign_keys(f"conrelid = '{t}'::regclass"):
        out.append(f"EXECUTE format({_literal('ALTER TABLE %I ADD ' + _repoint(definition))}, "
                   "part);")
    if t in HISTORIES:
        out.append("EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION {HISTORY_FUNCTION[t]}()', part || '_append_only', part);")
    return out


def upgrade() -> None:
    outside = _foreign_keys(
        "confrelid IN (" + ", ".join(f"'{t}'::regclass" for t in TABLES) + ") "
        "AND conrelid NOT IN (" + ", ".join(f"'{t}'::regclass" for t in TABLES) + ")")
    if outside:
        raise RuntimeError(f"foreign keys into the case tables from elsewhere: {outside}")
    own = {t: _own_statements(t) for t in TABLES}
    indexes = {t: _indexes(t, False) for t in TABLES}
    triggers = {t: _triggers(t) for t in TABLES}
    for t in TABLES:
        for table, name, _ in _foreign_keys(f"conrelid = '{t}'::regclass"):
            op.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    op.execute(REGISTRIES)
    op.execute(APPEND_ONLY)
    op.execute(FUNCTIONS)
    op.execute(_partition_keys(own))
    op.execute(COUNTY_PARTITIONS.replace(
        "{tables}", ", ".join(f"'{t}'" for t in TABLES)))
    for t in TABLES:
        op.execute(f"ALTER TABLE {t} RENAME TO {t}_unpartitioned")
        op.execute(f"CREATE TABLE {t} (LIKE {t}_unpartitioned INCLUDING DEFAULTS "
                   "INCLUDING CONSTRAINTS, county_code varchar(6) NOT NULL DEFAULT '') "
                   "PARTITION BY LIST (county_code)")
        op.execute(f"CREATE TABLE {t}_other PARTITION OF {t} DEFAULT")
    # Keys before rows: the registries fill from the tables, histories read them.
    for t in TABLES:
        op.execute(f"INSERT INTO {t} SELECT t.*, {COUNTY[t]} FROM {t}_unpartitioned t")
        if t in REGISTERED:
            op.execute(f"INSERT INTO {t}_key (id, county_code) SELECT id, county_code FROM {t}")
    for t in TABLES:
        op.execute(f"ALTER SEQUENCE {t}_id_seq OWNED BY NONE")
    for t in reversed(TABLES):
        op.execute(f"DROP TABLE {t}_unpartitioned")
    for t in TABLES:
        op.execute(f"ALTER SEQUENCE {t}_id_seq OWNED BY {t}.id")
        op.execute(f"SELECT gridmap_partition_keys('{t}_other')")
    op.execute("SELECT gridmap_county_partitions()")
    for t in TABLES:
        for statement in indexes[t] + triggers[t]:
            op.execute(statement)
        if t in REGISTERED:
            op.execute(KEY_TRIGGERS.format(t=t))
        op.execute(ROUTE.format(t=t, county=COUNTY[t]))
        if t in HISTORIES:
            op.execute(HISTORY_TRIGGER.format(t=t, fn=HISTORY_FUNCTION[t]))
        if t in COUNTY_TRIGGERS:
            name, cols = COUNTY_TRIGGERS[t]
            op.execute(COUNTY_TRIGGER.format(t=t, name=name, cols=cols))
    op.execute(CHILD_TRIGGER)
    op.execute("ANALYZE " + ", ".join(TABLES + tuple(f"{t}_key" for t in REGISTERED)))


def downgrade() -> None:
    fks = {t: _foreign_keys(f"conrelid = '{t}_other'::regclass") for t in TABLES}
    uniques = {t: _indexes(f"{t}_other", True) for t in TABLES}
    indexes = {t: _indexes(t, False) for t in TABLES}
    triggers = {t: _triggers(t, tuple(t + s for s in OUR_TRIGGERS)
                             + ((COUNTY_TRIGGERS[t][0],) if t in COUNTY_TRIGGERS else ()))
                for t in TABLES}
    op.execute("DROP TRIGGER child_case_move ON child")
    for t in TABLES:
        op.execute(f"ALTER TABLE {t} RENAME TO {t}_partitioned")
        op.execute(f"CREATE TABLE {t} (LIKE {t}_partitioned INCLUDING DEFAULTS "
                   "INCLUDING CONSTRAINTS)")
        op.execute(f"ALTER TABLE {t} DROP COLUMN county_code")
        cols = ", ".join(_columns(t))
        op.execute(f"INSERT INTO {t} ({cols}) SELECT {cols} FROM {t}_partitioned")
        op.execute(f"ALTER SEQUENCE {t}_id_seq OWNED BY NONE")
    op.execute("DROP TABLE " + ", ".join(f"{t}_partitioned" for t in TABLES))
    op.execute("DROP TABLE report_key, guardian_key, referral_key")
    for t in TABLES:
        op.execute(f"ALTER TABLE {t} ADD CONSTRAINT {t}_pkey PRIMARY KEY (id)")
        op.execute(f"ALTER SEQUENCE {t}_id_seq OWNED BY {t}.id")
        for definition in uniques[t]:
            m = re.match(r"CREATE UNIQUE INDEX (\S+) ON (?:ONLY )?(?:public\.)?\S+ (.*)$",
                         definition)
            name = t + "_" + m.group(1).removeprefix(f"{t}_other_")
            op.execute(f"CREATE UNIQUE INDEX {name} ON {t} {m.group(2)}")
    for t in TABLES:
        for _table, _name, definition in fks[t]:
            op.execute(f"ALTER TABLE {t} ADD {_unpoint(definition)}")
        for statement in indexes[t] + triggers[t]:
            op.execute(statement)
    op.execute(OLD_FUNCTIONS)
    op.execute(COUNTY_PARTITIONS.replace(", {tables}", ""))
    op.execute(OLD_APPEND_ONLY)
    for t in TABLES:
        op.execute(f"DROP FUNCTION IF EXISTS gridmap_{t}_route()")
    op.execute("DROP FUNCTION gridmap_child_case_move()")
    op.execute("DROP FUNCTION IF EXISTS gridmap_case_county_set()")
    op.execute("DROP FUNCTION gridmap_case_keys()")

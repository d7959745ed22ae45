"""Every partitioned table of a database turned into one plain table, for comparing a
partitioned database with the same data unpartitioned (``bench/city.py``).

Generic: the partitioned tables are found in the catalog, not named here. Each becomes
a plain table of the same name with the same columns (defaults, checks, identity), the
data, the parent's indexes, the keys declared on the parent or on each partition (a
primary key, unique and foreign keys of the first partition: migration 0016 keeps
them there, since a foreign partition could not be attached otherwise), the foreign
keys of other tables that point at it, and the parent's triggers. Row triggers that
exist on one partition only (the default partition's routing) have no meaning on a
plain table and are left out. Runs on the caller's transaction (all of it is
transactional DDL).
"""

from __future__ import annotations

import re

_PARTITIONED = """
SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'p' AND NOT c.relispartition AND n.nspname = current_schema()
 ORDER BY c.relname
"""

_INDEX = re.compile(r"^(CREATE (?:UNIQUE )?INDEX )(\S+) ON (?:ONLY )?(\S+)( USING .*)$")


def _rows(conn, sql: str, *params) -> list[tuple]:
    return list(conn.exec_driver_sql(sql, params).fetchall()) if params else list(
        conn.exec_driver_sql(sql).fetchall())


def _flatten(conn, oid: int, name: str) -> None:
    new = f"{name}__flat"
    first = _rows(conn, "SELECT inhrelid, c.relname FROM pg_inherits i JOIN pg_class c "
                        "ON c.oid = i.inhrelid WHERE inhparent = %s AND c.relkind = 'r' "
                        "ORDER BY c.relname LIMIT 1", oid)
    sources = [oid] + [r[0] for r in first]
    used: set[str] = set()

    def rename(old: str) -> str:
        """A partition's key or index named after the table; the parent's as it was."""
        out = name + old[len(first[0][1]):] if first and old.startswith(first[0][1]) else old
        while out in used:
            out += "_1"
        used.add(out)
        return out
    # Keys: on the parent, and the partition's own (not copies of the parent's).
    keys = _rows(conn, "SELECT conname, pg_get_constraintdef(oid), contype FROM "
                       "pg_constraint WHERE conrelid = ANY(%s) AND conparentid = 0 AND "
                       "contype IN ('p', 'u', 'f', 'x') ORDER BY contype <> 'p', conname",
                 sources)
    # Indexes not behind a key: the parent's, and the partition's own.
    indexes = _rows(conn, "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                          "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = ANY(%s) "
                          "AND NOT EXISTS (SELECT 1 FROM pg_constraint k "
                          "WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid) "
                          "AND NOT EXISTS (SELECT 1 FROM pg_inherits h "
                          "WHERE h.inhrelid = i.indexrelid) ORDER BY c.relname", sources)
    incoming = _rows(conn, "SELECT conrelid::regclass::text, conname, "
                           "pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f' "
                           "AND confrelid = %s AND conparentid = 0 ORDER BY 1, 2", oid)
    triggers = _rows(conn, "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s "
                           "AND NOT tgisinternal AND tgparentid = 0 ORDER BY tgname", oid)
    owned = _rows(conn, "SELECT s.oid::regclass::text, a.attname FROM pg_depend d "
                        "JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
                        "JOIN pg_attribute a ON a.attrelid = d.refobjid "
                        "AND a.attnum = d.refobjsubid "
                        "WHERE d.refobjid = %s AND d.deptype = 'a'", oid)
    identity = _rows(conn, "SELECT attname FROM pg_attribute WHERE attrelid = %s "
                           "AND attidentity <> '' AND NOT attisdropped", oid)

    conn.exec_driver_sql(f'CREATE TABLE "{new}" (LIKE "{name}" INCLUDING DEFAULTS '
                         "INCLUDING CONSTRAINTS INCLUDING IDENTITY INCLUDING GENERATED "
                         "INCLUDING STORAGE)")
    conn.exec_driver_sql(f'INSERT INTO "{new}" OVERRIDING SYSTEM VALUE '
                         f'SELECT * FROM "{name}"')
    for rel, con, _ in incoming:
        conn.exec_driver_sql(f'ALTER TABLE {rel} DROP CONSTRAINT "{con}"')
    for seq, _ in owned:
        conn.exec_driver_sql(f"ALTER SEQUENCE {seq} OWNED BY NONE")
    conn.exec_driver_sql(f'DROP TABLE "{name}"')
    conn.exec_driver_sql(f'ALTER TABLE "{new}" RENAME TO "{name}"')
    for seq, column in owned:
        conn.exec_driver_sql(f'ALTER SEQUENCE {seq} OWNED BY "{name}"."{column}"')
    for column in (r[0] for r in identity):
        conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('\"{name}\"', '{column}'),"
                             f' coalesce(max("{column}"), 0) + 1, false) FROM "{name}"')
    seen = set()
    for con, definition, contype in keys:
        if contype == "p" and "p" in seen:
            continue
        if (contype, definition) in seen:  # the same key on parent and partition
            continue
        seen |= {contype, (contype, definition)}
        conn.exec_driver_sql(f'ALTER TABLE "{name}" ADD CONSTRAINT "{rename(con)}" '
                             f"{definition}")
    done = set()
    for index, definition in indexes:
        m = _INDEX.match(definition)
        if not m or m.group(1) + m.group(4) in done:
            continue
        done.add(m.group(1) + m.group(4))
        conn.exec_driver_sql(f'{m.group(1)}"{rename(index)}" ON "{name}"{m.group(4)}')
    for rel, con, definition in incoming:
        conn.exec_driver_sql(f'ALTER TABLE {rel} ADD CONSTRAINT "{con}" {definition}')
    for (definition,) in triggers:
        conn.exec_driver_sql(definition)


def unpartition(conn) -> list[str]:
    """Make every partitioned table of the current schema a plain table; returns their
    names. ``conn``: a SQLAlchemy connection in a transaction."""
    tables = _rows(conn, _PARTITIONED)
    for oid, name in tables:
        _flatten(conn, oid, name)
    for _, name in tables:
        conn.exec_driver_sql(f'ANALYZE "{name}"')
    return [name for _, name in tables]

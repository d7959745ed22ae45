"""What the city tests share (imported as ``citydemo``, the way pytest puts this folder
on the path)."""

import contextlib
import datetime as dt
import json

import sqlalchemy as sa

CITY = "510400"
COUNTIES = ("510402", "510403", "510411", "510421", "510422")
CITY_SCALE = 0.02
CITY_TODAY = dt.date(2026, 11, 24)
PASSWORD = "city-test-password-1"


def read_partitions(plan: str, table: str) -> set[str]:
    """The partitions of ``table`` a plan (EXPLAIN's JSON as text) reads."""
    return {c for c in [f"{table}_c{code}" for code in COUNTIES] + [f"{table}_other"]
            if f'"{c}"' in plan}


@contextlib.contextmanager
def plans_of(conn, wanted):
    """The plans (EXPLAIN's JSON as text) of the statements run on ``conn`` inside the
    block for which ``wanted(statement)`` is true, in a list filled as they run."""
    seen: list[str] = []

    @sa.event.listens_for(conn, "before_cursor_execute", retval=True)
    def explain(conn, cursor, statement, parameters, context, executemany):
        if wanted(statement) and not statement.startswith("EXPLAIN"):
            cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
            seen.append(json.dumps(cursor.fetchone()[0]))
        return statement, parameters

    try:
        yield seen
    finally:
        sa.event.remove(conn, "before_cursor_execute", explain)

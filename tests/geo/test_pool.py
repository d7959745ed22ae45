"""The connection pool pings only connections that sat idle (no round trip per request)
and replaces one the server dropped while it was idle."""

import sqlalchemy as sa

from geo.store.db import _ping_when_idle


def _engine(database, idle_s):
    engine = sa.create_engine(database, pool_size=1, max_overflow=0)
    _ping_when_idle(engine, idle_s)
    return engine


def test_a_connection_dropped_while_idle_is_replaced(database, engine):
    mine = _engine(database, 0)
    try:
        with mine.connect() as c:
            pid = c.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as other:
            assert other.execute(sa.text("SELECT pg_terminate_backend(:p)"),
                                 {"p": pid}).scalar_one()
        with mine.connect() as c:
            again = c.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        assert again != pid
    finally:
        mine.dispose()


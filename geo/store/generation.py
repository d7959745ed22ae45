"""The data generation: a number the database moves forward on every write to the
tables behind the map, routes and lists (migration 0011). Caches key on it, so a write
through any path and in any process makes them recompute.

A sequence is not transactional: a reader can see the new number before the write that
moved it commits, and keep older data under it. Caches therefore also expire after
``MAX_AGE_S``, which bounds how long such a rare race can show old data.

>>> generation(conn)            # doctest: +SKIP
1843
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

MAX_AGE_S = 60


def generation(conn: Connection) -> int:
    """The current data generation (one cheap read of the sequence)."""
    return int(conn.execute(sa.text("SELECT last_value FROM data_generation")).scalar_one())

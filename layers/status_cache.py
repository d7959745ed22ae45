"""Cell statuses for the map's status layer, computed once per scope and day and kept a
while, so the tiles of a view do not each recompute the visit rules. The key holds the
day, so statuses roll over at midnight; a visit or an import through the API clears the
cache; writes behind the API's back show after at most ``TTL_S`` seconds."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

from sqlalchemy.engine import Connection

from geo.scope import today
from geo.visits import cell_status

TTL_S = 600
_cache: dict[tuple, tuple[float, dict[int, dict]]] = {}
_lock = threading.Lock()


def statuses(conn: Connection, rules: dict, unit_code: str, tz: str,
             as_of: dt.date | None = None) -> dict[int, dict]:
    """cell id -> status row for every cell under ``unit_code`` (single-flight); ``as_of``
    defaults to today on the county's clock."""
    as_of = as_of or today(tz)
    key = (unit_code, as_of, tz, json.dumps(rules, sort_keys=True, default=str))
    with _lock:
        hit = _cache.get(key)
        if hit and time.monotonic() - hit[0] < TTL_S:
            return hit[1]
        rows = cell_status(conn, rules, as_of=as_of, unit=unit_code, tz=tz)
        value = {r["cell_id"]: r for r in rows}
        _cache[key] = (time.monotonic(), value)
        return value


_ANCESTOR = {"cell": "cell_id", "village": "village_id", "township": "township_id"}


def unit_summary(conn: Connection, rules: dict, scope_code: str, tz: str, unit_id: int,
                 level: str) -> dict:
    """Overdue children and never-visited / overdue cells under one unit (inside the
    user's scope ``scope_code``), summed from today's cached statuses."""
    rows = statuses(conn, rules, scope_code, tz).values()
    if level in _ANCESTOR:
        rows = [r for r in rows if r[_ANCESTOR[level]] == unit_id]
    return {"overdue_children": sum(r["overdue_children"] for r in rows),
            "cells_never_visited": sum(r["status"] == "never_visited" for r in rows),
            "cells_overdue": sum(r["status"] == "overdue" for r in rows)}


def clear() -> None:
    with _lock:
        _cache.clear()


def warm(engine, cfg: dict) -> None:
    """Compute today's statuses for every county (run in a thread when serving), so the
    first map view does not wait for them."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        for (code,) in conn.execute(sa.text("SELECT code FROM unit WHERE level = 'county'")):
            statuses(conn, cfg["rules"], code, cfg["timezone"])

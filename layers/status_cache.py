"""Cell statuses for the map's status layer, computed once per scope and day and kept a
while, so the tiles of a view do not each recompute the visit rules. The key holds the
day, so statuses roll over at midnight, and the database's data generation, which any
write to visits, children, households or units moves forward (geo/store/generation.py): no
caller has to clear it, and a write by another process shows too."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

from sqlalchemy.engine import Connection

from geo.scope import today
from geo.store.generation import MAX_AGE_S, generation
from geo.visits.due import cell_status

TTL_S = MAX_AGE_S
_cache: dict[tuple, tuple[float, dict[int, dict]]] = {}
_lock = threading.Lock()


def statuses(conn: Connection, rules: dict, unit_code: str, tz: str,
             as_of: dt.date | None = None) -> dict[int, dict]:
    """cell id -> status row for every cell under ``unit_code`` (single-flight); ``as_of``
    defaults to today on the county's clock."""
    as_of = as_of or today(tz)
    key = (unit_code, as_of, tz, json.dumps(rules, sort_keys=True, default=str),
           generation(conn))
    with _lock:
        hit = _cache.get(key)
        if hit and time.monotonic() - hit[0] < TTL_S:
            return hit[1]
        rows = cell_status(conn, rules, as_of=as_of, unit=unit_code, tz=tz)
        value = {r["cell_id"]: r for r in rows}
        # Old generations are never asked for again, nor anything past its age.
        now = time.monotonic()
        for old in [k for k, (at, _) in _cache.items()
                    if k[:4] == key[:4] or now - at >= TTL_S]:
            del _cache[old]
        _cache[key] = (now, value)
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
    """Keep the per-cell status figures for the configured rules (counting every cell
    again when they changed since the last start, geo.visits.due.keep_rules), then
    compute today's statuses for every county (run in a thread when serving), so the
    first map view does not wait for them."""
    import logging

    import sqlalchemy as sa

    from geo.visits.due import keep_rules

    try:
        with engine.begin() as conn:
            keep_rules(conn, cfg["rules"], cfg["timezone"])
    except Exception:  # noqa: BLE001 - cell status then counts child by child, still right
        logging.getLogger(__name__).exception("keeping the cell status figures failed")
    with engine.connect() as conn:
        for (code,) in conn.execute(sa.text("SELECT code FROM unit WHERE level = 'county'")):
            statuses(conn, cfg["rules"], code, cfg["timezone"])

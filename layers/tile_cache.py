"""Built vector tiles kept in memory, so repeat views of a map cost a lookup.

Key: the layer, the tile (z/x/y), the scope (the user's unit and whether the role sees
aggregates only: the only two things about a user a tile depends on, so one user's
scope is never served to another), the rules and time zone, the day for the status
layers, and the **change stamp** of the counties in the scope: the number and newest id
of their ``tile_change`` rows (migration 0017), which the database adds on every write to
the tables behind the map — a visit, a household moved, an import, through any path or
process. So a write clears exactly the tiles of its county (rows of county 0 count for
all), and since the rows are transactional, a tile is never cached under a stamp its data
is older than. Entries also expire after ``TTL_S`` and the cache holds at most
``tile_cache_mb`` (least recently used out first; 0 turns it off).

The reports layer is not cached: its colours follow the clock (time left to accept).

>>> cached(conn, cfg, ("cells", 12, 3200, 1700), 7, False, build)  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geo.scope import today

TTL_S = 300
UNCACHED = frozenset({"reports"})
# Layers whose features depend on the day (overdue; a guardian back on a date).
DAILY = frozenset({"cell_status", "village_status", "no_guardian"})
# tile_change rows of the counties in scope above which old ones are pruned.
PRUNE_ABOVE = 2000

_lock = threading.Lock()
_tiles: collections.OrderedDict[tuple, tuple[float, bytes]] = collections.OrderedDict()
_bytes = 0

_STAMP = sa.text("""
    SELECT count(*), coalesce(max(id), 0) FROM tile_change
     WHERE county_id = 0 OR county_id IN (
           SELECT coalesce(u.county_id, u.id) FROM unit u WHERE u.id = :scope_id
           UNION ALL
           SELECT c.id FROM unit c WHERE c.parent_id = :scope_id AND c.level = 'county')""")

# All rows but the newest of each county (rows another transaction is pruning skipped).
_PRUNE = sa.text("""
    DELETE FROM tile_change WHERE id IN (
        SELECT t.id FROM tile_change t
         WHERE t.id < (SELECT max(t2.id) FROM tile_change t2 WHERE t2.county_id = t.county_id)
           FOR UPDATE SKIP LOCKED)""")


def stamp(conn: Connection, scope_id: int) -> tuple[int, int]:
    """The change stamp of the counties under (or above) ``scope_id``."""
    count, newest = conn.execute(_STAMP, {"scope_id": scope_id}).one()
    if count > PRUNE_ABOVE:
        conn.execute(_PRUNE)
        count, newest = conn.execute(_STAMP, {"scope_id": scope_id}).one()
    return int(count), int(newest)


# The rules of the counties with rules of their own (rules.counties) that lie in (or
# hold) the scope: a county's own rules change the key of its own tiles and its city's.
_OWN_IN_SCOPE = sa.text("""
    SELECT co.code FROM unit u JOIN unit co ON co.level = 'county'
       AND (co.id = COALESCE(u.county_id, u.id) OR co.city_id = u.id)
     WHERE u.id = :scope_id AND co.code = ANY(:codes) ORDER BY co.code""")


def rules_key(conn: Connection, rules: dict, scope_id: int) -> str:
    """The rules a tile of ``scope_id`` may depend on, as text: the shared rules and the
    own rules of the counties in the scope only (one query, only when some county has
    rules of its own)."""
    counties = rules.get("counties") or {}
    shared = {k: v for k, v in rules.items() if k != "counties"}
    if counties:
        codes = conn.execute(_OWN_IN_SCOPE, {"scope_id": scope_id,
                                             "codes": [str(c) for c in counties]}).scalars()
        if mine := {c: counties[c] for c in codes}:
            shared["counties"] = mine
    return json.dumps(shared, sort_keys=True, default=str)


def limit_bytes(cfg: dict) -> int:
    return int(float(cfg.get("tile_cache_mb", 64) or 0) * 1024 * 1024)


def cached(conn: Connection, cfg: dict, tile: tuple[str, int, int, int], scope_id: int,
           aggregates_only: bool, build: Callable[[], bytes]) -> bytes:
    """The tile ``(layer, z, x, y)`` for the scope, from the cache or from ``build()``;
    a layer in ``DAILY`` is kept per day in the county's time zone."""
    limit = limit_bytes(cfg)
    if limit <= 0 or tile[0] in UNCACHED:
        return build()
    key = (*tile, scope_id, aggregates_only, cfg.get("timezone"),
           rules_key(conn, cfg["rules"], scope_id),
           today(cfg.get("timezone") or "Asia/Shanghai") if tile[0] in DAILY else None,
           stamp(conn, scope_id))
    now = time.monotonic()
    with _lock:
        hit = _tiles.get(key)
        if hit is not None and now - hit[0] < TTL_S:
            _tiles.move_to_end(key)
            return hit[1]
    data = build()
    _put(key, now, data, limit)
    return data


def _put(key: tuple, now: float, data: bytes, limit: int) -> None:
    global _bytes
    if len(data) > limit // 8:
        return
    with _lock:
        old = _tiles.pop(key, None)
        if old is not None:
            _bytes -= len(old[1])
        _tiles[key] = (now, data)
        _bytes += len(data)
        while _bytes > limit and _tiles:
            _, (_, gone) = _tiles.popitem(last=False)
            _bytes -= len(gone)


def clear() -> None:
    global _bytes
    with _lock:
        _tiles.clear()
        _bytes = 0


def size() -> tuple[int, int]:
    """Tiles held and their bytes."""
    with _lock:
        return len(_tiles), _bytes

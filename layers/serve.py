"""A tile for a user: the role's right to the layer, the area scope, the statuses a
status layer needs (from the status cache, rolled up per village by geo.visits.due), the
planner's suppression, and whether the request is audited — everything the tile
endpoint needs, so the handler only parses and answers.

>>> data, audited = tile_for_user(conn, cfg, "cell_status", 12, 3200, 1700, user)  # doctest: +SKIP
"""

from __future__ import annotations

import json

from sqlalchemy.engine import Connection

from geo import access, suppression
from geo.errors import Forbidden
from geo.local_rules import by_county
from geo.visits.due import status_rollup
from layers import status_cache, tile_cache
from layers.tiles import cells_in_tile, layer_for, tile


def tile_for_user(conn: Connection, cfg: dict, name: str, z: int, x: int, y: int,
                  user) -> tuple[bytes, bool]:
    """The tile's bytes as ``user`` may see it, and whether the read must be audited.
    :class:`Forbidden` when the role may not see the layer."""
    layer = layer_for(name, user.role)
    if user.role not in layer.roles:
        raise Forbidden(f"the {user.role} role may not see the {name} layer", field="layer")
    rules = cfg["rules"]
    planner = access.aggregates_only(user.role)

    def build() -> bytes:
        statuses = "[]"
        if layer.statuses and layer.min_zoom <= z <= layer.max_zoom:
            statuses = _statuses(conn, cfg, layer.statuses, z, x, y, user, planner)
        return tile(conn, layer, z, x, y, user.unit_id, statuses,
                    json.dumps(rules["service_reach_m"]),
                    suppress_below=int(rules["suppress_below"]) if planner else 0,
                    tz=cfg.get("timezone") or "Asia/Shanghai",
                    reach_by_county=by_county(conn, rules, "service_reach_m")
                    if layer.name == "reach" else "{}")

    data = tile_cache.cached(conn, cfg, (layer.name, z, x, y), user.unit_id, planner, build)
    return data, layer.audited


def _statuses(conn: Connection, cfg: dict, level: str, z: int, x: int, y: int, user,
              planner: bool) -> str:
    """Visit status of the cells (or, summed, the villages) in the tile, as JSON for the
    tile query; planners get the complementary suppression pattern of their area."""
    ids = set(cells_in_tile(conn, z, x, y, user.unit_id, level))
    if not ids:
        return "[]"
    every = status_cache.statuses(conn, cfg["rules"], user.unit_code, cfg["timezone"])
    if level == "cell":
        keep = ("cell_id", "status", "children", "overdue_children", "days_since_visit")
        rows = [{k: every[i][k] for k in keep} for i in ids if i in every]
    else:
        cells = [r for r in every.values() if r["village_id"] in ids]
        rows = [{"village_id": v["unit_id"], "cells": v["cells"],
                 "not_up_to_date": v["overdue"] + v["never_visited"],
                 "children": v["children"], "overdue_children": v["overdue_children"]}
                for v in status_rollup(conn, cells, "village")]
    if planner:
        hidden = suppression.status_pattern(conn, cfg["rules"], user.unit_code, None,
                                            cfg["timezone"], int(cfg["rules"]["suppress_below"]),
                                            cells=list(every.values()))
        key = "cell_id" if level == "cell" else "village_id"
        rows = [suppression.blank(r, level, r[key], suppression.STATUS_FIELDS, hidden)
                for r in rows]
    return json.dumps(rows)

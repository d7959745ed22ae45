"""``GET /tiles/<layer>/<z>/<x>/<y>.pbf``: Mapbox vector tiles made by PostGIS, with the
same access rules as the JSON endpoints (area scope; planners get no household points)."""

from __future__ import annotations

from apiflask import APIBlueprint, abort
from flask import Response

from api.auth import client_ip, current_user, login_required
from api.db import conn
from geo import audit
from layers.tiles import ALL, cells_in_tile, layer_for, tile

bp = APIBlueprint("tiles", __name__, tag="tiles")
# Tiles with people's points: every request is in the audit log (tile and unit).
PERSON_TILES = {"households", "reports"}


@bp.get("/tiles/<layer>/<int:z>/<int:x>/<int:y>.pbf")
@login_required(*sorted(ALL))
@bp.doc(summary="A vector tile of a layer", security="BearerAuth",
        responses={200: {"description": "Mapbox vector tile",
                         "content": {"application/vnd.mapbox-vector-tile": {}}}})
def get_tile(layer, z, x, y):
    definition = layer_for(layer, current_user().role)
    if current_user().role not in definition.roles:
        abort(403, f"the {current_user().role} role may not see the {layer} layer")
    statuses = "[]"
    if definition.name in ("cell_status", "village_status") and \
            definition.min_zoom <= z <= definition.max_zoom:
        statuses = _statuses(z, x, y, definition.name)
    import json

    from flask import current_app

    reach = json.dumps(current_app.config["GRIDMAP"]["rules"]["service_reach_m"])
    user = current_user()
    threshold = int(current_app.config["GRIDMAP"]["rules"]["suppress_below"]) \
        if user.role == "planner" else 0
    data = tile(conn(), definition, z, x, y, user.unit_id, statuses, reach,
                suppress_below=threshold,
                tz=current_app.config["GRIDMAP"].get("timezone") or "Asia/Shanghai")
    if definition.name in PERSON_TILES:
        audit.record(conn(), user, "read", f"tile_{definition.name}", f"{z}/{x}/{y}",
                     ip=client_ip(), detail={"z": z, "x": x, "y": y,
                                             "unit": user.unit_code, "bytes": len(data)})
    return Response(data, mimetype="application/vnd.mapbox-vector-tile",
                    headers={"Cache-Control": "private, max-age=60"})


def _statuses(z: int, x: int, y: int, layer: str) -> str:
    """Visit status of the cells (or, summed, the villages) in the tile, as JSON for the
    tile query; planners get counts under the suppression threshold as null."""
    import json

    from flask import current_app

    from geo import suppression
    from layers import status_cache

    cfg = current_app.config["GRIDMAP"]
    level = "cell" if layer == "cell_status" else "village"
    ids = set(cells_in_tile(conn(), z, x, y, current_user().unit_id, level))
    if not ids:
        return "[]"
    every = status_cache.statuses(conn(), cfg["rules"], current_user().unit_code,
                                  cfg["timezone"])
    if level == "cell":
        keep = ("cell_id", "status", "children", "overdue_children", "days_since_visit")
        rows = [{k: every[i][k] for k in keep} for i in ids if i in every]
    else:
        sums: dict[int, dict] = {}
        for r in every.values():
            if r["village_id"] not in ids:
                continue
            v = sums.setdefault(r["village_id"], {"village_id": r["village_id"], "cells": 0,
                                                  "not_up_to_date": 0, "children": 0,
                                                  "overdue_children": 0})
            v["cells"] += 1
            v["not_up_to_date"] += r["status"] in ("overdue", "never_visited")
            v["children"] += r["children"]
            v["overdue_children"] += r["overdue_children"]
        rows = list(sums.values())
    if current_user().role == "planner":
        hidden = suppression.status_pattern(conn(), cfg["rules"], current_user().unit_code,
                                            None, cfg["timezone"],
                                            int(cfg["rules"]["suppress_below"]),
                                            cells=list(every.values()))
        key = "cell_id" if level == "cell" else "village_id"
        rows = [suppression.blank(r, level, r[key], suppression.STATUS_FIELDS, hidden)
                for r in rows]
    return json.dumps(rows)

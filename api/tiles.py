"""``GET /tiles/<layer>/<z>/<x>/<y>.pbf``: Mapbox vector tiles made by PostGIS, with the
same access rules as the JSON endpoints (area scope; planners get no household points)."""

from __future__ import annotations

from apiflask import APIBlueprint, abort
from flask import Response

from api.auth import current_user, login_required
from api.db import conn
from layers.tiles import ALL, cells_in_tile, layer_for, tile

bp = APIBlueprint("tiles", __name__, tag="tiles")


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
    if definition.name == "cell_status" and z >= definition.min_zoom:
        statuses = _statuses(z, x, y)
    import json

    from flask import current_app

    reach = json.dumps(current_app.config["GRIDMAP"]["rules"]["service_reach_m"])
    data = tile(conn(), definition, z, x, y, current_user().unit_id, statuses, reach)
    return Response(data, mimetype="application/vnd.mapbox-vector-tile",
                    headers={"Cache-Control": "private, max-age=60"})


def _statuses(z: int, x: int, y: int) -> str:
    """Visit status of the cells in the tile, as JSON for the tile query; planners get
    counts under the suppression threshold as null."""
    import datetime as dt
    import json

    from flask import current_app

    from api.queries import suppress
    from layers import status_cache

    cfg = current_app.config["GRIDMAP"]
    ids = cells_in_tile(conn(), z, x, y, current_user().unit_id)
    if not ids:
        return "[]"
    every = status_cache.statuses(conn(), cfg["rules"], current_user().unit_code,
                                  cfg["timezone"], dt.date.today())
    rows = [every[i] for i in ids if i in every]
    keep = ("cell_id", "status", "children", "overdue_children", "days_since_visit")
    rows = [{k: r[k] for k in keep} for r in rows]
    if current_user().role == "planner":
        rows = suppress(rows, int(cfg["rules"]["suppress_below"]))
    return json.dumps(rows)

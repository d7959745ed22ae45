"""``GET /tiles/<layer>/<z>/<x>/<y>.pbf``: Mapbox vector tiles made by PostGIS, with the
same access rules as the JSON endpoints (area scope; planners get no household points)."""

from __future__ import annotations

from apiflask import APIBlueprint, abort
from flask import Response

from api.auth import current_user, login_required
from api.db import conn
from layers.tiles import ALL, layer_for, tile

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
    data = tile(conn(), definition, z, x, y, current_user().unit_id)
    return Response(data, mimetype="application/vnd.mapbox-vector-tile",
                    headers={"Cache-Control": "private, max-age=60"})

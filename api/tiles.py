"""``GET /tiles/<layer>/<z>/<x>/<y>.pbf``: Mapbox vector tiles made by PostGIS, with the
same access rules as the JSON endpoints (layers/serve.py decides what the user gets)."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import Response

from api.auth import client_ip, current_user, login_required
from api.db import conn
from api.request import config
from geo import access, audit
from layers.serve import tile_for_user

bp = APIBlueprint("tiles", __name__, tag="tiles")


@bp.get("/tiles/<layer>/<int:z>/<int:x>/<int:y>.pbf")
@login_required(*access.roles(access.EVERYONE))
@bp.doc(summary="A vector tile of a layer", security="BearerAuth",
        responses={200: {"description": "Mapbox vector tile",
                         "content": {"application/vnd.mapbox-vector-tile": {}}}})
def get_tile(layer, z, x, y):
    user = current_user()
    data, audited = tile_for_user(conn(), config(), layer, z, x, y, user)
    if audited:
        audit.record(conn(), user, "read", f"tile_{layer}", f"{z}/{x}/{y}",
                     ip=client_ip(), detail={"z": z, "x": x, "y": y,
                                             "unit": user.unit_code, "bytes": len(data)})
    return Response(data, mimetype="application/vnd.mapbox-vector-tile",
                    headers={"Cache-Control": "private, max-age=60"})

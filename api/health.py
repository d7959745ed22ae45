"""Health: ``GET /api/health`` (JSON, no auth) and the start page ``/`` (the public
status page; signed in, the role's home page)."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema, fields
from flask import current_app, render_template
from sqlalchemy.exc import SQLAlchemyError

from api.db import engine_for
from geo.store.health import database_health

bp = APIBlueprint("health", __name__, tag="health")


class HealthOut(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})
    database = fields.String()
    postgresql = fields.String()
    postgis = fields.String()
    schema_revision = fields.String(allow_none=True)
    county = fields.Dict(allow_none=True)
    counts = fields.Dict()


def _status() -> tuple[dict, int]:
    try:
        return {"status": "ok", **database_health(engine_for(current_app))}, 200
    except SQLAlchemyError as exc:
        current_app.logger.warning("health check failed: %s", exc)
        return {"status": "unavailable", "database": "unreachable"}, 503


@bp.get("/api/health")
@bp.output(HealthOut)
@bp.doc(summary="Service and database health (no login)", responses={503: "database down"})
def api_health():
    body, status = _status()
    return body, status


@bp.get("/")
@bp.doc(hide=True)
def index():
    """Signed in: the role's home page (api/lists.py); signed out: the status page."""
    from api.auth import current_user

    user = current_user()
    if user is not None:
        from api.lists import home

        return home(user)
    body, status = _status()
    return render_template("index.html", health=body), status

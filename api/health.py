"""Health: ``GET /api/health`` (JSON, no auth) and the start page ``/``."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template
from sqlalchemy.exc import SQLAlchemyError

from geo.health import database_health

bp = Blueprint("health", __name__)


def _status() -> tuple[dict, int]:
    from api.app import engine_for

    try:
        return {"status": "ok", **database_health(engine_for(current_app))}, 200
    except SQLAlchemyError as exc:
        current_app.logger.warning("health check failed: %s", exc)
        return {"status": "unavailable", "database": "unreachable"}, 503


@bp.get("/api/health")
def api_health():
    body, status = _status()
    return jsonify(body), status


@bp.get("/")
def index():
    body, status = _status()
    return render_template("index.html", health=body), status

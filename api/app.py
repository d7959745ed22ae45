"""The Flask application factory. Nothing happens at import time: ``create_app()``
builds an app from the configuration; the database is opened lazily per request.

APIFlask (a Flask subclass) validates request input against marshmallow schemas and
generates ``/api/openapi.json`` from the same schemas the endpoints use, so the document
cannot drift from the code.

>>> app = create_app({"database_url": "postgresql://localhost/gridmap"})   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from apiflask import APIFlask

from api import (
    admin,
    auth,
    case_pages,
    cases,
    children,
    comparison_pages,
    db,
    errors,
    facilities,
    handover,
    health,
    import_pages,
    ledgers,
    lists,
    observability,
    pages,
    queries,
    record_pages,
    records,
    referrals,
    report_pages,
    reports,
    security,
    textcheck,
    tiles,
    trends,
)
from api.db import csrf
from geo.config import load_config
from geo.office.secrets import ensure_secrets
from geo.store.db import database_url


def create_app(overrides: dict[str, Any] | None = None) -> APIFlask:
    cfg = ensure_secrets(load_config(overrides))
    app = APIFlask(__name__, title="gridmap API", version="1", spec_path="/api/openapi.json",
                   docs_path=None)
    app.config.update(
        SECRET_KEY=cfg["secret_key"],
        GRIDMAP=cfg,
        DATABASE_URL=database_url(cfg),
        VALIDATION_ERROR_STATUS_CODE=400,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # CSRF is checked for cookie sessions only; bearer-token clients are exempt.
        WTF_CSRF_CHECK_DEFAULT=False,
        SPEC_FORMAT="json",
        MAX_CONTENT_LENGTH=25 * 1024 * 1024,
        AUTO_404_RESPONSE=True,
        INFO={"description": "困境未成年人网格化管理地图 API: area-scoped, audited."},
        SECURITY_SCHEMES={"BearerAuth": {"type": "http", "scheme": "bearer"}},
    )
    app.json.ensure_ascii = False
    app.spec_processor(_document_errors)
    observability.init_app(app)   # request ids, request log, /metrics
    csrf.init_app(app)
    security.init_app(app, cfg)
    auth.init_app(app)
    db.init_app(app)
    errors.register(app)
    app.before_request(textcheck.refuse_unstorable_text)
    app.before_request(auth.csrf_for_cookie_sessions)
    app.register_blueprint(health.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(children.bp)
    app.register_blueprint(facilities.bp)
    app.register_blueprint(queries.bp)
    app.register_blueprint(records.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(tiles.bp)
    app.register_blueprint(ledgers.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(record_pages.bp)
    app.register_blueprint(import_pages.bp)
    app.register_blueprint(comparison_pages.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(report_pages.bp)
    app.register_blueprint(lists.bp)
    app.register_blueprint(cases.bp)
    app.register_blueprint(referrals.bp)
    app.register_blueprint(case_pages.bp)
    app.register_blueprint(trends.bp)
    app.register_blueprint(handover.bp)
    return app


ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "field": {"type": "string"}}}},
}
ERRORS = {"400": "invalid input (the field is named)", "401": "not logged in",
          "403": "the role may not use this endpoint", "404": "not found in your area",
          "409": "conflict (for example facility_full)"}


def _document_errors(spec: dict) -> dict:
    """Every operation may answer the JSON error shape with these statuses."""
    spec.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path in spec.get("paths", {}).values():
        for op in path.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            for status, text in ERRORS.items():
                op["responses"][status] = {
                    "description": text,
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"}}}}
    return spec

"""The Flask application factory. Nothing happens at import time: ``create_app()``
builds an app from the configuration; the database is opened lazily per request.

>>> app = create_app({"database_url": "postgresql://localhost/gridmap"})   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from api import errors, health
from geo.config import load_config
from geo.db import database_url, get_engine
from geo.secrets import ensure_secrets


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    cfg = ensure_secrets(load_config(overrides))
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=cfg["secret_key"],
        JSON_AS_ASCII=False,
        GRIDMAP=cfg,
        DATABASE_URL=database_url(cfg),
    )
    app.json.ensure_ascii = False
    errors.register(app)
    app.register_blueprint(health.bp)
    return app


def engine_for(app: Flask):
    """The app's engine (one per process and URL, created on first use)."""
    return get_engine(app.config["DATABASE_URL"])

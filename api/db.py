"""One database connection and transaction per request: committed when the request
succeeds, rolled back by the error handlers, so a failed request writes nothing (its
audit rows included, since nothing was disclosed)."""

from __future__ import annotations

from flask import Flask, current_app, g
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.engine import Connection

from geo.store.db import get_engine

# CSRF protection for cookie sessions (bearer-token clients are exempt); the app factory
# binds it with ``csrf.init_app(app)``.
csrf = CSRFProtect()


def engine_for(app):
    """The app's engine (one per process and URL, created on first use)."""
    return get_engine(app.config["DATABASE_URL"])


def conn() -> Connection:
    if "db" not in g:
        g.db = engine_for(current_app).connect()
        g.db_tx = g.db.begin()
    return g.db


def rollback() -> None:
    tx = g.pop("db_tx", None)
    if tx is not None and tx.is_active:
        tx.rollback()


def init_app(app: Flask) -> None:
    @app.teardown_request
    def _finish(exc):
        tx = g.pop("db_tx", None)
        db = g.pop("db", None)
        try:
            if tx is not None and tx.is_active:
                if exc is None:
                    tx.commit()
                else:
                    tx.rollback()
        finally:
            if db is not None:
                db.close()

"""One database connection per request, and everything a request writes in one
transaction: committed when the request succeeds, rolled back by the error handlers, so a
failed request writes nothing (its audit rows included, since nothing was disclosed).

With ``read_pool = true`` (GRIDMAP_READ_POOL=1; off by default), a request that cannot
change anything by its method (GET, HEAD, OPTIONS) takes its connection from the read
engine (``geo.store.db.get_read_engine``): its reads run in autocommit, without the
``BEGIN`` and ``COMMIT`` round trips around them (a fifth of an API read's samples,
bench/api_load.py --profile). Its first statement that writes (an audit
row of a child's record read, a cached tile) opens the transaction, which from then on
holds everything the request writes and ends with the request exactly as above. Every
other request (POST, PATCH, DELETE, ...) runs in one transaction from its first
statement."""

from __future__ import annotations

from flask import Flask, current_app, g, request
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.engine import Connection

from geo.store.db import end_transaction, get_engine, get_read_engine

# CSRF protection for cookie sessions (bearer-token clients are exempt); the app factory
# binds it with ``csrf.init_app(app)``.
csrf = CSRFProtect()

# Methods that cannot change anything (RFC 9110's safe methods): served from the read
# engine.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def engine_for(app):
    """The app's engine (one per process and URL, created on first use)."""
    return get_engine(app.config["DATABASE_URL"])


def read_engine_for(app):
    """The app's engine for safe requests (autocommit reads, a transaction from the first
    write on)."""
    return get_read_engine(app.config["DATABASE_URL"])


def conn() -> Connection:
    if "db" not in g:
        if request.method in SAFE_METHODS and current_app.config["GRIDMAP"].get("read_pool"):
            g.db = read_engine_for(current_app).connect()
            g.db_reads = True
        else:
            g.db = engine_for(current_app).connect()
            g.db_tx = g.db.begin()
    return g.db


def rollback() -> None:
    tx = g.pop("db_tx", None)
    if tx is not None and tx.is_active:
        tx.rollback()
    if g.get("db_reads") and "db" in g:
        end_transaction(g.db, commit=False)


def init_app(app: Flask) -> None:
    @app.teardown_request
    def _finish(exc):
        tx = g.pop("db_tx", None)
        reads = g.pop("db_reads", False)
        db = g.pop("db", None)
        try:
            if tx is not None and tx.is_active:
                if exc is None:
                    tx.commit()
                else:
                    tx.rollback()
            elif reads and db is not None and not db.closed:
                end_transaction(db, commit=exc is None)
        finally:
            if db is not None:
                db.close()

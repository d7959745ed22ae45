"""Request logs and Prometheus metrics, hooked into ``create_app`` with one line.

**Logs.** One JSON line per request on the ``gridmap.request`` logger::

    {"time": "2026-11-25T21:40:02.118Z", "level": "info", "logger": "gridmap.request",
     "event": "request", "request_id": "9f1c…", "user_id": 12, "role": "grid_head",
     "method": "GET", "endpoint": "/api/children/<int:child_id>", "status": 200,
     "duration_ms": 14.2}

and, for a 500, one ``gridmap.error`` line with the same request id and the traceback.
Only the URL rule (the path template) is logged, never the path, the query string, a
body or a name: a child's name, identity number or address cannot reach the log. The
request id is answered in an ``X-Request-Id`` header and in a 500's ``error.request_id``
so a user can quote it.

The standard library's ``logging`` does this (a JSON formatter, ``RotatingFileHandler``):
Flask, waitress and the geo modules already log through it, so one handler catches them
all, and no dependency is added for what structlog would give. Lines go to stderr, or
to ``log_file`` (rotated at ``log_max_bytes``, ``log_backups`` kept) when configured.

**Metrics.** ``GET /metrics`` in the Prometheus text format (``prometheus-client``):
requests and latency per endpoint, method and status, the database pool, import jobs,
escalation passes and backups (``geo.store.metrics``), and the process's memory and CPU. Admins
(bearer token or page session) may read it, and anyone on loopback when
``metrics_from_loopback`` is true (set it false behind a reverse proxy on the same host
that does not pass the client's address).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import re
import sys
import time
import traceback
import uuid
from pathlib import Path

from apiflask import APIBlueprint, abort
from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from geo import access
from geo.store.metrics import IMPORT_JOBS

LOGGERS = ("gridmap", "geo", "api")
ACCESS = logging.getLogger("gridmap.request")
ERRORS = logging.getLogger("gridmap.error")
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
LOOPBACK = {"127.0.0.1", "::1"}
HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

REQUESTS = Counter("gridmap_http_requests_total", "HTTP requests answered",
                   ["method", "endpoint", "status"])
LATENCY = Histogram("gridmap_http_request_duration_seconds", "Time to answer a request",
                    ["method", "endpoint", "status"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
IN_FLIGHT = Gauge("gridmap_http_requests_in_flight", "Requests being answered now")
POOL = Gauge("gridmap_db_pool_connections", "Database pool connections by state", ["state"])

bp = APIBlueprint("ops", __name__, tag="ops")


# -- logging ---------------------------------------------------------------------------
class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, then the record's fields
    (``extra={"fields": {...}}``) or its message, and a traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = dt.datetime.fromtimestamp(record.created, dt.UTC)
        data = {"time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "level": record.levelname.lower(), "logger": record.name}
        fields = getattr(record, "fields", None)
        if fields:
            data.update(fields)
        else:
            data["message"] = record.getMessage()
        if record.exc_info and "traceback" not in data:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure_logging(cfg: dict) -> logging.Handler:
    """Send the ``gridmap``, ``geo`` and ``api`` loggers to stderr, or to the rotating
    ``log_file``; calling it again replaces the handler it installed before."""
    path = cfg.get("log_file")
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=int(cfg.get("log_max_bytes") or 10 * 1024 * 1024),
            backupCount=int(cfg.get("log_backups") or 5), encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._gridmap = True  # type: ignore[attr-defined]
    level = logging.getLevelName(str(cfg.get("log_level") or "INFO").upper())
    for name in LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if getattr(h, "_gridmap", False)]:
            logger.removeHandler(old)
            old.close()
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    return handler


def request_id() -> str:
    """This request's id: the caller's ``X-Request-Id`` when it looks like one (a proxy
    may set it), else a new random one."""
    rid = g.get("request_id")
    if rid is None:
        incoming = request.headers.get("X-Request-Id", "")
        rid = incoming if _INCOMING_ID.match(incoming) else uuid.uuid4().hex
        g.request_id = rid
    return rid


def _who() -> dict:
    """User id and role only, and only when the request already looked the user up."""
    user = g.get("user")
    return {"user_id": getattr(user, "id", None), "role": getattr(user, "role", None)}


def _endpoint() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else "<unmatched>"


def log_error(exc: BaseException) -> str:
    """Log an unhandled error with its traceback and the request id; returns the id."""
    rid = request_id()
    ERRORS.error("unhandled error", extra={"fields": {
        "event": "error", "request_id": rid, **_who(), "method": request.method,
        "endpoint": _endpoint(), "error": type(exc).__name__,
        "traceback": "".join(traceback.format_exception(exc)),
    }})
    return rid


def _start() -> None:
    g.request_started = time.perf_counter()
    request_id()
    IN_FLIGHT.inc()
    g.request_counted = True


def _finish(response: Response) -> Response:
    rid = request_id()
    started = g.get("request_started")
    seconds = time.perf_counter() - started if started is not None else 0.0
    if g.pop("request_counted", False):
        IN_FLIGHT.dec()
    endpoint = _endpoint()
    status = response.status_code
    response.headers["X-Request-Id"] = rid
    # Labels only from bounded sets (a made-up method is "other"): every new label set
    # is kept for the life of the process.
    method = request.method if request.method in HTTP_METHODS else "other"
    REQUESTS.labels(method, endpoint, str(status)).inc()
    LATENCY.labels(method, endpoint, str(status)).observe(seconds)
    if request.endpoint == "ledgers.import_file":
        IMPORT_JOBS.labels("ok" if status < 400 else "refused" if status < 500
                           else "error").inc()
    ACCESS.info("request", extra={"fields": {
        "event": "request", "request_id": rid, **_who(), "method": request.method,
        "endpoint": endpoint, "status": status, "duration_ms": round(seconds * 1000, 1),
    }})
    return response


# -- metrics ---------------------------------------------------------------------------
@bp.get("/metrics")
@bp.doc(hide=True)
def metrics():
    from api.auth import current_user
    from api.db import engine_for, read_engine_for

    cfg = current_app.config["GRIDMAP"]
    loopback = cfg.get("metrics_from_loopback", True) and request.remote_addr in LOOPBACK
    if not loopback:
        user = current_user()
        if user is None:
            abort(401, "log in as an admin, or ask from the server itself")
        if user.role not in access.READS_METRICS:
            abort(403, f"the {user.role} role may not read the metrics")
    # The pool of writing requests, and (states prefixed "read_") that of GET requests.
    for prefix, engine in (("", engine_for(current_app)), ("read_", read_engine_for(current_app))):
        for state, read in (("in_use", "checkedout"), ("idle", "checkedin"), ("size", "size")):
            value = getattr(engine.pool, read, None)
            if value is not None:
                POOL.labels(prefix + state).set(value())
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Request ids, the request log and metrics for ``app``; ``/metrics``."""
    configure_logging(app.config["GRIDMAP"])
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_finish)
    app.register_blueprint(bp)

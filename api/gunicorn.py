"""``gridmap serve --workers N`` (N > 1): the same app under gunicorn, N processes of
gthread workers, so requests use more than one core (waitress serves from one process,
whose threads share one interpreter lock).

The master process keeps the background loops ``gridmap serve`` started (escalation,
backups) and the embedded database; each worker drops the database connections it
inherited (they belong to the master), warms its own status cache, and when it ends
leaves without running the master's clean-up.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from gunicorn.app.base import BaseApplication

from api.db import engine_for, read_engine_for
from layers import status_cache


class _App(BaseApplication):
    def __init__(self, app, options: dict):
        self.app, self.options = app, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.app


def serve(app, cfg: dict, *, host: str, port: int, workers: int, threads: int,
          connections: int) -> None:
    def post_fork(server, worker) -> None:
        engine = engine_for(app)
        engine.dispose(close=False)   # the master's connections are not ours
        read_engine_for(app).dispose(close=False)
        threading.Thread(target=status_cache.warm, args=(engine, cfg), daemon=True).start()

    master = os.getpid()
    try:
        _App(app, {"bind": f"{host}:{port}", "workers": workers, "worker_class": "gthread",
                   "threads": threads, "worker_connections": connections, "keepalive": 75,
                   "post_fork": post_fork, "accesslog": None, "errorlog": "-",
                   "loglevel": "warning", "proc_name": "gridmap"}).run()
    except BaseException as exc:
        if os.getpid() == master:
            raise
        # A worker ends by raising SystemExit up the stack it was forked in: the master's
        # ``gridmap serve``, whose clean-up (stopping the embedded database, "gridmap
        # stopped") is not the worker's to run. Leave at once with the worker's status.
        code = exc.code if isinstance(exc, SystemExit) else 1
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 1)

"""``gridmap serve --workers N`` (N > 1): the same app under gunicorn, N processes of
gthread workers, so requests use more than one core (waitress serves from one process,
whose threads share one interpreter lock).

The master process keeps the background loops ``gridmap serve`` started (escalation,
backups); each worker drops the database connections it inherited (they belong to the
master) and warms its own status cache.
"""

from __future__ import annotations

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

    _App(app, {"bind": f"{host}:{port}", "workers": workers, "worker_class": "gthread",
               "threads": threads, "worker_connections": connections, "keepalive": 75,
               "post_fork": post_fork, "accesslog": None, "errorlog": "-",
               "loglevel": "warning", "proc_name": "gridmap"}).run()

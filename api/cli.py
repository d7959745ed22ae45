"""The ``gridmap`` command line: serve the app, manage the embedded database, load the
demo county and import boundaries. Commands that need the database start the embedded
cluster when DATABASE_URL is unset and stop it again on exit if they started it."""

from __future__ import annotations

import json
import signal
import sys
import time

import click

from geo.config import load_config
from geo.db import DatabaseError, database_url, embedded_cluster, open_database
from geo.embedded import EmbeddedError
from geo.secrets import ensure_secrets


def _cfg() -> dict:
    return ensure_secrets(load_config())


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _stop_on_signals() -> None:
    """SIGTERM and SIGINT (even when inherited as ignored, as in a background job) end
    the process through ``finally`` blocks, which stop the embedded database."""
    def handler(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)


@click.group()
def main() -> None:
    """gridmap — 困境未成年人网格化管理地图."""


# -- serve ---------------------------------------------------------------------------
@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--demo/--no-demo", default=True, show_default=True,
              help="Load the demo county when the database is empty.")
@click.option("--scale", default=None, type=float, help="Demo scale (1 = 50k households).")
def serve(host: str, port: int, threads: int, demo: bool, scale: float | None) -> None:
    """Serve the app (starting the embedded database when DATABASE_URL is unset)."""
    from waitress import serve as waitress_serve

    from api.app import create_app
    from geo.demo import is_empty, load_demo

    cfg = _cfg()
    _stop_on_signals()
    try:
        with open_database(cfg) as engine:
            if demo and is_empty(engine):
                scale = scale if scale is not None else cfg["demo"]["scale"]
                click.echo(f"loading the demo county (scale {scale:g})…")
                started = time.perf_counter()
                summary = load_demo(engine, cfg, scale=scale)
                click.echo(f"demo loaded in {time.perf_counter() - started:.1f} s: "
                           + ", ".join(f"{k} {v:,}" for k, v in summary["rows"].items()))
            app = create_app()
            click.echo(f"gridmap serving on http://{host}:{port}/  (Ctrl-C to stop)")
            waitress_serve(app, host=host, port=port, threads=threads, ident="gridmap")
    except (DatabaseError, EmbeddedError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        pass
    finally:
        click.echo("gridmap stopped")


# -- db --------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """The database: embedded cluster and migrations."""


def _cluster_or_exit(cfg: dict):
    if cfg.get("database_url"):
        click.echo("DATABASE_URL is set: the embedded database is not used.")
        sys.exit(0)
    return embedded_cluster(cfg)


@db.command("start")
def db_start() -> None:
    """Start the embedded PostGIS cluster under var/ (it keeps running)."""
    cfg = _cfg()
    cluster = _cluster_or_exit(cfg)
    try:
        started = cluster.start()
    except EmbeddedError as exc:
        _fail(str(exc))
    from geo.db import create_database

    create_database(database_url(cfg))
    click.echo(("started" if started else "already running") + f": {database_url(cfg)}")


@db.command("stop")
def db_stop() -> None:
    """Stop the embedded cluster."""
    cluster = _cluster_or_exit(_cfg())
    click.echo("stopped" if cluster.stop() else "not running")


@db.command("status")
def db_status() -> None:
    """Whether the embedded cluster runs, where, and as whom (JSON)."""
    cfg = _cfg()
    if cfg.get("database_url"):
        click.echo(json.dumps({"database_url": database_url(cfg), "embedded": False}))
        return
    status = embedded_cluster(cfg).status()
    click.echo(json.dumps({**status, "database_url": database_url(cfg)}, ensure_ascii=False))
    sys.exit(0 if status["running"] else 3)


@db.command("migrate")
def db_migrate() -> None:
    """Bring the schema up to the newest migration."""
    from geo.migrate import current

    try:
        with open_database(_cfg()) as engine:
            click.echo(f"schema at revision {current(engine)}")
    except (DatabaseError, EmbeddedError) as exc:
        _fail(str(exc))


# -- demo ------------------------------------------------------------------------------
@main.group()
def demo() -> None:
    """The synthetic demo county (real boundaries, generated people)."""


@demo.command("load")
@click.option("--scale", default=None, type=float,
              help="1 = a county (50k households); 20 = a prefecture city (1M).")
@click.option("--seed", default=None, type=int)
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has units.")
def demo_load(scale: float | None, seed: int | None, if_empty: bool) -> None:
    """Load the demo county into an empty database."""
    from geo.demo import is_empty, load_demo

    cfg = _cfg()
    scale = scale if scale is not None else cfg["demo"]["scale"]
    seed = seed if seed is not None else cfg["demo"]["seed"]
    if scale <= 0 or scale > 50:
        _fail(f"--scale must be above 0 and at most 50, not {scale:g}")
    try:
        with open_database(cfg) as engine:
            if not is_empty(engine):
                if if_empty:
                    click.echo("the database already holds data; nothing loaded")
                    return
                _fail("the database already holds units; load the demo into an empty database")
            started = time.perf_counter()
            summary = load_demo(engine, cfg, scale=scale, seed=seed)
            summary["seconds"] = round(time.perf_counter() - started, 1)
            click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    except (DatabaseError, EmbeddedError) as exc:
        _fail(str(exc))


# -- units -----------------------------------------------------------------------------
@main.group()
def units() -> None:
    """Administrative units and grid cells."""


@units.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--level", required=True,
              type=click.Choice(["county", "township", "village", "cell"]))
@click.option("--code-field", default="code", show_default=True)
@click.option("--name-field", default="name", show_default=True)
@click.option("--parent-field", default=None,
              help="Field with the parent unit's code (default: found by location).")
@click.option("--dry-run", is_flag=True, help="Check and report, write nothing.")
def units_import(path: str, level: str, code_field: str, name_field: str,
                 parent_field: str | None, dry_run: bool) -> None:
    """Import one level of boundaries from GeoJSON, Shapefile or GeoPackage."""
    from geo.units_import import UnitImportError, import_units

    cfg = _cfg()
    try:
        with open_database(cfg) as engine:
            report = import_units(
                engine, path, level, code_field=code_field, name_field=name_field,
                parent_field=parent_field, dry_run=dry_run,
                tolerance=cfg["rules"]["import_outside_parent_tolerance"],
            )
    except UnitImportError as exc:
        click.echo(f"error: nothing imported from {path}:", err=True)
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(1)
    except (DatabaseError, EmbeddedError) as exc:
        _fail(str(exc))
    verb = "would import" if dry_run else "imported"
    click.echo(f"{verb} {report.features} {level} units from {path}: "
               f"{report.created} new, {report.updated} updated")
    for line in report.repaired:
        click.echo(f"  repaired: {line}")
    if report.households_moved:
        click.echo(f"  {report.households_moved} households moved to their new cell")

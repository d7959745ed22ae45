"""The ``gridmap`` command line: serve the app, manage the embedded database, load the
demo county and import boundaries. Commands that need the database start the embedded
cluster when DATABASE_URL is unset and stop it again on exit if they started it."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import click

from geo import access, vocab
from geo.config import ConfigError, load_config
from geo.office.secrets import ensure_secrets
from geo.store.db import DatabaseError, database_url, embedded_cluster, open_database
from geo.store.embedded import EmbeddedError


def _cfg() -> dict:
    try:
        cfg = load_config()
    except ConfigError as exc:  # a bad [rules.counties.<code>] table: say which key
        _fail(str(exc))
    return ensure_secrets(cfg)


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
# Processes ``gridmap serve`` starts by default: one per core the process may use, since
# one process runs Python on one core at a time (bench/api_load.py: on 2 cores, two
# gunicorn processes answered 565–713 requests/s where one waitress process answered
# 453), but not more than this, each holding its own connection pools and caches.
MAX_AUTO_WORKERS = 4


def default_workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_AUTO_WORKERS))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--connections", default=500, show_default=True, type=int,
              help="Open connections accepted at once (every phone and browser keeps one).")
@click.option("--demo/--no-demo", default=True, show_default=True,
              help="Load the demo county when the database is empty.")
@click.option("--scale", default=None, type=float, help="Demo scale (1 = 50k households).")
@click.option("--workers", default=None, type=click.IntRange(min=1),
              envvar="GRIDMAP_WORKERS",
              help="Server processes [default: one per core, at most "
                   f"{MAX_AUTO_WORKERS}]: 1 serves with waitress; more with gunicorn "
                   "(gthread workers of --threads threads each; metrics are then per "
                   "process).")
def serve(host: str, port: int, threads: int, connections: int, demo: bool,
          scale: float | None, workers: int | None) -> None:
    """Serve the app (starting the embedded database when DATABASE_URL is unset)."""
    from waitress import serve as waitress_serve

    from api.app import create_app
    from geo.demo import is_empty, load_demo

    cfg = _cfg()
    from geo.store import memory

    memory.configure(cfg)   # malloc arenas, before any thread starts (issue 19)
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
            if demo:
                from geo.office.demo_users import create_demo_users, describe

                click.echo(describe(create_demo_users(engine, cfg)))
            app = create_app()
            workers = workers or default_workers()
            if workers == 1:
                # Under gunicorn each worker warms its own (api/gunicorn.py): a thread
                # of the master could hold the cache's lock when a worker is forked.
                import threading

                from layers import status_cache

                threading.Thread(target=status_cache.warm, args=(engine, cfg),
                                 daemon=True).start()
            from geo.cases.reports import EscalationLoop

            EscalationLoop(engine, cfg).start()   # reports past their deadline go up a level
            if not cfg.get("database_url") and cfg["backup"].get("nightly"):
                from geo.store.backup import BackupLoop

                BackupLoop(cfg, engine).start()   # nightly pgBackRest backup of var/pg
            server = (f"gunicorn, {workers} processes" if workers > 1
                      else "waitress, one process")
            click.echo(f"gridmap serving on http://{host}:{port}/  ({server}; "
                       "Ctrl-C to stop)")
            if workers > 1:
                from api.gunicorn import serve as gunicorn_serve

                gunicorn_serve(app, cfg, host=host, port=port, workers=workers,
                               threads=threads, connections=connections)
                return
            # waitress's own limit (100) left the 101st phone's request waiting unread in
            # the listen queue until its client gave up, after which it was still carried
            # out (bench/soak.py); poll() because select() stops at 1024 descriptors.
            waitress_serve(app, host=host, port=port, threads=threads, ident="gridmap",
                           connection_limit=connections, asyncore_use_poll=True)
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
    from geo.store.db import create_database

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


@db.command("backup")
@click.argument("dest", required=False, type=click.Path(file_okay=False))
@click.option("--type", "kind", default="auto", show_default=True,
              type=click.Choice(["auto", "full", "incr", "diff"]),
              help="auto: full when none is recent (backup.full_every_days), else incremental.")
@click.option("--list", "listing", is_flag=True, help="List the backups in the repository.")
def db_backup(dest: str | None, kind: str, listing: bool) -> None:
    """Back up the embedded database (pgBackRest, encrypted) into DEST (default var/backup);
    the WAL archived since makes any later moment restorable."""
    from geo.store.backup import BackupError, backup, describe

    cfg = _cfg()
    if dest:
        cfg = {**cfg, "backup": {**cfg["backup"], "repo": dest}}
    try:
        if listing:
            click.echo(json.dumps(describe(cfg), ensure_ascii=False, indent=2))
            return
        with open_database(cfg) as engine:
            click.echo(json.dumps(backup(cfg, dest, kind, engine=engine), ensure_ascii=False))
    except (BackupError, DatabaseError, EmbeddedError) as exc:
        _fail(str(exc))


@db.command("restore")
@click.argument("src", type=click.Path(exists=True, file_okay=False))
@click.option("--to-time", default=None,
              help="ISO time to restore to (zone optional: the configured timezone), "
                   "e.g. 2026-11-25T21:40:00+08:00; default: the newest state.")
@click.option("--yes", is_flag=True, help="Do not ask before replacing the database.")
def db_restore(src: str, to_time: str | None, yes: bool) -> None:
    """Restore the embedded database from the repository SRC (stop the service first).
    The current data directory is kept beside as var/pg/data.before-restore-<time>."""
    from geo.store.backup import BackupError, restore, target_time

    cfg = _cfg()
    if cfg.get("database_url"):
        _fail("DATABASE_URL is set: restore that server with its own pgBackRest")
    try:
        if to_time:
            target_time(to_time, cfg["timezone"])
        if not yes:
            click.confirm(f"replace the embedded database with the backup in {src}"
                          + (f" as of {to_time}" if to_time else "") + "?", abort=True)
        was_running = embedded_cluster(cfg).is_running()
        done = restore(cfg, src, to_time)
        from geo.migrate import current, upgrade
        from geo.store.db import get_engine

        engine = get_engine(database_url(cfg))
        upgrade(engine)
        done["schema_revision"] = current(engine)
        engine.dispose()
        if not was_running:
            embedded_cluster(cfg).stop()
        click.echo(json.dumps(done, ensure_ascii=False, indent=2))
    except (BackupError, DatabaseError, EmbeddedError) as exc:
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
@click.option("--city", default=None, type=click.Choice(["510400"]),
              help="Load the whole city (510400 攀枝花市, five counties) instead of Renhe; "
                   "scale 1 ≈ 237k households over the five.")
def demo_load(scale: float | None, seed: int | None, if_empty: bool,
              city: str | None) -> None:
    """Load the demo county (or with --city the demo city) into an empty database."""
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
            summary = load_demo(engine, cfg, scale=scale, seed=seed, city=city)
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
    from geo.grid.units_import import UnitImportError, import_units

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


# -- queries ---------------------------------------------------------------------------
def _query(func):
    """Run ``func(conn, cfg)`` on the database and print its result as JSON; domain
    errors become a message naming the problem and exit code 1."""
    from geo.errors import GeoError

    cfg = _cfg()
    try:
        with open_database(cfg) as engine, engine.connect() as conn:
            result = func(conn, cfg, engine)
    except GeoError as exc:
        _fail(f"{exc.message}" + (f" (field: {exc.field})" if exc.field else ""))
    except (DatabaseError, EmbeddedError) as exc:
        _fail(str(exc))
    click.echo(json.dumps(result, ensure_ascii=False, indent=2, default=str))


@main.group()
def query() -> None:
    """The spatial queries, with JSON output."""


@query.command("status")
@click.option("--unit", default=None, help="Unit code (default: everything).")
@click.option("--as-of", default=None, help="YYYY-MM-DD (default: today).")
@click.option("--rollup", type=click.Choice(["cell", "village", "township", "county"]),
              default="cell")
def query_status(unit, as_of, rollup):
    """Visit status of every cell (or rolled up per village / township / county)."""
    from geo.visits.due import cell_status, status_rollup

    def run(conn, cfg, engine):
        cells = cell_status(conn, cfg["rules"], as_of=as_of, unit=unit, tz=cfg["timezone"])
        return cells if rollup == "cell" else status_rollup(conn, cells, rollup)

    _query(run)


@query.command("overdue")
@click.option("--unit", default=None)
@click.option("--as-of", default=None)
@click.option("--within-days", default=0, type=int, help="Also children due this soon.")
def query_overdue(unit, as_of, within_days):
    """Children overdue (or due within N days), most overdue first."""
    from geo.visits.due import due_visits

    _query(lambda conn, cfg, engine: due_visits(
        conn, cfg["rules"], as_of=as_of, unit=unit, within_days=within_days,
        tz=cfg["timezone"]))


@query.command("nearest")
@click.option("--lon", type=float)
@click.option("--lat", type=float)
@click.option("--child", "child_id", type=int, default=None, help="Use this child's record.")
@click.option("--type", "types", default=None, help="Facility types, comma-separated.")
@click.option("--k", default=5, type=int)
@click.option("--need-bed", is_flag=True)
@click.option("--open-24h", is_flag=True)
@click.option("--age", type=int, default=None)
@click.option("--sex", type=click.Choice(["male", "female"]), default=None)
@click.option("--disability", is_flag=True)
@click.option("--rank", type=click.Choice(["auto", "geodesic", "road"]), default="auto")
def query_nearest(lon, lat, child_id, types, k, need_bed, open_24h, age, sex, disability,
                  rank):
    """The nearest suitable facilities for an emergency placement."""
    from geo.facilities.nearest import nearest_facilities

    _query(lambda conn, cfg, engine: nearest_facilities(
        conn, lon, lat, types=types, k=k, need_bed=need_bed, open_24h=open_24h, age=age,
        sex=sex, disability=disability, child_id=child_id, rank=rank))


@query.command("blind-spots")
@click.option("--type", "facility_type", required=True)
@click.option("--reach-m", type=float, default=None)
@click.option("--unit", default=None)
@click.option("--with-geometry", is_flag=True, help="Include the blind-spot polygons.")
def query_blind_spots(facility_type, reach_m, unit, with_geometry):
    """Children and households beyond reach of a facility type."""
    from geo.planning.coverage import blind_spots

    def run(conn, cfg, engine):
        result = blind_spots(conn, cfg["rules"], facility_type, reach_m=reach_m, unit=unit)
        if not with_geometry:
            result["area"].pop("geometry")
        return result

    _query(run)


@query.command("gaps")
@click.option("--unit", default=None)
def query_gaps(unit):
    """Cells with no grid worker, overloaded workers, villages without a children's home."""
    from geo.planning.coverage import caseloads, cells_without_worker, villages_without

    _query(lambda conn, cfg, engine: {
        "cells_without_worker": cells_without_worker(conn, unit),
        "overloaded_workers": caseloads(conn, cfg["rules"], unit, over_only=True),
        "villages_without_children_home": villages_without(conn, "children_home", unit)})


@query.command("suggest-sites")
@click.option("--type", "facility_type", required=True)
@click.option("--k", default=3, type=int)
@click.option("--reach-m", type=float, default=None)
@click.option("--unit", default=None)
def query_suggest_sites(facility_type, k, reach_m, unit):
    """Where k new facilities would reach the most children beyond reach today."""
    from geo.planning.coverage import suggest_sites

    _query(lambda conn, cfg, engine: suggest_sites(
        conn, cfg["rules"], facility_type, k, reach_m=reach_m, unit=unit))


@query.command("route")
@click.option("--worker", "worker_id", required=True)
@click.option("--date", default=None, help="YYYY-MM-DD (default: today).")
@click.option("--within-days", default=0, type=int)
@click.option("--budget-min", type=float, default=None, help="Time budget in minutes.")
def query_route(worker_id, date, within_days, budget_min):
    """A worker's visit route for a day."""
    from geo.routing.routes import worker_route

    _query(lambda conn, cfg, engine: worker_route(
        conn, cfg["rules"], worker_id, date, within_days=within_days, budget_min=budget_min,
        tz=cfg["timezone"]))


@query.command("plan")
@click.option("--worker", "worker_id", required=True)
@click.option("--from", "start", default=None, help="YYYY-MM-DD (default: today).")
@click.option("--days", default=5, type=int, help="Working days (1-31).")
@click.option("--budget-min", type=float, default=None,
              help="Minutes per day (default: the working day).")
def query_plan(worker_id, start, days, budget_min):
    """A worker's plan over several working days."""
    from geo.routing.plan import week_plan

    _query(lambda conn, cfg, engine: week_plan(
        conn, cfg["rules"], worker_id, start, days, budget_min=budget_min,
        tz=cfg["timezone"]))


@main.group()
def placements() -> None:
    """Beds: reserve and release."""


@placements.command("reserve")
@click.option("--child", "child_id", required=True, type=int)
@click.option("--facility", "facility_id", required=True, type=int)
def placements_reserve(child_id, facility_id):
    """Place a child at a facility (takes a bed)."""
    from geo.facilities.placement import reserve_bed

    _query(lambda conn, cfg, engine: reserve_bed(engine, child_id, facility_id))


@placements.command("release")
@click.argument("placement_id", type=int)
@click.option("--reason", default=None, type=click.Choice(
    ["returned_home", "to_relatives", "transferred", "hospital_discharge"]),
    help="Why the placement ends.")
def placements_release(placement_id, reason):
    """End a placement (frees the bed)."""
    from geo.facilities.placement import release_placement

    _query(lambda conn, cfg, engine: release_placement(engine, placement_id, reason=reason))


@main.group()
def reports() -> None:
    """Discovery reports: the escalation pass."""


@reports.command("escalate")
@click.option("--now", "now", default=None,
              help="Run the pass as if it were this time (ISO 8601 with zone; default now).")
def reports_escalate(now):
    """One escalation pass: reports not accepted by their deadline go up one level."""
    import datetime as dt

    from geo.cases.reports import run_escalation

    when = None
    if now:
        try:
            when = dt.datetime.fromisoformat(now)
        except ValueError:
            _fail(f"--now must be an ISO 8601 time, not '{now}'")
        if when.tzinfo is None:
            _fail("--now must carry a time zone, e.g. 2026-11-24T10:00+08:00")
    _query(lambda conn, cfg, engine: {"escalated": run_escalation(engine, cfg, when)})


@main.group()
def roads() -> None:
    """The road network used for road distances."""


@roads.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--name-field", default=None)
@click.option("--kind-field", default=None)
@click.option("--oneway-field", default=None, help="Field that says yes for one-way roads.")
def roads_import(path, name_field, kind_field, oneway_field):
    """Replace the road network with a line layer (GeoPackage, Shapefile, GeoJSON)."""
    from geo.grid.roads import import_roads

    _query(lambda conn, cfg, engine: import_roads(
        engine, path, name_field=name_field, kind_field=kind_field,
        oneway_field=oneway_field))


# -- users -----------------------------------------------------------------------------
@main.group()
def users() -> None:
    """Logins: each bound to a role and a unit."""


@users.command("create")
@click.argument("username")
@click.option("--role", required=True,
              type=click.Choice(access.roles(access.ROLES)))
@click.option("--unit", "unit_code", required=True, help="Code of the unit the user sees.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--worker", "worker_id", type=int, default=None,
              help="The worker record of a grid worker or grid head.")
@click.option("--department", default=None, type=click.Choice(list(vocab.DEPARTMENTS)),
              help="The department of a department user (the referrals it sees).")
def users_create(username, role, unit_code, password, worker_id, department):
    """Create a login."""
    from geo.office.users import create_user

    def run(conn, cfg, engine):
        with conn.begin():
            user = create_user(conn, username, role, unit_code, password, worker_id,
                               department=department)
        return {"id": user.id, "username": user.username, "role": user.role,
                "unit": user.unit_code}

    _query(run)


# -- ledgers ---------------------------------------------------------------------------
@main.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--kind", required=True,
              type=click.Choice(["households", "children", "facilities", "workers"]))
@click.option("--crs", default="wgs84", show_default=True,
              type=click.Choice(["wgs84", "gcj02", "bd09"]),
              help="Coordinate system of the file's points.")
@click.option("--dry-run", is_flag=True, help="Check and report; write nothing.")
@click.option("--strict", is_flag=True, help="Write nothing if any row is bad.")
@click.option("--as", "as_user", default=None, metavar="USERNAME",
              help="Import as this login, with its role and area (default: the county's "
                   "admin).")
def import_file(path, kind, crs, dry_run, strict, as_user):
    """Import a ledger (台账) from .xlsx, .xls or .csv with Chinese column headers.

    Every attempt is audited, a failed one too."""
    import getpass
    import types

    from geo import audit
    from geo.errors import GeoError
    from geo.ledgers.ledger import acting_user, import_ledger

    cfg = _cfg()
    try:
        label = f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        label = "cli"
    attempt = {"kind": kind, "file": str(path)[-200:], "crs": crs, "dry_run": dry_run,
               "strict": strict, "via": "cli", "as": as_user}
    try:
        with open_database(cfg) as engine:
            # Until the login is known, the attempt is the person at the terminal's.
            user = types.SimpleNamespace(id=None, username=label, role=None)
            try:
                with engine.begin() as conn:
                    user = acting_user(conn, as_user, label)
                    report = import_ledger(conn, path, kind, cfg, role=user.role,
                                           scope_id=user.unit_id, crs=crs, dry_run=dry_run,
                                           strict=strict)
                    audit.record(conn, user, "create", f"import_{kind}", detail={
                        **attempt, **{k: v for k, v in report.as_dict().items()
                                      if k != "errors"}})
            except Exception as exc:
                error = exc.as_dict() if isinstance(exc, GeoError) else {"code": "error"}
                audit.record_apart(engine, user, "create", f"import_{kind}",
                                   detail={**attempt, "failed": True, "error": error})
                raise
    except GeoError as exc:
        _fail(exc.message)
    except (DatabaseError, EmbeddedError) as exc:
        _fail(str(exc))
    for e in report.as_dict()["errors"]:
        click.echo(e["message"], err=True)
    verb = "would write" if dry_run else ("wrote" if report.written else "wrote nothing of")
    click.echo(f"{report.rows} rows, {report.bad_rows} with problems; {verb}: "
               f"{report.created} new, {report.updated} changed, {report.unchanged} unchanged")
    if report.errors and (strict or dry_run):
        sys.exit(1)


@main.command("compare")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--list", "list_kind", required=True,
              type=click.Choice(["prisoners", "rehabilitation", "community_corrections",
                                 "disability", "assistance", "school_roll", "dropouts",
                                 "serious_illness"]),
              help="Which department's list the file is.")
@click.option("--threshold", type=click.IntRange(50, 100), default=None,
              help="Fuzzy name match threshold (default 85).")
@click.option("--as", "as_user", default=None, metavar="USERNAME",
              help="Compare as this login, over its area (default: the county's admin).")
@click.option("--pinyin/--no-pinyin", default=None,
              help="Also match names by pinyin (default: rules.comparison_pinyin).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
def compare_cmd(path, list_kind, threshold, as_user, as_json, pinyin):
    """Compare another department's list with the children on file (信息比对).

    Opens tasks for the cells' grid workers (children possibly unregistered, 劝返) and
    keeps the category changes it proposes for a supervisor to confirm. Of the list
    only its SHA-256 and counts are kept."""
    import getpass
    import json

    from geo import audit
    from geo.errors import GeoError
    from geo.ledgers.compare import compare_list
    from geo.ledgers.ledger import acting_user

    cfg = _cfg()
    try:
        label = f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        label = "cli"
    try:
        with open_database(cfg) as engine, engine.begin() as conn:
            user = acting_user(conn, as_user, label)
            result = compare_list(conn, path, list_kind, cfg, role=user.role,
                                  scope_id=user.unit_id, user_id=user.id,
                                  username=user.username, threshold=threshold,
                                  pinyin=pinyin)
            audit.record(conn, user, "create", "comparison", result.id, detail={
                "list": list_kind, "file": str(path)[-200:], "sha256": result.sha256,
                "counts": result.counts, "via": "cli"})
    except GeoError as exc:
        _fail(exc.message)
    except (DatabaseError, EmbeddedError) as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=1, default=str))
        return
    c = result.counts
    click.echo(f"comparison {result.id}: {c['rows']} rows, {c['matched']} matched "
               f"({c['by_hash']} by identity number, {c['by_name_date']} by name and birth "
               f"date, {c['fuzzy']} fuzzy, {c['by_guardian']} by guardian); "
               f"{c['unregistered']} possibly unregistered, {len(result.school_tasks)} absent "
               f"over 7 days, {len(result.proposals)} category changes to confirm, "
               f"{len(result.contradictions)} contradictions")
    for p in result.proposals:
        verb = "add" if p["action"] == "add" else "end"
        click.echo(f"  proposal {p['id']}: {verb} {p['label']} on {p['ledger_id']} "
                   f"({p['reason']})")


@main.command("template")
@click.option("--kind", required=True,
              type=click.Choice(["households", "children", "facilities", "workers"]))
@click.argument("out", type=click.Path(dir_okay=False, writable=True))
def template_cmd(kind, out):
    """Write an .xlsx template with the column headers and an example row."""
    from geo.ledgers.ledger import template

    with open(out, "wb") as fh:
        fh.write(template(kind))
    click.echo(f"template for {kind} written to {out}")

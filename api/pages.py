"""The map pages (behind login) and the static files they load."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from flask import Blueprint, current_app, request
from flask_wtf.csrf import generate_csrf

from api.auth import current_user, page_login_required
from api.db import conn
from api.request import coverage_for_reader, lang, route_for_reader
from api.security import nonce
from geo import access
from geo.errors import InvalidInput
from geo.scope import check_day, parse_date
from geo.units import unit_bounds, unit_centre, villages_geojson
from webmap.placement import placement_page
from webmap.planner import planner_page
from webmap.route_sheet import route_page
from webmap.supervisor import supervisor_map

STATIC = Path(__file__).resolve().parent.parent / "webmap" / "static"
TEMPLATES = STATIC.parent / "templates"
# Plain pages are Jinja templates under webmap/templates/ (autoescaped; layout.html is
# their frame), served with our static files.
bp = Blueprint("pages", __name__, static_folder=str(STATIC), static_url_path="/static/webmap",
               template_folder=str(TEMPLATES))


@bp.get("/favicon.ico")
def favicon():
    return bp.send_static_file("favicon.svg")


@bp.get("/map")
@page_login_required()
def supervisor():
    user = current_user()
    html = supervisor_map(current_app.config["GRIDMAP"], user, lang(), generate_csrf(),
                          nonce(), bounds=unit_bounds(conn(), user.unit_id))
    return html, 200, {"Content-Type": "text/html; charset=utf-8"}


@bp.get("/map/route/<int:worker>")
@page_login_required(*sorted(access.SEES_ROUTES))
def route_sheet(worker):
    """A worker's route for a day (?date=YYYY-MM-DD&within_days=N&budget_min=M)."""


    try:
        within = int(request.args.get("within_days", 7))
        budget = request.args.get("budget_min")
        budget = float(budget) if budget else None
    except ValueError:
        raise InvalidInput("within_days and budget_min must be numbers",
                           field="within_days") from None
    date = parse_date(request.args.get("date"), "date",
                      current_app.config["GRIDMAP"]["timezone"])
    check_day(date, "date", current_app.config["GRIDMAP"]["rules"],
              current_app.config["GRIDMAP"]["timezone"])
    q = {"worker": worker, "date": date, "within_days": within, "budget_min": budget}
    route = route_for_reader(q)
    conn()
    query = urlencode({k: v for k, v in q.items() if v is not None})
    html = route_page(current_app.config["GRIDMAP"], route, lang(), generate_csrf(), query,
                      nonce())
    return html, 200, {"Content-Type": "text/html; charset=utf-8"}


@bp.get("/map/planner")
@page_login_required(*sorted(access.SEES_COVERAGE))
def planner():
    """Coverage per village for a facility type (?type=school), aggregates only."""

    user = current_user()
    cfg = current_app.config["GRIDMAP"]
    ftype = request.args.get("type", "school")
    coverage, sites = coverage_for_reader(ftype, 5)
    html = planner_page(cfg, ftype, coverage, sites, villages_geojson(conn(), user.unit_id),
                        lang(), nonce(), bounds=unit_bounds(conn(), user.unit_id))
    return html, 200, {"Content-Type": "text/html; charset=utf-8"}


@bp.get("/map/nearest")
@page_login_required()
def nearest():
    """Emergency placement: the nearest suitable facilities and a bed reservation."""

    user = current_user()
    html = placement_page(current_app.config["GRIDMAP"], lang(), generate_csrf(),
                          unit_centre(conn(), user.unit_id), nonce())
    return html, 200, {"Content-Type": "text/html; charset=utf-8"}

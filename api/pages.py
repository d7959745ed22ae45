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
    """Emergency placement: the nearest suitable facilities and a bed reservation
    (?report=ID: filled in from a discovery report, and the reservation answers it;
    ?child_id=ID: for that child)."""
    user = current_user()
    prefill, report = _placement_prefill(user)
    html = placement_page(current_app.config["GRIDMAP"], lang(), generate_csrf(),
                          unit_centre(conn(), user.unit_id), nonce(), prefill, report)
    return html, 200, {"Content-Type": "text/html; charset=utf-8"}


def _placement_prefill(user) -> tuple[dict, dict | None]:
    """What the placement page starts with: a report's place and child (the report read
    is scoped, 404 outside the area, and audited), or a child's id."""
    from apiflask import abort

    from api.auth import client_ip
    from api.db import conn
    from geo import access, audit, reports
    from geo.errors import InvalidInput

    def number(name):
        value = request.args.get(name)
        if value is None:
            return None
        if not value.isdigit() or not 0 < int(value) < 2**31:
            raise InvalidInput(f"{name} must be a positive whole number", field=name)
        return int(value)

    report_id, child_id = number("report"), number("child_id")
    if report_id is None:
        return ({"child_id": child_id} if child_id else {}), None
    if user.role not in access.PLACES_CHILDREN:
        abort(403, f"the {user.role} role does not place children")
    row = reports.find_report(conn(), report_id, user.unit_id)
    audit.record(conn(), user, "read", "report", report_id, ip=client_ip(),
                 detail={"page": "placement"})
    prefill = {"lon": row["lon"], "lat": row["lat"], "age": row["child_age"],
               "sex": row["child_sex"], "disability": row["child_disability"],
               "child_id": row["child_id"] or child_id}
    report = {"id": report_id, "child_id": row["child_id"], "name": row["child_name"],
              "age": row["child_age"], "sex": row["child_sex"],
              "disability": row["child_disability"]}
    return prefill, report

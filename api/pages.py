"""The map pages (behind login) and the static files they load."""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import generate_csrf

from api.auth import current_user, page_login_required
from api.db import conn
from api.request import coverage_for_reader, lang, route_for_reader
from api.security import nonce
from geo import access
from geo.errors import InvalidInput
from geo.grid.units import unit_bounds, unit_centre, villages_geojson
from geo.local_rules import rules_for_unit
from geo.scope import check_day, parse_date
from webmap.placement import placement_page
from webmap.planner import planner_page
from webmap.route_sheet import page_data
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
@page_login_required(*sorted(access.EVERYONE))
def supervisor():
    user = current_user()
    cfg = current_app.config["GRIDMAP"]
    # The user's county's own rules (caseload limit, risk levels), when they have one.
    cfg = {**cfg, "rules": rules_for_unit(conn(), cfg["rules"], user.unit_id)}
    html = supervisor_map(cfg, user, lang(), generate_csrf(),
                          nonce(), bounds=unit_bounds(conn(), user.unit_id))
    return html, 200, {"Content-Type": "text/html; charset=utf-8"}


@bp.get("/map/route/<int:worker>")
@page_login_required(*sorted(access.SEES_ROUTES))
def route_sheet(worker):
    """A worker's route sheet for a day (?date=YYYY-MM-DD&budget_min=M&mode=day|week;
    within_days=N as in /api/routes)."""
    cfg = current_app.config["GRIDMAP"]
    try:
        within = int(request.args.get("within_days", 0))
    except ValueError:
        raise InvalidInput("within_days must be a whole number", field="within_days") from None
    try:
        budget = request.args.get("budget_min")
        budget = float(budget) if budget else None
    except ValueError:
        raise InvalidInput("budget_min must be a number of minutes",
                           field="budget_min") from None
    mode = "week" if request.args.get("mode") == "week" else "day"
    date = parse_date(request.args.get("date"), "date", cfg["timezone"])
    check_day(date, "date", cfg["rules"], cfg["timezone"])
    route = route_for_reader({"worker": worker, "date": date, "within_days": within,
                    "budget_min": budget})
    data = page_data(cfg, route, current_user(), generate_csrf(), within_days=within,
                     budget_min=budget, mode=mode)
    return render_template("route.html", data=data, user=current_user(), lang="zh")


@bp.get("/map/route/me")
@page_login_required(*sorted(access.SEES_ROUTES))
def my_route():
    """The installed app's start page: the login's own route sheet."""
    user = current_user()
    if user.worker_id is None:
        return redirect(url_for("pages.supervisor"))
    return redirect(url_for("pages.route_sheet", worker=user.worker_id))


@bp.get("/map/route/sw.js")
def route_worker():
    """The route sheet's service worker, served under /map/route/ so that its scope
    covers the sheets (no login: it holds no data)."""
    resp = make_response(bp.send_static_file("route-sw.js"))
    resp.headers["Content-Type"] = "text/javascript; charset=utf-8"
    resp.headers["Service-Worker-Allowed"] = "/map/route/"
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/map/route/manifest.webmanifest")
def route_manifest():
    """The web app manifest that makes the route sheet installable."""
    resp = make_response(bp.send_static_file("route.webmanifest"))
    resp.headers["Content-Type"] = "application/manifest+json"
    return resp


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
@page_login_required(*sorted(access.EVERYONE))
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
    from geo import access, audit
    from geo.cases import reports
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

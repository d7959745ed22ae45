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
from api.security import nonce
from geo import access
from webmap.placement import placement_page
from webmap.planner import planner_page
from webmap.supervisor import supervisor_map

STATIC = Path(__file__).resolve().parent.parent / "webmap" / "static"
TEMPLATES = STATIC.parent / "templates"
# Plain pages are Jinja templates under webmap/templates/ (autoescaped; layout.html is
# their frame), served with our static files.
bp = Blueprint("pages", __name__, static_folder=str(STATIC), static_url_path="/static/webmap",
               template_folder=str(TEMPLATES))


def _lang() -> str:
    return "en" if request.args.get("lang") == "en" else "zh"


@bp.get("/favicon.ico")
def favicon():
    return bp.send_static_file("favicon.svg")


@bp.get("/map")
def supervisor():
    user = current_user()
    if user is None:
        return redirect(url_for("auth.login", next=request.full_path))
    html = supervisor_map(current_app.config["GRIDMAP"], user, _lang(), generate_csrf(),
                          nonce())
    return html, 200, {"Content-Type": "text/html; charset=utf-8"}


@bp.get("/map/route/<int:worker>")
@page_login_required(*sorted(access.SEES_ROUTES))
def route_sheet(worker):
    """A worker's route sheet for a day (?date=YYYY-MM-DD&budget_min=M&mode=day|week;
    within_days=N as in /api/routes)."""
    from api.queries import _route
    from geo.errors import InvalidInput
    from geo.scope import check_day, parse_date
    from webmap.route_sheet import page_data

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
    route = _route({"worker": worker, "date": date, "within_days": within,
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
def planner():
    """Coverage per village for a facility type (?type=school), aggregates only."""
    from api.db import conn
    from api.queries import blind_for_planner, sites_for_planner
    from geo import access
    from geo.coverage import blind_spots, suggest_sites
    from geo.errors import InvalidInput
    from geo.units import villages_geojson

    user = current_user()
    if user is None:
        return redirect(url_for("auth.login", next=request.full_path))
    if user.role not in access.SEES_COVERAGE:
        from apiflask import abort

        abort(403, f"the {user.role} role may not use the planner view")
    cfg = current_app.config["GRIDMAP"]
    ftype = request.args.get("type", "school")
    if ftype not in cfg["rules"]["service_reach_m"]:
        raise InvalidInput(f"no service reach for facility type {ftype}", field="type")
    unit = user.unit_code
    coverage = blind_spots(conn(), cfg["rules"], ftype, unit=unit)
    coverage.pop("cells")
    sites = suggest_sites(conn(), cfg["rules"], ftype, 5, unit=unit)
    if user.role == "planner":
        coverage = blind_for_planner(coverage, ftype, None, unit)
        sites = sites_for_planner(sites, ftype, None, unit)
    html = planner_page(cfg, ftype, coverage, sites, villages_geojson(conn(), user.unit_id),
                        _lang(), nonce())
    return html, 200, {"Content-Type": "text/html; charset=utf-8"}


@bp.get("/map/nearest")
def nearest():
    """Emergency placement: the nearest suitable facilities and a bed reservation."""
    from api.db import conn
    from geo.units import unit_centre

    user = current_user()
    if user is None:
        return redirect(url_for("auth.login", next=request.full_path))
    html = placement_page(current_app.config["GRIDMAP"], _lang(), generate_csrf(),
                          unit_centre(conn(), user.unit_id), nonce())
    return html, 200, {"Content-Type": "text/html; charset=utf-8"}

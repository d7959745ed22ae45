"""Area figures: cell status, blind spots, site suggestions (planners get these with
small counts suppressed), visit routes (JSON, CSV, GPX), and the audit log."""

from __future__ import annotations

import csv
import io
from xml.sax.saxutils import escape

from apiflask import APIBlueprint
from flask import Response

from api.auth import client_ip, current_user, login_required
from api.db import conn
from api.request import (
    blind_for_planner,
    check_route_reader,
    config,
    next_link,
    route_for_reader,
    sites_for_planner,
    status_for_planner,
)
from api.schemas import (
    AnyObject,
    AuditQuery,
    BlindSpotQuery,
    ListOut,
    PlanQuery,
    RouteQuery,
    StatusQuery,
    SuggestQuery,
)
from geo import access, audit
from geo.errors import InvalidInput
from geo.ledgers.spreadsheet import neutralise, neutralise_row
from geo.planning.coverage import blind_spots, suggest_sites
from geo.routing.plan import week_plan
from geo.visits.due import cell_status, status_rollup

bp = APIBlueprint("queries", __name__, tag="queries")


@bp.get("/api/cells/status")
@login_required(*access.roles(access.SEES_STATUS))
@bp.input(StatusQuery, location="query", arg_name="q")
@bp.output(ListOut)
@bp.doc(summary="Visit status of every cell, or rolled up per village / township",
        security="BearerAuth")
def status(q):
    cfg = config()
    if q["rollup"] == "county" and access.aggregates_only(current_user().role):
        # The planners' complementary suppression covers cell, village and township
        # counts; a county row could give a hidden township count away.
        raise InvalidInput("planners roll up per village or township", field="rollup")
    unit = access.unit_in_scope(conn(), current_user().unit_id, q["unit"])
    cells = cell_status(conn(), cfg["rules"], as_of=q["as_of"], unit=unit, tz=cfg["timezone"])
    rows = cells if q["rollup"] == "cell" else status_rollup(conn(), cells, q["rollup"])
    if access.aggregates_only(current_user().role):
        rows = status_for_planner(rows, q["rollup"], q["as_of"], unit, cells)
    return {"items": rows, "next": None}


@bp.get("/api/coverage/blind-spots")
@login_required(*sorted(access.SEES_COVERAGE))
@bp.input(BlindSpotQuery, location="query", arg_name="q")
@bp.output(AnyObject)
@bp.doc(summary="Children and households beyond reach of a facility type",
        security="BearerAuth")
def blind(q):
    unit = access.unit_in_scope(conn(), current_user().unit_id, q["unit"])
    result = blind_spots(conn(), config()["rules"], q["type"], reach_m=q["reach_m"], unit=unit)
    if access.aggregates_only(current_user().role):
        result = blind_for_planner(result, q["type"], q["reach_m"], unit)
    return result


@bp.get("/api/coverage/suggest-sites")
@login_required(*sorted(access.SEES_COVERAGE))
@bp.input(SuggestQuery, location="query", arg_name="q")
@bp.output(AnyObject)
@bp.doc(summary="Where k new facilities would reach the most children beyond reach",
        security="BearerAuth")
def suggest(q):
    unit = access.unit_in_scope(conn(), current_user().unit_id, q["unit"])
    result = suggest_sites(conn(), config()["rules"], q["type"], q["k"],
                           reach_m=q["reach_m"], unit=unit)
    if access.aggregates_only(current_user().role):
        result = sites_for_planner(result, q["type"], q["reach_m"], unit)
    return result


@bp.get("/api/routes")
@login_required(*sorted(access.SEES_ROUTES))
@bp.input(RouteQuery, location="query", arg_name="q")
@bp.output(AnyObject)
@bp.doc(summary="A worker's visit route for a day (optionally within a time budget)",
        security="BearerAuth")
def route_json(q):
    return route_for_reader(q)


@bp.get("/api/routes.csv")
@login_required(*sorted(access.SEES_ROUTES))
@bp.input(RouteQuery, location="query", arg_name="q")
@bp.doc(summary="The route as CSV", security="BearerAuth",
        responses={200: {"description": "CSV", "content": {"text/csv": {}}}})
def route_csv(q):
    route = route_for_reader(q)
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(["序号", "户ID", "地址", "儿童", "原因", "本段距离(米)", "经度", "纬度"])
    for i, s in enumerate(route["stops"], start=1):
        out.writerow(neutralise_row([
            i, s["household_id"], s["address"], "、".join(c["name"] for c in s["children"]),
            "；".join(r["text"] for r in s["reasons"]),
            s["leg_m"], s["lon"], s["lat"]]))
    return Response("\ufeff" + buf.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=route.csv"})


@bp.get("/api/routes.gpx")
@login_required(*sorted(access.SEES_ROUTES))
@bp.input(RouteQuery, location="query", arg_name="q")
@bp.doc(summary="The route as GPX", security="BearerAuth",
        responses={200: {"description": "GPX",
                         "content": {"application/gpx+xml": {}}}})
def route_gpx(q):
    route = route_for_reader(q)
    lon, lat = route["start"]
    pts = [(lon, lat, "出发")] + [(s["lon"], s["lat"], neutralise(s["address"]))
                                 for s in route["stops"]]
    pts.append((lon, lat, "返回"))
    why = ["；".join(r["text"] for r in s["reasons"]) for s in route["stops"]]
    wpts = "".join(f'<wpt lat="{y:.7f}" lon="{x:.7f}"><name>{escape(n)}</name>'
                   f'<desc>{escape(w)}</desc></wpt>'
                   for (x, y, n), w in zip(pts[1:-1], why, strict=True))
    rtepts = "".join(f'<rtept lat="{y:.7f}" lon="{x:.7f}"><name>{escape(n)}</name></rtept>'
                     for x, y, n in pts)
    xml = ('<?xml version="1.0" encoding="UTF-8"?>'
           '<gpx version="1.1" creator="gridmap" xmlns="http://www.topografix.com/GPX/1/1">'
           f'{wpts}<rte><name>{escape(route["date"])}</name>{rtepts}</rte></gpx>')
    return Response(xml, mimetype="application/gpx+xml",
                    headers={"Content-Disposition": "attachment; filename=route.gpx"})


@bp.get("/api/routes/plan")
@login_required(*sorted(access.SEES_ROUTES))
@bp.input(PlanQuery, location="query", arg_name="q")
@bp.output(AnyObject)
@bp.doc(summary="A worker's plan over N working days (every due household once, or "
        "unplanned with the reason)", security="BearerAuth")
def route_plan(q):
    user = current_user()
    check_route_reader(q["worker"])
    cfg = config()
    plan = week_plan(conn(), cfg["rules"], q["worker"], q["start"], q["days"],
                     budget_min=q["budget_min"], tz=cfg["timezone"], scope_id=user.unit_id)
    for item in [s for d in plan["days"] for s in d["stops"]] + plan["unplanned"]:
        item["children"] = [access.redact_child(c, user.role) for c in item["children"]]
    audit.record(conn(), user, "read", "route_plan", q["worker"], ip=client_ip(),
                 detail={"children": sorted({c["child_id"] for d in plan["days"]
                                             for s in d["stops"] for c in s["children"]}
                                            | {c["child_id"] for u in plan["unplanned"]
                                               for c in u["children"]})})
    return plan


@bp.get("/api/audit")
@login_required(*sorted(access.READS_AUDIT))
@bp.input(AuditQuery, location="query", arg_name="q")
@bp.output(ListOut)
@bp.doc(summary="The audit log, newest first (read-only)", security="BearerAuth")
def audit_log(q):
    rows = audit.entries(conn(), limit=q["limit"] + 1, offset=q["offset"],
                         resource=q["resource"], resource_id=q["resource_id"],
                         username=q["username"])
    items = [{**r, "at": r["at"].isoformat()} for r in rows[: q["limit"]]]
    more = len(rows) > q["limit"]
    return {"items": items, "next": next_link(q, more)}

"""Facilities (GeoJSON, paged), the nearest suitable ones, and placements (beds)."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import current_app

from api.auth import client_ip, current_user, login_required
from api.db import conn, engine_for
from api.request import bbox, child_or_404, next_link, scope_id, threshold
from api.schemas import (
    AnyObject,
    FacilitiesQuery,
    FeatureCollection,
    NearestOut,
    NearestQuery,
    PlacementIn,
    PlacementOut,
    ReleaseIn,
)
from geo import access, audit
from geo.cases import reports
from geo.errors import InvalidInput
from geo.facilities.nearest import nearest_facilities
from geo.facilities.placement import (
    child_placements,
    placement_child,
    release_placement,
    reserve_bed,
)
from geo.people.features import facility_features
from geo.scope import today
from geo.suppression import hide_occupancy

bp = APIBlueprint("facilities", __name__, tag="facilities")
ALL = access.roles(access.EVERYONE)


@bp.get("/api/facilities")
@login_required(*ALL)
@bp.input(FacilitiesQuery, location="query", arg_name="q")
@bp.output(FeatureCollection)
@bp.doc(summary="Facilities as a GeoJSON FeatureCollection (paged)", security="BearerAuth")
def list_facilities(q):
    box = bbox(q["bbox"])
    rows = facility_features(conn(), scope_id(q["unit"]), box, facility_type=q["type"],
                             limit=q["limit"], offset=q["offset"])
    if access.aggregates_only(current_user().role):
        rows = [{**f, "properties": hide_occupancy(f["properties"], threshold())}
                for f in rows]
    return {"type": "FeatureCollection", "features": rows[: q["limit"]],
            "next": next_link(q, len(rows) > q["limit"])}


@bp.get("/api/facilities/nearest")
@login_required(*ALL)
@bp.input(NearestQuery, location="query", arg_name="q")
@bp.output(NearestOut)
@bp.doc(summary="The nearest facilities that can take a child now", security="BearerAuth")
def nearest(q):
    if q["child_id"] is not None:
        from api.request import child_or_404

        if current_user().role not in access.PERSON_ROLES:
            raise InvalidInput("planners cannot search from a child's record",
                               field="child_id")
        child_or_404(q["child_id"])
    out = nearest_facilities(
        conn(), q["lon"], q["lat"], types=q["type"], k=q["k"], need_bed=q["need_bed"],
        open_24h=q["open_24h"], age=q["age"], sex=q["sex"], disability=q["disability"],
        child_id=q["child_id"], rank=q["rank"])
    if q["child_id"] is not None:
        # The answer holds the child's home point: a read of the child's record.
        audit.record(conn(), current_user(), "read", "child", q["child_id"], ip=client_ip(),
                     detail={"query": "nearest_facility", "point": out["point"]})
    if access.aggregates_only(current_user().role):
        out["facilities"] = [hide_occupancy(f, threshold()) for f in out["facilities"]]
    return out


@bp.post("/api/placements")
@login_required(*sorted(access.PLACES_CHILDREN))
@bp.input(PlacementIn, arg_name="body")
@bp.output(PlacementOut, status_code=201)
@bp.doc(summary="Reserve a bed: place a child at a facility",
        responses={409: "facility_full, already_placed or not_eligible"},
        security="BearerAuth")
def place(body):
    child_or_404(body["child_id"])
    report_id = body.get("report_id")
    if report_id is not None:
        reports.check_for_placement(conn(), report_id, body["child_id"], current_user())
    placement = reserve_bed(engine_for(current_app), body["child_id"], body["facility_id"],
                            body["reason"], report_id=report_id)
    if report_id is not None:
        reports.link_placement(conn(), report_id, body["child_id"], placement["id"],
                               current_user())
    audit.record(conn(), current_user(), "place", "placement", placement["id"],
                 ip=client_ip(), detail={"child_id": body["child_id"],
                                         "facility_id": body["facility_id"],
                                         "report_id": report_id})
    return placement


@bp.post("/api/placements/<int:placement_id>/release")
@login_required(*sorted(access.PLACES_CHILDREN))
@bp.input(ReleaseIn, arg_name="body")
@bp.output(PlacementOut)
@bp.doc(summary="End a placement and free its bed, with a reason", security="BearerAuth")
def release(placement_id, body):
    from api.request import child_or_404

    child_or_404(placement_child(conn(), placement_id))
    out = release_placement(engine_for(current_app), placement_id, reason=body["reason"])
    audit.record(conn(), current_user(), "release", "placement", placement_id, ip=client_ip(),
                 detail={"reason": body["reason"]})
    return out


@bp.get("/api/children/<int:child_id>/placements")
@login_required(*sorted(access.PLACES_CHILDREN))
@bp.output(AnyObject)
@bp.doc(summary="A child's placements, newest first, with who the child is (name, age, "
                "sex, disability): what the placement page shows before a reservation",
        responses={404: "no such child in your area"}, security="BearerAuth")
def child_placement_list(child_id):
    child = child_or_404(child_id)
    born, day = child["birth_date"], today(current_app.config["GRIDMAP"]["timezone"])
    age = day.year - born.year - ((day.month, day.day) < (born.month, born.day))
    items = [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in p.items()}
             for p in child_placements(conn(), child_id)]
    audit.record(conn(), current_user(), "read", "child", child_id, ip=client_ip(),
                 detail={"placements": [p["id"] for p in items]})
    return {"child": {"id": child_id, "name": child["name"], "sex": child["sex"], "age": age,
                      "disability": bool(child["has_disability"])}, "items": items}

"""Units, facilities (county office) and workers: the organisation behind the map."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema, fields
from apiflask.validators import OneOf
from flask import current_app

from api.auth import client_ip, current_user, login_required
from api.db import conn
from api.request import next_link
from api.schemas import AnyObject, FacilityIn, FacilityPatch, ListOut, Page, WorkerIn, WorkerPatch
from geo import access, audit, vocab
from geo.facilities.admin import create_facility, delete_facility, get_facility, update_facility
from geo.grid.units import unit_feature, unit_tree
from geo.workers import create_worker, get_worker, list_workers, update_worker
from layers import status_cache

bp = APIBlueprint("admin", __name__, tag="organisation")
EVERYONE = access.roles(access.EVERYONE)


class TreeQuery(Schema):
    depth = fields.String(load_default="village", validate=OneOf(
        ["county", "township", "village", "cell"]))


class WorkersQuery(Page):
    role = fields.String(load_default=None, validate=OneOf(list(vocab.WORKER_ROLES)))


@bp.get("/api/units")
@login_required(*EVERYONE)
@bp.input(TreeQuery, location="query", arg_name="q")
@bp.output(ListOut)
@bp.doc(summary="The unit tree under your unit", security="BearerAuth")
def tree(q):
    return {"items": unit_tree(conn(), current_user().unit_id, q["depth"]), "next": None}


@bp.get("/api/units/<code>")
@login_required(*EVERYONE)
@bp.output(AnyObject)
@bp.doc(summary="One unit as a GeoJSON Feature with its figures", security="BearerAuth")
def unit(code):
    user, cfg = current_user(), current_app.config["GRIDMAP"]
    feature = unit_feature(conn(), code, user.unit_id)
    props = feature["properties"]
    props.update(status_cache.unit_summary(conn(), cfg["rules"], user.unit_code,
                                           cfg["timezone"], props.pop("unit_id"),
                                           props["level"]))
    if access.aggregates_only(user.role):
        feature = _unit_for_planner(feature, cfg, user)
    return feature


def _unit_for_planner(feature: dict, cfg: dict, user) -> dict:
    """A unit's figures with the planner's complementary patterns (people, today's
    statuses); the free beds under a unit are not shown (they sum placed children)."""
    from geo import suppression
    from geo.scope import find_unit

    threshold = int(cfg["rules"]["suppress_below"])
    props = dict(feature["properties"])
    key = suppression.unit_key(find_unit(conn(), props["code"]), user.unit_code)
    people = suppression.people_pattern(conn(), user.unit_code, threshold)
    rows = list(status_cache.statuses(conn(), cfg["rules"], user.unit_code,
                                      cfg["timezone"]).values())
    status = suppression.status_pattern(conn(), cfg["rules"], user.unit_code, None,
                                        cfg["timezone"], threshold, cells=rows)
    props = suppression.blank(props, *key, suppression.PEOPLE_FIELDS, people)
    props = suppression.blank(props, *key, ("overdue_children",), status)
    props["free_beds"] = None
    return {**feature, "properties": props}


@bp.get("/api/facilities/<int:facility_id>")
@login_required(*EVERYONE)
@bp.output(AnyObject)
@bp.doc(summary="One facility with capacity and occupancy", security="BearerAuth")
def facility(facility_id):
    out = get_facility(conn(), facility_id)
    if access.aggregates_only(current_user().role):
        from geo.suppression import hide_occupancy

        out = hide_occupancy(out, int(current_app.config["GRIDMAP"]["rules"]["suppress_below"]))
    return out


@bp.post("/api/facilities")
@login_required(*sorted(access.WRITES_FACILITIES))
@bp.input(FacilityIn, arg_name="body")
@bp.output(AnyObject, status_code=201)
@bp.doc(summary="Add a facility", security="BearerAuth")
def add_facility(body):
    out = create_facility(conn(), body)
    audit.record(conn(), current_user(), "create", "facility", out["id"], ip=client_ip())
    return out


@bp.patch("/api/facilities/<int:facility_id>")
@login_required(*sorted(access.WRITES_FACILITIES))
@bp.input(FacilityPatch, arg_name="body")
@bp.output(AnyObject)
@bp.doc(summary="Change a facility (capacity, occupancy, rules)", security="BearerAuth")
def patch_facility(facility_id, body):
    out = update_facility(conn(), facility_id, body)
    audit.record(conn(), current_user(), "update", "facility", facility_id, ip=client_ip(),
                 detail=body)
    return out


@bp.delete("/api/facilities/<int:facility_id>")
@login_required(*sorted(access.WRITES_FACILITIES))
@bp.output({}, status_code=204)
@bp.doc(summary="Remove a facility with nobody placed in it", security="BearerAuth")
def remove_facility(facility_id):
    delete_facility(conn(), facility_id)
    audit.record(conn(), current_user(), "delete", "facility", facility_id, ip=client_ip())
    return ""


@bp.get("/api/workers")
@login_required(*access.roles(access.SEES_WORKERS))
@bp.input(WorkersQuery, location="query", arg_name="q")
@bp.output(ListOut)
@bp.doc(summary="Workers in your area with their units and caseload", security="BearerAuth")
def workers(q):
    rows = list_workers(conn(), current_user().unit_id, q["limit"] + 1, q["offset"], q["role"])
    return {"items": rows[: q["limit"]], "next": next_link(q, len(rows) > q["limit"])}


@bp.get("/api/workers/<int:worker_id>")
@login_required(*access.roles(access.SEES_WORKERS))
@bp.output(AnyObject)
@bp.doc(summary="One worker", security="BearerAuth")
def worker(worker_id):
    return get_worker(conn(), worker_id, current_user().unit_id)


@bp.post("/api/workers")
@login_required(*sorted(access.WRITES_WORKERS))
@bp.input(WorkerIn, arg_name="body")
@bp.output(AnyObject, status_code=201)
@bp.doc(summary="Add a worker and the units they look after", security="BearerAuth")
def add_worker(body):
    out = create_worker(conn(), body, current_user().unit_id)
    audit.record(conn(), current_user(), "create", "worker", out["id"], ip=client_ip())
    return out


@bp.patch("/api/workers/<int:worker_id>")
@login_required(*sorted(access.WRITES_WORKERS))
@bp.input(WorkerPatch, arg_name="body")
@bp.output(AnyObject)
@bp.doc(summary="Change a worker (office, units, active)", security="BearerAuth")
def patch_worker(worker_id, body):
    out = update_worker(conn(), worker_id, body, current_user().unit_id)
    audit.record(conn(), current_user(), "update", "worker", worker_id, ip=client_ip(),
                 detail={"fields": sorted(body)})
    if body.get("active") is False:  # what the worker leaves without anyone (handover)
        from geo.planning.handover import left_without

        out["left_without"] = left_without(conn(), worker_id, current_user().unit_id)
        out["handover"] = f"/workers/{worker_id}/handover"
    return out

"""Households, child records and visits: create, read, update (area-scoped, audited)."""

from __future__ import annotations

from contextlib import contextmanager

from apiflask import APIBlueprint
from flask import current_app

from api.auth import client_ip, current_user, login_required
from api.db import conn, engine_for
from api.request import bbox, child_or_404, child_out, config, household_or_404, next_link, scope_id
from api.schemas import (
    AnyObject,
    BboxPage,
    ChildIn,
    ChildPatch,
    FeatureCollection,
    HouseholdIn,
    HouseholdPatch,
    ListOut,
    LocateQuery,
    VisitIn,
)
from geo import access, audit
from geo.errors import GeoError, InvalidInput
from geo.ledgers.form import locate
from geo.people.features import household_features
from geo.people.households_children import (
    create_child,
    create_household,
    update_child,
    update_household,
)
from geo.visits.client import (
    check_return_visit,
    claim_client_id,
    stamp_visit,
    stored_visit,
    undo_visit,
)
from geo.visits.record import child_visits, record_visit
from geo.workers import check_worker_in_scope

bp = APIBlueprint("records", __name__, tag="records")
WRITERS = access.roles(access.WRITES_RECORDS)
PERSON = access.roles(access.PERSON_ROLES)


def _scope() -> int:
    return current_user().unit_id


def _sees_sensitive() -> bool:
    return current_user().role in access.SEES_SENSITIVE_CATEGORIES


def _fields(body: dict) -> list[str]:
    """The names of the fields a write sets (never their values: identity numbers)."""
    return sorted(k for k in body if k != "crs")


@contextmanager
def _audited_attempt(resource: str, resource_id=None, **detail):
    """A write refused (4xx) is audited all the same, in a transaction of its own: who
    tried what on which record, the fields and the error's code and field."""
    try:
        yield
    except GeoError as exc:
        try:
            audit.record_apart(engine_for(current_app), current_user(),
                               "update" if resource_id else "create", resource, resource_id,
                               ip=client_ip(), detail={**detail, "failed": True,
                                                       "error": {"code": exc.code,
                                                                 "field": exc.field}})
        except Exception:  # the database is gone: the original error says more
            current_app.logger.exception("could not audit a refused write")
        raise


@bp.get("/api/households")
@login_required(*PERSON)
@bp.input(BboxPage, location="query", arg_name="q")
@bp.output(FeatureCollection)
@bp.doc(summary="Households in your area as GeoJSON (paged, bbox filter)",
        security="BearerAuth")
def list_households(q):
    box = bbox(q["bbox"])
    sid = scope_id(q["unit"])
    rows = household_features(conn(), sid, box, limit=q["limit"], offset=q["offset"])
    audit.record(conn(), current_user(), "list", "household", ip=client_ip(),
                 detail={"count": min(len(rows), q["limit"])})
    return {"type": "FeatureCollection", "features": rows[: q["limit"]],
            "next": next_link(q, len(rows) > q["limit"])}


@bp.post("/api/households")
@login_required(*WRITERS)
@bp.input(HouseholdIn, arg_name="body")
@bp.output(AnyObject, status_code=201)
@bp.doc(summary="Register a household (its cell comes from the point; lon/lat in crs "
        "wgs84, gcj02 or bd09)", security="BearerAuth")
def add_household(body):
    with _audited_attempt("household", fields=_fields(body), crs=body["crs"]):
        hh = create_household(conn(), body, _scope(), crs=body["crs"])
    audit.record(conn(), current_user(), "create", "household", hh["id"], ip=client_ip(),
                 detail={"fields": _fields(body), "cell": hh["cell_code"], "crs": body["crs"]})
    return hh


@bp.get("/api/households/locate")
@login_required(*WRITERS)
@bp.input(LocateQuery, location="query", arg_name="q")
@bp.output(AnyObject)
@bp.doc(summary="Where a household at this point would be registered: the WGS84 point, "
        "its cell, village and township (refused outside your area or the county)",
        security="BearerAuth")
def locate_household(q):
    return locate(conn(), q["lon"], q["lat"], _scope(), q["crs"])


@bp.get("/api/households/<int:household_id>")
@login_required(*PERSON)
@bp.output(AnyObject)
@bp.doc(summary="One household", security="BearerAuth")
def get_household(household_id):
    hh = household_or_404(household_id, _scope())
    audit.record(conn(), current_user(), "read", "household", household_id, ip=client_ip())
    return hh


@bp.patch("/api/households/<int:household_id>")
@login_required(*WRITERS)
@bp.input(HouseholdPatch, arg_name="body")
@bp.output(AnyObject)
@bp.doc(summary="Change a household; moving its point (lon/lat in crs) moves its cell",
        security="BearerAuth")
def patch_household(household_id, body):
    before = household_or_404(household_id, _scope())
    with _audited_attempt("household", household_id, fields=_fields(body)):
        hh = update_household(conn(), household_id, body, _scope(), crs=body["crs"])
    detail = {"fields": _fields(body)}
    if "lon" in body:
        detail.update(crs=body["crs"], cell_from=before["cell_code"], cell_to=hh["cell_code"])
    audit.record(conn(), current_user(), "update", "household", household_id, ip=client_ip(),
                 detail=detail)
    return hh


@bp.post("/api/children")
@login_required(*WRITERS)
@bp.input(ChildIn, arg_name="body")
@bp.output(AnyObject, status_code=201)
@bp.doc(summary="Register a child (checked as the ledger import checks; the identity "
        "number is kept only masked and hashed)",
        responses={409: "duplicate_child"}, security="BearerAuth")
def add_child(body):
    cfg = config()
    with _audited_attempt("child", fields=_fields(body), household_id=body["household_id"]):
        cid = create_child(conn(), body, cfg["rules"], cfg["id_key"], _scope(),
                           sees_sensitive=_sees_sensitive())
    audit.record(conn(), current_user(), "create", "child", cid, ip=client_ip(),
                 detail={"fields": _fields(body), "household_id": body["household_id"]})
    return child_out(child_or_404(cid))


@bp.patch("/api/children/<int:child_id>")
@login_required(*WRITERS)
@bp.input(ChildPatch, arg_name="body")
@bp.output(AnyObject)
@bp.doc(summary="Change a child's record (checked as the ledger import checks)",
        security="BearerAuth")
def patch_child(child_id, body):
    child_or_404(child_id)
    cfg = config()
    with _audited_attempt("child", child_id, fields=_fields(body)):
        update_child(conn(), child_id, body, cfg["rules"], cfg["id_key"], _scope(),
                     sees_sensitive=_sees_sensitive(),
                     sees_id=current_user().role in access.SEES_ID_NUMBER)
    audit.record(conn(), current_user(), "update", "child", child_id, ip=client_ip(),
                 detail={"fields": _fields(body)})
    return child_out(child_or_404(child_id))


@bp.post("/api/visits")
@login_required(*WRITERS)
@bp.input(VisitIn, arg_name="body")
@bp.output(AnyObject, status_code=201)
@bp.doc(summary="Record a visit (flagged when its GPS point is implausible); sent again "
        "with the same client_id, the stored visit answers 200", security="BearerAuth")
def add_visit(body):
    child_or_404(body["child_id"])
    user = current_user()
    check_return_visit(user.role, body["kind"], config()["rules"])
    known = claim_client_id(conn(), body.get("client_id"), user.id)
    if known is not None:
        return access.redact_visit(stored_visit(conn(), known), user.role), 200
    worker = body["worker_id"] if user.role in access.CREDITS_ANY_WORKER else user.worker_id
    if worker is None:
        raise InvalidInput("worker_id is required for a login without a worker record",
                           field="worker_id")
    if worker != user.worker_id:
        check_worker_in_scope(conn(), worker, user.unit_id, field="worker_id")
    visit = record_visit(conn(), config()["rules"], child_id=body["child_id"], worker_id=worker,
                         visited_at=body["visited_at"], lon=body["lon"], lat=body["lat"],
                         kind=body["kind"], outcome=body["outcome"], note=body["note"],
                         checks=body.get("checks"))
    stamp_visit(conn(), visit["id"], body.get("client_id"), user.id)
    visit["client_id"] = str(body["client_id"]) if body.get("client_id") else None
    if "harm_signs" in visit["flags"]:
        visit["report_id"] = _harm_report(body, visit)
    audit.record(conn(), user, "create", "visit", visit["id"], ip=client_ip(),
                 detail={"child_id": body["child_id"], "flags": visit["flags"]})
    return access.redact_visit(visit, user.role)


def _harm_report(body: dict, visit: dict) -> int:
    """Signs of harm seen on a visit open a discovery report (发现报告, severity
    ``serious``: the township must accept it), in the same transaction as the visit."""
    from geo.cases.reports import create_report

    user = current_user()
    detail = (body.get("checks") or {}).get("harm_detail")
    rid = create_report(conn(), {
        "source": "grid_worker", "harm": "abuse", "severity": "serious",
        "child_id": body["child_id"], "reported_at": body["visited_at"],
        "lon": body["lon"], "lat": body["lat"],
        "description": "走访发现受侵害迹象" + (f"：{detail}" if detail else "")
                       + f"（走访记录 {visit['id']}）"}, config(), user)
    audit.record(conn(), user, "create", "report", rid, ip=client_ip(),
                 detail={"severity": "serious", "source": "grid_worker",
                         "visit_id": visit["id"]})
    return rid


@bp.delete("/api/visits/<int:visit_id>")
@login_required(*WRITERS)
@bp.output(AnyObject)
@bp.doc(summary="Take back a visit you recorded, within visit_undo_minutes (audited)",
        responses={404: "not yours or no such visit", 409: "the undo window has passed"},
        security="BearerAuth")
def delete_visit(visit_id):
    user = current_user()
    gone = undo_visit(conn(), config()["rules"], visit_id, user.id)
    audit.record(conn(), user, "delete", "visit", visit_id, ip=client_ip(),
                 detail={"child_id": gone["child_id"], "visited_at": gone["visited_at"],
                         "kind": gone["kind"]})
    return {"deleted": gone}


@bp.get("/api/children/<int:child_id>/visits")
@login_required(*PERSON)
@bp.output(ListOut)
@bp.doc(summary="A child's visits, newest first (flagged ones marked)", security="BearerAuth")
def visits_of(child_id):
    child_or_404(child_id)
    role = current_user().role
    items = [access.redact_visit(v, role) for v in child_visits(conn(), child_id)]
    audit.record(conn(), current_user(), "read", "child_visits", child_id, ip=client_ip())
    return {"items": items, "next": None}

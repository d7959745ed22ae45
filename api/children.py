"""Children: list and read (area-scoped, redacted by role, every read audited), and the
overdue list."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import current_app

from api.auth import client_ip, current_user, login_required
from api.db import conn
from api.paging import next_link, scope_id
from api.schemas import AnyObject, ChildrenQuery, ListOut, OverdueQuery
from geo import access, audit
from geo.children import find_child, find_children
from geo.errors import NotFound
from geo.records import household_in_scope
from geo.visits import due_visits

bp = APIBlueprint("children", __name__, tag="children")
PERSON = tuple(sorted(access.PERSON_ROLES))


def audit_denied(resource: str, resource_id) -> None:
    """A record read that answered 404 (no such record, or one outside the user's area)
    goes to the audit log as ``read_denied`` on its own transaction: the request's own
    is rolled back with the error."""
    from api.app import engine_for

    with engine_for(current_app).begin() as c:
        audit.record(c, current_user(), "read_denied", resource, resource_id,
                     ip=client_ip())


def child_or_404(child_id: int) -> dict:
    """The child if it lies in the user's area; NotFound otherwise (no existence leak),
    with the probe audited."""
    try:
        return find_child(conn(), child_id, current_user().unit_id)
    except NotFound:
        audit_denied("child", child_id)
        raise


def household_or_404(household_id: int, scope_id: int) -> dict:
    """The household if it lies under ``scope_id``; NotFound otherwise, audited."""
    try:
        return household_in_scope(conn(), household_id, scope_id)
    except NotFound:
        audit_denied("household", household_id)
        raise


def _out(row: dict) -> dict:
    out = access.redact_child(row, current_user().role)
    out["birth_date"] = out["birth_date"].isoformat()
    out["registered_on"] = out["registered_on"].isoformat()
    return out


@bp.get("/api/children")
@login_required(*PERSON)
@bp.input(ChildrenQuery, location="query", arg_name="q")
@bp.output(ListOut)
@bp.doc(summary="Children in your area, filtered by unit, category and risk",
        security="BearerAuth")
def list_children(q):
    user = current_user()
    if q["category"] in access.SENSITIVE_CATEGORIES_FILTER and \
            user.role not in access.SEES_SENSITIVE_CATEGORIES:
        rows = []
    else:
        rows = find_children(conn(), scope_id(q["unit"]), category=q["category"],
                             risk=q["risk"], name=q["name"], limit=q["limit"] + 1,
                             offset=q["offset"])
    more = len(rows) > q["limit"]
    items = [_out(r) for r in rows[: q["limit"]]]
    audit.record(conn(), user, "list", "child", ip=client_ip(),
                 detail={"ids": [r["id"] for r in items], "filters": {
                     k: q[k] for k in ("unit", "category", "risk", "name") if q[k]}})
    return {"items": items, "next": next_link(q, more)}


@bp.get("/api/children/<int:child_id>")
@login_required(*PERSON)
@bp.output(AnyObject)
@bp.doc(summary="One child's record (audited)", responses={404: "no such child in your area"},
        security="BearerAuth")
def get_child(child_id):
    row = child_or_404(child_id)
    audit.record(conn(), current_user(), "read", "child", child_id, ip=client_ip())
    return _out(row)


@bp.get("/api/children/overdue")
@login_required("admin", "supervisor", "grid_head", "grid_worker")
@bp.input(OverdueQuery, location="query", arg_name="q")
@bp.output(ListOut)
@bp.doc(summary="Children overdue for a visit (or due within N days)", security="BearerAuth")
def overdue(q):
    cfg = current_app.config["GRIDMAP"]
    unit = access.unit_in_scope(conn(), current_user().unit_id, q["unit"])
    rows = due_visits(conn(), cfg["rules"], as_of=q["as_of"], unit=unit,
                      within_days=q["within_days"], tz=cfg["timezone"])
    if not q["within_days"]:
        rows = [r for r in rows if r["overdue"]]
    page = rows[q["offset"]: q["offset"] + q["limit"]]
    role = current_user().role
    items = []
    for r in page:
        r = access.redact_child(r, role)
        items.append({k: (v.isoformat() if hasattr(v, "isoformat") else v)
                      for k, v in r.items()})
    audit.record(conn(), current_user(), "list", "child", ip=client_ip(),
                 detail={"ids": [r["child_id"] for r in items], "query": "overdue"})
    more = q["offset"] + q["limit"] < len(rows)
    return {"items": items, "next": next_link(q, more)}

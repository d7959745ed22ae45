"""Children: list and read (area-scoped, redacted by role, every read audited), and the
overdue list."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import current_app

from api.auth import client_ip, current_user, login_required
from api.db import conn
from api.request import child_or_404, child_out, next_link, scope_id
from api.schemas import AnyObject, ChildrenQuery, ListOut, OverdueQuery
from geo import access, audit
from geo.people.children import find_children
from geo.visits.due import due_visits

bp = APIBlueprint("children", __name__, tag="children")
PERSON = access.roles(access.PERSON_ROLES)


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
                             risk=q["risk"], name=q["name"], household_id=q["household"],
                             limit=q["limit"] + 1,
                             offset=q["offset"])
    more = len(rows) > q["limit"]
    items = [child_out(r) for r in rows[: q["limit"]]]
    audit.record(conn(), user, "list", "child", ip=client_ip(),
                 detail={"ids": [r["id"] for r in items], "filters": {
                     k: q[k] for k in ("unit", "category", "risk", "name", "household") if q[k]}})
    return {"items": items, "next": next_link(q, more)}


@bp.get("/api/children/<int:child_id>")
@login_required(*PERSON)
@bp.output(AnyObject)
@bp.doc(summary="One child's record (audited)", responses={404: "no such child in your area"},
        security="BearerAuth")
def get_child(child_id):
    row = child_or_404(child_id)
    audit.record(conn(), current_user(), "read", "child", child_id, ip=client_ip())
    return child_out(row)


@bp.get("/api/children/overdue")
@login_required(*access.roles(access.SEES_DUE_VISITS))
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

"""Record pages behind the map's popups (login required): a child's file, a household,
a facility. The same scoping, field rights and audit as the JSON API: a record outside
the user's area is 404, planners get 403, every child or household page read is in the
audit log."""

from __future__ import annotations

from apiflask import abort
from flask import Blueprint, current_app, redirect, request, url_for

from api.auth import client_ip, current_user
from api.case_pages import case_panel
from api.db import conn
from api.request import child_or_404, household_or_404, lang
from api.security import nonce
from geo import access, audit
from geo.facilities.admin import get_facility
from geo.facilities.placement import child_placements
from geo.people.children import find_children
from geo.visits.due import due_visits
from geo.visits.record import child_visits
from webmap.record import child_page, facility_page, household_page

bp = Blueprint("records_pages", __name__)
HTML = {"Content-Type": "text/html; charset=utf-8"}


def _person_reader():
    """The logged-in user if they may read people's records; a redirect to the login
    otherwise (None and the response)."""
    user = current_user()
    if user is None:
        return None, redirect(url_for("auth.login", next=request.full_path))
    if user.role not in access.PERSON_ROLES:
        abort(403, f"the {user.role} role does not read individual records")
    return user, None


@bp.get("/record/child/<int:child_id>")
def child(child_id):
    user, login = _person_reader()
    if login:
        return login
    cfg = current_app.config["GRIDMAP"]
    row = child_or_404(child_id)
    due = next((d for d in due_visits(conn(), cfg["rules"], unit=row["cell_code"],
                                      tz=cfg["timezone"]) if d["child_id"] == child_id), None)
    visits = [access.redact_visit(v, user.role) for v in child_visits(conn(), child_id, 50)]
    audit.record(conn(), user, "read", "child", child_id, ip=client_ip(),
                 detail={"page": "record"})
    panel, data = case_panel(user, row) if lang() == "zh" else ("", {})
    page = child_page(cfg, lang(), access.redact_child(row, user.role), due, visits,
                      child_placements(conn(), child_id), nonce(), panel=panel, data=data,
                      editable=user.role in access.WRITES_RECORDS)
    return page, 200, HTML


@bp.get("/record/household/<int:household_id>")
def household(household_id):
    user, login = _person_reader()
    if login:
        return login
    hh = household_or_404(household_id, user.unit_id)
    kids = find_children(conn(), user.unit_id, household_id=household_id)
    audit.record(conn(), user, "read", "household", household_id, ip=client_ip(),
                 detail={"page": "record", "children": [k["id"] for k in kids]})
    page = household_page(current_app.config["GRIDMAP"], lang(), hh,
                          [access.redact_child(k, user.role) for k in kids], nonce(),
                          editable=user.role in access.WRITES_RECORDS)
    return page, 200, HTML


@bp.get("/record/facility/<int:facility_id>")
def facility(facility_id):
    user = current_user()
    if user is None:
        return redirect(url_for("auth.login", next=request.full_path))
    page = facility_page(current_app.config["GRIDMAP"], lang(),
                         get_facility(conn(), facility_id), nonce())
    return page, 200, HTML

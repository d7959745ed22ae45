"""Referrals (转介) to departments: send one (grid heads, supervisors), list and read
them (the area's record writers; a department user only those sent to its department,
with the minimum fields of the child, 404 for any other), and the department's answers
(accept, decline with a reason, done with what was done). Every read and status change
is audited. The queries are in geo/cases/referrals.py."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema, fields
from apiflask.validators import Length, OneOf, Range

from api.auth import client_ip, current_user, login_required
from api.db import conn
from api.request import audit_denied, config, json_safe, next_link, scope_id
from api.schemas import AnyObject, ListOut, Page
from geo import access, audit, vocab
from geo.cases import referrals
from geo.errors import NotFound
from geo.scope import today

bp = APIBlueprint("referrals", __name__, tag="referrals")
ANSWERERS = access.roles(access.ANSWERS_REFERRALS)


class ReferralIn(Schema):
    child_id = fields.Integer(required=True, validate=Range(1, 2**31 - 1))
    department = fields.String(required=True, validate=OneOf(list(vocab.DEPARTMENTS)))
    service = fields.String(required=True, validate=Length(1, 200), metadata={
        "description": "the service asked for (e.g. 复学安置, 心理疏导)"})
    due_on = fields.Date(required=True)
    note = fields.String(load_default=None, validate=Length(0, 2000))


class ReferralsQuery(Page):
    unit = fields.String(load_default=None, validate=Length(1, 32))
    status = fields.String(load_default="all",
                           validate=OneOf(["all", "open", *vocab.REFERRAL_STATUSES]))
    overdue = fields.Boolean(load_default=False)
    child_id = fields.Integer(load_default=None, validate=Range(1, 2**31 - 1))


class NoteIn(Schema):
    note = fields.String(load_default=None, validate=Length(0, 2000))


class DeclineIn(Schema):
    reason = fields.String(load_default=None, validate=Length(0, 2000),
                           metadata={"description": "required"})


class DoneIn(Schema):
    outcome = fields.String(load_default=None, validate=Length(0, 2000),
                            metadata={"description": "what was done (required)"})


def _day():
    return today(config()["timezone"])


def _detail(referral_id: int) -> dict:
    user = current_user()
    try:
        row = referrals.find(conn(), referral_id, user, user.unit_id, _day())
    except NotFound:
        audit_denied("referral", referral_id)
        raise
    return json_safe(referrals.shape(row, user))


@bp.post("/api/referrals")
@login_required(*access.roles(access.SENDS_REFERRALS))
@bp.input(ReferralIn, arg_name="body")
@bp.output(AnyObject, status_code=201)
@bp.doc(summary="Refer a child's need to a department", security="BearerAuth")
def send(body):
    user = current_user()
    rid = referrals.send(conn(), body, user.unit_id, user)
    audit.record(conn(), user, "create", "referral", rid, ip=client_ip(),
                 detail={"child_id": body["child_id"], "department": body["department"]})
    return _detail(rid)


@bp.get("/api/referrals")
@login_required(*access.roles(access.READS_REFERRALS))
@bp.input(ReferralsQuery, location="query", arg_name="q")
@bp.output(ListOut)
@bp.doc(summary="Referrals in your area (a department: those sent to it), by due date",
        security="BearerAuth")
def listing(q):
    user = current_user()
    rows = referrals.listing(conn(), user, scope_id(q["unit"]),
                             status=None if q["status"] == "all" else q["status"],
                             overdue=q["overdue"], child_id=q["child_id"], day=_day(),
                             limit=q["limit"] + 1, offset=q["offset"])
    items = [referrals.shape(r, user) for r in rows[: q["limit"]]]
    audit.record(conn(), user, "list", "referral", ip=client_ip(),
                 detail={"ids": [r["id"] for r in items]})
    return {"items": json_safe(items), "next": next_link(q, len(rows) > q["limit"])}


@bp.get("/api/referrals/<int:referral_id>")
@login_required(*access.roles(access.READS_REFERRALS))
@bp.output(AnyObject)
@bp.doc(summary="One referral with its history", security="BearerAuth",
        responses={404: "no such referral for you"})
def get_referral(referral_id):
    out = _detail(referral_id)
    audit.record(conn(), current_user(), "read", "referral", referral_id, ip=client_ip())
    return out


def _act(referral_id: int, action: str, text: str | None) -> dict:
    user = current_user()
    try:
        moved = referrals.act(conn(), referral_id, user, user.unit_id, action, text)
    except NotFound:
        audit_denied("referral", referral_id)
        raise
    audit.record(conn(), user, action, "referral", referral_id, ip=client_ip(),
                 detail={**moved, "text": text})
    return _detail(referral_id)


@bp.post("/api/referrals/<int:referral_id>/accept")
@login_required(*ANSWERERS)
@bp.input(NoteIn, arg_name="body")
@bp.output(AnyObject)
@bp.doc(summary="Accept a referral sent to your department", security="BearerAuth",
        responses={404: "no such referral for you", 409: "not sent"})
def accept(referral_id, body):
    return _act(referral_id, "accept", body["note"])


@bp.post("/api/referrals/<int:referral_id>/decline")
@login_required(*ANSWERERS)
@bp.input(DeclineIn, arg_name="body")
@bp.output(AnyObject)
@bp.doc(summary="Decline a referral (reason required)", security="BearerAuth",
        responses={404: "no such referral for you", 409: "not open"})
def decline(referral_id, body):
    return _act(referral_id, "decline", body["reason"])


@bp.post("/api/referrals/<int:referral_id>/done")
@login_required(*ANSWERERS)
@bp.input(DoneIn, arg_name="body")
@bp.output(AnyObject)
@bp.doc(summary="Report an accepted referral done (what was done, required)",
        security="BearerAuth", responses={404: "no such referral for you",
                                          409: "not accepted"})
def done(referral_id, body):
    return _act(referral_id, "done", body["outcome"])

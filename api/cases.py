"""The case loop (issue 15): a child's case status and history and the actions that move
it, the children about to turn 18, assessments and their approval. Area-scoped like
children (404 outside the user's area); every read and change is audited. The queries
and rules are in geo/cases/lifecycle.py."""

from __future__ import annotations

import datetime as dt

from apiflask import APIBlueprint, Schema, fields
from apiflask.validators import Length, OneOf, Range

from api.auth import client_ip, current_user, login_required
from api.db import conn
from api.request import config, json_safe, next_link, scope_id
from api.schemas import AnyObject, AsOfQuery, ListOut, Page, plausible_month
from geo import access, audit, vocab
from geo.cases import lifecycle as cases
from geo.errors import Forbidden
from geo.reporting import case_monthly as case_report
from geo.scope import parse_date

bp = APIBlueprint("cases", __name__, tag="cases")


class CaseActionIn(Schema):
    action = fields.String(required=True, validate=OneOf(list(vocab.CASE_ACTIONS)))
    reason = fields.String(load_default=None, validate=OneOf(list(vocab.CLOSE_REASONS)),
                           metadata={"description": "required to close"})
    destination = fields.String(load_default=None, validate=Length(6, 6), metadata={
        "description": "destination county code (6 digits), with reason moved_away"})
    note = fields.String(load_default=None, validate=Length(0, 2000))


class TurningQuery(AsOfQuery, Page):
    within_days = fields.Integer(load_default=60, validate=Range(0, 366))


class AssessmentIn(Schema):
    answers = fields.Dict(keys=fields.String(validate=Length(1, 32)),
                          values=fields.Integer(validate=Range(0, 2)), required=True,
                          metadata={"description": "each configured item "
                                    "(cases.assessment_items): 0, 1 or 2"})
    note = fields.String(load_default=None, validate=Length(0, 2000))


def _uid() -> int:
    return current_user().unit_id


@bp.get("/api/children/<int:child_id>/case")
@login_required(*access.roles(access.READS_CASES))
@bp.output(AnyObject)
@bp.doc(summary="A child's case status and its history", security="BearerAuth",
        responses={404: "no such child in your area"})
def get_case(child_id):
    out = cases.case(conn(), child_id, _uid())
    audit.record(conn(), current_user(), "read", "case", child_id, ip=client_ip())
    return json_safe(out)


@bp.post("/api/children/<int:child_id>/case")
@login_required(*access.roles(access.MOVES_CASES))
@bp.input(CaseActionIn, arg_name="body")
@bp.output(AnyObject)
@bp.doc(summary="Move a child's case: assess, support, monitor, close (reason required; "
                "supervisors) or reopen (supervisors)", security="BearerAuth",
        responses={409: "the action does not apply to the case's status"})
def move(child_id, body):
    user = current_user()
    if body["action"] in ("close", "reopen") and user.role not in access.CLOSES_CASES:
        raise Forbidden("结案和重新开案须由督导员办理", field="action")
    moved = cases.move_case(conn(), child_id, _uid(), user, body["action"],
                            reason=body["reason"], destination=body["destination"],
                            note=body["note"])
    audit.record(conn(), user, body["action"], "case", child_id, ip=client_ip(),
                 detail={**moved, "action": body["action"], "reason": body["reason"]})
    return json_safe(cases.case(conn(), child_id, _uid()))


@bp.get("/api/cases/turning-18")
@login_required(*access.roles(access.READS_CASES))
@bp.input(TurningQuery, location="query", arg_name="q")
@bp.output(ListOut)
@bp.doc(summary="Open cases of children turning 18 within N days (or already 18)",
        security="BearerAuth")
def turning_18(q):
    as_of = parse_date(q["as_of"], "as_of", config()["timezone"])
    rows = cases.turning_18(conn(), scope_id(q["unit"]), as_of, q["within_days"])
    page = rows[q["offset"]: q["offset"] + q["limit"]]
    audit.record(conn(), current_user(), "list", "child", ip=client_ip(),
                 detail={"ids": [r["child_id"] for r in page], "query": "turning_18"})
    return {"items": json_safe(page), "next": next_link(q, q["offset"] + q["limit"] < len(rows))}


@bp.get("/api/children/<int:child_id>/assessments")
@login_required(*access.roles(access.READS_CASES))
@bp.output(ListOut)
@bp.doc(summary="A child's assessments, newest first", security="BearerAuth",
        responses={404: "no such child in your area"})
def list_assessments(child_id):
    rows = cases.assessments(conn(), child_id, _uid())
    audit.record(conn(), current_user(), "list", "assessment", child_id, ip=client_ip())
    return {"items": json_safe(rows), "next": None}


@bp.post("/api/children/<int:child_id>/assessments")
@login_required(*access.roles(access.TAKES_ASSESSMENTS))
@bp.input(AssessmentIn, arg_name="body")
@bp.output(AnyObject, status_code=201)
@bp.doc(summary="Take an assessment: the scored items propose a risk level (changed only "
                "when a supervisor approves)", security="BearerAuth")
def add_assessment(child_id, body):
    aid = cases.add_assessment(conn(), config(), child_id, _uid(), current_user(),
                               body["answers"], body["note"])
    audit.record(conn(), current_user(), "create", "assessment", aid, ip=client_ip(),
                 detail={"child_id": child_id})
    return json_safe(cases.find_assessment(conn(), aid, _uid()))


class QueueQuery(Page):
    unit = fields.String(load_default=None, validate=Length(1, 32))
    status = fields.String(load_default="proposed",
                           validate=OneOf(["all", *vocab.ASSESSMENT_STATUSES]))


@bp.get("/api/assessments")
@login_required(*access.roles(access.APPROVES_ASSESSMENTS))
@bp.input(QueueQuery, location="query", arg_name="q")
@bp.output(ListOut)
@bp.doc(summary="Assessments in your area waiting for approval (or all), oldest first",
        security="BearerAuth")
def queue(q):
    status = None if q["status"] == "all" else q["status"]
    rows = cases.assessment_queue(conn(), scope_id(q["unit"]), status, q["limit"] + 1,
                                  q["offset"])
    items = rows[: q["limit"]]
    audit.record(conn(), current_user(), "list", "assessment", ip=client_ip(),
                 detail={"ids": [r["id"] for r in items], "status": q["status"]})
    return {"items": json_safe(items), "next": next_link(q, len(rows) > q["limit"])}


@bp.post("/api/assessments/<int:assessment_id>/approve")
@login_required(*access.roles(access.APPROVES_ASSESSMENTS))
@bp.output(AnyObject)
@bp.doc(summary="Approve an assessment: the child's risk level (so the visit interval) "
                "becomes the proposed one", security="BearerAuth",
        responses={404: "no such assessment in your area", 409: "already approved"})
def approve(assessment_id):
    out = cases.approve_assessment(conn(), assessment_id, _uid(), current_user())
    audit.record(conn(), current_user(), "approve", "assessment", assessment_id,
                 ip=client_ip(), detail={"child_id": out["child_id"],
                                         "risk_level": out["proposed_risk"],
                                         "previous": out["previous_risk"]})
    return json_safe(out)


# -- guardians and supports ----------------------------------------------------------------
class GuardianIn(Schema):
    relation = fields.String(required=True, validate=OneOf(list(vocab.GUARDIAN_RELATIONS)))
    name = fields.String(required=True, validate=Length(1, 100))
    phone = fields.String(load_default=None, validate=Length(0, 40))
    lives_with_child = fields.Boolean(load_default=False)
    able_to_care = fields.Boolean(load_default=True)
    appointed_carer = fields.Boolean(load_default=False, metadata={
        "description": "the appointed carer (委托监护人) of a left-behind child"})
    unavailable_until = fields.Date(load_default=None, metadata={
        "description": "last day the guardian cannot care (with unavailable_reason)"})
    unavailable_reason = fields.String(load_default=None,
                                       validate=OneOf(list(vocab.UNAVAILABLE_REASONS)))


class DayQuery(Schema):
    as_of = fields.Date(load_default=None, metadata={"description": "default: today"})


class NoGuardianQuery(AsOfQuery, Page):
    pass


class SupportIn(Schema):
    type = fields.String(required=True, validate=OneOf(list(vocab.SUPPORT_TYPES)))
    amount = fields.Float(load_default=None, validate=Range(0, 10_000_000),
                          metadata={"description": "yuan (a month, for allowances)"})
    start_on = fields.Date(required=True)
    end_on = fields.Date(load_default=None)
    granted_by = fields.String(required=True, validate=Length(1, 200))
    guardian_id = fields.Integer(load_default=None, validate=Range(1, 2**31 - 1), metadata={
        "description": "the support ends when this guardian is available again"})
    note = fields.String(load_default=None, validate=Length(0, 2000))


def _day(value) -> dt.date:
    return parse_date(value, "as_of", config()["timezone"])


def _money(rows: list[dict]) -> list[dict]:
    return [{**r, "amount": None if r.get("amount") is None else float(r["amount"])}
            for r in rows]


@bp.get("/api/children/<int:child_id>/guardians")
@login_required(*access.roles(access.READS_GUARDIANS))
@bp.input(DayQuery, location="query", arg_name="q")
@bp.output(ListOut)
@bp.doc(summary="A child's guardians, effective or not on the day (names and phones by "
                "role)", security="BearerAuth", responses={404: "no such child in your area"})
def list_guardians(child_id, q):
    user = current_user()
    rows = cases.guardians(conn(), child_id, _uid(), _day(q["as_of"]))
    placing = user.role in access.SEES_GUARDIAN_CONTACT_WHEN_PLACING and \
        cases.is_placed(conn(), child_id)
    items = [access.redact_guardian(r, user.role, placing) for r in rows]
    audit.record(conn(), user, "list", "guardian", child_id, ip=client_ip())
    return {"items": json_safe(items), "next": None}


@bp.post("/api/children/<int:child_id>/guardians")
@login_required(*access.roles(access.WRITES_GUARDIANS))
@bp.input(GuardianIn, arg_name="body")
@bp.output(AnyObject, status_code=201)
@bp.doc(summary="Record a guardian or appointed carer", security="BearerAuth")
def add_guardian(child_id, body):
    gid = cases.add_guardian(conn(), child_id, _uid(), current_user(), body)
    audit.record(conn(), current_user(), "create", "guardian", gid, ip=client_ip(),
                 detail={"child_id": child_id, "relation": body["relation"]})
    rows = cases.guardians(conn(), child_id, _uid(), _day(None))
    return json_safe(next(r for r in rows if r["id"] == gid))


@bp.patch("/api/children/<int:child_id>/guardians/<int:guardian_id>")
@login_required(*access.roles(access.WRITES_GUARDIANS))
@bp.input(GuardianIn, arg_name="body")
@bp.output(AnyObject)
@bp.doc(summary="Edit a guardian (all fields, as when recording one; e.g. clear "
                "unavailable_until when a parent is back)", security="BearerAuth",
        responses={404: "no such child in your area, or no such guardian of the child"})
def edit_guardian(child_id, guardian_id, body):
    old = cases.update_guardian(conn(), child_id, guardian_id, _uid(), body)
    audit.record(conn(), current_user(), "update", "guardian", guardian_id, ip=client_ip(),
                 detail={"child_id": child_id, "before": json_safe(old)})
    rows = cases.guardians(conn(), child_id, _uid(), _day(None))
    return json_safe(next(r for r in rows if r["id"] == guardian_id))


@bp.get("/api/cases/no-guardian")
@login_required(*access.roles(access.READS_CASES))
@bp.input(NoGuardianQuery, location="query", arg_name="q")
@bp.output(ListOut)
@bp.doc(summary="Open cases with no effective guardian on the day", security="BearerAuth")
def no_guardian(q):
    rows = cases.without_guardian(conn(), scope_id(q["unit"]), _day(q["as_of"]))
    page = rows[q["offset"]: q["offset"] + q["limit"]]
    audit.record(conn(), current_user(), "list", "child", ip=client_ip(),
                 detail={"ids": [r["child_id"] for r in page], "query": "no_guardian"})
    return {"items": json_safe(page), "next": next_link(q, q["offset"] + q["limit"] < len(rows))}


@bp.get("/api/children/<int:child_id>/supports")
@login_required(*access.roles(access.READS_SUPPORT))
@bp.input(DayQuery, location="query", arg_name="q")
@bp.output(ListOut)
@bp.doc(summary="A child's supports (帮扶), active or not on the day", security="BearerAuth",
        responses={404: "no such child in your area"})
def list_supports(child_id, q):
    rows = cases.supports(conn(), child_id, _uid(), _day(q["as_of"]))
    audit.record(conn(), current_user(), "list", "support", child_id, ip=client_ip())
    return {"items": json_safe(_money(rows)), "next": None}


@bp.post("/api/children/<int:child_id>/supports")
@login_required(*access.roles(access.RECORDS_SUPPORT))
@bp.input(SupportIn, arg_name="body")
@bp.output(AnyObject, status_code=201)
@bp.doc(summary="Record a support; overlapping exclusive allowances are refused (409, "
                "the rule named)", security="BearerAuth",
        responses={409: "exclusive_allowance: overlaps another allowance of the rule"})
def add_support(child_id, body):
    sid = cases.add_support(conn(), config(), child_id, _uid(), current_user(), body)
    audit.record(conn(), current_user(), "create", "support", sid, ip=client_ip(),
                 detail={"child_id": child_id, "type": body["type"]})
    rows = cases.supports(conn(), child_id, _uid(), _day(None))
    return json_safe(_money([r for r in rows if r["id"] == sid])[0])


# -- the monthly report: case figures per unit, submissions ------------------------------
class MonthQuery(Schema):
    month = fields.String(required=True, validate=plausible_month,
                          metadata={"description": "YYYY-MM"})
    unit = fields.String(load_default=None, validate=Length(1, 32))


class SubmitIn(Schema):
    month = fields.String(required=True, validate=plausible_month)
    unit = fields.String(load_default=None, validate=Length(1, 32),
                         metadata={"description": "village or township code (default: "
                                                  "your own unit)"})


@bp.get("/api/cases/monthly")
@login_required(*access.roles(access.READS_CASE_REPORT))
@bp.input(MonthQuery, location="query", arg_name="q")
@bp.output(AnyObject)
@bp.doc(summary="The case loop's monthly figures per township (county) or village "
                "(township), and which units submitted their report by the due day",
        security="BearerAuth")
def monthly(q):
    unit = access.unit_in_scope(conn(), _uid(), q["unit"])
    out = case_report.monthly_case_figures(conn(), config(), unit, q["month"],
                                           config()["timezone"])
    audit.record(conn(), current_user(), "export", "case_report", unit, ip=client_ip(),
                 detail={"month": q["month"]})
    return json_safe(out)


@bp.post("/api/cases/monthly/submit")
@login_required(*access.roles(access.SUBMITS_MONTHLY_REPORT))
@bp.input(SubmitIn, arg_name="body")
@bp.output(AnyObject, status_code=201)
@bp.doc(summary="Mark a village's or township's monthly report submitted (who, when)",
        security="BearerAuth", responses={409: "already submitted"})
def submit(body):
    user = current_user()
    code = body["unit"] or user.unit_code
    out = case_report.submit(conn(), user, code, body["month"], _uid())
    audit.record(conn(), user, "create", "report_submission", code, ip=client_ip(),
                 detail={"month": body["month"]})
    return json_safe(out)

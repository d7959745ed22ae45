"""Discovery reports (发现报告): file one, the inbox by deadline, one report with its
history and placements, and the actions (accept, escalate, close, merge). Area-scoped
like children (404 outside the user's area); planners get counts per unit only, small
counts hidden. Every read and every action is in the audit log. The queries are in
geo/cases/reports.py."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema, fields
from apiflask.validators import Length, OneOf, Range

from api.auth import client_ip, current_user, login_required
from api.db import conn
from api.request import config, json_safe, next_link, scope_id
from api.schemas import AnyObject, ListOut
from geo import access, audit, vocab
from geo.cases import reports
from geo.grid.chinacrs import CRS_NAMES

bp = APIBlueprint("reports", __name__, tag="reports")
FILERS = tuple(sorted(access.FILES_REPORTS))
HANDLERS = tuple(sorted(access.HANDLES_REPORTS))
COUNTERS = tuple(sorted(access.COUNTS_REPORTS))
COUNT_KEYS = ("open_reports", "waiting", "overdue", "urgent")


class ReportIn(Schema):
    source = fields.String(required=True, validate=Length(1, 32), metadata={
        "description": "one of the configured sources (reports.sources)"})
    reporter_name = fields.String(load_default=None, validate=Length(0, 100))
    reporter_phone = fields.String(load_default=None, validate=Length(0, 40))
    reporter_org = fields.String(load_default=None, validate=Length(0, 200))
    reported_at = fields.AwareDateTime(load_default=None, metadata={
        "description": "when the report came in (default: now); the deadline counts from it"})
    lon = fields.Float(load_default=None, validate=Range(-180, 180))
    lat = fields.Float(load_default=None, validate=Range(-90, 90))
    crs = fields.String(load_default="wgs84", validate=OneOf(list(CRS_NAMES)))
    address = fields.String(load_default=None, validate=Length(1, 300))
    village = fields.String(load_default=None, validate=Length(1, 32), metadata={
        "description": "village code, for a report placed by address"})
    child_id = fields.Integer(load_default=None, validate=Range(1, 2**31 - 1))
    child_name = fields.String(load_default=None, validate=Length(1, 100))
    child_sex = fields.String(load_default=None, validate=OneOf(list(vocab.SEXES)))
    child_age = fields.Integer(load_default=None, validate=Range(0, 17))
    child_disability = fields.Boolean(load_default=None)
    harm = fields.String(required=True, validate=OneOf(list(vocab.REPORT_HARMS)))
    severity = fields.String(required=True, validate=OneOf(list(vocab.REPORT_SEVERITIES)))
    description = fields.String(required=True, validate=Length(1, 4000))


class ReportsQuery(Schema):
    status = fields.String(load_default="open", validate=OneOf(
        ["open", "all", *vocab.REPORT_STATUSES]))
    level = fields.String(load_default=None, validate=OneOf(["all", *vocab.REPORT_LEVELS]),
                          metadata={"description": "default: your own unit's level"})
    unit = fields.String(load_default=None, validate=Length(1, 32))
    limit = fields.Integer(load_default=50, validate=Range(1, 500))
    offset = fields.Integer(load_default=0, validate=Range(0, 10_000_000))


class CountsQuery(Schema):
    unit = fields.String(load_default=None, validate=Length(1, 32))
    by = fields.String(load_default=None, validate=OneOf(["county", "township", "village"]))


class NoteIn(Schema):
    note = fields.String(load_default=None, validate=Length(0, 2000))


class CloseIn(NoteIn):
    outcome = fields.String(load_default=None, validate=OneOf(list(vocab.REPORT_OUTCOMES)))


class MergeIn(NoteIn):
    into = fields.Integer(required=True, validate=Range(1, 2**31 - 1))


def _out(row: dict) -> dict:
    return json_safe(reports.redact(row, current_user().role, access.SEES_REPORTER))


def _level_of(user) -> str:
    # A city user answers at the county level (the highest a report climbs).
    return {"cell": "village", "city": "county"}.get(user.unit_level, user.unit_level)


@bp.post("/api/reports")
@login_required(*FILERS)
@bp.input(ReportIn, arg_name="body")
@bp.output(AnyObject, status_code=201)
@bp.doc(summary="File a discovery report; routed to a level by severity",
        security="BearerAuth")
def create(body):
    user = current_user()
    rid = reports.create_report(conn(), body, config(), user)
    audit.record(conn(), user, "create", "report", rid, ip=client_ip(),
                 detail={"severity": body["severity"], "source": body["source"]})
    return _detail(rid)


def _detail(report_id: int) -> dict:
    row = reports.find_report(conn(), report_id, current_user().unit_id)
    row["history"] = reports.history(conn(), report_id)
    row["placements"] = reports.placements(conn(), report_id)
    return _out(row)


@bp.get("/api/reports")
@login_required(*HANDLERS)
@bp.input(ReportsQuery, location="query", arg_name="q")
@bp.output(ListOut)
@bp.doc(summary="Inbox: reports waiting at your level in your area, oldest deadline first",
        security="BearerAuth")
def inbox(q):
    user = current_user()
    level = _level_of(user) if q["level"] is None else (None if q["level"] == "all"
                                                         else q["level"])
    rows = reports.inbox(conn(), scope_id(q["unit"]), level=level, status=q["status"],
                         limit=q["limit"] + 1, offset=q["offset"])
    items = [_out(r) for r in rows[: q["limit"]]]
    audit.record(conn(), user, "list", "report", ip=client_ip(), detail={
        "ids": [r["id"] for r in items],
        "filters": {"status": q["status"], "level": level, "unit": q["unit"]}})
    return {"items": items, "next": next_link(q, len(rows) > q["limit"])}


@bp.get("/api/reports/counts")
@login_required(*COUNTERS)
@bp.input(CountsQuery, location="query", arg_name="q")
@bp.output(AnyObject)
@bp.doc(summary="Open reports per unit (planners: small counts hidden)",
        security="BearerAuth")
def report_counts(q):
    user = current_user()
    sid = scope_id(q["unit"])
    by = q["by"] or {"city": "county", "county": "township"}.get(user.unit_level, "village")
    items = reports.counts(conn(), sid, by)
    out = {"by": by, "items": items}
    if access.aggregates_only(user.role):
        out["items"] = suppress(items, int(config()["rules"]["suppress_below"]))
    else:
        out["waiting_for_you"] = reports.waiting_for(conn(), user.unit_id)
    audit.record(conn(), user, "list", "report_counts", ip=client_ip(),
                 detail={"unit": q["unit"], "by": by})
    return out


def suppress(items: list[dict], threshold: int) -> list[dict]:
    """Counts from 1 to ``threshold - 1`` become None (the shared planner rule)."""
    return [{k: (None if k in COUNT_KEYS and isinstance(v, int) and 0 < v < threshold else v)
             for k, v in item.items()} for item in items]


@bp.get("/api/reports/<int:report_id>")
@login_required(*HANDLERS)
@bp.output(AnyObject)
@bp.doc(summary="One report with its history (and that of reports merged into it) and "
                "its placements", responses={404: "no such report in your area"},
        security="BearerAuth")
def get_report(report_id):
    out = _detail(report_id)
    audit.record(conn(), current_user(), "read", "report", report_id, ip=client_ip())
    return out


def _action(report_id: int, action: str, run, detail: dict | None = None) -> dict:
    run()
    audit.record(conn(), current_user(), action, "report", report_id, ip=client_ip(),
                 detail=detail)
    return _detail(report_id)


@bp.post("/api/reports/<int:report_id>/accept")
@login_required(*HANDLERS)
@bp.input(NoteIn, arg_name="body")
@bp.output(AnyObject)
@bp.doc(summary="Accept a report waiting at your level",
        responses={409: "not_new or not_your_level"}, security="BearerAuth")
def accept(report_id, body):
    return _action(report_id, "accept", lambda: reports.accept(
        conn(), report_id, current_user(), body["note"]))


@bp.post("/api/reports/<int:report_id>/escalate")
@login_required(*HANDLERS)
@bp.input(NoteIn, arg_name="body")
@bp.output(AnyObject)
@bp.doc(summary="Hand a report up one level", responses={409: "top_level or not_open"},
        security="BearerAuth")
def escalate(report_id, body):
    return _action(report_id, "escalate", lambda: reports.escalate(
        conn(), report_id, current_user(), config(), body["note"]))


@bp.post("/api/reports/<int:report_id>/close")
@login_required(*HANDLERS)
@bp.input(CloseIn, arg_name="body")
@bp.output(AnyObject)
@bp.doc(summary="Close a report with an outcome (required)", security="BearerAuth")
def close(report_id, body):
    return _action(report_id, "close", lambda: reports.close(
        conn(), report_id, current_user(), body["outcome"], body["note"]),
        {"outcome": body["outcome"]})


@bp.post("/api/reports/<int:report_id>/merge")
@login_required(*HANDLERS)
@bp.input(MergeIn, arg_name="body")
@bp.output(AnyObject)
@bp.doc(summary="Merge a report into another about the same child (both histories kept)",
        responses={409: "different_child or not_open"}, security="BearerAuth")
def merge(report_id, body):
    reports.merge(conn(), report_id, body["into"], current_user(), body["note"])
    audit.record(conn(), current_user(), "merge", "report", report_id, ip=client_ip(),
                 detail={"into": body["into"]})
    return _detail(body["into"])

"""Ledger imports (admin and supervisor), exports (audited, as the role may see them)
and the monthly report."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from apiflask import APIBlueprint, Schema, abort, fields
from apiflask.validators import OneOf, Range
from flask import Response, current_app, render_template, request

from api.auth import client_ip, current_user, login_required
from api.db import conn, engine_for
from api.request import scope_id
from api.schemas import AnyObject, plausible_month
from geo import access, audit, vocab
from geo.errors import GeoError, InvalidInput
from geo.ledgers.export import LAYER_SQL, layer_file, ledger_xlsx
from geo.ledgers.ledger import COLUMNS, import_ledger, template
from geo.ledgers.messages import wants_english
from geo.local_rules import rules_for_unit
from geo.reporting.monthly import monthly_report, planner_hidden, report_xlsx, suppress_small_counts
from geo.reporting.monthly_cases import (
    case_section,
    planner_case_hidden,
    submission_state,
    suppress_case_section,
)
from geo.scope import find_unit
from geo.store import memory

bp = APIBlueprint("ledgers", __name__, tag="ledgers")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_UPLOAD = 20 * 1024 * 1024


class ImportForm(Schema):
    file = fields.File(required=True)
    kind = fields.String(required=True, validate=OneOf(list(COLUMNS)))
    crs = fields.String(load_default="wgs84", validate=OneOf(["wgs84", "gcj02", "bd09"]))
    dry_run = fields.Boolean(load_default=False)
    strict = fields.Boolean(load_default=False)
    lang = fields.String(load_default=None, validate=OneOf(["zh", "en"]),
                         metadata={"description": "problems in Chinese (default) or English; "
                                                  "without it, Accept-Language decides"})


class KindQuery(Schema):
    kind = fields.String(required=True, validate=OneOf(list(COLUMNS)))
    unit = fields.String(load_default=None)


class LayerQuery(Schema):
    layer = fields.String(required=True, validate=OneOf(list(LAYER_SQL)))
    format = fields.String(load_default="gpkg", validate=OneOf(["gpkg", "geojson"]))
    unit = fields.String(load_default=None)


class ReportQuery(Schema):
    month = fields.String(required=True, validate=plausible_month,
                          metadata={"description": "YYYY-MM, from rules.date_earliest to a "
                                                   "year from today"})
    unit = fields.String(load_default=None)
    format = fields.String(load_default="json", validate=OneOf(["json", "xlsx", "html"]))


def imports_allowed(view):
    """403 for a grid head while the county does not let grid heads import
    (``rules.grid_heads_import``); before the form is read."""
    @functools.wraps(view)
    def inner(*args, **kwargs):
        user = current_user()  # the user's county's own grid_heads_import, if any
        if not access.may_import(user.role, rules_for_unit(
                conn(), current_app.config["GRIDMAP"]["rules"], user.unit_id)):
            abort(403, f"the {current_user().role} role may not import ledgers here "
                       "(本县未允许网格长导入台账)")
        return view(*args, **kwargs)
    return inner


# Large jobs: once the answer has gone out, their memory goes back to the system
# (geo.store.memory; the soak's memory grew in steps with each import and export).
LARGE_JOBS = {"ledgers.import_file", "ledgers.export_ledger", "ledgers.export_layer",
              "ledgers.monthly", "ledgers.compare"}


@bp.after_request
def _give_memory_back(response):
    if request.endpoint in LARGE_JOBS:
        response.call_on_close(memory.release)
    return response


@bp.post("/api/imports")
@login_required(*access.roles(access.IMPORTS_LEDGERS | access.IMPORTS_LEDGERS_IF_ALLOWED))
@imports_allowed
@bp.input(ImportForm, location="form_and_files", arg_name="form")
@bp.output(AnyObject)
@bp.doc(summary="Import a ledger (.xlsx, .xls or .csv); the report lists every bad row",
        security="BearerAuth")
def import_file(form):
    user = current_user()
    attempt = {"kind": form["kind"], "file": (form["file"].filename or "")[:200],
               "crs": form["crs"],
               "dry_run": form["dry_run"], "strict": form["strict"]}
    try:
        report = _import(form, user)
    except Exception as exc:
        # The request's transaction is rolled back with the import's rows; the attempt is
        # audited all the same, in a transaction of its own.
        error = exc.as_dict() if isinstance(exc, GeoError) else {"code": "internal_error"}
        try:
            audit.record_apart(engine_for(current_app), user, "create",
                               f"import_{form['kind']}", ip=client_ip(),
                               detail={**attempt, "failed": True, "error": error})
        except Exception:  # the database is gone: the original error says more
            current_app.logger.exception("could not audit a failed import")
        raise
    audit.record(conn(), user, "create", f"import_{form['kind']}", ip=client_ip(),
                 detail={**attempt, **{k: v for k, v in report.as_dict().items()
                                       if k != "errors"}})
    english = wants_english(form["lang"], request.headers.get("Accept-Language"))
    return report.as_dict("en" if english else "zh")


def _import(form, user):
    upload = form["file"]
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in (".xlsx", ".xls", ".csv"):
        raise InvalidInput("请上传 .xlsx、.xls 或 .csv 文件 (upload an .xlsx, .xls or .csv file)",
                           field="file")
    data = upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise InvalidInput("the file is larger than 20 MB", field="file")
    cfg = current_app.config["GRIDMAP"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        return import_ledger(conn(), path, form["kind"], cfg, role=user.role,
                             scope_id=user.unit_id, crs=form["crs"], dry_run=form["dry_run"],
                             strict=form["strict"])


@bp.get("/api/imports/template")
@login_required(*access.roles(access.EXPORTS_LEDGERS))
@bp.input(KindQuery, location="query", arg_name="q")
@bp.doc(summary="An .xlsx template with the headers and an example row",
        security="BearerAuth", responses={200: {"description": "xlsx",
                                                "content": {XLSX: {}}}})
def import_template(q):
    return Response(template(q["kind"]), mimetype=XLSX, headers={
        "Content-Disposition": f"attachment; filename={q['kind']}_template.xlsx"})


@bp.get("/api/exports/ledger")
@login_required(*access.roles(access.EXPORTS_LEDGERS))
@bp.input(KindQuery, location="query", arg_name="q")
@bp.doc(summary="The ledger of your area as .xlsx (audited)", security="BearerAuth",
        responses={200: {"description": "xlsx", "content": {XLSX: {}}}})
def export_ledger(q):
    cfg = current_app.config["GRIDMAP"]
    data, rows = ledger_xlsx(conn(), q["kind"], scope_id(q["unit"]), current_user().role,
                             cfg["rules"], cfg["timezone"])
    audit.record(conn(), current_user(), "export", f"ledger_{q['kind']}", ip=client_ip(),
                 detail={"rows": rows, "unit": q["unit"]})
    return Response(data, mimetype=XLSX, headers={
        "Content-Disposition": f"attachment; filename={q['kind']}.xlsx"})


@bp.get("/api/exports/layer")
@login_required(*access.roles(access.EVERYONE))
@bp.input(LayerQuery, location="query", arg_name="q")
@bp.doc(summary="A map layer as GeoPackage or GeoJSON (audited)", security="BearerAuth",
        responses={200: {"description": "file", "content": {
            "application/geopackage+sqlite3": {}, "application/geo+json": {}}}})
def export_layer(q):
    data, rows = layer_file(conn(), q["layer"], q["format"], scope_id(q["unit"]),
                            current_user().role,
                            int(current_app.config["GRIDMAP"]["rules"]["suppress_below"]))
    audit.record(conn(), current_user(), "export", f"layer_{q['layer']}", ip=client_ip(),
                 detail={"rows": rows, "format": q["format"],
                         "unit": q["unit"] or current_user().unit_code})
    mime = "application/geopackage+sqlite3" if q["format"] == "gpkg" else \
        "application/geo+json"
    return Response(data, mimetype=mime, headers={
        "Content-Disposition": f"attachment; filename={q['layer']}.{q['format']}"})


@bp.get("/api/reports/monthly")
@login_required(*access.roles(access.READS_MONTHLY_REPORT))
@bp.input(ReportQuery, location="query", arg_name="q")
@bp.doc(summary="The monthly report (每月15日上报) as JSON, .xlsx or printable HTML",
        security="BearerAuth", responses={200: {"description": "report", "content": {
            "application/json": {}, XLSX: {}, "text/html": {}}}})
def monthly(q):
    cfg = current_app.config["GRIDMAP"]
    unit = access.unit_in_scope(conn(), current_user().unit_id, q["unit"])
    report = monthly_report(conn(), cfg["rules"], unit, q["month"], cfg["timezone"])
    if access.aggregates_only(current_user().role):
        threshold = int(cfg["rules"]["suppress_below"])
        report = suppress_small_counts(report, threshold, planner_hidden(
            conn(), cfg["rules"], report, current_user().unit_code, threshold,
            cfg["timezone"]))
    report["cases"] = _case_section(cfg, unit, q["month"])
    audit.record(conn(), current_user(), "export", "monthly_report", unit, ip=client_ip(),
                 detail={"month": q["month"], "format": q["format"]})
    if q["format"] == "xlsx":
        return Response(report_xlsx(report), mimetype=XLSX, headers={
            "Content-Disposition": f"attachment; filename=report_{q['month']}.xlsx"})
    if q["format"] == "html":
        return render_template("report.html", r=report, types=vocab.FACILITY_TYPES,
                               submission_state=submission_state)
    return report


def _case_section(cfg: dict, unit: str, month: str) -> dict:
    """The section 案件与报送: the case figures per unit; for county (or city) users
    looking at a county or a township, the units by submission state; for planners
    with the small counts hidden."""
    user = current_user()
    own = find_unit(conn(), user.unit_code).level
    looked_at = find_unit(conn(), unit).level
    lists = own in ("county", "city") and looked_at in ("county", "township")
    section = case_section(conn(), cfg, unit, month, cfg["timezone"], submissions=lists)
    if access.aggregates_only(user.role):
        threshold = int(cfg["rules"]["suppress_below"])
        hidden = planner_case_hidden(conn(), cfg, month, cfg["timezone"], user.unit_code,
                                     threshold)
        section = suppress_case_section(conn(), section, threshold, hidden, unit,
                                        user.unit_code)
    return section


# -- comparisons with other departments' lists (信息比对) -------------------------------
class CompareForm(Schema):
    file = fields.File(required=True)
    list = fields.String(required=True, validate=OneOf(list(vocab.COMPARISON_LISTS)))
    threshold = fields.Integer(load_default=None, validate=Range(min=50, max=100),
                               metadata={"description": "fuzzy name match threshold "
                                                        "(default 85)"})


class ConfirmBody(Schema):
    proposals = fields.List(fields.Integer(), required=True,
                            metadata={"description": "ids of the proposals to apply"})


class TaskQuery(Schema):
    status = fields.String(load_default="open", validate=OneOf(list(vocab.TASK_STATUSES)))
    kind = fields.String(load_default=None, validate=OneOf(list(vocab.TASK_KINDS)))


@bp.post("/api/comparisons")
@login_required(*sorted(access.COMPARES_LISTS))
@bp.input(CompareForm, location="form_and_files", arg_name="form")
@bp.output(AnyObject)
@bp.doc(summary="Compare a department's list with the children on file (信息比对)",
        security="BearerAuth")
def compare(form):
    from geo.ledgers.compare import compare_list

    user = current_user()
    attempt = {"list": form["list"], "file": (form["file"].filename or "")[:200],
               "threshold": form["threshold"]}
    try:
        with _upload(form["file"]) as path:
            result = compare_list(conn(), path, form["list"], current_app.config["GRIDMAP"],
                                  role=user.role, scope_id=user.unit_id, user_id=user.id,
                                  username=user.username, threshold=form["threshold"])
    except Exception as exc:
        error = exc.as_dict() if isinstance(exc, GeoError) else {"code": "internal_error"}
        try:
            audit.record_apart(engine_for(current_app), user, "create", "comparison",
                               ip=client_ip(), detail={**attempt, "failed": True,
                                                       "error": error})
        except Exception:
            current_app.logger.exception("could not audit a failed comparison")
        raise
    audit.record(conn(), user, "create", "comparison", result.id, ip=client_ip(),
                 detail={**attempt, "sha256": result.sha256, "counts": result.counts})
    return result.as_dict()


@bp.get("/api/comparisons/<int:comparison_id>")
@login_required(*sorted(access.COMPARES_LISTS))
@bp.output(AnyObject)
@bp.doc(summary="A comparison: counts and the proposals waiting for confirmation",
        security="BearerAuth")
def comparison(comparison_id):
    from geo.ledgers.compare import get_comparison

    found = get_comparison(conn(), comparison_id, current_user().unit_id)
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in found.items()}


@bp.post("/api/comparisons/<int:comparison_id>/confirm")
@login_required(*sorted(access.COMPARES_LISTS))
@bp.input(ConfirmBody, arg_name="body")
@bp.output(AnyObject)
@bp.doc(summary="Apply the chosen category changes of a comparison", security="BearerAuth")
def confirm_comparison(comparison_id, body):
    from geo.ledgers.compare import confirm

    user = current_user()
    out = confirm(conn(), comparison_id, body["proposals"], role=user.role,
                  scope_id=user.unit_id, username=user.username)
    audit.record(conn(), user, "update", "comparison", comparison_id, ip=client_ip(),
                 detail={"applied": out["applied"]})
    return out


@bp.get("/api/tasks")
@login_required(*sorted(access.WRITES_RECORDS))
@bp.input(TaskQuery, location="query", arg_name="q")
@bp.output(AnyObject)
@bp.doc(summary="Tasks in your area (verify unregistered children, 劝返, categories)",
        security="BearerAuth")
def tasks(q):
    from geo.ledgers.compare import list_tasks

    return {"tasks": list_tasks(conn(), current_user().unit_id, q["status"], q["kind"])}


class _upload:
    """The uploaded file in a temporary directory, with its own suffix."""

    def __init__(self, upload):
        self.upload = upload

    def __enter__(self) -> Path:
        suffix = Path(self.upload.filename or "").suffix.lower()
        if suffix not in (".xlsx", ".xls", ".csv"):
            raise InvalidInput("请上传 .xlsx、.xls 或 .csv 文件 (upload an .xlsx, .xls or .csv "
                               "file)", field="file")
        data = self.upload.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            raise InvalidInput("the file is larger than 20 MB", field="file")
        self.tmp = tempfile.TemporaryDirectory()
        path = Path(self.tmp.name) / f"upload{suffix}"
        path.write_bytes(data)
        return path

    def __exit__(self, *exc):
        self.tmp.cleanup()

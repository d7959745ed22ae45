"""The import page (/imports, admins and supervisors): choose the kind, upload a file,
see a dry-run preview (new / changed / unchanged / bad rows, the bad rows with their
problems, downloadable as an .xlsx with a problem column beside each bad row), confirm,
and the import history (who, when, file name, counts).

Between preview and confirm the upload waits under ``var_dir/uploads`` for at most an
hour, readable only by the user who sent it, and is deleted on confirm."""

from __future__ import annotations

import functools
import io
import json
import secrets
import time
from pathlib import Path

from apiflask import abort
from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for

from api.auth import client_ip, current_user, page_login_required
from api.db import conn, engine_for
from geo import access, audit
from geo.errors import GeoError, InvalidInput
from geo.ledgers import jobs
from geo.ledgers.ledger import COLUMNS, import_ledger
from geo.ledgers.read import read_rows
from geo.ledgers.spreadsheet import neutralise
from geo.local_rules import rules_for_unit
from geo.store import memory

bp = Blueprint("import_pages", __name__)
KIND_LABELS = {"households": "家庭户台账", "children": "儿童台账", "facilities": "机构台账",
               "workers": "工作人员台账"}
KEEP_SECONDS = 3600
MAX_UPLOAD = 20 * 1024 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_ROLES = sorted(access.IMPORTS_LEDGERS | access.IMPORTS_LEDGERS_IF_ALLOWED)


def _county_allows(view):
    """Grid heads use the page only when the county allows it (rules.grid_heads_import);
    after the login and role check of page_login_required."""
    @functools.wraps(view)
    def inner(*args, **kwargs):
        user = current_user()  # the user's county's own grid_heads_import, if any
        if not access.may_import(user.role, rules_for_unit(
                conn(), current_app.config["GRIDMAP"]["rules"], user.unit_id)):
            abort(403, "本县未允许网格长导入台账 (the county does not let grid heads import)")
        return view(*args, **kwargs)
    return inner


@bp.after_request
def _give_memory_back(response):
    """A preview or an import read without a job (no JavaScript) read a whole file: its
    memory goes back to the system once the page has gone out (geo.store.memory). Jobs
    give theirs back when they end (geo.ledgers.jobs)."""
    if request.endpoint in ("import_pages.preview", "import_pages.confirm",
                            "import_pages.problems"):
        response.call_on_close(memory.release)
    return response


def _uploads() -> Path:
    folder = Path(current_app.config["GRIDMAP"]["var_dir"]) / "uploads"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = time.time()
    for old in folder.iterdir():
        try:
            if now - old.stat().st_mtime > KEEP_SECONDS:
                old.unlink()
        except OSError:
            pass
    return folder


def _pending(token: str) -> tuple[dict, Path]:
    """The waiting upload ``token`` of the current user (404 for anyone else's)."""
    if not token.replace("-", "").replace("_", "").isalnum() or len(token) > 40:
        abort(404)
    meta_path = _uploads() / f"{token}.json"
    if not meta_path.exists():
        abort(404, "这个上传已过期或不存在，请重新上传 (this upload has expired)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta["user_id"] != current_user().id:
        abort(404)
    return meta, _uploads() / meta["stored"]


def _history(limit: int = 50) -> list[dict]:
    """Imports written by users in the current user's area, newest first."""
    import sqlalchemy as sa

    rows = conn().execute(sa.text(
        f"""SELECT a.at, a.username, a.resource, a.detail FROM audit_log a
              JOIN app_user u ON u.id = a.user_id JOIN unit c ON c.id = u.unit_id
             WHERE a.action = 'create' AND a.resource LIKE 'import_%'
               AND COALESCE((a.detail->>'dry_run')::boolean, false) = false
               AND COALESCE((a.detail->>'failed')::boolean, false) = false
               AND {access.cell_in_scope_sql('c')}
             ORDER BY a.at DESC LIMIT :n"""),
        {"scope_id": current_user().unit_id, "n": limit}).mappings()
    return [{"at": r["at"], "user": r["username"],
             "kind": KIND_LABELS.get(r["resource"].removeprefix("import_"), r["resource"]),
             **{k: (r["detail"] or {}).get(k) for k in
                ("file", "rows", "created", "updated", "unchanged", "bad_rows")}}
            for r in rows]


def _page(**context):
    kinds = {k: KIND_LABELS[k] for k in access.import_kinds(current_user().role, KIND_LABELS)}
    return render_template("imports.html", user=current_user(), kinds=kinds,
                           history=_history(), lang="zh", **context)


def _wants_job() -> bool:
    """The page's script asks for JSON: the work runs as a job it polls (a browser
    without script posts the form and waits for the page)."""
    return request.accept_mimetypes.best == "application/json"


@bp.get("/imports")
@page_login_required(*_ROLES)
@_county_allows
def imports():
    job_id = request.args.get("job", "")
    if not job_id:
        return _page()
    if not job_id.isdigit():
        abort(404)
    try:
        job = jobs.get_job(conn(), int(job_id), current_user().id)
    except GeoError:
        abort(404)
    result = job["result"] or {}
    if job["status"] == "failed":
        return _page(error=job["message"], kind=job["kind"])
    if job["status"] != "done":
        return _page(job=job)
    if job["dry_run"]:
        return _page(preview=result["counts"], errors=result["errors"], more=result["more"],
                     token=result["token"], file=job["file"], kind=job["kind"])
    return _page(done=result["counts"], file=job["file"])


def _counts(report) -> dict:
    return {k: v for k, v in report.as_dict().items() if k != "errors"}


def _keep_upload(kind: str, upload) -> tuple[str, str, Path]:
    """The checked upload saved under var/uploads: its token, stored name and path."""
    if kind not in COLUMNS:
        raise InvalidInput("请选择台账类型", field="kind")
    if upload is None or not upload.filename:
        raise InvalidInput("请选择要上传的文件", field="file")
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in (".xlsx", ".xls", ".csv"):
        raise InvalidInput("请上传 .xlsx、.xls 或 .csv 文件", field="file")
    data = upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise InvalidInput("文件超过 20 MB", field="file")
    token = secrets.token_urlsafe(16)
    stored = f"{token}{suffix}"
    path = _uploads() / stored
    path.write_bytes(data)
    return token, stored, path


def _write_meta(folder: Path, token: str, meta: dict) -> None:
    (folder / f"{token}.json").write_text(json.dumps(meta, ensure_ascii=False),
                                          encoding="utf-8")


@bp.post("/imports/preview")
@page_login_required(*_ROLES)
@_county_allows
def preview():
    user = current_user()
    kind = request.form.get("kind", "")
    upload = request.files.get("file")
    path = None
    cfg = current_app.config["GRIDMAP"]
    try:
        if kind not in access.import_kinds(user.role, COLUMNS):
            raise InvalidInput("请选择台账类型", field="kind")
        token, stored, path = _keep_upload(kind, upload)
        meta = {"user_id": user.id, "kind": kind, "file": upload.filename[:200],
                "stored": stored, "errors": []}
        if _wants_job():
            folder = _uploads()
            _write_meta(folder, token, meta)
            engine = engine_for(current_app)
            job_id = jobs.create_job(engine, user.id, kind, meta["file"], dry_run=True)

            def work(progress):
                try:
                    report = import_ledger(engine, path, kind, cfg, role=user.role,
                                           scope_id=user.unit_id, dry_run=True,
                                           progress=progress)
                except Exception:
                    for p in (path, folder / f"{token}.json"):
                        p.unlink(missing_ok=True)
                    raise
                errors = report.as_dict()["errors"]
                _write_meta(folder, token, {**meta, "errors": errors})
                return {"counts": _counts(report), "errors": errors[:500],
                        "more": max(len(errors) - 500, 0), "token": token}

            jobs.start(engine, job_id, work)
            return jsonify({"job": job_id, "poll": url_for("import_pages.job_status",
                                                           job_id=job_id)}), 202
        report = import_ledger(conn(), path, kind, cfg, role=user.role,
                               scope_id=user.unit_id, dry_run=True)
    except GeoError as exc:
        if path is not None:
            path.unlink(missing_ok=True)
        if _wants_job():
            return jsonify({"error": exc.as_dict()}), 400
        return _page(error=exc.message, kind=kind), 400
    errors = report.as_dict()["errors"]
    _write_meta(_uploads(), token, {**meta, "errors": errors})
    return _page(preview=report, errors=errors[:500], more=max(len(errors) - 500, 0),
                 token=token, file=meta["file"], kind=kind)


@bp.get("/imports/jobs/<int:job_id>")
@page_login_required(*_ROLES)
@_county_allows
def job_status(job_id):
    """A job's progress as JSON, for the page's progress bar."""
    try:
        job = jobs.get_job(conn(), job_id, current_user().id)
    except GeoError:
        abort(404)
    ended = job["status"] in ("done", "failed")
    return jsonify({
        "id": job["id"], "status": job["status"], "stage": job["stage"], "done": job["done"],
        "total": job["total"], "percent": job["percent"], "message": job["message"],
        "next": url_for("import_pages.imports", job=job_id) if ended else None})


@bp.get("/imports/<token>/problems.xlsx")
@page_login_required(*_ROLES)
@_county_allows
def problems(token):
    """The bad rows as they were in the file, with a problem column beside each."""
    from openpyxl import Workbook

    meta, path = _pending(token)
    headers = {h for h, _ in COLUMNS[meta["kind"]].values()} | set(COLUMNS[meta["kind"]])
    names, body, numbers = read_rows(path, headers)
    by_row: dict[int, list[str]] = {}
    for e in meta["errors"]:
        by_row.setdefault(e["row"], []).append(f"「{e['column']}」{e['problem']}")
    book = Workbook(write_only=True)
    ws = book.create_sheet("问题行")
    ws.append([neutralise(n) for n in ["原行号", "问题", *names]])
    for number, cells in zip(numbers, body, strict=True):
        if number in by_row:
            ws.append([number, neutralise("；".join(by_row[number])),
                       *(neutralise(c) for c in cells)])
    buf = io.BytesIO()
    book.save(buf)
    stem = Path(meta["file"]).stem.encode("ascii", "ignore").decode() or "ledger"
    return Response(buf.getvalue(), mimetype=XLSX, headers={
        "Content-Disposition": f"attachment; filename={stem}_problems.xlsx"})


@bp.post("/imports/<token>/confirm")
@page_login_required(*_ROLES)
@_county_allows
def confirm(token):
    user = current_user()
    meta, path = _pending(token)
    attempt = {"kind": meta["kind"], "file": meta["file"], "crs": "wgs84", "dry_run": False,
               "strict": False, "via": "page"}
    cfg = current_app.config["GRIDMAP"]
    if _wants_job():
        engine = engine_for(current_app)
        ip = client_ip()
        leftovers = (path, _uploads() / f"{token}.json")
        job_id = jobs.create_job(engine, user.id, meta["kind"], meta["file"], dry_run=False)

        def work(progress):
            try:
                # The rows and their audit entry in one transaction: all or nothing.
                with engine.begin() as c:
                    report = import_ledger(c, path, meta["kind"], cfg, role=user.role,
                                           scope_id=user.unit_id, progress=progress)
                    audit.record(c, user, "create", f"import_{meta['kind']}", ip=ip,
                                 detail={**attempt, **_counts(report), "job": job_id})
            except Exception as exc:
                error = exc.as_dict() if isinstance(exc, GeoError) else {
                    "code": "internal_error"}
                audit.record_apart(engine, user, "create", f"import_{meta['kind']}", ip=ip,
                                   detail={**attempt, "failed": True, "error": error,
                                           "job": job_id})
                raise
            finally:
                for p in leftovers:
                    p.unlink(missing_ok=True)
            if report.written:
                from layers import status_cache

                status_cache.clear()
            return {"counts": _counts(report)}

        jobs.start(engine, job_id, work)
        return jsonify({"job": job_id, "poll": url_for("import_pages.job_status",
                                                       job_id=job_id)}), 202
    try:
        report = import_ledger(conn(), path, meta["kind"], cfg,
                               role=user.role, scope_id=user.unit_id)
    except GeoError as exc:
        return _page(error=exc.message), 400
    finally:
        for p in (path, _uploads() / f"{token}.json"):
            p.unlink(missing_ok=True)
    if report.written:
        from layers import status_cache

        status_cache.clear()
    audit.record(conn(), user, "create", f"import_{meta['kind']}", ip=client_ip(),
                 detail={**attempt, **_counts(report)})
    return _page(done=report, file=meta["file"])

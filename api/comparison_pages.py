"""The comparisons page (/comparisons, admins and supervisors): upload a department's
list with its kind, see the three worklists — possibly unregistered children (each a
task for the grid worker of its cell), categories to add or end awaiting confirmation,
contradictions — each match with why it matched, confirm the chosen category changes,
and see the tasks given. The list itself is read from a temporary file and deleted; the
comparison keeps its SHA-256, counts and what concerns children on file
(geo/ledgers/compare.py)."""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path

from apiflask import abort
from flask import Blueprint, current_app, redirect, render_template, request, url_for

from api.auth import client_ip, current_user, page_login_required
from api.db import conn, engine_for
from geo import access, audit, vocab
from geo.errors import GeoError, InvalidInput, NotFound

bp = Blueprint("comparison_pages", __name__)
_ROLES = sorted(access.COMPARES_LISTS)
MAX_UPLOAD = 20 * 1024 * 1024


@contextmanager
def _upload(upload):
    """The uploaded list in a temporary directory, deleted when the comparison is done."""
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in (".xlsx", ".xls", ".csv"):
        raise InvalidInput("请上传 .xlsx、.xls 或 .csv 文件", field="file")
    data = upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise InvalidInput("文件超过 20 MB", field="file")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"list{suffix}"
        path.write_bytes(data)
        yield path


def _page(status: int = 200, **context):
    from geo.ledgers.compare import DEFAULT_THRESHOLD, recent_comparisons

    user = current_user()
    return render_template(
        "comparisons.html", user=user, lists=vocab.COMPARISON_LISTS, lang="zh",
        default_threshold=DEFAULT_THRESHOLD,
        history=recent_comparisons(conn(), user.unit_id), **context), status


@bp.get("/comparisons")
@page_login_required(*_ROLES)
def comparisons():
    return _page()


@bp.post("/comparisons")
@page_login_required(*_ROLES)
def upload():
    from geo.ledgers.compare import compare_list

    user = current_user()
    kind = request.form.get("list", "")
    upload = request.files.get("file")
    text = (request.form.get("threshold") or "").strip()
    attempt = {"list": kind, "file": (upload.filename if upload else "")[:200],
               "via": "page"}
    try:
        if kind not in vocab.COMPARISON_LISTS:
            raise InvalidInput("请选择名单类型", field="list")
        if upload is None or not upload.filename:
            raise InvalidInput("请选择要比对的名单文件", field="file")
        if text and not text.isdigit():
            raise InvalidInput("模糊匹配阈值须为50到100之间的整数", field="threshold")
        attempt["threshold"] = int(text) if text else None
        with _upload(upload) as path:
            result = compare_list(conn(), path, kind, current_app.config["GRIDMAP"],
                                  role=user.role, scope_id=user.unit_id, user_id=user.id,
                                  username=user.username, threshold=attempt["threshold"])
    except GeoError as exc:
        conn().rollback()
        audit.record_apart(engine_for(current_app), user, "create", "comparison",
                           ip=client_ip(), detail={**attempt, "failed": True,
                                                   "error": exc.as_dict()})
        return _page(400, error=exc.message, kind=kind)
    audit.record(conn(), user, "create", "comparison", result.id, ip=client_ip(),
                 detail={**attempt, "sha256": result.sha256, "counts": result.counts})
    return redirect(url_for("comparison_pages.show", comparison_id=result.id), code=303)


@bp.get("/comparisons/<int:comparison_id>")
@page_login_required(*_ROLES)
def show(comparison_id):
    from geo.ledgers.compare import comparison_worklists

    try:
        found = comparison_worklists(conn(), comparison_id, current_user().unit_id)
    except GeoError:
        abort(404)
    applied = request.args.get("applied")
    return _page(comparison=found, applied=applied)


@bp.post("/comparisons/<int:comparison_id>/confirm")
@page_login_required(*_ROLES)
def confirm(comparison_id):
    from geo.ledgers.compare import confirm as apply

    user = current_user()
    try:
        chosen = [int(v) for v in request.form.getlist("proposal")]
    except ValueError:
        chosen = None
    try:
        if not chosen:
            raise InvalidInput("请勾选要确认的类别变更", field="proposals")
        out = apply(conn(), comparison_id, chosen, role=user.role, scope_id=user.unit_id,
                    username=user.username)
    except NotFound:
        abort(404)
    except GeoError as exc:
        from geo.ledgers.compare import comparison_worklists

        found = comparison_worklists(conn(), comparison_id, user.unit_id)
        return _page(400, comparison=found, error=exc.message)
    audit.record(conn(), user, "update", "comparison", comparison_id, ip=client_ip(),
                 detail={"applied": out["applied"], "via": "page"})
    return redirect(url_for("comparison_pages.show", comparison_id=comparison_id,
                            applied=len(out["applied"])), code=303)

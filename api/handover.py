"""Worker handover (issue 13): ``GET /api/workers/<id>/handover`` (the worker's cells,
their children, who else covers each, proposals), ``POST`` the same URL
(``{"assignments": [{"cell", "worker"}], "deactivate": true}``: every reassignment and
the deactivation in the request's one transaction, each audited; a failed attempt is
audited apart) and the page ``/workers/<id>/handover``. Roles: those that write workers
(admins for the county, supervisors for their township); a worker elsewhere is 404. The
SQL is in geo/planning/handover.py."""

from __future__ import annotations

from apiflask import APIBlueprint, Schema, fields
from apiflask.validators import Length, Range
from flask import current_app, g, redirect, render_template, request

from api.auth import client_ip, current_user, login_required, page_login_required
from api.db import conn, engine_for, rollback
from api.request import config, json_safe
from api.schemas import AnyObject
from geo import access, audit, vocab
from geo.errors import GeoError, InvalidInput
from geo.planning import handover as ho

bp = APIBlueprint("handover", __name__, tag="organisation")
WRITERS = access.roles(access.WRITES_WORKERS)


class Assignment(Schema):
    cell = fields.Integer(required=True, validate=Range(1, 2**31 - 1),
                          metadata={"description": "cell id"})
    worker = fields.Integer(required=True, validate=Range(1, 2**31 - 1),
                            metadata={"description": "id of the grid worker taking it"})


class HandoverIn(Schema):
    assignments = fields.List(fields.Nested(Assignment), required=True,
                              validate=Length(0, 5000))
    deactivate = fields.Boolean(load_default=False)


def _apply(worker_id: int, assignments: list[dict], deactivate: bool) -> dict:
    """Apply in the request's transaction; on failure roll it back and audit the
    attempt apart (the rollback would take an entry in the same transaction along)."""
    user, cfg = current_user(), config()
    try:
        return ho.apply_handover(conn(), cfg["rules"], worker_id, user.unit_id, assignments,
                                 deactivate, user=user, ip=client_ip())
    except GeoError as exc:
        rollback()
        audit.record_apart(engine_for(current_app), user, "update", "worker_handover",
                           worker_id, ip=client_ip(),
                           detail={"failed": exc.code, "field": exc.field,
                                   "assignments": assignments, "deactivate": deactivate})
        raise


@bp.get("/api/workers/<int:worker_id>/handover")
@login_required(*WRITERS)
@bp.output(AnyObject)
@bp.doc(summary="A worker's cells (direct, via village or township), their children, "
        "who else covers them, and proposed successors under the caseload limit",
        security="BearerAuth", responses={404: "no such worker in your area"})
def handover_json(worker_id):
    user = current_user()
    out = ho.handover(conn(), config()["rules"], worker_id, user.unit_id)
    audit.record(conn(), user, "read", "worker_handover", worker_id, ip=client_ip(),
                 detail={"children": [k["id"] for c in out["cells"]
                                      for k in c["children_list"]]})
    return json_safe(out)


@bp.post("/api/workers/<int:worker_id>/handover")
@login_required(*WRITERS)
@bp.input(HandoverIn, arg_name="body")
@bp.output(AnyObject)
@bp.doc(summary="Hand a worker's cells over and deactivate them, all or nothing (409 "
        "or 422 naming assignments.<i>.cell/worker when one is no longer valid)",
        security="BearerAuth",
        responses={404: "no such worker in your area",
                   409: "a target is inactive or would go over the caseload limit",
                   422: "a cell is not the worker's, or a target may not take it"})
def handover_apply(worker_id, body):
    return _apply(worker_id, body["assignments"], body["deactivate"])


# -- the page -------------------------------------------------------------------------

def _render(worker_id: int, error: GeoError | None = None, status: int = 200, done=None):
    user = current_user()
    data = ho.handover(conn(), config()["rules"], worker_id, user.unit_id)
    audit.record(conn(), user, "read", "worker_handover", worker_id, ip=client_ip(),
                 detail={"page": True})
    return render_template("handover.html", user=user, lang="zh", data=data, error=error,
                           done=done, risk_labels=vocab.RISK_LABELS), status


@bp.get("/workers/<int:worker_id>/handover")
@bp.doc(hide=True)
@page_login_required(*WRITERS)
def handover_page(worker_id):
    done = None
    if request.args.get("done"):
        done = {"assigned": int(request.args.get("assigned") or 0),
                "deactivated": request.args.get("deactivated") == "1"}
    return _render(worker_id, done=done)


@bp.post("/workers/<int:worker_id>/handover")
@bp.doc(hide=True)
@page_login_required(*WRITERS)
def handover_form(worker_id):
    """The page's form: ``cell_<id>`` = the chosen worker (empty: not handed over),
    ``deactivate`` = 1; then back to the page showing the result."""
    assignments = []
    for key, value in request.form.items():
        if key.startswith("cell_") and value:
            try:
                assignments.append({"cell": int(key[5:]), "worker": int(value)})
            except ValueError:
                raise InvalidInput("网格或网格员编号无效", field=key) from None
    deactivate = request.form.get("deactivate") == "1"
    try:
        out = _apply(worker_id, assignments, deactivate)
    except GeoError as exc:
        if exc.status == 404:
            raise
        g.db_tx = conn().begin()  # the failed one is rolled back: show the page afresh
        return _render(worker_id, error=exc, status=exc.status)
    return redirect(f"/workers/{worker_id}/handover?done=1&assigned={len(out['assigned'])}"
                    f"&deactivated={int(out['deactivated'])}", code=303)

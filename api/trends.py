"""Trends (issue 13): ``GET /api/stats/trends`` (a unit's monthly figures per township,
village or cell, plus the unit's total) and the page ``/dashboard`` drawing them as line
charts (server-side SVG, webmap/charts.py) with a table under each chart. Planners get
the counts through the complementary suppression pattern. The SQL is in
geo/reporting/trends.py."""

from __future__ import annotations

from apiflask import APIBlueprint, fields
from apiflask.validators import Range
from flask import render_template, request
from marshmallow import ValidationError

from api.auth import client_ip, current_user, login_required, page_login_required
from api.db import conn
from api.request import config, threshold
from api.schemas import AnyObject, UnitQuery
from geo import access, audit
from geo.errors import InvalidInput
from geo.reporting import trends
from webmap.charts import line_chart

bp = APIBlueprint("trends", __name__, tag="reports")
READERS = access.roles(access.READS_TRENDS)
LEVEL_NAMES = {"township": "乡镇（街道）", "village": "村（社区）", "cell": "网格"}


class TrendsQuery(UnitQuery):
    months = fields.Integer(load_default=12, validate=Range(1, trends.MAX_MONTHS),
                            metadata={"description": "how many months, ending with this one"})


def _trends(q: dict) -> dict:
    user, cfg = current_user(), config()
    unit = access.unit_in_scope(conn(), user.unit_id, q.get("unit"))
    out = trends.trends(conn(), cfg["rules"], unit, q["months"], cfg["timezone"])
    if access.aggregates_only(user.role):
        out = trends.for_planner(out, conn(), cfg["rules"], user.unit_code, threshold(),
                                 cfg["timezone"])
    out.pop("cells", None)
    audit.record(conn(), user, "read", "trends", ip=client_ip(),
                 detail={"unit": unit, "months": q["months"]})
    return out


@bp.get("/api/stats/trends")
@login_required(*READERS)
@bp.input(TrendsQuery, location="query", arg_name="q")
@bp.output(AnyObject)
@bp.doc(summary="Monthly figures over the last months (visits on time, return visits, "
        "flagged visits, overdue children, cells never visited, new children, placements) "
        "per township/village and for the unit; planners: small counts hidden",
        security="BearerAuth")
def trends_json(q):
    return _trends(q)


@bp.get("/dashboard")
@bp.doc(hide=True)
@page_login_required(*READERS)
def dashboard():
    try:
        q = TrendsQuery().load({k: v for k, v in request.args.items() if v != ""})
    except ValidationError as exc:
        field = next(iter(exc.messages), None)
        raise InvalidInput(f"{field}: {exc.messages[field][0]}", field=field) from None
    data = _trends(q)
    charts = []
    for fig in data["figures"]:
        pct = fig["kind"] == "pct"
        series = [{"name": g["name"], "values": [r[fig["key"]] for r in g["series"]]}
                  for g in data["groups"]]
        total = [r[fig["key"]] for r in data["total"]["series"]]
        if pct:
            series.append({"name": "合计", "values": total, "total": True})
        charts.append({"key": fig["key"], "label": fig["label"], "pct": pct,
                       "chart": line_chart(data["months"], series, pct=pct),
                       "rows": [{"name": g["name"], "vals": [r[fig["key"]]
                                                              for r in g["series"]]}
                                for g in data["groups"]],
                       "total": total})
    return render_template("dashboard.html", user=current_user(), lang="zh", data=data,
                           charts=charts, q=q,
                           level_name=LEVEL_NAMES.get(data["group_level"], ""),
                           suppressed=bool(data.get("suppressed")))

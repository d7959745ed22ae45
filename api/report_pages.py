"""Pages for discovery reports (发现报告): the intake form (/reports/new), the inbox at the
user's level (/reports) and one report with its history, placements and actions
(/reports/<id>). Scoped and audited like the JSON API (a report outside the user's area
is 404); the pages' buttons post to the API (geo/cases/reports.py holds the queries)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import Blueprint, render_template, request
from flask_wtf.csrf import generate_csrf

from api.auth import client_ip, current_user, page_login_required
from api.db import conn
from api.request import config
from geo import access, audit, vocab
from geo.cases import reports
from geo.errors import InvalidInput
from geo.grid.units import unit_centre, unit_tree

bp = Blueprint("report_pages", __name__)
FILERS = tuple(sorted(access.FILES_REPORTS))
HANDLERS = tuple(sorted(access.HANDLES_REPORTS))
PAGE_SIZE = 25
_RANK = {"village": 0, "township": 1, "county": 2}


def _tz() -> ZoneInfo:
    return ZoneInfo(config().get("timezone") or "Asia/Shanghai")


def _level_of(user) -> str:
    # A city user answers at the county level (the highest a report climbs).
    return {"cell": "village", "city": "county"}.get(user.unit_level, user.unit_level)


def when(value) -> str:
    """A time on the county's clock, to the minute (2026-11-25 14:05)."""
    if value is None:
        return "–"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.astimezone(_tz()).strftime("%Y-%m-%d %H:%M")


def time_left(seconds: int | None) -> tuple[str, bool]:
    """("剩余 2小时05分", False) or ("逾期 35分", True); ("", False) when not waiting."""
    if seconds is None:
        return "", False
    late = seconds < 0
    minutes = abs(seconds) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        parts = f"{days}天{hours}小时"
    elif hours:
        parts = f"{hours}小时{mins:02d}分"
    else:
        parts = f"{mins}分"
    return ("逾期 " if late else "剩余 ") + parts, late


def _labels() -> dict:
    return {"sources": vocab.REPORT_SOURCES, "harms": vocab.REPORT_HARMS,
            "severities": vocab.REPORT_SEVERITIES, "levels": vocab.REPORT_LEVELS,
            "statuses": vocab.REPORT_STATUSES, "outcomes": vocab.REPORT_OUTCOMES,
            "actions": vocab.REPORT_ACTIONS, "sexes": vocab.SEXES,
            "release": vocab.RELEASE_REASONS, "placement_statuses": vocab.PLACEMENT_STATUSES,
            "facility_types": vocab.FACILITY_TYPES, "crs": vocab.CRS_LABELS}


def _render(template: str, **values):
    return render_template(template, user=current_user(), labels=_labels(), filers=FILERS,
                           **values)


# Names of the form's fields, for the message when the API refuses one.
FIELD_LABELS = {
    "source": "来源", "reporter_name": "报告人姓名", "reporter_phone": "报告人电话",
    "reporter_org": "报告人单位", "reported_at": "报告时间", "lon": "经度", "lat": "纬度",
    "crs": "坐标系", "address": "地址", "village": "村/社区", "child_id": "在册儿童",
    "child_name": "儿童姓名", "child_sex": "儿童性别", "child_age": "儿童年龄",
    "child_disability": "残疾", "harm": "伤害类型", "severity": "紧急程度",
    "description": "发生了什么", "body": "报告", "outcome": "办结结果", "into": "并入报告编号",
    "note": "说明", "report_id": "报告", "facility_id": "机构", "reason": "离开原因",
}


# What to do about a refused field, in the words of the form (the API's own message is
# shown when no hint fits).
FIELD_HINTS = {
    "lon": "地点须在您辖区内的网格中：请在地图上重新点选，或检查经纬度与坐标系",
    "lat": "请同时填写经度和纬度",
    "village": "所选村/社区不在您的辖区内，或与坐标所在村/社区不符",
    "address": "按村/社区定位时需要填写地址",
    "reported_at": "报告时间不能晚于现在，也不能早于五年前",
    "child_id": "辖区内没有这个儿童",
    "child_age": "年龄须在 0 到 17 岁之间",
}


def basemap() -> dict | None:
    """The base map's tile URL and attribution for a page's small Leaflet map (None: no
    base map, e.g. on a closed network; the village outlines still show)."""
    from webmap.base import BASEMAPS

    cfg = config()
    if cfg.get("basemap", "osm") == "osm":
        return {"url": BASEMAPS["osm"][0], "attr": "© OpenStreetMap contributors"}
    if cfg.get("basemap") == "tianditu" and cfg.get("tianditu_key"):
        return {"url": BASEMAPS["tianditu"][0] % cfg["tianditu_key"], "attr": "© 天地图"}
    return None


@bp.get("/reports/new")
@page_login_required(*FILERS)
def new():
    """The intake form: phone-sized, the place picked on a small map."""
    user = current_user()
    units = unit_tree(conn(), user.unit_id, "village")
    towns = {u["code"]: u["name"] for u in units if u["level"] == "township"}
    villages = [{"code": u["code"], "name": u["name"], "town": towns.get(u["parent"], "")}
                for u in units if u["level"] == "village"]
    now = dt.datetime.now(_tz())
    offset = now.strftime("%z")
    centre = unit_centre(conn(), user.unit_id)
    sources = [(s, vocab.REPORT_SOURCES.get(s, s)) for s in config()["reports"]["sources"]]
    page_config = {"page": "new", "csrf": generate_csrf(), "offset": f"{offset[:3]}:{offset[3:]}",
                   "centre": [centre[1], centre[0]], "basemap": basemap(),
                   "fields": FIELD_LABELS, "hints": FIELD_HINTS, "sexes": vocab.SEXES}
    return _render("reports_new.html", sources=sources, villages=villages,
                   now_local=now.strftime("%Y-%m-%dT%H:%M"), page_config=page_config,
                   route=config()["reports"]["route"],
                   accept_hours=config()["reports"]["accept_hours"])


@bp.get("/reports")
@page_login_required(*HANDLERS)
def inbox():
    """The reports waiting at the user's level in their area, oldest deadline first."""
    user = current_user()
    status = request.args.get("status", "open")
    if status not in ("open", "all", *vocab.REPORT_STATUSES):
        raise InvalidInput(f"unknown status '{status}'", field="status")
    try:
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        raise InvalidInput("page must be a whole number", field="page") from None
    level = _level_of(user)
    rows = reports.inbox(conn(), user.unit_id, level=level, status=status,
                         limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    items = []
    for r in rows:
        left, late = time_left(r["seconds_left"])
        items.append({**r, "deadline_text": when(r["deadline"]), "left": left, "late": late,
                      "reported_text": when(r["reported_at"])})
    audit.record(conn(), user, "list", "report", ip=client_ip(), detail={
        "ids": [r["id"] for r in rows], "page": "inbox",
        "filters": {"status": status, "level": level}})
    return _render("reports_inbox.html", items=items, status=status, page=page, more=more,
                   level=level)


def _close_note(event: dict) -> str | None:
    """A close event's note starts with the outcome code: show its label instead."""
    note = event.get("note")
    if event["action"] == "close" and note:
        code, _, rest = note.partition(": ")
        if code in vocab.REPORT_OUTCOMES:
            return vocab.REPORT_OUTCOMES[code] + (f"：{rest}" if rest else "")
    return note


@bp.get("/reports/<int:report_id>")
@page_login_required(*HANDLERS)
def show(report_id):
    """One report: its fields, history (with merged reports'), placements and actions."""
    user = current_user()
    row = reports.find_report(conn(), report_id, user.unit_id)
    row = reports.redact(row, user.role, access.SEES_REPORTER)
    history = [{**e, "at_text": when(e["at"]), "note": _close_note(e)}
               for e in reports.history(conn(), report_id)]
    placed = [{**p, "placed_text": when(p["placed_at"]),
               "released_text": when(p["released_at"]) if p["released_at"] else ""}
              for p in reports.placements(conn(), report_id)]
    audit.record(conn(), user, "read", "report", report_id, ip=client_ip(),
                 detail={"page": "report"})
    level = _level_of(user)
    answerable = user.unit_level != "cell" and _RANK[level] >= _RANK[row["level"]]
    is_open = row["status"] in vocab.REPORT_OPEN_STATUSES
    left, late = time_left(row["seconds_left"])
    return _render(
        "reports_show.html", r=row, history=history,
        placements=placed, left=left, late=late, deadline=when(row["deadline"]),
        reported=when(row["reported_at"]), accepted=when(row["accepted_at"]),
        closed=when(row["closed_at"]),
        can_accept=answerable and row["status"] == "new",
        can_escalate=answerable and is_open and row["level"] != "county",
        can_close=answerable and is_open, can_merge=answerable and is_open,
        can_place=is_open and user.role in access.PLACES_CHILDREN,
        page_config={"page": "show", "id": report_id, "csrf": generate_csrf(),
                     "point": [row["lat"], row["lon"]] if row["lon"] is not None else None,
                     "basemap": basemap(), "fields": FIELD_LABELS, "hints": {}})

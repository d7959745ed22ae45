"""The supervisor's workspace: the home page per role (``/`` when signed in), the lists
behind its figures (``GET /api/lists/<name>``, pages ``/lists/<name>``, .xlsx exports)
and the staffing gaps (``GET /api/coverage/gaps``). Scope, field rights, planner
suppression and audit as the other endpoints; the SQL is in geo/reporting/lists.py."""

from __future__ import annotations

from urllib.parse import urlencode

from apiflask import APIBlueprint, Schema, abort, fields
from apiflask.validators import Length, OneOf
from flask import Response, render_template, request
from marshmallow import ValidationError

from api.auth import client_ip, current_user, login_required, page_login_required
from api.db import conn
from api.request import config, json_safe, next_link, threshold
from api.schemas import AnyObject, Page, UnitQuery, plausible_day
from geo import access, audit, suppression, vocab
from geo.cases import reports
from geo.errors import InvalidInput
from geo.local_rules import rules_for_code
from geo.planning.coverage import caseloads, cells_without_worker, villages_without
from geo.reporting import lists

bp = APIBlueprint("lists", __name__, tag="lists")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ListQuery(UnitQuery, Page):
    category = fields.String(load_default=None, validate=Length(1, 32))
    risk = fields.String(load_default=None, validate=Length(1, 16))
    as_of = fields.Date(load_default=None, validate=plausible_day)
    since = fields.Date(load_default=None, validate=plausible_day)
    until = fields.Date(load_default=None, validate=plausible_day)
    sort = fields.String(load_default=None, validate=Length(1, 32))
    order = fields.String(load_default=None, validate=OneOf(["asc", "desc"]))
    format = fields.String(load_default="json", validate=OneOf(["json", "xlsx"]))


class ListTotalOut(Schema):
    items = fields.List(fields.Dict(), required=True)
    total = fields.Integer(required=True)
    next = fields.String(allow_none=True)


FILTERS = ("category", "risk", "as_of", "since", "until")


def _rows(name: str, q: dict, limit: int | None) -> tuple[lists.ListSpec, str, list, int]:
    """The list for the current user: role checked (403), unit in scope (404), rows
    redacted (field rights) or suppressed (planners)."""
    user = current_user()
    s = lists.spec(name)
    if user.role not in s.roles or (access.aggregates_only(user.role) and s.person):
        abort(403, f"the {user.role} role may not read the {name} list")
    unit = access.unit_in_scope(conn(), user.unit_id, q.get("unit"))
    cfg = config()
    filters = {k: q.get(k) for k in FILTERS if q.get(k) is not None}
    if filters.get("category") in access.SENSITIVE_CATEGORIES_FILTER and \
            user.role not in access.SEES_SENSITIVE_CATEGORIES:
        lists._query(conn(), cfg["rules"], s, unit, cfg["timezone"], filters)  # validates
        return s, unit, [], 0
    rows, total = lists.run(conn(), cfg["rules"], name, unit, cfg["timezone"],
                            sort=q.get("sort"), order=q.get("order"), limit=limit,
                            offset=q.get("offset", 0), **filters)
    rows = [access.redact_child(r, user.role) if "categories" in r else r for r in rows]
    if access.aggregates_only(user.role) and s.planner_fields:
        if name == "cells":
            hidden = suppression.status_pattern(conn(), cfg["rules"], user.unit_code,
                                                q.get("as_of"), cfg["timezone"], threshold())
        else:
            hidden = suppression.people_pattern(conn(), user.unit_code, threshold())
        rows = [suppression.blank(r, "cell", r["cell_id"], s.planner_fields, hidden)
                for r in rows]
    return s, unit, rows, total


def _export(name: str, s, unit: str, rows: list) -> Response:
    user = current_user()
    audit.record(conn(), user, "export", f"list:{name}", ip=client_ip(),
                 detail={"unit": unit, "rows": len(rows),
                         "ids": [r["id"] for r in rows][:10_000]})
    body = lists.to_xlsx(name, rows, lists.unit_name(conn(), unit))
    return Response(body, mimetype=XLSX, headers={
        "Content-Disposition": f"attachment; filename={name}.xlsx"})


@bp.get("/api/lists/<name>")
@login_required(*sorted(access.READS_LISTS))
@bp.input(ListQuery, location="query", arg_name="q")
@bp.output(ListTotalOut)
@bp.doc(summary="A list behind a figure (overdue, never_visited, cells, flagged, caseload, "
        "unstaffed, placements): filter, sort, page, or format=xlsx", security="BearerAuth",
        responses={200: {"description": "the list (JSON) or its .xlsx",
                         "content": {"application/json": {}, XLSX: {}}}})
def list_json(name, q):
    limit = None if q["format"] == "xlsx" else q["limit"]
    s, unit, rows, total = _rows(name, q, limit)
    if q["format"] == "xlsx":
        return _export(name, s, unit, rows)
    audit.record(conn(), current_user(), "list", f"list:{name}", ip=client_ip(),
                 detail={"unit": unit, "ids": [r["id"] for r in rows]})
    return {"items": [json_safe(r) for r in rows], "total": total,
            "next": next_link(q, q["offset"] + len(rows) < total)}


@bp.get("/api/coverage/gaps")
@login_required(*sorted(access.SEES_COVERAGE))
@bp.input(UnitQuery, location="query", arg_name="q")
@bp.output(AnyObject)
@bp.doc(summary="Staffing gaps: cells without a grid worker, workers over the caseload "
        "limit, villages without a children's home (planners: counts only, small ones "
        "hidden)", security="BearerAuth")
def gaps(q):
    user, cfg = current_user(), config()
    unit = access.unit_in_scope(conn(), user.unit_id, q["unit"])
    cells = cells_without_worker(conn(), unit)
    workers = caseloads(conn(), cfg["rules"], unit, over_only=True)
    villages = villages_without(conn(), "children_home", unit)
    # The scope's county's own limit (a city's: the shared one; each worker's row has
    # their county's as ``limit``).
    limit = rules_for_code(conn(), cfg["rules"], unit)["caseload_limit"]
    out = {"unit": unit, "caseload_limit": int(limit),
           "counts": {"cells_without_worker": len(cells), "workers_over_limit": len(workers),
                      "villages_without_children_home": len(villages)},
           "cells_without_worker": cells, "workers_over_limit": workers,
           "villages_without_children_home": villages}
    if access.aggregates_only(user.role):
        hidden = suppression.people_pattern(conn(), user.unit_code, threshold())
        out["cells_without_worker"] = [suppression.blank(c, "cell", c["cell_id"],
                                                         ("children",), hidden) for c in cells]
        out["villages_without_children_home"] = [
            suppression.blank(v, "village", v["village_id"], ("children",), hidden)
            for v in villages]
        out["workers_over_limit"] = None  # names are people: planners get the count only
        out["suppressed"] = True
    audit.record(conn(), user, "list", "coverage_gaps", ip=client_ip(), detail={"unit": unit})
    return out


# -- pages --------------------------------------------------------------------------

def _page_args() -> dict:
    try:
        return ListQuery().load({k: v for k, v in request.args.items() if v != ""})
    except ValidationError as exc:
        field = next(iter(exc.messages), None)
        raise InvalidInput(f"{field}: {exc.messages[field][0]}", field=field) from None


def _query_string(args: dict, **changes) -> str:
    out = {k: v for k, v in args.items() if v not in (None, "")}
    out.update({k: v for k, v in changes.items()})
    return urlencode({k: v for k, v in out.items() if v not in (None, "")})


@bp.get("/lists/<name>")
@bp.doc(hide=True)
@page_login_required(*sorted(access.READS_LISTS))
def list_page(name):
    q = _page_args()
    q["limit"] = min(q["limit"], 100) if "limit" in request.args else 50
    s, unit, rows, total = _rows(name, q, q["limit"])
    user = current_user()
    audit.record(conn(), user, "list", f"list:{name}", ip=client_ip(),
                 detail={"unit": unit, "ids": [r["id"] for r in rows], "page": "list"})
    args = {k: v for k, v in request.args.items() if k not in ("format",)}
    sort = q.get("sort") or s.sort
    desc = s.desc if q.get("order") is None else q["order"] == "desc"
    heads = []
    for key, label in s.columns:
        order = ("asc" if desc else "desc") if key == sort else "asc"
        heads.append({"key": key, "label": label, "active": key == sort,
                      "arrow": ("↓" if desc else "↑") if key == sort else "",
                      "href": "?" + _query_string(args, sort=key, order=order, offset=None)})
    offset, limit = q["offset"], q["limit"]
    prev_href = ("?" + _query_string(args, offset=max(0, offset - limit))) if offset else None
    next_href = ("?" + _query_string(args, offset=offset + limit)) \
        if offset + limit < total else None
    table = [[lists.cell_text(k, r.get(k)) for k, _ in s.columns] for r in rows]
    actions = [lists.row_actions(s, user.role, r) for r in rows]
    has_actions = any(user.role in roles for *_, roles in s.actions)
    return render_template(
        "list.html", user=user, lang="zh", s=s, rows=rows, table=table, heads=heads,
        actions=actions, has_actions=has_actions,
        total=total, first=offset + 1 if rows else 0, last=offset + len(rows),
        prev_href=prev_href, next_href=next_href, q=q, args=args,
        unit_name=lists.unit_name(conn(), unit),
        export_href=f"/api/lists/{name}?" + _query_string(args, format="xlsx", offset=None,
                                                          limit=None),
        categories=lists.vocab.CHILD_CATEGORIES, risks=list(config()["rules"]
                                                            ["visit_interval_days"]),
        risk_labels=lists.vocab.RISK_LABELS)


# -- the home page ------------------------------------------------------------------

def _figures(user) -> list[dict]:
    """The figures of the user's unit today, each with the list behind it (only those the
    role may read; planners' counts through the suppression pattern)."""
    cfg = config()
    rules, tz, unit = cfg["rules"], cfg["timezone"], user.unit_code
    out = []

    def add(key, label, value, href=None):
        out.append({"key": key, "label": label, "value": value, "href": href})

    def may(name):
        s = lists.LISTS[name]
        return user.role in s.roles and not (access.aggregates_only(user.role) and s.person)

    from geo.visits.due import cell_status

    cells = cell_status(conn(), rules, unit=unit, tz=tz)
    children = sum(c["children"] for c in cells)
    overdue = sum(c["overdue_children"] for c in cells)
    if access.aggregates_only(user.role):
        hidden = suppression.status_pattern(conn(), rules, unit, None, tz, threshold(),
                                            cells=cells)
        root = suppression.ROOT
        children = None if (*root, "children") in hidden else children
        overdue = None if (*root, "overdue_children") in hidden else overdue
    add("children", "在册未成年人", children, "/map")
    add("overdue", "逾期未走访儿童", overdue, "/lists/overdue" if may("overdue") else None)
    if may("never_visited"):
        add("never_visited", "从未走访儿童",
            lists.count(conn(), rules, "never_visited", unit, tz), "/lists/never_visited")
    add("cells", "从未走访或逾期网格",
        sum(1 for c in cells if c["status"] in ("never_visited", "overdue")),
        "/lists/cells" if may("cells") else None)
    add("cells_never", "从未走访网格", sum(1 for c in cells if c["status"] == "never_visited"),
        "/lists/cells" if may("cells") else None)
    if may("flagged"):
        add("flagged", "存疑走访", lists.count(conn(), rules, "flagged", unit, tz),
            "/lists/flagged")
    if user.role in access.HANDLES_REPORTS:
        add("reports", "待我处理的发现报告", reports.waiting_for(conn(), user.unit_id),
            "/reports")
    if may("caseload"):
        add("caseload", "超负荷网格员", lists.count(conn(), rules, "caseload", unit, tz),
            "/lists/caseload")
    if may("unstaffed"):
        add("unstaffed", "无网格员的网格", lists.count(conn(), rules, "unstaffed", unit, tz),
            "/lists/unstaffed")
    if may("placements"):
        add("placements", "在住安置", lists.count(conn(), rules, "placements", unit, tz),
            "/lists/placements")
    return out


def _links(user) -> list[dict]:
    """The pages the role may use."""
    role = user.role
    links = [("/map", "地图", access.EVERYONE)]
    if user.worker_id:
        links.append((f"/map/route/{user.worker_id}", "我的走访路线", access.OWN_ROUTE_ONLY))
    links += [
        ("/map/nearest", "紧急安置", access.PLACES_CHILDREN),
        ("/map/planner", "规划视图", access.SEES_COVERAGE),
        ("/dashboard", "工作趋势", access.READS_TRENDS),
        ("/reports", "发现报告", access.HANDLES_REPORTS),
        ("/reports/new", "新建发现报告", access.FILES_REPORTS),
        ("/imports", "台账导入", access.IMPORTS_LEDGERS | (
            access.IMPORTS_LEDGERS_IF_ALLOWED if config()["rules"].get("grid_heads_import")
            else frozenset())),
        ("/comparisons", "信息比对", access.COMPARES_LISTS),
        ("/referrals", "转介事项", access.READS_REFERRALS),
        ("/reports/monthly", "月报与报送", access.READS_CASE_REPORT
         | access.SUBMITS_MONTHLY_REPORT),
        ("/api/exports/ledger?kind=children", "导出儿童台账", access.EXPORTS_LEDGERS),
    ]
    links += [(f"/lists/{s.name}", s.title,
               s.roles - (access.AGGREGATE_ROLES if s.person else frozenset()))
              for s in lists.LISTS.values()]
    return [{"href": href, "label": label} for href, label, roles in links if role in roles]


ROLE_NAMES = vocab.ROLE_LABELS


def home(user):
    """The signed-in user's home page (a department user's: its referrals)."""
    from flask import redirect

    from api.case_pages import home_block

    if user.role in access.DEPARTMENT_ROLES:
        return redirect("/referrals")
    audit.record(conn(), user, "read", "home", ip=client_ip())
    return render_template("home.html", user=user, lang="zh", role=ROLE_NAMES.get(user.role),
                           unit_name=lists.unit_name(conn(), user.unit_code),
                           figures=_figures(user), links=_links(user),
                           case_home=home_block(user))


# -- search ---------------------------------------------------------------------------

class SearchQuery(Page):
    q = fields.String(required=True, validate=Length(1, 50),
                      metadata={"description": "part of a name, address or village, or a "
                                               "ledger id"})


@bp.get("/api/search")
@login_required(*sorted(access.EVERYONE))
@bp.input(SearchQuery, location="query", arg_name="q")
@bp.output(ListTotalOut)
@bp.doc(summary="Every match in your area (villages, townships; children by name or ledger "
        "id, households by address or ledger id for roles that read people), paged",
        security="BearerAuth")
def search_json(q):
    from geo.people.search import search

    user = current_user()
    people = user.role in access.SEARCHES_PEOPLE
    rows, total = search(conn(), q["q"], user.unit_id, people, q["limit"], q["offset"])
    audit.record(conn(), user, "list", "search", ip=client_ip(), detail={
        "q": q["q"], "children": [r["id"] for r in rows if r["kind"] == "child"],
        "households": [r["id"] for r in rows if r["kind"] == "household"]})
    return {"items": rows, "total": total,
            "next": next_link(q, q["offset"] + len(rows) < total)}

"""Pages of the case loop (issue 15): the case panel of a child's record page, the
department's referrals page (/referrals; civil-affairs users see their area's referrals
there, read only), the monthly report page with the case figures and the submissions
(/reports/monthly) and the supervisor's block of the home page (children turning 18,
overdue referrals). Scoped, redacted and audited like the JSON API, whose endpoints the
pages' buttons post to (webmap/static/case.js); the queries are in geo/cases/ and
geo/reporting/."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import Blueprint, render_template, request
from flask_wtf.csrf import generate_csrf
from marshmallow import ValidationError

from api.auth import client_ip, current_user, page_login_required
from api.db import conn
from api.request import config, json_safe
from api.schemas import plausible_month
from geo import access, audit, vocab
from geo.cases import lifecycle as cases
from geo.cases import referrals
from geo.errors import InvalidInput
from geo.local_rules import rules_for_child
from geo.reporting import case_monthly
from geo.scope import today
from webmap.base import STATIC
from webmap.templating import render

bp = Blueprint("case_pages", __name__)

# Names of the forms' fields, for the message when the API refuses one.
FIELD_LABELS = {
    "action": "操作", "reason": "结案原因", "destination": "迁入地代码", "note": "说明",
    "answers": "评估项", "assessment_id": "评估", "relation": "关系", "name": "姓名",
    "phone": "电话", "unavailable_until": "暂不能监护至", "unavailable_reason": "原因",
    "type": "帮扶类型", "amount": "金额", "start_on": "开始日期", "end_on": "结束日期",
    "granted_by": "批准单位", "guardian_id": "监护人", "department": "部门",
    "service": "服务事项", "due_on": "办理期限", "child_id": "儿童", "outcome": "办理情况",
    "month": "月份", "unit": "单位",
}


# The buttons that move a case along (closing has its own form).
MOVE_LABELS = {"assess": "标记为已评估", "support": "转入帮扶", "monitor": "转入跟踪随访",
               "reopen": "重新开案"}


def labels() -> dict:
    return {"statuses": vocab.CASE_STATUSES, "actions": vocab.CASE_ACTIONS,
            "close_reasons": vocab.CLOSE_REASONS, "risks": vocab.RISK_LABELS,
            "assess_items": vocab.ASSESSMENT_ITEMS, "answers": vocab.ASSESSMENT_ANSWERS,
            "assessment_statuses": vocab.ASSESSMENT_STATUSES,
            "relations": vocab.GUARDIAN_RELATIONS, "unavailable": vocab.UNAVAILABLE_REASONS,
            "supports": vocab.SUPPORT_TYPES, "departments": vocab.DEPARTMENTS,
            "referral_statuses": vocab.REFERRAL_STATUSES, "sexes": vocab.SEXES}


def _tz() -> str:
    return config().get("timezone") or "Asia/Shanghai"


def when(value) -> str:
    """A time on the county's clock, to the minute."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.astimezone(ZoneInfo(_tz())).strftime("%Y-%m-%d %H:%M")


# -- the case panel of the child's record page ----------------------------------------
def case_panel(user, child: dict) -> tuple[str, dict]:
    """The panel's markup (no scripts) and the data case.js reads, for ``child`` (already
    found in the user's area). Empty for roles that read neither cases nor guardians."""
    role, c, cfg = user.role, conn(), config()
    child_id = child["id"]
    can = {"read_case": role in access.READS_CASES,
           "close": role in access.CLOSES_CASES,
           "assess": role in access.TAKES_ASSESSMENTS,
           "approve": role in access.APPROVES_ASSESSMENTS,
           "read_guardians": role in access.READS_GUARDIANS,
           "write_guardians": role in access.WRITES_GUARDIANS,
           "support": role in access.RECORDS_SUPPORT,
           "refer": role in access.SENDS_REFERRALS}
    if not (can["read_case"] or can["read_guardians"]):
        return "", {}
    day = today(_tz())
    mine = rules_for_child(c, cfg["rules"], child_id)  # the child's county's rules
    out = {"can": can, "labels": labels(), "child": child, "static": STATIC,
           "move_labels": MOVE_LABELS,
           "items": cfg["cases"]["assessment_items"],
           "levels": list(mine["risk_levels"]), "moves": [],
           "case": None, "assessments": [], "guardians": [], "supports": [],
           "referrals": [],
           "interval": mine["visit_interval_days"].get(child["risk_level"])}
    sections = []
    if can["read_case"]:
        case = cases.case(c, child_id, user.unit_id)
        for e in case["history"]:
            e["when"] = when(e["at"])
        out["case"] = case
        if role in access.MOVES_CASES:
            out["moves"] = [a for a, (starts, _) in cases.TRANSITIONS.items()
                            if case["status"] in starts and a != "close"
                            and (a != "reopen" or can["close"])]
        out["assessments"] = cases.assessments(c, child_id, user.unit_id)
        for a in out["assessments"]:
            a["when"], a["approved_when"] = when(a["taken_at"]), when(a["approved_at"])
        out["supports"] = cases.supports(c, child_id, user.unit_id, day)
        out["referrals"] = referrals.listing(c, user, user.unit_id, child_id=child_id,
                                             day=day, limit=200)
        sections += ["case", "assessments", "supports", "referrals"]
    if can["read_guardians"]:
        placing = role in access.SEES_GUARDIAN_CONTACT_WHEN_PLACING and \
            cases.is_placed(c, child_id)
        can["guardian_contact"] = role in access.SEES_GUARDIAN_CONTACT or placing
        out["guardians"] = [access.redact_guardian(g, role, placing)
                            for g in cases.guardians(c, child_id, user.unit_id, day)]
        sections.append("guardians")
    audit.record(c, user, "read", "case", child_id, ip=client_ip(),
                 detail={"page": "record", "sections": sections})
    data = {"gm-case-config": {
        "child": child_id, "csrf": generate_csrf(), "fields": FIELD_LABELS,
        "items": out["items"], "levels": out["levels"],
        "thresholds": mine.get("assessment_thresholds")
        or cfg["cases"]["assessment_thresholds"],
        "risks": vocab.RISK_LABELS,
        "guardians": json_safe(out["guardians"]) if can["write_guardians"] else []}}
    return render("case_panel.html", **out), data


# -- the department's referrals (and the area's, read only) ---------------------------
READS = access.roles(access.READS_REFERRALS)


def _flag(name: str) -> bool:
    return request.args.get(name) in ("1", "true", "yes")


@bp.get("/referrals")
@page_login_required(*READS)
def referrals_page():
    """A department user: the referrals sent to its department, with the minimum of the
    child, and the buttons to accept, decline (with a reason) or report done (what was
    done). Civil-affairs users: their area's referrals (?overdue=1 only the overdue),
    read only, with a link to each child's record."""
    user = current_user()
    status = request.args.get("status") or "open"
    if status not in ("all", "open", *vocab.REFERRAL_STATUSES):
        raise InvalidInput(f"status must be all, open or one of "
                           f"{', '.join(vocab.REFERRAL_STATUSES)}", field="status")
    overdue = _flag("overdue")
    day = today(_tz())
    rows = referrals.listing(conn(), user, user.unit_id,
                             status=None if status == "all" else status, overdue=overdue,
                             day=day, limit=500)
    items = [referrals.shape(r, user) for r in rows]
    for r in items:
        r["sent_text"] = when(r.get("sent_at"))
    audit.record(conn(), user, "list", "referral", ip=client_ip(),
                 detail={"ids": [r["id"] for r in items], "page": "referrals"})
    department = user.role in access.DEPARTMENT_ROLES
    title = (f"{vocab.DEPARTMENTS.get(user.department, '')}部门 · 转介事项" if department
             else ("逾期未办结的转介" if overdue else "转介事项"))
    return render_template(
        "referrals.html", user=user, lang="zh", items=items, labels=labels(),
        department=department, status=status, overdue=overdue, title=title,
        statuses={"open": "待办（已转介、已接收）", "all": "全部",
                  **vocab.REFERRAL_STATUSES},
        page_config={"page": "referrals", "csrf": generate_csrf(), "fields": FIELD_LABELS})


# -- the monthly report page: case figures per unit, submissions -----------------------
MONTHLY = access.roles(access.READS_CASE_REPORT | access.SUBMITS_MONTHLY_REPORT)


def _last_month(day: dt.date) -> str:
    first = day.replace(day=1) - dt.timedelta(days=1)
    return f"{first:%Y-%m}"


@bp.get("/reports/monthly")
@page_login_required(*MONTHLY)
def monthly_page():
    """The month's case figures per township (county users) or village (township users),
    each unit's submission (who, when, late), the button that marks the user's own unit's
    report submitted, and links to the full printable report and its .xlsx. A grid head
    sees only their village's submission and the button."""
    user = current_user()
    cfg = config()
    month = request.args.get("month") or _last_month(today(_tz()))
    try:
        plausible_month(month)
    except ValidationError as exc:
        raise InvalidInput(f"month {exc.messages[0]}", field="month") from None
    unit = access.unit_in_scope(conn(), user.unit_id, request.args.get("unit") or None)
    figures = user.role in access.READS_CASE_REPORT
    report = case_monthly.monthly_case_figures(conn(), cfg, unit, month, _tz()) \
        if figures else None
    audit.record(conn(), user, "export" if figures else "read", "case_report", unit,
                 ip=client_ip(), detail={"month": month, "page": "monthly"})
    units = report["units"] if report else []
    for row in units:
        row["submission"]["when"] = when(row["submission"]["submitted_at"])
    # The user's own unit reports itself: a village (a cell's user: its village) or a
    # township; the county reads and chases.
    submits = None
    if user.role in access.SUBMITS_MONTHLY_REPORT and \
            user.unit_level in ("village", "township", "cell"):
        code = _reporting_unit(user)
        submits = {"code": code, "name": _unit_name(code),
                   "state": _own_submission(code, month)}
    submitted = [r for r in units if r["submission"]["submitted"]
                 and not r["submission"]["late"]]
    late = [r for r in units if r["submission"]["late"]]
    return render_template(
        "case_monthly.html", user=user, lang="zh", r=report, month=month,
        figures=figures, submits=submits, submitted=submitted, late=late,
        due=case_monthly.due_date(cfg, month), reasons=vocab.CLOSE_REASONS,
        months=_months(today(_tz()), month),
        levels={"township": "乡镇（街道）", "village": "村（社区）"},
        print_href=f"/api/reports/monthly?format=html&month={month}&unit={unit}",
        xlsx_href=f"/api/reports/monthly?format=xlsx&month={month}&unit={unit}",
        reads_full=user.role in access.READS_MONTHLY_REPORT,
        page_config={"page": "monthly", "csrf": generate_csrf(), "fields": FIELD_LABELS,
                     "month": month, "unit": submits["code"] if submits else None})


def _months(day: dt.date, chosen: str) -> list[str]:
    """The choices of the month list: this month and the 23 before it (and the one
    asked for, if older)."""
    out, y, m = [], day.year, day.month
    for _ in range(24):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out if chosen in out else [*out, chosen]


def _reporting_unit(user) -> str:
    import sqlalchemy as sa

    if user.unit_level != "cell":
        return user.unit_code
    return conn().execute(sa.text(
        "SELECT v.code FROM unit c JOIN unit v ON v.id = c.village_id WHERE c.id = :id"),
        {"id": user.unit_id}).scalar_one()


def _unit_name(code: str) -> str:
    import sqlalchemy as sa

    return conn().execute(sa.text("SELECT name FROM unit WHERE code = :c"),
                          {"c": code}).scalar_one()


def _own_submission(code: str, month: str) -> dict | None:
    """A township's own submission state (its own row is not in its per-village table)."""
    import sqlalchemy as sa

    row = conn().execute(sa.text(
        "SELECT s.submitted_at, a.username FROM report_submission s JOIN unit u "
        "ON u.id = s.unit_id LEFT JOIN app_user a ON a.id = s.submitted_by "
        "WHERE u.code = :c AND s.month = :m"), {"c": code, "m": month}).first()
    due = case_monthly.due_date(config(), month)
    if row is None:
        return {"submitted": False, "late": today(_tz()) > due, "when": "",
                "submitted_by": None}
    day = row.submitted_at.astimezone(ZoneInfo(_tz())).date()
    return {"submitted": True, "late": day > due, "when": when(row.submitted_at),
            "submitted_by": row.username}


# -- the home page's block -------------------------------------------------------------
def home_block(user) -> dict | None:
    """For supervisors and the county office: the open cases turning 18 within 60 days
    (or already 18, still to close) and the number of overdue referrals."""
    if user.role not in access.CLOSES_CASES:
        return None
    day = today(_tz())
    turning = cases.turning_18(conn(), user.unit_id, day, 60)
    overdue = referrals.overdue(conn(), user.unit_id, day)
    audit.record(conn(), user, "list", "child", ip=client_ip(),
                 detail={"ids": [r["child_id"] for r in turning[:50]], "query": "turning_18",
                         "page": "home"})
    return {"turning": turning[:50], "turning_total": len(turning),
            "overdue_referrals": len(overdue)}

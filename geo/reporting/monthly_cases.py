"""The section "案件与报送" of the monthly report (每月15日上报): the case loop's figures per
unit from :func:`geo.reporting.case_monthly.monthly_case_figures` (called, not copied),
the closures by reason, and — for county users — which units submitted by the due day,
which late and which not yet. As a dict (JSON-ready), an .xlsx sheet and rows for the
printable page; for planners the small counts are hidden with :mod:`geo.suppression`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Connection

from geo import suppression, vocab
from geo.ledgers.spreadsheet import neutralise_row
from geo.reporting.case_monthly import monthly_case_figures
from geo.scope import find_unit

SHEET = "案件与报送"
# (key, label) of the per-unit figures, in column order.
CASE_FIGURES = [
    ("on_time_visits_pct", "按时走访率（%）"),
    ("return_visit_compliance_pct", "回访合规率（%）"),
    ("flagged_visits_pct", "存疑走访占比（%）"),
    ("cells_never_visited", "从未走访网格"),
    ("reports_received", "收到报告"),
    ("reports_answered_in_time", "按时受理报告"),
    ("referrals_overdue", "逾期转介"),
    ("cases_opened", "新开案件"),
]
# The counts a planner may see only when not small (cells are not people: never hidden,
# as in the rest of the report).
COUNTS = ("children", "overdue_children", "return_owed", "return_overdue", "visits",
          "flagged_visits", "reports_received", "reports_answered_in_time",
          "referrals_overdue", "cases_opened")
# A percentage is hidden with any count it is made of.
PCT_PARTS = {"on_time_visits_pct": ("children", "overdue_children"),
             "return_visit_compliance_pct": ("return_owed", "return_overdue"),
             "flagged_visits_pct": ("visits", "flagged_visits"),
             "reports_answered_in_time_pct": ("reports_received", "reports_answered_in_time")}
SUBMISSION_STATES = {"on_time": "按时报送", "late": "逾期报送", "overdue": "逾期未报送",
                     "not_yet": "未报送（未到截止日）"}
LEVEL_NAMES = {"county": "县（区）", "township": "乡镇（街道）", "village": "村（社区）"}


def _state(sub: dict) -> str:
    """A unit that has not submitted is overdue once the due day has passed (the case
    figures' ``late``, which for a unit without a submission compares today)."""
    if not sub["submitted"]:
        return "overdue" if sub["late"] else "not_yet"
    return "late" if sub["late"] else "on_time"


def _iso(v):
    return v.isoformat() if isinstance(v, dt.date | dt.datetime) else v


def case_section(conn: Connection, cfg: dict, unit: str, month: str, tz: str,
                 submissions: bool) -> dict:
    """The section for ``unit`` and ``month``: the rows of ``/api/cases/monthly`` (dates as
    ISO text), the closures by reason (labels and totals) and, when ``submissions``,
    the units by submission state (按时报送 / 逾期报送 / 未报送)."""
    figures = monthly_case_figures(conn, cfg, unit, month, tz)
    units = []
    for row in figures["units"]:
        sub = {k: _iso(v) for k, v in row["submission"].items()}
        units.append({**row, "cases_closed": dict(row["cases_closed"]), "submission": sub})
    out = {"title": SHEET, "by": figures["by"], "due": figures["due"].isoformat(),
           "units": units,
           "closing_reasons": dict(vocab.CLOSE_REASONS),
           "closed_total": {r: sum(u["cases_closed"][r] for u in units)
                            for r in vocab.CLOSE_REASONS},
           "submission_states": dict(SUBMISSION_STATES),
           "submissions": None}
    if submissions:
        out["submissions"] = {s: [{**u["unit"], "submitted_at": u["submission"]["submitted_at"],
                                   "submitted_by": u["submission"]["submitted_by"]}
                                  for u in units if _state(u["submission"]) == s]
                              for s in SUBMISSION_STATES}
    return out


def _row_values(row: dict) -> dict:
    vals = {k: row.get(k) for k in COUNTS}
    vals.update({f"closed.{r}": n for r, n in row["cases_closed"].items()})
    return vals


def planner_case_hidden(conn: Connection, cfg: dict, month: str, tz: str, scope_code: str,
                        threshold: int) -> set:
    """Hidden (level, unit id, field) of the case figures over the planner's whole area:
    the area's units and their units (parent = sum of its units, and the area = sum of
    its units), so a report of the area and one of its units cannot be differenced."""
    scope = find_unit(conn, scope_code)
    values: dict = {}
    eqs: list = []
    top = monthly_case_figures(conn, cfg, scope.code, month, tz)
    if top["by"] == scope.level:   # a village planner: its one row, small counts only
        return set()
    parents: dict = {}
    for row in top["units"]:
        u = find_unit(conn, row["unit"]["code"])
        key = (u.level, u.id)
        for f, v in _row_values(row).items():
            values[(*key, f)] = v
            values[(*suppression.ROOT, f)] = values.get((*suppression.ROOT, f), 0) + v
        parents[key] = u.code
    fields = list(_row_values(top["units"][0])) if top["units"] else []
    for f in fields:
        eqs.append([((*suppression.ROOT, f), -1)] + [((*k, f), 1) for k in parents])
    for key, code in parents.items():
        below = monthly_case_figures(conn, cfg, code, month, tz)
        if below["by"] == key[0]:
            continue
        kids = []
        for row in below["units"]:
            u = find_unit(conn, row["unit"]["code"])
            kids.append((u.level, u.id))
            for f, v in _row_values(row).items():
                values[(u.level, u.id, f)] = v
        for f in fields:
            eqs.append([((*key, f), -1)] + [((*k, f), 1) for k in kids])
    return suppression.protect(values, eqs, threshold)


def suppress_case_section(conn: Connection, section: dict, threshold: int,
                          hidden: set, report_unit: str, scope_code: str) -> dict:
    """The section as a planner sees it: hidden counts (and closures) None, a percentage
    None when a count it is made of is hidden, no submitted_by, no submission lists.
    Rows of a village's or a cell's report (its village as one row, not part of the
    area's pattern) show zeros only."""
    report = find_unit(conn, report_unit)
    whole = report.level not in ("village", "cell") or report.code == scope_code
    units = []
    for row in section["units"]:
        u = find_unit(conn, row["unit"]["code"])
        key = suppression.unit_key(u, scope_code)

        def gone(f, v, key=key):
            return v not in (0, None) and (not whole or suppression.small(v, threshold)
                                           or (*key, f) in hidden)

        new = {**row, **{f: None for f in COUNTS if gone(f, row.get(f))}}
        new["cases_closed"] = {r: None if gone(f"closed.{r}", n) else n
                               for r, n in row["cases_closed"].items()}
        for pct, parts in PCT_PARTS.items():
            if any(new.get(p) is None for p in parts):
                new[pct] = None
        new["submission"] = {**row["submission"], "submitted_by": None}
        units.append(new)
    own = suppression.unit_key(report, scope_code)
    closed = {r: None if any(u["cases_closed"][r] is None for u in units)
              or suppression.small(n, threshold) or (*own, f"closed.{r}") in hidden else n
              for r, n in section["closed_total"].items()}
    return {**section, "units": units, "closed_total": closed, "submissions": None,
            "suppressed": threshold}


def case_sheet(wb, section: dict) -> None:
    """The sheet "案件与报送" of the monthly workbook: one row per unit (figures, closures
    by reason, submission state), the closures' totals, and the submission lists."""
    ws = wb.create_sheet(SHEET)
    reasons = list(section["closing_reasons"])
    ws.append(neutralise_row(
        ["单位代码", LEVEL_NAMES.get(section["by"], "单位")]
        + [label for _k, label in CASE_FIGURES]
        + [f"结案：{section['closing_reasons'][r]}" for r in reasons]
        + ["报送状态", "报送时间", "报送人"]))
    for u in section["units"]:
        sub = u["submission"]
        ws.append(neutralise_row(
            [u["unit"]["code"], u["unit"]["name"]] + [u[k] for k, _l in CASE_FIGURES]
            + [u["cases_closed"][r] for r in reasons]
            + [SUBMISSION_STATES[_state(sub)],
               sub["submitted_at"], sub["submitted_by"]]))
    ws.append([])
    ws.append(neutralise_row(["结案原因", "本月结案"]))
    for r in reasons:
        ws.append(neutralise_row([section["closing_reasons"][r], section["closed_total"][r]]))
    if section.get("submissions"):
        ws.append([])
        ws.append(neutralise_row([f"报送截止日：{section['due']}", "单位代码", "单位"]))
        for state, label in SUBMISSION_STATES.items():
            for u in section["submissions"][state]:
                ws.append(neutralise_row([label, u["code"], u["name"]]))


def submission_state(sub: dict) -> str:
    """按时报送 / 逾期报送 / 逾期未报送 / 未报送 of one unit's submission."""
    return SUBMISSION_STATES[_state(sub)]

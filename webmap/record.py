"""Record pages (/record/child/<id>, /record/household/<id>, /record/facility/<id>): the
file behind a map feature, as a person reads it — fields with Chinese labels, the
visits, placements or children as tables, and the place on a small map. The caller
passes records already scoped and redacted for the user's role."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import folium
from markupsafe import Markup

from geo import vocab
from webmap.base import Boundaries, local_date, offline_map, render_page, tooltip
from webmap.templating import render

TEXT = {
    "zh": {"child": "儿童档案", "household": "家庭户档案", "facility": "机构信息",
           "back": "返回地图", "name": "姓名", "sex": "性别", "birth_date": "出生日期",
           "categories": "困境类别", "risk_level": "风险等级", "guardian": "监护情况",
           "school": "就读学校", "disability": "残疾", "registered_on": "建档日期",
           "id_masked": "身份证号", "address": "住址", "cell": "所属网格",
           "last_visit": "最近走访", "next_due": "下次应访", "overdue": "逾期天数",
           "visits": "走访记录", "placements": "安置记录", "children": "未成年人",
           "when": "时间", "kind": "方式", "worker": "走访人", "outcome": "情况",
           "note": "备注", "check": "核验", "ok": "正常", "facility_name": "机构",
           "status": "状态", "head": "户主", "phone": "电话", "flags": "家庭情况",
           "type": "类型", "beds": "床位（空余/总数）", "open_24h": "24小时开放",
           "ages": "接收年龄", "sex_accepted": "接收性别", "accepts_disability": "接收残疾儿童",
           "yes": "是", "no": "否", "none": "无", "days": "天",
           "no_gps": "无定位", "gps_far_from_household": "定位距住户过远",
           "impossible_travel": "行程时间不合理", "released": "离开", "report": "发现报告",
           "harm_signs": "发现受侵害迹象", "edit_on_map": "在地图上编辑"},
    "en": {"child": "Child's file", "household": "Household", "facility": "Facility",
           "back": "Back to the map", "name": "Name", "sex": "Sex", "birth_date": "Born",
           "categories": "Categories", "risk_level": "Risk", "guardian": "Guardian",
           "school": "School", "disability": "Disability", "registered_on": "Registered",
           "id_masked": "ID number", "address": "Address", "cell": "Cell",
           "last_visit": "Last visit", "next_due": "Next due", "overdue": "Days overdue",
           "visits": "Visits", "placements": "Placements", "children": "Children",
           "when": "When", "kind": "Kind", "worker": "Worker", "outcome": "Outcome",
           "note": "Note", "check": "Check", "ok": "ok", "facility_name": "Facility",
           "status": "Status", "head": "Head of household", "phone": "Phone",
           "flags": "Household situation", "type": "Type", "beds": "Beds (free/total)",
           "open_24h": "Open 24 h", "ages": "Ages", "sex_accepted": "Sex accepted",
           "accepts_disability": "Accepts disability", "yes": "yes", "no": "no",
           "none": "none", "days": "days", "no_gps": "no GPS fix",
           "gps_far_from_household": "GPS far from household",
           "impossible_travel": "impossible travel", "released": "Left",
           "report": "Report", "harm_signs": "signs of harm", "edit_on_map": "Edit on the map"},
}


def _label(mapping: dict, key, lang: str) -> str:
    return mapping.get(key, key) if lang == "zh" else str(key)


def _when(value, tz: str, lang: str) -> str:
    """A time on the county's clock, to the minute."""
    if value is None:
        return "–"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    local = value.astimezone(ZoneInfo(tz))
    return f"{local_date(local.date(), lang)} {local:%H:%M}"


def _released(p: dict, tz: str, lang: str) -> str:
    """When and why a placement ended ("–" while the child is still there)."""
    if not p.get("released_at"):
        return "–"
    reason = _label(vocab.RELEASE_REASONS, p["release_reason"], lang) \
        if p.get("release_reason") else ""
    return _when(p["released_at"], tz, lang) + (f" · {reason}" if reason else "")


def _section(title: str, headers: list[str], rows: list[list]) -> dict:
    return {"title": title, "headers": headers, "rows": rows}


def _page(cfg: dict, lang: str, title: str, fields: list[tuple[str, object]],
          sections: list[dict], point: tuple[float, float] | None,
          nonce: str = "", bounds=None, panel: str = "", data: dict | None = None,
          edit_household: int | None = None) -> str:
    """The page: a small map at ``point``, then the fields and the sections (values as
    text, rendered by the autoescaped ``record_sheet.html``), then ``panel`` (markup of
    ours, e.g. the case panel) whose script case.js reads ``data``. ``edit_household``:
    the household the page links to for editing on the map (``/map?household=ID``; None
    for roles that do not write)."""
    t = TEXT[lang]
    centre = [point[1], point[0]] if point else None
    m = offline_map(cfg, location=centre, zoom=15, height="30vh", title=title,
                    bounds=None if point else bounds)
    Boundaries().add_to(m)
    if point:
        folium.CircleMarker(centre, radius=8, color="#b71c1c", fill=True,
                            fill_opacity=0.9, tooltip=tooltip(title)).add_to(m)
    en = "?lang=en" if lang == "en" else ""
    edit = (f"/map?household={int(edit_household)}{'&lang=en' if en else ''}"
            if edit_household is not None else None)
    sheet = render("record_sheet.html", t=t, title=title,
                   fields=fields, sections=sections, back=f"/map{en}", edit=edit,
                   panel=Markup(panel))
    return render_page(m, lang, sheet, css="planner.css", nonce=nonce,
                       scripts=("send.js", "case.js") if panel else (), data=data)


def child_page(cfg: dict, lang: str, child: dict, due: dict | None, visits: list[dict],
               placements: list[dict], nonce: str = "", panel: str = "",
               data: dict | None = None, editable: bool = False) -> str:
    """The child's file; ``panel`` is the case panel (api/case_pages.py renders it from
    webmap/templates/case_panel.html, autoescaped) with its script's ``data``;
    ``editable``: link to the child's household on the map for editing."""
    t, tz = TEXT[lang], cfg["timezone"]
    cats = "、" if lang == "zh" else ", "
    fields = [
        (t["name"], child["name"]),
        (t["sex"], _label(vocab.SEXES, child["sex"], lang)),
        (t["birth_date"], local_date(child["birth_date"], lang)),
        (t["categories"], cats.join(_label(vocab.CHILD_CATEGORIES, c, lang)
                                    for c in child["categories"]) or t["none"]),
        (t["risk_level"], _label(vocab.RISK_LABELS, child["risk_level"], lang)),
        (t["guardian"], child.get("guardian_situation") or "–"),
        (t["school"], child.get("school") or "–"),
        (t["disability"], t["yes"] if child.get("has_disability") else t["no"]),
        (t["registered_on"], local_date(child["registered_on"], lang)),
        (t["address"], child["address"]),
        (t["cell"], f"{child['cell_name']} {child['cell_code']}"),
    ]
    if "id_masked" in child:
        fields.append((t["id_masked"], child["id_masked"] or "–"))
    if due:
        late = due["days_overdue"] > 0
        fields += [(t["last_visit"], _when(due["last_visit"], tz, lang)),
                   (t["next_due"], local_date(due["next_due"], lang)),
                   (t["overdue"], {"text": str(due["days_overdue"]), "bold": late,
                                   "late": late})]
    show_notes = any("note" in v for v in visits)
    rows = []
    for v in visits:
        check = "、".join(t.get(f, f) for f in (v["flag_reason"] or "").split(",") if f)
        row = [_when(v["visited_at"], tz, lang), _label(vocab.VISIT_KINDS, v["kind"], lang),
               v["worker_name"], v["outcome"] or "–",
               {"text": check, "late": True} if v["flagged"] else t["ok"]]
        if show_notes:
            row.append(v.get("note") or "")
        rows.append(row)
    headers = [t["when"], t["kind"], t["worker"], t["outcome"], t["check"]] + \
        ([t["note"]] if show_notes else [])
    placed = [[_when(p["placed_at"], tz, lang), p["facility"],
               _label(vocab.FACILITY_TYPES, p["type"], lang),
               _label(vocab.PLACEMENT_STATUSES, p["status"], lang), _released(p, tz, lang),
               {"text": f"#{int(p['report_id'])}", "href": f"/reports/{int(p['report_id'])}"}
               if p.get("report_id") else "–"] for p in placements]
    sections = [_section(t["visits"], headers, rows),
                _section(t["placements"], [t["when"], t["facility_name"], t["type"],
                                           t["status"], t["released"], t["report"]], placed)]
    return _page(cfg, lang, f"{t['child']} · {child['name']}", fields, sections,
                 (child["lon"], child["lat"]), nonce, panel=panel, data=data,
                 edit_household=child["household_id"] if editable else None)


def household_page(cfg: dict, lang: str, household: dict, children: list[dict],
                   nonce: str = "", editable: bool = False) -> str:
    t = TEXT[lang]
    fields = [(t["address"], household["address"]),
              (t["head"], household.get("head_name") or "–"),
              (t["phone"], household.get("phone") or "–"),
              (t["flags"], "、".join(_label(vocab.HOUSEHOLD_FLAGS, f, lang)
                                    for f in household["flags"] or []) or t["none"]),
              (t["cell"], household["cell_code"])]
    en = "?lang=en" if lang == "en" else ""
    rows = [[{"text": c["name"], "href": f"/record/child/{int(c['id'])}{en}"},
             _label(vocab.SEXES, c["sex"], lang), local_date(c["birth_date"], lang),
             _label(vocab.RISK_LABELS, c["risk_level"], lang)] for c in children]
    sections = [_section(t["children"], [t["name"], t["sex"], t["birth_date"],
                                         t["risk_level"]], rows)]
    return _page(cfg, lang, f"{t['household']} · {household['address']}", fields, sections,
                 (household["lon"], household["lat"]), nonce,
                 edit_household=household["id"] if editable else None)


def facility_page(cfg: dict, lang: str, f: dict, nonce: str = "") -> str:
    t = TEXT[lang]
    fields = [(t["type"], _label(vocab.FACILITY_TYPES, f["type"], lang)),
              (t["address"], f.get("address") or "–"),
              (t["phone"], f.get("phone") or "–"),
              (t["beds"], f"{f['free_beds']} / {f['capacity']}"),
              (t["open_24h"], t["yes"] if f["open_24h"] else t["no"]),
              (t["ages"], f"{f['min_age']}–{f['max_age']}"),
              (t["sex_accepted"], _label(vocab.SEX_ACCEPTED, f["sex_accepted"], lang)),
              (t["accepts_disability"], t["yes"] if f["accepts_disability"] else t["no"])]
    return _page(cfg, lang, f"{t['facility']} · {f['name']}", fields, [],
                 (f["lon"], f["lat"]), nonce)

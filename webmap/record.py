"""Record pages (/record/child/<id>, /record/household/<id>, /record/facility/<id>): the
file behind a map feature, as a person reads it — fields with Chinese labels, the
visits, placements or children as tables, and the place on a small map. The caller
passes records already scoped and redacted for the user's role."""

from __future__ import annotations

import datetime as dt
import html
from zoneinfo import ZoneInfo

import folium

from geo import vocab
from webmap.base import Boundaries, local_date, offline_map, render_page, tooltip

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


def _table(headers: list[str], rows: list[list], empty: str) -> str:
    if not rows:
        return f"<p>{html.escape(empty)}</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table class='gm-rows'><tr>{head}</tr>{body}</table>"


def _page(cfg: dict, lang: str, title: str, fields: list[tuple[str, str]],
          sections: list[tuple[str, str]], point: tuple[float, float] | None,
          nonce: str = "", bounds=None, panel: str = "", data: dict | None = None,
          edit_household: int | None = None) -> str:
    """The page: a small map at ``point``, then the fields and the sections (escaped
    values in, HTML out), then ``panel`` (markup of ours, e.g. the case panel) whose
    script case.js reads ``data``. ``edit_household``: the household the page links to
    for editing on the map (``/map?household=ID``; None for roles that do not write)."""
    t = TEXT[lang]
    centre = [point[1], point[0]] if point else None
    m = offline_map(cfg, location=centre, zoom=15, height="30vh", title=title,
                    bounds=None if point else bounds)
    Boundaries().add_to(m)
    if point:
        folium.CircleMarker(centre, radius=8, color="#b71c1c", fill=True,
                            fill_opacity=0.9, tooltip=tooltip(title)).add_to(m)
    dl = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in fields)
    parts = "".join(f"<h2>{html.escape(h)}</h2>{body}" for h, body in sections)
    back = f"<a href=\"/map{'?lang=en' if lang == 'en' else ''}\">{t['back']}</a>"
    edit = (f" · <a id='gm-edit-on-map' href='/map?household={int(edit_household)}"
            f"{'&amp;lang=en' if lang == 'en' else ''}'>{html.escape(t['edit_on_map'])}</a>"
            if edit_household is not None else "")
    sheet = f"""
    <div id="gm-record">
      <p class="noprint">{back}{edit}</p>
      <h1>{html.escape(title)}</h1>
      <table id="gm-fields">{dl}</table>
      {parts}
      {panel}
    </div>"""
    return render_page(m, lang, sheet, css="planner.css", nonce=nonce,
                       scripts=("send.js", "case.js") if panel else (), data=data)


def child_page(cfg: dict, lang: str, child: dict, due: dict | None, visits: list[dict],
               placements: list[dict], nonce: str = "", panel: str = "",
               data: dict | None = None, editable: bool = False) -> str:
    """The child's file; ``panel`` is the case panel (api/case_pages.py renders it from
    webmap/templates/case_panel.html, autoescaped) with its script's ``data``;
    ``editable``: link to the child's household on the map for editing."""
    t, e = TEXT[lang], html.escape
    cats = "、" if lang == "zh" else ", "
    fields = [
        (t["name"], e(child["name"])),
        (t["sex"], e(_label(vocab.SEXES, child["sex"], lang))),
        (t["birth_date"], e(local_date(child["birth_date"], lang))),
        (t["categories"], e(cats.join(_label(vocab.CHILD_CATEGORIES, c, lang)
                                      for c in child["categories"]) or t["none"])),
        (t["risk_level"], e(_label(vocab.RISK_LABELS, child["risk_level"], lang))),
        (t["guardian"], e(child.get("guardian_situation") or "–")),
        (t["school"], e(child.get("school") or "–")),
        (t["disability"], t["yes"] if child.get("has_disability") else t["no"]),
        (t["registered_on"], e(local_date(child["registered_on"], lang))),
        (t["address"], e(child["address"])),
        (t["cell"], e(f"{child['cell_name']} {child['cell_code']}")),
    ]
    if "id_masked" in child:
        fields.append((t["id_masked"], e(child["id_masked"] or "–")))
    if due:
        fields += [(t["last_visit"], e(_when(due["last_visit"], cfg["timezone"], lang))),
                   (t["next_due"], e(local_date(due["next_due"], lang))),
                   (t["overdue"], f"<b class='gm-late'>{due['days_overdue']}</b>"
                    if due["days_overdue"] > 0 else "0")]
    show_notes = any("note" in v for v in visits)
    rows = []
    for v in visits:
        check = "、".join(t.get(f, f) for f in (v["flag_reason"] or "").split(",") if f)
        row = [e(_when(v["visited_at"], cfg["timezone"], lang)),
               e(_label(vocab.VISIT_KINDS, v["kind"], lang)),
               e(v["worker_name"]), e(v["outcome"] or "–"),
               f"<span class='gm-late'>{e(check)}</span>" if v["flagged"] else t["ok"]]
        if show_notes:
            row.append(e(v.get("note") or ""))
        rows.append(row)
    headers = [t["when"], t["kind"], t["worker"], t["outcome"], t["check"]] + \
        ([t["note"]] if show_notes else [])
    placed = [[e(_when(p["placed_at"], cfg["timezone"], lang)), e(p["facility"]),
               e(_label(vocab.FACILITY_TYPES, p["type"], lang)),
               e(_label(vocab.PLACEMENT_STATUSES, p["status"], lang)),
               e(_released(p, cfg["timezone"], lang)),
               f"<a href='/reports/{int(p['report_id'])}'>#{int(p['report_id'])}</a>"
               if p.get("report_id") else "–"] for p in placements]
    sections = [(t["visits"], _table(headers, rows, t["none"])),
                (t["placements"], _table([t["when"], t["facility_name"], t["type"],
                                          t["status"], t["released"], t["report"]],
                                         placed, t["none"]))]
    return _page(cfg, lang, f"{t['child']} · {child['name']}", fields, sections,
                 (child["lon"], child["lat"]), nonce, panel=panel, data=data,
                 edit_household=child["household_id"] if editable else None)


def household_page(cfg: dict, lang: str, household: dict, children: list[dict],
                   nonce: str = "", editable: bool = False) -> str:
    t, e = TEXT[lang], html.escape
    fields = [(t["address"], e(household["address"])),
              (t["head"], e(household.get("head_name") or "–")),
              (t["phone"], e(household.get("phone") or "–")),
              (t["flags"], e("、".join(_label(vocab.HOUSEHOLD_FLAGS, f, lang)
                                      for f in household["flags"] or []) or t["none"])),
              (t["cell"], e(household["cell_code"]))]
    rows = [[f"<a href='/record/child/{c['id']}{'?lang=en' if lang == 'en' else ''}'>"
             f"{e(c['name'])}</a>", e(_label(vocab.SEXES, c["sex"], lang)),
             e(local_date(c["birth_date"], lang)),
             e(_label(vocab.RISK_LABELS, c["risk_level"], lang))]
            for c in children]
    sections = [(t["children"], _table([t["name"], t["sex"], t["birth_date"],
                                        t["risk_level"]], rows, t["none"]))]
    return _page(cfg, lang, f"{t['household']} · {household['address']}", fields, sections,
                 (household["lon"], household["lat"]), nonce,
                 edit_household=household["id"] if editable else None)


def facility_page(cfg: dict, lang: str, f: dict, nonce: str = "") -> str:
    t, e = TEXT[lang], html.escape
    fields = [(t["type"], e(_label(vocab.FACILITY_TYPES, f["type"], lang))),
              (t["address"], e(f.get("address") or "–")),
              (t["phone"], e(f.get("phone") or "–")),
              (t["beds"], f"{f['free_beds']} / {f['capacity']}"),
              (t["open_24h"], t["yes"] if f["open_24h"] else t["no"]),
              (t["ages"], f"{f['min_age']}–{f['max_age']}"),
              (t["sex_accepted"], e(_label(vocab.SEX_ACCEPTED, f["sex_accepted"], lang))),
              (t["accepts_disability"], t["yes"] if f["accepts_disability"] else t["no"])]
    return _page(cfg, lang, f"{t['facility']} · {f['name']}", fields, [],
                 (f["lon"], f["lat"]), nonce)

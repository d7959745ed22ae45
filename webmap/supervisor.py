"""The supervisor map (/map): every layer the user may see, drawn from vector tiles,
with a layer control, a legend, popups and a side panel with the unit's figures."""

from __future__ import annotations

import datetime as dt

from branca.element import MacroElement, Template

from geo import access, vocab
from geo.access import PERSON_ROLES
from geo.config import county_rules
from geo.scope import today
from layers.registry import GROUPS, layers_for
from webmap.base import offline_map, render_page

TEXT = {
    "zh": {"title": "困境未成年人网格化管理地图", "children": "在册未成年人",
           "households": "家庭户", "cells": "网格", "free_beds": "空余床位",
           "legend": "图例", "search": "搜索村/社区或儿童姓名", "logout": "退出",
           "lang": "English", "area": "平方公里", "planner": "规划视图",
           "overdue": "逾期未走访儿童", "never": "从未走访网格", "record": "查看档案",
           "nearest": "紧急安置", "route": "我的走访路线", "report": "上月月报",
           "ledger": "导出儿童台账", "matches": "条结果", "more": "更多…",
           "kinds": {"village": "村/社区", "township": "乡镇", "child": "儿童",
                     "household": "家庭户"}, "home": "首页", "handover": "交接网格"},
    "en": {"title": "Grid map for children in distress", "children": "Children on file",
           "households": "Households", "cells": "Cells", "free_beds": "Free beds",
           "legend": "Legend", "search": "Find a village or child", "logout": "Log out",
           "lang": "中文", "area": "km²", "planner": "Planner view",
           "overdue": "Overdue children", "never": "Cells never visited",
           "record": "Open record", "nearest": "Emergency placement",
           "route": "My visit route", "report": "Last month's report",
           "ledger": "Export children's ledger", "matches": "matches", "more": "More…",
           "kinds": {"village": "village", "township": "township", "child": "child",
                     "household": "household"}, "home": "Home", "handover": "Hand over"},
}


class GridLayers(MacroElement):
    """Hands the folium map to static/supervisor.js (vector-tile overlays from the
    registry, their control, legend and side panel), which reads its configuration from
    the page's JSON block."""

    _template = Template("""
    {% macro script(this, kwargs) %}
    window.gridmapMap = {{ this._parent.get_name() }};
    {% endmacro %}
    """)

    def __init__(self):
        super().__init__()
        self._name = "GridLayers"


def _pages(cfg: dict, user) -> list[tuple[str, str, frozenset[str]]]:
    """The other pages a role works with: (address, text key, roles)."""
    first = today(cfg["timezone"]).replace(day=1)
    last_month = (first - dt.timedelta(days=1)).strftime("%Y-%m")
    own_route = access.OWN_ROUTE_ONLY if user.worker_id else frozenset()
    return [
        ("/?", "home", access.EVERYONE),
        (f"/map/route/{user.worker_id}?", "route", frozenset(own_route)),
        ("/map/nearest?", "nearest", access.PLACES_CHILDREN),
        ("/map/planner?", "planner", access.SEES_COVERAGE),
        (f"/api/reports/monthly?format=html&month={last_month}", "report",
         access.READS_MONTHLY_REPORT),
        ("/api/exports/ledger?kind=children", "ledger",
         access.EXPORTS_LEDGERS),
    ]


def _list_links(user) -> dict:
    """The lists behind the panel's figures that the role may open."""
    from geo.reporting.lists import LISTS

    def may(name):
        spec = LISTS[name]
        return user.role in spec.roles and not (access.aggregates_only(user.role) and spec.person)

    return {"overdue": "/lists/overdue" if may("overdue") else None,
            "cells": "/lists/cells" if may("cells") else None}


def supervisor_map(cfg: dict, user, lang: str = "zh", csrf: str = "", nonce: str = "",
                   bounds=None) -> str:
    """The whole HTML page for ``user`` in ``lang`` ("zh" or "en"), opened on
    ``bounds`` (the user's area)."""
    text = TEXT[lang]
    m = offline_map(cfg, zoom=10, title=text["title"], bounds=bounds, scale=False)
    other = "?lang=" + ("en" if lang == "zh" else "zh")
    suffix = "&lang=en" if lang == "en" else ""
    pages = [(href + suffix, text[key]) for href, key, roles in _pages(cfg, user)
             if user.role in roles]
    layers = [{"name": layer.name, "title": layer.title, "kind": layer.kind,
               "colour_by": layer.colour_by, "colours": layer.colours, "colour": layer.colour,
               "popup": [list(p) for p in layer.popup], "legend": layer.legend,
               "legend_order": list(layer.legend),
               "visible": layer.visible, "link": layer.link, "group": layer.group,
               "min_zoom": layer.min_zoom, "max_zoom": layer.max_zoom}
              for layer in layers_for(user.role)]
    config = {
        "lang": lang, "locale": "zh-CN" if lang == "zh" else "en", "text": text,
        "unit": user.unit_code, "layers": layers, "pages": pages, "otherLang": other,
        "csrf": csrf,
        "tileUrl": "/tiles/__layer__/{z}/{x}/{y}.pbf",
        "typeLabels": dict(vocab.FACILITY_TYPES),
        "caseloadLimit": cfg["rules"]["caseload_limit"],
        # Counties keeping their own limit ([rules.counties.<code>]): a city user's map
        # colours each county's cells by it (a cell's code starts with its county's).
        "caseloadLimits": {str(code): county_rules(cfg["rules"], code)["caseload_limit"]
                           for code in cfg["rules"].get("counties") or {}},
        "childSearch": user.role in PERSON_ROLES,
        "lists": _list_links(user),
        # The coverage popup links each worker to their handover page (api/handover.py).
        "handover": user.role in access.WRITES_WORKERS,
        "groups": GROUPS,
    }
    scripts = ["supervisor.js"]
    if user.role in access.WRITES_RECORDS:
        config["register"] = register_config(cfg, user)
        scripts += ["send.js", "register.js"]
    GridLayers().add_to(m)
    return render_page(m, lang, nonce=nonce, data={"gm-config": config}, scripts=scripts)


def register_config(cfg: dict, user) -> dict:
    """What the 登记住户 panel (static/register.js) offers this user: the words of the
    forms (Chinese), the vocabularies, and the field rights of the role (sensitive
    categories only for roles that see them; identity numbers shown only to roles that
    see them, the others may enter one for a child without)."""
    sensitive = user.role in access.SEES_SENSITIVE_CATEGORIES
    return {
        "categories": [[code, label] for code, label in vocab.CHILD_CATEGORIES.items()
                       if sensitive or code not in vocab.SENSITIVE_CATEGORIES],
        "risk": [[level, vocab.RISK_LABELS.get(level, level)]
                 for level in cfg["rules"]["risk_levels"]],
        "sexes": [[code, label] for code, label in vocab.SEXES.items()],
        "flags": [[code, label] for code, label in vocab.HOUSEHOLD_FLAGS.items()],
        "crs": [[code, label] for code, label in vocab.CRS_LABELS.items()],
        "seesId": user.role in access.SEES_ID_NUMBER,
    }

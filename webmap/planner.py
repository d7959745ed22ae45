"""The planner view (/map/planner): coverage per village as a choropleth (aggregates
only, small counts suppressed), the blind-spot area, suggested sites with the children
each would reach, a summary table and a CSV download. No household or child point ever
reaches this page."""

from __future__ import annotations

import json

import folium

from geo import vocab
from geo.ledgers.spreadsheet import neutralise
from layers.registry import planner_layer, share_band
from webmap.base import Legend, offline_map, render_page, text, tooltip
from webmap.templating import render

TEXT = {
    "zh": {"title": "服务盲区规划视图", "village": "村/社区", "children": "未成年人",
           "beyond": "服务半径外", "share": "占比", "sites": "建议新址", "adds": "可新覆盖",
           "area": "盲区面积", "km2": "平方公里", "csv": "下载 CSV", "type": "机构类型",
           "reach": "服务半径", "m": "米", "suppressed": "少于{n}人不显示",
           "legend": "图例"},
    "en": {"title": "Coverage and blind spots", "village": "Village", "children": "Children",
           "beyond": "Beyond reach", "share": "Share", "sites": "Suggested sites",
           "adds": "Would reach", "area": "Blind-spot area", "km2": "km²", "csv": "CSV",
           "type": "Facility type", "reach": "Reach", "m": "m",
           "suppressed": "counts under {n} hidden", "legend": "Legend"},
}


def planner_page(cfg: dict, facility_type: str, coverage: dict, sites: dict,
                 villages_geojson: dict, lang: str, nonce: str = "", bounds=None) -> str:
    t = TEXT[lang]
    by_code = {v["code"]: v for v in coverage["villages"]}
    for feature in villages_geojson["features"]:
        v = by_code.get(feature["properties"]["code"], {})
        share = None
        if v.get("children") and v.get("uncovered_children") is not None:
            share = v["uncovered_children"] / v["children"]
        feature["properties"].update(children=v.get("children"),
                                     uncovered=v.get("uncovered_children"),
                                     band=share_band(share))
        # folium's GeoJsonTooltip puts the values it shows in as markup: names go in
        # as text.
        for key, *_ in planner_layer("village_coverage").popup:
            if isinstance(feature["properties"].get(key), str):
                feature["properties"][key] = text(feature["properties"][key])
    m = offline_map(cfg, zoom=10, height="60vh", bounds=bounds,
                    title=f"{t['title']} · {vocab.FACILITY_TYPES[facility_type]}")
    villages, blind, site = (planner_layer(n) for n in
                             ("village_coverage", "blind_spots", "suggested_sites"))
    folium.GeoJson(
        villages_geojson, name=villages.title[lang],
        style_function=lambda f: {"fillColor": villages.colours[f["properties"]["band"]],
                                  "color": "#546e7a", "weight": 1, "fillOpacity": 0.75},
        tooltip=folium.GeoJsonTooltip(
            fields=[p[0] for p in villages.popup],
            aliases=[p[1 if lang == "zh" else 2] for p in villages.popup]),
    ).add_to(m)
    if coverage["area"].get("geometry"):
        folium.GeoJson(coverage["area"]["geometry"], name=blind.title[lang],
                       style_function=lambda f: {"fill": False, "color": blind.colour,
                                                 "weight": 1.5, "dashArray": "4"}).add_to(m)
    for i, s in enumerate(sites["sites"], start=1):
        folium.CircleMarker([s["lat"], s["lon"]], radius=9, color="#1a237e", fill=True,
                            fill_color=site.colour, fill_opacity=0.9,
                            tooltip=tooltip(f"{site.title[lang]} {i}: +{s['children_added']}")
                            ).add_to(m)
    Legend(t["legend"], [villages, blind, site], lang).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    if villages_geojson["features"]:
        m.fit_bounds(folium.GeoJson(villages_geojson).get_bounds())

    panel = render(
        "planner_panel.html", t=t, lang=lang, facility_type=facility_type,
        types=[(k, label) for k, label in vocab.FACILITY_TYPES.items()
               if k in cfg["rules"]["service_reach_m"]],
        coverage=coverage, sites=sites, suppress_below=cfg["rules"]["suppress_below"],
        rows_json=json.dumps([[neutralise(v["name"]), v["children"], v["uncovered_children"]]
                              for v in coverage["villages"]], ensure_ascii=False),
        csv_head=f"\ufeff{t['village']},{t['children']},{t['beyond']}\n")
    return render_page(m, lang, panel, css="planner.css", nonce=nonce,
                       scripts=["planner.js"])


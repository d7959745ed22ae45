"""The route sheet (/map/route/<worker>): today's stops for a grid head or grid worker,
on a phone and on paper — the ordered list with children, reasons and distances, the
route on a map, CSV and GPX downloads, and a "record visit" button per stop."""

from __future__ import annotations

import html

import folium

from geo import vocab
from webmap.base import js, local_date, offline_map, render_page, tooltip

TEXT = {
    "zh": {"title": "走访路线单", "total": "全程", "minutes": "分钟", "km": "公里",
           "stop": "站", "leg": "本段", "record": "记录走访", "recorded": "已记录",
           "csv": "下载 CSV", "gpx": "下载 GPX", "print": "打印", "none": "今日无待走访家庭",
           "overdue": "逾期 {n} 天", "due_soon": "{n} 天内到期", "first_visit": "尚未走访",
           "return": "网格长回访", "regular": "定期随访", "start": "出发/返回：办公地",
           "no_gps": "（无定位，已标记）"},
    "en": {"title": "Visit route", "total": "Total", "minutes": "min", "km": "km",
           "stop": "Stop", "leg": "Leg", "record": "Record visit", "recorded": "Recorded",
           "csv": "CSV", "gpx": "GPX", "print": "Print", "none": "No household due today",
           "overdue": "{n} days overdue", "due_soon": "due in {n} days",
           "first_visit": "never visited", "return": "return visit", "regular": "regular",
           "start": "Start and end: office", "no_gps": " (no GPS fix: flagged)"},
}


def _reason(r: dict, t: dict, lang: str) -> str:
    n = r["days_overdue"] if r["kind"] == "overdue" else r["days_until_due"]
    text = t[r["kind"]].format(n=n)
    risk = vocab.RISK_LABELS.get(r["risk_level"], r["risk_level"]) if lang == "zh" \
        else r["risk_level"]
    return f"{text}（{t[r['due_kind']]}，{risk}）" if lang == "zh" else \
        f"{text} ({t[r['due_kind']]}, {risk})"


def _child(c: dict, lang: str) -> str:
    name = html.escape(c["name"])
    if lang == "zh":
        cats = "、".join(vocab.CHILD_CATEGORIES.get(k, k) for k in c["categories"])
        return f"{name}（{html.escape(cats)}）"
    return f"{name} ({html.escape(', '.join(c['categories']))})"


def route_page(cfg: dict, route: dict, lang: str, csrf: str, query: str,
               nonce: str = "") -> str:
    t = TEXT[lang]
    start = route["start"]
    m = offline_map(cfg, location=[start[1], start[0]], zoom=13, height="45vh",
                    title=f"{t['title']} · {route['worker']['name']}")
    points = [[start[1], start[0]]] + [[s["lat"], s["lon"]] for s in route["stops"]] + \
        [[start[1], start[0]]]
    folium.PolyLine(points, color="#2f6fb3", weight=4, opacity=0.8).add_to(m)
    folium.CircleMarker([start[1], start[0]], radius=8, color="#333", fill=True,
                        fill_color="#fff", tooltip=tooltip(t["start"])).add_to(m)
    for i, s in enumerate(route["stops"], start=1):
        folium.Marker([s["lat"], s["lon"]], tooltip=tooltip(f"{i}. {s['address']}"),
                      icon=folium.DivIcon(html=f'<div class="gm-num">{i}</div>',
                                          icon_size=(22, 22), icon_anchor=(11, 11))).add_to(m)
    if len(points) > 2:
        m.fit_bounds([[min(p[0] for p in points), min(p[1] for p in points)],
                      [max(p[0] for p in points), max(p[1] for p in points)]])
    rows = []
    for i, s in enumerate(route["stops"], start=1):
        kids = "、".join(_child(c, lang) for c in s["children"])
        reasons = html.escape("；".join(_reason(r, t, lang) for r in s["reasons"]))
        buttons = "".join(
            f'<button class="gm-record" data-child="{c["child_id"]}">'
            f'{t["record"]} · {html.escape(c["name"])}</button>' for c in s["children"])
        rows.append(f'<li class="gm-stop"><b>{i}. {html.escape(s["address"])}</b>'
                    f'<div>{kids}</div><div class="gm-why">{reasons}</div>'
                    f'<div class="gm-leg">{t["leg"]} {s["leg_m"] / 1000:.1f} {t["km"]}</div>'
                    f'<div class="noprint">{buttons}</div></li>')
    # A grid head's visit is the monthly return visit; the point is the phone's own fix,
    # never the household's (a visit without one is recorded and flagged no_gps).
    kind = "return" if route["worker"]["role"] == "grid_head" else "regular"
    summary = (f'{t["total"]} {route["total_m"] / 1000:.1f} {t["km"]} · '
               f'{route["total_min"]:.0f} {t["minutes"]} · {len(route["stops"])} {t["stop"]}')
    day = local_date(route["date"], lang)
    sheet = f"""
    <div id="gm-sheet">
      <h1>{t['title']} · {html.escape(route['worker']['name'])} · {day}</h1>
      <p id="gm-summary">{summary}</p>
      <p class="noprint"><a href="/api/routes.csv?{html.escape(query)}">{t['csv']}</a> ·
         <a href="/api/routes.gpx?{html.escape(query)}">{t['gpx']}</a> ·
         <a id="gm-print" href="#">{t['print']}</a></p>
      <ol id="gm-stops">{''.join(rows) or f'<p>{t["none"]}</p>'}</ol>
    </div>"""
    cfg_js = js({"kind": kind, "csrf": csrf, "recorded": t["recorded"], "noGps": t["no_gps"]})
    script = f"""
    (function () {{
      var cfg = {cfg_js};
      document.getElementById('gm-print').addEventListener('click', function (e) {{
        e.preventDefault(); window.print();
      }});
      document.querySelectorAll('.gm-record').forEach(function (b) {{
        b.addEventListener('click', function () {{
          var body = {{child_id: +b.dataset.child, visited_at: new Date().toISOString(),
                      kind: cfg.kind}};
          var send = function () {{
            fetch('/api/visits', {{method: 'POST', credentials: 'same-origin',
              headers: {{'Content-Type': 'application/json', 'X-CSRFToken': cfg.csrf}},
              body: JSON.stringify(body)}})
              .then(function (r) {{ return r.json().then(function (v) {{
                if (!r.ok) {{ return; }}
                b.disabled = true;
                b.textContent = cfg.recorded +
                  (v.flags.indexOf('no_gps') >= 0 ? cfg.noGps : '');
              }}); }});
          }};
          if (navigator.geolocation) {{
            navigator.geolocation.getCurrentPosition(function (p) {{
              body.lon = p.coords.longitude; body.lat = p.coords.latitude; send();
            }}, send, {{timeout: 3000}});
          }} else {{ send(); }}
        }});
      }});
    }})();"""
    return render_page(m, lang, sheet, css="route.css", nonce=nonce, script=script)

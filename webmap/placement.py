"""Emergency placement (/map/nearest): click the map or enter a location and the
child's needs, see the nearest suitable facilities with distance, free beds and phone,
and reserve a bed."""

from __future__ import annotations

from branca.element import MacroElement, Template

from geo import vocab
from webmap.base import Boundaries, offline_map, render_page
from webmap.templating import render

TEXT = {
    "zh": {"title": "紧急安置：就近查找", "lon": "经度", "lat": "纬度", "age": "年龄",
           "sex": "性别", "any": "不限", "male": "男", "female": "女",
           "disability": "残疾", "types": "机构类型", "search": "查找",
           "child": "儿童编号", "reserve": "预留床位", "reserved": "已预留",
           "full": "已满，请选择其他机构", "km": "公里", "beds": "空余床位", "phone": "电话",
           "hint": "点击地图选择位置，或输入儿童编号按其档案（住址、年龄、性别、残疾）查找",
           "from_child": "按儿童档案查找", "road": "按道路距离", "geodesic": "按直线距离",
           "placing": "正在安置", "years": "岁", "has_disability": "有残疾",
           "no_child": "尚未选择儿童：请输入儿童编号并按儿童档案查找，确认是哪个孩子后再预留",
           "unknown_child": "报告中的儿童未在册", "from_report": "来自发现报告",
           "active": "在住", "since": "自", "release": "解除安置", "reason": "离开原因",
           "released": "已解除安置", "choose_reason": "请选择离开原因",
           "no_placement": "目前没有在住的安置", "current": "当前安置",
           "not_found": "辖区内没有这个儿童"},
    "en": {"title": "Emergency placement", "lon": "Lon", "lat": "Lat", "age": "Age",
           "sex": "Sex", "any": "any", "male": "male", "female": "female",
           "disability": "Disability", "types": "Types", "search": "Search",
           "child": "Child id", "reserve": "Reserve a bed", "reserved": "Reserved",
           "full": "Full: choose another", "km": "km", "beds": "Free beds", "phone": "Phone",
           "hint": "Click the map to pick a place, or give a child id to search from "
                   "their record (home, age, sex, disability)",
           "from_child": "Search from the child's record", "road": "by road",
           "geodesic": "straight line", "placing": "Placing", "years": "years",
           "has_disability": "disability",
           "no_child": "No child chosen: give a child id and search from the record "
                       "before reserving",
           "unknown_child": "The report's child is not on file", "from_report": "From report",
           "active": "Placed", "since": "since", "release": "Release", "reason": "Reason",
           "released": "Released", "choose_reason": "Choose a reason",
           "no_placement": "No active placement", "current": "Current placement",
           "not_found": "No such child in your area"},
}
PLACE_TYPES = ["rescue_station", "welfare_home", "designated_hospital", "hospital",
               "nursing_home", "health_center", "police_station"]


class PlacementTool(MacroElement):
    _template = Template("""
    {% macro script(this, kwargs) %}
    document.addEventListener('DOMContentLoaded', function () {
      var map = {{ this._parent.get_name() }};
      var cfg = {{ this.config | tojson }};
      var t = cfg.text, pre = cfg.prefill || {}, marker = null;
      var results = L.layerGroup().addTo(map);
      // The child being placed (from /api/children/<id>/placements): nobody reserves a
      // bed without seeing whose it is.
      var child = null, lastFromChild = false;
      window.gridmap.results = 0;
      function $(id) { return document.getElementById(id); }
      // Names, phones and messages are data: shown as text, never as markup.
      function el(tag, text, cls) {
        var e = document.createElement(tag);
        if (text !== undefined && text !== null) { e.textContent = text; }
        if (cls) { e.className = cls; }
        return e;
      }
      function json(r) {
        return r.json().catch(function () { return {}; })
          .then(function (b) { return [r.status, b]; });
      }
      function post(url, body) {
        return fetch(url, {method: 'POST', credentials: 'same-origin',
          headers: {'Content-Type': 'application/json', 'X-CSRFToken': cfg.csrf},
          body: JSON.stringify(body)}).then(json);
      }
      function describe(c) {
        var parts = [c.name || '?'];
        if (c.age !== null && c.age !== undefined) { parts.push(c.age + t.years); }
        if (c.sex) { parts.push(t[c.sex]); }
        if (c.disability) { parts.push(t.has_disability); }
        return parts.join(' · ');
      }
      function showWho() {
        var who = $('gm-who');
        who.textContent = '';
        if (cfg.report) {
          var a = who.appendChild(el('a', t.from_report + ' #' + cfg.report.id));
          a.href = '/reports/' + cfg.report.id;
          who.appendChild(document.createTextNode(' · '));
        }
        if (child) {
          who.appendChild(el('span', t.placing + '：'));
          var b = who.appendChild(el('b', describe(child)));
          b.id = 'gm-who-name';
          who.className = 'gm-who gm-who-ok';
        } else {
          if (cfg.report && !cfg.report.child_id) {
            who.appendChild(el('span', t.unknown_child + '（' + describe(cfg.report) + '）。'));
          }
          who.appendChild(el('span', t.no_child));
          who.className = 'gm-who gm-who-none';
        }
        document.querySelectorAll('.gm-reserve').forEach(function (b) {
          b.textContent = child ? t.reserve + ' · ' + child.name : t.reserve;
        });
      }
      // The child's active placement, with a way to end it (a reason is required).
      function showCurrent(items) {
        var box = $('gm-current');
        box.textContent = '';
        if (!child) { return; }
        var active = items.filter(function (p) { return p.status === 'active'; });
        if (!active.length) { box.appendChild(el('p', t.no_placement, 'gm-muted')); return; }
        active.forEach(function (p) {
          var div = box.appendChild(el('div', null, 'gm-placed'));
          div.appendChild(el('b', t.current + '：'));
          div.appendChild(document.createTextNode(p.facility + ' · ' + t.since + ' ' +
            p.placed_at.slice(0, 16).replace('T', ' ') + ' '));
          var sel = div.appendChild(el('select'));
          sel.className = 'gm-release-reason';
          sel.appendChild(el('option', t.choose_reason)).value = '';
          Object.keys(cfg.reasons).forEach(function (k) {
            sel.appendChild(el('option', cfg.reasons[k])).value = k;
          });
          var button = div.appendChild(el('button', t.release, 'gm-release'));
          var msg = div.appendChild(el('span', null, 'gm-msg'));
          button.addEventListener('click', function () {
            if (!sel.value) { msg.textContent = t.choose_reason; return; }
            button.disabled = true;
            post('/api/placements/' + p.id + '/release', {reason: sel.value}).then(function (res) {
              if (res[0] === 200) {
                $('gm-note').textContent = t.released + ' #' + p.id;
                window.gridmap.released = p.id;
                loadChild(child.id).then(function () { search(lastFromChild); });
              } else { button.disabled = false; msg.textContent = res[1].error.message; }
            });
          });
        });
      }
      function loadChild(id) {
        if (!id) { child = null; showWho(); showCurrent([]); return Promise.resolve(null); }
        return fetch('/api/children/' + encodeURIComponent(id) + '/placements',
                     {credentials: 'same-origin'}).then(json).then(function (res) {
          if (res[0] !== 200) {
            child = null; showWho(); showCurrent([]);
            $('gm-note').textContent = res[0] === 404 ? t.not_found : res[1].error.message;
            return null;
          }
          child = res[1].child;
          showWho(); showCurrent(res[1].items);
          window.gridmap.child = child.id;
          return child;
        });
      }
      // A chosen child's needs replace whatever an earlier search had typed in.
      function takeNeeds(c) {
        $('gm-age').value = c.age; $('gm-sex').value = c.sex || '';
        $('gm-dis').checked = !!c.disability;
      }
      map.on('click', function (e) {
        $('gm-lon').value = e.latlng.lng.toFixed(6); $('gm-lat').value = e.latlng.lat.toFixed(6);
        search(false);
      });
      // From a point and the needs typed in, or from the child's record: the household's
      // point, age, sex and disability then come from the file.
      function search(fromChild) {
        lastFromChild = fromChild;
        var q = new URLSearchParams({k: 5, need_bed: 'true', open_24h: 'false'});
        if (fromChild) {
          q.set('child_id', $('gm-child').value);
        } else {
          q.set('lon', $('gm-lon').value); q.set('lat', $('gm-lat').value);
          if ($('gm-age').value) { q.set('age', $('gm-age').value); }
          if ($('gm-sex').value) { q.set('sex', $('gm-sex').value); }
          if ($('gm-dis').checked) { q.set('disability', 'true'); }
        }
        var types = Array.from(document.querySelectorAll('.gm-type:checked'))
          .map(function (c) { return c.value; });
        if (types.length) { q.set('type', types.join(',')); }
        return fetch('/api/facilities/nearest?' + q, {credentials: 'same-origin'})
          .then(function (r) { return r.json(); }).then(show);
      }
      function show(body) {
        results.clearLayers();
        var list = $('gm-results');
        list.textContent = '';
        if (body.error) { list.appendChild(el('p', body.error.message, 'gm-err')); return; }
        var here = [body.point[1], body.point[0]];
        $('gm-lon').value = here[1].toFixed(6); $('gm-lat').value = here[0].toFixed(6);
        var bounds = L.latLngBounds([here]);
        body.facilities.forEach(function (f) { bounds.extend([f.lat, f.lon]); });
        map.fitBounds(bounds, {padding: [30, 30], maxZoom: 15});
        if (marker) { map.removeLayer(marker); }
        marker = L.circleMarker(here, {radius: 8, color: '#b71c1c'}).addTo(map);
        list.appendChild(el('p', t[body.distance]));
        body.facilities.forEach(function (f, i) {
          L.polyline([here, [f.lat, f.lon]], {color: '#1565c0', weight: 2, dashArray: '4'})
            .addTo(results);
          L.circleMarker([f.lat, f.lon], {radius: 7, color: '#1565c0', fillOpacity: .9})
            .bindTooltip(el('span', (i + 1) + '. ' + f.name)).addTo(results);
          var div = list.appendChild(el('div', null, 'gm-fac'));
          div.appendChild(el('b', (i + 1) + '. ' + f.name));
          div.appendChild(document.createTextNode(' · ' + cfg.types[f.type]));
          div.appendChild(el('br'));
          div.appendChild(document.createTextNode(
            (f.distance_m / 1000).toFixed(1) + ' ' + t.km + ' · ' + t.phone + ' ' +
            (f.phone || '–') + ' · '));
          var beds = div.appendChild(el('span', t.beds + ' ' + f.free_beds, 'gm-beds'));
          beds.dataset.id = f.id;
          div.appendChild(el('br'));
          var button = div.appendChild(el('button', t.reserve, 'gm-reserve'));
          button.dataset.id = f.id;
          button.addEventListener('click', function () { reserve(button); });
          div.appendChild(document.createTextNode(' '));
          div.appendChild(el('span', null, 'gm-msg'));
        });
        showWho();
        window.gridmap.results = body.facilities.length;
        window.gridmap.searches = (window.gridmap.searches || 0) + 1;
      }
      function reserve(button) {
        var msg = button.parentNode.querySelector('.gm-msg');
        if (!child || String(child.id) !== String($('gm-child').value)) {
          msg.textContent = t.no_child; return;
        }
        var body = {child_id: child.id, facility_id: +button.dataset.id};
        if (cfg.report) { body.report_id = cfg.report.id; }
        button.disabled = true;
        post('/api/placements', body).then(function (res) {
          if (res[0] === 201) {
            $('gm-note').textContent = t.reserved + ' #' + res[1].id + ' · ' + child.name +
              ' → ' + res[1].facility.name;
            // The beds have changed: show the child's placement and search again.
            loadChild(child.id).then(function () { return search(lastFromChild); })
              .then(function () { window.gridmap.reserved = res[1].id; });
            return;
          }
          button.disabled = false;
          if (res[1].error.code === 'facility_full') { msg.textContent = t.full; }
          else { msg.textContent = res[1].error.message; }
        });
      }
      $('gm-search').addEventListener('click', function () { search(false); });
      $('gm-from-child').addEventListener('click', function () {
        $('gm-note').textContent = '';
        loadChild($('gm-child').value).then(function (c) {
          if (c) { takeNeeds(c); search(true); }
        });
      });
      $('gm-child').addEventListener('change', function () {
        if (!child || String(child.id) !== $('gm-child').value) { child = null; showWho(); }
      });
      // Opened from a report (or for a child): the place and the child's needs are filled
      // in, and the search runs from the report's place.
      var first = pre.child_id ? loadChild(pre.child_id) : Promise.resolve(null);
      first.then(function (c) {
        if (c && (pre.age === null || pre.age === undefined)) { takeNeeds(c); }
        showWho();
        if (pre.lon !== undefined && pre.lon !== null) { return search(false); }
      }).catch(function () {}).then(function () { window.gridmap.ready = true; });
    });
    {% endmacro %}
    """)

    def __init__(self, config: dict):
        super().__init__()
        self._name = "PlacementTool"
        self.config = config


def placement_page(cfg: dict, lang: str, csrf: str, centre: tuple[float, float],
                   nonce: str = "", prefill: dict | None = None,
                   report: dict | None = None) -> str:
    """The page. ``prefill`` (lon, lat, age, sex, disability, child_id) fills the form
    and starts a search; ``report`` (id, child_id, name, age, sex, disability) is the
    discovery report the placement answers, stored with the reservation."""
    t = TEXT[lang]
    pre = {k: v for k, v in (prefill or {}).items() if v is not None}
    if pre.get("lon") is not None:
        centre = (pre["lon"], pre["lat"])
    m = offline_map(cfg, location=[centre[1], centre[0]], zoom=10, height="55vh",
                    title=t["title"])
    types = {k: vocab.FACILITY_TYPES[k] for k in PLACE_TYPES}
    Boundaries().add_to(m)
    PlacementTool({"text": t, "csrf": csrf, "types": dict(vocab.FACILITY_TYPES),
                   "prefill": pre, "report": report,
                   "reasons": dict(vocab.RELEASE_REASONS) if lang == "zh"
                   else {k: k.replace("_", " ") for k in vocab.RELEASE_REASONS}}).add_to(m)
    form = render("placement_form.html", t=t, centre=centre, types=types,
                  checked=("rescue_station", "designated_hospital"), sex=pre.get("sex"),
                  age=int(pre["age"]) if pre.get("age") is not None else None,
                  disability=bool(pre.get("disability")),
                  child_id=int(pre["child_id"]) if pre.get("child_id") else None)
    return render_page(m, lang, form, css="planner.css", nonce=nonce)

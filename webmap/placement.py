"""Emergency placement (/map/nearest): click the map or enter a location and the
child's needs, see the nearest suitable facilities with distance, free beds and phone,
and reserve a bed."""

from __future__ import annotations

from branca.element import MacroElement, Template

from geo import vocab
from webmap.base import Boundaries, offline_map, render_page

TEXT = {
    "zh": {"title": "紧急安置：就近查找", "lon": "经度", "lat": "纬度", "age": "年龄",
           "sex": "性别", "any": "不限", "male": "男", "female": "女",
           "disability": "残疾", "types": "机构类型", "search": "查找",
           "child": "儿童编号", "reserve": "预留床位", "reserved": "已预留",
           "full": "已满，请选择其他机构", "km": "公里", "beds": "空余床位", "phone": "电话",
           "hint": "点击地图选择位置，或输入儿童编号按其档案（住址、年龄、性别、残疾）查找",
           "from_child": "按儿童档案查找", "road": "按道路距离", "geodesic": "按直线距离"},
    "en": {"title": "Emergency placement", "lon": "Lon", "lat": "Lat", "age": "Age",
           "sex": "Sex", "any": "any", "male": "male", "female": "female",
           "disability": "Disability", "types": "Types", "search": "Search",
           "child": "Child id", "reserve": "Reserve a bed", "reserved": "Reserved",
           "full": "Full: choose another", "km": "km", "beds": "Free beds", "phone": "Phone",
           "hint": "Click the map to pick a place, or give a child id to search from "
                   "their record (home, age, sex, disability)",
           "from_child": "Search from the child's record", "road": "by road",
           "geodesic": "straight line"},
}
PLACE_TYPES = ["rescue_station", "welfare_home", "designated_hospital", "hospital",
               "nursing_home", "health_center", "police_station"]


class PlacementTool(MacroElement):
    _template = Template("""
    {% macro script(this, kwargs) %}
    document.addEventListener('DOMContentLoaded', function () {
      var map = {{ this._parent.get_name() }};
      var cfg = {{ this.config | tojson }};
      var t = cfg.text, marker = null, results = L.layerGroup().addTo(map);
      window.gridmap.ready = true; window.gridmap.results = 0;
      function $(id) { return document.getElementById(id); }
      map.on('click', function (e) {
        $('gm-lon').value = e.latlng.lng.toFixed(6); $('gm-lat').value = e.latlng.lat.toFixed(6);
        search(false);
      });
      // From a point and the needs typed in, or from the child's record: the household's
      // point, age, sex and disability then come from the file.
      function search(fromChild) {
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
        fetch('/api/facilities/nearest?' + q, {credentials: 'same-origin'})
          .then(function (r) { return r.json(); }).then(show);
      }
      // Names, phones and messages are data: shown as text, never as markup.
      function el(tag, text, cls) {
        var e = document.createElement(tag);
        if (text !== undefined && text !== null) { e.textContent = text; }
        if (cls) { e.className = cls; }
        return e;
      }
      function show(body) {
        results.clearLayers();
        var list = $('gm-results');
        list.textContent = '';
        if (body.error) { list.appendChild(el('p', body.error.message, 'gm-err')); return; }
        var here = [body.point[1], body.point[0]];
        $('gm-lon').value = here[1].toFixed(6); $('gm-lat').value = here[0].toFixed(6);
        map.panTo(here);
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
            (f.distance_m / 1000).toFixed(1) + ' ' + t.km + ' · ' + t.beds + ' ' +
            f.free_beds + ' · ' + t.phone + ' ' + (f.phone || '–')));
          div.appendChild(el('br'));
          var button = div.appendChild(el('button', t.reserve, 'gm-reserve'));
          button.dataset.id = f.id;
          button.addEventListener('click', function () { reserve(button); });
          div.appendChild(document.createTextNode(' '));
          div.appendChild(el('span', null, 'gm-msg'));
        });
        window.gridmap.results = body.facilities.length;
      }
      function reserve(button) {
        var msg = button.parentNode.querySelector('.gm-msg');
        fetch('/api/placements', {method: 'POST', credentials: 'same-origin',
          headers: {'Content-Type': 'application/json', 'X-CSRFToken': cfg.csrf},
          body: JSON.stringify({child_id: +$('gm-child').value,
                                facility_id: +button.dataset.id})})
          .then(function (r) { return r.json().then(function (b) { return [r.status, b]; }); })
          .then(function (res) {
            if (res[0] === 201) { msg.textContent = t.reserved + ' #' + res[1].id;
                                  button.disabled = true; window.gridmap.reserved = res[1].id; }
            else if (res[1].error.code === 'facility_full') { msg.textContent = t.full; }
            else { msg.textContent = res[1].error.message; }
          });
      }
      $('gm-search').addEventListener('click', function () { search(false); });
      $('gm-from-child').addEventListener('click', function () { search(true); });
    });
    {% endmacro %}
    """)

    def __init__(self, config: dict):
        super().__init__()
        self._name = "PlacementTool"
        self.config = config


def placement_page(cfg: dict, lang: str, csrf: str, centre: tuple[float, float],
                   nonce: str = "") -> str:
    t = TEXT[lang]
    m = offline_map(cfg, location=[centre[1], centre[0]], zoom=10, height="55vh",
                    title=t["title"])
    types = {k: vocab.FACILITY_TYPES[k] for k in PLACE_TYPES}
    Boundaries().add_to(m)
    PlacementTool({"text": t, "csrf": csrf, "types": dict(vocab.FACILITY_TYPES)}).add_to(m)
    boxes = "".join(f'<label><input type="checkbox" class="gm-type" value="{k}"'
                    f'{" checked" if k in ("rescue_station", "designated_hospital") else ""}>'
                    f'{label}</label> ' for k, label in types.items())
    form = f"""
    <div id="gm-place">
      <h1>{t['title']}</h1><p><small>{t['hint']}</small></p>
      <p>{t['lon']} <input id="gm-lon" size="10" value="{centre[0]:.6f}">
         {t['lat']} <input id="gm-lat" size="10" value="{centre[1]:.6f}">
         {t['age']} <input id="gm-age" size="3" type="number" min="0" max="17">
         {t['sex']} <select id="gm-sex"><option value="">{t['any']}</option>
           <option value="male">{t['male']}</option>
           <option value="female">{t['female']}</option></select>
         <label><input id="gm-dis" type="checkbox">{t['disability']}</label></p>
      <p>{t['types']}: {boxes}</p>
      <p>{t['child']} <input id="gm-child" size="8" type="number">
         <button id="gm-search">{t['search']}</button>
         <button id="gm-from-child">{t['from_child']}</button></p>
      <div id="gm-results"></div>
    </div>"""
    return render_page(m, lang, form, css="planner.css", nonce=nonce)

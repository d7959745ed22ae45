// Discovery report pages: the intake form (/reports/new) and a report's actions
// (/reports/<id>). Data goes into the page as text (textContent), never as markup; the
// page's settings come from the JSON block #gm-config. Posts carry the page's CSRF token.
(function () {
  'use strict';
  var cfg = JSON.parse(document.getElementById('gm-config').textContent);
  window.gridmap = window.gridmap || {};

  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = text; }
    if (cls) { e.className = cls; }
    return e;
  }
  function post(url, body) {
    return window.gridmap.send('POST', url, body || {}, cfg.csrf);
  }
  // The API's refusal, named by the form's field in Chinese.
  function problem(body) {
    var r = window.gridmap.refusal(body);
    var field = r.field && (cfg.fields[r.field] || cfg.fields[r.field.split('.')[0]]);
    var hint = r.field && r.code !== 'csrf_failed' && cfg.hints && cfg.hints[r.field];
    return (field ? '请检查「' + field + '」：' : '') + (hint || r.text);
  }
  function smallMap(id, centre, zoom) {
    var map = L.map(id, {zoomControl: true}).setView(centre, zoom);
    map.attributionControl.setPrefix(false);
    if (cfg.basemap) {
      L.tileLayer(cfg.basemap.url, {attribution: cfg.basemap.attr, maxZoom: 19}).addTo(map);
    }
    if (L.vectorGrid) {
      var style = {villages: {fill: false, color: '#546e7a', weight: 1}};
      L.vectorGrid.protobuf('/tiles/villages/{z}/{x}/{y}.pbf',
        {vectorTileLayerStyles: style, maxNativeZoom: 16}).addTo(map);
    }
    return map;
  }
  function age(birth) {
    var b = new Date(birth), now = new Date();
    var a = now.getFullYear() - b.getFullYear();
    if (now.getMonth() < b.getMonth() ||
        (now.getMonth() === b.getMonth() && now.getDate() < b.getDate())) { a -= 1; }
    return a;
  }

  // -- the intake form ----------------------------------------------------------------
  function intake() {
    var map = smallMap('gm-pick-map', cfg.centre, 11), marker = null;
    function mark(lat, lon) {
      if (marker) { marker.setLatLng([lat, lon]); }
      else { marker = L.circleMarker([lat, lon], {radius: 9, color: '#b71c1c',
                                                  fillOpacity: 0.8}).addTo(map); }
    }
    map.on('click', function (e) {
      $('lon').value = e.latlng.lng.toFixed(6); $('lat').value = e.latlng.lat.toFixed(6);
      $('crs').value = 'wgs84';
      mark(e.latlng.lat, e.latlng.lng);
    });
    $('gm-locate').addEventListener('click', function () {
      if (!navigator.geolocation) { return; }
      navigator.geolocation.getCurrentPosition(function (p) {
        $('lon').value = p.coords.longitude.toFixed(6);
        $('lat').value = p.coords.latitude.toFixed(6);
        $('crs').value = 'wgs84';
        mark(p.coords.latitude, p.coords.longitude);
        map.setView([p.coords.latitude, p.coords.longitude], 15);
      }, function () { $('gm-form-error').textContent = '无法取得本机定位，请在地图上点选'; });
    });
    $('gm-clear-point').addEventListener('click', function () {
      $('lon').value = ''; $('lat').value = '';
      if (marker) { map.removeLayer(marker); marker = null; }
    });

    // Search the register by name (the API keeps it to the user's area).
    function choose(c) {
      $('child_id').value = c.id;
      $('gm-child-chosen-text').textContent = c.name + ' · ' + (cfg.sexes[c.sex] || '') +
        ' · ' + age(c.birth_date) + '岁 · ' + (c.address || '');
      $('gm-child-chosen').hidden = false;
      $('gm-provisional').hidden = true;
      $('gm-child-hits').textContent = '';
      window.gridmap.child = c.id;
    }
    $('gm-child-clear').addEventListener('click', function () {
      $('child_id').value = ''; $('gm-child-chosen').hidden = true;
      $('gm-provisional').hidden = false; window.gridmap.child = null;
    });
    function search() {
      var q = $('gm-child-q').value.trim(), hits = $('gm-child-hits');
      hits.textContent = '';
      if (!q) { return; }
      fetch('/api/children?limit=8&name=' + encodeURIComponent(q), {credentials: 'same-origin'})
        .then(function (r) { return r.json(); })
        .then(function (b) {
          var items = b.items || [];
          if (!items.length) { hits.appendChild(el('p', '辖区内没有找到，请填写下方已知情况', 'gm-muted')); }
          items.forEach(function (c) {
            var button = hits.appendChild(el('button', null, 'gm-hit'));
            button.type = 'button';
            button.appendChild(el('b', c.name));
            button.appendChild(document.createTextNode(
              ' ' + (cfg.sexes[c.sex] || '') + ' ' + age(c.birth_date) + '岁 · ' + (c.address || '')));
            button.addEventListener('click', function () { choose(c); });
          });
          window.gridmap.hits = items.length;
        });
    }
    $('gm-child-search').addEventListener('click', search);
    $('gm-child-q').addEventListener('keydown', function (e) {
      if (e.key === 'Enter') { e.preventDefault(); search(); }
    });

    $('gm-report').addEventListener('submit', function (e) {
      e.preventDefault();
      var err = $('gm-form-error'), body = {};
      err.textContent = '';
      var sev = document.querySelector('input[name=severity]:checked');
      body.severity = sev ? sev.value : null;
      ['source', 'harm', 'description', 'reporter_name', 'reporter_phone', 'reporter_org',
       'address', 'village'].forEach(function (k) {
        var v = $(k).value.trim();
        if (v) { body[k] = v; }
      });
      if ($('reported_at').value) { body.reported_at = $('reported_at').value + ':00' + cfg.offset; }
      if ($('lon').value.trim() || $('lat').value.trim()) {
        body.lon = Number($('lon').value); body.lat = Number($('lat').value);
        body.crs = $('crs').value;
        if (isNaN(body.lon) || isNaN(body.lat) || !$('lon').value.trim() || !$('lat').value.trim()) {
          err.textContent = '请填写有效的经度和纬度'; return;
        }
      }
      if ($('child_id').value) {
        body.child_id = Number($('child_id').value);
      } else {
        if ($('child_name').value.trim()) { body.child_name = $('child_name').value.trim(); }
        if ($('child_sex').value) { body.child_sex = $('child_sex').value; }
        if ($('child_age').value) { body.child_age = Number($('child_age').value); }
        if ($('child_disability').checked) { body.child_disability = true; }
      }
      if (!body.description) { err.textContent = '请填写「发生了什么」'; return; }
      $('gm-submit').disabled = true;
      post('/api/reports', body).then(function (res) {
        if (res.status === 201) {
          window.gridmap.created = res.body.id;
          window.location.href = '/reports/' + res.body.id;
          return;
        }
        $('gm-submit').disabled = false;
        err.textContent = problem(res.body);
      }).catch(function () {
        $('gm-submit').disabled = false; err.textContent = '网络错误，请稍后重试';
      });
    });
  }

  // -- a report's page: its actions -----------------------------------------------------
  function report() {
    if (cfg.point && $('gm-report-map')) {
      var map = smallMap('gm-report-map', cfg.point, 15);
      L.circleMarker(cfg.point, {radius: 9, color: '#b71c1c', fillOpacity: 0.8}).addTo(map);
    }
    var err = $('gm-action-error');
    function act(action, body) {
      err.textContent = '';
      post('/api/reports/' + cfg.id + '/' + action, body).then(function (res) {
        if (res.status === 200) { window.location.reload(); return; }
        err.textContent = problem(res.body);
      });
    }
    document.querySelectorAll('button[data-action]').forEach(function (b) {
      b.addEventListener('click', function () {
        var note = $('gm-note') ? $('gm-note').value.trim() : '';
        var body = note ? {note: note} : {};
        var action = b.dataset.action;
        if (action === 'close') {
          if (!$('gm-outcome').value) { err.textContent = '请选择办结结果'; return; }
          body.outcome = $('gm-outcome').value;
        }
        if (action === 'merge') {
          var into = Number($('gm-into').value);
          if (!into) { err.textContent = '请填写要并入的报告编号'; return; }
          body.into = into;
          err.textContent = '';
          post('/api/reports/' + cfg.id + '/merge', body).then(function (res) {
            if (res.status === 200) { window.location.href = '/reports/' + into; return; }
            err.textContent = problem(res.body);
          });
          return;
        }
        act(action, body);
      });
    });
  }

  if (cfg.page === 'new') { intake(); } else if (cfg.page === 'show') { report(); }
  window.gridmap.ready = true;
})();

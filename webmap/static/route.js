/* The route sheet (templates/route.html): map, stops, visit form, offline outbox.
   Every value from the server goes into the page as text (textContent), never as markup. */
(function () {
  'use strict';
  var cfg = JSON.parse(document.getElementById('gm-data').textContent);
  var DAYS = ['周日', '周一', '周二', '周三', '周四', '周五', '周六'];
  var COLOURS = ['#2f6fb3', '#c0392b', '#27ae60', '#8e44ad', '#d35400', '#16a085', '#7f8c8d'];
  var state = {mode: cfg.mode, date: cfg.date, budget: cfg.budget_min, here: null,
               route: cfg.route, plan: null};
  window.gridmap = {ready: false, sent: 0, queued: 0, errors: [], cfg: cfg};

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  function dayText(iso) {
    var p = iso.split('-').map(Number);
    var d = new Date(Date.UTC(p[0], p[1] - 1, p[2]));
    return p[0] + '年' + p[1] + '月' + p[2] + '日（' + DAYS[d.getUTCDay()] + '）';
  }
  function km(m) { return (m / 1000).toFixed(1) + ' 公里'; }
  function mins(n) { return Math.round(n) + ' 分钟'; }

  // ---- map ----------------------------------------------------------------------
  var map = L.map('gm-map', {zoomControl: true, maxZoom: 19});
  window.gridmap.map = map;
  map.attributionControl.setPrefix(false);
  if (cfg.basemap) {
    L.tileLayer(cfg.basemap.url, {attribution: cfg.basemap.attr, maxZoom: 19}).addTo(map);
  }
  [['villages', 0.8], ['townships', 2]].forEach(function (b) {
    var style = {};
    style[b[0]] = {fill: false, color: '#546e7a', weight: b[1]};
    L.vectorGrid.protobuf('/tiles/' + b[0] + '/{z}/{x}/{y}.pbf',
      {vectorTileLayerStyles: style, maxNativeZoom: 16}).addTo(map);
  });
  var lines = L.layerGroup().addTo(map);
  var startLayer = L.layerGroup().addTo(map);
  // Stops that overlap at the current zoom are grouped; a group shows how many
  // households it holds (not a stop number), and opens on a click.
  var cluster = L.markerClusterGroup({
    maxClusterRadius: 28, disableClusteringAtZoom: 18, spiderfyOnMaxZoom: true,
    showCoverageOnHover: false,
    iconCreateFunction: function (c) {
      var div = el('div', 'gm-cluster', c.getChildCount() + ' 户');
      return L.divIcon({html: div, className: 'gm-cluster-icon', iconSize: [40, 24]});
    }
  }).addTo(map);
  window.gridmap.cluster = cluster;

  function numberIcon(label, colour) {
    var div = el('div', 'gm-num', label);
    div.style.background = colour;
    var w = String(label).length > 2 ? 36 : 24;
    return L.divIcon({html: div, className: 'gm-stop-icon', iconSize: [w, 24],
                      iconAnchor: [w / 2, 12]});
  }
  function tip(text) { return el('span', null, text); }

  function startPoint(route) {
    return state.here || [route.start[1], route.start[0]];
  }

  function drawDay(route, start, label, colour, prefix) {
    var pts = [start];
    route.stops.forEach(function (s, i) {
      pts.push([s.lat, s.lon]);
      var m = L.marker([s.lat, s.lon], {icon: numberIcon(prefix + (i + 1), colour),
                                        title: '', household: s.household_id});
      m.bindTooltip(tip(label + (i + 1) + '. ' + s.address));
      m.on('click', function () {
        var li = document.getElementById('gm-stop-' + s.household_id);
        if (li) { li.scrollIntoView({behavior: 'smooth', block: 'center'}); }
      });
      cluster.addLayer(m);
    });
    pts.push(start);
    if (route.stops.length) {
      L.polyline(pts, {color: colour, weight: 4, opacity: 0.8}).addTo(lines);
    }
    return pts.slice(1, -1);
  }

  function drawMap() {
    lines.clearLayers(); cluster.clearLayers(); startLayer.clearLayers();
    var stops = [];
    var route = state.mode === 'week' ? state.plan : state.route;
    if (!route) { return; }
    var start = startPoint(route);
    L.circleMarker(start, {radius: 8, color: '#333', fillColor: '#fff', fillOpacity: 1})
      .bindTooltip(tip(state.here ? '出发/返回：我的位置' : '出发/返回：办公地'))
      .addTo(startLayer);
    if (state.mode === 'week') {
      state.plan.days.forEach(function (d, k) {
        stops = stops.concat(drawDay(d, start, DAYS[new Date(d.date + 'T00:00:00Z').getUTCDay()] +
                                     ' ', COLOURS[k % COLOURS.length], (k + 1) + '-'));
      });
    } else {
      stops = drawDay(state.route, start, '', COLOURS[0], '');
    }
    // Zoom to the day's stops (the office may lie far away).
    if (stops.length) {
      map.fitBounds(L.latLngBounds(stops), {padding: [24, 24], maxZoom: 16});
    } else {
      map.setView(start, 13);
    }
  }

  // ---- the list -----------------------------------------------------------------
  function reasonText(stop, childId) {
    return stop.reasons.filter(function (r) { return r.child_id === childId; })
      .map(function (r) { return r.text; }).join('；');
  }
  function riskText(c) { return cfg.risk[c.risk_level] || c.risk_level; }

  function stopItem(s, n, recorded) {
    var li = el('li', 'gm-stop');
    li.id = 'gm-stop-' + s.household_id;
    var head = el('div', 'gm-stop-head');
    head.appendChild(el('b', 'gm-stop-no', n + '.'));
    head.appendChild(el('b', 'gm-address', s.address));
    li.appendChild(head);
    li.appendChild(el('div', 'gm-leg', '本段 ' + km(s.leg_m) + ' · 约第 ' +
                      Math.round(s.arrive_min) + ' 分钟到达'));
    var ul = el('ul', 'gm-children');
    s.children.forEach(function (c) {
      var row = el('li', 'gm-child');
      var cats = (c.categories || []).map(function (k) { return cfg.categories[k] || k; });
      row.appendChild(el('span', 'gm-child-name', c.name));
      row.appendChild(el('span', 'gm-cats', cats.length ? '（' + cats.join('、') + '）' : ''));
      row.appendChild(el('span', 'gm-risk gm-risk-' + c.risk_level, '风险：' + riskText(c)));
      row.appendChild(el('div', 'gm-why', reasonText(s, c.child_id)));
      var b = el('button', 'gm-record noprint', '记录走访 · ' + c.name);
      b.type = 'button';
      b.dataset.child = c.child_id;
      if (recorded[c.child_id]) { b.disabled = true; b.textContent = '已记录 · ' + c.name; }
      b.addEventListener('click', function () { openForm(c, s, b); });
      row.appendChild(b);
      ul.appendChild(row);
    });
    li.appendChild(ul);
    return li;
  }

  var recorded = {};
  function renderList() {
    var days = document.getElementById('gm-days');
    var un = document.getElementById('gm-unplanned');
    days.textContent = ''; un.textContent = '';
    var summary = document.getElementById('gm-summary');
    if (state.mode === 'week') {
      var p = state.plan, total = 0, count = 0;
      p.days.forEach(function (d, k) {
        var sec = el('section', 'gm-day');
        sec.appendChild(el('h2', null, dayText(d.date) + ' · ' + d.stops.length + ' 户 · ' +
                           km(d.total_m) + ' · ' + mins(d.total_min)));
        var ol = el('ol', 'gm-stops');
        d.stops.forEach(function (s, i) { ol.appendChild(stopItem(s, (k + 1) + '-' + (i + 1), recorded)); });
        if (!d.stops.length) { sec.appendChild(el('p', 'gm-muted', '这一天没有安排走访')); }
        sec.appendChild(ol);
        days.appendChild(sec);
        total += d.total_min; count += d.stops.length;
      });
      summary.textContent = '一周计划：' + p.days.length + ' 个工作日 · ' + count + ' 户 · ' +
        mins(total) + ' · 每天预算 ' + mins(p.budget_min) +
        (p.unplanned.length ? ' · 未能安排 ' + p.unplanned.length + ' 户' : '');
      if (p.unplanned.length) {
        un.appendChild(el('h2', null, '未能安排的家庭'));
        var ul = el('ul', 'gm-unplanned-list');
        p.unplanned.forEach(function (u) {
          var li = el('li', 'gm-stop');
          li.appendChild(el('b', 'gm-address', u.address));
          li.appendChild(el('div', 'gm-muted', u.children.map(function (c) { return c.name; })
                                                   .join('、') + ' · 应于 ' + u.next_due + ' 前走访'));
          li.appendChild(el('div', 'gm-why', u.reason));
          ul.appendChild(li);
        });
        un.appendChild(ul);
      }
    } else {
      var r = state.route;
      var ol2 = el('ol', 'gm-stops');
      ol2.id = 'gm-stops';
      r.stops.forEach(function (s, i) { ol2.appendChild(stopItem(s, i + 1, recorded)); });
      if (!r.stops.length) { days.appendChild(el('p', 'gm-muted', '这一天没有待走访的家庭')); }
      days.appendChild(ol2);
      summary.textContent = '全程 ' + km(r.total_m) + ' · ' + mins(r.total_min) + ' · ' +
        r.stops.length + ' 户 · 时间预算 ' + mins(r.budget_min) +
        (r.dropped.length ? ' · 另有 ' + r.dropped.length + ' 户超出预算，未排入' : '');
    }
    document.getElementById('gm-day').textContent = state.mode === 'week'
      ? dayText(state.plan.days.length ? state.plan.days[0].date : state.date) + ' 起一周'
      : dayText(state.route.date);
  }

  // ---- controls -----------------------------------------------------------------
  function query() {
    var q = new URLSearchParams();
    q.set('worker', cfg.worker.id);
    q.set('date', state.date);
    if (state.budget) { q.set('budget_min', state.budget); }
    if (cfg.within_days) { q.set('within_days', cfg.within_days); }
    if (state.here) {
      // The tour starts and ends where the phone is (the order is computed from there).
      q.set('start_lon', state.here[1].toFixed(6)); q.set('start_lat', state.here[0].toFixed(6));
    }
    return q;
  }
  function apiUrl() {
    if (state.mode === 'week') {
      var q = new URLSearchParams({worker: cfg.worker.id, from: state.date, days: 5});
      if (state.budget) { q.set('budget_min', state.budget); }
      return '/api/routes/plan?' + q.toString();
    }
    return '/api/routes?' + query().toString();
  }
  function pageUrl() {
    var q = new URLSearchParams({date: state.date});
    if (state.budget) { q.set('budget_min', state.budget); }
    if (cfg.within_days) { q.set('within_days', cfg.within_days); }
    if (state.mode === 'week') { q.set('mode', 'week'); }
    return '/map/route/' + cfg.worker.id + '?' + q.toString();
  }
  function setLinks() {
    var q = query().toString();
    document.getElementById('gm-csv').href = '/api/routes.csv?' + q;
    document.getElementById('gm-gpx').href = '/api/routes.gpx?' + q;
  }
  function say(text) { document.getElementById('gm-net').textContent = text; }

  function load() {
    window.gridmap.ready = false;
    var url = apiUrl();
    return fetch(url, {credentials: 'same-origin', headers: {Accept: 'application/json'}})
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) { throw new Error((body.error && body.error.message) || r.statusText); }
          return body;
        });
      })
      .then(function (body) {
        if (state.mode === 'week') { state.plan = body; } else { state.route = body; }
        history.replaceState(null, '', pageUrl());
        show();
        keep([pageUrl(), url]);
      })
      .catch(function (e) {
        say('无法载入路线：' + (navigator.onLine ? e.message : '没有网络，请联网后再试'));
        window.gridmap.ready = true;
      });
  }
  function show() {
    renderList(); drawMap(); setLinks();
    window.gridmap.ready = true;
  }

  document.getElementById('gm-controls').addEventListener('submit', function (e) {
    e.preventDefault();
    var date = document.getElementById('gm-date').value;
    var budget = parseFloat(document.getElementById('gm-budget').value);
    if (!date) { return; }
    state.date = date;
    state.budget = isFinite(budget) && budget > 0 ? budget : null;
    state.mode = document.getElementById('gm-mode').value;
    var wantHere = document.getElementById('gm-start').value === 'here';
    if (wantHere && navigator.geolocation) {
      navigator.geolocation.getCurrentPosition(function (p) {
        state.here = [p.coords.latitude, p.coords.longitude]; load();
      }, function () {
        state.here = null; say('无法取得当前位置，以办公地为出发点'); load();
      }, {timeout: 5000});
    } else {
      state.here = null; load();
    }
  });
  document.getElementById('gm-print').addEventListener('click', function (e) {
    e.preventDefault(); window.print();
  });
  // The printed map is narrower than the screen's: fit the stops again for paper.
  function refit() { map.invalidateSize(false); drawMap(); }
  window.addEventListener('beforeprint', refit);
  window.addEventListener('afterprint', refit);
  if (window.matchMedia) {
    var mq = window.matchMedia('print');
    if (mq.addEventListener) { mq.addEventListener('change', refit); }
  }

  // ---- the outbox (IndexedDB): visits wait here until the server has them ---------
  var dbp = null;
  function db() {
    if (!dbp) {
      dbp = new Promise(function (resolve, reject) {
        var req = indexedDB.open('gridmap-route', 1);
        req.onupgradeneeded = function () {
          req.result.createObjectStore('outbox', {keyPath: 'client_id'});
        };
        req.onsuccess = function () { resolve(req.result); };
        req.onerror = function () { reject(req.error); };
      });
    }
    return dbp;
  }
  function store(mode, fn) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var tx = d.transaction('outbox', mode);
        var out = fn(tx.objectStore('outbox'));
        tx.oncomplete = function () { resolve(out && out.result); };
        tx.onerror = function () { reject(tx.error); };
      });
    });
  }
  function queued() { return store('readonly', function (s) { return s.getAll(); }); }
  function uuid() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); });
    return h.slice(0, 4).join('') + '-' + h.slice(4, 6).join('') + '-' +
      h.slice(6, 8).join('') + '-' + h.slice(8, 10).join('') + '-' + h.slice(10).join('');
  }

  var buttons = {};   // client_id -> the child's button on the sheet
  var flushing = null;
  function flush() {
    if (flushing) { return flushing; }
    flushing = queued().then(function (items) {
      return items.reduce(function (p, item) {
        return p.then(function () { return send(item); });
      }, Promise.resolve());
    }).then(status, status).then(function () { flushing = null; });
    return flushing;
  }
  // A page kept offline for long may hold a CSRF token that has run out: fetch the page
  // again for a fresh one (the visit stays in the outbox meanwhile).
  function freshToken() {
    return fetch(location.pathname + location.search, {credentials: 'same-origin',
                                                        cache: 'no-store'})
      .then(function (r) { return r.text(); })
      .then(function (t) {
        var doc = new DOMParser().parseFromString(t, 'text/html');
        var data = doc.getElementById('gm-data');
        if (data) { cfg.csrf = JSON.parse(data.textContent).csrf; return true; }
        return false;
      });
  }
  function send(item, again) {
    return fetch('/api/visits', {
      method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'X-CSRFToken': cfg.csrf,
                Accept: 'application/json'},
      body: JSON.stringify(item.body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (v) {
        if (r.ok) {
          window.gridmap.sent += 1;
          return store('readwrite', function (s) { return s.delete(item.client_id); })
            .then(function () { saved(item, v); });
        }
        if (r.status === 400 && v.error && v.error.code === 'csrf_failed' && !again) {
          return freshToken().then(function (ok) {
            if (ok) { return send(item, true); }
            throw new Error('retry later');
          });
        }
        if (r.status === 401) {
          say('登录已过期：请重新登录，保存在本机的走访记录随后自动发送');
          throw new Error('retry later');
        }
        if (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429 &&
            !(v.error && v.error.code === 'csrf_failed')) {
          // Refused for good (e.g. an implausible time): not sent again.
          window.gridmap.errors.push(v);
          return store('readwrite', function (s) { return s.delete(item.client_id); })
            .then(function () {
              say('走访记录未被接受：' + ((v.error && v.error.message) || r.status));
              var b = buttons[item.client_id];
              if (b) { b.disabled = false; b.textContent = '记录走访 · ' + item.name; }
            });
        }
        throw new Error('retry later');
      });
    }).catch(function () { /* no signal: it stays in the outbox */ });
  }
  function status() {
    return queued().then(function (items) {
      window.gridmap.queued = items.length;
      var now = document.getElementById('gm-net').textContent;
      if (items.length && now.indexOf('登录已过期') !== 0) {
        say('离线：' + items.length + ' 条走访记录已保存在本机，联网后自动发送');
      } else if (!items.length && now.indexOf('离线：') === 0) {
        say('');
      }
    });
  }
  window.addEventListener('online', function () { flush(); });
  window.addEventListener('offline', function () { status(); });
  setInterval(function () { if (navigator.onLine) { flush(); } }, 30000);

  function saved(item, visit) {
    var b = buttons[item.client_id] || document.querySelector(
      '.gm-record[data-child="' + item.body.child_id + '"]');
    recorded[item.body.child_id] = true;
    if (!b) { return; }
    b.disabled = true;
    var text = '已记录 · ' + item.name;
    if (visit.flags && visit.flags.indexOf('no_gps') >= 0) { text += '（无定位，已标记）'; }
    if (visit.flags && visit.flags.indexOf('harm_signs') >= 0) {
      text += visit.report_id ? '（受侵害迹象，已生成发现报告）' : '（受侵害迹象，已标记）';
    }
    b.textContent = text;
    if (visit.id) { undoButton(b, visit, item); }
  }
  function undoButton(b, visit, item) {
    var u = el('button', 'gm-undo noprint', '撤销');
    u.type = 'button';
    u.dataset.visit = visit.id;
    b.insertAdjacentElement('afterend', u);
    var until = Date.now() + cfg.undo_minutes * 60000;
    var timer = setInterval(function () {
      var left = Math.round((until - Date.now()) / 1000);
      if (left <= 0) { clearInterval(timer); u.remove(); return; }
      u.textContent = '撤销（' + Math.floor(left / 60) + ':' + ('0' + left % 60).slice(-2) + '）';
    }, 1000);
    u.addEventListener('click', function () {
      u.disabled = true;
      fetch('/api/visits/' + visit.id, {method: 'DELETE', credentials: 'same-origin',
        headers: {'X-CSRFToken': cfg.csrf, Accept: 'application/json'}})
        .then(function (r) {
          return r.json().catch(function () { return {}; }).then(function (v) {
            if (!r.ok) {
              u.disabled = false;
              say('无法撤销：' + ((v.error && v.error.message) || r.status));
              return;
            }
            clearInterval(timer); u.remove();
            delete recorded[item.body.child_id];
            b.disabled = false; b.textContent = '记录走访 · ' + item.name;
            say('已撤销这次走访记录');
            window.gridmap.undone = (window.gridmap.undone || 0) + 1;
          });
        }).catch(function () { u.disabled = false; say('没有网络，暂时无法撤销'); });
    });
  }

  // ---- the visit form -------------------------------------------------------------
  var dialog = document.getElementById('gm-visit');
  var form = document.getElementById('gm-visit-form');
  var current = null;
  function fill(select, choices) {
    Object.keys(choices).forEach(function (k) {
      var o = el('option', null, choices[k]); o.value = k; select.appendChild(o);
    });
  }
  fill(document.getElementById('gm-living'), cfg.form.living_conditions);
  fill(document.getElementById('gm-school'), cfg.form.school_attendance);
  fill(document.getElementById('gm-outcome'), cfg.form.outcomes);
  form.addEventListener('change', function () {
    var harm = form.querySelector('input[name=harm_signs]:checked');
    document.getElementById('gm-harm-what').hidden = !(harm && harm.value === 'yes');
  });
  document.getElementById('gm-visit-cancel').addEventListener('click', function () {
    dialog.close(); current = null;
  });

  function openForm(child, stop, button) {
    current = {child: child, stop: stop, button: button};
    form.reset();
    document.getElementById('gm-harm-what').hidden = true;
    document.getElementById('gm-visit-for').textContent = '为 ' + child.name + '（' +
      stop.address + '）记录' + (cfg.kind_text[cfg.visit_kind] || cfg.visit_kind);
    document.getElementById('gm-visit-by').textContent = '记录人：' + cfg.user.username +
      '（' + cfg.user.role_text + '），计入 ' + cfg.worker.name + ' 的走访';
    dialog.showModal();
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    if (!current) { return; }
    var f = new FormData(form);
    var yes = function (k) { var v = f.get(k); return v === null ? undefined : v === 'yes'; };
    var checks = {child_seen: yes('child_seen'), guardian_present: yes('guardian_present'),
                  harm_signs: yes('harm_signs')};
    ['living_conditions', 'school_attendance'].forEach(function (k) {
      if (f.get(k)) { checks[k] = f.get(k); }
    });
    if (checks.harm_signs && f.get('harm_detail')) { checks.harm_detail = f.get('harm_detail'); }
    Object.keys(checks).forEach(function (k) { if (checks[k] === undefined) { delete checks[k]; } });
    var outcome = cfg.form.outcomes[f.get('outcome')] || null;
    var c = current;
    current = null;
    dialog.close();
    var item = {client_id: uuid(), name: c.child.name, body: {
      child_id: c.child.child_id, kind: cfg.visit_kind,
      // The phone's own time of the visit, not the time it reaches the server.
      visited_at: new Date().toISOString(), outcome: outcome,
      note: f.get('note') || null, checks: checks}};
    item.body.client_id = item.client_id;
    buttons[item.client_id] = c.button;
    c.button.disabled = true;
    c.button.textContent = '保存中… · ' + c.child.name;
    var put = function () {
      return store('readwrite', function (s) { return s.put(item); }).then(function () {
        c.button.textContent = '已保存，待发送 · ' + c.child.name;
        return flush();
      });
    };
    // The phone's own GPS fix, if it gives one quickly; never the household's point.
    if (navigator.geolocation) {
      navigator.geolocation.getCurrentPosition(function (p) {
        item.body.lon = p.coords.longitude; item.body.lat = p.coords.latitude; put();
      }, put, {timeout: 3000, maximumAge: 60000});
    } else {
      put();
    }
  });

  // ---- offline app: the service worker and what it keeps ---------------------------
  function keep(urls) {
    if (!('caches' in window)) { return; }
    caches.open('gridmap-route-v1').then(function (c) {
      // The boundary tiles this page has loaded, the page, the plan and the assets.
      var tiles = (performance.getEntriesByType ? performance.getEntriesByType('resource') : [])
        .map(function (r) { return r.name; })
        .filter(function (n) { return n.indexOf(location.origin + '/tiles/') === 0; });
      urls.concat(tiles).forEach(function (u) {
        fetch(u, {credentials: 'same-origin'}).then(function (r) {
          if (r.ok && !r.redirected) { c.put(u, r); }
        }).catch(function () {});
      });
    }).catch(function () {});
  }
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/map/route/sw.js', {scope: '/map/route/'})
      .then(function () { return navigator.serviceWorker.ready; })
      .then(function () {
        keep(cfg.assets.concat([location.pathname + location.search]));
        window.gridmap.offlineReady = true;
      })
      .catch(function (e) { window.gridmap.errors.push(String(e)); });
  }

  if (state.mode === 'week') { load(); } else { show(); }
  flush();
  setTimeout(function () { keep([location.pathname + location.search, apiUrl()]); }, 3000);
})();

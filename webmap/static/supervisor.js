// The supervisor map (/map): vector-tile layers from the registry, their control,
// legend, popups, the side panel with the unit's figures and the search. The page puts
// the folium map in window.gridmapMap and the configuration (layers, texts, links) in
// the JSON block #gm-config; data from tiles and the API go into the page as text.
(function () {
  var map = window.gridmapMap;
  var cfg = JSON.parse(document.getElementById('gm-config').textContent);
  var t = cfg.text;
  window.gridmap = {tilesLoaded: 0, layers: {}, errors: []};
  var overlays = {}, vgs = {};
  window.gridmap.vgs = vgs;
  // Leaflet 1.9 places a click on a small circle marker at the marker's own latlng,
  // which VectorGrid's point symbols do not have (the click threw and no popup
  // opened): such symbols take the mouse position instead.
  var createLayer = L.VectorGrid.prototype._createLayer;
  L.VectorGrid.prototype._createLayer = function () {
    var symbol = createLayer.apply(this, arguments);
    if (symbol && symbol.getLatLng && !symbol._latlng) { symbol.getLatLng = null; }
    return symbol;
  };
  // Values from the tiles and the API are data: they go in as text (textContent),
  // never as markup.
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = text; }
    if (cls) { e.className = cls; }
    return e;
  }
  function popupContent(layer, p) {
    var box = el('div'), table = box.appendChild(el('table', null, 'gm-popup'));
    layer.popup.forEach(function (f) {
      var v = p[f[0]];
      if (f[0] === 'status_label') { v = (layer.legend[p.status] || {})[cfg.lang]; }
      if (f[0] === 'type_label') { v = cfg.typeLabels[p.type]; }
      if (f[0] === 'id' && v === undefined) { return; }  // a bin of households
      if (v === undefined || v === null) { v = '–'; }
      var tr = table.appendChild(el('tr'));
      tr.appendChild(el('th', f[cfg.lang === 'zh' ? 1 : 2]));
      tr.appendChild(el('td', String(v)));
    });
    if (layer.link && p.id) {
      var a = box.appendChild(el('a', t.record));
      a.target = '_blank'; a.rel = 'noopener';
      a.href = layer.link.replace('{id}', encodeURIComponent(p.id));
    }
    // Coverage: each grid worker of the cell links to their handover page, for the
    // roles that hand over (cfg.handover).
    if (layer.name === 'coverage' && cfg.handover && p.worker_list) {
      var workers = [];
      try { workers = JSON.parse(p.worker_list); } catch (err) { workers = []; }
      workers.forEach(function (w) {
        var row = box.appendChild(el('div', null, 'gm-handover'));
        row.appendChild(el('span', String(w[0]) + ' '));
        var h = row.appendChild(el('a', t.handover));
        h.href = '/workers/' + encodeURIComponent(w[1]) + '/handover';
      });
    }
    // The register panel (register.js) adds its own link to a household's popup.
    if (window.gridmap.popupExtra) { window.gridmap.popupExtra(layer, p, box); }
    return box;
  }
  cfg.layers.forEach(function (layer) {
    var styles = {};
    styles[layer.name] = function (p) {
      if (layer.name === 'coverage') {
        var own = cfg.caseloadLimits && cfg.caseloadLimits[String(p.code).slice(0, 6)];
        p.load = p.unstaffed ? 'none' : (p.caseload > (own || cfg.caseloadLimit) ? 'over' : 'ok');
      }
      var c = layer.colour_by ? (layer.colours[p[layer.colour_by]] || layer.colour)
                              : layer.colour;
      if (layer.kind === 'point') {
        // A bin of several households or children (zoomed out) grows with their number.
        var n = p.households || p.children || 1;
        return {radius: n > 1 ? Math.min(14, 4 + 2 * Math.log2(n)) : 5, fill: true,
                fillColor: c, fillOpacity: 0.9, color: '#fff', weight: 1};
      }
      var outline = layer.name === 'villages' || layer.name === 'townships';
      if (layer.name === 'reach') {
        return {fill: true, fillColor: c, fillOpacity: 0.06, color: c, weight: 1};
      }
      return {fill: !outline, fillColor: c, fillOpacity: 0.45,
              color: outline ? '#263238' : c,
              weight: layer.name === 'townships' ? 2.5 : (outline ? 1.2 : 0.4)};
    };
    var url = cfg.tileUrl.replace('__layer__', layer.name);
    // Drawn only at the zooms its tiles exist for (a status group shows villages
    // zoomed out and cells zoomed in).
    var vg = L.vectorGrid.protobuf(url, {
      vectorTileLayerStyles: styles, interactive: true, maxNativeZoom: 16,
      minZoom: layer.min_zoom, maxZoom: layer.max_zoom < 16 ? layer.max_zoom : 22
    });
    vgs[layer.name] = vg;
    if (layer.kind === 'point') {
      // Symbols come from the current zoom's tiles only: tiles of another zoom kept
      // while new ones load would be scaled up (symbols ten times their size).
      var hideOtherLevels = function () {
        Object.keys(vg._levels || {}).forEach(function (z) {
          vg._levels[z].el.style.display = (+z === vg._tileZoom) ? '' : 'none';
        });
      };
      vg.on('load tileload', hideOtherLevels);
      map.on('zoomend', hideOtherLevels);
    }
    vg.on('click', function (e) {
      // Registering (register.js), a click on an area picks a place, not a popup.
      var reg = window.gridmap.register;
      if (reg && reg.on && layer.kind !== 'point') { return; }
      L.popup().setLatLng(e.latlng).setContent(popupContent(layer, e.layer.properties))
        .openOn(map);
    });
    vg.on('load', function () {
      window.gridmap.tilesLoaded += 1; window.gridmap.layers[layer.name] = true;
      if (layer.name === 'village_status' || layer.name === 'cell_status') {
        window.gridmap.layers.status = true;
      }
    });
    vg.on('tileerror', function (e) { window.gridmap.errors.push(layer.name); });
    if (layer.group) {
      var title = cfg.groups[layer.group][cfg.lang];
      if (!overlays[title]) {
        overlays[title] = L.layerGroup();
        if (layer.visible) { overlays[title].addTo(map); }
      }
      overlays[title].addLayer(vg);
    } else {
      overlays[layer.title[cfg.lang]] = vg;
      if (layer.visible) { vg.addTo(map); }
    }
  });
  // After a move the layers that fetched nothing new (their tiles for this zoom were
  // still held) are settled too: 'load' fires only when tiles were fetched.
  map.on('moveend', function () {
    setTimeout(function () {
      cfg.layers.forEach(function (layer) {
        var vg = vgs[layer.name];
        if (map.hasLayer(vg) && !vg.isLoading()) { window.gridmap.layers[layer.name] = true; }
      });
    }, 0);
  });
  function shown(layer) {
    var z = map.getZoom();
    return map.hasLayer(vgs[layer.name]) && z >= layer.min_zoom && z <= layer.max_zoom;
  }
  // On a phone the layer list and the legend start folded, so the map shows.
  var narrow = window.innerWidth < 700;
  L.control.layers(null, overlays, {collapsed: narrow}).addTo(map);

  // The legend of the layers on the map, one group each, redrawn as layers are
  // switched on and off.
  var legend = L.control({position: 'bottomright'}), legendDiv = null;
  function drawLegend() {
    legendDiv.textContent = '';
    legendDiv.appendChild(el('h2', t.legend));
    cfg.layers.forEach(function (layer) {
      var keys = layer.legend_order;  // the registry's order (tojson sorts keys)
      if (!keys.length || !shown(layer)) { return; }
      legendDiv.appendChild(el('h3', layer.group
        ? cfg.groups[layer.group][cfg.lang] + ' · ' + layer.title[cfg.lang]
        : layer.title[cfg.lang]));
      keys.forEach(function (k) {
        var row = legendDiv.appendChild(el('div')), swatch = el('i');
        swatch.style.background = layer.colours[k];
        row.appendChild(swatch);
        row.appendChild(document.createTextNode(layer.legend[k][cfg.lang]));
      });
    });
  }
  legend.onAdd = function () {
    legendDiv = L.DomUtil.create('div', 'gm-panel gm-legend' + (narrow ? ' gm-folded' : ''));
    drawLegend();
    L.DomEvent.on(legendDiv, 'click', function () {
      L.DomUtil.hasClass(legendDiv, 'gm-folded') ? L.DomUtil.removeClass(legendDiv, 'gm-folded')
                                                 : L.DomUtil.addClass(legendDiv, 'gm-folded');
    });
    L.DomEvent.disableClickPropagation(legendDiv);
    return legendDiv;
  };
  map.on('overlayadd overlayremove zoomend', function () {
    if (legendDiv) { drawLegend(); }
  });
  // A metric scale bar (folium's shows miles too).
  L.control.scale({metric: true, imperial: false}).addTo(map);
  legend.addTo(map);

  var panel = L.control({position: 'topleft'});
  panel.onAdd = function () {
    // On a phone the panel starts folded to its title; a tap on the title unfolds it.
    var div = L.DomUtil.create('div', 'gm-panel' + (narrow ? ' gm-folded' : ''));
    div.id = 'gm-panel';
    var head = div.appendChild(el('h2', t.title));
    head.id = 'gm-unit';
    head.addEventListener('click', function () { div.classList.toggle('gm-folded'); });
    div.appendChild(el('table')).id = 'gm-figures';
    var input = div.appendChild(el('div', null, 'gm-search')).appendChild(el('input'));
    input.id = 'gm-search'; input.placeholder = t.search;
    var links = div.appendChild(el('div', null, 'gm-links'));
    cfg.pages.forEach(function (page, i) {
      if (i) { links.appendChild(document.createTextNode(' ')); }
      links.appendChild(el('a', page[1])).href = page[0];
    });
    if (cfg.pages.length) { links.appendChild(el('br')); }
    links.appendChild(el('a', t.lang)).href = cfg.otherLang;
    var form = links.appendChild(el('form'));
    form.method = 'post'; form.action = '/logout'; form.style.display = 'inline';
    var token = form.appendChild(el('input'));
    token.type = 'hidden'; token.name = 'csrf_token'; token.value = cfg.csrf;
    form.appendChild(el('button', t.logout)).type = 'submit';
    L.DomEvent.disableClickPropagation(div);
    return div;
  };
  panel.addTo(map);
  fetch('/api/units/' + cfg.unit, {credentials: 'same-origin'})
    .then(function (r) { return r.json(); })
    .then(function (u) {
      var p = u.properties, fmt = function (n) {
        return n === null || n === undefined ? '–' : n.toLocaleString(cfg.locale); };
      document.getElementById('gm-unit').textContent = p.name;
      var figures = document.getElementById('gm-figures');
      [[t.children, p.children], [t.households, p.households], [t.cells, p.cells],
       [t.free_beds, p.free_beds], [t.overdue, p.overdue_children, cfg.lists.overdue],
       [t.never, p.cells_never_visited, cfg.lists.cells]].forEach(function (row) {
        var tr = figures.appendChild(el('tr'));
        var label = tr.appendChild(el('td'));
        if (row[2]) {
          var a = label.appendChild(el('a', row[0])); a.href = row[2];
        } else { label.textContent = row[0]; }
        tr.appendChild(el('td', fmt(row[1]), 'n'));
      });
      var g = L.geoJSON(u.geometry);
      if (window.gridmap.at) { map.setView(window.gridmap.at, 16); }
      else { map.fitBounds(g.getBounds()); }
      window.gridmap.unitLoaded = true;
    });
  // Search: every match (villages, children, households), a page at a time.
  var results = null, searchText = '', searchNext = null;
  function showHit(hit) {
    if (hit.kind === 'village' || hit.kind === 'township') {
      fetch('/api/units/' + encodeURIComponent(hit.ledger_id), {credentials: 'same-origin'})
        .then(function (r) { return r.json(); })
        .then(function (u) { map.fitBounds(L.geoJSON(u.geometry).getBounds()); });
      return;
    }
    map.closePopup();
    map.setView([hit.lat, hit.lon], 16);
    var box = el('div');
    box.appendChild(el('b', hit.name));
    box.appendChild(el('br'));
    box.appendChild(document.createTextNode(hit.address || ''));
    if (hit.record) {
      box.appendChild(el('br'));
      var a = box.appendChild(el('a', t.record));
      a.target = '_blank'; a.rel = 'noopener'; a.href = hit.record;
    }
    L.popup().setLatLng([hit.lat, hit.lon]).setContent(box).openOn(map);
    window.gridmap.found = hit.id;
  }
  function searchPage(url, append) {
    fetch(url, {credentials: 'same-origin'})
      .then(function (r) { return r.json(); })
      .then(function (b) {
        if (!append) { results.textContent = ''; }
        var more = document.getElementById('gm-more');
        if (more) { more.remove(); }
        var items = b.items || [];
        if (!append) {
          results.appendChild(el('li', (b.total || 0) + ' ' + t.matches, 'gm-count'));
        }
        items.forEach(function (hit) {
          var li = results.appendChild(el('li', null, 'gm-hit'));
          var a = li.appendChild(el('a', hit.name));
          a.href = '#';
          li.appendChild(el('span', ' ' + (t.kinds[hit.kind] || '') + ' · ' +
                            (hit.place || hit.address || ''), 'gm-muted'));
          a.addEventListener('click', function (e) { e.preventDefault(); showHit(hit); });
        });
        searchNext = b.next;
        if (b.next) {
          var m = results.appendChild(el('li')).appendChild(el('a', t.more));
          m.id = 'gm-more'; m.href = '#';
          m.addEventListener('click', function (e) {
            e.preventDefault(); searchPage(searchNext, true);
          });
        }
        window.gridmap.searchHits = results.querySelectorAll('li.gm-hit').length;
        if (!append && items.length === 1) { showHit(items[0]); }
      });
  }
  (function () {
    var input = document.getElementById('gm-search');
    results = input.parentNode.appendChild(el('ul', null, 'gm-results'));
    results.id = 'gm-results';
    input.addEventListener('change', function () {
      searchText = input.value.trim();
      if (!searchText) { results.textContent = ''; return; }
      searchPage('/api/search?limit=10&q=' + encodeURIComponent(searchText), false);
    });
  })();
  // A position to show (?at=lat,lon from a list's row).
  var at = new URLSearchParams(window.location.search).get('at');
  if (at && /^-?[0-9.]+,-?[0-9.]+$/.test(at)) {
    var ll = at.split(',').map(Number);
    window.gridmap.at = ll;
    L.circleMarker(ll, {radius: 9, color: '#000', weight: 2, fill: false}).addTo(map);
  }
})();

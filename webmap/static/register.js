// 登记住户: editing the register from the supervisor map (/map), for roles that write
// records. A panel on the map: click the household's place (or type coordinates in
// WGS84, GCJ-02 or BD-09), see its township, village and cell (the server refuses a
// place outside the user's area or the county), fill the household's form, then add and
// correct its children; drag the marker or type new coordinates to move it. Everything
// goes through the JSON API (POST/PATCH /api/households, /api/children), which checks
// it with the ledger import's rules and answers in Chinese naming the field. Values go
// into the page as text (textContent), never as markup.
(function () {
  var map = window.gridmapMap;
  var cfg = JSON.parse(document.getElementById('gm-config').textContent);
  var reg = cfg.register;
  if (!map || !reg) { return; }
  var gm = window.gridmap;
  var state = {on: false, household: null, point: null, marker: null, children: [],
               child: null, saved: 0};
  gm.register = state;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = text; }
    if (cls) { e.className = cls; }
    return e;
  }
  function $(id) { return document.getElementById(id); }
  function api(method, url, body) {
    return gm.send(method, url, body, cfg.csrf).then(function (res) {
      if (!res.ok) {
        var r = gm.refusal(res.body, res.status);
        var e = (res.body && res.body.error) || {};
        e.message = r.text;
        throw e;
      }
      return res.body;
    });
  }

  // -- the panel ----------------------------------------------------------------------
  function field(form, id, label, input) {
    var row = form.appendChild(el('div', null, 'gm-reg-row'));
    var l = row.appendChild(el('label', label));
    l.htmlFor = id;
    input.id = id;
    row.appendChild(input);
    return input;
  }
  function textInput(name, placeholder) {
    var i = el('input');
    i.type = 'text'; i.dataset.field = name;
    if (placeholder) { i.placeholder = placeholder; }
    return i;
  }
  function select(name, options) {
    var s = el('select');
    s.dataset.field = name;
    options.forEach(function (o) { var opt = s.appendChild(el('option', o[1])); opt.value = o[0]; });
    return s;
  }
  function checks(box, name, options) {
    var wrap = box.appendChild(el('div', null, 'gm-reg-checks'));
    wrap.dataset.field = name;
    options.forEach(function (o) {
      var l = wrap.appendChild(el('label'));
      var c = l.appendChild(el('input'));
      c.type = 'checkbox'; c.value = o[0]; c.name = name;
      l.appendChild(document.createTextNode(o[1]));
    });
    return wrap;
  }
  function checked(wrap) {
    return Array.prototype.filter.call(wrap.querySelectorAll('input'), function (c) {
      return c.checked; }).map(function (c) { return c.value; });
  }
  function setChecked(wrap, values) {
    wrap.querySelectorAll('input').forEach(function (c) {
      c.checked = (values || []).indexOf(c.value) >= 0; });
  }

  var panel = el('div', null, 'gm-register');
  panel.id = 'gm-register';
  panel.hidden = true;
  document.body.appendChild(panel);
  var head = panel.appendChild(el('div', null, 'gm-reg-head'));
  var title = head.appendChild(el('h2', '登记住户'));
  title.id = 'gm-reg-title';
  var close = head.appendChild(el('button', '退出登记'));
  close.type = 'button'; close.id = 'gm-reg-close';
  var hint = panel.appendChild(el('p', '在地图上点击住户的位置，或输入坐标：', 'gm-muted'));
  hint.id = 'gm-reg-hint';

  var pointForm = panel.appendChild(el('form', null, 'gm-reg-point'));
  pointForm.id = 'gm-reg-point';
  var lonIn = field(pointForm, 'gm-reg-lon', '经度', textInput('lon', '101.7376'));
  var latIn = field(pointForm, 'gm-reg-lat', '纬度', textInput('lat', '26.4976'));
  var crsIn = field(pointForm, 'gm-reg-crs', '坐标系', select('crs', reg.crs));
  var locate = pointForm.appendChild(el('button', '定位'));
  locate.type = 'submit'; locate.id = 'gm-reg-locate';

  var where = panel.appendChild(el('p', null, 'gm-reg-where'));
  where.id = 'gm-reg-where';
  var moveBtn = panel.appendChild(el('button', '迁移到此位置', 'gm-reg-primary'));
  moveBtn.type = 'button'; moveBtn.id = 'gm-reg-move'; moveBtn.hidden = true;
  var msg = panel.appendChild(el('p', null, 'gm-reg-msg'));
  msg.id = 'gm-reg-msg'; msg.setAttribute('role', 'status');

  var hhForm = panel.appendChild(el('form', null, 'gm-reg-form'));
  hhForm.id = 'gm-reg-household';
  hhForm.appendChild(el('h3', '住户信息'));
  var addrIn = field(hhForm, 'gm-reg-address', '地址（必填）',
                     textInput('address', '如：仁和镇仁和村3组12号'));
  var headIn = field(hhForm, 'gm-reg-head', '户主姓名', textInput('head_name'));
  var phoneIn = field(hhForm, 'gm-reg-phone', '联系电话', textInput('phone'));
  phoneIn.type = 'tel';
  hhForm.appendChild(el('div', '家庭类型', 'gm-reg-label'));
  var flagsIn = checks(hhForm, 'flags', reg.flags);
  var hhSave = hhForm.appendChild(el('button', '保存住户', 'gm-reg-primary'));
  hhSave.type = 'submit'; hhSave.id = 'gm-reg-save-household';

  var kids = panel.appendChild(el('section', null, 'gm-reg-kids'));
  kids.id = 'gm-reg-children'; kids.hidden = true;
  kids.appendChild(el('h3', '家中儿童'));
  var kidList = kids.appendChild(el('ul'));
  kidList.id = 'gm-reg-kid-list';
  var addKid = kids.appendChild(el('button', '添加儿童'));
  addKid.type = 'button'; addKid.id = 'gm-reg-add-child';

  var kidForm = kids.appendChild(el('form', null, 'gm-reg-form'));
  kidForm.id = 'gm-reg-child'; kidForm.hidden = true;
  var kidTitle = kidForm.appendChild(el('h3', '添加儿童'));
  var nameIn = field(kidForm, 'gm-reg-name', '姓名（必填）', textInput('name'));
  var sexIn = field(kidForm, 'gm-reg-sex', '性别', select('sex', reg.sexes));
  var bornIn = field(kidForm, 'gm-reg-born', '出生日期（必填）',
                     textInput('birth_date', '2015-06-15 或 2015年6月15日'));
  var idIn = field(kidForm, 'gm-reg-idno', '身份证号', textInput('id_number'));
  idIn.maxLength = 18; idIn.autocomplete = 'off';
  kidForm.appendChild(el('div', '困境类别（至少一项）', 'gm-reg-label'));
  var catsIn = checks(kidForm, 'categories', reg.categories);
  var riskIn = field(kidForm, 'gm-reg-risk', '风险等级', select('risk_level', reg.risk));
  var guardIn = field(kidForm, 'gm-reg-guardian', '监护情况',
                      textInput('guardian_situation', '如：父母外出务工，由祖辈照料'));
  var schoolIn = field(kidForm, 'gm-reg-school', '就读学校', textInput('school'));
  var disRow = kidForm.appendChild(el('label', null, 'gm-reg-row gm-reg-inline'));
  var disIn = disRow.appendChild(el('input'));
  disIn.type = 'checkbox'; disIn.id = 'gm-reg-disability'; disIn.dataset.field = 'has_disability';
  disRow.appendChild(document.createTextNode('有残疾'));
  var kidButtons = kidForm.appendChild(el('div', null, 'gm-reg-buttons'));
  var kidSave = kidButtons.appendChild(el('button', '保存儿童', 'gm-reg-primary'));
  kidSave.type = 'submit'; kidSave.id = 'gm-reg-save-child';
  var kidCancel = kidButtons.appendChild(el('button', '取消'));
  kidCancel.type = 'button';

  // -- messages -------------------------------------------------------------------------
  function say(text, bad) {
    msg.textContent = text || '';
    msg.classList.toggle('gm-reg-error', !!bad);
  }
  function clearMarks() {
    panel.querySelectorAll('.gm-reg-bad').forEach(function (e) {
      e.classList.remove('gm-reg-bad'); });
  }
  function fail(e, scope) {
    clearMarks();
    say(e.message, true);
    var name = (e.field || '').split('.')[0];
    if (name === 'lat') { name = 'lon'; }
    var target = name && (scope || panel).querySelector('[data-field="' + name + '"]');
    if (target) { target.classList.add('gm-reg-bad'); if (target.focus) { target.focus(); } }
  }

  // -- the place ------------------------------------------------------------------------
  function placeMarker(lat, lon) {
    if (!state.marker) {
      state.marker = L.marker([lat, lon], {
        draggable: true, autoPan: true, title: '住户位置（可拖动）',
        icon: L.divIcon({className: 'gm-reg-marker', iconSize: [22, 22], iconAnchor: [11, 11]})
      }).addTo(map);
      state.marker.on('dragend', function () {
        var ll = state.marker.getLatLng();
        pick(ll.lng, ll.lat, 'wgs84');
      });
    } else {
      state.marker.setLatLng([lat, lon]);
    }
  }
  function whereText(p) {
    return '所在：' + [p.township_name, p.village_name, p.cell_name].filter(Boolean).join(' · ');
  }
  function pick(lon, lat, crs) {
    say('正在查找位置…');
    return api('GET', '/api/households/locate?lon=' + encodeURIComponent(lon) + '&lat=' +
               encodeURIComponent(lat) + '&crs=' + encodeURIComponent(crs))
      .then(function (p) {
        clearMarks();
        say('');
        state.point = p;
        where.textContent = whereText(p);
        placeMarker(p.lat, p.lon);
        if (state.household) {
          moveBtn.hidden = false;
          say('确认后住户将迁移到新位置，所属网格随之更新。');
        } else {
          addrIn.focus();
        }
        state.located = (state.located || 0) + 1;
      })
      .catch(function (e) {
        state.point = null;
        where.textContent = '';
        moveBtn.hidden = true;
        if (state.household) {
          placeMarker(state.household.lat, state.household.lon);
        } else if (state.marker) {
          map.removeLayer(state.marker); state.marker = null;
        }
        fail(e, pointForm);
      });
  }
  pointForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var lon = lonIn.value.trim(), lat = latIn.value.trim();
    if (!lon || !lat || isNaN(+lon) || isNaN(+lat)) {
      fail({message: '请填写数字形式的经度和纬度', field: 'lon'}, pointForm);
      return;
    }
    pick(+lon, +lat, crsIn.value).then(function () {
      if (state.point) { focus(state.point.lat, state.point.lon); }
    });
  });
  map.on('click', function (e) {
    if (state.on) { pick(e.latlng.lng, e.latlng.lat, 'wgs84'); }
  });

  // -- the household ----------------------------------------------------------------------
  function refreshTiles() {
    var vg = gm.vgs && gm.vgs.households;
    if (vg && vg.setUrl) {
      vg.setUrl(cfg.tileUrl.replace('__layer__', 'households') + '?v=' + Date.now());
    }
  }
  function showHousehold(hh) {
    state.household = hh;
    title.textContent = '编辑住户';
    hint.textContent = '拖动标记或输入新坐标可迁移住户；在下方添加或修改儿童。';
    addrIn.value = hh.address || '';
    headIn.value = hh.head_name || '';
    phoneIn.value = hh.phone || '';
    setChecked(flagsIn, hh.flags);
    where.textContent = '所在：' + [hh.village_name, hh.cell_name || hh.cell_code]
      .filter(Boolean).join(' · ');
    moveBtn.hidden = true;
    placeMarker(hh.lat, hh.lon);
    kids.hidden = false;
    loadChildren();
  }
  hhForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var body = {address: addrIn.value.trim(), head_name: headIn.value.trim() || null,
                phone: phoneIn.value.trim() || null, flags: checked(flagsIn)};
    var call;
    if (state.household) {
      call = api('PATCH', '/api/households/' + state.household.id, body);
    } else {
      if (!state.point) {
        fail({message: '请先在地图上点击住户的位置或输入坐标', field: 'lon'}, pointForm);
        return;
      }
      body.lon = state.point.lon; body.lat = state.point.lat; body.crs = 'wgs84';
      call = api('POST', '/api/households', body);
    }
    hhSave.disabled = true;
    call.then(function (hh) {
      clearMarks();
      showHousehold(hh);
      say('住户已保存。', false);
      state.saved += 1;
      refreshTiles();
    }).catch(function (e) { fail(e, hhForm); })
      .then(function () { hhSave.disabled = false; });
  });
  moveBtn.addEventListener('click', function () {
    if (!state.household || !state.point) { return; }
    api('PATCH', '/api/households/' + state.household.id,
        {lon: state.point.lon, lat: state.point.lat, crs: 'wgs84'})
      .then(function (hh) {
        showHousehold(hh);
        say('住户已迁移到' + [hh.village_name, hh.cell_name].filter(Boolean).join(' · ') + '。');
        state.moved = (state.moved || 0) + 1;
        refreshTiles();
      }).catch(function (e) { fail(e, pointForm); });
  });

  // -- children -----------------------------------------------------------------------------
  var SEX = {}, RISK = {}, CAT = {};
  reg.sexes.forEach(function (o) { SEX[o[0]] = o[1]; });
  reg.risk.forEach(function (o) { RISK[o[0]] = o[1]; });
  reg.categories.forEach(function (o) { CAT[o[0]] = o[1]; });
  function loadChildren() {
    return api('GET', '/api/children?limit=100&household=' + state.household.id)
      .then(function (b) {
        state.children = b.items || [];
        kidList.textContent = '';
        if (!state.children.length) { kidList.appendChild(el('li', '尚无登记的儿童', 'gm-muted')); }
        state.children.forEach(function (c) {
          var li = kidList.appendChild(el('li'));
          li.appendChild(el('b', c.name));
          li.appendChild(el('span', ' ' + [SEX[c.sex], c.birth_date, '风险' + (RISK[c.risk_level] ||
            c.risk_level)].join(' · '), 'gm-muted'));
          li.appendChild(el('br'));
          li.appendChild(el('span', (c.categories || []).map(function (k) {
            return CAT[k] || k; }).join('、'), 'gm-reg-cats'));
          var edit = li.appendChild(el('button', '修改'));
          edit.type = 'button';
          edit.addEventListener('click', function () { openChild(c); });
        });
      }).catch(function (e) { fail(e); });
  }
  function openChild(c) {
    state.child = c;
    clearMarks();
    kidTitle.textContent = c ? '修改儿童：' + c.name : '添加儿童';
    nameIn.value = c ? c.name : '';
    sexIn.value = c ? c.sex : reg.sexes[0][0];
    bornIn.value = c ? c.birth_date : '';
    idIn.value = '';
    if (c && c.id_masked) {
      idIn.placeholder = c.id_masked + '（留空则不变）';
    } else if (reg.seesId) {
      idIn.placeholder = '18位，可留空';
    } else {
      idIn.placeholder = c ? '可补填，您的角色保存后不可查看' : '18位，可留空；保存后不可查看';
    }
    setChecked(catsIn, c ? c.categories : []);
    riskIn.value = c ? c.risk_level : reg.risk[reg.risk.length - 1][0];
    guardIn.value = c && c.guardian_situation ? c.guardian_situation : '';
    schoolIn.value = c && c.school ? c.school : '';
    disIn.checked = !!(c && c.has_disability);
    kidForm.hidden = false;
    addKid.hidden = true;
    nameIn.focus();
  }
  addKid.addEventListener('click', function () { openChild(null); });
  kidCancel.addEventListener('click', function () {
    kidForm.hidden = true; addKid.hidden = false; state.child = null; clearMarks(); say('');
  });
  kidForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var body = {name: nameIn.value.trim(), sex: sexIn.value, birth_date: bornIn.value.trim(),
                categories: checked(catsIn), risk_level: riskIn.value,
                guardian_situation: guardIn.value.trim() || null,
                school: schoolIn.value.trim() || null, has_disability: disIn.checked};
    var idno = idIn.value.replace(/\s+/g, '').toUpperCase();
    if (idno) { body.id_number = idno; }
    var call;
    if (state.child) {
      call = api('PATCH', '/api/children/' + state.child.id, body);
    } else {
      body.household_id = state.household.id;
      call = api('POST', '/api/children', body);
    }
    kidSave.disabled = true;
    call.then(function (c) {
      clearMarks();
      kidForm.hidden = true; addKid.hidden = false; state.child = null;
      say('已保存儿童：' + c.name + '。');
      state.saved += 1;
      return loadChildren();
    }).catch(function (e) { fail(e, kidForm); })
      .then(function () { kidSave.disabled = false; });
  });

  // -- switching the mode on and off ----------------------------------------------------------
  function reset() {
    state.household = null; state.point = null; state.child = null; state.children = [];
    if (state.marker) { map.removeLayer(state.marker); state.marker = null; }
    title.textContent = '登记住户';
    hint.textContent = '在地图上点击住户的位置，或输入坐标：';
    where.textContent = ''; say('');
    hhForm.reset(); kidForm.reset(); pointForm.reset();
    kidForm.hidden = true; addKid.hidden = false; kids.hidden = true; moveBtn.hidden = true;
    clearMarks();
  }
  function start() {
    reset();
    state.on = true;
    panel.hidden = false;
    map.getContainer().classList.add('gm-registering');
    map.closePopup();
    var b = $('gm-register-toggle');
    if (b) { b.textContent = '登记中…'; }
  }
  function stop() {
    reset();
    state.on = false;
    panel.hidden = true;
    map.getContainer().classList.remove('gm-registering');
    var b = $('gm-register-toggle');
    if (b) { b.textContent = '登记住户'; }
  }
  close.addEventListener('click', stop);
  // Show a place above the panel (on a phone the panel is a sheet over the map's lower
  // half), also once the unit's outline has loaded (which fits the map to the unit).
  function focus(lat, lon) {
    gm.at = [lat, lon];
    function go() {
      map.setView([lat, lon], Math.max(map.getZoom(), 16), {animate: false});
      if (window.innerWidth < 700) { map.panBy([0, panel.offsetHeight / 2], {animate: false}); }
    }
    go();
    if (!gm.unitLoaded) {
      var tries = 0, wait = setInterval(function () {
        if (gm.unitLoaded || ++tries > 100) { clearInterval(wait); go(); }
      }, 100);
    }
  }
  function openHousehold(id) {
    return api('GET', '/api/households/' + encodeURIComponent(id)).then(function (hh) {
      start();
      showHousehold(hh);
      map.closePopup();
      focus(hh.lat, hh.lon);
    }).catch(function (e) { start(); fail(e); });
  }
  state.open = openHousehold;

  var toggle = L.control({position: 'topright'});
  toggle.onAdd = function () {
    var b = L.DomUtil.create('button', 'gm-panel gm-reg-toggle');
    b.type = 'button'; b.id = 'gm-register-toggle'; b.textContent = '登记住户';
    b.title = '在地图上登记住户和儿童';
    L.DomEvent.disableClickPropagation(b);
    b.addEventListener('click', function () { if (state.on) { stop(); } else { start(); } });
    return b;
  };
  toggle.addTo(map);

  // A household's popup (one household, zoomed in) offers to edit it here.
  gm.popupExtra = function (layer, p, box) {
    if (layer.name !== 'households' || !p.id || (p.households && p.households > 1)) { return; }
    // Before the record's link, which stays the popup's last.
    var line = el('div', null, 'gm-reg-edit-line');
    var a = line.appendChild(el('a', '编辑住户和儿童'));
    a.href = '#'; a.className = 'gm-reg-edit';
    a.addEventListener('click', function (ev) { ev.preventDefault(); openHousehold(p.id); });
    box.insertBefore(line, box.querySelector('a'));
  };
  // /map?household=ID opens that household for editing.
  var wanted = new URLSearchParams(window.location.search).get('household');
  if (wanted && /^[0-9]+$/.test(wanted)) { openHousehold(wanted); }
  state.ready = true;
})();

// The case loop's pages: the case panel of a child's record page, the referrals page
// and the monthly report page. Forms and buttons post to the JSON API (with the page's
// CSRF token) and reload the page, which the server renders again; refusals are shown
// as text (textContent), never as markup. Settings come from the JSON block
// #gm-case-config.
(function () {
  'use strict';
  var node = document.getElementById('gm-case-config');
  window.gridmap = window.gridmap || {};
  if (!node) { window.gridmap.ready = true; return; }
  var cfg = JSON.parse(node.textContent);

  function $(id) { return document.getElementById(id); }
  function post(url, body, method) {
    return window.gridmap.send(method || 'POST', url, body || {}, cfg.csrf);
  }
  // The API's refusal, named by the form's field in Chinese.
  function problem(body) {
    var r = window.gridmap.refusal(body);
    var key = r.field ? String(r.field).split('.')[0] : null;
    var field = key && cfg.fields && cfg.fields[key];
    return (field ? '「' + field + '」：' : '') + r.text;
  }
  function send(url, body, errorBox, method) {
    var err = $(errorBox);
    if (err) { err.textContent = ''; }
    window.gridmap.busy = true;
    return post(url, body, method).then(function (res) {
      window.gridmap.busy = false;
      if (res.status >= 200 && res.status < 300) {
        window.gridmap.done = (window.gridmap.done || 0) + 1;
        window.location.reload();
        return res;
      }
      window.gridmap.refused = res.status;
      if (err) { err.textContent = problem(res.body); }
      return res;
    }).catch(function () {
      window.gridmap.busy = false;
      if (err) { err.textContent = '网络错误，请稍后重试'; }
    });
  }
  function value(id) { var e = $(id); return e ? e.value.trim() : ''; }
  function on(id, event, fn) { var e = $(id); if (e) { e.addEventListener(event, fn); } }

  // -- the case panel ---------------------------------------------------------------
  function panel() {
    var child = cfg.child;
    var base = '/api/children/' + child;
    document.querySelectorAll('button[data-case-action]').forEach(function (b) {
      b.addEventListener('click', function () {
        send(base + '/case', {action: b.dataset.caseAction}, 'gm-close-error');
      });
    });
    on('gm-close-reason', 'change', function () {
      $('gm-destination-row').hidden = $('gm-close-reason').value !== 'moved_away';
    });
    on('gm-close-form', 'submit', function (e) {
      e.preventDefault();
      var body = {action: 'close', reason: value('gm-close-reason') || null};
      if (!body.reason) { $('gm-close-error').textContent = '请选择结案原因'; return; }
      if (body.reason === 'moved_away') {
        body.destination = value('gm-close-destination');
        if (!/^[0-9]{6}$/.test(body.destination)) {
          $('gm-close-error').textContent = '迁出须填写迁入地县级行政区划代码（6位数字）';
          return;
        }
      }
      if (value('gm-close-note')) { body.note = value('gm-close-note'); }
      send(base + '/case', body, 'gm-close-error');
    });

    // The assessment: the weighted score and the level it proposes, as the form is
    // filled in (the server scores it again).
    function score() {
      var total = 0, answers = {};
      document.querySelectorAll('select[data-item]').forEach(function (s) {
        var v = Number(s.value);
        answers[s.dataset.item] = v;
        total += v * Number(s.dataset.weight);
      });
      var level = cfg.levels[cfg.levels.length - 1];
      for (var i = 0; i < cfg.levels.length; i++) {
        var t = cfg.thresholds[cfg.levels[i]];
        if (t !== undefined && total >= Number(t)) { level = cfg.levels[i]; break; }
      }
      $('gm-assess-score').textContent = String(total);
      $('gm-assess-proposed').textContent = cfg.risks[level] || level;
      window.gridmap.proposed = level;
      return answers;
    }
    if ($('gm-assess-form')) {
      document.querySelectorAll('select[data-item]').forEach(function (s) {
        s.addEventListener('change', score);
      });
      score();
      on('gm-assess-form', 'submit', function (e) {
        e.preventDefault();
        var body = {answers: score()};
        if (value('gm-assess-note')) { body.note = value('gm-assess-note'); }
        send(base + '/assessments', body, 'gm-assess-error');
      });
    }
    document.querySelectorAll('button[data-approve]').forEach(function (b) {
      b.addEventListener('click', function () {
        b.disabled = true;
        send('/api/assessments/' + b.dataset.approve + '/approve', {}, 'gm-approve-error')
          .then(function () { b.disabled = false; });
      });
    });

    // Guardians: add, or edit one (its row's button fills the form in).
    function guardianBody() {
      var body = {relation: value('gm-g-relation') || null, name: value('gm-g-name'),
                  lives_with_child: $('gm-g-lives').checked,
                  able_to_care: $('gm-g-able').checked,
                  appointed_carer: $('gm-g-appointed').checked,
                  phone: value('gm-g-phone') || null,
                  unavailable_until: value('gm-g-until') || null,
                  unavailable_reason: value('gm-g-why') || null};
      return body;
    }
    document.querySelectorAll('button[data-edit-guardian]').forEach(function (b) {
      b.addEventListener('click', function () {
        var id = Number(b.dataset.editGuardian);
        var g = (cfg.guardians || []).filter(function (x) { return x.id === id; })[0];
        if (!g) { return; }
        $('gm-guardian-id').value = String(id);
        $('gm-guardian-legend').textContent = '修改监护人';
        $('gm-g-relation').value = g.relation; $('gm-g-name').value = g.name || '';
        $('gm-g-phone').value = g.phone || '';
        $('gm-g-lives').checked = !!g.lives_with_child; $('gm-g-able').checked = !!g.able_to_care;
        $('gm-g-appointed').checked = !!g.appointed_carer;
        $('gm-g-until').value = g.unavailable_until || '';
        $('gm-g-why').value = g.unavailable_reason || '';
        $('gm-guardian-cancel').hidden = false;
        $('gm-guardian-form').scrollIntoView();
      });
    });
    on('gm-guardian-cancel', 'click', function () {
      $('gm-guardian-form').reset(); $('gm-guardian-id').value = '';
      $('gm-guardian-legend').textContent = '登记监护人'; $('gm-guardian-cancel').hidden = true;
    });
    on('gm-guardian-form', 'submit', function (e) {
      e.preventDefault();
      var body = guardianBody();
      if (!body.relation) { $('gm-guardian-error').textContent = '请选择关系'; return; }
      if (!body.name) { $('gm-guardian-error').textContent = '请填写姓名'; return; }
      var id = value('gm-guardian-id');
      if (id) { send(base + '/guardians/' + id, body, 'gm-guardian-error', 'PATCH'); }
      else { send(base + '/guardians', body, 'gm-guardian-error'); }
    });

    on('gm-support-form', 'submit', function (e) {
      e.preventDefault();
      var body = {type: value('gm-s-type') || null, start_on: value('gm-s-start') || null,
                  end_on: value('gm-s-end') || null, granted_by: value('gm-s-granted')};
      if (value('gm-s-amount')) { body.amount = Number(value('gm-s-amount')); }
      if (value('gm-s-guardian')) { body.guardian_id = Number(value('gm-s-guardian')); }
      if (value('gm-s-note')) { body.note = value('gm-s-note'); }
      if (!body.type) { $('gm-support-error').textContent = '请选择帮扶类型'; return; }
      send(base + '/supports', body, 'gm-support-error');
    });

    on('gm-referral-form', 'submit', function (e) {
      e.preventDefault();
      var body = {child_id: child, department: value('gm-r-department') || null,
                  service: value('gm-r-service'), due_on: value('gm-r-due') || null};
      if (value('gm-r-note')) { body.note = value('gm-r-note'); }
      if (!body.department) { $('gm-referral-error').textContent = '请选择部门'; return; }
      send('/api/referrals', body, 'gm-referral-error');
    });
  }

  // -- the department's referrals ------------------------------------------------------
  function referralsPage() {
    document.querySelectorAll('button[data-referral-action]').forEach(function (b) {
      b.addEventListener('click', function () {
        var id = b.dataset.id, action = b.dataset.referralAction;
        var box = document.querySelector('input.gm-referral-text[data-id="' + id + '"]');
        var text = box ? box.value.trim() : '';
        var body = {};
        if (action === 'decline') {
          if (!text) { $('gm-action-error').textContent = '退回须填写原因（#' + id + '）'; return; }
          body.reason = text;
        } else if (action === 'done') {
          if (!text) { $('gm-action-error').textContent = '办结须填写办理情况（#' + id + '）'; return; }
          body.outcome = text;
        } else if (text) { body.note = text; }
        send('/api/referrals/' + id + '/' + action, body, 'gm-action-error');
      });
    });
  }

  // -- the monthly report --------------------------------------------------------------
  function monthly() {
    on('gm-submit-report', 'click', function () {
      send('/api/cases/monthly/submit', {month: cfg.month, unit: cfg.unit}, 'gm-submit-error');
    });
  }

  if (cfg.page === 'referrals') { referralsPage(); }
  else if (cfg.page === 'monthly') { monthly(); }
  else { panel(); }
  window.gridmap.ready = true;
})();

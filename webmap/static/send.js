// One way for the pages' scripts to call the JSON API: same-origin credentials, the
// page's CSRF token, a JSON body when there is one. gridmap.send resolves with
// {status, ok, body} (body {} when the answer is not JSON); gridmap.refusal turns the
// API's error into {field, text}, the text in Chinese for an expired page. Loaded
// before case.js, reports.js and register.js.
(function () {
  'use strict';
  var gm = window.gridmap = window.gridmap || {};
  gm.send = function (method, url, body, csrf) {
    var opts = {method: method, credentials: 'same-origin',
                headers: {Accept: 'application/json', 'X-CSRFToken': csrf}};
    if (body !== undefined && body !== null) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (b) {
        return {status: r.status, ok: r.ok, body: b};
      });
    });
  };
  gm.refusal = function (body, status) {
    var e = (body && body.error) || {};
    var text = e.code === 'csrf_failed' ? '页面已过期，请刷新后重试'
      : (e.message || (status ? '请求失败（' + status + '）' : '提交失败'));
    return {field: e.field || null, code: e.code || null, text: text};
  };
}());

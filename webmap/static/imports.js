/* The import page: the file goes up with XMLHttpRequest (bytes sent shown on the bar),
   the server checks or imports it as a job, and the bar follows the job — rows read,
   validated, written — polled from /imports/jobs/<id> until it ends; then the page of
   the result (the preview, or the import done with its history row) is loaded.
   Without this script the forms post and wait as plain forms.
   window.gridmap.progressLog keeps every step shown, also in sessionStorage under
   gridmap.progressLog across the load of the result (the browser test reads it). */
(function () {
  "use strict";
  var gm = window.gridmap = window.gridmap || {};
  gm.progressLog = [];
  var box = document.getElementById("import-progress");
  var bar = document.getElementById("progress-bar");
  var pct = document.getElementById("progress-percent");
  var label = document.getElementById("progress-label");
  var errorBox = document.getElementById("import-error");
  var POLL_MS = 250;

  function show(stage, percent, text) {
    box.hidden = false;
    bar.value = percent;
    pct.textContent = percent + "%";
    label.textContent = text;
    var last = gm.progressLog[gm.progressLog.length - 1];
    if (!last || last.stage !== stage || last.percent !== percent || last.text !== text) {
      gm.progressLog.push({stage: stage, percent: percent, text: text});
      try {  // kept across the page load that shows the result
        window.sessionStorage.setItem("gridmap.progressLog", JSON.stringify(gm.progressLog));
      } catch (e) { /* storage off: the bar still works */ }
    }
  }

  function fail(text, button) {
    errorBox.textContent = text;
    errorBox.hidden = false;
    box.hidden = true;
    if (button) { button.disabled = false; }
  }

  function megabytes(n) { return (n / 1048576).toFixed(1); }

  function poll(url, button) {
    fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (resp) {
        if (!resp.ok) { throw new Error("查询进度失败（" + resp.status + "）"); }
        return resp.json();
      })
      .then(function (job) {
        show(job.stage, job.percent, job.message);
        if (job.next) {
          window.location.assign(job.next);
        } else {
          window.setTimeout(function () { poll(url, button); }, POLL_MS);
        }
      })
      .catch(function (err) { fail(err.message, button); });
  }

  function send(form) {
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    errorBox.hidden = true;
    gm.progressLog = [];
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable && e.total > 0) {
        var share = Math.round(100 * e.loaded / e.total);
        show("upload", share, "正在上传：" + megabytes(e.loaded) + " / " +
             megabytes(e.total) + " MB（" + share + "%）");
      }
    });
    xhr.addEventListener("load", function () {
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (xhr.status === 202 && body && body.poll) {
        show("queued", 0, "已上传，等待服务器处理…");
        poll(body.poll, button);
      } else {
        fail(body && body.error && body.error.message ? body.error.message :
             "上传失败（" + xhr.status + "），请重试", button);
      }
    });
    xhr.addEventListener("error", function () { fail("网络错误，上传失败，请重试", button); });
    xhr.send(new FormData(form));
  }

  ["upload-form", "confirm-form"].forEach(function (id) {
    var form = document.getElementById(id);
    if (form) {
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        send(form);
      });
    }
  });
  // A job still running when the page was (re)loaded.
  if (box && box.dataset.poll) { poll(box.dataset.poll, null); }
  gm.ready = true;
}());

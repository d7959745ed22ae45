// The planner view: the village table as CSV (cells already neutralised by the server)
// and the facility-type switch. Data come from the panel's data attributes.
(function () {
  var panel = document.getElementById('gm-planner');
  var rows = JSON.parse(panel.dataset.rows);
  var csv = panel.dataset.head + rows.map(function (r) {
    return r.map(function (x) { return x === null ? '' : x; }).join(',');
  }).join('\n');
  document.getElementById('gm-csv').href =
    URL.createObjectURL(new Blob([csv], {type: 'text/csv'}));
  var type = document.getElementById('gm-type');
  type.addEventListener('change', function () { type.form.submit(); });
  window.gridmap = {ready: true};
})();

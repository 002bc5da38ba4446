(function () {
  var box = document.getElementById('filter-text');
  var boxes = document.querySelectorAll('input[data-status-filter]');
  var rows = document.querySelectorAll('tbody#domain-rows > tr');
  var shown = document.getElementById('shown-count');
  function apply() {
    var words = box.value.toLowerCase().split(/\s+/).filter(function (w) { return w.length > 0; });
    var allowed = {};
    boxes.forEach(function (b) { allowed[b.getAttribute('data-status-filter')] = b.checked; });
    var count = 0;
    rows.forEach(function (row) {
      var text = row.textContent.toLowerCase();
      var ok = allowed[row.getAttribute('data-status')] &&
        words.every(function (w) { return text.indexOf(w) !== -1; });
      row.hidden = !ok;
      if (ok) { count += 1; }
    });
    shown.textContent = String(count);
  }
  box.addEventListener('input', apply);
  boxes.forEach(function (b) { b.addEventListener('change', apply); });
  document.getElementById('expand-all').addEventListener('click', function () {
    document.querySelectorAll('#domain-rows details').forEach(function (d) { d.open = true; });
  });
  document.getElementById('collapse-all').addEventListener('click', function () {
    document.querySelectorAll('#domain-rows details').forEach(function (d) { d.open = false; });
  });
  window.addEventListener('beforeprint', function () {
    document.querySelectorAll('details').forEach(function (d) { d.open = true; });
  });
  apply();
}());

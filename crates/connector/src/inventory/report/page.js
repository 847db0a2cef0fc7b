// Sorting and filtering of the report's tables. No data lives in this script: it reads the
// rendered (escaped) table cells only. State in the URL fragment:
//   #sort=findings:desc&filter=text&risk=high
// `sort` names a column key of the agents table, or `<table id>.<key>` of another table.
(function () {
  'use strict';
  var filterInput = document.getElementById('filter');
  var riskSelect = document.getElementById('risk');
  var tables = Array.prototype.slice.call(document.querySelectorAll('table.data'));
  var collator = new Intl.Collator(undefined, { sensitivity: 'base', numeric: true });
  var current = { sort: '', filter: '', risk: '' };
  var searchText = new WeakMap();

  function rowsOf(table) {
    return table.tBodies.length ? Array.prototype.slice.call(table.tBodies[0].rows) : [];
  }

  function headerCells(table) {
    return table.tHead ? Array.prototype.slice.call(table.tHead.rows[0].cells) : [];
  }

  function cellValue(row, index, type) {
    var cell = row.cells[index];
    var raw = '';
    if (cell) {
      raw = cell.hasAttribute('data-value') ? cell.getAttribute('data-value') : cell.textContent;
    }
    if (type === 'number') {
      var n = parseFloat(raw);
      return isNaN(n) ? Number.NEGATIVE_INFINITY : n;
    }
    return raw.trim();
  }

  function compare(x, y, type) {
    if (type === 'number') {
      return x === y ? 0 : (x < y ? -1 : 1);
    }
    return collator.compare(x, y);
  }

  function sortTable(table, key, dir) {
    var ths = headerCells(table);
    var index = -1;
    var type = 'text';
    ths.forEach(function (th, i) {
      if (th.getAttribute('data-key') === key) {
        index = i;
        type = th.getAttribute('data-type') || 'text';
      }
    });
    if (index < 0) {
      return false;
    }
    var rows = rowsOf(table);
    rows.forEach(function (row, i) {
      if (!row.hasAttribute('data-order')) {
        row.setAttribute('data-order', String(i));
      }
    });
    rows.sort(function (a, b) {
      var c = compare(cellValue(a, index, type), cellValue(b, index, type), type);
      if (dir === 'desc') {
        c = -c;
      }
      // Ties keep the report's own order, so a sort is stable and repeatable.
      return c || (Number(a.getAttribute('data-order')) - Number(b.getAttribute('data-order')));
    });
    var body = table.tBodies[0];
    rows.forEach(function (row) { body.appendChild(row); });
    ths.forEach(function (th, i) {
      th.setAttribute('aria-sort', i === index ? (dir === 'asc' ? 'ascending' : 'descending') : 'none');
    });
    table.setAttribute('data-sorted', key + ':' + dir);
    return true;
  }

  function applyFilter() {
    var text = current.filter.trim().toLowerCase();
    var risk = current.risk;
    tables.forEach(function (table) {
      var byRisk = table.hasAttribute('data-risk-filter');
      var shown = 0;
      var rows = rowsOf(table);
      rows.forEach(function (row) {
        // Each row's text is lowered once: filtering thousands of rows per keystroke stays quick.
        if (!searchText.has(row)) {
          searchText.set(row, row.textContent.toLowerCase());
        }
        var ok = (!text || searchText.get(row).indexOf(text) !== -1) &&
          (!risk || !byRisk || row.getAttribute('data-risk') === risk);
        if (ok) {
          row.removeAttribute('hidden');
          shown += 1;
        } else {
          row.setAttribute('hidden', '');
        }
      });
      var count = document.querySelector('.count[data-for="' + table.id + '"]');
      if (count) {
        count.textContent = shown === rows.length ? rows.length + ' shown' : shown + ' of ' + rows.length + ' shown';
      }
    });
  }

  function parseFragment() {
    var state = { sort: '', filter: '', risk: '' };
    var hash = window.location.hash.replace(/^#/, '');
    hash.split('&').forEach(function (part) {
      if (!part) {
        return;
      }
      var eq = part.indexOf('=');
      var k = eq < 0 ? part : part.slice(0, eq);
      var v = eq < 0 ? '' : part.slice(eq + 1);
      try {
        v = decodeURIComponent(v.replace(/\+/g, ' '));
      } catch (e) {
        return;
      }
      if (k === 'sort' || k === 'filter' || k === 'risk') {
        state[k] = v;
      }
    });
    return state;
  }

  function writeFragment() {
    var parts = [];
    ['sort', 'filter', 'risk'].forEach(function (k) {
      if (current[k]) {
        parts.push(k + '=' + encodeURIComponent(current[k]));
      }
    });
    var url = window.location.pathname + window.location.search;
    if (parts.length) {
      url += '#' + parts.join('&');
    }
    try {
      window.history.replaceState(null, '', url);
    } catch (e) {
      // Some file: pages refuse; the view still works, it just cannot be bookmarked.
    }
  }

  function applySort(spec) {
    if (!spec) {
      return;
    }
    var colon = spec.lastIndexOf(':');
    var target = colon < 0 ? spec : spec.slice(0, colon);
    var dir = colon < 0 ? 'asc' : spec.slice(colon + 1).toLowerCase();
    if (dir !== 'desc') {
      dir = 'asc';
    }
    var dot = target.indexOf('.');
    var tableId = dot < 0 ? 'agents' : target.slice(0, dot);
    var key = dot < 0 ? target : target.slice(dot + 1);
    var table = document.getElementById(tableId);
    if (table && table.classList.contains('data')) {
      sortTable(table, key, dir);
    }
  }

  function applyState(state) {
    current = state;
    filterInput.value = state.filter;
    riskSelect.value = state.risk;
    if (riskSelect.value !== state.risk) {
      riskSelect.value = '';
      current.risk = '';
    }
    applySort(state.sort);
    applyFilter();
  }

  tables.forEach(function (table) {
    headerCells(table).forEach(function (th) {
      var button = th.querySelector('button');
      if (!button) {
        return;
      }
      button.addEventListener('click', function () {
        var key = th.getAttribute('data-key');
        var dir = th.getAttribute('aria-sort') === 'ascending' ? 'desc' : 'asc';
        sortTable(table, key, dir);
        current.sort = (table.id === 'agents' ? '' : table.id + '.') + key + ':' + dir;
        writeFragment();
      });
    });
  });
  filterInput.addEventListener('input', function () {
    current.filter = filterInput.value;
    applyFilter();
    writeFragment();
  });
  riskSelect.addEventListener('change', function () {
    current.risk = riskSelect.value;
    applyFilter();
    writeFragment();
  });
  window.addEventListener('hashchange', function () {
    applyState(parseFragment());
  });
  document.documentElement.classList.add('js');
  applyState(parseFragment());
}());

(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("portal-data").textContent);
  var input = document.getElementById("q");
  var results = document.getElementById("results");
  var LIMIT = 200;
  var GLYPHS = {pending: "\u25cb", running: "\u25b6", succeeded: "\u2713", failed: "\u2717", dead: "\u2620", incomplete: "?"};
  function href(path) { return path.split("/").map(encodeURIComponent).join("/"); }
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text) { node.textContent = text; }
    if (cls) { node.className = cls; }
    return node;
  }
  function link(path, text) { var a = el("a", text); a.href = href(path); return a; }
  function stateCell(state) {
    var cell = el("td"), span = el("span", "", "state " + state), glyph = el("span", GLYPHS[state] || "", "g");
    glyph.setAttribute("aria-hidden", "true");
    span.appendChild(glyph);
    span.appendChild(document.createTextNode(" " + state));
    cell.appendChild(span);
    return cell;
  }
  function linksCell(wf, d) {
    var cell = el("td"), links = el("span", "", "files");
    if (d.report && d.report.complete) {
      d.report.files.forEach(function (f) { links.appendChild(link(f, f.split("/").pop())); });
    }
    d.failed_attempts.slice(0, 3).forEach(function (a) {
      var target = a.page || a.files[0], label = a.page ? "what failed" : (target || "").split("/").pop();
      if (target) { links.appendChild(link(target, "attempt " + (a.attempt || "?") + ": " + label)); }
    });
    var history = link(wf.history, "history");
    history.hash = "d-" + d.reference_date;
    links.appendChild(history);
    cell.appendChild(links);
    return cell;
  }
  var HEADERS = ["Workflow", "Date", "State", "Reports and failures"];
  function row(wf, d) {
    var tr = el("tr");
    var name = el("td");
    name.appendChild(link(wf.history, wf.name));
    [name, el("td", d.reference_date, "date"), stateCell(d.state), linksCell(wf, d)].forEach(function (td, i) {
      td.setAttribute("data-label", HEADERS[i]);
      tr.appendChild(td);
    });
    return tr;
  }
  function table(rows) {
    var t = el("table", "", "found"), head = el("thead"), hr = el("tr"), body = el("tbody");
    HEADERS.forEach(function (h) {
      var th = el("th", h); th.scope = "col"; hr.appendChild(th);
    });
    head.appendChild(hr);
    rows.forEach(function (r) { body.appendChild(r); });
    t.appendChild(head);
    t.appendChild(body);
    return t;
  }
  function matches(words, text) {
    return words.every(function (w) { return text.indexOf(w) !== -1; });
  }
  function update() {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    var rows = [], total = 0;
    results.textContent = "";
    data.workflows.forEach(function (wf) {
      var section = document.getElementById("wf-" + wf.name);
      var name = wf.name.toLowerCase(), hits = 0;
      wf.dates.forEach(function (d) {
        if (words.length && matches(words, name + " " + d.reference_date + " " + d.state)) {
          hits += 1;
          total += 1;
          if (rows.length < LIMIT) { rows.push(row(wf, d)); }
        }
      });
      if (section) { section.hidden = words.length > 0 && hits === 0 && !matches(words, name); }
    });
    results.hidden = words.length === 0;
    if (words.length) {
      results.appendChild(el("p", total ? total + (total === 1 ? " date matches" : " dates match") +
        (total > rows.length ? " (the newest " + rows.length + " are listed)" : "") : "No workflow or date matches.",
        "muted"));
      if (total) { results.appendChild(table(rows)); }
    }
  }
  input.addEventListener("input", update);
  update();
})();

// envctl HTML report: the timeline and the full list of tests, drawn from the inline JSON blob.
// Every string of the blob comes from the test container: it only ever reaches the page through
// textContent or a canvas, never as markup.
(function () {
  "use strict";
  var blob = document.getElementById("envctl-data");
  if (!blob) return;
  var D = JSON.parse(blob.textContent);
  var N = D.n.length, ROW = 22;
  var NAMES = { p: "passed", f: "failed", e: "error", s: "skipped", x: "xfailed", X: "xpassed", "-": "?" };
  var COLORS = { p: "#1a7f37", f: "#cf222e", e: "#bc4c00", s: "#8c959f", x: "#8c959f", X: "#8250df", "-": "#8c959f" };
  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function secs(ms) { return ms < 0 ? "-" : (ms / 1000).toFixed(ms < 10000 ? 3 : 1); }
  function fileOf(i) { var n = D.n[i], at = n.indexOf("::"); return at < 0 ? n : n.slice(0, at); }
  function outcomeName(i) { return D.k.charAt(i) === "r" ? "flaky" : NAMES[D.o.charAt(i)] || "?"; }
  function p50(i) { var p = D.p.length ? D.p[i] : 0; return p ? p[0] : -1; }

  // ---- the list: filtered, sorted, drawn only where it is scrolled ----
  var view = new Int32Array(N), shown = N, sortKey = "", sortUp = true;
  for (var i = 0; i < N; i++) view[i] = i;
  var rows = $("rows"), spacer = $("spacer"), pool = [];
  ["filters", "head", "rows"].forEach(function (id) { $(id).hidden = false; });
  var shardSelect = $("qshard");
  D.shards.forEach(function (name, index) {
    var option = el("option", "", "shard " + name); option.value = String(index); shardSelect.appendChild(option);
  });
  if (!D.shards.length) shardSelect.hidden = true;

  function applyFilter() {
    var q = $("q").value.toLowerCase(), qf = $("qfile").value.toLowerCase();
    var qo = $("qout").value, qs = shardSelect.value === "" ? -2 : Number(shardSelect.value);
    var letter = { passed: "p", failed: "f", error: "e", skipped: "s", xfailed: "x", xpassed: "X" }[qo];
    var out = new Int32Array(N), n = 0;
    for (var i = 0; i < N; i++) {
      if (qo === "flaky" ? D.k.charAt(i) !== "r" : letter && D.o.charAt(i) !== letter) continue;
      if (qs !== -2 && D.sh[i] !== qs) continue;
      if (q && D.n[i].toLowerCase().indexOf(q) < 0) continue;
      if (qf && fileOf(i).toLowerCase().indexOf(qf) < 0) continue;
      out[n++] = i;
    }
    view = out; shown = n;
    applySort();
  }
  function keyOf(k) {
    if (k === "n") return function (i) { return D.n[i]; };
    if (k === "o") return function (i) { return "fexXsp-".indexOf(D.o.charAt(i)); };
    if (k === "d") return function (i) { return -D.d[i]; };
    if (k === "p") return function (i) { return -p50(i); };
    if (k === "l") return function (i) { return D.l[i]; };
    return function (i) { return D.s[i]; };
  }
  function applySort() {
    if (sortKey) {
      var key = keyOf(sortKey), part = Array.prototype.slice.call(view.subarray(0, shown));
      var keys = new Map(); part.forEach(function (i) { keys.set(i, key(i)); });
      part.sort(function (a, b) {
        var x = keys.get(a), y = keys.get(b), c = x < y ? -1 : x > y ? 1 : a - b;
        return sortUp ? c : -c;
      });
      view = Int32Array.from(part);
    }
    $("shown").textContent = shown + " of " + N + " tests";
    spacer.style.height = shown * ROW + "px";
    rows.scrollTop = 0;
    draw();
  }
  function cell(row, text, cls) { var span = el("span", cls, text); row.appendChild(span); return span; }
  function stripCell(row, i) {
    var span = el("span", "strip"), strip = D.h.length ? D.h[i] : "";
    for (var j = 0; j < strip.length; j++) {
      var c = strip.charAt(j), mark = el("i", "o-" + (c === "r" ? "flaky" : c === "-" ? "none" : NAMES[c] || "none"));
      mark.title = c === "r" ? "passed after a rerun" : NAMES[c] || "not run";
      span.appendChild(mark);
    }
    row.appendChild(span);
  }
  function draw() {
    var first = Math.max(0, Math.floor(rows.scrollTop / ROW) - 5);
    var last = Math.min(shown, first + Math.ceil(rows.clientHeight / ROW) + 10);
    pool.forEach(function (row) { row.remove(); });
    pool = [];
    for (var at = first; at < last; at++) {
      var i = view[at], row = el("div", "row");
      row.style.top = at * ROW + "px";
      row.dataset.index = String(i);
      cell(row, D.n[i], "name").title = D.n[i];
      cell(row, outcomeName(i), "o-" + outcomeName(i));
      cell(row, secs(D.d[i]));
      var p = D.p.length ? D.p[i] : 0;
      cell(row, p ? secs(p[0]) + " / " + secs(p[1]) : "-");
      stripCell(row, i);
      cell(row, D.lanes[D.l[i]] || "-");
      cell(row, secs(D.s[i]));
      rows.appendChild(row);
      pool.push(row);
    }
  }
  function showDetail(i) {
    var box = $("detail");
    box.textContent = "";
    box.appendChild(el("h3", "", D.n[i]));
    // A lane names its shard ("shard 1/2 · gw0"), but for the one past the cap ("12 more lanes").
    var lane = D.lanes[D.l[i]] || "", shard = D.sh[i] >= 0 ? "shard " + D.shards[D.sh[i]] : "";
    box.appendChild(el("p", "muted", outcomeName(i) + " in " + secs(D.d[i]) + "s" +
      (shard && lane.indexOf(shard + " ") !== 0 && lane !== shard ? " · " + shard : "") + (lane ? " · " + lane : "")));
    var key = String(i);
    if (Object.prototype.hasOwnProperty.call(D.m, key)) box.appendChild(el("pre", "", D.m[key]));
    if (Object.prototype.hasOwnProperty.call(D.f, key)) {
      var button = el("button", "", "Open the failure's traceback, output and log lines");
      button.addEventListener("click", function () { openFailure(D.f[key]); });
      box.appendChild(button);
    }
  }
  function openFailure(n) {
    var details = $("f" + n);
    if (!details) return;
    details.open = true;
    details.classList.add("hit");
    details.scrollIntoView({ block: "start" });
  }
  rows.addEventListener("scroll", function () { window.requestAnimationFrame(draw); });
  rows.addEventListener("click", function (event) {
    var row = event.target.closest(".row");
    if (row) showDetail(Number(row.dataset.index));
  });
  var pending = 0;
  function later() { window.clearTimeout(pending); pending = window.setTimeout(applyFilter, 80); }
  ["q", "qfile"].forEach(function (id) { $(id).addEventListener("input", later); });
  ["qout", "qshard"].forEach(function (id) { $(id).addEventListener("change", applyFilter); });
  Array.prototype.forEach.call(document.querySelectorAll("#head button"), function (button) {
    button.addEventListener("click", function () {
      var key = button.dataset.sort;
      sortUp = sortKey === key ? !sortUp : true;
      sortKey = key;
      Array.prototype.forEach.call(document.querySelectorAll("#head button"), function (b) {
        b.classList.toggle("on", b === button); b.classList.toggle("up", b === button && !sortUp);
      });
      applyFilter();
    });
  });

  // ---- the timeline: one lane per shard and worker, each test a bar from its start to its stop ----
  var lanes = document.querySelectorAll("#lanes .lane");
  var byLane = D.lanes.map(function () { return []; }), end = 1;
  for (var t = 0; t < N; t++) {
    if (D.s[t] < 0 || D.e[t] < 0) continue;
    byLane[D.l[t]].push(t);
    if (D.e[t] > end) end = D.e[t];
  }
  byLane.forEach(function (list) { list.sort(function (a, b) { return D.s[a] - D.s[b]; }); });
  function drawLanes() {
    Array.prototype.forEach.call(lanes, function (lane) {
      var canvas = lane.querySelector("canvas"), list = byLane[Number(lane.dataset.lane)] || [];
      var ratio = window.devicePixelRatio || 1, width = canvas.clientWidth * ratio;
      canvas.width = width; canvas.height = 18 * ratio;
      var g = canvas.getContext("2d"), scale = width / end, bad = [];
      list.forEach(function (i) {
        var c = D.o.charAt(i);
        if (c === "f" || c === "e") { bad.push(i); return; }
        g.fillStyle = D.k.charAt(i) === "r" ? "#8250df" : COLORS[c];
        g.fillRect(D.s[i] * scale, 2 * ratio, Math.max(1, (D.e[i] - D.s[i]) * scale - 0.5), 14 * ratio);
      });
      bad.forEach(function (i) {  // failures on top and at least 2 px wide: never lost among passes
        g.fillStyle = COLORS[D.o.charAt(i)];
        g.fillRect(D.s[i] * scale, 0, Math.max(2 * ratio, (D.e[i] - D.s[i]) * scale), 18 * ratio);
      });
    });
  }
  function hit(lane, x) {
    var list = byLane[Number(lane.dataset.lane)] || [], canvas = lane.querySelector("canvas");
    var ms = x / canvas.clientWidth * end, lo = 0, hi = list.length - 1, found = -1;
    while (lo <= hi) { var mid = (lo + hi) >> 1; if (D.s[list[mid]] <= ms) { found = mid; lo = mid + 1; } else hi = mid - 1; }
    var slack = 3 / canvas.clientWidth * end;
    for (var j = Math.max(0, found - 1); j <= Math.min(list.length - 1, found + 1); j++) {
      if (j >= 0 && D.s[list[j]] - slack <= ms && ms <= D.e[list[j]] + slack) return list[j];
    }
    return -1;
  }
  Array.prototype.forEach.call(lanes, function (lane) {
    var canvas = lane.querySelector("canvas");
    canvas.addEventListener("mousemove", function (event) {
      var i = hit(lane, event.offsetX);
      $("tip").textContent = i < 0 ? "" : D.n[i] + " · " + outcomeName(i) + " · " + secs(D.d[i]) + "s";
    });
    canvas.addEventListener("click", function (event) {
      var i = hit(lane, event.offsetX);
      if (i < 0) return;
      $("q").value = D.n[i];
      applyFilter();
      showDetail(i);
      $("tests").scrollIntoView({ block: "start" });
    });
  });
  if (lanes.length) {
    $("axis").textContent = "0 s … " + secs(end) + " s from the first test's start (hover a bar for its test)";
    drawLanes();
    window.addEventListener("resize", drawLanes);
  }
  applyFilter();
})();

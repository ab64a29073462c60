// The session page, kept up to date from the session's event stream (no reload, no
// dependencies). Served as a file so the page's Content-Security-Policy allows no inline
// script; every value is set as text, never as HTML.
(function () {
  "use strict";
  var root = document.getElementById("session");
  if (!root || !window.EventSource) { return; }
  var RESTED = ["succeeded", "failed", "cancelled", "timed_out"];
  var children = {};
  var logsBase = root.dataset.logs;
  var connection = document.getElementById("connection");

  function byId(id) { return document.getElementById(id); }
  function money(value) { return "$" + (Number(value) || 0).toFixed(2); }
  function safeLink(url) { return typeof url === "string" && /^https?:\/\//.test(url); }

  function badge(element, status) {
    element.textContent = status;
    element.className = "badge status-" + status;
  }

  function link(text, href) {
    var a = document.createElement("a");
    a.textContent = text;
    a.href = href;
    return a;
  }

  function row(child) {
    var tr = byId("child-" + child.id);
    if (tr) { return tr; }
    tr = document.createElement("tr");
    tr.id = "child-" + child.id;
    tr.dataset.child = child.id;
    var th = document.createElement("th");
    th.scope = "row";
    th.className = "component";
    th.dataset.label = "Component";
    tr.appendChild(th);
    [["Status", "status"], ["Phase", "phase"], ["Attempt", "attempt"], ["Tests", "tests"],
     ["Spent", "spent"], ["Links", "links"], ["Message", "message"]].forEach(function (pair) {
      var td = document.createElement("td");
      td.dataset.label = pair[0];
      if (pair[1] === "status") {
        var span = document.createElement("span");
        span.dataset.field = "status";
        td.appendChild(span);
      } else {
        td.dataset.field = pair[1];
      }
      tr.appendChild(td);
    });
    document.querySelector("#children tbody").appendChild(tr);
    return tr;
  }

  function field(tr, name) { return tr.querySelector('[data-field="' + name + '"]'); }

  function drawChild(child, quiet) {
    var before = children[child.id];
    children[child.id] = child;
    var tr = row(child);
    var live = child.live || {};
    var resting = RESTED.indexOf(child.status) >= 0;
    tr.querySelector(".component").textContent = child.component;
    badge(field(tr, "status"), child.status);
    field(tr, "phase").textContent = resting ? "" : (live.phase || "");
    field(tr, "attempt").textContent = (!resting && live.attempt && live.attempts)
      ? live.attempt + "/" + live.attempts : (child.attempts || "");
    var tests = child.tests || {};
    field(tr, "tests").textContent = resting ? (tests.passed || 0) + " passed, " +
      ((tests.failed || 0) + (tests.errors || 0)) + " failed" : "";
    field(tr, "spent").textContent = money((child.usage || {}).cost_usd);
    field(tr, "message").textContent = child.message || "";
    var links = field(tr, "links");
    links.textContent = "";
    links.appendChild(link("log", logsBase + encodeURIComponent(child.id) + "/log"));
    if (safeLink(child.run_url)) {
      links.appendChild(document.createTextNode(" · "));
      links.appendChild(link("job run", child.run_url));
    }
    if (!quiet && before && before.status !== child.status) {
      tr.classList.remove("changed");
      void tr.offsetWidth; // restart the highlight
      tr.classList.add("changed");
      byId("announce").textContent = child.component + ": " + child.status;
    }
  }

  function drawTotals() {
    var total = 0, succeeded = 0, failed = 0, running = 0, spent = 0;
    Object.keys(children).forEach(function (id) {
      var child = children[id];
      total += 1;
      spent += Number((child.usage || {}).cost_usd) || 0;
      if (child.status === "succeeded") { succeeded += 1; }
      else if (RESTED.indexOf(child.status) >= 0) { failed += 1; }
      else if (child.status === "running" || child.status === "dispatched") { running += 1; }
    });
    var bar = byId("bar");
    bar.max = total || 1;
    bar.value = succeeded + failed;
    byId("counts").textContent = (succeeded + failed) + " of " + total + " done · " +
      succeeded + " succeeded · " + failed + " failed · " + running + " running";
    byId("spent").textContent = money(spent);
  }

  function drawSession(session) {
    badge(byId("status"), session.status);
    var message = byId("message");
    message.textContent = session.message || "";
    message.hidden = !session.message;
    var pull = byId("pull-request");
    if (safeLink(session.pull_request_url)) {
      pull.textContent = "";
      pull.appendChild(link(session.pull_request_url, session.pull_request_url));
    }
    (session.children || []).forEach(function (child) { drawChild(child, true); });
    drawTotals();
  }

  var source = new EventSource(root.dataset.events);
  source.addEventListener("open", function () {
    connection.textContent = "live updates: connected";
  });
  source.addEventListener("session", function (event) {
    drawSession(JSON.parse(event.data));
  });
  source.addEventListener("child", function (event) {
    drawChild(JSON.parse(event.data), false);
    drawTotals();
  });
  source.addEventListener("end", function (event) {
    source.close();
    var status = JSON.parse(event.data).status;
    badge(byId("status"), status);
    connection.textContent = "live updates: finished (" + status + ")";
    byId("announce").textContent = "session " + status;
  });
  source.addEventListener("error", function () {
    if (source.readyState !== EventSource.CLOSED) {
      connection.textContent = "live updates: reconnecting…";
    }
  });
}());

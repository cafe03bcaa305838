// qksmtp status page: follows the server's changes (Server-Sent Events, polling as the
// fallback), re-renders from the JSON API; actions are POSTed with the token.
"use strict";
(function () {
  var token = document.querySelector('meta[name="qksmtp-token"]').content;
  var view = document.body.dataset.view;

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function two(n) { return (n < 10 ? "0" : "") + n; }
  // A time as the server writes it (UTC) is shown in the browser's local time, UTC on hover.
  function tm(t) {
    if (!t) return "";
    var utc = t.replace("T", " ");
    return '<time datetime="' + esc(t) + '" title="' + esc(utc.replace("Z", "")) + ' UTC">' + esc(utc) + "</time>";
  }
  function localize() {
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      el.textContent = d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " +
        two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
    });
  }
  function age(now, t) {
    var s = Math.max(0, (Date.parse(now) - Date.parse(t)) / 1000);
    if (s < 60) return Math.floor(s) + "s";
    if (s < 3600) return Math.floor(s / 60) + "m";
    if (s < 86400) return Math.floor(s / 3600) + "h";
    return Math.floor(s / 86400) + "d";
  }
  function size(n) {
    if (n < 1024) return String(n);
    if (n < 1048576) return (n / 1024).toFixed(1) + "K";
    return (n / 1048576).toFixed(1) + "M";
  }
  function card(m, now) {
    var h = '<div class="msg"><a href="/message/' + esc(m.id) + '">' + esc(m.subject || "(no subject)") +
      '</a> <span class="muted">from ' + esc(m.sender) + " · " + size(m.size) + " · " + age(now, m.arrival) +
      " ago · " + esc(m.id) + "</span>";
    if (m.held) h += ' <span class="st held">held</span>';
    h += "<ul>";
    m.recipients.forEach(function (r) {
      h += '<li><span class="st ' + esc(r.state) + '">' + esc(r.state) + "</span> " + esc(r.address) +
        ' <span class="why">' + esc(r.explanation) + "</span>";
      var until = r.waiting && (r.waiting.paused_until || r.waiting.throttled_until);
      if (until) h += ' <span class="when">until ' + tm(until) + "</span>";
      else if (r.state === "deferred" && r.next_try) h += ' <span class="when">next try ' + tm(r.next_try) + "</span>";
      h += "</li>";
    });
    return h + "</ul></div>\n";
  }
  // The last hour at a destination, as html.rs's chart() draws it, from the API's sparse
  // per_minute ({minutes: N, busy: [[minute, delivered, deferred, failed], ...]}).
  function chart(pm) {
    var minutes = [];
    for (var i = 0; i < ((pm && pm.minutes) || 0); i++) minutes.push([0, 0, 0]);
    ((pm && pm.busy) || []).forEach(function (b) { minutes[b[0]] = [b[1], b[2], b[3]]; });
    var most = 0, sums = [0, 0, 0];
    minutes.forEach(function (c) {
      most = Math.max(most, c[0] + c[1] + c[2]);
      for (var k = 0; k < 3; k++) sums[k] += c[k];
    });
    if (!most) return "";
    var w = minutes.length * 2;
    var h = '<svg class="chart" viewBox="0 0 ' + w + ' 20" width="' + w + '" height="20" role="img" aria-label="last hour: ' +
      sums[0] + " delivered, " + sums[1] + " deferred, " + sums[2] + ' failed">';
    minutes.forEach(function (c, x) {
      var y = 20;
      ["#3a3", "#e90", "#d33"].forEach(function (color, k) {
        var height = c[k] * 20 / most;
        if (height > 0) {
          y -= height;
          h += '<rect x="' + x * 2 + '" y="' + y.toFixed(1) + '" width="2" height="' + height.toFixed(1) + '" fill="' + color + '"/>';
        }
      });
    });
    return h + "</svg>";
  }
  // A destination, as html.rs's dest() draws it.
  function dest(d, now) {
    var h = '<div class="dest"><b>' + esc(d.name) + '</b> <span class="dst ' + esc(d.state) + '">' + esc(d.state) +
      "</span> connections " + d.connections + "/" + d.max_connections +
      " · run " + d.in_run + "/" + d.max_continuous + " · waiting " + d.ready;
    if (!d.held && d.paused_until && Date.parse(d.paused_until) > Date.parse(now)) h += " · until " + tm(d.paused_until);
    if (d.next_retry) h += " · next retry " + tm(d.next_retry);
    h += ' <button data-action="' + (d.held ? "resume-dest" : "pause-dest") + '" data-dest="' + esc(d.name) + '">' +
      (d.held ? "Resume" : "Pause") + "</button>";
    if (d.why) h += '<div class="why">' + esc(d.why) + "</div>";
    if (d.throttled) h += '<div class="err">throttled since ' + tm(d.throttled.since) + " (" + esc(d.throttled.reason) +
      "): next message " + tm(Date.parse(d.throttled.next_message) > Date.parse(now) ? d.throttled.next_message : now) + "</div>";
    if (d.last_error) h += '<div class="err">' + tm(d.last_error.at) + ": " + esc(d.last_error.error) + "</div>";
    return h + chart(d.per_minute) + "</div>\n";
  }
  // Whether the server is healthy, as html.rs's health() writes it.
  function health(h) {
    var out = '<span class="hl ' + (h.healthy ? "ok" : "bad") + '">' + (h.healthy ? "healthy" : "unhealthy") + "</span> ";
    out += h.spool.error ? '<span class="bad">spool not writable: ' + esc(h.spool.error) + "</span>" : "<span>spool writable</span>";
    if (!h.dns) out += " · <span>DNS: no lookup yet</span>";
    else out += " · <span" + (h.dns.answering ? "" : ' class="bad"') + ' title="' + esc(h.dns.detail) + '">' +
      (h.dns.answering ? "DNS answering" : "DNS not answering") + " (last lookup " + tm(h.dns.at) + ")</span>";
    out += h.last_delivery ? " · <span>last delivery " + tm(h.last_delivery) + "</span>" : " · <span>no delivery yet</span>";
    return out;
  }
  // The search is the page's own query (?q=&state=&dest=&page=), kept by the form and links.
  function searching() {
    var p = new URLSearchParams(location.search);
    return ["q", "state", "dest", "since", "before"].some(function (k) { return p.get(k); }) || Number(p.get("page") || 0) > 0;
  }
  function link(page) {
    var p = new URLSearchParams(location.search);
    p.set("page", String(page));
    return "/?" + p.toString();
  }
  function paging(ms) {
    var pages = Math.max(1, Math.ceil(ms.total / ms.per_page));
    var h = '<p class="paging"><span id="found">' + ms.total + "</span> message" + (ms.total === 1 ? "" : "s") +
      " · page " + (ms.page + 1) + " of " + pages;
    if (ms.page > 0) h += ' · <a rel="prev" href="' + esc(link(ms.page - 1)) + '">newer</a>';
    if (ms.page + 1 < pages) h += ' · <a rel="next" href="' + esc(link(ms.page + 1)) + '">older</a>';
    return h + "</p>\n";
  }
  function render(st, ms) {
    var c = st.counters, q = st.queue;
    var h = "";
    [["now", "in the queue now", [["waiting", q.queued], ["sending", q.sending], ["deferred", q.deferred], ["held", q.held]]],
     ["total", "since start", [["received", c.received], ["delivered", c.delivered], ["deferrals", c.deferred],
       ["bounced", c.bounced]]]].forEach(function (g) {
      h += '<section class="counters ' + g[0] + '"><h2>' + g[1] + "</h2>";
      g[2].forEach(function (p) { h += "<div><b>" + p[1] + "</b><span>" + p[0] + "</span></div>"; });
      h += "</section>\n";
    });
    h += "<h2>Destinations</h2>\n";
    if (!st.destinations.length) h += '<p class="muted">no destination busy</p>\n';
    st.destinations.forEach(function (d) { h += dest(d, st.now); });
    h += "<h2>Messages</h2>\n" + paging(ms);
    if (!ms.messages.length) {
      h += '<p class="muted">' + (searching() ? "no message matches" : "no messages yet") + "</p>\n";
    }
    ms.messages.forEach(function (m) { h += card(m, ms.now); });
    document.getElementById("live").innerHTML = h;
    document.getElementById("health").innerHTML = health(st.health);
    localize();
    var badge = document.getElementById("state");
    badge.textContent = st.state;
    badge.className = "badge " + st.state;
    document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
  }
  function get(url) {
    return fetch(url, { cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.json();
    });
  }
  // Reads the page's data again and re-renders (the message page reloads when a state changed).
  var acting = false;
  function load() {
    if (acting) return Promise.resolve();
    if (view === "overview") {
      return Promise.all([get("/api/status"), get("/api/messages" + (location.search || "?page=0"))])
        .then(function (v) { render(v[0], v[1]); });
    }
    if (view === "doctor") {
      // A check runs: show its report when it is done.
      if (document.getElementById("doctor").dataset.running !== "1") return Promise.resolve();
      return get("/api/doctor").then(function (d) { if (!d.running) location.reload(); });
    }
    if (view !== "message") return Promise.resolve();
    var main = document.getElementById("detail");
    return fetch("/api/messages/" + main.dataset.id, { cache: "no-store" }).then(function (r) {
      if (r.status === 404) { location.reload(); return; }
      return r.json().then(function (m) {
        var sig = m.recipients.map(function (r) { return r.state; }).join(",") + (m.held ? ",held" : "");
        if (sig !== main.dataset.sig) location.reload();
      });
    });
  }
  // One load at a time; changes that come meanwhile make one more.
  var loading = false, again = false;
  function refresh() {
    if (loading) { again = true; return; }
    loading = true;
    load().catch(function () {}).then(function () {
      loading = false;
      if (again) { again = false; refresh(); }
    });
  }
  // Live: the server pushes each change (Server-Sent Events); polling is the fallback while
  // the stream is down (the browser reconnects it with Last-Event-ID).
  var live = false;
  function poll() {
    if (!live) refresh();
    setTimeout(poll, 1500);
  }
  if (window.EventSource && (view === "overview" || view === "message")) {
    var events = new EventSource("/api/events");
    events.onopen = function () { live = true; document.body.dataset.live = "on"; refresh(); };
    events.onerror = function () { live = false; document.body.dataset.live = "off"; };
    events.addEventListener("change", function (e) {
      document.body.dataset.events = String(Number(document.body.dataset.events || 0) + 1);
      var main = document.getElementById("detail");
      var d = JSON.parse(e.data);
      if (main && d.message && d.message !== main.dataset.id) return;
      refresh();
    });
  }
  document.addEventListener("click", function (e) {
    var b = e.target.closest("button[data-action]");
    if (!b) return;
    var a = b.dataset.action;
    if (a === "delete" && !confirm("Delete this message?")) return;
    var url = a === "flush" ? "/api/flush" : a === "doctor" ? "/api/doctor" + location.search
      : b.dataset.dest ? "/api/destinations/" + b.dataset.dest + "/" + a.replace("-dest", "")
      : "/api/messages/" + b.dataset.id + "/" + a;
    acting = true; // the action's answer decides where the page goes
    fetch(url, { method: "POST", headers: { "X-Qksmtp-Token": token } }).then(function (r) {
      if (a === "delete" && r.ok) location.href = "/";
      else location.reload();
    });
  });
  // Bulk actions on every queued message the search finds (all pages): counted, confirmed,
  // then done on the messages that had arrived when counted (arrived_by).
  document.addEventListener("click", function (e) {
    var b = e.target.closest("button[data-bulk]");
    if (!b) return;
    var verb = b.dataset.bulk, p = new URLSearchParams(location.search);
    p.delete("page");
    ["q", "state", "dest"].forEach(function (k) { if (!p.get(k)) p.delete(k); });
    if (!p.toString()) p.set("all", "yes");
    var url = "/api/bulk/" + verb + "?";
    get(url + p).then(function (c) {
      if (!c.count) { alert("No queued message to " + verb + "."); return; }
      var ask = verb.charAt(0).toUpperCase() + verb.slice(1) + " " + c.count + " message(s)?";
      if (!confirm(verb === "delete" ? ask + " This cannot be undone." : ask)) return;
      p.set("arrived_by", c.arrived_by);
      acting = true;
      return fetch(url + p, { method: "POST", headers: { "X-Qksmtp-Token": token } })
        .then(function () { acting = false; location.reload(); });
    }).catch(function () { acting = false; });
  });
  localize();
  setTimeout(poll, 1500);
})();

// room.js: the control room's few scripts (runner/room/room_pages.c renders
// the pages; this only sends their buttons' changes to the API, with the
// session's CSRF token, and keeps the overview's counts and a task's state
// live through an event stream, or by polling where there is none).
"use strict";
(function () {
  const meta = document.querySelector("meta[name=csrf]");
  const csrf = meta ? meta.content : "";

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
    }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) throw new Error(j.error || r.statusText);
        return j;
      });
    });
  }

  function say(near, text, bad) {
    const box = (near.closest("div, td, p, form") || document).querySelector(".result") ||
      document.querySelector(".result");
    if (box) {
      box.textContent = text;
      box.className = "result " + (bad ? "bad" : "ok");
    }
  }

  document.addEventListener("click", function (e) {
    const b = e.target.closest("button[data-post]");
    if (b && !b.closest("form")) {
      if (b.dataset.confirm && !window.confirm(b.dataset.confirm)) return;
      b.disabled = true;
      post(b.dataset.post)
        .then(function () { say(b, "Done."); setTimeout(function () { location.reload(); }, 400); })
        .catch(function (err) { say(b, err.message, true); b.disabled = false; });
      return;
    }
    const g = e.target.closest("button[data-verify]");
    if (g) {
      // Verify now: started in the background (or already running: 409
      // answers its progress), then its progress until it ends.
      g.disabled = true;
      say(g, "Verifying…");
      const follow = function (j) {
        if (j.running) {
          say(g, "Verifying… " + j.checked + " of " + j.total + " rows checked (started by " +
            j.started_by + ")");
          setTimeout(function () {
            fetch(g.dataset.verify + "/progress", { credentials: "same-origin" })
              .then(function (r) { return r.json(); }).then(follow)
              .catch(function (err) { say(g, err.message, true); g.disabled = false; });
          }, 300);
          return;
        }
        g.disabled = false;
        const r = j.result || {};
        if (r.error) throw new Error(r.error);
        say(g, r.intact ? "Intact: " + r.rows + " rows, " + r.tasks + " tasks checked, head " +
          r.head.slice(0, 16) + "…" : r.problems + " problem(s): " + r.report, !r.intact);
      };
      fetch(g.dataset.verify, { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } })
        .then(function (r) { return r.json(); })
        .then(function (j) { if (j.error) throw new Error(j.error); follow(j); })
        .catch(function (err) { say(g, err.message, true); g.disabled = false; });
      return;
    }
    if (e.target.closest("button[data-print]")) { window.print(); return; }
    const all = e.target.closest("input.select-all");
    if (all) {
      all.closest("table").querySelectorAll("input.pick").forEach(function (c) { c.checked = all.checked; });
      return;
    }
    const bulk = e.target.closest("button.bulk-retry");
    if (bulk) {
      const list = document.getElementById("list-" + bulk.parentNode.dataset.table);
      const ids = Array.from(list.querySelectorAll("input.pick:checked")).map(function (c) { return Number(c.value); });
      if (!ids.length) { say(bulk, "Select tasks first.", true); return; }
      bulk.disabled = true;
      post("/api/v1/retry", { ids: ids })
        .then(function (j) { say(bulk, j.retried + " of " + ids.length + " retried."); setTimeout(function () { location.reload(); }, 600); })
        .catch(function (err) { say(bulk, err.message, true); bulk.disabled = false; });
    }
  });

  document.addEventListener("submit", function (e) {
    const f = e.target.closest("form[data-post]");
    if (!f) return;
    e.preventDefault();
    const body = {};
    new FormData(f).forEach(function (v, k) { body[k] = v; });
    post(f.dataset.post, body)
      .then(function () { say(f, "Done."); setTimeout(function () { location.reload(); }, 400); })
      .catch(function (err) { say(f, err.message, true); });
  });

  // Live updates: one event stream per page (GET /api/v1/events), which
  // sends the counts when they change and, on a task's page, its state.
  // Where the stream cannot be had (no EventSource, the server has too
  // many open, a proxy that cuts it), the page polls every 5 seconds.
  const live = document.querySelector("table.live");
  const watched = document.getElementById("task-state");
  const updated = function (how) {
    const u = document.getElementById("updated");
    if (u) u.textContent = "Last update " + new Date().toLocaleTimeString() + " (" + how + ").";
  };
  const showStatus = function (j) {
    if (!live) return;
    const rows = j.scripts.concat([Object.assign({ script: "*" }, j.total)]);
    rows.forEach(function (s) {
      live.querySelectorAll("td[data-script]").forEach(function (td) {
        if (td.dataset.script !== s.script || !(td.dataset.col in s)) return;
        const a = td.querySelector("a");
        (a || td).textContent = String(s[td.dataset.col]);
      });
    });
    document.querySelectorAll("[data-total]").forEach(function (el) {
      if (el.dataset.total in j.total) el.textContent = String(j.total[el.dataset.total]);
    });
  };
  const showTask = function (t) {
    if (!watched) return;
    const badge = watched.querySelector(".state");
    if (badge.textContent === t.state) return;
    badge.textContent = t.state;
    badge.className = "state " + t.state;
    const note = document.getElementById("task-changed");
    if (note) note.hidden = false;
  };
  let polling = null;
  const poll = function () {
    if (polling) return;
    const once = function () {
      if (live) {
        fetch("/api/v1/status", { credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (j) { showStatus(j); updated("polled"); })
          .catch(function () {});
      }
      if (watched) {
        fetch("/api/v1/tasks/" + watched.dataset.task, { credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (j) { if (j.task) showTask(j.task); })
          .catch(function () {});
      }
    };
    polling = setInterval(once, 5000);
    document.documentElement.dataset.live = "polling";
  };
  if (live || watched) {
    if (!window.EventSource) {
      poll();
    } else {
      const es = new EventSource("/api/v1/events" + (watched ? "?task=" + watched.dataset.task : ""));
      es.addEventListener("open", function () { document.documentElement.dataset.live = "events"; });
      es.addEventListener("status", function (e) { showStatus(JSON.parse(e.data)); updated("live"); });
      es.addEventListener("task", function (e) { showTask(JSON.parse(e.data)); updated("live"); });
      es.addEventListener("bye", function () { es.close(); document.documentElement.dataset.live = "closed"; });
      es.addEventListener("error", function () {
        // Closed for good (a refusal such as 503): poll. A dropped
        // connection is retried by the browser itself.
        if (es.readyState === EventSource.CLOSED && document.documentElement.dataset.live !== "closed") poll();
      });
    }
  }
})();

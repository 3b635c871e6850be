// room.js: the control room's few scripts (runner/room/room_pages.c renders
// the pages; this only sends their buttons' changes to the API, with the
// session's CSRF token, and keeps the overview's counts live).
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
    const g = e.target.closest("button[data-get]");
    if (g) {
      g.disabled = true;
      say(g, "Verifying…");
      fetch(g.dataset.get, { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (j) {
          if (j.error) throw new Error(j.error);
          say(g, j.intact ? "Intact: " + j.rows + " rows, " + j.tasks + " tasks checked, head " +
            j.head.slice(0, 16) + "…" : j.problems + " problem(s): " + j.report, !j.intact);
        })
        .catch(function (err) { say(g, err.message, true); })
        .finally(function () { g.disabled = false; });
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

  // The overview: counts every 5 seconds, without reloading.
  const live = document.querySelector("table.live");
  if (live) {
    const refresh = function () {
      fetch("/api/v1/status", { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (j) {
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
          const u = document.getElementById("updated");
          if (u) u.textContent = "Last update " + new Date().toLocaleTimeString() + ".";
        })
        .catch(function () {});
    };
    setInterval(refresh, 5000);
  }
})();

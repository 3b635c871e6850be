/*
 * room_pages.c: the control room's pages, rendered on the server from the
 * same reads as the API (room_api.c), with a little plain JavaScript
 * (assets/room.js) for the buttons, which call the API with the session's
 * CSRF token, and for live updates (an event stream, room_live.c, or short
 * polling where there is none). Every
 * asset is compiled into the module: no CDN, it works on a closed network.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "logs/audit/audit.h"
#include "logs/report/report.h"
#include "runner/work/schedule.h"
#include "runner/room/roomint.h"

extern const struct {
    const char *name;
    const unsigned char *data;
    size_t len;
} drudge_room_assets[];

/* ---- the frame of every page ---- */

static void page_start(room_req *q, const char *title, const char *nav)
{
    drudge_buf *b = &q->out;
    q->type = "text/html; charset=utf-8";
    drudge_buf_puts(b, "<!doctype html><html lang=en><head><meta charset=utf-8>"
                       "<meta name=viewport content=\"width=device-width, initial-scale=1\">"
                       "<title>");
    room_html(b, title);
    drudge_buf_puts(b, " · drudge</title><link rel=stylesheet href=/assets/room.css>");
    if (q->by_session && q->key.csrf)
        drudge_buf_printf(b, "<meta name=csrf content=\"%s\">", q->key.csrf);
    drudge_buf_puts(b, "<script src=/assets/room.js defer></script></head><body>");
    if (q->user.name) {
        static const struct {
            const char *href, *label;
            int perms;
        } links[] = {
            {"/", "Overview", ROOM_SEE},
            {"/tasks", "Tasks", ROOM_SEE},
            {"/exceptions", "Exceptions", ROOM_DATA},
            {"/schedules", "Schedules", ROOM_SEE},
            {"/scripts", "Scripts", ROOM_SEE},
            {"/report", "Time saved", ROOM_SEE},
            {"/audit", "Audit", ROOM_FULL},
            {"/account", "Account", ROOM_SEE},
        };
        drudge_buf_puts(b, "<header><span class=brand>drudge</span><nav>");
        for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
            if (!(q->perms & links[i].perms))
                continue;
            drudge_buf_printf(b, "<a href=\"%s\"%s>%s</a>", links[i].href,
                              !strcmp(nav, links[i].href) ? " class=here" : "", links[i].label);
        }
        drudge_buf_puts(b, "</nav><form method=post action=/logout class=who><span>");
        room_html(b, q->user.name);
        drudge_buf_printf(b,
                          " (%s)</span><input type=hidden name=csrf value=\"%s\">"
                          "<button>Log out</button></form></header>",
                          q->user.role, q->key.csrf ? q->key.csrf : "");
    }
    drudge_buf_puts(b, "<main><h1>");
    room_html(b, title);
    drudge_buf_puts(b, "</h1>");
}

static void page_end(room_req *q)
{
    drudge_buf_puts(&q->out, "</main></body></html>\n");
}

static void page_error(room_req *q, const drudge_err *err)
{
    drudge_buf_reset(&q->out);
    q->status = room_status_for(err->code);
    page_start(q, "Something went wrong", "");
    drudge_buf_puts(&q->out, "<p class=error>");
    room_html(&q->out, err->msg);
    drudge_buf_puts(&q->out, "</p>");
    page_end(q);
}

void room_page_refused(room_req *q, const char *why)
{
    drudge_buf_reset(&q->out);
    q->status = 403;
    page_start(q, "Not allowed", "");
    drudge_buf_puts(&q->out, "<p class=error>");
    room_html(&q->out, why);
    drudge_buf_puts(&q->out, ".</p><p><a href=/>Back to the overview</a></p>");
    page_end(q);
}

/* ---- assets and login ---- */

static void page_asset(room_req *q)
{
    for (int i = 0; drudge_room_assets[i].name; i++) {
        if (!q->arg || strcmp(drudge_room_assets[i].name, q->arg))
            continue;
        drudge_buf_add(&q->out, drudge_room_assets[i].data, drudge_room_assets[i].len);
        const char *dot = strrchr(q->arg, '.');
        q->type = !dot                    ? "application/octet-stream"
                  : !strcmp(dot, ".css")  ? "text/css"
                  : !strcmp(dot, ".js")   ? "text/javascript"
                  : !strcmp(dot, ".json") ? "application/json"
                  : !strcmp(dot, ".svg")  ? "image/svg+xml"
                                          : "application/octet-stream";
        return;
    }
    room_json_error(q, 404, "no asset named %s", q->arg ? q->arg : "");
}

static void page_login(room_req *q)
{
    char failed[8], token[65];
    if (room_auth_login_token(q, token)) {
        drudge_err err = {0};
        drudge_seterr(&err, DRUDGE_EIO, "cannot read random bytes for the login form");
        return page_error(q, &err);
    }
    page_start(q, "Log in", "");
    drudge_buf *b = &q->out;
    if (!room_query(q, "failed", failed, sizeof failed))
        drudge_buf_puts(b, "<p class=error id=login-failed>Wrong user name or password.</p>");
    drudge_buf_printf(b,
                      "<form method=post action=/login class=login>"
                      "<input type=hidden name=csrf value=\"%s\">",
                      token);
    drudge_buf_puts(b, ""
                       "<label>User <input name=user id=user autocomplete=username required "
                       "autofocus></label>"
                       "<label>Password <input name=password id=password type=password "
                       "autocomplete=current-password required></label>"
                       "<button id=login>Log in</button></form>");
    page_end(q);
}

static void do_login(room_req *q)
{
    room_auth_login(q);
}

static void do_logout(room_req *q)
{
    room_auth_logout(q);
}

/* ---- the overview ---- */

/* A bar chart of attempts done (and, stacked, failed) per bucket, as
 * inline SVG: no script, no library. */
static void bar_chart(drudge_buf *b, const char *id, const char *title, const int64_t *done,
                      const int64_t *failed, int nb, const char *left, const char *right)
{
    const double W = 600, H = 140, pad = 20;
    int64_t max = 1, sum_d = 0, sum_f = 0;
    for (int i = 0; i < nb; i++) {
        sum_d += done[i];
        sum_f += failed[i];
        if (done[i] + failed[i] > max)
            max = done[i] + failed[i];
    }
    double bw = (W - 2 * pad) / nb;
    drudge_buf_printf(b, "<figure class=chart><figcaption>%s: ", title);
    if (sum_d + sum_f)
        drudge_buf_printf(b, "<span class=sum>%lld done, %lld failed</span> (%.1f%% failure rate)",
                          (long long)sum_d, (long long)sum_f,
                          sum_d + sum_f ? 100.0 * (double)sum_f / (double)(sum_d + sum_f) : 0.0);
    else
        drudge_buf_puts(b, "no attempts ended");
    drudge_buf_printf(b,
                      "</figcaption><svg id=\"%s\" viewBox=\"0 0 %.0f %.0f\" role=img "
                      "aria-label=\"%s\"><line x1=%.0f y1=%.0f x2=%.0f y2=%.0f class=axis />",
                      id, W, H + 16, title, pad, H, W - pad, H);
    for (int i = 0; i < nb; i++) {
        double hd = (H - 10) * (double)done[i] / (double)max;
        double hf = (H - 10) * (double)failed[i] / (double)max;
        double x = pad + i * bw;
        if (done[i])
            drudge_buf_printf(b,
                              "<rect class=done x=%.1f y=%.1f width=%.1f height=%.1f>"
                              "<title>%lld done</title></rect>",
                              x, H - hd, bw * 0.8, hd, (long long)done[i]);
        if (failed[i])
            drudge_buf_printf(b,
                              "<rect class=failed x=%.1f y=%.1f width=%.1f height=%.1f>"
                              "<title>%lld failed</title></rect>",
                              x, H - hd - hf, bw * 0.8, hf, (long long)failed[i]);
    }
    drudge_buf_printf(b,
                      "<text x=%.0f y=%.0f>%s</text><text x=%.0f y=%.0f "
                      "text-anchor=end>%s</text><text x=%.0f y=12 text-anchor=end>%lld</text>"
                      "</svg></figure>",
                      pad, H + 14, left, W - pad, H + 14, right, W - pad, (long long)max);
}

static void age_text(int64_t us, char *out, size_t n)
{
    long long s = us / 1000000;
    if (s < 60)
        snprintf(out, n, "%llds", s);
    else if (s < 3600)
        snprintf(out, n, "%lldm %02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, n, "%lldh %02lldm", s / 3600, s / 60 % 60);
    else
        snprintf(out, n, "%lldd %02lldh", s / 86400, s / 3600 % 24);
}

static void count_cell(drudge_buf *b, const char *script, const char *col, int64_t v,
                       const char *link_state)
{
    drudge_buf_puts(b, "<td class=num data-script=\"");
    room_html(b, script ? script : "*");
    drudge_buf_printf(b, "\" data-col=%s>", col);
    if (link_state && v) {
        drudge_buf_printf(b, "<a href=\"/tasks?state=%s", link_state);
        if (script) {
            drudge_buf_puts(b, "&amp;script=");
            room_html(b, script);
        }
        drudge_buf_printf(b, "\">%lld</a></td>", (long long)v);
    } else {
        drudge_buf_printf(b, "%lld</td>", (long long)v);
    }
}

static void counts_row(room_req *q, const drudge_script_counts *c, int64_t now)
{
    drudge_buf *b = &q->out;
    const char *name = c->script;
    drudge_buf_puts(b, name ? "<tr><th scope=row>" : "<tr class=total><th scope=row>");
    room_html(b, name ? name : "All scripts");
    if (c->paused) {
        drudge_buf_puts(b, " <span class=badge title=\"");
        room_html(b, c->pause_reason ? c->pause_reason : "paused by an operator");
        drudge_buf_puts(b, "\">paused</span>");
    }
    drudge_buf_puts(b, "</th>");
    for (int i = 0; i < DRUDGE_NSTATES; i++)
        count_cell(b, name, drudge_task_states[i], c->count[i], drudge_task_states[i]);
    count_cell(b, name, "unresolved", c->unresolved, NULL);
    char age[32] = "–";
    if (c->oldest_queued_us)
        age_text(now - c->oldest_queued_us, age, sizeof age);
    drudge_buf_printf(b, "<td class=num>%s</td><td>", age);
    if (name && (q->perms & ROOM_ACT)) {
        drudge_buf_printf(b, "<button data-post=\"/api/v1/scripts/");
        room_html(b, name);
        drudge_buf_printf(b, "/%s\">%s</button>", c->paused ? "resume" : "pause",
                          c->paused ? "Resume" : "Pause");
    }
    drudge_buf_puts(b, "</td></tr>");
}

static void deadline_cells(drudge_buf *b, const drudge_deadline_counts *c)
{
    drudge_buf_printf(
        b,
        "<td class=num>%lld</td><td class=num>%lld</td><td class=\"num%s\">%lld</td>"
        "<td class=\"num%s\">%lld</td><td class=num>%lld</td>"
        "<td class=num>%lld</td><td class=num>%lld</td></tr>",
        (long long)c->met, (long long)c->pending, c->at_risk ? " warn" : "", (long long)c->at_risk,
        c->missed ? " bad" : "", (long long)c->missed, (long long)c->missed_by[DRUDGE_WHY_OUTAGE],
        (long long)c->missed_by[DRUDGE_WHY_FAILURE], (long long)c->missed_by[DRUDGE_WHY_QUEUE]);
}

/* Tasks with a deadline from 24 hours ago on, per script: at risk and
 * missed, and why (README, "Deadlines"). Nothing when there are none. */
static void deadlines_table(drudge_buf *b, const drudge_deadline_summary *d)
{
    if (!d->all.total)
        return;
    drudge_buf_puts(b, "<h2>Deadlines</h2><table id=deadlines><thead><tr><th>Script</th>"
                       "<th class=num>met</th><th class=num>pending</th><th class=num>at "
                       "risk</th><th class=num>missed</th><th class=num>missed: outage</th>"
                       "<th class=num>failure</th><th class=num>queue</th></tr></thead><tbody>");
    for (size_t i = 0; i < d->nscripts; i++) {
        drudge_buf_puts(b, "<tr><td>");
        room_html(b, d->scripts[i].script);
        drudge_buf_puts(b, "</td>");
        deadline_cells(b, &d->scripts[i]);
    }
    drudge_buf_puts(b, "<tr class=total><td>total</td>");
    deadline_cells(b, &d->all);
    drudge_buf_puts(b, "</tbody></table><p class=note>Deadlines from 24 hours ago on; at risk: "
                       "due within the hour, or an exception waiting for a person.");
    if (*d->outage_targets) {
        drudge_buf_puts(b, " Missed during outages of ");
        room_html(b, d->outage_targets);
        drudge_buf_puts(b, ".");
    }
    drudge_buf_puts(b, "</p>");
}

static void page_overview(room_req *q)
{
    drudge_queue_stats st = {0};
    drudge_err err = {0};
    int64_t now = drudge_now_us();
    int64_t hd[60], hf[60], dd[24], df[24];
    drudge_deadline_summary dl = {0};
    room_lock(q);
    drudge_code rc = drudge_store_status(q->r->s, now, &st, &err);
    /* Deadlines from 24 hours ago on, as `drudge status` counts them. */
    if (!rc)
        rc = drudge_deadline_summarize(q->r->s, now, now - 24 * 3600 * (int64_t)1000000, 0, &dl,
                                       &err);
    room_unlock(q);
    if (!rc)
        rc = room_throughput(q->r, now, 60 * (int64_t)1000000, 60, hd, hf, &err);
    if (!rc)
        rc = room_throughput(q->r, now, 3600 * (int64_t)1000000, 24, dd, df, &err);
    if (rc) {
        drudge_deadline_summary_clear(&dl);
        drudge_queue_stats_clear(&st);
        return page_error(q, &err);
    }
    page_start(q, "Overview", "/");
    drudge_buf *b = &q->out;
    drudge_buf_printf(b,
                      "<section class=cards id=cards>"
                      "<div><b data-total=queued>%lld</b> queued</div>"
                      "<div><b data-total=running>%lld</b> running</div>"
                      "<div><b data-total=done>%lld</b> done</div>"
                      "<div class=bad><b data-total=failed>%lld</b> failed</div>"
                      "<div class=bad><b data-total=dead>%lld</b> dead</div>"
                      "<div class=warn><b data-total=unresolved>%lld</b> open exceptions</div>",
                      (long long)st.total.count[0], (long long)st.total.count[1],
                      (long long)st.total.count[2], (long long)st.total.count[3],
                      (long long)st.total.count[4], (long long)st.total.unresolved);
    char age[32] = "–";
    if (st.total.oldest_queued_us)
        age_text(now - st.total.oldest_queued_us, age, sizeof age);
    drudge_buf_printf(b, "<div><b data-total=oldest>%s</b> oldest queued</div></section>", age);
    int paused = 0;
    for (size_t i = 0; i < st.nscripts; i++)
        paused += st.scripts[i].paused;
    if (paused) {
        drudge_buf_puts(b, "<p class=warn id=paused>Paused: ");
        for (size_t i = 0, k = 0; i < st.nscripts; i++)
            if (st.scripts[i].paused) {
                drudge_buf_puts(b, k++ ? ", " : "");
                room_html(b, st.scripts[i].script);
            }
        drudge_buf_puts(b, "</p>");
    }
    drudge_buf_puts(b, "<div class=charts>");
    bar_chart(b, "chart-hour", "Last hour, per minute", hd, hf, 60, "-60 min", "now");
    bar_chart(b, "chart-day", "Last day, per hour", dd, df, 24, "-24 h", "now");
    drudge_buf_puts(b, "</div><h2>By script</h2><table id=by-script class=live><thead><tr>"
                       "<th>Script</th>");
    for (int i = 0; i < DRUDGE_NSTATES; i++)
        drudge_buf_printf(b, "<th class=num>%s</th>", drudge_task_states[i]);
    drudge_buf_puts(b, "<th class=num>open exceptions</th><th class=num>oldest queued</th>"
                       "<th></th></tr></thead><tbody>");
    for (size_t i = 0; i < st.nscripts; i++)
        counts_row(q, &st.scripts[i], now);
    counts_row(q, &st.total, now);
    drudge_buf_puts(b, "</tbody></table><p class=note>The counts update live as they change. "
                       "<span id=updated></span></p>");
    deadlines_table(b, &dl);
    drudge_deadline_summary_clear(&dl);
    drudge_queue_stats_clear(&st);
    page_end(q);
}

/* ---- tasks ---- */

static void state_badge(drudge_buf *b, const char *state)
{
    drudge_buf_printf(b, "<span class=\"state %s\">%s</span>", state, state);
}

static void time_cell(drudge_buf *b, int64_t t)
{
    char ts[32];
    room_fmt_time(t, ts);
    drudge_buf_printf(b, "<td class=time>%s</td>", ts);
}

/* A task's deadline and whether it is met (logs/report/deadline.h):
 * "2026-12-09 17:00:00 <badge>missed (outage of cms)</badge>". The
 * store's lock is held. */
static void deadline_text(room_req *q, const drudge_task_row *t, drudge_buf *b)
{
    drudge_deadline_status st;
    drudge_deadline_why why;
    char ts[32], target[128];
    if (!t->deadline)
        return;
    room_fmt_time(t->deadline, ts);
    drudge_buf_puts(b, ts);
    if (!drudge_deadline_of_task(q->r->s, t, drudge_now_us(), &st, &why, target, sizeof target))
        return;
    const char *name = drudge_deadline_status_name(st);
    drudge_buf_printf(b, " <span class=\"badge deadline %s\">%s", name,
                      st == DRUDGE_DL_AT_RISK ? "at risk" : name);
    if (why == DRUDGE_WHY_OUTAGE && *target) {
        drudge_buf_puts(b, " (outage of ");
        room_html(b, target);
        drudge_buf_puts(b, ")");
    } else if (why) {
        drudge_buf_printf(b, " (%s)", drudge_deadline_why_names[why]);
    }
    drudge_buf_puts(b, "</span>");
}

static void deadline_cell(room_req *q, const drudge_task_row *t)
{
    drudge_buf_puts(&q->out, "<td class=deadline>");
    deadline_text(q, t, &q->out);
    drudge_buf_puts(&q->out, "</td>");
}

/* A task list's table; with select, a checkbox per row (bulk retry). */
static void tasks_table(room_req *q, const drudge_task_row *rows, size_t n, int select)
{
    drudge_buf *b = &q->out;
    int data = (q->perms & ROOM_DATA) != 0;
    drudge_buf_puts(b, "<table class=tasks><thead><tr>");
    if (select)
        drudge_buf_puts(b, "<th><input type=checkbox class=select-all title=\"select all\"></th>");
    drudge_buf_puts(b, "<th class=num>Task</th><th>Script</th><th>State</th>");
    if (data)
        drudge_buf_puts(b, "<th>Key</th><th>Error</th>");
    drudge_buf_puts(b, "<th class=num>Attempts</th><th>Created (UTC)</th><th>Finished "
                       "(UTC)</th><th>Deadline (UTC)</th></tr></thead><tbody>");
    for (size_t i = 0; i < n; i++) {
        const drudge_task_row *t = &rows[i];
        drudge_buf_puts(b, "<tr>");
        if (select)
            drudge_buf_printf(b, "<td><input type=checkbox class=pick value=%lld></td>",
                              (long long)t->id);
        drudge_buf_printf(b, "<td class=num><a href=\"/tasks/%lld\">#%lld</a></td><td>",
                          (long long)t->id, (long long)t->id);
        room_html(b, t->script);
        drudge_buf_puts(b, "</td><td>");
        state_badge(b, t->state);
        if (t->resolved_at)
            drudge_buf_puts(b, " <span class=badge>resolved</span>");
        drudge_buf_puts(b, "</td>");
        if (data) {
            char *k = room_seen(q, t->key), *e = room_seen(q, t->error);
            drudge_buf_puts(b, "<td class=key>");
            room_html(b, k);
            drudge_buf_puts(b, "</td><td class=err>");
            if (e && strlen(e) > 120)
                e[120] = '\0';
            room_html(b, e);
            drudge_buf_puts(b, "</td>");
            free(k);
            free(e);
        }
        drudge_buf_printf(b, "<td class=num>%d/%d</td>", t->attempts, t->max_attempts);
        time_cell(b, t->created_at);
        time_cell(b, t->finished_at);
        deadline_cell(q, t);
        drudge_buf_puts(b, "</tr>");
    }
    if (!n)
        drudge_buf_printf(b, "<tr><td colspan=10 class=note>No tasks.</td></tr>");
    drudge_buf_puts(b, "</tbody></table>");
}

static void filter_input(drudge_buf *b, const char *label, const char *name, const char *v,
                         const char *ph)
{
    drudge_buf_printf(b, "<label>%s <input name=%s value=\"", label, name);
    room_html(b, v);
    drudge_buf_printf(b, "\" placeholder=\"%s\"></label>", ph);
}

static void page_tasks(room_req *q)
{
    drudge_task_filter f;
    char state[16] = "", script[128] = "", key[256] = "", since[64] = "", until[64] = "";
    drudge_task_row *rows = NULL;
    size_t n = 0;
    drudge_err err = {0};
    if (room_task_filter(q, &f, state, script, key))
        return;
    room_query(q, "since", since, sizeof since);
    room_query(q, "until", until, sizeof until);
    room_lock(q);
    drudge_code rc = drudge_store_list(q->r->s, &f, &rows, &n, &err);
    if (rc) {
        room_unlock(q);
        return page_error(q, &err);
    }
    page_start(q, "Tasks", "/tasks");
    drudge_buf *b = &q->out;
    drudge_buf_puts(b, "<form class=filters method=get action=/tasks><label>State <select "
                       "name=state><option value=\"\">any</option>");
    for (int i = 0; i < DRUDGE_NSTATES; i++)
        drudge_buf_printf(b, "<option%s>%s</option>",
                          f.state && !strcmp(f.state, drudge_task_states[i]) ? " selected" : "",
                          drudge_task_states[i]);
    drudge_buf_puts(b, "</select></label>");
    filter_input(b, "Script", "script", f.script ? script : "", "any");
    if (q->perms & ROOM_DATA)
        filter_input(b, "Key", "key", f.key ? key : "", "exact key");
    filter_input(b, "Since", "since", since, "2026-11-23 or -2h");
    filter_input(b, "Until", "until", until, "2026-11-24");
    drudge_buf_puts(b, "<button>Filter</button></form>");
    tasks_table(q, rows, n, 0);
    room_unlock(q);
    if (n == (size_t)f.limit) {
        drudge_buf_printf(b, "<p class=pager><a id=older href=\"/tasks?before=%lld",
                          (long long)rows[n - 1].id);
        const char *keep[][2] = {{"state", f.state ? state : NULL},
                                 {"script", f.script ? script : NULL},
                                 {"key", f.key ? key : NULL},
                                 {"since", *since ? since : NULL},
                                 {"until", *until ? until : NULL}};
        for (size_t i = 0; i < 5; i++)
            if (keep[i][1]) {
                drudge_buf_printf(b, "&amp;%s=", keep[i][0]);
                for (const unsigned char *p = (const unsigned char *)keep[i][1]; *p; p++)
                    if (isalnum(*p) || strchr("-_.~", *p))
                        drudge_buf_add(b, p, 1);
                    else
                        drudge_buf_printf(b, "%%%02X", *p);
            }
        drudge_buf_puts(b, "\">Older tasks →</a></p>");
    }
    drudge_task_rows_free(rows, n);
    page_end(q);
}

/* ---- one task ---- */

typedef struct tree {
    room_req *q;
    drudge_step_row *rows; /* copies of what the page shows */
    size_t n, cap;
} tree;

static int collect_step(void *ud, const drudge_step_row *r)
{
    tree *t = ud;
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 32;
        t->rows = drudge_xrealloc(t->rows, t->cap * sizeof *t->rows);
    }
    drudge_step_row *c = &t->rows[t->n++];
    memset(c, 0, sizeof *c);
    c->id = r->id;
    c->attempt = r->attempt;
    drudge_step_copy(&c->step, &r->step);
    return 0;
}

typedef struct shots {
    room_req *q;
    drudge_buf *b;
} shots;

/* Evidence an auditor sees inline: each image a step refers to. */
static void shot(void *ud, const char *sha)
{
    shots *s = ud;
    drudge_payload_row p = {0};
    drudge_err err = {0};
    if (drudge_store_payload(s->q->r->s, sha, 0, &p, &err))
        return;
    if (p.content_type && !strncmp(p.content_type, "image/", 6) && !p.pruned_at)
        drudge_buf_printf(s->b,
                          "<a href=\"/api/v1/payloads/%s\"><img class=shot "
                          "src=\"/api/v1/payloads/%s\" alt=\"evidence %.12s\"></a>",
                          sha, sha, sha);
    drudge_payload_row_clear(&p);
}

static void step_li(room_req *q, tree *t, size_t i)
{
    drudge_buf *b = &q->out;
    const drudge_step *s = &t->rows[i].step;
    char *name = room_seen(q, s->name), *error = room_seen(q, s->error);
    drudge_buf_printf(b, "<li><span class=\"outcome %s\">%s</span> <b>",
                      s->outcome ? s->outcome : "open", s->outcome ? s->outcome : "open");
    room_html(b, s->kind);
    drudge_buf_puts(b, "</b> ");
    room_html(b, name);
    if (s->duration_us >= 0)
        drudge_buf_printf(b, " <span class=dur>%.3f s</span>", (double)s->duration_us / 1e6);
    if (error) {
        drudge_buf_puts(b, "<div class=err>");
        room_html(b, error);
        drudge_buf_puts(b, "</div>");
    }
    if (q->perms & ROOM_FULL) {
        shots sh = {q, b};
        drudge_audit_payload_refs(s->request, shot, &sh);
        drudge_audit_payload_refs(s->response, shot, &sh);
    }
    free(name);
    free(error);
    /* children: same attempt, parent = this seq */
    int open = 0;
    for (size_t k = 0; k < t->n; k++)
        if (t->rows[k].attempt == t->rows[i].attempt && t->rows[k].step.parent == s->seq &&
            t->rows[k].step.seq != s->seq) {
            if (!open++)
                drudge_buf_puts(b, "<ul>");
            step_li(q, t, k);
        }
    if (open)
        drudge_buf_puts(b, "</ul>");
    drudge_buf_puts(b, "</li>");
}

static void json_block(room_req *q, const char *title, const char *json)
{
    char *v = room_seen(q, json);
    drudge_buf_printf(&q->out, "<h3>%s</h3><pre class=json>", title);
    room_html(&q->out, v ? v : "null");
    drudge_buf_puts(&q->out, "</pre>");
    free(v);
}

static void dl_item(drudge_buf *b, const char *dt, const char *dd)
{
    drudge_buf_printf(b, "<dt>%s</dt><dd>", dt);
    room_html(b, dd ? dd : "–");
    drudge_buf_puts(b, "</dd>");
}

static void task_actions(room_req *q, const drudge_task_row *t)
{
    drudge_buf *b = &q->out;
    long long id = (long long)t->id;
    int exception = !strcmp(t->state, "failed") || !strcmp(t->state, "dead");
    drudge_buf_puts(b, "<div class=actions>");
    if (exception || !strcmp(t->state, "cancelled"))
        drudge_buf_printf(b,
                          "<button id=retry data-post=\"/api/v1/tasks/%lld/retry\">Retry"
                          "</button>",
                          id);
    if (!strcmp(t->state, "queued") || !strcmp(t->state, "running"))
        drudge_buf_printf(b,
                          "<button id=cancel data-post=\"/api/v1/tasks/%lld/cancel\" "
                          "data-confirm=\"Cancel task #%lld?\">Cancel</button>",
                          id, id);
    if (exception && !t->resolved_at)
        drudge_buf_printf(b,
                          "<form class=resolve data-post=\"/api/v1/tasks/%lld/resolve\">"
                          "<input name=note required placeholder=\"what was done by hand\">"
                          "<button>Resolve</button></form>",
                          id);
    drudge_buf_puts(b, "<span class=result></span></div>");
}

static void page_task(room_req *q)
{
    char *end;
    long long id = q->arg ? strtoll(q->arg, &end, 10) : 0;
    drudge_task_row t = {0};
    drudge_attempt_row *att = NULL;
    size_t na = 0;
    drudge_err err = {0};
    tree tr = {q, NULL, 0, 0};
    if (!q->arg || *end || id <= 0) {
        drudge_seterr(&err, DRUDGE_EINPUT, "'%s' is not a task id", q->arg ? q->arg : "");
        return page_error(q, &err);
    }
    drudge_buf deadline = {0};
    room_lock(q);
    drudge_code rc = drudge_store_get(q->r->s, id, &t, &att, &na, &err);
    if (!rc)
        deadline_text(q, &t, &deadline);
    if (!rc && (q->perms & ROOM_DATA)) {
        drudge_step_filter sf = {.task_id = id, .by_seq = 1};
        rc = drudge_store_steps(q->r->s, &sf, collect_step, &tr, &err);
    }
    if (rc) {
        room_unlock(q);
        drudge_buf_free(&deadline);
        drudge_task_row_clear(&t);
        drudge_attempt_rows_free(att, na);
        return page_error(q, &err);
    }
    char title[64];
    snprintf(title, sizeof title, "Task #%lld", id);
    page_start(q, title, "/tasks");
    drudge_buf *b = &q->out;
    /* The state follows the task live (room.js, the event stream). */
    drudge_buf_printf(b, "<p id=task-state data-task=%lld>", id);
    state_badge(b, t.state);
    if (t.resolved_at)
        drudge_buf_puts(b, " <span class=badge>resolved</span>");
    drudge_buf_printf(b,
                      " <span id=task-changed class=note hidden>The task has changed: <a "
                      "href=\"/tasks/%lld\">reload</a> for its attempts and steps.</span></p>",
                      id);
    if (q->perms & ROOM_ACT)
        task_actions(q, &t);
    drudge_buf_puts(b, "<dl class=facts>");
    dl_item(b, "Script", t.script);
    char ts[32], n[64];
    snprintf(n, sizeof n, "%d of %d", t.attempts, t.max_attempts);
    dl_item(b, "Attempts", n);
    room_fmt_time(t.created_at, ts);
    dl_item(b, "Created (UTC)", ts);
    room_fmt_time(t.finished_at, ts);
    dl_item(b, "Finished (UTC)", *ts ? ts : NULL);
    if (deadline.len) {
        drudge_buf_puts(b, "<dt>Deadline (UTC)</dt><dd id=deadline>");
        drudge_buf_add(b, deadline.data, deadline.len);
        drudge_buf_puts(b, "</dd>");
    }
    drudge_buf_free(&deadline);
    dl_item(b, "Schedule", t.schedule);
    dl_item(b, "Script version", t.script_sha256);
    if (q->perms & ROOM_DATA) {
        char *k = room_seen(q, t.key), *e = room_seen(q, t.error),
             *nt = room_seen(q, t.resolved_note);
        dl_item(b, "Key", k);
        dl_item(b, "Error", e);
        dl_item(b, "Resolved by", t.resolved_by);
        dl_item(b, "Note", nt);
        dl_item(b, "Cancelled by", t.cancelled_by);
        free(k);
        free(e);
        free(nt);
    }
    drudge_buf_puts(b, "</dl>");
    if (q->perms & ROOM_DATA) {
        json_block(q, "Input", t.input);
        json_block(q, "Output", t.output);
    } else {
        drudge_buf_puts(b, "<p class=note>Your role sees a task's counts and states only, not "
                           "its data.</p>");
    }
    drudge_buf_puts(b, "<h2>Attempts</h2><table class=attempts><thead><tr><th class=num>#</th>"
                       "<th>Outcome</th><th>Started (UTC)</th><th class=num>Duration</th>");
    if (q->perms & ROOM_DATA)
        drudge_buf_puts(b, "<th>Worker</th><th>Error</th>");
    drudge_buf_puts(b, "</tr></thead><tbody>");
    for (size_t i = 0; i < na; i++) {
        drudge_buf_printf(b,
                          "<tr><td class=num>%d</td><td><span class=\"outcome %s\">%s</span>"
                          "</td>",
                          att[i].n, att[i].outcome ? att[i].outcome : "",
                          att[i].outcome ? att[i].outcome : "");
        time_cell(b, att[i].started_at);
        drudge_buf_printf(b, "<td class=num>%.3f s</td>",
                          (double)(att[i].ended_at - att[i].started_at) / 1e6);
        if (q->perms & ROOM_DATA) {
            char *e = room_seen(q, att[i].error);
            drudge_buf_puts(b, "<td>");
            room_html(b, att[i].worker);
            drudge_buf_puts(b, "</td><td class=err>");
            room_html(b, e);
            drudge_buf_puts(b, "</td>");
            free(e);
        }
        drudge_buf_puts(b, "</tr>");
    }
    drudge_buf_puts(b, "</tbody></table>");
    if (q->perms & ROOM_DATA) {
        drudge_buf_puts(b, "<h2>Steps</h2>");
        int last = -1;
        for (size_t i = 0; i < tr.n; i++) {
            if (tr.rows[i].attempt != last) {
                if (last >= 0)
                    drudge_buf_puts(b, "</ul>");
                last = tr.rows[i].attempt;
                if (last == 0)
                    drudge_buf_puts(b, "<h3>Operator actions</h3><ul class=tree>");
                else
                    drudge_buf_printf(b, "<h3>Attempt %d</h3><ul class=tree>", last);
            }
            if (tr.rows[i].step.parent == 0)
                step_li(q, &tr, i);
        }
        if (last >= 0)
            drudge_buf_puts(b, "</ul>");
        else
            drudge_buf_puts(b, "<p class=note>No steps on the audit trail yet.</p>");
    }
    if (q->perms & ROOM_FULL)
        drudge_buf_printf(b,
                          "<p><a href=\"/audit/tasks/%lld\">Timeline to print for the case "
                          "file</a></p>",
                          id);
    room_unlock(q);
    for (size_t i = 0; i < tr.n; i++)
        drudge_step_clear(&tr.rows[i].step);
    free(tr.rows);
    drudge_task_row_clear(&t);
    drudge_attempt_rows_free(att, na);
    page_end(q);
}

/* ---- exceptions ---- */

static void page_exceptions(room_req *q)
{
    drudge_err err = {0};
    drudge_task_row *rows[2] = {NULL, NULL};
    size_t n[2] = {0, 0};
    const char *states[2] = {"failed", "dead"};
    room_lock(q);
    drudge_code rc = DRUDGE_OK;
    for (int i = 0; i < 2 && !rc; i++) {
        drudge_task_filter f = {.state = states[i], .limit = 200};
        rc = drudge_store_list(q->r->s, &f, &rows[i], &n[i], &err);
    }
    if (rc) {
        room_unlock(q);
        for (int i = 0; i < 2; i++)
            drudge_task_rows_free(rows[i], n[i]);
        return page_error(q, &err);
    }
    page_start(q, "Exceptions", "/exceptions");
    drudge_buf *b = &q->out;
    drudge_buf_puts(b, "<p class=note>Failed and dead tasks, newest first (200 of each at "
                       "most). Open one to resolve it with a note or cancel it.</p>");
    for (int i = 0; i < 2; i++) {
        drudge_buf_printf(b, "<h2>%s</h2>", i ? "Dead (no attempts left)" : "Failed");
        if (q->perms & ROOM_ACT)
            drudge_buf_printf(b,
                              "<div class=bulk data-table=%s><button class=bulk-retry "
                              "id=bulk-retry-%s>Retry selected</button><span "
                              "class=result></span></div>",
                              states[i], states[i]);
        drudge_buf_printf(b, "<div id=list-%s>", states[i]);
        tasks_table(q, rows[i], n[i], (q->perms & ROOM_ACT) != 0);
        drudge_buf_puts(b, "</div>");
    }
    room_unlock(q);
    for (int i = 0; i < 2; i++)
        drudge_task_rows_free(rows[i], n[i]);
    page_end(q);
}

/* ---- schedules and scripts ---- */

static void page_schedules(room_req *q)
{
    drudge_schedule *list = NULL;
    int n = 0;
    drudge_err err = {0};
    int64_t now = drudge_now_us();
    room_lock(q);
    drudge_code rc = drudge_schedule_list(q->r->s, &list, &n, &err);
    room_unlock(q);
    if (rc)
        return page_error(q, &err);
    page_start(q, "Schedules", "/schedules");
    drudge_buf *b = &q->out;
    drudge_buf_puts(b, "<table><thead><tr><th>Schedule</th><th>Cron</th><th>Zone</th>"
                       "<th>Script</th><th>Next run (UTC)</th><th></th></tr></thead><tbody>");
    for (int i = 0; i < n; i++) {
        const drudge_schedule *sc = &list[i];
        drudge_buf_puts(b, "<tr><th scope=row>");
        room_html(b, sc->name);
        if (sc->paused)
            drudge_buf_puts(b, " <span class=badge>paused</span>");
        drudge_buf_puts(b, "</th><td><code>");
        room_html(b, sc->cron);
        drudge_buf_puts(b, "</code></td><td>");
        room_html(b, sc->tz ? sc->tz : "local");
        drudge_buf_puts(b, "</td><td>");
        room_html(b, sc->script);
        drudge_buf_puts(b, "</td>");
        int64_t next = sc->paused ? -1 : drudge_schedule_next(sc->cron, sc->tz, now);
        time_cell(b, next > 0 ? next : 0);
        drudge_buf_puts(b, "<td>");
        if (q->perms & ROOM_ACT) {
            drudge_buf_puts(b, "<button data-post=\"/api/v1/schedules/");
            room_html(b, sc->name);
            drudge_buf_printf(b, "/%s\">%s</button> ", sc->paused ? "resume" : "pause",
                              sc->paused ? "Resume" : "Pause");
            drudge_buf_puts(b, "<button data-post=\"/api/v1/schedules/");
            room_html(b, sc->name);
            drudge_buf_puts(b, "/run\">Run now</button>");
        }
        drudge_buf_puts(b, "</td></tr>");
    }
    if (!n)
        drudge_buf_puts(b, "<tr><td colspan=6 class=note>No schedules (drudge schedule add).</td>"
                           "</tr>");
    drudge_buf_puts(b, "</tbody></table><span class=result></span>");
    drudge_schedule_list_free(list, n);
    page_end(q);
}

static int version_row(void *ud, const drudge_script_version_use *v)
{
    drudge_buf *b = ud;
    char first[32], last[32];
    room_fmt_time(v->first_use, first);
    room_fmt_time(v->last_use, last);
    drudge_buf_puts(b, "<tr><td>");
    room_html(b, v->script);
    drudge_buf_printf(b, "</td><td><code title=\"%s\">%.12s</code></td><td>", v->sha256, v->sha256);
    room_html(b, v->path);
    drudge_buf_printf(b,
                      "</td><td class=time>%s</td><td class=time>%s</td><td class=num>%lld"
                      "</td><td class=num>%lld</td><td class=num>%s</td></tr>",
                      first, last, (long long)v->tasks, (long long)v->failed,
                      v->finished ? "" : "–");
    if (v->finished) { /* the failure rate into the last cell */
        char rate[32];
        snprintf(rate, sizeof rate, "%.1f%%", 100.0 * (double)v->failed / (double)v->finished);
        b->len -= strlen("–</td></tr>");
        drudge_buf_printf(b, "%s</td></tr>", rate);
    }
    return 0;
}

/* Each script's settings as last enqueued (the scripts table). */
static void script_settings(room_req *q, drudge_buf *b, drudge_err *err)
{
    drudge_queue_stats st = {0};
    if (drudge_store_status(q->r->s, drudge_now_us(), &st, err))
        return;
    drudge_buf_puts(b, "<h2>Settings</h2><table id=settings><thead><tr><th>Script</th>"
                       "<th>Path</th><th class=num>Attempts</th><th class=num>Manual minutes</th>"
                       "<th class=num>Exception minutes</th><th>Run window</th><th></th></tr>"
                       "</thead><tbody>");
    for (size_t i = 0; i < st.nscripts; i++) {
        drudge_task_spec spec = {0};
        drudge_err e = {0};
        if (drudge_store_known_script(q->r->s, st.scripts[i].script, &spec, &e))
            continue;
        drudge_buf_puts(b, "<tr><th scope=row>");
        room_html(b, spec.script);
        drudge_buf_puts(b, "</th><td>");
        room_html(b, spec.script_path);
        drudge_buf_printf(b,
                          "</td><td class=num>%d</td><td class=num>%g</td><td class=num>%g</td>"
                          "<td>",
                          spec.max_attempts, spec.manual_minutes, spec.exception_minutes);
        room_html(b, spec.window ? spec.window : "any time");
        drudge_buf_printf(b, "</td><td>%s</td></tr>", st.scripts[i].paused ? "paused" : "");
        drudge_task_spec_clear(&spec);
    }
    drudge_buf_puts(b, "</tbody></table>");
    drudge_queue_stats_clear(&st);
}

static void page_scripts(room_req *q)
{
    drudge_err err = {0};
    drudge_buf rows = {0}, settings = {0};
    room_lock(q);
    drudge_code rc = drudge_store_script_versions(q->r->s, NULL, version_row, &rows, &err);
    if (!rc)
        script_settings(q, &settings, &err);
    rc = rc ? rc : err.code;
    room_unlock(q);
    if (rc) {
        drudge_buf_free(&rows);
        drudge_buf_free(&settings);
        return page_error(q, &err);
    }
    page_start(q, "Scripts", "/scripts");
    drudge_buf *b = &q->out;
    if (settings.len)
        drudge_buf_add(b, settings.data, settings.len);
    drudge_buf_puts(b, "<h2>Versions</h2><p class=note>Every version of each script on record, "
                       "with the tasks that ran it and how many of those failed.</p><table>"
                       "<thead><tr><th>Script</th><th>Version</th><th>Path</th><th>First use</th>"
                       "<th>Last use</th><th class=num>Tasks</th><th class=num>Failed</th>"
                       "<th class=num>Failure rate</th></tr></thead><tbody>");
    if (rows.len)
        drudge_buf_add(b, rows.data, rows.len);
    else
        drudge_buf_puts(b, "<tr><td colspan=8 class=note>No script versions yet.</td></tr>");
    drudge_buf_puts(b, "</tbody></table>");
    drudge_buf_free(&rows);
    drudge_buf_free(&settings);
    page_end(q);
}

/* ---- time saved ---- */

static void page_report(room_req *q)
{
    char by[16] = "script", since[64] = "", until[64] = "";
    room_query(q, "by", by, sizeof by);
    room_query(q, "since", since, sizeof since);
    room_query(q, "until", until, sizeof until);
    page_start(q, "Time saved", "/report");
    drudge_buf *b = &q->out;
    drudge_buf_puts(b, "<form class=filters method=get action=/report><label>By <select name=by>");
    const char *bys[] = {"script", "day", "week", "month"};
    for (int i = 0; i < 4; i++)
        drudge_buf_printf(b, "<option%s>%s</option>", !strcmp(by, bys[i]) ? " selected" : "",
                          bys[i]);
    drudge_buf_puts(b, "</select></label>");
    filter_input(b, "Since", "since", since, "2026-11-01");
    filter_input(b, "Until", "until", until, "2026-11-30");
    drudge_buf_puts(b, "<button>Show</button></form><p class=downloads>Download: ");
    drudge_buf_puts(b, "<a id=csv href=\"/api/v1/report?format=csv&amp;");
    room_html(b, q->query);
    drudge_buf_puts(b, "\">CSV</a> · <a id=json href=\"/api/v1/report?format=json&amp;");
    room_html(b, q->query);
    drudge_buf_puts(b,
                    "\">JSON</a></p><iframe class=report title=\"the report\" src=\"/report/html?");
    room_html(b, q->query);
    drudge_buf_puts(b, "\"></iframe>");
    page_end(q);
}

static void page_report_html(room_req *q)
{
    drudge_report_opts o;
    drudge_report *rep = NULL;
    drudge_err err = {0};
    char script[128];
    if (room_report_opts(q, &o, script))
        return;
    room_lock(q);
    drudge_code rc = drudge_report_compute(q->r->s, &o, &rep, &err);
    room_unlock(q);
    if (rc)
        return page_error(q, &err);
    drudge_report_html(rep, &q->out);
    drudge_report_free(rep);
    q->type = "text/html; charset=utf-8";
    /* The report is one self-contained document with its style inline (it
     * is also written to files by `drudge report --html`). */
    q->csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
             "frame-ancestors 'self'";
    q->frame_self = 1;
}

/* ---- the audit trail ---- */

static void page_audit(room_req *q)
{
    drudge_checkpoint_row *c = NULL;
    size_t n = 0;
    drudge_err err = {0};
    int64_t id = 0;
    char head[65] = "";
    room_lock(q);
    drudge_code rc = drudge_store_checkpoints(q->r->s, &c, &n, &err);
    if (!rc)
        rc = drudge_store_chain_head(q->r->s, &id, head, &err);
    room_unlock(q);
    if (rc) {
        free(c);
        return page_error(q, &err);
    }
    page_start(q, "Audit", "/audit");
    drudge_buf *b = &q->out;
    drudge_buf_printf(b, "<p>The chain has <b>%lld</b> rows; its head is <code>%s</code>.</p>",
                      (long long)id, head);
    drudge_buf_puts(b, "<h2>Verify</h2><p><button id=verify data-verify=/api/v1/audit/verify>"
                       "Verify the whole trail now</button> <span class=result id=verify-result>"
                       "</span></p><p class=note>The check runs in the background, one at a "
                       "time; the rows checked so far show here as it "
                       "goes.</p><h2>Export</h2><p>Every step with its hash and the previous "
                       "row's, to verify outside drudge (the download is itself recorded): "
                       "<a id=export-jsonl href=\"/api/v1/audit/export?format=jsonl\">JSON "
                       "lines</a> · <a id=export-csv href=\"/api/v1/audit/export?format=csv\">"
                       "CSV</a></p><h2>A task's timeline</h2><form class=filters method=get "
                       "action=/audit/task><label>Task <input name=id id=timeline-id "
                       "required></label><button>Show for printing</button></form>"
                       "<h2>Checkpoints</h2><table><thead><tr><th class=num>#</th><th "
                       "class=num>Rows</th><th>Head</th><th>Signed (UTC)</th><th>Public key</th>"
                       "</tr></thead><tbody>");
    for (size_t i = 0; i < n; i++) {
        char ts[32];
        room_fmt_time(c[i].created_at, ts);
        drudge_buf_printf(b,
                          "<tr><td class=num>%lld</td><td class=num>%lld</td><td><code>"
                          "%.16s…</code></td><td class=time>%s</td><td><code>%.16s…</code>"
                          "</td></tr>",
                          (long long)c[i].id, (long long)c[i].row_count, c[i].head_hash, ts,
                          c[i].public_key);
    }
    if (!n)
        drudge_buf_puts(b, "<tr><td colspan=5 class=note>No checkpoints (drudge audit "
                           "checkpoint --key FILE).</td></tr>");
    drudge_buf_puts(b, "</tbody></table>");
    free(c);
    page_end(q);
}

static void show_timeline(room_req *q, long long id)
{
    drudge_err err = {0};
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        drudge_seterr(&err, DRUDGE_ENOMEM, "cannot make the timeline in memory");
        return page_error(q, &err);
    }
    room_lock(q);
    drudge_code rc = drudge_audit_show_ex(q->r->s, f, id, 0, 0, 1, &err);
    room_unlock(q);
    fclose(f);
    if (rc) {
        free(text);
        return page_error(q, &err);
    }
    char title[64];
    snprintf(title, sizeof title, "Timeline of task #%lld", id);
    page_start(q, title, "/audit");
    drudge_buf_puts(&q->out, "<p class=noprint><button id=print data-print>Print</button></p>"
                             "<pre class=timeline>");
    room_html(&q->out, text);
    drudge_buf_puts(&q->out, "</pre>");
    free(text);
    page_end(q);
}

static void page_timeline(room_req *q)
{
    char *end;
    long long id = q->arg ? strtoll(q->arg, &end, 10) : 0;
    if (!q->arg || *end || id <= 0) {
        drudge_err err = {0};
        drudge_seterr(&err, DRUDGE_EINPUT, "'%s' is not a task id", q->arg ? q->arg : "");
        return page_error(q, &err);
    }
    show_timeline(q, id);
}

static void page_timeline_form(room_req *q)
{
    char v[32], *end;
    long long id = room_query(q, "id", v, sizeof v) ? 0 : strtoll(v, &end, 10);
    if (id <= 0 || *end) {
        drudge_err err = {0};
        drudge_seterr(&err, DRUDGE_EINPUT, "'%s' is not a task id", v);
        return page_error(q, &err);
    }
    show_timeline(q, id);
}

/* ---- the account: one's password and tokens; an admin's users ---- */

static void page_account(room_req *q)
{
    drudge_room_key *k = NULL;
    drudge_room_user *u = NULL;
    size_t nk = 0, nu = 0;
    drudge_err err = {0};
    int admin = (q->perms & ROOM_USERS) != 0;
    room_lock(q);
    drudge_code rc =
        drudge_store_keys(q->r->s, admin ? NULL : q->user.name, "token", &k, &nk, &err);
    if (!rc && admin)
        rc = drudge_store_users(q->r->s, &u, &nu, &err);
    room_unlock(q);
    if (rc) {
        drudge_room_keys_free(k, nk);
        return page_error(q, &err);
    }
    page_start(q, "Account", "/account");
    drudge_buf *b = &q->out;
    drudge_buf_puts(b, "<h2>Your password</h2><form class=filters id=password-form "
                       "data-post=/api/v1/me/password><label>Old password <input type=password "
                       "name=old id=old-password autocomplete=current-password required></label>"
                       "<label>New password <input type=password name=new id=new-password "
                       "autocomplete=new-password minlength=10 required></label><button "
                       "id=change-password>Change</button><span class=result></span></form>"
                       "<p class=note>Changing it ends your other sessions.</p>");
    drudge_buf_printf(b,
                      "<h2>%s</h2><table id=tokens><thead><tr><th>Id</th><th>User</th>"
                      "<th>Label</th><th>Created (UTC)</th><th></th></tr></thead><tbody>",
                      admin ? "API tokens" : "Your API tokens");
    for (size_t i = 0; i < nk; i++) {
        char ts[32];
        room_fmt_time(k[i].created_at, ts);
        drudge_buf_printf(b, "<tr><td><code>%.12s</code></td><td>", k[i].hash);
        room_html(b, k[i].user);
        drudge_buf_puts(b, "</td><td>");
        room_html(b, k[i].label ? k[i].label : "");
        drudge_buf_printf(b,
                          "</td><td class=time>%s</td><td><button class=revoke "
                          "data-post=\"/api/v1/tokens/%.12s/revoke\" data-confirm=\"Revoke "
                          "token %.12s? Systems using it are refused at once.\">Revoke</button>"
                          "<span class=result></span></td></tr>",
                          ts, k[i].hash, k[i].hash);
    }
    if (!nk)
        drudge_buf_puts(b, "<tr><td colspan=5 class=note>No tokens (drudge user token NAME)."
                           "</td></tr>");
    drudge_buf_puts(b, "</tbody></table>");
    if (admin) {
        drudge_buf_puts(b, "<h2>Users</h2><table id=users><thead><tr><th>User</th><th>Role</th>"
                           "<th></th><th>Reset the password</th></tr></thead><tbody>");
        for (size_t i = 0; i < nu; i++) {
            drudge_buf_puts(b, "<tr><th scope=row>");
            room_html(b, u[i].name);
            drudge_buf_printf(b,
                              "</th><td>%s</td><td>%s</td><td><form class=reset "
                              "data-post=\"/api/v1/users/",
                              u[i].role, u[i].disabled ? "disabled" : "");
            room_html(b, u[i].name);
            drudge_buf_puts(b, "/password\"><input type=password name=password minlength=10 "
                               "autocomplete=new-password required placeholder=\"new password\">"
                               "<button>Reset</button><span class=result></span></form></td>"
                               "</tr>");
        }
        drudge_buf_puts(b, "</tbody></table><p class=note>A reset ends the user's sessions; "
                           "add, disable and enable users with drudge user.</p>");
    }
    drudge_room_keys_free(k, nk);
    drudge_room_users_free(u, nu);
    page_end(q);
}

const room_route room_page_routes[] = {
    {"GET", "/login", ROOM_ANYONE, page_login, "log in"},
    {"POST", "/login", ROOM_ANYONE, do_login, "log in"},
    {"POST", "/logout", ROOM_ANYONE, do_logout, "log out"},
    {"GET", "/assets/{name}", ROOM_ANYONE, page_asset, "read assets"},
    {"GET", "/", ROOM_SEE, page_overview, "see the overview"},
    {"GET", "/tasks", ROOM_SEE, page_tasks, "list tasks"},
    {"GET", "/tasks/{id}", ROOM_SEE, page_task, "read a task"},
    {"GET", "/exceptions", ROOM_DATA, page_exceptions, "see exceptions"},
    {"GET", "/schedules", ROOM_SEE, page_schedules, "list schedules"},
    {"GET", "/scripts", ROOM_SEE, page_scripts, "list script versions"},
    {"GET", "/report", ROOM_SEE, page_report, "read the report"},
    {"GET", "/report/html", ROOM_SEE, page_report_html, "read the report"},
    {"GET", "/audit", ROOM_FULL, page_audit, "read the audit trail"},
    {"GET", "/account", ROOM_SEE, page_account, "see their account"},
    {"GET", "/audit/task", ROOM_FULL, page_timeline_form, "read the audit trail"},
    {"GET", "/audit/tasks/{id}", ROOM_FULL, page_timeline, "read the audit trail"},
    {NULL, NULL, 0, NULL, NULL},
};

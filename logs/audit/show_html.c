/*
 * show_html.c: drudge audit show TASK --html: a task's case record as one
 * self-contained, printable HTML file: what the task is (script version,
 * input, state, output, resolution), whether the audit chain verified when
 * the record was made and its head then, the timeline of every attempt as a
 * tree (start, duration as a bar within the attempt, outcome, errors), the
 * images its steps recorded (screenshots) inline as data: URIs, the other
 * payloads by SHA-256, and what people did to the task (operator steps).
 * Nothing is fetched when the file is opened: it can be attached to a case
 * file and read years later.
 *
 * Elements carry ids, classes and data- attributes (data-seq, data-outcome,
 * data-sha256) so tests, and auditors with scrapers, can read it back.
 */
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "logs/audit/audit.h"

/* Images bigger than this are listed, not inlined (the file stays printable). */
#define INLINE_IMAGE_MAX (8u << 20)

static void esc_n(drudge_buf *b, const char *s, size_t n)
{
    drudge_buf_html(b, s, n);
}

static void esc(drudge_buf *b, const char *s)
{
    if (s)
        esc_n(b, s, strlen(s));
}

static void fmt_dur(int64_t us, char out[32])
{
    if (us < 0)
        snprintf(out, 32, "open");
    else if (us < 1000000)
        snprintf(out, 32, "%.1f ms", (double)us / 1000.0);
    else if (us < 600 * INT64_C(1000000))
        snprintf(out, 32, "%.3f s", (double)us / 1e6);
    else
        snprintf(out, 32, "%.1f min", (double)us / 6e7);
}

/* "2026-12-07 03:12:45.123 UTC" */
static void fmt_when(int64_t us, char out[48])
{
    char t[40];
    drudge_fmt_time(us, t);
    t[10] = ' ';
    snprintf(out, 48, "%.23s UTC", t);
}

static const char css[] =
    "*{box-sizing:border-box}"
    "body{font:13px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2937;"
    "background:#fff;margin:0;padding:24px 32px;max-width:1100px}"
    "h1{font-size:21px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 8px;"
    "border-bottom:2px solid #e2e8f0;padding-bottom:3px}"
    "h3{font-size:14px;margin:14px 0 6px}"
    ".sub{color:#64748b;margin:0 0 14px}"
    "table.facts{border-collapse:collapse;width:100%}"
    "table.facts th{text-align:left;color:#475569;font-weight:600;width:11em;vertical-align:top;"
    "padding:3px 10px 3px 0}"
    "table.facts td{padding:3px 0;vertical-align:top}"
    "code,pre,.mono{font:12px/1.4 ui-monospace,'DejaVu Sans Mono',Menlo,monospace}"
    "pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:2px 0;background:#f8fafc;"
    "border:1px solid #e2e8f0;border-radius:4px;padding:4px 6px}"
    ".integrity{border:2px solid;border-radius:8px;padding:8px 12px;margin:12px 0}"
    ".integrity.ok{border-color:#059669;background:#ecfdf5}"
    ".integrity.bad{border-color:#dc2626;background:#fef2f2}"
    ".integrity .verdict{font-weight:700;font-size:15px}"
    ".attempt{border:1px solid #e2e8f0;border-radius:8px;padding:6px 12px 10px;margin:10px 0;"
    "break-inside:avoid-page}"
    "ul.tree,ul.tree ul{list-style:none;margin:0;padding:0}"
    "ul.tree ul{margin-left:9px;padding-left:14px;border-left:1px solid #cbd5e1}"
    ".step{display:grid;grid-template-columns:3.2em 6.6em 5.6em minmax(0,1fr) 5.2em 7.5em 90px;"
    "gap:6px;align-items:baseline;padding:2px 0;border-bottom:1px dotted #f1f5f9}"
    ".seq{color:#94a3b8;text-align:right}.time{color:#64748b}"
    ".kind{font-weight:600;color:#334155}.name{overflow-wrap:anywhere}"
    ".dur{text-align:right;color:#475569}"
    ".bar{position:relative;height:8px;background:#f1f5f9;border-radius:2px;align-self:center}"
    ".bar i{position:absolute;top:0;bottom:0;min-width:2px;background:#60a5fa;border-radius:2px}"
    ".out{font-weight:600;border-radius:3px;padding:0 5px;font-size:11px;text-align:center}"
    ".out.ok,.out.done{background:#d1fae5;color:#065f46}"
    ".out.error,.out.fail,.out.failed,.out.dead,.out.timeout,.out.lost,.out.memory"
    "{background:#fee2e2;color:#991b1b}"
    ".out.retry,.out.cancelled,.out.open{background:#fef3c7;color:#92400e}"
    ".err{color:#991b1b;margin-left:3.8em}"
    ".payloads{margin:2px 0 4px 3.8em;color:#475569;font-size:12px}"
    "figure{margin:6px 0 8px 3.8em;break-inside:avoid-page}"
    "figure img{max-width:100%;max-height:520px;border:1px solid #cbd5e1;display:block}"
    "figcaption{color:#64748b;font-size:11px;margin-top:2px;overflow-wrap:anywhere}"
    ".ops td,.ops th{padding:3px 8px;border-bottom:1px solid #f1f5f9;text-align:left;"
    "vertical-align:top}"
    ".ops{border-collapse:collapse;width:100%}"
    ".note{color:#64748b;font-size:11px;margin-top:24px}"
    "@media print{body{padding:0}.attempt{border-color:#94a3b8}"
    "figure img{max-height:380px}}";

/* One step kept for rendering, with where its children are. */
typedef struct node {
    int64_t id;
    int attempt;
    drudge_step s; /* own copies */
} node;

typedef struct record {
    drudge_store *st;
    drudge_buf b;
    node *nodes; /* every step of the task, in attempt then seq order */
    size_t n, cap;
    drudge_err *err;
    int images; /* inlined so far */
} record;

static int keep_step(void *ud, const drudge_step_row *r)
{
    record *rec = ud;
    if (rec->n == rec->cap) {
        rec->cap = rec->cap ? rec->cap * 2 : 64;
        rec->nodes = drudge_xrealloc(rec->nodes, rec->cap * sizeof *rec->nodes);
    }
    node *nd = &rec->nodes[rec->n++];
    nd->id = r->id;
    nd->attempt = r->attempt;
    drudge_step_copy(&nd->s, &r->step);
    return 0;
}

static void free_nodes(record *rec)
{
    for (size_t i = 0; i < rec->n; i++)
        drudge_step_clear(&rec->nodes[i].s);
    free(rec->nodes);
}

/* ---- the head: what the task is ---- */

static void fact(drudge_buf *b, const char *label, const char *id, const char *v, int mono)
{
    if (!v)
        return;
    drudge_buf_printf(b, "<tr><th>%s</th><td id=\"%s\"%s>", label, id,
                      mono ? " class=\"mono\"" : "");
    esc(b, v);
    drudge_buf_puts(b, "</td></tr>\n");
}

static void fact_time(drudge_buf *b, const char *label, const char *id, int64_t us)
{
    char when[48];
    if (!us)
        return;
    fmt_when(us, when);
    fact(b, label, id, when, 0);
}

static void fact_pre(drudge_buf *b, const char *label, const char *id, const char *v)
{
    if (!v)
        return;
    drudge_buf_printf(b, "<tr><th>%s</th><td><pre id=\"%s\">", label, id);
    esc(b, v);
    drudge_buf_puts(b, "</pre></td></tr>\n");
}

/* The input as recorded on the chain: the first root step's request. */
static const char *recorded_input(const record *rec)
{
    for (size_t i = 0; i < rec->n; i++)
        if (rec->nodes[i].attempt > 0 && rec->nodes[i].s.parent == 0)
            return rec->nodes[i].s.request;
    return NULL;
}

static void task_facts(record *rec, int64_t id, const drudge_task_row *t)
{
    drudge_buf *b = &rec->b;
    char n[32];
    drudge_buf_puts(b, "<h2>Task</h2>\n<table class=\"facts\">\n");
    snprintf(n, sizeof n, "#%lld", (long long)id);
    fact(b, "task", "f-task", n, 0);
    if (!t) {
        fact(b, "row", "f-row", "not in the tasks table (only its steps are on the chain)", 0);
        drudge_buf_puts(b, "</table>\n");
        return;
    }
    fact(b, "script", "f-script", t->script, 0);
    fact(b, "script file", "f-path", t->script_path, 1);
    fact(b, "script version", "f-version",
         t->script_sha256 ? t->script_sha256
                          : "not recorded (enqueued before drudge kept versions)",
         1);
    fact(b, "key", "f-key", t->key, 1);
    fact(b, "state", "f-state", t->state, 0);
    snprintf(n, sizeof n, "%d (of at most %d)", t->attempts, t->max_attempts);
    fact(b, "attempts", "f-attempts", n, 0);
    fact(b, "last outcome", "f-outcome", t->outcome, 0);
    fact(b, "schedule", "f-schedule", t->schedule, 0);
    fact_time(b, "enqueued", "f-created", t->created_at);
    fact_time(b, "finished", "f-finished", t->finished_at);
    fact(b, "cancelled by", "f-cancelled-by", t->cancelled_by, 0);
    fact(b, "resolved by", "f-resolved-by", t->resolved_by, 0);
    fact_time(b, "resolved", "f-resolved-at", t->resolved_at);
    fact(b, "resolution note", "f-resolved-note", t->resolved_note, 0);
    fact_pre(b, "input (as recorded)", "f-input", recorded_input(rec));
    fact_pre(b, "output", "f-output", t->output);
    fact_pre(b, "error", "f-error", t->error);
    drudge_buf_puts(b, "</table>\n");
}

/* ---- integrity: the chain when the record was made ---- */

static void integrity(record *rec, const drudge_verify_report *vr, drudge_code vrc,
                      const char *verr, int64_t head_id, const char *head, int64_t now)
{
    drudge_buf *b = &rec->b;
    char when[48];
    fmt_when(now, when);
    int ok = vrc == DRUDGE_OK && !vr->problems;
    drudge_buf_printf(b,
                      "<section class=\"integrity %s\" id=\"integrity\" data-verified=\"%s\">"
                      "<div class=\"verdict\" id=\"verdict\">",
                      ok ? "ok" : "bad", ok ? "true" : "false");
    if (ok)
        drudge_buf_printf(b,
                          "The audit trail verified: %lld rows, %lld payloads (%lld pruned), "
                          "%lld checkpoint%s, %lld task rows cross-checked.",
                          (long long)vr->rows, (long long)vr->payloads, (long long)vr->pruned,
                          (long long)vr->checkpoints, vr->checkpoints == 1 ? "" : "s",
                          (long long)vr->tasks);
    else if (vrc == DRUDGE_ETAMPER)
        drudge_buf_printf(b, "The audit trail does NOT verify (%d problem%s).", vr->problems,
                          vr->problems == 1 ? "" : "s");
    else
        drudge_buf_puts(b, "The audit trail could not be verified.");
    drudge_buf_puts(b, "</div>\n");
    if (!ok) {
        drudge_buf_puts(b, "<pre id=\"problems\">");
        esc(b, vrc == DRUDGE_ETAMPER ? vr->text : verr);
        drudge_buf_puts(b, "</pre>\n");
    }
    drudge_buf_printf(b,
                      "<div>Chain head when this record was made (%s): row <span "
                      "id=\"head-id\">%lld</span>, hash <code id=\"head-hash\">%s</code></div>\n"
                      "<div class=\"sub\">Check later with <code>drudge audit verify</code>: "
                      "the head row must still have this hash.</div></section>\n",
                      when, (long long)head_id, head);
}

/* ---- the timeline ---- */

typedef struct refs {
    char (*sha)[65];
    size_t n;
} refs;

static void add_ref(void *ud, const char *sha)
{
    refs *r = ud;
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->sha[i], sha))
            return;
    r->sha = drudge_xrealloc(r->sha, (r->n + 1) * sizeof *r->sha);
    memcpy(r->sha[r->n++], sha, 65);
}

static int is_image(const char *ct)
{
    return ct && (!strncmp(ct, "image/png", 9) || !strncmp(ct, "image/jpeg", 10) ||
                  !strncmp(ct, "image/gif", 9) || !strncmp(ct, "image/webp", 10));
}

static void data_uri(drudge_buf *b, const char *ct, const unsigned char *data, size_t len)
{
    size_t ctlen = strcspn(ct, "; ");
    drudge_buf_puts(b, "data:");
    drudge_buf_add(b, ct, ctlen);
    drudge_buf_puts(b, ";base64,");
    drudge_base64(b, data, len);
}

/* The payloads a step references: images inline, the others listed. */
static drudge_code step_payloads(record *rec, const drudge_step *s)
{
    refs r = {0};
    drudge_code rc = DRUDGE_OK;
    drudge_buf *b = &rec->b, list = {0};
    drudge_audit_payload_refs(s->request, add_ref, &r);
    drudge_audit_payload_refs(s->response, add_ref, &r);
    for (size_t i = 0; i < r.n; i++) {
        drudge_payload_row p;
        rc = drudge_store_payload(rec->st, r.sha[i], 1, &p, rec->err);
        if (rc == DRUDGE_ENOTFOUND) { /* verify reports it */
            drudge_buf_printf(&list, "<li data-sha256=\"%s\">%.16s&hellip; missing</li>", r.sha[i],
                              r.sha[i]);
            rc = DRUDGE_OK;
            continue;
        }
        if (rc)
            break;
        char size[32];
        snprintf(size, sizeof size, "%lld bytes", (long long)p.size);
        if (p.data && is_image(p.content_type) && p.len <= INLINE_IMAGE_MAX) {
            drudge_buf_printf(b, "<figure data-sha256=\"%s\"><img alt=\"", p.sha256);
            esc(b, s->name);
            drudge_buf_puts(b, "\" src=\"");
            data_uri(b, p.content_type, p.data, p.len);
            drudge_buf_puts(b, "\"><figcaption>");
            esc(b, p.content_type);
            drudge_buf_printf(b, ", %s, sha256 <code>%s</code></figcaption></figure>\n", size,
                              p.sha256);
            rec->images++;
        } else {
            drudge_buf_printf(&list, "<li data-sha256=\"%s\">", p.sha256);
            esc(&list, p.content_type ? p.content_type : "payload");
            drudge_buf_printf(&list, ", %s, sha256 <code>%s</code>%s</li>", size, p.sha256,
                              p.data ? "" : " (pruned)");
        }
        drudge_payload_row_clear(&p);
    }
    if (list.len)
        drudge_buf_printf(b, "<ul class=\"payloads\">%s</ul>\n", list.data);
    drudge_buf_free(&list);
    free(r.sha);
    return rc;
}

/* The step's name, or for a log line its message. */
static void step_label(drudge_buf *b, const drudge_step *s)
{
    const char *kind = s->kind ? s->kind : "?";
    if (!strcmp(kind, "log") && s->request) {
        const char *m = strstr(s->request, "\"message\":\"");
        if (m) {
            m += 11;
            size_t n = 0;
            while (m[n] && !(m[n] == '"' && (n == 0 || m[n - 1] != '\\')))
                n++;
            esc(b, s->name);
            drudge_buf_puts(b, ": ");
            esc_n(b, m, n);
            return;
        }
    }
    if (!strcmp(kind, "secret")) {
        esc(b, s->name);
        drudge_buf_puts(b, " (value not recorded)");
        return;
    }
    esc(b, s->name);
}

/* Step i and, nested under it, the steps whose parent it is (they follow it
 * in seq order within its attempt). Returns the index after its subtree. */
static size_t render_step(record *rec, size_t i, size_t end, int64_t t0, int64_t span,
                          drudge_code *rc)
{
    const node *nd = &rec->nodes[i];
    const drudge_step *s = &nd->s;
    drudge_buf *b = &rec->b;
    char when[40], dur[32];
    drudge_fmt_time(s->started_us, when);
    fmt_dur(s->duration_us, dur);
    const char *outcome = s->duration_us < 0 ? "open" : s->outcome ? s->outcome : "";
    double left = span > 0 ? 100.0 * (double)(s->started_us - t0) / (double)span : 0;
    double width =
        span > 0 && s->duration_us > 0 ? 100.0 * (double)s->duration_us / (double)span : 0;
    if (left < 0)
        left = 0;
    if (left > 100)
        left = 100;
    if (left + width > 100)
        width = 100 - left;
    drudge_buf_printf(b,
                      "<li><div class=\"step\" id=\"s%lld\" data-attempt=\"%d\" data-seq=\"%d\" "
                      "data-kind=\"",
                      (long long)nd->id, nd->attempt, s->seq);
    esc(b, s->kind);
    drudge_buf_printf(b, "\" data-outcome=\"");
    esc(b, outcome);
    drudge_buf_printf(b,
                      "\" data-duration-us=\"%lld\"><span class=\"seq\">%d</span>"
                      "<span class=\"time\">%.12s</span><span class=\"kind\">",
                      (long long)s->duration_us, s->seq, when + 11);
    esc(b, s->kind);
    drudge_buf_puts(b, "</span><span class=\"name\">");
    step_label(b, s);
    drudge_buf_printf(b, "</span><span class=\"dur\">%s</span><span class=\"out ", dur);
    esc(b, outcome);
    drudge_buf_puts(b, "\">");
    esc(b, outcome);
    drudge_buf_printf(b,
                      "</span><span class=\"bar\" title=\"within the attempt\"><i "
                      "style=\"left:%.2f%%;width:%.2f%%\"></i></span></div>\n",
                      left, width);
    if (s->error && *s->error) {
        drudge_buf_puts(b, "<pre class=\"err\">");
        esc(b, s->error);
        drudge_buf_puts(b, "</pre>\n");
    }
    if (!*rc)
        *rc = step_payloads(rec, s);
    size_t j = i + 1;
    if (j < end && rec->nodes[j].s.parent == s->seq) {
        drudge_buf_puts(b, "<ul>\n");
        while (j < end && rec->nodes[j].s.parent == s->seq)
            j = render_step(rec, j, end, t0, span, rc);
        drudge_buf_puts(b, "</ul>\n");
    }
    drudge_buf_puts(b, "</li>\n");
    return j;
}

static const drudge_attempt_row *attempt_row(const drudge_attempt_row *att, size_t natt, int n)
{
    for (size_t i = 0; i < natt; i++)
        if (att[i].n == n)
            return &att[i];
    return NULL;
}

/* Attempt n: its header, and its steps [from, end) as a tree. */
static drudge_code render_attempt(record *rec, int n, const drudge_attempt_row *a, size_t from,
                                  size_t end)
{
    drudge_buf *b = &rec->b;
    char when[48] = "?", dur[32] = "?";
    int64_t t0 = a ? a->started_at : 0, span = a ? a->ended_at - a->started_at : 0;
    if (from < end && rec->nodes[from].s.parent == 0) { /* the root spans the attempt */
        t0 = rec->nodes[from].s.started_us;
        span = rec->nodes[from].s.duration_us;
    }
    if (t0)
        fmt_when(t0, when);
    fmt_dur(span, dur);
    const char *outcome = a && a->outcome ? a->outcome : "not committed";
    drudge_buf_printf(b, "<section class=\"attempt\" id=\"attempt-%d\" data-outcome=\"", n);
    esc(b, outcome);
    drudge_buf_printf(b, "\"><h3>Attempt %d &mdash; <span class=\"out ", n);
    esc(b, outcome);
    drudge_buf_puts(b, "\">");
    esc(b, outcome);
    drudge_buf_printf(b, "</span> &mdash; started %s, took %s", when, dur);
    if (a && a->worker) {
        drudge_buf_puts(b, ", worker ");
        esc(b, a->worker);
    }
    drudge_buf_puts(b, "</h3>\n");
    /* The root step shows the attempt's error; a row's own only if it differs. */
    const char *root_err =
        from < end && rec->nodes[from].s.parent == 0 ? rec->nodes[from].s.error : NULL;
    if (a && a->error && !(root_err && !strcmp(root_err, a->error))) {
        drudge_buf_puts(b, "<pre class=\"attempt-error\">");
        esc(b, a->error);
        drudge_buf_puts(b, "</pre>\n");
    }
    drudge_code rc = DRUDGE_OK;
    if (from == end) {
        drudge_buf_puts(b, "<p class=\"sub\">No steps of this attempt are on the chain.</p>\n");
    } else {
        drudge_buf_puts(b, "<ul class=\"tree\">\n");
        /* Roots, and any step whose parent is not on the chain, at the top. */
        for (size_t i = from; i < end;)
            i = render_step(rec, i, end, t0, span, &rc);
        drudge_buf_puts(b, "</ul>\n");
    }
    drudge_buf_puts(b, "</section>\n");
    return rc;
}

/* What people did to the task: its operator steps (attempt 0). */
static void render_operators(record *rec, size_t from, size_t end)
{
    drudge_buf *b = &rec->b;
    drudge_buf_puts(b, "<h2>Operator actions</h2>\n");
    if (from == end) {
        drudge_buf_puts(b, "<p class=\"sub\" id=\"no-operators\">Nobody acted on this task by "
                           "hand.</p>\n");
        return;
    }
    drudge_buf_puts(b, "<table class=\"ops\" id=\"operators\"><thead><tr><th>when</th>"
                       "<th>action</th><th>arguments (who, what)</th><th>result</th>"
                       "<th>chain row</th></tr></thead><tbody>\n");
    for (size_t i = from; i < end; i++) {
        const drudge_step *s = &rec->nodes[i].s;
        char when[48];
        fmt_when(s->started_us, when);
        drudge_buf_printf(b, "<tr data-action=\"");
        esc(b, s->name);
        drudge_buf_printf(b, "\"><td>%s</td><td>", when);
        esc(b, s->name);
        drudge_buf_puts(b, "</td><td><code>");
        esc(b, s->request);
        drudge_buf_puts(b, "</code></td><td><code>");
        esc(b, s->response);
        drudge_buf_printf(b, "</code></td><td>%lld</td></tr>\n", (long long)rec->nodes[i].id);
    }
    drudge_buf_puts(b, "</tbody></table>\n");
}

static drudge_code render_timeline(record *rec, const drudge_attempt_row *att, size_t natt)
{
    drudge_buf *b = &rec->b;
    drudge_code rc = DRUDGE_OK;
    size_t ops_from = 0, ops_end = 0, i = 0;
    drudge_buf_puts(b, "<h2>Timeline</h2>\n");
    /* Steps come by attempt, then seq; attempt 0 (operators) first. */
    while (i < rec->n && rec->nodes[i].attempt == 0)
        i++;
    ops_end = i;
    int shown = 0;
    size_t next_att = 0;
    while ((i < rec->n || next_att < natt) && !rc) {
        int n = i < rec->n ? rec->nodes[i].attempt : INT32_MAX;
        /* Attempt rows with no steps before this one. */
        for (; next_att < natt && att[next_att].n < n && !rc; next_att++, shown++)
            rc = render_attempt(rec, att[next_att].n, &att[next_att], i, i);
        if (i >= rec->n)
            break;
        size_t end = i;
        while (end < rec->n && rec->nodes[end].attempt == n)
            end++;
        if (next_att < natt && att[next_att].n == n)
            next_att++;
        if (!rc)
            rc = render_attempt(rec, n, attempt_row(att, natt, n), i, end);
        shown++;
        i = end;
    }
    if (!shown)
        drudge_buf_puts(b, "<p class=\"sub\">The task has not run yet.</p>\n");
    render_operators(rec, ops_from, ops_end);
    return rc;
}

drudge_code drudge_audit_show_html(drudge_store *s, FILE *out, int64_t task_id, drudge_err *err)
{
    record rec = {.st = s, .err = err};
    drudge_verify_report vr;
    drudge_err verr = {0};
    drudge_task_row task;
    drudge_attempt_row *att = NULL;
    size_t natt = 0;
    int have_task = 0, in_tx = 0;
    int64_t head_id = 0, now = drudge_now_us();
    char head[65] = "";

    /* The whole chain first (its own snapshot): the record says whether the
     * trail it comes from was intact when it was made. */
    drudge_code vrc = drudge_audit_verify(s, NULL, &vr, &verr);
    drudge_code rc = drudge_store_begin(s, DRUDGE_TX_READ, err);
    if (rc)
        goto cleanup;
    in_tx = 1;
    rc = drudge_store_get(s, task_id, &task, &att, &natt, err);
    have_task = rc == DRUDGE_OK;
    if (rc && rc != DRUDGE_ENOTFOUND)
        goto cleanup;
    drudge_step_filter f = {.task_id = task_id, .by_seq = 1};
    rc = drudge_store_steps(s, &f, keep_step, &rec, err);
    if (!rc)
        rc = drudge_store_chain_head(s, &head_id, head, err);
    if (rc)
        goto cleanup;
    if (!have_task && !rec.n) {
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "no task #%lld in %s", (long long)task_id,
                           drudge_store_name(s));
        goto cleanup;
    }
    drudge_buf *b = &rec.b;
    char when[48];
    fmt_when(now, when);
    drudge_buf_printf(b,
                      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                      "<meta name=\"generator\" content=\"drudge " DRUDGE_VERSION "\">"
                      "<title>drudge case record: task #%lld</title>\n<style>%s</style></head>\n"
                      "<body>\n<h1>Case record: task #%lld",
                      (long long)task_id, css, (long long)task_id);
    if (have_task) {
        drudge_buf_puts(b, " &mdash; ");
        esc(b, task.script);
    }
    drudge_buf_printf(b, "</h1>\n<p class=\"sub\">From the audit trail of <span "
                         "class=\"mono\">");
    esc(b, drudge_store_name(s));
    drudge_buf_printf(b, "</span>, made %s. Times in UTC.</p>\n", when);
    integrity(&rec, &vr, vrc, verr.msg, head_id, head, now);
    task_facts(&rec, task_id, have_task ? &task : NULL);
    rc = render_timeline(&rec, att, natt);
    if (rc)
        goto cleanup;
    drudge_buf_printf(b,
                      "<p class=\"note\">Each step shows its sequence number, start time, kind, "
                      "name, duration, outcome and, as a bar, when it ran within its attempt. "
                      "Images are the recorded bytes (their SHA-256 is on the chain); "
                      "<code>drudge audit evidence %lld --out DIR</code> writes every payload as "
                      "a file with a manifest. Generated by drudge " DRUDGE_VERSION
                      ".</p>\n</body></html>\n",
                      (long long)task_id);
    if (fwrite(b->data, 1, b->len, out) != b->len)
        rc = drudge_seterr(err, DRUDGE_EIO, "cannot write the case record of task #%lld",
                           (long long)task_id);
cleanup:
    if (in_tx)
        drudge_store_rollback(s); /* nothing was written */
    if (have_task)
        drudge_task_row_clear(&task);
    drudge_attempt_rows_free(att, natt);
    drudge_verify_report_clear(&vr);
    free_nodes(&rec);
    drudge_buf_free(&rec.b);
    return rc;
}

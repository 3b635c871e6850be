/* show.c: drudge audit show TASK: what the robot did for one task, attempt
 * by attempt, as an indented timeline (or JSON). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "logs/audit/audit.h"
#include "drudge/util.h"

static void fmt_duration(int64_t us, char out[32])
{
    if (us < 0)
        snprintf(out, 32, "open");
    else if (us < 1000000)
        snprintf(out, 32, "%.3f ms", (double)us / 1000.0);
    else
        snprintf(out, 32, "%.3f s", (double)us / 1e6);
}

/* The string value of "key" in a flat JSON summary, unescaped enough to
 * read (\" \\ \n \t); appended to b. 0 if absent. */
static int json_field(const char *json, const char *key, drudge_buf *b)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = json ? strstr(json, pat) : NULL;
    if (!p)
        return 0;
    p += strlen(pat);
    if (*p != '"') { /* a number or literal */
        size_t n = strcspn(p, ",}");
        drudge_buf_add(b, p, n);
        return 1;
    }
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            drudge_buf_add(b, *p == 'n' ? "\n" : *p == 't' ? "\t" : p, 1);
        } else {
            drudge_buf_add(b, p, 1);
        }
    }
    return 1;
}

/* For columns that are NOT NULL unless someone changed the schema. */
static const char *or_unknown(const char *s)
{
    return s ? s : "?";
}

static void put_json_field(drudge_buf *b, const char *key, const char *v, int comma)
{
    drudge_buf_printf(b, "%s\"%s\":", comma ? "," : "", key);
    if (v)
        drudge_buf_json_str(b, v, strlen(v));
    else
        drudge_buf_puts(b, "null");
}

/* One step as a timeline line (plus its error on the next). */
static void step_text(drudge_buf *b, const drudge_step *s, int depth)
{
    char when[40], dur[32];
    const char *kind = or_unknown(s->kind), *name = or_unknown(s->name);
    const char *outcome = or_unknown(s->outcome);
    drudge_fmt_time(s->started_us, when);
    fmt_duration(s->duration_us, dur);
    drudge_buf_printf(b, "%*s[%d] %s  %10s  ", 2 * depth + 2, "", s->seq, when + 11, dur);
    if (!strcmp(kind, "log")) {
        drudge_buf_printf(b, "log %s: ", name);
        if (!json_field(s->request, "message", b))
            drudge_buf_puts(b, s->request ? s->request : "");
    } else if (!strcmp(kind, "secret")) {
        drudge_buf_printf(b, "secret %s (value not recorded)", name);
    } else if (!strcmp(kind, "step")) {
        drudge_buf_printf(b, "step \"%s\"  %s", name, outcome);
    } else if (!strcmp(kind, "operator")) {
        /* People's actions span days: the date, then who and what. */
        drudge_buf_printf(b, "%.10s  %s by ", when, name);
        if (!json_field(s->request, "user", b))
            drudge_buf_puts(b, "?");
        drudge_buf_printf(b, "  %s", s->request ? s->request : "");
        if (s->response)
            drudge_buf_printf(b, " -> %s", s->response);
    } else {
        drudge_buf_printf(b, "%s %s  %s", kind, name, outcome);
        drudge_buf status = {0};
        if (json_field(s->response, "status", &status))
            drudge_buf_printf(b, "  status %s", status.data);
        drudge_buf_free(&status);
    }
    drudge_buf_puts(b, "\n");
    if (s->error && *s->error) {
        /* Multi-line errors (tracebacks) stay under their step. */
        drudge_buf_printf(b, "%*serror: ", 2 * depth + 6, "");
        for (const char *p = s->error; *p; p++) {
            drudge_buf_add(b, p, 1);
            if (*p == '\n' && p[1])
                drudge_buf_printf(b, "%*s", 2 * depth + 13, "");
        }
        drudge_buf_puts(b, "\n");
    }
}

static void step_json(drudge_buf *b, const drudge_step_row *r, int first)
{
    const drudge_step *s = &r->step;
    drudge_buf_printf(b, "%s{\"seq\":%d,\"parent\":", first ? "" : ",", s->seq);
    if (s->parent) /* 0 is stored as null */
        drudge_buf_printf(b, "%d", s->parent);
    else
        drudge_buf_puts(b, "null");
    put_json_field(b, "kind", s->kind, 1);
    put_json_field(b, "name", s->name, 1);
    put_json_field(b, "request", s->request, 1);
    put_json_field(b, "response", s->response, 1);
    char when[40];
    drudge_fmt_time(s->started_us, when);
    drudge_buf_printf(b, ",\"started_at\":%lld,\"started\":\"%s\",\"duration_us\":%lld",
                      (long long)s->started_us, when, (long long)s->duration_us);
    put_json_field(b, "outcome", s->outcome, 1);
    put_json_field(b, "error", s->error, 1);
    drudge_buf_printf(b, ",\"id\":%lld", (long long)r->id);
    put_json_field(b, "hash", r->hash, 1);
    drudge_buf_puts(b, "}");
}

/* The timeline being written: the task's attempt rows and its steps (in
 * attempt, then seq order) are merged by attempt number, so an attempt with
 * steps but no row (its outcome never committed) and one with a row but no
 * steps are both shown. */
typedef struct timeline {
    drudge_buf b;
    int json;
    int full;                      /* text: requests and responses too */
    const drudge_attempt_row *att; /* the task's attempt rows, by number */
    size_t natt, next_att;         /* ... and the first not yet shown */
    int attempt;                   /* only this one, or 0 */
    int open, is_open;             /* the attempt being shown, if one is */
    int nattempts, nsteps;         /* shown so far; steps of the open one */
    int *depth;                    /* by seq: the indentation of the open attempt's steps */
    size_t depth_cap;
} timeline;

static void task_head(timeline *t, int64_t id, const drudge_task_row *task)
{
    drudge_buf *b = &t->b;
    if (t->json) {
        drudge_buf_printf(b, "{\"task\":{\"id\":%lld", (long long)id);
        put_json_field(b, "script", task ? task->script : NULL, 1);
        put_json_field(b, "key", task ? task->key : NULL, 1);
        put_json_field(b, "state", task ? task->state : NULL, 1);
        drudge_buf_puts(b, "},\"attempts\":[");
    } else if (task) {
        drudge_buf_printf(b, "task #%lld  %s", (long long)id, or_unknown(task->script));
        if (task->key)
            drudge_buf_printf(b, "  key %s", task->key);
        drudge_buf_printf(b, "  %s after %d attempt%s\n", or_unknown(task->state), task->attempts,
                          task->attempts == 1 ? "" : "s");
    } else {
        drudge_buf_printf(b, "task #%lld  (not in the tasks table)\n", (long long)id);
    }
}

/* An attempt's header; a is its row, or NULL if it has none. */
static void attempt_head(timeline *t, int n, const drudge_attempt_row *a)
{
    drudge_buf *b = &t->b;
    char when[40] = "?", dur[32] = "?";
    if (a) {
        drudge_fmt_time(a->started_at, when);
        fmt_duration(a->ended_at - a->started_at, dur);
    }
    if (t->json) {
        drudge_buf_printf(b, "%s{\"attempt\":%d", t->nattempts ? "," : "", n);
        put_json_field(b, "outcome", a ? a->outcome : NULL, 1);
        put_json_field(b, "worker", a ? a->worker : NULL, 1);
        put_json_field(b, "error", a ? a->error : NULL, 1);
        drudge_buf_puts(b, ",\"steps\":[");
    } else if (n == 0) { /* not an attempt: operator steps (operator.c) */
        drudge_buf_puts(b, "\noperator actions\n");
    } else {
        const char *outcome = a && a->outcome ? a->outcome : "(outcome not committed)";
        drudge_buf_printf(b, "\nattempt %d  %s  started %s  %s", n, outcome, when, dur);
        if (a && a->worker)
            drudge_buf_printf(b, "  worker %s", a->worker);
        drudge_buf_puts(b, "\n");
    }
    t->nattempts++;
    t->open = n;
    t->is_open = 1;
    t->nsteps = 0;
}

static void attempt_end(timeline *t)
{
    if (!t->is_open)
        return;
    if (t->json)
        drudge_buf_puts(&t->b, "]}");
    else if (!t->nsteps)
        drudge_buf_puts(&t->b, "  (no steps recorded)\n");
    t->is_open = 0;
}

/* Shows the attempt rows numbered below `before` that are not shown yet (all
 * with INT_MAX), each without steps, then opens attempt `before` if a row or
 * a step has it. */
static void attempts_until(timeline *t, int before, int has_steps)
{
    attempt_end(t);
    for (; t->next_att < t->natt && t->att[t->next_att].n < before; t->next_att++) {
        const drudge_attempt_row *a = &t->att[t->next_att];
        if (t->attempt && a->n != t->attempt)
            continue;
        attempt_head(t, a->n, a);
        attempt_end(t);
    }
    if (!has_steps)
        return;
    const drudge_attempt_row *a = NULL;
    if (t->next_att < t->natt && t->att[t->next_att].n == before)
        a = &t->att[t->next_att++];
    attempt_head(t, before, a);
}

static int show_step(void *ud, const drudge_step_row *r)
{
    timeline *t = ud;
    const drudge_step *s = &r->step;
    if (!t->is_open || r->attempt != t->open)
        attempts_until(t, r->attempt, 1);
    if (t->json) {
        step_json(&t->b, r, t->nsteps == 0);
    } else {
        if ((size_t)s->seq >= t->depth_cap) {
            size_t cap = (size_t)s->seq * 2 + 16;
            t->depth = drudge_xrealloc(t->depth, cap * sizeof *t->depth);
            memset(t->depth + t->depth_cap, 0, (cap - t->depth_cap) * sizeof *t->depth);
            t->depth_cap = cap;
        }
        int d = s->parent > 0 && s->parent < s->seq ? t->depth[s->parent] + 1 : 0;
        t->depth[s->seq] = d;
        step_text(&t->b, s, d);
        if (t->full) {
            if (s->request)
                drudge_buf_printf(&t->b, "%*srequest:  %s\n", 2 * d + 6, "", s->request);
            if (s->response)
                drudge_buf_printf(&t->b, "%*sresponse: %s\n", 2 * d + 6, "", s->response);
        }
    }
    t->nsteps++;
    return 0;
}

/* The task's row and attempt rows, and its steps, as one snapshot. */
static drudge_code write_timeline(drudge_store *s, timeline *t, int64_t task_id, int *have_task,
                                  drudge_err *err)
{
    drudge_task_row task;
    drudge_attempt_row *att = NULL;
    size_t natt = 0;
    drudge_step_filter f = {.task_id = task_id, .attempt = t->attempt, .by_seq = 1};
    drudge_code rc = drudge_store_begin(s, DRUDGE_TX_READ, err);
    if (rc)
        return rc;
    rc = drudge_store_get(s, task_id, &task, &att, &natt, err);
    *have_task = rc == DRUDGE_OK;
    if (rc && rc != DRUDGE_ENOTFOUND)
        goto cleanup;
    t->att = att;
    t->natt = natt;
    task_head(t, task_id, *have_task ? &task : NULL);
    rc = drudge_store_steps(s, &f, show_step, t, err);
    if (rc)
        goto cleanup;
    attempts_until(t, INT_MAX, 0);
    if (t->json)
        drudge_buf_puts(&t->b, "]}\n");
cleanup:
    drudge_store_rollback(s); /* nothing was written */
    drudge_task_row_clear(&task);
    drudge_attempt_rows_free(att, natt);
    t->att = NULL;
    return rc;
}

drudge_code drudge_audit_show(drudge_store *s, FILE *out, int64_t task_id, int attempt, int json,
                              drudge_err *err)
{
    return drudge_audit_show_ex(s, out, task_id, attempt, json, 0, err);
}

drudge_code drudge_audit_show_ex(drudge_store *s, FILE *out, int64_t task_id, int attempt, int json,
                                 int full, drudge_err *err)
{
    timeline t = {.json = json, .attempt = attempt, .full = full};
    int have_task = 0;
    drudge_code rc = write_timeline(s, &t, task_id, &have_task, err);
    if (rc)
        goto cleanup;
    if (!have_task && !t.nattempts) {
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "no task #%lld in %s", (long long)task_id,
                           drudge_store_name(s));
        goto cleanup;
    }
    if (attempt && !t.nattempts) {
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "task #%lld has no attempt %d",
                           (long long)task_id, attempt);
        goto cleanup;
    }
    fwrite(t.b.data, 1, t.b.len, out);
cleanup:
    free(t.depth);
    drudge_buf_free(&t.b);
    return rc;
}

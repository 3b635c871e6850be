/* waiting.c: why a queued task waits (waiting.h). Decided here, from the
 * task's row and what holds whole scripts, so that `show`, `tasks`,
 * `status` and /metrics say the same thing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "runner/calendar/window.h"
#include "runner/queue/waiting.h"

const char *const drudge_wait_names[DRUDGE_WAIT_N] = {"ready",   "paused",  "breaker",
                                                      "backoff", "not_due", "window"};

int drudge_wait_parse(const char *s)
{
    for (int i = 0; i < DRUDGE_WAIT_N; i++)
        if (!strcmp(s, drudge_wait_names[i]))
            return i;
    return -1;
}

typedef struct paused_script {
    char *script, *by, *reason;
    int64_t at;
} paused_script;

typedef struct open_breaker {
    char *target, *scripts; /* scripts: ",a,b," so that ",name," finds one */
    int64_t probe_at;
} open_breaker;

struct drudge_wait_ctx {
    paused_script *paused; /* by name */
    size_t npaused;
    open_breaker *breakers;
    size_t nbreakers;
};

static int add_paused(void *ud, const drudge_paused_row *p)
{
    drudge_wait_ctx *c = ud;
    c->paused = drudge_xrealloc(c->paused, (c->npaused + 1) * sizeof *c->paused);
    paused_script *ps = &c->paused[c->npaused++];
    ps->script = drudge_xstrdup(p->script);
    ps->by = p->by ? drudge_xstrdup(p->by) : NULL;
    ps->reason = p->reason ? drudge_xstrdup(p->reason) : NULL;
    ps->at = p->at;
    return 0;
}

static int add_breaker(void *ud, const drudge_outage_row *o)
{
    drudge_wait_ctx *c = ud;
    c->breakers = drudge_xrealloc(c->breakers, (c->nbreakers + 1) * sizeof *c->breakers);
    open_breaker *b = &c->breakers[c->nbreakers++];
    b->target = drudge_xstrdup(o->target);
    size_t n = strlen(o->scripts ? o->scripts : "");
    b->scripts = drudge_xmalloc(n + 3);
    snprintf(b->scripts, n + 3, ",%s,", o->scripts ? o->scripts : "");
    b->probe_at = o->probe_at;
    return 0;
}

drudge_code drudge_wait_ctx_load(drudge_store *s, drudge_wait_ctx **out, drudge_err *err)
{
    drudge_wait_ctx *c = drudge_xmalloc(sizeof *c);
    memset(c, 0, sizeof *c);
    drudge_code rc = drudge_store_paused(s, add_paused, c, err);
    if (!rc)
        rc = drudge_store_breakers(s, add_breaker, c, err);
    if (rc) {
        drudge_wait_ctx_free(c);
        c = NULL;
    }
    *out = c;
    return rc;
}

void drudge_wait_ctx_free(drudge_wait_ctx *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->npaused; i++) {
        free(c->paused[i].script);
        free(c->paused[i].by);
        free(c->paused[i].reason);
    }
    free(c->paused);
    for (size_t i = 0; i < c->nbreakers; i++) {
        free(c->breakers[i].target);
        free(c->breakers[i].scripts);
    }
    free(c->breakers);
    free(c);
}

static const paused_script *find_paused(const drudge_wait_ctx *c, const char *script)
{
    for (size_t i = 0; c && i < c->npaused; i++) /* few scripts are paused at once */
        if (!strcmp(c->paused[i].script, script))
            return &c->paused[i];
    return NULL;
}

/* The open circuit breaker holding script's tasks (claims skip every
 * script that uses a down target: runner/store, drudge_store_breaker), or
 * NULL; *until gets when it next lets a probe through. */
static const open_breaker *breaker_of(const drudge_wait_ctx *c, const char *script)
{
    size_t n = strlen(script);
    for (size_t i = 0; c && n && i < c->nbreakers; i++) { /* few targets are down at once */
        const char *p = c->breakers[i].scripts;
        while ((p = strstr(p, script)) != NULL) {
            if (p > c->breakers[i].scripts && p[-1] == ',' && p[n] == ',')
                return &c->breakers[i];
            p++;
        }
    }
    return NULL;
}

static int breaker_holds(const drudge_wait_ctx *c, const char *script, int64_t now, int64_t *until)
{
    (void)now; /* held until a probe gets through, even once probe_at has passed */
    const open_breaker *b = breaker_of(c, script);
    *until = b ? b->probe_at : 0;
    return b != NULL;
}

/* The reason for a task of script with window, due at run_at, that has
 * run before (retried) or not, at now; *until as drudge_wait.until. */
static drudge_wait_reason classify(const drudge_wait_ctx *c, const char *script, const char *window,
                                   int64_t run_at, int retried, int64_t now, int64_t *until)
{
    *until = 0;
    if (find_paused(c, script))
        return DRUDGE_WAIT_PAUSED;
    if (breaker_holds(c, script, now, until))
        return DRUDGE_WAIT_BREAKER;
    if (run_at > now) {
        *until = drudge_window_next_open(window, run_at);
        return retried ? DRUDGE_WAIT_BACKOFF : DRUDGE_WAIT_NOT_DUE;
    }
    if (window && *window && !drudge_window_allows(window, now)) {
        *until = drudge_window_next_open(window, now);
        return DRUDGE_WAIT_WINDOW;
    }
    return DRUDGE_WAIT_READY;
}

void drudge_wait_of(const drudge_wait_ctx *c, const drudge_task_row *t, int64_t now,
                    drudge_wait *out)
{
    memset(out, 0, sizeof *out);
    if (!t->state || strcmp(t->state, "queued") != 0)
        return;
    out->reason = classify(c, t->script, t->window, t->run_at, t->attempts > 0, now, &out->until);
    if (out->reason == DRUDGE_WAIT_PAUSED) {
        const paused_script *p = find_paused(c, t->script);
        out->since = p->at;
        snprintf(out->by, sizeof out->by, "%s", p->by ? p->by : "");
        snprintf(out->note, sizeof out->note, "%s", p->reason ? p->reason : "");
    } else if (out->reason == DRUDGE_WAIT_BREAKER) {
        snprintf(out->note, sizeof out->note, "%s", breaker_of(c, t->script)->target);
    } else if (t->window) {
        snprintf(out->note, sizeof out->note, "%s", t->window);
    }
}

/* "until 2026-12-07 08:00:00Z", or why there is no until. */
static void fmt_until(int64_t until, char *out, size_t n)
{
    char ts[40];
    if (until < 0) {
        snprintf(out, n, "; it does not open in the next 8 days");
        return;
    }
    drudge_fmt_time(until, ts);
    ts[19] = '\0'; /* to the second */
    snprintf(out, n, " until %sZ", ts);
}

void drudge_wait_describe(const drudge_wait *w, char *out, size_t n)
{
    char until[80] = "", since[40];
    if (w->reason != DRUDGE_WAIT_PAUSED && w->until)
        fmt_until(w->until, until, sizeof until);
    switch (w->reason) {
    case DRUDGE_WAIT_READY:
        snprintf(out, n, "ready: a worker may claim it now");
        break;
    case DRUDGE_WAIT_PAUSED:
        drudge_fmt_time(w->since, since);
        since[19] = '\0';
        if (*w->by)
            snprintf(out, n, "its script is paused, by %s since %sZ (drudge resume)", w->by, since);
        else
            snprintf(out, n,
                     "its script was paused by a worker since %sZ: %s (fix it, then "
                     "drudge resume)",
                     since, w->note);
        break;
    case DRUDGE_WAIT_BREAKER:
        snprintf(out, n, "held by the open circuit breaker of %s (drudge outages); next probe%s",
                 w->note, until);
        break;
    case DRUDGE_WAIT_BACKOFF:
        snprintf(out, n, "waiting to be retried%s", until);
        break;
    case DRUDGE_WAIT_NOT_DUE:
        snprintf(out, n, "not due yet%s", until);
        break;
    case DRUDGE_WAIT_WINDOW:
        snprintf(out, n, "outside its run window (%s)%s", w->note, until);
        break;
    default:
        snprintf(out, n, "?");
    }
}

/* ---- counts ---- */

static int by_script(const void *a, const void *b)
{
    return strcmp(((const drudge_wait_counts *)a)->script, ((const drudge_wait_counts *)b)->script);
}

typedef struct wait_scan {
    drudge_wait_stats *out;
    const drudge_wait_ctx *ctx;
    int64_t now;
} wait_scan;

static drudge_wait_counts *counts_for(drudge_wait_stats *st, const char *script)
{
    for (size_t i = 0; i < st->n; i++)
        if (!strcmp(st->scripts[i].script, script))
            return &st->scripts[i];
    st->scripts = drudge_xrealloc(st->scripts, (st->n + 1) * sizeof *st->scripts);
    drudge_wait_counts *c = &st->scripts[st->n++];
    memset(c, 0, sizeof *c);
    c->script = drudge_xstrdup(script);
    return c;
}

static void earliest(int64_t *slot, int64_t t)
{
    if (t > 0 && (!*slot || t < *slot))
        *slot = t;
}

static int add_group(void *ud, const drudge_waiting_group *g)
{
    wait_scan *w = ud;
    drudge_wait_counts *c = counts_for(w->out, g->script);
    int64_t until = 0;
    drudge_wait_reason r = classify(w->ctx, g->script, g->window, g->later ? g->min_run_at : 0,
                                    g->retried, w->now, &until);
    c->count[r] += g->count;
    earliest(&c->next_until[r], until);
    if (r == DRUDGE_WAIT_READY) {
        /* Claimable since its run_at, or since its window opened. */
        int64_t opened = drudge_window_opened_at(g->window, w->now);
        earliest(&c->ready_since, opened > g->min_run_at ? opened : g->min_run_at);
    } else if (!g->later) {
        earliest(&c->held_due_since[r], g->min_run_at);
    }
    return 0;
}

static void add_to_total(drudge_wait_counts *t, const drudge_wait_counts *c)
{
    for (int r = 0; r < DRUDGE_WAIT_N; r++) {
        t->count[r] += c->count[r];
        earliest(&t->held_due_since[r], c->held_due_since[r]);
        earliest(&t->next_until[r], c->next_until[r]);
    }
    earliest(&t->ready_since, c->ready_since);
}

drudge_code drudge_queue_waiting(drudge_store *s, int64_t now, const char *script,
                                 drudge_wait_stats *out, drudge_err *err)
{
    drudge_wait_ctx *ctx = NULL;
    memset(out, 0, sizeof *out);
    drudge_code rc = drudge_wait_ctx_load(s, &ctx, err);
    if (rc)
        return rc;
    /* A group's run_at decides nothing once due: classify it as due now. */
    wait_scan w = {.out = out, .ctx = ctx, .now = now};
    rc = drudge_store_waiting(s, now, script, add_group, &w, err);
    drudge_wait_ctx_free(ctx);
    if (rc) {
        drudge_wait_stats_clear(out);
        return rc;
    }
    if (out->n > 1) /* qsort may not be given NULL, even for no elements */
        qsort(out->scripts, out->n, sizeof *out->scripts, by_script);
    for (size_t i = 0; i < out->n; i++)
        add_to_total(&out->total, &out->scripts[i]);
    return DRUDGE_OK;
}

void drudge_wait_stats_clear(drudge_wait_stats *st)
{
    for (size_t i = 0; i < st->n; i++)
        free(st->scripts[i].script);
    free(st->scripts);
    memset(st, 0, sizeof *st);
}

const drudge_wait_counts *drudge_wait_stats_find(const drudge_wait_stats *st, const char *script)
{
    drudge_wait_counts key = {.script = (char *)script};
    return st->n ? bsearch(&key, st->scripts, st->n, sizeof key, by_script) : NULL;
}

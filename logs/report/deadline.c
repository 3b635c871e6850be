/* deadline.c: met, at risk and missed deadlines, and why (the definitions
 * are in deadline.h and the README). The store reads the tasks with a
 * deadline and the outage each falls in; the rules are here, once, for
 * status, show, tasks, the report and the metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "logs/report/deadline.h"

const char *const drudge_deadline_why_names[DRUDGE_WHY_N] = {"", "outage", "failure", "queue"};

const char *drudge_deadline_status_name(drudge_deadline_status st)
{
    static const char *const names[] = {"pending", "met", "at_risk", "missed"};
    return names[st];
}

static int is_exception(const char *state)
{
    return state && (!strcmp(state, "failed") || !strcmp(state, "dead"));
}

drudge_deadline_status drudge_deadline_classify(const drudge_deadline_row *r, int64_t now,
                                                drudge_deadline_why *why)
{
    *why = DRUDGE_WHY_NONE;
    int done = r->state && !strcmp(r->state, "done");
    int64_t met_at = done ? r->finished_at : r->resolved_at;
    drudge_deadline_status st;
    if (met_at)
        st = met_at <= r->deadline ? DRUDGE_DL_MET : DRUDGE_DL_MISSED;
    else if (now > r->deadline)
        st = DRUDGE_DL_MISSED;
    else if (r->deadline <= now + DRUDGE_DEADLINE_HORIZON || is_exception(r->state))
        st = DRUDGE_DL_AT_RISK;
    else
        st = DRUDGE_DL_PENDING;
    if (st == DRUDGE_DL_MISSED || st == DRUDGE_DL_AT_RISK)
        *why = r->outage_target                         ? DRUDGE_WHY_OUTAGE
               : is_exception(r->state) || r->spent > 0 ? DRUDGE_WHY_FAILURE
                                                        : DRUDGE_WHY_QUEUE;
    return st;
}

static void count(drudge_deadline_counts *c, drudge_deadline_status st, drudge_deadline_why why)
{
    c->total++;
    switch (st) {
    case DRUDGE_DL_MET:
        c->met++;
        break;
    case DRUDGE_DL_PENDING:
        c->pending++;
        break;
    case DRUDGE_DL_AT_RISK:
        c->at_risk++;
        c->at_risk_by[why]++;
        break;
    case DRUDGE_DL_MISSED:
        c->missed++;
        c->missed_by[why]++;
        break;
    }
}

typedef struct summing {
    drudge_deadline_summary *d;
    int64_t now;
    size_t cap;
} summing;

static drudge_deadline_counts *script_counts(summing *sm, const char *script)
{
    drudge_deadline_summary *d = sm->d;
    for (size_t i = 0; i < d->nscripts; i++)
        if (!strncmp(d->scripts[i].script, script, sizeof d->scripts[i].script - 1))
            return &d->scripts[i];
    if (d->nscripts == sm->cap) {
        sm->cap = sm->cap ? sm->cap * 2 : 8;
        d->scripts = drudge_xrealloc(d->scripts, sm->cap * sizeof *d->scripts);
    }
    drudge_deadline_counts *c = &d->scripts[d->nscripts++];
    memset(c, 0, sizeof *c);
    snprintf(c->script, sizeof c->script, "%s", script);
    return c;
}

/* Adds target to the comma-separated list unless it is there already. */
static void note_target(drudge_deadline_summary *d, const char *target)
{
    size_t tl = strlen(target), len = strlen(d->outage_targets);
    for (const char *p = d->outage_targets; *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == tl && !memcmp(p, target, n))
            return;
        p += n + (e ? 1 : 0);
    }
    if (len + tl + 2 < sizeof d->outage_targets)
        snprintf(d->outage_targets + len, sizeof d->outage_targets - len, "%s%s", len ? "," : "",
                 target);
}

static int add_row(void *ud, const drudge_deadline_row *r)
{
    summing *sm = ud;
    drudge_deadline_why why;
    drudge_deadline_status st = drudge_deadline_classify(r, sm->now, &why);
    count(&sm->d->all, st, why);
    count(script_counts(sm, r->script), st, why);
    if (st == DRUDGE_DL_MISSED && why == DRUDGE_WHY_OUTAGE)
        note_target(sm->d, r->outage_target);
    return 0;
}

static int by_script(const void *a, const void *b)
{
    return strcmp(((const drudge_deadline_counts *)a)->script,
                  ((const drudge_deadline_counts *)b)->script);
}

drudge_code drudge_deadline_summarize(drudge_store *s, int64_t now, int64_t since, int64_t until,
                                      drudge_deadline_summary *out, drudge_err *err)
{
    memset(out, 0, sizeof *out);
    summing sm = {.d = out, .now = now};
    drudge_deadline_query dq = {.now = now, .since = since, .until = until};
    drudge_code rc = drudge_store_deadlines(s, &dq, add_row, &sm, err);
    if (rc) {
        drudge_deadline_summary_clear(out);
        return rc;
    }
    if (out->nscripts > 1)
        qsort(out->scripts, out->nscripts, sizeof *out->scripts, by_script);
    return DRUDGE_OK;
}

void drudge_deadline_summary_clear(drudge_deadline_summary *d)
{
    free(d->scripts);
    memset(d, 0, sizeof *d);
}

typedef struct one_task {
    int64_t now;
    int found;
    drudge_deadline_status st;
    drudge_deadline_why why;
    char *target;
    size_t n;
} one_task;

static int one_row(void *ud, const drudge_deadline_row *r)
{
    one_task *o = ud;
    o->st = drudge_deadline_classify(r, o->now, &o->why);
    snprintf(o->target, o->n, "%s", r->outage_target ? r->outage_target : "");
    o->found = 1;
    return 1;
}

int drudge_deadline_of_task(drudge_store *s, const drudge_task_row *t, int64_t now,
                            drudge_deadline_status *st, drudge_deadline_why *why, char *target,
                            size_t n)
{
    one_task o = {.now = now, .target = target, .n = n};
    *st = DRUDGE_DL_PENDING;
    *why = DRUDGE_WHY_NONE;
    if (n)
        *target = 0;
    if (!t->deadline || !t->state || !strcmp(t->state, "cancelled"))
        return 0;
    drudge_deadline_query dq = {.now = now, .since = t->deadline, .task_id = t->id};
    drudge_err err = {0};
    if (drudge_store_deadlines(s, &dq, one_row, &o, &err) || !o.found)
        return 0;
    *st = o.st;
    *why = o.why;
    return 1;
}

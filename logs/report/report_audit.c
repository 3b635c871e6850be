/*
 * report_audit.c: what the report says about the audit trail besides the
 * figures: whether the chain verified when the report was made, its head
 * then, and the period's exceptions (failed and dead tasks) with their
 * errors and how people resolved them, so the report an auditor is handed
 * carries the same evidence as `drudge audit verify` and `drudge tasks`.
 */
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "logs/audit/audit.h"
#include "logs/report/report.h"

/* The newest tasks of each exception state looked at: a period's
 * exceptions beyond the newest few thousand are counted, not listed. */
#define SCAN_PER_STATE 5000

static char *dup_or_null(const char *s)
{
    return s ? drudge_xstrdup(s) : NULL;
}

static int by_finish_desc(const void *a, const void *b)
{
    const drudge_report_exception *x = a, *y = b;
    if (x->finished_at != y->finished_at)
        return x->finished_at > y->finished_at ? -1 : 1;
    return x->id > y->id ? -1 : x->id < y->id;
}

static void exception_clear(drudge_report_exception *e)
{
    free(e->script);
    free(e->state);
    free(e->key);
    free(e->error);
    free(e->resolved_by);
    free(e->resolved_note);
}

/* The period's failed and dead tasks (of the report's script), newest first. */
static drudge_code read_exceptions(drudge_store *s, drudge_report *r, drudge_err *err)
{
    static const char *const states[] = {"failed", "dead"};
    drudge_report_exception *v = NULL;
    size_t n = 0;
    drudge_code rc = DRUDGE_OK;
    for (size_t k = 0; k < 2 && !rc; k++) {
        drudge_task_filter f = {
            .state = states[k], .script = r->opts.script, .limit = SCAN_PER_STATE};
        drudge_task_row *rows = NULL;
        size_t nrows = 0;
        rc = drudge_store_list(s, &f, &rows, &nrows, err);
        for (size_t i = 0; i < nrows && !rc; i++) {
            const drudge_task_row *t = &rows[i];
            if (t->finished_at < r->opts.since || t->finished_at >= r->opts.until)
                continue;
            v = drudge_xrealloc(v, (n + 1) * sizeof *v);
            v[n++] = (drudge_report_exception){
                .id = t->id,
                .finished_at = t->finished_at,
                .resolved_at = t->resolved_at,
                .script = dup_or_null(t->script),
                .state = dup_or_null(t->state),
                .key = dup_or_null(t->key),
                .error = dup_or_null(t->error),
                .resolved_by = dup_or_null(t->resolved_by),
                .resolved_note = dup_or_null(t->resolved_note),
            };
        }
        drudge_task_rows_free(rows, nrows);
    }
    if (n)
        qsort(v, n, sizeof *v, by_finish_desc);
    while (n > DRUDGE_REPORT_MAX_EXCEPTIONS)
        exception_clear(&v[--n]);
    r->exceptions = v;
    r->nexceptions = n;
    r->exceptions_total = r->total.f.failed + r->total.f.dead;
    return rc;
}

drudge_code drudge_report_audit(drudge_store *s, drudge_report *r, drudge_err *err)
{
    drudge_verify_report vr;
    drudge_err verr = {0};
    drudge_report_trail *tr = &r->trail;
    drudge_report_audit_clear(r);
    /* The chain as a whole, in its own snapshot; then the head and the
     * exceptions in one more. */
    drudge_code vrc = drudge_audit_verify(s, NULL, &vr, &verr);
    tr->checked = 1;
    tr->verified = vrc == DRUDGE_OK && !vr.problems;
    tr->problems = vr.problems;
    tr->rows = vr.rows;
    if (vrc == DRUDGE_ETAMPER)
        tr->problem_text = dup_or_null(vr.text);
    else if (vrc)
        tr->problem_text = drudge_xstrdup(verr.msg);
    drudge_verify_report_clear(&vr);
    drudge_code rc = drudge_store_begin(s, DRUDGE_TX_READ, err);
    if (rc)
        return rc;
    rc = drudge_store_chain_head(s, &tr->head_id, tr->head, err);
    if (!rc)
        rc = read_exceptions(s, r, err);
    drudge_store_rollback(s); /* nothing was written */
    return rc;
}

void drudge_report_audit_clear(drudge_report *r)
{
    for (size_t i = 0; i < r->nexceptions; i++)
        exception_clear(&r->exceptions[i]);
    free(r->exceptions);
    free(r->trail.problem_text);
    r->exceptions = NULL;
    r->nexceptions = 0;
    memset(&r->trail, 0, sizeof r->trail);
}

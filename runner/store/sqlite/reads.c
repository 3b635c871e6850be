/* reads.c: what the time-saved report, `status --watch` and /metrics read
 * from the SQLite backend. */
#include "runner/store/sqlite/sqliteint.h"

/* ---- not yet moved here (the readers still use their own SQL) ---- */

static drudge_code todo(drudge_store *s, const char *op, drudge_err *err)
{
    return drudge_seterr(err, DRUDGE_EDB, "database %s: %s: not implemented in the SQLite store",
                         drudge_store_name(s), op);
}

drudge_code sq_finished(drudge_store *s, const char *script,
                        int (*fn)(void *ud, const drudge_finished_row *t), void *ud,
                        drudge_err *err)
{
    (void)script, (void)fn, (void)ud;
    return todo(s, "finished", err);
}

drudge_code sq_attempt_times(drudge_store *s, int (*fn)(void *ud, int64_t task_id, int64_t us),
                             void *ud, drudge_err *err)
{
    (void)fn, (void)ud;
    return todo(s, "attempt_times", err);
}

drudge_code sq_backlog(drudge_store *s, const char *script,
                       int (*fn)(void *ud, const char *script, int64_t queued, int64_t running),
                       void *ud, drudge_err *err)
{
    (void)script, (void)fn, (void)ud;
    return todo(s, "backlog", err);
}

drudge_code sq_backlogs(drudge_store *s, int64_t now, int64_t rate_window, int64_t recent,
                        drudge_backlog_row *rows, int max, int *n, int *workers,
                        drudge_err *err)
{
    (void)now, (void)rate_window, (void)recent, (void)rows, (void)max, (void)n, (void)workers;
    return todo(s, "backlogs", err);
}

drudge_code sq_metrics(drudge_store *s, int64_t now, drudge_metrics_data *out, drudge_err *err)
{
    (void)now, (void)out;
    return todo(s, "metrics", err);
}

/* report.c: what the time-saved report reads from the SQLite backend. */
#include "runner/store/sqlite/sqliteint.h"

/* ---- not yet moved here (logs/report/report.c still has its own SQL) ---- */

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

/* reads.c: what `status --watch` and /metrics read from the SQLite backend. */
#include "runner/store/sqlite/sqliteint.h"

/* ---- not yet moved here (the readers still use their own SQL) ---- */

static drudge_code todo(drudge_store *s, const char *op, drudge_err *err)
{
    return drudge_seterr(err, DRUDGE_EDB, "database %s: %s: not implemented in the SQLite store",
                         drudge_store_name(s), op);
}

drudge_code sq_backlogs(drudge_store *s, int64_t now, int64_t rate_window, int64_t recent,
                        drudge_backlog_row *rows, int max, int *n, int *workers, drudge_err *err)
{
    (void)now, (void)rate_window, (void)recent, (void)rows, (void)max, (void)n, (void)workers;
    return todo(s, "backlogs", err);
}

drudge_code sq_metrics(drudge_store *s, int64_t now, drudge_metrics_data *out, drudge_err *err)
{
    (void)now, (void)out;
    return todo(s, "metrics", err);
}

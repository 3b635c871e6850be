/* waiting.c: the PostgreSQL backend's reads for why queued tasks wait, as
 * SQLite's (runner/store/sqlite/waiting.c). Queued tasks that are not
 * running are exactly the rows of `ready`, which says whether each waits
 * for a retry (schema v15): reading tasks too took 4.8 s of a status at
 * 1,000,000 queued. */
#include <string.h>
#include "runner/store/pg/pgint.h"

static const char *text_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

drudge_code pg_paused(drudge_store *s, int (*fn)(void *ud, const drudge_paused_row *p), void *ud,
                      drudge_err *err)
{
    static const char sql[] =
        "SELECT script, paused_by, reason, paused_at FROM paused ORDER BY script";
    PGresult *r = pg_q(pgs(s), sql, NULL, "reading paused scripts", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    for (int i = 0; i < PQntuples(r); i++) {
        drudge_paused_row p = {.script = pg_text(r, i, 0),
                               .by = text_or_null(r, i, 1),
                               .reason = text_or_null(r, i, 2),
                               .at = pg_i64(r, i, 3)};
        if (fn(ud, &p))
            break;
    }
    PQclear(r);
    return DRUDGE_OK;
}

drudge_code pg_waiting(drudge_store *s, int64_t now, const char *script,
                       int (*fn)(void *ud, const drudge_waiting_group *g), void *ud,
                       drudge_err *err)
{
    static const char sql[] =
        "SELECT script, \"window\", (run_at > $1)::integer, (run_at > $1 AND retried)::integer, "
        "count(*), min(run_at) FROM ready WHERE ($2::text IS NULL OR script = $2) "
        "GROUP BY 1, 2, 3, 4";
    pg_params p = {0};
    pg_p_int(&p, now);
    pg_p_str(&p, script);
    PGresult *r = pg_q(pgs(s), sql, &p, "reading the queue", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    for (int i = 0; i < PQntuples(r); i++) {
        drudge_waiting_group g = {.script = pg_text(r, i, 0),
                                  .window = text_or_null(r, i, 1),
                                  .later = (int)pg_i64(r, i, 2),
                                  .retried = (int)pg_i64(r, i, 3),
                                  .count = pg_i64(r, i, 4),
                                  .min_run_at = pg_i64(r, i, 5)};
        if (fn(ud, &g))
            break;
    }
    PQclear(r);
    return DRUDGE_OK;
}

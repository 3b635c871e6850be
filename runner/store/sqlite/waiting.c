/* waiting.c: the SQLite backend's reads for why queued tasks wait: the
 * paused scripts and the queued tasks grouped by what decides whether a
 * claim may take them (runner/queue/waiting.c explains each group). */
#include "runner/store/sqlite/sqliteint.h"

drudge_code sq_paused(drudge_store *s, int (*fn)(void *ud, const drudge_paused_row *p), void *ud,
                      drudge_err *err)
{
    static const char sql[] =
        "SELECT script, paused_by, reason, paused_at FROM paused ORDER BY script";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "reading paused scripts", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    int r;
    for (r = sqlite3_step(st); r == SQLITE_ROW; r = sqlite3_step(st)) {
        drudge_paused_row p = {.script = sq_col_text(st, 0),
                               .by = (const char *)sqlite3_column_text(st, 1),
                               .reason = (const char *)sqlite3_column_text(st, 2),
                               .at = sqlite3_column_int64(st, 3)};
        if (fn(ud, &p)) {
            r = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    return r == SQLITE_DONE ? DRUDGE_OK : sq_err(q, "reading paused scripts", err);
}

/* Queued tasks are in the partial index tasks_due, or in tasks_later until
 * a claim moves them (later = 1 is set when a task was written not due, so
 * run_at, not later, says whether it is due now). Running tasks keep their
 * queued rows and are left out. */
#define WAITING_FROM(INDEX, LATER)                                                                 \
    "SELECT script, window, run_at > ?1 AS l, run_at > ?1 AND attempts > 0 AS r, run_at "          \
    "FROM tasks t INDEXED BY " INDEX " WHERE state = 'queued' AND later = " LATER                  \
    " AND (?2 IS NULL OR script = ?2) AND NOT EXISTS (SELECT 1 FROM running WHERE task_id = t.id)"

drudge_code sq_waiting(drudge_store *s, int64_t now, const char *script,
                       int (*fn)(void *ud, const drudge_waiting_group *g), void *ud,
                       drudge_err *err)
{
    static const char sql[] =
        "SELECT script, window, l, r, count(*), min(run_at) FROM (" WAITING_FROM(
            "tasks_due", "0") " UNION ALL " WAITING_FROM("tasks_later",
                                                         "1") ") GROUP BY script, window, l, r";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "reading the queue", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, now);
    sq_bind_text(st, 2, script);
    int r;
    for (r = sqlite3_step(st); r == SQLITE_ROW; r = sqlite3_step(st)) {
        drudge_waiting_group g = {.script = sq_col_text(st, 0),
                                  .window = (const char *)sqlite3_column_text(st, 1),
                                  .later = sqlite3_column_int(st, 2),
                                  .retried = sqlite3_column_int(st, 3),
                                  .count = sqlite3_column_int64(st, 4),
                                  .min_run_at = sqlite3_column_int64(st, 5)};
        if (fn(ud, &g)) {
            r = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    return r == SQLITE_DONE ? DRUDGE_OK : sq_err(q, "reading the queue", err);
}

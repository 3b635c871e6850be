/* report.c: what the time-saved report reads from the SQLite backend. Each
 * operation is one sequential scan handed row by row to the caller, who sums
 * in C: sorting and joining in SQL instead was 5 to 10 times slower on a
 * million tasks (logs/report/report.c). */
#include "runner/store/sqlite/sqliteint.h"

/* The finished tasks: for all scripts a table scan (the (state, script)
 * index would only add a lookup per row); for one, as the planner sees fit.
 * The caller applies any time range: the 7-day completion rate needs the
 * tasks outside it too. The states are tested one by one: SQLite makes an
 * IN list of constants a temporary index and probes it for every row,
 * which cost a million-task report a twentieth of its time. */
#define FINISHED_SQL(from, cond)                                                                   \
    "SELECT id, script, state, finished_at, manual_minutes, exception_minutes FROM " from          \
    " WHERE (state = 'done' OR state = 'failed' OR state = 'dead')"                                \
    " AND finished_at IS NOT NULL" cond
static const char finished_all_sql[] = FINISHED_SQL("tasks NOT INDEXED", "");
static const char finished_script_sql[] = FINISHED_SQL("tasks", " AND script = ?1");

static const char attempt_times_sql[] = "SELECT task_id, ended_at - started_at FROM attempts";

/* Here the IN list stays: task_state's state is an expression (a claimed
 * task's row still says queued), which each equality would compute again. */
static const char backlog_sql[] =
    "SELECT script, SUM(state = 'queued'), SUM(state = 'running') FROM task_state"
    " WHERE state IN ('queued','running') AND (?1 IS NULL OR script = ?1) GROUP BY script";

/* Each scan prepares its own statement (not the cache's), as the chain walks
 * do, so that a callback may use the store meanwhile. */
static sqlite3_stmt *prepare(sq_store *q, const char *sql, const char *what, drudge_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK) {
        sq_err(q, what, err);
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* The end of a scan that stepped to r (SQLITE_ROW when a callback stopped it). */
static drudge_code scan_end(sq_store *q, sqlite3_stmt *st, int r, const char *what, drudge_err *err)
{
    drudge_code rc = r == SQLITE_ROW || r == SQLITE_DONE ? DRUDGE_OK : sq_err(q, what, err);
    sqlite3_finalize(st);
    return rc;
}

drudge_code sq_finished(drudge_store *s, const char *script,
                        int (*fn)(void *ud, const drudge_finished_row *t), void *ud,
                        drudge_err *err)
{
    static const char what[] = "reading finished tasks";
    sq_store *q = sq(s);
    sqlite3_stmt *st = prepare(q, script ? finished_script_sql : finished_all_sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    if (script)
        sqlite3_bind_text(st, 1, script, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    while (r == SQLITE_ROW) {
        /* script and state are NOT NULL; sq_col_text's call per column
         * would be a measurable part of a million rows' cost. */
        const char *name = (const char *)sqlite3_column_text(st, 1);
        const char *state = (const char *)sqlite3_column_text(st, 2);
        drudge_finished_row t = {
            .id = sqlite3_column_int64(st, 0),
            .script = name ? name : "",
            .state = state ? state : "",
            .finished_at = sqlite3_column_int64(st, 3),
            .manual_minutes = sqlite3_column_double(st, 4),
            .exception_minutes = sqlite3_column_double(st, 5),
        };
        if (fn(ud, &t))
            break;
        r = sqlite3_step(st);
    }
    return scan_end(q, st, r, what, err);
}

drudge_code sq_attempt_times(drudge_store *s, int (*fn)(void *ud, int64_t task_id, int64_t us),
                             void *ud, drudge_err *err)
{
    static const char what[] = "reading attempt times";
    sq_store *q = sq(s);
    sqlite3_stmt *st = prepare(q, attempt_times_sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    int r = sqlite3_step(st);
    while (r == SQLITE_ROW) {
        if (fn(ud, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1)))
            break;
        r = sqlite3_step(st);
    }
    return scan_end(q, st, r, what, err);
}

drudge_code sq_backlog(drudge_store *s, const char *script,
                       int (*fn)(void *ud, const char *script, int64_t queued, int64_t running),
                       void *ud, drudge_err *err)
{
    static const char what[] = "reading the backlog";
    sq_store *q = sq(s);
    sqlite3_stmt *st = prepare(q, backlog_sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sq_bind_text(st, 1, script);
    int r = sqlite3_step(st);
    while (r == SQLITE_ROW) {
        if (fn(ud, sq_col_text(st, 0), sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2)))
            break;
        r = sqlite3_step(st);
    }
    return scan_end(q, st, r, what, err);
}

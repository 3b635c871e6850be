/* deadline.c: the SQLite backend's reading of tasks with a deadline (schema
 * v12), for the at-risk and missed counts. Only tasks with a deadline are
 * read, through tasks_deadline; the outage a missed deadline is attributed
 * to is looked up per row among the outages of the task's script's targets
 * (few rows: an outage per opening). */
#include "runner/store/sqlite/sqliteint.h"

/* ?1 now, ?2 since, ?3 until (NULL: no end), ?4 task id (NULL: any). The
 * outage is the one open at the deadline, or now if that comes first. */
static const char deadlines_sql[] =
    "SELECT t.id, t.script, CASE WHEN r.task_id IS NULL THEN t.state ELSE 'running' END, "
    "t.deadline, coalesce(t.finished_at, 0), coalesce(t.resolved_at, 0), t.spent, "
    "(SELECT o.target FROM outages o JOIN script_targets st ON st.target = o.target "
    "  AND st.script = t.script WHERE o.started_at <= min(t.deadline, ?1) "
    "  AND coalesce(o.ended_at, ?1) >= min(t.deadline, ?1) ORDER BY o.started_at LIMIT 1) "
    "FROM tasks t INDEXED BY tasks_deadline LEFT JOIN running r ON r.task_id = t.id "
    "WHERE t.deadline IS NOT NULL AND t.deadline >= ?2 AND (?3 IS NULL OR t.deadline <= ?3) "
    "AND (?4 IS NULL OR t.id = ?4) AND t.state <> 'cancelled' ORDER BY t.deadline, t.id";

drudge_code sq_deadlines(drudge_store *s, const drudge_deadline_query *dq,
                         int (*fn)(void *ud, const drudge_deadline_row *r), void *ud,
                         drudge_err *err)
{
    const char *what = "reading deadlines";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, deadlines_sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, dq->now);
    sqlite3_bind_int64(st, 2, dq->since);
    if (dq->until)
        sqlite3_bind_int64(st, 3, dq->until);
    else
        sqlite3_bind_null(st, 3);
    if (dq->task_id)
        sqlite3_bind_int64(st, 4, dq->task_id);
    else
        sqlite3_bind_null(st, 4);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        drudge_deadline_row row = {
            .id = sqlite3_column_int64(st, 0),
            .script = (const char *)sqlite3_column_text(st, 1),
            .state = (const char *)sqlite3_column_text(st, 2),
            .deadline = sqlite3_column_int64(st, 3),
            .finished_at = sqlite3_column_int64(st, 4),
            .resolved_at = sqlite3_column_int64(st, 5),
            .spent = sqlite3_column_int(st, 6),
            .outage_target = (const char *)sqlite3_column_text(st, 7),
        };
        if (fn(ud, &row)) {
            r = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    return r == SQLITE_DONE ? DRUDGE_OK : sq_err(q, what, err);
}

/* deadline.c: the PostgreSQL backend's reading of tasks with a deadline
 * (schema v9), as SQLite's: only tasks with one, through tasks_deadline,
 * each with the outage (if any) it is attributed to. */
#include "runner/store/pg/pgint.h"

/* $1 now, $2 since, $3 until (NULL: no end), $4 task id (NULL: any). */
static const char deadlines_sql[] =
    "SELECT t.id, t.script, CASE WHEN r.task_id IS NULL THEN t.state ELSE 'running' END, "
    "t.deadline, coalesce(t.finished_at, 0), coalesce(t.resolved_at, 0), t.spent, "
    "(SELECT o.target FROM outages o JOIN script_targets st ON st.target = o.target "
    "  AND st.script = t.script WHERE o.started_at <= least(t.deadline, $1::bigint) "
    "  AND coalesce(o.ended_at, $1::bigint) >= least(t.deadline, $1::bigint) "
    "  ORDER BY o.started_at LIMIT 1) "
    "FROM tasks t LEFT JOIN running r ON r.task_id = t.id "
    "WHERE t.deadline IS NOT NULL AND t.deadline >= $2::bigint "
    "AND ($3::bigint IS NULL OR t.deadline <= $3::bigint) "
    "AND ($4::bigint IS NULL OR t.id = $4::bigint) AND t.state <> 'cancelled' "
    "ORDER BY t.deadline, t.id";

drudge_code pg_deadlines(drudge_store *s, const drudge_deadline_query *dq,
                         int (*fn)(void *ud, const drudge_deadline_row *r), void *ud,
                         drudge_err *err)
{
    pg_params p = {0};
    pg_p_int(&p, dq->now);
    pg_p_int(&p, dq->since);
    pg_p_int_or_null(&p, dq->until);
    pg_p_int_or_null(&p, dq->task_id);
    PGresult *r = pg_q(pgs(s), deadlines_sql, &p, "reading deadlines", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    for (int i = 0; i < PQntuples(r); i++) {
        drudge_deadline_row row = {
            .id = pg_i64(r, i, 0),
            .script = pg_text(r, i, 1),
            .state = pg_text(r, i, 2),
            .deadline = pg_i64(r, i, 3),
            .finished_at = pg_i64(r, i, 4),
            .resolved_at = pg_i64(r, i, 5),
            .spent = (int)pg_i64(r, i, 6),
            .outage_target = PQgetisnull(r, i, 7) ? NULL : pg_text(r, i, 7),
        };
        if (fn(ud, &row))
            break;
    }
    PQclear(r);
    return DRUDGE_OK;
}

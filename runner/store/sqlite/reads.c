/* reads.c: what `status --watch` and /metrics read from the SQLite backend.
 *
 * Both read the whole tasks table, so each is written to scan it as few
 * times as it can: the live view once to find where each script's backlog
 * starts and once to count it (not once per script), metrics once for all
 * its per-script numbers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "runner/store/sqlite/sqliteint.h"

/* Calls fn for each row of st (prepared and bound), then resets st. */
static drudge_code each_row(sq_store *q, sqlite3_stmt *st, const char *what,
                            void (*fn)(void *ud, sqlite3_stmt *st), void *ud, drudge_err *err)
{
    int r = sqlite3_step(st);
    while (r == SQLITE_ROW) {
        fn(ud, st);
        r = sqlite3_step(st);
    }
    sqlite3_reset(st);
    return r == SQLITE_DONE ? DRUDGE_OK : sq_err(q, what, err);
}

/* ---- the live view: each script's current backlog ---- */

/* Where each backlog starts. A running task keeps the state 'queued' in its
 * row, so 'queued' here means open; a script with none open starts at the
 * oldest of its tasks finished since ?1, which is what the WHERE leaves. */
static const char backlog_start_sql[] =
    "SELECT script, coalesce(min(CASE WHEN state = 'queued' THEN created_at END), "
    "min(created_at)), EXISTS (SELECT 1 FROM paused p WHERE p.script = tasks.script) "
    "FROM tasks WHERE state = 'queued' OR finished_at >= ?1 "
    "GROUP BY script ORDER BY script LIMIT ?2";
/* Every task that may be in a backlog, added up per script in C: grouping
 * in SQL would sort them all, and joining the backlogs to the tasks would
 * scan the tasks once per script. */
static const char backlog_tasks_sql[] =
    "SELECT t.script, t.created_at, r.task_id IS NOT NULL, t.state, t.attempts > 0, "
    "coalesce(t.finished_at >= ?2, 0) FROM tasks t LEFT JOIN running r ON r.task_id = t.id "
    "WHERE t.created_at >= ?1";
/* The partial index tasks_exceptions serves this only when its own WHERE
 * term is repeated. */
static const char backlog_failure_sql[] =
    "SELECT id, error, finished_at FROM tasks "
    "WHERE (state = 'failed' OR state = 'dead' OR state = 'cancelled') "
    "AND (state = 'failed' OR state = 'dead') AND script = ?1 AND created_at >= ?2 "
    "ORDER BY finished_at DESC LIMIT 1";
static const char workers_sql[] = "SELECT count(*) FROM leases WHERE until >= ?1";

/* The backlogs being read: rows[i] is the script names[i] (the full name;
 * the row's may be cut short), sorted as SQLite sorts text. */
typedef struct backlog_scan {
    drudge_backlog_row *rows;
    char **names;
    int n, max;
    int last; /* the row of the task before: a script's tasks often come together */
    int workers;
} backlog_scan;

static drudge_backlog_row *backlog_of(backlog_scan *b, const char *script)
{
    if (b->last >= 0 && !strcmp(b->names[b->last], script))
        return &b->rows[b->last];
    int lo = 0, hi = b->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2, c = strcmp(b->names[mid], script);
        if (!c) {
            b->last = mid;
            return &b->rows[mid];
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void backlog_start(void *ud, sqlite3_stmt *st)
{
    backlog_scan *b = ud;
    drudge_backlog_row *row = &b->rows[b->n];
    memset(row, 0, sizeof *row);
    b->names[b->n] = drudge_xstrdup(sq_col_text(st, 0));
    snprintf(row->name, sizeof row->name, "%s", b->names[b->n]);
    row->since = sqlite3_column_int64(st, 1);
    row->paused = sqlite3_column_int(st, 2);
    b->n++;
}

/* Adds the task at st's cursor to its script's backlog, if it is in one. */
static void backlog_task(void *ud, sqlite3_stmt *st)
{
    drudge_backlog_row *row = backlog_of(ud, sq_col_text(st, 0));
    if (!row || sqlite3_column_int64(st, 1) < row->since)
        return;
    int running = sqlite3_column_int(st, 2);
    const char *state = sq_col_text(st, 3);
    int queued = !running && !strcmp(state, "queued");
    row->total++;
    row->running += running;
    row->queued += queued;
    row->retrying += queued && sqlite3_column_int(st, 4);
    if (!strcmp(state, "done"))
        row->done++;
    else if (!strcmp(state, "failed") || !strcmp(state, "dead"))
        row->failed++;
    else if (!strcmp(state, "cancelled"))
        row->cancelled++;
    row->finished_recently += sqlite3_column_int(st, 5);
}

static void backlog_failure(void *ud, sqlite3_stmt *st)
{
    drudge_backlog_row *row = ud;
    row->last_error_task = sqlite3_column_int64(st, 0);
    snprintf(row->last_error, sizeof row->last_error, "%s", sq_col_text(st, 1));
    row->last_error_at = sqlite3_column_int64(st, 2);
}

static void live_workers(void *ud, sqlite3_stmt *st)
{
    ((backlog_scan *)ud)->workers = sqlite3_column_int(st, 0);
}

static drudge_code backlog_count(sq_store *q, int64_t rate_from, backlog_scan *b, drudge_err *err)
{
    int64_t from = INT64_MAX;
    for (int i = 0; i < b->n; i++)
        if (b->rows[i].since < from)
            from = b->rows[i].since;
    sqlite3_stmt *st = sq_stmt(q, backlog_tasks_sql, "status", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, rate_from);
    drudge_code rc = each_row(q, st, "status", backlog_task, b, err);
    for (int i = 0; i < b->n; i++)
        b->rows[i].finished = b->rows[i].done + b->rows[i].failed + b->rows[i].cancelled;
    return rc;
}

/* The four reads, each after the one before. */
static drudge_code backlog_read(sq_store *q, int64_t now, int64_t rate_window, int64_t recent,
                                backlog_scan *b, drudge_err *err)
{
    sqlite3_stmt *st = sq_stmt(q, backlog_start_sql, "status", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, now - recent);
    sqlite3_bind_int(st, 2, b->max);
    drudge_code rc = each_row(q, st, "status", backlog_start, b, err);
    if (!rc && b->n)
        rc = backlog_count(q, now - rate_window, b, err);
    for (int i = 0; i < b->n && !rc; i++) {
        st = sq_stmt(q, backlog_failure_sql, "status", err);
        if (!st)
            return err ? err->code : DRUDGE_EDB;
        sqlite3_bind_text(st, 1, b->names[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, b->rows[i].since);
        rc = each_row(q, st, "status", backlog_failure, &b->rows[i], err);
    }
    if (rc)
        return rc;
    st = sq_stmt(q, workers_sql, "status", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, now);
    return each_row(q, st, "status", live_workers, b, err);
}

drudge_code sq_backlogs(drudge_store *s, int64_t now, int64_t rate_window, int64_t recent,
                        drudge_backlog_row *rows, int max, int *n, int *workers, drudge_err *err)
{
    backlog_scan b = {.rows = rows, .max = max, .last = -1};
    *n = 0;
    *workers = 0;
    if (max <= 0)
        return DRUDGE_OK;
    b.names = drudge_xmalloc((size_t)max * sizeof *b.names);
    drudge_code rc = backlog_read(sq(s), now, rate_window, recent, &b, err);
    for (int i = 0; i < b.n; i++)
        free(b.names[i]);
    free(b.names);
    if (rc)
        return rc;
    *n = b.n;
    *workers = b.workers;
    return DRUDGE_OK;
}

/* ---- metrics ---- */

/* Every per-script number in one scan: the effective state (running while
 * a `running` row exists) for the counts, the row's own for the rest, as
 * /metrics has always counted them. */
static const char metrics_scripts_sql[] =
    "SELECT script, count(*), sum(state = 'queued'), sum(state = 'running'), "
    "sum(state = 'done'), sum(state = 'failed'), sum(state = 'dead'), "
    "sum(state = 'cancelled'), total(CASE WHEN row_state = 'done' THEN manual_minutes END), "
    "total(CASE WHEN row_state = 'failed' OR row_state = 'dead' THEN exception_minutes END), "
    "min(CASE WHEN row_state = 'queued' AND run_at <= ?1 THEN run_at END) "
    "FROM (SELECT t.script, t.state AS row_state, "
    "  CASE WHEN r.task_id IS NULL THEN t.state ELSE 'running' END AS state, "
    "  t.manual_minutes, t.exception_minutes, t.run_at "
    "  FROM tasks t LEFT JOIN running r ON r.task_id = t.id) "
    "GROUP BY script ORDER BY script";
static const char metrics_paused_sql[] = "SELECT script FROM paused ORDER BY script";
static const char metrics_outcomes_sql[] =
    "SELECT t.script, a.outcome, count(*) FROM attempts a JOIN tasks t ON t.id = a.task_id "
    "GROUP BY t.script, a.outcome ORDER BY 1, 2";
static const char metrics_steps_sql[] =
    "SELECT id, kind, duration_us FROM steps WHERE id >= ?1 ORDER BY id";

typedef struct metrics_scan {
    drudge_metrics_data *d;
    size_t cap, with_tasks; /* of d->scripts; the first with_tasks have tasks */
    int64_t now;
    size_t ocap; /* of d->outcomes */
    drudge_step_time_fn fn;
    void *ud;
} metrics_scan;

static drudge_metrics_script *metrics_add_script(metrics_scan *m, const char *script)
{
    drudge_metrics_data *d = m->d;
    if (d->nscripts == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 16;
        d->scripts = drudge_xrealloc(d->scripts, m->cap * sizeof *d->scripts);
    }
    drudge_metrics_script *sc = &d->scripts[d->nscripts++];
    memset(sc, 0, sizeof *sc);
    sc->script = drudge_xstrdup(script);
    sc->oldest_due_us = -1;
    return sc;
}

static void metrics_script(void *ud, sqlite3_stmt *st)
{
    metrics_scan *m = ud;
    drudge_metrics_script *sc = metrics_add_script(m, sq_col_text(st, 0));
    sc->tasks = sqlite3_column_int64(st, 1);
    for (int i = 0; i < DRUDGE_NSTATES; i++)
        sc->count[i] = sqlite3_column_int64(st, 2 + i);
    sc->gross_minutes = sqlite3_column_double(st, 8);
    sc->lost_minutes = sqlite3_column_double(st, 9);
    if (sqlite3_column_type(st, 10) != SQLITE_NULL)
        sc->oldest_due_us = m->now - sqlite3_column_int64(st, 10);
}

static int by_script(const void *a, const void *b)
{
    return strcmp(((const drudge_metrics_script *)a)->script,
                  ((const drudge_metrics_script *)b)->script);
}

/* Marks a paused script, adding it if it has no tasks. */
static void metrics_paused(void *ud, sqlite3_stmt *st)
{
    metrics_scan *m = ud;
    drudge_metrics_script key = {.script = (char *)sq_col_text(st, 0)}, *sc = NULL;
    if (m->with_tasks)
        sc = bsearch(&key, m->d->scripts, m->with_tasks, sizeof key, by_script);
    if (!sc)
        sc = metrics_add_script(m, key.script);
    sc->paused = 1;
}

static void metrics_outcome(void *ud, sqlite3_stmt *st)
{
    metrics_scan *m = ud;
    drudge_metrics_data *d = m->d;
    if (d->noutcomes == m->ocap) {
        m->ocap = m->ocap ? 2 * m->ocap : 32;
        d->outcomes = drudge_xrealloc(d->outcomes, m->ocap * sizeof *d->outcomes);
    }
    drudge_metrics_outcome *o = &d->outcomes[d->noutcomes++];
    o->script = drudge_xstrdup(sq_col_text(st, 0));
    o->outcome = drudge_xstrdup(sq_col_text(st, 1));
    o->count = sqlite3_column_int64(st, 2);
}

static void metrics_step(void *ud, sqlite3_stmt *st)
{
    metrics_scan *m = ud;
    m->fn(m->ud, sqlite3_column_int64(st, 0), sq_col_text(st, 1), sqlite3_column_int64(st, 2));
}

/* Runs sql (?1 bound to v) for fn. */
static drudge_code metrics_query(sq_store *q, const char *sql, int64_t v,
                                 void (*fn)(void *ud, sqlite3_stmt *st), metrics_scan *m,
                                 drudge_err *err)
{
    sqlite3_stmt *st = sq_stmt(q, sql, "metrics", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    if (sqlite3_bind_parameter_count(st))
        sqlite3_bind_int64(st, 1, v);
    return each_row(q, st, "metrics", fn, m, err);
}

drudge_code sq_metrics(drudge_store *s, int64_t now, int64_t steps_from, drudge_step_time_fn fn,
                       void *ud, drudge_metrics_data *out, drudge_err *err)
{
    sq_store *q = sq(s);
    metrics_scan m = {.d = out, .now = now, .fn = fn, .ud = ud};
    memset(out, 0, sizeof *out);
    drudge_code rc = metrics_query(q, metrics_scripts_sql, now, metrics_script, &m, err);
    m.with_tasks = out->nscripts;
    if (!rc)
        rc = metrics_query(q, metrics_paused_sql, 0, metrics_paused, &m, err);
    if (!rc && out->nscripts > m.with_tasks)
        qsort(out->scripts, out->nscripts, sizeof *out->scripts, by_script);
    if (!rc)
        rc = metrics_query(q, metrics_outcomes_sql, 0, metrics_outcome, &m, err);
    if (!rc && fn)
        rc = metrics_query(q, metrics_steps_sql, steps_from, metrics_step, &m, err);
    if (rc)
        drudge_metrics_data_clear(out);
    return rc;
}

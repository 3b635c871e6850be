/* reads.c: what the live view (`status --watch`), /metrics and the
 * time-saved report read from the PostgreSQL backend: the same reads as on
 * SQLite (runner/store/sqlite/reads.c, report.c), the long scans through
 * cursors (pg_walk) so that a million rows are never held at once. Names
 * are sorted byte by byte (COLLATE "C"), as SQLite and strcmp sort them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "runner/store/pg/pgint.h"

/* ---- the report's scans ---- */

typedef struct finished_walk {
    int (*fn)(void *ud, const drudge_finished_row *t);
    void *ud;
} finished_walk;

static int finished_row(void *ud, const PGresult *r, int i)
{
    finished_walk *w = ud;
    drudge_finished_row t = {
        .id = pg_i64(r, i, 0),
        .script = pg_text(r, i, 1),
        .state = pg_text(r, i, 2),
        .finished_at = pg_i64(r, i, 3),
        .manual_minutes = pg_f64(r, i, 4),
        .exception_minutes = pg_f64(r, i, 5),
    };
    return w->fn(w->ud, &t);
}

drudge_code pg_finished(drudge_store *s, const char *script,
                        int (*fn)(void *ud, const drudge_finished_row *t), void *ud,
                        drudge_err *err)
{
    static const char sql[] =
        "SELECT id, script, state, finished_at, manual_minutes, exception_minutes FROM tasks "
        "WHERE state IN ('done','failed','dead') AND finished_at IS NOT NULL "
        "AND ($1::text IS NULL OR script = $1)";
    finished_walk w = {.fn = fn, .ud = ud};
    pg_params p = {0};
    pg_p_str(&p, script);
    return pg_walk(pgs(s), sql, &p, "reading finished tasks", finished_row, &w, err);
}

typedef struct times_walk {
    int (*fn)(void *ud, int64_t task_id, int64_t us);
    void *ud;
} times_walk;

static int times_row(void *ud, const PGresult *r, int i)
{
    times_walk *w = ud;
    return w->fn(w->ud, pg_i64(r, i, 0), pg_i64(r, i, 1));
}

drudge_code pg_attempt_times(drudge_store *s, int (*fn)(void *ud, int64_t task_id, int64_t us),
                             void *ud, drudge_err *err)
{
    static const char sql[] = "SELECT task_id, ended_at - started_at FROM attempts";
    times_walk w = {.fn = fn, .ud = ud};
    return pg_walk(pgs(s), sql, NULL, "reading attempt times", times_row, &w, err);
}

drudge_code pg_backlog(drudge_store *s, const char *script,
                       int (*fn)(void *ud, const char *script, int64_t queued, int64_t running),
                       void *ud, drudge_err *err)
{
    /* Queued: in ready; running: in running. Both small. */
    static const char sql[] =
        "SELECT script, sum(q), sum(r) FROM (SELECT script, 1 AS q, 0 AS r FROM ready "
        "UNION ALL SELECT t.script, 0, 1 FROM running x JOIN tasks t ON t.id = x.task_id) u "
        "WHERE $1::text IS NULL OR script = $1 GROUP BY script ORDER BY script COLLATE \"C\"";
    pg_params p = {0};
    pg_p_str(&p, script);
    PGresult *r = pg_q(pgs(s), sql, &p, "reading the backlog", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    for (int i = 0; i < PQntuples(r); i++)
        if (fn(ud, pg_text(r, i, 0), pg_i64(r, i, 1), pg_i64(r, i, 2)))
            break;
    PQclear(r);
    return DRUDGE_OK;
}

/* ---- the live view ---- */

/* As on SQLite: where each script's backlog starts (its oldest open task,
 * else the oldest finished in the last `recent`), then one scan of every
 * task created since the earliest start, added up per script in C. */
static const char backlog_start_sql[] =
    "SELECT script, coalesce(min(CASE WHEN state = 'queued' THEN created_at END), "
    "min(created_at)), EXISTS (SELECT 1 FROM paused p WHERE p.script = tasks.script)::integer "
    "FROM tasks WHERE state = 'queued' OR finished_at >= $1 "
    "GROUP BY script ORDER BY script COLLATE \"C\" LIMIT $2";
static const char backlog_tasks_sql[] =
    "SELECT t.script, t.created_at, (r.task_id IS NOT NULL)::integer, t.state, "
    "(t.attempts > 0)::integer, coalesce((t.finished_at >= $2)::integer, 0) "
    "FROM tasks t LEFT JOIN running r ON r.task_id = t.id WHERE t.created_at >= $1";
static const char backlog_failure_sql[] =
    "SELECT id, error, finished_at FROM tasks WHERE exception IS NOT NULL "
    "AND exception IN ('failed','dead') AND script = $1 AND created_at >= $2 "
    "ORDER BY finished_at DESC LIMIT 1";
static const char workers_sql[] = "SELECT count(*) FROM leases WHERE until >= $1";

typedef struct backlog_scan {
    drudge_backlog_row *rows;
    char **names;
    int n, max, last;
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

static int backlog_task(void *ud, const PGresult *r, int i)
{
    drudge_backlog_row *row = backlog_of(ud, pg_text(r, i, 0));
    if (!row || pg_i64(r, i, 1) < row->since)
        return 0;
    int running = (int)pg_i64(r, i, 2);
    const char *state = pg_text(r, i, 3);
    int queued = !running && !strcmp(state, "queued");
    row->total++;
    row->running += running;
    row->queued += queued;
    row->retrying += queued && pg_i64(r, i, 4);
    if (!strcmp(state, "done"))
        row->done++;
    else if (!strcmp(state, "failed") || !strcmp(state, "dead"))
        row->failed++;
    else if (!strcmp(state, "cancelled"))
        row->cancelled++;
    row->finished_recently += pg_i64(r, i, 5);
    return 0;
}

static drudge_code backlog_starts(pg_store *q, int64_t from, backlog_scan *b, drudge_err *err)
{
    pg_params p = {0};
    pg_p_int(&p, from);
    pg_p_int(&p, b->max);
    PGresult *r = pg_q(q, backlog_start_sql, &p, "status", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    for (int i = 0; i < PQntuples(r) && b->n < b->max; i++) {
        drudge_backlog_row *row = &b->rows[b->n];
        memset(row, 0, sizeof *row);
        b->names[b->n] = drudge_xstrdup(pg_text(r, i, 0));
        snprintf(row->name, sizeof row->name, "%s", b->names[b->n]);
        row->since = pg_i64(r, i, 1);
        row->paused = (int)pg_i64(r, i, 2);
        b->n++;
    }
    PQclear(r);
    return DRUDGE_OK;
}

static drudge_code backlog_failure(pg_store *q, backlog_scan *b, int i, drudge_err *err)
{
    pg_params p = {0};
    pg_p_str(&p, b->names[i]);
    pg_p_int(&p, b->rows[i].since);
    PGresult *r = pg_q(q, backlog_failure_sql, &p, "status", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    if (PQntuples(r)) {
        b->rows[i].last_error_task = pg_i64(r, 0, 0);
        snprintf(b->rows[i].last_error, sizeof b->rows[i].last_error, "%s", pg_text(r, 0, 1));
        b->rows[i].last_error_at = pg_i64(r, 0, 2);
    }
    PQclear(r);
    return DRUDGE_OK;
}

static drudge_code backlog_read(pg_store *q, int64_t now, int64_t rate_window, int64_t recent,
                                backlog_scan *b, int *workers, drudge_err *err)
{
    drudge_code rc = backlog_starts(q, now - recent, b, err);
    int64_t from = INT64_MAX, w = 0;
    for (int i = 0; i < b->n; i++)
        if (b->rows[i].since < from)
            from = b->rows[i].since;
    if (!rc && b->n) {
        pg_params p = {0};
        pg_p_int(&p, from);
        pg_p_int(&p, now - rate_window);
        rc = pg_walk(q, backlog_tasks_sql, &p, "status", backlog_task, b, err);
    }
    for (int i = 0; i < b->n && !rc; i++) {
        b->rows[i].finished = b->rows[i].done + b->rows[i].failed + b->rows[i].cancelled;
        rc = backlog_failure(q, b, i, err);
    }
    pg_params p = {0};
    pg_p_int(&p, now);
    if (!rc)
        rc = pg_int(q, workers_sql, &p, "status", &w, err);
    *workers = (int)w;
    return rc;
}

drudge_code pg_backlogs(drudge_store *s, int64_t now, int64_t rate_window, int64_t recent,
                        drudge_backlog_row *rows, int max, int *n, int *workers, drudge_err *err)
{
    backlog_scan b = {.rows = rows, .max = max, .last = -1};
    *n = 0;
    *workers = 0;
    if (max <= 0)
        return DRUDGE_OK;
    b.names = drudge_xmalloc((size_t)max * sizeof *b.names);
    int w = 0;
    drudge_code rc = backlog_read(pgs(s), now, rate_window, recent, &b, &w, err);
    for (int i = 0; i < b.n; i++)
        free(b.names[i]);
    free(b.names);
    if (rc)
        return rc;
    *n = b.n;
    *workers = w;
    return DRUDGE_OK;
}

/* ---- metrics ---- */

static const char metrics_scripts_sql[] =
    "SELECT script, count(*), count(*) FILTER (WHERE st = 'queued'), "
    "count(*) FILTER (WHERE st = 'running'), count(*) FILTER (WHERE st = 'done'), "
    "count(*) FILTER (WHERE st = 'failed'), count(*) FILTER (WHERE st = 'dead'), "
    "count(*) FILTER (WHERE st = 'cancelled'), "
    "coalesce(sum(manual_minutes) FILTER (WHERE state = 'done'), 0), "
    "coalesce(sum(exception_minutes) FILTER (WHERE state IN ('failed','dead')), 0), "
    "min(run_at) FILTER (WHERE state = 'queued' AND run_at <= $1) "
    "FROM (SELECT t.script, t.state, CASE WHEN r.task_id IS NULL THEN t.state ELSE 'running' "
    "END AS st, t.manual_minutes, t.exception_minutes, t.run_at "
    "FROM tasks t LEFT JOIN running r ON r.task_id = t.id) x "
    "GROUP BY script ORDER BY script COLLATE \"C\"";
static const char metrics_paused_sql[] = "SELECT script FROM paused ORDER BY script COLLATE \"C\"";
static const char metrics_outcomes_sql[] =
    "SELECT t.script, a.outcome, count(*) FROM attempts a JOIN tasks t ON t.id = a.task_id "
    "GROUP BY 1, 2 ORDER BY t.script COLLATE \"C\", a.outcome COLLATE \"C\"";
static const char metrics_steps_sql[] =
    "SELECT id, kind, duration_us FROM steps WHERE id >= $1 ORDER BY id";

typedef struct metrics_scan {
    drudge_metrics_data *d;
    size_t cap, with_tasks;
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

static int by_script(const void *a, const void *b)
{
    return strcmp(((const drudge_metrics_script *)a)->script,
                  ((const drudge_metrics_script *)b)->script);
}

static int metrics_step(void *ud, const PGresult *r, int i)
{
    metrics_scan *m = ud;
    m->fn(m->ud, pg_i64(r, i, 0), pg_text(r, i, 1), pg_i64(r, i, 2));
    return 0;
}

static drudge_code metrics_tables(pg_store *q, int64_t now, metrics_scan *m, drudge_err *err)
{
    pg_params p = {0};
    pg_p_int(&p, now);
    PGresult *r = pg_q(q, metrics_scripts_sql, &p, "metrics", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    for (int i = 0; i < PQntuples(r); i++) {
        drudge_metrics_script *sc = metrics_add_script(m, pg_text(r, i, 0));
        sc->tasks = pg_i64(r, i, 1);
        for (int k = 0; k < DRUDGE_NSTATES; k++)
            sc->count[k] = pg_i64(r, i, 2 + k);
        sc->gross_minutes = pg_f64(r, i, 8);
        sc->lost_minutes = pg_f64(r, i, 9);
        if (!PQgetisnull(r, i, 10))
            sc->oldest_due_us = now - pg_i64(r, i, 10);
    }
    PQclear(r);
    m->with_tasks = m->d->nscripts;
    r = pg_q(q, metrics_paused_sql, NULL, "metrics", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    for (int i = 0; i < PQntuples(r); i++) {
        drudge_metrics_script key = {.script = (char *)pg_text(r, i, 0)}, *sc = NULL;
        if (m->with_tasks)
            sc = bsearch(&key, m->d->scripts, m->with_tasks, sizeof key, by_script);
        if (!sc)
            sc = metrics_add_script(m, key.script);
        sc->paused = 1;
    }
    PQclear(r);
    if (m->d->nscripts > m->with_tasks)
        qsort(m->d->scripts, m->d->nscripts, sizeof *m->d->scripts, by_script);
    r = pg_q(q, metrics_outcomes_sql, NULL, "metrics", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    m->d->noutcomes = (size_t)PQntuples(r);
    m->d->outcomes =
        m->d->noutcomes ? drudge_xmalloc(m->d->noutcomes * sizeof *m->d->outcomes) : NULL;
    for (int i = 0; i < PQntuples(r); i++) {
        m->d->outcomes[i].script = drudge_xstrdup(pg_text(r, i, 0));
        m->d->outcomes[i].outcome = drudge_xstrdup(pg_text(r, i, 1));
        m->d->outcomes[i].count = pg_i64(r, i, 2);
    }
    PQclear(r);
    return DRUDGE_OK;
}

drudge_code pg_metrics(drudge_store *s, int64_t now, int64_t steps_from, drudge_step_time_fn fn,
                       void *ud, drudge_metrics_data *out, drudge_err *err)
{
    pg_store *q = pgs(s);
    metrics_scan m = {.d = out, .fn = fn, .ud = ud};
    memset(out, 0, sizeof *out);
    drudge_code rc = metrics_tables(q, now, &m, err);
    if (!rc && fn) {
        pg_params p = {0};
        pg_p_int(&p, steps_from);
        rc = pg_walk(q, metrics_steps_sql, &p, "metrics", metrics_step, &m, err);
    }
    if (rc)
        drudge_metrics_data_clear(out);
    return rc;
}

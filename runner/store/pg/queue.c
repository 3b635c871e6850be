/* queue.c: the PostgreSQL backend's tasks, leases and attempts: enqueue,
 * claim, outcomes, reaping, listing, status counts and operator actions.
 *
 * The tables are in schema.c. A queued task has a row in `ready` until a
 * claim takes it: claims lock rows of ready with FOR UPDATE SKIP LOCKED, so
 * workers on every machine claim side by side without waiting for each
 * other, and delete them, moving each task to `running` under the claimer's
 * lease in the same statement. A task's `running` row is its fence: an
 * outcome is recorded only by deleting the row its owner holds, so a process
 * whose lease was reaped while it stalled (its task since requeued, maybe
 * claimed again) records nothing (pg_finish: *held = 0). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "runner/calendar/window.h"
#include "runner/store/pg/pgint.h"

#define CLAIM_LEVELS 64
#define WINDOWS_US   1000000 /* how often the list of run windows is read again */

static int max_attempts_of(const drudge_task_spec *spec)
{
    return spec->max_attempts > 0 ? spec->max_attempts : 3;
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* ---- run windows ---- */

static int in_list(char **list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], s))
            return 1;
    return 0;
}

drudge_code pg_note_window(pg_store *q, const char *spec, drudge_err *err)
{
    static const char sql[] = "INSERT INTO windows(spec) VALUES ($1) ON CONFLICT DO NOTHING";
    if (!spec || !*spec || in_list(q->known_windows, q->nknown, spec))
        return DRUDGE_OK;
    pg_params p = {0};
    pg_p_str(&p, spec);
    drudge_code rc = pg_exec(q, sql, &p, "recording a run window", NULL, err);
    if (rc)
        return rc;
    q->known_windows = drudge_xrealloc(q->known_windows, (q->nknown + 1) * sizeof(char *));
    q->known_windows[q->nknown++] = drudge_xstrdup(spec);
    q->windows_read = 0; /* read the list again at the next claim */
    return DRUDGE_OK;
}

static drudge_code read_windows(pg_store *q, int64_t now, drudge_err *err)
{
    static const char sql[] = "SELECT spec FROM windows";
    if (q->windows_read && now - q->windows_read < WINDOWS_US && now >= q->windows_read)
        return DRUDGE_OK;
    PGresult *r = pg_q(q, sql, NULL, "reading run windows", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    for (size_t i = 0; i < q->nwindows; i++)
        free(q->windows[i]);
    q->nwindows = (size_t)PQntuples(r);
    q->windows = drudge_xrealloc(q->windows, (q->nwindows + 1) * sizeof(char *));
    for (size_t i = 0; i < q->nwindows; i++)
        q->windows[i] = drudge_xstrdup(pg_text(r, (int)i, 0));
    PQclear(r);
    q->windows_read = now;
    return DRUDGE_OK;
}

drudge_code pg_closed_windows(pg_store *q, int64_t now, char **out, drudge_err *err)
{
    *out = NULL;
    drudge_code rc = read_windows(q, now, err);
    if (rc || !q->nwindows)
        return rc;
    const char **closed = drudge_xmalloc((q->nwindows + 1) * sizeof *closed);
    size_t n = 0;
    for (size_t i = 0; i < q->nwindows; i++)
        if (!drudge_window_allows(q->windows[i], now))
            closed[n++] = q->windows[i];
    closed[n] = NULL;
    *out = pg_array(closed);
    free(closed);
    return DRUDGE_OK;
}

/* ---- enqueue ---- */

static const char upsert_script_sql[] =
    "INSERT INTO scripts(name, path, max_attempts, manual_minutes, exception_minutes, \"window\", "
    "updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT (name) DO UPDATE SET path = $2, "
    "max_attempts = $3, manual_minutes = $4, exception_minutes = $5, \"window\" = $6, "
    "updated_at = $7";

static drudge_code upsert_script(pg_store *q, const drudge_task_spec *spec, int64_t now,
                                 drudge_err *err)
{
    pg_params p = {0};
    pg_p_str(&p, spec->script);
    pg_p_str(&p, spec->script_path);
    pg_p_int(&p, max_attempts_of(spec));
    pg_p_double(&p, spec->manual_minutes);
    pg_p_double(&p, spec->exception_minutes);
    pg_p_str(&p, spec->window);
    pg_p_int(&p, now);
    drudge_code rc = pg_exec(q, upsert_script_sql, &p, "recording the script", NULL, err);
    return rc ? rc : pg_note_window(q, spec->window, err);
}

/* Each new task enters ready through the trigger tasks_ready (schema.c). */
#define ENQ_COLS                                                                                   \
    "script, script_path, key, input, priority, run_at, max_attempts, manual_minutes, "            \
    "exception_minutes, schedule, \"window\", script_sha256, deadline"

static const char enq_one_sql[] =
    "WITH t AS (INSERT INTO tasks(" ENQ_COLS ", state, created_at) VALUES "
    "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$13,$14,'queued',$12) "
    "ON CONFLICT (script, key) WHERE key IS NOT NULL DO NOTHING "
    "RETURNING id) SELECT id FROM t";
static const char enq_find_sql[] = "SELECT id FROM tasks WHERE script = $1 AND key = $2";

static drudge_code enqueue_one(pg_store *q, const drudge_task_spec *spec, int64_t now, int64_t *id,
                               int *dup, drudge_err *err)
{
    int64_t run_at = spec->run_at ? spec->run_at : now;
    int64_t found = 0;
    pg_params f = {0};
    pg_p_str(&f, spec->script);
    pg_p_str(&f, spec->key);
    /* A key already queued: found without using up an id for the insert. */
    drudge_code rc = spec->key ? pg_int(q, enq_find_sql, &f, "enqueue", &found, err) : DRUDGE_OK;
    if (rc || found) {
        *dup = found != 0;
        if (id)
            *id = found;
        return rc;
    }
    pg_params p = {0};
    pg_p_str(&p, spec->script);
    pg_p_str(&p, spec->script_path);
    pg_p_str(&p, spec->key);
    pg_p_str(&p, spec->input);
    pg_p_int(&p, spec->priority);
    pg_p_int(&p, run_at);
    pg_p_int(&p, max_attempts_of(spec));
    pg_p_double(&p, spec->manual_minutes);
    pg_p_double(&p, spec->exception_minutes);
    pg_p_str(&p, spec->schedule);
    pg_p_str(&p, spec->window);
    pg_p_int(&p, now);
    pg_p_str(&p, spec->script_sha256);
    pg_p_int_or_null(&p, spec->deadline);
    PGresult *r = pg_q(q, enq_one_sql, &p, "enqueue", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    *dup = PQntuples(r) == 0;
    if (!*dup && id)
        *id = pg_i64(r, 0, 0);
    PQclear(r);
    if (!*dup) {
        pg_note_ready(q, run_at);
        return DRUDGE_OK;
    }
    return id ? pg_int(q, enq_find_sql, &f, "enqueue", id, err) : DRUDGE_OK;
}

/* A bulk load: the rows go to a temporary table in one COPY, then into
 * tasks and ready in one statement (a round trip per row would cost more
 * than the rows themselves). The table is emptied by TRUNCATE before each
 * batch, not by DELETE after it: a load is one transaction, in which
 * deleted rows stay on the table's pages, so every batch would scan all
 * the batches before it (a 50,000-row load spent 160 ms a batch). */
/* A duplicate key, already queued or earlier in the load, is skipped by
 * ON CONFLICT DO NOTHING (which sees the rows its own statement inserted,
 * in the order of n: the first of a key wins). A window over the load that
 * left duplicates out before the insert, so that they used up no id, cost
 * 14% of the statement; ids had gaps anyway (a key queued before). The
 * ready rows of the tasks inserted are written by the same statement, and
 * the trigger told so (PG_READIED, schema v17): the trigger's insert needs
 * ON CONFLICT DO NOTHING for the other writers of tasks, and its
 * speculative insertion cost more than the plain insert here (the
 * server's CPU a row 26-32 µs before, 22-28 after). */
static const char enq_stage_sql[] =
    "WITH t AS (INSERT INTO tasks(id, " ENQ_COLS ", state, created_at) SELECT id, " ENQ_COLS
    ", 'queued', $1 FROM enqueue_stage ORDER BY n "
    "ON CONFLICT (script, key) WHERE key IS NOT NULL DO NOTHING "
    "RETURNING id, priority, run_at, script, \"window\", deadline), "
    "r AS (INSERT INTO ready(task_id, priority, run_at, script, \"window\", deadline) "
    "  SELECT * FROM t), "
    "c AS (INSERT INTO task_counts SELECT script, 'queued', count(*) FROM t GROUP BY 1 ORDER BY 1 "
    "  ON CONFLICT (script, state) DO UPDATE SET n = task_counts.n + excluded.n) "
    "SELECT count(*), coalesce(min(run_at), 0) FROM t WHERE " PG_COUNTED " AND " PG_READIED;

/* A task's fields as a COPY row writes them, from script to deadline, then
 * end: the key only where with_key (the staged rows). */
static void copy_spec(drudge_buf *b, const drudge_task_spec *s, int64_t now, int with_key, char end)
{
    char num[96];
    pg_copy_text(b, s->script, '\t');
    pg_copy_text(b, s->script_path, '\t');
    if (with_key)
        pg_copy_text(b, s->key, '\t');
    pg_copy_text(b, s->input, '\t');
    snprintf(num, sizeof num, "%d\t%lld\t%d\t%.17g\t%.17g\t", s->priority,
             (long long)(s->run_at ? s->run_at : now), max_attempts_of(s), s->manual_minutes,
             s->exception_minutes);
    drudge_buf_puts(b, num);
    pg_copy_text(b, s->schedule, '\t');
    pg_copy_text(b, s->window, '\t');
    pg_copy_text(b, s->script_sha256, '\t');
    pg_copy_int(b, s->deadline, 1, end);
}

static drudge_code enqueue_bulk(pg_store *q, const drudge_task_spec *specs, size_t n, int64_t now,
                                int64_t *added, drudge_err *err)
{
    drudge_buf b = {0};
    /* A key queued before is skipped by the insert's ON CONFLICT, which
     * probes tasks_key once a row; a NOT EXISTS beside it was planned as a
     * hash of every task queued so far, once a batch (a 1,000,000-task
     * backlog loaded at 4,800 tasks/s). The staged rows have no statistics:
     * the SETs keep the planner from joins that read all of tasks. */
    drudge_code rc =
        pg_simple(q,
                  "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off;"
                  " CREATE TEMP TABLE IF NOT EXISTS enqueue_stage(n serial, "
                  "id bigint DEFAULT nextval('tasks_id_seq'), script "
                  "text, script_path text, key text, input text, priority integer, "
                  "run_at bigint, max_attempts integer, manual_minutes double "
                  "precision, exception_minutes double precision, schedule text, "
                  "\"window\" text, script_sha256 text, deadline bigint) ON COMMIT DELETE ROWS;"
                  " TRUNCATE enqueue_stage",
                  "enqueue", err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        copy_spec(&b, &specs[i], now, 1, '\n');
    rc = pg_copy_send(q,
                      "COPY enqueue_stage(script, script_path, key, input, priority, run_at, "
                      "max_attempts, manual_minutes, exception_minutes, schedule, \"window\", "
                      "script_sha256, deadline) FROM STDIN",
                      b.data, b.len, "enqueue", err);
    drudge_buf_free(&b);
    if (rc)
        return rc;
    pg_params p = {0};
    pg_p_int(&p, now);
    PGresult *r = pg_q(q, enq_stage_sql, &p, "enqueue", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    *added = pg_i64(r, 0, 0);
    q->bulk_added += *added;
    if (*added)
        pg_note_ready(q, pg_i64(r, 0, 1));
    PQclear(r);
    return DRUDGE_OK;
}

/* A bulk load of tasks without keys (so without duplicates to skip) goes
 * straight into tasks and ready by COPY: its multi-row inserts, with the
 * ready rows written here rather than read back from the trigger's
 * transition table, took 200,000 tasks at 111,000-114,000/s where the
 * staged INSERT ... SELECT took 60,000-64,000 (psql, same rows, same
 * server; drudge's load of 200,000, paired with the staged one: 1.43
 * times as fast, median of six rounds). The ids are drawn from tasks'
 * sequence first, in the order of the rows, so that each ready row can
 * name its task and a load keeps its order among equals; the statement
 * triggers are told the rows are counted and readied (schema v17), and
 * the counts are added here, a script at a time in name order (the order
 * every writer of task_counts takes). */
static const char enq_ids_sql[] = "SELECT nextval('tasks_id_seq') FROM generate_series(1, $1)";
static const char enq_count_sql[] =
    "INSERT INTO task_counts VALUES ($1, 'queued', $2) "
    "ON CONFLICT (script, state) DO UPDATE SET n = task_counts.n + excluded.n";

static int spec_by_script(const void *a, const void *b)
{
    const drudge_task_spec *x = *(const drudge_task_spec *const *)a;
    const drudge_task_spec *y = *(const drudge_task_spec *const *)b;
    return strcmp(x->script, y->script);
}

/* Adds each script's new tasks to task_counts. */
static drudge_code count_copied(pg_store *q, const drudge_task_spec *specs, size_t n,
                                drudge_err *err)
{
    drudge_code rc = DRUDGE_OK;
    const drudge_task_spec **by = drudge_xmalloc(n * sizeof *by);
    for (size_t i = 0; i < n; i++)
        by[i] = &specs[i];
    qsort(by, n, sizeof *by, spec_by_script);
    for (size_t i = 0, j; i < n && !rc; i = j) {
        for (j = i + 1; j < n && !strcmp(by[j]->script, by[i]->script); j++)
            ;
        pg_params p = {0};
        pg_p_str(&p, by[i]->script);
        pg_p_int(&p, (int64_t)(j - i));
        rc = pg_exec(q, enq_count_sql, &p, "enqueue", NULL, err);
    }
    free(by);
    return rc;
}

static drudge_code enqueue_copy(pg_store *q, const drudge_task_spec *specs, size_t n, int64_t now,
                                int64_t *added, drudge_err *err)
{
    drudge_buf t = {0}, r = {0};
    int64_t first_run = INT64_MAX;
    char tail[48]; /* state and created_at: the same for every row */
    snprintf(tail, sizeof tail, "queued\t%lld\n", (long long)now);
    pg_params p = {0};
    pg_p_int(&p, (int64_t)n);
    PGresult *ids = pg_q(q, enq_ids_sql, &p, "enqueue", err);
    if (!ids)
        return err ? err->code : DRUDGE_EDB;
    drudge_code rc = DRUDGE_OK;
    if ((size_t)PQntuples(ids) != n) {
        rc = drudge_seterr(err, DRUDGE_EDB, "%s: enqueue: %d task ids drawn for %zu tasks",
                           q->base.name, PQntuples(ids), n);
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        const drudge_task_spec *s = &specs[i];
        const char *id = PQgetvalue(ids, (int)i, 0);
        int64_t run_at = s->run_at ? s->run_at : now;
        char num[64];
        first_run = run_at < first_run ? run_at : first_run;
        drudge_buf_puts(&t, id);
        drudge_buf_add(&t, "\t", 1);
        copy_spec(&t, s, now, 0, '\t');
        drudge_buf_puts(&t, tail);
        drudge_buf_puts(&r, id);
        snprintf(num, sizeof num, "\t%d\t%lld\t", s->priority, (long long)run_at);
        drudge_buf_puts(&r, num);
        pg_copy_text(&r, s->script, '\t');
        pg_copy_text(&r, s->window, '\t');
        pg_copy_int(&r, s->deadline, 1, '\n');
    }
    rc = pg_simple(q, "SELECT " PG_COUNTED " AND " PG_READIED, "enqueue", err);
    if (!rc)
        rc = pg_copy_send(q,
                          "COPY tasks(id, script, script_path, input, priority, run_at, "
                          "max_attempts, manual_minutes, exception_minutes, schedule, \"window\", "
                          "script_sha256, deadline, state, created_at) FROM STDIN",
                          t.data, t.len, "enqueue", err);
    if (!rc)
        rc = pg_copy_send(q,
                          "COPY ready(task_id, priority, run_at, script, \"window\", deadline) "
                          "FROM STDIN",
                          r.data, r.len, "enqueue", err);
    if (!rc)
        rc = count_copied(q, specs, n, err);
    if (!rc) {
        *added = (int64_t)n;
        q->bulk_added += *added;
        pg_note_ready(q, first_run);
    }
cleanup:
    PQclear(ids);
    drudge_buf_free(&t);
    drudge_buf_free(&r);
    return rc;
}

drudge_code pg_enqueue(drudge_store *s, const drudge_task_spec *specs, size_t n, int64_t now,
                       int64_t *id, int *dup, int64_t *added, int64_t *duplicates, drudge_err *err)
{
    pg_store *q = pgs(s);
    drudge_code rc = DRUDGE_OK;
    int64_t nadd = 0, ndup = 0;
    const drudge_task_spec *last = NULL; /* the scripts row written last */
    for (size_t i = 0; i < n && !rc; i++) {
        if (last && same_str(last->script, specs[i].script) &&
            same_str(last->script_path, specs[i].script_path) &&
            same_str(last->window, specs[i].window))
            continue;
        rc = upsert_script(q, &specs[i], now, err);
        last = &specs[i];
    }
    if (!rc && !id && !dup && n > 1) {
        int keyed = 0;
        for (size_t i = 0; i < n && !keyed; i++)
            keyed = specs[i].key != NULL;
        rc = keyed ? enqueue_bulk(q, specs, n, now, &nadd, err)
                   : enqueue_copy(q, specs, n, now, &nadd, err);
        ndup = rc ? 0 : (int64_t)n - nadd;
    } else {
        for (size_t i = 0; i < n && !rc; i++) {
            int one_dup = 0;
            rc = enqueue_one(q, &specs[i], now, id ? &id[i] : NULL, &one_dup, err);
            if (dup)
                dup[i] = one_dup;
            *(one_dup ? &ndup : &nadd) += 1;
        }
    }
    if (added)
        *added = nadd;
    if (duplicates)
        *duplicates = ndup;
    return rc;
}

drudge_code pg_known_script(drudge_store *s, const char *name, drudge_task_spec *spec,
                            drudge_err *err)
{
    static const char sql[] = "SELECT name, path, max_attempts, manual_minutes, "
                              "exception_minutes, \"window\" FROM scripts WHERE name = $1";
    pg_params p = {0};
    memset(spec, 0, sizeof *spec);
    pg_p_str(&p, name);
    PGresult *r = pg_q(pgs(s), sql, &p, "looking up a script", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    drudge_code rc = DRUDGE_OK;
    if (PQntuples(r)) {
        spec->script = pg_strdup(r, 0, 0);
        spec->script_path = pg_strdup(r, 0, 1);
        spec->max_attempts = (int)pg_i64(r, 0, 2);
        spec->manual_minutes = pg_f64(r, 0, 3);
        spec->exception_minutes = pg_f64(r, 0, 4);
        spec->window = pg_strdup(r, 0, 5);
    } else {
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND,
                           "unknown script '%s': no such file, and no script of that name was "
                           "queued before",
                           name);
    }
    PQclear(r);
    return rc;
}

/* ---- claims and leases ---- */

/* Due, of our scripts ($2), outside closed windows ($5), not paused.
 * The paused and breaker tests sit in a CASE that asks first whether
 * anything is paused or held at all: the planner then rates the test as
 * passing half the rows, not as an anti-join whose estimate (a queue of one
 * script, small tables never analyzed) says it passes none, which made it
 * sort all of ready instead of reading ready_due in order up to the limit:
 * 430 ms instead of 1 ms for a claim of 600 from 100,000 queued. */
#define CLAIMABLE                                                                                  \
    "run_at <= $1 AND ($2::text[] IS NULL OR script = ANY($2::text[])) "                           \
    "AND ($5::text[] IS NULL OR \"window\" IS NULL OR \"window\" <> ALL($5::text[])) "             \
    "AND CASE WHEN $8::text IS NOT NULL OR EXISTS (SELECT 1 FROM paused) "                         \
    "OR EXISTS (SELECT 1 FROM breakers) "                                                          \
    "THEN NOT EXISTS (SELECT 1 FROM paused p WHERE p.script = ready.script) " NOT_HELD             \
    "ELSE true END "
/* Not held by an open circuit breaker (breaker.c), as a paused script is
 * not; $8: the target whose probe this claim takes (only its scripts'
 * tasks), or NULL. With no breaker open the first test reads an empty table. */
#define NOT_HELD                                                                                   \
    "AND NOT EXISTS (SELECT 1 FROM breakers b JOIN script_targets st ON st.target = b.target "     \
    "WHERE st.script = ready.script AND ($8::text IS NULL OR b.target <> $8::text)) "              \
    "AND ($8::text IS NULL OR EXISTS (SELECT 1 FROM script_targets st "                            \
    "WHERE st.target = $8::text AND st.script = ready.script)) "
/* The claim: rows of ready locked (others' locked rows skipped) and
 * deleted, each task moved to running under owner $6, whose lease is
 * extended to $7 if it took anything. The rows come back in the order the
 * workers take them: the rest claim spans priorities (unit.queue on pg
 * found them in run_at order alone). The delete names its rows by an
 * array, which the planner always reads through ready's primary key: as a
 * join with c it chose a hash join over all of ready once its estimate of
 * c was right (70-150 ms a claim at 100,000 queued). The tasks' rows are
 * read once, for running and for the answer. */
#define CLAIM(LEVEL, ORDER)                                                                        \
    "WITH c AS (SELECT task_id FROM ready WHERE " LEVEL " AND " CLAIMABLE "ORDER BY " ORDER        \
    " LIMIT $3 FOR UPDATE SKIP LOCKED), "                                                          \
    "d AS (DELETE FROM ready WHERE task_id = ANY(ARRAY(SELECT task_id FROM c)) "                   \
    "RETURNING task_id), "                                                                         \
    "t AS (SELECT t.id, t.script, t.script_path, t.key, t.input, t.attempts, t.spent, "            \
    "t.max_attempts, t.priority, t.run_at, t.suspect, t.deadline FROM d "                          \
    "JOIN tasks t ON t.id = d.task_id), "                                                          \
    "k AS (INSERT INTO running(task_id, owner, claimed_at, started) "                              \
    "SELECT id, $6, $1, suspect > 0 FROM t), "                                                     \
    "l AS (INSERT INTO leases(owner, until) SELECT $6, $7 FROM (SELECT 1 FROM t LIMIT 1) x "       \
    "ON CONFLICT (owner) DO UPDATE SET until = greatest(leases.until, excluded.until)) "           \
    "SELECT id, script, script_path, key, input, attempts, spent, max_attempts, priority, "        \
    "run_at, suspect FROM t ORDER BY priority DESC, deadline, run_at, id"
/* One priority at a time: within one, ready_due is in run_at order, so the
 * scan stops at the first task not yet due, however many wait for later. */
/* Within a priority, the due tasks with a deadline first, nearest first
 * (ready_deadline holds only them: with none queued, one probe of an empty
 * index), then the others. */
static const char claim_deadline_sql[] =
    CLAIM("priority = $4::integer AND deadline IS NOT NULL", "deadline, task_id");
static const char claim_sql[] =
    CLAIM("priority = $4::integer AND deadline IS NULL", "run_at, task_id");
static const char claim_rest_sql[] =
    CLAIM("priority < $4::integer", "priority DESC, run_at, task_id");
/* The same without taking anything: is something claimable? */
static const char peek_sql[] = "SELECT $3::integer, $6::text, $7::bigint, $8::text FROM ready "
                               "WHERE priority = $4::integer AND " CLAIMABLE "LIMIT 1";
static const char top_sql[] =
    "SELECT priority FROM ready WHERE priority < $1::bigint ORDER BY priority DESC LIMIT 1";

typedef struct claim_list {
    drudge_claimed *v;
    size_t n, cap;
} claim_list;

static void claim_rows(const PGresult *r, claim_list *l)
{
    for (int i = 0; i < PQntuples(r); i++) {
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 16;
            l->v = drudge_xrealloc(l->v, l->cap * sizeof *l->v);
        }
        drudge_claimed *t = &l->v[l->n++];
        memset(t, 0, sizeof *t);
        t->id = pg_i64(r, i, 0);
        t->script = pg_strdup(r, i, 1);
        t->script_path = pg_strdup(r, i, 2);
        t->key = pg_strdup(r, i, 3);
        t->input = pg_strdup(r, i, 4);
        t->attempt = (int)pg_i64(r, i, 5) + 1;
        t->spent = (int)pg_i64(r, i, 6);
        t->max_attempts = (int)pg_i64(r, i, 7);
        t->priority = (int)pg_i64(r, i, 8);
        t->run_at = pg_i64(r, i, 9);
        t->suspect = (int)pg_i64(r, i, 10);
    }
}

typedef struct claim_args {
    int64_t now, lease_until;
    const char *owner; /* NULL: only look (idle) */
    char *scripts, *closed;
    const char *probe; /* drudge_claim_req.probe */
    int max;
} claim_args;

/* Runs one claim statement (or the peek) for priority level `below`. */
static drudge_code claim_level(pg_store *q, const char *sql, const claim_args *a, int64_t below,
                               claim_list *l, drudge_err *err)
{
    pg_params p = {0};
    pg_p_int(&p, a->now);
    pg_p_str(&p, a->scripts);
    pg_p_int(&p, a->max - (int)l->n);
    pg_p_int(&p, below);
    pg_p_str(&p, a->closed);
    pg_p_str(&p, a->owner ? a->owner : "");
    pg_p_int(&p, a->lease_until);
    pg_p_str(&p, a->probe);
    PGresult *r = pg_q(q, sql, &p, "claiming tasks", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    if (a->owner)
        claim_rows(r, l);
    else
        l->n += (size_t)PQntuples(r);
    PQclear(r);
    return DRUDGE_OK;
}

/* Finds (and with an owner, claims) up to a->max tasks, highest priority
 * first, into l; without an owner, l->n says only whether there is one. */
static drudge_code find_claimable(pg_store *q, const claim_args *a, claim_list *l, drudge_err *err)
{
    int64_t below = INT64_MAX;
    for (int level = 0; (int)l->n < a->max; level++) {
        int rest = level >= CLAIM_LEVELS;
        if (!rest) {
            int64_t next = INT64_MIN;
            pg_params t = {0};
            pg_p_int(&t, below);
            drudge_code rc = pg_int(q, top_sql, &t, "claiming tasks", &next, err);
            if (rc)
                return rc;
            if (next == INT64_MIN)
                break;
            below = next;
        }
        if (a->owner && !rest) {
            drudge_code rc = claim_level(q, claim_deadline_sql, a, below, l, err);
            if (rc)
                return rc;
            if ((int)l->n >= a->max)
                break;
        }
        const char *sql = !a->owner ? peek_sql : rest ? claim_rest_sql : claim_sql;
        drudge_code rc = claim_level(q, sql, a, below, l, err);
        if (rc)
            return rc;
        if (rest || (!a->owner && l->n))
            break;
    }
    return DRUDGE_OK;
}

drudge_code pg_claim(drudge_store *s, const drudge_claim_req *req, drudge_claimed **out, size_t *n,
                     drudge_err *err)
{
    pg_store *q = pgs(s);
    claim_list l = {0};
    *out = NULL;
    *n = 0;
    if (req->max <= 0)
        return DRUDGE_OK;
    claim_args a = {.now = req->now,
                    .lease_until = req->lease_until,
                    .owner = req->owner,
                    .scripts = pg_array(req->scripts),
                    .probe = req->probe,
                    .max = req->max};
    drudge_code rc = pg_closed_windows(q, req->now, &a.closed, err);
    if (!rc)
        rc = find_claimable(q, &a, &l, err);
    free(a.scripts);
    free(a.closed);
    if (rc) {
        drudge_claimed_free_all(l.v, l.n);
        return rc;
    }
    *out = l.v;
    *n = l.n;
    return DRUDGE_OK;
}

static const char lease_sql[] =
    "INSERT INTO leases(owner, until) VALUES ($1, $2) "
    "ON CONFLICT (owner) DO UPDATE SET until = greatest(leases.until, excluded.until)";

static drudge_code hold_lease(pg_store *q, const char *owner, int64_t until, drudge_err *err)
{
    pg_params p = {0};
    pg_p_str(&p, owner);
    pg_p_int(&p, until);
    return pg_exec(q, lease_sql, &p, "taking the lease", NULL, err);
}

drudge_code pg_start_adhoc(drudge_store *s, const drudge_task_spec *spec, const char *owner,
                           int64_t now, int64_t lease_until, int64_t *id, drudge_err *err)
{
    static const char insert_sql[] =
        "WITH t AS (INSERT INTO tasks(script, script_path, key, input, state, priority, run_at, "
        "max_attempts, manual_minutes, exception_minutes, created_at, script_sha256) "
        "VALUES ($1,$2,$3,$4,'queued',0,$5,$6,$7,$8,$5,$10) RETURNING id) "
        "INSERT INTO running(task_id, owner, claimed_at, started) SELECT id, $9, $5, true FROM t "
        "RETURNING task_id";
    /* It runs from the start: out of the queue the trigger put it in. */
    static const char unready_sql[] = "DELETE FROM ready WHERE task_id = $1";
    pg_store *q = pgs(s);
    drudge_code rc = pg_begin(q, err);
    if (rc)
        return rc;
    rc = upsert_script(q, spec, now, err);
    if (!rc && spec->key) {
        int64_t other = 0;
        pg_params f = {0};
        pg_p_str(&f, spec->script);
        pg_p_str(&f, spec->key);
        rc = pg_int(q, enq_find_sql, &f, "run", &other, err);
        if (!rc && other)
            rc = drudge_seterr(err, DRUDGE_ESTATE,
                               "a task with key '%s' already exists for %s (#%lld)", spec->key,
                               spec->script, (long long)other);
    }
    /* Running from the start, under a lease of the run's own. */
    if (!rc)
        rc = hold_lease(q, owner, lease_until, err);
    if (!rc) {
        pg_params p = {0};
        pg_p_str(&p, spec->script);
        pg_p_str(&p, spec->script_path);
        pg_p_str(&p, spec->key);
        pg_p_str(&p, spec->input);
        pg_p_int(&p, now);
        pg_p_int(&p, max_attempts_of(spec));
        pg_p_double(&p, spec->manual_minutes);
        pg_p_double(&p, spec->exception_minutes);
        pg_p_str(&p, owner);
        pg_p_str(&p, spec->script_sha256);
        rc = pg_int(q, insert_sql, &p, "run", id, err);
    }
    if (!rc) {
        pg_params p = {0};
        pg_p_int(&p, *id);
        rc = pg_exec(q, unready_sql, &p, "run", NULL, err);
    }
    if (!rc)
        rc = pg_commit(q, err);
    if (rc)
        pg_rollback(q);
    return rc;
}

/* ---- outcomes ---- */

/* Pauses e's script for a configuration error (an earlier pause stays as it was). */
static drudge_code pause_for(pg_store *q, const drudge_attempt_end *e, drudge_err *err)
{
    static const char sql[] = "INSERT INTO paused(script, paused_at, paused_by, reason) "
                              "VALUES ($1, $2, 'drudge work', $3) ON CONFLICT (script) DO NOTHING";
    pg_params p = {0};
    pg_p_str(&p, e->script);
    pg_p_int(&p, e->now);
    pg_p_str(&p, e->pause_reason);
    PGresult *r = pg_q(q, sql, &p, "pausing a script", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    PQclear(r);
    return DRUDGE_OK;
}

drudge_code pg_finish(drudge_store *s, const char *owner, const drudge_attempt_end *e, int *held,
                      drudge_err *err)
{
    return pg_finish_many(s, owner, e, 1, held, err); /* a batch of one */
}

/* Outcomes in one statement: the attempts go in as arrays (unnest); the
 * owner's running row goes (the fence: no row, no outcome), the task's row
 * gets the outcome (its final attempt in the row, or in attempt_log), a
 * requeued task goes back to ready, and each row of the answer names an
 * attempt that was held (and not deleted or edited by hand while it ran). One round trip for a
 * whole writer turn instead of one per task: on PostgreSQL the round trips, not the rows, bound the
 * lifecycle. */
enum {
    F_TASK,
    F_STATE,
    F_SPEND,
    F_OUTPUT,
    F_ERROR,
    F_KIND,
    F_RUN_AT,
    F_FINISHED,
    F_PREV,
    F_ROW_WORKER,
    F_ROW_STARTED,
    F_ROW_OUTCOME,
    F_N,
    F_LOG,
    F_WORKER,
    F_STARTED,
    F_ENDED,
    F_OUTCOME,
    F_COLS
};
static const char finish_many_sql[] =
    "WITH f AS (SELECT * FROM unnest($2::bigint[], $3::text[], $4::integer[], $5::text[], "
    "  $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::integer[], $11::text[], "
    "  $12::bigint[], $13::text[], $14::integer[], $15::boolean[], $16::text[], $17::bigint[], "
    "  $18::bigint[], $19::text[]) WITH ORDINALITY AS f(task_id, state, spend, output, error, "
    "  error_kind, run_at, finished_at, prev, row_worker, row_started, row_outcome, n, log, "
    "  worker, started_at, ended_at, outcome, i)), "
    /* r carries f's columns on, so that the update walks r once (a join
     * of r with f again is planned as a nested loop: rows^2) */
    "r AS (DELETE FROM running USING f WHERE running.task_id = f.task_id "
    "  AND running.owner = $1 RETURNING f.*), "
    "t AS (UPDATE tasks SET state = r.state, attempts = tasks.attempts + 1, "
    "  spent = tasks.spent + r.spend, output = r.output, error = r.error, "
    "  error_kind = r.error_kind, run_at = coalesce(r.run_at, tasks.run_at), "
    "  finished_at = r.finished_at, worker = r.row_worker, started_at = r.row_started, "
    "  outcome = r.row_outcome, "
    "  exception = CASE WHEN r.state IN ('failed','dead','cancelled') THEN r.state END "
    "  FROM r WHERE tasks.id = r.task_id AND tasks.state = 'queued' AND tasks.attempts = r.prev "
    "  RETURNING tasks.id, tasks.priority, tasks.run_at, tasks.script, tasks.\"window\", "
    "  tasks.deadline, tasks.state, tasks.resolved_at, tasks.attempts, r.i, r.log, r.n, r.worker, "
    "  r.started_at, r.ended_at, r.outcome, r.error, r.error_kind), " PG_COUNTS_OF_OUTCOMES
    "q AS (INSERT INTO ready(task_id, priority, run_at, script, \"window\", deadline, retried) "
    "  SELECT id, priority, run_at, script, \"window\", deadline, attempts > 0 FROM t "
    "  WHERE state = 'queued' "
    "  ON CONFLICT DO NOTHING), "
    "a AS (INSERT INTO attempt_log(task_id, n, worker, started_at, ended_at, outcome, error, "
    "  error_kind) SELECT id, n, worker, started_at, ended_at, outcome, error, error_kind "
    "  FROM t WHERE log) "
    "SELECT i, script, run_at FROM t WHERE " PG_COUNTED;

/* One element of an array literal: NULL, or s quoted. */
static void arr_str(drudge_buf *b, const char *s)
{
    drudge_buf_puts(b, b->len > 1 ? "," : "");
    if (!s) {
        drudge_buf_puts(b, "NULL");
        return;
    }
    drudge_buf_puts(b, "\"");
    for (const char *c = s; *c; c++) {
        if (*c == '"' || *c == '\\')
            drudge_buf_puts(b, "\\");
        drudge_buf_add(b, c, 1);
    }
    drudge_buf_puts(b, "\"");
}

static void arr_int(drudge_buf *b, int64_t v, int null_if_zero)
{
    if (null_if_zero && !v)
        arr_str(b, NULL);
    else {
        drudge_buf_puts(b, b->len > 1 ? "," : "");
        drudge_buf_int(b, v);
    }
}

/* e as one element of each column's array, as pg_finish binds it. */
static void finish_row(drudge_buf *col, const drudge_attempt_end *e)
{
    int in_row = e->recorded && e->finished_at != 0;
    arr_int(&col[F_TASK], e->task_id, 0);
    arr_str(&col[F_STATE], e->new_state);
    arr_int(&col[F_SPEND], e->spend, 0);
    arr_str(&col[F_OUTPUT], e->output);
    arr_str(&col[F_ERROR], e->error);
    arr_str(&col[F_KIND], e->error_kind);
    arr_int(&col[F_RUN_AT], e->run_at, 1);
    arr_int(&col[F_FINISHED], e->finished_at, 1);
    arr_int(&col[F_PREV], e->attempt - 1, 0);
    arr_str(&col[F_ROW_WORKER], in_row ? e->worker : NULL);
    if (in_row)
        arr_int(&col[F_ROW_STARTED], e->started_at, 0);
    else
        arr_str(&col[F_ROW_STARTED], NULL);
    arr_str(&col[F_ROW_OUTCOME], in_row ? e->outcome : NULL);
    arr_int(&col[F_N], e->attempt, 0);
    arr_str(&col[F_LOG], e->recorded && !in_row ? "t" : "f");
    arr_str(&col[F_WORKER], e->worker);
    arr_int(&col[F_STARTED], e->started_at, 0);
    arr_int(&col[F_ENDED], e->ended_at, 0);
    arr_str(&col[F_OUTCOME], e->outcome);
}

drudge_code pg_finish_many(drudge_store *s, const char *owner, const drudge_attempt_end *e,
                           size_t n, int *held, drudge_err *err)
{
    pg_store *q = pgs(s);
    drudge_buf col[F_COLS] = {{0}};
    pg_params p = {0};
    drudge_code rc = DRUDGE_OK;
    for (int c = 0; c < F_COLS; c++)
        drudge_buf_puts(&col[c], "{");
    for (size_t i = 0; i < n; i++) {
        held[i] = 0;
        finish_row(col, &e[i]);
    }
    pg_p_str(&p, owner);
    for (int c = 0; c < F_COLS; c++) {
        drudge_buf_puts(&col[c], "}");
        pg_p_str(&p, col[c].data);
    }
    PGresult *r = pg_q(q, finish_many_sql, &p, "recording the outcomes of a batch", err);
    if (!r) {
        rc = err ? err->code : DRUDGE_EDB;
        goto cleanup;
    }
    for (int row = 0; row < PQntuples(r); row++) {
        int64_t i = pg_i64(r, row, 0) - 1;
        if (i < 0 || (size_t)i >= n)
            continue;
        held[i] = 1;
        if (!strcmp(e[i].new_state, "done"))
            pg_count_done(q, pg_text(r, row, 1));
        if (e[i].recorded && !rc)
            rc = pg_count_attempt(q, e[i].outcome, e[i].ended_at ? e[i].ended_at : e[i].now, err);
        if (!strcmp(e[i].new_state, "queued"))
            pg_note_ready(q, pg_i64(r, row, 2));
    }
    PQclear(r);
    for (size_t i = 0; i < n && !rc; i++)
        if (held[i] && e[i].pause_reason)
            rc = pause_for(q, &e[i], err);
cleanup:
    for (int c = 0; c < F_COLS; c++)
        drudge_buf_free(&col[c]);
    return rc;
}

drudge_code pg_release(drudge_store *s, const char *owner, int64_t task_id, drudge_err *err)
{
    static const char sql[] =
        "WITH r AS (DELETE FROM running WHERE task_id = $1 AND owner = $2 RETURNING task_id) "
        "INSERT INTO ready(task_id, priority, run_at, script, \"window\", deadline, retried) "
        "SELECT t.id, t.priority, t.run_at, t.script, t.\"window\", t.deadline, t.attempts > 0 "
        "FROM tasks t JOIN r "
        "ON t.id = r.task_id WHERE t.state = 'queued' ON CONFLICT DO NOTHING RETURNING run_at";
    pg_store *q = pgs(s);
    pg_params p = {0};
    pg_p_int(&p, task_id);
    pg_p_str(&p, owner);
    PGresult *r = pg_q(q, sql, &p, "releasing a task", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    if (PQntuples(r))
        pg_note_ready(q, pg_i64(r, 0, 0));
    PQclear(r);
    return DRUDGE_OK;
}

drudge_code pg_mark_started(drudge_store *s, const char *owner, const int64_t *ids, size_t n,
                            drudge_err *err)
{
    static const char sql[] = "UPDATE running SET started = true "
                              "WHERE owner = $1 AND task_id = ANY($2::bigint[]) AND NOT started";
    drudge_buf b = {0};
    drudge_buf_puts(&b, "{");
    for (size_t i = 0; i < n; i++)
        drudge_buf_printf(&b, "%s%lld", i ? "," : "", (long long)ids[i]);
    drudge_buf_puts(&b, "}");
    pg_params p = {0};
    pg_p_str(&p, owner);
    pg_p_str(&p, b.data);
    drudge_code rc = pg_exec(pgs(s), sql, &p, "marking attempts started", NULL, err);
    drudge_buf_free(&b);
    return rc;
}

drudge_code pg_unclaim(drudge_store *s, const char *owner, int64_t task_id, int *held,
                       drudge_err *err)
{
    /* As pg_release, and the task becomes suspect. */
    static const char sql[] =
        "WITH r AS (DELETE FROM running WHERE task_id = $1 AND owner = $2 RETURNING task_id), "
        "t AS (UPDATE tasks SET suspect = suspect + 1 FROM r WHERE tasks.id = r.task_id "
        "RETURNING tasks.id, tasks.priority, tasks.run_at, tasks.script, tasks.\"window\", "
        "tasks.deadline, tasks.state, tasks.attempts), "
        "i AS (INSERT INTO ready(task_id, priority, run_at, script, \"window\", deadline, retried) "
        "SELECT id, priority, run_at, script, \"window\", deadline, attempts > 0 FROM t "
        "WHERE state = 'queued' "
        "ON CONFLICT DO NOTHING RETURNING run_at) "
        "SELECT (SELECT count(*) FROM r), (SELECT min(run_at) FROM i)";
    pg_store *q = pgs(s);
    pg_params p = {0};
    pg_p_int(&p, task_id);
    pg_p_str(&p, owner);
    PGresult *r = pg_q(q, sql, &p, "giving back an unstarted task", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    *held = pg_i64(r, 0, 0) == 1;
    if (!PQgetisnull(r, 0, 1))
        pg_note_ready(q, pg_i64(r, 0, 1));
    PQclear(r);
    return DRUDGE_OK;
}

drudge_code pg_renew(drudge_store *s, const char *owner, int64_t until, drudge_err *err)
{
    return hold_lease(pgs(s), owner, until, err);
}

drudge_code pg_cancel_requests(drudge_store *s, const char *owner, int64_t *ids, size_t max,
                               size_t *n, drudge_err *err)
{
    static const char sql[] = "SELECT task_id FROM running WHERE owner = $1 AND cancel_requested";
    pg_params p = {0};
    *n = 0;
    pg_p_str(&p, owner);
    PGresult *r = pg_q(pgs(s), sql, &p, "reading cancel requests", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    for (int i = 0; i < PQntuples(r) && *n < max; i++)
        ids[(*n)++] = pg_i64(r, i, 0);
    PQclear(r);
    return DRUDGE_OK;
}

drudge_code pg_cancel_requested(drudge_store *s, int64_t task_id, int *requested, drudge_err *err)
{
    static const char sql[] = "SELECT cancel_requested::integer FROM running WHERE task_id = $1";
    int64_t v = 0;
    pg_params p = {0};
    pg_p_int(&p, task_id);
    drudge_code rc = pg_int(pgs(s), sql, &p, "reading cancel requests", &v, err);
    *requested = v != 0;
    return rc;
}

/* ---- reaping ---- */

drudge_code pg_expired(drudge_store *s, int64_t now, drudge_expired **out, size_t *n,
                       drudge_err *err)
{
    /* Running tasks whose owner's lease expired, and any whose owner holds
     * no lease at all: few or none, from two small tables. Their tasks are
     * then read by id through the primary key: a join of running with tasks
     * was planned, on statistics that lag behind running's churn, as a hash
     * of all of tasks (40 ms a call with 100,000 tasks, auto_explain). */
    /* The rows are locked, and those another reaper holds are skipped: two
     * machines' writers reaping one dead worker's tasks, each giving them
     * back one by one in its own order, deadlocked on `running` (seen in
     * pg.pg.fleet under ASan). The next reap takes what is left. */
    static const char sql[] =
        "WITH x AS MATERIALIZED (SELECT r.task_id, r.owner, r.claimed_at, r.started "
        "  FROM running r LEFT JOIN leases l ON l.owner = r.owner "
        "  WHERE l.owner IS NULL OR l.until < $1 FOR UPDATE OF r SKIP LOCKED) "
        "SELECT t.id, t.script, x.owner, x.claimed_at, t.attempts, t.spent, t.max_attempts, "
        "t.key, t.input, x.started::integer FROM x JOIN tasks t ON t.id = x.task_id "
        "WHERE t.id = ANY(ARRAY(SELECT task_id FROM x)) ORDER BY t.id";
    pg_params p = {0};
    *out = NULL;
    *n = 0;
    pg_p_int(&p, now);
    PGresult *r = pg_q(pgs(s), sql, &p, "finding expired leases", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    size_t cnt = (size_t)PQntuples(r);
    drudge_expired *v = cnt ? drudge_xmalloc(cnt * sizeof *v) : NULL;
    for (size_t i = 0; i < cnt; i++) {
        drudge_expired *e = &v[i];
        int row = (int)i;
        memset(e, 0, sizeof *e);
        e->t.id = pg_i64(r, row, 0);
        e->t.script = pg_strdup(r, row, 1);
        e->owner = pg_strdup(r, row, 2);
        e->claimed_at = pg_i64(r, row, 3);
        e->t.attempt = (int)pg_i64(r, row, 4) + 1;
        e->t.spent = (int)pg_i64(r, row, 5);
        e->t.max_attempts = (int)pg_i64(r, row, 6);
        e->t.key = pg_strdup(r, row, 7);
        e->t.input = pg_strdup(r, row, 8);
        e->started = pg_i64(r, row, 9) != 0;
    }
    PQclear(r);
    *out = v;
    *n = cnt;
    return DRUDGE_OK;
}

drudge_code pg_expire_leases(drudge_store *s, int64_t now, drudge_err *err)
{
    static const char sql[] =
        "DELETE FROM leases WHERE until < $1 "
        "AND NOT EXISTS (SELECT 1 FROM running r WHERE r.owner = leases.owner)";
    pg_params p = {0};
    pg_p_int(&p, now);
    return pg_exec(pgs(s), sql, &p, "dropping expired leases", NULL, err);
}

drudge_code pg_leases_like(drudge_store *s, const char *prefix, int64_t now,
                           void (*fn)(void *ud, const char *owner), void *ud, drudge_err *err)
{
    static const char sql[] = "SELECT owner FROM leases WHERE starts_with(owner, $1) "
                              "AND until >= $2";
    pg_params p = {0};
    pg_p_str(&p, prefix);
    pg_p_int(&p, now);
    PGresult *r = pg_q(pgs(s), sql, &p, "reading leases", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    for (int i = 0; i < PQntuples(r); i++)
        fn(ud, pg_text(r, i, 0));
    PQclear(r);
    return DRUDGE_OK;
}

drudge_code pg_end_lease(drudge_store *s, const char *owner, int64_t until, drudge_err *err)
{
    static const char sql[] = "UPDATE leases SET until = $2 WHERE owner = $1";
    pg_params p = {0};
    pg_p_str(&p, owner);
    pg_p_int(&p, until);
    return pg_exec(pgs(s), sql, &p, "ending a lease", NULL, err);
}

drudge_code pg_drop_lease(drudge_store *s, const char *owner, drudge_err *err)
{
    static const char sql[] = "DELETE FROM leases WHERE owner = $1 "
                              "AND NOT EXISTS (SELECT 1 FROM running WHERE owner = $1)";
    pg_params p = {0};
    pg_p_str(&p, owner);
    return pg_exec(pgs(s), sql, &p, "giving up the lease", NULL, err);
}

drudge_code pg_idle(drudge_store *s, int64_t now, const char *const *scripts, int *idle,
                    drudge_err *err)
{
    static const char running_sql[] =
        "SELECT count(*) FROM (SELECT 1 FROM running r JOIN tasks t ON t.id = r.task_id "
        "WHERE $1::text[] IS NULL OR t.script = ANY($1::text[]) LIMIT 1) x";
    static const char held_sql[] =
        "SELECT count(*) FROM (SELECT 1 FROM breakers b JOIN script_targets st "
        "ON st.target = b.target WHERE ($1::text[] IS NULL OR st.script = ANY($1::text[])) "
        "AND EXISTS (SELECT 1 FROM tasks t WHERE t.script = st.script AND t.state = 'queued') "
        "LIMIT 1) x";
    pg_store *q = pgs(s);
    claim_args a = {.now = now, .scripts = pg_array(scripts), .max = 1};
    claim_list l = {0};
    int64_t busy = 0;
    pg_params p = {0};
    *idle = 0;
    pg_p_str(&p, a.scripts);
    drudge_code rc = pg_int(q, running_sql, &p, "checking for work", &busy, err);
    if (!rc && !busy)
        rc = pg_closed_windows(q, now, &a.closed, err);
    if (!rc && !busy)
        rc = find_claimable(q, &a, &l, err);
    if (!rc && !busy && !l.n) /* or waits for a target to come back: an outage is not the end */
        rc = pg_int(q, held_sql, &p, "checking for work", &busy, err);
    *idle = !rc && !busy && !l.n;
    free(a.scripts);
    free(a.closed);
    return rc;
}

/* ---- listing and showing ---- */

#define TASK_STATE "CASE WHEN r.task_id IS NULL THEN t.state ELSE 'running' END"
#define TASK_SELECT                                                                                \
    "SELECT t.id, t.script, t.script_path, t.key, " TASK_STATE ", t.input, t.output, t.error, "    \
    "t.error_kind, r.owner, t.schedule, t.resolved_by, t.resolved_note, t.priority, t.attempts, "  \
    "t.spent, t.max_attempts, coalesce(r.cancel_requested::integer, 0), t.manual_minutes, "        \
    "t.exception_minutes, t.run_at, t.created_at, t.finished_at, l.until, t.resolved_at, "         \
    "t.cancelled_by, t.script_sha256, t.outcome, t.\"window\", t.deadline "                        \
    "FROM tasks t LEFT JOIN running r ON r.task_id = t.id LEFT JOIN leases l ON l.owner = "        \
    "r.owner "

static void read_task(const PGresult *r, int row, drudge_task_row *t)
{
    char **strs[] = {&t->script,      &t->script_path, &t->key,         &t->state,
                     &t->input,       &t->output,      &t->error,       &t->error_kind,
                     &t->lease_owner, &t->schedule,    &t->resolved_by, &t->resolved_note};
    memset(t, 0, sizeof *t);
    t->id = pg_i64(r, row, 0);
    for (int i = 0; i < 12; i++)
        *strs[i] = pg_strdup(r, row, i + 1);
    t->priority = (int)pg_i64(r, row, 13);
    t->attempts = (int)pg_i64(r, row, 14);
    t->spent = (int)pg_i64(r, row, 15);
    t->max_attempts = (int)pg_i64(r, row, 16);
    t->cancel_requested = (int)pg_i64(r, row, 17);
    t->manual_minutes = pg_f64(r, row, 18);
    t->exception_minutes = pg_f64(r, row, 19);
    t->run_at = pg_i64(r, row, 20);
    t->created_at = pg_i64(r, row, 21);
    t->finished_at = pg_i64(r, row, 22);
    t->lease_until = pg_i64(r, row, 23);
    t->resolved_at = pg_i64(r, row, 24);
    t->cancelled_by = pg_strdup(r, row, 25);
    t->script_sha256 = pg_strdup(r, row, 26);
    t->outcome = pg_strdup(r, row, 27);
    t->window = pg_strdup(r, row, 28);
    t->deadline = pg_i64(r, row, 29);
}

/* Every narrowing of drudge_task_filter, null for any (as SQLite's). */
#define LIST_WHERE                                                                                 \
    "WHERE ($1::text IS NULL OR " TASK_STATE " = $1) AND ($2::text IS NULL OR t.script = $2) "     \
    "AND ($4::text IS NULL OR t.key = $4) "                                                        \
    "AND ($5::text IS NULL OR left(t.key, length($5)) = $5) "                                      \
    "AND ($6::text IS NULL OR strpos(lower(t.error), lower($6)) > 0) "                             \
    "AND ($7::bigint IS NULL OR t.created_at >= $7) AND ($8::bigint IS NULL OR t.created_at < "    \
    "$8) "                                                                                         \
    "AND ($9::bigint IS NULL OR t.finished_at >= $9) "                                             \
    "AND ($10::bigint IS NULL OR t.finished_at < $10) "                                            \
    "AND ($11::bigint IS NULL OR t.id >= $11) AND ($12::bigint IS NULL OR t.id <= $12) "           \
    "AND ($13::text IS NULL OR (t.deadline IS NOT NULL AND t.state <> 'cancelled' "                \
    "AND " DEADLINE_IS ")) "

/* As SQLite's: $13 the deadline's status, $14 now, $15 the end of the risk
 * horizon (after_id is $16). */
#define MET_AT "(CASE WHEN t.state = 'done' THEN t.finished_at ELSE t.resolved_at END)"
#define DEADLINE_IS                                                                                \
    "CASE $13 WHEN 'met' THEN " MET_AT " <= t.deadline "                                           \
    "WHEN 'missed' THEN coalesce(" MET_AT " > t.deadline, $14::bigint > t.deadline) "              \
    "WHEN 'at_risk' THEN " MET_AT " IS NULL AND $14::bigint <= t.deadline "                        \
    "  AND (t.deadline <= $15::bigint OR t.state IN ('failed', 'dead')) "                          \
    "WHEN 'pending' THEN " MET_AT " IS NULL AND t.deadline > $15::bigint "                         \
    "  AND t.state NOT IN ('failed', 'dead') END"

drudge_code pg_list(drudge_store *s, const drudge_task_filter *f, drudge_task_row **rows, size_t *n,
                    drudge_err *err)
{
    /* As SQLite's (runner/store/sqlite/queue.c): keyset paging on id. */
    static const char newest_sql[] = TASK_SELECT LIST_WHERE "ORDER BY t.id DESC LIMIT $3";
    static const char oldest_sql[] = TASK_SELECT LIST_WHERE "ORDER BY t.id LIMIT $3";
    static const char before_sql[] =
        TASK_SELECT LIST_WHERE "AND t.id < $16 ORDER BY t.id DESC LIMIT $3";
    static const char after_sql[] = TASK_SELECT LIST_WHERE "AND t.id > $16 ORDER BY t.id LIMIT $3";
    /* A key without its script: through the (script, key) index, per script. */
    static const char key_sql[] =
        TASK_SELECT LIST_WHERE "AND t.script IN (SELECT name FROM scripts) AND t.key = $4 "
                               "AND ($16::bigint = 0 OR t.id < $16) ORDER BY t.id DESC LIMIT $3";
#undef LIST_WHERE
#undef DEADLINE_IS
#undef MET_AT
    const char *sql = f->key && !f->script && !f->oldest_first ? key_sql
                      : f->after_id ? (f->oldest_first ? after_sql : before_sql)
                                    : (f->oldest_first ? oldest_sql : newest_sql);
    pg_params p = {0};
    *rows = NULL;
    *n = 0;
    pg_p_str(&p, f->state);
    pg_p_str(&p, f->script);
    pg_p_int(&p, f->limit > 0 ? f->limit : 100);
    pg_p_str(&p, f->key);
    pg_p_str(&p, f->key_prefix);
    pg_p_str(&p, f->error);
    pg_p_int_or_null(&p, f->created_since);
    pg_p_int_or_null(&p, f->created_until);
    pg_p_int_or_null(&p, f->finished_since);
    pg_p_int_or_null(&p, f->finished_until);
    pg_p_int_or_null(&p, f->id_min);
    pg_p_int_or_null(&p, f->id_max);
    pg_p_str(&p, f->deadline_status);
    pg_p_int(&p, f->deadline_now);
    pg_p_int(&p, f->deadline_now + DRUDGE_DEADLINE_HORIZON);
    if (sql != newest_sql && sql != oldest_sql) /* the statements with $16 */
        pg_p_int(&p, f->after_id);
    PGresult *r = pg_q(pgs(s), sql, &p, "listing tasks", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    *n = (size_t)PQntuples(r);
    *rows = *n ? drudge_xmalloc(*n * sizeof **rows) : NULL;
    for (size_t i = 0; i < *n; i++)
        read_task(r, (int)i, &(*rows)[i]);
    PQclear(r);
    return DRUDGE_OK;
}

static drudge_code read_attempts(pg_store *q, int64_t id, drudge_attempt_row **attempts, size_t *n,
                                 drudge_err *err)
{
    static const char sql[] = "SELECT n, worker, outcome, error, error_kind, started_at, ended_at "
                              "FROM attempts WHERE task_id = $1 ORDER BY n";
    pg_params p = {0};
    pg_p_int(&p, id);
    PGresult *r = pg_q(q, sql, &p, "reading attempts", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    *n = (size_t)PQntuples(r);
    *attempts = *n ? drudge_xmalloc(*n * sizeof **attempts) : NULL;
    for (int i = 0; i < (int)*n; i++) {
        drudge_attempt_row *a = &(*attempts)[i];
        a->n = (int)pg_i64(r, i, 0);
        a->worker = pg_strdup(r, i, 1);
        a->outcome = pg_strdup(r, i, 2);
        a->error = pg_strdup(r, i, 3);
        a->error_kind = pg_strdup(r, i, 4);
        a->started_at = pg_i64(r, i, 5);
        a->ended_at = pg_i64(r, i, 6);
    }
    PQclear(r);
    return DRUDGE_OK;
}

drudge_code pg_get(drudge_store *s, int64_t id, drudge_task_row *task,
                   drudge_attempt_row **attempts, size_t *n, drudge_err *err)
{
    static const char sql[] = TASK_SELECT "WHERE t.id = $1";
    pg_store *q = pgs(s);
    pg_params p = {0};
    memset(task, 0, sizeof *task);
    if (attempts) {
        *attempts = NULL;
        *n = 0;
    }
    pg_p_int(&p, id);
    PGresult *r = pg_q(q, sql, &p, "reading a task", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    drudge_code rc = DRUDGE_OK;
    if (PQntuples(r))
        read_task(r, 0, task);
    else
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "no task #%lld", (long long)id);
    PQclear(r);
    if (!rc && attempts)
        rc = read_attempts(q, id, attempts, n, err);
    if (rc)
        drudge_task_row_clear(task);
    return rc;
}

drudge_code pg_task_state(drudge_store *s, int64_t id, char state[16], drudge_err *err)
{
    static const char sql[] = "SELECT " TASK_STATE " FROM tasks t LEFT JOIN running r "
                              "ON r.task_id = t.id WHERE t.id = $1";
    pg_params p = {0};
    state[0] = '\0';
    pg_p_int(&p, id);
    PGresult *r = pg_q(pgs(s), sql, &p, "reading a task", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    int found = PQntuples(r) > 0;
    if (found)
        snprintf(state, 16, "%s", pg_text(r, 0, 0));
    PQclear(r);
    return found ? DRUDGE_OK : drudge_seterr(err, DRUDGE_ENOTFOUND, "no task #%lld", (long long)id);
}

/* ---- status counts ---- */

static drudge_script_counts *counts_for(drudge_queue_stats *s, const char *script)
{
    for (size_t i = 0; i < s->nscripts; i++)
        if (!strcmp(s->scripts[i].script, script))
            return &s->scripts[i];
    s->scripts = drudge_xrealloc(s->scripts, (s->nscripts + 1) * sizeof *s->scripts);
    drudge_script_counts *c = &s->scripts[s->nscripts++];
    memset(c, 0, sizeof *c);
    c->script = drudge_xstrdup(script);
    return c;
}

static int by_script(const void *a, const void *b)
{
    return strcmp(((const drudge_script_counts *)a)->script,
                  ((const drudge_script_counts *)b)->script);
}

/* Counts from the small tables (running, task_counts, done_counts: v12
 * keeps them by triggers and the writer); attempts of the last minute by
 * their root steps. A running task's row says queued: it is counted
 * running and taken off queued. The oldest ready task of each script is
 * one probe of ready_script. */
enum { Q_RUNNING, Q_COUNTS, Q_LAST_MINUTE, Q_PAUSED, Q_KNOWN, Q_N };
static const char *const status_sql[Q_N] = {
    "SELECT t.script, count(*), count(*) FILTER (WHERE t.state = 'queued') "
    "FROM running r JOIN tasks t ON t.id = r.task_id GROUP BY 1",
    "SELECT c.script, c.state, c.n, CASE WHEN c.state = 'queued' THEN (SELECT t.created_at "
    "FROM tasks t WHERE t.id = (SELECT r.task_id FROM ready r WHERE r.script = c.script "
    "ORDER BY r.task_id LIMIT 1)) END FROM task_counts c WHERE c.n <> 0 "
    "UNION ALL SELECT script, 'done', n, NULL FROM done_counts WHERE n <> 0",
    "SELECT name, count(*) FROM steps WHERE id >= $1 AND seq = 1 AND parent IS NULL "
    "AND kind = 'task' GROUP BY 1", /* an operator's step is a root too */
    "SELECT script, reason FROM paused",
    "SELECT name FROM scripts",
};

static void status_row(int which, drudge_script_counts *c, const PGresult *r, int i)
{
    switch (which) {
    case Q_RUNNING:
        c->count[1] += pg_i64(r, i, 1);
        c->count[0] -= pg_i64(r, i, 2); /* counted queued in task_counts */
        break;
    case Q_COUNTS: {
        const char *state = pg_text(r, i, 1);
        if (!strcmp(state, "open"))
            c->unresolved += pg_i64(r, i, 2);
        for (int k = 0; k < DRUDGE_NSTATES; k++)
            if (!strcmp(state, drudge_task_states[k]))
                c->count[k] += pg_i64(r, i, 2);
        if (!PQgetisnull(r, i, 3))
            c->oldest_queued_us = pg_i64(r, i, 3);
        break;
    }
    case Q_LAST_MINUTE:
        c->done_last_minute = pg_i64(r, i, 1);
        break;
    case Q_PAUSED:
        c->paused = 1;
        free(c->pause_reason);
        c->pause_reason = PQgetisnull(r, i, 1) ? NULL : drudge_xstrdup(pg_text(r, i, 1));
        break;
    default:
        break; /* known scripts appear with zero counts */
    }
}

/* Root steps go on the chain as attempts end, so they are in (nearly) the
 * order attempts end: the first that ended at or after t is found by a
 * binary search on the id, as on SQLite. */
static drudge_code first_attempt_since(pg_store *q, int64_t t, int64_t *out, drudge_err *err)
{
    static const char max_sql[] = "SELECT id FROM chain_head";
    static const char root_sql[] = "SELECT started_at + duration_us FROM steps WHERE id >= $1 "
                                   "AND seq = 1 AND parent IS NULL ORDER BY id LIMIT 1";
    int64_t lo = 1, hi = 0;
    drudge_code rc = pg_int(q, max_sql, NULL, "status", &hi, err);
    hi++;
    while (!rc && lo < hi) {
        int64_t mid = lo + (hi - lo) / 2, ended = INT64_MAX;
        pg_params p = {0};
        pg_p_int(&p, mid);
        rc = pg_int(q, root_sql, &p, "status", &ended, err);
        if (ended >= t)
            hi = mid;
        else
            lo = mid + 1;
    }
    *out = lo;
    return rc;
}

drudge_code pg_status(drudge_store *s, int64_t now, drudge_queue_stats *out, drudge_err *err)
{
    pg_store *q = pgs(s);
    int64_t since = 0;
    memset(out, 0, sizeof *out);
    drudge_code rc = first_attempt_since(q, now - 60 * (int64_t)1000000, &since, err);
    for (int which = 0; which < Q_N && !rc; which++) {
        pg_params p = {0};
        pg_p_int(&p, since);
        PGresult *r = pg_q(q, status_sql[which], which == Q_LAST_MINUTE ? &p : NULL, "status", err);
        if (!r) {
            rc = err ? err->code : DRUDGE_EDB;
            break;
        }
        for (int i = 0; i < PQntuples(r); i++)
            status_row(which, counts_for(out, pg_text(r, i, 0)), r, i);
        PQclear(r);
    }
    if (rc) {
        drudge_queue_stats_clear(out);
        return rc;
    }
    if (out->nscripts > 1) /* qsort may not be given NULL, even for no elements */
        qsort(out->scripts, out->nscripts, sizeof *out->scripts, by_script);
    for (size_t i = 0; i < out->nscripts; i++) {
        drudge_script_counts *c = &out->scripts[i];
        for (int k = 0; k < DRUDGE_NSTATES; k++)
            out->total.count[k] += c->count[k];
        out->total.unresolved += c->unresolved;
        out->total.done_last_minute += c->done_last_minute;
        if (c->oldest_queued_us &&
            (!out->total.oldest_queued_us || c->oldest_queued_us < out->total.oldest_queued_us))
            out->total.oldest_queued_us = c->oldest_queued_us;
    }
    return DRUDGE_OK;
}

/* ---- operator actions ---- */

/* Runs sql[] (NULL-terminated) in the caller's transaction or one of its
 * own, with ($1 id, $2 now, $3
 * s3, $4 s4) as far as each statement has parameters (nparams[i]); *changes
 * gets the rows the last one changed, or returned. */
static drudge_code exec_tx(pg_store *q, const char *what, const char *const *sql,
                           const int *nparams, int64_t id, int64_t now, const char *s3,
                           const char *s4, int64_t *changes, drudge_err *err)
{
    /* Inside the caller's write transaction (the queue appends the
     * operator's step to the chain in it), or in one of its own. */
    int own = !q->in_tx;
    drudge_code rc = own ? pg_begin(q, err) : DRUDGE_OK;
    for (int i = 0; sql[i] && !rc; i++) {
        pg_params p = {0};
        pg_p_int(&p, id);
        pg_p_int(&p, now);
        pg_p_str(&p, s3);
        pg_p_str(&p, s4);
        p.n = nparams[i];
        PGresult *r = pg_q(q, sql[i], &p, what, err);
        if (!r) {
            rc = err ? err->code : DRUDGE_EDB;
            break;
        }
        *changes =
            PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : strtoll(PQcmdTuples(r), NULL, 10);
        PQclear(r);
    }
    if (!own)
        return rc;
    if (!rc)
        rc = pg_commit(q, err);
    if (rc)
        pg_rollback(q);
    return rc;
}

#define REQUEUE                                                                                    \
    "state = 'queued', spent = 0, run_at = $2, finished_at = NULL, error = NULL, "                 \
    "error_kind = NULL, output = NULL, resolved_by = NULL, resolved_at = NULL, "                   \
    "resolved_note = NULL, worker = NULL, started_at = NULL, outcome = NULL, exception = NULL, "   \
    "cancelled_by = NULL"
/* Before a task is requeued, its final attempt moves to attempt_log. */
#define KEEP_FINAL_ATTEMPT(WHERE)                                                                  \
    "INSERT INTO attempt_log(task_id, n, worker, started_at, ended_at, outcome, error, "           \
    "error_kind) SELECT id, attempts, worker, started_at, finished_at, outcome, error, "           \
    "error_kind FROM tasks " WHERE " AND outcome IS NOT NULL"
#define TO_READY(WHERE)                                                                            \
    "WITH t AS (UPDATE tasks SET " REQUEUE " " WHERE                                               \
    " RETURNING id, priority, run_at, script, \"window\", deadline, attempts > 0) "                \
    "INSERT INTO ready(task_id, priority, run_at, script, \"window\", deadline, retried) "         \
    "SELECT * FROM t"
#define RETRY_ONE "WHERE id = $1 AND $2::bigint = $2 AND state IN ('failed','dead','cancelled')"
#define RETRY_ALL                                                                                  \
    "WHERE $1::bigint = $1 AND $2::bigint = $2 AND state = $3 "                                    \
    "AND ($4::text IS NULL OR script = $4)"

drudge_code pg_retry(drudge_store *s, int64_t id, int64_t now, int64_t *changed, drudge_err *err)
{
    static const char *const sql[] = {KEEP_FINAL_ATTEMPT(RETRY_ONE), TO_READY(RETRY_ONE), NULL};
    static const int nparams[] = {2, 2};
    pg_note_ready(pgs(s), now);
    return exec_tx(pgs(s), "retry", sql, nparams, id, now, NULL, NULL, changed, err);
}

drudge_code pg_retry_all(drudge_store *s, const char *state, const char *script, int64_t now,
                         int64_t *changed, drudge_err *err)
{
    static const char *const sql[] = {KEEP_FINAL_ATTEMPT(RETRY_ALL), TO_READY(RETRY_ALL), NULL};
    static const int nparams[] = {4, 4};
    pg_note_ready(pgs(s), now);
    return exec_tx(pgs(s), "retry", sql, nparams, 0, now, state, script, changed, err);
}

drudge_code pg_cancel(drudge_store *s, int64_t id, const char *who, int64_t now, int64_t *changed,
                      int *deferred, drudge_err *err)
{
    /* A claim holds the ready row's lock until it commits, so a cancel
     * that finds no ready row finds the task in running afterwards. */
    static const char *const queued[] = {
        "WITH d AS (DELETE FROM ready WHERE task_id = $1 RETURNING task_id) "
        "UPDATE tasks SET state = 'cancelled', exception = 'cancelled', finished_at = $2, "
        "cancelled_by = $3 FROM d WHERE tasks.id = d.task_id AND tasks.state = 'queued'",
        NULL};
    /* The row names who asked at once; it says cancelled when the worker
     * has stopped the attempt. */
    static const char *const running[] = {
        "UPDATE tasks SET cancelled_by = $3 WHERE id = $1 AND $2::bigint = $2 "
        "AND EXISTS (SELECT 1 FROM running WHERE task_id = $1)",
        "UPDATE running SET cancel_requested = true WHERE task_id = $1", NULL};
    static const int nq[] = {3}, nr[] = {3, 1};
    int64_t asked = 0;
    *deferred = 0;
    drudge_code rc = exec_tx(pgs(s), "cancel", queued, nq, id, now, who, NULL, changed, err);
    if (rc || *changed)
        return rc;
    rc = exec_tx(pgs(s), "cancel", running, nr, id, now, who, NULL, &asked, err);
    *deferred = !rc && asked > 0;
    return rc;
}

drudge_code pg_pause(drudge_store *s, const char *script, const char *who, int64_t now,
                     int64_t *changed, drudge_err *err)
{
    static const char *const sql[] = {"INSERT INTO paused(script, paused_at, paused_by) "
                                      "SELECT $3, $2, $4 WHERE $1::bigint = $1 "
                                      "ON CONFLICT (script) DO NOTHING",
                                      NULL};
    static const int nparams[] = {4};
    return exec_tx(pgs(s), "pause", sql, nparams, 0, now, script, who, changed, err);
}

drudge_code pg_resume(drudge_store *s, const char *script, int64_t *changed, drudge_err *err)
{
    static const char *const sql[] = {
        "DELETE FROM paused WHERE $1::bigint = $1 AND $2::bigint = $2 AND script = $3", NULL};
    static const int nparams[] = {3};
    pg_note_ready(pgs(s), 1); /* its waiting tasks are claimable again */
    return exec_tx(pgs(s), "resume", sql, nparams, 0, 0, script, NULL, changed, err);
}

drudge_code pg_resolve(drudge_store *s, int64_t id, const char *who, const char *note, int64_t now,
                       int64_t *changed, drudge_err *err)
{
    static const char *const sql[] = {
        "UPDATE tasks SET resolved_by = $3, resolved_at = $2, resolved_note = $4 "
        "WHERE id = $1 AND state IN ('failed','dead')",
        NULL};
    static const int nparams[] = {4};
    return exec_tx(pgs(s), "resolve", sql, nparams, id, now, who, note, changed, err);
}

/* The earliest run_at after `after` over every priority of ready, each
 * read at the start of its stretch of ready_due (a skip scan). */
const char pg_next_sql[] =
    "WITH RECURSIVE lv(p) AS (SELECT max(priority) FROM ready UNION ALL "
    "SELECT (SELECT max(priority) FROM ready WHERE priority < lv.p) FROM lv "
    "WHERE lv.p IS NOT NULL) "
    "SELECT coalesce(min((SELECT run_at FROM ready WHERE priority = lv.p AND run_at > $1 "
    "ORDER BY run_at LIMIT 1)), 0) FROM lv WHERE p IS NOT NULL";

drudge_code pg_next_due(drudge_store *s, int64_t *run_at, drudge_err *err)
{
    pg_params p = {0};
    *run_at = 0;
    pg_p_int(&p, INT64_MIN);
    return pg_int(pgs(s), pg_next_sql, &p, "reading the queue", run_at, err);
}

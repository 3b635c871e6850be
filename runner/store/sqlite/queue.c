/* queue.c: the SQLite backend's tasks, leases and attempts: enqueue, claim,
 * outcomes, reaping, listing, status counts and operator actions.
 *
 * The tables are in schema.c. A claim reads the partial index tasks_due in
 * order and stops after LIMIT rows, so its cost does not grow with the
 * backlog; cancel requests, reaping and the idle check read `running`,
 * which only holds running tasks. Statements on those paths name the index
 * (INDEXED BY) so the planner, which has no statistics for partial indexes,
 * never falls back to scanning the table; for the same reason, joins from
 * `running` to tasks are written CROSS JOIN, which keeps the small table
 * outermost (the planner had chosen to scan every task and look each one up
 * in `running`). Every statement is prepared once per connection (sq_stmt). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "runner/calendar/window.h"
#include "runner/store/sqlite/sqliteint.h"

/* ---- run windows in SQL ---- */

/* drudge_queue_window_open(spec, now): drudge_window_allows with the last
 * few answers kept. A claim may pass many tasks waiting for the same closed
 * window; parsing the window once per task would make every claim as slow as
 * that backlog is long. */
#define WINDOW_CACHE 8
typedef struct window_cache {
    struct {
        char *spec;
        int64_t now;
        int open;
    } e[WINDOW_CACHE];
    int next;
} window_cache;

static void window_cache_free(void *p)
{
    window_cache *c = p;
    for (int i = 0; i < WINDOW_CACHE; i++)
        free(c->e[i].spec);
    free(c);
}

static void sql_window_open(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    window_cache *c = sqlite3_user_data(ctx);
    const char *spec = (const char *)sqlite3_value_text(argv[0]);
    int64_t now = sqlite3_value_int64(argv[1]);
    (void)argc;
    if (!spec) {
        sqlite3_result_int(ctx, 1);
        return;
    }
    for (int i = 0; i < WINDOW_CACHE; i++)
        if (c->e[i].spec && c->e[i].now == now && !strcmp(c->e[i].spec, spec)) {
            sqlite3_result_int(ctx, c->e[i].open);
            return;
        }
    int k = c->next++ % WINDOW_CACHE;
    free(c->e[k].spec);
    c->e[k].spec = drudge_xstrdup(spec);
    c->e[k].now = now;
    c->e[k].open = drudge_window_allows(spec, now);
    sqlite3_result_int(ctx, c->e[k].open);
}

static void sql_in_window(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *spec = (const char *)sqlite3_value_text(argv[0]);
    sqlite3_result_int(ctx, drudge_window_allows(spec, sqlite3_value_int64(argv[1])));
}

drudge_code drudge_window_register(sqlite3 *db, drudge_err *err)
{
    if (sqlite3_create_function(db, "drudge_in_window", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                sql_in_window, NULL, NULL) != SQLITE_OK)
        return drudge_seterr(err, DRUDGE_EDB, "registering drudge_in_window: %s",
                             sqlite3_errmsg(db));
    return DRUDGE_OK;
}

drudge_code sq_register_functions(sq_store *q, drudge_err *err)
{
    drudge_code rc = drudge_window_register(q->db, err);
    if (rc)
        return rc;
    window_cache *wc = drudge_xmalloc(sizeof *wc);
    memset(wc, 0, sizeof *wc);
    /* On failure SQLite calls window_cache_free itself. */
    if (sqlite3_create_function_v2(q->db, "drudge_queue_window_open", 2, SQLITE_UTF8, wc,
                                   sql_window_open, NULL, NULL, window_cache_free) != SQLITE_OK)
        return sq_err(q, "registering drudge_queue_window_open", err);
    return DRUDGE_OK;
}

/* ---- enqueue ---- */

/* Rows of a bulk load go in ENQ_BATCH at a time: one multi-row INSERT costs
 * about a tenth less per row than single-row ones (statement start, cursor
 * opening and halting are paid once per batch). OR FAIL: a multi-row
 * statement that could abort halfway keeps a statement journal to undo its
 * earlier rows, which on a big database spilled to a temp file (100,000
 * page writes for a 200,000-row load); the caller rolls back the whole load
 * on any error anyway. Duplicate keys are still skipped by the upsert. */
#define ENQ_BATCH 32
#define ENQ_COLS  15

static const char upsert_script_sql[] =
    "INSERT INTO scripts(name, path, max_attempts, manual_minutes, exception_minutes, window, "
    "updated_at) VALUES (?1,?2,?3,?4,?5,?6,?7) ON CONFLICT(name) DO UPDATE SET path = ?2, "
    "max_attempts = ?3, manual_minutes = ?4, exception_minutes = ?5, window = ?6, "
    "updated_at = ?7";

#define ENQ_INSERT                                                                                 \
    "INSERT OR FAIL INTO tasks(script, script_path, key, input, state, priority, run_at, "         \
    "max_attempts, manual_minutes, exception_minutes, schedule, window, created_at, later, "       \
    "script_sha256, deadline) VALUES "
#define ENQ_VALUES "(?,?,?,?,'queued',?,?,?,?,?,?,?,?,?,?,?)"
/* The conflict target names the partial unique index, so a duplicate key is
 * skipped while every other constraint still fails loudly. */
#define ENQ_CONFLICT " ON CONFLICT(script, key) WHERE key IS NOT NULL DO NOTHING"
static const char enq_one_sql[] = ENQ_INSERT ENQ_VALUES ENQ_CONFLICT;
static const char enq_find_sql[] = "SELECT id FROM tasks WHERE script = ? AND key = ?";
static char enq_many_sql[sizeof ENQ_INSERT + ENQ_BATCH * sizeof ENQ_VALUES + sizeof ENQ_CONFLICT];
static pthread_once_t enq_many_once = PTHREAD_ONCE_INIT;

static void build_enq_many(void)
{
    char *p = enq_many_sql;
    p += sprintf(p, "%s", ENQ_INSERT);
    for (int r = 0; r < ENQ_BATCH; r++)
        p += sprintf(p, "%s%s", r ? "," : "", ENQ_VALUES);
    sprintf(p, "%s", ENQ_CONFLICT);
}

static int max_attempts_of(const drudge_task_spec *spec)
{
    return spec->max_attempts > 0 ? spec->max_attempts : 3;
}

static drudge_code upsert_script(sq_store *q, const drudge_task_spec *spec, int64_t now,
                                 drudge_err *err)
{
    sqlite3_stmt *st = sq_stmt(q, upsert_script_sql, "recording the script", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, spec->script, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, spec->script_path, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, max_attempts_of(spec));
    sqlite3_bind_double(st, 4, spec->manual_minutes);
    sqlite3_bind_double(st, 5, spec->exception_minutes);
    sq_bind_text(st, 6, spec->window);
    sqlite3_bind_int64(st, 7, now);
    return sq_done(q, st, "recording the script", err);
}

/* Binds one row of the INSERT (ENQ_COLS parameters) at row slot r. */
static void bind_row(sqlite3_stmt *st, int r, const drudge_task_spec *spec, int64_t now)
{
    int o = r * ENQ_COLS;
    int64_t run_at = spec->run_at ? spec->run_at : now;
    sqlite3_bind_text(st, o + 1, spec->script, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, o + 2, spec->script_path, -1, SQLITE_STATIC);
    sq_bind_text(st, o + 3, spec->key);
    sq_bind_text(st, o + 4, spec->input);
    sqlite3_bind_int(st, o + 5, spec->priority);
    sqlite3_bind_int64(st, o + 6, run_at);
    sqlite3_bind_int(st, o + 7, max_attempts_of(spec));
    sqlite3_bind_double(st, o + 8, spec->manual_minutes);
    sqlite3_bind_double(st, o + 9, spec->exception_minutes);
    sq_bind_text(st, o + 10, spec->schedule);
    sq_bind_text(st, o + 11, spec->window);
    sqlite3_bind_int64(st, o + 12, now);
    sqlite3_bind_int(st, o + 13, run_at > now); /* later: see schema v5 */
    sq_bind_text(st, o + 14, spec->script_sha256);
    if (spec->deadline)
        sqlite3_bind_int64(st, o + 15, spec->deadline);
    else
        sqlite3_bind_null(st, o + 15);
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* Everything but key and input equal: the rows can share a multi-row INSERT. */
static int same_batch(const drudge_task_spec *a, const drudge_task_spec *b)
{
    return same_str(a->script, b->script) && same_str(a->script_path, b->script_path) &&
           a->priority == b->priority && a->run_at == b->run_at &&
           a->max_attempts == b->max_attempts && a->manual_minutes == b->manual_minutes &&
           a->exception_minutes == b->exception_minutes && same_str(a->schedule, b->schedule) &&
           same_str(a->window, b->window) && same_str(a->script_sha256, b->script_sha256) &&
           a->deadline == b->deadline;
}

/* One row; a duplicate key sets *dup and, if id is wanted, finds the task. */
static drudge_code enqueue_one(sq_store *q, const drudge_task_spec *spec, int64_t now, int64_t *id,
                               int *dup, drudge_err *err)
{
    sqlite3_stmt *st = sq_stmt(q, enq_one_sql, "enqueue", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    bind_row(st, 0, spec, now);
    drudge_code rc = sq_done(q, st, "enqueue", err);
    if (rc)
        return rc;
    *dup = sq_changes(q) == 0;
    if (!*dup) {
        if (id)
            *id = sqlite3_last_insert_rowid(q->db);
        return sq_count_task(q, spec->script, 0, "queued", 1, err);
    }
    if (!id)
        return DRUDGE_OK;
    st = sq_stmt(q, enq_find_sql, "enqueue", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, spec->script, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, spec->key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return DRUDGE_OK;
}

/* ENQ_BATCH rows sharing specs[0]'s fields in one statement. */
static drudge_code enqueue_many(sq_store *q, const drudge_task_spec *specs, int64_t now,
                                int64_t *added, int64_t *duplicates, drudge_err *err)
{
    pthread_once(&enq_many_once, build_enq_many);
    sqlite3_stmt *st = sq_stmt(q, enq_many_sql, "enqueue", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    for (int r = 0; r < ENQ_BATCH; r++)
        bind_row(st, r, &specs[r], now);
    drudge_code rc = sq_done(q, st, "enqueue", err);
    if (rc)
        return rc;
    int64_t changed = sq_changes(q);
    *added += changed;
    *duplicates += ENQ_BATCH - changed;
    return sq_count_task(q, specs[0].script, 0, "queued", changed, err);
}

/* How many specs from specs[0] can share a multi-row INSERT. */
static size_t batch_run(const drudge_task_spec *specs, size_t n)
{
    size_t k = 1;
    while (k < n && k < ENQ_BATCH && same_batch(&specs[0], &specs[k]))
        k++;
    return k;
}

drudge_code sq_enqueue(drudge_store *s, const drudge_task_spec *specs, size_t n, int64_t now,
                       int64_t *id, int *dup, int64_t *added, int64_t *duplicates, drudge_err *err)
{
    sq_store *q = sq(s);
    drudge_code rc = DRUDGE_OK;
    int64_t nadd = 0, ndup = 0;
    const drudge_task_spec *last = NULL; /* the scripts row written last */
    for (size_t i = 0; i < n && !rc;) {
        const drudge_task_spec *spec = &specs[i];
        if (!last || !same_str(last->script, spec->script) ||
            !same_str(last->script_path, spec->script_path)) {
            rc = upsert_script(q, spec, now, err);
            if (rc)
                break;
            last = spec;
        }
        size_t run = id || dup ? 1 : batch_run(spec, n - i);
        if (run == ENQ_BATCH) {
            rc = enqueue_many(q, spec, now, &nadd, &ndup, err);
            i += run;
            continue;
        }
        int one_dup = 0;
        rc = enqueue_one(q, spec, now, id ? &id[i] : NULL, &one_dup, err);
        if (dup)
            dup[i] = one_dup;
        *(one_dup ? &ndup : &nadd) += 1;
        i++;
    }
    if (added)
        *added = nadd;
    if (duplicates)
        *duplicates = ndup;
    return rc;
}

drudge_code sq_known_script(drudge_store *s, const char *name, drudge_task_spec *spec,
                            drudge_err *err)
{
    static const char sql[] = "SELECT name, path, max_attempts, manual_minutes, "
                              "exception_minutes, window FROM scripts WHERE name = ?";
    sq_store *q = sq(s);
    drudge_code rc = DRUDGE_OK;
    memset(spec, 0, sizeof *spec);
    sqlite3_stmt *st = sq_stmt(q, sql, "looking up a script", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        spec->script = sq_col_strdup(st, 0);
        spec->script_path = sq_col_strdup(st, 1);
        spec->max_attempts = sqlite3_column_int(st, 2);
        spec->manual_minutes = sqlite3_column_double(st, 3);
        spec->exception_minutes = sqlite3_column_double(st, 4);
        spec->window = sq_col_strdup(st, 5);
    } else if (r == SQLITE_DONE) {
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND,
                           "unknown script '%s': no such file, and no script of that name was "
                           "queued before",
                           name);
    } else {
        rc = sq_err(q, "looking up a script", err);
    }
    sqlite3_reset(st);
    return rc;
}

/* ---- claims and leases ---- */

/* What a claim may take (and so what keeps --until-empty going): due, not
 * paused, inside its window, one of our scripts (?2: a JSON array, or NULL). */
#define CLAIMABLE                                                                                  \
    "state = 'queued' AND run_at <= ?1 AND script NOT IN (SELECT script FROM paused) "             \
    "AND (?2 IS NULL OR script IN (SELECT value FROM json_each(?2))) "                             \
    "AND (window IS NULL OR drudge_queue_window_open(window, ?1))"
/* Claimable tasks not running already, with what the worker needs of each,
 * read through index INDEX. */
#define CLAIM_FROM(INDEX)                                                                          \
    "SELECT id, script, script_path, key, input, attempts, spent, max_attempts, priority, "        \
    "run_at, "                                                                                     \
    "suspect FROM tasks INDEXED BY " INDEX " WHERE later = 0 AND " CLAIMABLE                       \
    " AND NOT EXISTS (SELECT 1 FROM running r WHERE r.task_id = tasks.id) " NOT_HELD
#define CLAIM_SELECT CLAIM_FROM("tasks_due")
/* Not held by an open circuit breaker (breaker.c), as a paused script is
 * not: each subquery runs once per statement (no correlation), and with no
 * breaker open it reads one empty table. ?5: the target whose probe this
 * claim takes, or NULL; a probe takes only tasks of that target's scripts. */
#define NOT_HELD                                                                                   \
    "AND script NOT IN (SELECT st.script FROM breakers b JOIN script_targets st "                  \
    "ON st.target = b.target WHERE ?5 IS NULL OR b.target <> ?5) "                                 \
    "AND (?5 IS NULL OR script IN (SELECT script FROM script_targets WHERE target = ?5)) "
#define CLAIM_LEVELS 64
#define PROMOTE_MAX  10000

/* One priority at a time: within one, tasks_due is in run_at order, so the
 * scan stops at the first task not yet due instead of walking through every
 * task scheduled for later (a backlog of a million made each claim that came
 * up short take 50 ms). Running tasks keep their place in tasks_due; the
 * claim walks past them (a lookup in the small `running` table each). */
/* Within a priority, the due tasks with a deadline come first, nearest
 * deadline first (tasks_due_deadline holds only them, so with no deadline
 * in the queue this is one probe of an empty index); then the others. */
static const char claim_deadline_sql[] =
    CLAIM_FROM("tasks_due_deadline") "AND deadline IS NOT NULL AND priority = ?4 "
                                     "ORDER BY deadline, id LIMIT ?3";
static const char claim_sql[] =
    CLAIM_SELECT "AND priority = ?4 AND deadline IS NULL ORDER BY run_at, id LIMIT ?3";
/* After CLAIM_LEVELS priorities, the rest in one scan. */
static const char claim_rest_sql[] =
    CLAIM_SELECT "AND priority < ?4 ORDER BY priority DESC, run_at, id LIMIT ?3";
/* Not max(): with a WHERE term SQLite reads every entry for it. */
static const char top_sql[] =
    "SELECT priority FROM tasks INDEXED BY tasks_due "
    "WHERE state = 'queued' AND later = 0 AND priority < ?1 ORDER BY priority DESC LIMIT 1";
/* Tasks whose time has come join tasks_due (schema v5), oldest first and
 * PROMOTE_MAX per claim, so that a million tasks all due at once do not make
 * one claim rewrite a million rows. */
static const char promote_sql[] =
    "UPDATE tasks SET later = 0 WHERE id IN (SELECT id FROM tasks INDEXED BY tasks_later "
    "WHERE state = 'queued' AND later = 1 AND run_at <= ?1 ORDER BY run_at LIMIT ?2)";
/* For --until-empty: due tasks a claim has not moved yet. */
static const char due_later_sql[] =
    "SELECT EXISTS(SELECT 1 FROM tasks INDEXED BY tasks_later WHERE later = 1 AND " CLAIMABLE ")";
static const char take_sql[] =
    "INSERT INTO running(task_id, owner, claimed_at, started) VALUES (?1, ?2, ?3, ?4)";
/* Taken with every claim, so a process whose lease was reaped while it
 * stalled holds one again before it holds new tasks. */
static const char lease_sql[] =
    "INSERT INTO leases(owner, until) VALUES (?1, ?2) "
    "ON CONFLICT(owner) DO UPDATE SET until = max(until, excluded.until)";
static const char unrun_sql[] = "DELETE FROM running WHERE task_id = ?1 AND owner = ?2";

/* The scripts filter as a JSON array for json_each, or NULL for all. */
static char *scripts_json(const char *const *scripts)
{
    if (!scripts || !scripts[0])
        return NULL;
    drudge_buf b = {0};
    drudge_buf_puts(&b, "[");
    for (const char *const *s = scripts; *s; s++) {
        if (s != scripts)
            drudge_buf_puts(&b, ",");
        drudge_buf_json_str(&b, *s, strlen(*s));
    }
    drudge_buf_puts(&b, "]");
    return drudge_buf_take(&b);
}

typedef struct claim_list {
    drudge_claimed *v;
    size_t n, cap;
} claim_list;

/* Appends the rows of one claim statement, already bound, to l. */
static int claim_rows(sqlite3_stmt *st, claim_list *l)
{
    int r;
    for (r = sqlite3_step(st); r == SQLITE_ROW; r = sqlite3_step(st)) {
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 16;
            l->v = drudge_xrealloc(l->v, l->cap * sizeof *l->v);
        }
        drudge_claimed *t = &l->v[l->n++];
        t->id = sqlite3_column_int64(st, 0);
        t->script = sq_col_strdup(st, 1);
        t->script_path = sq_col_strdup(st, 2);
        t->key = sq_col_strdup(st, 3);
        t->input = sq_col_strdup(st, 4);
        t->attempt = sqlite3_column_int(st, 5) + 1;
        t->spent = sqlite3_column_int(st, 6);
        t->max_attempts = sqlite3_column_int(st, 7);
        t->priority = sqlite3_column_int(st, 8);
        t->run_at = sqlite3_column_int64(st, 9);
        t->suspect = sqlite3_column_int(st, 10);
    }
    sqlite3_reset(st);
    return r;
}

/* The highest priority below `below` with a due-index entry; *none if none. */
static drudge_code next_priority(sq_store *q, int64_t below, int64_t *level, int *none,
                                 drudge_err *err)
{
    sqlite3_stmt *st = sq_stmt(q, top_sql, "claiming tasks", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, below);
    int r = sqlite3_step(st);
    *none = r != SQLITE_ROW;
    if (r == SQLITE_ROW)
        *level = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return r == SQLITE_ROW || r == SQLITE_DONE ? DRUDGE_OK : sq_err(q, "claiming tasks", err);
}

/* Runs one claim statement for priority level `below`, appending to l. */
static drudge_code claim_level(sq_store *q, const char *sql, int64_t now, const char *scripts,
                               const char *probe, int max, int64_t below, claim_list *l,
                               drudge_err *err)
{
    sqlite3_stmt *st = sq_stmt(q, sql, "claiming tasks", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, now);
    sq_bind_text(st, 2, scripts);
    sqlite3_bind_int(st, 3, max - (int)l->n);
    sqlite3_bind_int64(st, 4, below);
    sq_bind_text(st, 5, probe);
    return claim_rows(st, l) == SQLITE_DONE ? DRUDGE_OK : sq_err(q, "claiming tasks", err);
}

/* Finds up to max claimable tasks, highest priority first, into l. */
static drudge_code find_claimable(sq_store *q, int64_t now, const char *scripts, const char *probe,
                                  int max, claim_list *l, drudge_err *err)
{
    int64_t below = INT64_MAX;
    for (int level = 0; (int)l->n < max; level++) {
        int rest = level >= CLAIM_LEVELS, none = 0;
        if (!rest) {
            drudge_code rc = next_priority(q, below, &below, &none, err);
            if (rc)
                return rc;
            if (none)
                break;
        }
        if (!rest) {
            drudge_code rc =
                claim_level(q, claim_deadline_sql, now, scripts, probe, max, below, l, err);
            if (rc)
                return rc;
            if ((int)l->n >= max)
                break;
        }
        drudge_code rc = claim_level(q, rest ? claim_rest_sql : claim_sql, now, scripts, probe, max,
                                     below, l, err);
        if (rc)
            return rc;
        if (rest)
            break;
    }
    return DRUDGE_OK;
}

static drudge_code hold_lease(sq_store *q, const char *owner, int64_t until, drudge_err *err)
{
    sqlite3_stmt *st = sq_stmt(q, lease_sql, "taking the lease", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, until);
    return sq_done(q, st, "taking the lease", err);
}

/* Marks task id running under owner's lease (started: see schema v7). */
static drudge_code take_task(sq_store *q, const char *owner, int64_t id, int64_t now, int started,
                             drudge_err *err)
{
    sqlite3_stmt *st = sq_stmt(q, take_sql, "claiming tasks", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int(st, 4, started);
    return sq_done(q, st, "claiming tasks", err);
}

/* Deletes task id's `running` row if owner holds it; *held says whether it
 * did (if not, the task is someone else's now, or no one's). */
static drudge_code stop_running(sq_store *q, int64_t id, const char *owner, const char *what,
                                int *held, drudge_err *err)
{
    *held = 0;
    sqlite3_stmt *st = sq_stmt(q, unrun_sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
    drudge_code rc = sq_done(q, st, what, err);
    *held = !rc && sq_changes(q) == 1;
    return rc;
}

static drudge_code promote_due(sq_store *q, int64_t now, drudge_err *err)
{
    sqlite3_stmt *st = sq_stmt(q, promote_sql, "moving tasks whose time has come", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, PROMOTE_MAX);
    return sq_done(q, st, "moving tasks whose time has come", err);
}

drudge_code sq_claim(drudge_store *s, const drudge_claim_req *req, drudge_claimed **out, size_t *n,
                     drudge_err *err)
{
    sq_store *q = sq(s);
    claim_list l = {0};
    *out = NULL;
    *n = 0;
    if (req->max <= 0)
        return DRUDGE_OK;
    char *scripts = scripts_json(req->scripts);
    drudge_code rc = promote_due(q, req->now, err);
    if (!rc)
        rc = find_claimable(q, req->now, scripts, req->probe, req->max, &l, err);
    if (!rc && l.n)
        rc = hold_lease(q, req->owner, req->lease_until, err);
    for (size_t i = 0; i < l.n && !rc; i++)
        rc = take_task(q, req->owner, l.v[i].id, req->now, l.v[i].suspect > 0, err);
    free(scripts);
    if (rc) {
        drudge_claimed_free_all(l.v, l.n);
        return rc;
    }
    *out = l.v;
    *n = l.n;
    return DRUDGE_OK;
}

drudge_code sq_start_adhoc(drudge_store *s, const drudge_task_spec *spec, const char *owner,
                           int64_t now, int64_t lease_until, int64_t *id, drudge_err *err)
{
    static const char insert_sql[] =
        "INSERT INTO tasks(script, script_path, key, input, state, priority, run_at, "
        "max_attempts, manual_minutes, exception_minutes, created_at, script_sha256) "
        "VALUES (?1,?2,?3,?4,'queued',0,?5,?6,?7,?8,?5,?9)";
    sq_store *q = sq(s);
    drudge_code rc = sq_begin(q, err);
    if (rc)
        return rc;
    rc = upsert_script(q, spec, now, err);
    if (rc)
        goto cleanup;
    sqlite3_stmt *st;
    if (spec->key) {
        st = sq_stmt(q, enq_find_sql, "run", err);
        if (!st) {
            rc = err ? err->code : DRUDGE_EDB;
            goto cleanup;
        }
        sqlite3_bind_text(st, 1, spec->script, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, spec->key, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            rc = drudge_seterr(err, DRUDGE_ESTATE,
                               "a task with key '%s' already exists for %s (#%lld)", spec->key,
                               spec->script, (long long)sqlite3_column_int64(st, 0));
        sqlite3_reset(st);
        if (rc)
            goto cleanup;
    }
    st = sq_stmt(q, insert_sql, "run", err);
    if (!st) {
        rc = err ? err->code : DRUDGE_EDB;
        goto cleanup;
    }
    sqlite3_bind_text(st, 1, spec->script, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, spec->script_path, -1, SQLITE_STATIC);
    sq_bind_text(st, 3, spec->key);
    sq_bind_text(st, 4, spec->input);
    sqlite3_bind_int64(st, 5, now);
    sqlite3_bind_int(st, 6, max_attempts_of(spec));
    sqlite3_bind_double(st, 7, spec->manual_minutes);
    sqlite3_bind_double(st, 8, spec->exception_minutes);
    sq_bind_text(st, 9, spec->script_sha256);
    rc = sq_done(q, st, "run", err);
    if (!rc)
        rc = sq_count_task(q, spec->script, 0, "queued", 1, err);
    if (rc)
        goto cleanup;
    *id = sqlite3_last_insert_rowid(q->db);
    /* Running from the start, under a lease of the run's own. */
    rc = hold_lease(q, owner, lease_until, err);
    if (!rc)
        rc = take_task(q, owner, *id, now, 1, err);
    if (!rc)
        rc = sq_commit(q, err);
cleanup:
    if (rc)
        sq_rollback(q);
    return rc;
}

/* ---- outcomes ---- */

static const char outcome_sql[] =
    "UPDATE tasks SET state = ?2, attempts = attempts + 1, spent = spent + ?3, output = ?4, "
    "error = ?5, error_kind = ?6, run_at = coalesce(?7, run_at), finished_at = ?8, "
    "worker = ?10, started_at = ?11, outcome = ?12, later = ?13 "
    "WHERE id = ?1 AND state = 'queued' AND attempts = ?9";
static const char attempt_sql[] =
    "INSERT INTO attempt_log(task_id, n, worker, started_at, ended_at, outcome, error, "
    "error_kind) VALUES (?,?,?,?,?,?,?,?)";

static void bind_int64_or_null(sqlite3_stmt *st, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

/* The task's row: its new state, and its final attempt if in_row (a
 * task's final attempt is kept in its own row, which the outcome rewrites
 * anyway; any other in attempt_log). *changed: whether the row matched. */
static drudge_code write_outcome(sq_store *q, const drudge_attempt_end *e, int in_row, int *changed,
                                 drudge_err *err)
{
    const char *what = "recording a task's outcome";
    sqlite3_stmt *st = sq_stmt(q, outcome_sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, e->task_id);
    sqlite3_bind_text(st, 2, e->new_state, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, e->spend);
    sq_bind_text(st, 4, e->output);
    sq_bind_text(st, 5, e->error);
    sq_bind_text(st, 6, e->error_kind);
    bind_int64_or_null(st, 7, e->run_at);
    bind_int64_or_null(st, 8, e->finished_at);
    sqlite3_bind_int(st, 9, e->attempt - 1);
    if (in_row) {
        sqlite3_bind_text(st, 10, e->worker, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 11, e->started_at);
        sqlite3_bind_text(st, 12, e->outcome, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, 10);
        sqlite3_bind_null(st, 11);
        sqlite3_bind_null(st, 12);
    }
    /* A backoff or retry_later(s > 0) waits in tasks_later (schema v5). */
    sqlite3_bind_int(st, 13, e->run_at > e->now);
    drudge_code rc = sq_done(q, st, what, err);
    *changed = !rc && sq_changes(q) == 1;
    return rc;
}

static drudge_code log_attempt(sq_store *q, const drudge_attempt_end *e, drudge_err *err)
{
    const char *what = "recording an attempt";
    sqlite3_stmt *st = sq_stmt(q, attempt_sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, e->task_id);
    sqlite3_bind_int(st, 2, e->attempt);
    sqlite3_bind_text(st, 3, e->worker, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, e->started_at);
    sqlite3_bind_int64(st, 5, e->ended_at);
    sqlite3_bind_text(st, 6, e->outcome, -1, SQLITE_STATIC);
    sq_bind_text(st, 7, e->error);
    sq_bind_text(st, 8, e->error_kind);
    return sq_done(q, st, what, err);
}

/* Pauses e's script for a configuration error (an earlier pause stays as it was). */
static drudge_code pause_for(sq_store *q, const drudge_attempt_end *e, drudge_err *err)
{
    static const char sql[] = "INSERT INTO paused(script, paused_at, paused_by, reason) "
                              "VALUES (?1, ?2, 'drudge work', ?3) ON CONFLICT(script) DO NOTHING";
    sqlite3_stmt *st = sq_stmt(q, sql, "pausing a script", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sq_bind_text(st, 1, e->script);
    sqlite3_bind_int64(st, 2, e->now);
    sq_bind_text(st, 3, e->pause_reason);
    return sq_done(q, st, "pausing a script", err);
}

/* An outcome other than done or queued in task_counts: the store counts
 * the writer's outcomes itself (schema.c, v14, says why). */
static drudge_code count_outcome(sq_store *q, const drudge_attempt_end *e, drudge_err *err)
{
    drudge_code rc = sq_count_task(q, e->script, e->task_id, "queued", -1, err);
    if (!rc)
        rc = sq_count_task(q, e->script, e->task_id, e->new_state, 1, err);
    if (!rc && (!strcmp(e->new_state, "failed") || !strcmp(e->new_state, "dead")))
        rc = sq_count_task(q, e->script, e->task_id, "open", 1, err);
    return rc;
}

drudge_code sq_finish(drudge_store *s, const char *owner, const drudge_attempt_end *e, int *held,
                      drudge_err *err)
{
    sq_store *q = sq(s);
    int in_row = e->recorded && e->finished_at != 0, changed = 0;
    drudge_code rc = stop_running(q, e->task_id, owner, "recording a task's outcome", held, err);
    if (rc || !*held)
        return rc; /* not held: the lease was lost, another worker owns this task now */
    rc = write_outcome(q, e, in_row, &changed, err);
    if (rc)
        return rc;
    if (!changed) { /* deleted or edited by hand while it ran: the result is dropped */
        *held = 0;
        return DRUDGE_OK;
    }
    if (!strcmp(e->new_state, "done"))
        rc = sq_count_done(q, e->script, e->task_id, err);
    else if (strcmp(e->new_state, "queued")) /* the row was queued (write_outcome) */
        rc = count_outcome(q, e, err);
    if (!rc && e->recorded)
        rc = sq_count_attempt(q, e->outcome, e->ended_at ? e->ended_at : e->now, err);
    if (!rc && e->recorded && !in_row)
        rc = log_attempt(q, e, err);
    if (!rc && e->pause_reason)
        rc = pause_for(q, e, err);
    return rc;
}

drudge_code sq_release(drudge_store *s, const char *owner, int64_t task_id, drudge_err *err)
{
    int held;
    return stop_running(sq(s), task_id, owner, "releasing a task", &held, err);
}

drudge_code sq_mark_started(drudge_store *s, const char *owner, const int64_t *ids, size_t n,
                            drudge_err *err)
{
    static const char sql[] =
        "UPDATE running SET started = 1 WHERE task_id = ?1 AND owner = ?2 AND NOT started";
    sq_store *q = sq(s);
    drudge_code rc = DRUDGE_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        sqlite3_stmt *st = sq_stmt(q, sql, "marking attempts started", err);
        if (!st)
            return err ? err->code : DRUDGE_EDB;
        sqlite3_bind_int64(st, 1, ids[i]);
        sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
        rc = sq_done(q, st, "marking attempts started", err);
    }
    return rc;
}

drudge_code sq_unclaim(drudge_store *s, const char *owner, int64_t task_id, int *held,
                       drudge_err *err)
{
    static const char suspect_sql[] = "UPDATE tasks SET suspect = suspect + 1 WHERE id = ?1";
    sq_store *q = sq(s);
    drudge_code rc = stop_running(q, task_id, owner, "giving back an unstarted task", held, err);
    if (rc || !*held)
        return rc;
    sqlite3_stmt *st = sq_stmt(q, suspect_sql, "giving back an unstarted task", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, task_id);
    return sq_done(q, st, "giving back an unstarted task", err);
}

drudge_code sq_renew(drudge_store *s, const char *owner, int64_t until, drudge_err *err)
{
    return hold_lease(sq(s), owner, until, err);
}

drudge_code sq_cancel_requests(drudge_store *s, const char *owner, int64_t *ids, size_t max,
                               size_t *n, drudge_err *err)
{
    static const char sql[] = "SELECT task_id FROM running WHERE owner = ?1 AND cancel_requested";
    sq_store *q = sq(s);
    *n = 0;
    sqlite3_stmt *st = sq_stmt(q, sql, "reading cancel requests", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
    int r;
    for (r = sqlite3_step(st); r == SQLITE_ROW; r = sqlite3_step(st))
        if (*n < max)
            ids[(*n)++] = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return r == SQLITE_DONE ? DRUDGE_OK : sq_err(q, "reading cancel requests", err);
}

drudge_code sq_cancel_requested(drudge_store *s, int64_t task_id, int *requested, drudge_err *err)
{
    static const char sql[] = "SELECT cancel_requested FROM running WHERE task_id = ?";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "reading cancel requests", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, task_id);
    int r = sqlite3_step(st);
    *requested = r == SQLITE_ROW && sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    return r == SQLITE_ROW || r == SQLITE_DONE ? DRUDGE_OK
                                               : sq_err(q, "reading cancel requests", err);
}

/* ---- reaping ---- */

drudge_code sq_expired(drudge_store *s, int64_t now, drudge_expired **out, size_t *n,
                       drudge_err *err)
{
    /* Running tasks whose owner's lease expired, or whose owner holds none
     * at all (its lease was reaped). */
    static const char sql[] =
        "SELECT t.id, t.script, r.owner, r.claimed_at, t.attempts, t.spent, t.max_attempts, "
        "t.key, t.input, r.started FROM running r CROSS JOIN tasks t ON t.id = r.task_id "
        "WHERE NOT EXISTS (SELECT 1 FROM leases l WHERE l.owner = r.owner AND l.until >= ?1)";
    sq_store *q = sq(s);
    drudge_expired *v = NULL;
    size_t cnt = 0, cap = 0;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = sq_stmt(q, sql, "finding expired leases", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, now);
    int r;
    for (r = sqlite3_step(st); r == SQLITE_ROW; r = sqlite3_step(st)) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            v = drudge_xrealloc(v, cap * sizeof *v);
        }
        drudge_expired *e = &v[cnt++];
        memset(e, 0, sizeof *e);
        e->t.id = sqlite3_column_int64(st, 0);
        e->t.script = sq_col_strdup(st, 1);
        e->owner = sq_col_strdup(st, 2);
        e->claimed_at = sqlite3_column_int64(st, 3);
        e->t.attempt = sqlite3_column_int(st, 4) + 1;
        e->t.spent = sqlite3_column_int(st, 5);
        e->t.max_attempts = sqlite3_column_int(st, 6);
        e->t.key = sq_col_strdup(st, 7);
        e->t.input = sq_col_strdup(st, 8);
        e->started = sqlite3_column_int(st, 9);
    }
    sqlite3_reset(st);
    if (r != SQLITE_DONE) {
        drudge_expired_free_all(v, cnt);
        return sq_err(q, "finding expired leases", err);
    }
    *out = v;
    *n = cnt;
    return DRUDGE_OK;
}

drudge_code sq_expire_leases(drudge_store *s, int64_t now, drudge_err *err)
{
    static const char sql[] =
        "DELETE FROM leases WHERE until < ?1 "
        "AND NOT EXISTS (SELECT 1 FROM running r WHERE r.owner = leases.owner)";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "dropping expired leases", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, now);
    return sq_done(q, st, "dropping expired leases", err);
}

drudge_code sq_leases_like(drudge_store *s, const char *prefix, int64_t now,
                           void (*fn)(void *ud, const char *owner), void *ud, drudge_err *err)
{
    static const char sql[] =
        "SELECT owner FROM leases WHERE substr(owner, 1, length(?1)) = ?1 AND until >= ?2";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "reading leases", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    int r;
    for (r = sqlite3_step(st); r == SQLITE_ROW; r = sqlite3_step(st))
        fn(ud, sq_col_text(st, 0));
    sqlite3_reset(st);
    return r == SQLITE_DONE ? DRUDGE_OK : sq_err(q, "reading leases", err);
}

drudge_code sq_end_lease(drudge_store *s, const char *owner, int64_t until, drudge_err *err)
{
    static const char sql[] = "UPDATE leases SET until = ?2 WHERE owner = ?1";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "ending a lease", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, until);
    return sq_done(q, st, "ending a lease", err);
}

drudge_code sq_drop_lease(drudge_store *s, const char *owner, drudge_err *err)
{
    static const char sql[] = "DELETE FROM leases WHERE owner = ?1 "
                              "AND NOT EXISTS (SELECT 1 FROM running WHERE owner = ?1)";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "giving up the lease", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
    return sq_done(q, st, "giving up the lease", err);
}

drudge_code sq_idle(drudge_store *s, int64_t now, const char *const *scripts, int *idle,
                    drudge_err *err)
{
    static const char held_sql[] =
        "SELECT EXISTS(SELECT 1 FROM breakers b JOIN script_targets st ON st.target = b.target "
        "WHERE (?1 IS NULL OR st.script IN (SELECT value FROM json_each(?1))) AND EXISTS("
        "SELECT 1 FROM tasks t WHERE t.script = st.script AND t.state = 'queued'))";
    static const char running_sql[] =
        "SELECT EXISTS(SELECT 1 FROM running r CROSS JOIN tasks t ON t.id = r.task_id "
        "WHERE ?1 IS NULL OR t.script IN (SELECT value FROM json_each(?1)))";
    const char *what = "checking for work";
    sq_store *q = sq(s);
    char *json = scripts_json(scripts);
    int64_t busy = 0;
    claim_list l = {0};
    drudge_code rc = DRUDGE_OK;
    *idle = 0;
    sqlite3_stmt *st = sq_stmt(q, running_sql, what, err);
    if (!st) {
        rc = err ? err->code : DRUDGE_EDB;
        goto cleanup;
    }
    sq_bind_text(st, 1, json);
    rc = sq_one_int(q, st, what, &busy, err); /* anything running */
    if (rc || busy)
        goto cleanup;
    rc = find_claimable(q, now, json, NULL, 1, &l, err); /* anything a claim would take */
    if (rc || l.n)
        goto cleanup;
    st = sq_stmt(q, due_later_sql, what, err); /* or would take once moved to tasks_due */
    if (!st) {
        rc = err ? err->code : DRUDGE_EDB;
        goto cleanup;
    }
    sqlite3_bind_int64(st, 1, now);
    sq_bind_text(st, 2, json);
    rc = sq_one_int(q, st, what, &busy, err);
    if (!rc && !busy) { /* or waits for a target to come back: an outage is not the end */
        st = sq_stmt(q, held_sql, what, err);
        if (!st) {
            rc = err ? err->code : DRUDGE_EDB;
            goto cleanup;
        }
        sq_bind_text(st, 1, json);
        rc = sq_one_int(q, st, what, &busy, err);
    }
    *idle = !rc && !busy;
cleanup:
    drudge_claimed_free_all(l.v, l.n);
    free(json);
    return rc;
}

/* ---- listing and showing ---- */

/* A task as listed and shown: its row, with its state, lease and cancel
 * request taken from `running` and `leases` while it runs. */
#define TASK_STATE "CASE WHEN r.task_id IS NULL THEN t.state ELSE 'running' END"
#define TASK_SELECT                                                                                \
    "SELECT t.id, t.script, t.script_path, t.key, " TASK_STATE ", t.input, t.output, t.error, "    \
    "t.error_kind, r.owner, t.schedule, t.resolved_by, t.resolved_note, t.priority, t.attempts, "  \
    "t.spent, t.max_attempts, coalesce(r.cancel_requested, 0), t.manual_minutes, "                 \
    "t.exception_minutes, t.run_at, t.created_at, t.finished_at, l.until, t.resolved_at, "         \
    "t.cancelled_by, t.script_sha256, t.outcome, t.window, t.deadline "                            \
    "FROM tasks t LEFT JOIN running r ON r.task_id = t.id LEFT JOIN leases l ON l.owner = "        \
    "r.owner "

static void read_task(sqlite3_stmt *st, drudge_task_row *t)
{
    char **strs[] = {&t->script,      &t->script_path, &t->key,         &t->state,
                     &t->input,       &t->output,      &t->error,       &t->error_kind,
                     &t->lease_owner, &t->schedule,    &t->resolved_by, &t->resolved_note};
    t->id = sqlite3_column_int64(st, 0);
    for (int i = 0; i < 12; i++)
        *strs[i] = sq_col_strdup(st, i + 1);
    t->priority = sqlite3_column_int(st, 13);
    t->attempts = sqlite3_column_int(st, 14);
    t->spent = sqlite3_column_int(st, 15);
    t->max_attempts = sqlite3_column_int(st, 16);
    t->cancel_requested = sqlite3_column_int(st, 17);
    t->manual_minutes = sqlite3_column_double(st, 18);
    t->exception_minutes = sqlite3_column_double(st, 19);
    t->run_at = sqlite3_column_int64(st, 20);
    t->created_at = sqlite3_column_int64(st, 21);
    t->finished_at = sqlite3_column_int64(st, 22);
    t->lease_until = sqlite3_column_int64(st, 23);
    t->resolved_at = sqlite3_column_int64(st, 24);
    t->cancelled_by = sq_col_strdup(st, 25);
    t->script_sha256 = sq_col_strdup(st, 26);
    t->outcome = sq_col_strdup(st, 27);
    t->window = sq_col_strdup(st, 28);
    t->deadline = sqlite3_column_int64(st, 29);
}

/* Every narrowing of drudge_task_filter, NULL (or 0, bound as NULL) for
 * any. The key prefix compares bytes (substr on a blob), so that '%' and
 * '_' in it mean themselves. */
#define LIST_WHERE                                                                                 \
    "WHERE (?1 IS NULL OR " TASK_STATE " = ?1) AND (?2 IS NULL OR t.script = ?2) "                 \
    "AND (?4 IS NULL OR t.key = ?4) "                                                              \
    "AND (?5 IS NULL OR substr(CAST(t.key AS BLOB), 1, length(CAST(?5 AS BLOB))) = "               \
    "CAST(?5 AS BLOB)) "                                                                           \
    "AND (?6 IS NULL OR instr(lower(t.error), lower(?6)) > 0) "                                    \
    "AND (?7 IS NULL OR t.created_at >= ?7) AND (?8 IS NULL OR t.created_at < ?8) "                \
    "AND (?9 IS NULL OR t.finished_at >= ?9) AND (?10 IS NULL OR t.finished_at < ?10) "            \
    "AND (?11 IS NULL OR t.id >= ?11) AND (?12 IS NULL OR t.id <= ?12) "                           \
    "AND (?14 IS NULL OR (t.deadline IS NOT NULL AND t.state <> 'cancelled' AND " DEADLINE_IS      \
    ")) "

/* The deadline's status (logs/report/deadline.h): ?14 the status, ?15 now,
 * ?16 the end of the risk horizon; MET_AT is when it was met (done, or
 * resolved by a person), NULL while it is not. */
#define MET_AT "(CASE WHEN t.state = 'done' THEN t.finished_at ELSE t.resolved_at END)"
#define DEADLINE_IS                                                                                \
    "CASE ?14 WHEN 'met' THEN " MET_AT " <= t.deadline "                                           \
    "WHEN 'missed' THEN coalesce(" MET_AT " > t.deadline, ?15 > t.deadline) "                      \
    "WHEN 'at_risk' THEN " MET_AT " IS NULL AND ?15 <= t.deadline "                                \
    "  AND (t.deadline <= ?16 OR t.state IN ('failed', 'dead')) "                                  \
    "WHEN 'pending' THEN " MET_AT " IS NULL AND t.deadline > ?16 "                                 \
    "  AND t.state NOT IN ('failed', 'dead') END"

static void bind_time(sqlite3_stmt *st, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

drudge_code sq_list(drudge_store *s, const drudge_task_filter *f, drudge_task_row **rows, size_t *n,
                    drudge_err *err)
{
    /* after_id is a range on the primary key in statements of its own: a
     * page deep in a million tasks starts where the page before ended,
     * without counting its way there ("id < ?13" with ?13 = 0 would be a
     * range too, so the statements without it are apart). */
    static const char newest_sql[] = TASK_SELECT LIST_WHERE "ORDER BY t.id DESC LIMIT ?3";
    static const char oldest_sql[] = TASK_SELECT LIST_WHERE "ORDER BY t.id LIMIT ?3";
    static const char before_sql[] =
        TASK_SELECT LIST_WHERE "AND t.id < ?13 ORDER BY t.id DESC LIMIT ?3";
    static const char after_sql[] = TASK_SELECT LIST_WHERE "AND t.id > ?13 ORDER BY t.id LIMIT ?3";
    /* A key without its script: looked up in the unique (script, key)
     * index once per script the database knows (every script with tasks
     * is in `scripts`), not by reading every task. */
    static const char key_sql[] =
        TASK_SELECT LIST_WHERE "AND t.script IN (SELECT name FROM scripts) AND t.key = ?4 "
                               "AND (?13 = 0 OR t.id < ?13) ORDER BY t.id DESC LIMIT ?3";
#undef LIST_WHERE
#undef DEADLINE_IS
#undef MET_AT
    const char *sql = f->key && !f->script && !f->oldest_first ? key_sql
                      : f->after_id ? (f->oldest_first ? after_sql : before_sql)
                                    : (f->oldest_first ? oldest_sql : newest_sql);
    sq_store *q = sq(s);
    size_t cap = 0;
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *st = sq_stmt(q, sql, "listing tasks", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sq_bind_text(st, 1, f->state);
    sq_bind_text(st, 2, f->script);
    sqlite3_bind_int(st, 3, f->limit > 0 ? f->limit : 100);
    sq_bind_text(st, 4, f->key);
    sq_bind_text(st, 5, f->key_prefix);
    sq_bind_text(st, 6, f->error);
    bind_time(st, 7, f->created_since);
    bind_time(st, 8, f->created_until);
    bind_time(st, 9, f->finished_since);
    bind_time(st, 10, f->finished_until);
    bind_time(st, 11, f->id_min);
    bind_time(st, 12, f->id_max);
    if (sql != newest_sql && sql != oldest_sql) /* the statements with ?13 */
        sqlite3_bind_int64(st, 13, f->after_id);
    sq_bind_text(st, 14, f->deadline_status);
    sqlite3_bind_int64(st, 15, f->deadline_now);
    sqlite3_bind_int64(st, 16, f->deadline_now + DRUDGE_DEADLINE_HORIZON);
    int r;
    for (r = sqlite3_step(st); r == SQLITE_ROW; r = sqlite3_step(st)) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 32;
            *rows = drudge_xrealloc(*rows, cap * sizeof **rows);
        }
        read_task(st, &(*rows)[(*n)++]);
    }
    sqlite3_reset(st);
    if (r == SQLITE_DONE)
        return DRUDGE_OK;
    drudge_task_rows_free(*rows, *n);
    *rows = NULL;
    *n = 0;
    return sq_err(q, "listing tasks", err);
}

static drudge_code read_attempts(sq_store *q, int64_t id, drudge_attempt_row **attempts, size_t *n,
                                 drudge_err *err)
{
    static const char sql[] = "SELECT n, worker, outcome, error, error_kind, started_at, ended_at "
                              "FROM attempts WHERE task_id = ? ORDER BY n";
    size_t cap = 0;
    sqlite3_stmt *st = sq_stmt(q, sql, "reading attempts", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, id);
    int r;
    for (r = sqlite3_step(st); r == SQLITE_ROW; r = sqlite3_step(st)) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *attempts = drudge_xrealloc(*attempts, cap * sizeof **attempts);
        }
        drudge_attempt_row *a = &(*attempts)[(*n)++];
        a->n = sqlite3_column_int(st, 0);
        a->worker = sq_col_strdup(st, 1);
        a->outcome = sq_col_strdup(st, 2);
        a->error = sq_col_strdup(st, 3);
        a->error_kind = sq_col_strdup(st, 4);
        a->started_at = sqlite3_column_int64(st, 5);
        a->ended_at = sqlite3_column_int64(st, 6);
    }
    sqlite3_reset(st);
    return r == SQLITE_DONE ? DRUDGE_OK : sq_err(q, "reading attempts", err);
}

drudge_code sq_get(drudge_store *s, int64_t id, drudge_task_row *task,
                   drudge_attempt_row **attempts, size_t *n, drudge_err *err)
{
    static const char sql[] = TASK_SELECT "WHERE t.id = ?";
    sq_store *q = sq(s);
    drudge_code rc = DRUDGE_OK;
    memset(task, 0, sizeof *task);
    if (attempts) {
        *attempts = NULL;
        *n = 0;
    }
    sqlite3_stmt *st = sq_stmt(q, sql, "reading a task", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        read_task(st, task);
    else if (r == SQLITE_DONE)
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "no task #%lld", (long long)id);
    else
        rc = sq_err(q, "reading a task", err);
    sqlite3_reset(st);
    if (!rc && attempts)
        rc = read_attempts(q, id, attempts, n, err);
    if (rc) {
        drudge_task_row_clear(task);
        if (attempts) {
            drudge_attempt_rows_free(*attempts, *n);
            *attempts = NULL;
            *n = 0;
        }
    }
    return rc;
}

drudge_code sq_task_state(drudge_store *s, int64_t id, char state[16], drudge_err *err)
{
    static const char sql[] = "SELECT state FROM task_state WHERE id = ?";
    sq_store *q = sq(s);
    state[0] = '\0';
    sqlite3_stmt *st = sq_stmt(q, sql, "reading a task", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        snprintf(state, 16, "%s", sq_col_text(st, 0));
    sqlite3_reset(st);
    if (r == SQLITE_DONE)
        return drudge_seterr(err, DRUDGE_ENOTFOUND, "no task #%lld", (long long)id);
    return r == SQLITE_ROW ? DRUDGE_OK : sq_err(q, "reading a task", err);
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

/* Each attempt's root step (seq 1) goes on the audit chain when the attempt
 * ends, so root steps are in (nearly) the order attempts end: the first one
 * that ended at or after t is found by binary search on the step id, and no
 * index on end times is kept up to date on the hot path for this. */
#define ROOT_STEP "seq = 1 AND parent IS NULL"
static drudge_code first_attempt_since(sq_store *q, int64_t t, int64_t *out, drudge_err *err)
{
    static const char max_sql[] = "SELECT max(id) FROM steps";
    static const char root_sql[] = "SELECT started_at + duration_us FROM steps WHERE id >= ? "
                                   "AND " ROOT_STEP " ORDER BY id LIMIT 1";
    int64_t lo = 1, hi = 0;
    drudge_code rc = sq_int(q, max_sql, "status", 0, &hi, err);
    if (rc)
        return rc;
    hi++; /* answer in [lo, hi]; hi = none */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2, ended = INT64_MAX;
        rc = sq_int(q, root_sql, "status", mid, &ended, err);
        if (rc)
            return rc;
        if (ended >= t)
            hi = mid;
        else
            lo = mid + 1;
    }
    *out = lo;
    return DRUDGE_OK;
}

/* Every query reads small tables (running, task_counts, done_counts,
 * paused, scripts) or the last minute's attempts, so status stays quick
 * over a backlog of millions: task_counts is kept by triggers (schema.c,
 * v14), done_counts by the writer. A claimed task's row still says queued:
 * the running query counts it running and takes it off queued. */
enum { Q_RUNNING, Q_COUNTS, Q_LAST_MINUTE, Q_PAUSED, Q_KNOWN, Q_N };
static const char *const status_sql[Q_N] = {
    "SELECT t.script, t.state = 'queued' FROM running r CROSS JOIN tasks t ON t.id = r.task_id "
    "ORDER BY t.script",
    "SELECT script, state, n FROM task_counts WHERE n <> 0 "
    "UNION ALL SELECT script, 'done', n FROM done_counts WHERE n <> 0",
    /* A root step is named after its script; an operator's step (a person's
     * retry, a control-room login) is a root too, named after the action. */
    "SELECT name, count(*) FROM steps WHERE id >= ?1 AND " ROOT_STEP " AND kind = 'task' "
    "GROUP BY name",
    "SELECT script, reason FROM paused",
    "SELECT name FROM scripts",
};

static void status_row(int which, drudge_script_counts *c, sqlite3_stmt *st)
{
    switch (which) {
    case Q_RUNNING:
        c->count[1]++;
        c->count[0] -= sqlite3_column_int(st, 1); /* counted queued in task_counts */
        break;
    case Q_COUNTS: {
        const char *state = sq_col_text(st, 1);
        if (!strcmp(state, "open"))
            c->unresolved += sqlite3_column_int64(st, 2);
        for (int i = 0; i < DRUDGE_NSTATES; i++)
            if (!strcmp(state, drudge_task_states[i]))
                c->count[i] += sqlite3_column_int64(st, 2);
        break;
    }
    case Q_LAST_MINUTE:
        c->done_last_minute = sqlite3_column_int64(st, 1);
        break;
    case Q_PAUSED:
        c->paused = 1;
        free(c->pause_reason);
        c->pause_reason =
            sqlite3_column_type(st, 1) == SQLITE_NULL ? NULL : drudge_xstrdup(sq_col_text(st, 1));
        break;
    default:
        break; /* known scripts appear with zero counts */
    }
}

static drudge_code status_query(sq_store *q, drudge_queue_stats *out, int which, int64_t since,
                                drudge_err *err)
{
    sqlite3_stmt *st = sq_stmt(q, status_sql[which], "status", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    if (which == Q_LAST_MINUTE)
        sqlite3_bind_int64(st, 1, since);
    drudge_script_counts *c = NULL;
    int r;
    for (r = sqlite3_step(st); r == SQLITE_ROW; r = sqlite3_step(st)) {
        const char *script = sq_col_text(st, 0);
        if (!c || strcmp(c->script, script))
            c = counts_for(out, script);
        status_row(which, c, st);
    }
    sqlite3_reset(st);
    return r == SQLITE_DONE ? DRUDGE_OK : sq_err(q, "status", err);
}

/* The creation time of each script's oldest queued task that is not
 * running: one probe of tasks_queued (script, id), past the few claimed
 * ones at its front. */
static drudge_code oldest_times(sq_store *q, drudge_queue_stats *out, drudge_err *err)
{
    static const char sql[] =
        "SELECT created_at FROM tasks INDEXED BY tasks_queued WHERE state = 'queued' "
        "AND script = ?1 AND NOT EXISTS (SELECT 1 FROM running WHERE task_id = tasks.id) "
        "ORDER BY id LIMIT 1";
    for (size_t i = 0; i < out->nscripts; i++) {
        drudge_script_counts *c = &out->scripts[i];
        if (c->count[0] <= 0)
            continue;
        sqlite3_stmt *st = sq_stmt(q, sql, "status", err);
        if (!st)
            return err ? err->code : DRUDGE_EDB;
        sqlite3_bind_text(st, 1, c->script, -1, SQLITE_STATIC);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW)
            c->oldest_queued_us = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (r != SQLITE_ROW && r != SQLITE_DONE)
            return sq_err(q, "status", err);
    }
    return DRUDGE_OK;
}

static void status_totals(drudge_queue_stats *out)
{
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
}

drudge_code sq_status(drudge_store *s, int64_t now, drudge_queue_stats *out, drudge_err *err)
{
    sq_store *q = sq(s);
    int64_t since = 0;
    memset(out, 0, sizeof *out);
    drudge_code rc = first_attempt_since(q, now - 60 * (int64_t)1000000, &since, err);
    for (int which = 0; which < Q_N && !rc; which++)
        rc = status_query(q, out, which, since, err);
    if (!rc)
        rc = oldest_times(q, out, err);
    if (rc) {
        drudge_queue_stats_clear(out);
        return rc;
    }
    status_totals(out);
    return DRUDGE_OK;
}

/* ---- operator actions ---- */

/* Runs each statement of sql[] (NULL-terminated) with (id, now, s3, s4)
 * bound as far as it has parameters, in the caller's transaction or one of
 * its own; *changes gets the number of rows the last one changed. */
static drudge_code exec_tx(sq_store *q, const char *what, const char *const *sql, int64_t id,
                           int64_t now, const char *s3, const char *s4, int64_t *changes,
                           drudge_err *err)
{
    /* Inside the caller's write transaction (the queue appends the
     * operator's step to the chain in it), or in one of its own. */
    int own = sqlite3_get_autocommit(q->db);
    drudge_code rc = own ? sq_begin(q, err) : DRUDGE_OK;
    if (rc)
        return rc;
    for (int i = 0; sql[i] && !rc; i++) {
        sqlite3_stmt *st = sq_stmt(q, sql[i], what, err);
        if (!st) {
            rc = err ? err->code : DRUDGE_EDB;
            break;
        }
        int nparams = sqlite3_bind_parameter_count(st);
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, now);
        if (nparams >= 3)
            sq_bind_text(st, 3, s3);
        if (nparams >= 4)
            sq_bind_text(st, 4, s4);
        rc = sq_done(q, st, what, err);
        *changes = sq_changes(q);
    }
    if (!own)
        return rc;
    if (!rc)
        rc = sq_commit(q, err);
    if (rc)
        sq_rollback(q);
    return rc;
}

#define REQUEUE                                                                                    \
    "state = 'queued', later = 0, spent = 0, run_at = ?2, finished_at = NULL, error = NULL, "      \
    "error_kind = NULL, output = NULL, resolved_by = NULL, resolved_at = NULL, "                   \
    "resolved_note = NULL, worker = NULL, started_at = NULL, outcome = NULL, cancelled_by = NULL"

/* Before a task is requeued, its final attempt moves from its row to
 * attempt_log (WHERE: the requeue's own condition). */
#define KEEP_FINAL_ATTEMPT(WHERE)                                                                  \
    "INSERT INTO attempt_log(task_id, n, worker, started_at, ended_at, outcome, error, "           \
    "error_kind) SELECT id, attempts, worker, started_at, finished_at, outcome, error, "           \
    "error_kind FROM tasks " WHERE " AND outcome IS NOT NULL"

#define RETRY_ONE "WHERE id = ?1 AND ?2 = ?2 AND state IN ('failed','dead','cancelled')"
#define RETRY_ALL "WHERE ?1 = ?1 AND ?2 = ?2 AND state = ?3 AND (?4 IS NULL OR script = ?4)"

drudge_code sq_retry(drudge_store *s, int64_t id, int64_t now, int64_t *changed, drudge_err *err)
{
    static const char *const sql[] = {KEEP_FINAL_ATTEMPT(RETRY_ONE),
                                      "UPDATE tasks SET " REQUEUE " " RETRY_ONE, NULL};
    return exec_tx(sq(s), "retry", sql, id, now, NULL, NULL, changed, err);
}

drudge_code sq_retry_all(drudge_store *s, const char *state, const char *script, int64_t now,
                         int64_t *changed, drudge_err *err)
{
    static const char *const sql[] = {KEEP_FINAL_ATTEMPT(RETRY_ALL),
                                      "UPDATE tasks SET " REQUEUE " " RETRY_ALL, NULL};
    return exec_tx(sq(s), "retry", sql, 0, now, state, script, changed, err);
}

drudge_code sq_cancel(drudge_store *s, int64_t id, const char *who, int64_t now, int64_t *changed,
                      int *deferred, drudge_err *err)
{
    static const char *const queued[] = {
        "UPDATE tasks SET state = 'cancelled', finished_at = ?2, cancelled_by = ?3 WHERE id = ?1 "
        "AND state = 'queued' AND NOT EXISTS (SELECT 1 FROM running WHERE task_id = ?1)",
        NULL};
    /* The row names who asked at once; it says cancelled when the worker
     * has stopped the attempt. */
    static const char *const running[] = {
        "UPDATE tasks SET cancelled_by = ?3 WHERE id = ?1 AND ?2 = ?2 "
        "AND EXISTS (SELECT 1 FROM running WHERE task_id = ?1)",
        "UPDATE running SET cancel_requested = 1 WHERE task_id = ?1 AND ?2 = ?2", NULL};
    int64_t asked = 0;
    *deferred = 0;
    drudge_code rc = exec_tx(sq(s), "cancel", queued, id, now, who, NULL, changed, err);
    if (rc || *changed)
        return rc;
    rc = exec_tx(sq(s), "cancel", running, id, now, who, NULL, &asked, err);
    *deferred = !rc && asked > 0;
    return rc;
}

drudge_code sq_pause(drudge_store *s, const char *script, const char *who, int64_t now,
                     int64_t *changed, drudge_err *err)
{
    static const char *const sql[] = {"INSERT INTO paused(script, paused_at, paused_by) "
                                      "SELECT ?3, ?2, ?4 WHERE ?1 = ?1 "
                                      "ON CONFLICT(script) DO NOTHING",
                                      NULL};
    return exec_tx(sq(s), "pause", sql, 0, now, script, who, changed, err);
}

drudge_code sq_resume(drudge_store *s, const char *script, int64_t *changed, drudge_err *err)
{
    static const char *const sql[] = {
        "DELETE FROM paused WHERE ?1 = ?1 AND ?2 = ?2 AND script = ?3", NULL};
    return exec_tx(sq(s), "resume", sql, 0, 0, script, NULL, changed, err);
}

drudge_code sq_resolve(drudge_store *s, int64_t id, const char *who, const char *note, int64_t now,
                       int64_t *changed, drudge_err *err)
{
    static const char *const sql[] = {
        "UPDATE tasks SET resolved_by = ?3, resolved_at = ?2, resolved_note = ?4 "
        "WHERE id = ?1 AND state IN ('failed','dead')",
        NULL};
    return exec_tx(sq(s), "resolve", sql, id, now, who, note, changed, err);
}

drudge_code sq_next_due(drudge_store *s, int64_t *run_at, drudge_err *err)
{
    static const char sql[] = "SELECT coalesce(min(run_at), 0) FROM tasks WHERE state = 'queued'";
    *run_at = 0;
    return sq_int(sq(s), sql, "reading the queue", 0, run_at, err);
}

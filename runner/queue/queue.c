/* queue.c: the task queue's tables and every SQL statement that touches them.
 *
 * Nothing outside this file knows the queue's SQL, so a second backend
 * (PostgreSQL with FOR UPDATE SKIP LOCKED) can replace it behind queue.h.
 *
 * Indexes are chosen for the hot path: a claim reads tasks_due in order and
 * stops after LIMIT rows, so its cost does not grow with the backlog; cancel
 * requests, reaping and the idle check read `running`, which only holds
 * running tasks. Statements on those paths name the index (INDEXED BY) so the
 * planner, which has no statistics for partial indexes, never falls back to
 * scanning the table; for the same reason, joins from `running` to tasks are
 * written CROSS JOIN, which keeps the small table outermost (the planner had
 * chosen to scan every task and look each one up in `running`). */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "logs/audit/audit.h"
#include "runner/store/db.h"
#include "runner/queue/queue.h"
#include "runner/work/schedule.h"
#include "drudge/util.h"

const char *const drudge_queue_migrations[] = {
    /* v1 */
    "CREATE TABLE tasks("
    "  id INTEGER PRIMARY KEY,"
    "  script TEXT NOT NULL,"
    "  script_path TEXT NOT NULL,"
    "  key TEXT,"
    "  input TEXT,"
    "  output TEXT,"
    /* Comparisons, not IN (...): SQLite builds a lookup table for an IN list
     * each time a statement runs, which costs more than the update itself on
     * the one-row updates of the hot path. */
    "  state TEXT NOT NULL CHECK (state = 'queued' OR state = 'running' OR state = 'done' OR "
    "    state = 'failed' OR state = 'dead' OR state = 'cancelled'),"
    "  priority INTEGER NOT NULL DEFAULT 0,"
    "  run_at INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0," /* attempt rows so far */
    "  spent INTEGER NOT NULL DEFAULT 0,"    /* attempts counted against max_attempts */
    "  max_attempts INTEGER NOT NULL,"
    "  manual_minutes REAL NOT NULL DEFAULT 0,"
    "  exception_minutes REAL NOT NULL DEFAULT 0,"
    "  lease_owner TEXT,"
    "  lease_until INTEGER,"
    "  claimed_at INTEGER,"
    "  cancel_requested INTEGER NOT NULL DEFAULT 0,"
    "  error TEXT,"
    "  error_kind TEXT,"
    "  schedule TEXT,"
    "  window TEXT," /* the script's run window when enqueued, or NULL */
    "  created_at INTEGER NOT NULL,"
    "  finished_at INTEGER,"
    "  resolved_by TEXT,"
    "  resolved_at INTEGER,"
    "  resolved_note TEXT);"
    "CREATE UNIQUE INDEX tasks_key ON tasks(script, key) WHERE key IS NOT NULL;"
    /* Each task is in exactly one of these three partial indexes, so a
     * state change costs one index delete and one insert, and each index is
     * small where it is hot. script is in each so counts per script and the
     * claim's paused/script filters read the index alone; so is window for
     * tasks_due, so tasks waiting for their run window are skipped without
     * reading their rows. */
    "CREATE INDEX tasks_due ON tasks(priority DESC, run_at, id, script, window) "
    "  WHERE state = 'queued';"
    "CREATE INDEX tasks_lease ON tasks(lease_owner, lease_until, script) WHERE state = 'running';"
    "CREATE INDEX tasks_finished ON tasks(state, script) "
    "  WHERE state <> 'queued' AND state <> 'running';"
    /* What each script was last enqueued with: `enqueue NAME` and
     * queue.enqueue("NAME") find the file and contract here. */
    "CREATE TABLE scripts("
    "  name TEXT PRIMARY KEY,"
    "  path TEXT NOT NULL,"
    "  max_attempts INTEGER NOT NULL,"
    "  manual_minutes REAL NOT NULL,"
    "  exception_minutes REAL NOT NULL,"
    "  window TEXT,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE TABLE attempts("
    "  id INTEGER PRIMARY KEY,"
    "  task_id INTEGER NOT NULL REFERENCES tasks(id),"
    "  n INTEGER NOT NULL,"
    "  worker TEXT NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  ended_at INTEGER NOT NULL,"
    "  outcome TEXT NOT NULL," /* done failed error timeout memory retry lost cancelled */
    "  error TEXT,"
    "  error_kind TEXT," /* business system timeout memory lost cancelled */
    "  UNIQUE(task_id, n));"
    "CREATE TABLE paused(script TEXT PRIMARY KEY, paused_at INTEGER NOT NULL, paused_by TEXT);",
    /* v2: done tasks are counted, not indexed. 'done' is where nearly every
     * task ends, and its index entry cost the writer a B-tree insert per
     * task (about 5% of its work); the writer adds each turn's done
     * outcomes per script to done_counts instead (drudge_queue_end_turn).
     * The exceptions keep an index: they are few, and status lists them. A
     * task only enters 'done' through drudge_queue_complete and never leaves
     * it, except by being deleted by hand, which the trigger accounts for. */
    "DROP INDEX tasks_finished;"
    "CREATE INDEX tasks_exceptions ON tasks(state, script) "
    "  WHERE state = 'failed' OR state = 'dead' OR state = 'cancelled';"
    "CREATE TABLE done_counts(script TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO done_counts SELECT script, count(*) FROM tasks WHERE state = 'done' "
    "  GROUP BY script;"
    "CREATE TRIGGER done_counts_delete AFTER DELETE ON tasks WHEN OLD.state = 'done' "
    "  BEGIN UPDATE done_counts SET n = n - 1 WHERE script = OLD.script; END;",
    /* v3: a claim no longer rewrites the task. Rewriting the whole row, with
     * an index delete and an index insert, cost the writer about a fifth of
     * its work per task. A claimed task keeps its row (state 'queued', still
     * in tasks_due, which claims skip past) and gets a row in `running`, a
     * small table that holds only what is running now. Leases are per
     * process: the writer renews one row in `leases` instead of every task it
     * holds, and the reaper finds expired work by scanning `running`. The
     * effective state (running when a `running` row exists) is what the
     * view task_state shows. */
    "CREATE TABLE leases(owner TEXT PRIMARY KEY, until INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE running("
    "  task_id INTEGER PRIMARY KEY," /* tasks.id */
    "  owner TEXT NOT NULL,"         /* leases.owner */
    "  claimed_at INTEGER NOT NULL,"
    "  cancel_requested INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO leases SELECT coalesce(lease_owner, '?'), max(coalesce(lease_until, 0)) "
    "  FROM tasks WHERE state = 'running' GROUP BY 1;"
    "INSERT INTO running SELECT id, coalesce(lease_owner, '?'), coalesce(claimed_at, created_at), "
    "  cancel_requested FROM tasks WHERE state = 'running';"
    "UPDATE tasks SET state = 'queued' WHERE state = 'running';"
    "DROP INDEX tasks_lease;"
    "ALTER TABLE tasks DROP COLUMN lease_owner;"
    "ALTER TABLE tasks DROP COLUMN lease_until;"
    "ALTER TABLE tasks DROP COLUMN claimed_at;"
    "ALTER TABLE tasks DROP COLUMN cancel_requested;"
    "CREATE VIEW task_state(id, script, state) AS "
    "  SELECT t.id, t.script, CASE WHEN r.task_id IS NULL THEN t.state ELSE 'running' END "
    "  FROM tasks t LEFT JOIN running r ON r.task_id = t.id;",
    /* v4: a task's final attempt (the one that left it done, failed, dead or
     * cancelled) is kept in the task's own row, which the outcome rewrites
     * anyway; only an attempt that another follows (a retry, a lost attempt
     * requeued, or a final one that `drudge retry` reopens) gets a row of its
     * own, in attempt_log. The row and its unique index cost the writer
     * about a seventh of its work per task. The view `attempts` shows both,
     * as the table did; inserting into it goes to attempt_log. Final
     * attempts recorded before v4 stay in attempt_log (their tasks' outcome
     * is NULL), so nothing is moved. */
    "ALTER TABLE attempts RENAME TO attempt_log;"
    "ALTER TABLE tasks ADD COLUMN worker TEXT;" /* the final attempt's */
    "ALTER TABLE tasks ADD COLUMN started_at INTEGER;"
    "ALTER TABLE tasks ADD COLUMN outcome TEXT;" /* NULL: no final attempt in the row */
    "CREATE VIEW attempts(task_id, n, worker, started_at, ended_at, outcome, error, error_kind) "
    "  AS SELECT task_id, n, worker, started_at, ended_at, outcome, error, error_kind "
    "  FROM attempt_log UNION ALL "
    "  SELECT id, attempts, worker, started_at, finished_at, outcome, error, error_kind "
    "  FROM tasks WHERE outcome IS NOT NULL;"
    "CREATE TRIGGER attempts_insert INSTEAD OF INSERT ON attempts BEGIN "
    "  INSERT INTO attempt_log(task_id, n, worker, started_at, ended_at, outcome, error, "
    "    error_kind) VALUES (NEW.task_id, NEW.n, NEW.worker, NEW.started_at, NEW.ended_at, "
    "    NEW.outcome, NEW.error, NEW.error_kind); END;",
    /* v5: tasks not yet due wait outside tasks_due. A new task is due now,
     * so in tasks_due it went in front of every task scheduled for later
     * (a backlog queued with --at, retries waiting out a backoff), into the
     * middle of the index, where each page split moves the neighbouring
     * entries again: a bulk load into a database holding 1,000,000 tasks
     * for tomorrow cost a quarter more per task than into an empty one.
     * Queued tasks with run_at in the future when they were written have
     * later = 1 and sit in tasks_later, by time; each claim first moves the
     * ones whose time has come into tasks_due (drudge_queue_claim), so new
     * tasks of a priority are appended to it. */
    "ALTER TABLE tasks ADD COLUMN later INTEGER NOT NULL DEFAULT 0;"
    "UPDATE tasks SET later = 1 WHERE state = 'queued' "
    "  AND run_at > CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER);"
    "DROP INDEX tasks_due;"
    "CREATE INDEX tasks_due ON tasks(priority DESC, run_at, id, script, window) "
    "  WHERE state = 'queued' AND later = 0;"
    "CREATE INDEX tasks_later ON tasks(run_at, script) WHERE state = 'queued' AND later = 1;",
    NULL,
};

const char *const drudge_task_states[DRUDGE_NSTATES] = {"queued", "running", "done",
                                                        "failed", "dead",    "cancelled"};

#define DEFAULT_LEASE_US        (60 * (int64_t)1000000)
#define DEFAULT_BACKOFF_BASE_US (5 * (int64_t)1000000)
#define DEFAULT_BACKOFF_CAP_US  (3600 * (int64_t)1000000)

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static char *col_strdup(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? drudge_xstrdup((const char *)s) : NULL;
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
#define ENQ_COLS  13

struct drudge_enqueuer {
    sqlite3 *db;
    sqlite3_stmt *ins, *find, *script, *many;
    char *last_script, *last_path; /* the scripts row written last */
    /* drudge_enqueuer_push: rows waiting for the next multi-row INSERT. All
     * share the fields of spec (copied by value; its strings are the
     * caller's and must outlive the batch), only key and input differ. */
    drudge_task_spec spec;
    int64_t now;
    char *keys[ENQ_BATCH], *inputs[ENQ_BATCH];
    int n;
    int64_t added, duplicates;
};

#define UPSERT_SCRIPT                                                                              \
    "INSERT INTO scripts(name, path, max_attempts, manual_minutes, exception_minutes, window, "    \
    "updated_at) VALUES (?1,?2,?3,?4,?5,?6,?7) ON CONFLICT(name) DO UPDATE SET path = ?2, "        \
    "max_attempts = ?3, manual_minutes = ?4, exception_minutes = ?5, window = ?6, "                \
    "updated_at = ?7"

static drudge_code upsert_script(sqlite3 *db, sqlite3_stmt *st, const drudge_task_spec *spec,
                                 int64_t now, drudge_err *err)
{
    sqlite3_bind_text(st, 1, spec->script, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, spec->script_path, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, spec->max_attempts > 0 ? spec->max_attempts : 3);
    sqlite3_bind_double(st, 4, spec->manual_minutes);
    sqlite3_bind_double(st, 5, spec->exception_minutes);
    bind_text_or_null(st, 6, spec->window);
    sqlite3_bind_int64(st, 7, now);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return s == SQLITE_DONE ? DRUDGE_OK : drudge_db_err(db, "recording the script", err);
}

/* Binds one row of the INSERT (ENQ_COLS parameters) at row slot r. */
static void bind_row(sqlite3_stmt *st, int r, const drudge_task_spec *spec, const char *key,
                     const char *input, int64_t now)
{
    int o = r * ENQ_COLS;
    sqlite3_bind_text(st, o + 1, spec->script, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, o + 2, spec->script_path, -1, SQLITE_STATIC);
    bind_text_or_null(st, o + 3, key);
    bind_text_or_null(st, o + 4, input);
    sqlite3_bind_int(st, o + 5, spec->priority);
    int64_t run_at = spec->run_at ? spec->run_at : now;
    sqlite3_bind_int64(st, o + 6, run_at);
    sqlite3_bind_int(st, o + 7, spec->max_attempts > 0 ? spec->max_attempts : 3);
    sqlite3_bind_double(st, o + 8, spec->manual_minutes);
    sqlite3_bind_double(st, o + 9, spec->exception_minutes);
    bind_text_or_null(st, o + 10, spec->schedule);
    bind_text_or_null(st, o + 11, spec->window);
    sqlite3_bind_int64(st, o + 12, now);
    sqlite3_bind_int(st, o + 13, run_at > now); /* later: see schema v5 */
}

#define ENQ_INSERT                                                                                 \
    "INSERT OR FAIL INTO tasks(script, script_path, key, input, state, priority, run_at, "         \
    "max_attempts, manual_minutes, exception_minutes, schedule, window, created_at, later) "       \
    "VALUES "
#define ENQ_VALUES "(?,?,?,?,'queued',?,?,?,?,?,?,?,?,?)"
/* The conflict target names the partial unique index, so a duplicate key is
 * skipped while every other constraint still fails loudly. */
#define ENQ_CONFLICT " ON CONFLICT(script, key) WHERE key IS NOT NULL DO NOTHING"

drudge_enqueuer *drudge_enqueuer_new(sqlite3 *db, drudge_err *err)
{
    drudge_enqueuer *e = drudge_xmalloc(sizeof *e);
    memset(e, 0, sizeof *e);
    e->db = db;
    drudge_buf many = {0};
    drudge_buf_puts(&many, ENQ_INSERT);
    for (int r = 0; r < ENQ_BATCH; r++)
        drudge_buf_puts(&many, r ? "," ENQ_VALUES : ENQ_VALUES);
    drudge_buf_puts(&many, ENQ_CONFLICT);
    int prc = sqlite3_prepare_v3(db, many.data, -1, SQLITE_PREPARE_PERSISTENT, &e->many, NULL);
    drudge_buf_free(&many);
    if (prc != SQLITE_OK ||
        sqlite3_prepare_v3(db, ENQ_INSERT ENQ_VALUES ENQ_CONFLICT, -1, SQLITE_PREPARE_PERSISTENT,
                           &e->ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(db, "SELECT id FROM tasks WHERE script = ? AND key = ?", -1,
                           SQLITE_PREPARE_PERSISTENT, &e->find, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(db, UPSERT_SCRIPT, -1, SQLITE_PREPARE_PERSISTENT, &e->script, NULL) !=
            SQLITE_OK) {
        drudge_db_err(db, "enqueue", err);
        drudge_enqueuer_free(e);
        return NULL;
    }
    return e;
}

void drudge_enqueuer_free(drudge_enqueuer *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->n; i++) {
        free(e->keys[i]);
        free(e->inputs[i]);
    }
    sqlite3_finalize(e->ins);
    sqlite3_finalize(e->many);
    sqlite3_finalize(e->find);
    sqlite3_finalize(e->script);
    free(e->last_script);
    free(e->last_path);
    free(e);
}

drudge_code drudge_enqueuer_add(drudge_enqueuer *e, const drudge_task_spec *spec, int64_t now,
                                int64_t *id, int *duplicate, drudge_err *err)
{
    sqlite3_stmt *st = e->ins;
    drudge_code rc = DRUDGE_OK;
    *duplicate = 0;
    /* The scripts row once per script (a bulk load writes it once). */
    if (!e->last_script || strcmp(e->last_script, spec->script) ||
        strcmp(e->last_path, spec->script_path)) {
        rc = upsert_script(e->db, e->script, spec, now, err);
        if (rc)
            return rc;
        free(e->last_script);
        free(e->last_path);
        e->last_script = drudge_xstrdup(spec->script);
        e->last_path = drudge_xstrdup(spec->script_path);
    }
    bind_row(st, 0, spec, spec->key, spec->input, now);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = drudge_db_err(e->db, "enqueue", err);
    } else if (sqlite3_changes(e->db) == 0) {
        *duplicate = 1;
        if (id) {
            sqlite3_reset(e->find);
            sqlite3_bind_text(e->find, 1, spec->script, -1, SQLITE_STATIC);
            sqlite3_bind_text(e->find, 2, spec->key, -1, SQLITE_STATIC);
            if (sqlite3_step(e->find) == SQLITE_ROW)
                *id = sqlite3_column_int64(e->find, 0);
            sqlite3_reset(e->find);
        }
    } else if (id) {
        *id = sqlite3_last_insert_rowid(e->db);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

/* Everything but key and input equal: the row can join the batch. */
static int same_batch(const drudge_task_spec *a, const drudge_task_spec *b)
{
    return same_str(a->script, b->script) && same_str(a->script_path, b->script_path) &&
           a->priority == b->priority && a->run_at == b->run_at &&
           a->max_attempts == b->max_attempts && a->manual_minutes == b->manual_minutes &&
           a->exception_minutes == b->exception_minutes && same_str(a->schedule, b->schedule) &&
           same_str(a->window, b->window);
}

drudge_code drudge_enqueuer_flush(drudge_enqueuer *e, drudge_err *err)
{
    drudge_code rc = DRUDGE_OK;
    int n = e->n;
    e->n = 0;
    if (n == ENQ_BATCH) {
        for (int r = 0; r < n; r++)
            bind_row(e->many, r, &e->spec, e->keys[r], e->inputs[r], e->now);
        if (sqlite3_step(e->many) != SQLITE_DONE) {
            rc = drudge_db_err(e->db, "enqueue", err);
        } else {
            int changed = sqlite3_changes(e->db);
            e->added += changed;
            e->duplicates += n - changed;
        }
        sqlite3_reset(e->many);
    } else {
        for (int r = 0; r < n && !rc; r++) {
            drudge_task_spec one = e->spec;
            int dup = 0;
            one.key = e->keys[r];
            one.input = e->inputs[r];
            rc = drudge_enqueuer_add(e, &one, e->now, NULL, &dup, err);
            if (!rc)
                *(dup ? &e->duplicates : &e->added) += 1;
        }
    }
    for (int r = 0; r < n; r++) {
        free(e->keys[r]);
        free(e->inputs[r]);
        e->keys[r] = e->inputs[r] = NULL;
    }
    return rc;
}

drudge_code drudge_enqueuer_push(drudge_enqueuer *e, const drudge_task_spec *spec, int64_t now,
                                 drudge_err *err)
{
    drudge_code rc;
    if (e->n && (!same_batch(&e->spec, spec) || e->now != now) &&
        (rc = drudge_enqueuer_flush(e, err)))
        return rc;
    if (!e->n) {
        /* The scripts row before the batch that needs it. */
        if (!e->last_script || strcmp(e->last_script, spec->script) ||
            strcmp(e->last_path, spec->script_path)) {
            if ((rc = upsert_script(e->db, e->script, spec, now, err)))
                return rc;
            free(e->last_script);
            free(e->last_path);
            e->last_script = drudge_xstrdup(spec->script);
            e->last_path = drudge_xstrdup(spec->script_path);
        }
        e->spec = *spec;
        e->now = now;
    }
    e->keys[e->n] = spec->key ? drudge_xstrdup(spec->key) : NULL;
    e->inputs[e->n] = spec->input ? drudge_xstrdup(spec->input) : NULL;
    if (++e->n == ENQ_BATCH)
        return drudge_enqueuer_flush(e, err);
    return DRUDGE_OK;
}

void drudge_enqueuer_counts(const drudge_enqueuer *e, int64_t *added, int64_t *duplicates)
{
    *added = e->added;
    *duplicates = e->duplicates;
}

drudge_code drudge_queue_enqueue(sqlite3 *db, const drudge_task_spec *spec, int64_t *id,
                                 int *duplicate, drudge_err *err)
{
    drudge_enqueuer *e = drudge_enqueuer_new(db, err);
    if (!e)
        return err ? err->code : DRUDGE_EDB;
    drudge_code rc = drudge_db_begin(db, err);
    if (!rc)
        rc = drudge_enqueuer_add(e, spec, drudge_now_us(), id, duplicate, err);
    if (!rc)
        rc = drudge_db_commit(db, err);
    if (rc)
        drudge_db_rollback(db);
    drudge_enqueuer_free(e);
    return rc;
}

void drudge_task_spec_clear(drudge_task_spec *spec)
{
    free((char *)spec->script);
    free((char *)spec->script_path);
    free((char *)spec->window);
    memset(spec, 0, sizeof *spec);
}

drudge_code drudge_queue_known_script(sqlite3 *db, const char *name, drudge_task_spec *spec,
                                      drudge_err *err)
{
    sqlite3_stmt *st = NULL;
    drudge_code rc = DRUDGE_OK;
    memset(spec, 0, sizeof *spec);
    if (sqlite3_prepare_v2(db,
                           "SELECT name, path, max_attempts, manual_minutes, exception_minutes, "
                           "window FROM scripts WHERE name = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return drudge_db_err(db, "looking up a script", err);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        spec->script = col_strdup(st, 0);
        spec->script_path = col_strdup(st, 1);
        spec->max_attempts = sqlite3_column_int(st, 2);
        spec->manual_minutes = sqlite3_column_double(st, 3);
        spec->exception_minutes = sqlite3_column_double(st, 4);
        spec->window = col_strdup(st, 5);
    } else if (s == SQLITE_DONE) {
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND,
                           "unknown script '%s': no such file, and no script of that name was "
                           "queued before",
                           name);
    } else {
        rc = drudge_db_err(db, "looking up a script", err);
    }
    sqlite3_finalize(st);
    return rc;
}

static drudge_code hold_adhoc(sqlite3 *db, const char *worker, int64_t id, int64_t now,
                              drudge_err *err);

drudge_code drudge_queue_start_adhoc(sqlite3 *db, const drudge_task_spec *spec, const char *worker,
                                     int64_t *id, drudge_err *err)
{
    sqlite3_stmt *st = NULL;
    int64_t now = drudge_now_us();
    drudge_code rc = drudge_db_begin(db, err);
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(db, UPSERT_SCRIPT, -1, &st, NULL) != SQLITE_OK) {
        rc = drudge_db_err(db, "run", err);
        goto cleanup;
    }
    rc = upsert_script(db, st, spec, now, err);
    sqlite3_finalize(st);
    st = NULL;
    if (rc)
        goto cleanup;
    if (spec->key) {
        if (sqlite3_prepare_v2(db, "SELECT id FROM tasks WHERE script = ? AND key = ?", -1, &st,
                               NULL) != SQLITE_OK) {
            rc = drudge_db_err(db, "run", err);
            goto cleanup;
        }
        sqlite3_bind_text(st, 1, spec->script, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, spec->key, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            rc = drudge_seterr(err, DRUDGE_ESTATE,
                               "a task with key '%s' already exists for %s (#%lld)", spec->key,
                               spec->script, (long long)sqlite3_column_int64(st, 0));
            goto cleanup;
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO tasks(script, script_path, key, input, state, priority, "
                           "run_at, max_attempts, manual_minutes, exception_minutes, created_at) "
                           "VALUES (?1,?2,?3,?4,'queued',0,?5,?6,?7,?8,?5)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = drudge_db_err(db, "run", err);
        goto cleanup;
    }
    sqlite3_bind_text(st, 1, spec->script, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, spec->script_path, -1, SQLITE_STATIC);
    bind_text_or_null(st, 3, spec->key);
    bind_text_or_null(st, 4, spec->input);
    sqlite3_bind_int64(st, 5, now);
    sqlite3_bind_int(st, 6, spec->max_attempts > 0 ? spec->max_attempts : 3);
    sqlite3_bind_double(st, 7, spec->manual_minutes);
    sqlite3_bind_double(st, 8, spec->exception_minutes);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = drudge_db_err(db, "run", err);
        goto cleanup;
    }
    *id = sqlite3_last_insert_rowid(db);
    /* Running from the start, under a lease of the run's own. */
    if ((rc = hold_adhoc(db, worker, *id, now, err)))
        goto cleanup;
    rc = drudge_db_commit(db, err);
cleanup:
    sqlite3_finalize(st);
    if (rc)
        drudge_db_rollback(db);
    return rc;
}

/* ---- the worker side ---- */

struct drudge_queue {
    sqlite3 *db;
    drudge_queue_opts opts;
    char *owner, *scripts_json;
    char run_prefix[96]; /* "run@HOST:": the owners of `drudge run`s on this machine */
    unsigned seed;
    sqlite3_stmt *runs, *end_lease, *claim, *top, *claim_rest, *take, *lease, *unrun, *done,
        *attempt, *cancels, *expired, *expire, *idle, *count, *count_id, *drop, *promote,
        *due_later;
    drudge_audit_writer *audit;
    drudge_rec *rec; /* for the steps of lost attempts */
    /* Between drudge_queue_begin_turn and _end_turn: done outcomes per
     * script, added to done_counts once per turn (one row per script). */
    int in_turn;
    struct {
        char *script;
        int64_t n;
    } * done_by;
    size_t ndone_by;
};

sqlite3 *drudge_queue_db(drudge_queue *q)
{
    return q->db;
}

/* What a claim may take (and so what keeps --until-empty going): due, not
 * paused, inside its window, one of our scripts. */
#define CLAIMABLE                                                                                  \
    "state = 'queued' AND run_at <= ?1 AND script NOT IN (SELECT script FROM paused) "             \
    "AND (?2 IS NULL OR script IN (SELECT value FROM json_each(?2))) "                             \
    "AND (window IS NULL OR drudge_queue_window_open(window, ?1))"

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

/* Claimable tasks not running already, with what the worker needs of each. */
#define CLAIM_SELECT                                                                               \
    "SELECT id, script, script_path, key, input, attempts, spent, max_attempts, priority, run_at " \
    "FROM tasks INDEXED BY tasks_due WHERE later = 0 AND " CLAIMABLE                               \
    " AND NOT EXISTS (SELECT 1 FROM running r WHERE r.task_id = tasks.id) "
#define CLAIM_LEVELS 64
#define PROMOTE_MAX  10000

/* The queue's statements, prepared by drudge_queue_new into the fields at
 * off and finalized by drudge_queue_free. */
static const struct {
    size_t off;
    const char *sql;
} queue_stmts[] = {
    /* One priority at a time: within one, tasks_due is in run_at order,
     * so the scan stops at the first task not yet due instead of walking
     * through every task scheduled for later (a backlog of a million
     * made each claim that came up short take 50 ms). Running tasks keep
     * their place in tasks_due; the claim walks past them (a lookup in
     * the small `running` table each). */
    {offsetof(drudge_queue, claim), CLAIM_SELECT "AND priority = ?4 ORDER BY run_at, id LIMIT ?3"},
    /* Not max(): with a WHERE term SQLite reads every entry for it. */
    {offsetof(drudge_queue, top),
     "SELECT priority FROM tasks INDEXED BY tasks_due "
     "WHERE state = 'queued' AND later = 0 AND priority < ?1 ORDER BY priority DESC LIMIT 1"},
    /* Tasks whose time has come join tasks_due (schema v5), oldest
     * first and PROMOTE_MAX per claim, so that a million tasks all due
     * at once do not make one claim rewrite a million rows. */
    {offsetof(drudge_queue, promote),
     "UPDATE tasks SET later = 0 WHERE id IN (SELECT id FROM tasks INDEXED BY tasks_later "
     "WHERE state = 'queued' AND later = 1 AND run_at <= ?1 ORDER BY run_at LIMIT ?2)"},
    /* For --until-empty: due tasks a claim has not moved yet. */
    {offsetof(drudge_queue, due_later),
     "SELECT EXISTS(SELECT 1 FROM tasks INDEXED BY tasks_later WHERE later = 1 AND " CLAIMABLE ")"},
    /* After CLAIM_LEVELS priorities, the rest in one scan. */
    {offsetof(drudge_queue, claim_rest),
     CLAIM_SELECT "AND priority < ?4 ORDER BY priority DESC, run_at, id LIMIT ?3"},
    {offsetof(drudge_queue, runs),
     "SELECT owner FROM leases WHERE substr(owner, 1, length(?1)) = ?1 AND until >= ?2"},
    {offsetof(drudge_queue, end_lease), "UPDATE leases SET until = ?2 WHERE owner = ?1"},
    {offsetof(drudge_queue, take),
     "INSERT INTO running(task_id, owner, claimed_at) VALUES (?1, ?2, ?3)"},
    /* Taken with every claim, so a process whose lease was reaped while
     * it stalled holds one again before it holds new tasks. */
    {offsetof(drudge_queue, lease),
     "INSERT INTO leases(owner, until) VALUES (?1, ?2) "
     "ON CONFLICT(owner) DO UPDATE SET until = max(until, excluded.until)"},
    {offsetof(drudge_queue, unrun), "DELETE FROM running WHERE task_id = ?1 AND owner = ?2"},
    {offsetof(drudge_queue, done),
     "UPDATE tasks SET state = ?2, attempts = attempts + 1, spent = spent + ?3, output = ?4, "
     "error = ?5, error_kind = ?6, run_at = coalesce(?7, run_at), finished_at = ?8, "
     "worker = ?10, started_at = ?11, outcome = ?12, later = ?13 "
     "WHERE id = ?1 AND state = 'queued' AND attempts = ?9"},
    {offsetof(drudge_queue, attempt),
     "INSERT INTO attempt_log(task_id, n, worker, started_at, ended_at, outcome, error, "
     "error_kind) VALUES (?,?,?,?,?,?,?,?)"},
    {offsetof(drudge_queue, cancels),
     "SELECT task_id FROM running WHERE owner = ?1 AND cancel_requested"},
    /* Running tasks whose owner's lease expired, or whose owner holds
     * none at all (its lease was reaped). */
    {offsetof(drudge_queue, expired),
     "SELECT t.id, t.script, r.owner, r.claimed_at, t.attempts, t.spent, t.max_attempts, "
     "t.key, t.input FROM running r CROSS JOIN tasks t ON t.id = r.task_id "
     "WHERE NOT EXISTS (SELECT 1 FROM leases l WHERE l.owner = r.owner AND l.until >= ?1)"},
    {offsetof(drudge_queue, expire),
     "DELETE FROM leases WHERE until < ?1 "
     "AND NOT EXISTS (SELECT 1 FROM running r WHERE r.owner = leases.owner)"},
    {offsetof(drudge_queue, count), "INSERT INTO done_counts(script, n) VALUES (?1, ?2) "
                                    "ON CONFLICT(script) DO UPDATE SET n = n + excluded.n"},
    {offsetof(drudge_queue, count_id),
     "INSERT INTO done_counts(script, n) SELECT script, 1 FROM tasks WHERE id = ?1 "
     "ON CONFLICT(script) DO UPDATE SET n = n + 1"},
    {offsetof(drudge_queue, idle),
     "SELECT EXISTS(SELECT 1 FROM running r CROSS JOIN tasks t ON t.id = r.task_id "
     "WHERE ?2 IS NULL OR t.script IN (SELECT value FROM json_each(?2)))"},
    {offsetof(drudge_queue, drop), "DELETE FROM leases WHERE owner = ?1 "
                                   "AND NOT EXISTS (SELECT 1 FROM running WHERE owner = ?1)"},
};

drudge_queue *drudge_queue_new(sqlite3 *db, const drudge_queue_opts *opts, drudge_err *err)
{
    drudge_queue *q = drudge_xmalloc(sizeof *q);
    memset(q, 0, sizeof *q);
    q->db = db;
    if (opts)
        q->opts = *opts;
    q->owner = drudge_xstrdup(q->opts.owner ? q->opts.owner : "worker");
    q->opts.owner = q->owner;
    if (!q->opts.lease_us)
        q->opts.lease_us = DEFAULT_LEASE_US;
    if (!q->opts.backoff_base_us)
        q->opts.backoff_base_us = DEFAULT_BACKOFF_BASE_US;
    if (!q->opts.backoff_cap_us)
        q->opts.backoff_cap_us = DEFAULT_BACKOFF_CAP_US;
    q->seed = q->opts.seed ? q->opts.seed : (unsigned)drudge_now_us();
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(q->run_prefix, sizeof q->run_prefix, "run@%s:", host);
    if (q->opts.scripts && q->opts.scripts[0]) {
        drudge_buf b = {0};
        drudge_buf_puts(&b, "[");
        for (const char *const *s = q->opts.scripts; *s; s++) {
            if (s != q->opts.scripts)
                drudge_buf_puts(&b, ",");
            drudge_buf_json_str(&b, *s, strlen(*s));
        }
        drudge_buf_puts(&b, "]");
        q->scripts_json = drudge_buf_take(&b);
    }
    q->opts.scripts = NULL; /* not kept: scripts_json carries them */
    if (drudge_window_register(db, err))
        goto fail;
    window_cache *wc = drudge_xmalloc(sizeof *wc);
    memset(wc, 0, sizeof *wc);
    if (sqlite3_create_function_v2(db, "drudge_queue_window_open", 2, SQLITE_UTF8, wc,
                                   sql_window_open, NULL, NULL, window_cache_free) != SQLITE_OK) {
        drudge_db_err(db, "registering drudge_queue_window_open", err);
        goto fail;
    }
    for (size_t i = 0; i < sizeof queue_stmts / sizeof queue_stmts[0]; i++) {
        sqlite3_stmt **slot = (sqlite3_stmt **)((char *)q + queue_stmts[i].off);
        if (sqlite3_prepare_v3(db, queue_stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) !=
            SQLITE_OK) {
            drudge_db_err(db, "preparing the queue's statements", err);
            goto fail;
        }
    }
    if (!(q->audit = drudge_audit_writer_new(db, err)))
        goto fail;
    q->rec = drudge_rec_new();
    return q;
fail:
    drudge_queue_free(q);
    return NULL;
}

void drudge_queue_free(drudge_queue *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < sizeof queue_stmts / sizeof queue_stmts[0]; i++)
        sqlite3_finalize(*(sqlite3_stmt **)((char *)q + queue_stmts[i].off));
    for (size_t i = 0; i < q->ndone_by; i++)
        free(q->done_by[i].script);
    free(q->done_by);
    drudge_audit_writer_free(q->audit);
    drudge_rec_free(q->rec);
    free(q->owner);
    free(q->scripts_json);
    free(q);
}

/* Runs one statement that returns no rows, already bound. */
static drudge_code step_done(drudge_queue *q, sqlite3_stmt *st, const char *what, drudge_err *err)
{
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    return s == SQLITE_DONE ? DRUDGE_OK : drudge_db_err(q->db, what, err);
}

static drudge_code count_done(drudge_queue *q, const char *script, int64_t n, drudge_err *err)
{
    sqlite3_bind_text(q->count, 1, script, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q->count, 2, n);
    return step_done(q, q->count, "counting done tasks", err);
}

static void clear_done_by(drudge_queue *q)
{
    for (size_t i = 0; i < q->ndone_by; i++)
        free(q->done_by[i].script);
    q->ndone_by = 0;
}

void drudge_queue_begin_turn(drudge_queue *q)
{
    drudge_audit_writer_begin(q->audit);
    clear_done_by(q); /* what a rolled-back turn left */
    q->in_turn = 1;
}

drudge_code drudge_queue_end_turn(drudge_queue *q, drudge_err *err)
{
    drudge_code rc = DRUDGE_OK;
    for (size_t i = 0; i < q->ndone_by && !rc; i++)
        rc = count_done(q, q->done_by[i].script, q->done_by[i].n, err);
    clear_done_by(q);
    q->in_turn = 0;
    return rc;
}

/* Task t reached 'done': counted at the end of the turn, or now (outside a
 * turn, as for `drudge run`, whose task carries only its id). */
static drudge_code add_done(drudge_queue *q, const drudge_claimed *t, drudge_err *err)
{
    if (!q->in_turn || !t->script) {
        sqlite3_bind_int64(q->count_id, 1, t->id);
        return step_done(q, q->count_id, "counting done tasks", err);
    }
    const char *script = t->script;
    for (size_t i = 0; i < q->ndone_by; i++)
        if (!strcmp(q->done_by[i].script, script)) {
            q->done_by[i].n++;
            return DRUDGE_OK;
        }
    q->done_by = drudge_xrealloc(q->done_by, (q->ndone_by + 1) * sizeof *q->done_by);
    q->done_by[q->ndone_by].script = drudge_xstrdup(script);
    q->done_by[q->ndone_by].n = 1;
    q->ndone_by++;
    return DRUDGE_OK;
}

void drudge_claimed_free(drudge_claimed *t)
{
    if (!t)
        return;
    free(t->script);
    free(t->script_path);
    free(t->key);
    free(t->input);
}

/* Holds (or extends) this process's lease until `until`. */
static drudge_code hold_lease(drudge_queue *q, int64_t until, drudge_err *err)
{
    sqlite3_bind_text(q->lease, 1, q->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q->lease, 2, until);
    return step_done(q, q->lease, "taking the lease", err);
}

/* Marks task id running under this process's lease. */
static drudge_code take_task(drudge_queue *q, int64_t id, int64_t now, drudge_err *err)
{
    sqlite3_bind_int64(q->take, 1, id);
    sqlite3_bind_text(q->take, 2, q->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q->take, 3, now);
    return step_done(q, q->take, "claiming tasks", err);
}

/* Deletes task id's `running` row if owner holds it; *held says whether it
 * did (if not, the task is someone else's now, or no one's). */
static drudge_code stop_running(drudge_queue *q, int64_t id, const char *owner, const char *what,
                                int *held, drudge_err *err)
{
    sqlite3_bind_int64(q->unrun, 1, id);
    sqlite3_bind_text(q->unrun, 2, owner, -1, SQLITE_STATIC);
    drudge_code rc = step_done(q, q->unrun, what, err);
    *held = !rc && sqlite3_changes(q->db) == 1;
    return rc;
}

/* Appends the rows of one claim statement, already bound, to *v. */
static int claim_rows(sqlite3_stmt *st, drudge_claimed **v, size_t *cnt, size_t *cap)
{
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (*cnt == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            *v = drudge_xrealloc(*v, *cap * sizeof **v);
        }
        drudge_claimed *t = &(*v)[(*cnt)++];
        t->id = sqlite3_column_int64(st, 0);
        t->script = col_strdup(st, 1);
        t->script_path = col_strdup(st, 2);
        t->key = col_strdup(st, 3);
        t->input = col_strdup(st, 4);
        t->attempt = sqlite3_column_int(st, 5) + 1;
        t->spent = sqlite3_column_int(st, 6);
        t->max_attempts = sqlite3_column_int(st, 7);
        t->priority = sqlite3_column_int(st, 8);
        t->run_at = sqlite3_column_int64(st, 9);
    }
    sqlite3_reset(st);
    return s;
}

/* Finds up to max claimable tasks, highest priority first, appending them to
 * *v (*cnt of *cap). Returns SQLITE_DONE or the failing step's code. */
static int find_claimable(drudge_queue *q, int64_t now, int max, drudge_claimed **v, size_t *cnt,
                          size_t *cap)
{
    int s = SQLITE_DONE;
    /* Priorities from the highest down, while the claim is short. */
    int64_t below = INT64_MAX;
    for (int level = 0; (int)*cnt < max && s == SQLITE_DONE; level++) {
        sqlite3_stmt *st = level < CLAIM_LEVELS ? q->claim : q->claim_rest;
        if (level < CLAIM_LEVELS) {
            sqlite3_bind_int64(q->top, 1, below);
            s = sqlite3_step(q->top);
            int none = s != SQLITE_ROW;
            if (s == SQLITE_ROW)
                below = sqlite3_column_int64(q->top, 0);
            sqlite3_reset(q->top);
            if (s != SQLITE_ROW && s != SQLITE_DONE)
                break;
            s = SQLITE_DONE;
            if (none)
                break;
        }
        sqlite3_bind_int64(st, 1, now);
        bind_text_or_null(st, 2, q->scripts_json);
        sqlite3_bind_int(st, 3, max - (int)*cnt);
        sqlite3_bind_int64(st, 4, below);
        s = claim_rows(st, v, cnt, cap);
        if (level >= CLAIM_LEVELS)
            break;
    }
    return s;
}

/* A foreground run's task, running from the moment it is inserted. The run
 * holds its lease for a day: it is never reaped while the person watches it,
 * and still comes back if the process died (at once, from a worker on the
 * same machine: end_dead_runs). */
static drudge_code hold_adhoc(sqlite3 *db, const char *worker, int64_t id, int64_t now,
                              drudge_err *err)
{
    drudge_queue_opts o = {.owner = worker, .lease_us = 86400 * (int64_t)1000000};
    drudge_queue *q = drudge_queue_new(db, &o, err);
    if (!q)
        return err ? err->code : DRUDGE_EDB;
    drudge_code rc = hold_lease(q, now + q->opts.lease_us, err);
    if (!rc)
        rc = take_task(q, id, now, err);
    drudge_queue_free(q);
    return rc;
}

drudge_code drudge_queue_claim(drudge_queue *q, int64_t now, int max, drudge_claimed **out,
                               size_t *n, drudge_err *err)
{
    drudge_claimed *v = NULL;
    size_t cnt = 0, cap = 0;
    drudge_code rc = DRUDGE_OK;
    *out = NULL;
    *n = 0;
    if (max <= 0)
        return DRUDGE_OK;
    sqlite3_bind_int64(q->promote, 1, now);
    sqlite3_bind_int(q->promote, 2, PROMOTE_MAX);
    rc = step_done(q, q->promote, "moving tasks whose time has come", err);
    if (rc)
        return rc;
    if (find_claimable(q, now, max, &v, &cnt, &cap) != SQLITE_DONE)
        rc = drudge_db_err(q->db, "claiming tasks", err);
    if (!rc && cnt)
        rc = hold_lease(q, now + q->opts.lease_us, err);
    for (size_t i = 0; i < cnt && !rc; i++)
        rc = take_task(q, v[i].id, now, err);
    if (rc) {
        for (size_t i = 0; i < cnt; i++)
            drudge_claimed_free(&v[i]);
        free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return DRUDGE_OK;
}

int64_t drudge_queue_backoff(drudge_queue *q, int spent)
{
    int64_t base = q->opts.backoff_base_us, cap = q->opts.backoff_cap_us;
    if (base <= 0)
        return 0;
    int64_t d = base;
    for (int i = 1; i < spent && d < cap; i++)
        d *= 2;
    if (d > cap)
        d = cap;
    /* Equal jitter: half fixed, half random, so retries of a burst spread out
     * but never come sooner than half the nominal delay. */
    int64_t half = d / 2;
    return half + (half > 0 ? (int64_t)(((double)rand_r(&q->seed) / RAND_MAX) * (double)half) : 0);
}

static const char *error_kind(drudge_outcome o)
{
    switch (o) {
    case DRUDGE_FAILED:
        return "business";
    case DRUDGE_ERROR:
        return "system";
    case DRUDGE_TIMEOUT:
        return "timeout";
    case DRUDGE_MEMORY:
        return "memory";
    default:
        return NULL;
    }
}

static drudge_code insert_attempt(drudge_queue *q, int64_t task, int n, const char *worker,
                                  int64_t started, int64_t ended, const char *outcome,
                                  const char *error, const char *kind, drudge_err *err)
{
    sqlite3_stmt *st = q->attempt;
    sqlite3_bind_int64(st, 1, task);
    sqlite3_bind_int(st, 2, n);
    sqlite3_bind_text(st, 3, worker, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, started);
    sqlite3_bind_int64(st, 5, ended);
    sqlite3_bind_text(st, 6, outcome, -1, SQLITE_STATIC);
    bind_text_or_null(st, 7, error);
    bind_text_or_null(st, 8, kind);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        return drudge_db_err(q->db, "recording an attempt", err);
    return DRUDGE_OK;
}

drudge_code drudge_queue_complete(drudge_queue *q, const drudge_completion *c, int64_t now,
                                  const char **new_state, drudge_err *err)
{
    const drudge_claimed *t = c->task;
    const drudge_result *res = c->res;
    const char *state, *outcome, *error = NULL, *kind = NULL, *output = NULL;
    int spend = 0, finished = 1;
    int64_t run_at = 0;
    *new_state = NULL;

    if (c->cancelled) {
        state = "cancelled";
        outcome = "cancelled";
        error = "cancelled by an operator";
        kind = "cancelled";
    } else {
        outcome = drudge_outcome_name(res->outcome);
        error = res->error;
        kind = error_kind(res->outcome);
        switch (res->outcome) {
        case DRUDGE_DONE:
            state = "done";
            output = res->output;
            break;
        case DRUDGE_FAILED:
            state = "failed";
            break;
        case DRUDGE_RETRY_LATER:
            /* Asked for: a delay of the script's choosing, no attempt spent. */
            state = "queued";
            finished = 0;
            run_at = now + (int64_t)(res->retry_after > 0 ? res->retry_after * 1e6 : 0);
            break;
        default:
            spend = 1;
            if (c->no_retry || t->spent + 1 >= t->max_attempts) {
                state = "dead";
            } else {
                state = "queued";
                finished = 0;
                run_at = now + drudge_queue_backoff(q, t->spent + 1);
            }
            break;
        }
    }
    /* The attempt ended when the script did, not when its batch committed. */
    int64_t ended = now;
    if (res && c->started_us + res->duration_us > c->started_us &&
        c->started_us + res->duration_us < now)
        ended = c->started_us + res->duration_us;
    /* A final attempt is kept in the task's row, any other in attempt_log. */
    int in_row = res && finished;
    /* The task is still ours only if its `running` row is. */
    int held;
    drudge_code rc = stop_running(q, t->id, q->owner, "recording a task's outcome", &held, err);
    if (rc || !held)
        return rc; /* not held: the lease was lost, another worker owns this task now */
    sqlite3_stmt *st = q->done;
    sqlite3_bind_int64(st, 1, t->id);
    sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, spend);
    bind_text_or_null(st, 4, output);
    bind_text_or_null(st, 5, error);
    bind_text_or_null(st, 6, kind);
    if (run_at)
        sqlite3_bind_int64(st, 7, run_at);
    else
        sqlite3_bind_null(st, 7);
    if (finished)
        sqlite3_bind_int64(st, 8, ended);
    else
        sqlite3_bind_null(st, 8);
    sqlite3_bind_int(st, 9, t->attempt - 1);
    if (in_row) {
        sqlite3_bind_text(st, 10, c->worker, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 11, c->started_us);
        sqlite3_bind_text(st, 12, outcome, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, 10);
        sqlite3_bind_null(st, 11);
        sqlite3_bind_null(st, 12);
    }
    sqlite3_bind_int(st, 13, run_at > now); /* a backoff or retry_later(s > 0): tasks_later */
    /* Every parameter is bound each time: no clearing. */
    if ((rc = step_done(q, st, "recording a task's outcome", err)))
        return rc;
    if (sqlite3_changes(q->db) != 1)
        return DRUDGE_OK; /* deleted or edited by hand while it ran: the result is dropped */
    if (!strcmp(state, "done") && (rc = add_done(q, t, err)))
        return rc;
    if (res && !in_row &&
        (rc = insert_attempt(q, t->id, t->attempt, c->worker, c->started_us, ended, outcome, error,
                             kind, err)))
        return rc;
    if (res && c->rec && (rc = drudge_audit_writer_append(q->audit, c->rec, err)))
        return rc;
    *new_state = state;
    return DRUDGE_OK;
}

drudge_code drudge_queue_append_steps(drudge_queue *q, drudge_rec *rec, drudge_err *err)
{
    return drudge_audit_writer_append(q->audit, rec, err);
}

drudge_code drudge_queue_release(drudge_queue *q, const drudge_claimed *t, drudge_err *err)
{
    int held;
    return stop_running(q, t->id, q->owner, "releasing a task", &held, err);
}

drudge_code drudge_queue_renew(drudge_queue *q, int64_t now, int64_t *cancel, size_t max,
                               size_t *ncancel, drudge_err *err)
{
    *ncancel = 0;
    drudge_code rc = hold_lease(q, now + q->opts.lease_us, err);
    return rc ? rc : drudge_queue_cancel_requests(q, cancel, max, ncancel, err);
}

drudge_code drudge_queue_drop_lease(drudge_queue *q, drudge_err *err)
{
    sqlite3_bind_text(q->drop, 1, q->owner, -1, SQLITE_STATIC);
    return step_done(q, q->drop, "giving up the lease", err);
}

drudge_code drudge_queue_cancel_requests(drudge_queue *q, int64_t *cancel, size_t max,
                                         size_t *ncancel, drudge_err *err)
{
    sqlite3_stmt *st = q->cancels;
    int s;
    *ncancel = 0;
    sqlite3_bind_text(st, 1, q->owner, -1, SQLITE_STATIC);
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        if (*ncancel < max)
            cancel[(*ncancel)++] = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (s != SQLITE_DONE)
        return drudge_db_err(q->db, "reading cancel requests", err);
    return DRUDGE_OK;
}

typedef struct expired_task {
    drudge_claimed t;
    char *owner;
    int64_t claimed_at;
} expired_task;

/* A `drudge run` holds its lease for a day, so that it is never reaped while
 * a person watches it. Where its process is known to be gone (a run on this
 * machine whose pid no longer exists: killed), its lease ends now, and its
 * task comes back with the others. A reused pid only keeps the day. At most
 * DEAD_RUNS a reap; any more, the next second. */
#define DEAD_RUNS 8
static drudge_code end_dead_runs(drudge_queue *q, int64_t now, drudge_err *err)
{
    char dead[DEAD_RUNS][128];
    int ndead = 0, s;
    size_t plen = strlen(q->run_prefix);
    sqlite3_bind_text(q->runs, 1, q->run_prefix, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q->runs, 2, now);
    while ((s = sqlite3_step(q->runs)) == SQLITE_ROW && ndead < DEAD_RUNS) {
        const char *owner = (const char *)sqlite3_column_text(q->runs, 0);
        char *end;
        long pid = owner ? strtol(owner + plen, &end, 10) : 0;
        if (pid > 0 && !*end && kill((pid_t)pid, 0) != 0 && errno == ESRCH &&
            strlen(owner) < sizeof dead[0])
            snprintf(dead[ndead++], sizeof dead[0], "%s", owner);
    }
    sqlite3_reset(q->runs);
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        return drudge_db_err(q->db, "finding runs that died", err);
    drudge_code rc = DRUDGE_OK;
    for (int i = 0; i < ndead && !rc; i++) {
        sqlite3_bind_text(q->end_lease, 1, dead[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(q->end_lease, 2, now - 1);
        rc = step_done(q, q->end_lease, "ending the lease of a run that died", err);
    }
    return rc;
}

drudge_code drudge_queue_reap(drudge_queue *q, int64_t now, int *n, drudge_err *err)
{
    sqlite3_stmt *st = q->expired;
    expired_task *v = NULL;
    size_t cnt = 0, cap = 0;
    drudge_code rc = DRUDGE_OK;
    int s;
    *n = 0;
    if ((rc = end_dead_runs(q, now, err)))
        return rc;
    /* Collect first: the updates below change the index being read. */
    sqlite3_bind_int64(st, 1, now);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            v = drudge_xrealloc(v, cap * sizeof *v);
        }
        expired_task *e = &v[cnt++];
        memset(e, 0, sizeof *e);
        e->t.id = sqlite3_column_int64(st, 0);
        e->t.script = col_strdup(st, 1);
        e->owner = col_strdup(st, 2);
        e->claimed_at = sqlite3_column_int64(st, 3);
        e->t.attempt = sqlite3_column_int(st, 4) + 1;
        e->t.spent = sqlite3_column_int(st, 5);
        e->t.max_attempts = sqlite3_column_int(st, 6);
        e->t.key = col_strdup(st, 7);
        e->t.input = col_strdup(st, 8);
    }
    sqlite3_reset(st);
    if (s != SQLITE_DONE) {
        rc = drudge_db_err(q->db, "finding expired leases", err);
        goto cleanup;
    }
    drudge_buf b = {0};
    for (size_t i = 0; i < cnt && !rc; i++) {
        expired_task *e = &v[i];
        const char *msg = "lost: the worker's lease expired (it died or stalled) before the "
                          "attempt's outcome was recorded";
        int dead = e->t.spent + 1 >= e->t.max_attempts;
        int held;
        if ((rc = stop_running(q, e->t.id, e->owner ? e->owner : "", "requeueing a lost task",
                               &held, err)))
            break;
        if (!held)
            continue;
        /* A lost attempt is retried at once: the task itself is rarely at fault. */
        st = q->done;
        sqlite3_bind_int64(st, 1, e->t.id);
        sqlite3_bind_text(st, 2, dead ? "dead" : "queued", -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, 1);
        sqlite3_bind_null(st, 4);
        sqlite3_bind_text(st, 5, msg, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, "lost", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, now);
        if (dead)
            sqlite3_bind_int64(st, 8, now);
        else
            sqlite3_bind_null(st, 8);
        sqlite3_bind_int(st, 9, e->t.attempt - 1);
        if (dead) { /* the final attempt: kept in the row */
            sqlite3_bind_text(st, 10, e->owner ? e->owner : "?", -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 11, e->claimed_at ? e->claimed_at : now);
            sqlite3_bind_text(st, 12, "lost", -1, SQLITE_STATIC);
        }
        sqlite3_bind_int(st, 13, 0); /* due now */
        s = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (s != SQLITE_DONE) {
            rc = drudge_db_err(q->db, "requeueing a lost task", err);
            break;
        }
        if (sqlite3_changes(q->db) != 1)
            continue;
        if (!dead && (rc = insert_attempt(q, e->t.id, e->t.attempt, e->owner ? e->owner : "?",
                                          e->claimed_at ? e->claimed_at : now, now, "lost", msg,
                                          "lost", err)))
            break;
        /* The lost attempt is on the audit chain too, as its root step. */
        drudge_rec_reset(q->rec, e->t.id, e->t.attempt);
        drudge_buf_reset(&b);
        drudge_buf_puts(&b, "{\"input\":");
        drudge_buf_puts(&b, e->t.input ? e->t.input : "null");
        if (e->t.key) {
            drudge_buf_puts(&b, ",\"key\":");
            drudge_buf_json_str(&b, e->t.key, strlen(e->t.key));
        }
        drudge_buf_puts(&b, "}");
        int seq = drudge_rec_begin(q->rec, "task", e->t.script, b.data);
        drudge_rec_end(q->rec, seq, "lost", NULL, msg);
        rc = drudge_audit_writer_append(q->audit, q->rec, err);
        if (!rc)
            (*n)++;
    }
    drudge_buf_free(&b);
    if (!rc) { /* leases whose tasks have all been reaped or finished */
        sqlite3_bind_int64(q->expire, 1, now);
        rc = step_done(q, q->expire, "dropping expired leases", err);
    }
cleanup:
    for (size_t i = 0; i < cnt; i++) {
        drudge_claimed_free(&v[i].t);
        free(v[i].owner);
    }
    free(v);
    return rc;
}

drudge_code drudge_queue_idle(drudge_queue *q, int64_t now, int *idle, drudge_err *err)
{
    sqlite3_stmt *st = q->idle; /* anything running */
    bind_text_or_null(st, 2, q->scripts_json);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *idle = !sqlite3_column_int(st, 0);
    sqlite3_reset(st);
    if (s == SQLITE_ROW && *idle) { /* anything the claim would take */
        drudge_claimed *v = NULL;
        size_t cnt = 0, cap = 0;
        s = find_claimable(q, now, 1, &v, &cnt, &cap) == SQLITE_DONE ? SQLITE_ROW : SQLITE_ERROR;
        *idle = !cnt;
        for (size_t i = 0; i < cnt; i++)
            drudge_claimed_free(&v[i]);
        free(v);
    }
    if (s == SQLITE_ROW && *idle) { /* or would take once moved to tasks_due */
        st = q->due_later;
        sqlite3_bind_int64(st, 1, now);
        bind_text_or_null(st, 2, q->scripts_json);
        s = sqlite3_step(st);
        if (s == SQLITE_ROW)
            *idle = !sqlite3_column_int(st, 0);
        sqlite3_reset(st);
    }
    if (s != SQLITE_ROW)
        return drudge_db_err(q->db, "checking for work", err);
    return DRUDGE_OK;
}

drudge_code drudge_queue_finish(sqlite3 *db, const drudge_finish *f, const char **new_state,
                                drudge_err *err)
{
    drudge_queue_opts opts = {.owner = f->worker};
    drudge_queue *q = drudge_queue_new(db, &opts, err);
    if (!q)
        return err ? err->code : DRUDGE_EDB;
    drudge_claimed t = {.id = f->task_id, .attempt = f->attempt, .max_attempts = 1};
    drudge_completion c = {.task = &t,
                           .worker = f->worker,
                           .started_us = f->started_us,
                           .res = f->res,
                           .no_retry = f->no_retry,
                           .cancelled = f->cancelled,
                           .rec = f->rec};
    const char *state = NULL;
    drudge_code rc = drudge_db_begin(db, err);
    if (!rc)
        rc = drudge_queue_complete(q, &c, drudge_now_us(), &state, err);
    if (!rc && !state)
        rc = drudge_seterr(err, DRUDGE_ESTATE, "task #%lld is no longer leased to %s",
                           (long long)f->task_id, f->worker);
    if (!rc)
        rc = drudge_queue_drop_lease(q, err);
    if (!rc)
        rc = drudge_db_commit(db, err);
    if (rc)
        drudge_db_rollback(db);
    else if (new_state)
        *new_state = state;
    drudge_queue_free(q);
    return rc;
}

/* ---- operations ---- */

/* A task as listed and shown: its row, with its state, lease and cancel
 * request taken from `running` and `leases` while it runs. */
#define TASK_STATE "CASE WHEN r.task_id IS NULL THEN t.state ELSE 'running' END"
#define TASK_SELECT                                                                                \
    "SELECT t.id, t.script, t.script_path, t.key, " TASK_STATE ", t.input, t.output, t.error, "    \
    "t.error_kind, r.owner, t.schedule, t.resolved_by, t.resolved_note, t.priority, t.attempts, "  \
    "t.spent, t.max_attempts, coalesce(r.cancel_requested, 0), t.manual_minutes, "                 \
    "t.exception_minutes, t.run_at, t.created_at, t.finished_at, l.until, t.resolved_at "          \
    "FROM tasks t LEFT JOIN running r ON r.task_id = t.id LEFT JOIN leases l ON l.owner = "        \
    "r.owner "

static void read_task(sqlite3_stmt *st, drudge_task_row *t)
{
    t->id = sqlite3_column_int64(st, 0);
    t->script = col_strdup(st, 1);
    t->script_path = col_strdup(st, 2);
    t->key = col_strdup(st, 3);
    t->state = col_strdup(st, 4);
    t->input = col_strdup(st, 5);
    t->output = col_strdup(st, 6);
    t->error = col_strdup(st, 7);
    t->error_kind = col_strdup(st, 8);
    t->lease_owner = col_strdup(st, 9);
    t->schedule = col_strdup(st, 10);
    t->resolved_by = col_strdup(st, 11);
    t->resolved_note = col_strdup(st, 12);
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
}

void drudge_task_row_clear(drudge_task_row *t)
{
    free(t->script);
    free(t->script_path);
    free(t->key);
    free(t->state);
    free(t->input);
    free(t->output);
    free(t->error);
    free(t->error_kind);
    free(t->lease_owner);
    free(t->schedule);
    free(t->resolved_by);
    free(t->resolved_note);
    memset(t, 0, sizeof *t);
}

void drudge_task_rows_free(drudge_task_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        drudge_task_row_clear(&rows[i]);
    free(rows);
}

void drudge_attempt_rows_free(drudge_attempt_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].worker);
        free(rows[i].outcome);
        free(rows[i].error);
        free(rows[i].error_kind);
    }
    free(rows);
}

drudge_code drudge_queue_list(sqlite3 *db, const char *state, const char *script, int limit,
                              drudge_task_row **rows, size_t *n, drudge_err *err)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int s;
    *rows = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db,
                           TASK_SELECT
                           "WHERE (?1 IS NULL OR " TASK_STATE " = ?1) "
                           "AND (?2 IS NULL OR t.script = ?2) ORDER BY t.id DESC LIMIT ?3",
                           -1, &st, NULL) != SQLITE_OK)
        return drudge_db_err(db, "listing tasks", err);
    bind_text_or_null(st, 1, state);
    bind_text_or_null(st, 2, script);
    sqlite3_bind_int(st, 3, limit > 0 ? limit : 100);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 32;
            *rows = drudge_xrealloc(*rows, cap * sizeof **rows);
        }
        read_task(st, &(*rows)[(*n)++]);
    }
    drudge_code rc = s == SQLITE_DONE ? DRUDGE_OK : drudge_db_err(db, "listing tasks", err);
    sqlite3_finalize(st);
    if (rc) {
        drudge_task_rows_free(*rows, *n);
        *rows = NULL;
        *n = 0;
    }
    return rc;
}

drudge_code drudge_queue_get(sqlite3 *db, int64_t id, drudge_task_row *task,
                             drudge_attempt_row **attempts, size_t *n, drudge_err *err)
{
    sqlite3_stmt *st = NULL;
    drudge_code rc = DRUDGE_OK;
    size_t cap = 0;
    int s;
    memset(task, 0, sizeof *task);
    *attempts = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db, TASK_SELECT "WHERE t.id = ?", -1, &st, NULL) != SQLITE_OK)
        return drudge_db_err(db, "reading a task", err);
    sqlite3_bind_int64(st, 1, id);
    s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        read_task(st, task);
    else if (s == SQLITE_DONE)
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "no task #%lld", (long long)id);
    else
        rc = drudge_db_err(db, "reading a task", err);
    sqlite3_finalize(st);
    st = NULL;
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(db,
                           "SELECT n, worker, outcome, error, error_kind, started_at, ended_at "
                           "FROM attempts WHERE task_id = ? ORDER BY n",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = drudge_db_err(db, "reading attempts", err);
        goto cleanup;
    }
    sqlite3_bind_int64(st, 1, id);
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *attempts = drudge_xrealloc(*attempts, cap * sizeof **attempts);
        }
        drudge_attempt_row *a = &(*attempts)[(*n)++];
        a->n = sqlite3_column_int(st, 0);
        a->worker = col_strdup(st, 1);
        a->outcome = col_strdup(st, 2);
        a->error = col_strdup(st, 3);
        a->error_kind = col_strdup(st, 4);
        a->started_at = sqlite3_column_int64(st, 5);
        a->ended_at = sqlite3_column_int64(st, 6);
    }
    if (s != SQLITE_DONE)
        rc = drudge_db_err(db, "reading attempts", err);
cleanup:
    sqlite3_finalize(st);
    if (rc) {
        drudge_task_row_clear(task);
        drudge_attempt_rows_free(*attempts, *n);
        *attempts = NULL;
        *n = 0;
    }
    return rc;
}

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

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int by_script(const void *a, const void *b)
{
    return strcmp(((const drudge_script_counts *)a)->script,
                  ((const drudge_script_counts *)b)->script);
}

void drudge_queue_stats_clear(drudge_queue_stats *s)
{
    for (size_t i = 0; i < s->nscripts; i++)
        free(s->scripts[i].script);
    free(s->scripts);
    memset(s, 0, sizeof *s);
}

/* Each attempt's root step (seq 1) goes on the audit chain when the attempt
 * ends, so root steps are in (nearly) the order attempts end: the first one
 * that ended at or after t is found by binary search on the step id, and no
 * index on end times is kept up to date on the hot path for this. */
#define ROOT_STEP "seq = 1 AND parent IS NULL"
static drudge_code first_attempt_since(sqlite3 *db, int64_t t, int64_t *out, drudge_err *err)
{
    sqlite3_stmt *st = NULL;
    int64_t lo = 1, hi = 0;
    drudge_code rc = DRUDGE_OK;
    if (sqlite3_prepare_v2(db, "SELECT max(id) FROM steps", -1, &st, NULL) != SQLITE_OK)
        return drudge_db_err(db, "status", err);
    if (sqlite3_step(st) == SQLITE_ROW)
        hi = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(db,
                           "SELECT started_at + duration_us FROM steps WHERE id >= ? AND " ROOT_STEP
                           " ORDER BY id LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return drudge_db_err(db, "status", err);
    hi++; /* answer in [lo, hi]; hi = none */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2, ended = INT64_MAX;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, mid);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW)
            ended = sqlite3_column_int64(st, 0);
        else if (s != SQLITE_DONE) {
            rc = drudge_db_err(db, "status", err);
            break;
        }
        if (ended >= t)
            hi = mid;
        else
            lo = mid + 1;
    }
    sqlite3_finalize(st);
    *out = lo;
    return rc;
}

drudge_code drudge_queue_status(sqlite3 *db, int64_t now, drudge_queue_stats *out, drudge_err *err)
{
    /* Every query reads partial indexes alone (queued, running,
     * exceptions), the done counts, or the last minute's attempts,
     * so status stays quick over a backlog of millions. Rows of the first two
     * are counted here rather than grouped in SQL, which would sort them. */
    static const char *const queries[] = {
        /* Running tasks keep their entry in tasks_due: the first query
         * notes their ids, which the second skips. Queued tasks are in
         * tasks_due, or in tasks_later until they are due. */
        "SELECT t.script, 1, t.id FROM running r CROSS JOIN tasks t ON t.id = r.task_id "
        "ORDER BY r.task_id",
        "SELECT script, 0, id FROM tasks INDEXED BY tasks_due WHERE state = 'queued' AND later = 0 "
        "UNION ALL SELECT script, 0, id FROM tasks INDEXED BY tasks_later "
        "WHERE state = 'queued' AND later = 1",
        /* The partial index is usable only when its own WHERE term is repeated. */
        ("SELECT script, state, count(*) FROM tasks INDEXED BY tasks_exceptions "
         "WHERE (state = 'failed' OR state = 'dead' OR state = 'cancelled') GROUP BY state, script "
         "UNION ALL SELECT script, 'done', n FROM done_counts"),
        ("SELECT script, count(*) FROM tasks INDEXED BY tasks_exceptions WHERE "
         "(state = 'failed' OR state = 'dead' OR state = 'cancelled') AND "
         "(state = 'failed' OR state = 'dead') AND resolved_at IS NULL GROUP BY script"),
        /* A root step is named after its script. */
        "SELECT name, count(*) FROM steps WHERE id >= ?1 AND " ROOT_STEP " GROUP BY name",
        "SELECT script FROM paused",
        "SELECT name FROM scripts",
    };
    drudge_code rc = DRUDGE_OK;
    int64_t since = 0, *running = NULL;
    size_t nrunning = 0, caprunning = 0;
    memset(out, 0, sizeof *out);
    rc = first_attempt_since(db, now - 60 * (int64_t)1000000, &since, err);
    for (size_t q = 0; q < sizeof queries / sizeof queries[0] && !rc; q++) {
        sqlite3_stmt *st = NULL;
        int s;
        if (sqlite3_prepare_v2(db, queries[q], -1, &st, NULL) != SQLITE_OK) {
            rc = drudge_db_err(db, "status", err);
            break;
        }
        if (q == 4)
            sqlite3_bind_int64(st, 1, since);
        drudge_script_counts *c = NULL;
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            const char *script = (const char *)sqlite3_column_text(st, 0);
            if (!script)
                script = "";
            if (!c || strcmp(c->script, script))
                c = counts_for(out, script);
            switch (q) {
            case 0:
                c->count[1]++;
                if (nrunning == caprunning) {
                    caprunning = caprunning ? 2 * caprunning : 64;
                    running = drudge_xrealloc(running, caprunning * sizeof *running);
                }
                running[nrunning++] = sqlite3_column_int64(st, 2);
                break;
            case 1: {
                int64_t id = sqlite3_column_int64(st, 2);
                if (nrunning && bsearch(&id, running, nrunning, sizeof *running, cmp_id))
                    break;
                c->count[0]++;
                if (!c->oldest_queued_us || id < c->oldest_queued_us)
                    c->oldest_queued_us = id; /* an id for now: ids grow with created_at */
                break;
            }
            case 2: {
                const char *state = (const char *)sqlite3_column_text(st, 1);
                for (int i = 2; i < DRUDGE_NSTATES; i++)
                    if (state && !strcmp(state, drudge_task_states[i]))
                        c->count[i] += sqlite3_column_int64(st, 2);
                break;
            }
            case 3:
                c->unresolved = sqlite3_column_int64(st, 1);
                break;
            case 4:
                c->done_last_minute = sqlite3_column_int64(st, 1);
                break;
            case 5:
                c->paused = 1;
                break;
            default:
                break; /* known scripts appear with zero counts */
            }
        }
        if (s != SQLITE_DONE)
            rc = drudge_db_err(db, "status", err);
        sqlite3_finalize(st);
        if (!rc && q == 1) {
            /* Turn the oldest ids into their creation times. */
            sqlite3_stmt *ct = NULL;
            if (sqlite3_prepare_v2(db, "SELECT created_at FROM tasks WHERE id = ?", -1, &ct,
                                   NULL) != SQLITE_OK) {
                rc = drudge_db_err(db, "status", err);
                break;
            }
            for (size_t i = 0; i < out->nscripts; i++) {
                if (!out->scripts[i].oldest_queued_us)
                    continue;
                sqlite3_reset(ct);
                sqlite3_bind_int64(ct, 1, out->scripts[i].oldest_queued_us);
                out->scripts[i].oldest_queued_us =
                    sqlite3_step(ct) == SQLITE_ROW ? sqlite3_column_int64(ct, 0) : 0;
            }
            sqlite3_finalize(ct);
        }
    }
    free(running);
    if (rc) {
        drudge_queue_stats_clear(out);
        return rc;
    }
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

/* Runs pre (if not NULL), then one UPDATE, each with (id, now, s3, s4) bound
 * as far as it has parameters, in one transaction; *changes gets the number
 * of rows the UPDATE changed. */
static drudge_code exec_pre_update(sqlite3 *db, const char *what, const char *pre, const char *sql,
                                   int64_t id, int64_t now, const char *s3, const char *s4,
                                   int64_t *changes, drudge_err *err)
{
    const char *const stmts[2] = {pre, sql};
    sqlite3_stmt *st = NULL;
    drudge_code rc = drudge_db_begin(db, err);
    if (rc)
        return rc;
    for (int i = 0; i < 2 && !rc; i++) {
        if (!stmts[i])
            continue;
        if (sqlite3_prepare_v2(db, stmts[i], -1, &st, NULL) != SQLITE_OK) {
            rc = drudge_db_err(db, what, err);
            goto cleanup;
        }
        int nparams = sqlite3_bind_parameter_count(st);
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, now);
        if (nparams >= 3)
            bind_text_or_null(st, 3, s3);
        if (nparams >= 4)
            bind_text_or_null(st, 4, s4);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = drudge_db_err(db, what, err);
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc)
        goto cleanup;
    *changes = sqlite3_changes(db);
    rc = drudge_db_commit(db, err);
cleanup:
    sqlite3_finalize(st);
    if (rc)
        drudge_db_rollback(db);
    return rc;
}

static drudge_code exec_update(sqlite3 *db, const char *what, const char *sql, int64_t id,
                               int64_t now, const char *s3, const char *s4, int64_t *changes,
                               drudge_err *err)
{
    return exec_pre_update(db, what, NULL, sql, id, now, s3, s4, changes, err);
}

/* Explains why an operation did not apply to task id: missing, or its state. */
static drudge_code state_error(sqlite3 *db, int64_t id, const char *op, const char *allowed,
                               drudge_err *err)
{
    sqlite3_stmt *st = NULL;
    drudge_code rc;
    if (sqlite3_prepare_v2(db, "SELECT state FROM task_state WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return drudge_db_err(db, op, err);
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        rc = drudge_seterr(err, DRUDGE_ESTATE,
                           "cannot %s task #%lld: it is %s (only %s tasks can be)", op,
                           (long long)id, sqlite3_column_text(st, 0), allowed);
    else
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "no task #%lld", (long long)id);
    sqlite3_finalize(st);
    return rc;
}

#define REQUEUE                                                                                    \
    "state = 'queued', later = 0, spent = 0, run_at = ?2, finished_at = NULL, error = NULL, "      \
    "error_kind = NULL, output = NULL, resolved_by = NULL, resolved_at = NULL, "                   \
    "resolved_note = NULL, worker = NULL, started_at = NULL, outcome = NULL"

/* Before a task is requeued, its final attempt moves from its row to
 * attempt_log (WHERE: the requeue's own condition). */
#define KEEP_FINAL_ATTEMPT(WHERE)                                                                  \
    "INSERT INTO attempt_log(task_id, n, worker, started_at, ended_at, outcome, error, "           \
    "error_kind) SELECT id, attempts, worker, started_at, finished_at, outcome, error, "           \
    "error_kind FROM tasks " WHERE " AND outcome IS NOT NULL"

drudge_code drudge_queue_retry(sqlite3 *db, int64_t id, int64_t now, drudge_err *err)
{
    int64_t changes = 0;
#define RETRY_ONE "WHERE id = ?1 AND ?2 = ?2 AND state IN ('failed','dead','cancelled')"
    drudge_code rc = exec_pre_update(db, "retry", KEEP_FINAL_ATTEMPT(RETRY_ONE),
                                     "UPDATE tasks SET " REQUEUE " " RETRY_ONE, id, now, NULL, NULL,
                                     &changes, err);
    if (!rc && !changes)
        rc = state_error(db, id, "retry", "failed, dead or cancelled", err);
    return rc;
}

drudge_code drudge_queue_retry_all(sqlite3 *db, const char *state, const char *script, int64_t now,
                                   int64_t *count, drudge_err *err)
{
#define RETRY_ALL "WHERE ?1 = ?1 AND ?2 = ?2 AND state = ?3 AND (?4 IS NULL OR script = ?4)"
    return exec_pre_update(db, "retry", KEEP_FINAL_ATTEMPT(RETRY_ALL),
                           "UPDATE tasks SET " REQUEUE " " RETRY_ALL, 0, now, state, script, count,
                           err);
}

drudge_code drudge_queue_cancel(sqlite3 *db, int64_t id, int64_t now, int *deferred,
                                drudge_err *err)
{
    int64_t changes = 0;
    *deferred = 0;
    drudge_code rc = exec_update(db, "cancel",
                                 "UPDATE tasks SET state = 'cancelled', finished_at = ?2 "
                                 "WHERE id = ?1 AND state = 'queued' "
                                 "AND NOT EXISTS (SELECT 1 FROM running WHERE task_id = ?1)",
                                 id, now, NULL, NULL, &changes, err);
    if (rc || changes)
        return rc;
    rc = exec_update(db, "cancel",
                     "UPDATE running SET cancel_requested = 1 WHERE task_id = ?1 AND ?2 = ?2", id,
                     now, NULL, NULL, &changes, err);
    if (!rc && changes)
        *deferred = 1;
    else if (!rc)
        rc = state_error(db, id, "cancel", "queued or running", err);
    return rc;
}

drudge_code drudge_queue_pause(sqlite3 *db, const char *script, const char *who, int64_t now,
                               int *changed, drudge_err *err)
{
    int64_t changes = 0;
    drudge_code rc = exec_update(db, "pause",
                                 "INSERT INTO paused(script, paused_at, paused_by) "
                                 "SELECT ?3, ?2, ?4 WHERE ?1 = ?1 "
                                 "ON CONFLICT(script) DO NOTHING",
                                 0, now, script, who, &changes, err);
    *changed = changes > 0;
    return rc;
}

drudge_code drudge_queue_resume(sqlite3 *db, const char *script, int *changed, drudge_err *err)
{
    int64_t changes = 0;
    drudge_code rc =
        exec_update(db, "resume", "DELETE FROM paused WHERE ?1 = ?1 AND ?2 = ?2 AND script = ?3", 0,
                    0, script, NULL, &changes, err);
    *changed = changes > 0;
    return rc;
}

drudge_code drudge_queue_resolve(sqlite3 *db, int64_t id, const char *who, const char *note,
                                 int64_t now, drudge_err *err)
{
    int64_t changes = 0;
    drudge_code rc = exec_update(db, "resolve",
                                 "UPDATE tasks SET resolved_by = ?3, resolved_at = ?2, "
                                 "resolved_note = ?4 WHERE id = ?1 AND state IN ('failed','dead')",
                                 id, now, who, note, &changes, err);
    if (!rc && !changes)
        rc = state_error(db, id, "resolve", "failed or dead", err);
    return rc;
}

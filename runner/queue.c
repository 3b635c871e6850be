/* queue.c: the task queue's tables and every SQL statement that touches them. */
#include <stdlib.h>
#include <string.h>
#include "drudge/audit.h"
#include "drudge/db.h"
#include "drudge/queue.h"
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
    "  state TEXT NOT NULL CHECK (state IN "
    "    ('queued','running','done','failed','dead','cancelled')),"
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
    "CREATE INDEX tasks_due ON tasks(priority DESC, run_at, id) WHERE state = 'queued';"
    "CREATE INDEX tasks_lease ON tasks(lease_until) WHERE state = 'running';"
    "CREATE INDEX tasks_state ON tasks(state, script);"
    "CREATE TABLE attempts("
    "  id INTEGER PRIMARY KEY,"
    "  task_id INTEGER NOT NULL REFERENCES tasks(id),"
    "  n INTEGER NOT NULL,"
    "  worker TEXT NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  ended_at INTEGER NOT NULL,"
    "  outcome TEXT NOT NULL," /* done failed error timeout memory retry lost cancelled */
    "  error TEXT,"
    "  error_kind TEXT," /* business system timeout memory lost */
    "  UNIQUE(task_id, n));"
    "CREATE INDEX attempts_ended ON attempts(ended_at);"
    "CREATE TABLE paused(script TEXT PRIMARY KEY, paused_at INTEGER NOT NULL, paused_by TEXT);",
    NULL,
};

static drudge_code insert_task(sqlite3 *db, const drudge_task_spec *spec, const char *state,
                               const char *worker, int64_t *id, int *duplicate, drudge_err *err)
{
    sqlite3_stmt *st = NULL;
    drudge_code rc = DRUDGE_OK;
    int64_t now = drudge_now_us();
    *duplicate = 0;
    if (spec->key) {
        if (sqlite3_prepare_v2(db, "SELECT id FROM tasks WHERE script = ? AND key = ?", -1, &st,
                               NULL) != SQLITE_OK)
            return drudge_db_err(db, "enqueue", err);
        sqlite3_bind_text(st, 1, spec->script, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, spec->key, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            *id = sqlite3_column_int64(st, 0);
            *duplicate = 1;
        }
        sqlite3_finalize(st);
        st = NULL;
        if (*duplicate)
            return DRUDGE_OK;
    }
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO tasks(script, script_path, key, input, state, priority, "
                           "run_at, max_attempts, manual_minutes, exception_minutes, schedule, "
                           "created_at, lease_owner, claimed_at, window) "
                           "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return drudge_db_err(db, "enqueue", err);
    sqlite3_bind_text(st, 1, spec->script, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, spec->script_path, -1, SQLITE_STATIC);
    if (spec->key)
        sqlite3_bind_text(st, 3, spec->key, -1, SQLITE_STATIC);
    if (spec->input)
        sqlite3_bind_text(st, 4, spec->input, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, state, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, spec->priority);
    sqlite3_bind_int64(st, 7, spec->run_at ? spec->run_at : now);
    sqlite3_bind_int(st, 8, spec->max_attempts > 0 ? spec->max_attempts : 3);
    sqlite3_bind_double(st, 9, spec->manual_minutes);
    sqlite3_bind_double(st, 10, spec->exception_minutes);
    if (spec->schedule)
        sqlite3_bind_text(st, 11, spec->schedule, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 12, now);
    if (worker) {
        sqlite3_bind_text(st, 13, worker, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 14, now);
    }
    if (spec->window)
        sqlite3_bind_text(st, 15, spec->window, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = drudge_db_err(db, "enqueue", err);
    else
        *id = sqlite3_last_insert_rowid(db);
    sqlite3_finalize(st);
    return rc;
}

drudge_code drudge_queue_enqueue(sqlite3 *db, const drudge_task_spec *spec, int64_t *id,
                                 int *duplicate, drudge_err *err)
{
    drudge_code rc = drudge_db_begin(db, err);
    if (rc)
        return rc;
    rc = insert_task(db, spec, "queued", NULL, id, duplicate, err);
    if (!rc)
        rc = drudge_db_commit(db, err);
    if (rc)
        drudge_db_rollback(db);
    return rc;
}

drudge_code drudge_queue_start_adhoc(sqlite3 *db, const drudge_task_spec *spec, const char *worker,
                                     int64_t *id, drudge_err *err)
{
    int dup = 0;
    drudge_code rc = drudge_db_begin(db, err);
    if (rc)
        return rc;
    rc = insert_task(db, spec, "running", worker, id, &dup, err);
    if (!rc && dup)
        rc = drudge_seterr(err, DRUDGE_ESTATE, "a task with key '%s' already exists for %s (#%lld)",
                           spec->key, spec->script, (long long)*id);
    if (!rc)
        rc = drudge_db_commit(db, err);
    if (rc)
        drudge_db_rollback(db);
    return rc;
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

drudge_code drudge_queue_finish(sqlite3 *db, const drudge_finish *f, const char **new_state,
                                drudge_err *err)
{
    sqlite3_stmt *st = NULL;
    const drudge_result *res = f->res;
    int64_t now = drudge_now_us();
    const char *state;
    drudge_code rc = drudge_db_begin(db, err);
    if (rc)
        return rc;
    switch (res->outcome) {
    case DRUDGE_DONE:
        state = "done";
        break;
    case DRUDGE_FAILED:
        state = "failed";
        break;
    case DRUDGE_RETRY_LATER:
        state = "queued";
        break;
    default:
        state = f->no_retry ? "dead" : "queued";
        break;
    }
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO attempts(task_id, n, worker, started_at, ended_at, "
                           "outcome, error, error_kind) VALUES (?,?,?,?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = drudge_db_err(db, "finish", err);
        goto cleanup;
    }
    sqlite3_bind_int64(st, 1, f->task_id);
    sqlite3_bind_int(st, 2, f->attempt);
    sqlite3_bind_text(st, 3, f->worker, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, f->started_us);
    sqlite3_bind_int64(st, 5, now);
    sqlite3_bind_text(st, 6, drudge_outcome_name(res->outcome), -1, SQLITE_STATIC);
    if (res->error)
        sqlite3_bind_text(st, 7, res->error, -1, SQLITE_STATIC);
    if (error_kind(res->outcome))
        sqlite3_bind_text(st, 8, error_kind(res->outcome), -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = drudge_db_err(db, "finish: attempt", err);
        goto cleanup;
    }
    sqlite3_finalize(st);
    st = NULL;
    /* A system error spends an attempt; past max_attempts the task is dead.
     * retry_later does not spend one. */
    if (sqlite3_prepare_v2(
            db,
            "UPDATE tasks SET "
            " attempts = attempts + 1,"
            " spent = spent + (?2 NOT IN ('done','failed','retry')),"
            " state = CASE WHEN ?3 = 'queued' AND ?2 <> 'retry' AND spent + 1 >= max_attempts"
            "   THEN 'dead' ELSE ?3 END,"
            " output = ?4, error = ?5, error_kind = ?6,"
            " run_at = CASE WHEN ?3 = 'queued' THEN ?7 ELSE run_at END,"
            " finished_at = CASE WHEN ?3 = 'queued' AND NOT (?2 <> 'retry' AND spent + 1 >= "
            "   max_attempts) THEN NULL ELSE ?8 END,"
            " lease_owner = NULL, lease_until = NULL, claimed_at = NULL "
            "WHERE id = ?1 RETURNING state",
            -1, &st, NULL) != SQLITE_OK) {
        rc = drudge_db_err(db, "finish: task", err);
        goto cleanup;
    }
    double delay = res->outcome == DRUDGE_RETRY_LATER ? res->retry_after : 0;
    sqlite3_bind_int64(st, 1, f->task_id);
    sqlite3_bind_text(st, 2, drudge_outcome_name(res->outcome), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, state, -1, SQLITE_STATIC);
    if (res->output)
        sqlite3_bind_text(st, 4, res->output, -1, SQLITE_STATIC);
    if (res->error)
        sqlite3_bind_text(st, 5, res->error, -1, SQLITE_STATIC);
    if (error_kind(res->outcome))
        sqlite3_bind_text(st, 6, error_kind(res->outcome), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, now + (int64_t)(delay * 1e6));
    sqlite3_bind_int64(st, 8, now);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = drudge_db_err(db, "finish: task", err);
        goto cleanup;
    }
    if (new_state)
        *new_state = !strcmp((const char *)sqlite3_column_text(st, 0), "dead") ? "dead" : state;
    sqlite3_finalize(st);
    st = NULL;
    if (f->rec) {
        rc = drudge_audit_append(db, f->rec, err);
        if (rc)
            goto cleanup;
    }
    rc = drudge_db_commit(db, err);
cleanup:
    sqlite3_finalize(st);
    if (rc)
        drudge_db_rollback(db);
    return rc;
}

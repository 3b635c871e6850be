/*
 * queue.h: the durable task queue. All queue SQL lives in runner/queue.c
 * behind these functions (a PostgreSQL backend is planned).
 *
 * Task life: queued -> running -> done | failed | dead | cancelled, and
 * running -> queued on a retry. Times are µs since the epoch, UTC.
 */
#ifndef DRUDGE_QUEUE_H
#define DRUDGE_QUEUE_H

#include <sqlite3.h>
#include <stdint.h>
#include "error.h"
#include "host.h"

/* What to enqueue. NULL/0 fields take defaults. */
typedef struct drudge_task_spec {
    const char *script;      /* script name (from the script table) */
    const char *script_path; /* where to load it from */
    const char *key;         /* unique per script, or NULL */
    const char *input;       /* JSON text, or NULL for null */
    int priority;            /* higher runs first */
    int64_t run_at;          /* not before; 0 = now */
    int max_attempts;        /* from the script */
    double manual_minutes;   /* value in force for this task */
    double exception_minutes;
    const char *schedule; /* schedule that created it, or NULL */
    const char *window;   /* the script's run window, or NULL */
} drudge_task_spec;

/* Enqueues one task. A task with the same (script, key) already present is
 * not duplicated: *duplicate is set to 1 and *id to the existing task. */
drudge_code drudge_queue_enqueue(sqlite3 *db, const drudge_task_spec *spec, int64_t *id /* OUT */,
                                 int *duplicate /* OUT */, drudge_err *err);

/* For `drudge run`: records a task that runs now in the foreground, already
 * leased to worker. */
drudge_code drudge_queue_start_adhoc(sqlite3 *db, const drudge_task_spec *spec, const char *worker,
                                     int64_t *id /* OUT */, drudge_err *err);

/* Records the end of an attempt in one transaction: the attempt row, the
 * task's new state (done / failed / queued with backoff / dead), and the
 * recorder's steps appended to the audit chain. */
typedef struct drudge_finish {
    int64_t task_id;
    int attempt; /* 1-based attempt number */
    const char *worker;
    int64_t started_us;
    const drudge_result *res;
    drudge_rec *rec; /* steps to append; may be NULL */
    int no_retry;    /* a foreground `drudge run`: a system error ends the task dead */
} drudge_finish;
drudge_code drudge_queue_finish(sqlite3 *db, const drudge_finish *f,
                                const char **new_state /* OUT */, drudge_err *err);

#endif

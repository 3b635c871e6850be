/*
 * queue.h: the durable task queue. All queue SQL lives in runner/queue/queue.c
 * behind these functions (a PostgreSQL backend is planned).
 *
 * Task life: queued -> running -> done | failed | dead | cancelled, and
 * running -> queued on a retry. Times are µs since the epoch, UTC. Functions
 * that depend on the time take it as a `now` argument (the clock is the
 * caller's, so tests can drive it).
 *
 * Delivery is at-least-once: a worker that dies after acting but before its
 * outcome commits leaves a task that runs again.
 */
#ifndef DRUDGE_QUEUE_H
#define DRUDGE_QUEUE_H

#include <sqlite3.h>
#include <stdint.h>
#include "drudge/error.h"
#include "drudge/host.h"

/* What to enqueue. NULL/0 fields take defaults. */
typedef struct drudge_task_spec {
    const char *script;      /* script name (from the script table) */
    const char *script_path; /* where to load it from (absolute) */
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

/* Enqueues one task in its own transaction. A task with the same (script,
 * key) already present is not duplicated: *duplicate is set to 1 and *id to
 * the existing task. */
drudge_code drudge_queue_enqueue(sqlite3 *db, const drudge_task_spec *spec, int64_t *id /* OUT */,
                                 int *duplicate /* OUT */, drudge_err *err);

/* Bulk enqueue: one prepared statement reused for every row. The caller owns
 * the transaction (drudge_db_begin/commit) so a whole load is atomic. */
typedef struct drudge_enqueuer drudge_enqueuer;
drudge_enqueuer *drudge_enqueuer_new(sqlite3 *db, drudge_err *err);
/* Inserts spec (now = created_at and the default run_at); a duplicate key
 * sets *duplicate and inserts nothing. id may be NULL. */
drudge_code drudge_enqueuer_add(drudge_enqueuer *e, const drudge_task_spec *spec, int64_t now,
                                int64_t *id /* OUT */, int *duplicate /* OUT */, drudge_err *err);
/* Bulk rows, batched into multi-row INSERTs: push copies spec's key and
 * input; its other fields (and their strings) must stay valid until the
 * next flush. flush writes what is pending (call it before committing);
 * counts says how many pushed rows were added and how many were duplicates,
 * as far as flushed. */
drudge_code drudge_enqueuer_push(drudge_enqueuer *e, const drudge_task_spec *spec, int64_t now,
                                 drudge_err *err);
drudge_code drudge_enqueuer_flush(drudge_enqueuer *e, drudge_err *err);
void drudge_enqueuer_counts(const drudge_enqueuer *e, int64_t *added /* OUT */,
                            int64_t *duplicates /* OUT */);
void drudge_enqueuer_free(drudge_enqueuer *e);

/* What a script was last enqueued with, looked up by name: for
 * `drudge enqueue NAME` and queue.enqueue("NAME", ...) when NAME is not a file.
 * Strings are malloc'd into *spec (free with drudge_task_spec_clear). */
drudge_code drudge_queue_known_script(sqlite3 *db, const char *name,
                                      drudge_task_spec *spec /* OUT */, drudge_err *err);
void drudge_task_spec_clear(drudge_task_spec *spec);

/* For `drudge run`: records a task that runs now in the foreground, already
 * leased to worker. */
drudge_code drudge_queue_start_adhoc(sqlite3 *db, const drudge_task_spec *spec, const char *worker,
                                     int64_t *id /* OUT */, drudge_err *err);

/* Records the end of a `drudge run` attempt in one transaction: the attempt
 * row, the task's new state and the recorder's steps on the audit chain. */
typedef struct drudge_finish {
    int64_t task_id;
    int attempt; /* 1-based attempt number */
    const char *worker;
    int64_t started_us;
    const drudge_result *res;
    drudge_rec *rec; /* steps to append; may be NULL */
    int no_retry;    /* a foreground `drudge run`: a system error ends the task dead */
    int cancelled;   /* `drudge cancel` stopped it: recorded as cancelled */
} drudge_finish;
drudge_code drudge_queue_finish(sqlite3 *db, const drudge_finish *f,
                                const char **new_state /* OUT */, drudge_err *err);

/* ---- the worker side: one drudge_queue per writer connection ---- */

typedef struct drudge_queue_opts {
    const char *owner;          /* lease owner: unique per process ("host:pid.rand") */
    int64_t lease_us;           /* lease length; 0 = 60 s */
    int64_t backoff_base_us;    /* first retry delay; 0 = 5 s; < 0 = no delay */
    int64_t backoff_cap_us;     /* longest delay; 0 = 1 h */
    const char *const *scripts; /* claim only these script names (NULL-terminated), or NULL */
    unsigned seed;              /* jitter seed; 0 = from the clock */
} drudge_queue_opts;

typedef struct drudge_queue drudge_queue;

/* Prepares the statements on db (which the queue does not own), registers
 * drudge_in_window, and copies opts. Free before closing db. */
drudge_queue *drudge_queue_new(sqlite3 *db, const drudge_queue_opts *opts, drudge_err *err);
void drudge_queue_free(drudge_queue *q);
sqlite3 *drudge_queue_db(drudge_queue *q);

/* A claimed task; strings malloc'd, freed by drudge_claimed_free. */
typedef struct drudge_claimed {
    int64_t id;
    char *script, *script_path, *key, *input;
    int attempt; /* the attempt this claim is: attempt rows so far + 1 */
    int spent;   /* attempts counted against max_attempts so far */
    int max_attempts;
    int priority;
    int64_t run_at;
} drudge_claimed;
void drudge_claimed_free(drudge_claimed *t);

/* Every function below runs inside the caller's write transaction
 * (drudge_db_begin on drudge_queue_db(q)), so one commit can carry many. */

/* Call right after beginning each write transaction that will record
 * outcomes (lets the audit writer carry the chain head within it, and
 * gathers the turn's done outcomes), and end_turn just before committing
 * it (writes the done counts). Outcomes recorded outside a turn are counted
 * at once. */
void drudge_queue_begin_turn(drudge_queue *q);
drudge_code drudge_queue_end_turn(drudge_queue *q, drudge_err *err);

/* Claims up to max due tasks, highest priority first, for the owner, whose
 * lease it extends to now + lease. Skips paused scripts, tasks outside their
 * run window and scripts not in opts->scripts. *out is a malloc'd array of
 * *n tasks in claim order (caller frees each with drudge_claimed_free, then
 * the array). */
drudge_code drudge_queue_claim(drudge_queue *q, int64_t now, int max,
                               drudge_claimed **out /* OUT */, size_t *n /* OUT */,
                               drudge_err *err);

/* The outcome of an attempt of a claimed task. */
typedef struct drudge_completion {
    const drudge_claimed *task;
    const char *worker; /* who ran it (owner/thread) */
    int64_t started_us;
    const drudge_result *res; /* NULL with cancelled: never started */
    int cancelled;            /* an operator cancelled it while it ran or waited */
    int no_retry;             /* a system error ends the task dead */
    drudge_rec *rec;          /* steps to append to the audit chain; may be NULL */
} drudge_completion;

/* Records an attempt's outcome: the attempt row, the task's new state (done,
 * failed, queued with backoff, dead, cancelled) and the steps, guarded by the
 * lease: if the task is no longer leased to this owner for this attempt (the
 * lease expired and was reaped), nothing is written and *new_state is NULL. */
drudge_code drudge_queue_complete(drudge_queue *q, const drudge_completion *c, int64_t now,
                                  const char **new_state /* OUT */, drudge_err *err);

/* Appends steps of an attempt still running (drudge_rec_take_closed) to
 * the audit chain, in the caller's transaction. */
drudge_code drudge_queue_append_steps(drudge_queue *q, drudge_rec *rec, drudge_err *err);

/* Puts claimed tasks that never started back to queued (no attempt spent). */
drudge_code drudge_queue_release(drudge_queue *q, const drudge_claimed *t, drudge_err *err);

/* Extends the owner's lease (one per process, covering every task it holds)
 * to now + lease. *ncancel gets the number of ids written to cancel[] (at
 * most max): tasks of ours an operator asked to cancel. */
drudge_code drudge_queue_renew(drudge_queue *q, int64_t now, int64_t *cancel, size_t max,
                               size_t *ncancel /* OUT */, drudge_err *err);
/* Only the cancel requests, as above (cheaper: run it more often than renewals). */
drudge_code drudge_queue_cancel_requests(drudge_queue *q, int64_t *cancel, size_t max,
                                         size_t *ncancel /* OUT */, drudge_err *err);

/* Requeues tasks whose lease expired before now (their worker died or
 * stalled), recording each lost attempt (outcome "lost", counted against
 * max_attempts) and its audit step, then drops the expired leases. *n gets
 * how many tasks. */
drudge_code drudge_queue_reap(drudge_queue *q, int64_t now, int *n /* OUT */, drudge_err *err);

/* Gives up the owner's lease when it holds no task any more (a process that
 * drained); a lease still holding tasks is left to expire and be reaped. */
drudge_code drudge_queue_drop_lease(drudge_queue *q, drudge_err *err);

/* Whether anything is left for this queue: due tasks it could claim, or
 * running tasks (anyone's, as an expired lease comes back). */
drudge_code drudge_queue_idle(drudge_queue *q, int64_t now, int *idle /* OUT */, drudge_err *err);

/* The retry delay after `spent` counted attempts: min(cap, base * 2^(spent-1)),
 * jittered to between half and all of it. */
int64_t drudge_queue_backoff(drudge_queue *q, int spent);

/* The database drudge.queue.enqueue uses in this Lua state (connectors/queue/lqueue.c);
 * without it, $DRUDGE_DB or ./drudge.db. */
void drudge_lqueue_set_db(lua_State *L, const char *path);

/* ---- operations (the CLI) ---- */

/* One task as listed and shown. Strings malloc'd (drudge_task_row_clear). */
typedef struct drudge_task_row {
    int64_t id;
    char *script, *script_path, *key, *state, *input, *output, *error, *error_kind;
    char *lease_owner, *schedule, *resolved_by, *resolved_note;
    int priority, attempts, spent, max_attempts, cancel_requested;
    double manual_minutes, exception_minutes;
    int64_t run_at, created_at, finished_at, lease_until, resolved_at;
} drudge_task_row;
void drudge_task_row_clear(drudge_task_row *t);

typedef struct drudge_attempt_row {
    int n;
    char *worker, *outcome, *error, *error_kind;
    int64_t started_at, ended_at;
} drudge_attempt_row;

/* Lists tasks, newest first; state/script NULL for any; limit <= 0 = 100. */
drudge_code drudge_queue_list(sqlite3 *db, const char *state, const char *script, int limit,
                              drudge_task_row **rows /* OUT */, size_t *n /* OUT */,
                              drudge_err *err);
/* One task and its attempts (*attempts malloc'd; clear each with
 * drudge_attempt_rows_free). DRUDGE_ENOTFOUND if there is no such task. */
drudge_code drudge_queue_get(sqlite3 *db, int64_t id, drudge_task_row *task /* OUT */,
                             drudge_attempt_row **attempts /* OUT */, size_t *n /* OUT */,
                             drudge_err *err);
void drudge_task_rows_free(drudge_task_row *rows, size_t n);
void drudge_attempt_rows_free(drudge_attempt_row *rows, size_t n);

#define DRUDGE_NSTATES 6
extern const char
    *const drudge_task_states[DRUDGE_NSTATES]; /* queued running done failed dead cancelled */

typedef struct drudge_script_counts {
    char *script;
    int64_t count[DRUDGE_NSTATES]; /* by drudge_task_states index */
    int64_t unresolved;            /* failed or dead, not resolved */
    int64_t oldest_queued_us;      /* created_at of the oldest queued, or 0 */
    int64_t done_last_minute;      /* attempts ended in the last 60 s */
    int paused;
} drudge_script_counts;

typedef struct drudge_queue_stats {
    drudge_script_counts *scripts; /* sorted by name */
    size_t nscripts;
    drudge_script_counts total; /* script = NULL */
} drudge_queue_stats;
drudge_code drudge_queue_status(sqlite3 *db, int64_t now, drudge_queue_stats *out /* OUT */,
                                drudge_err *err);
void drudge_queue_stats_clear(drudge_queue_stats *s);

/* Requeues one failed or dead task (attempts left again: spent reset). */
drudge_code drudge_queue_retry(sqlite3 *db, int64_t id, int64_t now, drudge_err *err);
/* Requeues every task in state ("failed" or "dead"), optionally of one script. */
drudge_code drudge_queue_retry_all(sqlite3 *db, const char *state, const char *script, int64_t now,
                                   int64_t *count /* OUT */, drudge_err *err);
/* Cancels a queued task at once; a running one at its worker's next lease
 * renewal (*deferred = 1). */
drudge_code drudge_queue_cancel(sqlite3 *db, int64_t id, int64_t now, int *deferred /* OUT */,
                                drudge_err *err);
/* Pausing a script stops claims of its tasks (queued ones wait). */
drudge_code drudge_queue_pause(sqlite3 *db, const char *script, const char *who, int64_t now,
                               int *changed /* OUT */, drudge_err *err);
drudge_code drudge_queue_resume(sqlite3 *db, const char *script, int *changed /* OUT */,
                                drudge_err *err);
/* Marks a failed or dead task as handled by hand, by who, with a note. */
drudge_code drudge_queue_resolve(sqlite3 *db, int64_t id, const char *who, const char *note,
                                 int64_t now, drudge_err *err);

#endif

/*
 * queue.h: the life of a task (runner/queue/queue.c), over the store.
 *
 * queued -> running -> done | failed | dead | cancelled, and running ->
 * queued on a retry. The queue decides what an attempt's outcome means for
 * its task (a retry with backoff, dead after max_attempts, a lost attempt
 * when a worker's lease expired) and explains why an operator's action did
 * not apply; the store (runner/store/store.h) reads and writes the rows.
 * Times are µs since the epoch, UTC, passed in as `now`.
 *
 * Delivery is at-least-once: a worker that dies after acting but before its
 * outcome commits leaves a task that runs again.
 */
#ifndef DRUDGE_QUEUE_H
#define DRUDGE_QUEUE_H

#include <stdint.h>
#include "drudge/error.h"
#include "drudge/host.h"
#include "runner/store/store.h"

/* Enqueues one task in its own transaction. A task with the same (script,
 * key) already present is not duplicated: *duplicate is set to 1 and *id to
 * the existing task. */
drudge_code drudge_queue_enqueue(drudge_store *s, const drudge_task_spec *spec,
                                 int64_t *id /* OUT */, int *duplicate /* OUT */, drudge_err *err);

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

/* Copies opts (and the scripts list); s stays the caller's. */
drudge_queue *drudge_queue_new(drudge_store *s, const drudge_queue_opts *opts);
void drudge_queue_free(drudge_queue *q);
drudge_store *drudge_queue_store(drudge_queue *q);

/* Every function below runs inside the caller's write transaction
 * (drudge_store_begin on drudge_queue_store(q)), so one commit can carry
 * many. */

/* Claims up to max due tasks for the owner, whose lease it extends to
 * now + lease (see drudge_store_claim). *out: drudge_claimed_free_all. */
drudge_code drudge_queue_claim(drudge_queue *q, int64_t now, int max,
                               drudge_claimed **out /* OUT */, size_t *n /* OUT */,
                               drudge_err *err);

/* Claims one task to probe target, whose circuit breaker is open (the
 * caller took the probe: drudge_store_breaker PROBE): of a script that
 * uses target, not held by another open breaker. *n is 0 or 1. */
drudge_code drudge_queue_claim_probe(drudge_queue *q, int64_t now, const char *target,
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
} drudge_completion;

/* Records an attempt's outcome: the task's new state (done, failed, queued
 * with backoff, dead, cancelled) and its attempt row, guarded by the lease:
 * if the task is no longer leased to this owner (the lease expired and was
 * reaped), nothing is written and *new_state is NULL. The caller appends
 * the attempt's steps to the audit chain in the same transaction. */
drudge_code drudge_queue_complete(drudge_queue *q, const drudge_completion *c, int64_t now,
                                  const char **new_state /* OUT */, drudge_err *err);
/* The same for n completions of one turn at once (new_state: n slots), in
 * as few statements as the backend can: a writer's whole batch. */
drudge_code drudge_queue_complete_many(drudge_queue *q, const drudge_completion *c, size_t n,
                                       int64_t now, const char **new_state /* OUT */,
                                       drudge_err *err);

/* Puts a claimed task that never started back (no attempt spent). */
drudge_code drudge_queue_release(drudge_queue *q, const drudge_claimed *t, drudge_err *err);

/* Extends the owner's lease to now + lease. *ncancel gets the number of ids
 * written to cancel[] (at most max): tasks of ours an operator asked to
 * cancel. */
drudge_code drudge_queue_renew(drudge_queue *q, int64_t now, int64_t *cancel, size_t max,
                               size_t *ncancel /* OUT */, drudge_err *err);
/* Only the cancel requests, as above (cheaper: run it more often than renewals). */
drudge_code drudge_queue_cancel_requests(drudge_queue *q, int64_t *cancel, size_t max,
                                         size_t *ncancel /* OUT */, drudge_err *err);

/* What a lost attempt's error says. */
#define DRUDGE_LOST_ERROR                                                                          \
    "lost: the worker's lease expired (it died or stalled) before the attempt's outcome was "      \
    "recorded"
/* Requeues tasks whose lease expired before now (their worker died or
 * stalled; a `drudge run` of this machine whose process is gone counts as
 * expired), then drops the expired leases. An attempt marked started
 * (drudge_store_mark_started) is recorded as lost (outcome "lost", counted
 * against max_attempts); a claim that had not started is given back
 * unspent, its task made suspect (*unstarted counts them). *lost gets the
 * tasks whose lost attempt was recorded, for their audit steps
 * (drudge_expired_free_all). */
drudge_code drudge_queue_reap(drudge_queue *q, int64_t now, drudge_expired **lost /* OUT */,
                              size_t *nlost /* OUT */, size_t *unstarted /* OUT */,
                              drudge_err *err);
/* Marks the owner's running tasks ids[0..n) as started (see above). */
drudge_code drudge_queue_mark_started(drudge_queue *q, const int64_t *ids, size_t n,
                                      drudge_err *err);

/* The state a lost attempt leaves its task in: queued, or dead when it
 * spent the last attempt. */
const char *drudge_queue_lost_state(const drudge_expired *x);

/* Gives up the owner's lease when it holds no task any more (a process that
 * drained); a lease still holding tasks is left to expire and be reaped. */
drudge_code drudge_queue_drop_lease(drudge_queue *q, drudge_err *err);

/* Whether anything is left for this queue: due tasks it could claim, or
 * running tasks (anyone's, as an expired lease comes back). */
drudge_code drudge_queue_idle(drudge_queue *q, int64_t now, int *idle /* OUT */, drudge_err *err);

/* The retry delay after `spent` counted attempts: min(cap, base * 2^(spent-1)),
 * jittered to between half and all of it. */
int64_t drudge_queue_backoff(drudge_queue *q, int spent);

/* For `drudge run`: records a task that runs now in the foreground, leased
 * to worker for a day (never reaped while a person watches it; a run that
 * died is taken back by a worker on the same machine). Own transaction. */
drudge_code drudge_queue_start_adhoc(drudge_store *s, const drudge_task_spec *spec,
                                     const char *worker, int64_t *id /* OUT */, drudge_err *err);

/* ---- operations (the CLI), each in its own transaction ----
 *
 * Each goes on the audit chain as a step of kind "operator" naming who
 * (the OS user), when and the arguments, in the transaction that makes the
 * change (logs/audit/operator.c); one that changes nothing is not recorded. */

/* Requeues one failed, dead or cancelled task (attempts left again: spent
 * reset); an error says why not otherwise. */
drudge_code drudge_queue_retry(drudge_store *s, int64_t id, const char *who, int64_t now,
                               drudge_err *err);
/* Requeues every task in state ("failed", "dead" or "cancelled"), of one
 * script or all (one operator step per task). */
drudge_code drudge_queue_retry_all(drudge_store *s, const char *state, const char *script,
                                   const char *who, int64_t now, int64_t *count /* OUT */,
                                   drudge_err *err);
/* Cancels a queued task at once; a running one at its worker's next lease
 * renewal (*deferred = 1). */
drudge_code drudge_queue_cancel(drudge_store *s, int64_t id, const char *who, int64_t now,
                                int *deferred /* OUT */, drudge_err *err);
/* Pausing a script stops claims of its tasks (queued ones wait). */
drudge_code drudge_queue_pause(drudge_store *s, const char *script, const char *who, int64_t now,
                               int *changed /* OUT */, drudge_err *err);
drudge_code drudge_queue_resume(drudge_store *s, const char *script, const char *who, int64_t now,
                                int *changed /* OUT */, drudge_err *err);
/* Marks a failed or dead task as handled by hand, by who, with a note. */
drudge_code drudge_queue_resolve(drudge_store *s, int64_t id, const char *who, const char *note,
                                 int64_t now, drudge_err *err);

#endif

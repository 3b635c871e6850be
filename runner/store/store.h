/*
 * store.h: every read and write of the drudge database goes through here.
 *
 * A drudge_store is one connection to one database: SQLite (a file path, the
 * embedded default) or, for a fleet, PostgreSQL (a postgresql:// URL). The
 * handle is opaque; each backend fills in the same table of operations
 * (struct drudge_store_methods in storeint.h, as SQLite's VFS does), and
 * these functions dispatch to it. No SQL and no engine type is seen outside
 * runner/store/.
 *
 * The operations are shaped by what their callers need: enqueue a batch,
 * claim a batch, record an attempt's outcome, reap, status statistics, a
 * task and its attempts, a chain walk, report aggregates, schedule ticks,
 * pruning. Rows are the structs below; strings in them are malloc'd and
 * freed by the matching _clear/_free function, unless a comment says they
 * are only valid during a callback.
 *
 * Transactions are the caller's: drudge_store_begin, then any number of
 * operations, then commit (or rollback). Operations that are documented as
 * "own transaction" begin and commit themselves and must be called outside
 * one. A callback that receives rows may call other operations on the same
 * store. Times are µs since the epoch, UTC; functions that depend on the time
 * take it as an argument so tests can drive the clock.
 *
 * Errors: every failing operation fills err with what was being done and the
 * database's name (drudge_store_name), and returns DRUDGE_EDB, DRUDGE_EBUSY
 * (locked past the busy timeout) or a code of the operation's own
 * (DRUDGE_ENOTFOUND, DRUDGE_ESTATE, ...).
 */
#ifndef DRUDGE_STORE_H
#define DRUDGE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "drudge/error.h"
#include "drudge/record.h"

typedef struct drudge_store drudge_store;

/* ---- opening ---- */

enum {
    DRUDGE_STORE_READONLY = 1, /* reading only: no create, no migration */
    DRUDGE_STORE_NOCREATE = 2, /* fail if the database does not exist */
    DRUDGE_STORE_WRITER = 4,   /* the connection of a `work` writer: bigger caches */
    DRUDGE_STORE_BULK = 8,     /* a bulk load: bigger caches for one big transaction */
};

typedef enum drudge_durability {
    DRUDGE_DURABILITY_FULL = 0, /* every commit is on disk before it returns */
    DRUDGE_DURABILITY_NORMAL,   /* a power cut may lose the last commits (SQLite WAL NORMAL) */
    DRUDGE_DURABILITY_AT_SYNC,  /* on disk by the next drudge_store_sync (a command's last
                                   commit): SQLite commits unsynced and the sync's fold puts
                                   them on disk; PostgreSQL's commits stay as they are */
} drudge_durability;

/* Opens (creating 0600 if needed, unless READONLY or NOCREATE) and migrates
 * the database named by where: a postgresql:// or postgres:// URL, else a
 * file path. *out is closed with drudge_store_close. Errors name the
 * database: not a database, read-only, locked, newer schema. */
drudge_code drudge_store_open(const char *where, int flags, drudge_store **out /* OUT */,
                              drudge_err *err);
void drudge_store_close(drudge_store *s);
/* The database as people know it: the file path, or host/dbname. */
const char *drudge_store_name(const drudge_store *s);
/* --db, $DRUDGE_DB, or "./drudge.db". */
const char *drudge_store_default(void);
/* The engines this drudge can use, with their library versions, for
 * `drudge --version` ("SQLite 3.40.1"). */
const char *drudge_store_engines(void);
drudge_code drudge_store_set_durability(drudge_store *s, drudge_durability d, drudge_err *err);
/* After a big write: lets the next command open the database without
 * replaying what this one wrote (SQLite: checkpoint and truncate the WAL,
 * without waiting). Best effort. */
void drudge_store_trim(drudge_store *s);
/* Makes every commit of this connection durable before it returns (those
 * made under DRUDGE_DURABILITY_NORMAL or AT_SYNC too) and sets FULL
 * durability again. For a short command whose last commit need only be on
 * disk before it reports it: on SQLite, the checkpoint that folds the WAL
 * into the main file syncs the WAL first, so a last commit made AT_SYNC
 * and then this cost one fsync fewer than a FULL commit and the close's
 * fold. On PostgreSQL, where a synchronous commit costs no more, AT_SYNC
 * and this cost no round trip. */
drudge_code drudge_store_sync(drudge_store *s, drudge_err *err);

/* ---- transactions ---- */

typedef enum drudge_tx {
    DRUDGE_TX_WRITE = 0, /* a write transaction, waiting for other writers up to the busy timeout */
    DRUDGE_TX_TRY,       /* a write transaction now, or DRUDGE_EBUSY at once */
    DRUDGE_TX_READ,      /* a read transaction: one consistent snapshot */
} drudge_tx;
drudge_code drudge_store_begin(drudge_store *s, drudge_tx how, drudge_err *err);
drudge_code drudge_store_commit(drudge_store *s, drudge_err *err);
/* Rolls back the open transaction, if any. */
void drudge_store_rollback(drudge_store *s);

/* ---- tasks: what is enqueued ---- */

/* What to enqueue. NULL/0 fields take defaults. */
typedef struct drudge_task_spec {
    const char *script;      /* script name (from the scripts table) */
    const char *script_path; /* where to load it from (absolute) */
    const char *key;         /* unique per script, or NULL */
    const char *input;       /* JSON text, or NULL for null */
    int priority;            /* higher runs first */
    int64_t run_at;          /* not before; 0 = now */
    int max_attempts;        /* from the script; 0 = 3 */
    double manual_minutes;   /* value in force for this task */
    double exception_minutes;
    const char *schedule;      /* schedule that created it, or NULL */
    const char *window;        /* the script's run window, or NULL */
    const char *script_sha256; /* the script version (drudge_store_put_script_version), or NULL */
    int64_t deadline;          /* µs: to be done by then (claims prefer near ones); 0 = none */
    /* The script's default deadline rule ("2 working days",
     * runner/calendar/deadline.h), filled from the script file; not stored. */
    const char *deadline_rule;
} drudge_task_spec;
/* Frees the strings of a spec filled by drudge_store_known_script. */
void drudge_task_spec_clear(drudge_task_spec *spec);

/* Enqueues n tasks with created_at = now, in the caller's write transaction.
 * A task whose (script, key) is already present is not added: dup[i] = 1
 * and id[i] is the existing task. id and dup may be NULL (a bulk load wants
 * only the counts, *added and *duplicates, either of which may be NULL).
 * The scripts table records what each script was last enqueued with. */
drudge_code drudge_store_enqueue(drudge_store *s, const drudge_task_spec *specs, size_t n,
                                 int64_t now, int64_t *id /* OUT, n or NULL */,
                                 int *dup /* OUT, n or NULL */, int64_t *added /* OUT */,
                                 int64_t *duplicates /* OUT */, drudge_err *err);
/* What a script was last enqueued with, by name (`drudge enqueue NAME`).
 * Strings malloc'd into *spec. DRUDGE_ENOTFOUND if none. */
drudge_code drudge_store_known_script(drudge_store *s, const char *name,
                                      drudge_task_spec *spec /* OUT */, drudge_err *err);

/* ---- tasks: the worker side ---- */

/* A claimed task; strings malloc'd, freed by drudge_claimed_free. */
typedef struct drudge_claimed {
    int64_t id;
    char *script, *script_path, *key, *input;
    int attempt; /* the attempt this claim is: attempt rows so far + 1 */
    int spent;   /* attempts counted against max_attempts so far */
    int max_attempts;
    int priority;
    int64_t run_at;
    int suspect; /* a crash's reaper gave it back unstarted before: counts as started at once */
} drudge_claimed;
void drudge_claimed_free(drudge_claimed *t);
/* Frees n claimed tasks and the array. */
void drudge_claimed_free_all(drudge_claimed *v, size_t n);

typedef struct drudge_claim_req {
    const char *owner;          /* the lease owner: unique per process */
    int64_t now;                /* due at or before now */
    int64_t lease_until;        /* the owner's lease is extended to this */
    int max;                    /* at most this many */
    const char *const *scripts; /* only these scripts (NULL-terminated), or NULL */
    const char *probe;          /* a breaker's probe: only tasks of scripts using this open target,
                                 * whose breaker this claim ignores (NULL: none) */
} drudge_claim_req;
/* Claims up to req->max due tasks, highest priority first; within a
 * priority, tasks with a deadline first, nearest deadline first, then the
 * others by oldest run_at (past the 64th priority level, by run_at alone): not paused, not held by
 * an open breaker (drudge_store_breaker), inside their run window, not running already. Each is
 * marked running under req->owner, whose lease is extended. *out is a malloc'd array of *n
 * (drudge_claimed_free_all). Write transaction. */
drudge_code drudge_store_claim(drudge_store *s, const drudge_claim_req *req,
                               drudge_claimed **out /* OUT */, size_t *n /* OUT */,
                               drudge_err *err);
/* For `drudge run`: inserts a task that runs now, already running under
 * owner with a lease until lease_until. DRUDGE_ESTATE if spec->key is taken.
 * Own transaction. */
drudge_code drudge_store_start_adhoc(drudge_store *s, const drudge_task_spec *spec,
                                     const char *owner, int64_t now, int64_t lease_until,
                                     int64_t *id /* OUT */, drudge_err *err);

/* The end of an attempt, as the queue decided it (runner/queue/queue.c). */
typedef struct drudge_attempt_end {
    int64_t task_id;
    const char *script;    /* the task's script, or NULL (then looked up if it is done) */
    int attempt;           /* 1-based: the task must have attempt - 1 attempts so far */
    const char *new_state; /* queued (a retry), done, failed, dead, cancelled */
    int spend;             /* 1 if the attempt counts against max_attempts */
    const char *output;    /* JSON (done), or NULL */
    const char *error, *error_kind;
    int64_t run_at;      /* when a requeued task is due again; 0 = unchanged */
    int64_t finished_at; /* when it left for good; 0 for a requeue */
    int recorded;       /* 0: the attempt never ran (cancelled before it started): no attempt row */
    const char *worker; /* who ran it */
    const char
        *outcome; /* the attempt's outcome: done failed error timeout memory retry lost cancelled */
    int64_t started_at, ended_at;
    int64_t now; /* when the outcome is recorded */
    /* A configuration error: pause the task's script (if not paused yet) with
     * this reason, in the same transaction; NULL: nothing to pause. */
    const char *pause_reason;
} drudge_attempt_end;
/* Records e if owner still holds the task (its `running` row): the task's
 * new state, its attempt row, and its done count. *held = 0 (and nothing
 * written) if the lease was lost and the task is someone else's now, or
 * the task was changed by hand meanwhile. Write transaction. */
drudge_code drudge_store_finish(drudge_store *s, const char *owner, const drudge_attempt_end *e,
                                int *held /* OUT */, drudge_err *err);
/* The same for n attempts of one owner (held: n slots), each as
 * drudge_store_finish would; a task appears at most once. */
drudge_code drudge_store_finish_many(drudge_store *s, const char *owner,
                                     const drudge_attempt_end *e, size_t n, int *held /* OUT */,
                                     drudge_err *err);
/* Gives back a claimed task that never started (no attempt spent). */
drudge_code drudge_store_release(drudge_store *s, const char *owner, int64_t task_id,
                                 drudge_err *err);
/* Marks owner's running tasks ids[0..n) as started: from now on the reaper
 * counts a lost attempt for them if owner's lease expires. A claim is
 * unstarted until then (unless the task is suspect), so that the claims a
 * process held ahead, and never ran, cost no attempt when it dies. */
drudge_code drudge_store_mark_started(drudge_store *s, const char *owner, const int64_t *ids,
                                      size_t n, drudge_err *err);
/* For the reaper: gives back task_id, which owner's expired lease held but
 * had not marked started: no attempt is spent, and the task becomes suspect
 * (its next claim is marked started at once, so that a task that kills its
 * worker before the mark still stops at max_attempts). *held = 0 if owner
 * no longer held it. */
drudge_code drudge_store_unclaim(drudge_store *s, const char *owner, int64_t task_id,
                                 int *held /* OUT */, drudge_err *err);
/* Extends owner's lease (one per process, covering all it holds). */
drudge_code drudge_store_renew(drudge_store *s, const char *owner, int64_t until, drudge_err *err);
/* Ids of owner's running tasks an operator asked to cancel (at most max
 * into ids). */
drudge_code drudge_store_cancel_requests(drudge_store *s, const char *owner, int64_t *ids,
                                         size_t max, size_t *n /* OUT */, drudge_err *err);
/* Whether an operator asked to cancel running task id (a `drudge run`). */
drudge_code drudge_store_cancel_requested(drudge_store *s, int64_t task_id,
                                          int *requested /* OUT */, drudge_err *err);

/* A running task whose owner's lease expired. */
typedef struct drudge_expired {
    drudge_claimed t; /* id, script, key, input, attempt, spent, max_attempts */
    char *owner;
    int64_t claimed_at;
    int started; /* marked started (drudge_store_mark_started): a lost attempt */
} drudge_expired;
void drudge_expired_free_all(drudge_expired *v, size_t n);
/* Running tasks whose owner holds no lease valid at now. */
drudge_code drudge_store_expired(drudge_store *s, int64_t now, drudge_expired **out /* OUT */,
                                 size_t *n /* OUT */, drudge_err *err);
/* Drops leases that expired before now and hold no task any more. */
drudge_code drudge_store_expire_leases(drudge_store *s, int64_t now, drudge_err *err);
/* Lease owners starting with prefix whose lease is valid at now, for
 * fn(ud, owner) (the `drudge run`s of this machine); then end_lease sets
 * one owner's lease to end at until. */
drudge_code drudge_store_leases_like(drudge_store *s, const char *prefix, int64_t now,
                                     void (*fn)(void *ud, const char *owner), void *ud,
                                     drudge_err *err);
drudge_code drudge_store_end_lease(drudge_store *s, const char *owner, int64_t until,
                                   drudge_err *err);
/* Gives up owner's lease if it holds no task any more. */
drudge_code drudge_store_drop_lease(drudge_store *s, const char *owner, drudge_err *err);
/* Whether nothing is left for these scripts (NULL: all): no task running
 * (anyone's: an expired lease comes back) and none claimable at now. */
drudge_code drudge_store_idle(drudge_store *s, int64_t now, const char *const *scripts,
                              int *idle /* OUT */, drudge_err *err);

/* ---- tasks: operations ---- */

/* One task as listed and shown. Strings malloc'd (drudge_task_row_clear). */
typedef struct drudge_task_row {
    int64_t id;
    char *script, *script_path, *key, *state, *input, *output, *error, *error_kind;
    char *lease_owner, *schedule, *resolved_by, *resolved_note;
    char *cancelled_by;  /* who cancelled it (or asked to, while it ran), or NULL */
    char *script_sha256; /* the script version it was enqueued with, or NULL */
    char *outcome;       /* the final attempt's outcome kept in the row, or NULL */
    char *window;        /* the run window it was enqueued with, or NULL */
    int priority, attempts, spent, max_attempts, cancel_requested;
    double manual_minutes, exception_minutes;
    int64_t run_at, created_at, finished_at, lease_until, resolved_at;
    int64_t deadline; /* 0: none */
} drudge_task_row;
void drudge_task_row_clear(drudge_task_row *t);
void drudge_task_rows_free(drudge_task_row *rows, size_t n);

typedef struct drudge_attempt_row {
    int n;
    char *worker, *outcome, *error, *error_kind;
    int64_t started_at, ended_at;
} drudge_attempt_row;
void drudge_attempt_rows_free(drudge_attempt_row *rows, size_t n);

#define DRUDGE_NSTATES 6
extern const char
    *const drudge_task_states[DRUDGE_NSTATES]; /* queued running done failed dead cancelled */

/* A deadline is at risk within this much of now (µs: an hour;
 * logs/report/deadline.h). */
#define DRUDGE_DEADLINE_HORIZON (3600LL * 1000000)

typedef struct drudge_task_filter {
    const char *state;  /* NULL for any */
    const char *script; /* NULL for any */
    int limit;          /* <= 0: 100 */
    int oldest_first;   /* by id ascending; else newest first */
    /* Narrowing (NULL or 0: any), all of them at once: */
    const char *key;                        /* exactly this key */
    const char *key_prefix;                 /* keys starting with it (byte for byte) */
    const char *error;                      /* error text containing it (ASCII case ignored) */
    int64_t created_since, created_until;   /* created_at in [since, until) */
    int64_t finished_since, finished_until; /* finished_at in [since, until) */
    int64_t id_min, id_max;                 /* id in [min, max] */
    /* Tasks with a deadline that is "met", "missed", "at_risk" or "pending"
     * at deadline_now (logs/report/deadline.h's rules). */
    const char *deadline_status;
    int64_t deadline_now;
    /* Keyset paging (the control room's pages): a page starts where the one
     * before ended, as fast at the millionth task as at the first. 0: none.
     * id > after_id oldest first, id < after_id newest first. */
    int64_t after_id;
} drudge_task_filter;
drudge_code drudge_store_list(drudge_store *s, const drudge_task_filter *f,
                              drudge_task_row **rows /* OUT */, size_t *n /* OUT */,
                              drudge_err *err);
/* One task and its attempts in order (attempts may be NULL when not
 * wanted). DRUDGE_ENOTFOUND if there is no such task. */
drudge_code drudge_store_get(drudge_store *s, int64_t id, drudge_task_row *task /* OUT */,
                             drudge_attempt_row **attempts /* OUT */, size_t *n /* OUT */,
                             drudge_err *err);
/* The task's effective state into state[16] ("" and DRUDGE_ENOTFOUND if none). */
drudge_code drudge_store_task_state(drudge_store *s, int64_t id, char state[16], drudge_err *err);

typedef struct drudge_script_counts {
    char *script;
    int64_t count[DRUDGE_NSTATES]; /* by drudge_task_states index */
    int64_t unresolved;            /* failed or dead, not resolved */
    int64_t oldest_queued_us;      /* created_at of the oldest queued, or 0 */
    int64_t done_last_minute;      /* attempts ended in the last 60 s */
    int paused;
    char *pause_reason; /* why a worker paused it (a configuration error), or NULL */
} drudge_script_counts;

typedef struct drudge_queue_stats {
    drudge_script_counts *scripts; /* sorted by name */
    size_t nscripts;
    drudge_script_counts total; /* script = NULL */
} drudge_queue_stats;
/* Counts per script and state, quick over millions of tasks. */
drudge_code drudge_store_status(drudge_store *s, int64_t now, drudge_queue_stats *out /* OUT */,
                                drudge_err *err);
void drudge_queue_stats_clear(drudge_queue_stats *s);

/* Operator actions, in the caller's write transaction (the queue appends
 * the operator's step to the audit chain in the same one), or in one of
 * their own outside any; *changed counts the tasks (or scripts) it
 * changed: 0 when nothing matched (the caller says why). */
/* Requeues task id if failed, dead or cancelled (spent reset). */
drudge_code drudge_store_retry(drudge_store *s, int64_t id, int64_t now, int64_t *changed /* OUT */,
                               drudge_err *err);
/* Requeues every task in state (failed, dead, cancelled), of script or any. */
drudge_code drudge_store_retry_all(drudge_store *s, const char *state, const char *script,
                                   int64_t now, int64_t *changed /* OUT */, drudge_err *err);
/* Cancels a queued task not running (*changed = 1), else asks the worker of
 * a running one to cancel it (*deferred = 1); the row's cancelled_by
 * names who, either way. */
drudge_code drudge_store_cancel(drudge_store *s, int64_t id, const char *who, int64_t now,
                                int64_t *changed /* OUT */, int *deferred /* OUT */,
                                drudge_err *err);
drudge_code drudge_store_pause(drudge_store *s, const char *script, const char *who, int64_t now,
                               int64_t *changed /* OUT */, drudge_err *err);
drudge_code drudge_store_resume(drudge_store *s, const char *script, int64_t *changed /* OUT */,
                                drudge_err *err);
/* Marks a failed or dead task as handled by hand. */
drudge_code drudge_store_resolve(drudge_store *s, int64_t id, const char *who, const char *note,
                                 int64_t now, int64_t *changed /* OUT */, drudge_err *err);
/* The earliest run_at of a queued task (0 if none): the demo's progress. */
drudge_code drudge_store_next_due(drudge_store *s, int64_t *run_at /* OUT */, drudge_err *err);

/* ---- why queued tasks wait (runner/queue/waiting.c explains them) ---- */

/* A paused script. Strings valid during the callback only. */
typedef struct drudge_paused_row {
    const char *script, *by; /* by: who paused it (NULL for a worker's pause) */
    const char *reason;      /* a worker's configuration error, or NULL for drudge pause */
    int64_t at;
} drudge_paused_row;
/* Every paused script, by name, for fn (non-zero stops the walk). */
drudge_code drudge_store_paused(drudge_store *s, int (*fn)(void *ud, const drudge_paused_row *p),
                                void *ud, drudge_err *err);

/* Queued tasks not running, grouped by what decides whether they may be
 * claimed now: script, run window, due or not at now, and (for those not
 * due) whether they have run before (a retry's delay) or not (--at). */
typedef struct drudge_waiting_group {
    const char *script, *window; /* valid during the callback; window NULL: none */
    int later;                   /* run_at > now */
    int retried;                 /* later, and attempts > 0: waiting out a retry delay */
    int64_t count;
    int64_t min_run_at; /* the group's earliest run_at */
} drudge_waiting_group;
/* The groups of script's queued tasks (NULL: every script's), in no
 * promised order, for fn (non-zero stops the walk). Call it in a read
 * transaction for one snapshot with other reads. */
drudge_code drudge_store_waiting(drudge_store *s, int64_t now, const char *script,
                                 int (*fn)(void *ud, const drudge_waiting_group *g), void *ud,
                                 drudge_err *err);

/* ---- circuit breakers and outages (runner/work/breaker.c decides) ----
 *
 * A breaker row exists while a target (an HTTP host, a mail server, ...)
 * is held as down: claims skip the tasks of every script that uses it
 * (script_targets, learned from calls or declared), as they skip paused
 * scripts, until probe_at; then one claim (drudge_claim_req.probe) may take
 * one task of those scripts as the probe. Each opening is an outage row. */

typedef enum drudge_breaker_op {
    DRUDGE_BREAKER_OPEN = 1, /* target down: a breaker row and an outage row, unless open */
    DRUDGE_BREAKER_CLOSE,    /* target back: the outage ends at `at`, the row goes */
    DRUDGE_BREAKER_PROBE,    /* take the probe if probe_at <= at: probe_at = next */
    DRUDGE_BREAKER_LEARN,    /* script uses target (declared: named in the script) */
} drudge_breaker_op;

typedef struct drudge_breaker_event {
    drudge_breaker_op op;
    const char *target;
    const char *script;  /* LEARN */
    int declared;        /* LEARN */
    const char *trigger; /* OPEN: what opened it (the last error, or the script's reason) */
    const char *by;      /* OPEN: the process (lease owner) that opened it */
    int64_t first_at;    /* OPEN: the first error of the run that opened it (the outage's start) */
    int extend;          /* OPEN: only move an open outage's start back to first_at (a process
                          * that saw errors before it learned of the opening): opens nothing */
    int64_t at;          /* when it happened */
    int64_t next;        /* OPEN: the first probe; PROBE: the one after this */
} drudge_breaker_event;
/* Applies ev in the caller's write transaction. *changed = 1 if it changed
 * anything (OPEN: a new outage, whose id is *outage_id; CLOSE: an open one
 * ended, *outage_id; PROBE: this caller has the probe), else 0. CLOSE
 * fills the outage row's tasks held (the queued tasks of the target's
 * scripts) and attempts spent (their counted attempts that ended from its
 * start to its end). */
drudge_code drudge_store_breaker(drudge_store *s, const drudge_breaker_event *ev,
                                 int *changed /* OUT */, int64_t *outage_id /* OUT */,
                                 drudge_err *err);

/* An open breaker, or an outage (ended_at 0 while open). Strings valid
 * during the callback. */
typedef struct drudge_outage_row {
    int64_t id;
    const char *target, *trigger, *opened_by;
    int64_t started_at; /* the first error of the run that opened it */
    int64_t opened_at;  /* when the breaker opened */
    int64_t ended_at;   /* when a probe succeeded; 0: still open */
    int64_t probe_at;   /* open: the next probe */
    int probes;         /* probes taken */
    int64_t tasks_held, attempts_spent;
    const char *scripts; /* the scripts that use the target, comma-separated ("" if none known) */
} drudge_outage_row;
typedef int (*drudge_outage_fn)(void *ud, const drudge_outage_row *o);
/* The open breakers, target order (read). */
drudge_code drudge_store_breakers(drudge_store *s, drudge_outage_fn fn, void *ud, drudge_err *err);
/* The outages that were open at or after since (0: all), oldest first; the
 * open ones with their tasks held so far. */
drudge_code drudge_store_outages(drudge_store *s, int64_t since, drudge_outage_fn fn, void *ud,
                                 drudge_err *err);

/* ---- deadlines ---- */

/* A task with a deadline, for the at-risk and missed counts
 * (logs/report/deadline.c classifies it). Strings valid during the
 * callback. */
typedef struct drudge_deadline_row {
    int64_t id, deadline;
    const char *script, *state; /* the effective state (running while it runs) */
    int64_t finished_at;        /* 0 if not finished */
    int64_t resolved_at;        /* resolved by a person; 0 if not */
    int spent;                  /* attempts charged to it so far (failures) */
    /* A target of its script that was down (an outage open) at the deadline,
     * or now if that is earlier; NULL if none. */
    const char *outage_target;
} drudge_deadline_row;
typedef struct drudge_deadline_query {
    int64_t now;
    int64_t since, until; /* deadline in [since, until] (until 0: no end) */
    int64_t task_id;      /* only this task (0: any) */
} drudge_deadline_query;
/* Every task (not cancelled) whose deadline is in the query's range, by
 * deadline, for fn (non-zero stops). Reads only tasks with a deadline. */
drudge_code drudge_store_deadlines(drudge_store *s, const drudge_deadline_query *dq,
                                   int (*fn)(void *ud, const drudge_deadline_row *r), void *ud,
                                   drudge_err *err);

/* ---- notifications (runner/work/notify.c sends them) ----
 *
 * Channels are configured once for the fleet (`drudge notify add`): a
 * webhook URL or e-mail addresses, the events each wants. An event is
 * queued as one outbox row per channel that wants it, in the transaction
 * that records what happened (a breaker's opening is in the writer's
 * turn); a sender claims due rows with a lease, as a worker claims tasks,
 * so two processes send each once, and records every attempt on the row.
 * Secrets are stored by name only, never their values. */
typedef struct drudge_notify_channel {
    int64_t id;
    const char *kind;   /* "webhook" or "email" */
    const char *target; /* the URL, or the addresses, comma-separated */
    const char *events; /* of "breaker,deadline,dead", comma-separated */
    const char *secret; /* the secret's name (bearer token and HMAC key, or SMTP password); NULL */
    const char *smtp;   /* email: smtp://host:port or smtps://... */
    const char *from;   /* email: the sender's address */
    const char *user;   /* email: the SMTP login, or NULL */
    int dead_threshold; /* dead: notify once this many tasks of a script died since the last */
    int64_t created_at;
    const char *created_by;
} drudge_notify_channel;
typedef int (*drudge_notify_channel_fn)(void *ud, const drudge_notify_channel *c);

/* An outbox row: one notification to one channel. */
typedef struct drudge_notify_row {
    int64_t id, channel_id;
    const char *event;   /* breaker_open, breaker_close, deadline_missed, dead_tasks, test */
    const char *payload; /* the JSON sent (no secret in it) */
    int attempts;
    int64_t created_at, due_at, sent_at, gave_up_at;
    const char *last_error;   /* "" if none */
    drudge_notify_channel ch; /* the channel (id 0: removed since) */
} drudge_notify_row;
typedef int (*drudge_notify_row_fn)(void *ud, const drudge_notify_row *r);

/* Adds a channel; *id gets its number. Write transaction (the caller's,
 * with its operator step). */
drudge_code drudge_store_notify_add(drudge_store *s, const drudge_notify_channel *c, int64_t now,
                                    int64_t *id /* OUT */, drudge_err *err);
/* Removes channel id (its unsent rows are given up); *removed = 0 if none. */
drudge_code drudge_store_notify_remove(drudge_store *s, int64_t id, int64_t now,
                                       int *removed /* OUT */, drudge_err *err);
/* The channels, by id. */
drudge_code drudge_store_notify_channels(drudge_store *s, drudge_notify_channel_fn fn, void *ud,
                                         drudge_err *err);
/* Queues event (of category "breaker", "deadline", "dead") with payload to
 * channel_id, or (0) to every channel whose events name category; *queued
 * gets how many rows (may be NULL). */
drudge_code drudge_store_notify_queue(drudge_store *s, int64_t channel_id, const char *category,
                                      const char *event, const char *payload, int64_t now,
                                      int64_t *queued /* OUT */, drudge_err *err);
/* Claims up to max rows due at now (not sent, not given up, no live lease)
 * for owner until lease_until, oldest first (only row only_id, unless 0),
 * and calls fn for each (strings valid during the call). Write
 * transaction. */
drudge_code drudge_store_notify_claim(drudge_store *s, const char *owner, int64_t now,
                                      int64_t lease_until, int max, int64_t only_id,
                                      drudge_notify_row_fn fn, void *ud, drudge_err *err);
/* The outcome of an attempt at row id, if owner still holds it: sent
 * (outcome 1), to try again at next_due (0), or given up (-1); error says
 * why it failed ("" when sent). *changed = 0 when the lease was lost. */
drudge_code drudge_store_notify_done(drudge_store *s, int64_t id, const char *owner, int outcome,
                                     const char *error, int64_t now, int64_t next_due,
                                     int *changed /* OUT */, drudge_err *err);
/* The outbox rows created at or after since, newest first, at most limit. */
drudge_code drudge_store_notify_log(drudge_store *s, int64_t since, int limit,
                                    drudge_notify_row_fn fn, void *ud, drudge_err *err);
/* Totals of the outbox: sent, given up, waiting (for the metrics); the
 * waiting ones only if due by due_by (0: any). */
drudge_code drudge_store_notify_counts(drudge_store *s, int64_t due_by, int64_t *sent,
                                       int64_t *failed, int64_t *pending, drudge_err *err);
/* A channel's mark name (a scan's high-water time): *at, or 0 if none. */
drudge_code drudge_store_notify_mark_get(drudge_store *s, int64_t channel_id, const char *name,
                                         int64_t *at /* OUT */, drudge_err *err);
/* Moves the mark from expect (0: none yet) to at, if nobody moved it
 * since: *won = 1; else 0 (another process scanned). Write transaction. */
drudge_code drudge_store_notify_mark_set(drudge_store *s, int64_t channel_id, const char *name,
                                         int64_t expect, int64_t at, int *won /* OUT */,
                                         drudge_err *err);

/* ---- the audit chain ---- */

/* A chained step row: the recorder's step plus where it sits. Strings are
 * the store's and valid only during the callback that receives the row. */
typedef struct drudge_step_row {
    int64_t id, task_id;
    int attempt;
    drudge_step step; /* step.handed unused */
    const char *hash;
    const char *script; /* the task's script (only with drudge_step_filter.want_script) */
} drudge_step_row;

typedef struct drudge_step_filter {
    int64_t from_id;      /* id >= from_id (0: from the start) */
    int64_t task_id;      /* only this task (0: any) */
    int attempt;          /* only this attempt (0: any) */
    int64_t since, until; /* started_at in [since, until) (0: open) */
    const char *script;   /* only steps of this script's tasks, or NULL */
    int want_script;      /* fill drudge_step_row.script */
    int by_seq;           /* with task_id: in attempt, then seq order (as recorded), not id order */
} drudge_step_filter;
/* Calls fn for each step row matching f, in id (chain) order, or with
 * f->by_seq in attempt and seq order. fn returns 0 to go on, non-zero to
 * stop (the walk then returns DRUDGE_OK); it may start another walk. */
typedef int (*drudge_step_fn)(void *ud, const drudge_step_row *row);
drudge_code drudge_store_steps(drudge_store *s, const drudge_step_filter *f, drudge_step_fn fn,
                               void *ud, drudge_err *err);
/* The chain head: the last row's id and hash (0 and 64 zeros when empty).
 * In a write transaction it is the head the next append links to (a
 * PostgreSQL backend locks it until commit). */
drudge_code drudge_store_chain_head(drudge_store *s, int64_t *id /* OUT */, char hash[65] /* OUT */,
                                    drudge_err *err);
/* The hash of row id into hash[65] ("" if there is no such row). */
drudge_code drudge_store_step_hash(drudge_store *s, int64_t id, char hash[65] /* OUT */,
                                   drudge_err *err);
/* Appends one chained row (id must be the head's + 1). Write transaction. */
drudge_code drudge_store_append_step(drudge_store *s, int64_t id, int64_t task_id, int attempt,
                                     const drudge_step *step, const char *hash, drudge_err *err);
/* Appends n chained rows in order, as n drudge_store_append_step calls
 * would (rows[0].id is the head's + 1, each next one more; row.script is
 * not used), in fewer statements: the audit writer appends a flush's rows
 * this way. Write transaction; on an error some of the rows may be in it
 * (roll back). */
drudge_code drudge_store_append_steps(drudge_store *s, const drudge_step_row *rows, size_t n,
                                      drudge_err *err);
/* Keeps a payload's bytes (or notes a later use of the same bytes, putting
 * them back if they had been pruned). Write transaction. */
drudge_code drudge_store_put_payload(drudge_store *s, const drudge_payload *p, int64_t now,
                                     drudge_err *err);

/* A payload row. data is NULL when pruned (or not wanted). */
typedef struct drudge_payload_row {
    char sha256[65];
    char *content_type;
    unsigned char *data; /* malloc'd, NUL-terminated beyond len, or NULL */
    size_t len;          /* of data */
    int64_t size;        /* as recorded */
    int64_t pruned_at;   /* 0 if not pruned */
} drudge_payload_row;
void drudge_payload_row_clear(drudge_payload_row *p);
/* Payload sha256 (data too with want_data). DRUDGE_ENOTFOUND if absent. */
drudge_code drudge_store_payload(drudge_store *s, const char *sha256, int want_data,
                                 drudge_payload_row *out /* OUT */, drudge_err *err);
/* Every payload row in insertion order; the row is valid during fn only. */
drudge_code drudge_store_payloads(drudge_store *s, int (*fn)(void *ud, const drudge_payload_row *p),
                                  void *ud, drudge_err *err);
/* The first step row whose request or response mentions sha256 (0 if none). */
drudge_code drudge_store_payload_referrer(drudge_store *s, const char *sha256,
                                          drudge_step_row *out /* OUT: ids only */,
                                          drudge_err *err);
/* Drops the data of payloads last used before cutoff (pruned_at = now);
 * with dry_run, only counts. Counts go to *n and *bytes. Own transaction;
 * freed space is overwritten and the WAL truncated afterwards. */
drudge_code drudge_store_prune(drudge_store *s, int64_t cutoff, int64_t now, int dry_run,
                               int64_t *n /* OUT */, int64_t *bytes /* OUT */, drudge_err *err);

typedef struct drudge_checkpoint_row {
    int64_t id, step_id, row_count, created_at;
    char head_hash[65], public_key[65], signature[129];
} drudge_checkpoint_row;
/* Every checkpoint, by step_id then id (*out malloc'd). */
drudge_code drudge_store_checkpoints(drudge_store *s, drudge_checkpoint_row **out /* OUT */,
                                     size_t *n /* OUT */, drudge_err *err);
/* The newest checkpoint; *found = 0 if there is none. */
drudge_code drudge_store_last_checkpoint(drudge_store *s, drudge_checkpoint_row *out /* OUT */,
                                         int *found /* OUT */, drudge_err *err);
/* Appends a checkpoint (its id is set). Write transaction. */
drudge_code drudge_store_add_checkpoint(drudge_store *s, drudge_checkpoint_row *c, drudge_err *err);
/* How many chain rows have id <= id. */
drudge_code drudge_store_count_steps(drudge_store *s, int64_t upto_id, int64_t *n /* OUT */,
                                     drudge_err *err);
/* Attempts the queue recorded as run by a host whose root step is missing
 * from the chain: the one that ended first, and how many there are. */
drudge_code drudge_store_attempts_unchained(drudge_store *s, int64_t *task_id /* OUT */,
                                            int *attempt /* OUT */, int64_t *ended_at /* OUT */,
                                            int64_t *count /* OUT */, drudge_err *err);
/* What a task row says that the audit chain must back (audit verify's
 * cross-check). state is the row's own (a running task's says queued).
 * Strings are the store's, valid during the callback only. */
typedef struct drudge_task_facts {
    int64_t id, created_at, resolved_at;
    const char *state, *outcome, *output, *resolved_by, *resolved_note;
} drudge_task_facts;
/* Every task, in id order, for fn (non-zero stops the walk). */
drudge_code drudge_store_task_facts(drudge_store *s,
                                    int (*fn)(void *ud, const drudge_task_facts *t), void *ud,
                                    drudge_err *err);
/* The highest attempt of task_id with steps on the chain (0 if none). */
drudge_code drudge_store_last_recorded_attempt(drudge_store *s, int64_t task_id,
                                               int *attempt /* OUT */, drudge_err *err);

/* ---- script versions: the code that ran ---- */

/* One source file of a version, by its path relative to the script's
 * directory ("hello.lua", "lib/util.lua"). */
typedef struct drudge_script_file {
    char *path;
    char sha256[65];
    unsigned char *data; /* malloc'd */
    size_t len;
} drudge_script_file;
/* A script version: its main file and the modules it requires from its
 * directory, named by the SHA-256 of its manifest (runner/host/version.c). */
typedef struct drudge_script_version {
    char sha256[65];
    char *script;   /* the script's name */
    char *path;     /* where it was read from (absolute) */
    char *manifest; /* {"main":"hello.lua","files":{"hello.lua":"<sha256>",...}} */
    int64_t created_at;
    drudge_script_file *files; /* files[0] is the main file; NULL when read from a store */
    size_t nfiles;
} drudge_script_version;
void drudge_script_version_clear(drudge_script_version *v);
/* Stores v: each file once by its SHA-256, the version once by its own (a
 * version already stored is left as it is). Write transaction. */
drudge_code drudge_store_put_script_version(drudge_store *s, const drudge_script_version *v,
                                            int64_t now, drudge_err *err);
/* Version sha256's row into *out (script, path, manifest, created_at; no
 * files). DRUDGE_ENOTFOUND if it is not stored. */
drudge_code drudge_store_script_version(drudge_store *s, const char *sha256,
                                        drudge_script_version *out /* OUT */, drudge_err *err);
/* The bytes of the source file sha256 (*data malloc'd, NUL-terminated
 * beyond *len). DRUDGE_ENOTFOUND if absent. */
drudge_code drudge_store_script_file(drudge_store *s, const char *sha256,
                                     unsigned char **data /* OUT */, size_t *len /* OUT */,
                                     drudge_err *err);
/* A version with the tasks enqueued with it: first and last enqueue, how
 * many, how many finished (done, failed or dead), how many failed (failed or
 * dead). Strings valid during the callback. */
typedef struct drudge_script_version_use {
    const char *sha256, *script, *path;
    int64_t created_at, first_use, last_use; /* uses: 0 if no task */
    int64_t tasks, finished, failed;
} drudge_script_version_use;
/* Every version (of script, or all), by script then age, for fn (non-zero
 * stops). */
drudge_code drudge_store_script_versions(drudge_store *s, const char *script,
                                         int (*fn)(void *ud, const drudge_script_version_use *v),
                                         void *ud, drudge_err *err);

/* ---- schedules ---- */

/* A schedule row. Strings are malloc'd by drudge_store_schedules. */
typedef struct drudge_schedule {
    char *name;
    char *cron;        /* five-field expression or @macro */
    char *tz;          /* IANA zone, or NULL for the machine's zone */
    char *script;      /* the script's name */
    char *script_path; /* absolute path it is loaded from */
    char *input;       /* JSON text for every task, or NULL */
    char *catch_up;    /* "none" | "latest" | "all" */
    char *window;      /* run window for its tasks (zone appended), or NULL */
    int priority;
    int paused;
    int max_attempts; /* the script's, when added (refreshed at each tick) */
    double manual_minutes, exception_minutes;
    int64_t last_tick; /* µs: the newest tick handled (enqueued or skipped) */
    int64_t created_at;
    char *deadline_rule; /* the script's default deadline, read from it at each tick; not stored */
} drudge_schedule;
void drudge_schedule_list_free(drudge_schedule *list, int n);
/* Inserts s (validated by the caller) with last_tick = created_at = now;
 * DRUDGE_ESTATE if its name is taken. */
drudge_code drudge_store_schedule_add(drudge_store *s, const drudge_schedule *sc, int64_t now,
                                      drudge_err *err);
/* DRUDGE_ENOTFOUND if there is no schedule of that name. */
drudge_code drudge_store_schedule_remove(drudge_store *s, const char *name, drudge_err *err);
/* Resuming moves last_tick to now (no catch-up of the paused time). */
drudge_code drudge_store_schedule_set_paused(drudge_store *s, const char *name, int paused,
                                             int64_t now, drudge_err *err);
/* All schedules (active_only: not paused), by name. */
drudge_code drudge_store_schedules(drudge_store *s, int active_only,
                                   drudge_schedule **out /* OUT */, int *n /* OUT */,
                                   drudge_err *err);
/* Moves a schedule's last_tick forward to tick (never back). */
drudge_code drudge_store_schedule_advance(drudge_store *s, const char *name, int64_t tick,
                                          drudge_err *err);

/* ---- reading for reports, the live view and metrics ---- */

/* A finished (done, failed or dead) task, for the time-saved report. */
typedef struct drudge_finished_row {
    int64_t id, finished_at;
    const char *script, *state; /* valid during the callback */
    double manual_minutes, exception_minutes;
} drudge_finished_row;
/* Every finished task (of script, or all), in no promised order. In these
 * three scans fn returns 0 to go on, non-zero to stop (the scan then
 * returns DRUDGE_OK). */
drudge_code drudge_store_finished(drudge_store *s, const char *script,
                                  int (*fn)(void *ud, const drudge_finished_row *t), void *ud,
                                  drudge_err *err);
/* Every attempt as (task_id, ended_at - started_at), mostly in task order. */
drudge_code drudge_store_attempt_times(drudge_store *s,
                                       int (*fn)(void *ud, int64_t task_id, int64_t us), void *ud,
                                       drudge_err *err);
/* Queued and running tasks per script (of script, or all). */
drudge_code drudge_store_backlog(drudge_store *s, const char *script,
                                 int (*fn)(void *ud, const char *script, int64_t queued,
                                           int64_t running),
                                 void *ud, drudge_err *err);

/* One script's current backlog for `status --watch`. A script has one while
 * it has open tasks (queued or running): it starts at the oldest of them by
 * created_at; once all are finished, at the oldest of those that finished
 * in the last `recent` µs; else the script has none. Counts are over the
 * script's tasks created at or after that start. */
typedef struct drudge_backlog_row {
    char name[64];                          /* the script (cut short if longer) */
    int paused;                             /* by drudge pause */
    int64_t queued, running, retrying;      /* now; retrying: queued after an attempt */
    int64_t total, finished;                /* finished: done, failed, dead or cancelled */
    int64_t done, failed, cancelled;        /* failed: failed or dead */
    int64_t since;                          /* backlog start */
    int64_t finished_recently;              /* finished in the last rate_window µs */
    char last_error[160];                   /* the latest failure's error, as stored (cut short) */
    int64_t last_error_task, last_error_at; /* its task and finished_at; 0 if none */
} drudge_backlog_row;
/* Up to max rows, by script name, into rows (*n of them), and the number
 * of workers whose lease is valid at now. Call it in a read transaction
 * (drudge_store_begin DRUDGE_TX_READ) for one consistent snapshot. */
drudge_code drudge_store_backlogs(drudge_store *s, int64_t now, int64_t rate_window, int64_t recent,
                                  drudge_backlog_row *rows, int max, int *n /* OUT */,
                                  int *workers /* OUT */, drudge_err *err);

/* What /metrics shows per script (every script with tasks, and every
 * paused one), and attempts per (script, outcome). */
typedef struct drudge_metrics_script {
    char *script;
    int64_t tasks;                 /* all its tasks; 0 for a script known only as paused */
    int64_t count[DRUDGE_NSTATES]; /* by drudge_task_states index */
    double gross_minutes;          /* manual_minutes of its done tasks */
    double lost_minutes;           /* exception_minutes of its failed and dead tasks */
    /* now - the earliest run_at (at or before now) of its tasks not yet
     * finished, running ones included; -1 if none */
    int64_t oldest_due_us;
    int paused;
} drudge_metrics_script;
typedef struct drudge_metrics_outcome {
    char *script, *outcome;
    int64_t count;
} drudge_metrics_outcome;
typedef struct drudge_metrics_data {
    drudge_metrics_script *scripts; /* by name */
    size_t nscripts;
    drudge_metrics_outcome *outcomes; /* by script, outcome */
    size_t noutcomes;
} drudge_metrics_data;
/* One step for the duration histogram; kind is valid during the call. */
typedef void (*drudge_step_time_fn)(void *ud, int64_t id, const char *kind, int64_t duration_us);
/* What /metrics reads: the per-script and per-outcome numbers into *out
 * (freed with drudge_metrics_data_clear), and each step with id >=
 * steps_from, in id order, for fn (none if fn is NULL): a scraper that
 * keeps its histogram between scrapes reads only the steps appended since
 * the last one (steps are append-only). Only id, kind and duration are
 * read, not the steps' requests and responses, which a scrape from scratch
 * of millions of steps cannot afford. Call it in a read transaction for
 * one snapshot. */
drudge_code drudge_store_metrics(drudge_store *s, int64_t now, int64_t steps_from,
                                 drudge_step_time_fn fn, void *ud,
                                 drudge_metrics_data *out /* OUT */, drudge_err *err);
void drudge_metrics_data_clear(drudge_metrics_data *d);

/* ---- a fleet: wake-ups, copying a database ---- */

/* Asks the store to call wake(ud), from a thread of its own, whenever
 * tasks may have become claimable through another connection (enqueued,
 * requeued, resumed, or due now), so that an idle `drudge work` need not
 * poll the database often. *watching = 0 if this engine cannot (SQLite: a
 * worker polls). It stops when the store is closed; wake must not call
 * into the store. wake NULL stops the watch. */
drudge_code drudge_store_watch(drudge_store *s, void (*wake)(void *ud), void *ud,
                               int *watching /* OUT */, drudge_err *err);

/* `drudge db copy` moves a database table by table, as rows of named text
 * values, in the order of drudge_copy_tables; each table's columns are
 * those listed there, the same on every engine. */
typedef struct drudge_copy_table {
    const char *name;    /* tasks, steps, ... */
    const char *columns; /* "id, script, ...": in this order in every row */
    const char *order;   /* the order rows are read in ("id") */
    int ncols;
    int blob; /* 1 + the index of the column that holds bytes (BLOB, bytea), or 0 */
} drudge_copy_table;
extern const drudge_copy_table drudge_copy_tables[]; /* ends with a NULL name */
/* One row: values[i] is column i's text (integers in decimal, reals as the
 * engine prints them, blobs as their bytes), NULL for SQL null; lens[i]
 * its length in bytes. Valid during the callback only. */
typedef struct drudge_copy_row {
    const drudge_copy_table *table;
    const char *const *values;
    const size_t *lens;
} drudge_copy_row;
typedef int (*drudge_copy_fn)(void *ud, const drudge_copy_row *row);
/* Every row of table t, for fn (non-zero stops the walk). */
drudge_code drudge_store_copy_out(drudge_store *s, const drudge_copy_table *t, drudge_copy_fn fn,
                                  void *ud, drudge_err *err);
/* Writes one row as it was (ids and hashes kept). Write transaction. */
drudge_code drudge_store_copy_in(drudge_store *s, const drudge_copy_row *row, drudge_err *err);
/* After the last row: what the engine derives from the rows (done counts,
 * the chain head, id sequences, the queue of claimable tasks). Write
 * transaction. */
drudge_code drudge_store_copy_finish(drudge_store *s, drudge_err *err);
/* `drudge db backup`: a consistent copy of the whole database as one new
 * file at path (created 0600; refused if it exists), taken while workers
 * write (SQLite's online backup, in one read snapshot; the copy is left in
 * rollback-journal mode, so it is a single self-contained file). *pages
 * gets its size in pages. An engine that cannot (PostgreSQL) returns
 * DRUDGE_EUSAGE with what to use instead. */
drudge_code drudge_store_backup(drudge_store *s, const char *path, int64_t *pages /* OUT */,
                                drudge_err *err);
/* Whether the database holds no task and no chain row (a copy's target). */
drudge_code drudge_store_empty(drudge_store *s, int *empty /* OUT */, drudge_err *err);

/* ---- throughput: attempts ended per minute (the control room's charts) ---- */

/* The attempts that ended in one minute: done, and failed (failed, error,
 * timeout or memory; a retry asked for and a cancellation are neither). */
typedef struct drudge_minute_count {
    int64_t minute_us; /* the minute's start, µs */
    int64_t done, failed;
} drudge_minute_count;
/* Every minute since since (µs) in which an attempt ended, oldest first
 * (*out malloc'd, free()). Read from the table the outcomes add to as they
 * commit (SQLite v11, PostgreSQL v8), so it survives a restart and every
 * server of a fleet reads the same; at most 1440 rows a day, however many
 * tasks there are. */
drudge_code drudge_store_throughput(drudge_store *s, int64_t since,
                                    drudge_minute_count **out /* OUT */, size_t *n /* OUT */,
                                    drudge_err *err);
/* What an attempt's outcome adds to its minute: 1 for done (*failed 0), 1
 * for failed (*done 0), or neither (0 returned). Shared by the engines. */
int drudge_throughput_kind(const char *outcome, int *done /* OUT */, int *failed /* OUT */);

/* ---- the control room: its users and their keys (runner/room/) ---- */

/* A person (or a system) who may use `drudge serve`. Strings malloc'd
 * (drudge_room_user_clear). */
typedef struct drudge_room_user {
    char *name;
    char *role; /* viewer, operator, auditor, admin */
    char *hash; /* the password's Argon2id encoding ("$argon2id$..."), or NULL: no login */
    int disabled;
    int64_t created_at, changed_at;
} drudge_room_user;
void drudge_room_user_clear(drudge_room_user *u);
void drudge_room_users_free(drudge_room_user *v, size_t n);
/* Inserts u; DRUDGE_ESTATE if the name is taken. Write transaction. */
drudge_code drudge_store_user_add(drudge_store *s, const drudge_room_user *u, int64_t now,
                                  drudge_err *err);
/* Changes a user: role and hash unless NULL, disabled unless < 0.
 * DRUDGE_ENOTFOUND if there is no such user. Write transaction. */
drudge_code drudge_store_user_set(drudge_store *s, const char *name, const char *role,
                                  const char *hash, int disabled, int64_t now, drudge_err *err);
/* One user by name into *out; DRUDGE_ENOTFOUND if none. */
drudge_code drudge_store_user(drudge_store *s, const char *name, drudge_room_user *out /* OUT */,
                              drudge_err *err);
/* Every user, by name (*out malloc'd: drudge_room_users_free). */
drudge_code drudge_store_users(drudge_store *s, drudge_room_user **out /* OUT */,
                               size_t *n /* OUT */, drudge_err *err);

/* A key that stands for a user: an API token or a login session. Only the
 * SHA-256 of its secret is kept, so a copy of the database opens nothing.
 * Strings malloc'd (drudge_room_key_clear). */
typedef struct drudge_room_key {
    char hash[65];      /* SHA-256 of the secret, hex */
    char *user;         /* whose */
    char *kind;         /* "token" or "session" */
    char *label;        /* a token's name ("erp"), or NULL */
    char *csrf;         /* a session's CSRF token, or NULL */
    char *remote;       /* the address a session was opened from, or NULL */
    int64_t created_at; /* µs */
    int64_t expires_at; /* µs; 0: never (tokens) */
} drudge_room_key;
void drudge_room_key_clear(drudge_room_key *k);
/* Stores k (its hash must be new), and forgets the sessions that expired
 * before k->created_at, so that logins do not pile up. Write transaction. */
drudge_code drudge_store_key_add(drudge_store *s, const drudge_room_key *k, drudge_err *err);
/* The key whose secret hashes to hash, and its user, when the key has not
 * expired at now and the user is not disabled; else DRUDGE_ENOTFOUND. */
drudge_code drudge_store_key_find(drudge_store *s, const char *hash, int64_t now,
                                  drudge_room_key *key /* OUT */, drudge_room_user *user /* OUT */,
                                  drudge_err *err);
/* Forgets a key (a logout); *dropped = 1 if there was one. */
drudge_code drudge_store_key_drop(drudge_store *s, const char *hash, int *dropped /* OUT */,
                                  drudge_err *err);
/* The keys of kind ("token" or "session") of user (NULL: every user's),
 * oldest first, expired ones too (their expires_at says so), without their
 * CSRF tokens (*out malloc'd: drudge_room_keys_free). */
drudge_code drudge_store_keys(drudge_store *s, const char *user, const char *kind,
                              drudge_room_key **out /* OUT */, size_t *n /* OUT */,
                              drudge_err *err);
void drudge_room_keys_free(drudge_room_key *v, size_t n);
/* Failed logins, shared by every server on the database: who is "u:NAME"
 * or "a:ADDRESS". *count gets the larger count of the two whose last
 * failure is at or after since (0 if none). */
drudge_code drudge_store_login_fails(drudge_store *s, const char *user_who, const char *addr_who,
                                     int64_t since, int *count /* OUT */, drudge_err *err);
/* A failed login (failed = 1) adds one to who's count, which starts again
 * at 1 when its last failure is before since, and forgets every count
 * older than since; a good one (failed = 0) forgets who's count. */
drudge_code drudge_store_login_note(drudge_store *s, const char *who, int64_t now, int64_t since,
                                    int failed, drudge_err *err);
/* Forgets every key of kind of user except keep_hash (NULL: none kept):
 * a changed password ends the user's other sessions. *dropped gets how
 * many. Write transaction. */
drudge_code drudge_store_keys_drop(drudge_store *s, const char *user, const char *kind,
                                   const char *keep_hash, int64_t *dropped /* OUT */,
                                   drudge_err *err);

#endif

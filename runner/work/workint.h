/*
 * workint.h: internals shared by `drudge work`'s files: the pool of workers
 * (pool.c), the group-commit writer (writer.c) and the orchestration of a
 * run (work.c).
 *
 * Threads and what they own:
 *   - N workers, each with a drudge_host. A worker takes a claimed task from
 *     the ready list, runs one attempt, swaps a fresh recorder into its host
 *     and hands the attempt (result + old recorder) to the writer. It never
 *     waits for a commit, only for a free recorder when the writer is far
 *     behind (back-pressure).
 *   - The writer (the thread that calls drudge_work_run) owns the one store
 *     connection that changes the queue. Each turn of its loop is one write
 *     transaction: every attempt handed in since the last turn (attempt row,
 *     task state, audit steps), lease renewals and cancel requests, the
 *     reaping of expired leases, and claims to refill the ready list. A task
 *     counts as finished only after that commit (synchronous FULL by
 *     default), so a kill -9 at any moment loses at most uncommitted work,
 *     whose leases expire and come back as "lost" attempts; the audit chain
 *     is only ever extended inside those transactions, so it never breaks.
 * One mutex guards the lists; it is never held across store or Lua calls.
 */
#ifndef DRUDGE_WORKINT_H
#define DRUDGE_WORKINT_H

#include <pthread.h>
#include <signal.h>
#include "drudge/host.h"
#include "logs/audit/audit.h"
#include "runner/host/breaker.h"
#include "runner/host/version.h"
#include "runner/queue/queue.h"
#include "runner/store/store.h"
#include "runner/work/work.h"

#define MAX_PREFETCH 1024
#define MAX_RECS     4096 /* recorders in flight: bounds the writer's backlog */
#define MAX_CANCELS  256

/* A claimed task on its way through the pool, and then its outcome. */
typedef struct job {
    struct job *next;
    drudge_claimed t;
    drudge_result res;
    drudge_rec *rec; /* the attempt's steps; returned to the pool after commit */
    int64_t started_us;
    int ran; /* res is valid */
    int cancelled;
    int worker;        /* index of the worker that ran it */
    const char *state; /* new state, set by the writer */
    int partial;       /* only rec: steps of an attempt still running */
    int own_rec;       /* rec is the job's own, freed after commit (not the pool's) */
    char *probe;       /* the attempt probes this target's open circuit breaker, or NULL */
} job;

typedef struct joblist {
    job *head, *tail;
    size_t n;
} joblist;

void list_push(joblist *l, job *j);
job *list_pop(joblist *l);
/* Removes the job for task id from l, or returns NULL. */
job *list_take(joblist *l, int64_t id);
void job_free(job *j);
/* Frees every job of l (and its recorder with recs). */
void list_free(joblist *l, int recs);

typedef struct pool pool;

/* A worker thread and what it owns. The pool's slots point at workers;
 * when the watchdog abandons one (its attempt ran past timeout + grace), it
 * leaves its slot for a fresh worker and moves to the pool's ghosts: the
 * stuck thread owns its host and its job from then on, frees them if it
 * ever returns, and never touches the pool's lists again. */
typedef struct worker {
    pool *p;
    int idx; /* its slot */
    pthread_t th;
    int started;   /* th was created and is not detached: pool_stop joins it */
    int exited;    /* worker_main returned (guarded by p->mu) */
    int abandoned; /* given up by the watchdog (guarded by p->mu) */
    int returned;  /* an abandoned thread came back and freed what it held (guarded) */
    struct worker *next_ghost;
    drudge_host *host;
    job *current;         /* guarded by p->mu */
    int64_t cancel_id;    /* the task an operator cancelled while it ran */
    int64_t cancel_at;    /* when that cancel was delivered (drudge_mono_us) */
    int64_t marked_id;    /* the running task the writer marked started (guarded by p->mu) */
    drudge_store *ro;     /* read-only, opened for the first retry: task.previous */
    int64_t flush_at;     /* when the running attempt next hands its closed steps over */
    char (*versions)[65]; /* script versions this worker has handed to the writer */
    size_t nversions;
    int ro_warned;
} worker;

#define WORKER_NAME_MAX 192

struct pool {
    const drudge_work_opts *opts;
    pthread_mutex_t mu;
    pthread_cond_t work_cv, writer_cv, rec_cv, exit_cv;
    joblist ready, done;
    joblist held;      /* claims a worker did not run: their target is down (breaker.c) */
    drudge_rec **recs; /* free recorders */
    size_t nrecs, created;
    int inflight; /* jobs taken by workers and not yet handed to the writer */
    int stopping; /* workers exit once ready is empty */
    int writer_waiting, workers_waiting, rec_waiting;
    int min_batch;                  /* outcomes worth waking the writer for (see writer.c) */
    worker **workers;               /* the slots; NULL while the watchdog refills one */
    char (*names)[WORKER_NAME_MAX]; /* each slot's name, owner/N, as attempts record it */
    int nworkers;
    worker *ghosts; /* abandoned workers (see worker) */
    int stuck;      /* abandoned threads that have not come back */
    int abandoned;  /* attempts the watchdog gave up, in all */
    int restart;    /* stuck threads reached the bound: drain, then re-exec (watchdog.c) */
    pthread_t watchdog;
    int watchdog_started, watchdog_stop;
    pthread_cond_t watchdog_cv;
    char owner[160];
    /* Script versions the workers loaded, for the writer to store before the
     * roots that name them (guarded by mu). */
    drudge_script_version *versions;
    size_t nversions;
    int fatal; /* a worker cannot go on safely: stop, recording nothing more */
    char fatal_msg[1024];
};

/* pool.c */
/* Sets up p for opts (no threads yet); the hosts are made by pool_hosts. */
void pool_init(pool *p, const drudge_work_opts *opts);
drudge_code pool_hosts(pool *p, drudge_err *err);
/* Starts the worker threads (they block SIGINT and SIGTERM: the handlers
 * run on the caller's thread). */
drudge_code pool_start(pool *p, drudge_err *err);
/* Asks the workers to exit once the ready list is empty (cancel: end
 * running attempts too) and joins them; a worker stuck in a blocking call
 * is left after a few seconds (*leaked counts them). */
void pool_stop(pool *p, int cancel, int *leaked);
/* Frees what the pool holds (not while a worker may still run). */
void pool_free(pool *p);
/* Anything handed out and not yet written: claimed tasks waiting or
 * running, outcomes not yet taken by the writer. */
int pool_busy(pool *p);
/* A job of the closed steps part took from a running attempt (caller owns). */
job *partial_job(drudge_rec *part, int idx);
/* Hands j to the writer; the caller holds p->mu. */
void pool_to_writer(pool *p, job *j);
/* Cancels the running attempts (an abort). */
void pool_cancel_running(pool *p);
/* A worker for slot idx with its own host (not started); NULL with err. */
worker *pool_worker_new(pool *p, int idx, drudge_err *err);
/* Starts w's thread (SIGINT and SIGTERM blocked in it). */
drudge_code pool_worker_start(pool *p, worker *w, drudge_err *err);
/* A recorder configured like the hosts' own (redaction patterns). */
drudge_rec *pool_new_recorder(pool *p);

/* watchdog.c: the hard ceiling on an attempt. A thread that, about five
 * times a second, abandons every worker whose attempt ran DRUDGE_GRACE_US
 * past its timeout (or past an operator's cancel): the attempt is handed to
 * the writer as a timeout (or cancelled) and a fresh worker takes the slot.
 * Once as many threads are stuck as there are slots, it sets p->restart. */
drudge_code watchdog_start(pool *p, drudge_err *err);
void watchdog_stop(pool *p);

/* writer.c */
typedef struct writer {
    pool *p;
    drudge_queue *q;
    drudge_store *s;
    drudge_audit_writer *audit;
    drudge_rec *lost_rec; /* for the root steps of lost attempts */
    const drudge_work_opts *opts;
    drudge_work_stats *stats;
    joblist batch;                   /* completions in this transaction */
    drudge_script_version *versions; /* to store in this transaction */
    size_t nversions;
    joblist cancelled; /* unstarted tasks an operator cancelled: recorded next turn */
    int64_t cancel_ids[MAX_CANCELS];
    size_t ncancel;
    int64_t *mark_ids; /* running attempts this turn marks started (nworkers at most) */
    int *mark_slots;   /* their workers' slots */
    size_t nmarks;
    int last_batch; /* completions in the last transaction */
    int tick_warned;
    int woken;                 /* the store said work came (guarded by p->mu) */
    drudge_breaker_event *bev; /* breaker events this turn writes (breaker.c) */
    size_t nbev;
    int64_t next_sync; /* when the open breakers are read back next */
} writer;

extern volatile sig_atomic_t drudge_work_signals;
/* Runs turns until drained, aborted or failed. */
drudge_code writer_loop(writer *wr, drudge_err *err);
/* Marks every running attempt started, whatever it ran (an abort: they
 * will not be recorded, and count as lost when the lease expires). */
drudge_code writer_mark_running(writer *wr, drudge_err *err);
/* Gives every claimed-but-unstarted task back (no attempt spent). */
drudge_code writer_release_ready(writer *wr, drudge_err *err);
/* After the workers stopped: writes the outcomes that came in after the
 * last turn, drops the lease and signs the head (with a checkpoint key). */
drudge_code writer_finish(writer *wr, drudge_err *err);

/* breaker.c: circuit breakers, the writer's side. */
/* In the turn's transaction, before the chain's appends: the events the
 * calls queued, and (every second, or after events) the open breakers read
 * back into this process's view. */
drudge_code breakers_write(writer *wr, int64_t now, drudge_err *err);
/* After the turn: the events are done with, or queued again. */
void breakers_committed(writer *wr);
void breakers_rolled_back(writer *wr);
/* In the turn's transaction: takes each due probe (one process wins it)
 * and claims its task, appended to claimed[*n] with its target in
 * probe_of (NULL for the other claims; the array made when first needed). */
drudge_code breakers_probe(writer *wr, int64_t now, drudge_claimed **claimed, size_t *n,
                           char ***probe_of, drudge_err *err);
/* After a turn: claimed tasks not started whose script uses an open target
 * are given back (own transaction, no attempt spent). */
drudge_code breakers_release_held(writer *wr, drudge_err *err);

#endif

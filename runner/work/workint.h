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

typedef struct worker {
    pool *p;
    int idx;
    pthread_t th;
    int started;
    drudge_host *host;
    job *current;         /* guarded by p->mu */
    int64_t cancel_id;    /* the task an operator cancelled while it ran */
    drudge_store *ro;     /* read-only, opened for the first retry: task.previous */
    int64_t flush_at;     /* when the running attempt next hands its closed steps over */
    char (*versions)[65]; /* script versions this worker has handed to the writer */
    size_t nversions;
    int ro_warned;
    char name[192];
} worker;

struct pool {
    const drudge_work_opts *opts;
    pthread_mutex_t mu;
    pthread_cond_t work_cv, writer_cv, rec_cv;
    joblist ready, done;
    drudge_rec **recs; /* free recorders */
    size_t nrecs, created;
    int inflight;
    int stopping; /* workers exit once ready is empty */
    int writer_waiting, workers_waiting, rec_waiting;
    int min_batch; /* outcomes worth waking the writer for (see writer.c) */
    worker *workers;
    int nworkers;
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
    int last_batch; /* completions in the last transaction */
    int tick_warned;
    int woken; /* the store said work came (guarded by p->mu) */
} writer;

extern volatile sig_atomic_t drudge_work_signals;
/* Runs turns until drained, aborted or failed. */
drudge_code writer_loop(writer *wr, drudge_err *err);
/* Gives every claimed-but-unstarted task back (no attempt spent). */
drudge_code writer_release_ready(writer *wr, drudge_err *err);
/* After the workers stopped: writes the outcomes that came in after the
 * last turn, drops the lease and signs the head (with a checkpoint key). */
drudge_code writer_finish(writer *wr, drudge_err *err);

#endif

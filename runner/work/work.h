/*
 * work.h: the worker pool behind `drudge work` (runner/work/).
 *
 * N worker threads each own a drudge_host (one Lua state, its cached
 * scripts, its connector handles) and run claimed tasks. One writer thread
 * (the caller's) owns the only store connection that changes the queue: it
 * group-commits, in one write transaction, the outcomes workers handed in
 * (attempt rows, task states, audit steps), new claims, lease renewals and
 * the reaping of expired leases. A task counts as done only once that
 * transaction has committed. (pool.c, writer.c, work.c; workint.h says who
 * owns what.)
 */
#ifndef DRUDGE_WORK_H
#define DRUDGE_WORK_H

#include <stdint.h>
#include "runner/host/breaker.h"
#include "runner/store/store.h"
#include "drudge/error.h"

/* The hard ceiling on an attempt is its timeout plus this grace, in
 * seconds: an attempt the timeout cannot stop (a loop in a __gc finalizer,
 * which Lua runs with hooks off, or C code stuck in a library) is recorded
 * as a timeout (or cancelled) then and its thread abandoned
 * (runner/work/watchdog.c; `drudge run` records and exits, run.c). */
#define DRUDGE_GRACE_S 5

typedef struct drudge_work_opts {
    const char *db_path;
    int threads;                /* workers; 0 = 1 */
    int until_empty;            /* return once nothing is due or running */
    const char *const *scripts; /* only these scripts (NULL-terminated), or NULL */
    int64_t lease_us;           /* 0 = 60 s */
    int64_t backoff_base_us;    /* 0 = 5 s; < 0 = retry at once */
    int64_t backoff_cap_us;     /* 0 = 1 h */
    drudge_durability durability;
    const char *files_dir; /* for the hosts (io confined here) */
    const char *secrets_file;
    const char *redact_file;     /* redaction patterns; NULL = $DRUDGE_REDACT */
    int echo_logs;               /* script log lines to stderr */
    int prefetch;                /* most claimed-but-unstarted tasks held; 0 = auto (<= 1024) */
    const char *metrics_listen;  /* ADDR:PORT for /metrics, or NULL */
    const char *checkpoint_key;  /* sign the audit chain head with this key, or NULL */
    int64_t checkpoint_every_us; /* how often (with checkpoint_key) */
    int verbose;                 /* a line per finished task on stderr */
    drudge_breaker_opts breaker; /* circuit breakers' thresholds (zeros: the defaults) */
    int no_notify;               /* send no notifications from this process (notify.h) */
} drudge_work_opts;

typedef struct drudge_work_stats {
    int64_t claimed, done, failed, retried, dead, cancelled, reaped, lost_results;
    int64_t given_back;  /* unstarted claims of dead processes requeued unspent */
    int64_t held_back;   /* claims given back unstarted because their target went down */
    int64_t left_behind; /* after a failure: claims and outcomes not written (see work.c) */
    int64_t commits;     /* write transactions: outcomes per commit = the group-commit factor */
    int aborted;         /* a second signal stopped running attempts */
    int abandoned;       /* attempts the watchdog gave up (past timeout + grace) */
    int stuck;           /* abandoned threads still running at the end */
    int restart;         /* stuck threads reached the bound: the caller re-execs */
    double writer_cpu_s; /* CPU time of the writer thread: what bounds throughput */
} drudge_work_stats;

/* Runs the pool until drudge_work_signal() is called (or, with until_empty,
 * until nothing is left), then drains: no new claims, tasks claimed but not
 * started are released, running ones finish and are recorded. */
drudge_code drudge_work_run(const drudge_work_opts *opts, drudge_work_stats *stats /* OUT */,
                            drudge_err *err);

/* First call: drain. Second: abort running attempts; their leases expire and
 * they are retried. Async-signal-safe (for SIGINT/SIGTERM handlers). */
void drudge_work_signal(void);
/* Whether SIGINT/SIGTERM asked this process to stop. */
int drudge_work_signals_pending(void);

#endif

/* work.c: `drudge work` from start to end: open the store, make the pool's
 * hosts, start the metrics endpoint and the workers, run the writer until
 * drained, aborted or failed, stop the workers, write what is left. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "runner/work/metrics.h"
#include "runner/work/notify.h"
#include "runner/work/workint.h"

/* The writer's own CPU time: what bounds the throughput. */
static double thread_cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) != 0)
        return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static drudge_code open_writer(writer *wr, pool *p, const drudge_work_opts *opts,
                               drudge_work_stats *stats, drudge_err *err)
{
    drudge_store *s = NULL;
    drudge_code rc = drudge_store_open(opts->db_path, DRUDGE_STORE_WRITER, &s, err);
    if (rc)
        return rc;
    rc = drudge_store_set_durability(s, opts->durability, err);
    if (rc) {
        drudge_store_close(s);
        return rc;
    }
    drudge_queue_opts qo = {.owner = p->owner,
                            .lease_us = opts->lease_us,
                            .backoff_base_us = opts->backoff_base_us,
                            .backoff_cap_us = opts->backoff_cap_us,
                            .scripts = opts->scripts};
    wr->p = p;
    wr->s = s;
    wr->q = drudge_queue_new(s, &qo);
    wr->audit = drudge_audit_writer_new(s);
    wr->lost_rec = drudge_rec_new();
    wr->mark_ids = drudge_xmalloc((size_t)p->nworkers * sizeof *wr->mark_ids);
    wr->mark_slots = drudge_xmalloc((size_t)p->nworkers * sizeof *wr->mark_slots);
    wr->opts = opts;
    wr->stats = stats;
    return DRUDGE_OK;
}

static void close_writer(writer *wr)
{
    list_free(&wr->batch, 1);
    list_free(&wr->cancelled, 0);
    for (size_t i = 0; i < wr->nversions; i++)
        drudge_script_version_clear(&wr->versions[i]);
    free(wr->versions);
    drudge_rec_free(wr->lost_rec);
    free(wr->mark_ids);
    free(wr->mark_slots);
    drudge_audit_writer_free(wr->audit);
    drudge_queue_free(wr->q);
    if (wr->s)
        drudge_store_trim(wr->s); /* the next command need not replay this run's WAL */
    drudge_store_close(wr->s);
}

/* Outcomes in l that are an attempt's (not early-flushed steps). */
static size_t outcomes_in(const joblist *l)
{
    size_t n = 0;
    for (const job *j = l->head; j; j = j->next)
        n += !j->partial;
    return n;
}

/* After a failure (the database full, or gone): what this process leaves
 * claimed, and what becomes of it. Nothing of it is charged unless it ran:
 * the reaper gives an unstarted claim back unspent (schema v7). */
static void explain_left(writer *wr, pool *p, size_t unreleased, const drudge_err *err)
{
    pthread_mutex_lock(&p->mu);
    size_t unwritten = outcomes_in(&wr->batch) + outcomes_in(&p->done) + (size_t)p->inflight;
    pthread_mutex_unlock(&p->mu);
    wr->stats->left_behind = (int64_t)(unreleased + unwritten);
    if (!unreleased && !unwritten)
        return;
    int64_t lease = wr->opts->lease_us > 0 ? wr->opts->lease_us : 60 * (int64_t)1000000;
    fprintf(stderr,
            "drudge work: stopping (%s); %zu claimed task%s that had not started and %zu "
            "attempt%s whose outcome could not be written stay with this process's lease "
            "until it expires (in %.0f s): then any drudge work gives them back without "
            "spending an attempt, except attempts that had run a second or more, which count "
            "as lost\n",
            err->msg, unreleased, unreleased == 1 ? "" : "s", unwritten, unwritten == 1 ? "" : "s",
            (double)lease / 1e6);
}

/* Stops the workers. After an abort, or a failure, running attempts are
 * not recorded: their leases expire and they are retried. Otherwise the
 * outcomes that came in after the writer's last turn are written. */
static drudge_code stop(writer *wr, pool *p, drudge_code rc, int *leaked, drudge_err *err)
{
    drudge_work_stats *stats = wr->stats;
    drudge_err rerr = {0};
    pthread_mutex_lock(&p->mu);
    size_t unstarted = p->ready.n;
    pthread_mutex_unlock(&p->mu);
    drudge_code rrc = writer_release_ready(wr, &rerr);
    if (rrc && !rc)
        rc = drudge_seterr(err, rerr.code, "%s", rerr.msg);
    /* Attempts an abort stops are not recorded: they started, and count as
     * lost when the lease expires. (After a failure the 1 s rule stands:
     * the database may not take even the mark.) */
    if (!rc && stats->aborted && writer_mark_running(wr, &rerr))
        rc = drudge_seterr(err, rerr.code, "%s", rerr.msg);
    pool_stop(p, rc || stats->aborted, leaked);
    pthread_mutex_lock(&p->mu);
    int stuck = p->stuck;
    pthread_mutex_unlock(&p->mu);
    if (*leaked > stuck) /* a worker did not stop after an abort */
        stats->aborted = 1;
    if (!rc && !stats->aborted)
        rc = writer_finish(wr, err);
    if (rc)
        explain_left(wr, p, rrc ? unstarted : 0, err);
    return rc;
}

drudge_code drudge_work_run(const drudge_work_opts *opts, drudge_work_stats *stats, drudge_err *err)
{
    /* On the heap: a stuck thread that comes back after this returns (the
     * process is about to exit or re-exec) must find the pool still there. */
    pool *p = drudge_xmalloc(sizeof *p);
    writer wr;
    drudge_metrics_server *metrics = NULL;
    drudge_notifier *notifier = NULL;
    int leaked = 0;
    memset(stats, 0, sizeof *stats);
    memset(&wr, 0, sizeof wr);
    drudge_work_signals = 0;
    drudge_breaker_enable(&opts->breaker);
    pool_init(p, opts);
    drudge_code rc = open_writer(&wr, p, opts, stats, err);
    if (!rc)
        rc = pool_hosts(p, err);
    if (!rc && opts->metrics_listen)
        rc = drudge_metrics_serve(opts->db_path, opts->metrics_listen, &metrics, err);
    if (rc)
        goto cleanup;
    /* The sender of notifications: its own connection and thread, so that
     * no receiver, however slow, holds up a claim. */
    if (!opts->no_notify) {
        drudge_notifier_opts no = {.db_path = opts->db_path,
                                   .owner = p->owner,
                                   .secrets_file = opts->secrets_file,
                                   .verbose = opts->verbose};
        rc = drudge_notifier_start(&no, &notifier, err);
        if (rc)
            goto cleanup;
    }
    rc = pool_start(p, err);
    if (!rc)
        rc = writer_loop(&wr, err);
    stats->writer_cpu_s = thread_cpu_seconds();
    rc = stop(&wr, p, rc, &leaked, err);
cleanup:
    drudge_notifier_stop(notifier); /* after the last turn: it sends what that queued */
    drudge_metrics_stop(metrics);
    pthread_mutex_lock(&p->mu);
    stats->abandoned = p->abandoned;
    stats->stuck = p->stuck;
    pthread_mutex_unlock(&p->mu);
    if (leaked) {
        /* A worker still runs (stuck in a blocking call, or abandoned by the
         * watchdog): its memory and the pool's stay allocated; the caller
         * exits or re-execs the process right away. */
        if (!stats->aborted)
            close_writer(&wr); /* the writer's own: no worker touches it */
        return rc;
    }
    stats->restart = 0; /* every stuck thread came back: nothing to end */
    close_writer(&wr);
    pool_free(p);
    free(p);
    return rc;
}

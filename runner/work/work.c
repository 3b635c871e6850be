/* work.c: `drudge work` from start to end: open the store, make the pool's
 * hosts, start the metrics endpoint and the workers, run the writer until
 * drained, aborted or failed, stop the workers, write what is left. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "runner/work/metrics.h"
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
    drudge_audit_writer_free(wr->audit);
    drudge_queue_free(wr->q);
    if (wr->s)
        drudge_store_trim(wr->s); /* the next command need not replay this run's WAL */
    drudge_store_close(wr->s);
}

/* Stops the workers. After an abort, or a failure, running attempts are
 * not recorded: their leases expire and they are retried. Otherwise the
 * outcomes that came in after the writer's last turn are written. */
static drudge_code stop(writer *wr, pool *p, drudge_code rc, int *leaked, drudge_err *err)
{
    drudge_work_stats *stats = wr->stats;
    drudge_err rerr = {0};
    if (writer_release_ready(wr, &rerr) && !rc)
        rc = drudge_seterr(err, rerr.code, "%s", rerr.msg);
    pool_stop(p, rc || stats->aborted, leaked);
    if (*leaked)
        stats->aborted = 1;
    if (!rc && !stats->aborted)
        rc = writer_finish(wr, err);
    return rc;
}

drudge_code drudge_work_run(const drudge_work_opts *opts, drudge_work_stats *stats, drudge_err *err)
{
    pool p;
    writer wr;
    drudge_metrics_server *metrics = NULL;
    int leaked = 0;
    memset(stats, 0, sizeof *stats);
    memset(&wr, 0, sizeof wr);
    drudge_work_signals = 0;
    pool_init(&p, opts);
    drudge_code rc = open_writer(&wr, &p, opts, stats, err);
    if (!rc)
        rc = pool_hosts(&p, err);
    if (!rc && opts->metrics_listen)
        rc = drudge_metrics_serve(opts->db_path, opts->metrics_listen, &metrics, err);
    if (rc)
        goto cleanup;
    rc = pool_start(&p, err);
    if (!rc)
        rc = writer_loop(&wr, err);
    stats->writer_cpu_s = thread_cpu_seconds();
    rc = stop(&wr, &p, rc, &leaked, err);
cleanup:
    drudge_metrics_stop(metrics);
    if (leaked) {
        /* A worker still runs (stuck in a blocking call): its memory and the
         * pool's stay allocated; the caller exits the process right away. */
        return rc;
    }
    close_writer(&wr);
    pool_free(&p);
    return rc;
}

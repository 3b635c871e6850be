/* run.c: `drudge run`: one task now, in the foreground, recorded like a
 * queued one: its task row (running under a lease of the run's own), its
 * steps (flushed early about once a second), its outcome. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "connectors/queue/lqueue.h"
#include "drudge/util.h"
#include "logs/audit/audit.h"
#include "runner/host/version.h"
#include "runner/queue/queue.h"
#include "runner/work/run.h"
#include "runner/work/work.h"

#define GRACE_US ((int64_t)DRUDGE_GRACE_S * 1000000)

/* Early flush, as `drudge work` does it (pool.c): about once a second a
 * long run's closed steps go on the audit chain in a transaction of their
 * own, so a run killed midway (kill -9, power) leaves on the chain what it
 * had done. The watch thread does it (below), off the script's thread, as
 * `drudge work`'s writer thread does for its workers: the append (canonical
 * row, hash, insert) and the commit's fsync were a third of a keep-alive
 * GET's instructions, paid by the script between two requests. Only when
 * there is no watch thread does the script's own hook flush, between two
 * steps. Neither waits for the database: when another process is writing,
 * the steps wait for the next try, at the latest for the final commit. */
typedef struct run_flush {
    drudge_store *s;
    /* The watch thread flushes (set before it starts, cleared after it
     * ends: the script's hook reads it without the lock). */
    int watched;
    /* mu makes the two threads take turns with the store and the pending
     * list (the script's final flush after the watch). */
    pthread_mutex_t mu;
    int64_t next_us;
    drudge_rec **pending; /* taken from the run's recorder, not yet committed */
    size_t npending;
} run_flush;

/* Appends the pending steps in one transaction; wait: through the busy
 * timeout, or not at all. On failure they stay pending, ready to go again. */
static drudge_code flush_pending(run_flush *f, int wait, drudge_err *err)
{
    if (!f->npending)
        return DRUDGE_OK;
    drudge_code rc = drudge_store_begin(f->s, wait ? DRUDGE_TX_WRITE : DRUDGE_TX_TRY, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < f->npending && !rc; i++)
        rc = drudge_audit_append(f->s, f->pending[i], err);
    if (!rc)
        rc = drudge_store_commit(f->s, err);
    if (rc) {
        drudge_store_rollback(f->s);
        for (size_t i = 0; i < f->npending; i++)
            drudge_rec_mark_flushed(f->pending[i], 0);
        return rc;
    }
    for (size_t i = 0; i < f->npending; i++)
        drudge_rec_free(f->pending[i]);
    f->npending = 0;
    return DRUDGE_OK;
}

/* Takes rec's closed steps if a second has passed and tries to append what
 * is pending, without waiting for the database. Called with f->mu held. */
static void flush_due(run_flush *f, drudge_rec *rec)
{
    int64_t due = f->next_us;
    drudge_rec *part = drudge_rec_take_due(rec, &f->next_us);
    if (f->next_us == due)
        return; /* not yet: steps that failed to go wait for the next turn too */
    if (part) {
        f->pending = drudge_xrealloc(f->pending, (f->npending + 1) * sizeof *f->pending);
        f->pending[f->npending++] = part;
    }
    drudge_err err = {0};
    flush_pending(f, 0, &err); /* busy or failing: tried again later */
}

static void run_on_end(drudge_rec *rec, void *ud)
{
    run_flush *f = ud;
    if (f->watched)
        return;
    pthread_mutex_lock(&f->mu);
    flush_due(f, rec);
    pthread_mutex_unlock(&f->mu);
}

/* The run's watch, a thread beside the script's:
 *   - `drudge cancel` of a running task sets cancel_requested on its
 *     `running` row; a worker reads that when it renews its lease, and a
 *     run reads it here, once a second, on a connection of its own (the
 *     main thread's is the script's, for its early flushes);
 *   - the hard ceiling: an attempt still running DRUDGE_GRACE_S after its
 *     timeout passed, or after a cancel reached it, is stuck where neither
 *     can reach (a __gc finalizer, C code): the watch records it, as a
 *     timeout or cancelled, on a connection of its own, and hands it to
 *     o->abandoned, which ends the process (the stuck thread with it). */
typedef struct cancel_watch {
    const drudge_run_opts *o;
    const char *script; /* the script's name */
    const char *worker; /* the run's lease owner */
    int64_t started;    /* when the attempt started (wall clock) */
    int64_t task_id;
    drudge_host *host;
    run_flush *flush; /* the early flush by the clock, from this thread too */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started_th, stop;
    int requested;     /* the run was cancelled (guarded by mu) */
    int64_t cancel_at; /* when (drudge_mono_us) */
} cancel_watch;

static drudge_code finish(drudge_store *s, drudge_rec *rec, const char *worker, int64_t started,
                          drudge_run_result *out, drudge_err *err);

/* Records the stuck attempt and hands it to o->abandoned (never returns). */
static void abandon_run(cancel_watch *w, double timeout_s)
{
    const drudge_run_opts *o = w->o;
    drudge_run_result r = {.task_id = w->task_id, .cancelled = w->requested};
    drudge_buf b = {0};
    if (r.cancelled)
        drudge_buf_printf(&b,
                          "cancelled by an operator; the script did not stop within %d s "
                          "(stuck where a cancel cannot reach it: a __gc finalizer, or C code "
                          "such as a library call)",
                          DRUDGE_GRACE_S);
    else
        drudge_buf_printf(&b,
                          "timeout: the attempt ran longer than %g s and did not stop within %d s "
                          "more (stuck where the timeout cannot reach it: a __gc finalizer, or C "
                          "code such as a library call)",
                          timeout_s, DRUDGE_GRACE_S);
    r.res.outcome = DRUDGE_TIMEOUT;
    r.res.error = drudge_buf_take(&b);
    r.res.duration_us = drudge_now_us() - w->started;
    drudge_err err = {0};
    drudge_store *s = NULL;
    drudge_rec *rec = drudge_rec_new();
    const char *redact = getenv("DRUDGE_REDACT");
    drudge_code rc = DRUDGE_OK;
    if (redact && *redact)
        rc = drudge_rec_load_patterns(rec, redact, &err);
    if (!rc)
        rc = drudge_store_open(o->db_path, 0, &s, &err);
    if (!rc) {
        drudge_audit_root_only(rec, w->task_id, 1, w->script, o->input, o->key, "timeout",
                               r.res.error);
        rc = finish(s, rec, w->worker, w->started, &r, &err);
    }
    o->abandoned(&r, rc ? &err : NULL, o->abandoned_ud);
    _exit(DRUDGE_EXIT_SYSERR); /* o->abandoned does not return */
}

/* When the attempt must be given up (drudge_mono_us), or 0. Called with
 * w->mu held. */
static int64_t hard_limit(cancel_watch *w, double *timeout_s)
{
    int64_t deadline = drudge_host_deadline(w->host, timeout_s);
    int64_t limit = deadline ? deadline + GRACE_US : 0;
    if (w->cancel_at && (!limit || w->cancel_at + GRACE_US < limit))
        limit = w->cancel_at + GRACE_US;
    return limit;
}

static void *cancel_watch_main(void *arg)
{
    cancel_watch *w = arg;
    drudge_store *s = NULL;
    drudge_err err = {0};
    int unwatched = 0; /* the connection could not be opened: no cancel polls */
    int64_t next_poll = drudge_mono_us() + 1000000;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000000L; /* the ceiling is checked 4 times a second */
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        if (w->stop)
            break;
        double timeout_s = 0;
        int64_t limit = hard_limit(w, &timeout_s), now = drudge_mono_us();
        if (limit && now >= limit) {
            pthread_mutex_unlock(&w->mu);
            abandon_run(w, timeout_s);
        }
        /* The early flush: at every tick, so it comes within a quarter
         * second of being due (flush_due does nothing before). */
        pthread_mutex_unlock(&w->mu);
        pthread_mutex_lock(&w->flush->mu);
        flush_due(w->flush, drudge_host_rec(w->host));
        pthread_mutex_unlock(&w->flush->mu);
        pthread_mutex_lock(&w->mu);
        if (w->stop || unwatched || w->requested || now < next_poll)
            continue;
        next_poll = now + 1000000;
        pthread_mutex_unlock(&w->mu);
        /* Opened at the first poll, not at the start: most runs end within
         * the second, and the open (the database's files opened, the schema
         * read and parsed) was 116,000 of a hello-world run's 5.8 million
         * instructions (callgrind), and a thread racing the script's. */
        if (!s && drudge_store_open(w->o->db_path, DRUDGE_STORE_READONLY, &s, &err) != DRUDGE_OK) {
            fprintf(stderr, "drudge run: cannot watch for drudge cancel: %s\n", err.msg);
            unwatched = 1;
        }
        int requested = 0;
        if (s)
            drudge_store_cancel_requested(s, w->task_id, &requested, NULL);
        pthread_mutex_lock(&w->mu);
        if (requested) {
            w->requested = 1;
            w->cancel_at = drudge_mono_us();
            drudge_host_cancel(w->host);
        }
    }
    pthread_mutex_unlock(&w->mu);
    drudge_store_close(s);
    return NULL;
}

static void cancel_watch_start(cancel_watch *w)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->flush->watched = 1; /* before the thread: pthread_create publishes it */
    w->started_th = pthread_create(&w->th, NULL, cancel_watch_main, w) == 0;
    if (!w->started_th) {
        w->flush->watched = 0; /* the script's hook flushes */
        fprintf(stderr, "drudge run: cannot watch for drudge cancel: no thread\n");
    }
}

/* Ends the watch; returns whether the run was cancelled. */
static int cancel_watch_stop(cancel_watch *w)
{
    if (!w->started_th)
        return 0;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    w->started_th = 0;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    return w->requested;
}

/* The run's task: its row, running from the start. */
static drudge_code start(drudge_store *s, const drudge_run_opts *o, const drudge_script_info *info,
                         const char *worker, int64_t *id, drudge_err *err)
{
    char real[PATH_MAX];
    if (!realpath(o->script, real))
        snprintf(real, sizeof real, "%s", o->script);
    char sha[65] = "";
    const drudge_script_version *v = drudge_host_script_version(info);
    if (v) { /* the code that runs, stored before its task names it */
        drudge_code rc = drudge_store_begin(s, DRUDGE_TX_WRITE, err);
        if (!rc)
            rc = drudge_store_put_script_version(s, v, drudge_now_us(), err);
        if (!rc)
            rc = drudge_store_commit(s, err);
        if (rc) {
            drudge_store_rollback(s);
            return rc;
        }
        memcpy(sha, v->sha256, 65);
    }
    drudge_task_spec spec = {.script_sha256 = sha[0] ? sha : NULL,
                             .script = info->name,
                             .script_path = real,
                             .key = o->key,
                             .input = o->input,
                             .max_attempts = info->max_attempts,
                             .manual_minutes = info->manual_minutes,
                             .exception_minutes = info->exception_minutes};
    return drudge_queue_start_adhoc(s, &spec, worker, id, err);
}

/* The outcome and the steps of rec not flushed yet, in one transaction;
 * the run's lease goes with it. The commit is made durable by
 * drudge_store_sync before the run reports it (drudge_run_task): on SQLite
 * the sync of the checkpoint that folds the WAL into the main file, which
 * the close made anyway, covers it, one fsync fewer than a commit synced
 * on its own (6 to 5 for a hello-world run). */
static drudge_code finish(drudge_store *s, drudge_rec *rec, const char *worker, int64_t started,
                          drudge_run_result *out, drudge_err *err)
{
    drudge_queue_opts qo = {.owner = worker};
    drudge_queue *q = drudge_queue_new(s, &qo);
    drudge_claimed t = {.id = out->task_id, .attempt = 1, .max_attempts = 1};
    drudge_completion c = {.task = &t,
                           .worker = worker,
                           .started_us = started,
                           .res = &out->res,
                           .no_retry = 1,
                           .cancelled = out->cancelled};
    const char *state = NULL;
    drudge_code rc = drudge_store_set_durability(s, DRUDGE_DURABILITY_AT_SYNC, err);
    if (!rc)
        rc = drudge_store_begin(s, DRUDGE_TX_WRITE, err);
    if (!rc)
        rc = drudge_queue_complete(q, &c, drudge_now_us(), &state, err);
    if (!rc && !state)
        rc = drudge_seterr(err, DRUDGE_ESTATE, "task #%lld is no longer leased to %s",
                           (long long)out->task_id, worker);
    if (!rc)
        rc = drudge_audit_append_outcome(s, rec, state, err);
    if (!rc)
        rc = drudge_queue_drop_lease(q, err);
    if (!rc)
        rc = drudge_store_commit(s, err);
    if (rc)
        drudge_store_rollback(s);
    /* Durable before the run says how it ended, even if the commit failed
     * (the early flushes' steps). */
    drudge_code src = drudge_store_sync(s, rc ? NULL : err);
    rc = rc ? rc : src;
    if (!rc)
        out->state = state;
    drudge_queue_free(q);
    return rc;
}

/* Runs the attempt with the cancel watch and the early flush; returns the
 * host's own failure, if any (the attempt's is in out->res). */
static drudge_code attempt(drudge_store *s, drudge_host *host, const drudge_run_opts *o,
                           const drudge_script_info *info, run_flush *flush, const char *worker,
                           int64_t started, drudge_run_result *out, drudge_err *err)
{
    cancel_watch watch = {.o = o,
                          .script = info->name,
                          .worker = worker,
                          .started = started,
                          .task_id = out->task_id,
                          .host = host,
                          .flush = flush};
    drudge_task_view view = {
        .id = out->task_id, .key = o->key, .attempt = 1, .input = o->input, .script = info->name};
    flush->s = s;
    flush->next_us = drudge_mono_us() + DRUDGE_REC_FLUSH_US;
    drudge_rec_on_end(drudge_host_rec(host), run_on_end, flush);
    cancel_watch_start(&watch);
    drudge_code rc = drudge_host_run(host, o->script, &view, &out->res, err);
    /* As in a worker: a cancel counts if it is what stopped the script. */
    out->cancelled = cancel_watch_stop(&watch) && out->res.outcome == DRUDGE_CANCELLED;
    /* Steps taken early but not yet committed go first: the final append
     * skips them. */
    if (!rc)
        rc = flush_pending(flush, 1, err);
    return rc;
}

drudge_code drudge_run_task(const drudge_run_opts *o, drudge_run_result *out, drudge_err *err)
{
    drudge_host_opts hopts = {
        .files_dir = o->files_dir, .secrets_file = o->secrets_file, .echo_logs = o->echo_logs};
    const drudge_script_info *info;
    drudge_store *s = NULL;
    run_flush flush = {0};
    memset(out, 0, sizeof *out);
    pthread_mutex_init(&flush.mu, NULL);
    drudge_host *host = drudge_host_new(&hopts, err);
    if (!host)
        return err->code;
    drudge_lqueue_set_db(drudge_host_lua(host), o->db_path);
    drudge_code rc = drudge_host_load(host, o->script, &info, err);
    if (!rc)
        rc = drudge_store_open(o->db_path, 0, &s, err);
    char worker[128], host_name[64] = "localhost";
    gethostname(host_name, sizeof host_name - 1);
    snprintf(worker, sizeof worker, "run@%s:%d", host_name, (int)getpid());
    int64_t started = 0;
    if (!rc)
        rc = start(s, o, info, worker, &out->task_id, err);
    if (!rc) {
        started = drudge_now_us();
        rc = attempt(s, host, o, info, &flush, worker, started, out, err);
    }
    if (!rc)
        rc = finish(s, drudge_host_rec(host), worker, started, out, err);
    for (size_t i = 0; i < flush.npending; i++)
        drudge_rec_free(flush.pending[i]);
    free(flush.pending);
    pthread_mutex_destroy(&flush.mu);
    drudge_host_free(host);
    drudge_store_close(s);
    return rc;
}

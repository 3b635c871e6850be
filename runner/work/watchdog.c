/* watchdog.c: the hard ceiling on an attempt in `drudge work`.
 *
 * The host enforces a script's timeout with an instruction-count hook (and
 * the pattern matcher checks it too, runner/host/pattern.c), but Lua runs
 * __gc finalizers with hooks off, and a connector stuck in a C library
 * never returns to Lua: such an attempt would hold its worker, and its
 * task, forever (its lease renewed all the while). A thread cannot be
 * stopped safely from outside (its Lua state, and any lock a library holds,
 * would be left half-changed), so the watchdog gives the thread up
 * instead: at timeout + DRUDGE_GRACE_S, or DRUDGE_GRACE_S after an
 * operator's cancel reached it, it hands the writer the attempt's outcome
 * (a timeout, or cancelled, with a root step of its own on the chain),
 * moves the worker to the pool's ghosts and starts a fresh worker, with a
 * fresh Lua state, in its slot. The stuck thread's state is never touched
 * again; if its call ever returns, the thread frees what it owns and ends
 * (pool.c, ghost_return).
 *
 * A thread looping in a finalizer burns a CPU until the process ends, so
 * once as many threads are stuck as there are slots the pool drains (no
 * new claims, running attempts finish and are recorded) and the process
 * re-execs itself (cmd_work.c), which ends them all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "drudge/util.h"
#include "runner/work/workint.h"

#define WATCH_EVERY_US 200000
#define GRACE_US       ((int64_t)DRUDGE_GRACE_S * 1000000)

static char *dup_or_null(const char *s)
{
    return s ? drudge_xstrdup(s) : NULL;
}

static void claimed_copy(drudge_claimed *dst, const drudge_claimed *src)
{
    *dst = *src;
    dst->script = dup_or_null(src->script);
    dst->script_path = dup_or_null(src->script_path);
    dst->key = dup_or_null(src->key);
    dst->input = dup_or_null(src->input);
}

/* When w's attempt must be given up (drudge_mono_us), or 0 if it need not
 * be; *timeout_s gets its timeout. Called with p->mu held. */
static int64_t hard_limit(const worker *w, double *timeout_s)
{
    if (!w || !w->current || w->abandoned)
        return 0;
    int64_t deadline = drudge_host_deadline(w->host, timeout_s);
    int64_t limit = deadline ? deadline + GRACE_US : 0;
    if (w->cancel_at && w->cancel_id == w->current->t.id) {
        int64_t c = w->cancel_at + GRACE_US;
        if (!limit || c < limit)
            limit = c;
    }
    return limit;
}

/* The outcome the writer records for an abandoned attempt (without its
 * recorder yet: made outside the lock). */
static job *abandoned_outcome(const worker *w, double timeout_s)
{
    const job *j = w->current;
    job *o = drudge_xmalloc(sizeof *o);
    memset(o, 0, sizeof *o);
    claimed_copy(&o->t, &j->t);
    o->started_us = j->started_us;
    o->ran = 1;
    o->worker = w->idx;
    o->own_rec = 1;
    o->cancelled = w->cancel_at && w->cancel_id == j->t.id;
    o->res.outcome = DRUDGE_TIMEOUT;
    o->res.duration_us = drudge_now_us() - j->started_us;
    drudge_buf b = {0};
    if (o->cancelled)
        drudge_buf_printf(&b,
                          "cancelled by an operator; the script did not stop within %d s "
                          "(stuck where a cancel cannot reach it: a __gc finalizer, or C code "
                          "such as a library call), so its worker thread was abandoned",
                          DRUDGE_GRACE_S);
    else
        drudge_buf_printf(&b,
                          "timeout: the attempt ran longer than %g s and did not stop within %d s "
                          "more (stuck where the timeout cannot reach it: a __gc finalizer, or C "
                          "code such as a library call), so its worker thread was abandoned",
                          timeout_s, DRUDGE_GRACE_S);
    o->res.error = drudge_buf_take(&b);
    return o;
}

/* Detaches w from its slot: from now on its thread owns itself. Called
 * with p->mu held. */
static void abandon(pool *p, worker *w)
{
    w->abandoned = 1;
    w->current = NULL; /* the thread still holds the job: it is its own now */
    pthread_detach(w->th);
    w->started = 0;
    w->next_ghost = p->ghosts;
    p->ghosts = w;
    p->workers[w->idx] = NULL;
    p->stuck++;
    p->abandoned++;
}

/* Records the abandoned attempt o (its root step on the chain) and refills
 * slot idx, outside the lock; then hands o to the writer. */
static void replace(pool *p, int idx, job *o)
{
    o->rec = pool_new_recorder(p);
    drudge_audit_root_only(o->rec, o->t.id, o->t.attempt, o->t.script, o->t.input, o->t.key,
                           "timeout", o->res.error);
    fprintf(stderr, "drudge work: task #%lld: %s\n", (long long)o->t.id, o->res.error);
    pthread_mutex_lock(&p->mu);
    int stopping = p->stopping;
    pthread_mutex_unlock(&p->mu);
    drudge_err err = {0};
    worker *fresh = stopping ? NULL : pool_worker_new(p, idx, &err);
    if (!stopping && !fresh)
        fprintf(stderr, "drudge work: cannot replace worker %d: %s\n", idx + 1, err.msg);

    pthread_mutex_lock(&p->mu);
    pool_to_writer(p, o);
    p->inflight--;
    pthread_cond_broadcast(&p->exit_cv);
    if (fresh && !p->stopping && pool_worker_start(p, fresh, &err) == DRUDGE_OK) {
        p->workers[idx] = fresh;
        fresh = NULL;
    }
    if (p->stuck >= p->nworkers && !p->restart) {
        p->restart = 1;
        if (p->writer_waiting)
            pthread_cond_signal(&p->writer_cv);
    }
    pthread_mutex_unlock(&p->mu);
    if (fresh) {
        drudge_host_free(fresh->host);
        free(fresh);
        pthread_mutex_lock(&p->mu);
        p->created--;
        pthread_mutex_unlock(&p->mu);
    }
}

/* One look at every slot. Called with p->mu held; returns with it held. */
static void sweep(pool *p)
{
    int64_t now = drudge_mono_us();
    for (int k = 0; k < p->nworkers; k++) {
        worker *w = p->workers[k];
        double timeout_s = 0;
        int64_t limit = hard_limit(w, &timeout_s);
        if (!limit || now < limit)
            continue;
        job *o = abandoned_outcome(w, timeout_s);
        abandon(p, w);
        pthread_mutex_unlock(&p->mu);
        replace(p, k, o);
        pthread_mutex_lock(&p->mu);
    }
}

static void *watchdog_main(void *arg)
{
    pool *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->watchdog_stop) {
        sweep(p);
        int64_t wake = drudge_now_us() + WATCH_EVERY_US;
        struct timespec ts = {.tv_sec = (time_t)(wake / 1000000),
                              .tv_nsec = (long)(wake % 1000000) * 1000};
        pthread_cond_timedwait(&p->watchdog_cv, &p->mu, &ts);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

drudge_code watchdog_start(pool *p, drudge_err *err)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int e = pthread_create(&p->watchdog, NULL, watchdog_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0)
        return drudge_seterr(err, DRUDGE_ENOMEM, "cannot start the watchdog thread: %s",
                             strerror(e));
    p->watchdog_started = 1;
    return DRUDGE_OK;
}

void watchdog_stop(pool *p)
{
    if (!p->watchdog_started)
        return;
    pthread_mutex_lock(&p->mu);
    p->watchdog_stop = 1;
    pthread_cond_signal(&p->watchdog_cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->watchdog, NULL);
    p->watchdog_started = 0;
}

/* writer.c: the group-commit writer of `drudge work`. Each turn is one write
 * transaction: the outcomes the workers handed in (task states, attempt
 * rows, audit steps), reaping, lease renewal, cancel requests and claims to
 * refill the ready list. Between turns it waits for a batch of outcomes, a
 * timer or a signal. See workint.h for who owns what. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "drudge/util.h"
#include "runner/work/schedule.h"
#include "runner/work/workint.h"

#define IDLE_POLL_US 250000 /* how often to look for new work when there was none */
/* The same when the store wakes the writer as work comes (PostgreSQL's
 * LISTEN/NOTIFY, on every machine): the poll is only a safety net. */
#define IDLE_WATCHED_US 2000000
#define TICK_US         1000000 /* scheduler tick, reaper, cancel requests */
/* A turn waits for MIN_BATCH outcomes (or half the prefetch, if that is
 * less), for BATCH_WAIT_US at most, unless the workers would run out of
 * claimed tasks first. A commit costs the writer about as much as a dozen
 * outcomes, and turns taken as fast as outcomes came averaged 150 outcomes:
 * waiting for 256 cut commits by a third (1,300-1,600 to 900-1,000 per
 * 200,000 no-op tasks) and raised the lifecycle by 6-15% in paired runs.
 * (pool_init caps the pool's min_batch at 256.) */
#define BATCH_WAIT_US 3000
/* At most this many failed turns in a row before the writer gives up. */
#define MAX_FAILURES 5

volatile sig_atomic_t drudge_work_signals;

void drudge_work_signal(void)
{
    if (drudge_work_signals < 2)
        drudge_work_signals = drudge_work_signals + 1;
}

int drudge_work_signals_pending(void)
{
    return drudge_work_signals > 0;
}

static void tally(writer *wr, job *j)
{
    drudge_work_stats *s = wr->stats;
    if (!j->state) {
        s->lost_results++;
        fprintf(stderr,
                "drudge work: task #%lld: the lease was lost before the outcome was "
                "recorded (another worker has it now); this attempt's result is dropped\n",
                (long long)j->t.id);
        return;
    }
    if (!strcmp(j->state, "done"))
        s->done++;
    else if (!strcmp(j->state, "failed"))
        s->failed++;
    else if (!strcmp(j->state, "dead"))
        s->dead++;
    else if (!strcmp(j->state, "cancelled"))
        s->cancelled++;
    else
        s->retried++;
    if (!wr->opts->verbose)
        return;
    char name[64];
    snprintf(name, sizeof name, "%s", j->t.script);
    if (j->ran && j->res.error)
        fprintf(stderr, "task #%lld %s attempt %d: %s (%s)\n", (long long)j->t.id, name,
                j->t.attempt, j->state, j->res.error);
    else
        fprintf(stderr, "task #%lld %s attempt %d: %s\n", (long long)j->t.id, name, j->t.attempt,
                j->state);
}

/* ---- one turn ---- */

/* What a turn does besides the outcomes. */
typedef struct turn {
    int64_t now;
    int renew, reap, want;
    drudge_claimed *claimed; /* the turn's claims, after it committed */
    size_t nclaimed;
    char **probe_of; /* NULL, or per claim: the target it probes (breaker.c), or NULL */
} turn;

/* The batch's outcomes, after the script versions their roots name, all
 * in one call (a round trip or two on PostgreSQL, whatever the batch's
 * size), then its steps on the chain in the batch's order: early-flushed
 * ones, and those of each attempt whose outcome was recorded (held). */
static drudge_code write_outcomes(writer *wr, int64_t now, drudge_err *err)
{
    pool *p = wr->p;
    size_t n = 0, i = 0;
    for (job *j = wr->batch.head; j; j = j->next)
        n += !j->partial;
    drudge_completion *c = n ? calloc(n, sizeof *c) : NULL;
    const char **state = n ? calloc(n, sizeof *state) : NULL;
    drudge_code rc = DRUDGE_OK;
    if (n && (!c || !state)) {
        rc = drudge_seterr(err, DRUDGE_ENOMEM, "out of memory recording %zu outcomes", n);
        goto cleanup;
    }
    for (size_t k = 0; k < wr->nversions && !rc; k++)
        rc = drudge_store_put_script_version(wr->s, &wr->versions[k], now, err);
    if (rc)
        goto cleanup;
    for (job *j = wr->batch.head; j; j = j->next) {
        if (j->rec)
            drudge_rec_mark_flushed(j->rec, 0); /* again from the start after a rollback */
        if (!j->partial)
            c[i++] = (drudge_completion){.task = &j->t,
                                         .worker = p->names[j->worker],
                                         .started_us = j->started_us,
                                         .res = j->ran ? &j->res : NULL,
                                         .cancelled = j->cancelled};
    }
    if (n)
        rc = drudge_queue_complete_many(wr->q, c, n, now, state, err);
    i = 0;
    for (job *j = wr->batch.head; j && !rc; j = j->next) {
        if (j->partial) { /* steps on the chain: the attempt counts as started */
            rc = drudge_audit_writer_append(wr->audit, j->rec, err);
            if (!rc)
                rc = drudge_queue_mark_started(wr->q, &j->t.id, 1, err);
            continue;
        }
        j->state = state[i++];
        if (j->state && j->ran && j->rec)
            rc = drudge_audit_writer_append_outcome(wr->audit, j->rec, j->state, err);
    }
cleanup:
    free(c);
    free(state);
    return rc;
}

/* Requeues what expired leases held; each lost attempt goes on the chain
 * as its root step. */
static drudge_code reap(writer *wr, int64_t now, drudge_err *err)
{
    drudge_expired *lost = NULL;
    size_t n = 0, unstarted = 0;
    drudge_code rc = drudge_queue_reap(wr->q, now, &lost, &n, &unstarted, err);
    for (size_t i = 0; i < n && !rc; i++) {
        drudge_audit_root_only(wr->lost_rec, lost[i].t.id, lost[i].t.attempt, lost[i].t.script,
                               lost[i].t.input, lost[i].t.key, "lost", DRUDGE_LOST_ERROR);
        rc = drudge_audit_writer_append_outcome(wr->audit, wr->lost_rec,
                                                drudge_queue_lost_state(&lost[i]), err);
    }
    drudge_expired_free_all(lost, n);
    if (!rc && n) {
        wr->stats->reaped += (int64_t)n;
        if (wr->opts->verbose)
            fprintf(stderr, "drudge work: requeued %zu task%s whose lease expired\n", n,
                    n == 1 ? "" : "s");
    }
    if (!rc && unstarted) {
        wr->stats->given_back += (int64_t)unstarted;
        if (wr->opts->verbose)
            fprintf(stderr,
                    "drudge work: gave back %zu task%s an expired lease held that had not "
                    "started (no attempt spent)\n",
                    unstarted, unstarted == 1 ? "" : "s");
    }
    return rc;
}

/* Running attempts to mark started in this turn (drudge_store_mark_started):
 * those that have run DRUDGE_REC_FLUSH_US, and those whose steps go on the
 * chain now. Below that a crash gives a claim back unspent (schema v7). A
 * mark costs one row update per attempt that outlives a turn, not one per
 * task. Called with p->mu held. */
static void collect_marks(writer *wr, int64_t now, int64_t ran_us)
{
    pool *p = wr->p;
    wr->nmarks = 0;
    for (int k = 0; k < p->nworkers; k++) {
        worker *w = p->workers[k];
        job *j = w ? w->current : NULL;
        if (!j || w->marked_id == j->t.id || now - j->started_us < ran_us)
            continue;
        wr->mark_ids[wr->nmarks] = j->t.id;
        wr->mark_slots[wr->nmarks++] = k;
    }
}

/* After the turn committed: the marked attempts need no mark again. */
static void marks_done(writer *wr)
{
    pool *p = wr->p;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < wr->nmarks; i++) {
        worker *w = p->workers[wr->mark_slots[i]];
        if (w && w->current && w->current->t.id == wr->mark_ids[i])
            w->marked_id = wr->mark_ids[i];
    }
    pthread_mutex_unlock(&p->mu);
    wr->nmarks = 0;
}

/* Renewal (or, on reaping turns, only the cancel requests) and claims. */
static drudge_code renew_and_claim(writer *wr, turn *t, drudge_err *err)
{
    drudge_code rc = DRUDGE_OK;
    if (t->renew)
        rc = drudge_queue_renew(wr->q, t->now, wr->cancel_ids, MAX_CANCELS, &wr->ncancel, err);
    else if (t->reap)
        rc = drudge_queue_cancel_requests(wr->q, wr->cancel_ids, MAX_CANCELS, &wr->ncancel, err);
    if (!rc && t->want > 0)
        rc = drudge_queue_claim(wr->q, t->now, t->want, &t->claimed, &t->nclaimed, err);
    if (!rc && t->want > 0)
        rc = breakers_probe(wr, t->now, &t->claimed, &t->nclaimed, &t->probe_of, err);
    return rc;
}

/* One write transaction: outcomes, reaping, renewal, claims. On success the
 * claimed tasks are in t; on failure nothing happened. */
static drudge_code write_turn(writer *wr, turn *t, drudge_err *err)
{
    t->claimed = NULL;
    t->nclaimed = 0;
    t->probe_of = NULL;
    drudge_code rc = drudge_store_begin(wr->s, DRUDGE_TX_WRITE, err);
    if (rc)
        return rc;
    /* Before the writer's appends carry the chain head along: the breaker
     * steps read and move it themselves. */
    rc = breakers_write(wr, t->now, err);
    drudge_audit_writer_begin(wr->audit);
    if (!rc)
        rc = write_outcomes(wr, t->now, err);
    if (!rc)
        rc = drudge_queue_mark_started(wr->q, wr->mark_ids, wr->nmarks, err);
    if (!rc && t->reap)
        rc = reap(wr, t->now, err);
    if (!rc)
        rc = renew_and_claim(wr, t, err);
    if (!rc)
        rc = drudge_store_commit(wr->s, err);
    if (rc) {
        drudge_store_rollback(wr->s);
        breakers_rolled_back(wr);
        for (size_t i = 0; t->probe_of && i < t->nclaimed; i++)
            free(t->probe_of[i]);
        free(t->probe_of);
        t->probe_of = NULL;
        drudge_claimed_free_all(t->claimed, t->nclaimed);
        t->claimed = NULL;
        t->nclaimed = 0;
        wr->ncancel = 0;
    } else {
        breakers_committed(wr);
    }
    return rc;
}

/* ---- after a commit ---- */

/* Recorders back to the pool (once per batch), jobs tallied and freed. */
static void retire_batch(writer *wr)
{
    pool *p = wr->p;
    joblist done = wr->batch;
    memset(&wr->batch, 0, sizeof wr->batch);
    pthread_mutex_lock(&p->mu);
    for (job *j = done.head; j; j = j->next)
        if (j->rec && !j->partial && !j->own_rec)
            p->recs[p->nrecs++] = j->rec;
    if (p->rec_waiting)
        pthread_cond_broadcast(&p->rec_cv);
    pthread_mutex_unlock(&p->mu);
    job *j = list_pop(&done);
    for (; j; j = list_pop(&done)) {
        if (j->partial || j->own_rec)
            drudge_rec_free(j->rec); /* not one of the pool's recorders */
        else
            tally(wr, j);
        job_free(j);
    }
}

/* An operator's cancel request: a task not started yet is recorded as
 * cancelled next turn; a running one is stopped (its attempt ends as a
 * timeout, which the worker records as cancelled). Called with p->mu held. */
static void deliver_cancel(writer *wr, int64_t id)
{
    pool *p = wr->p;
    job *j = list_take(&p->ready, id);
    if (j) {
        j->cancelled = 1;
        list_push(&wr->cancelled, j);
        return;
    }
    for (int k = 0; k < p->nworkers; k++) {
        worker *w = p->workers[k];
        if (w && w->current && w->current->t.id == id) {
            /* The request comes again every second until the attempt ends;
             * the watchdog's grace counts from the first. */
            if (w->cancel_id != id || !w->cancel_at)
                w->cancel_at = drudge_mono_us();
            w->cancel_id = id;
            drudge_host_cancel(w->host);
        }
    }
}

/* Claims to the ready list, cancel requests delivered. */
static void hand_out(writer *wr, drudge_claimed *claimed, size_t nclaimed, char **probe_of)
{
    pool *p = wr->p;
    wr->stats->claimed += (int64_t)nclaimed;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < nclaimed; i++) {
        job *j = drudge_xmalloc(sizeof *j);
        memset(j, 0, sizeof *j);
        j->t = claimed[i];
        j->probe = probe_of ? probe_of[i] : NULL;
        list_push(&p->ready, j);
    }
    if (nclaimed && p->workers_waiting)
        pthread_cond_broadcast(&p->work_cv);
    for (size_t i = 0; i < wr->ncancel; i++)
        deliver_cancel(wr, wr->cancel_ids[i]);
    wr->ncancel = 0;
    pthread_mutex_unlock(&p->mu);
    free(claimed);
    free(probe_of);
}

static void after_commit(writer *wr, turn *t)
{
    marks_done(wr);
    for (size_t i = 0; i < wr->nversions; i++)
        drudge_script_version_clear(&wr->versions[i]);
    wr->nversions = 0;
    wr->last_batch = (int)wr->batch.n;
    wr->stats->commits++;
    retire_batch(wr);
    hand_out(wr, t->claimed, t->nclaimed, t->probe_of);
    t->claimed = NULL;
    t->nclaimed = 0;
    t->probe_of = NULL;
}

drudge_code writer_mark_running(writer *wr, drudge_err *err)
{
    pthread_mutex_lock(&wr->p->mu);
    collect_marks(wr, drudge_now_us(), 0);
    pthread_mutex_unlock(&wr->p->mu);
    if (!wr->nmarks)
        return DRUDGE_OK;
    drudge_code rc = drudge_store_begin(wr->s, DRUDGE_TX_WRITE, err);
    if (!rc)
        rc = drudge_queue_mark_started(wr->q, wr->mark_ids, wr->nmarks, err);
    if (!rc)
        rc = drudge_store_commit(wr->s, err);
    if (rc)
        drudge_store_rollback(wr->s);
    wr->nmarks = 0;
    return rc;
}

drudge_code writer_release_ready(writer *wr, drudge_err *err)
{
    pool *p = wr->p;
    pthread_mutex_lock(&p->mu);
    joblist l = p->ready;
    memset(&p->ready, 0, sizeof p->ready);
    for (job *j = list_pop(&p->held); j; j = list_pop(&p->held))
        list_push(&l, j);
    pthread_mutex_unlock(&p->mu);
    if (!l.head)
        return DRUDGE_OK;
    drudge_code rc = drudge_store_begin(wr->s, DRUDGE_TX_WRITE, err);
    for (job *j = l.head; j && !rc; j = j->next)
        rc = drudge_queue_release(wr->q, &j->t, err);
    if (!rc)
        rc = drudge_store_commit(wr->s, err);
    if (rc)
        drudge_store_rollback(wr->s);
    list_free(&l, 0);
    return rc;
}

/* ---- the loop ---- */

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static void cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t wall_us)
{
    struct timespec ts = {.tv_sec = (time_t)(wall_us / 1000000),
                          .tv_nsec = (long)(wall_us % 1000000) * 1000};
    pthread_cond_timedwait(cv, mu, &ts);
}

/* The loop's timers and state between turns. */
typedef struct clocks {
    int64_t renew_every, next_renew, next_reap, next_tick, next_claim, next_checkpoint;
    int64_t idle_poll; /* IDLE_POLL_US, or IDLE_WATCHED_US with wake-ups */
    int prefetch_max, min_want, draining, failures;
    int64_t batch_since; /* when the oldest outcome not yet written came in */
} clocks;

static void clocks_init(writer *wr, clocks *k)
{
    const drudge_work_opts *o = wr->opts;
    int64_t lease = o->lease_us > 0 ? o->lease_us : 60 * (int64_t)1000000;
    int64_t now = drudge_now_us();
    memset(k, 0, sizeof *k);
    /* Renewals rewrite every lease this process holds, so they come at a
     * third of the lease; cancel requests are read with each reap, every second. */
    k->renew_every = lease / 3;
    k->next_renew = now + k->renew_every;
    k->next_reap = k->next_tick = k->next_claim = now;
    k->next_checkpoint = o->checkpoint_key ? now + o->checkpoint_every_us : INT64_MAX;
    k->prefetch_max = o->prefetch > 0 ? o->prefetch : MAX_PREFETCH;
    k->min_want = 2 * wr->p->nworkers;
    k->idle_poll = IDLE_POLL_US;
}

/* How many tasks to claim now. Enough claimed ahead to keep the workers busy
 * through the next turn and its fsync: four turns' worth of outcomes, since
 * claims reach the ready list only after their commit. With twice a turn's
 * worth (and at most 512) the ready list ran dry during each turn, every
 * outcome after that woke a turn of its own, and a no-op backlog took
 * 820-1,080 commits per 200,000 tasks at 36,600-42,100 tasks/s; with four
 * times (at most 1,024), 400-440 commits at 45,900-47,400 (paired rounds,
 * -j 2). Called with p->mu held; *target gets the prefetch aimed at. */
static int claims_wanted(writer *wr, const clocks *k, int64_t now, int *target)
{
    pool *p = wr->p;
    int t = 4 * wr->last_batch + p->nworkers;
    if (t < k->min_want)
        t = k->min_want;
    if (t > k->prefetch_max)
        t = k->prefetch_max;
    *target = t;
    return k->draining || now < k->next_claim ? 0 : t - (int)p->ready.n;
}

/* Whether a turn is due now. Called with p->mu held. */
static int turn_due(writer *wr, clocks *k, int64_t now, int want, int target, int sig)
{
    pool *p = wr->p;
    int have = (int)p->ready.n;
    /* Claim alone (a commit of its own) only when the ready list runs low;
     * otherwise top it up with the next batch of outcomes. */
    int claim_now = want > 0 && have <= target / 2;
    if (!p->done.head)
        k->batch_since = 0;
    else if (!k->batch_since)
        k->batch_since = now;
    int batch_due = p->done.head && ((int)p->done.n >= p->min_batch || !have || k->draining ||
                                     now >= k->batch_since + BATCH_WAIT_US);
    return batch_due || wr->cancelled.head || claim_now || now >= k->next_renew || p->fatal ||
           (p->restart && !k->draining) || now >= k->next_reap || now >= k->next_tick ||
           drudge_work_signals != sig || (k->draining && !p->inflight);
}

/* Waits until a turn is due; *want gets the claims to make. Called with
 * p->mu held. */
static int64_t wait_for_turn(writer *wr, clocks *k, int sig, int *want)
{
    pool *p = wr->p;
    for (;;) {
        int64_t now = drudge_now_us();
        int target;
        if (wr->woken) { /* the store says work came: claim now */
            wr->woken = 0;
            k->next_claim = now;
        }
        *want = claims_wanted(wr, k, now, &target);
        if (turn_due(wr, k, now, *want, target, sig))
            return now;
        int64_t until = min64(k->next_renew, min64(k->next_reap, k->next_tick));
        /* A claim whose time has come but that is not due (the ready list
         * is not low yet) waits for a worker's outcome to wake the writer:
         * counting its past time here made the wait return at once, and the
         * writer spun on the mutex, taking a core from a lone worker. */
        if (*want > 0 && k->next_claim > now)
            until = min64(until, k->next_claim);
        if (k->batch_since)
            until = min64(until, k->batch_since + BATCH_WAIT_US);
        p->writer_waiting = 1;
        cond_wait_until(&p->writer_cv, &p->mu, min64(until, now + 200000));
        p->writer_waiting = 0;
    }
}

/* --until-empty: stop when the last claim found nothing and nothing is left
 * (ready and inflight as they were before the turn). */
static drudge_code check_empty(writer *wr, int64_t now, size_t ready, int inflight, int *empty,
                               drudge_err *err)
{
    *empty = 0;
    if (!wr->opts->until_empty || ready || inflight || pool_busy(wr->p))
        return DRUDGE_OK;
    int idle = 0;
    drudge_code rc = drudge_queue_idle(wr->q, now, &idle, err);
    *empty = !rc && idle;
    return rc;
}

/* Runs a turn and what follows it; *stop = 1 when --until-empty is met. */
static drudge_code take_turn(writer *wr, clocks *k, turn *t, size_t ready, int inflight, int *stop,
                             drudge_err *err)
{
    *stop = 0;
    drudge_code rc = write_turn(wr, t, err);
    if (rc) {
        /* Nothing was written; keep the batch and try again, unless the
         * database keeps refusing. */
        if (++k->failures >= MAX_FAILURES)
            return rc;
        fprintf(stderr, "drudge work: %s (retrying)\n", err->msg);
        usleep(200000 * (useconds_t)k->failures);
        return DRUDGE_OK;
    }
    k->failures = 0;
    int claimed_nothing = t->want > 0 && t->nclaimed == 0;
    after_commit(wr, t);
    rc = breakers_release_held(wr, err);
    if (rc)
        return rc;
    if (t->renew)
        k->next_renew = t->now + k->renew_every;
    if (t->reap)
        k->next_reap = t->now + TICK_US;
    if (claimed_nothing)
        k->next_claim = t->now + k->idle_poll;
    if (claimed_nothing) {
        rc = check_empty(wr, t->now, ready, inflight, stop, err);
        if (rc || *stop)
            return rc;
    }
    /* --until-empty: when the last claim found nothing and these were the
     * last outcomes, look again at once rather than after the idle poll,
     * which added a quarter second or more to the end of a run. Only after a
     * turn with outcomes, so an empty queue is not polled in a loop. */
    if (wr->opts->until_empty && wr->last_batch > 0 && t->now < k->next_claim && !pool_busy(wr->p))
        k->next_claim = t->now;
    return DRUDGE_OK;
}

/* Signs the chain head (nothing is written if it has not moved) and runs
 * the schedules, when their time has come. */
static void periodic(writer *wr, clocks *k, int64_t now)
{
    if (now >= k->next_checkpoint) {
        drudge_err cerr = {0};
        k->next_checkpoint = now + wr->opts->checkpoint_every_us;
        if (drudge_audit_checkpoint(wr->s, wr->opts->checkpoint_key, &cerr) != DRUDGE_OK)
            fprintf(stderr, "drudge work: checkpoint: %s\n", cerr.msg);
    }
    if (now >= k->next_tick) {
        drudge_err terr = {0};
        k->next_tick = now + TICK_US;
        if (drudge_scheduler_tick(wr->s, now, &terr) != DRUDGE_OK) {
            drudge_store_rollback(wr->s);
            if (!wr->tick_warned++)
                fprintf(stderr, "drudge work: schedules: %s\n", terr.msg);
        }
    }
}

/* Early flush by the clock: every turn (at least one a second), the
 * closed steps of attempts that have run a second since their last
 * flush, even if no step of theirs has ended since (a worker blocked in a
 * long call). After the outcomes taken from p->done: an attempt still
 * running has no outcome there, and an earlier partial of it goes first.
 * Called with p->mu held, which keeps each worker's recorder its own
 * until the turn's jobs are in the batch. */
static void take_running(writer *wr)
{
    pool *p = wr->p;
    for (int k = 0; k < p->nworkers; k++) {
        worker *w = p->workers[k];
        /* an abandoned attempt is on the chain already (the watchdog's) */
        if (!w || w->abandoned || !w->current)
            continue;
        drudge_rec *part = drudge_rec_take_due(drudge_host_rec(w->host), &w->flush_at);
        if (part)
            list_push(&wr->batch, partial_job(part, w->idx));
    }
}

/* The script versions workers loaded since the last turn (p->mu held). */
static void take_versions(writer *wr)
{
    pool *p = wr->p;
    if (!p->nversions)
        return;
    wr->versions =
        drudge_xrealloc(wr->versions, (wr->nversions + p->nversions) * sizeof *wr->versions);
    memcpy(wr->versions + wr->nversions, p->versions, p->nversions * sizeof *p->versions);
    wr->nversions += p->nversions;
    p->nversions = 0;
}

/* Reacts to SIGINT/SIGTERM: the first drains (claims that did not start go
 * back), the second aborts (running attempts are dropped: their leases
 * expire and they are retried). *stop when the loop must end. */
static drudge_code on_signals(writer *wr, clocks *k, int sig, int *stop, drudge_err *err)
{
    *stop = 0;
    if (sig >= 1 && !k->draining) {
        k->draining = 1;
        drudge_code rc = writer_release_ready(wr, err);
        if (rc)
            return rc;
    }
    if (sig >= 2) {
        wr->stats->aborted = 1;
        pool_cancel_running(wr->p);
        *stop = 1;
    }
    return DRUDGE_OK;
}

/* The watchdog found as many stuck threads as slots: drain like a signal
 * would (the caller then re-execs the process, which ends those threads). */
static drudge_code on_restart(writer *wr, clocks *k, drudge_err *err)
{
    pool *p = wr->p;
    pthread_mutex_lock(&p->mu);
    int restart = p->restart;
    pthread_mutex_unlock(&p->mu);
    if (!restart || k->draining)
        return DRUDGE_OK;
    k->draining = 1;
    wr->stats->restart = 1;
    return writer_release_ready(wr, err);
}

/* Called by the store, from a thread of its own, when work may have come. */
static void wake_writer(void *ud)
{
    writer *wr = ud;
    pthread_mutex_lock(&wr->p->mu);
    wr->woken = 1;
    if (wr->p->writer_waiting)
        pthread_cond_signal(&wr->p->writer_cv);
    pthread_mutex_unlock(&wr->p->mu);
}

static drudge_code loop(writer *wr, clocks *kp, drudge_err *err);

drudge_code writer_loop(writer *wr, drudge_err *err)
{
    clocks k;
    int watching = 0;
    drudge_err werr = {0};
    clocks_init(wr, &k);
    if (drudge_store_watch(wr->s, wake_writer, wr, &watching, &werr) != DRUDGE_OK)
        fprintf(stderr, "drudge work: %s (polling instead)\n", werr.msg);
    if (watching)
        k.idle_poll = IDLE_WATCHED_US;
    drudge_code rc = loop(wr, &k, err);
    drudge_store_watch(wr->s, NULL, NULL, &watching, &werr); /* no wake-ups once we return */
    return rc;
}

static drudge_code loop(writer *wr, clocks *kp, drudge_err *err)
{
    pool *p = wr->p;
    clocks k = *kp;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int fatal = p->fatal;
        pthread_mutex_unlock(&p->mu);
        if (fatal)
            return drudge_seterr(err, DRUDGE_EIO, "redaction patterns: %s", p->fatal_msg);
        int sig = drudge_work_signals, stop = 0;
        drudge_code rc = on_signals(wr, &k, sig, &stop, err);
        if (rc || stop)
            return rc;
        rc = on_restart(wr, &k, err);
        if (rc)
            return rc;

        turn t = {0};
        pthread_mutex_lock(&p->mu);
        t.now = wait_for_turn(wr, &k, sig, &t.want);
        job *j = list_pop(&p->done);
        for (; j; j = list_pop(&p->done))
            list_push(&wr->batch, j);
        take_running(wr);
        take_versions(wr);
        int inflight = p->inflight;
        size_t ready = p->ready.n;
        collect_marks(wr, t.now, DRUDGE_REC_FLUSH_US);
        pthread_mutex_unlock(&p->mu);
        j = list_pop(&wr->cancelled);
        for (; j; j = list_pop(&wr->cancelled))
            list_push(&wr->batch, j);

        if (k.draining && !inflight && !wr->batch.head)
            return DRUDGE_OK;
        t.renew = t.now >= k.next_renew;
        t.reap = t.now >= k.next_reap;
        if (wr->batch.head || t.renew || t.reap || t.want > 0 || wr->nmarks) {
            rc = take_turn(wr, &k, &t, ready, inflight, &stop, err);
            if (rc || stop)
                return rc;
        }
        periodic(wr, &k, t.now);
    }
}

drudge_code writer_finish(writer *wr, drudge_err *err)
{
    pool *p = wr->p;
    job *j = list_pop(&p->done);
    for (; j; j = list_pop(&p->done))
        list_push(&wr->batch, j);
    take_versions(wr);
    if (wr->batch.head || wr->nversions) {
        turn t = {.now = drudge_now_us()};
        drudge_code rc = write_turn(wr, &t, err);
        if (rc)
            return rc;
        after_commit(wr, &t);
    }
    /* Nothing of ours runs any more: the lease goes (autocommit). */
    drudge_code rc = drudge_queue_drop_lease(wr->q, err);
    /* A drained worker signs the head it leaves behind. */
    if (!rc && wr->opts->checkpoint_key)
        rc = drudge_audit_checkpoint(wr->s, wr->opts->checkpoint_key, err);
    return rc;
}

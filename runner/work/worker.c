/* worker.c: the worker pool and the group-commit writer behind `drudge work`.
 *
 * Threads and what they own:
 *   - N workers, each with a drudge_host. A worker takes a claimed task from
 *     the ready list, runs one attempt, swaps a fresh recorder into its host
 *     and hands the attempt (result + old recorder) to the writer. It never
 *     waits for a commit, only for a free recorder when the writer is far
 *     behind (back-pressure).
 *   - The writer (the thread that calls drudge_work_run) owns the one
 *     connection that changes the queue. Each turn of its loop is one write
 *     transaction: every attempt handed in since the last turn (attempt row,
 *     task state, audit steps), lease renewals and cancel requests, the reaping
 *     of expired leases, and claims to refill the ready list. A task counts
 *     as finished only after that commit (synchronous=FULL by default), so a
 *     kill -9 at any moment loses at most uncommitted work, whose leases
 *     expire and come back as "lost" attempts; the audit chain is only ever
 *     extended inside those transactions, so it never breaks.
 * One mutex guards the lists; it is never held across SQLite or Lua calls. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include "runner/store/db.h"
#include "drudge/host.h"
#include "runner/queue/queue.h"
#include "runner/work/schedule.h"
#include "drudge/util.h"
#include "logs/audit/audit.h"
#include "runner/work/work.h"

#define MAX_PREFETCH 1024
#define MAX_RECS     4096    /* recorders in flight: bounds the writer's backlog */
#define IDLE_POLL_US 250000  /* how often to look for new work when there was none */
#define TICK_US      1000000 /* scheduler tick, reaper, cancel requests */
#define MAX_CANCELS  256
/* A turn waits for MIN_BATCH outcomes (or half the prefetch, if that is
 * less), for BATCH_WAIT_US at most, unless the workers would run out of
 * claimed tasks first. A commit costs the writer about as much as a dozen
 * outcomes, and turns taken as fast as outcomes came averaged 150 outcomes:
 * waiting for 256 cut commits by a third (1,300-1,600 to 900-1,000 per
 * 200,000 no-op tasks) and raised the lifecycle by 6-15% in paired runs. */
#define MIN_BATCH     256
#define BATCH_WAIT_US 3000

static volatile sig_atomic_t work_signals;

void drudge_work_signal(void)
{
    if (work_signals < 2)
        work_signals = work_signals + 1;
}

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

typedef struct pool pool;

typedef struct worker {
    pool *p;
    int idx;
    pthread_t th;
    int started;
    drudge_host *host;
    job *current;      /* guarded by p->mu */
    int64_t cancel_id; /* the task an operator cancelled while it ran */
    sqlite3 *ro;       /* read-only, opened for the first retry: task.previous */
    int64_t flush_at;  /* when the running attempt next hands its closed steps over */
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
    int min_batch; /* outcomes worth waking the writer for (see MIN_BATCH) */
    worker *workers;
    int nworkers;
    char owner[160];
    int fatal; /* a worker cannot go on safely: stop, recording nothing more */
    char fatal_msg[1024];
};

static void list_push(joblist *l, job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    l->n++;
}

static job *list_pop(joblist *l)
{
    job *j = l->head;
    if (j) {
        l->head = j->next;
        if (!l->head)
            l->tail = NULL;
        l->n--;
        j->next = NULL;
    }
    return j;
}

/* Removes the job for task id from l, or returns NULL. */
static job *list_take(joblist *l, int64_t id)
{
    job *prev = NULL;
    for (job *j = l->head; j; prev = j, j = j->next) {
        if (j->t.id != id)
            continue;
        if (prev)
            prev->next = j->next;
        else
            l->head = j->next;
        if (l->tail == j)
            l->tail = prev;
        l->n--;
        j->next = NULL;
        return j;
    }
    return NULL;
}

static void job_free(job *j)
{
    drudge_claimed_free(&j->t);
    drudge_result_clear(&j->res);
    free(j);
}

static void append_input_json(drudge_buf *b, const drudge_claimed *t)
{
    drudge_buf_puts(b, "{\"input\":");
    drudge_buf_puts(b, t->input ? t->input : "null");
    if (t->key) {
        drudge_buf_puts(b, ",\"key\":");
        drudge_buf_json_str(b, t->key, strlen(t->key));
    }
    drudge_buf_puts(b, "}");
}

/* Hands j to the writer; the caller holds p->mu. The writer is woken by the
 * first outcome of a batch (it starts the wait), by the one that completes
 * it, and by any once the workers run dry; not by every one, which would
 * wake it hundreds of times a turn. */
static void to_writer(pool *p, job *j)
{
    list_push(&p->done, j);
    if (p->writer_waiting && (p->done.n == 1 || (int)p->done.n >= p->min_batch || !p->ready.head))
        pthread_cond_signal(&p->writer_cv);
}

/* Anything handed out and not yet written: claimed tasks waiting or running,
 * outcomes not yet taken by the writer. */
static int pool_busy(pool *p)
{
    pthread_mutex_lock(&p->mu);
    int busy = p->inflight || p->ready.head || p->done.head;
    pthread_mutex_unlock(&p->mu);
    return busy;
}

/* drudge_rec_on_end hook of the running attempt's recorder (worker
 * thread): at most every DRUDGE_REC_FLUSH_US, the steps closed so far go
 * to the writer as a partial job, appended to the chain in its next turn. */
static void early_flush(drudge_rec *rec, void *ud)
{
    worker *w = ud;
    drudge_rec *part = drudge_rec_take_due(rec, &w->flush_at);
    if (!part)
        return;
    job *j = drudge_xmalloc(sizeof *j);
    memset(j, 0, sizeof *j);
    j->partial = 1;
    j->rec = part;
    j->worker = w->idx;
    j->t.id = drudge_rec_task(part);
    j->t.attempt = drudge_rec_attempt(part);
    pool *p = w->p;
    pthread_mutex_lock(&p->mu);
    to_writer(p, j);
    pthread_mutex_unlock(&p->mu);
}

/* Runs one attempt of j on w's host. */
static void run_job(worker *w, job *j)
{
    drudge_task_view view = {.id = j->t.id,
                             .key = j->t.key,
                             .attempt = j->t.attempt,
                             .input = j->t.input,
                             .script = j->t.script};
    drudge_err err = {0};
    char *previous = NULL;
    /* A retry sees what its earlier attempts recorded (task.previous); their
     * rows were committed before the task was requeued. */
    if (j->t.attempt > 1) {
        drudge_code prc =
            w->ro ? DRUDGE_OK
                  : drudge_db_open(w->p->opts->db_path, DRUDGE_DB_READONLY, &w->ro, &err);
        if (!prc)
            prc = drudge_previous_attempts(w->ro, j->t.id, j->t.attempt, &previous, &err);
        if (prc && !w->ro_warned++)
            fprintf(stderr, "drudge work: task.previous unavailable: %s\n", err.msg);
        view.previous = previous;
    }
    w->flush_at = drudge_mono_us() + DRUDGE_REC_FLUSH_US;
    drudge_rec_on_end(drudge_host_rec(w->host), early_flush, w);
    j->started_us = drudge_now_us();
    j->ran = 1;
    drudge_code hrc = drudge_host_run(w->host, j->t.script_path, &view, &j->res, &err);
    free(previous);
    if (hrc == DRUDGE_OK)
        return;
    /* The script could not be loaded (moved, broken since it was enqueued):
     * a system error of this attempt, recorded like any other. */
    drudge_rec *rec = drudge_host_rec(w->host);
    drudge_buf b = {0};
    drudge_rec_reset(rec, j->t.id, j->t.attempt);
    append_input_json(&b, &j->t);
    int seq = drudge_rec_begin(rec, "task", j->t.script, b.data);
    drudge_rec_end(rec, seq, "error", NULL, err.msg);
    drudge_buf_free(&b);
    drudge_result_clear(&j->res);
    j->res.outcome = DRUDGE_ERROR;
    j->res.error = drudge_xstrdup(err.msg);
}

/* A recorder configured like the hosts' own: the redaction patterns are
 * per recorder, and a recorder without them would record what they hide. If
 * the patterns cannot be loaded now, the pool stops (p->fatal). */
static drudge_rec *new_recorder(pool *p)
{
    drudge_rec *r = drudge_rec_new();
    const char *path = p->opts->redact_file ? p->opts->redact_file : getenv("DRUDGE_REDACT");
    drudge_err err = {0};
    if (path && *path && drudge_rec_load_patterns(r, path, &err) != DRUDGE_OK) {
        pthread_mutex_lock(&p->mu);
        if (!p->fatal) {
            p->fatal = 1;
            snprintf(p->fatal_msg, sizeof p->fatal_msg, "%s", err.msg);
        }
        if (p->writer_waiting)
            pthread_cond_signal(&p->writer_cv);
        pthread_mutex_unlock(&p->mu);
    }
    return r;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pool *p = w->p;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->ready.head && !p->stopping) {
            p->workers_waiting++;
            pthread_cond_wait(&p->work_cv, &p->mu);
            p->workers_waiting--;
        }
        job *j = list_pop(&p->ready);
        if (!j)
            break;
        w->current = j;
        p->inflight++;
        pthread_mutex_unlock(&p->mu);

        run_job(w, j);

        pthread_mutex_lock(&p->mu);
        while (!p->nrecs && p->created >= MAX_RECS) {
            p->rec_waiting++;
            pthread_cond_wait(&p->rec_cv, &p->mu);
            p->rec_waiting--;
        }
        drudge_rec *fresh = NULL;
        if (p->nrecs)
            fresh = p->recs[--p->nrecs];
        else
            p->created++;
        if (!fresh) {
            pthread_mutex_unlock(&p->mu);
            fresh = new_recorder(p);
            pthread_mutex_lock(&p->mu);
        }
        j->rec = drudge_host_swap_rec(w->host, fresh);
        j->worker = w->idx;
        j->cancelled = w->cancel_id == j->t.id && j->res.outcome == DRUDGE_TIMEOUT;
        w->cancel_id = 0;
        w->current = NULL;
        p->inflight--;
        to_writer(p, j);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- the writer ---- */

typedef struct writer {
    pool *p;
    drudge_queue *q;
    sqlite3 *db;
    const drudge_work_opts *opts;
    drudge_work_stats *stats;
    joblist batch;     /* completions in this transaction */
    joblist cancelled; /* unstarted tasks an operator cancelled: recorded next turn */
    int64_t cancel_ids[MAX_CANCELS];
    size_t ncancel;
    int last_batch; /* completions in the last transaction */
    int tick_warned;
} writer;

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
    if (wr->opts->verbose) {
        char name[64];
        snprintf(name, sizeof name, "%s", j->t.script);
        if (j->ran && j->res.error)
            fprintf(stderr, "task #%lld %s attempt %d: %s (%s)\n", (long long)j->t.id, name,
                    j->t.attempt, j->state, j->res.error);
        else
            fprintf(stderr, "task #%lld %s attempt %d: %s\n", (long long)j->t.id, name,
                    j->t.attempt, j->state);
    }
}

/* One write transaction: outcomes, reaping, renewal, claims. On success the
 * claimed tasks are in *claimed; on failure nothing happened. */
static drudge_code write_turn(writer *wr, int64_t now, int renew, int reap, int want,
                              drudge_claimed **claimed, size_t *nclaimed, drudge_err *err)
{
    pool *p = wr->p;
    drudge_code rc = drudge_db_begin(wr->db, err);
    *claimed = NULL;
    *nclaimed = 0;
    if (rc)
        return rc;
    drudge_queue_begin_turn(wr->q);
    for (job *j = wr->batch.head; j && !rc; j = j->next) {
        if (j->partial) {
            drudge_rec_mark_flushed(j->rec, 0); /* again from the start after a rollback */
            rc = drudge_queue_append_steps(wr->q, j->rec, err);
            continue;
        }
        drudge_completion c = {.task = &j->t,
                               .worker = p->workers[j->worker].name,
                               .started_us = j->started_us,
                               .res = j->ran ? &j->res : NULL,
                               .cancelled = j->cancelled,
                               .rec = j->rec};
        if (j->rec)
            drudge_rec_mark_flushed(j->rec, 0); /* again from the start after a rollback */
        rc = drudge_queue_complete(wr->q, &c, now, &j->state, err);
    }
    if (!rc && reap) {
        int n = 0;
        rc = drudge_queue_reap(wr->q, now, &n, err);
        if (!rc && n) {
            wr->stats->reaped += n;
            if (wr->opts->verbose)
                fprintf(stderr, "drudge work: requeued %d task%s whose lease expired\n", n,
                        n == 1 ? "" : "s");
        }
    }
    if (!rc && renew)
        rc = drudge_queue_renew(wr->q, now, wr->cancel_ids, MAX_CANCELS, &wr->ncancel, err);
    else if (!rc && reap)
        rc = drudge_queue_cancel_requests(wr->q, wr->cancel_ids, MAX_CANCELS, &wr->ncancel, err);
    if (!rc && want > 0)
        rc = drudge_queue_claim(wr->q, now, want, claimed, nclaimed, err);
    if (!rc)
        rc = drudge_queue_end_turn(wr->q, err);
    if (!rc)
        rc = drudge_db_commit(wr->db, err);
    if (rc) {
        drudge_db_rollback(wr->db);
        for (size_t i = 0; i < *nclaimed; i++)
            drudge_claimed_free(&(*claimed)[i]);
        free(*claimed);
        *claimed = NULL;
        *nclaimed = 0;
        wr->ncancel = 0;
    }
    return rc;
}

/* After a commit: recorders back to the pool, jobs freed, claims handed out,
 * cancel requests delivered. */
static void after_commit(writer *wr, drudge_claimed *claimed, size_t nclaimed)
{
    pool *p = wr->p;
    job *j;
    wr->last_batch = (int)wr->batch.n;
    wr->stats->commits++;
    joblist done = wr->batch;
    memset(&wr->batch, 0, sizeof wr->batch);
    pthread_mutex_lock(&p->mu); /* once per batch: the recorders go back */
    for (j = done.head; j; j = j->next)
        if (j->rec && !j->partial)
            p->recs[p->nrecs++] = j->rec;
    if (p->rec_waiting)
        pthread_cond_broadcast(&p->rec_cv);
    pthread_mutex_unlock(&p->mu);
    while ((j = list_pop(&done))) {
        if (j->partial)
            drudge_rec_free(j->rec); /* a copy, not one of the pool's recorders */
        else
            tally(wr, j);
        job_free(j);
    }
    wr->stats->claimed += (int64_t)nclaimed;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < nclaimed; i++) {
        j = drudge_xmalloc(sizeof *j);
        memset(j, 0, sizeof *j);
        j->t = claimed[i];
        list_push(&p->ready, j);
    }
    if (nclaimed && p->workers_waiting)
        pthread_cond_broadcast(&p->work_cv);
    for (size_t i = 0; i < wr->ncancel; i++) {
        int64_t id = wr->cancel_ids[i];
        if ((j = list_take(&p->ready, id))) {
            j->cancelled = 1;
            list_push(&wr->cancelled, j);
            continue;
        }
        for (int k = 0; k < p->nworkers; k++) {
            worker *w = &p->workers[k];
            if (w->current && w->current->t.id == id) {
                w->cancel_id = id;
                drudge_host_cancel(w->host);
            }
        }
    }
    wr->ncancel = 0;
    pthread_mutex_unlock(&p->mu);
    free(claimed);
}

/* Gives every claimed-but-unstarted task back (no attempt spent). */
static drudge_code release_ready(writer *wr, drudge_err *err)
{
    pool *p = wr->p;
    joblist l;
    pthread_mutex_lock(&p->mu);
    l = p->ready;
    memset(&p->ready, 0, sizeof p->ready);
    pthread_mutex_unlock(&p->mu);
    if (!l.head)
        return DRUDGE_OK;
    drudge_code rc = drudge_db_begin(wr->db, err);
    for (job *j = l.head; j && !rc; j = j->next)
        rc = drudge_queue_release(wr->q, &j->t, err);
    if (!rc)
        rc = drudge_db_commit(wr->db, err);
    if (rc)
        drudge_db_rollback(wr->db);
    job *j;
    while ((j = list_pop(&l)))
        job_free(j);
    return rc;
}

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

static drudge_code writer_loop(writer *wr, drudge_err *err)
{
    pool *p = wr->p;
    const drudge_work_opts *o = wr->opts;
    int64_t lease = o->lease_us > 0 ? o->lease_us : 60 * (int64_t)1000000;
    /* Renewals rewrite every lease this process holds, so they come at a
     * third of the lease; cancel requests are read with each reap, every second. */
    int64_t renew_every = lease / 3;
    int64_t now = drudge_now_us();
    int64_t next_renew = now + renew_every, next_reap = now, next_tick = now, next_claim = now;
    int64_t next_checkpoint = o->checkpoint_key ? now + o->checkpoint_every_us : INT64_MAX;
    int prefetch_max = o->prefetch > 0 ? o->prefetch : MAX_PREFETCH;
    int min_want = 2 * p->nworkers, draining = 0, failures = 0;
    int64_t batch_since = 0; /* when the oldest outcome not yet written came in */
    drudge_code rc = DRUDGE_OK;

    for (;;) {
        pthread_mutex_lock(&p->mu);
        int fatal = p->fatal;
        pthread_mutex_unlock(&p->mu);
        if (fatal)
            return drudge_seterr(err, DRUDGE_EIO, "redaction patterns: %s", p->fatal_msg);
        int sig = work_signals;
        if (sig >= 1 && !draining) {
            draining = 1;
            rc = release_ready(wr, err);
            if (rc)
                return rc;
        }
        if (sig >= 2) {
            wr->stats->aborted = 1;
            pthread_mutex_lock(&p->mu);
            for (int k = 0; k < p->nworkers; k++)
                if (p->workers[k].current)
                    drudge_host_cancel(p->workers[k].host);
            pthread_mutex_unlock(&p->mu);
            return DRUDGE_OK; /* running attempts are dropped: their leases expire */
        }

        /* Wait for something to do. */
        int want = 0;
        pthread_mutex_lock(&p->mu);
        for (;;) {
            now = drudge_now_us();
            /* Enough claimed ahead to keep the workers busy through the next
             * turn and its fsync: four turns' worth of outcomes, since claims
             * reach the ready list only after their commit. With twice a
             * turn's worth (and at most 512) the ready list ran dry during
             * each turn, every outcome after that woke a turn of its own,
             * and a no-op backlog took 820-1,080 commits per 200,000 tasks
             * at 36,600-42,100 tasks/s; with four times (at most 1,024),
             * 400-440 commits at 45,900-47,400 (paired rounds, -j 2). */
            int target = 4 * wr->last_batch + p->nworkers;
            if (target < min_want)
                target = min_want;
            if (target > prefetch_max)
                target = prefetch_max;
            int have = (int)p->ready.n;
            want = draining || now < next_claim ? 0 : target - have;
            /* Claim alone (a commit of its own) only when the ready list runs
             * low; otherwise top it up with the next batch of outcomes. */
            int claim_now = want > 0 && have <= target / 2;
            if (!p->done.head)
                batch_since = 0;
            else if (!batch_since)
                batch_since = now;
            int batch_due = p->done.head && ((int)p->done.n >= p->min_batch || !have || draining ||
                                             now >= batch_since + BATCH_WAIT_US);
            if (batch_due || wr->cancelled.head || claim_now || now >= next_renew || p->fatal ||
                now >= next_reap || now >= next_tick || work_signals != sig)
                break;
            if (draining && !p->inflight)
                break;
            int64_t until = min64(next_renew, min64(next_reap, next_tick));
            if (want > 0)
                until = min64(until, next_claim);
            if (batch_since)
                until = min64(until, batch_since + BATCH_WAIT_US);
            p->writer_waiting = 1;
            cond_wait_until(&p->writer_cv, &p->mu, min64(until, now + 200000));
            p->writer_waiting = 0;
        }
        while (p->done.head)
            list_push(&wr->batch, list_pop(&p->done));
        int inflight = p->inflight;
        size_t ready = p->ready.n;
        pthread_mutex_unlock(&p->mu);
        job *j;
        while ((j = list_pop(&wr->cancelled)))
            list_push(&wr->batch, j);

        if (draining && !inflight && !wr->batch.head)
            return DRUDGE_OK;

        int renew = now >= next_renew, reap = now >= next_reap;
        if (wr->batch.head || renew || reap || want > 0) {
            drudge_claimed *claimed = NULL;
            size_t nclaimed = 0;
            rc = write_turn(wr, now, renew, reap, want, &claimed, &nclaimed, err);
            if (rc) {
                /* Nothing was written; keep the batch and try again, unless
                 * the database keeps refusing. */
                if (++failures >= 5)
                    return rc;
                fprintf(stderr, "drudge work: %s (retrying)\n", err->msg);
                usleep(200000 * (useconds_t)failures);
                continue;
            }
            failures = 0;
            after_commit(wr, claimed, nclaimed);
            if (renew)
                next_renew = now + renew_every;
            if (reap)
                next_reap = now + TICK_US;
            if (want > 0 && nclaimed == 0)
                next_claim = now + IDLE_POLL_US;
            if (want > 0 && nclaimed == 0 && o->until_empty && !ready && !inflight &&
                !wr->batch.head) {
                int idle = 0;
                if (!pool_busy(p)) {
                    rc = drudge_queue_idle(wr->q, now, &idle, err);
                    if (rc)
                        return rc;
                    if (idle)
                        return DRUDGE_OK;
                }
            }
            /* --until-empty: when the last claim found nothing and these were
             * the last outcomes, look again at once rather than after the idle
             * poll, which added a quarter second or more to the end of a run.
             * Only after a turn with outcomes, so an empty queue is not polled
             * in a loop. */
            if (o->until_empty && wr->last_batch > 0 && now < next_claim && !pool_busy(p))
                next_claim = now;
        }
        if (now >= next_checkpoint) {
            /* Signs the chain head (nothing is written if it has not moved). */
            drudge_err cerr = {0};
            next_checkpoint = now + o->checkpoint_every_us;
            if (drudge_audit_checkpoint(wr->db, o->checkpoint_key, &cerr) != DRUDGE_OK)
                fprintf(stderr, "drudge work: checkpoint: %s\n", cerr.msg);
        }
        if (now >= next_tick) {
            drudge_err terr = {0};
            next_tick = now + TICK_US;
            if (drudge_scheduler_tick(wr->db, now, &terr) != DRUDGE_OK) {
                drudge_db_rollback(wr->db);
                if (!wr->tick_warned++)
                    fprintf(stderr, "drudge work: schedules: %s\n", terr.msg);
            }
        }
    }
}

static void make_owner(char *out, size_t n)
{
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    unsigned r = (unsigned)drudge_now_us() ^ (unsigned)getpid() * 2654435761u;
    snprintf(out, n, "%s:%d.%04x", host, (int)getpid(), r & 0xffff);
}

drudge_code drudge_work_run(const drudge_work_opts *opts, drudge_work_stats *stats, drudge_err *err)
{
    pool p;
    writer wr;
    sqlite3 *db = NULL;
    drudge_metrics_server *metrics = NULL;
    drudge_code rc = DRUDGE_OK;
    int nthreads = opts->threads > 0 ? opts->threads : 1, leaked = 0;

    memset(stats, 0, sizeof *stats);
    memset(&p, 0, sizeof p);
    memset(&wr, 0, sizeof wr);
    work_signals = 0;
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.work_cv, NULL);
    pthread_cond_init(&p.writer_cv, NULL);
    pthread_cond_init(&p.rec_cv, NULL);
    p.opts = opts;
    p.recs = drudge_xmalloc(MAX_RECS * sizeof *p.recs);
    p.nworkers = nthreads;
    p.min_batch = ((opts->prefetch > 0 ? opts->prefetch : MAX_PREFETCH) - nthreads) / 2;
    if (p.min_batch > MIN_BATCH)
        p.min_batch = MIN_BATCH;
    if (p.min_batch < 1)
        p.min_batch = 1;
    p.workers = drudge_xmalloc((size_t)nthreads * sizeof *p.workers);
    memset(p.workers, 0, (size_t)nthreads * sizeof *p.workers);
    make_owner(p.owner, sizeof p.owner);

    rc = drudge_db_open(opts->db_path, 0, &db, err);
    if (rc)
        goto cleanup;
    rc = drudge_db_set_durability(db, opts->durability, err);
    if (rc)
        goto cleanup;
    /* cache_size: with a backlog of a million tasks the indexes the writer
     * touches outgrow 64 MiB, and the writer spent a fifth more per task
     * re-reading pages; 256 MiB is allocated only as pages are used.
     * temp_store: statement journals and temporary tables (a retry's
     * requeue, the status queries) stay in memory instead of spilling to a
     * temp file (open, write, unlink). */
    drudge_db_exec(db, "PRAGMA cache_size=-262144; PRAGMA temp_store=MEMORY", NULL);
    drudge_queue_opts qo = {.owner = p.owner,
                            .lease_us = opts->lease_us,
                            .backoff_base_us = opts->backoff_base_us,
                            .backoff_cap_us = opts->backoff_cap_us,
                            .scripts = opts->scripts};
    wr.q = drudge_queue_new(db, &qo, err);
    if (!wr.q) {
        rc = err->code;
        goto cleanup;
    }
    wr.p = &p;
    wr.db = db;
    wr.opts = opts;
    wr.stats = stats;
    drudge_host_opts ho = {.files_dir = opts->files_dir,
                           .secrets_file = opts->secrets_file,
                           .redact_file = opts->redact_file,
                           .echo_logs = opts->echo_logs};
    for (int i = 0; i < nthreads; i++) {
        worker *w = &p.workers[i];
        w->p = &p;
        w->idx = i;
        snprintf(w->name, sizeof w->name, "%s/%d", p.owner, i + 1);
        if (!(w->host = drudge_host_new(&ho, err))) {
            rc = err->code;
            goto cleanup;
        }
        drudge_lqueue_set_db(drudge_host_lua(w->host), opts->db_path);
        p.created++; /* the host's own recorder */
    }
    if (opts->metrics_listen) {
        rc = drudge_metrics_serve(opts->db_path, opts->metrics_listen, &metrics, err);
        if (rc)
            goto cleanup;
    }
    /* Workers block SIGINT/SIGTERM so the handlers run on this thread. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&p.workers[i].th, NULL, worker_main, &p.workers[i]) != 0) {
            rc = drudge_seterr(err, DRUDGE_ENOMEM, "cannot start worker thread %d", i + 1);
            break;
        }
        p.workers[i].started = 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    if (!rc)
        rc = writer_loop(&wr, err);
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) == 0)
        stats->writer_cpu_s = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                              (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;

    /* Stop the workers. After an abort, or a failure, running attempts are
     * not recorded: their leases expire and they are retried. */
    drudge_err rerr = {0};
    if (release_ready(&wr, &rerr) && !rc)
        rc = drudge_seterr(err, rerr.code, "%s", rerr.msg);
    pthread_mutex_lock(&p.mu);
    p.stopping = 1;
    pthread_cond_broadcast(&p.work_cv);
    if (rc || stats->aborted)
        for (int k = 0; k < nthreads; k++)
            if (p.workers[k].current)
                drudge_host_cancel(p.workers[k].host);
    pthread_mutex_unlock(&p.mu);
    for (int i = 0; i < nthreads; i++) {
        if (!p.workers[i].started)
            continue;
        if (stats->aborted || rc) {
            /* A worker stuck in a blocking call cannot be joined: leave it. */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 3;
            if (pthread_timedjoin_np(p.workers[i].th, NULL, &ts) != 0) {
                leaked++;
                stats->aborted = 1;
                continue;
            }
        } else {
            pthread_join(p.workers[i].th, NULL);
        }
        sqlite3_close(p.workers[i].ro);
        p.workers[i].ro = NULL;
        p.workers[i].started = 0;
    }
    if (!rc && !stats->aborted) {
        /* Outcomes that arrived after the writer's last turn. */
        job *j;
        while ((j = list_pop(&p.done)))
            list_push(&wr.batch, j);
        if (wr.batch.head) {
            drudge_claimed *c = NULL;
            size_t nc = 0;
            rc = write_turn(&wr, drudge_now_us(), 0, 0, 0, &c, &nc, err);
            if (!rc)
                after_commit(&wr, c, nc);
        }
        /* Nothing of ours runs any more: the lease goes (autocommit). */
        if (!rc)
            rc = drudge_queue_drop_lease(wr.q, err);
        /* A drained worker signs the head it leaves behind. */
        if (!rc && opts->checkpoint_key)
            rc = drudge_audit_checkpoint(db, opts->checkpoint_key, err);
    }

cleanup:
    if (leaked) {
        /* A worker still runs (stuck in a blocking call): its memory and the
         * pool's stay allocated; the caller exits the process right away. */
        drudge_metrics_stop(metrics);
        return rc;
    }
    job *j;
    while ((j = list_pop(&wr.batch))) {
        drudge_rec_free(j->rec);
        job_free(j);
    }
    while ((j = list_pop(&wr.cancelled)))
        job_free(j);
    while ((j = list_pop(&p.done))) {
        drudge_rec_free(j->rec);
        job_free(j);
    }
    while ((j = list_pop(&p.ready)))
        job_free(j);
    for (int i = 0; i < nthreads; i++)
        if (!p.workers[i].started)
            drudge_host_free(p.workers[i].host);
    for (size_t i = 0; i < p.nrecs; i++)
        drudge_rec_free(p.recs[i]);
    free(p.recs);
    free(p.workers);
    drudge_metrics_stop(metrics);
    drudge_queue_free(wr.q);
    if (db)
        drudge_db_trim_wal(db); /* the next command need not replay this run's WAL */
    sqlite3_close(db);
    if (!stats->aborted) {
        pthread_mutex_destroy(&p.mu);
        pthread_cond_destroy(&p.work_cv);
        pthread_cond_destroy(&p.writer_cv);
        pthread_cond_destroy(&p.rec_cv);
    }
    return rc;
}

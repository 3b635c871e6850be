/* pool.c: the worker threads of `drudge work`: each takes a claimed task
 * from the ready list, runs one attempt on its own host and hands the
 * outcome to the writer (see workint.h for who owns what). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "connectors/queue/lqueue.h"
#include "drudge/util.h"
#include "runner/work/workint.h"

/* ---- job lists ---- */

void list_push(joblist *l, job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    l->n++;
}

job *list_pop(joblist *l)
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

job *list_take(joblist *l, int64_t id)
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

void job_free(job *j)
{
    drudge_claimed_free(&j->t);
    drudge_result_clear(&j->res);
    free(j->probe);
    free(j);
}

void list_free(joblist *l, int recs)
{
    job *j = list_pop(l);
    for (; j; j = list_pop(l)) {
        if (recs)
            drudge_rec_free(j->rec);
        job_free(j);
    }
}

/* ---- handing over ---- */

/* The writer is woken by the first outcome of a batch (it starts the wait),
 * by the one that completes it, and by any once the workers run dry; not by
 * every one, which would wake it hundreds of times a turn. */
void pool_to_writer(pool *p, job *j)
{
    list_push(&p->done, j);
    if (p->writer_waiting && (p->done.n == 1 || (int)p->done.n >= p->min_batch || !p->ready.head))
        pthread_cond_signal(&p->writer_cv);
}

int pool_busy(pool *p)
{
    pthread_mutex_lock(&p->mu);
    int busy = p->inflight || p->ready.head || p->done.head || p->held.head;
    pthread_mutex_unlock(&p->mu);
    return busy;
}

void pool_cancel_running(pool *p)
{
    pthread_mutex_lock(&p->mu);
    for (int k = 0; k < p->nworkers; k++)
        if (p->workers[k] && p->workers[k]->current)
            drudge_host_cancel(p->workers[k]->host);
    pthread_mutex_unlock(&p->mu);
}

job *partial_job(drudge_rec *part, int idx)
{
    job *j = drudge_xmalloc(sizeof *j);
    memset(j, 0, sizeof *j);
    j->partial = 1;
    j->rec = part;
    j->worker = idx;
    j->t.id = drudge_rec_task(part);
    j->t.attempt = drudge_rec_attempt(part);
    return j;
}

/* drudge_rec_on_end hook of the running attempt's recorder (worker
 * thread): at most every DRUDGE_REC_FLUSH_US, the steps closed so far go
 * to the writer as a partial job, appended to the chain in its next turn.
 * (When no step ends, the writer takes them itself: take_running.) The
 * recorder's lock guards w->flush_at. */
static void early_flush(drudge_rec *rec, void *ud)
{
    worker *w = ud;
    drudge_rec *part = drudge_rec_take_due(rec, &w->flush_at);
    if (!part)
        return;
    pool *p = w->p;
    pthread_mutex_lock(&p->mu);
    job *j = partial_job(part, w->idx);
    int abandoned = w->abandoned;
    if (!abandoned)
        pool_to_writer(p, j);
    pthread_mutex_unlock(&p->mu);
    if (abandoned) { /* its attempt is recorded already: nothing more goes */
        drudge_rec_free(j->rec);
        free(j);
    }
}

/* ---- running an attempt ---- */

/* task.previous for a retry: what its earlier attempts recorded (their rows
 * were committed before the task was requeued), read on the worker's own
 * read-only connection. NULL (and a warning, once) if it cannot be read. */
static char *previous_of(worker *w, const job *j)
{
    drudge_err err = {0};
    char *previous = NULL;
    drudge_code rc = DRUDGE_OK;
    if (!w->ro)
        rc = drudge_store_open(w->p->opts->db_path, DRUDGE_STORE_READONLY, &w->ro, &err);
    if (!rc)
        rc = drudge_previous_attempts(w->ro, j->t.id, j->t.attempt, &previous, &err);
    if (rc && !w->ro_warned++)
        fprintf(stderr, "drudge work: task.previous unavailable: %s\n", err.msg);
    return previous;
}

/* The version of the script j runs, handed to the writer the first time
 * this worker loads it, so that it is stored in the transaction that
 * appends the first root naming it, or before. */
static void note_version(worker *w, const job *j)
{
    const drudge_script_info *info;
    drudge_err err = {0};
    if (drudge_host_load(w->host, j->t.script_path, &info, &err))
        return; /* run_job records the error */
    const drudge_script_version *v = drudge_host_script_version(info);
    if (!v)
        return;
    for (size_t i = 0; i < w->nversions; i++)
        if (!strcmp(w->versions[i], v->sha256))
            return;
    w->versions = drudge_xrealloc(w->versions, (w->nversions + 1) * sizeof *w->versions);
    memcpy(w->versions[w->nversions++], v->sha256, 65);
    pool *p = w->p;
    pthread_mutex_lock(&p->mu);
    p->versions = drudge_xrealloc(p->versions, (p->nversions + 1) * sizeof *p->versions);
    drudge_script_version_copy(&p->versions[p->nversions++], v);
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
    char *previous = j->t.attempt > 1 ? previous_of(w, j) : NULL;
    note_version(w, j);
    view.previous = previous;
    drudge_rec_on_end(drudge_host_rec(w->host), early_flush, w);
    drudge_breaker_probe(j->probe); /* its calls may reach the open target */
    drudge_code hrc = drudge_host_run(w->host, j->t.script_path, &view, &j->res, &err);
    drudge_breaker_probe(NULL);
    free(previous);
    if (hrc == DRUDGE_OK)
        return;
    /* The script could not be loaded (moved, broken since it was enqueued):
     * a configuration error of this attempt: its script is paused until a
     * person fixes it. */
    drudge_audit_root_only(drudge_host_rec(w->host), j->t.id, j->t.attempt, j->t.script, j->t.input,
                           j->t.key, "config", err.msg);
    drudge_result_clear(&j->res);
    j->res.outcome = DRUDGE_CONFIG;
    j->res.error = drudge_xstrdup(err.msg);
}

/* A recorder configured like the hosts' own: the redaction patterns are
 * per recorder, and a recorder without them would record what they hide. If
 * the patterns cannot be loaded now, the pool stops (p->fatal). */
drudge_rec *pool_new_recorder(pool *p)
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

/* A recorder for the worker's next attempt (the writer still holds the
 * last one); waits while MAX_RECS are in flight. Called with p->mu held. */
static drudge_rec *fresh_recorder(pool *p)
{
    while (!p->nrecs && p->created >= MAX_RECS) {
        p->rec_waiting++;
        pthread_cond_wait(&p->rec_cv, &p->mu);
        p->rec_waiting--;
    }
    if (p->nrecs)
        return p->recs[--p->nrecs];
    p->created++;
    pthread_mutex_unlock(&p->mu);
    drudge_rec *r = pool_new_recorder(p);
    pthread_mutex_lock(&p->mu);
    return r;
}

/* Waits for a claimed task; NULL when the pool stops. Called with p->mu held. */
static job *next_job(pool *p)
{
    while (!p->ready.head && !p->stopping) {
        p->workers_waiting++;
        pthread_cond_wait(&p->work_cv, &p->mu);
        p->workers_waiting--;
    }
    return list_pop(&p->ready);
}

/* An abandoned worker's thread came back (its C call returned at last):
 * it frees what it still holds and ends, touching nothing else. Called with
 * p->mu held; returns with it released. */
static void ghost_return(pool *p, worker *w, job *j)
{
    pthread_mutex_unlock(&p->mu);
    drudge_store_close(w->ro);
    w->ro = NULL;
    drudge_host_free(w->host); /* and its recorder */
    w->host = NULL;
    job_free(j);
    pthread_mutex_lock(&p->mu);
    p->created--; /* the host's recorder */
    p->stuck--;
    w->returned = 1;
    pthread_mutex_unlock(&p->mu);
}

/* A claimed task whose script uses a target that went down since the
 * claim (not the probe): running it would only end in retry_later. */
static int held_by_breaker(const job *j)
{
    char target[256];
    return !j->probe && drudge_breaker_open_count() > 0 &&
           drudge_breaker_holds(j->t.script, target, sizeof target);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pool *p = w->p;
    pthread_mutex_lock(&p->mu);
    for (job *j = next_job(p); j; j = next_job(p)) {
        if (held_by_breaker(j)) { /* not run: the writer gives it back unspent */
            list_push(&p->held, j);
            continue;
        }
        w->current = j;
        /* With p->mu, as the writer reads it (writer.c, take_running). */
        w->flush_at = drudge_mono_us() + DRUDGE_REC_FLUSH_US;
        j->started_us = drudge_now_us(); /* the writer reads it to mark the attempt started */
        j->ran = 1;
        p->inflight++;
        pthread_mutex_unlock(&p->mu);

        run_job(w, j);

        pthread_mutex_lock(&p->mu);
        if (w->abandoned) {
            ghost_return(p, w, j);
            return NULL;
        }
        j->rec = drudge_host_swap_rec(w->host, fresh_recorder(p));
        j->worker = w->idx;
        /* A cancel counts if it is what stopped the script. */
        j->cancelled = w->cancel_id == j->t.id && j->res.outcome == DRUDGE_CANCELLED;
        w->cancel_id = 0;
        w->cancel_at = 0;
        w->current = NULL;
        p->inflight--;
        pool_to_writer(p, j);
    }
    w->exited = 1;
    pthread_cond_broadcast(&p->exit_cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- the pool's life ---- */

static void make_owner(char *out, size_t n)
{
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    unsigned r = (unsigned)drudge_now_us() ^ (unsigned)getpid() * 2654435761u;
    snprintf(out, n, "%s:%d.%04x", host, (int)getpid(), r & 0xffff);
}

void pool_init(pool *p, const drudge_work_opts *opts)
{
    int n = opts->threads > 0 ? opts->threads : 1;
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->writer_cv, NULL);
    pthread_cond_init(&p->rec_cv, NULL);
    pthread_cond_init(&p->exit_cv, NULL);
    pthread_cond_init(&p->watchdog_cv, NULL);
    p->opts = opts;
    p->recs = drudge_xmalloc(MAX_RECS * sizeof *p->recs);
    p->nworkers = n;
    p->min_batch = ((opts->prefetch > 0 ? opts->prefetch : MAX_PREFETCH) - n) / 2;
    if (p->min_batch > 256)
        p->min_batch = 256;
    if (p->min_batch < 1)
        p->min_batch = 1;
    p->workers = drudge_xmalloc((size_t)n * sizeof *p->workers);
    memset(p->workers, 0, (size_t)n * sizeof *p->workers);
    p->names = drudge_xmalloc((size_t)n * sizeof *p->names);
    make_owner(p->owner, sizeof p->owner);
    for (int i = 0; i < n; i++)
        snprintf(p->names[i], sizeof p->names[i], "%s/%d", p->owner, i + 1);
}

worker *pool_worker_new(pool *p, int idx, drudge_err *err)
{
    const drudge_work_opts *o = p->opts;
    drudge_host_opts ho = {.files_dir = o->files_dir,
                           .secrets_file = o->secrets_file,
                           .redact_file = o->redact_file,
                           .echo_logs = o->echo_logs};
    drudge_host *host = drudge_host_new(&ho, err);
    if (!host)
        return NULL;
    drudge_lqueue_set_db(drudge_host_lua(host), o->db_path);
    worker *w = drudge_xmalloc(sizeof *w);
    memset(w, 0, sizeof *w);
    w->p = p;
    w->idx = idx;
    w->host = host;
    pthread_mutex_lock(&p->mu);
    p->created++; /* the host's own recorder */
    pthread_mutex_unlock(&p->mu);
    return w;
}

drudge_code pool_hosts(pool *p, drudge_err *err)
{
    for (int i = 0; i < p->nworkers; i++) {
        p->workers[i] = pool_worker_new(p, i, err);
        if (!p->workers[i])
            return err->code;
    }
    return DRUDGE_OK;
}

drudge_code pool_worker_start(pool *p, worker *w, drudge_err *err)
{
    (void)p;
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int e = pthread_create(&w->th, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0)
        return drudge_seterr(err, DRUDGE_ENOMEM, "cannot start worker thread %d: %s", w->idx + 1,
                             strerror(e));
    w->started = 1;
    return DRUDGE_OK;
}

drudge_code pool_start(pool *p, drudge_err *err)
{
    drudge_code rc = DRUDGE_OK;
    for (int i = 0; i < p->nworkers && !rc; i++)
        rc = pool_worker_start(p, p->workers[i], err);
    if (!rc)
        rc = watchdog_start(p, err);
    return rc;
}

/* Whether a slot's worker still has to finish: not exited, not abandoned.
 * Called with p->mu held. */
static int slot_running(const worker *w)
{
    return w && w->started && !w->exited && !w->abandoned;
}

/* Waits until every slot's thread has exited (and nothing is in flight, so
 * an attempt the watchdog is abandoning reaches the writer), or, with
 * patience, for a few seconds at most. Called with p->mu held. */
static void wait_for_workers(pool *p, int patience)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 3;
    for (;;) {
        int running = p->inflight > 0;
        for (int i = 0; i < p->nworkers && !running; i++)
            running = slot_running(p->workers[i]);
        if (!running)
            return;
        if (!patience)
            pthread_cond_wait(&p->exit_cv, &p->mu);
        else if (pthread_cond_timedwait(&p->exit_cv, &p->mu, &until) != 0)
            return;
    }
}

void pool_stop(pool *p, int cancel, int *leaked)
{
    *leaked = 0;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    if (cancel)
        pool_cancel_running(p);
    /* The watchdog runs on while the workers finish: a drain too must not
     * wait forever for an attempt stuck where its timeout cannot reach. */
    pthread_mutex_lock(&p->mu);
    wait_for_workers(p, cancel);
    pthread_mutex_unlock(&p->mu);
    watchdog_stop(p);
    for (int i = 0; i < p->nworkers; i++) {
        worker *w = p->workers[i];
        if (!w || !w->started)
            continue;
        pthread_mutex_lock(&p->mu);
        int exited = w->exited;
        pthread_mutex_unlock(&p->mu);
        if (!exited) { /* stuck in a blocking call after an abort: left */
            (*leaked)++;
            continue;
        }
        pthread_join(w->th, NULL);
        drudge_store_close(w->ro);
        w->ro = NULL;
        w->started = 0;
    }
    pthread_mutex_lock(&p->mu);
    *leaked += p->stuck;
    pthread_mutex_unlock(&p->mu);
}

void pool_free(pool *p)
{
    list_free(&p->done, 1);
    list_free(&p->ready, 0);
    list_free(&p->held, 0);
    for (int i = 0; i < p->nworkers; i++) {
        worker *w = p->workers[i];
        if (w && !w->started) {
            drudge_host_free(w->host);
            free(w->versions);
            free(w);
        }
    }
    for (worker *g = p->ghosts, *next; g; g = next) {
        next = g->next_ghost; /* all returned: pool_free runs only then */
        free(g->versions);
        free(g);
    }
    for (size_t i = 0; i < p->nrecs; i++)
        drudge_rec_free(p->recs[i]);
    free(p->recs);
    for (size_t i = 0; i < p->nversions; i++)
        drudge_script_version_clear(&p->versions[i]);
    free(p->versions);
    free(p->workers);
    free(p->names);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->writer_cv);
    pthread_cond_destroy(&p->rec_cv);
    pthread_cond_destroy(&p->exit_cv);
    pthread_cond_destroy(&p->watchdog_cv);
}

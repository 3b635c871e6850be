/* queue.c: what an attempt's outcome means for its task, leases and their
 * reaping, and operator actions with the reason when they do not apply.
 * Every row is read and written through the store (runner/store/store.h). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "drudge/util.h"
#include "logs/audit/audit.h"
#include "runner/queue/queue.h"

#define DEFAULT_LEASE_US        (60 * (int64_t)1000000)
#define DEFAULT_BACKOFF_BASE_US (5 * (int64_t)1000000)
#define DEFAULT_BACKOFF_CAP_US  (3600 * (int64_t)1000000)
/* A `drudge run` holds its lease for a day (see drudge_queue_start_adhoc). */
#define ADHOC_LEASE_US (86400 * (int64_t)1000000)

drudge_code drudge_queue_enqueue(drudge_store *s, const drudge_task_spec *spec, int64_t *id,
                                 int *duplicate, drudge_err *err)
{
    drudge_code rc = drudge_store_begin(s, DRUDGE_TX_WRITE, err);
    if (rc)
        return rc;
    rc = drudge_store_enqueue(s, spec, 1, drudge_now_us(), id, duplicate, NULL, NULL, err);
    if (!rc)
        rc = drudge_store_commit(s, err);
    if (rc)
        drudge_store_rollback(s);
    return rc;
}

/* ---- the worker side ---- */

struct drudge_queue {
    drudge_store *s;
    drudge_queue_opts opts;
    char *owner;
    char **scripts;      /* opts.scripts, copied (NULL-terminated) */
    char run_prefix[96]; /* "run@HOST:": the owners of `drudge run`s on this machine */
    unsigned seed;
};

drudge_queue *drudge_queue_new(drudge_store *s, const drudge_queue_opts *opts)
{
    drudge_queue *q = drudge_xmalloc(sizeof *q);
    memset(q, 0, sizeof *q);
    q->s = s;
    if (opts)
        q->opts = *opts;
    q->owner = drudge_xstrdup(q->opts.owner ? q->opts.owner : "worker");
    q->opts.owner = q->owner;
    if (!q->opts.lease_us)
        q->opts.lease_us = DEFAULT_LEASE_US;
    if (!q->opts.backoff_base_us)
        q->opts.backoff_base_us = DEFAULT_BACKOFF_BASE_US;
    if (!q->opts.backoff_cap_us)
        q->opts.backoff_cap_us = DEFAULT_BACKOFF_CAP_US;
    q->seed = q->opts.seed ? q->opts.seed : (unsigned)drudge_now_us();
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(q->run_prefix, sizeof q->run_prefix, "run@%s:", host);
    if (q->opts.scripts && q->opts.scripts[0]) {
        size_t n = 0;
        while (q->opts.scripts[n])
            n++;
        q->scripts = drudge_xmalloc((n + 1) * sizeof *q->scripts);
        for (size_t i = 0; i < n; i++)
            q->scripts[i] = drudge_xstrdup(q->opts.scripts[i]);
        q->scripts[n] = NULL;
    }
    q->opts.scripts = (const char *const *)q->scripts;
    return q;
}

void drudge_queue_free(drudge_queue *q)
{
    if (!q)
        return;
    for (size_t i = 0; q->scripts && q->scripts[i]; i++)
        free(q->scripts[i]);
    free(q->scripts);
    free(q->owner);
    free(q);
}

drudge_store *drudge_queue_store(drudge_queue *q)
{
    return q->s;
}

drudge_code drudge_queue_claim(drudge_queue *q, int64_t now, int max, drudge_claimed **out,
                               size_t *n, drudge_err *err)
{
    drudge_claim_req req = {.owner = q->owner,
                            .now = now,
                            .lease_until = now + q->opts.lease_us,
                            .max = max,
                            .scripts = q->opts.scripts};
    return drudge_store_claim(q->s, &req, out, n, err);
}

drudge_code drudge_queue_claim_probe(drudge_queue *q, int64_t now, const char *target,
                                     drudge_claimed **out, size_t *n, drudge_err *err)
{
    drudge_claim_req req = {.owner = q->owner,
                            .now = now,
                            .lease_until = now + q->opts.lease_us,
                            .max = 1,
                            .scripts = q->opts.scripts,
                            .probe = target};
    return drudge_store_claim(q->s, &req, out, n, err);
}

int64_t drudge_queue_backoff(drudge_queue *q, int spent)
{
    int64_t base = q->opts.backoff_base_us, cap = q->opts.backoff_cap_us;
    if (base <= 0)
        return 0;
    int64_t d = base;
    for (int i = 1; i < spent && d < cap; i++)
        d *= 2;
    if (d > cap)
        d = cap;
    /* Equal jitter: half fixed, half random, so retries of a burst spread out
     * but never come sooner than half the nominal delay. */
    int64_t half = d / 2;
    return half + (half > 0 ? (int64_t)(((double)rand_r(&q->seed) / RAND_MAX) * (double)half) : 0);
}

static const char *error_kind(drudge_outcome o)
{
    switch (o) {
    case DRUDGE_FAILED:
        return "business";
    case DRUDGE_ERROR:
        return "system";
    case DRUDGE_TIMEOUT:
        return "timeout";
    case DRUDGE_MEMORY:
        return "memory";
    case DRUDGE_CONFIG:
        return "config";
    default:
        return NULL;
    }
}

/* What the attempt's result means for the task: e's state, spend, output,
 * error and, for a requeue, when it is due again. */
static void decide(drudge_queue *q, const drudge_completion *c, int64_t now, drudge_attempt_end *e)
{
    const drudge_claimed *t = c->task;
    const drudge_result *res = c->res;
    if (c->cancelled) {
        e->new_state = "cancelled";
        e->outcome = "cancelled";
        e->error = "cancelled by an operator";
        e->error_kind = "cancelled";
        return;
    }
    e->outcome = drudge_outcome_name(res->outcome);
    e->error = res->error;
    e->error_kind = error_kind(res->outcome);
    switch (res->outcome) {
    case DRUDGE_DONE:
        e->new_state = "done";
        e->output = res->output;
        break;
    case DRUDGE_FAILED:
        e->new_state = "failed";
        break;
    case DRUDGE_CONFIG:
        /* Something only a person can fix: retrying would only spend the
         * attempts of this and every other task of the script. The task
         * waits, no attempt spent, and its script is paused, saying why;
         * `drudge resume` after the fix runs it again. A `drudge run`
         * (no_retry) has nobody to resume it: the task is cancelled, which
         * the report does not charge. */
        if (c->no_retry) {
            e->new_state = "cancelled";
        } else {
            e->new_state = "queued";
            e->run_at = now;
            e->pause_reason = res->error;
        }
        break;
    case DRUDGE_RETRY_LATER:
        /* Asked for: a delay of the script's choosing, no attempt spent. */
        e->new_state = "queued";
        e->run_at = now + (int64_t)(res->retry_after > 0 ? res->retry_after * 1e6 : 0);
        break;
    default:
        e->spend = 1;
        if (c->no_retry || t->spent + 1 >= t->max_attempts) {
            e->new_state = "dead";
        } else {
            e->new_state = "queued";
            e->run_at = now + drudge_queue_backoff(q, t->spent + 1);
        }
        break;
    }
}

/* The attempt_end of completion c, recorded at now. */
static void attempt_end_of(drudge_queue *q, const drudge_completion *c, int64_t now,
                           drudge_attempt_end *e)
{
    const drudge_claimed *t = c->task;
    const drudge_result *res = c->res;
    *e = (drudge_attempt_end){.task_id = t->id,
                              .script = t->script,
                              .attempt = t->attempt,
                              .recorded = res != NULL,
                              .worker = c->worker,
                              .started_at = c->started_us,
                              .now = now};
    decide(q, c, now, e);
    if (strcmp(e->new_state, "queued") != 0)
        e->finished_at = now;
    /* The attempt ended when the script did, not when its batch committed. */
    e->ended_at = now;
    if (res && c->started_us + res->duration_us > c->started_us &&
        c->started_us + res->duration_us < now)
        e->ended_at = c->started_us + res->duration_us;
    if (e->finished_at)
        e->finished_at = e->ended_at;
}

drudge_code drudge_queue_complete(drudge_queue *q, const drudge_completion *c, int64_t now,
                                  const char **new_state, drudge_err *err)
{
    return drudge_queue_complete_many(q, c, 1, now, new_state, err);
}

drudge_code drudge_queue_complete_many(drudge_queue *q, const drudge_completion *c, size_t n,
                                       int64_t now, const char **new_state, drudge_err *err)
{
    drudge_attempt_end one = {0}, *e = n == 1 ? &one : calloc(n, sizeof *e);
    int held1 = 0, *held = n == 1 ? &held1 : calloc(n, sizeof *held);
    drudge_code rc = DRUDGE_OK;
    if (!e || !held) {
        rc = drudge_seterr(err, DRUDGE_ENOMEM, "out of memory recording %zu outcomes", n);
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        new_state[i] = NULL;
        attempt_end_of(q, &c[i], now, &e[i]);
    }
    rc = drudge_store_finish_many(q->s, q->owner, e, n, held, err);
    for (size_t i = 0; i < n && !rc; i++)
        if (held[i])
            new_state[i] = e[i].new_state;
cleanup:
    if (e != &one)
        free(e);
    if (held != &held1)
        free(held);
    return rc;
}

drudge_code drudge_queue_release(drudge_queue *q, const drudge_claimed *t, drudge_err *err)
{
    return drudge_store_release(q->s, q->owner, t->id, err);
}

drudge_code drudge_queue_renew(drudge_queue *q, int64_t now, int64_t *cancel, size_t max,
                               size_t *ncancel, drudge_err *err)
{
    *ncancel = 0;
    drudge_code rc = drudge_store_renew(q->s, q->owner, now + q->opts.lease_us, err);
    return rc ? rc : drudge_queue_cancel_requests(q, cancel, max, ncancel, err);
}

drudge_code drudge_queue_cancel_requests(drudge_queue *q, int64_t *cancel, size_t max,
                                         size_t *ncancel, drudge_err *err)
{
    return drudge_store_cancel_requests(q->s, q->owner, cancel, max, ncancel, err);
}

drudge_code drudge_queue_drop_lease(drudge_queue *q, drudge_err *err)
{
    return drudge_store_drop_lease(q->s, q->owner, err);
}

drudge_code drudge_queue_idle(drudge_queue *q, int64_t now, int *idle, drudge_err *err)
{
    return drudge_store_idle(q->s, now, q->opts.scripts, idle, err);
}

/* ---- reaping ---- */

/* A `drudge run` holds its lease for a day, so that it is never reaped while
 * a person watches it. Where its process is known to be gone (a run on this
 * machine whose pid no longer exists: killed), its lease ends now, and its
 * task comes back with the others. A reused pid only keeps the day. At most
 * DEAD_RUNS a reap; any more, the next second. */
#define DEAD_RUNS 8
typedef struct dead_runs {
    size_t plen;
    char owner[DEAD_RUNS][128];
    int n;
} dead_runs;

static void note_if_dead(void *ud, const char *owner)
{
    dead_runs *d = ud;
    char *end;
    if (d->n >= DEAD_RUNS || strlen(owner) >= sizeof d->owner[0])
        return;
    long pid = strtol(owner + d->plen, &end, 10);
    if (pid > 0 && !*end && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        snprintf(d->owner[d->n++], sizeof d->owner[0], "%s", owner);
}

static drudge_code end_dead_runs(drudge_queue *q, int64_t now, drudge_err *err)
{
    dead_runs d = {.plen = strlen(q->run_prefix)};
    drudge_code rc = drudge_store_leases_like(q->s, q->run_prefix, now, note_if_dead, &d, err);
    for (int i = 0; i < d.n && !rc; i++)
        rc = drudge_store_end_lease(q->s, d.owner[i], now - 1, err);
    return rc;
}

const char *drudge_queue_lost_state(const drudge_expired *x)
{
    return x->t.spent + 1 >= x->t.max_attempts ? "dead" : "queued";
}

/* Records e's lost attempt; *held = 0 if the task was finished meanwhile. A
 * lost attempt is retried at once: the task itself is rarely at fault. */
static drudge_code lose(drudge_queue *q, const drudge_expired *x, int64_t now, int *held,
                        drudge_err *err)
{
    int dead = !strcmp(drudge_queue_lost_state(x), "dead");
    const char *owner = x->owner ? x->owner : "";
    drudge_attempt_end e = {.task_id = x->t.id,
                            .script = x->t.script,
                            .attempt = x->t.attempt,
                            .new_state = dead ? "dead" : "queued",
                            .spend = 1,
                            .error = DRUDGE_LOST_ERROR,
                            .error_kind = "lost",
                            .run_at = now,
                            .finished_at = dead ? now : 0,
                            .recorded = 1,
                            .worker = x->owner ? x->owner : "?",
                            .outcome = "lost",
                            .started_at = x->claimed_at ? x->claimed_at : now,
                            .ended_at = now,
                            .now = now};
    return drudge_store_finish(q->s, owner, &e, held, err);
}

drudge_code drudge_queue_reap(drudge_queue *q, int64_t now, drudge_expired **lost, size_t *nlost,
                              size_t *unstarted, drudge_err *err)
{
    drudge_expired *v = NULL;
    size_t n = 0, kept = 0;
    *lost = NULL;
    *nlost = 0;
    *unstarted = 0;
    drudge_code rc = end_dead_runs(q, now, err);
    if (!rc)
        rc = drudge_store_expired(q->s, now, &v, &n, err);
    for (size_t i = 0; i < n; i++) { /* after an error, only frees the rest */
        int held = 0;
        if (!rc && v[i].started) {
            rc = lose(q, &v[i], now, &held, err);
        } else if (!rc) { /* claimed ahead, never run: back unspent, nothing on the chain */
            rc = drudge_store_unclaim(q->s, v[i].owner ? v[i].owner : "", v[i].t.id, &held, err);
            *unstarted += !rc && held;
            held = 0;
        }
        if (rc || !held) {
            drudge_claimed_free(&v[i].t);
            free(v[i].owner);
            continue;
        }
        v[kept++] = v[i];
    }
    if (!rc) /* leases whose tasks have all been reaped or finished */
        rc = drudge_store_expire_leases(q->s, now, err);
    if (rc) {
        drudge_expired_free_all(v, kept);
        return rc;
    }
    *lost = v;
    *nlost = kept;
    return DRUDGE_OK;
}

drudge_code drudge_queue_mark_started(drudge_queue *q, const int64_t *ids, size_t n,
                                      drudge_err *err)
{
    return drudge_store_mark_started(q->s, q->owner, ids, n, err);
}

drudge_code drudge_queue_start_adhoc(drudge_store *s, const drudge_task_spec *spec,
                                     const char *worker, int64_t *id, drudge_err *err)
{
    int64_t now = drudge_now_us();
    return drudge_store_start_adhoc(s, spec, worker, now, now + ADHOC_LEASE_US, id, err);
}

/* ---- operations ---- */

/* Explains why an operation did not apply to task id: missing, or its state. */
static drudge_code state_error(drudge_store *s, int64_t id, const char *op, const char *allowed,
                               drudge_err *err)
{
    char state[16];
    drudge_code rc = drudge_store_task_state(s, id, state, err);
    if (rc)
        return rc; /* DRUDGE_ENOTFOUND: "no task #N" */
    return drudge_seterr(err, DRUDGE_ESTATE,
                         "cannot %s task #%lld: it is %s (only %s tasks can be)", op, (long long)id,
                         state, allowed);
}

/* An operator action: begun here, its change and its step on the chain
 * (logs/audit/operator.c) committed together, or neither. */
static drudge_code op_begin(drudge_store *s, drudge_err *err)
{
    return drudge_store_begin(s, DRUDGE_TX_WRITE, err);
}

static drudge_code op_end(drudge_store *s, drudge_code rc, drudge_err *err)
{
    if (!rc)
        rc = drudge_store_commit(s, err);
    if (rc)
        drudge_store_rollback(s);
    return rc;
}

/* The operator's step for task id (0: none); args are JSON members. */
static drudge_code op_step(drudge_store *s, int64_t id, const char *action, const char *who,
                           const char *args, const char *result, int64_t now, drudge_err *err)
{
    drudge_operator_step op = {
        .task_id = id, .action = action, .user = who, .args = args, .result = result, .now = now};
    return drudge_audit_operator(s, &op, err);
}

/* {"script":NAME} members, or "" */
static void script_arg(drudge_buf *b, const char *key, const char *value)
{
    if (!value)
        return;
    if (b->len)
        drudge_buf_puts(b, ",");
    drudge_buf_printf(b, "\"%s\":", key);
    drudge_buf_json_str(b, value, strlen(value));
}

static drudge_code retry_one(drudge_store *s, int64_t id, const char *who, const char *args,
                             int64_t now, int64_t *changed, drudge_err *err)
{
    drudge_code rc = drudge_store_retry(s, id, now, changed, err);
    if (!rc && *changed)
        rc = op_step(s, id, "retry", who, args, "{\"state\":\"queued\"}", now, err);
    return rc;
}

drudge_code drudge_queue_retry(drudge_store *s, int64_t id, const char *who, int64_t now,
                               drudge_err *err)
{
    int64_t changed = 0;
    drudge_code rc = op_begin(s, err);
    if (rc)
        return rc;
    rc = retry_one(s, id, who, NULL, now, &changed, err);
    if (!rc && !changed)
        rc = state_error(s, id, "retry", "failed, dead or cancelled", err);
    return op_end(s, rc, err);
}

/* Each task requeued gets its own step on the chain, which names it, so
 * that its row's state can be checked against the chain task by task. */
drudge_code drudge_queue_retry_all(drudge_store *s, const char *state, const char *script,
                                   const char *who, int64_t now, int64_t *count, drudge_err *err)
{
    drudge_task_filter f = {.state = state, .script = script, .limit = INT_MAX, .oldest_first = 1};
    drudge_task_row *rows = NULL;
    drudge_buf args = {0};
    size_t n = 0;
    *count = 0;
    script_arg(&args, "all", state);
    script_arg(&args, "script", script);
    drudge_code rc = op_begin(s, err);
    if (!rc)
        rc = drudge_store_list(s, &f, &rows, &n, err);
    for (size_t i = 0; i < n && !rc; i++) {
        int64_t changed = 0;
        rc = retry_one(s, rows[i].id, who, args.data, now, &changed, err);
        *count += changed;
    }
    drudge_task_rows_free(rows, n);
    drudge_buf_free(&args);
    rc = op_end(s, rc, err);
    if (rc)
        *count = 0;
    return rc;
}

drudge_code drudge_queue_cancel(drudge_store *s, int64_t id, const char *who, int64_t now,
                                int *deferred, drudge_err *err)
{
    int64_t changed = 0;
    drudge_code rc = op_begin(s, err);
    if (rc)
        return rc;
    rc = drudge_store_cancel(s, id, who, now, &changed, deferred, err);
    if (!rc && !changed && !*deferred)
        rc = state_error(s, id, "cancel", "queued or running", err);
    /* A running task's state changes when its worker stops it, which its
     * attempt's root step records; here only the request. */
    if (!rc)
        rc = op_step(s, id, "cancel", who, NULL,
                     changed ? "{\"state\":\"cancelled\"}" : "{\"requested\":true}", now, err);
    return op_end(s, rc, err);
}

drudge_code drudge_queue_pause(drudge_store *s, const char *script, const char *who, int64_t now,
                               int *changed, drudge_err *err)
{
    int64_t n = 0;
    drudge_buf args = {0};
    script_arg(&args, "script", script);
    drudge_code rc = op_begin(s, err);
    if (!rc)
        rc = drudge_store_pause(s, script, who, now, &n, err);
    if (!rc && n)
        rc = op_step(s, 0, "pause", who, args.data, NULL, now, err);
    drudge_buf_free(&args);
    *changed = n > 0;
    return op_end(s, rc, err);
}

drudge_code drudge_queue_resume(drudge_store *s, const char *script, const char *who, int64_t now,
                                int *changed, drudge_err *err)
{
    int64_t n = 0;
    drudge_buf args = {0};
    script_arg(&args, "script", script);
    drudge_code rc = op_begin(s, err);
    if (!rc)
        rc = drudge_store_resume(s, script, &n, err);
    if (!rc && n)
        rc = op_step(s, 0, "resume", who, args.data, NULL, now, err);
    drudge_buf_free(&args);
    *changed = n > 0;
    return op_end(s, rc, err);
}

drudge_code drudge_queue_resolve(drudge_store *s, int64_t id, const char *who, const char *note,
                                 int64_t now, drudge_err *err)
{
    int64_t changed = 0;
    drudge_buf args = {0};
    script_arg(&args, "note", note);
    drudge_code rc = op_begin(s, err);
    if (!rc)
        rc = drudge_store_resolve(s, id, who, note, now, &changed, err);
    if (!rc && !changed)
        rc = state_error(s, id, "resolve", "failed or dead", err);
    if (!rc)
        rc = op_step(s, id, "resolve", who, args.data, NULL, now, err);
    drudge_buf_free(&args);
    return op_end(s, rc, err);
}

/* breaker.c: the writer's side of circuit breakers (runner/host/breaker.h
 * keeps them in this process; the store shares them): each turn writes
 * the events the workers' calls queued (an opening, a closing, a script's
 * new target) in the turn's transaction, with an operator step on the
 * audit chain for each opening and closing, and, once a second, reads the
 * open breakers back, so that what other processes opened holds here too.
 * Claimed tasks still waiting in the ready list whose script uses an open
 * target are given back (no attempt spent); the probe is claimed when due. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "runner/work/notify.h"
#include "runner/work/workint.h"

#define SYNC_EVERY_US 1000000

static drudge_code chain_step(writer *wr, const drudge_breaker_event *ev, int64_t outage_id,
                              drudge_err *err)
{
    drudge_buf args = {0}, result = {0};
    int open = ev->op == DRUDGE_BREAKER_OPEN;
    drudge_buf_puts(&args, "\"target\":");
    drudge_buf_json_str(&args, ev->target, strlen(ev->target));
    if (open && ev->trigger) {
        drudge_buf_puts(&args, ",\"trigger\":");
        drudge_buf_json_str(&args, ev->trigger, strlen(ev->trigger));
    }
    drudge_buf_printf(&result, "{\"breaker\":\"%s\",\"outage\":%lld}", open ? "open" : "closed",
                      (long long)outage_id);
    drudge_operator_step op = {.action = open ? "breaker open" : "breaker close",
                               .user = wr->p->owner,
                               .args = args.data,
                               .result = result.data,
                               .now = ev->at};
    drudge_code rc = drudge_audit_operator(wr->s, &op, err);
    drudge_buf_free(&args);
    drudge_buf_free(&result);
    return rc;
}

static void say(writer *wr, const drudge_breaker_event *ev, int64_t outage_id)
{
    if (ev->op == DRUDGE_BREAKER_OPEN)
        fprintf(stderr,
                "drudge work: target %s is down: circuit breaker open (outage #%lld: %s); tasks "
                "of its scripts wait, a probe tries again in %.0f s\n",
                ev->target, (long long)outage_id, ev->trigger ? ev->trigger : "",
                (double)(ev->next - ev->at) / 1e6);
    else if (ev->op == DRUDGE_BREAKER_CLOSE)
        fprintf(stderr, "drudge work: target %s is back: circuit breaker closed (outage #%lld)\n",
                ev->target, (long long)outage_id);
    (void)wr;
}

static int sync_row(void *ud, const drudge_outage_row *o)
{
    (void)ud;
    drudge_breaker_sync_open(o->target, o->probe_at, o->probes);
    return 0;
}

drudge_code breakers_write(writer *wr, int64_t now, drudge_err *err)
{
    drudge_code rc = DRUDGE_OK;
    if (!drudge_breaker_enabled())
        return DRUDGE_OK;
    wr->bev = drudge_breaker_take(&wr->nbev);
    for (size_t i = 0; i < wr->nbev && !rc; i++) {
        drudge_breaker_event *ev = &wr->bev[i];
        int changed = 0;
        int64_t id = 0;
        if (ev->op == DRUDGE_BREAKER_OPEN)
            ev->by = wr->p->owner;
        rc = drudge_store_breaker(wr->s, ev, &changed, &id, err);
        if (!rc && changed && ev->op != DRUDGE_BREAKER_LEARN) {
            rc = chain_step(wr, ev, id, err);
            /* Operations are told, once the turn commits (notify.c sends it). */
            if (!rc)
                rc = drudge_notify_outage(wr->s, ev->op == DRUDGE_BREAKER_OPEN, id, ev->at, err);
            if (!rc)
                say(wr, ev, id);
        }
    }
    if (!rc && (wr->nbev || now >= wr->next_sync)) {
        drudge_breaker_sync_begin();
        rc = drudge_store_breakers(wr->s, sync_row, wr, err);
        drudge_breaker_sync_end();
        wr->next_sync = now + SYNC_EVERY_US;
    }
    return rc;
}

void breakers_rolled_back(writer *wr)
{
    for (size_t i = 0; i < wr->nbev; i++)
        wr->bev[i].by = NULL;
    if (wr->nbev)
        drudge_breaker_untake(wr->bev, wr->nbev);
    else
        free(wr->bev);
    wr->bev = NULL;
    wr->nbev = 0;
}

void breakers_committed(writer *wr)
{
    for (size_t i = 0; i < wr->nbev; i++)
        wr->bev[i].by = NULL; /* the pool's, not the event's */
    drudge_breaker_events_free(wr->bev, wr->nbev);
    wr->bev = NULL;
    wr->nbev = 0;
}

drudge_code breakers_probe(writer *wr, int64_t now, drudge_claimed **claimed, size_t *n,
                           char ***probe_of, drudge_err *err)
{
    char due[8][256];
    int probes[8];
    int ndue = drudge_breaker_enabled() ? drudge_breaker_due(now, due, probes, 8) : 0;
    drudge_code rc = DRUDGE_OK;
    for (int i = 0; i < ndue && !rc; i++) {
        int changed = 0;
        /* The probe after this one: each probe doubles the wait, up to the cap. */
        drudge_breaker_event ev = {.op = DRUDGE_BREAKER_PROBE,
                                   .target = due[i],
                                   .at = now,
                                   .next = now + drudge_breaker_probe_delay(probes[i] + 1)};
        rc = drudge_store_breaker(wr->s, &ev, &changed, NULL, err);
        if (rc || !changed)
            continue; /* another process took it */
        drudge_claimed *one = NULL;
        size_t got = 0;
        rc = drudge_queue_claim_probe(wr->q, now, due[i], &one, &got, err);
        if (rc || !got) {
            drudge_claimed_free_all(one, got);
            continue;
        }
        int fresh = !*probe_of;
        *claimed = drudge_xrealloc(*claimed, (*n + 1) * sizeof **claimed);
        *probe_of = drudge_xrealloc(*probe_of, (*n + 1) * sizeof **probe_of);
        if (fresh)
            memset(*probe_of, 0, *n * sizeof **probe_of);
        (*claimed)[*n] = one[0];
        (*probe_of)[*n] = drudge_xstrdup(due[i]);
        (*n)++;
        free(one);
        if (wr->opts->verbose)
            fprintf(stderr, "drudge work: task #%lld probes target %s\n",
                    (long long)(*claimed)[*n - 1].id, due[i]);
    }
    return rc;
}

drudge_code breakers_release_held(writer *wr, drudge_err *err)
{
    pool *p = wr->p;
    joblist held = {0}, keep = {0};
    char target[256];
    if (!drudge_breaker_enabled())
        return DRUDGE_OK;
    int open = drudge_breaker_open_count() > 0;
    pthread_mutex_lock(&p->mu);
    for (job *j = list_pop(&p->held); j; j = list_pop(&p->held))
        list_push(&held, j);
    if (open) {
        for (job *j = list_pop(&p->ready); j; j = list_pop(&p->ready))
            list_push(!j->probe && drudge_breaker_holds(j->t.script, target, sizeof target) ? &held
                                                                                            : &keep,
                      j);
        p->ready = keep;
    }
    pthread_mutex_unlock(&p->mu);
    if (!held.head)
        return DRUDGE_OK;
    drudge_code rc = drudge_store_begin(wr->s, DRUDGE_TX_WRITE, err);
    for (job *j = held.head; j && !rc; j = j->next)
        rc = drudge_queue_release(wr->q, &j->t, err);
    if (!rc)
        rc = drudge_store_commit(wr->s, err);
    if (rc) { /* still ours: back to the ready list, to run (and be held by the call path) */
        drudge_store_rollback(wr->s);
        pthread_mutex_lock(&p->mu);
        for (job *j = list_pop(&held); j; j = list_pop(&held))
            list_push(&p->ready, j);
        pthread_mutex_unlock(&p->mu);
        return rc;
    }
    wr->stats->held_back += (int64_t)held.n;
    if (wr->opts->verbose)
        fprintf(stderr,
                "drudge work: gave back %zu claimed task%s whose target is down (no attempt "
                "spent)\n",
                held.n, held.n == 1 ? "" : "s");
    list_free(&held, 0);
    return DRUDGE_OK;
}

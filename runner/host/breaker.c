/* breaker.c: circuit breakers per target in this process (breaker.h).
 *
 * A table of targets (few: the hosts a fleet's scripts reach) and of the
 * (script, target) pairs seen, searched linearly under one mutex: a call
 * costs a lock and a few string compares, next to a network round trip.
 * What the database must learn (an opening, a closing, a new pair) is
 * queued as an event for the writer. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "drudge/util.h"
#include "runner/host/breaker.h"

typedef struct brk {
    char *name;
    int fails;          /* system errors in a row */
    int64_t first_fail; /* the first of them */
    int64_t last_fail;  /* the latest of them */
    int open;           /* held here: opened here, or read from the database */
    int64_t opened_at, probe_at;
    int probes;
    char trigger[256];
} brk;

typedef struct pair {
    char *script, *target;
} pair;

static struct {
    pthread_mutex_t mu;
    int enabled;
    drudge_breaker_opts o;
    brk *t;
    size_t nt, capt;
    pair *p;
    size_t np, capp;
    drudge_breaker_event *ev;
    size_t nev, capev;
    int syncing; /* between sync_begin and sync_end */
    char **seen; /* targets sync_open named */
    size_t nseen, capseen;
} B = {.mu = PTHREAD_MUTEX_INITIALIZER};

static __thread char probe_target[256];
/* This thread's probe: a call to its target got through, and nothing since
 * said the target is down (a failed call, outage()). The breaker closes
 * when the probe's attempt ends (drudge_breaker_probe(NULL)), not at the
 * call: a server that answers 200 with a maintenance page is still down
 * when the script says so with outage() after the call. */
static __thread int probe_ok;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void drudge_breaker_enable(const drudge_breaker_opts *opts)
{
    pthread_mutex_lock(&B.mu);
    B.o = opts ? *opts : (drudge_breaker_opts){0};
    if (B.o.errors <= 0)
        B.o.errors = 5;
    if (B.o.window_s <= 0)
        B.o.window_s = 60;
    if (B.o.probe_s <= 0)
        B.o.probe_s = 5;
    if (B.o.probe_max_s <= 0)
        B.o.probe_max_s = 300;
    if (B.o.probe_max_s < B.o.probe_s)
        B.o.probe_max_s = B.o.probe_s;
    B.enabled = 1;
    pthread_mutex_unlock(&B.mu);
}

int drudge_breaker_enabled(void)
{
    return B.enabled;
}

void drudge_breaker_opts_get(drudge_breaker_opts *out)
{
    pthread_mutex_lock(&B.mu);
    *out = B.o;
    pthread_mutex_unlock(&B.mu);
}

int64_t drudge_breaker_probe_delay(int probes)
{
    double d = B.o.probe_s > 0 ? B.o.probe_s : 5;
    double cap = B.o.probe_max_s > 0 ? B.o.probe_max_s : 300;
    for (int i = 0; i < probes && d < cap; i++)
        d *= 2;
    if (d > cap)
        d = cap;
    return (int64_t)(d * 1e6);
}

/* ---- the tables (B.mu held) ---- */

static brk *find_target(const char *name, int add)
{
    for (size_t i = 0; i < B.nt; i++)
        if (!strcmp(B.t[i].name, name))
            return &B.t[i];
    if (!add)
        return NULL;
    if (B.nt == B.capt) {
        B.capt = B.capt ? 2 * B.capt : 8;
        B.t = drudge_xrealloc(B.t, B.capt * sizeof *B.t);
    }
    brk *t = &B.t[B.nt++];
    memset(t, 0, sizeof *t);
    t->name = drudge_xstrdup(name);
    return t;
}

static drudge_breaker_event *push_event(drudge_breaker_op op, const char *target)
{
    if (B.nev == B.capev) {
        B.capev = B.capev ? 2 * B.capev : 16;
        B.ev = drudge_xrealloc(B.ev, B.capev * sizeof *B.ev);
    }
    drudge_breaker_event *e = &B.ev[B.nev++];
    memset(e, 0, sizeof *e);
    e->op = op;
    e->target = drudge_xstrdup(target);
    e->at = now_us();
    return e;
}

static void learn(const char *script, const char *target, int declared)
{
    if (!script || !*script || !target || !*target)
        return;
    for (size_t i = 0; i < B.np; i++)
        if (!strcmp(B.p[i].target, target) && !strcmp(B.p[i].script, script))
            return;
    if (B.np == B.capp) {
        B.capp = B.capp ? 2 * B.capp : 16;
        B.p = drudge_xrealloc(B.p, B.capp * sizeof *B.p);
    }
    B.p[B.np].script = drudge_xstrdup(script);
    B.p[B.np++].target = drudge_xstrdup(target);
    drudge_breaker_event *e = push_event(DRUDGE_BREAKER_LEARN, target);
    e->script = drudge_xstrdup(script);
    e->declared = declared;
}

/* Opens t here and queues the opening for the database. */
static void open_here(brk *t, int64_t first_at, const char *trigger)
{
    int64_t now = now_us();
    t->open = 1;
    t->opened_at = now;
    t->probes = 0;
    t->probe_at = now + drudge_breaker_probe_delay(0);
    snprintf(t->trigger, sizeof t->trigger, "%s", trigger ? trigger : "");
    drudge_breaker_event *e = push_event(DRUDGE_BREAKER_OPEN, t->name);
    e->at = now;
    e->first_at = first_at ? first_at : now;
    e->trigger = drudge_xstrdup(t->trigger);
    e->next = t->probe_at;
}

/* ---- the call path ---- */

int drudge_breaker_held(const char *script, const char *target, char *why, size_t n)
{
    if (!B.enabled || !target || !*target)
        return 0;
    pthread_mutex_lock(&B.mu);
    learn(script, target, 0);
    brk *t = find_target(target, 1);
    int held = t->open && strcmp(probe_target, target) != 0;
    if (held) {
        time_t s = (time_t)(t->opened_at / 1000000);
        struct tm tm;
        char when[32];
        gmtime_r(&s, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(why, n, "target %s is down (circuit breaker open since %s: %s); the task waits",
                 target, when, t->trigger);
    }
    pthread_mutex_unlock(&B.mu);
    return held;
}

int drudge_breaker_result(const char *target, int ok, const char *msg, int64_t began)
{
    if (!B.enabled || !target || !*target)
        return 0;
    int open;
    pthread_mutex_lock(&B.mu);
    brk *t = find_target(target, 1);
    int64_t now = now_us();
    if (ok) {
        /* A call in flight when the errors began keeps the run: two
         * threads' answers reach here in any order. */
        if (!began || began >= t->last_fail)
            t->fails = 0;
        if (t->open && !strcmp(probe_target, target)) {
            probe_ok = 1; /* closed when the probe's attempt ends */
        } else if (t->open && (!began || began >= t->opened_at)) { /* got through: closed at once */
            t->open = 0;
            push_event(DRUDGE_BREAKER_CLOSE, target);
        }
    } else {
        if (!strcmp(probe_target, target))
            probe_ok = 0;
        if (!t->fails || now - t->first_fail > (int64_t)(B.o.window_s * 1e6)) {
            t->fails = 0;
            t->first_fail = now;
        }
        t->fails++;
        t->last_fail = now;
        if (!t->open && t->fails >= B.o.errors)
            open_here(t, t->first_fail, msg);
    }
    open = t->open;
    pthread_mutex_unlock(&B.mu);
    return open && !ok;
}

void drudge_breaker_declare_down(const char *script, const char *target, const char *reason)
{
    if (!B.enabled || !target || !*target)
        return;
    char trigger[256];
    snprintf(trigger, sizeof trigger, "declared by %s: %s", script ? script : "a script",
             reason ? reason : "");
    pthread_mutex_lock(&B.mu);
    learn(script, target, 0);
    brk *t = find_target(target, 1);
    if (!t->open)
        open_here(t, 0, trigger);
    if (!strcmp(probe_target, target))
        probe_ok = 0; /* the probe found it still down: the same outage goes on */
    pthread_mutex_unlock(&B.mu);
}

void drudge_breaker_learn(const char *script, const char *target, int declared)
{
    if (!B.enabled)
        return;
    pthread_mutex_lock(&B.mu);
    learn(script, target, declared);
    pthread_mutex_unlock(&B.mu);
}

void drudge_breaker_probe(const char *target)
{
    if (!target && probe_ok && *probe_target) {
        pthread_mutex_lock(&B.mu);
        brk *t = find_target(probe_target, 1);
        if (t->open) {
            t->open = 0;
            push_event(DRUDGE_BREAKER_CLOSE, probe_target);
        }
        pthread_mutex_unlock(&B.mu);
    }
    probe_ok = 0;
    snprintf(probe_target, sizeof probe_target, "%s", target ? target : "");
}

/* ---- the writer ---- */

drudge_breaker_event *drudge_breaker_take(size_t *n)
{
    pthread_mutex_lock(&B.mu);
    drudge_breaker_event *ev = B.ev;
    *n = B.nev;
    B.ev = NULL;
    B.nev = B.capev = 0;
    pthread_mutex_unlock(&B.mu);
    return ev;
}

void drudge_breaker_events_free(drudge_breaker_event *ev, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)ev[i].target);
        free((char *)ev[i].script);
        free((char *)ev[i].trigger);
    }
    free(ev);
}

void drudge_breaker_untake(drudge_breaker_event *ev, size_t n)
{
    pthread_mutex_lock(&B.mu);
    for (size_t i = 0; i < n; i++) {
        if (B.nev == B.capev) {
            B.capev = B.capev ? 2 * B.capev : 16;
            B.ev = drudge_xrealloc(B.ev, B.capev * sizeof *B.ev);
        }
        B.ev[B.nev++] = ev[i];
    }
    pthread_mutex_unlock(&B.mu);
    free(ev);
}

void drudge_breaker_sync_begin(void)
{
    pthread_mutex_lock(&B.mu);
    B.syncing = 1;
    B.nseen = 0;
    pthread_mutex_unlock(&B.mu);
}

void drudge_breaker_sync_open(const char *name, int64_t probe_at, int probes)
{
    pthread_mutex_lock(&B.mu);
    brk *t = find_target(name, 1);
    if (!t->open) {
        int64_t now = now_us();
        t->open = 1;
        t->opened_at = now;
        snprintf(t->trigger, sizeof t->trigger, "opened by another worker");
        /* Our errors to it since before it opened: the outage began then,
         * if that is earlier than the opener's first (the database decides). */
        if (t->fails && now - t->first_fail <= (int64_t)(B.o.window_s * 1e6)) {
            drudge_breaker_event *e = push_event(DRUDGE_BREAKER_OPEN, t->name);
            e->first_at = t->first_fail;
            e->at = now;
            e->trigger = drudge_xstrdup("errors seen by another worker");
            e->extend = 1;
            e->next = probe_at;
        }
        t->fails = 0;
    }
    t->probe_at = probe_at;
    t->probes = probes;
    if (B.nseen == B.capseen) {
        B.capseen = B.capseen ? 2 * B.capseen : 8;
        B.seen = drudge_xrealloc(B.seen, B.capseen * sizeof *B.seen);
    }
    B.seen[B.nseen++] = t->name;
    pthread_mutex_unlock(&B.mu);
}

void drudge_breaker_sync_end(void)
{
    pthread_mutex_lock(&B.mu);
    for (size_t i = 0; i < B.nt; i++) {
        brk *t = &B.t[i];
        int named = 0;
        for (size_t k = 0; k < B.nseen && !named; k++)
            named = B.seen[k] == t->name;
        /* An opening still queued here is not in the database yet. */
        int queued = 0;
        for (size_t k = 0; k < B.nev && !queued; k++)
            queued = B.ev[k].op == DRUDGE_BREAKER_OPEN && !strcmp(B.ev[k].target, t->name);
        if (t->open && !named && !queued) {
            t->open = 0; /* closed elsewhere */
            t->fails = 0;
        }
    }
    B.syncing = 0;
    pthread_mutex_unlock(&B.mu);
}

int drudge_breaker_holds(const char *script, char *out, size_t n)
{
    if (!B.enabled || !script)
        return 0;
    int held = 0;
    pthread_mutex_lock(&B.mu);
    for (size_t i = 0; i < B.np && !held; i++) {
        if (strcmp(B.p[i].script, script) != 0)
            continue;
        brk *t = find_target(B.p[i].target, 0);
        if (t && t->open) {
            held = 1;
            snprintf(out, n, "%s", t->name);
        }
    }
    pthread_mutex_unlock(&B.mu);
    return held;
}

int drudge_breaker_due(int64_t now, char (*out)[256], int *probes, int max)
{
    int k = 0;
    pthread_mutex_lock(&B.mu);
    for (size_t i = 0; i < B.nt && k < max; i++)
        if (B.t[i].open && B.t[i].probe_at <= now) {
            probes[k] = B.t[i].probes;
            snprintf(out[k++], 256, "%s", B.t[i].name);
        }
    pthread_mutex_unlock(&B.mu);
    return k;
}

int drudge_breaker_open_count(void)
{
    if (!B.enabled)
        return 0;
    int n = 0;
    pthread_mutex_lock(&B.mu);
    for (size_t i = 0; i < B.nt; i++)
        n += B.t[i].open;
    pthread_mutex_unlock(&B.mu);
    return n;
}

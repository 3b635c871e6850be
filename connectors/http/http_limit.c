/* http_limit.c: per-host rate limits and concurrency caps, shared by every
 * worker thread of the process (see http.h).
 *
 * Each host has a token bucket (rate per_second, capacity burst) and a
 * counting semaphore (concurrent). One mutex and condition variable guard
 * them all: limits are few and the critical sections are a few
 * instructions, so a finer scheme would buy nothing. A waiter sleeps on the
 * condition variable until a slot is released or the next token is due,
 * never past its own deadline. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "connectors/http/http.h"
#include "drudge/util.h"

struct drudge_http_limit {
    char host[256]; /* lower case, maybe with ":port" */
    double per_second;
    int concurrent, burst;
    double tokens;     /* available now, up to burst */
    int64_t refill_us; /* monotonic time tokens was last brought up to date */
    int in_flight;
    struct drudge_http_limit *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static pthread_once_t cv_once = PTHREAD_ONCE_INIT;
static drudge_http_limit *limits; /* never freed: slots handed out stay valid */
static drudge_http_limit *spare;  /* cleared entries, reused by limit_set */

/* The condition variable waits on the monotonic clock, like our deadlines. */
static void cv_init(void)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&cv, &a);
    pthread_condattr_destroy(&a);
}

static drudge_http_limit *find(const char *host)
{
    for (drudge_http_limit *l = limits; l; l = l->next)
        if (!strcasecmp(l->host, host))
            return l;
    return NULL;
}

drudge_code drudge_http_limit_set(const char *host, double per_second, int concurrent, int burst,
                                  drudge_err *err)
{
    size_t n = host ? strlen(host) : 0;
    if (n == 0 || n >= sizeof limits->host)
        return drudge_seterr(err, DRUDGE_EUSAGE, "http.limit: host must be 1 to 255 characters");
    for (size_t i = 0; i < n; i++)
        if (isspace((unsigned char)host[i]) || host[i] == '/')
            return drudge_seterr(err, DRUDGE_EUSAGE,
                                 "http.limit: '%s' is not a host name (no scheme or path)", host);
    if (!isfinite(per_second) || per_second > 1e6)
        return drudge_seterr(err, DRUDGE_EUSAGE, "http.limit %s: per_second out of range", host);
    pthread_once(&cv_once, cv_init);
    pthread_mutex_lock(&mu);
    drudge_http_limit *l = find(host);
    if (!l) {
        if (spare) {
            l = spare;
            spare = spare->next;
        } else {
            l = drudge_xmalloc(sizeof *l);
        }
        memset(l, 0, sizeof *l);
        for (size_t i = 0; i <= n; i++)
            l->host[i] = (char)tolower((unsigned char)host[i]);
        l->next = limits;
        __atomic_store_n(&limits, l, __ATOMIC_RELEASE);
        l->refill_us = drudge_mono_us();
    }
    l->per_second = per_second > 0 ? per_second : 0;
    l->concurrent = concurrent > 0 ? concurrent : 0;
    l->burst = burst >= 1 ? burst : 1;
    l->tokens = l->burst;
    pthread_cond_broadcast(&cv); /* a raised cap may free waiters */
    pthread_mutex_unlock(&mu);
    return DRUDGE_OK;
}

void drudge_http_limits_clear(void)
{
    pthread_mutex_lock(&mu);
    /* Entries may still be held as slots: keep the memory, park them. */
    while (limits) {
        drudge_http_limit *l = limits;
        __atomic_store_n(&limits, l->next, __ATOMIC_RELEASE);
        l->host[0] = '\0';
        l->next = spare;
        spare = l;
    }
    pthread_mutex_unlock(&mu);
}

static int parse_field(const char *key, const char *val, double *per_second, int *concurrent,
                       int *burst)
{
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end || v < 0)
        return -1;
    if (!strcmp(key, "per_second"))
        *per_second = v;
    else if (!strcmp(key, "per_minute"))
        *per_second = v / 60.0;
    else if (!strcmp(key, "concurrent") && v == floor(v) && v < 1e6)
        *concurrent = (int)v;
    else if (!strcmp(key, "burst") && v == floor(v) && v < 1e6)
        *burst = (int)v;
    else
        return -1;
    return 0;
}

drudge_code drudge_http_limits_load(const char *path, drudge_err *err)
{
    size_t len;
    char *text = drudge_read_file(path, &len);
    if (!text)
        return drudge_seterr(err, DRUDGE_EIO, "http limits file %s: %s", path, strerror(errno));
    drudge_code rc = DRUDGE_OK;
    int lineno = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *tsave = NULL, *host = strtok_r(line, " \t\r", &tsave);
        if (!host)
            continue;
        double per_second = 0;
        int concurrent = 0, burst = 1, nfields = 0;
        for (char *f = strtok_r(NULL, " \t\r", &tsave); f; f = strtok_r(NULL, " \t\r", &tsave)) {
            char *eq = strchr(f, '=');
            if (eq)
                *eq = '\0';
            if (!eq || parse_field(f, eq + 1, &per_second, &concurrent, &burst) < 0) {
                rc = drudge_seterr(err, DRUDGE_EINPUT,
                                   "%s:%d: '%s%s%s' is not per_second=N, per_minute=N, "
                                   "concurrent=N or burst=N",
                                   path, lineno, f, eq ? "=" : "", eq ? eq + 1 : "");
                goto cleanup;
            }
            nfields++;
        }
        if (!nfields) {
            rc = drudge_seterr(err, DRUDGE_EINPUT, "%s:%d: host '%s' has no limits", path, lineno,
                               host);
            goto cleanup;
        }
        rc = drudge_http_limit_set(host, per_second, concurrent, burst, err);
        if (rc) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
            drudge_seterr(err, rc, "%s:%d: %s", path, lineno, msg);
            goto cleanup;
        }
    }
cleanup:
    free(text);
    return rc;
}

/* Brings l's tokens up to date. Called with mu held. */
static void refill(drudge_http_limit *l, int64_t now)
{
    if (l->per_second <= 0)
        return;
    l->tokens += (double)(now - l->refill_us) / 1e6 * l->per_second;
    if (l->tokens > l->burst)
        l->tokens = l->burst;
    l->refill_us = now;
}

drudge_code drudge_http_limit_acquire(const char *host, int port, double max_wait,
                                      drudge_http_limit **slot, double *waited, drudge_err *err)
{
    char key[300];
    *slot = NULL;
    if (waited)
        *waited = 0;
    /* The common case, no limits at all, takes no lock. */
    if (!__atomic_load_n(&limits, __ATOMIC_ACQUIRE))
        return DRUDGE_OK;
    pthread_once(&cv_once, cv_init);
    int64_t start = drudge_mono_us();
    int64_t deadline = start + (int64_t)(max_wait > 0 ? max_wait * 1e6 : 0);
    drudge_code rc = DRUDGE_OK;
    pthread_mutex_lock(&mu);
    snprintf(key, sizeof key, "%s:%d", host, port);
    drudge_http_limit *l = find(key);
    if (!l)
        l = find(host);
    if (!l)
        goto out;
    for (;;) {
        int64_t now = drudge_mono_us();
        refill(l, now);
        int cap_ok = !l->concurrent || l->in_flight < l->concurrent;
        int rate_ok = l->per_second <= 0 || l->tokens >= 1.0;
        if (cap_ok && rate_ok)
            break;
        /* Wake when the next token is due, or on a release. */
        int64_t wake = deadline;
        if (cap_ok && !rate_ok) {
            int64_t due = now + (int64_t)ceil((1.0 - l->tokens) / l->per_second * 1e6);
            if (due > deadline) {
                rc = drudge_seterr(err, DRUDGE_ECONNECT,
                                   "rate limit for %s (%g/s) would delay the request past the "
                                   "attempt's deadline",
                                   l->host, l->per_second);
                goto out;
            }
            wake = due;
        } else if (now >= deadline) {
            rc = drudge_seterr(err, DRUDGE_ECONNECT,
                               "no free connection slot for %s (concurrent=%d) before the "
                               "attempt's deadline (waited %.1f s)",
                               l->host, l->concurrent, (double)(now - start) / 1e6);
            goto out;
        }
        struct timespec ts = {.tv_sec = (time_t)(wake / 1000000),
                              .tv_nsec = (long)(wake % 1000000) * 1000};
        pthread_cond_timedwait(&cv, &mu, &ts);
    }
    if (l->per_second > 0)
        l->tokens -= 1.0;
    l->in_flight++;
    *slot = l;
out:
    pthread_mutex_unlock(&mu);
    if (waited)
        *waited = (double)(drudge_mono_us() - start) / 1e6;
    return rc;
}

void drudge_http_limit_release(drudge_http_limit *slot)
{
    if (!slot)
        return;
    pthread_mutex_lock(&mu);
    if (slot->in_flight > 0)
        slot->in_flight--;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

/*
 * waiting.h: why a queued task waits, and until when (runner/queue/waiting.c).
 *
 * A queued task that is not running is claimable now ("ready") or held by
 * one thing, the first of these that applies:
 *   paused   its script is paused (drudge pause, or a worker's pause for a
 *            configuration error): until someone resumes it
 *   breaker  a target its script uses is down (an open circuit breaker):
 *            until the breaker's next probe
 *   backoff  waiting out a retry's delay (or retry_later): until run_at
 *   not_due  enqueued for later (--at, a schedule's catch-up): until run_at
 *   window   outside its run window: until the window next opens
 * When a task is both not due and outside its window, it says not_due (or
 * backoff), with the until of whichever comes later: the window's next
 * opening after run_at.
 */
#ifndef DRUDGE_WAITING_H
#define DRUDGE_WAITING_H

#include <stddef.h>
#include <stdint.h>
#include "drudge/error.h"
#include "runner/store/store.h"

typedef enum drudge_wait_reason {
    DRUDGE_WAIT_READY = 0, /* a worker may claim it now */
    DRUDGE_WAIT_PAUSED,
    DRUDGE_WAIT_BREAKER, /* an open circuit breaker holds its script */
    DRUDGE_WAIT_BACKOFF,
    DRUDGE_WAIT_NOT_DUE,
    DRUDGE_WAIT_WINDOW,
    DRUDGE_WAIT_N
} drudge_wait_reason;
/* "ready", "paused", "breaker", "backoff", "not_due", "window": the names
 * in --json, metrics labels and `tasks --waiting`. */
extern const char *const drudge_wait_names[DRUDGE_WAIT_N];
/* The reason named s, or -1. */
int drudge_wait_parse(const char *s);

typedef struct drudge_wait {
    drudge_wait_reason reason;
    /* When it may be claimed if nothing else changes: run_at, the window's
     * next opening; 0 when a person must act (paused), -1 for a window that
     * does not open within 8 days (or cannot be read). */
    int64_t until;
    int64_t since;  /* paused: when */
    char by[64];    /* paused: who ("" for a worker's pause) */
    char note[256]; /* paused: the worker's reason; window: the window; breaker: the target */
} drudge_wait;

/* What holds tasks beyond their own rows (paused scripts; breakers), read
 * once for many tasks. */
typedef struct drudge_wait_ctx drudge_wait_ctx;
drudge_code drudge_wait_ctx_load(drudge_store *s, drudge_wait_ctx **out /* OUT */, drudge_err *err);
void drudge_wait_ctx_free(drudge_wait_ctx *c);

/* Why task t (queued, not running) waits at now. For a task in another
 * state out->reason is DRUDGE_WAIT_READY and the caller shows nothing. */
void drudge_wait_of(const drudge_wait_ctx *c, const drudge_task_row *t, int64_t now,
                    drudge_wait *out /* OUT */);
/* "paused by alice since 2026-12-06 10:00:00Z", "outside its run window
 * Mon-Fri 08:00-09:00 until ...": one line for people. */
void drudge_wait_describe(const drudge_wait *w, char *out, size_t n);

/* A script's queued tasks (not running) by reason. */
typedef struct drudge_wait_counts {
    char *script;
    int64_t count[DRUDGE_WAIT_N];
    /* The earliest time a ready task could have been claimed from (its
     * run_at, or when its window last opened if later), or 0 if none is
     * ready: the oldest-due gauge counts only these. */
    int64_t ready_since;
    /* Per reason: the earliest run_at among held tasks already due by the
     * clock (paused, breaker, window), or 0. */
    int64_t held_due_since[DRUDGE_WAIT_N];
    /* Per reason: the soonest until (0 if none or unknown). */
    int64_t next_until[DRUDGE_WAIT_N];
} drudge_wait_counts;
typedef struct drudge_wait_stats {
    drudge_wait_counts *scripts; /* by name */
    size_t n;
    drudge_wait_counts total; /* script NULL */
} drudge_wait_stats;
/* Counts for script (NULL: all) at now, in the caller's read transaction
 * if any. */
drudge_code drudge_queue_waiting(drudge_store *s, int64_t now, const char *script,
                                 drudge_wait_stats *out /* OUT */, drudge_err *err);
void drudge_wait_stats_clear(drudge_wait_stats *st);
/* The counts of script in st, or NULL. */
const drudge_wait_counts *drudge_wait_stats_find(const drudge_wait_stats *st, const char *script);

#endif

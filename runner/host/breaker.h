/*
 * breaker.h: circuit breakers per target, as this process sees them
 * (runner/host/breaker.c).
 *
 * A target is what a connector call reaches: an HTTP host ("cms.example.org",
 * with ":port" when not the scheme's), a mail server, the browser's site, an
 * X display. The call path (call.c) asks before every live call whether its
 * target is held, and tells the outcome after: a run of `errors` system
 * errors (connection refused, reset, timeout, 5xx) within `window_s`
 * opens the breaker. While it is open, calls to it do not go out: they end
 * the attempt as retry_later (no attempt spent) and the task waits in the
 * queue, held there by the database's breaker row (drudge_store_breaker),
 * which `drudge work`'s writer (runner/work/breaker.c) writes from the events
 * taken here and reads back every second, so every process and machine on
 * one database holds the same targets. A probe (one task, claimed at
 * growing intervals: probe_s, 2 probe_s, ... probe_max_s) may call the
 * target; its success closes the breaker at once.
 *
 * Only a process that called drudge_breaker_enable (a `drudge work`) keeps
 * breakers; elsewhere (`drudge run`, tests) every function is a no-op.
 * Thread-safe: one mutex, never held across a call.
 */
#ifndef DRUDGE_BREAKER_H
#define DRUDGE_BREAKER_H

#include <stddef.h>
#include <stdint.h>
#include "runner/store/store.h"

typedef struct drudge_breaker_opts {
    int errors;         /* system errors in a row that open; 0 = 5 */
    double window_s;    /* ... within this many seconds; 0 = 60 */
    double probe_s;     /* the first probe this long after opening; 0 = 5 */
    double probe_max_s; /* probe intervals double up to this; 0 = 300 */
} drudge_breaker_opts;

/* Turns breakers on with opts (NULL: the defaults), before workers start. */
void drudge_breaker_enable(const drudge_breaker_opts *opts);
/* The options in force (defaults filled in). */
void drudge_breaker_opts_get(drudge_breaker_opts *out /* OUT */);
/* The delay before the probe after `probes` probes (µs). */
int64_t drudge_breaker_probe_delay(int probes);

/* --- the call path --- */

/* Before a live call of script to target (learning that script uses it):
 * 0 if the call may go out, else 1 with why[n] saying the target is down
 * since when and what opened it. */
int drudge_breaker_held(const char *script, const char *target, char *why, size_t n);
/* After the live call, which began at `began` (µs since the epoch; 0: just
 * now): ok = 1 it reached the target, 0 a system error (msg). A success
 * ends a run of errors only if its call began after the run's latest error
 * was seen: an answer sent before the target went down says nothing about
 * it now. Returns 1 if the target's breaker is open now (this failure
 * opened it, or a probe failed): the attempt goes back unspent. */
int drudge_breaker_result(const char *target, int ok, const char *msg, int64_t began);
/* A script says the target is down (outage()): opens it with reason. */
void drudge_breaker_declare_down(const char *script, const char *target, const char *reason);
/* A script declares that it uses target (its `targets` field). */
void drudge_breaker_learn(const char *script, const char *target, int declared);
/* The worker thread's attempt is the probe of target (NULL: none). A call
 * to target that gets through during the probe closes the breaker when the
 * attempt ends (target NULL), unless a failed call or outage() came after it. */
void drudge_breaker_probe(const char *target);

/* --- the writer --- */

/* Takes the events (OPEN, CLOSE, LEARN) since the last take; *n of them,
 * strings malloc'd: drudge_breaker_events_free. */
drudge_breaker_event *drudge_breaker_take(size_t *n /* OUT */);
void drudge_breaker_events_free(drudge_breaker_event *ev, size_t n);
/* Puts events back (their transaction rolled back); takes ownership. */
void drudge_breaker_untake(drudge_breaker_event *ev, size_t n);
/* The database's open breakers: call begin, open for each, end. A target
 * not named is closed here from then on. */
void drudge_breaker_sync_begin(void);
void drudge_breaker_sync_open(const char *target, int64_t probe_at, int probes);
void drudge_breaker_sync_end(void);
/* Whether a task of script would be held now (a target it is known to use
 * is open here): 1 with the target copied to target[n]. */
int drudge_breaker_holds(const char *script, char *target, size_t n);
/* Targets open here whose probe is due at now, copied into out (at most
 * max), with the probes each has had; returns how many. */
int drudge_breaker_due(int64_t now, char (*out)[256], int *probes, int max);
/* How many targets are held here now (cheap: for the writer's every turn). */
int drudge_breaker_open_count(void);
/* Whether any breaker is enabled here. */
int drudge_breaker_enabled(void);

#endif

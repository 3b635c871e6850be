/*
 * schedule.h: cron schedules that enqueue batch runs (runner/work/scheduler.c).
 * `drudge work` ticks them about once a second.
 */
#ifndef DRUDGE_SCHEDULE_H
#define DRUDGE_SCHEDULE_H

#include <stdint.h>
#include "drudge/error.h"
#include "runner/calendar/window.h"
#include "runner/store/store.h"

/* Enqueues one task per due tick of every active schedule, with the
 * deterministic key "schedule:NAME@TICK" (TICK in UTC, e.g.
 * "schedule:nightly@2026-03-30T18:00:00Z") so concurrent workers never enqueue
 * a tick twice. Called by `drudge work` about once a second; now_us is
 * injectable for tests. Ticks missed while nothing ran follow the schedule's
 * catch-up mode: "none" enqueues a tick only within DRUDGE_SCHEDULE_GRACE_US
 * of its time, "latest" (the default) the most recent missed tick, "all"
 * every missed tick (up to DRUDGE_SCHEDULE_MAX_BATCH per call; the rest on
 * the next calls). A broken schedule does not stop the others: the first
 * error is returned after all were tried. */
drudge_code drudge_scheduler_tick(drudge_store *s, int64_t now_us, drudge_err *err);
#define DRUDGE_SCHEDULE_GRACE_US  (120 * 1000000LL)
#define DRUDGE_SCHEDULE_MAX_BATCH 1000

/* Adds a schedule (drudge_schedule: store.h), validating name
 * ([A-Za-z0-9._-], up to 64), cron, tz, catch_up and window; errors name the
 * field. A schedule's window without a zone is evaluated in the schedule's
 * tz. Ticks start after now_us. These three changes go on the audit chain
 * as operator steps by who (logs/audit/operator.c), with the change. */
drudge_code drudge_schedule_add(drudge_store *s, const drudge_schedule *sc, const char *who,
                                int64_t now_us, drudge_err *err);
drudge_code drudge_schedule_remove(drudge_store *s, const char *name, const char *who,
                                   int64_t now_us, drudge_err *err);
/* Pausing skips ticks; resuming starts again from now_us (no catch-up of
 * the paused time). */
drudge_code drudge_schedule_set_paused(drudge_store *s, const char *name, int paused,
                                       const char *who, int64_t now_us, drudge_err *err);
/* All schedules by name; free with drudge_schedule_list_free. */
drudge_code drudge_schedule_list(drudge_store *s, drudge_schedule **out /* OUT */, int *n /* OUT */,
                                 drudge_err *err);
/* The first fire time (µs) after after_us, or -1 if none or invalid. */
int64_t drudge_schedule_next(const char *cron, const char *tz, int64_t after_us);

#endif

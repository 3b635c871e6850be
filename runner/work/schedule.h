/*
 * schedule.h: cron schedules, run windows, live status and metrics
 * (runner/work/scheduler.c, runner/work/cron.c, runner/work/window.c, runner/cli/watch.c,
 * connectors/serve/metrics.c). The worker loop (runner/work/worker.c) calls into these.
 */
#ifndef DRUDGE_SCHEDULE_H
#define DRUDGE_SCHEDULE_H

#include <sqlite3.h>
#include <stdint.h>
#include "runner/cli/cli.h"
#include "drudge/error.h"

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
drudge_code drudge_scheduler_tick(sqlite3 *db, int64_t now_us, drudge_err *err);
#define DRUDGE_SCHEDULE_GRACE_US  (120 * 1000000LL)
#define DRUDGE_SCHEDULE_MAX_BATCH 1000

/* A schedule row. Strings are malloc'd by drudge_schedule_list. */
typedef struct drudge_schedule {
    char *name;
    char *cron;        /* five-field expression or @macro */
    char *tz;          /* IANA zone, or NULL for the machine's zone */
    char *script;      /* the script's name */
    char *script_path; /* absolute path it is loaded from */
    char *input;       /* JSON text for every task, or NULL */
    char *catch_up;    /* "none" | "latest" | "all" */
    char *window;      /* run window for its tasks (zone appended), or NULL */
    int priority;
    int paused;
    int max_attempts; /* the script's, when added (refreshed at each tick) */
    double manual_minutes, exception_minutes;
    int64_t last_tick; /* µs: the newest tick handled (enqueued or skipped) */
    int64_t created_at;
} drudge_schedule;

/* Adds a schedule, validating name ([A-Za-z0-9._-], up to 64), cron, tz,
 * catch_up and window; errors name the field. A schedule's window without a
 * zone is evaluated in the schedule's tz. Ticks start after now_us. */
drudge_code drudge_schedule_add(sqlite3 *db, const drudge_schedule *s, int64_t now_us,
                                drudge_err *err);
drudge_code drudge_schedule_remove(sqlite3 *db, const char *name, drudge_err *err);
/* Pausing skips ticks; resuming starts again from now_us (no catch-up of
 * the paused time). */
drudge_code drudge_schedule_set_paused(sqlite3 *db, const char *name, int paused, int64_t now_us,
                                       drudge_err *err);
/* All schedules by name; free with drudge_schedule_list_free. */
drudge_code drudge_schedule_list(sqlite3 *db, drudge_schedule **out /* OUT */, int *n /* OUT */,
                                 drudge_err *err);
void drudge_schedule_list_free(drudge_schedule *list, int n);
/* The first fire time (µs) after after_us, or -1 if none or invalid. */
int64_t drudge_schedule_next(const char *cron, const char *tz, int64_t after_us);

/* Run windows ("Mon-Fri 18:00-07:30", "Sat,Sun 00:00-24:00", lists with ';').
 * Returns 1 if now (µs, UTC; evaluated in local time) is inside spec, 0 if
 * not; a NULL or empty spec is always open. */
int drudge_window_allows(const char *spec, int64_t now_us);
/* Validates spec; on error fills err naming the part that is wrong. */
drudge_code drudge_window_parse(const char *spec, drudge_err *err);
/* Registers the SQL function drudge_in_window(spec, now_us) on db, so the
 * claim query can skip tasks outside their window. */
drudge_code drudge_window_register(sqlite3 *db, drudge_err *err);

/* `drudge status --watch`: the live terminal view until q or Ctrl-C. When
 * stdout is not a terminal (or with --json) it prints one snapshot and
 * returns. Respects NO_COLOR. */
int drudge_watch_run(drudge_cli *cli, sqlite3 *db);

/* The watch view's data as one JSON object, appended to out:
 * {"workers":N,"scripts":[{"script","paused","queued","running","retrying",
 *   "backlog":{"since","total","finished","done","failed","cancelled"},
 *   "rate_per_minute","eta_seconds"|null,"last_failure":{"task","error"}|null}],
 *  "next_runs":[{"schedule","script","at"}]}
 * The current backlog of a script starts at its oldest open task (or, when
 * all are finished, at the oldest of those finished in the last 10 minutes);
 * rates count tasks finished in the last 5 minutes. For `status --json`. */
struct drudge_buf;
drudge_code drudge_status_json(sqlite3 *db, int64_t now_us, struct drudge_buf *out,
                               drudge_err *err);

/* Prometheus text exposition of the database's state, appended to out. */
struct drudge_buf;
drudge_code drudge_metrics_render(sqlite3 *db, struct drudge_buf *out, drudge_err *err);
/* `drudge work --metrics-listen ADDR:PORT`: serves /metrics over HTTP from a
 * background thread with its own read-only connection to db_path. */
typedef struct drudge_metrics_server drudge_metrics_server;
drudge_code drudge_metrics_serve(const char *db_path, const char *listen,
                                 drudge_metrics_server **out /* OUT */, drudge_err *err);
void drudge_metrics_stop(drudge_metrics_server *s);

#endif

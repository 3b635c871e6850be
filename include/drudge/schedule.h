/*
 * schedule.h: cron schedules, run windows, live status and metrics
 * (runner/scheduler.c, runner/cron.c, runner/window.c, runner/watch.c,
 * runner/metrics.c). The worker loop (runner/worker.c) calls into these.
 */
#ifndef DRUDGE_SCHEDULE_H
#define DRUDGE_SCHEDULE_H

#include <sqlite3.h>
#include <stdint.h>
#include "cli.h"
#include "error.h"

/* Enqueues one task per due tick of every active schedule, with the
 * deterministic key "schedule:NAME@TICK" so concurrent workers never enqueue a
 * tick twice. Called by `drudge work` about once a second. */
drudge_code drudge_scheduler_tick(sqlite3 *db, int64_t now_us, drudge_err *err);

/* Run windows ("Mon-Fri 18:00-07:30", "Sat,Sun 00:00-24:00", lists with ';').
 * Returns 1 if now (µs, UTC; evaluated in local time) is inside spec, 0 if
 * not; a NULL or empty spec is always open. */
int drudge_window_allows(const char *spec, int64_t now_us);
/* Validates spec; on error fills err naming the part that is wrong. */
drudge_code drudge_window_parse(const char *spec, drudge_err *err);
/* Registers the SQL function drudge_in_window(spec, now_us) on db, so the
 * claim query can skip tasks outside their window. */
drudge_code drudge_window_register(sqlite3 *db, drudge_err *err);

/* `drudge status --watch`: the live terminal view until q or Ctrl-C. */
int drudge_watch_run(drudge_cli *cli, sqlite3 *db);

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

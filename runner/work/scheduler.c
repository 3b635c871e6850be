/*
 * scheduler.c: cron schedules that enqueue batch runs. The schedules table
 * and every statement on it live here; tasks are enqueued through queue.h.
 *
 * Exactly once: each tick's task has the key "schedule:NAME@TICK", unique per
 * script in the tasks table, so when two workers see the same due tick the
 * second enqueue is a no-op. last_tick only moves forward (compare-and-set),
 * so a slow worker cannot rewind it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runner/work/cron.h"
#include "runner/store/db.h"
#include "drudge/host.h"
#include "runner/queue/queue.h"
#include "runner/work/schedule.h"
#include "drudge/util.h"

const char *const drudge_schedule_migrations[] = {
    /* v1 */
    "CREATE TABLE schedules("
    "  name TEXT PRIMARY KEY,"
    "  cron TEXT NOT NULL,"
    "  tz TEXT," /* IANA zone; NULL = the machine's */
    "  script TEXT NOT NULL,"
    "  script_path TEXT NOT NULL,"
    "  input TEXT,"
    "  priority INTEGER NOT NULL DEFAULT 0,"
    "  catch_up TEXT NOT NULL DEFAULT 'latest' CHECK (catch_up IN ('none','latest','all')),"
    "  window TEXT,"
    "  max_attempts INTEGER NOT NULL DEFAULT 3,"
    "  manual_minutes REAL NOT NULL DEFAULT 0,"
    "  exception_minutes REAL NOT NULL DEFAULT 0,"
    "  paused INTEGER NOT NULL DEFAULT 0,"
    "  last_tick INTEGER NOT NULL," /* µs: newest tick handled */
    "  created_at INTEGER NOT NULL);",
    NULL,
};

static int64_t floor_secs(int64_t us)
{
    return us / 1000000 - (us % 1000000 < 0);
}

int64_t drudge_schedule_next(const char *cron, const char *tz, int64_t after_us)
{
    drudge_cron c;
    const drudge_tz *zone;
    if (drudge_cron_parse(cron, &c, NULL) || drudge_tz_get(tz, &zone, NULL))
        return -1;
    int64_t t = drudge_cron_next(&c, zone, floor_secs(after_us));
    return t < 0 ? -1 : t * 1000000;
}

static int valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64)
        return 0;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
            return 0;
    return 1;
}

static int valid_catch_up(const char *m)
{
    return !strcmp(m, "none") || !strcmp(m, "latest") || !strcmp(m, "all");
}

/* The window stored in the schedule's tasks: a spec without a zone gets the
 * schedule's, so "Mon-Fri 18:00-07:30" means the same hours as the cron. */
static char *window_with_zone(const char *window, const char *tz)
{
    drudge_buf b = {0};
    drudge_buf_puts(&b, window);
    if (tz && *tz) {
        /* A spec that names its own zone stops parsing with a second one. */
        drudge_buf_printf(&b, " %s", tz);
        if (drudge_window_parse(b.data, NULL) != DRUDGE_OK) {
            drudge_buf_reset(&b);
            drudge_buf_puts(&b, window);
        }
    }
    return drudge_buf_take(&b);
}

drudge_code drudge_schedule_add(sqlite3 *db, const drudge_schedule *s, int64_t now_us,
                                drudge_err *err)
{
    drudge_cron c;
    const drudge_tz *zone;
    sqlite3_stmt *st = NULL;
    char *window = NULL;
    drudge_code rc;
    if (!s->name || !valid_name(s->name))
        return drudge_seterr(err, DRUDGE_EINPUT,
                             "schedule name '%s': use 1-64 letters, digits, '.', '_' or '-'",
                             s->name ? s->name : "");
    if ((rc = drudge_cron_parse(s->cron, &c, err)))
        return rc;
    if ((rc = drudge_tz_get(s->tz, &zone, err)))
        return rc;
    if (s->catch_up && !valid_catch_up(s->catch_up))
        return drudge_seterr(err, DRUDGE_EINPUT, "catch-up '%s': use none, latest or all",
                             s->catch_up);
    if (s->window && *s->window) {
        window = window_with_zone(s->window, s->tz);
        if ((rc = drudge_window_parse(window, err)))
            goto cleanup;
    }
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO schedules(name, cron, tz, script, script_path, input, "
                           "priority, catch_up, window, max_attempts, manual_minutes, "
                           "exception_minutes, paused, last_tick, created_at) "
                           "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?14) "
                           "ON CONFLICT(name) DO NOTHING",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = drudge_db_err(db, "schedule add", err);
        goto cleanup;
    }
    sqlite3_bind_text(st, 1, s->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, s->cron, -1, SQLITE_STATIC);
    if (s->tz && *s->tz)
        sqlite3_bind_text(st, 3, s->tz, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, s->script, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, s->script_path, -1, SQLITE_STATIC);
    if (s->input)
        sqlite3_bind_text(st, 6, s->input, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 7, s->priority);
    sqlite3_bind_text(st, 8, s->catch_up ? s->catch_up : "latest", -1, SQLITE_STATIC);
    if (window)
        sqlite3_bind_text(st, 9, window, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 10, s->max_attempts > 0 ? s->max_attempts : 3);
    sqlite3_bind_double(st, 11, s->manual_minutes);
    sqlite3_bind_double(st, 12, s->exception_minutes);
    sqlite3_bind_int(st, 13, s->paused != 0);
    sqlite3_bind_int64(st, 14, now_us);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = drudge_db_err(db, "schedule add", err);
    else if (sqlite3_changes(db) == 0)
        rc = drudge_seterr(err, DRUDGE_ESTATE,
                           "schedule '%s' already exists (remove it first with schedule rm)",
                           s->name);
cleanup:
    sqlite3_finalize(st);
    free(window);
    return rc;
}

static drudge_code exec_named(sqlite3 *db, const char *sql, const char *name, int64_t a,
                              const char *what, drudge_err *err)
{
    sqlite3_stmt *st = NULL;
    drudge_code rc = DRUDGE_OK;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return drudge_db_err(db, what, err);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, a);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = drudge_db_err(db, what, err);
    else if (sqlite3_changes(db) == 0)
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "no schedule named '%s'", name);
    sqlite3_finalize(st);
    return rc;
}

drudge_code drudge_schedule_remove(sqlite3 *db, const char *name, drudge_err *err)
{
    return exec_named(db, "DELETE FROM schedules WHERE name = ?1 AND ?2 = ?2", name, 0,
                      "schedule rm", err);
}

drudge_code drudge_schedule_set_paused(sqlite3 *db, const char *name, int paused, int64_t now_us,
                                       drudge_err *err)
{
    return exec_named(db,
                      paused ? "UPDATE schedules SET paused = 1 WHERE name = ?1 AND ?2 = ?2"
                             : "UPDATE schedules SET paused = 0, last_tick = max(last_tick, ?2) "
                               "WHERE name = ?1",
                      name, now_us, paused ? "schedule pause" : "schedule resume", err);
}

static char *col_str(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? drudge_xstrdup((const char *)s) : NULL;
}

static drudge_code list_where(sqlite3 *db, const char *where, drudge_schedule **out, int *n,
                              drudge_err *err)
{
    char sql[512];
    sqlite3_stmt *st = NULL;
    int cap = 0;
    *out = NULL;
    *n = 0;
    snprintf(sql, sizeof sql,
             "SELECT name, cron, tz, script, script_path, input, catch_up, window, priority, "
             "paused, max_attempts, manual_minutes, exception_minutes, last_tick, created_at "
             "FROM schedules %s ORDER BY name",
             where);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return drudge_db_err(db, "schedules", err);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = drudge_xrealloc(*out, (size_t)cap * sizeof **out);
        }
        drudge_schedule *s = &(*out)[(*n)++];
        s->name = col_str(st, 0);
        s->cron = col_str(st, 1);
        s->tz = col_str(st, 2);
        s->script = col_str(st, 3);
        s->script_path = col_str(st, 4);
        s->input = col_str(st, 5);
        s->catch_up = col_str(st, 6);
        s->window = col_str(st, 7);
        s->priority = sqlite3_column_int(st, 8);
        s->paused = sqlite3_column_int(st, 9);
        s->max_attempts = sqlite3_column_int(st, 10);
        s->manual_minutes = sqlite3_column_double(st, 11);
        s->exception_minutes = sqlite3_column_double(st, 12);
        s->last_tick = sqlite3_column_int64(st, 13);
        s->created_at = sqlite3_column_int64(st, 14);
    }
    drudge_code rc = r == SQLITE_DONE ? DRUDGE_OK : drudge_db_err(db, "schedules", err);
    sqlite3_finalize(st);
    if (rc) {
        drudge_schedule_list_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

drudge_code drudge_schedule_list(sqlite3 *db, drudge_schedule **out, int *n, drudge_err *err)
{
    return list_where(db, "", out, n, err);
}

void drudge_schedule_list_free(drudge_schedule *list, int n)
{
    for (int i = 0; i < n; i++) {
        drudge_schedule *s = &list[i];
        free(s->name);
        free(s->cron);
        free(s->tz);
        free(s->script);
        free(s->script_path);
        free(s->input);
        free(s->catch_up);
        free(s->window);
    }
    free(list);
}

/* The script's current declarations (manual_minutes, window, ...): a script
 * edited after `schedule add` counts with its new values. If it cannot be
 * loaded now, the task is still enqueued with the values from `schedule add`,
 * and the worker reports the script's error on the task, where people look. */
static void refresh_script_info(drudge_host **host, drudge_schedule *s)
{
    drudge_err err = {0};
    const drudge_script_info *info;
    if (!*host && !(*host = drudge_host_new(NULL, &err)))
        return;
    if (drudge_host_load(*host, s->script_path, &info, &err))
        return;
    s->max_attempts = info->max_attempts;
    s->manual_minutes = info->manual_minutes;
    s->exception_minutes = info->exception_minutes;
    if (!s->window && info->window) /* the schedule's own window wins */
        s->window = drudge_xstrdup(info->window);
}

static drudge_code enqueue_tick(sqlite3 *db, const drudge_schedule *s, int64_t tick,
                                drudge_err *err)
{
    char key[160], iso[40];
    drudge_fmt_time(tick * 1000000, iso);
    /* drudge_fmt_time gives microseconds; ticks are whole minutes. */
    char *dot = strchr(iso, '.');
    if (dot)
        strcpy(dot, "Z");
    snprintf(key, sizeof key, "schedule:%s@%s", s->name, iso);
    drudge_task_spec spec = {.script = s->script,
                             .script_path = s->script_path,
                             .key = key,
                             .input = s->input,
                             .priority = s->priority,
                             .run_at = tick * 1000000,
                             .max_attempts = s->max_attempts,
                             .manual_minutes = s->manual_minutes,
                             .exception_minutes = s->exception_minutes,
                             .schedule = s->name,
                             .window = s->window};
    int64_t id;
    int dup;
    return drudge_queue_enqueue(db, &spec, &id, &dup, err);
}

static drudge_code advance(sqlite3 *db, const char *name, int64_t tick_us, drudge_err *err)
{
    sqlite3_stmt *st = NULL;
    drudge_code rc = DRUDGE_OK;
    if (sqlite3_prepare_v2(db,
                           "UPDATE schedules SET last_tick = ?2 WHERE name = ?1 AND last_tick < ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return drudge_db_err(db, "scheduler", err);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, tick_us);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = drudge_db_err(db, "scheduler", err);
    sqlite3_finalize(st);
    return rc;
}

/* Handles one schedule's due ticks in (last_tick, now]. */
static drudge_code tick_one(sqlite3 *db, drudge_schedule *s, int64_t now_us, drudge_host **host,
                            drudge_err *err)
{
    drudge_cron c;
    const drudge_tz *zone;
    drudge_code rc;
    if ((rc = drudge_cron_parse(s->cron, &c, err)) || (rc = drudge_tz_get(s->tz, &zone, err))) {
        char detail[sizeof err->msg];
        snprintf(detail, sizeof detail, "%s", err->msg);
        return drudge_seterr(err, rc, "schedule '%s': %s", s->name, detail);
    }
    int64_t now = floor_secs(now_us), from = floor_secs(s->last_tick);
    int64_t first = drudge_cron_next(&c, zone, from);
    if (first < 0 || first > now)
        return DRUDGE_OK; /* nothing due */
    int64_t ticks[DRUDGE_SCHEDULE_MAX_BATCH];
    int n = 0;
    int64_t handled = first;
    if (!strcmp(s->catch_up, "all")) {
        for (int64_t t = first; t >= 0 && t <= now && n < DRUDGE_SCHEDULE_MAX_BATCH;
             t = drudge_cron_next(&c, zone, t))
            ticks[n++] = handled = t;
    } else {
        /* The latest due tick: look back a day first, so a frequent schedule
         * idle for months does not walk every missed minute. */
        int64_t start = now - 86400 > from ? now - 86400 : from, latest = -1;
        for (int pass = 0; pass < 2 && latest < 0; pass++, start = from)
            for (int64_t t = drudge_cron_next(&c, zone, start); t >= 0 && t <= now;
                 t = drudge_cron_next(&c, zone, t))
                latest = t;
        handled = latest;
        if (!strcmp(s->catch_up, "latest") || (now - latest) * 1000000 <= DRUDGE_SCHEDULE_GRACE_US)
            ticks[n++] = latest;
    }
    if (n > 0)
        refresh_script_info(host, s);
    for (int i = 0; i < n; i++) {
        if ((rc = enqueue_tick(db, s, ticks[i], err)))
            return rc;
        if ((rc = advance(db, s->name, ticks[i] * 1000000, err)))
            return rc;
    }
    return advance(db, s->name, handled * 1000000, err);
}

drudge_code drudge_scheduler_tick(sqlite3 *db, int64_t now_us, drudge_err *err)
{
    drudge_schedule *list;
    drudge_host *host = NULL;
    int n;
    drudge_code rc = list_where(db, "WHERE paused = 0", &list, &n, err), first = DRUDGE_OK;
    if (rc)
        return rc;
    for (int i = 0; i < n; i++) {
        drudge_err one = {0};
        rc = tick_one(db, &list[i], now_us, &host, &one);
        if (rc && !first) {
            first = rc;
            if (err)
                *err = one;
        }
    }
    drudge_host_free(host);
    drudge_schedule_list_free(list, n);
    return first;
}

/*
 * scheduler.c: cron schedules that enqueue batch runs. Schedules are rows of
 * the store (runner/store/store.h); tasks are enqueued through queue.h.
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
#include "logs/audit/audit.h"
#include "runner/calendar/cron.h"
#include "runner/calendar/deadline.h"
#include "drudge/host.h"
#include "runner/queue/queue.h"
#include "runner/host/version.h"
#include "runner/work/schedule.h"
#include "drudge/util.h"

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

/* A schedule change and its operator step, in one transaction. */
static drudge_code schedule_op_end(drudge_store *st, drudge_code rc, const char *action,
                                   const char *who, const drudge_buf *args, int64_t now_us,
                                   drudge_err *err)
{
    drudge_operator_step op = {.action = action, .user = who, .args = args->data, .now = now_us};
    if (!rc)
        rc = drudge_audit_operator(st, &op, err);
    if (!rc)
        rc = drudge_store_commit(st, err);
    if (rc)
        drudge_store_rollback(st);
    return rc;
}

static void arg_str(drudge_buf *b, const char *key, const char *value)
{
    if (!value)
        return;
    drudge_buf_printf(b, "%s\"%s\":", b->len ? "," : "", key);
    drudge_buf_json_str(b, value, strlen(value));
}

drudge_code drudge_schedule_add(drudge_store *st, const drudge_schedule *s, const char *who,
                                int64_t now_us, drudge_err *err)
{
    drudge_cron c;
    const drudge_tz *zone;
    char *window = NULL;
    if (!s->name || !valid_name(s->name))
        return drudge_seterr(err, DRUDGE_EINPUT,
                             "schedule name '%s': use 1-64 letters, digits, '.', '_' or '-'",
                             s->name ? s->name : "");
    drudge_code rc = drudge_cron_parse(s->cron, &c, err);
    if (!rc)
        rc = drudge_tz_get(s->tz, &zone, err);
    if (rc)
        return rc;
    if (s->catch_up && !valid_catch_up(s->catch_up))
        return drudge_seterr(err, DRUDGE_EINPUT, "catch-up '%s': use none, latest or all",
                             s->catch_up);
    if (s->window && *s->window) {
        window = window_with_zone(s->window, s->tz);
        rc = drudge_window_parse(window, err);
    }
    if (!rc) {
        drudge_schedule row = *s;
        drudge_buf args = {0};
        row.window = window;
        arg_str(&args, "name", s->name);
        arg_str(&args, "cron", s->cron);
        arg_str(&args, "tz", s->tz);
        arg_str(&args, "script", s->script);
        arg_str(&args, "script_path", s->script_path);
        arg_str(&args, "input", s->input);
        arg_str(&args, "catch_up", s->catch_up);
        arg_str(&args, "window", window);
        drudge_buf_printf(&args, ",\"priority\":%d", s->priority);
        rc = drudge_store_begin(st, DRUDGE_TX_WRITE, err);
        if (!rc) {
            rc = drudge_store_schedule_add(st, &row, now_us, err);
            rc = schedule_op_end(st, rc, "schedule add", who, &args, now_us, err);
        }
        drudge_buf_free(&args);
    }
    free(window);
    return rc;
}

drudge_code drudge_schedule_remove(drudge_store *s, const char *name, const char *who,
                                   int64_t now_us, drudge_err *err)
{
    drudge_buf args = {0};
    arg_str(&args, "name", name);
    drudge_code rc = drudge_store_begin(s, DRUDGE_TX_WRITE, err);
    if (!rc) {
        rc = drudge_store_schedule_remove(s, name, err);
        rc = schedule_op_end(s, rc, "schedule remove", who, &args, now_us, err);
    }
    drudge_buf_free(&args);
    return rc;
}

drudge_code drudge_schedule_set_paused(drudge_store *s, const char *name, int paused,
                                       const char *who, int64_t now_us, drudge_err *err)
{
    drudge_buf args = {0};
    arg_str(&args, "name", name);
    drudge_code rc = drudge_store_begin(s, DRUDGE_TX_WRITE, err);
    if (!rc) {
        rc = drudge_store_schedule_set_paused(s, name, paused, now_us, err);
        rc = schedule_op_end(s, rc, paused ? "schedule pause" : "schedule resume", who, &args,
                             now_us, err);
    }
    drudge_buf_free(&args);
    return rc;
}

drudge_code drudge_schedule_list(drudge_store *s, drudge_schedule **out, int *n, drudge_err *err)
{
    return drudge_store_schedules(s, 0, out, n, err);
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
    free(s->deadline_rule);
    s->deadline_rule = info->deadline ? drudge_xstrdup(info->deadline) : NULL;
}

static drudge_code enqueue_tick(drudge_store *db, const drudge_schedule *s, int64_t tick,
                                const char *version, drudge_err *err)
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
                             .window = s->window,
                             .script_sha256 = version,
                             .deadline = drudge_deadline_after(s->deadline_rule, tick * 1000000)};
    int64_t id;
    int dup;
    return drudge_queue_enqueue(db, &spec, &id, &dup, err);
}

/* Handles one schedule's due ticks in (last_tick, now]. */
static drudge_code tick_one(drudge_store *db, drudge_schedule *s, int64_t now_us,
                            drudge_host **host, drudge_err *err)
{
    drudge_cron c;
    const drudge_tz *zone;
    drudge_code rc = drudge_cron_parse(s->cron, &c, err);
    if (!rc)
        rc = drudge_tz_get(s->tz, &zone, err);
    if (rc) {
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
    char version[65] = "";
    if (n > 0) {
        refresh_script_info(host, s);
        /* The code its tasks will run, on record as for `drudge enqueue`. A
         * script that cannot be read is enqueued without one: the worker
         * reports the error on the task, where people look. */
        drudge_err verr = {0};
        drudge_code vc =
            drudge_script_version_record(db, s->script_path, s->script, version, &verr);
        if (vc == DRUDGE_EDB || vc == DRUDGE_EBUSY)
            return drudge_seterr(err, vc, "schedule '%s': %s", s->name, verr.msg);
        if (vc)
            version[0] = '\0';
    }
    for (int i = 0; i < n && !rc; i++) {
        rc = enqueue_tick(db, s, ticks[i], version[0] ? version : NULL, err);
        if (!rc)
            rc = drudge_store_schedule_advance(db, s->name, ticks[i] * 1000000, err);
    }
    return rc ? rc : drudge_store_schedule_advance(db, s->name, handled * 1000000, err);
}

drudge_code drudge_scheduler_tick(drudge_store *db, int64_t now_us, drudge_err *err)
{
    drudge_schedule *list;
    drudge_host *host = NULL;
    int n;
    drudge_code rc = drudge_store_schedules(db, 1, &list, &n, err), first = DRUDGE_OK;
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

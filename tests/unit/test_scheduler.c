/* test_scheduler.c: schedules enqueue each due tick exactly once, with an injected clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include "runner/work/schedule.h"

/* The scheduler works through a store (s); db is a connection of the
 * test's own to the same file, to look at the rows. */
typedef struct fixture {
    char dir[64], db_path[128], script[128];
    drudge_store *s;
    sqlite3 *db;
} fixture;

static int64_t utc_us(const char *s)
{
    struct tm tm = {0};
    int sec = 0;
    int n = sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &sec);
    assert_true(n >= 5);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_sec = sec;
    return (int64_t)timegm(&tm) * 1000000;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/drudge-sched.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db_path, sizeof f->db_path, "%s/t.db", f->dir);
    snprintf(f->script, sizeof f->script, "%s/nightly.lua", f->dir);
    FILE *fp = fopen(f->script, "w");
    assert_non_null(fp);
    fputs("return { manual_minutes = 4, exception_minutes = 6, max_attempts = 2,\n"
          "  window = 'Sat,Sun', run = function(task) return task.input end }\n",
          fp);
    fclose(fp);
    drudge_err err = {0};
    assert_int_equal(drudge_store_open(f->db_path, 0, &f->s, &err), DRUDGE_OK);
    drudge_store_set_durability(f->s, DRUDGE_DURABILITY_NORMAL, NULL); /* the racers keep FULL */
    assert_int_equal(sqlite3_open(f->db_path, &f->db), SQLITE_OK);
    sqlite3_busy_timeout(f->db, 5000);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    drudge_store_close(f->s);
    sqlite3_close(f->db);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void add(fixture *f, const char *name, const char *cron, const char *tz,
                const char *catch_up, const char *window, const char *added_at)
{
    drudge_schedule s = {.name = (char *)name,
                         .cron = (char *)cron,
                         .tz = (char *)tz,
                         .script = "nightly",
                         .script_path = f->script,
                         .input = "{\"batch\":true}",
                         .catch_up = (char *)catch_up,
                         .window = (char *)window};
    drudge_err err = {0};
    if (drudge_schedule_add(f->s, &s, "tester", utc_us(added_at), &err))
        fail_msg("schedule add %s: %s", name, err.msg);
}

static void tick(fixture *f, const char *at)
{
    drudge_err err = {0};
    if (drudge_scheduler_tick(f->s, utc_us(at), &err))
        fail_msg("tick at %s: %s", at, err.msg);
}

/* The keys of a schedule's tasks, in order, joined with spaces. */
static char *keys(fixture *f, const char *schedule)
{
    static char out[4096];
    sqlite3_stmt *st;
    out[0] = '\0';
    assert_int_equal(sqlite3_prepare_v2(f->db,
                                        "SELECT key FROM tasks WHERE schedule = ? ORDER BY key", -1,
                                        &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, schedule, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (out[0])
            strcat(out, " ");
        strncat(out, (const char *)sqlite3_column_text(st, 0), 200);
    }
    sqlite3_finalize(st);
    return out;
}

static int64_t count(fixture *f, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void test_catch_up_modes(void **state)
{
    fixture *f = *state;
    add(f, "all", "0 * * * *", "UTC", "all", NULL, "2026-01-01T00:30");
    add(f, "latest", "0 * * * *", "UTC", "latest", NULL, "2026-01-01T00:30");
    add(f, "none", "0 * * * *", "UTC", "none", NULL, "2026-01-01T00:30");
    add(f, "default", "0 * * * *", "UTC", NULL, NULL, "2026-01-01T00:30");
    tick(f, "2026-01-01T00:59:59"); /* nothing due yet */
    assert_int_equal(count(f, "SELECT count(*) FROM tasks"), 0);
    /* Nothing ran from 00:30 to 05:10: five ticks were missed. */
    tick(f, "2026-01-01T05:10");
    assert_string_equal(keys(f, "all"),
                        "schedule:all@2026-01-01T01:00:00Z schedule:all@2026-01-01T02:00:00Z "
                        "schedule:all@2026-01-01T03:00:00Z schedule:all@2026-01-01T04:00:00Z "
                        "schedule:all@2026-01-01T05:00:00Z");
    assert_string_equal(keys(f, "latest"), "schedule:latest@2026-01-01T05:00:00Z");
    assert_string_equal(keys(f, "default"), "schedule:default@2026-01-01T05:00:00Z");
    assert_string_equal(keys(f, "none"), ""); /* 05:00 is 10 minutes late: skipped */
    tick(f, "2026-01-01T05:20");
    assert_int_equal(count(f, "SELECT count(*) FROM tasks"), 7);
    /* On time, every mode enqueues. */
    tick(f, "2026-01-01T06:00:30");
    assert_string_equal(keys(f, "none"), "schedule:none@2026-01-01T06:00:00Z");
    assert_int_equal(count(f, "SELECT count(*) FROM tasks"), 11);
    /* The task carries what the script declares and the schedule's input. */
    assert_int_equal(count(f, "SELECT count(*) FROM tasks WHERE script = 'nightly' AND "
                              "state = 'queued' AND manual_minutes = 4 AND exception_minutes = 6 "
                              "AND max_attempts = 2 AND input = '{\"batch\":true}' AND "
                              "window = 'Sat,Sun'"),
                     11);
    assert_int_equal(count(f, "SELECT run_at FROM tasks WHERE key = "
                              "'schedule:none@2026-01-01T06:00:00Z'"),
                     utc_us("2026-01-01T06:00"));
}

static void test_catch_up_all_is_batched(void **state)
{
    fixture *f = *state;
    add(f, "every-minute", "* * * * *", "UTC", "all", NULL, "2026-01-01T00:00");
    tick(f, "2026-01-02T00:00"); /* 1440 ticks due */
    assert_int_equal(count(f, "SELECT count(*) FROM tasks"), DRUDGE_SCHEDULE_MAX_BATCH);
    tick(f, "2026-01-02T00:00");
    assert_int_equal(count(f, "SELECT count(*) FROM tasks"), 1440);
    assert_int_equal(count(f, "SELECT count(DISTINCT key) FROM tasks"), 1440);
}

/* 01:30 Europe/London fires once on both change days. */
static void test_dst_days(void **state)
{
    fixture *f = *state;
    add(f, "spring", "30 1 * * *", "Europe/London", "all", NULL, "2026-03-27T12:00");
    add(f, "autumn", "30 1 * * *", "Europe/London", "all", NULL, "2026-10-23T12:00");
    for (int64_t t = utc_us("2026-03-27T12:00"); t <= utc_us("2026-03-30T12:00");
         t += 600 * 1000000LL)
        assert_int_equal(drudge_scheduler_tick(f->s, t, NULL), DRUDGE_OK);
    assert_string_equal(keys(f, "spring"), "schedule:spring@2026-03-28T01:30:00Z "
                                           "schedule:spring@2026-03-29T01:00:00Z "
                                           "schedule:spring@2026-03-30T00:30:00Z");
    for (int64_t t = utc_us("2026-10-23T12:00"); t <= utc_us("2026-10-26T12:00");
         t += 600 * 1000000LL)
        assert_int_equal(drudge_scheduler_tick(f->s, t, NULL), DRUDGE_OK);
    assert_string_equal(keys(f, "autumn"), "schedule:autumn@2026-10-24T00:30:00Z "
                                           "schedule:autumn@2026-10-25T00:30:00Z "
                                           "schedule:autumn@2026-10-26T01:30:00Z");
}

typedef struct racer {
    const char *db_path;
    int64_t start, step;
    int steps, errors;
    char msg[1024];
    pthread_barrier_t *barrier;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    drudge_store *db;
    drudge_err err = {0};
    if (drudge_store_open(r->db_path, 0, &db, &err)) {
        r->errors++;
        snprintf(r->msg, sizeof r->msg, "%s", err.msg);
        return NULL;
    }
    for (int i = 0; i < r->steps; i++) {
        pthread_barrier_wait(r->barrier); /* both workers see the same instant */
        if (drudge_scheduler_tick(db, r->start + i * r->step, &err)) {
            r->errors++;
            snprintf(r->msg, sizeof r->msg, "%s", err.msg);
        }
    }
    drudge_store_close(db);
    return NULL;
}

/* Two workers, each with its own connection, tick at the same instants. */
static void test_two_workers_race(void **state)
{
    fixture *f = *state;
    add(f, "minutely", "* * * * *", "UTC", "all", NULL, "2026-01-01T00:00");
    add(f, "quarterly", "*/15 * * * *", "Europe/London", "latest", NULL, "2026-01-01T00:00");
    add(f, "sparse", "0 0 1 * *", "America/New_York", "none", NULL, "2026-01-01T00:00");
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    racer r[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        r[i] = (racer){.db_path = f->db_path,
                       .start = utc_us("2026-01-01T00:00:20"),
                       .step = 20 * 1000000LL,
                       .steps = 3 * 60 * 2, /* two hours in 20 s steps */
                       .barrier = &barrier};
        assert_int_equal(pthread_create(&th[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        if (r[i].errors)
            fail_msg("worker %d: %d errors, last: %s", i, r[i].errors, r[i].msg);
    }
    pthread_barrier_destroy(&barrier);
    /* 00:20 .. 02:00:00 inclusive: minutes 1..120. */
    assert_int_equal(count(f, "SELECT count(*) FROM tasks WHERE schedule = 'minutely'"), 120);
    assert_int_equal(count(f, "SELECT count(*) FROM tasks WHERE schedule = 'quarterly'"), 8);
    assert_int_equal(count(f, "SELECT count(*) FROM tasks WHERE schedule = 'sparse'"), 0);
    assert_int_equal(count(f, "SELECT count(*) FROM (SELECT key FROM tasks GROUP BY key "
                              "HAVING count(*) > 1)"),
                     0);
    assert_int_equal(count(f, "SELECT last_tick FROM schedules WHERE name = 'minutely'"),
                     utc_us("2026-01-01T02:00"));
}

static void test_pause_resume_remove(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    add(f, "hourly", "@hourly", "UTC", "all", NULL, "2026-01-01T00:00");
    tick(f, "2026-01-01T01:00:10");
    assert_int_equal(drudge_schedule_set_paused(f->s, "hourly", 1, "tester", 0, &err), DRUDGE_OK);
    tick(f, "2026-01-01T03:30");
    assert_int_equal(count(f, "SELECT count(*) FROM tasks"), 1);
    /* Resuming does not catch up the paused hours, even with catch-up all. */
    assert_int_equal(
        drudge_schedule_set_paused(f->s, "hourly", 0, "tester", utc_us("2026-01-01T03:30"), &err),
        DRUDGE_OK);
    tick(f, "2026-01-01T04:00:05");
    assert_string_equal(keys(f, "hourly"), "schedule:hourly@2026-01-01T01:00:00Z "
                                           "schedule:hourly@2026-01-01T04:00:00Z");
    assert_int_equal(drudge_schedule_set_paused(f->s, "nope", 1, "tester", 0, &err),
                     DRUDGE_ENOTFOUND);
    assert_string_equal(err.msg, "no schedule named 'nope'");
    assert_int_equal(drudge_schedule_remove(f->s, "hourly", "tester", 0, &err), DRUDGE_OK);
    assert_int_equal(drudge_schedule_remove(f->s, "hourly", "tester", 0, &err), DRUDGE_ENOTFOUND);
    tick(f, "2026-01-01T05:00:05");
    assert_int_equal(count(f, "SELECT count(*) FROM tasks"), 2);
}

static void test_windows(void **state)
{
    fixture *f = *state;
    add(f, "evening", "0 18 * * *", "Europe/London", "latest", "Mon-Fri 18:00-07:30",
        "2026-01-01T00:00");
    add(f, "zoned", "0 18 * * *", "Europe/London", "latest", "Mon-Fri 18:00-07:30 UTC",
        "2026-01-01T00:00");
    add(f, "local", "0 18 * * *", NULL, "latest", "Sat,Sun 09:00-17:00", "2026-01-01T00:00");
    tick(f, "2026-01-01T18:00:01");
    assert_int_equal(count(f, "SELECT count(*) FROM tasks WHERE schedule = 'evening' AND "
                              "window = 'Mon-Fri 18:00-07:30 Europe/London'"),
                     1);
    assert_int_equal(count(f, "SELECT count(*) FROM tasks WHERE schedule = 'zoned' AND "
                              "window = 'Mon-Fri 18:00-07:30 UTC'"),
                     1);
    assert_int_equal(count(f, "SELECT count(*) FROM tasks WHERE schedule = 'local' AND "
                              "window = 'Sat,Sun 09:00-17:00'"),
                     1);
}

static void test_add_refuses_bad_schedules(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *name, *cron, *tz, *catch_up, *window, *want;
    } cases[] = {
        {"bad name", "@daily", NULL, NULL, NULL, "schedule name 'bad name'"},
        {"", "@daily", NULL, NULL, NULL, "schedule name ''"},
        {"x", "61 * * * *", NULL, NULL, NULL, "minute: 61 is out of range 0-59"},
        {"x", "@daily", "Europe/Lundon", NULL, NULL, "unknown time zone 'Europe/Lundon'"},
        {"x", "@daily", NULL, "some", NULL, "catch-up 'some': use none, latest or all"},
        {"x", "@daily", NULL, NULL, "Mon-Fry", "unknown day 'Fry'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        drudge_schedule s = {.name = (char *)cases[i].name,
                             .cron = (char *)cases[i].cron,
                             .tz = (char *)cases[i].tz,
                             .script = "nightly",
                             .script_path = f->script,
                             .catch_up = (char *)cases[i].catch_up,
                             .window = (char *)cases[i].window};
        drudge_err err = {0};
        if (drudge_schedule_add(f->s, &s, "tester", 0, &err) == DRUDGE_OK ||
            !strstr(err.msg, cases[i].want))
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, err.msg, cases[i].want);
    }
    add(f, "once", "@daily", NULL, NULL, NULL, "2026-01-01T00:00");
    drudge_schedule s = {.name = "once", .cron = "@daily", .script = "x", .script_path = "/x"};
    drudge_err err = {0};
    assert_int_equal(drudge_schedule_add(f->s, &s, "tester", 0, &err), DRUDGE_ESTATE);
    assert_non_null(strstr(err.msg, "schedule 'once' already exists"));
    drudge_schedule *list;
    int n;
    assert_int_equal(drudge_schedule_list(f->s, &list, &n, &err), DRUDGE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].catch_up, "latest");
    assert_null(list[0].tz);
    drudge_schedule_list_free(list, n);
}

/* A schedule whose zone vanished from tzdata does not stop the others. */
static void test_broken_schedule_does_not_block_others(void **state)
{
    fixture *f = *state;
    add(f, "good", "@hourly", "UTC", NULL, NULL, "2026-01-01T00:00");
    add(f, "broken", "@hourly", "UTC", NULL, NULL, "2026-01-01T00:00");
    assert_int_equal(sqlite3_exec(f->db,
                                  "UPDATE schedules SET tz = 'Gone/Away' WHERE name = "
                                  "'broken'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    drudge_err err = {0};
    assert_int_not_equal(drudge_scheduler_tick(f->s, utc_us("2026-01-01T01:00:01"), &err),
                         DRUDGE_OK);
    assert_non_null(strstr(err.msg, "schedule 'broken': unknown time zone 'Gone/Away'"));
    assert_string_equal(keys(f, "good"), "schedule:good@2026-01-01T01:00:00Z");
    assert_int_equal(drudge_schedule_next("@hourly", "UTC", utc_us("2026-01-01T01:00")),
                     utc_us("2026-01-01T02:00"));
    assert_int_equal(drudge_schedule_next("@hourly", "Gone/Away", 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_catch_up_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_catch_up_all_is_batched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dst_days, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_workers_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_resume_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_windows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_refuses_bad_schedules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_schedule_does_not_block_others, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

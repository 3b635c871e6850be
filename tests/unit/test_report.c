/*
 * test_report.c: known-answer tests of the time-saved report on a fixture
 * database (a real SQLite file) whose expected figures are worked out by hand
 * in the comments below.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>
#include "logs/report/report.h"
#include "drudge/util.h"

#define S INT64_C(1000000)

/* µs of a UTC time. */
static int64_t at(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    return (int64_t)timegm(&tm) * S;
}

typedef struct fixture {
    char path[64];
    drudge_store *s; /* what the report reads through */
    sqlite3 *db;     /* a connection of the test's own, to write the fixture's rows */
} fixture;

static void exec(sqlite3 *db, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, msg);
        fail();
    }
}

/* A task and its attempts: durations in ms, the last attempt ends at finished. */
static void task(sqlite3 *db, int id, const char *script, const char *state, int64_t finished,
                 double manual, double exception, int natt, const int *ms, const char *resolved)
{
    char fin[32] = "NULL";
    if (finished)
        snprintf(fin, sizeof fin, "%lld", (long long)finished);
    exec(db,
         "INSERT INTO tasks(id, script, script_path, state, run_at, attempts, spent, "
         "max_attempts, manual_minutes, exception_minutes, created_at, finished_at, resolved_by) "
         "VALUES (%d, '%s', '/s/%s.lua', '%s', 0, %d, %d, 5, %g, %g, 0, %s, %s%s%s)",
         id, script, script, state, natt, natt, manual, exception, fin, resolved ? "'" : "",
         resolved ? resolved : "NULL", resolved ? "'" : "");
    int64_t end = finished ? finished : at(2026, 11, 1, 0, 0, 0);
    for (int i = natt; i >= 1; i--) {
        int64_t start = end - ms[i - 1] * INT64_C(1000);
        exec(db,
             "INSERT INTO attempts(task_id, n, worker, started_at, ended_at, outcome) "
             "VALUES (%d, %d, 'w', %lld, %lld, '%s')",
             id, i, (long long)start, (long long)end, i == natt ? state : "error");
        end = start - 10 * S; /* a pause between attempts is not robot time */
    }
}

/*
 * The fixture (manual/exception minutes are the values stored with each task,
 * which need not match the script's: task 2 was enqueued with an override):
 *
 *  id script state     finished (UTC)        manual exc  attempts (s)
 *   1 alpha  done      2026-11-02 10:00:00    4      6    2
 *   2 alpha  done      2026-11-02 23:59:59    2.5    6    1, 3          (retried)
 *   3 alpha  failed    2026-11-03 00:00:01    4      6    0.5
 *   4 alpha  dead      2026-11-09 08:00:00    4      6    1, 1, 1       (resolved by hand)
 *  10 alpha  done      2026-11-30 12:00:00    4      6    1
 *   5 beta   done      2026-12-01 09:00:00    10     1    0.25, 0.75    (retry_later, then done)
 *   9 alpha  cancelled 2026-11-02 11:00:00    4      6    -             (not counted)
 *   8 alpha  queued                                                     backlog
 *   6 beta   queued                                                     backlog
 *   7 beta   running                                                    backlog
 *
 * now = 2026-12-03 00:00Z; the last 7 days hold tasks 10 (alpha) and 5 (beta).
 */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    drudge_err err = {0};
    snprintf(f->path, sizeof f->path, "/tmp/test_report.%d.db", (int)getpid());
    unlink(f->path);
    assert_int_equal(drudge_store_open(f->path, 0, &f->s, &err), DRUDGE_OK);
    assert_int_equal(sqlite3_open(f->path, &f->db), SQLITE_OK);
    sqlite3 *db = f->db;
    exec(db, "BEGIN");
    task(db, 1, "alpha", "done", at(2026, 11, 2, 10, 0, 0), 4, 6, 1, (int[]){2000}, NULL);
    task(db, 2, "alpha", "done", at(2026, 11, 2, 23, 59, 59), 2.5, 6, 2, (int[]){1000, 3000}, NULL);
    task(db, 3, "alpha", "failed", at(2026, 11, 3, 0, 0, 1), 4, 6, 1, (int[]){500}, NULL);
    task(db, 4, "alpha", "dead", at(2026, 11, 9, 8, 0, 0), 4, 6, 3, (int[]){1000, 1000, 1000},
         "clerk");
    task(db, 10, "alpha", "done", at(2026, 11, 30, 12, 0, 0), 4, 6, 1, (int[]){1000}, NULL);
    task(db, 5, "beta", "done", at(2026, 12, 1, 9, 0, 0), 10, 1, 2, (int[]){250, 750}, NULL);
    task(db, 9, "alpha", "cancelled", at(2026, 11, 2, 11, 0, 0), 4, 6, 0, NULL, NULL);
    task(db, 8, "alpha", "queued", 0, 4, 6, 0, NULL, NULL);
    task(db, 6, "beta", "queued", 0, 10, 1, 0, NULL, NULL);
    task(db, 7, "beta", "running", 0, 10, 1, 0, NULL, NULL);
    exec(db, "COMMIT");
    *state = f;
    return 0;
}

/* The database file and what WAL mode keeps beside it. */
static void remove_db(const char *path)
{
    char p[80];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static int teardown(void **state)
{
    fixture *f = *state;
    sqlite3_close(f->db);
    drudge_store_close(f->s);
    remove_db(f->path);
    free(f);
    return 0;
}

static drudge_report *compute(void **state, drudge_report_by by, int64_t since, int64_t until,
                              const char *script)
{
    fixture *f = *state;
    drudge_report_opts o = {.since = since,
                            .until = until,
                            .by = by,
                            .script = script,
                            .now = at(2026, 12, 3, 0, 0, 0)};
    drudge_report *r = NULL;
    drudge_err err = {0};
    assert_int_equal(drudge_report_compute(f->s, &o, &r, &err), DRUDGE_OK);
    assert_non_null(r);
    return r;
}

static void expect(const drudge_report_group *g, const char *key, int64_t done, int64_t failed,
                   int64_t dead, double gross, double lost, int64_t ftr, int64_t attempts,
                   int64_t robot_ms)
{
    assert_string_equal(g->key, key);
    assert_int_equal(g->f.done, done);
    assert_int_equal(g->f.failed, failed);
    assert_int_equal(g->f.dead, dead);
    assert_float_equal(g->f.gross_minutes, gross, 1e-9);
    assert_float_equal(g->f.lost_minutes, lost, 1e-9);
    assert_int_equal(g->f.first_time_right, ftr);
    assert_int_equal(g->f.attempts, attempts);
    assert_int_equal(g->f.robot_us, robot_ms * 1000);
}

static void test_by_script(void **state)
{
    drudge_report *r = compute(state, DRUDGE_REPORT_BY_SCRIPT, INT64_MIN, INT64_MAX, NULL);
    assert_int_equal(r->ngroups, 2);
    /* alpha: done 1, 2, 10; failed 3; dead 4 (resolved by hand: still lost).
     * gross 4 + 2.5 + 4 = 10.5; lost 6 + 6 = 12; first time right 1 and 10;
     * attempts 1+2+1+3+1 = 8; robot 2 + 4 + 0.5 + 3 + 1 = 10.5 s. */
    const drudge_report_group *a = &r->groups[0];
    expect(a, "alpha", 3, 1, 1, 10.5, 12, 2, 8, 10500);
    assert_float_equal(drudge_report_net_hours(&a->f), -1.5 / 60, 1e-12);
    assert_float_equal(drudge_report_success_rate(&a->f), 0.6, 1e-12);
    assert_float_equal(drudge_report_ftr_rate(&a->f), 0.4, 1e-12);
    assert_float_equal(drudge_report_mean_attempts(&a->f), 1.6, 1e-12);
    /* backlog: task 8; one finished in 7 days: 1 / (1/7) = 7 days. */
    assert_true(a->has_backlog);
    assert_int_equal(a->queued, 1);
    assert_int_equal(a->running, 0);
    assert_int_equal(a->finished_7d, 1);
    assert_float_equal(drudge_report_days_to_clear(a), 7, 1e-12);
    /* beta: task 5 done with 2 attempts (not first time right), 1 s of robot time. */
    const drudge_report_group *b = &r->groups[1];
    expect(b, "beta", 1, 0, 0, 10, 0, 0, 2, 1000);
    assert_float_equal(drudge_report_net_hours(&b->f), 10.0 / 60, 1e-12);
    assert_float_equal(drudge_report_mean_attempts(&b->f), 2, 1e-12);
    assert_int_equal(b->queued, 1);
    assert_int_equal(b->running, 1);
    assert_float_equal(drudge_report_days_to_clear(b), 14, 1e-12);
    /* total: net (20.5 - 12) / 60; success 4/6; 3 in backlog, 2 in 7 days: 10.5 days. */
    expect(&r->total, "total", 4, 1, 1, 20.5, 12, 2, 10, 11500);
    assert_float_equal(drudge_report_net_hours(&r->total.f), 8.5 / 60, 1e-12);
    assert_float_equal(drudge_report_success_rate(&r->total.f), 4.0 / 6, 1e-12);
    assert_float_equal(drudge_report_ftr_rate(&r->total.f), 2.0 / 6, 1e-12);
    assert_int_equal(r->total.queued + r->total.running, 3);
    assert_float_equal(drudge_report_days_to_clear(&r->total), 10.5, 1e-12);
    drudge_report_free(r);
}

/* The chart's timeline: 29 days of finish times in 6-hour steps (3-hour
 * steps would make 232), one point per task here. */
static void test_timeline(void **state)
{
    drudge_report *r = compute(state, DRUDGE_REPORT_BY_SCRIPT, INT64_MIN, INT64_MAX, NULL);
    assert_int_equal(r->step_us, 6 * 3600 * S);
    assert_int_equal(r->first_us, at(2026, 11, 2, 10, 0, 0));
    assert_int_equal(r->last_us, at(2026, 12, 1, 9, 0, 0));
    assert_int_equal(r->npoints, 6);
    static const struct {
        const char *script;
        int d, h;
        double net;
    } want[] = {{"alpha", 2, 6, 4},  {"alpha", 2, 18, 2.5}, {"alpha", 3, 0, -6},
                {"alpha", 9, 6, -6}, {"alpha", 30, 12, 4},  {"beta", 1, 6, 10}};
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(r->points[i].script, want[i].script);
        assert_int_equal(r->points[i].t, at(2026, i == 5 ? 12 : 11, want[i].d, want[i].h, 0, 0));
        assert_float_equal(r->points[i].net_minutes, want[i].net, 1e-12);
    }
    drudge_report_free(r);
    /* A short range gets fine steps: tasks 1 and 2 are 14 h apart: 5 min steps. */
    r = compute(state, DRUDGE_REPORT_BY_SCRIPT, at(2026, 11, 2, 0, 0, 0), at(2026, 11, 3, 0, 0, 0),
                NULL);
    assert_int_equal(r->step_us, 300 * S);
    assert_int_equal(r->npoints, 2);
    drudge_report_free(r);
}

static void test_by_day(void **state)
{
    drudge_report *r = compute(state, DRUDGE_REPORT_BY_DAY, INT64_MIN, INT64_MAX, NULL);
    assert_int_equal(r->ngroups, 5);
    /* 23:59:59 is still the 2nd; 00:00:01 is the 3rd (UTC). */
    expect(&r->groups[0], "2026-11-02", 2, 0, 0, 6.5, 0, 1, 3, 6000);
    expect(&r->groups[1], "2026-11-03", 0, 1, 0, 0, 6, 0, 1, 500);
    expect(&r->groups[2], "2026-11-09", 0, 0, 1, 0, 6, 0, 3, 3000);
    expect(&r->groups[3], "2026-11-30", 1, 0, 0, 4, 0, 1, 1, 1000);
    expect(&r->groups[4], "2026-12-01", 1, 0, 0, 10, 0, 0, 2, 1000);
    assert_int_equal(r->groups[0].start_us, at(2026, 11, 2, 0, 0, 0));
    assert_false(r->groups[0].has_backlog);
    expect(&r->total, "total", 4, 1, 1, 20.5, 12, 2, 10, 11500);
    drudge_report_free(r);
}

static void test_by_week_and_month(void **state)
{
    drudge_report *r = compute(state, DRUDGE_REPORT_BY_WEEK, INT64_MIN, INT64_MAX, NULL);
    assert_int_equal(r->ngroups, 3);
    expect(&r->groups[0], "2026-W45", 2, 1, 0, 6.5, 6, 1, 4, 6500);
    expect(&r->groups[1], "2026-W46", 0, 0, 1, 0, 6, 0, 3, 3000);
    expect(&r->groups[2], "2026-W49", 2, 0, 0, 14, 0, 1, 3, 2000);
    assert_int_equal(r->groups[2].start_us, at(2026, 11, 30, 0, 0, 0));
    drudge_report_free(r);
    r = compute(state, DRUDGE_REPORT_BY_MONTH, INT64_MIN, INT64_MAX, NULL);
    assert_int_equal(r->ngroups, 2);
    expect(&r->groups[0], "2026-11", 3, 1, 1, 10.5, 12, 2, 8, 10500);
    expect(&r->groups[1], "2026-12", 1, 0, 0, 10, 0, 0, 2, 1000);
    assert_int_equal(r->groups[1].start_us, at(2026, 12, 1, 0, 0, 0));
    drudge_report_free(r);
}

static void test_range_and_script(void **state)
{
    /* since is inclusive, until exclusive: tasks 3 and 4 only. */
    drudge_report *r = compute(state, DRUDGE_REPORT_BY_SCRIPT, at(2026, 11, 3, 0, 0, 0),
                               at(2026, 11, 9, 8, 0, 1), NULL);
    /* beta appears for its backlog, with nothing finished in range. */
    assert_int_equal(r->ngroups, 2);
    expect(&r->groups[0], "alpha", 0, 1, 1, 0, 12, 0, 4, 3500);
    expect(&r->groups[1], "beta", 0, 0, 0, 0, 0, 0, 0, 0);
    assert_true(isnan(drudge_report_success_rate(&r->groups[1].f)));
    assert_int_equal(r->groups[1].queued + r->groups[1].running, 2);
    drudge_report_free(r);
    r = compute(state, DRUDGE_REPORT_BY_SCRIPT, at(2026, 11, 3, 0, 0, 0), at(2026, 11, 9, 8, 0, 0),
                NULL);
    expect(&r->groups[0], "alpha", 0, 1, 0, 0, 6, 0, 1, 500);
    drudge_report_free(r);
    r = compute(state, DRUDGE_REPORT_BY_DAY, INT64_MIN, INT64_MAX, "beta");
    assert_int_equal(r->ngroups, 1);
    expect(&r->groups[0], "2026-12-01", 1, 0, 0, 10, 0, 0, 2, 1000);
    assert_int_equal(r->total.queued + r->total.running, 2);
    assert_int_equal(r->total.finished_7d, 1);
    drudge_report_free(r);
}

/* A later change of the script's minutes does not rewrite history: the
 * report reads the minutes stored with each task. */
static void test_history_stays(void **state)
{
    fixture *f = *state;
    exec(f->db,
         "INSERT INTO tasks(id, script, script_path, state, run_at, max_attempts, "
         "manual_minutes, exception_minutes, created_at, finished_at) VALUES "
         "(11, 'alpha', '/s/alpha.lua', 'done', 0, 5, 30, 6, 0, %lld)",
         (long long)at(2026, 12, 2, 0, 0, 0));
    drudge_report *r = compute(state, DRUDGE_REPORT_BY_SCRIPT, INT64_MIN, INT64_MAX, "alpha");
    /* Task 11 has no attempt rows (e.g. finished elsewhere): counted, 0 attempts. */
    expect(&r->groups[0], "alpha", 4, 1, 1, 40.5, 12, 2, 8, 10500);
    drudge_report_free(r);
    exec(f->db, "DELETE FROM tasks WHERE id = 11");
}

static void test_empty(void **state)
{
    (void)state;
    char path[64];
    drudge_store *s;
    drudge_err err = {0};
    snprintf(path, sizeof path, "/tmp/test_report_empty.%d.db", (int)getpid());
    remove_db(path);
    assert_int_equal(drudge_store_open(path, 0, &s, &err), DRUDGE_OK);
    drudge_report_opts o = {.since = INT64_MIN, .until = INT64_MAX};
    drudge_report *r;
    assert_int_equal(drudge_report_compute(s, &o, &r, &err), DRUDGE_OK);
    assert_int_equal(r->ngroups, 0);
    assert_int_equal(drudge_report_finished(&r->total.f), 0);
    assert_true(isnan(drudge_report_success_rate(&r->total.f)));
    assert_float_equal(drudge_report_days_to_clear(&r->total), 0, 0);
    drudge_buf b = {0};
    drudge_report_json(r, &b);
    assert_non_null(strstr(b.data, "\"success_rate\":null"));
    drudge_buf_reset(&b);
    drudge_report_html(r, &b);
    assert_non_null(strstr(b.data, "No tasks finished"));
    drudge_buf_free(&b);
    drudge_report_free(r);
    drudge_store_close(s);
    remove_db(path);
}

static void test_periods(void **state)
{
    (void)state;
    char key[40];
    int64_t start;
    /* ISO weeks at year ends: 2027-01-01 (Fri) is in 2026-W53, 2024-12-30 (Mon) in 2025-W01. */
    drudge_report_period(DRUDGE_REPORT_BY_WEEK, at(2027, 1, 1, 0, 0, 0) / (86400 * S), key, &start);
    assert_string_equal(key, "2026-W53");
    assert_int_equal(start * 86400 * S, at(2026, 12, 28, 0, 0, 0));
    drudge_report_period(DRUDGE_REPORT_BY_WEEK, at(2024, 12, 30, 0, 0, 0) / (86400 * S), key,
                         &start);
    assert_string_equal(key, "2025-W01");
    drudge_report_period(DRUDGE_REPORT_BY_MONTH, at(2024, 2, 29, 0, 0, 0) / (86400 * S), key,
                         &start);
    assert_string_equal(key, "2024-02");
    assert_int_equal(start * 86400 * S, at(2024, 2, 1, 0, 0, 0));
    drudge_report_by by;
    assert_int_equal(drudge_report_parse_by("week", &by), 0);
    assert_int_equal(by, DRUDGE_REPORT_BY_WEEK);
    assert_int_equal(drudge_report_parse_by("year", &by), -1);
}

static void test_renderings(void **state)
{
    drudge_report *r = compute(state, DRUDGE_REPORT_BY_SCRIPT, INT64_MIN, INT64_MAX, NULL);
    drudge_buf b = {0};
    drudge_report_json(r, &b);
    assert_non_null(strstr(b.data, "{\"group\":\"alpha\",\"done\":3,\"failed\":1,\"dead\":1,"
                                   "\"finished\":5,\"gross_minutes\":10.5,\"lost_minutes\":12,"
                                   "\"net_hours\":-0.025,\"success_rate\":0.6,"));
    assert_non_null(strstr(b.data, "\"backlog\":3,\"queued\":2,\"running\":1,"
                                   "\"finished_last_7_days\":2,\"rate_per_day\":0.2857142857,"
                                   "\"days_to_clear\":10.5}"));
    drudge_buf_reset(&b);
    drudge_report_csv(r, &b);
    assert_non_null(strstr(b.data, "script,start,done,failed,dead,finished,gross_minutes,"));
    assert_non_null(strstr(b.data, "\r\nalpha,,3,1,1,5,10.5,12,-0.025,0.6,0.4,1.6,10.5,1,7\r\n"));
    assert_non_null(strstr(b.data, "\r\ntotal,,4,1,1,6,20.5,12,0.1416666667,"));
    drudge_buf_reset(&b);
    drudge_report_table(r, &b);
    /* Aligned: the header, both rows and the total have the same width. */
    char *line = strchr(b.data, '\n') + 1;
    size_t width = strcspn(line, "\n");
    for (int i = 0; i < 3; i++) {
        line += strcspn(line, "\n") + 1;
        if (!strncmp(line, "---", 3))
            line += strcspn(line, "\n") + 1;
        assert_int_equal(strcspn(line, "\n"), width);
    }
    assert_non_null(strstr(b.data, "-0.03"));
    assert_non_null(strstr(b.data, "60.0%"));
    drudge_buf_reset(&b);
    drudge_report_html(r, &b);
    assert_non_null(strstr(b.data, "<svg"));
    assert_non_null(strstr(b.data, "<td data-k=\"net_hours\">-0.03</td>"));
    assert_non_null(strstr(b.data, "data-script=\"all scripts\""));
    /* Self-contained: nothing to fetch, nothing to run. */
    assert_null(strstr(b.data, "http://"));
    assert_null(strstr(b.data, "https://"));
    assert_null(strstr(b.data, "<script"));
    assert_null(strstr(b.data, "src="));
    assert_null(strstr(b.data, "url("));
    drudge_buf_free(&b);
    drudge_report_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_script),        cmocka_unit_test(test_by_day),
        cmocka_unit_test(test_timeline),         cmocka_unit_test(test_by_week_and_month),
        cmocka_unit_test(test_range_and_script), cmocka_unit_test(test_history_stays),
        cmocka_unit_test(test_renderings),       cmocka_unit_test(test_empty),
        cmocka_unit_test(test_periods),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

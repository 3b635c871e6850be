/* test_store_reads.c: what `status --watch` and /metrics read through the
 * store (drudge_store_backlogs, drudge_store_metrics) and the Prometheus
 * text made from it (runner/work/metrics.c), on a real SQLite file whose
 * rows the test writes on a connection of its own, at a fixed "now": the
 * contract a second backend must meet too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include "runner/store/store.h"
#include "runner/work/metrics.h"
#include "drudge/util.h"

#define SEC ((int64_t)1000000)
#define T0  ((int64_t)1795000000 * SEC) /* the test's "now" */

typedef struct fixture {
    char path[64];
    drudge_store *s;
    sqlite3 *db; /* the test's own connection, for rows no operation writes */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    drudge_err err = {0};
    snprintf(f->path, sizeof f->path, "/tmp/drudge-reads.XXXXXX");
    int fd = mkstemp(f->path);
    assert_true(fd >= 0);
    close(fd);
    unlink(f->path); /* the store creates it */
    assert_int_equal(drudge_store_open(f->path, 0, &f->s, &err), DRUDGE_OK);
    assert_int_equal(sqlite3_open(f->path, &f->db), SQLITE_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    const char *suffix[] = {"", "-wal", "-shm"};
    drudge_store_close(f->s);
    sqlite3_close(f->db);
    for (int i = 0; i < 3; i++) {
        char p[80];
        snprintf(p, sizeof p, "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    free(f);
    return 0;
}

/* Runs SQL made with SQLite's printf (%lld, %q) on the test's connection. */
static void sql(fixture *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *q = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    if (sqlite3_exec(f->db, q, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", q, sqlite3_errmsg(f->db));
    sqlite3_free(q);
}

/* A task row: state as stored, created and finished (0: NULL) relative to T0. */
static int64_t task(fixture *f, const char *script, const char *state, int64_t created,
                    int64_t finished, int attempts)
{
    char fin[32] = "NULL";
    if (finished)
        snprintf(fin, sizeof fin, "%lld", (long long)(T0 + finished));
    sql(f,
        "INSERT INTO tasks(script, script_path, state, run_at, max_attempts, created_at, "
        "finished_at, attempts, manual_minutes, exception_minutes) "
        "VALUES ('%q', '/x.lua', '%q', %lld, 3, %lld, %s, %d, 4, 6)",
        script, state, (long long)(T0 + created), (long long)(T0 + created), fin, attempts);
    return sqlite3_last_insert_rowid(f->db);
}

static void backlogs(fixture *f, drudge_backlog_row *rows, int max, int *n, int *workers)
{
    drudge_err err = {0};
    assert_int_equal(drudge_store_begin(f->s, DRUDGE_TX_READ, &err), DRUDGE_OK);
    assert_int_equal(
        drudge_store_backlogs(f->s, T0, 300 * SEC, 600 * SEC, rows, max, n, workers, &err),
        DRUDGE_OK);
    assert_int_equal(drudge_store_commit(f->s, &err), DRUDGE_OK);
}

static void expect_backlog(const drudge_backlog_row *got, const drudge_backlog_row *want)
{
    const int64_t g[] = {got->paused,
                         got->queued,
                         got->running,
                         got->retrying,
                         got->total,
                         got->finished,
                         got->done,
                         got->failed,
                         got->cancelled,
                         got->since,
                         got->finished_recently,
                         got->last_error_task,
                         got->last_error_at};
    const int64_t w[] = {want->paused,
                         want->queued,
                         want->running,
                         want->retrying,
                         want->total,
                         want->finished,
                         want->done,
                         want->failed,
                         want->cancelled,
                         want->since,
                         want->finished_recently,
                         want->last_error_task,
                         want->last_error_at};
    assert_string_equal(got->name, want->name);
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
        if (g[i] != w[i])
            fail_msg("%s: field %zu is %lld, not %lld", want->name, i, (long long)g[i],
                     (long long)w[i]);
    assert_string_equal(got->last_error, want->last_error);
}

static void test_backlogs(void **state)
{
    fixture *f = *state;
    drudge_backlog_row rows[8];
    int n = -1, workers = -1;
    backlogs(f, rows, 8, &n, &workers);
    assert_int_equal(n, 0);
    assert_int_equal(workers, 0);

    /* a: open since its queued task; the done one created before is not in it. */
    task(f, "a", "done", -200 * SEC, -1000 * SEC, 1);
    task(f, "a", "queued", -100 * SEC, 0, 1);
    task(f, "a", "done", -90 * SEC, -10 * SEC, 1);
    int64_t failed = task(f, "a", "failed", -80 * SEC, -20 * SEC, 1);
    sql(f, "UPDATE tasks SET error = 'no such case:\nX-17' WHERE id = %lld", (long long)failed);
    /* b: all finished, the backlog starts at the oldest finished recently. */
    task(f, "b", "done", -6000 * SEC, -5000 * SEC, 1);
    task(f, "b", "done", -500 * SEC, -60 * SEC, 1);
    task(f, "b", "cancelled", -400 * SEC, -400 * SEC, 0);
    sql(f, "INSERT INTO paused(script, paused_at) VALUES ('b', %lld)", (long long)T0);
    /* c: finished long ago: no backlog. */
    task(f, "c", "done", -9000 * SEC, -8000 * SEC, 1);
    /* d: one running under a live lease, one under an expired one. */
    int64_t run = task(f, "d", "queued", -50 * SEC, 0, 0);
    sql(f,
        "INSERT INTO leases VALUES ('w1', %lld), ('w0', %lld);"
        "INSERT INTO running(task_id, owner, claimed_at) VALUES (%lld, 'w1', %lld)",
        (long long)(T0 + 10 * SEC), (long long)(T0 - SEC), (long long)run, (long long)T0);
    /* A name longer than the row's: its failure is still found. */
    char lng[80];
    memset(lng, 'z', 70);
    lng[70] = '\0';
    int64_t dead = task(f, lng, "dead", -30 * SEC, -5 * SEC, 3);

    backlogs(f, rows, 8, &n, &workers);
    assert_int_equal(n, 4);
    assert_int_equal(workers, 1);
    drudge_backlog_row want[4] = {
        {.name = "a",
         .since = T0 - 100 * SEC,
         .queued = 1,
         .retrying = 1,
         .total = 3,
         .finished = 2,
         .done = 1,
         .failed = 1,
         .finished_recently = 2,
         .last_error = "no such case:\nX-17", /* as stored */
         .last_error_task = failed,
         .last_error_at = T0 - 20 * SEC},
        {.name = "b",
         .paused = 1,
         .since = T0 - 500 * SEC,
         .total = 2,
         .finished = 2,
         .done = 1,
         .cancelled = 1,
         .finished_recently = 1},
        {.name = "d", .since = T0 - 50 * SEC, .running = 1, .total = 1},
        {.since = T0 - 30 * SEC,
         .total = 1,
         .finished = 1,
         .failed = 1,
         .finished_recently = 1,
         .last_error_task = dead,
         .last_error_at = T0 - 5 * SEC},
    };
    memset(want[3].name, 'z', sizeof want[3].name - 1); /* cut short */
    for (int i = 0; i < 4; i++)
        expect_backlog(&rows[i], &want[i]);

    backlogs(f, rows, 2, &n, &workers); /* at most max, by name */
    assert_int_equal(n, 2);
    assert_string_equal(rows[1].name, "b");
}

typedef struct steps_seen {
    int n;
    int64_t ids[8];
    char kinds[8][16];
} steps_seen;

static void seen(void *ud, int64_t id, const char *kind, int64_t us)
{
    steps_seen *s = ud;
    (void)us;
    s->ids[s->n] = id;
    snprintf(s->kinds[s->n++], sizeof s->kinds[0], "%s", kind);
}

static void test_metrics(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    task(f, "a", "done", -100 * SEC, -10 * SEC, 1);
    task(f, "a", "done", -100 * SEC, -10 * SEC, 1);
    task(f, "a", "dead", -100 * SEC, -10 * SEC, 3);
    int64_t run = task(f, "a", "queued", -7 * SEC, 0, 0);
    task(f, "a", "queued", -5 * SEC, 0, 0);
    sql(f, "INSERT INTO running(task_id, owner, claimed_at) VALUES (%lld, 'w1', %lld)",
        (long long)run, (long long)T0);
    task(f, "b", "queued", 100 * SEC, 0, 0); /* not due yet */
    sql(f, "INSERT INTO paused(script, paused_at) VALUES ('ghost', %lld)", (long long)T0);
    sql(f, "INSERT INTO attempt_log(task_id, n, worker, started_at, ended_at, outcome) "
           "VALUES (3, 1, 'w', 0, 1, 'error'), (3, 2, 'w', 0, 1, 'error')");
    sql(f, "UPDATE tasks SET outcome = 'done' WHERE state = 'done';"
           "UPDATE tasks SET outcome = 'error' WHERE state = 'dead'");
    for (int i = 1; i <= 3; i++)
        sql(f,
            "INSERT INTO steps(task_id, attempt, seq, kind, name, started_at, duration_us, "
            "outcome, hash) VALUES (1, 1, %d, '%s', 'x', 0, 1000, 'ok', '')",
            i, i == 2 ? "http" : "task");

    drudge_metrics_data d;
    steps_seen s = {0};
    assert_int_equal(drudge_store_metrics(f->s, T0, 2, seen, &s, &d, &err), DRUDGE_OK);
    assert_int_equal(s.n, 2); /* from id 2 on, in id order */
    assert_int_equal(s.ids[0], 2);
    assert_string_equal(s.kinds[0], "http");
    assert_int_equal(s.ids[1], 3);
    assert_int_equal(d.nscripts, 3);
    assert_string_equal(d.scripts[0].script, "a");
    assert_int_equal(d.scripts[0].tasks, 5);
    static const int64_t want[DRUDGE_NSTATES] = {1, 1, 2, 0, 1, 0};
    for (int i = 0; i < DRUDGE_NSTATES; i++)
        assert_int_equal(d.scripts[0].count[i], want[i]);
    assert_true(d.scripts[0].gross_minutes == 8);
    assert_true(d.scripts[0].lost_minutes == 6);
    assert_int_equal(d.scripts[0].oldest_due_us, 7 * SEC); /* its running task counts */
    assert_string_equal(d.scripts[1].script, "b");
    assert_int_equal(d.scripts[1].oldest_due_us, -1);
    assert_string_equal(d.scripts[2].script, "ghost"); /* paused, without tasks */
    assert_int_equal(d.scripts[2].tasks, 0);
    assert_int_equal(d.scripts[2].paused, 1);
    assert_int_equal(d.noutcomes, 2);
    assert_string_equal(d.outcomes[0].outcome, "done");
    assert_int_equal(d.outcomes[0].count, 2);
    assert_string_equal(d.outcomes[1].outcome, "error");
    assert_int_equal(d.outcomes[1].count, 3);
    drudge_metrics_data_clear(&d);
}

/* A scraper that keeps its histogram shows what a scrape from scratch does. */
static void test_scrape_incremental(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    drudge_buf kept = {0}, fresh = {0};
    task(f, "a", "done", -100 * SEC, -10 * SEC, 1);
    sql(f, "INSERT INTO paused(script, paused_at) VALUES ('ghost', %lld)", (long long)T0);
    drudge_metrics *m = drudge_metrics_new();
    for (int round = 0; round < 3; round++) {
        sql(f,
            "INSERT INTO steps(task_id, attempt, seq, kind, name, started_at, duration_us, "
            "outcome, hash) VALUES (1, 1, %d, 'http', 'x', 0, %d, 'ok', '')",
            round + 1, 40000 * (round + 1));
        drudge_buf_reset(&kept);
        drudge_buf_reset(&fresh);
        assert_int_equal(drudge_metrics_scrape(m, f->s, T0, &kept, &err), DRUDGE_OK);
        drudge_metrics *once = drudge_metrics_new();
        assert_int_equal(drudge_metrics_scrape(once, f->s, T0, &fresh, &err), DRUDGE_OK);
        drudge_metrics_free(once);
        assert_string_equal(kept.data, fresh.data);
    }
    assert_non_null(strstr(kept.data, "drudge_step_duration_seconds_count{kind=\"http\"} 3\n"));
    assert_non_null(strstr(kept.data, "drudge_step_duration_seconds_bucket{kind=\"http\","
                                      "le=\"0.05\"} 1\n"));
    assert_non_null(strstr(kept.data, "drudge_step_duration_seconds_bucket{kind=\"http\","
                                      "le=\"0.25\"} 3\n"));
    assert_non_null(strstr(kept.data, "drudge_script_paused{script=\"ghost\"} 1\n"));
    assert_null(strstr(kept.data, "drudge_tasks{script=\"ghost\""));
    assert_null(strstr(kept.data, "drudge_time_saved_minutes{script=\"ghost\""));
    assert_non_null(strstr(kept.data, "drudge_time_saved_minutes{script=\"a\"} 4\n"));
    drudge_metrics_free(m);
    drudge_buf_free(&kept);
    drudge_buf_free(&fresh);
}

#define WITH_DB(test) cmocka_unit_test_setup_teardown(test, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {WITH_DB(test_backlogs), WITH_DB(test_metrics),
                                       WITH_DB(test_scrape_incremental)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

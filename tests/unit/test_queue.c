/* test_queue.c: claim, complete, retry, backoff and lease expiry, driven by an
 * injected clock (every queue function takes `now`), on a real database:
 * an SQLite file, or with DRUDGE_TEST_PG a PostgreSQL database (pg.unit.queue;
 * testdb.h). The queue works through a store (f->s); f->db holds a
 * connection of the test's own to the same database, to look at the rows.
 * The migration tests build old SQLite files and run on SQLite only. */
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
#include "testdb.h"
#include "logs/audit/audit.h"
#include "runner/queue/queue.h"
#include "runner/store/sqlite/sqliteint.h"
#include "drudge/record.h"
#include "drudge/util.h"

#define SEC ((int64_t)1000000)
#define T0  ((int64_t)1795000000 * SEC) /* the test's "now" */

typedef struct fixture {
    testdb db;
    drudge_store *s;
    drudge_queue *q;
} fixture;

static drudge_queue *new_queue(drudge_store *s, const char *owner, const char *const *scripts)
{
    drudge_queue_opts o = {.owner = owner,
                           .lease_us = 10 * SEC,
                           .backoff_base_us = 4 * SEC,
                           .backoff_cap_us = 30 * SEC,
                           .scripts = scripts,
                           .seed = 42};
    drudge_queue *q = drudge_queue_new(s, &o);
    assert_non_null(q);
    return q;
}

/* Opens the store on f->db and the test's own connection beside it. */
static void open_both(fixture *f)
{
    drudge_err err = {0};
    if (drudge_store_open(f->db.where, 0, &f->s, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(testdb_connect(&f->db), 0);
}

static void close_both(fixture *f)
{
    drudge_queue_free(f->q); /* before its store */
    f->q = NULL;
    drudge_store_close(f->s);
    testdb_disconnect(&f->db);
}

static void begin(fixture *f)
{
    drudge_err err = {0};
    assert_int_equal(drudge_store_begin(f->s, DRUDGE_TX_WRITE, &err), DRUDGE_OK);
}

static void commit(fixture *f)
{
    drudge_err err = {0};
    assert_int_equal(drudge_store_commit(f->s, &err), DRUDGE_OK);
}

/* SQL on the test's own connection. */
static void exec_sql(fixture *f, const char *sql)
{
    assert_int_equal(testdb_exec(&f->db, sql), 0);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_int_equal(testdb_new(&f->db, "queue"), 0);
    open_both(f);
    f->q = new_queue(f->s, "w1", NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    close_both(f);
    assert_int_equal(testdb_drop(&f->db), 0);
    free(f);
    return 0;
}

static int64_t add(fixture *f, const char *script, const char *key, int priority, int64_t run_at,
                   int max_attempts)
{
    drudge_err err = {0};
    drudge_task_spec s = {.script = script,
                          .script_path = "/nowhere/x.lua",
                          .key = key,
                          .input = "{\"n\":1}",
                          .priority = priority,
                          .run_at = run_at,
                          .max_attempts = max_attempts};
    int64_t id = 0;
    int dup = 0;
    assert_int_equal(drudge_queue_enqueue(f->s, &s, &id, &dup, &err), DRUDGE_OK);
    assert_int_equal(dup, 0);
    return id;
}

static int64_t num(fixture *f, const char *sql, int64_t id)
{
    return testdb_num(&f->db, sql, id);
}

static char *text(fixture *f, const char *sql, int64_t id)
{
    char *r = testdb_text(&f->db, sql, id);
    assert_non_null(r);
    return r;
}

static void assert_state(fixture *f, int64_t id, const char *want)
{
    char *s = text(f, "SELECT state FROM task_state WHERE id = ?", id);
    assert_string_equal(s, want);
    free(s);
}

/* Claims up to max in one transaction at now. */
static size_t claim(drudge_queue *q, int64_t now, int max, drudge_claimed **out)
{
    drudge_err err = {0};
    size_t n = 0;
    drudge_store *s = drudge_queue_store(q);
    assert_int_equal(drudge_store_begin(s, DRUDGE_TX_WRITE, &err), DRUDGE_OK);
    assert_int_equal(drudge_queue_claim(q, now, max, out, &n, &err), DRUDGE_OK);
    assert_int_equal(drudge_store_commit(s, &err), DRUDGE_OK);
    return n;
}

static void free_claimed(drudge_claimed *v, size_t n)
{
    drudge_claimed_free_all(v, n);
}

/* Marks q's running task id started, as a worker's writer does once the
 * attempt has run a second. */
static void mark_started(drudge_queue *q, int64_t id)
{
    drudge_err err = {0};
    drudge_store *s = drudge_queue_store(q);
    assert_int_equal(drudge_store_begin(s, DRUDGE_TX_WRITE, &err), DRUDGE_OK);
    assert_int_equal(drudge_queue_mark_started(q, &id, 1, &err), DRUDGE_OK);
    assert_int_equal(drudge_store_commit(s, &err), DRUDGE_OK);
}

/* Reaps at now as a worker's writer does (each lost attempt's root step on
 * the chain), in one transaction; returns how many lost attempts it
 * recorded (*unstarted, if given, gets the claims given back unspent). */
static int reap_counting(drudge_queue *q, int64_t now, size_t *unstarted)
{
    drudge_err err = {0};
    drudge_store *s = drudge_queue_store(q);
    drudge_expired *lost = NULL;
    size_t n = 0, back = 0;
    drudge_rec *rec = drudge_rec_new();
    assert_int_equal(drudge_store_begin(s, DRUDGE_TX_WRITE, &err), DRUDGE_OK);
    assert_int_equal(drudge_queue_reap(q, now, &lost, &n, &back, &err), DRUDGE_OK);
    if (unstarted)
        *unstarted = back;
    for (size_t i = 0; i < n; i++) {
        drudge_audit_root_only(rec, lost[i].t.id, lost[i].t.attempt, lost[i].t.script,
                               lost[i].t.input, lost[i].t.key, "lost", DRUDGE_LOST_ERROR);
        assert_int_equal(drudge_audit_append(s, rec, &err), DRUDGE_OK);
    }
    assert_int_equal(drudge_store_commit(s, &err), DRUDGE_OK);
    drudge_expired_free_all(lost, n);
    drudge_rec_free(rec);
    return (int)n;
}

static int reap(drudge_queue *q, int64_t now)
{
    return reap_counting(q, now, NULL);
}

/* Records an outcome for t at now (and rec's steps); returns the new state
 * (NULL if the lease was lost). */
static const char *complete(drudge_queue *q, const drudge_claimed *t, drudge_outcome o,
                            double retry_after, drudge_rec *rec, int64_t now)
{
    drudge_err err = {0};
    drudge_result res = {.outcome = o,
                         .output = o == DRUDGE_DONE ? "{\"ok\":true}" : NULL,
                         .error = o == DRUDGE_DONE ? NULL : "boom",
                         .retry_after = retry_after};
    drudge_completion c = {.task = t, .worker = "w1/1", .started_us = now - 1000, .res = &res};
    const char *state = NULL;
    drudge_store *s = drudge_queue_store(q);
    assert_int_equal(drudge_store_begin(s, DRUDGE_TX_WRITE, &err), DRUDGE_OK);
    assert_int_equal(drudge_queue_complete(q, &c, now, &state, &err), DRUDGE_OK);
    if (state && rec)
        assert_int_equal(drudge_audit_append(s, rec, &err), DRUDGE_OK);
    assert_int_equal(drudge_store_commit(s, &err), DRUDGE_OK);
    return state;
}

static void test_claim_order_and_due(void **state)
{
    fixture *f = *state;
    int64_t low = add(f, "s", NULL, 0, T0, 3);
    int64_t high = add(f, "s", NULL, 5, T0, 3);
    int64_t later = add(f, "s", NULL, 9, T0 + 60 * SEC, 3); /* highest, but not due */
    int64_t low2 = add(f, "s", NULL, 0, T0 - SEC, 3);       /* older run_at first */
    drudge_claimed *v;
    size_t n = claim(f->q, T0, 10, &v);
    assert_int_equal(n, 3);
    assert_int_equal(v[0].id, high);
    assert_int_equal(v[1].id, low2);
    assert_int_equal(v[2].id, low);
    assert_int_equal(v[0].attempt, 1);
    assert_string_equal(v[0].input, "{\"n\":1}");
    assert_state(f, low, "running");
    assert_state(f, later, "queued");
    assert_int_equal(
        num(f, "SELECT until FROM leases l JOIN running r ON r.owner = l.owner WHERE r.task_id = ?",
            high),
        T0 + 10 * SEC);
    free_claimed(v, n);
    /* Nothing else is due until the clock reaches it. */
    assert_int_equal(claim(f->q, T0 + SEC, 10, &v), 0);
    free(v);
    n = claim(f->q, T0 + 60 * SEC, 10, &v);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, later);
    free_claimed(v, n);
}

/* Claims go one priority at a time for the first 64 distinct priorities and
 * take the rest in one scan; the order is the same either way, and tasks not
 * yet due are never claimed, whatever their priority. */
static void test_claim_across_many_priorities(void **state)
{
    fixture *f = *state;
    for (int p = 1; p <= 80; p++)
        add(f, "s", NULL, p, T0 - p, 3);
    for (int i = 0; i < 3; i++)
        add(f, "s", NULL, 0, T0 - 10 + i, 3);
    add(f, "s", NULL, 100, T0 + SEC, 3); /* highest, not due */
    add(f, "s", NULL, 35, T0 + SEC, 3);  /* in the middle, not due */
    drudge_claimed *v;
    size_t n = claim(f->q, T0, 10, &v);
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(v[i].priority, 80 - (int)i);
    free_claimed(v, n);
    /* 71 priorities: the last 7 (6 down to 0) in the one scan. */
    n = claim(f->q, T0, 100, &v);
    assert_int_equal(n, 73);
    for (size_t i = 0; i < 70; i++)
        assert_int_equal(v[i].priority, 70 - (int)i);
    for (size_t i = 70; i < 73; i++) {
        assert_int_equal(v[i].priority, 0);
        assert_int_equal(v[i].run_at, T0 - 10 + (int64_t)(i - 70));
    }
    free_claimed(v, n);
    assert_int_equal(claim(f->q, T0, 100, &v), 0);
    free(v);
    n = claim(f->q, T0 + SEC, 100, &v);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].priority, 100);
    assert_int_equal(v[1].priority, 35);
    free_claimed(v, n);
}

static void test_limit_pause_and_filter(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 5; i++)
        add(f, "a", NULL, 0, T0, 3);
    int64_t b = add(f, "b", NULL, 0, T0, 3);
    drudge_err err = {0};
    int changed = 0;
    assert_int_equal(drudge_queue_pause(f->s, "a", "tester", T0, &changed, &err), DRUDGE_OK);
    assert_int_equal(changed, 1);
    drudge_claimed *v;
    size_t n = claim(f->q, T0, 10, &v);
    assert_int_equal(n, 1); /* only b: a is paused */
    assert_int_equal(v[0].id, b);
    free_claimed(v, n);
    assert_int_equal(drudge_queue_resume(f->s, "a", "tester", T0, &changed, &err), DRUDGE_OK);
    assert_int_equal(changed, 1);
    n = claim(f->q, T0, 2, &v); /* the limit holds */
    assert_int_equal(n, 2);
    free_claimed(v, n);
    /* A queue limited to script "b" sees none of a's. */
    const char *only_b[] = {"b", NULL};
    drudge_queue *qb = new_queue(f->s, "w2", only_b);
    assert_int_equal(claim(qb, T0, 10, &v), 0);
    free(v);
    drudge_queue_free(qb);
}

/* T0 is Wednesday 2026-11-18 11:06 UTC. */
static void test_run_windows(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    drudge_task_spec s = {.script = "night",
                          .script_path = "/x.lua",
                          .max_attempts = 3,
                          .window = "Mon-Fri 18:00-07:30 UTC",
                          .run_at = T0 - SEC};
    int64_t id = 0, open_id = 0;
    int dup = 0;
    for (int i = 0; i < 50; i++) /* a backlog waiting for its window, ahead in order */
        assert_int_equal(drudge_queue_enqueue(f->s, &s, &id, &dup, &err), DRUDGE_OK);
    open_id = add(f, "day", NULL, 0, T0, 3);
    drudge_claimed *v;
    size_t n = claim(f->q, T0, 10, &v);
    assert_int_equal(n, 1); /* 11:06: only the task without a window */
    assert_int_equal(v[0].id, open_id);
    free_claimed(v, n);
    int idle = 0;
    assert_int_equal(drudge_queue_idle(f->q, T0, &idle, &err), DRUDGE_OK);
    assert_int_equal(idle, 0);                     /* the claimed task is running */
    n = claim(f->q, T0 + 7 * 3600 * SEC, 100, &v); /* 18:06: the window is open */
    assert_int_equal(n, 50);
    free_claimed(v, n);
}

static void test_done_records_attempt_and_audit(void **state)
{
    fixture *f = *state;
    int64_t id = add(f, "s", "k1", 0, T0, 3);
    drudge_claimed *v;
    assert_int_equal(claim(f->q, T0, 1, &v), 1);
    drudge_rec *rec = drudge_rec_new();
    drudge_rec_reset(rec, id, 1);
    int seq = drudge_rec_begin(rec, "task", "s", "{}");
    drudge_rec_end(rec, seq, "done", NULL, NULL);
    assert_string_equal(complete(f->q, &v[0], DRUDGE_DONE, 0, rec, T0 + SEC), "done");
    assert_state(f, id, "done");
    char *out = text(f, "SELECT output FROM tasks WHERE id = ?", id);
    assert_string_equal(out, "{\"ok\":true}");
    free(out);
    assert_int_equal(num(f, "SELECT finished_at FROM tasks WHERE id = ?", id), T0 + SEC);
    assert_int_equal(num(f,
                         "SELECT count(*) FROM attempts WHERE task_id = ? AND outcome = 'done' "
                         "AND n = 1 AND ended_at = "
                         "1795000001000000",
                         id),
                     1);
    assert_int_equal(num(f, "SELECT count(*) FROM steps WHERE task_id = ?", id), 1);
    assert_int_equal(num(f, "SELECT count(*) FROM running WHERE task_id = ?", id), 0);
    drudge_rec_free(rec);
    free_claimed(v, 1);
}

static void test_failed_is_final(void **state)
{
    fixture *f = *state;
    int64_t id = add(f, "s", NULL, 0, T0, 3);
    drudge_claimed *v;
    assert_int_equal(claim(f->q, T0, 1, &v), 1);
    assert_string_equal(complete(f->q, &v[0], DRUDGE_FAILED, 0, NULL, T0), "failed");
    char *kind = text(f, "SELECT error_kind FROM tasks WHERE id = ?", id);
    assert_string_equal(kind, "business");
    free(kind);
    free_claimed(v, 1);
    assert_int_equal(claim(f->q, T0 + 3600 * SEC, 1, &v), 0);
    free(v);
}

static void test_system_errors_back_off_then_dead(void **state)
{
    fixture *f = *state;
    int64_t id = add(f, "s", NULL, 0, T0, 3);
    int64_t now = T0;
    for (int attempt = 1; attempt <= 3; attempt++) {
        drudge_claimed *v;
        assert_int_equal(claim(f->q, now, 1, &v), 1);
        assert_int_equal(v[0].attempt, attempt);
        const char *st = complete(f->q, &v[0], DRUDGE_ERROR, 0, NULL, now);
        free_claimed(v, 1);
        if (attempt < 3) {
            assert_string_equal(st, "queued");
            /* base 4 s doubling: jittered into [d/2, d] */
            int64_t d = 4 * SEC << (attempt - 1);
            int64_t run_at = num(f, "SELECT run_at FROM tasks WHERE id = ?", id);
            assert_true(run_at >= now + d / 2 && run_at <= now + d);
            /* not claimable before it is due */
            assert_int_equal(claim(f->q, run_at - 1, 1, &v), 0);
            free(v);
            now = run_at;
        } else {
            assert_string_equal(st, "dead");
        }
    }
    assert_int_equal(num(f, "SELECT spent FROM tasks WHERE id = ?", id), 3);
    assert_int_equal(num(f, "SELECT count(*) FROM attempts WHERE task_id = ?", id), 3);
}

/* Where attempts are kept: the final one in the task's row, the earlier ones
 * in attempt_log, and the view `attempts` shows them all, in order, as one
 * table would. `drudge retry` moves the final one to the log first. */
static void test_final_attempt_in_row(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    int64_t id = add(f, "s", NULL, 0, T0, 3);
    drudge_claimed *v;
    assert_int_equal(claim(f->q, T0, 1, &v), 1);
    assert_string_equal(complete(f->q, &v[0], DRUDGE_ERROR, 0, NULL, T0 + SEC), "queued");
    free_claimed(v, 1);
    int64_t due = num(f, "SELECT run_at FROM tasks WHERE id = ?", id);
    assert_int_equal(claim(f->q, due, 1, &v), 1);
    assert_string_equal(complete(f->q, &v[0], DRUDGE_FAILED, 0, NULL, due + SEC), "failed");
    free_claimed(v, 1);
    assert_int_equal(num(f, "SELECT count(*) FROM attempt_log WHERE task_id = ?", id), 1);
    char *s = text(f,
                   "SELECT group_concat(n || ':' || outcome || ':' || worker || ':' || "
                   "(ended_at - started_at), ',') FROM (SELECT * FROM attempts WHERE task_id = ? "
                   "ORDER BY n) AS a",
                   id);
    assert_string_equal(s, "1:error:w1/1:1000,2:failed:w1/1:1000");
    free(s);
    assert_int_equal(num(f, "SELECT finished_at FROM tasks WHERE id = ?", id), due + SEC);
    /* Reopened: the failed attempt joins the log, the row is clear again. */
    assert_int_equal(drudge_queue_retry(f->s, id, "tester", due + 2 * SEC, &err), DRUDGE_OK);
    assert_int_equal(num(f, "SELECT count(*) FROM attempt_log WHERE task_id = ?", id), 2);
    assert_int_equal(
        num(f, "SELECT outcome IS NULL AND worker IS NULL FROM tasks WHERE id = ?", id), 1);
    assert_int_equal(num(f, "SELECT count(*) FROM attempts WHERE task_id = ?", id), 2);
    assert_int_equal(claim(f->q, due + 2 * SEC, 1, &v), 1);
    assert_int_equal(v[0].attempt, 3);
    assert_string_equal(complete(f->q, &v[0], DRUDGE_DONE, 0, NULL, due + 3 * SEC), "done");
    free_claimed(v, 1);
    s = text(f,
             "SELECT group_concat(n || ':' || outcome, ',') FROM (SELECT * FROM attempts "
             "WHERE task_id = ? ORDER BY n) AS a",
             id);
    assert_string_equal(s, "1:error,2:failed,3:done");
    free(s);
    /* Rows written straight into the view (older tools, tests) go to the log. */
    exec_sql(f, "INSERT INTO attempts(task_id, n, worker, started_at, ended_at, outcome) "
                "VALUES (1, 9, 'x', 1, 2, 'lost')");
    assert_int_equal(num(f, "SELECT count(*) FROM attempt_log WHERE n = 9", 0), 1);
}

static void test_backoff_cap_and_jitter(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 200; i++) {
        int64_t d = drudge_queue_backoff(f->q, 1 + i % 12);
        int64_t nominal = 4 * SEC << (i % 12 < 3 ? i % 12 : 3);
        if (nominal > 30 * SEC)
            nominal = 30 * SEC;
        assert_true(d >= nominal / 2 && d <= nominal);
    }
}

static void test_retry_later_spends_nothing(void **state)
{
    fixture *f = *state;
    int64_t id = add(f, "s", NULL, 0, T0, 1);
    drudge_claimed *v;
    for (int i = 0; i < 5; i++) { /* more than max_attempts times */
        assert_int_equal(claim(f->q, T0 + i * 100 * SEC, 1, &v), 1);
        assert_string_equal(complete(f->q, &v[0], DRUDGE_RETRY_LATER, 30, NULL, T0 + i * 100 * SEC),
                            "queued");
        assert_int_equal(num(f, "SELECT run_at FROM tasks WHERE id = ?", id),
                         T0 + i * 100 * SEC + 30 * SEC);
        free_claimed(v, 1);
    }
    assert_int_equal(num(f, "SELECT spent FROM tasks WHERE id = ?", id), 0);
    assert_int_equal(num(f, "SELECT attempts FROM tasks WHERE id = ?", id), 5);
}

static void test_lease_expiry_reaps_and_fences(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    int64_t id = add(f, "s", NULL, 0, T0, 2);
    drudge_claimed *v;
    assert_int_equal(claim(f->q, T0, 1, &v), 1);
    mark_started(f->q, id);
    /* Another worker's reaper: nothing before expiry. */
    drudge_queue *q2 = new_queue(f->s, "w2", NULL);
    int n = reap(q2, T0 + 9 * SEC);
    assert_int_equal(n, 0);
    /* A renewal at +8 s pushes expiry to +18 s. */
    int64_t cancel[4];
    size_t nc = 0;
    begin(f);
    assert_int_equal(drudge_queue_renew(f->q, T0 + 8 * SEC, cancel, 4, &nc, &err), DRUDGE_OK);
    commit(f);
    n = reap(q2, T0 + 17 * SEC);
    assert_int_equal(n, 0);
    n = reap(q2, T0 + 19 * SEC);
    assert_int_equal(n, 1);
    assert_state(f, id, "queued");
    /* The dead worker's lease went with its last task; the reaper holds none. */
    assert_int_equal(num(f, "SELECT count(*) FROM leases", 0), 0);
    assert_int_equal(num(f,
                         "SELECT count(*) FROM attempts WHERE task_id = ? AND outcome = 'lost' "
                         "AND worker = 'w1' AND n = 1",
                         id),
                     1);
    assert_int_equal(
        num(f, "SELECT count(*) FROM steps WHERE task_id = ? AND outcome = 'lost'", id), 1);
    assert_int_equal(num(f, "SELECT spent FROM tasks WHERE id = ?", id), 1);
    /* The first worker comes back late: its outcome is fenced off. */
    assert_null(complete(f->q, &v[0], DRUDGE_DONE, 0, NULL, T0 + 20 * SEC));
    assert_int_equal(num(f, "SELECT count(*) FROM attempts WHERE task_id = ?", id), 1);
    free_claimed(v, 1);
    /* Claimed again as attempt 2; losing that one too makes it dead. */
    assert_int_equal(claim(q2, T0 + 20 * SEC, 1, &v), 1);
    assert_int_equal(v[0].attempt, 2);
    free_claimed(v, 1);
    mark_started(q2, id);
    n = reap(f->q, T0 + 31 * SEC);
    assert_int_equal(n, 1);
    assert_state(f, id, "dead");
    drudge_queue_free(q2);
}

/* Issue 24: claims a dead process held ahead and never started cost no
 * attempt (with max_attempts = 1 they would have ended dead); a task that
 * kills its worker before its attempt is marked started is given back once
 * as suspect, and from then on its claims count as started, so it still
 * stops at max_attempts. */
static void test_reap_unstarted_claims_unspent(void **state)
{
    fixture *f = *state;
    int64_t run = add(f, "s", NULL, 0, T0, 1), ahead = add(f, "s", NULL, 0, T0, 1);
    int64_t poison = add(f, "p", NULL, -1, T0, 2);
    drudge_claimed *v;
    assert_int_equal(claim(f->q, T0, 3, &v), 3);
    free_claimed(v, 3);
    mark_started(f->q, run); /* it ran a second before the process died */
    assert_int_equal(num(f, "SELECT count(*) FROM running WHERE started", 0), 1);
    drudge_queue *q2 = new_queue(f->s, "w2", NULL);
    size_t back = 0;
    assert_int_equal(reap_counting(q2, T0 + 11 * SEC, &back), 1);
    assert_int_equal((int)back, 2);
    assert_state(f, run, "dead"); /* max_attempts 1, and it did start */
    assert_state(f, ahead, "queued");
    assert_state(f, poison, "queued");
    assert_int_equal(num(f, "SELECT spent + attempts FROM tasks WHERE id = ?", ahead), 0);
    assert_int_equal(num(f, "SELECT count(*) FROM attempts WHERE task_id = ?", ahead), 0);
    assert_int_equal(num(f, "SELECT count(*) FROM steps WHERE task_id = ?", ahead), 0);
    assert_int_equal(num(f, "SELECT suspect FROM tasks WHERE id = ?", ahead), 1);
    assert_int_equal(num(f, "SELECT count(*) FROM leases WHERE owner = 'w1'", 0), 0);
    /* The unstarted one runs to the end next time: done, one attempt. */
    assert_int_equal(claim(q2, T0 + 12 * SEC, 1, &v), 1);
    assert_int_equal(v[0].id, ahead);
    assert_int_equal(v[0].suspect, 1);
    assert_string_equal(complete(q2, &v[0], DRUDGE_DONE, 0, NULL, T0 + 13 * SEC), "done");
    free_claimed(v, 1);
    /* The poison task: a suspect's claim is started at once, so each crash
     * from now on spends an attempt: dead after max_attempts (2) of them. */
    for (int crash = 1; crash <= 2; crash++) {
        int64_t t = T0 + (20 + 20 * crash) * SEC;
        assert_int_equal(claim(q2, t, 1, &v), 1);
        assert_int_equal(v[0].id, poison);
        free_claimed(v, 1);
        assert_int_equal(num(f, "SELECT started FROM running WHERE task_id = ?", poison), 1);
        assert_int_equal(reap_counting(f->q, t + 11 * SEC, &back), 1);
        assert_int_equal((int)back, 0);
        assert_int_equal(num(f, "SELECT spent FROM tasks WHERE id = ?", poison), crash);
    }
    assert_state(f, poison, "dead");
    drudge_queue_free(q2);
}

/* A process that stalled past its lease, was reaped, and woke up: its next
 * claim takes a lease again, so its new tasks are not taken for orphans. Its
 * lease goes when it drains, and not while it still holds a task. */
static void test_lease_after_reaping_and_drop(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    int64_t a = add(f, "s", NULL, 0, T0, 3), b = add(f, "s", NULL, 0, T0, 3);
    drudge_claimed *v, *w;
    assert_int_equal(claim(f->q, T0, 1, &v), 1);
    assert_int_equal(v[0].id, a);
    mark_started(f->q, a);
    drudge_queue *q2 = new_queue(f->s, "w2", NULL);
    int n = reap(q2, T0 + 11 * SEC);
    assert_int_equal(n, 1);
    assert_int_equal(num(f, "SELECT count(*) FROM leases WHERE owner = 'w1'", 0), 0);
    /* w1 wakes up and claims again (the highest first: a, requeued). */
    assert_int_equal(claim(f->q, T0 + 12 * SEC, 2, &w), 2);
    assert_int_equal(num(f, "SELECT until FROM leases WHERE owner = 'w1'", 0), T0 + 22 * SEC);
    n = reap(q2, T0 + 13 * SEC);
    assert_int_equal(n, 0);
    /* Holding tasks, the lease stays; once they are done, it goes. */
    begin(f);
    assert_int_equal(drudge_queue_drop_lease(f->q, &err), DRUDGE_OK);
    commit(f);
    assert_int_equal(num(f, "SELECT count(*) FROM leases WHERE owner = 'w1'", 0), 1);
    assert_state(f, b, "running");
    assert_string_equal(complete(f->q, &w[0], DRUDGE_DONE, 0, NULL, T0 + 14 * SEC), "done");
    assert_string_equal(complete(f->q, &w[1], DRUDGE_DONE, 0, NULL, T0 + 14 * SEC), "done");
    assert_int_equal(drudge_queue_drop_lease(f->q, &err), DRUDGE_OK);
    assert_int_equal(num(f, "SELECT count(*) FROM leases", 0), 0);
    assert_int_equal(num(f, "SELECT count(*) FROM running", 0), 0);
    free_claimed(v, 1);
    free_claimed(w, 2);
    drudge_queue_free(q2);
}

static void test_release_and_cancel(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    int64_t a = add(f, "s", NULL, 0, T0, 3), b = add(f, "s", NULL, 0, T0, 3);
    int64_t c = add(f, "s", NULL, 0, T0, 3);
    drudge_claimed *v;
    assert_int_equal(claim(f->q, T0, 2, &v), 2);
    /* A claimed task that never started goes back with no attempt spent. */
    begin(f);
    assert_int_equal(drudge_queue_release(f->q, &v[0], &err), DRUDGE_OK);
    commit(f);
    assert_state(f, a, "queued");
    assert_int_equal(num(f, "SELECT attempts + spent FROM tasks WHERE id = ?", a), 0);
    /* Cancelling: a queued task at once, a running one through the renewal. */
    int deferred = -1;
    assert_int_equal(drudge_queue_cancel(f->s, c, "tester", T0, &deferred, &err), DRUDGE_OK);
    assert_int_equal(deferred, 0);
    assert_state(f, c, "cancelled");
    assert_int_equal(drudge_queue_cancel(f->s, b, "tester", T0, &deferred, &err), DRUDGE_OK);
    assert_int_equal(deferred, 1);
    int64_t ids[4];
    size_t nc = 0;
    begin(f);
    assert_int_equal(drudge_queue_renew(f->q, T0 + SEC, ids, 4, &nc, &err), DRUDGE_OK);
    commit(f);
    assert_int_equal(nc, 1);
    assert_int_equal(ids[0], b);
    drudge_completion cc = {.task = &v[1], .worker = "w1/1", .cancelled = 1};
    const char *st = NULL;
    begin(f);
    assert_int_equal(drudge_queue_complete(f->q, &cc, T0 + SEC, &st, &err), DRUDGE_OK);
    commit(f);
    assert_string_equal(st, "cancelled");
    assert_state(f, b, "cancelled");
    /* Finished tasks cannot be cancelled. */
    assert_int_equal(drudge_queue_cancel(f->s, b, "tester", T0, &deferred, &err), DRUDGE_ESTATE);
    assert_non_null(strstr(err.msg, "cancelled"));
    assert_int_equal(drudge_queue_cancel(f->s, 999, "tester", T0, &deferred, &err),
                     DRUDGE_ENOTFOUND);
    free_claimed(v, 2);
}

static void test_duplicate_keys_retry_resolve(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    int64_t id = add(f, "s", "ref-1", 0, T0, 1);
    drudge_task_spec s = {.script = "s", .script_path = "/x.lua", .key = "ref-1"};
    int64_t id2 = 0;
    int dup = 0;
    assert_int_equal(drudge_queue_enqueue(f->s, &s, &id2, &dup, &err), DRUDGE_OK);
    assert_int_equal(dup, 1);
    assert_int_equal(id2, id);
    s.script = "other"; /* keys are per script */
    assert_int_equal(drudge_queue_enqueue(f->s, &s, &id2, &dup, &err), DRUDGE_OK);
    assert_int_equal(dup, 0);
    assert_int_equal(num(f, "SELECT count(*) FROM tasks WHERE key = 'ref-1'", 0), 2);
    /* Only failed/dead can be resolved or retried. */
    assert_int_equal(drudge_queue_resolve(f->s, id, "me", "done by hand", T0, &err), DRUDGE_ESTATE);
    drudge_claimed *v;
    assert_int_equal(claim(f->q, T0, 1, &v), 1);
    assert_string_equal(complete(f->q, &v[0], DRUDGE_ERROR, 0, NULL, T0), "dead");
    free_claimed(v, 1);
    assert_int_equal(drudge_queue_resolve(f->s, id, "me", "done by hand", T0, &err), DRUDGE_OK);
    char *who = text(f, "SELECT resolved_by || ':' || resolved_note FROM tasks WHERE id = ?", id);
    assert_string_equal(who, "me:done by hand");
    free(who);
    assert_int_equal(drudge_queue_retry(f->s, id, "tester", T0 + SEC, &err), DRUDGE_OK);
    assert_state(f, id, "queued");
    assert_int_equal(num(f, "SELECT spent FROM tasks WHERE id = ?", id), 0);
    assert_int_equal(num(f, "SELECT resolved_at IS NULL FROM tasks WHERE id = ?", id), 1);
    assert_int_equal(drudge_queue_retry(f->s, id, "tester", T0, &err), DRUDGE_ESTATE);
}

/* Bulk rows go in batches of multi-row INSERTs: every row lands once, in
 * file order, duplicates (within a batch, across batches, of tasks already
 * there) are counted and skipped, and a change of script or priority
 * mid-batch starts a new one. */
static void test_bulk_push_batches(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    add(f, "bulk", "k5", 0, T0, 3); /* already queued: row 5 is a duplicate */
    drudge_task_spec s[101];
    char key[100][32], input[100][64];
    for (int i = 0; i < 100; i++) {
        /* rows 40..49 repeat keys 0..9; rows 70.. have priority 7 */
        snprintf(key[i], sizeof key[i], "k%d", i >= 40 && i < 50 ? i - 40 : i);
        snprintf(input[i], sizeof input[i], "{\"row\":%d}", i);
        s[i] = (drudge_task_spec){.script = "bulk",
                                  .script_path = "/x.lua",
                                  .max_attempts = 2,
                                  .key = key[i],
                                  .input = input[i],
                                  .priority = i >= 70 ? 7 : 0};
    }
    /* A new script mid-batch: its scripts row is written too. */
    s[100] = (drudge_task_spec){
        .script = "other", .script_path = "/x.lua", .max_attempts = 2, .key = "k1"};
    int64_t added = 0, dups = 0;
    begin(f);
    assert_int_equal(drudge_store_enqueue(f->s, s, 101, T0, NULL, NULL, &added, &dups, &err),
                     DRUDGE_OK);
    commit(f);
    assert_int_equal(added, 100 - 10 - 1 + 1);
    assert_int_equal(dups, 11);
    assert_int_equal(num(f, "SELECT count(*) FROM tasks WHERE script = 'bulk'", 0), 90);
    /* The first row with a key wins; ids follow the file. */
    testdb *db = &f->db;
    assert_int_equal(
        num(f,
            TESTDB_SQL(db, "SELECT json_extract(input, '$.row') FROM tasks WHERE key = 'k3'",
                       "SELECT input::json->>'row' FROM tasks WHERE key = 'k3'"),
            0),
        3);
    assert_int_equal(
        num(f,
            TESTDB_SQL(db,
                       "SELECT count(*) FROM tasks a JOIN tasks b ON b.id > a.id WHERE "
                       "a.script = 'bulk' AND b.script = 'bulk' AND a.key <> 'k5' AND "
                       "json_extract(b.input, '$.row') < json_extract(a.input, '$.row')",
                       "SELECT count(*) FROM tasks a JOIN tasks b ON b.id > a.id WHERE "
                       "a.script = 'bulk' AND b.script = 'bulk' AND a.key <> 'k5' AND "
                       "(b.input::json->>'row')::int < (a.input::json->>'row')::int"),
            0),
        0);
    assert_int_equal(num(f, "SELECT count(*) FROM tasks WHERE script = 'bulk' AND priority = 7", 0),
                     30);
    assert_int_equal(num(f, "SELECT max_attempts FROM tasks WHERE key = 'k99'", 0), 2);
    assert_int_equal(num(f, "SELECT count(*) FROM scripts WHERE name IN ('bulk', 'other')", 0), 2);
    assert_int_equal(num(f, "SELECT input IS NULL FROM tasks WHERE script = 'other'", 0), 1);
}

static void test_status_counts(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    add(f, "a", NULL, 0, T0 - 5 * SEC, 3);
    add(f, "a", NULL, 0, T0, 3);
    add(f, "b", NULL, 0, T0, 1);
    drudge_claimed *v;
    size_t n = claim(f->q, T0, 2, &v);
    assert_int_equal(n, 2);
    /* The last minute's attempts are counted by their root steps. */
    drudge_rec *rec = drudge_rec_new();
    drudge_rec_reset(rec, v[0].id, 1);
    drudge_rec_end(rec, drudge_rec_begin(rec, "task", "a", "{}"), "failed", NULL, "boom");
    const char *st = complete(f->q, &v[0], DRUDGE_FAILED, 0, rec, T0);
    assert_string_equal(st, "failed");
    drudge_rec_free(rec);
    free_claimed(v, n);
    drudge_queue_stats s;
    assert_int_equal(drudge_store_status(f->s, T0 + SEC, &s, &err), DRUDGE_OK);
    assert_int_equal(s.nscripts, 2);
    assert_int_equal(s.total.count[0], 1); /* queued */
    assert_int_equal(s.total.count[1], 1); /* running */
    assert_int_equal(s.total.count[3], 1); /* failed */
    assert_int_equal(s.total.unresolved, 1);
    assert_int_equal(s.total.done_last_minute, 1);
    assert_true(s.total.oldest_queued_us > 0);
    drudge_queue_stats_clear(&s);
}

/* Done tasks are counted, not indexed: per turn in the writer (a rolled-back
 * turn counts nothing), at once outside a turn, and a task deleted by hand
 * leaves the count. */
static void test_done_counts(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    for (int i = 0; i < 5; i++)
        add(f, i < 4 ? "a" : "b", NULL, 0, T0, 3);
    drudge_claimed *v;
    size_t n = claim(f->q, T0, 5, &v);
    assert_int_equal(n, 5);
    /* A turn that rolls back: nothing is counted, nothing is done. */
    const char *st = NULL;
    drudge_result ok = {.outcome = DRUDGE_DONE, .output = "true"};
    drudge_completion c = {.worker = "w1/1", .started_us = T0, .res = &ok};
    begin(f);
    c.task = &v[0];
    assert_int_equal(drudge_queue_complete(f->q, &c, T0, &st, &err), DRUDGE_OK);
    drudge_store_rollback(f->s);
    /* The turn again, with three of a and the b. */
    begin(f);
    for (size_t i = 0; i < 3; i++) {
        c.task = &v[i];
        assert_int_equal(drudge_queue_complete(f->q, &c, T0, &st, &err), DRUDGE_OK);
        assert_string_equal(st, "done");
    }
    c.task = &v[4];
    assert_int_equal(drudge_queue_complete(f->q, &c, T0, &st, &err), DRUDGE_OK);
    commit(f);
    /* A transaction of its own. */
    assert_string_equal(complete(f->q, &v[3], DRUDGE_DONE, 0, NULL, T0), "done");
    free_claimed(v, n);
    assert_int_equal(num(f, "SELECT n FROM done_counts WHERE script = 'a'", 0), 4);
    assert_int_equal(num(f, "SELECT n FROM done_counts WHERE script = 'b'", 0), 1);
    drudge_queue_stats s;
    assert_int_equal(drudge_store_status(f->s, T0 + SEC, &s, &err), DRUDGE_OK);
    assert_int_equal(s.total.count[2], 5); /* done */
    drudge_queue_stats_clear(&s);
    /* SQLite: a done task deleted by hand leaves the count (a trigger).
     * drudge itself deletes no task, so PostgreSQL keeps no such trigger. */
    if (f->db.pg)
        return;
    exec_sql(f, "DELETE FROM attempt_log; DELETE FROM tasks WHERE id = 1");
    assert_int_equal(num(f, "SELECT n FROM done_counts WHERE script = 'a'", 0), 3);
    assert_int_equal(num(f, "SELECT count(*) FROM tasks WHERE state = 'done'", 0), 4);
}

/* The control room's charts: each attempt that ends done or failed is
 * counted in its minute as its transaction commits (a rolled-back turn
 * counts nothing; a retry_later is neither), and read back by minute. */
static void test_throughput(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    for (int i = 0; i < 4; i++)
        add(f, "a", NULL, 0, T0, 3);
    drudge_claimed *v;
    size_t n = claim(f->q, T0, 4, &v);
    assert_int_equal(n, 4);
    const char *st = NULL;
    drudge_result ok = {.outcome = DRUDGE_DONE, .output = "true"};
    drudge_completion c = {.worker = "w1/1", .started_us = T0, .res = &ok, .task = &v[0]};
    begin(f);
    assert_int_equal(drudge_queue_complete(f->q, &c, T0, &st, &err), DRUDGE_OK);
    drudge_store_rollback(f->s);
    int64_t m0 = T0 / (60 * SEC) * (60 * SEC); /* the minute T0 is in */
    assert_string_equal(complete(f->q, &v[0], DRUDGE_DONE, 0, NULL, m0 + SEC), "done");
    assert_string_equal(complete(f->q, &v[1], DRUDGE_DONE, 0, NULL, m0 + 2 * SEC), "done");
    assert_string_equal(complete(f->q, &v[2], DRUDGE_ERROR, 0, NULL, m0 + 61 * SEC), "queued");
    assert_string_equal(complete(f->q, &v[3], DRUDGE_RETRY_LATER, 30, NULL, m0 + 62 * SEC),
                        "queued");
    free_claimed(v, n);
    drudge_minute_count *m = NULL;
    size_t nm = 0;
    assert_int_equal(drudge_store_throughput(f->s, m0 - 3600 * SEC, &m, &nm, &err), DRUDGE_OK);
    assert_int_equal(nm, 2);
    assert_true(m[0].minute_us == m0 && m[0].done == 2 && m[0].failed == 0);
    assert_true(m[1].minute_us == m0 + 60 * SEC && m[1].done == 0 && m[1].failed == 1);
    free(m);
    /* From a minute on: the earlier ones are left out. */
    assert_int_equal(drudge_store_throughput(f->s, m0 + 60 * SEC, &m, &nm, &err), DRUDGE_OK);
    assert_int_equal(nm, 1);
    assert_true(m[0].failed == 1);
    free(m);
}

/* Writes path as a database of queue schema version `version` (the audit
 * and schedule tables at their first), with sql run in it. */
static void old_database(const char *path, int version, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    for (int i = 0; i < version; i++)
        assert_int_equal(sqlite3_exec(db, sq_queue_migrations[i], NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sq_audit_migrations[0], NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sq_schedule_migrations[0], NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    char v[40];
    snprintf(v, sizeof v, "PRAGMA user_version = %d", version);
    assert_int_equal(sqlite3_exec(db, v, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* Switches the fixture to the SQLite file at path (opening it migrates
 * it); the fixture's directory still holds both and goes at teardown. */
static void use_database(fixture *f, const char *path)
{
    close_both(f);
    snprintf(f->db.where, sizeof f->db.where, "%s", path);
    open_both(f);
    f->q = new_queue(f->s, "w1", NULL);
}

/* The migration tests build old SQLite files: nothing to do on PostgreSQL,
 * whose migrations tests/pg/ checks. */
#define SQLITE_ONLY(f)                                                                             \
    do {                                                                                           \
        if ((f)->db.pg)                                                                            \
            skip();                                                                                \
    } while (0)

/* A version 1 database (done tasks indexed) migrates: its done tasks are
 * counted, the exceptions keep an index, the old index is gone. */
static void test_migration_v2_counts_done(void **state)
{
    fixture *f = *state;
    SQLITE_ONLY(f);
    drudge_err err = {0};
    char path[160];
    snprintf(path, sizeof path, "%s/v1.db", f->db.dir);
    old_database(path, 1,
                 "INSERT INTO tasks(script, script_path, state, run_at, max_attempts, created_at) "
                 "VALUES ('a', '/a.lua', 'done', 1, 3, 1), ('a', '/a.lua', 'done', 1, 3, 1),"
                 "('b', '/b.lua', 'done', 1, 3, 1), ('b', '/b.lua', 'dead', 1, 3, 1)");
    use_database(f, path);
    sqlite3 *db = f->db.lite;
    drudge_queue_stats s;
    assert_int_equal(drudge_store_status(f->s, T0, &s, &err), DRUDGE_OK);
    assert_int_equal(s.total.count[2], 3); /* done */
    assert_int_equal(s.total.count[4], 1); /* dead */
    assert_int_equal(s.total.unresolved, 1);
    drudge_queue_stats_clear(&s);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT group_concat(name) FROM (SELECT name FROM "
                                        "sqlite_master WHERE name LIKE 'tasks_%' ORDER BY name)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0),
                        "tasks_deadline,tasks_due,tasks_due_deadline,tasks_exceptions,tasks_key,"
                        "tasks_later,tasks_queued,"
                        "tasks_script_version");
    sqlite3_finalize(st);
}

/* A v2 database with tasks running under per-task leases (one worker alive,
 * one dead) opens as v3: they are running under per-process leases, the
 * live one keeps running and the dead one's task is reaped as lost. Its
 * attempt rows are still there through v4's view. */
static void test_migration_v3_v4(void **state)
{
    fixture *f = *state;
    SQLITE_ONLY(f);
    char path[160];
    snprintf(path, sizeof path, "%s/v2.db", f->db.dir);
    char sql[2048];
    snprintf(sql, sizeof sql,
             "INSERT INTO tasks(script, script_path, state, run_at, max_attempts, created_at, "
             "lease_owner, lease_until, claimed_at, cancel_requested) VALUES "
             "('a', '/a.lua', 'running', 1, 3, 1, 'alive', %lld, %lld, 1),"
             "('a', '/a.lua', 'running', 1, 3, 1, 'gone', %lld, %lld, 0),"
             "('a', '/a.lua', 'queued', 1, 3, 1, NULL, NULL, NULL, 0);"
             /* A task done before v4, when every attempt had a row. */
             "INSERT INTO tasks(id, script, script_path, state, run_at, attempts, max_attempts, "
             "created_at) VALUES (4, 'a', '/a.lua', 'done', 1, 1, 3, 1);"
             "INSERT INTO attempts(task_id, n, worker, started_at, ended_at, outcome) "
             "VALUES (4, 1, 'old', 5, 7, 'done')",
             (long long)(T0 + 60 * SEC), (long long)(T0 - SEC), (long long)(T0 - 5 * SEC),
             (long long)(T0 - 20 * SEC));
    old_database(path, 2, sql);
    use_database(f, path);
    assert_state(f, 1, "running");
    assert_state(f, 2, "running");
    assert_state(f, 3, "queued");
    assert_int_equal(num(f, "SELECT until FROM leases WHERE owner = 'alive'", 0), T0 + 60 * SEC);
    assert_int_equal(num(f, "SELECT cancel_requested FROM running WHERE task_id = ?", 1), 1);
    assert_int_equal(num(f, "SELECT claimed_at FROM running WHERE task_id = ?", 2), T0 - 20 * SEC);
    char *old = text(f, "SELECT worker || ':' || outcome FROM attempts WHERE task_id = ?", 4);
    assert_string_equal(old, "old:done");
    free(old);
    assert_int_equal(num(f, "SELECT count(*) FROM attempt_log", 0), 1);
    assert_int_equal(num(f,
                         "SELECT count(*) FROM pragma_table_info('tasks') WHERE name IN "
                         "('lease_owner', 'lease_until', 'claimed_at', 'cancel_requested')",
                         0),
                     0);
    int n = reap(f->q, T0);
    assert_int_equal(n, 1);
    assert_state(f, 1, "running");
    assert_state(f, 2, "queued");
    assert_int_equal(num(f,
                         "SELECT count(*) FROM attempts WHERE task_id = ? AND outcome = 'lost' "
                         "AND worker = 'gone' AND started_at = 1794999980000000",
                         2),
                     1);
    /* Only the task nobody runs can be claimed. */
    drudge_claimed *v;
    assert_int_equal(claim(f->q, T0, 5, &v), 2);
    assert_int_equal(v[0].id, 3); /* due since 1; the requeued one since T0 */
    assert_int_equal(v[1].id, 2);
    free_claimed(v, 2);
}

/* A task whose time has not come when it is written waits in tasks_later
 * (later = 1), out of the claims' index; a claim moves it to tasks_due once
 * due, before it picks, so its priority counts at once. FAR is in 2100:
 * "not due yet" for the real clock that enqueue and the outcome use. */
#define FAR ((int64_t)4102444800 * SEC)
static void test_later_tasks_wait_outside_due(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    int64_t a = add(f, "s", NULL, 9, FAR, 3);
    int64_t b = add(f, "s", NULL, 0, T0, 3);
    /* Waiting for later: SQLite keeps such tasks out of tasks_due (the
     * column later); PostgreSQL keeps every queued task in ready, in
     * run_at order per priority: there, queued for FAR or later. */
    const char *later = TESTDB_SQL(&f->db, "SELECT later FROM tasks WHERE id = ?",
                                   "SELECT run_at >= 4102444800000000 AND id NOT IN "
                                   "(SELECT task_id FROM running) FROM tasks WHERE id = ?");
    assert_int_equal(num(f, later, a), 1);
    assert_int_equal(num(f, later, b), 0);
    drudge_queue_stats s;
    assert_int_equal(drudge_store_status(f->s, T0, &s, &err), DRUDGE_OK);
    assert_int_equal(s.total.count[0], 2); /* both queued, wherever they wait */
    drudge_queue_stats_clear(&s);

    drudge_claimed *v;
    size_t n = claim(f->q, FAR - SEC, 10, &v);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, b);
    assert_string_equal(complete(f->q, &v[0], DRUDGE_DONE, 0, NULL, FAR - SEC), "done");
    free_claimed(v, n);
    int idle = 0;
    assert_int_equal(drudge_queue_idle(f->q, FAR - SEC, &idle, &err), DRUDGE_OK);
    assert_int_equal(idle, 1);
    /* Due but not moved yet: --until-empty must not stop. */
    assert_int_equal(drudge_queue_idle(f->q, FAR, &idle, &err), DRUDGE_OK);
    assert_int_equal(idle, 0);

    /* Moved and claimed ahead of a due task of lower priority. */
    int64_t c = add(f, "s", NULL, 0, T0, 3);
    n = claim(f->q, FAR, 1, &v);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, a);
    assert_int_equal(num(f, later, a), 0);
    /* A system error's backoff puts it back in tasks_later. */
    assert_string_equal(complete(f->q, &v[0], DRUDGE_ERROR, 0, NULL, FAR), "queued");
    free_claimed(v, n);
    assert_int_equal(num(f, later, a), 1);
    int64_t run_at = num(f, "SELECT run_at FROM tasks WHERE id = ?", a);
    n = claim(f->q, run_at - 1, 10, &v);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, c);
    free_claimed(v, n);
    n = claim(f->q, run_at, 10, &v);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, a);
    assert_int_equal(v[0].attempt, 2);
    free_claimed(v, n);
}

/* A version 4 database migrates to 5: queued tasks not yet due move to
 * tasks_later, the rest stay where they were, and claims find both. */
static void test_migration_v5_later(void **state)
{
    fixture *f = *state;
    SQLITE_ONLY(f);
    drudge_err err = {0};
    char path[160];
    snprintf(path, sizeof path, "%s/v4.db", f->db.dir);
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO tasks(id, script, script_path, state, run_at, max_attempts, "
             "created_at) VALUES (1, 'a', '/a.lua', 'queued', %lld, 3, 1),"
             "(2, 'a', '/a.lua', 'queued', 1, 3, 1), (3, 'a', '/a.lua', 'done', %lld, 3, 1)",
             (long long)FAR, (long long)FAR);
    old_database(path, 4, sql);
    use_database(f, path);
    /* Waiting for later: SQLite keeps such tasks out of tasks_due (the
     * column later); PostgreSQL keeps every queued task in ready, in
     * run_at order per priority: there, queued for FAR or later. */
    const char *later = TESTDB_SQL(&f->db, "SELECT later FROM tasks WHERE id = ?",
                                   "SELECT run_at >= 4102444800000000 AND id NOT IN "
                                   "(SELECT task_id FROM running) FROM tasks WHERE id = ?");
    assert_int_equal(num(f, later, 1), 1);
    assert_int_equal(num(f, later, 2), 0);
    assert_int_equal(num(f, later, 3), 0);
    drudge_queue_stats s;
    assert_int_equal(drudge_store_status(f->s, T0, &s, &err), DRUDGE_OK);
    assert_int_equal(s.total.count[0], 2);
    drudge_queue_stats_clear(&s);
    drudge_claimed *v;
    size_t n = claim(f->q, T0, 5, &v);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, 2);
    free_claimed(v, n);
    n = claim(f->q, FAR, 5, &v);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].id, 1);
    free_claimed(v, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_claim_order_and_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit_pause_and_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_across_many_priorities, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_windows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_done_records_attempt_and_audit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_is_final, setup, teardown),
        cmocka_unit_test_setup_teardown(test_system_errors_back_off_then_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backoff_cap_and_jitter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_final_attempt_in_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_later_spends_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_expiry_reaps_and_fences, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_and_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_keys_retry_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulk_push_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_done_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throughput, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_v2_counts_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_v3_v4, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_after_reaping_and_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reap_unstarted_claims_unspent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_later_tasks_wait_outside_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_v5_later, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

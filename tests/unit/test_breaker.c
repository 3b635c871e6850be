/*
 * test_breaker.c: circuit breakers (issue #20). The process's view
 * (runner/host/breaker.c): errors in a row within the window open a
 * target, a success closes it only from the probe's thread, the probe
 * delays double up to the cap. And the SQLite store's side: an open
 * breaker holds its scripts' tasks from claims, one caller takes a due
 * probe, whose claim takes one task of those scripts; closing records the
 * outage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "drudge/util.h"
#include "runner/host/breaker.h"
#include "runner/queue/queue.h"
#include "runner/store/store.h"

#define SEC INT64_C(1000000)

static size_t count_op(drudge_breaker_event *ev, size_t n, drudge_breaker_op op)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ev[i].op == op;
    return k;
}

static void test_registry(void **state)
{
    (void)state;
    char why[512], target[256];
    drudge_breaker_opts o = {.errors = 3, .window_s = 60, .probe_s = 2, .probe_max_s = 5};
    drudge_breaker_enable(&o);
    size_t n = 0;
    drudge_breaker_event *old = drudge_breaker_take(&n); /* what earlier tests left */
    drudge_breaker_events_free(old, n);

    assert_int_equal(drudge_breaker_held("s", "cms.test", why, sizeof why), 0);
    assert_int_equal(drudge_breaker_result("cms.test", 0, "HTTP 503", 0), 0);
    assert_int_equal(drudge_breaker_result("cms.test", 0, "HTTP 503", 0), 0);
    assert_int_equal(drudge_breaker_open_count(), 0);
    /* The third error in a row opens it: that failure is given back. */
    assert_int_equal(drudge_breaker_result("cms.test", 0, "HTTP 503", 0), 1);
    assert_int_equal(drudge_breaker_open_count(), 1);
    assert_int_equal(drudge_breaker_held("s", "cms.test", why, sizeof why), 1);
    assert_non_null(strstr(why, "target cms.test is down"));
    assert_non_null(strstr(why, "HTTP 503"));
    assert_int_equal(drudge_breaker_holds("s", target, sizeof target), 1);
    assert_string_equal(target, "cms.test");
    assert_int_equal(drudge_breaker_holds("other", target, sizeof target), 0);

    drudge_breaker_event *ev = drudge_breaker_take(&n);
    assert_int_equal(count_op(ev, n, DRUDGE_BREAKER_LEARN), 1);
    assert_int_equal(count_op(ev, n, DRUDGE_BREAKER_OPEN), 1);
    for (size_t i = 0; i < n; i++)
        if (ev[i].op == DRUDGE_BREAKER_OPEN) {
            assert_string_equal(ev[i].trigger, "HTTP 503");
            assert_true(ev[i].first_at <= ev[i].at);
            assert_int_equal(ev[i].next - ev[i].at, 2 * SEC);
        }
    drudge_breaker_events_free(ev, n);

    /* A success seen outside the probe closes it too (the target answered). */
    drudge_breaker_probe("cms.test");
    assert_int_equal(drudge_breaker_held("s", "cms.test", why, sizeof why), 0); /* the probe goes */
    assert_int_equal(drudge_breaker_result("cms.test", 1, NULL, 0), 0);
    drudge_breaker_probe(NULL);
    assert_int_equal(drudge_breaker_open_count(), 0);
    ev = drudge_breaker_take(&n);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].op, DRUDGE_BREAKER_CLOSE);
    drudge_breaker_events_free(ev, n);

    /* A success in the middle of a run of errors starts the count again. */
    drudge_breaker_result("cms.test", 0, "reset", 0);
    drudge_breaker_result("cms.test", 0, "reset", 0);
    drudge_breaker_result("cms.test", 1, NULL, 0);
    drudge_breaker_result("cms.test", 0, "reset", 0);
    assert_int_equal(drudge_breaker_open_count(), 0);
}

/* Answers of calls that went out before the errors began reach the
 * breaker in any order: they neither break the run of errors nor close
 * the breaker they opened; a call sent afterwards does both. */
static void test_in_flight_answers(void **state)
{
    (void)state;
    drudge_breaker_opts o = {.errors = 3, .window_s = 60, .probe_s = 2, .probe_max_s = 5};
    drudge_breaker_enable(&o);
    size_t n = 0;
    drudge_breaker_event *ev;
    int64_t before = drudge_now_us() - SEC;
    drudge_breaker_result("fly.test", 0, "HTTP 503", 0);
    drudge_breaker_result("fly.test", 1, NULL, before); /* sent before the error */
    drudge_breaker_result("fly.test", 0, "HTTP 503", 0);
    assert_int_equal(drudge_breaker_result("fly.test", 0, "HTTP 503", 0), 1); /* 3 in a row */
    assert_int_equal(drudge_breaker_open_count(), 1);
    drudge_breaker_result("fly.test", 1, NULL, before); /* in flight at the opening */
    assert_int_equal(drudge_breaker_open_count(), 1);
    drudge_breaker_result("fly.test", 1, NULL, drudge_now_us()); /* sent after: up again */
    assert_int_equal(drudge_breaker_open_count(), 0);
    ev = drudge_breaker_take(&n);
    drudge_breaker_events_free(ev, n);

    /* A success sent after the latest error does end the run. */
    drudge_breaker_result("fly.test", 0, "HTTP 503", 0);
    drudge_breaker_result("fly.test", 0, "HTTP 503", 0);
    drudge_breaker_result("fly.test", 1, NULL, drudge_now_us());
    drudge_breaker_result("fly.test", 0, "HTTP 503", 0);
    assert_int_equal(drudge_breaker_open_count(), 0);
    ev = drudge_breaker_take(&n);
    drudge_breaker_events_free(ev, n);
}

static void test_window_and_delays(void **state)
{
    (void)state;
    drudge_breaker_opts o = {.errors = 2, .window_s = 0.05, .probe_s = 2, .probe_max_s = 5};
    drudge_breaker_enable(&o);
    drudge_breaker_result("w.test", 0, "timeout", 0);
    usleep(100000); /* past the window: the next error starts a new run */
    assert_int_equal(drudge_breaker_result("w.test", 0, "timeout", 0), 0);
    assert_int_equal(drudge_breaker_result("w.test", 0, "timeout", 0), 1);
    assert_int_equal(drudge_breaker_probe_delay(0), 2 * SEC);
    assert_int_equal(drudge_breaker_probe_delay(1), 4 * SEC);
    assert_int_equal(drudge_breaker_probe_delay(2), 5 * SEC); /* capped */
    assert_int_equal(drudge_breaker_probe_delay(9), 5 * SEC);
    /* The database knows no open breaker: this process's view follows it,
     * except for an opening it has not written yet. */
    drudge_breaker_sync_begin();
    drudge_breaker_sync_end();
    assert_int_equal(drudge_breaker_open_count(), 1); /* w.test's OPEN is still queued */
    size_t n = 0;
    drudge_breaker_event *old = drudge_breaker_take(&n); /* what earlier tests left */
    drudge_breaker_events_free(old, n);
    drudge_breaker_sync_begin();
    drudge_breaker_sync_end();
    assert_int_equal(drudge_breaker_open_count(), 0);
}

typedef struct rows {
    int n;
    drudge_outage_row last; /* its strings are gone after the callback: */
    char target[64], trigger[64];
} rows;

static int on_row(void *ud, const drudge_outage_row *o)
{
    rows *r = ud;
    r->n++;
    r->last = *o;
    snprintf(r->target, sizeof r->target, "%s", o->target);
    snprintf(r->trigger, sizeof r->trigger, "%s", o->trigger);
    return 0;
}

static size_t claim(drudge_store *s, int64_t now, const char *probe, int max)
{
    drudge_err err = {0};
    drudge_claim_req req = {
        .owner = "t:1", .now = now, .lease_until = now + 60 * SEC, .max = max, .probe = probe};
    drudge_claimed *out = NULL;
    size_t n = 0;
    assert_int_equal(drudge_store_begin(s, DRUDGE_TX_WRITE, &err), DRUDGE_OK);
    assert_int_equal(drudge_store_claim(s, &req, &out, &n, &err), DRUDGE_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(drudge_store_release(s, "t:1", out[i].id, &err), DRUDGE_OK);
    assert_int_equal(drudge_store_commit(s, &err), DRUDGE_OK);
    drudge_claimed_free_all(out, n);
    return n;
}

static int apply(drudge_store *s, drudge_breaker_event ev)
{
    drudge_err err = {0};
    int changed = -1;
    int64_t id = 0;
    assert_int_equal(drudge_store_begin(s, DRUDGE_TX_WRITE, &err), DRUDGE_OK);
    assert_int_equal(drudge_store_breaker(s, &ev, &changed, &id, &err), DRUDGE_OK);
    assert_int_equal(drudge_store_commit(s, &err), DRUDGE_OK);
    return changed;
}

static void test_store(void **state)
{
    (void)state;
    char path[] = "/tmp/drudge_breaker_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    drudge_store *s = NULL;
    drudge_err err = {0};
    assert_int_equal(drudge_store_open(path, 0, &s, &err), DRUDGE_OK);
    int64_t T = 1796518400 * SEC;
    for (int i = 0; i < 3; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i);
        drudge_task_spec t = {.script = i < 2 ? "cms_job" : "other_job",
                              .script_path = "/x.lua",
                              .key = key,
                              .run_at = T};
        int64_t id;
        int dup;
        assert_int_equal(drudge_queue_enqueue(s, &t, &id, &dup, &err), DRUDGE_OK);
    }
    int64_t now = T + SEC;
    assert_int_equal(claim(s, now, NULL, 10), 3);
    apply(s, (drudge_breaker_event){
                 .op = DRUDGE_BREAKER_LEARN, .target = "cms.test", .script = "cms_job"});
    assert_int_equal(apply(s, (drudge_breaker_event){.op = DRUDGE_BREAKER_OPEN,
                                                     .target = "cms.test",
                                                     .trigger = "HTTP 503",
                                                     .by = "t:1",
                                                     .first_at = now - SEC,
                                                     .at = now,
                                                     .next = now + 5 * SEC}),
                     1);
    /* Open again (another process): no second outage, the start moves back. */
    assert_int_equal(apply(s, (drudge_breaker_event){.op = DRUDGE_BREAKER_OPEN,
                                                     .target = "cms.test",
                                                     .first_at = now - 2 * SEC,
                                                     .at = now,
                                                     .next = now + 5 * SEC}),
                     0);
    /* Held: only other_job's task is claimable. */
    assert_int_equal(claim(s, now, NULL, 10), 1);
    rows r = {0};
    assert_int_equal(drudge_store_breakers(s, on_row, &r, &err), DRUDGE_OK);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.target, "cms.test");
    assert_int_equal(r.last.started_at, now - 2 * SEC);
    assert_int_equal(r.last.tasks_held, 2);
    /* The probe: not before probe_at; then one caller; its claim takes one
     * task of the target's scripts only. */
    assert_int_equal(apply(s, (drudge_breaker_event){.op = DRUDGE_BREAKER_PROBE,
                                                     .target = "cms.test",
                                                     .at = now + SEC,
                                                     .next = now + 20 * SEC}),
                     0);
    assert_int_equal(apply(s, (drudge_breaker_event){.op = DRUDGE_BREAKER_PROBE,
                                                     .target = "cms.test",
                                                     .at = now + 5 * SEC,
                                                     .next = now + 15 * SEC}),
                     1);
    assert_int_equal(apply(s, (drudge_breaker_event){.op = DRUDGE_BREAKER_PROBE,
                                                     .target = "cms.test",
                                                     .at = now + 5 * SEC,
                                                     .next = now + 15 * SEC}),
                     0);
    assert_int_equal(claim(s, now + 5 * SEC, "cms.test", 1), 1);
    assert_int_equal(claim(s, now + 5 * SEC, "nobody.test", 1), 0);
    /* Closed: the outage ends, both tasks are claimable again. */
    assert_int_equal(apply(s, (drudge_breaker_event){.op = DRUDGE_BREAKER_CLOSE,
                                                     .target = "cms.test",
                                                     .at = now + 6 * SEC}),
                     1);
    assert_int_equal(apply(s, (drudge_breaker_event){.op = DRUDGE_BREAKER_CLOSE,
                                                     .target = "cms.test",
                                                     .at = now + 7 * SEC}),
                     0);
    assert_int_equal(claim(s, now + 6 * SEC, NULL, 10), 3);
    memset(&r, 0, sizeof r);
    assert_int_equal(drudge_store_outages(s, 0, on_row, &r, &err), DRUDGE_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.last.started_at, now - 2 * SEC);
    assert_int_equal(r.last.opened_at, now);
    assert_int_equal(r.last.ended_at, now + 6 * SEC);
    assert_int_equal(r.last.probes, 1);
    assert_int_equal(r.last.tasks_held, 2);
    assert_int_equal(r.last.attempts_spent, 0);
    assert_string_equal(r.trigger, "HTTP 503");
    memset(&r, 0, sizeof r);
    assert_int_equal(drudge_store_outages(s, now + 7 * SEC, on_row, &r, &err), DRUDGE_OK);
    assert_int_equal(r.n, 0); /* ended before --since */
    drudge_store_close(s);
    unlink(path);
    char aux[64];
    snprintf(aux, sizeof aux, "%s-wal", path);
    unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path);
    unlink(aux);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_in_flight_answers),
        cmocka_unit_test(test_window_and_delays),
        cmocka_unit_test(test_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

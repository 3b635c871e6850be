/* test_previous.c: task.previous shows a retried attempt what earlier ones did. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "drudge/host.h"
#include "drudge/util.h"
#include "logs/audit/audit.h"
#include "runner/queue/queue.h"

/* Records the end of a `drudge run`-like attempt: its outcome and steps in
 * one transaction. */
static const char *finish(drudge_store *s, int64_t id, const drudge_result *res, drudge_rec *rec)
{
    drudge_err err = {0};
    drudge_queue_opts qo = {.owner = "w1"};
    drudge_queue *q = drudge_queue_new(s, &qo);
    drudge_claimed t = {.id = id, .attempt = 1, .max_attempts = 1};
    drudge_completion c = {.task = &t, .worker = "w1", .started_us = 1, .res = res};
    const char *state = NULL;
    assert_int_equal(drudge_store_begin(s, DRUDGE_TX_WRITE, &err), DRUDGE_OK);
    assert_int_equal(drudge_queue_complete(q, &c, drudge_now_us(), &state, &err), DRUDGE_OK);
    assert_int_equal(drudge_audit_append(s, rec, &err), DRUDGE_OK);
    assert_int_equal(drudge_store_commit(s, &err), DRUDGE_OK);
    drudge_queue_free(q);
    return state;
}

static void test_previous_attempts_reach_the_script(void **state)
{
    (void)state;
    char dir[] = "/tmp/drudge-prev.XXXXXX", dbpath[128], script[512];
    assert_non_null(mkdtemp(dir));
    snprintf(dbpath, sizeof dbpath, "%s/t.db", dir);
    snprintf(script, sizeof script, "%s/scripts/previous.lua", getenv("TESTS"));
    drudge_store *db;
    drudge_err err = {0};
    assert_int_equal(drudge_store_open(dbpath, 0, &db, &err), DRUDGE_OK);
    drudge_host *h = drudge_host_new(NULL, &err);
    assert_non_null(h);

    drudge_task_spec spec = {.script = "previous", .script_path = script, .max_attempts = 3};
    int64_t id;
    assert_int_equal(drudge_queue_start_adhoc(db, &spec, "w1", &id, &err), DRUDGE_OK);
    drudge_task_view view = {.id = id, .attempt = 1, .script = "previous"};
    drudge_result res;
    assert_int_equal(drudge_host_run(h, script, &view, &res, &err), DRUDGE_OK);
    assert_int_equal(res.outcome, DRUDGE_ERROR);
    assert_non_null(finish(db, id, &res, drudge_host_rec(h)));
    drudge_result_clear(&res);

    char *prev = NULL;
    assert_int_equal(drudge_previous_attempts(db, id, 2, &prev, &err), DRUDGE_OK);
    assert_non_null(strstr(prev, "\"attempt\":1"));
    view.attempt = 2;
    view.previous = prev;
    assert_int_equal(drudge_host_run(h, script, &view, &res, &err), DRUDGE_OK);
    if (res.outcome != DRUDGE_DONE)
        fail_msg("second attempt: %s", res.error);
    assert_non_null(strstr(res.output, "\"count\":1"));
    assert_non_null(strstr(res.output, "\"outcome\":\"error\""));
    assert_non_null(strstr(res.output, "\"step\":\"post document\""));
    assert_non_null(strstr(res.output, "\"step_outcome\":\"ok\""));
    assert_non_null(strstr(res.output, "connection reset after posting"));
    drudge_result_clear(&res);
    free(prev);

    /* No earlier attempts: an empty list. */
    assert_int_equal(drudge_previous_attempts(db, id, 1, &prev, &err), DRUDGE_OK);
    assert_string_equal(prev, "[]");
    free(prev);
    drudge_host_free(h);
    drudge_store_close(db);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_previous_attempts_reach_the_script),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_select.c: choosing tasks (runner/queue/select.c): ids and ranges,
 * states, the description used in messages and operator steps; and the
 * reasons a queued task waits (runner/queue/waiting.c), decided from its
 * row alone when no script is paused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "runner/queue/select.h"
#include "runner/queue/waiting.h"

static void test_ids(void **state)
{
    (void)state;
    drudge_task_select sel;
    drudge_err err = {0};
    drudge_select_init(&sel);
    assert_false(drudge_select_narrowed(&sel));
    assert_int_equal(drudge_select_add_ids(&sel, "7", &err), DRUDGE_OK);
    assert_int_equal(drudge_select_add_ids(&sel, "#8", &err), DRUDGE_OK);
    assert_int_equal(drudge_select_add_ids(&sel, "10-20", &err), DRUDGE_OK);
    assert_int_equal(sel.nranges, 3);
    assert_int_equal(sel.ranges[2].lo, 10);
    assert_int_equal(sel.ranges[2].hi, 20);
    assert_true(drudge_select_narrowed(&sel));
    const char *bad[] = {"", "x", "7-", "-7", "0", "1-0", "3-x", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (drudge_select_add_ids(&sel, bad[i], &err) != DRUDGE_EUSAGE)
            fail_msg("'%s' was taken", bad[i]);
    }
    assert_int_equal(drudge_select_add_ids(&sel, "20-10", &err), DRUDGE_EUSAGE);
    assert_non_null(strstr(err.msg, "the range '20-10' is empty"));
    assert_int_equal(drudge_select_add_state(&sel, "dead", &err), DRUDGE_OK);
    assert_int_equal(drudge_select_add_state(&sel, "finished", &err), DRUDGE_EUSAGE);
    sel.f.key_prefix = "INV-";
    drudge_buf d = {0};
    drudge_select_describe(&sel, &d);
    assert_string_equal(d.data, "ids 7, 8, 10-20, state dead, key prefix 'INV-'");
    drudge_buf_free(&d);
    drudge_select_clear(&sel);
    drudge_select_describe(&sel, &d);
    assert_string_equal(d.data, "every task");
    drudge_buf_free(&d);
}

static drudge_task_row queued(int64_t run_at, int attempts, const char *window)
{
    drudge_task_row t = {.state = "queued", .script = "s", .run_at = run_at, .attempts = attempts};
    t.window = (char *)window;
    return t;
}

static void test_reasons(void **state)
{
    (void)state;
    const int64_t now = (int64_t)1796637600 * 1000000; /* 2026-12-07T10:00:00Z, a Monday */
    drudge_wait w;
    drudge_task_row t = queued(now - 1, 0, NULL);
    drudge_wait_of(NULL, &t, now, &w);
    assert_int_equal(w.reason, DRUDGE_WAIT_READY);
    t = queued(now + 60000000, 0, NULL);
    drudge_wait_of(NULL, &t, now, &w);
    assert_int_equal(w.reason, DRUDGE_WAIT_NOT_DUE);
    assert_int_equal(w.until, now + 60000000);
    t = queued(now + 60000000, 2, NULL);
    drudge_wait_of(NULL, &t, now, &w);
    assert_int_equal(w.reason, DRUDGE_WAIT_BACKOFF);
    /* outside its window: until it opens (11:00) */
    t = queued(now - 1, 0, "11:00-12:00 UTC");
    drudge_wait_of(NULL, &t, now, &w);
    assert_int_equal(w.reason, DRUDGE_WAIT_WINDOW);
    assert_int_equal(w.until, now + (int64_t)3600 * 1000000);
    /* not due, and the window is closed then too: until the window opens after run_at */
    t = queued(now + (int64_t)7200 * 1000000, 0, "11:00-12:00 UTC");
    drudge_wait_of(NULL, &t, now, &w);
    assert_int_equal(w.reason, DRUDGE_WAIT_NOT_DUE);
    assert_int_equal(w.until, now + (int64_t)25 * 3600 * 1000000);
    char text[400];
    drudge_wait_describe(&w, text, sizeof text);
    assert_string_equal(text, "not due yet until 2026-12-08T11:00:00Z");
    /* other states wait for nothing */
    t.state = "done";
    drudge_wait_of(NULL, &t, now, &w);
    assert_int_equal(w.reason, DRUDGE_WAIT_READY);
    assert_int_equal(drudge_wait_parse("not_due"), DRUDGE_WAIT_NOT_DUE);
    assert_int_equal(drudge_wait_parse("breaker"), DRUDGE_WAIT_BREAKER);
    assert_int_equal(drudge_wait_parse("sleepy"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

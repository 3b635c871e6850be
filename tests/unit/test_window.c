/* test_window.c: run windows: parsing, evaluation (overnight, lists, zones), the SQL function. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>
#include "runner/calendar/window.h"
#include "runner/store/sqlite/sqliteint.h" /* drudge_window_register */

/* "2026-05-08T18:00Z" -> µs since the epoch. */
static int64_t utc_us(const char *s)
{
    struct tm tm = {0};
    assert_int_equal(
        sscanf(s, "%d-%d-%dT%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min),
        5);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000000;
}

/* 2026-05-08 is a Friday, 2026-05-11 a Monday. */
static const struct allow_case {
    const char *spec, *at;
    int want;
} allow_cases[] = {
    {"Mon-Fri 18:00-07:30 UTC", "2026-05-08T17:59Z", 0},
    {"Mon-Fri 18:00-07:30 UTC", "2026-05-08T18:00Z", 1},
    {"Mon-Fri 18:00-07:30 UTC", "2026-05-09T07:29Z", 1}, /* Friday's night runs into Saturday */
    {"Mon-Fri 18:00-07:30 UTC", "2026-05-09T07:30Z", 0},
    {"Mon-Fri 18:00-07:30 UTC", "2026-05-09T20:00Z", 0}, /* no Saturday night */
    {"Mon-Fri 18:00-07:30 UTC", "2026-05-11T07:00Z", 0}, /* nor Sunday night */
    {"Mon-Fri 18:00-07:30 UTC", "2026-05-12T07:00Z", 1}, /* Monday night */
    {"Mon-Fri 18:00-07:30 UTC", "2026-05-12T12:00Z", 0},
    {"Sat,Sun UTC", "2026-05-09T00:00Z", 1},
    {"Sat,Sun UTC", "2026-05-10T23:59Z", 1},
    {"Sat,Sun UTC", "2026-05-11T00:00Z", 0},
    {"sat,SUN 00:00-24:00 UTC", "2026-05-10T12:00Z", 1},
    {"22:00-02:00 UTC", "2026-05-11T01:00Z", 1},
    {"22:00-02:00 UTC", "2026-05-11T02:00Z", 0},
    {"Fri-Mon 09:00-10:00 UTC", "2026-05-10T09:30Z", 1},
    {"Fri-Mon 09:00-10:00 UTC", "2026-05-12T09:30Z", 0},
    {"Mon-Fri 08:00-12:00,13:00-17:00 Europe/London", "2026-07-01T10:59Z", 1}, /* 11:59 BST */
    {"Mon-Fri 08:00-12:00,13:00-17:00 Europe/London", "2026-07-01T11:30Z", 0}, /* 12:30 BST */
    {"Mon-Fri 08:00-12:00,13:00-17:00 Europe/London", "2026-01-07T11:30Z", 1}, /* 11:30 GMT */
    {"Mon-Fri 18:00-07:30; Sat,Sun UTC", "2026-05-09T12:00Z", 1},
    {"Mon-Fri 18:00-07:30; Sat,Sun UTC", "2026-05-11T12:00Z", 0},
    {"Mon 9:00-9:30;Wed 09:00-09:30 America/New_York", "2026-05-13T13:15Z", 1},
    {"Mon 9:00-9:30;Wed 09:00-09:30 America/New_York", "2026-05-12T13:15Z", 0},
    {"Monday-Friday 00:00-24:00 UTC", "2026-05-08T23:59Z", 1},
    {NULL, "2026-05-08T12:00Z", 1}, /* no window: always open */
    {"", "2026-05-08T12:00Z", 1},
    {"Mon-Fry 18:00-07:30", "2026-05-08T19:00Z", 0}, /* invalid: never open */
};

static void test_allows(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof allow_cases / sizeof allow_cases[0]; i++) {
        const struct allow_case *c = &allow_cases[i];
        int got = drudge_window_allows(c->spec, utc_us(c->at));
        if (got != c->want)
            fail_msg("window \"%s\" at %s: %d, want %d", c->spec ? c->spec : "(null)", c->at, got,
                     c->want);
    }
}

static void test_machine_zone(void **state)
{
    (void)state;
    setenv("TZ", "America/New_York", 1);
    /* 2026-05-08 13:00Z is 09:00 EDT. */
    assert_int_equal(drudge_window_allows("Fri 09:00-09:01", utc_us("2026-05-08T13:00Z")), 1);
    assert_int_equal(drudge_window_allows("Fri 09:00-09:01", utc_us("2026-05-08T09:00Z")), 0);
    unsetenv("TZ");
}

static const struct bad_case {
    const char *spec, *want;
} bad_cases[] = {
    {"Mon-Fry 18:00-07:30", "unknown day 'Fry'"},
    {"Mon-Fri 25:00-07:30", "bad time range '25:00-07:30'"},
    {"Mon-Fri 18:00", "bad time range '18:00'"},
    {"Mon-Fri 18:60-19:00", "bad time range '18:60-19:00'"},
    {"Mon-Fri 24:00-07:00", "bad time range '24:00-07:00'"},
    {"Mon-Fri 18:00-18:00", "empty time range '18:00-18:00'"},
    {"Mon-Fri 18:00-07:30 Mars/Base", "'Mars/Base' is neither days"},
    {"18:00-07:30 Mon-Fri", "'Mon-Fri' out of place"},
    {"Mon-Fri 18:00-07:30;;Sat", "clause 2 is empty"},
    {"Mon,,Tue", "unknown day ''"},
};

static void test_parse_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        drudge_err err = {0};
        drudge_code rc = drudge_window_parse(bad_cases[i].spec, &err);
        if (rc != DRUDGE_EINPUT || !strstr(err.msg, bad_cases[i].want))
            fail_msg("\"%s\": got %d \"%s\", want \"%s\"", bad_cases[i].spec, rc, err.msg,
                     bad_cases[i].want);
        assert_non_null(strstr(err.msg, bad_cases[i].spec)); /* the message quotes the spec */
    }
    drudge_err err = {0};
    assert_int_equal(drudge_window_parse("Mon-Fri 18:00-07:30", &err), DRUDGE_OK);
    assert_int_equal(drudge_window_parse("Sat,Sun", &err), DRUDGE_OK);
    assert_int_equal(drudge_window_parse("Mon-Fri 18:00-07:30 Europe/London", &err), DRUDGE_OK);
    assert_int_equal(drudge_window_parse(NULL, &err), DRUDGE_OK);
}

/* When a closed window next opens, and since when an open one has been
 * open (`drudge show`'s "waiting until", the oldest-due gauge). */
static void test_next_open(void **state)
{
    (void)state;
    const char *w = "Mon-Fri 08:00-09:00 UTC";
    /* Sunday noon: Monday 08:00. */
    assert_int_equal(drudge_window_next_open(w, utc_us("2026-05-10T12:00Z")),
                     utc_us("2026-05-11T08:00Z"));
    /* Friday 09:00 (just closed): Monday 08:00. */
    assert_int_equal(drudge_window_next_open(w, utc_us("2026-05-08T09:00Z")),
                     utc_us("2026-05-11T08:00Z"));
    /* Open now: now, to the microsecond. */
    int64_t in = utc_us("2026-05-11T08:30Z") + 1234;
    assert_int_equal(drudge_window_next_open(w, in), in);
    /* Mid-minute before the opening: the opening itself. */
    assert_int_equal(drudge_window_next_open(w, utc_us("2026-05-11T07:59Z") + 30000000),
                     utc_us("2026-05-11T08:00Z"));
    assert_int_equal(drudge_window_opened_at(w, in), utc_us("2026-05-11T08:00Z"));
    assert_int_equal(drudge_window_opened_at(w, utc_us("2026-05-10T12:00Z")),
                     utc_us("2026-05-10T12:00Z")); /* closed: now */
    /* Across the spring change in London (29 March 2026, 01:00Z): 08:00 BST is 07:00Z. */
    assert_int_equal(
        drudge_window_next_open("Mon 08:00-09:00 Europe/London", utc_us("2026-03-28T12:00Z")),
        utc_us("2026-03-30T07:00Z"));
    /* No window: always open; an invalid one never opens. */
    assert_int_equal(drudge_window_next_open(NULL, in), in);
    assert_int_equal(drudge_window_opened_at(NULL, in), 0);
    assert_int_equal(drudge_window_next_open("Mon-Fry", in), -1);
}

/* The claim query filters with the SQL function. */
static void test_sql_function(void **state)
{
    (void)state;
    sqlite3 *db;
    drudge_err err = {0};
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    assert_int_equal(drudge_window_register(db, &err), DRUDGE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE tasks(id INTEGER PRIMARY KEY, window TEXT);"
                                  "INSERT INTO tasks(window) VALUES (NULL), ('Sat,Sun UTC'),"
                                  " ('Mon-Fri 18:00-07:30 UTC'), ('Sat,Sun UTC');",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT group_concat(id) FROM tasks WHERE window IS NULL "
                                        "OR drudge_in_window(window, ?)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, utc_us("2026-05-09T12:00Z")); /* Saturday noon */
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "1,2,4");
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, utc_us("2026-05-08T19:00Z")); /* Friday evening */
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "1,3");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allows),       cmocka_unit_test(test_machine_zone),
        cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_next_open),
        cmocka_unit_test(test_sql_function),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_cron.c: cron parsing and next-fire times, across DST changes and leap days. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "runner/calendar/cron.h"

/* "2026-03-29T01:00Z" -> seconds since the epoch. */
static int64_t utc(const char *s)
{
    struct tm tm = {0};
    int n =
        sscanf(s, "%d-%d-%dT%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min);
    assert_int_equal(n, 5);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

static void fmt_utc(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%MZ", &tm);
}

/* Each case: from `after`, the next fire times in order (UTC). */
static const struct next_case {
    const char *zone, *expr, *after;
    const char *want[4];
} next_cases[] = {
    /* Europe/London springs forward 2026-03-29 01:00 GMT -> 02:00 BST: 01:30 does
     * not exist that day and fires once, at the change. */
    {"Europe/London",
     "30 1 * * *",
     "2026-03-27T12:00Z",
     {"2026-03-28T01:30Z", "2026-03-29T01:00Z", "2026-03-30T00:30Z"}},
    /* ... and falls back 2026-10-25 02:00 BST -> 01:00 GMT: 01:30 happens twice
     * and fires once, at its first occurrence (01:30 BST). */
    {"Europe/London",
     "30 1 * * *",
     "2026-10-24T12:00Z",
     {"2026-10-25T00:30Z", "2026-10-26T01:30Z", "2026-10-27T01:30Z"}},
    /* Every hour keeps its cadence through the repeated hour. */
    {"Europe/London",
     "0 * * * *",
     "2026-10-24T23:30Z",
     {"2026-10-25T00:00Z", "2026-10-25T01:00Z", "2026-10-25T02:00Z", "2026-10-25T03:00Z"}},
    {"Europe/London",
     "*/30 * * * *",
     "2026-10-25T00:10Z",
     {"2026-10-25T00:30Z", "2026-10-25T01:00Z", "2026-10-25T01:30Z", "2026-10-25T02:00Z"}},
    /* Every hour across the skipped hour: 00:00 GMT, then 02:00 BST. */
    {"Europe/London",
     "0 * * * *",
     "2026-03-28T23:30Z",
     {"2026-03-29T00:00Z", "2026-03-29T01:00Z", "2026-03-29T02:00Z"}},
    /* Starting inside the repeated hour, after the first 01:30 fired. */
    {"Europe/London", "30 1 * * *", "2026-10-25T01:10Z", {"2026-10-26T01:30Z"}},
    /* America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT, 2026-11-01 02:00 EDT -> 01:00 EST. */
    {"America/New_York",
     "30 2 * * *",
     "2026-03-07T12:00Z",
     {"2026-03-08T07:00Z", "2026-03-09T06:30Z"}},
    {"America/New_York",
     "30 1 * * *",
     "2026-10-31T12:00Z",
     {"2026-11-01T05:30Z", "2026-11-02T06:30Z"}},
    {"America/New_York",
     "0 2 * * *",
     "2026-10-31T12:00Z",
     {"2026-11-01T07:00Z", "2026-11-02T07:00Z"}},
    {"America/New_York",
     "0 9 * * mon-fri",
     "2026-07-03T14:00Z",
     {"2026-07-06T13:00Z", "2026-07-07T13:00Z"}},
    /* Leap days: Feb 29 fires only in leap years; 2100 is not one. */
    {"UTC", "0 12 29 2 *", "2026-01-01T00:00Z", {"2028-02-29T12:00Z", "2032-02-29T12:00Z"}},
    {"UTC", "0 0 29 feb *", "2096-03-01T00:00Z", {"2104-02-29T00:00Z"}},
    {"Europe/London", "30 1 29 2 *", "2027-06-01T00:00Z", {"2028-02-29T01:30Z"}},
    /* Both day fields restricted: either may match (Vixie cron). */
    {"UTC",
     "0 0 29 2 mon",
     "2027-02-01T00:00Z",
     {"2027-02-08T00:00Z", "2027-02-15T00:00Z", "2027-02-22T00:00Z", "2028-02-07T00:00Z"}},
    /* Day 31 skips the shorter months. */
    {"UTC", "0 0 31 * *", "2026-04-01T00:00Z", {"2026-05-31T00:00Z", "2026-07-31T00:00Z"}},
    /* Weekday names, 7 = Sunday, wrapping ranges. */
    {"UTC", "0 9 * * 7", "2026-05-08T10:00Z", {"2026-05-10T09:00Z"}},
    {"UTC",
     "0 9 * * fri-mon",
     "2026-05-06T00:00Z",
     {"2026-05-08T09:00Z", "2026-05-09T09:00Z", "2026-05-10T09:00Z", "2026-05-11T09:00Z"}},
    {"UTC",
     "15,45 8-9 * jan,JUL *",
     "2026-06-30T23:59Z",
     {"2026-07-01T08:15Z", "2026-07-01T08:45Z", "2026-07-01T09:15Z", "2026-07-01T09:45Z"}},
    {"UTC",
     "0 8-18/5 * * *",
     "2026-01-01T00:00Z",
     {"2026-01-01T08:00Z", "2026-01-01T13:00Z", "2026-01-01T18:00Z", "2026-01-02T08:00Z"}},
    {"UTC",
     "50/5 * * * *",
     "2026-01-01T00:00Z",
     {"2026-01-01T00:50Z", "2026-01-01T00:55Z", "2026-01-01T01:50Z"}},
    /* Macros. 2026-01-01 is a Thursday. */
    {"UTC", "@hourly", "2026-01-01T00:00Z", {"2026-01-01T01:00Z"}},
    {"UTC", "@daily", "2026-01-01T00:00Z", {"2026-01-02T00:00Z"}},
    {"UTC", "@weekly", "2026-01-01T00:00Z", {"2026-01-04T00:00Z"}},
    {"UTC", "@monthly", "2026-01-01T00:00Z", {"2026-02-01T00:00Z"}},
    {"UTC", "@yearly", "2026-01-01T00:00Z", {"2027-01-01T00:00Z"}},
    /* Southern hemisphere: Sydney falls back 2026-04-05 03:00 AEDT -> 02:00 AEST. */
    {"Australia/Sydney",
     "30 2 * * *",
     "2026-04-04T00:00Z",
     {"2026-04-04T15:30Z", "2026-04-05T16:30Z"}},
};

static void test_next_fire_times(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof next_cases / sizeof next_cases[0]; i++) {
        const struct next_case *c = &next_cases[i];
        const drudge_tz *tz;
        drudge_cron cron;
        drudge_err err = {0};
        if (drudge_tz_get(c->zone, &tz, &err) || drudge_cron_parse(c->expr, &cron, &err))
            fail_msg("%s in %s: %s", c->expr, c->zone, err.msg);
        int64_t t = utc(c->after);
        for (int k = 0; k < 4 && c->want[k]; k++) {
            t = drudge_cron_next(&cron, tz, t);
            char got[32];
            fmt_utc(t, got);
            if (t != utc(c->want[k]))
                fail_msg("\"%s\" in %s after %s: fire #%d at %s, want %s", c->expr, c->zone,
                         c->after, k + 1, got, c->want[k]);
        }
    }
}

/* A 01:30 London job fires exactly once on every day of 2026, change days included. */
static void test_once_a_day_all_year(void **state)
{
    (void)state;
    const drudge_tz *tz;
    drudge_cron cron;
    drudge_err err = {0};
    assert_int_equal(drudge_tz_get("Europe/London", &tz, &err), DRUDGE_OK);
    assert_int_equal(drudge_cron_parse("30 1 * * *", &cron, &err), DRUDGE_OK);
    int64_t t = utc("2025-12-31T12:00Z");
    int last_yday = -1, count = 0;
    for (;;) {
        t = drudge_cron_next(&cron, tz, t);
        drudge_civil c;
        drudge_tz_civil(tz, t, &c);
        if (c.year > 2026)
            break;
        struct tm tm = {.tm_year = c.year - 1900, .tm_mon = c.month - 1, .tm_mday = c.day};
        timegm(&tm);
        assert_int_equal(tm.tm_yday, last_yday + 1);
        last_yday = tm.tm_yday;
        count++;
    }
    assert_int_equal(count, 365);
}

static void test_time_zones(void **state)
{
    (void)state;
    const drudge_tz *tz, *again;
    drudge_err err = {0};
    assert_int_equal(drudge_tz_get("Europe/London", &tz, &err), DRUDGE_OK);
    assert_int_equal(drudge_tz_get("Europe/London", &again, &err), DRUDGE_OK);
    assert_ptr_equal(tz, again); /* cached */
    assert_int_equal(drudge_tz_offset(tz, utc("2026-03-29T00:59Z")), 0);
    assert_int_equal(drudge_tz_offset(tz, utc("2026-03-29T01:00Z")), 3600);
    /* Beyond the file's table the footer rule (GMT0BST,M3.5.0/1,M10.5.0) applies. */
    assert_int_equal(drudge_tz_offset(tz, utc("2150-07-01T00:00Z")), 3600);
    assert_int_equal(drudge_tz_offset(tz, utc("2150-12-01T00:00Z")), 0);
    char buf[32];
    drudge_tz_format(tz, utc("2026-10-25T00:30Z"), buf);
    assert_string_equal(buf, "2026-10-25T01:30:00+01:00");
    assert_int_equal(drudge_tz_get("America/New_York", &tz, &err), DRUDGE_OK);
    drudge_tz_format(tz, utc("2026-01-15T17:00Z"), buf);
    assert_string_equal(buf, "2026-01-15T12:00:00-05:00");

    assert_int_equal(drudge_tz_get("Mars/Olympus_Mons", &tz, &err), DRUDGE_ENOTFOUND);
    assert_non_null(strstr(err.msg, "unknown time zone 'Mars/Olympus_Mons'"));
    assert_int_equal(drudge_tz_get("../../etc/passwd", &tz, &err), DRUDGE_EINPUT);
    assert_non_null(strstr(err.msg, "bad time zone name"));

    /* The machine's zone follows $TZ, including a POSIX rule. */
    setenv("TZ", "EST5EDT,M3.2.0,M11.1.0", 1);
    assert_int_equal(drudge_tz_get(NULL, &tz, &err), DRUDGE_OK);
    assert_string_equal(drudge_tz_name(tz), "EST5EDT,M3.2.0,M11.1.0");
    assert_int_equal(drudge_tz_offset(tz, utc("2026-07-01T00:00Z")), -4 * 3600);
    assert_int_equal(drudge_tz_offset(tz, utc("2026-01-01T00:00Z")), -5 * 3600);
    setenv("TZ", "Asia/Tokyo", 1);
    assert_int_equal(drudge_tz_get("", &tz, &err), DRUDGE_OK);
    assert_string_equal(drudge_tz_name(tz), "Asia/Tokyo");
    assert_int_equal(drudge_tz_offset(tz, utc("2026-07-01T00:00Z")), 9 * 3600);
    unsetenv("TZ");
}

static const struct bad_case {
    const char *expr, *want;
} bad_cases[] = {
    {"60 * * * *", "minute: 60 is out of range 0-59"},
    {"* 24 * * *", "hour: 24 is out of range 0-23"},
    {"* * 0 * *", "day-of-month: 0 is out of range 1-31"},
    {"* * * 13 *", "month: 13 is out of range 1-12"},
    {"* * * * 8", "day-of-week: 8 is out of range 0-7"},
    {"* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4"},
    {"* * * * * *", "got 6"},
    {"", "got 0"},
    {"*/0 * * * *", "minute: step 0 is out of range 1-59"},
    {"* */x * * *", "hour: step after '/' must be a number"},
    {"5-1 * * * *", "minute: range 5-1 is backwards"},
    {"* * * foo *", "month: bad value in \"foo\" (a number 1-12 or a month name"},
    {"* * * * fry", "day-of-week: bad value in \"fry\""},
    {"* * * * mon-", "day-of-week: bad value in \"mon-\""},
    {"* jan * * *", "hour: bad value in \"jan\""},
    {"1,,2 * * * *", "minute: empty list item in \"1,,2\""},
    {"1;2 * * * *", "minute: unexpected ';'"},
    {"* * 30 feb *", "day-of-month: never fires"},
    {"* * 31 4,6,9,11 *", "day-of-month: never fires"},
    {"@reboot", "unknown macro"},
};

static void test_bad_expressions(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        drudge_cron cron;
        drudge_err err = {0};
        drudge_code rc = drudge_cron_parse(bad_cases[i].expr, &cron, &err);
        if (rc != DRUDGE_EINPUT || !strstr(err.msg, bad_cases[i].want))
            fail_msg("\"%s\": got %d \"%s\", want \"%s\"", bad_cases[i].expr, rc, err.msg,
                     bad_cases[i].want);
    }
    /* Both day fields restricted: 30 Feb is fine because Mondays match too. */
    drudge_cron cron;
    assert_int_equal(drudge_cron_parse("0 0 30 2 mon", &cron, NULL), DRUDGE_OK);
    assert_int_equal(drudge_cron_parse("  0  0  *  *  SUN  ", &cron, NULL), DRUDGE_OK);
    assert_int_equal(cron.weekdays, 1);
    assert_int_equal(drudge_cron_parse("@Daily", &cron, NULL), DRUDGE_OK);
    assert_int_equal(drudge_cron_parse("0 0 * * 1-5/2,sunday", &cron, NULL), DRUDGE_OK);
    assert_int_equal(cron.weekdays, 1 | 2 | 8 | 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_fire_times),
        cmocka_unit_test(test_once_a_day_all_year),
        cmocka_unit_test(test_time_zones),
        cmocka_unit_test(test_bad_expressions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

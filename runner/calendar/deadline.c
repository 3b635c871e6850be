/* deadline.c: a script's default deadline, as a rule applied when a task is
 * enqueued (`deadline = "2 working days"` in the script's settings). The
 * rule is kept as the script wrote it and applied to each task's due time,
 * so a backlog queued with --at gets its deadlines from when it is due. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "runner/calendar/deadline.h"

#define US_PER_MIN 60000000LL
#define MAX_AMOUNT 3650 /* ten years of days; more is a typo */

typedef enum unit { U_MIN, U_HOUR, U_DAY, U_WEEK, U_WORKDAY } unit;

typedef struct rule {
    long n;
    unit u;
} rule;

/* The unit word after the number: "h", "hour(s)", "working day(s)", ... */
static int parse_unit(const char *w, unit *u)
{
    static const struct {
        const char *word;
        unit u;
    } units[] = {{"m", U_MIN},
                 {"min", U_MIN},
                 {"mins", U_MIN},
                 {"minute", U_MIN},
                 {"minutes", U_MIN},
                 {"h", U_HOUR},
                 {"hour", U_HOUR},
                 {"hours", U_HOUR},
                 {"d", U_DAY},
                 {"day", U_DAY},
                 {"days", U_DAY},
                 {"w", U_WEEK},
                 {"week", U_WEEK},
                 {"weeks", U_WEEK},
                 {"working day", U_WORKDAY},
                 {"working days", U_WORKDAY},
                 {"workday", U_WORKDAY},
                 {"workdays", U_WORKDAY}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(w, units[i].word)) {
            *u = units[i].u;
            return 0;
        }
    return -1;
}

static int parse_rule(const char *s, rule *r)
{
    char word[32];
    if (!s)
        return -1;
    while (*s == ' ')
        s++;
    if (*s == '+')
        s++;
    if (!isdigit((unsigned char)*s))
        return -1;
    char *end;
    r->n = strtol(s, &end, 10);
    if (r->n <= 0 || r->n > MAX_AMOUNT * 24 * 60)
        return -1;
    while (*end == ' ')
        end++;
    size_t len = strlen(end);
    while (len && end[len - 1] == ' ')
        len--;
    if (!len || len >= sizeof word)
        return -1;
    memcpy(word, end, len);
    word[len] = 0;
    for (char *p = word; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (parse_unit(word, &r->u))
        return -1;
    return r->u >= U_DAY && r->n > MAX_AMOUNT ? -1 : 0;
}

drudge_code drudge_deadline_parse(const char *rule_text, drudge_err *err)
{
    rule r;
    if (parse_rule(rule_text, &r) == 0)
        return DRUDGE_OK;
    return drudge_seterr(err, DRUDGE_EINPUT,
                         "deadline '%s' is not a duration: write \"90m\", \"4h\", \"3d\", "
                         "\"1w\" or \"2 working days\" (a whole number > 0, days up to %d)",
                         rule_text ? rule_text : "", MAX_AMOUNT);
}

/* N weekdays after from, in local time: Saturday and Sunday are skipped,
 * and a start on a weekend counts from the Monday after it, 00:00. */
static int64_t working_days_after(long n, int64_t from_us)
{
    time_t t = (time_t)(from_us / 1000000);
    int64_t frac = from_us % 1000000;
    struct tm tm;
    localtime_r(&t, &tm);
    if (tm.tm_wday == 0 || tm.tm_wday == 6) {
        tm.tm_mday += tm.tm_wday == 6 ? 2 : 1;
        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        frac = 0;
    }
    for (long left = n; left > 0;) {
        tm.tm_mday++;
        tm.tm_isdst = -1;
        time_t next = mktime(&tm);
        localtime_r(&next, &tm);
        if (tm.tm_wday != 0 && tm.tm_wday != 6)
            left--;
    }
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm) * 1000000 + frac;
}

int64_t drudge_deadline_after(const char *rule_text, int64_t from_us)
{
    rule r;
    if (parse_rule(rule_text, &r))
        return 0;
    switch (r.u) {
    case U_MIN:
        return from_us + r.n * US_PER_MIN;
    case U_HOUR:
        return from_us + r.n * 60 * US_PER_MIN;
    case U_DAY:
        return from_us + r.n * 24 * 60 * US_PER_MIN;
    case U_WEEK:
        return from_us + r.n * 7 * 24 * 60 * US_PER_MIN;
    case U_WORKDAY:
        return working_days_after(r.n, from_us);
    }
    return 0;
}

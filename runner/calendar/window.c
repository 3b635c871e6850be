/*
 * window.c: run windows: when the tasks of a script or a schedule may be
 * claimed. "Mon-Fri 18:00-07:30" opens at 18:00 on each weekday and closes
 * at 07:30 the next morning (so Friday's span runs into Saturday); clauses
 * are joined with ';' ("Mon-Fri 18:00-07:30; Sat,Sun"); an optional last
 * word names the time zone ("... Europe/London"), else the machine's zone.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runner/calendar/cron.h"
#include "runner/calendar/window.h"

#define MAX_SPANS 32
#define MAX_SPEC  512

typedef struct win_span {
    uint8_t days;       /* bit 0 = Sunday: the days a span starts on */
    int16_t start, end; /* minutes after midnight; end may be 1440; start > end runs overnight */
} win_span;

typedef struct win {
    win_span span[MAX_SPANS];
    int n;
    const drudge_tz *tz;
} win;

static const char *const day_names[7] = {"sunday",   "monday", "tuesday", "wednesday",
                                         "thursday", "friday", "saturday"};

static int day_index(const char *s, size_t len)
{
    for (int i = 0; i < 7; i++)
        if ((len == 3 || len == strlen(day_names[i])) && !strncasecmp(s, day_names[i], len))
            return i;
    return -1;
}

/* "Mon-Fri,Sun" -> bits; -1 if it is not a day list. *bad gets the word that is not a day. */
static int parse_days(const char *tok, size_t len, char bad[32])
{
    int bits = 0;
    const char *p = tok, *end = tok + len;
    while (p < end) {
        const char *q = p;
        while (q < end && isalpha((unsigned char)*q))
            q++;
        int a = day_index(p, (size_t)(q - p)), b = a;
        if (a >= 0 && q < end && *q == '-') {
            const char *r = ++q;
            while (q < end && isalpha((unsigned char)*q))
                q++;
            b = day_index(r, (size_t)(q - r));
            if (b < 0)
                p = r;
        }
        if (a < 0 || b < 0 || (q < end && *q != ',')) {
            size_t n = strcspn(p, ",- \t;");
            snprintf(bad, 32, "%.*s", (int)(n < 31 ? n : 31), p);
            return -1;
        }
        if (b < a)
            b += 7; /* Fri-Mon wraps over the weekend */
        for (int d = a; d <= b; d++)
            bits |= 1 << (d % 7);
        p = q < end ? q + 1 : q;
    }
    return bits;
}

/* "HH:MM" (H may be one digit; 24:00 allowed) -> minutes, or -1. */
static int parse_hhmm(const char **pp, const char *end)
{
    const char *p = *pp;
    int h = 0, m, digits = 0;
    while (p < end && isdigit((unsigned char)*p) && digits < 2) {
        h = h * 10 + (*p++ - '0');
        digits++;
    }
    if (!digits || p + 3 > end || *p != ':' || !isdigit((unsigned char)p[1]) ||
        !isdigit((unsigned char)p[2]))
        return -1;
    m = (p[1] - '0') * 10 + (p[2] - '0');
    *pp = p + 3;
    if (m > 59 || h > 24 || (h == 24 && m))
        return -1;
    return h * 60 + m;
}

static drudge_code window_parse(const char *spec, win *w, drudge_err *err)
{
    char buf[MAX_SPEC];
    memset(w, 0, sizeof *w);
    size_t len = strlen(spec);
    if (len >= sizeof buf)
        return drudge_seterr(err, DRUDGE_EINPUT, "window too long (%zu bytes)", len);
    memcpy(buf, spec, len + 1);
    while (len && isspace((unsigned char)buf[len - 1]))
        buf[--len] = '\0';
    /* A last word that is neither days nor times names the zone. */
    char *last = buf + len;
    while (last > buf && !isspace((unsigned char)last[-1]) && last[-1] != ';')
        last--;
    char bad[32];
    w->tz = NULL;
    if (*last && !isdigit((unsigned char)*last) && parse_days(last, strlen(last), bad) < 0) {
        /* A word with a '/' must be a zone; another (UTC, a typo of a day)
         * is one if tzdata knows it, else the days parser names it. */
        if (drudge_tz_get(last, &w->tz, NULL) == DRUDGE_OK)
            *last = '\0';
        else if (strchr(last, '/'))
            return drudge_seterr(err, DRUDGE_EINPUT,
                                 "window \"%s\": '%s' is neither days (Mon-Fri, Sat,Sun), times "
                                 "(18:00-07:30) nor a known time zone",
                                 spec, last);
    }
    if (!w->tz && drudge_tz_get(NULL, &w->tz, err))
        return err ? err->code : DRUDGE_EINPUT;
    int clause = 0;
    for (char *c = buf, *next; c; c = next) {
        next = strchr(c, ';');
        if (next)
            *next++ = '\0';
        clause++;
        int days = -1, spans_before = w->n, any = 0;
        for (char *p = c;;) {
            while (isspace((unsigned char)*p))
                p++;
            if (!*p)
                break;
            char *tok = p;
            while (*p && !isspace((unsigned char)*p))
                p++;
            size_t tlen = (size_t)(p - tok);
            any = 1;
            if (!isdigit((unsigned char)*tok)) {
                if (days >= 0 || w->n > spans_before)
                    return drudge_seterr(err, DRUDGE_EINPUT,
                                         "window \"%s\": '%.*s' out of place (write the days, "
                                         "then the times: Mon-Fri 18:00-07:30)",
                                         spec, (int)tlen, tok);
                days = parse_days(tok, tlen, bad);
                if (days < 0)
                    return drudge_seterr(err, DRUDGE_EINPUT,
                                         "window \"%s\": unknown day '%s' (use Mon, Tue, Wed, "
                                         "Thu, Fri, Sat, Sun, ranges Mon-Fri, lists Sat,Sun)",
                                         spec, bad);
                continue;
            }
            for (const char *q = tok, *end = tok + tlen; q < end;) {
                const char *range = q;
                int a = parse_hhmm(&q, end), b = -1;
                if (a >= 0 && q < end && *q == '-') {
                    q++;
                    b = parse_hhmm(&q, end);
                }
                if (a < 0 || b < 0 || a == 1440 || (q < end && *q != ',')) {
                    size_t n = strcspn(range, ", \t;");
                    return drudge_seterr(err, DRUDGE_EINPUT,
                                         "window \"%s\": bad time range '%.*s' (want "
                                         "HH:MM-HH:MM between 00:00 and 24:00)",
                                         spec, (int)n, range);
                }
                if (a == b || (a == 0 && b == 0))
                    return drudge_seterr(err, DRUDGE_EINPUT,
                                         "window \"%s\": empty time range '%.*s' (for all day "
                                         "write 00:00-24:00)",
                                         spec, (int)(q - range), range);
                if (w->n == MAX_SPANS)
                    return drudge_seterr(err, DRUDGE_EINPUT, "window \"%s\": more than %d spans",
                                         spec, MAX_SPANS);
                w->span[w->n++] = (win_span){.start = (int16_t)a, .end = (int16_t)b};
                if (q < end)
                    q++;
            }
        }
        if (!any)
            return drudge_seterr(err, DRUDGE_EINPUT, "window \"%s\": clause %d is empty", spec,
                                 clause);
        if (w->n == spans_before) /* days alone: all day */
            w->span[w->n++] = (win_span){.start = 0, .end = 1440};
        for (int i = spans_before; i < w->n; i++)
            w->span[i].days = (uint8_t)(days < 0 ? 0x7f : days);
    }
    return DRUDGE_OK;
}

static int window_open(const win *w, int64_t now_us)
{
    int64_t secs = now_us / 1000000 - (now_us % 1000000 < 0);
    drudge_civil c;
    drudge_tz_civil(w->tz, secs, &c);
    int m = c.hour * 60 + c.minute, today = 1 << c.wday, yesterday = 1 << ((c.wday + 6) % 7);
    for (int i = 0; i < w->n; i++) {
        const win_span *s = &w->span[i];
        if (s->start < s->end) {
            if ((s->days & today) && m >= s->start && m < s->end)
                return 1;
        } else if (((s->days & today) && m >= s->start) || ((s->days & yesterday) && m < s->end)) {
            return 1;
        }
    }
    return 0;
}

drudge_code drudge_window_parse(const char *spec, drudge_err *err)
{
    win w;
    if (!spec || !*spec)
        return DRUDGE_OK;
    return window_parse(spec, &w, err);
}

int drudge_window_allows(const char *spec, int64_t now_us)
{
    /* The claim query calls this for every queued task it passes over, and
     * they mostly share one spec: keep the last one parsed, per thread. */
    static _Thread_local char last_spec[MAX_SPEC];
    static _Thread_local win last;
    static _Thread_local int last_ok;
    if (!spec || !*spec)
        return 1;
    if (strcmp(spec, last_spec) != 0) {
        last_ok = strlen(spec) < sizeof last_spec && window_parse(spec, &last, NULL) == DRUDGE_OK;
        if (!last_ok) {
            last_spec[0] = '\0';
            return 0; /* an invalid window never opens: fail closed */
        }
        snprintf(last_spec, sizeof last_spec, "%s", spec);
    }
    return window_open(&last, now_us);
}

/* Minute steps over 8 days: a weekly window opens within 7, and the extra
 * day covers a span that starts late on the last one. */
#define MINUTE_US   ((int64_t)60 * 1000000)
#define SEARCH_MINS (8 * 24 * 60)

int64_t drudge_window_next_open(const char *spec, int64_t from_us)
{
    win w;
    if (!spec || !*spec)
        return from_us;
    if (window_parse(spec, &w, NULL) != DRUDGE_OK)
        return -1;
    if (window_open(&w, from_us))
        return from_us;
    int64_t t = from_us - (from_us % MINUTE_US + MINUTE_US) % MINUTE_US; /* this minute */
    for (int i = 0; i < SEARCH_MINS; i++) {
        t += MINUTE_US;
        if (window_open(&w, t))
            return t;
    }
    return -1;
}

int64_t drudge_window_opened_at(const char *spec, int64_t now_us)
{
    win w;
    if (!spec || !*spec)
        return 0;
    if (window_parse(spec, &w, NULL) != DRUDGE_OK || !window_open(&w, now_us))
        return now_us;
    int64_t t = now_us - (now_us % MINUTE_US + MINUTE_US) % MINUTE_US;
    for (int i = 0; i < SEARCH_MINS; i++) {
        if (!window_open(&w, t - MINUTE_US))
            return t;
        t -= MINUTE_US;
    }
    return t;
}

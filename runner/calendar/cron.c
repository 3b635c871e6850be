/*
 * cron.c: cron expressions and time zones read from the system's tzdata.
 *
 * Why our own TZif reader: the C library's localtime_r/mktime know only the
 * one zone in $TZ, and switching it (setenv + tzset) is process-global and
 * races with every other thread. Each schedule names its own zone, and
 * workers evaluate run windows on many threads, so zones are loaded here into
 * immutable tables of transitions (RFC 8536 files, their POSIX-TZ footer rule
 * expanded to year 2200) and cached for the life of the process.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "runner/calendar/cron.h"
#include "drudge/util.h"

#define EXPAND_UNTIL_YEAR 2200
#define SEARCH_YEARS      30

struct drudge_tz {
    struct drudge_tz *next; /* the cache list */
    char *key;              /* cache key: the name asked for, or "\1local:" + $TZ */
    char *name;
    int64_t *trans; /* transition instants, ascending */
    int32_t *after; /* offset in force from trans[i] on */
    int ntrans, cap;
    int32_t first; /* offset before trans[0] (or always, without transitions) */
    int32_t minoff, maxoff;
};

/* ---- calendar arithmetic (proleptic Gregorian, H. Hinnant's algorithms) ---- */

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int weekday_of(int64_t days)
{
    int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */
    return (int)(w < 0 ? w + 7 : w);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : n[m - 1];
}

/* ---- zones ---- */

static void tz_free(drudge_tz *tz)
{
    if (!tz)
        return;
    free(tz->key);
    free(tz->name);
    free(tz->trans);
    free(tz->after);
    free(tz);
}

static void tz_push(drudge_tz *tz, int64_t t, int32_t off)
{
    if (tz->ntrans == tz->cap) {
        tz->cap = tz->cap ? tz->cap * 2 : 64;
        tz->trans = drudge_xrealloc(tz->trans, (size_t)tz->cap * sizeof *tz->trans);
        tz->after = drudge_xrealloc(tz->after, (size_t)tz->cap * sizeof *tz->after);
    }
    tz->trans[tz->ntrans] = t;
    tz->after[tz->ntrans] = off;
    tz->ntrans++;
}

/* Index of the last transition at or before t, or -1. */
static int tz_index(const drudge_tz *tz, int64_t t)
{
    int lo = 0, hi = tz->ntrans - 1, ans = -1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= t) {
            ans = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return ans;
}

int drudge_tz_offset(const drudge_tz *tz, int64_t t)
{
    int i = tz_index(tz, t);
    return i < 0 ? tz->first : tz->after[i];
}

const char *drudge_tz_name(const drudge_tz *tz)
{
    return tz->name;
}

/* A POSIX TZ rule ("GMT0BST,M3.5.0/1,M10.5.0", RFC 8536 section 3.3). */
typedef struct rule_date {
    char kind; /* 'J' Julian 1-365 without Feb 29, 'n' zero-based 0-365, 'M' month.week.day */
    int n, month, week, wday;
    int32_t time; /* seconds after local midnight; may be negative or past 24h */
} rule_date;

typedef struct posix_rule {
    int32_t std_off, dst_off; /* seconds east of UTC */
    int has_dst, has_dates;
    rule_date start, end;
} posix_rule;

static const char *posix_name(const char *p)
{
    if (*p == '<') {
        const char *q = strchr(p, '>');
        return q && q - p >= 4 ? q + 1 : NULL;
    }
    const char *s = p;
    while (isalpha((unsigned char)*p))
        p++;
    return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]], hours up to 167 (RFC 8536 extension). */
static const char *posix_hms(const char *p, int32_t *secs)
{
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (!isdigit((unsigned char)*p))
        return NULL;
    long h = 0, m = 0, s = 0;
    while (isdigit((unsigned char)*p) && h <= 167)
        h = h * 10 + (*p++ - '0');
    if (h > 167)
        return NULL;
    if (*p == ':') {
        if (!isdigit((unsigned char)p[1]))
            return NULL;
        m = strtol(p + 1, (char **)&p, 10);
        if (*p == ':') {
            if (!isdigit((unsigned char)p[1]))
                return NULL;
            s = strtol(p + 1, (char **)&p, 10);
        }
    }
    if (m > 59 || s > 59)
        return NULL;
    *secs = (int32_t)(sign * (h * 3600 + m * 60 + s));
    return p;
}

static const char *posix_date(const char *p, rule_date *d)
{
    char *end;
    d->time = 7200;
    if (*p == 'M') {
        d->kind = 'M';
        d->month = (int)strtol(p + 1, &end, 10);
        if (*end != '.')
            return NULL;
        d->week = (int)strtol(end + 1, &end, 10);
        if (*end != '.')
            return NULL;
        d->wday = (int)strtol(end + 1, &end, 10);
        if (d->month < 1 || d->month > 12 || d->week < 1 || d->week > 5 || d->wday < 0 ||
            d->wday > 6)
            return NULL;
    } else if (*p == 'J') {
        d->kind = 'J';
        d->n = (int)strtol(p + 1, &end, 10);
        if (d->n < 1 || d->n > 365)
            return NULL;
    } else if (isdigit((unsigned char)*p)) {
        d->kind = 'n';
        d->n = (int)strtol(p, &end, 10);
        if (d->n > 365)
            return NULL;
    } else {
        return NULL;
    }
    p = end;
    if (*p == '/')
        p = posix_hms(p + 1, &d->time);
    return p;
}

static int parse_posix_rule(const char *s, posix_rule *r)
{
    int32_t off;
    memset(r, 0, sizeof *r);
    const char *p = posix_name(s);
    if (p)
        p = posix_hms(p, &off);
    if (!p)
        return -1;
    r->std_off = -off; /* POSIX offsets count west of Greenwich */
    if (!*p)
        return 0;
    p = posix_name(p);
    if (!p)
        return -1;
    r->has_dst = 1;
    r->dst_off = r->std_off + 3600;
    if (*p && *p != ',') {
        p = posix_hms(p, &off);
        if (!p)
            return -1;
        r->dst_off = -off;
    }
    if (!*p) {
        /* No dates: the US rules, as glibc assumes. */
        r->start = (rule_date){.kind = 'M', .month = 3, .week = 2, .wday = 0, .time = 7200};
        r->end = (rule_date){.kind = 'M', .month = 11, .week = 1, .wday = 0, .time = 7200};
        r->has_dates = 1;
        return 0;
    }
    if (*p != ',')
        return -1;
    p = posix_date(p + 1, &r->start);
    if (!p || *p != ',')
        return -1;
    p = posix_date(p + 1, &r->end);
    if (!p || *p)
        return -1;
    r->has_dates = 1;
    return 0;
}

static int64_t rule_day(const rule_date *d, int y)
{
    int64_t jan1 = days_from_civil(y, 1, 1);
    switch (d->kind) {
    case 'J':
        return jan1 + d->n - 1 + (is_leap(y) && d->n >= 60);
    case 'n':
        return jan1 + d->n;
    default: {
        int64_t first = days_from_civil(y, d->month, 1);
        int64_t day = first + (d->wday - weekday_of(first) + 7) % 7 + (d->week - 1) * 7;
        while (day - first >= month_days(y, d->month))
            day -= 7;
        return day;
    }
    }
}

static int cmp_pair(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Appends the rule's transitions after `from` up to EXPAND_UNTIL_YEAR. */
static void expand_rule(drudge_tz *tz, const posix_rule *r, int64_t from)
{
    if (!r->has_dst || !r->has_dates)
        return;
    int y0;
    int m, d;
    civil_from_days(floor_div(from, 86400), &y0, &m, &d);
    size_t n = 0, cap = (size_t)(EXPAND_UNTIL_YEAR - y0 + 2) * 2;
    if (y0 > EXPAND_UNTIL_YEAR)
        return;
    int64_t *pairs = drudge_xmalloc(cap * 2 * sizeof *pairs);
    for (int y = y0; y <= EXPAND_UNTIL_YEAR; y++) {
        int64_t s = rule_day(&r->start, y) * 86400 + r->start.time - r->std_off;
        int64_t e = rule_day(&r->end, y) * 86400 + r->end.time - r->dst_off;
        pairs[2 * n] = s;
        pairs[2 * n + 1] = r->dst_off;
        n++;
        pairs[2 * n] = e;
        pairs[2 * n + 1] = r->std_off;
        n++;
    }
    qsort(pairs, n, 2 * sizeof *pairs, cmp_pair);
    for (size_t i = 0; i < n; i++)
        if (pairs[2 * i] > from)
            tz_push(tz, pairs[2 * i], (int32_t)pairs[2 * i + 1]);
    free(pairs);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* Parses a TZif file (RFC 8536, versions 1-4) into tz. */
static drudge_code parse_tzif(const unsigned char *d, size_t n, drudge_tz *tz, const char *what,
                              drudge_err *err)
{
    if (n < 44 || memcmp(d, "TZif", 4))
        return drudge_seterr(err, DRUDGE_EINPUT, "time zone %s: not a TZif file", what);
    int version = d[4];
    const unsigned char *h = d, *end = d + n;
    int tsize = 4;
    uint32_t c[6];
    for (int i = 0; i < 6; i++)
        c[i] = be32(h + 20 + 4 * i);
    /* isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt */
    if (version >= '2') {
        size_t v1 = (size_t)c[3] * 5 + (size_t)c[4] * 6 + c[5] + (size_t)c[2] * 8 + c[1] + c[0];
        if ((size_t)(end - h) < 44 + v1 + 44)
            goto truncated;
        h += 44 + v1;
        if (memcmp(h, "TZif", 4))
            return drudge_seterr(err, DRUDGE_EINPUT, "time zone %s: bad second TZif header", what);
        for (int i = 0; i < 6; i++)
            c[i] = be32(h + 20 + 4 * i);
        tsize = 8;
    }
    uint32_t timecnt = c[3], typecnt = c[4];
    size_t need = (size_t)timecnt * (tsize + 1) + (size_t)typecnt * 6 + c[5] +
                  (size_t)c[2] * (tsize + 4) + c[1] + c[0];
    if (typecnt == 0 || (size_t)(end - h) < 44 + need)
        goto truncated;
    const unsigned char *times = h + 44, *idx = times + (size_t)timecnt * tsize,
                        *types = idx + timecnt;
    for (uint32_t i = 0; i < timecnt; i++) {
        if (idx[i] >= typecnt)
            return drudge_seterr(err, DRUDGE_EINPUT, "time zone %s: bad type index", what);
        int64_t t = tsize == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
        if (tz->ntrans && t <= tz->trans[tz->ntrans - 1])
            return drudge_seterr(err, DRUDGE_EINPUT, "time zone %s: transitions out of order",
                                 what);
        tz_push(tz, t, (int32_t)be32(types + 6 * idx[i]));
    }
    tz->first = (int32_t)be32(types); /* type 0 applies before the first transition */
    const unsigned char *footer = h + 44 + need;
    if (version >= '2' && footer < end && *footer == '\n') {
        const unsigned char *nl = memchr(footer + 1, '\n', (size_t)(end - footer - 1));
        if (nl && nl > footer + 1) {
            char rule_text[128];
            size_t len = (size_t)(nl - footer - 1);
            if (len < sizeof rule_text) {
                memcpy(rule_text, footer + 1, len);
                rule_text[len] = '\0';
                posix_rule r;
                if (parse_posix_rule(rule_text, &r) == 0) {
                    if (!tz->ntrans)
                        tz->first = r.std_off;
                    expand_rule(tz, &r, tz->ntrans ? tz->trans[tz->ntrans - 1] : INT32_MIN);
                }
            }
        }
    }
    return DRUDGE_OK;
truncated:
    return drudge_seterr(err, DRUDGE_EINPUT, "time zone %s: truncated TZif file", what);
}

static void tz_finish(drudge_tz *tz)
{
    /* Offsets in force since 1900 bound the wall-clock search in cron_next;
     * older local mean times would only widen it. */
    int i0 = tz_index(tz, -2208988800LL);
    tz->minoff = tz->maxoff = i0 < 0 ? tz->first : tz->after[i0];
    for (int i = i0 < 0 ? 0 : i0; i < tz->ntrans; i++) {
        if (tz->after[i] < tz->minoff)
            tz->minoff = tz->after[i];
        if (tz->after[i] > tz->maxoff)
            tz->maxoff = tz->after[i];
    }
}

static drudge_code load_file(const char *path, drudge_tz *tz, const char *what, drudge_err *err)
{
    size_t len;
    unsigned char *data = (unsigned char *)drudge_read_file(path, &len);
    if (!data) {
        if (errno == ENOENT || errno == ENOTDIR)
            return drudge_seterr(err, DRUDGE_ENOTFOUND, "unknown time zone '%s' (no %s)", what,
                                 path);
        return drudge_seterr(err, DRUDGE_EIO, "time zone %s: cannot read %s: %s", what, path,
                             strerror(errno));
    }
    drudge_code rc = parse_tzif(data, len, tz, what, err);
    free(data);
    return rc;
}

static const char *zoneinfo_dir(void)
{
    const char *d = getenv("TZDIR");
    return d && *d ? d : "/usr/share/zoneinfo";
}

static int valid_zone_name(const char *name)
{
    if (!*name || name[0] == '/' || strlen(name) > 200)
        return 0;
    for (const char *p = name; *p; p++)
        if (!(isalnum((unsigned char)*p) || strchr("/_+-", *p)))
            return 0;
    return !strstr(name, "..");
}

static drudge_code load_named(const char *name, drudge_tz *tz, drudge_err *err)
{
    if (!valid_zone_name(name))
        return drudge_seterr(err, DRUDGE_EINPUT,
                             "bad time zone name '%s' (want an IANA name like Europe/London)",
                             name);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", zoneinfo_dir(), name);
    return load_file(path, tz, name, err);
}

/* The machine's zone: $TZ (a zone name, a file, or a POSIX rule), else /etc/localtime. */
static drudge_code load_local(drudge_tz *tz, drudge_err *err)
{
    const char *env = getenv("TZ");
    if (env) {
        if (*env == ':')
            env++;
        if (!*env) {
            tz->name = drudge_xstrdup("UTC");
            return DRUDGE_OK;
        }
        tz->name = drudge_xstrdup(env);
        if (env[0] == '/')
            return load_file(env, tz, env, err);
        if (valid_zone_name(env) && load_named(env, tz, NULL) == DRUDGE_OK)
            return DRUDGE_OK;
        tz->ntrans = 0;
        posix_rule r;
        if (parse_posix_rule(env, &r))
            return drudge_seterr(err, DRUDGE_EINPUT, "TZ='%s' is neither a zone nor a POSIX rule",
                                 env);
        tz->first = r.std_off;
        expand_rule(tz, &r, days_from_civil(1900, 1, 1) * 86400);
        return DRUDGE_OK;
    }
    char link[PATH_MAX];
    ssize_t n = readlink("/etc/localtime", link, sizeof link - 1);
    if (n > 0) {
        link[n] = '\0';
        const char *z = strstr(link, "zoneinfo/");
        tz->name = drudge_xstrdup(z ? z + 9 : link);
    } else {
        char *etc = drudge_read_file("/etc/timezone", NULL);
        if (etc)
            etc[strcspn(etc, " \n")] = '\0';
        tz->name = drudge_xstrdup(etc && *etc ? etc : "localtime");
        free(etc);
    }
    drudge_code rc = load_file("/etc/localtime", tz, "localtime", err);
    if (rc == DRUDGE_ENOTFOUND) {
        /* No /etc/localtime: the C library assumes UTC, and so do we. */
        free(tz->name);
        tz->name = drudge_xstrdup("UTC");
        return DRUDGE_OK;
    }
    return rc;
}

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static drudge_tz *cache;

drudge_code drudge_tz_get(const char *name, const drudge_tz **out, drudge_err *err)
{
    char key[PATH_MAX];
    const char *env = getenv("TZ");
    if (name && *name)
        snprintf(key, sizeof key, "%s", name);
    else
        snprintf(key, sizeof key, "\1local:%s", env ? env : "\1");
    drudge_code rc = DRUDGE_OK;
    pthread_mutex_lock(&cache_lock);
    for (drudge_tz *t = cache; t; t = t->next)
        if (!strcmp(t->key, key)) {
            *out = t;
            goto cleanup;
        }
    drudge_tz *tz = calloc(1, sizeof *tz);
    if (!tz) {
        rc = drudge_seterr(err, DRUDGE_ENOMEM, "out of memory loading a time zone");
        goto cleanup;
    }
    tz->key = drudge_xstrdup(key);
    if (name && *name) {
        tz->name = drudge_xstrdup(name);
        rc = load_named(name, tz, err);
    } else {
        rc = load_local(tz, err);
    }
    if (rc) {
        tz_free(tz);
        goto cleanup;
    }
    tz_finish(tz);
    tz->next = cache;
    cache = tz;
    *out = tz;
cleanup:
    pthread_mutex_unlock(&cache_lock);
    return rc;
}

void drudge_tz_civil(const drudge_tz *tz, int64_t t, drudge_civil *out)
{
    int off = drudge_tz_offset(tz, t);
    int64_t w = t + off, days = floor_div(w, 86400), secs = w - days * 86400;
    civil_from_days(days, &out->year, &out->month, &out->day);
    out->hour = (int)(secs / 3600);
    out->minute = (int)(secs / 60 % 60);
    out->second = (int)(secs % 60);
    out->wday = weekday_of(days);
    out->utoff = off;
}

void drudge_tz_format(const drudge_tz *tz, int64_t t, char out[32])
{
    drudge_civil c;
    drudge_tz_civil(tz, t, &c);
    int off = c.utoff < 0 ? -c.utoff : c.utoff;
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", c.year % 10000, c.month, c.day,
             c.hour, c.minute, c.second, c.utoff < 0 ? '-' : '+', off / 3600 % 100, off / 60 % 60);
}

/* The instants whose local wall time is w (seconds, as if UTC): 0 when a
 * spring-forward change skips w (*gap is then the instant of that change),
 * 1 normally, 2 when a fall-back change repeats w (in order). */
static int wall_to_utc(const drudge_tz *tz, int64_t w, int64_t inst[2], int64_t *gap)
{
    int64_t lo = w - tz->maxoff, hi = w - tz->minoff;
    int32_t offs[8];
    int noffs = 0, n = 0;
    offs[noffs++] = drudge_tz_offset(tz, lo);
    for (int i = tz_index(tz, lo) + 1; i < tz->ntrans && tz->trans[i] <= hi && noffs < 8; i++)
        offs[noffs++] = tz->after[i];
    for (int k = 0; k < noffs; k++) {
        int64_t t = w - offs[k];
        if (drudge_tz_offset(tz, t) != offs[k])
            continue;
        int dup = 0;
        for (int j = 0; j < n; j++)
            dup |= inst[j] == t;
        if (!dup && n < 2)
            inst[n++] = t;
    }
    if (n == 2 && inst[0] > inst[1]) {
        int64_t x = inst[0];
        inst[0] = inst[1];
        inst[1] = x;
    }
    if (n == 0) {
        *gap = w - drudge_tz_offset(tz, lo);
        for (int i = tz_index(tz, lo) + 1; i < tz->ntrans && tz->trans[i] <= hi; i++) {
            int32_t before = i ? tz->after[i - 1] : tz->first;
            if (tz->trans[i] + before <= w && w < tz->trans[i] + tz->after[i]) {
                *gap = tz->trans[i];
                break;
            }
        }
    }
    return n;
}

/* ---- cron expressions ---- */

static const char *const field_names[5] = {"minute", "hour", "day-of-month", "month",
                                           "day-of-week"};
static const int field_lo[5] = {0, 0, 1, 1, 0}, field_hi[5] = {59, 23, 31, 12, 7};
static const char *const month_names[12] = {"january",   "february", "march",    "april",
                                            "may",       "june",     "july",     "august",
                                            "september", "october",  "november", "december"};
static const char *const day_names[7] = {"sunday",   "monday", "tuesday", "wednesday",
                                         "thursday", "friday", "saturday"};

/* A number or (month, day-of-week) a name: 3 letters or the full name. */
static int cron_value(int f, const char **pp, int *v)
{
    const char *p = *pp;
    if (isdigit((unsigned char)*p)) {
        long n = 0;
        while (isdigit((unsigned char)*p) && n < 1000)
            n = n * 10 + (*p++ - '0');
        *v = (int)n;
        *pp = p;
        return 0;
    }
    const char *s = p;
    while (isalpha((unsigned char)*p))
        p++;
    size_t len = (size_t)(p - s);
    const char *const *names = f == 3 ? month_names : f == 4 ? day_names : NULL;
    int count = f == 3 ? 12 : 7;
    if (!names || len < 3)
        return -1;
    for (int i = 0; i < count; i++)
        if ((len == 3 || len == strlen(names[i])) && !strncasecmp(s, names[i], len)) {
            *v = f == 3 ? i + 1 : i;
            *pp = p;
            return 0;
        }
    return -1;
}

static drudge_code cron_field(const char *expr, int f, const char *text, uint64_t *bits,
                              unsigned char *star, drudge_err *err)
{
    const char *fname = field_names[f];
    int lo_lim = field_lo[f], hi_lim = field_hi[f];
    *bits = 0;
    *star = text[0] == '*';
    const char *p = text;
    for (;;) {
        int lo, hi, step = 1, range = 0;
        const char *item = p;
        if (*p == ',' || !*p)
            return drudge_seterr(err, DRUDGE_EINPUT, "cron \"%s\": %s: empty list item in \"%s\"",
                                 expr, fname, text);
        if (*p == '*') {
            p++;
            lo = lo_lim;
            hi = f == 4 ? 6 : hi_lim;
            range = 1;
        } else {
            if (cron_value(f, &p, &lo))
                goto bad_value;
            hi = lo;
            if (*p == '-') {
                p++;
                if (cron_value(f, &p, &hi))
                    goto bad_value;
                range = 1;
            }
        }
        if (*p == '/') {
            p++;
            if (!isdigit((unsigned char)*p))
                return drudge_seterr(err, DRUDGE_EINPUT,
                                     "cron \"%s\": %s: step after '/' must be a number in \"%s\"",
                                     expr, fname, text);
            long s = strtol(p, (char **)&p, 10);
            if (s < 1 || s > hi_lim)
                return drudge_seterr(err, DRUDGE_EINPUT,
                                     "cron \"%s\": %s: step %ld is out of range 1-%d", expr, fname,
                                     s, hi_lim);
            step = (int)s;
            if (!range)
                hi = f == 4 ? 6 : hi_lim; /* "5/15": from 5 to the end, every 15 */
        }
        if (*p && *p != ',')
            return drudge_seterr(err, DRUDGE_EINPUT, "cron \"%s\": %s: unexpected '%c' in \"%s\"",
                                 expr, fname, *p, text);
        int bad = lo < lo_lim || lo > hi_lim ? lo : hi < lo_lim || hi > hi_lim ? hi : -1;
        if (bad >= 0)
            return drudge_seterr(err, DRUDGE_EINPUT, "cron \"%s\": %s: %d is out of range %d-%d",
                                 expr, fname, bad, lo_lim, hi_lim);
        if (hi < lo) {
            if (f != 4)
                return drudge_seterr(err, DRUDGE_EINPUT, "cron \"%s\": %s: range %.*s is backwards",
                                     expr, fname, (int)(p - item), item);
            hi += 7; /* weekdays wrap: fri-mon */
        }
        for (int v = lo; v <= hi; v += step)
            *bits |= (uint64_t)1 << (f == 4 ? v % 7 : v);
        if (!*p)
            break;
        p++;
        continue;
    bad_value:
        return drudge_seterr(err, DRUDGE_EINPUT, "cron \"%s\": %s: bad value in \"%s\" (%s)", expr,
                             fname, text,
                             f == 3   ? "a number 1-12 or a month name such as jan"
                             : f == 4 ? "a number 0-7 or a day name such as mon"
                                      : "a number, '*', a range a-b, a list a,b or a step */n");
    }
    return DRUDGE_OK;
}

drudge_code drudge_cron_parse(const char *expr, drudge_cron *out, drudge_err *err)
{
    static const struct {
        const char *name, *expansion;
    } macros[] = {{"@hourly", "0 * * * *"},  {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
                  {"@weekly", "0 0 * * 0"},  {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
                  {"@annually", "0 0 1 1 *"}};
    char buf[256];
    memset(out, 0, sizeof *out);
    if (!expr)
        return drudge_seterr(err, DRUDGE_EINPUT, "cron expression missing");
    while (isspace((unsigned char)*expr))
        expr++;
    size_t len = strlen(expr);
    while (len && isspace((unsigned char)expr[len - 1]))
        len--;
    if (len >= sizeof buf)
        return drudge_seterr(err, DRUDGE_EINPUT, "cron expression too long (%zu bytes)", len);
    memcpy(buf, expr, len);
    buf[len] = '\0';
    const char *text = buf;
    if (buf[0] == '@') {
        text = NULL;
        for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
            if (!strcasecmp(buf, macros[i].name))
                text = macros[i].expansion;
        if (!text)
            return drudge_seterr(err, DRUDGE_EINPUT,
                                 "cron \"%s\": unknown macro (use @hourly, @daily, @weekly, "
                                 "@monthly or @yearly)",
                                 buf);
    }
    char fields[5][64];
    int nf = 0;
    for (const char *p = text; *p;) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *s = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (nf < 5) {
            if ((size_t)(p - s) >= sizeof fields[0])
                return drudge_seterr(err, DRUDGE_EINPUT, "cron \"%s\": %s field too long", buf,
                                     field_names[nf]);
            memcpy(fields[nf], s, (size_t)(p - s));
            fields[nf][p - s] = '\0';
        }
        nf++;
    }
    if (nf != 5)
        return drudge_seterr(err, DRUDGE_EINPUT,
                             "cron \"%s\": expected 5 fields (minute hour day-of-month month "
                             "day-of-week), got %d",
                             buf, nf);
    uint64_t bits[5];
    unsigned char star[5];
    for (int f = 0; f < 5; f++) {
        drudge_code rc = cron_field(buf, f, fields[f], &bits[f], &star[f], err);
        if (rc)
            return rc;
    }
    out->minutes = bits[0];
    out->hours = (uint32_t)bits[1];
    out->days = (uint32_t)bits[2];
    out->months = (uint16_t)bits[3];
    out->weekdays = (uint8_t)bits[4];
    out->dom_star = star[2];
    out->dow_star = star[4];
    /* With the weekday starred, the days must exist in one of the months. */
    if (out->dow_star) {
        int ok = 0;
        for (int m = 1; m <= 12 && !ok; m++)
            if (out->months >> m & 1)
                for (int d = 1; d <= (m == 2 ? 29 : month_days(2001, m)) && !ok; d++)
                    ok = out->days >> d & 1;
        if (!ok)
            return drudge_seterr(err, DRUDGE_EINPUT,
                                 "cron \"%s\": day-of-month: never fires (no such day in the "
                                 "months given)",
                                 buf);
    }
    return DRUDGE_OK;
}

static int day_matches(const drudge_cron *c, int64_t days, int d)
{
    int dom = c->days >> d & 1, dow = c->weekdays >> weekday_of(days) & 1;
    return c->dom_star || c->dow_star ? dom && dow : dom || dow;
}

/* The first wall time (seconds, whole minutes) at or after w that matches c,
 * or -1 past year `limit`. */
static int64_t next_wall(const drudge_cron *c, int64_t w, int limit)
{
    w = floor_div(w + 59, 60) * 60;
    for (;;) {
        int64_t days = floor_div(w, 86400), secs = w - days * 86400;
        int y, m, d, h = (int)(secs / 3600), mi = (int)(secs / 60 % 60);
        civil_from_days(days, &y, &m, &d);
        if (y > limit)
            return -1;
        if (!(c->months >> m & 1))
            w = (m == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, m + 1, 1)) * 86400;
        else if (!day_matches(c, days, d))
            w = (days + 1) * 86400;
        else if (!(c->hours >> h & 1))
            w = days * 86400 + (h + 1) * 3600;
        else if (!(c->minutes >> mi & 1))
            w += 60;
        else
            return w;
    }
}

int64_t drudge_cron_next(const drudge_cron *c, const drudge_tz *tz, int64_t after)
{
    int every_hour = (c->hours & 0xffffff) == 0xffffff;
    int y, m, d;
    civil_from_days(floor_div(after, 86400), &y, &m, &d);
    int limit = y + SEARCH_YEARS;
    int64_t best = -1;
    /* An instant i has wall time i + off(i) with off in [minoff, maxoff]:
     * walk matching wall times from the earliest that could map after
     * `after`, until none could map before the best found. */
    for (int64_t w = after + tz->minoff + 1;;) {
        w = next_wall(c, w, limit);
        if (w < 0 || (best >= 0 && w - tz->maxoff > best))
            break;
        int64_t inst[2], gap = 0;
        int n = wall_to_utc(tz, w, inst, &gap);
        if (n == 0)
            inst[n++] = gap;
        else if (n == 2 && !every_hour)
            n = 1; /* a repeated local time fires at its first occurrence only */
        for (int k = 0; k < n; k++)
            if (inst[k] > after && (best < 0 || inst[k] < best))
                best = inst[k];
        w += 60;
    }
    return best;
}

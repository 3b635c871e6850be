/*
 * cron.h: five-field cron expressions and IANA time zones (runner/calendar/cron.c).
 *
 * Time zones are read from the system's tzdata (TZif files under
 * /usr/share/zoneinfo, or $TZDIR) by drudge's own code: no setenv("TZ") and
 * tzset(), which are process-global and not thread-safe. A loaded zone is
 * immutable and cached for the life of the process, so any thread may use it.
 *
 * Times here are seconds since the epoch, UTC (int64_t), unless named _us.
 */
#ifndef DRUDGE_CRON_H
#define DRUDGE_CRON_H

#include <stdint.h>
#include "drudge/error.h"

typedef struct drudge_tz drudge_tz;

/* Finds the zone called name ("Europe/London", "UTC", "America/New_York"), or
 * the machine's zone when name is NULL or "" ($TZ, else /etc/localtime).
 * *out is owned by the cache and valid until exit. Errors name the zone and
 * the reason (no such zone, not a TZif file). Thread-safe. */
drudge_code drudge_tz_get(const char *name, const drudge_tz **out /* OUT */, drudge_err *err);
/* The zone's name as given, or the machine zone's name ("Etc/UTC"). */
const char *drudge_tz_name(const drudge_tz *tz);
/* The UTC offset in seconds in force at t (east of Greenwich positive). */
int drudge_tz_offset(const drudge_tz *tz, int64_t t);

/* A broken-down local time. */
typedef struct drudge_civil {
    int year, month, day;     /* month 1-12, day 1-31 */
    int hour, minute, second; /* 0-23, 0-59, 0-59 */
    int wday;                 /* 0 = Sunday */
    int utoff;                /* seconds east of UTC */
} drudge_civil;
void drudge_tz_civil(const drudge_tz *tz, int64_t t, drudge_civil *out /* OUT */);
/* Formats t in tz as "2026-03-29T02:00:00+01:00" into out[32]. */
void drudge_tz_format(const drudge_tz *tz, int64_t t, char out[32]);

/* A parsed cron expression: one bit per allowed value. */
typedef struct drudge_cron {
    uint64_t minutes; /* bits 0-59 */
    uint32_t hours;   /* bits 0-23 */
    uint32_t days;    /* bits 1-31 */
    uint16_t months;  /* bits 1-12 */
    uint8_t weekdays; /* bits 0-6, Sunday = 0 */
    /* The field began with '*': as in Vixie cron, day-of-month and
     * day-of-week restrict together (AND) when either is starred, and
     * either may match (OR) when both are restricted. */
    unsigned char dom_star, dow_star;
} drudge_cron;

/* Parses "MIN HOUR DOM MON DOW" (lists "1,15", ranges "1-5", steps "*\/15" and
 * "8-18/2", month names jan-dec, weekday names sun-sat, 0 or 7 = Sunday,
 * wrapping weekday ranges "fri-mon") or @hourly, @daily (@midnight),
 * @weekly, @monthly, @yearly (@annually). Errors name the field and the
 * reason: `hour: 24 is out of range 0-23`. */
drudge_code drudge_cron_parse(const char *expr, drudge_cron *out /* OUT */, drudge_err *err);

/* The first fire time strictly after `after`, in zone tz, or -1 if there is
 * none in the next 30 years. Across daylight-saving changes:
 * - a local time skipped by a spring-forward change fires once, at the
 *   instant of the change (01:30 Europe/London on the last Sunday of March
 *   fires at 02:00 BST);
 * - a local time repeated by a fall-back change fires once, at its first
 *   occurrence, unless the hour field is '*' (every hour): then it fires in
 *   both occurrences, keeping an hourly or more frequent cadence. */
int64_t drudge_cron_next(const drudge_cron *c, const drudge_tz *tz, int64_t after);

#endif

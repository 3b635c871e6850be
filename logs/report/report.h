/*
 * report.h: the time-saved report (logs/report/report.c computes it, logs/report/report_html.c
 * renders the HTML form).
 *
 * For each group of finished tasks (done, failed or dead), grouped by the UTC
 * day, ISO week or month of the task's finish time, or by script:
 *   gross minutes = Σ manual_minutes of done tasks
 *   lost minutes  = Σ exception_minutes of failed and dead tasks (also those
 *                   a person later resolved by hand: that person spent the time)
 *   late minutes  = Σ exception_minutes of done tasks that missed their
 *                   deadline during an outage (deadline.h: missed, why
 *                   outage): the robot did them, too late, and a person
 *                   handled the breach
 *   net hours     = (gross - lost - late) / 60
 *   outage minutes = the staff minutes outages cost: Σ exception_minutes of
 *                   the failed and dead tasks that finished while a target
 *                   their script uses was down (from an outage's start to
 *                   its end), plus late minutes; each task once, and all of
 *                   it in lost + late, so net hours subtract it
 *   down hours    = Σ over outages of the time each overlaps the range (to
 *                   now while open): the robot hours unavailable
 * with the minutes taken from each task's row (the value in force when it was
 * enqueued), never from the script's current source. Beside them: success
 * rate, first-time-right rate, mean attempts, robot time, and the backlog
 * (queued + running, now) with the days to clear it at the last 7 days' rate.
 */
#ifndef DRUDGE_REPORT_H
#define DRUDGE_REPORT_H

#include <stdint.h>
#include "drudge/error.h"
#include "logs/report/deadline.h"
#include "runner/store/store.h"

struct drudge_buf;

typedef enum drudge_report_by {
    DRUDGE_REPORT_BY_SCRIPT = 0,
    DRUDGE_REPORT_BY_DAY,
    DRUDGE_REPORT_BY_WEEK, /* ISO 8601 weeks, Monday to Sunday: "2026-W48" */
    DRUDGE_REPORT_BY_MONTH,
} drudge_report_by;

typedef struct drudge_report_opts {
    int64_t since; /* finished at or after (µs, UTC); INT64_MIN = no bound */
    int64_t until; /* finished before; INT64_MAX = no bound */
    drudge_report_by by;
    const char *script; /* only this script, or NULL for all */
    int64_t now;        /* for the backlog rate; 0 = the wall clock */
} drudge_report_opts;

/* Sums over a group's finished tasks. Derived figures are functions below. */
typedef struct drudge_report_figures {
    int64_t done, failed, dead;
    double gross_minutes;     /* Σ manual_minutes of done tasks */
    double lost_minutes;      /* Σ exception_minutes of failed and dead tasks */
    int64_t first_time_right; /* done with exactly one attempt */
    int64_t attempts;         /* attempt rows of these tasks */
    int64_t robot_us;         /* Σ (ended_at - started_at) of those attempts */
    double late_minutes;      /* Σ exception_minutes of done tasks late because of an outage */
    double outage_minutes;    /* the part of lost + late that outages caused */
    int64_t outage_late;      /* the done tasks late_minutes counts */
} drudge_report_figures;

/* An outage (drudge outages) that overlaps the report's range. */
typedef struct drudge_report_outage {
    int64_t id;
    char *target, *trigger;
    char *scripts;      /* ",a,b," : the scripts that use the target, for matching */
    int64_t start, end; /* end 0: still open */
    int64_t down_us;    /* the part of it inside the range (to now while open) */
    int64_t tasks_held, attempts_spent;
} drudge_report_outage;

typedef struct drudge_report_group {
    char *key;        /* "2026-11-23", "2026-W48", "2026-11", a script name, "total" */
    int64_t start_us; /* start of the period (UTC); 0 for script groups and the total */
    drudge_report_figures f;
    int has_backlog; /* script groups and the total carry a backlog */
    int64_t queued, running;
    int64_t finished_7d; /* tasks finished in the 7 days before opts.now */
} drudge_report_group;

/* One script's figures on one UTC day: the raw cells everything is summed
 * from, kept for charts. Sorted by day, then script. */
typedef struct drudge_report_cell {
    char *script;
    int64_t day; /* days since 1970-01-01 (UTC) */
    drudge_report_figures f;
} drudge_report_cell;

/* The net minutes one script saved in one step of the timeline (for the
 * chart of net hours over time). Sorted by time, then script. */
typedef struct drudge_report_point {
    char *script;
    int64_t t; /* start of the step, µs (UTC) */
    double net_minutes;
} drudge_report_point;

/* A failed or dead task of the report's period, for its exceptions section. */
typedef struct drudge_report_exception {
    int64_t id, finished_at, resolved_at; /* resolved_at 0: unresolved */
    char *script, *state, *key, *error, *resolved_by, *resolved_note; /* NULL if none */
} drudge_report_exception;

/* What the audit trail said when the report was made (drudge_report_audit). */
typedef struct drudge_report_trail {
    int checked;        /* drudge_report_audit ran */
    int verified;       /* audit verify found nothing wrong */
    int problems;       /* ... or this many problems */
    char *problem_text; /* their lines, or why verifying could not run */
    int64_t rows, head_id;
    char head[65]; /* the chain head in the report's snapshot */
} drudge_report_trail;

typedef struct drudge_report {
    drudge_report_opts opts;
    int64_t generated_at;        /* µs */
    drudge_report_group *groups; /* sorted by period, or by script name */
    size_t ngroups;
    drudge_report_group total;
    drudge_report_cell *cells;
    size_t ncells;
    /* The timeline: the finish times in range cut into steps of step_us,
     * the shortest of 10, 50, 100, 250, 500 ms, 1, 5, 15 s, 1, 5, 15 min,
     * 1, 3, 6 h, 1, 7, 30 days giving at most 200 steps. */
    drudge_report_point *points;
    size_t npoints;
    int64_t step_us;
    int64_t first_us, last_us; /* first and last finish time in range */
    /* The exceptions (drudge_report_audit): the newest failed and dead tasks
     * in range, newest first, at most DRUDGE_REPORT_MAX_EXCEPTIONS of the
     * exceptions_total the figures count. */
    drudge_report_exception *exceptions;
    size_t nexceptions;
    int64_t exceptions_total;
    drudge_report_trail trail;
    drudge_report_outage *outages; /* oldest first */
    size_t noutages;
    int64_t down_us; /* Σ down_us: the robot hours unavailable */
    /* The tasks whose deadline falls in the range (of opts.script, or all):
     * met, pending, at risk and missed, and why (deadline.h). */
    drudge_deadline_counts deadlines;
    char deadline_outages[256]; /* the targets missed deadlines are attributed to */
} drudge_report;

#define DRUDGE_REPORT_MAX_EXCEPTIONS 200

/* Computes the report in one read transaction of s (call it outside any
 * transaction). *out is freed by the caller with drudge_report_free. */
drudge_code drudge_report_compute(drudge_store *s, const drudge_report_opts *opts,
                                  drudge_report **out /* OUT */, drudge_err *err);
void drudge_report_free(drudge_report *r);
/* Adds what an auditor reads beside the figures (logs/report/report_audit.c):
 * verifies the whole audit trail (drudge_audit_verify), notes the chain
 * head, and lists the period's exceptions with their errors and
 * resolutions. A trail that does not verify is reported in r->trail, not as
 * an error. Call it outside any transaction, after drudge_report_compute. */
drudge_code drudge_report_audit(drudge_store *s, drudge_report *r, drudge_err *err);
/* Frees what drudge_report_audit added (drudge_report_free calls it). */
void drudge_report_audit_clear(drudge_report *r);

/* Derived figures. Rates and means are NAN when nothing finished. */
int64_t drudge_report_finished(const drudge_report_figures *f);
double drudge_report_net_hours(const drudge_report_figures *f);
double drudge_report_success_rate(const drudge_report_figures *f);
double drudge_report_ftr_rate(const drudge_report_figures *f);
double drudge_report_mean_attempts(const drudge_report_figures *f);
/* finished_7d / 7. */
double drudge_report_rate_per_day(const drudge_report_group *g);
/* 0 with no backlog; INFINITY with a backlog and no completions in 7 days. */
double drudge_report_days_to_clear(const drudge_report_group *g);

/* "day", "week", "month", "script"; parse returns -1 on an unknown name. */
const char *drudge_report_by_name(drudge_report_by by);
int drudge_report_parse_by(const char *s, drudge_report_by *out);
/* The key of the period holding a UTC day (days since the epoch). */
void drudge_report_period(drudge_report_by by, int64_t day, char key[40], int64_t *start_day);

/* The renderings, appended to out. */
void drudge_report_table(const drudge_report *r, struct drudge_buf *out);
void drudge_report_csv(const drudge_report *r, struct drudge_buf *out);
void drudge_report_json(const drudge_report *r, struct drudge_buf *out);
void drudge_report_html(const drudge_report *r, struct drudge_buf *out); /* report_html.c */

#endif

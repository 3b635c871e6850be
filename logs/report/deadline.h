/*
 * deadline.h: whether tasks meet their deadline, and why not
 * (logs/report/deadline.c). The definitions, as the README gives them:
 *
 *   met      done (or resolved by a person) at or before its deadline
 *   missed   done or resolved after its deadline, or not done and the
 *            deadline has passed
 *   at risk  not done, the deadline not passed, and it comes within the
 *            risk horizon (DRUDGE_DEADLINE_HORIZON, 1 h) or the task is an
 *            exception (failed or dead) waiting for a person
 *   pending  not done, the deadline further off than that
 *
 * Why a task missed (or is at risk of missing) its deadline, the first of:
 *   outage   a target its script uses was down at the deadline (or now,
 *            when the deadline is still ahead)
 *   failure  it failed, died, or spent attempts on errors
 *   queue    none of these: it waited behind other work (too few workers,
 *            a full queue, a closed window, a pause)
 * Cancelled tasks have no deadline to meet and are left out.
 */
#ifndef DRUDGE_REPORT_DEADLINE_H
#define DRUDGE_REPORT_DEADLINE_H

#include <stdint.h>
#include "drudge/error.h"
#include "runner/store/store.h"

/* DRUDGE_DEADLINE_HORIZON, an hour, is in store.h: the task filter uses it too. */

typedef enum drudge_deadline_status {
    DRUDGE_DL_PENDING = 0,
    DRUDGE_DL_MET,
    DRUDGE_DL_AT_RISK,
    DRUDGE_DL_MISSED,
} drudge_deadline_status;

typedef enum drudge_deadline_why {
    DRUDGE_WHY_NONE = 0,
    DRUDGE_WHY_OUTAGE,
    DRUDGE_WHY_FAILURE,
    DRUDGE_WHY_QUEUE,
    DRUDGE_WHY_N
} drudge_deadline_why;
/* "", "outage", "failure", "queue": the names in --json and metric labels. */
extern const char *const drudge_deadline_why_names[DRUDGE_WHY_N];
/* "pending", "met", "at_risk", "missed". */
const char *drudge_deadline_status_name(drudge_deadline_status st);

/* Classifies one task at now; *why is set for at-risk and missed tasks. */
drudge_deadline_status drudge_deadline_classify(const drudge_deadline_row *r, int64_t now,
                                                drudge_deadline_why *why /* OUT */);

/* Task t's deadline classified at now: 1 with *st, *why and target[n] (the
 * outage's target when why is outage, else "") when it has one (a
 * cancelled task has none to meet); 0 when it has none, or it cannot be
 * read (a listing goes on without it). One read of the store. */
int drudge_deadline_of_task(drudge_store *s, const drudge_task_row *t, int64_t now,
                            drudge_deadline_status *st /* OUT */,
                            drudge_deadline_why *why /* OUT */, char *target /* OUT */, size_t n);

/* Counts over the tasks whose deadline is in [since, until] (until 0: any
 * time ahead), per script and in total (script ""). */
typedef struct drudge_deadline_counts {
    char script[64];
    int64_t total, met, pending, at_risk, missed;
    int64_t missed_by[DRUDGE_WHY_N], at_risk_by[DRUDGE_WHY_N];
} drudge_deadline_counts;
typedef struct drudge_deadline_summary {
    drudge_deadline_counts all;      /* every script */
    drudge_deadline_counts *scripts; /* by script name */
    size_t nscripts;
    char outage_targets[256]; /* the targets missed deadlines are attributed to, comma-separated */
} drudge_deadline_summary;
drudge_code drudge_deadline_summarize(drudge_store *s, int64_t now, int64_t since, int64_t until,
                                      drudge_deadline_summary *out /* OUT */, drudge_err *err);
void drudge_deadline_summary_clear(drudge_deadline_summary *d);

#endif

/*
 * select.h: choosing tasks by ids, ranges and filters, and the bulk actions
 * on them (cancel, retry, resolve) that `drudge cancel 7 8 10-20`, `drudge
 * retry --dead --script x` and the control room share (runner/queue/select.c).
 *
 * A bulk action runs in one write transaction: it selects the tasks, then
 * acts on each one it applies to, appending one operator step per changed
 * task (logs/audit/operator.c), so `audit verify` checks every row. A dry
 * run selects and decides the same way, inside a transaction it rolls back.
 */
#ifndef DRUDGE_SELECT_H
#define DRUDGE_SELECT_H

#include <stddef.h>
#include <stdint.h>
#include "drudge/error.h"
#include "runner/queue/waiting.h"
#include "runner/store/store.h"

typedef struct drudge_id_range {
    int64_t lo, hi; /* inclusive */
} drudge_id_range;

typedef struct drudge_task_select {
    drudge_task_filter f;    /* script, key, key prefix, error, dates; f.state is not used */
    unsigned states;         /* bit i: drudge_task_states[i]; 0: any */
    drudge_id_range *ranges; /* ids given (malloc'd); none: any id */
    size_t nranges;
    int waiting; /* a drudge_wait_reason: queued tasks waiting for it; -1: any */
} drudge_task_select;
/* An empty selection: every task. */
void drudge_select_init(drudge_task_select *sel);
void drudge_select_clear(drudge_task_select *sel);
/* Adds "12", "#12" or "10-20" (a range, lo <= hi) to sel's ids;
 * DRUDGE_EUSAGE naming arg if it is neither, or an empty range ("20-10"). */
drudge_code drudge_select_add_ids(drudge_task_select *sel, const char *arg, drudge_err *err);
/* Adds a state by name; DRUDGE_EUSAGE listing the states if unknown. */
drudge_code drudge_select_add_state(drudge_task_select *sel, const char *state, drudge_err *err);
/* Whether sel narrows anything (a bulk action refuses to act on every task). */
int drudge_select_narrowed(const drudge_task_select *sel);
/* "ids 7, 8, 10-20, state dead, script x": what sel chose, for messages. */
void drudge_select_describe(const drudge_task_select *sel, drudge_buf *out);

/* The tasks sel chooses at now, oldest first, at most limit (0: no limit;
 * *more = 1 if there were more). rows: drudge_task_rows_free. */
drudge_code drudge_queue_select(drudge_store *s, const drudge_task_select *sel, int64_t now,
                                size_t limit, int newest_first, drudge_task_row **rows /* OUT */,
                                size_t *n /* OUT */, int *more /* OUT, may be NULL */,
                                drudge_err *err);

typedef enum drudge_bulk_action {
    DRUDGE_BULK_CANCEL, /* queued: cancelled; running: cancel requested */
    DRUDGE_BULK_RETRY,  /* failed, dead or cancelled: queued again, due now, spent reset */
    DRUDGE_BULK_RESOLVE /* failed or dead, not resolved yet: resolved with a note */
} drudge_bulk_action;
/* "cancel", "retry", "resolve" */
const char *drudge_bulk_name(drudge_bulk_action a);

typedef struct drudge_bulk_item {
    int64_t id;
    char script[64];
    char state[16];   /* before the action */
    int applies;      /* the action changes it (or, in a dry run, would) */
    int deferred;     /* cancel of a running task: requested, not yet done */
    const char *skip; /* why not ("it is done"), static text; NULL when it applies */
} drudge_bulk_item;
typedef struct drudge_bulk_result {
    drudge_bulk_item *items; /* every selected task, oldest first */
    size_t n;
    int64_t applied;  /* changed (or would be) */
    int64_t deferred; /* of applied: cancel requested of running tasks */
} drudge_bulk_result;
void drudge_bulk_result_clear(drudge_bulk_result *r);

/* Runs action on the tasks sel chooses (see above), as who (with note for
 * resolve). dry_run: decides and reports, changes nothing. Nothing applied
 * is not an error: the caller reads out->applied (the CLI exits 7). */
drudge_code drudge_queue_bulk(drudge_store *s, drudge_bulk_action action,
                              const drudge_task_select *sel, const char *who, const char *note,
                              int dry_run, int64_t now, drudge_bulk_result *out /* OUT */,
                              drudge_err *err);

#endif

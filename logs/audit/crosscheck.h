/*
 * crosscheck.h: audit verify's comparison of the task rows with the chain
 * (logs/audit/crosscheck.c); internal to logs/audit/.
 */
#ifndef DRUDGE_CROSSCHECK_H
#define DRUDGE_CROSSCHECK_H

#include <stdint.h>
#include "drudge/error.h"
#include "runner/store/store.h"

typedef struct drudge_crosscheck drudge_crosscheck;
drudge_crosscheck *drudge_crosscheck_new(void);
void drudge_crosscheck_free(drudge_crosscheck *c);
/* Each chain row that verified, in chain order. */
void drudge_crosscheck_row(drudge_crosscheck *c, const drudge_step_row *r);
/* Reads every task row and calls report(ud, message) for each one that
 * disagrees with the chain, naming the task, the field and the chain row.
 * *tasks gets the number of rows read. */
drudge_code drudge_crosscheck_tasks(drudge_crosscheck *c, drudge_store *s,
                                    void (*report)(void *ud, const char *msg), void *ud,
                                    int64_t *tasks /* OUT */, drudge_err *err);

#endif

/*
 * deadline.h: a script's default deadline ("4h", "90m", "3d", "2 working
 * days"), the time a task has from when it is due (runner/calendar/deadline.c).
 */
#ifndef DRUDGE_DEADLINE_H
#define DRUDGE_DEADLINE_H

#include <stdint.h>
#include "drudge/error.h"

/* Validates rule; on error fills err saying what is wrong and what is
 * accepted. */
drudge_code drudge_deadline_parse(const char *rule, drudge_err *err);
/* The deadline (µs, UTC) rule gives a task due at from: from plus the
 * duration, or for "N working days" the same local time N weekdays (Monday
 * to Friday) later, a weekend start counting from Monday 00:00. 0 if rule is
 * NULL or invalid. */
int64_t drudge_deadline_after(const char *rule, int64_t from_us);

#endif

/*
 * window.h: run windows ("Mon-Fri 18:00-07:30", "Sat,Sun 00:00-24:00",
 * clauses joined with ';', an optional last word naming the IANA zone), the
 * hours in which a script's tasks may start (runner/calendar/window.c).
 */
#ifndef DRUDGE_WINDOW_H
#define DRUDGE_WINDOW_H

#include <stdint.h>
#include "drudge/error.h"

/* 1 if now (µs, UTC) is inside spec, else 0; a NULL or empty spec is always
 * open, an invalid one never (fail closed). Thread-safe. */
int drudge_window_allows(const char *spec, int64_t now_us);
/* Validates spec; on error fills err naming the part that is wrong. */
drudge_code drudge_window_parse(const char *spec, drudge_err *err);

#endif

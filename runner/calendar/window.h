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
/* When the window is next open at or after from (µs): from itself if it is
 * open then, else the first minute it opens within the next 8 days; -1 if
 * it does not open in that time (an invalid spec never does). A NULL or
 * empty spec returns from. Windows are in whole minutes, so minute steps
 * find every opening, across daylight-saving changes too. */
int64_t drudge_window_next_open(const char *spec, int64_t from_us);
/* When the window, open at now, last opened: the start of the minute it
 * opened, at most 8 days back (then now - 8 days); now if it is closed.
 * A NULL or empty spec (always open) returns 0. */
int64_t drudge_window_opened_at(const char *spec, int64_t now_us);
/* Validates spec; on error fills err naming the part that is wrong. */
drudge_code drudge_window_parse(const char *spec, drudge_err *err);

#endif

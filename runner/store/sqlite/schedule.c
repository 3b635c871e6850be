/* schedule.c: the SQLite backend's schedules table (schema.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "runner/store/sqlite/sqliteint.h"

drudge_code sq_schedule_add(drudge_store *s, const drudge_schedule *sc, int64_t now,
                            drudge_err *err)
{
    static const char sql[] =
        "INSERT INTO schedules(name, cron, tz, script, script_path, input, priority, catch_up, "
        "window, max_attempts, manual_minutes, exception_minutes, paused, last_tick, created_at) "
        "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?14) "
        "ON CONFLICT(name) DO NOTHING";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "schedule add", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, sc->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, sc->cron, -1, SQLITE_STATIC);
    sq_bind_text(st, 3, sc->tz && *sc->tz ? sc->tz : NULL);
    sqlite3_bind_text(st, 4, sc->script, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, sc->script_path, -1, SQLITE_STATIC);
    sq_bind_text(st, 6, sc->input);
    sqlite3_bind_int(st, 7, sc->priority);
    sqlite3_bind_text(st, 8, sc->catch_up ? sc->catch_up : "latest", -1, SQLITE_STATIC);
    sq_bind_text(st, 9, sc->window);
    sqlite3_bind_int(st, 10, sc->max_attempts > 0 ? sc->max_attempts : 3);
    sqlite3_bind_double(st, 11, sc->manual_minutes);
    sqlite3_bind_double(st, 12, sc->exception_minutes);
    sqlite3_bind_int(st, 13, sc->paused != 0);
    sqlite3_bind_int64(st, 14, now);
    drudge_code rc = sq_done(q, st, "schedule add", err);
    if (!rc && sq_changes(q) == 0)
        rc = drudge_seterr(err, DRUDGE_ESTATE,
                           "schedule '%s' already exists (remove it first with schedule rm)",
                           sc->name);
    return rc;
}

/* Runs sql on the schedule called name (?1) with a (?2); DRUDGE_ENOTFOUND
 * if there is none. */
static drudge_code exec_named(sq_store *q, const char *sql, const char *name, int64_t a,
                              const char *what, drudge_err *err)
{
    sqlite3_stmt *st = sq_stmt(q, sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, a);
    drudge_code rc = sq_done(q, st, what, err);
    if (!rc && sq_changes(q) == 0)
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "no schedule named '%s'", name);
    return rc;
}

drudge_code sq_schedule_remove(drudge_store *s, const char *name, drudge_err *err)
{
    static const char sql[] = "DELETE FROM schedules WHERE name = ?1 AND ?2 = ?2";
    return exec_named(sq(s), sql, name, 0, "schedule rm", err);
}

drudge_code sq_schedule_set_paused(drudge_store *s, const char *name, int paused, int64_t now,
                                   drudge_err *err)
{
    static const char pause_sql[] = "UPDATE schedules SET paused = 1 WHERE name = ?1 AND ?2 = ?2";
    static const char resume_sql[] =
        "UPDATE schedules SET paused = 0, last_tick = max(last_tick, ?2) WHERE name = ?1";
    return exec_named(sq(s), paused ? pause_sql : resume_sql, name, now,
                      paused ? "schedule pause" : "schedule resume", err);
}

#define SCHEDULE_COLS                                                                              \
    "SELECT name, cron, tz, script, script_path, input, catch_up, window, priority, paused, "      \
    "max_attempts, manual_minutes, exception_minutes, last_tick, created_at FROM schedules "

static void read_schedule(sqlite3_stmt *st, drudge_schedule *s)
{
    memset(s, 0, sizeof *s); /* fields not stored (deadline_rule) start NULL */
    char **strs[] = {&s->name,        &s->cron,  &s->tz,       &s->script,
                     &s->script_path, &s->input, &s->catch_up, &s->window};
    for (int i = 0; i < 8; i++)
        *strs[i] = sq_col_strdup(st, i);
    s->priority = sqlite3_column_int(st, 8);
    s->paused = sqlite3_column_int(st, 9);
    s->max_attempts = sqlite3_column_int(st, 10);
    s->manual_minutes = sqlite3_column_double(st, 11);
    s->exception_minutes = sqlite3_column_double(st, 12);
    s->last_tick = sqlite3_column_int64(st, 13);
    s->created_at = sqlite3_column_int64(st, 14);
}

drudge_code sq_schedules(drudge_store *s, int active_only, drudge_schedule **out, int *n,
                         drudge_err *err)
{
    static const char all_sql[] = SCHEDULE_COLS "ORDER BY name";
    static const char active_sql[] = SCHEDULE_COLS "WHERE paused = 0 ORDER BY name";
    sq_store *q = sq(s);
    int cap = 0;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = sq_stmt(q, active_only ? active_sql : all_sql, "schedules", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    int r;
    for (r = sqlite3_step(st); r == SQLITE_ROW; r = sqlite3_step(st)) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = drudge_xrealloc(*out, (size_t)cap * sizeof **out);
        }
        read_schedule(st, &(*out)[(*n)++]);
    }
    sqlite3_reset(st);
    if (r == SQLITE_DONE)
        return DRUDGE_OK;
    drudge_schedule_list_free(*out, *n);
    *out = NULL;
    *n = 0;
    return sq_err(q, "schedules", err);
}

drudge_code sq_schedule_advance(drudge_store *s, const char *name, int64_t tick, drudge_err *err)
{
    static const char sql[] =
        "UPDATE schedules SET last_tick = ?2 WHERE name = ?1 AND last_tick < ?2";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "scheduler", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, tick);
    return sq_done(q, st, "scheduler", err);
}

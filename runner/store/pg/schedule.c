/* schedule.c: the PostgreSQL backend's schedules table (schema.c). Each
 * tick's task has a key of its own (runner/work/scheduler.c), so however
 * many schedulers see the same tick, the unique index on (script, key)
 * lets one enqueue through; last_tick only moves forward. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "runner/store/pg/pgint.h"

drudge_code pg_schedule_add(drudge_store *s, const drudge_schedule *sc, int64_t now,
                            drudge_err *err)
{
    static const char sql[] =
        "INSERT INTO schedules(name, cron, tz, script, script_path, input, priority, catch_up, "
        "\"window\", max_attempts, manual_minutes, exception_minutes, paused, last_tick, "
        "created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$14) "
        "ON CONFLICT (name) DO NOTHING";
    pg_params p = {0};
    int64_t changed = 0;
    pg_p_str(&p, sc->name);
    pg_p_str(&p, sc->cron);
    pg_p_str(&p, sc->tz && *sc->tz ? sc->tz : NULL);
    pg_p_str(&p, sc->script);
    pg_p_str(&p, sc->script_path);
    pg_p_str(&p, sc->input);
    pg_p_int(&p, sc->priority);
    pg_p_str(&p, sc->catch_up ? sc->catch_up : "latest");
    pg_p_str(&p, sc->window);
    pg_p_int(&p, sc->max_attempts > 0 ? sc->max_attempts : 3);
    pg_p_double(&p, sc->manual_minutes);
    pg_p_double(&p, sc->exception_minutes);
    pg_p_int(&p, sc->paused != 0);
    pg_p_int(&p, now);
    drudge_code rc = pg_exec(pgs(s), sql, &p, "schedule add", &changed, err);
    if (!rc && changed == 0)
        rc = drudge_seterr(err, DRUDGE_ESTATE,
                           "schedule '%s' already exists (remove it first with schedule rm)",
                           sc->name);
    return rc;
}

/* Runs sql on the schedule called name ($1) with a ($2); DRUDGE_ENOTFOUND
 * if there is none. */
static drudge_code exec_named(pg_store *q, const char *sql, const char *name, int64_t a,
                              const char *what, drudge_err *err)
{
    pg_params p = {0};
    int64_t changed = 0;
    pg_p_str(&p, name);
    pg_p_int(&p, a);
    drudge_code rc = pg_exec(q, sql, &p, what, &changed, err);
    if (!rc && changed == 0)
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "no schedule named '%s'", name);
    return rc;
}

drudge_code pg_schedule_remove(drudge_store *s, const char *name, drudge_err *err)
{
    static const char sql[] = "DELETE FROM schedules WHERE name = $1 AND $2::bigint = $2";
    return exec_named(pgs(s), sql, name, 0, "schedule rm", err);
}

drudge_code pg_schedule_set_paused(drudge_store *s, const char *name, int paused, int64_t now,
                                   drudge_err *err)
{
    static const char pause_sql[] =
        "UPDATE schedules SET paused = 1 WHERE name = $1 AND $2::bigint = $2";
    static const char resume_sql[] =
        "UPDATE schedules SET paused = 0, last_tick = greatest(last_tick, $2) WHERE name = $1";
    return exec_named(pgs(s), paused ? pause_sql : resume_sql, name, now,
                      paused ? "schedule pause" : "schedule resume", err);
}

#define SCHEDULE_COLS                                                                              \
    "SELECT name, cron, tz, script, script_path, input, catch_up, \"window\", priority, paused, "  \
    "max_attempts, manual_minutes, exception_minutes, last_tick, created_at FROM schedules "

drudge_code pg_schedules(drudge_store *s, int active_only, drudge_schedule **out, int *n,
                         drudge_err *err)
{
    static const char all_sql[] = SCHEDULE_COLS "ORDER BY name COLLATE \"C\"";
    static const char active_sql[] = SCHEDULE_COLS "WHERE paused = 0 ORDER BY name COLLATE \"C\"";
    *out = NULL;
    *n = 0;
    PGresult *r = pg_q(pgs(s), active_only ? active_sql : all_sql, NULL, "schedules", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    *n = PQntuples(r);
    *out = *n ? drudge_xmalloc((size_t)*n * sizeof **out) : NULL;
    for (int i = 0; i < *n; i++) {
        drudge_schedule *sc = &(*out)[i];
        char **strs[] = {&sc->name,        &sc->cron,  &sc->tz,       &sc->script,
                         &sc->script_path, &sc->input, &sc->catch_up, &sc->window};
        memset(sc, 0, sizeof *sc);
        for (int k = 0; k < 8; k++)
            *strs[k] = pg_strdup(r, i, k);
        sc->priority = (int)pg_i64(r, i, 8);
        sc->paused = (int)pg_i64(r, i, 9);
        sc->max_attempts = (int)pg_i64(r, i, 10);
        sc->manual_minutes = pg_f64(r, i, 11);
        sc->exception_minutes = pg_f64(r, i, 12);
        sc->last_tick = pg_i64(r, i, 13);
        sc->created_at = pg_i64(r, i, 14);
    }
    PQclear(r);
    return DRUDGE_OK;
}

drudge_code pg_schedule_advance(drudge_store *s, const char *name, int64_t tick, drudge_err *err)
{
    static const char sql[] =
        "UPDATE schedules SET last_tick = $2 WHERE name = $1 AND last_tick < $2";
    pg_params p = {0};
    pg_p_str(&p, name);
    pg_p_int(&p, tick);
    return pg_exec(pgs(s), sql, &p, "scheduler", NULL, err);
}

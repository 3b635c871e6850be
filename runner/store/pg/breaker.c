/* breaker.c: the PostgreSQL backend's circuit breakers and outages (schema
 * v5), as SQLite's: a breaker row per open target, an outage row per
 * opening, which targets each script uses. Each operation is one
 * statement, so two workers opening (or closing) the same breaker at once
 * make one outage: the breaker row's primary key decides which. */
#include <stdlib.h>
#include <string.h>
#include "runner/store/pg/pgint.h"

/* The target's scripts ($1: the target). */
#define TARGET_SCRIPTS "(SELECT script FROM script_targets WHERE target = $1::text)"
#define HELD           "(SELECT count(*) FROM tasks WHERE state = 'queued' AND script IN " TARGET_SCRIPTS ")"

/* The breaker row first (ON CONFLICT: open already, nothing happens), its
 * outage with the id it took; the foreign key is checked at the
 * statement's end, when both rows are there. */
static const char open_sql[] =
    "WITH b AS (INSERT INTO breakers(target, outage_id, probe_at) "
    "VALUES ($1::text, nextval('outages_id_seq'), $6::bigint) "
    "ON CONFLICT (target) DO NOTHING RETURNING outage_id) "
    "INSERT INTO outages(id, target, started_at, opened_at, trigger, opened_by, tasks_held) "
    "SELECT b.outage_id, $1::text, $2::bigint, $3::bigint, $4::text, $5::text, " HELD " FROM b "
    "RETURNING id";
/* Counted attempts (system errors, timeouts, memory, lost) of the target's
 * scripts that ended during the outage. */
static const char close_sql[] =
    "WITH b AS (DELETE FROM breakers WHERE target = $1::text RETURNING outage_id, probes) "
    "UPDATE outages o SET ended_at = $2::bigint, probes = b.probes, "
    "tasks_held = greatest(o.tasks_held, " HELD "), "
    "attempts_spent = (SELECT count(*) FROM attempts a JOIN tasks t ON t.id = a.task_id "
    "WHERE a.ended_at >= o.started_at AND a.ended_at <= $2::bigint "
    "AND a.outcome IN ('error', 'timeout', 'memory', 'lost') AND t.script IN " TARGET_SCRIPTS
    ") FROM b WHERE o.id = b.outage_id RETURNING o.id";
static const char probe_sql[] =
    "WITH b AS (UPDATE breakers SET probe_at = $3::bigint, probes = probes + 1 "
    "WHERE target = $1::text AND probe_at <= $2::bigint RETURNING outage_id) "
    "UPDATE outages o SET tasks_held = greatest(o.tasks_held, " HELD ") "
    "FROM b WHERE o.id = b.outage_id RETURNING o.id";
/* Open already: the outage began at this process's first error if earlier. */
static const char earlier_sql[] =
    "UPDATE outages o SET started_at = least(o.started_at, $2::bigint) FROM breakers b "
    "WHERE b.target = $1::text AND o.id = b.outage_id";
static const char learn_sql[] =
    "INSERT INTO script_targets(target, script, declared) VALUES ($1::text, $2::text, $3) "
    "ON CONFLICT (target, script) DO UPDATE SET declared = excluded.declared "
    "WHERE script_targets.declared < excluded.declared";

/* Runs sql, which returns the outage's id when it changed something. */
static drudge_code id_of(pg_store *q, const char *sql, const pg_params *p, const char *what,
                         int *changed, int64_t *outage_id, drudge_err *err)
{
    int64_t id = 0;
    drudge_code rc = pg_int(q, sql, p, what, &id, err);
    if (!rc && id) {
        *changed = 1;
        *outage_id = id;
    }
    return rc;
}

drudge_code pg_breaker(drudge_store *s, const drudge_breaker_event *ev, int *changed,
                       int64_t *outage_id, drudge_err *err)
{
    pg_store *q = pgs(s);
    int64_t ignored = 0;
    pg_params p = {0};
    drudge_code rc;
    if (!outage_id)
        outage_id = &ignored;
    pg_p_str(&p, ev->target);
    switch (ev->op) {
    case DRUDGE_BREAKER_OPEN:
        pg_p_int(&p, ev->first_at && ev->first_at < ev->at ? ev->first_at : ev->at);
        pg_p_int(&p, ev->at);
        pg_p_str(&p, ev->trigger ? ev->trigger : "");
        pg_p_str(&p, ev->by);
        pg_p_int(&p, ev->next);
        rc = ev->extend
                 ? DRUDGE_OK
                 : id_of(q, open_sql, &p, "opening a circuit breaker", changed, outage_id, err);
        if (!rc && !*changed) {
            pg_params e = {0};
            pg_p_str(&e, ev->target);
            pg_p_int(&e, ev->first_at ? ev->first_at : ev->at);
            rc = pg_exec(q, earlier_sql, &e, "opening a circuit breaker", NULL, err);
        }
        return rc;
    case DRUDGE_BREAKER_CLOSE:
        pg_p_int(&p, ev->at);
        rc = id_of(q, close_sql, &p, "closing a circuit breaker", changed, outage_id, err);
        if (!rc && *changed)
            pg_note_ready(q, ev->at); /* idle workers elsewhere: the held tasks are claimable */
        return rc;
    case DRUDGE_BREAKER_PROBE:
        pg_p_int(&p, ev->at);
        pg_p_int(&p, ev->next);
        return id_of(q, probe_sql, &p, "taking a circuit breaker's probe", changed, outage_id, err);
    case DRUDGE_BREAKER_LEARN: {
        int64_t n = 0;
        pg_p_str(&p, ev->script ? ev->script : "");
        pg_p_int(&p, ev->declared != 0);
        rc = pg_exec(q, learn_sql, &p, "recording a script's target", &n, err);
        *changed = !rc && n > 0;
        return rc;
    }
    }
    return drudge_seterr(err, DRUDGE_EUSAGE, "database %s: unknown circuit breaker operation %d",
                         q->base.name, (int)ev->op);
}

/* Calls fn for each row of r, whose columns are a drudge_outage_row's. */
static void outage_rows(const PGresult *r, drudge_outage_fn fn, void *ud)
{
    for (int i = 0; i < PQntuples(r); i++) {
        drudge_outage_row o = {.id = pg_i64(r, i, 0),
                               .target = pg_text(r, i, 1),
                               .trigger = pg_text(r, i, 2),
                               .opened_by = pg_text(r, i, 3),
                               .started_at = pg_i64(r, i, 4),
                               .opened_at = pg_i64(r, i, 5),
                               .ended_at = pg_i64(r, i, 6),
                               .probe_at = pg_i64(r, i, 7),
                               .probes = (int)pg_i64(r, i, 8),
                               .tasks_held = pg_i64(r, i, 9),
                               .attempts_spent = pg_i64(r, i, 10),
                               .scripts = pg_text(r, i, 11)};
        if (fn(ud, &o) != 0)
            break;
    }
}

static drudge_code rows(pg_store *q, const char *sql, const pg_params *p, const char *what,
                        drudge_outage_fn fn, void *ud, drudge_err *err)
{
    PGresult *r = pg_q(q, sql, p, what, err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    outage_rows(r, fn, ud);
    PQclear(r);
    return DRUDGE_OK;
}

drudge_code pg_breakers(drudge_store *s, drudge_outage_fn fn, void *ud, drudge_err *err)
{
    static const char sql[] =
        "SELECT o.id, b.target, o.trigger, o.opened_by, o.started_at, o.opened_at, 0, "
        "b.probe_at, b.probes, o.tasks_held, o.attempts_spent, "
        "coalesce((SELECT string_agg(script, ',' ORDER BY script) FROM script_targets st "
        "WHERE st.target = b.target), '') "
        "FROM breakers b JOIN outages o ON o.id = b.outage_id ORDER BY b.target";
    return rows(pgs(s), sql, NULL, "reading the circuit breakers", fn, ud, err);
}

drudge_code pg_outages(drudge_store *s, int64_t since, drudge_outage_fn fn, void *ud,
                       drudge_err *err)
{
    static const char sql[] =
        "SELECT o.id, o.target, o.trigger, o.opened_by, o.started_at, o.opened_at, "
        "coalesce(o.ended_at, 0), coalesce(b.probe_at, 0), coalesce(b.probes, o.probes), "
        "o.tasks_held, o.attempts_spent, coalesce((SELECT string_agg(script, ',' ORDER BY "
        "script) FROM script_targets st WHERE st.target = o.target), '') "
        "FROM outages o LEFT JOIN breakers b ON b.outage_id = o.id "
        "WHERE o.ended_at IS NULL OR o.ended_at >= $1::bigint ORDER BY o.started_at, o.id";
    pg_params p = {0};
    pg_p_int(&p, since);
    return rows(pgs(s), sql, &p, "reading the outages", fn, ud, err);
}

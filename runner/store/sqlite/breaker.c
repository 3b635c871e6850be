/* breaker.c: the SQLite backend's circuit breakers and outages (schema
 * v9): a breaker row per open target, an outage row per opening, and which
 * targets each script uses. The claim's side (skipping held scripts) is in
 * queue.c. Opening, probing and closing are rare (a few per outage), so
 * the counts they take (queued tasks of the target's scripts, attempts
 * spent during the outage) may read more rows than a claim would. */
#include <stdlib.h>
#include <string.h>
#include "runner/store/sqlite/sqliteint.h"

/* The target's scripts, for the counts below (?1: the target). */
#define TARGET_SCRIPTS "(SELECT script FROM script_targets WHERE target = ?1)"

static const char open_find_sql[] = "SELECT outage_id FROM breakers WHERE target = ?1";
static const char held_sql[] =
    "SELECT count(*) FROM tasks WHERE state = 'queued' AND script IN " TARGET_SCRIPTS;
static const char outage_add_sql[] =
    "INSERT INTO outages(target, started_at, opened_at, trigger, opened_by, tasks_held) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char earlier_sql[] =
    "UPDATE outages SET started_at = min(started_at, ?2) WHERE id = ?1";
static const char breaker_add_sql[] =
    "INSERT INTO breakers(target, outage_id, probe_at) VALUES (?1, ?2, ?3)";
/* Counted attempts (system errors, timeouts, memory, lost) of the target's
 * scripts that ended during the outage. */
static const char spent_sql[] =
    "SELECT count(*) FROM attempts a JOIN tasks t ON t.id = a.task_id "
    "WHERE a.ended_at >= ?2 AND a.ended_at <= ?3 "
    "AND a.outcome IN ('error', 'timeout', 'memory', 'lost') AND t.script IN " TARGET_SCRIPTS;
static const char close_sql[] =
    "UPDATE outages SET ended_at = ?2, "
    "probes = (SELECT probes FROM breakers WHERE target = ?1), "
    "tasks_held = max(tasks_held, ?3), attempts_spent = ?4 WHERE id = ?5";
static const char breaker_del_sql[] = "DELETE FROM breakers WHERE target = ?1";
static const char probe_sql[] =
    "UPDATE breakers SET probe_at = ?3, probes = probes + 1 WHERE target = ?1 AND probe_at <= ?2";
static const char probe_held_sql[] =
    "UPDATE outages SET tasks_held = max(tasks_held, ?2) "
    "WHERE id = (SELECT outage_id FROM breakers WHERE target = ?1)";
static const char learn_sql[] =
    "INSERT INTO script_targets(target, script, declared) VALUES (?1, ?2, ?3) "
    "ON CONFLICT(target, script) DO UPDATE SET declared = max(declared, excluded.declared)";

/* One integer from sql with ?1 = target and ?2, ?3 = a, b (where it has them). */
static drudge_code target_int(sq_store *q, const char *sql, const char *target, int64_t a,
                              int64_t b, int64_t *v, drudge_err *err)
{
    sqlite3_stmt *st = sq_stmt(q, sql, "reading a circuit breaker", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    int np = sqlite3_bind_parameter_count(st);
    sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
    if (np >= 2)
        sqlite3_bind_int64(st, 2, a);
    if (np >= 3)
        sqlite3_bind_int64(st, 3, b);
    return sq_one_int(q, st, "reading a circuit breaker", v, err);
}

static drudge_code open_breaker(sq_store *q, const drudge_breaker_event *ev, int *changed,
                                int64_t *outage_id, drudge_err *err)
{
    static const char what[] = "opening a circuit breaker";
    int64_t id = 0, held = 0;
    drudge_code rc = target_int(q, open_find_sql, ev->target, 0, 0, &id, err);
    if (rc)
        return rc;
    if (!id && ev->extend)
        return DRUDGE_OK; /* closed meanwhile: nothing to extend */
    if (id) { /* open already: the outage goes on, and began at our first error if earlier */
        sqlite3_stmt *st = sq_stmt(q, earlier_sql, what, err);
        if (!st)
            return err ? err->code : DRUDGE_EDB;
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, ev->first_at ? ev->first_at : ev->at);
        return sq_done(q, st, what, err);
    }
    rc = target_int(q, held_sql, ev->target, 0, 0, &held, err);
    sqlite3_stmt *st = rc ? NULL : sq_stmt(q, outage_add_sql, what, err);
    if (!st)
        return rc ? rc : err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, ev->target, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ev->first_at && ev->first_at < ev->at ? ev->first_at : ev->at);
    sqlite3_bind_int64(st, 3, ev->at);
    sqlite3_bind_text(st, 4, ev->trigger ? ev->trigger : "", -1, SQLITE_STATIC);
    sq_bind_text(st, 5, ev->by);
    sqlite3_bind_int64(st, 6, held);
    rc = sq_done(q, st, what, err);
    if (rc)
        return rc;
    id = sqlite3_last_insert_rowid(q->db);
    st = sq_stmt(q, breaker_add_sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, ev->target, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, id);
    sqlite3_bind_int64(st, 3, ev->next);
    rc = sq_done(q, st, what, err);
    if (!rc) {
        *changed = 1;
        *outage_id = id;
    }
    return rc;
}

static drudge_code close_breaker(sq_store *q, const drudge_breaker_event *ev, int *changed,
                                 int64_t *outage_id, drudge_err *err)
{
    static const char what[] = "closing a circuit breaker";
    int64_t id = 0, held = 0, spent = 0, started = 0;
    drudge_code rc = target_int(q, open_find_sql, ev->target, 0, 0, &id, err);
    if (rc || !id)
        return rc; /* closed already */
    rc = sq_int(q, "SELECT started_at FROM outages WHERE id = ?1", what, id, &started, err);
    if (!rc)
        rc = target_int(q, held_sql, ev->target, 0, 0, &held, err);
    if (!rc)
        rc = target_int(q, spent_sql, ev->target, started, ev->at, &spent, err);
    sqlite3_stmt *st = rc ? NULL : sq_stmt(q, close_sql, what, err);
    if (!st)
        return rc ? rc : err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, ev->target, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ev->at);
    sqlite3_bind_int64(st, 3, held);
    sqlite3_bind_int64(st, 4, spent);
    sqlite3_bind_int64(st, 5, id);
    rc = sq_done(q, st, what, err);
    st = rc ? NULL : sq_stmt(q, breaker_del_sql, what, err);
    if (!st)
        return rc ? rc : err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, ev->target, -1, SQLITE_STATIC);
    rc = sq_done(q, st, what, err);
    if (!rc) {
        *changed = 1;
        *outage_id = id;
    }
    return rc;
}

static drudge_code probe_breaker(sq_store *q, const drudge_breaker_event *ev, int *changed,
                                 drudge_err *err)
{
    static const char what[] = "taking a circuit breaker's probe";
    sqlite3_stmt *st = sq_stmt(q, probe_sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, ev->target, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ev->at);
    sqlite3_bind_int64(st, 3, ev->next);
    drudge_code rc = sq_done(q, st, what, err);
    if (rc || sq_changes(q) != 1)
        return rc;
    *changed = 1;
    int64_t held = 0;
    rc = target_int(q, held_sql, ev->target, 0, 0, &held, err);
    st = rc ? NULL : sq_stmt(q, probe_held_sql, what, err);
    if (!st)
        return rc ? rc : err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, ev->target, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, held);
    return sq_done(q, st, what, err);
}

static drudge_code learn_target(sq_store *q, const drudge_breaker_event *ev, int *changed,
                                drudge_err *err)
{
    static const char what[] = "recording a script's target";
    sqlite3_stmt *st = sq_stmt(q, learn_sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, ev->target, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ev->script ? ev->script : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, ev->declared != 0);
    drudge_code rc = sq_done(q, st, what, err);
    *changed = !rc && sq_changes(q) > 0;
    return rc;
}

drudge_code sq_breaker(drudge_store *s, const drudge_breaker_event *ev, int *changed,
                       int64_t *outage_id, drudge_err *err)
{
    sq_store *q = sq(s);
    int64_t ignored = 0;
    if (!outage_id)
        outage_id = &ignored;
    switch (ev->op) {
    case DRUDGE_BREAKER_OPEN:
        return open_breaker(q, ev, changed, outage_id, err);
    case DRUDGE_BREAKER_CLOSE:
        return close_breaker(q, ev, changed, outage_id, err);
    case DRUDGE_BREAKER_PROBE:
        return probe_breaker(q, ev, changed, err);
    case DRUDGE_BREAKER_LEARN:
        return learn_target(q, ev, changed, err);
    }
    return drudge_seterr(err, DRUDGE_EUSAGE, "database %s: unknown circuit breaker operation %d",
                         q->base.name, (int)ev->op);
}

/* Runs a statement whose columns are those of a drudge_outage_row, in order. */
static drudge_code outage_rows(sq_store *q, sqlite3_stmt *st, const char *what, drudge_outage_fn fn,
                               void *ud, drudge_err *err)
{
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        drudge_outage_row o = {.id = sqlite3_column_int64(st, 0),
                               .target = sq_col_text(st, 1),
                               .trigger = sq_col_text(st, 2),
                               .opened_by = sq_col_text(st, 3),
                               .started_at = sqlite3_column_int64(st, 4),
                               .opened_at = sqlite3_column_int64(st, 5),
                               .ended_at = sqlite3_column_int64(st, 6),
                               .probe_at = sqlite3_column_int64(st, 7),
                               .probes = sqlite3_column_int(st, 8),
                               .tasks_held = sqlite3_column_int64(st, 9),
                               .attempts_spent = sqlite3_column_int64(st, 10),
                               .scripts = sq_col_text(st, 11)};
        if (fn(ud, &o) != 0)
            break;
    }
    drudge_code rc = r == SQLITE_ROW || r == SQLITE_DONE ? DRUDGE_OK : sq_err(q, what, err);
    sqlite3_reset(st);
    return rc;
}

drudge_code sq_breakers(drudge_store *s, drudge_outage_fn fn, void *ud, drudge_err *err)
{
    static const char sql[] =
        "SELECT o.id, b.target, o.trigger, o.opened_by, o.started_at, o.opened_at, 0, "
        "b.probe_at, b.probes, o.tasks_held, o.attempts_spent, "
        "coalesce((SELECT group_concat(script, ',') FROM script_targets st "
        "WHERE st.target = b.target), '') "
        "FROM breakers b JOIN outages o ON o.id = b.outage_id ORDER BY b.target";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "reading the circuit breakers", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    return outage_rows(q, st, "reading the circuit breakers", fn, ud, err);
}

drudge_code sq_outages(drudge_store *s, int64_t since, drudge_outage_fn fn, void *ud,
                       drudge_err *err)
{
    static const char sql[] =
        "SELECT o.id, o.target, o.trigger, o.opened_by, o.started_at, o.opened_at, "
        "coalesce(o.ended_at, 0), coalesce(b.probe_at, 0), coalesce(b.probes, o.probes), "
        "o.tasks_held, o.attempts_spent, coalesce((SELECT group_concat(script, ',') "
        "FROM script_targets st WHERE st.target = o.target), '') "
        "FROM outages o LEFT JOIN breakers b ON b.outage_id = o.id "
        "WHERE o.ended_at IS NULL OR o.ended_at >= ?1 ORDER BY o.started_at, o.id";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "reading the outages", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, since);
    return outage_rows(q, st, "reading the outages", fn, ud, err);
}

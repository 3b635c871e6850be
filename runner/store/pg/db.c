/* db.c: the PostgreSQL backend's connection: connecting through libpq (the
 * URL, its environment, passfile and service files: no password ever goes
 * on a command line or into a message), reconnecting after the server went
 * away, prepared statements, parameters, cursors, transactions (with the
 * chain head, done counts, step rows and NOTIFY written at commit),
 * migrating the schema under an advisory lock, and the methods table. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "drudge/util.h"
#include "runner/calendar/window.h"
#include "runner/store/pg/pgint.h"

/* How long a begin waits for a server that went away (a restart, a
 * failover) before it gives up: a worker rides out a restart instead of
 * failing its turns. */
#define RECONNECT_US (60 * (int64_t)1000000)
/* Any number both drudges agree on: the migration's advisory lock. */
#define MIGRATE_LOCK "7236551620300341"
#define WALK_BATCH   "1000"

static const drudge_store_methods pg_methods;

/* ---- parameters ---- */

void pg_p_str(pg_params *p, const char *s)
{
    p->v[p->n] = s;
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    p->n++;
}

void pg_p_int(pg_params *p, int64_t v)
{
    snprintf(p->num[p->n], sizeof p->num[0], "%lld", (long long)v);
    pg_p_str(p, p->num[p->n]);
}

void pg_p_int_or_null(pg_params *p, int64_t v)
{
    if (v)
        pg_p_int(p, v);
    else
        pg_p_str(p, NULL);
}

void pg_p_double(pg_params *p, double v)
{
    snprintf(p->num[p->n], sizeof p->num[0], "%.17g", v);
    pg_p_str(p, p->num[p->n]);
}

void pg_p_bytes(pg_params *p, const void *data, size_t len)
{
    p->v[p->n] = len ? data : "";
    p->len[p->n] = (int)len;
    p->fmt[p->n] = 1;
    p->n++;
}

/* ---- fields ---- */

char *pg_strdup(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : drudge_xstrdup(PQgetvalue(r, row, col));
}

const char *pg_text(const PGresult *r, int row, int col)
{
    return PQgetvalue(r, row, col); /* "" for a null */
}

int64_t pg_i64(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

double pg_f64(const PGresult *r, int row, int col)
{
    return strtod(PQgetvalue(r, row, col), NULL);
}

char *pg_array(const char *const *strs)
{
    if (!strs || !strs[0])
        return NULL;
    drudge_buf b = {0};
    drudge_buf_puts(&b, "{");
    for (const char *const *s = strs; *s; s++) {
        drudge_buf_puts(&b, s == strs ? "\"" : ",\"");
        for (const char *c = *s; *c; c++) {
            if (*c == '"' || *c == '\\')
                drudge_buf_puts(&b, "\\");
            drudge_buf_add(&b, c, 1);
        }
        drudge_buf_puts(&b, "\"");
    }
    drudge_buf_puts(&b, "}");
    return drudge_buf_take(&b);
}

/* ---- errors ---- */

/* libpq's messages end with a newline and may span lines: one line here. */
static void one_line(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
    for (char *c = s; *c; c++)
        if (*c == '\n' || *c == '\t')
            *c = ' ';
}

drudge_code pg_err(pg_store *q, PGresult *r, const char *what, drudge_err *err)
{
    char msg[512];
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(msg, sizeof msg, "%s",
             r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r) : PQerrorMessage(q->conn));
    one_line(msg);
    if (PQstatus(q->conn) != CONNECTION_OK)
        return drudge_seterr(err, DRUDGE_EDB, "database %s: %s: the connection was lost: %s",
                             q->base.name, what, msg);
    /* lock_not_available (NOWAIT), deadlock_detected, serialization_failure */
    int busy =
        state && (!strcmp(state, "55P03") || !strcmp(state, "40P01") || !strcmp(state, "40001"));
    return drudge_seterr(err, busy ? DRUDGE_EBUSY : DRUDGE_EDB, "database %s: %s: %s", q->base.name,
                         what, msg);
}

/* ---- connecting ---- */

/* "host:port/dbname" (or the socket directory) from a connection, for
 * messages; never the password. */
static char *conn_name(PGconn *c)
{
    drudge_buf b = {0};
    const char *host = PQhost(c), *port = PQport(c), *db = PQdb(c);
    drudge_buf_printf(&b, "%s%s%s/%s", host && *host ? host : "localhost", port && *port ? ":" : "",
                      port ? port : "", db ? db : "");
    return drudge_buf_take(&b);
}

/* The same from the connection string alone, for a server never reached. */
static char *info_name(const char *conninfo)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
    const char *host = getenv("PGHOST"), *port = getenv("PGPORT"), *db = getenv("PGDATABASE");
    drudge_buf b = {0};
    PQfreemem(msg);
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (!strcmp(o->keyword, "host") || !strcmp(o->keyword, "hostaddr"))
            host = o->val;
        else if (!strcmp(o->keyword, "port"))
            port = o->val;
        else if (!strcmp(o->keyword, "dbname"))
            db = o->val;
    }
    drudge_buf_printf(&b, "%s%s%s/%s", host && *host ? host : "localhost", port && *port ? ":" : "",
                      port && *port ? port : "", db ? db : "");
    PQconninfoFree(opts);
    return drudge_buf_take(&b);
}

PGconn *pg_connect(const char *conninfo, const char *name, drudge_err *err)
{
    const char *keys[] = {"dbname", "fallback_application_name", "connect_timeout", NULL};
    const char *vals[] = {conninfo, "drudge", "10", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (c && PQstatus(c) == CONNECTION_OK)
        return c;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", c ? PQerrorMessage(c) : "out of memory");
    one_line(msg);
    drudge_seterr(err, DRUDGE_EDB, "cannot connect to PostgreSQL database %s: %s", name, msg);
    PQfinish(c);
    return NULL;
}

/* What every connection of drudge runs with. No JIT: drudge's statements
 * are short, and a read of a large queue (status's groups of 1,000,000
 * ready rows, 1 s) spent half a second more compiling its expressions. */
static drudge_code session_setup(pg_store *q, drudge_err *err)
{
    drudge_code rc = pg_simple(q,
                               "SET client_min_messages = warning; SET TIME ZONE 'UTC'; "
                               "SET statement_timeout = 0; SET jit = off",
                               "setting up the session", err);
    if (!rc && q->sync_off)
        rc = pg_simple(q, "SET synchronous_commit = off", "setting durability", err);
    if (!rc && (q->flags & DRUDGE_STORE_READONLY))
        rc = pg_simple(q, "SET default_transaction_read_only = on", "setting up the session", err);
    /* A writer's statements each touch a turn's rows through indexes; a
     * plan that misjudged a small table (running, leases: their statistics
     * lag by seconds) as large started two parallel workers, processes of
     * the server's, for a query of a millisecond (auto_explain: Gather). */
    if (!rc && (q->flags & DRUDGE_STORE_WRITER))
        rc = pg_simple(q, "SET max_parallel_workers_per_gather = 0", "setting up the session", err);
    return rc;
}

/* Makes the connection again after the server went away, for up to
 * RECONNECT_US; prepared statements went with the old one. */
static drudge_code reconnect(pg_store *q, drudge_err *err)
{
    int64_t give_up = drudge_now_us() + RECONNECT_US;
    useconds_t pause = 100000;
    memset(q->cache, 0, sizeof q->cache);
    q->nprepared = 0;
    for (;;) {
        PQreset(q->conn);
        if (PQstatus(q->conn) == CONNECTION_OK)
            return session_setup(q, err);
        if (drudge_now_us() >= give_up) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", PQerrorMessage(q->conn));
            one_line(msg);
            return drudge_seterr(err, DRUDGE_EDB, "database %s: cannot reconnect: %s", q->base.name,
                                 msg);
        }
        usleep(pause);
        if (pause < 1000000)
            pause *= 2;
    }
}

static drudge_code ensure_connected(pg_store *q, drudge_err *err)
{
    return PQstatus(q->conn) == CONNECTION_OK ? DRUDGE_OK : reconnect(q, err);
}

/* ---- statements ---- */

static size_t cache_slot(const char *sql)
{
    uintptr_t h = (uintptr_t)sql;
    h ^= h >> 17;
    h *= 0x9e3779b97f4a7c15u;
    return (size_t)(h >> 40) & (PG_CACHE - 1);
}

/* The prepared statement's name for sql into name[16], preparing it on
 * first use. */
static drudge_code prepare(pg_store *q, const char *sql, int nparams, char name[16],
                           const char *what, drudge_err *err)
{
    size_t i = cache_slot(sql);
    for (size_t probe = 0; probe < PG_CACHE; probe++, i = (i + 1) & (PG_CACHE - 1)) {
        snprintf(name, 16, "d%zu", i);
        if (q->cache[i] == sql)
            return DRUDGE_OK;
        if (q->cache[i])
            continue;
        PGresult *r = PQprepare(q->conn, name, sql, nparams, NULL);
        drudge_code rc =
            PQresultStatus(r) == PGRES_COMMAND_OK ? DRUDGE_OK : pg_err(q, r, what, err);
        PQclear(r);
        if (!rc)
            q->cache[i] = sql;
        return rc;
    }
    return drudge_seterr(err, DRUDGE_EDB, "database %s: %s: the statement cache is full",
                         q->base.name, what);
}

PGresult *pg_q(pg_store *q, const char *sql, const pg_params *p, const char *what, drudge_err *err)
{
    char name[16];
    if (q->npending && pg_flush_pending(q, err))
        return NULL;
    if (!q->in_tx && ensure_connected(q, err))
        return NULL;
    if (prepare(q, sql, p ? p->n : 0, name, what, err))
        return NULL;
    PGresult *r = PQexecPrepared(q->conn, name, p ? p->n : 0, p ? p->v : NULL, p ? p->len : NULL,
                                 p ? p->fmt : NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return r;
    pg_err(q, r, what, err);
    PQclear(r);
    return NULL;
}

drudge_code pg_exec(pg_store *q, const char *sql, const pg_params *p, const char *what,
                    int64_t *changed, drudge_err *err)
{
    PGresult *r = pg_q(q, sql, p, what, err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    if (changed)
        *changed = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return DRUDGE_OK;
}

drudge_code pg_simple(pg_store *q, const char *sql, const char *what, drudge_err *err)
{
    PGresult *r = PQexec(q->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    drudge_code rc =
        st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? DRUDGE_OK : pg_err(q, r, what, err);
    PQclear(r);
    return rc;
}

drudge_code pg_int(pg_store *q, const char *sql, const pg_params *p, const char *what, int64_t *v,
                   drudge_err *err)
{
    PGresult *r = pg_q(q, sql, p, what, err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    if (PQntuples(r) && !PQgetisnull(r, 0, 0))
        *v = pg_i64(r, 0, 0);
    PQclear(r);
    return DRUDGE_OK;
}

/* ---- walks through cursors ---- */

static drudge_code walk_batches(pg_store *q, const char *cursor, const char *what, pg_row_fn fn,
                                void *ud, drudge_err *err)
{
    char fetch[64];
    snprintf(fetch, sizeof fetch, "FETCH " WALK_BATCH " FROM %s", cursor);
    for (;;) {
        PGresult *r = PQexec(q->conn, fetch);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            drudge_code rc = pg_err(q, r, what, err);
            PQclear(r);
            return rc;
        }
        int n = PQntuples(r), stop = 0;
        for (int i = 0; i < n && !stop; i++)
            stop = fn(ud, r, i);
        PQclear(r);
        if (stop || n == 0)
            return DRUDGE_OK;
    }
}

drudge_code pg_walk(pg_store *q, const char *sql, const pg_params *p, const char *what,
                    pg_row_fn fn, void *ud, drudge_err *err)
{
    char cursor[32];
    int own = !q->in_tx;
    drudge_buf decl = {0};
    drudge_code rc = DRUDGE_OK;
    if (q->npending)
        rc = pg_flush_pending(q, err);
    if (!rc && own)
        rc = ensure_connected(q, err);
    if (!rc && own)
        rc = pg_simple(q, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", what, err);
    if (rc)
        return rc;
    snprintf(cursor, sizeof cursor, "drudge_walk%u", ++q->cursors);
    drudge_buf_printf(&decl, "DECLARE %s NO SCROLL CURSOR FOR %s", cursor, sql);
    PGresult *r = PQexecParams(q->conn, decl.data, p ? p->n : 0, NULL, p ? p->v : NULL,
                               p ? p->len : NULL, p ? p->fmt : NULL, 0);
    rc = PQresultStatus(r) == PGRES_COMMAND_OK ? DRUDGE_OK : pg_err(q, r, what, err);
    PQclear(r);
    drudge_buf_free(&decl);
    if (!rc)
        rc = walk_batches(q, cursor, what, fn, ud, err);
    if (own) {
        PQclear(PQexec(q->conn, rc ? "ROLLBACK" : "COMMIT"));
    } else if (!rc) {
        char close[48];
        snprintf(close, sizeof close, "CLOSE %s", cursor);
        rc = pg_simple(q, close, what, err);
    }
    return rc;
}

/* ---- COPY ---- */

void pg_copy_int(drudge_buf *b, int64_t v, int null_if_zero, char sep)
{
    if (null_if_zero && !v)
        drudge_buf_puts(b, "\\N");
    else
        drudge_buf_int(b, v);
    drudge_buf_add(b, &sep, 1);
}

void pg_copy_text(drudge_buf *b, const char *s, char sep)
{
    if (!s) {
        drudge_buf_puts(b, "\\N");
    } else {
        const char *start = s;
        for (; *s; s++) {
            const char *esc = *s == '\\'   ? "\\\\"
                              : *s == '\n' ? "\\n"
                              : *s == '\r' ? "\\r"
                              : *s == '\t' ? "\\t"
                                           : NULL;
            if (!esc)
                continue;
            drudge_buf_add(b, start, (size_t)(s - start));
            drudge_buf_puts(b, esc);
            start = s + 1;
        }
        drudge_buf_add(b, start, (size_t)(s - start));
    }
    drudge_buf_add(b, &sep, 1);
}

drudge_code pg_copy_send(pg_store *q, const char *copy_sql, const char *data, size_t len,
                         const char *what, drudge_err *err)
{
    PGresult *r = PQexec(q->conn, copy_sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        drudge_code rc = pg_err(q, r, what, err);
        PQclear(r);
        return rc;
    }
    PQclear(r);
    int ok = PQputCopyData(q->conn, data ? data : "", (int)len) == 1;
    ok = PQputCopyEnd(q->conn, ok ? NULL : "drudge could not send the rows") == 1 && ok;
    drudge_code rc = DRUDGE_OK;
    while ((r = PQgetResult(q->conn))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && !rc)
            rc = pg_err(q, r, what, err);
        PQclear(r);
    }
    if (!ok && !rc)
        rc = pg_err(q, NULL, what, err);
    return rc;
}

drudge_code pg_flush_pending(pg_store *q, drudge_err *err)
{
    if (!q->npending)
        return DRUDGE_OK;
    drudge_code rc =
        pg_copy_send(q, q->pending_sql, q->pending.data, q->pending.len, "writing rows", err);
    drudge_buf_reset(&q->pending);
    q->npending = 0;
    return rc;
}

drudge_buf *pg_pending(pg_store *q, const char *copy_sql, drudge_err *err)
{
    if (q->npending && q->pending_sql != copy_sql && pg_flush_pending(q, err))
        return NULL;
    q->pending_sql = copy_sql;
    return &q->pending;
}

/* ---- what a transaction writes at its commit ---- */

static void tx_clear(pg_store *q)
{
    for (size_t i = 0; i < q->ndone; i++)
        free(q->done[i].script);
    q->ndone = 0;
    q->minutes.n = 0;
    q->head_locked = q->head_moved = 0;
    drudge_buf_reset(&q->pending);
    q->npending = 0;
    q->pending_sql = NULL;
    q->notify_at = 0;
}

void pg_count_done(pg_store *q, const char *script)
{
    for (size_t i = 0; i < q->ndone; i++)
        if (!strcmp(q->done[i].script, script)) {
            q->done[i].n++;
            return;
        }
    q->done = drudge_xrealloc(q->done, (q->ndone + 1) * sizeof *q->done);
    q->done[q->ndone].script = drudge_xstrdup(script);
    q->done[q->ndone].n = 1;
    q->ndone++;
}

void pg_note_ready(pg_store *q, int64_t run_at)
{
    if (run_at <= 0)
        run_at = 1;
    if (!q->notify_at || run_at < q->notify_at)
        q->notify_at = run_at;
}

static const char minute_sql[] =
    "INSERT INTO throughput(minute, done, failed) VALUES ($1, $2, $3) "
    "ON CONFLICT (minute) DO UPDATE SET done = throughput.done + excluded.done, "
    "failed = throughput.failed + excluded.failed";

static drudge_code minute_write(pg_store *q, const drudge_minute *m, drudge_err *err)
{
    pg_params p = {0};
    pg_p_int(&p, m->minute);
    pg_p_int(&p, m->done);
    pg_p_int(&p, m->failed);
    return pg_exec(q, minute_sql, &p, "counting attempts per minute", NULL, err);
}

drudge_code pg_count_attempt(pg_store *q, const char *outcome, int64_t ended_at, drudge_err *err)
{
    drudge_minute spill;
    return drudge_minutes_add(&q->minutes, outcome, ended_at, &spill) ? minute_write(q, &spill, err)
                                                                      : DRUDGE_OK;
}

/* Done counts go last, just before the commit: the row of a script is hot
 * (every writer adds to it), so its lock is held for the commit alone. The
 * minute's row of throughput likewise. */
static drudge_code done_flush(pg_store *q, drudge_err *err)
{
    static const char add[] = "INSERT INTO done_counts(script, n) VALUES ($1, $2) "
                              "ON CONFLICT (script) DO UPDATE SET n = done_counts.n + excluded.n";
    drudge_code rc = DRUDGE_OK;
    for (size_t i = 0; i < q->ndone && !rc; i++) {
        pg_params p = {0};
        pg_p_str(&p, q->done[i].script);
        pg_p_int(&p, q->done[i].n);
        rc = pg_exec(q, add, &p, "counting done tasks", NULL, err);
    }
    for (int i = 0; i < q->minutes.n && !rc; i++)
        rc = minute_write(q, &q->minutes.m[i], err);
    return rc;
}

static drudge_code notify(pg_store *q, drudge_err *err)
{
    static const char sql[] = "SELECT pg_notify('" PG_CHANNEL "', $1)";
    pg_params p = {0};
    pg_p_int(&p, q->notify_at);
    return pg_exec(q, sql, &p, "waking workers", NULL, err);
}

/* After the connection broke during COMMIT: whether transaction xid made it. */
static drudge_code commit_outcome(pg_store *q, const char *xid, drudge_err *err)
{
    static const char sql[] = "SELECT pg_xact_status($1::xid8)";
    drudge_err lost = *err;
    if (!*xid || reconnect(q, err))
        return lost.code ? lost.code : DRUDGE_EDB;
    pg_params p = {0};
    pg_p_str(&p, xid);
    PGresult *r = pg_q(q, sql, &p, "checking the commit", err);
    int committed = r && PQntuples(r) && !strcmp(pg_text(r, 0, 0), "committed");
    PQclear(r);
    if (committed)
        return DRUDGE_OK;
    *err = lost;
    return err->code ? err->code : DRUDGE_EDB;
}

drudge_code pg_commit(pg_store *q, drudge_err *err)
{
    static const char xid_sql[] = "SELECT coalesce(pg_current_xact_id_if_assigned()::text, '')";
    char xid[32] = "";
    drudge_code rc = pg_flush_pending(q, err);
    if (!rc)
        rc = pg_head_write(q, err);
    if (!rc)
        rc = done_flush(q, err);
    if (!rc && q->notify_at)
        rc = notify(q, err);
    if (!rc && q->how != DRUDGE_TX_READ) {
        PGresult *r = pg_q(q, xid_sql, NULL, "committing", err);
        if (!r)
            rc = err ? err->code : DRUDGE_EDB;
        else
            snprintf(xid, sizeof xid, "%s", pg_text(r, 0, 0));
        PQclear(r);
    }
    if (rc)
        return rc;
    rc = pg_simple(q, "COMMIT", "committing", err);
    if (rc && PQstatus(q->conn) != CONNECTION_OK)
        rc = commit_outcome(q, xid, err);
    q->in_tx = 0;
    tx_clear(q);
    return rc;
}

void pg_rollback(pg_store *q)
{
    if (q->in_tx && PQstatus(q->conn) == CONNECTION_OK)
        PQclear(PQexec(q->conn, "ROLLBACK"));
    q->in_tx = 0;
    tx_clear(q);
}

static drudge_code begin_how(pg_store *q, drudge_tx how, drudge_err *err)
{
    drudge_code rc = ensure_connected(q, err);
    if (rc)
        return rc;
    tx_clear(q);
    rc = pg_simple(
        q, how == DRUDGE_TX_READ ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN",
        how == DRUDGE_TX_READ ? "beginning a read transaction" : "beginning a write transaction",
        err);
    q->in_tx = !rc;
    q->how = how;
    return rc;
}

drudge_code pg_begin(pg_store *q, drudge_err *err)
{
    return begin_how(q, DRUDGE_TX_WRITE, err);
}

static drudge_code m_begin(drudge_store *s, drudge_tx how, drudge_err *err)
{
    return begin_how(pgs(s), how, err);
}

static drudge_code m_commit(drudge_store *s, drudge_err *err)
{
    return pg_commit(pgs(s), err);
}

static void m_rollback(drudge_store *s)
{
    pg_rollback(pgs(s));
}

/* ---- settings ---- */

static drudge_code m_set_durability(drudge_store *s, drudge_durability d, drudge_err *err)
{
    pg_store *q = pgs(s);
    /* A last commit made synchronous costs no more than one made
     * asynchronous and then flushed by m_sync: AT_SYNC leaves the commits
     * as they are (and m_sync then has nothing to do unless they are
     * asynchronous). */
    if (d == DRUDGE_DURABILITY_AT_SYNC)
        return DRUDGE_OK;
    q->sync_off = d == DRUDGE_DURABILITY_NORMAL;
    return pg_simple(q,
                     q->sync_off ? "SET synchronous_commit = off" : "SET synchronous_commit = on",
                     "setting durability", err);
}

/* A commit under synchronous_commit = on waits until the WAL is flushed
 * up to its own record, past every earlier commit of the session: one
 * that assigns a transaction id (so that it writes a commit record) and
 * nothing else. */
static drudge_code m_sync(drudge_store *s, drudge_err *err)
{
    pg_store *q = pgs(s);
    if (!q->sync_off)
        return DRUDGE_OK;
    q->sync_off = 0;
    return pg_simple(q, "SET synchronous_commit = on; SELECT pg_current_xact_id()",
                     "making the commits durable", err);
}

/* After a bulk load that at least doubled the queue (or filled one never
 * analyzed): fresh statistics of ready, which the claims plan on, so that
 * they are not planned on an empty queue's until autovacuum comes. tasks
 * is read only by id. A load onto a large queue leaves it to autovacuum:
 * an ANALYZE of tasks and ready after 100,000 tasks onto 1,000,000 took
 * 1.6 s, a third of the load. Best effort. */
static void m_trim(drudge_store *s)
{
    static const char sql[] =
        "SELECT (reltuples < 0 OR reltuples < $1::float8)::integer FROM pg_class "
        "WHERE oid = 'ready'::regclass";
    pg_store *q = pgs(s);
    int64_t stale = 0;
    pg_params p = {0};
    if (q->in_tx || PQstatus(q->conn) != CONNECTION_OK || !(q->flags & DRUDGE_STORE_BULK) ||
        !q->bulk_added)
        return;
    pg_p_int(&p, q->bulk_added);
    if (pg_int(q, sql, &p, "reading the size of the queue", &stale, NULL) == DRUDGE_OK && stale)
        PQclear(PQexec(q->conn, "ANALYZE ready"));
    q->bulk_added = 0;
}

/* ---- the schema ---- */

static int schema_version(void)
{
    int n = 0;
    while (pg_migrations[n])
        n++;
    return n;
}

static drudge_code read_version(pg_store *q, int *version, drudge_err *err)
{
    static const char exists[] = "SELECT to_regclass('drudge_schema') IS NOT NULL";
    static const char sql[] = "SELECT coalesce(max(version), 0) FROM drudge_schema";
    PGresult *r = pg_q(q, exists, NULL, "reading the schema version", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    int there = !strcmp(pg_text(r, 0, 0), "t");
    PQclear(r);
    int64_t v = 0;
    *version = 0;
    if (!there)
        return DRUDGE_OK;
    drudge_code rc = pg_int(q, sql, NULL, "reading the schema version", &v, err);
    *version = (int)v;
    return rc;
}

/* Two drudges starting at once against a new database: the advisory lock
 * makes the second wait for the first's migration, then find nothing to do. */
static drudge_code migrate(pg_store *q, drudge_err *err)
{
    int target = schema_version(), version = 0;
    drudge_code rc = pg_begin(q, err);
    if (!rc)
        rc =
            pg_simple(q, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")", "migrating schema", err);
    if (!rc)
        rc = read_version(q, &version, err);
    if (rc)
        goto cleanup;
    if (version > target) {
        rc = drudge_seterr(err, DRUDGE_EDB,
                           "database %s has schema version %d, newer than this drudge (%d): "
                           "upgrade drudge",
                           q->base.name, version, target);
        goto cleanup;
    }
    if (version == 0 && (q->flags & DRUDGE_STORE_NOCREATE)) {
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "database %s holds no drudge data", q->base.name);
        goto cleanup;
    }
    for (int v = version; v < target && !rc; v++) {
        char what[64], mark[96];
        snprintf(what, sizeof what, "migrating schema to version %d", v + 1);
        rc = pg_simple(q, pg_migrations[v], what, err);
        snprintf(mark, sizeof mark, "INSERT INTO drudge_schema(version) VALUES (%d)", v + 1);
        if (!rc)
            rc = pg_simple(q, mark, what, err);
    }
    if (!rc)
        rc = pg_commit(q, err);
cleanup:
    if (rc)
        pg_rollback(q);
    return rc;
}

static drudge_code check_version(pg_store *q, drudge_err *err)
{
    int version = 0;
    drudge_code rc = read_version(q, &version, err);
    if (!rc && version != schema_version())
        rc = drudge_seterr(err, DRUDGE_EDB,
                           "database %s has schema version %d, this drudge expects %d "
                           "(open it once read-write to migrate)",
                           q->base.name, version, schema_version());
    return rc;
}

/* ---- opening and closing ---- */

static void m_close(drudge_store *s)
{
    if (!s)
        return;
    pg_store *q = pgs(s);
    pg_listener_stop(q);
    tx_clear(q);
    free(q->done);
    drudge_buf_free(&q->pending);
    for (size_t i = 0; i < q->nwindows; i++)
        free(q->windows[i]);
    free(q->windows);
    for (size_t i = 0; i < q->nknown; i++)
        free(q->known_windows[i]);
    free(q->known_windows);
    PQfinish(q->conn);
    free(q->conninfo);
    free(q->base.name);
    free(q);
}

drudge_code drudge_pg_open(const char *url, int flags, drudge_store **out, drudge_err *err)
{
    char host[64] = "localhost";
    *out = NULL;
    pg_store *q = drudge_xmalloc(sizeof *q);
    memset(q, 0, sizeof *q);
    q->base.m = &pg_methods;
    q->base.name = info_name(url);
    q->conninfo = drudge_xstrdup(url);
    q->flags = flags;
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(q->origin, sizeof q->origin, "%s:%ld", host, (long)getpid());
    drudge_code rc = DRUDGE_OK;
    q->conn = pg_connect(url, q->base.name, err);
    if (!q->conn) {
        rc = err ? err->code : DRUDGE_EDB;
        goto fail;
    }
    free(q->base.name);
    q->base.name = conn_name(q->conn);
    rc = session_setup(q, err);
    if (!rc)
        rc = (flags & DRUDGE_STORE_READONLY) ? check_version(q, err) : migrate(q, err);
    if (rc)
        goto fail;
    *out = &q->base;
    return DRUDGE_OK;
fail:
    m_close(&q->base);
    return rc;
}

static const drudge_store_methods pg_methods = {
    .engine = "postgresql",
    .close = m_close,
    .set_durability = m_set_durability,
    .trim = m_trim,
    .sync = m_sync,
    .begin = m_begin,
    .commit = m_commit,
    .rollback = m_rollback,
    .enqueue = pg_enqueue,
    .known_script = pg_known_script,
    .claim = pg_claim,
    .start_adhoc = pg_start_adhoc,
    .finish = pg_finish,
    .finish_many = pg_finish_many,
    .release = pg_release,
    .mark_started = pg_mark_started,
    .unclaim = pg_unclaim,
    .renew = pg_renew,
    .cancel_requests = pg_cancel_requests,
    .cancel_requested = pg_cancel_requested,
    .expired = pg_expired,
    .expire_leases = pg_expire_leases,
    .leases_like = pg_leases_like,
    .end_lease = pg_end_lease,
    .drop_lease = pg_drop_lease,
    .idle = pg_idle,
    .list = pg_list,
    .get = pg_get,
    .task_state = pg_task_state,
    .status = pg_status,
    .retry = pg_retry,
    .retry_all = pg_retry_all,
    .cancel = pg_cancel,
    .pause = pg_pause,
    .resume = pg_resume,
    .resolve = pg_resolve,
    .next_due = pg_next_due,
    .steps = pg_steps,
    .chain_head = pg_chain_head,
    .step_hash = pg_step_hash,
    .append_step = pg_append_step,
    .append_steps = pg_append_steps,
    .put_payload = pg_put_payload,
    .payload = pg_payload,
    .payloads = pg_payloads,
    .payload_referrer = pg_payload_referrer,
    .prune = pg_prune,
    .checkpoints = pg_checkpoints,
    .last_checkpoint = pg_last_checkpoint,
    .add_checkpoint = pg_add_checkpoint,
    .count_steps = pg_count_steps,
    .attempts_unchained = pg_attempts_unchained,
    .last_recorded_attempt = pg_last_recorded_attempt,
    .schedule_add = pg_schedule_add,
    .schedule_remove = pg_schedule_remove,
    .schedule_set_paused = pg_schedule_set_paused,
    .schedules = pg_schedules,
    .schedule_advance = pg_schedule_advance,
    .finished = pg_finished,
    .attempt_times = pg_attempt_times,
    .backlog = pg_backlog,
    .backlogs = pg_backlogs,
    .metrics = pg_metrics,
    .task_facts = pg_task_facts,
    .put_script_version = pg_put_script_version,
    .script_version = pg_script_version,
    .script_file = pg_script_file,
    .script_versions = pg_script_versions,
    .watch = pg_watch,
    .copy_out = pg_copy_out,
    .copy_in = pg_copy_in,
    .copy_finish = pg_copy_finish,
    .empty = pg_empty,
    .backup = pg_backup,
    .user_add = pg_user_add,
    .user_set = pg_user_set,
    .user = pg_user,
    .users = pg_users,
    .key_add = pg_key_add,
    .key_find = pg_key_find,
    .key_drop = pg_key_drop,
    .keys = pg_keys,
    .throughput = pg_throughput,
    .keys_drop = pg_keys_drop,
    .login_fails = pg_login_fails,
    .login_note = pg_login_note,
    .paused = pg_paused,
    .waiting = pg_waiting,
    .breaker = pg_breaker,
    .breakers = pg_breakers,
    .outages = pg_outages,
    .deadlines = pg_deadlines,
    .notify_add = pg_notify_add,
    .notify_remove = pg_notify_remove,
    .notify_channels = pg_notify_channels,
    .notify_queue = pg_notify_queue,
    .notify_claim = pg_notify_claim,
    .notify_done = pg_notify_done,
    .notify_log = pg_notify_log,
    .notify_counts = pg_notify_counts,
    .notify_mark_get = pg_notify_mark_get,
    .notify_mark_set = pg_notify_mark_set,
};

/* audit.c: the SQLite backend's audit trail: chained step rows, payloads
 * (kept apart, referenced by SHA-256, prunable) and signed checkpoints.
 * The tables and their append-only triggers are in schema.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "runner/store/sqlite/sqliteint.h"

drudge_code sq_chain_head(drudge_store *s, int64_t *id, char hash[65], drudge_err *err)
{
    static const char sql[] = "SELECT id, hash FROM steps ORDER BY id DESC LIMIT 1";
    sq_store *q = sq(s);
    *id = 0;
    memset(hash, '0', 64);
    hash[64] = '\0';
    sqlite3_stmt *st = sq_stmt(q, sql, "audit append: reading chain head", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        const char *h = sq_col_text(st, 1);
        if (strlen(h) == 64)
            memcpy(hash, h, 64);
    }
    sqlite3_reset(st);
    return r == SQLITE_ROW || r == SQLITE_DONE ? DRUDGE_OK
                                               : sq_err(q, "audit append: reading chain head", err);
}

/* origin (schema v6): the machine and process that appended the row */
#define APPEND_HEAD                                                                                \
    "INSERT INTO steps(id, task_id, attempt, seq, parent, kind, name, request, response, "         \
    "started_at, duration_us, outcome, error, hash, origin) VALUES "
#define APPEND_ROW   "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
#define APPEND_COLS  15
#define APPEND_ROWS4 APPEND_ROW "," APPEND_ROW "," APPEND_ROW "," APPEND_ROW
/* Rows per statement of a batch: 16, then 4, then 1. One statement for 16
 * rows costs about a quarter less per row than 16 single-row ones (its
 * start, halt and reset are shared; measured with callgrind: 12,100
 * instructions a row eight at a time against 16,500). Each size is
 * prepared when first used. */

/* Binds one row's 15 values from parameter k + 1 on. */
static void bind_row(sq_store *q, sqlite3_stmt *st, int k, const drudge_step_row *r)
{
    const drudge_step *step = &r->step;
    sqlite3_bind_int64(st, k + 1, r->id);
    sqlite3_bind_int64(st, k + 2, r->task_id);
    sqlite3_bind_int(st, k + 3, r->attempt);
    sqlite3_bind_int(st, k + 4, step->seq);
    if (step->parent)
        sqlite3_bind_int(st, k + 5, step->parent);
    else
        sqlite3_bind_null(st, k + 5);
    sq_bind_text(st, k + 6, step->kind);
    sq_bind_text(st, k + 7, step->name);
    sq_bind_text(st, k + 8, step->request);
    sq_bind_text(st, k + 9, step->response);
    sqlite3_bind_int64(st, k + 10, step->started_us);
    sqlite3_bind_int64(st, k + 11, step->duration_us);
    sq_bind_text(st, k + 12, step->outcome);
    sq_bind_text(st, k + 13, step->error);
    sqlite3_bind_text(st, k + 14, r->hash, 64, SQLITE_STATIC);
    sqlite3_bind_text(st, k + 15, q->origin, -1, SQLITE_STATIC);
}

drudge_code sq_append_step(drudge_store *s, int64_t id, int64_t task_id, int attempt,
                           const drudge_step *step, const char *hash, drudge_err *err)
{
    drudge_step_row row = {
        .id = id, .task_id = task_id, .attempt = attempt, .step = *step, .hash = hash};
    return sq_append_steps(s, &row, 1, err);
}

/* Binds the k rows at rows to a k-row statement and runs it. */
static drudge_code put_rows(sq_store *q, const char *sql, const drudge_step_row *rows, int k,
                            drudge_err *err)
{
    sqlite3_stmt *st = sq_stmt(q, sql, "audit append", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    for (int j = 0; j < k; j++)
        bind_row(q, st, j * APPEND_COLS, &rows[j]);
    return sq_done(q, st, "audit append", err);
}

drudge_code sq_append_steps(drudge_store *s, const drudge_step_row *rows, size_t n, drudge_err *err)
{
    static const char sql16[] =
        APPEND_HEAD APPEND_ROWS4 "," APPEND_ROWS4 "," APPEND_ROWS4 "," APPEND_ROWS4;
    static const char sql4[] = APPEND_HEAD APPEND_ROWS4;
    static const char sql1[] = APPEND_HEAD APPEND_ROW;
    sq_store *q = sq(s);
    drudge_code rc = DRUDGE_OK;
    size_t i = 0;
    for (; !rc && n - i >= 16; i += 16)
        rc = put_rows(q, sql16, rows + i, 16, err);
    for (; !rc && n - i >= 4; i += 4)
        rc = put_rows(q, sql4, rows + i, 4, err);
    for (; !rc && i < n; i++)
        rc = put_rows(q, sql1, rows + i, 1, err);
    return rc;
}

drudge_code sq_put_payload(drudge_store *s, const drudge_payload *p, int64_t now, drudge_err *err)
{
    /* The same bytes seen again: note the later use (prune goes by it), and
     * put the data back if it had been pruned. */
    static const char sql[] =
        "INSERT INTO payloads(sha256, content_type, size, data, created_at, used_at) "
        "VALUES (?1,?2,?3,?4,?5,?5) "
        "ON CONFLICT(sha256) DO UPDATE SET used_at = excluded.used_at, "
        "data = coalesce(payloads.data, excluded.data), "
        "pruned_at = CASE WHEN payloads.data IS NULL THEN NULL ELSE payloads.pruned_at END "
        "WHERE excluded.used_at > payloads.used_at OR payloads.data IS NULL";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "audit append: payload", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, p->sha256, 64, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, p->content_type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)p->len);
    sqlite3_bind_blob64(st, 4, p->len ? (const void *)p->data : "", p->len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now);
    return sq_done(q, st, "audit append: payload", err);
}

/* ---- walking the chain ---- */

#define STEP_COLS                                                                                  \
    "s.id, s.task_id, s.attempt, s.seq, s.parent, s.kind, s.name, s.request, s.response, "         \
    "s.started_at, s.duration_us, s.outcome, s.error, s.hash"
#define STEP_FILTER                                                                                \
    "s.id >= ?1 AND (?2 = 0 OR s.task_id = ?2) AND (?3 = 0 OR s.attempt = ?3) "                    \
    "AND (?4 = 0 OR s.started_at >= ?4) AND (?5 = 0 OR s.started_at < ?5) "
/* The plain walks read steps alone: a join per row would cost a verify of
 * millions of rows as much again; and the walk of the whole chain (verify,
 * checkpoint) tests no filter per row, which would cost it a tenth more. */
static const char steps_chain_sql[] = "SELECT " STEP_COLS " FROM steps s WHERE s.id >= ?1 "
                                      "ORDER BY s.id";
static const char steps_sql[] =
    "SELECT " STEP_COLS " FROM steps s WHERE " STEP_FILTER "ORDER BY s.id";
static const char steps_script_sql[] =
    "SELECT " STEP_COLS
    ", t.script FROM steps s LEFT JOIN tasks t ON t.id = s.task_id WHERE " STEP_FILTER
    "AND (?6 IS NULL OR t.script = ?6) ORDER BY s.id";
static const char steps_seq_sql[] =
    "SELECT " STEP_COLS " FROM steps s WHERE " STEP_FILTER "ORDER BY s.attempt, s.seq";

/* The statement for a walk with filter f. */
static const char *steps_query(const drudge_step_filter *f)
{
    if (f->by_seq && f->task_id)
        return steps_seq_sql;
    if (f->want_script || f->script)
        return steps_script_sql;
    if (!f->task_id && !f->attempt && !f->since && !f->until)
        return steps_chain_sql;
    return steps_sql;
}

static void bind_filter(sqlite3_stmt *st, const char *sql, const drudge_step_filter *f)
{
    sqlite3_bind_int64(st, 1, f->from_id);
    if (sql == steps_chain_sql)
        return;
    sqlite3_bind_int64(st, 2, f->task_id);
    sqlite3_bind_int(st, 3, f->attempt);
    sqlite3_bind_int64(st, 4, f->since);
    sqlite3_bind_int64(st, 5, f->until);
    if (sql == steps_script_sql)
        sq_bind_text(st, 6, f->script);
}

/* The row at st's cursor; its strings are SQLite's until the next step.
 * The task's script is the column after the step's, if the query has it. */
static void read_step(sqlite3_stmt *st, int with_script, drudge_step_row *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, 0);
    r->task_id = sqlite3_column_int64(st, 1);
    r->attempt = sqlite3_column_int(st, 2);
    r->step.seq = sqlite3_column_int(st, 3);
    r->step.parent = sqlite3_column_int(st, 4);
    r->step.kind = (char *)sqlite3_column_text(st, 5);
    r->step.name = (char *)sqlite3_column_text(st, 6);
    r->step.request = (char *)sqlite3_column_text(st, 7);
    r->step.response = (char *)sqlite3_column_text(st, 8);
    r->step.started_us = sqlite3_column_int64(st, 9);
    r->step.duration_us = sqlite3_column_int64(st, 10);
    r->step.outcome = (char *)sqlite3_column_text(st, 11);
    r->step.error = (char *)sqlite3_column_text(st, 12);
    r->hash = (const char *)sqlite3_column_text(st, 13);
    if (with_script)
        r->script = (const char *)sqlite3_column_text(st, 14);
}

/* A walk prepares its own statement (not the cache's), so that its
 * callback may start another walk. */
drudge_code sq_steps(drudge_store *s, const drudge_step_filter *f, drudge_step_fn fn, void *ud,
                     drudge_err *err)
{
    sq_store *q = sq(s);
    const char *sql = steps_query(f);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sq_err(q, "reading the audit trail", err);
    bind_filter(st, sql, f);
    int r = sqlite3_step(st);
    while (r == SQLITE_ROW) {
        drudge_step_row row;
        read_step(st, sql == steps_script_sql, &row);
        if (fn(ud, &row))
            break;
        r = sqlite3_step(st);
    }
    drudge_code rc =
        r == SQLITE_ROW || r == SQLITE_DONE ? DRUDGE_OK : sq_err(q, "reading the audit trail", err);
    sqlite3_finalize(st);
    return rc;
}

drudge_code sq_step_hash(drudge_store *s, int64_t id, char hash[65], drudge_err *err)
{
    static const char sql[] = "SELECT hash FROM steps WHERE id = ?";
    sq_store *q = sq(s);
    hash[0] = '\0';
    sqlite3_stmt *st = sq_stmt(q, sql, "reading the audit trail", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        snprintf(hash, 65, "%s", sq_col_text(st, 0));
    sqlite3_reset(st);
    return r == SQLITE_ROW || r == SQLITE_DONE ? DRUDGE_OK
                                               : sq_err(q, "reading the audit trail", err);
}

drudge_code sq_count_steps(drudge_store *s, int64_t upto_id, int64_t *n, drudge_err *err)
{
    static const char sql[] = "SELECT count(*) FROM steps WHERE id <= ?";
    *n = 0;
    return sq_int(sq(s), sql, "counting the audit trail", upto_id, n, err);
}

drudge_code sq_last_recorded_attempt(drudge_store *s, int64_t task_id, int *attempt,
                                     drudge_err *err)
{
    static const char sql[] = "SELECT coalesce(max(attempt), 0) FROM steps WHERE task_id = ?";
    int64_t v = 0;
    drudge_code rc = sq_int(sq(s), sql, "reading the audit trail", task_id, &v, err);
    *attempt = (int)v;
    return rc;
}

/* An attempt the queue recorded as run by a host always has its root step in
 * the chain; one without is what is left when the chain's end is cut off. */
drudge_code sq_attempts_unchained(drudge_store *s, int64_t *task_id, int *attempt,
                                  int64_t *ended_at, int64_t *count, drudge_err *err)
{
    static const char sql[] =
        "SELECT a.task_id, a.n, a.ended_at, count(*) OVER () FROM attempts a "
        "WHERE a.outcome IN ('done','failed','error','retry','timeout','memory') AND NOT EXISTS "
        "(SELECT 1 FROM steps s WHERE s.task_id = a.task_id AND s.attempt = a.n AND s.seq = 1) "
        "ORDER BY a.ended_at LIMIT 1";
    sq_store *q = sq(s);
    *task_id = *ended_at = *count = 0;
    *attempt = 0;
    sqlite3_stmt *st = sq_stmt(q, sql, "cross-checking attempts", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *task_id = sqlite3_column_int64(st, 0);
        *attempt = sqlite3_column_int(st, 1);
        *ended_at = sqlite3_column_int64(st, 2);
        *count = sqlite3_column_int64(st, 3);
    }
    sqlite3_reset(st);
    return r == SQLITE_ROW || r == SQLITE_DONE ? DRUDGE_OK
                                               : sq_err(q, "cross-checking attempts", err);
}

/* ---- payloads ---- */

static void read_payload(sqlite3_stmt *st, int want_data, drudge_payload_row *p)
{
    memset(p, 0, sizeof *p);
    snprintf(p->sha256, sizeof p->sha256, "%s", sq_col_text(st, 0));
    p->content_type = sq_col_strdup(st, 1);
    p->size = sqlite3_column_int64(st, 2);
    p->pruned_at = sqlite3_column_int64(st, 4);
    if (!want_data || sqlite3_column_type(st, 3) == SQLITE_NULL)
        return;
    p->len = (size_t)sqlite3_column_bytes(st, 3);
    p->data = drudge_xmalloc(p->len + 1);
    if (p->len)
        memcpy(p->data, sqlite3_column_blob(st, 3), p->len);
    p->data[p->len] = 0;
}

drudge_code sq_payload(drudge_store *s, const char *sha256, int want_data, drudge_payload_row *out,
                       drudge_err *err)
{
    /* Without data, the bytes are not read at all (verify asks for every
     * payload a row references: screenshots of megabytes). */
    static const char sql[] =
        "SELECT sha256, content_type, size, data, coalesce(pruned_at, 0) FROM payloads "
        "WHERE sha256 = ?";
    static const char sql_no_data[] =
        "SELECT sha256, content_type, size, NULL, coalesce(pruned_at, 0) FROM payloads "
        "WHERE sha256 = ?";
    sq_store *q = sq(s);
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = sq_stmt(q, want_data ? sql : sql_no_data, "reading a payload", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, sha256, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        read_payload(st, want_data, out);
    sqlite3_reset(st);
    if (r == SQLITE_DONE)
        return drudge_seterr(err, DRUDGE_ENOTFOUND, "no payload %.16s...", sha256);
    return r == SQLITE_ROW ? DRUDGE_OK : sq_err(q, "reading a payload", err);
}

/* Like sq_steps, a walk of its own statement. The row's data is the
 * statement's (not copied) during fn. */
drudge_code sq_payloads(drudge_store *s, int (*fn)(void *ud, const drudge_payload_row *p), void *ud,
                        drudge_err *err)
{
    static const char sql[] =
        "SELECT sha256, content_type, size, data, coalesce(pruned_at, 0) FROM payloads "
        "ORDER BY rowid";
    sq_store *q = sq(s);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sq_err(q, "reading payloads", err);
    int r = sqlite3_step(st);
    while (r == SQLITE_ROW) {
        drudge_payload_row p = {0};
        snprintf(p.sha256, sizeof p.sha256, "%s", sq_col_text(st, 0));
        p.content_type = (char *)sqlite3_column_text(st, 1);
        p.size = sqlite3_column_int64(st, 2);
        p.pruned_at = sqlite3_column_int64(st, 4);
        if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
            p.data = (unsigned char *)sqlite3_column_blob(st, 3);
            p.len = (size_t)sqlite3_column_bytes(st, 3);
            if (!p.data)
                p.data = (unsigned char *)""; /* an empty blob is data, not NULL */
        }
        if (fn(ud, &p))
            break;
        r = sqlite3_step(st);
    }
    drudge_code rc =
        r == SQLITE_ROW || r == SQLITE_DONE ? DRUDGE_OK : sq_err(q, "reading payloads", err);
    sqlite3_finalize(st);
    return rc;
}

drudge_code sq_payload_referrer(drudge_store *s, const char *sha256, drudge_step_row *out,
                                drudge_err *err)
{
    static const char sql[] = "SELECT id, task_id, attempt, seq FROM steps WHERE "
                              "instr(request, ?1) OR instr(response, ?1) ORDER BY id LIMIT 1";
    sq_store *q = sq(s);
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = sq_stmt(q, sql, "finding a payload's step", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, sha256, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        out->id = sqlite3_column_int64(st, 0);
        out->task_id = sqlite3_column_int64(st, 1);
        out->attempt = sqlite3_column_int(st, 2);
        out->step.seq = sqlite3_column_int(st, 3);
    }
    sqlite3_reset(st);
    return r == SQLITE_ROW || r == SQLITE_DONE ? DRUDGE_OK
                                               : sq_err(q, "finding a payload's step", err);
}

/* Retention means the bytes are gone from the file, not only from the
 * table: freed space is overwritten with zeros (some SQLite builds do not by
 * default), and the WAL, which still holds the pages as they were, is
 * checkpointed and truncated after the commit. */
drudge_code sq_prune(drudge_store *s, int64_t cutoff, int64_t now, int dry_run, int64_t *n,
                     int64_t *bytes, drudge_err *err)
{
    static const char count_sql[] = "SELECT count(*), coalesce(sum(size), 0) FROM payloads "
                                    "WHERE data IS NOT NULL AND used_at < ?";
    static const char prune_sql[] = "UPDATE payloads SET data = NULL, pruned_at = ?2 "
                                    "WHERE data IS NOT NULL AND used_at < ?1";
    sq_store *q = sq(s);
    *n = *bytes = 0;
    if (!dry_run)
        sqlite3_exec(q->db, "PRAGMA secure_delete=ON", NULL, NULL, NULL);
    drudge_code rc = sq_begin(q, err);
    if (rc)
        return rc;
    sqlite3_stmt *st = sq_stmt(q, count_sql, "prune", err);
    if (!st) {
        rc = err ? err->code : DRUDGE_EDB;
        goto cleanup;
    }
    sqlite3_bind_int64(st, 1, cutoff);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *n = sqlite3_column_int64(st, 0);
        *bytes = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (r != SQLITE_ROW) {
        rc = sq_err(q, "prune", err);
        goto cleanup;
    }
    if (!dry_run && *n) {
        st = sq_stmt(q, prune_sql, "prune", err);
        if (!st) {
            rc = err ? err->code : DRUDGE_EDB;
            goto cleanup;
        }
        sqlite3_bind_int64(st, 1, cutoff);
        sqlite3_bind_int64(st, 2, now);
        rc = sq_done(q, st, "prune", err);
        if (rc)
            goto cleanup;
    }
    rc = sq_commit(q, err);
    if (!rc && !dry_run && *n)
        drudge_store_trim(s);
cleanup:
    if (rc)
        sq_rollback(q);
    return rc;
}

/* ---- checkpoints ---- */

#define CHECKPOINT_COLS                                                                            \
    "SELECT id, step_id, head_hash, row_count, created_at, public_key, signature FROM "            \
    "checkpoints "

static void read_checkpoint(sqlite3_stmt *st, drudge_checkpoint_row *c)
{
    memset(c, 0, sizeof *c);
    c->id = sqlite3_column_int64(st, 0);
    c->step_id = sqlite3_column_int64(st, 1);
    snprintf(c->head_hash, sizeof c->head_hash, "%s", sq_col_text(st, 2));
    c->row_count = sqlite3_column_int64(st, 3);
    c->created_at = sqlite3_column_int64(st, 4);
    snprintf(c->public_key, sizeof c->public_key, "%s", sq_col_text(st, 5));
    snprintf(c->signature, sizeof c->signature, "%s", sq_col_text(st, 6));
}

drudge_code sq_checkpoints(drudge_store *s, drudge_checkpoint_row **out, size_t *n, drudge_err *err)
{
    static const char sql[] = CHECKPOINT_COLS "ORDER BY step_id, id";
    sq_store *q = sq(s);
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = sq_stmt(q, sql, "reading checkpoints", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    int r = sqlite3_step(st);
    while (r == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *out = drudge_xrealloc(*out, cap * sizeof **out);
        }
        read_checkpoint(st, &(*out)[(*n)++]);
        r = sqlite3_step(st);
    }
    sqlite3_reset(st);
    if (r == SQLITE_DONE)
        return DRUDGE_OK;
    free(*out);
    *out = NULL;
    *n = 0;
    return sq_err(q, "reading checkpoints", err);
}

drudge_code sq_last_checkpoint(drudge_store *s, drudge_checkpoint_row *out, int *found,
                               drudge_err *err)
{
    static const char sql[] = CHECKPOINT_COLS "ORDER BY id DESC LIMIT 1";
    sq_store *q = sq(s);
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = sq_stmt(q, sql, "reading checkpoints", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    int r = sqlite3_step(st);
    *found = r == SQLITE_ROW;
    if (*found)
        read_checkpoint(st, out);
    sqlite3_reset(st);
    return r == SQLITE_ROW || r == SQLITE_DONE ? DRUDGE_OK : sq_err(q, "reading checkpoints", err);
}

drudge_code sq_add_checkpoint(drudge_store *s, drudge_checkpoint_row *c, drudge_err *err)
{
    static const char sql[] = "INSERT INTO checkpoints(step_id, head_hash, row_count, "
                              "created_at, public_key, signature) VALUES (?,?,?,?,?,?)";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "checkpoint", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, c->step_id);
    sqlite3_bind_text(st, 2, c->head_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, c->row_count);
    sqlite3_bind_int64(st, 4, c->created_at);
    sqlite3_bind_text(st, 5, c->public_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, c->signature, -1, SQLITE_STATIC);
    drudge_code rc = sq_done(q, st, "checkpoint", err);
    if (!rc)
        c->id = sqlite3_last_insert_rowid(q->db);
    return rc;
}

/* ---- what task rows say, for verify's cross-check ---- */

#define TASK_FACTS_SQL                                                                             \
    "SELECT id, created_at, resolved_at, state, outcome, output, resolved_by, resolved_note "      \
    "FROM tasks ORDER BY id"

static const char *opt_col(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NULL
                                                     : (const char *)sqlite3_column_text(st, i);
}

/* Its own statement, as the chain walks have: fn may use the store. */
drudge_code sq_task_facts(drudge_store *s, int (*fn)(void *ud, const drudge_task_facts *t),
                          void *ud, drudge_err *err)
{
    sq_store *q = sq(s);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(q->db, TASK_FACTS_SQL, -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return sq_err(q, "reading tasks", err);
    }
    int r = sqlite3_step(st);
    while (r == SQLITE_ROW) {
        drudge_task_facts t = {.id = sqlite3_column_int64(st, 0),
                               .created_at = sqlite3_column_int64(st, 1),
                               .resolved_at = sqlite3_column_int64(st, 2),
                               .state = opt_col(st, 3),
                               .outcome = opt_col(st, 4),
                               .output = opt_col(st, 5),
                               .resolved_by = opt_col(st, 6),
                               .resolved_note = opt_col(st, 7)};
        if (fn(ud, &t))
            break;
        r = sqlite3_step(st);
    }
    drudge_code rc =
        r == SQLITE_ROW || r == SQLITE_DONE ? DRUDGE_OK : sq_err(q, "reading tasks", err);
    sqlite3_finalize(st);
    return rc;
}

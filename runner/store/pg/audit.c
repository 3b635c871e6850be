/* audit.c: the PostgreSQL backend's audit trail: chained step rows,
 * payloads and signed checkpoints (schema.c; triggers refuse UPDATE, DELETE
 * and TRUNCATE of steps and checkpoints, and a worker role is granted
 * INSERT alone: scripts/postgres-roles.sql).
 *
 * One chain for the fleet: a write transaction that appends locks the one
 * row of chain_head first (its first chain_head or append_step), links its
 * rows from the head it read, and writes the head back at commit. Writers
 * on other machines wait for that lock, then read the head as committed, so
 * the chain never forks; an append that does not follow the head is
 * refused. Step rows are sent in one COPY at the next statement or at the
 * commit, each with the machine and process that wrote it (origin, which
 * the hash does not cover: logs/README.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "runner/store/pg/pgint.h"

#define STEPS_BATCH 1000 /* rows held before they are sent anyway */

/* Locks the head for this transaction, once; TRY does not wait for it. */
static drudge_code lock_head(pg_store *q, drudge_err *err)
{
    static const char sql[] = "SELECT id, hash FROM chain_head FOR UPDATE";
    static const char try_sql[] = "SELECT id, hash FROM chain_head FOR UPDATE NOWAIT";
    if (q->head_locked)
        return DRUDGE_OK;
    PGresult *r = pg_q(q, q->how == DRUDGE_TX_TRY ? try_sql : sql, NULL,
                       "audit append: reading chain head", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    q->head_id = PQntuples(r) ? pg_i64(r, 0, 0) : 0;
    snprintf(q->head_hash, sizeof q->head_hash, "%s", PQntuples(r) ? pg_text(r, 0, 1) : "");
    if (strlen(q->head_hash) != 64)
        memset(q->head_hash, '0', 64), q->head_hash[64] = '\0';
    PQclear(r);
    q->head_locked = 1;
    return DRUDGE_OK;
}

drudge_code pg_chain_head(drudge_store *s, int64_t *id, char hash[65], drudge_err *err)
{
    static const char sql[] = "SELECT id, hash FROM chain_head";
    pg_store *q = pgs(s);
    *id = 0;
    memset(hash, '0', 64);
    hash[64] = '\0';
    if (q->in_tx && q->how != DRUDGE_TX_READ) {
        drudge_code rc = lock_head(q, err);
        if (!rc) {
            *id = q->head_id;
            memcpy(hash, q->head_hash, 65);
        }
        return rc;
    }
    PGresult *r = pg_q(q, sql, NULL, "reading the chain head", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    if (PQntuples(r) && strlen(pg_text(r, 0, 1)) == 64) {
        *id = pg_i64(r, 0, 0);
        memcpy(hash, pg_text(r, 0, 1), 64);
    }
    PQclear(r);
    return DRUDGE_OK;
}

drudge_code pg_head_write(pg_store *q, drudge_err *err)
{
    static const char sql[] = "UPDATE chain_head SET id = $1, hash = $2";
    if (!q->head_moved)
        return DRUDGE_OK;
    pg_params p = {0};
    pg_p_int(&p, q->head_id);
    pg_p_str(&p, q->head_hash);
    q->head_moved = 0;
    return pg_exec(q, sql, &p, "audit append: moving the chain head", NULL, err);
}

drudge_code pg_append_step(drudge_store *s, int64_t id, int64_t task_id, int attempt,
                           const drudge_step *step, const char *hash, drudge_err *err)
{
    pg_store *q = pgs(s);
    if (!q->in_tx || q->how == DRUDGE_TX_READ)
        return drudge_seterr(err, DRUDGE_EUSAGE,
                             "database %s: audit append outside a write transaction", q->base.name);
    drudge_code rc = lock_head(q, err);
    if (rc)
        return rc;
    if (id != q->head_id + 1)
        return drudge_seterr(err, DRUDGE_EDB,
                             "database %s: audit append: row %lld does not follow the chain "
                             "head (%lld)",
                             q->base.name, (long long)id, (long long)q->head_id);
    static const char copy_sql[] =
        "COPY steps(id, task_id, attempt, seq, parent, kind, name, request, response, "
        "started_at, duration_us, outcome, error, hash, origin) FROM STDIN";
    drudge_buf *b = pg_pending(q, copy_sql, err);
    if (!b)
        return err ? err->code : DRUDGE_EDB;
    pg_copy_int(b, id, 0, '\t');
    pg_copy_int(b, task_id, 0, '\t');
    pg_copy_int(b, attempt, 0, '\t');
    pg_copy_int(b, step->seq, 0, '\t');
    pg_copy_int(b, step->parent, 1, '\t');
    pg_copy_text(b, step->kind, '\t');
    pg_copy_text(b, step->name, '\t');
    pg_copy_text(b, step->request, '\t');
    pg_copy_text(b, step->response, '\t');
    pg_copy_int(b, step->started_us, 0, '\t');
    pg_copy_int(b, step->duration_us, 0, '\t');
    pg_copy_text(b, step->outcome, '\t');
    pg_copy_text(b, step->error, '\t');
    pg_copy_text(b, hash, '\t');
    pg_copy_text(b, q->origin, '\n');
    q->npending++;
    q->head_id = id;
    memcpy(q->head_hash, hash, 64);
    q->head_hash[64] = '\0';
    q->head_moved = 1;
    return q->npending >= STEPS_BATCH ? pg_flush_pending(q, err) : DRUDGE_OK;
}

/* Rows go out in batches already (one COPY for up to STEPS_BATCH rows). */
drudge_code pg_append_steps(drudge_store *s, const drudge_step_row *rows, size_t n, drudge_err *err)
{
    drudge_code rc = DRUDGE_OK;
    for (size_t i = 0; i < n && !rc; i++)
        rc = pg_append_step(s, rows[i].id, rows[i].task_id, rows[i].attempt, &rows[i].step,
                            rows[i].hash, err);
    return rc;
}

drudge_code pg_put_payload(drudge_store *s, const drudge_payload *p, int64_t now, drudge_err *err)
{
    /* The same bytes seen again: note the later use, and put the data back
     * if it had been pruned. */
    static const char sql[] =
        "INSERT INTO payloads(sha256, content_type, size, data, created_at, used_at) "
        "VALUES ($1,$2,$3,$4,$5,$5) "
        "ON CONFLICT (sha256) DO UPDATE SET used_at = excluded.used_at, "
        "data = coalesce(payloads.data, excluded.data), "
        "pruned_at = CASE WHEN payloads.data IS NULL THEN NULL ELSE payloads.pruned_at END "
        "WHERE excluded.used_at > payloads.used_at OR payloads.data IS NULL";
    pg_params a = {0};
    char sha[65];
    snprintf(sha, sizeof sha, "%.64s", p->sha256);
    pg_p_str(&a, sha);
    pg_p_str(&a, p->content_type);
    pg_p_int(&a, (int64_t)p->len);
    pg_p_bytes(&a, p->data, p->len);
    pg_p_int(&a, now);
    return pg_exec(pgs(s), sql, &a, "audit append: payload", NULL, err);
}

/* ---- walking the chain ---- */

#define STEP_COLS                                                                                  \
    "s.id, s.task_id, s.attempt, s.seq, s.parent, s.kind, s.name, s.request, s.response, "         \
    "s.started_at, s.duration_us, s.outcome, s.error, s.hash"
#define STEP_FILTER                                                                                \
    "s.id >= $1::bigint AND ($2::bigint = 0 OR s.task_id = $2) AND ($3::integer = 0 OR "           \
    "s.attempt = $3) AND ($4::bigint = 0 OR s.started_at >= $4) AND ($5::bigint = 0 OR "           \
    "s.started_at < $5) "
static const char steps_chain_sql[] = "SELECT " STEP_COLS " FROM steps s WHERE s.id >= $1::bigint "
                                      "ORDER BY s.id";
static const char steps_sql[] =
    "SELECT " STEP_COLS " FROM steps s WHERE " STEP_FILTER "ORDER BY s.id";
static const char steps_script_sql[] =
    "SELECT " STEP_COLS
    ", t.script FROM steps s LEFT JOIN tasks t ON t.id = s.task_id WHERE " STEP_FILTER
    "AND ($6::text IS NULL OR t.script = $6) ORDER BY s.id";
static const char steps_seq_sql[] =
    "SELECT " STEP_COLS " FROM steps s WHERE " STEP_FILTER "ORDER BY s.attempt, s.seq";

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

static const char *opt_text(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

typedef struct step_walk {
    drudge_step_fn fn;
    void *ud;
    int with_script;
} step_walk;

static int step_row(void *ud, const PGresult *r, int i)
{
    step_walk *w = ud;
    drudge_step_row row;
    memset(&row, 0, sizeof row);
    row.id = pg_i64(r, i, 0);
    row.task_id = pg_i64(r, i, 1);
    row.attempt = (int)pg_i64(r, i, 2);
    row.step.seq = (int)pg_i64(r, i, 3);
    row.step.parent = (int)pg_i64(r, i, 4);
    row.step.kind = (char *)opt_text(r, i, 5);
    row.step.name = (char *)opt_text(r, i, 6);
    row.step.request = (char *)opt_text(r, i, 7);
    row.step.response = (char *)opt_text(r, i, 8);
    row.step.started_us = pg_i64(r, i, 9);
    row.step.duration_us = pg_i64(r, i, 10);
    row.step.outcome = (char *)opt_text(r, i, 11);
    row.step.error = (char *)opt_text(r, i, 12);
    row.hash = opt_text(r, i, 13);
    if (w->with_script)
        row.script = opt_text(r, i, 14);
    return w->fn(w->ud, &row);
}

drudge_code pg_steps(drudge_store *s, const drudge_step_filter *f, drudge_step_fn fn, void *ud,
                     drudge_err *err)
{
    const char *sql = steps_query(f);
    step_walk w = {.fn = fn, .ud = ud, .with_script = sql == steps_script_sql};
    pg_params p = {0};
    pg_p_int(&p, f->from_id);
    if (sql != steps_chain_sql) {
        pg_p_int(&p, f->task_id);
        pg_p_int(&p, f->attempt);
        pg_p_int(&p, f->since);
        pg_p_int(&p, f->until);
    }
    if (sql == steps_script_sql)
        pg_p_str(&p, f->script);
    return pg_walk(pgs(s), sql, &p, "reading the audit trail", step_row, &w, err);
}

drudge_code pg_step_hash(drudge_store *s, int64_t id, char hash[65], drudge_err *err)
{
    static const char sql[] = "SELECT hash FROM steps WHERE id = $1";
    pg_params p = {0};
    hash[0] = '\0';
    pg_p_int(&p, id);
    PGresult *r = pg_q(pgs(s), sql, &p, "reading the audit trail", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    if (PQntuples(r))
        snprintf(hash, 65, "%s", pg_text(r, 0, 0));
    PQclear(r);
    return DRUDGE_OK;
}

drudge_code pg_count_steps(drudge_store *s, int64_t upto_id, int64_t *n, drudge_err *err)
{
    static const char sql[] = "SELECT count(*) FROM steps WHERE id <= $1";
    pg_params p = {0};
    *n = 0;
    pg_p_int(&p, upto_id);
    return pg_int(pgs(s), sql, &p, "counting the audit trail", n, err);
}

drudge_code pg_last_recorded_attempt(drudge_store *s, int64_t task_id, int *attempt,
                                     drudge_err *err)
{
    static const char sql[] = "SELECT coalesce(max(attempt), 0) FROM steps WHERE task_id = $1";
    int64_t v = 0;
    pg_params p = {0};
    pg_p_int(&p, task_id);
    drudge_code rc = pg_int(pgs(s), sql, &p, "reading the audit trail", &v, err);
    *attempt = (int)v;
    return rc;
}

drudge_code pg_attempts_unchained(drudge_store *s, int64_t *task_id, int *attempt,
                                  int64_t *ended_at, int64_t *count, drudge_err *err)
{
    static const char sql[] =
        "SELECT a.task_id, a.n, a.ended_at, count(*) OVER () FROM attempts a "
        "WHERE a.outcome IN ('done','failed','error','retry','timeout','memory') AND NOT EXISTS "
        "(SELECT 1 FROM steps s WHERE s.task_id = a.task_id AND s.attempt = a.n AND s.seq = 1) "
        "ORDER BY a.ended_at LIMIT 1";
    *task_id = *ended_at = *count = 0;
    *attempt = 0;
    PGresult *r = pg_q(pgs(s), sql, NULL, "cross-checking attempts", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    if (PQntuples(r)) {
        *task_id = pg_i64(r, 0, 0);
        *attempt = (int)pg_i64(r, 0, 1);
        *ended_at = pg_i64(r, 0, 2);
        *count = pg_i64(r, 0, 3);
    }
    PQclear(r);
    return DRUDGE_OK;
}

/* ---- payloads ---- */

#define PAYLOAD_COLS "sha256, content_type, size, data, coalesce(pruned_at, 0)"

/* The row's fields into p; with want_data its bytes, malloc'd. */
static void read_payload(const PGresult *r, int i, int want_data, drudge_payload_row *p)
{
    memset(p, 0, sizeof *p);
    snprintf(p->sha256, sizeof p->sha256, "%s", pg_text(r, i, 0));
    p->content_type = pg_strdup(r, i, 1);
    p->size = pg_i64(r, i, 2);
    p->pruned_at = pg_i64(r, i, 4);
    if (!want_data || PQgetisnull(r, i, 3))
        return;
    size_t len = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 3), &len);
    p->data = drudge_xmalloc(len + 1);
    if (len)
        memcpy(p->data, raw, len);
    p->data[len] = 0;
    p->len = len;
    PQfreemem(raw);
}

drudge_code pg_payload(drudge_store *s, const char *sha256, int want_data, drudge_payload_row *out,
                       drudge_err *err)
{
    /* Without data, the bytes are not read at all. */
    static const char sql[] = "SELECT " PAYLOAD_COLS " FROM payloads WHERE sha256 = $1";
    static const char sql_no_data[] =
        "SELECT sha256, content_type, size, NULL, coalesce(pruned_at, 0) FROM payloads "
        "WHERE sha256 = $1";
    pg_params p = {0};
    memset(out, 0, sizeof *out);
    pg_p_str(&p, sha256);
    PGresult *r = pg_q(pgs(s), want_data ? sql : sql_no_data, &p, "reading a payload", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    int found = PQntuples(r) > 0;
    if (found)
        read_payload(r, 0, want_data, out);
    PQclear(r);
    return found ? DRUDGE_OK : drudge_seterr(err, DRUDGE_ENOTFOUND, "no payload %.16s...", sha256);
}

typedef struct payload_walk {
    int (*fn)(void *ud, const drudge_payload_row *p);
    void *ud;
} payload_walk;

static int payload_row(void *ud, const PGresult *r, int i)
{
    payload_walk *w = ud;
    drudge_payload_row p;
    read_payload(r, i, 1, &p);
    if (p.data && !p.len)
        p.data[0] = 0; /* an empty blob is data, not NULL */
    int stop = w->fn(w->ud, &p);
    drudge_payload_row_clear(&p);
    return stop;
}

drudge_code pg_payloads(drudge_store *s, int (*fn)(void *ud, const drudge_payload_row *p), void *ud,
                        drudge_err *err)
{
    static const char sql[] = "SELECT " PAYLOAD_COLS " FROM payloads ORDER BY n";
    payload_walk w = {.fn = fn, .ud = ud};
    return pg_walk(pgs(s), sql, NULL, "reading payloads", payload_row, &w, err);
}

drudge_code pg_payload_referrer(drudge_store *s, const char *sha256, drudge_step_row *out,
                                drudge_err *err)
{
    static const char sql[] = "SELECT id, task_id, attempt, seq FROM steps WHERE "
                              "strpos(request, $1) > 0 OR strpos(response, $1) > 0 "
                              "ORDER BY id LIMIT 1";
    pg_params p = {0};
    memset(out, 0, sizeof *out);
    pg_p_str(&p, sha256);
    PGresult *r = pg_q(pgs(s), sql, &p, "finding a payload's step", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    if (PQntuples(r)) {
        out->id = pg_i64(r, 0, 0);
        out->task_id = pg_i64(r, 0, 1);
        out->attempt = (int)pg_i64(r, 0, 2);
        out->step.seq = (int)pg_i64(r, 0, 3);
    }
    PQclear(r);
    return DRUDGE_OK;
}

/* The pruned bytes stay in dead row versions until a vacuum: one is run
 * after the commit (best effort: only the tables' owner may). */
drudge_code pg_prune(drudge_store *s, int64_t cutoff, int64_t now, int dry_run, int64_t *n,
                     int64_t *bytes, drudge_err *err)
{
    static const char count_sql[] = "SELECT count(*), coalesce(sum(size), 0) FROM payloads "
                                    "WHERE data IS NOT NULL AND used_at < $1";
    static const char prune_sql[] = "UPDATE payloads SET data = NULL, pruned_at = $2 "
                                    "WHERE data IS NOT NULL AND used_at < $1";
    pg_store *q = pgs(s);
    *n = *bytes = 0;
    drudge_code rc = pg_begin(q, err);
    if (rc)
        return rc;
    pg_params p = {0};
    pg_p_int(&p, cutoff);
    PGresult *r = pg_q(q, count_sql, &p, "prune", err);
    if (!r) {
        rc = err ? err->code : DRUDGE_EDB;
        goto cleanup;
    }
    *n = pg_i64(r, 0, 0);
    *bytes = pg_i64(r, 0, 1);
    PQclear(r);
    if (!dry_run && *n) {
        pg_p_int(&p, now);
        rc = pg_exec(q, prune_sql, &p, "prune", NULL, err);
        if (rc)
            goto cleanup;
    }
    rc = pg_commit(q, err);
    if (!rc && !dry_run && *n)
        PQclear(PQexec(q->conn, "VACUUM payloads"));
cleanup:
    if (rc)
        pg_rollback(q);
    return rc;
}

/* ---- checkpoints ---- */

#define CHECKPOINT_COLS                                                                            \
    "SELECT id, step_id, head_hash, row_count, created_at, public_key, signature FROM "            \
    "checkpoints "

static void read_checkpoint(const PGresult *r, int i, drudge_checkpoint_row *c)
{
    memset(c, 0, sizeof *c);
    c->id = pg_i64(r, i, 0);
    c->step_id = pg_i64(r, i, 1);
    snprintf(c->head_hash, sizeof c->head_hash, "%s", pg_text(r, i, 2));
    c->row_count = pg_i64(r, i, 3);
    c->created_at = pg_i64(r, i, 4);
    snprintf(c->public_key, sizeof c->public_key, "%s", pg_text(r, i, 5));
    snprintf(c->signature, sizeof c->signature, "%s", pg_text(r, i, 6));
}

drudge_code pg_checkpoints(drudge_store *s, drudge_checkpoint_row **out, size_t *n, drudge_err *err)
{
    static const char sql[] = CHECKPOINT_COLS "ORDER BY step_id, id";
    *out = NULL;
    *n = 0;
    PGresult *r = pg_q(pgs(s), sql, NULL, "reading checkpoints", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    *n = (size_t)PQntuples(r);
    *out = *n ? drudge_xmalloc(*n * sizeof **out) : NULL;
    for (size_t i = 0; i < *n; i++)
        read_checkpoint(r, (int)i, &(*out)[i]);
    PQclear(r);
    return DRUDGE_OK;
}

drudge_code pg_last_checkpoint(drudge_store *s, drudge_checkpoint_row *out, int *found,
                               drudge_err *err)
{
    static const char sql[] = CHECKPOINT_COLS "ORDER BY id DESC LIMIT 1";
    memset(out, 0, sizeof *out);
    PGresult *r = pg_q(pgs(s), sql, NULL, "reading checkpoints", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    *found = PQntuples(r) > 0;
    if (*found)
        read_checkpoint(r, 0, out);
    PQclear(r);
    return DRUDGE_OK;
}

drudge_code pg_add_checkpoint(drudge_store *s, drudge_checkpoint_row *c, drudge_err *err)
{
    static const char sql[] = "INSERT INTO checkpoints(step_id, head_hash, row_count, "
                              "created_at, public_key, signature) VALUES ($1,$2,$3,$4,$5,$6) "
                              "RETURNING id";
    pg_params p = {0};
    pg_p_int(&p, c->step_id);
    pg_p_str(&p, c->head_hash);
    pg_p_int(&p, c->row_count);
    pg_p_int(&p, c->created_at);
    pg_p_str(&p, c->public_key);
    pg_p_str(&p, c->signature);
    return pg_int(pgs(s), sql, &p, "checkpoint", &c->id, err);
}

/* ---- what task rows say, for verify's cross-check ---- */

typedef struct facts_walk {
    int (*fn)(void *ud, const drudge_task_facts *t);
    void *ud;
} facts_walk;

static int facts_row(void *ud, const PGresult *r, int i)
{
    facts_walk *w = ud;
    drudge_task_facts t = {.id = pg_i64(r, i, 0),
                           .created_at = pg_i64(r, i, 1),
                           .resolved_at = pg_i64(r, i, 2),
                           .state = opt_text(r, i, 3),
                           .outcome = opt_text(r, i, 4),
                           .output = opt_text(r, i, 5),
                           .resolved_by = opt_text(r, i, 6),
                           .resolved_note = opt_text(r, i, 7)};
    return w->fn(w->ud, &t);
}

drudge_code pg_task_facts(drudge_store *s, int (*fn)(void *ud, const drudge_task_facts *t),
                          void *ud, drudge_err *err)
{
    static const char sql[] =
        "SELECT id, created_at, resolved_at, state, outcome, output, resolved_by, resolved_note "
        "FROM tasks ORDER BY id";
    facts_walk w = {.fn = fn, .ud = ud};
    return pg_walk(pgs(s), sql, NULL, "reading tasks", facts_row, &w, err);
}

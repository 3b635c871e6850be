/* verify.c: drudge audit verify: walk the chain, the payloads and the
 * checkpoints, and name the first row that does not match.
 *
 * What each check catches (tests/e2e/audit_verify.sh does each):
 * - a field edited: the row's content no longer hashes to its stored hash;
 * - a row deleted: a gap in the ids (or, renumbered, a hash mismatch);
 * - rows reordered: the hash of the first moved row no longer matches;
 * - a payload edited: its bytes no longer hash to its key; deleted: a row
 *   references a payload that is not there;
 * - the chain's end cut off: a checkpoint pins a row that is gone, or an
 *   attempt in the queue's table has no steps left;
 * - the whole chain rewritten consistently: a checkpoint's signed head no
 *   longer matches (and a re-signed checkpoint fails --pubkey). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "logs/audit/audit.h"
#include "runner/store/db.h"
#include "drudge/util.h"

enum { P_CHAIN, P_REF, P_PAYLOAD, P_CHECKPOINT, P_ATTEMPTS, P_KINDS };

typedef struct checkpoint_row {
    int64_t id, step_id, row_count, created_at;
    char head[65], pub[65], sig[129];
    int checked;
} checkpoint_row;

typedef struct verifier {
    sqlite3 *db;
    drudge_verify_report *rep;
    int seen[P_KINDS];
    drudge_buf text;
    char trusted[65]; /* --pubkey, raw hex, or "" */
    checkpoint_row *cps;
    size_t ncps;
    int64_t last_good_cp_row; /* row of the last checkpoint that verified */
    sqlite3_stmt *payload_q;
    /* the row being walked, for naming it */
    int64_t row_id, row_task;
    int row_attempt, row_seq;
} verifier;

static void problem(verifier *v, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(verifier *v, int kind, const char *fmt, ...)
{
    v->rep->problems++;
    if (v->seen[kind]++) /* the first of each kind is what a person needs */
        return;
    va_list ap;
    va_start(ap, fmt);
    char line[2048];
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    drudge_buf_printf(&v->text, "%s\n", line);
}

static void fmt_time(int64_t t, char out[40])
{
    drudge_fmt_time(t, out);
}

/* Columns are NOT NULL by schema, but the schema is in the attacker's hands too. */
static const char *text_or_empty(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s ? s : "";
}

static drudge_code load_checkpoints(verifier *v, drudge_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(v->db,
                           "SELECT id, step_id, head_hash, row_count, created_at, public_key, "
                           "signature FROM checkpoints ORDER BY step_id, id",
                           -1, &st, NULL) != SQLITE_OK)
        return drudge_db_err(v->db, "verify: checkpoints", err);
    size_t cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (v->ncps == cap) {
            cap = cap ? cap * 2 : 16;
            v->cps = drudge_xrealloc(v->cps, cap * sizeof *v->cps);
        }
        checkpoint_row *c = &v->cps[v->ncps++];
        memset(c, 0, sizeof *c);
        c->id = sqlite3_column_int64(st, 0);
        c->step_id = sqlite3_column_int64(st, 1);
        c->row_count = sqlite3_column_int64(st, 3);
        c->created_at = sqlite3_column_int64(st, 4);
        snprintf(c->head, sizeof c->head, "%s", text_or_empty(st, 2));
        snprintf(c->pub, sizeof c->pub, "%s", text_or_empty(st, 5));
        snprintf(c->sig, sizeof c->sig, "%s", text_or_empty(st, 6));
    }
    sqlite3_finalize(st);
    return DRUDGE_OK;
}

/* Checks one checkpoint against the recomputed chain at its row. */
static void check_checkpoint(verifier *v, checkpoint_row *c, const char *recomputed, int64_t count)
{
    char when[40];
    drudge_buf msg = {0};
    c->checked = 1;
    v->rep->checkpoints++;
    fmt_time(c->created_at, when);
    drudge_checkpoint_message(&msg, c->head, c->step_id, c->row_count, c->created_at);
    int sig_ok = drudge_checkpoint_sig_ok(c->pub, c->sig, msg.data, msg.len);
    drudge_buf_free(&msg);
    if (!sig_ok) {
        problem(v, P_CHECKPOINT,
                "checkpoint #%lld (row %lld, %s): its signature does not verify: the checkpoint "
                "was altered after it was signed",
                (long long)c->id, (long long)c->step_id, when);
        return;
    }
    if (v->trusted[0] && strcmp(c->pub, v->trusted) != 0) {
        problem(v, P_CHECKPOINT,
                "checkpoint #%lld (row %lld, %s): signed by another key (%.16s...), not by the "
                "given public key (%.16s...): it may have been forged",
                (long long)c->id, (long long)c->step_id, when, c->pub, v->trusted);
        return;
    }
    if (strcmp(c->head, recomputed) != 0) {
        problem(v, P_CHECKPOINT,
                "checkpoint #%lld (row %lld, %s): the chain's hash at row %lld is %.16s..., the "
                "signed head is %.16s...: rows %lld to %lld were rewritten after they were "
                "signed",
                (long long)c->id, (long long)c->step_id, when, (long long)c->step_id, recomputed,
                c->head, (long long)v->last_good_cp_row + 1, (long long)c->step_id);
        return;
    }
    if (c->row_count != count) {
        problem(v, P_CHECKPOINT,
                "checkpoint #%lld (row %lld, %s): it signed %lld rows, the chain has %lld up to "
                "that row",
                (long long)c->id, (long long)c->step_id, when, (long long)c->row_count,
                (long long)count);
        return;
    }
    v->last_good_cp_row = c->step_id;
}

static void check_ref(void *ud, const char *sha)
{
    verifier *v = ud;
    sqlite3_stmt *q = v->payload_q;
    sqlite3_bind_text(q, 1, sha, 64, SQLITE_TRANSIENT);
    if (sqlite3_step(q) != SQLITE_ROW)
        problem(v, P_REF,
                "row %lld (task %lld, attempt %d, seq %d): references payload %.16s..., which "
                "is not in the payloads table: it was deleted",
                (long long)v->row_id, (long long)v->row_task, v->row_attempt, v->row_seq, sha);
    sqlite3_reset(q);
}

#define COLS                                                                                       \
    "id, task_id, attempt, seq, parent, kind, name, request, response, started_at, "               \
    "duration_us, outcome, error, hash"

static drudge_step row_step(sqlite3_stmt *st)
{
    drudge_step s = {
        .seq = sqlite3_column_int(st, 3),
        .parent = sqlite3_column_int(st, 4),
        .kind = (char *)sqlite3_column_text(st, 5),
        .name = (char *)sqlite3_column_text(st, 6),
        .request = (char *)sqlite3_column_text(st, 7),
        .response = (char *)sqlite3_column_text(st, 8),
        .started_us = sqlite3_column_int64(st, 9),
        .duration_us = sqlite3_column_int64(st, 10),
        .outcome = (char *)sqlite3_column_text(st, 11),
        .error = (char *)sqlite3_column_text(st, 12),
    };
    return s;
}

static drudge_code walk_chain(verifier *v, drudge_err *err)
{
    sqlite3_stmt *st = NULL;
    drudge_buf canon = {0};
    drudge_code rc = DRUDGE_OK;
    char prev[65], stored_prev[65], h[65];
    int64_t expect = 1, count = 0, last_task = 0;
    int last_attempt = 0, last_seq = 0;
    size_t ci = 0;
    memset(prev, '0', 64);
    prev[64] = '\0';
    memcpy(stored_prev, prev, 65);
    /* checkpoints of the empty chain */
    while (ci < v->ncps && v->cps[ci].step_id <= 0)
        check_checkpoint(v, &v->cps[ci++], prev, 0);
    if (sqlite3_prepare_v2(v->db, "SELECT " COLS " FROM steps ORDER BY id", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = drudge_db_err(v->db, "verify: steps", err);
        goto cleanup;
    }
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        drudge_step s = row_step(st);
        int64_t id = sqlite3_column_int64(st, 0);
        v->row_id = id;
        v->row_task = sqlite3_column_int64(st, 1);
        v->row_attempt = sqlite3_column_int(st, 2);
        v->row_seq = s.seq;
        const char *stored = (const char *)sqlite3_column_text(st, 13);
        if (id != expect) {
            if (id > expect)
                problem(v, P_CHAIN,
                        "row %lld (task %lld, attempt %d, seq %d): rows %lld to %lld before it "
                        "are missing: they were deleted",
                        (long long)id, (long long)v->row_task, v->row_attempt, s.seq,
                        (long long)expect, (long long)id - 1);
            else
                problem(v, P_CHAIN, "row %lld: ids do not start at 1", (long long)id);
            break;
        }
        drudge_buf_reset(&canon);
        drudge_audit_canonical(&canon, id, v->row_task, v->row_attempt, &s);
        drudge_audit_hash(prev, canon.data, canon.len, h);
        if (!stored || strcmp(h, stored) != 0) {
            char own[65];
            drudge_audit_hash(stored_prev, canon.data, canon.len, own);
            const char *why;
            if (stored && !strcmp(own, stored))
                why = "its content matches its stored hash, but that hash does not follow from "
                      "the row before: rows before it were changed, removed or reordered";
            else if (v->row_task == last_task && v->row_attempt == last_attempt &&
                     s.seq != last_seq + 1)
                /* Within an attempt rows are appended in seq order, 1, 2, 3... */
                why = "its content does not match its hash, and its seq does not follow the "
                      "row above it in the same attempt: rows were reordered or removed";
            else
                why = "its content does not match its hash: a field was changed after it was "
                      "written (or the row was moved)";
            problem(v, P_CHAIN, "row %lld (task %lld, attempt %d, seq %d, %s \"%s\"): %s",
                    (long long)id, (long long)v->row_task, v->row_attempt, s.seq,
                    s.kind ? s.kind : "?", s.name ? s.name : "?", why);
            break;
        }
        memcpy(prev, h, 65);
        memcpy(stored_prev, stored, 65);
        count++;
        expect = id + 1;
        last_task = v->row_task;
        last_attempt = v->row_attempt;
        last_seq = s.seq;
        drudge_audit_payload_refs(s.request, check_ref, v);
        drudge_audit_payload_refs(s.response, check_ref, v);
        while (ci < v->ncps && v->cps[ci].step_id == id)
            check_checkpoint(v, &v->cps[ci++], prev, count);
        while (ci < v->ncps && v->cps[ci].step_id < id) /* pins an id that is not there */
            ci++;
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE) {
        rc = drudge_db_err(v->db, "verify: steps", err);
        goto cleanup;
    }
    v->rep->rows = count;
    memcpy(v->rep->head, count ? prev : "", count ? 65 : 1);
    if (!v->seen[P_CHAIN]) {
        for (; ci < v->ncps; ci++) {
            checkpoint_row *c = &v->cps[ci];
            char when[40];
            fmt_time(c->created_at, when);
            problem(v, P_CHECKPOINT,
                    "checkpoint #%lld (%s) signed the chain up to row %lld, but the chain ends at "
                    "row %lld: rows %lld to %lld were removed",
                    (long long)c->id, when, (long long)c->step_id, (long long)count,
                    (long long)count + 1, (long long)c->step_id);
        }
    }
cleanup:
    sqlite3_finalize(st);
    drudge_buf_free(&canon);
    return rc;
}

/* The first row that references sha, for naming it. */
static void name_referrer(verifier *v, const char *sha, char *out, size_t n)
{
    sqlite3_stmt *st;
    snprintf(out, n, "referenced by no row");
    if (sqlite3_prepare_v2(v->db,
                           "SELECT id, task_id, attempt, seq FROM steps WHERE instr(request, ?1) "
                           "OR instr(response, ?1) ORDER BY id LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, n, "referenced by row %lld (task %lld, attempt %d, seq %d)",
                 (long long)sqlite3_column_int64(st, 0), (long long)sqlite3_column_int64(st, 1),
                 sqlite3_column_int(st, 2), sqlite3_column_int(st, 3));
    sqlite3_finalize(st);
}

static drudge_code check_payloads(verifier *v, int rehash, drudge_err *err)
{
    sqlite3_stmt *st;
    char where[160], h[65];
    if (sqlite3_prepare_v2(v->db,
                           "SELECT sha256, size, data, data IS NULL, pruned_at FROM payloads "
                           "ORDER BY rowid",
                           -1, &st, NULL) != SQLITE_OK)
        return drudge_db_err(v->db, "verify: payloads", err);
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *sha = (const char *)sqlite3_column_text(st, 0);
        int64_t size = sqlite3_column_int64(st, 1);
        v->rep->payloads++;
        if (sqlite3_column_int(st, 3)) {
            if (sqlite3_column_type(st, 4) == SQLITE_NULL) {
                name_referrer(v, sha, where, sizeof where);
                problem(v, P_PAYLOAD,
                        "payload %.16s... (%s): its data is gone but it is not marked pruned: it "
                        "was removed outside drudge audit prune",
                        sha, where);
            } else {
                v->rep->pruned++;
            }
            continue;
        }
        if (!rehash)
            continue;
        const void *data = sqlite3_column_blob(st, 2);
        int64_t len = sqlite3_column_bytes(st, 2);
        drudge_sha256_hex(data ? data : "", (size_t)len, h);
        if (strcmp(h, sha) != 0 || len != size) {
            name_referrer(v, sha, where, sizeof where);
            problem(v, P_PAYLOAD,
                    "payload %.16s... (%s): its bytes do not match its hash: it was changed "
                    "after it was recorded",
                    sha, where);
        }
    }
    sqlite3_finalize(st);
    return src == SQLITE_DONE ? DRUDGE_OK : drudge_db_err(v->db, "verify: payloads", err);
}

/* An attempt the queue recorded as run by a host always has its root step in
 * the chain; one without is what is left when the chain's end is cut off. */
static drudge_code check_attempts(verifier *v, drudge_err *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(v->db,
                           "SELECT a.task_id, a.n, a.ended_at, count(*) OVER () FROM attempts a "
                           "WHERE a.outcome IN ('done','failed','error','retry','timeout',"
                           "'memory') AND NOT EXISTS (SELECT 1 FROM steps s WHERE s.task_id = "
                           "a.task_id AND s.attempt = a.n AND s.seq = 1) ORDER BY a.ended_at "
                           "LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK) {
        /* No queue tables (a bare audit database): nothing to cross-check. */
        return DRUDGE_OK;
    }
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        char when[40];
        fmt_time(sqlite3_column_int64(st, 2), when);
        int64_t n = sqlite3_column_int64(st, 3);
        problem(v, P_ATTEMPTS,
                "task %lld attempt %d (ended %s) has no steps in the chain%s: rows were removed "
                "(the end of the chain cut off?)",
                (long long)sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1), when,
                n > 1 ? " (nor do other attempts)" : "");
        v->rep->problems += (int)n - 1;
    }
    sqlite3_finalize(st);
    return src == SQLITE_ROW || src == SQLITE_DONE ? DRUDGE_OK
                                                   : drudge_db_err(v->db, "verify: attempts", err);
}

drudge_code drudge_audit_verify(sqlite3 *db, const drudge_verify_opts *opts,
                                drudge_verify_report *rep, drudge_err *err)
{
    verifier v = {.db = db, .rep = rep};
    drudge_code rc;
    memset(rep, 0, sizeof *rep);
    if (opts && opts->pubkey_path) {
        rc = drudge_audit_read_pubkey(opts->pubkey_path, v.trusted, err);
        if (rc)
            return rc;
    }
    /* One read transaction: a consistent snapshot while workers append. */
    rc = drudge_db_exec(db, "BEGIN", err);
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM payloads WHERE sha256 = ?", -1, &v.payload_q, NULL) !=
        SQLITE_OK) {
        rc = drudge_db_err(db, "verify", err);
        goto cleanup;
    }
    if ((rc = load_checkpoints(&v, err)) || (rc = walk_chain(&v, err)) ||
        (rc = check_payloads(&v, !(opts && opts->skip_payloads), err)) ||
        (rc = check_attempts(&v, err)))
        goto cleanup;
    if (v.trusted[0] && v.ncps == 0)
        problem(&v, P_CHECKPOINT,
                "no checkpoints: without one a chain rewritten as a whole cannot be told from "
                "the original (sign one with drudge audit checkpoint --key FILE)");
    rep->signed_rows = v.last_good_cp_row;
    rep->text = drudge_buf_take(&v.text);
    rc = rep->problems ? DRUDGE_ETAMPER : DRUDGE_OK;
    if (rc)
        drudge_seterr(err, rc, "the audit trail does not verify (%d problem%s)", rep->problems,
                      rep->problems == 1 ? "" : "s");
cleanup:
    sqlite3_finalize(v.payload_q);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    free(v.cps);
    drudge_buf_free(&v.text);
    return rc;
}

void drudge_verify_report_clear(drudge_verify_report *rep)
{
    free(rep->text);
    memset(rep, 0, sizeof *rep);
}

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
 * - a task row edited (its state, outcome, output or resolution), or an
 *   operator step deleted: the row no longer says what the chain's last
 *   root or operator step for it left (crosscheck.c);
 * - the whole chain rewritten consistently: a checkpoint's signed head no
 *   longer matches (and a re-signed checkpoint fails --pubkey). */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "logs/audit/audit.h"
#include "logs/audit/crosscheck.h"
#include "drudge/util.h"

enum { P_CHAIN, P_REF, P_PAYLOAD, P_CHECKPOINT, P_ATTEMPTS, P_ROWS, P_KINDS };
/* Task rows that disagree with the chain are listed up to this many: each
 * names another task, and forged rows come in numbers. */
#define MAX_ROW_LINES 20

typedef struct verifier {
    drudge_store *s;
    drudge_verify_report *rep;
    int seen[P_KINDS];
    drudge_buf text;
    char trusted[65]; /* --pubkey, raw hex, or "" */
    drudge_crosscheck *cross;
    drudge_checkpoint_row *cps;
    size_t ncps, next_cp;     /* by step_id; the first not yet checked */
    int64_t last_good_cp_row; /* row of the last checkpoint that verified */
    /* the row being walked, for naming it */
    int64_t row_id, row_task;
    int row_attempt, row_seq;
    /* progress: rows walked, of total */
    const drudge_verify_opts *opts;
    int64_t walked, total;
    /* a lookup that failed inside a walk's callback */
    drudge_code rc;
    drudge_err *err;
} verifier;

static void problem(verifier *v, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(verifier *v, int kind, const char *fmt, ...)
{
    v->rep->problems++;
    v->seen[kind]++;
    /* the first of each kind is what a person needs */
    if (v->seen[kind] > (kind == P_ROWS ? MAX_ROW_LINES : 1))
        return;
    va_list ap;
    va_start(ap, fmt);
    char line[2048];
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    drudge_buf_printf(&v->text, "%s\n", line);
}

/* Checks one checkpoint against the recomputed chain at its row. */
static void check_checkpoint(verifier *v, const drudge_checkpoint_row *c, const char *recomputed,
                             int64_t count)
{
    char when[40];
    drudge_buf msg = {0};
    v->rep->checkpoints++;
    drudge_fmt_time(c->created_at, when);
    drudge_checkpoint_message(&msg, c->head_hash, c->step_id, c->row_count, c->created_at);
    int sig_ok = drudge_checkpoint_sig_ok(c->public_key, c->signature, msg.data, msg.len);
    drudge_buf_free(&msg);
    if (!sig_ok) {
        problem(v, P_CHECKPOINT,
                "checkpoint #%lld (row %lld, %s): its signature does not verify: the checkpoint "
                "was altered after it was signed",
                (long long)c->id, (long long)c->step_id, when);
        return;
    }
    if (v->trusted[0] && strcmp(c->public_key, v->trusted) != 0) {
        problem(v, P_CHECKPOINT,
                "checkpoint #%lld (row %lld, %s): signed by another key (%.16s...), not by the "
                "given public key (%.16s...): it may have been forged",
                (long long)c->id, (long long)c->step_id, when, c->public_key, v->trusted);
        return;
    }
    if (strcmp(c->head_hash, recomputed) != 0) {
        problem(v, P_CHECKPOINT,
                "checkpoint #%lld (row %lld, %s): the chain's hash at row %lld is %.16s..., the "
                "signed head is %.16s...: rows %lld to %lld were rewritten after they were "
                "signed",
                (long long)c->id, (long long)c->step_id, when, (long long)c->step_id, recomputed,
                c->head_hash, (long long)v->last_good_cp_row + 1, (long long)c->step_id);
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

/* Checks the checkpoints that pin row id (the chain's hash there is
 * recomputed, count rows long), and passes over those that pin an id the
 * walk went past: a row that is not there. */
static void checkpoints_at(verifier *v, int64_t id, const char *recomputed, int64_t count)
{
    while (v->next_cp < v->ncps && v->cps[v->next_cp].step_id == id)
        check_checkpoint(v, &v->cps[v->next_cp++], recomputed, count);
    while (v->next_cp < v->ncps && v->cps[v->next_cp].step_id < id)
        v->next_cp++;
}

/* Notes a failure of the store inside a callback; the walk then stops. */
static void failed(verifier *v, drudge_code rc, const drudge_err *e)
{
    if (v->rc)
        return;
    v->rc = rc;
    if (v->err)
        *v->err = *e;
}

static void check_ref(void *ud, const char *sha)
{
    verifier *v = ud;
    drudge_payload_row p;
    drudge_err e = {0};
    drudge_code rc = drudge_store_payload(v->s, sha, 0, &p, &e);
    drudge_payload_row_clear(&p);
    if (rc == DRUDGE_ENOTFOUND)
        problem(v, P_REF,
                "row %lld (task %lld, attempt %d, seq %d): references payload %.16s..., which "
                "is not in the payloads table: it was deleted",
                (long long)v->row_id, (long long)v->row_task, v->row_attempt, v->row_seq, sha);
    else if (rc)
        failed(v, rc, &e);
}

static int verified_row(void *ud, const drudge_step_row *r, const char *hash, int64_t n)
{
    verifier *v = ud;
    v->row_id = r->id;
    v->row_task = r->task_id;
    v->row_attempt = r->attempt;
    v->row_seq = r->step.seq;
    drudge_crosscheck_row(v->cross, r);
    drudge_audit_payload_refs(r->step.request, check_ref, v);
    drudge_audit_payload_refs(r->step.response, check_ref, v);
    checkpoints_at(v, r->id, hash, n);
    if (v->opts && v->opts->progress && ++v->walked % DRUDGE_VERIFY_EVERY == 0 &&
        v->opts->progress(v->opts->progress_ud, v->walked, v->total) && !v->rc)
        v->rc = drudge_seterr(v->err, DRUDGE_ESTATE, "the check was stopped at row %lld of %lld",
                              (long long)v->walked, (long long)v->total);
    return v->rc != DRUDGE_OK;
}

static void chain_fault(void *ud, const drudge_chain_fault *f)
{
    verifier *v = ud;
    const drudge_step_row *r = f->row;
    const char *why;
    switch (f->problem) {
    case DRUDGE_CHAIN_GAP:
        problem(v, P_CHAIN,
                "row %lld (task %lld, attempt %d, seq %d): rows %lld to %lld before it are "
                "missing: they were deleted",
                (long long)r->id, (long long)r->task_id, r->attempt, r->step.seq,
                (long long)f->expected, (long long)r->id - 1);
        return;
    case DRUDGE_CHAIN_BAD_START:
        problem(v, P_CHAIN, "row %lld: ids do not start at 1", (long long)r->id);
        return;
    case DRUDGE_CHAIN_REORDERED:
        why = "its content does not match its hash, and its seq does not follow the row above "
              "it in the same attempt: rows were reordered or removed";
        break;
    default: /* EDITED; a walk from the start has no anchor to lose */
        why = "its content does not match its hash: a field was changed after it was written "
              "(or the row was moved)";
        break;
    }
    problem(v, P_CHAIN, "row %lld (task %lld, attempt %d, seq %d, %s \"%s\"): %s", (long long)r->id,
            (long long)r->task_id, r->attempt, r->step.seq, r->step.kind ? r->step.kind : "?",
            r->step.name ? r->step.name : "?", why);
}

/* Checkpoints that pin rows past the end of an intact chain: its end was cut off. */
static void checkpoints_past_end(verifier *v, int64_t rows)
{
    for (; v->next_cp < v->ncps; v->next_cp++) {
        const drudge_checkpoint_row *c = &v->cps[v->next_cp];
        char when[40];
        drudge_fmt_time(c->created_at, when);
        problem(v, P_CHECKPOINT,
                "checkpoint #%lld (%s) signed the chain up to row %lld, but the chain ends at "
                "row %lld: rows %lld to %lld were removed",
                (long long)c->id, when, (long long)c->step_id, (long long)rows, (long long)rows + 1,
                (long long)c->step_id);
    }
}

static drudge_code walk_chain(verifier *v, drudge_err *err)
{
    static const char zeros[65] =
        "0000000000000000000000000000000000000000000000000000000000000000";
    drudge_chain_visitor visit = {.row = verified_row, .fault = chain_fault, .ud = v};
    drudge_chain_walk walk;
    char head[65];
    while (v->next_cp < v->ncps && v->cps[v->next_cp].step_id <= 0) /* of the empty chain */
        check_checkpoint(v, &v->cps[v->next_cp++], zeros, 0);
    drudge_code rc = DRUDGE_OK;
    if (v->opts && v->opts->progress) /* the total, in the walk's snapshot */
        rc = drudge_store_chain_head(v->s, &v->total, head, err);
    if (!rc)
        rc = drudge_audit_walk(v->s, 0, NULL, &visit, &walk, err);
    if (!rc)
        rc = v->rc;
    if (rc)
        return rc;
    if (v->opts && v->opts->progress)
        v->opts->progress(v->opts->progress_ud, walk.rows, v->total);
    v->rep->rows = walk.rows;
    memcpy(v->rep->head, walk.rows ? walk.head : "", walk.rows ? 65 : 1);
    if (!walk.problem)
        checkpoints_past_end(v, walk.rows);
    return DRUDGE_OK;
}

/* The first row that references sha, for naming it. */
static void name_referrer(verifier *v, const char *sha, char *out, size_t n)
{
    drudge_step_row r;
    drudge_err e = {0};
    snprintf(out, n, "referenced by no row");
    drudge_code rc = drudge_store_payload_referrer(v->s, sha, &r, &e);
    if (rc)
        failed(v, rc, &e);
    else if (r.id)
        snprintf(out, n, "referenced by row %lld (task %lld, attempt %d, seq %d)", (long long)r.id,
                 (long long)r.task_id, r.attempt, r.step.seq);
}

typedef struct payload_check {
    verifier *v;
    int rehash;
} payload_check;

/* A payload that does not match, named with the row that references it. */
static void payload_problem(verifier *v, const char *sha, const char *why)
{
    char where[160];
    name_referrer(v, sha, where, sizeof where);
    problem(v, P_PAYLOAD, "payload %.16s... (%s): %s", sha, where, why);
}

static int check_payload(void *ud, const drudge_payload_row *p)
{
    payload_check *pc = ud;
    verifier *v = pc->v;
    char h[65];
    v->rep->payloads++;
    if (!p->data) {
        if (p->pruned_at)
            v->rep->pruned++;
        else
            payload_problem(v, p->sha256,
                            "its data is gone but it is not marked pruned: it was removed "
                            "outside drudge audit prune");
        return v->rc != DRUDGE_OK;
    }
    if (!pc->rehash)
        return 0;
    drudge_sha256_hex(p->data, p->len, h);
    if (strcmp(h, p->sha256) != 0 || (int64_t)p->len != p->size)
        payload_problem(v, p->sha256,
                        "its bytes do not match its hash: it was changed after it was recorded");
    return v->rc != DRUDGE_OK;
}

static drudge_code check_payloads(verifier *v, int rehash, drudge_err *err)
{
    payload_check pc = {.v = v, .rehash = rehash};
    drudge_code rc = drudge_store_payloads(v->s, check_payload, &pc, err);
    return rc ? rc : v->rc;
}

/* An attempt the queue recorded as run by a host always has its root step in
 * the chain; one without is what is left when the chain's end is cut off. */
static drudge_code check_attempts(verifier *v, drudge_err *err)
{
    int64_t task, ended, n;
    int attempt;
    drudge_code rc = drudge_store_attempts_unchained(v->s, &task, &attempt, &ended, &n, err);
    if (rc || !n)
        return rc;
    char when[40];
    drudge_fmt_time(ended, when);
    problem(v, P_ATTEMPTS,
            "task %lld attempt %d (ended %s) has no steps in the chain%s: rows were removed "
            "(the end of the chain cut off?)",
            (long long)task, attempt, when, n > 1 ? " (nor do other attempts)" : "");
    v->rep->problems += (int)n - 1;
    return DRUDGE_OK;
}

static void row_problem(void *ud, const char *msg)
{
    problem(ud, P_ROWS, "%s", msg);
}

/* Every check, in one read transaction: a consistent snapshot while
 * workers append. */
static drudge_code run_checks(verifier *v, int rehash, drudge_err *err)
{
    drudge_code rc = drudge_store_begin(v->s, DRUDGE_TX_READ, err);
    if (rc)
        return rc;
    rc = drudge_store_checkpoints(v->s, &v->cps, &v->ncps, err);
    if (!rc)
        rc = walk_chain(v, err);
    if (!rc)
        rc = check_payloads(v, rehash, err);
    if (!rc)
        rc = check_attempts(v, err);
    if (!rc) /* the rows against the chain as walked: a broken chain says less */
        rc = drudge_crosscheck_tasks(v->cross, v->s, row_problem, v, &v->rep->tasks, err);
    drudge_store_rollback(v->s); /* nothing was written */
    return rc;
}

drudge_code drudge_audit_verify(drudge_store *s, const drudge_verify_opts *opts,
                                drudge_verify_report *rep, drudge_err *err)
{
    verifier v = {.s = s, .rep = rep, .err = err, .cross = drudge_crosscheck_new(), .opts = opts};
    drudge_code rc;
    memset(rep, 0, sizeof *rep);
    if (opts && opts->pubkey_path) {
        rc = drudge_audit_read_pubkey(opts->pubkey_path, v.trusted, err);
        if (rc)
            goto cleanup;
    }
    rc = run_checks(&v, !(opts && opts->skip_payloads), err);
    if (rc)
        goto cleanup;
    if (v.trusted[0] && v.ncps == 0)
        problem(&v, P_CHECKPOINT,
                "no checkpoints: without one a chain rewritten as a whole cannot be told from "
                "the original (sign one with drudge audit checkpoint --key FILE)");
    rep->signed_rows = v.last_good_cp_row;
    if (v.seen[P_ROWS] > MAX_ROW_LINES)
        drudge_buf_printf(&v.text, "(and %d more task rows that disagree with the chain)\n",
                          v.seen[P_ROWS] - MAX_ROW_LINES);
    rep->text = drudge_buf_take(&v.text);
    rc = rep->problems ? DRUDGE_ETAMPER : DRUDGE_OK;
    if (rc)
        drudge_seterr(err, rc, "the audit trail does not verify (%d problem%s)", rep->problems,
                      rep->problems == 1 ? "" : "s");
cleanup:
    drudge_crosscheck_free(v.cross);
    free(v.cps);
    drudge_buf_free(&v.text);
    return rc;
}

void drudge_verify_report_clear(drudge_verify_report *rep)
{
    free(rep->text);
    memset(rep, 0, sizeof *rep);
}

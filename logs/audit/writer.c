/* writer.c: appending recorded steps and their payloads to the hash chain,
 * through the store, in the caller's write transaction. */
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "logs/audit/audit.h"

/* Rows linked and hashed, waiting for one drudge_store_append_steps. */
#define WRITER_BATCH 64

typedef struct batch {
    drudge_step_row rows[WRITER_BATCH];
    char hashes[WRITER_BATCH][65];
    size_t n;
    char *with_state; /* the root's response with the state, if in the batch */
    size_t mark;      /* the flushed mark once the batch is in */
} batch;

struct drudge_audit_writer {
    drudge_store *s;
    drudge_buf canon;
    struct batch *batch;
    /* The chain head as of the last append in this transaction (see
     * drudge_audit_writer_begin): saves a query per attempt. */
    int scoped, cached;
    int64_t head_id;
    char head_hash[65];
};

drudge_audit_writer *drudge_audit_writer_new(drudge_store *s)
{
    drudge_audit_writer *w = drudge_xmalloc(sizeof *w);
    memset(w, 0, sizeof *w);
    w->s = s;
    return w;
}

void drudge_audit_writer_free(drudge_audit_writer *w)
{
    if (!w)
        return;
    drudge_buf_free(&w->canon);
    free(w->batch);
    free(w);
}

void drudge_audit_writer_begin(drudge_audit_writer *w)
{
    w->scoped = 1;
    w->cached = 0;
}

static drudge_code put_batch(drudge_audit_writer *w, drudge_rec *rec, batch *b, drudge_err *err)
{
    drudge_code rc = drudge_store_append_steps(w->s, b->rows, b->n, err);
    free(b->with_state);
    b->with_state = NULL;
    b->n = 0;
    if (!rc)
        drudge_rec_mark_flushed(rec, b->mark);
    return rc;
}

/* Appends rec's closed steps from the flushed mark on, linking them from
 * (*id, prev); moves both to the last row appended. state, if given, goes
 * into the root's response (drudge_audit_root_response). Rows are hashed
 * one by one, as the chain requires, and go to the store in batches. */
static drudge_code append_steps(drudge_audit_writer *w, drudge_rec *rec, const char *state,
                                int64_t *id, char prev[65], drudge_err *err)
{
    size_t from = drudge_rec_flushed(rec), n = drudge_rec_count(rec);
    int64_t task = drudge_rec_task(rec);
    int attempt = drudge_rec_attempt(rec);
    if (!w->batch) { /* on first use */
        w->batch = drudge_xmalloc(sizeof *w->batch);
        w->batch->with_state = NULL;
    }
    batch *b = w->batch;
    b->n = 0;
    b->mark = from;
    for (size_t i = from; i < n; i++) {
        const drudge_step *s = drudge_rec_step(rec, i);
        if (s->duration_us < 0) /* still open: flushed later */
            break;
        if (s->handed) { /* appended earlier, from a drudge_rec_take_closed copy */
            b->mark = i + 1;
            if (!b->n)
                drudge_rec_mark_flushed(rec, i + 1);
            continue;
        }
        drudge_step_row *r = &b->rows[b->n];
        char *h = b->hashes[b->n];
        *r = (drudge_step_row){.id = *id + 1, .task_id = task, .attempt = attempt, .step = *s};
        if (state && s->seq == 1 && !s->parent) {
            free(b->with_state);
            b->with_state = drudge_audit_root_response(s->response, state);
            r->step.response = b->with_state;
        }
        drudge_buf_reset(&w->canon);
        drudge_audit_canonical(&w->canon, r->id, task, attempt, &r->step);
        drudge_audit_hash(prev, w->canon.data, w->canon.len, h);
        memcpy(prev, h, 65);
        r->hash = h;
        (*id)++;
        b->n++;
        b->mark = i + 1;
        if (b->n == WRITER_BATCH) {
            drudge_code rc = put_batch(w, rec, b, err);
            if (rc)
                return rc;
        }
    }
    return b->n ? put_batch(w, rec, b, err) : DRUDGE_OK;
}

static drudge_code append_payloads(drudge_audit_writer *w, drudge_rec *rec, drudge_err *err)
{
    size_t from = drudge_rec_payloads_flushed(rec), n = drudge_rec_payload_count(rec);
    int64_t now = drudge_now_us();
    for (size_t i = from; i < n; i++) {
        const drudge_payload *p = drudge_rec_payload_at(rec, i);
        if (!p->handed) {
            drudge_code rc = drudge_store_put_payload(w->s, p, now, err);
            if (rc)
                return rc;
        }
        drudge_rec_mark_payloads_flushed(rec, i + 1);
    }
    return DRUDGE_OK;
}

drudge_code drudge_audit_writer_append(drudge_audit_writer *w, drudge_rec *rec, drudge_err *err)
{
    return drudge_audit_writer_append_outcome(w, rec, NULL, err);
}

drudge_code drudge_audit_writer_append_outcome(drudge_audit_writer *w, drudge_rec *rec,
                                               const char *state, drudge_err *err)
{
    if (drudge_rec_flushed(rec) >= drudge_rec_count(rec) &&
        drudge_rec_payloads_flushed(rec) >= drudge_rec_payload_count(rec))
        return DRUDGE_OK;
    int64_t id = 0;
    char prev[65];
    drudge_code rc = DRUDGE_OK;
    if (w->scoped && w->cached) {
        id = w->head_id;
        memcpy(prev, w->head_hash, 65);
    } else {
        rc = drudge_store_chain_head(w->s, &id, prev, err);
        if (rc)
            return rc;
    }
    w->cached = 0; /* until this append has fully succeeded */
    rc = append_steps(w, rec, state, &id, prev, err);
    if (!rc)
        rc = append_payloads(w, rec, err);
    if (!rc && w->scoped) {
        w->cached = 1;
        w->head_id = id;
        memcpy(w->head_hash, prev, 65);
    }
    return rc;
}

drudge_code drudge_audit_append(drudge_store *s, drudge_rec *rec, drudge_err *err)
{
    return drudge_audit_append_outcome(s, rec, NULL, err);
}

drudge_code drudge_audit_append_outcome(drudge_store *s, drudge_rec *rec, const char *state,
                                        drudge_err *err)
{
    drudge_audit_writer *w = drudge_audit_writer_new(s);
    drudge_code rc = drudge_audit_writer_append_outcome(w, rec, state, err);
    drudge_audit_writer_free(w);
    return rc;
}

void drudge_audit_root_only(drudge_rec *rec, int64_t task_id, int attempt, const char *script,
                            const char *input, const char *key, const char *outcome,
                            const char *error)
{
    drudge_buf b = {0};
    drudge_rec_reset(rec, task_id, attempt);
    drudge_buf_puts(&b, "{\"input\":");
    drudge_buf_puts(&b, input ? input : "null");
    if (key) {
        drudge_buf_puts(&b, ",\"key\":");
        drudge_buf_json_str(&b, key, strlen(key));
    }
    drudge_buf_puts(&b, "}");
    int seq = drudge_rec_begin(rec, "task", script, b.data);
    drudge_rec_end(rec, seq, outcome, NULL, error);
    drudge_buf_free(&b);
}

/*
 * room_verify.c: "verify now" in the background. A check of the whole
 * audit trail reads every row; on the server's one store connection it
 * would hold every other request for its whole length. So it runs in a
 * thread of its own, on a read-only connection of its own, one check at a
 * time per server, and says how far it is (rows checked of the rows the
 * chain had when it began) to GET /api/v1/audit/verify/progress, which the
 * audit page polls. Starting one is an operator step on the chain (who
 * checked, when, from where).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/json.h"
#include "logs/audit/audit.h"
#include "runner/room/roomint.h"

static int progress(void *ud, int64_t checked, int64_t total)
{
    room *r = ud;
    pthread_mutex_lock(&r->verify_lock);
    r->verify_checked = checked;
    r->verify_total = total;
    pthread_mutex_unlock(&r->verify_lock);
    return __atomic_load_n(&r->stopping, __ATOMIC_ACQUIRE);
}

static void *verify_main(void *arg)
{
    room *r = arg;
    drudge_store *s = NULL;
    drudge_err err = {0};
    drudge_verify_report rep = {0};
    drudge_buf b = {0};
    drudge_code rc = DRUDGE_EUSAGE;
    if (!r->o->db)
        drudge_seterr(&err, rc, "the server was not told where its database is");
    else
        rc = drudge_store_open(r->o->db, DRUDGE_STORE_READONLY | DRUDGE_STORE_NOCREATE, &s, &err);
    if (!rc) {
        drudge_verify_opts vo = {.progress = progress, .progress_ud = r};
        rc = drudge_audit_verify(s, &vo, &rep, &err);
    }
    if (!rc || rc == DRUDGE_ETAMPER) {
        room_verify_json(&b, &rep);
    } else {
        drudge_buf_puts(&b, "{");
        drudge_json_str(&b, "error", err.msg);
        drudge_buf_puts(&b, "}");
    }
    drudge_verify_report_clear(&rep);
    if (s)
        drudge_store_close(s);
    pthread_mutex_lock(&r->verify_lock);
    free(r->verify_result);
    r->verify_result = drudge_buf_take(&b);
    r->verify_ended = drudge_now_us();
    r->verify_running = 0;
    pthread_mutex_unlock(&r->verify_lock);
    drudge_buf_free(&b);
    return NULL;
}

/* The progress as JSON into b; call with verify_lock held. */
static void progress_json(room *r, drudge_buf *b)
{
    char ts[40];
    drudge_buf_puts(b, "{");
    drudge_json_bool(b, "running", r->verify_running);
    drudge_json_int(b, "checked", r->verify_checked);
    drudge_json_int(b, "total", r->verify_total);
    drudge_json_str(b, "started_by", r->verify_by[0] ? r->verify_by : NULL);
    drudge_json_key(b, "started_at");
    if (r->verify_started) {
        drudge_fmt_time(r->verify_started, ts);
        drudge_buf_printf(b, "\"%s\"", ts);
    } else {
        drudge_buf_puts(b, "null");
    }
    drudge_json_key(b, "ended_at");
    if (!r->verify_running && r->verify_ended) {
        drudge_fmt_time(r->verify_ended, ts);
        drudge_buf_printf(b, "\"%s\"", ts);
    } else {
        drudge_buf_puts(b, "null");
    }
    drudge_json_key(b, "result");
    drudge_buf_puts(b, !r->verify_running && r->verify_result ? r->verify_result : "null");
    drudge_buf_puts(b, "}\n");
}

void room_verify_start(room_req *q)
{
    room *r = q->r;
    drudge_err err = {0};
    pthread_mutex_lock(&r->verify_lock);
    if (r->verify_running) {
        progress_json(r, &q->out);
        pthread_mutex_unlock(&r->verify_lock);
        q->status = 409;
        q->type = "application/json";
        return;
    }
    /* The step first: a check nobody can see was asked for is not made. */
    drudge_operator_step op = {
        .action = "audit verify", .user = q->user.name, .now = drudge_now_us()};
    room_lock(q);
    drudge_code rc = drudge_store_begin(r->s, DRUDGE_TX_WRITE, &err);
    if (!rc)
        rc = drudge_audit_operator(r->s, &op, &err);
    if (!rc)
        rc = drudge_store_commit(r->s, &err);
    if (rc)
        drudge_store_rollback(r->s);
    room_unlock(q);
    if (rc) {
        pthread_mutex_unlock(&r->verify_lock);
        return room_json_fail(q, &err);
    }
    if (r->verify_joinable) { /* the previous check's thread has ended */
        pthread_join(r->verify_thread, NULL);
        r->verify_joinable = 0;
    }
    r->verify_running = 1;
    r->verify_checked = r->verify_total = 0;
    r->verify_started = op.now;
    r->verify_ended = 0;
    snprintf(r->verify_by, sizeof r->verify_by, "%s", q->user.name);
    if (pthread_create(&r->verify_thread, NULL, verify_main, r)) {
        r->verify_running = 0;
        pthread_mutex_unlock(&r->verify_lock);
        return room_json_error(q, 500, "cannot start a thread for the check");
    }
    r->verify_joinable = 1;
    progress_json(r, &q->out);
    pthread_mutex_unlock(&r->verify_lock);
    q->status = 202;
    q->type = "application/json";
}

void room_verify_progress(room_req *q)
{
    pthread_mutex_lock(&q->r->verify_lock);
    progress_json(q->r, &q->out);
    pthread_mutex_unlock(&q->r->verify_lock);
    q->type = "application/json";
}

void room_verify_stop(room *r)
{
    /* r->stopping is set: the check stops at its next progress call. */
    pthread_mutex_lock(&r->verify_lock);
    int joinable = r->verify_joinable;
    r->verify_joinable = 0;
    pthread_mutex_unlock(&r->verify_lock);
    if (joinable)
        pthread_join(r->verify_thread, NULL);
    free(r->verify_result);
    r->verify_result = NULL;
}

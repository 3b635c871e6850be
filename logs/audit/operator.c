/* operator.c: what people do goes on the chain. Each operator action
 * (resolve, retry, cancel, pause, resume, schedule changes, prune) is
 * appended as one row of kind "operator" in the transaction that makes the
 * change, so the chain and the tables cannot disagree about it unless
 * someone edits the tables by hand, which audit verify's cross-check then
 * reports (verify.c). */
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "logs/audit/audit.h"

/* Set by the control room around a request (audit.h says why per thread). */
static __thread const char *origin_via, *origin_remote;

void drudge_audit_operator_origin(const char *via, const char *remote)
{
    origin_via = via;
    origin_remote = remote;
}

drudge_code drudge_audit_operator(drudge_store *s, const drudge_operator_step *op, drudge_err *err)
{
    drudge_buf req = {0}, canon = {0};
    const char *user = op->user && *op->user ? op->user : "unknown";
    drudge_buf_puts(&req, "{\"user\":");
    drudge_buf_json_str(&req, user, strlen(user));
    if (origin_via) {
        drudge_buf_puts(&req, ",\"via\":");
        drudge_buf_json_str(&req, origin_via, strlen(origin_via));
    }
    if (origin_remote) {
        drudge_buf_puts(&req, ",\"remote\":");
        drudge_buf_json_str(&req, origin_remote, strlen(origin_remote));
    }
    if (op->args && *op->args) {
        drudge_buf_puts(&req, ",");
        drudge_buf_puts(&req, op->args);
    }
    drudge_buf_puts(&req, "}");
    drudge_step step = {.seq = 1,
                        .parent = 0,
                        .kind = "operator",
                        .name = (char *)op->action,
                        .request = req.data,
                        .response = (char *)op->result,
                        .started_us = op->now,
                        .duration_us = 0,
                        .outcome = "ok"};
    int64_t id = 0;
    char hash[65];
    drudge_code rc = drudge_store_chain_head(s, &id, hash, err);
    if (rc)
        goto cleanup;
    drudge_audit_canonical(&canon, id + 1, op->task_id, 0, &step);
    drudge_audit_hash(hash, canon.data, canon.len, hash);
    rc = drudge_store_append_step(s, id + 1, op->task_id, 0, &step, hash, err);
cleanup:
    drudge_buf_free(&req);
    drudge_buf_free(&canon);
    return rc;
}

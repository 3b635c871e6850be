/* prune.c: drudge audit prune: drop old payload bytes, keep the chain.
 *
 * Payloads (bodies, screenshots) are the bulk of an audit database and the
 * part retention rules want gone first. Their rows stay, with data NULL and
 * pruned_at set (the only change the payloads table's trigger allows), so
 * the chained step rows that reference them by SHA-256 are untouched and
 * audit verify reports them as pruned, not tampered. Step rows are never
 * pruned: they are small, and the chain needs every one of them. Retention
 * means the bytes are gone from the file, not only from the table: the store
 * overwrites what it frees (drudge_store_prune). */
#include "logs/audit/audit.h"
#include "drudge/util.h"

drudge_code drudge_audit_prune(drudge_store *s, int64_t cutoff_us, int dry_run, const char *who,
                               int64_t *n, int64_t *bytes, drudge_err *err)
{
    int64_t now = drudge_now_us();
    drudge_code rc = drudge_store_prune(s, cutoff_us, now, dry_run, n, bytes, err);
    if (rc || dry_run || !*n)
        return rc;
    /* The prune commits in a transaction of its own (the store then
     * overwrites what it freed), so its operator step follows at once. */
    drudge_buf args = {0}, result = {0};
    drudge_buf_printf(&args, "\"used_before\":%lld", (long long)cutoff_us);
    drudge_buf_printf(&result, "{\"pruned\":%lld,\"bytes\":%lld}", (long long)*n,
                      (long long)*bytes);
    drudge_operator_step op = {
        .action = "prune", .user = who, .args = args.data, .result = result.data, .now = now};
    rc = drudge_store_begin(s, DRUDGE_TX_WRITE, err);
    if (!rc)
        rc = drudge_audit_operator(s, &op, err);
    if (!rc)
        rc = drudge_store_commit(s, err);
    if (rc)
        drudge_store_rollback(s);
    drudge_buf_free(&args);
    drudge_buf_free(&result);
    return rc;
}

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

drudge_code drudge_audit_prune(drudge_store *s, int64_t cutoff_us, int dry_run, int64_t *n,
                               int64_t *bytes, drudge_err *err)
{
    return drudge_store_prune(s, cutoff_us, drudge_now_us(), dry_run, n, bytes, err);
}

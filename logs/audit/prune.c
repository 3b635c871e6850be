/* prune.c: drudge audit prune: drop old payload bytes, keep the chain.
 *
 * Payloads (bodies, screenshots) are the bulk of an audit database and the
 * part retention rules want gone first. Their rows stay, with data NULL and
 * pruned_at set (the only change the payloads table's trigger allows), so
 * the chained step rows that reference them by SHA-256 are untouched and
 * audit verify reports them as pruned, not tampered. Step rows are never
 * pruned: they are small, and the chain needs every one of them. */
#include "logs/audit/audit.h"
#include "runner/store/db.h"
#include "drudge/util.h"

drudge_code drudge_audit_prune(sqlite3 *db, int64_t cutoff_us, int dry_run, int64_t *n,
                               int64_t *bytes, drudge_err *err)
{
    sqlite3_stmt *st = NULL;
    *n = *bytes = 0;
    /* Retention means the bytes are gone from the file, not only from the
     * table: freed space is overwritten with zeros (some SQLite builds do
     * not by default), and the WAL, which still holds the pages as they were,
     * is checkpointed and truncated after the commit. */
    if (!dry_run)
        drudge_db_exec(db, "PRAGMA secure_delete=ON", NULL);
    drudge_code rc = drudge_db_begin(db, err);
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(db,
                           "SELECT count(*), coalesce(sum(size), 0) FROM payloads "
                           "WHERE data IS NOT NULL AND used_at < ?",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = drudge_db_err(db, "prune", err);
        goto cleanup;
    }
    sqlite3_bind_int64(st, 1, cutoff_us);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *n = sqlite3_column_int64(st, 0);
        *bytes = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (!dry_run && *n) {
        if (sqlite3_prepare_v2(db,
                               "UPDATE payloads SET data = NULL, pruned_at = ?2 "
                               "WHERE data IS NOT NULL AND used_at < ?1",
                               -1, &st, NULL) != SQLITE_OK) {
            rc = drudge_db_err(db, "prune", err);
            goto cleanup;
        }
        sqlite3_bind_int64(st, 1, cutoff_us);
        sqlite3_bind_int64(st, 2, drudge_now_us());
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = drudge_db_err(db, "prune", err);
            goto cleanup;
        }
    }
    rc = drudge_db_commit(db, err);
    if (!rc && !dry_run && *n)
        drudge_db_trim_wal(db);
cleanup:
    sqlite3_finalize(st);
    if (rc)
        drudge_db_rollback(db);
    return rc;
}

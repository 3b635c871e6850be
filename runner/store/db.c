/* db.c: opening the drudge database and migrating its schema forward. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "runner/store/db.h"

#define BUSY_TIMEOUT_MS 30000

static const char *const *const module_migrations[] = {
    sq_queue_migrations,
    sq_audit_migrations,
    sq_schedule_migrations,
};
#define NMODULES (sizeof module_migrations / sizeof module_migrations[0])

int drudge_db_schema_version(void)
{
    int v = 0;
    for (size_t m = 0; m < NMODULES; m++) {
        int n = 0;
        while (module_migrations[m][n])
            n++;
        if (n > v)
            v = n;
    }
    return v;
}

const char *drudge_db_default_path(void)
{
    const char *env = getenv("DRUDGE_DB");
    return env && *env ? env : "drudge.db";
}

drudge_code drudge_db_err(sqlite3 *db, const char *what, drudge_err *err)
{
    int rc = sqlite3_errcode(db);
    drudge_code code = (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? DRUDGE_EBUSY : DRUDGE_EDB;
    return drudge_seterr(err, code, "%s: %s", what, sqlite3_errmsg(db));
}

drudge_code drudge_db_exec(sqlite3 *db, const char *sql, drudge_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = sqlite3_errcode(db);
        drudge_seterr(err, (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? DRUDGE_EBUSY : DRUDGE_EDB,
                      "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return err ? err->code : DRUDGE_EDB;
    }
    return DRUDGE_OK;
}

drudge_code drudge_db_begin(sqlite3 *db, drudge_err *err)
{
    /* BEGIN IMMEDIATE waits through the busy handler, unlike a deferred BEGIN
     * that would fail later with SQLITE_BUSY_SNAPSHOT on its first write. */
    return drudge_db_exec(db, "BEGIN IMMEDIATE", err);
}

drudge_code drudge_db_try_begin(sqlite3 *db, drudge_err *err)
{
    sqlite3_busy_timeout(db, 0);
    drudge_code rc = drudge_db_begin(db, err);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    return rc;
}

drudge_code drudge_db_commit(sqlite3 *db, drudge_err *err)
{
    return drudge_db_exec(db, "COMMIT", err);
}

void drudge_db_rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

drudge_code drudge_db_set_durability(sqlite3 *db, drudge_durability d, drudge_err *err)
{
    return drudge_db_exec(
        db, d == DRUDGE_DURABILITY_FULL ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
        err);
}

/* Creates the file 0600 before SQLite sees it: SQLite would create it with
 * the umask, and it holds case data. The -wal and -shm files SQLite makes
 * later copy the main file's permissions. */
static drudge_code create_private(const char *path, int flags, drudge_err *err)
{
    struct stat st;
    if (stat(path, &st) == 0)
        return DRUDGE_OK;
    if (errno != ENOENT)
        return drudge_seterr(err, DRUDGE_EIO, "database %s: %s", path, strerror(errno));
    if (flags & (DRUDGE_DB_READONLY | DRUDGE_DB_NOCREATE))
        return drudge_seterr(err, DRUDGE_ENOTFOUND, "database %s does not exist", path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST)
        return drudge_seterr(err, DRUDGE_EIO, "cannot create database %s: %s", path,
                             strerror(errno));
    if (fd >= 0)
        close(fd);
    return DRUDGE_OK;
}

static drudge_code migrate(sqlite3 *db, const char *path, drudge_err *err)
{
    int target = drudge_db_schema_version();
    sqlite3_stmt *st = NULL;
    int version = 0;
    drudge_code rc = drudge_db_begin(db, err);
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) {
        rc = drudge_db_err(db, path, err);
        goto cleanup;
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    else {
        /* "file is not a database" surfaces here, at the first read. */
        rc = drudge_db_err(db, path, err);
        goto cleanup;
    }
    /* Done with it: an active statement would lock out a migration's DROP. */
    sqlite3_finalize(st);
    st = NULL;
    if (version > target) {
        rc = drudge_seterr(err, DRUDGE_EDB,
                           "database %s has schema version %d, newer than this drudge (%d): "
                           "upgrade drudge",
                           path, version, target);
        goto cleanup;
    }
    for (int v = version; v < target; v++) {
        for (size_t m = 0; m < NMODULES; m++) {
            const char *const *list = module_migrations[m];
            int n = 0;
            while (list[n])
                n++;
            if (v < n && *list[v]) {
                rc = drudge_db_exec(db, list[v], err);
                if (rc) {
                    char detail[sizeof err->msg];
                    snprintf(detail, sizeof detail, "%s", err->msg);
                    drudge_seterr(err, rc, "%s: migrating schema to version %d: %s", path, v + 1,
                                  detail);
                    goto cleanup;
                }
            }
        }
    }
    if (version != target) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version=%d", target);
        rc = drudge_db_exec(db, sql, err);
        if (rc)
            goto cleanup;
    }
    rc = drudge_db_commit(db, err);
cleanup:
    sqlite3_finalize(st);
    if (rc)
        drudge_db_rollback(db);
    return rc;
}

/* Memory statistics make every SQLite allocation and free take a global
 * mutex (about 6% of the writer's instructions per task); drudge never reads
 * them. sqlite3_config only works before SQLite initialises, which the first
 * open does, so it is done once, before that. */
static pthread_once_t config_once = PTHREAD_ONCE_INIT;

static void configure_sqlite(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/* The first connection to open a database rebuilds the WAL index by reading
 * every valid frame in the WAL, and a closing connection leaves the WAL
 * alone (NO_CKPT_ON_CLOSE). After a big transaction that would make every
 * later command read it all again (a 1,000,000-task load leaves a 175 MB WAL:
 * 0.3 s per command), so the WAL is checkpointed and truncated here. Best
 * effort: with other connections busy, it does what it can without waiting. */
void drudge_db_trim_wal(sqlite3 *db)
{
    sqlite3_busy_timeout(db, 0);
    sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
}

drudge_code drudge_db_open(const char *path, int flags, sqlite3 **out, drudge_err *err)
{
    sqlite3 *db = NULL;
    pthread_once(&config_once, configure_sqlite);
    drudge_code rc = create_private(path, flags, err);
    *out = NULL;
    if (rc)
        return rc;
    int oflags = (flags & DRUDGE_DB_READONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    oflags |= SQLITE_OPEN_NOMUTEX; /* one connection per thread */
    if (sqlite3_open_v2(path, &db, oflags, NULL) != SQLITE_OK) {
        rc = drudge_seterr(err, DRUDGE_EDB, "cannot open database %s: %s", path,
                           db ? sqlite3_errmsg(db) : "out of memory");
        goto cleanup;
    }
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    /* The last connection to close would checkpoint the WAL into the
     * database and delete it: three more fsyncs on every short command (and
     * a directory fsync to create the WAL again next time). Leave that to
     * SQLite's automatic checkpoints; the WAL is as durable as the file. */
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
    sqlite3_extended_result_codes(db, 0);
    if (!(flags & DRUDGE_DB_READONLY)) {
        if (access(path, W_OK) != 0) {
            rc = drudge_seterr(err, DRUDGE_EIO, "database %s is read-only: %s", path,
                               strerror(errno));
            goto cleanup;
        }
        rc = drudge_db_exec(db, "PRAGMA journal_mode=WAL", err);
        if (rc) {
            char detail[sizeof err->msg];
            snprintf(detail, sizeof detail, "%s", err->msg);
            rc = drudge_seterr(err, rc, "%s: %s", path, detail);
            goto cleanup;
        }
        rc = drudge_db_exec(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", err);
        if (rc)
            goto cleanup;
        rc = migrate(db, path, err);
        if (rc)
            goto cleanup;
    } else {
        int version = 0;
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW) {
            rc = drudge_db_err(db, path, err);
            sqlite3_finalize(st);
            goto cleanup;
        }
        version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        if (version != drudge_db_schema_version()) {
            rc = drudge_seterr(err, DRUDGE_EDB,
                               "database %s has schema version %d, this drudge expects %d "
                               "(open it once read-write to migrate)",
                               path, version, drudge_db_schema_version());
            goto cleanup;
        }
    }
    *out = db;
    return DRUDGE_OK;
cleanup:
    sqlite3_close(db);
    return rc;
}

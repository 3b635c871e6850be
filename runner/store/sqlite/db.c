/* db.c: the SQLite backend's connection: opening (0600, WAL), migrating the
 * schema forward, transactions, the statement cache, error messages that
 * name the database, and the table of methods (storeint.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "drudge/util.h"
#include "runner/calendar/window.h"
#include "runner/store/sqlite/sqliteint.h"

#define BUSY_TIMEOUT_MS 30000

static const char *const *const area_migrations[] = {
    sq_queue_migrations,
    sq_audit_migrations,
    sq_schedule_migrations,
};
#define NAREAS (sizeof area_migrations / sizeof area_migrations[0])

static int schema_version(void)
{
    int v = 0;
    for (size_t m = 0; m < NAREAS; m++) {
        int n = 0;
        while (area_migrations[m][n])
            n++;
        if (n > v)
            v = n;
    }
    return v;
}

/* ---- helpers for every file of the backend ---- */

drudge_code sq_err(sq_store *q, const char *what, drudge_err *err)
{
    int rc = sqlite3_errcode(q->db);
    drudge_code code = (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? DRUDGE_EBUSY : DRUDGE_EDB;
    return drudge_seterr(err, code, "database %s: %s: %s", q->base.name, what,
                         sqlite3_errmsg(q->db));
}

drudge_code sq_exec(sq_store *q, const char *sql, const char *what, drudge_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(q->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return DRUDGE_OK;
    int rc = sqlite3_errcode(q->db);
    drudge_seterr(err, (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? DRUDGE_EBUSY : DRUDGE_EDB,
                  "database %s: %s: %s", q->base.name, what, msg ? msg : sqlite3_errmsg(q->db));
    sqlite3_free(msg);
    return err ? err->code : DRUDGE_EDB;
}

static size_t cache_slot(const char *sql)
{
    uintptr_t h = (uintptr_t)sql;
    h ^= h >> 17;
    h *= 0x9e3779b97f4a7c15u;
    return (size_t)(h >> 40) & (SQ_CACHE - 1);
}

sqlite3_stmt *sq_stmt(sq_store *q, const char *sql, const char *what, drudge_err *err)
{
    size_t i = cache_slot(sql);
    for (size_t probe = 0; probe < SQ_CACHE; probe++, i = (i + 1) & (SQ_CACHE - 1)) {
        if (q->cache[i].sql == sql) {
            sqlite3_stmt *st = q->cache[i].st;
            sqlite3_reset(st);
            return st;
        }
        if (q->cache[i].sql)
            continue;
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
            sq_err(q, what, err);
            return NULL;
        }
        q->cache[i].sql = sql;
        q->cache[i].st = st;
        return st;
    }
    /* More distinct statements than slots: a programming error, caught by the tests. */
    drudge_seterr(err, DRUDGE_EDB, "database %s: %s: the statement cache is full", q->base.name,
                  what);
    return NULL;
}

drudge_code sq_done(sq_store *q, sqlite3_stmt *st, const char *what, drudge_err *err)
{
    int s = sqlite3_step(st);
    drudge_code rc = s == SQLITE_DONE || s == SQLITE_ROW ? DRUDGE_OK : sq_err(q, what, err);
    sqlite3_reset(st);
    return rc;
}

drudge_code sq_one_int(sq_store *q, sqlite3_stmt *st, const char *what, int64_t *v, drudge_err *err)
{
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        *v = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return r == SQLITE_ROW || r == SQLITE_DONE ? DRUDGE_OK : sq_err(q, what, err);
}

drudge_code sq_int(sq_store *q, const char *sql, const char *what, int64_t arg, int64_t *v,
                   drudge_err *err)
{
    sqlite3_stmt *st = sq_stmt(q, sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    if (sqlite3_bind_parameter_count(st))
        sqlite3_bind_int64(st, 1, arg);
    return sq_one_int(q, st, what, v, err);
}

void sq_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

char *sq_col_strdup(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? drudge_xstrdup((const char *)s) : NULL;
}

const char *sq_col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? (const char *)s : "";
}

int64_t sq_changes(sq_store *q)
{
    return sqlite3_changes64(q->db);
}

/* ---- done counts, written once per transaction ---- */

static void done_clear(sq_store *q)
{
    for (size_t i = 0; i < q->ndone; i++)
        free(q->done[i].script);
    q->ndone = 0;
    q->minutes.n = 0;
}

static const char minute_sql[] = "INSERT INTO throughput(minute, done, failed) VALUES (?1, ?2, ?3) "
                                 "ON CONFLICT(minute) DO UPDATE SET done = done + excluded.done, "
                                 "failed = failed + excluded.failed";

static drudge_code minute_write(sq_store *q, const drudge_minute *m, drudge_err *err)
{
    sqlite3_stmt *st = sq_stmt(q, minute_sql, "counting attempts per minute", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, m->minute);
    sqlite3_bind_int64(st, 2, m->done);
    sqlite3_bind_int64(st, 3, m->failed);
    return sq_done(q, st, "counting attempts per minute", err);
}

drudge_code sq_count_attempt(sq_store *q, const char *outcome, int64_t ended_at, drudge_err *err)
{
    drudge_minute spill;
    return drudge_minutes_add(&q->minutes, outcome, ended_at, &spill) ? minute_write(q, &spill, err)
                                                                      : DRUDGE_OK;
}

const char *const sq_count_names[SQ_NCOUNTS] = {"queued", "failed", "dead", "cancelled", "open"};

static struct sq_done *done_of(sq_store *q, const char *script)
{
    for (size_t i = 0; i < q->ndone; i++)
        if (!strcmp(q->done[i].script, script))
            return &q->done[i];
    q->done = drudge_xrealloc(q->done, (q->ndone + 1) * sizeof *q->done);
    struct sq_done *d = &q->done[q->ndone++];
    memset(d, 0, sizeof *d);
    d->script = drudge_xstrdup(script);
    return d;
}

static const char count_add_sql[] = "INSERT INTO task_counts(script, state, n) VALUES (?1, ?2, ?3) "
                                    "ON CONFLICT(script, state) DO UPDATE SET n = n + excluded.n";
static const char count_add_by_id_sql[] =
    "INSERT INTO task_counts(script, state, n) SELECT script, ?2, ?3 FROM tasks WHERE id = ?1 "
    "ON CONFLICT(script, state) DO UPDATE SET n = n + excluded.n";

/* Adds n to (script, state) now; a NULL script is task_id's. */
static drudge_code count_add(sq_store *q, const char *script, int64_t task_id, const char *state,
                             int64_t n, drudge_err *err)
{
    sqlite3_stmt *st =
        sq_stmt(q, script ? count_add_sql : count_add_by_id_sql, "counting tasks by state", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    if (script)
        sqlite3_bind_text(st, 1, script, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 1, task_id);
    sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, n);
    return sq_done(q, st, "counting tasks by state", err);
}

drudge_code sq_count_task(sq_store *q, const char *script, int64_t task_id, const char *state,
                          int64_t n, drudge_err *err)
{
    int k = 0;
    while (k < SQ_NCOUNTS && strcmp(sq_count_names[k], state))
        k++;
    if (k == SQ_NCOUNTS)
        return drudge_seterr(err, DRUDGE_EUSAGE, "no task count for the state '%s'", state);
    if (!n)
        return DRUDGE_OK;
    if (!script || sqlite3_get_autocommit(q->db))
        return count_add(q, script, task_id, state, n, err);
    done_of(q, script)->counts[k] += n;
    return DRUDGE_OK;
}

drudge_code sq_count_done(sq_store *q, const char *script, int64_t task_id, drudge_err *err)
{
    if (!script) { /* rare (a `drudge run`): count it now, by the task's row */
        static const char by_id[] =
            "INSERT INTO done_counts(script, n) SELECT script, 1 FROM tasks WHERE id = ?1 "
            "ON CONFLICT(script) DO UPDATE SET n = n + 1";
        sqlite3_stmt *st = sq_stmt(q, by_id, "counting done tasks", err);
        if (!st)
            return err ? err->code : DRUDGE_EDB;
        sqlite3_bind_int64(st, 1, task_id);
        drudge_code rc = sq_done(q, st, "counting done tasks", err);
        return rc ? rc : count_add(q, NULL, task_id, "queued", -1, err);
    }
    struct sq_done *d = done_of(q, script);
    d->n++;
    d->counts[0]--; /* outcomes change queued tasks only (write_outcome) */
    return DRUDGE_OK;
}

static drudge_code done_flush(sq_store *q, drudge_err *err)
{
    static const char add[] = "INSERT INTO done_counts(script, n) VALUES (?1, ?2) "
                              "ON CONFLICT(script) DO UPDATE SET n = n + excluded.n";
    drudge_code rc = DRUDGE_OK;
    for (size_t i = 0; i < q->ndone && !rc; i++) {
        for (int k = 0; k < SQ_NCOUNTS && !rc; k++)
            if (q->done[i].counts[k])
                rc = count_add(q, q->done[i].script, 0, sq_count_names[k], q->done[i].counts[k],
                               err);
        if (rc || !q->done[i].n)
            continue;
        sqlite3_stmt *st = sq_stmt(q, add, "counting done tasks", err);
        if (!st)
            return err ? err->code : DRUDGE_EDB;
        sqlite3_bind_text(st, 1, q->done[i].script, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, q->done[i].n);
        rc = sq_done(q, st, "counting done tasks", err);
    }
    for (int i = 0; i < q->minutes.n && !rc; i++)
        rc = minute_write(q, &q->minutes.m[i], err);
    done_clear(q);
    return rc;
}

/* ---- transactions ---- */

drudge_code sq_begin(sq_store *q, drudge_err *err)
{
    /* BEGIN IMMEDIATE waits through the busy handler, unlike a deferred BEGIN
     * that would fail later with SQLITE_BUSY_SNAPSHOT on its first write. */
    done_clear(q);
    return sq_exec(q, "BEGIN IMMEDIATE", "beginning a write transaction", err);
}

drudge_code sq_commit(sq_store *q, drudge_err *err)
{
    drudge_code rc = done_flush(q, err);
    if (rc)
        return rc;
    return sq_exec(q, "COMMIT", "committing", err);
}

void sq_rollback(sq_store *q)
{
    done_clear(q);
    if (!sqlite3_get_autocommit(q->db))
        sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
}

static drudge_code m_begin(drudge_store *s, drudge_tx how, drudge_err *err)
{
    sq_store *q = sq(s);
    if (how == DRUDGE_TX_READ) {
        done_clear(q);
        return sq_exec(q, "BEGIN", "beginning a read transaction", err);
    }
    if (how == DRUDGE_TX_WRITE)
        return sq_begin(q, err);
    sqlite3_busy_timeout(q->db, 0);
    drudge_code rc = sq_begin(q, err);
    sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS);
    return rc;
}

static drudge_code m_commit(drudge_store *s, drudge_err *err)
{
    return sq_commit(sq(s), err);
}

static void m_rollback(drudge_store *s)
{
    sq_rollback(sq(s));
}

/* ---- settings ---- */

static drudge_code m_set_durability(drudge_store *s, drudge_durability d, drudge_err *err)
{
    /* AT_SYNC: NORMAL until m_sync, whose checkpoint syncs the WAL. */
    return sq_exec(sq(s),
                   d == DRUDGE_DURABILITY_FULL ? "PRAGMA synchronous=FULL"
                                               : "PRAGMA synchronous=NORMAL",
                   "setting durability", err);
}

/* The first connection to open a database rebuilds the WAL index by reading
 * every valid frame in the WAL, and a closing connection leaves the WAL
 * alone (NO_CKPT_ON_CLOSE). After a big transaction that would make every
 * later command read it all again (a 1,000,000-task load leaves a 175 MB WAL:
 * 0.3 s per command), so the WAL is checkpointed and truncated here. Best
 * effort: with other connections busy, it does what it can without waiting. */
static void m_trim(drudge_store *s)
{
    sq_store *q = sq(s);
    sqlite3_busy_timeout(q->db, 0);
    sqlite3_wal_checkpoint_v2(q->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS);
}

/* A PASSIVE checkpoint syncs the WAL before it copies frames into the
 * main file, and the main file after, whatever the synchronous setting
 * (NORMAL still syncs checkpoints); frames someone else copied were
 * synced by their checkpoint. So when every frame is copied, every
 * commit is durable. Where a reader keeps frames from being copied, or
 * the checkpoint is busy, the WAL is synced here. The close's own fold
 * then finds nothing to copy and no sync to make. */
static drudge_code m_sync(drudge_store *s, drudge_err *err)
{
    sq_store *q = sq(s);
    drudge_code rc = m_set_durability(s, DRUDGE_DURABILITY_FULL, err);
    if (rc)
        return rc;
    int log = -1, done = -1;
    sqlite3_busy_timeout(q->db, 0);
    int src = sqlite3_wal_checkpoint_v2(q->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS);
    if (src == SQLITE_OK && log >= 0 && done == log)
        return DRUDGE_OK;
    sqlite3_file *wal = NULL;
    if (sqlite3_file_control(q->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK ||
        !wal || !wal->pMethods)
        return DRUDGE_OK; /* no WAL open: nothing committed is left outside the main file */
    int xrc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
    if (xrc != SQLITE_OK)
        return drudge_seterr(err, DRUDGE_EIO,
                             "database %s: the last commit may not be on disk: syncing the "
                             "write-ahead log failed: %s",
                             s->name, sqlite3_errstr(xrc));
    return DRUDGE_OK;
}

static const drudge_store_methods sqlite_methods;

const char *drudge_store_engines(void)
{
    static char v[64];
    snprintf(v, sizeof v, "SQLite %s", sqlite3_libversion());
    return v;
}

/* ---- opening ---- */

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
    if (flags & (DRUDGE_STORE_READONLY | DRUDGE_STORE_NOCREATE))
        return drudge_seterr(err, DRUDGE_ENOTFOUND, "database %s does not exist", path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST)
        return drudge_seterr(err, DRUDGE_EIO, "cannot create database %s: %s", path,
                             strerror(errno));
    if (fd >= 0)
        close(fd);
    return DRUDGE_OK;
}

/* The database's user_version; "file is not a database" surfaces here, at
 * the first read. */
static drudge_code read_version(sq_store *q, int *version, drudge_err *err)
{
    sqlite3_stmt *st = NULL;
    drudge_code rc = DRUDGE_OK;
    if (sqlite3_prepare_v2(q->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        rc = drudge_seterr(err, DRUDGE_EDB, "database %s: %s", q->base.name, sqlite3_errmsg(q->db));
    else
        *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc;
}

/* Runs every area's step from version v to v + 1. */
static drudge_code migrate_step(sq_store *q, int v, drudge_err *err)
{
    for (size_t m = 0; m < NAREAS; m++) {
        const char *const *list = area_migrations[m];
        int n = 0;
        while (list[n])
            n++;
        if (v >= n || !*list[v])
            continue;
        char what[64];
        snprintf(what, sizeof what, "migrating schema to version %d", v + 1);
        drudge_code rc = sq_exec(q, list[v], what, err);
        if (rc)
            return rc;
    }
    return DRUDGE_OK;
}

static drudge_code migrate(sq_store *q, drudge_err *err)
{
    int target = schema_version(), version = 0;
    drudge_code rc = sq_begin(q, err);
    if (rc)
        return rc;
    rc = read_version(q, &version, err);
    if (rc)
        goto cleanup;
    if (version > target) {
        rc = drudge_seterr(err, DRUDGE_EDB,
                           "database %s has schema version %d, newer than this drudge (%d): "
                           "upgrade drudge",
                           q->base.name, version, target);
        goto cleanup;
    }
    for (int v = version; v < target && !rc; v++)
        rc = migrate_step(q, v, err);
    if (rc)
        goto cleanup;
    if (version != target) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version=%d", target);
        rc = sq_exec(q, sql, "migrating schema", err);
        if (rc)
            goto cleanup;
    }
    rc = sq_commit(q, err);
cleanup:
    if (rc)
        sq_rollback(q);
    return rc;
}

static drudge_code check_version(sq_store *q, drudge_err *err)
{
    int version = 0;
    drudge_code rc = read_version(q, &version, err);
    if (!rc && version != schema_version())
        rc = drudge_seterr(err, DRUDGE_EDB,
                           "database %s has schema version %d, this drudge expects %d "
                           "(open it once read-write to migrate)",
                           q->base.name, version, schema_version());
    return rc;
}

/* A read-only command on a WAL database in a directory this user cannot
 * write (a database another user owns, a read-only mount): SQLite needs
 * the -shm file, which it cannot create there, and refuses ("attempt to
 * write a readonly database"). With no WAL left to read (a checkpointed
 * database: every drudge work and bulk load ends so), the file alone is the
 * database and can be opened immutable; otherwise say what is needed. */
static drudge_code reopen_immutable(sq_store *q, const char *path, drudge_code rc, drudge_err *err)
{
    int code = sqlite3_errcode(q->db);
    if (code != SQLITE_READONLY && code != SQLITE_CANTOPEN)
        return rc;
    char side[PATH_MAX];
    struct stat st;
    snprintf(side, sizeof side, "%s-shm", path);
    if (stat(side, &st) == 0)
        return rc; /* not the missing -shm */
    snprintf(side, sizeof side, "%s-wal", path);
    if (stat(side, &st) == 0 && st.st_size > 0)
        return drudge_seterr(err, DRUDGE_EIO,
                             "database %s: cannot read it here: its write-ahead log %s holds "
                             "changes, and reading them needs %s-shm, which this user cannot "
                             "create in that directory (run a drudge command on it as its owner, "
                             "which folds the log in, or make the directory writable)",
                             path, side, path);
    drudge_buf uri = {0};
    drudge_buf_puts(&uri, "file:");
    for (const char *c = path; *c; c++) {
        if (*c == '%' || *c == '?' || *c == '#')
            drudge_buf_printf(&uri, "%%%02X", (unsigned char)*c);
        else
            drudge_buf_add(&uri, c, 1);
    }
    drudge_buf_puts(&uri, "?immutable=1");
    sqlite3_close(q->db);
    q->db = NULL;
    int oflags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
    if (sqlite3_open_v2(uri.data, &q->db, oflags, NULL) != SQLITE_OK)
        rc = drudge_seterr(err, DRUDGE_EDB, "cannot open database %s: %s", path,
                           q->db ? sqlite3_errmsg(q->db) : "out of memory");
    else
        rc = check_version(q, err);
    drudge_buf_free(&uri);
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

static void m_close(drudge_store *s)
{
    if (!s)
        return;
    sq_store *q = sq(s);
    for (size_t i = 0; i < SQ_CACHE; i++)
        sqlite3_finalize(q->cache[i].st);
    done_clear(q);
    free(q->done);
    sqlite3_close(q->db);
    free(q->base.name);
    free(q);
}

/* Pragmas for the connection's work: a writer's indexes outgrow the default
 * cache with a backlog of a million tasks (the writer spent a fifth more
 * per task re-reading pages; 256 MiB is allocated only as pages are used);
 * temp_store keeps statement journals and temporary tables (a retry's
 * requeue, the status queries) in memory instead of a temp file. */
static void tune(sq_store *q, int flags)
{
    if (flags & DRUDGE_STORE_WRITER)
        sqlite3_exec(q->db, "PRAGMA cache_size=-262144; PRAGMA temp_store=MEMORY", NULL, NULL,
                     NULL);
    else if (flags & DRUDGE_STORE_BULK)
        sqlite3_exec(q->db, "PRAGMA cache_size=-131072", NULL, NULL, NULL);
}

/* Switches a database to WAL, waiting for the lock as any write would.
 * Changing the journal mode of a new database needs its exclusive lock, and
 * SQLite does not call the busy handler for it while this connection holds
 * its read lock (to avoid a deadlock), so two commands opening a new file
 * at once got "database is locked" at once: a worker started beside its
 * first enqueue exited. The database is WAL once any of them has switched
 * it, so a retry usually finds nothing left to do. */
static drudge_code switch_to_wal(sq_store *q, drudge_err *err)
{
    int64_t deadline = drudge_mono_us() + (int64_t)BUSY_TIMEOUT_MS * 1000;
    for (;;) {
        drudge_code rc = sq_exec(q, "PRAGMA journal_mode=WAL", "switching to WAL", err);
        if (rc != DRUDGE_EBUSY || drudge_mono_us() >= deadline)
            return rc;
        usleep(10000);
    }
}

static drudge_code open_rw(sq_store *q, const char *path, drudge_err *err)
{
    if (access(path, W_OK) != 0)
        return drudge_seterr(err, DRUDGE_EIO, "database %s is read-only: %s", path,
                             strerror(errno));
    drudge_code rc = switch_to_wal(q, err);
    if (!rc)
        rc = sq_exec(q, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", "opening", err);
    if (!rc)
        rc = migrate(q, err);
    return rc;
}

drudge_code drudge_sqlite_open(const char *path, int flags, drudge_store **out, drudge_err *err)
{
    pthread_once(&config_once, configure_sqlite);
    *out = NULL;
    drudge_code rc = create_private(path, flags, err);
    if (rc)
        return rc;
    sq_store *q = drudge_xmalloc(sizeof *q);
    memset(q, 0, sizeof *q);
    q->base.m = &sqlite_methods;
    q->base.name = drudge_xstrdup(path);
    q->flags = flags;
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(q->origin, sizeof q->origin, "%s:%ld", host, (long)getpid());
    int oflags = (flags & DRUDGE_STORE_READONLY) ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    oflags |= SQLITE_OPEN_NOMUTEX; /* one connection per thread */
    if (sqlite3_open_v2(path, &q->db, oflags, NULL) != SQLITE_OK) {
        rc = drudge_seterr(err, DRUDGE_EDB, "cannot open database %s: %s", path,
                           q->db ? sqlite3_errmsg(q->db) : "out of memory");
        if (q->db && (flags & DRUDGE_STORE_READONLY))
            rc = reopen_immutable(q, path, rc, err);
        if (rc)
            goto fail;
    }
    sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS);
    /* The last connection to close checkpoints the WAL into the database
     * and deletes it (SQLite does that itself when it can lock the file
     * alone), so that after any drudge command has exited the main file
     * alone holds every commit: auditors are handed "the database", one
     * file. It costs a short command a few fsyncs (README, "A database
     * handed over as one file", has the measurement). */
    sqlite3_extended_result_codes(q->db, 0);
    rc = (flags & DRUDGE_STORE_READONLY) ? check_version(q, err) : open_rw(q, path, err);
    if (rc && (flags & DRUDGE_STORE_READONLY))
        rc = reopen_immutable(q, path, rc, err);
    if (!rc)
        rc = sq_register_functions(q, err);
    if (rc)
        goto fail;
    tune(q, flags);
    *out = &q->base;
    return DRUDGE_OK;
fail:
    m_close(&q->base);
    return rc;
}

static const drudge_store_methods sqlite_methods = {
    .engine = "sqlite",
    .close = m_close,
    .set_durability = m_set_durability,
    .trim = m_trim,
    .sync = m_sync,
    .begin = m_begin,
    .commit = m_commit,
    .rollback = m_rollback,
    .enqueue = sq_enqueue,
    .known_script = sq_known_script,
    .claim = sq_claim,
    .start_adhoc = sq_start_adhoc,
    .finish = sq_finish,
    .release = sq_release,
    .mark_started = sq_mark_started,
    .unclaim = sq_unclaim,
    .renew = sq_renew,
    .cancel_requests = sq_cancel_requests,
    .cancel_requested = sq_cancel_requested,
    .expired = sq_expired,
    .expire_leases = sq_expire_leases,
    .leases_like = sq_leases_like,
    .end_lease = sq_end_lease,
    .drop_lease = sq_drop_lease,
    .idle = sq_idle,
    .list = sq_list,
    .get = sq_get,
    .task_state = sq_task_state,
    .status = sq_status,
    .retry = sq_retry,
    .retry_all = sq_retry_all,
    .cancel = sq_cancel,
    .pause = sq_pause,
    .resume = sq_resume,
    .resolve = sq_resolve,
    .next_due = sq_next_due,
    .steps = sq_steps,
    .chain_head = sq_chain_head,
    .step_hash = sq_step_hash,
    .append_step = sq_append_step,
    .append_steps = sq_append_steps,
    .put_payload = sq_put_payload,
    .payload = sq_payload,
    .payloads = sq_payloads,
    .payload_referrer = sq_payload_referrer,
    .prune = sq_prune,
    .checkpoints = sq_checkpoints,
    .last_checkpoint = sq_last_checkpoint,
    .add_checkpoint = sq_add_checkpoint,
    .count_steps = sq_count_steps,
    .attempts_unchained = sq_attempts_unchained,
    .last_recorded_attempt = sq_last_recorded_attempt,
    .schedule_add = sq_schedule_add,
    .schedule_remove = sq_schedule_remove,
    .schedule_set_paused = sq_schedule_set_paused,
    .schedules = sq_schedules,
    .schedule_advance = sq_schedule_advance,
    .finished = sq_finished,
    .attempt_times = sq_attempt_times,
    .backlog = sq_backlog,
    .backlogs = sq_backlogs,
    .metrics = sq_metrics,
    .task_facts = sq_task_facts,
    .put_script_version = sq_put_script_version,
    .script_version = sq_script_version,
    .script_file = sq_script_file,
    .script_versions = sq_script_versions,
    .copy_out = sq_copy_out,
    .copy_in = sq_copy_in,
    .copy_finish = sq_copy_finish,
    .empty = sq_empty,
    .backup = sq_backup,
    .user_add = sq_user_add,
    .user_set = sq_user_set,
    .user = sq_user,
    .users = sq_users,
    .key_add = sq_key_add,
    .key_find = sq_key_find,
    .key_drop = sq_key_drop,
    .keys = sq_keys,
    .throughput = sq_throughput,
    .keys_drop = sq_keys_drop,
    .login_fails = sq_login_fails,
    .login_note = sq_login_note,
    .paused = sq_paused,
    .waiting = sq_waiting,
    .breaker = sq_breaker,
    .breakers = sq_breakers,
    .outages = sq_outages,
    .deadlines = sq_deadlines,
    .notify_add = sq_notify_add,
    .notify_remove = sq_notify_remove,
    .notify_channels = sq_notify_channels,
    .notify_queue = sq_notify_queue,
    .notify_claim = sq_notify_claim,
    .notify_done = sq_notify_done,
    .notify_log = sq_notify_log,
    .notify_counts = sq_notify_counts,
    .notify_mark_get = sq_notify_mark_get,
    .notify_mark_set = sq_notify_mark_set,
};

/* copy.c: the SQLite side of `drudge db copy` (store.h): every table's rows
 * out, rows in as they were, and what SQLite derives from them (done
 * counts, tasks waiting for later). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "drudge/util.h"
#include "runner/store/sqlite/sqliteint.h"

#define MAX_COLS 64

drudge_code sq_copy_out(drudge_store *s, const drudge_copy_table *t, drudge_copy_fn fn, void *ud,
                        drudge_err *err)
{
    sq_store *q = sq(s);
    drudge_buf sql = {0};
    drudge_buf_printf(&sql, "SELECT %s FROM %s ORDER BY %s", t->columns, t->name,
                      *t->order ? t->order : "rowid");
    sqlite3_stmt *st = NULL;
    int n = t->ncols < MAX_COLS ? t->ncols : MAX_COLS;
    drudge_code rc = DRUDGE_OK;
    if (sqlite3_prepare_v2(q->db, sql.data, -1, &st, NULL) != SQLITE_OK)
        rc = sq_err(q, "copying rows out", err);
    int r = rc ? SQLITE_ERROR : sqlite3_step(st);
    while (r == SQLITE_ROW) {
        const char *vals[MAX_COLS];
        size_t lens[MAX_COLS];
        for (int c = 0; c < n; c++) {
            int blob = sqlite3_column_type(st, c) == SQLITE_BLOB;
            vals[c] = blob ? (const char *)sqlite3_column_blob(st, c)
                           : (const char *)sqlite3_column_text(st, c);
            lens[c] = (size_t)sqlite3_column_bytes(st, c);
            if (blob && !vals[c])
                vals[c] = ""; /* an empty blob is data, not NULL */
        }
        drudge_copy_row row = {.table = t, .values = vals, .lens = lens};
        if (fn(ud, &row))
            break;
        r = sqlite3_step(st);
    }
    if (!rc && r != SQLITE_ROW && r != SQLITE_DONE)
        rc = sq_err(q, "copying rows out", err);
    sqlite3_finalize(st);
    drudge_buf_free(&sql);
    return rc;
}

/* "INSERT INTO name(columns) VALUES (?, ...)" for table t, made once per
 * table (the statement cache goes by the text's address). */
static const char *insert_sql(const drudge_copy_table *t)
{
    static struct {
        const drudge_copy_table *t;
        char *sql;
    } made[16];
    for (size_t i = 0; i < sizeof made / sizeof made[0]; i++) {
        if (made[i].t == t)
            return made[i].sql;
        if (made[i].t)
            continue;
        drudge_buf b = {0};
        drudge_buf_printf(&b, "INSERT INTO %s(%s) VALUES (", t->name, t->columns);
        for (int c = 0; c < t->ncols; c++)
            drudge_buf_puts(&b, c ? ",?" : "?");
        drudge_buf_puts(&b, ")");
        made[i].t = t;
        made[i].sql = drudge_buf_take(&b);
        return made[i].sql;
    }
    return NULL;
}

drudge_code sq_copy_in(drudge_store *s, const drudge_copy_row *row, drudge_err *err)
{
    sq_store *q = sq(s);
    const drudge_copy_table *t = row->table;
    const char *sql = insert_sql(t);
    sqlite3_stmt *st = sql ? sq_stmt(q, sql, "copying rows in", err) : NULL;
    if (!st)
        return sql ? (err ? err->code : DRUDGE_EDB)
                   : drudge_seterr(err, DRUDGE_EUSAGE, "too many tables to copy");
    int blob_col = t->blob - 1; /* -1: none */
    for (int c = 0; c < t->ncols; c++) {
        const char *v = row->values[c];
        if (!v)
            sqlite3_bind_null(st, c + 1);
        else if (c == blob_col)
            sqlite3_bind_blob64(st, c + 1, v, row->lens[c], SQLITE_STATIC);
        else
            sqlite3_bind_text(st, c + 1, v, (int)row->lens[c], SQLITE_STATIC);
    }
    return sq_done(q, st, "copying rows in", err);
}

drudge_code sq_copy_finish(drudge_store *s, drudge_err *err)
{
    static const char sql[] =
        "DELETE FROM done_counts;"
        "INSERT INTO done_counts SELECT script, count(*) FROM tasks WHERE state = 'done' "
        "  GROUP BY script;"
        "DELETE FROM task_counts;"
        "INSERT INTO task_counts SELECT script, state, count(*) FROM tasks WHERE state <> 'done' "
        "  GROUP BY 1, 2;"
        "INSERT INTO task_counts SELECT script, 'open', count(*) FROM tasks "
        "  WHERE (state = 'failed' OR state = 'dead') AND resolved_at IS NULL GROUP BY 1;"
        "DELETE FROM throughput;"
        "INSERT INTO throughput SELECT ended_at / 60000000, "
        "  sum(outcome = 'done'), sum(outcome IN ('failed','error','timeout','memory')) "
        "  FROM attempts WHERE outcome IN ('done','failed','error','timeout','memory') "
        "  GROUP BY 1;"
        "UPDATE tasks SET later = 1 WHERE state = 'queued' "
        "  AND run_at > CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER);";
    return sq_exec(sq(s), sql, "finishing the copy", err);
}

drudge_code sq_empty(drudge_store *s, int *empty, drudge_err *err)
{
    static const char sql[] = "SELECT EXISTS (SELECT 1 FROM tasks) + EXISTS (SELECT 1 FROM steps)";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "reading the database", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    int r = sqlite3_step(st);
    *empty = r == SQLITE_ROW && sqlite3_column_int(st, 0) == 0;
    sqlite3_reset(st);
    return r == SQLITE_ROW ? DRUDGE_OK : sq_err(q, "reading the database", err);
}

/* ---- drudge db backup ---- */

/* SQLite's online backup copies every page in one step, so it reads one
 * snapshot (WAL: writers go on meanwhile). The copy is created 0600 before
 * SQLite opens it (it holds case data) and switched to a rollback journal,
 * so that it is one file. */
drudge_code sq_backup(drudge_store *s, const char *path, int64_t *pages, drudge_err *err)
{
    sq_store *q = sq(s);
    sqlite3 *dst = NULL;
    drudge_code rc = DRUDGE_OK;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return drudge_seterr(
            err, errno == EEXIST ? DRUDGE_ESTATE : DRUDGE_EIO, "cannot create %s: %s", path,
            errno == EEXIST ? "it exists (a backup never overwrites)" : strerror(errno));
    close(fd);
    if (sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        rc = drudge_seterr(err, DRUDGE_EIO, "cannot open %s: %s", path,
                           dst ? sqlite3_errmsg(dst) : "out of memory");
        goto cleanup;
    }
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", q->db, "main");
    if (!b) {
        rc = drudge_seterr(err, DRUDGE_EDB, "backing up %s to %s: %s", q->base.name, path,
                           sqlite3_errmsg(dst));
        goto cleanup;
    }
    int r;
    do
        r = sqlite3_backup_step(b, -1);
    while (r == SQLITE_BUSY || r == SQLITE_LOCKED);
    *pages = sqlite3_backup_pagecount(b);
    sqlite3_backup_finish(b);
    if (r != SQLITE_DONE) {
        rc = drudge_seterr(err, DRUDGE_EDB, "backing up %s to %s: %s", q->base.name, path,
                           sqlite3_errstr(r));
        goto cleanup;
    }
    if (sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK)
        rc = drudge_seterr(err, DRUDGE_EDB, "backing up to %s: %s", path, sqlite3_errmsg(dst));
cleanup:
    sqlite3_close(dst);
    if (rc)
        unlink(path);
    return rc;
}

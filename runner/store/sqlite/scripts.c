/* scripts.c: the SQLite backend's script versions: source files stored once
 * by SHA-256 (script_files) and versions by the SHA-256 of their manifest
 * (script_versions), both append-only (schema.c, v7). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "runner/store/sqlite/sqliteint.h"

drudge_code sq_put_script_version(drudge_store *s, const drudge_script_version *v, int64_t now,
                                  drudge_err *err)
{
    static const char file_sql[] = "INSERT INTO script_files(sha256, size, data, created_at) "
                                   "VALUES (?1,?2,?3,?4) ON CONFLICT(sha256) DO NOTHING";
    static const char version_sql[] =
        "INSERT INTO script_versions(sha256, script, path, manifest, created_at) "
        "VALUES (?1,?2,?3,?4,?5) ON CONFLICT(sha256) DO NOTHING";
    static const char what[] = "storing the script version";
    sq_store *q = sq(s);
    drudge_code rc = DRUDGE_OK;
    for (size_t i = 0; i < v->nfiles && !rc; i++) {
        const drudge_script_file *f = &v->files[i];
        sqlite3_stmt *st = sq_stmt(q, file_sql, what, err);
        if (!st)
            return err ? err->code : DRUDGE_EDB;
        sqlite3_bind_text(st, 1, f->sha256, 64, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)f->len);
        sqlite3_bind_blob64(st, 3, f->len ? (const void *)f->data : "", f->len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, now);
        rc = sq_done(q, st, what, err);
    }
    if (rc)
        return rc;
    sqlite3_stmt *st = sq_stmt(q, version_sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, v->sha256, 64, SQLITE_STATIC);
    sq_bind_text(st, 2, v->script);
    sq_bind_text(st, 3, v->path);
    sq_bind_text(st, 4, v->manifest);
    sqlite3_bind_int64(st, 5, now);
    return sq_done(q, st, what, err);
}

drudge_code sq_script_version(drudge_store *s, const char *sha256, drudge_script_version *out,
                              drudge_err *err)
{
    static const char sql[] =
        "SELECT script, path, manifest, created_at FROM script_versions WHERE sha256 = ?";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "reading a script version", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sq_bind_text(st, 1, sha256);
    int r = sqlite3_step(st);
    drudge_code rc = DRUDGE_OK;
    if (r == SQLITE_ROW) {
        snprintf(out->sha256, sizeof out->sha256, "%s", sha256);
        out->script = sq_col_strdup(st, 0);
        out->path = sq_col_strdup(st, 1);
        out->manifest = sq_col_strdup(st, 2);
        out->created_at = sqlite3_column_int64(st, 3);
    } else if (r == SQLITE_DONE) {
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "database %s has no script version %.16s...",
                           q->base.name, sha256);
    } else {
        rc = sq_err(q, "reading a script version", err);
    }
    sqlite3_reset(st);
    return rc;
}

drudge_code sq_script_file(drudge_store *s, const char *sha256, unsigned char **data, size_t *len,
                           drudge_err *err)
{
    static const char sql[] = "SELECT data FROM script_files WHERE sha256 = ?";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "reading a script file", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sq_bind_text(st, 1, sha256);
    int r = sqlite3_step(st);
    drudge_code rc = DRUDGE_OK;
    if (r == SQLITE_ROW) {
        *len = (size_t)sqlite3_column_bytes(st, 0);
        *data = drudge_xmalloc(*len + 1);
        if (*len)
            memcpy(*data, sqlite3_column_blob(st, 0), *len);
        (*data)[*len] = 0;
    } else if (r == SQLITE_DONE) {
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "database %s has no script file %.16s...",
                           q->base.name, sha256);
    } else {
        rc = sq_err(q, "reading a script file", err);
    }
    sqlite3_reset(st);
    return rc;
}

drudge_code sq_script_versions(drudge_store *s, const char *script,
                               int (*fn)(void *ud, const drudge_script_version_use *v), void *ud,
                               drudge_err *err)
{
    static const char sql[] =
        "SELECT v.sha256, v.script, v.path, v.created_at, coalesce(min(t.created_at), 0), "
        "coalesce(max(t.created_at), 0), count(t.id), "
        "coalesce(sum(t.state = 'done' OR t.state = 'failed' OR t.state = 'dead'), 0), "
        "coalesce(sum(t.state = 'failed' OR t.state = 'dead'), 0) "
        "FROM script_versions v LEFT JOIN tasks t ON t.script_sha256 = v.sha256 "
        "WHERE ?1 IS NULL OR v.script = ?1 GROUP BY v.sha256 ORDER BY v.script, v.created_at";
    sq_store *q = sq(s);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return sq_err(q, "reading script versions", err);
    }
    sq_bind_text(st, 1, script);
    int r = sqlite3_step(st);
    while (r == SQLITE_ROW) {
        drudge_script_version_use u = {.sha256 = sq_col_text(st, 0),
                                       .script = sq_col_text(st, 1),
                                       .path = sq_col_text(st, 2),
                                       .created_at = sqlite3_column_int64(st, 3),
                                       .first_use = sqlite3_column_int64(st, 4),
                                       .last_use = sqlite3_column_int64(st, 5),
                                       .tasks = sqlite3_column_int64(st, 6),
                                       .finished = sqlite3_column_int64(st, 7),
                                       .failed = sqlite3_column_int64(st, 8)};
        if (fn(ud, &u))
            break;
        r = sqlite3_step(st);
    }
    drudge_code rc =
        r == SQLITE_ROW || r == SQLITE_DONE ? DRUDGE_OK : sq_err(q, "reading script versions", err);
    sqlite3_finalize(st);
    return rc;
}

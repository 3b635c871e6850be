/* scripts.c: the PostgreSQL backend's script versions, as SQLite's
 * (runner/store/sqlite/scripts.c): files once by SHA-256, versions by the
 * SHA-256 of their manifest, both append-only (schema.c, v2). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "runner/store/pg/pgint.h"

drudge_code pg_put_script_version(drudge_store *s, const drudge_script_version *v, int64_t now,
                                  drudge_err *err)
{
    static const char file_sql[] = "INSERT INTO script_files(sha256, size, data, created_at) "
                                   "VALUES ($1,$2,$3,$4) ON CONFLICT (sha256) DO NOTHING";
    static const char version_sql[] =
        "INSERT INTO script_versions(sha256, script, path, manifest, created_at) "
        "VALUES ($1,$2,$3,$4,$5) ON CONFLICT (sha256) DO NOTHING";
    static const char what[] = "storing the script version";
    pg_store *q = pgs(s);
    drudge_code rc = DRUDGE_OK;
    for (size_t i = 0; i < v->nfiles && !rc; i++) {
        const drudge_script_file *f = &v->files[i];
        pg_params p = {0};
        pg_p_str(&p, f->sha256);
        pg_p_int(&p, (int64_t)f->len);
        pg_p_bytes(&p, f->data, f->len);
        pg_p_int(&p, now);
        rc = pg_exec(q, file_sql, &p, what, NULL, err);
    }
    if (rc)
        return rc;
    pg_params p = {0};
    pg_p_str(&p, v->sha256);
    pg_p_str(&p, v->script);
    pg_p_str(&p, v->path);
    pg_p_str(&p, v->manifest);
    pg_p_int(&p, now);
    return pg_exec(q, version_sql, &p, what, NULL, err);
}

drudge_code pg_script_version(drudge_store *s, const char *sha256, drudge_script_version *out,
                              drudge_err *err)
{
    static const char sql[] =
        "SELECT script, path, manifest, created_at FROM script_versions WHERE sha256 = $1";
    pg_params p = {0};
    pg_p_str(&p, sha256);
    PGresult *r = pg_q(pgs(s), sql, &p, "reading a script version", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    drudge_code rc = DRUDGE_OK;
    if (PQntuples(r)) {
        snprintf(out->sha256, sizeof out->sha256, "%s", sha256);
        out->script = pg_strdup(r, 0, 0);
        out->path = pg_strdup(r, 0, 1);
        out->manifest = pg_strdup(r, 0, 2);
        out->created_at = pg_i64(r, 0, 3);
    } else {
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "database %s has no script version %.16s...",
                           s->name, sha256);
    }
    PQclear(r);
    return rc;
}

drudge_code pg_script_file(drudge_store *s, const char *sha256, unsigned char **data, size_t *len,
                           drudge_err *err)
{
    static const char sql[] = "SELECT data FROM script_files WHERE sha256 = $1";
    pg_params p = {0};
    pg_p_str(&p, sha256);
    PGresult *r = pg_q(pgs(s), sql, &p, "reading a script file", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    drudge_code rc = DRUDGE_OK;
    if (PQntuples(r)) {
        unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 0), len);
        *data = drudge_xmalloc(*len + 1);
        if (*len)
            memcpy(*data, raw, *len);
        (*data)[*len] = 0;
        PQfreemem(raw);
    } else {
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "database %s has no script file %.16s...",
                           s->name, sha256);
    }
    PQclear(r);
    return rc;
}

typedef struct versions_walk {
    int (*fn)(void *ud, const drudge_script_version_use *v);
    void *ud;
} versions_walk;

static int version_row(void *ud, const PGresult *r, int i)
{
    versions_walk *w = ud;
    drudge_script_version_use u = {.sha256 = pg_text(r, i, 0),
                                   .script = pg_text(r, i, 1),
                                   .path = pg_text(r, i, 2),
                                   .created_at = pg_i64(r, i, 3),
                                   .first_use = pg_i64(r, i, 4),
                                   .last_use = pg_i64(r, i, 5),
                                   .tasks = pg_i64(r, i, 6),
                                   .finished = pg_i64(r, i, 7),
                                   .failed = pg_i64(r, i, 8)};
    return w->fn(w->ud, &u);
}

drudge_code pg_script_versions(drudge_store *s, const char *script,
                               int (*fn)(void *ud, const drudge_script_version_use *v), void *ud,
                               drudge_err *err)
{
    static const char sql[] =
        "SELECT v.sha256, v.script, v.path, v.created_at, coalesce(min(t.created_at), 0), "
        "coalesce(max(t.created_at), 0), count(t.id), "
        "count(t.id) FILTER (WHERE t.state IN ('done','failed','dead')), "
        "count(t.id) FILTER (WHERE t.state IN ('failed','dead')) "
        "FROM script_versions v LEFT JOIN tasks t ON t.script_sha256 = v.sha256 "
        "WHERE $1::text IS NULL OR v.script = $1 GROUP BY v.sha256 "
        "ORDER BY v.script COLLATE \"C\", v.created_at";
    versions_walk w = {.fn = fn, .ud = ud};
    pg_params p = {0};
    pg_p_str(&p, script);
    return pg_walk(pgs(s), sql, &p, "reading script versions", version_row, &w, err);
}

/* room.c: the PostgreSQL backend's control-room tables (schema.c, v5): the
 * users of `drudge serve` and their keys (API tokens, login sessions), as
 * in the SQLite backend (runner/store/sqlite/room.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "runner/store/pg/pgint.h"

#define USER_COLS "SELECT name, role, hash, disabled, created_at, changed_at FROM room_users "

static void read_user(const PGresult *r, int row, int at, drudge_room_user *u)
{
    u->name = pg_strdup(r, row, at);
    u->role = pg_strdup(r, row, at + 1);
    u->hash = pg_strdup(r, row, at + 2);
    u->disabled = (int)pg_i64(r, row, at + 3);
    u->created_at = pg_i64(r, row, at + 4);
    u->changed_at = pg_i64(r, row, at + 5);
}

drudge_code pg_user_add(drudge_store *s, const drudge_room_user *u, int64_t now, drudge_err *err)
{
    static const char sql[] =
        "INSERT INTO room_users(name, role, hash, disabled, created_at, changed_at) "
        "VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (name) DO NOTHING";
    pg_params p = {0};
    int64_t changed = 0;
    pg_p_str(&p, u->name);
    pg_p_str(&p, u->role);
    pg_p_str(&p, u->hash);
    pg_p_int(&p, u->disabled != 0);
    pg_p_int(&p, now);
    drudge_code rc = pg_exec(pgs(s), sql, &p, "adding a user", &changed, err);
    if (!rc && changed == 0)
        rc = drudge_seterr(err, DRUDGE_ESTATE, "user '%s' already exists", u->name);
    return rc;
}

drudge_code pg_user_set(drudge_store *s, const char *name, const char *role, const char *hash,
                        int disabled, int64_t now, drudge_err *err)
{
    static const char sql[] = "UPDATE room_users SET role = coalesce($2, role), "
                              "hash = coalesce($3, hash), "
                              "disabled = CASE WHEN $4::integer < 0 THEN disabled ELSE $4 END, "
                              "changed_at = $5 WHERE name = $1";
    pg_params p = {0};
    int64_t changed = 0;
    pg_p_str(&p, name);
    pg_p_str(&p, role);
    pg_p_str(&p, hash);
    pg_p_int(&p, disabled < 0 ? -1 : disabled != 0);
    pg_p_int(&p, now);
    drudge_code rc = pg_exec(pgs(s), sql, &p, "changing a user", &changed, err);
    if (!rc && changed == 0)
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "no user named '%s'", name);
    return rc;
}

drudge_code pg_user(drudge_store *s, const char *name, drudge_room_user *out, drudge_err *err)
{
    static const char sql[] = USER_COLS "WHERE name = $1";
    pg_params p = {0};
    memset(out, 0, sizeof *out);
    pg_p_str(&p, name);
    PGresult *r = pg_q(pgs(s), sql, &p, "reading a user", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    drudge_code rc = DRUDGE_OK;
    if (PQntuples(r) > 0)
        read_user(r, 0, 0, out);
    else
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "no user named '%s'", name);
    PQclear(r);
    return rc;
}

drudge_code pg_users(drudge_store *s, drudge_room_user **out, size_t *n, drudge_err *err)
{
    static const char sql[] = USER_COLS "ORDER BY name COLLATE \"C\"";
    *out = NULL;
    *n = 0;
    PGresult *r = pg_q(pgs(s), sql, NULL, "listing users", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    *n = (size_t)PQntuples(r);
    *out = *n ? drudge_xmalloc(*n * sizeof **out) : NULL;
    for (int i = 0; i < (int)*n; i++) {
        memset(&(*out)[i], 0, sizeof **out);
        read_user(r, i, 0, &(*out)[i]);
    }
    PQclear(r);
    return DRUDGE_OK;
}

drudge_code pg_key_add(drudge_store *s, const drudge_room_key *k, drudge_err *err)
{
    static const char sql[] = "INSERT INTO room_keys(hash, \"user\", kind, label, csrf, remote, "
                              "created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    pg_params p = {0};
    pg_p_str(&p, k->hash);
    pg_p_str(&p, k->user);
    pg_p_str(&p, k->kind);
    pg_p_str(&p, k->label);
    pg_p_str(&p, k->csrf);
    pg_p_str(&p, k->remote);
    pg_p_int(&p, k->created_at);
    pg_p_int(&p, k->expires_at);
    drudge_code rc = pg_exec(pgs(s), sql, &p, "adding a key", NULL, err);
    if (rc)
        return rc;
    static const char purge_sql[] =
        "DELETE FROM room_keys WHERE kind = 'session' AND expires_at < $1 AND expires_at > 0";
    pg_params pp = {0};
    pg_p_int(&pp, k->created_at);
    return pg_exec(pgs(s), purge_sql, &pp, "forgetting expired sessions", NULL, err);
}

drudge_code pg_key_find(drudge_store *s, const char *hash, int64_t now, drudge_room_key *key,
                        drudge_room_user *user, drudge_err *err)
{
    static const char sql[] =
        "SELECT u.name, u.role, u.hash, u.disabled, u.created_at, u.changed_at, "
        "k.kind, k.label, k.csrf, k.remote, k.created_at, k.expires_at "
        "FROM room_keys k JOIN room_users u ON u.name = k.\"user\" "
        "WHERE k.hash = $1 AND (k.expires_at = 0 OR k.expires_at > $2) AND u.disabled = 0";
    pg_params p = {0};
    memset(key, 0, sizeof *key);
    memset(user, 0, sizeof *user);
    pg_p_str(&p, hash);
    pg_p_int(&p, now);
    PGresult *r = pg_q(pgs(s), sql, &p, "reading a key", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    drudge_code rc = DRUDGE_OK;
    if (PQntuples(r) > 0) {
        read_user(r, 0, 0, user);
        snprintf(key->hash, sizeof key->hash, "%s", hash);
        key->user = drudge_xstrdup(user->name);
        key->kind = pg_strdup(r, 0, 6);
        key->label = pg_strdup(r, 0, 7);
        key->csrf = pg_strdup(r, 0, 8);
        key->remote = pg_strdup(r, 0, 9);
        key->created_at = pg_i64(r, 0, 10);
        key->expires_at = pg_i64(r, 0, 11);
    } else {
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "no such key (expired, or logged out)");
    }
    PQclear(r);
    return rc;
}

drudge_code pg_key_drop(drudge_store *s, const char *hash, int *dropped, drudge_err *err)
{
    static const char sql[] = "DELETE FROM room_keys WHERE hash = $1";
    pg_params p = {0};
    int64_t changed = 0;
    pg_p_str(&p, hash);
    drudge_code rc = pg_exec(pgs(s), sql, &p, "dropping a key", &changed, err);
    if (dropped)
        *dropped = !rc && changed > 0;
    return rc;
}

drudge_code pg_keys(drudge_store *s, const char *user, const char *kind, drudge_room_key **out,
                    size_t *n, drudge_err *err)
{
    static const char sql[] =
        "SELECT hash, \"user\", kind, label, remote, created_at, expires_at FROM room_keys "
        "WHERE ($1::text IS NULL OR \"user\" = $1) AND kind = $2 ORDER BY created_at, hash";
    pg_params p = {0};
    pg_p_str(&p, user);
    pg_p_str(&p, kind);
    PGresult *r = pg_q(pgs(s), sql, &p, "listing keys", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    *n = (size_t)PQntuples(r);
    *out = *n ? drudge_xmalloc(*n * sizeof **out) : NULL;
    for (int i = 0; i < (int)*n; i++) {
        drudge_room_key *k = &(*out)[i];
        memset(k, 0, sizeof *k);
        snprintf(k->hash, sizeof k->hash, "%s", PQgetvalue(r, i, 0));
        k->user = pg_strdup(r, i, 1);
        k->kind = pg_strdup(r, i, 2);
        k->label = pg_strdup(r, i, 3);
        k->remote = pg_strdup(r, i, 4);
        k->created_at = pg_i64(r, i, 5);
        k->expires_at = pg_i64(r, i, 6);
    }
    PQclear(r);
    return DRUDGE_OK;
}

drudge_code pg_keys_drop(drudge_store *s, const char *user, const char *kind, const char *keep_hash,
                         int64_t *dropped, drudge_err *err)
{
    static const char sql[] = "DELETE FROM room_keys WHERE \"user\" = $1 AND kind = $2 "
                              "AND ($3::text IS NULL OR hash <> $3)";
    pg_params p = {0};
    pg_p_str(&p, user);
    pg_p_str(&p, kind);
    pg_p_str(&p, keep_hash);
    return pg_exec(pgs(s), sql, &p, "dropping keys", dropped, err);
}

drudge_code pg_login_fails(drudge_store *s, const char *user_who, const char *addr_who,
                           int64_t since, int *count, drudge_err *err)
{
    static const char sql[] = "SELECT coalesce(max(count), 0) FROM room_fails "
                              "WHERE who IN ($1, $2) AND last >= $3";
    pg_params p = {0};
    pg_p_str(&p, user_who);
    pg_p_str(&p, addr_who);
    pg_p_int(&p, since);
    int64_t n = 0;
    drudge_code rc = pg_int(pgs(s), sql, &p, "reading failed logins", &n, err);
    *count = rc ? 0 : (int)n;
    return rc;
}

/* One statement: the other counts older than since go (who's own row is
 * left to the upsert: a statement may not change a row twice), then who's
 * is added to, starting again if it is old (the upsert takes the row's
 * lock, so two servers' failures both count), or forgotten. */
drudge_code pg_login_note(drudge_store *s, const char *who, int64_t now, int64_t since, int failed,
                          drudge_err *err)
{
    static const char sql[] =
        "WITH old AS (DELETE FROM room_fails WHERE (last < $3 AND who <> $1) "
        "OR ($4::int = 0 AND who = $1)) "
        "INSERT INTO room_fails(who, count, last) SELECT $1, 1, $2 WHERE $4::int <> 0 "
        "ON CONFLICT (who) DO UPDATE SET count = CASE WHEN room_fails.last < $3 THEN 1 "
        "ELSE room_fails.count + 1 END, last = $2";
    pg_params p = {0};
    pg_p_str(&p, who);
    pg_p_int(&p, now);
    pg_p_int(&p, since);
    pg_p_int(&p, failed);
    return pg_exec(pgs(s), sql, &p, "noting a failed login", NULL, err);
}

drudge_code pg_throughput(drudge_store *s, int64_t since, drudge_minute_count **out, size_t *n,
                          drudge_err *err)
{
    static const char sql[] =
        "SELECT minute, done, failed FROM throughput WHERE minute >= $1 ORDER BY minute";
    pg_params p = {0};
    pg_p_int(&p, since / 60000000);
    PGresult *r = pg_q(pgs(s), sql, &p, "reading the throughput", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    *n = (size_t)PQntuples(r);
    *out = *n ? drudge_xmalloc(*n * sizeof **out) : NULL;
    for (int i = 0; i < (int)*n; i++) {
        (*out)[i].minute_us = pg_i64(r, i, 0) * 60000000;
        (*out)[i].done = pg_i64(r, i, 1);
        (*out)[i].failed = pg_i64(r, i, 2);
    }
    PQclear(r);
    return DRUDGE_OK;
}

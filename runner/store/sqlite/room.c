/* room.c: the SQLite backend's control-room tables (schema.c, v9): the
 * users of `drudge serve` and their keys (API tokens, login sessions). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "runner/store/sqlite/sqliteint.h"

#define USER_COLS "SELECT name, role, hash, disabled, created_at, changed_at FROM room_users "

static void read_user(sqlite3_stmt *st, int at, drudge_room_user *u)
{
    u->name = sq_col_strdup(st, at);
    u->role = sq_col_strdup(st, at + 1);
    u->hash = sq_col_strdup(st, at + 2);
    u->disabled = sqlite3_column_int(st, at + 3);
    u->created_at = sqlite3_column_int64(st, at + 4);
    u->changed_at = sqlite3_column_int64(st, at + 5);
}

drudge_code sq_user_add(drudge_store *s, const drudge_room_user *u, int64_t now, drudge_err *err)
{
    static const char sql[] =
        "INSERT INTO room_users(name, role, hash, disabled, created_at, changed_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT(name) DO NOTHING";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "adding a user", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, u->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, u->role, -1, SQLITE_STATIC);
    sq_bind_text(st, 3, u->hash);
    sqlite3_bind_int(st, 4, u->disabled != 0);
    sqlite3_bind_int64(st, 5, now);
    drudge_code rc = sq_done(q, st, "adding a user", err);
    if (!rc && sq_changes(q) == 0)
        rc = drudge_seterr(err, DRUDGE_ESTATE, "user '%s' already exists", u->name);
    return rc;
}

drudge_code sq_user_set(drudge_store *s, const char *name, const char *role, const char *hash,
                        int disabled, int64_t now, drudge_err *err)
{
    static const char sql[] = "UPDATE room_users SET role = coalesce(?2, role), "
                              "hash = coalesce(?3, hash), "
                              "disabled = CASE WHEN ?4 < 0 THEN disabled ELSE ?4 END, "
                              "changed_at = ?5 WHERE name = ?1";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "changing a user", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sq_bind_text(st, 2, role);
    sq_bind_text(st, 3, hash);
    sqlite3_bind_int(st, 4, disabled < 0 ? -1 : disabled != 0);
    sqlite3_bind_int64(st, 5, now);
    drudge_code rc = sq_done(q, st, "changing a user", err);
    if (!rc && sq_changes(q) == 0)
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "no user named '%s'", name);
    return rc;
}

drudge_code sq_user(drudge_store *s, const char *name, drudge_room_user *out, drudge_err *err)
{
    static const char sql[] = USER_COLS "WHERE name = ?1";
    sq_store *q = sq(s);
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = sq_stmt(q, sql, "reading a user", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        read_user(st, 0, out);
    sqlite3_reset(st);
    if (r == SQLITE_ROW)
        return DRUDGE_OK;
    if (r == SQLITE_DONE)
        return drudge_seterr(err, DRUDGE_ENOTFOUND, "no user named '%s'", name);
    return sq_err(q, "reading a user", err);
}

drudge_code sq_users(drudge_store *s, drudge_room_user **out, size_t *n, drudge_err *err)
{
    static const char sql[] = USER_COLS "ORDER BY name";
    sq_store *q = sq(s);
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = sq_stmt(q, sql, "listing users", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    int r;
    for (r = sqlite3_step(st); r == SQLITE_ROW; r = sqlite3_step(st)) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = drudge_xrealloc(*out, cap * sizeof **out);
        }
        read_user(st, 0, &(*out)[(*n)++]);
    }
    sqlite3_reset(st);
    if (r == SQLITE_DONE)
        return DRUDGE_OK;
    drudge_room_users_free(*out, *n);
    *out = NULL;
    *n = 0;
    return sq_err(q, "listing users", err);
}

drudge_code sq_key_add(drudge_store *s, const drudge_room_key *k, drudge_err *err)
{
    static const char sql[] =
        "INSERT INTO room_keys(hash, user, kind, label, csrf, remote, created_at, expires_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "adding a key", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, k->hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->kind, -1, SQLITE_STATIC);
    sq_bind_text(st, 4, k->label);
    sq_bind_text(st, 5, k->csrf);
    sq_bind_text(st, 6, k->remote);
    sqlite3_bind_int64(st, 7, k->created_at);
    sqlite3_bind_int64(st, 8, k->expires_at);
    drudge_code rc = sq_done(q, st, "adding a key", err);
    if (rc)
        return rc;
    static const char purge_sql[] =
        "DELETE FROM room_keys WHERE kind = 'session' AND expires_at < ?1 AND expires_at > 0";
    st = sq_stmt(q, purge_sql, "forgetting expired sessions", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, k->created_at);
    return sq_done(q, st, "forgetting expired sessions", err);
}

drudge_code sq_key_find(drudge_store *s, const char *hash, int64_t now, drudge_room_key *key,
                        drudge_room_user *user, drudge_err *err)
{
    static const char sql[] =
        "SELECT u.name, u.role, u.hash, u.disabled, u.created_at, u.changed_at, "
        "k.kind, k.label, k.csrf, k.remote, k.created_at, k.expires_at "
        "FROM room_keys k JOIN room_users u ON u.name = k.user "
        "WHERE k.hash = ?1 AND (k.expires_at = 0 OR k.expires_at > ?2) AND u.disabled = 0";
    sq_store *q = sq(s);
    memset(key, 0, sizeof *key);
    memset(user, 0, sizeof *user);
    sqlite3_stmt *st = sq_stmt(q, sql, "reading a key", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        read_user(st, 0, user);
        snprintf(key->hash, sizeof key->hash, "%s", hash);
        key->user = drudge_xstrdup(user->name);
        key->kind = sq_col_strdup(st, 6);
        key->label = sq_col_strdup(st, 7);
        key->csrf = sq_col_strdup(st, 8);
        key->remote = sq_col_strdup(st, 9);
        key->created_at = sqlite3_column_int64(st, 10);
        key->expires_at = sqlite3_column_int64(st, 11);
    }
    sqlite3_reset(st);
    if (r == SQLITE_ROW)
        return DRUDGE_OK;
    if (r == SQLITE_DONE)
        return drudge_seterr(err, DRUDGE_ENOTFOUND, "no such key (expired, or logged out)");
    return sq_err(q, "reading a key", err);
}

drudge_code sq_key_drop(drudge_store *s, const char *hash, int *dropped, drudge_err *err)
{
    static const char sql[] = "DELETE FROM room_keys WHERE hash = ?1";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "dropping a key", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    drudge_code rc = sq_done(q, st, "dropping a key", err);
    if (dropped)
        *dropped = !rc && sq_changes(q) > 0;
    return rc;
}

drudge_code sq_keys(drudge_store *s, const char *user, const char *kind, drudge_room_key **out,
                    size_t *n, drudge_err *err)
{
    static const char sql[] =
        "SELECT hash, user, kind, label, remote, created_at, expires_at FROM room_keys "
        "WHERE (?1 IS NULL OR user = ?1) AND kind = ?2 ORDER BY created_at, hash";
    sq_store *q = sq(s);
    size_t cap = 0;
    sqlite3_stmt *st = sq_stmt(q, sql, "listing keys", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sq_bind_text(st, 1, user);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    int r;
    for (r = sqlite3_step(st); r == SQLITE_ROW; r = sqlite3_step(st)) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = drudge_xrealloc(*out, cap * sizeof **out);
        }
        drudge_room_key *k = &(*out)[(*n)++];
        memset(k, 0, sizeof *k);
        const unsigned char *h = sqlite3_column_text(st, 0);
        snprintf(k->hash, sizeof k->hash, "%s", h ? (const char *)h : "");
        k->user = sq_col_strdup(st, 1);
        k->kind = sq_col_strdup(st, 2);
        k->label = sq_col_strdup(st, 3);
        k->remote = sq_col_strdup(st, 4);
        k->created_at = sqlite3_column_int64(st, 5);
        k->expires_at = sqlite3_column_int64(st, 6);
    }
    sqlite3_reset(st);
    if (r == SQLITE_DONE)
        return DRUDGE_OK;
    drudge_room_keys_free(*out, *n);
    *out = NULL;
    *n = 0;
    return sq_err(q, "listing keys", err);
}

drudge_code sq_keys_drop(drudge_store *s, const char *user, const char *kind, const char *keep_hash,
                         int64_t *dropped, drudge_err *err)
{
    static const char sql[] =
        "DELETE FROM room_keys WHERE user = ?1 AND kind = ?2 AND (?3 IS NULL OR hash <> ?3)";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "dropping keys", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    sq_bind_text(st, 3, keep_hash);
    drudge_code rc = sq_done(q, st, "dropping keys", err);
    *dropped = rc ? 0 : sq_changes(q);
    return rc;
}

drudge_code sq_login_fails(drudge_store *s, const char *user_who, const char *addr_who,
                           int64_t since, int *count, drudge_err *err)
{
    static const char sql[] =
        "SELECT coalesce(max(count), 0) FROM room_fails WHERE who IN (?1, ?2) AND last >= ?3";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, sql, "reading failed logins", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_text(st, 1, user_who, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, addr_who, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, since);
    int64_t n = 0;
    drudge_code rc = sq_one_int(q, st, "reading failed logins", &n, err);
    *count = rc ? 0 : (int)n;
    return rc;
}

/* One transaction (the caller's, or its own): the other counts older than
 * since go, then who's is added to (starting again if it is old) or
 * forgotten. */
drudge_code sq_login_note(drudge_store *s, const char *who, int64_t now, int64_t since, int failed,
                          drudge_err *err)
{
    static const char *const sql[] = {
        "DELETE FROM room_fails WHERE (last < ?3 AND who <> ?1) OR (?4 = 0 AND who = ?1)",
        "INSERT INTO room_fails(who, count, last) SELECT ?1, 1, ?2 WHERE ?4 <> 0 "
        "ON CONFLICT(who) DO UPDATE SET count = CASE WHEN last < ?3 THEN 1 ELSE count + 1 END, "
        "last = ?2",
    };
    static const char what[] = "noting a failed login";
    sq_store *q = sq(s);
    int own = sqlite3_get_autocommit(q->db);
    drudge_code rc = own ? sq_begin(q, err) : DRUDGE_OK;
    for (size_t i = 0; i < sizeof sql / sizeof *sql && !rc; i++) {
        sqlite3_stmt *st = sq_stmt(q, sql[i], what, err);
        if (!st) {
            rc = err ? err->code : DRUDGE_EDB;
            break;
        }
        sqlite3_bind_text(st, 1, who, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now);
        sqlite3_bind_int64(st, 3, since);
        sqlite3_bind_int(st, 4, failed);
        rc = sq_done(q, st, what, err);
    }
    if (own && rc)
        sq_rollback(q);
    else if (own)
        rc = sq_commit(q, err);
    return rc;
}

drudge_code sq_throughput(drudge_store *s, int64_t since, drudge_minute_count **out, size_t *n,
                          drudge_err *err)
{
    static const char sql[] =
        "SELECT minute, done, failed FROM throughput WHERE minute >= ?1 ORDER BY minute";
    sq_store *q = sq(s);
    size_t cap = 0;
    sqlite3_stmt *st = sq_stmt(q, sql, "reading the throughput", err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, since / 60000000);
    int r;
    for (r = sqlite3_step(st); r == SQLITE_ROW; r = sqlite3_step(st)) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            *out = drudge_xrealloc(*out, cap * sizeof **out);
        }
        drudge_minute_count *m = &(*out)[(*n)++];
        m->minute_us = sqlite3_column_int64(st, 0) * 60000000;
        m->done = sqlite3_column_int64(st, 1);
        m->failed = sqlite3_column_int64(st, 2);
    }
    sqlite3_reset(st);
    if (r == SQLITE_DONE)
        return DRUDGE_OK;
    free(*out);
    *out = NULL;
    *n = 0;
    return sq_err(q, "reading the throughput", err);
}

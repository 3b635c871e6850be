/* testdb.h: the database a store test runs on, SQLite or PostgreSQL, and a
 * connection of the test's own to look at its rows (and tamper with them).
 *
 * Without DRUDGE_TEST_PG a test gets a fresh SQLite file in a temporary
 * directory. With DRUDGE_TEST_PG (the directory of the suite's own server,
 * tests/pg/server.sh; ctest sets it for the pg.unit.* runs) it gets a fresh
 * database on that server, so one suite checks both backends (issue 17).
 * Queries are written once, with `?` for the one parameter; the few
 * statements that cannot be (tampering past the engine's own guards) are
 * chosen per engine with TESTDB_SQL(db, sqlite, pg). */
#ifndef DRUDGE_TESTDB_H
#define DRUDGE_TESTDB_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include "drudge/util.h"

typedef struct testdb {
    char where[512]; /* the path or URL the store opens */
    char dir[64];    /* the temporary directory (SQLite) */
    char name[64];   /* the database on the server (PostgreSQL) */
    char admin[448]; /* URL of the server's maintenance database */
    int pg;          /* 1 on PostgreSQL */
    sqlite3 *lite;   /* the test's own connection */
    PGconn *conn;
} testdb;

#define TESTDB_SQL(db, on_sqlite, on_pg) ((db)->pg ? (on_pg) : (on_sqlite))

/* Reads KEY=VALUE from the server's env file (tests/pg/server.sh). */
static int testdb_env(const char *dir, const char *key, char *out, size_t n)
{
    char path[512], line[512];
    snprintf(path, sizeof path, "%s/env", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t kl = strlen(key);
    int found = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == '=') {
            line[strcspn(line, "\n")] = '\0';
            snprintf(out, n, "%s", line + kl + 1);
            found = 0;
        }
    fclose(f);
    return found;
}

static int testdb_admin(testdb *db, const char *sql)
{
    PGconn *c = PQconnectdb(db->admin);
    int ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PGresult *r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            fprintf(stderr, "testdb: %s: %s", sql, PQerrorMessage(c));
        PQclear(r);
    } else {
        fprintf(stderr, "testdb: %s: %s", db->admin, PQerrorMessage(c));
    }
    PQfinish(c);
    return ok ? 0 : -1;
}

/* A fresh, empty database; the store is opened on db->where afterwards and
 * the test's connection with testdb_connect (the store creates the schema). */
static int testdb_new(testdb *db, const char *prefix)
{
    static int serial;
    memset(db, 0, sizeof *db);
    const char *pgdir = getenv("DRUDGE_TEST_PG");
    snprintf(db->dir, sizeof db->dir, "/tmp/drudge-%s.XXXXXX", prefix);
    if (!mkdtemp(db->dir))
        return -1;
    if (!pgdir || !*pgdir) {
        snprintf(db->where, sizeof db->where, "%s/t.db", db->dir);
        return 0;
    }
    char host[256], port[16], user[64];
    if (testdb_env(pgdir, "DRUDGE_PG_HOST", host, sizeof host) ||
        testdb_env(pgdir, "DRUDGE_PG_PORT", port, sizeof port) ||
        testdb_env(pgdir, "DRUDGE_PG_USER", user, sizeof user)) {
        fprintf(stderr, "testdb: no server environment in %s/env\n", pgdir);
        return -1;
    }
    db->pg = 1;
    snprintf(db->name, sizeof db->name, "u_%s_%ld_%d", prefix, (long)getpid(), ++serial);
    snprintf(db->admin, sizeof db->admin, "postgresql:///postgres?host=%s&port=%s&user=%s", host,
             port, user);
    snprintf(db->where, sizeof db->where, "postgresql:///%s?host=%s&port=%s&user=%s", db->name,
             host, port, user);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db->name);
    if (testdb_admin(db, sql))
        return -1;
    /* SQLite's functions the queries use (group_concat, ifnull, instr) */
    const char *tests = getenv("TESTS");
    char path[512];
    snprintf(path, sizeof path, "%s/pg/sqlite_compat.sql", tests ? tests : "tests");
    size_t n = 0;
    char *compat = drudge_read_file(path, &n);
    if (!compat) {
        fprintf(stderr, "testdb: cannot read %s\n", path);
        return -1;
    }
    PGconn *c = PQconnectdb(db->where);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, compat) : NULL;
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "testdb: %s: %s", path, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    free(compat);
    return ok ? 0 : -1;
}

static int testdb_connect(testdb *db)
{
    if (!db->pg) {
        if (sqlite3_open(db->where, &db->lite) != SQLITE_OK)
            return -1;
        sqlite3_busy_timeout(db->lite, 5000);
        return 0;
    }
    db->conn = PQconnectdb(db->where);
    return PQstatus(db->conn) == CONNECTION_OK ? 0 : -1;
}

/* Closes the test's connection (the store must be closed by the caller). */
static void testdb_disconnect(testdb *db)
{
    if (db->lite)
        sqlite3_close(db->lite);
    db->lite = NULL;
    if (db->conn)
        PQfinish(db->conn);
    db->conn = NULL;
}

/* Drops the database (or the directory) after the store was closed. */
static int testdb_drop(testdb *db)
{
    testdb_disconnect(db);
    int rc = 0;
    if (db->pg) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", db->name);
        rc = testdb_admin(db, sql);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", db->dir);
    return system(cmd) == 0 ? rc : -1;
}

/* Statements (several allowed) on the test's connection; 0 if they ran. */
static int testdb_exec(testdb *db, const char *sql)
{
    if (!db->pg) {
        char *msg = NULL;
        int rc = sqlite3_exec(db->lite, sql, NULL, NULL, &msg);
        if (rc != SQLITE_OK)
            fprintf(stderr, "testdb: %s: %s\n", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return rc == SQLITE_OK ? 0 : -1;
    }
    PGresult *r = PQexec(db->conn, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "testdb: %s: %s", sql, PQerrorMessage(db->conn));
    PQclear(r);
    return ok ? 0 : -1;
}

/* The first column of the first row of sql (one `?`, bound to id, or
 * none), as text (caller frees; "(null)" for NULL; NULL if no row). A
 * boolean reads "1" or "0" on both engines. */
static char *testdb_text(testdb *db, const char *sql, int64_t id)
{
    char *out = NULL;
    if (!db->pg) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db->lite, sql, -1, &st, NULL) != SQLITE_OK) {
            fprintf(stderr, "testdb: %s: %s\n", sql, sqlite3_errmsg(db->lite));
            return NULL;
        }
        if (sqlite3_bind_parameter_count(st))
            sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const unsigned char *s = sqlite3_column_text(st, 0);
            out = strdup(s ? (const char *)s : "(null)");
        }
        sqlite3_finalize(st);
        return out;
    }
    char q[2048], idtext[24];
    size_t k = 0;
    int params = 0;
    for (const char *p = sql; *p && k + 3 < sizeof q; p++) /* `?` -> `$1` */
        if (*p == '?') {
            q[k++] = '$';
            q[k++] = '1';
            params = 1;
        } else {
            q[k++] = *p;
        }
    q[k] = '\0';
    snprintf(idtext, sizeof idtext, "%lld", (long long)id);
    const char *values[1] = {idtext};
    PGresult *r = PQexecParams(db->conn, q, params, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "testdb: %s: %s", sql, PQerrorMessage(db->conn));
    else if (PQntuples(r) > 0) {
        const char *v = PQgetisnull(r, 0, 0) ? "(null)" : PQgetvalue(r, 0, 0);
        if (PQftype(r, 0) == 16 /* BOOLOID */ && !PQgetisnull(r, 0, 0))
            v = !strcmp(v, "t") ? "1" : "0";
        out = strdup(v);
    }
    PQclear(r);
    return out;
}

/* The same as an integer (0 for NULL); aborts the test if there is no row. */
static int64_t testdb_num(testdb *db, const char *sql, int64_t id)
{
    char *s = testdb_text(db, sql, id);
    if (!s) {
        fprintf(stderr, "testdb: no row: %s\n", sql);
        abort();
    }
    int64_t v = strtoll(s, NULL, 10);
    free(s);
    return v;
}

#endif

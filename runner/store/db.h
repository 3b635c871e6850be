/*
 * db.h: opening the drudge database (SQLite, WAL) and migrating its schema.
 *
 * The schema is versioned with PRAGMA user_version. Each module that owns
 * tables keeps its own migration list (queue.c, logs/audit/chain.c, scheduler.c):
 * element i brings that module's tables from version i to i+1 ("" when the
 * module has nothing to change at that version). drudge_db_open runs every
 * module's pending steps in one BEGIN IMMEDIATE transaction, in version order.
 * Append new steps; never edit a released one.
 */
#ifndef DRUDGE_DB_H
#define DRUDGE_DB_H

#include <sqlite3.h>
#include "drudge/error.h"
#include "runner/store/store.h"

/* Going away: callers move to runner/store/store.h; the schema is in
 * runner/store/sqlite/schema.c. */
extern const char *const sq_queue_migrations[];
extern const char *const sq_audit_migrations[];
extern const char *const sq_schedule_migrations[];

enum {
    DRUDGE_DB_READONLY = 1, /* open for reading only: no create, no migration */
    DRUDGE_DB_NOCREATE = 2, /* fail if the file does not exist */
};

/* Opens (creating 0600 if needed) and migrates the database at path.
 * On success *out is an open connection the caller closes with sqlite3_close.
 * Errors name the path: not a database, read-only, locked, newer schema. */
drudge_code drudge_db_open(const char *path, int flags, sqlite3 **out /* OUT */, drudge_err *err);
/* Sets synchronous for a connection (FULL is the default after open). */
drudge_code drudge_db_set_durability(sqlite3 *db, drudge_durability d, drudge_err *err);
/* The database path from --db, $DRUDGE_DB, or "./drudge.db". */
const char *drudge_db_default_path(void);

/* Executes sql (no results); on failure fills err with what and the SQLite message. */
drudge_code drudge_db_exec(sqlite3 *db, const char *sql, drudge_err *err);
/* Fills err from the connection's last error, prefixed by what; returns
 * DRUDGE_EBUSY for SQLITE_BUSY/LOCKED, DRUDGE_EDB otherwise. */
drudge_code drudge_db_err(sqlite3 *db, const char *what, drudge_err *err);
/* BEGIN IMMEDIATE, retrying on SQLITE_BUSY until the busy timeout. */
drudge_code drudge_db_begin(sqlite3 *db, drudge_err *err);
/* BEGIN IMMEDIATE now or DRUDGE_EBUSY: for work that can wait for a later try. */
drudge_code drudge_db_try_begin(sqlite3 *db, drudge_err *err);
drudge_code drudge_db_commit(sqlite3 *db, drudge_err *err);
void drudge_db_rollback(sqlite3 *db);
/* After a big write: checkpoint and truncate the WAL (without waiting). */
void drudge_db_trim_wal(sqlite3 *db);

/* Schema version this binary migrates to. */
int drudge_db_schema_version(void);

#endif

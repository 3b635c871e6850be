/*
 * audit.h: the audit trail in the database (logs/). Steps recorded in memory
 * by a drudge_rec are appended to one hash chain per database:
 * hash = SHA-256(prev_hash || canonical encoding of the row); see logs/README.md.
 */
#ifndef DRUDGE_AUDIT_H
#define DRUDGE_AUDIT_H

#include <sqlite3.h>
#include "error.h"
#include "record.h"

/* Appends the recorder's steps not yet flushed (and their payloads) to the
 * chain. Must be called inside a write transaction (BEGIN IMMEDIATE) so the
 * chain head read here is the one the rows link to. */
drudge_code drudge_audit_append(sqlite3 *db, drudge_rec *rec, drudge_err *err);

/* The same with prepared statements kept across calls, for a worker's writer
 * (one per connection; free before closing the connection). */
typedef struct drudge_audit_writer drudge_audit_writer;
drudge_audit_writer *drudge_audit_writer_new(sqlite3 *db, drudge_err *err);
void drudge_audit_writer_free(drudge_audit_writer *w);
drudge_code drudge_audit_writer_append(drudge_audit_writer *w, drudge_rec *rec, drudge_err *err);

/* The canonical encoding of a step row (see logs/README.md), appended to b. */
struct drudge_buf;
void drudge_audit_canonical(struct drudge_buf *b, int64_t id, int64_t task_id, int attempt,
                            const drudge_step *s);

#endif

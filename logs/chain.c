/* chain.c: the audit tables and appending recorded steps to the hash chain.
 *
 * One chain per database: each row's hash is
 *   SHA-256(previous row's hash as 64 hex digits || canonical encoding)
 * with 64 zeros before the first row. The canonical encoding is documented in
 * logs/README.md so auditors can verify an export with their own tools. */
#include <stdlib.h>
#include <string.h>
#include "drudge/audit.h"
#include "drudge/db.h"
#include "drudge/util.h"

const char *const drudge_audit_migrations[] = {
    /* v1 */
    "CREATE TABLE steps("
    "  id INTEGER PRIMARY KEY,"
    "  task_id INTEGER NOT NULL,"
    "  attempt INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  parent INTEGER,"
    "  kind TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  request TEXT,"
    "  response TEXT,"
    "  started_at INTEGER NOT NULL,"
    "  duration_us INTEGER NOT NULL,"
    "  outcome TEXT NOT NULL,"
    "  error TEXT,"
    "  hash TEXT NOT NULL);"
    "CREATE INDEX steps_task ON steps(task_id, attempt, seq);"
    "CREATE TRIGGER steps_no_update BEFORE UPDATE ON steps"
    "  BEGIN SELECT RAISE(ABORT, 'audit steps are append-only'); END;"
    "CREATE TRIGGER steps_no_delete BEFORE DELETE ON steps"
    "  BEGIN SELECT RAISE(ABORT, 'audit steps are append-only'); END;"
    "CREATE TABLE payloads("
    "  sha256 TEXT PRIMARY KEY,"
    "  content_type TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  data BLOB,"
    "  created_at INTEGER NOT NULL,"
    "  pruned_at INTEGER);"
    "CREATE TABLE checkpoints("
    "  id INTEGER PRIMARY KEY,"
    "  step_id INTEGER NOT NULL,"
    "  head_hash TEXT NOT NULL,"
    "  row_count INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  public_key TEXT NOT NULL,"
    "  signature TEXT NOT NULL);"
    "CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints"
    "  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;"
    "CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints"
    "  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;",
    NULL,
};

static void canon_str(drudge_buf *b, const char *s)
{
    if (s)
        drudge_buf_json_str(b, s, strlen(s));
    else
        drudge_buf_puts(b, "null");
}

void drudge_audit_canonical(drudge_buf *b, int64_t id, int64_t task_id, int attempt,
                            const drudge_step *s)
{
    drudge_buf_printf(b, "[%lld,%lld,%d,%d,", (long long)id, (long long)task_id, attempt, s->seq);
    if (s->parent)
        drudge_buf_printf(b, "%d,", s->parent);
    else
        drudge_buf_puts(b, "null,");
    canon_str(b, s->kind);
    drudge_buf_puts(b, ",");
    canon_str(b, s->name);
    drudge_buf_puts(b, ",");
    canon_str(b, s->request);
    drudge_buf_puts(b, ",");
    canon_str(b, s->response);
    drudge_buf_printf(b, ",%lld,%lld,", (long long)s->started_us, (long long)s->duration_us);
    canon_str(b, s->outcome);
    drudge_buf_puts(b, ",");
    canon_str(b, s->error);
    drudge_buf_puts(b, "]");
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

struct drudge_audit_writer {
    sqlite3 *db;
    sqlite3_stmt *head, *ins, *pay;
    drudge_buf canon, input;
};

drudge_audit_writer *drudge_audit_writer_new(sqlite3 *db, drudge_err *err)
{
    drudge_audit_writer *w = drudge_xmalloc(sizeof *w);
    memset(w, 0, sizeof *w);
    w->db = db;
    if (sqlite3_prepare_v3(db, "SELECT id, hash FROM steps ORDER BY id DESC LIMIT 1", -1,
                           SQLITE_PREPARE_PERSISTENT, &w->head, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(db,
                           "INSERT INTO steps(id, task_id, attempt, seq, parent, kind, name, "
                           "request, response, started_at, duration_us, outcome, error, hash) "
                           "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, SQLITE_PREPARE_PERSISTENT, &w->ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(db,
                           "INSERT OR IGNORE INTO payloads(sha256, content_type, size, data, "
                           "created_at) VALUES (?,?,?,?,?)",
                           -1, SQLITE_PREPARE_PERSISTENT, &w->pay, NULL) != SQLITE_OK) {
        drudge_db_err(db, "audit writer", err);
        drudge_audit_writer_free(w);
        return NULL;
    }
    return w;
}

void drudge_audit_writer_free(drudge_audit_writer *w)
{
    if (!w)
        return;
    sqlite3_finalize(w->head);
    sqlite3_finalize(w->ins);
    sqlite3_finalize(w->pay);
    drudge_buf_free(&w->canon);
    drudge_buf_free(&w->input);
    free(w);
}

drudge_code drudge_audit_writer_append(drudge_audit_writer *w, drudge_rec *rec, drudge_err *err)
{
    sqlite3 *db = w->db;
    sqlite3_stmt *head = w->head, *ins = w->ins, *pay = w->pay;
    drudge_code rc = DRUDGE_OK;
    size_t from = drudge_rec_flushed(rec), n = drudge_rec_count(rec);
    char prev[65];
    int64_t id = 0;

    memset(prev, '0', 64);
    prev[64] = '\0';
    sqlite3_reset(head);
    int step_rc = sqlite3_step(head);
    if (step_rc == SQLITE_ROW) {
        id = sqlite3_column_int64(head, 0);
        const unsigned char *h = sqlite3_column_text(head, 1);
        if (h && strlen((const char *)h) == 64)
            memcpy(prev, h, 64);
    } else if (step_rc != SQLITE_DONE) {
        rc = drudge_db_err(db, "audit append: reading chain head", err);
        goto cleanup;
    }
    sqlite3_reset(head);
    for (size_t i = from; i < n; i++) {
        const drudge_step *s = drudge_rec_step(rec, i);
        if (s->duration_us < 0) /* still open: flushed later */
            break;
        id++;
        drudge_buf_reset(&w->canon);
        drudge_audit_canonical(&w->canon, id, drudge_rec_task(rec), drudge_rec_attempt(rec), s);
        drudge_buf_reset(&w->input);
        drudge_buf_add(&w->input, prev, 64);
        drudge_buf_add(&w->input, w->canon.data, w->canon.len);
        drudge_sha256_hex(w->input.data, w->input.len, prev);
        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, id);
        sqlite3_bind_int64(ins, 2, drudge_rec_task(rec));
        sqlite3_bind_int(ins, 3, drudge_rec_attempt(rec));
        sqlite3_bind_int(ins, 4, s->seq);
        if (s->parent)
            sqlite3_bind_int(ins, 5, s->parent);
        else
            sqlite3_bind_null(ins, 5);
        bind_text_or_null(ins, 6, s->kind);
        bind_text_or_null(ins, 7, s->name);
        bind_text_or_null(ins, 8, s->request);
        bind_text_or_null(ins, 9, s->response);
        sqlite3_bind_int64(ins, 10, s->started_us);
        sqlite3_bind_int64(ins, 11, s->duration_us);
        bind_text_or_null(ins, 12, s->outcome);
        bind_text_or_null(ins, 13, s->error);
        sqlite3_bind_text(ins, 14, prev, 64, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            rc = drudge_db_err(db, "audit append", err);
            goto cleanup;
        }
        drudge_rec_mark_flushed(rec, i + 1);
    }
    int64_t now = drudge_now_us();
    for (size_t i = 0; i < drudge_rec_payload_count(rec); i++) {
        const drudge_payload *p = drudge_rec_payload_at(rec, i);
        sqlite3_reset(pay);
        sqlite3_bind_text(pay, 1, p->sha256, 64, SQLITE_STATIC);
        sqlite3_bind_text(pay, 2, p->content_type, -1, SQLITE_STATIC);
        sqlite3_bind_int64(pay, 3, (sqlite3_int64)p->len);
        sqlite3_bind_blob(pay, 4, p->data, (int)p->len, SQLITE_STATIC);
        sqlite3_bind_int64(pay, 5, now);
        if (sqlite3_step(pay) != SQLITE_DONE) {
            rc = drudge_db_err(db, "audit append: payload", err);
            goto cleanup;
        }
    }
cleanup:
    sqlite3_reset(ins);
    sqlite3_reset(pay);
    sqlite3_clear_bindings(ins);
    sqlite3_clear_bindings(pay);
    return rc;
}

drudge_code drudge_audit_append(sqlite3 *db, drudge_rec *rec, drudge_err *err)
{
    drudge_audit_writer *w = drudge_audit_writer_new(db, err);
    if (!w)
        return err ? err->code : DRUDGE_EDB;
    drudge_code rc = drudge_audit_writer_append(w, rec, err);
    drudge_audit_writer_free(w);
    return rc;
}

/* export.c: drudge audit export: one record per step, in chain order, with
 * what an outside verifier needs (every canonical field, hash, prev_hash).
 *
 * JSON Lines keeps null apart from "" and is what the verifier in
 * logs/README.md reads; CSV is for spreadsheets (an empty cell is null). */
#include <stdlib.h>
#include <string.h>
#include "logs/audit/audit.h"
#include "runner/store/db.h"
#include "drudge/util.h"

#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

static const char *const columns[] = {"id",          "task_id", "attempt", "seq",      "parent",
                                      "kind",        "name",    "request", "response", "started_at",
                                      "duration_us", "outcome", "error",   "hash",     "prev_hash",
                                      "script",      "started", NULL};

/* Column index in the query for each of columns[] above (started is computed). */
enum {
    C_ID,
    C_TASK,
    C_ATTEMPT,
    C_SEQ,
    C_PARENT,
    C_KIND,
    C_NAME,
    C_REQ,
    C_RESP,
    C_START,
    C_DUR,
    C_OUTCOME,
    C_ERROR,
    C_HASH,
    C_PREV,
    C_SCRIPT,
    C_NCOLS
};

static void csv_field(drudge_buf *b, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        drudge_buf_puts(b, s);
        return;
    }
    drudge_buf_add(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            drudge_buf_add(b, "\"", 1);
        drudge_buf_add(b, p, 1);
    }
    drudge_buf_add(b, "\"", 1);
}

static void json_text(drudge_buf *b, sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    if (s)
        drudge_buf_json_str(b, s, (size_t)sqlite3_column_bytes(st, col));
    else
        drudge_buf_puts(b, "null");
}

static void json_int(drudge_buf *b, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        drudge_buf_puts(b, "null");
    else
        drudge_buf_int(b, sqlite3_column_int64(st, col));
}

static void row_jsonl(drudge_buf *b, sqlite3_stmt *st, const char *started)
{
    for (int c = 0; c < C_NCOLS; c++) {
        drudge_buf_printf(b, "%s\"%s\":", c ? "," : "{", columns[c]);
        switch (c) {
        case C_ID:
        case C_TASK:
        case C_ATTEMPT:
        case C_SEQ:
        case C_PARENT:
        case C_START:
        case C_DUR:
            json_int(b, st, c);
            break;
        default:
            json_text(b, st, c);
        }
    }
    drudge_buf_puts(b, ",\"started\":");
    drudge_buf_json_str(b, started, strlen(started));
    drudge_buf_puts(b, "}\n");
}

static void row_csv(drudge_buf *b, sqlite3_stmt *st, const char *started)
{
    for (int c = 0; c < C_NCOLS; c++) {
        if (c)
            drudge_buf_add(b, ",", 1);
        csv_field(b, (const char *)sqlite3_column_text(st, c));
    }
    drudge_buf_add(b, ",", 1);
    drudge_buf_puts(b, started);
    drudge_buf_puts(b, "\r\n");
}

drudge_code drudge_audit_export(sqlite3 *db, FILE *out, const drudge_export_opts *opts,
                                int64_t *rows, drudge_err *err)
{
    sqlite3_stmt *st = NULL;
    drudge_buf b = {0};
    drudge_code rc = DRUDGE_OK;
    *rows = 0;
    /* prev_hash: the row before in the whole chain (64 zeros before the
     * first), so each exported row checks on its own even when filtered. */
    if (sqlite3_prepare_v2(
            db,
            "SELECT s.id, s.task_id, s.attempt, s.seq, s.parent, s.kind, s.name, s.request, "
            "s.response, s.started_at, s.duration_us, s.outcome, s.error, s.hash, "
            "CASE WHEN s.id = 1 THEN '" ZEROS "' "
            "ELSE (SELECT p.hash FROM steps p WHERE p.id = s.id - 1) END, t.script "
            "FROM steps s LEFT JOIN tasks t ON t.id = s.task_id "
            "WHERE (?1 = 0 OR s.started_at >= ?1) AND (?2 = 0 OR s.started_at < ?2) "
            "AND (?3 IS NULL OR t.script = ?3) AND (?4 = 0 OR s.task_id = ?4) ORDER BY s.id",
            -1, &st, NULL) != SQLITE_OK)
        return drudge_db_err(db, "export", err);
    sqlite3_bind_int64(st, 1, opts->since_us);
    sqlite3_bind_int64(st, 2, opts->until_us);
    if (opts->script)
        sqlite3_bind_text(st, 3, opts->script, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, opts->task_id);
    if (opts->format == DRUDGE_EXPORT_CSV) {
        for (int c = 0; columns[c]; c++)
            drudge_buf_printf(&b, "%s%s", c ? "," : "", columns[c]);
        drudge_buf_puts(&b, "\r\n");
    }
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        char started[40];
        drudge_fmt_time(sqlite3_column_int64(st, C_START), started);
        if (opts->format == DRUDGE_EXPORT_CSV)
            row_csv(&b, st, started);
        else
            row_jsonl(&b, st, started);
        (*rows)++;
        if (b.len > 1 << 16) {
            fwrite(b.data, 1, b.len, out);
            drudge_buf_reset(&b);
        }
    }
    if (src != SQLITE_DONE)
        rc = drudge_db_err(db, "export", err);
    if (b.len)
        fwrite(b.data, 1, b.len, out);
    if (!rc && (fflush(out) != 0 || ferror(out)))
        rc = drudge_seterr(err, DRUDGE_EIO, "export: write error");
    sqlite3_finalize(st);
    drudge_buf_free(&b);
    return rc;
}

/* previous.c: what a retried attempt may know of the attempts before it.
 *
 * Delivery is at least once: an attempt may have acted in the world and then
 * died before its outcome was committed. A script made idempotent looks at
 * task.previous (built here from the attempts table and the audit trail) to
 * see what was already done, e.g. a POST that returned 201. */
#include <sqlite3.h>
#include <string.h>
#include "runner/store/db.h"
#include "drudge/host.h"
#include "drudge/util.h"

static void add_text(drudge_buf *b, const char *key, const unsigned char *v, int first)
{
    drudge_buf_printf(b, "%s\"%s\":", first ? "" : ",", key);
    if (v)
        drudge_buf_json_str(b, (const char *)v, strlen((const char *)v));
    else
        drudge_buf_puts(b, "null");
}

/* The recorded JSON summaries are objects already: embed them as values. */
static void add_json(drudge_buf *b, const char *key, const unsigned char *v)
{
    drudge_buf_printf(b, ",\"%s\":%s", key, v && *v ? (const char *)v : "null");
}

drudge_code drudge_previous_attempts(sqlite3 *db, int64_t task_id, int before_attempt, char **out,
                                     drudge_err *err)
{
    sqlite3_stmt *at = NULL, *st = NULL;
    drudge_buf b = {0};
    drudge_code rc = DRUDGE_OK;
    *out = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT n, outcome, error, started_at, ended_at FROM attempts "
                           "WHERE task_id = ? AND n < ? ORDER BY n",
                           -1, &at, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT seq, parent, kind, name, outcome, response, error FROM steps "
                           "WHERE task_id = ? AND attempt = ? ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = drudge_db_err(db, "previous attempts", err);
        goto cleanup;
    }
    sqlite3_bind_int64(at, 1, task_id);
    sqlite3_bind_int(at, 2, before_attempt);
    drudge_buf_puts(&b, "[");
    int first = 1, step_rc;
    while ((step_rc = sqlite3_step(at)) == SQLITE_ROW) {
        int n = sqlite3_column_int(at, 0);
        drudge_buf_printf(&b, "%s{\"attempt\":%d,", first ? "" : ",", n);
        add_text(&b, "outcome", sqlite3_column_text(at, 1), 1);
        add_text(&b, "error", sqlite3_column_text(at, 2), 0);
        drudge_buf_puts(&b, ",\"steps\":[");
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, task_id);
        sqlite3_bind_int(st, 2, n);
        int sfirst = 1;
        while (sqlite3_step(st) == SQLITE_ROW) {
            drudge_buf_printf(&b, "%s{\"seq\":%d,\"parent\":%d,", sfirst ? "" : ",",
                              sqlite3_column_int(st, 0), sqlite3_column_int(st, 1));
            add_text(&b, "kind", sqlite3_column_text(st, 2), 1);
            add_text(&b, "name", sqlite3_column_text(st, 3), 0);
            add_text(&b, "outcome", sqlite3_column_text(st, 4), 0);
            add_json(&b, "response", sqlite3_column_text(st, 5));
            add_text(&b, "error", sqlite3_column_text(st, 6), 0);
            drudge_buf_puts(&b, "}");
            sfirst = 0;
        }
        drudge_buf_puts(&b, "]}");
        first = 0;
    }
    if (step_rc != SQLITE_DONE) {
        rc = drudge_db_err(db, "previous attempts", err);
        goto cleanup;
    }
    drudge_buf_puts(&b, "]");
    *out = drudge_buf_take(&b);
cleanup:
    sqlite3_finalize(at);
    sqlite3_finalize(st);
    drudge_buf_free(&b);
    return rc;
}

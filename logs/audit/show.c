/* show.c: drudge audit show TASK: what the robot did for one task, attempt
 * by attempt, as an indented timeline (or JSON). */
#include <stdlib.h>
#include <string.h>
#include "logs/audit/audit.h"
#include "runner/store/db.h"
#include "drudge/util.h"

static void fmt_duration(int64_t us, char out[32])
{
    if (us < 0)
        snprintf(out, 32, "open");
    else if (us < 1000000)
        snprintf(out, 32, "%.3f ms", (double)us / 1000.0);
    else
        snprintf(out, 32, "%.3f s", (double)us / 1e6);
}

/* The string value of "key" in a flat JSON summary, unescaped enough to
 * read (\" \\ \n \t); appended to b. 0 if absent. */
static int json_field(const char *json, const char *key, drudge_buf *b)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = json ? strstr(json, pat) : NULL;
    if (!p)
        return 0;
    p += strlen(pat);
    if (*p != '"') { /* a number or literal */
        size_t n = strcspn(p, ",}");
        drudge_buf_add(b, p, n);
        return 1;
    }
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            drudge_buf_add(b, *p == 'n' ? "\n" : *p == 't' ? "\t" : p, 1);
        } else {
            drudge_buf_add(b, p, 1);
        }
    }
    return 1;
}

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* For columns that are NOT NULL unless someone changed the schema. */
static const char *col_str(sqlite3_stmt *st, int i)
{
    const char *s = col(st, i);
    return s ? s : "?";
}

static void put_json_field(drudge_buf *b, const char *key, const char *v, int comma)
{
    drudge_buf_printf(b, "%s\"%s\":", comma ? "," : "", key);
    if (v)
        drudge_buf_json_str(b, v, strlen(v));
    else
        drudge_buf_puts(b, "null");
}

/* One step as a timeline line (plus its error on the next). */
static void step_text(drudge_buf *b, sqlite3_stmt *st, int depth)
{
    char when[40], dur[32];
    const char *kind = col_str(st, 2), *name = col_str(st, 3), *req = col(st, 4);
    const char *resp = col(st, 5), *outcome = col_str(st, 8), *error = col(st, 9);
    drudge_fmt_time(sqlite3_column_int64(st, 6), when);
    fmt_duration(sqlite3_column_int64(st, 7), dur);
    drudge_buf_printf(b, "%*s[%d] %s  %10s  ", 2 * depth + 2, "", sqlite3_column_int(st, 0),
                      when + 11, dur);
    if (!strcmp(kind, "log")) {
        drudge_buf_printf(b, "log %s: ", name);
        if (!json_field(req, "message", b))
            drudge_buf_puts(b, req ? req : "");
    } else if (!strcmp(kind, "secret")) {
        drudge_buf_printf(b, "secret %s (value not recorded)", name);
    } else if (!strcmp(kind, "step")) {
        drudge_buf_printf(b, "step \"%s\"  %s", name, outcome);
    } else {
        drudge_buf_printf(b, "%s %s  %s", kind, name, outcome);
        drudge_buf status = {0};
        if (json_field(resp, "status", &status))
            drudge_buf_printf(b, "  status %s", status.data);
        drudge_buf_free(&status);
    }
    drudge_buf_puts(b, "\n");
    if (error && *error) {
        /* Multi-line errors (tracebacks) stay under their step. */
        drudge_buf_printf(b, "%*serror: ", 2 * depth + 6, "");
        for (const char *p = error; *p; p++) {
            drudge_buf_add(b, p, 1);
            if (*p == '\n' && p[1])
                drudge_buf_printf(b, "%*s", 2 * depth + 13, "");
        }
        drudge_buf_puts(b, "\n");
    }
}

static void step_json(drudge_buf *b, sqlite3_stmt *st, int first)
{
    drudge_buf_printf(b, "%s{\"seq\":%d,\"parent\":", first ? "" : ",", sqlite3_column_int(st, 0));
    if (sqlite3_column_type(st, 1) == SQLITE_NULL)
        drudge_buf_puts(b, "null");
    else
        drudge_buf_printf(b, "%d", sqlite3_column_int(st, 1));
    put_json_field(b, "kind", col(st, 2), 1);
    put_json_field(b, "name", col(st, 3), 1);
    put_json_field(b, "request", col(st, 4), 1);
    put_json_field(b, "response", col(st, 5), 1);
    char when[40];
    drudge_fmt_time(sqlite3_column_int64(st, 6), when);
    drudge_buf_printf(b, ",\"started_at\":%lld,\"started\":\"%s\",\"duration_us\":%lld",
                      (long long)sqlite3_column_int64(st, 6), when,
                      (long long)sqlite3_column_int64(st, 7));
    put_json_field(b, "outcome", col(st, 8), 1);
    put_json_field(b, "error", col(st, 9), 1);
    drudge_buf_printf(b, ",\"id\":%lld", (long long)sqlite3_column_int64(st, 10));
    put_json_field(b, "hash", col(st, 11), 1);
    drudge_buf_puts(b, "}");
}

drudge_code drudge_audit_show(sqlite3 *db, FILE *out, int64_t task_id, int attempt, int json,
                              drudge_err *err)
{
    sqlite3_stmt *t = NULL, *at = NULL, *st = NULL;
    drudge_buf b = {0};
    drudge_code rc = DRUDGE_OK;
    int *depth = NULL;
    size_t depth_cap = 0;
    if (sqlite3_prepare_v2(db, "SELECT script, key, state, attempts FROM tasks WHERE id = ?", -1,
                           &t, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT x.k, a.outcome, a.worker, a.started_at, a.ended_at, a.error "
                           "FROM (SELECT n AS k FROM attempts WHERE task_id = ?1 UNION "
                           "SELECT attempt FROM steps WHERE task_id = ?1) x "
                           "LEFT JOIN attempts a ON a.task_id = ?1 AND a.n = x.k "
                           "WHERE ?2 = 0 OR x.k = ?2 ORDER BY x.k",
                           -1, &at, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT seq, parent, kind, name, request, response, started_at, "
                           "duration_us, outcome, error, id, hash FROM steps "
                           "WHERE task_id = ? AND attempt = ? ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = drudge_db_err(db, "audit show", err);
        goto cleanup;
    }
    sqlite3_bind_int64(t, 1, task_id);
    int have_task = sqlite3_step(t) == SQLITE_ROW;
    if (json) {
        drudge_buf_printf(&b, "{\"task\":{\"id\":%lld", (long long)task_id);
        put_json_field(&b, "script", have_task ? col(t, 0) : NULL, 1);
        put_json_field(&b, "key", have_task ? col(t, 1) : NULL, 1);
        put_json_field(&b, "state", have_task ? col(t, 2) : NULL, 1);
        drudge_buf_puts(&b, "},\"attempts\":[");
    } else if (have_task) {
        drudge_buf_printf(&b, "task #%lld  %s", (long long)task_id, col_str(t, 0));
        if (col(t, 1))
            drudge_buf_printf(&b, "  key %s", col(t, 1));
        drudge_buf_printf(&b, "  %s after %d attempt%s\n", col_str(t, 2), sqlite3_column_int(t, 3),
                          sqlite3_column_int(t, 3) == 1 ? "" : "s");
    } else {
        drudge_buf_printf(&b, "task #%lld  (not in the tasks table)\n", (long long)task_id);
    }
    sqlite3_bind_int64(at, 1, task_id);
    sqlite3_bind_int(at, 2, attempt);
    int nattempts = 0;
    while (sqlite3_step(at) == SQLITE_ROW) {
        int n = sqlite3_column_int(at, 0);
        char when[40] = "?", dur[32] = "?";
        if (sqlite3_column_type(at, 3) != SQLITE_NULL) {
            drudge_fmt_time(sqlite3_column_int64(at, 3), when);
            fmt_duration(sqlite3_column_int64(at, 4) - sqlite3_column_int64(at, 3), dur);
        }
        if (json) {
            drudge_buf_printf(&b, "%s{\"attempt\":%d", nattempts ? "," : "", n);
            put_json_field(&b, "outcome", col(at, 1), 1);
            put_json_field(&b, "worker", col(at, 2), 1);
            put_json_field(&b, "error", col(at, 5), 1);
            drudge_buf_puts(&b, ",\"steps\":[");
        } else {
            drudge_buf_printf(&b, "\nattempt %d  %s  started %s  %s", n,
                              col(at, 1) ? col(at, 1) : "(outcome not committed)", when, dur);
            if (col(at, 2))
                drudge_buf_printf(&b, "  worker %s", col(at, 2));
            drudge_buf_puts(&b, "\n");
        }
        nattempts++;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, task_id);
        sqlite3_bind_int(st, 2, n);
        int nsteps = 0;
        while (sqlite3_step(st) == SQLITE_ROW) {
            int seq = sqlite3_column_int(st, 0), parent = sqlite3_column_int(st, 1);
            if (json) {
                step_json(&b, st, nsteps == 0);
            } else {
                if ((size_t)seq >= depth_cap) {
                    size_t cap = (size_t)seq * 2 + 16;
                    depth = drudge_xrealloc(depth, cap * sizeof *depth);
                    memset(depth + depth_cap, 0, (cap - depth_cap) * sizeof *depth);
                    depth_cap = cap;
                }
                int d = parent > 0 && parent < seq ? depth[parent] + 1 : 0;
                depth[seq] = d;
                step_text(&b, st, d);
            }
            nsteps++;
        }
        if (json)
            drudge_buf_puts(&b, "]}");
        else if (!nsteps)
            drudge_buf_puts(&b, "  (no steps recorded)\n");
    }
    if (json)
        drudge_buf_puts(&b, "]}\n");
    if (!have_task && !nattempts) {
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "no task #%lld in %s", (long long)task_id,
                           sqlite3_db_filename(db, "main"));
        goto cleanup;
    }
    if (attempt && !nattempts) {
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "task #%lld has no attempt %d",
                           (long long)task_id, attempt);
        goto cleanup;
    }
    fwrite(b.data, 1, b.len, out);
cleanup:
    sqlite3_finalize(t);
    sqlite3_finalize(at);
    sqlite3_finalize(st);
    free(depth);
    drudge_buf_free(&b);
    return rc;
}

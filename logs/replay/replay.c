/* replay.c: drudge replay TASK: re-run a recorded attempt offline.
 *
 * The attempt's steps and payloads are loaded from the audit trail into the
 * host's recorder in replay mode; the script runs again with the recorded
 * input (and task.previous as it was); every connector call answers from the
 * recording instead of touching the world, and the recorder compares each
 * step with the recorded one as it goes (record.c). Nothing is written. */
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <lua-cjson.h>
#include <lualib.h>
#include "logs/audit/audit.h"
#include "runner/store/db.h"
#include "drudge/host.h"
#include "drudge/util.h"

static char *dup_col(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s ? drudge_xstrdup(s) : NULL;
}

typedef struct ref_list {
    char (*sha)[65];
    size_t n, cap;
} ref_list;

static void add_ref(void *ud, const char *sha)
{
    ref_list *l = ud;
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->sha[i], sha))
            return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->sha = drudge_xrealloc(l->sha, l->cap * sizeof *l->sha);
    }
    memcpy(l->sha[l->n++], sha, 65);
}

static void free_steps(drudge_step *steps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(steps[i].kind);
        free(steps[i].name);
        free(steps[i].request);
        free(steps[i].response);
        free(steps[i].outcome);
        free(steps[i].error);
    }
    free(steps);
}

drudge_code drudge_audit_load_attempt(sqlite3 *db, int64_t task_id, int attempt,
                                      drudge_step **steps_out, size_t *n_out,
                                      drudge_payload **payloads_out, size_t *np_out, int *pruned,
                                      drudge_err *err)
{
    sqlite3_stmt *st = NULL, *pq = NULL;
    drudge_step *steps = NULL;
    drudge_payload *pays = NULL;
    size_t n = 0, cap = 0, np = 0;
    ref_list refs = {0};
    drudge_code rc = DRUDGE_OK;
    *steps_out = NULL;
    *payloads_out = NULL;
    *n_out = *np_out = 0;
    *pruned = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT seq, parent, kind, name, request, response, started_at, "
                           "duration_us, outcome, error FROM steps WHERE task_id = ? AND "
                           "attempt = ? ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT content_type, data FROM payloads WHERE sha256 = ?", -1, &pq,
                           NULL) != SQLITE_OK) {
        rc = drudge_db_err(db, "replay: loading the recording", err);
        goto cleanup;
    }
    sqlite3_bind_int64(st, 1, task_id);
    sqlite3_bind_int(st, 2, attempt);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            steps = drudge_xrealloc(steps, cap * sizeof *steps);
        }
        drudge_step *s = &steps[n++];
        memset(s, 0, sizeof *s);
        s->seq = sqlite3_column_int(st, 0);
        s->parent = sqlite3_column_int(st, 1);
        s->kind = dup_col(st, 2);
        s->name = dup_col(st, 3);
        s->request = dup_col(st, 4);
        s->response = dup_col(st, 5);
        s->started_us = sqlite3_column_int64(st, 6);
        s->duration_us = sqlite3_column_int64(st, 7);
        s->outcome = dup_col(st, 8);
        s->error = dup_col(st, 9);
        if (s->seq != (int)n || !s->kind || !s->name) {
            rc = drudge_seterr(err, DRUDGE_ETAMPER,
                               "task #%lld attempt %d: the recording is incomplete (seq %d where "
                               "%zu was expected); run drudge audit verify",
                               (long long)task_id, attempt, s->seq, n);
            goto cleanup;
        }
        drudge_audit_payload_refs(s->request, add_ref, &refs);
        drudge_audit_payload_refs(s->response, add_ref, &refs);
    }
    if (refs.n)
        pays = drudge_xmalloc(refs.n * sizeof *pays);
    for (size_t i = 0; i < refs.n; i++) {
        sqlite3_reset(pq);
        sqlite3_bind_text(pq, 1, refs.sha[i], 64, SQLITE_STATIC);
        if (sqlite3_step(pq) != SQLITE_ROW || sqlite3_column_type(pq, 1) == SQLITE_NULL) {
            (*pruned)++;
            continue;
        }
        drudge_payload *p = &pays[np++];
        memset(p, 0, sizeof *p);
        memcpy(p->sha256, refs.sha[i], 65);
        p->content_type = dup_col(pq, 0);
        if (!p->content_type)
            p->content_type = drudge_xstrdup("application/octet-stream");
        p->len = (size_t)sqlite3_column_bytes(pq, 1);
        p->data = drudge_xmalloc(p->len + 1);
        if (p->len)
            memcpy(p->data, sqlite3_column_blob(pq, 1), p->len);
        p->data[p->len] = 0;
    }
    *steps_out = steps;
    *n_out = n;
    *payloads_out = pays;
    *np_out = np;
    steps = NULL;
    pays = NULL;
    np = 0;
cleanup:
    sqlite3_finalize(st);
    sqlite3_finalize(pq);
    if (steps)
        free_steps(steps, n);
    for (size_t i = 0; i < np; i++) {
        free(pays[i].content_type);
        free(pays[i].data);
    }
    free(pays);
    free(refs.sha);
    return rc;
}

/* Are two JSON texts the same value? Tables are compared by content, since
 * the key order of an encoded Lua table is not stable between states. */
static int json_same(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    if (!strcmp(a, b))
        return 1;
    static const char eq[] =
        "local json, a, b = ...\n"
        "local function eq(x, y)\n"
        "  if type(x) ~= type(y) then return false end\n"
        "  if type(x) ~= 'table' then return x == y end\n"
        "  for k, v in pairs(x) do if not eq(v, y[k]) then return false end end\n"
        "  for k in pairs(y) do if x[k] == nil then return false end end\n"
        "  return true\n"
        "end\n"
        "return eq(json.decode(a), json.decode(b))\n";
    lua_State *L = luaL_newstate();
    if (!L)
        return 0;
    int same = 0;
    luaL_requiref(L, "_G", luaopen_base, 0); /* pairs, type */
    lua_pop(L, 1);
    if (luaL_loadstring(L, eq) == LUA_OK) {
        luaopen_cjson(L);
        lua_pushstring(L, a);
        lua_pushstring(L, b);
        same = lua_pcall(L, 3, 1, 0) == LUA_OK && lua_toboolean(L, -1);
    }
    lua_close(L);
    return same;
}

typedef struct task_row {
    char *script, *path, *key, *input;
} task_row;

static drudge_code load_task(sqlite3 *db, int64_t id, int *attempt, task_row *t, drudge_err *err)
{
    sqlite3_stmt *st = NULL;
    drudge_code rc = DRUDGE_OK;
    if (sqlite3_prepare_v2(db,
                           "SELECT script, script_path, key, input, (SELECT max(attempt) FROM "
                           "steps WHERE task_id = ?1) FROM tasks WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return drudge_db_err(db, "replay", err);
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "no task #%lld in %s", (long long)id,
                           sqlite3_db_filename(db, "main"));
        goto cleanup;
    }
    if (sqlite3_column_type(st, 4) == SQLITE_NULL) {
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "task #%lld has no recorded attempt",
                           (long long)id);
        goto cleanup;
    }
    if (*attempt <= 0)
        *attempt = sqlite3_column_int(st, 4);
    t->script = dup_col(st, 0);
    t->path = dup_col(st, 1);
    t->key = dup_col(st, 2);
    t->input = dup_col(st, 3);
cleanup:
    sqlite3_finalize(st);
    return rc;
}

drudge_code drudge_replay(sqlite3 *db, const drudge_replay_opts *opts, drudge_replay_result *res,
                          drudge_err *err)
{
    task_row t = {0};
    drudge_step *steps = NULL;
    drudge_payload *pays = NULL;
    size_t n = 0, np = 0;
    drudge_host *host = NULL;
    drudge_result out = {0};
    char *previous = NULL, *recorded_output = NULL, *recorded_error = NULL;
    char *recorded_outcome = NULL;
    memset(res, 0, sizeof *res);
    res->attempt = opts->attempt;
    drudge_code rc = load_task(db, opts->task_id, &res->attempt, &t, err);
    if (rc)
        goto cleanup;
    rc = drudge_audit_load_attempt(db, opts->task_id, res->attempt, &steps, &n, &pays, &np,
                                   &res->pruned, err);
    if (rc)
        goto cleanup;
    if (n == 0) {
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "task #%lld has no recorded attempt %d",
                           (long long)opts->task_id, res->attempt);
        goto cleanup;
    }
    res->recorded = n;
    recorded_output = steps[0].response ? drudge_xstrdup(steps[0].response) : NULL;
    recorded_error = steps[0].error ? drudge_xstrdup(steps[0].error) : NULL;
    recorded_outcome = drudge_xstrdup(steps[0].outcome ? steps[0].outcome : "");
    /* task.previous as the attempt saw it: built again from the trail (earlier
     * attempts are immutable), if the attempt had it at all. */
    if (steps[0].request && strstr(steps[0].request, ",\"previous\":true}")) {
        rc = drudge_previous_attempts(db, opts->task_id, res->attempt, &previous, err);
        if (rc)
            goto cleanup;
    }
    /* No secrets file: in replay secret() answers "[REDACTED:name]". */
    drudge_host_opts hopts = {.files_dir = opts->files_dir, .echo_logs = opts->echo_logs};
    if (!(host = drudge_host_new(&hopts, err))) {
        rc = err ? err->code : DRUDGE_EIO;
        goto cleanup;
    }
    drudge_rec *rec = drudge_host_rec(host);
    /* Replay mode before the script loads, so a secret() at its top level
     * does not reach for the real value either. */
    drudge_rec_replay_load(rec, steps, n, pays, np);
    steps = NULL;
    pays = NULL;
    const char *path = opts->script_path ? opts->script_path : t.path;
    const drudge_script_info *info;
    rc = drudge_host_load(host, path, &info, err);
    if (rc == DRUDGE_ENOTFOUND && !opts->script_path && err) {
        char detail[sizeof err->msg];
        snprintf(detail, sizeof detail, "%s", err->msg);
        drudge_seterr(err, rc, "%s (the task's script moved? replay it with --script FILE)",
                      detail);
    }
    if (rc)
        goto cleanup;
    drudge_task_view view = {.id = opts->task_id,
                             .key = t.key,
                             .attempt = res->attempt,
                             .input = t.input,
                             .script = t.script ? t.script : info->name,
                             .previous = previous};
    rc = drudge_host_run(host, path, &view, &out, err);
    if (rc)
        goto cleanup;
    drudge_rec_replay_check_end(rec);
    res->steps = drudge_rec_count(rec);
    res->outcome = drudge_xstrdup(drudge_outcome_name(out.outcome));
    /* The attempt itself: outcome, error, and output as JSON values. */
    const drudge_step *root = drudge_rec_count(rec) ? drudge_rec_step(rec, 0) : NULL;
    const char *what = NULL, *exp = NULL, *got = NULL;
    if (*drudge_rec_divergence(rec))
        res->divergence = drudge_xstrdup(drudge_rec_divergence(rec));
    else if (root && strcmp(recorded_outcome, root->outcome) != 0)
        what = "outcome", exp = recorded_outcome, got = root->outcome;
    else if (root && strcmp(recorded_error ? recorded_error : "", root->error ? root->error : ""))
        what = "error", exp = recorded_error, got = root->error;
    else if (root && !json_same(recorded_output, root->response))
        what = "output", exp = recorded_output, got = root->response;
    if (what) {
        drudge_buf d = {0};
        drudge_buf_printf(&d, "step 1 (task \"%s\"): %s differs: expected %s, got %s", root->name,
                          what, exp ? exp : "none", got ? got : "none");
        res->divergence = drudge_buf_take(&d);
    }
    if (res->divergence) {
        rc = drudge_seterr(err, DRUDGE_EDIVERGE, "replay of task #%lld attempt %d diverged: %s",
                           (long long)opts->task_id, res->attempt, res->divergence);
    }
cleanup:
    drudge_result_clear(&out);
    drudge_host_free(host);
    if (steps)
        free_steps(steps, n);
    for (size_t i = 0; pays && i < np; i++) {
        free(pays[i].content_type);
        free(pays[i].data);
    }
    free(pays);
    free(previous);
    free(recorded_output);
    free(recorded_error);
    free(recorded_outcome);
    free(t.script);
    free(t.path);
    free(t.key);
    free(t.input);
    return rc;
}

void drudge_replay_result_clear(drudge_replay_result *res)
{
    free(res->divergence);
    free(res->outcome);
    memset(res, 0, sizeof *res);
}

/* recording.c: a recorded attempt as replay needs it: its steps in seq
 * order and the payloads they reference, loaded from the store; and how two
 * recorded JSON values compare. (Running the attempt again is
 * runner/work/replay.c; answering connector calls from the recording and
 * noting divergences is the recorder's replay mode, logs/audit/record.c.) */
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <lua-cjson.h>
#include <lualib.h>
#include "drudge/util.h"
#include "logs/audit/audit.h"
#include "logs/replay/replay.h"

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

void drudge_steps_free(drudge_step *steps, size_t n)
{
    for (size_t i = 0; steps && i < n; i++) {
        free(steps[i].kind);
        free(steps[i].name);
        free(steps[i].request);
        free(steps[i].response);
        free(steps[i].outcome);
        free(steps[i].error);
    }
    free(steps);
}

void drudge_payloads_free(drudge_payload *pays, size_t n)
{
    for (size_t i = 0; pays && i < n; i++) {
        free(pays[i].content_type);
        free(pays[i].data);
    }
    free(pays);
}

/* Copies the attempt's steps, in seq order, checking they are complete. */
typedef struct loading {
    int64_t task_id;
    int attempt;
    drudge_step *steps;
    size_t n, cap;
    ref_list refs;
    drudge_err *err;
    drudge_code rc;
} loading;

static int load_step(void *ud, const drudge_step_row *r)
{
    loading *l = ud;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 32;
        l->steps = drudge_xrealloc(l->steps, l->cap * sizeof *l->steps);
    }
    drudge_step *s = &l->steps[l->n++];
    memset(s, 0, sizeof *s);
    drudge_step_copy(s, &r->step);
    if (s->seq != (int)l->n || !s->kind || !s->name) {
        l->rc = drudge_seterr(l->err, DRUDGE_ETAMPER,
                              "task #%lld attempt %d: the recording is incomplete (seq %d where "
                              "%zu was expected); run drudge audit verify",
                              (long long)l->task_id, l->attempt, s->seq, l->n);
        return 1;
    }
    drudge_audit_payload_refs(s->request, add_ref, &l->refs);
    drudge_audit_payload_refs(s->response, add_ref, &l->refs);
    return 0;
}

/* The payloads the steps reference that still hold data; *pruned counts
 * the others. */
static drudge_code load_payloads(drudge_store *st, const ref_list *refs, drudge_payload **out,
                                 size_t *np, int *pruned, drudge_err *err)
{
    drudge_payload *pays = refs->n ? drudge_xmalloc(refs->n * sizeof *pays) : NULL;
    *np = 0;
    for (size_t i = 0; i < refs->n; i++) {
        drudge_payload_row row;
        drudge_code rc = drudge_store_payload(st, refs->sha[i], 1, &row, err);
        if (rc == DRUDGE_ENOTFOUND || (!rc && !row.data)) {
            drudge_payload_row_clear(&row);
            (*pruned)++;
            continue;
        }
        if (rc) {
            drudge_payloads_free(pays, *np);
            *np = 0;
            return rc;
        }
        drudge_payload *p = &pays[(*np)++];
        memset(p, 0, sizeof *p);
        memcpy(p->sha256, refs->sha[i], 65);
        p->content_type =
            row.content_type ? row.content_type : drudge_xstrdup("application/octet-stream");
        p->data = row.data;
        p->len = row.len;
    }
    *out = pays;
    return DRUDGE_OK;
}

drudge_code drudge_audit_load_attempt(drudge_store *st, int64_t task_id, int attempt,
                                      drudge_step **steps_out, size_t *n_out,
                                      drudge_payload **payloads_out, size_t *np_out, int *pruned,
                                      drudge_err *err)
{
    loading l = {.task_id = task_id, .attempt = attempt, .err = err};
    drudge_step_filter f = {.task_id = task_id, .attempt = attempt, .by_seq = 1};
    *steps_out = NULL;
    *payloads_out = NULL;
    *n_out = *np_out = 0;
    *pruned = 0;
    drudge_code rc = drudge_store_steps(st, &f, load_step, &l, err);
    if (!rc)
        rc = l.rc;
    if (!rc)
        rc = load_payloads(st, &l.refs, payloads_out, np_out, pruned, err);
    free(l.refs.sha);
    if (rc) {
        drudge_steps_free(l.steps, l.n);
        return rc;
    }
    *steps_out = l.steps;
    *n_out = l.n;
    return DRUDGE_OK;
}

/* Are two JSON texts the same value? Tables are compared by content, since
 * the key order of an encoded Lua table is not stable between states. */
int drudge_replay_json_same(const char *a, const char *b)
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

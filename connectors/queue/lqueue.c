/* lqueue.c: drudge.queue, for scripts that queue work of their own.
 *
 *   local queue = require "drudge.queue"
 *   local id, duplicate = queue.enqueue(script, input [, {key=, priority=, at=,
 *                                       manual_minutes=, exception_minutes=}])
 *
 * script is a script file (a path; relative paths are taken from the calling
 * script's directory) or the name of a script already queued in the
 * database; a bare name with NAME.lua beside the calling script works too.
 * Each call commits at once on the host's own connection to the database and
 * is a "queue" step on the connector call path (drudge_call): in replay the
 * recorded id is returned and nothing is queued. API misuse raises; a database failure is a system
 * error (the calling task is retried, so pass a key to make the enqueue idempotent). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include "drudge/call.h"
#include "drudge/host.h"
#include "drudge/json.h"
#include "drudge/util.h"
#include "connectors/queue/lqueue.h"
#include "runner/store/store.h"

#define DB_PATH_KEY "drudge.queue.db_path"
#define CONN_KEY    "drudge.queue.db"
#define CONN_MT     "drudge.queue.connection"
#define SCRIPTS_KEY "drudge.queue.scripts"
#define VERSION_KEY "drudge.queue.versioner"

void drudge_lqueue_set_db(lua_State *L, const char *path)
{
    lua_pushstring(L, path);
    lua_setfield(L, LUA_REGISTRYINDEX, DB_PATH_KEY);
}

typedef struct versioner_ud {
    drudge_lqueue_version_fn fn;
} versioner_ud;

void drudge_lqueue_set_versioner(lua_State *L, drudge_lqueue_version_fn fn)
{
    versioner_ud *v = lua_newuserdatauv(L, sizeof *v, 0);
    v->fn = fn;
    lua_setfield(L, LUA_REGISTRYINDEX, VERSION_KEY);
}

/* The script version of spec's file, stored, into sha ("" when there is no
 * versioner or the file cannot be read: the worker reports a script that
 * does not load on the task, as for `drudge enqueue`). Raises a system error
 * on a database failure. */
static void record_version(lua_State *L, drudge_store *db, const drudge_task_spec *spec,
                           char sha[65])
{
    sha[0] = '\0';
    if (lua_getfield(L, LUA_REGISTRYINDEX, VERSION_KEY) != LUA_TUSERDATA || !spec->script_path) {
        lua_pop(L, 1);
        return;
    }
    versioner_ud *v = lua_touserdata(L, -1);
    lua_pop(L, 1);
    drudge_err err = {0};
    drudge_code rc = v->fn(db, spec->script_path, spec->script, sha, &err);
    if (rc == DRUDGE_EDB || rc == DRUDGE_EBUSY)
        luaL_error(L, "queue.enqueue: %s", err.msg);
    if (rc)
        sha[0] = '\0';
}

typedef struct conn_ud {
    drudge_store *db;
} conn_ud;

static int conn_gc(lua_State *L)
{
    conn_ud *c = luaL_checkudata(L, 1, CONN_MT);
    drudge_store_close(c->db);
    c->db = NULL;
    return 0;
}

/* The host's connection, opened on first use. Raises a system error. */
static drudge_store *get_db(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, CONN_KEY) == LUA_TUSERDATA) {
        conn_ud *c = lua_touserdata(L, -1);
        lua_pop(L, 1);
        if (c->db)
            return c->db;
    } else {
        lua_pop(L, 1);
    }
    lua_getfield(L, LUA_REGISTRYINDEX, DB_PATH_KEY);
    const char *path = lua_isstring(L, -1) ? lua_tostring(L, -1) : drudge_store_default();
    conn_ud *c = lua_newuserdatauv(L, sizeof *c, 0);
    c->db = NULL;
    if (luaL_newmetatable(L, CONN_MT)) {
        lua_pushcfunction(L, conn_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, conn_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_setmetatable(L, -2);
    drudge_err err = {0};
    if (drudge_store_open(path, DRUDGE_STORE_NOCREATE, &c->db, &err) != DRUDGE_OK)
        drudge_host_raise(L, "queue.enqueue: %s", err.msg);
    lua_setfield(L, LUA_REGISTRYINDEX, CONN_KEY);
    lua_pop(L, 1); /* the path */
    return c->db;
}

/* The directory of the running script, for relative paths. */
static void push_script_dir(lua_State *L)
{
    const drudge_script_info *info = drudge_host_current_script(L);
    char real[PATH_MAX];
    if (!info || !realpath(info->path, real)) {
        lua_pushliteral(L, ".");
        return;
    }
    char *slash = strrchr(real, '/');
    if (slash == real)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    lua_pushstring(L, real);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Pushes a table with the contract c (name, path, max_attempts,
 * manual_minutes, exception_minutes, window): its strings then live in Lua,
 * so nothing leaks on a later error. */
static void push_contract(lua_State *L, const drudge_task_spec *c)
{
    const char *const strs[][2] = {
        {"name", c->script}, {"path", c->script_path}, {"window", c->window}};
    const struct {
        const char *key;
        double v;
    } nums[] = {{"max_attempts", c->max_attempts},
                {"manual_minutes", c->manual_minutes},
                {"exception_minutes", c->exception_minutes}};
    lua_createtable(L, 0, 6);
    for (size_t i = 0; i < 3; i++) {
        lua_pushstring(L, strs[i][1]);
        lua_setfield(L, -2, strs[i][0]);
        lua_pushnumber(L, nums[i].v);
        lua_setfield(L, -2, nums[i].key);
    }
}

/* Field key of the table on top: its string stays alive in the table. */
static const char *field_str(lua_State *L, const char *key)
{
    lua_getfield(L, -1, key);
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 1);
    return s;
}

static double field_num(lua_State *L, const char *key)
{
    lua_getfield(L, -1, key);
    double v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* Points spec at the contract in the table on top (which keeps its strings). */
static void spec_from_contract(lua_State *L, drudge_task_spec *spec)
{
    spec->script = field_str(L, "name");
    spec->script_path = field_str(L, "path");
    spec->window = field_str(L, "window");
    spec->max_attempts = (int)field_num(L, "max_attempts");
    spec->manual_minutes = field_num(L, "manual_minutes");
    spec->exception_minutes = field_num(L, "exception_minutes");
}

/* Fills spec from a script file, loaded and checked once per state in a host
 * of its own (the running attempt's state is not disturbed). Strings in spec
 * live in the registry cache table. Raises on an invalid script. */
static void spec_from_file(lua_State *L, const char *path, drudge_task_spec *spec)
{
    lua_getfield(L, LUA_REGISTRYINDEX, SCRIPTS_KEY);
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, SCRIPTS_KEY);
    }
    if (lua_getfield(L, -1, path) != LUA_TTABLE) {
        lua_pop(L, 1);
        drudge_err err = {0};
        drudge_host *h = drudge_host_new(NULL, &err);
        const drudge_script_info *info = NULL;
        if (!h || drudge_host_load(h, path, &info, &err)) {
            drudge_host_free(h);
            luaL_error(L, "queue.enqueue: %s", err.msg);
        }
        drudge_task_spec c = {.script = info->name,
                              .script_path = path,
                              .max_attempts = info->max_attempts,
                              .manual_minutes = info->manual_minutes,
                              .exception_minutes = info->exception_minutes,
                              .window = info->window};
        push_contract(L, &c);
        drudge_host_free(h);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, path);
    }
    spec_from_contract(L, spec);
    /* The strings stay referenced by the cache table, left on the stack. */
}

/* The options of one queue.enqueue, read before anything is recorded. */
typedef struct enqueue_args {
    const char *script, *key, *input;
    lua_Integer priority;
    int64_t run_at;
    double manual, exception; /* < 0: the script's own */
} enqueue_args;

/* Everything queue.enqueue asks of the database, in this one function: when
 * name is given, the contract of the script queued before under that name
 * (DRUDGE_ENOTFOUND if there is none), then the enqueue of spec with the
 * call's options. */
static drudge_code queue_store(lua_State *L, const enqueue_args *a, const char *name,
                               drudge_task_spec *spec, int64_t *id, int *dup, drudge_err *err)
{
    drudge_store *db = get_db(L);
    if (name) {
        drudge_task_spec known;
        drudge_code rc = drudge_store_known_script(db, name, &known, err);
        if (rc != DRUDGE_OK)
            return rc;
        push_contract(L, &known); /* keeps its strings */
        drudge_task_spec_clear(&known);
        spec_from_contract(L, spec);
    }
    spec->key = a->key;
    spec->input = a->input;
    spec->priority = (int)a->priority;
    spec->run_at = a->run_at;
    if (a->manual >= 0)
        spec->manual_minutes = a->manual;
    if (a->exception >= 0)
        spec->exception_minutes = a->exception;
    char sha[65];
    record_version(L, db, spec, sha);
    spec->script_sha256 = sha[0] ? sha : NULL;
    drudge_code rc = drudge_store_begin(db, DRUDGE_TX_WRITE, err);
    if (!rc)
        rc = drudge_store_enqueue(db, spec, 1, drudge_now_us(), id, dup, NULL, NULL, err);
    if (!rc)
        rc = drudge_store_commit(db, err);
    if (rc)
        drudge_store_rollback(db);
    return rc;
}

/* The script file for a script argument that is a path, or NAME.lua beside
 * the calling script for a bare name (pushes its real path), or NULL
 * (pushes nothing) for a bare name with no such file. Raises for a path
 * that is not a file. */
static const char *script_file(lua_State *L, const char *script)
{
    int is_path = strchr(script, '/') || strstr(script, ".lua");
    char real[PATH_MAX];
    push_script_dir(L);
    const char *dir = lua_tostring(L, -1);
    if (is_path && script[0] == '/')
        lua_pushstring(L, script);
    else if (is_path)
        lua_pushfstring(L, "%s/%s", dir, script);
    else
        lua_pushfstring(L, "%s/%s.lua", dir, script);
    const char *path = lua_tostring(L, -1);
    int found = (is_path || file_exists(path)) && realpath(path, real);
    if (!found && is_path)
        luaL_error(L, "queue.enqueue: no script file %s", path);
    lua_pop(L, 2);
    if (!found)
        return NULL;
    lua_pushstring(L, real);
    return lua_tostring(L, -1);
}

/* The live call: resolves the script (a file; else a script queued before;
 * else NAME.lua beside the caller) and enqueues it. */
static drudge_code enqueue_live(lua_State *L, drudge_call_ctx *c, void *ud)
{
    const enqueue_args *a = ud;
    drudge_task_spec spec = {0};
    drudge_err err = {0};
    int64_t id = 0;
    int dup = 0;
    int is_path = strchr(a->script, '/') || strstr(a->script, ".lua");
    drudge_code rc = DRUDGE_ENOTFOUND;
    if (!is_path)
        rc = queue_store(L, a, a->script, &spec, &id, &dup, &err);
    if (rc == DRUDGE_ENOTFOUND) {
        const char *file = script_file(L, a->script);
        if (!file) {
            push_script_dir(L);
            return luaL_error(L,
                              "queue.enqueue: unknown script '%s': not queued before, and no "
                              "%s/%s.lua",
                              a->script, lua_tostring(L, -1), a->script);
        }
        spec_from_file(L, file, &spec); /* pushes what keeps spec's strings */
        rc = queue_store(L, a, NULL, &spec, &id, &dup, &err);
    }
    if (rc != DRUDGE_OK)
        return drudge_call_abort(c, rc, "%s", err.msg);
    drudge_call_int(c, "id", id);
    drudge_call_bool(c, "duplicate", dup);
    return DRUDGE_OK;
}

/* id, duplicate from the response {"id":..,"duplicate":..}. */
static int enqueue_push(lua_State *L, drudge_call_ctx *c, void *ud)
{
    lua_getfield(L, -1, "id");
    lua_getfield(L, -2, "duplicate");
    return 2;
}

static void opt_number(lua_State *L, int opts, const char *field, double *out)
{
    if (lua_getfield(L, opts, field) != LUA_TNIL) {
        if (!lua_isnumber(L, -1) || lua_tonumber(L, -1) < 0)
            luaL_error(L, "queue.enqueue: option '%s' must be a number >= 0", field);
        *out = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
}

/* queue.enqueue(script, input [, opts]) -> id, duplicate */
static int l_enqueue(lua_State *L)
{
    enqueue_args a = {.script = luaL_checkstring(L, 1), .manual = -1, .exception = -1};
    lua_settop(L, 3);
    if (!lua_isnil(L, 3))
        luaL_checktype(L, 3, LUA_TTABLE);
    else {
        lua_newtable(L);
        lua_replace(L, 3);
    }
    /* Options first: misuse raises before anything is touched. */
    if (lua_getfield(L, 3, "key") != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
            return luaL_error(L, "queue.enqueue: option 'key' must be a string or a number");
        a.key = lua_tostring(L, -1);
        if (!*a.key)
            return luaL_error(L, "queue.enqueue: option 'key' must not be empty");
    }
    /* the key (or nil) stays at index 4, keeping the string alive */
    if (lua_getfield(L, 3, "priority") != LUA_TNIL) {
        int ok;
        a.priority = lua_tointegerx(L, -1, &ok);
        if (!ok || a.priority < -1000000 || a.priority > 1000000)
            return luaL_error(L, "queue.enqueue: option 'priority' must be a whole number from "
                                 "-1000000 to 1000000");
    }
    lua_pop(L, 1);
    if (lua_getfield(L, 3, "at") != LUA_TNIL) {
        char why[160] = "not a string";
        if (lua_type(L, -1) == LUA_TNUMBER) {
            a.run_at = (int64_t)(lua_tonumber(L, -1) * 1e6); /* seconds since the epoch */
        } else if (lua_type(L, -1) != LUA_TSTRING ||
                   drudge_parse_time_ex(lua_tostring(L, -1), drudge_now_us(), 0, &a.run_at, why,
                                        sizeof why)) {
            return luaL_error(L,
                              "queue.enqueue: option 'at' ('%s'): %s; it must be a time such as "
                              "\"2026-11-23T19:00\" or \"+30m\", or os.time() seconds",
                              luaL_tolstring(L, -1, NULL), why);
        }
    }
    lua_pop(L, 1);
    opt_number(L, 3, "manual_minutes", &a.manual);
    opt_number(L, 3, "exception_minutes", &a.exception);

    /* The input as JSON text (index 5). */
    lua_pushcfunction(L, drudge_json_encode_cf);
    lua_pushvalue(L, 2);
    if (lua_isnil(L, 2)) {
        lua_pop(L, 2);
        lua_pushliteral(L, "null");
    } else if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        return luaL_error(L, "queue.enqueue: the input cannot be stored as JSON: %s",
                          lua_tostring(L, -1));
    }
    a.input = lua_tostring(L, 5);

    drudge_buf req = {0};
    drudge_buf_puts(&req, "{\"script\":");
    drudge_buf_json_str(&req, a.script, strlen(a.script));
    drudge_buf_printf(&req, ",\"input\":%s,\"key\":", a.input);
    if (a.key)
        drudge_buf_json_str(&req, a.key, strlen(a.key));
    else
        drudge_buf_puts(&req, "null");
    /* "at" as the script gave it, so a replay asks for the same thing. */
    drudge_buf_printf(&req, ",\"priority\":%lld,\"at\":", (long long)a.priority);
    lua_getfield(L, 3, "at");
    if (lua_type(L, -1) == LUA_TNUMBER)
        drudge_buf_printf(&req, "%.17g", lua_tonumber(L, -1));
    else if (lua_type(L, -1) == LUA_TSTRING)
        drudge_buf_json_str(&req, lua_tostring(L, -1), lua_rawlen(L, -1));
    else
        drudge_buf_puts(&req, "null");
    lua_pop(L, 1);
    drudge_buf_puts(&req, "}");
    lua_pushlstring(L, req.data, req.len); /* index 6: nothing to free if the call raises */
    drudge_buf_free(&req);
    lua_pushfstring(L, "enqueue %s", a.script);
    drudge_call_spec spec = {.kind = "queue",
                             .name = lua_tostring(L, 7),
                             .request = lua_tostring(L, 6),
                             .error_prefix = "queue.enqueue: ",
                             .live = enqueue_live,
                             .push = enqueue_push,
                             .ud = &a};
    return drudge_call(L, &spec);
}

int luaopen_drudge_queue(lua_State *L)
{
    static const luaL_Reg fns[] = {{"enqueue", l_enqueue}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}

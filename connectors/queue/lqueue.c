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
 * is recorded as a "queue" step; in replay the recorded id is returned and
 * nothing is queued. API misuse raises; a database failure is a system error
 * (the calling task is retried, so pass a key to make the enqueue idempotent). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include "runner/queue/queue.h"
#include "drudge/record.h"
#include "runner/host/hostint.h"

#define DB_PATH_KEY "drudge.queue.db_path"
#define CONN_KEY    "drudge.queue.db"
#define CONN_MT     "drudge.queue.connection"
#define SCRIPTS_KEY "drudge.queue.scripts"

void drudge_lqueue_set_db(lua_State *L, const char *path)
{
    lua_pushstring(L, path);
    lua_setfield(L, LUA_REGISTRYINDEX, DB_PATH_KEY);
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
        lua_createtable(L, 0, 5);
        lua_pushstring(L, info->name);
        lua_setfield(L, -2, "name");
        lua_pushinteger(L, info->max_attempts);
        lua_setfield(L, -2, "max_attempts");
        lua_pushnumber(L, info->manual_minutes);
        lua_setfield(L, -2, "manual_minutes");
        lua_pushnumber(L, info->exception_minutes);
        lua_setfield(L, -2, "exception_minutes");
        if (info->window) {
            lua_pushstring(L, info->window);
            lua_setfield(L, -2, "window");
        }
        drudge_host_free(h);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, path);
    }
    lua_pushstring(L, path);
    lua_setfield(L, -2, "path");
    lua_getfield(L, -1, "name");
    spec->script = lua_tostring(L, -1);
    lua_getfield(L, -2, "path");
    spec->script_path = lua_tostring(L, -1);
    lua_getfield(L, -3, "max_attempts");
    spec->max_attempts = (int)lua_tointeger(L, -1);
    lua_getfield(L, -4, "manual_minutes");
    spec->manual_minutes = lua_tonumber(L, -1);
    lua_getfield(L, -5, "exception_minutes");
    spec->exception_minutes = lua_tonumber(L, -1);
    lua_getfield(L, -6, "window");
    spec->window = lua_tostring(L, -1);
    lua_pop(L, 6);
    /* The strings stay referenced by the cache table, left on the stack. */
}

/* Resolves the script argument into spec; pushes what keeps its strings alive. */
static void resolve(lua_State *L, const char *script, drudge_store *db, drudge_task_spec *spec)
{
    int is_path = strchr(script, '/') || strstr(script, ".lua");
    char real[PATH_MAX];
    push_script_dir(L);
    const char *dir = lua_tostring(L, -1);
    if (is_path) {
        if (script[0] == '/')
            lua_pushstring(L, script);
        else
            lua_pushfstring(L, "%s/%s", dir, script);
        if (!realpath(lua_tostring(L, -1), real))
            luaL_error(L, "queue.enqueue: no script file %s", lua_tostring(L, -1));
        lua_pop(L, 2);
        spec_from_file(L, real, spec);
        return;
    }
    drudge_task_spec known;
    drudge_err err = {0};
    drudge_code rc = drudge_store_known_script(db, script, &known, &err);
    if (rc == DRUDGE_OK) {
        lua_pop(L, 1);
        /* Keep the strings as Lua values, so nothing leaks on a later error. */
        lua_createtable(L, 0, 3);
        lua_pushstring(L, known.script);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, known.script_path);
        lua_setfield(L, -2, "path");
        if (known.window) {
            lua_pushstring(L, known.window);
            lua_setfield(L, -2, "window");
        }
        spec->max_attempts = known.max_attempts;
        spec->manual_minutes = known.manual_minutes;
        spec->exception_minutes = known.exception_minutes;
        drudge_task_spec_clear(&known);
        lua_getfield(L, -1, "name");
        spec->script = lua_tostring(L, -1);
        lua_getfield(L, -2, "path");
        spec->script_path = lua_tostring(L, -1);
        lua_getfield(L, -3, "window");
        spec->window = lua_tostring(L, -1);
        lua_pop(L, 3);
        return;
    }
    if (rc != DRUDGE_ENOTFOUND)
        drudge_host_raise(L, "queue.enqueue: %s", err.msg);
    lua_pushfstring(L, "%s/%s.lua", dir, script);
    if (file_exists(lua_tostring(L, -1)) && realpath(lua_tostring(L, -1), real)) {
        lua_pop(L, 2);
        spec_from_file(L, real, spec);
        return;
    }
    luaL_error(L, "queue.enqueue: unknown script '%s': not queued before, and no %s", script,
               lua_tostring(L, -1));
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
    const char *script = luaL_checkstring(L, 1);
    drudge_task_spec spec = {0};
    drudge_rec *rec = drudge_rec_from_lua(L);
    int64_t run_at = 0;
    const char *key = NULL;
    lua_Integer priority = 0;
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
        key = lua_tostring(L, -1);
        if (!*key)
            return luaL_error(L, "queue.enqueue: option 'key' must not be empty");
    }
    /* the key (or nil) stays at index 4, keeping the string alive */
    if (lua_getfield(L, 3, "priority") != LUA_TNIL) {
        int ok;
        priority = lua_tointegerx(L, -1, &ok);
        if (!ok || priority < -1000000 || priority > 1000000)
            return luaL_error(L, "queue.enqueue: option 'priority' must be a whole number from "
                                 "-1000000 to 1000000");
    }
    lua_pop(L, 1);
    if (lua_getfield(L, 3, "at") != LUA_TNIL) {
        if (lua_type(L, -1) == LUA_TNUMBER) {
            run_at = (int64_t)(lua_tonumber(L, -1) * 1e6); /* seconds since the epoch, os.time() */
        } else if (lua_type(L, -1) != LUA_TSTRING ||
                   drudge_parse_time(lua_tostring(L, -1), drudge_now_us(), &run_at)) {
            return luaL_error(L, "queue.enqueue: option 'at' must be a time such as "
                                 "\"2026-11-23T19:00\" or \"+30m\", or os.time() seconds");
        }
    }
    lua_pop(L, 1);
    double manual = -1, exception = -1;
    opt_number(L, 3, "manual_minutes", &manual);
    opt_number(L, 3, "exception_minutes", &exception);

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
    const char *input = lua_tostring(L, 5);

    drudge_buf req = {0};
    drudge_buf_puts(&req, "{\"script\":");
    drudge_buf_json_str(&req, script, strlen(script));
    drudge_buf_printf(&req, ",\"input\":%s,\"key\":", input);
    if (key)
        drudge_buf_json_str(&req, key, strlen(key));
    else
        drudge_buf_puts(&req, "null");
    /* "at" as the script gave it, so a replay asks for the same thing. */
    drudge_buf_printf(&req, ",\"priority\":%lld,\"at\":", (long long)priority);
    lua_getfield(L, 3, "at");
    if (lua_type(L, -1) == LUA_TNUMBER)
        drudge_buf_printf(&req, "%.17g", lua_tonumber(L, -1));
    else if (lua_type(L, -1) == LUA_TSTRING)
        drudge_buf_json_str(&req, lua_tostring(L, -1), lua_rawlen(L, -1));
    else
        drudge_buf_puts(&req, "null");
    lua_pop(L, 1);
    drudge_buf_puts(&req, "}");
    char name[300];
    snprintf(name, sizeof name, "enqueue %s", script);
    int seq = drudge_rec_begin(rec, "queue", name, req.data);
    drudge_buf_free(&req);

    if (drudge_rec_replaying(rec)) {
        const char *resp = drudge_rec_replay_response(rec, seq);
        if (!resp) {
            drudge_rec_end(rec, seq, "error", NULL, "no recorded response");
            return drudge_host_raise(L, "queue.enqueue: replay: no recorded response for step %d",
                                     seq);
        }
        drudge_json_decode(L, resp, strlen(resp));
        lua_getfield(L, -1, "id");
        lua_getfield(L, -2, "duplicate");
        drudge_rec_end(rec, seq, "ok", resp, NULL);
        return 2;
    }

    drudge_store *db = get_db(L);
    resolve(L, script, db, &spec); /* pushes the value that keeps spec's strings */
    spec.key = key;
    spec.input = lua_tostring(L, 5);
    spec.priority = (int)priority;
    spec.run_at = run_at;
    if (manual >= 0)
        spec.manual_minutes = manual;
    if (exception >= 0)
        spec.exception_minutes = exception;
    int64_t id = 0;
    int dup = 0;
    drudge_err err = {0};
    if (drudge_queue_enqueue(db, &spec, &id, &dup, &err) != DRUDGE_OK) {
        drudge_rec_end(rec, seq, "error", NULL, err.msg);
        return drudge_host_raise(L, "queue.enqueue: %s", err.msg);
    }
    char resp[96];
    snprintf(resp, sizeof resp, "{\"id\":%lld,\"duplicate\":%s}", (long long)id,
             dup ? "true" : "false");
    drudge_rec_end(rec, seq, "ok", resp, NULL);
    lua_pushinteger(L, id);
    lua_pushboolean(L, dup);
    return 2;
}

int luaopen_drudge_queue(lua_State *L)
{
    static const luaL_Reg fns[] = {{"enqueue", l_enqueue}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}

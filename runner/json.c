/* json.c: drudge.json, lua-cjson linked in, with errors that say where.
 *
 *   json.encode(value) -> string     json.decode(text) -> value
 *   json.null                        (the value JSON null decodes to)
 *
 * Objects decode to tables, arrays to sequences. Caveat of lua-cjson 2.1: an
 * empty table encodes as {} (there is no way to tell an empty array). */
#include <string.h>
#include <lauxlib.h>
#include <lua-cjson.h>
#include "hostint.h"

#define CJSON_KEY "drudge.cjson"

/* The cjson module table, created once per state and kept in the registry. */
static void push_cjson(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, CJSON_KEY) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    luaopen_cjson(L);
    /* Sparse arrays become objects instead of raising. */
    lua_getfield(L, -1, "encode_sparse_array");
    lua_pushboolean(L, 1);
    lua_call(L, 1, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, CJSON_KEY);
}

/* lua-cjson 2.1 decodes every number as a float, so 42 would print as
 * "42.0" and build URLs like /cases/42.0: turn integral values back into
 * Lua integers, recursively. */
static void integerize(lua_State *L, int idx, int depth)
{
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 4, "json nesting");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1)) {
            lua_Number v = lua_tonumber(L, -1);
            lua_Integer i;
            if (v >= -9007199254740992.0 && v <= 9007199254740992.0 && lua_numbertointeger(v, &i) &&
                (lua_Number)i == v) {
                lua_pushvalue(L, -2);
                lua_pushinteger(L, i);
                lua_rawset(L, idx);
            }
        } else if (lua_type(L, -1) == LUA_TTABLE && depth < 1000) {
            integerize(L, -1, depth + 1);
        }
        lua_pop(L, 1);
    }
}

static int decode_raw(lua_State *L)
{
    push_cjson(L);
    lua_getfield(L, -1, "decode");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    if (lua_type(L, -1) == LUA_TTABLE)
        integerize(L, -1, 0);
    else if (lua_type(L, -1) == LUA_TNUMBER) {
        lua_Number v = lua_tonumber(L, -1);
        lua_Integer i;
        if (lua_numbertointeger(v, &i) && (lua_Number)i == v) {
            lua_pop(L, 1);
            lua_pushinteger(L, i);
        }
    }
    return 1;
}

void drudge_json_decode(lua_State *L, const char *s, size_t len)
{
    lua_pushcfunction(L, decode_raw);
    lua_pushlstring(L, s, len);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        luaL_error(L, "invalid JSON: %s", msg ? msg : "?");
    }
}

int drudge_json_encode_cf(lua_State *L)
{
    lua_settop(L, 1);
    push_cjson(L);
    lua_getfield(L, -1, "encode");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    return 1;
}

/* Re-raises a cjson error with the caller's position and a prefix. */
static int call_cjson(lua_State *L, lua_CFunction f, const char *what)
{
    lua_pushcfunction(L, f);
    lua_pushvalue(L, 1);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        luaL_where(L, 1);
        lua_pushfstring(L, "%s: %s", what, lua_tostring(L, -2));
        lua_concat(L, 2);
        return lua_error(L);
    }
    return 1;
}

static int l_decode(lua_State *L)
{
    luaL_checkstring(L, 1);
    return call_cjson(L, decode_raw, "json.decode");
}

static int l_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    return call_cjson(L, drudge_json_encode_cf, "json.encode");
}

int luaopen_drudge_json(lua_State *L)
{
    lua_newtable(L);
    lua_pushcfunction(L, l_encode);
    lua_setfield(L, -2, "encode");
    lua_pushcfunction(L, l_decode);
    lua_setfield(L, -2, "decode");
    push_cjson(L);
    lua_getfield(L, -1, "null");
    lua_setfield(L, -3, "null");
    lua_pop(L, 1);
    return 1;
}

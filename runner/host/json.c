/* json.c: drudge.json, lua-cjson linked in, with errors that say where.
 *
 *   json.encode(value) -> string     json.decode(text) -> value
 *   json.null                        (the value JSON null decodes to)
 *
 * Objects decode to tables, arrays to sequences. Caveat of lua-cjson 2.1: an
 * empty table encodes as {} (there is no way to tell an empty array). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <lua-cjson.h>
#include "drudge/json.h"
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

static int free_buf(lua_State *L)
{
    drudge_buf_free(lua_touserdata(L, 1));
    return 0;
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

static int decode_json(lua_State *L)
{
    lua_pushcfunction(L, decode_raw);
    lua_pushvalue(L, 1);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK)
        return luaL_error(L, "json.decode: %s", lua_tostring(L, -1));
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

/* --- encoding: deterministic, so that the same value always gives the
 * same bytes (Lua's table order changes from run to run, and replay compares
 * requests byte for byte): object keys sorted, shortest exact doubles. --- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Pushes a userdata array of the table's string keys, sorted; returns it and
 * sets *n. Non-string keys raise (they have no name in a query or object). */
const char **drudge_json_sorted_keys(lua_State *L, int idx, size_t *n, const char *what)
{
    idx = lua_absindex(L, idx);
    size_t count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        count++;
    }
    const char **keys = lua_newuserdatauv(L, (count ? count : 1) * sizeof *keys, 0);
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: keys must be strings, got a %s key", what, luaL_typename(L, -1));
        keys[i++] = lua_tostring(L, -1); /* anchored by the table */
    }
    qsort(keys, count, sizeof *keys, cmp_str);
    *n = count;
    return keys;
}

/* Shortest "%.Ng" that reads back as the same double. */
static void add_double(drudge_buf *b, double v)
{
    char s[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, v);
        if (strtod(s, NULL) == v)
            break;
    }
    drudge_buf_puts(b, s);
}

/* 1 if the table at idx is a non-empty sequence 1..n with no other keys. */
static int is_array(lua_State *L, int idx, lua_Integer *len)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
    if (n == 0)
        return 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
            lua_pop(L, 1);
            return 0;
        }
        count++;
    }
    *len = n;
    return count == n;
}

#define ARRAY_MT "drudge.json.array"

/* 1 if the table at idx was made by json.array(): an array even when empty. */
static int marked_array(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return 0;
    luaL_getmetatable(L, ARRAY_MT);
    int marked = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return marked;
}

/* json.array([t]) -> t: marks t (a new table if absent) as a JSON array, so
 * that it encodes as [] when empty. */
static int l_array(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    drudge_lua_class(L, ARRAY_MT, NULL, NULL);
    luaL_setmetatable(L, ARRAY_MT);
    return 1;
}

static void json_value(lua_State *L, int idx, drudge_buf *b, const char *what, int depth)
{
    idx = lua_absindex(L, idx);
    if (depth > 200)
        luaL_error(L, "%s: nested too deeply (a cycle?)", what);
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        drudge_buf_puts(b, "null");
        break;
    case LUA_TLIGHTUSERDATA: /* json.null is cjson's NULL light userdata */
        if (lua_touserdata(L, idx) != NULL)
            luaL_error(L, "%s: cannot encode a userdata as JSON", what);
        drudge_buf_puts(b, "null");
        break;
    case LUA_TBOOLEAN:
        drudge_buf_puts(b, lua_toboolean(L, idx) ? "true" : "false");
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            drudge_buf_int(b, (int64_t)lua_tointeger(L, idx));
        } else {
            double v = lua_tonumber(L, idx);
            if (!isfinite(v))
                luaL_error(L, "%s: cannot encode %s as JSON", what, isnan(v) ? "NaN" : "infinity");
            add_double(b, v);
        }
        break;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        drudge_buf_json_str(b, s, len);
        break;
    }
    case LUA_TTABLE: {
        lua_Integer len;
        luaL_checkstack(L, 6, "json nesting");
        int marked = marked_array(L, idx);
        if (marked)
            len = (lua_Integer)lua_rawlen(L, idx);
        if (marked || is_array(L, idx, &len)) {
            drudge_buf_add(b, "[", 1);
            for (lua_Integer i = 1; i <= len; i++) {
                if (i > 1)
                    drudge_buf_add(b, ",", 1);
                lua_rawgeti(L, idx, i);
                json_value(L, -1, b, what, depth + 1);
                lua_pop(L, 1);
            }
            drudge_buf_add(b, "]", 1);
            break;
        }
        /* Objects: integer keys of sparse arrays become strings, as cjson does. */
        lua_newtable(L);
        int strtab = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) == LUA_TNUMBER) {
                lua_pushvalue(L, -1);
                lua_tostring(L, -1);
                lua_pushvalue(L, -2);
                lua_rawset(L, strtab); /* "3" -> 3 */
            } else if (lua_type(L, -1) == LUA_TSTRING) {
                lua_pushvalue(L, -1);
                lua_pushvalue(L, -1);
                lua_rawset(L, strtab);
            } else {
                luaL_error(L, "%s: cannot encode a table with %s keys as JSON", what,
                           luaL_typename(L, -1));
            }
        }
        size_t n;
        const char **keys = drudge_json_sorted_keys(L, strtab, &n, what);
        drudge_buf_add(b, "{", 1);
        for (size_t i = 0; i < n; i++) {
            if (i)
                drudge_buf_add(b, ",", 1);
            drudge_buf_json_str(b, keys[i], strlen(keys[i]));
            drudge_buf_add(b, ":", 1);
            lua_getfield(L, strtab, keys[i]); /* the original key */
            lua_gettable(L, idx);
            json_value(L, -1, b, what, depth + 1);
            lua_pop(L, 1);
        }
        drudge_buf_add(b, "}", 1);
        lua_pop(L, 2); /* keys, strtab */
        break;
    }
    default:
        luaL_error(L, "%s: cannot encode a %s as JSON", what, luaL_typename(L, idx));
    }
}

void drudge_json_encode(lua_State *L, int idx, drudge_buf *b, const char *what)
{
    json_value(L, idx, b, what, 0);
}

int drudge_json_encode_cf(lua_State *L)
{
    drudge_buf b = {0};
    lua_settop(L, 1);
    /* The buffer lives in a to-be-closed userdata so an error (a function
     * value, a cycle) cannot leak it. */
    drudge_buf *ud = lua_newuserdatauv(L, sizeof *ud, 0);
    *ud = b;
    lua_newtable(L);
    lua_pushcfunction(L, free_buf);
    lua_setfield(L, -2, "__close");
    lua_setmetatable(L, -2);
    lua_toclose(L, -1);
    drudge_json_encode(L, 1, ud, "json.encode");
    lua_pushlstring(L, ud->data ? ud->data : "", ud->len);
    return 1;
}

/* Calls f on argument 1; re-raises its error at the caller's position. */
static int call_at_caller(lua_State *L, lua_CFunction f)
{
    lua_pushcfunction(L, f);
    lua_pushvalue(L, 1);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
        return lua_error(L);
    }
    return 1;
}

static int l_decode(lua_State *L)
{
    luaL_checkstring(L, 1);
    return call_at_caller(L, decode_json);
}

static int l_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    return call_at_caller(L, drudge_json_encode_cf);
}

int luaopen_drudge_json(lua_State *L)
{
    lua_newtable(L);
    lua_pushcfunction(L, l_encode);
    lua_setfield(L, -2, "encode");
    lua_pushcfunction(L, l_decode);
    lua_setfield(L, -2, "decode");
    lua_pushcfunction(L, l_array);
    lua_setfield(L, -2, "array");
    push_cjson(L);
    lua_getfield(L, -1, "null");
    lua_setfield(L, -3, "null");
    lua_pop(L, 1);
    return 1;
}

/* --- building objects member by member --- */

void drudge_json_key(drudge_buf *b, const char *key)
{
    char last = b->len ? b->data[b->len - 1] : '{';
    size_t klen = strlen(key), n = 0;
    char tmp[64]; /* one append: this runs for every member of every response */
    if (klen + 4 > sizeof tmp) {
        drudge_buf_puts(b, last != '{' && last != '[' ? ",\"" : "\"");
        drudge_buf_puts(b, key);
        drudge_buf_add(b, "\":", 2);
        return;
    }
    if (last != '{' && last != '[')
        tmp[n++] = ',';
    tmp[n++] = '"';
    memcpy(tmp + n, key, klen);
    n += klen;
    tmp[n++] = '"';
    tmp[n++] = ':';
    drudge_buf_add(b, tmp, n);
}

void drudge_json_lstr(drudge_buf *b, const char *key, const char *v, size_t n)
{
    drudge_json_key(b, key);
    drudge_buf_json_str(b, v, n);
}

void drudge_json_str(drudge_buf *b, const char *key, const char *v)
{
    if (!v) {
        drudge_json_key(b, key);
        drudge_buf_puts(b, "null");
        return;
    }
    drudge_json_lstr(b, key, v, strlen(v));
}

void drudge_json_int(drudge_buf *b, const char *key, int64_t v)
{
    drudge_json_key(b, key);
    drudge_buf_int(b, v);
}

void drudge_json_num(drudge_buf *b, const char *key, double v)
{
    drudge_json_key(b, key);
    add_double(b, v);
}

void drudge_json_bool(drudge_buf *b, const char *key, int v)
{
    drudge_json_key(b, key);
    drudge_buf_puts(b, v ? "true" : "false");
}

/* --- reading without Lua --- */

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* The end of the string literal at p (its opening quote), or NULL. A quote
 * ends it unless an odd number of backslashes stands before it; memchr
 * finds the quotes (this runs over every byte of a response body). */
static const char *string_end(const char *p, const char *end)
{
    const char *q = p + 1;
    while (q < end) {
        q = memchr(q, '"', (size_t)(end - q));
        if (!q)
            return NULL;
        size_t bs = 0;
        while (q - bs > p + 1 && q[-1 - (ptrdiff_t)bs] == '\\')
            bs++;
        if (bs % 2 == 0)
            return q + 1;
        q++;
    }
    return NULL;
}

/* The end of the value at p, or NULL if it is malformed. Nested values are
 * skipped by counting brackets outside strings. */
static const char *value_end(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '"')
        return string_end(p, end);
    if (*p != '{' && *p != '[') {
        while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' &&
               *p != '\r' && *p != '\t')
            p++;
        return p;
    }
    int depth = 0;
    while (p < end) {
        if (*p == '"') {
            p = string_end(p, end);
            if (!p)
                return NULL;
            continue;
        }
        if (*p == '{' || *p == '[')
            depth++;
        else if ((*p == '}' || *p == ']') && --depth == 0)
            return p + 1;
        p++;
    }
    return NULL;
}

int drudge_json_iter_init(drudge_json_iter *it, const char *text, size_t len)
{
    const char *end = text + len;
    const char *p = skip_space(text, end);
    if (p >= end || (*p != '{' && *p != '['))
        return -1;
    it->close = *p == '{' ? '}' : ']';
    it->p = p + 1;
    it->end = end;
    return 0;
}

int drudge_json_iter_next(drudge_json_iter *it, const char **key, size_t *klen, const char **val,
                          size_t *vlen)
{
    const char *p = skip_space(it->p, it->end);
    if (p < it->end && *p == ',')
        p = skip_space(p + 1, it->end);
    if (p >= it->end)
        return -1;
    if (*p == it->close) {
        it->p = p + 1;
        return 0;
    }
    *key = NULL;
    *klen = 0;
    if (it->close == '}') {
        const char *ke = *p == '"' ? string_end(p, it->end) : NULL;
        if (!ke)
            return -1;
        *key = p + 1;
        *klen = (size_t)(ke - p) - 2;
        p = skip_space(ke, it->end);
        if (p >= it->end || *p != ':')
            return -1;
        p = skip_space(p + 1, it->end);
    }
    const char *ve = value_end(p, it->end);
    if (!ve || ve == p)
        return -1;
    *val = p;
    *vlen = (size_t)(ve - p);
    it->p = ve;
    return 1;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = s[i];
        v <<= 4;
        if (ch >= '0' && ch <= '9')
            v |= (unsigned)(ch - '0');
        else if ((ch | 32) >= 'a' && (ch | 32) <= 'f')
            v |= (unsigned)((ch | 32) - 'a' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* One escape at s (after the backslash, before end) into o; advances *s. */
static size_t unescape_one(const char **s, const char *end, char *o)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *p = *s;
    const char *hit = p < end ? memchr(from, *p, sizeof from - 1) : NULL;
    if (hit) {
        *o = to[hit - from];
        *s = p + 1;
        return 1;
    }
    unsigned cp, lo;
    if (p >= end || *p != 'u' || end - p < 5 || hex4(p + 1, &cp))
        return (size_t)-1;
    p += 5;
    if (cp >= 0xD800 && cp < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
        !hex4(p + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        p += 6;
    }
    *s = p;
    return put_utf8(o, cp);
}

size_t drudge_json_unescape(const char *s, size_t n, char *out)
{
    if (n < 2 || s[0] != '"' || s[n - 1] != '"')
        return (size_t)-1;
    const char *p = s + 1, *end = s + n - 1;
    size_t len = 0;
    while (p < end) {
        const char *bs = memchr(p, '\\', (size_t)(end - p));
        size_t run = (size_t)((bs ? bs : end) - p);
        memcpy(out + len, p, run);
        len += run;
        if (!bs)
            break;
        p = bs + 1;
        size_t k = unescape_one(&p, end, out + len);
        if (k == (size_t)-1)
            return k;
        len += k;
    }
    return len;
}

void drudge_json_push_string(lua_State *L, const char *s, size_t n)
{
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, n ? n : 1);
    size_t len = drudge_json_unescape(s, n, out);
    if (len == (size_t)-1)
        luaL_error(L, "invalid JSON string: %.40s", s);
    luaL_pushresultsize(&b, len);
}

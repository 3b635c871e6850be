/* fuzz_http_headers.c: a response's header block as a server sends it,
 * read the way scripts read it: r.headers, r:header_all(name), r.links
 * (resolved against the response URL), and Retry-After. Input: the block,
 * then "\0" and the response URL. */
#include <lauxlib.h>
#include <lualib.h>
#include <math.h>
#include <strings.h>
#include "fuzz.h"
#include "connectors/http/http.h"
#include "connectors/http/httpint.h"

static lua_State *L;

/* Every value of a table built from the block must be a string. */
static void check_strings(int t)
{
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) != LUA_TSTRING && lua_type(L, -2) != LUA_TNUMBER)
            abort();
        if (lua_type(L, -1) != LUA_TSTRING)
            abort();
        lua_pop(L, 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!L) {
        L = luaL_newstate();
        http_headers_register(L);
    }
    const uint8_t *zero = memchr(data, 0, size);
    size_t n = zero ? (size_t)(zero - data) : size;
    char *raw = fuzz_str(data, n);
    char *base = zero ? fuzz_str(zero + 1, size - n - 1) : fuzz_str((const uint8_t *)"", 0);

    http_push_headers(L, raw, n);
    int headers = lua_gettop(L);
    check_strings(headers);
    const char *p = raw, *end = raw + n;
    http_field f;
    while (http_header_next(&p, end, &f)) {
        if (p > end || f.name + f.nl > end || f.value + f.vn > end)
            abort();
        if (f.vn && (f.value[0] == ' ' || f.value[f.vn - 1] == '\r'))
            abort();      /* values are trimmed */
        if (f.nl < 256) { /* every field is found, in any case */
            lua_pushlstring(L, f.name, f.nl);
            if (lua_gettable(L, headers) != LUA_TSTRING)
                abort();
            lua_pop(L, 1);
        }
        http_push_header_all(L, raw, n, f.name, f.nl);
        if (luaL_len(L, -1) < 1)
            abort(); /* at least this one */
        lua_pop(L, 1);
        char v[128];
        size_t vn = f.vn < sizeof v - 1 ? f.vn : sizeof v - 1;
        memcpy(v, f.value, vn);
        v[vn] = '\0';
        double d = drudge_http_retry_after(v, 1445412480LL * 1000000);
        if (!(d == -1 || (d >= 0 && isfinite(d))))
            abort();
    }
    http_push_links(L, raw, n, base);
    check_strings(lua_gettop(L));
    lua_settop(L, 0);
    free(raw);
    free(base);
    return 0;
}

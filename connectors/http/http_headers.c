/* http_headers.c: the response's header block read into Lua: r.headers,
 * r:header_all(name), and r.links, the Link fields (RFC 8288) as a table of
 * relation -> URL, for pagination: `while r.links.next do r =
 * api.get(r.links.next) end`. The block comes from the server, so this is
 * outside input (tests/fuzz/fuzz_http_headers.c). */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <lauxlib.h>
#include "drudge/host.h"
#include "connectors/http/httpint.h"

/* Pushes target resolved against base (the response's URL): absolute URLs
 * as they are, "//host/x" with base's scheme, "/x" with its origin, "x"
 * beside its path. */
static void push_resolved(lua_State *L, const char *t, size_t tn, const char *base)
{
    const char *scheme_end = strstr(base, "://");
    if (memmem(t, tn, "://", 3) || !scheme_end) {
        lua_pushlstring(L, t, tn);
        return;
    }
    const char *host = scheme_end + 3;
    const char *path = strchr(host, '/');
    size_t origin = path ? (size_t)(path - base) : strlen(base);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (tn >= 2 && t[0] == '/' && t[1] == '/') {
        luaL_addlstring(&b, base, (size_t)(scheme_end - base) + 1); /* "https:" */
    } else if (tn >= 1 && t[0] == '/') {
        luaL_addlstring(&b, base, origin);
    } else {
        /* beside the base's path: up to its last '/' before any query */
        size_t end = strcspn(base, "?#");
        const char *last = NULL;
        for (const char *p = path; p && p < base + end; p++)
            if (*p == '/')
                last = p;
        if (last)
            luaL_addlstring(&b, base, (size_t)(last - base) + 1);
        else {
            luaL_addlstring(&b, base, origin);
            luaL_addchar(&b, '/');
        }
    }
    luaL_addlstring(&b, t, tn);
    luaL_pushresult(&b);
}

static const char *skip_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* Reads one parameter value (token or quoted string) at p into [*v, *vn). */
static const char *param_value(const char *p, const char *e, const char **v, size_t *vn)
{
    if (p < e && *p == '"') {
        const char *q = ++p;
        while (q < e && *q != '"')
            q += (*q == '\\' && q + 1 < e) ? 2 : 1;
        *v = p;
        *vn = (size_t)(q - p);
        return q < e ? q + 1 : q;
    }
    const char *q = p;
    while (q < e && *q != ';' && *q != ',' && *q != ' ' && *q != '\t')
        q++;
    *v = p;
    *vn = (size_t)(q - p);
    return q;
}

/* Adds the links of one Link field value to the table at t (the first link
 * of a relation wins, as a client following "next" wants). */
static void parse_links(lua_State *L, int t, const char *p, const char *e, const char *base)
{
    while (p < e) {
        p = skip_ws(p, e);
        if (p >= e)
            break;
        if (*p != '<') { /* malformed: skip to the next link */
            while (p < e && *p != ',')
                p++;
            p++;
            continue;
        }
        const char *u = ++p;
        while (p < e && *p != '>')
            p++;
        size_t un = (size_t)(p - u);
        if (p < e)
            p++;
        const char *rel = NULL;
        size_t reln = 0;
        while (p < e && *p != ',') {
            p = skip_ws(p, e);
            if (p < e && *p == ';') {
                p = skip_ws(p + 1, e);
                const char *name = p;
                while (p < e && *p != '=' && *p != ';' && *p != ',' && *p != ' ')
                    p++;
                size_t nn = (size_t)(p - name);
                p = skip_ws(p, e);
                if (p < e && *p == '=') {
                    const char *v;
                    size_t vn;
                    p = param_value(skip_ws(p + 1, e), e, &v, &vn);
                    if (nn == 3 && !strncasecmp(name, "rel", 3) && !rel) {
                        rel = v;
                        reln = vn;
                    }
                }
            } else if (p < e && *p != ',') {
                p++;
            }
        }
        if (p < e)
            p++; /* the ',' */
        /* rel may list several relations: "next last" */
        for (size_t i = 0; rel && i < reln;) {
            while (i < reln && rel[i] == ' ')
                i++;
            size_t j = i;
            while (j < reln && rel[j] != ' ')
                j++;
            char key[128]; /* relation types compare case-insensitively */
            size_t kn = 0;
            for (size_t k = i; k < j && kn < sizeof key; k++)
                key[kn++] = (char)(rel[k] >= 'A' && rel[k] <= 'Z' ? rel[k] + 32 : rel[k]);
            if (kn) {
                lua_pushlstring(L, key, kn);
                lua_pushvalue(L, -1);
                if (lua_rawget(L, t) == LUA_TNIL) {
                    lua_pop(L, 1); /* the key stays, for rawset */
                    push_resolved(L, u, un, base);
                    lua_rawset(L, t);
                } else {
                    lua_pop(L, 2);
                }
            }
            i = j;
        }
    }
}

int http_header_next(const char **pp, const char *end, http_field *f)
{
    const char *p = *pp;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon) {
            const char *v = colon + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *f = (http_field){
                .name = p, .nl = (size_t)(colon - p), .value = v, .vn = (size_t)(ve - v)};
            *pp = eol < end ? eol + 1 : end;
            return 1;
        }
        p = eol < end ? eol + 1 : end;
    }
    *pp = p;
    return 0;
}

#define HTTP_HEADERS_MT "drudge.http.headers"

/* headers[k]: names are stored lower case; look up any case. */
static int headers_index(lua_State *L)
{
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    size_t n;
    const char *k = lua_tolstring(L, 2, &n);
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, n);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)tolower((unsigned char)k[i]);
    luaL_pushresultsize(&b, n);
    lua_rawget(L, 1);
    return 1;
}

void http_headers_register(lua_State *L)
{
    static const luaL_Reg meta[] = {{"__index", headers_index}, {NULL, NULL}};
    drudge_lua_class(L, HTTP_HEADERS_MT, meta, NULL);
}

void http_push_headers(lua_State *L, const char *raw, size_t len)
{
    lua_newtable(L);
    int t = lua_gettop(L);
    const char *p = raw, *end = raw ? raw + len : NULL;
    http_field f;
    char name[256];
    while (http_header_next(&p, end, &f)) {
        if (f.nl >= sizeof name)
            continue;
        for (size_t i = 0; i < f.nl; i++)
            name[i] = (char)tolower((unsigned char)f.name[i]);
        lua_pushlstring(L, name, f.nl);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, t) == LUA_TNIL) {
            lua_pop(L, 1);
            lua_pushlstring(L, f.value, f.vn);
            lua_rawset(L, t);
        } else if (f.nl == 10 && !memcmp(name, "set-cookie", 10)) {
            lua_pop(L, 2);
        } else {
            lua_pushliteral(L, ", ");
            lua_pushlstring(L, f.value, f.vn);
            lua_concat(L, 3);
            lua_rawset(L, t);
        }
    }
    luaL_setmetatable(L, HTTP_HEADERS_MT);
}

void http_push_header_all(lua_State *L, const char *raw, size_t len, const char *name, size_t nl)
{
    lua_newtable(L);
    int t = lua_gettop(L), n = 0;
    const char *p = raw, *end = raw ? raw + len : NULL;
    http_field f;
    while (http_header_next(&p, end, &f))
        if (f.nl == nl && !strncasecmp(f.name, name, nl)) {
            lua_pushlstring(L, f.value, f.vn);
            lua_rawseti(L, t, ++n);
        }
}

void http_push_links(lua_State *L, const char *raw, size_t len, const char *base)
{
    lua_newtable(L);
    int t = lua_gettop(L);
    const char *p = raw, *end = raw ? raw + len : NULL;
    http_field f;
    while (http_header_next(&p, end, &f))
        if (f.nl == 4 && !strncasecmp(f.name, "link", 4))
            parse_links(L, t, f.value, f.value + f.vn, base ? base : "");
}

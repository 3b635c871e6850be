/* http.c: drudge.http, the web API connector (Lua API documented in
 * scripts/README.md, C parts in include/drudge/http.h).
 *
 *   http.request(opts) -> response       http.get/head/post/put/patch/delete(url | opts [, opts])
 *   http.defaults(opts)                  http.client(opts) -> module with its own defaults
 *   http.limit(host, {per_second, concurrent, burst})
 *   http.escape(s) -> string
 *
 * One call: parse the options into an http_req (a userdata, so an error
 * midway frees everything), record the request once, then per try: take a
 * slot from the host's limit, perform (or, in replay, rebuild the recorded
 * response), record the try as its own "http" step, and decide whether to
 * retry. Transport failures raise a system error naming the URL and curl's
 * reason; HTTP statuses come back as a response unless raise = true. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <lauxlib.h>
#include "drudge/host.h"
#include "drudge/json.h"
#include "httpint.h"

#define DEFAULT_TIMEOUT         60.0
#define DEFAULT_CONNECT_TIMEOUT 10.0
#define DEFAULT_MAX_REDIRECTS   10
#define DEFAULT_INLINE_MAX      ((size_t)64 << 10)
#define DEFAULT_RECORD_MAX      ((size_t)8 << 20)

static const char *const call_fields[] = {"method",
                                          "url",
                                          "query",
                                          "headers",
                                          "body",
                                          "json",
                                          "form",
                                          "multipart",
                                          "auth",
                                          "timeout",
                                          "connect_timeout",
                                          "follow_redirects",
                                          "max_redirects",
                                          "verify_tls",
                                          "ca_file",
                                          "proxy",
                                          "output",
                                          "raise",
                                          "retry",
                                          "body_inline_max",
                                          "body_record_max",
                                          "base_url",
                                          NULL};
/* What http.defaults / http.client accept: the call fields that make sense
 * for every call. */
static const char *const default_fields[] = {"headers",
                                             "auth",
                                             "timeout",
                                             "connect_timeout",
                                             "follow_redirects",
                                             "max_redirects",
                                             "verify_tls",
                                             "ca_file",
                                             "proxy",
                                             "raise",
                                             "retry",
                                             "body_inline_max",
                                             "body_record_max",
                                             "base_url",
                                             NULL};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static char limits_error[1024]; /* from $DRUDGE_HTTP_LIMITS, reported by every require */

/* --- the request userdata --- */

static int req_gc(lua_State *L)
{
    http_req_free(luaL_checkudata(L, 1, HTTP_REQ_MT));
    return 0;
}

static http_req *push_req(lua_State *L)
{
    http_req *req = lua_newuserdatauv(L, sizeof *req, 0);
    memset(req, 0, sizeof *req);
    luaL_setmetatable(L, HTTP_REQ_MT);
    return req;
}

/* --- option helpers --- */

/* Pushes option name from the call's table (opts, may be 0) or else the
 * defaults; returns its type. */
static int opt(lua_State *L, int opts, int defs, const char *name)
{
    int t = opts ? lua_getfield(L, opts, name) : (lua_pushnil(L), LUA_TNIL);
    if (t == LUA_TNIL && defs) {
        lua_pop(L, 1);
        t = lua_getfield(L, defs, name);
    }
    return t;
}

static double opt_number(lua_State *L, int opts, int defs, const char *fn, const char *name,
                         double dflt, double min, double max)
{
    int t = opt(L, opts, defs, name);
    double v = dflt;
    if (t != LUA_TNIL) {
        if (t != LUA_TNUMBER)
            drudge_host_config_error(L, "%s: '%s' must be a number, got %s", fn, name,
                                     luaL_typename(L, -1));
        v = lua_tonumber(L, -1);
        if (!(v >= min && v <= max)) {
            char msg[200];
            snprintf(msg, sizeof msg, "'%s' must be between %g and %g, got %g", name, min, max, v);
            luaL_error(L, "%s: %s", fn, msg);
        }
    }
    lua_pop(L, 1);
    return v;
}

static int opt_bool(lua_State *L, int opts, int defs, const char *fn, const char *name, int dflt)
{
    int t = opt(L, opts, defs, name);
    int v = dflt;
    if (t != LUA_TNIL) {
        if (t != LUA_TBOOLEAN)
            drudge_host_config_error(L, "%s: '%s' must be true or false, got %s", fn, name,
                                     luaL_typename(L, -1));
        v = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

/* A string option; the value stays on the stack (anchored) when not nil. */
static const char *opt_string(lua_State *L, int opts, int defs, const char *fn, const char *name)
{
    int t = opt(L, opts, defs, name);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    if (t != LUA_TSTRING)
        drudge_host_config_error(L, "%s: '%s' must be a string, got %s", fn, name,
                                 luaL_typename(L, -1));
    return lua_tostring(L, -1);
}

static void check_fields(lua_State *L, int idx, const char *const *allowed, const char *fn)
{
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        int ok = 0;
        if (lua_type(L, -1) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -1);
            for (const char *const *f = allowed; *f && !ok; f++)
                ok = !strcmp(k, *f);
            if (!ok)
                drudge_host_config_error(L, "%s: unknown option '%s'", fn, k);
        }
        if (!ok)
            drudge_host_config_error(L, "%s: option names must be strings, got a %s key", fn,
                                     luaL_typename(L, -1));
    }
}

/* --- parsing a request --- */

static void parse_url(lua_State *L, http_req *req, int opts, int defs, const char *fn,
                      const char *url)
{
    const char *base = opt_string(L, opts, defs, fn, "base_url");
    if (!strstr(url, "://") && base) {
        size_t bl = strlen(base);
        drudge_buf_add(&req->url, base, bl && base[bl - 1] == '/' && url[0] == '/' ? bl - 1 : bl);
        if (bl && base[bl - 1] != '/' && url[0] && url[0] != '/' && url[0] != '?')
            drudge_buf_add(&req->url, "/", 1);
    }
    drudge_buf_add(&req->url, url, strcspn(url, "#"));
    const char *u = req->url.data;
    int https = !strncasecmp(u, "https://", 8);
    if (!https && strncasecmp(u, "http://", 7) != 0)
        luaL_error(L, "%s: url must start with http:// or https://, got '%s'", fn, url);
    /* host and port, for limits */
    const char *auth = u + (https ? 8 : 7);
    size_t alen = strcspn(auth, "/?");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (auth[i] == '@')
            at = auth + i;
    const char *h = at ? at + 1 : auth, *end = auth + alen, *colon = NULL;
    if (*h == '[') {
        const char *rb = memchr(h, ']', (size_t)(end - h));
        colon = rb && rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
    }
    size_t hl = (size_t)((colon ? colon : end) - h);
    if (hl == 0 || hl >= sizeof req->host)
        luaL_error(L, "%s: url '%s' has no host", fn, url);
    memcpy(req->host, h, hl);
    req->host[hl] = '\0';
    req->port = colon ? atoi(colon + 1) : (https ? 443 : 80);
    lua_pop(L, base ? 1 : 0);

    if (opt(L, opts, 0, "query") != LUA_TNIL) {
        if (!lua_istable(L, -1))
            drudge_host_config_error(L, "%s: 'query' must be a table, got %s", fn,
                                     luaL_typename(L, -1));
        drudge_buf *q = &req->scratch;
        drudge_buf_reset(q);
        http_encode_pairs(L, -1, q, "query");
        if (q->len) {
            drudge_buf_add(&req->url, strchr(req->url.data, '?') ? "&" : "?", 1);
            drudge_buf_add(&req->url, q->data, q->len);
        }
    }
    lua_pop(L, 1);
    drudge_http_redact_url(req->url.data, &req->shown);
}

static const char *method_name(lua_State *L, const char *m, const char *fn, char *out)
{
    size_t n = strlen(m);
    if (n == 0 || n > 15)
        luaL_error(L, "%s: invalid method '%s'", fn, m);
    for (size_t i = 0; i <= n; i++) {
        if (i < n && !isalpha((unsigned char)m[i]))
            luaL_error(L, "%s: invalid method '%s'", fn, m);
        out[i] = (char)toupper((unsigned char)m[i]);
    }
    return out;
}

/* multipart = { field = "text", doc = { path = "f.pdf" | data = "...",
 * filename = "f.pdf", type = "application/pdf" } } */
static void parse_multipart(lua_State *L, http_req *req, http_state *st, int idx, const char *fn)
{
    idx = lua_absindex(L, idx);
    req->mime = curl_mime_init(st->easy);
    lua_newtable(L); /* sorted names */
    int names = lua_gettop(L);
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            drudge_host_config_error(L, "%s: multipart field names must be strings", fn);
        lua_pushvalue(L, -1);
        lua_rawseti(L, names, ++n);
    }
    for (int i = 2; i <= n; i++) /* insertion sort: a handful of fields */
        for (int j = i; j > 1; j--) {
            lua_rawgeti(L, names, j - 1);
            lua_rawgeti(L, names, j);
            int swap = strcmp(lua_tostring(L, -2), lua_tostring(L, -1)) > 0;
            if (swap) {
                lua_rawseti(L, names, j - 1);
                lua_rawseti(L, names, j);
            } else {
                lua_pop(L, 2);
                break;
            }
        }
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, names, i);
        const char *name = lua_tostring(L, -1);
        lua_getfield(L, idx, name);
        curl_mimepart *part = curl_mime_addpart(req->mime);
        curl_mime_name(part, name);
        const char *data = NULL, *filename = NULL, *type = NULL;
        size_t len = 0;
        char *file = NULL;
        if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
            data = lua_tolstring(L, -1, &len);
        } else if (lua_istable(L, -1)) {
            int p = lua_gettop(L);
            lua_getfield(L, p, "filename");
            filename = lua_tostring(L, -1);
            lua_getfield(L, p, "type");
            type = lua_tostring(L, -1);
            lua_getfield(L, p, "data");
            lua_getfield(L, p, "path");
            if (lua_isstring(L, -2)) {
                data = lua_tolstring(L, -2, &len);
            } else if (lua_isstring(L, -1)) {
                const char *path = lua_tostring(L, -1);
                const char *full = drudge_host_confine(L, path);
                file = drudge_read_file(full, &len);
                if (!file)
                    luaL_error(L, "%s: multipart field '%s': cannot read %s: %s", fn, name, path,
                               strerror(errno));
                data = file;
                if (!filename) {
                    const char *slash = strrchr(path, '/');
                    filename = slash ? slash + 1 : path;
                }
            } else {
                drudge_host_config_error(L, "%s: multipart field '%s' needs 'data' or 'path'", fn,
                                         name);
            }
        } else {
            drudge_host_config_error(L,
                                     "%s: multipart field '%s' must be a string or a table, got %s",
                                     fn, name, luaL_typename(L, -1));
        }
        curl_mime_data(part, data, len);
        if (filename)
            curl_mime_filename(part, filename);
        if (type)
            curl_mime_type(part, type);
        char sha[65];
        drudge_sha256_hex(data, len, sha);
        free(file);
        if (i > 1)
            drudge_buf_add(&req->rec_mime, ",", 1);
        drudge_buf_puts(&req->rec_mime, "{\"name\":");
        drudge_buf_json_str(&req->rec_mime, name, strlen(name));
        if (filename) {
            drudge_buf_puts(&req->rec_mime, ",\"filename\":");
            drudge_buf_json_str(&req->rec_mime, filename, strlen(filename));
        }
        if (type) {
            drudge_buf_puts(&req->rec_mime, ",\"type\":");
            drudge_buf_json_str(&req->rec_mime, type, strlen(type));
        }
        drudge_buf_printf(&req->rec_mime, ",\"size\":%zu,\"sha256\":\"%s\"}", len, sha);
        lua_settop(L, names);
    }
    lua_pop(L, 1);
}

/* The body options; exactly one may be given. Leaves the body string (if
 * any) on the stack. Returns the content type it implies, or NULL. */
static const char *parse_body(lua_State *L, http_req *req, http_state *st, int opts, const char *fn)
{
    static const char *const kinds[] = {"body", "json", "form", "multipart"};
    int which = -1;
    for (int i = 0; opts && i < 4; i++) {
        if (lua_getfield(L, opts, kinds[i]) != LUA_TNIL) {
            if (which >= 0)
                drudge_host_config_error(L, "%s: give only one of '%s' and '%s'", fn, kinds[which],
                                         kinds[i]);
            which = i;
        }
        lua_pop(L, 1);
    }
    if (which < 0)
        return NULL;
    lua_getfield(L, opts, kinds[which]);
    const char *ctype = NULL;
    drudge_buf *b = &req->scratch;
    drudge_buf_reset(b);
    switch (which) {
    case 0:
        if (!lua_isstring(L, -1))
            drudge_host_config_error(L, "%s: 'body' must be a string, got %s", fn,
                                     luaL_typename(L, -1));
        lua_tostring(L, -1);
        break;
    case 1:
        http_json_canon(L, -1, b, "http: json body");
        ctype = "application/json";
        break;
    case 2:
        if (!lua_istable(L, -1))
            drudge_host_config_error(L, "%s: 'form' must be a table, got %s", fn,
                                     luaL_typename(L, -1));
        http_encode_pairs(L, -1, b, "form");
        ctype = "application/x-www-form-urlencoded";
        break;
    case 3:
        if (!lua_istable(L, -1))
            drudge_host_config_error(L, "%s: 'multipart' must be a table, got %s", fn,
                                     luaL_typename(L, -1));
        parse_multipart(L, req, st, -1, fn);
        return NULL; /* curl sets the boundary's content type */
    }
    if (which != 0) {
        lua_pop(L, 1);
        lua_pushlstring(L, b->data ? b->data : "", b->len);
    }
    req->body = lua_tolstring(L, -1, &req->body_len);
    req->body_is_text = drudge_http_utf8_valid(req->body, req->body_len);
    /* Not curl's default (a form): say what a raw body is, unless told. */
    if (which == 0)
        ctype = req->body_is_text ? "text/plain; charset=utf-8" : "application/octet-stream";
    return ctype;
}

static int header_value_ok(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n')
            return 0;
    return 1;
}

/* Merges defaults.headers and opts.headers (the call wins, names compared
 * without case) and builds the curl list and the recorded JSON, sorted by
 * name. A header set to false is removed (also curl's own, e.g. Accept).
 * Without any, the request goes out with http_xfer.c's default list. */
static void parse_headers(lua_State *L, http_req *req, int opts, int defs, const char *fn,
                          const char *ctype)
{
    if (!ctype) {
        int top = lua_gettop(L);
        int any = (opts && lua_getfield(L, opts, "headers") != LUA_TNIL) ||
                  (defs && lua_getfield(L, defs, "headers") != LUA_TNIL);
        lua_settop(L, top);
        if (!any)
            return; /* nothing to send beyond curl's own */
    }
    lua_newtable(L); /* lower-case name -> {name, value} */
    int merged = lua_gettop(L);
    int srcs[2] = {defs, opts};
    for (int s = 0; s < 2; s++) {
        if (!srcs[s] || lua_getfield(L, srcs[s], "headers") == LUA_TNIL) {
            if (srcs[s])
                lua_pop(L, 1);
            continue;
        }
        if (!lua_istable(L, -1))
            drudge_host_config_error(L, "%s: 'headers' must be a table, got %s", fn,
                                     luaL_typename(L, -1));
        lua_pushnil(L);
        while (lua_next(L, -2)) { /* headers, key, value */
            if (lua_type(L, -2) != LUA_TSTRING)
                drudge_host_config_error(L, "%s: header names must be strings", fn);
            int vt = lua_type(L, -1);
            if (vt != LUA_TSTRING && vt != LUA_TNUMBER &&
                !(vt == LUA_TBOOLEAN && !lua_toboolean(L, -1)))
                drudge_host_config_error(
                    L, "%s: header '%s' must be a string (or false to remove it), got %s", fn,
                    lua_tostring(L, -2), luaL_typename(L, -1));
            size_t nl;
            const char *name = lua_tolstring(L, -2, &nl);
            char lower[256];
            if (nl == 0 || nl >= sizeof lower)
                luaL_error(L, "%s: invalid header name '%s'", fn, name);
            for (size_t i = 0; i <= nl; i++) {
                unsigned char c = (unsigned char)name[i];
                if (i < nl && (c <= ' ' || c == ':' || c >= 127))
                    luaL_error(L, "%s: invalid header name '%s'", fn, name);
                lower[i] = (char)tolower(c);
            }
            if (vt != LUA_TBOOLEAN && !header_value_ok(lua_tostring(L, -1)))
                luaL_error(L, "%s: header '%s' contains a line break", fn, name);
            if (vt != LUA_TBOOLEAN && drudge_http_header_is_secret(name, nl))
                http_rec_secret_header(drudge_rec_from_lua(L), lower, lua_tostring(L, -1));
            lua_pushstring(L, lower);
            lua_createtable(L, 2, 0);
            lua_pushvalue(L, -4);
            lua_rawseti(L, -2, 1);
            lua_pushvalue(L, -3);
            lua_rawseti(L, -2, 2);
            lua_rawset(L, merged);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    if (ctype && lua_getfield(L, merged, "content-type") == LUA_TNIL) {
        lua_pop(L, 1);
        lua_createtable(L, 2, 0);
        lua_pushliteral(L, "Content-Type");
        lua_rawseti(L, -2, 1);
        lua_pushstring(L, ctype);
        lua_rawseti(L, -2, 2);
        lua_setfield(L, merged, "content-type");
    } else if (ctype) {
        lua_pop(L, 1);
    }
    /* sorted walk */
    drudge_buf line = {0};
    lua_newtable(L);
    int keys = lua_gettop(L), n = 0;
    lua_pushnil(L);
    while (lua_next(L, merged)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, keys, ++n);
    }
    for (int i = 2; i <= n; i++)
        for (int j = i; j > 1; j--) {
            lua_rawgeti(L, keys, j - 1);
            lua_rawgeti(L, keys, j);
            if (strcmp(lua_tostring(L, -2), lua_tostring(L, -1)) > 0) {
                lua_rawseti(L, keys, j - 1);
                lua_rawseti(L, keys, j);
            } else {
                lua_pop(L, 2);
                break;
            }
        }
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, keys, i);
        lua_rawget(L, merged);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        size_t nl;
        const char *name = lua_tolstring(L, -2, &nl);
        int removed = lua_type(L, -1) == LUA_TBOOLEAN;
        const char *value = removed ? "" : lua_tostring(L, -1);
        drudge_buf_reset(&line);
        drudge_buf_printf(&line, removed ? "%s:" : (*value ? "%s: %s" : "%s;"), name, value);
        struct curl_slist *nh = curl_slist_append(req->headers, line.data);
        if (!nh) {
            drudge_buf_free(&line);
            luaL_error(L, "%s: out of memory", fn);
        }
        req->headers = nh;
        if (!removed) {
            if (req->rec_headers.len)
                drudge_buf_add(&req->rec_headers, ",", 1);
            drudge_buf_json_str(&req->rec_headers, name, nl);
            drudge_buf_add(&req->rec_headers, ":", 1);
            if (drudge_http_header_is_secret(name, nl)) {
                drudge_buf_puts(&req->rec_headers, "\"[REDACTED:");
                for (size_t k = 0; k < nl; k++) {
                    char c = (char)tolower((unsigned char)name[k]);
                    drudge_buf_add(&req->rec_headers, &c, 1);
                }
                drudge_buf_puts(&req->rec_headers, "]\"");
            } else {
                drudge_buf_json_str(&req->rec_headers, value, strlen(value));
            }
        }
        lua_pop(L, 3);
    }
    drudge_buf_free(&line);
    /* drudge's own defaults, unless the script set (or removed) them */
    const char *const own[][2] = {{"user-agent", HTTP_USER_AGENT_LINE},
                                  {"accept-encoding", http_accept_encoding_line()}};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        int set = lua_getfield(L, merged, own[i][0]) != LUA_TNIL;
        lua_pop(L, 1);
        if (set)
            continue;
        struct curl_slist *nh = curl_slist_append(req->headers, own[i][1]);
        if (!nh)
            luaL_error(L, "%s: out of memory", fn);
        req->headers = nh;
    }
    lua_getfield(L, merged, "idempotency-key");
    if (!lua_isnil(L, -1))
        req->idempotent = 1;
    lua_pop(L, 3); /* idempotency-key, keys, merged */
}

static void parse_auth(lua_State *L, http_req *req, int opts, int defs, const char *fn)
{
    if (opt(L, opts, defs, "auth") == LUA_TNIL)
        return; /* nil stays on the stack, harmless */
    int a = lua_gettop(L);
    if (!lua_istable(L, a))
        drudge_host_config_error(
            L, "%s: 'auth' must be a table {bearer = token} or {basic = {user, pass}}", fn);
    if (lua_getfield(L, a, "bearer") != LUA_TNIL) {
        if (!lua_isstring(L, -1))
            drudge_host_config_error(L, "%s: auth.bearer must be a string", fn);
        req->bearer = lua_tostring(L, -1);
        if (!header_value_ok(req->bearer))
            luaL_error(L, "%s: auth.bearer contains a line break", fn);
        return;
    }
    if (lua_getfield(L, a, "basic") != LUA_TTABLE)
        drudge_host_config_error(L, "%s: 'auth' must be {bearer = token} or {basic = {user, pass}}",
                                 fn);
    int b = lua_gettop(L);
    if (lua_rawgeti(L, b, 1) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_getfield(L, b, "user");
    }
    if (lua_rawgeti(L, b, 2) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_getfield(L, b, "pass");
    }
    if (!lua_isstring(L, -2) || !lua_isstring(L, -1))
        drudge_host_config_error(L, "%s: auth.basic must be {user, pass} (two strings)", fn);
    req->user = lua_tostring(L, -2);
    req->pass = lua_tostring(L, -1);
}

static void parse_retry(lua_State *L, http_req *req, int opts, int defs, const char *fn)
{
    http_retry *r = &req->retry;
    r->attempts = 1;
    int t = opt(L, opts, defs, "retry");
    if (t == LUA_TNIL || (t == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
        lua_pop(L, 1);
        return;
    }
    r->attempts = 3;
    r->backoff = 0.5;
    r->max_delay = 30;
    r->errors = 1;
    static const int dflt_on[] = {429, 502, 503, 504};
    r->non = 4;
    memcpy(r->on, dflt_on, sizeof dflt_on);
    if (t == LUA_TBOOLEAN) {
        lua_pop(L, 1);
        return;
    }
    if (t != LUA_TTABLE)
        drudge_host_config_error(L, "%s: 'retry' must be true, false or a table, got %s", fn,
                                 luaL_typename(L, -1));
    int rt = lua_gettop(L);
    static const char *const fields[] = {"attempts", "on", "backoff", "max_delay", "errors", NULL};
    char what[64];
    snprintf(what, sizeof what, "%s retry", fn);
    check_fields(L, rt, fields, what);
    r->attempts = (int)opt_number(L, rt, 0, what, "attempts", 3, 1, 100);
    r->backoff = opt_number(L, rt, 0, what, "backoff", 0.5, 0, 3600);
    r->max_delay = opt_number(L, rt, 0, what, "max_delay", 30, 0, 86400);
    r->errors = opt_bool(L, rt, 0, what, "errors", 1);
    if (lua_getfield(L, rt, "on") != LUA_TNIL) {
        if (!lua_istable(L, -1))
            luaL_error(L, "%s: 'on' must be a list of status codes", what);
        lua_Integer n = luaL_len(L, -1);
        if (n > HTTP_MAX_RETRY_ON)
            luaL_error(L, "%s: 'on' lists more than %d statuses", what, HTTP_MAX_RETRY_ON);
        r->non = 0;
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            lua_Integer s = lua_tointeger(L, -1);
            if (s < 100 || s > 599)
                luaL_error(L, "%s: 'on' entries must be HTTP statuses (100-599)", what);
            r->on[r->non++] = (int)s;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 2);
}

/* Fills req from the options at opts (0: none) and the defaults at defs.
 * Values it points into are left on the stack. */
static void parse_request(lua_State *L, http_req *req, http_state *st, int opts, int defs,
                          const char *fn, const char *method, const char *url)
{
    if (opts)
        check_fields(L, opts, call_fields, fn);
    if (!method) {
        method = opt_string(L, opts, 0, fn, "method");
        if (!method)
            method = "GET";
    }
    req->method = method_name(L, method, fn, req->method_buf);
    if (!url) {
        url = opt_string(L, opts, 0, fn, "url");
        if (!url)
            luaL_error(L, "%s: 'url' is required", fn);
    }
    parse_url(L, req, opts, defs, fn, url);
    const char *ctype = parse_body(L, req, st, opts, fn);
    parse_headers(L, req, opts, defs, fn, ctype);
    parse_auth(L, req, opts, defs, fn);
    req->timeout = opt_number(L, opts, defs, fn, "timeout", DEFAULT_TIMEOUT, 0.001, 86400);
    req->connect_timeout =
        opt_number(L, opts, defs, fn, "connect_timeout", DEFAULT_CONNECT_TIMEOUT, 0.001, 86400);
    req->follow = opt_bool(L, opts, defs, fn, "follow_redirects", 1);
    req->max_redirects =
        (int)opt_number(L, opts, defs, fn, "max_redirects", DEFAULT_MAX_REDIRECTS, 0, 1000);
    req->verify_tls = opt_bool(L, opts, defs, fn, "verify_tls", 1);
    req->raise = opt_bool(L, opts, defs, fn, "raise", 0);
    req->ca_file = opt_string(L, opts, defs, fn, "ca_file");
    req->proxy = opt_string(L, opts, defs, fn, "proxy");
    req->inline_max = (size_t)opt_number(L, opts, defs, fn, "body_inline_max",
                                         (double)DEFAULT_INLINE_MAX, 0, 1e9);
    req->record_max = (size_t)opt_number(L, opts, defs, fn, "body_record_max",
                                         (double)DEFAULT_RECORD_MAX, 0, 1e10);
    const char *output = opts ? opt_string(L, opts, 0, fn, "output") : NULL;
    if (output)
        req->output = drudge_host_confine(L, output);
    parse_retry(L, req, opts, defs, fn);
    static const char *const idem[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", NULL};
    for (const char *const *m = idem; *m; m++)
        if (!strcmp(req->method, *m))
            req->idempotent = 1;
}

/* --- the response --- */

/* The response's __index: methods, and `headers`, built on first use from
 * raw_headers (most calls only look at status and body) and then kept. */
static int resp_index(lua_State *L)
{
    const char *k = lua_tostring(L, 2);
    if (k && !strcmp(k, "headers") && lua_type(L, 2) == LUA_TSTRING) {
        size_t len;
        lua_getfield(L, 1, "raw_headers");
        const char *raw = lua_tolstring(L, -1, &len);
        http_push_headers(L, raw, raw ? len : 0);
        lua_pushvalue(L, -1);
        lua_setfield(L, 1, "headers");
        return 1;
    }
    if (k && !strcmp(k, "links") && lua_type(L, 2) == LUA_TSTRING) {
        size_t len;
        lua_getfield(L, 1, "raw_headers");
        const char *raw = lua_tolstring(L, -1, &len);
        lua_getfield(L, 1, "url");
        http_push_links(L, raw, raw ? len : 0, lua_tostring(L, -1));
        lua_pushvalue(L, -1);
        lua_setfield(L, 1, "links");
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

/* What push needs besides the response: the request and this try. */
typedef struct http_call {
    http_req *req;
    const char *name;       /* "GET https://...", for messages */
    const char *output_arg; /* output = as the script gave it */
    int try;
} http_call;

/* Replay: writes the recorded body to the output file, as the live call did. */
static void replay_output(lua_State *L, const http_req *req, const char *data, size_t n)
{
    int fd = open(req->output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int ok = fd >= 0 && write(fd, data, n) == (ssize_t)n;
    if (fd >= 0 && close(fd) != 0)
        ok = 0;
    if (!ok)
        luaL_error(L, "http: replay: cannot write %s: %s", req->output, strerror(errno));
}

/* A response as push builds the Lua table from it (strings unescaped). */
typedef struct http_view {
    long status;
    int64_t size;
    const char *url, *raw, *body; /* body NULL: not in memory (output = ...) */
    size_t url_len, raw_len, body_len;
} http_view;

/* Live: the values the response JSON was just built from. A keep-alive GET
 * takes this cheap path instead of reading that JSON back (a tenth of
 * its instructions); replay reads the recording into the same view. */
static void view_live(http_req *req, http_view *v)
{
    const http_resp *resp = &req->resp;
    v->status = resp->status;
    v->size = (int64_t)resp->size;
    v->url = resp->url;
    v->url_len = strlen(resp->url);
    if (strchr(resp->url, '@') || strchr(resp->url, '#')) {
        drudge_buf_reset(&req->scratch);
        drudge_http_redact_url(resp->url, &req->scratch);
        v->url = req->scratch.data ? req->scratch.data : "";
        v->url_len = req->scratch.len;
    }
    v->raw = resp->headers.data ? resp->headers.data : "";
    v->raw_len = resp->headers.len;
    v->body = req->output ? NULL : (resp->body.data ? resp->body.data : "");
    v->body_len = resp->body.len;
}

/* The body of a recorded response: inline, or its payload (pushed). */
static const char *recorded_body(lua_State *L, drudge_call_ctx *c, const http_call *hc,
                                 const http_rec_view *r, size_t *len)
{
    if (r->body) {
        drudge_json_push_string(L, r->body, r->body_len);
        return lua_tolstring(L, -1, len);
    }
    if (!r->sha256[0]) { /* neither: a hand-written answer without a body */
        lua_pushliteral(L, "");
        *len = 0;
        return lua_tostring(L, -1);
    }
    const char *data = drudge_call_payload(c, r->sha256, len);
    if (!data)
        luaL_error(L, "http: replay: the body of step %d (%s) was not recorded", drudge_call_seq(c),
                   hc->name);
    return data;
}

/* Replay: the recorded response into v; its strings are pushed. The body
 * of a download is written to its file, as the live call did. */
static void view_recorded(lua_State *L, drudge_call_ctx *c, const http_call *hc, http_view *v)
{
    http_req *req = hc->req;
    size_t len;
    const char *json = drudge_call_response(c, &len);
    http_rec_view r;
    if (http_rec_read(json, len, &r) != 0 || http_rec_raw_headers(&r, &req->scratch) != 0)
        luaL_error(L, "http: replay: step %d's recorded response is not one of http's",
                   drudge_call_seq(c));
    v->status = r.status;
    v->size = r.size;
    if (r.url)
        drudge_json_push_string(L, r.url, r.url_len);
    else /* a hand-written answer: the URL asked for */
        lua_pushlstring(L, req->shown.data ? req->shown.data : "", req->shown.len);
    v->url = lua_tolstring(L, -1, &v->url_len);
    v->raw = req->scratch.data ? req->scratch.data : "";
    v->raw_len = req->scratch.len;
    v->body = recorded_body(L, c, hc, &r, &v->body_len);
    v->size = (int64_t)v->body_len;
    if (req->output) {
        replay_output(L, req, v->body, v->body_len);
        v->body = NULL;
    }
}

/* raise = true and a status >= 400: the message has the status and the
 * start of the body (one line, at most BODY_HINT bytes), which is what a
 * person needs to see why (an API's JSON error). 408 and 429 (and 5xx) are
 * the server's trouble and a system error, retried; 401, 403 and 407 are
 * credentials only a person can fix: a configuration error, which pauses
 * the script; any other 4xx says this request is wrong, which no retry
 * changes: a business exception, as fail(). */
#define BODY_HINT 200
static int raise_status(lua_State *L, const http_call *hc, const http_view *v)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    size_t n = v->body ? v->body_len : 0, cut = n > BODY_HINT ? BODY_HINT : n;
    while (cut < n && cut > 0 && ((unsigned char)v->body[cut] & 0xc0) == 0x80)
        cut--; /* not inside a UTF-8 character */
    for (size_t i = 0; i < cut; i++) {
        unsigned char ch = (unsigned char)v->body[i];
        luaL_addchar(&b, ch < 0x20 || ch == 0x7f ? ' ' : (char)ch);
    }
    if (cut < n)
        luaL_addstring(&b, "...");
    luaL_pushresult(&b);
    const char *hint = lua_tostring(L, -1);
    int s = (int)v->status;
    if (s == 401 || s == 403 || s == 407)
        return drudge_host_config_error(L, "http: %s: HTTP %d%s%s", hc->name, s, *hint ? ": " : "",
                                        hint);
    if (s >= 400 && s < 500 && s != 408 && s != 429)
        return drudge_host_raise_fail(L, "http: %s: HTTP %d%s%s", hc->name, s, *hint ? ": " : "",
                                      hint);
    return drudge_host_raise(L, "http: %s: HTTP %d%s%s", hc->name, s, *hint ? ": " : "", hint);
}

/* The call path's push: the response table, from the view of the response
 * (live: the transfer's values; replay: the recording), one builder for
 * both. A 4xx/5xx with raise = true is raised here, its step marked. */
static int http_push(lua_State *L, drudge_call_ctx *c, void *ud)
{
    http_call *hc = ud;
    http_req *req = hc->req;
    lua_createtable(L, 0, 10);
    int t = lua_gettop(L);
    http_view v;
    if (drudge_call_replaying(c))
        view_recorded(L, c, hc, &v);
    else
        view_live(req, &v);
    if (req->raise && v.status >= 400)
        return raise_status(L, hc, &v);
    lua_pushinteger(L, v.status);
    lua_setfield(L, t, "status");
    lua_pushstring(L, req->method);
    lua_setfield(L, t, "method");
    lua_pushlstring(L, v.url, v.url_len);
    lua_setfield(L, t, "url");
    if (v.body)
        lua_pushlstring(L, v.body, v.body_len);
    else
        lua_pushstring(L, hc->output_arg);
    lua_setfield(L, t, v.body ? "body" : "output");
    lua_pushinteger(L, (lua_Integer)v.size);
    lua_setfield(L, t, "size");
    lua_pushnumber(L, req->resp.elapsed); /* timing: not recorded, 0 in replay */
    lua_setfield(L, t, "elapsed");
    lua_pushinteger(L, hc->try);
    lua_setfield(L, t, "attempts");
    lua_pushlstring(L, v.raw, v.raw_len);
    lua_setfield(L, t, "raw_headers");
    lua_settop(L, t);
    luaL_setmetatable(L, HTTP_RESPONSE_MT);
    return 1;
}

/* r:json() -> value; raises naming the request and the position. */
static int l_resp_json(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "body");
    if (!lua_isstring(L, -1))
        return luaL_error(L, "http: r:json(): the response has no body in memory (output=?)");
    luaopen_drudge_json(L);
    lua_getfield(L, -1, "decode");
    lua_pushvalue(L, 2);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        lua_getfield(L, 1, "method");
        lua_getfield(L, 1, "url");
        lua_getfield(L, 1, "status");
        size_t blen;
        const char *body = lua_tolstring(L, 2, &blen);
        char head[61];
        size_t hn = blen < 60 ? blen : 60;
        for (size_t i = 0; i < hn; i++)
            head[i] = (body[i] >= 32 && body[i] < 127) ? body[i] : '.';
        head[hn] = '\0';
        /* cjson's message: "json.decode: Expected ... at character N" */
        const char *msg = lua_tostring(L, -4);
        const char *colon = msg ? strstr(msg, "json.decode: ") : NULL;
        return luaL_error(L,
                          "http: the response to %s %s (HTTP %d) is not JSON: %s; the body "
                          "starts \"%s\"%s",
                          lua_tostring(L, -3), lua_tostring(L, -2), (int)lua_tointeger(L, -1),
                          colon ? colon + 13 : (msg ? msg : "?"), head, blen > 60 ? "..." : "");
    }
    return 1;
}

static int l_resp_ok(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "status");
    lua_Integer s = lua_tointeger(L, -1);
    lua_pushboolean(L, s >= 200 && s < 300);
    return 1;
}

/* r:header_all(name) -> { value, ... } in the order received ({} if none). */
static int l_resp_header_all(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    size_t nl, len;
    const char *name = luaL_checklstring(L, 2, &nl);
    lua_getfield(L, 1, "raw_headers");
    const char *raw = lua_tolstring(L, -1, &len);
    http_push_header_all(L, raw, raw ? len : 0, name, nl);
    return 1;
}

static int l_resp_tostring(lua_State *L)
{
    lua_getfield(L, 1, "method");
    lua_getfield(L, 1, "url");
    lua_getfield(L, 1, "status");
    lua_pushfstring(L, "http response %d to %s %s", (int)lua_tointeger(L, -1), lua_tostring(L, -3),
                    lua_tostring(L, -2));
    return 1;
}

/* --- one call --- */

static int transient(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

/* Exponential backoff with "equal jitter": half fixed, half random. */
static double backoff_delay(const http_retry *r, int try)
{
    static _Thread_local unsigned seed;
    if (!seed)
        seed = (unsigned)drudge_mono_us() | 1u;
    double d = r->backoff * pow(2.0, try - 1);
    if (d > r->max_delay)
        d = r->max_delay;
    return d / 2 + d / 2 * ((double)rand_r(&seed) / RAND_MAX);
}

/* Seconds to wait before retrying a response, or -1 for no retry. */
static double retry_delay_status(const http_req *req, const http_resp *resp, int try,
                                 double remaining)
{
    const http_retry *r = &req->retry;
    if (try >= r->attempts)
        return -1;
    int listed = 0;
    for (int i = 0; i < r->non; i++)
        listed |= r->on[i] == resp->status;
    if (!listed)
        return -1;
    double d = -1;
    /* Retry-After, honoured exactly; one the bounds cannot meet ends the retries. */
    const char *p = resp->headers.data, *end = p ? p + resp->headers.len : NULL;
    http_field f;
    while (http_header_next(&p, end, &f)) {
        if (f.nl == 11 && !strncasecmp(f.name, "retry-after", 11)) {
            char v[128];
            size_t n = f.vn < sizeof v - 1 ? f.vn : sizeof v - 1;
            memcpy(v, f.value, n);
            v[n] = '\0';
            d = drudge_http_retry_after(v, drudge_now_us());
            if (d >= 0 && d > r->max_delay)
                return -1;
            break;
        }
    }
    if (d < 0)
        d = backoff_delay(r, try);
    return d < remaining ? d : -1;
}

static double retry_delay_error(const http_req *req, CURLcode code, int try, double remaining)
{
    const http_retry *r = &req->retry;
    if (try >= r->attempts || !r->errors || !req->idempotent || !transient(code))
        return -1;
    double d = backoff_delay(r, try);
    return d < remaining ? d : -1;
}

/* The call path's live call: one try. Waits for a slot of the host's
 * limit, performs, records the response, and says whether another try
 * follows. */
static drudge_code http_live(lua_State *L, drudge_call_ctx *c, void *ud)
{
    http_call *hc = ud;
    http_req *req = hc->req;
    http_resp *resp = &req->resp;
    http_state *st = http_state_get(L);
    drudge_err err = {0};
    drudge_http_limit *slot = NULL;
    http_resp_reset(resp);
    if (drudge_http_limit_acquire(req->host, req->port, drudge_host_remaining(L), &slot, NULL,
                                  &err) != DRUDGE_OK)
        return drudge_call_abort(c, DRUDGE_ECONNECT, "%s", err.msg);
    double remaining = drudge_host_remaining(L);
    double cap = req->timeout < remaining ? req->timeout : remaining;
    if (cap < 0.001) {
        resp->code = CURLE_OPERATION_TIMEDOUT;
        snprintf(resp->error, sizeof resp->error, "no time left before the attempt's deadline");
    } else {
        http_perform(L, st, req, resp, cap);
        size_t el = strlen(resp->error);
        if (resp->code == CURLE_OPERATION_TIMEDOUT && cap < req->timeout)
            snprintf(resp->error + el, sizeof resp->error - el,
                     " (capped at %.3g s by the attempt's deadline)", cap);
    }
    drudge_http_limit_release(slot);
    remaining = drudge_host_remaining(L);
    if (resp->code != CURLE_OK) {
        double d = retry_delay_error(req, resp->code, hc->try, remaining);
        http_rec_error(c, resp);
        if (d >= 0)
            drudge_call_again(c, d);
        return DRUDGE_ECONNECT;
    }
    double d = retry_delay_status(req, resp, hc->try, remaining);
    http_rec_response(c, req, resp, drudge_rec_from_lua(L));
    if (resp->status >= 500) { /* the host answers, but its service is down */
        char why[32];
        snprintf(why, sizeof why, "HTTP %ld", (long)resp->status);
        drudge_call_target_down(c, why);
    }
    if (d >= 0)
        drudge_call_again(c, d);
    else if (req->raise && resp->status >= 400)
        drudge_call_mark_error(c, "HTTP error status");
    return DRUDGE_OK;
}

static int do_request(lua_State *L, int opts, const char *fn, const char *method, const char *url)
{
    int defs = lua_upvalueindex(1);
    lua_pushnil(L);
    if (lua_next(L, defs))
        lua_pop(L, 2);
    else
        defs = 0; /* no defaults: skip looking each option up there */
    http_state *st = http_state_get(L);
    http_req *req;
    if (st->busy) {
        req = push_req(L);
    } else {
        http_state_hold(L, st);
        req = &st->req;
        http_req_reset(req);
    }
    parse_request(L, req, st, opts, defs, fn, method, url);
    http_call hc = {.req = req};
    if (req->output) {
        lua_getfield(L, opts, "output");
        hc.output_arg = lua_tostring(L, -1);
    }
    drudge_rec *rec = drudge_rec_from_lua(L);
    if (req->bearer)
        drudge_rec_add_secret(rec, "bearer", req->bearer);
    if (req->pass)
        drudge_rec_add_secret(rec, "password", req->pass);
    http_rec_request(req, rec);
    /* In the request's own buffer: no Lua string to make for each call. */
    drudge_buf_puts(&req->name, req->method);
    drudge_buf_add(&req->name, " ", 1);
    drudge_buf_add(&req->name, req->shown.data, req->shown.len);
    hc.name = req->name.data;
    /* The breaker's target: the host, and the port when not the scheme's. */
    char target[sizeof req->host + 8];
    size_t hl = strlen(req->host);
    for (size_t i = 0; i <= hl; i++)
        target[i] = (char)tolower((unsigned char)req->host[i]);
    if (req->port > 0 && req->port <= 65535 && req->port != 80 && req->port != 443) {
        /* ":port" by hand: snprintf took about 700 instructions a call */
        char digits[5];
        int nd = 0;
        for (int v = req->port; v; v /= 10)
            digits[nd++] = (char)('0' + v % 10);
        target[hl++] = ':';
        while (nd)
            target[hl++] = digits[--nd];
        target[hl] = '\0';
    } else if (req->port != 80 && req->port != 443) {
        snprintf(target + hl, sizeof target - hl, ":%d", req->port);
    }
    drudge_call_spec spec = {.kind = "http",
                             .target = target,
                             .name = hc.name,
                             .request = req->rec_request.data,
                             .error_prefix = "http: %s: ",
                             .live = http_live,
                             .push = http_push,
                             .ud = &hc,
                             .text = 1};
    for (hc.try = 1;; hc.try++) {
        int n = drudge_call(L, &spec);
        if (n != DRUDGE_CALL_AGAIN)
            return n;
    }
}

/* --- Lua functions --- */

static int l_request(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    return do_request(L, 1, "http.request", NULL, NULL);
}

/* http.get(url [, opts]) or http.get(opts): the method comes from the name. */
static int shorthand(lua_State *L, const char *method, const char *fn)
{
    if (lua_type(L, 1) == LUA_TSTRING) {
        const char *url = lua_tostring(L, 1);
        if (lua_isnoneornil(L, 2))
            return do_request(L, 0, fn, method, url);
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "url");
        if (!lua_isnil(L, -1))
            return luaL_error(L, "%s: the url is given twice (argument and 'url')", fn);
        lua_pop(L, 1);
        return do_request(L, 2, fn, method, url);
    }
    if (lua_type(L, 1) != LUA_TTABLE)
        return luaL_argerror(L, 1, "a URL string or an options table");
    lua_getfield(L, 1, "method");
    if (!lua_isnil(L, -1))
        return luaL_error(L, "%s: 'method' is implied; use http.request to choose one", fn);
    lua_pop(L, 1);
    return do_request(L, 1, fn, method, NULL);
}

static int l_get(lua_State *L)
{
    return shorthand(L, "GET", "http.get");
}
static int l_head(lua_State *L)
{
    return shorthand(L, "HEAD", "http.head");
}
static int l_post(lua_State *L)
{
    return shorthand(L, "POST", "http.post");
}
static int l_put(lua_State *L)
{
    return shorthand(L, "PUT", "http.put");
}
static int l_patch(lua_State *L)
{
    return shorthand(L, "PATCH", "http.patch");
}
static int l_delete(lua_State *L)
{
    return shorthand(L, "DELETE", "http.delete");
}

/* Copies the table at src into dst (shallow) and checks the result as a
 * call would, so a bad default fails where it is set. */
static void set_defaults(lua_State *L, int dst, int src, const char *fn)
{
    check_fields(L, src, default_fields, fn);
    lua_pushnil(L);
    while (lua_next(L, src)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, dst);
    }
    int top = lua_gettop(L);
    http_req *req = push_req(L);
    parse_headers(L, req, 0, dst, fn, NULL);
    parse_auth(L, req, 0, dst, fn);
    parse_retry(L, req, 0, dst, fn);
    opt_number(L, 0, dst, fn, "timeout", DEFAULT_TIMEOUT, 0.001, 86400);
    opt_number(L, 0, dst, fn, "connect_timeout", DEFAULT_CONNECT_TIMEOUT, 0.001, 86400);
    opt_number(L, 0, dst, fn, "max_redirects", DEFAULT_MAX_REDIRECTS, 0, 1000);
    opt_number(L, 0, dst, fn, "body_inline_max", 0, 0, 1e9);
    opt_number(L, 0, dst, fn, "body_record_max", 0, 0, 1e10);
    opt_bool(L, 0, dst, fn, "follow_redirects", 1);
    opt_bool(L, 0, dst, fn, "verify_tls", 1);
    opt_bool(L, 0, dst, fn, "raise", 0);
    opt_string(L, 0, dst, fn, "ca_file");
    opt_string(L, 0, dst, fn, "proxy");
    opt_string(L, 0, dst, fn, "base_url");
    lua_settop(L, top);
}

/* http.defaults(opts): options merged under every call of this module. */
static int l_defaults(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int defs = lua_upvalueindex(1);
    lua_pushnil(L);
    while (lua_next(L, defs)) { /* clear */
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_pushnil(L);
        lua_rawset(L, defs);
    }
    lua_pushvalue(L, defs);
    set_defaults(L, lua_gettop(L), 1, "http.defaults");
    return 0;
}

static void push_module(lua_State *L, int defs);

/* http.client(opts) -> a module like http whose defaults are this module's
 * defaults overlaid with opts. */
static int l_client(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_newtable(L);
    int nd = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, lua_upvalueindex(1))) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, nd);
    }
    set_defaults(L, nd, 1, "http.client");
    push_module(L, nd);
    return 1;
}

static int l_limit(lua_State *L)
{
    const char *host = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    static const char *const fields[] = {"per_second", "per_minute", "concurrent", "burst", NULL};
    check_fields(L, 2, fields, "http.limit");
    double ps = opt_number(L, 2, 0, "http.limit", "per_second", 0, 0, 1e6);
    double pm = opt_number(L, 2, 0, "http.limit", "per_minute", 0, 0, 1e8);
    if (pm > 0)
        ps = pm / 60.0;
    int conc = (int)opt_number(L, 2, 0, "http.limit", "concurrent", 0, 0, 1e6);
    int burst = (int)opt_number(L, 2, 0, "http.limit", "burst", 1, 1, 1e6);
    drudge_err err = {0};
    if (drudge_http_limit_set(host, ps, conc, burst, &err) != DRUDGE_OK)
        return luaL_error(L, "%s", err.msg);
    return 0;
}

static int l_escape(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    drudge_buf b = {0};
    http_urlencode(&b, s, n);
    lua_pushlstring(L, b.data ? b.data : "", b.len);
    drudge_buf_free(&b);
    return 1;
}

static void push_module(lua_State *L, int defs)
{
    static const luaL_Reg fns[] = {
        {"request", l_request}, {"get", l_get},     {"head", l_head},     {"post", l_post},
        {"put", l_put},         {"patch", l_patch}, {"delete", l_delete}, {"defaults", l_defaults},
        {"client", l_client},   {NULL, NULL}};
    defs = lua_absindex(L, defs);
    lua_createtable(L, 0, 12);
    lua_pushvalue(L, defs);
    luaL_setfuncs(L, fns, 1);
    lua_pushcfunction(L, l_limit);
    lua_setfield(L, -2, "limit");
    lua_pushcfunction(L, l_escape);
    lua_setfield(L, -2, "escape");
}

static void process_init(void)
{
    http_global_init();
    drudge_host_on_attempt(http_attempt_start);
    const char *path = getenv("DRUDGE_HTTP_LIMITS");
    drudge_err err = {0};
    if (path && *path && drudge_http_limits_load(path, &err) != DRUDGE_OK)
        snprintf(limits_error, sizeof limits_error, "%s", err.msg);
}

/* Registered before any host starts (the hook list is not locked). */
__attribute__((constructor)) static void register_hook(void)
{
    drudge_host_on_attempt(http_attempt_start);
}

int luaopen_drudge_http(lua_State *L)
{
    pthread_once(&init_once, process_init);
    if (limits_error[0])
        return luaL_error(L, "drudge.http: $DRUDGE_HTTP_LIMITS: %s", limits_error);
    static const luaL_Reg req_meta[] = {{"__gc", req_gc}, {"__close", req_gc}, {NULL, NULL}};
    static const luaL_Reg resp_meta[] = {
        {"__index", resp_index}, {"__tostring", l_resp_tostring}, {NULL, NULL}};
    static const luaL_Reg resp_methods[] = {
        {"json", l_resp_json}, {"ok", l_resp_ok}, {"header_all", l_resp_header_all}, {NULL, NULL}};
    drudge_lua_class(L, HTTP_REQ_MT, req_meta, NULL);
    http_headers_register(L);
    drudge_lua_class(L, HTTP_RESPONSE_MT, resp_meta, resp_methods);
    http_state_get(L); /* the worker's curl handle, ready for keep-alive */
    lua_newtable(L);   /* this module's defaults */
    push_module(L, -1);
    return 1;
}

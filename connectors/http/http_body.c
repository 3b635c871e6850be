/* http_body.c: turning Lua values into request bytes (query strings, forms,
 * canonical JSON) and small parsers (Retry-After, URLs, UTF-8).
 *
 * Everything here is deterministic on purpose: Lua's table iteration order
 * changes from run to run (string hashes are seeded), but replay compares a
 * request byte for byte with its recording, so keys are always sorted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <lauxlib.h>
#include "drudge/json.h"
#include "httpint.h"

void http_urlencode(drudge_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            drudge_buf_add(b, &s[i], 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            drudge_buf_add(b, esc, 3);
        }
    }
}

/* Appends a scalar (string, number, boolean) as text for a query or form. */
static void add_scalar(lua_State *L, int idx, drudge_buf *b, const char *what, const char *key)
{
    size_t len;
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
    case LUA_TNUMBER: {
        lua_pushvalue(L, idx);
        const char *s = lua_tolstring(L, -1, &len); /* integers print without ".0" */
        http_urlencode(b, s, len);
        lua_pop(L, 1);
        break;
    }
    case LUA_TBOOLEAN:
        drudge_buf_puts(b, lua_toboolean(L, idx) ? "true" : "false");
        break;
    default:
        luaL_error(L,
                   "%s: value of '%s' must be a string, number, boolean or a list of them, "
                   "got %s",
                   what, key, luaL_typename(L, idx));
    }
}

void http_encode_pairs(lua_State *L, int idx, drudge_buf *b, const char *what)
{
    idx = lua_absindex(L, idx);
    size_t n;
    const char **keys = drudge_json_sorted_keys(L, idx, &n, what);
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        lua_getfield(L, idx, keys[i]);
        if (lua_istable(L, -1)) {
            lua_Integer len = luaL_len(L, -1);
            for (lua_Integer j = 1; j <= len; j++) {
                lua_rawgeti(L, -1, j);
                if (!first)
                    drudge_buf_add(b, "&", 1);
                first = 0;
                http_urlencode(b, keys[i], strlen(keys[i]));
                drudge_buf_add(b, "=", 1);
                add_scalar(L, -1, b, what, keys[i]);
                lua_pop(L, 1);
            }
        } else {
            if (!first)
                drudge_buf_add(b, "&", 1);
            first = 0;
            http_urlencode(b, keys[i], strlen(keys[i]));
            drudge_buf_add(b, "=", 1);
            add_scalar(L, -1, b, what, keys[i]);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1); /* keys */
}

void http_json_canon(lua_State *L, int idx, drudge_buf *b, const char *what)
{
    drudge_json_encode(L, idx, b, what);
}

double drudge_http_retry_after(const char *value, int64_t now_us)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (*value >= '0' && *value <= '9') { /* delay-seconds = 1*DIGIT (RFC 9110 10.2.3) */
        double v = 0;
        const char *end = value;
        for (; *end >= '0' && *end <= '9'; end++)
            v = v < 1e15 ? v * 10 + (*end - '0') : v; /* beyond any bound: stays huge, finite */
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        return *end ? -1 : v;
    }
    time_t t = curl_getdate(value, NULL);
    if (t == (time_t)-1)
        return -1;
    double d = (double)t - (double)now_us / 1e6;
    return d > 0 ? d : 0;
}

int drudge_http_header_is_secret(const char *name, size_t len)
{
    static const char *const secret[] = {"authorization", "proxy-authorization", "cookie",
                                         "set-cookie"};
    for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++)
        if (strlen(secret[i]) == len && !strncasecmp(name, secret[i], len))
            return 1;
    return 0;
}

void drudge_http_redact_url(const char *url, drudge_buf *out)
{
    const char *auth = strstr(url, "://");
    size_t frag = strcspn(url, "#");
    if (!auth || (size_t)(auth - url) > frag) {
        drudge_buf_add(out, url, frag);
        return;
    }
    auth += 3;
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (auth[i] == '@')
            at = auth + i;
    if (!at) {
        drudge_buf_add(out, url, frag);
        return;
    }
    drudge_buf_add(out, url, (size_t)(auth - url));
    drudge_buf_puts(out, "[REDACTED]");
    drudge_buf_add(out, at, (size_t)(url + frag - at));
}

int drudge_http_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x01 && c < 0x80) {
            i++;
            continue;
        }
        int len;
        unsigned min;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2, min = 0x80, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3, min = 0x800, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4, min = 0x10000, cp = c & 0x07;
        } else {
            return 0; /* NUL, continuation byte or invalid lead */
        }
        if (i + (size_t)len > n)
            return 0;
        for (int k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += (size_t)len;
    }
    return 1;
}

/* http_rec.c: what drudge.http records for each try, and rebuilding a
 * response from a recording in replay.
 *
 * Request JSON, deterministic so replay can compare it byte for byte:
 *   {"method":"POST","url":"https://h/p?q=1","headers":{"Authorization":"[REDACTED:authorization]"},
 *    "body":"..."}   or "body_sha256":"..","size":N   or "multipart":[{...}]
 * Response JSON:
 *   {"status":200,"url":"https://h/p","headers":[["Content-Type","text/plain"],...],
 *    "size":N,"body":"..."}  or "body_sha256":".." (a payload, or "body_stored":false)
 *   {"error":"Failed to connect ...","curl_code":7} for a transport failure,
 *   plus "retry_in":S when another try follows.
 * Bodies are inline when they are UTF-8 text no longer than inline_max,
 * stored as a payload (by SHA-256) up to record_max, else only hashed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <lauxlib.h>
#include "drudge/host.h"
#include "httpint.h"

/* Adds "body" or "body_sha256"+"size" for n bytes at data. */
static void add_body(drudge_buf *out, drudge_rec *rec, const char *data, size_t n,
                     const char *ctype, size_t inline_max, size_t record_max)
{
    char sha[65];
    if (n <= inline_max && drudge_http_utf8_valid(data, n)) {
        drudge_buf_puts(out, ",\"body\":");
        drudge_buf_json_str(out, data, n);
        return;
    }
    if (n <= record_max) {
        drudge_rec_payload(rec, data, n, ctype, sha);
        drudge_buf_printf(out, ",\"body_sha256\":\"%s\"", sha);
    } else {
        drudge_sha256_hex(data, n, sha);
        drudge_buf_printf(out, ",\"body_sha256\":\"%s\",\"body_stored\":false", sha);
    }
}

void http_rec_request(http_req *req, drudge_rec *rec)
{
    drudge_buf *b = &req->rec_request;
    drudge_buf_reset(b);
    drudge_buf_puts(b, "{\"method\":");
    drudge_buf_json_str(b, req->method, strlen(req->method));
    drudge_buf_puts(b, ",\"url\":");
    drudge_buf_json_str(b, req->shown.data, req->shown.len);
    if (req->rec_headers.len) {
        drudge_buf_puts(b, ",\"headers\":{");
        drudge_buf_add(b, req->rec_headers.data, req->rec_headers.len);
        drudge_buf_puts(b, "}");
    }
    if (req->bearer) {
        drudge_buf_puts(b, ",\"auth\":\"bearer\"");
    } else if (req->user) {
        drudge_buf_puts(b, ",\"auth\":{\"basic\":");
        drudge_buf_json_str(b, req->user, strlen(req->user));
        drudge_buf_puts(b, "}");
    }
    if (req->mime) {
        drudge_buf_puts(b, ",\"multipart\":[");
        drudge_buf_add(b, req->rec_mime.data, req->rec_mime.len);
        drudge_buf_puts(b, "]");
    } else if (req->body) {
        drudge_buf_printf(b, ",\"size\":%zu", req->body_len);
        add_body(b, rec, req->body, req->body_len,
                 req->body_is_text ? "text/plain" : "application/octet-stream", req->inline_max,
                 req->record_max);
    }
    if (req->output)
        drudge_buf_puts(b, ",\"output\":true");
    drudge_buf_puts(b, "}");
}

/* The value of header name in a raw header block, or NULL; *len set. */
static const char *find_header(const drudge_buf *h, const char *name, size_t *len)
{
    size_t nlen = strlen(name);
    const char *p = h->data, *end = h->data ? h->data + h->len : NULL;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nlen && p[nlen] == ':' && !strncasecmp(p, name, nlen)) {
            const char *v = p + nlen + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            *len = (size_t)(ve - v);
            return v;
        }
        p = eol + 1;
    }
    return NULL;
}

void http_rec_secret_header(drudge_rec *rec, const char *label, const char *value)
{
    drudge_rec_add_secret(rec, label, value);
    const char *sp = strchr(value, ' ');
    if (sp && sp[1])
        drudge_rec_add_secret(rec, label, sp + 1);
}

/* Each "name=value; attrs" line's value becomes a secret: session cookies
 * are credentials, and servers echo them. */
static void register_cookies(drudge_rec *rec, const drudge_buf *cookies)
{
    const char *p = cookies->data, *end = p ? p + cookies->len : NULL;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *eq = memchr(p, '=', (size_t)(eol - p));
        if (eq) {
            size_t n = strcspn(eq + 1, ";\r\n");
            char *v = drudge_xmalloc(n + 1);
            memcpy(v, eq + 1, n);
            v[n] = '\0';
            drudge_rec_add_secret(rec, "cookie", v);
            free(v);
        }
        p = eol + 1;
    }
}

void http_rec_response(drudge_buf *out, const http_req *req, const http_resp *resp, drudge_rec *rec,
                       double retry_in)
{
    drudge_buf_reset(out);
    if (resp->code != CURLE_OK) {
        drudge_buf_puts(out, "{\"error\":");
        drudge_buf_json_str(out, resp->error, strlen(resp->error));
        drudge_buf_printf(out, ",\"curl_code\":%d", (int)resp->code);
        if (retry_in >= 0)
            drudge_buf_printf(out, ",\"retry_in\":%.3f", retry_in);
        drudge_buf_puts(out, "}");
        return;
    }
    register_cookies(rec, &resp->cookies);
    drudge_buf_puts(out, "{\"status\":");
    drudge_buf_int(out, resp->status);
    drudge_buf_puts(out, ",\"url\":");
    if (strchr(resp->url, '@') || strchr(resp->url, '#')) {
        drudge_buf u = {0};
        drudge_http_redact_url(resp->url, &u);
        drudge_buf_json_str(out, u.data ? u.data : "", u.len);
        drudge_buf_free(&u);
    } else {
        drudge_buf_json_str(out, resp->url, strlen(resp->url));
    }
    drudge_buf_puts(out, ",\"headers\":[");
    const char *p = resp->headers.data, *end = p ? p + resp->headers.len : NULL;
    int first = 1;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon) {
            const char *v = colon + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            drudge_buf_puts(out, first ? "[" : ",[");
            first = 0;
            drudge_buf_json_str(out, p, (size_t)(colon - p));
            drudge_buf_puts(out, ",");
            if (drudge_http_header_is_secret(p, (size_t)(colon - p))) {
                drudge_buf_puts(out, "\"[REDACTED:");
                for (const char *q = p; q < colon; q++) {
                    char c = (char)((*q >= 'A' && *q <= 'Z') ? *q + 32 : *q);
                    drudge_buf_add(out, &c, 1);
                }
                drudge_buf_puts(out, "]\"");
            } else {
                drudge_buf_json_str(out, v, (size_t)(ve - v));
            }
            drudge_buf_puts(out, "]");
        }
        p = eol + 1;
    }
    drudge_buf_puts(out, "],\"size\":");
    drudge_buf_int(out, (int64_t)resp->size);
    size_t ctlen = 0;
    const char *ct = find_header(&resp->headers, "content-type", &ctlen);
    char ctype[128];
    snprintf(ctype, sizeof ctype, "%.*s", (int)(ct ? ctlen : 0), ct ? ct : "");
    if (req->output) {
        /* The file's bytes, read back only when small enough to keep. */
        if (resp->size <= req->record_max) {
            size_t n = 0;
            char *data = drudge_read_file(req->output, &n);
            if (data && n == resp->size)
                add_body(out, rec, data, n, ctype, 0, req->record_max);
            else
                drudge_buf_printf(out, ",\"body_sha256\":\"%s\",\"body_stored\":false",
                                  resp->sha256);
            free(data);
        } else {
            drudge_buf_printf(out, ",\"body_sha256\":\"%s\",\"body_stored\":false", resp->sha256);
        }
    } else {
        add_body(out, rec, resp->body.data ? resp->body.data : "", resp->body.len, ctype,
                 req->inline_max, req->record_max);
    }
    if (retry_in >= 0)
        drudge_buf_printf(out, ",\"retry_in\":%.3f", retry_in);
    drudge_buf_puts(out, "}");
}

/* Pushes field k of the table at idx as a string, or raises naming the step. */
static const char *replay_str(lua_State *L, int idx, const char *k, size_t *len, int seq)
{
    lua_getfield(L, idx, k);
    if (!lua_isstring(L, -1))
        luaL_error(L, "http: replay: step %d's recorded response has no '%s'", seq, k);
    return lua_tolstring(L, -1, len);
}

void http_rec_replay(lua_State *L, drudge_rec *rec, int seq, const http_req *req, http_resp *resp)
{
    const char *json = drudge_rec_replay_response(rec, seq);
    if (!json) {
        const char *div = drudge_rec_divergence(rec);
        luaL_error(L, "http: replay: no recorded response for step %d (%s %s)%s%s", seq,
                   req->method, req->shown.data, *div ? ": " : "", div);
    }
    int top = lua_gettop(L);
    luaopen_drudge_json(L);
    lua_getfield(L, -1, "decode");
    lua_pushstring(L, json);
    lua_call(L, 1, 1);
    int t = lua_gettop(L);
    size_t len;
    /* Retry as the recording did, whatever the clock says now. */
    resp->replay_retry = lua_getfield(L, t, "retry_in") == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
    lua_pop(L, 1);
    if (lua_getfield(L, t, "error") == LUA_TSTRING) {
        snprintf(resp->error, sizeof resp->error, "%s", lua_tostring(L, -1));
        lua_getfield(L, t, "curl_code");
        resp->code = (CURLcode)lua_tointeger(L, -1);
        if (resp->code == CURLE_OK)
            resp->code = CURLE_RECV_ERROR;
        lua_settop(L, top);
        return;
    }
    lua_getfield(L, t, "status");
    resp->status = (long)lua_tointeger(L, -1);
    lua_getfield(L, t, "size");
    resp->size = (size_t)lua_tointeger(L, -1);
    lua_settop(L, t);
    const char *url = replay_str(L, t, "url", &len, seq);
    drudge_buf_add(&resp->urlbuf, url, len);
    resp->url = resp->urlbuf.data;
    if (lua_getfield(L, t, "headers") == LUA_TTABLE) {
        lua_Integer n = luaL_len(L, -1);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            lua_rawgeti(L, -1, 1);
            lua_rawgeti(L, -2, 2);
            drudge_buf_printf(&resp->headers, "%s: %s\r\n", lua_tostring(L, -2),
                              lua_tostring(L, -1));
            lua_pop(L, 3);
        }
    }
    lua_settop(L, t);
    const char *data = NULL;
    size_t n = 0;
    if (lua_getfield(L, t, "body") == LUA_TSTRING) {
        data = lua_tolstring(L, -1, &n);
    } else {
        const char *sha = replay_str(L, t, "body_sha256", &len, seq);
        const drudge_payload *p = drudge_rec_replay_payload(rec, sha);
        if (!p)
            luaL_error(L, "http: replay: the body of step %d (%s %s) was not recorded", seq,
                       req->method, req->shown.data);
        data = (const char *)p->data;
        n = p->len;
    }
    if (req->output) {
        int fd = open(req->output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        int ok = fd >= 0 && write(fd, data, n) == (ssize_t)n;
        if (fd >= 0 && close(fd) != 0)
            ok = 0;
        if (!ok)
            luaL_error(L, "http: replay: cannot write %s: %s", req->output, strerror(errno));
    } else {
        drudge_buf_add(&resp->body, data, n);
    }
    resp->size = n;
    lua_settop(L, top);
}

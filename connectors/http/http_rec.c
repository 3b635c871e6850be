/* http_rec.c: what drudge.http records for each try, and reading a
 * response back from that JSON (push builds the Lua response from it, the
 * same in live and replay).
 *
 * Request JSON, deterministic so replay can compare it byte for byte:
 *   {"method":"POST","url":"https://h/p?q=1","headers":{"Authorization":"[REDACTED:authorization]"},
 *    "body":"..."}   or "body_sha256":"..","size":N   or "multipart":[{...}]
 * Response JSON:
 *   {"status":200,"url":"https://h/p","headers":[["Content-Type","text/plain"],...],
 *    "size":N,"body":"..."}  or "body_sha256":".." (a payload, or "body_stored":false)
 *   {"error":"Failed to connect ...","curl_code":7} for a transport failure,
 *   plus "retry_in":S when another try follows (added by the call path).
 * Bodies are inline when they are UTF-8 text no longer than inline_max,
 * stored as a payload (by SHA-256) up to record_max, else only hashed.
 * Header values are written as received: the recorder replaces those of
 * credential headers (Set-Cookie, ...) by [REDACTED:name] on the way in, and
 * the live script sees the real ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <lauxlib.h>
#include "drudge/call.h"
#include "drudge/host.h"
#include "drudge/json.h"
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

/* A response body: inline when it is short text, else as bytes, stored
 * with the response's content type (looked up only then: most bodies are
 * inline). */
static void response_body(drudge_call_ctx *c, const http_resp *resp, const char *data, size_t n,
                          size_t inline_max, size_t record_max)
{
    if (n <= inline_max && drudge_http_utf8_valid(data, n)) {
        drudge_call_lstr(c, "body", data, n);
        return;
    }
    size_t ctlen = 0;
    const char *ct = find_header(&resp->headers, "content-type", &ctlen);
    char ctype[128];
    snprintf(ctype, sizeof ctype, "%.*s", (int)(ct ? ctlen : 0), ct ? ct : "");
    drudge_call_bytes(c, "body_sha256", data, n, ctype, n <= record_max);
}

/* "headers": [["Name","value"], ...] from the raw header block. */
static void response_headers(drudge_buf *out, const drudge_buf *headers)
{
    drudge_buf_puts(out, "[");
    const char *p = headers->data, *end = p ? p + headers->len : NULL;
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
            drudge_buf_json_str(out, v, (size_t)(ve - v));
            drudge_buf_puts(out, "]");
        }
        p = eol + 1;
    }
    drudge_buf_puts(out, "]");
}

void http_rec_error(drudge_call_ctx *c, const http_resp *resp)
{
    drudge_call_fail(c, DRUDGE_ECONNECT, "%s", resp->error);
    drudge_call_int(c, "curl_code", (int)resp->code);
}

void http_rec_response(drudge_call_ctx *c, const http_req *req, const http_resp *resp,
                       drudge_rec *rec)
{
    register_cookies(rec, &resp->cookies);
    drudge_call_int(c, "status", resp->status);
    if (strchr(resp->url, '@') || strchr(resp->url, '#')) {
        drudge_buf u = {0};
        drudge_http_redact_url(resp->url, &u);
        drudge_call_lstr(c, "url", u.data ? u.data : "", u.len);
        drudge_buf_free(&u);
    } else {
        drudge_call_str(c, "url", resp->url);
    }
    response_headers(drudge_call_value(c, "headers"), &resp->headers);
    drudge_call_int(c, "size", (int64_t)resp->size);
    if (!req->output) {
        response_body(c, resp, resp->body.data ? resp->body.data : "", resp->body.len,
                      req->inline_max, req->record_max);
        return;
    }
    /* The file's bytes, read back only when small enough to keep. */
    size_t n = 0;
    char *data = resp->size <= req->record_max ? drudge_read_file(req->output, &n) : NULL;
    if (data && n == resp->size) {
        response_body(c, resp, data, n, 0, req->record_max);
    } else {
        drudge_call_str(c, "body_sha256", resp->sha256);
        drudge_call_bool(c, "body_stored", 0);
    }
    free(data);
}

static int is_key(const char *k, size_t klen, const char *name)
{
    return klen == strlen(name) && !memcmp(k, name, klen);
}

int http_rec_read(const char *json, size_t len, http_rec_view *v)
{
    drudge_json_iter it;
    const char *k, *val;
    size_t klen, vlen;
    int more;
    memset(v, 0, sizeof *v);
    if (drudge_json_iter_init(&it, json, len) != 0)
        return -1;
    for (more = drudge_json_iter_next(&it, &k, &klen, &val, &vlen); more == 1;
         more = drudge_json_iter_next(&it, &k, &klen, &val, &vlen)) {
        if (is_key(k, klen, "status")) {
            v->status = strtol(val, NULL, 10);
        } else if (is_key(k, klen, "size")) {
            v->size = strtoll(val, NULL, 10);
        } else if (is_key(k, klen, "url")) {
            v->url = val, v->url_len = vlen;
        } else if (is_key(k, klen, "headers")) {
            v->headers = val, v->headers_len = vlen;
        } else if (is_key(k, klen, "body")) {
            v->body = val, v->body_len = vlen;
        } else if (is_key(k, klen, "body_sha256") && vlen == 66) {
            memcpy(v->sha256, val + 1, 64);
            v->sha256[64] = '\0';
        }
    }
    /* No url: a hand-written answer (runner/work/casetest.c); the caller
     * takes the request's. */
    return more == 0 ? 0 : -1;
}

/* Writes the string literal s[0..n) unescaped at *o, moving *o on. */
static int put_unescaped(char **o, const char *s, size_t n)
{
    size_t k = drudge_json_unescape(s, n, *o);
    if (k == (size_t)-1)
        return -1;
    *o += k;
    return 0;
}

/* One ["Name","value"] element as "Name: value\r\n" at *o. */
static int put_header(char **o, const char *el, size_t ellen)
{
    drudge_json_iter pair;
    const char *k, *name, *value;
    size_t klen, nlen, vlen;
    if (drudge_json_iter_init(&pair, el, ellen) != 0 ||
        drudge_json_iter_next(&pair, &k, &klen, &name, &nlen) != 1 ||
        drudge_json_iter_next(&pair, &k, &klen, &value, &vlen) != 1 ||
        put_unescaped(o, name, nlen) != 0)
        return -1;
    memcpy(*o, ": ", 2);
    *o += 2;
    if (put_unescaped(o, value, vlen) != 0)
        return -1;
    memcpy(*o, "\r\n", 2);
    *o += 2;
    return 0;
}

int http_rec_raw_headers(const http_rec_view *v, drudge_buf *out)
{
    drudge_json_iter list;
    const char *k, *el;
    size_t klen, ellen;
    drudge_buf_reset(out);
    if (!v->headers || drudge_json_iter_init(&list, v->headers, v->headers_len) != 0)
        return 0;
    /* Each ["N","v"] (7 bytes around name and value) becomes "N: v\r\n" (4),
     * and unescaping never lengthens: the array's size is room enough. */
    drudge_buf_add(out, v->headers, v->headers_len);
    char *o = out->data;
    int more;
    for (more = drudge_json_iter_next(&list, &k, &klen, &el, &ellen); more == 1;
         more = drudge_json_iter_next(&list, &k, &klen, &el, &ellen)) {
        /* {"Name": "value", ...}: the form a hand-written answer may use. */
        if (k && *el == '"') {
            if (put_unescaped(&o, k - 1, klen + 2) != 0)
                return -1;
            memcpy(o, ": ", 2);
            o += 2;
            if (put_unescaped(&o, el, ellen) != 0)
                return -1;
            memcpy(o, "\r\n", 2);
            o += 2;
        } else if (put_header(&o, el, ellen) != 0) {
            return -1;
        }
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
    return more;
}

/* wd.c: a W3C WebDriver client: HTTP and JSON over libcurl, one easy handle
 * per session so every command reuses the same keep-alive connection to
 * chromedriver on the loopback. WebDriver answers every command with
 * {"value": ...}; an error is {"value":{"error":CODE,"message":...}} with an
 * HTTP status of 4xx or 5xx. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "browserint.h"
#include "drudge/json.h"

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    drudge_buf_add(ud, p, size * n);
    return size * n;
}

drudge_code wd_init(wd_conn *w, int port, drudge_err *err)
{
    memset(w, 0, sizeof *w);
    w->curl = curl_easy_init();
    if (!w->curl)
        return drudge_seterr(err, DRUDGE_ENOMEM, "browser: cannot make a curl handle");
    snprintf(w->base, sizeof w->base, "http://127.0.0.1:%d", port);
    w->hdrs = curl_slist_append(NULL, "Content-Type: application/json; charset=utf-8");
    w->hdrs = curl_slist_append(w->hdrs, "Expect:");
    curl_easy_setopt(w->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(w->curl, CURLOPT_WRITEDATA, &w->resp);
    curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, w->hdrs);
    curl_easy_setopt(w->curl, CURLOPT_PROXY, ""); /* the driver is local: no proxy from the env */
    curl_easy_setopt(w->curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(w->curl, CURLOPT_TCP_NODELAY, 1L);
    return DRUDGE_OK;
}

void wd_moved(wd_conn *w)
{
    if (w->curl)
        curl_easy_setopt(w->curl, CURLOPT_WRITEDATA, &w->resp);
}

void wd_free(wd_conn *w)
{
    if (w->curl)
        curl_easy_cleanup(w->curl);
    curl_slist_free_all(w->hdrs);
    drudge_buf_free(&w->url);
    drudge_buf_free(&w->resp);
    memset(w, 0, sizeof *w);
}

const char *wd_json_member(const char *obj, size_t len, const char *key, size_t *vlen)
{
    drudge_json_iter it;
    const char *k, *v;
    size_t klen;
    if (!obj || drudge_json_iter_init(&it, obj, len) != 0)
        return NULL;
    while (drudge_json_iter_next(&it, &k, &klen, &v, vlen) == 1)
        if (k && klen == strlen(key) && !memcmp(k, key, klen))
            return v;
    return NULL;
}

int wd_json_str(const char *obj, size_t len, const char *key, char *out, size_t n)
{
    size_t vlen;
    const char *v = wd_json_member(obj, len, key, &vlen);
    if (!v || *v != '"' || n == 0)
        return -1;
    char *tmp = drudge_xmalloc(vlen + 1);
    size_t m = drudge_json_unescape(v, vlen, tmp);
    if (m == (size_t)-1) {
        free(tmp);
        return -1;
    }
    if (m >= n)
        m = n - 1;
    memcpy(out, tmp, m);
    out[m] = '\0';
    free(tmp);
    return 0;
}

/* The error codes that mean the browser or the driver is gone. */
static int fatal_error(const char *code, const char *msg)
{
    static const char *const gone[] = {"chrome not reachable",     "disconnected",
                                       "session deleted",          "tab crashed",
                                       "target crashed",           "cannot connect to chrome",
                                       "not connected to DevTools"};
    if (!strcmp(code, "invalid session id") || !strcmp(code, "session not created"))
        return 1;
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        if (strstr(msg, gone[i]))
            return 1;
    return 0;
}

/* Turns a WebDriver error answer into a code and a message. */
static drudge_code wd_error(wd_conn *w, long status, drudge_err *err)
{
    char msg[900] = "";
    w->error[0] = '\0';
    if (w->value) {
        wd_json_str(w->value, w->vlen, "error", w->error, sizeof w->error);
        wd_json_str(w->value, w->vlen, "message", msg, sizeof msg);
    }
    /* chromedriver adds "(Session info: chrome=...)" and a stack on more
     * lines: the first line is the message. */
    msg[strcspn(msg, "\n")] = '\0';
    char *info = strstr(msg, " (Session info");
    if (info)
        *info = '\0';
    if (!w->error[0])
        snprintf(w->error, sizeof w->error, "HTTP %ld", status);
    if (fatal_error(w->error, msg)) {
        w->dead = 1;
        return drudge_seterr(err, DRUDGE_ECONNECT, "the browser is gone (%s: %s)", w->error, msg);
    }
    drudge_code code = DRUDGE_EIO;
    if (!strncmp(w->error, "no such ", 8))
        code = DRUDGE_ENOTFOUND;
    else if (!strcmp(w->error, "stale element reference") ||
             !strcmp(w->error, "element not interactable") ||
             !strcmp(w->error, "element click intercepted") ||
             !strcmp(w->error, "unexpected alert open") ||
             !strcmp(w->error, "invalid element state"))
        code = DRUDGE_ESTATE;
    return drudge_seterr(err, code, "%s%s%s", w->error, msg[0] ? ": " : "", msg);
}

typedef struct give_up_ctx {
    wd_conn *w;
    char why[400];
} give_up_ctx;

/* libcurl's progress callback: called at least once a second while a
 * request waits for its answer. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    give_up_ctx *g = ud;
    return g->w->give_up(g->w->give_up_ud, g->why, sizeof g->why);
}

drudge_code wd_call(wd_conn *w, const char *method, const char *path, const char *body,
                    double timeout_s, drudge_err *err)
{
    give_up_ctx g = {w, ""};
    w->value = NULL;
    w->vlen = 0;
    w->error[0] = '\0';
    if (w->dead)
        return drudge_seterr(err, DRUDGE_ECONNECT, "the browser is gone (closed or crashed)");
    drudge_buf_reset(&w->url);
    drudge_buf_puts(&w->url, w->base);
    if (path[0] == '=')
        drudge_buf_puts(&w->url, path + 1);
    else
        drudge_buf_printf(&w->url, "/session/%s%s", w->session, path);
    drudge_buf_reset(&w->resp);
    CURL *c = w->curl;
    curl_easy_setopt(c, CURLOPT_URL, w->url.data);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "{}");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body ? body : "{}"));
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    long ms = timeout_s > 0 ? (long)(timeout_s * 1000) + 1 : 1;
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, w->give_up ? 0L : 1L);
    if (w->give_up) {
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, &g);
    }
    w->calls++;
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_ABORTED_BY_CALLBACK) {
        w->dead = 1;
        return drudge_seterr(err, DRUDGE_ECONNECT, "%s", g.why);
    }
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return drudge_seterr(err, DRUDGE_EIO, "no answer from the browser within %.3g s",
                             timeout_s);
    if (cc != CURLE_OK) {
        w->dead = 1;
        return drudge_seterr(err, DRUDGE_ECONNECT, "the browser is gone (chromedriver: %s)",
                             curl_easy_strerror(cc));
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    w->value = wd_json_member(w->resp.data, w->resp.len, "value", &w->vlen);
    if (status >= 400)
        return wd_error(w, status, err);
    if (!w->value)
        return drudge_seterr(err, DRUDGE_EIO,
                             "chromedriver answered %s %s with no value (HTTP %ld)", method, path,
                             status);
    return DRUDGE_OK;
}

drudge_code wd_base64(const char *b64, size_t n, drudge_buf *out, drudge_err *err)
{
    /* OpenSSL's decoder (libcrypto is linked anyway): it wants whole
     * 4-character groups and counts the padding as zero bytes. */
    if (n % 4)
        return drudge_seterr(err, DRUDGE_EIO, "browser: the screenshot is not base64");
    size_t max = n / 4 * 3;
    out->data = drudge_xrealloc(out->data, max + 1);
    out->cap = max + 1;
    out->len = 0;
    int len = EVP_DecodeBlock((unsigned char *)out->data, (const unsigned char *)b64, (int)n);
    if (len < 0)
        return drudge_seterr(err, DRUDGE_EIO, "browser: the screenshot is not base64");
    while (n && b64[n - 1] == '=') {
        len--;
        n--;
    }
    out->len = (size_t)len;
    out->data[len] = '\0';
    return DRUDGE_OK;
}

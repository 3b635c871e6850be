/* http_xfer.c: the libcurl side of drudge.http: one easy handle per worker,
 * one share handle per process, and performing one try of a request.
 *
 * Connection reuse: each lua_State (one per worker thread) keeps its CURL
 * easy handle in a userdata in the registry, so keep-alive connections
 * survive from request to request and from task to task; lua_close frees it
 * through __gc. curl_easy_reset before each request drops the previous
 * call's options but keeps live connections, the DNS cache and cookies.
 * DNS entries and TLS sessions are shared by every worker through a CURLSH
 * guarded by one mutex per kind of data. Cookies are per task: the engine
 * is on, and the cookie list is wiped at the start of every attempt. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <lauxlib.h>
#include <openssl/evp.h>
#include "drudge/host.h"
#include "httpint.h"

typedef struct xfer_ctx {
    http_resp *resp;
    int fd; /* output file, or -1 */
    EVP_MD_CTX *sha;
    int write_error;
} xfer_ctx;

static CURLSH *share;
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
/* User-Agent and Accept-Encoding go out as ready-made header lines rather
 * than through CURLOPT_USERAGENT: curl formats that option into a header
 * with its own printf on every request (about 5,000 instructions, a tenth
 * of a keep-alive GET), and a header the list already has is not added
 * again. CURLOPT_ACCEPT_ENCODING stays set, which is what makes curl decode
 * the body; the encodings offered are the ones it was built to decode. */
static char accept_encoding[64];
static struct curl_slist *default_headers; /* for requests without headers of their own */
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
/* No proxy variable in the environment (read once: drudge never sets
 * them): every request then tells curl "no proxy" itself, which spares
 * curl five getenv calls per request looking for one (about 2,000
 * instructions of a keep-alive GET). With any of them set, curl reads
 * them as it always does. */
static int no_env_proxy;

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
    (void)h, (void)access, (void)ud;
    pthread_mutex_lock(&share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
    (void)h, (void)ud;
    pthread_mutex_unlock(&share_locks[data]);
}

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&share_locks[i], NULL);
    share = curl_share_init();
    if (share) {
        curl_share_setopt(share, CURLSHOPT_LOCKFUNC, share_lock);
        curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, share_unlock);
        curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    }
    /* curl's own list for "" (content_encoding.c): deflate, gzip, br, zstd */
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    snprintf(accept_encoding, sizeof accept_encoding, "Accept-Encoding: deflate, gzip%s%s",
             v->features & CURL_VERSION_BROTLI ? ", br" : "",
             v->features & CURL_VERSION_ZSTD ? ", zstd" : "");
    /* The variables curl 7.x and 8.x consult (url.c: detect_proxy and
     * the no_proxy check); the upper-case http one it ignores. */
    static const char *const proxy_vars[] = {"http_proxy", "https_proxy", "HTTPS_PROXY",
                                             "all_proxy",  "ALL_PROXY",   "no_proxy",
                                             "NO_PROXY",   "HTTP_PROXY",  NULL};
    no_env_proxy = 1;
    for (const char *const *pv = proxy_vars; *pv; pv++)
        if (getenv(*pv))
            no_env_proxy = 0;
    default_headers = curl_slist_append(NULL, HTTP_USER_AGENT_LINE);
    if (default_headers) {
        struct curl_slist *l = curl_slist_append(default_headers, accept_encoding);
        if (l)
            default_headers = l;
    }
}

const char *http_accept_encoding_line(void)
{
    pthread_once(&global_once, global_init);
    return accept_encoding;
}

void http_global_init(void)
{
    pthread_once(&global_once, global_init);
}

static void set_constant_options(CURL *c);

static int state_gc(lua_State *L)
{
    http_state *st = lua_touserdata(L, 1);
    http_req_free(&st->req);
    if (st->easy) {
        curl_easy_cleanup(st->easy);
        st->easy = NULL;
    }
    return 0;
}

static int state_close(lua_State *L)
{
    http_state *st = lua_touserdata(L, 1);
    st->busy = 0;
    return 0;
}

void http_state_hold(lua_State *L, http_state *st)
{
    lua_getfield(L, LUA_REGISTRYINDEX, HTTP_STATE_KEY);
    lua_toclose(L, -1);
    st->busy = 1;
}

http_state *http_state_get(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, HTTP_STATE_KEY) == LUA_TUSERDATA) {
        http_state *st = lua_touserdata(L, -1);
        lua_pop(L, 1);
        return st;
    }
    lua_pop(L, 1);
    http_global_init();
    http_state *st = lua_newuserdatauv(L, sizeof *st, 0);
    memset(st, 0, sizeof *st); /* safe for __gc before the handle exists */
    lua_newtable(L);
    lua_pushcfunction(L, state_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, state_close);
    lua_setfield(L, -2, "__close");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, HTTP_STATE_KEY);
    st->easy = curl_easy_init();
    if (!st->easy)
        luaL_error(L, "http: cannot create a curl handle (out of memory?)");
    /* Start the cookie engine, in memory only: adding a cookie starts it
     * (CURLOPT_COOKIEFILE "" would too, but curl 7.88 leaks that list when
     * no transfer follows), then the cookie goes. curl_easy_reset keeps the
     * engine running. */
    curl_easy_setopt(st->easy, CURLOPT_COOKIELIST, "Set-Cookie: drudge=1; domain=drudge.invalid");
    curl_easy_setopt(st->easy, CURLOPT_COOKIELIST, "ALL");
    set_constant_options(st->easy);
    return st;
}

/* The attempt hook: a new task starts with no cookies. */
void http_attempt_start(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, HTTP_STATE_KEY) == LUA_TUSERDATA) {
        http_state *st = lua_touserdata(L, -1);
        if (st->easy)
            curl_easy_setopt(st->easy, CURLOPT_COOKIELIST, "ALL");
    }
    lua_pop(L, 1);
}

/* Keeps the headers of the final response only: a new status line (after a
 * redirect or a 100 Continue) starts the list afresh. */
static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    xfer_ctx *x = ud;
    size_t len = size * n;
    if (len >= 5 && !memcmp(data, "HTTP/", 5)) {
        drudge_buf_reset(&x->resp->headers);
        return len;
    }
    if (len <= 2) /* the blank line ending the block */
        return len;
    if (len > 11 && !strncasecmp(data, "set-cookie:", 11))
        drudge_buf_add(&x->resp->cookies, data + 11, len - 11);
    drudge_buf_add(&x->resp->headers, data, len);
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    xfer_ctx *x = ud;
    size_t len = size * n;
    x->resp->size += len;
    if (x->fd < 0) {
        drudge_buf_add(&x->resp->body, data, len);
        return len;
    }
    EVP_DigestUpdate(x->sha, data, len);
    for (size_t off = 0; off < len;) {
        ssize_t w = write(x->fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            x->write_error = errno ? errno : EIO;
            return 0; /* curl stops with CURLE_WRITE_ERROR */
        }
        off += (size_t)w;
    }
    return len;
}

/* Options every request shares, set when the handle is new or reset. */
static void set_constant_options(CURL *c)
{
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_SHARE, share);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    if (no_env_proxy) { /* "": no proxy, and no environment to look in */
        curl_easy_setopt(c, CURLOPT_PROXY, "");
        curl_easy_setopt(c, CURLOPT_NOPROXY, "");
    }
}

/* Sets this request's options. A plain request (GET or POST of a body
 * without TLS, auth or proxy options) only overwrites the options every
 * request sets, which saves a reset and a dozen options per call; anything
 * else marks the handle dirty so that the next request starts from
 * curl_easy_reset. */
static void set_options(http_state *st, const http_req *req, xfer_ctx *x, double timeout)
{
    CURL *c = st->easy;
    if (st->dirty) {
        curl_easy_reset(c); /* keeps connections, DNS cache, TLS sessions, cookies */
        set_constant_options(c);
        st->dirty = 0;
        st->set.valid = 0;
    }
    curl_easy_setopt(c, CURLOPT_URL, req->url.data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000 + 0.5));
    double ct = req->connect_timeout < timeout ? req->connect_timeout : timeout;
    long connect_ms = (long)(ct * 1000 + 0.5), follow = req->follow ? 1L : 0L;
    int plain = !strcmp(req->method, "GET") && !req->body && !req->mime;
    /* Options left as the last request set them (a reset clears valid):
     * the error buffer lives as long as the handle, the default header
     * list for good; a request's own header list is unset after it. */
    int same = st->set.valid;
    if (!same)
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, st->errbuf);
    if (!same || st->set.connect_ms != connect_ms)
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    if (!same || st->set.follow != follow)
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, follow);
    if (!same || st->set.max_redirects != (long)req->max_redirects)
        curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)req->max_redirects);
    if (!same || req->headers)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, req->headers ? req->headers : default_headers);
    if (plain && !(same && st->set.get))
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    st->set.valid = 1;
    st->set.get = plain;
    st->set.connect_ms = connect_ms;
    st->set.follow = follow;
    st->set.max_redirects = (long)req->max_redirects;
    if (!plain || !req->verify_tls || req->ca_file || req->proxy || req->bearer || req->user)
        st->dirty = 1;
    if (!req->verify_tls) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (req->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, req->ca_file);
    if (req->proxy) {
        curl_easy_setopt(c, CURLOPT_PROXY, req->proxy);
        /* the header list is not sent to the proxy (CURLHEADER_SEPARATE) */
        curl_easy_setopt(c, CURLOPT_USERAGENT, HTTP_USER_AGENT);
    }
    if (req->bearer) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
        curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, req->bearer);
    } else if (req->user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, req->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, req->pass ? req->pass : "");
    }
    if (plain)
        return;
    if (req->mime) {
        curl_easy_setopt(c, CURLOPT_MIMEPOST, req->mime);
    } else if (req->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
    }
    int post_like = req->body || req->mime;
    if (!strcmp(req->method, "HEAD"))
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (!strcmp(req->method, "GET") && !post_like)
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    else if (strcmp(req->method, "POST") != 0 || !post_like)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    if (!strcmp(req->method, "POST") && !post_like) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
}

/* Opens "<output>.part" for the body; renamed into place when the transfer
 * completes. Case data: mode 0600. */
static int open_output(const http_req *req, http_resp *resp)
{
    char part[4096];
    snprintf(part, sizeof part, "%s.part", req->output);
    int fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        snprintf(resp->error, sizeof resp->error, "cannot write %.300s: %s", part, strerror(errno));
    return fd;
}

static void close_output(const http_req *req, xfer_ctx *x, http_resp *resp)
{
    char part[4096];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    snprintf(part, sizeof part, "%s.part", req->output);
    EVP_DigestFinal_ex(x->sha, md, &mdlen);
    drudge_hex(md, mdlen, resp->sha256);
    int bad = close(x->fd) != 0 || resp->code != CURLE_OK;
    if (!bad && rename(part, req->output) != 0) {
        snprintf(resp->error, sizeof resp->error, "cannot rename %.300s: %s", part,
                 strerror(errno));
        resp->code = CURLE_WRITE_ERROR;
        bad = 1;
    }
    if (bad)
        unlink(part);
}

CURLcode http_perform(lua_State *L, http_state *st, const http_req *req, http_resp *resp,
                      double timeout)
{
    CURL *c = st->easy;
    xfer_ctx x = {.resp = resp, .fd = -1};
    st->errbuf[0] = '\0';
    if (req->output) {
        x.fd = open_output(req, resp);
        if (x.fd < 0)
            return resp->code = CURLE_WRITE_ERROR;
        x.sha = EVP_MD_CTX_new();
        EVP_DigestInit_ex(x.sha, EVP_sha256(), NULL);
    }
    set_options(st, req, &x, timeout);
    resp->code = curl_easy_perform(c);
    if (resp->code != CURLE_OK && !resp->error[0]) {
        if (x.write_error)
            snprintf(resp->error, sizeof resp->error, "cannot write %s: %s", req->output,
                     strerror(x.write_error));
        else
            snprintf(resp->error, sizeof resp->error, "%s",
                     st->errbuf[0] ? st->errbuf : curl_easy_strerror(resp->code));
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    char *eff = NULL;
    curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff);
    resp->url = eff ? eff : req->url.data;
    curl_off_t total = 0;
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &total);
    resp->elapsed = (double)total / 1e6;
    if (x.fd >= 0) {
        close_output(req, &x, resp);
        EVP_MD_CTX_free(x.sha);
    }
    /* Options that point into this call's memory: dropped before it goes
     * (the next request sets its own, or the default list again). */
    if (req->headers) {
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
        st->set.valid = 0;
    }
    if (req->mime)
        curl_easy_setopt(c, CURLOPT_MIMEPOST, NULL);
    (void)L;
    return resp->code;
}

static void buf_empty(drudge_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void http_resp_reset(http_resp *resp)
{
    drudge_buf h = resp->headers, b = resp->body, u = resp->urlbuf, c = resp->cookies;
    memset(resp, 0, sizeof *resp);
    resp->headers = h, resp->body = b, resp->urlbuf = u, resp->cookies = c;
    buf_empty(&resp->headers);
    buf_empty(&resp->body);
    buf_empty(&resp->urlbuf);
    buf_empty(&resp->cookies);
}

void http_req_reset(http_req *req)
{
    curl_slist_free_all(req->headers);
    curl_mime_free(req->mime);
    drudge_buf bufs[7] = {req->url,         req->shown,   req->rec_headers, req->rec_mime,
                          req->rec_request, req->scratch, req->name};
    http_resp resp = req->resp;
    memset(req, 0, sizeof *req);
    req->url = bufs[0], req->shown = bufs[1], req->rec_headers = bufs[2];
    req->rec_mime = bufs[3], req->rec_request = bufs[4], req->scratch = bufs[5];
    req->name = bufs[6];
    buf_empty(&req->name);
    buf_empty(&req->scratch);
    buf_empty(&req->url);
    buf_empty(&req->shown);
    buf_empty(&req->rec_headers);
    buf_empty(&req->rec_mime);
    buf_empty(&req->rec_request);
    req->resp = resp;
    http_resp_reset(&req->resp);
}

void http_req_free(http_req *req)
{
    http_req_reset(req);
    drudge_buf_free(&req->url);
    drudge_buf_free(&req->shown);
    drudge_buf_free(&req->rec_headers);
    drudge_buf_free(&req->rec_mime);
    drudge_buf_free(&req->rec_request);
    drudge_buf_free(&req->scratch);
    drudge_buf_free(&req->name);
    http_resp_free(&req->resp);
}

void http_resp_free(http_resp *resp)
{
    drudge_buf_free(&resp->headers);
    drudge_buf_free(&resp->body);
    drudge_buf_free(&resp->urlbuf);
    drudge_buf_free(&resp->cookies);
}

/*
 * http.h: the web API connector (connectors/http*.c), `require "drudge.http"`.
 *
 * The Lua API is documented in scripts/README.md; this header holds the
 * parts C code and tests use directly: the process-wide per-host limits and
 * the small parsers and redaction rules the recorder relies on.
 *
 * Threads: every function here may be called from any worker thread. The
 * Lua side keeps one CURL easy handle per lua_State (one per worker) and a
 * CURLSH share handle per process for DNS and TLS sessions.
 */
#ifndef DRUDGE_HTTP_H
#define DRUDGE_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include "drudge/error.h"
#include "drudge/util.h"

/* --- per-host limits (connectors/http/http_limit.c) --- */

/* A host's rate limit (token bucket) and concurrency cap (counting
 * semaphore), shared by every worker of the process. Entries live until the
 * process exits, so a pointer stays valid. */
typedef struct drudge_http_limit drudge_http_limit;

/* Sets (or replaces) the limit for host ("cms.example" or "cms.example:8443";
 * case-insensitive). per_second <= 0 means no rate limit, concurrent <= 0 no
 * cap, burst < 1 means 1 (requests evenly spaced). */
drudge_code drudge_http_limit_set(const char *host, double per_second, int concurrent, int burst,
                                  drudge_err *err);
/* Loads "host per_second=5 concurrent=2 burst=1" lines ('#' comments) from
 * path. Errors name the file and line. */
drudge_code drudge_http_limits_load(const char *path, drudge_err *err);
/* Waits (at most max_wait seconds) for a slot for host:port and takes it.
 * *slot is NULL when no limit applies; otherwise release it with
 * drudge_http_limit_release once the request is over. *waited (may be NULL)
 * gets the seconds spent waiting. DRUDGE_ECONNECT when the wait would pass
 * max_wait. */
drudge_code drudge_http_limit_acquire(const char *host, int port, double max_wait,
                                      drudge_http_limit **slot /* OUT */, double *waited,
                                      drudge_err *err);
void drudge_http_limit_release(drudge_http_limit *slot);
/* Forgets every limit (tests). */
void drudge_http_limits_clear(void);

/* --- helpers (connectors/http/http_body.c, http_rec.c) --- */

/* Seconds to wait from a Retry-After value: delta-seconds ("120") or an
 * HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT") relative to now_us (wall
 * clock). A date in the past gives 0. -1 when the value is neither. */
double drudge_http_retry_after(const char *value, int64_t now_us);
/* 1 if a header's value must never be recorded (Authorization, Cookie,
 * Set-Cookie, Proxy-Authorization; case-insensitive). */
int drudge_http_header_is_secret(const char *name, size_t len);
/* Appends url to out with any userinfo ("user:pass@") replaced by
 * "[REDACTED]@" and the fragment dropped. */
void drudge_http_redact_url(const char *url, drudge_buf *out);
/* 1 if the n bytes at s are valid UTF-8 with no NUL byte. */
int drudge_http_utf8_valid(const char *s, size_t n);

/* --- a JSON POST outside scripts (connectors/http/http_post.c) --- */

/* The runner's notifications (runner/work/notify.c) reach a webhook
 * through this, looked up by name in drudge_http.so. */
typedef struct drudge_http_post {
    const char *url;  /* http:// or https:// only */
    const char *body; /* JSON */
    size_t len;
    const char *bearer;         /* Authorization: Bearer TOKEN, or NULL */
    const char *const *headers; /* more "Name: value" lines, NULL-terminated, or NULL */
    double timeout_s;           /* the whole request; 0: 30 s (connecting: 10 s at most) */
} drudge_http_post;
/* POSTs p->body. DRUDGE_OK for a 2xx answer; else DRUDGE_ECONNECT with
 * "HTTP 503: the reply's first bytes" or libcurl's reason, and *status the
 * HTTP status (0: no answer). */
drudge_code drudge_http_post_json(const drudge_http_post *p, long *status /* OUT */,
                                  drudge_err *err);
typedef drudge_code (*drudge_http_post_json_fn)(const drudge_http_post *p, long *status,
                                                drudge_err *err);

#endif

/* httpint.h: internals shared by the http connector's files. */
#ifndef DRUDGE_HTTPINT_H
#define DRUDGE_HTTPINT_H

#include <curl/curl.h>
#include <lua.h>
#include "connectors/http/http.h"
#include "drudge/call.h"
#include "drudge/record.h"
#include "drudge/util.h"

#define HTTP_RESPONSE_MT  "drudge.http.response"
#define HTTP_REQ_MT       "drudge.http.req"
#define HTTP_STATE_KEY    "drudge.http.state"
#define HTTP_MAX_RETRY_ON 16

typedef struct http_retry {
    int attempts; /* total tries, 1 = no retry */
    int on[HTTP_MAX_RETRY_ON], non;
    double backoff;   /* seconds before the 2nd try; doubles each time */
    double max_delay; /* no single wait longer than this */
    int errors;       /* retry transport errors (idempotent requests only) */
} http_retry;

/* One try's result. */
typedef struct http_resp {
    long status;
    drudge_buf headers; /* raw header lines of the final response, "Name: value\r\n" */
    drudge_buf body;
    drudge_buf cookies; /* Set-Cookie values of every response, redirects included */
    size_t size;        /* body bytes (also when written to a file) */
    char sha256[65];    /* of the body, set for output files */
    const char *url;    /* effective URL: curl's (valid until the next transfer) or urlbuf */
    drudge_buf urlbuf;
    double elapsed;
    CURLcode code; /* CURLE_OK or the transport error */
    char error[CURL_ERROR_SIZE + 256];
} http_resp;

/* One call's request, parsed from the Lua options. It lives in the worker's
 * http_state (or, to validate defaults, in a userdata with __gc), so an
 * error raised midway leaks nothing. Plain const char * fields point into Lua strings that stay
 * on the stack for the whole call. */
typedef struct http_req {
    const char *method;
    char method_buf[16];
    drudge_buf url;   /* as sent, with the query appended */
    drudge_buf shown; /* url with userinfo redacted: for names and messages */
    char host[256];
    int port;
    struct curl_slist *headers; /* owned */
    drudge_buf rec_headers;     /* JSON object of the request headers, redacted */
    const char *body;
    size_t body_len;
    int body_is_text;
    curl_mime *mime;         /* owned; multipart bodies */
    drudge_buf rec_mime;     /* JSON array describing the parts */
    const char *bearer;      /* auth = { bearer = token } */
    const char *user, *pass; /* auth = { basic = { user, pass } } */
    double timeout, connect_timeout;
    int follow, max_redirects, verify_tls, raise, idempotent;
    const char *ca_file, *proxy;
    const char *output; /* confined path, or NULL */
    http_retry retry;
    size_t inline_max, record_max;
    drudge_buf scratch;     /* query and body encoding (owned here: encoders may raise) */
    drudge_buf rec_request; /* the request JSON, built once for every try */
    drudge_buf name;        /* "GET https://..." (shown), the step's name */
    http_resp resp;         /* the current try's response */
} http_req;

/* http_body.c */
void http_urlencode(drudge_buf *b, const char *s, size_t n);
/* Appends the table at idx as "k=v&k=v" with sorted keys; values may be
 * strings, numbers, booleans or arrays of them (repeated keys). Raises on
 * other values, naming `what`. */
void http_encode_pairs(lua_State *L, int idx, drudge_buf *b, const char *what);
/* Appends the value at idx as canonical JSON (object keys sorted, so the
 * same value gives the same bytes). Raises naming `what` on values JSON
 * cannot hold. */
void http_json_canon(lua_State *L, int idx, drudge_buf *b, const char *what);

/* http_xfer.c */
/* Frees what req owns and empties it, keeping its buffers' memory. */
/* http_headers.c: the final response's header block as curl delivered it
 * ("Name: value" lines; raw_headers), read into Lua. Every reader walks it
 * with http_header_next, so they agree on what a field is. */
typedef struct http_field {
    const char *name, *value; /* not NUL-terminated; value trimmed of blanks and CR */
    size_t nl, vn;
} http_field;
/* The next "name: value" line from *p (lines without a colon are skipped);
 * 0 at end. */
int http_header_next(const char **p, const char *end, http_field *f);
/* Registers the metatable of r.headers (case-insensitive lookup). */
void http_headers_register(lua_State *L);
/* Pushes r.headers: lower-case name -> value; repeated fields joined with
 * ", " (RFC 9110 5.3), except Set-Cookie, which keeps the first. */
void http_push_headers(lua_State *L, const char *raw, size_t len);
/* Pushes the array of every value of the field name, in order. */
void http_push_header_all(lua_State *L, const char *raw, size_t len, const char *name, size_t nl);
/* Pushes r.links, relation -> URL from the Link fields (RFC 8288),
 * resolved against base, the response's URL. */
void http_push_links(lua_State *L, const char *raw, size_t len, const char *base);

void http_req_reset(http_req *req);
void http_req_free(http_req *req);

/* A worker's transfer state, a userdata in its lua_State's registry. Its
 * request is reused call after call; each call starts by resetting it, and
 * __gc frees it. Calls can nest only through metamethods of the options
 * tables (an __index in Lua calling http.get): a nested call finds the state
 * busy and uses a request of its own. */
typedef struct http_state {
    CURL *easy;
    http_req req;
    char errbuf[CURL_ERROR_SIZE];
    int dirty; /* the last request set options beyond the common ones */
    int busy;  /* req is in use by a call (cleared by __close, also on errors) */
    /* What the handle holds since its last reset (valid: set since then),
     * so a run of plain GETs sets only what changes: each curl_easy_setopt
     * is about 90 instructions, and a keep-alive GET made thirteen. */
    struct {
        int valid, get;
        long follow, max_redirects, connect_ms;
    } set;
} http_state;

/* Marks st busy until the calling C function returns or raises (pushes the
 * state as a to-be-closed value). */
void http_state_hold(lua_State *L, http_state *st);
http_state *http_state_get(lua_State *L); /* creates it on first use */
void http_global_init(void);
#define HTTP_USER_AGENT      "drudge/" DRUDGE_VERSION
#define HTTP_USER_AGENT_LINE "User-Agent: " HTTP_USER_AGENT
/* "Accept-Encoding: ..." with what this libcurl decodes. */
const char *http_accept_encoding_line(void);
/* Performs one try. Fills *resp; returns resp->code. */
CURLcode http_perform(lua_State *L, http_state *st, const http_req *req, http_resp *resp,
                      double timeout_cap);
void http_resp_free(http_resp *resp);
/* Empties resp for the next try, keeping its buffers' memory. */
void http_resp_reset(http_resp *resp);
void http_attempt_start(lua_State *L);

/* http_rec.c */
/* Registers the secret parts of a header value (the whole value, and the
 * token after an auth scheme) with the recorder, so that echoes of it in
 * bodies are redacted too. */
void http_rec_secret_header(drudge_rec *rec, const char *label, const char *value);
void http_rec_request(http_req *req, drudge_rec *rec);
/* The response of a try, into the call's response (live). */
void http_rec_response(drudge_call_ctx *c, const http_req *req, const http_resp *resp,
                       drudge_rec *rec);
/* A transport failure: "error" and "curl_code". */
void http_rec_error(drudge_call_ctx *c, const http_resp *resp);

/* A response read back from its JSON (live as built, or as recorded):
 * spans of the JSON text, string literals with their quotes. */
typedef struct http_rec_view {
    long status;
    int64_t size;
    const char *url, *headers, *body; /* body NULL: it is in a payload, sha256 */
    size_t url_len, headers_len, body_len;
    char sha256[65]; /* "" if none */
} http_rec_view;
/* 0, or -1 if json is no response of a try. */
int http_rec_read(const char *json, size_t len, http_rec_view *v);
/* The header lines "Name: value\r\n" into out; -1 if malformed. */
int http_rec_raw_headers(const http_rec_view *v, drudge_buf *out);

#endif

/*
 * room.c: the control room's server (`drudge serve`): libmicrohttpd, one
 * thread per connection, TLS when given a certificate; routing of each
 * request to the API (room_api.c) or a page (room_pages.c) after room_auth.c
 * has said who asks and whether the route allows it. The store is one
 * connection, used by one request at a time (room_lock): a page's reads are
 * a few indexed queries, and a slow client only holds its own thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>
#include "logs/audit/audit.h"
#include "runner/room/roomint.h"

#define MAX_BODY (4 << 20) /* a bulk enqueue of a few thousand tasks */

int room_role_perms(const char *role)
{
    if (!role)
        return 0;
    if (!strcmp(role, "viewer"))
        return ROOM_SEE;
    if (!strcmp(role, "operator"))
        return ROOM_SEE | ROOM_DATA | ROOM_ACT;
    if (!strcmp(role, "auditor"))
        return ROOM_SEE | ROOM_DATA | ROOM_FULL;
    if (!strcmp(role, "admin"))
        return ROOM_SEE | ROOM_DATA | ROOM_ACT | ROOM_USERS;
    return 0;
}

int drudge_room_role_valid(const char *role)
{
    return room_role_perms(role) != 0;
}

/* ---- answering ---- */

void room_header(room_req *q, const char *name, const char *fmt, ...)
{
    if (q->nheaders >= (int)(sizeof q->headers / sizeof q->headers[0]))
        return;
    drudge_buf b = {0};
    va_list ap;
    drudge_buf_printf(&b, "%s: ", name);
    va_start(ap, fmt);
    char v[1024];
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    drudge_buf_puts(&b, v);
    q->headers[q->nheaders++] = drudge_buf_take(&b);
}

void room_json_error(room_req *q, unsigned status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    drudge_buf_reset(&q->out);
    drudge_buf_puts(&q->out, "{\"error\":");
    drudge_buf_json_str(&q->out, msg, strlen(msg));
    drudge_buf_printf(&q->out, ",\"status\":%u}\n", status);
    q->status = status;
    q->type = "application/json";
}

unsigned room_status_for(drudge_code code)
{
    switch (code) {
    case DRUDGE_OK:
        return 200;
    case DRUDGE_ENOTFOUND:
        return 404;
    case DRUDGE_ESTATE:
        return 409;
    case DRUDGE_EINPUT:
    case DRUDGE_EUSAGE:
        return 400;
    case DRUDGE_EBUSY:
        return 503;
    default:
        return 500;
    }
}

void room_json_fail(room_req *q, const drudge_err *err)
{
    room_json_error(q, room_status_for(err->code), "%s", err->msg);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Finds name in an a=b&c=d string and URL-decodes its value. */
static int urlencoded_get(const char *s, size_t len, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    const char *p = s, *end = s + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        if ((size_t)(e - p) > nl && !memcmp(p, name, nl) && p[nl] == '=') {
            size_t o = 0;
            for (const char *v = p + nl + 1; v < e && o + 1 < n; v++) {
                if (*v == '+')
                    out[o++] = ' ';
                else if (*v == '%' && e - v > 2 && hexval(v[1]) >= 0 && hexval(v[2]) >= 0) {
                    out[o++] = (char)(hexval(v[1]) * 16 + hexval(v[2]));
                    v += 2;
                } else
                    out[o++] = *v;
            }
            out[o] = '\0';
            return 0;
        }
        if ((size_t)(e - p) == nl && !memcmp(p, name, nl)) {
            out[0] = '\0';
            return 0;
        }
        p = e + 1;
    }
    return -1;
}

int room_query(const room_req *q, const char *name, char *out, size_t n)
{
    return urlencoded_get(q->query, strlen(q->query), name, out, n);
}

int room_form(const room_req *q, const char *name, char *out, size_t n)
{
    if (!q->content_type || strncmp(q->content_type, "application/x-www-form-urlencoded", 33))
        return -1;
    return urlencoded_get(q->body ? q->body : "", q->body_len, name, out, n);
}

void room_html(drudge_buf *b, const char *s)
{
    drudge_buf_html(b, s, SIZE_MAX);
}

void room_lock(room_req *q)
{
    pthread_mutex_lock(&q->r->lock);
}

void room_unlock(room_req *q)
{
    pthread_mutex_unlock(&q->r->lock);
}

void room_fmt_time(int64_t us, char out[32])
{
    if (!us) {
        out[0] = '\0';
        return;
    }
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm);
}

/* ---- routing ---- */

/* Whether path matches the route's pattern; *arg gets the {x} segment. */
static int match(const char *pattern, const char *path, char *arg, size_t n)
{
    const char *p = pattern, *s = path;
    arg[0] = '\0';
    while (*p && *s) {
        if (*p == '{') {
            const char *pe = strchr(p, '}');
            const char *se = strchr(s, '/');
            size_t len = se ? (size_t)(se - s) : strlen(s);
            if (!pe || !len || len >= n)
                return 0;
            memcpy(arg, s, len);
            arg[len] = '\0';
            p = pe + 1;
            s += len;
            continue;
        }
        if (*p != *s)
            return 0;
        p++;
        s++;
    }
    return !*p && !*s;
}

void drudge_room_routes(drudge_buf *out)
{
    const room_route *tables[] = {room_api_routes, room_page_routes};
    for (size_t t = 0; t < 2; t++)
        for (const room_route *r = tables[t]; r->method; r++)
            drudge_buf_printf(out, "%s %s\n", r->method, r->path);
}

static int is_api(const char *path)
{
    return !strncmp(path, "/api/", 5);
}

/* Refuses a request that may not go on: 401 (nobody) or 403 (not this role). */
static void refuse(room_req *q, unsigned status, const char *why)
{
    if (is_api(q->path)) {
        room_json_error(q, status, "%s", why);
        return;
    }
    if (status == 403) {
        room_page_refused(q, why);
        return;
    }
    q->status = 303; /* a page without a login: to the login page */
    q->type = "text/plain";
    drudge_buf_puts(&q->out, "log in first\n");
    room_header(q, "Location", "/login");
}

static void dispatch(room_req *q)
{
    const room_route *tables[] = {room_api_routes, room_page_routes};
    char arg[256];
    int path_known = 0;
    for (size_t t = 0; t < 2; t++) {
        for (const room_route *rt = tables[t]; rt->method; rt++) {
            if (!match(rt->path, q->path, arg, sizeof arg))
                continue;
            path_known = 1;
            if (strcmp(rt->method, q->method) &&
                !(!strcmp(rt->method, "GET") && !strcmp(q->method, "HEAD")))
                continue;
            q->arg = arg[0] ? arg : NULL;
            if (!(rt->perms & ROOM_ANYONE)) {
                if (!room_auth_identify(q))
                    return refuse(q, 401,
                                  "not logged in: log in at /login, or send an API token as "
                                  "'Authorization: Bearer TOKEN'");
                if (!(q->perms & rt->perms)) {
                    char why[256];
                    snprintf(why, sizeof why, "the role %s may not %s", q->user.role, rt->what);
                    return refuse(q, 403, why);
                }
                if (strcmp(q->method, "GET") && strcmp(q->method, "HEAD") && !room_auth_csrf_ok(q))
                    return refuse(q, 403,
                                  "a change through a session needs the session's CSRF token "
                                  "(header X-CSRF-Token or form field csrf)");
            }
            rt->fn(q);
            return;
        }
    }
    if (path_known)
        room_json_error(q, 405, "%s is not allowed on %s", q->method, q->path);
    else
        room_json_error(q, 404, "no such page or endpoint: %s", q->path);
}

/* ---- the server ---- */

typedef struct upload {
    drudge_buf body;
    int too_big;
} upload;

static const char *hdr(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static void remote_of(struct MHD_Connection *c, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, n, "?");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)n);
}

static enum MHD_Result send_answer(struct MHD_Connection *conn, room_req *q)
{
    struct MHD_Response *resp;
    if (q->stream) {
        if (!(resp = room_live_response(q)))
            return MHD_NO;
        /* Not to be held back by a buffering proxy (nginx). */
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    } else {
        size_t len = q->out.len;
        char *body = drudge_buf_take(&q->out);
        if (!body)
            body = drudge_xstrdup("");
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
            free(body);
            return MHD_NO;
        }
    }
    MHD_add_response_header(resp, "Content-Type", q->type ? q->type : "text/plain");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", q->frame_self ? "SAMEORIGIN" : "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            q->csp ? q->csp
                                   : "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                     "script-src 'self'; frame-ancestors 'none'");
    for (int i = 0; i < q->nheaders; i++) {
        char *colon = strchr(q->headers[i], ':');
        if (!colon)
            continue;
        *colon = '\0';
        MHD_add_response_header(resp, q->headers[i], colon + 2);
    }
    enum MHD_Result ret = MHD_queue_response(conn, q->status ? q->status : 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Re-encodes one decoded query argument as name=value& (percent-encoding
 * what must be), so handlers read the query one way: room_query. */
static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    drudge_buf *b = cls;
    (void)kind;
    if (b->len)
        drudge_buf_puts(b, "&");
    const char *parts[2] = {key, value ? value : ""};
    for (int i = 0; i < 2; i++) {
        if (i)
            drudge_buf_puts(b, "=");
        for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++) {
            if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                *p == '-' || *p == '_' || *p == '.' || *p == '~')
                drudge_buf_add(b, p, 1);
            else
                drudge_buf_printf(b, "%%%02X", *p);
        }
    }
    return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *data_size, void **con_cls)
{
    room *r = cls;
    upload *up = *con_cls;
    (void)version;
    if (!up) {
        up = drudge_xmalloc(sizeof *up);
        memset(up, 0, sizeof *up);
        *con_cls = up;
        return MHD_YES;
    }
    if (*data_size) {
        if (up->body.len + *data_size > MAX_BODY)
            up->too_big = 1;
        else
            drudge_buf_add(&up->body, data, *data_size);
        *data_size = 0;
        return MHD_YES;
    }
    char remote[64];
    remote_of(conn, remote, sizeof remote);
    room_req q = {.r = r, .method = method, .remote = remote};
    char path[1024];
    snprintf(path, sizeof path, "%s", url);
    q.path = path;
    drudge_buf query = {0};
    q.body = up->body.data;
    q.body_len = up->body.len;
    q.content_type = hdr(conn, "Content-Type");
    q.auth_header = hdr(conn, "Authorization");
    q.cookie_header = hdr(conn, "Cookie");
    q.csrf_header = hdr(conn, "X-CSRF-Token");
    q.idem_header = hdr(conn, "Idempotency-Key");
    /* MHD hands the URL without its query: the arguments are encoded again. */
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &query);
    q.query = query.data ? query.data : "";
    drudge_audit_operator_origin("room", remote);
    if (up->too_big)
        room_json_error(&q, 413, "the request body is larger than %d bytes", MAX_BODY);
    else
        dispatch(&q);
    drudge_audit_operator_origin(NULL, NULL);
    if (!r->o->quiet)
        fprintf(stderr, "drudge serve: %s %s %s %u %s\n", remote, method, url,
                q.status ? q.status : 200, q.user.name ? q.user.name : "-");
    enum MHD_Result ret = send_answer(conn, &q);
    for (int i = 0; i < q.nheaders; i++)
        free(q.headers[i]);
    drudge_room_user_clear(&q.user);
    drudge_room_key_clear(&q.key);
    drudge_buf_free(&q.out);
    drudge_buf_free(&query);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    upload *up = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (up) {
        drudge_buf_free(&up->body);
        free(up);
        *con_cls = NULL;
    }
}

/* "127.0.0.1:8080", "[::1]:8080", ":8080" (loopback). */
static drudge_code parse_listen(const char *listen, struct sockaddr_storage *sa, socklen_t *len,
                                int *loopback, drudge_err *err)
{
    char host[128];
    const char *colon = strrchr(listen, ':'), *port_s = colon ? colon + 1 : listen;
    size_t hl = colon ? (size_t)(colon - listen) : 0;
    char *end;
    long port = strtol(port_s, &end, 10);
    if (!*port_s || *end || port < 0 || port > 65535 || hl >= sizeof host)
        return drudge_seterr(err, DRUDGE_EUSAGE,
                             "--listen '%s': want ADDR:PORT, e.g. 127.0.0.1:8080", listen);
    memcpy(host, listen, hl);
    host[hl] = '\0';
    if (!*host)
        strcpy(host, "127.0.0.1");
    memset(sa, 0, sizeof *sa);
    if (host[0] == '[' && hl > 1 && host[hl - 1] == ']') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)sa;
        host[hl - 1] = '\0';
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            goto bad;
        *len = sizeof *a6;
        *loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
        return DRUDGE_OK;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        goto bad;
    *len = sizeof *a4;
    *loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
    return DRUDGE_OK;
bad:
    return drudge_seterr(err, DRUDGE_EUSAGE,
                         "--listen '%s': '%s' is not an IP address (use 127.0.0.1, 0.0.0.0 or "
                         "[::1])",
                         listen, host);
}

static char *read_file(const char *opt, const char *path, drudge_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        drudge_seterr(err, DRUDGE_EIO, "%s %s: %s", opt, path, strerror(errno));
        return NULL;
    }
    drudge_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        drudge_buf_add(&b, chunk, n);
    fclose(f);
    if (!b.len) {
        drudge_seterr(err, DRUDGE_EINPUT, "%s %s: the file is empty", opt, path);
        drudge_buf_free(&b);
        return NULL;
    }
    return drudge_buf_take(&b);
}

static void new_redactor(room *r, const drudge_room_opts *o)
{
    r->redactor = drudge_rec_new();
    /* Operators see task data with e-mail addresses and National Insurance
     * numbers hidden, plus whatever the deployment's patterns hide. */
    drudge_rec_enable_builtin(r->redactor, "email");
    drudge_rec_enable_builtin(r->redactor, "uk_nino");
    if (o->redact) {
        drudge_err e = {0};
        if (drudge_rec_load_patterns(r->redactor, o->redact, &e))
            fprintf(stderr, "drudge serve: %s (operators see the built-in redaction only)\n",
                    e.msg);
    }
}

drudge_code drudge_room_serve(drudge_store *s, const drudge_room_opts *o, drudge_err *err)
{
    struct sockaddr_storage sa;
    socklen_t salen = 0;
    int loopback = 0, fd = -1;
    char *cert = NULL, *key = NULL;
    struct MHD_Daemon *d = NULL;
    room r = {.s = s, .o = o};
    drudge_code rc = parse_listen(o->listen, &sa, &salen, &loopback, err);
    if (rc)
        return rc;
    if ((o->tls_cert != NULL) != (o->tls_key != NULL))
        return drudge_seterr(err, DRUDGE_EUSAGE, "--tls-cert and --tls-key go together");
    if (!o->tls_cert && !loopback && !o->insecure_public)
        return drudge_seterr(err, DRUDGE_EUSAGE,
                             "--listen %s is not a loopback address: passwords and case data "
                             "would cross the network in clear; give --tls-cert and --tls-key, "
                             "or --insecure-public behind a TLS proxy",
                             o->listen);
    if (o->tls_cert) {
        if (!(cert = read_file("--tls-cert", o->tls_cert, err)) ||
            !(key = read_file("--tls-key", o->tls_key, err))) {
            rc = err->code;
            goto cleanup;
        }
        r.tls = 1;
    }
    pthread_mutex_init(&r.lock, NULL);
    pthread_mutex_init(&r.live_lock, NULL);
    pthread_mutex_init(&r.verify_lock, NULL);
    new_redactor(&r, o);
    /* Every thread the daemon starts inherits the mask: the signals wait
     * for sigwait below. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    int one = 1;
    fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(fd, (const struct sockaddr *)&sa, salen) || listen(fd, 64)) {
        rc = drudge_seterr(err, DRUDGE_EIO, "--listen %s: %s", o->listen, strerror(errno));
        goto cleanup;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) | (r.tls ? MHD_USE_TLS : 0);
    if (r.tls)
        d = MHD_start_daemon(flags, 0, NULL, NULL, handle, &r, MHD_OPTION_LISTEN_SOCKET, fd,
                             MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                             MHD_OPTION_CONNECTION_LIMIT, (unsigned)128, MHD_OPTION_HTTPS_MEM_CERT,
                             cert, MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
    else
        d = MHD_start_daemon(flags, 0, NULL, NULL, handle, &r, MHD_OPTION_LISTEN_SOCKET, fd,
                             MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                             MHD_OPTION_CONNECTION_LIMIT, (unsigned)128, MHD_OPTION_END);
    if (!d) {
        rc = drudge_seterr(err, DRUDGE_EIO, "--listen %s: cannot start the HTTP server%s",
                           o->listen, r.tls ? " (is the certificate and key pair valid PEM?)" : "");
        goto cleanup;
    }
    fd = -1; /* the daemon's now */
    /* The port actually bound (":0" picks one). */
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_LISTEN_FD);
    char addr[80] = "?";
    unsigned port = 0;
    if (di && !getsockname(di->listen_fd, (struct sockaddr *)&bound, &blen)) {
        if (bound.ss_family == AF_INET6) {
            char a[64];
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&bound)->sin6_addr, a, sizeof a);
            snprintf(addr, sizeof addr, "[%s]", a);
            port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
        } else {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&bound)->sin_addr, addr, sizeof addr);
            port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
        }
    }
    printf("drudge serve: %s://%s:%u/ (database %s)\n", r.tls ? "https" : "http", addr, port,
           drudge_store_name(s));
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "drudge serve: stopping (%s)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
cleanup:
    /* Event streams wait in their threads for the next event: they see
     * this within a tick and end, so the daemon can join them. */
    __atomic_store_n(&r.stopping, 1, __ATOMIC_RELEASE);
    if (d)
        MHD_stop_daemon(d);
    room_verify_stop(&r);
    free(r.live_status);
    if (fd >= 0)
        close(fd);
    if (r.redactor)
        drudge_rec_free(r.redactor);
    free(cert);
    free(key);
    return rc;
}

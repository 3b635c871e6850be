/*
 * text.c: a small HTTP server, on libmicrohttpd, that answers GET of one
 * path with text a callback of the caller's makes (`drudge work
 * --metrics-listen` serves /metrics with it: runner/work/metrics.c). Requests
 * are answered one at a time, from one thread, so the callback needs no
 * locking of its own.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>
#include "connectors/serve/serve.h"
#include "drudge/util.h"

struct drudge_text_server {
    struct MHD_Daemon *daemon;
    char *path, *content_type, *what;
    drudge_text_fn fn; /* called from the daemon's one thread */
    void *ud;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             char *body /* taken */)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    drudge_text_server *s = cls;
    (void)version;
    (void)upload;
    (void)con_cls;
    if (*upload_size)
        return MHD_NO; /* nothing here takes a body */
    drudge_buf b = {0};
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        drudge_buf_printf(&b, "only GET %s\n", s->path);
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", drudge_buf_take(&b));
    }
    if (strcmp(url, s->path)) {
        drudge_buf_printf(&b, "drudge serves its %s at %s\n", s->what, s->path);
        return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", drudge_buf_take(&b));
    }
    drudge_err err = {0};
    if (s->fn(s->ud, &b, &err)) {
        drudge_buf_free(&b);
        drudge_buf_printf(&b, "%s: %s\n", s->what, err.msg);
        return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", drudge_buf_take(&b));
    }
    if (!b.data)
        drudge_buf_puts(&b, "");
    return reply(conn, MHD_HTTP_OK, s->content_type, drudge_buf_take(&b));
}

/* "127.0.0.1:9464", "[::1]:9464", ":9464" or "9464" (loopback). */
static drudge_code parse_listen(const char *opt, const char *listen, struct sockaddr_storage *sa,
                                socklen_t *len, drudge_err *err)
{
    char host[128];
    const char *colon = strrchr(listen, ':'), *port_s = colon ? colon + 1 : listen;
    size_t hl = colon ? (size_t)(colon - listen) : 0;
    char *end;
    long port = strtol(port_s, &end, 10);
    if (!*port_s || *end || port < 1 || port > 65535 || hl >= sizeof host)
        return drudge_seterr(err, DRUDGE_EINPUT, "%s '%s': want ADDR:PORT, e.g. 127.0.0.1:9464",
                             opt, listen);
    memcpy(host, listen, hl);
    host[hl] = '\0';
    if (!*host)
        strcpy(host, "127.0.0.1");
    memset(sa, 0, sizeof *sa);
    if (host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)sa;
        host[hl - 1] = '\0';
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            goto bad_addr;
        *len = sizeof *a6;
        return DRUDGE_OK;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        goto bad_addr;
    *len = sizeof *a4;
    return DRUDGE_OK;
bad_addr:
    return drudge_seterr(err, DRUDGE_EINPUT,
                         "%s '%s': '%s' is not an IP address (use 127.0.0.1, 0.0.0.0 or [::1])",
                         opt, listen, host);
}

/* A socket bound to sa and listening, in *fd. We bind it ourselves: MHD
 * would not say why a bind failed. */
static drudge_code listen_on(const char *opt, const char *addr, const struct sockaddr_storage *sa,
                             socklen_t salen, int *fd, drudge_err *err)
{
    int one = 1;
    *fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*fd < 0 || setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(*fd, (const struct sockaddr *)sa, salen) || listen(*fd, 16))
        return drudge_seterr(err, DRUDGE_EIO, "%s %s: %s", opt, addr, strerror(errno));
    return DRUDGE_OK;
}

static void text_free(drudge_text_server *s)
{
    free(s->path);
    free(s->content_type);
    free(s->what);
    free(s);
}

drudge_code drudge_text_serve(const drudge_text_opts *o, drudge_text_server **out, drudge_err *err)
{
    struct sockaddr_storage sa;
    socklen_t salen = 0;
    int fd = -1;
    *out = NULL;
    drudge_code rc = parse_listen(o->option, o->listen, &sa, &salen, err);
    if (rc)
        return rc;
    drudge_text_server *s = drudge_xmalloc(sizeof *s);
    memset(s, 0, sizeof *s);
    s->path = drudge_xstrdup(o->path);
    s->content_type = drudge_xstrdup(o->content_type);
    s->what = drudge_xstrdup(o->what);
    s->fn = o->fn;
    s->ud = o->ud;
    rc = listen_on(o->option, o->listen, &sa, salen, &fd, err);
    if (rc)
        goto fail;
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
                                     (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                                 0, NULL, NULL, handle, s, MHD_OPTION_LISTEN_SOCKET, fd,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!s->daemon) {
        rc = drudge_seterr(err, DRUDGE_EIO, "%s %s: cannot start the HTTP server", o->option,
                           o->listen);
        goto fail;
    }
    *out = s;
    return DRUDGE_OK;
fail:
    if (fd >= 0)
        close(fd);
    text_free(s);
    return rc;
}

void drudge_text_stop(drudge_text_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon); /* joins its thread and closes the socket */
    text_free(s);
}

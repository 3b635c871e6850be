/*
 * metrics.c: the /metrics endpoint of `drudge work --metrics-listen
 * ADDR:PORT`, over libmicrohttpd. What it serves is the core's
 * (runner/work/metrics.c, which `drudge metrics` prints too); this module
 * only answers HTTP, from one thread with its own read-only connection and
 * a scraper that carries the step histogram from one scrape to the next.
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
#include "runner/work/metrics.h"
#include "drudge/util.h"

struct drudge_metrics_server {
    struct MHD_Daemon *daemon;
    drudge_store *db;  /* read-only; used only by the daemon's one thread */
    drudge_metrics *m; /* likewise: carried from scrape to scrape */
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
    drudge_metrics_server *s = cls;
    (void)version;
    (void)upload;
    (void)con_cls;
    if (*upload_size)
        return MHD_NO; /* nothing here takes a body */
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
                     drudge_xstrdup("only GET /metrics\n"));
    if (strcmp(url, "/metrics"))
        return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain",
                     drudge_xstrdup("drudge serves its metrics at /metrics\n"));
    drudge_buf b = {0};
    drudge_err err = {0};
    if (drudge_metrics_scrape(s->m, s->db, drudge_now_us(), &b, &err)) {
        drudge_buf_free(&b);
        drudge_buf_printf(&b, "metrics: %s\n", err.msg);
        return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", drudge_buf_take(&b));
    }
    return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                 drudge_buf_take(&b));
}

/* "127.0.0.1:9464", "[::1]:9464", ":9464" or "9464" (loopback). */
static drudge_code parse_listen(const char *listen, struct sockaddr_storage *sa, socklen_t *len,
                                drudge_err *err)
{
    char host[128];
    const char *colon = strrchr(listen, ':'), *port_s = colon ? colon + 1 : listen;
    size_t hl = colon ? (size_t)(colon - listen) : 0;
    char *end;
    long port = strtol(port_s, &end, 10);
    if (!*port_s || *end || port < 1 || port > 65535 || hl >= sizeof host)
        return drudge_seterr(err, DRUDGE_EINPUT,
                             "--metrics-listen '%s': want ADDR:PORT, e.g. 127.0.0.1:9464", listen);
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
                         "--metrics-listen '%s': '%s' is not an IP address (use 127.0.0.1, "
                         "0.0.0.0 or [::1])",
                         listen, host);
}

/* A socket bound to sa and listening, in *fd. We bind it ourselves: MHD
 * would not say why a bind failed. */
static drudge_code listen_on(const char *addr, const struct sockaddr_storage *sa, socklen_t salen,
                             int *fd, drudge_err *err)
{
    int one = 1;
    *fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*fd < 0 || setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(*fd, (const struct sockaddr *)sa, salen) || listen(*fd, 16))
        return drudge_seterr(err, DRUDGE_EIO, "--metrics-listen %s: %s", addr, strerror(errno));
    return DRUDGE_OK;
}

drudge_code drudge_metrics_serve(const char *db_path, const char *addr, drudge_metrics_server **out,
                                 drudge_err *err)
{
    struct sockaddr_storage sa;
    socklen_t salen = 0;
    int fd = -1;
    *out = NULL;
    drudge_code rc = parse_listen(addr, &sa, &salen, err);
    if (rc)
        return rc;
    drudge_metrics_server *s = calloc(1, sizeof *s);
    if (!s)
        return drudge_seterr(err, DRUDGE_ENOMEM, "out of memory");
    rc = drudge_store_open(db_path, DRUDGE_STORE_READONLY, &s->db, err);
    if (!rc)
        rc = listen_on(addr, &sa, salen, &fd, err);
    if (rc)
        goto fail;
    s->m = drudge_metrics_new();
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
                                     (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                                 0, NULL, NULL, handle, s, MHD_OPTION_LISTEN_SOCKET, fd,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!s->daemon) {
        rc = drudge_seterr(err, DRUDGE_EIO, "--metrics-listen %s: cannot start the HTTP server",
                           addr);
        goto fail;
    }
    *out = s;
    return DRUDGE_OK;
fail:
    if (fd >= 0)
        close(fd);
    drudge_metrics_free(s->m);
    drudge_store_close(s->db);
    free(s);
    return rc;
}

void drudge_metrics_stop(drudge_metrics_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon); /* joins its thread and closes the socket */
    drudge_store_close(s->db);
    drudge_metrics_free(s->m);
    free(s);
}

/*
 * serve.h: the HTTP servers of the "serve" module (drudge_serve.so, on
 * libmicrohttpd), reached from the binary through runner/host/serve.c: a
 * server of one text page (connectors/serve/text.c; `drudge work
 * --metrics-listen` serves /metrics with it). The demo's case service is in
 * demo.h.
 */
#ifndef DRUDGE_SERVE_H
#define DRUDGE_SERVE_H

#include "drudge/error.h"
#include "drudge/util.h"

/* Makes the page's text into out; an error is answered 500 with its message. */
typedef drudge_code (*drudge_text_fn)(void *ud, drudge_buf *out, drudge_err *err);

typedef struct drudge_text_opts {
    const char *listen;       /* "127.0.0.1:9464", "[::1]:9464", ":9464" (loopback) */
    const char *option;       /* the option that gave listen, for messages: "--metrics-listen" */
    const char *path;         /* "/metrics": the one path answered */
    const char *content_type; /* of the page */
    const char *what;         /* "metrics": what the page is, for messages */
    drudge_text_fn fn;        /* called for each GET, from the server's one thread */
    void *ud;
} drudge_text_opts;

/* Serves GET path on listen from a background thread until drudge_text_stop. */
typedef struct drudge_text_server drudge_text_server;
drudge_code drudge_text_serve(const drudge_text_opts *o, drudge_text_server **out /* OUT */,
                              drudge_err *err);
void drudge_text_stop(drudge_text_server *s);

#endif

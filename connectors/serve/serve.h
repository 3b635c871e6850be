/*
 * serve.h: the HTTP servers of the "serve" module (drudge_serve.so, on
 * libmicrohttpd), reached from the binary through runner/host/serve.c:
 * /metrics (connectors/serve/metrics.c; the text it serves is the core's,
 * runner/work/metrics.h). The demo's case service is in demo.h.
 */
#ifndef DRUDGE_SERVE_H
#define DRUDGE_SERVE_H

#include "drudge/error.h"

/* `drudge work --metrics-listen ADDR:PORT`: serves /metrics over HTTP from a
 * background thread with its own read-only connection to db_path. */
typedef struct drudge_metrics_server drudge_metrics_server;
drudge_code drudge_metrics_serve(const char *db_path, const char *listen,
                                 drudge_metrics_server **out /* OUT */, drudge_err *err);
void drudge_metrics_stop(drudge_metrics_server *s);

#endif

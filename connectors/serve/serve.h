/*
 * serve.h: the HTTP servers of the "serve" module (drudge_serve.so, on
 * libmicrohttpd), reached from the binary through runner/host/serve.c:
 * Prometheus metrics (connectors/serve/metrics.c). The demo's case service
 * is in demo.h.
 */
#ifndef DRUDGE_SERVE_H
#define DRUDGE_SERVE_H

#include "drudge/error.h"
#include "drudge/util.h"
#include "runner/store/store.h"

/* Prometheus text exposition of the database's state, appended to out. */
drudge_code drudge_metrics_render(drudge_store *s, drudge_buf *out, drudge_err *err);
/* `drudge work --metrics-listen ADDR:PORT`: serves /metrics over HTTP from a
 * background thread with its own read-only connection to db_path. */
typedef struct drudge_metrics_server drudge_metrics_server;
drudge_code drudge_metrics_serve(const char *db_path, const char *listen,
                                 drudge_metrics_server **out /* OUT */, drudge_err *err);
void drudge_metrics_stop(drudge_metrics_server *s);

#endif

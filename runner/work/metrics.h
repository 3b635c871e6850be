/*
 * metrics.h: the database's state in the Prometheus text exposition format
 * (version 0.0.4), printed by `drudge metrics` and served at /metrics by
 * `drudge work --metrics-listen` (the HTTP server is the serve module's
 * text server: connectors/serve/serve.h). runner/work/metrics.c.
 */
#ifndef DRUDGE_METRICS_H
#define DRUDGE_METRICS_H

#include <stdint.h>
#include "drudge/error.h"
#include "drudge/util.h"
#include "runner/store/store.h"

/* What a scraper carries from one scrape to the next: the step-duration
 * histogram, so that each scrape reads only the steps appended since the
 * one before. One per reader (a server keeps one for its life). */
typedef struct drudge_metrics drudge_metrics;
drudge_metrics *drudge_metrics_new(void);
void drudge_metrics_free(drudge_metrics *m);

/* Appends the exposition of s's state at now to out, from one read
 * transaction; on failure out gets nothing. */
drudge_code drudge_metrics_scrape(drudge_metrics *m, drudge_store *s, int64_t now, drudge_buf *out,
                                  drudge_err *err);
/* One scrape from scratch, at the current time (`drudge metrics`). */
drudge_code drudge_metrics_render(drudge_store *s, drudge_buf *out, drudge_err *err);

/* `drudge work --metrics-listen ADDR:PORT`: serves /metrics over HTTP from a
 * background thread with its own read-only connection to db_path and a
 * scraper of its own (the serve module's text server). */
typedef struct drudge_metrics_server drudge_metrics_server;
drudge_code drudge_metrics_serve(const char *db_path, const char *listen,
                                 drudge_metrics_server **out /* OUT */, drudge_err *err);
void drudge_metrics_stop(drudge_metrics_server *s);

#endif

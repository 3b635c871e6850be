/* metrics.c: Prometheus metrics (placeholder). */
#include <stddef.h>
#include "drudge/schedule.h"

drudge_code drudge_metrics_render(sqlite3 *db, struct drudge_buf *out, drudge_err *err)
{
    (void)db;
    (void)out;
    return drudge_seterr(err, DRUDGE_EUSAGE, "metrics are not built yet");
}

drudge_code drudge_metrics_serve(const char *db_path, const char *listen,
                                 drudge_metrics_server **out, drudge_err *err)
{
    (void)db_path;
    (void)listen;
    *out = NULL;
    return drudge_seterr(err, DRUDGE_EUSAGE, "metrics are not built yet");
}

void drudge_metrics_stop(drudge_metrics_server *s)
{
    (void)s;
}

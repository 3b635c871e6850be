/* scheduler.c: cron schedules that enqueue batch runs (placeholder). */
#include <stddef.h>
#include "drudge/db.h"
#include "drudge/schedule.h"

const char *const drudge_schedule_migrations[] = {
    /* v1 */
    "",
    NULL,
};

drudge_code drudge_scheduler_tick(sqlite3 *db, int64_t now_us, drudge_err *err)
{
    (void)db;
    (void)now_us;
    (void)err;
    return DRUDGE_OK;
}

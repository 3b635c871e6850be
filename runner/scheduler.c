/* scheduler.c: cron schedules that enqueue batch runs (placeholder). */
#include <stddef.h>
#include "drudge/db.h"

const char *const drudge_schedule_migrations[] = {
    /* v1 */
    "",
    NULL,
};

/* watch.c: the live status view (placeholder). */
#include <stdio.h>
#include "drudge/schedule.h"

int drudge_watch_run(drudge_cli *cli, sqlite3 *db)
{
    (void)cli;
    (void)db;
    fputs("drudge status --watch: not built yet\n", stderr);
    return DRUDGE_EXIT_ERROR;
}

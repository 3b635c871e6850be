/* cmd_schedule.c: schedule and metrics commands (placeholder). */
#include <stdio.h>
#include "drudge/cli.h"

int drudge_cmd_schedule(drudge_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    fputs("drudge schedule: not built yet\n", stderr);
    return DRUDGE_EXIT_ERROR;
}

int drudge_cmd_metrics(drudge_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    fputs("drudge metrics: not built yet\n", stderr);
    return DRUDGE_EXIT_ERROR;
}

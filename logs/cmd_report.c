/* cmd_report.c: the time-saved report (placeholder). */
#include <stdio.h>
#include "drudge/cli.h"

int drudge_cmd_report(drudge_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    fputs("drudge report: not built yet\n", stderr);
    return DRUDGE_EXIT_ERROR;
}

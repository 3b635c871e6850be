/* cmd_audit.c: audit and replay commands (placeholder). */
#include <stdio.h>
#include "drudge/cli.h"

int drudge_cmd_audit(drudge_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    fputs("drudge audit: not built yet\n", stderr);
    return DRUDGE_EXIT_ERROR;
}

int drudge_cmd_replay(drudge_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    fputs("drudge replay: not built yet\n", stderr);
    return DRUDGE_EXIT_ERROR;
}

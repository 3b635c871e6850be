/* cmd_demo.c: the demo (placeholder). */
#include <stdio.h>
#include "drudge/cli.h"

int drudge_cmd_demo(drudge_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    fputs("drudge demo: not built yet\n", stderr);
    return DRUDGE_EXIT_ERROR;
}

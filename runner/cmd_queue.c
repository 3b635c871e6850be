/* cmd_queue.c: queue commands (placeholder). */
#include <stdio.h>
#include "drudge/cli.h"

int drudge_cmd_enqueue(drudge_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    fputs("drudge enqueue: not built yet\n", stderr);
    return DRUDGE_EXIT_ERROR;
}

int drudge_cmd_work(drudge_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    fputs("drudge work: not built yet\n", stderr);
    return DRUDGE_EXIT_ERROR;
}

int drudge_cmd_status(drudge_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    fputs("drudge status: not built yet\n", stderr);
    return DRUDGE_EXIT_ERROR;
}

int drudge_cmd_tasks(drudge_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    fputs("drudge tasks: not built yet\n", stderr);
    return DRUDGE_EXIT_ERROR;
}

int drudge_cmd_show(drudge_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    fputs("drudge show: not built yet\n", stderr);
    return DRUDGE_EXIT_ERROR;
}

int drudge_cmd_retry(drudge_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    fputs("drudge retry: not built yet\n", stderr);
    return DRUDGE_EXIT_ERROR;
}

int drudge_cmd_cancel(drudge_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    fputs("drudge cancel: not built yet\n", stderr);
    return DRUDGE_EXIT_ERROR;
}

int drudge_cmd_pause(drudge_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    fputs("drudge pause: not built yet\n", stderr);
    return DRUDGE_EXIT_ERROR;
}

int drudge_cmd_resume(drudge_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    fputs("drudge resume: not built yet\n", stderr);
    return DRUDGE_EXIT_ERROR;
}

int drudge_cmd_resolve(drudge_cli *cli, int argc, char **argv)
{
    (void)cli;
    (void)argc;
    (void)argv;
    fputs("drudge resolve: not built yet\n", stderr);
    return DRUDGE_EXIT_ERROR;
}

/* cmd_watch_folder.c: `drudge watch-folder DIR --script S`, a hot folder
 * (runner/work/hotfolder.c): files dropped into DIR become tasks. */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "drudge/host.h"
#include "runner/cli/cli.h"
#include "runner/work/hotfolder.h"

static const char help[] =
    "usage: drudge watch-folder DIR --script SCRIPT [--settle DUR] [--priority N] [-v]\n\n"
    "Turns each file dropped into DIR into one task of SCRIPT, with the input\n"
    "{\"name\", \"path\", \"sha256\", \"size\"} and the key \"file:NAME@SHA256\". A file is\n"
    "taken once it is closed and unchanged for --settle (default 1s); hidden files\n"
    "(.name) are left alone. It moves to DIR/processing/ when queued, then to\n"
    "DIR/done/ or DIR/failed/ when its task ends (failed, dead or cancelled).\n"
    "Killed and started again, it loses and doubles nothing: the key finds the\n"
    "task already queued. Runs until SIGINT or SIGTERM (then exits 0); workers\n"
    "(drudge work) run the tasks. Put DIR inside the files directory (--files) so\n"
    "scripts can open the files; \"path\" is then relative to it.\n";

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

int drudge_cmd_watch_folder(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"script", required_argument, 0, 's'},
                                         {"settle", required_argument, 0, 'S'},
                                         {"priority", required_argument, 0, 'p'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *script = NULL;
    int64_t settle = 1000000;
    int priority = 0, verbose = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:S:p:hv", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            script = optarg;
            break;
        case 'S':
            if (drudge_cli_parse_duration(optarg, &settle) || settle < 0)
                return drudge_cli_usage("watch-folder", "--settle '%s' is not a duration", optarg);
            break;
        case 'p': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < -1000000 || v > 1000000)
                return drudge_cli_usage("watch-folder", "--priority '%s' is not a number", optarg);
            priority = (int)v;
            break;
        }
        case 'v':
            verbose = 1;
            break;
        case 'h':
            fputs(help, stdout);
            return DRUDGE_EXIT_OK;
        default:
            return drudge_cli_usage("watch-folder", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return drudge_cli_usage("watch-folder", "which folder? give one DIR");
    if (!script)
        return drudge_cli_usage("watch-folder", "which script? give --script SCRIPT");
    char dir[PATH_MAX], real[PATH_MAX];
    struct stat sb;
    if (!realpath(argv[optind], dir) || stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return drudge_cli_usage("watch-folder", "%s is not a directory", argv[optind]);
    /* The script, loaded and checked now (a broken one is refused here). */
    drudge_err err = {0};
    drudge_host_opts ho = {.secrets_file = cli->secrets_file};
    const drudge_script_info *info;
    drudge_host *h = drudge_host_new(&ho, &err);
    if (!h || drudge_host_load(h, script, &info, &err)) {
        drudge_host_free(h);
        return drudge_cli_fail("watch-folder", &err);
    }
    if (!realpath(script, real))
        snprintf(real, sizeof real, "%s", script);
    drudge_task_spec spec = {.script = info->name,
                             .script_path = real,
                             .priority = priority,
                             .max_attempts = info->max_attempts,
                             .manual_minutes = info->manual_minutes,
                             .exception_minutes = info->exception_minutes,
                             .window = info->window,
                             .deadline_rule = info->deadline};
    char *files = drudge_cli_files_dir(cli);
    char files_real[PATH_MAX];
    if (!files || !realpath(files, files_real))
        files_real[0] = '\0';
    free(files);
    stop_flag = 0;
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    drudge_hotfolder_opts o = {.db_path = cli->db_path,
                               .dir = dir,
                               .files_dir = files_real[0] ? files_real : NULL,
                               .spec = &spec,
                               .settle_us = settle,
                               .stop = &stop_flag,
                               .verbose = verbose};
    drudge_hotfolder_stats st;
    if (!cli->quiet)
        fprintf(stderr, "drudge watch-folder: watching %s for %s (Ctrl-C to stop)\n", dir,
                info->name);
    drudge_code rc = drudge_hotfolder_run(&o, &st, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    drudge_host_free(h);
    if (rc)
        return drudge_cli_fail("watch-folder", &err);
    if (!cli->quiet)
        fprintf(stderr,
                "drudge watch-folder: %lld queued, %lld queued before, %lld done, %lld failed\n",
                (long long)st.queued, (long long)st.duplicates, (long long)st.done,
                (long long)st.failed);
    return DRUDGE_EXIT_OK;
}

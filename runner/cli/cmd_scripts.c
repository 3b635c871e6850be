/* cmd_scripts.c: drudge scripts: the script versions on record, each with
 * the tasks enqueued with it and how many of those failed, so that a change
 * that made a robot fail more shows (the proportion of failed changes). */
#include <stdio.h>
#include <string.h>
#include "drudge/util.h"
#include "runner/cli/cli.h"

static const char scripts_help[] =
    "usage: drudge scripts [NAME]\n\n"
    "Lists the script versions in the database (of script NAME, or all), oldest\n"
    "first: the version's SHA-256 (of its manifest: the script and the modules it\n"
    "requires), when it was first and last enqueued, its tasks, and how many of\n"
    "those that finished failed (failed or dead). `drudge show TASK` names a\n"
    "task's version; `drudge replay` runs the stored source of the one that ran.\n";

typedef struct lister {
    const drudge_cli *cli;
    drudge_buf b;
    int n;
} lister;

static int list_one(void *ud, const drudge_script_version_use *v)
{
    lister *l = ud;
    double rate = v->finished ? 100.0 * (double)v->failed / (double)v->finished : 0;
    if (l->cli->json) {
        drudge_buf_printf(&l->b, "%s{\"sha256\":\"%s\",\"script\":", l->n ? "," : "", v->sha256);
        drudge_cli_json_str(&l->b, v->script);
        drudge_buf_puts(&l->b, ",\"path\":");
        drudge_cli_json_str(&l->b, v->path);
        drudge_buf_puts(&l->b, ",\"stored_at\":");
        drudge_cli_json_time(&l->b, v->created_at);
        drudge_buf_puts(&l->b, ",\"first_use\":");
        drudge_cli_json_time(&l->b, v->first_use);
        drudge_buf_puts(&l->b, ",\"last_use\":");
        drudge_cli_json_time(&l->b, v->last_use);
        drudge_buf_printf(&l->b, ",\"tasks\":%lld,\"finished\":%lld,\"failed\":%lld,",
                          (long long)v->tasks, (long long)v->finished, (long long)v->failed);
        if (v->finished)
            drudge_buf_printf(&l->b, "\"failure_rate\":%.4f}", rate / 100.0);
        else
            drudge_buf_puts(&l->b, "\"failure_rate\":null}");
    } else {
        char first[40] = "-", last[40] = "-";
        if (v->first_use)
            drudge_fmt_time(v->first_use, first);
        if (v->last_use)
            drudge_fmt_time(v->last_use, last);
        if (!l->n)
            printf("%-16s  %-16s  %-20s  %-20s  %7s  %8s  %6s  %s\n", "VERSION", "SCRIPT",
                   "FIRST USE", "LAST USE", "TASKS", "FINISHED", "FAILED", "RATE");
        printf("%.16s  %-16.16s  %-20.19s  %-20.19s  %7lld  %8lld  %6lld  ", v->sha256, v->script,
               first, last, (long long)v->tasks, (long long)v->finished, (long long)v->failed);
        if (v->finished)
            printf("%.1f%%\n", rate);
        else
            printf("-\n");
    }
    l->n++;
    return 0;
}

int drudge_cmd_scripts(drudge_cli *cli, int argc, char **argv)
{
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(scripts_help, stdout);
            return DRUDGE_EXIT_OK;
        }
        if (argv[i][0] == '-' || name)
            return drudge_cli_usage("scripts", "unexpected argument '%s'", argv[i]);
        name = argv[i];
    }
    int rc;
    drudge_store *s = drudge_cli_store(cli, "scripts", DRUDGE_STORE_READONLY, &rc);
    if (!s)
        return rc;
    lister l = {.cli = cli};
    drudge_err err = {0};
    if (cli->json)
        drudge_buf_puts(&l.b, "{\"versions\":[");
    drudge_code code = drudge_store_script_versions(s, name, list_one, &l, &err);
    if (!code && cli->json) {
        drudge_buf_puts(&l.b, "]}\n");
        fputs(l.b.data, stdout);
    } else if (!code && !l.n && !cli->quiet) {
        printf("no script versions%s%s (drudge enqueue and drudge run record them)\n",
               name ? " of " : "", name ? name : "");
    }
    drudge_buf_free(&l.b);
    return drudge_cli_done("scripts", s, code, &err);
}

/* cmd_schedule.c: `drudge schedule add|list|rm|pause|resume|next` and `drudge metrics`. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runner/cli/cli.h"
#include "runner/calendar/cron.h"
#include "drudge/host.h"
#include "runner/work/metrics.h"
#include "runner/work/schedule.h"
#include "drudge/util.h"

static const char schedule_help[] =
    "usage: drudge schedule add NAME --cron EXPR SCRIPT [--input JSON|@FILE] [--tz ZONE]\n"
    "                           [--catch-up none|latest|all] [--window SPEC] [--priority N]\n"
    "                           [--paused]\n"
    "       drudge schedule list                 schedules with their next fire times\n"
    "       drudge schedule rm NAME\n"
    "       drudge schedule pause|resume NAME\n"
    "       drudge schedule next NAME|--cron EXPR [--tz ZONE] [-n COUNT]\n\n"
    "Schedules enqueue one task of SCRIPT per tick of a cron expression; the\n"
    "scheduler runs inside `drudge work`. Each tick's task has the key\n"
    "schedule:NAME@TICK (UTC), so two workers never enqueue a tick twice.\n\n"
    "  --cron EXPR         minute hour day-of-month month day-of-week (lists 1,15,\n"
    "                      ranges 1-5, steps */15, names jan, mon), or @hourly,\n"
    "                      @daily, @weekly, @monthly, @yearly\n"
    "  --tz ZONE           IANA time zone (Europe/London); default the machine's\n"
    "  --catch-up MODE     ticks missed while no worker ran: none (skip them),\n"
    "                      latest (run the most recent; the default), all\n"
    "  --window SPEC       run window for the tasks (\"Mon-Fri 18:00-07:30\"), in the\n"
    "                      schedule's zone; default the script's own window\n"
    "  --input JSON|@FILE  the input of every task\n"
    "  --priority N        task priority (higher runs first)\n"
    "  --paused            add it paused\n"
    "  -n COUNT            next: how many fire times (default 5)\n\n"
    "--json (a global option) prints JSON. Exit: 0 ok, 1 database error, 2 usage or an\n"
    "invalid expression, zone or window, 6 the script is invalid.\n";

static const char metrics_help[] =
    "usage: drudge metrics\n\n"
    "Prints the database's state in the Prometheus text exposition format: tasks\n"
    "by script and state, attempts by outcome, step durations by kind, time saved.\n"
    "`drudge work --metrics-listen 127.0.0.1:PORT` serves the same at /metrics.\n";

static void json_str_or_null(drudge_buf *b, const char *s)
{
    if (s)
        drudge_buf_json_str(b, s, strlen(s));
    else
        drudge_buf_puts(b, "null");
}

static void fmt_in(const char *tz, int64_t us, char out[32])
{
    const drudge_tz *zone;
    if (us < 0 || drudge_tz_get(tz, &zone, NULL)) {
        snprintf(out, 32, "-");
        return;
    }
    drudge_tz_format(zone, us / 1000000, out);
}

static void fmt_relative(int64_t delta_us, char out[32])
{
    int64_t s = delta_us / 1000000;
    if (s < 0)
        s = 0;
    if (s < 3600)
        snprintf(out, 32, "in %lldm %llds", (long long)(s / 60), (long long)(s % 60));
    else if (s < 86400)
        snprintf(out, 32, "in %lldh %lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
    else
        snprintf(out, 32, "in %lldd %lldh", (long long)(s / 86400), (long long)(s / 3600 % 24));
}

static int cmd_add(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"cron", required_argument, 0, 'c'},   {"input", required_argument, 0, 'i'},
        {"tz", required_argument, 0, 'z'},     {"catch-up", required_argument, 0, 'u'},
        {"window", required_argument, 0, 'w'}, {"priority", required_argument, 0, 'p'},
        {"paused", no_argument, 0, 'P'},       {0, 0, 0, 0}};
    drudge_schedule s = {.catch_up = "latest"};
    const char *input_arg = NULL;
    char *input = NULL, *end;
    drudge_host *host = NULL;
    drudge_store *db = NULL;
    drudge_err err = {0};
    int rc = DRUDGE_EXIT_ERROR, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            s.cron = optarg;
            break;
        case 'i':
            input_arg = optarg;
            break;
        case 'z':
            s.tz = optarg;
            break;
        case 'u':
            s.catch_up = optarg;
            break;
        case 'w':
            s.window = optarg;
            break;
        case 'P':
            s.paused = 1;
            break;
        case 'p':
            s.priority = (int)strtol(optarg, &end, 10);
            if (*end || !*optarg)
                return drudge_cli_usage("schedule", "--priority wants a whole number, not '%s'",
                                        optarg);
            break;
        case ':':
            return drudge_cli_usage("schedule", "%s needs a value", argv[optind - 1]);
        default:
            return drudge_cli_usage("schedule", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 2)
        return drudge_cli_usage("schedule", "add wants NAME and SCRIPT (and --cron EXPR)");
    if (!s.cron)
        return drudge_cli_usage("schedule", "add needs --cron EXPR");
    s.name = argv[optind];
    const char *script = argv[optind + 1];
    if (input_arg && !(input = drudge_cli_read_input(input_arg, &err)))
        return drudge_cli_fail("schedule", &err);
    s.input = input;
    /* Check the schedule's own fields first, then the script: a broken one is
     * refused here, not at 19:00. */
    drudge_cron cr;
    const drudge_tz *zone;
    if (drudge_tz_get(s.tz, &zone, &err) == DRUDGE_ENOTFOUND)
        err.code = DRUDGE_EINPUT; /* a bad --tz is a bad argument */
    if (err.code || drudge_cron_parse(s.cron, &cr, &err) ||
        (s.window && drudge_window_parse(s.window, &err))) {
        rc = drudge_cli_fail("schedule", &err);
        goto cleanup;
    }
    /* Load the script now: a broken script is refused here, not at 19:00. */
    drudge_host_opts hopts = {.secrets_file = cli->secrets_file};
    const drudge_script_info *info;
    if (!(host = drudge_host_new(&hopts, &err)) || drudge_host_load(host, script, &info, &err)) {
        rc = drudge_cli_fail("schedule", &err);
        goto cleanup;
    }
    char real[PATH_MAX];
    if (!realpath(script, real))
        snprintf(real, sizeof real, "%s", script);
    s.script = (char *)info->name;
    s.script_path = real;
    s.max_attempts = info->max_attempts;
    s.manual_minutes = info->manual_minutes;
    s.exception_minutes = info->exception_minutes;
    if (drudge_store_open(cli->db_path, 0, &db, &err) ||
        drudge_schedule_add(db, &s, drudge_now_us(), &err)) {
        rc = drudge_cli_fail("schedule", &err);
        goto cleanup;
    }
    int64_t next = drudge_schedule_next(s.cron, s.tz, drudge_now_us());
    char when[32];
    fmt_in(s.tz, next, when);
    if (cli->json) {
        drudge_buf b = {0};
        drudge_buf_puts(&b, "{\"name\":");
        json_str_or_null(&b, s.name);
        drudge_buf_puts(&b, ",\"script\":");
        json_str_or_null(&b, s.script);
        drudge_buf_puts(&b, ",\"next\":");
        json_str_or_null(&b, next < 0 ? NULL : when);
        drudge_buf_puts(&b, "}\n");
        fputs(b.data, stdout);
        drudge_buf_free(&b);
    } else if (!cli->quiet) {
        printf("schedule %s added: %s every \"%s\"%s%s, next %s%s\n", s.name, s.script, s.cron,
               s.tz ? " in " : "", s.tz ? s.tz : "", when, s.paused ? " (paused)" : "");
    }
    rc = DRUDGE_EXIT_OK;
cleanup:
    drudge_host_free(host);
    drudge_store_close(db);
    free(input);
    return rc;
}

static void list_json(drudge_schedule *list, int n, int64_t now)
{
    drudge_buf b = {0};
    drudge_buf_puts(&b, "[");
    for (int i = 0; i < n; i++) {
        drudge_schedule *s = &list[i];
        const drudge_tz *zone;
        char next[32], last[32];
        int64_t nx = s->paused ? -1 : drudge_schedule_next(s->cron, s->tz, now);
        fmt_in(s->tz, nx, next);
        fmt_in(s->tz, s->last_tick, last);
        drudge_buf_puts(&b, i ? ",\n {\"name\":" : "{\"name\":");
        json_str_or_null(&b, s->name);
        drudge_buf_puts(&b, ",\"cron\":");
        json_str_or_null(&b, s->cron);
        drudge_buf_puts(&b, ",\"tz\":");
        json_str_or_null(&b, s->tz);
        drudge_buf_puts(&b, ",\"zone\":");
        json_str_or_null(&b, drudge_tz_get(s->tz, &zone, NULL) ? NULL : drudge_tz_name(zone));
        drudge_buf_puts(&b, ",\"script\":");
        json_str_or_null(&b, s->script);
        drudge_buf_puts(&b, ",\"script_path\":");
        json_str_or_null(&b, s->script_path);
        drudge_buf_printf(&b, ",\"input\":%s,\"catch_up\":", s->input ? s->input : "null");
        json_str_or_null(&b, s->catch_up);
        drudge_buf_puts(&b, ",\"window\":");
        json_str_or_null(&b, s->window);
        drudge_buf_printf(&b, ",\"priority\":%d,\"paused\":%s,\"last_tick\":", s->priority,
                          s->paused ? "true" : "false");
        json_str_or_null(&b, last);
        drudge_buf_puts(&b, ",\"next\":");
        json_str_or_null(&b, nx < 0 ? NULL : next);
        drudge_buf_printf(&b, ",\"next_us\":%lld}", (long long)nx);
    }
    drudge_buf_puts(&b, "]\n");
    fputs(b.data, stdout);
    drudge_buf_free(&b);
}

static int cmd_list(drudge_cli *cli, drudge_store *db)
{
    drudge_schedule *list;
    int n;
    drudge_err err = {0};
    if (drudge_schedule_list(db, &list, &n, &err))
        return drudge_cli_fail("schedule", &err);
    int64_t now = drudge_now_us();
    if (cli->json) {
        list_json(list, n, now);
    } else if (n == 0) {
        if (!cli->quiet)
            puts("no schedules (add one with drudge schedule add)");
    } else {
        printf("%-16s %-16s %-16s %-16s %-8s %s\n", "NAME", "SCRIPT", "CRON", "ZONE", "CATCH-UP",
               "NEXT");
        for (int i = 0; i < n; i++) {
            drudge_schedule *s = &list[i];
            const drudge_tz *zone;
            char next[32], rel[32];
            int64_t nx = s->paused ? -1 : drudge_schedule_next(s->cron, s->tz, now);
            fmt_in(s->tz, nx, next);
            fmt_relative(nx - now, rel);
            printf("%-16s %-16s %-16s %-16s %-8s %s%s%s%s\n", s->name, s->script, s->cron,
                   drudge_tz_get(s->tz, &zone, NULL) ? "?" : drudge_tz_name(zone), s->catch_up,
                   s->paused ? "paused" : next, s->paused || nx < 0 ? "" : " (",
                   s->paused || nx < 0 ? "" : rel, s->paused || nx < 0 ? "" : ")");
            if (s->window)
                printf("%-16s window %s\n", "", s->window);
        }
    }
    drudge_schedule_list_free(list, n);
    return DRUDGE_EXIT_OK;
}

static int cmd_next(drudge_cli *cli, drudge_store *db, int argc, char **argv)
{
    static const struct option opts[] = {
        {"cron", required_argument, 0, 'c'}, {"tz", required_argument, 0, 'z'}, {0, 0, 0, 0}};
    const char *cron = NULL, *tz = NULL;
    char *owned_cron = NULL, *owned_tz = NULL, *end;
    int count = 5, c, rc = DRUDGE_EXIT_OK;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":n:", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cron = optarg;
            break;
        case 'z':
            tz = optarg;
            break;
        case 'n':
            count = (int)strtol(optarg, &end, 10);
            if (*end || count < 1 || count > 1000)
                return drudge_cli_usage("schedule", "-n wants a count 1-1000, not '%s'", optarg);
            break;
        case ':':
            return drudge_cli_usage("schedule", "%s needs a value", argv[optind - 1]);
        default:
            return drudge_cli_usage("schedule", "unknown option '%s'", argv[optind - 1]);
        }
    }
    drudge_err err = {0};
    if (!cron) {
        if (argc - optind != 1)
            return drudge_cli_usage("schedule", "next wants a schedule NAME or --cron EXPR");
        drudge_schedule *list;
        int n;
        if (!db || drudge_schedule_list(db, &list, &n, &err))
            return drudge_cli_fail("schedule", &err);
        for (int i = 0; i < n; i++)
            if (!strcmp(list[i].name, argv[optind])) {
                cron = owned_cron = drudge_xstrdup(list[i].cron);
                if (!tz && list[i].tz)
                    tz = owned_tz = drudge_xstrdup(list[i].tz);
            }
        drudge_schedule_list_free(list, n);
        if (!cron) {
            drudge_seterr(&err, DRUDGE_ENOTFOUND, "no schedule named '%s'", argv[optind]);
            return drudge_cli_fail("schedule", &err);
        }
    }
    drudge_cron cr;
    const drudge_tz *zone;
    if (drudge_cron_parse(cron, &cr, &err) || drudge_tz_get(tz, &zone, &err)) {
        rc = drudge_cli_fail("schedule", &err);
        goto cleanup;
    }
    int64_t t = drudge_now_us() / 1000000;
    if (cli->json)
        fputs("[", stdout);
    for (int i = 0; i < count && (t = drudge_cron_next(&cr, zone, t)) >= 0; i++) {
        char when[32];
        drudge_tz_format(zone, t, when);
        if (cli->json)
            printf("%s\"%s\"", i ? "," : "", when);
        else
            puts(when);
    }
    if (cli->json)
        fputs("]\n", stdout);
cleanup:
    free(owned_cron);
    free(owned_tz);
    return rc;
}

int drudge_cmd_schedule(drudge_cli *cli, int argc, char **argv)
{
    if (argc < 2)
        return drudge_cli_usage("schedule", "which? add, list, rm, pause, resume or next");
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        fputs(schedule_help, stdout);
        return DRUDGE_EXIT_OK;
    }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(schedule_help, stdout);
            return DRUDGE_EXIT_OK;
        }
    if (!strcmp(sub, "add"))
        return cmd_add(cli, argc - 1, argv + 1);
    int known = !strcmp(sub, "list") || !strcmp(sub, "ls") || !strcmp(sub, "rm") ||
                !strcmp(sub, "remove") || !strcmp(sub, "pause") || !strcmp(sub, "resume") ||
                !strcmp(sub, "next");
    if (!known)
        return drudge_cli_usage("schedule", "unknown subcommand '%s'", sub);
    int takes_name = strcmp(sub, "list") && strcmp(sub, "ls") && strcmp(sub, "next");
    if (takes_name && argc != 3)
        return drudge_cli_usage("schedule", "%s wants one schedule NAME", sub);
    if ((!strcmp(sub, "list") || !strcmp(sub, "ls")) && argc != 2)
        return drudge_cli_usage("schedule", "list takes no arguments");
    drudge_store *db = NULL;
    drudge_err err = {0};
    int rc = DRUDGE_EXIT_OK;
    int is_next_cron = !strcmp(sub, "next") && argc > 2 && !strncmp(argv[2], "--cron", 6);
    if (!is_next_cron && drudge_store_open(cli->db_path, 0, &db, &err))
        return drudge_cli_fail("schedule", &err);
    if (!strcmp(sub, "list") || !strcmp(sub, "ls")) {
        rc = cmd_list(cli, db);
    } else if (!strcmp(sub, "next")) {
        rc = cmd_next(cli, db, argc - 1, argv + 1);
    } else {
        const char *name = argv[2];
        drudge_code code;
        if (!strcmp(sub, "rm") || !strcmp(sub, "remove"))
            code = drudge_schedule_remove(db, name, &err);
        else
            code =
                drudge_schedule_set_paused(db, name, !strcmp(sub, "pause"), drudge_now_us(), &err);
        if (code)
            rc = drudge_cli_fail("schedule", &err);
        else if (!cli->quiet && !cli->json)
            printf("schedule %s %s\n", name,
                   !strcmp(sub, "pause")    ? "paused"
                   : !strcmp(sub, "resume") ? "resumed"
                                            : "removed");
        else if (cli->json)
            printf("{\"name\":\"%s\",\"done\":\"%s\"}\n", name, sub);
    }
    drudge_store_close(db);
    return rc;
}

int drudge_cmd_metrics(drudge_cli *cli, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(metrics_help, stdout);
            return DRUDGE_EXIT_OK;
        }
        return drudge_cli_usage("metrics", "unexpected argument '%s'", argv[i]);
    }
    drudge_store *db = NULL;
    drudge_err err = {0};
    drudge_buf b = {0};
    int rc = DRUDGE_EXIT_OK;
    if (drudge_store_open(cli->db_path, 0, &db, &err) || drudge_metrics_render(db, &b, &err))
        rc = drudge_cli_fail("metrics", &err);
    else
        fputs(b.data ? b.data : "", stdout);
    drudge_buf_free(&b);
    drudge_store_close(db);
    return rc;
}

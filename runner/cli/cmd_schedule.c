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
    "Schedules enqueue one task of SCRIPT per tick of a cron expression.\n"
    "SCRIPT is a script file or the name of a script queued before (as for\n"
    "enqueue); its file is loaded and checked now. The\n"
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

#define GO_ON (-1) /* an option parsed: go on */

/* `schedule add`'s arguments. */
typedef struct add_args {
    drudge_schedule s;     /* its strings are argv's */
    const char *input_arg; /* --input: JSON or @FILE */
    const char *script;    /* the script's path as given */
} add_args;

/* One option into a; GO_ON, or the exit code to return now. */
static int add_opt(int c, add_args *a, char **argv)
{
    char *end;
    switch (c) {
    case 'c':
        a->s.cron = optarg;
        return GO_ON;
    case 'i':
        a->input_arg = optarg;
        return GO_ON;
    case 'z':
        a->s.tz = optarg;
        return GO_ON;
    case 'u':
        a->s.catch_up = optarg;
        return GO_ON;
    case 'w':
        a->s.window = optarg;
        return GO_ON;
    case 'P':
        a->s.paused = 1;
        return GO_ON;
    case 'p':
        a->s.priority = (int)strtol(optarg, &end, 10);
        if (*end || !*optarg)
            return drudge_cli_usage("schedule", "--priority wants a whole number, not '%s'",
                                    optarg);
        return GO_ON;
        DRUDGE_CLI_GETOPT_ERRORS("schedule");
    }
}

static int parse_add(add_args *a, int argc, char **argv)
{
    static const struct option opts[] = {
        {"cron", required_argument, 0, 'c'},   {"input", required_argument, 0, 'i'},
        {"tz", required_argument, 0, 'z'},     {"catch-up", required_argument, 0, 'u'},
        {"window", required_argument, 0, 'w'}, {"priority", required_argument, 0, 'p'},
        {"paused", no_argument, 0, 'P'},       {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    for (int c = getopt_long(argc, argv, ":", opts, NULL); c != -1;
         c = getopt_long(argc, argv, ":", opts, NULL)) {
        int rc = add_opt(c, a, argv);
        if (rc != GO_ON)
            return rc;
    }
    if (argc - optind != 2)
        return drudge_cli_usage("schedule", "add wants NAME and SCRIPT (and --cron EXPR)");
    if (!a->s.cron)
        return drudge_cli_usage("schedule", "add needs --cron EXPR");
    a->s.name = argv[optind];
    a->script = argv[optind + 1];
    return GO_ON;
}

/* The schedule's own fields, checked before the script. */
static drudge_code check_fields(const drudge_schedule *s, drudge_err *err)
{
    drudge_cron cr;
    const drudge_tz *zone;
    drudge_code rc = drudge_tz_get(s->tz, &zone, err);
    if (rc == DRUDGE_ENOTFOUND) {
        rc = DRUDGE_EINPUT; /* a bad --tz is a bad argument */
        err->code = rc;
    }
    if (!rc)
        rc = drudge_cron_parse(s->cron, &cr, err);
    if (!rc && s->window)
        rc = drudge_window_parse(s->window, err);
    return rc;
}

/* Loads the script into host and takes its name and contract into s, with
 * its absolute path in real (s points into both). */
static drudge_code load_script(const drudge_cli *cli, const char *script, drudge_host **host,
                               drudge_schedule *s, char real[PATH_MAX], drudge_err *err)
{
    drudge_host_opts hopts = {.secrets_file = cli->secrets_file};
    const drudge_script_info *info;
    *host = drudge_host_new(&hopts, err);
    if (!*host)
        return err->code ? err->code : DRUDGE_ENOMEM;
    drudge_code rc = drudge_host_load(*host, script, &info, err);
    if (rc)
        return rc;
    if (!realpath(script, real))
        snprintf(real, PATH_MAX, "%s", script);
    s->script = (char *)info->name;
    s->script_path = real;
    s->max_attempts = info->max_attempts;
    s->manual_minutes = info->manual_minutes;
    s->exception_minutes = info->exception_minutes;
    return DRUDGE_OK;
}

static void print_added(const drudge_cli *cli, const drudge_schedule *s)
{
    int64_t next = drudge_schedule_next(s->cron, s->tz, drudge_now_us());
    char when[32];
    fmt_in(s->tz, next, when);
    if (cli->json) {
        drudge_buf b = {0};
        drudge_buf_puts(&b, "{\"name\":");
        drudge_cli_json_str(&b, s->name);
        drudge_buf_puts(&b, ",\"script\":");
        drudge_cli_json_str(&b, s->script);
        drudge_buf_puts(&b, ",\"next\":");
        drudge_cli_json_str(&b, next < 0 ? NULL : when);
        drudge_buf_puts(&b, "}\n");
        fputs(b.data, stdout);
        drudge_buf_free(&b);
    } else if (!cli->quiet) {
        printf("schedule %s added: %s every \"%s\"%s%s, next %s%s\n", s->name, s->script, s->cron,
               s->tz ? " in " : "", s->tz ? s->tz : "", when, s->paused ? " (paused)" : "");
    }
}

static int cmd_add(drudge_cli *cli, int argc, char **argv)
{
    add_args a = {.s = {.catch_up = "latest"}};
    char *input = NULL, real[PATH_MAX];
    drudge_task_spec spec = {0};
    drudge_host *host = NULL;
    drudge_store *db = NULL;
    drudge_err err = {0};
    int rc = parse_add(&a, argc, argv);
    if (rc != GO_ON)
        return rc;
    if (a.input_arg) {
        input = drudge_cli_read_input(a.input_arg, &err);
        if (!input)
            return drudge_cli_fail("schedule", &err);
    }
    a.s.input = input;
    /* The schedule's fields first, then the script: a broken one is refused
     * here, not at 19:00. SCRIPT is a file or the name of a script queued
     * before, as for enqueue; either way its file is loaded now. */
    drudge_code code = check_fields(&a.s, &err);
    if (!code)
        code = drudge_store_open(cli->db_path, 0, &db, &err);
    if (!code)
        code = drudge_cli_resolve_script(cli, a.script, db, &spec, &err);
    if (!code)
        code = load_script(cli, spec.script_path, &host, &a.s, real, &err);
    if (!code)
        code = drudge_schedule_add(db, &a.s, drudge_cli_os_user(), drudge_now_us(), &err);
    if (code) {
        rc = drudge_cli_fail("schedule", &err);
    } else {
        print_added(cli, &a.s);
        rc = DRUDGE_EXIT_OK;
    }
    drudge_host_free(host);
    drudge_store_close(db);
    drudge_task_spec_clear(&spec);
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
        drudge_cli_json_str(&b, s->name);
        drudge_buf_puts(&b, ",\"cron\":");
        drudge_cli_json_str(&b, s->cron);
        drudge_buf_puts(&b, ",\"tz\":");
        drudge_cli_json_str(&b, s->tz);
        drudge_buf_puts(&b, ",\"zone\":");
        drudge_cli_json_str(&b, drudge_tz_get(s->tz, &zone, NULL) ? NULL : drudge_tz_name(zone));
        drudge_buf_puts(&b, ",\"script\":");
        drudge_cli_json_str(&b, s->script);
        drudge_buf_puts(&b, ",\"script_path\":");
        drudge_cli_json_str(&b, s->script_path);
        drudge_buf_printf(&b, ",\"input\":%s,\"catch_up\":", s->input ? s->input : "null");
        drudge_cli_json_str(&b, s->catch_up);
        drudge_buf_puts(&b, ",\"window\":");
        drudge_cli_json_str(&b, s->window);
        drudge_buf_printf(&b, ",\"priority\":%d,\"paused\":%s,\"last_tick\":", s->priority,
                          s->paused ? "true" : "false");
        drudge_cli_json_str(&b, last);
        drudge_buf_puts(&b, ",\"next\":");
        drudge_cli_json_str(&b, nx < 0 ? NULL : next);
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

/* `schedule next`'s arguments. */
typedef struct next_args {
    const char *cron, *tz;
    int count;
} next_args;

/* One option into a; GO_ON, or the exit code to return now. */
static int next_opt(int c, next_args *a, char **argv)
{
    char *end;
    switch (c) {
    case 'c':
        a->cron = optarg;
        return GO_ON;
    case 'z':
        a->tz = optarg;
        return GO_ON;
    case 'n':
        a->count = (int)strtol(optarg, &end, 10);
        if (*end || a->count < 1 || a->count > 1000)
            return drudge_cli_usage("schedule", "-n wants a count 1-1000, not '%s'", optarg);
        return GO_ON;
        DRUDGE_CLI_GETOPT_ERRORS("schedule");
    }
}

/* The cron expression of the schedule called name into *cron, and its zone
 * into *tz (both malloc'd; *tz stays NULL without one). */
static drudge_code schedule_cron(drudge_store *db, const char *name, char **cron, char **tz,
                                 drudge_err *err)
{
    drudge_schedule *list;
    int n;
    drudge_code rc = drudge_schedule_list(db, &list, &n, err);
    if (rc)
        return rc;
    for (int i = 0; i < n && !*cron; i++)
        if (!strcmp(list[i].name, name)) {
            *cron = drudge_xstrdup(list[i].cron);
            *tz = list[i].tz ? drudge_xstrdup(list[i].tz) : NULL;
        }
    drudge_schedule_list_free(list, n);
    if (!*cron)
        return drudge_seterr(err, DRUDGE_ENOTFOUND, "no schedule named '%s'", name);
    return DRUDGE_OK;
}

static void print_next(const drudge_cli *cli, const drudge_cron *cr, const drudge_tz *zone,
                       int count)
{
    int64_t t = drudge_now_us() / 1000000;
    if (cli->json)
        fputs("[", stdout);
    for (int i = 0; i < count; i++) {
        t = drudge_cron_next(cr, zone, t);
        if (t < 0)
            break;
        char when[32];
        drudge_tz_format(zone, t, when);
        if (cli->json)
            printf("%s\"%s\"", i ? "," : "", when);
        else
            puts(when);
    }
    if (cli->json)
        fputs("]\n", stdout);
}

/* `schedule next`: with NAME, the schedule's expression is read from the
 * database; with --cron, no database is needed. */
static int cmd_next(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"cron", required_argument, 0, 'c'}, {"tz", required_argument, 0, 'z'}, {0, 0, 0, 0}};
    next_args a = {.count = 5};
    char *named_cron = NULL, *named_tz = NULL;
    drudge_err err = {0};
    drudge_cron cr;
    const drudge_tz *zone;
    optind = 1;
    opterr = 0;
    for (int c = getopt_long(argc, argv, ":n:", opts, NULL); c != -1;
         c = getopt_long(argc, argv, ":n:", opts, NULL)) {
        int rc = next_opt(c, &a, argv);
        if (rc != GO_ON)
            return rc;
    }
    if (!a.cron && argc - optind != 1)
        return drudge_cli_usage("schedule", "next wants a schedule NAME or --cron EXPR");
    drudge_code code = DRUDGE_OK;
    if (!a.cron) {
        drudge_store *db = NULL;
        code = drudge_store_open(cli->db_path, 0, &db, &err);
        if (!code)
            code = schedule_cron(db, argv[optind], &named_cron, &named_tz, &err);
        drudge_store_close(db);
        a.cron = named_cron;
        if (!a.tz)
            a.tz = named_tz; /* a --tz given wins over the schedule's zone */
    }
    if (!code)
        code = drudge_cron_parse(a.cron, &cr, &err);
    if (!code)
        code = drudge_tz_get(a.tz, &zone, &err);
    if (!code)
        print_next(cli, &cr, zone, a.count);
    free(named_cron);
    free(named_tz);
    return code ? drudge_cli_fail("schedule", &err) : DRUDGE_EXIT_OK;
}

/* rm, pause or resume one schedule. */
static int cmd_change(drudge_cli *cli, drudge_store *db, const char *sub, const char *name)
{
    drudge_err err = {0};
    drudge_code code;
    int rm = !strcmp(sub, "rm") || !strcmp(sub, "remove"), pause = !strcmp(sub, "pause");
    if (rm)
        code = drudge_schedule_remove(db, name, drudge_cli_os_user(), drudge_now_us(), &err);
    else
        code = drudge_schedule_set_paused(db, name, pause, drudge_cli_os_user(), drudge_now_us(),
                                          &err);
    if (code)
        return drudge_cli_fail("schedule", &err);
    if (cli->json) {
        drudge_buf b = {0};
        drudge_buf_puts(&b, "{\"name\":");
        drudge_cli_json_str(&b, name);
        drudge_buf_puts(&b, ",\"done\":");
        drudge_cli_json_str(&b, sub);
        drudge_buf_puts(&b, "}\n");
        fputs(b.data, stdout);
        drudge_buf_free(&b);
    } else if (!cli->quiet) {
        printf("schedule %s %s\n", name, rm ? "removed" : pause ? "paused" : "resumed");
    }
    return DRUDGE_EXIT_OK;
}

static int is_help(const char *arg)
{
    return !strcmp(arg, "--help") || !strcmp(arg, "-h");
}

int drudge_cmd_schedule(drudge_cli *cli, int argc, char **argv)
{
    if (argc < 2)
        return drudge_cli_usage("schedule", "which? add, list, rm, pause, resume or next");
    const char *sub = argv[1];
    int help = !strcmp(sub, "help");
    for (int i = 1; i < argc && !help; i++)
        help = is_help(argv[i]);
    if (help) {
        fputs(schedule_help, stdout);
        return DRUDGE_EXIT_OK;
    }
    if (!strcmp(sub, "add"))
        return cmd_add(cli, argc - 1, argv + 1);
    if (!strcmp(sub, "next"))
        return cmd_next(cli, argc - 1, argv + 1);
    int list = !strcmp(sub, "list") || !strcmp(sub, "ls");
    int change = !strcmp(sub, "rm") || !strcmp(sub, "remove") || !strcmp(sub, "pause") ||
                 !strcmp(sub, "resume");
    if (!list && !change)
        return drudge_cli_usage("schedule", "unknown subcommand '%s'", sub);
    if (change && argc != 3)
        return drudge_cli_usage("schedule", "%s wants one schedule NAME", sub);
    if (list && argc != 2)
        return drudge_cli_usage("schedule", "list takes no arguments");
    int rc;
    drudge_store *db = drudge_cli_store(cli, "schedule", 0, &rc);
    if (!db)
        return rc;
    rc = list ? cmd_list(cli, db) : cmd_change(cli, db, sub, argv[2]);
    drudge_store_close(db);
    return rc;
}

int drudge_cmd_metrics(drudge_cli *cli, int argc, char **argv)
{
    if (argc > 1 && is_help(argv[1])) {
        fputs(metrics_help, stdout);
        return DRUDGE_EXIT_OK;
    }
    if (argc > 1)
        return drudge_cli_usage("metrics", "unexpected argument '%s'", argv[1]);
    int rc;
    drudge_store *db = drudge_cli_store(cli, "metrics", 0, &rc);
    if (!db)
        return rc;
    drudge_err err = {0};
    drudge_buf b = {0};
    drudge_code code = drudge_metrics_render(db, &b, &err);
    if (!code)
        fputs(b.data ? b.data : "", stdout);
    drudge_buf_free(&b);
    return drudge_cli_done("metrics", db, code, &err);
}

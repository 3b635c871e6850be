/* cmd_report.c: `drudge report`, the time saved net of time lost to failures. */
#include <ctype.h>
#include <errno.h>
#include <unistd.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runner/cli/cli.h"
#include "logs/report/report.h"
#include "drudge/util.h"

static const char report_help[] =
    "usage: drudge report [--since DATE] [--until DATE] [--by day|week|month|script]\n"
    "                     [--script NAME] [--format table|csv|json|html] [-o FILE]\n\n"
    "The staff time saved by finished tasks, net of the time lost to failures:\n"
    "per group, tasks done, failed and dead; gross minutes saved (manual_minutes\n"
    "of done tasks); minutes lost (exception_minutes of failed and dead tasks, also\n"
    "those resolved by hand); net hours (saved - lost - late: late counts the\n"
    "exception_minutes of done tasks that missed their deadline during an outage);\n"
    "success and first-time-right rates; mean\n"
    "attempts; robot time; the backlog and the days to clear it at the last 7\n"
    "days' rate. The minutes are those stored with each task when it was enqueued.\n\n"
    "  --since DATE    tasks finished at or after DATE\n"
    "  --until DATE    tasks finished before DATE; a bare date includes that day\n"
    "                  DATE: 2026-11-01 (a UTC day), 2026-11-01T08:00Z, an ISO time\n"
    "                  with offset, 'now', or -7d / -12h (that long ago)\n"
    "  --by KEY        group by the UTC day, ISO week or month of the finish time,\n"
    "                  or by script (default)\n"
    "  --script NAME   only this script\n"
    "  --format F      table (default), csv, json (also --json), or html: one\n"
    "                  self-contained file with a chart of net hours per script\n"
    "  -o FILE         write to FILE instead of standard output\n\n"
    "exit: 0 ok, 1 database or file error, 2 usage (bad date, --by or --format)\n";

static int write_output(const char *path, const drudge_buf *b)
{
    /* Reports name scripts and volumes of case work: private, like the database. */
    int fd = path ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    FILE *f = path ? (fd >= 0 ? fdopen(fd, "w") : NULL) : stdout;
    if (!f) {
        if (fd >= 0)
            close(fd);
        fprintf(stderr, "drudge report: cannot write %s: %s\n", path, strerror(errno));
        return DRUDGE_EXIT_ERROR;
    }
    size_t n = fwrite(b->data, 1, b->len, f);
    int bad = n != b->len || fflush(f) != 0;
    if (path && fclose(f) != 0)
        bad = 1;
    if (bad) {
        fprintf(stderr, "drudge report: cannot write %s: %s\n", path ? path : "standard output",
                strerror(errno));
        return DRUDGE_EXIT_ERROR;
    }
    return DRUDGE_EXIT_OK;
}

typedef struct report_args {
    drudge_report_opts ro;
    const char *format, *output;
} report_args;

/* Parses one option into a; returns an exit code, or -1 to go on. */
static int report_opt(int c, report_args *a, char **argv)
{
    switch (c) {
    case 's':
    case 'u':
        /* A bare date is a UTC day, so that the bounds line up with the UTC
         * day groups; as --until it includes that day. */
        return drudge_cli_parse_time("report", c == 's' ? "--since" : "--until", optarg, a->ro.now,
                                     DRUDGE_TIME_PAST | DRUDGE_TIME_UTC_DAY |
                                         (c == 'u' ? DRUDGE_TIME_DAY_END : 0),
                                     c == 's' ? &a->ro.since : &a->ro.until);
    case 'b':
        if (drudge_report_parse_by(optarg, &a->ro.by) != 0)
            return drudge_cli_usage("report", "--by: '%s' is not one of day, week, month, script",
                                    optarg);
        return -1;
    case 'S':
        a->ro.script = optarg;
        return -1;
    case 'f':
        a->format = optarg;
        return -1;
    case 'o':
        a->output = optarg;
        return -1;
    case 'h':
        fputs(report_help, stdout);
        return DRUDGE_EXIT_OK;
        DRUDGE_CLI_GETOPT_ERRORS("report");
    }
}

/* Parses the command line into a; returns an exit code, or -1 to go on. */
static int report_args_parse(int argc, char **argv, report_args *a)
{
    static const struct option opts[] = {
        {"since", required_argument, 0, 's'},  {"until", required_argument, 0, 'u'},
        {"by", required_argument, 0, 'b'},     {"script", required_argument, 0, 'S'},
        {"format", required_argument, 0, 'f'}, {"output", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    for (int c = getopt_long(argc, argv, ":o:h", opts, NULL); c != -1;
         c = getopt_long(argc, argv, ":o:h", opts, NULL)) {
        int rc = report_opt(c, a, argv);
        if (rc >= 0)
            return rc;
    }
    if (optind < argc)
        return drudge_cli_usage("report", "unexpected argument '%s'", argv[optind]);
    return -1;
}

typedef void (*render_fn)(const drudge_report *, drudge_buf *);

/* The rendering for --format, or NULL. */
static render_fn renderer(const char *format)
{
    static const struct {
        const char *name;
        render_fn fn;
    } formats[] = {{"table", drudge_report_table},
                   {"csv", drudge_report_csv},
                   {"json", drudge_report_json},
                   {"html", drudge_report_html}};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (!strcmp(format, formats[i].name))
            return formats[i].fn;
    return NULL;
}

/* Opens the database: read-write opens migrate an older schema, but a
 * database we may only read is still worth a report. On failure prints why
 * (the read-write open's error) and returns NULL with *exit set. */
static drudge_store *open_store(const drudge_cli *cli, int *exit)
{
    drudge_err err = {0}, ro_err = {0};
    drudge_store *s = NULL;
    *exit = DRUDGE_EXIT_OK;
    if (drudge_store_open(cli->db_path, DRUDGE_STORE_NOCREATE, &s, &err) == DRUDGE_OK)
        return s;
    if (err.code == DRUDGE_EIO &&
        drudge_store_open(cli->db_path, DRUDGE_STORE_READONLY, &s, &ro_err) == DRUDGE_OK)
        return s;
    *exit = drudge_cli_fail("report", &err);
    return NULL;
}

int drudge_cmd_report(drudge_cli *cli, int argc, char **argv)
{
    report_args a = {.ro = {.since = INT64_MIN, .until = INT64_MAX, .now = drudge_now_us()},
                     .format = cli->json ? "json" : "table"};
    int rc = report_args_parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    render_fn render = renderer(a.format);
    if (!render)
        return drudge_cli_usage("report", "--format: '%s' is not one of table, csv, json, html",
                                a.format);
    if (a.ro.since != INT64_MIN && a.ro.until != INT64_MAX && a.ro.since >= a.ro.until)
        return drudge_cli_usage("report", "--since must be before --until");
    drudge_store *s = open_store(cli, &rc);
    if (!s)
        return rc;
    drudge_err err = {0};
    drudge_report *r = NULL;
    drudge_code code = drudge_report_compute(s, &a.ro, &r, &err);
    /* The page an auditor is handed says whether the trail verifies and
     * lists the exceptions; the other formats stay figures. */
    if (!code && render == drudge_report_html)
        code = drudge_report_audit(s, r, &err);
    rc = drudge_cli_done("report", s, code, &err);
    if (rc) {
        drudge_report_free(r);
        return rc;
    }
    drudge_buf b = {0};
    render(r, &b);
    rc = write_output(a.output, &b);
    if (rc == DRUDGE_EXIT_OK && a.output && !cli->quiet)
        fprintf(stderr, "drudge report: wrote %s\n", a.output);
    drudge_buf_free(&b);
    drudge_report_free(r);
    return rc;
}

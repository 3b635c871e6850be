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
#include "runner/store/db.h"
#include "logs/report/report.h"
#include "drudge/util.h"

static const char report_help[] =
    "usage: drudge report [--since DATE] [--until DATE] [--by day|week|month|script]\n"
    "                     [--script NAME] [--format table|csv|json|html] [-o FILE]\n\n"
    "The staff time saved by finished tasks, net of the time lost to failures:\n"
    "per group, tasks done, failed and dead; gross minutes saved (manual_minutes\n"
    "of done tasks); minutes lost (exception_minutes of failed and dead tasks, also\n"
    "those resolved by hand); net hours; success and first-time-right rates; mean\n"
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

#define DAY_US INT64_C(86400000000)

/* Parses a --since/--until value. A bare date is a UTC day, so that the
 * bounds line up with the UTC day groups; as --until it includes that day. */
static int parse_bound(const char *s, int is_until, int64_t now, int64_t *out)
{
    size_t n = strlen(s);
    if (n == 10 && s[4] == '-' && s[7] == '-') {
        char z[12];
        snprintf(z, sizeof z, "%sZ", s);
        if (drudge_parse_time(z, now, out) != 0)
            return -1;
        if (is_until)
            *out += DAY_US;
        return 0;
    }
    if (s[0] == '-' && isdigit((unsigned char)s[1])) {
        char plus[32];
        int64_t later;
        snprintf(plus, sizeof plus, "+%s", s + 1);
        if (drudge_parse_time(plus, now, &later) != 0)
            return -1;
        *out = now - (later - now);
        return 0;
    }
    return drudge_parse_time(s, now, out);
}

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

int drudge_cmd_report(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"since", required_argument, 0, 's'},  {"until", required_argument, 0, 'u'},
        {"by", required_argument, 0, 'b'},     {"script", required_argument, 0, 'S'},
        {"format", required_argument, 0, 'f'}, {"output", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    drudge_report_opts ro = {.since = INT64_MIN, .until = INT64_MAX};
    const char *format = cli->json ? "json" : "table", *output = NULL;
    int64_t now = drudge_now_us();
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
        case 'u':
            if (parse_bound(optarg, c == 'u', now, c == 's' ? &ro.since : &ro.until) != 0)
                return drudge_cli_usage("report",
                                        "--%s: '%s' is not a date (2026-11-01, "
                                        "2026-11-01T08:00Z, now, -7d)",
                                        c == 's' ? "since" : "until", optarg);
            break;
        case 'b':
            if (drudge_report_parse_by(optarg, &ro.by) != 0)
                return drudge_cli_usage(
                    "report", "--by: '%s' is not one of day, week, month, script", optarg);
            break;
        case 'S':
            ro.script = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'h':
            fputs(report_help, stdout);
            return DRUDGE_EXIT_OK;
        case ':':
            return drudge_cli_usage("report", "%s needs a value", argv[optind - 1]);
        default:
            return drudge_cli_usage("report", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return drudge_cli_usage("report", "unexpected argument '%s'", argv[optind]);
    void (*render)(const drudge_report *, drudge_buf *);
    if (!strcmp(format, "table"))
        render = drudge_report_table;
    else if (!strcmp(format, "csv"))
        render = drudge_report_csv;
    else if (!strcmp(format, "json"))
        render = drudge_report_json;
    else if (!strcmp(format, "html"))
        render = drudge_report_html;
    else
        return drudge_cli_usage("report", "--format: '%s' is not one of table, csv, json, html",
                                format);
    if (ro.since != INT64_MIN && ro.until != INT64_MAX && ro.since >= ro.until)
        return drudge_cli_usage("report", "--since must be before --until");

    drudge_err err = {0};
    sqlite3 *db = NULL;
    drudge_report *r = NULL;
    drudge_buf b = {0};
    int rc;
    /* Read-write opens migrate an older schema; a database we may only
     * read is still worth a report. */
    if (drudge_db_open(cli->db_path, DRUDGE_DB_NOCREATE, &db, &err) != DRUDGE_OK) {
        drudge_err err2 = {0};
        if (err.code != DRUDGE_EIO ||
            drudge_db_open(cli->db_path, DRUDGE_DB_READONLY, &db, &err2) != DRUDGE_OK)
            return drudge_cli_fail("report", &err);
    }
    ro.now = now;
    if (drudge_report_compute(db, &ro, &r, &err) != DRUDGE_OK) {
        rc = drudge_cli_fail("report", &err);
        goto cleanup;
    }
    render(r, &b);
    rc = write_output(output, &b);
    if (rc == DRUDGE_EXIT_OK && output && !cli->quiet)
        fprintf(stderr, "drudge report: wrote %s\n", output);
cleanup:
    drudge_buf_free(&b);
    drudge_report_free(r);
    sqlite3_close(db);
    return rc;
}

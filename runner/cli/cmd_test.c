/* cmd_test.c: drudge record-case TASK and drudge test SCRIPT [CASES_DIR]:
 * flags, TAP and JUnit output, exit codes; the work is in
 * runner/work/casetest.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "drudge/util.h"
#include "runner/cli/cli.h"
#include "runner/work/casetest.h"

static const char record_help[] =
    "usage: drudge record-case TASK [--attempt N] [--out FILE]\n\n"
    "Saves a recorded attempt of TASK (default: its last) as a case file for\n"
    "drudge test: the input, every step with the connector's answer (payloads\n"
    "included, base64), and what the attempt gave (outcome, output, error) as\n"
    "\"expect\". To FILE (created 0600: it is case data) or standard output.\n"
    "Edit the input, an answer or \"expect\" to make new cases.\n";

static const char test_help[] =
    "usage: drudge test SCRIPT [CASES_DIR] [--junit FILE]\n\n"
    "Runs SCRIPT against every case file (*.json, made by drudge record-case) in\n"
    "CASES_DIR (default: cases/ beside SCRIPT), offline: connectors answer from\n"
    "the case, nothing touches the network, desktop or mail, secret() reads\n"
    "\"[REDACTED:name]\". A case passes when the script makes the recorded steps\n"
    "and ends with the expected outcome, output (as JSON values) and error (the\n"
    "expected text must be part of it). Prints TAP; --junit FILE also writes\n"
    "JUnit XML for CI.\n\n"
    "exit: 0 all passed, 1 a case failed or could not be read, 2 usage\n";

static int open_private(const char *cmd, const char *path, FILE **out)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0)
        fchmod(fd, 0600);
    *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (*out)
        return DRUDGE_EXIT_OK;
    fprintf(stderr, "drudge %s: cannot write %s: %s\n", cmd, path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return DRUDGE_EXIT_ERROR;
}

int drudge_cmd_record_case(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"attempt", required_argument, 0, 'a'},
                                         {"out", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *outpath = NULL;
    long attempt = 0;
    optind = 1;
    opterr = 0;
    for (int c = getopt_long(argc, argv, ":a:o:h", opts, NULL); c != -1;
         c = getopt_long(argc, argv, ":a:o:h", opts, NULL)) {
        switch (c) {
        case 'a':
            if (drudge_cli_parse_long(optarg, 1, 1000000, &attempt))
                return drudge_cli_usage("record-case",
                                        "--attempt must be a whole number > 0 (got '%s')", optarg);
            break;
        case 'o':
            outpath = optarg;
            break;
        case 'h':
            fputs(record_help, stdout);
            return DRUDGE_EXIT_OK;
            DRUDGE_CLI_GETOPT_ERRORS("record-case");
        }
    }
    int64_t id;
    if (optind != argc - 1)
        return drudge_cli_usage("record-case", "give exactly one TASK");
    if (drudge_cli_parse_task_id(argv[optind], &id))
        return drudge_cli_usage("record-case", "TASK must be a task id such as 12 (got '%s')",
                                argv[optind]);
    int rc;
    drudge_store *s = drudge_cli_store(cli, "record-case", DRUDGE_STORE_READONLY, &rc);
    if (!s)
        return rc;
    drudge_err err = {0};
    drudge_buf b = {0};
    drudge_code code = drudge_case_record(s, id, (int)attempt, &b, &err);
    rc = drudge_cli_done("record-case", s, code, &err);
    FILE *out = stdout;
    if (!rc && outpath)
        rc = open_private("record-case", outpath, &out);
    if (!rc) {
        fwrite(b.data, 1, b.len, out);
        if (outpath && fclose(out) != 0) {
            fprintf(stderr, "drudge record-case: cannot write %s: %s\n", outpath, strerror(errno));
            rc = DRUDGE_EXIT_ERROR;
        } else if (outpath && !cli->quiet) {
            fprintf(stderr, "case of task #%lld written to %s\n", (long long)id, outpath);
        }
    }
    drudge_buf_free(&b);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.json files of dir, sorted (malloc'd paths); -1 if dir cannot be read. */
static int list_cases(const char *dir, char ***out, size_t *n)
{
    DIR *d = opendir(dir);
    *out = NULL;
    *n = 0;
    if (!d)
        return -1;
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 6 || strcmp(e->d_name + l - 5, ".json") != 0)
            continue;
        drudge_buf p = {0};
        drudge_buf_printf(&p, "%s/%s", dir, e->d_name);
        *out = drudge_xrealloc(*out, (*n + 1) * sizeof **out);
        (*out)[(*n)++] = drudge_buf_take(&p);
    }
    closedir(d);
    if (*n)
        qsort(*out, *n, sizeof **out, cmp_str);
    return 0;
}

static void xml_esc(drudge_buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            drudge_buf_puts(b, "&amp;");
            break;
        case '<':
            drudge_buf_puts(b, "&lt;");
            break;
        case '>':
            drudge_buf_puts(b, "&gt;");
            break;
        case '"':
            drudge_buf_puts(b, "&quot;");
            break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
                drudge_buf_puts(b, "?"); /* not allowed in XML 1.0 */
            else
                drudge_buf_add(b, s, 1);
        }
    }
}

/* One TAP line (and its diagnostic) per case; the same in JUnit. */
static void report_case(drudge_buf *junit, size_t i, const char *path, const drudge_case_outcome *o,
                        const char *error)
{
    const char *name = o->name ? o->name : path;
    int ok = !error && !o->failure;
    printf("%s %zu - %s\n", ok ? "ok" : "not ok", i + 1, name);
    const char *why = error ? error : o->failure;
    if (why) {
        printf("  # %s\n", path);
        for (const char *p = why; *p;) {
            size_t n = strcspn(p, "\n");
            printf("  # %.*s\n", (int)n, p);
            p += n + (p[n] == '\n');
        }
    }
    drudge_buf_puts(junit, "  <testcase classname=\"");
    xml_esc(junit, path);
    drudge_buf_puts(junit, "\" name=\"");
    xml_esc(junit, name);
    drudge_buf_printf(junit, "\" time=\"%.3f\"", (double)o->duration_us / 1e6);
    if (ok) {
        drudge_buf_puts(junit, "/>\n");
        return;
    }
    drudge_buf_printf(junit, "><%s message=\"", error ? "error" : "failure");
    xml_esc(junit, why);
    drudge_buf_puts(junit, "\">");
    xml_esc(junit, why);
    drudge_buf_printf(junit, "</%s></testcase>\n", error ? "error" : "failure");
}

int drudge_cmd_test(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"junit", required_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *junit_path = NULL;
    optind = 1;
    opterr = 0;
    for (int c = getopt_long(argc, argv, ":j:h", opts, NULL); c != -1;
         c = getopt_long(argc, argv, ":j:h", opts, NULL)) {
        switch (c) {
        case 'j':
            junit_path = optarg;
            break;
        case 'h':
            fputs(test_help, stdout);
            return DRUDGE_EXIT_OK;
            DRUDGE_CLI_GETOPT_ERRORS("test");
        }
    }
    if (optind != argc - 1 && optind != argc - 2)
        return drudge_cli_usage("test", "give SCRIPT and optionally CASES_DIR");
    const char *script = argv[optind];
    drudge_buf dir = {0}, junit = {0};
    if (optind == argc - 2) {
        drudge_buf_puts(&dir, argv[optind + 1]);
    } else {
        const char *slash = strrchr(script, '/');
        if (slash)
            drudge_buf_add(&dir, script, (size_t)(slash - script + 1));
        drudge_buf_puts(&dir, "cases");
    }
    if (access(script, R_OK) != 0) {
        fprintf(stderr, "drudge test: cannot read %s: %s\n", script, strerror(errno));
        drudge_buf_free(&dir);
        return DRUDGE_EXIT_ERROR;
    }
    char **cases;
    size_t n;
    if (list_cases(dir.data, &cases, &n) != 0 || n == 0) {
        fprintf(stderr,
                "drudge test: %s %s (make one with drudge record-case TASK --out %s/NAME.json)\n",
                dir.data,
                n == 0 && errno != ENOENT ? "holds no case files (*.json)" : "cannot be read",
                dir.data);
        drudge_buf_free(&dir);
        return DRUDGE_EXIT_ERROR;
    }
    char *files = drudge_cli_files_dir(cli);
    int failed = 0;
    printf("TAP version 13\n1..%zu\n", n);
    fflush(stdout);
    for (size_t i = 0; i < n; i++) {
        drudge_case_outcome o;
        drudge_err err = {0};
        drudge_code rc = drudge_case_run(script, cases[i], files, 0, &o, &err);
        report_case(&junit, i, cases[i], &o, rc ? err.msg : NULL);
        fflush(stdout);
        failed += rc || o.failure;
        drudge_case_outcome_clear(&o);
    }
    fprintf(stderr, "%zu case%s, %d failed\n", n, n == 1 ? "" : "s", failed);
    int exit = failed ? DRUDGE_EXIT_ERROR : DRUDGE_EXIT_OK;
    if (junit_path) {
        FILE *f;
        if (open_private("test", junit_path, &f) != DRUDGE_EXIT_OK) {
            exit = DRUDGE_EXIT_ERROR;
        } else {
            fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n"
                       "<testsuite name=\"");
            drudge_buf name = {0};
            xml_esc(&name, script);
            fprintf(f, "%s\" tests=\"%zu\" failures=\"%d\">\n%s</testsuite>\n</testsuites>\n",
                    name.data, n, failed, junit.data ? junit.data : "");
            drudge_buf_free(&name);
            if (fclose(f) != 0)
                exit = DRUDGE_EXIT_ERROR;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(cases[i]);
    free(cases);
    free(files);
    drudge_buf_free(&dir);
    drudge_buf_free(&junit);
    return exit;
}

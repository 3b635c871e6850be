/* cmd_run.c: `drudge run` (one task now, in the foreground) and `drudge check`. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "drudge/host.h"
#include "drudge/util.h"
#include "runner/cli/cli.h"
#include "runner/work/run.h"

static const char run_help[] =
    "usage: drudge run SCRIPT [--input JSON|@FILE] [--key REF]\n\n"
    "Runs one task of SCRIPT now, in the foreground, and records it in the database\n"
    "like a queued task (its attempt, steps and outcome). Prints run()'s return value\n"
    "as JSON. A system error is not retried here: the task ends dead.\n\n"
    "  --input JSON|@FILE  the task input (task.input), inline or from a file\n"
    "  --key REF           the task key (unique per script)\n"
    "  -q, --quiet         do not echo log lines to stderr\n\n"
    "`drudge cancel` of the task stops it within about a second (state cancelled).\n"
    "An attempt the timeout or a cancel cannot stop (a loop in a __gc finalizer,\n"
    "C code) is recorded 5 s later as a timeout (or cancelled) and the run exits.\n\n"
    "exit: 0 done, 3 failed (fail), 4 system error/timeout/memory or cancelled,\n"
    "      5 retry_later, 6 the script is invalid, 1 database or file error, 2 usage\n"
    "      or a configuration error (a missing secret, a misused API: the task is\n"
    "      cancelled)\n";

static int outcome_exit(drudge_outcome o)
{
    switch (o) {
    case DRUDGE_DONE:
        return DRUDGE_EXIT_OK;
    case DRUDGE_FAILED:
        return DRUDGE_EXIT_FAILED;
    case DRUDGE_RETRY_LATER:
        return DRUDGE_EXIT_RETRY;
    case DRUDGE_CONFIG:
        return DRUDGE_EXIT_USAGE;
    default:
        return DRUDGE_EXIT_SYSERR;
    }
}

static void print_result_json(int64_t id, const char *state, const drudge_result *res)
{
    drudge_buf b = {0};
    drudge_buf_printf(&b, "{\"task\":%lld,\"state\":\"%s\",\"outcome\":\"%s\",\"output\":%s",
                      (long long)id, state, drudge_outcome_name(res->outcome),
                      res->output ? res->output : "null");
    if (res->error) {
        drudge_buf_puts(&b, ",\"error\":");
        drudge_buf_json_str(&b, res->error, strlen(res->error));
    }
    if (res->traceback) {
        drudge_buf_puts(&b, ",\"traceback\":");
        drudge_buf_json_str(&b, res->traceback, strlen(res->traceback));
    }
    drudge_buf_printf(&b, ",\"duration_ms\":%.3f}\n", (double)res->duration_us / 1000.0);
    fputs(b.data, stdout);
    drudge_buf_free(&b);
}

/* Prints what the run did: run()'s output, or why it did not finish. */
static void print_result(const drudge_cli *cli, const drudge_run_result *r)
{
    const drudge_result *res = &r->res;
    if (cli->json) {
        print_result_json(r->task_id, r->state, res);
    } else if (res->outcome == DRUDGE_DONE) {
        printf("%s\n", res->output);
    } else if (r->cancelled) {
        fprintf(stderr, "drudge run: task #%lld cancelled by an operator\n", (long long)r->task_id);
    } else {
        fprintf(stderr, "drudge run: task #%lld %s: %s\n", (long long)r->task_id,
                res->outcome == DRUDGE_FAILED        ? "failed"
                : res->outcome == DRUDGE_RETRY_LATER ? "asked to be retried later"
                : res->outcome == DRUDGE_CONFIG
                    ? "stopped by a configuration error (cancelled; fix it and run again)"
                    : "ended with a system error",
                res->error ? res->error : "");
        if (res->traceback)
            fprintf(stderr, "%s\n", res->traceback);
    }
}

/* The attempt is stuck past its timeout (or a cancel) and the grace, and
 * was recorded (run.c): say so and end the process, stuck thread and all. */
static void run_abandoned(const drudge_run_result *r, const drudge_err *err, void *ud)
{
    const drudge_cli *cli = ud;
    int rc = DRUDGE_EXIT_SYSERR;
    if (err) {
        fprintf(stderr,
                "drudge run: task #%lld is stuck past its timeout and could not be "
                "recorded: %s\n",
                (long long)r->task_id, err->msg);
        rc = DRUDGE_EXIT_ERROR;
    } else {
        print_result(cli, r);
    }
    fflush(stdout);
    fflush(stderr);
    _exit(rc);
}

int drudge_cmd_run(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"input", required_argument, 0, 'i'},
                                         {"key", required_argument, 0, 'k'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *input_arg = NULL, *key = NULL;
    drudge_err err = {0};
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, ":i:k:h", opts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'i':
            input_arg = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'h':
            fputs(run_help, stdout);
            return DRUDGE_EXIT_OK;
            DRUDGE_CLI_GETOPT_ERRORS("run");
        }
    }
    if (optind != argc - 1)
        return drudge_cli_usage("run", optind >= argc ? "which script? give one SCRIPT"
                                                      : "give exactly one SCRIPT");
    char *input = NULL;
    if (input_arg) {
        input = drudge_cli_read_input(input_arg, &err);
        if (!input)
            return drudge_cli_fail("run", &err);
    }
    char *files = drudge_cli_files_dir(cli);
    if (!files) {
        free(input);
        return DRUDGE_EXIT_ERROR;
    }
    drudge_run_opts o = {.db_path = cli->db_path,
                         .script = argv[optind],
                         .input = input,
                         .key = key,
                         .files_dir = files,
                         .secrets_file = cli->secrets_file,
                         .echo_logs = !cli->quiet,
                         .abandoned = run_abandoned,
                         .abandoned_ud = cli};
    drudge_run_result r;
    int rc;
    if (drudge_run_task(&o, &r, &err)) {
        rc = drudge_cli_fail("run", &err);
    } else {
        print_result(cli, &r);
        rc = outcome_exit(r.res.outcome);
    }
    drudge_result_clear(&r.res);
    free(input);
    free(files);
    return rc;
}

static const char check_help[] =
    "usage: drudge check [--no-secrets] SCRIPT...\n\n"
    "Compiles and validates each script's contract without running run(): a table\n"
    "with a run function and well-typed optional fields. Then checks its source\n"
    "statically (with luacheck, Debian's lua-check): undefined globals, require of\n"
    "modules that do not exist, unknown option names in table literals passed to\n"
    "drudge's functions, and secret \"NAME\" literals set neither as\n"
    "DRUDGE_SECRET_NAME nor in the secrets file (--secrets). Every problem is\n"
    "printed as FILE:LINE[:COLUMN]: message. Exit 0 if all are valid, 6 if any is not.\n\n"
    "  --no-secrets  do not look for the secrets (on a machine that has none)\n";

int drudge_cmd_check(drudge_cli *cli, int argc, char **argv)
{
    int secrets = 1, nscripts = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(check_help, stdout);
            return DRUDGE_EXIT_OK;
        }
        if (!strcmp(argv[i], "--no-secrets"))
            secrets = 0;
        else if (argv[i][0] == '-')
            return drudge_cli_usage("check", "unknown option '%s'", argv[i]);
        else
            nscripts++;
    }
    if (!nscripts)
        return drudge_cli_usage("check", "which scripts? give at least one SCRIPT");
    int bad = 0, warned = 0;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            continue;
        drudge_err err = {0};
        /* A fresh host per script: one script's top level cannot affect another's check. */
        drudge_host_opts hopts = {.files_dir = NULL, .secrets_file = cli->secrets_file};
        drudge_host *host = drudge_host_new(&hopts, &err);
        const drudge_script_info *info;
        drudge_buf probs = {0};
        int nprobs = 0;
        if (!host || drudge_host_load(host, argv[i], &info, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            bad++;
        } else if (drudge_host_lint(argv[i], cli->secrets_file, secrets, &probs, &nprobs, &err)) {
            /* The binary works without luacheck: say what was not checked. */
            if (!warned++)
                fprintf(stderr, "drudge check: %s; only the contracts were checked\n", err.msg);
            if (err.code != DRUDGE_ENOTFOUND)
                bad++;
        } else if (nprobs) {
            fprintf(stderr, "%s\n", probs.data);
            bad++;
        }
        if (host && !nprobs && !err.code && !cli->quiet) {
            printf("ok  %s  (name %s, manual %g min, exception %g min, max_attempts %d, "
                   "timeout %g s)\n",
                   argv[i], info->name, info->manual_minutes, info->exception_minutes,
                   info->max_attempts, info->timeout);
        }
        drudge_buf_free(&probs);
        drudge_host_free(host);
    }
    if (bad)
        fprintf(stderr, "drudge check: %d of %d script%s invalid\n", bad, nscripts,
                nscripts == 1 ? " is" : "s are");
    return bad ? DRUDGE_EXIT_INVALID : DRUDGE_EXIT_OK;
}

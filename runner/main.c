/* main.c: drudge's entry point: global options, then one command. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "runner/cli/cli.h"
#include "runner/store/store.h"
#include <lua.h>

static const struct command {
    const char *name;
    drudge_cmd_fn fn;
    const char *summary;
} commands[] = {
    {"run", drudge_cmd_run, "run one task now, in the foreground, recorded like any other"},
    {"check", drudge_cmd_check, "compile and validate scripts without running them"},
    {"enqueue", drudge_cmd_enqueue, "queue a task, or a backlog from CSV/JSONL"},
    {"work", drudge_cmd_work, "run workers that claim and run queued tasks"},
    {"watch-folder", drudge_cmd_watch_folder, "turn files dropped into a folder into tasks"},
    {"watch-mail", drudge_cmd_watch_mail, "turn messages arriving in an IMAP mailbox into tasks"},
    {"status", drudge_cmd_status, "what is queued, running, done, failed, dead"},
    {"tasks", drudge_cmd_tasks, "list tasks"},
    {"show", drudge_cmd_show, "one task: input, output, attempts, errors"},
    {"scripts", drudge_cmd_scripts, "script versions on record, with their failure rates"},
    {"retry", drudge_cmd_retry, "requeue failed, dead or cancelled tasks"},
    {"cancel", drudge_cmd_cancel, "cancel tasks"},
    {"pause", drudge_cmd_pause, "stop claiming tasks of a script"},
    {"resume", drudge_cmd_resume, "claim tasks of a paused script again"},
    {"resolve", drudge_cmd_resolve, "mark a failed or dead task as handled by hand"},
    {"schedule", drudge_cmd_schedule, "cron schedules for batch runs"},
    {"metrics", drudge_cmd_metrics, "Prometheus metrics"},
    {"audit", drudge_cmd_audit, "show, export, verify and sign the audit trail"},
    {"replay", drudge_cmd_replay, "re-run a recorded attempt offline and compare"},
    {"outages", drudge_cmd_outages, "target systems that were down: circuit breaker openings"},
    {"notify", drudge_cmd_notify, "tell operations of outages, missed deadlines, dead tasks"},
    {"test", drudge_cmd_test, "run a script against recorded cases, offline (TAP, JUnit)"},
    {"record-case", drudge_cmd_record_case, "save a recorded attempt as a case for drudge test"},
    {"report", drudge_cmd_report, "time saved, net of time lost to failures"},
    {"serve", drudge_cmd_serve, "the control room: web pages and an HTTP API"},
    {"user", drudge_cmd_user, "users and API tokens of the control room"},
    {"demo", drudge_cmd_demo, "the whole product on a demo backlog, end to end"},
    {"db", drudge_cmd_db, "copy a database (an SQLite file into PostgreSQL)"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fputs("usage: drudge [--db PATH] [--json] [--secrets FILE] [--files DIR] COMMAND [ARGS]\n\n"
          "drudge runs robotic process automation scripts written in Lua: tasks queued in\n"
          "SQLite, every step recorded in a tamper-evident audit trail.\n\ncommands:\n",
          f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\nglobal options:\n"
          "  --db PATH       database (default $DRUDGE_DB, else ./drudge.db)\n"
          "  --json          machine-readable output\n"
          "  --secrets FILE  secrets file, mode 0600 (default $DRUDGE_SECRETS)\n"
          "  --files DIR     the only directory scripts may open files in\n"
          "                  (default $DRUDGE_FILES, else DB.files)\n"
          "  --redact FILE   redaction patterns for the audit trail (default $DRUDGE_REDACT)\n"
          "  -q, --quiet     less output\n"
          "  -h, --help      this help; drudge help COMMAND for a command's\n"
          "  --version       print the version\n\n"
          "exit codes: 0 ok, 1 error, 2 usage, 3 task failed (fail), 4 task error\n"
          "(system error, timeout, memory), 5 retry requested, 6 check/verify/replay mismatch,\n"
          "7 a bulk cancel/retry/resolve matched nothing it applies to\n",
          f);
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

/* Takes a global option's value from "--opt=value" or the next argument. */
static const char *option_value(int argc, char **argv, int *i, const char *opt)
{
    size_t n = strlen(opt);
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (*i + 1 >= argc) {
        fprintf(stderr, "drudge: %s needs a value\n", opt);
        exit(DRUDGE_EXIT_USAGE);
    }
    return argv[++*i];
}

static int is_opt(const char *arg, const char *opt)
{
    size_t n = strlen(opt);
    return !strncmp(arg, opt, n) && (arg[n] == '\0' || arg[n] == '=');
}

int main(int argc, char **argv)
{
    drudge_cli cli = {.argv = argv};
    /* Everything drudge and its scripts create holds case data: files a
     * script makes with io.open, exports, reports, downloads. Private to
     * the user, whatever the shell's umask (a stricter one is kept). */
    umask(umask(0) | 077);
    /* `drudge work` re-execs itself with these blocked (cmd_work.c). */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    sigprocmask(SIG_UNBLOCK, &stop_signals, NULL);
    cli.secrets_file = getenv("DRUDGE_SECRETS");
    cli.files_dir = getenv("DRUDGE_FILES");
    /* Global options may stand anywhere; take them out, keep the rest in order. */
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0;
    if (!rest)
        return DRUDGE_EXIT_ERROR;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            while (i < argc)
                rest[nrest++] = argv[i++];
            break;
        }
        if (is_opt(a, "--db"))
            cli.db_path = option_value(argc, argv, &i, "--db");
        else if (is_opt(a, "--secrets"))
            cli.secrets_file = option_value(argc, argv, &i, "--secrets");
        else if (is_opt(a, "--files"))
            cli.files_dir = option_value(argc, argv, &i, "--files");
        else if (is_opt(a, "--redact")) /* every host reads $DRUDGE_REDACT */
            setenv("DRUDGE_REDACT", cli.redact_file = option_value(argc, argv, &i, "--redact"), 1);
        else if (!strcmp(a, "--json"))
            cli.json = 1;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet"))
            cli.quiet = 1;
        else
            rest[nrest++] = argv[i];
    }
    if (!cli.db_path)
        cli.db_path = drudge_store_default();
    int rc;
    if (nrest == 0) {
        usage(stderr);
        rc = DRUDGE_EXIT_USAGE;
    } else if (!strcmp(rest[0], "--version") || !strcmp(rest[0], "version")) {
        printf("drudge %s (%s, %s)\n", DRUDGE_VERSION, LUA_RELEASE, drudge_store_engines());
        rc = DRUDGE_EXIT_OK;
    } else if (!strcmp(rest[0], "--help") || !strcmp(rest[0], "-h")) {
        usage(stdout);
        rc = DRUDGE_EXIT_OK;
    } else if (!strcmp(rest[0], "help")) {
        if (nrest < 2) {
            usage(stdout);
            rc = DRUDGE_EXIT_OK;
        } else {
            const struct command *c = find_command(rest[1]);
            if (!c) {
                fprintf(stderr, "drudge help: unknown command '%s' (see drudge --help)\n", rest[1]);
                rc = DRUDGE_EXIT_USAGE;
            } else {
                char *hargv[] = {(char *)c->name, "--help", NULL};
                rc = c->fn(&cli, 2, hargv);
            }
        }
    } else if (rest[0][0] == '-') {
        fprintf(stderr, "drudge: unknown option '%s' (see drudge --help)\n", rest[0]);
        rc = DRUDGE_EXIT_USAGE;
    } else {
        const struct command *c = find_command(rest[0]);
        if (!c) {
            fprintf(stderr, "drudge: unknown command '%s' (see drudge --help)\n", rest[0]);
            rc = DRUDGE_EXIT_USAGE;
        } else {
            rc = c->fn(&cli, nrest, rest);
        }
    }
    free(rest);
    return rc;
}

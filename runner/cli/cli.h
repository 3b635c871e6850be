/*
 * cli.h: the command line. runner/main.c parses the global options and
 * dispatches to one function per command; each command parses its own flags
 * (getopt_long), prints its own --help, and returns a DRUDGE_EXIT_* code.
 */
#ifndef DRUDGE_CLI_H
#define DRUDGE_CLI_H

#include <stdint.h>
#include <stdio.h>
#include "drudge/error.h"
#include "drudge/util.h"
#include "runner/store/store.h"

typedef struct drudge_cli {
    const char *db_path;      /* --db, $DRUDGE_DB, ./drudge.db */
    const char *secrets_file; /* --secrets, $DRUDGE_SECRETS */
    const char *files_dir;    /* --files, $DRUDGE_FILES */
    const char *redact_file;  /* --redact, $DRUDGE_REDACT (passed on to hosts via the env) */
    int json;                 /* --json */
    int quiet;                /* -q */
    char **argv;              /* the process's own arguments (work re-execs with them) */
} drudge_cli;

typedef int (*drudge_cmd_fn)(drudge_cli *cli, int argc, char **argv);

/* Prints "drudge CMD: message" and a pointer to --help on stderr; returns DRUDGE_EXIT_USAGE. */
int drudge_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "drudge CMD: message" on stderr and returns the exit code for err->code. */
int drudge_cli_fail(const char *cmd, const drudge_err *err);
/* The exit code for an error code. */
int drudge_cli_exit_code(drudge_code code);
/* Resolves the files directory (created 0700): --files, $DRUDGE_FILES, else
 * "<db path>.files". Returns a malloc'd path. */
char *drudge_cli_files_dir(const drudge_cli *cli);
/* Reads --input: inline JSON, or @path for a file; validates it as JSON.
 * Returns malloc'd text or NULL with err set. */
char *drudge_cli_read_input(const char *arg, drudge_err *err);

/* Opens the store named by --db for cmd (DRUDGE_STORE_* flags); on
 * failure prints why and returns NULL with *exit set. */
drudge_store *drudge_cli_store(const drudge_cli *cli, const char *cmd, int flags, int *exit);
/* The same with the error: for commands that close the store themselves
 * first. Returns an exit code: DRUDGE_EXIT_OK or the failure's. */
int drudge_cli_done(const char *cmd, drudge_store *s, drudge_code code, const drudge_err *err);

/* A time flag's value (drudge_parse_time_ex with flags): -1 when it is
 * one, else prints "drudge CMD: FLAG 'S': why" and returns the usage exit
 * code, as every command's time flags do. */
int drudge_cli_parse_time(const char *cmd, const char *flag, const char *s, int64_t now, int flags,
                          int64_t *out /* OUT */);
/* Parsers for flag values: 0, or -1 if s is not what is asked for. */
/* "250ms", "5s", "2m", "1h", "1d", or plain seconds ("1.5"). */
int drudge_cli_parse_duration(const char *s, int64_t *us /* OUT */);
int drudge_cli_parse_long(const char *s, long min, long max, long *out /* OUT */);
/* A number of minutes, 0 to 1e6. */
int drudge_cli_parse_minutes(const char *s, double *out /* OUT */);
/* A task id: "12" or "#12". */
int drudge_cli_parse_task_id(const char *s, int64_t *id /* OUT */);
/* The OS user running the command (for resolve, pause, ...). */
const char *drudge_cli_os_user(void);
/* An age as "42s", "3m07s", "2h05m", "4d03h". */
void drudge_cli_fmt_age(int64_t us, char *out, size_t n);
/* JSON: a string or null; a time as "2026-11-23T09:15:02.123456Z" or null. */
void drudge_cli_json_str(drudge_buf *b, const char *s);
void drudge_cli_json_time(drudge_buf *b, int64_t t);
/* getopt_long's ':' and '?' cases for cmd (inside its switch). */
#define DRUDGE_CLI_GETOPT_ERRORS(cmd)                                                              \
    case ':':                                                                                      \
        return drudge_cli_usage(cmd, "%s needs a value", argv[optind - 1]);                        \
    default:                                                                                       \
        return drudge_cli_usage(cmd, "unknown option '%s'", argv[optind - 1])

/* runner/cli/cmd_run.c */
int drudge_cmd_run(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_check(drudge_cli *cli, int argc, char **argv);
/* runner/cli/cmd_enqueue.c */
int drudge_cmd_enqueue(drudge_cli *cli, int argc, char **argv);
/* What SCRIPT names, for enqueue and schedule add: a script file (loaded
 * and checked; a path, a name ending in .lua, or an existing file), else a
 * script of that name queued before (the database remembers its path and
 * contract). Fills spec's script fields (drudge_task_spec_clear); "unknown
 * script 'x': no such file, and no script of that name was queued before"
 * otherwise. */
drudge_code drudge_cli_resolve_script(drudge_cli *cli, const char *script, drudge_store *s,
                                      drudge_task_spec *spec /* OUT */, drudge_err *err);
/* runner/cli/cmd_notify.c */
int drudge_cmd_notify(drudge_cli *cli, int argc, char **argv);
/* runner/cli/cmd_outages.c */
int drudge_cmd_outages(drudge_cli *cli, int argc, char **argv);
/* The open circuit breakers: a JSON array appended to json, or (json NULL)
 * a line each on stdout ("target X is DOWN since ..."). */
drudge_code drudge_cli_open_breakers(drudge_store *s, drudge_buf *json, int64_t now,
                                     drudge_err *err);
/* runner/cli/cmd_work.c */
int drudge_cmd_work(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_watch_folder(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_watch_mail(drudge_cli *cli, int argc, char **argv);
/* runner/cli/cmd_tasks.c */
int drudge_cmd_status(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_tasks(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_show(drudge_cli *cli, int argc, char **argv);
/* runner/cli/cmd_bulk.c: retry, cancel, resolve by ids, ranges and
 * filters, and the selection options they share with `drudge tasks`. */
struct drudge_task_select;
enum {
    DRUDGE_SEL_STATE = 256,
    DRUDGE_SEL_SCRIPT,
    DRUDGE_SEL_KEY,
    DRUDGE_SEL_KEY_PREFIX,
    DRUDGE_SEL_ERROR,
    DRUDGE_SEL_WAITING,
    DRUDGE_SEL_SINCE,
    DRUDGE_SEL_UNTIL,
    DRUDGE_SEL_FINISHED_SINCE,
    DRUDGE_SEL_FINISHED_UNTIL,
    DRUDGE_SEL_DEADLINE,
};
/* The selection options' entries of a struct option table, for getopt_long
 * (tasks, retry, cancel, resolve). */
#define DRUDGE_SELECT_LONG_OPTS                                                                    \
    {"state", required_argument, 0, DRUDGE_SEL_STATE},                                             \
        {"script", required_argument, 0, DRUDGE_SEL_SCRIPT},                                       \
        {"key", required_argument, 0, DRUDGE_SEL_KEY},                                             \
        {"key-prefix", required_argument, 0, DRUDGE_SEL_KEY_PREFIX},                               \
        {"error", required_argument, 0, DRUDGE_SEL_ERROR},                                         \
        {"waiting", required_argument, 0, DRUDGE_SEL_WAITING},                                     \
        {"since", required_argument, 0, DRUDGE_SEL_SINCE},                                         \
        {"until", required_argument, 0, DRUDGE_SEL_UNTIL},                                         \
        {"finished-since", required_argument, 0, DRUDGE_SEL_FINISHED_SINCE},                       \
        {"deadline", required_argument, 0, DRUDGE_SEL_DEADLINE},                                   \
    {                                                                                              \
        "finished-until", required_argument, 0, DRUDGE_SEL_FINISHED_UNTIL                          \
    }
/* getopt_long's c for a selection option into sel: -1 taken, 0 not a
 * selection option, else the exit code of a bad value (printed). */
int drudge_cli_select_opt(const char *cmd, int c, const char *arg, int64_t now,
                          struct drudge_task_select *sel);
/* argv[first..argc) as ids and ranges: -1, or the usage exit code. */
int drudge_cli_select_ids(const char *cmd, int argc, char **argv, int first,
                          struct drudge_task_select *sel);
/* Refuses empty date ranges and contradictions: -1, or the exit code. */
int drudge_cli_select_check(const char *cmd, const struct drudge_task_select *sel);
/* runner/cli/cmd_scripts.c */
int drudge_cmd_scripts(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_retry(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_cancel(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_pause(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_resume(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_resolve(drudge_cli *cli, int argc, char **argv);
/* runner/cli/watch.c: `drudge status --watch`, the live terminal view until
 * q or Ctrl-C. When stdout is not a terminal (or with --json) it prints one
 * snapshot and returns. Respects NO_COLOR. */
int drudge_watch_run(drudge_cli *cli, drudge_store *s);
/* The watch view's data as one JSON object, appended to out:
 * {"workers":N,"scripts":[{"script","paused","queued","running","retrying",
 *   "backlog":{"since","total","finished","done","failed","cancelled"},
 *   "rate_per_minute","eta_seconds"|null,"last_failure":{"task","error"}|null}],
 *  "next_runs":[{"schedule","script","at"}]}
 * The current backlog of a script starts at its oldest open task (or, when
 * all are finished, at the oldest of those finished in the last 10 minutes);
 * rates count tasks finished in the last 5 minutes. For `status --json`. */
drudge_code drudge_status_json(drudge_store *s, int64_t now_us, drudge_buf *out, drudge_err *err);

/* runner/cli/cmd_schedule.c */
int drudge_cmd_schedule(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_metrics(drudge_cli *cli, int argc, char **argv);
/* runner/cli/cmd_audit.c */
int drudge_cmd_audit(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_replay(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_test(drudge_cli *cli, int argc, char **argv);        /* cmd_test.c */
int drudge_cmd_record_case(drudge_cli *cli, int argc, char **argv); /* cmd_test.c */
/* runner/cli/cmd_report.c */
int drudge_cmd_report(drudge_cli *cli, int argc, char **argv);
/* runner/cli/cmd_db.c */
int drudge_cmd_db(drudge_cli *cli, int argc, char **argv);
/* runner/cli/cmd_serve.c */
int drudge_cmd_serve(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_user(drudge_cli *cli, int argc, char **argv);
/* runner/cli/cmd_demo.c */
int drudge_cmd_demo(drudge_cli *cli, int argc, char **argv);

#endif

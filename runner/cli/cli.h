/*
 * cli.h: the command line. runner/main.c parses the global options and
 * dispatches to one function per command; each command parses its own flags
 * (getopt_long), prints its own --help, and returns a DRUDGE_EXIT_* code.
 */
#ifndef DRUDGE_CLI_H
#define DRUDGE_CLI_H

#include <stdio.h>
#include "drudge/error.h"

typedef struct drudge_cli {
    const char *db_path;      /* --db, $DRUDGE_DB, ./drudge.db */
    const char *secrets_file; /* --secrets, $DRUDGE_SECRETS */
    const char *files_dir;    /* --files, $DRUDGE_FILES */
    const char *redact_file;  /* --redact, $DRUDGE_REDACT (passed on to hosts via the env) */
    int json;                 /* --json */
    int quiet;                /* -q */
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

/* runner/cli/cmd_run.c */
int drudge_cmd_run(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_check(drudge_cli *cli, int argc, char **argv);
/* runner/cli/cmd_queue.c */
int drudge_cmd_enqueue(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_work(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_status(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_tasks(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_show(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_retry(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_cancel(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_pause(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_resume(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_resolve(drudge_cli *cli, int argc, char **argv);
/* runner/cli/cmd_schedule.c */
int drudge_cmd_schedule(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_metrics(drudge_cli *cli, int argc, char **argv);
/* runner/cli/cmd_audit.c */
int drudge_cmd_audit(drudge_cli *cli, int argc, char **argv);
int drudge_cmd_replay(drudge_cli *cli, int argc, char **argv);
/* runner/cli/cmd_report.c */
int drudge_cmd_report(drudge_cli *cli, int argc, char **argv);
/* runner/cli/cmd_demo.c */
int drudge_cmd_demo(drudge_cli *cli, int argc, char **argv);

#endif

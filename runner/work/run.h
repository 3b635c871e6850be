/*
 * run.h: `drudge run`: one task of a script now, in the foreground,
 * recorded like a queued task (runner/work/run.c).
 */
#ifndef DRUDGE_RUN_H
#define DRUDGE_RUN_H

#include <stdint.h>
#include "drudge/error.h"
#include "drudge/host.h"

typedef struct drudge_run_result drudge_run_result;

typedef struct drudge_run_opts {
    const char *db_path;
    const char *script; /* a script file */
    const char *input;  /* JSON, or NULL */
    const char *key;    /* or NULL */
    const char *files_dir, *secrets_file;
    int echo_logs;
    /* Called from another thread when the attempt is still running
     * DRUDGE_GRACE_S past its timeout, or past a `drudge cancel` (work.h):
     * with r recorded, as a timeout or cancelled (err NULL), or with why it
     * could not be. The script's thread is stuck: it must end the process
     * (print, then _exit) and never return. */
    void (*abandoned)(const drudge_run_result *r, const drudge_err *err, void *ud);
    void *abandoned_ud;
} drudge_run_opts;

struct drudge_run_result {
    int64_t task_id;
    const char *state; /* the task's state after the attempt (static) */
    int cancelled;     /* `drudge cancel` stopped it */
    drudge_result res; /* the attempt (drudge_result_clear) */
};

/* Loads the script (errors name file and line), records a task running
 * under a lease of the run's own, runs one attempt (a system error is not
 * retried: the task ends dead), and records its outcome and steps. While it
 * runs, `drudge cancel` of the task stops it within about a second, and its
 * closed steps go on the chain about once a second. */
drudge_code drudge_run_task(const drudge_run_opts *o, drudge_run_result *out /* OUT */,
                            drudge_err *err);

#endif

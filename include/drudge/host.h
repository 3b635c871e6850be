/*
 * host.h: the Lua host. One drudge_host per worker thread: a sandboxed
 * lua_State with a memory cap, the built-in modules in package.preload, the
 * script globals (step, fail, retry_later, secret, log) and a cache of loaded
 * scripts. Scripts run in their own _ENV; a file's top level runs once per
 * host, its run() once per attempt.
 */
#ifndef DRUDGE_HOST_H
#define DRUDGE_HOST_H

#include <stdint.h>
#include "error.h"
#include "record.h"

typedef struct drudge_host drudge_host;
typedef struct lua_State lua_State;

typedef struct drudge_host_opts {
    size_t mem_limit;         /* bytes for the whole state; 0 = 256 MiB */
    const char *files_dir;    /* io.open is confined here; NULL = no file access */
    const char *secrets_file; /* NAME=value lines, must be mode 0600; NULL = env only */
    int echo_logs;            /* print log.* lines to stderr as well */
    const char *redact_file;  /* redaction patterns (logs/audit/redact.c); NULL = $DRUDGE_REDACT */
} drudge_host_opts;

/* What a script declares; filled by drudge_host_load. Strings owned by the host. */
typedef struct drudge_script_info {
    const char *path;         /* as given */
    const char *name;         /* `name` field, else the file name without .lua */
    double manual_minutes;    /* 0 if not given */
    double exception_minutes; /* 0 if not given */
    int max_attempts;         /* default 3 */
    double timeout;           /* seconds per attempt; default 300 */
    const char *window;       /* run window ("Mon-Fri 18:00-07:30"), or NULL */
    const char *deadline;     /* its tasks' default deadline ("2 working days"), or NULL */
    int screenshot_on_error;  /* desktop: capture the screen when a step fails */
    /* targets = { "cms.example.org", mail = "mail.example.org" }: the systems
     * it calls, known before its first call (so an open circuit breaker
     * holds its tasks from the start); a named one may be given to outage()
     * by its name. ntargets of each; target_names[i] NULL when unnamed. */
    char **targets, **target_names;
    int ntargets;
} drudge_script_info;

typedef enum drudge_outcome {
    DRUDGE_DONE = 0,    /* run returned; output holds its JSON */
    DRUDGE_FAILED,      /* fail(msg): a business exception, not retried */
    DRUDGE_ERROR,       /* a system error: retried with backoff */
    DRUDGE_RETRY_LATER, /* retry_later(s, msg): requeue without spending an attempt */
    DRUDGE_TIMEOUT,     /* the attempt ran past its timeout (a system error) */
    DRUDGE_MEMORY,      /* the memory cap was hit (a system error) */
    DRUDGE_CANCELLED,   /* drudge_host_cancel stopped it (an operator's cancel, an abort) */
    DRUDGE_CONFIG,      /* a configuration or programming error (a missing secret, a
                         * misused API, a script that does not load): not retried and
                         * not charged; a worker requeues the task and pauses its script */
} drudge_outcome;

/* What one attempt produced. Strings are malloc'd; drudge_result_clear frees. */
typedef struct drudge_result {
    drudge_outcome outcome;
    char *output;       /* JSON text of run()'s return value (DONE), redacted */
    char *error;        /* message, redacted (not DONE) */
    char *traceback;    /* Lua traceback for system errors, redacted, or NULL */
    double retry_after; /* seconds, for DRUDGE_RETRY_LATER */
    int64_t duration_us;
} drudge_result;

/* A task as the script sees it. */
typedef struct drudge_task_view {
    int64_t id;
    const char *key;      /* may be NULL */
    int attempt;          /* 1-based */
    const char *input;    /* JSON text; NULL means null */
    const char *script;   /* script name */
    const char *previous; /* JSON array of earlier attempts and their steps
                           * (drudge_previous_attempts), or NULL */
} drudge_task_view;

drudge_host *drudge_host_new(const drudge_host_opts *opts, drudge_err *err);
void drudge_host_free(drudge_host *h);
lua_State *drudge_host_lua(drudge_host *h);
drudge_rec *drudge_host_rec(drudge_host *h);

/* Loads (or returns the cached) script at path, validating its contract.
 * *info stays valid until the host is freed. Errors name file and line. */
drudge_code drudge_host_load(drudge_host *h, const char *path,
                             const drudge_script_info **info /* OUT */, drudge_err *err);
/* Runs one attempt of a loaded script. The recorder is reset for
 * (task->id, task->attempt) and the attempt is recorded as a "task" step
 * with the script's steps under it. Always fills *res (outcome and detail);
 * returns DRUDGE_OK unless the host itself failed. */
drudge_code drudge_host_run(drudge_host *h, const char *path, const drudge_task_view *task,
                            drudge_result *res, drudge_err *err);
void drudge_result_clear(drudge_result *res);
/* Ends the running attempt at its next deadline check (safe from another
 * thread; cleared when the next attempt starts): unless it had returned,
 * its outcome is DRUDGE_CANCELLED, whatever stopped it (the deadline hook,
 * or a connector call cut short), and whatever its timeout. */
void drudge_host_cancel(drudge_host *h);
/* For a watchdog in another thread: the monotonic time (drudge_mono_us)
 * at which the running attempt's timeout passes, 0 when nothing runs under
 * a deadline; *timeout_s gets that timeout. */
int64_t drudge_host_deadline(drudge_host *h, double *timeout_s /* OUT */);
/* Gives the host a fresh recorder and returns the last attempt's, so a worker
 * can run on while the queue writer appends the old one (caller owns it). */
drudge_rec *drudge_host_swap_rec(drudge_host *h, drudge_rec *fresh);
const char *drudge_outcome_name(drudge_outcome o); /* "done", "failed", ... */

/* Seconds left before the running attempt's deadline (for connectors that
 * block in C and must cap their own timeouts); a large number when idle. */
double drudge_host_remaining(lua_State *L);
/* Resolves path inside the files directory as io.open does; pushes the full
 * path and returns it, or raises naming the path. */
const char *drudge_host_confine(lua_State *L, const char *path);
/* Raises a system error in L with a message (never returns). */
int drudge_host_raise(lua_State *L, const char *fmt, ...);

/* Built-in modules, in package.preload of every host (host.c's table). */
typedef int (*drudge_lua_open)(lua_State *L);
int luaopen_drudge_json(lua_State *L); /* runner/host/json.c */
int luaopen_drudge_log(lua_State *L);  /* runner/host/api.c */
/* Connectors, in loadable modules drudge_NAME.so (host.c opens them on the
 * first require; unit tests link them in): */
int luaopen_drudge_http(lua_State *L);    /* connectors/http*.c */
int luaopen_drudge_desktop(lua_State *L); /* connectors/desktop*.c */
int luaopen_drudge_mail(lua_State *L);    /* connectors/mail*.c */
int luaopen_drudge_browser(lua_State *L); /* connectors/browser/ */
int luaopen_drudge_csv(lua_State *L);     /* connectors/csv/csv.c */
int luaopen_drudge_xlsx(lua_State *L);    /* connectors/xlsx/xlsx*.c */
int luaopen_drudge_pdf(lua_State *L);     /* connectors/pdf/pdf.c */

/* Per-task context for connectors that need it (e.g. http cookies cleared
 * between tasks): a callback run at the start of every attempt. */
typedef void (*drudge_attempt_hook)(lua_State *L);
void drudge_host_on_attempt(drudge_attempt_hook hook); /* up to 8, before hosts start */
/* A callback run at the end of every attempt, its outcome known (desktop
 * releases its display lock there). */
void drudge_host_on_attempt_end(drudge_attempt_hook hook); /* up to 8, before hosts start */
/* The names of the built-in modules ("drudge.json\n..."), and of every
 * global a script's sandbox has, one per line, appended to out. */
struct drudge_buf;
void drudge_host_module_names(struct drudge_buf *out);
void drudge_host_global_names(struct drudge_buf *out);
/* `drudge check`'s static checks of the script at path (runner/host/lint.c,
 * with luacheck): undefined globals, `require`s of modules that do not
 * exist, unknown option names in table literals given to drudge's
 * functions, and (check_secrets) `secret "NAME"` literals set neither in
 * the environment nor in secrets_file. Appends "path:line:col: message"
 * lines to out and counts them; an error only when the checks cannot run
 * (luacheck missing: DRUDGE_ENOTFOUND). */
drudge_code drudge_host_lint(const char *path, const char *secrets_file, int check_secrets,
                             struct drudge_buf *out, int *nproblems /* OUT */, drudge_err *err);
/* Checks that the secrets file can be read and that nobody else can
 * (mode 0600 or stricter); the error says how to fix it. */
drudge_code drudge_host_check_secrets(const char *file, drudge_err *err);
/* The secret name as a script's secret(name) reads it: $DRUDGE_SECRET_<NAME>,
 * else the secrets file (checked as above; may be NULL). *out is malloc'd
 * (the caller wipes and frees it); DRUDGE_ENOTFOUND when it is not set. */
drudge_code drudge_host_secret(const char *file, const char *name, char **out /* OUT */,
                               drudge_err *err);
/* Raises a configuration error (never returns): something an operator or
 * the script's author must fix, which a retry cannot (a missing secret, an
 * unknown key name, an option of the wrong type). The task is not retried:
 * the worker requeues it and pauses its script, saying why in `status`. */
int drudge_host_config_error(lua_State *L, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Writes a file in the files directory as a step (runner/host/files.c):
 * path is confined as io.open's (raises outside); write(L, tmp, ud, err)
 * writes the whole file at tmp (beside path), which is then made 0600,
 * hashed and renamed to path. The step is kind "file", named "FN PATH",
 * request {"path"}, response {"path" (full), "sha256", "size"}; a failure
 * raises "FN: message" as a system error. write must not raise. Returns 1:
 * the response table is pushed. In replay nothing is written: the recorded
 * response is returned. */
typedef drudge_code (*drudge_file_writer)(lua_State *L, const char *tmp, void *ud, drudge_err *err);
int drudge_host_write_file(lua_State *L, const char *fn, const char *path, drudge_file_writer write,
                           void *ud);
/* Raises what fail(msg) raises, a business exception (never returns). */
int drudge_host_raise_fail(lua_State *L, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Raises what retry_later(seconds, msg) raises (never returns). */
int drudge_host_raise_retry(lua_State *L, double seconds, const char *msg);
/* Called when a step(...) ends in an error, with the step's seq still open
 * (desktop uses it for screenshot_on_error). */
typedef void (*drudge_step_error_hook)(lua_State *L, int seq);
void drudge_host_on_step_error(drudge_step_error_hook hook); /* up to 8 */
/* The info of the script whose attempt is running in L, or NULL. */
const drudge_script_info *drudge_host_current_script(lua_State *L);

/* Creates the metatable `name` in L's registry, once per state: the
 * functions of meta become its fields ({"__metatable", NULL} sets false,
 * which hides it from getmetatable), and methods, if given, its __index: a
 * table of them, or, when meta has an __index function of its own, that
 * function's first upvalue. Leaves the stack as it was. */
struct luaL_Reg;
void drudge_lua_class(lua_State *L, const char *name, const struct luaL_Reg *meta,
                      const struct luaL_Reg *methods);

#endif

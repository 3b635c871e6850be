/* hostint.h: internals shared by the host's files (host.c, api.c, json.c). */
#ifndef DRUDGE_HOSTINT_H
#define DRUDGE_HOSTINT_H

#include <stdatomic.h>
#include <lua.h>
#include "drudge/host.h"
#include "drudge/json.h"
#include "drudge/util.h"
#include "runner/host/version.h"

#define DRUDGE_OUTCOME_MT "drudge.outcome" /* fail() and retry_later() */
#define DRUDGE_ERROR_MT   "drudge.error"   /* a system error with its traceback */

typedef struct host_script {
    char *path, *dir;
    drudge_script_info info;
    drudge_script_version version; /* read when loaded (version.c) */
    int ref;                       /* registry ref of the script table */
} host_script;

struct drudge_host {
    lua_State *L;
    size_t mem_used, mem_limit;
    int mem_exceeded;
    _Atomic int64_t deadline_us; /* monotonic; 0 = none (a watchdog reads it) */
    _Atomic double timeout_s;
    int timed_out;
    _Atomic int cancelled; /* drudge_host_cancel: end the running attempt */
    drudge_rec *rec;
    char *files_dir, *secrets_file;
    int echo_logs;
    host_script *scripts;
    size_t nscripts;
    const drudge_script_info *current; /* script of the running attempt */
};

drudge_host *drudge_host_of(lua_State *L);
/* Raises the attempt's timeout (or its memory error) if it is due: for C
 * code that may run long without returning to Lua (pattern.c). */
void drudge_host_check_deadline(lua_State *L);
/* pattern.c: string.find, match, gmatch and gsub with a deadline check. */
void drudge_pattern_open(lua_State *L);
void drudge_host_step_error(lua_State *L, int seq);
int drudge_host_msgh(lua_State *L);

/* Raises the attempt's timeout (or memory error) if it is due, as the
 * deadline hook would; returns otherwise. */
void drudge_host_check_deadline(lua_State *L);

/* files.c: io.open for writing. host_track_write keeps the file handle at
 * idx (just opened with mode, at full, rel to the files directory) so that
 * its close -- f:close(), a <close> variable, or host_close_writes at the
 * attempt's end for one the script left open -- is a "file" step with the
 * file's size and SHA-256. Tracked handles are held until closed, so none
 * is closed by the garbage collector, where no step could be recorded. */
void host_track_write(lua_State *L, int idx, const char *full, const char *rel, const char *mode);
void host_close_writes(lua_State *L);

/* wait.c: sleep and wait_until into a sandbox env */
void drudge_wait_install(lua_State *L, int env);

/* api.c */
void drudge_api_open(lua_State *L);             /* metatables, once per state */
void drudge_api_install(lua_State *L, int env); /* step, fail, ... into a sandbox env */
void drudge_host_log(drudge_host *h, const char *level, const char *msg);
/* Pushes a drudge.error with msg and the traceback from level. */
void drudge_host_push_error(lua_State *L, const char *msg, int level);
/* Describes the error value at idx: appends its message to msg and its
 * traceback (if any) to tb; returns the outcome it stands for. */
drudge_outcome drudge_host_error_text(lua_State *L, int idx, drudge_buf *msg, drudge_buf *tb);
/* The delay of a retry_later() value at idx, else 0. */
double drudge_host_retry_after(lua_State *L, int idx);

#endif

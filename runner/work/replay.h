/*
 * replay.h: `drudge replay`: re-running a recorded attempt offline on a host
 * whose connectors answer from the recording (runner/work/replay.c).
 */
#ifndef DRUDGE_REPLAY_H
#define DRUDGE_REPLAY_H

#include <stddef.h>
#include <stdint.h>
#include "drudge/error.h"
#include "runner/store/store.h"

typedef struct drudge_replay_opts {
    int64_t task_id;
    int attempt; /* 0 = the last recorded attempt */
    /* run this file instead of the version that ran, or NULL: then the
     * version's source stored in the database (needing no file), or for an
     * attempt recorded before versions were, the task's script file */
    const char *script_path;
    const char *files_dir; /* as for drudge run */
    int echo_logs;
} drudge_replay_opts;

typedef struct drudge_replay_result {
    int attempt;               /* the attempt replayed */
    size_t steps;              /* steps the replay made */
    size_t recorded;           /* steps in the recording */
    int pruned;                /* payloads of the attempt that were pruned */
    char *divergence;          /* malloc'd first divergence, or NULL when identical */
    char *outcome;             /* malloc'd outcome of the replayed attempt ("done", ...) */
    char recorded_version[65]; /* the script version that ran ("" if not recorded) */
    char version[65];          /* the version replayed */
    int stored_source;         /* replayed from the database's copy of the source */
} drudge_replay_result;

/* Re-runs a recorded attempt with its recorded input: connectors answer from
 * the recording instead of touching the world, secrets read as
 * "[REDACTED:name]", and every step is compared with the recorded one.
 * Returns DRUDGE_OK (identical), DRUDGE_EDIVERGE (res->divergence says
 * where), or an error if the replay could not run. */
drudge_code drudge_replay(drudge_store *s, const drudge_replay_opts *opts,
                          drudge_replay_result *res /* OUT */, drudge_err *err);
void drudge_replay_result_clear(drudge_replay_result *res);

#endif

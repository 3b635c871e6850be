/*
 * hotfolder.h: `drudge watch-folder`: a file dropped into a directory
 * becomes a task (runner/work/hotfolder.c).
 *
 * Each regular file in DIR, once fully written (closed, and unchanged for
 * `settle`), is queued as one task keyed "file:NAME@SHA256" and moved to
 * DIR/processing/; when its task ends it moves on to DIR/done/ (done) or
 * DIR/failed/ (failed, dead or cancelled). The key makes every step safe to
 * repeat: a watcher killed anywhere and started again finds the file where
 * it was left, and queueing it again finds the task that exists. Files are
 * never deleted.
 */
#ifndef DRUDGE_HOTFOLDER_H
#define DRUDGE_HOTFOLDER_H

#include <signal.h>
#include <stdint.h>
#include "drudge/error.h"
#include "runner/store/store.h"

typedef struct drudge_hotfolder_opts {
    const char *db_path;
    const char *dir;              /* the watched directory */
    const char *files_dir;        /* the scripts' files directory (real path), for task paths */
    const drudge_task_spec *spec; /* the script's fields (script, path, contract, priority) */
    int64_t settle_us;            /* unchanged this long = fully written; 0 = 1 s */
    volatile sig_atomic_t *stop;  /* set by a signal: finish and return */
    int verbose;                  /* a line per file on stderr */
} drudge_hotfolder_opts;

typedef struct drudge_hotfolder_stats {
    int64_t queued, duplicates, done, failed;
} drudge_hotfolder_stats;

/* Watches until *stop is set. An error (the directory cannot be watched, the
 * database fails) ends it with err set. */
drudge_code drudge_hotfolder_run(const drudge_hotfolder_opts *o, drudge_hotfolder_stats *st,
                                 drudge_err *err);

#endif

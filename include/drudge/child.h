/*
 * child.h: helper processes a connector starts (the browser connector's
 * chromedriver and the Chromium under it) that must never outlive the
 * drudge process that started them (runner/util/child.c).
 *
 * Three guards, from the quickest to the last resort:
 *   1. the attempt's end releases the child (the connector calls
 *      drudge_child_release): its whole process group is killed and its
 *      private directory removed;
 *   2. the child gets SIGKILL as its parent-death signal (prctl
 *      PR_SET_PDEATHSIG), so a worker killed with kill -9 takes it along
 *      (a child that dies must take its own children with it: chromedriver
 *      drives Chromium through a pipe, and Chromium exits when it closes);
 *   3. every child has a pid file in the state directory naming its owner;
 *      drudge_child_reap (run when `drudge work` starts, and before a
 *      connector starts a new child) kills the process groups whose owner
 *      is gone and removes what they left.
 *
 * The parent-death signal is sent when the *thread* that forked the child
 * ends: start children from the thread that runs the attempt (a worker
 * thread lives as long as its pool).
 */
#ifndef DRUDGE_CHILD_H
#define DRUDGE_CHILD_H

#include <limits.h>
#include <stddef.h>
#include "error.h"

/* Starts zeroed: `drudge_child c = {0};` holds nothing. */
typedef struct drudge_child {
    int pid;                /* the process group leader; 0 when none runs */
    char dir[PATH_MAX];     /* the child's private directory ("" before prepare) */
    char pidfile[PATH_MAX]; /* "<state>/<kind>-<pid>.child" once started */
} drudge_child;

/* The state directory for pid files and children's directories:
 * $DRUDGE_STATE_DIR, else $XDG_RUNTIME_DIR/drudge, else /tmp/drudge-<uid>;
 * created 0700 and refused if another user owns it. */
drudge_code drudge_state_dir(char *out, size_t n, drudge_err *err);

/* Makes the child's private directory, "<state>/<kind>.XXXXXX" (0700), for
 * its profile and log, so that the reaper can find what belongs to it. */
drudge_code drudge_child_prepare(drudge_child *c, const char *kind, drudge_err *err);

/* Starts the program argv[0] (a path, or a name looked up in $PATH) with
 * argv, in a process group of its own, with SIGKILL as its parent-death
 * signal, stdin from /dev/null and stdout and stderr appended to log (a
 * path, usually inside c->dir); then writes its pid file. env: extra
 * "NAME=value" strings (NULL-terminated, or NULL). */
drudge_code drudge_child_spawn(drudge_child *c, char *const argv[], char *const env[],
                               const char *log, drudge_err *err);

/* 1 while the child's leader has not exited (reaps it if it has). */
int drudge_child_alive(drudge_child *c);

/* Ends the child: SIGTERM to its process group, SIGKILL after grace_ms
 * (0: at once), waits for the leader, removes its directory and pid file.
 * Safe on a zeroed or released child. */
void drudge_child_release(drudge_child *c, int grace_ms);

/* Removes dir and everything in it (a directory a child wrote into, such
 * as a browser profile inside c->dir), trying again for a moment while a
 * process that is still dying writes one more file. */
void drudge_child_remove_dir(const char *dir);

/* Kills what children of dead owners left (process groups, directories,
 * pid files). Returns how many it reaped; what (if not NULL) gets a short
 * description of the first ("chromedriver pid 123 of pid 99"). */
int drudge_child_reap(char *what, size_t n);
/* Reads /proc/<pid>/stat into buf: the text after the command name (from
 * the state letter on), or NULL if there is no such process. */
const char *drudge_child_stat(int pid, char *buf, size_t size);
/* Calls fn(pid, ud) for every process until fn returns non-zero, and
 * returns that (0 if none did): a scan of /proc, since the kernel here
 * keeps no list of a process's children under /proc/<pid>/task. */
int drudge_child_each_pid(int (*fn)(int pid, void *ud), void *ud);
/* The command line of pid as the kernel keeps it: its arguments, each
 * ended by a NUL; *len gets its length. Malloc'd; NULL if there is no such
 * process (or it is a zombie, whose command line is empty). */
char *drudge_child_cmdline(int pid, size_t *len);

#endif

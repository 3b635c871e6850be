/* test_child.c: helper processes that must not outlive drudge
 * (runner/util/child.c): the state directory, spawning into a process group
 * with a pid file, releasing, and reaping what a dead owner left. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "drudge/child.h"
#include "drudge/util.h"

static char state[] = "/tmp/drudge-child-test.XXXXXX";

static int setup(void **ud)
{
    assert_non_null(mkdtemp(state));
    setenv("DRUDGE_STATE_DIR", state, 1);
    return 0;
}

static int teardown(void **ud)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", state);
    return system(cmd);
}

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Entries of the state directory ("." and ".." not counted). */
static int entries(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "ls -A %s | wc -l", state);
    FILE *p = popen(cmd, "r");
    int n = -1;
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

/* 1 while a process of group pgid is alive (zombies do not count). */
static int group_alive(int pgid)
{
    if (kill(-pgid, 0) != 0)
        return 0;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "ps -eo pgid=,stat= | awk '$1 == %d && $2 !~ /^Z/' | grep -q .",
             pgid);
    return system(cmd) == 0;
}

/* Waits (30 s at most, by the clock: a loaded machine runs ps slowly)
 * until cond(arg) is false; returns its last value. */
static int wait_while(int (*cond)(int), int arg)
{
    int64_t end = drudge_mono_us() + 30 * 1000000;
    while (cond(arg) && drudge_mono_us() < end) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return cond(arg);
}

static void wait_group_gone(int pgid)
{
    assert_false(wait_while(group_alive, pgid));
}

static void test_state_dir(void **ud)
{
    char dir[512];
    drudge_err err = {0};
    assert_int_equal(drudge_state_dir(dir, sizeof dir, &err), DRUDGE_OK);
    assert_string_equal(dir, state);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/deeper", state);
    setenv("DRUDGE_STATE_DIR", sub, 1);
    assert_int_equal(drudge_state_dir(dir, sizeof dir, &err), DRUDGE_OK);
    struct stat st;
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    rmdir(sub);
    /* not a directory: refused with the path */
    char file[600];
    snprintf(file, sizeof file, "%s/file", state);
    fclose(fopen(file, "w"));
    setenv("DRUDGE_STATE_DIR", file, 1);
    assert_int_equal(drudge_state_dir(dir, sizeof dir, &err), DRUDGE_EIO);
    assert_non_null(strstr(err.msg, "is not a directory"));
    unlink(file);
    setenv("DRUDGE_STATE_DIR", state, 1);
}

static void test_spawn_release(void **ud)
{
    drudge_child c = {0};
    drudge_err err = {0};
    assert_int_equal(drudge_child_prepare(&c, "test", &err), DRUDGE_OK);
    assert_true(exists(c.dir));
    assert_true(exists(c.pidfile));
    char log[4200];
    snprintf(log, sizeof log, "%s/out.log", c.dir);
    char *argv[] = {"sh", "-c", "echo started; sleep 30 & wait", NULL};
    char *env[] = {"DRUDGE_CHILD_TEST=1", NULL};
    assert_int_equal(drudge_child_spawn(&c, argv, env, log, &err), DRUDGE_OK);
    assert_true(c.pid > 0);
    assert_true(drudge_child_alive(&c));
    assert_int_equal(getpgid(c.pid), c.pid); /* a group of its own */
    char *text = drudge_read_file(c.pidfile, NULL);
    char owner[64];
    snprintf(owner, sizeof owner, "owner %d ", (int)getpid());
    assert_non_null(strstr(text, owner));
    assert_non_null(strstr(text, c.dir));
    free(text);
    /* a live owner's child is never reaped */
    assert_int_equal(drudge_child_reap(NULL, 0), 0);
    assert_true(drudge_child_alive(&c));
    int pgid = c.pid;
    drudge_child_release(&c, 200);
    wait_group_gone(pgid); /* the sleep under sh too */
    assert_int_equal(c.pid, 0);
    assert_int_equal(entries(), 0);
    drudge_child_release(&c, 0); /* twice is harmless */
    drudge_child zero = {0};
    drudge_child_release(&zero, 0);
}

static void test_missing_program(void **ud)
{
    drudge_child c = {0};
    drudge_err err = {0};
    assert_int_equal(drudge_child_prepare(&c, "test", &err), DRUDGE_OK);
    char log[4200];
    snprintf(log, sizeof log, "%s/out.log", c.dir);
    char *argv[] = {"/nonexistent/driver", NULL};
    assert_int_equal(drudge_child_spawn(&c, argv, NULL, log, &err), DRUDGE_OK);
    for (int64_t end = drudge_mono_us() + 30 * 1000000;
         drudge_child_alive(&c) && drudge_mono_us() < end;)
        usleep(10000);
    assert_false(drudge_child_alive(&c)); /* exec failed: it exits 127 */
    drudge_child_release(&c, 0);
    assert_int_equal(entries(), 0);
}

/* An owner that dies leaving a child whose group outlives it (a wrapper
 * killed by the parent-death signal, its child not): the reaper kills the
 * group, removes the directory and the pid file. */
static void test_reap_dead_owner(void **ud)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t owner = fork();
    if (owner == 0) {
        drudge_child c = {0};
        drudge_err err = {0};
        if (drudge_child_prepare(&c, "orphan", &err) != DRUDGE_OK)
            _exit(1);
        char log[4200], ready[4200], script[8800];
        snprintf(log, sizeof log, "%s/out.log", c.dir);
        snprintf(ready, sizeof ready, "%s/ready", c.dir);
        /* the inner sh names the directory, as chromedriver's --log-path
         * does, and says when it runs: the owner dies only then (a fixed
         * 200 ms was too short on a loaded machine, and the parent-death
         * signal then took the outer sh before it had started the inner) */
        snprintf(script, sizeof script, "(sh -c ': >%s; sleep 30; echo %s') & wait", ready, c.dir);
        char *argv[] = {"sh", "-c", script, NULL};
        if (drudge_child_spawn(&c, argv, NULL, log, &err) != DRUDGE_OK)
            _exit(1);
        for (int64_t end = drudge_mono_us() + 30 * 1000000;
             !exists(ready) && drudge_mono_us() < end;)
            usleep(10000);
        if (write(fds[1], &c.pid, sizeof c.pid) != sizeof c.pid)
            _exit(1);
        _exit(0); /* dies without releasing */
    }
    int pgid = 0;
    assert_int_equal(read(fds[0], &pgid, sizeof pgid), (ssize_t)sizeof pgid);
    int status;
    waitpid(owner, &status, 0);
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(group_alive(pgid)); /* the inner sh and its sleep survived */
    assert_int_equal(entries(), 2); /* the directory and its pid file */
    char what[256];
    assert_int_equal(drudge_child_reap(what, sizeof what), 1);
    assert_non_null(strstr(what, "orphan."));
    wait_group_gone(pgid);
    assert_int_equal(entries(), 0);
    assert_int_equal(drudge_child_reap(what, sizeof what), 0);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_dir),
        cmocka_unit_test(test_spawn_release),
        cmocka_unit_test(test_missing_program),
        cmocka_unit_test(test_reap_dead_owner),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

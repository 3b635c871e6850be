/* child.c: helper processes that must not outlive drudge (see
 * drudge/child.h): spawning them in their own process group with a
 * parent-death signal, pid files in the state directory, and reaping what
 * a killed owner left behind.
 *
 * A pid file "<state>/<kind>.XXXXXX.child" sits beside the child's
 * directory "<state>/<kind>.XXXXXX" and holds three lines:
 *   owner <pid> <start time>
 *   child <pid> <start time>      (0 0 until the child runs)
 *   dir <path>
 * Start times (clock ticks since boot, /proc/PID/stat field 22) make a pid
 * that the kernel has since given to another process harmless: a pid file
 * is only honoured for the process that wrote it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "drudge/child.h"
#include "drudge/util.h"

#define SUFFIX ".child"

drudge_code drudge_state_dir(char *out, size_t n, drudge_err *err)
{
    const char *env = getenv("DRUDGE_STATE_DIR"), *run = getenv("XDG_RUNTIME_DIR");
    if (env && *env)
        snprintf(out, n, "%s", env);
    else if (run && *run)
        snprintf(out, n, "%s/drudge", run);
    else
        snprintf(out, n, "/tmp/drudge-%u", (unsigned)getuid());
    if (mkdir(out, 0700) != 0 && errno != EEXIST)
        return drudge_seterr(err, DRUDGE_EIO, "cannot create the state directory %s: %s", out,
                             strerror(errno));
    struct stat st;
    if (lstat(out, &st) != 0 || !S_ISDIR(st.st_mode))
        return drudge_seterr(err, DRUDGE_EIO, "the state directory %s is not a directory", out);
    /* /tmp is shared: a directory someone else made there must not be ours. */
    if (st.st_uid != getuid())
        return drudge_seterr(err, DRUDGE_EIO,
                             "the state directory %s belongs to uid %u, not to us (uid %u); set "
                             "DRUDGE_STATE_DIR",
                             out, (unsigned)st.st_uid, (unsigned)getuid());
    return DRUDGE_OK;
}

const char *drudge_child_stat(int pid, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    ssize_t len = read(fd, buf, size - 1);
    close(fd);
    if (len <= 0)
        return NULL;
    buf[len] = '\0';
    /* The command name is in parentheses and may hold spaces and
     * parentheses: the fields go on after the last ')'. */
    char *p = strrchr(buf, ')');
    return p ? p + 1 : NULL;
}

/* Clock ticks since boot at which pid started, or 0 if it does not exist. */
static unsigned long long start_time(int pid)
{
    char buf[1024];
    /* Field 3 is the state, 22 the start time. */
    const char *rest = drudge_child_stat(pid, buf, sizeof buf);
    if (!rest)
        return 0;
    char *p = buf + (rest - buf); /* strtok writes into buf */
    unsigned long long v = 0;
    int field = 2;
    for (char *tok = strtok(p, " "); tok; tok = strtok(NULL, " ")) {
        field++;
        if (field == 3 && *tok == 'Z')
            return 0; /* a zombie is gone for our purposes */
        if (field == 22) {
            v = strtoull(tok, NULL, 10);
            break;
        }
    }
    return v;
}

static int write_pidfile(const drudge_child *c, unsigned long long cstart, drudge_err *err)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", c->pidfile);
    FILE *f = fopen(tmp, "we");
    if (!f)
        return drudge_seterr(err, DRUDGE_EIO, "cannot write %s: %s", tmp, strerror(errno));
    int me = (int)getpid();
    fprintf(f, "owner %d %llu\nchild %d %llu\ndir %s\n", me, start_time(me), c->pid, cstart,
            c->dir);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, c->pidfile) != 0) {
        unlink(tmp);
        return drudge_seterr(err, DRUDGE_EIO, "cannot write %s: %s", c->pidfile, strerror(errno));
    }
    return DRUDGE_OK;
}

drudge_code drudge_child_prepare(drudge_child *c, const char *kind, drudge_err *err)
{
    char state[PATH_MAX - 64];
    memset(c, 0, sizeof *c);
    drudge_code rc = drudge_state_dir(state, sizeof state, err);
    if (rc != DRUDGE_OK)
        return rc;
    snprintf(c->dir, sizeof c->dir, "%s/%s.XXXXXX", state, kind);
    if (!mkdtemp(c->dir)) {
        drudge_seterr(err, DRUDGE_EIO, "cannot create a directory in %s: %s", state,
                      strerror(errno));
        c->dir[0] = '\0';
        return DRUDGE_EIO;
    }
    if (snprintf(c->pidfile, sizeof c->pidfile, "%s" SUFFIX, c->dir) >= (int)sizeof c->pidfile)
        return drudge_seterr(err, DRUDGE_EIO, "the state directory's path is too long: %s", state);
    /* Written before the child exists, so a crash between here and the
     * spawn leaves nothing the reaper does not know about. */
    return write_pidfile(c, 0, err);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

/* rm -rf dir (the child's own files: a profile, a log). */
void drudge_child_remove_dir(const char *dir)
{
    for (int i = 0; i < 3 && dir[0]; i++) {
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        if (access(dir, F_OK) != 0)
            return;
        /* A process still dying may have written one more file. */
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

drudge_code drudge_child_spawn(drudge_child *c, char *const argv[], char *const env[],
                               const char *log, drudge_err *err)
{
    int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logfd < 0)
        return drudge_seterr(err, DRUDGE_EIO, "cannot open %s: %s", log, strerror(errno));
    /* Everything the child needs is made before fork: after it, in a
     * threaded process, only async-signal-safe calls are allowed. */
    extern char **environ;
    size_t nenv = 0, nextra = 0;
    while (environ[nenv])
        nenv++;
    while (env && env[nextra])
        nextra++;
    /* The extra strings first: getenv takes the first of a name. */
    char **envp = drudge_xmalloc((nenv + nextra + 1) * sizeof *envp);
    for (size_t i = 0; i < nextra; i++)
        envp[i] = env[i];
    memcpy(envp + nextra, environ, nenv * sizeof *envp);
    envp[nenv + nextra] = NULL;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* no handler of ours runs in the child */
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127); /* the parent died before the line above */
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        close_range(3, ~0U, 0);
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        for (int s = 1; s < NSIG; s++)
            sigaction(s, &dfl, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvpe(argv[0], argv, envp);
        _exit(127);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    free(envp);
    close(logfd);
    if (pid < 0)
        return drudge_seterr(err, DRUDGE_EIO, "cannot start %s: %s", argv[0], strerror(fork_errno));
    setpgid(pid, pid); /* also here, so the group exists whoever runs first */
    c->pid = (int)pid;
    return write_pidfile(c, start_time(c->pid), err);
}

int drudge_child_alive(drudge_child *c)
{
    if (c->pid <= 0)
        return 0;
    int status;
    pid_t r = waitpid(c->pid, &status, WNOHANG);
    return r == 0;
}

void drudge_child_release(drudge_child *c, int grace_ms)
{
    if (c->pid > 0) {
        kill(-c->pid, grace_ms > 0 ? SIGTERM : SIGKILL);
        int64_t until = drudge_mono_us() + (int64_t)grace_ms * 1000;
        int status;
        while (grace_ms > 0 && waitpid(c->pid, &status, WNOHANG) == 0) {
            if (drudge_mono_us() > until)
                break;
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        /* Whatever is left of the group (the browser under the driver). */
        kill(-c->pid, SIGKILL);
        while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
            ;
        c->pid = 0;
    }
    if (c->dir[0])
        drudge_child_remove_dir(c->dir);
    if (c->pidfile[0])
        unlink(c->pidfile);
    c->dir[0] = c->pidfile[0] = '\0';
}

int drudge_child_each_pid(int (*fn)(int pid, void *ud), void *ud)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        int pid = atoi(e->d_name);
        if (pid > 0)
            found = fn(pid, ud);
    }
    closedir(d);
    return found;
}

typedef struct group_find {
    int pgid;
    const char *dir;
} group_find;

char *drudge_child_cmdline(int pid, size_t *len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    *len = 0;
    char *cmd = drudge_read_file(path, len);
    if (cmd && !*len) {
        free(cmd);
        cmd = NULL;
    }
    return cmd;
}

/* 1 if pid is in the group and has the directory in one of its arguments
 * (alone, or inside one such as --user-data-dir=DIR). */
static int in_group_with_dir(int pid, void *ud)
{
    const group_find *g = ud;
    if (getpgid(pid) != g->pgid)
        return 0;
    size_t len;
    char *cmd = drudge_child_cmdline(pid, &len);
    int found = cmd && memmem(cmd, len, g->dir, strlen(g->dir)) != NULL;
    free(cmd);
    return found;
}

/* 1 if some live process of process group pgid has dir in its command
 * line: the group is still the child's (not a group a reused pid leads). */
static int group_is_ours(int pgid, const char *dir)
{
    group_find g = {pgid, dir};
    return drudge_child_each_pid(in_group_with_dir, &g);
}

/* Reaps the child of one pid file if its owner is gone; 1 if it did. */
static int reap_one(const char *pidfile, char *what, size_t n, int first)
{
    char *text = drudge_read_file(pidfile, NULL);
    if (!text)
        return 0;
    int owner = 0, child = 0;
    unsigned long long ostart = 0, cstart = 0;
    char dir[PATH_MAX] = "";
    const char *d = strstr(text, "\ndir ");
    if (d)
        snprintf(dir, sizeof dir, "%.*s", (int)strcspn(d + 5, "\n"), d + 5);
    int ok = sscanf(text, "owner %d %llu\nchild %d %llu", &owner, &ostart, &child, &cstart) == 4;
    free(text);
    if (!ok || !dir[0])
        return 0; /* half written: its writer is alive, or it is not ours to judge */
    if (owner == (int)getpid() || (ostart && start_time(owner) == ostart))
        return 0; /* the owner runs: the child is in use */
    if (child > 0) {
        unsigned long long now = start_time(child);
        if ((now && now == cstart) || group_is_ours(child, dir))
            kill(-child, SIGKILL);
    }
    drudge_child_remove_dir(dir);
    unlink(pidfile);
    if (first && what)
        snprintf(what, n, "%s pid %d of pid %d", strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir,
                 child, owner);
    return 1;
}

int drudge_child_reap(char *what, size_t n)
{
    char state[PATH_MAX - 300];
    drudge_err err;
    if (what && n)
        what[0] = '\0';
    if (drudge_state_dir(state, sizeof state, &err) != DRUDGE_OK)
        return 0;
    DIR *d = opendir(state);
    if (!d)
        return 0;
    int reaped = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len <= strlen(SUFFIX) || strcmp(e->d_name + len - strlen(SUFFIX), SUFFIX))
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", state, e->d_name);
        reaped += reap_one(path, what, n, reaped == 0);
    }
    closedir(d);
    return reaped;
}

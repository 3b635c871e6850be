/* hotfolder.c: the watch-folder loop (see hotfolder.h). inotify wakes it as
 * files are closed or moved in; every pass also scans, so nothing depends
 * on an event arriving (a restart, an overflowed event queue). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>
#include "drudge/util.h"
#include "runner/calendar/deadline.h"
#include "runner/queue/queue.h"
#include "runner/work/hotfolder.h"

#define PASS_MS 1000 /* a pass at least this often */

/* Queues the file now at path (or finds its task): *id, *dup. The task's
 * input names the file where it will be while the task runs. */
static drudge_code queue_file(const drudge_hotfolder_opts *o, drudge_store *s, const char *name,
                              const char *path, int64_t *id, int *dup, drudge_err *err)
{
    char sha[65];
    int64_t size;
    if (drudge_sha256_file(path, sha, &size) != 0)
        return drudge_seterr(err, DRUDGE_EIO, "cannot read %s: %s", path, strerror(errno));
    drudge_buf key = {0}, in = {0}, where = {0};
    drudge_buf_printf(&key, "file:%s@%s", name, sha);
    drudge_buf_printf(&where, "%s/processing/%s", o->dir, name);
    /* inside the files directory: relative, as io.open and the modules take it */
    size_t fl = o->files_dir ? strlen(o->files_dir) : 0;
    const char *rel = fl && !strncmp(where.data, o->files_dir, fl) && where.data[fl] == '/'
                          ? where.data + fl + 1
                          : where.data;
    drudge_buf_puts(&in, "{\"name\":");
    drudge_buf_json_str(&in, name, strlen(name));
    drudge_buf_puts(&in, ",\"path\":");
    drudge_buf_json_str(&in, rel, strlen(rel));
    drudge_buf_printf(&in, ",\"sha256\":\"%s\",\"size\":%lld}", sha, (long long)size);
    drudge_task_spec spec = *o->spec;
    spec.key = key.data;
    spec.input = in.data;
    spec.deadline = drudge_deadline_after(spec.deadline_rule, drudge_now_us());
    drudge_code rc = drudge_queue_enqueue(s, &spec, id, dup, err);
    drudge_buf_free(&key);
    drudge_buf_free(&in);
    drudge_buf_free(&where);
    return rc;
}

static int fully_written(const struct stat *st, int64_t settle_us)
{
    int64_t mtime = (int64_t)st->st_mtim.tv_sec * 1000000 + st->st_mtim.tv_nsec / 1000;
    return S_ISREG(st->st_mode) && drudge_now_us() - mtime >= settle_us;
}

/* New files in dir: queued, then moved to processing/ (in that order: a
 * crash in between leaves the file to be queued again, a duplicate). */
static drudge_code pass_new(const drudge_hotfolder_opts *o, drudge_store *s,
                            drudge_hotfolder_stats *st, drudge_err *err)
{
    DIR *d = opendir(o->dir);
    if (!d)
        return drudge_seterr(err, DRUDGE_EIO, "cannot read %s: %s", o->dir, strerror(errno));
    drudge_code rc = DRUDGE_OK;
    struct dirent *e;
    while (!rc && !*o->stop && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue; /* hidden files: editors' and copiers' temporary files */
        char path[PATH_MAX + 256], to[PATH_MAX + 512];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", o->dir, e->d_name);
        if (lstat(path, &sb) != 0 || !fully_written(&sb, o->settle_us))
            continue;
        int64_t id;
        int dup;
        rc = queue_file(o, s, e->d_name, path, &id, &dup, err);
        if (rc)
            break;
        snprintf(to, sizeof to, "%s/processing/%s", o->dir, e->d_name);
        if (rename(path, to) != 0)
            rc = drudge_seterr(err, DRUDGE_EIO, "cannot move %s to processing/: %s", path,
                               strerror(errno));
        dup ? st->duplicates++ : st->queued++;
        if (o->verbose)
            fprintf(stderr, "%s: task #%lld%s\n", e->d_name, (long long)id,
                    dup ? " (queued before)" : "");
    }
    closedir(d);
    return rc;
}

/* Files in processing/ whose task ended move to done/ or failed/. */
static drudge_code pass_ended(const drudge_hotfolder_opts *o, drudge_store *s,
                              drudge_hotfolder_stats *st, drudge_err *err)
{
    char pdir[PATH_MAX];
    snprintf(pdir, sizeof pdir, "%s/processing", o->dir);
    DIR *d = opendir(pdir);
    if (!d)
        return drudge_seterr(err, DRUDGE_EIO, "cannot read %s: %s", pdir, strerror(errno));
    drudge_code rc = DRUDGE_OK;
    struct dirent *e;
    while (!rc && !*o->stop && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX + 256], to[PATH_MAX + 512], state[16];
        snprintf(path, sizeof path, "%s/%s", pdir, e->d_name);
        int64_t id;
        int dup;
        /* Queueing it again finds its task (the key is its name and hash). */
        rc = queue_file(o, s, e->d_name, path, &id, &dup, err);
        if (!rc)
            rc = drudge_store_task_state(s, id, state, err);
        if (rc)
            break;
        const char *dest =
            !strcmp(state, "done") ? "done"
            : !strcmp(state, "failed") || !strcmp(state, "dead") || !strcmp(state, "cancelled")
                ? "failed"
                : NULL;
        if (!dest)
            continue;
        snprintf(to, sizeof to, "%s/%s/%s", o->dir, dest, e->d_name);
        if (rename(path, to) != 0) {
            rc = drudge_seterr(err, DRUDGE_EIO, "cannot move %s to %s/: %s", path, dest,
                               strerror(errno));
            break;
        }
        dest[0] == 'd' ? st->done++ : st->failed++;
        if (o->verbose)
            fprintf(stderr, "%s: task #%lld %s, moved to %s/\n", e->d_name, (long long)id, state,
                    dest);
    }
    closedir(d);
    return rc;
}

drudge_code drudge_hotfolder_run(const drudge_hotfolder_opts *o, drudge_hotfolder_stats *st,
                                 drudge_err *err)
{
    static const char *const subdirs[] = {"processing", "done", "failed"};
    drudge_store *s = NULL;
    int fd = -1;
    memset(st, 0, sizeof *st);
    for (int i = 0; i < 3; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", o->dir, subdirs[i]);
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return drudge_seterr(err, DRUDGE_EIO, "cannot create %s: %s", p, strerror(errno));
    }
    drudge_code rc = drudge_store_open(o->db_path, 0, &s, err);
    if (rc)
        return rc;
    fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0 || inotify_add_watch(fd, o->dir, IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
        rc = drudge_seterr(err, DRUDGE_EIO, "cannot watch %s: %s", o->dir, strerror(errno));
        goto cleanup;
    }
    while (!*o->stop) {
        rc = pass_new(o, s, st, err);
        if (!rc)
            rc = pass_ended(o, s, st, err);
        if (rc)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        /* A file just closed is not "settled" yet: look again soon after. */
        int n = poll(&p, 1, PASS_MS);
        if (n > 0) {
            char buf[8192];
            while (read(fd, buf, sizeof buf) > 0)
                ;
            int64_t wait_ms = o->settle_us / 1000;
            if (wait_ms > 0 && wait_ms < PASS_MS)
                poll(NULL, 0, (int)wait_ms); /* let the burst's files settle */
        }
    }
cleanup:
    if (fd >= 0)
        close(fd);
    drudge_store_close(s);
    return rc;
}

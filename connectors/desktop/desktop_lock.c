/* desktop_lock.c: one task per X display, machine-wide (see desktop.h).
 *
 * flock(2) rather than fcntl(2) locks: flock locks belong to the open file
 * description, so two worker threads of one process exclude each other as
 * two processes do, and the kernel drops the lock when the holder dies. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "connectors/desktop/desktop.h"

int drudge_desktop_display_key(const char *name, char *out, size_t n)
{
    const char *colon = name ? strrchr(name, ':') : NULL;
    if (!colon || !isdigit((unsigned char)colon[1]))
        return -1;
    size_t hostlen = (size_t)(colon - name);
    const char *num = colon + 1;
    size_t numlen = strspn(num, "0123456789");
    if (num[numlen] != '\0' && num[numlen] != '.')
        return -1;
    /* "unix:7", "localhost:7" and ":7" reach the same local server. */
    if ((hostlen == 4 && !strncmp(name, "unix", 4)) ||
        (hostlen == 9 && !strncmp(name, "localhost", 9)))
        hostlen = 0;
    if (hostlen + numlen + 2 > n)
        return -1;
    snprintf(out, n, "%.*s:%.*s", (int)hostlen, name, (int)numlen, num);
    return 0;
}

static int writable_dir(const char *d)
{
    struct stat st;
    return d && *d && stat(d, &st) == 0 && S_ISDIR(st.st_mode) && access(d, W_OK | X_OK) == 0;
}

void drudge_desktop_lock_path(const char *key, char *out, size_t n)
{
    const char *dirs[] = {getenv("DRUDGE_LOCK_DIR"), "/run/lock", getenv("XDG_RUNTIME_DIR"),
                          "/tmp"};
    const char *dir = "/tmp";
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        if (writable_dir(dirs[i])) {
            dir = dirs[i];
            break;
        }
    char safe[256];
    size_t j = 0;
    for (const char *p = key; *p && j < sizeof safe - 1; p++)
        safe[j++] = (*p == '/' || *p == ':') ? '_' : *p;
    safe[j] = '\0';
    snprintf(out, n, "%s/drudge-desktop-%s.lock", dir, safe);
}

/* What the holder wrote into the lock file, for the waiter's message. */
static void read_holder(int fd, char *holder, size_t n)
{
    if (!holder || !n)
        return;
    ssize_t got = pread(fd, holder, n - 1, 0);
    holder[got > 0 ? got : 0] = '\0';
    holder[strcspn(holder, "\n")] = '\0';
    if (!holder[0])
        snprintf(holder, n, "another task");
}

drudge_code drudge_desktop_lock_take(drudge_desktop_lock *lk, const char *display, double wait_s,
                                     const char *owner, char *holder, size_t holder_n,
                                     drudge_err *err)
{
    char key[256], path[4096];
    if (lk->fd >= 0)
        return DRUDGE_OK;
    if (drudge_desktop_display_key(display, key, sizeof key) != 0)
        return drudge_seterr(err, DRUDGE_EUSAGE, "desktop: '%s' is not an X display name",
                             display ? display : "");
    drudge_desktop_lock_path(key, path, sizeof path);
    /* Others may need to open a file we created: 0644 (it holds no case
     * data), and read-only is enough for flock when write is refused. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && errno == EACCES)
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return drudge_seterr(err, DRUDGE_EIO, "desktop: cannot open the lock file %s: %s", path,
                             strerror(errno));
    int64_t until = drudge_mono_us() + (int64_t)(wait_s * 1e6);
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            break;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            drudge_seterr(err, DRUDGE_EIO, "desktop: cannot lock %s: %s", path, strerror(errno));
            close(fd);
            return DRUDGE_EIO;
        }
        if (drudge_mono_us() >= until) {
            read_holder(fd, holder, holder_n);
            close(fd);
            return drudge_seterr(err, DRUDGE_EBUSY, "desktop: display %s is in use by %s", key,
                                 holder && holder[0] ? holder : "another task");
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (owner && ftruncate(fd, 0) == 0) {
        size_t len = strlen(owner);
        if (pwrite(fd, owner, len, 0) != (ssize_t)len) {
            /* Only the waiters' message suffers; the lock itself is held. */
        }
    }
    lk->fd = fd;
    return DRUDGE_OK;
}

void drudge_desktop_lock_release(drudge_desktop_lock *lk)
{
    if (lk->fd < 0)
        return;
    if (ftruncate(lk->fd, 0) != 0) {
        /* A stale owner line is harmless: it is read only while locked. */
    }
    flock(lk->fd, LOCK_UN);
    close(lk->fd);
    lk->fd = -1;
}

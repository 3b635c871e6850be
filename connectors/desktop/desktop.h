/*
 * desktop.h: the parts of the desktop connector (drudge.desktop) that stand
 * on their own: the per-display lock and the PNG encoder behind screenshots.
 * The Lua API itself is documented in scripts/README.md.
 *
 * One desktop at a time: a task that drives a display holds an exclusive
 * flock(2) on a lock file named for that display, across threads and
 * processes of the machine. The kernel drops the lock when its holder dies,
 * so a crashed worker never leaves a desktop locked.
 */
#ifndef DRUDGE_DESKTOP_H
#define DRUDGE_DESKTOP_H

#include <stddef.h>
#include <stdint.h>
#include "drudge/error.h"
#include "drudge/util.h"

/* Canonical form of an X display name for locking: the host part ("" for a
 * local display: "", "unix" and "localhost" are the same server) and the
 * display number, without the screen: ":7.0", "unix:7" and ":7" all give
 * ":7". Returns -1 if name is not a display name (e.g. "" or "foo"). */
int drudge_desktop_display_key(const char *name, char *out, size_t n);

/* The lock file for display key: $DRUDGE_LOCK_DIR, else /run/lock, else
 * $XDG_RUNTIME_DIR, else /tmp (the first that is a writable directory), then
 * "drudge-desktop-<key>.lock" with ':' and '/' made safe. */
void drudge_desktop_lock_path(const char *key, char *out, size_t n);

typedef struct drudge_desktop_lock {
    int fd; /* -1 when not held */
} drudge_desktop_lock;
#define DRUDGE_DESKTOP_LOCK_INIT                                                                   \
    {                                                                                              \
        -1                                                                                         \
    }

/* Takes the lock of display (any spelling drudge_desktop_display_key takes),
 * waiting up to wait_s seconds (0 = just try). owner ("pid 123, task #4") is
 * written into the lock file for whoever waits next.
 * Returns DRUDGE_OK, DRUDGE_EBUSY (still held by someone else after wait_s;
 * holder[] then says who, from the lock file) or DRUDGE_EIO. */
drudge_code drudge_desktop_lock_take(drudge_desktop_lock *lk, const char *display, double wait_s,
                                     const char *owner, char *holder, size_t holder_n,
                                     drudge_err *err);
/* Releases the lock if held; safe to call twice. */
void drudge_desktop_lock_release(drudge_desktop_lock *lk);

/* Encodes 8-bit RGB pixels (3 bytes per pixel, rows top to bottom, no
 * padding) as a PNG appended to out. Returns DRUDGE_OK or DRUDGE_ENOMEM /
 * DRUDGE_EUSAGE (zero or oversized dimensions) with err filled. */
drudge_code drudge_png_encode_rgb(const unsigned char *rgb, unsigned width, unsigned height,
                                  drudge_buf *out, drudge_err *err);

#endif

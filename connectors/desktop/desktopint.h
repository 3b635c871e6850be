/* desktopint.h: internals shared by the desktop connector's files:
 * desktop.c (the Lua module, recording, the lock), desktop_x.c (everything
 * that talks to the X server) and screenshot.c (image to PNG). */
#ifndef DRUDGE_DESKTOPINT_H
#define DRUDGE_DESKTOPINT_H

#include <stdint.h>
#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <xdo.h>
#include "drudge/error.h"
#include "drudge/util.h"

#define DX_MAX_SCRATCH 32 /* keycodes borrowed for characters not on the keyboard */

/* One connection to one X display, owned by one Lua state (one worker). */
typedef struct dx_conn {
    Display *dpy;
    xdo_t *xdo;
    char name[256]; /* as given to XOpenDisplay */
    int lost;       /* the connection died: every call fails until reopened */
    /* Scratch keycodes: characters the keymap lacks are bound to spare
     * keycodes and stay bound until dx_unbind_scratch (attempt end), so a
     * client that looks the keysym up late still finds it. */
    int nscratch;
    struct {
        KeyCode code;
        KeySym sym;
        uint64_t used;
    } scratch[DX_MAX_SCRATCH];
    uint64_t tick;
} dx_conn;

/* Opens display name (XInitThreads first, error handlers that record instead
 * of exiting). Caller frees with dx_close. */
dx_conn *dx_open(const char *name, drudge_err *err);
void dx_close(dx_conn *c);
/* Unbinds scratch keycodes (after a short settle so late lookups succeed). */
void dx_unbind_scratch(dx_conn *c);

/* Keyboard. delay_us between key events; deadline_us (monotonic, 0 = none)
 * stops a long text. */
drudge_code dx_type(dx_conn *c, const char *text, size_t len, unsigned delay_us,
                    int64_t deadline_us, size_t *typed /* OUT */, drudge_err *err);
/* "ctrl+s", "ctrl+a BackSpace": xdotool key names; down: 1 press, 0 release,
 * -1 both. */
drudge_code dx_key(dx_conn *c, const char *seq, int down, unsigned delay_us, drudge_err *err);
/* Checks every key name of seq without a display; NULL if fine, else the bad
 * name (in buf). */
const char *dx_bad_key_name(const char *seq, char *buf, size_t n);

/* Mouse. */
drudge_code dx_move(dx_conn *c, int x, int y, drudge_err *err);
drudge_code dx_click(dx_conn *c, int button, int count, unsigned delay_us, drudge_err *err);
drudge_code dx_mouse_location(dx_conn *c, int *x, int *y, drudge_err *err);

/* Windows. */
typedef struct dx_match {
    const char *name, *cls, *instance; /* POSIX ERE, case-insensitive; NULL = any */
    long pid;                          /* 0 = any */
    int visible_only;
} dx_match;
/* Fills *out (caller frees) with matching client windows, in stacking order. */
drudge_code dx_find(dx_conn *c, const dx_match *m, Window **out, size_t *n, drudge_err *err);
/* err is DRUDGE_ENOTFOUND for a window that no longer exists. */
drudge_code dx_check_window(dx_conn *c, Window w, drudge_err *err);
/* *gone = 1 if w no longer exists or is unmapped (closed or hidden). */
drudge_code dx_gone(dx_conn *c, Window w, int *gone, drudge_err *err);
/* Title, class (WM_CLASS class) into buf; "" if none. */
drudge_code dx_title(dx_conn *c, Window w, drudge_buf *out, drudge_err *err);
drudge_code dx_class(dx_conn *c, Window w, drudge_buf *out, drudge_err *err);
long dx_pid(dx_conn *c, Window w); /* 0 if unknown */
drudge_code dx_geometry(dx_conn *c, Window w, int *x, int *y, int *width, int *height,
                        drudge_err *err);
drudge_code dx_activate(dx_conn *c, Window w, int focus_only, double timeout_s, drudge_err *err);
drudge_code dx_active_window(dx_conn *c, Window *w, drudge_err *err);
drudge_code dx_move_window(dx_conn *c, Window w, int x, int y, drudge_err *err);
drudge_code dx_resize_window(dx_conn *c, Window w, int width, int height, drudge_err *err);
drudge_code dx_close_window(dx_conn *c, Window w, drudge_err *err);

/* Screenshot of the screen (w = None) or of the screen area w covers,
 * appended to png as PNG. */
drudge_code dx_screenshot(dx_conn *c, Window w, drudge_buf *png, int *width, int *height,
                          drudge_err *err);

/* screenshot.c: an XImage (ZPixmap, TrueColor) to 8-bit RGB; rgb holds
 * width*height*3 bytes. */
void drudge_ximage_to_rgb(XImage *img, unsigned char *rgb);

#endif

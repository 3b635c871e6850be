/* desktop_x.c: everything the desktop connector says to the X server.
 *
 * Errors never end the process: Xlib's default handlers print and exit on a
 * protocol error (a window that died) or a lost connection, so drudge
 * installs handlers that record the error for the call that caused it
 * (thread-local: each worker owns its Display) and an I/O exit handler
 * (libX11 >= 1.7) that marks the connection lost instead of exiting.
 *
 * Typing does not use xdo_enter_text_window: for a character missing from
 * the keymap libxdo binds a scratch keycode, sends the key and unbinds it at
 * once, and a client that looks the key up after the unbind (most, at zero
 * delay; xterm drops "—" and "€" even at the default 12 ms) gets nothing.
 * Here missing characters are bound to spare keycodes that stay bound until
 * the attempt ends (dx_unbind_scratch). Keys are still sent through libxdo. */
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <X11/Xatom.h>
#include <X11/keysym.h>
#include "desktopint.h"
#include "connectors/desktop/desktop.h"

/* --- error handling --- */

static _Thread_local struct {
    int count;
    XErrorEvent ev;
} xerr;

static int on_x_error(Display *d, XErrorEvent *e)
{
    (void)d;
    if (!xerr.count++)
        xerr.ev = *e;
    return 0;
}

/* Returning lets Xlib go on to the per-display exit handler below. */
static int on_x_io_error(Display *d)
{
    (void)d;
    return 0;
}

static void on_x_io_exit(Display *d, void *ud)
{
    (void)d;
    ((dx_conn *)ud)->lost = 1;
}

static pthread_once_t x_once = PTHREAD_ONCE_INIT;

static void x_init(void)
{
    XInitThreads(); /* before any other Xlib call: workers each own a Display */
    XSetErrorHandler(on_x_error);
    XSetIOErrorHandler(on_x_io_error);
}

static void sleep_us(int64_t us)
{
    if (us <= 0)
        return;
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static drudge_code lost(dx_conn *c, drudge_err *err)
{
    return drudge_seterr(err, DRUDGE_ECONNECT,
                         "desktop: lost the connection to X display '%s' (did the X server stop?)",
                         c->name);
}

static void trap(void)
{
    xerr.count = 0;
}

/* Flushes the requests made since trap() and reports the first error. */
static drudge_code untrap(dx_conn *c, const char *what, drudge_err *err)
{
    if (!c->lost)
        XSync(c->dpy, False);
    if (c->lost)
        return lost(c, err);
    if (!xerr.count)
        return DRUDGE_OK;
    char text[256];
    XGetErrorText(c->dpy, xerr.ev.error_code, text, sizeof text);
    xerr.count = 0;
    if (xerr.ev.error_code == BadWindow)
        return drudge_seterr(err, DRUDGE_ENOTFOUND,
                             "desktop: %s: window 0x%lx no longer exists (it was closed)", what,
                             xerr.ev.resourceid);
    return drudge_seterr(err, DRUDGE_ESTATE, "desktop: %s: X error: %s (request %d)", what, text,
                         xerr.ev.request_code);
}

#define CHECK_LIVE(c, err)                                                                         \
    do {                                                                                           \
        if ((c)->lost)                                                                             \
            return lost((c), (err));                                                               \
    } while (0)

dx_conn *dx_open(const char *name, drudge_err *err)
{
    pthread_once(&x_once, x_init);
    Display *d = XOpenDisplay(name);
    if (!d) {
        drudge_seterr(err, DRUDGE_ECONNECT,
                      "desktop: cannot open display '%s' \xe2\x80\x94 is an X server running?",
                      name);
        return NULL;
    }
    dx_conn *c = drudge_xmalloc(sizeof *c);
    memset(c, 0, sizeof *c);
    c->dpy = d;
    snprintf(c->name, sizeof c->name, "%s", name);
    XSetIOErrorExitHandler(d, on_x_io_exit, c);
    /* libxdo may keep or free the name it is given: hand it a copy and take
     * it back before xdo_free (see dx_close). */
    char *dup = drudge_xstrdup(name);
    trap();
    c->xdo = xdo_new_with_opened_display(d, dup, 0);
    if (!c->xdo) {
        free(dup);
        drudge_seterr(err, DRUDGE_ECONNECT,
                      "desktop: display '%s' lacks the XTEST extension that input needs", name);
        XCloseDisplay(d);
        free(c);
        return NULL;
    }
    if (c->xdo->display_name != dup)
        free(dup);
    c->xdo->quiet = 1;
    if (untrap(c, "open", err)) {
        dx_close(c);
        return NULL;
    }
    return c;
}

void dx_close(dx_conn *c)
{
    if (!c)
        return;
    if (!c->lost)
        dx_unbind_scratch(c);
    if (c->xdo) {
        free(c->xdo->display_name);
        c->xdo->display_name = NULL;
        xdo_free(c->xdo);
    }
    XCloseDisplay(c->dpy);
    free(c);
}

/* --- keyboard --- */

/* The keysym that types code point cp, or NoSymbol. */
static KeySym cp_keysym(uint32_t cp)
{
    switch (cp) {
    case '\n':
        return XK_Return;
    case '\t':
        return XK_Tab;
    case '\b':
        return XK_BackSpace;
    case 0x1b:
        return XK_Escape;
    }
    if ((cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xff))
        return cp; /* Latin-1 keysyms are the code points */
    if (cp < 0x100)
        return NoSymbol;    /* other control characters */
    return 0x01000000 | cp; /* Unicode keysyms */
}

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length or 0. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len = (s[0] & 0xe0) == 0xc0   ? 2
                 : (s[0] & 0xf0) == 0xe0 ? 3
                 : (s[0] & 0xf8) == 0xf0 ? 4
                                         : 0;
    if (!len || len > n)
        return 0;
    uint32_t v = s[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

typedef struct keymap {
    KeySym *syms;
    int low, high, per;
} keymap;

static void keymap_load(dx_conn *c, keymap *km)
{
    XDisplayKeycodes(c->dpy, &km->low, &km->high);
    km->syms = XGetKeyboardMapping(c->dpy, (KeyCode)km->low, km->high - km->low + 1, &km->per);
}

static void keymap_free(keymap *km)
{
    if (km->syms)
        XFree(km->syms);
    km->syms = NULL;
}

/* Finds sym at level 1 (no modifier) or 2 (shift) of some keycode. */
static int keymap_find(const keymap *km, KeySym sym, KeyCode *code, int *shift)
{
    if (!km->syms)
        return 0;
    for (int level = 0; level < 2 && level < km->per; level++)
        for (int k = km->low; k <= km->high; k++)
            if (km->syms[(k - km->low) * km->per + level] == sym) {
                *code = (KeyCode)k;
                *shift = level;
                return 1;
            }
    return 0;
}

static int keycode_empty(const keymap *km, int k)
{
    for (int l = 0; l < km->per; l++)
        if (km->syms[(k - km->low) * km->per + l] != NoSymbol)
            return 0;
    return 1;
}

/* Binds sym to a spare keycode (or recycles the least recently used one). */
static drudge_code bind_scratch(dx_conn *c, keymap *km, KeySym sym, KeyCode *code, drudge_err *err)
{
    int slot = -1;
    if (c->nscratch < DX_MAX_SCRATCH && km->syms) {
        for (int k = km->high; k >= km->low; k--) {
            int taken = 0;
            for (int i = 0; i < c->nscratch; i++)
                taken |= c->scratch[i].code == k;
            if (!taken && keycode_empty(km, k)) {
                slot = c->nscratch++;
                c->scratch[slot].code = (KeyCode)k;
                break;
            }
        }
    }
    if (slot < 0) {
        if (!c->nscratch)
            return drudge_seterr(err, DRUDGE_ESTATE,
                                 "desktop: type: no spare keycode to type U+%04lX with",
                                 (unsigned long)(sym & 0xffffff));
        slot = 0;
        for (int i = 1; i < c->nscratch; i++)
            if (c->scratch[i].used < c->scratch[slot].used)
                slot = i;
        /* The client may not have looked up the last key sent on this
         * keycode yet: give it time before the keycode changes meaning. */
        XSync(c->dpy, False);
        sleep_us(100000);
    }
    KeySym pair[2] = {sym, sym}; /* both levels, so shift state cannot matter */
    XChangeKeyboardMapping(c->dpy, c->scratch[slot].code, 2, pair, 1);
    XSync(c->dpy, False);
    c->scratch[slot].sym = sym;
    c->scratch[slot].used = ++c->tick;
    *code = c->scratch[slot].code;
    keymap_free(km);
    keymap_load(c, km);
    return DRUDGE_OK;
}

void dx_unbind_scratch(dx_conn *c)
{
    if (!c->nscratch || c->lost)
        return;
    XSync(c->dpy, False);
    sleep_us(200000); /* let clients look up the last keys first */
    KeySym none[2] = {NoSymbol, NoSymbol};
    trap();
    for (int i = 0; i < c->nscratch; i++)
        XChangeKeyboardMapping(c->dpy, c->scratch[i].code, 2, none, 1);
    XSync(c->dpy, False);
    trap();
    c->nscratch = 0;
}

static void send_key(dx_conn *c, KeyCode code, int shift, int pressed, unsigned delay_us)
{
    charcodemap_t k;
    memset(&k, 0, sizeof k);
    k.code = code;
    k.modmask = shift ? ShiftMask : 0;
    xdo_send_keysequence_window_list_do(c->xdo, CURRENTWINDOW, &k, 1, pressed, NULL, delay_us);
}

drudge_code dx_type(dx_conn *c, const char *text, size_t len, unsigned delay_us,
                    int64_t deadline_us, size_t *typed, drudge_err *err)
{
    const unsigned char *s = (const unsigned char *)text;
    keymap km = {0};
    drudge_code rc = DRUDGE_OK;
    *typed = 0;
    CHECK_LIVE(c, err);
    trap();
    keymap_load(c, &km);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_decode(s + i, len - i, &cp);
        if (!n) {
            rc = drudge_seterr(err, DRUDGE_EINPUT, "desktop: type: invalid UTF-8 at byte %zu",
                               i + 1);
            goto cleanup;
        }
        if (cp == '\r' && i + 1 < len && s[i + 1] == '\n') { /* \r\n is one Return */
            i++;
            continue;
        }
        KeySym sym = cp == '\r' ? XK_Return : cp_keysym(cp);
        if (sym == NoSymbol) {
            rc = drudge_seterr(err, DRUDGE_EINPUT,
                               "desktop: type: cannot type control character U+%04X at byte %zu",
                               (unsigned)cp, i + 1);
            goto cleanup;
        }
        KeyCode code = 0;
        int shift = 0;
        if (!keymap_find(&km, sym, &code, &shift)) {
            rc = bind_scratch(c, &km, sym, &code, err);
            if (rc != DRUDGE_OK)
                goto cleanup;
        } else {
            for (int j = 0; j < c->nscratch; j++)
                if (c->scratch[j].code == code)
                    c->scratch[j].used = ++c->tick;
        }
        send_key(c, code, shift, 1, delay_us / 2);
        send_key(c, code, shift, 0, delay_us - delay_us / 2);
        if (c->lost) {
            rc = lost(c, err);
            goto cleanup;
        }
        i += n;
        (*typed)++;
        if (deadline_us && drudge_mono_us() > deadline_us && i < len) {
            rc = drudge_seterr(err, DRUDGE_ESTATE,
                               "desktop: type: the attempt's time ran out after %zu characters",
                               *typed);
            goto cleanup;
        }
    }
    rc = untrap(c, "type", err);
cleanup:
    keymap_free(&km);
    return rc;
}

/* xdotool's aliases (ctrl, alt, ...) or a keysym name or a keycode number. */
static int known_key(const char *name)
{
    const char **map = xdo_get_symbol_map();
    for (int i = 0; map[i]; i += 2)
        if (!strcasecmp(name, map[i]))
            return 1;
    if (name[0] && strspn(name, "0123456789") == strlen(name))
        return 1;
    return XStringToKeysym(name) != NoSymbol;
}

const char *dx_bad_key_name(const char *seq, char *buf, size_t n)
{
    pthread_once(&x_once, x_init);
    const char *p = seq;
    int any = 0;
    while (*p) {
        size_t chord = strcspn(p, " \t\n");
        /* A chord "ctrl+shift+t": every '+'-separated name must be known. */
        for (size_t i = 0; i < chord;) {
            size_t len = strcspn(p + i, "+ \t\n");
            if (len > chord - i)
                len = chord - i;
            if (!len) {
                snprintf(buf, n, "%s", ""); /* "ctrl+" or "+a" or "a++b" */
                return buf;
            }
            snprintf(buf, n, "%.*s", (int)len, p + i);
            if (!known_key(buf))
                return buf;
            any = 1;
            i += len;
            if (i < chord) { /* at a '+': a name must follow */
                i++;
                if (i == chord) {
                    snprintf(buf, n, "%s", "");
                    return buf;
                }
            }
        }
        p += chord;
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
    }
    if (!any) {
        snprintf(buf, n, "%s", "");
        return buf;
    }
    return NULL;
}

drudge_code dx_key(dx_conn *c, const char *seq, int down, unsigned delay_us, drudge_err *err)
{
    CHECK_LIVE(c, err);
    trap();
    const char *p = seq;
    char tok[256];
    while (*p) {
        size_t len = strcspn(p, " \t\n");
        if (len && len < sizeof tok) {
            snprintf(tok, sizeof tok, "%.*s", (int)len, p);
            int r =
                down > 0    ? xdo_send_keysequence_window_down(c->xdo, CURRENTWINDOW, tok, delay_us)
                : down == 0 ? xdo_send_keysequence_window_up(c->xdo, CURRENTWINDOW, tok, delay_us)
                            : xdo_send_keysequence_window(c->xdo, CURRENTWINDOW, tok, delay_us);
            if (c->lost)
                return lost(c, err);
            if (r != XDO_SUCCESS)
                return drudge_seterr(err, DRUDGE_ESTATE, "desktop: key: cannot send '%s'", tok);
        }
        p += len;
        if (*p)
            p++;
    }
    return untrap(c, "key", err);
}

/* --- mouse --- */

drudge_code dx_move(dx_conn *c, int x, int y, drudge_err *err)
{
    CHECK_LIVE(c, err);
    trap();
    xdo_move_mouse(c->xdo, x, y, DefaultScreen(c->dpy));
    return untrap(c, "move", err);
}

drudge_code dx_click(dx_conn *c, int button, int count, unsigned delay_us, drudge_err *err)
{
    CHECK_LIVE(c, err);
    trap();
    xdo_click_window_multiple(c->xdo, CURRENTWINDOW, button, count, delay_us);
    return untrap(c, "click", err);
}

drudge_code dx_mouse_location(dx_conn *c, int *x, int *y, drudge_err *err)
{
    int screen = 0;
    *x = *y = 0;
    CHECK_LIVE(c, err);
    trap();
    xdo_get_mouse_location(c->xdo, x, y, &screen);
    return untrap(c, "mouse_location", err);
}

/* --- windows --- */

static Atom atom(dx_conn *c, const char *name)
{
    return XInternAtom(c->dpy, name, False);
}

/* A property's data (caller XFrees) or NULL. */
static unsigned char *get_prop(dx_conn *c, Window w, Atom prop, Atom type, unsigned long *nitems)
{
    Atom actual;
    int format;
    unsigned long after;
    unsigned char *data = NULL;
    *nitems = 0;
    if (XGetWindowProperty(c->dpy, w, prop, 0, 1 << 16, False, type, &actual, &format, nitems,
                           &after, &data) != Success ||
        !data)
        return NULL;
    if (actual == None || !*nitems) {
        XFree(data);
        return NULL;
    }
    return data;
}

static int get_title(dx_conn *c, Window w, drudge_buf *out)
{
    unsigned long n;
    unsigned char *data = get_prop(c, w, atom(c, "_NET_WM_NAME"), atom(c, "UTF8_STRING"), &n);
    if (data) {
        drudge_buf_add(out, data, n);
        XFree(data);
        return 1;
    }
    XTextProperty tp;
    if (!XGetWMName(c->dpy, w, &tp) || !tp.value)
        return 0;
    char **list = NULL;
    int count = 0;
    if (Xutf8TextPropertyToTextList(c->dpy, &tp, &list, &count) >= Success && count > 0 && list)
        drudge_buf_puts(out, list[0]);
    else
        drudge_buf_add(out, tp.value, tp.nitems);
    if (list)
        XFreeStringList(list);
    XFree(tp.value);
    return 1;
}

long dx_pid(dx_conn *c, Window w)
{
    unsigned long n;
    if (c->lost)
        return 0;
    unsigned char *data = get_prop(c, w, atom(c, "_NET_WM_PID"), XA_CARDINAL, &n);
    long pid = data ? (long)*(unsigned long *)data : 0;
    if (data)
        XFree(data);
    return pid;
}

static int regex_ok(const char *pattern, const char *s)
{
    regex_t re;
    if (!pattern)
        return 1;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0)
        return 0;
    int ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

static int matches(dx_conn *c, Window w, const dx_match *m, const XClassHint *ch)
{
    if (!regex_ok(m->cls, ch->res_class ? ch->res_class : ""))
        return 0;
    if (!regex_ok(m->instance, ch->res_name ? ch->res_name : ""))
        return 0;
    if (m->pid && dx_pid(c, w) != m->pid)
        return 0;
    if (m->name) {
        drudge_buf t = {0};
        get_title(c, w, &t);
        int ok = regex_ok(m->name, t.data ? t.data : "");
        drudge_buf_free(&t);
        if (!ok)
            return 0;
    }
    return 1;
}

typedef struct winlist {
    Window *v;
    size_t n, cap;
} winlist;

static void walk(dx_conn *c, Window w, const dx_match *m, winlist *out, int depth)
{
    Window root, parent, *kids = NULL;
    unsigned int nkids = 0;
    if (depth > 64 || c->lost || !XQueryTree(c->dpy, w, &root, &parent, &kids, &nkids))
        return;
    for (unsigned int i = 0; i < nkids && !c->lost; i++) {
        XWindowAttributes wa;
        if (m->visible_only &&
            (!XGetWindowAttributes(c->dpy, kids[i], &wa) || wa.map_state != IsViewable))
            continue; /* nothing inside an unmapped window is visible either */
        XClassHint ch = {0};
        /* Client windows (what a person calls a window) carry WM_CLASS. */
        if (XGetClassHint(c->dpy, kids[i], &ch)) {
            if (matches(c, kids[i], m, &ch)) {
                if (out->n == out->cap) {
                    out->cap = out->cap ? out->cap * 2 : 16;
                    out->v = drudge_xrealloc(out->v, out->cap * sizeof *out->v);
                }
                out->v[out->n++] = kids[i];
            }
            if (ch.res_name)
                XFree(ch.res_name);
            if (ch.res_class)
                XFree(ch.res_class);
            continue; /* a client's own sub-windows are parts of it */
        }
        walk(c, kids[i], m, out, depth + 1);
    }
    if (kids)
        XFree(kids);
}

drudge_code dx_find(dx_conn *c, const dx_match *m, Window **out, size_t *n, drudge_err *err)
{
    winlist wl = {0};
    *out = NULL;
    *n = 0;
    CHECK_LIVE(c, err);
    trap();
    walk(c, DefaultRootWindow(c->dpy), m, &wl, 0);
    if (c->lost) {
        free(wl.v);
        return lost(c, err);
    }
    XSync(c->dpy, False);
    xerr.count = 0; /* windows that vanished during the walk are simply not found */
    *out = wl.v;
    *n = wl.n;
    return DRUDGE_OK;
}

drudge_code dx_check_window(dx_conn *c, Window w, drudge_err *err)
{
    XWindowAttributes wa;
    CHECK_LIVE(c, err);
    trap();
    if (!XGetWindowAttributes(c->dpy, w, &wa) && !xerr.count && !c->lost)
        return drudge_seterr(err, DRUDGE_ENOTFOUND,
                             "desktop: window 0x%lx no longer exists (it was closed)", w);
    return untrap(c, "window", err);
}

drudge_code dx_gone(dx_conn *c, Window w, int *gone, drudge_err *err)
{
    XWindowAttributes wa;
    *gone = 0;
    CHECK_LIVE(c, err);
    trap();
    int ok = XGetWindowAttributes(c->dpy, w, &wa);
    drudge_code rc = untrap(c, "window", err);
    if (rc == DRUDGE_ENOTFOUND || (!rc && !ok)) {
        *gone = 1;
        return DRUDGE_OK;
    }
    if (!rc)
        *gone = wa.map_state == IsUnmapped;
    return rc;
}

drudge_code dx_title(dx_conn *c, Window w, drudge_buf *out, drudge_err *err)
{
    CHECK_LIVE(c, err);
    trap();
    get_title(c, w, out);
    return untrap(c, "title", err);
}

drudge_code dx_class(dx_conn *c, Window w, drudge_buf *out, drudge_err *err)
{
    XClassHint ch = {0};
    CHECK_LIVE(c, err);
    trap();
    if (XGetClassHint(c->dpy, w, &ch)) {
        drudge_buf_puts(out, ch.res_class ? ch.res_class : "");
        if (ch.res_name)
            XFree(ch.res_name);
        if (ch.res_class)
            XFree(ch.res_class);
    }
    return untrap(c, "class", err);
}

drudge_code dx_geometry(dx_conn *c, Window w, int *x, int *y, int *width, int *height,
                        drudge_err *err)
{
    XWindowAttributes wa;
    Window child;
    *x = *y = *width = *height = 0;
    CHECK_LIVE(c, err);
    trap();
    if (XGetWindowAttributes(c->dpy, w, &wa)) {
        *width = wa.width;
        *height = wa.height;
        /* The outer corner, border included: where XMoveWindow puts it. */
        XTranslateCoordinates(c->dpy, w, wa.root, -wa.border_width, -wa.border_width, x, y, &child);
    }
    return untrap(c, "geometry", err);
}

/* Does the window manager (if any) implement _NET_ACTIVE_WINDOW? */
static int wm_supports_active(dx_conn *c)
{
    unsigned long n;
    Atom *list =
        (Atom *)get_prop(c, DefaultRootWindow(c->dpy), atom(c, "_NET_SUPPORTED"), XA_ATOM, &n);
    Atom want = atom(c, "_NET_ACTIVE_WINDOW");
    int ok = 0;
    for (unsigned long i = 0; list && i < n; i++)
        ok |= list[i] == want;
    if (list)
        XFree(list);
    return ok;
}

static int has_class(dx_conn *c, Window w)
{
    XClassHint ch = {0};
    if (!XGetClassHint(c->dpy, w, &ch))
        return 0;
    if (ch.res_name)
        XFree(ch.res_name);
    if (ch.res_class)
        XFree(ch.res_class);
    return 1;
}

/* The client window holding the keyboard focus (without a window manager
 * there is no _NET_ACTIVE_WINDOW: the focus decides). */
static Window focused_client(dx_conn *c)
{
    Window f = None, root = DefaultRootWindow(c->dpy);
    int revert;
    XGetInputFocus(c->dpy, &f, &revert);
    for (int depth = 0; f != None && f != PointerRoot && f != root && depth < 64; depth++) {
        if (has_class(c, f))
            return f;
        Window r, parent, *kids = NULL;
        unsigned int nkids;
        if (!XQueryTree(c->dpy, f, &r, &parent, &kids, &nkids))
            break;
        if (kids)
            XFree(kids);
        f = parent;
    }
    return None;
}

drudge_code dx_active_window(dx_conn *c, Window *w, drudge_err *err)
{
    *w = None;
    CHECK_LIVE(c, err);
    trap();
    if (wm_supports_active(c)) {
        unsigned long n;
        unsigned char *data =
            get_prop(c, DefaultRootWindow(c->dpy), atom(c, "_NET_ACTIVE_WINDOW"), XA_WINDOW, &n);
        if (data) {
            *w = (Window) * (unsigned long *)data;
            XFree(data);
        }
    } else {
        *w = focused_client(c);
    }
    return untrap(c, "active_window", err);
}

drudge_code dx_activate(dx_conn *c, Window w, int focus_only, double timeout_s, drudge_err *err)
{
    drudge_code rc;
    CHECK_LIVE(c, err);
    rc = dx_check_window(c, w, err);
    if (rc != DRUDGE_OK)
        return rc;
    XWindowAttributes wa;
    trap();
    if (!XGetWindowAttributes(c->dpy, w, &wa) || wa.map_state != IsViewable) {
        untrap(c, "activate", err);
        return drudge_seterr(err, DRUDGE_ESTATE,
                             "desktop: window 0x%lx is not visible (unmapped or minimised)", w);
    }
    int ewmh = !focus_only && wm_supports_active(c);
    if (ewmh) {
        XEvent ev;
        memset(&ev, 0, sizeof ev);
        ev.xclient.type = ClientMessage;
        ev.xclient.window = w;
        ev.xclient.message_type = atom(c, "_NET_ACTIVE_WINDOW");
        ev.xclient.format = 32;
        ev.xclient.data.l[0] = 2; /* from a pager: obeyed without focus-stealing checks */
        ev.xclient.data.l[1] = CurrentTime;
        XSendEvent(c->dpy, wa.root, False, SubstructureNotifyMask | SubstructureRedirectMask, &ev);
    } else {
        if (!focus_only)
            XRaiseWindow(c->dpy, w);
        XSetInputFocus(c->dpy, w, RevertToParent, CurrentTime);
    }
    rc = untrap(c, focus_only ? "focus" : "activate", err);
    if (rc != DRUDGE_OK)
        return rc;
    int64_t until = drudge_mono_us() + (int64_t)(timeout_s * 1e6);
    for (;;) {
        Window now = None;
        rc = dx_active_window(c, &now, err);
        if (rc != DRUDGE_OK)
            return rc;
        if (now == w)
            return DRUDGE_OK;
        if (drudge_mono_us() > until)
            break;
        sleep_us(10000);
    }
    drudge_buf t = {0};
    dx_title(c, w, &t, err);
    drudge_seterr(err, DRUDGE_ESTATE,
                  "desktop: window 0x%lx (\"%s\") did not become %s within %g s", w,
                  t.data ? t.data : "", focus_only ? "focused" : "active", timeout_s);
    drudge_buf_free(&t);
    return DRUDGE_ESTATE;
}

drudge_code dx_move_window(dx_conn *c, Window w, int x, int y, drudge_err *err)
{
    CHECK_LIVE(c, err);
    trap();
    XMoveWindow(c->dpy, w, x, y);
    return untrap(c, "move", err);
}

drudge_code dx_resize_window(dx_conn *c, Window w, int width, int height, drudge_err *err)
{
    CHECK_LIVE(c, err);
    trap();
    XResizeWindow(c->dpy, w, (unsigned)width, (unsigned)height);
    return untrap(c, "resize", err);
}

drudge_code dx_close_window(dx_conn *c, Window w, drudge_err *err)
{
    Atom *protos = NULL;
    int n = 0, polite = 0;
    CHECK_LIVE(c, err);
    trap();
    Atom del = atom(c, "WM_DELETE_WINDOW");
    if (XGetWMProtocols(c->dpy, w, &protos, &n)) {
        for (int i = 0; i < n; i++)
            polite |= protos[i] == del;
        XFree(protos);
    }
    if (polite) { /* as the close button does: the application may ask to save */
        XEvent ev;
        memset(&ev, 0, sizeof ev);
        ev.xclient.type = ClientMessage;
        ev.xclient.window = w;
        ev.xclient.message_type = atom(c, "WM_PROTOCOLS");
        ev.xclient.format = 32;
        ev.xclient.data.l[0] = (long)del;
        ev.xclient.data.l[1] = CurrentTime;
        XSendEvent(c->dpy, w, False, NoEventMask, &ev);
    } else {
        XDestroyWindow(c->dpy, w);
    }
    return untrap(c, "close", err);
}

/* --- screenshots --- */

drudge_code dx_screenshot(dx_conn *c, Window w, drudge_buf *png, int *width, int *height,
                          drudge_err *err)
{
    drudge_code rc;
    int scr = DefaultScreen(c->dpy);
    int sw = DisplayWidth(c->dpy, scr), sh = DisplayHeight(c->dpy, scr);
    int x = 0, y = 0, ww = sw, wh = sh;
    *width = *height = 0;
    CHECK_LIVE(c, err);
    if (DefaultVisual(c->dpy, scr)->class != TrueColor &&
        DefaultVisual(c->dpy, scr)->class != DirectColor)
        return drudge_seterr(err, DRUDGE_ESTATE,
                             "desktop: screenshot: display '%s' is not a TrueColor display",
                             c->name);
    if (w != None) {
        XWindowAttributes wa;
        rc = dx_geometry(c, w, &x, &y, &ww, &wh, err);
        if (rc != DRUDGE_OK)
            return rc;
        trap();
        if (XGetWindowAttributes(c->dpy, w, &wa)) { /* inside the border */
            x += wa.border_width;
            y += wa.border_width;
        }
        rc = untrap(c, "screenshot", err);
        if (rc != DRUDGE_OK)
            return rc;
        /* What is on screen where the window is: what a person would see. */
        int x2 = x + ww < sw ? x + ww : sw, y2 = y + wh < sh ? y + wh : sh;
        x = x < 0 ? 0 : x;
        y = y < 0 ? 0 : y;
        ww = x2 - x;
        wh = y2 - y;
        if (ww <= 0 || wh <= 0)
            return drudge_seterr(err, DRUDGE_ESTATE,
                                 "desktop: screenshot: window 0x%lx is off the screen", w);
    }
    trap();
    XImage *img = XGetImage(c->dpy, RootWindow(c->dpy, scr), x, y, (unsigned)ww, (unsigned)wh,
                            AllPlanes, ZPixmap);
    rc = untrap(c, "screenshot", err);
    if (rc != DRUDGE_OK) {
        if (img)
            XDestroyImage(img);
        return rc;
    }
    if (!img)
        return drudge_seterr(err, DRUDGE_ESTATE, "desktop: screenshot: XGetImage failed");
    unsigned char *rgb = drudge_xmalloc((size_t)ww * (size_t)wh * 3);
    drudge_ximage_to_rgb(img, rgb);
    XDestroyImage(img);
    rc = drudge_png_encode_rgb(rgb, (unsigned)ww, (unsigned)wh, png, err);
    free(rgb);
    if (!rc) {
        *width = ww;
        *height = wh;
    }
    return rc;
}

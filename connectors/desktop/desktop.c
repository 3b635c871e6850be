/* desktop.c: drudge.desktop, the Lua module that drives an X11 desktop the
 * way a clerk would (keyboard, mouse, windows, screenshots as evidence).
 * The contract is documented in scripts/README.md (section drudge.desktop).
 *
 * Every call is a "desktop" step in the audit trail, made through the
 * connector call path (drudge_call): the live functions below fill the
 * response, and the Lua result is built from that response table in live
 * and replay alike, so a replay returns exactly what the recorded run saw,
 * without touching X.
 *
 * Per Lua state (one per worker) a context in the registry holds the X
 * connection (opened lazily, closed with the state) and the display lock,
 * taken by the first desktop call of an attempt and released when the
 * attempt ends (drudge_host_on_attempt_end). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <lauxlib.h>
#include "desktopint.h"
#include "connectors/desktop/desktop.h"
#include "drudge/call.h"
#include "drudge/host.h"
#include "drudge/json.h"
#include "drudge/record.h"

#define CTX_KEY             "drudge.desktop.ctx"
#define MODULE_KEY          "drudge.desktop.module"
#define WINDOW_MT           "drudge.desktop.window"
#define DEFAULT_DELAY_MS    12 /* xdotool's default between keystrokes */
#define DEFAULT_LOCK_WAIT   30 /* seconds a task waits for a busy desktop */
#define DEFAULT_LOCK_RETRY  15 /* then it is requeued this many seconds later */
#define DEFAULT_WAIT_WINDOW 10
#define DEFAULT_ACTIVATE    5
#define MAX_DOWN            16

typedef struct dctx {
    dx_conn *conn;
    drudge_desktop_lock lock;
    char display[256];    /* the display acquired in this attempt, "" if none */
    int acquired;         /* the acquire step of this attempt is recorded */
    int used;             /* a desktop call was made in this attempt */
    char *down[MAX_DOWN]; /* key_down sequences not yet released */
    int ndown;
} dctx;

typedef struct dwindow {
    Window id;
    char title[128]; /* as first seen, for error messages */
} dwindow;

/* --- context --- */

static dctx *find_ctx(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, CTX_KEY);
    dctx *c = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return c;
}

/* Lets go of the desktop: keys still held down, borrowed keycodes, lock. */
static void release_desktop(dctx *c)
{
    if (c->conn && !c->conn->lost) {
        for (int i = 0; i < c->ndown; i++) {
            drudge_err err;
            dx_key(c->conn, c->down[i], 0, 0, &err);
        }
        dx_unbind_scratch(c->conn);
    }
    for (int i = 0; i < c->ndown; i++)
        free(c->down[i]);
    c->ndown = 0;
    drudge_desktop_lock_release(&c->lock);
    c->display[0] = '\0';
}

static int ctx_gc(lua_State *L)
{
    dctx *c = lua_touserdata(L, 1);
    release_desktop(c);
    dx_close(c->conn);
    c->conn = NULL;
    return 0;
}

static void on_attempt(lua_State *L)
{
    dctx *c = find_ctx(L);
    if (!c)
        return;
    if (c->lock.fd >= 0)
        release_desktop(c);
    c->acquired = 0;
    c->used = 0;
}

static void on_attempt_end(lua_State *L)
{
    dctx *c = find_ctx(L);
    if (c)
        release_desktop(c);
}

/* Options read from the module table: desktop.lock_wait, ... */
static double module_number(lua_State *L, const char *field, double dflt)
{
    lua_getfield(L, LUA_REGISTRYINDEX, MODULE_KEY);
    double v = dflt;
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, field);
        if (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) >= 0)
            v = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return v;
}

/* desktop.display if set, else $DISPLAY, into buf ("" if neither). */
static void display_name(lua_State *L, char *buf, size_t n)
{
    const char *d = NULL;
    lua_getfield(L, LUA_REGISTRYINDEX, MODULE_KEY);
    if (lua_istable(L, -1))
        lua_getfield(L, -1, "display");
    else
        lua_pushnil(L);
    if (lua_type(L, -1) == LUA_TSTRING)
        d = lua_tostring(L, -1);
    if (!d)
        d = getenv("DISPLAY");
    snprintf(buf, n, "%s", d ? d : "");
    lua_pop(L, 2);
}

static lua_Integer field_int(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    lua_Integer v = lua_tointeger(L, -1);
    lua_pop(L, 1);
    return v;
}

/* --- windows --- */

static dwindow *push_window(lua_State *L, Window id, const char *title)
{
    dwindow *w = lua_newuserdatauv(L, sizeof *w, 0);
    w->id = id;
    snprintf(w->title, sizeof w->title, "%s", title ? title : "");
    luaL_setmetatable(L, WINDOW_MT);
    return w;
}

/* Pushes a window from a recorded {"id":..,"title":..} at index t. */
static void push_window_json(lua_State *L, int t)
{
    t = lua_absindex(L, t);
    lua_getfield(L, t, "title");
    push_window(L, (Window)field_int(L, t, "id"), lua_tostring(L, -1));
    lua_remove(L, -2);
}

/* Appends {"id":..,"title":..,"class":..} of window w. */
static void window_json(dctx *c, drudge_buf *b, Window w)
{
    drudge_buf t = {0}, cls = {0};
    drudge_err err;
    dx_title(c->conn, w, &t, &err);
    dx_class(c->conn, w, &cls, &err);
    drudge_buf_printf(b, "{\"id\":%lu", (unsigned long)w);
    drudge_json_lstr(b, "title", t.data ? t.data : "", t.len);
    drudge_json_lstr(b, "class", cls.data ? cls.data : "", cls.len);
    drudge_buf_puts(b, "}");
    drudge_buf_free(&t);
    drudge_buf_free(&cls);
}

/* --- the call --- */

typedef struct match_args match_args;
typedef struct dcall dcall;
typedef drudge_code (*win_op)(dcall *dc, dwindow *w, lua_State *L);

/* One desktop call: the context and the arguments its live function uses. */
struct dcall {
    dctx *c;
    drudge_call_ctx *call; /* set while the live function runs */
    drudge_err err;
    double timeout;   /* window methods that wait */
    dwindow *w;       /* the window it acts on, or NULL */
    win_op op;        /* window methods */
    const char *text; /* type: the text; key*: the key sequence */
    size_t len;
    lua_Integer delay; /* ms between keystrokes */
    int down;          /* key: -1 press and release, 1 down, 0 up */
    lua_Integer x, y, button, count, dx, dy;
    int has_xy;
    match_args *match;
    const char *path, *full; /* screenshot: as given, and confined */
};

/* Ends a live function: a failure is recorded with its message. */
static drudge_code done(dcall *dc, drudge_code rc)
{
    if (rc == DRUDGE_OK)
        return rc;
    return drudge_call_fail(dc->call, rc, "%s", dc->err.msg);
}

static void owner_text(lua_State *L, char *out, size_t n)
{
    const drudge_script_info *si = drudge_host_current_script(L);
    drudge_rec *rec = drudge_rec_from_lua(L);
    char now[40];
    drudge_fmt_time(drudge_now_us(), now);
    snprintf(out, n, "pid %d, task #%lld attempt %d (%s), since %s\n", (int)getpid(),
             (long long)drudge_rec_task(rec), drudge_rec_attempt(rec), si ? si->name : "?", now);
}

typedef struct acquire_args {
    dctx *c;
    char display[256];
} acquire_args;

/* Opens the display (again, if it was lost or is another one). */
static drudge_code open_display(dctx *c, const char *disp, drudge_err *err)
{
    if (c->conn && (c->conn->lost || strcmp(c->conn->name, disp))) {
        release_desktop(c);
        dx_close(c->conn);
        c->conn = NULL;
    }
    if (!c->conn)
        c->conn = dx_open(disp, err);
    if (c->conn)
        return DRUDGE_OK;
    return err->code ? err->code : DRUDGE_ECONNECT;
}

/* The live "acquire": the display and its lock. The display goes in the
 * response, so a replay elsewhere (no X, another DISPLAY) is no divergence. */
static drudge_code acquire_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    acquire_args *a = ud;
    drudge_err err = {0};
    int64_t t0 = drudge_mono_us();
    drudge_call_str(call, "display", a->display);
    if (!a->display[0])
        return drudge_call_fail(call, DRUDGE_ECONNECT,
                                "desktop: no X display: DISPLAY is not set (export DISPLAY=:0 "
                                "or set desktop.display)");
    drudge_code rc = open_display(a->c, a->display, &err);
    if (rc != DRUDGE_OK)
        return drudge_call_fail(call, rc, "%s", err.msg);
    double wait = module_number(L, "lock_wait", DEFAULT_LOCK_WAIT);
    double left = drudge_host_remaining(L) - 1;
    if (wait > left)
        wait = left > 0 ? left : 0;
    char owner[256], holder[256] = "";
    owner_text(L, owner, sizeof owner);
    rc =
        drudge_desktop_lock_take(&a->c->lock, a->display, wait, owner, holder, sizeof holder, &err);
    if (rc == DRUDGE_EBUSY) {
        double later = module_number(L, "lock_retry", DEFAULT_LOCK_RETRY);
        return drudge_call_retry_later(call, later, "%s; waited %.0f s, retrying in %.0f s",
                                       err.msg, (double)(drudge_mono_us() - t0) / 1e6, later);
    }
    if (rc != DRUDGE_OK)
        return drudge_call_fail(call, rc, "%s", err.msg);
    drudge_call_int(call, "waited_ms", (drudge_mono_us() - t0) / 1000);
    return DRUDGE_OK;
}

static int acquire_push(lua_State *L, drudge_call_ctx *call, void *ud)
{
    acquire_args *a = ud;
    a->c->acquired = 1;
    snprintf(a->c->display, sizeof a->c->display, "%s", a->display);
    return 0;
}

/* Makes the display and its lock ours for this attempt (recorded once per
 * attempt as the step "acquire"). Raises a system error when there is no
 * display, retry_later when another task holds it past desktop.lock_wait. */
static void acquire(lua_State *L, dctx *c)
{
    acquire_args a = {.c = c};
    display_name(L, a.display, sizeof a.display);
    int same = !strcmp(a.display, c->display);
    if (c->acquired && same && !(c->conn && c->conn->lost))
        return;
    if (c->acquired && !same)
        release_desktop(c); /* the script switched displays */
    /* The X display is the desktop's target: only acquiring it (opening
     * the display) says whether it is up; a click that misses is the
     * script's business, not the display's. */
    drudge_call_spec spec = {.kind = "desktop",
                             .name = "acquire",
                             .request = "{}",
                             .live = acquire_live,
                             .push = acquire_push,
                             .ud = &a,
                             .target = *a.display ? a.display : NULL};
    drudge_call(L, &spec);
}

/* A desktop call with request req (JSON text on the stack or static):
 * acquires the desktop for the attempt, then makes the call. Pushes the
 * response table. */
static void desktop_call(lua_State *L, const char *name, const char *req, drudge_call_live_fn live,
                         dcall *dc)
{
    dc->c = find_ctx(L);
    dc->c->used = 1;
    acquire(L, dc->c);
    drudge_call_spec spec = {
        .kind = "desktop", .name = name, .request = req, .live = live, .ud = dc};
    drudge_call(L, &spec);
}

/* desktop_call with a request in a buffer, which it frees (the text moves
 * to the Lua stack first, so an error raised inside leaks nothing). */
static void desktop_call_buf(lua_State *L, const char *name, drudge_buf *req,
                             drudge_call_live_fn live, dcall *dc)
{
    lua_pushlstring(L, req->data ? req->data : "{}", req->len);
    drudge_buf_free(req);
    desktop_call(L, name, lua_tostring(L, -1), live, dc);
    lua_remove(L, -2);
}

/* --- argument helpers --- */

static dwindow *check_window(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, WINDOW_MT);
}

/* opts.window (a window object or nil), for the request and the work. */
static dwindow *opt_window(lua_State *L, int t, const char *fn)
{
    if (lua_type(L, t) != LUA_TTABLE)
        return NULL;
    lua_getfield(L, t, "window");
    dwindow *w = NULL;
    if (!lua_isnil(L, -1)) {
        w = luaL_testudata(L, -1, WINDOW_MT);
        if (!w)
            drudge_host_config_error(L,
                                     "desktop.%s: 'window' must be a window (from find_windows, "
                                     "wait_window or active_window), got %s",
                                     fn, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return w;
}

static lua_Integer opt_int(lua_State *L, int t, const char *k, lua_Integer dflt, lua_Integer lo,
                           lua_Integer hi, const char *fn)
{
    if (lua_type(L, t) != LUA_TTABLE)
        return dflt;
    lua_getfield(L, t, k);
    lua_Integer v = dflt;
    if (!lua_isnil(L, -1)) {
        int ok;
        v = lua_tointegerx(L, -1, &ok);
        if (!ok || v < lo || v > hi)
            drudge_host_config_error(L, "desktop.%s: '%s' must be a whole number from %lld to %lld",
                                     fn, k, (long long)lo, (long long)hi);
    }
    lua_pop(L, 1);
    return v;
}

static double opt_num(lua_State *L, int t, const char *k, double dflt, const char *fn)
{
    if (lua_type(L, t) != LUA_TTABLE)
        return dflt;
    lua_getfield(L, t, k);
    double v = dflt;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER || lua_tonumber(L, -1) < 0)
            drudge_host_config_error(L, "desktop.%s: '%s' must be a number of seconds >= 0", fn, k);
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static void check_opts(lua_State *L, int idx, const char *fn)
{
    if (!lua_isnoneornil(L, idx))
        luaL_checktype(L, idx, LUA_TTABLE);
    (void)fn;
}

/* Activates opts.window before typing into it (inside the same step). */
static drudge_code activate_for(lua_State *L, dcall *dc)
{
    if (!dc->w)
        return DRUDGE_OK;
    double t = drudge_host_remaining(L);
    return dx_activate(dc->c->conn, dc->w->id, 0, t < DEFAULT_ACTIVATE ? t : DEFAULT_ACTIVATE,
                       &dc->err);
}

/* --- keyboard --- */

/* Checks text before anything is recorded: valid UTF-8, typeable. */
static void check_text(lua_State *L, const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned char ch = (unsigned char)s[i];
        size_t n = ch < 0x80             ? 1
                   : (ch & 0xe0) == 0xc0 ? 2
                   : (ch & 0xf0) == 0xe0 ? 3
                   : (ch & 0xf8) == 0xf0 ? 4
                                         : 0;
        if (!n || i + n > len)
            luaL_argerror(L, 1, lua_pushfstring(L, "invalid UTF-8 at byte %d", (int)i + 1));
        for (size_t j = 1; j < n; j++)
            if (((unsigned char)s[i + j] & 0xc0) != 0x80)
                luaL_argerror(L, 1, lua_pushfstring(L, "invalid UTF-8 at byte %d", (int)i + 1));
        if (n == 1 && (ch < 0x20 || ch == 0x7f) && ch != '\n' && ch != '\r' && ch != '\t' &&
            ch != '\b' && ch != 0x1b)
            luaL_argerror(L, 1,
                          lua_pushfstring(L, "cannot type control character \\%d at byte %d",
                                          (int)ch, (int)i + 1));
        i += n;
    }
}

static drudge_code type_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    dcall *dc = ud;
    dc->call = call;
    size_t typed = 0;
    double left = drudge_host_remaining(L);
    int64_t deadline = drudge_mono_us() + (int64_t)(left * 1e6);
    drudge_code rc = activate_for(L, dc);
    if (rc == DRUDGE_OK)
        rc = dx_type(dc->c->conn, dc->text, dc->len, (unsigned)dc->delay * 1000, deadline, &typed,
                     &dc->err);
    if (rc == DRUDGE_OK)
        drudge_call_int(call, "typed", (int64_t)typed);
    return done(dc, rc);
}

/* desktop.type(text [, { delay_ms = 12, window = w }]) */
static int l_type(lua_State *L)
{
    dcall dc = {0};
    dc.text = luaL_checklstring(L, 1, &dc.len);
    check_opts(L, 2, "type");
    check_text(L, dc.text, dc.len);
    dc.delay = opt_int(L, 2, "delay_ms", DEFAULT_DELAY_MS, 0, 1000, "type");
    dc.w = opt_window(L, 2, "type");
    drudge_buf req = {0};
    drudge_buf_puts(&req, "{\"text\":");
    drudge_buf_json_str(&req, dc.text, dc.len);
    drudge_buf_printf(&req, ",\"delay_ms\":%lld", (long long)dc.delay);
    if (dc.w)
        drudge_buf_printf(&req, ",\"window\":%lu", (unsigned long)dc.w->id);
    drudge_buf_puts(&req, "}");
    desktop_call_buf(L, "type", &req, type_live, &dc);
    return 0;
}

/* Keeps track of keys held down, so the end of the attempt releases them. */
static void note_key(dctx *c, const char *seq, int down)
{
    if (down == 1 && c->ndown < MAX_DOWN)
        c->down[c->ndown++] = drudge_xstrdup(seq);
    for (int i = 0; down == 0 && i < c->ndown; i++)
        if (!strcmp(c->down[i], seq)) {
            free(c->down[i]);
            c->down[i] = c->down[--c->ndown];
            break;
        }
}

static drudge_code key_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    dcall *dc = ud;
    dc->call = call;
    drudge_code rc = activate_for(L, dc);
    if (rc == DRUDGE_OK)
        rc = dx_key(dc->c->conn, dc->text, dc->down, (unsigned)dc->delay * 1000, &dc->err);
    if (rc == DRUDGE_OK)
        note_key(dc->c, dc->text, dc->down);
    return done(dc, rc);
}

static int key_common(lua_State *L, const char *fn, int down)
{
    const char *seq = luaL_checkstring(L, 1);
    char bad[256];
    check_opts(L, 2, fn);
    const char *wrong = dx_bad_key_name(seq, bad, sizeof bad);
    /* A wrong key name is the script's mistake: no retry will fix it. */
    if (wrong && !wrong[0])
        return drudge_host_config_error(L, "desktop.%s: a key name is missing in \"%s\"", fn, seq);
    if (wrong)
        return drudge_host_config_error(L,
                                        "desktop.%s: unknown key name '%s' in \"%s\" (xdotool "
                                        "names: ctrl, alt, shift, super, Return, Tab, Escape, "
                                        "BackSpace, Delete, F1, a, ...)",
                                        fn, bad, seq);
    dcall dc = {.text = seq, .down = down};
    dc.delay = opt_int(L, 2, "delay_ms", DEFAULT_DELAY_MS, 0, 1000, fn);
    dc.w = opt_window(L, 2, fn);
    drudge_buf req = {0};
    drudge_buf_puts(&req, "{\"keys\":");
    drudge_buf_json_str(&req, seq, strlen(seq));
    drudge_buf_printf(&req, ",\"delay_ms\":%lld", (long long)dc.delay);
    if (dc.w)
        drudge_buf_printf(&req, ",\"window\":%lu", (unsigned long)dc.w->id);
    drudge_buf_puts(&req, "}");
    desktop_call_buf(L, fn, &req, key_live, &dc);
    return 0;
}

/* desktop.key("ctrl+s" [, { delay_ms, window }]): press and release. */
static int l_key(lua_State *L)
{
    return key_common(L, "key", -1);
}

static int l_key_down(lua_State *L)
{
    return key_common(L, "key_down", 1);
}

static int l_key_up(lua_State *L)
{
    return key_common(L, "key_up", 0);
}

/* --- mouse --- */

static drudge_code move_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    dcall *dc = ud;
    dc->call = call;
    return done(dc, dx_move(dc->c->conn, (int)dc->x, (int)dc->y, &dc->err));
}

/* desktop.move(x, y) */
static int l_move(lua_State *L)
{
    dcall dc = {0};
    dc.x = luaL_checkinteger(L, 1);
    dc.y = luaL_checkinteger(L, 2);
    luaL_argcheck(L, dc.x >= 0 && dc.x < 65536, 1, "x must be a screen coordinate >= 0");
    luaL_argcheck(L, dc.y >= 0 && dc.y < 65536, 2, "y must be a screen coordinate >= 0");
    char req[96];
    snprintf(req, sizeof req, "{\"x\":%lld,\"y\":%lld}", (long long)dc.x, (long long)dc.y);
    desktop_call(L, "move", req, move_live, &dc);
    return 0;
}

/* Where a click goes: relative to the window (its centre without x, y),
 * else x, y, else where the pointer is. */
static drudge_code click_point(dcall *dc, int *ax, int *ay)
{
    *ax = (int)dc->x, *ay = (int)dc->y;
    if (!dc->w && !dc->has_xy)
        return dx_mouse_location(dc->c->conn, ax, ay, &dc->err);
    if (!dc->w)
        return DRUDGE_OK;
    int wx = 0, wy = 0, ww = 0, wh = 0;
    drudge_code rc = dx_check_window(dc->c->conn, dc->w->id, &dc->err);
    if (rc == DRUDGE_OK)
        rc = dx_geometry(dc->c->conn, dc->w->id, &wx, &wy, &ww, &wh, &dc->err);
    *ax = wx + (dc->has_xy ? (int)dc->x : ww / 2);
    *ay = wy + (dc->has_xy ? (int)dc->y : wh / 2);
    return rc;
}

static drudge_code click_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    dcall *dc = ud;
    dc->call = call;
    int ax, ay;
    drudge_code rc = click_point(dc, &ax, &ay);
    if (rc == DRUDGE_OK && (dc->w || dc->has_xy))
        rc = dx_move(dc->c->conn, ax, ay, &dc->err);
    if (rc == DRUDGE_OK)
        rc = dx_click(dc->c->conn, (int)dc->button, (int)dc->count, 80000, &dc->err);
    if (rc == DRUDGE_OK) {
        drudge_call_int(call, "x", ax);
        drudge_call_int(call, "y", ay);
    }
    return done(dc, rc);
}

/* desktop.click{ x, y, button = 1, count = 1, window = w }: x, y are relative
 * to w when given (default: its centre); no x, y: where the pointer is. */
static int l_click(lua_State *L)
{
    if (!lua_isnoneornil(L, 1))
        luaL_checktype(L, 1, LUA_TTABLE);
    dcall dc = {0};
    if (lua_istable(L, 1)) {
        lua_getfield(L, 1, "x");
        lua_getfield(L, 1, "y");
        dc.has_xy = !lua_isnil(L, -2) || !lua_isnil(L, -1);
        lua_pop(L, 2);
    }
    if (dc.has_xy) {
        dc.x = opt_int(L, 1, "x", -1, -65535, 65535, "click");
        dc.y = opt_int(L, 1, "y", -1, -65535, 65535, "click");
        if (dc.x == -1 || dc.y == -1)
            return luaL_error(L, "desktop.click: give both 'x' and 'y', or neither");
    }
    dc.button = opt_int(L, 1, "button", 1, 1, 9, "click");
    dc.count = opt_int(L, 1, "count", 1, 1, 10, "click");
    dc.w = opt_window(L, 1, "click");
    drudge_buf req = {0};
    drudge_buf_puts(&req, "{");
    if (dc.has_xy) {
        drudge_json_int(&req, "x", dc.x);
        drudge_json_int(&req, "y", dc.y);
    }
    drudge_json_int(&req, "button", dc.button);
    drudge_json_int(&req, "count", dc.count);
    if (dc.w)
        drudge_json_int(&req, "window", (int64_t)dc.w->id);
    drudge_buf_puts(&req, "}");
    desktop_call_buf(L, "click", &req, click_live, &dc);
    return 0;
}

static drudge_code mouse_location_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    dcall *dc = ud;
    dc->call = call;
    int x = 0, y = 0;
    drudge_code rc = dx_mouse_location(dc->c->conn, &x, &y, &dc->err);
    if (rc == DRUDGE_OK) {
        drudge_call_int(call, "x", x);
        drudge_call_int(call, "y", y);
    }
    return done(dc, rc);
}

/* desktop.mouse_location() -> x, y */
static int l_mouse_location(lua_State *L)
{
    dcall dc = {0};
    desktop_call(L, "mouse_location", "{}", mouse_location_live, &dc);
    lua_pushinteger(L, field_int(L, -1, "x"));
    lua_pushinteger(L, field_int(L, -2, "y"));
    return 2;
}

static drudge_code scroll_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    dcall *dc = ud;
    dc->call = call;
    lua_Integer dy = dc->dy, dx = dc->dx;
    drudge_code rc = DRUDGE_OK;
    if (dy)
        rc = dx_click(dc->c->conn, dy > 0 ? 5 : 4, (int)(dy > 0 ? dy : -dy), 20000, &dc->err);
    if (rc == DRUDGE_OK && dx)
        rc = dx_click(dc->c->conn, dx > 0 ? 7 : 6, (int)(dx > 0 ? dx : -dx), 20000, &dc->err);
    return done(dc, rc);
}

/* desktop.scroll{ dy = n, dx = n }: dy > 0 scrolls down, dx > 0 right, in
 * wheel clicks, where the pointer is (or at x, y). */
static int l_scroll(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    dcall dc = {0};
    dc.dy = opt_int(L, 1, "dy", 0, -1000, 1000, "scroll");
    dc.dx = opt_int(L, 1, "dx", 0, -1000, 1000, "scroll");
    if (!dc.dx && !dc.dy)
        return luaL_error(L, "desktop.scroll: give 'dy' (down > 0) or 'dx' (right > 0)");
    char req[96];
    snprintf(req, sizeof req, "{\"dy\":%lld,\"dx\":%lld}", (long long)dc.dy, (long long)dc.dx);
    desktop_call(L, "scroll", req, scroll_live, &dc);
    return 0;
}

/* --- finding windows --- */

struct match_args {
    dx_match m;
    double timeout;
};

static const char *opt_pattern(lua_State *L, int t, const char *k, const char *fn)
{
    lua_getfield(L, t, k);
    const char *s = NULL;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            drudge_host_config_error(L, "desktop.%s: '%s' must be a pattern string", fn, k);
        s = lua_tostring(L, -1);
        regex_t re;
        int e = regcomp(&re, s, REG_EXTENDED | REG_ICASE | REG_NOSUB);
        if (e) {
            char why[128];
            regerror(e, &re, why, sizeof why);
            luaL_error(L, "desktop.%s: bad %s pattern '%s': %s", fn, k, s, why);
        }
        regfree(&re);
    }
    lua_pop(L, 1); /* s stays valid: the string is still in the options table */
    return s;
}

static void read_match(lua_State *L, match_args *a, const char *fn)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    memset(a, 0, sizeof *a);
    a->m.name = opt_pattern(L, 1, "name", fn);
    a->m.cls = opt_pattern(L, 1, "class", fn);
    a->m.instance = opt_pattern(L, 1, "instance", fn);
    a->m.pid = (long)opt_int(L, 1, "pid", 0, 0, INT_MAX, fn);
    lua_getfield(L, 1, "visible_only");
    a->m.visible_only = lua_isnil(L, -1) ? 1 : lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!a->m.name && !a->m.cls && !a->m.instance && !a->m.pid)
        luaL_error(L, "desktop.%s: give at least one of name, class, instance, pid", fn);
}

static void match_json(drudge_buf *b, const match_args *a)
{
    drudge_buf_puts(b, "{");
    if (a->m.name)
        drudge_json_str(b, "name", a->m.name);
    if (a->m.cls)
        drudge_json_str(b, "class", a->m.cls);
    if (a->m.instance)
        drudge_json_str(b, "instance", a->m.instance);
    if (a->m.pid)
        drudge_json_int(b, "pid", a->m.pid);
    drudge_json_bool(b, "visible_only", a->m.visible_only);
}

/* What was looked for, for error messages: name ~ 'x', class ~ 'y'. */
static void match_text(char *out, size_t n, const match_args *a)
{
    int k = 0;
    out[0] = '\0';
    if (a->m.name)
        k += snprintf(out + k, n - (size_t)k, "name ~ '%s'", a->m.name);
    if (a->m.cls && (size_t)k < n)
        k += snprintf(out + k, n - (size_t)k, "%sclass ~ '%s'", k ? ", " : "", a->m.cls);
    if (a->m.instance && (size_t)k < n)
        k += snprintf(out + k, n - (size_t)k, "%sinstance ~ '%s'", k ? ", " : "", a->m.instance);
    if (a->m.pid && (size_t)k < n)
        snprintf(out + k, n - (size_t)k, "%spid %ld", k ? ", " : "", a->m.pid);
}

static drudge_code find_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    dcall *dc = ud;
    dc->call = call;
    Window *ws = NULL;
    size_t n = 0;
    drudge_code rc = dx_find(dc->c->conn, &dc->match->m, &ws, &n, &dc->err);
    if (rc == DRUDGE_OK) {
        drudge_buf *b = drudge_call_value(call, "windows");
        drudge_buf_puts(b, "[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                drudge_buf_puts(b, ",");
            window_json(dc->c, b, ws[i]);
        }
        drudge_buf_puts(b, "]");
    }
    free(ws);
    return done(dc, rc);
}

/* desktop.find_windows{ name, class, instance, pid, visible_only = true } -> { window... } */
static int l_find_windows(lua_State *L)
{
    match_args a;
    read_match(L, &a, "find_windows");
    drudge_buf req = {0};
    match_json(&req, &a);
    drudge_buf_puts(&req, "}");
    dcall dc = {.match = &a};
    desktop_call_buf(L, "find_windows", &req, find_live, &dc);
    lua_getfield(L, -1, "windows");
    int t = lua_gettop(L);
    lua_Integer n = luaL_len(L, t);
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, t, i);
        push_window_json(L, -1);
        lua_seti(L, -3, i);
        lua_pop(L, 1);
    }
    return 1;
}

static drudge_code wait_window_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    dcall *dc = ud;
    dc->call = call;
    double left = drudge_host_remaining(L);
    double t = dc->timeout < left ? dc->timeout : left;
    int64_t until = drudge_mono_us() + (int64_t)(t * 1e6);
    for (;;) {
        Window *ws = NULL;
        size_t n = 0;
        drudge_code rc = dx_find(dc->c->conn, &dc->match->m, &ws, &n, &dc->err);
        if (rc == DRUDGE_OK && n)
            window_json(dc->c, drudge_call_value(call, "window"), ws[0]);
        free(ws);
        if (rc != DRUDGE_OK || n)
            return done(dc, rc);
        if (drudge_mono_us() > until) {
            char what[600];
            match_text(what, sizeof what, dc->match);
            return drudge_call_fail(call, DRUDGE_ENOTFOUND,
                                    "desktop.wait_window: no window with %s appeared within %g s",
                                    what, t);
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* desktop.wait_window{ name, class, instance, pid, visible_only, timeout = 10 } -> window */
static int l_wait_window(lua_State *L)
{
    match_args a;
    read_match(L, &a, "wait_window");
    dcall dc = {.match = &a};
    dc.timeout = opt_num(L, 1, "timeout", DEFAULT_WAIT_WINDOW, "wait_window");
    drudge_buf req = {0};
    match_json(&req, &a);
    drudge_buf_printf(&req, ",\"timeout\":%g}", dc.timeout);
    desktop_call_buf(L, "wait_window", &req, wait_window_live, &dc);
    lua_getfield(L, -1, "window");
    push_window_json(L, -1);
    return 1;
}

static drudge_code active_window_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    dcall *dc = ud;
    dc->call = call;
    Window w = None;
    drudge_code rc = dx_active_window(dc->c->conn, &w, &dc->err);
    if (rc == DRUDGE_OK && w != None)
        window_json(dc->c, drudge_call_value(call, "window"), w);
    return done(dc, rc);
}

/* desktop.active_window() -> window or nil */
static int l_active_window(lua_State *L)
{
    dcall dc = {0};
    desktop_call(L, "active_window", "{}", active_window_live, &dc);
    lua_getfield(L, -1, "window");
    if (lua_isnil(L, -1))
        return 1;
    push_window_json(L, -1);
    return 1;
}

/* --- screenshots --- */

/* Writes the PNG to path (already confined to the files directory), 0600:
 * a screenshot shows case data. */
static drudge_code write_file(const char *path, const void *data, size_t len, drudge_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return drudge_seterr(err, DRUDGE_EIO, "desktop.screenshot: cannot write %s: %s", path,
                             strerror(errno));
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            drudge_seterr(err, DRUDGE_EIO, "desktop.screenshot: cannot write %s: %s", path,
                          strerror(errno));
            close(fd);
            return DRUDGE_EIO;
        }
        p += w;
        len -= (size_t)w;
    }
    if (close(fd) != 0)
        return drudge_seterr(err, DRUDGE_EIO, "desktop.screenshot: cannot write %s: %s", path,
                             strerror(errno));
    return DRUDGE_OK;
}

static drudge_code screenshot_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    dcall *dc = ud;
    dc->call = call;
    drudge_buf png = {0};
    int width = 0, height = 0;
    drudge_code rc = DRUDGE_OK;
    if (dc->w)
        rc = dx_check_window(dc->c->conn, dc->w->id, &dc->err);
    if (rc == DRUDGE_OK)
        rc = dx_screenshot(dc->c->conn, dc->w ? dc->w->id : None, &png, &width, &height, &dc->err);
    if (rc == DRUDGE_OK && dc->full)
        rc = write_file(dc->full, png.data, png.len, &dc->err);
    if (rc == DRUDGE_OK) {
        drudge_call_bytes(call, "sha256", png.data, png.len, "image/png", 1);
        drudge_call_int(call, "width", width);
        drudge_call_int(call, "height", height);
        drudge_call_int(call, "size", (int64_t)png.len);
        drudge_call_str(call, "content_type", "image/png");
        if (dc->path)
            drudge_call_str(call, "path", dc->path);
    }
    drudge_buf_free(&png);
    return done(dc, rc);
}

/* Takes the screenshot (live or replayed) and pushes the result table. */
static int screenshot(lua_State *L, const char *name, dwindow *w, const char *path,
                      const char *full)
{
    drudge_buf req = {0};
    drudge_buf_puts(&req, "{");
    if (w)
        drudge_json_int(&req, "window", (int64_t)w->id);
    if (path)
        drudge_json_str(&req, "path", path);
    drudge_buf_puts(&req, "}");
    dcall dc = {.w = w, .path = path, .full = full};
    desktop_call_buf(L, name, &req, screenshot_live, &dc);
    return 1;
}

/* desktop.screenshot{ window = w, path = "x.png" } -> { sha256, width, height, size, path } */
static int l_screenshot(lua_State *L)
{
    check_opts(L, 1, "screenshot");
    dwindow *w = opt_window(L, 1, "screenshot");
    const char *path = NULL, *full = NULL;
    if (lua_istable(L, 1)) {
        lua_getfield(L, 1, "path");
        if (!lua_isnil(L, -1)) {
            path = luaL_checkstring(L, -1);
            if (!drudge_rec_replaying(drudge_rec_from_lua(L)))
                full = drudge_host_confine(L, path); /* raises if outside --files */
        }
    }
    return screenshot(L, "screenshot", w, path, full);
}

/* The screenshot_on_error hook: evidence of what the screen showed when a
 * step failed, if this attempt used the desktop. */
static int l_auto_screenshot(lua_State *L)
{
    return screenshot(L, "screenshot_on_error", NULL, NULL, NULL);
}

static void on_step_error(lua_State *L, int seq)
{
    (void)seq;
    const drudge_script_info *si = drudge_host_current_script(L);
    dctx *c = si && si->screenshot_on_error ? find_ctx(L) : NULL;
    if (!c || !c->used || !c->acquired)
        return;
    int top = lua_gettop(L);
    lua_pushcfunction(L, l_auto_screenshot);
    lua_pcall(L, 0, 0, 0); /* a failure is recorded in its own step; the step's error stands */
    lua_settop(L, top);
}

static drudge_code release_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    release_desktop(ud);
    return DRUDGE_OK;
}

/* desktop.release(): lets other tasks have the desktop before this attempt
 * ends (keys held down are released first). */
static int l_release(lua_State *L)
{
    dctx *c = find_ctx(L);
    if (!c->acquired)
        return 0;
    drudge_call_spec spec = {
        .kind = "desktop", .name = "release", .request = "{}", .live = release_live, .ud = c};
    drudge_call(L, &spec);
    c->acquired = 0;
    return 0;
}

/* --- window methods --- */

/* A window method's live part: checks the window still exists, then op. */
static drudge_code window_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    dcall *dc = ud;
    dc->call = call;
    dwindow *w = dc->w;
    drudge_code rc = dx_check_window(dc->c->conn, w->id, &dc->err);
    if (rc == DRUDGE_ENOTFOUND && w->title[0])
        drudge_seterr(&dc->err, rc,
                      "desktop: window 0x%lx (\"%s\") no longer exists (it was "
                      "closed)",
                      (unsigned long)w->id, w->title);
    if (rc == DRUDGE_OK)
        rc = dc->op(dc, w, L);
    return done(dc, rc);
}

/* A recorded window method: pushes its response table. */
static int window_call(lua_State *L, const char *name, win_op op, const char *extra, double timeout)
{
    dcall dc = {.w = check_window(L, 1), .op = op, .timeout = timeout};
    drudge_buf req = {0};
    drudge_buf_printf(&req, "{\"window\":%lu%s}", (unsigned long)dc.w->id, extra ? extra : "");
    desktop_call_buf(L, name, &req, window_live, &dc);
    return 1;
}

static drudge_code op_title(dcall *dc, dwindow *w, lua_State *L)
{
    drudge_buf t = {0};
    drudge_code rc = dx_title(dc->c->conn, w->id, &t, &dc->err);
    if (rc == DRUDGE_OK)
        drudge_call_lstr(dc->call, "title", t.data ? t.data : "", t.len);
    drudge_buf_free(&t);
    return rc;
}

static int w_title(lua_State *L)
{
    window_call(L, "window.title", op_title, NULL, 0);
    lua_getfield(L, -1, "title");
    return 1;
}

static drudge_code op_class(dcall *dc, dwindow *w, lua_State *L)
{
    drudge_buf t = {0};
    drudge_code rc = dx_class(dc->c->conn, w->id, &t, &dc->err);
    if (rc == DRUDGE_OK)
        drudge_call_lstr(dc->call, "class", t.data ? t.data : "", t.len);
    drudge_buf_free(&t);
    return rc;
}

static int w_class(lua_State *L)
{
    window_call(L, "window.class", op_class, NULL, 0);
    lua_getfield(L, -1, "class");
    return 1;
}

static drudge_code op_pid(dcall *dc, dwindow *w, lua_State *L)
{
    long pid = dx_pid(dc->c->conn, w->id);
    if (dc->c->conn->lost)
        return drudge_seterr(&dc->err, DRUDGE_ECONNECT,
                             "desktop: lost the connection to X display '%s'", dc->c->conn->name);
    if (pid)
        drudge_call_int(dc->call, "pid", pid);
    return DRUDGE_OK;
}

static int w_pid(lua_State *L)
{
    window_call(L, "window.pid", op_pid, NULL, 0);
    lua_getfield(L, -1, "pid");
    return 1;
}

static drudge_code op_geometry(dcall *dc, dwindow *w, lua_State *L)
{
    int x, y, width, height;
    drudge_code rc = dx_geometry(dc->c->conn, w->id, &x, &y, &width, &height, &dc->err);
    if (rc != DRUDGE_OK)
        return rc;
    drudge_call_int(dc->call, "x", x);
    drudge_call_int(dc->call, "y", y);
    drudge_call_int(dc->call, "width", width);
    drudge_call_int(dc->call, "height", height);
    return rc;
}

/* w:geometry() -> { x, y, width, height } (screen coordinates) */
static int w_geometry(lua_State *L)
{
    return window_call(L, "window.geometry", op_geometry, NULL, 0);
}

static double activate_timeout(lua_State *L, const char *fn)
{
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    double t = opt_num(L, 2, "timeout", DEFAULT_ACTIVATE, fn);
    double left = drudge_host_remaining(L);
    return t < left ? t : left;
}

static drudge_code op_activate(dcall *dc, dwindow *w, lua_State *L)
{
    return dx_activate(dc->c->conn, w->id, 0, dc->timeout, &dc->err);
}

static drudge_code op_focus(dcall *dc, dwindow *w, lua_State *L)
{
    return dx_activate(dc->c->conn, w->id, 1, dc->timeout, &dc->err);
}

/* w:activate{ timeout = 5 }: raises the window and gives it the focus (the
 * window manager's way when there is one), then waits until it is active. */
static int w_activate(lua_State *L)
{
    window_call(L, "window.activate", op_activate, NULL, activate_timeout(L, "activate"));
    return 0;
}

/* w:focus{ timeout = 5 }: gives the window the keyboard focus, no raise. */
static int w_focus(lua_State *L)
{
    window_call(L, "window.focus", op_focus, NULL, activate_timeout(L, "focus"));
    return 0;
}

static drudge_code op_move(dcall *dc, dwindow *w, lua_State *L)
{
    return dx_move_window(dc->c->conn, w->id, (int)lua_tointeger(L, 2), (int)lua_tointeger(L, 3),
                          &dc->err);
}

static int w_move(lua_State *L)
{
    check_window(L, 1);
    lua_Integer x = luaL_checkinteger(L, 2), y = luaL_checkinteger(L, 3);
    luaL_argcheck(L, x > -65536 && x < 65536, 2, "x out of range");
    luaL_argcheck(L, y > -65536 && y < 65536, 3, "y out of range");
    char extra[64];
    snprintf(extra, sizeof extra, ",\"x\":%lld,\"y\":%lld", (long long)x, (long long)y);
    window_call(L, "window.move", op_move, extra, 0);
    return 0;
}

static drudge_code op_resize(dcall *dc, dwindow *w, lua_State *L)
{
    return dx_resize_window(dc->c->conn, w->id, (int)lua_tointeger(L, 2), (int)lua_tointeger(L, 3),
                            &dc->err);
}

static int w_resize(lua_State *L)
{
    check_window(L, 1);
    lua_Integer width = luaL_checkinteger(L, 2), height = luaL_checkinteger(L, 3);
    luaL_argcheck(L, width >= 1 && width < 65536, 2, "width must be from 1 to 65535");
    luaL_argcheck(L, height >= 1 && height < 65536, 3, "height must be from 1 to 65535");
    char extra[64];
    snprintf(extra, sizeof extra, ",\"width\":%lld,\"height\":%lld", (long long)width,
             (long long)height);
    window_call(L, "window.resize", op_resize, extra, 0);
    return 0;
}

static drudge_code op_close(dcall *dc, dwindow *w, lua_State *L)
{
    return dx_close_window(dc->c->conn, w->id, &dc->err);
}

static int w_close(lua_State *L)
{
    window_call(L, "window.close", op_close, NULL, 0);
    return 0;
}

static drudge_code exists_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    dcall *dc = ud;
    dc->call = call;
    drudge_code rc = dx_check_window(dc->c->conn, dc->w->id, &dc->err);
    if (rc == DRUDGE_OK || rc == DRUDGE_ENOTFOUND)
        drudge_call_bool(call, "exists", rc == DRUDGE_OK);
    return done(dc, rc == DRUDGE_ENOTFOUND ? DRUDGE_OK : rc);
}

/* w:exists() -> boolean: false for a window that was closed. */
static int w_exists(lua_State *L)
{
    dcall dc = {.w = check_window(L, 1)};
    char req[64];
    snprintf(req, sizeof req, "{\"window\":%lu}", (unsigned long)dc.w->id);
    desktop_call(L, "window.exists", req, exists_live, &dc);
    lua_getfield(L, -1, "exists");
    return 1;
}

static drudge_code wait_closed_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    dcall *dc = ud;
    dc->call = call;
    int64_t until = drudge_mono_us() + (int64_t)(dc->timeout * 1e6);
    int gone = 0;
    for (;;) {
        drudge_code rc = dx_gone(dc->c->conn, dc->w->id, &gone, &dc->err);
        if (rc != DRUDGE_OK || gone)
            return done(dc, rc);
        if (drudge_mono_us() > until)
            return drudge_call_fail(call, DRUDGE_ESTATE,
                                    "desktop: window 0x%lx (\"%s\") was still open after %g s",
                                    (unsigned long)dc->w->id, dc->w->title, dc->timeout);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* w:wait_closed{ timeout = 10 }: waits until the window is gone (closed,
 * or unmapped); a system error past the timeout. */
static int w_wait_closed(lua_State *L)
{
    dcall dc = {.w = check_window(L, 1)};
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    double t = opt_num(L, 2, "timeout", DEFAULT_WAIT_WINDOW, "wait_closed");
    double left = drudge_host_remaining(L);
    dc.timeout = t < left ? t : left;
    char req[96];
    snprintf(req, sizeof req, "{\"window\":%lu,\"timeout\":%g}", (unsigned long)dc.w->id,
             dc.timeout);
    desktop_call(L, "window.wait_closed", req, wait_closed_live, &dc);
    return 0;
}

/* w:screenshot{ path = "x.png" } */
static int w_screenshot(lua_State *L)
{
    dwindow *w = check_window(L, 1);
    const char *path = NULL, *full = NULL;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "path");
        if (!lua_isnil(L, -1)) {
            path = luaL_checkstring(L, -1);
            if (!drudge_rec_replaying(drudge_rec_from_lua(L)))
                full = drudge_host_confine(L, path);
        }
    }
    return screenshot(L, "screenshot", w, path, full);
}

static int w_index(lua_State *L)
{
    dwindow *w = check_window(L, 1);
    const char *k = luaL_checkstring(L, 2);
    if (!strcmp(k, "id")) {
        lua_pushinteger(L, (lua_Integer)w->id);
        return 1;
    }
    lua_getfield(L, lua_upvalueindex(1), k); /* the methods */
    return 1;
}

static int w_tostring(lua_State *L)
{
    dwindow *w = check_window(L, 1);
    char id[32];
    snprintf(id, sizeof id, "0x%lx", (unsigned long)w->id);
    if (w->title[0])
        lua_pushfstring(L, "desktop.window(%s \"%s\")", id, w->title);
    else
        lua_pushfstring(L, "desktop.window(%s)", id);
    return 1;
}

static int w_eq(lua_State *L)
{
    dwindow *a = luaL_testudata(L, 1, WINDOW_MT), *b = luaL_testudata(L, 2, WINDOW_MT);
    lua_pushboolean(L, a && b && a->id == b->id);
    return 1;
}

static void open_window_mt(lua_State *L)
{
    static const luaL_Reg methods[] = {{"title", w_title},
                                       {"class", w_class},
                                       {"pid", w_pid},
                                       {"geometry", w_geometry},
                                       {"activate", w_activate},
                                       {"focus", w_focus},
                                       {"move", w_move},
                                       {"resize", w_resize},
                                       {"close", w_close},
                                       {"exists", w_exists},
                                       {"wait_closed", w_wait_closed},
                                       {"screenshot", w_screenshot},
                                       {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__index", w_index},
                                    {"__tostring", w_tostring},
                                    {"__eq", w_eq},
                                    {"__metatable", NULL},
                                    {NULL, NULL}};
    drudge_lua_class(L, WINDOW_MT, meta, methods);
}

/* --- the module --- */

__attribute__((constructor)) static void register_hooks(void)
{
    drudge_host_on_attempt(on_attempt);
    drudge_host_on_attempt_end(on_attempt_end);
    drudge_host_on_step_error(on_step_error);
}

int luaopen_drudge_desktop(lua_State *L)
{
    static const luaL_Reg fns[] = {{"type", l_type},
                                   {"key", l_key},
                                   {"key_down", l_key_down},
                                   {"key_up", l_key_up},
                                   {"move", l_move},
                                   {"click", l_click},
                                   {"mouse_location", l_mouse_location},
                                   {"scroll", l_scroll},
                                   {"find_windows", l_find_windows},
                                   {"wait_window", l_wait_window},
                                   {"active_window", l_active_window},
                                   {"screenshot", l_screenshot},
                                   {"release", l_release},
                                   {NULL, NULL}};
    if (!find_ctx(L)) {
        dctx *c = lua_newuserdatauv(L, sizeof *c, 0);
        memset(c, 0, sizeof *c);
        c->lock.fd = -1;
        lua_newtable(L);
        lua_pushcfunction(L, ctx_gc);
        lua_setfield(L, -2, "__gc");
        lua_setmetatable(L, -2);
        lua_setfield(L, LUA_REGISTRYINDEX, CTX_KEY);
        open_window_mt(L);
    }
    luaL_newlib(L, fns);
    lua_pushinteger(L, DEFAULT_LOCK_WAIT);
    lua_setfield(L, -2, "lock_wait");
    lua_pushinteger(L, DEFAULT_LOCK_RETRY);
    lua_setfield(L, -2, "lock_retry");
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, MODULE_KEY);
    return 1;
}

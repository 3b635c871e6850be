/* browser.c: drudge.browser, the Lua module that drives Chromium through
 * the W3C WebDriver protocol, for web applications that have no API. The
 * contract is documented in scripts/README.md (section drudge.browser).
 * This file: the module, sessions (open, the attempt's end), targets, the
 * call path every method takes, navigation and finding; act.c has the
 * actions and reads on elements, page.c tabs, frames, alerts, scripts,
 * waits, screenshots and downloads.
 *
 * Every call is one "browser" step made through the connector call path
 * (drudge_call): its request names the target as the script described it
 * ({"label":"First Name"}) and what was asked, its response what the
 * browser answered (the element's WebDriver id, a text, a screenshot's
 * hash), so `drudge replay` returns the recorded answers with no browser,
 * and a script that asks for something else is a divergence.
 *
 * A session (browser.open) belongs to the attempt that opened it: the end
 * of the attempt closes it, whatever happened (drudge_host_on_attempt_end),
 * and with it chromedriver and Chromium (proc.c). The attempt's sessions
 * are kept in a registry table, so a session the script dropped is closed
 * as well. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include "browserint.h"
#include "drudge/call.h"
#include "drudge/host.h"
#include "drudge/json.h"
#include "drudge/record.h"

#define SESSIONS_KEY    "drudge.browser.sessions" /* the attempt's sessions, in order */
#define MODULE_KEY      "drudge.browser.module"
#define KEEP_KEY        "drudge.browser.keep"
#define DEFAULT_TIMEOUT 10.0 /* seconds find and actions wait for an element */
#define DEFAULT_PAGE    30.0 /* seconds a page may take to load */
#define DEFAULT_OPEN    60.0 /* seconds starting the browser may take */

/* --- module options --- */

static double module_number(lua_State *L, const char *field, double dflt)
{
    lua_getfield(L, LUA_REGISTRYINDEX, MODULE_KEY);
    double v = dflt;
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, field);
        if (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) > 0)
            v = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return v;
}

double bc_cap(lua_State *L, double t)
{
    double left = drudge_host_remaining(L) - 0.2;
    if (left < 0.05)
        left = 0.05;
    return t < left ? t : left;
}

void bc_check_opts(lua_State *L, int idx)
{
    if (!lua_isnoneornil(L, idx))
        luaL_checktype(L, idx, LUA_TTABLE);
}

/* --- sessions --- */

bsession *bc_session(lua_State *L, int idx)
{
    bsession *s = luaL_checkudata(L, idx, SESSION_MT);
    if (s->closed)
        luaL_error(L, "browser: session %d is closed (by close() or the end of its attempt)",
                   s->num);
    return s;
}

void browser_session_stop(bsession *s)
{
    if (s->live)
        bproc_stop(&s->proc);
    s->live = 0;
    s->closed = 1;
    drudge_buf_free(&s->seen);
}

static int session_gc(lua_State *L)
{
    browser_session_stop(lua_touserdata(L, 1));
    return 0;
}

/* What the worker keeps across attempts (its chromedriver, the warm
 * spare), made on first use. Made before the first session's userdata, so
 * that when the state closes the sessions' finalizers run before its own. */
static int keep_gc(lua_State *L)
{
    bkeep *k = lua_touserdata(L, 1);
    bspare_stop(&k->spare);
    bdriver_stop(&k->drv);
    return 0;
}

static bkeep *find_keep(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, KEEP_KEY) != LUA_TUSERDATA) {
        lua_pop(L, 1);
        bkeep *k = lua_newuserdatauv(L, sizeof *k, 0);
        memset(k, 0, sizeof *k);
        lua_newtable(L);
        lua_pushcfunction(L, keep_gc);
        lua_setfield(L, -2, "__gc");
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, KEEP_KEY);
    }
    bkeep *k = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return k;
}

static int module_bool(lua_State *L, const char *field, int dflt)
{
    lua_getfield(L, LUA_REGISTRYINDEX, MODULE_KEY);
    int on = dflt;
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, field);
        if (lua_isboolean(L, -1)) /* else nil or "auto": the default */
            on = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return on;
}

/* Closes every session of the attempt (at its end, and, in case, at the
 * start of the next); returns the options of the last one that ran a
 * browser, or NULL. */
static int close_sessions(lua_State *L, bopts *last)
{
    int live = 0;
    if (lua_getfield(L, LUA_REGISTRYINDEX, SESSIONS_KEY) == LUA_TTABLE) {
        lua_Integer n = luaL_len(L, -1);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_geti(L, -1, i);
            bsession *s = luaL_testudata(L, -1, SESSION_MT);
            if (s && s->opts.width) {
                *last = s->opts;
                live = 1;
            }
            if (s)
                browser_session_stop(s);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, SESSIONS_KEY);
    return live;
}

static void on_attempt(lua_State *L)
{
    bopts last;
    close_sessions(L, &last);
}

static void on_attempt_end(lua_State *L)
{
    bopts last;
    close_sessions(L, &last);
}

/* --- calls --- */

wd_conn *bc_wd(bcall *bc)
{
    return &bc->s->proc.wd;
}

void bc_value(bcall *bc, const char *key)
{
    drudge_buf *b = drudge_call_value(bc->c, key);
    drudge_buf_add(b, bc_wd(bc)->value, bc_wd(bc)->vlen);
}

drudge_code bc_fail(bcall *bc, drudge_code rc)
{
    if (rc == DRUDGE_OK)
        return rc;
    return drudge_call_fail(bc->c, rc, "%s", bc->err.msg);
}

drudge_code bc_cmd(bcall *bc, const char *method, const char *path, const char *body)
{
    return wd_call(bc_wd(bc), method, path, body, bc_cap(bc->L, bc->s->page_timeout + 5), &bc->err);
}

drudge_code bc_el_cmd(bcall *bc, const char *method, const char *id, const char *rest,
                      const char *body)
{
    char path[256];
    snprintf(path, sizeof path, "/element/%s%s", id, rest);
    drudge_code rc = bc_cmd(bc, method, path, body);
    if (rc == DRUDGE_ESTATE && !strcmp(bc_wd(bc)->error, "stale element reference"))
        drudge_seterr(&bc->err, rc,
                      "the element is no longer on the page (it changed since the element "
                      "was found; find it again)");
    return rc;
}

/* A failed call with screenshot_on_error: the page as it was goes into the
 * failed step's response ("screenshot": its hash, the PNG a payload), so
 * every failure has its evidence, inside step() or not. Not when the
 * browser is gone, an alert blocks the page, or the attempt's time is up. */
static drudge_code fail_with_shot(bcall *bc, drudge_code rc)
{
    const drudge_script_info *si = drudge_host_current_script(bc->L);
    wd_conn *w = bc_wd(bc);
    if (rc != DRUDGE_OK && si && si->screenshot_on_error && !w->dead &&
        strcmp(w->error, "unexpected alert open") && drudge_host_remaining(bc->L) > 1) {
        drudge_err e2;
        if (wd_call(w, "GET", "/screenshot", NULL, bc_cap(bc->L, 5), &e2) == DRUDGE_OK &&
            w->vlen >= 2 && w->value[0] == '"') {
            drudge_buf png = {0};
            if (wd_base64(w->value + 1, w->vlen - 2, &png, &e2) == DRUDGE_OK) {
                drudge_call_bytes(bc->c, "screenshot", png.data, png.len, "image/png", 1);
            }
            drudge_buf_free(&png);
        }
    }
    return bc_fail(bc, rc);
}

/* The live part of every call: finds the target and waits for it (when
 * there is one), records which element it was, then acts. */
static drudge_code call_live(lua_State *L, drudge_call_ctx *c, void *ud)
{
    bcall *bc = ud;
    bc->c = c;
    if (!bc->s->live)
        return drudge_call_fail(c, DRUDGE_ECONNECT, "the browser is closed");
    lresult lr;
    memset(&lr, 0, sizeof lr);
    if (bc->query && !bc->no_locate) {
        drudge_code rc = locate(bc_wd(bc), bc->query, bc->mode, bc->op, bc->timeout, &lr, &bc->err);
        if (rc == DRUDGE_EINPUT && bc->mode == LM_NOW &&
            (!strcmp(lr.state, "missing") || !strcmp(lr.state, "hidden"))) {
            drudge_call_raw(c, "read", "false"); /* visible(): not there is an answer */
            return DRUDGE_OK;
        }
        if (rc != DRUDGE_OK)
            return fail_with_shot(bc, rc);
        drudge_call_str(c, "element", lr.elem);
        drudge_call_str(c, "tag", lr.tag);
        if (lr.read) {
            drudge_buf *b = drudge_call_value(c, "read");
            drudge_buf_add(b, lr.read, lr.rlen);
        }
    }
    return bc->act ? fail_with_shot(bc, bc->act(bc, &lr)) : DRUDGE_OK;
}

static void new_element(lua_State *L, int sidx, const char *id, const char *desc)
{
    belement *e = lua_newuserdatauv(L, sizeof *e, 1);
    snprintf(e->id, sizeof e->id, "%s", id ? id : "");
    snprintf(e->desc, sizeof e->desc, "%s", desc ? desc : "");
    lua_pushvalue(L, sidx);
    lua_setiuservalue(L, -2, 1);
    luaL_setmetatable(L, ELEMENT_MT);
}

static int call_push(lua_State *L, drudge_call_ctx *c, void *ud)
{
    bcall *bc = ud;
    int t = lua_gettop(L);
    switch (bc->push) {
    case PUSH_FIELD:
        lua_getfield(L, t, bc->field);
        if (lua_islightuserdata(L, -1) && !lua_touserdata(L, -1)) { /* json.null */
            lua_pop(L, 1);
            lua_pushnil(L);
        }
        return 1;
    case PUSH_ELEMENT:
        lua_getfield(L, t, "element");
        new_element(L, bc->sidx, lua_tostring(L, -1), bc->desc);
        lua_remove(L, -2);
        return 1;
    case PUSH_ELEMENTS: {
        lua_getfield(L, t, "elements");
        int a = lua_gettop(L);
        lua_Integer n = lua_istable(L, a) ? luaL_len(L, a) : 0;
        lua_createtable(L, (int)n, 0);
        for (lua_Integer i = 1; i <= n; i++) {
            char desc[DESC_MAX];
            snprintf(desc, sizeof desc, "%s #%lld", bc->desc, (long long)i);
            lua_geti(L, a, i);
            new_element(L, bc->sidx, lua_tostring(L, -1), desc);
            lua_remove(L, -2);
            lua_seti(L, -2, i);
        }
        lua_remove(L, a);
        return 1;
    }
    case PUSH_TABLE:
        lua_pushvalue(L, t);
        return 1;
    default:
        return 0;
    }
}

int bc_call(lua_State *L, bcall *bc, const char *name, const char *request)
{
    bc->L = L;
    drudge_call_spec spec = {.kind = "browser",
                             .name = name,
                             .request = request,
                             .error_prefix = "browser: %s: ",
                             .live = call_live,
                             .push = call_push,
                             .ud = bc,
                             .target = bc->site};
    return drudge_call(L, &spec);
}

/* --- targets --- */

/* Appends a quoted text for a step's name, cut short. */
static void quoted(drudge_buf *b, const char *s)
{
    size_t n = strlen(s);
    drudge_buf_printf(b, "\"%.*s%s\"", n > 60 ? 57 : (int)n, s, n > 60 ? "..." : "");
}

static const char *const strategies[] = {"css", "xpath", "text", "label", "role", NULL};
static const char *const modifiers[] = {"name", "exact", "index", "timeout", NULL};

static int in_list(const char *k, const char *const *list)
{
    for (int i = 0; k && list[i]; i++)
        if (!strcmp(k, list[i]))
            return 1;
    return 0;
}

/* The strategy a description table at idx uses; raises on a bad table. */
static const char *check_description(lua_State *L, int idx, const char *fn)
{
    const char *how = NULL;
    int nhow = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (in_list(k, strategies)) {
            how = k;
            nhow++;
            if (lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "browser.%s: '%s' must be a string", fn, k);
        } else if (!in_list(k, modifiers)) {
            luaL_error(L,
                       "browser.%s: unknown key '%s' in the target (use css, xpath, text, "
                       "label, or role with name; exact, index, timeout)",
                       fn, k ? k : luaL_typename(L, -2));
        }
        lua_pop(L, 1);
    }
    if (nhow != 1)
        luaL_error(L,
                   "browser.%s: the target needs exactly one of css, xpath, text, label, role "
                   "(got %d)",
                   fn, nhow);
    return how;
}

/* A description table at idx as the page script's query (pushed) and as
 * text for the step's name (appended to desc). */
static void read_description(lua_State *L, int idx, drudge_buf *desc, const char *fn)
{
    const char *how = check_description(L, idx, fn);
    lua_getfield(L, idx, how);
    const char *v = lua_tostring(L, -1);
    lua_getfield(L, idx, "name");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "browser.%s: 'name' must be a string", fn);
    const char *name = lua_tostring(L, -1);
    if (name && strcmp(how, "role"))
        luaL_error(L, "browser.%s: 'name' goes with 'role' (the accessible name)", fn);
    lua_getfield(L, idx, "exact");
    int exact = lua_toboolean(L, -1);
    lua_getfield(L, idx, "index");
    lua_Integer index = 0;
    if (!lua_isnil(L, -1)) {
        int ok;
        index = lua_tointegerx(L, -1, &ok);
        if (!ok || index < 1)
            luaL_error(L, "browser.%s: 'index' must be a whole number from 1 (the n-th match)", fn);
    }
    /* Keys in a fixed order: replay compares requests byte for byte. */
    drudge_buf q = {0};
    drudge_buf_puts(&q, "{");
    if (exact)
        drudge_json_bool(&q, "exact", 1);
    if (index)
        drudge_json_int(&q, "index", index);
    drudge_json_str(&q, how, v);
    if (name)
        drudge_json_str(&q, "name", name);
    drudge_buf_puts(&q, "}");
    drudge_buf_printf(desc, "%s ", how);
    quoted(desc, v);
    if (name) {
        drudge_buf_puts(desc, " ");
        quoted(desc, name);
    }
    if (index)
        drudge_buf_printf(desc, " #%lld", (long long)index);
    lua_pop(L, 4);
    lua_pushstring(L, q.data);
    drudge_buf_free(&q);
}

/* Reads the target at idx (a CSS selector, a description table, or an
 * element) and pushes three strings: the page script's query (bc->query),
 * the request's "target" member, and the text for the step's name
 * (bc->desc). */
static void read_target(lua_State *L, int idx, bcall *bc, const char *fn)
{
    idx = lua_absindex(L, idx);
    drudge_buf t = {0}, desc = {0};
    belement *e = luaL_testudata(L, idx, ELEMENT_MT);
    if (e) {
        lua_pushfstring(L, "{\"el\":{\"" WD_ELEMENT_KEY "\":\"%s\"}}", e->id);
        drudge_buf_puts(&t, "{");
        drudge_json_str(&t, "element", e->id);
        drudge_json_str(&t, "found", e->desc);
        drudge_buf_puts(&t, "}");
        drudge_buf_puts(&desc, e->desc);
    } else if (lua_type(L, idx) == LUA_TSTRING) {
        drudge_buf_puts(&t, "{");
        drudge_json_str(&t, "css", lua_tostring(L, idx));
        drudge_buf_puts(&t, "}");
        lua_pushstring(L, t.data);
        drudge_buf_puts(&desc, "css ");
        quoted(&desc, lua_tostring(L, idx));
    } else if (lua_type(L, idx) == LUA_TTABLE) {
        drudge_buf_free(&desc);
        read_description(L, idx, &desc, fn); /* may raise: nothing of ours to free */
        drudge_buf_puts(&t, lua_tostring(L, -1));
    } else {
        luaL_error(L,
                   "browser.%s: the target must be a CSS selector, a description such as "
                   "{ label = \"First Name\" }, or an element (got %s)",
                   fn, luaL_typename(L, idx));
    }
    bc->query = lua_tostring(L, -1);
    lua_pushstring(L, t.data);
    lua_pushstring(L, desc.data);
    bc->desc = lua_tostring(L, -1);
    drudge_buf_free(&t);
    drudge_buf_free(&desc);
}

/* The wait for this call: opts.timeout, else the target's, else the
 * session's; cut to the attempt's time. */
static double read_timeout(lua_State *L, int target, int opts, bsession *s, const char *fn)
{
    double t = s->timeout;
    int idx[2] = {target, opts};
    for (int i = 0; i < 2; i++) {
        if (!idx[i] || lua_type(L, idx[i]) != LUA_TTABLE)
            continue;
        lua_getfield(L, idx[i], "timeout");
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) != LUA_TNUMBER || lua_tonumber(L, -1) < 0)
                luaL_error(L, "browser.%s: 'timeout' must be a number of seconds >= 0", fn);
            t = lua_tonumber(L, -1);
        }
        lua_pop(L, 1);
    }
    return bc_cap(L, t);
}

int bc_target_call(lua_State *L, bcall *bc, const char *verb, int opts, const char *extra)
{
    bc->s = bc_session(L, 1);
    bc->sidx = 1;
    if (lua_isnoneornil(L, 2))
        luaL_error(L, "browser.%s: the target is missing (a CSS selector, { label = ... }, ...)",
                   verb);
    read_target(L, 2, bc, verb);
    bc->timeout = read_timeout(L, 2, opts, bc->s, verb);
    lua_pushfstring(L, "%s %s", verb, bc->desc);
    drudge_buf r = {0};
    drudge_buf_puts(&r, "{\"target\":");
    drudge_buf_puts(&r, lua_tostring(L, -3));
    if (extra && *extra)
        drudge_buf_printf(&r, ",%s", extra);
    drudge_buf_puts(&r, "}");
    lua_pushstring(L, r.data);
    drudge_buf_free(&r);
    return bc_call(L, bc, lua_tostring(L, -2), lua_tostring(L, -1));
}

/* --- opening --- */

typedef struct open_args {
    bsession *s;
    bopts o;
    double timeout;
} open_args;

static drudge_code open_live(lua_State *L, drudge_call_ctx *c, void *ud)
{
    open_args *a = ud;
    drudge_err err = {0};
    int64_t t0 = drudge_mono_us();
    double page_set = a->o.page_timeout;
    bkeep *k = find_keep(L);
    int kept = k->drv.port != 0;
    /* A spare found dead or hung is ended here and the open starts cold:
     * the script never sees it, the response says why. */
    btake take;
    int warm = bspare_take(&k->spare, &a->o, &a->s->proc, &take);
    if (warm)
        page_set = take.page_timeout;
    else {
        drudge_code rc = bproc_start(&a->s->proc, &k->drv, &a->o, a->timeout, &err);
        if (rc != DRUDGE_OK)
            return drudge_call_fail(c, rc, "%s", err.msg);
    }
    a->s->live = 1;
    a->s->opts = a->o;
    a->s->page_set = page_set;
    /* browser.prewarm: the next open's browser starts now, alike, while
     * this one works (forked here, by the worker's own thread). "auto" (the
     * default) is on once the driver was kept, i.e. from a worker's second attempt
     * that opens a browser on: a worker that opened one will likely open
     * another, and a one-task `drudge run` starts no spare it never uses. */
    if (module_bool(L, "prewarm", kept))
        bspare_start(&k->spare, &k->drv, &a->o);
    drudge_call_int(c, "session", a->s->num);
    drudge_call_str(c, "version", a->s->proc.version);
    drudge_call_bool(c, "prewarmed", warm);
    if (take.check_us)
        drudge_call_int(c, "spare_check_us", take.check_us);
    if (take.lost[0])
        drudge_call_str(c, "spare_lost", take.lost);
    if (a->s->proc.restarted[0])
        drudge_call_str(c, "restarted", a->s->proc.restarted);
    drudge_call_str(c, "engine", a->o.shell ? "chromium-headless-shell" : "chromium");
    drudge_call_bool(c, "driver_kept", kept); /* the worker's chromedriver ran already */
    drudge_call_int(c, "started_ms", (drudge_mono_us() - t0) / 1000);
    return DRUDGE_OK;
}

static int open_push(lua_State *L, drudge_call_ctx *c, void *ud)
{
    open_args *a = ud;
    a->s->closed = 0;
    return 0;
}

static int l_confine(lua_State *L)
{
    drudge_host_confine(L, lua_tostring(L, 1));
    return 1;
}

/* Where downloads go: the folder named, else "downloads" when there is a
 * files directory, else nowhere (Chromium is told to refuse them). */
static void downloads_dir(lua_State *L, const char *name, bsession *s, bopts *o)
{
    lua_pushcfunction(L, l_confine);
    lua_pushstring(L, name ? name : "downloads");
    if (name)
        lua_call(L, 1, 1); /* raises: outside the files directory, or none */
    else if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        lua_pop(L, 1);
        return;
    }
    snprintf(o->downloads, sizeof o->downloads, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
    if (mkdir(o->downloads, 0700) != 0 && errno != EEXIST)
        luaL_error(L, "browser.open: cannot create the downloads directory %s: %s", o->downloads,
                   strerror(errno));
    snprintf(s->downloads, sizeof s->downloads, "%s", o->downloads);
    snprintf(s->downloads_rel, sizeof s->downloads_rel, "%s", name ? name : "downloads");
}

static void read_open_opts(lua_State *L, open_args *a, const char **downloads)
{
    static const char *const known[] = {"headless", "size",         "downloads",
                                        "timeout",  "page_timeout", NULL};
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (!in_list(k, known))
            luaL_error(L,
                       "browser.open: unknown option '%s' (headless, size, downloads, timeout, "
                       "page_timeout)",
                       k ? k : luaL_typename(L, -2));
        lua_pop(L, 1);
    }
    int top = lua_gettop(L);
    lua_getfield(L, 1, "headless");
    if (!lua_isnil(L, -1))
        a->o.headless = lua_toboolean(L, -1);
    lua_getfield(L, 1, "size");
    if (!lua_isnil(L, -1)) {
        if (!lua_istable(L, -1))
            luaL_error(L, "browser.open: 'size' must be { width, height }");
        lua_geti(L, -1, 1);
        lua_geti(L, -2, 2);
        int okw, okh;
        lua_Integer w = lua_tointegerx(L, -2, &okw), h = lua_tointegerx(L, -1, &okh);
        if (!okw || !okh || w < 100 || h < 100 || w > 8000 || h > 8000)
            luaL_error(L, "browser.open: 'size' must be { width, height } in pixels, 100 to "
                          "8000");
        a->o.width = (int)w;
        a->o.height = (int)h;
    }
    lua_getfield(L, 1, "downloads");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "browser.open: 'downloads' must be a folder in the files directory");
        *downloads = lua_tostring(L, -1); /* stays alive in the options table */
    }
    const char *nums[] = {"timeout", "page_timeout"};
    double *dst[] = {&a->s->timeout, &a->s->page_timeout};
    for (int i = 0; i < 2; i++) {
        lua_getfield(L, 1, nums[i]);
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) != LUA_TNUMBER || lua_tonumber(L, -1) <= 0)
                luaL_error(L, "browser.open: '%s' must be a number of seconds > 0", nums[i]);
            *dst[i] = lua_tonumber(L, -1);
        }
    }
    lua_settop(L, top);
}

/* browser.open{ headless = true, size = {1280, 900}, downloads = "downloads",
 *   timeout = 10, page_timeout = 30 } -> session */
static int l_open(lua_State *L)
{
    bc_check_opts(L, 1);
    lua_settop(L, 1);
    find_keep(L);
    bsession *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    s->closed = 1; /* until the open step succeeds */
    luaL_setmetatable(L, SESSION_MT);
    int sidx = lua_gettop(L);
    open_args a = {.s = s, .o = {.headless = 1, .width = 1280, .height = 900}};
    s->timeout = module_number(L, "timeout", DEFAULT_TIMEOUT);
    s->page_timeout = module_number(L, "page_timeout", DEFAULT_PAGE);
    const char *downloads = NULL;
    if (lua_istable(L, 1))
        read_open_opts(L, &a, &downloads);
    a.o.page_timeout = bc_cap(L, s->page_timeout);
    a.o.shell = a.o.headless && module_bool(L, "headless_shell", 1) && bproc_shell_path();
    if (!drudge_rec_replaying(drudge_rec_from_lua(L)))
        downloads_dir(L, downloads, s, &a.o);
    /* The attempt's sessions: closed at its end whatever happens. */
    if (lua_getfield(L, LUA_REGISTRYINDEX, SESSIONS_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, SESSIONS_KEY);
    }
    s->num = (int)luaL_len(L, -1) + 1;
    lua_pushvalue(L, sidx);
    lua_seti(L, -2, s->num);
    lua_pop(L, 1);
    a.timeout = bc_cap(L, module_number(L, "open_timeout", DEFAULT_OPEN));
    drudge_buf req = {0};
    drudge_buf_puts(&req, "{");
    drudge_json_bool(&req, "headless", a.o.headless);
    drudge_buf_printf(&req, ",\"size\":[%d,%d]", a.o.width, a.o.height);
    if (downloads)
        drudge_json_str(&req, "downloads", downloads);
    drudge_buf_puts(&req, "}");
    lua_pushstring(L, req.data);
    drudge_buf_free(&req);
    drudge_call_spec spec = {.kind = "browser",
                             .name = "open",
                             .request = lua_tostring(L, -1),
                             .error_prefix = "browser.%s: ",
                             .live = open_live,
                             .push = open_push,
                             .ud = &a};
    drudge_call(L, &spec);
    lua_settop(L, sidx);
    return 1;
}

/* --- navigation --- */

static drudge_code go_act(bcall *bc, const lresult *lr)
{
    bsession *s = bc->s;
    double page = bc_cap(bc->L, s->page_timeout);
    if (page != s->page_set) {
        char body[96];
        snprintf(body, sizeof body, "{\"pageLoad\":%lld}", (long long)(page * 1000));
        drudge_code rc = bc_cmd(bc, "POST", "/timeouts", body);
        if (rc != DRUDGE_OK)
            return rc;
        s->page_set = page;
    }
    drudge_buf body = {0};
    drudge_buf_puts(&body, "{");
    drudge_json_str(&body, "url", bc->text);
    drudge_buf_puts(&body, "}");
    drudge_code rc =
        wd_call(bc_wd(bc), "POST", "/url", body.data, bc_cap(bc->L, page + 5), &bc->err);
    drudge_buf_free(&body);
    if (rc == DRUDGE_EIO && !strcmp(bc_wd(bc)->error, "timeout"))
        drudge_seterr(&bc->err, rc, "the page did not load within %.3g s", page);
    if (rc != DRUDGE_OK)
        return rc;
    rc = bc_cmd(bc, "GET", "/url", NULL);
    if (rc == DRUDGE_OK)
        bc_value(bc, "url");
    return rc;
}

/* The host (and :port when not the scheme's) of an http(s) URL into out,
 * lower case; "" for other URLs (file:, data:, about:). */
static void site_of(const char *url, char *out, size_t n)
{
    out[0] = '\0';
    int https = !strncasecmp(url, "https://", 8);
    if (!https && strncasecmp(url, "http://", 7))
        return;
    const char *h = url + (https ? 8 : 7);
    size_t len = strcspn(h, "/?#");
    const char *at = memchr(h, '@', len); /* user info is not the site */
    if (at) {
        len -= (size_t)(at + 1 - h);
        h = at + 1;
    }
    if (!len || len >= n)
        return;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)h[i]);
    out[len] = '\0';
    const char *def = https ? ":443" : ":80";
    size_t dl = strlen(def);
    if (len > dl && !strcmp(out + len - dl, def))
        out[len - dl] = '\0';
}

/* s:go(url): loads the page and waits for it (page_timeout). */
static int s_go(lua_State *L)
{
    char site[256];
    bcall bc = {.s = bc_session(L, 1), .sidx = 1, .act = go_act};
    bc.text = luaL_checkstring(L, 2);
    site_of(bc.text, site, sizeof site);
    bc.site = *site ? site : NULL;
    lua_pushfstring(L, "go %s", bc.text);
    drudge_buf r = {0};
    drudge_buf_puts(&r, "{");
    drudge_json_str(&r, "url", bc.text);
    drudge_buf_puts(&r, "}");
    lua_pushstring(L, r.data);
    drudge_buf_free(&r);
    return bc_call(L, &bc, lua_tostring(L, -2), lua_tostring(L, -1));
}

/* A command with no target whose answer, if any, is one value. */
static drudge_code simple_act(bcall *bc, const lresult *lr)
{
    drudge_code rc = bc_cmd(bc, bc->method, bc->path, NULL);
    if (rc == DRUDGE_OK && bc->field)
        bc_value(bc, bc->field);
    return rc;
}

static int simple(lua_State *L, const char *verb, const char *method, const char *path,
                  const char *field)
{
    bcall bc = {.s = bc_session(L, 1),
                .sidx = 1,
                .act = simple_act,
                .method = method,
                .path = path,
                .field = field,
                .push = field ? PUSH_FIELD : PUSH_NONE};
    return bc_call(L, &bc, verb, "{}");
}

static int s_url(lua_State *L)
{
    return simple(L, "url", "GET", "/url", "url");
}

static int s_title(lua_State *L)
{
    return simple(L, "title", "GET", "/title", "title");
}

static int s_back(lua_State *L)
{
    return simple(L, "back", "POST", "/back", NULL);
}

static int s_forward(lua_State *L)
{
    return simple(L, "forward", "POST", "/forward", NULL);
}

static int s_reload(lua_State *L)
{
    return simple(L, "reload", "POST", "/refresh", NULL);
}

/* --- finding --- */

/* s:find(target [, { timeout }]) -> element, once it is visible. */
static int s_find(lua_State *L)
{
    bc_check_opts(L, 3);
    bcall bc = {.mode = LM_VISIBLE, .push = PUSH_ELEMENT};
    return bc_target_call(L, &bc, "find", 3, NULL);
}

static drudge_code find_all_act(bcall *bc, const lresult *lr)
{
    drudge_buf body = {0};
    drudge_buf_puts(&body, "{\"script\":");
    const char *js = locate_script();
    drudge_buf_json_str(&body, js, strlen(js));
    drudge_buf_printf(&body, ",\"args\":[%s,\"all\",null]}", bc->query);
    drudge_code rc = bc_cmd(bc, "POST", "/execute/sync", body.data);
    drudge_buf_free(&body);
    if (rc != DRUDGE_OK)
        return rc;
    wd_conn *w = bc_wd(bc);
    char state[16] = "", why[400] = "";
    wd_json_str(w->value, w->vlen, "s", state, sizeof state);
    if (strcmp(state, "ok")) {
        wd_json_str(w->value, w->vlen, "why", why, sizeof why);
        return drudge_seterr(&bc->err, DRUDGE_EINPUT, "%s", why);
    }
    size_t alen;
    const char *all = wd_json_member(w->value, w->vlen, "all", &alen);
    drudge_buf *out = drudge_call_value(bc->c, "elements");
    drudge_buf_puts(out, "[");
    drudge_json_iter it;
    const char *k, *v;
    size_t klen, vlen;
    int n = 0;
    if (all && drudge_json_iter_init(&it, all, alen) == 0)
        while (drudge_json_iter_next(&it, &k, &klen, &v, &vlen) == 1) {
            size_t elen;
            const char *e = wd_json_member(v, vlen, "e", &elen);
            char id[128] = "";
            if (e)
                wd_json_str(e, elen, WD_ELEMENT_KEY, id, sizeof id);
            drudge_buf_puts(out, n++ ? "," : "");
            drudge_buf_json_str(out, id, strlen(id));
        }
    drudge_buf_puts(out, "]");
    return DRUDGE_OK;
}

/* s:find_all(target) -> { element, ... }: the visible matches, now (no wait). */
static int s_find_all(lua_State *L)
{
    bcall bc = {.no_locate = 1, .act = find_all_act, .push = PUSH_ELEMENTS};
    return bc_target_call(L, &bc, "find_all", 0, NULL);
}

/* --- the module --- */

static const luaL_Reg session_methods[] = {
    {"go", s_go},     {"url", s_url},           {"title", s_title},
    {"back", s_back}, {"forward", s_forward},   {"reload", s_reload},
    {"find", s_find}, {"find_all", s_find_all}, {NULL, NULL}};

static int s_tostring(lua_State *L)
{
    bsession *s = luaL_checkudata(L, 1, SESSION_MT);
    lua_pushfstring(L, "browser.session(%d%s)", s->num, s->closed ? ", closed" : "");
    return 1;
}

/* An element's method is the session's with the element as the target:
 * el:click(opts) is session:click(el, opts). */
static int el_method(lua_State *L)
{
    luaL_checkudata(L, 1, ELEMENT_MT);
    lua_getiuservalue(L, 1, 1); /* the session */
    lua_insert(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static int el_index(lua_State *L)
{
    belement *e = luaL_checkudata(L, 1, ELEMENT_MT);
    const char *k = luaL_checkstring(L, 2);
    if (!strcmp(k, "id")) {
        lua_pushstring(L, e->id);
        return 1;
    }
    if (!strcmp(k, "session")) {
        lua_getiuservalue(L, 1, 1);
        return 1;
    }
    lua_getfield(L, lua_upvalueindex(1), k);
    return 1;
}

static int el_tostring(lua_State *L)
{
    belement *e = luaL_checkudata(L, 1, ELEMENT_MT);
    lua_pushfstring(L, "browser.element(%s)", e->desc);
    return 1;
}

/* The element methods: the session's methods that take a target. */
static const char *const element_methods[] = {
    "click", "type", "press",   "hover",   "select", "check",      "uncheck", "upload", "text",
    "value", "attr", "visible", "checked", "table",  "screenshot", "frame",   NULL};

static void open_classes(lua_State *L)
{
    if (luaL_getmetatable(L, SESSION_MT) != LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    lua_newtable(L); /* the session methods */
    luaL_setfuncs(L, session_methods, 0);
    luaL_setfuncs(L, browser_act_methods, 0);
    luaL_setfuncs(L, browser_page_methods, 0);
    luaL_newmetatable(L, SESSION_MT);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, session_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, s_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    luaL_newmetatable(L, ELEMENT_MT);
    lua_newtable(L);
    for (int i = 0; element_methods[i]; i++) {
        lua_getfield(L, -3, element_methods[i]);
        /* press takes its keys first: el:press("Enter") is s:press("Enter", el) */
        lua_pushcclosure(L, el_method, 1);
        lua_setfield(L, -2, element_methods[i]);
    }
    lua_pushcclosure(L, el_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, el_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
}

/* The screenshot_on_error hook: evidence of what the page showed when a
 * step failed, from the attempt's last open session. */
static void on_step_error(lua_State *L, int seq)
{
    (void)seq;
    const drudge_script_info *si = drudge_host_current_script(L);
    if (!si || !si->screenshot_on_error)
        return;
    int top = lua_gettop(L);
    /* The step's error (on top) is a failed browser call's: that call's
     * step holds the screenshot already. Decided from the message, so that
     * replay, which has no page, decides alike. */
    int from_call = !strncmp(luaL_tolstring(L, top, NULL), "browser: ", 9);
    lua_settop(L, top);
    if (from_call)
        return;
    if (lua_getfield(L, LUA_REGISTRYINDEX, SESSIONS_KEY) == LUA_TTABLE) {
        for (lua_Integer i = luaL_len(L, -1); i >= 1; i--) {
            lua_geti(L, -1, i);
            bsession *s = luaL_testudata(L, -1, SESSION_MT);
            if (s && !s->closed) {
                lua_pushcfunction(L, browser_screenshot_on_error);
                lua_insert(L, -2);
                lua_pcall(L, 1, 0, 0); /* a failure is its own step; the step's error stands */
                break;
            }
            lua_pop(L, 1);
        }
    }
    lua_settop(L, top);
}

__attribute__((constructor)) static void register_hooks(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread makes a handle */
    drudge_host_on_attempt(on_attempt);
    drudge_host_on_attempt_end(on_attempt_end);
    drudge_host_on_step_error(on_step_error);
}

int luaopen_drudge_browser(lua_State *L)
{
    static const luaL_Reg fns[] = {{"open", l_open}, {NULL, NULL}};
    open_classes(L);
    luaL_newlib(L, fns);
    lua_pushnumber(L, DEFAULT_TIMEOUT);
    lua_setfield(L, -2, "timeout");
    lua_pushnumber(L, DEFAULT_PAGE);
    lua_setfield(L, -2, "page_timeout");
    lua_pushnumber(L, DEFAULT_OPEN);
    lua_setfield(L, -2, "open_timeout");
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "headless_shell");
    lua_pushliteral(L, "auto");
    lua_setfield(L, -2, "prewarm");
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, MODULE_KEY);
    return 1;
}

/* page.c: drudge.browser's calls on the page and the session rather than
 * on one element: tabs, frames, alerts, eval, wait_for, screenshots,
 * downloads and close. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include "browserint.h"
#include "drudge/call.h"
#include "drudge/host.h"
#include "drudge/json.h"
#include "drudge/record.h"

#define DEFAULT_DOWNLOAD  30.0
#define KEEP_DOWNLOAD_MAX ((size_t)4 << 20) /* larger downloads are hashed, not kept */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A call with no target: the session at 1, the step's name and request. */
static int page_call(lua_State *L, bcall *bc, const char *name, const char *request)
{
    bc->s = bc_session(L, 1);
    bc->sidx = 1;
    return bc_call(L, bc, name, request);
}

static double opt_timeout(lua_State *L, int idx, double dflt, const char *fn)
{
    double t = dflt;
    if (lua_istable(L, idx)) {
        lua_getfield(L, idx, "timeout");
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) != LUA_TNUMBER || lua_tonumber(L, -1) < 0)
                luaL_error(L, "browser.%s: 'timeout' must be a number of seconds >= 0", fn);
            t = lua_tonumber(L, -1);
        }
        lua_pop(L, 1);
    }
    return bc_cap(L, t);
}

/* --- tabs and windows --- */

static drudge_code handles(bcall *bc)
{
    return bc_cmd(bc, "GET", "/window/handles", NULL);
}

static drudge_code tabs_act(bcall *bc, const lresult *lr)
{
    drudge_code rc = handles(bc);
    if (rc != DRUDGE_OK)
        return rc;
    bc_value(bc, "tabs");
    rc = bc_cmd(bc, "GET", "/window", NULL);
    if (rc == DRUDGE_OK)
        bc_value(bc, "current");
    else if (rc == DRUDGE_ENOTFOUND) /* the current tab was closed */
        rc = DRUDGE_OK;
    return rc;
}

/* s:tabs() -> { handle, ... }, current: the open tabs and windows, oldest
 * first, and the one the session drives. */
static int s_tabs(lua_State *L)
{
    bcall bc = {.act = tabs_act, .push = PUSH_TABLE};
    page_call(L, &bc, "tabs", "{}");
    lua_getfield(L, -1, "tabs");
    lua_getfield(L, -2, "current");
    return 2;
}

static drudge_code switch_to(bcall *bc, const char *handle)
{
    drudge_buf b = {0};
    drudge_buf_puts(&b, "{");
    drudge_json_str(&b, "handle", handle);
    drudge_buf_puts(&b, "}");
    drudge_code rc = bc_cmd(bc, "POST", "/window", b.data);
    drudge_buf_free(&b);
    return rc;
}

/* The n-th handle (1-based) of the last /window/handles answer. */
static int nth_handle(bcall *bc, int n, char *out, size_t len)
{
    drudge_json_iter it;
    const char *k, *v;
    size_t klen, vlen;
    wd_conn *w = bc_wd(bc);
    if (drudge_json_iter_init(&it, w->value, w->vlen) != 0)
        return -1;
    for (int i = 1; drudge_json_iter_next(&it, &k, &klen, &v, &vlen) == 1; i++)
        if (i == n || (n < 0 && it.p >= it.end - 1)) {
            size_t m = drudge_json_unescape(v, vlen, out);
            if (m == (size_t)-1 || m >= len)
                return -1;
            out[m] = '\0';
            return 0;
        }
    return -1;
}

static drudge_code switch_act(bcall *bc, const lresult *lr)
{
    char handle[128];
    snprintf(handle, sizeof handle, "%s", bc->text ? bc->text : "");
    if (!bc->text) {
        drudge_code rc = handles(bc);
        if (rc != DRUDGE_OK)
            return rc;
        if (nth_handle(bc, bc->flag, handle, sizeof handle) != 0)
            return drudge_seterr(&bc->err, DRUDGE_ENOTFOUND, "there is no tab %d", bc->flag);
    }
    drudge_call_str(bc->c, "tab", handle);
    return switch_to(bc, handle);
}

/* s:switch_tab(n | handle): drive another tab (n from 1, oldest first;
 * -1 the newest). */
static int s_switch_tab(lua_State *L)
{
    bcall bc = {.act = switch_act};
    char req[200];
    if (lua_type(L, 2) == LUA_TNUMBER) {
        lua_Integer n = luaL_checkinteger(L, 2);
        luaL_argcheck(L, n >= 1 || n == -1, 2, "a tab number from 1, or -1 for the newest");
        bc.flag = (int)n;
        snprintf(req, sizeof req, "{\"tab\":%lld}", (long long)n);
    } else {
        bc.text = luaL_checkstring(L, 2);
        drudge_buf b = {0};
        drudge_buf_puts(&b, "{");
        drudge_json_str(&b, "tab", bc.text);
        drudge_buf_puts(&b, "}");
        snprintf(req, sizeof req, "%s", b.data);
        drudge_buf_free(&b);
    }
    return page_call(L, &bc, "switch_tab", req);
}

static drudge_code new_tab_act(bcall *bc, const lresult *lr)
{
    drudge_code rc = bc_cmd(bc, "POST", "/window/new", "{\"type\":\"tab\"}");
    char handle[128] = "";
    if (rc == DRUDGE_OK)
        wd_json_str(bc_wd(bc)->value, bc_wd(bc)->vlen, "handle", handle, sizeof handle);
    if (rc == DRUDGE_OK)
        rc = switch_to(bc, handle);
    if (rc == DRUDGE_OK && bc->text) {
        drudge_buf b = {0};
        drudge_buf_puts(&b, "{");
        drudge_json_str(&b, "url", bc->text);
        drudge_buf_puts(&b, "}");
        rc = bc_cmd(bc, "POST", "/url", b.data);
        drudge_buf_free(&b);
    }
    drudge_call_str(bc->c, "tab", handle);
    return rc;
}

/* s:new_tab([url]) -> handle: opens a tab, drives it, loads url. */
static int s_new_tab(lua_State *L)
{
    bcall bc = {.act = new_tab_act, .push = PUSH_FIELD, .field = "tab"};
    bc.text = luaL_optstring(L, 2, NULL);
    drudge_buf b = {0};
    drudge_buf_puts(&b, "{");
    if (bc.text)
        drudge_json_str(&b, "url", bc.text);
    drudge_buf_puts(&b, "}");
    lua_pushstring(L, b.data);
    drudge_buf_free(&b);
    return page_call(L, &bc, "new_tab", lua_tostring(L, -1));
}

static drudge_code close_tab_act(bcall *bc, const lresult *lr)
{
    drudge_code rc = bc_cmd(bc, "DELETE", "/window", NULL);
    if (rc != DRUDGE_OK)
        return rc;
    char handle[128];
    /* The answer lists the tabs left: drive the newest, if any. */
    if (nth_handle(bc, -1, handle, sizeof handle) != 0)
        return DRUDGE_OK;
    drudge_call_str(bc->c, "tab", handle);
    return switch_to(bc, handle);
}

/* s:close_tab(): closes the tab it drives, then drives the newest left. */
static int s_close_tab(lua_State *L)
{
    bcall bc = {.act = close_tab_act};
    return page_call(L, &bc, "close_tab", "{}");
}

/* --- frames --- */

static drudge_code frame_act(bcall *bc, const lresult *lr)
{
    char body[256];
    if (lr && lr->elem[0])
        snprintf(body, sizeof body, "{\"id\":{\"" WD_ELEMENT_KEY "\":\"%s\"}}", lr->elem);
    else
        snprintf(body, sizeof body, "{\"id\":null}");
    return bc_cmd(bc, "POST", bc->flag ? "/frame/parent" : "/frame", body);
}

/* s:frame(target): drive the document inside that <iframe>; s:frame():
 * back to the page's top; s:parent_frame(): one level up. */
static int s_frame(lua_State *L)
{
    bcall bc = {.act = frame_act, .mode = LM_ATTACHED};
    if (lua_isnoneornil(L, 2))
        return page_call(L, &bc, "frame top", "{\"frame\":null}");
    bc_check_opts(L, 3);
    return bc_target_call(L, &bc, "frame", 3, NULL);
}

static int s_parent_frame(lua_State *L)
{
    bcall bc = {.act = frame_act, .flag = 1};
    return page_call(L, &bc, "parent_frame", "{}");
}

/* --- alerts --- */

static drudge_code alert_act(bcall *bc, const lresult *lr)
{
    int64_t until = drudge_mono_us() + (int64_t)(bc->timeout * 1e6);
    for (;;) {
        drudge_code rc = bc_cmd(bc, "GET", "/alert/text", NULL);
        if (rc == DRUDGE_OK) {
            bc_value(bc, "text");
            return rc;
        }
        if (rc != DRUDGE_ENOTFOUND)
            return rc;
        if (drudge_mono_us() >= until)
            return DRUDGE_OK; /* no alert: nil */
        sleep_ms(50);
    }
}

/* s:alert{ timeout = 0 } -> text | nil: the open alert's (confirm's,
 * prompt's) message, waiting up to timeout for one. */
static int s_alert(lua_State *L)
{
    bc_check_opts(L, 2);
    bcall bc = {.act = alert_act, .push = PUSH_FIELD, .field = "text"};
    bc.timeout = opt_timeout(L, 2, 0, "alert");
    char req[64];
    snprintf(req, sizeof req, "{\"timeout\":%g}", bc.timeout);
    return page_call(L, &bc, "alert", req);
}

static drudge_code answer_act(bcall *bc, const lresult *lr)
{
    drudge_code rc = DRUDGE_OK;
    if (bc->text) {
        drudge_buf b = {0};
        drudge_buf_puts(&b, "{");
        drudge_json_str(&b, "text", bc->text);
        drudge_buf_puts(&b, "}");
        rc = bc_cmd(bc, "POST", "/alert/text", b.data);
        drudge_buf_free(&b);
    }
    if (rc == DRUDGE_OK)
        rc = bc_cmd(bc, "POST", bc->flag ? "/alert/accept" : "/alert/dismiss", "{}");
    if (rc == DRUDGE_ENOTFOUND)
        drudge_seterr(&bc->err, rc, "no alert is open");
    return rc;
}

/* s:accept_alert([text]): OK (text typed into a prompt first);
 * s:dismiss_alert(): Cancel. */
static int s_accept_alert(lua_State *L)
{
    bcall bc = {.act = answer_act, .flag = 1};
    bc.text = luaL_optstring(L, 2, NULL);
    drudge_buf b = {0};
    drudge_buf_puts(&b, "{");
    if (bc.text)
        drudge_json_str(&b, "text", bc.text);
    drudge_buf_puts(&b, "}");
    lua_pushstring(L, b.data);
    drudge_buf_free(&b);
    return page_call(L, &bc, "accept_alert", lua_tostring(L, -1));
}

static int s_dismiss_alert(lua_State *L)
{
    bcall bc = {.act = answer_act};
    return page_call(L, &bc, "dismiss_alert", "{}");
}

/* --- scripts --- */

static drudge_code eval_act(bcall *bc, const lresult *lr)
{
    drudge_code rc = bc_cmd(bc, "POST", "/execute/sync", bc->text);
    if (rc == DRUDGE_OK)
        bc_value(bc, "value");
    return rc;
}

/* s:eval(js, ...) -> value: runs js as a function body in the page
 * ("return document.title"), with the arguments as arguments[0..]; its
 * result comes back as JSON would (elements as tables). Recorded. */
static int s_eval(lua_State *L)
{
    bc_session(L, 1);
    const char *js = luaL_checkstring(L, 2);
    int n = lua_gettop(L);
    drudge_buf body = {0};
    drudge_buf_puts(&body, "{");
    drudge_json_str(&body, "script", js);
    drudge_buf_puts(&body, ",\"args\":[");
    for (int i = 3; i <= n; i++) {
        if (i > 3)
            drudge_buf_puts(&body, ",");
        lua_pushvalue(L, i);
        lua_pushcfunction(L, drudge_json_encode_cf);
        lua_insert(L, -2);
        if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
            drudge_buf_free(&body);
            return luaL_error(L, "browser.eval: argument %d: %s", i - 2, lua_tostring(L, -1));
        }
        drudge_buf_puts(&body, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    drudge_buf_puts(&body, "]}");
    lua_pushstring(L, body.data);
    drudge_buf_free(&body);
    bcall bc = {.act = eval_act, .push = PUSH_FIELD, .field = "value"};
    bc.text = lua_tostring(L, -1);
    return page_call(L, &bc, "eval", bc.text);
}

/* --- waiting for the page --- */

static const char wait_script[] =
    "const w = arguments[0];\n"
    "if (w.url != null && !location.href.includes(w.url)) return 'the address is ' + "
    "location.href;\n"
    "function shadows(r, out) {\n"
    "  for (const e of r.querySelectorAll('*')) if (e.shadowRoot) { for (const c of "
    "e.shadowRoot.children) if (!/^(STYLE|SCRIPT|TEMPLATE)$/.test(c.tagName) && "
    "(!c.checkVisibility || c.checkVisibility())) out.push(c.innerText || ''); "
    "shadows(e.shadowRoot, out); }\n"
    "  return out;\n"
    "}\n"
    "const shown = () => document.body ? [document.body.innerText].concat(shadows(document, "
    "[])).join(' ') : '';\n"
    "if (w.text != null && !shown().replace(/\\s+/g, ' ').toLowerCase().includes("
    "w.text.replace(/\\s+/g, ' ').toLowerCase())) return 'the page does not show the text';\n"
    "return null;";

static drudge_code wait_act(bcall *bc, const lresult *lr)
{
    int64_t t0 = drudge_mono_us(), until = t0 + (int64_t)(bc->timeout * 1e6);
    drudge_buf body = {0};
    drudge_buf_puts(&body, "{");
    drudge_json_str(&body, "script", wait_script);
    drudge_buf_printf(&body, ",\"args\":[%s]}", bc->path);
    char why[300] = "";
    drudge_code rc = DRUDGE_OK;
    for (;;) {
        why[0] = '\0';
        if (bc->path[1] != '}') { /* url or text asked for */
            rc = bc_cmd(bc, "POST", "/execute/sync", body.data);
            if (rc == DRUDGE_OK && bc_wd(bc)->value[0] == '"') {
                size_t m = drudge_json_unescape(bc_wd(bc)->value, bc_wd(bc)->vlen, why);
                why[m < sizeof why ? m : 0] = '\0';
            } else if (rc != DRUDGE_OK && !strcmp(bc_wd(bc)->error, "javascript error")) {
                snprintf(why, sizeof why, "the page is changing"); /* a navigation */
                rc = DRUDGE_OK;
            }
        }
        if (rc == DRUDGE_OK && !why[0] && bc->query) {
            lresult gone;
            drudge_err e2;
            drudge_code g = locate(bc_wd(bc), bc->query, LM_NOW, NULL, 0, &gone, &e2);
            if (g == DRUDGE_OK)
                snprintf(why, sizeof why, "%s is still there", bc->desc);
            else if (g != DRUDGE_EINPUT)
                rc = g, bc->err = e2;
        }
        if (rc != DRUDGE_OK || !why[0])
            break;
        if (drudge_mono_us() >= until) {
            rc = drudge_seterr(&bc->err, DRUDGE_ENOTFOUND, "%s after waiting %.3g s", why,
                               bc->timeout);
            break;
        }
        sleep_ms(100);
    }
    drudge_buf_free(&body);
    return rc;
}

/* s:wait_for{ url = "part", text = "shown text", gone = target, timeout }:
 * waits until every condition given holds. */
static int s_wait_for(lua_State *L)
{
    bsession *s = bc_session(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    static const char *const known[] = {"url", "text", "gone", "timeout", NULL};
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        int ok = 0;
        for (int i = 0; known[i]; i++)
            ok |= !strcmp(k, known[i]);
        if (!ok)
            luaL_error(L, "browser.wait_for: unknown key '%s' (url, text, gone, timeout)", k);
        lua_pop(L, 1);
    }
    bcall bc = {.act = wait_act, .no_locate = 1};
    bc.timeout = opt_timeout(L, 2, s->timeout, "wait_for");
    drudge_buf w = {0};
    drudge_buf_puts(&w, "{");
    for (int i = 0; i < 2; i++) {
        lua_getfield(L, 2, known[i]);
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "browser.wait_for: '%s' must be a string", known[i]);
            drudge_json_str(&w, known[i], lua_tostring(L, -1));
        }
        lua_pop(L, 1);
    }
    drudge_buf_puts(&w, "}");
    lua_pushstring(L, w.data);
    drudge_buf_free(&w);
    bc.path = lua_tostring(L, -1);
    lua_getfield(L, 2, "gone");
    if (lua_isnil(L, -1)) {
        if (bc.path[1] == '}')
            return luaL_error(L, "browser.wait_for: give url, text or gone");
        lua_pushfstring(L, "wait_for %s", bc.path);
        lua_pushfstring(L, "{\"until\":%s,\"timeout\":%f}", bc.path, bc.timeout);
        return page_call(L, &bc, lua_tostring(L, -2), lua_tostring(L, -1));
    }
    lua_insert(L, 2); /* the target where bc_target_call reads it, the options at 3 */
    lua_pushfstring(L, "\"until\":%s", bc.path);
    return bc_target_call(L, &bc, "wait_for gone", 3, lua_tostring(L, -1));
}

/* --- screenshots --- */

/* Writes data to path (already confined to the files directory), 0600: a
 * screenshot shows case data. */
static drudge_code write_file(const char *path, const void *data, size_t len, drudge_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return drudge_seterr(err, DRUDGE_EIO, "cannot write %s: %s", path, strerror(errno));
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return drudge_seterr(err, DRUDGE_EIO, "cannot write %s: %s", path, strerror(errno));
        }
        p += w;
        len -= (size_t)w;
    }
    if (close(fd) != 0)
        return drudge_seterr(err, DRUDGE_EIO, "cannot write %s: %s", path, strerror(errno));
    return DRUDGE_OK;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static drudge_code shot_act(bcall *bc, const lresult *lr)
{
    char path[200];
    if (lr && lr->elem[0])
        snprintf(path, sizeof path, "/element/%s/screenshot", lr->elem);
    else
        snprintf(path, sizeof path, "/screenshot");
    drudge_code rc = bc_cmd(bc, "GET", path, NULL);
    if (rc != DRUDGE_OK)
        return rc;
    wd_conn *w = bc_wd(bc);
    if (w->vlen < 2 || w->value[0] != '"')
        return drudge_seterr(&bc->err, DRUDGE_EIO, "the screenshot is not a string");
    drudge_buf png = {0};
    rc = wd_base64(w->value + 1, w->vlen - 2, &png, &bc->err);
    if (rc == DRUDGE_OK && bc->full)
        rc = write_file(bc->full, png.data, png.len, &bc->err);
    if (rc == DRUDGE_OK) {
        drudge_call_bytes(bc->c, "sha256", png.data, png.len, "image/png", 1);
        if (png.len > 24) {
            drudge_call_int(bc->c, "width", be32((unsigned char *)png.data + 16));
            drudge_call_int(bc->c, "height", be32((unsigned char *)png.data + 20));
        }
        drudge_call_int(bc->c, "size", (int64_t)png.len);
        drudge_call_str(bc->c, "content_type", "image/png");
        if (bc->path)
            drudge_call_str(bc->c, "path", bc->path);
    }
    drudge_buf_free(&png);
    return rc;
}

/* s:screenshot{ target = .., path = "x.png" } -> { sha256, width, height,
 * size, content_type, path }: the page as shown (or one element). */
static int s_screenshot(lua_State *L)
{
    bc_session(L, 1);
    bcall bc = {.act = shot_act, .push = PUSH_TABLE, .mode = LM_VISIBLE};
    int target = 0;
    if (luaL_testudata(L, 2, ELEMENT_MT)) {
        target = 2; /* el:screenshot{ path } */
        bc_check_opts(L, 3);
        lua_settop(L, 3);
    } else {
        bc_check_opts(L, 2);
        lua_settop(L, 2);
        lua_pushnil(L);
        if (lua_istable(L, 2)) {
            lua_getfield(L, 2, "target");
            if (!lua_isnil(L, -1)) {
                target = 2;
                lua_insert(L, 2); /* target at 2, options at 3 */
            } else {
                lua_pop(L, 1);
                lua_insert(L, 2); /* nil at 2, options at 3 */
            }
            lua_settop(L, 3);
        }
    }
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "path");
        if (!lua_isnil(L, -1)) {
            bc.path = luaL_checkstring(L, -1);
            if (!drudge_rec_replaying(drudge_rec_from_lua(L)))
                bc.full = drudge_host_confine(L, bc.path);
        }
    }
    drudge_buf extra = {0};
    if (bc.path)
        drudge_json_str(&extra, "path", bc.path);
    lua_pushstring(L, extra.data ? extra.data : "");
    drudge_buf_free(&extra);
    if (target)
        return bc_target_call(L, &bc, "screenshot", 3, lua_tostring(L, -1));
    lua_pushfstring(L, "{%s}", lua_tostring(L, -1));
    return page_call(L, &bc, "screenshot", lua_tostring(L, -1));
}

int browser_screenshot_on_error(lua_State *L)
{
    bcall bc = {.act = shot_act, .push = PUSH_TABLE};
    return page_call(L, &bc, "screenshot_on_error", "{}");
}

/* --- downloads --- */

static int seen(const bsession *s, const char *name)
{
    const char *p = s->seen.data;
    size_t n = strlen(name);
    while (p && (p = strstr(p, name)))
        if ((p == s->seen.data || p[-1] == '\n') && p[n] == '\n')
            return 1;
        else
            p++;
    return 0;
}

/* A finished download not handed out yet: name into out; 0 if there is
 * one. Chromium writes "x.crdownload" and renames it when done. */
static int finished(const bsession *s, const char *pattern, char *out, size_t n, int *partial)
{
    DIR *d = opendir(s->downloads);
    if (!d)
        return -1;
    struct dirent *e;
    int found = -1;
    *partial = 0;
    while ((e = readdir(d))) {
        const char *name = e->d_name;
        size_t len = strlen(name);
        if (name[0] == '.')
            continue;
        if (len > 11 && !strcmp(name + len - 11, ".crdownload")) {
            *partial = 1;
            continue;
        }
        if (seen(s, name) || (pattern && !strstr(name, pattern)))
            continue;
        char part[PATH_MAX + 300];
        snprintf(part, sizeof part, "%s/%s.crdownload", s->downloads, name);
        if (access(part, F_OK) == 0) {
            *partial = 1;
            continue;
        }
        if (found != 0) {
            snprintf(out, n, "%s", name);
            found = 0;
        }
    }
    closedir(d);
    return found;
}

static drudge_code download_act(bcall *bc, const lresult *lr)
{
    bsession *s = bc->s;
    if (!s->downloads[0])
        return drudge_seterr(&bc->err, DRUDGE_EUSAGE,
                             "downloads are off: there is no files directory (--files), or "
                             "give browser.open{ downloads = \"folder\" }");
    int64_t until = drudge_mono_us() + (int64_t)(bc->timeout * 1e6);
    char name[256];
    int partial = 0;
    while (finished(s, bc->text, name, sizeof name, &partial) != 0) {
        if (drudge_mono_us() >= until)
            return drudge_seterr(
                &bc->err, DRUDGE_ENOTFOUND, "no download%s%s%s finished within %.3g s%s",
                bc->text ? " named *" : "", bc->text ? bc->text : "", bc->text ? "*" : "",
                bc->timeout, partial ? " (one is still in progress)" : "");
        sleep_ms(50);
    }
    drudge_buf_printf(&s->seen, "%s\n", name);
    char full[PATH_MAX + 256];
    snprintf(full, sizeof full, "%s/%s", s->downloads, name);
    chmod(full, 0600); /* case data, like everything in the files directory */
    size_t len = 0;
    char *data = drudge_read_file(full, &len);
    if (!data)
        return drudge_seterr(&bc->err, DRUDGE_EIO, "cannot read the download %s: %s", full,
                             strerror(errno));
    char rel[600];
    snprintf(rel, sizeof rel, "%s/%s", s->downloads_rel, name);
    drudge_call_str(bc->c, "name", name);
    drudge_call_str(bc->c, "path", rel);
    drudge_call_int(bc->c, "size", (int64_t)len);
    drudge_call_bytes(bc->c, "sha256", data, len, "application/octet-stream",
                      len <= KEEP_DOWNLOAD_MAX);
    free(data);
    return DRUDGE_OK;
}

/* s:wait_download{ name = "part of the name", timeout = 30 } -> { name,
 * path, size, sha256 }: the next finished download (each is handed out
 * once), in the files directory. */
static int s_wait_download(lua_State *L)
{
    bc_session(L, 1);
    bc_check_opts(L, 2);
    bcall bc = {.act = download_act, .push = PUSH_TABLE};
    bc.timeout = opt_timeout(L, 2, DEFAULT_DOWNLOAD, "wait_download");
    drudge_buf req = {0};
    drudge_buf_puts(&req, "{");
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "name");
        if (!lua_isnil(L, -1)) {
            bc.text = luaL_checkstring(L, -1);
            drudge_json_str(&req, "name", bc.text);
        }
    }
    drudge_buf_puts(&req, "}");
    lua_pushstring(L, req.data);
    drudge_buf_free(&req);
    return page_call(L, &bc, "wait_download", lua_tostring(L, -1));
}

/* --- closing --- */

static drudge_code close_act(bcall *bc, const lresult *lr)
{
    browser_session_stop(bc->s);
    return DRUDGE_OK;
}

/* s:close(): ends the session now (the attempt's end would anyway). */
static int s_close(lua_State *L)
{
    bsession *s = luaL_checkudata(L, 1, SESSION_MT);
    if (s->closed)
        return 0;
    bcall bc = {.act = close_act};
    page_call(L, &bc, "close", "{}");
    s->closed = 1; /* in replay too, where close_act does not run */
    return 0;
}

const luaL_Reg browser_page_methods[] = {{"tabs", s_tabs},
                                         {"switch_tab", s_switch_tab},
                                         {"new_tab", s_new_tab},
                                         {"close_tab", s_close_tab},
                                         {"frame", s_frame},
                                         {"parent_frame", s_parent_frame},
                                         {"alert", s_alert},
                                         {"accept_alert", s_accept_alert},
                                         {"dismiss_alert", s_dismiss_alert},
                                         {"eval", s_eval},
                                         {"wait_for", s_wait_for},
                                         {"screenshot", s_screenshot},
                                         {"wait_download", s_wait_download},
                                         {"close", s_close},
                                         {NULL, NULL}};

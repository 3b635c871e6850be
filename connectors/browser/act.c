/* act.c: what drudge.browser does to elements and reads from them: click,
 * type, press, hover, select, check, uncheck, upload; text, value, attr,
 * visible, checked, table. Each is one step (browser.c's bc_target_call):
 * the element is found and waited for in the page (locate.c) until it is
 * ready for what is asked (visible for reading a table, enabled, still and
 * uncovered for a click, editable for typing), then the WebDriver command
 * follows. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <lauxlib.h>
#include "browserint.h"
#include "drudge/call.h"
#include "drudge/host.h"
#include "drudge/json.h"
#include "drudge/record.h"

/* --- click, hover --- */

static drudge_code click_act(bcall *bc, const lresult *lr)
{
    return bc_el_cmd(bc, "POST", lr->elem, "/click", "{}");
}

/* s:click(target [, { timeout }]) */
static int s_click(lua_State *L)
{
    bc_check_opts(L, 3);
    bcall bc = {.mode = LM_ACTION, .act = click_act};
    return bc_target_call(L, &bc, "click", 3, NULL);
}

static drudge_code hover_act(bcall *bc, const lresult *lr)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"actions\":[{\"type\":\"pointer\",\"id\":\"mouse\",\"parameters\":{"
             "\"pointerType\":\"mouse\"},\"actions\":[{\"type\":\"pointerMove\",\"duration\":0,"
             "\"origin\":{\"" WD_ELEMENT_KEY "\":\"%s\"},\"x\":0,\"y\":0}]}]}",
             lr->elem);
    return bc_cmd(bc, "POST", "/actions", body);
}

/* s:hover(target [, { timeout }]) */
static int s_hover(lua_State *L)
{
    bc_check_opts(L, 3);
    bcall bc = {.mode = LM_ACTION, .act = hover_act};
    return bc_target_call(L, &bc, "hover", 3, NULL);
}

/* --- typing --- */

static drudge_code type_act(bcall *bc, const lresult *lr)
{
    drudge_code rc = DRUDGE_OK;
    if (bc->flag)
        rc = bc_el_cmd(bc, "POST", lr->elem, "/clear", "{}");
    if (rc != DRUDGE_OK)
        return rc;
    drudge_buf body = {0};
    drudge_buf_puts(&body, "{\"text\":");
    drudge_buf_json_str(&body, bc->text, bc->len);
    drudge_buf_puts(&body, "}");
    rc = bc_el_cmd(bc, "POST", lr->elem, "/value", body.data);
    drudge_buf_free(&body);
    return rc;
}

/* s:type(target, text [, { clear = true, secret = false, timeout }]) */
static int s_type(lua_State *L)
{
    bc_session(L, 1);
    bcall bc = {.mode = LM_EDIT, .act = type_act, .flag = 1};
    bc.text = luaL_checklstring(L, 3, &bc.len);
    bc_check_opts(L, 4);
    int secret = 0;
    if (lua_istable(L, 4)) {
        lua_getfield(L, 4, "clear");
        bc.flag = lua_isnil(L, -1) ? 1 : lua_toboolean(L, -1);
        lua_getfield(L, 4, "secret");
        secret = lua_toboolean(L, -1);
        lua_pop(L, 2);
    }
    drudge_buf extra = {0};
    drudge_json_key(&extra, "text");
    if (secret) {
        /* Left out of the request whatever its length, and redacted
         * wherever it shows up later (a value read back, a page's text). */
        drudge_rec_add_secret(drudge_rec_from_lua(L), "typed", bc.text);
        drudge_buf_puts(&extra, "\"[REDACTED:typed]\"");
    } else {
        drudge_buf_json_str(&extra, bc.text, bc.len);
    }
    if (!bc.flag)
        drudge_buf_puts(&extra, ",\"clear\":false");
    lua_pushstring(L, extra.data);
    drudge_buf_free(&extra);
    return bc_target_call(L, &bc, "type", 4, lua_tostring(L, -1));
}

/* --- keys --- */

/* Key names for press(), as WebDriver's code points (W3C, "keys"). */
static const struct {
    const char *name, *code;
} keys[] = {
    {"enter", "\\uE007"},      {"return", "\\uE006"},   {"tab", "\\uE004"},
    {"escape", "\\uE00C"},     {"esc", "\\uE00C"},      {"backspace", "\\uE003"},
    {"delete", "\\uE017"},     {"space", "\\uE00D"},    {"arrowleft", "\\uE012"},
    {"left", "\\uE012"},       {"arrowup", "\\uE013"},  {"up", "\\uE013"},
    {"arrowright", "\\uE014"}, {"right", "\\uE014"},    {"arrowdown", "\\uE015"},
    {"down", "\\uE015"},       {"home", "\\uE011"},     {"end", "\\uE010"},
    {"pageup", "\\uE00E"},     {"pagedown", "\\uE00F"}, {"insert", "\\uE016"},
    {"shift", "\\uE008"},      {"ctrl", "\\uE009"},     {"control", "\\uE009"},
    {"alt", "\\uE00A"},        {"meta", "\\uE03D"},     {"f1", "\\uE031"},
    {"f2", "\\uE032"},         {"f3", "\\uE033"},       {"f4", "\\uE034"},
    {"f5", "\\uE035"},         {"f6", "\\uE036"},       {"f7", "\\uE037"},
    {"f8", "\\uE038"},         {"f9", "\\uE039"},       {"f10", "\\uE03A"},
    {"f11", "\\uE03B"},        {"f12", "\\uE03C"},
};

/* The WebDriver value (JSON string content) of the key name k[0..n): a
 * named key's escape, or one character itself. NULL if neither. */
static const char *key_code(const char *k, size_t n, char *buf, size_t bn)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strlen(keys[i].name) == n && !strncasecmp(keys[i].name, k, n))
            return keys[i].code;
    unsigned char c = (unsigned char)k[0];
    size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
    if (n != len || c < 0x20)
        return NULL;
    drudge_buf b = {0};
    drudge_buf_json_str(&b, k, n);
    snprintf(buf, bn, "%.*s", (int)b.len - 2, b.data + 1);
    drudge_buf_free(&b);
    return buf;
}

/* "ctrl+a Backspace" -> the key actions' JSON (caller frees); NULL with
 * the bad name in bad. Each chord goes down in order and up in reverse. */
static char *key_actions(const char *seq, char *bad, size_t bn)
{
    drudge_buf b = {0};
    drudge_buf_puts(&b, "{\"actions\":[{\"type\":\"key\",\"id\":\"keyboard\",\"actions\":[");
    int any = 0;
    for (const char *p = seq; *p;) {
        while (*p == ' ')
            p++;
        size_t chord = strcspn(p, " ");
        if (!chord)
            break;
        const char *codes[8];
        char bufs[8][16];
        int n = 0;
        for (const char *k = p; k < p + chord;) {
            size_t len = k[0] == '+' ? 1 : strcspn(k, "+ ");
            const char *code = n < 8 ? key_code(k, len, bufs[n], sizeof bufs[n]) : NULL;
            if (!code) {
                snprintf(bad, bn, "%.*s", (int)len, k);
                drudge_buf_free(&b);
                return NULL;
            }
            codes[n++] = code;
            k += len;
            if (*k == '+' && k + 1 < p + chord)
                k++;
        }
        for (int i = 0; i < n; i++)
            drudge_buf_printf(&b, "%s{\"type\":\"keyDown\",\"value\":\"%s\"}", any++ ? "," : "",
                              codes[i]);
        for (int i = n - 1; i >= 0; i--)
            drudge_buf_printf(&b, ",{\"type\":\"keyUp\",\"value\":\"%s\"}", codes[i]);
        p += chord;
    }
    drudge_buf_puts(&b, "]}]}");
    if (!any) {
        snprintf(bad, bn, "%s", "");
        drudge_buf_free(&b);
        return NULL;
    }
    return drudge_buf_take(&b);
}

static drudge_code press_act(bcall *bc, const lresult *lr)
{
    drudge_code rc = bc_cmd(bc, "POST", "/actions", bc->text);
    if (rc == DRUDGE_OK)
        rc = bc_cmd(bc, "DELETE", "/actions", NULL); /* nothing stays held down */
    return rc;
}

/* s:press(keys [, target]): "Enter", "ctrl+a Backspace"; with a target,
 * that element gets the focus first. el:press(keys) works too. */
static int s_press(lua_State *L)
{
    bc_session(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING && lua_type(L, 3) == LUA_TSTRING) {
        lua_pushvalue(L, 2); /* el:press("Enter") arrives as s:press(el, "Enter") */
        lua_copy(L, 3, 2);
        lua_replace(L, 3);
    }
    const char *seq = luaL_checkstring(L, 2);
    lua_settop(L, 3);
    char bad[64];
    char *actions = key_actions(seq, bad, sizeof bad);
    if (!actions)
        return luaL_argerror(L, 2,
                             lua_pushfstring(L,
                                             "unknown key name '%s' in \"%s\" (Enter, Tab, "
                                             "Escape, Backspace, Delete, ArrowDown, Home, F1, "
                                             "ctrl, shift, alt, meta, or one character)",
                                             bad, seq));
    lua_pushstring(L, actions);
    free(actions);
    bcall bc = {.act = press_act, .mode = LM_ACTION, .op = "{\"op\":\"focus\"}"};
    bc.text = lua_tostring(L, -1);
    drudge_buf extra = {0};
    drudge_json_str(&extra, "keys", seq);
    lua_pushstring(L, extra.data);
    drudge_buf_free(&extra);
    if (lua_isnoneornil(L, 3)) {
        bc.s = bc_session(L, 1);
        bc.sidx = 1;
        lua_pushfstring(L, "press %s", seq);
        lua_pushfstring(L, "{%s}", lua_tostring(L, -2));
        return bc_call(L, &bc, lua_tostring(L, -2), lua_tostring(L, -1));
    }
    lua_pushfstring(L, "press %s", seq); /* the verb: the step reads "press Enter label ..." */
    lua_pushvalue(L, 3);
    lua_replace(L, 2); /* the target where bc_target_call looks */
    return bc_target_call(L, &bc, lua_tostring(L, -1), 0, lua_tostring(L, -2));
}

/* --- lists and boxes --- */

/* s:select(target, "Label" | { label = .. } | { value = .. }) -> { value, label } */
static int s_select(lua_State *L)
{
    bc_session(L, 1);
    drudge_buf op = {0};
    drudge_buf_puts(&op, "{\"op\":\"select\"");
    if (lua_type(L, 3) == LUA_TSTRING) {
        drudge_json_str(&op, "label", lua_tostring(L, 3));
    } else if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "label");
        lua_getfield(L, 3, "value");
        if (lua_isnil(L, -1) == lua_isnil(L, -2)) {
            drudge_buf_free(&op);
            return luaL_error(L, "browser.select: give the option's label or its value (one)");
        }
        int by_value = !lua_isnil(L, -1);
        if (lua_type(L, by_value ? -1 : -2) != LUA_TSTRING) {
            drudge_buf_free(&op);
            return luaL_error(L, "browser.select: the option's %s must be a string",
                              by_value ? "value" : "label");
        }
        drudge_json_str(&op, by_value ? "value" : "label", lua_tostring(L, by_value ? -1 : -2));
        lua_pop(L, 2);
    } else {
        drudge_buf_free(&op);
        return luaL_argerror(L, 3, "the option: its label, { label = .. } or { value = .. }");
    }
    drudge_buf_puts(&op, "}");
    lua_pushstring(L, op.data);
    drudge_buf_free(&op);
    bcall bc = {.mode = LM_ACTION, .push = PUSH_FIELD, .field = "read"};
    bc.op = lua_tostring(L, -1);
    const char *extra = lua_pushfstring(L, "\"option\":%s", bc.op);
    return bc_target_call(L, &bc, "select", 0, extra);
}

static int is_true(const lresult *lr)
{
    return lr->read && lr->rlen >= 4 && !strncmp(lr->read, "true", 4);
}

static drudge_code check_act(bcall *bc, const lresult *lr)
{
    int now = is_true(lr);
    drudge_call_bool(bc->c, "changed", now != bc->flag);
    if (now == bc->flag)
        return DRUDGE_OK;
    drudge_code rc = bc_el_cmd(bc, "POST", lr->elem, "/click", "{}");
    if (rc != DRUDGE_OK)
        return rc;
    char q[256];
    snprintf(q, sizeof q, "{\"el\":{\"" WD_ELEMENT_KEY "\":\"%s\"}}", lr->elem);
    lresult after;
    rc = locate(bc_wd(bc), q, LM_ATTACHED, "{\"op\":\"checked\"}", 1, &after, &bc->err);
    if (rc == DRUDGE_OK && is_true(&after) != bc->flag)
        rc = drudge_seterr(&bc->err, DRUDGE_ESTATE,
                           "clicking it did not %s it (does the page undo it?)",
                           bc->flag ? "check" : "uncheck");
    return rc;
}

static int check_common(lua_State *L, int want)
{
    bc_check_opts(L, 3);
    bcall bc = {.mode = LM_ACTION, .act = check_act, .flag = want, .op = "{\"op\":\"checked\"}"};
    return bc_target_call(L, &bc, want ? "check" : "uncheck", 3, NULL);
}

/* s:check(target), s:uncheck(target): a click only if it is needed, then
 * a look that it took. */
static int s_check(lua_State *L)
{
    return check_common(L, 1);
}

static int s_uncheck(lua_State *L)
{
    return check_common(L, 0);
}

/* --- files --- */

static drudge_code upload_act(bcall *bc, const lresult *lr)
{
    if (strcmp(lr->tag, "input"))
        return drudge_seterr(&bc->err, DRUDGE_EINPUT,
                             "the target is a <%s>, not an <input type=file>", lr->tag);
    drudge_buf body = {0};
    drudge_buf_puts(&body, "{");
    drudge_json_str(&body, "text", bc->full);
    drudge_buf_puts(&body, "}");
    drudge_code rc = bc_el_cmd(bc, "POST", lr->elem, "/value", body.data);
    drudge_buf_free(&body);
    return rc;
}

/* s:upload(target, path): a file of the files directory into an
 * <input type=file> (which may be hidden, as styled ones are). */
static int s_upload(lua_State *L)
{
    bc_session(L, 1);
    bcall bc = {.mode = LM_ATTACHED, .act = upload_act};
    bc.path = luaL_checkstring(L, 3);
    if (!drudge_rec_replaying(drudge_rec_from_lua(L))) {
        bc.full = drudge_host_confine(L, bc.path);
        if (access(bc.full, R_OK) != 0)
            return luaL_error(L, "browser.upload: cannot read '%s': %s", bc.path, strerror(errno));
    }
    drudge_buf extra = {0};
    drudge_json_str(&extra, "file", bc.path);
    lua_pushstring(L, extra.data);
    drudge_buf_free(&extra);
    return bc_target_call(L, &bc, "upload", 0, lua_tostring(L, -1));
}

/* --- reading --- */

/* A read: the page script reads it in the same round trip as it finds the
 * element; the response's "read" is the result. */
static int read_call(lua_State *L, const char *verb, lmode mode, const char *op, int opts,
                     const char *extra)
{
    bcall bc = {.mode = mode, .op = op, .push = PUSH_FIELD, .field = "read"};
    return bc_target_call(L, &bc, verb, opts, extra);
}

/* s:text(target) -> string: the element's text as shown, spaces folded. */
static int s_text(lua_State *L)
{
    bc_check_opts(L, 3);
    return read_call(L, "text", LM_ATTACHED, "{\"op\":\"text\"}", 3, NULL);
}

/* s:value(target) -> string: a field's current value. */
static int s_value(lua_State *L)
{
    bc_check_opts(L, 3);
    return read_call(L, "value", LM_ATTACHED, "{\"op\":\"value\"}", 3, NULL);
}

/* s:attr(target, name) -> string | nil */
static int s_attr(lua_State *L)
{
    const char *name = luaL_checkstring(L, 3);
    bc_check_opts(L, 4);
    drudge_buf b = {0};
    drudge_json_str(&b, "name", name);
    lua_pushstring(L, b.data); /* the request's member */
    drudge_buf_reset(&b);
    drudge_buf_puts(&b, "{\"op\":\"attr\"");
    drudge_json_str(&b, "name", name);
    drudge_buf_puts(&b, "}");
    lua_pushstring(L, b.data); /* the page script's op */
    drudge_buf_free(&b);
    return read_call(L, "attr", LM_ATTACHED, lua_tostring(L, -1), 4, lua_tostring(L, -2));
}

/* s:visible(target) -> boolean, at once (no wait). */
static int s_visible(lua_State *L)
{
    return read_call(L, "visible", LM_NOW, "{\"op\":\"visible\"}", 0, NULL);
}

/* s:checked(target) -> boolean */
static int s_checked(lua_State *L)
{
    bc_check_opts(L, 3);
    return read_call(L, "checked", LM_ATTACHED, "{\"op\":\"checked\"}", 3, NULL);
}

/* s:table(target) -> { { [header] = cell, ... }, ... }, once it is visible */
static int s_table(lua_State *L)
{
    bc_check_opts(L, 3);
    return read_call(L, "table", LM_VISIBLE, "{\"op\":\"table\"}", 3, NULL);
}

const luaL_Reg browser_act_methods[] = {
    {"click", s_click},     {"hover", s_hover},   {"type", s_type},
    {"press", s_press},     {"select", s_select}, {"check", s_check},
    {"uncheck", s_uncheck}, {"upload", s_upload}, {"text", s_text},
    {"value", s_value},     {"attr", s_attr},     {"visible", s_visible},
    {"checked", s_checked}, {"table", s_table},   {NULL, NULL}};

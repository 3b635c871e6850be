/* api.c: the globals every script gets: step, fail, retry_later, secret, log
 * (also require "drudge.log"). See scripts/README.md for their contract. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lauxlib.h>
#include "drudge/record.h"
#include "runner/host/breaker.h"
#include "hostint.h"

enum { KIND_ERROR = 0, KIND_FAIL, KIND_RETRY, KIND_CONFIG };

typedef struct outcome_ud {
    int kind;
    double delay;
} outcome_ud;

/* Pushes a userdata of metatable mt carrying kind, message and traceback. */
static void push_outcome(lua_State *L, const char *mt, int kind, const char *msg, const char *tb,
                         double delay)
{
    outcome_ud *o = lua_newuserdatauv(L, sizeof *o, 2);
    o->kind = kind;
    o->delay = delay;
    lua_pushstring(L, msg);
    lua_setiuservalue(L, -2, 1);
    if (tb) {
        lua_pushstring(L, tb);
        lua_setiuservalue(L, -2, 2);
    }
    luaL_setmetatable(L, mt);
}

void drudge_host_push_error(lua_State *L, const char *msg, int level)
{
    luaL_traceback(L, L, NULL, level);
    push_outcome(L, DRUDGE_ERROR_MT, KIND_ERROR, msg, lua_tostring(L, -1), 0);
    lua_remove(L, -2);
}

static outcome_ud *test_outcome(lua_State *L, int idx)
{
    outcome_ud *o = luaL_testudata(L, idx, DRUDGE_OUTCOME_MT);
    return o ? o : luaL_testudata(L, idx, DRUDGE_ERROR_MT);
}

drudge_outcome drudge_host_error_text(lua_State *L, int idx, drudge_buf *msg, drudge_buf *tb)
{
    idx = lua_absindex(L, idx);
    outcome_ud *o = test_outcome(L, idx);
    if (!o) {
        const char *s = lua_tostring(L, idx);
        drudge_buf_puts(msg, s ? s : luaL_typename(L, idx));
        return DRUDGE_ERROR;
    }
    lua_getiuservalue(L, idx, 1);
    drudge_buf_puts(msg, lua_tostring(L, -1) ? lua_tostring(L, -1) : "");
    lua_pop(L, 1);
    if (tb) {
        lua_getiuservalue(L, idx, 2);
        if (lua_isstring(L, -1))
            drudge_buf_puts(tb, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return o->kind == KIND_FAIL     ? DRUDGE_FAILED
           : o->kind == KIND_RETRY  ? DRUDGE_RETRY_LATER
           : o->kind == KIND_CONFIG ? DRUDGE_CONFIG
                                    : DRUDGE_ERROR;
}

double drudge_host_retry_after(lua_State *L, int idx)
{
    outcome_ud *o = test_outcome(L, idx);
    return o && o->kind == KIND_RETRY ? o->delay : 0;
}

static int outcome_tostring(lua_State *L)
{
    lua_getiuservalue(L, 1, 1);
    return 1;
}

/* err.message, err.traceback, err.kind ("error", "fail", "retry", "config") */
static int outcome_index(lua_State *L)
{
    outcome_ud *o = test_outcome(L, 1);
    const char *k = luaL_checkstring(L, 2);
    if (!strcmp(k, "message"))
        lua_getiuservalue(L, 1, 1);
    else if (!strcmp(k, "traceback"))
        lua_getiuservalue(L, 1, 2);
    else if (!strcmp(k, "kind"))
        lua_pushstring(L, o->kind == KIND_FAIL     ? "fail"
                          : o->kind == KIND_RETRY  ? "retry"
                          : o->kind == KIND_CONFIG ? "config"
                                                   : "error");
    else if (!strcmp(k, "delay"))
        lua_pushnumber(L, o->delay);
    else
        lua_pushnil(L);
    return 1;
}

/* Concatenation keeps working for code written for string errors: "x: " .. err */
static int outcome_concat(lua_State *L)
{
    luaL_tolstring(L, 1, NULL);
    luaL_tolstring(L, 2, NULL);
    lua_concat(L, 2);
    return 1;
}

void drudge_api_open(lua_State *L)
{
    static const luaL_Reg meta[] = {{"__tostring", outcome_tostring},
                                    {"__index", outcome_index},
                                    {"__concat", outcome_concat},
                                    {"__metatable", NULL},
                                    {NULL, NULL}};
    drudge_lua_class(L, DRUDGE_OUTCOME_MT, meta, NULL);
    drudge_lua_class(L, DRUDGE_ERROR_MT, meta, NULL);
}

/* fail(message): a business exception; the task ends failed, not retried. */
static int l_fail(lua_State *L)
{
    const char *msg = luaL_checkstring(L, 1);
    push_outcome(L, DRUDGE_OUTCOME_MT, KIND_FAIL, msg, NULL, 0);
    return lua_error(L);
}

/* retry_later(seconds [, message]): requeue without spending an attempt. */
static int l_retry_later(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    const char *msg = luaL_optstring(L, 2, "retry requested");
    luaL_argcheck(L, s >= 0 && s <= 366 * 86400.0, 1, "seconds must be from 0 to a year");
    push_outcome(L, DRUDGE_OUTCOME_MT, KIND_RETRY, msg, NULL, s);
    return lua_error(L);
}

/* outage(target [, reason]): the script saw that target is down (a
 * maintenance page, a "service unavailable" screen): its circuit breaker
 * opens (the fleet stops calling it; a probe tries again later) and this
 * task goes back without spending an attempt. target: a host, or the name
 * of one in the script's `targets`. */
static int l_outage(lua_State *L)
{
    const char *target = luaL_checkstring(L, 1);
    const char *reason = luaL_optstring(L, 2, "declared down by the script");
    const drudge_script_info *si = drudge_host_current_script(L);
    for (int i = 0; si && i < si->ntargets; i++)
        if (si->target_names[i] && !strcmp(si->target_names[i], target))
            target = si->targets[i];
    luaL_argcheck(L, *target, 1, "a target (a host, or a name from the script's targets)");
    drudge_breaker_declare_down(si ? si->name : NULL, target, reason);
    lua_pushfstring(L, "target %s is down (declared by the script: %s); the task waits", target,
                    reason);
    return drudge_host_raise_retry(L, 0, lua_tostring(L, -1));
}

int drudge_host_config_error(lua_State *L, const char *fmt, ...)
{
    char msg[1024]; /* printf's formats (checked by the compiler), not Lua's */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    luaL_where(L, 1); /* the script's line, as luaL_error gives */
    lua_pushstring(L, msg);
    lua_concat(L, 2);
    luaL_traceback(L, L, NULL, 1);
    push_outcome(L, DRUDGE_ERROR_MT, KIND_CONFIG, lua_tostring(L, -2), lua_tostring(L, -1), 0);
    return lua_error(L);
}

int drudge_host_raise_fail(lua_State *L, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    push_outcome(L, DRUDGE_OUTCOME_MT, KIND_FAIL, msg, NULL, 0);
    return lua_error(L);
}

int drudge_host_raise_retry(lua_State *L, double seconds, const char *msg)
{
    push_outcome(L, DRUDGE_OUTCOME_MT, KIND_RETRY, msg, NULL, seconds);
    return lua_error(L);
}

/* step(name, fn, ...) -> fn's results. Records a "step" with its duration and
 * outcome; an error inside is recorded and re-raised unchanged. */
static int l_step(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    drudge_rec *rec = drudge_rec_from_lua(L);
    int seq = drudge_rec_begin(rec, "step", name, NULL);
    int nargs = lua_gettop(L) - 2;
    lua_pushcfunction(L, drudge_host_msgh);
    lua_insert(L, 2); /* msgh below fn */
    int base = 2;
    if (lua_pcall(L, nargs, LUA_MULTRET, base) != LUA_OK) {
        drudge_buf msg = {0};
        drudge_outcome o = drudge_host_error_text(L, -1, &msg, NULL);
        drudge_host *h = drudge_host_of(L);
        if (o == DRUDGE_ERROR && !h->timed_out && !h->mem_exceeded)
            drudge_host_step_error(L, seq);
        const char *outcome = h->timed_out              ? "timeout"
                              : o == DRUDGE_FAILED      ? "fail"
                              : o == DRUDGE_RETRY_LATER ? "retry"
                              : o == DRUDGE_CONFIG      ? "config"
                                                        : "error";
        drudge_rec_end(rec, seq, outcome, NULL, msg.data ? msg.data : "");
        drudge_buf_free(&msg);
        return lua_error(L);
    }
    drudge_rec_end(rec, seq, "ok", NULL, NULL);
    return lua_gettop(L) - base;
}

static int valid_secret_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return 0;
    return 1;
}

drudge_code drudge_host_check_secrets(const char *file, drudge_err *err)
{
    struct stat st;
    if (stat(file, &st) != 0)
        return drudge_seterr(err, DRUDGE_EIO, "cannot read secrets file %s: %s", file,
                             strerror(errno));
    if (st.st_mode & 077)
        return drudge_seterr(err, DRUDGE_EUSAGE,
                             "refusing secrets file %s: its mode is %04o, readable by others; "
                             "run: chmod 600 %s",
                             file, (unsigned)(st.st_mode & 0777), file);
    if (access(file, R_OK) != 0)
        return drudge_seterr(err, DRUDGE_EIO, "cannot read secrets file %s: %s", file,
                             strerror(errno));
    return DRUDGE_OK;
}

drudge_code drudge_host_secret(const char *file, const char *name, char **out, drudge_err *err)
{
    *out = NULL;
    if (!valid_secret_name(name))
        return drudge_seterr(err, DRUDGE_EUSAGE, "bad secret name '%s': letters, digits and '_'",
                             name);
    char env[160];
    snprintf(env, sizeof env, "DRUDGE_SECRET_%s", name);
    const char *v = getenv(env);
    if (v) {
        *out = drudge_xstrdup(v);
        return DRUDGE_OK;
    }
    if (!file)
        return drudge_seterr(err, DRUDGE_ENOTFOUND,
                             "secret '%s' is not set: export %s or add %s=... to a secrets "
                             "file (--secrets)",
                             name, env, name);
    drudge_code rc = drudge_host_check_secrets(file, err);
    if (rc)
        return rc;
    FILE *f = fopen(file, "r");
    if (!f)
        return drudge_seterr(err, DRUDGE_EIO, "cannot read secrets file %s: %s", file,
                             strerror(errno));
    char line[4096];
    size_t n = strlen(name);
    while (!*out && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] != '#' && !strncmp(line, name, n) && line[n] == '=')
            *out = drudge_xstrdup(line + n + 1);
    }
    fclose(f);
    explicit_bzero(line, sizeof line);
    if (!*out)
        return drudge_seterr(err, DRUDGE_ENOTFOUND,
                             "secret '%s' is not set: export %s or add %s=... to %s", name, env,
                             name, file);
    return DRUDGE_OK;
}

/* Looks name up in the secrets file; pushes the value or nil; raises a
 * configuration error if the file is missing or readable by others. */
static int secrets_file_lookup(lua_State *L, const char *file, const char *name)
{
    drudge_err err = {0};
    if (drudge_host_check_secrets(file, &err))
        return drudge_host_config_error(L, "secret: %s", err.msg);
    FILE *f = fopen(file, "r");
    if (!f)
        return drudge_host_config_error(L, "secret: cannot read secrets file %s: %s", file,
                                        strerror(errno));
    char line[4096];
    size_t n = strlen(name);
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || strncmp(line, name, n) != 0 || line[n] != '=')
            continue;
        lua_pushstring(L, line + n + 1);
        found = 1;
        break;
    }
    fclose(f);
    explicit_bzero(line, sizeof line);
    return found;
}

/* secret(name) -> string, from $DRUDGE_SECRET_<NAME> or the secrets file.
 * Only its name is recorded; its value is redacted from everything after. */
static int l_secret(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    drudge_host *h = drudge_host_of(L);
    drudge_rec *rec = h->rec;
    if (!valid_secret_name(name))
        return drudge_host_config_error(L, "secret: bad name '%s': letters, digits and '_'", name);
    char env[160];
    if (strlen(name) > 100)
        return drudge_host_config_error(L, "secret: names are at most 100 characters");
    drudge_buf req = {0};
    drudge_buf_puts(&req, "{\"name\":");
    drudge_buf_json_str(&req, name, strlen(name));
    drudge_buf_puts(&req, "}");
    drudge_rec_event(rec, "secret", name, req.data);
    drudge_buf_free(&req);
    if (drudge_rec_replaying(rec)) { /* replay never needs the real value */
        lua_pushfstring(L, "[REDACTED:%s]", name);
        return 1;
    }
    /* No heap memory from here on: the lookups below may raise. */
    size_t n = (size_t)snprintf(env, sizeof env, "DRUDGE_SECRET_");
    for (const char *p = name; *p && n + 1 < sizeof env; p++)
        env[n++] = (char)toupper((unsigned char)*p);
    env[n] = '\0';
    const char *v = getenv(env);
    if (v && *v)
        lua_pushstring(L, v);
    else if (!h->secrets_file || !secrets_file_lookup(L, h->secrets_file, name))
        return drudge_host_config_error(
            L, "secret '%s' is not set: export %s or add %s=... to %s", name, env, name,
            h->secrets_file ? h->secrets_file : "a secrets file (--secrets)");
    drudge_rec_add_secret(rec, name, lua_tostring(L, -1));
    return 1;
}

void drudge_host_log(drudge_host *h, const char *level, const char *msg)
{
    drudge_buf req = {0};
    drudge_buf_puts(&req, "{\"message\":");
    drudge_buf_json_str(&req, msg, strlen(msg));
    drudge_buf_puts(&req, "}");
    drudge_rec_event(h->rec, "log", level, req.data);
    drudge_buf_free(&req);
    if (h->echo_logs) {
        char *red = drudge_rec_redact(h->rec, msg);
        fprintf(stderr, "[%s] %s\n", level, red);
        free(red);
    }
}

static int log_at(lua_State *L)
{
    const char *level = lua_tostring(L, lua_upvalueindex(1));
    int n = lua_gettop(L);
    luaL_Buffer b;
    /* luaL_tolstring may raise (a failing __tostring): build in Lua memory. */
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, ' ');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    drudge_host_log(drudge_host_of(L), level, lua_tostring(L, -1));
    return 0;
}

/* log.debug/info/warn/error(...): a free-text line, recorded as a "log" step. */
int luaopen_drudge_log(lua_State *L)
{
    static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
    lua_newtable(L);
    for (const char *const *lv = levels; *lv; lv++) {
        lua_pushstring(L, *lv);
        lua_pushcclosure(L, log_at, 1);
        lua_setfield(L, -2, *lv);
    }
    return 1;
}

void drudge_api_install(lua_State *L, int env)
{
    static const luaL_Reg fns[] = {
        {"step", l_step},     {"fail", l_fail},     {"retry_later", l_retry_later},
        {"secret", l_secret}, {"outage", l_outage}, {NULL, NULL}};
    env = lua_absindex(L, env);
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushcfunction(L, f->func);
        lua_setfield(L, env, f->name);
    }
    luaopen_drudge_log(L);
    lua_setfield(L, env, "log");
}

/* host.c: the Lua host: a sandboxed state with limits, script loading and
 * contract validation, and running one attempt (see host.h).
 *
 * Sandbox by allow-list: a script's _ENV holds copies of the safe standard
 * functions and tables listed below plus drudge's globals; assigning an
 * undeclared global is an error. The host pointer is the allocator's ud, so
 * any C function can find it with lua_getallocf. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lauxlib.h>
#include <lualib.h>
#include "drudge/host.h"
#include "connectors/queue/lqueue.h"
#include "runner/util/module.h"
#include "runner/calendar/deadline.h"
#include "runner/calendar/window.h"
#include "runner/host/breaker.h"
#include "runner/host/version.h"
#include "drudge/util.h"
#include "hostint.h"

static void free_targets(drudge_script_info *info);

#define DEFAULT_MEM_LIMIT    ((size_t)256 << 20)
#define DEFAULT_TIMEOUT      300.0
#define DEFAULT_MAX_ATTEMPTS 3
#define LOAD_TIMEOUT         10.0  /* seconds for a file's top level */
#define HOOK_COUNT           10000 /* instructions between deadline checks */

/* Connectors live in loadable modules (see CMakeLists.txt); the weak
 * references are non-NULL only where a connector is linked in statically
 * (the unit tests). */
int luaopen_drudge_http(lua_State *L) __attribute__((weak));
int luaopen_drudge_desktop(lua_State *L) __attribute__((weak));
int luaopen_drudge_mail(lua_State *L) __attribute__((weak));
int luaopen_drudge_browser(lua_State *L) __attribute__((weak));
int luaopen_drudge_csv(lua_State *L) __attribute__((weak));
int luaopen_drudge_xlsx(lua_State *L) __attribute__((weak));
int luaopen_drudge_pdf(lua_State *L) __attribute__((weak));

static struct builtin {
    const char *name;
    drudge_lua_open open; /* linked in, or resolved from module on first use */
    const char *module;   /* drudge_<module>.so, or NULL for the core */
} builtins[] = {
    {"drudge.json", luaopen_drudge_json, NULL},
    {"drudge.log", luaopen_drudge_log, NULL},
    {"drudge.queue", luaopen_drudge_queue, NULL},
    {"drudge.http", luaopen_drudge_http, "http"},
    {"drudge.desktop", luaopen_drudge_desktop, "desktop"},
    {"drudge.mail", luaopen_drudge_mail, "mail"},
    {"drudge.browser", luaopen_drudge_browser, "browser"},
    {"drudge.csv", luaopen_drudge_csv, "csv"},
    {"drudge.xlsx", luaopen_drudge_xlsx, "xlsx"},
    {"drudge.pdf", luaopen_drudge_pdf, "pdf"},
};
static pthread_mutex_t builtins_lock = PTHREAD_MUTEX_INITIALIZER;

static drudge_lua_open builtin_open(lua_State *L, struct builtin *b)
{
    char why[512];
    pthread_mutex_lock(&builtins_lock);
    if (!b->open && b->module) {
        char sym[64];
        snprintf(sym, sizeof sym, "luaopen_drudge_%s", b->module);
        b->open = (drudge_lua_open)(uintptr_t)drudge_module_sym(b->module, sym, why, sizeof why);
    }
    drudge_lua_open f = b->open;
    pthread_mutex_unlock(&builtins_lock);
    if (!f)
        luaL_error(L, "require: cannot load %s: %s (set DRUDGE_MODULE_DIR?)", b->name, why);
    return f;
}

/* Hooks connectors register, possibly from a module's constructor while
 * other workers run attempts: entries are written under a lock and published
 * by the count (release), which readers load once (acquire). */
typedef void (*any_fn)(void);
typedef struct hook_list {
    any_fn fns[8];
    _Atomic int n;
} hook_list;
static hook_list attempt_hooks, attempt_end_hooks, step_error_hooks;
static pthread_mutex_t hooks_lock = PTHREAD_MUTEX_INITIALIZER;

static void hook_add(hook_list *l, any_fn fn)
{
    pthread_mutex_lock(&hooks_lock);
    int n = atomic_load_explicit(&l->n, memory_order_relaxed), dup = 0;
    for (int i = 0; i < n; i++)
        dup |= l->fns[i] == fn;
    if (!dup && n < (int)(sizeof l->fns / sizeof l->fns[0])) {
        l->fns[n] = fn;
        atomic_store_explicit(&l->n, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&hooks_lock);
}

static int hook_count(hook_list *l)
{
    return atomic_load_explicit(&l->n, memory_order_acquire);
}

static void run_attempt_hooks(hook_list *l, lua_State *L)
{
    for (int i = 0, n = hook_count(l); i < n; i++)
        ((drudge_attempt_hook)l->fns[i])(L);
}

void drudge_host_on_attempt(drudge_attempt_hook hook)
{
    hook_add(&attempt_hooks, (any_fn)hook);
}

void drudge_host_on_attempt_end(drudge_attempt_hook hook)
{
    hook_add(&attempt_end_hooks, (any_fn)hook);
}

void drudge_host_on_step_error(drudge_step_error_hook hook)
{
    hook_add(&step_error_hooks, (any_fn)hook);
}

void drudge_host_step_error(lua_State *L, int seq)
{
    for (int i = 0, n = hook_count(&step_error_hooks); i < n; i++)
        ((drudge_step_error_hook)step_error_hooks.fns[i])(L, seq);
}

const drudge_script_info *drudge_host_current_script(lua_State *L)
{
    return drudge_host_of(L)->current;
}

drudge_host *drudge_host_of(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

lua_State *drudge_host_lua(drudge_host *h)
{
    return h->L;
}

drudge_rec *drudge_host_rec(drudge_host *h)
{
    return h->rec;
}

void drudge_host_cancel(drudge_host *h)
{
    h->cancelled = 1;
}

drudge_rec *drudge_host_swap_rec(drudge_host *h, drudge_rec *fresh)
{
    drudge_rec *old = h->rec;
    h->rec = fresh;
    return old;
}

drudge_rec *drudge_rec_from_lua(lua_State *L)
{
    return drudge_host_of(L)->rec;
}

void drudge_lua_class(lua_State *L, const char *name, const luaL_Reg *meta, const luaL_Reg *methods)
{
    if (!luaL_newmetatable(L, name)) {
        lua_pop(L, 1);
        return;
    }
    lua_CFunction index = NULL;
    for (const luaL_Reg *r = meta; r && r->name; r++) {
        if (methods && r->func && !strcmp(r->name, "__index")) {
            index = r->func; /* takes the methods as its upvalue, below */
            continue;
        }
        if (r->func)
            lua_pushcfunction(L, r->func);
        else
            lua_pushboolean(L, 0);
        lua_setfield(L, -2, r->name);
    }
    if (methods) {
        lua_newtable(L);
        luaL_setfuncs(L, methods, 0);
        if (index)
            lua_pushcclosure(L, index, 1);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
}

static void deadline_hook(lua_State *L, lua_Debug *ar);

/* The allocator: counts every byte and refuses growth past the cap, which Lua
 * turns into a memory error the script cannot allocate its way out of. */
static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    drudge_host *h = ud;
    if (!ptr)
        osize = 0;
    if (nsize == 0) {
        free(ptr);
        h->mem_used -= osize;
        return NULL;
    }
    if (nsize > osize && h->mem_used + (nsize - osize) > h->mem_limit) {
        /* Like the timeout, the attempt is over: the hook keeps raising so a
         * script that catches memory errors in a loop cannot go on. */
        if (!h->mem_exceeded && h->L && h->deadline_us)
            lua_sethook(h->L, deadline_hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
        h->mem_exceeded = 1;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p)
        h->mem_used = h->mem_used - osize + nsize;
    return p;
}

int drudge_host_raise(lua_State *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return lua_error(L);
}

double drudge_host_remaining(lua_State *L)
{
    drudge_host *h = drudge_host_of(L);
    if (h->cancelled)
        return 0;
    if (!h->deadline_us)
        return 1e9;
    double left = (double)(h->deadline_us - drudge_mono_us()) / 1e6;
    return left > 0 ? left : 0;
}

void drudge_host_check_deadline(lua_State *L)
{
    drudge_host *h = drudge_host_of(L);
    if (h->mem_exceeded)
        luaL_error(L, "memory limit exceeded");
    int64_t deadline = h->deadline_us;
    if (h->cancelled || (deadline && drudge_mono_us() > deadline)) {
        h->timed_out = 1;
        lua_sethook(L, deadline_hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
        luaL_error(L, "timeout: the attempt ran longer than %f s", h->timeout_s);
    }
}

/* Count hook: once the deadline passes, switch to a hook on every line and
 * instruction so that a pcall in the script cannot swallow the timeout. */
static void deadline_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    drudge_host_check_deadline(L);
}

int64_t drudge_host_deadline(drudge_host *h, double *timeout_s)
{
    int64_t deadline = h->deadline_us;
    if (timeout_s)
        *timeout_s = h->timeout_s;
    return deadline;
}

static void arm_deadline(drudge_host *h, double seconds)
{
    h->timeout_s = seconds;
    h->timed_out = 0;
    h->cancelled = 0;
    h->mem_exceeded = 0;
    /* Last: a watchdog that sees the deadline sees the timeout with it. */
    h->deadline_us = drudge_mono_us() + (int64_t)(seconds * 1e6);
    lua_sethook(h->L, deadline_hook, LUA_MASKCOUNT, HOOK_COUNT);
}

static void disarm_deadline(drudge_host *h)
{
    h->deadline_us = 0;
    lua_sethook(h->L, NULL, 0, 0);
}

/* Message handler for every call into Lua: outcome objects (fail,
 * retry_later) and already-traced errors pass through; anything else becomes
 * a drudge.error carrying the message and the traceback of where it arose. */
int drudge_host_msgh(lua_State *L)
{
    if (luaL_testudata(L, 1, DRUDGE_OUTCOME_MT) || luaL_testudata(L, 1, DRUDGE_ERROR_MT))
        return 1;
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    drudge_host_push_error(L, msg, 1);
    return 1;
}

/* --- sandboxed replacements for standard functions --- */

static int l_collectgarbage(lua_State *L)
{
    static const char *const allowed[] = {"collect", "count", "step", "isrunning", NULL};
    int opt = luaL_checkoption(L, 1, "collect", allowed);
    switch (opt) {
    case 0:
        lua_gc(L, LUA_GCCOLLECT);
        lua_pushinteger(L, 0);
        return 1;
    case 1: {
        int kb = lua_gc(L, LUA_GCCOUNT), b = lua_gc(L, LUA_GCCOUNTB);
        lua_pushnumber(L, (lua_Number)kb + (lua_Number)b / 1024);
        return 1;
    }
    case 2:
        lua_pushboolean(L, lua_gc(L, LUA_GCSTEP, (int)luaL_optinteger(L, 2, 0)));
        return 1;
    default:
        lua_pushboolean(L, lua_gc(L, LUA_GCISRUNNING));
        return 1;
    }
}

/* xpcall's message handler, run in a coroutine of its own: Lua calls a
 * message handler with hooks off (the error may have come from the hook),
 * so a handler that loops, `xpcall(f, function() while true do end end)`,
 * would never see the deadline. A new coroutine has the hooks on. Returns
 * what the script's handler returns (its first value), or the error it
 * raised (the timeout, say), as the error value xpcall hands back. */
static int l_xpcall_handler(lua_State *L)
{
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 2);
    int nres = 0;
    int st = lua_resume(co, L, 1, &nres);
    if (st == LUA_YIELD) {
        lua_pushliteral(L, "xpcall: a message handler cannot yield");
        return 1;
    }
    if (st == LUA_OK) {
        if (nres == 0)
            lua_pushnil(co);
        else
            lua_pop(co, nres - 1);
    }
    lua_xmove(co, L, 1); /* the first result, or the error */
    return 1;
}

/* As lbaselib.c's finishpcall. */
static int xpcall_finish(lua_State *L, int status, lua_KContext extra)
{
    if (status != LUA_OK && status != LUA_YIELD) {
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - (int)extra;
}

/* xpcall(f, msgh, ...): Lua's own (lbaselib.c), with msgh wrapped by
 * l_xpcall_handler; a continuation, so f may still yield. */
static int l_xpcall(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, l_xpcall_handler, 1);
    lua_replace(L, 2);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2);
    int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, xpcall_finish);
    return xpcall_finish(L, status, 2);
}

/* load(chunk [, chunkname [, mode [, env]]]): text only; the env defaults to
 * the caller's sandbox, never the real globals. */
static int l_load(lua_State *L)
{
    size_t len;
    const char *s = lua_tolstring(L, 1, &len);
    const char *chunkname = luaL_optstring(L, 2, "=(load)");
    const char *mode = luaL_optstring(L, 3, "t");
    int status;
    if (strchr(mode, 'b'))
        return luaL_error(L, "load: binary chunks are not allowed in the sandbox");
    if (!s)
        return luaL_argerror(L, 1, "string expected (load of functions is not supported)");
    status = luaL_loadbufferx(L, s, len, chunkname, "t");
    if (status != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (!lua_isnone(L, 4))
        lua_pushvalue(L, 4);
    else
        lua_pushvalue(L, lua_upvalueindex(1)); /* the sandbox env */
    lua_setupvalue(L, -2, 1);
    return 1;
}

static int l_getenv(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    if (!strncmp(name, "DRUDGE_SECRET_", 14))
        return luaL_error(L,
                          "os.getenv: secrets are read with secret(\"%s\"), which keeps them "
                          "out of the audit trail",
                          name + 14);
    lua_pushstring(L, getenv(name));
    return 1;
}

/* Resolves path inside the files directory; pushes the full path or raises. */
static const char *confine_path(lua_State *L, const char *path)
{
    drudge_host *h = drudge_host_of(L);
    if (!h->files_dir)
        luaL_error(L, "io: file access is disabled (no files directory; see --files)");
    char full[PATH_MAX], dir[PATH_MAX], real[PATH_MAX];
    if (path[0] == '/')
        snprintf(full, sizeof full, "%s", path);
    else
        snprintf(full, sizeof full, "%s/%s", h->files_dir, path);
    snprintf(dir, sizeof dir, "%s", full);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : full;
    if (slash)
        *slash = '\0';
    if (!realpath(*dir ? dir : "/", real))
        luaL_error(L, "io: %s: %s", path, strerror(errno));
    size_t n = strlen(h->files_dir);
    if (strncmp(real, h->files_dir, n) != 0 || (real[n] != '/' && real[n] != '\0') ||
        !strcmp(base, "..") || !strcmp(base, "."))
        luaL_error(L, "io: '%s' is outside the files directory %s", path, h->files_dir);
    lua_pushfstring(L, "%s/%s", real, base);
    /* A symlink as the last component could still point outside. */
    struct stat st;
    const char *resolved = lua_tostring(L, -1);
    if (lstat(resolved, &st) == 0 && S_ISLNK(st.st_mode)) {
        if (!realpath(resolved, real) || strncmp(real, h->files_dir, n) != 0 || real[n] != '/')
            luaL_error(L, "io: '%s' is a link leading outside the files directory", path);
    }
    return resolved;
}

const char *drudge_host_confine(lua_State *L, const char *path)
{
    return confine_path(L, path);
}

static int l_io_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    const char *mode = luaL_optstring(L, 2, "r");
    lua_settop(L, 2);
    const char *full = confine_path(L, path);
    lua_pushvalue(L, lua_upvalueindex(1)); /* the real io.open */
    lua_pushstring(L, full);
    lua_pushstring(L, mode);
    lua_call(L, 2, LUA_MULTRET); /* io.open does not raise on a missing file */
    if (strpbrk(mode, "wa+") && lua_type(L, 4) == LUA_TUSERDATA) {
        drudge_host *h = drudge_host_of(L);
        size_t n = strlen(h->files_dir);
        const char *rel = !strncmp(full, h->files_dir, n) && full[n] == '/' ? full + n + 1 : full;
        host_track_write(L, 4, full, rel, mode);
    }
    return lua_gettop(L) - 3;
}

static int l_io_lines(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int n = lua_gettop(L); /* the path and any formats */
    const char *full = confine_path(L, path);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushstring(L, full);
    for (int i = 2; i <= n; i++)
        lua_pushvalue(L, i);
    lua_call(L, n, 4);
    return 4;
}

static int l_print(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b); /* Lua memory: luaL_tolstring may raise */
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    drudge_host_log(drudge_host_of(L), "info", lua_tostring(L, -1));
    return 0;
}

/* Copies the fields of the table at idx into a new table (pushed). */
static void push_copy(lua_State *L, int idx, const char *const *only)
{
    idx = lua_absindex(L, idx);
    lua_newtable(L);
    if (only) {
        for (; *only; only++) {
            lua_getfield(L, idx, *only);
            lua_setfield(L, -2, *only);
        }
        return;
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_settable(L, -4);
    }
}

static int l_env_newindex(lua_State *L)
{
    const char *name = lua_tostring(L, 2);
    return luaL_error(L,
                      "assignment to undeclared global '%s' (declare it with 'local' in the "
                      "script)",
                      name ? name : "?");
}

static int l_require(lua_State *L);

/* Pushes a fresh sandbox environment for a script in directory dir. */
static void push_sandbox_env(lua_State *L, const char *dir)
{
    static const char *const base_fns[] = {
        "assert", "error",        "ipairs",       "next",     "pairs",    "pcall",    "rawequal",
        "rawget", "rawlen",       "rawset",       "select",   "tonumber", "tostring", "type",
        "xpcall", "setmetatable", "getmetatable", "_VERSION", NULL};
    static const char *const os_fns[] = {"clock", "date", "difftime", "time", NULL};
    static const char *const libs[] = {"string", "table", "math", "utf8", "coroutine", NULL};

    lua_newtable(L); /* env */
    int env = lua_gettop(L);
    lua_pushglobaltable(L);
    int g = lua_gettop(L);
    for (const char *const *f = base_fns; *f; f++) {
        lua_getfield(L, g, *f);
        lua_setfield(L, env, *f);
    }
    for (const char *const *lib = libs; *lib; lib++) {
        lua_getfield(L, g, *lib);
        push_copy(L, -1, NULL);
        lua_setfield(L, env, *lib);
        lua_pop(L, 1);
    }
    /* string.dump makes bytecode, which the sandbox refuses to load. */
    lua_getfield(L, env, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    lua_getfield(L, g, "os");
    push_copy(L, -1, os_fns);
    lua_pushcfunction(L, l_getenv);
    lua_setfield(L, -2, "getenv");
    lua_setfield(L, env, "os");
    lua_pop(L, 1);

    lua_newtable(L); /* io */
    lua_getfield(L, LUA_REGISTRYINDEX, "drudge.io");
    lua_getfield(L, -1, "open");
    lua_pushcclosure(L, l_io_open, 1);
    lua_setfield(L, -3, "open");
    lua_getfield(L, -1, "lines");
    lua_pushcclosure(L, l_io_lines, 1);
    lua_setfield(L, -3, "lines");
    lua_getfield(L, -1, "type");
    lua_setfield(L, -3, "type");
    lua_pop(L, 1);
    lua_setfield(L, env, "io");
    lua_pop(L, 1); /* globals */

    lua_pushcfunction(L, l_collectgarbage);
    lua_setfield(L, env, "collectgarbage");
    lua_pushcfunction(L, l_xpcall);
    lua_setfield(L, env, "xpcall");
    lua_pushcfunction(L, l_print);
    lua_setfield(L, env, "print");
    lua_pushvalue(L, env);
    lua_pushcclosure(L, l_load, 1);
    lua_setfield(L, env, "load");
    lua_pushvalue(L, env);
    lua_pushstring(L, dir);
    lua_pushcclosure(L, l_require, 2);
    lua_setfield(L, env, "require");
    drudge_api_install(L, env);
    drudge_wait_install(L, env);
    lua_pushvalue(L, env);
    lua_setfield(L, env, "_G");

    lua_newtable(L); /* metatable: no accidental globals */
    lua_pushcfunction(L, l_env_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, env);
}

/* require(name): built-in drudge.* modules, else NAME.lua beside the script,
 * loaded as text into its own sandbox. Results are cached per host. */
static int l_require(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const char *dir = lua_tostring(L, lua_upvalueindex(2));
    lua_settop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, "drudge.loaded");
    lua_pushfstring(L, "%s\n%s", dir, name); /* Lua modules are per script directory */
    lua_pushvalue(L, -1);
    lua_rawget(L, 2);
    if (!lua_isnil(L, -1))
        return 1;
    lua_pop(L, 1);
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        if (!strcmp(name, builtins[i].name)) {
            lua_pushcfunction(L, builtin_open(L, &builtins[i]));
            lua_pushstring(L, name);
            lua_call(L, 1, 1);
            goto store;
        }
    }
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
            return luaL_error(L, "require: invalid module name '%s'", name);
    if (!strncmp(name, "drudge.", 7)) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
            if (i)
                luaL_addstring(&b, ", ");
            luaL_addstring(&b, builtins[i].name);
        }
        luaL_pushresult(&b);
        return drudge_host_config_error(L, "require: no built-in module '%s' (built-in: %s)", name,
                                        lua_tostring(L, -1));
    }
    {
        drudge_buf path = {0};
        drudge_buf_printf(&path, "%s/", dir);
        for (const char *p = name; *p; p++)
            drudge_buf_add(&path, *p == '.' ? "/" : p, 1);
        drudge_buf_puts(&path, ".lua");
        int st = luaL_loadfilex(L, path.data, "t");
        if (st != LUA_OK) {
            drudge_buf_free(&path);
            if (st == LUA_ERRFILE)
                return drudge_host_config_error(L,
                                                "require: module '%s' not found (looked for "
                                                "built-in modules and %s/%s.lua; C modules "
                                                "cannot be loaded)",
                                                name, dir, name);
            return lua_error(L);
        }
        drudge_buf_free(&path);
        push_sandbox_env(L, dir);
        lua_setupvalue(L, -2, 1);
        lua_pushstring(L, name);
        lua_call(L, 1, 1);
    }
store:
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, 3);
    lua_pushvalue(L, -2);
    lua_rawset(L, 2);
    return 1;
}

/* --- the host --- */

static int open_host(lua_State *L);

void drudge_host_module_names(drudge_buf *out)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        drudge_buf_puts(out, builtins[i].name);
        drudge_buf_puts(out, "\n");
    }
}

static int global_names(lua_State *L)
{
    drudge_buf *out = lua_touserdata(L, 1);
    open_host(L);
    push_sandbox_env(L, ".");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            drudge_buf_puts(out, lua_tostring(L, -1));
            drudge_buf_puts(out, "\n");
        }
    }
    return 0;
}

void drudge_host_global_names(drudge_buf *out)
{
    lua_State *L = luaL_newstate();
    if (!L)
        return;
    lua_pushcfunction(L, global_names);
    lua_pushlightuserdata(L, out);
    lua_pcall(L, 1, 0, 0); /* fails only out of memory: fewer names */
    lua_close(L);
}

static int open_host(lua_State *L)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},          {LUA_LOADLIBNAME, luaopen_package},
        {LUA_TABLIBNAME, luaopen_table},    {LUA_IOLIBNAME, luaopen_io},
        {LUA_OSLIBNAME, luaopen_os},        {LUA_STRLIBNAME, luaopen_string},
        {LUA_MATHLIBNAME, luaopen_math},    {LUA_UTF8LIBNAME, luaopen_utf8},
        {LUA_COLIBNAME, luaopen_coroutine}, {NULL, NULL}};
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    drudge_pattern_open(L); /* string.find and co. that see the deadline */
    /* Keep the real io functions for the confined wrappers. */
    lua_getglobal(L, "io");
    lua_setfield(L, LUA_REGISTRYINDEX, "drudge.io");
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "drudge.loaded");
    /* Scripts must not reach the shared string metatable (it is how every
     * script's ("x"):upper() finds the string library). */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
    drudge_api_open(L);
    /* queue.enqueue's tasks name their script version, like enqueue's. */
    drudge_lqueue_set_versioner(L, drudge_script_version_record);
    return 0;
}

drudge_host *drudge_host_new(const drudge_host_opts *opts, drudge_err *err)
{
    drudge_host *h = calloc(1, sizeof *h);
    if (!h) {
        drudge_seterr(err, DRUDGE_ENOMEM, "out of memory creating a Lua host");
        return NULL;
    }
    h->mem_limit = opts && opts->mem_limit ? opts->mem_limit : DEFAULT_MEM_LIMIT;
    h->echo_logs = opts ? opts->echo_logs : 0;
    if (opts && opts->files_dir) {
        char real[PATH_MAX];
        if (!realpath(opts->files_dir, real)) {
            drudge_seterr(err, DRUDGE_EIO, "files directory %s: %s", opts->files_dir,
                          strerror(errno));
            free(h);
            return NULL;
        }
        h->files_dir = drudge_xstrdup(real);
    }
    if (opts && opts->secrets_file)
        h->secrets_file = drudge_xstrdup(opts->secrets_file);
    h->rec = drudge_rec_new();
    const char *redact = opts && opts->redact_file ? opts->redact_file : getenv("DRUDGE_REDACT");
    if (redact && *redact && drudge_rec_load_patterns(h->rec, redact, err) != DRUDGE_OK) {
        drudge_host_free(h);
        return NULL;
    }
    h->L = lua_newstate(l_alloc, h);
    if (!h->L) {
        drudge_seterr(err, DRUDGE_ENOMEM, "out of memory creating a Lua state");
        drudge_host_free(h);
        return NULL;
    }
    lua_pushcfunction(h->L, open_host);
    if (lua_pcall(h->L, 0, 0, 0) != LUA_OK) {
        drudge_seterr(err, DRUDGE_ENOMEM, "cannot set up Lua: %s", lua_tostring(h->L, -1));
        drudge_host_free(h);
        return NULL;
    }
    return h;
}

void drudge_host_free(drudge_host *h)
{
    if (!h)
        return;
    if (h->L)
        lua_close(h->L);
    for (size_t i = 0; i < h->nscripts; i++) {
        free(h->scripts[i].path);
        free(h->scripts[i].dir);
        drudge_script_version_clear(&h->scripts[i].version);
        free((char *)h->scripts[i].info.name);
        free((char *)h->scripts[i].info.window);
        free((char *)h->scripts[i].info.deadline);
        free_targets(&h->scripts[i].info);
    }
    free(h->scripts);
    drudge_rec_free(h->rec);
    free(h->files_dir);
    free(h->secrets_file);
    free(h);
}

/* The line of the first "field =" in the source, to point check's messages
 * at the right place (0 when not found). */
static int field_line(const char *src, const char *field)
{
    size_t n = strlen(field);
    int line = 1;
    for (const char *p = src; *p; p++) {
        if (*p == '\n') {
            line++;
            continue;
        }
        if (!strncmp(p, field, n) &&
            (p == src || !(isalnum((unsigned char)p[-1]) || p[-1] == '_'))) {
            const char *q = p + n;
            while (*q == ' ' || *q == '\t')
                q++;
            if (*q == '=' && q[1] != '=')
                return line;
        }
    }
    return 0;
}

static void problem(drudge_buf *b, const char *path, const char *src, const char *field,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void problem(drudge_buf *b, const char *path, const char *src, const char *field,
                    const char *fmt, ...)
{
    int line = field && src ? field_line(src, field) : 0;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (b->len)
        drudge_buf_puts(b, "\n");
    if (line)
        drudge_buf_printf(b, "%s:%d: %s", path, line, msg);
    else
        drudge_buf_printf(b, "%s: %s", path, msg);
}

static int valid_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
            return 0;
    return 1;
}

/* A declared target: a host name, with ":port" if any (no scheme, no path). */
static int valid_target(const char *s)
{
    if (!*s || strlen(s) > 255)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("-._:[]", *s))
            return 0;
    return 1;
}

/* `targets` (the table on top): strings, in the list or under names. */
static void read_targets(lua_State *L, const char *path, const char *src, drudge_script_info *info,
                         drudge_buf *probs)
{
    int tt = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, tt)) {
        int named = lua_type(L, -2) == LUA_TSTRING;
        if (lua_type(L, -1) != LUA_TSTRING || !valid_target(lua_tostring(L, -1))) {
            problem(probs, path, src, "targets",
                    "field 'targets': each must be a host name such as \"cms.example.org\" "
                    "(with \":port\" if not the scheme's), got %s",
                    lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : luaL_typename(L, -1));
        } else if (!named && !lua_isinteger(L, -2)) {
            problem(probs, path, src, "targets",
                    "field 'targets': keys must be names or list positions");
        } else {
            int i = info->ntargets++;
            info->targets = drudge_xrealloc(info->targets, (size_t)(i + 1) * sizeof(char *));
            info->target_names =
                drudge_xrealloc(info->target_names, (size_t)(i + 1) * sizeof(char *));
            char *host = drudge_xstrdup(lua_tostring(L, -1));
            for (char *c = host; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            info->targets[i] = host;
            info->target_names[i] = named ? drudge_xstrdup(lua_tostring(L, -2)) : NULL;
        }
        lua_pop(L, 1);
    }
}

static void free_targets(drudge_script_info *info)
{
    for (int i = 0; i < info->ntargets; i++) {
        free(info->targets[i]);
        free(info->target_names[i]);
    }
    free(info->targets);
    free(info->target_names);
    info->targets = info->target_names = NULL;
    info->ntargets = 0;
}

/* Validates the script table at the top of the stack, filling info; every
 * problem is appended to probs. */
static void validate(lua_State *L, const char *path, const char *src, drudge_script_info *info,
                     drudge_buf *probs)
{
    static const char *const known[] = {
        "name",         "run",     "manual_minutes", "exception_minutes",
        "max_attempts", "timeout", "window",         "screenshot_on_error",
        "description",  "targets", "deadline",       NULL};
    int t = lua_gettop(L);
    info->max_attempts = DEFAULT_MAX_ATTEMPTS;
    info->timeout = DEFAULT_TIMEOUT;

    lua_getfield(L, t, "run");
    if (!lua_isfunction(L, -1))
        problem(probs, path, src, "run", "the returned table needs a 'run' function (got %s)",
                luaL_typename(L, -1));
    lua_pop(L, 1);

    lua_getfield(L, t, "name");
    if (lua_type(L, -1) == LUA_TSTRING) {
        if (!valid_name(lua_tostring(L, -1)))
            problem(probs, path, src, "name",
                    "field 'name' must be letters, digits, '_', '-' or '.' (got \"%s\")",
                    lua_tostring(L, -1));
        else
            info->name = drudge_xstrdup(lua_tostring(L, -1));
    } else if (!lua_isnil(L, -1)) {
        problem(probs, path, src, "name", "field 'name' must be a string (got %s)",
                luaL_typename(L, -1));
    }
    lua_pop(L, 1);

    static const char *const minutes[] = {"manual_minutes", "exception_minutes"};
    for (int i = 0; i < 2; i++) {
        lua_getfield(L, t, minutes[i]);
        if (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) >= 0) {
            if (i == 0)
                info->manual_minutes = lua_tonumber(L, -1);
            else
                info->exception_minutes = lua_tonumber(L, -1);
        } else if (!lua_isnil(L, -1)) {
            problem(probs, path, src, minutes[i],
                    "field '%s' must be a number of minutes >= 0 (got %s)", minutes[i],
                    lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
        }
        lua_pop(L, 1);
    }

    lua_getfield(L, t, "max_attempts");
    if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 && lua_tointeger(L, -1) <= 1000)
        info->max_attempts = (int)lua_tointeger(L, -1);
    else if (!lua_isnil(L, -1))
        problem(probs, path, src, "max_attempts",
                "field 'max_attempts' must be a whole number from 1 to 1000 (got %s)",
                lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
    lua_pop(L, 1);

    lua_getfield(L, t, "timeout");
    if (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) > 0)
        info->timeout = lua_tonumber(L, -1);
    else if (!lua_isnil(L, -1))
        problem(probs, path, src, "timeout",
                "field 'timeout' must be a number of seconds > 0 (got %s)",
                lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
    lua_pop(L, 1);

    lua_getfield(L, t, "window");
    drudge_err werr;
    if (lua_type(L, -1) == LUA_TSTRING && drudge_window_parse(lua_tostring(L, -1), &werr))
        problem(probs, path, src, "window", "%s", werr.msg);
    else if (lua_type(L, -1) == LUA_TSTRING)
        info->window = drudge_xstrdup(lua_tostring(L, -1));
    else if (!lua_isnil(L, -1))
        problem(probs, path, src, "window",
                "field 'window' must be a string such as "
                "\"Mon-Fri 18:00-07:30\" (got %s)",
                luaL_typename(L, -1));
    lua_pop(L, 1);

    /* The default deadline of its tasks, checked here so that a typo is
     * found by lint and enqueue, not by a task that never gets one. */
    lua_getfield(L, t, "deadline");
    drudge_err derr;
    if (lua_type(L, -1) == LUA_TSTRING && drudge_deadline_parse(lua_tostring(L, -1), &derr))
        problem(probs, path, src, "deadline", "field %s", derr.msg);
    else if (lua_type(L, -1) == LUA_TSTRING)
        info->deadline = drudge_xstrdup(lua_tostring(L, -1));
    else if (!lua_isnil(L, -1))
        problem(probs, path, src, "deadline",
                "field 'deadline' must be a string such as \"4h\" or \"2 working days\" "
                "(got %s)",
                luaL_typename(L, -1));
    lua_pop(L, 1);

    lua_getfield(L, t, "screenshot_on_error");
    info->screenshot_on_error = lua_toboolean(L, -1);
    lua_pop(L, 1);

    lua_getfield(L, t, "targets");
    if (lua_istable(L, -1))
        read_targets(L, path, src, info, probs);
    else if (!lua_isnil(L, -1))
        problem(probs, path, src, "targets",
                "field 'targets' must be a table of host names such as "
                "{ \"cms.example.org\" } (got %s)",
                luaL_typename(L, -1));
    lua_pop(L, 1);

    /* Unknown fields are most often typos ("max_attempt"); functions are helpers. */
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) == LUA_TSTRING && !lua_isfunction(L, -1)) {
            const char *k = lua_tostring(L, -2);
            int ok = k[0] == '_';
            for (const char *const *kn = known; *kn && !ok; kn++)
                ok = !strcmp(k, *kn);
            if (!ok)
                problem(probs, path, src, k, "unknown field '%s' in the script table", k);
        }
        lua_pop(L, 1);
    }
}

static char *dir_of(const char *path)
{
    char real[PATH_MAX];
    if (!realpath(path, real))
        snprintf(real, sizeof real, "%s", path);
    char *slash = strrchr(real, '/');
    if (slash && slash != real)
        *slash = '\0';
    else if (slash)
        slash[1] = '\0';
    else
        snprintf(real, sizeof real, ".");
    return drudge_xstrdup(real);
}

static char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    char *s = drudge_xstrdup(b);
    size_t n = strlen(s);
    if (n > 4 && !strcmp(s + n - 4, ".lua"))
        s[n - 4] = '\0';
    return s;
}

drudge_code drudge_host_load(drudge_host *h, const char *path, const drudge_script_info **out,
                             drudge_err *err)
{
    lua_State *L = h->L;
    drudge_buf probs = {0};
    char *src = NULL;
    drudge_code rc = DRUDGE_OK;
    int top = lua_gettop(L);

    for (size_t i = 0; i < h->nscripts; i++)
        if (!strcmp(h->scripts[i].path, path)) {
            *out = &h->scripts[i].info;
            return DRUDGE_OK;
        }
    src = drudge_read_file(path, NULL);
    if (!src) {
        rc = drudge_seterr(err, errno == ENOENT ? DRUDGE_ENOTFOUND : DRUDGE_EIO,
                           "cannot read script %s: %s", path, strerror(errno));
        goto cleanup;
    }
    char *dir = dir_of(path);
    lua_pushcfunction(L, drudge_host_msgh);
    int msgh = lua_gettop(L);
    int st = luaL_loadfilex(L, path, "t");
    if (st != LUA_OK) {
        /* Syntax errors already read "path:line: message". */
        rc = drudge_seterr(err, DRUDGE_ESCRIPT, "%s", lua_tostring(L, -1));
        free(dir);
        goto cleanup;
    }
    push_sandbox_env(L, dir);
    lua_setupvalue(L, -2, 1);
    arm_deadline(h, LOAD_TIMEOUT);
    st = lua_pcall(L, 0, 1, msgh);
    disarm_deadline(h);
    if (st != LUA_OK) {
        drudge_buf msg = {0};
        drudge_host_error_text(L, -1, &msg, NULL);
        rc = drudge_seterr(err, DRUDGE_ESCRIPT, "%s: %s", path,
                           h->mem_exceeded ? "memory limit exceeded while loading" : msg.data);
        drudge_buf_free(&msg);
        free(dir);
        goto cleanup;
    }
    if (!lua_istable(L, -1)) {
        rc = drudge_seterr(err, DRUDGE_ESCRIPT, "%s: a script must return a table (got %s)", path,
                           luaL_typename(L, -1));
        free(dir);
        goto cleanup;
    }
    drudge_script_info info = {0};
    validate(L, path, src, &info, &probs);
    if (probs.len) {
        rc = drudge_seterr(err, DRUDGE_ESCRIPT, "%s", probs.data);
        free((char *)info.name);
        free((char *)info.window);
        free((char *)info.deadline);
        free_targets(&info);
        free(dir);
        goto cleanup;
    }
    if (!info.name)
        info.name = base_name(path);
    for (int i = 0; i < info.ntargets; i++) /* held before their first call */
        drudge_breaker_learn(info.name, info.targets[i], 1);
    h->scripts = drudge_xrealloc(h->scripts, (h->nscripts + 1) * sizeof *h->scripts);
    host_script *hs = &h->scripts[h->nscripts++];
    hs->path = drudge_xstrdup(path);
    hs->dir = dir;
    hs->info = info;
    hs->info.path = hs->path;
    hs->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    /* The code as loaded: what each attempt's root names. Unreadable
     * now (gone in the instant since), the attempts name none. */
    drudge_err verr = {0};
    if (drudge_script_version_read(path, hs->info.name, &hs->version, &verr))
        memset(&hs->version, 0, sizeof hs->version);
    *out = &hs->info;
cleanup:
    lua_settop(L, top);
    drudge_buf_free(&probs);
    free(src);
    return rc;
}

const drudge_script_version *drudge_host_script_version(const drudge_script_info *info)
{
    const host_script *hs = (const host_script *)((const char *)info - offsetof(host_script, info));
    return hs->version.sha256[0] ? &hs->version : NULL;
}

const char *drudge_outcome_name(drudge_outcome o)
{
    switch (o) {
    case DRUDGE_DONE:
        return "done";
    case DRUDGE_FAILED:
        return "failed";
    case DRUDGE_ERROR:
        return "error";
    case DRUDGE_RETRY_LATER:
        return "retry";
    case DRUDGE_TIMEOUT:
        return "timeout";
    case DRUDGE_MEMORY:
        return "memory";
    case DRUDGE_CANCELLED:
        return "cancelled";
    case DRUDGE_CONFIG:
        return "config";
    }
    return "error";
}

void drudge_result_clear(drudge_result *res)
{
    free(res->output);
    free(res->error);
    free(res->traceback);
    memset(res, 0, sizeof *res);
}

/* Pushes the task table run() receives; raises on invalid input JSON. */
static int push_task(lua_State *L)
{
    const drudge_task_view *task = lua_touserdata(L, 1);
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, task->id);
    lua_setfield(L, -2, "id");
    if (task->key) {
        lua_pushstring(L, task->key);
        lua_setfield(L, -2, "key");
    }
    lua_pushinteger(L, task->attempt);
    lua_setfield(L, -2, "attempt");
    lua_pushstring(L, task->script);
    lua_setfield(L, -2, "script");
    if (task->input) {
        drudge_json_decode(L, task->input, strlen(task->input));
        lua_setfield(L, -2, "input");
    }
    if (task->previous) {
        drudge_json_decode(L, task->previous, strlen(task->previous));
        lua_setfield(L, -2, "previous");
    } else {
        lua_newtable(L);
        lua_setfield(L, -2, "previous");
    }
    return 1;
}

static void record_input(drudge_buf *b, const drudge_task_view *task)
{
    drudge_buf_puts(b, "{\"input\":");
    drudge_buf_puts(b, task->input ? task->input : "null");
    if (task->key) {
        drudge_buf_puts(b, ",\"key\":");
        drudge_buf_json_str(b, task->key, strlen(task->key));
    }
    if (task->previous) /* replay gives task.previous only if the attempt had it */
        drudge_buf_puts(b, ",\"previous\":true");
    drudge_buf_puts(b, "}");
}

drudge_code drudge_host_run(drudge_host *h, const char *path, const drudge_task_view *task,
                            drudge_result *res, drudge_err *err)
{
    lua_State *L = h->L;
    const drudge_script_info *info;
    host_script *hs = NULL;
    int top = lua_gettop(L);
    drudge_buf b = {0};
    memset(res, 0, sizeof *res);

    drudge_code rc = drudge_host_load(h, path, &info, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < h->nscripts; i++)
        if (&h->scripts[i].info == info)
            hs = &h->scripts[i];

    drudge_rec_reset(h->rec, task->id, task->attempt);
    record_input(&b, task);
    int root = drudge_rec_begin(h->rec, "task", info->name, b.data);
    drudge_buf_reset(&b);
    h->current = info;
    run_attempt_hooks(&attempt_hooks, L);

    int64_t t0 = drudge_mono_us();
    lua_pushcfunction(L, drudge_host_msgh);
    int msgh = lua_gettop(L);
    arm_deadline(h, info->timeout);
    /* run(task) with the task table built inside the protected call, so a
     * bad input JSON is an error of the attempt, not of the host. */
    lua_rawgeti(L, LUA_REGISTRYINDEX, hs->ref);
    lua_getfield(L, -1, "run");
    lua_remove(L, -2);
    lua_pushcfunction(L, push_task);
    lua_pushlightuserdata(L, (void *)task);
    int st = lua_pcall(L, 1, 1, msgh);
    if (st == LUA_OK)
        st = lua_pcall(L, 1, 1, msgh);
    if (st == LUA_OK && !h->timed_out && !h->mem_exceeded) {
        /* Encode the output while the deadline still applies. */
        lua_pushcfunction(L, drudge_json_encode_cf);
        lua_insert(L, -2);
        st = lua_pcall(L, 1, 1, msgh);
        if (st != LUA_OK) {
            drudge_buf_puts(&b, "run() returned a value that cannot be stored as JSON: ");
            drudge_host_error_text(L, -1, &b, NULL);
            res->outcome = DRUDGE_ERROR;
            res->error = drudge_rec_redact(h->rec, b.data);
        } else {
            res->outcome = DRUDGE_DONE;
            res->output = drudge_rec_redact(h->rec, lua_tostring(L, -1));
        }
    } else if (h->cancelled) {
        /* Stopped by a cancel, not by its clock: by the deadline hook or
         * by a connector that gave up because no time was left. */
        res->outcome = DRUDGE_CANCELLED;
        res->error = drudge_xstrdup("cancelled by an operator");
    } else if (h->timed_out) {
        res->outcome = DRUDGE_TIMEOUT;
        drudge_buf_printf(&b, "timeout: the attempt ran longer than %g s", info->timeout);
        res->error = drudge_xstrdup(b.data);
    } else if (h->mem_exceeded || st == LUA_ERRMEM) {
        res->outcome = DRUDGE_MEMORY;
        drudge_buf_printf(&b, "memory limit exceeded: the script used more than %zu MiB",
                          h->mem_limit >> 20);
        res->error = drudge_xstrdup(b.data);
    } else {
        drudge_buf tb = {0};
        res->outcome = drudge_host_error_text(L, -1, &b, &tb);
        res->retry_after = drudge_host_retry_after(L, -1);
        res->error = drudge_rec_redact(h->rec, b.data);
        if (tb.len)
            res->traceback = drudge_rec_redact(h->rec, tb.data);
        drudge_buf_free(&tb);
    }
    disarm_deadline(h);
    host_close_writes(L); /* files the script left open: their steps */
    run_attempt_hooks(&attempt_end_hooks, L);
    h->current = NULL;
    res->duration_us = drudge_mono_us() - t0;

    /* The root's response: the script version that ran, then the output. */
    drudge_buf_reset(&b);
    const char *sha = hs->version.sha256;
    if (sha[0])
        drudge_buf_printf(&b, "{\"script_version\":\"%s\"", sha);
    if (res->output) {
        drudge_buf_puts(&b, sha[0] ? ",\"output\":" : "{\"output\":");
        drudge_buf_puts(&b, res->output);
    }
    if (b.len)
        drudge_buf_puts(&b, "}");
    drudge_rec_end(h->rec, root, drudge_outcome_name(res->outcome), b.len ? b.data : NULL,
                   res->error);
    drudge_buf_free(&b);
    lua_settop(L, top);
    /* After a memory error, give the garbage back before the next attempt. */
    lua_gc(L, res->outcome == DRUDGE_MEMORY ? LUA_GCCOLLECT : LUA_GCSTEP, 0);
    return DRUDGE_OK;
}

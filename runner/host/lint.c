/* lint.c: `drudge check`'s static checks (runner/host/lint.lua, compiled
 * into the binary), run in a plain Lua state of their own with luacheck
 * (Debian's lua-check, pure Lua) on its module path. The script itself is
 * only parsed here, never run. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lauxlib.h>
#include <lualib.h>
#include "drudge/host.h"
#include "drudge/util.h"
#include "hostint.h"

/* cmake/embed.cmake's table (build/embedded_lua.c). */
typedef struct {
    const char *name;
    const unsigned char *data;
    size_t len;
} lint_embedded;
extern const lint_embedded drudge_embedded_files[];

/* Where Debian's lua-check puts its modules (it packages them for 5.1; they
 * run unchanged on 5.4). $DRUDGE_LUACHECK_PATH replaces the list. */
#define LUACHECK_PATH                                                                              \
    "/usr/share/lua/5.4/?.lua;/usr/share/lua/5.4/?/init.lua;"                                      \
    "/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua;"                                      \
    "/usr/local/share/lua/5.4/?.lua;/usr/local/share/lua/5.4/?/init.lua"

typedef struct lint_ctx {
    const char *secrets_file;
} lint_ctx;

/* has_secret(name): set in the environment or in the secrets file. Only
 * presence is reported back: values never enter this state. */
static int l_has_secret(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const lint_ctx *c = lua_touserdata(L, lua_upvalueindex(1));
    char env[160];
    size_t n = (size_t)snprintf(env, sizeof env, "DRUDGE_SECRET_");
    for (const char *p = name; *p && n + 1 < sizeof env; p++)
        env[n++] = (char)toupper((unsigned char)*p);
    env[n] = '\0';
    const char *v = getenv(env);
    int found = v && *v;
    if (!found && c->secrets_file) {
        FILE *f = fopen(c->secrets_file, "r");
        char line[4096];
        size_t len = strlen(name);
        while (f && !found && fgets(line, sizeof line, f))
            found = line[0] != '#' && !strncmp(line, name, len) && line[len] == '=';
        explicit_bzero(line, sizeof line);
        if (f)
            fclose(f);
    }
    lua_pushboolean(L, found);
    return 1;
}

static int l_file_exists(lua_State *L)
{
    lua_pushboolean(L, access(luaL_checkstring(L, 1), R_OK) == 0);
    return 1;
}

/* Pushes a list of the lines of text (newline-separated names). */
static void push_lines(lua_State *L, const char *text)
{
    lua_newtable(L);
    int i = 0;
    for (const char *p = text; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n) {
            lua_pushlstring(L, p, n);
            lua_rawseti(L, -2, ++i);
        }
        p = e ? e + 1 : NULL;
    }
}

static int lint_main(lua_State *L)
{
    const char *path = lua_touserdata(L, 1);
    const char *src = lua_touserdata(L, 2);
    lint_ctx *c = lua_touserdata(L, 3);
    const char *globals = lua_touserdata(L, 4), *modules = lua_touserdata(L, 5);
    int secrets = lua_toboolean(L, 6);
    luaL_openlibs(L);
    lua_getglobal(L, "package");
    const char *lp = getenv("DRUDGE_LUACHECK_PATH");
    lua_pushstring(L, lp && *lp ? lp : LUACHECK_PATH);
    lua_setfield(L, -2, "path");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath"); /* luacheck needs no C module */
    lua_pop(L, 1);
    const lint_embedded *e = drudge_embedded_files;
    while (e->name && strcmp(e->name, "lint"))
        e++;
    if (!e->name)
        return luaL_error(L, "lint.lua is not compiled in");
    if (luaL_loadbufferx(L, (const char *)e->data, e->len, "=lint.lua", "t") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, 1);
    lua_createtable(L, 0, 8);
    lua_pushstring(L, path);
    lua_setfield(L, -2, "path");
    lua_pushstring(L, src);
    lua_setfield(L, -2, "src");
    char *dir = drudge_xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    lua_pushstring(L, slash ? dir : ".");
    free(dir);
    lua_setfield(L, -2, "dir");
    push_lines(L, globals);
    lua_setfield(L, -2, "globals");
    push_lines(L, modules);
    lua_setfield(L, -2, "modules");
    if (secrets) {
        lua_pushlightuserdata(L, c);
        lua_pushcclosure(L, l_has_secret, 1);
        lua_setfield(L, -2, "has_secret");
    }
    if (c->secrets_file) {
        lua_pushstring(L, c->secrets_file);
        lua_setfield(L, -2, "secrets_file");
    }
    lua_pushcfunction(L, l_file_exists);
    lua_setfield(L, -2, "file_exists");
    lua_call(L, 1, 1);
    return 1;
}

static int traceback(lua_State *L)
{
    luaL_traceback(L, L, lua_tostring(L, 1), 1);
    return 1;
}

drudge_code drudge_host_lint(const char *path, const char *secrets_file, int check_secrets,
                             drudge_buf *out, int *nproblems, drudge_err *err)
{
    drudge_code rc = DRUDGE_OK;
    drudge_buf globals = {0}, modules = {0};
    lint_ctx c = {.secrets_file = secrets_file};
    char *src = NULL;
    *nproblems = 0;
    lua_State *L = luaL_newstate();
    if (!L)
        return drudge_seterr(err, DRUDGE_ENOMEM, "out of memory for the static checks");
    src = drudge_read_file(path, NULL);
    if (!src) {
        rc = drudge_seterr(err, DRUDGE_EIO, "cannot read %s", path);
        goto cleanup;
    }
    drudge_host_global_names(&globals);
    drudge_host_module_names(&modules);
    lua_pushcfunction(L, traceback);
    lua_pushcfunction(L, lint_main);
    lua_pushlightuserdata(L, (void *)path);
    lua_pushlightuserdata(L, src);
    lua_pushlightuserdata(L, &c);
    lua_pushlightuserdata(L, globals.data);
    lua_pushlightuserdata(L, modules.data);
    lua_pushboolean(L, check_secrets);
    if (lua_pcall(L, 6, 1, 1) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (msg && strstr(msg, "module 'luacheck' not found"))
            rc = drudge_seterr(err, DRUDGE_ENOTFOUND,
                               "static checks need luacheck (Debian: apt-get install lua-check; "
                               "or set DRUDGE_LUACHECK_PATH)");
        else
            rc = drudge_seterr(err, DRUDGE_ESCRIPT, "static checks of %s failed: %s", path,
                               msg ? msg : "?");
        goto cleanup;
    }
    for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TTABLE; i++) {
        lua_getfield(L, -1, "line");
        lua_getfield(L, -2, "column");
        lua_getfield(L, -3, "message");
        if (out->len)
            drudge_buf_puts(out, "\n");
        drudge_buf_printf(out, "%s:%lld:%lld: %s", path, (long long)lua_tointeger(L, -3),
                          (long long)lua_tointeger(L, -2), lua_tostring(L, -1));
        lua_pop(L, 4);
        (*nproblems)++;
    }
cleanup:
    lua_close(L);
    free(src);
    drudge_buf_free(&globals);
    drudge_buf_free(&modules);
    return rc;
}

/* cli.c: helpers shared by the command implementations. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "runner/cli/cli.h"
#include "drudge/util.h"
#include <lauxlib.h>
#include <lualib.h>
#include <lua-cjson.h>

int drudge_cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "drudge %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see drudge help %s)\n", cmd);
    return DRUDGE_EXIT_USAGE;
}

int drudge_cli_exit_code(drudge_code code)
{
    switch (code) {
    case DRUDGE_OK:
        return DRUDGE_EXIT_OK;
    case DRUDGE_EUSAGE:
    case DRUDGE_EINPUT:
        return DRUDGE_EXIT_USAGE;
    case DRUDGE_ESCRIPT:
    case DRUDGE_ETAMPER:
    case DRUDGE_EDIVERGE:
        return DRUDGE_EXIT_INVALID;
    default:
        return DRUDGE_EXIT_ERROR;
    }
}

int drudge_cli_fail(const char *cmd, const drudge_err *err)
{
    fprintf(stderr, "drudge %s: %s\n", cmd, err->msg);
    return drudge_cli_exit_code(err->code);
}

char *drudge_cli_files_dir(const drudge_cli *cli)
{
    char *dir;
    if (cli->files_dir && *cli->files_dir)
        dir = drudge_xstrdup(cli->files_dir);
    else {
        size_t n = strlen(cli->db_path) + 8;
        dir = drudge_xmalloc(n);
        snprintf(dir, n, "%s.files", cli->db_path);
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "drudge: cannot create files directory %s: %s\n", dir, strerror(errno));
        free(dir);
        return NULL;
    }
    return dir;
}

char *drudge_cli_read_input(const char *arg, drudge_err *err)
{
    char *text;
    if (arg[0] == '@') {
        text = drudge_read_file(arg + 1, NULL);
        if (!text) {
            drudge_seterr(err, DRUDGE_EIO, "--input %s: %s", arg, strerror(errno));
            return NULL;
        }
    } else {
        text = drudge_xstrdup(arg);
    }
    /* Validate with the same decoder scripts will use. */
    lua_State *L = luaL_newstate();
    luaopen_cjson(L);
    lua_getfield(L, -1, "decode");
    lua_pushstring(L, text);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        drudge_seterr(err, DRUDGE_EINPUT, "--input%s%s is not valid JSON: %s",
                      arg[0] == '@' ? " " : "", arg[0] == '@' ? arg : "", lua_tostring(L, -1));
        free(text);
        text = NULL;
    }
    lua_close(L);
    return text;
}

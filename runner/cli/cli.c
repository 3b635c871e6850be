/* cli.c: helpers shared by the command implementations. */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
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

int drudge_cli_parse_time(const char *cmd, const char *flag, const char *s, int64_t now, int flags,
                          int64_t *out)
{
    char why[160];
    if (drudge_parse_time_ex(s, now, flags, out, why, sizeof why) == 0)
        return -1;
    return drudge_cli_usage(cmd,
                            "%s '%s': %s (times are 2026-11-23, 2026-11-23T19:00, "
                            "2026-11-23T19:00:00Z or +01:00, now, +30m, +2h, +1d%s)",
                            flag, s, why, (flags & DRUDGE_TIME_PAST) ? ", -7d" : "");
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
    else if (strstr(cli->db_path, "://"))
        dir = drudge_xstrdup("drudge.files"); /* a server's database: beside the worker */
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

drudge_store *drudge_cli_store(const drudge_cli *cli, const char *cmd, int flags, int *exit)
{
    drudge_err err = {0};
    drudge_store *s = NULL;
    *exit = DRUDGE_EXIT_OK;
    if (drudge_store_open(cli->db_path, flags, &s, &err) != DRUDGE_OK)
        *exit = drudge_cli_fail(cmd, &err);
    return s;
}

int drudge_cli_done(const char *cmd, drudge_store *s, drudge_code code, const drudge_err *err)
{
    drudge_store_close(s);
    return code ? drudge_cli_fail(cmd, err) : DRUDGE_EXIT_OK;
}

int drudge_cli_parse_duration(const char *s, int64_t *us)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"ms", 1e3}, {"s", 1e6}, {"", 1e6}, {"m", 60e6}, {"h", 3600e6}, {"d", 86400e6}};
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0)
        return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].unit) != 0)
            continue;
        if (v * units[i].mult > 1e15)
            return -1;
        *us = (int64_t)(v * units[i].mult);
        return 0;
    }
    return -1;
}

int drudge_cli_parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int drudge_cli_parse_minutes(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || v < 0 || v > 1e6)
        return -1;
    *out = v;
    return 0;
}

int drudge_cli_parse_task_id(const char *s, int64_t *id)
{
    long v;
    if (*s == '#')
        s++;
    if (drudge_cli_parse_long(s, 1, LONG_MAX, &v))
        return -1;
    *id = v;
    return 0;
}

const char *drudge_cli_os_user(void)
{
    struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name)
        return pw->pw_name;
    const char *u = getenv("USER");
    return u && *u ? u : "unknown";
}

void drudge_cli_fmt_age(int64_t us, char *out, size_t n)
{
    long long s = us > 0 ? us / 1000000 : 0;
    if (s < 60)
        snprintf(out, n, "%llds", s);
    else if (s < 3600)
        snprintf(out, n, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, n, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(out, n, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

void drudge_cli_json_str(drudge_buf *b, const char *s)
{
    if (s)
        drudge_buf_json_str(b, s, strlen(s));
    else
        drudge_buf_puts(b, "null");
}

void drudge_cli_json_time(drudge_buf *b, int64_t t)
{
    if (!t) {
        drudge_buf_puts(b, "null");
        return;
    }
    char ts[40];
    drudge_fmt_time(t, ts);
    drudge_buf_printf(b, "\"%s\"", ts);
}

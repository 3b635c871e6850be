/* files.c: a file a script writes in the files directory, as a step of the
 * audit trail (kind "file"): the data modules' writes (drudge.csv,
 * drudge.xlsx) and att:save() go through drudge_host_write_file, so the
 * trail says which file was written and, by its SHA-256, exactly what it
 * held. The file is written beside its name and renamed when complete, mode
 * 0600 (case data), so a reader never sees half a file.
 *
 * A file the script writes itself (io.open with "w", "a" or "+") is a
 * "file" step too, recorded when it is closed, since only then is its
 * content known: named "io.open PATH" (PATH relative to the files
 * directory), with its size and SHA-256 as closed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lauxlib.h>
#include "drudge/call.h"
#include "drudge/host.h"
#include "drudge/json.h"
#include "drudge/util.h"
#include "hostint.h"

typedef struct file_write {
    const char *full, *rel, *fn;
    drudge_file_writer write;
    void *ud;
} file_write;

static drudge_code write_live(lua_State *L, drudge_call_ctx *c, void *ud)
{
    file_write *w = ud;
    drudge_buf tmp = {0};
    drudge_err err = {0};
    char sha[65];
    int64_t size = 0;
    drudge_buf_printf(&tmp, "%s.part", w->full);
    unlink(tmp.data); /* a leftover of a killed attempt */
    drudge_code rc = w->write(L, tmp.data, w->ud, &err);
    if (!rc && chmod(tmp.data, 0600) != 0)
        rc = drudge_seterr(&err, DRUDGE_EIO, "%s: %s", w->full, strerror(errno));
    if (!rc && drudge_sha256_file(tmp.data, sha, &size) != 0)
        rc = drudge_seterr(&err, DRUDGE_EIO, "cannot read back %s: %s", w->full, strerror(errno));
    if (!rc && rename(tmp.data, w->full) != 0)
        rc = drudge_seterr(&err, DRUDGE_EIO, "cannot write %s: %s", w->full, strerror(errno));
    if (rc) {
        unlink(tmp.data);
        drudge_buf_free(&tmp);
        return drudge_call_fail(c, rc, "%s", err.msg);
    }
    drudge_buf_free(&tmp);
    drudge_call_str(c, "path", w->full);
    drudge_call_str(c, "file", w->rel);
    drudge_call_str(c, "sha256", sha);
    drudge_call_int(c, "size", size);
    drudge_call_bool(c, "stored", 0); /* the file is the copy: a hash, not a payload */
    return DRUDGE_OK;
}

int drudge_host_write_file(lua_State *L, const char *fn, const char *path, drudge_file_writer write,
                           void *ud)
{
    const char *full = drudge_host_confine(L, path); /* pushed; raises outside the files dir */
    /* On the trail relative to the files directory: the same file is the
     * same step wherever that directory is (a replay, another machine). */
    const char *fdir = drudge_host_of(L)->files_dir;
    size_t flen = strlen(fdir);
    const char *rel = !strncmp(full, fdir, flen) && full[flen] == '/' ? full + flen + 1 : full;
    drudge_buf req = {0}, name = {0};
    drudge_buf_puts(&req, "{\"path\":");
    drudge_buf_json_str(&req, rel, strlen(rel));
    drudge_buf_puts(&req, "}");
    drudge_buf_printf(&name, "%s %s", fn, rel);
    lua_pushstring(L, req.data); /* on the stack: nothing leaks if the call raises */
    lua_pushstring(L, name.data);
    drudge_buf_free(&req);
    drudge_buf_free(&name);
    char prefix[96];
    snprintf(prefix, sizeof prefix, "%s: ", fn);
    file_write w = {.full = full, .rel = rel, .fn = fn, .write = write, .ud = ud};
    drudge_call_spec spec = {.kind = "file",
                             .name = lua_tostring(L, -1),
                             .request = lua_tostring(L, -2),
                             .error_prefix = prefix,
                             .live = write_live,
                             .ud = &w};
    int n = drudge_call(L, &spec); /* the response table: {path, sha256, size} */
    /* Keep only the results: drop the full path, request and name below them. */
    for (int i = 0; i < 3; i++)
        lua_remove(L, -n - 1);
    return n;
}

/* --- io.open for writing --- */

#define WRITING_KEY "drudge.io.writing" /* registry: file handle -> {full, rel, mode, close} */

/* The step of a written file, closed (or failed to close: fclose_ok 0). */
static void record_written(lua_State *L, const char *full, const char *rel, const char *mode,
                           int fclose_ok, int by_drudge)
{
    drudge_host *h = drudge_host_of(L);
    if (!h->current) /* not in an attempt (a script's top level at load) */
        return;
    drudge_buf req = {0}, name = {0}, resp = {0};
    drudge_buf_puts(&req, "{");
    drudge_json_str(&req, "path", rel);
    drudge_json_str(&req, "mode", mode);
    drudge_buf_puts(&req, "}");
    drudge_buf_printf(&name, "io.open %s", rel);
    int seq = drudge_rec_begin(h->rec, "file", name.data, req.data);
    char sha[65];
    int64_t size = 0;
    if (!fclose_ok || drudge_sha256_file(full, sha, &size) != 0) {
        drudge_buf msg = {0};
        drudge_buf_printf(&msg, "io.open %s: %s", rel,
                          fclose_ok ? "cannot read the file back" : "the close failed");
        drudge_buf_printf(&msg, " (%s)", strerror(errno));
        drudge_rec_end(h->rec, seq, "error", NULL, msg.data);
        drudge_buf_free(&msg);
    } else {
        drudge_buf_puts(&resp, "{");
        drudge_json_str(&resp, "path", rel);
        drudge_json_str(&resp, "sha256", sha);
        drudge_json_int(&resp, "size", size);
        drudge_json_bool(&resp, "stored", 0); /* a hash, not a payload (verify) */
        if (by_drudge)
            drudge_json_bool(&resp, "closed_at_end", 1);
        drudge_buf_puts(&resp, "}");
        drudge_rec_end(h->rec, seq, "ok", resp.data, NULL);
    }
    drudge_buf_free(&req);
    drudge_buf_free(&name);
    drudge_buf_free(&resp);
}

/* Closes the tracked file at index 1 as liolib would, then records it. */
static int close_and_record(lua_State *L, int by_drudge)
{
    char *full = NULL, *rel = NULL, *mode = NULL;
    lua_CFunction plain_close = NULL; /* liolib's close of an io.open file */
    lua_getfield(L, LUA_REGISTRYINDEX, WRITING_KEY);
    int t = lua_gettop(L);
    lua_pushvalue(L, 1);
    if (lua_rawget(L, t) == LUA_TTABLE) {
        lua_getfield(L, -1, "full");
        lua_getfield(L, -2, "rel");
        lua_getfield(L, -3, "mode");
        lua_getfield(L, -4, "close");
        full = drudge_xstrdup(lua_tostring(L, -4));
        rel = drudge_xstrdup(lua_tostring(L, -3));
        mode = drudge_xstrdup(lua_tostring(L, -2));
        plain_close = lua_tocfunction(L, -1);
        lua_pop(L, 4);
    }
    lua_pop(L, 1);
    if (!plain_close) { /* cannot happen: every tracked handle has its entry */
        free(full);
        free(rel);
        free(mode);
        return luaL_error(L, "io: a written file without its close");
    }
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    lua_rawset(L, t); /* no longer held */
    lua_pop(L, 1);
    int n = plain_close(L); /* pushes true, or nil, message, code */
    if (full)
        record_written(L, full, rel, mode, lua_toboolean(L, -n), by_drudge);
    free(full);
    free(rel);
    free(mode);
    return n;
}

static int written_close(lua_State *L)
{
    return close_and_record(L, 0);
}

void host_track_write(lua_State *L, int idx, const char *full, const char *rel, const char *mode)
{
    idx = lua_absindex(L, idx);
    luaL_Stream *p = luaL_checkudata(L, idx, LUA_FILEHANDLE);
    if (!p->closef || p->closef == written_close)
        return;
    lua_CFunction plain_close = p->closef;
    if (lua_getfield(L, LUA_REGISTRYINDEX, WRITING_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, WRITING_KEY);
    }
    lua_pushvalue(L, idx);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, full);
    lua_setfield(L, -2, "full");
    lua_pushstring(L, rel);
    lua_setfield(L, -2, "rel");
    lua_pushstring(L, mode);
    lua_setfield(L, -2, "mode");
    lua_pushcfunction(L, plain_close); /* per state: no global shared by workers */
    lua_setfield(L, -2, "close");
    lua_rawset(L, -3);
    lua_pop(L, 1);
    p->closef = written_close; /* once its entry is there */
}

/* Closes the file at index 1 as liolib's close does (closef cleared first,
 * so it is closed once), its step saying drudge closed it. */
static int close_left_open(lua_State *L)
{
    luaL_Stream *p = luaL_checkudata(L, 1, LUA_FILEHANDLE);
    if (p->closef != written_close)
        return 0;
    p->closef = NULL;
    return close_and_record(L, 1);
}

static int close_writes(lua_State *L)
{
    int top = lua_gettop(L);
    if (lua_getfield(L, LUA_REGISTRYINDEX, WRITING_KEY) != LUA_TTABLE) {
        lua_settop(L, top);
        return 0;
    }
    /* Collected first: closing one takes it out of the table. */
    lua_newtable(L);
    int list = lua_gettop(L), n = 0;
    lua_pushnil(L);
    while (lua_next(L, list - 1)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, list, ++n);
    }
    for (int i = 1; i <= n; i++) {
        lua_pushcfunction(L, close_left_open);
        lua_rawgeti(L, list, i);
        if (lua_pcall(L, 1, 0, 0) != LUA_OK) /* a close that fails is on its step */
            lua_pop(L, 1);
    }
    lua_settop(L, top);
    return 0;
}

void host_close_writes(lua_State *L)
{
    /* Protected: after a memory error the state may refuse to allocate. */
    int top = lua_gettop(L);
    lua_pushcfunction(L, close_writes);
    lua_pcall(L, 0, 0, 0);
    lua_settop(L, top);
}

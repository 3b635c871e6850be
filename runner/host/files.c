/* files.c: a file a script writes in the files directory, as a step of the
 * audit trail (kind "file"): the data modules' writes (drudge.csv,
 * drudge.xlsx) and att:save() go through drudge_host_write_file, so the
 * trail says which file was written and, by its SHA-256, exactly what it
 * held. The file is written beside its name and renamed when complete, mode
 * 0600 (case data), so a reader never sees half a file. */
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
#include "drudge/util.h"

typedef struct file_write {
    const char *full, *fn;
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
    drudge_call_str(c, "sha256", sha);
    drudge_call_int(c, "size", size);
    return DRUDGE_OK;
}

int drudge_host_write_file(lua_State *L, const char *fn, const char *path, drudge_file_writer write,
                           void *ud)
{
    const char *full = drudge_host_confine(L, path); /* pushed; raises outside the files dir */
    drudge_buf req = {0}, name = {0};
    drudge_buf_puts(&req, "{\"path\":");
    drudge_buf_json_str(&req, path, strlen(path));
    drudge_buf_puts(&req, "}");
    drudge_buf_printf(&name, "%s %s", fn, path);
    lua_pushstring(L, req.data); /* on the stack: nothing leaks if the call raises */
    lua_pushstring(L, name.data);
    drudge_buf_free(&req);
    drudge_buf_free(&name);
    char prefix[96];
    snprintf(prefix, sizeof prefix, "%s: ", fn);
    file_write w = {.full = full, .fn = fn, .write = write, .ud = ud};
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

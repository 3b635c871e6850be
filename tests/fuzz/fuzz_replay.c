/* fuzz_replay.c: a recorded response as replay reads it back from the audit
 * trail (which anyone with the database file can edit): the call path's
 * decoding of the response JSON into the script's value, and the HTTP
 * connector's rebuilding of a response from it (status, URL, body and the
 * header block, http_rec_read and http_rec_raw_headers). Input: the
 * recorded response JSON. */
#include <lauxlib.h>
#include <lualib.h>
#include "fuzz.h"
#include "drudge/json.h"
#include "drudge/util.h"
#include "connectors/http/httpint.h"
#include "runner/queue/bulk.h"

static lua_State *L;

static int decode(lua_State *L1)
{
    size_t n;
    const char *s = lua_tolstring(L1, 1, &n);
    drudge_json_decode(L1, s, n);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!L)
        L = luaL_newstate();
    char *json = fuzz_str(data, size);
    lua_pushcfunction(L, decode);
    lua_pushlstring(L, json, size);
    size_t at = 0;
    int valid = drudge_json_check(json, size, &at) == NULL;
    if (lua_pcall(L, 1, 1, 0) != LUA_OK && valid)
        abort(); /* refused what the strict checker accepts */
    lua_settop(L, 0);

    http_rec_view v;
    if (http_rec_read(json, size, &v) == 0) {
        /* No url is allowed (a hand-written answer: the caller takes the
         * request's); one given lies inside the recording. */
        if (v.url ? v.url < json || v.url + v.url_len > json + size : v.url_len != 0)
            abort();
        drudge_buf raw = {0};
        if (http_rec_raw_headers(&v, &raw) >= 0 && raw.data) {
            if (raw.len > v.headers_len)
                abort(); /* rebuilt in place: never longer than the array */
            const char *p = raw.data, *end = raw.data + raw.len;
            http_field f;
            while (http_header_next(&p, end, &f))
                if (f.name + f.nl > end || f.value + f.vn > end)
                    abort();
        }
        drudge_buf_free(&raw);
    }
    free(json);
    return 0;
}

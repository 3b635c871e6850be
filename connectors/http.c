/* http.c: drudge.http (placeholder until the connector lands). */
#include <lauxlib.h>
#include "drudge/host.h"

int luaopen_drudge_http(lua_State *L)
{
    return luaL_error(L, "drudge.http is not available in this build yet");
}

/* desktop.c: drudge.desktop (placeholder until the connector lands). */
#include <lauxlib.h>
#include "drudge/host.h"

int luaopen_drudge_desktop(lua_State *L)
{
    return luaL_error(L, "drudge.desktop is not available in this build yet");
}

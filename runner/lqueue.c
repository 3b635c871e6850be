/* lqueue.c: drudge.queue, scripts that enqueue work (placeholder). */
#include <lauxlib.h>
#include "drudge/host.h"

int luaopen_drudge_queue(lua_State *L)
{
    return luaL_error(L, "drudge.queue is not available in this build yet");
}

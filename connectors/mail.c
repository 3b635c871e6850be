/* mail.c: drudge.mail (placeholder until the connector lands). */
#include <lauxlib.h>
#include "drudge/host.h"

int luaopen_drudge_mail(lua_State *L)
{
    return luaL_error(L, "drudge.mail is not available in this build yet");
}

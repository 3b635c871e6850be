/* lqueue.h: the Lua module drudge.queue (connectors/queue/lqueue.c), linked
 * into the binary: scripts enqueue follow-up tasks with queue.enqueue. */
#ifndef DRUDGE_LQUEUE_H
#define DRUDGE_LQUEUE_H

typedef struct lua_State lua_State;

int luaopen_drudge_queue(lua_State *L);
/* The database queue.enqueue uses in this Lua state; without it, $DRUDGE_DB
 * or ./drudge.db. */
void drudge_lqueue_set_db(lua_State *L, const char *path);

#endif

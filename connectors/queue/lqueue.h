/* lqueue.h: the Lua module drudge.queue (connectors/queue/lqueue.c), linked
 * into the binary: scripts enqueue follow-up tasks with queue.enqueue. */
#ifndef DRUDGE_LQUEUE_H
#define DRUDGE_LQUEUE_H

#include "drudge/error.h"
#include "runner/store/store.h"

typedef struct lua_State lua_State;

int luaopen_drudge_queue(lua_State *L);
/* The database queue.enqueue uses in this Lua state; without it, $DRUDGE_DB
 * or ./drudge.db. */
void drudge_lqueue_set_db(lua_State *L, const char *path);

/* Stores the version of the script at path (named script) in s, in its own
 * write transaction, with its hash into sha: the host's
 * drudge_script_version_record, handed down because a connector cannot
 * reach the host's files (the layer rule). */
typedef drudge_code (*drudge_lqueue_version_fn)(drudge_store *s, const char *path,
                                                const char *script, char sha[65], drudge_err *err);
/* Tasks queue.enqueue adds in this Lua state carry the version fn records,
 * as tasks from `drudge enqueue` do (the host sets it in every state). */
void drudge_lqueue_set_versioner(lua_State *L, drudge_lqueue_version_fn fn);

#endif

/*
 * json.h: JSON for the host and connectors (runner/host/json.c). Decoding is
 * lua-cjson's; encoding is drudge's own and deterministic: object keys
 * sorted, integers as integers, doubles in their shortest exact form, so the
 * same value always gives the same bytes (replay compares requests byte for
 * byte, and audit records must not depend on Lua's table order).
 */
#ifndef DRUDGE_JSON_H
#define DRUDGE_JSON_H

#include <stddef.h>
#include "util.h"

typedef struct lua_State lua_State;

/* Appends the value at idx as JSON to b. Tables that are sequences 1..n with
 * no other keys become arrays, other tables objects (number keys as strings);
 * an empty table is {}; json.null is null. Raises "<what>: ..." on values
 * JSON cannot hold (functions, NaN, cycles, non-string keys). */
void drudge_json_encode(lua_State *L, int idx, drudge_buf *b, const char *what);
/* Pushes a userdata array of the table's string keys, sorted (anchored by the
 * table), and returns it with *n; raises on a non-string key. */
const char **drudge_json_sorted_keys(lua_State *L, int idx, size_t *n, const char *what);

#endif

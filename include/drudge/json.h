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
/* lua_CFunction: encodes its argument, returns the JSON string; raises if it cannot. */
int drudge_json_encode_cf(lua_State *L);
/* Decodes JSON text and pushes the value (integral numbers as integers);
 * raises "invalid JSON: ..." if it is not JSON. */
void drudge_json_decode(lua_State *L, const char *s, size_t len);

/* --- building a JSON object in a buffer, member by member ---
 * The object's "{" and "}" are the caller's; each helper appends
 * "key":value, after a comma unless b ends with '{' or '['. Keys are
 * written as given (plain names, nothing to escape). */
void drudge_json_key(drudge_buf *b, const char *key); /* "key": (the value follows) */
void drudge_json_str(drudge_buf *b, const char *key, const char *v); /* NULL: null */
void drudge_json_lstr(drudge_buf *b, const char *key, const char *v, size_t n);
void drudge_json_int(drudge_buf *b, const char *key, int64_t v);
void drudge_json_num(drudge_buf *b, const char *key, double v); /* shortest exact form */
void drudge_json_bool(drudge_buf *b, const char *key, int v);

/* --- reading JSON text in C, without building Lua tables (hot paths) --- */
typedef struct drudge_json_iter {
    const char *p, *end;
    char close; /* '}' or ']' */
} drudge_json_iter;
/* Starts on the object or array at text[0..len); -1 if it is neither. */
int drudge_json_iter_init(drudge_json_iter *it, const char *text, size_t len);
/* The next member (key: its raw text without quotes, escapes left as they
 * are) or element (key NULL) with its value's raw text. Returns 1, 0 after
 * the last, -1 on malformed text. */
int drudge_json_iter_next(drudge_json_iter *it, const char **key, size_t *klen, const char **val,
                          size_t *vlen);
/* The string literal s[0..n) (quotes included) unescaped into out, which
 * has room for n bytes (never more is needed); returns the length, or
 * (size_t)-1 if s is not a JSON string. */
size_t drudge_json_unescape(const char *s, size_t n, char *out);
/* Pushes the string literal s[0..n) unescaped; raises if it is not one. */
void drudge_json_push_string(lua_State *L, const char *s, size_t n);

#endif

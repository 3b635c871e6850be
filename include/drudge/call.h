/*
 * call.h: the one path every connector call takes (runner/host/call.c).
 *
 * A connector describes a call (step kind, name, request JSON) and gives two
 * functions: live, which does the work and fills the response, and push,
 * which turns the response into the Lua results. drudge_call then:
 *
 *   1. opens the step on the attempt's recorder (which redacts what it keeps);
 *   2. live: runs live(), which builds the response (a JSON object) with the
 *      drudge_call_* builders below and reports failures with
 *      drudge_call_fail/abort/retry_later;
 *      replay: takes the recorded response instead, and a recorded failure is
 *      raised again exactly as it was raised live (the same message, a
 *      retry_later as a retry_later); no recorded response is a divergence
 *      error naming the call;
 *   3. runs push() on that response, in both modes: live gives it the JSON
 *      document as built (before redaction, so the script sees real cookies
 *      and tokens), replay the recorded one; bytes are read back by their
 *      SHA-256 (live: the bytes just given, unredacted; replay: the
 *      recording's payloads);
 *   4. ends the step with the response and its outcome, and returns push's
 *      results.
 *
 * push runs while the step is still open, so that a response the push cannot
 * use (mail: a message that does not parse) is that step's error, in live
 * and replay alike: when push raises, the step ends as an error with the
 * raised message and the error goes on.
 *
 * A connector therefore writes its live call (and, unless the response table
 * itself is the result, a push) and nothing else: replay needs no code.
 *
 * Errors: drudge_call_fail is a failure of the world (a server refused, a
 * window is gone): the response gets "error": msg, the step's error is msg,
 * and the call raises error_prefix .. msg as a system error.
 * drudge_call_abort is a failure before anything reached the world (a
 * local limit, a bad input found late): no response, only the step's error.
 * A Lua error raised inside live() itself (API misuse found late) leaves
 * the step open, to be closed as an error by the step around it.
 *
 * The top-level response keys "error", "retry" and "retry_in" belong to the
 * call path; a connector's data goes under other names.
 */
#ifndef DRUDGE_CALL_H
#define DRUDGE_CALL_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "util.h"

typedef struct lua_State lua_State;
typedef struct drudge_call_ctx drudge_call_ctx;

/* Does the call (live only). Returns DRUDGE_OK, or the code given to
 * drudge_call_fail/abort/retry_later (a bare code fails with its name). */
typedef drudge_code (*drudge_call_live_fn)(lua_State *L, drudge_call_ctx *c, void *ud);
/* Pushes the call's Lua results and returns how many. In table mode the
 * decoded response is on top of the stack (leave it there); in text mode
 * read it with drudge_call_response. May raise: the step ends as an error. */
typedef int (*drudge_call_push_fn)(lua_State *L, drudge_call_ctx *c, void *ud);

typedef struct drudge_call_spec {
    const char *kind;         /* step kind: "http", "desktop", "mail", "queue" */
    const char *name;         /* step name: "GET https://x/y", "type", "enqueue x.lua" */
    const char *request;      /* request JSON object text, or NULL */
    const char *error_prefix; /* put before a failure's message when raised, or NULL; a
                               * format where %s is the name ("http: %s: ") */
    drudge_call_live_fn live;
    drudge_call_push_fn push; /* NULL: the result is the response table */
    void *ud;                 /* passed to live and push */
    int text;                 /* push reads the response JSON text instead of a decoded table
                               * (for hot paths: no table is built) */
    const char *target;       /* the system the call reaches, for its circuit breaker: an
                               * HTTP host ("cms.example.org", "127.0.0.1:8080" off the
                               * scheme's port), a mail server, an X display; NULL: none.
                               * Live calls to an open breaker's target do not go out: they
                               * raise retry_later (no attempt spent; README, "When a target
                               * is down"). A fail or retry_later of the call (or
                               * drudge_call_target_down) counts as one of the target's
                               * system errors, any other end as its success. */
} drudge_call_spec;

/* drudge_call's result for a try that asked for another (drudge_call_again). */
#define DRUDGE_CALL_AGAIN (-1)

/* Performs one call as described above. Returns the number of results push
 * left on the stack (nothing else stays), or DRUDGE_CALL_AGAIN; raises on a
 * failure, as the live call did. */
int drudge_call(lua_State *L, const drudge_call_spec *spec);

/* --- live: building the response (members in the order they are added) --- */
void drudge_call_str(drudge_call_ctx *c, const char *key, const char *v); /* NULL: null */
void drudge_call_lstr(drudge_call_ctx *c, const char *key, const char *v, size_t n);
void drudge_call_int(drudge_call_ctx *c, const char *key, int64_t v);
void drudge_call_num(drudge_call_ctx *c, const char *key, double v);
void drudge_call_bool(drudge_call_ctx *c, const char *key, int v);
/* A member whose value is the JSON text json. */
void drudge_call_raw(drudge_call_ctx *c, const char *key, const char *json);
/* Starts member key and returns the buffer to append its JSON value to. */
drudge_buf *drudge_call_value(drudge_call_ctx *c, const char *key);
/* Bytes (a body, a message, a screenshot) as member key holding their
 * SHA-256. keep: kept as a payload of the recording (redacted first when
 * text: the hash is of what is stored); else only hashed, and
 * "<key without _sha256>_stored": false follows. Either way push reads the
 * bytes by that hash during this call (drudge_call_payload). */
void drudge_call_bytes(drudge_call_ctx *c, const char *key, const void *data, size_t n,
                       const char *content_type, int keep);

/* --- live: how the call ended --- */
/* A failure of the world: "error": msg joins the response, msg is the
 * step's error, and the call raises error_prefix .. msg. Returns code. */
drudge_code drudge_call_fail(drudge_call_ctx *c, drudge_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A failure before anything reached the world: no response is recorded,
 * msg is the step's error, and the call raises error_prefix .. msg. */
drudge_code drudge_call_abort(drudge_call_ctx *c, drudge_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* As drudge_call_fail, but raised as retry_later(seconds, msg) (the step's
 * outcome "retry", "retry": seconds in the response). Returns DRUDGE_EBUSY. */
drudge_code drudge_call_retry_later(drudge_call_ctx *c, double seconds, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The step's outcome is "error" with msg, but the call goes on: push runs
 * and raises if the connector wants (http's raise = true on a 4xx: the
 * step's error says "HTTP error status", push raises "... HTTP 404"). */
void drudge_call_mark_error(drudge_call_ctx *c, const char *msg);
/* This try is over and another should follow after seconds: the response
 * gets "retry_in", nothing is raised or pushed, drudge_call sleeps (live
 * only) and returns DRUDGE_CALL_AGAIN; combines with drudge_call_fail. */
void drudge_call_again(drudge_call_ctx *c, double seconds);

/* The target answered but is not well (HTTP 5xx): counts against its
 * circuit breaker even though the call goes on (a script may read the 503). */
void drudge_call_target_down(drudge_call_ctx *c, const char *why);

/* --- push --- */
/* The response JSON text (live: as built, before redaction; replay: as
 * recorded). */
const char *drudge_call_response(const drudge_call_ctx *c, size_t *len);
/* Bytes by SHA-256 (live: as given to drudge_call_bytes; replay: the
 * recording's payload), or NULL if the recording does not have them. */
const void *drudge_call_payload(drudge_call_ctx *c, const char *sha256, size_t *len);
/* 1 in replay: push may redo from the recording a local effect of the live
 * call (a file it wrote). */
int drudge_call_replaying(const drudge_call_ctx *c);
/* The step's seq, for messages. */
int drudge_call_seq(const drudge_call_ctx *c);

#endif

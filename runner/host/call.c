/* call.c: drudge_call, the one path of every connector call (see
 * drudge/call.h): step, live work or recorded answer, push, end.
 *
 * The call's context (response being built, error, bytes for push) is a
 * userdata held as a to-be-closed value for the length of the call, so an
 * error raised anywhere in it frees nothing twice and leaks nothing; each
 * state keeps one idle context in the registry and reuses its buffers (a
 * keep-alive GET allocates nothing here). A call made while another is in
 * progress (a metamethod in the middle of one) gets a context of its own. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lauxlib.h>
#include "drudge/call.h"
#include "drudge/record.h"
#include "hostint.h"
#include "runner/host/breaker.h"

#define CALL_MT  "drudge.call"
#define KEEP_MAX ((size_t)1 << 20) /* larger buffers are freed after the call */

static const char idle_key = 0; /* registry: the state's idle context */

enum { PHASE_IDLE, PHASE_LIVE, PHASE_PUSH, PHASE_DONE };
/* How the call ended, in increasing order of what it does to the script. */
enum { END_OK, END_MARKED, END_FAIL, END_RETRY, END_ABORT };

typedef struct held_bytes {
    char sha[65];
    size_t off, len;
} held_bytes;

struct drudge_call_ctx {
    const drudge_call_spec *spec;
    drudge_rec *rec;
    int seq, replaying, phase, busy, end;
    drudge_buf resp;         /* live: the response as built */
    const char *recorded;    /* replay: the recorded response */
    const drudge_step *want; /* replay: the recorded step */
    drudge_buf error;        /* the step's error */
    double retry_s;          /* END_RETRY: retry_later's delay */
    double again_s;          /* >= 0: another try follows after this long */
    held_bytes *held;        /* live: drudge_call_bytes, for push */
    size_t nheld, capheld;
    drudge_buf bytes;
    char down[128]; /* drudge_call_target_down's reason, or "" */
    int64_t began;  /* live: when the call went out (µs since the epoch), for the breaker */
};

/* --- the context --- */

static void trim(drudge_buf *b)
{
    if (b->cap > KEEP_MAX)
        drudge_buf_free(b);
    drudge_buf_reset(b);
}

static void release(drudge_call_ctx *c)
{
    trim(&c->resp);
    trim(&c->error);
    trim(&c->bytes);
    c->nheld = 0;
    c->busy = 0;
    c->phase = PHASE_IDLE;
}

static void end_step_as_error(lua_State *L, drudge_call_ctx *c, int err_idx);

/* __close: after the call, or while an error unwinds through it. */
static int call_close(lua_State *L)
{
    drudge_call_ctx *c = lua_touserdata(L, 1);
    if (c->phase == PHASE_PUSH)
        end_step_as_error(L, c, 2);
    release(c);
    return 0;
}

static int call_gc(lua_State *L)
{
    drudge_call_ctx *c = lua_touserdata(L, 1);
    drudge_buf_free(&c->resp);
    drudge_buf_free(&c->error);
    drudge_buf_free(&c->bytes);
    free(c->held);
    c->held = NULL;
    return 0;
}

static drudge_call_ctx *new_context(lua_State *L)
{
    static const luaL_Reg meta[] = {{"__close", call_close}, {"__gc", call_gc}, {NULL, NULL}};
    drudge_call_ctx *c = lua_newuserdatauv(L, sizeof *c, 0);
    memset(c, 0, sizeof *c);
    drudge_lua_class(L, CALL_MT, meta, NULL);
    luaL_setmetatable(L, CALL_MT);
    return c;
}

/* Pushes a context for a new call, marked to be closed. */
static drudge_call_ctx *hold(lua_State *L, const drudge_call_spec *spec)
{
    int cached = lua_rawgetp(L, LUA_REGISTRYINDEX, &idle_key) == LUA_TUSERDATA;
    drudge_call_ctx *c = cached ? lua_touserdata(L, -1) : NULL;
    if (!c || c->busy) {
        lua_pop(L, 1);
        c = new_context(L);
        if (!cached) {
            lua_pushvalue(L, -1);
            lua_rawsetp(L, LUA_REGISTRYINDEX, &idle_key);
        }
    }
    c->busy = 1;
    c->spec = spec;
    c->rec = drudge_rec_from_lua(L);
    c->replaying = drudge_rec_replaying(c->rec);
    c->end = END_OK;
    c->again_s = -1;
    c->recorded = NULL;
    c->want = NULL;
    c->down[0] = 0;
    lua_toclose(L, -1);
    return c;
}

/* --- ending the step --- */

static const char *live_outcome(const drudge_call_ctx *c)
{
    if (c->end == END_OK)
        return "ok";
    return c->end == END_RETRY ? "retry" : "error";
}

/* Live: as the call ended. Replay: as recorded. */
static void end_step(drudge_call_ctx *c)
{
    if (c->replaying) {
        drudge_rec_end(c->rec, c->seq, c->want ? c->want->outcome : "ok", c->recorded,
                       c->want ? c->want->error : NULL);
        return;
    }
    drudge_rec_end(c->rec, c->seq, live_outcome(c), c->end == END_ABORT ? NULL : c->resp.data,
                   c->end == END_OK ? NULL : c->error.data);
}

/* push raised (the error object at err_idx): the step ends as an error
 * with that message, unless it has a failure of its own already (a marked
 * error, or the recorded one in replay). */
static void end_step_as_error(lua_State *L, drudge_call_ctx *c, int err_idx)
{
    c->phase = PHASE_DONE;
    int recorded_failure =
        c->replaying && c->want && c->want->outcome && strcmp(c->want->outcome, "ok") != 0;
    if (c->end == END_MARKED || recorded_failure) {
        end_step(c);
        return;
    }
    drudge_buf msg = {0};
    if (!lua_isnoneornil(L, err_idx))
        drudge_host_error_text(L, err_idx, &msg, NULL);
    drudge_rec_end(c->rec, c->seq, "error", c->replaying ? c->recorded : c->resp.data,
                   msg.data ? msg.data : "");
    drudge_buf_free(&msg);
}

/* Raises the failure as the live call raised it (never returns). */
static int raise_failure(lua_State *L, drudge_call_ctx *c)
{
    c->phase = PHASE_DONE;
    const char *prefix = c->spec->error_prefix;
    lua_pushfstring(L, prefix ? prefix : "", c->spec->name);
    lua_pushstring(L, c->error.data ? c->error.data : "");
    lua_concat(L, 2);
    if (c->end == END_RETRY)
        return drudge_host_raise_retry(L, c->retry_s, lua_tostring(L, -1));
    return lua_error(L);
}

/* --- live --- */

static void set_error(drudge_call_ctx *c, int end, const char *fmt, va_list ap)
{
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    drudge_buf_reset(&c->error);
    drudge_buf_puts(&c->error, msg ? msg : "out of memory");
    free(msg);
    c->end = end;
}

/* The live call's outcome to its target's breaker. A system error that
 * finds the breaker open (it opened it, or the probe failed) gives the
 * task back: the call raises retry_later, no attempt spent, and the task
 * waits for the target with the rest. */
static void tell_breaker(drudge_call_ctx *c)
{
    int sys = c->end == END_FAIL || c->end == END_RETRY || c->down[0];
    if (c->end == END_ABORT)
        return; /* nothing reached the target */
    const char *why = c->down[0] ? c->down : c->error.data ? c->error.data : "";
    if (!drudge_breaker_result(c->spec->target, !sys, why, c->began) || !sys)
        return;
    char *msg = NULL;
    if (asprintf(&msg, "target %s is down (its circuit breaker is open): %s", c->spec->target,
                 why) < 0)
        msg = NULL;
    drudge_buf_reset(&c->error);
    drudge_buf_puts(&c->error, msg ? msg : "target down");
    free(msg);
    if (c->end != END_RETRY) {
        drudge_json_key(&c->resp, "retry");
        drudge_buf_puts(&c->resp, "0");
    }
    c->end = END_RETRY;
    c->retry_s = 0;
    c->again_s = -1;
}

/* Before a live call: a held target's call does not go out. */
static int held_by_breaker(lua_State *L, drudge_call_ctx *c)
{
    const drudge_script_info *si = drudge_host_current_script(L);
    char why[512];
    if (!drudge_breaker_held(si ? si->name : NULL, c->spec->target, why, sizeof why))
        return 0;
    drudge_buf_reset(&c->resp);
    drudge_buf_add(&c->resp, "{", 1);
    drudge_call_retry_later(c, 0, "%s", why);
    drudge_buf_add(&c->resp, "}", 1);
    return 1;
}

static void answer_live(lua_State *L, drudge_call_ctx *c)
{
    if (c->spec->target && held_by_breaker(L, c))
        return;
    int top = lua_gettop(L);
    drudge_buf_reset(&c->resp);
    drudge_buf_add(&c->resp, "{", 1);
    c->phase = PHASE_LIVE;
    c->began = drudge_now_us();
    drudge_code rc = c->spec->live(L, c, c->spec->ud);
    lua_settop(L, top); /* what live kept alive on the stack is done with */
    if (rc != DRUDGE_OK && c->end < END_FAIL)
        drudge_call_fail(c, rc, "%s", drudge_strerror(rc));
    if (c->spec->target)
        tell_breaker(c);
    if (c->again_s >= 0) {
        drudge_json_key(&c->resp, "retry_in");
        drudge_buf_printf(&c->resp, "%.3f", c->again_s);
    }
    drudge_buf_add(&c->resp, "}", 1);
}

void drudge_call_str(drudge_call_ctx *c, const char *key, const char *v)
{
    drudge_json_str(&c->resp, key, v);
}

void drudge_call_lstr(drudge_call_ctx *c, const char *key, const char *v, size_t n)
{
    drudge_json_lstr(&c->resp, key, v, n);
}

void drudge_call_int(drudge_call_ctx *c, const char *key, int64_t v)
{
    drudge_json_int(&c->resp, key, v);
}

void drudge_call_num(drudge_call_ctx *c, const char *key, double v)
{
    drudge_json_num(&c->resp, key, v);
}

void drudge_call_bool(drudge_call_ctx *c, const char *key, int v)
{
    drudge_json_bool(&c->resp, key, v);
}

void drudge_call_raw(drudge_call_ctx *c, const char *key, const char *json)
{
    drudge_json_key(&c->resp, key);
    drudge_buf_puts(&c->resp, json);
}

drudge_buf *drudge_call_value(drudge_call_ctx *c, const char *key)
{
    drudge_json_key(&c->resp, key);
    return &c->resp;
}

/* Keeps a copy of the bytes for push, under sha. */
static void hold_bytes(drudge_call_ctx *c, const char *sha, const void *data, size_t n)
{
    if (c->nheld == c->capheld) {
        c->capheld = c->capheld ? c->capheld * 2 : 4;
        c->held = drudge_xrealloc(c->held, c->capheld * sizeof *c->held);
    }
    held_bytes *h = &c->held[c->nheld++];
    memcpy(h->sha, sha, 65);
    h->off = c->bytes.len;
    h->len = n;
    drudge_buf_add(&c->bytes, data, n);
}

void drudge_call_bytes(drudge_call_ctx *c, const char *key, const void *data, size_t n,
                       const char *content_type, int keep)
{
    char sha[65];
    if (keep)
        drudge_rec_payload(c->rec, data, n, content_type, sha);
    else
        drudge_sha256_hex(data, n, sha);
    drudge_json_str(&c->resp, key, sha);
    if (!keep) {
        char stored[128];
        size_t stem = strlen(key);
        if (stem > 7 && !strcmp(key + stem - 7, "_sha256"))
            stem -= 7;
        snprintf(stored, sizeof stored, "%.*s_stored", (int)stem, key);
        drudge_json_bool(&c->resp, stored, 0);
    }
    hold_bytes(c, sha, data, n);
}

/* The failures below differ only in how the call ended. */
#define SET_ERROR(c, end, fmt)                                                                     \
    do {                                                                                           \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        set_error(c, end, fmt, ap);                                                                \
        va_end(ap);                                                                                \
    } while (0)

drudge_code drudge_call_fail(drudge_call_ctx *c, drudge_code code, const char *fmt, ...)
{
    SET_ERROR(c, END_FAIL, fmt);
    drudge_json_str(&c->resp, "error", c->error.data);
    return code;
}

drudge_code drudge_call_abort(drudge_call_ctx *c, drudge_code code, const char *fmt, ...)
{
    SET_ERROR(c, END_ABORT, fmt);
    return code;
}

drudge_code drudge_call_retry_later(drudge_call_ctx *c, double seconds, const char *fmt, ...)
{
    SET_ERROR(c, END_RETRY, fmt);
    c->retry_s = seconds;
    drudge_json_str(&c->resp, "error", c->error.data);
    drudge_json_key(&c->resp, "retry");
    drudge_buf_printf(&c->resp, "%g", seconds);
    return DRUDGE_EBUSY;
}

void drudge_call_mark_error(drudge_call_ctx *c, const char *msg)
{
    if (c->end != END_OK)
        return;
    drudge_buf_reset(&c->error);
    drudge_buf_puts(&c->error, msg);
    c->end = END_MARKED;
}

void drudge_call_target_down(drudge_call_ctx *c, const char *why)
{
    snprintf(c->down, sizeof c->down, "%s", why && *why ? why : "target unavailable");
}

void drudge_call_again(drudge_call_ctx *c, double seconds)
{
    c->again_s = seconds > 0 ? seconds : 0;
}

/* --- replay --- */

/* No recorded response: a call that failed before it had one (abort) fails
 * again; anything else is a divergence. */
static void replay_missing(lua_State *L, drudge_call_ctx *c)
{
    const char *div = drudge_rec_divergence(c->rec);
    const drudge_step *w = c->want;
    if (!*div && w && w->error && w->outcome && strcmp(w->outcome, "ok") != 0) {
        drudge_buf_reset(&c->error);
        drudge_buf_puts(&c->error, w->error);
        c->end = END_ABORT;
        return;
    }
    drudge_rec_end(c->rec, c->seq, "error", NULL, "no recorded response");
    c->phase = PHASE_DONE;
    drudge_host_raise(L, "%s: replay: no recorded response for step %d (%s)%s%s", c->spec->kind,
                      c->seq, c->spec->name, *div ? ": " : "", div);
}

static int key_is(const char *k, size_t klen, const char *name)
{
    return klen == strlen(name) && !memcmp(k, name, klen);
}

/* Reads the call path's own members of the recorded response. */
static void answer_replay(lua_State *L, drudge_call_ctx *c)
{
    if (drudge_rec_answering(c->rec)) { /* a hand-written case: the next answer */
        c->want = drudge_rec_next_answer(c->rec, c->spec->kind, c->spec->name);
        c->recorded = c->want ? c->want->response : NULL;
    } else {
        c->want = drudge_rec_replay_step(c->rec, c->seq);
        c->recorded = drudge_rec_replay_response(c->rec, c->seq);
    }
    if (!c->recorded) {
        replay_missing(L, c);
        return;
    }
    drudge_json_iter it;
    const char *k, *v;
    size_t klen, vlen;
    if (drudge_json_iter_init(&it, c->recorded, strlen(c->recorded)) != 0)
        return;
    while (drudge_json_iter_next(&it, &k, &klen, &v, &vlen) == 1) {
        if (key_is(k, klen, "error") && *v == '"') {
            char *msg = drudge_xmalloc(vlen);
            size_t n = drudge_json_unescape(v, vlen, msg);
            drudge_buf_reset(&c->error);
            drudge_buf_add(&c->error, msg, n == (size_t)-1 ? 0 : n);
            free(msg);
            c->end = c->end == END_RETRY ? END_RETRY : END_FAIL;
        } else if (key_is(k, klen, "retry") && *v != '"') {
            c->retry_s = strtod(v, NULL);
            c->end = END_RETRY;
        } else if (key_is(k, klen, "retry_in") && *v != '"') {
            c->again_s = strtod(v, NULL);
        }
    }
}

/* --- the call --- */

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Runs push (or leaves the response table as the result); returns the
 * number of results. */
static int run_push(lua_State *L, drudge_call_ctx *c)
{
    const drudge_call_spec *spec = c->spec;
    c->phase = PHASE_PUSH;
    if (spec->text && spec->push)
        return spec->push(L, c, spec->ud);
    size_t len;
    const char *json = drudge_call_response(c, &len);
    drudge_json_decode(L, json, len);
    return spec->push ? spec->push(L, c, spec->ud) : 1;
}

int drudge_call(lua_State *L, const drudge_call_spec *spec)
{
    drudge_call_ctx *c = hold(L, spec);
    int slot = lua_gettop(L);
    c->seq = drudge_rec_begin(c->rec, spec->kind, spec->name, spec->request);
    if (c->replaying)
        answer_replay(L, c);
    else
        answer_live(L, c);
    if (c->again_s >= 0) {
        end_step(c);
        c->phase = PHASE_DONE;
        if (!c->replaying)
            sleep_s(c->again_s);
        /* Closed on its own first: Lua 5.4.4's lua_settop may keep a stale
         * stack pointer when it closes a slot itself. */
        lua_closeslot(L, slot);
        lua_settop(L, slot - 1);
        return DRUDGE_CALL_AGAIN;
    }
    if (c->end >= END_FAIL) {
        end_step(c);
        return raise_failure(L, c);
    }
    int n = run_push(L, c);
    end_step(c);
    c->phase = PHASE_DONE;
    lua_closeslot(L, slot);
    lua_remove(L, slot);
    if (spec->push && !spec->text)
        lua_remove(L, slot); /* the response table under the results */
    return n;
}

/* --- push --- */

const char *drudge_call_response(const drudge_call_ctx *c, size_t *len)
{
    const char *s = c->replaying ? c->recorded : c->resp.data;
    *len = c->replaying ? strlen(s) : c->resp.len;
    return s;
}

const void *drudge_call_payload(drudge_call_ctx *c, const char *sha256, size_t *len)
{
    if (c->replaying) {
        const drudge_payload *p = drudge_rec_replay_payload(c->rec, sha256);
        *len = p ? p->len : 0;
        return p ? p->data : NULL;
    }
    for (size_t i = 0; i < c->nheld; i++)
        if (!strcmp(c->held[i].sha, sha256)) {
            *len = c->held[i].len;
            return c->bytes.data + c->held[i].off;
        }
    *len = 0;
    return NULL;
}

int drudge_call_replaying(const drudge_call_ctx *c)
{
    return c->replaying;
}

int drudge_call_seq(const drudge_call_ctx *c)
{
    return c->seq;
}

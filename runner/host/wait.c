/* wait.c: the script globals that wait: sleep(seconds) and
 * wait_until(fn, {timeout, every}). Both sleep in the kernel (no CPU
 * burnt), in slices short enough to notice `drudge cancel` and the
 * attempt's deadline, and are recorded as "wait" steps. In replay they do
 * not wait: the recording already says what happened. */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>
#include <lauxlib.h>
#include "drudge/record.h"
#include "hostint.h"

#define SLICE_US 50000 /* how soon a cancel is noticed */

/* Sleeps up to seconds, ending early when the attempt is cancelled or its
 * deadline passes. Returns 1 when it ended early for either reason. */
static int nap(drudge_host *h, double seconds)
{
    if (drudge_rec_replaying(h->rec))
        return 0;
    int64_t end = drudge_mono_us() + (int64_t)(seconds * 1e6);
    if (h->deadline_us && end > h->deadline_us)
        end = h->deadline_us;
    for (;;) {
        if (h->cancelled)
            return 1;
        int64_t now = drudge_mono_us(), left = end - now;
        if (left <= 0)
            break;
        if (left > SLICE_US)
            left = SLICE_US;
        struct timespec ts = {.tv_sec = left / 1000000, .tv_nsec = (long)(left % 1000000) * 1000};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    return h->cancelled || (h->deadline_us && drudge_mono_us() >= h->deadline_us);
}

static double check_seconds(lua_State *L, int arg, const char *what)
{
    lua_Number s = luaL_checknumber(L, arg);
    if (!(s >= 0 && s <= 366 * 86400.0)) /* also refuses NaN */
        return luaL_error(L, "%s: seconds must be from 0 to a year (got %f)", what, s);
    return s;
}

/* Ends the wait step as the attempt's timeout and raises it (never returns). */
static int expired(lua_State *L, int seq, double waited)
{
    drudge_host *h = drudge_host_of(L);
    drudge_buf resp = {0};
    drudge_buf_printf(&resp, "{\"waited\":%.3f}", waited);
    drudge_rec_end(h->rec, seq, "timeout", resp.data,
                   h->cancelled ? "cancelled by an operator" : "the attempt's deadline passed");
    drudge_buf_free(&resp);
    drudge_host_check_deadline(L);
    return luaL_error(L, "timeout"); /* not reached: the check raises */
}

/* sleep(seconds): waits; recorded as a "wait" step named "sleep". */
static int l_sleep(lua_State *L)
{
    double s = check_seconds(L, 1, "sleep");
    drudge_host *h = drudge_host_of(L);
    drudge_buf req = {0};
    drudge_buf_printf(&req, "{\"seconds\":%.17g}", s);
    int seq = drudge_rec_begin(h->rec, "wait", "sleep", req.data);
    drudge_buf_free(&req);
    int64_t t0 = drudge_mono_us();
    if (nap(h, s))
        return expired(L, seq, (double)(drudge_mono_us() - t0) / 1e6);
    drudge_rec_end(h->rec, seq, "ok", NULL, NULL);
    return 0;
}

/* Reads wait_until's options table at idx; unknown names are misuse. */
static void wait_opts(lua_State *L, int idx, double *timeout, double *every)
{
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (k && !strcmp(k, "timeout"))
            *timeout = check_seconds(L, -1, "wait_until: timeout");
        else if (k && !strcmp(k, "every"))
            *every = check_seconds(L, -1, "wait_until: every");
        else
            drudge_host_config_error(L, "wait_until: unknown option '%s' (timeout, every)",
                                     k ? k : luaL_typename(L, -2));
        lua_pop(L, 1);
    }
    if (*every <= 0)
        luaL_error(L, "wait_until: every must be more than 0 seconds");
}

/* wait_until(fn [, {timeout = 60, every = 1}]) -> fn's results: calls fn
 * until it returns a true value; past timeout a system error. Recorded as
 * one "wait" step named "wait_until", fn's own steps under it. */
static int l_wait_until(lua_State *L)
{
    double timeout = 60, every = 1;
    luaL_checktype(L, 1, LUA_TFUNCTION);
    wait_opts(L, 2, &timeout, &every);
    lua_settop(L, 1);
    drudge_host *h = drudge_host_of(L);
    drudge_buf b = {0};
    drudge_buf_printf(&b, "{\"every\":%.17g,\"timeout\":%.17g}", every, timeout);
    int seq = drudge_rec_begin(h->rec, "wait", "wait_until", b.data);
    drudge_buf_reset(&b);
    int64_t t0 = drudge_mono_us();
    int tries = 0;
    double waited = 0;
    lua_pushcfunction(L, drudge_host_msgh); /* 2 */
    for (;;) {
        tries++;
        lua_settop(L, 2);
        lua_pushvalue(L, 1);
        if (lua_pcall(L, 0, LUA_MULTRET, 2) != LUA_OK) {
            drudge_buf msg = {0};
            drudge_outcome o = drudge_host_error_text(L, -1, &msg, NULL);
            drudge_rec_end(h->rec, seq,
                           h->timed_out              ? "timeout"
                           : o == DRUDGE_FAILED      ? "fail"
                           : o == DRUDGE_RETRY_LATER ? "retry"
                                                     : "error",
                           NULL, msg.data ? msg.data : "");
            drudge_buf_free(&msg);
            drudge_buf_free(&b);
            return lua_error(L);
        }
        waited = (double)(drudge_mono_us() - t0) / 1e6;
        if (lua_gettop(L) > 2 && lua_toboolean(L, 3)) {
            drudge_buf_printf(&b, "{\"tries\":%d,\"waited\":%.3f}", tries, waited);
            drudge_rec_end(h->rec, seq, "ok", b.data, NULL);
            drudge_buf_free(&b);
            return lua_gettop(L) - 2;
        }
        /* In replay no time passes: count the recorded tries instead. */
        double spent = drudge_rec_replaying(h->rec) ? (tries - 1) * every : waited;
        if (spent + every > timeout + 1e-9) {
            drudge_buf_printf(&b, "{\"tries\":%d,\"waited\":%.3f}", tries, waited);
            drudge_rec_end(h->rec, seq, "error", b.data, "the condition was not met in time");
            drudge_buf_free(&b);
            return drudge_host_raise(
                L, "wait_until: the condition was not met within %f s (%d tries)", timeout, tries);
        }
        if (nap(h, every)) {
            drudge_buf_free(&b);
            return expired(L, seq, (double)(drudge_mono_us() - t0) / 1e6);
        }
    }
}

void drudge_wait_install(lua_State *L, int env)
{
    env = lua_absindex(L, env);
    lua_pushcfunction(L, l_sleep);
    lua_setfield(L, env, "sleep");
    lua_pushcfunction(L, l_wait_until);
    lua_setfield(L, env, "wait_until");
}

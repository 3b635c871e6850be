/* test_call.c: the connector call path (runner/host/call.c) with a small
 * connector of its own ("echo"): live results and failures as recorded,
 * payloads read back in push (the real bytes live, the recording's in
 * replay), bytes too large to keep, tries that ask for another, and the
 * same calls replayed from the recording: identical results, identical
 * errors, a divergence on a call the recording does not have. The Lua stack
 * stays balanced around every call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/call.h"
#include "drudge/host.h"
#include "drudge/json.h"
#include "drudge/record.h"
#include "runner/host/hostint.h"
#include "unit/recording.h"

/* --- the echo connector: what a call does is chosen by its name --- */

static int live_calls; /* how often a live function ran (never in replay) */

static drudge_code echo_live(lua_State *L, drudge_call_ctx *c, void *ud)
{
    const char *what = ud;
    live_calls++;
    if (!strcmp(what, "ok")) {
        drudge_call_str(c, "text", "hi");
        drudge_call_int(c, "n", 42);
        drudge_call_num(c, "x", 1.5);
        drudge_call_bool(c, "yes", 1);
        drudge_call_raw(c, "list", "[1,2]");
        return DRUDGE_OK;
    }
    if (!strcmp(what, "fail"))
        return drudge_call_fail(c, DRUDGE_ECONNECT, "peer said %s", "no");
    if (!strcmp(what, "abort"))
        return drudge_call_abort(c, DRUDGE_EINPUT, "bad input found late");
    if (!strcmp(what, "busy")) {
        drudge_call_str(c, "display", ":9");
        return drudge_call_retry_later(c, 15, "display busy");
    }
    if (!strcmp(what, "bytes")) {
        /* text with the secret in it: kept redacted, seen real by push */
        drudge_call_bytes(c, "doc_sha256", "token=SECRET-VALUE-1", 20, "text/plain", 1);
        drudge_call_bytes(c, "big_sha256", "0123456789", 10, "application/octet-stream", 0);
        return DRUDGE_OK;
    }
    if (!strcmp(what, "again") && live_calls == 1) {
        drudge_call_fail(c, DRUDGE_ECONNECT, "try again");
        drudge_call_again(c, 0.001);
        return DRUDGE_ECONNECT;
    }
    if (!strcmp(what, "mark")) {
        drudge_call_int(c, "status", 404);
        drudge_call_mark_error(c, "bad status");
        return DRUDGE_OK;
    }
    drudge_call_int(c, "status", 200);
    return DRUDGE_OK;
}

/* Pushes both byte strings: the kept one and the one only hashed. */
static int push_bytes(lua_State *L, drudge_call_ctx *c, void *ud)
{
    static const char *const keys[] = {"doc_sha256", "big_sha256"};
    for (int i = 0; i < 2; i++) {
        lua_getfield(L, -1 - i, keys[i]);
        size_t len;
        const char *b = drudge_call_payload(c, lua_tostring(L, -1), &len);
        lua_pop(L, 1);
        if (b)
            lua_pushlstring(L, b, len);
        else
            lua_pushliteral(L, "(not recorded)");
    }
    return 2;
}

/* A 404 raises here (as http's raise = true does). */
static int push_status(lua_State *L, drudge_call_ctx *c, void *ud)
{
    lua_getfield(L, -1, "status");
    if (lua_tointeger(L, -1) >= 400)
        return drudge_host_raise(L, "echo: HTTP %d", (int)lua_tointeger(L, -1));
    return 1;
}

/* Text mode: the response JSON itself. */
static int push_text(lua_State *L, drudge_call_ctx *c, void *ud)
{
    size_t len;
    const char *json = drudge_call_response(c, &len);
    lua_pushlstring(L, json, len);
    return 1;
}

/* lua_CFunction: one echo call named by its upvalue; returns its results
 * (DRUDGE_CALL_AGAIN: calls again, as http does). */
static int l_echo(lua_State *L)
{
    const char *what = lua_tostring(L, lua_upvalueindex(1));
    drudge_call_spec spec = {.kind = "echo",
                             .name = what,
                             .request = "{\"q\":1}",
                             .error_prefix = "echo: ",
                             .live = echo_live,
                             .ud = (void *)what};
    if (!strcmp(what, "bytes"))
        spec.push = push_bytes;
    if (!strcmp(what, "mark") || !strcmp(what, "again"))
        spec.push = push_status;
    if (!strcmp(what, "text")) {
        spec.push = push_text;
        spec.text = 1;
    }
    int n;
    do
        n = drudge_call(L, &spec);
    while (n == DRUDGE_CALL_AGAIN);
    return n;
}

/* --- running calls --- */

typedef struct call_result {
    int ok;
    char text[512]; /* results as JSON, or the error's message */
    int kind;       /* drudge_outcome of an error */
    double retry;   /* retry_later's delay */
} call_result;

static const char *const names[] = {"ok",    "fail",  "abort", "busy",
                                    "bytes", "again", "mark",  "text"};
#define NCALLS (sizeof names / sizeof names[0])

/* Runs the call `what` in L (inside the attempt's root step); the stack is
 * the same before and after. */
static void run_call(lua_State *L, const char *what, call_result *out)
{
    int top = lua_gettop(L);
    memset(out, 0, sizeof *out);
    lua_pushcfunction(L, drudge_host_msgh);
    lua_pushstring(L, what);
    lua_pushcclosure(L, l_echo, 1);
    int st = lua_pcall(L, 0, LUA_MULTRET, top + 1);
    drudge_buf b = {0};
    if (st == LUA_OK) {
        out->ok = 1;
        for (int i = top + 2; i <= lua_gettop(L); i++) {
            drudge_json_encode(L, i, &b, "result");
            drudge_buf_puts(&b, ";");
        }
    } else {
        out->kind = drudge_host_error_text(L, -1, &b, NULL);
        out->retry = drudge_host_retry_after(L, -1);
    }
    snprintf(out->text, sizeof out->text, "%s", b.data ? b.data : "");
    drudge_buf_free(&b);
    lua_settop(L, top);
    assert_int_equal(lua_gettop(L), top);
}

static drudge_host *new_host(void)
{
    drudge_err err = {0};
    drudge_host *h = drudge_host_new(NULL, &err);
    assert_non_null(h);
    drudge_rec *rec = drudge_host_rec(h);
    drudge_rec_reset(rec, 1, 1);
    drudge_rec_add_secret(rec, "tok", "SECRET-VALUE-1");
    drudge_rec_begin(rec, "task", "t", "{}");
    return h;
}

static const drudge_step *step_named(drudge_rec *rec, const char *name)
{
    const drudge_step *found = NULL;
    for (size_t i = 0; i < drudge_rec_count(rec); i++)
        if (!strcmp(drudge_rec_step(rec, i)->name, name))
            found = drudge_rec_step(rec, i);
    assert_non_null(found);
    return found;
}

static void assert_step(drudge_rec *rec, const char *name, const char *outcome,
                        const char *response, const char *error)
{
    const drudge_step *s = step_named(rec, name);
    assert_string_equal(s->kind, "echo");
    assert_string_equal(s->request, "{\"q\":1}");
    assert_string_equal(s->outcome, outcome);
    if (response)
        assert_string_equal(s->response, response);
    else
        assert_null(s->response);
    if (error)
        assert_string_equal(s->error, error);
    else
        assert_null(s->error);
}

/* --- live --- */

static void test_live(void **state)
{
    drudge_host *h = new_host();
    lua_State *L = drudge_host_lua(h);
    drudge_rec *rec = drudge_host_rec(h);
    call_result o;
    live_calls = 0;

    run_call(L, "ok", &o);
    assert_true(o.ok);
    assert_string_equal(o.text,
                        "{\"list\":[1,2],\"n\":42,\"text\":\"hi\",\"x\":1.5,\"yes\":true};");
    assert_step(rec, "ok", "ok", "{\"text\":\"hi\",\"n\":42,\"x\":1.5,\"yes\":true,\"list\":[1,2]}",
                NULL);

    run_call(L, "fail", &o);
    assert_false(o.ok);
    assert_int_equal(o.kind, DRUDGE_ERROR);
    assert_string_equal(o.text, "echo: peer said no");
    assert_step(rec, "fail", "error", "{\"error\":\"peer said no\"}", "peer said no");

    run_call(L, "abort", &o);
    assert_string_equal(o.text, "echo: bad input found late");
    assert_step(rec, "abort", "error", NULL, "bad input found late");

    run_call(L, "busy", &o);
    assert_int_equal(o.kind, DRUDGE_RETRY_LATER);
    assert_true(o.retry == 15);
    assert_string_equal(o.text, "echo: display busy");
    assert_step(rec, "busy", "retry",
                "{\"display\":\":9\",\"error\":\"display busy\",\"retry\":15}", "display busy");

    /* push sees the real bytes; the kept payload is redacted */
    run_call(L, "bytes", &o);
    assert_string_equal(o.text, "\"token=SECRET-VALUE-1\";\"0123456789\";");
    const drudge_step *s = step_named(rec, "bytes");
    assert_non_null(strstr(s->response, "\"big_stored\":false}"));
    assert_int_equal(drudge_rec_payload_count(rec), 1);
    const drudge_payload *p = drudge_rec_payload_at(rec, 0);
    assert_memory_equal(p->data, "token=[REDACTED:tok]", p->len);
    assert_non_null(strstr(s->response, p->sha256));

    /* a try that asks for another: two steps, the first not raised */
    live_calls = 0;
    run_call(L, "again", &o);
    assert_true(o.ok);
    assert_string_equal(o.text, "200;");
    assert_int_equal(live_calls, 2);
    size_t n = drudge_rec_count(rec);
    assert_string_equal(drudge_rec_step(rec, n - 2)->response,
                        "{\"error\":\"try again\",\"retry_in\":0.001}");
    assert_string_equal(drudge_rec_step(rec, n - 2)->outcome, "error");
    assert_string_equal(drudge_rec_step(rec, n - 1)->response, "{\"status\":200}");

    /* marked: the step says why, push raises its own message */
    run_call(L, "mark", &o);
    assert_string_equal(o.text, "echo: HTTP 404");
    assert_step(rec, "mark", "error", "{\"status\":404}", "bad status");

    run_call(L, "text", &o);
    assert_string_equal(o.text, "\"{\\\"status\\\":200}\";");
    drudge_host_free(h);
}

/* --- replay --- */

/* Records every call, then replays them in a host of its own. */
static void test_replay_same_results(void **state)
{
    call_result live[NCALLS], again[NCALLS];
    drudge_host *h = new_host();
    live_calls = 0;
    for (size_t i = 0; i < NCALLS; i++)
        run_call(drudge_host_lua(h), names[i], &live[i]);
    drudge_rec *rec = drudge_host_rec(h);
    drudge_rec_end(rec, 1, "ok", NULL, NULL);
    drudge_step *steps;
    drudge_payload *pays;
    size_t n, np;
    copy_recording(rec, &steps, &n, &pays, &np);
    drudge_host_free(h);

    drudge_err err = {0};
    h = drudge_host_new(NULL, &err);
    rec = drudge_host_rec(h);
    drudge_rec_replay_load(rec, steps, n, pays, np);
    drudge_rec_reset(rec, 1, 1);
    drudge_rec_begin(rec, "task", "t", "{}");
    live_calls = 0;
    for (size_t i = 0; i < NCALLS; i++)
        run_call(drudge_host_lua(h), names[i], &again[i]);
    assert_int_equal(live_calls, 0); /* nothing live in replay */
    for (size_t i = 0; i < NCALLS; i++) {
        assert_int_equal(again[i].ok, live[i].ok);
        assert_int_equal(again[i].kind, live[i].kind);
        assert_true(again[i].retry == live[i].retry);
        if (strcmp(names[i], "bytes") != 0) /* replay has the redacted, kept bytes only */
            assert_string_equal(again[i].text, live[i].text);
    }
    assert_string_equal(again[4].text, "\"token=[REDACTED:tok]\";\"(not recorded)\";");
    assert_string_equal(drudge_rec_divergence(rec), "");
    assert_int_equal(drudge_rec_count(rec), n);
    /* each replayed step ends as recorded */
    const drudge_step *busy = step_named(rec, "busy");
    assert_string_equal(busy->outcome, "retry");
    assert_string_equal(busy->error, "display busy");

    /* one call more than the recording: a divergence naming the call */
    call_result o;
    run_call(drudge_host_lua(h), "ok", &o);
    assert_false(o.ok);
    assert_non_null(strstr(o.text, "echo: replay: no recorded response for step"));
    assert_non_null(strstr(o.text, "(ok): step"));
    drudge_host_free(h);
}

/* A call the script makes differently in replay: the divergence is named. */
static void test_replay_divergence(void **state)
{
    drudge_host *h = new_host();
    call_result o;
    run_call(drudge_host_lua(h), "ok", &o);
    drudge_step *steps;
    drudge_payload *pays;
    size_t n, np;
    copy_recording(drudge_host_rec(h), &steps, &n, &pays, &np);
    drudge_host_free(h);

    drudge_err err = {0};
    h = drudge_host_new(NULL, &err);
    drudge_rec *rec = drudge_host_rec(h);
    drudge_rec_replay_load(rec, steps, n, pays, np);
    drudge_rec_reset(rec, 1, 1);
    drudge_rec_begin(rec, "task", "t", "{}");
    run_call(drudge_host_lua(h), "text", &o);
    assert_false(o.ok);
    assert_non_null(strstr(o.text, "echo: replay: no recorded response for step 2 (text): "
                                   "step 2: name differs"));
    drudge_host_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live),
        cmocka_unit_test(test_replay_same_results),
        cmocka_unit_test(test_replay_divergence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_http_replay.c: drudge.http inside a real Lua host, against an
 * in-process libmicrohttpd server: a run is recorded, the server is stopped,
 * and replaying the recording rebuilds every response (retries, payloads,
 * transport errors) without touching the network. Also: cookies last for
 * one attempt only, and the Lua stack stays balanced. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lua.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include "drudge/host.h"
#include "drudge/record.h"
#include "drudge/util.h"
#include "unit/recording.h"

static int flaky_hits;

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *ctype,
                              const char *body, size_t len, const char *hname, const char *hval)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", ctype);
    if (hname)
        MHD_add_response_header(r, hname, hval);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result route(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_size, void **req_cls)
{
    if (!*req_cls) {
        *req_cls = (void *)1;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (!strcmp(url, "/json"))
        return answer(c, 200, "application/json", "{\"id\":42}", 9, NULL, NULL);
    if (!strcmp(url, "/flaky")) {
        if (__atomic_add_fetch(&flaky_hits, 1, __ATOMIC_SEQ_CST) == 1)
            return answer(c, 503, "text/plain", "busy", 4, "Retry-After", "0");
        return answer(c, 200, "application/json", "{\"ok\":true}", 11, NULL, NULL);
    }
    if (!strcmp(url, "/big")) {
        static char big[100000];
        for (size_t i = 0; i < sizeof big; i++)
            big[i] = (char)(i * 7);
        return answer(c, 200, "application/octet-stream", big, sizeof big, NULL, NULL);
    }
    if (!strcmp(url, "/cookies/set"))
        return answer(c, 200, "application/json", "{}", 2, "Set-Cookie", "sid=abcdef123; Path=/");
    if (!strcmp(url, "/cookies")) {
        const char *ck = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cookie");
        char body[256];
        snprintf(body, sizeof body, "{\"cookie\":\"%s\"}", ck ? ck : "");
        return answer(c, 200, "application/json", body, strlen(body), NULL, NULL);
    }
    return answer(c, 404, "text/plain", "no", 2, NULL, NULL);
}

typedef struct fixture {
    struct MHD_Daemon *d;
    int port;
    char dir[64];
    char input[256];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                            NULL, NULL, route, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    assert_non_null(f->d);
    f->port = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT)->port;
    snprintf(f->dir, sizeof f->dir, "/tmp/drudge-unit.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->input, sizeof f->input,
             "{\"base\":\"http://127.0.0.1:%d\",\"dead\":\"http://127.0.0.1:1/x\"}", f->port);
    flaky_hits = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    if (f->d)
        MHD_stop_daemon(f->d);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static const char *write_script(fixture *f, const char *name, const char *src)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(src, fp);
    fclose(fp);
    return path;
}

static drudge_host *new_host(void)
{
    drudge_err err = {0};
    drudge_host *h = drudge_host_new(NULL, &err);
    assert_non_null(h);
    return h;
}

static void run(drudge_host *h, const char *path, const char *input, int attempt,
                drudge_result *res)
{
    drudge_err err = {0};
    drudge_task_view task = {.id = 1, .attempt = attempt, .input = input, .script = "s"};
    lua_State *L = drudge_host_lua(h);
    int top = lua_gettop(L);
    assert_int_equal(drudge_host_run(h, path, &task, res, &err), DRUDGE_OK);
    assert_int_equal(lua_gettop(L), top);
}

static const char *replay_src =
    "local http = require 'drudge.http'\n"
    "return { run = function(task)\n"
    "  local base = task.input.base\n"
    "  local a = http.get(base .. '/json'):json()\n"
    "  local f = http.get(base .. '/flaky', { retry = { attempts = 3, backoff = 0.01 } })\n"
    "  local p = http.post(base .. '/json', { json = { b = 2, a = 1 }, query = { z = 1, y = 2 } "
    "})\n"
    "  local big = http.get(base .. '/big')\n"
    "  local ok, e = pcall(http.get, task.input.dead)\n"
    "  local sum = 0\n"
    "  for i = 1, #big.body, 997 do sum = sum + big.body:byte(i) end\n"
    "  return { 'id', a.id, 'flaky', f.status, 'tries', f.attempts, 'post', p.status,\n"
    "           p.headers['content-type'], 'big', #big.body, sum,\n"
    "           'refused', not ok and tostring(e):find('Failed to connect', 1, true) ~= nil }\n"
    "end }\n";

static void test_record_then_replay(void **state)
{
    fixture *f = *state;
    const char *path = write_script(f, "replay.lua", replay_src);
    drudge_host *h = new_host();
    drudge_result res = {0};
    run(h, path, f->input, 1, &res);
    assert_int_equal(res.outcome, DRUDGE_DONE);
    assert_string_equal(res.output, "[\"id\",42,\"flaky\",200,\"tries\",2,\"post\",200,"
                                    "\"application/json\",\"big\",100000,12718,"
                                    "\"refused\",true]");
    char *recorded_output = drudge_xstrdup(res.output);
    drudge_result_clear(&res);

    drudge_rec *rec = drudge_host_rec(h);
    /* task, json, flaky x2, post, big, dead */
    assert_int_equal(drudge_rec_count(rec), 7);
    const drudge_step *s = drudge_rec_step(rec, 2);
    assert_string_equal(s->kind, "http");
    assert_non_null(strstr(s->response, "\"retry_in\":"));
    s = drudge_rec_step(rec, 4);
    assert_non_null(strstr(s->name, "/json?y=2&z=1"));
    assert_non_null(strstr(s->request,
                           "\"headers\":{\"Content-Type\":\"application/json\"},\"size\":13,"
                           "\"body\":\"{\\\"a\\\":1,\\\"b\\\":2}\""));
    assert_non_null(strstr(drudge_rec_step(rec, 5)->response, "\"body_sha256\":"));
    assert_int_equal(drudge_rec_payload_count(rec), 1);
    assert_non_null(strstr(drudge_rec_step(rec, 6)->response, "\"curl_code\":7"));

    drudge_step *steps;
    drudge_payload *payloads;
    size_t n, np;
    copy_recording(rec, &steps, &n, &payloads, &np);
    drudge_host_free(h);

    /* No server any more: a real request would fail to connect. */
    MHD_stop_daemon(f->d);
    f->d = NULL;
    h = new_host();
    drudge_rec_replay_load(drudge_host_rec(h), steps, n, payloads, np);
    run(h, path, f->input, 1, &res);
    assert_int_equal(res.outcome, DRUDGE_DONE);
    assert_string_equal(res.output, recorded_output);
    assert_string_equal(drudge_rec_divergence(drudge_host_rec(h)), "");
    assert_int_equal(drudge_rec_count(drudge_host_rec(h)), 7);
    drudge_result_clear(&res);
    free(recorded_output);
    drudge_host_free(h);
}

static void test_replay_divergence(void **state)
{
    fixture *f = *state;
    const char *path = write_script(f, "div.lua",
                                    "local http = require 'drudge.http'\n"
                                    "return { run = function(task)\n"
                                    "  return http.get(task.input.base .. task.input.path).status\n"
                                    "end }\n");
    char in1[300], in2[300];
    snprintf(in1, sizeof in1, "{\"base\":\"http://127.0.0.1:%d\",\"path\":\"/json\"}", f->port);
    snprintf(in2, sizeof in2, "{\"base\":\"http://127.0.0.1:%d\",\"path\":\"/other\"}", f->port);
    drudge_host *h = new_host();
    drudge_result res = {0};
    run(h, path, in1, 1, &res);
    assert_int_equal(res.outcome, DRUDGE_DONE);
    drudge_result_clear(&res);
    drudge_step *steps;
    drudge_payload *payloads;
    size_t n, np;
    copy_recording(drudge_host_rec(h), &steps, &n, &payloads, &np);
    drudge_host_free(h);

    h = new_host();
    drudge_rec_replay_load(drudge_host_rec(h), steps, n, payloads, np);
    run(h, path, in2, 1, &res);
    assert_int_equal(res.outcome, DRUDGE_ERROR);
    assert_non_null(strstr(res.error, "http: replay: no recorded response for step 2 (GET "));
    assert_non_null(strstr(res.error, "request differs"));
    drudge_result_clear(&res);
    drudge_host_free(h);
}

static void test_cookies_per_attempt(void **state)
{
    fixture *f = *state;
    const char *path =
        write_script(f, "cookies.lua",
                     "local http = require 'drudge.http'\n"
                     "return { run = function(task)\n"
                     "  if task.attempt == 1 then\n"
                     "    http.get(task.input.base .. '/cookies/set')\n"
                     "  end\n"
                     "  return http.get(task.input.base .. '/cookies'):json().cookie\n"
                     "end }\n");
    drudge_host *h = new_host();
    drudge_result res = {0};
    run(h, path, f->input, 1, &res);
    assert_string_equal(res.output, "\"sid=[REDACTED:cookie]\""); /* output is redacted too */
    drudge_result_clear(&res);
    /* the same worker, the next attempt: the session is gone */
    run(h, path, f->input, 2, &res);
    assert_int_equal(res.outcome, DRUDGE_DONE);
    assert_string_equal(res.output, "\"\"");
    drudge_result_clear(&res);
    drudge_host_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_record_then_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_divergence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cookies_per_attempt, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_http.c: drudge.http's C parts: Retry-After parsing, redaction rules,
 * UTF-8 checks and the process-wide per-host limits (token bucket and
 * concurrency cap, also across threads, and the limits file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lauxlib.h>
#include <lualib.h>
#include "connectors/http/http.h"
#include "connectors/http/httpint.h"
#include "drudge/util.h"

static void test_retry_after(void **state)
{
    int64_t now = (int64_t)1445412480 * 1000000; /* Wed, 21 Oct 2015 07:28:00 GMT */
    assert_true(drudge_http_retry_after("120", now) == 120);
    assert_true(drudge_http_retry_after(" 5 \r\n", now) == 5);
    assert_true(drudge_http_retry_after("0", now) == 0);
    assert_true(drudge_http_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now) == 30);
    assert_true(drudge_http_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now) == 0);
    assert_true(drudge_http_retry_after("soon", now) == -1);
    assert_true(drudge_http_retry_after("12abc", now) == -1);
    /* delay-seconds is digits only: no hex, exponents or fractions */
    assert_true(drudge_http_retry_after("0x10", now) == -1);
    assert_true(drudge_http_retry_after("1e3", now) == -1);
    assert_true(drudge_http_retry_after("1.5", now) == -1);
    double huge = drudge_http_retry_after("9999999999999999999999999999999999", now);
    assert_true(huge > 1e15 && huge < 1e17); /* finite, beyond any bound */
    assert_true(drudge_http_retry_after(NULL, now) == -1);
}

static void test_secret_headers(void **state)
{
    const char *yes[] = {"Authorization", "authorization", "Cookie", "SET-COOKIE",
                         "Proxy-Authorization"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        assert_true(drudge_http_header_is_secret(yes[i], strlen(yes[i])));
    const char *no[] = {"Content-Type", "Cookies", "X-Authorization-Id", "Set"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(drudge_http_header_is_secret(no[i], strlen(no[i])));
    /* the length counts, not a NUL */
    assert_true(drudge_http_header_is_secret("Cookie: x", 6));
}

static void redact(const char *in, const char *want)
{
    drudge_buf b = {0};
    drudge_http_redact_url(in, &b);
    assert_string_equal(b.data ? b.data : "", want);
    drudge_buf_free(&b);
}

static void test_redact_url(void **state)
{
    redact("https://cms.example/a?b=1", "https://cms.example/a?b=1");
    redact("https://bob:hunter2@cms.example/a", "https://[REDACTED]@cms.example/a");
    redact("http://token@h:8080/?q=@x", "http://[REDACTED]@h:8080/?q=@x");
    redact("https://h/p#frag", "https://h/p");
    redact("https://u:p@h/p?x=1#f@g", "https://[REDACTED]@h/p?x=1");
}

static void test_utf8(void **state)
{
    assert_true(drudge_http_utf8_valid("plain", 5));
    const char *mixed = "Zo\xc3\xab \xe2\x82\xac \xf0\x9f\x98\x80";
    assert_true(drudge_http_utf8_valid(mixed, strlen(mixed)));
    assert_false(drudge_http_utf8_valid("a\0b", 3));         /* NUL */
    assert_false(drudge_http_utf8_valid("\xc3", 1));         /* truncated */
    assert_false(drudge_http_utf8_valid("\xc0\xaf", 2));     /* overlong */
    assert_false(drudge_http_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
    assert_false(drudge_http_utf8_valid("\xff", 1));
}

static void test_limit_concurrency(void **state)
{
    drudge_err err = {0};
    drudge_http_limits_clear();
    assert_int_equal(drudge_http_limit_set("cms.example", 0, 2, 0, &err), DRUDGE_OK);
    drudge_http_limit *a, *b, *c, *other;
    assert_int_equal(drudge_http_limit_acquire("CMS.example", 443, 0, &a, NULL, &err), DRUDGE_OK);
    assert_non_null(a);
    assert_int_equal(drudge_http_limit_acquire("cms.example", 8443, 0, &b, NULL, &err), DRUDGE_OK);
    /* a third would wait; with no time left it fails at once, naming the host */
    assert_int_equal(drudge_http_limit_acquire("cms.example", 443, 0, &c, NULL, &err),
                     DRUDGE_ECONNECT);
    assert_null(c);
    assert_non_null(strstr(err.msg, "no free connection slot for cms.example (concurrent=2)"));
    /* other hosts are not limited */
    assert_int_equal(drudge_http_limit_acquire("evidence.example", 443, 0, &other, NULL, &err),
                     DRUDGE_OK);
    assert_null(other);
    drudge_http_limit_release(a);
    assert_int_equal(drudge_http_limit_acquire("cms.example", 443, 0, &c, NULL, &err), DRUDGE_OK);
    drudge_http_limit_release(b);
    drudge_http_limit_release(c);
    drudge_http_limit_release(NULL);
    drudge_http_limits_clear();
}

static void test_limit_rate_and_port(void **state)
{
    drudge_err err = {0};
    drudge_http_limits_clear();
    /* one request per 1000 s, burst 2; host:port is more specific than host */
    assert_int_equal(drudge_http_limit_set("api.example:8443", 0.001, 0, 2, &err), DRUDGE_OK);
    assert_int_equal(drudge_http_limit_set("api.example", 0, 1, 1, &err), DRUDGE_OK);
    drudge_http_limit *s;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(drudge_http_limit_acquire("api.example", 8443, 0, &s, NULL, &err),
                         DRUDGE_OK);
        drudge_http_limit_release(s);
    }
    /* the bucket is empty: the wait (~1000 s) is past any deadline we give */
    assert_int_equal(drudge_http_limit_acquire("api.example", 8443, 60, &s, NULL, &err),
                     DRUDGE_ECONNECT);
    assert_non_null(strstr(err.msg, "rate limit for api.example:8443"));
    assert_int_equal(drudge_http_limit_acquire("api.example", 443, 0, &s, NULL, &err), DRUDGE_OK);
    drudge_http_limit_release(s);
    /* setting again replaces the limit */
    assert_int_equal(drudge_http_limit_set("api.example:8443", 0, 0, 1, &err), DRUDGE_OK);
    assert_int_equal(drudge_http_limit_acquire("api.example", 8443, 0, &s, NULL, &err), DRUDGE_OK);
    drudge_http_limit_release(s);
    assert_int_equal(drudge_http_limit_set("", 1, 1, 1, &err), DRUDGE_EUSAGE);
    assert_int_equal(drudge_http_limit_set("https://x/", 1, 1, 1, &err), DRUDGE_EUSAGE);
    drudge_http_limits_clear();
}

typedef struct shared {
    pthread_mutex_t mu;
    int in, max;
} shared;

static shared sh = {PTHREAD_MUTEX_INITIALIZER, 0, 0};

static void *worker(void *arg)
{
    for (int i = 0; i < 200; i++) {
        drudge_http_limit *s;
        drudge_err err = {0};
        if (drudge_http_limit_acquire("busy.example", 80, 30, &s, NULL, &err) != DRUDGE_OK)
            return "acquire failed";
        pthread_mutex_lock(&sh.mu);
        if (++sh.in > sh.max)
            sh.max = sh.in;
        pthread_mutex_unlock(&sh.mu);
        sched_yield();
        pthread_mutex_lock(&sh.mu);
        sh.in--;
        pthread_mutex_unlock(&sh.mu);
        drudge_http_limit_release(s);
    }
    return NULL;
}

/* Six threads hammering a host capped at 2: never more than 2 inside. */
static void test_limit_threads(void **state)
{
    drudge_err err = {0};
    drudge_http_limits_clear();
    assert_int_equal(drudge_http_limit_set("busy.example", 0, 2, 1, &err), DRUDGE_OK);
    pthread_t t[6];
    for (int i = 0; i < 6; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < 6; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        assert_null(ret);
    }
    assert_true(sh.max >= 1 && sh.max <= 2);
    assert_int_equal(sh.in, 0);
    drudge_http_limits_clear();
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_limits_file(void **state)
{
    char path[] = "/tmp/drudge-limits.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    drudge_err err = {0};
    drudge_http_limits_clear();
    write_file(path, "# limits\n\ncms.example per_second=5 concurrent=1  # fragile\n"
                     "evidence.example:8443\tper_minute=30 burst=3\n");
    assert_int_equal(drudge_http_limits_load(path, &err), DRUDGE_OK);
    drudge_http_limit *a, *b;
    assert_int_equal(drudge_http_limit_acquire("cms.example", 443, 0, &a, NULL, &err), DRUDGE_OK);
    assert_non_null(a);
    assert_int_equal(drudge_http_limit_acquire("cms.example", 443, 0, &b, NULL, &err),
                     DRUDGE_ECONNECT); /* concurrent=1 */
    drudge_http_limit_release(a);

    write_file(path, "ok.example per_second=1\nbad.example per_sec=5\n");
    assert_int_equal(drudge_http_limits_load(path, &err), DRUDGE_EINPUT);
    char want[128];
    snprintf(want, sizeof want, "%s:2: 'per_sec=5' is not", path);
    assert_non_null(strstr(err.msg, want));
    write_file(path, "lonely.example\n");
    assert_int_equal(drudge_http_limits_load(path, &err), DRUDGE_EINPUT);
    assert_non_null(strstr(err.msg, ":1: host 'lonely.example' has no limits"));
    write_file(path, "x.example concurrent=1.5\n");
    assert_int_equal(drudge_http_limits_load(path, &err), DRUDGE_EINPUT);
    unlink(path);
    assert_int_equal(drudge_http_limits_load(path, &err), DRUDGE_EIO);
    assert_non_null(strstr(err.msg, path));
    drudge_http_limits_clear();
}

/* r.links: several fields, several links per field, quoted and multiple
 * relations, commas inside URLs, relative targets, garbage skipped. */
static void test_links(void **state)
{
    (void)state;
    lua_State *L = luaL_newstate();
    static const char raw[] =
        "HTTP/1.1 200 OK\r\n"
        "Link: <https://api.example/items?page=2&x=a,b>; rel=\"next\", </items?page=9>; "
        "rel=\"LAST end\"\r\n"
        "link: garbage, <page1>; title=\"a, b\"; rel=prev\r\n"
        "Link: <//cdn.example/x>; rel=alternate; rel=ignored\r\n"
        "Link: <https://other.example/2>; rel=next\r\n";
    int top = lua_gettop(L);
    http_push_links(L, raw, sizeof raw - 1, "https://api.example/v1/items?page=1");
    assert_int_equal(lua_gettop(L), top + 1);
    static const char *const want[][2] = {
        {"next", "https://api.example/items?page=2&x=a,b"}, /* the first link of a rel wins */
        {"last", "https://api.example/items?page=9"},
        {"end", "https://api.example/items?page=9"},
        {"prev", "https://api.example/v1/page1"},
        {"alternate", "https://cdn.example/x"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        lua_getfield(L, -1, want[i][0]);
        if (!lua_isstring(L, -1) || strcmp(lua_tostring(L, -1), want[i][1]))
            fail_msg("links.%s: got %s, want %s", want[i][0], lua_tostring(L, -1), want[i][1]);
        lua_pop(L, 1);
    }
    lua_getfield(L, -1, "ignored");
    assert_true(lua_isnil(L, -1));
    lua_settop(L, top);
    http_push_links(L, NULL, 0, "https://x/");
    lua_pushnil(L);
    assert_int_equal(lua_next(L, -2), 0);
    lua_close(L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_secret_headers),
        cmocka_unit_test(test_redact_url),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_limit_concurrency),
        cmocka_unit_test(test_limit_rate_and_port),
        cmocka_unit_test(test_limit_threads),
        cmocka_unit_test(test_limits_file),
        cmocka_unit_test(test_links),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

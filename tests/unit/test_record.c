/* test_record.c: the recorder: redaction (secrets in every form, credential
 * keys, patterns and the built-ins, pattern files), the step tree, and the
 * replay comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "drudge/error.h"
#include "drudge/record.h"
#include "drudge/util.h"

/* Asserts that redacting in gives want. */
static void redacts(drudge_rec *r, const char *in, const char *want)
{
    char *got = drudge_rec_redact(r, in);
    if (strcmp(got, want) != 0)
        fail_msg("redact(%s)\n got: %s\nwant: %s", in, got, want);
    free(got);
}

static void test_secret_values_in_every_form(void **state)
{
    (void)state;
    drudge_rec *r = drudge_rec_new();
    drudge_rec_reset(r, 1, 1);
    int root = drudge_rec_begin(r, "task", "t", NULL);
    drudge_rec_add_secret(r, "TOKEN", "ab\"c d/é");
    drudge_rec_add_secret(r, "PIN", "123"); /* too short: ignored */
    drudge_rec_add_secret(r, "DERIVED", "Bearer [REDACTED:TOKEN]");
    redacts(r, "x ab\"c d/é y", "x [REDACTED:TOKEN] y");
    redacts(r, "{\"v\":\"ab\\\"c d/é\"}", "{\"v\":\"[REDACTED:TOKEN]\"}");
    redacts(r, "GET /x?t=ab%22c%20d%2F%C3%A9&u=1", "GET /x?t=[REDACTED:TOKEN]&u=1");
    redacts(r, "pin 123", "pin 123");
    redacts(r, "Bearer [REDACTED:TOKEN]", "Bearer [REDACTED:TOKEN]");
    /* Everything recorded goes through it: name, request, response, error. */
    int s = drudge_rec_begin(r, "http", "GET ab\"c d/é", "{\"q\":\"ab\\\"c d/é\"}");
    drudge_rec_end(r, s, "error", "{\"echo\":\"ab\\\"c d/é\"}", "failed with ab\"c d/é");
    const drudge_step *st = drudge_rec_step(r, 1);
    assert_string_equal(st->name, "GET [REDACTED:TOKEN]");
    assert_string_equal(st->request, "{\"q\":\"[REDACTED:TOKEN]\"}");
    assert_string_equal(st->response, "{\"echo\":\"[REDACTED:TOKEN]\"}");
    assert_string_equal(st->error, "failed with [REDACTED:TOKEN]");
    drudge_rec_end(r, root, "done", NULL, NULL);
    drudge_rec_free(r);
}

static void test_secrets_of_an_attempt_are_forgotten_top_level_kept(void **state)
{
    (void)state;
    drudge_rec *r = drudge_rec_new();
    drudge_rec_add_secret(r, "TOP", "top-level-value"); /* no attempt running */
    drudge_rec_reset(r, 1, 1);
    int root = drudge_rec_begin(r, "task", "t", NULL);
    drudge_rec_add_secret(r, "COOKIE", "session-cookie-1");
    redacts(r, "top-level-value session-cookie-1", "[REDACTED:TOP] [REDACTED:COOKIE]");
    drudge_rec_end(r, root, "done", NULL, NULL);
    drudge_rec_reset(r, 2, 1);
    redacts(r, "top-level-value session-cookie-1", "[REDACTED:TOP] session-cookie-1");
    drudge_rec_free(r);
}

static void test_credential_keys_safety_net(void **state)
{
    (void)state;
    drudge_rec *r = drudge_rec_new();
    drudge_rec_reset(r, 1, 1);
    int s = drudge_rec_begin(
        r, "http", "POST x",
        "{\"headers\":{\"Authorization\":\"Bearer abc\",\"X-Note\":\"authorization\"},"
        "\"form\":{\"PassWord\" : \"hunter2\",\"user\":\"u\"},\"cookie\":\"[REDACTED:cookie]\"}");
    drudge_rec_end(r, s, "ok",
                   "{\"status\":200,\"headers\":[[\"Set-Cookie\",\"sid=1; Path=/\"],[\"Content-"
                   "Type\",\"text/plain\"],[\"X\",\"cookie\"]],\"body\":\"a \\\"password\\\": "
                   "\\\"x\\\"\"}",
                   NULL);
    const drudge_step *st = drudge_rec_step(r, 0);
    assert_string_equal(st->request,
                        "{\"headers\":{\"Authorization\":\"[REDACTED:authorization]\",\"X-Note\":"
                        "\"authorization\"},\"form\":{\"PassWord\" : \"[REDACTED:password]\","
                        "\"user\":\"u\"},\"cookie\":\"[REDACTED:cookie]\"}");
    /* Pairs in arrays are caught; a value that merely says "cookie", and text
     * inside a string that looks like JSON, are left alone. */
    assert_string_equal(st->response,
                        "{\"status\":200,\"headers\":[[\"Set-Cookie\",\"[REDACTED:set-cookie]\"],"
                        "[\"Content-Type\",\"text/plain\"],[\"X\",\"cookie\"]],\"body\":\"a "
                        "\\\"password\\\": \\\"x\\\"\"}");
    /* Log lines are not JSON summaries of a call: left as they are. */
    redacts(r, "{\"Authorization\":\"x\"}", "{\"Authorization\":\"x\"}");
    drudge_rec_free(r);
}

static void test_patterns_and_builtins(void **state)
{
    (void)state;
    drudge_rec *r = drudge_rec_new();
    assert_int_equal(drudge_rec_enable_builtin(r, "email"), 0);
    assert_int_equal(drudge_rec_enable_builtin(r, "uk_nino"), 0);
    assert_int_equal(drudge_rec_enable_builtin(r, "ssn"), -1);
    assert_int_equal(drudge_rec_add_pattern(r, "case", "CPS-[0-9]{6}"), 0);
    assert_int_equal(drudge_rec_add_pattern(r, "bad", "(x"), -1);
    redacts(r, "mail jane.doe+x@mail.example.co.uk now", "mail [REDACTED:email] now");
    redacts(r, "a@b not an address", "a@b not an address");
    redacts(r, "NI QQ123456C, qq 12 34 56 d; AB123456CD no; AB12345C no",
            "NI [REDACTED:uk_nino], [REDACTED:uk_nino]; AB123456CD no; AB12345C no");
    redacts(r, "CPS-123456 and CPS-12345", "[REDACTED:case] and CPS-12345");
    /* Patterns apply to payloads too, before hashing. */
    char sha[65], want[65];
    drudge_rec_reset(r, 1, 1);
    drudge_rec_payload(r, "to jane@example.org", 19, "text/plain", sha);
    drudge_sha256_hex("to [REDACTED:email]", 19, want);
    assert_string_equal(sha, want);
    assert_int_equal(drudge_rec_payload_count(r), 1);
    assert_memory_equal(drudge_rec_payload_at(r, 0)->data, "to [REDACTED:email]", 19);
    /* ... but not to binary ones; a secret's bytes are replaced even there. */
    drudge_rec_payload(r, "jane@example.org", 16, "image/png", sha);
    drudge_sha256_hex("jane@example.org", 16, want);
    assert_string_equal(sha, want);
    drudge_rec_add_secret(r, "KEY", "s3cret-bytes");
    drudge_rec_payload(r, "\x89PNG\0s3cret-bytes\0", 18, "application/octet-stream", sha);
    const drudge_payload *bin = drudge_rec_payload_at(r, 2);
    assert_int_equal(bin->len, 20);
    assert_memory_equal(bin->data, "\x89PNG\0[REDACTED:KEY]\0", 20);
    drudge_rec_free(r);
}

/* A pattern never matches inside the marks of those before it (nor of
 * secrets): a broad pattern after another grew the text by a mark for
 * every byte, pattern after pattern. */
static void test_patterns_skip_marks(void **state)
{
    (void)state;
    drudge_rec *r = drudge_rec_new();
    assert_int_equal(drudge_rec_add_pattern(r, "card", "CPS-[0-9]+"), 0);
    assert_int_equal(drudge_rec_add_pattern(r, "lbl", "card"), 0);
    redacts(r, "CPS-1 card", "[REDACTED:card] [REDACTED:lbl]");
    drudge_rec_free(r);

    r = drudge_rec_new();
    assert_int_equal(drudge_rec_add_pattern(r, "low", "[a-z]"), 0);
    assert_int_equal(drudge_rec_add_pattern(r, "up", "[A-Z]"), 0);
    redacts(r, "aB", "[REDACTED:low][REDACTED:up]");
    drudge_rec_add_secret(r, "TOKEN", "s3cr3t");
    redacts(r, "9s3cr3t9", "9[REDACTED:TOKEN]9");
    drudge_rec_free(r);

    /* Text that only looks like a mark shields nothing. */
    r = drudge_rec_new();
    assert_int_equal(drudge_rec_enable_builtin(r, "email"), 0);
    redacts(r, "[REDACTED: see jane@example.org ]", "[REDACTED: see [REDACTED:email] ]");
    redacts(r, "[REDACTED:x]jane@example.org]", "[REDACTED:x][REDACTED:email]]");
    drudge_rec_free(r);

    /* Empty matches (a word boundary) hide nothing and lose no byte, next
     * to a mark too. */
    r = drudge_rec_new();
    assert_int_equal(drudge_rec_add_pattern(r, "q", "q|\\b"), 0);
    redacts(r, "ab q [REDACTED:k] zq", "ab [REDACTED:q] [REDACTED:k] z[REDACTED:q]");
    drudge_rec_free(r);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_pattern_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/drudge-redact.XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/redact.conf", dir);
    drudge_err err = {0};
    drudge_rec *r = drudge_rec_new();

    write_file(path, "# comment\n\n  case_ref = CPS-[0-9]{6}  \nemail  # built-in\n"
                     "phone = \\<0[0-9]{10}\\>\n");
    assert_int_equal(drudge_rec_load_patterns(r, path, &err), DRUDGE_OK);
    redacts(r, "CPS-000001 x@y.org 07700900123",
            "[REDACTED:case_ref] [REDACTED:email] "
            "[REDACTED:phone]");
    drudge_rec_free(r);

    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"ok = a\nbroken = (x\n", "redact.conf:2: pattern 'broken' ((x): "},
        {"nope\n", "redact.conf:1: 'nope' is not a built-in pattern"},
        {"bad label = x\n", "redact.conf:1: label 'bad label' must be"},
        {"empty =\n", "redact.conf:1: pattern 'empty' has no regex"},
        {"star = a*\n", "redact.conf:1: pattern 'star' (a*): it matches the empty string"},
        {"stack = x5++++++++++++++++++++++++++++++\n",
         "pattern 'stack' (x5++++++++++++++++++++++++++++++): its repetitions multiply"},
        {"nest = ((a{100}){100}){100}\n", "pattern 'nest' (((a{100}){100}){100}): its repetitions"},
        {"coll = [[.x.]]5++++++++++++++++++++++++++++++\n", "pattern 'coll' ([[.x.]]5+"},
        {"stars = x[a-z]**************+****\n", "a repetition follows another"},
        {"plus = (ab)+?\n", "pattern 'plus' ((ab)+?): a repetition follows another"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i].text);
        r = drudge_rec_new();
        assert_int_equal(drudge_rec_load_patterns(r, path, &err), DRUDGE_EINPUT);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("%s: got %s", bad[i].text, err.msg);
        drudge_rec_free(r);
    }
    r = drudge_rec_new();
    snprintf(path, sizeof path, "%s/missing.conf", dir);
    assert_int_equal(drudge_rec_load_patterns(r, path, &err), DRUDGE_EIO);
    assert_non_null(strstr(err.msg, "missing.conf"));
    drudge_rec_free(r);
    /* The fuzzer's patterns file whose patterns each match every byte:
     * the redacted text stays a mark per byte of the original. */
    static const char fuzzed[] =
        "\ncard = \\b[\xff\xff\xff\xffSE-[\xff\xff\xffSE-['--[\xff\xff\xff'-\x8a"
        "9]\v\n"
        "jar = \\b[\xff\xff\xff\xffSE-[1-\x8a"
        "8]\v\njard = \\b[\xff\xff\xff'-\x8a"
        "9]\v\n"
        "jar = \\b[\xff\xff\xff\xffSE-[1-\x8a"
        "8]\v\njard = 4|\\b\n";
    snprintf(path, sizeof path, "%s/redact.conf", dir);
    write_file(path, fuzzed);
    r = drudge_rec_new();
    assert_int_equal(drudge_rec_load_patterns(r, path, &err), DRUDGE_OK);
    const char *text = "case AB123456C for jo@example.org: {\"password\":\"x\"}";
    char *out = drudge_rec_redact(r, text);
    if (strlen(out) > strlen(text) * sizeof "[REDACTED:card]")
        fail_msg("redacted to %zu bytes from %zu: %.200s", strlen(out), strlen(text), out);
    free(out);
    drudge_rec_free(r);
    snprintf(path, sizeof path, "%s/redact.conf", dir);
    unlink(path);
    rmdir(dir);
}

static void test_tree_and_flush_marks(void **state)
{
    (void)state;
    drudge_rec *r = drudge_rec_new();
    char sha[65];
    drudge_rec_reset(r, 7, 2);
    int root = drudge_rec_begin(r, "task", "t", NULL);
    int a = drudge_rec_begin(r, "step", "a", NULL);
    int b = drudge_rec_begin(r, "http", "GET x", NULL);
    drudge_rec_payload(r, "body", 4, "text/plain", sha);
    drudge_rec_payload(r, "body", 4, "text/plain", sha); /* stored once */
    drudge_rec_end(r, a, "error", NULL, "boom");         /* closes b too */
    drudge_rec_event(r, "log", "info", "{\"message\":\"x\"}");
    drudge_rec_end(r, root, "error", NULL, "boom");
    assert_int_equal(drudge_rec_count(r), 4);
    assert_int_equal(drudge_rec_payload_count(r), 1);
    assert_int_equal(drudge_rec_step(r, b - 1)->parent, a);
    assert_string_equal(drudge_rec_step(r, b - 1)->outcome, "error");
    assert_true(drudge_rec_step(r, b - 1)->duration_us >= 0);
    assert_int_equal(drudge_rec_step(r, 3)->parent, root);
    drudge_rec_mark_flushed(r, 4);
    drudge_rec_mark_payloads_flushed(r, 1);
    drudge_rec_mark_flushed(r, 0); /* a rollback: everything again */
    assert_int_equal(drudge_rec_payloads_flushed(r), 0);
    drudge_rec_free(r);
}

/* Builds a recording of: task, step "a" (ok), http "GET x" under it. */
static drudge_step *recording(size_t *n)
{
    drudge_rec *r = drudge_rec_new();
    drudge_rec_reset(r, 1, 1);
    int root = drudge_rec_begin(r, "task", "t", "{\"input\":null}");
    int a = drudge_rec_begin(r, "step", "a", NULL);
    int h = drudge_rec_begin(r, "http", "GET x", "{\"url\":\"x\"}");
    drudge_rec_end(r, h, "ok", "{\"status\":200}", NULL);
    drudge_rec_end(r, a, "ok", NULL, NULL);
    drudge_rec_end(r, root, "done", NULL, NULL);
    *n = drudge_rec_count(r);
    drudge_step *steps = calloc(*n, sizeof *steps);
    for (size_t i = 0; i < *n; i++)
        drudge_step_copy(&steps[i], drudge_rec_step(r, i));
    drudge_rec_free(r);
    return steps;
}

/* Replays with a callback making the calls; returns the divergence (caller frees). */
static char *replay(void (*script)(drudge_rec *r))
{
    size_t n;
    drudge_step *steps = recording(&n);
    drudge_rec *r = drudge_rec_new();
    drudge_rec_replay_load(r, steps, n, NULL, 0);
    assert_true(drudge_rec_replaying(r));
    drudge_rec_reset(r, 1, 1);
    script(r);
    drudge_rec_replay_check_end(r);
    char *d = strdup(drudge_rec_divergence(r));
    drudge_rec_free(r);
    return d;
}

static int http_call(drudge_rec *r, const char *name, const char *req)
{
    int h = drudge_rec_begin(r, "http", name, req);
    const char *resp = drudge_rec_replay_response(r, h);
    drudge_rec_end(r, h, resp ? "ok" : "error", resp, resp ? NULL : "no recording");
    return resp != NULL;
}

static void same(drudge_rec *r)
{
    int root = drudge_rec_begin(r, "task", "t", "{\"input\":null}");
    int a = drudge_rec_begin(r, "step", "a", NULL);
    assert_true(http_call(r, "GET x", "{\"url\":\"x\"}"));
    drudge_rec_end(r, a, "ok", NULL, NULL);
    drudge_rec_end(r, root, "done", NULL, NULL);
}
static void other_url(drudge_rec *r)
{
    int root = drudge_rec_begin(r, "task", "t", "{\"input\":null}");
    int a = drudge_rec_begin(r, "step", "a", NULL);
    assert_false(http_call(r, "GET x", "{\"url\":\"y\"}")); /* no response after a divergence */
    drudge_rec_end(r, a, "error", NULL, "no recording");
    drudge_rec_end(r, root, "error", NULL, "no recording");
}
static void outcome_changed(drudge_rec *r)
{
    int root = drudge_rec_begin(r, "task", "t", "{\"input\":null}");
    int a = drudge_rec_begin(r, "step", "a", NULL);
    http_call(r, "GET x", "{\"url\":\"x\"}");
    drudge_rec_end(r, a, "fail", NULL, "changed");
    drudge_rec_end(r, root, "failed", NULL, "changed");
}
static void stops_early(drudge_rec *r)
{
    int root = drudge_rec_begin(r, "task", "t", "{\"input\":null}");
    int a = drudge_rec_begin(r, "step", "a", NULL);
    drudge_rec_end(r, a, "ok", NULL, NULL);
    drudge_rec_end(r, root, "done", NULL, NULL);
}
static void goes_on(drudge_rec *r)
{
    same(r);
    drudge_rec_event(r, "log", "info", "{\"message\":\"more\"}");
}

static void test_replay_comparison(void **state)
{
    (void)state;
    char *d = replay(same);
    assert_string_equal(d, "");
    free(d);
    d = replay(other_url);
    assert_string_equal(d,
                        "step 3: request differs: expected http \"GET x\" {\"url\":\"x\"} (under "
                        "step 2), got http \"GET x\" {\"url\":\"y\"} (under step 2)");
    free(d);
    d = replay(outcome_changed);
    assert_string_equal(d, "step 2 (step \"a\"): outcome differs: expected ok, got fail");
    free(d);
    d = replay(stops_early);
    assert_non_null(strstr(d, "step 3: expected http \"GET x\""));
    assert_non_null(strstr(d, "but the attempt ended after 2 steps"));
    free(d);
    d = replay(goes_on);
    assert_string_equal(d, "step 4: the recording ends at step 3, but the script made log \"info\" "
                           "{\"message\":\"more\"}");
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_values_in_every_form),
        cmocka_unit_test(test_secrets_of_an_attempt_are_forgotten_top_level_kept),
        cmocka_unit_test(test_credential_keys_safety_net),
        cmocka_unit_test(test_patterns_and_builtins),
        cmocka_unit_test(test_patterns_skip_marks),
        cmocka_unit_test(test_pattern_files),
        cmocka_unit_test(test_tree_and_flush_marks),
        cmocka_unit_test(test_replay_comparison),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_queue_bulk.c: the backlog readers: CSV (RFC 4180) and JSONL, their
 * rows, keys, and errors naming file and line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "runner/queue/bulk.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/drudge-bulk.XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

/* Writes content to dir/name and opens it. */
static drudge_bulk *open_file(const char *name, const char *content, size_t len,
                              const char *key_field, drudge_err *err)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(content, 1, len, f);
    fclose(f);
    return drudge_bulk_open(path, DRUDGE_BULK_AUTO, key_field, err);
}

#define OPEN(name, lit, key, err) open_file(name, lit, sizeof lit - 1, key, err)

static void test_csv_rfc4180(void **state)
{
    (void)state;
    drudge_err err = {0};
    /* BOM, CRLF, quoted commas, doubled quotes, an embedded newline, a blank
     * line, UTF-8, and no newline at the end. */
    drudge_bulk *b = OPEN("a.csv",
                          "\xef\xbb\xbfref,subject,note\r\n"
                          "R1,\"Hello, world\",plain\r\n"
                          "R2,\"say \"\"hi\"\"\",\"two\nlines\"\r\n"
                          "\r\n"
                          "R3,Zoë,\n"
                          "R4,\"\",last",
                          "ref", &err);
    assert_non_null(b);
    drudge_bulk_row row;
    assert_int_equal(drudge_bulk_next(b, &row, &err), 1);
    assert_string_equal(row.input,
                        "{\"ref\":\"R1\",\"subject\":\"Hello, world\",\"note\":\"plain\"}");
    assert_string_equal(row.key, "R1");
    assert_int_equal(row.line, 2);
    assert_int_equal(drudge_bulk_next(b, &row, &err), 1);
    assert_string_equal(row.input,
                        "{\"ref\":\"R2\",\"subject\":\"say \\\"hi\\\"\",\"note\":\"two\\nlines\"}");
    assert_int_equal(row.line, 3);
    assert_int_equal(drudge_bulk_next(b, &row, &err), 1);
    assert_string_equal(row.input, "{\"ref\":\"R3\",\"subject\":\"Zoë\",\"note\":\"\"}");
    assert_int_equal(row.line, 6);
    assert_int_equal(drudge_bulk_next(b, &row, &err), 1);
    assert_string_equal(row.input, "{\"ref\":\"R4\",\"subject\":\"\",\"note\":\"last\"}");
    assert_int_equal(row.line, 7);
    assert_int_equal(drudge_bulk_next(b, &row, &err), 0);
    drudge_bulk_free(b);
}

static void expect_row_error(const char *name, const char *content, size_t len, int good_rows,
                             const char *where, const char *what)
{
    drudge_err err = {0};
    drudge_bulk *b = open_file(name, content, len, NULL, &err);
    assert_non_null(b);
    drudge_bulk_row row;
    for (int i = 0; i < good_rows; i++)
        assert_int_equal(drudge_bulk_next(b, &row, &err), 1);
    assert_int_equal(drudge_bulk_next(b, &row, &err), -1);
    assert_int_equal(err.code, DRUDGE_EINPUT);
    if (!strstr(err.msg, where) || !strstr(err.msg, what))
        fail_msg("error '%s' should contain '%s' and '%s'", err.msg, where, what);
    drudge_bulk_free(b);
}

#define ROW_ERROR(name, lit, good, where, what)                                                    \
    expect_row_error(name, lit, sizeof lit - 1, good, where, what)

static void test_csv_errors(void **state)
{
    (void)state;
    ROW_ERROR("f.csv", "a,b\n1,2\n3\n", 1, "f.csv:3:", "1 field, but the header has 2");
    ROW_ERROR("g.csv", "a,b\n1,2\n\"3,4\n5,6\n", 1, "g.csv:3:", "never closed");
    ROW_ERROR("h.csv", "a,b\nx\"y,2\n", 0, "h.csv:2:", "quote inside an unquoted field");
    ROW_ERROR("i.csv", "a,b\n\"x\"y,2\n", 0, "i.csv:2:", "text after a closing quote");
    ROW_ERROR("j.csv", "a,b\n\xff\xfe,2\n", 0, "j.csv:2:", "not valid UTF-8");
    /* A record spanning lines is reported at its first line; the next after it. */
    ROW_ERROR("k.csv", "a,b\n\"multi\nline\",2\n1,2,3\n", 1, "k.csv:4:", "3 fields");

    /* After an error, reading goes on with the next record (--skip-invalid). */
    drudge_err err = {0};
    drudge_bulk *b = OPEN("l.csv", "a,b\n1\n2,3\n", NULL, &err);
    drudge_bulk_row row;
    assert_int_equal(drudge_bulk_next(b, &row, &err), -1);
    assert_int_equal(drudge_bulk_next(b, &row, &err), 1);
    assert_int_equal(row.line, 3);
    drudge_bulk_free(b);

    /* Header problems stop the load at open. */
    assert_null(OPEN("m.csv", "a,,b\n1,2,3\n", NULL, &err));
    assert_non_null(strstr(err.msg, "m.csv:1: header field 2 is empty"));
    assert_null(OPEN("n.csv", "a,b,a\n", NULL, &err));
    assert_non_null(strstr(err.msg, "column 'a' appears twice"));
    assert_null(OPEN("o.csv", "a,b\n1,2\n", "ref", &err));
    assert_non_null(strstr(err.msg, "--key-field ref: no such column (the header has: a, b)"));
    assert_null(OPEN("p.csv", "", NULL, &err));
    assert_non_null(strstr(err.msg, "header row"));
    assert_null(OPEN("q.txt", "a\n", NULL, &err));
    assert_non_null(strstr(err.msg, "--format"));
    assert_null(OPEN("r.csv", "a,b\n1,\0\n", NULL, &err));
    assert_non_null(strstr(err.msg, "r.csv:2: a NUL byte"));
}

static void test_jsonl(void **state)
{
    (void)state;
    drudge_err err = {0};
    drudge_bulk *b = OPEN("a.jsonl",
                          "{\"ref\":\"A\\u00e9\",\"n\":1}\n"
                          "\n"
                          "  {\"n\":2,\"ref\":42,\"nested\":{\"ref\":\"no\"}}  \r\n"
                          "{\"ref\":\"x\\\"y\",\"list\":[1,2.5e3,-0.1,true,false,null]}",
                          "ref", &err);
    assert_non_null(b);
    drudge_bulk_row row;
    assert_int_equal(drudge_bulk_next(b, &row, &err), 1);
    assert_string_equal(row.key, "Aé");
    assert_string_equal(row.input, "{\"ref\":\"A\\u00e9\",\"n\":1}");
    assert_int_equal(drudge_bulk_next(b, &row, &err), 1);
    assert_string_equal(row.key, "42");
    assert_int_equal(row.line, 3);
    assert_string_equal(row.input, "{\"n\":2,\"ref\":42,\"nested\":{\"ref\":\"no\"}}");
    assert_int_equal(drudge_bulk_next(b, &row, &err), 1);
    assert_string_equal(row.key, "x\"y");
    assert_int_equal(drudge_bulk_next(b, &row, &err), 0);
    drudge_bulk_free(b);

    ROW_ERROR("b.jsonl", "{\"a\":1}\n{\"a\":}\n", 1, "b.jsonl:2:", "invalid JSON at column 6");
    ROW_ERROR("c.jsonl", "{\"a\":1} x\n", 0, "c.jsonl:1:", "text after the JSON value");
    ROW_ERROR("d.jsonl", "{\"a\":\"\xc3\"}\n", 0, "d.jsonl:1:", "invalid UTF-8");
    ROW_ERROR("e.jsonl", "{\"a\":01}\n", 0, "e.jsonl:1:", "expected ',' or '}'");
    ROW_ERROR("f.jsonl", "[1,2,]\n", 0, "f.jsonl:1:", "unexpected text");
    ROW_ERROR("g.jsonl", "{\"a\":\"tab\there\"}\n", 0, "g.jsonl:1:", "control character");

    b = OPEN("h.jsonl", "{\"n\":1}\n[1]\n{\"ref\":null}\n{\"ref\":\"\"}\n", "ref", &err);
    assert_int_equal(drudge_bulk_next(b, &row, &err), -1);
    assert_non_null(strstr(err.msg, "h.jsonl:1: no key field 'ref'"));
    assert_int_equal(drudge_bulk_next(b, &row, &err), -1);
    assert_non_null(strstr(err.msg, "h.jsonl:2: a JSON object is needed"));
    assert_int_equal(drudge_bulk_next(b, &row, &err), -1);
    assert_non_null(strstr(err.msg, "must be a string or a number"));
    assert_int_equal(drudge_bulk_next(b, &row, &err), -1);
    assert_non_null(strstr(err.msg, "h.jsonl:4: key field 'ref' is empty"));
    assert_int_equal(drudge_bulk_next(b, &row, &err), 0);
    drudge_bulk_free(b);
}

static void test_json_check(void **state)
{
    (void)state;
    static const char *const good[] = {"0",    "-1.5E+3", "\"\\ud83d\\ude00\"",
                                       "[]",   "{}",      " {\"a\" : [ {} , [ ] ] } ",
                                       "null", "\"é\""};
    static const char *const bad[] = {"",
                                      "01",
                                      "1.",
                                      "+1",
                                      "[1 2]",
                                      "{\"a\" 1}",
                                      "'x'",
                                      "\"\\x\"",
                                      "nul",
                                      "{\"a\":1,}",
                                      "\"\xed\xa0\x80\"",
                                      "\"\\ud800\"",
                                      "\"\\udc00\"",
                                      "\"\\ud800x\"",
                                      "\"\\ud800\\u0041\"",
                                      "\"\\udc00\\ud800\""};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (drudge_json_check(good[i], strlen(good[i]), NULL))
            fail_msg("should accept %s", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (!drudge_json_check(bad[i], strlen(bad[i]), NULL))
            fail_msg("should reject %s", bad[i]);
    /* Depth is bounded, so a hostile line cannot exhaust the stack. */
    char deep[5001];
    memset(deep, '[', 5000);
    deep[5000] = '\0';
    assert_non_null(drudge_json_check(deep, 5000, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_rfc4180),
        cmocka_unit_test(test_csv_errors),
        cmocka_unit_test(test_jsonl),
        cmocka_unit_test(test_json_check),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

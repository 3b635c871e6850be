/* test_digest.c: SHA-256 (of memory, of a pair, of a file), base64 both
 * ways and random bytes (runner/util/util.c, through Nettle and getrandom):
 * the audit chain's hashes and the evidence files' digests depend on them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "drudge/util.h"

/* FIPS 180-2 examples. */
static void test_sha256_vectors(void **state)
{
    (void)state;
    char hex[65];
    drudge_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    drudge_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    drudge_sha256_hex(two, strlen(two), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* a pair hashes as its concatenation */
    char pair[65];
    drudge_sha256_pair_hex(two, 10, two + 10, strlen(two) - 10, pair);
    assert_string_equal(pair, hex);
}

static void test_sha256_file(void **state)
{
    (void)state;
    char path[] = "/tmp/drudge-digest-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    /* more than one 64 KiB read */
    size_t n = 200000;
    char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)(i * 7 + 3);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
    char want[65], got[65];
    int64_t size = -1;
    drudge_sha256_hex(data, n, want);
    assert_int_equal(drudge_sha256_file(path, got, &size), 0);
    assert_string_equal(got, want);
    assert_int_equal(size, (int64_t)n);
    unlink(path);
    errno = 0;
    assert_int_equal(drudge_sha256_file(path, got, &size), -1);
    assert_int_equal(errno, ENOENT);
    free(data);
}

/* RFC 4648, section 10. */
static void test_base64_vectors(void **state)
{
    (void)state;
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        drudge_buf b = {0};
        drudge_buf_puts(&b, "x:"); /* appends */
        drudge_base64(&b, plain[i], strlen(plain[i]));
        assert_int_equal(b.len, 2 + strlen(enc[i]));
        assert_string_equal(b.data + 2, enc[i]);
        drudge_buf_free(&b);
        unsigned char *out = NULL;
        size_t outlen = 99;
        assert_int_equal(drudge_unbase64(enc[i], strlen(enc[i]), &out, &outlen), 0);
        assert_int_equal(outlen, strlen(plain[i]));
        assert_memory_equal(out, plain[i], outlen);
        free(out);
    }
}

static void test_base64_binary_round_trip(void **state)
{
    (void)state;
    unsigned char data[256];
    for (int i = 0; i < 256; i++)
        data[i] = (unsigned char)(255 - i);
    drudge_buf b = {0};
    drudge_base64(&b, data, sizeof data);
    unsigned char *out = NULL;
    size_t outlen = 0;
    assert_int_equal(drudge_unbase64(b.data, b.len, &out, &outlen), 0);
    assert_int_equal(outlen, sizeof data);
    assert_memory_equal(out, data, sizeof data);
    free(out);
    drudge_buf_free(&b);
}

static void test_unbase64_refuses(void **state)
{
    (void)state;
    static const char *const bad[] = {"Zg", "Zm9", "Zm9v!", "Z===", "Zm9v\x80xyz"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char *out = (unsigned char *)"untouched";
        size_t outlen = 7;
        assert_int_equal(drudge_unbase64(bad[i], strlen(bad[i]), &out, &outlen), -1);
        assert_string_equal((const char *)out, "untouched");
        assert_int_equal(outlen, 7);
    }
}

static void test_random(void **state)
{
    (void)state;
    unsigned char a[32] = {0}, b[32] = {0}, zero[32] = {0};
    assert_int_equal(drudge_random(a, sizeof a), 0);
    assert_int_equal(drudge_random(b, sizeof b), 0);
    assert_memory_not_equal(a, zero, sizeof a);
    assert_memory_not_equal(a, b, sizeof a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),   cmocka_unit_test(test_sha256_file),
        cmocka_unit_test(test_base64_vectors),   cmocka_unit_test(test_base64_binary_round_trip),
        cmocka_unit_test(test_unbase64_refuses), cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

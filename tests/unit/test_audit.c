/* test_audit.c: the chain in a real database (an SQLite file, or with
 * DRUDGE_TEST_PG a PostgreSQL database: pg.unit.audit, testdb.h): canonical
 * encoding, appends in the caller's transaction (and after a rollback),
 * payload references, verify, checkpoints, prune, export and show through
 * the C API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "testdb.h"
#include "logs/audit/audit.h"
#include "drudge/util.h"

#define ZEROS64 "0000000000000000000000000000000000000000000000000000000000000000"

typedef struct fixture {
    testdb db; /* the database (SQLite, or PostgreSQL for pg.unit.audit) and a
                * connection of the test's own, to look at rows and tamper */
    drudge_store *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    drudge_err err = {0};
    if (testdb_new(&f->db, "audit"))
        return -1;
    if (drudge_store_open(f->db.where, 0, &f->s, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    if (testdb_connect(&f->db))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    drudge_store_close(f->s);
    if (testdb_drop(&f->db))
        return -1;
    free(f);
    return 0;
}

/* One attempt of task: root, a step, an http call with a payload. */
static void record(drudge_rec *r, int64_t task, const char *body)
{
    char sha[65], resp[256];
    drudge_rec_reset(r, task, 1);
    int root = drudge_rec_begin(r, "task", "t", "{\"input\":{\"n\":1}}");
    int s = drudge_rec_begin(r, "step", "tab\there \"q\" é \x01", NULL);
    int h = drudge_rec_begin(r, "http", "GET http://x/", "{\"method\":\"GET\"}");
    drudge_rec_payload(r, body, strlen(body), "application/octet-stream", sha);
    snprintf(resp, sizeof resp, "{\"status\":200,\"body_sha256\":\"%s\"}", sha);
    drudge_rec_end(r, h, "ok", resp, NULL);
    drudge_rec_end(r, s, "ok", NULL, NULL);
    drudge_rec_end(r, root, "done", "{\"output\":null}", NULL);
}

static void append(drudge_store *s, drudge_rec *r)
{
    drudge_err err = {0};
    assert_int_equal(drudge_store_begin(s, DRUDGE_TX_WRITE, &err), DRUDGE_OK);
    assert_int_equal(drudge_audit_append(s, r, &err), DRUDGE_OK);
    assert_int_equal(drudge_store_commit(s, &err), DRUDGE_OK);
}

static int verify(drudge_store *s, const char *pubkey, drudge_verify_report *rep)
{
    drudge_err err = {0};
    drudge_verify_opts o = {.pubkey_path = pubkey};
    drudge_code rc = drudge_audit_verify(s, &o, rep, &err);
    assert_true(rc == DRUDGE_OK || rc == DRUDGE_ETAMPER);
    return rep->problems;
}

static void test_canonical_encoding(void **state)
{
    (void)state;
    drudge_step s = {.seq = 2,
                     .parent = 1,
                     .kind = "step",
                     .name = "tab\there \"q\" \\ é \x01\x1f",
                     .request = NULL,
                     .response = "{\"a\":1}",
                     .started_us = 1795400000000001,
                     .duration_us = 12,
                     .outcome = "ok",
                     .error = NULL};
    drudge_buf b = {0};
    drudge_audit_canonical(&b, 5, 3, 1, &s);
    assert_string_equal(b.data,
                        "[5,3,1,2,1,\"step\",\"tab\\there \\\"q\\\" \\\\ é \\u0001\\u001f\","
                        "null,\"{\\\"a\\\":1}\",1795400000000001,12,\"ok\",null]");
    /* hash = SHA-256(prev hex || canonical) */
    char prev[65], h[65], want[65];
    memset(prev, 'a', 64);
    prev[64] = '\0';
    drudge_audit_hash(prev, b.data, b.len, h);
    drudge_buf in = {0};
    drudge_buf_printf(&in, "%s%s", prev, b.data);
    drudge_sha256_hex(in.data, in.len, want);
    assert_string_equal(h, want);
    s.parent = 0;
    drudge_buf_reset(&b);
    drudge_audit_canonical(&b, 1, 3, 1, &s);
    assert_non_null(strstr(b.data, "[1,3,1,2,null,"));
    drudge_buf_free(&b);
    drudge_buf_free(&in);
}

static void collect(void *ud, const char *sha)
{
    drudge_buf *b = ud;
    drudge_buf_printf(b, "%.4s,", sha);
}

/* The escaping of every string of the canonical row, one byte at a time as
 * logs/README.md describes it: drudge_buf_json_str takes eight plain bytes
 * at a time, so each byte value is tried at each place in and around a
 * word, in strings of every length up to three words. */
static void reference_json_str(drudge_buf *b, const unsigned char *s, size_t n)
{
    drudge_buf_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        char e[8];
        unsigned char c = s[i];
        if (c == '"' || c == '\\')
            snprintf(e, sizeof e, "\\%c", c);
        else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            snprintf(e, sizeof e, "\\%c", "bfnrt"[strchr("\b\f\n\r\t", c) - "\b\f\n\r\t"]);
        else if (c < 0x20)
            snprintf(e, sizeof e, "\\u%04x", c);
        else
            e[0] = (char)c, e[1] = '\0';
        drudge_buf_puts(b, e);
    }
    drudge_buf_add(b, "\"", 1);
}

/* drudge_buf_json_str of the n bytes at s gives what the reference does. */
static void same_as_reference(drudge_buf *got, drudge_buf *want, const unsigned char *s, size_t n)
{
    drudge_buf_reset(got);
    drudge_buf_reset(want);
    drudge_buf_json_str(got, (const char *)s, n);
    reference_json_str(want, s, n);
    assert_string_equal(got->data, want->data);
    assert_int_equal(got->len, want->len);
}

static void test_json_string_escaping(void **state)
{
    (void)state;
    unsigned char s[24];
    drudge_buf got = {0}, want = {0};
    for (size_t n = 1; n <= sizeof s; n++)
        for (size_t at = 0; at < n; at++)
            for (int c = 1; c < 256; c++) {
                memset(s, 'a' + (int)(n % 26), n);
                s[at] = (unsigned char)c;
                if (n > 9)
                    s[n - 1] = 0xc3; /* a UTF-8 lead byte passes as it is */
                same_as_reference(&got, &want, s, n);
            }
    /* Two bytes to escape, at every pair of places: a quote or backslash
     * is escaped inside the eight-byte loop, which then goes on from the
     * byte after it (JSON text has one every few bytes). */
    static const unsigned char special[] = {'"', '\\', '\n', 0x1f, 'x'};
    for (size_t n = 2; n <= sizeof s; n++)
        for (size_t a = 0; a < n; a++)
            for (size_t b = a + 1; b < n; b++)
                for (size_t i = 0; i < sizeof special; i++)
                    for (size_t j = 0; j < sizeof special; j++) {
                        memset(s, 'q', n);
                        s[a] = special[i];
                        s[b] = special[j];
                        same_as_reference(&got, &want, s, n);
                    }
    drudge_buf_free(&got);
    drudge_buf_free(&want);
}

static void test_payload_references(void **state)
{
    (void)state;
    char a[65], c[65];
    memset(a, 'a', 64);
    a[64] = 0;
    memset(c, 'c', 64);
    c[64] = 0;
    drudge_buf b = {0}, got = {0};
    drudge_buf_printf(&b,
                      "{\"sha256\":\"%s\",\"body_sha256\":\"%s\",\"xsha256\":\"%s\","
                      "\"parts\":[{\"file_sha256\":\"%s\",\"file_stored\":false}],"
                      "\"short_sha256\":\"abc\",\"upper_sha256\":\"%.63sA\"}",
                      a, c, a, c, a);
    drudge_audit_payload_refs(b.data, collect, &got);
    assert_string_equal(got.data, "aaaa,cccc,");
    drudge_buf_free(&b);
    drudge_buf_free(&got);
}

/* A begun writer carries the chain head from append to append inside its
 * transaction, and reads it again in the next one: rows another writer
 * appended in between, or a rolled-back turn, never break the chain. */
static void test_writer_carries_head(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    drudge_rec *r[5];
    drudge_verify_report rep;
    for (int i = 0; i < 5; i++) {
        r[i] = drudge_rec_new();
        record(r[i], 10 + i, "body");
    }
    drudge_audit_writer *w = drudge_audit_writer_new(f->s);
    assert_non_null(w);
    assert_int_equal(drudge_store_begin(f->s, DRUDGE_TX_WRITE, &err), DRUDGE_OK);
    drudge_audit_writer_begin(w);
    assert_int_equal(drudge_audit_writer_append(w, r[0], &err), DRUDGE_OK);
    assert_int_equal(drudge_audit_writer_append(w, r[1], &err), DRUDGE_OK);
    assert_int_equal(drudge_store_commit(f->s, &err), DRUDGE_OK);
    append(f->s, r[2]); /* another writer (as another process would) */
    assert_int_equal(drudge_store_begin(f->s, DRUDGE_TX_WRITE, &err), DRUDGE_OK);
    drudge_audit_writer_begin(w);
    assert_int_equal(drudge_audit_writer_append(w, r[3], &err), DRUDGE_OK);
    drudge_store_rollback(f->s); /* a failed turn: its rows are gone */
    drudge_rec_mark_flushed(r[3], 0);
    assert_int_equal(drudge_store_begin(f->s, DRUDGE_TX_WRITE, &err), DRUDGE_OK);
    drudge_audit_writer_begin(w);
    assert_int_equal(drudge_audit_writer_append(w, r[3], &err), DRUDGE_OK);
    assert_int_equal(drudge_audit_writer_append(w, r[4], &err), DRUDGE_OK);
    assert_int_equal(drudge_store_commit(f->s, &err), DRUDGE_OK);
    drudge_audit_writer_free(w);
    assert_int_equal(verify(f->s, NULL, &rep), 0);
    assert_int_equal(rep.rows, 15);
    drudge_verify_report_clear(&rep);
    for (int i = 0; i < 5; i++)
        drudge_rec_free(r[i]);
}

static int64_t count_of(testdb *db, const char *sql)
{
    return testdb_num(db, sql, 0);
}

/* Early flush of a long attempt: closed steps (and payloads) handed out
 * while it runs are appended once, before the root step, and skipped when
 * the whole attempt is appended at its end, also after a rolled-back turn. */
static void test_take_closed(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    drudge_verify_report rep;
    char sha[65];
    drudge_rec *r = drudge_rec_new();
    drudge_rec_reset(r, 7, 1);
    int root = drudge_rec_begin(r, "task", "long", NULL);
    int a = drudge_rec_begin(r, "step", "A", NULL);
    drudge_rec_payload(r, "body of A", 9, "text/plain", sha);
    drudge_rec_end(r, a, "ok", NULL, NULL);
    int open = drudge_rec_begin(r, "step", "still open", NULL);
    drudge_rec *part = drudge_rec_take_closed(r);
    assert_non_null(part);
    assert_int_equal(drudge_rec_count(part), 1);
    assert_string_equal(drudge_rec_step(part, 0)->name, "A");
    assert_string_equal(drudge_rec_step(part, 0)->outcome, "ok");
    /* moved: the attempt keeps the step's place, not its strings */
    assert_int_equal(drudge_rec_step(r, a - 1)->seq, a);
    assert_true(drudge_rec_step(r, a - 1)->handed);
    assert_null(drudge_rec_step(r, a - 1)->name);
    assert_int_equal(drudge_rec_payload_count(part), 1);
    assert_null(drudge_rec_take_closed(r)); /* nothing new */
    append(f->s, part);
    drudge_rec_end(r, open, "ok", NULL, NULL);
    int c = drudge_rec_begin(r, "step", "C", NULL);
    drudge_rec_end(r, c, "ok", NULL, NULL);
    drudge_rec_end(r, root, "done", NULL, NULL);
    drudge_rec *rest = drudge_rec_take_closed(r); /* the root stays behind */
    assert_non_null(rest);
    assert_int_equal(drudge_rec_count(rest), 2);
    assert_int_equal(drudge_rec_step(rest, 0)->seq, open);
    assert_int_equal(drudge_rec_step(rest, 1)->seq, c);
    append(f->s, rest);
    drudge_rec_free(rest);
    /* The end of the attempt, first in a turn that rolls back. */
    assert_int_equal(drudge_store_begin(f->s, DRUDGE_TX_WRITE, &err), DRUDGE_OK);
    assert_int_equal(drudge_audit_append(f->s, r, &err), DRUDGE_OK);
    drudge_store_rollback(f->s);
    drudge_rec_mark_flushed(r, 0);
    append(f->s, r);
    assert_int_equal(count_of(&f->db, "SELECT count(*) FROM steps WHERE task_id = 7"), 4);
    assert_int_equal(count_of(&f->db, "SELECT count(DISTINCT seq) FROM steps WHERE task_id = 7"),
                     4);
    assert_int_equal(count_of(&f->db, "SELECT count(*) FROM payloads"), 1);
    /* A came first; the root, open until the end, after it. */
    assert_int_equal(
        count_of(&f->db, "SELECT seq FROM steps WHERE task_id = 7 ORDER BY id LIMIT 1"), a);
    assert_int_equal(count_of(&f->db, "SELECT (SELECT id FROM steps WHERE seq = 1) > "
                                      "(SELECT id FROM steps WHERE seq = 2)"),
                     1);
    assert_int_equal(verify(f->s, NULL, &rep), 0);
    assert_int_equal(rep.rows, 4);
    drudge_verify_report_clear(&rep);
    drudge_rec_free(part);
    drudge_rec_free(r);
}

/* A flush of many rows goes to the store in batches (64 rows linked and
 * hashed at a time, 16 or 4 to an SQLite statement, the rest one by one): the
 * rows are the steps, in order, each linked to the one before, also when
 * steps handed out earlier sit between them and the root carries the
 * attempt's state. */
static void test_batched_append(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    drudge_verify_report rep;
    char name[32], req[64];
    drudge_rec *r = drudge_rec_new();
    drudge_rec_reset(r, 9, 2);
    int root = drudge_rec_begin(r, "task", "many", "{\"input\":null}");
    for (int i = 1; i <= 150; i++) {
        if (i == 71) { /* the first 70 are taken by an early flush */
            drudge_rec *part = drudge_rec_take_closed(r);
            assert_int_equal(drudge_rec_count(part), 70);
            append(f->s, part);
            drudge_rec_free(part);
        }
        snprintf(name, sizeof name, "GET http://h/%d", i);
        snprintf(req, sizeof req, "{\"method\":\"GET\",\"n\":%d}", i);
        int h = drudge_rec_begin(r, "http", name, req);
        drudge_rec_end(r, h, "ok", "{\"status\":200}", NULL);
    }
    drudge_rec_end(r, root, "ok", "{\"output\":1}", NULL);
    assert_int_equal(drudge_store_begin(f->s, DRUDGE_TX_WRITE, &err), DRUDGE_OK);
    assert_int_equal(drudge_audit_append_outcome(f->s, r, "done", &err), DRUDGE_OK);
    assert_int_equal(drudge_store_commit(f->s, &err), DRUDGE_OK);
    assert_int_equal(drudge_rec_flushed(r), 151);
    assert_int_equal(count_of(&f->db, "SELECT count(*) FROM steps WHERE task_id = 9"), 151);
    assert_int_equal(count_of(&f->db, "SELECT max(id) - min(id) FROM steps"), 150);
    /* ids follow the order of appending: the early 70, the root, the rest */
    assert_int_equal(count_of(&f->db, "SELECT seq FROM steps WHERE id = 71"), 1);
    assert_int_equal(count_of(&f->db, "SELECT count(*) FROM steps WHERE id > 71 AND seq != id"), 0);
    assert_int_equal(
        count_of(&f->db, "SELECT count(*) FROM steps WHERE id <= 70 AND seq != id + 1"), 0);
    char *resp = testdb_text(&f->db, "SELECT response FROM steps WHERE seq = ?", 1);
    assert_string_equal(resp, "{\"state\":\"done\",\"output\":1}");
    free(resp);
    char *got = testdb_text(&f->db, "SELECT name || ' ' || request FROM steps WHERE seq = ?", 101);
    assert_string_equal(got, "GET http://h/100 {\"method\":\"GET\",\"n\":100}");
    free(got);
    /* every row re-hashes to its stored hash and links to the one before */
    assert_int_equal(verify(f->s, NULL, &rep), 0);
    assert_int_equal(rep.rows, 151);
    drudge_verify_report_clear(&rep);
    drudge_rec_free(r);
}

static void test_append_verify_and_rollback(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    drudge_rec *r1 = drudge_rec_new(), *r2 = drudge_rec_new();
    drudge_verify_report rep;
    assert_int_equal(verify(f->s, NULL, &rep), 0);
    assert_int_equal(rep.rows, 0);
    drudge_verify_report_clear(&rep);

    record(r1, 1, "first body");
    append(f->s, r1);
    /* A rolled-back group commit: rewind, append again, nothing lost. */
    record(r2, 2, "second body");
    assert_int_equal(drudge_store_begin(f->s, DRUDGE_TX_WRITE, &err), DRUDGE_OK);
    drudge_audit_writer *w = drudge_audit_writer_new(f->s);
    assert_non_null(w);
    assert_int_equal(drudge_audit_writer_append(w, r2, &err), DRUDGE_OK);
    assert_int_equal(drudge_rec_flushed(r2), 3);
    drudge_store_rollback(f->s);
    drudge_rec_mark_flushed(r2, 0);
    assert_int_equal(drudge_store_begin(f->s, DRUDGE_TX_WRITE, &err), DRUDGE_OK);
    assert_int_equal(drudge_audit_writer_append(w, r2, &err), DRUDGE_OK);
    assert_int_equal(drudge_audit_writer_append(w, r2, &err), DRUDGE_OK); /* nothing new */
    assert_int_equal(drudge_store_commit(f->s, &err), DRUDGE_OK);
    drudge_audit_writer_free(w);

    assert_int_equal(verify(f->s, NULL, &rep), 0);
    assert_int_equal(rep.rows, 6);
    assert_int_equal(rep.payloads, 2);
    drudge_verify_report_clear(&rep);

    /* Tampering (triggers dropped, as an attacker with the file could). */
    assert_int_equal(
        testdb_exec(&f->db,
                    TESTDB_SQL(&f->db,
                               "DROP TRIGGER steps_no_update; DROP TRIGGER payloads_prune_only;"
                               "UPDATE steps SET duration_us = duration_us + 13 WHERE id = 5;"
                               "UPDATE payloads SET data = x'00' WHERE rowid = 1",
                               "ALTER TABLE steps DISABLE TRIGGER USER;"
                               "ALTER TABLE payloads DISABLE TRIGGER USER;"
                               "UPDATE steps SET duration_us = duration_us + 13 WHERE id = 5;"
                               "UPDATE payloads SET data = '\\x00' WHERE n = 1")),
        0);
    assert_int_equal(verify(f->s, NULL, &rep), 2);
    assert_non_null(strstr(rep.text, "row 5 (task 2, attempt 1, seq 2, step"));
    assert_non_null(
        strstr(rep.text, "(referenced by row 3 (task 1, attempt 1, seq 3)): its bytes"));
    drudge_verify_report_clear(&rep);
    drudge_rec_free(r1);
    drudge_rec_free(r2);
}

static void test_checkpoints(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    char key[160], pub[160], other[160], otherpub[160];
    snprintf(key, sizeof key, "%s/k", f->db.dir);
    snprintf(pub, sizeof pub, "%s/k.pub", f->db.dir);
    snprintf(other, sizeof other, "%s/o", f->db.dir);
    snprintf(otherpub, sizeof otherpub, "%s/o.pub", f->db.dir);
    assert_int_equal(drudge_audit_keygen(key, pub, &err), DRUDGE_OK);
    assert_int_equal(drudge_audit_keygen(other, otherpub, &err), DRUDGE_OK);
    assert_int_equal(drudge_audit_keygen(key, "/nonexistent/x.pub", &err), DRUDGE_EIO);
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    drudge_rec *r = drudge_rec_new();
    record(r, 1, "body");
    append(f->s, r);
    drudge_checkpoint cp;
    assert_int_equal(drudge_audit_checkpoint_ex(f->s, key, &cp, &err), DRUDGE_OK);
    assert_int_equal(cp.step_id, 3);
    assert_int_equal(cp.row_count, 3);
    assert_false(cp.unchanged);
    assert_int_equal(drudge_audit_checkpoint_ex(f->s, key, &cp, &err), DRUDGE_OK);
    assert_true(cp.unchanged);
    record(r, 2, "body 2");
    append(f->s, r);
    assert_int_equal(drudge_audit_checkpoint(f->s, key, &err), DRUDGE_OK);

    /* The signed message, byte for byte as documented. */
    drudge_buf m = {0};
    drudge_checkpoint_message(&m, "ab", 3, 3, 17);
    assert_string_equal(m.data, "drudge-checkpoint-v1\nab\n3\n3\n17\n");
    drudge_buf_free(&m);

    drudge_verify_report rep;
    assert_int_equal(verify(f->s, pub, &rep), 0);
    assert_int_equal(rep.checkpoints, 2);
    assert_int_equal(rep.signed_rows, 6);
    drudge_verify_report_clear(&rep);
    assert_int_equal(verify(f->s, otherpub, &rep), 2); /* both, the first named */
    assert_non_null(strstr(rep.text, "signed by another key"));
    drudge_verify_report_clear(&rep);
    /* A bad public key file is an error of the check, not tampering. */
    drudge_verify_opts o = {.pubkey_path = key};
    assert_int_equal(drudge_audit_verify(f->s, &o, &rep, &err), DRUDGE_EINPUT);
    assert_non_null(strstr(err.msg, "not a PEM Ed25519 public key"));
    drudge_rec_free(r);
}

/* Checkpointing re-hashes the rows since the last checkpoint (one chain
 * walker with verify) and refuses to sign a tail that does not follow from
 * it, naming the row: edited, missing, or the signed row itself changed or
 * gone. */
static void test_checkpoint_refuses_tampered_tail(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    char key[160], pub[160];
    snprintf(key, sizeof key, "%s/k", f->db.dir);
    snprintf(pub, sizeof pub, "%s/k.pub", f->db.dir);
    assert_int_equal(drudge_audit_keygen(key, pub, &err), DRUDGE_OK);
    drudge_rec *r = drudge_rec_new();
    record(r, 1, "body");
    append(f->s, r);
    assert_int_equal(drudge_audit_checkpoint(f->s, key, &err), DRUDGE_OK);
    record(r, 2, "body 2");
    append(f->s, r); /* rows 4 to 6 */
    static const struct {
        const char *sql, *says;
    } tamper[] = {
        {"UPDATE steps SET outcome = 'error' WHERE id = 5",
         "refusing to checkpoint: row 5 does not match its hash"},
        {"DELETE FROM steps WHERE id = 5", "refusing to checkpoint: rows 5 to 5 are missing"},
        {"UPDATE steps SET hash = '" ZEROS64 "' WHERE id = 3",
         "refusing to checkpoint: row 3 no longer has the hash the last checkpoint signed"},
        {"DELETE FROM steps WHERE id = 3",
         "refusing to checkpoint: row 3, signed by the last checkpoint, is gone"},
    };
    assert_int_equal(testdb_exec(&f->db, TESTDB_SQL(&f->db,
                                                    "DROP TRIGGER steps_no_update; "
                                                    "DROP TRIGGER steps_no_delete",
                                                    "ALTER TABLE steps DISABLE TRIGGER USER")),
                     0);
    for (size_t i = 0; i < sizeof tamper / sizeof tamper[0]; i++) {
        assert_int_equal(testdb_exec(&f->db, tamper[i].sql), 0);
        drudge_checkpoint cp;
        memset(&err, 0, sizeof err);
        assert_int_equal(drudge_audit_checkpoint_ex(f->s, key, &cp, &err), DRUDGE_ETAMPER);
        assert_non_null(strstr(err.msg, tamper[i].says));
        assert_int_equal(cp.id, 0);
    }
    assert_int_equal(count_of(&f->db, "SELECT count(*) FROM checkpoints"), 1);
    drudge_rec_free(r);
}

static void test_prune_export_show(void **state)
{
    fixture *f = *state;
    drudge_err err = {0};
    drudge_rec *r = drudge_rec_new();
    record(r, 1, "old body");
    append(f->s, r);
    int64_t n, bytes;
    assert_int_equal(
        drudge_audit_prune(f->s, drudge_now_us() - 3600000000LL, 0, "tester", &n, &bytes, &err),
        DRUDGE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(drudge_audit_prune(f->s, drudge_now_us() + 1, 1, "tester", &n, &bytes, &err),
                     DRUDGE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(bytes, 8);
    assert_int_equal(drudge_audit_prune(f->s, drudge_now_us() + 1, 0, "tester", &n, &bytes, &err),
                     DRUDGE_OK);
    drudge_verify_report rep;
    assert_int_equal(verify(f->s, NULL, &rep), 0);
    assert_int_equal(rep.pruned, 1);
    drudge_verify_report_clear(&rep);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    drudge_export_opts eo = {.format = DRUDGE_EXPORT_JSONL};
    int64_t rows;
    assert_int_equal(drudge_audit_export(f->s, out, &eo, &rows, &err), DRUDGE_OK);
    fclose(out);
    assert_int_equal(rows, 4); /* the prune itself is an operator step */
    assert_non_null(strstr(text, "\"kind\":\"operator\",\"name\":\"prune\",\"request\":"
                                 "\"{\\\"user\\\":\\\"tester\\\""));
    assert_non_null(strstr(text, "\"prev_hash\":\"0000000000000000000000000000000000000000000000"
                                 "000000000000000000\""));
    assert_non_null(strstr(text, "\"name\":\"tab\\there \\\"q\\\" é \\u0001\""));
    free(text);

    out = open_memstream(&text, &len);
    assert_int_equal(drudge_audit_show(f->s, out, 1, 0, 0, &err), DRUDGE_OK);
    fclose(out);
    assert_non_null(strstr(text, "task #1  (not in the tasks table)"));
    assert_non_null(strstr(text, "    [3] "));
    assert_non_null(strstr(text, "http GET http://x/  ok  status 200"));
    free(text);
    out = open_memstream(&text, &len);
    assert_int_equal(drudge_audit_show(f->s, out, 1, 2, 0, &err), DRUDGE_ENOTFOUND);
    fclose(out);
    assert_non_null(strstr(err.msg, "no task #1 in ")); /* no row, and no steps of attempt 2 */
    free(text);
    out = open_memstream(&text, &len);
    assert_int_equal(drudge_audit_show(f->s, out, 9, 0, 1, &err), DRUDGE_ENOTFOUND);
    fclose(out);
    free(text);
    drudge_rec_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_encoding),
        cmocka_unit_test(test_json_string_escaping),
        cmocka_unit_test(test_payload_references),
        cmocka_unit_test_setup_teardown(test_append_verify_and_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_carries_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_take_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batched_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_refuses_tampered_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_export_show, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_mime.c: MIME parsing and building (connectors/mail/mime.c) on the corpus
 * in tests/data/mail/, the IMAP response parsers (connectors/mail/imap.c), and
 * mail.parse / attachments from Lua. */
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
#include <sys/stat.h>
#include <unistd.h>
#include "drudge/host.h"
#include "connectors/mail/mail.h"
#include "drudge/util.h"

static char *corpus(const char *name, size_t *len)
{
    char path[512];
    const char *tests = getenv("TESTS");
    snprintf(path, sizeof path, "%s/data/mail/%s", tests ? tests : "tests", name);
    char *data = drudge_read_file(path, len);
    assert_non_null(data);
    return data;
}

static drudge_mail_msg *parse_file(const char *name)
{
    size_t len;
    char *raw = corpus(name, &len);
    drudge_mail_msg *m = NULL;
    drudge_err err = {0};
    assert_int_equal(drudge_mail_parse(raw, len, 0, &m, &err), DRUDGE_OK);
    free(raw);
    return m;
}

static void test_alternative(void **state)
{
    (void)state;
    drudge_mail_msg *m = parse_file("alternative.eml");
    assert_string_equal(m->message_id, "alt-1@example.org");
    assert_string_equal(m->key, "alt-1@example.org");
    /* Encoded words (Q and B, UTF-8) around plain text, joined as sent. */
    assert_string_equal(m->subject, "Procès-verbal n° 2026/118 – étape 2");
    assert_int_equal(m->from.n, 1);
    assert_string_equal(m->from.v[0].name, "Zoë Müller");
    assert_string_equal(m->from.v[0].address, "zoe@example.org");
    assert_int_equal(m->to.n, 2);
    assert_string_equal(m->to.v[0].name, "Parquet de Lyon");
    assert_string_equal(m->to.v[1].name, "");
    assert_string_equal(m->to.v[1].address, "clerk@example.fr");
    assert_int_equal(m->cc.n, 1);
    assert_string_equal(m->cc.v[0].name, "Doe, Jane");
    /* 10:15:02 +0100 is 09:15:02 UTC. */
    assert_string_equal(m->date, "2026-11-23T09:15:02Z");
    assert_string_equal(m->text, "Bonjour, voici le procès-verbal.\nRéf: PV-2026-118");
    assert_string_equal(m->html, "<p>Bonjour, voici le procès-verbal.</p>");
    assert_int_equal(m->natts, 0);
    assert_int_equal(m->nwarnings, 0);
    drudge_mail_msg_free(m);
}

static void test_attachments(void **state)
{
    (void)state;
    drudge_mail_msg *m = parse_file("attachments.eml");
    assert_string_equal(m->subject, "Pièces jointes"); /* ISO-8859-1 encoded word */
    assert_string_equal(m->text, "See the attached files.");
    assert_null(m->html);
    assert_int_equal(m->natts, 3);
    /* RFC 2231 continuation (filename*0*, filename*1*) in UTF-8 wins over name=. */
    assert_string_equal(m->atts[0].filename, "Procès-verbal n° 118.pdf");
    assert_string_equal(m->atts[0].content_type, "application/pdf");
    assert_int_equal(m->atts[0].size, 286);
    assert_memory_equal(m->atts[0].data, "%PDF-1.4\n", 9);
    assert_int_equal(m->atts[0].data[285], 255); /* base64 decoded to the last byte */
    /* A text attachment named by an RFC 2047 encoded name= parameter is an
     * attachment, not the body. */
    assert_string_equal(m->atts[1].filename, "déposition témoin.txt");
    assert_string_equal(m->atts[1].content_type, "text/plain");
    assert_int_equal(m->atts[1].size, strlen("Témoin: « je n'ai rien vu »"));
    /* Inline with a file name: still listed, so nothing is lost. */
    assert_string_equal(m->atts[2].filename, "logo.png");
    assert_int_equal(m->atts[2].size, 8);
    drudge_mail_msg_free(m);
}

static void test_charsets(void **state)
{
    (void)state;
    drudge_mail_msg *m = parse_file("latin1.eml");
    assert_string_equal(m->subject, "Résumé de l'audience");
    assert_string_equal(m->from.v[0].name, "François Bérard");
    assert_string_equal(m->text, "Le prévenu a été entendu à 14h; coût: 30 EUR, «ça suffit».\n");
    assert_string_equal(m->date, "2026-11-26T04:30:00Z"); /* -0500 crosses midnight */
    drudge_mail_msg_free(m);
    /* Windows-1252 only: curly quotes, euro sign and en dash in 0x80-0x9F. */
    m = parse_file("cp1252.eml");
    assert_string_equal(m->text, "“Amende” de 90 € – payée\n");
    drudge_mail_msg_free(m);
}

static void test_no_message_id(void **state)
{
    (void)state;
    size_t len;
    char *raw = corpus("no_message_id.eml", &len);
    drudge_mail_msg *m = NULL;
    drudge_err err = {0};
    assert_int_equal(drudge_mail_parse(raw, len, 0, &m, &err), DRUDGE_OK);
    assert_null(m->message_id);
    /* The key is the SHA-256 of the raw bytes: the same message polled
     * twice gets the same key. */
    char hex[65], want[80];
    drudge_sha256_hex(raw, len, hex);
    snprintf(want, sizeof want, "sha256:%s", hex);
    assert_string_equal(m->key, want);
    assert_string_equal(m->subject, "Scan 0042");
    drudge_mail_msg_free(m);
    free(raw);
}

static void test_truncated(void **state)
{
    (void)state;
    size_t len;
    char *raw = corpus("truncated.eml", &len);
    drudge_mail_msg *m = NULL;
    drudge_err err = {0};
    assert_int_equal(drudge_mail_parse(raw, len, 0, &m, &err), DRUDGE_EINPUT);
    assert_null(m);
    assert_non_null(strstr(err.msg, "truncated"));
    /* lenient keeps what could be read and says what is wrong. */
    assert_int_equal(drudge_mail_parse(raw, len, 1, &m, &err), DRUDGE_OK);
    assert_string_equal(m->text, "The first part.");
    assert_true(m->nwarnings >= 1);
    assert_non_null(strstr(m->warnings[0], "truncated"));
    drudge_mail_msg_free(m);
    /* Cut inside the headers. */
    assert_int_equal(drudge_mail_parse(raw, 30, 0, &m, &err), DRUDGE_EINPUT);
    free(raw);
}

static void test_not_a_message(void **state)
{
    (void)state;
    drudge_mail_msg *m = NULL;
    drudge_err err = {0};
    assert_int_equal(drudge_mail_parse("", 0, 0, &m, &err), DRUDGE_EINPUT);
    assert_string_equal(err.msg, "empty message");
    const char *junk = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR binary junk";
    assert_int_equal(drudge_mail_parse(junk, 28, 0, &m, &err), DRUDGE_EINPUT);
    assert_null(m);
    /* Arbitrary bytes never crash the parser. */
    unsigned char buf[512];
    unsigned seed = 42;
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof buf; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = (unsigned char)(seed >> 16);
        }
        memcpy(buf, "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n", 50);
        if (drudge_mail_parse(buf, sizeof buf, round & 1, &m, &err) == DRUDGE_OK)
            drudge_mail_msg_free(m);
    }
}

static void test_build_roundtrip(void **state)
{
    (void)state;
    const char *to[] = {"Zoë Müller <zoe@example.org>", "clerk@example.fr", NULL};
    const char *cc[] = {"\"Doe, Jane\" <jane@example.org>", NULL};
    unsigned char bin[300];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)i;
    drudge_mail_out_att atts[] = {
        {"Procès-verbal n° 118.pdf", NULL, bin, sizeof bin},
        {"notes.txt", "text/plain; charset=utf-8", "é\r\n", 4},
    };
    drudge_mail_out out = {.from = "Robot <robot@example.fr>",
                           .to = to,
                           .cc = cc,
                           .subject = "Récépissé – dossier n° 118",
                           .text = "Bonjour,\n.\nfin\n",
                           .html = "<p>Bonjour</p>",
                           .in_reply_to = "alt-1@example.org",
                           .atts = atts,
                           .natts = 2};
    char *raw = NULL, *mid = NULL;
    size_t len = 0;
    drudge_err err = {0};
    assert_int_equal(drudge_mail_build(&out, &raw, &len, &mid, &err), DRUDGE_OK);
    assert_non_null(strstr(mid, "@example.fr"));
    assert_non_null(strstr(raw, "\r\nIn-Reply-To: <alt-1@example.org>\r\n"));
    assert_null(strstr(raw, "\nFrom: Robot <robot@example.fr>\n")); /* CRLF throughout */
    drudge_mail_msg *m = NULL;
    assert_int_equal(drudge_mail_parse(raw, len, 0, &m, &err), DRUDGE_OK);
    assert_string_equal(m->message_id, mid);
    assert_string_equal(m->subject, "Récépissé – dossier n° 118");
    assert_string_equal(m->from.v[0].name, "Robot");
    assert_string_equal(m->to.v[0].name, "Zoë Müller");
    assert_string_equal(m->cc.v[0].name, "Doe, Jane");
    assert_string_equal(m->text, "Bonjour,\n.\nfin\n");
    assert_string_equal(m->html, "<p>Bonjour</p>");
    assert_int_equal(m->natts, 2);
    assert_string_equal(m->atts[0].filename, "Procès-verbal n° 118.pdf");
    assert_string_equal(m->atts[0].content_type, "application/pdf"); /* from the name */
    assert_int_equal(m->atts[0].size, sizeof bin);
    assert_memory_equal(m->atts[0].data, bin, sizeof bin);
    assert_string_equal(m->atts[1].content_type, "text/plain");
    assert_memory_equal(m->atts[1].data, "é\r\n", 4);
    assert_non_null(m->date);
    drudge_mail_msg_free(m);
    free(raw);
    free(mid);

    /* Bad input names the field. */
    const char *bad_to[] = {"ok@example.org", "not an address", NULL};
    out.to = bad_to;
    assert_int_equal(drudge_mail_build(&out, &raw, &len, &mid, &err), DRUDGE_EINPUT);
    assert_non_null(strstr(err.msg, "to[2]"));
    assert_null(raw);
    assert_null(mid);
    out.to = to;
    out.text = out.html = NULL;
    assert_int_equal(drudge_mail_build(&out, &raw, &len, &mid, &err), DRUDGE_EINPUT);
}

static void test_bare_address(void **state)
{
    (void)state;
    char *a = drudge_mail_bare_address("Zoë <zoe@example.org>");
    assert_string_equal(a, "zoe@example.org");
    free(a);
    a = drudge_mail_bare_address("clerk@example.fr");
    assert_string_equal(a, "clerk@example.fr");
    free(a);
    assert_null(drudge_mail_bare_address("a@b.c, d@e.f"));
    assert_null(drudge_mail_bare_address("nobody"));
    assert_null(drudge_mail_bare_address(""));
}

static void test_imap_search(void **state)
{
    (void)state;
    uint32_t *uids = NULL;
    const char *r = "* 3 EXISTS\r\n* SEARCH 4 9 12\r\n* SEARCH 13\r\n";
    assert_int_equal(drudge_imap_parse_search(r, strlen(r), &uids), 4);
    assert_int_equal(uids[0], 4);
    assert_int_equal(uids[2], 12);
    assert_int_equal(uids[3], 13);
    free(uids);
    r = "* SEARCH\r\n";
    assert_int_equal(drudge_imap_parse_search(r, strlen(r), &uids), 0);
    free(uids);
    r = "* SEARCH 1 2 (MODSEQ 917162500)\r\n";
    assert_int_equal(drudge_imap_parse_search(r, strlen(r), &uids), 2);
    free(uids);
    r = "* SEARCH 1 x2\r\n";
    assert_int_equal(drudge_imap_parse_search(r, strlen(r), &uids), -1);
    assert_null(uids);
    r = "* SEARCH 99999999999\r\n";
    assert_int_equal(drudge_imap_parse_search(r, strlen(r), &uids), -1);
}

static void test_imap_list(void **state)
{
    (void)state;
    char **names = NULL;
    const char *r = "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
                    "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n"
                    "* LIST () \"/\" \"a \\\"q\\\" b\"\r\n"
                    "* LIST (\\Noselect) NIL Archive\r\n";
    assert_int_equal(drudge_imap_parse_list(r, strlen(r), &names), 4);
    assert_string_equal(names[0], "INBOX");
    assert_string_equal(names[1], "Sent Items");
    assert_string_equal(names[2], "a \"q\" b");
    assert_string_equal(names[3], "Archive");
    for (int i = 0; i < 4; i++)
        free(names[i]);
    free(names);
}

static void test_imap_fetch_info(void **state)
{
    (void)state;
    uint64_t size = 0;
    int seen = -1;
    const char *r = "* 1 FETCH (UID 7 FLAGS (\\Answered) RFC822.SIZE 91)\r\n"
                    "* 2 FETCH (UID 8 FLAGS (\\Seen \\Flagged) RFC822.SIZE 1234)\r\n";
    assert_true(drudge_imap_parse_fetch_info(r, strlen(r), 8, &size, &seen));
    assert_int_equal(size, 1234);
    assert_int_equal(seen, 1);
    assert_true(drudge_imap_parse_fetch_info(r, strlen(r), 7, &size, &seen));
    assert_int_equal(seen, 0);
    assert_false(drudge_imap_parse_fetch_info(r, strlen(r), 9, &size, &seen));
    r = "* OK [COPYUID 1795426380 12 5] Moved UIDs.\r\n* 1 EXPUNGE\r\n";
    assert_int_equal(drudge_imap_parse_copyuid(r, strlen(r), 12), 5);
    assert_int_equal(drudge_imap_parse_copyuid(r, strlen(r), 13), 0);
}

static void test_imap_quote(void **state)
{
    (void)state;
    drudge_buf b = {0};
    assert_int_equal(drudge_imap_quote(&b, "a \"b\" \\c"), 0);
    assert_string_equal(b.data, "\"a \\\"b\\\" \\\\c\"");
    drudge_buf_reset(&b);
    /* A line break would end the command and start another: refused. */
    assert_int_equal(drudge_imap_quote(&b, "x\r\nA1 DELETE INBOX"), -1);
    assert_int_equal(b.len, 0);
    drudge_buf_free(&b);
}

/* --- from Lua --- */

typedef struct fixture {
    drudge_host *h;
    char dir[64];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/drudge-mime.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    drudge_host_opts opts = {.files_dir = f->dir};
    drudge_err err = {0};
    f->h = drudge_host_new(&opts, &err);
    assert_non_null(f->h);
    lua_State *L = drudge_host_lua(f->h);
    luaL_requiref(L, "mail", luaopen_drudge_mail, 1);
    lua_pop(L, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    drudge_host_free(f->h);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Runs chunk with the corpus file's bytes as `raw`; returns the error or NULL. */
static const char *run_lua(lua_State *L, const char *file, const char *chunk)
{
    size_t len;
    char *raw = corpus(file, &len);
    lua_pushlstring(L, raw, len);
    lua_setglobal(L, "raw");
    free(raw);
    if (luaL_dostring(L, chunk) != LUA_OK) {
        print_message("lua: %s\n", lua_tostring(L, -1));
        return lua_tostring(L, -1);
    }
    return NULL;
}

static void test_lua_parse(void **state)
{
    fixture *f = *state;
    lua_State *L = drudge_host_lua(f->h);
    int top = lua_gettop(L);
    const char *e = run_lua(L, "attachments.eml",
                            "local m = mail.parse(raw)\n"
                            "assert(m.subject == 'Pièces jointes', m.subject)\n"
                            "assert(m.from[1].address == 'station12@example.org')\n"
                            "assert(m.from[1].name == 'Police Station 12')\n"
                            "assert(m.date == '2026-11-24T08:00:00Z')\n"
                            "assert(#m.attachments == 3 and #m.warnings == 0)\n"
                            "local a = m.attachments[1]\n"
                            "assert(a.filename == 'Procès-verbal n° 118.pdf')\n"
                            "assert(a.size == 286 and #a:data() == 286)\n"
                            "assert(a:data():sub(1, 8) == '%PDF-1.4')\n"
                            "local p = a:save('cases/2026/118')\n"
                            "assert(p:match('/cases/2026/118/Procès%-verbal n° 118%.pdf$'), p)\n"
                            "local p2 = m.attachments[2]:save(nil, '../../etc/evil.txt')\n"
                            "assert(p2:match('/evil%.txt$'), p2)\n"
                            "return p");
    assert_null(e);
    char path[256];
    snprintf(path, sizeof path, "%s/cases/2026/118/Procès-verbal n° 118.pdf", f->dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 286);
    assert_int_equal(st.st_mode & 0777, 0600); /* case data */
    snprintf(path, sizeof path, "%s/evil.txt", f->dir);
    assert_int_equal(stat(path, &st), 0);
    lua_settop(L, top);

    /* Outside the files directory: refused. */
    e = run_lua(L, "attachments.eml", "mail.parse(raw).attachments[1]:save('/tmp')");
    assert_non_null(e);
    assert_non_null(strstr(e, "outside the files directory"));
    lua_settop(L, top);
    /* A malformed message: a clear error, and lenient parsing on request. */
    e = run_lua(L, "truncated.eml", "mail.parse(raw)");
    assert_non_null(strstr(e, "mail.parse: malformed message: truncated message"));
    lua_settop(L, top);
    e = run_lua(L, "truncated.eml",
                "local m = mail.parse(raw, {lenient = true})\n"
                "assert(m.warnings[1]:match('truncated'))\n"
                "assert(m.key == 'trunc-5@example.org')");
    assert_null(e);
    lua_settop(L, top);
    e = run_lua(L, "no_message_id.eml",
                "local m = mail.parse(raw)\n"
                "assert(m.message_id == nil)\n"
                "assert(m.key:match('^sha256:%x+$') and #m.key == 71)");
    assert_null(e);
    e = run_lua(L, "alternative.eml",
                "local m = mail.parse(raw)\n"
                "assert(m.cc[1].name == 'Doe, Jane')\n"
                "assert(m.text:match('\\nRéf: PV%-2026%-118$'))");
    assert_null(e);
    lua_settop(L, top);
    e = run_lua(L, "alternative.eml", "mail.parse(42, 'x')");
    assert_non_null(e);
    assert_int_equal(lua_gettop(L), top + 1);
    lua_settop(L, top);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alternative),
        cmocka_unit_test(test_attachments),
        cmocka_unit_test(test_charsets),
        cmocka_unit_test(test_no_message_id),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_not_a_message),
        cmocka_unit_test(test_build_roundtrip),
        cmocka_unit_test(test_bare_address),
        cmocka_unit_test(test_imap_search),
        cmocka_unit_test(test_imap_list),
        cmocka_unit_test(test_imap_fetch_info),
        cmocka_unit_test(test_imap_quote),
        cmocka_unit_test_setup_teardown(test_lua_parse, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * mail.h: the mail connector's C core: MIME parsing and building (GMime 3,
 * connectors/mail/mime.c), IMAP response parsing (connectors/mail/imap.c). The Lua
 * module drudge.mail (connectors/mail/mail.c) is built on these; they are public
 * so unit tests and other C code can use them without a Lua state.
 *
 * Strings are UTF-8 and NUL-terminated; everything in a drudge_mail_msg is
 * owned by it and freed by drudge_mail_msg_free.
 */
#ifndef DRUDGE_MAIL_H
#define DRUDGE_MAIL_H

#include <stddef.h>
#include <stdint.h>
#include "drudge/error.h"

typedef struct drudge_mail_addr {
    char *name;    /* display name, "" if none */
    char *address; /* "user@example.org" */
} drudge_mail_addr;

typedef struct drudge_mail_addrs {
    drudge_mail_addr *v;
    size_t n;
} drudge_mail_addrs;

typedef struct drudge_mail_att {
    char *filename;      /* decoded (RFC 2231 / RFC 2047), "" if the part has none */
    char *content_type;  /* "application/pdf", lower case */
    unsigned char *data; /* decoded content (base64/QP undone) */
    size_t size;
} drudge_mail_att;

typedef struct drudge_mail_msg {
    char *message_id; /* without angle brackets, or NULL if the header is missing */
    char *key;        /* message_id, or "sha256:<hex of the raw message>" without one */
    drudge_mail_addrs from, to, cc, reply_to;
    char *subject;     /* RFC 2047 decoded; "" if none */
    char *date;        /* "2026-11-23T09:15:02Z" (UTC), or NULL if missing/unparsable */
    char *text, *html; /* first text/plain and text/html bodies, in UTF-8, or NULL */
    drudge_mail_att *atts;
    size_t natts;
    char **warnings; /* what GMime found odd but could parse */
    size_t nwarnings;
    size_t raw_size;
} drudge_mail_msg;

/* Process-wide GMime initialisation; safe to call from any thread, any
 * number of times. */
void drudge_mail_init(void);

/* Parses a raw RFC 5322 message. Unless lenient, a message GMime cannot
 * parse or finds truncated (a multipart without its closing boundary, a
 * message cut inside its headers) is refused with DRUDGE_EINPUT; lenient
 * keeps what could be read and lists the problems in warnings. Caller frees
 * *out with drudge_mail_msg_free. */
drudge_code drudge_mail_parse(const void *raw, size_t len, int lenient,
                              drudge_mail_msg **out /* OUT */, drudge_err *err);
void drudge_mail_msg_free(drudge_mail_msg *m);

/* A message to build. Address strings are RFC 5322 ("Name <a@b>" or "a@b"). */
typedef struct drudge_mail_out_att {
    const char *filename;     /* may be non-ASCII: encoded per RFC 2231 */
    const char *content_type; /* NULL = guessed from the file name, else octet-stream */
    const void *data;
    size_t size;
} drudge_mail_out_att;

typedef struct drudge_mail_out {
    const char *from;
    const char *const *to, *const *cc, *const *reply_to; /* NULL-terminated lists */
    const char *subject;
    const char *text, *html; /* at least one; both gives multipart/alternative */
    const char *in_reply_to; /* Message-ID (without <>) or NULL */
    const drudge_mail_out_att *atts;
    size_t natts;
} drudge_mail_out;

/* Builds the message (CRLF line ends, a fresh Message-ID and Date). Caller
 * frees *raw and *message_id (without <>) with free(). */
drudge_code drudge_mail_build(const drudge_mail_out *spec, char **raw /* OUT */,
                              size_t *len /* OUT */, char **message_id /* OUT */, drudge_err *err);

/* Extracts the bare address of "Name <a@b>" or "a@b" into a malloc'd string
 * (caller frees), or NULL if s holds no valid single address. */
char *drudge_mail_bare_address(const char *s);

/* --- IMAP responses (the untagged lines libcurl hands back) --- */

/* UIDs of "* SEARCH 1 2 3" lines, in order. Caller frees *uids. Returns the
 * count, or -1 if a SEARCH line holds something that is not a number. */
long drudge_imap_parse_search(const char *resp, size_t len, uint32_t **uids /* OUT */);

/* Mailbox names of "* LIST (\HasNoChildren) "/" NAME" lines (atoms and
 * quoted strings). Caller frees each name and *names. Returns the count. */
size_t drudge_imap_parse_list(const char *resp, size_t len, char ***names /* OUT */);

/* From "* N FETCH (UID u FLAGS (...) RFC822.SIZE s)": whether the message
 * with UID uid appears, its size and whether it has \Seen. */
int drudge_imap_parse_fetch_info(const char *resp, size_t len, uint32_t uid,
                                 uint64_t *size /* OUT */, int *seen /* OUT */);

/* The destination UID from "* OK [COPYUID validity src dst]" when src is a
 * single UID equal to uid; 0 if absent. */
uint32_t drudge_imap_parse_copyuid(const char *resp, size_t len, uint32_t uid);

/* Appends s to b as an IMAP quoted string; returns -1 (appending nothing)
 * if s holds CR, LF or NUL, which no quoted string may carry. */
struct drudge_buf;
int drudge_imap_quote(struct drudge_buf *b, const char *s);

#endif

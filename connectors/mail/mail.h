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

/* --- watching a mailbox (connectors/mail/idle.c) --- */

#include <signal.h>

typedef struct drudge_mail_watch_opts {
    const char *base;    /* "imap://host:port" or "imaps://..." (no user info, no path) */
    const char *mailbox; /* "INBOX" */
    const char *user, *password;
    const char *ca_file; /* NULL: the system's CAs */
    int verify_tls, starttls;
    double idle_s; /* IDLE at most this long before searching again; 0: 25 minutes */
    volatile sig_atomic_t *stop;
    /* Called for each message UID above the last one seen (all of them at
     * the start, and after a UIDVALIDITY change), in order. An error ends
     * the watch (DRUDGE_EDB) or the session (else: it connects again). */
    drudge_code (*found)(void *ud, uint32_t uidvalidity, uint32_t uid, drudge_err *err);
    void (*say)(void *ud, const char *msg); /* what happens, for -v; may be NULL */
    void *ud;
} drudge_mail_watch_opts;

/* Watches the mailbox with IMAP IDLE until *stop: found() for every message
 * there and every one that arrives (within a second of the server's
 * EXISTS). A lost connection is made again (pauses of 1 s doubling to 60 s);
 * DRUDGE_EINPUT when the server refuses the login or the mailbox, or the
 * first connection fails for another reason than the network. */
drudge_code drudge_mail_watch(const drudge_mail_watch_opts *o, drudge_err *err);

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

/* --- a plain-text message outside scripts (connectors/mail/notify.c) --- */

/* The runner's notifications (runner/work/notify.c) send mail through
 * this, looked up by name in drudge_mail.so. */
typedef struct drudge_mail_text {
    const char *smtp;            /* smtp://host:port or smtps://host:port */
    const char *user, *password; /* the SMTP login, or NULL */
    int starttls;                /* smtp://: upgrade with STARTTLS, refuse if unsupported */
    const char *from;
    const char *const *to; /* NULL-terminated */
    const char *subject, *text;
    double timeout_s; /* 0: 30 s */
} drudge_mail_text;
/* Builds and sends the message; DRUDGE_ECONNECT when the server cannot be
 * reached or refuses it, DRUDGE_EUSAGE for a bad address or URL. */
drudge_code drudge_mail_send_text(const drudge_mail_text *m, drudge_err *err);
typedef drudge_code (*drudge_mail_send_text_fn)(const drudge_mail_text *m, drudge_err *err);

#endif

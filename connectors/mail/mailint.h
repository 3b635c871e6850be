/* mailint.h: internals shared by the mail connector's files (mail.c, imap.c,
 * smtp.c). Transport only: nothing here knows about Lua or the recorder. */
#ifndef DRUDGE_MAILINT_H
#define DRUDGE_MAILINT_H

#include <curl/curl.h>
#include <stdint.h>
#include "drudge/error.h"
#include "drudge/util.h"

/* TLS and time limits shared by IMAP and SMTP. */
typedef struct mail_tls {
    int verify;          /* verify the peer's certificate and name (default on) */
    const char *ca_file; /* CA bundle to verify against, or NULL for the system's */
    int starttls;        /* plain URL: upgrade with STARTTLS, refuse if unsupported */
} mail_tls;

/* One IMAP connection, reused by libcurl across the commands of a session
 * (same easy handle, same host and user). */
typedef struct imap_conn {
    CURL *curl;
    char *base; /* "imaps://host:port", no path */
    char *user, *password;
    char *ca_file;
    int verify, starttls;
    char errbuf[CURL_ERROR_SIZE];
} imap_conn;

/* Sets up c (no network yet). Copies everything. */
drudge_code imap_conn_init(imap_conn *c, const char *base, const char *user, const char *password,
                           const mail_tls *tls, drudge_err *err);
/* Logs out (closes the connection) and wipes the password. Safe twice. */
void imap_conn_close(imap_conn *c);
/* Runs one command (after SELECTing mailbox, unless NULL) and appends the
 * untagged response lines to resp. A NO/BAD reply is an error. */
drudge_code imap_command(imap_conn *c, const char *mailbox, const char *command, double timeout,
                         drudge_buf *resp, drudge_err *err);
/* Fetches the whole message with UID uid (UID FETCH uid BODY[]) into body. */
drudge_code imap_fetch_body(imap_conn *c, const char *mailbox, uint32_t uid, double timeout,
                            drudge_buf *body, drudge_err *err);

/* Sends a message through SMTP. rcpts: bare addresses, NULL-terminated. */
drudge_code smtp_send(const char *url, const char *user, const char *password, const mail_tls *tls,
                      const char *from, const char *const *rcpts, const char *msg, size_t len,
                      double timeout, drudge_err *err);

/* Applies timeout, TLS and common options to an easy handle. */
void mail_curl_common(CURL *curl, const mail_tls *tls, double timeout, char *errbuf);
/* Describes a libcurl failure: errbuf if set, else the code's text. */
const char *mail_curl_error(CURLcode rc, const char *errbuf);

#endif

/*
 * mailwatch.h: `drudge watch-mail`: each message that arrives in an IMAP
 * mailbox becomes a task, within seconds (runner/work/mailwatch.c).
 *
 * The mailbox is watched with IMAP IDLE by the mail module
 * (drudge_mail_watch, connectors/mail/idle.c; opened as drudge_mail.so, so
 * the binary does not link libcurl or GMime). Each message is queued as
 * one task keyed "imap:HOST:PORT/MAILBOX:UIDVALIDITY:UID" with the input
 * {"url", "mailbox", "uid", "uidvalidity"}: the robot fetches it by its
 * UID. The key makes a restart safe: every message still in the mailbox is
 * offered again, and finds its task already queued.
 */
#ifndef DRUDGE_MAILWATCH_H
#define DRUDGE_MAILWATCH_H

#include <signal.h>
#include <stdint.h>
#include "drudge/error.h"
#include "runner/store/store.h"

typedef struct drudge_mailwatch_opts {
    const char *db_path;
    const char *url; /* imap[s]://host[:port]/MAILBOX, no user info */
    const char *user, *password;
    const char *ca_file;
    int verify_tls, starttls;
    double idle_s;                /* 0: 25 minutes */
    const drudge_task_spec *spec; /* the script's fields (script, path, contract, priority) */
    volatile sig_atomic_t *stop;  /* set by a signal: finish and return */
    int verbose;                  /* a line per message on stderr */
} drudge_mailwatch_opts;

typedef struct drudge_mailwatch_stats {
    int64_t queued, duplicates;
} drudge_mailwatch_stats;

/* Watches until *stop is set. A URL that is not imap[s]://, a login or a
 * mailbox the server refuses, the mail module missing or the database
 * failing end it with err set; a lost connection does not. */
drudge_code drudge_mailwatch_run(const drudge_mailwatch_opts *o, drudge_mailwatch_stats *st,
                                 drudge_err *err);

#endif

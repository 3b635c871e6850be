/*
 * notify.h: telling operations what happened (runner/work/notify.c): a
 * circuit breaker opened or closed, deadlines were missed, dead tasks
 * piled up. Channels are set once for the fleet (`drudge notify add`, in
 * the database: store.h, "notifications"); an event becomes one outbox
 * row per channel that wants it, in the transaction that records it. A
 * sender thread of `drudge work` scans for missed deadlines and dead
 * tasks, claims due rows with a lease (so two workers send each row
 * once), POSTs a webhook's JSON (libcurl, in drudge_http.so) or sends the
 * mail (the mail connector's SMTP code, in drudge_mail.so), and records
 * each attempt on the row: sent, to try again later (growing waits), or
 * given up and why. It never holds the writer up: claims go on whatever
 * the network does.
 */
#ifndef DRUDGE_NOTIFY_H
#define DRUDGE_NOTIFY_H

#include <stdint.h>
#include "drudge/error.h"
#include "runner/store/store.h"

#define DRUDGE_NOTIFY_MAX_ATTEMPTS   10 /* then the row is given up */
#define DRUDGE_NOTIFY_DEAD_THRESHOLD 10 /* default: dead tasks of a script per notice */

/* The delay before attempt n + 1 after n failed (µs): 2 s doubling, at
 * most 10 minutes. */
int64_t drudge_notify_backoff(int attempts);

/* Queues the notification of an outage's opening (open = 1) or closing,
 * read back from the outage row id, to every channel that wants "breaker".
 * In the caller's write transaction (the writer's turn). */
drudge_code drudge_notify_outage(drudge_store *s, int open, int64_t outage_id, int64_t at,
                                 drudge_err *err);

/* Sends row r (its channel, its payload) once now; the secret named by the
 * channel is read from $DRUDGE_SECRET_NAME or secrets_file. DRUDGE_OK when
 * it was delivered; else err says why and *permanent whether trying again
 * cannot help (a 4xx answer, a bad address, a missing secret). */
drudge_code drudge_notify_send(const drudge_notify_row *r, const char *secrets_file,
                               int *permanent /* OUT */, drudge_err *err);

/* The sender of a `drudge work` process. */
typedef struct drudge_notifier drudge_notifier;
typedef struct drudge_notifier_opts {
    const char *db_path;
    const char *owner; /* the process's lease owner; the sender's is owner + "/notify" */
    const char *secrets_file;
    int verbose;
} drudge_notifier_opts;
/* Starts the sender thread with a store connection of its own. */
drudge_code drudge_notifier_start(const drudge_notifier_opts *o, drudge_notifier **out /* OUT */,
                                  drudge_err *err);
/* Stops it after a last pass (scans, then what is due is sent once more:
 * the closing of an outage the run's last turn recorded), and frees it. */
void drudge_notifier_stop(drudge_notifier *n);

/* One pass: the scans (when scan is set), then claims and sends what is
 * due. *sent and *failed (may be NULL) count this pass's attempts. */
drudge_code drudge_notify_pass(drudge_store *s, const char *owner, const char *secrets_file,
                               int64_t now, int scan, int verbose, int *sent, int *failed,
                               drudge_err *err);

/* ---- channels: operator actions (`drudge notify`) ---- */

/* Checks a channel before it is added: kind, a URL that is http(s)://, the
 * addresses, smtp:// or smtps://, the events (of breaker, deadline, dead),
 * a secret's name (letters, digits, _), a login only with a secret.
 * DRUDGE_EUSAGE naming what is wrong. */
drudge_code drudge_notify_channel_check(const drudge_notify_channel *c, drudge_err *err);
/* Adds (checked) or removes a channel, with its operator step on the audit
 * chain (action "notify add" / "notify remove", user who), in one
 * transaction. remove: DRUDGE_ENOTFOUND if there is no channel id. */
drudge_code drudge_notify_channel_add(drudge_store *s, const drudge_notify_channel *c,
                                      const char *who, int64_t now, int64_t *id /* OUT */,
                                      drudge_err *err);
drudge_code drudge_notify_channel_remove(drudge_store *s, int64_t id, const char *who, int64_t now,
                                         drudge_err *err);
/* `drudge notify test ID`: queues a test notification to channel id and
 * sends it now (recorded on its outbox row like any other): DRUDGE_OK if
 * it arrived, else err says why. *row_id gets the outbox row. */
drudge_code drudge_notify_test(drudge_store *s, int64_t id, const char *who,
                               const char *secrets_file, int64_t *row_id /* OUT */,
                               drudge_err *err);

#endif

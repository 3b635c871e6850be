/* listen.c: waking idle workers on every machine. A transaction that makes
 * tasks claimable (enqueue, a requeue, a release, retry, resume) sends
 * NOTIFY drudge_work with the earliest run_at it queued (db.c, at commit).
 * A `drudge work` listens on a connection of its own, in a thread that
 * sleeps in poll() on that socket: a notification of work due now wakes the
 * writer at once, one of work due later sets a timer for it, and so does the
 * earliest run_at of the tasks waiting in ready, read when the thread
 * connects and each time a timer fires. So an idle fleet starts a task
 * within milliseconds of its enqueue, or of its time coming, and polls the
 * database only at its slow idle pace. After a lost connection the thread
 * connects again and wakes the writer once, for anything it missed. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "drudge/util.h"
#include "runner/store/pg/pgint.h"

#define REREAD_US                                                                                  \
    (30 * (int64_t)1000000) /* the earliest run_at is read again at least this often */
#define RETRY_US 1000000    /* between attempts to connect */
#define EARLY_US 1000       /* a notification this close to now is now */

struct pg_listener {
    pthread_t th;
    int pipe[2]; /* written to stop the thread */
    char *conninfo, *name;
    void (*wake)(void *ud);
    void *ud;
};

/* Waits up to us for the socket (or only the stop pipe if fd < 0):
 * 1 when the thread must stop, else 0. */
static int wait_for(pg_listener *l, int fd, int64_t us)
{
    struct pollfd p[2] = {{.fd = l->pipe[0], .events = POLLIN}, {.fd = fd, .events = POLLIN}};
    int ms = us <= 0 ? 0 : us > 60000000 ? 60000 : (int)((us + 999) / 1000);
    int n = poll(p, fd >= 0 ? 2 : 1, ms);
    return n > 0 && (p[0].revents & POLLIN);
}

static PGconn *listen_connect(pg_listener *l)
{
    PGconn *c = pg_connect(l->conninfo, l->name, NULL);
    if (!c)
        return NULL;
    PGresult *r = PQexec(c, "LISTEN " PG_CHANNEL);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* The earliest run_at after now in ready (0: none, or unknown). */
static int64_t next_later(PGconn *c, int64_t now)
{
    char num[24];
    const char *v[1] = {num};
    snprintf(num, sizeof num, "%lld", (long long)now);
    PGresult *r = PQexecParams(c, pg_next_sql, 1, NULL, v, NULL, NULL, 0);
    int64_t t = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r)
                    ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
                    : 0;
    PQclear(r);
    return t;
}

/* Reads the notifications waiting: 1 if one says work is due now; a later
 * one moves *timer earlier. */
static int drain(PGconn *c, int64_t now, int64_t *timer)
{
    int due = 0;
    PGnotify *n = PQnotifies(c);
    for (; n; n = PQnotifies(c)) {
        int64_t t = strtoll(n->extra, NULL, 10);
        if (t <= now + EARLY_US)
            due = 1;
        else if (!*timer || t < *timer)
            *timer = t;
        PQfreemem(n);
    }
    return due;
}

static void *listen_main(void *arg)
{
    pg_listener *l = arg;
    PGconn *c = NULL;
    int64_t timer = 0, reread = 0;
    for (;;) {
        int64_t now = drudge_now_us();
        if (!c || PQstatus(c) != CONNECTION_OK) {
            PQfinish(c);
            c = listen_connect(l);
            if (!c) {
                if (wait_for(l, -1, RETRY_US))
                    break;
                continue;
            }
            timer = next_later(c, now);
            reread = now + REREAD_US;
            l->wake(l->ud); /* whatever came while no one listened */
        }
        int64_t until = timer && timer < reread ? timer : reread;
        if (wait_for(l, PQsocket(c), until - now))
            break;
        now = drudge_now_us();
        int due = 0;
        if (PQconsumeInput(c))
            due = drain(c, now, &timer);
        if (timer && now >= timer) {
            due = 1;
            timer = 0;
        }
        if (now >= reread || (due && !timer)) {
            timer = next_later(c, now);
            reread = now + REREAD_US;
        }
        if (due)
            l->wake(l->ud);
    }
    PQfinish(c);
    return NULL;
}

void pg_listener_stop(pg_store *q)
{
    pg_listener *l = q->listener;
    if (!l)
        return;
    q->listener = NULL;
    ssize_t w = write(l->pipe[1], "x", 1);
    (void)w;
    pthread_join(l->th, NULL);
    close(l->pipe[0]);
    close(l->pipe[1]);
    free(l->conninfo);
    free(l->name);
    free(l);
}

drudge_code pg_watch(drudge_store *s, void (*wake)(void *ud), void *ud, drudge_err *err)
{
    pg_store *q = pgs(s);
    pg_listener_stop(q);
    if (!wake)
        return DRUDGE_OK;
    pg_listener *l = drudge_xmalloc(sizeof *l);
    memset(l, 0, sizeof *l);
    if (pipe(l->pipe) != 0) {
        free(l);
        return drudge_seterr(err, DRUDGE_EIO, "database %s: listening: %s", q->base.name,
                             strerror(errno));
    }
    l->conninfo = drudge_xstrdup(q->conninfo);
    l->name = drudge_xstrdup(q->base.name);
    l->wake = wake;
    l->ud = ud;
    if (pthread_create(&l->th, NULL, listen_main, l) != 0) {
        close(l->pipe[0]);
        close(l->pipe[1]);
        free(l->conninfo);
        free(l->name);
        free(l);
        return drudge_seterr(err, DRUDGE_EIO, "database %s: cannot start the listener",
                             q->base.name);
    }
    q->listener = l;
    return DRUDGE_OK;
}

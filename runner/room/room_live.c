/*
 * room_live.c: live updates by server-sent events (GET /api/v1/events).
 * One stream per open page: the counts of /api/v1/status when they change
 * ("status"), and with ?task=ID that task's state when it changes
 * ("task"), a comment line as a heartbeat when nothing changed for a
 * while, and "bye" before the stream ends because the session or token was
 * revoked, logged out or expired, or because the server stops.
 *
 * libmicrohttpd runs one thread per connection here (room.c), so a stream
 * is a response whose content reader waits in its own thread for the next
 * event. The streams share one read of the counts per second (r->live),
 * so a hundred open pages cost the store what one does; at most
 * ROOM_LIVE_MAX streams are open at once (each holds a thread and a
 * connection slot), and a page that is refused one falls back to polling
 * (assets/room.js).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <microhttpd.h>
#include "drudge/json.h"
#include "runner/room/roomint.h"

#define TICK_US      (200 * (int64_t)1000)   /* how often a stream looks at the stop flag */
#define POLL_US      ((int64_t)1000000)      /* how often it looks for changes */
#define KEY_US       (2 * (int64_t)1000000)  /* how often it checks its key still opens */
#define HEARTBEAT_US (15 * (int64_t)1000000) /* a comment after this long without an event */

typedef struct live {
    room *r;
    char hash[65];      /* the session's or token's key, checked every KEY_US */
    int64_t task;       /* the task watched, or 0 */
    int perms;          /* the role's */
    drudge_buf pending; /* text not yet handed to libmicrohttpd */
    size_t sent;        /* of pending */
    char *last_status;  /* the counts last sent */
    char *last_task;    /* the task's state last sent */
    int64_t next_poll, next_key, last_event;
    int closing;
} live;

static void sleep_us(int64_t us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* The counts as JSON, read at most once per POLL_US for every stream (a
 * malloc'd copy, or NULL when the store cannot say). */
static char *shared_status(room *r, int64_t now)
{
    char *copy = NULL;
    pthread_mutex_lock(&r->live_lock);
    if (!r->live_status || now - r->live_at >= POLL_US) {
        drudge_buf b = {0};
        drudge_err err = {0};
        if (!room_status_json(r, 0, &b, &err)) {
            free(r->live_status);
            r->live_status = drudge_buf_take(&b);
            r->live_at = now;
        }
        drudge_buf_free(&b);
    }
    if (r->live_status)
        copy = drudge_xstrdup(r->live_status);
    pthread_mutex_unlock(&r->live_lock);
    return copy;
}

/* The watched task's state as JSON (what every role may see), or NULL. */
static char *task_state(live *l)
{
    drudge_task_row t = {0};
    drudge_attempt_row *att = NULL;
    size_t na = 0;
    drudge_err err = {0};
    char *out = NULL;
    pthread_mutex_lock(&l->r->lock);
    drudge_code rc = drudge_store_get(l->r->s, l->task, &t, &att, &na, &err);
    pthread_mutex_unlock(&l->r->lock);
    if (!rc) {
        drudge_buf b = {0};
        drudge_buf_puts(&b, "{");
        drudge_json_int(&b, "id", t.id);
        drudge_json_str(&b, "state", t.state);
        drudge_json_int(&b, "attempts", t.attempts);
        drudge_json_bool(&b, "resolved", t.resolved_at != 0);
        drudge_buf_puts(&b, "}");
        out = drudge_buf_take(&b);
    }
    drudge_task_row_clear(&t);
    drudge_attempt_rows_free(att, na);
    return out;
}

static void event(live *l, const char *name, const char *data, int64_t now)
{
    drudge_buf_printf(&l->pending, "event: %s\ndata: %s\n\n", name, data);
    l->last_event = now;
}

/* Whether the stream's key still opens (not logged out, revoked, expired,
 * nor its user disabled): asked of the store, so a revocation made on
 * another server of the fleet ends the stream too. */
static int key_opens(live *l, int64_t now)
{
    drudge_room_key k = {0};
    drudge_room_user u = {0};
    drudge_err err = {0};
    pthread_mutex_lock(&l->r->lock);
    drudge_code rc = drudge_store_key_find(l->r->s, l->hash, now, &k, &u, &err);
    pthread_mutex_unlock(&l->r->lock);
    drudge_room_key_clear(&k);
    drudge_room_user_clear(&u);
    /* A store that cannot answer now (busy, a lost connection) ends nothing. */
    return rc != DRUDGE_ENOTFOUND;
}

/* Waits until there is something to send (into l->pending) or the stream
 * ends (l->closing). */
static void next_events(live *l)
{
    for (;;) {
        int64_t now = drudge_now_us();
        if (__atomic_load_n(&l->r->stopping, __ATOMIC_ACQUIRE)) {
            event(l, "bye", "{\"reason\":\"the server stops\"}", now);
            l->closing = 1;
            return;
        }
        if (now >= l->next_key) {
            l->next_key = now + KEY_US;
            if (!key_opens(l, now)) {
                event(l, "bye", "{\"reason\":\"logged out, revoked or expired\"}", now);
                l->closing = 1;
                return;
            }
        }
        if (now >= l->next_poll) {
            l->next_poll = now + POLL_US;
            char *st = shared_status(l->r, now);
            if (st && (!l->last_status || strcmp(st, l->last_status))) {
                event(l, "status", st, now);
                free(l->last_status);
                l->last_status = st;
            } else {
                free(st);
            }
            if (l->task) {
                char *ts = task_state(l);
                if (ts && (!l->last_task || strcmp(ts, l->last_task))) {
                    event(l, "task", ts, now);
                    free(l->last_task);
                    l->last_task = ts;
                } else {
                    free(ts);
                }
            }
        }
        if (!l->pending.len && now - l->last_event >= HEARTBEAT_US) {
            /* A comment: keeps proxies from timing the stream out, and
             * lets the server find a client that went away. */
            drudge_buf_puts(&l->pending, ": heartbeat\n\n");
            l->last_event = now;
        }
        if (l->pending.len)
            return;
        sleep_us(TICK_US);
    }
}

static ssize_t live_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    live *l = cls;
    (void)pos;
    while (l->sent >= l->pending.len) {
        drudge_buf_reset(&l->pending);
        l->sent = 0;
        if (l->closing)
            return MHD_CONTENT_READER_END_OF_STREAM;
        next_events(l);
    }
    size_t n = l->pending.len - l->sent;
    if (n > max)
        n = max;
    memcpy(buf, l->pending.data + l->sent, n);
    l->sent += n;
    return (ssize_t)n;
}

static void live_free(void *cls)
{
    live *l = cls;
    pthread_mutex_lock(&l->r->live_lock);
    l->r->live_streams--;
    pthread_mutex_unlock(&l->r->live_lock);
    drudge_buf_free(&l->pending);
    free(l->last_status);
    free(l->last_task);
    free(l);
}

/* GET /api/v1/events[?task=ID] */
void room_live_events(room_req *q)
{
    char v[32];
    int64_t task = 0;
    if (!room_query(q, "task", v, sizeof v) && *v) {
        char *end;
        long long id = strtoll(v, &end, 10);
        if (*end || id <= 0)
            return room_json_error(q, 400, "task '%s': want a task id", v);
        task = id;
    }
    room *r = q->r;
    pthread_mutex_lock(&r->live_lock);
    int max = r->o->max_streams > 0 ? r->o->max_streams : ROOM_LIVE_MAX;
    int full = r->live_streams >= max;
    if (!full)
        r->live_streams++;
    pthread_mutex_unlock(&r->live_lock);
    if (full) {
        room_header(q, "Retry-After", "30");
        return room_json_error(q, 503,
                               "%d event streams are open, the most this server keeps "
                               "(--max-streams): poll /api/v1/status instead",
                               max);
    }
    live *l = drudge_xmalloc(sizeof *l);
    memset(l, 0, sizeof *l);
    l->r = r;
    snprintf(l->hash, sizeof l->hash, "%s", q->key.hash);
    l->task = task;
    l->perms = q->perms;
    l->last_event = drudge_now_us();
    /* Reconnect after 5 s if the connection drops. */
    drudge_buf_puts(&l->pending, "retry: 5000\n\n");
    q->stream = l;
    q->type = "text/event-stream";
}

/* The response for a stream room_live_events opened, or NULL (the stream
 * is freed then). */
struct MHD_Response *room_live_response(room_req *q)
{
    live *l = q->stream;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, live_read, l, live_free);
    if (!resp)
        live_free(l);
    q->stream = NULL;
    return resp;
}

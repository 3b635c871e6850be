/*
 * roomint.h: what the control room's files share (runner/room/): a
 * request being answered, the routes, roles and their permissions.
 * room.c serves and routes, room_auth.c knows who asks (users, sessions,
 * tokens, CSRF, the failed-login limit), room_api.c answers /api/v1/,
 * room_pages.c the HTML pages.
 */
#ifndef DRUDGE_ROOMINT_H
#define DRUDGE_ROOMINT_H

#include <pthread.h>
#include <stdint.h>
#include "drudge/record.h"
#include "drudge/util.h"
#include "runner/room/room.h"

/* What a role may do: each route needs one of these. */
enum {
    ROOM_SEE = 1,      /* counts, charts, reports, schedules, scripts: every role */
    ROOM_DATA = 2,     /* keys, errors, task input and output (redacted): operator, admin */
    ROOM_FULL = 4,     /* task data unredacted, steps, the audit trail: auditor */
    ROOM_ACT = 8,      /* retry, cancel, resolve, pause, resume, enqueue: operator, admin */
    ROOM_USERS = 16,   /* users and tokens: admin */
    ROOM_ANYONE = 256, /* no login needed (the login page, assets) */
};
/* The permissions of a role (0 for an unknown one). */
int room_role_perms(const char *role);

typedef struct room room;

/* The failed-login limit: per user name and per address, the failures in
 * the last ROOM_FAIL_WINDOW µs, counted in the database so that every
 * server on it shares them; from the ROOM_FAIL_FREE-th on, each login
 * (right or wrong) is answered only after a delay that doubles. */
#define ROOM_FAIL_FREE   5
#define ROOM_FAIL_WINDOW (15 * 60 * (int64_t)1000000)

struct room {
    drudge_store *s;
    pthread_mutex_t lock; /* the store: one connection, one request at a time */
    const drudge_room_opts *o;
    int tls;
    drudge_rec *redactor; /* what operators see goes through its patterns */
    /* The event streams (room_live.c): how many are open, and the counts
     * they share, read at most once a second. */
    pthread_mutex_t live_lock;
    int live_streams;
    char *live_status;
    int64_t live_at;
    int stopping; /* set (atomically) when the server stops: streams end */
    /* "Verify now" (room_verify.c): one check at a time, in a thread and on
     * a connection of its own, so the server answers meanwhile. */
    pthread_mutex_t verify_lock;
    int verify_running, verify_joinable;
    pthread_t verify_thread;
    int64_t verify_checked, verify_total, verify_started, verify_ended;
    char verify_by[96];
    char *verify_result; /* the last finished check's JSON, or NULL */
};

/* The most event streams open at once by default (each holds a thread;
 * drudge serve --max-streams). */
#define ROOM_LIVE_MAX 64

/* One request. The handler fills status, type and out (and maybe headers). */
typedef struct room_req {
    room *r;
    const char *method, *path; /* path without the query */
    const char *query;         /* after '?', or "" */
    const char *body;
    size_t body_len;
    const char *remote; /* the client's address */
    const char *content_type, *auth_header, *cookie_header, *csrf_header, *idem_header;
    /* who asks: set by room_auth before the route's handler runs */
    drudge_room_user user;
    drudge_room_key key;
    int perms;
    int by_session;  /* a session cookie (changes need the CSRF token), not a token */
    const char *arg; /* the route's {id} or {name} segment, or NULL */
    /* the answer */
    unsigned status;
    const char *type;
    drudge_buf out;
    const char *csp;  /* a Content-Security-Policy of its own (the report's inline style) */
    int frame_self;   /* may be framed by the control room's own pages */
    char *headers[6]; /* "Name: value" lines, malloc'd */
    int nheaders;
    void *stream; /* an event stream to answer with instead of out (room_live.c) */
} room_req;

typedef void (*room_handler)(room_req *q);
typedef struct room_route {
    const char *method;
    const char *path; /* a segment "{x}" matches one non-empty segment */
    int perms;        /* any of these (ROOM_ANYONE: no login) */
    room_handler fn;
    const char *what; /* for the route list */
} room_route;
extern const room_route room_api_routes[];  /* room_api.c, ends with a NULL method */
extern const room_route room_page_routes[]; /* room_pages.c */

/* Answers (room.c). */
void room_header(room_req *q, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A JSON error {"error": msg, ...extra members}. */
void room_json_error(room_req *q, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The answer for a store error: 404 not found, 409 a state that forbids it, 400 bad input, 503
 * busy, else 500. */
void room_json_fail(room_req *q, const drudge_err *err);
unsigned room_status_for(drudge_code code);
/* The query parameter name's value, decoded, into out (0), or -1 if absent. */
int room_query(const room_req *q, const char *name, char *out, size_t n);
/* The same for an application/x-www-form-urlencoded body. */
int room_form(const room_req *q, const char *name, char *out, size_t n);
/* A string field of the body (a JSON object's member, or a form field)
 * into out (0), or -1 if absent (room_api.c). */
int room_field(const room_req *q, const char *name, char *out, size_t n);
/* HTML-escapes s into b. */
void room_html(drudge_buf *b, const char *s);
/* Locks the store for the request; unlocked by room_unlock. */
void room_lock(room_req *q);
void room_unlock(room_req *q);
/* A time as "2026-11-23 09:15:02" UTC into out ("" for 0). */
void room_fmt_time(int64_t us, char out[32]);

/* Auth (room_auth.c). */
/* Who asks: a Bearer token or a session cookie. 1 if known (q->user,
 * q->key, q->perms set), else 0. */
int room_auth_identify(room_req *q);
/* A change through a session must carry the session's CSRF token (header
 * X-CSRF-Token, or form field csrf); 1 if it does or a token was used. */
int room_auth_csrf_ok(room_req *q);
/* POST /login (form or JSON): checks the password, with the failed-login
 * delay; on success opens a session (cookie) and redirects or answers JSON. */
void room_auth_login(room_req *q);
void room_auth_logout(room_req *q);
/* The login form's CSRF token: a new one into out, with its cookie; -1 on failure. */
int room_auth_login_token(room_req *q, char out[65]);
/* POST /api/v1/me/password {old, new}: the user's own password, the old one
 * required; ends the user's other sessions. */
void room_auth_password_change(room_req *q);
/* POST /api/v1/users/{name}/password {password}: an admin's reset; ends
 * that user's sessions. */
void room_auth_password_reset(room_req *q);
/* GET /api/v1/tokens: an admin's every token, another user's own. */
void room_auth_tokens(room_req *q);
/* POST /api/v1/tokens/{id}/revoke: at once, on every server sharing the
 * database (admins any token, others their own). */
void room_auth_token_revoke(room_req *q);
/* A token's id: the first ROOM_TOKEN_ID hex digits of its SHA-256. */
#define ROOM_TOKEN_ID 12
/* A password's Argon2id encoding into out; -1 on failure. */
int room_auth_hash(const char *password, char *out, size_t n);
/* 1 if password matches the encoding. */
int room_auth_verify(const char *encoded, const char *password);

/* room_api.c, shared with the pages. */
/* 1 if text[0..n) is one JSON value. */
int room_json_valid(const char *text, size_t n);
/* Text as the role may see it: redacted for an operator, as recorded for
 * an auditor (malloc'd, or NULL for NULL). Call with the store locked. */
char *room_seen(room_req *q, const char *s);
struct drudge_report_opts;
/* A task list's filter from the query (state, script, key, since, until,
 * before, limit) into f, with its strings in the buffers; -1 answered. */
int room_task_filter(room_req *q, drudge_task_filter *f, char state[16], char script[128],
                     char key[256]);
/* The report's options from the query (by, script, since, until); -1 answered. */
int room_report_opts(room_req *q, struct drudge_report_opts *o, char script[128]);

/* The counts of GET /api/v1/status appended to b (takes the store's lock);
 * without ages, the oldest queued task's time (oldest_queued_at) instead
 * of its age, which changes every second (the event stream's). */
drudge_code room_status_json(room *r, int ages, drudge_buf *b, drudge_err *err);

/* Live updates (room_live.c): GET /api/v1/events opens a stream into
 * q->stream; room.c answers with room_live_response (NULL on failure). */
void room_live_events(room_req *q);
struct MHD_Response;
struct MHD_Response *room_live_response(room_req *q);

/* A verification's report as JSON into b (room_api.c). */
struct drudge_verify_report;
void room_verify_json(drudge_buf *b, const struct drudge_verify_report *rep);
/* POST /api/v1/audit/verify: starts a check in the background (202), or
 * says which one runs (409); GET /api/v1/audit/verify/progress: how far it
 * is, and the last one's result (room_verify.c). */
void room_verify_start(room_req *q);
void room_verify_progress(room_req *q);
/* At the server's stop: ends a running check and waits for its thread. */
void room_verify_stop(room *r);

/* The overview's charts (room_api.c): attempts that ended done and failed
 * in each of the nb buckets of width µs up to now (the last ends at now),
 * from the store's per-minute counts (drudge_store_throughput). Takes the
 * store's lock. */
drudge_code room_throughput(room *r, int64_t now, int64_t width, int nb, int64_t *done,
                            int64_t *failed, drudge_err *err);
/* A page that says the role may not see it (403), in the frame of the others. */
void room_page_refused(room_req *q, const char *why);

#endif

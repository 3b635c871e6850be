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

/* The overview's charts (room_pages.c): finished tasks per minute, sampled
 * from the store's counts by a thread of the server's since it started
 * (status is quick over millions of tasks; a scan of finished tasks by
 * time is not). */
#define ROOM_SAMPLES (24 * 60)
typedef struct room_sample {
    int64_t at;           /* µs; 0: none */
    int64_t done, failed; /* totals at that time (failed: failed and dead) */
} room_sample;

/* The failed-login limit: per user name and per address, the failures in
 * the last ROOM_FAIL_WINDOW µs; from the ROOM_FAIL_FREE-th on, each login
 * (right or wrong) is answered only after a delay that doubles. */
#define ROOM_FAIL_FREE   5
#define ROOM_FAIL_WINDOW (15 * 60 * (int64_t)1000000)
#define ROOM_FAIL_SLOTS  256
typedef struct room_fail {
    char who[96]; /* "u:NAME" or "a:ADDRESS" */
    int count;
    int64_t last;
} room_fail;

struct room {
    drudge_store *s;
    pthread_mutex_t lock; /* the store: one connection, one request at a time */
    const drudge_room_opts *o;
    int tls;
    drudge_rec *redactor; /* what operators see goes through its patterns */
    pthread_mutex_t fail_lock;
    room_fail fails[ROOM_FAIL_SLOTS];
    room_sample samples[ROOM_SAMPLES]; /* a ring, under lock */
    int nsamples, next_sample;
};

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

void room_sample_now(room *r);
/* A page that says the role may not see it (403), in the frame of the others. */
void room_page_refused(room_req *q, const char *why);

#endif

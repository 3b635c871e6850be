/* browserint.h: internals shared by the browser connector's files:
 * browser.c (the Lua module drudge.browser and its recording), wd.c (the
 * W3C WebDriver client: HTTP and JSON over libcurl), locate.c (finding
 * elements as a person describes them, and waiting until they can be acted
 * on, in a script run inside the page) and proc.c (chromedriver and
 * Chromium: starting, the session, closing, orphans). */
#ifndef DRUDGE_BROWSERINT_H
#define DRUDGE_BROWSERINT_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <curl/curl.h>
#include <lauxlib.h>
#include "drudge/child.h"
#include "drudge/error.h"
#include "drudge/util.h"

/* The key under which WebDriver serialises a DOM element (W3C). */
#define WD_ELEMENT_KEY "element-6066-11e4-a52e-4f735466cecf"

/* One WebDriver connection: the driver's address and the session on it. */
typedef struct wd_conn {
    CURL *curl;
    struct curl_slist *hdrs;
    char base[64];     /* "http://127.0.0.1:PORT" */
    char session[128]; /* the session id, "" before one is made */
    drudge_buf url, resp;
    const char *value; /* the last answer's "value" (raw JSON text inside resp) */
    size_t vlen;
    char error[64]; /* the last WebDriver error code ("no such element"), "" if none */
    int dead;       /* the driver or the browser is gone: every call fails */
    int64_t calls;  /* requests made (for the benchmark) */
    /* While set, asked about once a second during a request: non-zero
     * gives the request up (DRUDGE_ECONNECT, w->dead set, the message
     * from why). */
    int (*give_up)(void *ud, char *why, size_t n);
    void *give_up_ud;
} wd_conn;

/* wd.c */
drudge_code wd_init(wd_conn *w, int port, drudge_err *err);
void wd_free(wd_conn *w);
/* After the struct was copied elsewhere: the handle writes into the copy. */
void wd_moved(wd_conn *w);
/* One request: method "GET", "POST" or "DELETE"; path "/url" is relative to
 * the session ("/session/ID/url"), "=/session" absolute; body JSON or NULL.
 * timeout_s caps the whole exchange. On DRUDGE_OK, w->value is the answer's
 * "value". A WebDriver error sets w->error and returns DRUDGE_ENOTFOUND
 * (no such element/alert/window/frame), DRUDGE_ESTATE (stale element,
 * not interactable, click intercepted, unexpected alert), DRUDGE_ECONNECT
 * (browser or driver gone: w->dead is set) or DRUDGE_EIO (anything else),
 * with its message in err. */
drudge_code wd_call(wd_conn *w, const char *method, const char *path, const char *body,
                    double timeout_s, drudge_err *err);
/* The string member key of the JSON object text obj (unescaped into out,
 * cut to n); 0 if found. */
int wd_json_str(const char *obj, size_t len, const char *key, char *out, size_t n);
/* The raw text of member key of obj, or NULL. */
const char *wd_json_member(const char *obj, size_t len, const char *key, size_t *vlen);
/* Decodes base64 text (a screenshot) into out. */
drudge_code wd_base64(const char *b64, size_t n, drudge_buf *out, drudge_err *err);

/* The browser's settings, from browser.open's options. */
typedef struct bopts {
    int headless;
    int shell; /* headless in chromium-headless-shell (quicker to start), not chromium */
    int width, height;
    char downloads[PATH_MAX]; /* full path, "" for none (downloads refused) */
    double page_timeout;      /* seconds for a page load */
} bopts;

/* proc.c: the processes behind the sessions.
 *
 * One chromedriver per worker (per Lua state), started by the first
 * browser.open and kept across attempts; each session is a fresh Chromium
 * with a fresh profile that it starts and ends. */
typedef struct bdriver {
    drudge_child child;
    int port; /* where it listens; 0 while none runs */
} bdriver;

/* Makes sure the driver runs: reaps orphans, starts chromedriver (its own
 * process group, parent-death signal, pid file) and waits for it to listen,
 * within timeout_s. Must run in the thread that runs attempts: the
 * parent-death signal fires when the forking thread ends. */
drudge_code bdriver_ensure(bdriver *d, double timeout_s, drudge_err *err);
/* Kills the driver and every browser under it, removes its directory;
 * safe to call twice. */
void bdriver_stop(bdriver *d);

/* The chromium-headless-shell program, or NULL if it is not installed. */
const char *bproc_shell_path(void);

/* One browser and its WebDriver session on a driver. */
typedef struct bproc {
    bdriver *drv; /* not owned */
    wd_conn wd;
    int started;
    char profile[PATH_MAX]; /* the browser's profile, inside the driver's directory */
    char version[64];       /* Chromium's, from the new session's capabilities */
    int browser_pid;        /* Chromium's browser process, when known (a spare's); else 0 */
    char restarted[300];    /* why the start was tried twice ("" if it was not) */
} bproc;

/* Starts the driver if it is not running, then makes the session
 * (Chromium with a fresh profile). Within timeout_s. */
drudge_code bproc_start(bproc *p, bdriver *d, const bopts *o, double timeout_s, drudge_err *err);
/* Ends the session (politely, within a short time) and removes its profile;
 * a browser that does not close takes the driver down with it. Safe to
 * call twice. */
void bproc_stop(bproc *p);

/* A browser started before it is needed (browser.prewarm): its session is
 * made on the worker's driver by a thread of its own while the worker goes
 * on. */
typedef struct bspare {
    bproc p;
    bopts o;
    pthread_t th;
    int running; /* the thread runs or has not been joined */
    double timeout;
    drudge_code rc;
    drudge_err err;
} bspare;

/* Starts a spare for options o on driver d (stopping the one there was). */
void bspare_start(bspare *sp, bdriver *d, const bopts *o);
/* What bspare_take found. */
typedef struct btake {
    double page_timeout; /* the page-load timeout the handed-over session has */
    int64_t check_us;    /* how long the liveness check took (0 if none was made) */
    char lost[300];      /* why a spare there was could not be used ("" if none was lost) */
} btake;

/* Hands the spare over into p if it started, was made for options like o
 * (waiting for it to finish starting) and is alive: its chromedriver and
 * Chromium still run and the session answers a WebDriver call within a
 * second. Else stops it (a dead or unresponsive one as a close does: its
 * browser killed, its session ended, its profile removed) and says why in
 * t->lost. 1 if handed over. */
int bspare_take(bspare *sp, const bopts *o, bproc *p, btake *t);
/* Stops the spare; one still starting is cut short by stopping the
 * driver (only done when the worker's state closes). */
void bspare_stop(bspare *sp);

/* What a worker keeps across its attempts: the driver and the spare. */
typedef struct bkeep {
    bdriver drv;
    bspare spare;
} bkeep;

/* locate.c: finding an element and waiting for it. */
typedef enum lmode {
    LM_ATTACHED, /* it exists */
    LM_VISIBLE,  /* and is visible */
    LM_ACTION,   /* and is enabled, not moving, and would get a click */
    LM_EDIT,     /* and is editable */
    LM_NOW,      /* no waiting: the first answer is the answer (visible) */
} lmode;

typedef struct lresult {
    char elem[128]; /* the element's WebDriver id */
    char tag[32];
    char state[32];   /* the script's last answer: "ok", "missing", "hidden", ... */
    int count;        /* how many elements matched */
    const char *read; /* the "r" member: what op read (raw JSON in the connection), or NULL */
    size_t rlen;
    int64_t waited_ms;
} lresult;

/* Finds the element query (the JSON text of a description, {"label":"Name"},
 * or {"el":{...}} for an element found before) and waits up to timeout_s
 * until it is ready for mode; op (JSON or NULL) reads something from it in
 * the same round trip ({"op":"text"}). On failure err says what was looked
 * for and why it is not ready ("is disabled", "2 elements match"). */
drudge_code locate(wd_conn *w, const char *query, lmode mode, const char *op, double timeout_s,
                   lresult *out, drudge_err *err);
/* The script, for the benchmark's raw loop (the same calls drudge makes). */
const char *locate_script(void);

/* --- browser.c: sessions and the call path, shared with act.c and page.c --- */

#define SESSION_MT "drudge.browser.session"
#define ELEMENT_MT "drudge.browser.element"
#define DESC_MAX   160

typedef struct drudge_call_ctx drudge_call_ctx;

typedef struct bsession {
    bproc proc;
    int live;   /* the processes run (never in replay) */
    int closed; /* closed by the script or by the attempt's end */
    int num;    /* 1, 2, ... within the attempt, for messages */
    double timeout, page_timeout;
    double page_set;          /* the page-load timeout the browser has now */
    char downloads[PATH_MAX]; /* full path, "" when downloads are refused */
    char downloads_rel[256];  /* as the script named it */
    bopts opts;               /* as opened (a spare for the next attempt is made alike) */
    drudge_buf seen;          /* downloads already handed out, "\n"-separated */
} bsession;

typedef struct belement {
    char id[128];
    char desc[DESC_MAX]; /* how it was found: label "First Name" */
} belement;

typedef struct bcall bcall;
/* What a call does once its element is ready (or alone, with no target). */
typedef drudge_code (*act_fn)(bcall *bc, const lresult *lr);

/* How push turns the response into the call's results. */
enum { PUSH_NONE, PUSH_FIELD, PUSH_ELEMENT, PUSH_ELEMENTS, PUSH_TABLE };

/* One browser call: its target, what it does, how its result is pushed. */
struct bcall {
    lua_State *L;
    bsession *s;
    int sidx; /* the session's stack index */
    drudge_call_ctx *c;
    drudge_err err;
    const char *query; /* for the page script, or NULL: no element */
    const char *desc;  /* the target as a person reads it */
    lmode mode;
    const char *op; /* read or do in the same round trip: {"op":"text"} */
    double timeout;
    act_fn act;
    int push;
    const char *field; /* PUSH_FIELD: the response member returned */
    int no_locate;     /* the target is read, but act finds it itself */
    /* the actions' arguments */
    const char *text, *path, *full, *method;
    size_t len;
    int flag;
    /* The site the call loads (go): its circuit breaker's target, the URL's
     * host with :port when not the scheme's; NULL for calls that stay on the
     * page. */
    const char *site;
};

bsession *bc_session(lua_State *L, int idx); /* raises if it is closed */
/* A wait of t seconds, cut to what is left of the attempt. */
double bc_cap(lua_State *L, double t);
void bc_check_opts(lua_State *L, int idx);
wd_conn *bc_wd(bcall *bc);
/* Ends a live call: a failure is recorded with bc->err's message. */
drudge_code bc_fail(bcall *bc, drudge_code rc);
/* A WebDriver command within the page timeout (and the attempt's time). */
drudge_code bc_cmd(bcall *bc, const char *method, const char *path, const char *body);
/* An element command, "/element/ID<rest>", with a clear stale-element message. */
drudge_code bc_el_cmd(bcall *bc, const char *method, const char *id, const char *rest,
                      const char *body);
/* Makes the call: kind "browser", the step's name and request JSON. */
int bc_call(lua_State *L, bcall *bc, const char *name, const char *request);
/* A call on the target at index 2 (the session at 1; options at opts, 0
 * for none): the step's name is "<verb> <target>", the request
 * {"target":..., <extra>}. */
int bc_target_call(lua_State *L, bcall *bc, const char *verb, int opts, const char *extra);
/* The last WebDriver answer's value as the response's member key. */
void bc_value(bcall *bc, const char *key);

/* act.c and page.c: their methods, added to the session's. */
extern const luaL_Reg browser_act_methods[];
extern const luaL_Reg browser_page_methods[];
/* page.c: the screenshot_on_error step (the session at index 1). */
int browser_screenshot_on_error(lua_State *L);
/* page.c: closes a session (its processes, its directory). */
void browser_session_stop(bsession *s);

#endif

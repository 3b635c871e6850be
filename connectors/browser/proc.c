/* proc.c: the processes behind a browser session.
 *
 * One session is one chromedriver and the Chromium it starts, with a fresh
 * profile in a private directory of the state directory (drudge/child.h):
 * no cookie or cache of one task reaches the next. chromedriver runs in a
 * process group of its own with SIGKILL as its parent-death signal, and
 * drives Chromium through a pipe (--remote-debugging-pipe), so Chromium
 * exits as soon as chromedriver does: a worker killed with kill -9 takes
 * the whole tree along, and the pid file lets the next `drudge work` (or
 * the next session) reap whatever a stranger death left. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "browserint.h"
#include "drudge/json.h"

#define DRIVER_START_S  10 /* seconds chromedriver may take to listen */
#define CLOSE_S         5  /* seconds a polite close may take */
#define DEFAULT_SPARE_S 60 /* seconds a spare may take to start */

static const char *driver_path(void)
{
    const char *d = getenv("DRUDGE_CHROMEDRIVER");
    return d && *d ? d : "chromedriver";
}

/* Debian's /usr/bin/chromium is a shell script that sources settings and
 * execs this; starting it directly saves a shell and a few ms. */
static const char *chromium_path(void)
{
    const char *b = getenv("DRUDGE_CHROMIUM");
    if (b && *b)
        return b;
    return access("/usr/lib/chromium/chromium", X_OK) == 0 ? "/usr/lib/chromium/chromium" : NULL;
}

/* Waits for chromedriver's "ChromeDriver was started successfully on port
 * N." in its output file; the port, or -1. */
static int driver_port(bproc *p, const char *out, double timeout_s, drudge_err *err)
{
    int64_t until = drudge_mono_us() + (int64_t)(timeout_s * 1e6);
    for (;;) {
        char *text = drudge_read_file(out, NULL);
        const char *at = text ? strstr(text, "successfully on port ") : NULL;
        int port = at ? atoi(at + strlen("successfully on port ")) : 0;
        if (!port && text && strstr(text, "rror")) {
            char line[300];
            snprintf(line, sizeof line, "%s", text);
            line[strcspn(line, "\n")] = '\0';
            free(text);
            drudge_seterr(err, DRUDGE_ECONNECT, "browser: chromedriver did not start: %s", line);
            return -1;
        }
        free(text);
        if (port > 0)
            return port;
        if (!drudge_child_alive(&p->child)) {
            drudge_seterr(err, DRUDGE_ECONNECT,
                          "browser: cannot start chromedriver (%s): is the package "
                          "chromium-driver installed? (its output: %s)",
                          driver_path(), out);
            return -1;
        }
        if (drudge_mono_us() > until) {
            drudge_seterr(err, DRUDGE_ECONNECT,
                          "browser: chromedriver did not listen within %.3g s (its output: %s)",
                          timeout_s, out);
            return -1;
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void arg(drudge_buf *b, const char *fmt, const char *v)
{
    char tmp[PATH_MAX + 64];
    snprintf(tmp, sizeof tmp, fmt, v);
    if (b->data[b->len - 1] != '[')
        drudge_buf_puts(b, ",");
    drudge_buf_json_str(b, tmp, strlen(tmp));
}

/* The new-session request: Chromium's flags, the profile, downloads. */
static void capabilities(drudge_buf *b, const bproc *p, const bopts *o)
{
    char size[64];
    snprintf(size, sizeof size, "%d,%d", o->width, o->height);
    drudge_buf_puts(b, "{\"capabilities\":{\"alwaysMatch\":{\"browserName\":\"chrome\","
                       "\"unhandledPromptBehavior\":\"ignore\",\"pageLoadStrategy\":\"normal\",");
    drudge_buf_printf(b, "\"timeouts\":{\"implicit\":0,\"pageLoad\":%lld,\"script\":%lld},",
                      (long long)(o->page_timeout * 1000), (long long)(o->page_timeout * 1000));
    drudge_buf_puts(b, "\"goog:chromeOptions\":{");
    const char *bin = chromium_path();
    if (bin) {
        drudge_json_str(b, "binary", bin);
        drudge_buf_puts(b, ",");
    }
    drudge_buf_puts(b, "\"args\":[");
    if (o->headless)
        arg(b, "%s", "--headless=new");
    if (geteuid() == 0)
        arg(b, "%s", "--no-sandbox"); /* Chromium refuses to run as root with its sandbox */
    arg(b, "--user-data-dir=%s/profile", p->child.dir);
    arg(b, "--window-size=%s", size);
    static const char *const flags[] = {
        "--remote-debugging-pipe",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-sync",
        "--disable-component-update",
        "--disable-default-apps",
        "--password-store=basic",
        "--disable-features=Translate,MediaRouter,OptimizationHints",
        "--lang=en-US"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        arg(b, "%s", flags[i]);
    drudge_buf_puts(b, "],\"prefs\":{\"download.prompt_for_download\":false,"
                       "\"download.directory_upgrade\":true,\"safebrowsing.enabled\":false,"
                       "\"credentials_enable_service\":false");
    if (o->downloads[0])
        drudge_json_str(b, "download.default_directory", o->downloads);
    else
        drudge_json_int(b, "download_restrictions", 3); /* no files directory: block them */
    drudge_buf_puts(b, "}}}}}");
}

/* Starts chromedriver. Must run in the thread that runs attempts: the
 * parent-death signal fires when the forking thread ends. */
static drudge_code spawn_driver(bproc *p, drudge_err *err)
{
    memset(p, 0, sizeof *p);
    drudge_child_reap(NULL, 0);
    drudge_code rc = drudge_child_prepare(&p->child, "browser", err);
    if (rc != DRUDGE_OK)
        return rc;
    p->started = 1;
    char out[PATH_MAX + 16], logarg[PATH_MAX + 32], home[PATH_MAX + 8], cfg[PATH_MAX + 32],
        cache[PATH_MAX + 32];
    snprintf(out, sizeof out, "%s/driver.out", p->child.dir);
    snprintf(logarg, sizeof logarg, "--log-path=%s/driver.log", p->child.dir);
    /* Chromium keeps crash reports and caches under $HOME: in the session's
     * directory, they go with it. */
    snprintf(home, sizeof home, "HOME=%s", p->child.dir);
    snprintf(cfg, sizeof cfg, "XDG_CONFIG_HOME=%s/.config", p->child.dir);
    snprintf(cache, sizeof cache, "XDG_CACHE_HOME=%s/.cache", p->child.dir);
    /* The log names the session's directory (the reaper knows its processes
     * by it) but records only severe errors: chromedriver's INFO lines hold
     * every text typed, secrets too. */
    char *const argv[] = {(char *)driver_path(), "--port=0", logarg, "--log-level=SEVERE", NULL};
    char *const env[] = {home, cfg, cache, NULL};
    return drudge_child_spawn(&p->child, argv, env, out, err);
}

/* Waits for the driver to listen, then makes the session (Chromium
 * starts): the slow part, which any thread may do. */
static drudge_code make_session(bproc *p, const bopts *o, double timeout_s, drudge_err *err)
{
    char out[PATH_MAX + 16];
    snprintf(out, sizeof out, "%s/driver.out", p->child.dir);
    int64_t t0 = drudge_mono_us();
    int port = driver_port(p, out, timeout_s < DRIVER_START_S ? timeout_s : DRIVER_START_S, err);
    if (port < 0)
        return DRUDGE_ECONNECT;
    drudge_code rc = wd_init(&p->wd, port, err);
    if (rc != DRUDGE_OK)
        return rc;
    drudge_buf caps = {0};
    capabilities(&caps, p, o);
    double left = timeout_s - (double)(drudge_mono_us() - t0) / 1e6;
    rc = wd_call(&p->wd, "POST", "=/session", caps.data, left > 1 ? left : 1, err);
    drudge_buf_free(&caps);
    if (rc != DRUDGE_OK) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return drudge_seterr(err, DRUDGE_ECONNECT, "browser: Chromium did not start: %s", msg);
    }
    char id[128] = "";
    wd_json_str(p->wd.value, p->wd.vlen, "sessionId", id, sizeof id);
    if (!id[0])
        return drudge_seterr(err, DRUDGE_ECONNECT, "browser: chromedriver gave no session id");
    snprintf(p->wd.session, sizeof p->wd.session, "%s", id);
    size_t clen;
    const char *caps_v = wd_json_member(p->wd.value, p->wd.vlen, "capabilities", &clen);
    p->version[0] = '\0';
    if (caps_v)
        wd_json_str(caps_v, clen, "browserVersion", p->version, sizeof p->version);
    return DRUDGE_OK;
}

drudge_code bproc_start(bproc *p, const bopts *o, double timeout_s, drudge_err *err)
{
    drudge_code rc = spawn_driver(p, err);
    if (rc == DRUDGE_OK)
        rc = make_session(p, o, timeout_s, err);
    if (rc != DRUDGE_OK)
        bproc_stop(p);
    return rc;
}

void bproc_stop(bproc *p)
{
    if (!p->started)
        return;
    if (p->wd.curl && p->wd.session[0] && !p->wd.dead) {
        drudge_err err;
        wd_call(&p->wd, "DELETE", "", NULL, CLOSE_S, &err);
    }
    wd_free(&p->wd);
    drudge_child_release(&p->child, 0);
    p->started = 0;
}

/* --- a warm spare (browser.prewarm) --- */

static void *spare_main(void *arg)
{
    bspare *sp = arg;
    sp->rc = make_session(&sp->p, &sp->o, DEFAULT_SPARE_S, &sp->err);
    return NULL;
}

void bspare_start(bspare *sp, const bopts *o)
{
    bspare_stop(sp);
    sp->o = *o;
    sp->rc = spawn_driver(&sp->p, &sp->err);
    if (sp->rc != DRUDGE_OK) {
        bproc_stop(&sp->p);
        return;
    }
    sp->running = pthread_create(&sp->th, NULL, spare_main, sp) == 0;
    if (!sp->running)
        bproc_stop(&sp->p);
}

/* Waits for the spare's start to end. */
static void spare_join(bspare *sp)
{
    if (sp->running)
        pthread_join(sp->th, NULL);
    sp->running = 0;
}

static int same_opts(const bopts *a, const bopts *b)
{
    return a->headless == b->headless && a->width == b->width && a->height == b->height &&
           !strcmp(a->downloads, b->downloads);
}

int bspare_take(bspare *sp, const bopts *o, bproc *p, double *page_timeout)
{
    if (!sp->p.started)
        return 0;
    spare_join(sp);
    if (sp->rc != DRUDGE_OK || !same_opts(&sp->o, o) || !drudge_child_alive(&sp->p.child)) {
        bproc_stop(&sp->p); /* failed, or made for other options: start afresh */
        return 0;
    }
    *p = sp->p;
    memset(&sp->p, 0, sizeof sp->p);
    wd_moved(&p->wd);
    *page_timeout = sp->o.page_timeout;
    return 1;
}

void bspare_stop(bspare *sp)
{
    if (sp->running && sp->p.child.pid > 0)
        kill(-sp->p.child.pid, SIGKILL); /* the start under way fails at once */
    spare_join(sp);
    bproc_stop(&sp->p);
}

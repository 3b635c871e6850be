/* proc.c: the processes behind browser sessions.
 *
 * A worker keeps one chromedriver across its attempts (started by the first
 * browser.open, in the directory "<state>/browser.XXXXXX"); each session is
 * a fresh Chromium that chromedriver starts with a fresh profile in a
 * directory of its own under the driver's, removed when the session ends:
 * no cookie or cache of one task reaches the next, and a session pays for
 * starting Chromium only. A browser that will not close politely takes the
 * driver with it (the next open starts another), so nothing of a broken
 * session survives it.
 *
 * chromedriver runs in a process group of its own with SIGKILL as its
 * parent-death signal, and drives Chromium through a pipe
 * (--remote-debugging-pipe), so Chromium exits as soon as chromedriver
 * does: a worker killed with kill -9 takes the whole tree along, and the
 * pid file lets the next `drudge work` (or the next driver start) reap
 * whatever a stranger death left.
 *
 * Headless sessions run in chromium-headless-shell when it is installed
 * (Debian's package of Chromium's old headless mode, the one Playwright
 * uses for headless): it starts in about half the time of chromium
 * --headless=new, and a cold start is most of what a short task waits for. */
#include <errno.h>
#include <fcntl.h>
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
/* Seconds a warm spare may take to answer the check before it is taken: a
 * sound one answers in a few milliseconds (12 ms at load 8 on 2 CPUs,
 * tests/bench/browser_spare.sh); one that does not answer in a second is
 * hung, and a cold start is surer. */
#define SPARE_CHECK_S 1.0

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

const char *bproc_shell_path(void)
{
    const char *b = getenv("DRUDGE_CHROMIUM_SHELL");
    if (b)
        return *b && access(b, X_OK) == 0 ? b : NULL; /* "" turns the shell off */
    static const char shell[] = "/usr/lib/chromium/chromium-headless-shell";
    return access(shell, X_OK) == 0 ? shell : NULL;
}

/* Waits for chromedriver's "ChromeDriver was started successfully on port
 * N." in its output file; the port, or -1. */
static int driver_port(bdriver *d, const char *out, double timeout_s, drudge_err *err)
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
        if (!drudge_child_alive(&d->child)) {
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
    const char *shell = o->shell ? bproc_shell_path() : NULL;
    /* chromedriver opens no first page in the shell unless told it is one */
    drudge_buf_printf(b, "{\"capabilities\":{\"alwaysMatch\":{\"browserName\":\"%s\",",
                      shell ? "chrome-headless-shell" : "chrome");
    drudge_buf_puts(b, "\"unhandledPromptBehavior\":\"ignore\",\"pageLoadStrategy\":\"normal\",");
    drudge_buf_printf(b, "\"timeouts\":{\"implicit\":0,\"pageLoad\":%lld,\"script\":%lld},",
                      (long long)(o->page_timeout * 1000), (long long)(o->page_timeout * 1000));
    drudge_buf_puts(b, "\"goog:chromeOptions\":{");
    const char *bin = shell ? shell : chromium_path();
    if (bin) {
        drudge_json_str(b, "binary", bin);
        drudge_buf_puts(b, ",");
    }
    drudge_buf_puts(b, "\"args\":[");
    if (o->headless && !shell)
        arg(b, "%s", "--headless=new");
    if (geteuid() == 0)
        arg(b, "%s", "--no-sandbox"); /* Chromium refuses to run as root with its sandbox */
    arg(b, "--user-data-dir=%s", p->profile);
    arg(b, "--disk-cache-dir=%s/cache", p->profile);
    arg(b, "--window-size=%s", size);
    /* What a cold start costs is Chromium's CPU (tests/bench/browser_start.sh
     * measures each choice, paired): the network service runs in the
     * browser process and, headless, the GPU process's work (software
     * compositing) too, so three processes fewer start (those two and the
     * zygote that would start them, below); a renderer limit of one lets the
     * first page load in the renderer of the tab chromedriver opened (else
     * a second renderer starts for it; site isolation still keeps other
     * sites' frames apart, a limit is only a hint); the rest, as in
     * Playwright's default set, keeps background services from starting.
     * Chromium 156 starts its crash handler (chrome_crashpad_handler)
     * despite --disable-breakpad, outside the session's process group, where
     * it outlived the session and held the profile's directory:
     * --disable-crashpad-for-testing keeps it from starting. */
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
        "--disable-component-extensions-with-background-pages",
        "--disable-client-side-phishing-detection",
        "--disable-field-trial-config",
        "--disable-breakpad",
        "--disable-crashpad-for-testing",
        "--disable-hang-monitor",
        "--disable-search-engine-choice-screen",
        "--metrics-recording-only",
        "--no-service-autorun",
        "--mute-audio",
        "--password-store=basic",
        "--disable-features=Translate,MediaRouter,OptimizationHints",
        "--enable-features=NetworkServiceInProcess2",
        "--renderer-process-limit=1",
        "--lang=en-US"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        arg(b, "%s", flags[i]);
    /* Headless, with the GPU's and the network's work in the browser
     * process, nothing needs the zygote for unsandboxed processes (a
     * process that might still start then starts on its own). A window on a
     * display keeps its GPU process. */
    if (o->headless) {
        arg(b, "%s", "--in-process-gpu");
        arg(b, "%s", "--no-unsandboxed-zygote");
    }
    drudge_buf_puts(b, "],\"prefs\":{\"download.prompt_for_download\":false,"
                       "\"download.directory_upgrade\":true,\"safebrowsing.enabled\":false,"
                       "\"credentials_enable_service\":false");
    if (o->downloads[0])
        drudge_json_str(b, "download.default_directory", o->downloads);
    else
        drudge_json_int(b, "download_restrictions", 3); /* no files directory: block them */
    drudge_buf_puts(b, "}}}}}");
}

/* Starts chromedriver and waits until it listens. */
static drudge_code spawn_driver(bdriver *d, double timeout_s, drudge_err *err)
{
    memset(d, 0, sizeof *d);
    drudge_child_reap(NULL, 0);
    drudge_code rc = drudge_child_prepare(&d->child, "browser", err);
    if (rc != DRUDGE_OK)
        return rc;
    char out[PATH_MAX + 16], logarg[PATH_MAX + 32], home[PATH_MAX + 8], cfg[PATH_MAX + 32],
        cache[PATH_MAX + 32];
    snprintf(out, sizeof out, "%s/driver.out", d->child.dir);
    snprintf(logarg, sizeof logarg, "--log-path=%s/driver.log", d->child.dir);
    /* Chromium keeps crash reports and caches under $HOME: in the driver's
     * directory, they go with it. */
    snprintf(home, sizeof home, "HOME=%s", d->child.dir);
    snprintf(cfg, sizeof cfg, "XDG_CONFIG_HOME=%s/.config", d->child.dir);
    snprintf(cache, sizeof cache, "XDG_CACHE_HOME=%s/.cache", d->child.dir);
    /* The log names the driver's directory (the reaper knows its processes
     * by it) but records only severe errors: chromedriver's INFO lines hold
     * every text typed, secrets too. */
    char *const argv[] = {(char *)driver_path(), "--port=0", logarg, "--log-level=SEVERE", NULL};
    char *const env[] = {home, cfg, cache, NULL};
    rc = drudge_child_spawn(&d->child, argv, env, out, err);
    if (rc != DRUDGE_OK)
        return rc;
    int port = driver_port(d, out, timeout_s < DRIVER_START_S ? timeout_s : DRIVER_START_S, err);
    if (port < 0)
        return DRUDGE_ECONNECT;
    d->port = port;
    return DRUDGE_OK;
}

drudge_code bdriver_ensure(bdriver *d, double timeout_s, drudge_err *err)
{
    if (d->port && drudge_child_alive(&d->child))
        return DRUDGE_OK;
    bdriver_stop(d); /* died since (or never ran): its leftovers go */
    drudge_code rc = spawn_driver(d, timeout_s, err);
    if (rc != DRUDGE_OK)
        bdriver_stop(d);
    return rc;
}

void bdriver_stop(bdriver *d)
{
    drudge_child_release(&d->child, 0);
    d->port = 0;
}

/* A fresh profile directory for a session, inside the driver's. */
static drudge_code new_profile(bproc *p, drudge_err *err)
{
    int n = snprintf(p->profile, sizeof p->profile, "%s/session.XXXXXX", p->drv->child.dir);
    if (n < 0 || (size_t)n >= sizeof p->profile || !mkdtemp(p->profile)) {
        drudge_seterr(err, DRUDGE_EIO, "browser: cannot create a profile directory in %s: %s",
                      p->drv->child.dir, strerror(errno));
        p->profile[0] = '\0';
        return DRUDGE_EIO;
    }
    return DRUDGE_OK;
}

/* chromedriver tells Chromium where downloads go only when it sees
 * --headless=new among the flags: the shell is told through DevTools
 * (chromedriver's goog/cdp endpoint), or told to refuse them. */
static drudge_code shell_downloads(bproc *p, const bopts *o, drudge_err *err)
{
    drudge_buf b = {0};
    drudge_buf_puts(&b, "{\"cmd\":\"Browser.setDownloadBehavior\",\"params\":{");
    drudge_json_str(&b, "behavior", o->downloads[0] ? "allow" : "deny");
    if (o->downloads[0])
        drudge_json_str(&b, "downloadPath", o->downloads);
    drudge_buf_puts(&b, "}}");
    drudge_code rc = wd_call(&p->wd, "POST", "/goog/cdp/execute", b.data, CLOSE_S, err);
    drudge_buf_free(&b);
    if (rc != DRUDGE_OK) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return drudge_seterr(err, DRUDGE_ECONNECT,
                             "browser: cannot set the downloads directory of the headless "
                             "shell: %s",
                             msg);
    }
    return DRUDGE_OK;
}

/* --- a browser that exits while it starts ---
 *
 * chromedriver keeps both ends of its pipe to Chromium open, so a Chromium
 * that exits while it starts (a crash: about one cold start in 60 under
 * load on 2 CPUs, or a binary that cannot run) is never seen to go: the
 * driver leaves it a zombie and answers the new session only at its own
 * timeout, a minute later. While the session is made, drudge looks at the
 * driver's children about once a second (from libcurl's progress
 * callback) and gives the start up when one that was not there before
 * has exited. */

#define WATCH_MAX 32 /* children of the driver a start remembers */

typedef struct start_watch {
    int driver;            /* chromedriver's pid */
    int before[WATCH_MAX]; /* its children when the start began */
    size_t nbefore;
    int64_t next_us; /* when to look again */
    int exited;      /* the child found exited, 0 if none */
} start_watch;

/* What drudge reads of a process in /proc/<pid>/stat. */
typedef struct pstat {
    char state;     /* R, S, Z (a zombie), ... */
    int ppid, pgrp; /* its parent and its process group */
    unsigned flags; /* the kernel's flags (PF_EXITING) */
} pstat;

/* Reads pid's stat; 0 if there is no such process. */
static int read_pstat(int pid, pstat *ps)
{
    char buf[512];
    const char *rest = drudge_child_stat(pid, buf, sizeof buf);
    /* "S ppid pgrp session tty tpgid flags ..." */
    return rest && sscanf(rest, " %c %d %d %*d %*d %*d %u", &ps->state, &ps->ppid, &ps->pgrp,
                          &ps->flags) == 4;
}

typedef struct proc_walk {
    int (*fn)(int pid, const pstat *ps, void *ud);
    void *ud;
} proc_walk;

static int with_pstat(int pid, void *ud)
{
    const proc_walk *w = ud;
    pstat ps;
    return read_pstat(pid, &ps) ? w->fn(pid, &ps, w->ud) : 0;
}

/* Calls fn(pid, stat, ud) for every process until fn returns non-zero,
 * and returns that (0 if none did). */
static int each_proc(int (*fn)(int pid, const pstat *ps, void *ud), void *ud)
{
    proc_walk w = {fn, ud};
    return drudge_child_each_pid(with_pstat, &w);
}

#define PF_EXITING 0x4 /* the kernel's flag for a process that is exiting */

/* 1 while a process runs in the process group pgrp: not a zombie, nor on
 * its way to being one (a killed browser closes its pipe, and chromedriver
 * drops its session, before its exit ends). The group check keeps a pid
 * the kernel gave to another process since from passing for the browser. */
static int running(const pstat *ps, int pgrp)
{
    return ps->pgrp == pgrp && ps->state != 'Z' && ps->state != 'X' && !(ps->flags & PF_EXITING);
}

static int proc_running(int pid, int pgrp)
{
    pstat ps;
    return pid > 0 && read_pstat(pid, &ps) && running(&ps, pgrp);
}

static int note_before(int pid, const pstat *ps, void *ud)
{
    start_watch *sw = ud;
    if (ps->ppid == sw->driver && sw->nbefore < WATCH_MAX)
        sw->before[sw->nbefore++] = pid;
    return 0;
}

/* Stops the scan at the driver's first zombie child that was not there
 * before. */
static int note_exited(int pid, const pstat *ps, void *ud)
{
    start_watch *sw = ud;
    if (ps->ppid != sw->driver || ps->state != 'Z')
        return 0;
    for (size_t i = 0; i < sw->nbefore; i++)
        if (sw->before[i] == pid)
            return 0; /* another session's browser: not this start's */
    sw->exited = pid;
    return 1;
}

static void watch_begin(start_watch *sw, int driver)
{
    memset(sw, 0, sizeof *sw);
    sw->driver = driver;
    each_proc(note_before, sw);
}

static int watch_give_up(void *ud, char *why, size_t n)
{
    start_watch *sw = ud;
    int64_t now = drudge_mono_us();
    if (now < sw->next_us)
        return 0;
    sw->next_us = now + 250000; /* libcurl may call more often than once a second */
    if (!sw->exited)
        each_proc(note_exited, sw);
    if (!sw->exited)
        return 0;
    snprintf(why, n, "Chromium (pid %d) exited while starting", sw->exited);
    return 1;
}

/* Makes the session (Chromium starts): the slow part, which any thread
 * may do once the driver listens on port. *exited is set to the pid of a
 * Chromium that exited while it started (0 if none did). */
static drudge_code make_session(bproc *p, int port, const bopts *o, double timeout_s, int *exited,
                                drudge_err *err)
{
    *exited = 0;
    drudge_code rc = wd_init(&p->wd, port, err);
    if (rc != DRUDGE_OK)
        return rc;
    drudge_buf caps = {0};
    capabilities(&caps, p, o);
    start_watch sw;
    watch_begin(&sw, p->drv->child.pid);
    p->wd.give_up = watch_give_up;
    p->wd.give_up_ud = &sw;
    rc = wd_call(&p->wd, "POST", "=/session", caps.data, timeout_s > 1 ? timeout_s : 1, err);
    p->wd.give_up = NULL;
    p->wd.give_up_ud = NULL;
    *exited = sw.exited;
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
    return o->shell ? shell_downloads(p, o, err) : DRUDGE_OK;
}

/* One try at a start: the driver (if it must), a profile, the session. */
static drudge_code start_once(bproc *p, bdriver *d, const bopts *o, int64_t deadline, int *exited,
                              drudge_err *err)
{
    *exited = 0;
    drudge_code rc = bdriver_ensure(d, (double)(deadline - drudge_mono_us()) / 1e6, err);
    if (rc != DRUDGE_OK)
        return rc;
    p->drv = d;
    p->started = 1;
    rc = new_profile(p, err);
    if (rc == DRUDGE_OK)
        rc = make_session(p, d->port, o, (double)(deadline - drudge_mono_us()) / 1e6, exited, err);
    if (rc != DRUDGE_OK)
        bproc_stop(p); /* the session never answered: the driver goes too */
    return rc;
}

drudge_code bproc_start(bproc *p, bdriver *d, const bopts *o, double timeout_s, drudge_err *err)
{
    memset(p, 0, sizeof *p);
    int64_t deadline = drudge_mono_us() + (int64_t)(timeout_s * 1e6);
    int exited;
    drudge_code rc = start_once(p, d, o, deadline, &exited, err);
    /* A Chromium that exited while it started did nothing the task could
     * see: one more start, with a new driver, is what a person would do.
     * A second exit is the answer (a binary that cannot run). */
    if (rc != DRUDGE_OK && exited && deadline - drudge_mono_us() > 1000000) {
        char why[sizeof p->restarted];
        snprintf(why, sizeof why, "%.250s", err->msg);
        rc = start_once(p, d, o, deadline, &exited, err);
        memcpy(p->restarted, why, sizeof why);
    }
    return rc;
}

/* Ends p's session and removes its profile. A session that was never made,
 * or a browser that crashed or would not close: what is left of it runs
 * under the driver, which goes too (the next open starts another). */
void bproc_stop(bproc *p)
{
    if (!p->started)
        return;
    int closed = 0;
    if (p->wd.curl && p->wd.session[0] && !p->wd.dead) {
        drudge_err err;
        closed = wd_call(&p->wd, "DELETE", "", NULL, CLOSE_S, &err) == DRUDGE_OK;
    }
    wd_free(&p->wd);
    if (!closed && p->drv)
        bdriver_stop(p->drv);
    if (p->profile[0])
        drudge_child_remove_dir(p->profile);
    p->profile[0] = '\0';
    p->started = 0;
}

/* --- a warm spare (browser.prewarm) --- */

/* 1 if the NUL-separated command line of pid has the argument arg. */
static int has_arg(int pid, const char *arg)
{
    size_t len;
    char *cmd = drudge_child_cmdline(pid, &len);
    int found = 0;
    for (size_t i = 0; cmd && i < len && !found; i += strlen(cmd + i) + 1)
        found = !strcmp(cmd + i, arg);
    free(cmd);
    return found;
}

typedef struct browser_find {
    int driver;      /* chromedriver's pid, its process group */
    const char *arg; /* "--user-data-dir=<profile>" */
} browser_find;

static int is_browser(int pid, const pstat *ps, void *ud)
{
    const browser_find *f = ud;
    return pid != f->driver && running(ps, f->driver) && has_arg(pid, f->arg) ? pid : 0;
}

/* Chromium's browser process for p's profile: the process of the driver's
 * group started with "--user-data-dir=<profile>" (its helpers are not);
 * 0 if there is none. */
static int find_browser(const bproc *p)
{
    char arg[PATH_MAX + 32];
    snprintf(arg, sizeof arg, "--user-data-dir=%s", p->profile);
    browser_find f = {p->drv->child.pid, arg};
    return each_proc(is_browser, &f);
}

/* 1 if the spare can be handed over; else why not, in why. Cheap: a look
 * at /proc (a killed browser) and one WebDriver call that goes through
 * chromedriver and the browser to its page's renderer: GET /url answers
 * "tab crashed" when the renderer died (the one the kernel's OOM killer
 * picks first: Chromium raises its oom_score_adj) and nothing when the
 * browser hangs. GET /window is answered from chromedriver's own state
 * and GET /window/handles by the browser alone, either of them "fine"
 * for a tab that crashed. About 6 ms under load against 1.7 ms for
 * /window/handles (tests/bench/browser_spare.sh), against a cold start's
 * second or more. */
static int spare_alive(bproc *p, char *why, size_t n)
{
    if (!p->drv->port || !drudge_child_alive(&p->drv->child)) {
        snprintf(why, n, "its chromedriver has exited");
        return 0;
    }
    if (p->browser_pid && !proc_running(p->browser_pid, p->drv->child.pid)) {
        snprintf(why, n, "its Chromium (pid %d) has exited", p->browser_pid);
        return 0;
    }
    drudge_err err;
    if (wd_call(&p->wd, "GET", "/url", NULL, SPARE_CHECK_S, &err) != DRUDGE_OK) {
        snprintf(why, n, "its session did not answer: %.240s", err.msg);
        return 0;
    }
    return 1;
}

/* Ends a spare found dead or hung as a close ends a session, keeping the
 * driver (and whatever other session of the attempt runs on it) when the
 * driver is sound: the browser is killed (dead already, or hung: no
 * polite close to wait for; its helper processes exit when it does), the
 * driver drops the session (it has already if it saw the browser go),
 * and the profile goes. A driver that does not answer goes as well, and
 * why is added to why (n bytes), the reason the spare was not used. */
static void spare_discard(bproc *p, char *why, size_t n)
{
    if (p->browser_pid && proc_running(p->browser_pid, p->drv->child.pid)) {
        kill(p->browser_pid, SIGKILL);
        /* Until it is exiting or a zombie: the next start's watch counts
         * the driver's children it finds as not its own, and one that
         * turned zombie after it looked would pass for its own browser
         * exiting while it started (a needless restart, a new driver). */
        for (int i = 0; i < 200 && proc_running(p->browser_pid, p->drv->child.pid); i++)
            usleep(10000);
    }
    if (p->wd.curl && p->wd.session[0] && p->drv->port && drudge_child_alive(&p->drv->child)) {
        drudge_err err;
        p->wd.dead = 0; /* the check's error marked it: the driver may still answer */
        drudge_code rc = wd_call(&p->wd, "DELETE", "", NULL, CLOSE_S, &err);
        if (rc == DRUDGE_OK || !strcmp(p->wd.error, "invalid session id")) {
            wd_free(&p->wd);
            if (p->profile[0])
                drudge_child_remove_dir(p->profile);
            p->profile[0] = '\0';
            p->started = 0;
            return;
        }
        /* Said in the open step's response: a new driver costs the start. */
        size_t used = strlen(why);
        snprintf(why + used, n - used,
                 "; ending its session failed (%.120s): its driver is replaced", err.msg);
    }
    p->wd.dead = 1; /* no answer: bproc_stop takes the driver down */
    bproc_stop(p);
}

static void *spare_main(void *arg)
{
    bspare *sp = arg;
    int exited;
    sp->rc = make_session(&sp->p, sp->p.drv->port, &sp->o, sp->timeout, &exited, &sp->err);
    if (sp->rc == DRUDGE_OK)
        sp->p.browser_pid = find_browser(&sp->p); /* here, off the worker's way */
    return NULL;
}

void bspare_start(bspare *sp, bdriver *d, const bopts *o)
{
    bspare_stop(sp);
    sp->o = *o;
    sp->timeout = DEFAULT_SPARE_S;
    bproc *p = &sp->p;
    memset(p, 0, sizeof *p);
    /* the driver is started here, by the worker's thread, if it must be */
    sp->rc = bdriver_ensure(d, DRIVER_START_S, &sp->err);
    if (sp->rc != DRUDGE_OK)
        return;
    p->drv = d;
    p->started = 1;
    sp->rc = new_profile(p, &sp->err);
    if (sp->rc == DRUDGE_OK)
        sp->running = pthread_create(&sp->th, NULL, spare_main, sp) == 0;
    if (!sp->running)
        bproc_stop(p);
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
    return a->headless == b->headless && a->shell == b->shell && a->width == b->width &&
           a->height == b->height && !strcmp(a->downloads, b->downloads);
}

int bspare_take(bspare *sp, const bopts *o, bproc *p, btake *t)
{
    t->check_us = 0;
    t->lost[0] = '\0';
    if (!sp->p.started)
        return 0;
    spare_join(sp);
    if (sp->rc != DRUDGE_OK) {
        snprintf(t->lost, sizeof t->lost, "it did not start: %.250s", sp->err.msg);
        bproc_stop(&sp->p);
        return 0;
    }
    if (!same_opts(&sp->o, o)) {
        bproc_stop(&sp->p); /* made for other options: start afresh */
        return 0;
    }
    int64_t t0 = drudge_mono_us();
    int alive = spare_alive(&sp->p, t->lost, sizeof t->lost);
    t->check_us = drudge_mono_us() - t0;
    if (!alive) {
        spare_discard(&sp->p, t->lost, sizeof t->lost);
        return 0;
    }
    *p = sp->p;
    memset(&sp->p, 0, sizeof sp->p);
    wd_moved(&p->wd);
    t->page_timeout = sp->o.page_timeout;
    return 1;
}

void bspare_stop(bspare *sp)
{
    if (sp->running && sp->p.drv && sp->p.drv->child.pid > 0)
        kill(-sp->p.drv->child.pid, SIGKILL); /* the start under way fails at once */
    spare_join(sp);
    bproc_stop(&sp->p);
}

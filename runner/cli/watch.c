/*
 * watch.c: `drudge status --watch`, a live view of the queue: per-script
 * progress through the current backlog, rates, ETA, failures, and the next
 * scheduled runs.
 *
 * Without flicker: the view is drawn on the alternate screen, each frame
 * starting at the cursor home and each line ending with "clear to end of
 * line", then "clear to end of screen" below the last line, so nothing is
 * erased before it is overwritten. The terminal (termios, cursor, screen)
 * is restored on q, Ctrl-C, SIGTERM, SIGHUP and at exit.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
#include "runner/calendar/cron.h"
#include "runner/cli/cli.h"
#include "runner/work/schedule.h"
#include "drudge/util.h"

#define RATE_WINDOW_US (300 * 1000000LL) /* rates over the last five minutes */
#define RECENT_US      (600 * 1000000LL) /* a finished backlog stays on screen this long */
#define MAX_SCRIPTS    64
#define MAX_NEXT       6

/* How fast a backlog goes, from what the store counted. */
typedef struct pace {
    double rate;   /* finished per minute */
    int64_t eta_s; /* -1 unknown */
} pace;

typedef struct next_run {
    char schedule[64], script[64], when[32];
    int64_t at;
} next_run;

typedef struct snapshot {
    int64_t now;
    drudge_backlog_row rows[MAX_SCRIPTS];
    pace pace[MAX_SCRIPTS];
    int nrows;
    int workers;
    next_run next[MAX_NEXT];
    int nnext;
} snapshot;

static pace pace_of(const drudge_backlog_row *r, int64_t now)
{
    pace p;
    /* Rate over the rate window, or since the backlog started if later. */
    int64_t from = r->since > now - RATE_WINDOW_US ? r->since : now - RATE_WINDOW_US;
    int64_t span = now - from, open = r->queued + r->running;
    p.rate = span > 0 ? (double)r->finished_recently * 60e6 / (double)span : 0;
    if (p.rate > 0)
        p.eta_s = (int64_t)((double)open / p.rate * 60);
    else
        p.eta_s = open ? -1 : 0;
    return p;
}

/* An error message on one line of the view. */
static void one_line(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r' || *s == '\t')
            *s = ' ';
}

static int cmp_next(const void *a, const void *b)
{
    const next_run *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* The next fire times of the active schedules, soonest first. */
static drudge_code collect_next(drudge_store *store, snapshot *s, drudge_err *err)
{
    drudge_schedule *list;
    int n;
    drudge_code rc = drudge_store_schedules(store, 1, &list, &n, err);
    if (rc)
        return rc;
    next_run all[64];
    int nall = 0;
    for (int i = 0; i < n && nall < 64; i++) {
        int64_t at = drudge_schedule_next(list[i].cron, list[i].tz, s->now);
        const drudge_tz *zone;
        if (at < 0 || drudge_tz_get(list[i].tz, &zone, NULL))
            continue;
        next_run *x = &all[nall++];
        snprintf(x->schedule, sizeof x->schedule, "%s", list[i].name);
        snprintf(x->script, sizeof x->script, "%s", list[i].script);
        drudge_tz_format(zone, at / 1000000, x->when);
        x->at = at;
    }
    drudge_schedule_list_free(list, n);
    qsort(all, (size_t)nall, sizeof all[0], cmp_next);
    s->nnext = nall < MAX_NEXT ? nall : MAX_NEXT;
    memcpy(s->next, all, (size_t)s->nnext * sizeof all[0]);
    return DRUDGE_OK;
}

/* One snapshot of the backlogs and schedules, from one read transaction. */
static drudge_code collect(drudge_store *store, int64_t now, snapshot *s, drudge_err *err)
{
    memset(s, 0, sizeof *s);
    s->now = now;
    drudge_code rc = drudge_store_begin(store, DRUDGE_TX_READ, err);
    if (rc)
        return rc;
    rc = drudge_store_backlogs(store, now, RATE_WINDOW_US, RECENT_US, s->rows, MAX_SCRIPTS,
                               &s->nrows, &s->workers, err);
    if (!rc)
        rc = collect_next(store, s, err);
    if (!rc)
        rc = drudge_store_commit(store, err);
    if (rc) {
        drudge_store_rollback(store);
        return rc;
    }
    for (int i = 0; i < s->nrows; i++) {
        s->pace[i] = pace_of(&s->rows[i], now);
        one_line(s->rows[i].last_error);
    }
    return DRUDGE_OK;
}

static void fmt_duration(int64_t s, char out[24])
{
    if (s < 0)
        snprintf(out, 24, "?");
    else if (s < 60)
        snprintf(out, 24, "%llds", (long long)s);
    else if (s < 3600)
        snprintf(out, 24, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else if (s < 86400)
        snprintf(out, 24, "%lldh%02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
    else
        snprintf(out, 24, "%lldd%02lldh", (long long)(s / 86400), (long long)(s / 3600 % 24));
}

static void json_backlog(drudge_buf *out, const drudge_backlog_row *r, const pace *p)
{
    char since[40];
    drudge_fmt_time(r->since, since);
    drudge_buf_puts(out, "{\"script\":");
    drudge_buf_json_str(out, r->name, strlen(r->name));
    drudge_buf_printf(out,
                      ",\"paused\":%s,\"queued\":%lld,\"running\":%lld,\"retrying\":%lld,"
                      "\"backlog\":{\"since\":\"%s\",\"total\":%lld,\"finished\":%lld,"
                      "\"done\":%lld,\"failed\":%lld,\"cancelled\":%lld},"
                      "\"rate_per_minute\":%.2f,\"eta_seconds\":",
                      r->paused ? "true" : "false", (long long)r->queued, (long long)r->running,
                      (long long)r->retrying, since, (long long)r->total, (long long)r->finished,
                      (long long)r->done, (long long)r->failed, (long long)r->cancelled, p->rate);
    if (p->eta_s < 0)
        drudge_buf_puts(out, "null");
    else
        drudge_buf_printf(out, "%lld", (long long)p->eta_s);
    drudge_buf_puts(out, ",\"last_failure\":");
    if (r->last_error_task) {
        drudge_buf_printf(out, "{\"task\":%lld,\"error\":", (long long)r->last_error_task);
        drudge_buf_json_str(out, r->last_error, strlen(r->last_error));
        drudge_buf_puts(out, "}");
    } else {
        drudge_buf_puts(out, "null");
    }
    drudge_buf_puts(out, "}");
}

drudge_code drudge_status_json(drudge_store *db, int64_t now_us, drudge_buf *out, drudge_err *err)
{
    snapshot *s = malloc(sizeof *s);
    if (!s)
        return drudge_seterr(err, DRUDGE_ENOMEM, "out of memory");
    drudge_code rc = collect(db, now_us, s, err);
    if (rc) {
        free(s);
        return rc;
    }
    drudge_buf_printf(out, "{\"workers\":%d,\"scripts\":[", s->workers);
    for (int i = 0; i < s->nrows; i++) {
        if (i)
            drudge_buf_puts(out, ",");
        json_backlog(out, &s->rows[i], &s->pace[i]);
    }
    drudge_buf_puts(out, "],\"next_runs\":[");
    for (int i = 0; i < s->nnext; i++) {
        drudge_buf_puts(out, i ? ",{\"schedule\":" : "{\"schedule\":");
        drudge_buf_json_str(out, s->next[i].schedule, strlen(s->next[i].schedule));
        drudge_buf_puts(out, ",\"script\":");
        drudge_buf_json_str(out, s->next[i].script, strlen(s->next[i].script));
        drudge_buf_printf(out, ",\"at\":\"%s\"}", s->next[i].when);
    }
    drudge_buf_puts(out, "]}");
    free(s);
    return DRUDGE_OK;
}

/* ---- drawing ---- */

typedef struct view {
    int tty, color, utf8, width;
    drudge_buf frame;
} view;

static const char *sgr(const view *v, const char *code)
{
    return v->color ? code : "";
}

/* Ends a line: on a terminal, clear what the previous frame left to its right. */
static void eol(view *v)
{
    drudge_buf_puts(&v->frame, v->tty ? "\033[K\n" : "\n");
}

static void bar(view *v, int64_t done, int64_t failed, int64_t total, int width)
{
    int nd = total ? (int)(done * width / total) : 0,
        nf = total ? (int)(failed * width / total) : 0;
    if (nd + nf > width)
        nf = width - nd;
    const char *full = v->utf8 ? "\u2588" : "#", *bad = v->utf8 ? "\u2588" : "x",
               *empty = v->utf8 ? "\u2591" : "-";
    drudge_buf_puts(&v->frame, sgr(v, "\033[32m"));
    for (int i = 0; i < nd; i++)
        drudge_buf_puts(&v->frame, full);
    drudge_buf_puts(&v->frame, sgr(v, "\033[31m"));
    for (int i = 0; i < nf; i++)
        drudge_buf_puts(&v->frame, bad);
    drudge_buf_puts(&v->frame, sgr(v, "\033[2m"));
    for (int i = nd + nf; i < width; i++)
        drudge_buf_puts(&v->frame, empty);
    drudge_buf_puts(&v->frame, sgr(v, "\033[0m"));
}

/* One script's lines: its progress, its retries, its latest failure. */
static void render_script(view *v, const drudge_backlog_row *r, const pace *p, int64_t now,
                          int barw)
{
    drudge_buf *f = &v->frame;
    char eta[24], fin[32];
    fmt_duration(p->eta_s, eta);
    snprintf(fin, sizeof fin, "%lld/%lld", (long long)r->finished, (long long)r->total);
    drudge_buf_printf(f, "%-20.20s ", r->name);
    bar(v, r->done + r->cancelled, r->failed, r->total, barw);
    drudge_buf_printf(f, " %3d%% %13s %8.1f %8s %s%7lld%s %6lld",
                      r->total ? (int)(r->finished * 100 / r->total) : 0, fin, p->rate,
                      r->paused ? "paused" : eta, r->failed ? sgr(v, "\033[31m") : "",
                      (long long)r->failed, r->failed ? sgr(v, "\033[0m") : "",
                      (long long)r->running);
    eol(v);
    if (r->retrying) {
        drudge_buf_printf(f, "%-20s %lld waiting to retry", "", (long long)r->retrying);
        eol(v);
    }
    if (r->last_error_task) {
        char ago[24];
        fmt_duration((now - r->last_error_at) / 1000000, ago);
        int room = v->width - 45;
        drudge_buf_printf(f, "%-20s %slast failure #%lld, %s ago: %.*s%s", "", sgr(v, "\033[31m"),
                          (long long)r->last_error_task, ago, room > 10 ? room : 10, r->last_error,
                          sgr(v, "\033[0m"));
        eol(v);
    }
}

static void render_next(view *v, const snapshot *s)
{
    drudge_buf *f = &v->frame;
    drudge_buf_printf(f, "%sNEXT SCHEDULED RUNS%s", sgr(v, "\033[1m"), sgr(v, "\033[0m"));
    eol(v);
    if (s->nnext == 0) {
        drudge_buf_puts(f, "(no active schedules)");
        eol(v);
    }
    for (int i = 0; i < s->nnext; i++) {
        char in[24];
        fmt_duration((s->next[i].at - s->now) / 1000000, in);
        drudge_buf_printf(f, "%-20.20s %-20.20s %s  in %s", s->next[i].schedule, s->next[i].script,
                          s->next[i].when, in);
        eol(v);
    }
}

static void render(view *v, const snapshot *s, const char *db_path)
{
    drudge_buf *f = &v->frame;
    char now[40];
    const drudge_tz *local;
    if (drudge_tz_get(NULL, &local, NULL) == DRUDGE_OK)
        drudge_tz_format(local, s->now / 1000000, now);
    else
        drudge_fmt_time(s->now, now);
    drudge_buf_printf(f, "%sdrudge%s %s  %s  workers: %d%s", sgr(v, "\033[1m"), sgr(v, "\033[0m"),
                      db_path, now, s->workers, v->tty ? "  (q to quit)" : "");
    eol(v);
    eol(v);
    int barw = v->width - 64;
    if (barw > 40)
        barw = 40;
    if (barw < 10)
        barw = 10;
    drudge_buf_printf(f, "%s%-20s %-*s %13s %8s %8s %7s %6s%s", sgr(v, "\033[1m"), "SCRIPT",
                      barw + 5, "PROGRESS", "FINISHED", "RATE/m", "ETA", "FAILED", "RUN",
                      sgr(v, "\033[0m"));
    eol(v);
    if (s->nrows == 0) {
        drudge_buf_puts(f, "(nothing queued, running or recently finished)");
        eol(v);
    }
    for (int i = 0; i < s->nrows; i++)
        render_script(v, &s->rows[i], &s->pace[i], s->now, barw);
    eol(v);
    render_next(v, s);
}

/* ---- the terminal ---- */

static volatile sig_atomic_t stop_signal, resized;
static struct termios saved_termios;
static int termios_saved, screen_active;

static void restore_terminal(void)
{
    if (screen_active) {
        /* Show the cursor and leave the alternate screen. */
        static const char leave[] = "\033[?25h\033[?1049l";
        fflush(stdout);
        ssize_t n = write(STDOUT_FILENO, leave, sizeof leave - 1);
        (void)n;
        screen_active = 0;
    }
    if (termios_saved) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
        termios_saved = 0;
    }
}

static void on_signal(int sig)
{
    if (sig == SIGWINCH)
        resized = 1;
    else
        stop_signal = sig;
}

static int term_width(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        return ws.ws_col;
    const char *cols = getenv("COLUMNS");
    return cols && atoi(cols) > 20 ? atoi(cols) : 100;
}

static int utf8_locale(void)
{
    const char *vars[] = {"LC_ALL", "LC_CTYPE", "LANG"};
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return strstr(v, "UTF-8") || strstr(v, "utf8") || strstr(v, "UTF8") ||
                   strstr(v, "utf-8");
    }
    return 0;
}

static int fail_msg(const char *msg)
{
    fprintf(stderr, "drudge status: %s\n", msg);
    return DRUDGE_EXIT_ERROR;
}

/* Not a terminal, or --json: one snapshot (run it in a loop for a log). */
static int print_once(drudge_cli *cli, drudge_store *db, view *v, snapshot *s)
{
    drudge_err err = {0};
    drudge_code rc;
    if (cli->json)
        rc = drudge_status_json(db, drudge_now_us(), &v->frame, &err);
    else
        rc = collect(db, drudge_now_us(), s, &err);
    if (rc)
        return drudge_cli_fail("status", &err);
    if (cli->json) {
        printf("%s\n", v->frame.data);
    } else {
        render(v, s, cli->db_path);
        fputs(v->frame.data, stdout);
    }
    return DRUDGE_EXIT_OK;
}

/* The signals the live view handles, and their handlers before it. */
static const int watched_signals[4] = {SIGINT, SIGTERM, SIGHUP, SIGWINCH};

typedef struct terminal {
    struct sigaction old[4];
    int keys; /* stdin is a terminal: keys are read raw */
} terminal;

/* Raw keys, the signal handlers, then the alternate screen without a cursor. */
static void terminal_enter(terminal *t)
{
    t->keys = isatty(STDIN_FILENO);
    if (t->keys && tcgetattr(STDIN_FILENO, &saved_termios) == 0) {
        struct termios raw = saved_termios;
        /* No line buffering or echo; keep ISIG so Ctrl-C raises SIGINT. */
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
        termios_saved = 1;
    }
    static int registered;
    if (!registered++)
        atexit(restore_terminal);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* Handlers reset after one signal: a second Ctrl-C or SIGTERM kills even
     * if a write to a stuck terminal blocks. */
    for (int i = 0; i < 4; i++) {
        sa.sa_flags = watched_signals[i] == SIGWINCH ? 0 : SA_RESETHAND;
        sigaction(watched_signals[i], &sa, &t->old[i]);
    }
    stop_signal = 0;
    fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout);
    fflush(stdout);
    screen_active = 1;
}

static void terminal_leave(terminal *t)
{
    restore_terminal();
    for (int i = 0; i < 4; i++)
        sigaction(watched_signals[i], &t->old[i], NULL);
}

/* Draws one frame over the last, from the cursor home. */
static void draw_frame(view *v, drudge_cli *cli, drudge_store *db, snapshot *s)
{
    drudge_err err = {0};
    if (resized) {
        resized = 0;
        v->width = term_width();
    }
    drudge_buf_reset(&v->frame);
    drudge_buf_puts(&v->frame, "\033[H");
    if (collect(db, drudge_now_us(), s, &err)) {
        drudge_buf_printf(&v->frame, "drudge status: %s", err.msg);
        eol(v);
    } else {
        render(v, s, cli->db_path);
    }
    drudge_buf_puts(&v->frame, "\033[J");
    fwrite(v->frame.data, 1, v->frame.len, stdout);
    fflush(stdout);
}

/* Waits a second, or less if a key, a resize or a signal comes; q or
 * Ctrl-C (as a key) stops the view. */
static void wait_key(terminal *t)
{
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
    int64_t until = drudge_mono_us() + 1000000;
    while (!stop_signal && !resized) {
        int left = (int)((until - drudge_mono_us()) / 1000);
        if (left <= 0)
            break;
        int pr = poll(&pfd, t->keys ? 1 : 0, left);
        if (pr > 0 && (pfd.revents & POLLIN)) {
            char c;
            ssize_t n = read(STDIN_FILENO, &c, 1);
            if (n == 1 && (c == 'q' || c == 'Q' || c == 3))
                stop_signal = -1;
            else if (n == 0)
                t->keys = 0; /* end of input: keep watching until a signal */
        } else if (pr < 0 && errno != EINTR) {
            break;
        }
    }
}

int drudge_watch_run(drudge_cli *cli, drudge_store *db)
{
    view v = {0};
    snapshot *s = malloc(sizeof *s);
    if (!s)
        return fail_msg("out of memory");
    v.tty = isatty(STDOUT_FILENO);
    const char *nc = getenv("NO_COLOR");
    v.color = v.tty && !(nc && *nc) && !cli->json;
    v.utf8 = utf8_locale();
    v.width = term_width();
    int rc = DRUDGE_EXIT_OK;
    if (!v.tty || cli->json) {
        rc = print_once(cli, db, &v, s);
    } else {
        terminal t;
        terminal_enter(&t);
        while (!stop_signal) {
            draw_frame(&v, cli, db, s);
            wait_key(&t);
        }
        terminal_leave(&t);
    }
    drudge_buf_free(&v.frame);
    free(s);
    return rc;
}

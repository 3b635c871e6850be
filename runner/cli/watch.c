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
#include "runner/store/db.h"               /* TRANSITION */
#include "runner/store/sqlite/sqliteint.h" /* TRANSITION */
#include "runner/work/schedule.h"
#include "drudge/util.h"

#define RATE_WINDOW_US (300 * 1000000LL) /* rates over the last five minutes */
#define RECENT_US      (600 * 1000000LL) /* a finished backlog stays on screen this long */
#define MAX_SCRIPTS    64
#define MAX_NEXT       6

typedef struct script_row {
    char name[64];
    int paused;
    int64_t queued, running, retrying;                /* now */
    int64_t total, finished, done, failed, cancelled; /* in the current backlog */
    int64_t since;                                    /* backlog start, µs */
    double rate;                                      /* finished per minute */
    int64_t eta_s;                                    /* -1 unknown */
    char last_error[160];
    int64_t last_error_task, last_error_at;
} script_row;

typedef struct next_run {
    char schedule[64], script[64], when[32];
    int64_t at;
} next_run;

typedef struct snapshot {
    int64_t now;
    script_row rows[MAX_SCRIPTS];
    int nrows;
    int workers;
    next_run next[MAX_NEXT];
    int nnext;
} snapshot;

static void copy_col(char *dst, size_t n, sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    snprintf(dst, n, "%s", s ? (const char *)s : "");
}

static drudge_code collect_scripts(sqlite3 *db, snapshot *s, drudge_err *err)
{
    /* One row per script with open tasks or tasks finished recently. The
     * backlog starts at the oldest open task (or, once all finished, at the
     * oldest of those finished recently). */
    static const char sql[] =
        "WITH open AS (SELECT script, min(created_at) AS since FROM tasks "
        "  WHERE state = 'queued' GROUP BY script)," /* running tasks are 'queued' in their row */
        " recent AS (SELECT script, min(created_at) AS since FROM tasks "
        "  WHERE finished_at >= ?1 - ?3 AND script NOT IN (SELECT script FROM open) "
        "  GROUP BY script),"
        " backlog AS (SELECT * FROM open UNION ALL SELECT * FROM recent) "
        "SELECT b.script, b.since,"
        " (SELECT count(*) FROM paused p WHERE p.script = b.script),"
        " sum(t.state = 'queued' AND r.task_id IS NULL), sum(r.task_id IS NOT NULL),"
        " sum(t.state = 'queued' AND r.task_id IS NULL AND t.attempts > 0),"
        " count(*), sum(t.state IN ('done','failed','dead','cancelled')),"
        " sum(t.state = 'done'), sum(t.state IN ('failed','dead')), sum(t.state = 'cancelled'),"
        " sum(t.finished_at >= ?1 - ?2) "
        "FROM backlog b JOIN tasks t ON t.script = b.script AND t.created_at >= b.since "
        "LEFT JOIN running r ON r.task_id = t.id "
        "GROUP BY b.script ORDER BY b.script LIMIT ?4";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return drudge_db_err(db, "status", err);
    sqlite3_bind_int64(st, 1, s->now);
    sqlite3_bind_int64(st, 2, RATE_WINDOW_US);
    sqlite3_bind_int64(st, 3, RECENT_US);
    sqlite3_bind_int(st, 4, MAX_SCRIPTS);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        script_row *row = &s->rows[s->nrows++];
        memset(row, 0, sizeof *row);
        copy_col(row->name, sizeof row->name, st, 0);
        row->since = sqlite3_column_int64(st, 1);
        row->paused = sqlite3_column_int(st, 2) > 0;
        row->queued = sqlite3_column_int64(st, 3);
        row->running = sqlite3_column_int64(st, 4);
        row->retrying = sqlite3_column_int64(st, 5);
        row->total = sqlite3_column_int64(st, 6);
        row->finished = sqlite3_column_int64(st, 7);
        row->done = sqlite3_column_int64(st, 8);
        row->failed = sqlite3_column_int64(st, 9);
        row->cancelled = sqlite3_column_int64(st, 10);
        int64_t recent = sqlite3_column_int64(st, 11);
        /* Rate over the rate window, or since the backlog started if later. */
        int64_t span =
            s->now - (row->since > s->now - RATE_WINDOW_US ? row->since : s->now - RATE_WINDOW_US);
        row->rate = span > 0 ? (double)recent * 60e6 / (double)span : 0;
        int64_t open = row->queued + row->running;
        row->eta_s = row->rate > 0 ? (int64_t)((double)open / row->rate * 60) : open ? -1 : 0;
    }
    drudge_code rc = r == SQLITE_DONE ? DRUDGE_OK : drudge_db_err(db, "status", err);
    sqlite3_finalize(st);
    if (rc)
        return rc;
    /* The latest failure of each script's backlog. */
    if (sqlite3_prepare_v2(db,
                           "SELECT id, error, finished_at FROM tasks WHERE script = ?1 AND "
                           "created_at >= ?2 AND state IN ('failed','dead') "
                           "ORDER BY finished_at DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return drudge_db_err(db, "status", err);
    for (int i = 0; i < s->nrows; i++) {
        script_row *row = &s->rows[i];
        sqlite3_bind_text(st, 1, row->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, row->since);
        if (sqlite3_step(st) == SQLITE_ROW) {
            row->last_error_task = sqlite3_column_int64(st, 0);
            copy_col(row->last_error, sizeof row->last_error, st, 1);
            for (char *p = row->last_error; *p; p++)
                if (*p == '\n' || *p == '\r' || *p == '\t')
                    *p = ' ';
            row->last_error_at = sqlite3_column_int64(st, 2);
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return DRUDGE_OK;
}

static int cmp_next(const void *a, const void *b)
{
    const next_run *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at;
}

static drudge_code collect(drudge_store *store, int64_t now, snapshot *s, drudge_err *err)
{
    sqlite3 *db = drudge_store_sqlite3(store);
    memset(s, 0, sizeof *s);
    s->now = now;
    drudge_code rc = drudge_db_exec(db, "BEGIN", err);
    if (rc)
        return rc;
    if ((rc = collect_scripts(db, s, err)))
        goto cleanup;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM leases WHERE until >= ?", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_bind_int64(st, 1, s->now) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        s->workers = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    drudge_schedule *list;
    int n;
    if ((rc = drudge_schedule_list(store, &list, &n, err)))
        goto cleanup;
    next_run all[64];
    int nall = 0;
    for (int i = 0; i < n && nall < 64; i++) {
        if (list[i].paused)
            continue;
        int64_t at = drudge_schedule_next(list[i].cron, list[i].tz, now);
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
cleanup:
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return rc;
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
        script_row *r = &s->rows[i];
        char since[40];
        drudge_fmt_time(r->since, since);
        drudge_buf_puts(out, i ? ",{\"script\":" : "{\"script\":");
        drudge_buf_json_str(out, r->name, strlen(r->name));
        drudge_buf_printf(out,
                          ",\"paused\":%s,\"queued\":%lld,\"running\":%lld,\"retrying\":%lld,"
                          "\"backlog\":{\"since\":\"%s\",\"total\":%lld,\"finished\":%lld,"
                          "\"done\":%lld,\"failed\":%lld,\"cancelled\":%lld},"
                          "\"rate_per_minute\":%.2f,\"eta_seconds\":",
                          r->paused ? "true" : "false", (long long)r->queued, (long long)r->running,
                          (long long)r->retrying, since, (long long)r->total,
                          (long long)r->finished, (long long)r->done, (long long)r->failed,
                          (long long)r->cancelled, r->rate);
        if (r->eta_s < 0)
            drudge_buf_puts(out, "null");
        else
            drudge_buf_printf(out, "%lld", (long long)r->eta_s);
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
    for (int i = 0; i < s->nrows; i++) {
        const script_row *r = &s->rows[i];
        char eta[24], fin[32];
        fmt_duration(r->eta_s, eta);
        snprintf(fin, sizeof fin, "%lld/%lld", (long long)r->finished, (long long)r->total);
        drudge_buf_printf(f, "%-20.20s ", r->name);
        bar(v, r->done + r->cancelled, r->failed, r->total, barw);
        drudge_buf_printf(f, " %3d%% %13s %8.1f %8s %s%7lld%s %6lld",
                          r->total ? (int)(r->finished * 100 / r->total) : 0, fin, r->rate,
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
            fmt_duration((s->now - r->last_error_at) / 1000000, ago);
            int room = v->width - 45;
            drudge_buf_printf(f, "%-20s %slast failure #%lld, %s ago: %.*s%s", "",
                              sgr(v, "\033[31m"), (long long)r->last_error_task, ago,
                              room > 10 ? room : 10, r->last_error, sgr(v, "\033[0m"));
            eol(v);
        }
    }
    eol(v);
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

int drudge_watch_run(drudge_cli *cli, drudge_store *db)
{
    view v = {0};
    drudge_err err = {0};
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
        /* Not a terminal: one plain snapshot (run it in a loop for a log). */
        if (cli->json) {
            if (drudge_status_json(db, drudge_now_us(), &v.frame, &err))
                rc = drudge_cli_fail("status", &err);
            else
                printf("%s\n", v.frame.data);
        } else if (collect(db, drudge_now_us(), s, &err)) {
            rc = drudge_cli_fail("status", &err);
        } else {
            render(&v, s, cli->db_path);
            fputs(v.frame.data, stdout);
        }
        drudge_buf_free(&v.frame);
        free(s);
        return rc;
    }
    int keys = isatty(STDIN_FILENO);
    if (keys && tcgetattr(STDIN_FILENO, &saved_termios) == 0) {
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
    struct sigaction sa = {0}, old[4];
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* Handlers reset after one signal: a second Ctrl-C or SIGTERM kills even
     * if a write to a stuck terminal blocks. */
    int sigs[4] = {SIGINT, SIGTERM, SIGHUP, SIGWINCH};
    for (int i = 0; i < 4; i++) {
        sa.sa_flags = sigs[i] == SIGWINCH ? 0 : SA_RESETHAND;
        sigaction(sigs[i], &sa, &old[i]);
    }
    stop_signal = 0;
    fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout);
    fflush(stdout);
    screen_active = 1;
    while (!stop_signal) {
        if (resized) {
            resized = 0;
            v.width = term_width();
        }
        drudge_buf_reset(&v.frame);
        drudge_buf_puts(&v.frame, "\033[H");
        if (collect(db, drudge_now_us(), s, &err)) {
            drudge_buf_printf(&v.frame, "drudge status: %s", err.msg);
            eol(&v);
        } else {
            render(&v, s, cli->db_path);
        }
        drudge_buf_puts(&v.frame, "\033[J");
        fwrite(v.frame.data, 1, v.frame.len, stdout);
        fflush(stdout);
        /* Wait a second, or less if a key comes. */
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        int64_t until = drudge_mono_us() + 1000000;
        while (!stop_signal && !resized) {
            int left = (int)((until - drudge_mono_us()) / 1000);
            if (left <= 0)
                break;
            int pr = poll(&pfd, keys ? 1 : 0, left);
            if (pr > 0 && (pfd.revents & POLLIN)) {
                char c;
                ssize_t n = read(STDIN_FILENO, &c, 1);
                if (n == 1 && (c == 'q' || c == 'Q' || c == 3))
                    stop_signal = -1;
                else if (n == 0)
                    keys = 0; /* end of input: keep watching until a signal */
            } else if (pr < 0 && errno != EINTR) {
                break;
            }
        }
    }
    restore_terminal();
    for (int i = 0; i < 4; i++)
        sigaction(sigs[i], &old[i], NULL);
    drudge_buf_free(&v.frame);
    free(s);
    return rc;
}

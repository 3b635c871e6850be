/*
 * cmd_demo.c: `drudge demo`, the main job end to end on the embedded
 * default: a demo case-management service, a backlog of synthetic emails,
 * queued and worked by several workers, then the time-saved report and the
 * audit verification.
 *
 * The demo drives the product the way a user would: it runs its own binary's
 * commands (enqueue, work, audit verify) as child processes, so it exercises
 * exactly what the README documents and stays decoupled from their insides.
 * The example script is compiled into the binary (cmake/embed.cmake) and
 * written into the demo directory, so `drudge demo` works from anywhere.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "connectors/serve/demo.h"
#include "runner/cli/cli.h"
#include "runner/room/room.h"
#include "logs/report/report.h"
#include "drudge/util.h"

/* cmake/embed.cmake's table (build/embedded_lua.c). */
typedef struct {
    const char *name;
    const unsigned char *data;
    size_t len;
} demo_embedded;
extern const demo_embedded drudge_embedded_files[];

#define SCRIPT_NAME   "log_email_to_case"
#define MARKER        ".drudge-demo"
#define WORK_LIMIT_US (INT64_C(600) * 1000000)

static const char demo_help[] =
    "usage: drudge demo [--dir DIR] [--count N] [-j N] [--fail-rate N] [--serve ADDR:PORT]\n"
    "       drudge demo serve --help   (the demo case-management service alone)\n\n"
    "Runs the main job end to end, with no network: starts a demo case-management\n"
    "HTTP service on 127.0.0.1 (a separate process), writes a backlog of synthetic\n"
    "emails (a few with unknown case references) as JSONL, enqueues them for the\n"
    "example script log_email_to_case.lua, works them with several workers, prints\n"
    "the time-saved report, writes report.html, runs `audit verify`, stops the\n"
    "service, and says where everything is.\n\n"
    "  --dir DIR        the demo directory, made afresh (default ./drudge-demo); an\n"
    "                   existing one is only replaced if an earlier demo made it\n"
    "  --count N        emails in the backlog (default 500)\n"
    "  -j, --workers N  workers (default 4)\n"
    "  --fail-rate N    service requests per thousand answered 503 (default 60)\n"
    "  --serve ADDR:PORT  then leave the control room (drudge serve) running on the\n"
    "                   demo database until Ctrl-C, with a user `demo` (admin) whose\n"
    "                   password it prints\n\n"
    "  --outage S       the service goes down for S seconds half-way through the\n"
    "                   backlog (default 6; 0: no outage): the workers' circuit\n"
    "                   breaker holds the tasks, and the report ends with the outage\n\n"
    "exit: 0 ok, 1 a step failed, 2 usage, 6 audit verify found tampering\n";

typedef struct demo {
    const char *dir;
    const char *serve; /* --serve: the control room's address, or NULL */
    int count, workers;
    int fail_rate; /* per thousand */
    int outage_s;  /* the service's outage, half-way through (0: none) */
    char self[PATH_MAX], abs[PATH_MAX];
    /* abs plus a file name always fits */
    char db[PATH_MAX + 32], files[PATH_MAX + 32], script[PATH_MAX + 32], backlog[PATH_MAX + 32];
    char html[PATH_MAX + 32], json[PATH_MAX + 32], svc_log[PATH_MAX + 32], work_log[PATH_MAX + 32];
    char token[65], url[64];
    pid_t svc;
    int svc_in;  /* the service's stdin: closing it stops the service */
    int svc_out; /* its stdout: the port, and its counters when it stops */
    char svc_stats[512];
    int unknown;
} demo;

static int say_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int say_err(const char *fmt, ...)
{
    va_list ap;
    fputs("drudge demo: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return DRUDGE_EXIT_ERROR;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag;
    if (ftw->level == 0)
        return 0; /* keep the directory itself */
    return remove(path) != 0 ? -1 : 0;
}

/* Makes dir afresh: created 0700, or emptied if an earlier demo made it. */
static int prepare_dir(demo *d)
{
    char marker[PATH_MAX];
    struct stat st;
    snprintf(marker, sizeof marker, "%s/" MARKER, d->dir);
    if (mkdir(d->dir, 0700) != 0) {
        if (errno != EEXIST)
            return say_err("cannot create %s: %s", d->dir, strerror(errno));
        if (stat(marker, &st) != 0) {
            fprintf(stderr,
                    "drudge demo: %s exists and was not made by drudge demo; remove it or "
                    "choose another with --dir\n",
                    d->dir);
            return DRUDGE_EXIT_USAGE;
        }
        if (nftw(d->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
            return say_err("cannot empty %s: %s", d->dir, strerror(errno));
        chmod(d->dir, 0700);
    }
    int fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return say_err("cannot write %s: %s", marker, strerror(errno));
    close(fd);
    return DRUDGE_EXIT_OK;
}

static int write_private(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return say_err("cannot write %s: %s", path, strerror(errno));
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            return say_err("cannot write %s: %s", path, strerror(e));
        }
        p += w;
        n -= (size_t)w;
    }
    if (close(fd) != 0)
        return say_err("cannot write %s: %s", path, strerror(errno));
    return DRUDGE_EXIT_OK;
}

static int write_script(demo *d)
{
    for (const demo_embedded *e = drudge_embedded_files; e->name; e++)
        if (!strcmp(e->name, SCRIPT_NAME))
            return write_private(d->script, e->data, e->len);
    return say_err("this binary has no embedded %s.lua (a build problem)", SCRIPT_NAME);
}

/* ---- the synthetic backlog ---- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = (*s += 0x9e3779b97f4a7c15u);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

#define PICK(arr, s) arr[rng_next(s) % (sizeof arr / sizeof arr[0])]

static const char *const senders[] = {
    "intake@metro-police.example",     "evidence@forensics.example",
    "listings@magistrates.example",    "casework@crown-court.example",
    "disclosure@metro-police.example", "office@okafor-solicitors.example",
    "victims@support-service.example", "custody@metro-police.example"};
static const char *const kinds[] = {
    "Witness statement",   "Forensic report",           "CCTV footage request", "Charging decision",
    "Disclosure schedule", "Victim personal statement", "Medical report",       "Custody record",
    "Hearing date notice", "Defence case statement"};
static const char *const bodies[] = {
    "Please find attached the document for the above case. Kindly log it on the file.",
    "Sending this over for the case file ahead of the next hearing.",
    "As discussed on the phone, here is the document. Please confirm receipt.",
    "Forwarding for your records. The original follows by secure post.",
    "Attached as requested by the reviewing lawyer."};

/* One email per line; every 50th has a case reference the service does not know. */
static int write_backlog(demo *d, int ncases)
{
    drudge_buf b = {0};
    uint64_t seed = 20261123;
    int64_t t = INT64_C(1794816000) * 1000000; /* 2026-11-16T08:00Z */
    for (int i = 1; i <= d->count; i++) {
        char ref[32], id[64], received[40], subject[160];
        if (i % 50 == 25) {
            snprintf(ref, sizeof ref, "CR-2026-%05d", 90000 + (int)(rng_next(&seed) % 9999));
            d->unknown++;
        } else {
            drudge_demo_case_ref(1 + (int)(rng_next(&seed) % (uint64_t)ncases), ref);
        }
        snprintf(id, sizeof id, "<demo-%05d@mail.example>", i);
        t += (int64_t)(30 + rng_next(&seed) % 600) * 1000000;
        drudge_fmt_time(t, received);
        strcpy(received + 19, "Z"); /* whole seconds, as mail headers have */
        snprintf(subject, sizeof subject, "%s: %s", ref, PICK(kinds, &seed));
        const char *sender = PICK(senders, &seed), *body = PICK(bodies, &seed);
        drudge_buf_puts(&b, "{\"message_id\":");
        drudge_buf_json_str(&b, id, strlen(id));
        drudge_buf_puts(&b, ",\"sender\":");
        drudge_buf_json_str(&b, sender, strlen(sender));
        drudge_buf_puts(&b, ",\"received\":");
        drudge_buf_json_str(&b, received, strlen(received));
        drudge_buf_puts(&b, ",\"subject\":");
        drudge_buf_json_str(&b, subject, strlen(subject));
        drudge_buf_puts(&b, ",\"case_ref\":");
        drudge_buf_json_str(&b, ref, strlen(ref));
        drudge_buf_puts(&b, ",\"body\":");
        drudge_buf_json_str(&b, body, strlen(body));
        drudge_buf_puts(&b, "}\n");
    }
    int rc = write_private(d->backlog, b.data, b.len);
    drudge_buf_free(&b);
    return rc;
}

/* ---- child processes ---- */

/* Starts argv with stdout/stderr to out_fd (-1: inherit) and stdin from in_fd
 * (-1: /dev/null). Returns the pid or -1. */
static pid_t spawn(char *const argv[], int in_fd, int out_fd, int err_fd)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    dup2(in_fd >= 0 ? in_fd : null, 0);
    if (out_fd >= 0)
        dup2(out_fd, 1);
    if (err_fd >= 0)
        dup2(err_fd, 2);
    execv(argv[0], argv);
    fprintf(stderr, "drudge demo: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static int wait_exit(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

/* Runs `drudge --db DB --files FILES CMD ARGS...` and returns its exit code. */
static int run_drudge(demo *d, int out_fd, const char *const *args)
{
    char *argv[32];
    int n = 0;
    argv[n++] = d->self;
    argv[n++] = "--db";
    argv[n++] = d->db;
    argv[n++] = "--files";
    argv[n++] = d->files;
    for (; *args && n < 31; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = spawn(argv, -1, out_fd, out_fd);
    return pid < 0 ? -1 : wait_exit(pid);
}

static int start_service(demo *d, int ncases)
{
    int in[2], out[2];
    char fail[16], cases[16], line[32] = "", after[16], down[16];
    snprintf(fail, sizeof fail, "%d", d->fail_rate);
    snprintf(cases, sizeof cases, "%d", ncases);
    /* Each email is a GET and a POST: down half-way through the backlog. */
    snprintf(after, sizeof after, "%d", d->outage_s ? d->count : 0);
    snprintf(down, sizeof down, "%d", d->outage_s);
    char *argv[] = {d->self,      "demo",    "serve", "--exit-on-eof", "--fail-rate",
                    fail,         "--cases", cases,   "--down-after",  after,
                    "--down-for", down,      NULL};
    int log = open(d->svc_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log < 0 || pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
        return say_err("cannot start the demo service: %s", strerror(errno));
    setenv("DRUDGE_DEMO_TOKEN", d->token, 1);
    fflush(stdout);
    fflush(stderr);
    d->svc = spawn(argv, in[0], out[1], log);
    unsetenv("DRUDGE_DEMO_TOKEN");
    close(in[0]);
    close(out[1]);
    close(log);
    d->svc_in = in[1];
    if (d->svc < 0) {
        close(out[0]);
        return say_err("cannot start the demo service: %s", strerror(errno));
    }
    /* The service prints its port once it listens. */
    struct pollfd p = {.fd = out[0], .events = POLLIN};
    size_t n = 0;
    while (n < sizeof line - 1 && !strchr(line, '\n') && poll(&p, 1, 10000) > 0) {
        ssize_t r = read(out[0], line + n, sizeof line - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        line[n] = '\0';
    }
    d->svc_out = out[0];
    int port = atoi(line);
    if (port <= 0 || port > 65535)
        return say_err("the demo service did not start; see %s", d->svc_log);
    snprintf(d->url, sizeof d->url, "http://127.0.0.1:%d", port);
    return DRUDGE_EXIT_OK;
}

/* Stops the service (closing its stdin is enough) and keeps the counters it
 * prints as it stops. */
static void stop_service(demo *d)
{
    if (d->svc <= 0)
        return;
    close(d->svc_in);
    size_t n = 0;
    struct pollfd p = {.fd = d->svc_out, .events = POLLIN};
    while (n < sizeof d->svc_stats - 1 && poll(&p, 1, 10000) > 0) {
        ssize_t r = read(d->svc_out, d->svc_stats + n, sizeof d->svc_stats - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    d->svc_stats[n] = '\0';
    if (!n)
        kill(d->svc, SIGTERM);
    close(d->svc_out);
    wait_exit(d->svc);
    d->svc = 0;
}

/* ---- progress, stats ---- */

typedef struct counts {
    int64_t queued, running, done, failed, dead;
} counts;

/* The tasks by state, from one snapshot; zeros if the database cannot be
 * read now (the progress bar is best effort; the checks after the work
 * read it again). */
static void count_states(drudge_store *st, counts *c)
{
    drudge_queue_stats s;
    memset(c, 0, sizeof *c);
    if (drudge_store_begin(st, DRUDGE_TX_READ, NULL))
        return;
    drudge_code rc = drudge_store_status(st, drudge_now_us(), &s, NULL);
    drudge_store_rollback(st); /* only read */
    if (rc)
        return;
    /* by drudge_task_states: queued running done failed dead cancelled */
    c->queued = s.total.count[0];
    c->running = s.total.count[1];
    c->done = s.total.count[2];
    c->failed = s.total.count[3];
    c->dead = s.total.count[4];
    drudge_queue_stats_clear(&s);
}

/* On a terminal the bar redraws in place; the final draw ends the line. */
static void draw_progress(const counts *c, double secs, int tty, int final)
{
    int64_t total = c->queued + c->running + c->done + c->failed + c->dead;
    int64_t fin = c->done + c->failed + c->dead;
    int width = 32, fill = total ? (int)(width * fin / total) : width;
    char bar[40];
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(width - fill));
    bar[width] = '\0';
    fprintf(stderr,
            "%sworking [%s] %" PRId64 "/%" PRId64 "  done %" PRId64 "  failed %" PRId64
            "  dead %" PRId64 "  %.1f s%s",
            tty ? "\r" : "", bar, fin, total, c->done, c->failed, c->dead, secs,
            tty ? (final ? "\033[K\n" : "\033[K") : "\n");
}

/* The workers' rounds: the progress bar and the time limit across them. */
typedef struct progress {
    drudge_store *st;
    int tty;
    int64_t t0, drawn; /* without a terminal, a line every 5 s */
    int64_t stopping;  /* when the workers were told to stop, or 0 */
} progress;

/* Waits for one `drudge work` to exit, drawing progress from the database
 * meanwhile; returns its exit code (-1 if it cannot be waited for). */
static int wait_workers(progress *p, pid_t pid)
{
    int status;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (w < 0 && errno != EINTR)
            return -1;
        int64_t now = drudge_mono_us();
        /* A demo that hangs teaches nothing: after 10 minutes, drain, then stop. */
        if (now - p->t0 > WORK_LIMIT_US && !p->stopping) {
            say_err("the workers are still busy after %d s: stopping them",
                    (int)(WORK_LIMIT_US / 1000000));
            kill(pid, SIGTERM);
            p->stopping = now;
        } else if (p->stopping && now - p->stopping > 10000000) {
            kill(pid, SIGKILL);
        }
        if (p->tty || now - p->drawn > 5000000) {
            counts c;
            count_states(p->st, &c);
            draw_progress(&c, (double)(now - p->t0) / 1e6, p->tty, 0);
            p->drawn = now;
        }
        usleep(100000);
    }
}

/* Between rounds: 0 if nothing is queued any more, else 1 once the next
 * task is due (a retry waiting out its backoff), or after 5 s at most. */
static int wait_due(drudge_store *st)
{
    counts c;
    int64_t due = 0;
    count_states(st, &c);
    if (!c.queued)
        return 0;
    drudge_store_next_due(st, &due, NULL);
    int64_t wait = due - drudge_now_us();
    if (wait > 0)
        usleep((useconds_t)(wait < 5000000 ? wait : 5000000));
    return 1;
}

/* Runs the workers, drawing a progress bar from the database meanwhile.
 * `work --until-empty` stops when nothing is *due*; a task waiting out its
 * retry backoff is not, so the workers run again once it is (short backoffs
 * keep the demo quick). */
static int work(demo *d)
{
    char jobs[16];
    snprintf(jobs, sizeof jobs, "%d", d->workers);
    char *argv[] = {d->self,
                    "--db",
                    d->db,
                    "--files",
                    d->files,
                    "-q",
                    "work",
                    "-j",
                    jobs,
                    "--until-empty",
                    "--backoff-base",
                    "250ms",
                    "--backoff-cap",
                    "2s",
                    "--breaker-probe",
                    "1s",
                    "--breaker-probe-max",
                    "2s",
                    NULL};
    drudge_err err = {0};
    progress p = {.tty = isatty(2)};
    counts c;
    int rc = 0;
    int log = open(d->work_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log < 0)
        return say_err("cannot write %s: %s", d->work_log, strerror(errno));
    if (drudge_store_open(d->db, DRUDGE_STORE_NOCREATE, &p.st, &err) != DRUDGE_OK) {
        close(log);
        return say_err("%s", err.msg);
    }
    p.t0 = p.drawn = drudge_mono_us();
    for (int round = 0; round < 50 && rc == 0 && !p.stopping; round++) {
        if (round && !wait_due(p.st))
            break;
        fflush(stderr);
        pid_t pid = spawn(argv, -1, log, log);
        rc = pid > 0 ? wait_workers(&p, pid) : -1;
    }
    close(log);
    count_states(p.st, &c);
    draw_progress(&c, (double)(drudge_mono_us() - p.t0) / 1e6, p.tty, 1);
    drudge_store_close(p.st);
    if (rc != 0)
        return say_err("`drudge work` ended with exit %d; see %s", rc, d->work_log);
    if (c.queued + c.running)
        return say_err("`drudge work` left %" PRId64 " tasks unfinished; see %s",
                       c.queued + c.running, d->work_log);
    return DRUDGE_EXIT_OK;
}

static long long stat_field(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? atoll(p + strlen(pat)) : -1;
}

/* What the (stopped) service saw; checks that nothing was logged twice. */
static int service_summary(demo *d, drudge_store *st)
{
    const char *js = d->svc_stats;
    counts c;
    if (!strstr(js, "\"documents\":"))
        return say_err("the demo service did not report its counters; see %s", d->svc_log);
    count_states(st, &c);
    long long docs = stat_field(js, "documents");
    printf("\nThe case-management service answered %lld requests: %lld with 503, %lld for "
           "unknown cases.\nIt logged %lld documents for %" PRId64
           " done tasks; %lld retried POSTs were answered\nfrom their Idempotency-Key instead of "
           "being logged twice. The service is stopped.\n",
           stat_field(js, "requests"), stat_field(js, "unavailable"), stat_field(js, "not_found"),
           docs, c.done, stat_field(js, "replayed"));
    /* A dead task may have logged before its last answer was lost. */
    if (docs < c.done || docs > c.done + c.dead)
        return say_err("the service logged %lld documents for %" PRId64 " done tasks: some "
                       "email was logged twice or not at all",
                       docs, c.done);
    return DRUDGE_EXIT_OK;
}

/* The id of the first task in a state, or 0. */
static int64_t first_task(drudge_store *st, const char *state)
{
    drudge_task_filter f = {.state = state, .limit = 1, .oldest_first = 1};
    drudge_task_row *rows;
    size_t n;
    int64_t id = 0;
    if (drudge_store_list(st, &f, &rows, &n, NULL))
        return 0;
    if (n)
        id = rows[0].id;
    drudge_task_rows_free(rows, n);
    return id;
}

static int report(demo *d, drudge_store *st)
{
    drudge_report_opts o = {.since = INT64_MIN, .until = INT64_MAX, .by = DRUDGE_REPORT_BY_SCRIPT};
    drudge_report *r = NULL;
    drudge_err err = {0};
    drudge_buf b = {0};
    if (drudge_report_compute(st, &o, &r, &err) != DRUDGE_OK)
        return say_err("report: %s", err.msg);
    putchar('\n');
    drudge_report_table(r, &b);
    fputs(b.data, stdout);
    drudge_buf_reset(&b);
    drudge_report_html(r, &b);
    int rc = write_private(d->html, b.data, b.len);
    drudge_buf_reset(&b);
    drudge_report_json(r, &b);
    if (!rc)
        rc = write_private(d->json, b.data, b.len);
    drudge_buf_free(&b);
    drudge_report_free(r);
    return rc;
}

/* ---- the command ---- */

#define GO_ON (-1) /* an option parsed: go on */

/* optarg, a whole number from lo to hi, into *out; GO_ON, or the exit code. */
static int int_opt(const char *flag, long lo, long hi, int *out)
{
    long v;
    if (drudge_cli_parse_long(optarg, lo, hi, &v))
        return drudge_cli_usage("demo", "%s: '%s' is not %ld to %ld", flag, optarg, lo, hi);
    *out = (int)v;
    return GO_ON;
}

/* One option into d; GO_ON, or the exit code to return now. */
static int demo_opt(int c, demo *d, char **argv)
{
    switch (c) {
    case 'd':
        d->dir = optarg;
        return GO_ON;
    case 'n':
        return int_opt("--count", 1, 1000000, &d->count);
    case 'j':
        return int_opt("--workers", 1, 64, &d->workers);
    case 'f':
        return int_opt("--fail-rate", 0, 500, &d->fail_rate);
    case 's':
        d->serve = optarg;
        return GO_ON;
    case 'o':
        return int_opt("--outage", 0, 3600, &d->outage_s);
    case 'h':
        fputs(demo_help, stdout);
        return DRUDGE_EXIT_OK;
        DRUDGE_CLI_GETOPT_ERRORS("demo");
    }
}

static int parse_args(demo *d, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, 0, 'd'},     {"count", required_argument, 0, 'n'},
        {"workers", required_argument, 0, 'j'}, {"fail-rate", required_argument, 0, 'f'},
        {"serve", required_argument, 0, 's'},   {"outage", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    static const char shorts[] = ":j:h";
    optind = 1;
    opterr = 0;
    for (int c = getopt_long(argc, argv, shorts, opts, NULL); c != -1;
         c = getopt_long(argc, argv, shorts, opts, NULL)) {
        int rc = demo_opt(c, d, argv);
        if (rc != GO_ON)
            return rc;
    }
    if (optind < argc)
        return drudge_cli_usage("demo", "unexpected argument '%s'", argv[optind]);
    return GO_ON;
}

/* The binary (to run its commands), the service's token, and the demo
 * directory made afresh with the script and the backlog in it. */
static int prepare(demo *d, int ncases)
{
    ssize_t n = readlink("/proc/self/exe", d->self, sizeof d->self - 1);
    if (n <= 0)
        return say_err("cannot find my own binary: %s", strerror(errno));
    d->self[n] = '\0';
    unsigned char raw[32];
    if (drudge_random(raw, sizeof raw) != 0)
        return say_err("cannot make a random token");
    drudge_hex(raw, sizeof raw, d->token);
    int rc = prepare_dir(d);
    if (rc)
        return rc;
    /* Absolute paths from here on: the summary must say unambiguously where things are. */
    if (!realpath(d->dir, d->abs))
        return say_err("cannot resolve %s: %s", d->dir, strerror(errno));
    d->dir = d->abs;
    snprintf(d->db, sizeof d->db, "%s/drudge.db", d->dir);
    snprintf(d->files, sizeof d->files, "%s/files", d->dir);
    snprintf(d->script, sizeof d->script, "%s/" SCRIPT_NAME ".lua", d->dir);
    snprintf(d->backlog, sizeof d->backlog, "%s/backlog.jsonl", d->dir);
    snprintf(d->html, sizeof d->html, "%s/report.html", d->dir);
    snprintf(d->json, sizeof d->json, "%s/report.json", d->dir);
    snprintf(d->svc_log, sizeof d->svc_log, "%s/service.log", d->dir);
    snprintf(d->work_log, sizeof d->work_log, "%s/work.log", d->dir);
    if (mkdir(d->files, 0700) != 0)
        return say_err("cannot create %s: %s", d->files, strerror(errno));
    rc = write_script(d);
    if (!rc)
        rc = write_backlog(d, ncases);
    return rc;
}

/* The service started, the backlog enqueued and worked. */
static int run_backlog(demo *d, int ncases)
{
    int rc = start_service(d, ncases);
    if (rc)
        return rc;
    printf("drudge demo: the main job on a demo backlog, in %s/\n"
           "  service   demo case management at %s (a separate process)\n"
           "  backlog   %d emails in %s, %d with a case reference the service does not know\n"
           "  script    %s\n\n",
           d->dir, d->url, d->count, d->backlog, d->unknown, d->script);
    /* What the script reads: the API token as a secret, the service's address as configuration. */
    setenv("DRUDGE_SECRET_CMS_TOKEN", d->token, 1);
    setenv("CMS_URL", d->url, 1);
    const char *enqueue[] = {"enqueue",     d->script,    "--from", d->backlog,
                             "--key-field", "message_id", NULL};
    rc = run_drudge(d, -1, enqueue);
    if (rc != 0)
        return say_err("`drudge enqueue` ended with exit %d", rc);
    return work(d);
}

/* What the demo did: the service's counters and the report. */
static int results(demo *d, drudge_store *st)
{
    stop_service(d);
    int rc = service_summary(d, st);
    if (!rc)
        rc = report(d, st);
    return rc;
}

/* `drudge audit verify`, as a user would run it. */
static int audit_verify(demo *d)
{
    printf("\n$ drudge audit verify\n");
    const char *verify[] = {"audit", "verify", NULL};
    int rc = run_drudge(d, -1, verify);
    if (rc == 0)
        return DRUDGE_EXIT_OK;
    say_err("`drudge audit verify` ended with exit %d", rc);
    return rc == DRUDGE_EXIT_INVALID ? DRUDGE_EXIT_INVALID : DRUDGE_EXIT_ERROR;
}

/* Where everything is, and what to look at next. */
static void where_things_are(const demo *d, drudge_store *st, int64_t t0)
{
    printf("\nDone in %.1f s.\n"
           "  database  %s\n"
           "  report    %s (and %s)\n"
           "  logs      %s, %s\n"
           "Look around:\n"
           "  %s --db %s status\n"
           "  %s --db %s tasks --state failed\n",
           (double)(drudge_mono_us() - t0) / 1e6, d->db, d->html, d->json, d->work_log, d->svc_log,
           d->self, d->db, d->self, d->db);
    int64_t failed_id = first_task(st, "failed");
    if (failed_id)
        printf("  %s --db %s show %" PRId64 "   # an email about an unknown case\n", d->self, d->db,
               failed_id);
    printf("  %s --db %s audit show %" PRId64 "   # every step of a task\n", d->self, d->db,
           first_task(st, "done"));
}

/* --serve: the control room on the demo's database, with a user to log in
 * as, until Ctrl-C. */
static int serve_room(const demo *d, drudge_store *st)
{
    unsigned char raw[12];
    char password[25];
    drudge_err err = {0};
    if (drudge_random(raw, sizeof raw) != 0)
        return say_err("cannot make a random password");
    drudge_hex(raw, sizeof raw, password);
    if (drudge_room_user_add(st, "demo", "admin", password, drudge_cli_os_user(), &err))
        return say_err("%s", err.msg);
    printf("\nThe control room: log in as demo, password %s (Ctrl-C stops it)\n", password);
    fflush(stdout);
    drudge_room_opts o = {.listen = d->serve, .quiet = 1};
    if (drudge_room_serve(st, &o, &err))
        return say_err("%s", err.msg);
    return DRUDGE_EXIT_OK;
}

/* ---- `drudge demo serve`: the service alone, in the foreground ---- */

static const char serve_help[] =
    "usage: drudge demo serve [--port N] [--cases N] [--fail-rate PER_MILLE]\n"
    "                         [--down-after N --down-for S] [--exit-on-eof]\n\n"
    "Runs the demo case-management service on 127.0.0.1 and prints its port on\n"
    "standard output. Clients must send \"Authorization: Bearer $DRUDGE_DEMO_TOKEN\"\n"
    "(the token is taken from that environment variable, never from the command line).\n\n"
    "  --port N         port to listen on (default 0: any free port)\n"
    "  --cases N        known cases CR-2026-10001 ... (default 300)\n"
    "  --fail-rate N    requests per thousand answered 503 (default 60)\n"
    "  --down-after N   after N case requests, go down: answer every one 503 ...\n"
    "  --down-for S     ... for S seconds (default 0: never down)\n"
    "  --exit-on-eof    stop when standard input closes (the demo's parent died)\n\n"
    "Stops on SIGTERM or SIGINT, printing its counters as JSON on standard output\n"
    "(as GET /api/stats gives them) and in words on standard error.\n";

static int demo_serve(int argc, char **argv)
{
    static const struct option opts[] = {{"port", required_argument, 0, 'p'},
                                         {"cases", required_argument, 0, 'c'},
                                         {"fail-rate", required_argument, 0, 'f'},
                                         {"down-after", required_argument, 0, 'a'},
                                         {"down-for", required_argument, 0, 'D'},
                                         {"exit-on-eof", no_argument, 0, 'e'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    drudge_demo_opts o = {.ncases = 300, .fail_per_mille = 60};
    int eof = 0, c;
    char *end;
    long v;
    optind = 1;
    opterr = 0;
    for (;;) {
        c = getopt_long(argc, argv, ":h", opts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'p':
        case 'c':
        case 'f':
            v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 0 || (c == 'p' && v > 65535) ||
                (c == 'c' && (v < 1 || v > 89999)) || (c == 'f' && v > 1000))
                return drudge_cli_usage("demo serve", "--%s: '%s' is out of range",
                                        c == 'p'   ? "port"
                                        : c == 'c' ? "cases"
                                                   : "fail-rate",
                                        optarg);
            if (c == 'p')
                o.port = (unsigned short)v;
            else if (c == 'c')
                o.ncases = (int)v;
            else
                o.fail_per_mille = (unsigned)v;
            break;
        case 'a':
        case 'D':
            v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 0 || v > 1000000)
                return drudge_cli_usage("demo serve", "--%s: '%s' is out of range",
                                        c == 'a' ? "down-after" : "down-for", optarg);
            if (c == 'a')
                o.down_after = (unsigned)v;
            else
                o.down_for_s = (double)v;
            break;
        case 'e':
            eof = 1;
            break;
        case 'h':
            fputs(serve_help, stdout);
            return DRUDGE_EXIT_OK;
        case ':':
            return drudge_cli_usage("demo serve", "%s needs a value", argv[optind - 1]);
        default:
            return drudge_cli_usage("demo serve", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return drudge_cli_usage("demo serve", "unexpected argument '%s'", argv[optind]);
    o.token = getenv("DRUDGE_DEMO_TOKEN");
    if (!o.token || !*o.token)
        return drudge_cli_usage("demo serve", "set DRUDGE_DEMO_TOKEN to the bearer token");

    /* Signals arrive on a descriptor, so one poll() waits for them and for EOF. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before MHD's threads inherit the mask */
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    drudge_err err = {0};
    drudge_demo_service *s = drudge_demo_service_start(&o, &err);
    if (!s || sfd < 0) {
        if (sfd >= 0)
            close(sfd);
        return s ? DRUDGE_EXIT_ERROR : drudge_cli_fail("demo serve", &err);
    }
    printf("%u\n", drudge_demo_service_port(s));
    fflush(stdout);
    struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
    for (;;) {
        if (poll(p, eof ? 2 : 1, -1) < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            break;
        if (eof && p[1].revents) {
            char buf[256];
            if (read(0, buf, sizeof buf) <= 0)
                break;
        }
    }
    drudge_demo_stats st;
    char json[512];
    drudge_demo_service_stats(s, &st);
    drudge_demo_stats_json(&st, json, sizeof json);
    drudge_demo_service_stop(s);
    printf("%s\n", json);
    fflush(stdout);
    close(sfd);
    fprintf(stderr,
            "demo service: %llu requests, %llu documents logged, %llu answered 503, %llu "
            "idempotent replays, %llu not found, %llu unauthorized\n",
            (unsigned long long)st.requests, (unsigned long long)st.documents,
            (unsigned long long)st.unavailable, (unsigned long long)st.replayed,
            (unsigned long long)st.not_found, (unsigned long long)st.unauthorized);
    return DRUDGE_EXIT_OK;
}

int drudge_cmd_demo(drudge_cli *cli, int argc, char **argv)
{
    demo d = {.dir = "drudge-demo",
              .count = 500,
              .workers = 4,
              .fail_rate = 60,
              .outage_s = 6,
              .svc_in = -1,
              .svc_out = -1};
    const int ncases = 300;
    drudge_store *st = NULL;
    drudge_err err = {0};
    (void)cli;
    if (argc >= 2 && !strcmp(argv[1], "serve"))
        return demo_serve(argc - 1, argv + 1);
    int rc = parse_args(&d, argc, argv);
    if (rc != GO_ON)
        return rc;
    int64_t t0 = drudge_mono_us();
    rc = prepare(&d, ncases);
    if (rc)
        return rc;
    rc = run_backlog(&d, ncases);
    if (rc)
        goto cleanup;
    if (drudge_store_open(d.db, DRUDGE_STORE_NOCREATE, &st, &err) != DRUDGE_OK) {
        rc = say_err("%s", err.msg);
        goto cleanup;
    }
    rc = results(&d, st);
    if (rc)
        goto cleanup;
    rc = audit_verify(&d); /* a failure is reported, and where things are still said */
    where_things_are(&d, st, t0);
    if (!rc && d.serve) {
        unsetenv("DRUDGE_SECRET_CMS_TOKEN");
        stop_service(&d);
        rc = serve_room(&d, st);
    }
cleanup:
    unsetenv("DRUDGE_SECRET_CMS_TOKEN");
    stop_service(&d);
    drudge_store_close(st);
    return rc;
}

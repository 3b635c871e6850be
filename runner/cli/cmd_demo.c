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
#include <openssl/rand.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "connectors/serve/demo.h"
#include "runner/cli/cli.h"
#include "runner/store/db.h"
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
    "usage: drudge demo [--dir DIR] [--count N] [-j N] [--fail-rate N]\n"
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
    "  --fail-rate N    service requests per thousand answered 503 (default 60)\n\n"
    "exit: 0 ok, 1 a step failed, 2 usage, 6 audit verify found tampering\n";

typedef struct demo {
    const char *dir;
    int count, workers;
    unsigned fail_rate;
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
    char fail[16], cases[16], line[32] = "";
    snprintf(fail, sizeof fail, "%u", d->fail_rate);
    snprintf(cases, sizeof cases, "%d", ncases);
    char *argv[] = {d->self,   "demo", "serve", "--exit-on-eof", "--fail-rate", fail,
                    "--cases", cases,  NULL};
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

static void count_states(sqlite3 *db, counts *c)
{
    sqlite3_stmt *st;
    memset(c, 0, sizeof *c);
    if (sqlite3_prepare_v2(db, "SELECT state, COUNT(*) FROM task_state GROUP BY state", -1, &st,
                           NULL))
        return;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(st, 0);
        int64_t n = sqlite3_column_int64(st, 1);
        if (!strcmp(s, "queued"))
            c->queued = n;
        else if (!strcmp(s, "running"))
            c->running = n;
        else if (!strcmp(s, "done"))
            c->done = n;
        else if (!strcmp(s, "failed"))
            c->failed = n;
        else if (!strcmp(s, "dead"))
            c->dead = n;
    }
    sqlite3_finalize(st);
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

/* The earliest run_at of a queued task (a retry waiting out its backoff), or 0. */
static int64_t next_due(sqlite3 *db)
{
    sqlite3_stmt *st;
    int64_t t = 0;
    if (sqlite3_prepare_v2(db, "SELECT MIN(run_at) FROM tasks WHERE state = 'queued'", -1, &st,
                           NULL))
        return 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        t = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return t;
}

/* Runs the workers, drawing a progress bar from the database meanwhile.
 * `work --until-empty` stops when nothing is *due*; a task waiting out its
 * retry backoff is not, so the workers run again once it is (short backoffs
 * keep the demo quick). */
static int work(demo *d)
{
    char jobs[16];
    snprintf(jobs, sizeof jobs, "%d", d->workers);
    char *argv[] = {d->self,         "--db", d->db, "--files",       d->files,         "-q",
                    "work",          "-j",   jobs,  "--until-empty", "--backoff-base", "250ms",
                    "--backoff-cap", "2s",   NULL};
    sqlite3 *db = NULL;
    drudge_err err = {0};
    counts c;
    int tty = isatty(2), rc = 0, status;
    int64_t stopping = 0;
    int log = open(d->work_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (log < 0)
        return say_err("cannot write %s: %s", d->work_log, strerror(errno));
    if (drudge_db_open(d->db, DRUDGE_DB_NOCREATE, &db, &err) != DRUDGE_OK) {
        close(log);
        return say_err("%s", err.msg);
    }
    int64_t t0 = drudge_mono_us(), last = t0; /* without a terminal, a line every 5 s */
    for (int round = 0; round < 50 && rc == 0 && !stopping; round++) {
        if (round) {
            count_states(db, &c);
            if (!c.queued)
                break;
            int64_t wait = next_due(db) - drudge_now_us();
            if (wait > 0)
                usleep((useconds_t)(wait < 5000000 ? wait : 5000000));
        }
        fflush(stderr);
        pid_t pid = spawn(argv, -1, log, log);
        rc = pid > 0 ? -1 : rc;
        while (pid > 0) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) {
                rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                break;
            }
            if (w < 0 && errno != EINTR)
                break;
            int64_t now = drudge_mono_us();
            /* A demo that hangs teaches nothing: after 10 minutes, drain, then stop. */
            if (now - t0 > WORK_LIMIT_US && !stopping) {
                say_err("the workers are still busy after %d s: stopping them",
                        (int)(WORK_LIMIT_US / 1000000));
                kill(pid, SIGTERM);
                stopping = now;
            } else if (stopping && now - stopping > 10000000) {
                kill(pid, SIGKILL);
            }
            if (tty || now - last > 5000000) {
                count_states(db, &c);
                draw_progress(&c, (double)(now - t0) / 1e6, tty, 0);
                last = now;
            }
            usleep(100000);
        }
    }
    close(log);
    count_states(db, &c);
    draw_progress(&c, (double)(drudge_mono_us() - t0) / 1e6, tty, 1);
    sqlite3_close(db);
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
static int service_summary(demo *d, sqlite3 *db)
{
    const char *js = d->svc_stats;
    counts c;
    if (!strstr(js, "\"documents\":"))
        return say_err("the demo service did not report its counters; see %s", d->svc_log);
    count_states(db, &c);
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
static int64_t first_task(sqlite3 *db, const char *state)
{
    sqlite3_stmt *st;
    int64_t id = 0;
    if (sqlite3_prepare_v2(db, "SELECT MIN(id) FROM tasks WHERE state = ?", -1, &st, NULL))
        return 0;
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return id;
}

static int report(demo *d, sqlite3 *db)
{
    drudge_report_opts o = {.since = INT64_MIN, .until = INT64_MAX, .by = DRUDGE_REPORT_BY_SCRIPT};
    drudge_report *r = NULL;
    drudge_err err = {0};
    drudge_buf b = {0};
    /* The report reads through the store; db goes when the demo moves onto it. */
    drudge_store *s = NULL;
    (void)db;
    if (drudge_store_open(d->db, DRUDGE_STORE_NOCREATE, &s, &err) != DRUDGE_OK)
        return say_err("report: %s", err.msg);
    drudge_code code = drudge_report_compute(s, &o, &r, &err);
    drudge_store_close(s);
    if (code != DRUDGE_OK)
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

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int drudge_cmd_demo(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, 0, 'd'},     {"count", required_argument, 0, 'n'},
        {"workers", required_argument, 0, 'j'}, {"fail-rate", required_argument, 0, 'f'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    demo d = {.dir = "drudge-demo",
              .count = 500,
              .workers = 4,
              .fail_rate = 60,
              .svc_in = -1,
              .svc_out = -1};
    const int ncases = 300;
    long v;
    int c, rc;
    if (argc >= 2 && !strcmp(argv[1], "serve"))
        return drudge_demo_serve_main(argc - 1, argv + 1);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":j:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            d.dir = optarg;
            break;
        case 'n':
            if (parse_int(optarg, 1, 1000000, &v))
                return drudge_cli_usage("demo", "--count: '%s' is not 1 to 1000000", optarg);
            d.count = (int)v;
            break;
        case 'j':
            if (parse_int(optarg, 1, 64, &v))
                return drudge_cli_usage("demo", "--workers: '%s' is not 1 to 64", optarg);
            d.workers = (int)v;
            break;
        case 'f':
            if (parse_int(optarg, 0, 500, &v))
                return drudge_cli_usage("demo", "--fail-rate: '%s' is not 0 to 500", optarg);
            d.fail_rate = (unsigned)v;
            break;
        case 'h':
            fputs(demo_help, stdout);
            return DRUDGE_EXIT_OK;
        case ':':
            return drudge_cli_usage("demo", "%s needs a value", argv[optind - 1]);
        default:
            return drudge_cli_usage("demo", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return drudge_cli_usage("demo", "unexpected argument '%s'", argv[optind]);

    ssize_t n = readlink("/proc/self/exe", d.self, sizeof d.self - 1);
    if (n <= 0)
        return say_err("cannot find my own binary: %s", strerror(errno));
    d.self[n] = '\0';
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return say_err("cannot make a random token");
    drudge_hex(raw, sizeof raw, d.token);

    int64_t t0 = drudge_mono_us();
    sqlite3 *db = NULL;
    drudge_err err = {0};
    if ((rc = prepare_dir(&d)))
        return rc;
    /* Absolute paths from here on: the summary must say unambiguously where things are. */
    if (!realpath(d.dir, d.abs))
        return say_err("cannot resolve %s: %s", d.dir, strerror(errno));
    d.dir = d.abs;
    snprintf(d.db, sizeof d.db, "%s/drudge.db", d.dir);
    snprintf(d.files, sizeof d.files, "%s/files", d.dir);
    snprintf(d.script, sizeof d.script, "%s/" SCRIPT_NAME ".lua", d.dir);
    snprintf(d.backlog, sizeof d.backlog, "%s/backlog.jsonl", d.dir);
    snprintf(d.html, sizeof d.html, "%s/report.html", d.dir);
    snprintf(d.json, sizeof d.json, "%s/report.json", d.dir);
    snprintf(d.svc_log, sizeof d.svc_log, "%s/service.log", d.dir);
    snprintf(d.work_log, sizeof d.work_log, "%s/work.log", d.dir);
    if (mkdir(d.files, 0700) != 0)
        return say_err("cannot create %s: %s", d.files, strerror(errno));
    if ((rc = write_script(&d)) || (rc = write_backlog(&d, ncases)))
        return rc;
    if ((rc = start_service(&d, ncases)))
        goto cleanup;
    printf("drudge demo: the main job on a demo backlog, in %s/\n"
           "  service   demo case management at %s (a separate process)\n"
           "  backlog   %d emails in %s, %d with a case reference the service does not know\n"
           "  script    %s\n\n",
           d.dir, d.url, d.count, d.backlog, d.unknown, d.script);
    /* What the script reads: the API token as a secret, the service's address as configuration. */
    setenv("DRUDGE_SECRET_CMS_TOKEN", d.token, 1);
    setenv("CMS_URL", d.url, 1);
    const char *enqueue[] = {"enqueue",     d.script,     "--from", d.backlog,
                             "--key-field", "message_id", NULL};
    rc = run_drudge(&d, -1, enqueue);
    if (rc != 0) {
        rc = say_err("`drudge enqueue` ended with exit %d", rc);
        goto cleanup;
    }
    if ((rc = work(&d)))
        goto cleanup;
    if (drudge_db_open(d.db, DRUDGE_DB_NOCREATE, &db, &err) != DRUDGE_OK) {
        rc = say_err("%s", err.msg);
        goto cleanup;
    }
    stop_service(&d);
    if ((rc = service_summary(&d, db)))
        goto cleanup;
    if ((rc = report(&d, db)))
        goto cleanup;
    printf("\n$ drudge audit verify\n");
    const char *verify[] = {"audit", "verify", NULL};
    int vrc = run_drudge(&d, -1, verify);
    if (vrc != 0) {
        say_err("`drudge audit verify` ended with exit %d", vrc);
        rc = vrc == DRUDGE_EXIT_INVALID ? DRUDGE_EXIT_INVALID : DRUDGE_EXIT_ERROR;
    }
    printf("\nDone in %.1f s.\n"
           "  database  %s\n"
           "  report    %s (and %s)\n"
           "  logs      %s, %s\n"
           "Look around:\n"
           "  %s --db %s status\n"
           "  %s --db %s tasks --state failed\n",
           (double)(drudge_mono_us() - t0) / 1e6, d.db, d.html, d.json, d.work_log, d.svc_log,
           d.self, d.db, d.self, d.db);
    int64_t failed_id = first_task(db, "failed");
    if (failed_id)
        printf("  %s --db %s show %" PRId64 "   # an email about an unknown case\n", d.self, d.db,
               failed_id);
    printf("  %s --db %s audit show %" PRId64 "   # every step of a task\n", d.self, d.db,
           first_task(db, "done"));
cleanup:
    unsetenv("DRUDGE_SECRET_CMS_TOKEN");
    stop_service(&d);
    sqlite3_close(db);
    (void)cli;
    return rc;
}

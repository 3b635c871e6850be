/* cmd_queue.c: the queue's commands: enqueue, work, status, tasks, show,
 * retry, cancel, pause, resume, resolve. Each parses its own flags, prints
 * its own --help, and talks to the queue only through queue.h / worker.h. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "runner/queue/bulk.h"
#include "runner/cli/cli.h"
#include "runner/store/db.h"
#include "drudge/host.h"
#include "runner/queue/queue.h"
#include "runner/work/schedule.h"
#include "drudge/util.h"
#include "runner/work/work.h"

/* ---- small parsers and formatters ---- */

/* "250ms", "5s", "2m", "1h", "1d", or plain seconds ("1.5"). */
static int parse_duration(const char *s, int64_t *us)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0)
        return -1;
    double mult = 1e6;
    if (!strcmp(end, "ms"))
        mult = 1e3;
    else if (!strcmp(end, "s") || !*end)
        mult = 1e6;
    else if (!strcmp(end, "m"))
        mult = 60e6;
    else if (!strcmp(end, "h"))
        mult = 3600e6;
    else if (!strcmp(end, "d"))
        mult = 86400e6;
    else
        return -1;
    if (v * mult > 1e15)
        return -1;
    *us = (int64_t)(v * mult);
    return 0;
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_minutes(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || v < 0 || v > 1e6)
        return -1;
    *out = v;
    return 0;
}

/* "12" or "#12". */
static int parse_task_id(const char *s, int64_t *id)
{
    long v;
    if (*s == '#')
        s++;
    if (parse_long(s, 1, LONG_MAX, &v))
        return -1;
    *id = v;
    return 0;
}

/* The OS user running the command, for resolve and pause. */
static const char *os_user(void)
{
    struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name)
        return pw->pw_name;
    const char *u = getenv("USER");
    return u && *u ? u : "unknown";
}

static void fmt_age(int64_t us, char *out, size_t n)
{
    int64_t s = us / 1000000;
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf(out, n, "%llds", (long long)s);
    else if (s < 3600)
        snprintf(out, n, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else if (s < 86400)
        snprintf(out, n, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else
        snprintf(out, n, "%lldd%02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
}

static void json_str_or_null(drudge_buf *b, const char *s)
{
    if (s)
        drudge_buf_json_str(b, s, strlen(s));
    else
        drudge_buf_puts(b, "null");
}

static void json_time_or_null(drudge_buf *b, int64_t t)
{
    if (t) {
        char ts[40];
        drudge_fmt_time(t, ts);
        drudge_buf_printf(b, "\"%s\"", ts);
    } else {
        drudge_buf_puts(b, "null");
    }
}

static int open_db(drudge_cli *cli, const char *cmd, int flags, sqlite3 **db)
{
    drudge_err err = {0};
    if (drudge_db_open(cli->db_path, flags, db, &err))
        return drudge_cli_fail(cmd, &err);
    return DRUDGE_EXIT_OK;
}

/* getopt_long boilerplate shared by the commands. */
#define GETOPT_ERRORS(cmd)                                                                         \
    case ':':                                                                                      \
        return drudge_cli_usage(cmd, "%s needs a value", argv[optind - 1]);                        \
    default:                                                                                       \
        return drudge_cli_usage(cmd, "unknown option '%s'", argv[optind - 1])

/* ---- enqueue ---- */

static const char enqueue_help[] =
    "usage: drudge enqueue SCRIPT [--input JSON|@FILE] [--key REF] [--priority N] [--at TIME]\n"
    "       drudge enqueue SCRIPT --from FILE.csv|FILE.jsonl [--key-field F] [--skip-invalid]\n\n"
    "Queues one task of SCRIPT, or a backlog of tasks from a file. SCRIPT is a script\n"
    "file (checked like `drudge check`) or the name of a script already queued.\n"
    "A task stores the script's manual_minutes, exception_minutes, max_attempts and\n"
    "window as they are now.\n\n"
    "  --input JSON|@FILE   the task input (task.input), inline or from a file\n"
    "  --key REF            unique per script: a second task with the same key is\n"
    "                       reported and skipped (exit 0)\n"
    "  --priority N         higher runs first (default 0, -1000000..1000000)\n"
    "  --at TIME            not before TIME: 2026-11-23T19:00, 2026-11-23, +30m, +2h, +1d\n"
    "  --manual-minutes M   override the script's manual_minutes for these tasks\n"
    "  --exception-minutes M  override the script's exception_minutes\n"
    "  --from FILE          a backlog: CSV with a header row (each row becomes an\n"
    "                       object of strings) or JSONL (one JSON value per line).\n"
    "                       One transaction: a malformed line aborts the whole load\n"
    "                       with FILE:LINE: reason, and nothing is queued\n"
    "  --format csv|jsonl   when the file name does not say (.csv, .jsonl, .ndjson)\n"
    "  --key-field F        take each task's key from field F\n"
    "  --skip-invalid       load the valid lines, list the rejected ones on stderr\n"
    "  --json               print the result as JSON\n\n"
    "exit: 0 queued (also when a key was a duplicate), 2 bad input or usage,\n"
    "      6 the script is invalid, 1 database or file error\n";

typedef struct enqueue_args {
    const char *script, *input_arg, *key, *from, *key_field, *at;
    drudge_bulk_format fmt;
    int priority, skip_invalid, have_manual, have_exception;
    double manual, exception;
    int64_t run_at;
} enqueue_args;

/* Fills spec's script fields from a script file (loaded and checked) or,
 * failing that, from the database's memory of a script of that name. */
static int resolve_script(drudge_cli *cli, const char *script, sqlite3 *db, drudge_task_spec *spec,
                          drudge_err *err)
{
    struct stat st;
    memset(spec, 0, sizeof *spec);
    if (stat(script, &st) == 0 || strchr(script, '/') || strstr(script, ".lua")) {
        drudge_host_opts ho = {.secrets_file = cli->secrets_file};
        drudge_host *h = drudge_host_new(&ho, err);
        const drudge_script_info *info;
        if (!h)
            return -1;
        if (drudge_host_load(h, script, &info, err)) {
            drudge_host_free(h);
            return -1;
        }
        char real[PATH_MAX];
        if (!realpath(script, real))
            snprintf(real, sizeof real, "%s", script);
        spec->script = drudge_xstrdup(info->name);
        spec->script_path = drudge_xstrdup(real);
        spec->max_attempts = info->max_attempts;
        spec->manual_minutes = info->manual_minutes;
        spec->exception_minutes = info->exception_minutes;
        spec->window = info->window ? drudge_xstrdup(info->window) : NULL;
        drudge_host_free(h);
        return 0;
    }
    return drudge_queue_known_script(db, script, spec, err) ? -1 : 0;
}

static void progress(const drudge_bulk *b, int64_t rows, int final)
{
    double f = drudge_bulk_progress(b);
    int width = 30, filled = (int)(f * width);
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
    bar[width] = '\0';
    fprintf(stderr, "\r[%s] %3d%% %lld rows", bar, (int)(f * 100), (long long)rows);
    if (final)
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

static int enqueue_bulk(drudge_cli *cli, sqlite3 *db, drudge_task_spec *spec, enqueue_args *a)
{
    drudge_err err = {0};
    drudge_bulk *b = drudge_bulk_open(a->from, a->fmt, a->key_field, &err);
    drudge_enqueuer *e = NULL;
    drudge_buf rejected = {0};
    int64_t enq = 0, dup = 0, rej = 0, rows = 0;
    int rc = DRUDGE_EXIT_OK, tty = isatty(2) && !cli->quiet, in_txn = 0;
    int64_t t0 = drudge_mono_us(), last_draw = 0;
    if (!b)
        return drudge_cli_fail("enqueue", &err);
    /* A big load touches index pages all over a big backlog: keep them cached. */
    drudge_db_exec(db, "PRAGMA cache_size=-131072", NULL);
    if (!(e = drudge_enqueuer_new(db, &err)) || drudge_db_begin(db, &err)) {
        rc = drudge_cli_fail("enqueue", &err);
        goto cleanup;
    }
    in_txn = 1;
    int64_t now = drudge_now_us();
    for (;;) {
        drudge_bulk_row row;
        int r = drudge_bulk_next(b, &row, &err);
        if (r == 0)
            break;
        if (r < 0) {
            rej++;
            if (!a->skip_invalid) {
                if (tty)
                    progress(b, rows, 1);
                fprintf(stderr, "drudge enqueue: %s\n", err.msg);
                fprintf(stderr, "drudge enqueue: nothing was queued (fix the line, or load the "
                                "rest with --skip-invalid)\n");
                rc = DRUDGE_EXIT_USAGE;
                goto cleanup;
            }
            if (cli->json) {
                if (rejected.len)
                    drudge_buf_puts(&rejected, ",");
                drudge_buf_json_str(&rejected, err.msg, strlen(err.msg));
            } else {
                if (tty)
                    fputs("\r\033[K", stderr);
                fprintf(stderr, "rejected: %s\n", err.msg);
            }
            continue;
        }
        rows++;
        spec->input = row.input;
        spec->key = row.key;
        if (drudge_enqueuer_push(e, spec, now, &err)) {
            rc = drudge_cli_fail("enqueue", &err);
            goto cleanup;
        }
        if (tty && !(rows & 8191)) {
            int64_t t = drudge_mono_us();
            if (t - last_draw > 100000) {
                progress(b, rows, 0);
                last_draw = t;
            }
        }
    }
    if (drudge_enqueuer_flush(e, &err) || drudge_db_commit(db, &err)) {
        rc = drudge_cli_fail("enqueue", &err);
        goto cleanup;
    }
    in_txn = 0;
    drudge_enqueuer_counts(e, &enq, &dup);
    drudge_db_trim_wal(db);
    if (tty && last_draw)
        progress(b, rows, 1);
    double secs = (double)(drudge_mono_us() - t0) / 1e6;
    if (cli->json) {
        printf("{\"script\":");
        drudge_buf name = {0};
        drudge_buf_json_str(&name, spec->script, strlen(spec->script));
        printf("%s,\"enqueued\":%lld,\"duplicates\":%lld,\"rejected\":%lld,\"rejected_lines\":[%s],"
               "\"seconds\":%.3f}\n",
               name.data, (long long)enq, (long long)dup, (long long)rej,
               rejected.data ? rejected.data : "", secs);
        drudge_buf_free(&name);
    } else {
        printf("enqueued %lld task%s of %s from %s: %lld duplicate%s skipped, %lld rejected "
               "(%.2f s)\n",
               (long long)enq, enq == 1 ? "" : "s", spec->script, a->from, (long long)dup,
               dup == 1 ? "" : "s", (long long)rej, secs);
    }
cleanup:
    if (in_txn)
        drudge_db_rollback(db);
    drudge_enqueuer_free(e);
    drudge_bulk_free(b);
    drudge_buf_free(&rejected);
    return rc;
}

int drudge_cmd_enqueue(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"input", required_argument, 0, 'i'},
                                         {"key", required_argument, 0, 'k'},
                                         {"priority", required_argument, 0, 'p'},
                                         {"at", required_argument, 0, 'a'},
                                         {"from", required_argument, 0, 'f'},
                                         {"format", required_argument, 0, 'F'},
                                         {"key-field", required_argument, 0, 'K'},
                                         {"skip-invalid", no_argument, 0, 'S'},
                                         {"manual-minutes", required_argument, 0, 'M'},
                                         {"exception-minutes", required_argument, 0, 'E'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    enqueue_args a = {0};
    drudge_err err = {0};
    drudge_task_spec spec = {0};
    sqlite3 *db = NULL;
    char *input = NULL;
    long v;
    int c, rc = DRUDGE_EXIT_ERROR;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":i:k:p:a:f:F:K:SM:E:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            a.input_arg = optarg;
            break;
        case 'k':
            a.key = optarg;
            break;
        case 'p':
            if (parse_long(optarg, -1000000, 1000000, &v))
                return drudge_cli_usage("enqueue",
                                        "--priority '%s' is not a whole number from -1000000 to "
                                        "1000000",
                                        optarg);
            a.priority = (int)v;
            break;
        case 'a':
            a.at = optarg;
            break;
        case 'f':
            a.from = optarg;
            break;
        case 'F':
            if (!strcmp(optarg, "csv"))
                a.fmt = DRUDGE_BULK_CSV;
            else if (!strcmp(optarg, "jsonl") || !strcmp(optarg, "ndjson"))
                a.fmt = DRUDGE_BULK_JSONL;
            else
                return drudge_cli_usage("enqueue", "--format '%s': use csv or jsonl", optarg);
            break;
        case 'K':
            a.key_field = optarg;
            break;
        case 'S':
            a.skip_invalid = 1;
            break;
        case 'M':
            if (parse_minutes(optarg, &a.manual))
                return drudge_cli_usage("enqueue", "--manual-minutes '%s' is not a number >= 0",
                                        optarg);
            a.have_manual = 1;
            break;
        case 'E':
            if (parse_minutes(optarg, &a.exception))
                return drudge_cli_usage("enqueue", "--exception-minutes '%s' is not a number >= 0",
                                        optarg);
            a.have_exception = 1;
            break;
        case 'h':
            fputs(enqueue_help, stdout);
            return DRUDGE_EXIT_OK;
            GETOPT_ERRORS("enqueue");
        }
    }
    if (optind != argc - 1)
        return drudge_cli_usage("enqueue", optind >= argc ? "which script? give one SCRIPT"
                                                          : "give exactly one SCRIPT");
    a.script = argv[optind];
    if (a.from && (a.input_arg || a.key))
        return drudge_cli_usage("enqueue", "--from takes inputs and keys from the file: drop "
                                           "--input and --key (use --key-field)");
    if (!a.from && (a.key_field || a.skip_invalid || a.fmt))
        return drudge_cli_usage("enqueue",
                                "--key-field, --format and --skip-invalid go with --from");
    if (a.at && drudge_parse_time(a.at, drudge_now_us(), &a.run_at))
        return drudge_cli_usage("enqueue",
                                "--at '%s' is not a time (use 2026-11-23T19:00, 2026-11-23, +30m, "
                                "+2h or +1d)",
                                a.at);
    if (a.key && !*a.key)
        return drudge_cli_usage("enqueue", "--key must not be empty");
    if (a.input_arg && !(input = drudge_cli_read_input(a.input_arg, &err)))
        return drudge_cli_fail("enqueue", &err);

    rc = open_db(cli, "enqueue", 0, &db);
    if (rc)
        goto cleanup;
    if (resolve_script(cli, a.script, db, &spec, &err)) {
        rc = drudge_cli_fail("enqueue", &err);
        goto cleanup;
    }
    if (a.have_manual)
        spec.manual_minutes = a.manual;
    if (a.have_exception)
        spec.exception_minutes = a.exception;
    spec.priority = a.priority;
    spec.run_at = a.run_at;
    if (a.from) {
        rc = enqueue_bulk(cli, db, &spec, &a);
        spec.input = spec.key = NULL; /* the reader's */
        goto cleanup;
    }
    spec.input = input;
    spec.key = a.key;
    int64_t id = 0;
    int dup = 0;
    if (drudge_queue_enqueue(db, &spec, &id, &dup, &err)) {
        spec.input = spec.key = NULL;
        rc = drudge_cli_fail("enqueue", &err);
        goto cleanup;
    }
    if (cli->json) {
        drudge_buf b = {0};
        drudge_buf_printf(&b, "{\"id\":%lld,\"duplicate\":%s,\"script\":", (long long)id,
                          dup ? "true" : "false");
        json_str_or_null(&b, spec.script);
        drudge_buf_puts(&b, ",\"key\":");
        json_str_or_null(&b, a.key);
        drudge_buf_puts(&b, "}\n");
        fputs(b.data, stdout);
        drudge_buf_free(&b);
    } else if (dup) {
        printf("duplicate: task #%lld of %s already has key '%s'; nothing queued\n", (long long)id,
               spec.script, a.key);
    } else if (!cli->quiet) {
        printf("enqueued task #%lld of %s\n", (long long)id, spec.script);
    }
    spec.input = spec.key = NULL;
    rc = DRUDGE_EXIT_OK;
cleanup:
    drudge_task_spec_clear(&spec);
    sqlite3_close(db);
    free(input);
    return rc;
}

/* ---- work ---- */

static const char work_help[] =
    "usage: drudge work [-j N] [--until-empty] [--script NAME]... [options]\n\n"
    "Runs N workers (threads, each with its own Lua state) that claim queued tasks,\n"
    "highest priority first, and record each attempt. SIGINT/SIGTERM drain: no new\n"
    "claims, running tasks finish; a second signal aborts them (their leases expire\n"
    "and they are retried). Several `drudge work` processes may share a database.\n\n"
    "  -j, --jobs N            worker threads (default 1)\n"
    "  --until-empty           exit once nothing is due or running\n"
    "  --script NAME           only tasks of this script (repeat for more)\n"
    "  --lease DUR             lease length, renewed while a task runs (default 60s)\n"
    "  --backoff-base DUR      first retry delay after a system error (default 5s);\n"
    "                          it doubles per attempt, jittered to 50-100%\n"
    "  --backoff-cap DUR       longest retry delay (default 1h)\n"
    "  --durability full|normal  full (default): every outcome is on disk before it\n"
    "                          counts; normal: a power cut may lose the last ones\n"
    "  --prefetch N            most tasks claimed ahead of the workers (default: auto, <= 1024)\n"
    "  --metrics-listen ADDR:PORT  serve Prometheus /metrics while working\n"
    "  --checkpoint-key FILE   sign the audit chain head with this Ed25519 key\n"
    "  --checkpoint-every DUR  how often to sign (default 10m; see drudge audit)\n"
    "  -v, --verbose           a line per finished attempt, and script log lines\n"
    "  --json                  print the summary as JSON\n\n"
    "DUR is 250ms, 5s, 2m, 1h, 1d or a number of seconds.\n"
    "exit: 0 after a drain or --until-empty, 1 on a database error or an abort\n";

static void on_signal(int sig)
{
    (void)sig;
    drudge_work_signal();
}

int drudge_cmd_work(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"jobs", required_argument, 0, 'j'},
                                         {"until-empty", no_argument, 0, 'u'},
                                         {"script", required_argument, 0, 's'},
                                         {"lease", required_argument, 0, 'L'},
                                         {"backoff-base", required_argument, 0, 'B'},
                                         {"backoff-cap", required_argument, 0, 'C'},
                                         {"durability", required_argument, 0, 'D'},
                                         {"prefetch", required_argument, 0, 'P'},
                                         {"metrics-listen", required_argument, 0, 'm'},
                                         {"checkpoint-key", required_argument, 0, 'K'},
                                         {"checkpoint-every", required_argument, 0, 'E'},
                                         {"verbose", no_argument, 0, 'v'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    drudge_work_opts wo = {
        .db_path = cli->db_path, .threads = 1, .secrets_file = cli->secrets_file};
    const char **scripts = drudge_xmalloc((size_t)argc * sizeof *scripts);
    int nscripts = 0, c, rc;
    long v;
    int64_t base_us = 0;
    int base_set = 0;
    optind = 1;
    opterr = 0;
#define WORK_USAGE(...)                                                                            \
    do {                                                                                           \
        free(scripts);                                                                             \
        return drudge_cli_usage("work", __VA_ARGS__);                                              \
    } while (0)
    while ((c = getopt_long(argc, argv, ":j:us:L:B:C:D:P:m:K:E:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            if (parse_long(optarg, 1, 256, &v))
                WORK_USAGE("-j '%s' is not a number of workers from 1 to 256", optarg);
            wo.threads = (int)v;
            break;
        case 'u':
            wo.until_empty = 1;
            break;
        case 's':
            scripts[nscripts++] = optarg;
            break;
        case 'L':
            if (parse_duration(optarg, &wo.lease_us) || wo.lease_us < 1000000)
                WORK_USAGE("--lease '%s' is not a duration of at least 1s", optarg);
            break;
        case 'B':
            if (parse_duration(optarg, &base_us))
                WORK_USAGE("--backoff-base '%s' is not a duration (e.g. 5s)", optarg);
            base_set = 1;
            break;
        case 'C':
            if (parse_duration(optarg, &wo.backoff_cap_us) || !wo.backoff_cap_us)
                WORK_USAGE("--backoff-cap '%s' is not a duration (e.g. 1h)", optarg);
            break;
        case 'D':
            if (!strcmp(optarg, "full"))
                wo.durability = DRUDGE_DURABILITY_FULL;
            else if (!strcmp(optarg, "normal"))
                wo.durability = DRUDGE_DURABILITY_NORMAL;
            else
                WORK_USAGE("--durability '%s': use full or normal", optarg);
            break;
        case 'P':
            if (parse_long(optarg, 1, 100000, &v))
                WORK_USAGE("--prefetch '%s' is not a number from 1 to 100000", optarg);
            wo.prefetch = (int)v;
            break;
        case 'm':
            wo.metrics_listen = optarg;
            break;
        case 'K':
            if (access(optarg, R_OK) != 0)
                WORK_USAGE("--checkpoint-key %s: %s", optarg, strerror(errno));
            wo.checkpoint_key = optarg;
            break;
        case 'E':
            if (parse_duration(optarg, &wo.checkpoint_every_us) || wo.checkpoint_every_us < 1000000)
                WORK_USAGE("--checkpoint-every '%s' is not a duration of at least 1s", optarg);
            break;
        case 'v':
            wo.verbose = 1;
            break;
        case 'h':
            free(scripts);
            fputs(work_help, stdout);
            return DRUDGE_EXIT_OK;
        case ':':
            WORK_USAGE("%s needs a value", argv[optind - 1]);
        default:
            WORK_USAGE("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        WORK_USAGE("unexpected argument '%s'", argv[optind]);
#undef WORK_USAGE
    if (base_set)
        wo.backoff_base_us = base_us ? base_us : -1;
    if (!wo.checkpoint_every_us)
        wo.checkpoint_every_us = 600 * (int64_t)1000000;
    scripts[nscripts] = NULL;
    wo.scripts = nscripts ? scripts : NULL;
    wo.echo_logs = wo.verbose;
    char *files = drudge_cli_files_dir(cli);
    if (!files) {
        free(scripts);
        return DRUDGE_EXIT_ERROR;
    }
    wo.files_dir = files;

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    drudge_err err = {0};
    drudge_work_stats st;
    int64_t t0 = drudge_mono_us();
    drudge_code code = drudge_work_run(&wo, &st, &err);
    double secs = (double)(drudge_mono_us() - t0) / 1e6;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    int64_t finished = st.done + st.failed + st.dead + st.cancelled;
    if (cli->json && (!code || st.claimed)) {
        printf("{\"claimed\":%lld,\"done\":%lld,\"failed\":%lld,\"retried\":%lld,\"dead\":%lld,"
               "\"cancelled\":%lld,\"reaped\":%lld,\"lost_results\":%lld,\"commits\":%lld,"
               "\"aborted\":%s,"
               "\"seconds\":%.3f,\"writer_cpu_seconds\":%.3f}\n",
               (long long)st.claimed, (long long)st.done, (long long)st.failed,
               (long long)st.retried, (long long)st.dead, (long long)st.cancelled,
               (long long)st.reaped, (long long)st.lost_results, (long long)st.commits,
               st.aborted ? "true" : "false", secs, st.writer_cpu_s);
    } else if (!cli->quiet && (!code || st.claimed)) {
        fprintf(stderr,
                "drudge work: %lld done, %lld failed, %lld dead, %lld cancelled, %lld to retry, "
                "%lld reaped in %.2f s (%.0f tasks/s)%s\n",
                (long long)st.done, (long long)st.failed, (long long)st.dead,
                (long long)st.cancelled, (long long)st.retried, (long long)st.reaped, secs,
                secs > 0 ? (double)(finished + st.retried) / secs : 0.0,
                st.aborted ? "; aborted: running attempts will be retried" : "");
    }
    if (code)
        rc = drudge_cli_fail("work", &err);
    else
        rc = st.aborted ? DRUDGE_EXIT_ERROR : DRUDGE_EXIT_OK;
    free(files);
    free(scripts);
    if (st.aborted) {
        /* A worker may still be stuck in a blocking call: leave at once. */
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
    return rc;
}

/* ---- status ---- */

static const char status_help[] =
    "usage: drudge status [--watch] [--json]\n\n"
    "Counts of tasks per script and state, the age of the oldest queued task, the\n"
    "attempts finished in the last minute, and unresolved exceptions (failed or\n"
    "dead tasks nobody has resolved). --watch shows it live.\n";

static void counts_json(drudge_buf *b, const drudge_script_counts *c, int64_t now)
{
    drudge_buf_puts(b, "{");
    if (c->script) {
        drudge_buf_puts(b, "\"script\":");
        drudge_buf_json_str(b, c->script, strlen(c->script));
        drudge_buf_printf(b, ",\"paused\":%s,", c->paused ? "true" : "false");
    }
    for (int i = 0; i < DRUDGE_NSTATES; i++)
        drudge_buf_printf(b, "\"%s\":%lld,", drudge_task_states[i], (long long)c->count[i]);
    drudge_buf_printf(b, "\"unresolved\":%lld,\"finished_last_minute\":%lld,",
                      (long long)c->unresolved, (long long)c->done_last_minute);
    if (c->oldest_queued_us)
        drudge_buf_printf(b, "\"oldest_queued_seconds\":%.3f}",
                          (double)(now - c->oldest_queued_us) / 1e6);
    else
        drudge_buf_puts(b, "\"oldest_queued_seconds\":null}");
}

static void counts_line(const drudge_script_counts *c, const char *name, int64_t now)
{
    char age[32] = "-";
    if (c->oldest_queued_us)
        fmt_age(now - c->oldest_queued_us, age, sizeof age);
    printf("%-24s %8lld %8lld %8lld %8lld %8lld %9lld %8s %8lld %10lld%s\n", name,
           (long long)c->count[0], (long long)c->count[1], (long long)c->count[2],
           (long long)c->count[3], (long long)c->count[4], (long long)c->count[5], age,
           (long long)c->done_last_minute, (long long)c->unresolved, c->paused ? "  (paused)" : "");
}

int drudge_cmd_status(drudge_cli *cli, int argc, char **argv)
{
    int watch = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(status_help, stdout);
            return DRUDGE_EXIT_OK;
        } else if (!strcmp(argv[i], "--watch") || !strcmp(argv[i], "-w")) {
            watch = 1;
        } else {
            return drudge_cli_usage("status", "unknown argument '%s'", argv[i]);
        }
    }
    sqlite3 *db = NULL;
    int rc = open_db(cli, "status", DRUDGE_DB_READONLY, &db);
    if (rc)
        return rc;
    if (watch) {
        rc = drudge_watch_run(cli, db);
        sqlite3_close(db);
        return rc;
    }
    drudge_queue_stats s;
    drudge_err err = {0};
    int64_t now = drudge_now_us();
    if (drudge_queue_status(db, now, &s, &err)) {
        sqlite3_close(db);
        return drudge_cli_fail("status", &err);
    }
    if (cli->json) {
        drudge_buf b = {0};
        drudge_buf_puts(&b, "{\"scripts\":[");
        for (size_t i = 0; i < s.nscripts; i++) {
            if (i)
                drudge_buf_puts(&b, ",");
            counts_json(&b, &s.scripts[i], now);
        }
        drudge_buf_puts(&b, "],\"total\":");
        counts_json(&b, &s.total, now);
        drudge_buf_puts(&b, "}\n");
        fputs(b.data, stdout);
        drudge_buf_free(&b);
    } else if (!s.nscripts) {
        printf("no tasks yet (queue some with drudge enqueue)\n");
    } else {
        printf("%-24s %8s %8s %8s %8s %8s %9s %8s %8s %10s\n", "SCRIPT", "QUEUED", "RUNNING",
               "DONE", "FAILED", "DEAD", "CANCELLED", "OLDEST", "LAST MIN", "UNRESOLVED");
        for (size_t i = 0; i < s.nscripts; i++)
            counts_line(&s.scripts[i], s.scripts[i].script, now);
        if (s.nscripts > 1)
            counts_line(&s.total, "(all)", now);
        if (s.total.unresolved)
            printf("\n%lld unresolved exception%s: see drudge tasks --state failed|dead, then "
                   "drudge retry or drudge resolve TASK --note ...\n",
                   (long long)s.total.unresolved, s.total.unresolved == 1 ? "" : "s");
    }
    drudge_queue_stats_clear(&s);
    sqlite3_close(db);
    return DRUDGE_EXIT_OK;
}

/* ---- tasks ---- */

static const char tasks_help[] =
    "usage: drudge tasks [--state S] [--script NAME] [--limit N] [--json]\n\n"
    "Lists tasks, newest first. S is queued, running, done, failed, dead or cancelled.\n"
    "  --limit N   at most N tasks (default 100)\n";

static void task_json(drudge_buf *b, const drudge_task_row *t)
{
    drudge_buf_printf(b, "{\"id\":%lld,\"script\":", (long long)t->id);
    json_str_or_null(b, t->script);
    drudge_buf_puts(b, ",\"key\":");
    json_str_or_null(b, t->key);
    drudge_buf_puts(b, ",\"state\":");
    json_str_or_null(b, t->state);
    drudge_buf_printf(b, ",\"priority\":%d,\"attempts\":%d,\"spent\":%d,\"max_attempts\":%d,",
                      t->priority, t->attempts, t->spent, t->max_attempts);
    drudge_buf_puts(b, "\"input\":");
    drudge_buf_puts(b, t->input ? t->input : "null");
    drudge_buf_puts(b, ",\"output\":");
    drudge_buf_puts(b, t->output ? t->output : "null");
    drudge_buf_puts(b, ",\"error\":");
    json_str_or_null(b, t->error);
    drudge_buf_puts(b, ",\"error_kind\":");
    json_str_or_null(b, t->error_kind);
    drudge_buf_puts(b, ",\"run_at\":");
    json_time_or_null(b, t->run_at);
    drudge_buf_puts(b, ",\"created_at\":");
    json_time_or_null(b, t->created_at);
    drudge_buf_puts(b, ",\"finished_at\":");
    json_time_or_null(b, t->finished_at);
    drudge_buf_puts(b, ",\"lease_owner\":");
    json_str_or_null(b, t->lease_owner);
    drudge_buf_puts(b, ",\"lease_until\":");
    json_time_or_null(b, t->lease_until);
    drudge_buf_printf(b, ",\"cancel_requested\":%s,\"manual_minutes\":%g,\"exception_minutes\":%g",
                      t->cancel_requested ? "true" : "false", t->manual_minutes,
                      t->exception_minutes);
    drudge_buf_puts(b, ",\"schedule\":");
    json_str_or_null(b, t->schedule);
    drudge_buf_puts(b, ",\"script_path\":");
    json_str_or_null(b, t->script_path);
    drudge_buf_puts(b, ",\"resolved_by\":");
    json_str_or_null(b, t->resolved_by);
    drudge_buf_puts(b, ",\"resolved_at\":");
    json_time_or_null(b, t->resolved_at);
    drudge_buf_puts(b, ",\"resolved_note\":");
    json_str_or_null(b, t->resolved_note);
    drudge_buf_puts(b, "}");
}

static int valid_state(const char *s)
{
    for (int i = 0; i < DRUDGE_NSTATES; i++)
        if (!strcmp(s, drudge_task_states[i]))
            return 1;
    return 0;
}

/* The first line of s, cut to n characters, for tables. */
static void first_line(const char *s, char *out, size_t n)
{
    size_t i = 0;
    for (; s && s[i] && s[i] != '\n' && i + 1 < n; i++)
        out[i] = s[i];
    out[i] = '\0';
    if (s && s[i] && i + 1 >= n && n > 4)
        memcpy(out + n - 4, "...", 4);
}

int drudge_cmd_tasks(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"state", required_argument, 0, 's'},
                                         {"script", required_argument, 0, 'S'},
                                         {"limit", required_argument, 0, 'n'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *state = NULL, *script = NULL;
    long limit = 100;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":s:S:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (!valid_state(optarg))
                return drudge_cli_usage("tasks",
                                        "--state '%s': use queued, running, done, failed, dead or "
                                        "cancelled",
                                        optarg);
            state = optarg;
            break;
        case 'S':
            script = optarg;
            break;
        case 'n':
            if (parse_long(optarg, 1, 1000000, &limit))
                return drudge_cli_usage("tasks", "--limit '%s' is not a number from 1 to 1000000",
                                        optarg);
            break;
        case 'h':
            fputs(tasks_help, stdout);
            return DRUDGE_EXIT_OK;
            GETOPT_ERRORS("tasks");
        }
    }
    if (optind != argc)
        return drudge_cli_usage("tasks", "unexpected argument '%s'", argv[optind]);
    sqlite3 *db = NULL;
    int rc = open_db(cli, "tasks", DRUDGE_DB_READONLY, &db);
    if (rc)
        return rc;
    drudge_task_row *rows = NULL;
    size_t n = 0;
    drudge_err err = {0};
    if (drudge_queue_list(db, state, script, (int)limit, &rows, &n, &err)) {
        sqlite3_close(db);
        return drudge_cli_fail("tasks", &err);
    }
    drudge_buf b = {0};
    if (cli->json) {
        drudge_buf_puts(&b, "[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                drudge_buf_puts(&b, ",\n");
            task_json(&b, &rows[i]);
        }
        drudge_buf_puts(&b, "]\n");
        fputs(b.data, stdout);
    } else {
        printf("%8s  %-9s  %-20s  %-16s  %8s  %4s  %s\n", "ID", "STATE", "SCRIPT", "KEY",
               "ATTEMPTS", "PRIO", "WHEN / ERROR");
        int64_t now = drudge_now_us();
        for (size_t i = 0; i < n; i++) {
            const drudge_task_row *t = &rows[i];
            char when[64], err1[80], key[17];
            first_line(t->key ? t->key : "-", key, sizeof key);
            if (!strcmp(t->state, "queued") && t->run_at > now) {
                char age[32];
                fmt_age(t->run_at - now, age, sizeof age);
                snprintf(when, sizeof when, "in %s", age);
            } else if (t->finished_at) {
                drudge_fmt_time(t->finished_at, when);
                when[19] = '\0';
            } else {
                snprintf(when, sizeof when, "-");
            }
            first_line(t->error, err1, sizeof err1);
            printf("%8lld  %-9s  %-20.20s  %-16s  %4d/%-3d  %4d  %s%s%s\n", (long long)t->id,
                   t->state, t->script, key, t->attempts, t->max_attempts, t->priority, when,
                   t->error ? "  " : "", t->error ? err1 : "");
        }
    }
    drudge_buf_free(&b);
    drudge_task_rows_free(rows, n);
    sqlite3_close(db);
    return DRUDGE_EXIT_OK;
}

/* ---- show ---- */

static const char show_help[] =
    "usage: drudge show TASK [--json]\n\n"
    "One task: its input, output, state, every attempt (start, end, worker,\n"
    "outcome, error) and, if resolved by hand, who did it, when and why.\n";

int drudge_cmd_show(drudge_cli *cli, int argc, char **argv)
{
    int64_t id = 0;
    const char *arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(show_help, stdout);
            return DRUDGE_EXIT_OK;
        }
        if (arg)
            return drudge_cli_usage("show", "give exactly one TASK");
        arg = argv[i];
    }
    if (!arg)
        return drudge_cli_usage("show", "which task? give a TASK id");
    if (parse_task_id(arg, &id))
        return drudge_cli_usage("show", "'%s' is not a task id (a number such as 12)", arg);
    sqlite3 *db = NULL;
    int rc = open_db(cli, "show", DRUDGE_DB_READONLY, &db);
    if (rc)
        return rc;
    drudge_task_row t;
    drudge_attempt_row *att = NULL;
    size_t n = 0;
    drudge_err err = {0};
    if (drudge_queue_get(db, id, &t, &att, &n, &err)) {
        sqlite3_close(db);
        return drudge_cli_fail("show", &err);
    }
    drudge_buf b = {0};
    if (cli->json) {
        task_json(&b, &t);
        b.len--; /* reopen the object */
        drudge_buf_puts(&b, ",\"attempt_list\":[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                drudge_buf_puts(&b, ",");
            drudge_buf_printf(&b, "{\"n\":%d,\"worker\":", att[i].n);
            json_str_or_null(&b, att[i].worker);
            drudge_buf_puts(&b, ",\"started_at\":");
            json_time_or_null(&b, att[i].started_at);
            drudge_buf_puts(&b, ",\"ended_at\":");
            json_time_or_null(&b, att[i].ended_at);
            drudge_buf_printf(&b, ",\"duration_ms\":%.3f,\"outcome\":",
                              (double)(att[i].ended_at - att[i].started_at) / 1000.0);
            json_str_or_null(&b, att[i].outcome);
            drudge_buf_puts(&b, ",\"error\":");
            json_str_or_null(&b, att[i].error);
            drudge_buf_puts(&b, ",\"error_kind\":");
            json_str_or_null(&b, att[i].error_kind);
            drudge_buf_puts(&b, "}");
        }
        drudge_buf_puts(&b, "]}\n");
        fputs(b.data, stdout);
    } else {
        char ts[40];
        printf("task #%lld  %s  (%s)\n", (long long)t.id, t.script, t.state);
        printf("  script file  %s\n", t.script_path);
        if (t.key)
            printf("  key          %s\n", t.key);
        printf("  priority     %d\n", t.priority);
        drudge_fmt_time(t.created_at, ts);
        printf("  created      %s\n", ts);
        if (!strcmp(t.state, "queued")) {
            drudge_fmt_time(t.run_at, ts);
            printf("  not before   %s\n", ts);
        }
        if (t.finished_at) {
            drudge_fmt_time(t.finished_at, ts);
            printf("  finished     %s\n", ts);
        }
        if (t.lease_owner) {
            drudge_fmt_time(t.lease_until, ts);
            printf("  leased to    %s until %s%s\n", t.lease_owner, ts,
                   t.cancel_requested ? " (cancel requested)" : "");
        }
        printf("  attempts     %d (%d of %d counted against max_attempts)\n", t.attempts, t.spent,
               t.max_attempts);
        printf("  minutes      %g manual, %g on an exception\n", t.manual_minutes,
               t.exception_minutes);
        if (t.schedule)
            printf("  schedule     %s\n", t.schedule);
        printf("  input        %s\n", t.input ? t.input : "null");
        if (t.output)
            printf("  output       %s\n", t.output);
        if (t.error)
            printf("  error        %s%s%s%s\n", t.error, t.error_kind ? " (" : "",
                   t.error_kind ? t.error_kind : "", t.error_kind ? ")" : "");
        if (t.resolved_at) {
            drudge_fmt_time(t.resolved_at, ts);
            printf("  resolved     by %s at %s: %s\n", t.resolved_by, ts,
                   t.resolved_note ? t.resolved_note : "");
        }
        if (n)
            printf("\n  %3s  %-27s  %10s  %-9s  %-28s  %s\n", "#", "STARTED", "DURATION", "OUTCOME",
                   "WORKER", "ERROR");
        for (size_t i = 0; i < n; i++) {
            drudge_fmt_time(att[i].started_at, ts);
            printf("  %3d  %-27s  %8.1fms  %-9s  %-28s  %s\n", att[i].n, ts,
                   (double)(att[i].ended_at - att[i].started_at) / 1000.0, att[i].outcome,
                   att[i].worker, att[i].error ? att[i].error : "");
        }
    }
    drudge_buf_free(&b);
    drudge_task_row_clear(&t);
    drudge_attempt_rows_free(att, n);
    sqlite3_close(db);
    return DRUDGE_EXIT_OK;
}

/* ---- retry, cancel, pause, resume, resolve ---- */

static const char retry_help[] =
    "usage: drudge retry TASK | --dead | --failed [--script NAME]\n\n"
    "Queues failed, dead or cancelled tasks again, due now, with their attempt count\n"
    "against max_attempts reset (earlier attempts stay on record). --dead and\n"
    "--failed requeue every task in that state (of one script with --script).\n";

static void print_ok_json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void print_ok_json(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
}

int drudge_cmd_retry(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"dead", no_argument, 0, 'd'},
                                         {"failed", no_argument, 0, 'f'},
                                         {"script", required_argument, 0, 's'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int dead = 0, failed = 0, c;
    const char *script = NULL;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":dfs:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dead = 1;
            break;
        case 'f':
            failed = 1;
            break;
        case 's':
            script = optarg;
            break;
        case 'h':
            fputs(retry_help, stdout);
            return DRUDGE_EXIT_OK;
            GETOPT_ERRORS("retry");
        }
    }
    int64_t id = 0;
    if (optind < argc) {
        if (dead || failed || optind != argc - 1)
            return drudge_cli_usage("retry", "give one TASK, or --dead / --failed");
        if (parse_task_id(argv[optind], &id))
            return drudge_cli_usage("retry", "'%s' is not a task id", argv[optind]);
    } else if (!dead && !failed) {
        return drudge_cli_usage("retry", "which tasks? give a TASK id, --dead or --failed");
    }
    sqlite3 *db = NULL;
    int rc = open_db(cli, "retry", 0, &db);
    if (rc)
        return rc;
    drudge_err err = {0};
    int64_t now = drudge_now_us(), count = 0;
    if (id) {
        if (drudge_queue_retry(db, id, now, &err)) {
            sqlite3_close(db);
            return drudge_cli_fail("retry", &err);
        }
        count = 1;
        if (cli->json)
            print_ok_json("{\"retried\":[%lld]}", (long long)id);
        else if (!cli->quiet)
            printf("task #%lld queued again\n", (long long)id);
    } else {
        for (int k = 0; k < 2; k++) {
            int64_t n = 0;
            if (!(k == 0 ? dead : failed))
                continue;
            if (drudge_queue_retry_all(db, k == 0 ? "dead" : "failed", script, now, &n, &err)) {
                sqlite3_close(db);
                return drudge_cli_fail("retry", &err);
            }
            count += n;
        }
        if (cli->json)
            print_ok_json("{\"retried_count\":%lld}", (long long)count);
        else if (!cli->quiet)
            printf("%lld task%s queued again\n", (long long)count, count == 1 ? "" : "s");
    }
    sqlite3_close(db);
    return DRUDGE_EXIT_OK;
}

static const char cancel_help[] =
    "usage: drudge cancel TASK\n\n"
    "Cancels a queued task at once. A running task is cancelled when its worker\n"
    "next renews its lease, or its `drudge run` next looks (within a second or\n"
    "two): the attempt is stopped and recorded as cancelled. Finished tasks cannot\n"
    "be cancelled.\n";

static int one_task_arg(const char *cmd, const char *help, int argc, char **argv, int64_t *id)
{
    const char *arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(help, stdout);
            return -1;
        }
        if (argv[i][0] == '-' && argv[i][1])
            return drudge_cli_usage(cmd, "unknown option '%s'", argv[i]);
        if (arg)
            return drudge_cli_usage(cmd, "give exactly one TASK");
        arg = argv[i];
    }
    if (!arg)
        return drudge_cli_usage(cmd, "which task? give a TASK id");
    if (parse_task_id(arg, id))
        return drudge_cli_usage(cmd, "'%s' is not a task id (a number such as 12)", arg);
    return 0;
}

int drudge_cmd_cancel(drudge_cli *cli, int argc, char **argv)
{
    int64_t id = 0;
    int rc = one_task_arg("cancel", cancel_help, argc, argv, &id);
    if (rc)
        return rc < 0 ? DRUDGE_EXIT_OK : rc;
    sqlite3 *db = NULL;
    if ((rc = open_db(cli, "cancel", 0, &db)))
        return rc;
    drudge_err err = {0};
    int deferred = 0;
    if (drudge_queue_cancel(db, id, drudge_now_us(), &deferred, &err)) {
        sqlite3_close(db);
        return drudge_cli_fail("cancel", &err);
    }
    if (cli->json)
        print_ok_json("{\"id\":%lld,\"cancelled\":%s,\"requested\":%s}", (long long)id,
                      deferred ? "false" : "true", deferred ? "true" : "false");
    else if (!cli->quiet)
        printf(deferred ? "task #%lld is running: cancel requested; it stops within a second or "
                          "two\n"
                        : "task #%lld cancelled\n",
               (long long)id);
    sqlite3_close(db);
    return DRUDGE_EXIT_OK;
}

static const char pause_help[] =
    "usage: drudge pause SCRIPT\n\n"
    "Stops workers from claiming tasks of SCRIPT (a script name); queued tasks wait\n"
    "and running ones finish. drudge resume SCRIPT lets them go on.\n";
static const char resume_help[] = "usage: drudge resume SCRIPT\n\n"
                                  "Lets workers claim tasks of a paused SCRIPT again.\n";

static int pause_resume(drudge_cli *cli, int argc, char **argv, int pause)
{
    const char *cmd = pause ? "pause" : "resume", *script = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(pause ? pause_help : resume_help, stdout);
            return DRUDGE_EXIT_OK;
        }
        if (argv[i][0] == '-')
            return drudge_cli_usage(cmd, "unknown option '%s'", argv[i]);
        if (script)
            return drudge_cli_usage(cmd, "give exactly one SCRIPT");
        script = argv[i];
    }
    if (!script)
        return drudge_cli_usage(cmd, "which script? give a SCRIPT name");
    sqlite3 *db = NULL;
    int rc = open_db(cli, cmd, 0, &db);
    if (rc)
        return rc;
    drudge_err err = {0};
    int changed = 0;
    drudge_code code =
        pause ? drudge_queue_pause(db, script, os_user(), drudge_now_us(), &changed, &err)
              : drudge_queue_resume(db, script, &changed, &err);
    sqlite3_close(db);
    if (code)
        return drudge_cli_fail(cmd, &err);
    if (cli->json) {
        drudge_buf b = {0};
        drudge_buf_puts(&b, "{\"script\":");
        drudge_buf_json_str(&b, script, strlen(script));
        drudge_buf_printf(&b, ",\"paused\":%s,\"changed\":%s}\n", pause ? "true" : "false",
                          changed ? "true" : "false");
        fputs(b.data, stdout);
        drudge_buf_free(&b);
    } else if (!cli->quiet) {
        printf("%s %s%s\n", script, pause ? "paused" : "resumed",
               changed ? ""
               : pause ? " (it already was)"
                       : " (it was not paused)");
    }
    return DRUDGE_EXIT_OK;
}

int drudge_cmd_pause(drudge_cli *cli, int argc, char **argv)
{
    return pause_resume(cli, argc, argv, 1);
}

int drudge_cmd_resume(drudge_cli *cli, int argc, char **argv)
{
    return pause_resume(cli, argc, argv, 0);
}

static const char resolve_help[] =
    "usage: drudge resolve TASK --note TEXT\n\n"
    "Marks a failed or dead task as handled by hand. Who (the OS user) and when are\n"
    "kept with the note; the task no longer counts as an unresolved exception in\n"
    "drudge status.\n";

int drudge_cmd_resolve(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"note", required_argument, 0, 'n'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *note = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            note = optarg;
            break;
        case 'h':
            fputs(resolve_help, stdout);
            return DRUDGE_EXIT_OK;
            GETOPT_ERRORS("resolve");
        }
    }
    int64_t id;
    if (optind != argc - 1)
        return drudge_cli_usage("resolve", "give exactly one TASK");
    if (parse_task_id(argv[optind], &id))
        return drudge_cli_usage("resolve", "'%s' is not a task id", argv[optind]);
    if (!note || !*note)
        return drudge_cli_usage("resolve", "say what was done: --note TEXT");
    sqlite3 *db = NULL;
    int rc = open_db(cli, "resolve", 0, &db);
    if (rc)
        return rc;
    drudge_err err = {0};
    const char *who = os_user();
    if (drudge_queue_resolve(db, id, who, note, drudge_now_us(), &err)) {
        sqlite3_close(db);
        return drudge_cli_fail("resolve", &err);
    }
    sqlite3_close(db);
    if (cli->json) {
        drudge_buf b = {0};
        drudge_buf_printf(&b, "{\"id\":%lld,\"resolved_by\":", (long long)id);
        drudge_buf_json_str(&b, who, strlen(who));
        drudge_buf_puts(&b, "}\n");
        fputs(b.data, stdout);
        drudge_buf_free(&b);
    } else if (!cli->quiet) {
        printf("task #%lld resolved by %s\n", (long long)id, who);
    }
    return DRUDGE_EXIT_OK;
}

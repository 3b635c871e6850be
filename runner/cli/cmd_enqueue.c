/* cmd_enqueue.c: `drudge enqueue`: one task, or a backlog from a CSV or JSONL
 * file in one transaction. */
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "runner/calendar/deadline.h"
#include "runner/host/version.h"
#include "drudge/host.h"
#include "runner/cli/cli.h"
#include "runner/queue/bulk.h"
#include "runner/queue/queue.h"

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
    "  --deadline TIME      to be done by TIME (same forms as --at); default: the\n"
    "                       script's `deadline` from when the task is due\n"
    "  --manual-minutes M   override the script's manual_minutes for these tasks\n"
    "  --exception-minutes M  override the script's exception_minutes\n"
    "  --from FILE          a backlog: CSV with a header row (each row becomes an\n"
    "                       object of strings) or JSONL (one JSON value per line).\n"
    "                       One transaction: a malformed line aborts the whole load\n"
    "                       with FILE:LINE: reason, and nothing is queued\n"
    "  --format csv|jsonl   when the file name does not say (.csv, .jsonl, .ndjson)\n"
    "  --key-field F        take each task's key from field F\n"
    "  --deadline-field F   take each task's deadline from field F (a time as\n"
    "                       --deadline takes it; an empty value: the default)\n"
    "  --key-hash           each task's key is sha256:HEX of its row's content, so\n"
    "                       loading the same file again queues nothing new (rows\n"
    "                       with the same content are one task)\n"
    "  --skip-invalid       load the valid lines, list the rejected ones on stderr\n"
    "  --json               print the result as JSON\n\n"
    "exit: 0 queued (also when a key was a duplicate), 2 bad input or usage,\n"
    "      6 the script is invalid, 1 database or file error\n";

typedef struct enqueue_args {
    const char *script, *input_arg, *key, *from, *key_field, *at, *deadline_arg, *deadline_field;
    drudge_bulk_format fmt;
    int priority, skip_invalid, have_manual, have_exception, key_hash;
    double manual, exception;
    int64_t run_at, deadline;
} enqueue_args;

/* ---- the script ---- */

/* Fills spec's script fields from a script file (loaded and checked). */
static drudge_code script_from_file(drudge_cli *cli, const char *script, drudge_task_spec *spec,
                                    drudge_err *err)
{
    drudge_host_opts ho = {.secrets_file = cli->secrets_file};
    const drudge_script_info *info;
    drudge_host *h = drudge_host_new(&ho, err);
    if (!h)
        return err->code;
    drudge_code rc = drudge_host_load(h, script, &info, err);
    if (!rc) {
        char real[PATH_MAX];
        if (!realpath(script, real))
            snprintf(real, sizeof real, "%s", script);
        spec->script = drudge_xstrdup(info->name);
        spec->script_path = drudge_xstrdup(real);
        spec->max_attempts = info->max_attempts;
        spec->manual_minutes = info->manual_minutes;
        spec->exception_minutes = info->exception_minutes;
        spec->window = info->window ? drudge_xstrdup(info->window) : NULL;
        spec->deadline_rule = info->deadline ? drudge_xstrdup(info->deadline) : NULL;
    }
    drudge_host_free(h);
    return rc;
}

drudge_code drudge_cli_resolve_script(drudge_cli *cli, const char *script, drudge_store *s,
                                      drudge_task_spec *spec, drudge_err *err)
{
    struct stat st;
    memset(spec, 0, sizeof *spec);
    if (stat(script, &st) == 0 || strchr(script, '/') || strstr(script, ".lua"))
        return script_from_file(cli, script, spec, err);
    return drudge_store_known_script(s, script, spec, err);
}

/* ---- a backlog ---- */

/* Rows handed to the store at a time: a call is a few round trips to a
 * PostgreSQL server, which on a busy machine cost more than the rows
 * (256 a call loaded 1,300 rows/s there at a load average of 19). The
 * load is one transaction whatever the batch. */
#define BULK_BATCH 4096

/* Keys seen in this file, to name the lines that repeat an earlier one: an
 * open-addressing table of the keys' 64-bit FNV-1a hashes and the line
 * each was first on (a hash shared by two different keys, about one in
 * 10^19 per pair, would name a line that is not a duplicate; what is
 * queued is the database's decision, by the keys themselves). */
typedef struct seen_keys {
    uint64_t *hash; /* 0: empty */
    int *line;
    size_t cap, n;
} seen_keys;

static uint64_t key_hash64(const char *k)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ULL;
    return h ? h : 1;
}

/* The line key was first seen on, or 0 (and it is noted as on line). */
static int seen_before(seen_keys *s, const char *key, int line)
{
    if (s->n * 2 >= s->cap) {
        seen_keys t = {.cap = s->cap ? s->cap * 2 : 1024};
        t.hash = calloc(t.cap, sizeof *t.hash);
        t.line = calloc(t.cap, sizeof *t.line);
        if (!t.hash || !t.line) {
            free(t.hash);
            free(t.line);
            return 0; /* out of memory: lines go unnamed, the counts stay right */
        }
        for (size_t i = 0; i < s->cap; i++)
            if (s->hash[i]) {
                size_t j = s->hash[i] & (t.cap - 1);
                while (t.hash[j])
                    j = (j + 1) & (t.cap - 1);
                t.hash[j] = s->hash[i];
                t.line[j] = s->line[i];
            }
        free(s->hash);
        free(s->line);
        t.n = s->n;
        *s = t;
    }
    uint64_t h = key_hash64(key);
    size_t j = h & (s->cap - 1);
    while (s->hash[j]) {
        if (s->hash[j] == h)
            return s->line[j];
        j = (j + 1) & (s->cap - 1);
    }
    s->hash[j] = h;
    s->line[j] = line;
    s->n++;
    return 0;
}

/* The first DUP_LINES duplicate lines within a file are named. */
#define DUP_LINES 5

/* A row's content with the whitespace outside strings left out: the text
 * --key-hash hashes. CSV rows are objects of strings in header order
 * already; a JSONL row hashes the same however it is spaced (but not if
 * its members are in another order). */
static void content_of(const char *json, drudge_buf *out)
{
    int in_str = 0;
    for (const char *p = json; *p; p++) {
        if (in_str) {
            if (*p == '\\' && p[1]) {
                drudge_buf_add(out, p, 2);
                p++;
                continue;
            }
            in_str = *p != '"';
        } else if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            continue;
        } else if (*p == '"') {
            in_str = 1;
        }
        drudge_buf_add(out, p, 1);
    }
}

typedef struct bulk_load {
    drudge_cli *cli;
    enqueue_args *a;
    drudge_store *s;
    drudge_task_spec *spec; /* every row's script, priority, ... */
    drudge_bulk *b;
    drudge_task_spec *rows; /* BULK_BATCH */
    int nrows;
    int64_t now, added, dups, rejected, read;
    drudge_buf rejected_json;
    seen_keys seen;
    int64_t dups_in_file;
    int dup_line[DUP_LINES], dup_first[DUP_LINES];
    int tty;
    int64_t t0, last_draw;
} bulk_load;

static void progress(const bulk_load *l, int final)
{
    double f = drudge_bulk_progress(l->b);
    int width = 30, filled = (int)(f * width);
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
    bar[width] = '\0';
    fprintf(stderr, "\r[%s] %3d%% %lld rows", bar, (int)(f * 100), (long long)l->read);
    if (final)
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

static void clear_rows(bulk_load *l)
{
    for (int i = 0; i < l->nrows; i++) {
        free((char *)l->rows[i].key);
        free((char *)l->rows[i].input);
    }
    l->nrows = 0;
}

static drudge_code flush_rows(bulk_load *l, drudge_err *err)
{
    int64_t added = 0, dups = 0;
    drudge_code rc = drudge_store_enqueue(l->s, l->rows, (size_t)l->nrows, l->now, NULL, NULL,
                                          &added, &dups, err);
    l->added += added;
    l->dups += dups;
    clear_rows(l);
    return rc;
}

static drudge_code add_row(bulk_load *l, const drudge_bulk_row *row, drudge_err *err)
{
    drudge_task_spec *spec = &l->rows[l->nrows++];
    *spec = *l->spec;
    spec->input = row->input ? drudge_xstrdup(row->input) : NULL;
    spec->key = row->key ? drudge_xstrdup(row->key) : NULL;
    if (row->deadline)
        spec->deadline = row->deadline;
    if (l->a->key_hash) {
        drudge_buf c = {0};
        char hex[65];
        content_of(row->input ? row->input : "null", &c);
        drudge_sha256_hex(c.data ? c.data : "", c.len, hex);
        drudge_buf_free(&c);
        size_t n = strlen("sha256:") + 65;
        char *key = drudge_xmalloc(n);
        snprintf(key, n, "sha256:%s", hex);
        spec->key = key;
    }
    int first = spec->key ? seen_before(&l->seen, spec->key, row->line) : 0;
    if (first) {
        if (l->dups_in_file < DUP_LINES) {
            l->dup_line[l->dups_in_file] = row->line;
            l->dup_first[l->dups_in_file] = first;
        }
        l->dups_in_file++;
    }
    l->read++;
    if (l->tty && !(l->read & 8191)) {
        int64_t t = drudge_mono_us();
        if (t - l->last_draw > 100000) {
            progress(l, 0);
            l->last_draw = t;
        }
    }
    return l->nrows == BULK_BATCH ? flush_rows(l, err) : DRUDGE_OK;
}

/* A malformed record: with --skip-invalid it is listed and skipped; else the
 * load stops (returns the exit code). */
static int reject(bulk_load *l, const drudge_err *err)
{
    l->rejected++;
    if (!l->a->skip_invalid) {
        if (l->tty)
            progress(l, 1);
        fprintf(stderr, "drudge enqueue: %s\n", err->msg);
        fprintf(stderr, "drudge enqueue: nothing was queued (fix the line, or load the rest with "
                        "--skip-invalid)\n");
        return DRUDGE_EXIT_USAGE;
    }
    if (l->cli->json) {
        if (l->rejected_json.len)
            drudge_buf_puts(&l->rejected_json, ",");
        drudge_buf_json_str(&l->rejected_json, err->msg, strlen(err->msg));
    } else {
        if (l->tty)
            fputs("\r\033[K", stderr);
        fprintf(stderr, "rejected: %s\n", err->msg);
    }
    return DRUDGE_EXIT_OK;
}

/* Reads every record into the open transaction. */
static int read_rows(bulk_load *l)
{
    drudge_err err = {0};
    for (;;) {
        drudge_bulk_row row;
        int r = drudge_bulk_next(l->b, &row, &err);
        if (r == 0)
            break;
        if (r < 0) {
            int rc = reject(l, &err);
            if (rc)
                return rc;
            continue;
        }
        if (add_row(l, &row, &err))
            return drudge_cli_fail("enqueue", &err);
    }
    if (flush_rows(l, &err))
        return drudge_cli_fail("enqueue", &err);
    return DRUDGE_EXIT_OK;
}

/* "line 7 repeats line 3, line 9 repeats line 3 and 4 more": the
 * duplicates within the file, first few named. */
static void dup_lines_text(const bulk_load *l, drudge_buf *b)
{
    int64_t shown = l->dups_in_file < DUP_LINES ? l->dups_in_file : DUP_LINES;
    for (int64_t i = 0; i < shown; i++)
        drudge_buf_printf(b, "%sline %d repeats line %d", i ? ", " : "", l->dup_line[i],
                          l->dup_first[i]);
    if (l->dups_in_file > shown)
        drudge_buf_printf(b, " and %lld more", (long long)(l->dups_in_file - shown));
}

static void print_bulk(const bulk_load *l)
{
    double secs = (double)(drudge_mono_us() - l->t0) / 1e6;
    int64_t shown = l->dups_in_file < DUP_LINES ? l->dups_in_file : DUP_LINES;
    if (l->cli->json) {
        drudge_buf b = {0};
        drudge_buf_puts(&b, "{\"script\":");
        drudge_buf_json_str(&b, l->spec->script, strlen(l->spec->script));
        drudge_buf_printf(&b,
                          ",\"enqueued\":%lld,\"duplicates\":%lld,\"duplicates_in_file\":%lld,"
                          "\"duplicate_lines\":[",
                          (long long)l->added, (long long)l->dups, (long long)l->dups_in_file);
        for (int64_t i = 0; i < shown; i++)
            drudge_buf_printf(&b, "%s{\"line\":%d,\"repeats\":%d}", i ? "," : "", l->dup_line[i],
                              l->dup_first[i]);
        drudge_buf_printf(&b, "],\"rejected\":%lld,\"rejected_lines\":[%s],\"seconds\":%.3f}\n",
                          (long long)l->rejected,
                          l->rejected_json.data ? l->rejected_json.data : "", secs);
        fputs(b.data, stdout);
        drudge_buf_free(&b);
        return;
    }
    printf("enqueued %lld task%s of %s from %s: %lld duplicate%s skipped, %lld rejected "
           "(%.2f s)\n",
           (long long)l->added, l->added == 1 ? "" : "s", l->spec->script, l->a->from,
           (long long)l->dups, l->dups == 1 ? "" : "s", (long long)l->rejected, secs);
    if (l->dups_in_file) {
        drudge_buf b = {0};
        dup_lines_text(l, &b);
        printf("%lld duplicate key%s within %s: %s\n", (long long)l->dups_in_file,
               l->dups_in_file == 1 ? "" : "s", l->a->from, b.data);
        drudge_buf_free(&b);
    }
}

static int enqueue_bulk(drudge_cli *cli, drudge_store *s, drudge_task_spec *spec, enqueue_args *a)
{
    drudge_err err = {0};
    bulk_load l = {.cli = cli,
                   .a = a,
                   .s = s,
                   .spec = spec,
                   .tty = isatty(2) && !cli->quiet,
                   .t0 = drudge_mono_us()};
    l.b = drudge_bulk_open(a->from, a->fmt, a->key_field, &err);
    if (!l.b)
        return drudge_cli_fail("enqueue", &err);
    if (a->deadline_field &&
        drudge_bulk_deadline_field(l.b, a->deadline_field, drudge_now_us(), &err)) {
        drudge_bulk_free(l.b);
        return drudge_cli_fail("enqueue", &err);
    }
    l.rows = drudge_xmalloc(BULK_BATCH * sizeof *l.rows);
    /* Rows without a key are queued again by every load of the file. A
     * person at a terminal is told before it happens; a script that loads
     * files it never repeats is not nagged. */
    if (!a->key_field && !a->key_hash && isatty(2) && !cli->quiet)
        fprintf(stderr,
                "drudge enqueue: warning: the rows of %s have no key, so loading it "
                "again queues them all again; --key-field F takes keys from a field, "
                "--key-hash from each row's content\n",
                a->from);
    int rc = DRUDGE_EXIT_OK;
    if (drudge_store_begin(s, DRUDGE_TX_WRITE, &err)) {
        rc = drudge_cli_fail("enqueue", &err);
        goto cleanup;
    }
    l.now = drudge_now_us();
    rc = read_rows(&l);
    if (!rc && drudge_store_commit(s, &err))
        rc = drudge_cli_fail("enqueue", &err);
    if (rc) {
        drudge_store_rollback(s);
        goto cleanup;
    }
    drudge_store_trim(s);
    if (l.tty && l.last_draw)
        progress(&l, 1);
    print_bulk(&l);
cleanup:
    clear_rows(&l);
    free(l.rows);
    free(l.seen.hash);
    free(l.seen.line);
    drudge_bulk_free(l.b);
    drudge_buf_free(&l.rejected_json);
    return rc;
}

/* ---- one task ---- */

static void print_one(drudge_cli *cli, const drudge_task_spec *spec, int64_t id, int dup)
{
    if (cli->json) {
        drudge_buf b = {0};
        drudge_buf_printf(&b, "{\"id\":%lld,\"duplicate\":%s,\"script\":", (long long)id,
                          dup ? "true" : "false");
        drudge_cli_json_str(&b, spec->script);
        drudge_buf_puts(&b, ",\"key\":");
        drudge_cli_json_str(&b, spec->key);
        drudge_buf_puts(&b, "}\n");
        fputs(b.data, stdout);
        drudge_buf_free(&b);
    } else if (dup) {
        printf("duplicate: task #%lld of %s already has key '%s'; nothing queued\n", (long long)id,
               spec->script, spec->key);
    } else if (!cli->quiet) {
        printf("enqueued task #%lld of %s\n", (long long)id, spec->script);
    }
}

static int enqueue_one(drudge_cli *cli, drudge_store *s, drudge_task_spec *spec,
                       const enqueue_args *a, const char *input)
{
    drudge_err err = {0};
    int64_t id = 0;
    int dup = 0;
    spec->input = input;
    spec->key = a->key;
    /* The task's commit is made durable by the fold of the WAL before the
     * command says it is queued, as drudge run's outcome (runner/work/run.c):
     * one fsync fewer than a commit synced on its own, 5 to 4. */
    drudge_code rc = drudge_store_set_durability(s, DRUDGE_DURABILITY_AT_SYNC, &err);
    if (!rc)
        rc = drudge_queue_enqueue(s, spec, &id, &dup, &err);
    drudge_code src = drudge_store_sync(s, rc ? NULL : &err);
    rc = rc ? rc : src;
    if (!rc)
        print_one(cli, spec, id, dup);
    spec->input = spec->key = NULL; /* not spec's to free */
    return rc ? drudge_cli_fail("enqueue", &err) : DRUDGE_EXIT_OK;
}

/* ---- the command ---- */

/* Parses one option into a; returns an exit code, or -1 to go on. */
static int enqueue_opt(int c, enqueue_args *a, char **argv)
{
    long v;
    switch (c) {
    case 'i':
        a->input_arg = optarg;
        return -1;
    case 'k':
        a->key = optarg;
        return -1;
    case 'p':
        if (drudge_cli_parse_long(optarg, -1000000, 1000000, &v))
            return drudge_cli_usage("enqueue",
                                    "--priority '%s' is not a whole number from -1000000 to "
                                    "1000000",
                                    optarg);
        a->priority = (int)v;
        return -1;
    case 'a':
        a->at = optarg;
        return -1;
    case 'f':
        a->from = optarg;
        return -1;
    case 'd':
        a->deadline_arg = optarg;
        return -1;
    case 'D':
        a->deadline_field = optarg;
        return -1;
    case 'F':
        if (!strcmp(optarg, "csv"))
            a->fmt = DRUDGE_BULK_CSV;
        else if (!strcmp(optarg, "jsonl") || !strcmp(optarg, "ndjson"))
            a->fmt = DRUDGE_BULK_JSONL;
        else
            return drudge_cli_usage("enqueue", "--format '%s': use csv or jsonl", optarg);
        return -1;
    case 'K':
        a->key_field = optarg;
        return -1;
    case 'S':
        a->skip_invalid = 1;
        return -1;
    case 'H':
        a->key_hash = 1;
        return -1;
    case 'M':
        if (drudge_cli_parse_minutes(optarg, &a->manual))
            return drudge_cli_usage("enqueue", "--manual-minutes '%s' is not a number >= 0",
                                    optarg);
        a->have_manual = 1;
        return -1;
    case 'E':
        if (drudge_cli_parse_minutes(optarg, &a->exception))
            return drudge_cli_usage("enqueue", "--exception-minutes '%s' is not a number >= 0",
                                    optarg);
        a->have_exception = 1;
        return -1;
    case 'h':
        fputs(enqueue_help, stdout);
        return DRUDGE_EXIT_OK;
        DRUDGE_CLI_GETOPT_ERRORS("enqueue");
    }
}

/* Parses the command line into a; returns an exit code, or -1 to go on. */
static int enqueue_args_parse(int argc, char **argv, enqueue_args *a)
{
    static const struct option opts[] = {{"input", required_argument, 0, 'i'},
                                         {"key", required_argument, 0, 'k'},
                                         {"priority", required_argument, 0, 'p'},
                                         {"at", required_argument, 0, 'a'},
                                         {"from", required_argument, 0, 'f'},
                                         {"deadline", required_argument, 0, 'd'},
                                         {"deadline-field", required_argument, 0, 'D'},
                                         {"format", required_argument, 0, 'F'},
                                         {"key-field", required_argument, 0, 'K'},
                                         {"skip-invalid", no_argument, 0, 'S'},
                                         {"key-hash", no_argument, 0, 'H'},
                                         {"manual-minutes", required_argument, 0, 'M'},
                                         {"exception-minutes", required_argument, 0, 'E'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    for (;;) {
        c = getopt_long(argc, argv, ":i:k:p:a:f:F:K:SHM:E:d:D:h", opts, NULL);
        if (c == -1)
            break;
        int rc = enqueue_opt(c, a, argv);
        if (rc >= 0)
            return rc;
    }
    if (optind != argc - 1)
        return drudge_cli_usage("enqueue", optind >= argc ? "which script? give one SCRIPT"
                                                          : "give exactly one SCRIPT");
    a->script = argv[optind];
    if (a->from && (a->input_arg || a->key))
        return drudge_cli_usage("enqueue", "--from takes inputs and keys from the file: drop "
                                           "--input and --key (use --key-field)");
    if (!a->from && (a->key_field || a->skip_invalid || a->fmt || a->key_hash))
        return drudge_cli_usage("enqueue", "--key-field, --key-hash, --format and "
                                           "--skip-invalid go with --from");
    if (!a->from && a->deadline_field)
        return drudge_cli_usage("enqueue", "--deadline-field goes with --from");
    if (a->key_field && a->key_hash)
        return drudge_cli_usage("enqueue", "--key-field or --key-hash, not both");
    int rc = a->at ? drudge_cli_parse_time("enqueue", "--at", a->at, drudge_now_us(), 0, &a->run_at)
                   : -1;
    if (rc >= 0)
        return rc;
    rc = a->deadline_arg ? drudge_cli_parse_time("enqueue", "--deadline", a->deadline_arg,
                                                 drudge_now_us(), DRUDGE_TIME_PAST, &a->deadline)
                         : -1;
    if (rc >= 0)
        return rc;
    if (a->key && !*a->key)
        return drudge_cli_usage("enqueue", "--key must not be empty");
    return -1;
}

int drudge_cmd_enqueue(drudge_cli *cli, int argc, char **argv)
{
    enqueue_args a = {0};
    drudge_err err = {0};
    drudge_task_spec spec = {0};
    char *input = NULL;
    int rc = enqueue_args_parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (a.input_arg) {
        input = drudge_cli_read_input(a.input_arg, &err);
        if (!input)
            return drudge_cli_fail("enqueue", &err);
    }
    drudge_store *s = drudge_cli_store(cli, "enqueue", a.from ? DRUDGE_STORE_BULK : 0, &rc);
    if (!s)
        goto cleanup;
    if (drudge_cli_resolve_script(cli, a.script, s, &spec, &err)) {
        rc = drudge_cli_fail("enqueue", &err);
        goto cleanup;
    }
    /* The code the tasks are enqueued with, stored once by its hash. A
     * script known by name whose file is gone is still enqueued (its
     * worker reports the error on the task), naming no version. */
    char sha[65];
    drudge_code vc = drudge_script_version_record(s, spec.script_path, spec.script, sha, &err);
    if (vc && vc != DRUDGE_ENOTFOUND) {
        rc = drudge_cli_fail("enqueue", &err);
        goto cleanup;
    }
    spec.script_sha256 = vc ? NULL : sha;
    if (a.have_manual)
        spec.manual_minutes = a.manual;
    if (a.have_exception)
        spec.exception_minutes = a.exception;
    spec.priority = a.priority;
    spec.run_at = a.run_at;
    /* --deadline, else the script's rule counted from when the task is due. */
    spec.deadline = a.deadline ? a.deadline
                               : drudge_deadline_after(spec.deadline_rule,
                                                       a.run_at ? a.run_at : drudge_now_us());
    rc = a.from ? enqueue_bulk(cli, s, &spec, &a) : enqueue_one(cli, s, &spec, &a, input);
cleanup:
    drudge_task_spec_clear(&spec);
    drudge_store_close(s);
    free(input);
    return rc;
}

/* cmd_run.c: `drudge run` (one task now, in the foreground) and `drudge check`. */
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "logs/audit/audit.h"
#include "runner/cli/cli.h"
#include "runner/store/db.h"
#include "drudge/host.h"
#include "runner/queue/queue.h"
#include "drudge/util.h"

static const char run_help[] =
    "usage: drudge run SCRIPT [--input JSON|@FILE] [--key REF]\n\n"
    "Runs one task of SCRIPT now, in the foreground, and records it in the database\n"
    "like a queued task (its attempt, steps and outcome). Prints run()'s return value\n"
    "as JSON. A system error is not retried here: the task ends dead.\n\n"
    "  --input JSON|@FILE  the task input (task.input), inline or from a file\n"
    "  --key REF           the task key (unique per script)\n"
    "  -q, --quiet         do not echo log lines to stderr\n\n"
    "`drudge cancel` of the task stops it within about a second (state cancelled).\n\n"
    "exit: 0 done, 3 failed (fail), 4 system error/timeout/memory or cancelled,\n"
    "      5 retry_later, 6 the script is invalid, 1 database or file error, 2 usage\n";

static int outcome_exit(drudge_outcome o)
{
    switch (o) {
    case DRUDGE_DONE:
        return DRUDGE_EXIT_OK;
    case DRUDGE_FAILED:
        return DRUDGE_EXIT_FAILED;
    case DRUDGE_RETRY_LATER:
        return DRUDGE_EXIT_RETRY;
    default:
        return DRUDGE_EXIT_SYSERR;
    }
}

/* `drudge cancel` of a running task sets cancel_requested on its `running`
 * row; a worker reads that when it renews its lease, and a run reads it
 * here, once a second, on a connection of its own (the main thread's is the
 * script's, for its early flushes). */
typedef struct cancel_watch {
    const char *db_path;
    int64_t task_id;
    drudge_host *host;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, stop;
    int requested; /* the run was cancelled (guarded by mu) */
} cancel_watch;

static void *cancel_watch_main(void *arg)
{
    cancel_watch *w = arg;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    drudge_err err = {0};
    if (drudge_db_open(w->db_path, DRUDGE_DB_READONLY, &db, &err) != DRUDGE_OK ||
        sqlite3_prepare_v2(db, "SELECT cancel_requested FROM running WHERE task_id = ?", -1, &st,
                           NULL) != SQLITE_OK) {
        fprintf(stderr, "drudge run: cannot watch for drudge cancel: %s\n",
                db ? sqlite3_errmsg(db) : err.msg);
        goto cleanup;
    }
    sqlite3_bind_int64(st, 1, w->task_id);
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        if (w->stop)
            break;
        pthread_mutex_unlock(&w->mu);
        int requested = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0);
        sqlite3_reset(st);
        pthread_mutex_lock(&w->mu);
        if (requested) {
            w->requested = 1;
            drudge_host_cancel(w->host);
            break;
        }
    }
    pthread_mutex_unlock(&w->mu);
cleanup:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return NULL;
}

static void cancel_watch_start(cancel_watch *w)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->started = pthread_create(&w->th, NULL, cancel_watch_main, w) == 0;
    if (!w->started)
        fprintf(stderr, "drudge run: cannot watch for drudge cancel: no thread\n");
}

/* Ends the watch; returns whether the run was cancelled. */
static int cancel_watch_stop(cancel_watch *w)
{
    if (!w->started)
        return 0;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    w->started = 0;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    return w->requested;
}

static void print_result_json(int64_t id, const char *state, const drudge_result *res)
{
    drudge_buf b = {0};
    drudge_buf_printf(&b, "{\"task\":%lld,\"state\":\"%s\",\"outcome\":\"%s\",\"output\":%s",
                      (long long)id, state, drudge_outcome_name(res->outcome),
                      res->output ? res->output : "null");
    if (res->error) {
        drudge_buf_puts(&b, ",\"error\":");
        drudge_buf_json_str(&b, res->error, strlen(res->error));
    }
    if (res->traceback) {
        drudge_buf_puts(&b, ",\"traceback\":");
        drudge_buf_json_str(&b, res->traceback, strlen(res->traceback));
    }
    drudge_buf_printf(&b, ",\"duration_ms\":%.3f}\n", (double)res->duration_us / 1000.0);
    fputs(b.data, stdout);
    drudge_buf_free(&b);
}

/* Early flush, as `drudge work` does it (worker.c): about once a second a
 * long run's closed steps go on the audit chain in a transaction of their
 * own, so a run killed midway (kill -9, power) leaves on the chain what it
 * had done. The hook runs in the script's thread between two steps and
 * never waits for the database: when another process is writing, the steps
 * wait for the next try, at the latest for the final commit. */
typedef struct run_flush {
    sqlite3 *db;
    int64_t next_us;
    drudge_rec **pending; /* taken from the run's recorder, not yet committed */
    size_t npending;
} run_flush;

/* Appends the pending steps in one transaction; wait: through the busy
 * timeout, or not at all. On failure they stay pending, ready to go again. */
static drudge_code flush_pending(run_flush *f, int wait, drudge_err *err)
{
    if (!f->npending)
        return DRUDGE_OK;
    drudge_code rc = wait ? drudge_db_begin(f->db, err) : drudge_db_try_begin(f->db, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < f->npending && !rc; i++)
        rc = drudge_audit_append(f->db, f->pending[i], err);
    if (!rc)
        rc = drudge_db_commit(f->db, err);
    if (rc) {
        drudge_db_rollback(f->db);
        for (size_t i = 0; i < f->npending; i++)
            drudge_rec_mark_flushed(f->pending[i], 0);
        return rc;
    }
    for (size_t i = 0; i < f->npending; i++)
        drudge_rec_free(f->pending[i]);
    f->npending = 0;
    return DRUDGE_OK;
}

static void run_on_end(drudge_rec *rec, void *ud)
{
    run_flush *f = ud;
    int64_t due = f->next_us;
    drudge_rec *part = drudge_rec_take_due(rec, &f->next_us);
    if (f->next_us == due)
        return; /* not yet: steps that failed to go wait for the next turn too */
    if (part) {
        f->pending = drudge_xrealloc(f->pending, (f->npending + 1) * sizeof *f->pending);
        f->pending[f->npending++] = part;
    }
    drudge_err err = {0};
    flush_pending(f, 0, &err); /* busy or failing: tried again later */
}

int drudge_cmd_run(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"input", required_argument, 0, 'i'},
                                         {"key", required_argument, 0, 'k'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *input_arg = NULL, *key = NULL;
    char *input = NULL, *files = NULL;
    sqlite3 *db = NULL;
    drudge_host *host = NULL;
    drudge_err err = {0};
    drudge_result res = {0};
    run_flush flush = {0};
    cancel_watch watch = {0};
    int rc = DRUDGE_EXIT_ERROR, c, cancelled = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":i:k:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            input_arg = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'h':
            fputs(run_help, stdout);
            return DRUDGE_EXIT_OK;
        case ':':
            return drudge_cli_usage("run", "%s needs a value", argv[optind - 1]);
        default:
            return drudge_cli_usage("run", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return drudge_cli_usage("run", optind >= argc ? "which script? give one SCRIPT"
                                                      : "give exactly one SCRIPT");
    const char *script = argv[optind];
    if (input_arg && !(input = drudge_cli_read_input(input_arg, &err)))
        return drudge_cli_fail("run", &err);
    if (!(files = drudge_cli_files_dir(cli)))
        goto cleanup;
    drudge_host_opts hopts = {
        .files_dir = files, .secrets_file = cli->secrets_file, .echo_logs = !cli->quiet};
    if (!(host = drudge_host_new(&hopts, &err))) {
        rc = drudge_cli_fail("run", &err);
        goto cleanup;
    }
    const drudge_script_info *info;
    drudge_lqueue_set_db(drudge_host_lua(host), cli->db_path);
    if (drudge_host_load(host, script, &info, &err)) {
        rc = drudge_cli_fail("run", &err);
        goto cleanup;
    }
    if (drudge_db_open(cli->db_path, 0, &db, &err)) {
        rc = drudge_cli_fail("run", &err);
        goto cleanup;
    }
    char real[PATH_MAX], worker[128], host_name[64] = "localhost";
    if (!realpath(script, real))
        snprintf(real, sizeof real, "%s", script);
    gethostname(host_name, sizeof host_name - 1);
    snprintf(worker, sizeof worker, "run@%s:%d", host_name, (int)getpid());
    drudge_task_spec spec = {.script = info->name,
                             .script_path = real,
                             .key = key,
                             .input = input,
                             .max_attempts = info->max_attempts,
                             .manual_minutes = info->manual_minutes,
                             .exception_minutes = info->exception_minutes};
    int64_t id;
    if (drudge_queue_start_adhoc(db, &spec, worker, &id, &err)) {
        rc = drudge_cli_fail("run", &err);
        goto cleanup;
    }
    drudge_task_view view = {
        .id = id, .key = key, .attempt = 1, .input = input, .script = info->name};
    int64_t started = drudge_now_us();
    flush.db = db;
    flush.next_us = drudge_mono_us() + DRUDGE_REC_FLUSH_US;
    drudge_rec_on_end(drudge_host_rec(host), run_on_end, &flush);
    watch.db_path = cli->db_path;
    watch.task_id = id;
    watch.host = host;
    cancel_watch_start(&watch);
    drudge_code hrc = drudge_host_run(host, script, &view, &res, &err);
    /* As in a worker: a cancel counts if it is what stopped the script. */
    cancelled = cancel_watch_stop(&watch) && res.outcome == DRUDGE_TIMEOUT;
    if (hrc) {
        rc = drudge_cli_fail("run", &err);
        goto cleanup;
    }
    /* Steps taken early but not yet committed go first: the final append
     * skips them. */
    if (flush_pending(&flush, 1, &err)) {
        rc = drudge_cli_fail("run", &err);
        goto cleanup;
    }
    drudge_finish fin = {.task_id = id,
                         .attempt = 1,
                         .worker = worker,
                         .started_us = started,
                         .res = &res,
                         .rec = drudge_host_rec(host),
                         .no_retry = 1,
                         .cancelled = cancelled};
    const char *state = "?";
    if (drudge_queue_finish(db, &fin, &state, &err)) {
        rc = drudge_cli_fail("run", &err);
        goto cleanup;
    }
    if (cli->json) {
        print_result_json(id, state, &res);
    } else if (res.outcome == DRUDGE_DONE) {
        printf("%s\n", res.output);
    } else if (cancelled) {
        fprintf(stderr, "drudge run: task #%lld cancelled by an operator\n", (long long)id);
    } else {
        fprintf(stderr, "drudge run: task #%lld %s: %s\n", (long long)id,
                res.outcome == DRUDGE_FAILED        ? "failed"
                : res.outcome == DRUDGE_RETRY_LATER ? "asked to be retried later"
                                                    : "ended with a system error",
                res.error ? res.error : "");
        if (res.traceback)
            fprintf(stderr, "%s\n", res.traceback);
    }
    rc = outcome_exit(res.outcome);
cleanup:
    cancel_watch_stop(&watch);
    for (size_t i = 0; i < flush.npending; i++)
        drudge_rec_free(flush.pending[i]);
    free(flush.pending);
    drudge_result_clear(&res);
    drudge_host_free(host);
    sqlite3_close(db);
    free(input);
    free(files);
    return rc;
}

static const char check_help[] =
    "usage: drudge check SCRIPT...\n\n"
    "Compiles and validates each script's contract without running run(): a table\n"
    "with a run function and well-typed optional fields. Every problem is printed\n"
    "as FILE:LINE: message. Exit 0 if all are valid, 6 if any is not.\n";

int drudge_cmd_check(drudge_cli *cli, int argc, char **argv)
{
    if (argc < 2)
        return drudge_cli_usage("check", "which scripts? give at least one SCRIPT");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(check_help, stdout);
            return DRUDGE_EXIT_OK;
        }
        if (argv[i][0] == '-')
            return drudge_cli_usage("check", "unknown option '%s'", argv[i]);
    }
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        drudge_err err = {0};
        /* A fresh host per script: one script's top level cannot affect another's check. */
        drudge_host_opts hopts = {.files_dir = NULL, .secrets_file = cli->secrets_file};
        drudge_host *host = drudge_host_new(&hopts, &err);
        const drudge_script_info *info;
        if (!host || drudge_host_load(host, argv[i], &info, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            bad++;
        } else if (!cli->quiet) {
            printf("ok  %s  (name %s, manual %g min, exception %g min, max_attempts %d, "
                   "timeout %g s)\n",
                   argv[i], info->name, info->manual_minutes, info->exception_minutes,
                   info->max_attempts, info->timeout);
        }
        drudge_host_free(host);
    }
    if (bad)
        fprintf(stderr, "drudge check: %d of %d script%s invalid\n", bad, argc - 1,
                argc - 1 == 1 ? " is" : "s are");
    return bad ? DRUDGE_EXIT_INVALID : DRUDGE_EXIT_OK;
}

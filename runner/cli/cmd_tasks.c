/* cmd_tasks.c: looking at tasks and acting on them: status, tasks, show,
 * retry, cancel, pause, resume, resolve. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runner/cli/cli.h"
#include "runner/queue/queue.h"
#include "runner/work/schedule.h"

/* ---- status ---- */

static const char status_help[] =
    "usage: drudge status [--watch] [--json]\n\n"
    "Counts of tasks per script and state, the age of the oldest queued task, the\n"
    "attempts finished in the last minute, and unresolved exceptions (failed or\n"
    "dead tasks nobody has resolved), and why a worker paused a script (a\n"
    "configuration error such as a missing secret), and the targets that are down\n"
    "(open circuit breakers: see drudge outages). --watch shows it live.\n";

static void counts_json(drudge_buf *b, const drudge_script_counts *c, int64_t now)
{
    drudge_buf_puts(b, "{");
    if (c->script) {
        drudge_buf_puts(b, "\"script\":");
        drudge_buf_json_str(b, c->script, strlen(c->script));
        drudge_buf_printf(b, ",\"paused\":%s,", c->paused ? "true" : "false");
        if (c->pause_reason) {
            drudge_buf_puts(b, "\"pause_reason\":");
            drudge_buf_json_str(b, c->pause_reason, strlen(c->pause_reason));
            drudge_buf_puts(b, ",");
        }
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
        drudge_cli_fmt_age(now - c->oldest_queued_us, age, sizeof age);
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
    int rc;
    drudge_store *st = drudge_cli_store(cli, "status", DRUDGE_STORE_READONLY, &rc);
    if (!st)
        return rc;
    if (watch) {
        rc = drudge_watch_run(cli, st);
        drudge_store_close(st);
        return rc;
    }
    drudge_queue_stats s;
    drudge_err err = {0};
    int64_t now = drudge_now_us();
    drudge_code code = drudge_store_status(st, now, &s, &err);
    if (code)
        return drudge_cli_done("status", st, code, &err);
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
        drudge_buf_puts(&b, ",\"open_breakers\":");
        code = drudge_cli_open_breakers(st, &b, now, &err);
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
        for (size_t i = 0; i < s.nscripts; i++)
            if (s.scripts[i].pause_reason)
                printf("\n%s is paused by a configuration error; fix it, then drudge resume %s:\n"
                       "  %s\n",
                       s.scripts[i].script, s.scripts[i].script, s.scripts[i].pause_reason);
        if (s.total.unresolved)
            printf("\n%lld unresolved exception%s: see drudge tasks --state failed|dead, then "
                   "drudge retry or drudge resolve TASK --note ...\n",
                   (long long)s.total.unresolved, s.total.unresolved == 1 ? "" : "s");
        code = drudge_cli_open_breakers(st, NULL, now, &err);
    }
    drudge_queue_stats_clear(&s);
    return drudge_cli_done("status", st, code, &err);
}

/* ---- tasks ---- */

static const char tasks_help[] =
    "usage: drudge tasks [--state S] [--script NAME] [--limit N] [--json]\n\n"
    "Lists tasks, newest first. S is queued, running, done, failed, dead or cancelled.\n"
    "  --limit N   at most N tasks (default 100)\n";

static void task_json(drudge_buf *b, const drudge_task_row *t)
{
    drudge_buf_printf(b, "{\"id\":%lld,\"script\":", (long long)t->id);
    drudge_cli_json_str(b, t->script);
    drudge_buf_puts(b, ",\"key\":");
    drudge_cli_json_str(b, t->key);
    drudge_buf_puts(b, ",\"state\":");
    drudge_cli_json_str(b, t->state);
    drudge_buf_printf(b, ",\"priority\":%d,\"attempts\":%d,\"spent\":%d,\"max_attempts\":%d,",
                      t->priority, t->attempts, t->spent, t->max_attempts);
    drudge_buf_puts(b, "\"input\":");
    drudge_buf_puts(b, t->input ? t->input : "null");
    drudge_buf_puts(b, ",\"output\":");
    drudge_buf_puts(b, t->output ? t->output : "null");
    drudge_buf_puts(b, ",\"error\":");
    drudge_cli_json_str(b, t->error);
    drudge_buf_puts(b, ",\"error_kind\":");
    drudge_cli_json_str(b, t->error_kind);
    drudge_buf_puts(b, ",\"run_at\":");
    drudge_cli_json_time(b, t->run_at);
    drudge_buf_puts(b, ",\"created_at\":");
    drudge_cli_json_time(b, t->created_at);
    drudge_buf_puts(b, ",\"finished_at\":");
    drudge_cli_json_time(b, t->finished_at);
    drudge_buf_puts(b, ",\"lease_owner\":");
    drudge_cli_json_str(b, t->lease_owner);
    drudge_buf_puts(b, ",\"lease_until\":");
    drudge_cli_json_time(b, t->lease_until);
    drudge_buf_printf(b, ",\"cancel_requested\":%s,\"manual_minutes\":%g,\"exception_minutes\":%g",
                      t->cancel_requested ? "true" : "false", t->manual_minutes,
                      t->exception_minutes);
    drudge_buf_puts(b, ",\"schedule\":");
    drudge_cli_json_str(b, t->schedule);
    drudge_buf_puts(b, ",\"script_path\":");
    drudge_cli_json_str(b, t->script_path);
    drudge_buf_puts(b, ",\"resolved_by\":");
    drudge_cli_json_str(b, t->resolved_by);
    drudge_buf_puts(b, ",\"resolved_at\":");
    drudge_cli_json_time(b, t->resolved_at);
    drudge_buf_puts(b, ",\"resolved_note\":");
    drudge_cli_json_str(b, t->resolved_note);
    drudge_buf_puts(b, ",\"cancelled_by\":");
    drudge_cli_json_str(b, t->cancelled_by);
    drudge_buf_puts(b, ",\"script_sha256\":");
    drudge_cli_json_str(b, t->script_sha256);
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
    for (;;) {
        c = getopt_long(argc, argv, ":s:S:n:h", opts, NULL);
        if (c == -1)
            break;
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
            if (drudge_cli_parse_long(optarg, 1, 1000000, &limit))
                return drudge_cli_usage("tasks", "--limit '%s' is not a number from 1 to 1000000",
                                        optarg);
            break;
        case 'h':
            fputs(tasks_help, stdout);
            return DRUDGE_EXIT_OK;
            DRUDGE_CLI_GETOPT_ERRORS("tasks");
        }
    }
    if (optind != argc)
        return drudge_cli_usage("tasks", "unexpected argument '%s'", argv[optind]);
    int rc;
    drudge_store *st = drudge_cli_store(cli, "tasks", DRUDGE_STORE_READONLY, &rc);
    if (!st)
        return rc;
    drudge_task_row *rows = NULL;
    size_t n = 0;
    drudge_err err = {0};
    drudge_task_filter f = {.state = state, .script = script, .limit = (int)limit};
    drudge_code code = drudge_store_list(st, &f, &rows, &n, &err);
    if (code)
        return drudge_cli_done("tasks", st, code, &err);
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
                drudge_cli_fmt_age(t->run_at - now, age, sizeof age);
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
    return drudge_cli_done("tasks", st, DRUDGE_OK, NULL);
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
    if (drudge_cli_parse_task_id(arg, &id))
        return drudge_cli_usage("show", "'%s' is not a task id (a number such as 12)", arg);
    int rc;
    drudge_store *st = drudge_cli_store(cli, "show", DRUDGE_STORE_READONLY, &rc);
    if (!st)
        return rc;
    drudge_task_row t;
    drudge_attempt_row *att = NULL;
    size_t n = 0;
    drudge_err err = {0};
    drudge_code code = drudge_store_get(st, id, &t, &att, &n, &err);
    if (code)
        return drudge_cli_done("show", st, code, &err);
    drudge_buf b = {0};
    if (cli->json) {
        task_json(&b, &t);
        b.len--; /* reopen the object */
        drudge_buf_puts(&b, ",\"attempt_list\":[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                drudge_buf_puts(&b, ",");
            drudge_buf_printf(&b, "{\"n\":%d,\"worker\":", att[i].n);
            drudge_cli_json_str(&b, att[i].worker);
            drudge_buf_puts(&b, ",\"started_at\":");
            drudge_cli_json_time(&b, att[i].started_at);
            drudge_buf_puts(&b, ",\"ended_at\":");
            drudge_cli_json_time(&b, att[i].ended_at);
            drudge_buf_printf(&b, ",\"duration_ms\":%.3f,\"outcome\":",
                              (double)(att[i].ended_at - att[i].started_at) / 1000.0);
            drudge_cli_json_str(&b, att[i].outcome);
            drudge_buf_puts(&b, ",\"error\":");
            drudge_cli_json_str(&b, att[i].error);
            drudge_buf_puts(&b, ",\"error_kind\":");
            drudge_cli_json_str(&b, att[i].error_kind);
            drudge_buf_puts(&b, "}");
        }
        drudge_buf_puts(&b, "]}\n");
        fputs(b.data, stdout);
    } else {
        char ts[40];
        printf("task #%lld  %s  (%s)\n", (long long)t.id, t.script, t.state);
        printf("  script file  %s\n", t.script_path);
        if (t.script_sha256)
            printf("  version      %s (drudge scripts)\n", t.script_sha256);
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
        if (t.cancelled_by)
            printf("  cancelled    by %s%s\n", t.cancelled_by,
                   strcmp(t.state, "cancelled") ? " (requested)" : "");
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
    return drudge_cli_done("show", st, DRUDGE_OK, NULL);
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
    for (;;) {
        c = getopt_long(argc, argv, ":dfs:h", opts, NULL);
        if (c == -1)
            break;
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
            DRUDGE_CLI_GETOPT_ERRORS("retry");
        }
    }
    int64_t id = 0;
    if (optind < argc) {
        if (dead || failed || optind != argc - 1)
            return drudge_cli_usage("retry", "give one TASK, or --dead / --failed");
        if (drudge_cli_parse_task_id(argv[optind], &id))
            return drudge_cli_usage("retry", "'%s' is not a task id", argv[optind]);
    } else if (!dead && !failed) {
        return drudge_cli_usage("retry", "which tasks? give a TASK id, --dead or --failed");
    }
    int rc;
    drudge_store *st = drudge_cli_store(cli, "retry", 0, &rc);
    if (!st)
        return rc;
    drudge_err err = {0};
    int64_t now = drudge_now_us(), count = 0;
    drudge_code code = DRUDGE_OK;
    if (id) {
        code = drudge_queue_retry(st, id, drudge_cli_os_user(), now, &err);
        if (code)
            return drudge_cli_done("retry", st, code, &err);
        if (cli->json)
            print_ok_json("{\"retried\":[%lld]}", (long long)id);
        else if (!cli->quiet)
            printf("task #%lld queued again\n", (long long)id);
        return drudge_cli_done("retry", st, DRUDGE_OK, NULL);
    }
    for (int k = 0; k < 2 && !code; k++) {
        int64_t n = 0;
        if (!(k == 0 ? dead : failed))
            continue;
        code = drudge_queue_retry_all(st, k == 0 ? "dead" : "failed", script, drudge_cli_os_user(),
                                      now, &n, &err);
        count += n;
    }
    if (code)
        return drudge_cli_done("retry", st, code, &err);
    if (cli->json)
        print_ok_json("{\"retried_count\":%lld}", (long long)count);
    else if (!cli->quiet)
        printf("%lld task%s queued again\n", (long long)count, count == 1 ? "" : "s");
    return drudge_cli_done("retry", st, DRUDGE_OK, NULL);
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
    if (drudge_cli_parse_task_id(arg, id))
        return drudge_cli_usage(cmd, "'%s' is not a task id (a number such as 12)", arg);
    return 0;
}

int drudge_cmd_cancel(drudge_cli *cli, int argc, char **argv)
{
    int64_t id = 0;
    int rc = one_task_arg("cancel", cancel_help, argc, argv, &id);
    if (rc)
        return rc < 0 ? DRUDGE_EXIT_OK : rc;
    drudge_store *st = drudge_cli_store(cli, "cancel", 0, &rc);
    if (!st)
        return rc;
    drudge_err err = {0};
    int deferred = 0;
    drudge_code code =
        drudge_queue_cancel(st, id, drudge_cli_os_user(), drudge_now_us(), &deferred, &err);
    if (code)
        return drudge_cli_done("cancel", st, code, &err);
    if (cli->json)
        print_ok_json("{\"id\":%lld,\"cancelled\":%s,\"requested\":%s}", (long long)id,
                      deferred ? "false" : "true", deferred ? "true" : "false");
    else if (!cli->quiet)
        printf(deferred ? "task #%lld is running: cancel requested; it stops within a second or "
                          "two\n"
                        : "task #%lld cancelled\n",
               (long long)id);
    return drudge_cli_done("cancel", st, DRUDGE_OK, NULL);
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
    int rc;
    drudge_store *st = drudge_cli_store(cli, cmd, 0, &rc);
    if (!st)
        return rc;
    drudge_err err = {0};
    int changed = 0;
    drudge_code code = pause ? drudge_queue_pause(st, script, drudge_cli_os_user(), drudge_now_us(),
                                                  &changed, &err)
                             : drudge_queue_resume(st, script, drudge_cli_os_user(),
                                                   drudge_now_us(), &changed, &err);
    rc = drudge_cli_done(cmd, st, code, &err);
    if (rc)
        return rc;
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
    for (;;) {
        c = getopt_long(argc, argv, ":n:h", opts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'n':
            note = optarg;
            break;
        case 'h':
            fputs(resolve_help, stdout);
            return DRUDGE_EXIT_OK;
            DRUDGE_CLI_GETOPT_ERRORS("resolve");
        }
    }
    int64_t id;
    if (optind != argc - 1)
        return drudge_cli_usage("resolve", "give exactly one TASK");
    if (drudge_cli_parse_task_id(argv[optind], &id))
        return drudge_cli_usage("resolve", "'%s' is not a task id", argv[optind]);
    if (!note || !*note)
        return drudge_cli_usage("resolve", "say what was done: --note TEXT");
    int rc;
    drudge_store *st = drudge_cli_store(cli, "resolve", 0, &rc);
    if (!st)
        return rc;
    drudge_err err = {0};
    const char *who = drudge_cli_os_user();
    drudge_code code = drudge_queue_resolve(st, id, who, note, drudge_now_us(), &err);
    rc = drudge_cli_done("resolve", st, code, &err);
    if (rc)
        return rc;
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

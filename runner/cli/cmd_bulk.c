/* cmd_bulk.c: acting on tasks chosen by ids, ranges and filters: retry,
 * cancel, resolve; and the selection options `drudge tasks` shares. The
 * work itself is drudge_queue_bulk (runner/queue/select.c), which the
 * control room calls too; this file parses, confirms and prints. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "runner/cli/cli.h"
#include "runner/queue/select.h"
#include "runner/queue/queue.h"

/* Above this many tasks, an action asks on a terminal first. */
#define CONFIRM_OVER 100

/* ---- the selection options ---- */

int drudge_cli_select_opt(const char *cmd, int c, const char *arg, int64_t now,
                          drudge_task_select *sel)
{
    drudge_err err = {0};
    int time_flags = DRUDGE_TIME_PAST | DRUDGE_TIME_UTC_DAY;
    switch (c) {
    case DRUDGE_SEL_STATE:
        if (drudge_select_add_state(sel, arg, &err))
            return drudge_cli_usage(cmd,
                                    "--state '%s': use queued, running, done, failed, dead or "
                                    "cancelled",
                                    arg);
        return -1;
    case DRUDGE_SEL_SCRIPT:
        sel->f.script = arg;
        return -1;
    case DRUDGE_SEL_KEY:
        sel->f.key = arg;
        return -1;
    case DRUDGE_SEL_KEY_PREFIX:
        if (!*arg)
            return drudge_cli_usage(cmd, "--key-prefix: give the start of the keys");
        sel->f.key_prefix = arg;
        return -1;
    case DRUDGE_SEL_ERROR:
        if (!*arg)
            return drudge_cli_usage(cmd, "--error: give the text to look for");
        sel->f.error = arg;
        return -1;
    case DRUDGE_SEL_WAITING:
        sel->waiting = drudge_wait_parse(arg);
        if (sel->waiting < 0)
            return drudge_cli_usage(cmd,
                                    "--waiting '%s': use ready, paused, breaker, backoff, not_due "
                                    "or window",
                                    arg);
        return -1;
    case DRUDGE_SEL_DEADLINE:
        /* The names `status` prints; at_risk as JSON spells it too. */
        if (!strcmp(arg, "met") || !strcmp(arg, "missed") || !strcmp(arg, "pending"))
            sel->f.deadline_status = arg;
        else if (!strcmp(arg, "at-risk") || !strcmp(arg, "at_risk"))
            sel->f.deadline_status = "at_risk";
        else
            return drudge_cli_usage(cmd, "--deadline '%s': use met, missed, at-risk or pending",
                                    arg);
        return -1;
    case DRUDGE_SEL_SINCE:
        return drudge_cli_parse_time(cmd, "--since", arg, now, time_flags, &sel->f.created_since);
    case DRUDGE_SEL_UNTIL:
        return drudge_cli_parse_time(cmd, "--until", arg, now, time_flags | DRUDGE_TIME_DAY_END,
                                     &sel->f.created_until);
    case DRUDGE_SEL_FINISHED_SINCE:
        return drudge_cli_parse_time(cmd, "--finished-since", arg, now, time_flags,
                                     &sel->f.finished_since);
    case DRUDGE_SEL_FINISHED_UNTIL:
        return drudge_cli_parse_time(cmd, "--finished-until", arg, now,
                                     time_flags | DRUDGE_TIME_DAY_END, &sel->f.finished_until);
    default:
        return 0; /* not a selection option */
    }
}

int drudge_cli_select_ids(const char *cmd, int argc, char **argv, int first,
                          drudge_task_select *sel)
{
    for (int i = first; i < argc; i++) {
        drudge_err err = {0};
        if (drudge_select_add_ids(sel, argv[i], &err))
            return drudge_cli_usage(cmd, "%s", err.msg);
    }
    return -1;
}

int drudge_cli_select_check(const char *cmd, const drudge_task_select *sel)
{
    const drudge_task_filter *f = &sel->f;
    if (f->created_since && f->created_until && f->created_since >= f->created_until)
        return drudge_cli_usage(cmd, "--since is not before --until: the range is empty");
    if (f->finished_since && f->finished_until && f->finished_since >= f->finished_until)
        return drudge_cli_usage(cmd,
                                "--finished-since is not before --finished-until: the range is "
                                "empty");
    if (sel->waiting >= 0 && sel->states && sel->states != 1u)
        return drudge_cli_usage(cmd, "--waiting applies to queued tasks only; drop --state");
    return -1;
}

/* ---- retry, cancel, resolve ---- */

#define SELECT_HELP                                                                                \
    "Tasks are chosen by ids and ranges (7 8 10-20, #12) and by filters, all of\n"                 \
    "which must hold:\n"                                                                           \
    "  --state S           queued, running, done, failed, dead, cancelled (repeat for several)\n"  \
    "  --script NAME       of this script\n"                                                       \
    "  --key K             with exactly this key\n"                                                \
    "  --key-prefix P      with a key starting with P\n"                                           \
    "  --error TEXT        whose error contains TEXT (ASCII case ignored)\n"                       \
    "  --waiting REASON    queued and waiting for: ready, paused, breaker, backoff,\n"             \
    "                      not_due, window\n"                                                      \
    "  --deadline STATUS   with a deadline that is met, missed, at-risk or pending\n"              \
    "                      (README, Deadlines)\n"                                                  \
    "  --since T, --until T\n"                                                                     \
    "                      created at or after T / before T (a bare date is a UTC day;\n"          \
    "                      --until includes it)\n"                                                 \
    "  --finished-since T, --finished-until T\n"                                                   \
    "                      finished in that range\n"

#define ACTION_HELP                                                                                \
    "  --dry-run           list what would change, change nothing\n"                               \
    "  --yes               do not ask: on a terminal, an action on more than 100\n"                \
    "                      tasks asks first\n"                                                     \
    "Each task changed gets its own operator step on the audit chain. Exit codes:\n"               \
    "0 done, 2 bad arguments, 7 nothing matched that the action applies to\n"                      \
    "(nothing changed), 1 a database error or a refused confirmation.\n"

static const char retry_help[] =
    "usage: drudge retry [TASK|RANGE...] [--dead] [--failed] [--cancelled] [filters]\n"
    "                    [--dry-run] [--yes] [--json]\n\n"
    "Queues failed, dead or cancelled tasks again, due now, with their attempts\n"
    "counted against max_attempts reset (earlier attempts stay on record).\n"
    "--dead, --failed and --cancelled choose those states (--state works too).\n\n" SELECT_HELP
        ACTION_HELP;

static const char cancel_help[] =
    "usage: drudge cancel [TASK|RANGE...] [filters] [--dry-run] [--yes] [--json]\n\n"
    "Cancels queued tasks at once. A running task is cancelled when its worker\n"
    "next renews its lease, or its `drudge run` next looks (within a second or\n"
    "two): the attempt is stopped and recorded as cancelled. Finished tasks are\n"
    "left alone.\n\n" SELECT_HELP ACTION_HELP;

static const char resolve_help[] =
    "usage: drudge resolve [TASK|RANGE...] --note TEXT [filters] [--dry-run] [--yes] [--json]\n\n"
    "Marks failed or dead tasks as handled by hand. Who (the OS user) and when are\n"
    "kept with the note; they no longer count as unresolved exceptions in drudge\n"
    "status. Tasks resolved already are left as they are.\n\n" SELECT_HELP ACTION_HELP;

typedef struct bulk_args {
    drudge_bulk_action action;
    const char *cmd, *help, *note;
    int dry_run, yes;
    drudge_task_select sel;
} bulk_args;

enum { OPT_DRY = 300, OPT_YES, OPT_NOTE, OPT_DEAD, OPT_FAILED, OPT_CANCELLED, OPT_HELP };

/* Parses argv into a; returns an exit code, or -1 to go on. */
static int bulk_parse(bulk_args *a, int argc, char **argv, int64_t now)
{
    static const struct option opts[] = {DRUDGE_SELECT_LONG_OPTS,
                                         {"dry-run", no_argument, 0, OPT_DRY},
                                         {"yes", no_argument, 0, OPT_YES},
                                         {"note", required_argument, 0, OPT_NOTE},
                                         {"dead", no_argument, 0, OPT_DEAD},
                                         {"failed", no_argument, 0, OPT_FAILED},
                                         {"cancelled", no_argument, 0, OPT_CANCELLED},
                                         {"help", no_argument, 0, OPT_HELP},
                                         {0, 0, 0, 0}};
    int c, rc;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hy", opts, NULL)) != -1) {
        if ((rc = drudge_cli_select_opt(a->cmd, c, optarg, now, &a->sel)) != 0) {
            if (rc != -1)
                return rc;
            continue;
        }
        int retry_only = c == OPT_DEAD || c == OPT_FAILED || c == OPT_CANCELLED;
        if (retry_only && a->action != DRUDGE_BULK_RETRY)
            return drudge_cli_usage(a->cmd, "unknown option '%s'", argv[optind - 1]);
        if (c == OPT_NOTE && a->action != DRUDGE_BULK_RESOLVE)
            return drudge_cli_usage(a->cmd, "unknown option '%s'", argv[optind - 1]);
        switch (c) {
        case OPT_DRY:
            a->dry_run = 1;
            break;
        case 'y':
        case OPT_YES:
            a->yes = 1;
            break;
        case OPT_NOTE:
            a->note = optarg;
            break;
        case OPT_DEAD:
        case OPT_FAILED:
        case OPT_CANCELLED:
            drudge_select_add_state(&a->sel,
                                    c == OPT_DEAD     ? "dead"
                                    : c == OPT_FAILED ? "failed"
                                                      : "cancelled",
                                    NULL);
            break;
        case 'h':
        case OPT_HELP:
            fputs(a->help, stdout);
            return DRUDGE_EXIT_OK;
            DRUDGE_CLI_GETOPT_ERRORS(a->cmd);
        }
    }
    rc = drudge_cli_select_ids(a->cmd, argc, argv, optind, &a->sel);
    if (rc == -1)
        rc = drudge_cli_select_check(a->cmd, &a->sel);
    if (rc != -1)
        return rc;
    if (a->action == DRUDGE_BULK_RESOLVE && (!a->note || !*a->note))
        return drudge_cli_usage(a->cmd, "say what was done: --note TEXT");
    if (!drudge_select_narrowed(&a->sel))
        return drudge_cli_usage(a->cmd,
                                "which tasks? give TASK ids or ranges (7 8 10-20), or filters "
                                "(--state, --script, --key-prefix, ...)");
    return -1;
}

/* One plain id and nothing else: the single-task form, whose errors say
 * why that task cannot be changed (and exit 1), as before bulk actions. */
static int single_id(const bulk_args *a, int argc, char **argv, int64_t *id)
{
    const drudge_task_select *s = &a->sel;
    drudge_task_select only = *s;
    if (s->nranges != 1 || s->ranges[0].lo != s->ranges[0].hi || a->dry_run)
        return 0;
    only.ranges = NULL;
    only.nranges = 0;
    if (drudge_select_narrowed(&only) || strchr(argv[argc - 1], '-'))
        return 0;
    *id = s->ranges[0].lo;
    return 1;
}

static int single(drudge_cli *cli, const bulk_args *a, drudge_store *st, int64_t id)
{
    drudge_err err = {0};
    const char *who = drudge_cli_os_user();
    int64_t now = drudge_now_us();
    int deferred = 0;
    drudge_code code = a->action == DRUDGE_BULK_RETRY ? drudge_queue_retry(st, id, who, now, &err)
                       : a->action == DRUDGE_BULK_CANCEL
                           ? drudge_queue_cancel(st, id, who, now, &deferred, &err)
                           : drudge_queue_resolve(st, id, who, a->note, now, &err);
    int rc = drudge_cli_done(a->cmd, st, code, &err);
    if (rc)
        return rc;
    drudge_buf b = {0};
    if (cli->json) {
        if (a->action == DRUDGE_BULK_RETRY) {
            drudge_buf_printf(&b, "{\"retried\":[%lld]}\n", (long long)id);
        } else if (a->action == DRUDGE_BULK_CANCEL) {
            drudge_buf_printf(&b, "{\"id\":%lld,\"cancelled\":%s,\"requested\":%s}\n",
                              (long long)id, deferred ? "false" : "true",
                              deferred ? "true" : "false");
        } else {
            drudge_buf_printf(&b, "{\"id\":%lld,\"resolved_by\":", (long long)id);
            drudge_buf_json_str(&b, who, strlen(who));
            drudge_buf_puts(&b, "}\n");
        }
    } else if (!cli->quiet) {
        if (a->action == DRUDGE_BULK_RETRY)
            drudge_buf_printf(&b, "task #%lld queued again\n", (long long)id);
        else if (a->action == DRUDGE_BULK_CANCEL)
            drudge_buf_printf(&b,
                              deferred ? "task #%lld is running: cancel requested; it stops "
                                         "within a second or two\n"
                                       : "task #%lld cancelled\n",
                              (long long)id);
        else
            drudge_buf_printf(&b, "task #%lld resolved by %s\n", (long long)id, who);
    }
    if (b.data)
        fputs(b.data, stdout);
    drudge_buf_free(&b);
    return DRUDGE_EXIT_OK;
}

/* "cancelled", "queued again", "resolved": what happened to a task. */
static const char *done_word(drudge_bulk_action a)
{
    return a == DRUDGE_BULK_CANCEL  ? "cancelled"
           : a == DRUDGE_BULK_RETRY ? "queued again"
                                    : "resolved";
}

static void bulk_json(const bulk_args *a, const drudge_bulk_result *r)
{
    drudge_buf b = {0}, d = {0};
    drudge_select_describe(&a->sel, &d);
    drudge_buf_printf(&b, "{\"action\":\"%s\",\"dry_run\":%s,\"selection\":",
                      drudge_bulk_name(a->action), a->dry_run ? "true" : "false");
    drudge_buf_json_str(&b, d.data, d.len);
    drudge_buf_printf(&b, ",\"matched\":%zu,\"changed\":%lld,\"requested\":%lld,\"tasks\":[", r->n,
                      (long long)(r->applied - r->deferred), (long long)r->deferred);
    for (size_t i = 0; i < r->n; i++) {
        const drudge_bulk_item *it = &r->items[i];
        drudge_buf_printf(&b, "%s{\"id\":%lld,\"script\":", i ? "," : "", (long long)it->id);
        drudge_buf_json_str(&b, it->script, strlen(it->script));
        drudge_buf_printf(
            &b, ",\"state\":\"%s\",\"changed\":%s,\"requested\":%s,\"skipped\":", it->state,
            it->applies && !it->deferred ? "true" : "false", it->deferred ? "true" : "false");
        drudge_cli_json_str(&b, it->skip);
        drudge_buf_puts(&b, "}");
    }
    drudge_buf_puts(&b, "]}\n");
    fputs(b.data, stdout);
    drudge_buf_free(&b);
    drudge_buf_free(&d);
}

/* The skipped tasks, a line per reason: how many, their states, the first ids. */
static void print_skipped(const drudge_bulk_result *r)
{
    const char *seen[8];
    int nseen = 0;
    for (size_t i = 0; i < r->n; i++) {
        const char *why = r->items[i].skip;
        int known = 0;
        for (int k = 0; k < nseen; k++)
            known |= seen[k] == why;
        if (!why || known || nseen == 8)
            continue;
        seen[nseen++] = why;
        int64_t count = 0;
        drudge_buf ids = {0};
        for (size_t j = i; j < r->n; j++)
            if (r->items[j].skip == why && count++ < 10)
                drudge_buf_printf(&ids, " #%lld (%s)", (long long)r->items[j].id,
                                  r->items[j].state);
        printf("  skipped %lld: %s:%s%s\n", (long long)count, why, ids.data,
               count > 10 ? " ..." : "");
        drudge_buf_free(&ids);
    }
}

static void bulk_text(const bulk_args *a, const drudge_bulk_result *r)
{
    drudge_buf d = {0};
    drudge_select_describe(&a->sel, &d);
    int64_t n = r->applied;
    if (a->dry_run)
        printf("dry run: %s would %s %lld of the %zu task%s matched (%s):\n", "drudge",
               drudge_bulk_name(a->action), (long long)n, r->n, r->n == 1 ? "" : "s", d.data);
    else
        printf("%lld task%s %s (of %zu matched: %s)%s\n", (long long)(n - r->deferred),
               n - r->deferred == 1 ? "" : "s", done_word(a->action), r->n, d.data,
               r->deferred ? "" : "");
    for (size_t i = 0; i < r->n; i++) {
        const drudge_bulk_item *it = &r->items[i];
        if (!it->applies)
            continue;
        if (a->dry_run || r->n <= 1000)
            printf("  #%lld  %-20s %-9s -> %s\n", (long long)it->id, it->script, it->state,
                   it->deferred ? "cancel requested (it is running)" : done_word(a->action));
    }
    if (r->deferred && !a->dry_run)
        printf("%lld running task%s asked to cancel: they stop within a second or two\n",
               (long long)r->deferred, r->deferred == 1 ? "" : "s");
    print_skipped(r);
    drudge_buf_free(&d);
}

/* On a terminal, more than CONFIRM_OVER tasks: 1 if the person says yes. */
static int confirmed(const bulk_args *a, int64_t n)
{
    char line[16];
    fprintf(stderr, "drudge %s: this changes %lld tasks. Go on? [y/N] ", a->cmd, (long long)n);
    fflush(stderr);
    if (!fgets(line, sizeof line, stdin))
        return 0;
    return line[0] == 'y' || line[0] == 'Y';
}

static int bulk(drudge_cli *cli, drudge_bulk_action action, const char *cmd, const char *help,
                int argc, char **argv)
{
    bulk_args a = {.action = action, .cmd = cmd, .help = help};
    drudge_select_init(&a.sel);
    drudge_bulk_result r = {0};
    drudge_err err = {0};
    int64_t now = drudge_now_us(), id = 0;
    int rc = bulk_parse(&a, argc, argv, now);
    drudge_store *st = NULL;
    if (rc != -1)
        goto cleanup;
    st = drudge_cli_store(cli, cmd, 0, &rc);
    if (!st)
        goto cleanup;
    if (single_id(&a, argc, argv, &id)) {
        rc = single(cli, &a, st, id);
        st = NULL; /* closed by drudge_cli_done */
        goto cleanup;
    }
    const char *who = drudge_cli_os_user();
    drudge_code code = DRUDGE_OK;
    if (!a.dry_run && !a.yes && isatty(0) && isatty(2)) {
        a.dry_run = 1;
        code = drudge_queue_bulk(st, action, &a.sel, who, a.note, 1, now, &r, &err);
        a.dry_run = 0;
        if (!code && r.applied > CONFIRM_OVER && !confirmed(&a, r.applied)) {
            fprintf(stderr, "drudge %s: not confirmed: nothing changed\n", cmd);
            rc = DRUDGE_EXIT_ERROR;
            goto cleanup;
        }
        drudge_bulk_result_clear(&r);
    }
    if (!code)
        code = drudge_queue_bulk(st, action, &a.sel, who, a.note, a.dry_run, drudge_now_us(), &r,
                                 &err);
    rc = drudge_cli_done(cmd, st, code, &err);
    st = NULL;
    if (rc)
        goto cleanup;
    if (cli->json)
        bulk_json(&a, &r);
    else if (!cli->quiet || !r.applied)
        bulk_text(&a, &r);
    if (!r.applied) {
        drudge_buf d = {0};
        drudge_select_describe(&a.sel, &d);
        fprintf(stderr, "drudge %s: nothing to %s: %s (%s)\n", cmd, cmd,
                r.n ? "no task matched is in a state it applies to" : "no task matches", d.data);
        drudge_buf_free(&d);
        rc = DRUDGE_EXIT_NOTHING;
    }
cleanup:
    if (st)
        drudge_store_close(st);
    drudge_bulk_result_clear(&r);
    drudge_select_clear(&a.sel);
    return rc;
}

int drudge_cmd_retry(drudge_cli *cli, int argc, char **argv)
{
    return bulk(cli, DRUDGE_BULK_RETRY, "retry", retry_help, argc, argv);
}

int drudge_cmd_cancel(drudge_cli *cli, int argc, char **argv)
{
    return bulk(cli, DRUDGE_BULK_CANCEL, "cancel", cancel_help, argc, argv);
}

int drudge_cmd_resolve(drudge_cli *cli, int argc, char **argv)
{
    return bulk(cli, DRUDGE_BULK_RESOLVE, "resolve", resolve_help, argc, argv);
}

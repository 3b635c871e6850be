/* cmd_notify.c: `drudge notify`, the channels operations are told through
 * (a webhook, e-mail) and the log of what was sent (runner/work/notify.h
 * sends them). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "drudge/host.h"
#include "runner/cli/cli.h"
#include "runner/work/notify.h"

static const char notify_help[] =
    "usage: drudge notify add webhook URL [--event LIST] [--secret NAME] [--dead-threshold N]\n"
    "       drudge notify add email ADDRESS... --smtp URL [--from ADDRESS] [--user LOGIN]\n"
    "                         [--secret NAME] [--event LIST] [--dead-threshold N]\n"
    "       drudge notify list [--json]\n"
    "       drudge notify remove ID\n"
    "       drudge notify test ID\n"
    "       drudge notify log [--since TIME] [--limit N] [--json]\n\n"
    "Tells operations when a target's circuit breaker opens and closes (breaker),\n"
    "when tasks miss their deadline (deadline: one notice per scan, listing them),\n"
    "and when dead tasks pile up (dead: N dead tasks of a script since its last\n"
    "notice). Channels are kept in the database, so every `drudge work` of the\n"
    "fleet uses them; each notification is sent once (by whichever worker claims\n"
    "it), retried with growing waits (2 s doubling, up to 10 minutes; given up\n"
    "after 10 attempts, or at once on a 4xx answer), and recorded: `notify log`.\n"
    "Adding and removing a channel are steps on the audit trail.\n\n"
    "  --event LIST          of breaker, deadline, dead, comma-separated (default: all)\n"
    "  --secret NAME         webhook: a bearer token (Authorization: Bearer) that also\n"
    "                        signs the body (X-Drudge-Signature: sha256=HMAC); email: the\n"
    "                        SMTP password. Read as a script's secret() reads it\n"
    "                        ($DRUDGE_SECRET_NAME or --secrets) where it is sent; only\n"
    "                        the name is stored\n"
    "  --dead-threshold N    dead tasks of one script per notice (default 10)\n"
    "  --smtp URL            smtp://HOST:PORT or smtps://HOST:PORT\n"
    "  --from ADDRESS        the sender (default drudge@localhost)\n"
    "  --user LOGIN          the SMTP login (with --secret)\n"
    "  --since TIME          log: notifications queued at or after TIME (-1d, 2026-12-01)\n"
    "  --limit N             log: at most N, newest first (default 100)\n"
    "  --json                one JSON object\n";

static int is_help(const char *arg)
{
    return !strcmp(arg, "--help") || !strcmp(arg, "-h");
}

static void fmt_time(int64_t us, char *out, size_t n)
{
    if (!us) {
        snprintf(out, n, "-");
        return;
    }
    time_t s = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- add ---- */

typedef struct add_args {
    drudge_notify_channel c;
    drudge_buf targets;
} add_args;

static int add_parse(int argc, char **argv, add_args *a)
{
    static const struct option opts[] = {{"event", required_argument, 0, 'e'},
                                         {"secret", required_argument, 0, 'S'},
                                         {"dead-threshold", required_argument, 0, 'd'},
                                         {"smtp", required_argument, 0, 's'},
                                         {"from", required_argument, 0, 'f'},
                                         {"user", required_argument, 0, 'u'},
                                         {0, 0, 0, 0}};
    long v;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'e':
            a->c.events = optarg;
            break;
        case 'S':
            a->c.secret = optarg;
            break;
        case 'd':
            if (drudge_cli_parse_long(optarg, 1, 1000000, &v))
                return drudge_cli_usage("notify",
                                        "--dead-threshold '%s' is not a number of tasks from 1 "
                                        "to 1000000",
                                        optarg);
            a->c.dead_threshold = (int)v;
            break;
        case 's':
            a->c.smtp = optarg;
            break;
        case 'f':
            a->c.from = optarg;
            break;
        case 'u':
            a->c.user = optarg;
            break;
            DRUDGE_CLI_GETOPT_ERRORS("notify");
        }
    }
    /* argv[optind]: webhook or email, then the URL or the addresses */
    if (optind >= argc)
        return drudge_cli_usage("notify", "add what? webhook URL, or email ADDRESS...");
    a->c.kind = argv[optind++];
    if (strcmp(a->c.kind, "webhook") && strcmp(a->c.kind, "email"))
        return drudge_cli_usage("notify", "add webhook URL, or add email ADDRESS... (not '%s')",
                                a->c.kind);
    int webhook = !strcmp(a->c.kind, "webhook");
    if (optind >= argc)
        return drudge_cli_usage("notify", webhook ? "add webhook wants the URL"
                                                  : "add email wants one address or more");
    if (webhook && argc - optind > 1)
        return drudge_cli_usage("notify", "add webhook wants one URL, not '%s' too",
                                argv[optind + 1]);
    for (int i = optind; i < argc; i++) {
        if (i > optind)
            drudge_buf_puts(&a->targets, ",");
        drudge_buf_puts(&a->targets, argv[i]);
    }
    a->c.target = a->targets.data;
    if (webhook && (a->c.smtp || a->c.from || a->c.user))
        return drudge_cli_usage("notify", "--smtp, --from and --user are for email channels");
    if (!webhook && !a->c.smtp)
        return drudge_cli_usage("notify", "add email wants --smtp smtp://HOST:PORT");
    return -1;
}

static int cmd_add(drudge_cli *cli, int argc, char **argv)
{
    add_args a = {
        .c = {.events = "breaker,deadline,dead", .dead_threshold = DRUDGE_NOTIFY_DEAD_THRESHOLD}};
    int rc = add_parse(argc, argv, &a);
    if (rc >= 0)
        goto cleanup;
    a.c.created_by = drudge_cli_os_user();
    drudge_err err = {0};
    if (drudge_notify_channel_check(&a.c, &err)) {
        rc = drudge_cli_usage("notify", "%s", err.msg);
        goto cleanup;
    }
    drudge_store *st = drudge_cli_store(cli, "notify", 0, &rc);
    if (!st)
        goto cleanup;
    int64_t id = 0;
    drudge_code code =
        drudge_notify_channel_add(st, &a.c, a.c.created_by, drudge_now_us(), &id, &err);
    if (!code && cli->json)
        printf("{\"channel\":%lld}\n", (long long)id);
    else if (!code && !cli->quiet)
        printf("channel #%lld: %s %s, events %s\n", (long long)id, a.c.kind, a.c.target,
               a.c.events);
    /* The secret is read where notifications are sent; say so if it is not here. */
    char *val = NULL;
    drudge_err serr = {0};
    if (!code && a.c.secret &&
        drudge_host_secret(cli->secrets_file, a.c.secret, &val, &serr) != DRUDGE_OK)
        fprintf(stderr,
                "drudge notify: note: secret %s is not set here ($DRUDGE_SECRET_%s or "
                "--secrets); every drudge work that sends must have it\n",
                a.c.secret, a.c.secret);
    if (val) {
        explicit_bzero(val, strlen(val));
        free(val);
    }
    rc = drudge_cli_done("notify", st, code, &err);
cleanup:
    drudge_buf_free(&a.targets);
    return rc;
}

/* ---- list ---- */

typedef struct list_out {
    drudge_buf b;
    int json, n;
} list_out;

static void channel_json(drudge_buf *b, const drudge_notify_channel *c)
{
    drudge_buf_printf(b, "{\"id\":%lld,\"kind\":", (long long)c->id);
    drudge_cli_json_str(b, c->kind);
    drudge_buf_puts(b, ",\"target\":");
    drudge_cli_json_str(b, c->target);
    drudge_buf_puts(b, ",\"events\":");
    drudge_cli_json_str(b, c->events);
    drudge_buf_puts(b, ",\"secret\":");
    drudge_cli_json_str(b, c->secret);
    drudge_buf_puts(b, ",\"smtp\":");
    drudge_cli_json_str(b, c->smtp);
    drudge_buf_puts(b, ",\"from\":");
    drudge_cli_json_str(b, c->from);
    drudge_buf_puts(b, ",\"user\":");
    drudge_cli_json_str(b, c->user);
    drudge_buf_printf(b, ",\"dead_threshold\":%d,\"created_at\":", c->dead_threshold);
    drudge_cli_json_time(b, c->created_at);
    drudge_buf_puts(b, ",\"created_by\":");
    drudge_cli_json_str(b, c->created_by);
    drudge_buf_puts(b, "}");
}

static int list_row(void *ud, const drudge_notify_channel *c)
{
    list_out *o = ud;
    if (o->json) {
        if (o->n)
            drudge_buf_puts(&o->b, ",");
        channel_json(&o->b, c);
    } else {
        char created[32];
        fmt_time(c->created_at, created, sizeof created);
        if (!o->n)
            printf("%-4s %-8s %-40s %-22s %s\n", "ID", "KIND", "TO", "EVENTS", "DETAILS");
        printf("%-4lld %-8s %-40s %-22s", (long long)c->id, c->kind, c->target, c->events);
        if (!strcmp(c->kind, "email"))
            printf(" via %s from %s%s%s", c->smtp ? c->smtp : "",
                   c->from ? c->from : "drudge@localhost", c->user ? " as " : "",
                   c->user ? c->user : "");
        if (c->secret)
            printf(" secret %s", c->secret);
        printf(" dead>=%d; added %s by %s\n", c->dead_threshold, created,
               c->created_by ? c->created_by : "?");
    }
    o->n++;
    return 0;
}

static int cmd_list(drudge_cli *cli, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            cli->json = 1;
        else
            return drudge_cli_usage("notify", "list: unexpected argument '%s'", argv[i]);
    }
    int rc;
    drudge_store *st = drudge_cli_store(cli, "notify", DRUDGE_STORE_READONLY, &rc);
    if (!st)
        return rc;
    list_out o = {.json = cli->json};
    drudge_err err = {0};
    if (o.json)
        drudge_buf_puts(&o.b, "{\"channels\":[");
    drudge_code code = drudge_store_notify_channels(st, list_row, &o, &err);
    if (!code && o.json) {
        drudge_buf_puts(&o.b, "]}\n");
        fputs(o.b.data, stdout);
    } else if (!code && !o.n) {
        printf("no notification channels (drudge notify add webhook URL, or add email ...)\n");
    }
    drudge_buf_free(&o.b);
    return drudge_cli_done("notify", st, code, &err);
}

/* ---- remove, test ---- */

static int one_id(int argc, char **argv, const char *sub, int64_t *id)
{
    if (argc != 2)
        return drudge_cli_usage("notify", "%s wants one channel ID (drudge notify list)", sub);
    const char *s = argv[1][0] == '#' ? argv[1] + 1 : argv[1];
    long v;
    if (drudge_cli_parse_long(s, 1, 0x7fffffffL, &v))
        return drudge_cli_usage("notify", "%s: '%s' is not a channel ID", sub, argv[1]);
    *id = v;
    return -1;
}

static int cmd_remove(drudge_cli *cli, int argc, char **argv)
{
    int64_t id = 0;
    int rc = one_id(argc, argv, "remove", &id);
    if (rc >= 0)
        return rc;
    drudge_store *st = drudge_cli_store(cli, "notify", 0, &rc);
    if (!st)
        return rc;
    drudge_err err = {0};
    drudge_code code =
        drudge_notify_channel_remove(st, id, drudge_cli_os_user(), drudge_now_us(), &err);
    if (!code && !cli->quiet)
        printf("channel #%lld removed\n", (long long)id);
    return drudge_cli_done("notify", st, code, &err);
}

static int cmd_test(drudge_cli *cli, int argc, char **argv)
{
    int64_t id = 0, row = 0;
    int rc = one_id(argc, argv, "test", &id);
    if (rc >= 0)
        return rc;
    drudge_store *st = drudge_cli_store(cli, "notify", 0, &rc);
    if (!st)
        return rc;
    drudge_err err = {0};
    drudge_code code =
        drudge_notify_test(st, id, drudge_cli_os_user(), cli->secrets_file, &row, &err);
    if (!code && !cli->quiet)
        printf("channel #%lld: test notification #%lld sent\n", (long long)id, (long long)row);
    return drudge_cli_done("notify", st, code, &err);
}

/* ---- log ---- */

typedef struct log_out {
    drudge_buf b;
    int json, n;
} log_out;

static const char *row_state(const drudge_notify_row *r)
{
    return r->sent_at ? "sent" : r->gave_up_at ? "given up" : r->attempts ? "retrying" : "queued";
}

static int log_row(void *ud, const drudge_notify_row *r)
{
    log_out *o = ud;
    if (o->json) {
        if (o->n)
            drudge_buf_puts(&o->b, ",");
        drudge_buf_printf(&o->b, "{\"id\":%lld,\"channel\":%lld,\"kind\":", (long long)r->id,
                          (long long)r->channel_id);
        drudge_cli_json_str(&o->b, r->ch.id ? r->ch.kind : NULL);
        drudge_buf_puts(&o->b, ",\"to\":");
        drudge_cli_json_str(&o->b, r->ch.id ? r->ch.target : NULL);
        drudge_buf_puts(&o->b, ",\"event\":");
        drudge_cli_json_str(&o->b, r->event);
        drudge_buf_puts(&o->b, ",\"state\":");
        drudge_cli_json_str(&o->b, row_state(r));
        drudge_buf_printf(&o->b, ",\"attempts\":%d,\"created_at\":", r->attempts);
        drudge_cli_json_time(&o->b, r->created_at);
        drudge_buf_puts(&o->b, ",\"sent_at\":");
        drudge_cli_json_time(&o->b, r->sent_at);
        drudge_buf_puts(&o->b, ",\"gave_up_at\":");
        drudge_cli_json_time(&o->b, r->gave_up_at);
        drudge_buf_puts(&o->b, ",\"next_at\":");
        drudge_cli_json_time(&o->b, r->sent_at || r->gave_up_at ? 0 : r->due_at);
        drudge_buf_puts(&o->b, ",\"last_error\":");
        drudge_cli_json_str(&o->b, *r->last_error ? r->last_error : NULL);
        drudge_buf_puts(&o->b, ",\"payload\":");
        drudge_buf_puts(&o->b, *r->payload ? r->payload : "null");
        drudge_buf_puts(&o->b, "}");
    } else {
        char created[32], when[32];
        fmt_time(r->created_at, created, sizeof created);
        fmt_time(r->sent_at      ? r->sent_at
                 : r->gave_up_at ? r->gave_up_at
                                 : r->due_at,
                 when, sizeof when);
        if (!o->n)
            printf("%-6s %-20s %-15s %-4s %-30s %-9s %4s %-20s  %s\n", "ID", "QUEUED", "EVENT",
                   "CHAN", "TO", "STATE", "TRY", "AT", "LAST ERROR");
        char to[31];
        snprintf(to, sizeof to, "%s", r->ch.id ? r->ch.target : "(removed)");
        printf("%-6lld %-20s %-15s %-4lld %-30s %-9s %4d %-20s  %s\n", (long long)r->id, created,
               r->event, (long long)r->channel_id, to, row_state(r), r->attempts, when,
               r->last_error);
    }
    o->n++;
    return 0;
}

static int cmd_log(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"since", required_argument, 0, 's'},
                                         {"limit", required_argument, 0, 'l'},
                                         {"json", no_argument, 0, 'J'},
                                         {0, 0, 0, 0}};
    int64_t since = 0, now = drudge_now_us();
    long limit = 100;
    int c, rc;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            rc = drudge_cli_parse_time("notify", "--since", optarg, now, DRUDGE_TIME_PAST, &since);
            if (rc >= 0)
                return rc;
            break;
        case 'l':
            if (drudge_cli_parse_long(optarg, 1, 100000, &limit))
                return drudge_cli_usage("notify", "--limit '%s' is not a number from 1 to 100000",
                                        optarg);
            break;
        case 'J':
            cli->json = 1;
            break;
            DRUDGE_CLI_GETOPT_ERRORS("notify");
        }
    }
    if (optind != argc)
        return drudge_cli_usage("notify", "log: unexpected argument '%s'", argv[optind]);
    drudge_store *st = drudge_cli_store(cli, "notify", DRUDGE_STORE_READONLY, &rc);
    if (!st)
        return rc;
    log_out o = {.json = cli->json};
    drudge_err err = {0};
    if (o.json)
        drudge_buf_puts(&o.b, "{\"notifications\":[");
    drudge_code code = drudge_store_notify_log(st, since, (int)limit, log_row, &o, &err);
    if (!code && o.json) {
        drudge_buf_puts(&o.b, "]}\n");
        fputs(o.b.data, stdout);
    } else if (!code && !o.n) {
        printf("no notifications%s\n", since ? " since then" : "");
    }
    drudge_buf_free(&o.b);
    return drudge_cli_done("notify", st, code, &err);
}

int drudge_cmd_notify(drudge_cli *cli, int argc, char **argv)
{
    if (argc < 2)
        return drudge_cli_usage("notify", "which? add, list, remove, test or log");
    const char *sub = argv[1];
    int help = !strcmp(sub, "help");
    for (int i = 1; i < argc && !help; i++)
        help = is_help(argv[i]);
    if (help) {
        fputs(notify_help, stdout);
        return DRUDGE_EXIT_OK;
    }
    if (!strcmp(sub, "add"))
        return cmd_add(cli, argc - 1, argv + 1);
    if (!strcmp(sub, "list") || !strcmp(sub, "ls"))
        return cmd_list(cli, argc - 1, argv + 1);
    if (!strcmp(sub, "remove") || !strcmp(sub, "rm"))
        return cmd_remove(cli, argc - 1, argv + 1);
    if (!strcmp(sub, "test"))
        return cmd_test(cli, argc - 1, argv + 1);
    if (!strcmp(sub, "log"))
        return cmd_log(cli, argc - 1, argv + 1);
    return drudge_cli_usage("notify", "unknown subcommand '%s' (add, list, remove, test, log)",
                            sub);
}

/* cmd_outages.c: `drudge outages`, the outages on record (one per opening
 * of a target's circuit breaker), and the open breakers `drudge status`
 * shows. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "runner/cli/cli.h"

static const char outages_help[] =
    "usage: drudge outages [--since TIME] [--json]\n\n"
    "The outages on record: each time a target's circuit breaker opened (a run of\n"
    "system errors, or a script's outage()), the target, when it started (the first\n"
    "error of that run), when it opened and ended (the probe that got through), what\n"
    "triggered it, the probes, the tasks it held (queued tasks of the scripts that use\n"
    "the target) and the attempts spent during it (counted system errors of those\n"
    "scripts). Open ones first say OPEN.\n\n"
    "  --since TIME   only outages open at or after TIME (2026-11-23, +-2h, -1d)\n"
    "  --json         one JSON object\n";

static void fmt_time(int64_t us, char *out, size_t n)
{
    time_t s = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

typedef struct outages_out {
    drudge_buf b;
    int json, n;
    int64_t now;
} outages_out;

static void outage_json(drudge_buf *b, const drudge_outage_row *o, int64_t now)
{
    int64_t end = o->ended_at ? o->ended_at : now;
    drudge_buf_printf(b, "{\"id\":%lld,\"target\":", (long long)o->id);
    drudge_cli_json_str(b, o->target);
    drudge_buf_puts(b, ",\"open\":");
    drudge_buf_puts(b, o->ended_at ? "false" : "true");
    drudge_buf_puts(b, ",\"started_at\":");
    drudge_cli_json_time(b, o->started_at);
    drudge_buf_puts(b, ",\"opened_at\":");
    drudge_cli_json_time(b, o->opened_at);
    drudge_buf_puts(b, ",\"ended_at\":");
    drudge_cli_json_time(b, o->ended_at);
    drudge_buf_printf(b, ",\"seconds\":%.3f,\"trigger\":", (double)(end - o->started_at) / 1e6);
    drudge_cli_json_str(b, o->trigger);
    drudge_buf_puts(b, ",\"opened_by\":");
    drudge_cli_json_str(b, o->opened_by);
    drudge_buf_printf(b, ",\"probes\":%d,\"tasks_held\":%lld,\"attempts_spent\":%lld", o->probes,
                      (long long)o->tasks_held, (long long)o->attempts_spent);
    if (!o->ended_at) {
        drudge_buf_puts(b, ",\"next_probe_at\":");
        drudge_cli_json_time(b, o->probe_at);
    }
    drudge_buf_puts(b, "}");
}

static int outage_row(void *ud, const drudge_outage_row *o)
{
    outages_out *out = ud;
    if (out->json) {
        if (out->n)
            drudge_buf_puts(&out->b, ",");
        outage_json(&out->b, o, out->now);
    } else {
        char start[32], end[32] = "OPEN", dur[32];
        fmt_time(o->started_at, start, sizeof start);
        if (o->ended_at)
            fmt_time(o->ended_at, end, sizeof end);
        drudge_cli_fmt_age((o->ended_at ? o->ended_at : out->now) - o->started_at, dur, sizeof dur);
        if (!out->n)
            printf("%-6s %-28s %-20s %-20s %8s %6s %6s %6s  %s\n", "ID", "TARGET", "START", "END",
                   "LASTED", "PROBES", "HELD", "SPENT", "TRIGGER");
        printf("%-6lld %-28s %-20s %-20s %8s %6d %6lld %6lld  %s\n", (long long)o->id, o->target,
               start, end, dur, o->probes, (long long)o->tasks_held, (long long)o->attempts_spent,
               o->trigger);
    }
    out->n++;
    return 0;
}

int drudge_cmd_outages(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"since", required_argument, 0, 's'},
                                         {"json", no_argument, 0, 'J'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int64_t since = 0, now = drudge_now_us();
    int c, rc;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":s:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            rc = drudge_cli_parse_time("outages", "--since", optarg, now, DRUDGE_TIME_PAST, &since);
            if (rc >= 0)
                return rc;
            break;
        case 'J':
            cli->json = 1;
            break;
        case 'h':
            fputs(outages_help, stdout);
            return DRUDGE_EXIT_OK;
            DRUDGE_CLI_GETOPT_ERRORS("outages");
        }
    }
    if (optind != argc)
        return drudge_cli_usage("outages", "unexpected argument '%s'", argv[optind]);
    drudge_store *st = drudge_cli_store(cli, "outages", DRUDGE_STORE_READONLY, &rc);
    if (!st)
        return rc;
    outages_out out = {.json = cli->json, .now = now};
    drudge_err err = {0};
    if (out.json)
        drudge_buf_puts(&out.b, "{\"outages\":[");
    drudge_code code = drudge_store_outages(st, since, outage_row, &out, &err);
    if (!code && out.json) {
        drudge_buf_puts(&out.b, "]}\n");
        fputs(out.b.data, stdout);
    } else if (!code && !out.n) {
        printf("no outages on record%s\n", since ? " since then" : "");
    }
    drudge_buf_free(&out.b);
    return drudge_cli_done("outages", st, code, &err);
}

/* ---- for status ---- */

typedef struct open_out {
    drudge_buf *json; /* or NULL: text */
    int n;
    int64_t now;
} open_out;

static int open_row(void *ud, const drudge_outage_row *o)
{
    open_out *out = ud;
    if (out->json) {
        if (out->n)
            drudge_buf_puts(out->json, ",");
        outage_json(out->json, o, out->now);
        size_t len = out->json->len;
        out->json->len = len - 1; /* the scripts it holds, inside the object */
        drudge_buf_puts(out->json, ",\"scripts\":");
        drudge_cli_json_str(out->json, o->scripts);
        drudge_buf_puts(out->json, "}");
    } else {
        char since[32], next[32];
        fmt_time(o->opened_at, since, sizeof since);
        drudge_cli_fmt_age(o->probe_at > out->now ? o->probe_at - out->now : 0, next, sizeof next);
        printf("%starget %s is DOWN since %s (outage #%lld: %s); holding %s; next probe in %s\n",
               out->n ? "" : "\n", o->target, since, (long long)o->id, o->trigger,
               *o->scripts ? o->scripts : "(no script known yet)", next);
    }
    out->n++;
    return 0;
}

drudge_code drudge_cli_open_breakers(drudge_store *s, drudge_buf *json, int64_t now,
                                     drudge_err *err)
{
    open_out out = {.json = json, .now = now};
    if (json)
        drudge_buf_puts(json, "[");
    drudge_code rc = drudge_store_breakers(s, open_row, &out, err);
    if (json)
        drudge_buf_puts(json, "]");
    return rc;
}

/* ---- for the waiting reasons of queued tasks (issue #22) ---- */

typedef struct holder {
    const char *script;
    char *target;
    size_t n;
    int found;
} holder;

static int holder_row(void *ud, const drudge_outage_row *o)
{
    holder *h = ud;
    size_t len = strlen(h->script);
    for (const char *p = o->scripts; (p = strstr(p, h->script)) != NULL; p++)
        if ((p == o->scripts || p[-1] == ',') && (p[len] == ',' || !p[len])) {
            snprintf(h->target, h->n, "%s", o->target);
            h->found = 1;
            return 1;
        }
    return 0;
}

drudge_code drudge_cli_held_by_breaker(drudge_store *s, const char *script, char *target, size_t n,
                                       int *held, drudge_err *err)
{
    holder h = {.script = script, .target = target, .n = n};
    drudge_code rc = drudge_store_breakers(s, holder_row, &h, err);
    *held = !rc && h.found;
    return rc;
}

/* cmd_tasks.c: looking at tasks and acting on them: status, tasks, show,
 * retry, cancel, pause, resume, resolve. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runner/cli/cli.h"
#include "logs/report/deadline.h"
#include "runner/queue/queue.h"
#include "runner/queue/select.h"
#include "runner/queue/waiting.h"
#include "runner/work/schedule.h"

/* ---- status ---- */

static const char status_help[] =
    "usage: drudge status [--watch] [--json]\n\n"
    "Counts of tasks per script and state, the age of the oldest queued task, the\n"
    "attempts finished in the last minute, and unresolved exceptions (failed or\n"
    "dead tasks nobody has resolved), and why a worker paused a script (a\n"
    "configuration error such as a missing secret), the targets that are down (open\n"
    "circuit breakers: see drudge outages), then the queued tasks by why they\n"
    "wait: ready (a worker may take them now), paused, breaker, backoff (a\n"
    "retry's delay), not_due (enqueued for later), window (outside the run\n"
    "window), and the soonest time a held one may go. Then deadlines (those due\n"
    "in the last 24 hours or later): met, pending, at risk (due within an hour, or\n"
    "an exception waiting for a person) and missed, and why: outage (a target of\n"
    "the script was down at the deadline), failure, or queue (it waited behind\n"
    "other work). --watch shows it live.\n";

/* Deadlines shown by status: due at most this long ago, or later. */
#define STATUS_DEADLINES_US (24LL * 3600 * 1000000)

static void why_json(drudge_buf *b, const char *name, const int64_t *by)
{
    drudge_buf_printf(b, ",\"%s\":{", name);
    for (int w = 1; w < DRUDGE_WHY_N; w++)
        drudge_buf_printf(b, "%s\"%s\":%lld", w > 1 ? "," : "", drudge_deadline_why_names[w],
                          (long long)by[w]);
    drudge_buf_puts(b, "}");
}

static void deadline_counts_json(drudge_buf *b, const drudge_deadline_counts *c)
{
    drudge_buf_puts(b, "{");
    if (c->script[0]) {
        drudge_buf_puts(b, "\"script\":");
        drudge_buf_json_str(b, c->script, strlen(c->script));
        drudge_buf_puts(b, ",");
    }
    drudge_buf_printf(b,
                      "\"total\":%lld,\"met\":%lld,\"pending\":%lld,\"at_risk\":%lld,"
                      "\"missed\":%lld",
                      (long long)c->total, (long long)c->met, (long long)c->pending,
                      (long long)c->at_risk, (long long)c->missed);
    why_json(b, "missed_by", c->missed_by);
    why_json(b, "at_risk_by", c->at_risk_by);
    drudge_buf_puts(b, "}");
}

/* ,"deadlines":{"since":TIME,"total":N,...,"scripts":[...]} */
static void deadlines_json(drudge_buf *b, const drudge_deadline_summary *d, int64_t since)
{
    drudge_buf_puts(b, ",\"deadlines\":{\"since\":");
    drudge_cli_json_time(b, since);
    drudge_buf_puts(b, ",\"all\":");
    deadline_counts_json(b, &d->all);
    drudge_buf_puts(b, ",\"scripts\":[");
    for (size_t i = 0; i < d->nscripts; i++) {
        if (i)
            drudge_buf_puts(b, ",");
        deadline_counts_json(b, &d->scripts[i]);
    }
    drudge_buf_puts(b, "]}");
}

static void deadline_line(const drudge_deadline_counts *c, const char *name)
{
    printf("%-24s %8lld %8lld %8lld %8lld %8lld %8lld %8lld\n", name, (long long)c->met,
           (long long)c->pending, (long long)c->at_risk, (long long)c->missed,
           (long long)c->missed_by[DRUDGE_WHY_OUTAGE], (long long)c->missed_by[DRUDGE_WHY_FAILURE],
           (long long)c->missed_by[DRUDGE_WHY_QUEUE]);
}

static void deadlines_table(const drudge_deadline_summary *d)
{
    if (!d->all.total)
        return;
    printf("\n%-24s %8s %8s %8s %8s %8s %8s %8s\n", "DEADLINES (24h on)", "MET", "PENDING",
           "AT RISK", "MISSED", "OUTAGE", "FAILURE", "QUEUE");
    for (size_t i = 0; i < d->nscripts; i++)
        deadline_line(&d->scripts[i], d->scripts[i].script);
    if (d->nscripts > 1)
        deadline_line(&d->all, "(all)");
    if (d->all.missed_by[DRUDGE_WHY_OUTAGE])
        printf("%lld missed during an outage of %s (see drudge outages)\n",
               (long long)d->all.missed_by[DRUDGE_WHY_OUTAGE], d->outage_targets);
}

/* ,"waiting":{"ready":N,...},"waiting_until":{"window":TIME,...}: queued
 * tasks (not running) by why they wait, and the soonest until of each. */
static void waiting_json(drudge_buf *b, const drudge_wait_counts *w)
{
    drudge_buf_puts(b, ",\"waiting\":{");
    for (int r = 0; r < DRUDGE_WAIT_N; r++)
        drudge_buf_printf(b, "%s\"%s\":%lld", r ? "," : "", drudge_wait_names[r],
                          (long long)(w ? w->count[r] : 0));
    drudge_buf_puts(b, "},\"waiting_until\":{");
    for (int r = 0, k = 0; w && r < DRUDGE_WAIT_N; r++) {
        if (!w->next_until[r])
            continue;
        drudge_buf_printf(b, "%s\"%s\":", k++ ? "," : "", drudge_wait_names[r]);
        drudge_cli_json_time(b, w->next_until[r]);
    }
    drudge_buf_puts(b, "}");
}

static void counts_json(drudge_buf *b, const drudge_script_counts *c, const drudge_wait_counts *w,
                        int64_t now)
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
    drudge_buf_printf(b, "\"unresolved\":%lld,\"finished_last_minute\":%lld",
                      (long long)c->unresolved, (long long)c->done_last_minute);
    waiting_json(b, w);
    drudge_buf_puts(b, ",");
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

/* Queued tasks by why they wait, a row per script with any, and when the
 * soonest of the held ones may go. */
static void waiting_table(const drudge_wait_stats *ws)
{
    if (!ws->n)
        return;
    printf("\n%-24s %8s %8s %8s %8s %8s %8s  %s\n", "WAITING", "READY", "PAUSED", "BREAKER",
           "BACKOFF", "NOT DUE", "WINDOW", "NEXT");
    for (size_t i = 0; i < ws->n; i++) {
        const drudge_wait_counts *w = &ws->scripts[i];
        int64_t next = 0;
        int why = -1;
        for (int r = 1; r < DRUDGE_WAIT_N; r++)
            if (w->next_until[r] && (!next || w->next_until[r] < next)) {
                next = w->next_until[r];
                why = r;
            }
        char ts[40] = "";
        if (next) {
            drudge_fmt_time(next, ts);
            ts[16] = '\0';
        }
        printf("%-24s %8lld %8lld %8lld %8lld %8lld %8lld  %s%s%s%s\n", w->script,
               (long long)w->count[0], (long long)w->count[1], (long long)w->count[2],
               (long long)w->count[3], (long long)w->count[4], (long long)w->count[5],
               why >= 0 ? drudge_wait_names[why] : "", why >= 0 ? " at " : "", ts, next ? "Z" : "");
    }
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
    drudge_wait_stats ws;
    drudge_deadline_summary dl;
    drudge_err err = {0};
    int64_t now = drudge_now_us();
    drudge_code code = drudge_store_begin(st, DRUDGE_TX_READ, &err);
    if (!code)
        code = drudge_store_status(st, now, &s, &err);
    if (!code && (code = drudge_queue_waiting(st, now, NULL, &ws, &err)) != DRUDGE_OK)
        drudge_queue_stats_clear(&s);
    if (!code &&
        (code = drudge_deadline_summarize(st, now, now - STATUS_DEADLINES_US, 0, &dl, &err))) {
        drudge_queue_stats_clear(&s);
        drudge_wait_stats_clear(&ws);
    }
    drudge_store_rollback(st);
    if (code)
        return drudge_cli_done("status", st, code, &err);
    if (cli->json) {
        drudge_buf b = {0};
        drudge_buf_puts(&b, "{\"scripts\":[");
        for (size_t i = 0; i < s.nscripts; i++) {
            if (i)
                drudge_buf_puts(&b, ",");
            counts_json(&b, &s.scripts[i], drudge_wait_stats_find(&ws, s.scripts[i].script), now);
        }
        drudge_buf_puts(&b, "],\"total\":");
        counts_json(&b, &s.total, &ws.total, now);
        deadlines_json(&b, &dl, now - STATUS_DEADLINES_US);
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
        waiting_table(&ws);
        deadlines_table(&dl);
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
    drudge_wait_stats_clear(&ws);
    drudge_queue_stats_clear(&s);
    drudge_deadline_summary_clear(&dl);
    return drudge_cli_done("status", st, code, &err);
}

/* ---- tasks ---- */

static const char tasks_help[] =
    "usage: drudge tasks [TASK|RANGE...] [filters] [--limit N] [--json]\n\n"
    "Lists tasks, newest first. A queued task says why it waits and until when\n"
    "(ready, paused, breaker, backoff, not_due, window); ATTEMPTS is the attempts\n"
    "made, then how many of them count against max_attempts since the last retry.\n"
    "Filters, all of which must hold:\n"
    "  --state S           queued, running, done, failed, dead, cancelled (repeat for several)\n"
    "  --script NAME       of this script\n"
    "  --key K             with exactly this key\n"
    "  --key-prefix P      with a key starting with P\n"
    "  --error TEXT        whose error contains TEXT (ASCII case ignored)\n"
    "  --waiting REASON    queued and waiting for: ready, paused, breaker, backoff,\n"
    "                      not_due, window\n"
    "  --deadline STATUS   with a deadline that is met, missed, at-risk or pending\n"
    "                      (README, Deadlines)\n"
    "  --since T, --until T\n"
    "                      created at or after T / before T (a bare date is a UTC day;\n"
    "                      --until includes it)\n"
    "  --finished-since T, --finished-until T\n"
    "                      finished in that range\n"
    "  --limit N           at most N tasks (default 100)\n";

/* Why an attempt does or does not count against max_attempts; NULL: it
 * counts. counted_left: how many of the counting attempts from here back
 * are still after the last retry (the newest `spent` of them are). */
static const char *not_counted_because(const drudge_attempt_row *a, int *counted_left)
{
    const char *o = a->outcome ? a->outcome : "";
    if (!strcmp(o, "done"))
        return "it succeeded";
    if (!strcmp(o, "failed"))
        return "a business exception (fail) is not retried";
    if (!strcmp(o, "retry"))
        return "retry_later does not spend an attempt";
    if (!strcmp(o, "config"))
        return "a configuration error pauses the script instead";
    if (!strcmp(o, "cancelled"))
        return "cancelled by an operator";
    if (*counted_left > 0) {
        --*counted_left;
        return NULL;
    }
    return "before drudge retry reset the count";
}

/* For each of the n attempts, why it does not count (NULL: it does). */
static void count_reasons(const drudge_task_row *t, const drudge_attempt_row *att, size_t n,
                          const char **why)
{
    int left = t->spent;
    for (size_t i = n; i-- > 0;)
        why[i] = not_counted_because(&att[i], &left);
}

/* ,"waiting":{"reason":...,"until":...,...} for a queued task, null otherwise. */
static void wait_json(drudge_buf *b, const drudge_task_row *t, const drudge_wait_ctx *ctx,
                      int64_t now)
{
    drudge_wait w;
    char text[400];
    drudge_buf_puts(b, ",\"waiting\":");
    if (strcmp(t->state, "queued") != 0) {
        drudge_buf_puts(b, "null");
        return;
    }
    drudge_wait_of(ctx, t, now, &w);
    drudge_wait_describe(&w, text, sizeof text);
    drudge_buf_printf(b, "{\"reason\":\"%s\",\"until\":", drudge_wait_names[w.reason]);
    if (w.until > 0)
        drudge_cli_json_time(b, w.until);
    else
        drudge_buf_puts(b, "null");
    if (w.reason == DRUDGE_WAIT_PAUSED) {
        drudge_buf_puts(b, ",\"paused_by\":");
        drudge_cli_json_str(b, *w.by ? w.by : NULL);
        drudge_buf_puts(b, ",\"paused_at\":");
        drudge_cli_json_time(b, w.since);
        drudge_buf_puts(b, ",\"pause_reason\":");
        drudge_cli_json_str(b, *w.note ? w.note : NULL);
    }
    drudge_buf_puts(b, ",\"text\":");
    drudge_cli_json_str(b, text);
    drudge_buf_puts(b, "}");
}

/* A task's deadline, classified (logs/report/deadline.h). */
typedef struct task_dl {
    drudge_deadline_status st;
    drudge_deadline_why why;
    char target[128]; /* the outage's target when why is outage */
} task_dl;

/* 1 with *dl filled if t has a deadline (deadline.h). */
static int deadline_of(drudge_store *st, const drudge_task_row *t, int64_t now, task_dl *dl)
{
    memset(dl, 0, sizeof *dl);
    return drudge_deadline_of_task(st, t, now, &dl->st, &dl->why, dl->target, sizeof dl->target);
}

/* ,"deadline":TIME,"deadline_status":"missed","deadline_why":"outage",
 * "deadline_outage":"cms.example.org" */
static void deadline_json(drudge_buf *b, drudge_store *st, const drudge_task_row *t, int64_t now)
{
    task_dl dl;
    drudge_buf_puts(b, ",\"deadline\":");
    drudge_cli_json_time(b, t->deadline);
    if (!deadline_of(st, t, now, &dl))
        return;
    drudge_buf_printf(
        b, ",\"deadline_status\":\"%s\",\"deadline_why\":", drudge_deadline_status_name(dl.st));
    drudge_cli_json_str(b, dl.why ? drudge_deadline_why_names[dl.why] : NULL);
    drudge_buf_puts(b, ",\"deadline_outage\":");
    drudge_cli_json_str(b, dl.why == DRUDGE_WHY_OUTAGE ? dl.target : NULL);
}

static void task_json(drudge_buf *b, const drudge_task_row *t, const drudge_wait_ctx *ctx,
                      int64_t now, drudge_store *st)
{
    drudge_buf_printf(b, "{\"id\":%lld,\"script\":", (long long)t->id);
    drudge_cli_json_str(b, t->script);
    drudge_buf_puts(b, ",\"key\":");
    drudge_cli_json_str(b, t->key);
    drudge_buf_puts(b, ",\"state\":");
    drudge_cli_json_str(b, t->state);
    drudge_buf_printf(b,
                      ",\"priority\":%d,\"attempts\":%d,\"counted\":%d,\"spent\":%d,"
                      "\"max_attempts\":%d,",
                      t->priority, t->attempts, t->spent, t->spent, t->max_attempts);
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
    drudge_buf_puts(b, ",\"window\":");
    drudge_cli_json_str(b, t->window);
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
    deadline_json(b, st, t, now);
    wait_json(b, t, ctx, now);
    drudge_buf_puts(b, "}");
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

/* A queued task's WHEN: its reason, and until when ("window until
 * 2026-12-07 08:00Z", "backoff in 4m10s"). */
static void queued_when(const drudge_wait *w, int64_t now, char *out, size_t n)
{
    char age[32], ts[40];
    const char *name = drudge_wait_names[w->reason];
    if (w->reason == DRUDGE_WAIT_PAUSED) {
        snprintf(out, n, "paused%s%s", *w->by ? " by " : " (config error)", w->by);
    } else if (w->until > 0 && w->until - now < 24 * 3600 * (int64_t)1000000) {
        drudge_cli_fmt_age(w->until - now, age, sizeof age);
        snprintf(out, n, "%s, in %s", name, age);
    } else if (w->until > 0) {
        drudge_fmt_time(w->until, ts);
        ts[16] = '\0';
        snprintf(out, n, "%s until %sZ", name, ts);
    } else if (w->until < 0) {
        snprintf(out, n, "%s, not within 8 days", name);
    } else {
        snprintf(out, n, "%s", name);
    }
}

static void tasks_table(const drudge_task_row *rows, size_t n, const drudge_wait_ctx *ctx,
                        int64_t now, drudge_store *st)
{
    printf("%8s  %-9s  %-20s  %-16s  %8s  %4s  %s\n", "ID", "STATE", "SCRIPT", "KEY", "ATTEMPTS",
           "PRIO", "WAITING / FINISHED / ERROR");
    for (size_t i = 0; i < n; i++) {
        const drudge_task_row *t = &rows[i];
        char when[96], err1[80], key[17], att[16];
        first_line(t->key ? t->key : "-", key, sizeof key);
        if (!strcmp(t->state, "queued")) {
            drudge_wait w;
            drudge_wait_of(ctx, t, now, &w);
            queued_when(&w, now, when, sizeof when);
        } else if (t->finished_at) {
            drudge_fmt_time(t->finished_at, when);
            when[19] = '\0';
        } else {
            snprintf(when, sizeof when, "-");
        }
        task_dl dl;
        if (deadline_of(st, t, now, &dl) &&
            (dl.st == DRUDGE_DL_MISSED || dl.st == DRUDGE_DL_AT_RISK)) {
            size_t k = strlen(when);
            snprintf(when + k, sizeof when - k, "  deadline %s (%s)",
                     dl.st == DRUDGE_DL_MISSED ? "missed" : "at risk",
                     drudge_deadline_why_names[dl.why]);
        }
        first_line(t->error, err1, sizeof err1);
        snprintf(att, sizeof att, "%d %d/%d", t->attempts, t->spent, t->max_attempts);
        printf("%8lld  %-9s  %-20.20s  %-16s  %8s  %4d  %s%s%s\n", (long long)t->id, t->state,
               t->script, key, att, t->priority, when, t->error ? "  " : "", t->error ? err1 : "");
    }
}

int drudge_cmd_tasks(drudge_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {DRUDGE_SELECT_LONG_OPTS,
                                         {"limit", required_argument, 0, 'n'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    drudge_task_select sel;
    drudge_select_init(&sel);
    long limit = 100;
    int c, rc = -1;
    int64_t now = drudge_now_us();
    optind = 1;
    opterr = 0;
    while (rc == -1 && (c = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1) {
        if ((rc = drudge_cli_select_opt("tasks", c, optarg, now, &sel)) != 0)
            continue;
        rc = -1;
        switch (c) {
        case 'n':
            if (drudge_cli_parse_long(optarg, 1, 1000000, &limit))
                rc = drudge_cli_usage("tasks", "--limit '%s' is not a number from 1 to 1000000",
                                      optarg);
            break;
        case 'h':
            fputs(tasks_help, stdout);
            rc = DRUDGE_EXIT_OK;
            break;
        case ':':
            rc = drudge_cli_usage("tasks", "%s needs a value", argv[optind - 1]);
            break;
        default:
            rc = drudge_cli_usage("tasks", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (rc == -1)
        rc = drudge_cli_select_ids("tasks", argc, argv, optind, &sel);
    if (rc == -1)
        rc = drudge_cli_select_check("tasks", &sel);
    drudge_store *st = rc == -1 ? drudge_cli_store(cli, "tasks", DRUDGE_STORE_READONLY, &rc) : NULL;
    if (!st) {
        drudge_select_clear(&sel);
        return rc;
    }
    drudge_task_row *rows = NULL;
    drudge_wait_ctx *ctx = NULL;
    size_t n = 0;
    drudge_err err = {0};
    drudge_code code = drudge_store_begin(st, DRUDGE_TX_READ, &err);
    if (!code)
        code = drudge_wait_ctx_load(st, &ctx, &err);
    if (!code)
        code = drudge_queue_select(st, &sel, now, (size_t)limit, 1, &rows, &n, NULL, &err);
    drudge_store_rollback(st);
    drudge_select_clear(&sel);
    if (code) {
        drudge_wait_ctx_free(ctx);
        return drudge_cli_done("tasks", st, code, &err);
    }
    if (cli->json) {
        drudge_buf b = {0};
        drudge_buf_puts(&b, "[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                drudge_buf_puts(&b, ",\n");
            task_json(&b, &rows[i], ctx, now, st);
        }
        drudge_buf_puts(&b, "]\n");
        fputs(b.data, stdout);
        drudge_buf_free(&b);
    } else {
        tasks_table(rows, n, ctx, now, st);
    }
    drudge_wait_ctx_free(ctx);
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
    drudge_wait_ctx *ctx = NULL;
    size_t n = 0;
    drudge_err err = {0};
    int64_t now = drudge_now_us();
    drudge_code code = drudge_store_begin(st, DRUDGE_TX_READ, &err);
    if (!code)
        code = drudge_store_get(st, id, &t, &att, &n, &err);
    if (!code && (code = drudge_wait_ctx_load(st, &ctx, &err)) != DRUDGE_OK) {
        drudge_task_row_clear(&t);
        drudge_attempt_rows_free(att, n);
    }
    drudge_store_rollback(st);
    if (code)
        return drudge_cli_done("show", st, code, &err);
    const char **why = n ? calloc(n, sizeof *why) : NULL;
    if (n)
        count_reasons(&t, att, n, why);
    drudge_buf b = {0};
    if (cli->json) {
        task_json(&b, &t, ctx, now, st);
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
            drudge_buf_printf(
                &b, ",\"counted\":%s,\"not_counted_because\":", why[i] ? "false" : "true");
            drudge_cli_json_str(&b, why[i]);
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
            drudge_wait w;
            char text[400];
            drudge_fmt_time(t.run_at, ts);
            printf("  not before   %s\n", ts);
            drudge_wait_of(ctx, &t, now, &w);
            drudge_wait_describe(&w, text, sizeof text);
            printf("  waiting      %s\n", text);
        }
        if (t.window)
            printf("  run window   %s\n", t.window);
        if (t.deadline) {
            task_dl dl;
            char age[32];
            drudge_fmt_time(t.deadline, ts);
            printf("  deadline     %s", ts);
            if (deadline_of(st, &t, now, &dl)) {
                int64_t by = (t.finished_at && !strcmp(t.state, "done") ? t.finished_at
                              : t.resolved_at                           ? t.resolved_at
                                                                        : now) -
                             t.deadline;
                drudge_cli_fmt_age(by < 0 ? -by : by, age, sizeof age);
                if (dl.st == DRUDGE_DL_MISSED)
                    printf("  missed by %s: %s%s%s", age, drudge_deadline_why_names[dl.why],
                           dl.why == DRUDGE_WHY_OUTAGE ? " of " : "", dl.target);
                else if (dl.st == DRUDGE_DL_AT_RISK)
                    printf("  at risk, %s left: %s%s%s", age, drudge_deadline_why_names[dl.why],
                           dl.why == DRUDGE_WHY_OUTAGE ? " of " : "", dl.target);
                else
                    printf("  %s", dl.st == DRUDGE_DL_MET ? "met" : "pending");
            }
            printf("\n");
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
        printf("  attempts     %d made; %d of %d counted against max_attempts since the last "
               "retry\n",
               t.attempts, t.spent, t.max_attempts);
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
            printf("\n  %3s  %-27s  %10s  %-9s  %-28s  %-7s  %s\n", "#", "STARTED", "DURATION",
                   "OUTCOME", "WORKER", "COUNTED", "ERROR");
        for (size_t i = 0; i < n; i++) {
            drudge_fmt_time(att[i].started_at, ts);
            printf("  %3d  %-27s  %8.1fms  %-9s  %-28s  %-7s  %s\n", att[i].n, ts,
                   (double)(att[i].ended_at - att[i].started_at) / 1000.0, att[i].outcome,
                   att[i].worker, why[i] ? "no" : "yes", att[i].error ? att[i].error : "");
        }
        for (size_t i = 0, shown = 0; i < n; i++)
            if (why[i])
                printf("%s  attempt %d does not count: %s\n", shown++ ? "" : "\n", att[i].n,
                       why[i]);
    }
    drudge_buf_free(&b);
    free(why);
    drudge_wait_ctx_free(ctx);
    drudge_task_row_clear(&t);
    drudge_attempt_rows_free(att, n);
    return drudge_cli_done("show", st, DRUDGE_OK, NULL);
}

/* ---- retry, cancel, pause, resume, resolve ---- */

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

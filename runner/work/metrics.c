/*
 * metrics.c: the database's state in the Prometheus text exposition format
 * (version 0.0.4), printed by `drudge metrics` and served at /metrics by
 * `drudge work --metrics-listen ADDR:PORT` (drudge_metrics_serve, below, on
 * the serve module's text server).
 *
 * Everything is computed from the database at scrape time, so every worker
 * process and the CLI report the same numbers: counters are totals over the
 * whole database (they only fall if tasks are deleted). The step histogram
 * is the exception in how, not what: a scraper adds up only the steps
 * appended since its last scrape (steps are append-only), so a server's
 * totals stay exact while a scrape of a database with millions of steps
 * costs what was added since the one before, not a read of all of them.
 *
 * A scrape reads everything in one read transaction, then writes the text:
 * the families below, in this order, with these names, labels and HELP
 * texts, are what dashboards and alerts are built on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "connectors/serve/serve.h"
#include "logs/report/deadline.h"
#include "runner/queue/waiting.h"
#include "runner/work/metrics.h"
#include "runner/work/schedule.h"

/* Step durations: from a fast local call to a slow desktop screen. */
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                 1,     2.5,  5,     10,   30,  60,   300};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

typedef struct step_kind {
    char *kind;
    int64_t count;
    int64_t in[NBUCKETS]; /* in bucket i and not below: rendered cumulative */
    double sum_us;
} step_kind;

struct drudge_metrics {
    int64_t last_step; /* the newest step added up */
    step_kind *kinds;  /* sorted by kind */
    size_t nkinds;
};

drudge_metrics *drudge_metrics_new(void)
{
    drudge_metrics *m = drudge_xmalloc(sizeof *m);
    memset(m, 0, sizeof *m);
    return m;
}

void drudge_metrics_free(drudge_metrics *m)
{
    if (!m)
        return;
    while (m->nkinds)
        free(m->kinds[--m->nkinds].kind);
    free(m->kinds);
    free(m);
}

/* ---- the step histogram ---- */

static step_kind *kind_of(drudge_metrics *m, const char *kind)
{
    size_t lo = 0, hi = m->nkinds;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(m->kinds[mid].kind, kind);
        if (!c)
            return &m->kinds[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    m->kinds = drudge_xrealloc(m->kinds, (m->nkinds + 1) * sizeof *m->kinds);
    memmove(&m->kinds[lo + 1], &m->kinds[lo], (m->nkinds - lo) * sizeof *m->kinds);
    memset(&m->kinds[lo], 0, sizeof *m->kinds);
    m->kinds[lo].kind = drudge_xstrdup(kind);
    m->nkinds++;
    return &m->kinds[lo];
}

/* A step read by the store since the last scrape. */
static void add_step(void *ud, int64_t id, const char *kind, int64_t us)
{
    drudge_metrics *m = ud;
    step_kind *k = kind_of(m, kind);
    m->last_step = id;
    k->count++;
    k->sum_us += (double)us;
    for (size_t i = 0; i < NBUCKETS; i++)
        if (us <= (int64_t)(buckets[i] * 1e6 + 0.5)) {
            k->in[i]++;
            break;
        }
}

/* ---- the text format ---- */

/* A label value with \\, \" and \n escaped, as the format requires. */
static void label(drudge_buf *b, const char *s)
{
    drudge_buf_puts(b, "\"");
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            drudge_buf_printf(b, "\\%c", *s);
        else if (*s == '\n')
            drudge_buf_puts(b, "\\n");
        else
            drudge_buf_add(b, s, 1);
    }
    drudge_buf_puts(b, "\"");
}

static void header(drudge_buf *b, const char *name, const char *type, const char *help)
{
    drudge_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void number(drudge_buf *b, double v)
{
    drudge_buf_printf(b, "%.15g\n", v);
}

/* NAME{LABEL="value"} and a space, before the sample's value. */
static void sample(drudge_buf *b, const char *name, const char *lbl, const char *value)
{
    drudge_buf_printf(b, "%s{%s=", name, lbl);
    label(b, value);
    drudge_buf_puts(b, "} ");
}

static void render_tasks(drudge_buf *b, const drudge_metrics_data *d)
{
    header(b, "drudge_tasks", "gauge", "Tasks by script and state.");
    for (size_t i = 0; i < d->nscripts; i++) {
        const drudge_metrics_script *sc = &d->scripts[i];
        for (int k = 0; k < DRUDGE_NSTATES && sc->tasks; k++) {
            drudge_buf_puts(b, "drudge_tasks{script=");
            label(b, sc->script);
            drudge_buf_printf(b, ",state=\"%s\"} %lld\n", drudge_task_states[k],
                              (long long)sc->count[k]);
        }
    }
}

static void render_attempts(drudge_buf *b, const drudge_metrics_data *d)
{
    header(b, "drudge_attempts_total", "counter",
           "Attempts by script and outcome (done, failed, error, timeout, memory, retry, lost, "
           "cancelled).");
    for (size_t i = 0; i < d->noutcomes; i++) {
        drudge_buf_puts(b, "drudge_attempts_total{script=");
        label(b, d->outcomes[i].script);
        drudge_buf_puts(b, ",outcome=");
        label(b, d->outcomes[i].outcome);
        drudge_buf_printf(b, "} %lld\n", (long long)d->outcomes[i].count);
    }
}

static void render_steps(drudge_buf *b, const drudge_metrics *m)
{
    static const char bucket[] = "drudge_step_duration_seconds_bucket";
    header(b, "drudge_step_duration_seconds", "histogram",
           "Durations of recorded steps by kind (task, step, http, desktop, log, ...).");
    for (size_t j = 0; j < m->nkinds; j++) {
        const step_kind *k = &m->kinds[j];
        int64_t le = 0;
        for (size_t i = 0; i < NBUCKETS; i++) {
            le += k->in[i];
            drudge_buf_printf(b, "%s{kind=", bucket);
            label(b, k->kind);
            drudge_buf_printf(b, ",le=\"%g\"} %lld\n", buckets[i], (long long)le);
        }
        drudge_buf_printf(b, "%s{kind=", bucket);
        label(b, k->kind);
        drudge_buf_printf(b, ",le=\"+Inf\"} %lld\n", (long long)k->count);
        sample(b, "drudge_step_duration_seconds_sum", "kind", k->kind);
        number(b, k->sum_us / 1e6);
        sample(b, "drudge_step_duration_seconds_count", "kind", k->kind);
        drudge_buf_printf(b, "%lld\n", (long long)k->count);
    }
}

static double net_minutes(const drudge_metrics_script *sc)
{
    return sc->gross_minutes - sc->lost_minutes;
}

static double gross_minutes(const drudge_metrics_script *sc)
{
    return sc->gross_minutes;
}

static double lost_minutes(const drudge_metrics_script *sc)
{
    return sc->lost_minutes;
}

/* The three time-saved families, over the scripts with tasks. */
static void render_minutes(drudge_buf *b, const drudge_metrics_data *d)
{
    static const struct {
        const char *name, *type, *help;
        double (*value)(const drudge_metrics_script *sc);
    } families[] = {
        {"drudge_time_saved_minutes", "gauge",
         "Staff minutes saved so far, net: manual_minutes of done tasks minus "
         "exception_minutes of failed and dead ones.",
         net_minutes},
        {"drudge_manual_minutes_total", "counter",
         "Gross staff minutes saved: manual_minutes of done tasks.", gross_minutes},
        {"drudge_exception_minutes_total", "counter",
         "Staff minutes lost to exceptions: exception_minutes of failed and dead tasks.",
         lost_minutes},
    };
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        header(b, families[f].name, families[f].type, families[f].help);
        for (size_t i = 0; i < d->nscripts; i++) {
            if (!d->scripts[i].tasks)
                continue;
            sample(b, families[f].name, "script", d->scripts[i].script);
            number(b, families[f].value(&d->scripts[i]));
        }
    }
}

/* The queue's gauges. The oldest-due gauge counts only tasks a worker could
 * claim now (from their run_at, or from when their run window last opened),
 * so that a paused script, a closed window or an open breaker does not
 * page anyone; held tasks have gauges of their own, by reason. */
static void render_queue(drudge_buf *b, const drudge_metrics_data *d, const drudge_wait_stats *ws,
                         int64_t now)
{
    header(b, "drudge_queue_oldest_due_seconds", "gauge",
           "How long the oldest queued task a worker could claim now has been claimable "
           "(since its run_at, or since its run window opened); held tasks are not counted.");
    for (size_t i = 0; i < ws->n; i++)
        if (ws->scripts[i].ready_since) {
            sample(b, "drudge_queue_oldest_due_seconds", "script", ws->scripts[i].script);
            number(b, (double)(now - ws->scripts[i].ready_since) / 1e6);
        }
    header(b, "drudge_queue_waiting_tasks", "gauge",
           "Queued tasks not running, by why they wait: ready, paused, breaker, backoff, "
           "not_due, window.");
    for (size_t i = 0; i < ws->n; i++)
        for (int r = 0; r < DRUDGE_WAIT_N; r++) {
            drudge_buf_puts(b, "drudge_queue_waiting_tasks{script=");
            label(b, ws->scripts[i].script);
            drudge_buf_printf(b, ",reason=\"%s\"} %lld\n", drudge_wait_names[r],
                              (long long)ws->scripts[i].count[r]);
        }
    header(b, "drudge_queue_oldest_held_seconds", "gauge",
           "How long the oldest task that is due by the clock but held (paused, breaker, "
           "window) has been due.");
    for (size_t i = 0; i < ws->n; i++)
        for (int r = 1; r < DRUDGE_WAIT_N; r++) {
            if (!ws->scripts[i].held_due_since[r])
                continue;
            drudge_buf_puts(b, "drudge_queue_oldest_held_seconds{script=");
            label(b, ws->scripts[i].script);
            drudge_buf_printf(b, ",reason=\"%s\"} ", drudge_wait_names[r]);
            number(b, (double)(now - ws->scripts[i].held_due_since[r]) / 1e6);
        }
    header(b, "drudge_script_paused", "gauge", "1 for each script paused with drudge pause.");
    for (size_t i = 0; i < d->nscripts; i++)
        if (d->scripts[i].paused) {
            sample(b, "drudge_script_paused", "script", d->scripts[i].script);
            drudge_buf_puts(b, "1\n");
        }
}

static void render_schedules(drudge_buf *b, const drudge_schedule *list, int n, int64_t now)
{
    header(b, "drudge_schedule_paused", "gauge", "1 if the schedule is paused.");
    for (int i = 0; i < n; i++) {
        sample(b, "drudge_schedule_paused", "schedule", list[i].name);
        drudge_buf_printf(b, "%d\n", list[i].paused);
    }
    header(b, "drudge_schedule_last_tick_timestamp_seconds", "gauge",
           "Unix time of the newest tick the schedule handled.");
    for (int i = 0; i < n; i++) {
        sample(b, "drudge_schedule_last_tick_timestamp_seconds", "schedule", list[i].name);
        drudge_buf_printf(b, "%lld\n", (long long)(list[i].last_tick / 1000000));
    }
    header(b, "drudge_schedule_next_fire_timestamp_seconds", "gauge",
           "Unix time of the schedule's next tick (absent while paused).");
    for (int i = 0; i < n; i++) {
        int64_t next = list[i].paused ? -1 : drudge_schedule_next(list[i].cron, list[i].tz, now);
        if (next < 0)
            continue;
        sample(b, "drudge_schedule_next_fire_timestamp_seconds", "schedule", list[i].name);
        drudge_buf_printf(b, "%lld\n", (long long)(next / 1000000));
    }
}

/* Outages per target: whether its breaker is open now, and the seconds of
 * every outage on record (the open one up to now). */
typedef struct target_outages {
    struct target_row {
        char *target;
        int open;
        int64_t outages, us;
    } * v;
    size_t n;
    int64_t now;
} target_outages;

static int add_outage(void *ud, const drudge_outage_row *o)
{
    target_outages *t = ud;
    size_t i = 0;
    while (i < t->n && strcmp(t->v[i].target, o->target) != 0)
        i++;
    if (i == t->n) {
        t->v = drudge_xrealloc(t->v, (t->n + 1) * sizeof *t->v);
        t->v[t->n++] = (struct target_row){.target = drudge_xstrdup(o->target)};
    }
    int64_t end = o->ended_at ? o->ended_at : t->now;
    t->v[i].open |= !o->ended_at;
    t->v[i].outages++;
    t->v[i].us += end > o->started_at ? end - o->started_at : 0;
    return 0;
}

static void target_outages_free(target_outages *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].target);
    free(t->v);
}

static void render_outages(drudge_buf *b, const target_outages *t)
{
    header(b, "drudge_target_down", "gauge",
           "1 while the target's circuit breaker is open (drudge outages), else 0.");
    for (size_t i = 0; i < t->n; i++) {
        sample(b, "drudge_target_down", "target", t->v[i].target);
        drudge_buf_printf(b, "%d\n", t->v[i].open);
    }
    header(b, "drudge_target_outages_total", "counter",
           "Outages on record per target (each opening of its circuit breaker).");
    for (size_t i = 0; i < t->n; i++) {
        sample(b, "drudge_target_outages_total", "target", t->v[i].target);
        drudge_buf_printf(b, "%lld\n", (long long)t->v[i].outages);
    }
    header(b, "drudge_outage_seconds_total", "counter",
           "Seconds the target was down, from the first error of each outage to its end "
           "(an open one: to now).");
    for (size_t i = 0; i < t->n; i++) {
        sample(b, "drudge_outage_seconds_total", "target", t->v[i].target);
        number(b, (double)t->v[i].us / 1e6);
    }
}

/* Deadlines of the last 24 hours on, as status shows them (deadline.h). */
#define DEADLINES_US (24LL * 3600 * 1000000)

static void render_deadlines(drudge_buf *b, const drudge_deadline_summary *d)
{
    header(b, "drudge_deadline_tasks", "gauge",
           "Tasks with a deadline from 24 hours ago on, by script and status (met, pending, "
           "at_risk, missed).");
    for (size_t i = 0; i < d->nscripts; i++) {
        const drudge_deadline_counts *c = &d->scripts[i];
        const int64_t v[] = {c->pending, c->met, c->at_risk, c->missed};
        for (int k = 0; k < 4; k++) {
            drudge_buf_puts(b, "drudge_deadline_tasks{script=");
            label(b, c->script);
            drudge_buf_printf(b, ",status=\"%s\"} %lld\n",
                              drudge_deadline_status_name((drudge_deadline_status)k),
                              (long long)v[k]);
        }
    }
    header(b, "drudge_deadline_missed", "gauge",
           "Missed deadlines from 24 hours ago on, by script and why (outage, failure, queue).");
    for (size_t i = 0; i < d->nscripts; i++)
        for (int w = 1; w < DRUDGE_WHY_N; w++) {
            drudge_buf_puts(b, "drudge_deadline_missed{script=");
            label(b, d->scripts[i].script);
            drudge_buf_printf(b, ",why=\"%s\"} %lld\n", drudge_deadline_why_names[w],
                              (long long)d->scripts[i].missed_by[w]);
        }
}

/* Notifications on record (runner/work/notify.h): sent, given up, waiting. */
typedef struct notify_counts {
    int64_t sent, failed, pending;
} notify_counts;

static void render_notifications(drudge_buf *b, const notify_counts *nc)
{
    header(b, "drudge_notifications_total", "counter",
           "Notifications (drudge notify) by outcome: sent, or given up after their retries.");
    drudge_buf_printf(b, "drudge_notifications_total{outcome=\"sent\"} %lld\n",
                      (long long)nc->sent);
    drudge_buf_printf(b, "drudge_notifications_total{outcome=\"failed\"} %lld\n",
                      (long long)nc->failed);
    header(b, "drudge_notifications_pending", "gauge",
           "Notifications not yet sent (waiting for a sender, or to be tried again).");
    drudge_buf_printf(b, "drudge_notifications_pending %lld\n", (long long)nc->pending);
}

/* ---- a scrape ---- */

/* Everything a scrape shows, from one snapshot; the histogram is brought up
 * to date on the way. */
static drudge_code scrape_read(drudge_metrics *m, drudge_store *s, int64_t now,
                               drudge_metrics_data *d, drudge_wait_stats *ws,
                               drudge_schedule **list, int *n, target_outages *to,
                               drudge_deadline_summary *dl, notify_counts *nc, drudge_err *err)
{
    drudge_code rc = drudge_store_begin(s, DRUDGE_TX_READ, err);
    if (rc)
        return rc;
    rc = drudge_store_metrics(s, now, m->last_step + 1, add_step, m, d, err);
    if (!rc)
        rc = drudge_queue_waiting(s, now, NULL, ws, err);
    if (!rc)
        rc = drudge_store_schedules(s, 0, list, n, err);
    to->now = now;
    if (!rc)
        rc = drudge_store_outages(s, 0, add_outage, to, err);
    if (!rc)
        rc = drudge_deadline_summarize(s, now, now - DEADLINES_US, 0, dl, err);
    if (!rc)
        rc = drudge_store_notify_counts(s, 0, &nc->sent, &nc->failed, &nc->pending, err);
    if (!rc)
        rc = drudge_store_commit(s, err);
    if (rc)
        drudge_store_rollback(s);
    return rc;
}

drudge_code drudge_metrics_scrape(drudge_metrics *m, drudge_store *s, int64_t now, drudge_buf *out,
                                  drudge_err *err)
{
    drudge_metrics_data d = {0};
    drudge_wait_stats ws = {0};
    drudge_schedule *list = NULL;
    int n = 0;
    target_outages to = {0};
    drudge_deadline_summary dl = {0};
    notify_counts nc = {0};
    drudge_code rc = scrape_read(m, s, now, &d, &ws, &list, &n, &to, &dl, &nc, err);
    if (rc)
        goto cleanup;
    render_tasks(out, &d);
    render_attempts(out, &d);
    render_steps(out, m);
    render_minutes(out, &d);
    render_queue(out, &d, &ws, now);
    render_schedules(out, list, n, now);
    render_outages(out, &to);
    render_deadlines(out, &dl);
    render_notifications(out, &nc);
cleanup:
    drudge_deadline_summary_clear(&dl);
    target_outages_free(&to);
    drudge_metrics_data_clear(&d);
    drudge_wait_stats_clear(&ws);
    drudge_schedule_list_free(list, n);
    return rc;
}

drudge_code drudge_metrics_render(drudge_store *s, drudge_buf *out, drudge_err *err)
{
    drudge_metrics *m = drudge_metrics_new();
    drudge_code rc = drudge_metrics_scrape(m, s, drudge_now_us(), out, err);
    drudge_metrics_free(m);
    return rc;
}

/* ---- the /metrics endpoint ---- */

struct drudge_metrics_server {
    drudge_text_server *http;
    drudge_store *s;   /* read-only; used only by the server's one thread */
    drudge_metrics *m; /* likewise: carried from scrape to scrape */
};

static drudge_code serve_scrape(void *ud, drudge_buf *out, drudge_err *err)
{
    drudge_metrics_server *ms = ud;
    return drudge_metrics_scrape(ms->m, ms->s, drudge_now_us(), out, err);
}

static void server_free(drudge_metrics_server *ms)
{
    drudge_metrics_free(ms->m);
    drudge_store_close(ms->s);
    free(ms);
}

drudge_code drudge_metrics_serve(const char *db_path, const char *listen,
                                 drudge_metrics_server **out, drudge_err *err)
{
    drudge_metrics_server *ms = drudge_xmalloc(sizeof *ms);
    memset(ms, 0, sizeof *ms);
    *out = NULL;
    drudge_code rc = drudge_store_open(db_path, DRUDGE_STORE_READONLY, &ms->s, err);
    if (rc) {
        server_free(ms);
        return rc;
    }
    ms->m = drudge_metrics_new();
    drudge_text_opts o = {.listen = listen,
                          .option = "--metrics-listen",
                          .path = "/metrics",
                          .content_type = "text/plain; version=0.0.4; charset=utf-8",
                          .what = "metrics",
                          .fn = serve_scrape,
                          .ud = ms};
    rc = drudge_text_serve(&o, &ms->http, err);
    if (rc) {
        server_free(ms);
        return rc;
    }
    *out = ms;
    return DRUDGE_OK;
}

void drudge_metrics_stop(drudge_metrics_server *ms)
{
    if (!ms)
        return;
    drudge_text_stop(ms->http); /* joins the server's thread first */
    server_free(ms);
}

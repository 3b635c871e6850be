/*
 * metrics.c: the database's state in the Prometheus text exposition format
 * (version 0.0.4), printed by `drudge metrics` and served at /metrics by
 * `drudge work --metrics-listen ADDR:PORT`.
 *
 * Everything is computed from the tables at scrape time, so every worker
 * process and the CLI report the same numbers: counters are totals over the
 * whole database (they only fall if tasks are deleted). The step histogram
 * is the exception in how, not what: a server adds up only the steps
 * appended since its last scrape (see steps_hist).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>
#include "runner/store/db.h"
#include "connectors/serve/serve.h"
#include "runner/store/sqlite/sqliteint.h" /* TRANSITION */
#include "runner/work/schedule.h"
#include "drudge/util.h"

static const char *const task_states[] = {"queued", "running", "done",
                                          "failed", "dead",    "cancelled"};
/* Step durations: from a fast local call to a slow desktop screen. */
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                 1,     2.5,  5,     10,   30,  60,   300};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

/* A label value with \\, \" and \n escaped, as the format requires. */
static void label(drudge_buf *b, const unsigned char *s)
{
    drudge_buf_puts(b, "\"");
    for (; s && *s; s++) {
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

typedef drudge_code (*row_fn)(drudge_buf *b, sqlite3_stmt *st);

static drudge_code each_row(sqlite3 *db, const char *sql, drudge_buf *b, row_fn fn, drudge_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return drudge_db_err(db, "metrics", err);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        fn(b, st);
    drudge_code rc = r == SQLITE_DONE ? DRUDGE_OK : drudge_db_err(db, "metrics", err);
    sqlite3_finalize(st);
    return rc;
}

static drudge_code task_row(drudge_buf *b, sqlite3_stmt *st)
{
    /* script, then one count per state in task_states order */
    for (size_t i = 0; i < sizeof task_states / sizeof task_states[0]; i++) {
        drudge_buf_puts(b, "drudge_tasks{script=");
        label(b, sqlite3_column_text(st, 0));
        drudge_buf_printf(b, ",state=\"%s\"} %lld\n", task_states[i],
                          (long long)sqlite3_column_int64(st, 1 + (int)i));
    }
    return DRUDGE_OK;
}

static drudge_code attempt_row(drudge_buf *b, sqlite3_stmt *st)
{
    drudge_buf_puts(b, "drudge_attempts_total{script=");
    label(b, sqlite3_column_text(st, 0));
    drudge_buf_puts(b, ",outcome=");
    label(b, sqlite3_column_text(st, 1));
    drudge_buf_printf(b, "} %lld\n", (long long)sqlite3_column_int64(st, 2));
    return DRUDGE_OK;
}

/* The step-duration histogram, kept per kind and brought up to date by
 * reading only the steps appended since the last scrape: steps are
 * append-only (triggers forbid UPDATE and DELETE), so a server's totals stay
 * exact while a scrape of a database with millions of steps costs what was
 * added since the one before, not a scan of all of them. */
typedef struct step_kind {
    char *kind;
    int64_t count, le[NBUCKETS];
    double sum_us;
} step_kind;

typedef struct steps_hist {
    int64_t last_id;
    step_kind *kinds; /* sorted by kind */
    size_t n;
} steps_hist;

static void steps_hist_clear(steps_hist *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->kinds[i].kind);
    free(h->kinds);
    memset(h, 0, sizeof *h);
}

static step_kind *kind_of(steps_hist *h, const char *kind)
{
    size_t lo = 0, hi = h->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(h->kinds[mid].kind, kind);
        if (!c)
            return &h->kinds[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    h->kinds = drudge_xrealloc(h->kinds, (h->n + 1) * sizeof *h->kinds);
    memmove(&h->kinds[lo + 1], &h->kinds[lo], (h->n - lo) * sizeof *h->kinds);
    memset(&h->kinds[lo], 0, sizeof *h->kinds);
    h->kinds[lo].kind = drudge_xstrdup(kind);
    h->n++;
    return &h->kinds[lo];
}

static drudge_code steps_hist_update(sqlite3 *db, steps_hist *h, drudge_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id, kind, duration_us FROM steps WHERE id > ? ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return drudge_db_err(db, "metrics", err);
    sqlite3_bind_int64(st, 1, h->last_id);
    int r;
    step_kind *k = NULL;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(st, 1);
        int64_t us = sqlite3_column_int64(st, 2);
        h->last_id = sqlite3_column_int64(st, 0);
        if (!k || strcmp(k->kind, kind ? kind : ""))
            k = kind_of(h, kind ? kind : "");
        k->count++;
        k->sum_us += (double)us;
        for (size_t i = 0; i < NBUCKETS; i++)
            if (us <= (int64_t)(buckets[i] * 1e6 + 0.5))
                k->le[i]++;
    }
    drudge_code rc = r == SQLITE_DONE ? DRUDGE_OK : drudge_db_err(db, "metrics", err);
    sqlite3_finalize(st);
    return rc;
}

static void steps_hist_render(drudge_buf *b, const steps_hist *h)
{
    for (size_t j = 0; j < h->n; j++) {
        const step_kind *k = &h->kinds[j];
        const unsigned char *kind = (const unsigned char *)k->kind;
        for (size_t i = 0; i < NBUCKETS; i++) {
            drudge_buf_puts(b, "drudge_step_duration_seconds_bucket{kind=");
            label(b, kind);
            drudge_buf_printf(b, ",le=\"%g\"} %lld\n", buckets[i], (long long)k->le[i]);
        }
        drudge_buf_puts(b, "drudge_step_duration_seconds_bucket{kind=");
        label(b, kind);
        drudge_buf_printf(b, ",le=\"+Inf\"} %lld\n", (long long)k->count);
        drudge_buf_puts(b, "drudge_step_duration_seconds_sum{kind=");
        label(b, kind);
        drudge_buf_puts(b, "} ");
        number(b, k->sum_us / 1e6);
        drudge_buf_puts(b, "drudge_step_duration_seconds_count{kind=");
        label(b, kind);
        drudge_buf_printf(b, "} %lld\n", (long long)k->count);
    }
}

/* One sample of a per-script family: NAME{script="..."} VALUE */
static void script_sample(drudge_buf *b, const char *name, sqlite3_stmt *st, double v)
{
    drudge_buf_printf(b, "%s{script=", name);
    label(b, sqlite3_column_text(st, 0));
    drudge_buf_puts(b, "} ");
    number(b, v);
}

static drudge_code saved_row(drudge_buf *b, sqlite3_stmt *st)
{
    script_sample(b, "drudge_time_saved_minutes", st,
                  sqlite3_column_double(st, 1) - sqlite3_column_double(st, 2));
    return DRUDGE_OK;
}

static drudge_code gross_row(drudge_buf *b, sqlite3_stmt *st)
{
    script_sample(b, "drudge_manual_minutes_total", st, sqlite3_column_double(st, 1));
    return DRUDGE_OK;
}

static drudge_code lost_row(drudge_buf *b, sqlite3_stmt *st)
{
    script_sample(b, "drudge_exception_minutes_total", st, sqlite3_column_double(st, 2));
    return DRUDGE_OK;
}

static drudge_code oldest_row(drudge_buf *b, sqlite3_stmt *st)
{
    script_sample(b, "drudge_queue_oldest_due_seconds", st, sqlite3_column_double(st, 1) / 1e6);
    return DRUDGE_OK;
}

static drudge_code paused_row(drudge_buf *b, sqlite3_stmt *st)
{
    drudge_buf_puts(b, "drudge_script_paused{script=");
    label(b, sqlite3_column_text(st, 0));
    drudge_buf_puts(b, "} 1\n");
    return DRUDGE_OK;
}

static drudge_code sched_paused_row(drudge_buf *b, sqlite3_stmt *st)
{
    drudge_buf_puts(b, "drudge_schedule_paused{schedule=");
    label(b, sqlite3_column_text(st, 0));
    drudge_buf_printf(b, "} %d\n", sqlite3_column_int(st, 3));
    return DRUDGE_OK;
}

static drudge_code sched_last_row(drudge_buf *b, sqlite3_stmt *st)
{
    drudge_buf_puts(b, "drudge_schedule_last_tick_timestamp_seconds{schedule=");
    label(b, sqlite3_column_text(st, 0));
    drudge_buf_printf(b, "} %lld\n", (long long)(sqlite3_column_int64(st, 4) / 1000000));
    return DRUDGE_OK;
}

static drudge_code sched_next_row(drudge_buf *b, sqlite3_stmt *st)
{
    if (sqlite3_column_int(st, 3))
        return DRUDGE_OK; /* paused: no next fire */
    int64_t next = drudge_schedule_next((const char *)sqlite3_column_text(st, 1),
                                        (const char *)sqlite3_column_text(st, 2), drudge_now_us());
    if (next >= 0) {
        drudge_buf_puts(b, "drudge_schedule_next_fire_timestamp_seconds{schedule=");
        label(b, sqlite3_column_text(st, 0));
        drudge_buf_printf(b, "} %lld\n", (long long)(next / 1000000));
    }
    return DRUDGE_OK;
}

static drudge_code render(sqlite3 *db, steps_hist *hist, struct drudge_buf *out, drudge_err *err)
{
    drudge_code rc;
    drudge_buf gross = {0}, lost = {0};
    /* One read transaction: every number comes from the same snapshot. */
    if ((rc = drudge_db_exec(db, "BEGIN", err)))
        return rc;

    header(out, "drudge_tasks", "gauge", "Tasks by script and state.");
    rc = each_row(db,
                  "SELECT script, sum(state = 'queued'), sum(state = 'running'), "
                  "sum(state = 'done'), sum(state = 'failed'), sum(state = 'dead'), "
                  "sum(state = 'cancelled') FROM task_state GROUP BY script ORDER BY script",
                  out, task_row, err);
    if (rc)
        goto cleanup;

    header(out, "drudge_attempts_total", "counter",
           "Attempts by script and outcome (done, failed, error, timeout, memory, retry, lost, "
           "cancelled).");
    rc = each_row(db,
                  "SELECT t.script, a.outcome, count(*) FROM attempts a JOIN tasks t "
                  "ON t.id = a.task_id GROUP BY t.script, a.outcome ORDER BY 1, 2",
                  out, attempt_row, err);
    if (rc)
        goto cleanup;

    header(out, "drudge_step_duration_seconds", "histogram",
           "Durations of recorded steps by kind (task, step, http, desktop, log, ...).");
    if ((rc = steps_hist_update(db, hist, err)))
        goto cleanup;
    steps_hist_render(out, hist);

    static const char saved_sql[] =
        "SELECT script, total(CASE WHEN state = 'done' THEN manual_minutes END), "
        "total(CASE WHEN state IN ('failed','dead') THEN exception_minutes END) "
        "FROM tasks GROUP BY script ORDER BY script";
    /* One scan of the tasks for the three families. */
    header(out, "drudge_time_saved_minutes", "gauge",
           "Staff minutes saved so far, net: manual_minutes of done tasks minus "
           "exception_minutes of failed and dead ones.");
    header(&gross, "drudge_manual_minutes_total", "counter",
           "Gross staff minutes saved: manual_minutes of done tasks.");
    header(&lost, "drudge_exception_minutes_total", "counter",
           "Staff minutes lost to exceptions: exception_minutes of failed and dead tasks.");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, saved_sql, -1, &st, NULL) != SQLITE_OK) {
        rc = drudge_db_err(db, "metrics", err);
        goto cleanup;
    }
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        saved_row(out, st);
        gross_row(&gross, st);
        lost_row(&lost, st);
    }
    rc = r == SQLITE_DONE ? DRUDGE_OK : drudge_db_err(db, "metrics", err);
    sqlite3_finalize(st);
    if (rc)
        goto cleanup;
    drudge_buf_add(out, gross.data, gross.len);
    drudge_buf_add(out, lost.data, lost.len);

    header(out, "drudge_queue_oldest_due_seconds", "gauge",
           "How long the oldest due queued task of a script has waited past its run_at.");
    char oldest_sql[256];
    snprintf(oldest_sql, sizeof oldest_sql,
             "SELECT script, %lld - min(run_at) FROM tasks WHERE state = 'queued' AND "
             "run_at <= %lld GROUP BY script ORDER BY script",
             (long long)drudge_now_us(), (long long)drudge_now_us());
    if ((rc = each_row(db, oldest_sql, out, oldest_row, err)))
        goto cleanup;

    header(out, "drudge_script_paused", "gauge", "1 for each script paused with drudge pause.");
    if ((rc = each_row(db, "SELECT script FROM paused ORDER BY script", out, paused_row, err)))
        goto cleanup;

    static const char sched_sql[] =
        "SELECT name, cron, tz, paused, last_tick FROM schedules ORDER BY name";
    header(out, "drudge_schedule_paused", "gauge", "1 if the schedule is paused.");
    if ((rc = each_row(db, sched_sql, out, sched_paused_row, err)))
        goto cleanup;
    header(out, "drudge_schedule_last_tick_timestamp_seconds", "gauge",
           "Unix time of the newest tick the schedule handled.");
    if ((rc = each_row(db, sched_sql, out, sched_last_row, err)))
        goto cleanup;
    header(out, "drudge_schedule_next_fire_timestamp_seconds", "gauge",
           "Unix time of the schedule's next tick (absent while paused).");
    rc = each_row(db, sched_sql, out, sched_next_row, err);
cleanup:
    drudge_buf_free(&gross);
    drudge_buf_free(&lost);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return rc;
}

drudge_code drudge_metrics_render(drudge_store *st, drudge_buf *out, drudge_err *err)
{
    steps_hist h = {0};
    drudge_code rc = render(drudge_store_sqlite3(st), &h, out, err);
    steps_hist_clear(&h);
    return rc;
}

/* ---- the HTTP endpoint ---- */

struct drudge_metrics_server {
    struct MHD_Daemon *daemon;
    drudge_store *db; /* read-only; used only by the daemon's one thread */
    steps_hist hist; /* likewise: carried from scrape to scrape */
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             char *body /* taken */)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    drudge_metrics_server *s = cls;
    (void)version;
    (void)upload;
    (void)con_cls;
    if (*upload_size)
        return MHD_NO; /* nothing here takes a body */
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
                     drudge_xstrdup("only GET /metrics\n"));
    if (strcmp(url, "/metrics"))
        return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain",
                     drudge_xstrdup("drudge serves its metrics at /metrics\n"));
    drudge_buf b = {0};
    drudge_err err = {0};
    if (render(drudge_store_sqlite3(s->db), &s->hist, &b, &err)) {
        drudge_buf_free(&b);
        drudge_buf_printf(&b, "metrics: %s\n", err.msg);
        return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", drudge_buf_take(&b));
    }
    return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                 drudge_buf_take(&b));
}

/* "127.0.0.1:9464", "[::1]:9464", ":9464" or "9464" (loopback). */
static drudge_code parse_listen(const char *listen, struct sockaddr_storage *sa, socklen_t *len,
                                drudge_err *err)
{
    char host[128];
    const char *colon = strrchr(listen, ':'), *port_s = colon ? colon + 1 : listen;
    size_t hl = colon ? (size_t)(colon - listen) : 0;
    char *end;
    long port = strtol(port_s, &end, 10);
    if (!*port_s || *end || port < 1 || port > 65535 || hl >= sizeof host)
        return drudge_seterr(err, DRUDGE_EINPUT,
                             "--metrics-listen '%s': want ADDR:PORT, e.g. 127.0.0.1:9464", listen);
    memcpy(host, listen, hl);
    host[hl] = '\0';
    if (!*host)
        strcpy(host, "127.0.0.1");
    memset(sa, 0, sizeof *sa);
    if (host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)sa;
        host[hl - 1] = '\0';
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            goto bad_addr;
        *len = sizeof *a6;
        return DRUDGE_OK;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        goto bad_addr;
    *len = sizeof *a4;
    return DRUDGE_OK;
bad_addr:
    return drudge_seterr(err, DRUDGE_EINPUT,
                         "--metrics-listen '%s': '%s' is not an IP address (use 127.0.0.1, "
                         "0.0.0.0 or [::1])",
                         listen, host);
}

drudge_code drudge_metrics_serve(const char *db_path, const char *addr, drudge_metrics_server **out,
                                 drudge_err *err)
{
    struct sockaddr_storage sa;
    socklen_t salen = 0;
    drudge_code rc;
    int fd = -1, one = 1;
    *out = NULL;
    if ((rc = parse_listen(addr, &sa, &salen, err)))
        return rc;
    drudge_metrics_server *s = calloc(1, sizeof *s);
    if (!s)
        return drudge_seterr(err, DRUDGE_ENOMEM, "out of memory");
    if ((rc = drudge_store_open(db_path, DRUDGE_STORE_READONLY, &s->db, err)))
        goto fail;
    /* Bind ourselves: MHD would not say why a bind failed. */
    fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(fd, (struct sockaddr *)&sa, salen) || listen(fd, 16)) {
        rc = drudge_seterr(err, DRUDGE_EIO, "--metrics-listen %s: %s", addr, strerror(errno));
        goto fail;
    }
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
                                     (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                                 0, NULL, NULL, handle, s, MHD_OPTION_LISTEN_SOCKET, fd,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!s->daemon) {
        rc = drudge_seterr(err, DRUDGE_EIO, "--metrics-listen %s: cannot start the HTTP server",
                           addr);
        goto fail;
    }
    *out = s;
    return DRUDGE_OK;
fail:
    if (fd >= 0)
        close(fd);
    drudge_store_close(s->db);
    free(s);
    return rc;
}

void drudge_metrics_stop(drudge_metrics_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon); /* joins its thread and closes the socket */
    drudge_store_close(s->db);
    steps_hist_clear(&s->hist);
    free(s);
}

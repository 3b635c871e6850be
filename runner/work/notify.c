/* notify.c: notifications (notify.h says what and why): the payloads,
 * the scans for missed deadlines and dead tasks, sending one row through
 * a webhook or SMTP, and the sender thread of `drudge work`. */
#include <nettle/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "connectors/http/http.h"
#include "connectors/mail/mail.h"
#include "drudge/host.h"
#include "drudge/util.h"
#include "logs/audit/audit.h"
#include "logs/report/deadline.h"
#include "runner/util/module.h"
#include "runner/work/notify.h"

#define PASS_US       1000000  /* the sender looks at the outbox once a second */
#define SCAN_US       5000000  /* and scans for missed deadlines and dead tasks every 5 s */
#define LEASE_US      60000000 /* a claimed row is the sender's for a minute */
#define CLAIM_MAX     16       /* rows claimed per pass */
#define LIST_MAX      100      /* tasks named in one notification */
#define DEAD_READ_MAX 1000     /* dead tasks read per channel and scan */
#define TIMEOUT_S     30       /* one delivery */
#define STOP_GRACE_US 6000000  /* at exit, how long notifications still due may hold it */

int64_t drudge_notify_backoff(int attempts)
{
    int64_t d = 2000000;
    for (int i = 1; i < attempts && d < 600000000; i++)
        d *= 2;
    return d < 600000000 ? d : 600000000;
}

static void json_time(drudge_buf *b, const char *key, int64_t t)
{
    drudge_buf_printf(b, ",\"%s\":", key);
    if (!t) {
        drudge_buf_puts(b, "null");
        return;
    }
    char ts[40];
    drudge_fmt_time(t, ts);
    drudge_buf_printf(b, "\"%s\"", ts);
}

static void json_str(drudge_buf *b, const char *key, const char *s)
{
    drudge_buf_printf(b, ",\"%s\":", key);
    if (s)
        drudge_buf_json_str(b, s, strlen(s));
    else
        drudge_buf_puts(b, "null");
}

/* ---- outages (the writer's turn) ---- */

typedef struct find_outage {
    int64_t id;
    int open;
    drudge_buf *b, *summary;
    int found;
} find_outage;

static int outage_found(void *ud, const drudge_outage_row *o)
{
    find_outage *f = ud;
    if (o->id != f->id)
        return 0;
    drudge_buf *b = f->b;
    drudge_buf_printf(b, "{\"id\":%lld", (long long)o->id);
    json_str(b, "target", o->target);
    json_time(b, "started_at", o->started_at);
    json_time(b, "opened_at", o->opened_at);
    json_time(b, "ended_at", o->ended_at);
    if (o->ended_at)
        drudge_buf_printf(b, ",\"seconds\":%.3f", (double)(o->ended_at - o->started_at) / 1e6);
    json_str(b, "trigger", o->trigger);
    json_str(b, "opened_by", o->opened_by);
    drudge_buf_printf(b, ",\"probes\":%d,\"tasks_held\":%lld,\"attempts_spent\":%lld", o->probes,
                      (long long)o->tasks_held, (long long)o->attempts_spent);
    json_str(b, "scripts", o->scripts);
    drudge_buf_puts(b, "}");
    if (f->open)
        drudge_buf_printf(f->summary,
                          "target %s is down: circuit breaker open (outage #%lld: %s); %lld "
                          "task%s held",
                          o->target, (long long)o->id, o->trigger, (long long)o->tasks_held,
                          o->tasks_held == 1 ? "" : "s");
    else
        drudge_buf_printf(f->summary,
                          "target %s is back: circuit breaker closed (outage #%lld, %.0f s, "
                          "%lld attempt%s spent)",
                          o->target, (long long)o->id, (double)(o->ended_at - o->started_at) / 1e6,
                          (long long)o->attempts_spent, o->attempts_spent == 1 ? "" : "s");
    f->found = 1;
    return 1;
}

drudge_code drudge_notify_outage(drudge_store *s, int open, int64_t outage_id, int64_t at,
                                 drudge_err *err)
{
    drudge_buf outage = {0}, p = {0}, summary = {0};
    find_outage f = {.id = outage_id, .open = open, .b = &outage, .summary = &summary};
    /* Outages open now or ended at `at` or later: the one just opened or closed. */
    drudge_code rc = drudge_store_outages(s, at, outage_found, &f, err);
    if (rc || !f.found)
        goto cleanup;
    const char *event = open ? "breaker_open" : "breaker_close";
    drudge_buf_puts(&p, "{\"event\":");
    drudge_buf_json_str(&p, event, strlen(event));
    json_time(&p, "at", at);
    json_str(&p, "summary", summary.data);
    drudge_buf_puts(&p, ",\"outage\":");
    drudge_buf_add(&p, outage.data, outage.len);
    drudge_buf_puts(&p, "}");
    rc = drudge_store_notify_queue(s, 0, "breaker", event, p.data, at, NULL, err);
cleanup:
    drudge_buf_free(&outage);
    drudge_buf_free(&p);
    drudge_buf_free(&summary);
    return rc;
}

/* ---- sending ---- */

static void hex(const uint8_t *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = 0;
}

static void wipe_free(char *s)
{
    if (s)
        explicit_bzero(s, strlen(s));
    free(s);
}

/* The summary of a payload, for the mail's subject ("" if none). */
static char *payload_summary(const char *payload)
{
    const char *k = strstr(payload, "\"summary\":\"");
    if (!k)
        return drudge_xstrdup("");
    k += 11;
    drudge_buf b = {0};
    for (; *k && *k != '"'; k++) {
        if (*k == '\\' && k[1])
            k++;
        drudge_buf_add(&b, k, 1);
    }
    drudge_buf_puts(&b, "");
    return b.data;
}

static drudge_code send_webhook(const drudge_notify_row *r, const char *secret, int *permanent,
                                drudge_err *err)
{
    char why[256] = "";
    drudge_http_post_json_fn post = (drudge_http_post_json_fn)(uintptr_t)drudge_module_sym(
        "http", "drudge_http_post_json", why, sizeof why);
    if (!post) {
        *permanent = 1;
        return drudge_seterr(err, DRUDGE_EIO, "the http module cannot be loaded: %s", why);
    }
    char event[96], delivery[64], sig[96];
    const char *headers[4] = {event, delivery, NULL, NULL};
    snprintf(event, sizeof event, "X-Drudge-Event: %s", r->event);
    snprintf(delivery, sizeof delivery, "X-Drudge-Delivery: %lld", (long long)r->id);
    if (secret) {
        /* The receiver checks the body came from us: HMAC-SHA256 keyed with
         * the secret, as GitHub's X-Hub-Signature-256. */
        struct hmac_sha256_ctx ctx;
        uint8_t mac[SHA256_DIGEST_SIZE];
        char mac_hex[2 * SHA256_DIGEST_SIZE + 1];
        hmac_sha256_set_key(&ctx, strlen(secret), (const uint8_t *)secret);
        hmac_sha256_update(&ctx, strlen(r->payload), (const uint8_t *)r->payload);
        hmac_sha256_digest(&ctx, sizeof mac, mac);
        explicit_bzero(&ctx, sizeof ctx);
        hex(mac, sizeof mac, mac_hex);
        snprintf(sig, sizeof sig, "X-Drudge-Signature: sha256=%s", mac_hex);
        headers[2] = sig;
    }
    drudge_http_post p = {.url = r->ch.target,
                          .body = r->payload,
                          .len = strlen(r->payload),
                          .bearer = secret,
                          .headers = headers,
                          .timeout_s = TIMEOUT_S};
    long status = 0;
    drudge_code rc = post(&p, &status, err);
    /* A 4xx other than a timeout or a rate limit is the receiver refusing
     * this request: the same request again would be refused again. */
    if (rc && status >= 400 && status < 500 && status != 408 && status != 429)
        *permanent = 1;
    return rc;
}

static drudge_code send_email(const drudge_notify_row *r, const char *secret, int *permanent,
                              drudge_err *err)
{
    char why[256] = "";
    drudge_mail_send_text_fn send = (drudge_mail_send_text_fn)(uintptr_t)drudge_module_sym(
        "mail", "drudge_mail_send_text", why, sizeof why);
    if (!send) {
        *permanent = 1;
        return drudge_seterr(err, DRUDGE_EIO, "the mail module cannot be loaded: %s", why);
    }
    /* The addresses, comma-separated in the channel. */
    char *list = drudge_xstrdup(r->ch.target);
    const char *to[64];
    size_t n = 0;
    for (char *save = NULL, *a = strtok_r(list, ",", &save); a && n < 63;
         a = strtok_r(NULL, ",", &save))
        to[n++] = a;
    to[n] = NULL;
    char *summary = payload_summary(r->payload);
    drudge_buf subject = {0}, text = {0};
    drudge_buf_printf(&subject, "[drudge] %s", *summary ? summary : r->event);
    drudge_buf_printf(&text,
                      "%s\n\nEvent: %s (notification #%lld)\n\nThe details, as a webhook "
                      "gets them:\n\n%s\n",
                      *summary ? summary : r->event, r->event, (long long)r->id, r->payload);
    drudge_mail_text m = {.smtp = r->ch.smtp ? r->ch.smtp : "",
                          .user = r->ch.user,
                          .password = secret,
                          .from = r->ch.from ? r->ch.from : "drudge@localhost",
                          .to = to,
                          .subject = subject.data,
                          .text = text.data,
                          .timeout_s = TIMEOUT_S};
    drudge_code rc = send(&m, err);
    if (rc == DRUDGE_EUSAGE)
        *permanent = 1;
    drudge_buf_free(&subject);
    drudge_buf_free(&text);
    free(summary);
    free(list);
    return rc;
}

drudge_code drudge_notify_send(const drudge_notify_row *r, const char *secrets_file, int *permanent,
                               drudge_err *err)
{
    char *secret = NULL;
    drudge_code rc = DRUDGE_OK;
    *permanent = 0;
    if (!r->ch.id) {
        *permanent = 1;
        return drudge_seterr(err, DRUDGE_ENOTFOUND, "channel #%lld was removed",
                             (long long)r->channel_id);
    }
    if (r->ch.secret && *r->ch.secret) {
        rc = drudge_host_secret(secrets_file, r->ch.secret, &secret, err);
        if (rc) {
            /* Set it and `drudge notify test` the channel; rows given up stay in the log. */
            *permanent = 1;
            return rc;
        }
    }
    if (!strcmp(r->ch.kind, "webhook"))
        rc = send_webhook(r, secret, permanent, err);
    else if (!strcmp(r->ch.kind, "email"))
        rc = send_email(r, secret, permanent, err);
    else {
        *permanent = 1;
        rc = drudge_seterr(err, DRUDGE_EINPUT, "channel #%lld: unknown kind '%s'",
                           (long long)r->ch.id, r->ch.kind);
    }
    wipe_free(secret);
    return rc;
}

/* ---- scans ---- */

/* A channel, copied out of the store's callback. */
typedef struct chan {
    int64_t id, created_at;
    int deadline, dead, threshold;
} chan;

typedef struct chans {
    chan *v;
    size_t n;
} chans;

static int has_event(const char *events, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = events; p && *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && !memcmp(p, name, n))
            return 1;
        p = c ? c + 1 : NULL;
    }
    return 0;
}

static int chan_row(void *ud, const drudge_notify_channel *c)
{
    chans *cs = ud;
    cs->v = drudge_xrealloc(cs->v, (cs->n + 1) * sizeof *cs->v);
    cs->v[cs->n++] = (chan){.id = c->id,
                            .created_at = c->created_at,
                            .deadline = has_event(c->events, "deadline"),
                            .dead = has_event(c->events, "dead"),
                            .threshold = c->dead_threshold > 0 ? c->dead_threshold
                                                               : DRUDGE_NOTIFY_DEAD_THRESHOLD};
    return 0;
}

/* Queues to channel c the payload p under the mark `name` moving from
 * expect to at, in one transaction: a process that lost the race to move
 * it queues nothing. *queued = 1 if this one did. */
static drudge_code queue_marked(drudge_store *s, const chan *c, const char *name, int64_t expect,
                                int64_t at, const char *category, const char *event, const char *p,
                                int *queued, drudge_err *err)
{
    int won = 0;
    *queued = 0;
    drudge_code rc = drudge_store_begin(s, DRUDGE_TX_WRITE, err);
    if (!rc)
        rc = drudge_store_notify_mark_set(s, c->id, name, expect, at, &won, err);
    if (!rc && won && p)
        rc = drudge_store_notify_queue(s, c->id, category, event, p, at, NULL, err);
    if (!rc)
        rc = drudge_store_commit(s, err);
    if (rc)
        drudge_store_rollback(s);
    *queued = !rc && won && p;
    return rc;
}

typedef struct missed {
    drudge_buf tasks;
    int64_t now, n, seen;
    int64_t by[DRUDGE_WHY_N];
} missed;

static int missed_row(void *ud, const drudge_deadline_row *r)
{
    missed *m = ud;
    drudge_deadline_why why;
    m->seen++;
    if (drudge_deadline_classify(r, m->now, &why) != DRUDGE_DL_MISSED)
        return 0;
    m->by[why]++;
    if (m->n++ >= LIST_MAX)
        return 0;
    drudge_buf_printf(&m->tasks, "%s{\"id\":%lld", m->n > 1 ? "," : "", (long long)r->id);
    json_str(&m->tasks, "script", r->script);
    json_time(&m->tasks, "deadline", r->deadline);
    json_str(&m->tasks, "state", r->state);
    json_str(&m->tasks, "why", drudge_deadline_why_names[why]);
    json_str(&m->tasks, "outage", r->outage_target);
    drudge_buf_puts(&m->tasks, "}");
    return 0;
}

/* Deadlines that passed since the channel's mark and were missed: one
 * notification listing them. */
static drudge_code scan_deadlines(drudge_store *s, const chan *c, int64_t now, int *queued,
                                  drudge_err *err)
{
    int64_t mark = 0;
    missed m = {.now = now};
    drudge_buf p = {0}, summary = {0};
    drudge_code rc = drudge_store_notify_mark_get(s, c->id, "deadline", &mark, err);
    if (rc)
        return rc;
    int64_t from = mark ? mark : c->created_at;
    drudge_deadline_query q = {.now = now, .since = from + 1, .until = now};
    rc = drudge_store_deadlines(s, &q, missed_row, &m, err);
    /* Nothing passed: the mark stays (no write), unless it is an hour old,
     * so that the range read stays short. */
    if (rc || (!m.seen && mark && now - mark < 3600 * (int64_t)1000000))
        goto cleanup;
    if (m.n) {
        drudge_buf_printf(&summary, "%lld task%s missed %s deadline (", (long long)m.n,
                          m.n == 1 ? "" : "s", m.n == 1 ? "its" : "their");
        int first = 1;
        for (int w = 1; w < DRUDGE_WHY_N; w++)
            if (m.by[w]) {
                drudge_buf_printf(&summary, "%s%s %lld", first ? "" : ", ",
                                  drudge_deadline_why_names[w], (long long)m.by[w]);
                first = 0;
            }
        drudge_buf_puts(&summary, ")");
        drudge_buf_puts(&p, "{\"event\":\"deadline_missed\"");
        json_time(&p, "at", now);
        json_str(&p, "summary", summary.data);
        drudge_buf_printf(&p, ",\"count\":%lld,\"by\":{", (long long)m.n);
        for (int w = 1; w < DRUDGE_WHY_N; w++)
            drudge_buf_printf(&p, "%s\"%s\":%lld", w > 1 ? "," : "", drudge_deadline_why_names[w],
                              (long long)m.by[w]);
        drudge_buf_puts(&p, "}");
        json_time(&p, "since", from);
        drudge_buf_puts(&p, ",\"tasks\":[");
        if (m.tasks.len)
            drudge_buf_add(&p, m.tasks.data, m.tasks.len);
        drudge_buf_puts(&p, "]}");
    }
    rc = queue_marked(s, c, "deadline", mark, now, "deadline", "deadline_missed",
                      m.n ? p.data : NULL, queued, err);
cleanup:
    drudge_buf_free(&m.tasks);
    drudge_buf_free(&p);
    drudge_buf_free(&summary);
    return rc;
}

/* Dead tasks of each script since the channel's mark for that script:
 * once there are threshold of them, one notification. */
static drudge_code scan_dead(drudge_store *s, const chan *c, int64_t now, int *queued,
                             drudge_err *err)
{
    drudge_task_row *rows = NULL;
    size_t n = 0;
    drudge_task_filter f = {.state = "dead",
                            .limit = DEAD_READ_MAX,
                            .finished_since = c->created_at,
                            .finished_until = now + 1};
    drudge_code rc = drudge_store_list(s, &f, &rows, &n, err);
    *queued = 0;
    /* Per script (the rows are newest first): count those after its mark. */
    for (size_t i = 0; i < n && !rc; i++) {
        const char *script = rows[i].script;
        int seen_before = 0;
        for (size_t k = 0; k < i && !seen_before; k++)
            seen_before = !strcmp(rows[k].script, script);
        if (seen_before)
            continue;
        char name[160];
        int64_t mark = 0, count = 0;
        snprintf(name, sizeof name, "dead:%s", script);
        rc = drudge_store_notify_mark_get(s, c->id, name, &mark, err);
        if (rc)
            break;
        drudge_buf ids = {0}, p = {0}, summary = {0};
        for (size_t k = i; k < n; k++)
            if (!strcmp(rows[k].script, script) && rows[k].finished_at > mark) {
                if (count < LIST_MAX)
                    drudge_buf_printf(&ids, "%s%lld", count ? "," : "", (long long)rows[k].id);
                count++;
            }
        if (count >= c->threshold) {
            drudge_buf_printf(&summary, "%lld task%s of %s went dead%s", (long long)count,
                              count == 1 ? "" : "s", script, mark ? " since the last notice" : "");
            drudge_buf_puts(&p, "{\"event\":\"dead_tasks\"");
            json_time(&p, "at", now);
            json_str(&p, "summary", summary.data);
            json_str(&p, "script", script);
            drudge_buf_printf(&p, ",\"count\":%lld,\"threshold\":%d", (long long)count,
                              c->threshold);
            json_time(&p, "since", mark ? mark : c->created_at);
            drudge_buf_puts(&p, ",\"tasks\":[");
            if (ids.len)
                drudge_buf_add(&p, ids.data, ids.len);
            drudge_buf_puts(&p, "]}");
            int q = 0;
            rc = queue_marked(s, c, name, mark, now, "dead", "dead_tasks", p.data, &q, err);
            *queued += q;
        }
        drudge_buf_free(&ids);
        drudge_buf_free(&p);
        drudge_buf_free(&summary);
    }
    drudge_task_rows_free(rows, n);
    return rc;
}

static drudge_code scan(drudge_store *s, int64_t now, int verbose, drudge_err *err)
{
    chans cs = {0};
    drudge_code rc = drudge_store_notify_channels(s, chan_row, &cs, err);
    for (size_t i = 0; i < cs.n && !rc; i++) {
        int q = 0;
        if (cs.v[i].deadline)
            rc = scan_deadlines(s, &cs.v[i], now, &q, err);
        if (!rc && q && verbose)
            fprintf(stderr,
                    "drudge work: missed deadlines: notification queued for channel #%lld\n",
                    (long long)cs.v[i].id);
        if (!rc && cs.v[i].dead)
            rc = scan_dead(s, &cs.v[i], now, &q, err);
        if (!rc && q && verbose)
            fprintf(stderr, "drudge work: dead tasks: notification queued for channel #%lld\n",
                    (long long)cs.v[i].id);
    }
    free(cs.v);
    return rc;
}

/* ---- the pass: claim, send, record ---- */

/* A claimed row, copied out of the store's callback. */
typedef struct claimed_row {
    drudge_notify_row r;
    char *strs[12];
} claimed_row;

typedef struct claimed {
    claimed_row *v;
    size_t n;
} claimed;

static const char *keep(claimed_row *c, int i, const char *s)
{
    c->strs[i] = s ? drudge_xstrdup(s) : NULL;
    return c->strs[i];
}

static int claimed_one(void *ud, const drudge_notify_row *r)
{
    claimed *cl = ud;
    cl->v = drudge_xrealloc(cl->v, (cl->n + 1) * sizeof *cl->v);
    claimed_row *c = &cl->v[cl->n++];
    memset(c, 0, sizeof *c);
    c->r = *r;
    c->r.event = keep(c, 0, r->event);
    c->r.payload = keep(c, 1, r->payload);
    c->r.last_error = keep(c, 2, r->last_error);
    c->r.ch.kind = keep(c, 3, r->ch.kind);
    c->r.ch.target = keep(c, 4, r->ch.target);
    c->r.ch.events = keep(c, 5, r->ch.events);
    c->r.ch.secret = keep(c, 6, r->ch.secret);
    c->r.ch.smtp = keep(c, 7, r->ch.smtp);
    c->r.ch.from = keep(c, 8, r->ch.from);
    c->r.ch.user = keep(c, 9, r->ch.user);
    c->r.ch.created_by = keep(c, 10, r->ch.created_by);
    return 0;
}

static void claimed_free(claimed *cl)
{
    for (size_t i = 0; i < cl->n; i++)
        for (int k = 0; k < 12; k++)
            free(cl->v[i].strs[k]);
    free(cl->v);
    cl->v = NULL;
    cl->n = 0;
}

/* Records the outcome of one attempt (own transaction). */
static drudge_code record(drudge_store *s, const drudge_notify_row *r, const char *owner,
                          int outcome, const char *error, int64_t now, drudge_err *err)
{
    drudge_code rc = drudge_store_begin(s, DRUDGE_TX_WRITE, err);
    if (!rc)
        rc = drudge_store_notify_done(s, r->id, owner, outcome, error, now,
                                      now + drudge_notify_backoff(r->attempts), NULL, err);
    if (!rc)
        rc = drudge_store_commit(s, err);
    if (rc)
        drudge_store_rollback(s);
    return rc;
}

drudge_code drudge_notify_pass(drudge_store *s, const char *owner, const char *secrets_file,
                               int64_t now, int do_scan, int verbose, int *sent, int *failed,
                               drudge_err *err)
{
    claimed cl = {0};
    drudge_code rc = DRUDGE_OK;
    int nsent = 0, nfailed = 0;
    if (do_scan)
        rc = scan(s, now, verbose, err);
    if (!rc)
        rc = drudge_store_begin(s, DRUDGE_TX_WRITE, err);
    if (!rc) {
        rc = drudge_store_notify_claim(s, owner, now, now + LEASE_US, CLAIM_MAX, 0, claimed_one,
                                       &cl, err);
        if (!rc)
            rc = drudge_store_commit(s, err);
        if (rc)
            drudge_store_rollback(s);
    }
    /* The network, outside any transaction: a slow receiver holds no lock. */
    for (size_t i = 0; i < cl.n && !rc; i++) {
        const drudge_notify_row *r = &cl.v[i].r;
        drudge_err serr = {0};
        int permanent = 0;
        drudge_code src = drudge_notify_send(r, secrets_file, &permanent, &serr);
        int outcome = !src ? 1 : permanent || r->attempts >= DRUDGE_NOTIFY_MAX_ATTEMPTS ? -1 : 0;
        if (src)
            nfailed++;
        else
            nsent++;
        if (verbose || (src && outcome < 0))
            fprintf(stderr, "drudge work: notification #%lld (%s) to %s %s: %s%s\n",
                    (long long)r->id, r->event, r->ch.kind, r->ch.target,
                    !src          ? "sent"
                    : outcome < 0 ? "given up"
                                  : "failed, will retry",
                    src ? serr.msg : "");
        rc = record(s, r, owner, outcome, src ? serr.msg : "", drudge_now_us(), err);
    }
    claimed_free(&cl);
    if (sent)
        *sent = nsent;
    if (failed)
        *failed = nfailed;
    return rc;
}

/* ---- the sender thread ---- */

struct drudge_notifier {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    drudge_store *s;
    char owner[224];
    char *secrets_file;
    int verbose;
    int warned;
};

static void pass_logged(drudge_notifier *n, int do_scan)
{
    drudge_err err = {0};
    if (drudge_notify_pass(n->s, n->owner, n->secrets_file, drudge_now_us(), do_scan, n->verbose,
                           NULL, NULL, &err) != DRUDGE_OK) {
        /* The database busy or gone for a moment: the next pass tries again. */
        if (!n->warned++ || n->verbose)
            fprintf(stderr, "drudge work: notifications: %s (trying again)\n", err.msg);
    } else {
        n->warned = 0;
    }
}

static void *notifier_main(void *ud)
{
    drudge_notifier *n = ud;
    int64_t next_scan = 0;
    pthread_mutex_lock(&n->mu);
    while (!n->stop) {
        pthread_mutex_unlock(&n->mu);
        int64_t now = drudge_now_us();
        int do_scan = now >= next_scan;
        if (do_scan)
            next_scan = now + SCAN_US;
        pass_logged(n, do_scan);
        pthread_mutex_lock(&n->mu);
        if (n->stop)
            break;
        int64_t until = drudge_now_us() + PASS_US;
        struct timespec ts = {.tv_sec = (time_t)(until / 1000000),
                              .tv_nsec = (long)(until % 1000000) * 1000};
        pthread_cond_timedwait(&n->cv, &n->mu, &ts);
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

drudge_code drudge_notifier_start(const drudge_notifier_opts *o, drudge_notifier **out,
                                  drudge_err *err)
{
    *out = NULL;
    drudge_notifier *n = calloc(1, sizeof *n);
    if (!n)
        return drudge_seterr(err, DRUDGE_ENOMEM, "out of memory starting the notifications");
    drudge_code rc = drudge_store_open(o->db_path, 0, &n->s, err);
    if (rc) {
        free(n);
        return rc;
    }
    snprintf(n->owner, sizeof n->owner, "%s/notify", o->owner);
    n->secrets_file = o->secrets_file ? drudge_xstrdup(o->secrets_file) : NULL;
    n->verbose = o->verbose;
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    if (pthread_create(&n->th, NULL, notifier_main, n) != 0) {
        drudge_store_close(n->s);
        free(n->secrets_file);
        free(n);
        return drudge_seterr(err, DRUDGE_EIO, "cannot start the notifications' thread");
    }
    *out = n;
    return DRUDGE_OK;
}

void drudge_notifier_stop(drudge_notifier *n)
{
    if (!n)
        return;
    pthread_mutex_lock(&n->mu);
    n->stop = 1;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
    pthread_join(n->th, NULL);
    /* What the last turns queued (an outage's closing), and a retry due in
     * the next seconds (a receiver that failed once), still go out; a
     * receiver that stays down does not hold the exit longer than this. */
    int64_t end = drudge_now_us() + STOP_GRACE_US;
    for (int scan = 1;; scan = 0) {
        int64_t sent = 0, failed = 0, pending = 0;
        drudge_err err = {0};
        pass_logged(n, scan);
        if (drudge_store_notify_counts(n->s, end, &sent, &failed, &pending, &err) || !pending ||
            drudge_now_us() >= end)
            break;
        struct timespec ts = {0, 250000000};
        nanosleep(&ts, NULL);
    }
    drudge_store_close(n->s);
    free(n->secrets_file);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cv);
    free(n);
}

/* ---- channels: operator actions ---- */

static int valid_secret_name(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

/* A bare address: something@something, no spaces, commas, angle brackets
 * or line breaks (what the channel stores, comma-separated). */
static int valid_address(const char *a, size_t n)
{
    const char *at = memchr(a, '@', n);
    if (!n || !at || at == a || at == a + n - 1)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (a[i] <= ' ' || a[i] == ',' || a[i] == '<' || a[i] == '>' || a[i] == '"' || a[i] == 127)
            return 0;
    return 1;
}

static int valid_url_chars(const char *s)
{
    for (; *s; s++)
        if (*s <= ' ' || *s == 127)
            return 0;
    return 1;
}

drudge_code drudge_notify_channel_check(const drudge_notify_channel *c, drudge_err *err)
{
    static const char *const known[] = {"breaker", "deadline", "dead"};
    if (!c->kind || (strcmp(c->kind, "webhook") && strcmp(c->kind, "email")))
        return drudge_seterr(err, DRUDGE_EUSAGE, "a channel is 'webhook' or 'email', not '%s'",
                             c->kind ? c->kind : "");
    if (!c->events || !*c->events)
        return drudge_seterr(err, DRUDGE_EUSAGE,
                             "--event: no event named (breaker, deadline, dead)");
    for (const char *p = c->events; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        int ok = 0;
        for (size_t k = 0; k < 3 && !ok; k++)
            ok = strlen(known[k]) == n && !memcmp(known[k], p, n);
        if (!ok)
            return drudge_seterr(err, DRUDGE_EUSAGE,
                                 "--event: '%.*s' is not an event (breaker, deadline, dead)",
                                 (int)n, p);
        p = comma ? comma + 1 : p + n;
    }
    if (c->secret && !valid_secret_name(c->secret))
        return drudge_seterr(err, DRUDGE_EUSAGE,
                             "--secret '%s': a secret's name is letters, digits and _ (its value "
                             "is read from $DRUDGE_SECRET_NAME or the secrets file, never stored)",
                             c->secret);
    if (c->dead_threshold < 1 || c->dead_threshold > 1000000)
        return drudge_seterr(err, DRUDGE_EUSAGE,
                             "--dead-threshold %d: a number of tasks from 1 to 1000000",
                             c->dead_threshold);
    if (!strcmp(c->kind, "webhook")) {
        if (!c->target || (strncmp(c->target, "http://", 7) && strncmp(c->target, "https://", 8)) ||
            !valid_url_chars(c->target) || strlen(c->target) < 9)
            return drudge_seterr(err, DRUDGE_EUSAGE,
                                 "webhook '%s' is not an http:// or https:// URL",
                                 c->target ? c->target : "");
        if (strchr(c->target, '@'))
            return drudge_seterr(err, DRUDGE_EUSAGE,
                                 "webhook '%s': no user or password in the URL (it would be "
                                 "stored and shown): use --secret NAME for a bearer token",
                                 c->target);
        return DRUDGE_OK;
    }
    for (const char *p = c->target ? c->target : ""; p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (!valid_address(p, n))
            return drudge_seterr(err, DRUDGE_EUSAGE, "'%.*s' is not an e-mail address (a@b.org)",
                                 (int)n, p);
        p = comma ? comma + 1 : NULL;
    }
    if (!c->smtp || (strncmp(c->smtp, "smtp://", 7) && strncmp(c->smtp, "smtps://", 8)) ||
        !valid_url_chars(c->smtp) || strchr(c->smtp, '@'))
        return drudge_seterr(err, DRUDGE_EUSAGE,
                             "--smtp '%s' is not smtp://HOST:PORT or smtps://HOST:PORT (the login "
                             "goes in --user, the password in --secret)",
                             c->smtp ? c->smtp : "");
    if (c->from && !valid_address(c->from, strlen(c->from)))
        return drudge_seterr(err, DRUDGE_EUSAGE, "--from '%s' is not an e-mail address", c->from);
    if (c->user && !c->secret)
        return drudge_seterr(err, DRUDGE_EUSAGE,
                             "--user %s needs --secret NAME, the secret holding its password",
                             c->user);
    return DRUDGE_OK;
}

static drudge_code op_step(drudge_store *s, const char *action, const char *who, const char *args,
                           const char *result, int64_t now, drudge_err *err)
{
    drudge_operator_step op = {
        .action = action, .user = who, .args = args, .result = result, .now = now};
    return drudge_audit_operator(s, &op, err);
}

drudge_code drudge_notify_channel_add(drudge_store *s, const drudge_notify_channel *c,
                                      const char *who, int64_t now, int64_t *id, drudge_err *err)
{
    drudge_buf args = {0}, result = {0};
    drudge_code rc = drudge_notify_channel_check(c, err);
    if (rc)
        return rc;
    /* What the chain keeps: the channel as stored (a secret by name only). */
    drudge_buf_puts(&args, "\"kind\":");
    drudge_buf_json_str(&args, c->kind, strlen(c->kind));
    json_str(&args, "target", c->target);
    json_str(&args, "events", c->events);
    json_str(&args, "secret", c->secret);
    if (!strcmp(c->kind, "email")) {
        json_str(&args, "smtp", c->smtp);
        json_str(&args, "from", c->from);
        json_str(&args, "user", c->user);
    }
    if (has_event(c->events, "dead"))
        drudge_buf_printf(&args, ",\"dead_threshold\":%d", c->dead_threshold);
    rc = drudge_store_begin(s, DRUDGE_TX_WRITE, err);
    if (!rc)
        rc = drudge_store_notify_add(s, c, now, id, err);
    if (!rc) {
        drudge_buf_printf(&result, "{\"channel\":%lld}", (long long)*id);
        rc = op_step(s, "notify add", who, args.data, result.data, now, err);
    }
    if (!rc)
        rc = drudge_store_commit(s, err);
    if (rc)
        drudge_store_rollback(s);
    drudge_buf_free(&args);
    drudge_buf_free(&result);
    return rc;
}

drudge_code drudge_notify_channel_remove(drudge_store *s, int64_t id, const char *who, int64_t now,
                                         drudge_err *err)
{
    char args[64];
    int removed = 0;
    drudge_code rc = drudge_store_begin(s, DRUDGE_TX_WRITE, err);
    if (!rc)
        rc = drudge_store_notify_remove(s, id, now, &removed, err);
    if (!rc && !removed)
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND,
                           "no notification channel #%lld (drudge notify "
                           "list shows them)",
                           (long long)id);
    if (!rc) {
        snprintf(args, sizeof args, "\"channel\":%lld", (long long)id);
        rc = op_step(s, "notify remove", who, args, "{\"removed\":true}", now, err);
    }
    if (!rc)
        rc = drudge_store_commit(s, err);
    if (rc)
        drudge_store_rollback(s);
    return rc;
}

static int newest_row(void *ud, const drudge_notify_row *r)
{
    *(int64_t *)ud = r->id;
    return 1;
}

drudge_code drudge_notify_test(drudge_store *s, int64_t id, const char *who,
                               const char *secrets_file, int64_t *row_id, drudge_err *err)
{
    char owner[192];
    drudge_buf p = {0};
    claimed cl = {0};
    int64_t now = drudge_now_us(), queued = 0;
    *row_id = 0;
    snprintf(owner, sizeof owner, "notify-test/%s/%d", who ? who : "", (int)getpid());
    drudge_buf_puts(&p, "{\"event\":\"test\"");
    json_time(&p, "at", now);
    json_str(&p, "summary", "test notification: this channel works");
    json_str(&p, "by", who);
    drudge_buf_puts(&p, "}");
    /* Queued and claimed in one transaction: no sender takes it meanwhile. */
    drudge_code rc = drudge_store_begin(s, DRUDGE_TX_WRITE, err);
    if (!rc)
        rc = drudge_store_notify_queue(s, id, NULL, "test", p.data, now, &queued, err);
    if (!rc && !queued)
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND,
                           "no notification channel #%lld (drudge notify "
                           "list shows them)",
                           (long long)id);
    if (!rc)
        rc = drudge_store_notify_log(s, now, 1, newest_row, row_id, err);
    if (!rc)
        rc = drudge_store_notify_claim(s, owner, now, now + LEASE_US, 1, *row_id, claimed_one, &cl,
                                       err);
    if (!rc)
        rc = drudge_store_commit(s, err);
    if (rc)
        drudge_store_rollback(s);
    for (size_t i = 0; !rc && i < cl.n; i++) {
        const drudge_notify_row *r = &cl.v[i].r;
        drudge_err serr = {0};
        int permanent = 0;
        drudge_code src = drudge_notify_send(r, secrets_file, &permanent, &serr);
        /* A failed test is not retried by the fleet later: the operator
         * who asked sees why now, and tests again. */
        rc = record(s, r, owner, src ? -1 : 1, src ? serr.msg : "", drudge_now_us(), err);
        if (!rc && src)
            rc = drudge_seterr(err, src, "channel #%lld (%s %s): %s", (long long)r->ch.id,
                               r->ch.kind, r->ch.target, serr.msg);
        *row_id = r->id;
    }
    claimed_free(&cl);
    drudge_buf_free(&p);
    return rc;
}

/*
 * room_api.c: the control room's JSON API under /api/v1/, behind every
 * page and for other systems (documented in assets/openapi.json, which a
 * test compares with room_api_routes). Each answer reads or acts through
 * the operations the commands use (the store, runner/queue/queue.h,
 * runner/work/schedule.h, logs/report/, logs/audit/), so the API and the
 * command line cannot disagree. What a role sees of a task: a viewer its
 * counts and states only (no key, input, output or error: they may name a
 * person), an operator or admin all of it redacted (room.c's redactor),
 * an auditor all of it as recorded, with the steps and evidence.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/json.h"
#include "logs/audit/audit.h"
#include "logs/report/report.h"
#include "runner/queue/queue.h"
#include "runner/room/roomint.h"
#include "runner/work/schedule.h"

extern const struct {
    const char *name;
    const unsigned char *data;
    size_t len;
} drudge_room_assets[];

/* ---- JSON in ---- */

static int json_value_ok(const char *v, size_t n, int depth);

static int json_container_ok(const char *v, size_t n, int depth)
{
    drudge_json_iter it;
    const char *k, *val;
    size_t kl, vl;
    int r;
    if (depth > 64 || drudge_json_iter_init(&it, v, n))
        return 0;
    while ((r = drudge_json_iter_next(&it, &k, &kl, &val, &vl)) == 1)
        if (!json_value_ok(val, vl, depth + 1))
            return 0;
    return r == 0;
}

static int json_value_ok(const char *v, size_t n, int depth)
{
    while (n && strchr(" \t\r\n", *v))
        v++, n--;
    while (n && strchr(" \t\r\n", v[n - 1]))
        n--;
    if (!n)
        return 0;
    if (*v == '{' || *v == '[')
        return json_container_ok(v, n, depth);
    if (*v == '"') {
        char *tmp = drudge_xmalloc(n + 1);
        size_t r = drudge_json_unescape(v, n, tmp);
        free(tmp);
        return r != (size_t)-1;
    }
    if ((n == 4 && !memcmp(v, "true", 4)) || (n == 5 && !memcmp(v, "false", 5)) ||
        (n == 4 && !memcmp(v, "null", 4)))
        return 1;
    char buf[64], *end;
    if (n >= sizeof buf)
        return 0;
    memcpy(buf, v, n);
    buf[n] = '\0';
    errno = 0;
    double d = strtod(buf, &end);
    return !*end && isfinite(d) && (isdigit((unsigned char)buf[0]) || buf[0] == '-');
}

int room_json_valid(const char *text, size_t n)
{
    return text && json_value_ok(text, n, 0);
}

/* A member's string value unescaped into out (0), -1 if absent or not a string. */
static int member_str(const char *obj, size_t n, const char *name, char *out, size_t cap)
{
    drudge_json_iter it;
    const char *k, *v;
    size_t kl, vl;
    if (drudge_json_iter_init(&it, obj, n))
        return -1;
    while (drudge_json_iter_next(&it, &k, &kl, &v, &vl) == 1) {
        if (kl != strlen(name) || memcmp(k, name, kl))
            continue;
        if (*v != '"' || vl > cap)
            return -1;
        size_t len = drudge_json_unescape(v, vl, out);
        if (len == (size_t)-1)
            return -1;
        out[len] = '\0';
        return 0;
    }
    return -1;
}

int room_field(const room_req *q, const char *name, char *out, size_t n)
{
    if (q->content_type && !strncmp(q->content_type, "application/json", 16))
        return q->body ? member_str(q->body, q->body_len, name, out, n) : -1;
    return room_form(q, name, out, n);
}

/* A member's raw value text, or NULL. */
static const char *member_raw(const char *obj, size_t n, const char *name, size_t *vlen)
{
    drudge_json_iter it;
    const char *k, *v;
    size_t kl, vl;
    if (drudge_json_iter_init(&it, obj, n))
        return NULL;
    while (drudge_json_iter_next(&it, &k, &kl, &v, &vl) == 1)
        if (kl == strlen(name) && !memcmp(k, name, kl)) {
            *vlen = vl;
            return v;
        }
    return NULL;
}

/* The request's body as a JSON object, or an error answered (0). An empty
 * body is {} when empty_ok. */
static int body_object(room_req *q, int empty_ok)
{
    if (!q->body_len && empty_ok)
        return 1;
    if (!room_json_valid(q->body, q->body_len) || q->body[0] != '{') {
        room_json_error(q, 400, "the request body is not a JSON object (malformed JSON?)");
        return 0;
    }
    return 1;
}

/* ---- JSON out ---- */

static void json_time(drudge_buf *b, const char *key, int64_t t)
{
    drudge_json_key(b, key);
    if (!t) {
        drudge_buf_puts(b, "null");
        return;
    }
    char ts[40];
    drudge_fmt_time(t, ts);
    drudge_buf_printf(b, "\"%s\"", ts);
}

/* Text as the role may see it: redacted for an operator, as recorded for
 * an auditor. Malloc'd, or NULL. */
char *room_seen(room_req *q, const char *s)
{
    if (!s)
        return NULL;
    if (q->perms & ROOM_FULL)
        return drudge_xstrdup(s);
    return drudge_rec_redact(q->r->redactor, s);
}

static void json_seen_str(room_req *q, drudge_buf *b, const char *key, const char *s)
{
    char *v = room_seen(q, s);
    drudge_json_str(b, key, v);
    free(v);
}

/* A JSON text value as the role may see it (null if none). */
static void json_seen_raw(room_req *q, drudge_buf *b, const char *key, const char *s)
{
    char *v = room_seen(q, s);
    drudge_json_key(b, key);
    drudge_buf_puts(b, v && *v ? v : "null");
    free(v);
}

static void task_json(room_req *q, drudge_buf *b, const drudge_task_row *t)
{
    drudge_buf_puts(b, "{");
    drudge_json_int(b, "id", t->id);
    drudge_json_str(b, "script", t->script);
    drudge_json_str(b, "state", t->state);
    drudge_json_str(b, "outcome", t->outcome);
    drudge_json_int(b, "priority", t->priority);
    drudge_json_int(b, "attempts", t->attempts);
    drudge_json_int(b, "max_attempts", t->max_attempts);
    drudge_json_str(b, "schedule", t->schedule);
    drudge_json_str(b, "script_version", t->script_sha256);
    json_time(b, "created_at", t->created_at);
    json_time(b, "run_at", t->run_at);
    json_time(b, "finished_at", t->finished_at);
    drudge_json_bool(b, "resolved", t->resolved_at != 0);
    /* The deadline and whether it is met, as `drudge tasks --json` says it. */
    drudge_deadline_status dst;
    drudge_deadline_why why;
    char target[128];
    json_time(b, "deadline", t->deadline);
    if (drudge_deadline_of_task(q->r->s, t, drudge_now_us(), &dst, &why, target, sizeof target)) {
        drudge_json_str(b, "deadline_status", drudge_deadline_status_name(dst));
        drudge_json_str(b, "deadline_why", why ? drudge_deadline_why_names[why] : NULL);
        drudge_json_str(b, "deadline_outage", *target ? target : NULL);
    }
    if (q->perms & ROOM_DATA) {
        json_seen_str(q, b, "key", t->key);
        json_seen_raw(q, b, "input", t->input);
        json_seen_raw(q, b, "output", t->output);
        json_seen_str(q, b, "error", t->error);
        drudge_json_str(b, "error_kind", t->error_kind);
        drudge_json_str(b, "resolved_by", t->resolved_by);
        json_seen_str(q, b, "resolved_note", t->resolved_note);
        json_time(b, "resolved_at", t->resolved_at);
        drudge_json_str(b, "cancelled_by", t->cancelled_by);
        drudge_json_str(b, "worker", t->lease_owner);
    }
    drudge_buf_puts(b, "}");
}

static void answer_json(room_req *q, unsigned status)
{
    q->status = status;
    q->type = "application/json";
    drudge_buf_puts(&q->out, "\n");
}

static int parse_id(room_req *q, int64_t *id)
{
    char *end;
    long long v = q->arg ? strtoll(q->arg, &end, 10) : 0;
    if (!q->arg || *end || v <= 0) {
        room_json_error(q, 400, "'%s' is not a task id (a positive integer)", q->arg ? q->arg : "");
        return 0;
    }
    *id = v;
    return 1;
}

/* ---- reading ---- */

static void api_openapi(room_req *q)
{
    for (int i = 0; drudge_room_assets[i].name; i++)
        if (!strcmp(drudge_room_assets[i].name, "openapi.json")) {
            drudge_buf_add(&q->out, drudge_room_assets[i].data, drudge_room_assets[i].len);
            q->type = "application/json";
            return;
        }
    room_json_error(q, 404, "openapi.json is not in this build");
}

static void api_me(room_req *q)
{
    drudge_buf *b = &q->out;
    drudge_buf_puts(b, "{");
    drudge_json_str(b, "user", q->user.name);
    drudge_json_str(b, "role", q->user.role);
    drudge_json_str(b, "csrf", q->by_session ? q->key.csrf : NULL);
    drudge_json_bool(b, "may_act", (q->perms & ROOM_ACT) != 0);
    drudge_json_bool(b, "sees_data", (q->perms & ROOM_DATA) != 0);
    drudge_json_bool(b, "sees_all", (q->perms & ROOM_FULL) != 0);
    drudge_buf_puts(b, "}");
    answer_json(q, 200);
}

static void counts_json(drudge_buf *b, const drudge_script_counts *c, int64_t now)
{
    drudge_buf_puts(b, "{");
    if (c->script)
        drudge_json_str(b, "script", c->script);
    for (int i = 0; i < DRUDGE_NSTATES; i++)
        drudge_json_int(b, drudge_task_states[i], c->count[i]);
    drudge_json_int(b, "unresolved", c->unresolved);
    if (now) {
        drudge_json_key(b, "oldest_queued_seconds");
        if (c->oldest_queued_us)
            drudge_buf_printf(b, "%.0f", (double)(now - c->oldest_queued_us) / 1e6);
        else
            drudge_buf_puts(b, "null");
    } else {
        json_time(b, "oldest_queued_at", c->oldest_queued_us);
    }
    drudge_json_int(b, "done_last_minute", c->done_last_minute);
    drudge_json_bool(b, "paused", c->paused);
    drudge_json_str(b, "pause_reason", c->pause_reason);
    drudge_buf_puts(b, "}");
}

drudge_code room_status_json(room *r, int ages, drudge_buf *b, drudge_err *err)
{
    drudge_queue_stats st = {0};
    int64_t now = drudge_now_us();
    pthread_mutex_lock(&r->lock);
    drudge_code rc = drudge_store_status(r->s, now, &st, err);
    pthread_mutex_unlock(&r->lock);
    if (rc)
        return rc;
    drudge_buf_puts(b, "{\"scripts\":[");
    for (size_t i = 0; i < st.nscripts; i++) {
        if (i)
            drudge_buf_puts(b, ",");
        counts_json(b, &st.scripts[i], ages ? now : 0);
    }
    drudge_buf_puts(b, "],\"total\":");
    counts_json(b, &st.total, ages ? now : 0);
    drudge_buf_puts(b, "}");
    drudge_queue_stats_clear(&st);
    return DRUDGE_OK;
}

drudge_code room_throughput(room *r, int64_t now, int64_t width, int nb, int64_t *done,
                            int64_t *failed, drudge_err *err)
{
    drudge_minute_count *m = NULL;
    size_t n = 0;
    int64_t since = now - width * nb;
    for (int i = 0; i < nb; i++)
        done[i] = failed[i] = 0;
    pthread_mutex_lock(&r->lock);
    drudge_code rc = drudge_store_throughput(r->s, since, &m, &n, err);
    pthread_mutex_unlock(&r->lock);
    for (size_t i = 0; !rc && i < n; i++) {
        /* A minute goes to the bucket its start falls in; the first
         * minute, which began before since, to the first bucket. */
        int64_t at = m[i].minute_us < since ? since : m[i].minute_us;
        int b = (int)((at - since) / width);
        if (b < 0 || b >= nb)
            continue;
        done[b] += m[i].done;
        failed[b] += m[i].failed;
    }
    free(m);
    return rc;
}

/* GET /api/v1/throughput?period=hour|day: the overview's charts. */
static void api_throughput(room_req *q)
{
    char period[16] = "hour";
    drudge_err err = {0};
    room_query(q, "period", period, sizeof period);
    int day = !strcmp(period, "day");
    if (!day && strcmp(period, "hour"))
        return room_json_error(q, 400, "period '%s': want hour or day", period);
    int nb = day ? 24 : 60;
    int64_t width = (day ? 3600 : 60) * (int64_t)1000000, now = drudge_now_us();
    int64_t done[60], failed[60], sum_d = 0, sum_f = 0;
    if (room_throughput(q->r, now, width, nb, done, failed, &err))
        return room_json_fail(q, &err);
    drudge_buf *b = &q->out;
    drudge_buf_puts(b, "{");
    drudge_json_str(b, "period", day ? "day" : "hour");
    drudge_json_int(b, "bucket_seconds", width / 1000000);
    drudge_buf_puts(b, ",\"buckets\":[");
    for (int i = 0; i < nb; i++) {
        drudge_buf_puts(b, i ? ",{" : "{");
        json_time(b, "start", now - width * (nb - i));
        drudge_json_int(b, "done", done[i]);
        drudge_json_int(b, "failed", failed[i]);
        drudge_buf_puts(b, "}");
        sum_d += done[i];
        sum_f += failed[i];
    }
    drudge_buf_puts(b, "]");
    drudge_json_int(b, "done", sum_d);
    drudge_json_int(b, "failed", sum_f);
    drudge_json_key(b, "failure_rate");
    if (sum_d + sum_f)
        drudge_buf_printf(b, "%.4f", (double)sum_f / (double)(sum_d + sum_f));
    else
        drudge_buf_puts(b, "null");
    drudge_buf_puts(b, "}");
    answer_json(q, 200);
}

static void api_status(room_req *q)
{
    drudge_err err = {0};
    if (room_status_json(q->r, 1, &q->out, &err))
        return room_json_fail(q, &err);
    answer_json(q, 200);
}

/* A time parameter (ISO 8601, "-2h"), into *out; 0 if absent; -1 answered. */
static int time_param(room_req *q, const char *name, int flags, int64_t *out)
{
    char v[64], why[160];
    *out = 0;
    if (room_query(q, name, v, sizeof v) || !*v)
        return 0;
    if (drudge_parse_time_ex(v, drudge_now_us(), DRUDGE_TIME_PAST | flags, out, why, sizeof why)) {
        room_json_error(q, 400, "%s '%s': %s", name, v, why);
        return -1;
    }
    return 0;
}

/* The filter of a task list from the query (shared with the pages). */
int room_task_filter(room_req *q, drudge_task_filter *f, char state[16], char script[128],
                     char key[256])
{
    char v[32];
    memset(f, 0, sizeof *f);
    f->limit = 50;
    if (!room_query(q, "state", state, 16) && *state) {
        int ok = 0;
        for (int i = 0; i < DRUDGE_NSTATES; i++)
            ok |= !strcmp(state, drudge_task_states[i]);
        if (!ok) {
            room_json_error(
                q, 400, "state '%s': want queued, running, done, failed, dead or cancelled", state);
            return -1;
        }
        f->state = state;
    }
    if (!room_query(q, "script", script, 128) && *script)
        f->script = script;
    if (!room_query(q, "key", key, 256) && *key) {
        if (!(q->perms & ROOM_DATA)) {
            room_json_error(q, 403, "the role %s may not search tasks by key", q->user.role);
            return -1;
        }
        f->key = key;
    }
    if (!room_query(q, "limit", v, sizeof v) && *v) {
        long n = strtol(v, NULL, 10);
        if (n < 1 || n > 1000) {
            room_json_error(q, 400, "limit '%s': want 1 to 1000", v);
            return -1;
        }
        f->limit = (int)n;
    }
    if (!room_query(q, "before", v, sizeof v) && *v) {
        char *end;
        long long n = strtoll(v, &end, 10);
        if (*end || n <= 0) {
            room_json_error(q, 400, "before '%s': want a task id", v);
            return -1;
        }
        f->after_id = n;
    }
    if (time_param(q, "since", DRUDGE_TIME_UTC_DAY, &f->created_since) ||
        time_param(q, "until", DRUDGE_TIME_UTC_DAY | DRUDGE_TIME_DAY_END, &f->created_until))
        return -1;
    return 0;
}

static void api_tasks(room_req *q)
{
    drudge_task_filter f;
    char state[16], script[128], key[256];
    drudge_task_row *rows = NULL;
    size_t n = 0;
    drudge_err err = {0};
    if (room_task_filter(q, &f, state, script, key))
        return;
    room_lock(q);
    drudge_code rc = drudge_store_list(q->r->s, &f, &rows, &n, &err);
    if (!rc) {
        drudge_buf *b = &q->out;
        drudge_buf_puts(b, "{\"tasks\":[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                drudge_buf_puts(b, ",");
            task_json(q, b, &rows[i]);
        }
        drudge_buf_puts(b, "],\"next_before\":");
        if (n == (size_t)f.limit)
            drudge_buf_int(b, rows[n - 1].id);
        else
            drudge_buf_puts(b, "null");
        drudge_buf_puts(b, "}");
    }
    room_unlock(q);
    drudge_task_rows_free(rows, n);
    if (rc)
        return room_json_fail(q, &err);
    answer_json(q, 200);
}

typedef struct steps_out {
    room_req *q;
    drudge_buf *b;
    int n;
} steps_out;

static int step_json(void *ud, const drudge_step_row *r)
{
    steps_out *o = ud;
    drudge_buf *b = o->b;
    if (o->n++)
        drudge_buf_puts(b, ",");
    drudge_buf_puts(b, "{");
    drudge_json_int(b, "id", r->id);
    drudge_json_int(b, "attempt", r->attempt);
    drudge_json_int(b, "seq", r->step.seq);
    drudge_json_int(b, "parent", r->step.parent);
    drudge_json_str(b, "kind", r->step.kind);
    json_seen_str(o->q, b, "name", r->step.name);
    drudge_json_str(b, "outcome", r->step.outcome);
    json_time(b, "started_at", r->step.started_us);
    drudge_json_int(b, "duration_us", r->step.duration_us);
    json_seen_str(o->q, b, "error", r->step.error);
    json_seen_raw(o->q, b, "request", r->step.request);
    json_seen_raw(o->q, b, "response", r->step.response);
    drudge_buf_puts(b, "}");
    return 0;
}

static void api_task(room_req *q)
{
    int64_t id;
    drudge_task_row t = {0};
    drudge_attempt_row *att = NULL;
    size_t na = 0;
    drudge_err err = {0};
    if (!parse_id(q, &id))
        return;
    room_lock(q);
    drudge_code rc = drudge_store_get(q->r->s, id, &t, &att, &na, &err);
    if (!rc) {
        drudge_buf *b = &q->out;
        drudge_buf_puts(b, "{\"task\":");
        task_json(q, b, &t);
        drudge_buf_puts(b, ",\"attempts\":[");
        for (size_t i = 0; i < na; i++) {
            drudge_buf_puts(b, i ? ",{" : "{");
            drudge_json_int(b, "n", att[i].n);
            drudge_json_str(b, "outcome", att[i].outcome);
            json_time(b, "started_at", att[i].started_at);
            json_time(b, "ended_at", att[i].ended_at);
            drudge_json_int(b, "duration_us", att[i].ended_at - att[i].started_at);
            if (q->perms & ROOM_DATA) {
                drudge_json_str(b, "worker", att[i].worker);
                json_seen_str(q, b, "error", att[i].error);
                drudge_json_str(b, "error_kind", att[i].error_kind);
            }
            drudge_buf_puts(b, "}");
        }
        drudge_buf_puts(b, "]");
        if (q->perms & ROOM_DATA) {
            drudge_buf_puts(b, ",\"steps\":[");
            steps_out o = {q, b, 0};
            drudge_step_filter sf = {.task_id = id, .by_seq = 1};
            rc = drudge_store_steps(q->r->s, &sf, step_json, &o, &err);
            drudge_buf_puts(b, "]");
        }
        drudge_buf_puts(b, "}");
    }
    room_unlock(q);
    drudge_task_row_clear(&t);
    drudge_attempt_rows_free(att, na);
    if (rc)
        return room_json_fail(q, &err);
    answer_json(q, 200);
}

/* GET /api/v1/payloads/{sha256}: evidence (a screenshot) as stored. */
static void api_payload(room_req *q)
{
    drudge_payload_row p = {0};
    drudge_err err = {0};
    if (!q->arg || strlen(q->arg) != 64 || strspn(q->arg, "0123456789abcdef") != 64)
        return room_json_error(q, 400, "'%s' is not a SHA-256 (64 lower-case hex digits)",
                               q->arg ? q->arg : "");
    room_lock(q);
    drudge_code rc = drudge_store_payload(q->r->s, q->arg, 1, &p, &err);
    room_unlock(q);
    if (rc)
        return room_json_fail(q, &err);
    if (!p.data) {
        drudge_payload_row_clear(&p);
        return room_json_error(q, 410, "payload %s was pruned", q->arg);
    }
    drudge_buf_add(&q->out, p.data, p.len);
    static __thread char type[128];
    snprintf(type, sizeof type, "%s", p.content_type ? p.content_type : "application/octet-stream");
    q->type = type;
    drudge_payload_row_clear(&p);
}

/* ---- acting ---- */

static void ok_state(room_req *q, int64_t id, const char *state)
{
    drudge_buf_puts(&q->out, "{");
    drudge_json_int(&q->out, "id", id);
    drudge_json_str(&q->out, "state", state);
    drudge_buf_puts(&q->out, "}");
    answer_json(q, 200);
}

static void api_retry(room_req *q)
{
    int64_t id;
    drudge_err err = {0};
    if (!parse_id(q, &id))
        return;
    room_lock(q);
    drudge_code rc = drudge_queue_retry(q->r->s, id, q->user.name, drudge_now_us(), &err);
    room_unlock(q);
    if (rc)
        return room_json_fail(q, &err);
    ok_state(q, id, "queued");
}

static void api_cancel(room_req *q)
{
    int64_t id;
    int deferred = 0;
    drudge_err err = {0};
    if (!parse_id(q, &id))
        return;
    room_lock(q);
    drudge_code rc =
        drudge_queue_cancel(q->r->s, id, q->user.name, drudge_now_us(), &deferred, &err);
    room_unlock(q);
    if (rc)
        return room_json_fail(q, &err);
    ok_state(q, id, deferred ? "running" : "cancelled");
    if (deferred) { /* the worker stops it at its next lease renewal */
        drudge_buf_reset(&q->out);
        drudge_buf_printf(&q->out,
                          "{\"id\":%lld,\"state\":\"running\",\"cancel_requested\":true}\n",
                          (long long)id);
        q->status = 202;
    }
}

static void api_resolve(room_req *q)
{
    int64_t id;
    char note[2048] = "";
    drudge_err err = {0};
    if (!parse_id(q, &id) || !body_object(q, 0))
        return;
    if (member_str(q->body, q->body_len, "note", note, sizeof note) || !*note)
        return room_json_error(q, 400,
                               "resolve needs a note: {\"note\": \"what was done by hand\"}");
    room_lock(q);
    drudge_code rc = drudge_queue_resolve(q->r->s, id, q->user.name, note, drudge_now_us(), &err);
    room_unlock(q);
    if (rc)
        return room_json_fail(q, &err);
    drudge_buf_puts(&q->out, "{");
    drudge_json_int(&q->out, "id", id);
    drudge_json_bool(&q->out, "resolved", 1);
    drudge_buf_puts(&q->out, "}");
    answer_json(q, 200);
}

/* POST /api/v1/retry {"ids":[1,2,3]}: each retried or why not. */
static void api_retry_many(room_req *q)
{
    size_t vl = 0;
    if (!body_object(q, 0))
        return;
    const char *ids = member_raw(q->body, q->body_len, "ids", &vl);
    drudge_json_iter it;
    if (!ids || *ids != '[' || drudge_json_iter_init(&it, ids, vl))
        return room_json_error(q, 400, "bulk retry needs {\"ids\": [task ids]}");
    drudge_buf *b = &q->out;
    const char *k, *v;
    size_t kl, n;
    int r, count = 0, retried = 0;
    drudge_buf_puts(b, "{\"results\":[");
    while ((r = drudge_json_iter_next(&it, &k, &kl, &v, &n)) == 1) {
        char num[32], *end;
        if (n >= sizeof num)
            break;
        memcpy(num, v, n);
        num[n] = '\0';
        long long id = strtoll(num, &end, 10);
        if (*end || id <= 0) {
            drudge_buf_reset(b);
            return room_json_error(q, 400, "ids: '%s' is not a task id", num);
        }
        drudge_err err = {0};
        room_lock(q);
        drudge_code rc = drudge_queue_retry(q->r->s, id, q->user.name, drudge_now_us(), &err);
        room_unlock(q);
        drudge_buf_puts(b, count++ ? ",{" : "{");
        drudge_json_int(b, "id", id);
        drudge_json_bool(b, "retried", rc == DRUDGE_OK);
        if (rc)
            drudge_json_str(b, "error", err.msg);
        drudge_buf_puts(b, "}");
        retried += rc == DRUDGE_OK;
    }
    drudge_buf_printf(b, "],\"retried\":%d}", retried);
    answer_json(q, 200);
}

static void pause_resume(room_req *q, int pause)
{
    int changed = 0;
    drudge_err err = {0};
    room_lock(q);
    drudge_code rc =
        pause ? drudge_queue_pause(q->r->s, q->arg, q->user.name, drudge_now_us(), &changed, &err)
              : drudge_queue_resume(q->r->s, q->arg, q->user.name, drudge_now_us(), &changed, &err);
    room_unlock(q);
    if (rc)
        return room_json_fail(q, &err);
    drudge_buf_puts(&q->out, "{");
    drudge_json_str(&q->out, "script", q->arg);
    drudge_json_bool(&q->out, "paused", pause);
    drudge_json_bool(&q->out, "changed", changed);
    drudge_buf_puts(&q->out, "}");
    answer_json(q, 200);
}

static void api_pause(room_req *q)
{
    pause_resume(q, 1);
}

static void api_resume(room_req *q)
{
    pause_resume(q, 0);
}

/* One task of an enqueue: {"script","input","key","priority","run_at",
 * "deadline"} (times as --at and --deadline take them).
 * The script must be known (enqueued before: its path and settings are
 * the store's). Returns 0, or -1 with the error answered. */
static int enqueue_one(room_req *q, const char *obj, size_t n, const char *idem, int i,
                       drudge_buf *b)
{
    char script[256], key[512], when[64], why[160];
    size_t vl = 0;
    drudge_task_spec spec = {0};
    drudge_err err = {0};
    if (*obj != '{') {
        room_json_error(q, 400, "tasks[%d]: not a JSON object", i);
        return -1;
    }
    if (member_str(obj, n, "script", script, sizeof script) || !*script) {
        room_json_error(q, 400, "tasks[%d]: \"script\" (a script's name) is missing", i);
        return -1;
    }
    const char *input = member_raw(obj, n, "input", &vl);
    char *input_s = NULL;
    if (input) { /* valid JSON: the whole body was checked */
        input_s = drudge_xmalloc(vl + 1);
        memcpy(input_s, input, vl);
        input_s[vl] = '\0';
    }
    int has_key = !member_str(obj, n, "key", key, sizeof key) && *key;
    if (!has_key && idem) {
        snprintf(key, sizeof key, "%s", idem);
        has_key = 1;
    }
    room_lock(q);
    drudge_code rc = drudge_store_known_script(q->r->s, script, &spec, &err);
    room_unlock(q);
    if (rc) {
        free(input_s);
        if (rc == DRUDGE_ENOTFOUND)
            room_json_error(q, 404,
                            "tasks[%d]: no script '%s' is known here (enqueue it once with "
                            "drudge enqueue PATH, or add a schedule for it)",
                            i, script);
        else
            room_json_fail(q, &err);
        return -1;
    }
    spec.input = input_s;
    spec.key = has_key ? key : NULL;
    const char *prio = member_raw(obj, n, "priority", &vl);
    if (prio) {
        char num[24], *end;
        long v = 0;
        if (vl < sizeof num) {
            memcpy(num, prio, vl);
            num[vl] = '\0';
            v = strtol(num, &end, 10);
        }
        if (vl >= sizeof num || *end || v < -1000000 || v > 1000000) {
            room_json_error(q, 400, "tasks[%d]: priority: want an integer", i);
            goto fail;
        }
        spec.priority = (int)v;
    }
    if (!member_str(obj, n, "run_at", when, sizeof when) &&
        drudge_parse_time_ex(when, drudge_now_us(), 0, &spec.run_at, why, sizeof why)) {
        room_json_error(q, 400, "tasks[%d]: run_at '%s': %s", i, when, why);
        goto fail;
    }
    why[0] = '\0';
    if (member_raw(obj, n, "deadline", &vl) &&
        (member_str(obj, n, "deadline", when, sizeof when) ||
         drudge_parse_time_ex(when, drudge_now_us(), 0, &spec.deadline, why, sizeof why))) {
        room_json_error(q, 400, "tasks[%d]: deadline: want a time (2026-12-09T17:00, +4h)%s%s", i,
                        *why ? ": " : "", why);
        goto fail;
    }
    int64_t id = 0;
    int dup = 0;
    room_lock(q);
    rc = drudge_queue_enqueue(q->r->s, &spec, &id, &dup, &err);
    room_unlock(q);
    if (rc) {
        room_json_fail(q, &err);
        goto fail;
    }
    drudge_buf_puts(b, i ? ",{" : "{");
    drudge_json_int(b, "id", id);
    drudge_json_str(b, "script", script);
    drudge_json_bool(b, "duplicate", dup);
    drudge_buf_puts(b, "}");
    spec.input = NULL;
    spec.key = NULL;
    free(input_s);
    drudge_task_spec_clear(&spec);
    return dup;
fail:
    spec.input = NULL;
    spec.key = NULL;
    free(input_s);
    drudge_task_spec_clear(&spec);
    return -1;
}

/* POST /api/v1/tasks: one task ({"script":...}) or many ({"tasks":[...]}).
 * A task whose (script, key) is there already is not added again: the
 * answer names the existing one ("duplicate": true), so a caller that
 * retries after a lost answer makes one task. Idempotency-Key stands for
 * the key of a single task that has none. */
static void api_enqueue(room_req *q)
{
    size_t vl = 0;
    drudge_buf b = {0};
    if (!body_object(q, 0))
        return;
    const char *many = member_raw(q->body, q->body_len, "tasks", &vl);
    int added = 0, dups = 0, i = 0, r;
    drudge_buf_puts(&b, "{\"tasks\":[");
    if (many) {
        drudge_json_iter it;
        const char *k, *v;
        size_t kl, n;
        if (*many != '[' || drudge_json_iter_init(&it, many, vl)) {
            drudge_buf_free(&b);
            return room_json_error(q, 400, "\"tasks\" must be an array of task objects");
        }
        while (drudge_json_iter_next(&it, &k, &kl, &v, &n) == 1) {
            if ((r = enqueue_one(q, v, n, NULL, i++, &b)) < 0)
                goto fail;
            added += !r;
            dups += r;
        }
    } else {
        if ((r = enqueue_one(q, q->body, q->body_len, q->idem_header, 0, &b)) < 0)
            goto fail;
        added += !r;
        dups += r;
    }
    drudge_buf_printf(&b, "],\"added\":%d,\"duplicates\":%d}\n", added, dups);
    drudge_buf_free(&q->out);
    q->out = b;
    q->status = added ? 201 : 200;
    q->type = "application/json";
    return;
fail:
    drudge_buf_free(&b);
}

/* ---- schedules, scripts, report ---- */

static void api_schedules(room_req *q)
{
    drudge_schedule *list = NULL;
    int n = 0;
    drudge_err err = {0};
    int64_t now = drudge_now_us();
    room_lock(q);
    drudge_code rc = drudge_schedule_list(q->r->s, &list, &n, &err);
    room_unlock(q);
    if (rc)
        return room_json_fail(q, &err);
    drudge_buf *b = &q->out;
    drudge_buf_puts(b, "{\"schedules\":[");
    for (int i = 0; i < n; i++) {
        drudge_buf_puts(b, i ? ",{" : "{");
        drudge_json_str(b, "name", list[i].name);
        drudge_json_str(b, "cron", list[i].cron);
        drudge_json_str(b, "tz", list[i].tz);
        drudge_json_str(b, "script", list[i].script);
        drudge_json_bool(b, "paused", list[i].paused);
        drudge_json_str(b, "window", list[i].window);
        json_time(b, "last_tick", list[i].last_tick);
        int64_t next = list[i].paused ? -1 : drudge_schedule_next(list[i].cron, list[i].tz, now);
        json_time(b, "next_run", next > 0 ? next : 0);
        drudge_buf_puts(b, "}");
    }
    drudge_buf_puts(b, "]}");
    drudge_schedule_list_free(list, n);
    answer_json(q, 200);
}

static void schedule_change(room_req *q, int pause)
{
    drudge_err err = {0};
    room_lock(q);
    drudge_code rc =
        drudge_schedule_set_paused(q->r->s, q->arg, pause, q->user.name, drudge_now_us(), &err);
    room_unlock(q);
    if (rc)
        return room_json_fail(q, &err);
    drudge_buf_puts(&q->out, "{");
    drudge_json_str(&q->out, "schedule", q->arg);
    drudge_json_bool(&q->out, "paused", pause);
    drudge_buf_puts(&q->out, "}");
    answer_json(q, 200);
}

static void api_schedule_pause(room_req *q)
{
    schedule_change(q, 1);
}

static void api_schedule_resume(room_req *q)
{
    schedule_change(q, 0);
}

/* POST /api/v1/schedules/{name}/run: one task of the schedule, now. */
static void api_schedule_run(room_req *q)
{
    drudge_schedule *list = NULL;
    int n = 0;
    drudge_err err = {0};
    int64_t now = drudge_now_us(), id = 0;
    int dup = 0;
    room_lock(q);
    drudge_code rc = drudge_schedule_list(q->r->s, &list, &n, &err);
    const drudge_schedule *sc = NULL;
    for (int i = 0; !rc && i < n; i++)
        if (!strcmp(list[i].name, q->arg))
            sc = &list[i];
    if (!rc && !sc)
        rc = drudge_seterr(&err, DRUDGE_ENOTFOUND, "no schedule named '%s'", q->arg);
    if (!rc) {
        char key[96];
        snprintf(key, sizeof key, "run-now:%s:%lld", sc->name, (long long)now);
        drudge_task_spec spec = {.script = sc->script,
                                 .script_path = sc->script_path,
                                 .key = key,
                                 .input = sc->input,
                                 .priority = sc->priority,
                                 .max_attempts = sc->max_attempts,
                                 .manual_minutes = sc->manual_minutes,
                                 .exception_minutes = sc->exception_minutes,
                                 .schedule = sc->name,
                                 .window = sc->window};
        rc = drudge_queue_enqueue(q->r->s, &spec, &id, &dup, &err);
        if (!rc) {
            char args[300];
            snprintf(args, sizeof args, "\"schedule\":\"%s\"", sc->name);
            drudge_operator_step op = {.task_id = id,
                                       .action = "schedule run",
                                       .user = q->user.name,
                                       .args = args,
                                       .now = now};
            if (!(rc = drudge_store_begin(q->r->s, DRUDGE_TX_WRITE, &err)) &&
                !(rc = drudge_audit_operator(q->r->s, &op, &err)))
                rc = drudge_store_commit(q->r->s, &err);
            if (rc)
                drudge_store_rollback(q->r->s);
        }
    }
    room_unlock(q);
    drudge_schedule_list_free(list, n);
    if (rc)
        return room_json_fail(q, &err);
    drudge_buf_printf(&q->out, "{\"schedule\":");
    drudge_buf_json_str(&q->out, q->arg, strlen(q->arg));
    drudge_buf_printf(&q->out, ",\"task\":%lld}", (long long)id);
    answer_json(q, 201);
}

static int version_json(void *ud, const drudge_script_version_use *v)
{
    drudge_buf *b = ud;
    drudge_buf_puts(b, b->data[b->len - 1] == '[' ? "{" : ",{");
    drudge_json_str(b, "script", v->script);
    drudge_json_str(b, "version", v->sha256);
    drudge_json_str(b, "path", v->path);
    json_time(b, "created_at", v->created_at);
    json_time(b, "first_use", v->first_use);
    json_time(b, "last_use", v->last_use);
    drudge_json_int(b, "tasks", v->tasks);
    drudge_json_int(b, "finished", v->finished);
    drudge_json_int(b, "failed", v->failed);
    drudge_buf_puts(b, "}");
    return 0;
}

static void api_scripts(room_req *q)
{
    drudge_err err = {0};
    drudge_buf_puts(&q->out, "{\"versions\":[");
    room_lock(q);
    drudge_code rc = drudge_store_script_versions(q->r->s, NULL, version_json, &q->out, &err);
    room_unlock(q);
    if (rc)
        return room_json_fail(q, &err);
    drudge_buf_puts(&q->out, "]}");
    answer_json(q, 200);
}

/* The report's options from the query; -1 answered. */
int room_report_opts(room_req *q, drudge_report_opts *o, char script[128])
{
    char by[16];
    memset(o, 0, sizeof *o);
    o->since = INT64_MIN;
    o->until = INT64_MAX;
    o->by = DRUDGE_REPORT_BY_SCRIPT;
    if (!room_query(q, "by", by, sizeof by) && *by && drudge_report_parse_by(by, &o->by)) {
        room_json_error(q, 400, "by '%s': want script, day, week or month", by);
        return -1;
    }
    if (!room_query(q, "script", script, 128) && *script)
        o->script = script;
    int64_t t;
    if (time_param(q, "since", DRUDGE_TIME_UTC_DAY, &t))
        return -1;
    if (t)
        o->since = t;
    if (time_param(q, "until", DRUDGE_TIME_UTC_DAY | DRUDGE_TIME_DAY_END, &t))
        return -1;
    if (t)
        o->until = t;
    return 0;
}

static void api_report(room_req *q)
{
    drudge_report_opts o;
    drudge_report *rep = NULL;
    drudge_err err = {0};
    char script[128], format[16] = "json";
    if (room_report_opts(q, &o, script))
        return;
    room_query(q, "format", format, sizeof format);
    if (strcmp(format, "json") && strcmp(format, "csv"))
        return room_json_error(q, 400, "format '%s': want json or csv", format);
    room_lock(q);
    drudge_code rc = drudge_report_compute(q->r->s, &o, &rep, &err);
    room_unlock(q);
    if (rc)
        return room_json_fail(q, &err);
    if (!strcmp(format, "csv")) {
        drudge_report_csv(rep, &q->out);
        q->type = "text/csv; charset=utf-8";
        room_header(q, "Content-Disposition", "attachment; filename=\"drudge-report.csv\"");
    } else {
        drudge_report_json(rep, &q->out);
        q->type = "application/json";
    }
    drudge_report_free(rep);
}

/* ---- the audit trail (auditors) ---- */

static void api_verify(room_req *q)
{
    drudge_verify_opts vo = {0};
    drudge_verify_report rep = {0};
    drudge_err err = {0};
    room_lock(q);
    drudge_code rc = drudge_audit_verify(q->r->s, &vo, &rep, &err);
    room_unlock(q);
    if (rc && rc != DRUDGE_ETAMPER) {
        drudge_verify_report_clear(&rep);
        return room_json_fail(q, &err);
    }
    room_verify_json(&q->out, &rep);
    drudge_verify_report_clear(&rep);
    answer_json(q, 200);
}

void room_verify_json(drudge_buf *b, const drudge_verify_report *rep)
{
    drudge_buf_puts(b, "{");
    drudge_json_bool(b, "intact", rep->problems == 0);
    drudge_json_int(b, "rows", rep->rows);
    drudge_json_str(b, "head", rep->head);
    drudge_json_int(b, "payloads", rep->payloads);
    drudge_json_int(b, "pruned", rep->pruned);
    drudge_json_int(b, "checkpoints", rep->checkpoints);
    drudge_json_int(b, "signed_rows", rep->signed_rows);
    drudge_json_int(b, "tasks", rep->tasks);
    drudge_json_int(b, "problems", rep->problems);
    drudge_json_str(b, "report", rep->text);
    drudge_buf_puts(b, "}");
}

static void api_checkpoints(room_req *q)
{
    drudge_checkpoint_row *c = NULL;
    size_t n = 0;
    drudge_err err = {0};
    room_lock(q);
    drudge_code rc = drudge_store_checkpoints(q->r->s, &c, &n, &err);
    room_unlock(q);
    if (rc)
        return room_json_fail(q, &err);
    drudge_buf *b = &q->out;
    drudge_buf_puts(b, "{\"checkpoints\":[");
    for (size_t i = 0; i < n; i++) {
        drudge_buf_puts(b, i ? ",{" : "{");
        drudge_json_int(b, "id", c[i].id);
        drudge_json_int(b, "step_id", c[i].step_id);
        drudge_json_int(b, "row_count", c[i].row_count);
        json_time(b, "created_at", c[i].created_at);
        drudge_json_str(b, "head_hash", c[i].head_hash);
        drudge_json_str(b, "public_key", c[i].public_key);
        drudge_buf_puts(b, "}");
    }
    drudge_buf_puts(b, "]}");
    free(c);
    answer_json(q, 200);
}

/* Records an auditor's download of the trail on the chain. */
static drudge_code export_step(room_req *q, const char *action, int64_t task, const char *args,
                               drudge_err *err)
{
    drudge_operator_step op = {.task_id = task,
                               .action = action,
                               .user = q->user.name,
                               .args = args,
                               .now = drudge_now_us()};
    drudge_code rc = drudge_store_begin(q->r->s, DRUDGE_TX_WRITE, err);
    if (!rc)
        rc = drudge_audit_operator(q->r->s, &op, err);
    if (!rc)
        rc = drudge_store_commit(q->r->s, err);
    if (rc)
        drudge_store_rollback(q->r->s);
    return rc;
}

static void api_export(room_req *q)
{
    char format[16] = "jsonl", args[64];
    drudge_export_opts eo = {0};
    drudge_err err = {0};
    int64_t rows = 0;
    room_query(q, "format", format, sizeof format);
    if (!strcmp(format, "csv"))
        eo.format = DRUDGE_EXPORT_CSV;
    else if (strcmp(format, "jsonl"))
        return room_json_error(q, 400, "format '%s': want jsonl or csv", format);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return room_json_error(q, 500, "cannot make the export in memory");
    snprintf(args, sizeof args, "\"format\":\"%s\"", format);
    room_lock(q);
    drudge_code rc = export_step(q, "export", 0, args, &err);
    if (!rc)
        rc = drudge_audit_export(q->r->s, f, &eo, &rows, &err);
    room_unlock(q);
    fclose(f);
    if (rc) {
        free(text);
        return room_json_fail(q, &err);
    }
    drudge_buf_add(&q->out, text, len);
    free(text);
    q->type = eo.format == DRUDGE_EXPORT_CSV ? "text/csv; charset=utf-8" : "application/x-ndjson";
    room_header(q, "Content-Disposition", "attachment; filename=\"drudge-audit.%s\"", format);
}

/* GET /api/v1/tasks/{id}/timeline: the audit show of a task, as text to print. */
static void api_timeline(room_req *q)
{
    int64_t id;
    drudge_err err = {0};
    if (!parse_id(q, &id))
        return;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return room_json_error(q, 500, "cannot make the timeline in memory");
    room_lock(q);
    drudge_code rc = drudge_audit_show_ex(q->r->s, f, id, 0, 0, 1, &err);
    room_unlock(q);
    fclose(f);
    if (rc) {
        free(text);
        return room_json_fail(q, &err);
    }
    drudge_buf_add(&q->out, text, len);
    free(text);
    q->type = "text/plain; charset=utf-8";
}

/* ---- users (admins) ---- */

static void api_users(room_req *q)
{
    drudge_room_user *u = NULL;
    size_t n = 0;
    drudge_err err = {0};
    room_lock(q);
    drudge_code rc = drudge_store_users(q->r->s, &u, &n, &err);
    room_unlock(q);
    if (rc)
        return room_json_fail(q, &err);
    drudge_buf *b = &q->out;
    drudge_buf_puts(b, "{\"users\":[");
    for (size_t i = 0; i < n; i++) {
        drudge_buf_puts(b, i ? ",{" : "{");
        drudge_json_str(b, "name", u[i].name);
        drudge_json_str(b, "role", u[i].role);
        drudge_json_bool(b, "disabled", u[i].disabled);
        json_time(b, "created_at", u[i].created_at);
        drudge_buf_puts(b, "}");
    }
    drudge_buf_puts(b, "]}");
    drudge_room_users_free(u, n);
    answer_json(q, 200);
}

static void api_login(room_req *q)
{
    room_auth_login(q);
}

static void api_logout(room_req *q)
{
    room_auth_logout(q);
}

const room_route room_api_routes[] = {
    {"GET", "/api/v1/openapi.json", ROOM_ANYONE, api_openapi, "read the API description"},
    {"POST", "/api/v1/login", ROOM_ANYONE, api_login, "log in"},
    {"POST", "/api/v1/logout", ROOM_ANYONE, api_logout, "log out"},
    {"GET", "/api/v1/me", ROOM_SEE, api_me, "see who they are"},
    {"GET", "/api/v1/status", ROOM_SEE, api_status, "read the counts"},
    {"GET", "/api/v1/events", ROOM_SEE, room_live_events, "read the counts"},
    {"GET", "/api/v1/throughput", ROOM_SEE, api_throughput, "read the counts"},
    {"GET", "/api/v1/tasks", ROOM_SEE, api_tasks, "list tasks"},
    {"POST", "/api/v1/tasks", ROOM_ACT, api_enqueue, "enqueue tasks"},
    {"GET", "/api/v1/tasks/{id}", ROOM_SEE, api_task, "read a task"},
    {"POST", "/api/v1/tasks/{id}/retry", ROOM_ACT, api_retry, "retry tasks"},
    {"POST", "/api/v1/tasks/{id}/cancel", ROOM_ACT, api_cancel, "cancel tasks"},
    {"POST", "/api/v1/tasks/{id}/resolve", ROOM_ACT, api_resolve, "resolve tasks"},
    {"GET", "/api/v1/tasks/{id}/timeline", ROOM_FULL, api_timeline, "read the audit trail"},
    {"POST", "/api/v1/retry", ROOM_ACT, api_retry_many, "retry tasks"},
    {"GET", "/api/v1/scripts", ROOM_SEE, api_scripts, "list script versions"},
    {"POST", "/api/v1/scripts/{name}/pause", ROOM_ACT, api_pause, "pause scripts"},
    {"POST", "/api/v1/scripts/{name}/resume", ROOM_ACT, api_resume, "resume scripts"},
    {"GET", "/api/v1/schedules", ROOM_SEE, api_schedules, "list schedules"},
    {"POST", "/api/v1/schedules/{name}/pause", ROOM_ACT, api_schedule_pause, "pause schedules"},
    {"POST", "/api/v1/schedules/{name}/resume", ROOM_ACT, api_schedule_resume, "resume schedules"},
    {"POST", "/api/v1/schedules/{name}/run", ROOM_ACT, api_schedule_run, "run schedules"},
    {"GET", "/api/v1/report", ROOM_SEE, api_report, "read the report"},
    {"GET", "/api/v1/payloads/{sha256}", ROOM_FULL, api_payload, "read evidence"},
    {"GET", "/api/v1/audit/verify", ROOM_FULL, api_verify, "verify the audit trail"},
    {"POST", "/api/v1/audit/verify", ROOM_FULL, room_verify_start, "verify the audit trail"},
    {"GET", "/api/v1/audit/verify/progress", ROOM_FULL, room_verify_progress,
     "verify the audit trail"},
    {"GET", "/api/v1/audit/checkpoints", ROOM_FULL, api_checkpoints, "read the audit trail"},
    {"GET", "/api/v1/audit/export", ROOM_FULL, api_export, "export the audit trail"},
    {"GET", "/api/v1/users", ROOM_USERS, api_users, "list users"},
    {"POST", "/api/v1/users/{name}/password", ROOM_USERS, room_auth_password_reset,
     "reset passwords"},
    {"POST", "/api/v1/me/password", ROOM_SEE, room_auth_password_change, "change their password"},
    {"GET", "/api/v1/tokens", ROOM_SEE, room_auth_tokens, "list tokens"},
    {"POST", "/api/v1/tokens/{id}/revoke", ROOM_SEE, room_auth_token_revoke, "revoke tokens"},
    {NULL, NULL, 0, NULL, NULL},
};

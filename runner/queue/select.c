/* select.c: choosing tasks by ids, ranges and filters, and bulk actions on
 * them (select.h). The store narrows what it can in SQL (state, script,
 * key, key prefix, error text, dates, the span of the ids); the rest (a set
 * of ids, several states, the reason a queued task waits) is checked here,
 * page by page, so that a selection over millions of tasks holds one page
 * of rows at a time. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "logs/audit/audit.h"
#include "runner/queue/select.h"

#define PAGE 1000

void drudge_select_init(drudge_task_select *sel)
{
    memset(sel, 0, sizeof *sel);
    sel->waiting = -1;
}

void drudge_select_clear(drudge_task_select *sel)
{
    free(sel->ranges);
    drudge_select_init(sel);
}

/* A task id: digits, optionally after '#'; 0 if s is not one. */
static int64_t parse_id(const char *s, const char *end)
{
    int64_t v = 0;
    if (s < end && *s == '#')
        s++;
    if (s == end)
        return 0;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (*s - '0');
    }
    return v;
}

drudge_code drudge_select_add_ids(drudge_task_select *sel, const char *arg, drudge_err *err)
{
    const char *end = arg + strlen(arg), *dash = strchr(arg, '-');
    int64_t lo, hi;
    if (dash && dash != arg) {
        lo = parse_id(arg, dash);
        hi = parse_id(dash + 1, end);
    } else {
        lo = hi = parse_id(arg, end);
    }
    if (!lo || !hi)
        return drudge_seterr(err, DRUDGE_EUSAGE,
                             "'%s' is not a task id or a range of them (12, #12, 10-20)", arg);
    if (lo > hi)
        return drudge_seterr(err, DRUDGE_EUSAGE,
                             "the range '%s' is empty: it starts after it ends (write %lld-%lld)",
                             arg, (long long)hi, (long long)lo);
    sel->ranges = drudge_xrealloc(sel->ranges, (sel->nranges + 1) * sizeof *sel->ranges);
    sel->ranges[sel->nranges++] = (drudge_id_range){lo, hi};
    return DRUDGE_OK;
}

drudge_code drudge_select_add_state(drudge_task_select *sel, const char *state, drudge_err *err)
{
    for (int i = 0; i < DRUDGE_NSTATES; i++)
        if (!strcmp(state, drudge_task_states[i])) {
            sel->states |= 1u << i;
            return DRUDGE_OK;
        }
    return drudge_seterr(err, DRUDGE_EUSAGE,
                         "unknown state '%s': use queued, running, done, failed, dead or cancelled",
                         state);
}

int drudge_select_narrowed(const drudge_task_select *sel)
{
    const drudge_task_filter *f = &sel->f;
    return sel->states || sel->nranges || sel->waiting >= 0 || f->script || f->key ||
           f->key_prefix || f->error || f->created_since || f->created_until || f->finished_since ||
           f->finished_until || f->deadline_status;
}

static void describe_str(drudge_buf *out, const char *what, const char *v)
{
    if (!v)
        return;
    drudge_buf_printf(out, "%s%s '%s'", out->len ? ", " : "", what, v);
}

static void describe_time(drudge_buf *out, const char *what, int64_t t)
{
    char ts[40];
    if (!t)
        return;
    drudge_fmt_time(t, ts);
    drudge_buf_printf(out, "%s%s %s", out->len ? ", " : "", what, ts);
}

void drudge_select_describe(const drudge_task_select *sel, drudge_buf *out)
{
    size_t start = out->len;
    for (size_t i = 0; i < sel->nranges; i++) {
        const drudge_id_range *r = &sel->ranges[i];
        drudge_buf_printf(out, "%s", i ? ", " : "ids ");
        if (r->lo == r->hi)
            drudge_buf_printf(out, "%lld", (long long)r->lo);
        else
            drudge_buf_printf(out, "%lld-%lld", (long long)r->lo, (long long)r->hi);
    }
    for (int i = 0, k = 0; i < DRUDGE_NSTATES; i++)
        if (sel->states & (1u << i))
            drudge_buf_printf(out, "%s%s",
                              k++                ? " or "
                              : out->len > start ? ", state "
                                                 : "state ",
                              drudge_task_states[i]);
    if (sel->waiting >= 0)
        drudge_buf_printf(out, "%swaiting %s", out->len > start ? ", " : "",
                          drudge_wait_names[sel->waiting]);
    if (sel->f.deadline_status)
        drudge_buf_printf(out, "%sdeadline %s", out->len > start ? ", " : "",
                          sel->f.deadline_status);
    describe_str(out, "script", sel->f.script);
    describe_str(out, "key", sel->f.key);
    describe_str(out, "key prefix", sel->f.key_prefix);
    describe_str(out, "error containing", sel->f.error);
    describe_time(out, "created since", sel->f.created_since);
    describe_time(out, "created before", sel->f.created_until);
    describe_time(out, "finished since", sel->f.finished_since);
    describe_time(out, "finished before", sel->f.finished_until);
    if (out->len == start)
        drudge_buf_puts(out, "every task");
}

/* ---- selecting ---- */

static int in_ranges(const drudge_task_select *sel, int64_t id)
{
    if (!sel->nranges)
        return 1;
    for (size_t i = 0; i < sel->nranges; i++)
        if (id >= sel->ranges[i].lo && id <= sel->ranges[i].hi)
            return 1;
    return 0;
}

static int state_index(const char *state)
{
    for (int i = 0; i < DRUDGE_NSTATES; i++)
        if (!strcmp(state, drudge_task_states[i]))
            return i;
    return -1;
}

static int keep(const drudge_task_select *sel, const drudge_wait_ctx *ctx, const drudge_task_row *t,
                int64_t now)
{
    int si = state_index(t->state);
    if (!in_ranges(sel, t->id) || (sel->states && (si < 0 || !(sel->states & (1u << si)))))
        return 0;
    if (sel->waiting >= 0) {
        drudge_wait w;
        if (strcmp(t->state, "queued") != 0)
            return 0;
        drudge_wait_of(ctx, t, now, &w);
        return (int)w.reason == sel->waiting;
    }
    return 1;
}

/* The store's part of sel: one state in SQL, the span of the ids. */
static drudge_task_filter store_filter(const drudge_task_select *sel)
{
    drudge_task_filter f = sel->f;
    f.state = NULL;
    for (int i = 0; i < DRUDGE_NSTATES; i++)
        if (sel->states == 1u << i)
            f.state = drudge_task_states[i];
    if (sel->waiting >= 0)
        f.state = "queued";
    for (size_t i = 0; i < sel->nranges; i++) {
        if (!i || sel->ranges[i].lo < f.id_min)
            f.id_min = sel->ranges[i].lo;
        if (!i || sel->ranges[i].hi > f.id_max)
            f.id_max = sel->ranges[i].hi;
    }
    return f;
}

drudge_code drudge_queue_select(drudge_store *s, const drudge_task_select *sel, int64_t now,
                                size_t limit, int newest_first, drudge_task_row **rows, size_t *n,
                                int *more, drudge_err *err)
{
    drudge_task_filter f = store_filter(sel);
    f.deadline_now = now;
    drudge_wait_ctx *ctx = NULL;
    drudge_task_row *page = NULL;
    size_t np = 0, cap = 0;
    drudge_code rc = DRUDGE_OK;
    *rows = NULL;
    *n = 0;
    if (more)
        *more = 0;
    if (sel->waiting >= 0 && (rc = drudge_wait_ctx_load(s, &ctx, err)))
        return rc;
    f.limit = PAGE;
    f.oldest_first = !newest_first;
    for (;;) {
        rc = drudge_store_list(s, &f, &page, &np, err);
        if (rc)
            break;
        for (size_t i = 0; i < np; i++) {
            if (!keep(sel, ctx, &page[i], now) || (limit && *n == limit)) {
                if (more && limit && *n == limit && keep(sel, ctx, &page[i], now))
                    *more = 1;
                drudge_task_row_clear(&page[i]);
                continue;
            }
            if (*n == cap) {
                cap = cap ? 2 * cap : 64;
                *rows = drudge_xrealloc(*rows, cap * sizeof **rows);
            }
            (*rows)[(*n)++] = page[i];
        }
        int last = np < PAGE || (limit && *n == limit && (!more || *more));
        if (np && newest_first)
            f.id_max = page[np - 1].id - 1;
        else if (np)
            f.id_min = page[np - 1].id + 1;
        free(page);
        page = NULL;
        if (last || (newest_first && f.id_max < 1))
            break;
    }
    drudge_wait_ctx_free(ctx);
    if (rc) {
        drudge_task_rows_free(*rows, *n);
        *rows = NULL;
        *n = 0;
    }
    return rc;
}

/* ---- bulk actions ---- */

const char *drudge_bulk_name(drudge_bulk_action a)
{
    return a == DRUDGE_BULK_CANCEL ? "cancel" : a == DRUDGE_BULK_RETRY ? "retry" : "resolve";
}

void drudge_bulk_result_clear(drudge_bulk_result *r)
{
    free(r->items);
    memset(r, 0, sizeof *r);
}

/* Whether action applies to t; *skip says why not. */
static int applies(drudge_bulk_action a, const drudge_task_row *t, const char **skip)
{
    const char *st = t->state;
    switch (a) {
    case DRUDGE_BULK_CANCEL:
        if (!strcmp(st, "queued") || !strcmp(st, "running"))
            return 1;
        *skip = "only queued or running tasks can be cancelled";
        return 0;
    case DRUDGE_BULK_RETRY:
        if (!strcmp(st, "failed") || !strcmp(st, "dead") || !strcmp(st, "cancelled"))
            return 1;
        *skip = "only failed, dead or cancelled tasks can be retried";
        return 0;
    case DRUDGE_BULK_RESOLVE:
        if (strcmp(st, "failed") != 0 && strcmp(st, "dead") != 0) {
            *skip = "only failed or dead tasks can be resolved";
            return 0;
        }
        if (t->resolved_at) {
            *skip = "it is resolved already";
            return 0;
        }
        return 1;
    }
    return 0;
}

/* Acts on one task, with its operator step; *changed and *deferred as the
 * store says (a task changed since it was read is skipped). */
static drudge_code act(drudge_store *s, drudge_bulk_action a, const drudge_task_row *t,
                       const char *who, const char *args, const char *note, int64_t now,
                       int *changed, int *deferred, drudge_err *err)
{
    int64_t n = 0;
    drudge_code rc;
    const char *result = NULL;
    *deferred = 0;
    switch (a) {
    case DRUDGE_BULK_CANCEL:
        rc = drudge_store_cancel(s, t->id, who, now, &n, deferred, err);
        result = n ? "{\"state\":\"cancelled\"}" : "{\"requested\":true}";
        break;
    case DRUDGE_BULK_RETRY:
        rc = drudge_store_retry(s, t->id, now, &n, err);
        result = "{\"state\":\"queued\"}";
        break;
    default:
        rc = drudge_store_resolve(s, t->id, who, note, now, &n, err);
        break;
    }
    *changed = !rc && (n || *deferred);
    if (rc || !*changed)
        return rc;
    drudge_operator_step op = {.task_id = t->id,
                               .action = drudge_bulk_name(a),
                               .user = who,
                               .args = args,
                               .result = result,
                               .now = now};
    return drudge_audit_operator(s, &op, err);
}

/* The operator step's arguments: the note (which audit verify checks
 * against the row), then the selection, so the chain says how the task was
 * chosen. */
static void bulk_args(const drudge_task_select *sel, const char *note, drudge_buf *args)
{
    drudge_buf d = {0};
    if (note) {
        drudge_buf_puts(args, "\"note\":");
        drudge_buf_json_str(args, note, strlen(note));
        drudge_buf_puts(args, ",");
    }
    drudge_select_describe(sel, &d);
    drudge_buf_puts(args, "\"selection\":");
    drudge_buf_json_str(args, d.data, d.len);
    drudge_buf_free(&d);
}

drudge_code drudge_queue_bulk(drudge_store *s, drudge_bulk_action action,
                              const drudge_task_select *sel, const char *who, const char *note,
                              int dry_run, int64_t now, drudge_bulk_result *out, drudge_err *err)
{
    drudge_task_row *rows = NULL;
    drudge_buf args = {0};
    size_t n = 0;
    memset(out, 0, sizeof *out);
    if (action == DRUDGE_BULK_RESOLVE && (!note || !*note))
        return drudge_seterr(err, DRUDGE_EUSAGE, "say what was done: --note TEXT");
    bulk_args(sel, action == DRUDGE_BULK_RESOLVE ? note : NULL, &args);
    drudge_code rc = drudge_store_begin(s, dry_run ? DRUDGE_TX_READ : DRUDGE_TX_WRITE, err);
    if (!rc)
        rc = drudge_queue_select(s, sel, now, 0, 0, &rows, &n, NULL, err);
    if (!rc && n)
        out->items = drudge_xmalloc(n * sizeof *out->items);
    for (size_t i = 0; i < n && !rc; i++) {
        drudge_bulk_item *it = &out->items[out->n++];
        memset(it, 0, sizeof *it);
        it->id = rows[i].id;
        snprintf(it->script, sizeof it->script, "%s", rows[i].script);
        snprintf(it->state, sizeof it->state, "%s", rows[i].state);
        if (!applies(action, &rows[i], &it->skip))
            continue;
        if (dry_run) {
            it->applies = 1;
            it->deferred = action == DRUDGE_BULK_CANCEL && !strcmp(rows[i].state, "running");
        } else {
            rc = act(s, action, &rows[i], who, args.data, note, now, &it->applies, &it->deferred,
                     err);
            if (!rc && !it->applies)
                it->skip = "it changed while this ran";
        }
        out->applied += it->applies;
        out->deferred += it->deferred;
    }
    if (!rc && !dry_run)
        rc = drudge_store_commit(s, err);
    if (rc || dry_run)
        drudge_store_rollback(s);
    drudge_task_rows_free(rows, n);
    drudge_buf_free(&args);
    if (rc)
        drudge_bulk_result_clear(out);
    return rc;
}

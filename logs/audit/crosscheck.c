/* crosscheck.c: what the task rows say against what the chain says.
 *
 * The chain is tamper-evident; the tasks table is not. So that `drudge
 * show` can be trusted, audit verify replays, task by task, what the chain
 * records changing a task's row: each attempt's root step (the state its
 * outcome left the task in, its outcome and output: writer.c puts the
 * state in the root's response) and each operator step (retry, cancel,
 * resolve: operator.c), in chain order, which is commit order. What the
 * last of them left must be what the row says now: its state, its final
 * attempt's outcome, its output and its resolution (who, note, when). A row
 * edited by hand, or an operator step deleted from the chain, then
 * disagrees, and verify names the task and the field.
 *
 * Memory: one small entry per task the chain mentions (about 80 bytes);
 * outputs and notes are kept as 64-bit prefixes of their SHA-256. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "logs/audit/audit.h"
#include "logs/audit/crosscheck.h"

typedef struct fact {
    int64_t task;        /* 0: an empty slot */
    int64_t row;         /* the chain row that last changed what the row must say */
    int64_t resolve_row; /* the resolve step, 0 if none since the last retry */
    int64_t resolved_at;
    uint64_t output, resolved_by, note; /* digests; output 0: none */
    char state[16];                     /* "" until a step with a state was seen */
    char outcome[16];                   /* "" for none (NULL in the row) */
    unsigned char cancel_asked;         /* a cancel was asked while it ran */
    unsigned char legacy;               /* a root without a state (before drudge recorded it) */
} fact;

struct drudge_crosscheck {
    fact *v;
    size_t cap, n;
    int64_t era; /* started_at of the first row that records a state (0: none yet) */
};

drudge_crosscheck *drudge_crosscheck_new(void)
{
    drudge_crosscheck *c = drudge_xmalloc(sizeof *c);
    memset(c, 0, sizeof *c);
    return c;
}

void drudge_crosscheck_free(drudge_crosscheck *c)
{
    if (!c)
        return;
    free(c->v);
    free(c);
}

static size_t slot_of(const drudge_crosscheck *c, int64_t task)
{
    uint64_t h = (uint64_t)task * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 17) & (c->cap - 1);
    while (c->v[i].task && c->v[i].task != task)
        i = (i + 1) & (c->cap - 1);
    return i;
}

static void grow(drudge_crosscheck *c)
{
    fact *old = c->v;
    size_t oldcap = c->cap;
    c->cap = c->cap ? c->cap * 2 : 1024;
    c->v = drudge_xmalloc(c->cap * sizeof *c->v);
    memset(c->v, 0, c->cap * sizeof *c->v);
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].task)
            c->v[slot_of(c, old[i].task)] = old[i];
    free(old);
}

static fact *lookup(const drudge_crosscheck *c, int64_t task)
{
    if (!c->cap)
        return NULL;
    fact *f = &c->v[slot_of(c, task)];
    return f->task ? f : NULL;
}

static fact *get(drudge_crosscheck *c, int64_t task)
{
    if ((c->n + 1) * 10 > c->cap * 7)
        grow(c);
    fact *f = &c->v[slot_of(c, task)];
    if (!f->task) {
        f->task = task;
        c->n++;
    }
    return f;
}

/* A 64-bit prefix of SHA-256 (never 0, which means "none"). */
static uint64_t digest(const char *s, size_t n)
{
    char hex[65];
    drudge_sha256_hex(s, n, hex);
    hex[16] = '\0';
    uint64_t d = strtoull(hex, NULL, 16);
    return d ? d : 1;
}

static void copy_word(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s ? s : "");
}

/* An attempt's root: the state its outcome left the task in. */
static void root_row(drudge_crosscheck *c, const drudge_step_row *r)
{
    char state[16];
    const char *out;
    size_t len;
    drudge_audit_root_parse(r->step.response, state, NULL, &out, &len);
    if (!state[0]) { /* recorded before states were, or the outcome changed no row */
        get(c, r->task_id)->legacy = 1;
        return;
    }
    if (!c->era)
        c->era = r->step.started_us;
    fact *f = get(c, r->task_id);
    f->row = r->id;
    copy_word(f->state, sizeof f->state, state);
    /* The row keeps the final attempt's outcome; a requeued one's goes to
     * the attempt log. A cancelled attempt's is "cancelled". */
    if (!strcmp(state, "queued"))
        f->outcome[0] = '\0';
    else
        copy_word(f->outcome, sizeof f->outcome,
                  !strcmp(state, "cancelled") ? "cancelled" : r->step.outcome);
    f->output = !strcmp(state, "done") && out ? digest(out, len) : 0;
    f->cancel_asked = 0;
    f->resolve_row = 0;
}

/* The JSON string value after "key": in a request: [*v, *v + *n), quotes
 * included, or *v NULL. */
static void member(const char *json, const char *key, const char **v, size_t *n)
{
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    *v = NULL;
    *n = 0;
    const char *p = json ? strstr(json, pat) : NULL;
    if (!p)
        return;
    p += strlen(pat) - 1;
    const char *q = p + 1;
    while (*q && *q != '"')
        q += (*q == '\\' && q[1]) ? 2 : 1;
    if (*q == '"') {
        *v = p;
        *n = (size_t)(q + 1 - p);
    }
}

static uint64_t member_digest(const char *json, const char *key)
{
    const char *v;
    size_t n;
    member(json, key, &v, &n);
    return v ? digest(v, n) : 0;
}

/* The same digest for a row's value: its JSON encoding, as the step holds it. */
static uint64_t value_digest(const char *s)
{
    if (!s)
        return 0;
    drudge_buf b = {0};
    drudge_buf_json_str(&b, s, strlen(s));
    uint64_t d = digest(b.data, b.len);
    drudge_buf_free(&b);
    return d;
}

static void operator_row(drudge_crosscheck *c, const drudge_step_row *r)
{
    const char *name = r->step.name ? r->step.name : "";
    if (!r->task_id)
        return;
    if (!c->era)
        c->era = r->step.started_us;
    fact *f = get(c, r->task_id);
    if (!strcmp(name, "retry")) {
        f->row = r->id;
        copy_word(f->state, sizeof f->state, "queued");
        f->outcome[0] = '\0';
        f->output = 0;
        f->resolve_row = 0;
        f->cancel_asked = 0;
    } else if (!strcmp(name, "cancel")) {
        if (r->step.response && strstr(r->step.response, "\"state\":\"cancelled\"")) {
            f->row = r->id;
            copy_word(f->state, sizeof f->state, "cancelled");
            f->output = 0;
            f->cancel_asked = 0;
        } else {
            f->cancel_asked = 1;
        }
    } else if (!strcmp(name, "resolve")) {
        f->resolve_row = r->id;
        f->resolved_at = r->step.started_us;
        f->resolved_by = member_digest(r->step.request, "user");
        f->note = member_digest(r->step.request, "note");
    }
}

void drudge_crosscheck_row(drudge_crosscheck *c, const drudge_step_row *r)
{
    const char *kind = r->step.kind ? r->step.kind : "";
    if (!strcmp(kind, "operator"))
        operator_row(c, r);
    else if (r->step.seq == 1 && !r->step.parent && !strcmp(kind, "task") && r->task_id)
        root_row(c, r);
}

/* ---- comparing ---- */

typedef struct checker {
    drudge_crosscheck *c;
    void (*report)(void *ud, const char *msg);
    void *ud;
    int64_t tasks;
} checker;

static void say(checker *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(checker *k, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    k->report(k->ud, line);
}

static int is_finished(const char *state)
{
    return !strcmp(state, "done") || !strcmp(state, "failed") || !strcmp(state, "dead");
}

/* A task the chain records no state for: only a task that never ran may
 * say so (or one from before states were recorded). */
static void check_unrecorded(checker *k, const drudge_task_facts *t, const fact *f)
{
    int legacy = (f && f->legacy) || !k->c->era || t->created_at < k->c->era;
    const char *state = t->state ? t->state : "";
    if (is_finished(state) && !(f && f->legacy))
        say(k,
            "task %lld: the tasks table says it is %s, but the chain records no attempt that "
            "left it so: the row was changed outside drudge",
            (long long)t->id, state);
    else if (!strcmp(state, "cancelled") && !legacy)
        say(k,
            "task %lld: the tasks table says it is cancelled, but the chain records no cancel "
            "of it: the row was changed outside drudge, or an operator step was deleted",
            (long long)t->id);
    else if (t->resolved_by && !legacy && t->resolved_at >= k->c->era)
        say(k,
            "task %lld: resolved_by/resolved_note: the tasks table says it was resolved by %s, "
            "but the chain records no resolve of it: the row was changed outside drudge, or an "
            "operator step was deleted",
            (long long)t->id, t->resolved_by);
}

static int same_word(const char *row, const char *chain)
{
    return !strcmp(row ? row : "", chain);
}

static void check_resolution(checker *k, const drudge_task_facts *t, const fact *f)
{
    long long id = (long long)t->id;
    if (!f->resolve_row) {
        if (t->resolved_by || t->resolved_note || t->resolved_at)
            say(k,
                "task %lld: resolved_by/resolved_note: the tasks table says it was resolved "
                "by %s, but the chain records no resolve of it since its last attempt: the row "
                "was changed outside drudge, or an operator step was deleted",
                id, t->resolved_by ? t->resolved_by : "?");
        return;
    }
    if (!t->resolved_by && !t->resolved_note)
        say(k,
            "task %lld: resolved_by/resolved_note: the chain (row %lld) records a resolve, "
            "but the tasks table has none: the row was changed outside drudge",
            id, (long long)f->resolve_row);
    else if (value_digest(t->resolved_note) != f->note)
        say(k,
            "task %lld: resolved_note: the tasks table's note is not the note the chain "
            "recorded with its resolve (row %lld): the row was changed outside drudge",
            id, (long long)f->resolve_row);
    else if (value_digest(t->resolved_by) != f->resolved_by)
        say(k,
            "task %lld: resolved_by: the tasks table says %s, not the user the chain recorded "
            "with its resolve (row %lld): the row was changed outside drudge",
            id, t->resolved_by ? t->resolved_by : "nobody", (long long)f->resolve_row);
    else if (t->resolved_at != f->resolved_at)
        say(k,
            "task %lld: resolved_at: the tasks table's time is not the time of the resolve "
            "on the chain (row %lld): the row was changed outside drudge",
            id, (long long)f->resolve_row);
}

static int check_task(void *ud, const drudge_task_facts *t)
{
    checker *k = ud;
    const fact *f = lookup(k->c, t->id);
    long long id = (long long)t->id;
    k->tasks++;
    if (!f || !f->state[0]) {
        check_unrecorded(k, t, f);
        return 0;
    }
    const char *state = t->state ? t->state : "";
    /* A cancel asked while it ran takes effect when its worker stops it;
     * one that never started leaves no attempt, only the cancelled row. */
    int cancelled_unstarted = f->cancel_asked && !strcmp(state, "cancelled");
    if (strcmp(state, f->state) != 0 && !cancelled_unstarted)
        say(k,
            "task %lld: state: the tasks table says %s, the chain (row %lld) left it %s: the "
            "row was changed outside drudge",
            id, state, (long long)f->row, f->state);
    else if (!cancelled_unstarted && !same_word(t->outcome, f->outcome))
        say(k,
            "task %lld: outcome: the tasks table says %s, the chain (row %lld) says %s: the "
            "row was changed outside drudge",
            id, t->outcome ? t->outcome : "none", (long long)f->row,
            f->outcome[0] ? f->outcome : "none");
    else if ((t->output ? digest(t->output, strlen(t->output)) : 0) != f->output)
        say(k,
            "task %lld: output: the tasks table's output is not the output the chain recorded "
            "(row %lld): the row was changed outside drudge",
            id, (long long)f->row);
    else
        check_resolution(k, t, f);
    return 0;
}

drudge_code drudge_crosscheck_tasks(drudge_crosscheck *c, drudge_store *s,
                                    void (*report)(void *ud, const char *msg), void *ud,
                                    int64_t *tasks, drudge_err *err)
{
    checker k = {.c = c, .report = report, .ud = ud};
    drudge_code rc = drudge_store_task_facts(s, check_task, &k, err);
    if (tasks)
        *tasks = k.tasks;
    return rc;
}

/* previous.c: what a retried attempt may know of the attempts before it.
 *
 * Delivery is at least once: an attempt may have acted in the world and then
 * died before its outcome was committed. A script made idempotent looks at
 * task.previous (built here from the task's attempts and the audit trail) to
 * see what was already done, e.g. a POST that returned 201. */
#include <string.h>
#include "drudge/util.h"
#include "logs/audit/audit.h"

static void add_text(drudge_buf *b, const char *key, const char *v, int first)
{
    drudge_buf_printf(b, "%s\"%s\":", first ? "" : ",", key);
    if (v)
        drudge_buf_json_str(b, v, strlen(v));
    else
        drudge_buf_puts(b, "null");
}

/* The recorded JSON summaries are objects already: embed them as values. */
static void add_json(drudge_buf *b, const char *key, const char *v)
{
    drudge_buf_printf(b, ",\"%s\":%s", key, v && *v ? v : "null");
}

typedef struct steps_out {
    drudge_buf *b;
    int first;
} steps_out;

static int add_step(void *ud, const drudge_step_row *r)
{
    steps_out *o = ud;
    const drudge_step *s = &r->step;
    drudge_buf_printf(o->b, "%s{\"seq\":%d,\"parent\":%d,", o->first ? "" : ",", s->seq, s->parent);
    add_text(o->b, "kind", s->kind, 1);
    add_text(o->b, "name", s->name, 0);
    add_text(o->b, "outcome", s->outcome, 0);
    add_json(o->b, "response", s->response);
    add_text(o->b, "error", s->error, 0);
    drudge_buf_puts(o->b, "}");
    o->first = 0;
    return 0;
}

drudge_code drudge_previous_attempts(drudge_store *s, int64_t task_id, int before_attempt,
                                     char **out, drudge_err *err)
{
    drudge_task_row t;
    drudge_attempt_row *att = NULL;
    size_t n = 0;
    drudge_buf b = {0};
    *out = NULL;
    drudge_code rc = drudge_store_get(s, task_id, &t, &att, &n, err);
    if (rc == DRUDGE_ENOTFOUND) { /* no task, no attempts */
        *out = drudge_xstrdup("[]");
        return DRUDGE_OK;
    }
    if (rc)
        return rc;
    drudge_buf_puts(&b, "[");
    for (size_t i = 0; i < n && att[i].n < before_attempt && !rc; i++) {
        drudge_buf_printf(&b, "%s{\"attempt\":%d,", i ? "," : "", att[i].n);
        add_text(&b, "outcome", att[i].outcome, 1);
        add_text(&b, "error", att[i].error, 0);
        drudge_buf_puts(&b, ",\"steps\":[");
        steps_out o = {.b = &b, .first = 1};
        drudge_step_filter f = {.task_id = task_id, .attempt = att[i].n, .by_seq = 1};
        rc = drudge_store_steps(s, &f, add_step, &o, err);
        drudge_buf_puts(&b, "]}");
    }
    drudge_buf_puts(&b, "]");
    drudge_task_row_clear(&t);
    drudge_attempt_rows_free(att, n);
    if (rc) {
        drudge_buf_free(&b);
        return rc;
    }
    *out = drudge_buf_take(&b);
    return DRUDGE_OK;
}

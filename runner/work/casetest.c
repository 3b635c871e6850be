/* casetest.c: `drudge record-case` and `drudge test`: a robot tested
 * against recorded cases offline.
 *
 * A case is a recorded attempt as replay loads it (logs/replay/recording.c)
 * written out as one JSON file, with what the attempt must give ("expect");
 * `drudge test` loads it into a host's recorder in replay mode, exactly as
 * `drudge replay` does, runs the script under test, and compares. The case
 * file is text people may edit: change the input, an answer, or what is
 * expected, and the test says whether the script still does the right
 * thing. */
#include <stdlib.h>
#include <string.h>
#include "drudge/host.h"
#include "drudge/json.h"
#include "logs/audit/audit.h"
#include "logs/replay/replay.h"
#include "runner/work/casetest.h"

#define CASE_FORMAT "drudge-case/1"

/* ---- recording a case ---- */

static void jstr(drudge_buf *b, const char *key, const char *v)
{
    drudge_json_str(b, key, v);
}

/* A JSON value member: v's text as it is (already JSON), or null. */
static void jraw(drudge_buf *b, const char *key, const char *v, size_t n)
{
    drudge_json_key(b, key);
    if (v)
        drudge_buf_add(b, v, n);
    else
        drudge_buf_puts(b, "null");
}

static void base64(drudge_buf *b, const unsigned char *data, size_t len)
{
    drudge_buf enc = {0};
    drudge_base64(&enc, data, len);
    drudge_buf_json_str(b, enc.data ? enc.data : "", enc.len);
    drudge_buf_free(&enc);
}

/* An error as a case expects it: without the "/path/script.lua:12: " that
 * Lua puts in front, which names where the script was when it ran, not
 * what went wrong (the script under test may sit elsewhere). */
static const char *portable_error(const char *e)
{
    const char *p = e ? strstr(e, ".lua:") : NULL;
    const char *nl = e ? strchr(e, '\n') : NULL;
    if (!p || (nl && nl < p))
        return e;
    p += 5;
    while (*p >= '0' && *p <= '9')
        p++;
    return p[0] == ':' && p[1] == ' ' ? p + 2 : e;
}

drudge_code drudge_case_record(drudge_store *s, int64_t task_id, int attempt, drudge_buf *out,
                               drudge_err *err)
{
    drudge_task_row t = {0};
    drudge_step *steps = NULL;
    drudge_payload *pays = NULL;
    size_t n = 0, np = 0;
    int pruned = 0, have_task = 0;
    drudge_code rc = drudge_store_begin(s, DRUDGE_TX_READ, err);
    if (rc)
        return rc;
    rc = drudge_store_get(s, task_id, &t, NULL, NULL, err);
    have_task = rc == DRUDGE_OK;
    if (rc == DRUDGE_ENOTFOUND)
        rc =
            drudge_seterr(err, rc, "no task #%lld in %s", (long long)task_id, drudge_store_name(s));
    if (!rc && attempt <= 0)
        rc = drudge_store_last_recorded_attempt(s, task_id, &attempt, err);
    if (!rc && attempt <= 0)
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "task #%lld has no recorded attempt",
                           (long long)task_id);
    if (!rc)
        rc = drudge_audit_load_attempt(s, task_id, attempt, &steps, &n, &pays, &np, &pruned, err);
    if (!rc && !n)
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "task #%lld has no recorded attempt %d",
                           (long long)task_id, attempt);
    if (!rc && pruned)
        rc = drudge_seterr(err, DRUDGE_ESTATE,
                           "task #%lld attempt %d: %d payload%s pruned: the case could not "
                           "answer the steps that need them",
                           (long long)task_id, attempt, pruned, pruned == 1 ? " was" : "s were");
    drudge_store_rollback(s); /* nothing was written */
    if (rc)
        goto cleanup;
    char state[16], version[65];
    const char *output;
    size_t olen;
    drudge_audit_root_parse(steps[0].response, state, version, &output, &olen);
    drudge_buf_puts(out, "{");
    jstr(out, "format", CASE_FORMAT);
    char name[96];
    snprintf(name, sizeof name, "task %lld attempt %d", (long long)task_id, attempt);
    jstr(out, "name", name);
    jstr(out, "script", t.script);
    drudge_json_int(out, "task", task_id);
    drudge_json_int(out, "attempt", attempt);
    jraw(out, "input", t.input, t.input ? strlen(t.input) : 0);
    jstr(out, "key", t.key);
    jstr(out, "script_version", version[0] ? version : NULL);
    drudge_buf_puts(out, ",\n\"expect\":{");
    jstr(out, "outcome", steps[0].outcome);
    if (output)
        jraw(out, "output", output, olen);
    if (steps[0].error)
        jstr(out, "error", portable_error(steps[0].error));
    drudge_buf_puts(out, "},\n\"steps\":[");
    for (size_t i = 0; i < n; i++) {
        const drudge_step *st = &steps[i];
        drudge_buf_puts(out, i ? ",\n {" : "\n {");
        drudge_json_int(out, "seq", st->seq);
        drudge_json_int(out, "parent", st->parent);
        jstr(out, "kind", st->kind);
        jstr(out, "name", st->name);
        jstr(out, "request", st->request);
        jstr(out, "response", st->response);
        jstr(out, "outcome", st->outcome);
        jstr(out, "error", st->error);
        drudge_buf_puts(out, "}");
    }
    drudge_buf_puts(out, "],\n\"payloads\":{");
    for (size_t i = 0; i < np; i++) {
        drudge_buf_printf(out, "%s\n \"%s\":{", i ? "," : "", pays[i].sha256);
        jstr(out, "content_type", pays[i].content_type);
        drudge_json_key(out, "base64");
        base64(out, pays[i].data, pays[i].len);
        drudge_buf_puts(out, "}");
    }
    drudge_buf_puts(out, "}}\n");
cleanup:
    if (steps)
        drudge_steps_free(steps, n);
    drudge_payloads_free(pays, np);
    if (have_task)
        drudge_task_row_clear(&t);
    return rc;
}

/* ---- reading a case ---- */

typedef struct case_file {
    const char *path;
    drudge_err *err;
    char *name, *input, *key, *script;
    char *exp_outcome, *exp_output, *exp_error; /* exp_output JSON text */
    drudge_step *steps; /* recorded steps, or answers (a hand-written case) */
    size_t nsteps;
    int answers; /* steps holds "answers" */
    drudge_payload *pays;
    size_t npays;
} case_file;

static drudge_code bad(case_file *c, const char *field, const char *what)
{
    return drudge_seterr(c->err, DRUDGE_EINPUT, "%s: %s: %s", c->path, field, what);
}

/* A string member's value (malloc'd), NULL for null; -1 if not a string. */
static int take_str(const char *v, size_t n, char **out)
{
    *out = NULL;
    if (n == 4 && !memcmp(v, "null", 4))
        return 0;
    if (!n || *v != '"')
        return -1;
    char *s = drudge_xmalloc(n + 1);
    size_t k = drudge_json_unescape(v, n, s);
    if (k == (size_t)-1) {
        free(s);
        return -1;
    }
    s[k] = '\0';
    *out = s;
    return 0;
}

static char *dup_n(const char *v, size_t n)
{
    char *s = drudge_xmalloc(n + 1);
    memcpy(s, v, n);
    s[n] = '\0';
    return s;
}

static int is_null(const char *v, size_t n)
{
    return n == 4 && !memcmp(v, "null", 4);
}

static drudge_code read_step(case_file *c, size_t i, const char *v, size_t n)
{
    drudge_json_iter it;
    char field[64];
    drudge_step *s = &c->steps[i];
    memset(s, 0, sizeof *s);
    s->duration_us = 0;
    if (drudge_json_iter_init(&it, v, n) != 0 || it.close != '}') {
        snprintf(field, sizeof field, "steps[%zu]", i);
        return bad(c, field, "not an object");
    }
    const char *k, *val;
    size_t kl, vl;
    int r;
    while ((r = drudge_json_iter_next(&it, &k, &kl, &val, &vl)) == 1) {
        snprintf(field, sizeof field, "steps[%zu].%.*s", i, (int)(kl < 30 ? kl : 30), k);
        char **dst = NULL;
        if (kl == 3 && !memcmp(k, "seq", 3))
            s->seq = atoi(val);
        else if (kl == 6 && !memcmp(k, "parent", 6))
            s->parent = is_null(val, vl) ? 0 : atoi(val);
        else if (kl == 4 && !memcmp(k, "kind", 4))
            dst = &s->kind;
        else if (kl == 4 && !memcmp(k, "name", 4))
            dst = &s->name;
        else if (kl == 7 && !memcmp(k, "request", 7))
            dst = &s->request;
        else if (kl == 8 && !memcmp(k, "response", 8))
            dst = &s->response;
        else if (kl == 7 && !memcmp(k, "outcome", 7))
            dst = &s->outcome;
        else if (kl == 5 && !memcmp(k, "error", 5))
            dst = &s->error;
        if (dst && take_str(val, vl, dst) != 0)
            return bad(c, field,
                       "must be a string (request and response: JSON text in a "
                       "string) or null");
    }
    snprintf(field, sizeof field, "steps[%zu]", i);
    if (r < 0)
        return bad(c, field, "malformed JSON");
    if (s->seq != (int)i + 1)
        return bad(c, field, "\"seq\" must number the steps 1, 2, 3, ... in order");
    if (!s->kind || !s->name)
        return bad(c, field, "needs \"kind\" and \"name\"");
    if (s->parent < 0 || s->parent >= s->seq || (i > 0 && s->parent == 0))
        return bad(c, field, "\"parent\" must be the seq of an earlier step (0 only for step 1)");
    return DRUDGE_OK;
}

/* Reads the JSON array v[n] of field into c->steps, one element at a
 * time through one (steps, or answers). */
static drudge_code read_array(case_file *c, const char *v, size_t n, const char *field,
                              const char *want,
                              drudge_code (*one)(case_file *, size_t, const char *, size_t))
{
    drudge_json_iter it;
    if (drudge_json_iter_init(&it, v, n) != 0 || it.close != ']')
        return bad(c, field, want);
    const char *k, *val;
    size_t kl, vl;
    int r;
    while ((r = drudge_json_iter_next(&it, &k, &kl, &val, &vl)) == 1) {
        c->steps = drudge_xrealloc(c->steps, (c->nsteps + 1) * sizeof *c->steps);
        drudge_code rc = one(c, c->nsteps, val, vl);
        c->nsteps++;
        if (rc)
            return rc;
    }
    return r < 0 ? bad(c, field, "malformed JSON") : DRUDGE_OK;
}

static drudge_code read_steps(case_file *c, const char *v, size_t n)
{
    drudge_code rc = read_array(c, v, n, "steps", "must be an array of steps", read_step);
    if (rc)
        return rc;
    if (!c->nsteps)
        return bad(c, "steps", "empty: a case has at least the attempt's root step");
    if (strcmp(c->steps[0].kind, "task") != 0)
        return bad(c, "steps[0].kind", "the first step is the attempt itself, kind \"task\"");
    return DRUDGE_OK;
}

/* One answer of a hand-written case: {kind, name, response | error}. The
 * response may be written as a JSON object (or as JSON text in a string,
 * as recorded); "error" makes the call fail as a failure of the world
 * (the server down, a refused command) with that message. */
static drudge_code read_answer(case_file *c, size_t i, const char *v, size_t n)
{
    drudge_json_iter it;
    char field[64];
    drudge_step *s = &c->steps[i];
    memset(s, 0, sizeof *s);
    s->seq = (int)i + 1;
    snprintf(field, sizeof field, "answers[%zu]", i);
    if (drudge_json_iter_init(&it, v, n) != 0 || it.close != '}')
        return bad(c, field, "not an object {kind, response} or {kind, error}");
    const char *k, *val;
    size_t kl, vl;
    int r;
    while ((r = drudge_json_iter_next(&it, &k, &kl, &val, &vl)) == 1) {
        snprintf(field, sizeof field, "answers[%zu].%.*s", i, (int)(kl < 30 ? kl : 30), k);
        if (kl == 4 && !memcmp(k, "kind", 4)) {
            if (take_str(val, vl, &s->kind) != 0)
                return bad(c, field, "must be a string (http, mail, desktop, browser, queue)");
        } else if (kl == 4 && !memcmp(k, "name", 4)) {
            if (take_str(val, vl, &s->name) != 0)
                return bad(c, field, "must be a string (a part of the call's step name)");
        } else if (kl == 8 && !memcmp(k, "response", 8)) {
            free(s->response);
            s->response = NULL;
            if (*val == '{')
                s->response = dup_n(val, vl);
            else if (take_str(val, vl, &s->response) != 0 || !s->response || *s->response != '{')
                return bad(c, field, "must be a JSON object (or one as JSON text in a string)");
        } else if (kl == 5 && !memcmp(k, "error", 5)) {
            if (take_str(val, vl, &s->error) != 0 || !s->error)
                return bad(c, field, "must be a string: the call's error message");
        } else {
            return bad(c, field, "unknown: an answer has kind, name, response or error");
        }
    }
    snprintf(field, sizeof field, "answers[%zu]", i);
    if (r < 0)
        return bad(c, field, "malformed JSON");
    if (!s->kind)
        return bad(c, field, "needs \"kind\" (the connector: http, mail, ...)");
    if (!!s->response == !!s->error)
        return bad(c, field, "needs either \"response\" or \"error\"");
    if (s->error) {
        drudge_buf b = {0};
        drudge_json_str(&b, "error", s->error); /* the call path's failure member */
        s->response = drudge_xmalloc(b.len + 3);
        snprintf(s->response, b.len + 3, "{%s}", b.data);
        drudge_buf_free(&b);
    }
    s->outcome = drudge_xstrdup(s->error ? "error" : "ok");
    s->name = s->name ? s->name : drudge_xstrdup("");
    return DRUDGE_OK;
}

static drudge_code read_answers(case_file *c, const char *v, size_t n)
{
    c->answers = 1;
    return read_array(c, v, n, "answers", "must be an array of answers, in the order of the calls",
                      read_answer);
}

static drudge_code read_payloads(case_file *c, const char *v, size_t n)
{
    drudge_json_iter it, in;
    if (drudge_json_iter_init(&it, v, n) != 0 || it.close != '}')
        return bad(c, "payloads", "must be an object of SHA-256: {content_type, base64}");
    const char *k, *val, *k2, *v2;
    size_t kl, vl, kl2, vl2;
    int r;
    while ((r = drudge_json_iter_next(&it, &k, &kl, &val, &vl)) == 1) {
        char field[96];
        snprintf(field, sizeof field, "payloads.%.*s", (int)(kl < 64 ? kl : 64), k);
        if (kl != 64)
            return bad(c, field, "the key must be the payload's SHA-256 (64 hex digits)");
        if (drudge_json_iter_init(&in, val, vl) != 0 || in.close != '}')
            return bad(c, field, "must be an object {content_type, base64}");
        c->pays = drudge_xrealloc(c->pays, (c->npays + 1) * sizeof *c->pays);
        drudge_payload *p = &c->pays[c->npays++];
        memset(p, 0, sizeof *p);
        memcpy(p->sha256, k, 64);
        p->sha256[64] = '\0';
        char *b64 = NULL;
        int r2;
        while ((r2 = drudge_json_iter_next(&in, &k2, &kl2, &v2, &vl2)) == 1) {
            if (kl2 == 12 && !memcmp(k2, "content_type", 12) &&
                take_str(v2, vl2, &p->content_type) != 0)
                return bad(c, field, "\"content_type\" must be a string");
            if (kl2 == 6 && !memcmp(k2, "base64", 6)) {
                free(b64);
                if (take_str(v2, vl2, &b64) != 0 || !b64)
                    return bad(c, field, "\"base64\" must be a string");
            }
        }
        if (r2 < 0 || !b64) {
            free(b64);
            return bad(c, field, "needs \"base64\"");
        }
        if (drudge_unbase64(b64, strlen(b64), &p->data, &p->len) != 0) {
            free(b64);
            return bad(c, field, "\"base64\" is not base64");
        }
        free(b64);
        char hex[65];
        drudge_sha256_hex(p->data, p->len, hex);
        if (strcmp(hex, p->sha256) != 0)
            return bad(c, field, "the bytes do not have this SHA-256 (edited?)");
    }
    return r < 0 ? bad(c, "payloads", "malformed JSON") : DRUDGE_OK;
}

static drudge_code read_expect(case_file *c, const char *v, size_t n)
{
    drudge_json_iter it;
    if (drudge_json_iter_init(&it, v, n) != 0 || it.close != '}')
        return bad(c, "expect", "must be an object {outcome, output, error}");
    const char *k, *val;
    size_t kl, vl;
    int r;
    while ((r = drudge_json_iter_next(&it, &k, &kl, &val, &vl)) == 1) {
        if (kl == 7 && !memcmp(k, "outcome", 7) && take_str(val, vl, &c->exp_outcome) != 0)
            return bad(c, "expect.outcome", "must be a string (done, failed, error, ...)");
        if (kl == 6 && !memcmp(k, "output", 6))
            c->exp_output = dup_n(val, vl);
        if (kl == 5 && !memcmp(k, "error", 5) && take_str(val, vl, &c->exp_error) != 0)
            return bad(c, "expect.error", "must be a string");
    }
    if (r < 0)
        return bad(c, "expect", "malformed JSON");
    if (!c->exp_outcome)
        return bad(c, "expect.outcome", "missing: what must the attempt end with?");
    return DRUDGE_OK;
}

static drudge_code case_load(case_file *c)
{
    size_t len;
    char *text = drudge_read_file(c->path, &len);
    if (!text)
        return drudge_seterr(c->err, DRUDGE_EIO, "cannot read case %s", c->path);
    drudge_json_iter it;
    drudge_code rc = DRUDGE_OK;
    int has_steps = 0, has_expect = 0, r;
    const char *k, *v;
    size_t kl, vl;
    if (drudge_json_iter_init(&it, text, len) != 0 || it.close != '}') {
        rc = bad(c, "the file", "not a JSON object (a case file made by drudge record-case)");
        goto cleanup;
    }
    while (!rc && (r = drudge_json_iter_next(&it, &k, &kl, &v, &vl)) == 1) {
        if (kl == 6 && !memcmp(k, "format", 6)) {
            char *f = NULL;
            if (take_str(v, vl, &f) != 0 || !f || strcmp(f, CASE_FORMAT) != 0)
                rc = bad(c, "format", "must be \"" CASE_FORMAT "\"");
            free(f);
        } else if (kl == 4 && !memcmp(k, "name", 4)) {
            if (take_str(v, vl, &c->name) != 0)
                rc = bad(c, "name", "must be a string");
        } else if (kl == 5 && !memcmp(k, "input", 5)) {
            c->input = is_null(v, vl) ? NULL : dup_n(v, vl);
        } else if (kl == 3 && !memcmp(k, "key", 3)) {
            if (take_str(v, vl, &c->key) != 0)
                rc = bad(c, "key", "must be a string or null");
        } else if (kl == 6 && !memcmp(k, "script", 6)) {
            if (take_str(v, vl, &c->script) != 0)
                rc = bad(c, "script", "must be a string");
        } else if (kl == 5 && !memcmp(k, "steps", 5)) {
            if (has_steps)
                rc = bad(c, "steps",
                         "give \"steps\" (a recorded case) or \"answers\" (a "
                         "hand-written one), not both");
            else
                rc = read_steps(c, v, vl);
            has_steps = 1;
        } else if (kl == 7 && !memcmp(k, "answers", 7)) {
            if (has_steps)
                rc = bad(c, "answers",
                         "give \"steps\" (a recorded case) or \"answers\" (a "
                         "hand-written one), not both");
            else
                rc = read_answers(c, v, vl);
            has_steps = 1;
        } else if (kl == 8 && !memcmp(k, "payloads", 8)) {
            rc = read_payloads(c, v, vl);
        } else if (kl == 6 && !memcmp(k, "expect", 6)) {
            has_expect = 1;
            rc = read_expect(c, v, vl);
        }
    }
    if (!rc && r < 0)
        rc = bad(c, "the file", "malformed JSON");
    if (!rc && !has_steps)
        rc = bad(c, "steps",
                 "missing: the recorded steps the connectors answer from (or "
                 "\"answers\": the connectors' answers in order)");
    if (!rc && !has_expect)
        rc = bad(c, "expect", "missing: what the attempt must give");
cleanup:
    free(text);
    return rc;
}

static void case_free(case_file *c)
{
    free(c->name);
    free(c->input);
    free(c->key);
    free(c->script);
    free(c->exp_outcome);
    free(c->exp_output);
    free(c->exp_error);
    if (c->steps)
        drudge_steps_free(c->steps, c->nsteps);
    drudge_payloads_free(c->pays, c->npays);
}

/* ---- running a case ---- */

void drudge_case_outcome_clear(drudge_case_outcome *o)
{
    free(o->name);
    free(o->failure);
    free(o->outcome);
    memset(o, 0, sizeof *o);
}

/* The attempt's output as JSON text from its root's response, or NULL. */
static char *output_of(const char *response)
{
    char state[16];
    const char *out;
    size_t len;
    drudge_audit_root_parse(response, state, NULL, &out, &len);
    return out ? dup_n(out, len) : NULL;
}

drudge_code drudge_case_run(const char *script_path, const char *case_path, const char *files_dir,
                            int echo_logs, drudge_case_outcome *o, drudge_err *err)
{
    case_file c = {.path = case_path, .err = err};
    drudge_host *host = NULL;
    drudge_result res = {0};
    drudge_buf why = {0};
    memset(o, 0, sizeof *o);
    const char *base = strrchr(case_path, '/');
    drudge_code rc = case_load(&c);
    o->name = drudge_xstrdup(c.name ? c.name : base ? base + 1 : case_path);
    if (rc)
        goto cleanup;
    drudge_host_opts hopts = {.files_dir = files_dir, .echo_logs = echo_logs};
    host = drudge_host_new(&hopts, err);
    if (!host) {
        rc = err ? err->code : DRUDGE_EIO;
        goto cleanup;
    }
    drudge_rec *rec = drudge_host_rec(host);
    /* The case's input is the truth (people edit it): the root step the
     * script's attempt will record is built from it as the host builds it
     * (runner/host/host.c, record_input), so only the steps after it are
     * compared with the recording. */
    drudge_buf req = {0};
    drudge_buf_puts(&req, "{\"input\":");
    drudge_buf_puts(&req, c.input ? c.input : "null");
    if (c.key) {
        drudge_buf_puts(&req, ",\"key\":");
        drudge_buf_json_str(&req, c.key, strlen(c.key));
    }
    drudge_buf_puts(&req, "}");
    /* Replay mode before the script loads (a secret() at its top level
     * reads "[REDACTED:name]", not the real value). */
    if (c.answers) {
        drudge_buf_free(&req);
        drudge_rec_answers_load(rec, c.steps, c.nsteps, c.pays, c.npays);
    } else {
        free(c.steps[0].request);
        c.steps[0].request = drudge_buf_take(&req);
        drudge_rec_replay_load(rec, c.steps, c.nsteps, c.pays, c.npays);
    }
    c.steps = NULL;
    c.pays = NULL;
    c.npays = 0;
    const drudge_script_info *info;
    rc = drudge_host_load(host, script_path, &info, err);
    if (rc)
        goto cleanup;
    drudge_task_view view = {.id = 0,
                             .key = c.key,
                             .attempt = 1,
                             .input = c.input,
                             .script = c.script ? c.script : info->name};
    int64_t t0 = drudge_mono_us();
    rc = drudge_host_run(host, script_path, &view, &res, err);
    o->duration_us = drudge_mono_us() - t0;
    if (rc)
        goto cleanup;
    drudge_rec_replay_check_end(rec);
    const drudge_step *root = drudge_rec_count(rec) ? drudge_rec_step(rec, 0) : NULL;
    o->outcome =
        drudge_xstrdup(root && root->outcome ? root->outcome : drudge_outcome_name(res.outcome));
    char *got_output = root ? output_of(root->response) : NULL;
    const char *got_error = root && root->error ? root->error : "";
    if (*drudge_rec_divergence(rec)) {
        drudge_buf_printf(&why, "the script did not do what the case %s: %s",
                          c.answers ? "answers" : "recorded", drudge_rec_divergence(rec));
        if (*got_error) /* often the reason it went another way */
            drudge_buf_printf(&why, " (the attempt ended %s: %s)", o->outcome, got_error);
    } else if (strcmp(o->outcome, c.exp_outcome) != 0)
        drudge_buf_printf(&why, "outcome: expected %s, got %s%s%s", c.exp_outcome, o->outcome,
                          *got_error ? " (" : "", *got_error ? got_error : "");
    else if (c.exp_output && !drudge_replay_json_same(c.exp_output, got_output))
        drudge_buf_printf(&why, "output: expected %s, got %s", c.exp_output,
                          got_output ? got_output : "none");
    else if (c.exp_error && !strstr(got_error, c.exp_error))
        drudge_buf_printf(&why, "error: expected one containing \"%s\", got \"%s\"", c.exp_error,
                          got_error);
    free(got_output);
    if (why.len)
        o->failure = drudge_buf_take(&why);
cleanup:
    drudge_buf_free(&why);
    drudge_result_clear(&res);
    drudge_host_free(host);
    case_free(&c);
    return rc;
}

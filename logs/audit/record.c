/* record.c: the in-memory recorder behind every automated step (see record.h). */
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/record.h"
#include "drudge/util.h"
#include "recordint.h"

#define MIN_SECRET_LEN 4

typedef struct secret_ent {
    char *name, *value;
    char *esc;   /* the value as escaped inside a JSON string, if that differs */
    char *url;   /* the value percent-encoded (a token in a query string), if that differs */
    char *repl;  /* "[REDACTED:name]" */
    int persist; /* registered outside an attempt (a script's top level): kept */
} secret_ent;

typedef struct pattern_ent {
    char *label;
    regex_t re;
} pattern_ent;

struct drudge_rec {
    /* The steps are the recording thread's, except that another thread may
     * take the closed ones while the attempt runs (drudge_rec_take_due by
     * the clock: a worker blocked in a long call still has its finished
     * steps written). This lock (recursive: an event is a begin and an end)
     * covers what both touch: the arrays, the marks and the flush clock. */
    pthread_mutex_t mu;
    int64_t task_id;
    int attempt;
    drudge_step *steps;
    size_t nsteps, capsteps, flushed;
    int *open; /* stack of open seqs */
    size_t nopen, capopen;
    drudge_payload *payloads;
    size_t npayloads, cappayloads;
    secret_ent *secrets;
    size_t nsecrets, capsecrets;
    size_t payflushed; /* payloads handed to the audit writer */
    void (*on_end)(drudge_rec *r, void *ud);
    void *on_end_ud;
    pattern_ent *patterns;
    size_t npatterns;
    /* replay */
    int replaying;
    int answering;      /* rsteps are answers, taken in order (next_answer) */
    size_t next_answer; /* the answers taken */
    drudge_step *rsteps;
    size_t nrsteps;
    drudge_payload *rpayloads;
    size_t nrpayloads;
    char divergence[2048];
    drudge_buf scratch; /* a request or response being redacted (under mu) */
};

/* Larger scratch buffers are freed after use (a big inline body). */
#define SCRATCH_KEEP ((size_t)64 << 10)

#define GROW(arr, n, cap)                                                                          \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? (cap)*2 : 16;                                                          \
            (arr) = drudge_xrealloc((arr), (cap) * sizeof *(arr));                                 \
        }                                                                                          \
    } while (0)

drudge_rec *drudge_rec_new(void)
{
    drudge_rec *r = drudge_xmalloc(sizeof *r);
    pthread_mutexattr_t a;
    memset(r, 0, sizeof *r);
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&r->mu, &a);
    pthread_mutexattr_destroy(&a);
    return r;
}

void drudge_step_clear(drudge_step *s)
{
    if (s->begun) {
        free(s->begun);
    } else {
        free(s->kind);
        free(s->name);
        free(s->request);
    }
    if (s->ended) {
        free(s->ended);
    } else {
        free(s->response);
        free(s->outcome);
        free(s->error);
    }
}

static void payload_free(drudge_payload *p)
{
    free(p->content_type);
    free(p->data);
}

static void clear_replay(drudge_rec *r)
{
    for (size_t i = 0; i < r->nrsteps; i++)
        drudge_step_clear(&r->rsteps[i]);
    free(r->rsteps);
    for (size_t i = 0; i < r->nrpayloads; i++)
        payload_free(&r->rpayloads[i]);
    free(r->rpayloads);
    r->rsteps = NULL;
    r->rpayloads = NULL;
    r->nrsteps = r->nrpayloads = 0;
    r->replaying = 0;
    r->answering = 0;
    r->next_answer = 0;
    r->divergence[0] = '\0';
}

static void secret_free(secret_ent *e)
{
    explicit_bzero(e->value, strlen(e->value));
    if (e->esc)
        explicit_bzero(e->esc, strlen(e->esc));
    free(e->name);
    free(e->value);
    free(e->esc);
    if (e->url)
        explicit_bzero(e->url, strlen(e->url));
    free(e->url);
    free(e->repl);
}

static void clear_attempt(drudge_rec *r)
{
    for (size_t i = 0; i < r->nsteps; i++)
        drudge_step_clear(&r->steps[i]);
    for (size_t i = 0; i < r->npayloads; i++)
        payload_free(&r->payloads[i]);
    /* Secrets of the attempt (cookies, tokens fetched by it) are forgotten so
     * the list does not grow without end in a long-lived worker; secrets read
     * at a script's top level live as long as the host, like the value. */
    size_t kept = 0;
    for (size_t i = 0; i < r->nsecrets; i++) {
        if (r->secrets[i].persist) {
            r->secrets[kept++] = r->secrets[i];
            continue;
        }
        secret_free(&r->secrets[i]);
    }
    r->nsecrets = kept;
    r->nsteps = r->npayloads = r->nopen = r->flushed = r->payflushed = 0;
}

static void clear_secrets(drudge_rec *r)
{
    for (size_t i = 0; i < r->nsecrets; i++)
        secret_free(&r->secrets[i]);
    r->nsecrets = 0;
}

void drudge_rec_free(drudge_rec *r)
{
    if (!r)
        return;
    clear_attempt(r);
    clear_secrets(r);
    clear_replay(r);
    free(r->steps);
    free(r->open);
    free(r->payloads);
    free(r->secrets);
    for (size_t i = 0; i < r->npatterns; i++) {
        free(r->patterns[i].label);
        regfree(&r->patterns[i].re);
    }
    free(r->patterns);
    drudge_buf_free(&r->scratch);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

void drudge_rec_reset(drudge_rec *r, int64_t task_id, int attempt)
{
    pthread_mutex_lock(&r->mu);
    clear_attempt(r);
    r->task_id = task_id;
    r->attempt = attempt;
    r->divergence[0] = '\0';
    pthread_mutex_unlock(&r->mu);
}

/* Replaces every occurrence of needle in b's text by repl. */
static void replace_all(drudge_buf *b, const char *needle, const char *repl)
{
    size_t nlen = strlen(needle);
    if (!b->data || !strstr(b->data, needle))
        return;
    drudge_buf out = {0};
    const char *p = b->data;
    for (const char *hit = strstr(p, needle); hit; hit = strstr(p, needle)) {
        drudge_buf_add(&out, p, (size_t)(hit - p));
        drudge_buf_puts(&out, repl);
        p = hit + nlen;
    }
    drudge_buf_puts(&out, p);
    drudge_buf_free(b);
    *b = out;
}

/* Redacts pe's matches in s[at, end) into out. REG_STARTEND bounds the
 * search without a strlen of the rest at every match, and its offsets are
 * from s, so \b and ^ still see the text before at. */
static void pattern_in(drudge_buf *out, const char *s, size_t at, size_t end, const pattern_ent *pe)
{
    while (at < end) {
        regmatch_t m = {.rm_so = (regoff_t)at, .rm_eo = (regoff_t)end};
        if (regexec(&pe->re, s, 1, &m, REG_STARTEND | (at ? REG_NOTBOL : 0)) != 0)
            break;
        size_t so = (size_t)m.rm_so, eo = (size_t)m.rm_eo;
        if (eo == so) { /* an empty match (\b): nothing to hide, step over a byte */
            if (so >= end)
                break;
            drudge_buf_add(out, s + at, so + 1 - at);
            at = so + 1;
            continue;
        }
        drudge_buf_add(out, s + at, so - at);
        drudge_buf_printf(out, REC_MARK "%s]", pe->label);
        at = eo;
    }
    if (at < end)
        drudge_buf_add(out, s + at, end - at);
}

/* The closing bracket of a mark whose label starts at p, or NULL: text
 * that only looks like a mark's start shields nothing. */
static const char *mark_end(const char *p)
{
    size_t k = drudge_rec_label_len(p);
    return k >= 1 && k <= REC_LABEL_MAX && p[k] == ']' ? p + k : NULL;
}

/* Replaces pe's matches in b by "[REDACTED:label]", outside the marks
 * already there: a later pattern that matched a mark's own text (its label,
 * or a pattern as broad as a single character) grew the text by a mark's
 * length for every byte, pattern after pattern (a fuzzed patterns file made
 * a 55-byte text gigabytes long). */
static void replace_pattern(drudge_buf *b, const pattern_ent *pe)
{
    regmatch_t m;
    if (!b->data || regexec(&pe->re, b->data, 1, &m, 0) != 0)
        return;
    const char *s = b->data;
    size_t n = strlen(s), at = 0;
    drudge_buf out = {0};
    while (at < n) {
        const char *mark = s + at, *close = NULL;
        while ((mark = memmem(mark, (size_t)(s + n - mark), REC_MARK, REC_MARK_LEN)) &&
               !(close = mark_end(mark + REC_MARK_LEN)))
            mark += REC_MARK_LEN;
        size_t seg_end = close ? (size_t)(mark - s) : n;
        pattern_in(&out, s, at, seg_end, pe);
        if (!close)
            break;
        drudge_buf_add(&out, mark, (size_t)(close + 1 - mark)); /* the mark, as it was */
        at = (size_t)(close + 1 - s);
    }
    if (!out.data)
        drudge_buf_puts(&out, "");
    drudge_buf_free(b);
    *b = out;
}

/* Secret values, then configured patterns, in b. */
static void redact_buf(drudge_rec *r, drudge_buf *b)
{
    /* Values are replaced in registration order; a replaced value can no
     * longer match a later, shorter one. */
    for (size_t i = 0; i < r->nsecrets; i++) {
        replace_all(b, r->secrets[i].value, r->secrets[i].repl);
        if (r->secrets[i].esc)
            replace_all(b, r->secrets[i].esc, r->secrets[i].repl);
        if (r->secrets[i].url)
            replace_all(b, r->secrets[i].url, r->secrets[i].repl);
    }
    for (size_t i = 0; i < r->npatterns; i++)
        replace_pattern(b, &r->patterns[i]);
}

char *drudge_rec_redact(drudge_rec *r, const char *s)
{
    if (!s)
        return NULL;
    if (!r->nsecrets && !r->npatterns)
        return drudge_xstrdup(s);
    drudge_buf b = {0};
    drudge_buf_puts(&b, s);
    redact_buf(r, &b);
    return drudge_buf_take(&b);
}

/* A text field of a step, redacted: s itself when nothing can change it,
 * else a copy in *own (freed by the caller). */
static const char *redacted(drudge_rec *r, const char *s, char **own)
{
    *own = NULL;
    if (!s || (!r->nsecrets && !r->npatterns))
        return s;
    return *own = drudge_rec_redact(r, s);
}

/* A request or response summary, redacted: JSON, so credentials under
 * well-known keys are caught even when a connector forgot them
 * (drudge_redact_json_keys). s itself when nothing changes it (the common
 * case: the caller's copy is the only one), else the text in r->scratch,
 * valid until the next call. */
static const char *redacted_json(drudge_rec *r, const char *s)
{
    if (!s)
        return NULL;
    drudge_buf *b = &r->scratch;
    drudge_buf_reset(b);
    int changed = drudge_redact_json_keys_to(s, b);
    if (!r->nsecrets && !r->npatterns)
        return changed ? b->data : s;
    if (!changed)
        drudge_buf_puts(b, s);
    redact_buf(r, b);
    return b->data;
}

static void scratch_done(drudge_rec *r)
{
    if (r->scratch.cap > SCRATCH_KEEP)
        drudge_buf_free(&r->scratch);
}

/* Copies three strings (c may be NULL) into one allocation, pointed at by
 * *pa, *pb, *pc; returns the block (a step's begun or ended). */
static char *pack3(const char *a, const char *b, const char *c, char **pa, char **pb, char **pc)
{
    size_t na = strlen(a) + 1, nb = strlen(b) + 1, nc = c ? strlen(c) + 1 : 0;
    char *m = drudge_xmalloc(na + nb + nc);
    memcpy(m, a, na);
    memcpy(m + na, b, nb);
    if (c)
        memcpy(m + na + nb, c, nc);
    *pa = m;
    *pb = m + na;
    *pc = c ? m + na + nb : NULL;
    return m;
}

static int streq(const char *a, const char *b)
{
    return !strcmp(a ? a : "", b ? b : "");
}

static void compare_replay(drudge_rec *r, const drudge_step *s)
{
    if (!r->replaying || r->answering || r->divergence[0])
        return;
    if ((size_t)s->seq > r->nrsteps) {
        snprintf(r->divergence, sizeof r->divergence,
                 "step %d: the recording ends at step %zu, but the script made %s \"%s\" %s",
                 s->seq, r->nrsteps, s->kind, s->name, s->request ? s->request : "");
        return;
    }
    const drudge_step *want = &r->rsteps[s->seq - 1];
    const char *what = NULL;
    if (!streq(want->kind, s->kind))
        what = "kind";
    else if (!streq(want->name, s->name))
        what = "name";
    else if (want->parent != s->parent)
        what = "parent";
    else if (!streq(want->request, s->request))
        what = "request";
    if (what)
        snprintf(r->divergence, sizeof r->divergence,
                 "step %d: %s differs: expected %s \"%s\" %s (under step %d), got %s \"%s\" %s "
                 "(under step %d)",
                 s->seq, what, want->kind, want->name, want->request ? want->request : "",
                 want->parent, s->kind, s->name, s->request ? s->request : "", s->parent);
}

/* At the end of a step(...): its outcome must be what was recorded.
 * Connector calls are not checked here (their outcome follows from the
 * recorded response they replay), nor the attempt itself: replay.c compares
 * its outcome, error and output once it has ended. */
static void compare_replay_end(drudge_rec *r, const drudge_step *s)
{
    if (!r->replaying || r->answering || r->divergence[0] || (size_t)s->seq > r->nrsteps ||
        strcmp(s->kind, "step") != 0)
        return;
    const drudge_step *want = &r->rsteps[s->seq - 1];
    if (!streq(want->outcome, s->outcome))
        snprintf(r->divergence, sizeof r->divergence,
                 "step %d (%s \"%s\"): outcome differs: expected %s, got %s", s->seq, s->kind,
                 s->name, want->outcome ? want->outcome : "none", s->outcome ? s->outcome : "none");
}

void drudge_rec_replay_check_end(drudge_rec *r)
{
    if (r->answering && !r->divergence[0] && r->next_answer < r->nrsteps) {
        const drudge_step *a = &r->rsteps[r->next_answer];
        snprintf(r->divergence, sizeof r->divergence,
                 "the case gives %zu answers, but the script made only %zu calls (answer %zu, "
                 "for a %s call, was never asked for)",
                 r->nrsteps, r->next_answer, r->next_answer + 1, a->kind ? a->kind : "?");
        return;
    }
    if (!r->replaying || r->answering || r->divergence[0] || r->nsteps >= r->nrsteps)
        return;
    const drudge_step *want = &r->rsteps[r->nsteps];
    snprintf(r->divergence, sizeof r->divergence,
             "step %d: expected %s \"%s\" %s, but the attempt ended after %zu steps", want->seq,
             want->kind, want->name, want->request ? want->request : "", r->nsteps);
}

int drudge_rec_begin(drudge_rec *r, const char *kind, const char *name, const char *request)
{
    pthread_mutex_lock(&r->mu);
    GROW(r->steps, r->nsteps, r->capsteps);
    drudge_step *s = &r->steps[r->nsteps++];
    memset(s, 0, sizeof *s);
    s->seq = (int)r->nsteps;
    s->parent = r->nopen ? r->open[r->nopen - 1] : 0;
    char *own;
    const char *shown = redacted(r, name ? name : "", &own);
    s->begun = pack3(kind, shown, redacted_json(r, request), &s->kind, &s->name, &s->request);
    free(own);
    scratch_done(r);
    s->started_us = drudge_now_us();
    s->duration_us = -1;
    GROW(r->open, r->nopen, r->capopen);
    r->open[r->nopen++] = s->seq;
    compare_replay(r, s);
    int seq = s->seq;
    pthread_mutex_unlock(&r->mu);
    return seq;
}

void drudge_rec_end(drudge_rec *r, int seq, const char *outcome, const char *response,
                    const char *error)
{
    pthread_mutex_lock(&r->mu);
    if (seq < 1 || (size_t)seq > r->nsteps) {
        pthread_mutex_unlock(&r->mu);
        return;
    }
    /* Close children left open (a connector raised before closing). */
    while (r->nopen && r->open[r->nopen - 1] != seq) {
        drudge_step *c = &r->steps[r->open[--r->nopen] - 1];
        if (c->duration_us < 0) {
            c->duration_us = drudge_now_us() - c->started_us;
            c->outcome = drudge_xstrdup("error");
        }
    }
    if (r->nopen)
        r->nopen--;
    drudge_step *s = &r->steps[seq - 1];
    if (s->duration_us >= 0) {
        pthread_mutex_unlock(&r->mu);
        return;
    }
    s->duration_us = drudge_now_us() - s->started_us;
    /* An open step has none of these yet: one block for the three. */
    char *own;
    const char *err = redacted(r, error, &own);
    s->ended = pack3(outcome ? outcome : "ok", err ? err : "", redacted_json(r, response),
                     &s->outcome, &s->error, &s->response);
    if (!err)
        s->error = NULL;
    free(own);
    scratch_done(r);
    compare_replay_end(r, s);
    pthread_mutex_unlock(&r->mu);
    if (r->on_end && !r->replaying)
        r->on_end(r, r->on_end_ud);
}

void drudge_rec_on_end(drudge_rec *r, void (*fn)(drudge_rec *r, void *ud), void *ud)
{
    r->on_end = fn;
    r->on_end_ud = ud;
}

static char *dup_or_null(const char *s)
{
    return s ? drudge_xstrdup(s) : NULL;
}

drudge_rec *drudge_rec_take_due(drudge_rec *r, int64_t *next_us)
{
    int64_t now = drudge_mono_us();
    drudge_rec *out = NULL;
    pthread_mutex_lock(&r->mu);
    if (now >= *next_us) {
        *next_us = now + DRUDGE_REC_FLUSH_US;
        out = drudge_rec_take_closed(r);
    }
    pthread_mutex_unlock(&r->mu);
    return out;
}

void drudge_step_copy(drudge_step *d, const drudge_step *s)
{
    *d = *s;
    d->begun = d->ended = NULL; /* the copy's strings are its own */
    d->kind = dup_or_null(s->kind);
    d->name = dup_or_null(s->name);
    d->request = dup_or_null(s->request);
    d->response = dup_or_null(s->response);
    d->outcome = dup_or_null(s->outcome);
    d->error = dup_or_null(s->error);
}

void drudge_payload_copy(drudge_payload *d, const drudge_payload *p)
{
    *d = *p;
    d->content_type = dup_or_null(p->content_type);
    d->data = drudge_xmalloc(p->len ? p->len : 1);
    if (p->len)
        memcpy(d->data, p->data, p->len);
}

drudge_rec *drudge_rec_take_closed(drudge_rec *r)
{
    drudge_rec *out = NULL;
    pthread_mutex_lock(&r->mu);
    /* From the flushed mark: a recorder reused before its next attempt
     * resets it holds the last attempt's steps, all appended already. */
    for (size_t i = r->flushed; i < r->nsteps; i++) {
        drudge_step *s = &r->steps[i];
        /* Never the root: it goes with the attempt's outcome, in the same
         * transaction, or a crash in between would leave a root saying
         * "done" beside the "lost" one the reaper appends. */
        if (s->handed || s->duration_us < 0 || s->parent == 0)
            continue;
        if (!out) {
            out = drudge_rec_new();
            out->task_id = r->task_id;
            out->attempt = r->attempt;
        }
        GROW(out->steps, out->nsteps, out->capsteps);
        /* Moved, not copied: a handed step is never read here again (the
         * final append skips it, replay takes no early flush), so r keeps
         * only its place. That saves six copies and frees a step, and a
         * long attempt no longer holds every request and response it made
         * until its end. */
        out->steps[out->nsteps++] = *s;
        *s = (drudge_step){.seq = s->seq,
                           .parent = s->parent,
                           .started_us = s->started_us,
                           .duration_us = s->duration_us,
                           .handed = 1};
    }
    if (!out) { /* payloads go with the steps that reference them, or at the end */
        pthread_mutex_unlock(&r->mu);
        return NULL;
    }
    for (size_t i = r->payflushed; i < r->npayloads; i++) {
        drudge_payload *p = &r->payloads[i];
        if (p->handed)
            continue;
        GROW(out->payloads, out->npayloads, out->cappayloads);
        drudge_payload_copy(&out->payloads[out->npayloads++], p);
        p->handed = 1;
    }
    pthread_mutex_unlock(&r->mu);
    return out;
}

int drudge_rec_event(drudge_rec *r, const char *kind, const char *name, const char *request)
{
    pthread_mutex_lock(&r->mu);
    int seq = drudge_rec_begin(r, kind, name, request);
    drudge_step *s = &r->steps[seq - 1];
    r->nopen--;
    s->duration_us = 0;
    s->outcome = drudge_xstrdup("ok");
    pthread_mutex_unlock(&r->mu);
    return seq;
}

/* Replaces every occurrence of needle in the n bytes at data (takes and
 * returns ownership; *n updated). */
static unsigned char *replace_bytes(unsigned char *data, size_t *n, const char *needle,
                                    const char *repl)
{
    size_t nl = strlen(needle), rl = strlen(repl);
    if (!memmem(data, *n, needle, nl))
        return data;
    drudge_buf out = {0};
    const unsigned char *p = data, *end = data + *n;
    for (const unsigned char *hit = memmem(p, (size_t)(end - p), needle, nl); hit;
         hit = memmem(p, (size_t)(end - p), needle, nl)) {
        drudge_buf_add(&out, p, (size_t)(hit - p));
        drudge_buf_add(&out, repl, rl);
        p = hit + nl;
    }
    drudge_buf_add(&out, p, (size_t)(end - p));
    free(data);
    *n = out.len;
    return (unsigned char *)drudge_buf_take(&out);
}

static int is_text(const char *ct)
{
    return ct && (!strncmp(ct, "text/", 5) || !strncmp(ct, "message/", 8) ||
                  !strncmp(ct, "application/json", 16) || strstr(ct, "+json") || strstr(ct, "xml"));
}

void drudge_rec_payload(drudge_rec *r, const void *data, size_t len, const char *content_type,
                        char sha_out[65])
{
    unsigned char *copy;
    if (is_text(content_type) && (r->nsecrets || r->npatterns) && !memchr(data, 0, len)) {
        char *text = drudge_xmalloc(len + 1);
        memcpy(text, data, len);
        text[len] = '\0';
        char *red = drudge_rec_redact(r, text);
        free(text);
        len = strlen(red);
        copy = (unsigned char *)red;
    } else {
        copy = drudge_xmalloc(len ? len : 1);
        if (len)
            memcpy(copy, data, len);
        /* Binary is not searched for patterns, but a secret's exact bytes
         * are replaced even there (an octet-stream that is really text, a
         * token echoed in a file): a leak is worse than a damaged blob. */
        for (size_t i = 0; i < r->nsecrets; i++)
            copy = replace_bytes(copy, &len, r->secrets[i].value, r->secrets[i].repl);
    }
    drudge_sha256_hex(copy, len, sha_out);
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->npayloads; i++)
        if (!strcmp(r->payloads[i].sha256, sha_out)) {
            pthread_mutex_unlock(&r->mu);
            free(copy);
            return;
        }
    GROW(r->payloads, r->npayloads, r->cappayloads);
    drudge_payload *p = &r->payloads[r->npayloads++];
    memcpy(p->sha256, sha_out, 65);
    p->content_type = drudge_xstrdup(content_type ? content_type : "application/octet-stream");
    p->data = copy;
    p->len = len;
    p->handed = 0;
    pthread_mutex_unlock(&r->mu);
}

void drudge_rec_add_secret(drudge_rec *r, const char *name, const char *value)
{
    if (!value || strlen(value) < MIN_SECRET_LEN)
        return;
    /* A value holding a redaction marker was built from a redacted secret
     * (replay hands those out): redacting it again would make the replayed
     * requests differ from the recorded ones. */
    if (strstr(value, REC_MARK))
        return;
    for (size_t i = 0; i < r->nsecrets; i++)
        if (!strcmp(r->secrets[i].value, value))
            return;
    GROW(r->secrets, r->nsecrets, r->capsecrets);
    secret_ent *e = &r->secrets[r->nsecrets++];
    memset(e, 0, sizeof *e);
    e->name = drudge_xstrdup(name);
    e->value = drudge_xstrdup(value);
    drudge_buf b = {0};
    drudge_buf_json_str(&b, value, strlen(value));
    if (b.len - 2 != strlen(value)) {
        b.data[b.len - 1] = '\0';
        e->esc = drudge_xstrdup(b.data + 1);
    }
    drudge_buf_free(&b);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p))
            drudge_buf_add(&b, p, 1);
        else
            drudge_buf_printf(&b, "%%%02X", *p);
    }
    if (strcmp(b.data, value) != 0)
        e->url = drudge_xstrdup(b.data);
    drudge_buf_free(&b);
    drudge_buf_printf(&b, REC_MARK "%s]", name);
    e->repl = drudge_buf_take(&b);
    /* Outside an attempt (no step open: a script's top level) the value is
     * kept for the host's life; inside, it is forgotten with the attempt. */
    e->persist = r->nopen == 0;
}

int drudge_rec_add_pattern(drudge_rec *r, const char *label, const char *regex)
{
    regex_t re;
    if (regcomp(&re, regex, REG_EXTENDED) != 0)
        return -1;
    r->patterns = drudge_xrealloc(r->patterns, (r->npatterns + 1) * sizeof *r->patterns);
    r->patterns[r->npatterns].label = drudge_xstrdup(label);
    r->patterns[r->npatterns].re = re;
    r->npatterns++;
    return 0;
}

int64_t drudge_rec_task(const drudge_rec *r)
{
    return r->task_id;
}
int drudge_rec_attempt(const drudge_rec *r)
{
    return r->attempt;
}
size_t drudge_rec_count(const drudge_rec *r)
{
    return r->nsteps;
}
const drudge_step *drudge_rec_step(const drudge_rec *r, size_t i)
{
    return i < r->nsteps ? &r->steps[i] : NULL;
}
size_t drudge_rec_payload_count(const drudge_rec *r)
{
    return r->npayloads;
}
const drudge_payload *drudge_rec_payload_at(const drudge_rec *r, size_t i)
{
    return i < r->npayloads ? &r->payloads[i] : NULL;
}
size_t drudge_rec_payloads_flushed(const drudge_rec *r)
{
    return r->payflushed;
}
void drudge_rec_mark_payloads_flushed(drudge_rec *r, size_t upto)
{
    if (upto <= r->npayloads)
        r->payflushed = upto;
}
size_t drudge_rec_flushed(const drudge_rec *r)
{
    return r->flushed;
}
void drudge_rec_mark_flushed(drudge_rec *r, size_t upto)
{
    if (upto < r->flushed) /* rewound after a rollback: payloads are stored again too */
        r->payflushed = 0;
    if (upto <= r->nsteps)
        r->flushed = upto;
}

void drudge_rec_replay_load(drudge_rec *r, drudge_step *steps, size_t n, drudge_payload *payloads,
                            size_t npayloads)
{
    clear_replay(r);
    r->rsteps = steps;
    r->nrsteps = n;
    r->rpayloads = payloads;
    r->nrpayloads = npayloads;
    r->replaying = 1;
}

void drudge_rec_answers_load(drudge_rec *r, drudge_step *answers, size_t n,
                             drudge_payload *payloads, size_t npayloads)
{
    drudge_rec_replay_load(r, answers, n, payloads, npayloads);
    r->answering = 1;
}

int drudge_rec_answering(const drudge_rec *r)
{
    return r->answering;
}

const drudge_step *drudge_rec_next_answer(drudge_rec *r, const char *kind, const char *name)
{
    if (!r->answering || r->divergence[0])
        return NULL;
    if (r->next_answer >= r->nrsteps) {
        snprintf(r->divergence, sizeof r->divergence,
                 "call %zu: the script made %s \"%s\", but the case gives only %zu answers",
                 r->next_answer + 1, kind, name, r->nrsteps);
        return NULL;
    }
    const drudge_step *a = &r->rsteps[r->next_answer++];
    if (a->kind && *a->kind && strcmp(a->kind, kind) != 0)
        snprintf(r->divergence, sizeof r->divergence,
                 "call %zu: answer %zu is for a %s call, but the script made %s \"%s\"",
                 r->next_answer, r->next_answer, a->kind, kind, name);
    else if (a->name && *a->name && !strstr(name, a->name))
        snprintf(r->divergence, sizeof r->divergence,
                 "call %zu: answer %zu is for a call named \"%s\", but the script made %s "
                 "\"%s\"",
                 r->next_answer, r->next_answer, a->name, kind, name);
    return r->divergence[0] ? NULL : a;
}

int drudge_rec_replaying(const drudge_rec *r)
{
    return r->replaying;
}

const char *drudge_rec_replay_response(drudge_rec *r, int seq)
{
    if (!r->replaying || seq < 1 || (size_t)seq > r->nrsteps || r->divergence[0])
        return NULL;
    return r->rsteps[seq - 1].response;
}

const drudge_step *drudge_rec_replay_step(const drudge_rec *r, int seq)
{
    if (!r->replaying || seq < 1 || (size_t)seq > r->nrsteps)
        return NULL;
    return &r->rsteps[seq - 1];
}

const drudge_payload *drudge_rec_replay_payload(drudge_rec *r, const char *sha256)
{
    for (size_t i = 0; i < r->nrpayloads; i++)
        if (!strcmp(r->rpayloads[i].sha256, sha256))
            return &r->rpayloads[i];
    return NULL;
}

const char *drudge_rec_divergence(const drudge_rec *r)
{
    return r->divergence;
}

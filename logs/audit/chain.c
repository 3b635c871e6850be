/* chain.c: the chain's encoding: the canonical form of a row, its hash, and
 * the payload references in a row's JSON; and the walk that re-hashes the
 * chain row by row (for audit verify and before a checkpoint is signed).
 *
 * One chain per database: each row's hash is
 *   SHA-256(previous row's hash as 64 hex digits || canonical encoding)
 * with 64 zeros before the first row. The canonical encoding is documented in
 * logs/README.md so auditors can verify an export with their own tools. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "logs/audit/audit.h"
#include "drudge/util.h"

/* A string of the canonical encoding: drudge_buf_json_str's escaping
 * (Python's json.dumps with ensure_ascii=False), or null. */
static void canon_str(drudge_buf *b, const char *s)
{
    if (s)
        drudge_buf_json_str(b, s, strlen(s));
    else
        drudge_buf_add(b, "null", 4);
}

static void canon_int(drudge_buf *b, int64_t v, char sep)
{
    drudge_buf_int(b, v);
    drudge_buf_add(b, &sep, 1);
}

void drudge_audit_canonical(drudge_buf *b, int64_t id, int64_t task_id, int attempt,
                            const drudge_step *s)
{
    drudge_buf_add(b, "[", 1);
    canon_int(b, id, ',');
    canon_int(b, task_id, ',');
    canon_int(b, attempt, ',');
    canon_int(b, s->seq, ',');
    if (s->parent)
        canon_int(b, s->parent, ',');
    else
        drudge_buf_add(b, "null,", 5);
    canon_str(b, s->kind);
    drudge_buf_add(b, ",", 1);
    canon_str(b, s->name);
    drudge_buf_add(b, ",", 1);
    canon_str(b, s->request);
    drudge_buf_add(b, ",", 1);
    canon_str(b, s->response);
    drudge_buf_add(b, ",", 1);
    canon_int(b, s->started_us, ',');
    canon_int(b, s->duration_us, ',');
    canon_str(b, s->outcome);
    drudge_buf_add(b, ",", 1);
    canon_str(b, s->error);
    drudge_buf_add(b, "]", 1);
}

void drudge_audit_hash(const char prev[64], const char *canon, size_t len, char out[65])
{
    drudge_sha256_pair_hex(prev, 64, canon, len, out);
}

static int is_hex64(const char *s)
{
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return s[64] == '"';
}

/* After the opening quote at p: the position after the closing quote. */
static const char *skip_string(const char *p)
{
    for (p++; *p; p++) {
        if (*p == '\\' && p[1])
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return p;
}

/* Does the key [k, e) (quotes excluded) equal name or end in "_" name? */
static int key_is(const char *k, const char *e, const char *name)
{
    size_t n = strlen(name), len = (size_t)(e - k);
    return (len == n || (len > n && k[len - n - 1] == '_')) && !memcmp(e - n, name, n);
}

typedef struct ref_frame {
    size_t first; /* index of its first pending reference */
    int not_stored;
} ref_frame;

/* The object of frame f closes: its references are reported, unless it
 * said "..stored":false, and dropped. */
static void close_object(const ref_frame *f, const char **refs, size_t *nrefs,
                         void (*fn)(void *ud, const char *sha), void *ud)
{
    for (size_t i = f->first; i < *nrefs && !f->not_stored; i++) {
        char sha[65];
        memcpy(sha, refs[i], 64);
        sha[64] = '\0';
        fn(ud, sha);
    }
    *nrefs = f->first;
}

/* One pass over the JSON text with a stack of objects: references wait in
 * their object until it closes, and are dropped if it said "..stored":false. */
void drudge_audit_payload_refs(const char *json, void (*fn)(void *ud, const char *sha), void *ud)
{
    enum { MAX_DEPTH = 32 };
    ref_frame stack[MAX_DEPTH];
    const char *small[16], **refs = small;
    size_t nrefs = 0, cap = 16;
    int depth = 0;
    if (!json)
        return;
    for (const char *p = json; *p;) {
        if (*p == '{') {
            if (depth < MAX_DEPTH)
                stack[depth] = (ref_frame){.first = nrefs, .not_stored = 0};
            depth++;
            p++;
        } else if (*p == '}') {
            if (depth > 0) {
                depth--;
                if (depth < MAX_DEPTH)
                    close_object(&stack[depth], refs, &nrefs, fn, ud);
            }
            p++;
        } else if (*p == '"') {
            const char *k = p + 1, *e = skip_string(p);
            const char *q = e;
            while (*q == ' ')
                q++;
            p = e;
            if (*q != ':' || depth == 0 || depth > MAX_DEPTH || e - k < 2)
                continue;
            const char *kend = e - 1;
            for (q++; *q == ' '; q++)
                ;
            /* "message": the mail connector's key for an e-mail, from
             * before the rule; without it no e-mail would be verified,
             * exported or written out as evidence. */
            if (*q == '"' &&
                (key_is(k, kend, "sha256") || (kend - k == 7 && !memcmp(k, "message", 7))) &&
                is_hex64(q + 1)) {
                if (nrefs == cap) {
                    const char **grown = drudge_xmalloc(2 * cap * sizeof *grown);
                    memcpy(grown, refs, cap * sizeof *refs);
                    if (refs != small)
                        free(refs);
                    refs = grown;
                    cap *= 2;
                }
                refs[nrefs++] = q + 1;
            } else if (!strncmp(q, "false", 5) && key_is(k, kend, "stored")) {
                stack[depth - 1].not_stored = 1;
            }
        } else {
            p++;
        }
    }
    if (refs != small)
        free(refs);
}

/* ---- walking the chain ---- */

typedef struct walker {
    const drudge_chain_visitor *v;
    drudge_chain_walk *out;
    int64_t from_id;
    int anchored;      /* the anchor row was seen (or the walk has none) */
    char prev[65];     /* the hash of the row before (recomputed, and as stored) */
    int64_t last_task; /* the row before, to tell a reordered row */
    int last_attempt, last_seq;
    drudge_buf canon;
} walker;

static int stop(walker *w, drudge_chain_problem problem, const drudge_step_row *r)
{
    /* Before the anchor is seen, the row that should be there is the anchor. */
    int64_t expected = w->anchored ? w->out->head_id + 1 : w->from_id;
    drudge_chain_fault f = {.problem = problem, .row = r, .expected = expected};
    w->out->problem = problem;
    if (w->v->fault)
        w->v->fault(w->v->ud, &f);
    return 1;
}

/* r follows: the next row links to it. hash is its recomputed hash, or NULL
 * for the anchor (not re-hashed: w->prev is already its hash). */
static void follow(walker *w, const drudge_step_row *r, const char *hash)
{
    if (hash)
        memcpy(w->prev, hash, sizeof w->prev);
    w->last_task = r->task_id;
    w->last_attempt = r->attempt;
    w->last_seq = r->step.seq;
    w->out->head_id = r->id;
}

/* The row the walk starts after: there, with the hash it was given. */
static int check_anchor(walker *w, const drudge_step_row *r)
{
    if (r->id != w->from_id)
        return stop(w, DRUDGE_CHAIN_ANCHOR_GONE, NULL);
    if (!r->hash || strcmp(r->hash, w->prev) != 0)
        return stop(w, DRUDGE_CHAIN_ANCHOR_CHANGED, r);
    w->anchored = 1;
    follow(w, r, NULL);
    return 0;
}

/* Why r's hash is not the one that follows from the row before. (That the
 * row before was changed cannot be the reason: the walk stops at the first
 * row that does not match, so the one before has the hash it stored.) */
static drudge_chain_problem mismatch(const walker *w, const drudge_step_row *r)
{
    /* Within an attempt rows are appended in seq order, 1, 2, 3... */
    if (r->task_id == w->last_task && r->attempt == w->last_attempt &&
        r->step.seq != w->last_seq + 1)
        return DRUDGE_CHAIN_REORDERED;
    return DRUDGE_CHAIN_EDITED;
}

static int walk_row(void *ud, const drudge_step_row *r)
{
    walker *w = ud;
    char h[65];
    if (!w->anchored)
        return check_anchor(w, r);
    if (r->id != w->out->head_id + 1)
        return stop(w, r->id > w->out->head_id + 1 ? DRUDGE_CHAIN_GAP : DRUDGE_CHAIN_BAD_START, r);
    drudge_buf_reset(&w->canon);
    drudge_audit_canonical(&w->canon, r->id, r->task_id, r->attempt, &r->step);
    drudge_audit_hash(w->prev, w->canon.data, w->canon.len, h);
    if (!r->hash || strcmp(h, r->hash) != 0)
        return stop(w, mismatch(w, r), r);
    follow(w, r, h);
    w->out->rows++;
    return w->v->row ? w->v->row(w->v->ud, r, h, w->out->rows) : 0;
}

drudge_code drudge_audit_walk(drudge_store *s, int64_t from_id, const char *from_hash,
                              const drudge_chain_visitor *v, drudge_chain_walk *out,
                              drudge_err *err)
{
    walker w = {.v = v, .out = out, .from_id = from_id, .anchored = from_id == 0};
    /* From the start every row is read, so that one below 1 is seen. */
    drudge_step_filter f = {.from_id = from_id ? from_id : INT64_MIN};
    memset(out, 0, sizeof *out);
    out->head_id = from_id;
    if (from_hash)
        snprintf(w.prev, sizeof w.prev, "%s", from_hash);
    else
        memset(w.prev, '0', 64);
    drudge_code rc = drudge_store_steps(s, &f, walk_row, &w, err);
    if (!rc && !w.anchored && !out->problem)
        stop(&w, DRUDGE_CHAIN_ANCHOR_GONE, NULL);
    memcpy(out->head, w.prev, sizeof w.prev);
    drudge_buf_free(&w.canon);
    return rc;
}

/* ---- the state an attempt left its task in, in the root's response ---- */

char *drudge_audit_root_response(const char *response, const char *state)
{
    drudge_buf b = {0};
    drudge_buf_puts(&b, "{\"state\":");
    drudge_buf_json_str(&b, state, strlen(state));
    if (response && response[0] == '{' && response[1] && response[1] != '}') {
        drudge_buf_puts(&b, ",");
        drudge_buf_puts(&b, response + 1);
    } else {
        drudge_buf_puts(&b, "}");
    }
    return drudge_buf_take(&b);
}

void drudge_audit_root_parse(const char *response, char state[16], char script[65],
                             const char **output, size_t *len)
{
    static const char st_key[] = "\"state\":\"", sc_key[] = "\"script_version\":\"",
                      out_key[] = "\"output\":";
    state[0] = '\0';
    if (script)
        script[0] = '\0';
    *output = NULL;
    *len = 0;
    if (!response || response[0] != '{')
        return;
    const char *p = response + 1;
    if (!strncmp(p, st_key, sizeof st_key - 1)) {
        const char *s = p + sizeof st_key - 1, *e = strchr(s, '"');
        if (!e || e - s >= 16)
            return;
        memcpy(state, s, (size_t)(e - s));
        state[e - s] = '\0';
        p = e + 1;
        if (*p != ',')
            return;
        p++;
    }
    if (!strncmp(p, sc_key, sizeof sc_key - 1)) {
        const char *s = p + sizeof sc_key - 1, *e = strchr(s, '"');
        if (!e || e - s != 64)
            return;
        if (script) {
            memcpy(script, s, 64);
            script[64] = '\0';
        }
        p = e + 1;
        if (*p != ',')
            return;
        p++;
    }
    size_t n = strlen(p);
    if (strncmp(p, out_key, sizeof out_key - 1) != 0 || n < sizeof out_key || p[n - 1] != '}')
        return;
    *output = p + sizeof out_key - 1;
    *len = n - (sizeof out_key - 1) - 1;
}

/* chain.c: the chain's encoding: the canonical form of a row, its hash, and
 * the payload references in a row's JSON.
 *
 * One chain per database: each row's hash is
 *   SHA-256(previous row's hash as 64 hex digits || canonical encoding)
 * with 64 zeros before the first row. The canonical encoding is documented in
 * logs/README.md so auditors can verify an export with their own tools. */
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
            if (depth > 0 && --depth < MAX_DEPTH) {
                for (size_t i = stack[depth].first; i < nrefs; i++)
                    if (!stack[depth].not_stored) {
                        char sha[65];
                        memcpy(sha, refs[i], 64);
                        sha[64] = '\0';
                        fn(ud, sha);
                    }
                nrefs = stack[depth].first;
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
            if (*q == '"' && key_is(k, kend, "sha256") && is_hex64(q + 1)) {
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

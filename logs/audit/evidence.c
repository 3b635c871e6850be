/* evidence.c: drudge audit evidence TASK --out DIR: every payload a task's
 * steps reference (screenshots, e-mails, attachments, HTTP bodies) written
 * out as files, with a manifest naming for each its step and its SHA-256,
 * so that an auditor can check the files against the chain with any
 * SHA-256 tool (logs/README.md, "Evidence"). An e-mail's attachments are
 * written beside its .eml as files of their own: the MIME parsing is the
 * mail module's (GMime), handed in by the caller as a split function, so
 * that this layer (and the core binary) knows nothing of MIME. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "drudge/util.h"
#include "logs/audit/audit.h"

typedef struct ref {
    char sha[65];
} ref;

typedef struct evidence {
    drudge_store *s;
    const char *dir;
    drudge_buf manifest;
    int64_t files, pruned, bytes;
    drudge_code rc;
    drudge_err *err;
    drudge_mail_split_fn split; /* NULL: e-mails stay whole */
    const drudge_step_row *row; /* the step being read */
    ref *refs;                  /* of that step, not yet written */
    size_t nrefs;
    char (*done)[65]; /* payloads written already (a body sent twice is one file) */
    size_t ndone;
} evidence;

const char *drudge_audit_payload_ext(const char *ct)
{
    static const struct {
        const char *type, *ext;
    } map[] = {{"image/png", ".png"},       {"image/jpeg", ".jpg"},
               {"message/rfc822", ".eml"},  {"application/json", ".json"},
               {"text/html", ".html"},      {"text/plain", ".txt"},
               {"text/csv", ".csv"},        {"application/pdf", ".pdf"},
               {"application/xml", ".xml"}, {"text/xml", ".xml"}};
    for (size_t i = 0; ct && i < sizeof map / sizeof map[0]; i++)
        if (!strncmp(ct, map[i].type, strlen(map[i].type)))
            return map[i].ext;
    return ".bin";
}

/* A file name's part made safe: letters, digits, '.', '-', '_' kept. */
static void safe_part(drudge_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n && i < 80; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_';
        drudge_buf_add(b, ok ? &c : "_", 1);
    }
}

/* The JSON key that holds sha in json ("body" for "body_sha256"), and a
 * "filename" or "name" in the same object, if any. */
static void name_of(const char *json, const char *sha, drudge_buf *key, drudge_buf *file)
{
    char pat[72];
    snprintf(pat, sizeof pat, "\"%s\"", sha);
    const char *hit = json ? strstr(json, pat) : NULL;
    if (!hit)
        return;
    const char *k = hit - 1; /* the ':' before the value */
    while (k > json && (*k == ':' || *k == ' '))
        k--;
    const char *ke = k; /* the key's closing quote */
    const char *ks = ke - 1;
    while (ks > json && *ks != '"')
        ks--;
    if (ke > ks + 1) {
        size_t n = (size_t)(ke - ks - 1);
        if (n >= 7 && !strncmp(ke - 7, "_sha256", 7))
            n -= 7;
        safe_part(key, ks + 1, n);
    }
    /* A file name in the same object: between the enclosing braces. */
    const char *open = hit, *close = strchr(hit, '}');
    while (open > json && *open != '{')
        open--;
    for (const char *fk = open; close && fk < close; fk++) {
        const char *f = NULL;
        if (!strncmp(fk, "\"filename\":\"", 12))
            f = fk + 12;
        else if (!strncmp(fk, "\"name\":\"", 8))
            f = fk + 8;
        if (!f)
            continue;
        const char *fe = strchr(f, '"');
        if (fe && fe < close && fe > f) {
            safe_part(file, f, (size_t)(fe - f));
            return;
        }
    }
}

static void note_ref(void *ud, const char *sha)
{
    evidence *e = ud;
    e->refs = drudge_xrealloc(e->refs, (e->nrefs + 1) * sizeof *e->refs);
    memcpy(e->refs[e->nrefs++].sha, sha, 65);
}

static drudge_code write_file(evidence *e, const char *name, const drudge_payload_row *p)
{
    drudge_buf path = {0};
    drudge_buf_printf(&path, "%s/%s", e->dir, name);
    drudge_code rc = DRUDGE_OK;
    int fd = open(path.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || (p->len && write(fd, p->data, p->len) != (ssize_t)p->len) || fsync(fd) != 0)
        rc = drudge_seterr(e->err, DRUDGE_EIO, "cannot write %s: %s", path.data,
                           errno == EEXIST ? "it exists" : strerror(errno));
    if (fd >= 0)
        close(fd);
    drudge_buf_free(&path);
    return rc;
}

static void manifest_entry(evidence *e, const char *file, const drudge_payload_row *p,
                           const char *key)
{
    const drudge_step_row *r = e->row;
    drudge_buf *m = &e->manifest;
    drudge_buf_printf(m, "%s\n  {\"file\":", e->files + e->pruned ? "," : "");
    if (file)
        drudge_buf_json_str(m, file, strlen(file));
    else
        drudge_buf_puts(m, "null");
    drudge_buf_printf(m, ",\"step_id\":%lld,\"attempt\":%d,\"seq\":%d,\"kind\":", (long long)r->id,
                      r->attempt, r->step.seq);
    drudge_buf_json_str(m, r->step.kind ? r->step.kind : "",
                        strlen(r->step.kind ? r->step.kind : ""));
    drudge_buf_puts(m, ",\"name\":");
    drudge_buf_json_str(m, r->step.name ? r->step.name : "",
                        strlen(r->step.name ? r->step.name : ""));
    drudge_buf_printf(m, ",\"key\":\"%s\",\"content_type\":", key);
    drudge_buf_json_str(m, p->content_type ? p->content_type : "",
                        strlen(p->content_type ? p->content_type : ""));
    drudge_buf_printf(m, ",\"size\":%lld,\"sha256\":\"%s\"%s}", (long long)p->size, p->sha256,
                      file ? "" : ",\"pruned\":true");
}

/* An attachment's file name from the name its MIME part gave: UTF-8 letters
 * kept, every other byte that could mean something to a shell or a file
 * system ('/', '\\', control characters, quotes, ...) made '_', at most
 * about 100 bytes (never cutting a UTF-8 sequence); the caller puts
 * "ATTEMPT-SEQ-attachment-N-" in front, so no name can be hidden, "..",
 * or reach outside the directory. */
static void safe_att_name(drudge_buf *b, const char *s)
{
    size_t n = strlen(s), start = b->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (b->len - start >= 100 && (c & 0xC0) != 0x80)
            break;
        int ok = c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
        drudge_buf_add(b, ok ? (const char *)&s[i] : "_", 1);
    }
}

typedef struct att_ctx {
    evidence *e;
    const char *eml_file; /* the .eml it came from, as written */
    const char *eml_sha;
    int n; /* attachments so far */
} att_ctx;

/* One attachment of an e-mail written: its file and manifest entry. The
 * SHA-256 is re-computed from the bytes written; "recorded" says whether
 * the step's row holds it (mail steps list their attachments' hashes;
 * older recordings, or a message redaction changed, do not). */
static void one_attachment(void *ud, const char *filename, const char *content_type,
                           const void *data, size_t len)
{
    att_ctx *a = ud;
    evidence *e = a->e;
    const drudge_step_row *r = e->row;
    if (e->rc)
        return;
    a->n++;
    drudge_buf name = {0};
    drudge_buf_printf(&name, "%d-%d-attachment-%d-", r->attempt, r->step.seq, a->n);
    size_t before = name.len;
    safe_att_name(&name, filename ? filename : "");
    if (name.len == before)
        drudge_buf_printf(&name, "unnamed%s", drudge_audit_payload_ext(content_type));
    char sha[65];
    drudge_sha256_hex(data, len, sha);
    drudge_payload_row p = {.data = (unsigned char *)data,
                            .len = len,
                            .size = (int64_t)len,
                            .content_type = (char *)(content_type ? content_type : "")};
    memcpy(p.sha256, sha, sizeof sha);
    e->rc = write_file(e, name.data, &p);
    if (!e->rc) {
        int recorded = (r->step.response && strstr(r->step.response, sha)) ||
                       (r->step.request && strstr(r->step.request, sha));
        manifest_entry(e, name.data, &p, "attachment");
        drudge_buf *m = &e->manifest;
        m->len--; /* reopen the entry: what ties it to its e-mail */
        drudge_buf_puts(m, ",\"filename\":");
        drudge_buf_json_str(m, filename ? filename : "", strlen(filename ? filename : ""));
        drudge_buf_puts(m, ",\"from_file\":");
        drudge_buf_json_str(m, a->eml_file, strlen(a->eml_file));
        drudge_buf_printf(m, ",\"from_sha256\":\"%s\",\"recorded\":%s}", a->eml_sha,
                          recorded ? "true" : "false");
        e->files++;
        e->bytes += (int64_t)len;
    }
    drudge_buf_free(&name);
}

/* The attachments of the e-mail p (written as eml_file), as files. A
 * message the split cannot read keeps them inside its .eml (audit verify
 * and the .eml's hash still hold); the manifest says so. */
static void split_mail(evidence *e, const char *eml_file, const drudge_payload_row *p)
{
    att_ctx a = {.e = e, .eml_file = eml_file, .eml_sha = p->sha256};
    drudge_err err = {0};
    if (e->split(p->data, p->len, one_attachment, &a, &err) != DRUDGE_OK && !e->rc) {
        drudge_buf *m = &e->manifest;
        m->len--;
        drudge_buf_puts(m, ",\"attachments_error\":");
        drudge_buf_json_str(m, err.msg, strlen(err.msg));
        drudge_buf_puts(m, "}");
    }
}

static drudge_code one_payload(evidence *e, const char *sha)
{
    drudge_payload_row p;
    drudge_buf key = {0}, file = {0}, name = {0};
    for (size_t i = 0; i < e->ndone; i++)
        if (!strcmp(e->done[i], sha))
            return DRUDGE_OK;
    drudge_code rc = drudge_store_payload(e->s, sha, 1, &p, e->err);
    if (rc == DRUDGE_ENOTFOUND) /* audit verify reports it; nothing to write */
        return DRUDGE_OK;
    if (rc)
        return rc;
    name_of(e->row->step.request, sha, &key, &file);
    if (!key.len)
        name_of(e->row->step.response, sha, &key, &file);
    if (!key.len)
        drudge_buf_puts(&key, "payload");
    drudge_buf_printf(&name, "%d-%d-%s", e->row->attempt, e->row->step.seq, key.data);
    if (file.len)
        drudge_buf_printf(&name, "-%s", file.data);
    else
        drudge_buf_puts(&name, drudge_audit_payload_ext(p.content_type));
    if (p.data) {
        rc = write_file(e, name.data, &p);
        e->bytes += (int64_t)p.len;
    }
    if (!rc) {
        manifest_entry(e, p.data ? name.data : NULL, &p, key.data);
        *(p.data ? &e->files : &e->pruned) += 1;
        e->done = drudge_xrealloc(e->done, (e->ndone + 1) * sizeof *e->done);
        memcpy(e->done[e->ndone++], sha, 65);
        if (p.data && e->split && p.content_type &&
            !strncmp(p.content_type, "message/rfc822", 14)) {
            split_mail(e, name.data, &p);
            rc = e->rc;
        }
    }
    drudge_payload_row_clear(&p);
    drudge_buf_free(&key);
    drudge_buf_free(&file);
    drudge_buf_free(&name);
    return rc;
}

static int one_step(void *ud, const drudge_step_row *r)
{
    evidence *e = ud;
    e->row = r;
    e->nrefs = 0;
    drudge_audit_payload_refs(r->step.request, note_ref, e);
    drudge_audit_payload_refs(r->step.response, note_ref, e);
    for (size_t i = 0; i < e->nrefs && !e->rc; i++)
        e->rc = one_payload(e, e->refs[i].sha);
    return e->rc != DRUDGE_OK;
}

drudge_code drudge_audit_evidence(drudge_store *s, int64_t task_id, const char *dir,
                                  drudge_mail_split_fn split, drudge_evidence_summary *out,
                                  drudge_err *err)
{
    evidence e = {.s = s, .dir = dir, .err = err, .split = split};
    memset(out, 0, sizeof *out);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return drudge_seterr(err, DRUDGE_EIO, "cannot make %s: %s", dir, strerror(errno));
    drudge_task_row t;
    drudge_code rc = drudge_store_begin(s, DRUDGE_TX_READ, err);
    if (rc)
        return rc;
    rc = drudge_store_get(s, task_id, &t, NULL, NULL, err);
    if (rc == DRUDGE_ENOTFOUND)
        rc =
            drudge_seterr(err, rc, "no task #%lld in %s", (long long)task_id, drudge_store_name(s));
    drudge_task_row_clear(&t);
    int64_t head_id = 0;
    char head[65] = "";
    if (!rc)
        rc = drudge_store_chain_head(s, &head_id, head, err);
    drudge_buf_printf(&e.manifest,
                      "{\"task\":%lld,\"chain_head\":{\"id\":%lld,\"hash\":\"%s\"},\"files\":[",
                      (long long)task_id, (long long)head_id, head);
    drudge_step_filter f = {.task_id = task_id, .by_seq = 1};
    if (!rc)
        rc = drudge_store_steps(s, &f, one_step, &e, err);
    if (!rc)
        rc = e.rc;
    drudge_store_rollback(s);
    drudge_buf_puts(&e.manifest, "\n]}\n");
    if (!rc) {
        drudge_payload_row mp = {.data = (unsigned char *)e.manifest.data, .len = e.manifest.len};
        rc = write_file(&e, "manifest.json", &mp);
    }
    out->files = e.files;
    out->pruned = e.pruned;
    out->bytes = e.bytes;
    drudge_buf_free(&e.manifest);
    free(e.refs);
    free(e.done);
    return rc;
}

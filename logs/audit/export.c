/* export.c: drudge audit export: one record per step, in chain order, with
 * what an outside verifier needs (every canonical field, hash, prev_hash).
 *
 * JSON Lines keeps null apart from "" and is what the verifier in
 * logs/README.md reads; CSV is for spreadsheets (an empty cell is null). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "logs/audit/audit.h"
#include "drudge/util.h"

#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

static const char *const columns[] = {"id",          "task_id", "attempt", "seq",      "parent",
                                      "kind",        "name",    "request", "response", "started_at",
                                      "duration_us", "outcome", "error",   "hash",     "prev_hash",
                                      "script",      "started", NULL};

/* Index of each of columns[] above ("started" is written apart). */
enum {
    C_ID,
    C_TASK,
    C_ATTEMPT,
    C_SEQ,
    C_PARENT,
    C_KIND,
    C_NAME,
    C_REQ,
    C_RESP,
    C_START,
    C_DUR,
    C_OUTCOME,
    C_ERROR,
    C_HASH,
    C_PREV,
    C_SCRIPT,
    C_NCOLS
};

/* One exported row as text: NULL for null; numbers are the integer columns. */
typedef struct fields {
    const char *v[C_NCOLS];
    char num[C_PREV][24];
    char started[40];
} fields;

static void set_num(fields *f, int c, int64_t v)
{
    snprintf(f->num[c], sizeof f->num[c], "%" PRId64, v);
    f->v[c] = f->num[c];
}

static int is_number(int c)
{
    return c <= C_PARENT || c == C_START || c == C_DUR;
}

static void row_fields(fields *f, const drudge_step_row *r, const char *prev)
{
    const drudge_step *s = &r->step;
    memset(f->v, 0, sizeof f->v);
    set_num(f, C_ID, r->id);
    set_num(f, C_TASK, r->task_id);
    set_num(f, C_ATTEMPT, r->attempt);
    set_num(f, C_SEQ, s->seq);
    if (s->parent) /* 0 is stored as null (drudge_audit_canonical) */
        set_num(f, C_PARENT, s->parent);
    set_num(f, C_START, s->started_us);
    set_num(f, C_DUR, s->duration_us);
    f->v[C_KIND] = s->kind;
    f->v[C_NAME] = s->name;
    f->v[C_REQ] = s->request;
    f->v[C_RESP] = s->response;
    f->v[C_OUTCOME] = s->outcome;
    f->v[C_ERROR] = s->error;
    f->v[C_HASH] = r->hash;
    f->v[C_PREV] = prev;
    f->v[C_SCRIPT] = r->script;
    drudge_fmt_time(s->started_us, f->started);
}

static void csv_field(drudge_buf *b, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        drudge_buf_puts(b, s);
        return;
    }
    drudge_buf_add(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            drudge_buf_add(b, "\"", 1);
        drudge_buf_add(b, p, 1);
    }
    drudge_buf_add(b, "\"", 1);
}

static void row_jsonl(drudge_buf *b, const fields *f, const char *payloads)
{
    for (int c = 0; c < C_NCOLS; c++) {
        drudge_buf_printf(b, "%s\"%s\":", c ? "," : "{", columns[c]);
        if (!f->v[c])
            drudge_buf_puts(b, "null");
        else if (is_number(c))
            drudge_buf_puts(b, f->v[c]);
        else
            drudge_buf_json_str(b, f->v[c], strlen(f->v[c]));
    }
    drudge_buf_puts(b, ",\"started\":");
    drudge_buf_json_str(b, f->started, strlen(f->started));
    if (payloads)
        drudge_buf_printf(b, ",\"payloads\":[%s]", payloads);
    drudge_buf_puts(b, "}\n");
}

static void row_csv(drudge_buf *b, const fields *f)
{
    for (int c = 0; c < C_NCOLS; c++) {
        if (c)
            drudge_buf_add(b, ",", 1);
        csv_field(b, f->v[c]);
    }
    drudge_buf_add(b, ",", 1);
    drudge_buf_puts(b, f->started);
    drudge_buf_puts(b, "\r\n");
}

typedef struct exporter {
    drudge_store *s;
    FILE *out;
    int csv;
    drudge_buf b;
    int64_t rows;
    int64_t last_id;      /* the row exported last (0: none yet) */
    drudge_buf last_hash; /* its hash */
    int last_null;        /* its hash is null */
    drudge_code rc;       /* a lookup that failed during the walk */
    drudge_err *err;
    const char *paydir;    /* --payloads DIR, or NULL */
    int64_t payload_files; /* written into it */
    drudge_buf refs;       /* the row's "payloads" member being built */
    int nrefs;
} exporter;

/* The hash of the row before r in the whole chain (64 zeros before the
 * first; NULL if it is not there), so each exported row checks on its own
 * even when the export is filtered. An unfiltered export has just written it. */
static const char *prev_hash(exporter *x, const drudge_step_row *r, char buf[65])
{
    if (r->id == 1)
        return ZEROS;
    if (x->last_id && x->last_id == r->id - 1)
        return x->last_null ? NULL : x->last_hash.data;
    x->rc = drudge_store_step_hash(x->s, r->id - 1, buf, x->err);
    return *buf ? buf : NULL;
}

/* Writes data as DIR/name, whole or not at all (a temporary file renamed),
 * so a file named by a hash always holds the bytes of that hash. */
static drudge_code write_payload_file(exporter *x, const char *name, const unsigned char *data,
                                      size_t len)
{
    drudge_buf tmp = {0}, path = {0};
    drudge_buf_printf(&path, "%s/%s", x->paydir, name);
    drudge_buf_printf(&tmp, "%s/.%s.tmp", x->paydir, name);
    drudge_code rc = DRUDGE_OK;
    int fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len) || fsync(fd) != 0 ||
        rename(tmp.data, path.data) != 0) {
        rc = drudge_seterr(x->err, DRUDGE_EIO, "export: cannot write %s: %s", path.data,
                           strerror(errno));
        unlink(tmp.data);
    }
    if (fd >= 0)
        close(fd);
    drudge_buf_free(&tmp);
    drudge_buf_free(&path);
    return rc;
}

/* One payload reference of the row: its file (written unless it is there
 * already: the name is the content's hash) and its entry in x->refs. */
static void export_payload(void *ud, const char *sha)
{
    exporter *x = ud;
    drudge_payload_row p;
    if (x->rc)
        return;
    drudge_code rc = drudge_store_payload(x->s, sha, 0, &p, x->err);
    if (rc == DRUDGE_ENOTFOUND) { /* audit verify reports it */
        drudge_buf_printf(&x->refs, "%s{\"sha256\":\"%s\",\"file\":null,\"missing\":true}",
                          x->nrefs++ ? "," : "", sha);
        return;
    }
    if (rc) {
        x->rc = rc;
        return;
    }
    char name[80];
    snprintf(name, sizeof name, "%s%s", sha, drudge_audit_payload_ext(p.content_type));
    int pruned = p.pruned_at != 0;
    if (!pruned) {
        drudge_buf path = {0};
        drudge_buf_printf(&path, "%s/%s", x->paydir, name);
        struct stat st;
        if (stat(path.data, &st) != 0) {
            drudge_payload_row full;
            rc = drudge_store_payload(x->s, sha, 1, &full, x->err);
            if (!rc && full.data)
                rc = write_payload_file(x, name, full.data, full.len);
            if (!rc && full.data)
                x->payload_files++;
            pruned = !rc && !full.data;
            if (!rc)
                drudge_payload_row_clear(&full);
        }
        drudge_buf_free(&path);
    }
    if (rc) {
        x->rc = rc;
    } else {
        drudge_buf_printf(&x->refs, "%s{\"sha256\":\"%s\",\"file\":", x->nrefs++ ? "," : "", sha);
        if (pruned)
            drudge_buf_puts(&x->refs, "null");
        else
            drudge_buf_printf(&x->refs, "\"%s\"", name);
        drudge_buf_puts(&x->refs, ",\"content_type\":");
        drudge_buf_json_str(&x->refs, p.content_type ? p.content_type : "",
                            strlen(p.content_type ? p.content_type : ""));
        drudge_buf_printf(&x->refs, ",\"size\":%lld%s}", (long long)p.size,
                          pruned ? ",\"pruned\":true" : "");
    }
    drudge_payload_row_clear(&p);
}

static int export_row(void *ud, const drudge_step_row *r)
{
    exporter *x = ud;
    fields f;
    char buf[65];
    row_fields(&f, r, prev_hash(x, r, buf));
    if (x->rc)
        return 1;
    if (x->paydir) {
        drudge_buf_reset(&x->refs);
        drudge_buf_puts(&x->refs, "");
        x->nrefs = 0;
        drudge_audit_payload_refs(r->step.request, export_payload, x);
        drudge_audit_payload_refs(r->step.response, export_payload, x);
        if (x->rc)
            return 1;
    }
    if (x->csv)
        row_csv(&x->b, &f);
    else
        row_jsonl(&x->b, &f, x->paydir ? x->refs.data : NULL);
    x->rows++;
    x->last_id = r->id;
    x->last_null = !r->hash;
    drudge_buf_reset(&x->last_hash);
    drudge_buf_puts(&x->last_hash, r->hash ? r->hash : "");
    if (x->b.len > 1 << 16) {
        fwrite(x->b.data, 1, x->b.len, x->out);
        drudge_buf_reset(&x->b);
    }
    return 0;
}

/* The walk, in one read transaction: the rows and the hashes of the rows
 * before them are one snapshot. */
static drudge_code export_walk(exporter *x, const drudge_export_opts *opts, drudge_err *err)
{
    drudge_step_filter f = {.since = opts->since_us,
                            .until = opts->until_us,
                            .script = opts->script,
                            .task_id = opts->task_id,
                            .want_script = 1};
    drudge_code rc = drudge_store_begin(x->s, DRUDGE_TX_READ, err);
    if (rc)
        return rc;
    rc = drudge_store_steps(x->s, &f, export_row, x, err);
    drudge_store_rollback(x->s); /* nothing was written */
    return rc ? rc : x->rc;
}

drudge_code drudge_audit_export(drudge_store *s, FILE *out, drudge_export_opts *opts, int64_t *rows,
                                drudge_err *err)
{
    exporter x = {.s = s,
                  .out = out,
                  .csv = opts->format == DRUDGE_EXPORT_CSV,
                  .err = err,
                  .paydir = opts->payloads_dir};
    *rows = 0;
    if (x.paydir && x.csv)
        return drudge_seterr(err, DRUDGE_EUSAGE,
                             "--payloads needs --format jsonl: a CSV row has no room for the "
                             "list of its payload files");
    if (x.paydir && mkdir(x.paydir, 0700) != 0 && errno != EEXIST)
        return drudge_seterr(err, DRUDGE_EIO, "export: cannot make %s: %s", x.paydir,
                             strerror(errno));
    if (x.csv) {
        for (int c = 0; columns[c]; c++)
            drudge_buf_printf(&x.b, "%s%s", c ? "," : "", columns[c]);
        drudge_buf_puts(&x.b, "\r\n");
    }
    drudge_code rc = export_walk(&x, opts, err);
    if (x.b.len)
        fwrite(x.b.data, 1, x.b.len, out);
    if (!rc && (fflush(out) != 0 || ferror(out)))
        rc = drudge_seterr(err, DRUDGE_EIO, "export: write error");
    *rows = x.rows;
    opts->payload_files = x.payload_files;
    drudge_buf_free(&x.refs);
    drudge_buf_free(&x.b);
    drudge_buf_free(&x.last_hash);
    return rc;
}

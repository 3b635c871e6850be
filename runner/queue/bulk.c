/* bulk.c: CSV and JSONL backlog files for `drudge enqueue --from`.
 *
 * The file is read whole (a backlog of a million rows is tens of MB) and
 * parsed in place. JSONL lines are checked by a strict validator written
 * here rather than decoded with lua-cjson: enqueueing stores the line's text
 * as is, so building a Lua table per line would only cost time. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "runner/queue/bulk.h"
#include "drudge/util.h"

struct drudge_bulk {
    char *path;
    char *data;
    size_t len, pos;
    int line; /* line at pos, 1-based */
    drudge_bulk_format fmt;
    char *key_field;
    char *deadline_field; /* drudge_bulk_deadline_field, or NULL */
    int64_t now;          /* what relative deadlines ("+2d") count from */
    int deadline_col;     /* CSV: -1 without a deadline field */
    /* CSV */
    char **names; /* header, JSON-escaped with quotes, ready to paste */
    size_t nnames;
    int key_col;           /* -1 without a key field */
    size_t *fstart, *flen; /* field slices in fields */
    size_t fcap;
    drudge_buf fields, out, key;
};

/* ---- UTF-8 and JSON ---- */

/* Length of the valid UTF-8 sequence at s (s < end, *s >= 0x80), or 0. */
static size_t utf8_seq(const unsigned char *s, const unsigned char *end)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)(end - s) < n)
        return 0;
    unsigned cp = c & (0x3f >> (n - 1));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static int utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t k = utf8_seq(p, end);
        if (!k)
            return 0;
        p += k;
    }
    return 1;
}

typedef struct jscan {
    const char *p, *end, *start;
    const char *err;
    int depth;
    /* key extraction at depth 1 */
    const char *key_field;
    size_t key_len;
    const char *kval, *kval_end; /* the key's raw value text */
    int found;
    /* the deadline field's, likewise */
    const char *dl_field;
    size_t dl_len;
    const char *dval, *dval_end;
} jscan;

#define MAX_DEPTH 1000

static int jfail(jscan *j, const char *msg)
{
    if (!j->err)
        j->err = msg;
    return -1;
}

static void skip_ws(jscan *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

/* Scans a string starting at the opening quote; *has_esc tells whether it
 * holds escapes. */
static int scan_string(jscan *j, int *has_esc)
{
    const unsigned char *p = (const unsigned char *)j->p + 1, *end = (const unsigned char *)j->end;
    *has_esc = 0;
    while (p < end) {
        unsigned c = *p;
        if (c == '"') {
            j->p = (const char *)p + 1;
            return 0;
        }
        if (c == '\\') {
            *has_esc = 1;
            if (p + 1 >= end)
                break;
            switch (p[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                p += 2;
                continue;
            case 'u': {
                int u = end - p < 6 ? -1 : hex4((const char *)p + 2);
                if (u < 0) {
                    j->p = (const char *)p;
                    return jfail(j, "bad \\u escape in a string");
                }
                p += 6;
                if (u < 0xd800 || u > 0xdfff)
                    continue;
                /* A UTF-16 surrogate names no character alone: the decoder
                 * a script's json.decode uses refuses it, so refuse it here,
                 * where the line is still known, not when the task runs. */
                int lo = u <= 0xdbff && end - p >= 6 && p[0] == '\\' && p[1] == 'u'
                             ? hex4((const char *)p + 2)
                             : -1;
                if (lo < 0xdc00 || lo > 0xdfff) {
                    j->p = (const char *)p - 6;
                    return jfail(j, "a lone UTF-16 surrogate escape in a string (no character)");
                }
                p += 6;
                continue;
            }
            default:
                j->p = (const char *)p;
                return jfail(j, "bad escape in a string");
            }
        }
        if (c < 0x20) {
            j->p = (const char *)p;
            return jfail(j, "control character in a string (escape it)");
        }
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t k = utf8_seq(p, end);
        if (!k) {
            j->p = (const char *)p;
            return jfail(j, "invalid UTF-8 in a string");
        }
        p += k;
    }
    j->p = j->end;
    return jfail(j, "unterminated string");
}

static int scan_number(jscan *j)
{
    const char *p = j->p, *end = j->end;
    if (p < end && *p == '-')
        p++;
    if (p >= end || *p < '0' || *p > '9')
        return jfail(j, "invalid number");
    if (*p == '0')
        p++;
    else
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return jfail(j, "invalid number");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return jfail(j, "invalid number");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    j->p = p;
    return 0;
}

static int scan_value(jscan *j);

/* Appends the unescaped contents of the string literal s..e (quotes included). */
static void unescape(drudge_buf *b, const char *s, const char *e)
{
    s++;
    e--;
    while (s < e) {
        const char *bs = memchr(s, '\\', (size_t)(e - s));
        if (!bs) {
            drudge_buf_add(b, s, (size_t)(e - s));
            return;
        }
        drudge_buf_add(b, s, (size_t)(bs - s));
        char c = bs[1];
        s = bs + 2;
        switch (c) {
        case 'b':
            drudge_buf_add(b, "\b", 1);
            break;
        case 'f':
            drudge_buf_add(b, "\f", 1);
            break;
        case 'n':
            drudge_buf_add(b, "\n", 1);
            break;
        case 'r':
            drudge_buf_add(b, "\r", 1);
            break;
        case 't':
            drudge_buf_add(b, "\t", 1);
            break;
        case 'u': {
            unsigned cp = (unsigned)hex4(s);
            s += 4;
            if (cp >= 0xd800 && cp <= 0xdbff && e - s >= 6 && s[0] == '\\' && s[1] == 'u') {
                int lo = hex4(s + 2);
                if (lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + ((unsigned)lo - 0xdc00);
                    s += 6;
                }
            }
            if (cp >= 0xd800 && cp <= 0xdfff)
                cp = 0xfffd; /* a lone surrogate */
            unsigned char u[4];
            size_t n;
            if (cp < 0x80) {
                u[0] = (unsigned char)cp;
                n = 1;
            } else if (cp < 0x800) {
                u[0] = (unsigned char)(0xc0 | (cp >> 6));
                u[1] = (unsigned char)(0x80 | (cp & 0x3f));
                n = 2;
            } else if (cp < 0x10000) {
                u[0] = (unsigned char)(0xe0 | (cp >> 12));
                u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                u[2] = (unsigned char)(0x80 | (cp & 0x3f));
                n = 3;
            } else {
                u[0] = (unsigned char)(0xf0 | (cp >> 18));
                u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
                u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                u[3] = (unsigned char)(0x80 | (cp & 0x3f));
                n = 4;
            }
            drudge_buf_add(b, u, n);
            break;
        }
        default:
            drudge_buf_add(b, &c, 1);
            break; /* " \ / */
        }
    }
}

static int name_is(const char *field, size_t flen, const char *s, const char *e, int has_esc)
{
    if (!has_esc)
        return (size_t)(e - s - 2) == flen && !memcmp(s + 1, field, flen);
    drudge_buf b = {0};
    unescape(&b, s, e);
    int m = b.len == flen && !memcmp(b.data, field, flen);
    drudge_buf_free(&b);
    return m;
}

static int name_matches(jscan *j, const char *s, const char *e, int has_esc)
{
    return name_is(j->key_field, j->key_len, s, e, has_esc);
}

static int scan_object(jscan *j)
{
    int top = j->depth == 1, esc;
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        skip_ws(j);
        if (j->p >= j->end || *j->p != '"')
            return jfail(j, "expected a member name in quotes");
        const char *ns = j->p;
        if (scan_string(j, &esc))
            return -1;
        int is_key = top && j->key_field && name_matches(j, ns, j->p, esc);
        int is_dl = top && j->dl_field && name_is(j->dl_field, j->dl_len, ns, j->p, esc);
        skip_ws(j);
        if (j->p >= j->end || *j->p != ':')
            return jfail(j, "expected ':' after a member name");
        j->p++;
        skip_ws(j);
        const char *vs = j->p;
        if (scan_value(j))
            return -1;
        if (is_key) {
            j->found = 1;
            j->kval = vs;
            j->kval_end = j->p;
        }
        if (is_dl) {
            j->dval = vs;
            j->dval_end = j->p;
        }
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == '}') {
            j->p++;
            return 0;
        }
        return jfail(j, "expected ',' or '}' in an object");
    }
}

static int scan_array(jscan *j)
{
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        return 0;
    }
    for (;;) {
        skip_ws(j);
        if (scan_value(j))
            return -1;
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            return 0;
        }
        return jfail(j, "expected ',' or ']' in an array");
    }
}

static int scan_literal(jscan *j, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n))
        return jfail(j, "unexpected text (not a JSON value)");
    j->p += n;
    return 0;
}

static int scan_value(jscan *j)
{
    int esc, rc;
    if (j->p >= j->end)
        return jfail(j, "unexpected end of the value");
    if (++j->depth > MAX_DEPTH)
        return jfail(j, "nested too deeply");
    switch (*j->p) {
    case '{':
        rc = scan_object(j);
        break;
    case '[':
        rc = scan_array(j);
        break;
    case '"':
        rc = scan_string(j, &esc);
        break;
    case 't':
        rc = scan_literal(j, "true");
        break;
    case 'f':
        rc = scan_literal(j, "false");
        break;
    case 'n':
        rc = scan_literal(j, "null");
        break;
    default:
        if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
            rc = scan_number(j);
        else
            rc = jfail(j, "unexpected text (not a JSON value)");
        break;
    }
    j->depth--;
    return rc;
}

static int scan_document(jscan *j)
{
    skip_ws(j);
    if (j->p >= j->end)
        return jfail(j, "empty");
    if (scan_value(j))
        return -1;
    skip_ws(j);
    if (j->p != j->end)
        return jfail(j, "text after the JSON value");
    return 0;
}

const char *drudge_json_check(const char *s, size_t n, size_t *at)
{
    jscan j = {.p = s, .end = s + n, .start = s};
    if (scan_document(&j) == 0)
        return NULL;
    if (at)
        *at = (size_t)(j.p - s);
    return j.err;
}

/* ---- the reader ---- */

static drudge_code read_header(drudge_bulk *b, drudge_err *err);
static int csv_record(drudge_bulk *b, int *nfields, drudge_err *err);

drudge_bulk *drudge_bulk_open(const char *path, drudge_bulk_format fmt, const char *key_field,
                              drudge_err *err)
{
    if (fmt == DRUDGE_BULK_AUTO) {
        const char *dot = strrchr(path, '.');
        if (dot && !strcasecmp(dot, ".csv"))
            fmt = DRUDGE_BULK_CSV;
        else if (dot && (!strcasecmp(dot, ".jsonl") || !strcasecmp(dot, ".ndjson")))
            fmt = DRUDGE_BULK_JSONL;
        else {
            drudge_seterr(err, DRUDGE_EUSAGE,
                          "--from %s: cannot tell the format from the name (.csv, .jsonl); "
                          "say --format csv|jsonl",
                          path);
            return NULL;
        }
    }
    size_t len = 0;
    char *data = drudge_read_file(path, &len);
    if (!data) {
        drudge_seterr(err, DRUDGE_EIO, "--from %s: %s", path, strerror(errno));
        return NULL;
    }
    drudge_bulk *b = drudge_xmalloc(sizeof *b);
    memset(b, 0, sizeof *b);
    b->path = drudge_xstrdup(path);
    b->data = data;
    b->len = len;
    b->line = 1;
    b->fmt = fmt;
    b->key_col = -1;
    b->deadline_col = -1;
    b->key_field = key_field ? drudge_xstrdup(key_field) : NULL;
    if (len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3))
        b->pos = 3; /* a UTF-8 byte order mark, as spreadsheet programs write */
    if (memchr(data, '\0', len)) {
        size_t at = (size_t)((char *)memchr(data, '\0', len) - data);
        int line = 1;
        for (size_t i = 0; i < at; i++)
            line += data[i] == '\n';
        drudge_seterr(err, DRUDGE_EINPUT, "%s:%d: a NUL byte: this is not a text file", path, line);
        drudge_bulk_free(b);
        return NULL;
    }
    if (fmt == DRUDGE_BULK_CSV && read_header(b, err)) {
        drudge_bulk_free(b);
        return NULL;
    }
    return b;
}

void drudge_bulk_free(drudge_bulk *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nnames; i++)
        free(b->names[i]);
    free(b->names);
    free(b->fstart);
    free(b->flen);
    drudge_buf_free(&b->fields);
    drudge_buf_free(&b->out);
    drudge_buf_free(&b->key);
    free(b->key_field);
    free(b->deadline_field);
    free(b->data);
    free(b->path);
    free(b);
}

double drudge_bulk_progress(const drudge_bulk *b)
{
    return b->len ? (double)b->pos / (double)b->len : 1.0;
}

static int row_error(drudge_bulk *b, int line, drudge_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int row_error(drudge_bulk *b, int line, drudge_err *err, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    drudge_seterr(err, DRUDGE_EINPUT, "%s:%d: %s", b->path, line, msg);
    return -1;
}

/* Sets row->key from the raw JSON value v..e of the key field. */
static int json_key(drudge_bulk *b, const char *v, const char *e, int line, drudge_err *err)
{
    drudge_buf_reset(&b->key);
    if (*v == '"') {
        unescape(&b->key, v, e);
    } else if (*v == '-' || (*v >= '0' && *v <= '9')) {
        drudge_buf_add(&b->key, v, (size_t)(e - v));
    } else {
        return row_error(b, line, err, "key field '%s' must be a string or a number", b->key_field);
    }
    if (!b->key.len)
        return row_error(b, line, err, "key field '%s' is empty", b->key_field);
    if (!b->key.data) /* an empty buffer has no storage yet */
        drudge_buf_add(&b->key, "", 0);
    return 0;
}

/* A deadline field's text (a time as --at takes it) into *out. */
static int deadline_of(drudge_bulk *b, const char *v, size_t n, int line, int64_t *out,
                       drudge_err *err)
{
    char text[128], why[160];
    if (n >= sizeof text)
        return row_error(b, line, err, "deadline field '%s' is too long to be a time",
                         b->deadline_field);
    memcpy(text, v, n);
    text[n] = 0;
    if (drudge_parse_time_ex(text, b->now, DRUDGE_TIME_PAST, out, why, sizeof why))
        return row_error(b, line, err, "deadline field '%s': '%s': %s", b->deadline_field, text,
                         why);
    return 0;
}

/* The deadline field's raw JSON value: a string time, or null for none. */
static int json_deadline(drudge_bulk *b, const char *v, const char *e, int line, int64_t *out,
                         drudge_err *err)
{
    if (e - v == 4 && !memcmp(v, "null", 4))
        return 0;
    if (*v != '"')
        return row_error(b, line, err,
                         "deadline field '%s' must be a string such as "
                         "\"2026-11-23T17:00\" or null",
                         b->deadline_field);
    drudge_buf t = {0};
    unescape(&t, v, e);
    int rc = t.len ? deadline_of(b, t.data, t.len, line, out, err) : 0;
    drudge_buf_free(&t);
    return rc;
}

static int jsonl_next(drudge_bulk *b, drudge_bulk_row *row, drudge_err *err)
{
    for (;;) {
        if (b->pos >= b->len)
            return 0;
        char *s = b->data + b->pos;
        char *nl = memchr(s, '\n', b->len - b->pos);
        char *e = nl ? nl : b->data + b->len;
        int line = b->line;
        b->pos = (size_t)(e - b->data) + (nl ? 1 : 0);
        b->line++;
        while (s < e && (*s == ' ' || *s == '\t' || *s == '\r'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        if (s == e)
            continue;
        jscan j = {.p = s,
                   .end = e,
                   .start = s,
                   .key_field = b->key_field,
                   .key_len = b->key_field ? strlen(b->key_field) : 0,
                   .dl_field = b->deadline_field,
                   .dl_len = b->deadline_field ? strlen(b->deadline_field) : 0};
        if (scan_document(&j))
            return row_error(b, line, err, "invalid JSON at column %d: %s", (int)(j.p - s) + 1,
                             j.err);
        row->key = NULL;
        if (b->key_field) {
            if (*s != '{')
                return row_error(b, line, err, "a JSON object is needed to find key field '%s'",
                                 b->key_field);
            if (!j.found)
                return row_error(b, line, err, "no key field '%s' in this object", b->key_field);
            if (json_key(b, j.kval, j.kval_end, line, err))
                return -1;
            row->key = b->key.data;
        }
        row->deadline = 0;
        if (j.dval && json_deadline(b, j.dval, j.dval_end, line, &row->deadline, err))
            return -1;
        /* The line is terminated in place: it is stored as it is. */
        *e = '\0';
        row->input = s;
        row->line = line;
        return 1;
    }
}

/* ---- CSV ---- */

/* Parses one record at b->pos into b->fields/fstart/flen. Returns 1 with
 * *nfields set, 0 at the end, -1 on a malformed record (skipped past). */
static int csv_record(drudge_bulk *b, int *nfields, drudge_err *err)
{
    const char *d = b->data, *end = b->data + b->len;
    const char *p = d + b->pos;
    int start_line = b->line, n = 0;
    const char *problem = NULL;
    int bad_field = 0;
    drudge_buf_reset(&b->fields);
    /* Skip blank lines between records. */
    while (p < end && (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))) {
        p += *p == '\r' ? 2 : 1;
        b->line++;
        start_line = b->line;
    }
    if (p >= end) {
        b->pos = b->len;
        return 0;
    }
    for (;;) {
        if ((size_t)n == b->fcap) {
            b->fcap = b->fcap ? b->fcap * 2 : 16;
            b->fstart = drudge_xrealloc(b->fstart, b->fcap * sizeof *b->fstart);
            b->flen = drudge_xrealloc(b->flen, b->fcap * sizeof *b->flen);
        }
        b->fstart[n] = b->fields.len;
        if (p < end && *p == '"') {
            p++;
            for (;;) {
                const char *q = memchr(p, '"', (size_t)(end - p));
                if (!q) {
                    for (; p < end; p++)
                        b->line += *p == '\n';
                    b->pos = b->len;
                    return row_error(b, start_line, err,
                                     "field %d: a quoted field is never closed (a missing \")",
                                     n + 1);
                }
                for (const char *c = p; c < q; c++)
                    b->line += *c == '\n';
                drudge_buf_add(&b->fields, p, (size_t)(q - p));
                if (q + 1 < end && q[1] == '"') {
                    drudge_buf_add(&b->fields, "\"", 1);
                    p = q + 2;
                    continue;
                }
                p = q + 1;
                break;
            }
            if (p < end && *p != ',' && *p != '\n' &&
                !(*p == '\r' && (p + 1 == end || p[1] == '\n'))) {
                if (!problem) {
                    problem =
                        "text after a closing quote (double a quote inside a quoted field: \"\")";
                    bad_field = n + 1;
                }
                while (p < end && *p != ',' && *p != '\n')
                    p++;
            }
        } else {
            const char *s = p;
            while (p < end && *p != ',' && *p != '\n') {
                if (*p == '"' && !problem) {
                    problem = "a quote inside an unquoted field (quote the whole field and double "
                              "the quote: \"a \"\"b\"\"\")";
                    bad_field = n + 1;
                }
                p++;
            }
            const char *e = p;
            if (e > s && e[-1] == '\r' && (p >= end || *p == '\n'))
                e--;
            drudge_buf_add(&b->fields, s, (size_t)(e - s));
        }
        b->flen[n] = b->fields.len - b->fstart[n];
        if (!problem && !utf8_valid(b->fields.data + b->fstart[n], b->flen[n])) {
            problem = "not valid UTF-8 (save the file as UTF-8)";
            bad_field = n + 1;
        }
        n++;
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '\r')
            p++;
        if (p < end && *p == '\n') {
            p++;
            b->line++;
        }
        break;
    }
    b->pos = (size_t)(p - d);
    if (problem)
        return row_error(b, start_line, err, "field %d: %s", bad_field, problem);
    *nfields = n;
    if (!b->fields.data)
        drudge_buf_add(&b->fields, "", 0);
    return 1;
}

static drudge_code read_header(drudge_bulk *b, drudge_err *err)
{
    int n = 0;
    int rc = csv_record(b, &n, err);
    if (rc < 0)
        return DRUDGE_EINPUT;
    if (rc == 0)
        return drudge_seterr(err, DRUDGE_EINPUT,
                             "%s: empty: a CSV file needs a header row of field names", b->path);
    b->names = drudge_xmalloc((size_t)n * sizeof *b->names);
    for (int i = 0; i < n; i++) {
        const char *name = b->fields.data + b->fstart[i];
        size_t len = b->flen[i];
        if (!len) {
            for (int k = 0; k < i; k++)
                free(b->names[k]);
            return drudge_seterr(err, DRUDGE_EINPUT,
                                 "%s:1: header field %d is empty: every column needs a name",
                                 b->path, i + 1);
        }
        for (int k = 0; k < i; k++) {
            const char *other = b->names[k];
            drudge_buf tmp = {0};
            drudge_buf_json_str(&tmp, name, len);
            int same = !strcmp(tmp.data, other);
            drudge_buf_free(&tmp);
            if (same) {
                for (int m = 0; m < i; m++)
                    free(b->names[m]);
                return drudge_seterr(err, DRUDGE_EINPUT,
                                     "%s:1: column '%.*s' appears twice in the header", b->path,
                                     (int)len, name);
            }
        }
        drudge_buf tmp = {0};
        drudge_buf_json_str(&tmp, name, len);
        b->names[i] = drudge_buf_take(&tmp);
        if (b->key_field && len == strlen(b->key_field) && !memcmp(name, b->key_field, len))
            b->key_col = i;
    }
    b->nnames = (size_t)n;
    if (b->key_field && b->key_col < 0) {
        drudge_buf cols = {0};
        for (int i = 0; i < n; i++) {
            if (i)
                drudge_buf_puts(&cols, ", ");
            drudge_buf_add(&cols, b->fields.data + b->fstart[i], b->flen[i]);
        }
        drudge_seterr(err, DRUDGE_EINPUT,
                      "%s:1: --key-field %s: no such column (the header has: %s)", b->path,
                      b->key_field, cols.data);
        drudge_buf_free(&cols);
        return DRUDGE_EINPUT;
    }
    return DRUDGE_OK;
}

static int csv_next(drudge_bulk *b, drudge_bulk_row *row, drudge_err *err)
{
    int line = b->line, n = 0;
    /* The record's first line: csv_record skips blank lines first. */
    size_t p = b->pos;
    while (p < b->len && (b->data[p] == '\n' ||
                          (b->data[p] == '\r' && p + 1 < b->len && b->data[p + 1] == '\n'))) {
        p += b->data[p] == '\r' ? 2 : 1;
        line++;
    }
    int rc = csv_record(b, &n, err);
    if (rc <= 0)
        return rc;
    if ((size_t)n != b->nnames)
        return row_error(b, line, err, "%d field%s, but the header has %zu", n, n == 1 ? "" : "s",
                         b->nnames);
    drudge_buf_reset(&b->out);
    drudge_buf_puts(&b->out, "{");
    for (int i = 0; i < n; i++) {
        if (i)
            drudge_buf_puts(&b->out, ",");
        drudge_buf_puts(&b->out, b->names[i]);
        drudge_buf_puts(&b->out, ":");
        drudge_buf_json_str(&b->out, b->fields.data + b->fstart[i], b->flen[i]);
    }
    drudge_buf_puts(&b->out, "}");
    row->key = NULL;
    if (b->key_col >= 0) {
        if (!b->flen[b->key_col])
            return row_error(b, line, err, "key field '%s' is empty", b->key_field);
        drudge_buf_reset(&b->key);
        drudge_buf_add(&b->key, b->fields.data + b->fstart[b->key_col], b->flen[b->key_col]);
        row->key = b->key.data;
    }
    row->deadline = 0;
    if (b->deadline_col >= 0 && b->flen[b->deadline_col] &&
        deadline_of(b, b->fields.data + b->fstart[b->deadline_col], b->flen[b->deadline_col], line,
                    &row->deadline, err))
        return -1;
    row->input = b->out.data;
    row->line = line;
    return 1;
}

int drudge_bulk_next(drudge_bulk *b, drudge_bulk_row *row, drudge_err *err)
{
    return b->fmt == DRUDGE_BULK_CSV ? csv_next(b, row, err) : jsonl_next(b, row, err);
}

drudge_code drudge_bulk_deadline_field(drudge_bulk *b, const char *field, int64_t now,
                                       drudge_err *err)
{
    free(b->deadline_field);
    b->deadline_field = drudge_xstrdup(field);
    b->now = now;
    if (b->fmt != DRUDGE_BULK_CSV)
        return DRUDGE_OK;
    drudge_buf want = {0};
    drudge_buf_json_str(&want, field, strlen(field));
    for (size_t i = 0; i < b->nnames; i++)
        if (!strcmp(b->names[i], want.data))
            b->deadline_col = (int)i;
    drudge_buf_free(&want);
    if (b->deadline_col >= 0)
        return DRUDGE_OK;
    return drudge_seterr(err, DRUDGE_EINPUT, "%s:1: --deadline-field %s: no such column", b->path,
                         field);
}

/* version.c: script versions. A version is the script's file and the
 * modules it requires from its directory; each file is hashed (SHA-256)
 * and the version is the SHA-256 of a manifest that lists them:
 *
 *   {"main":"hello.lua","files":{"hello.lua":"<sha256>","lib/util.lua":"<sha256>"}}
 *
 * (main first, then the modules by path). Modules are found the way the
 * host's require finds them (host.c: NAME.lua beside the script, dots as
 * directories), for every require with a literal name in the sources: a
 * module required by a computed name cannot be seen, and is not recorded.
 * A require in a comment of a module that exists adds a file, harmlessly. */
#define _XOPEN_SOURCE 700
#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "drudge/util.h"
#include "runner/host/version.h"

static const char *base_of(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static int has_file(const drudge_script_version *v, const char *rel)
{
    for (size_t i = 0; i < v->nfiles; i++)
        if (!strcmp(v->files[i].path, rel))
            return 1;
    return 0;
}

static void add_file(drudge_script_version *v, const char *rel, char *data, size_t len)
{
    v->files = drudge_xrealloc(v->files, (v->nfiles + 1) * sizeof *v->files);
    drudge_script_file *f = &v->files[v->nfiles++];
    f->path = drudge_xstrdup(rel);
    f->data = (unsigned char *)data;
    f->len = len;
    drudge_sha256_hex(data, len, f->sha256);
}

static void scan(drudge_script_version *v, const char *dir, const char *src, size_t len);

/* Adds module name if it is a file in dir, and what it requires. */
static void add_module(drudge_script_version *v, const char *dir, const char *name, size_t n)
{
    char rel[PATH_MAX], full[PATH_MAX * 2];
    if (n == 0 || n + 5 >= sizeof rel || (n > 7 && !strncmp(name, "drudge.", 7)))
        return;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '_' && c != '.' && c != '-')
            return; /* the host refuses such names */
        rel[i] = c == '.' ? '/' : (char)c;
    }
    memcpy(rel + n, ".lua", 5);
    if (has_file(v, rel))
        return;
    snprintf(full, sizeof full, "%s/%s", dir, rel);
    size_t flen = 0;
    char *data = drudge_read_file(full, &flen);
    if (!data)
        return; /* not a module of the script's directory (or a built-in) */
    add_file(v, rel, data, flen);
    scan(v, dir, data, flen);
}

/* Every require "name" / require('name') / require [[name]]-less call with
 * a literal string in src. */
static void scan(drudge_script_version *v, const char *dir, const char *src, size_t len)
{
    const char *end = src + len;
    for (const char *p = src; p && p < end; p++) {
        p = memmem(p, (size_t)(end - p), "require", 7);
        if (!p)
            break;
        if (p > src && (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '.'))
            continue;
        const char *q = p + 7;
        while (q < end && isspace((unsigned char)*q))
            q++;
        if (q < end && *q == '(')
            for (q++; q < end && isspace((unsigned char)*q); q++)
                ;
        if (q >= end || (*q != '"' && *q != '\''))
            continue;
        const char *s = q + 1, *e = memchr(s, *q, (size_t)(end - s));
        if (e)
            add_module(v, dir, s, (size_t)(e - s));
    }
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const drudge_script_file *)a)->path, ((const drudge_script_file *)b)->path);
}

drudge_code drudge_script_version_read(const char *path, const char *script,
                                       drudge_script_version *out, drudge_err *err)
{
    char real[PATH_MAX];
    memset(out, 0, sizeof *out);
    if (!realpath(path, real))
        return drudge_seterr(err, errno == ENOENT ? DRUDGE_ENOTFOUND : DRUDGE_EIO,
                             "cannot read script %s: %s", path, strerror(errno));
    size_t len = 0;
    char *data = drudge_read_file(real, &len);
    if (!data)
        return drudge_seterr(err, errno == ENOENT ? DRUDGE_ENOTFOUND : DRUDGE_EIO,
                             "cannot read script %s: %s", path, strerror(errno));
    char *dir = drudge_xstrdup(real);
    *strrchr(dir, '/') = '\0';
    out->script = drudge_xstrdup(script ? script : base_of(real));
    out->path = drudge_xstrdup(real);
    add_file(out, base_of(real), data, len);
    scan(out, dir, data, len);
    free(dir);
    if (out->nfiles > 2)
        qsort(out->files + 1, out->nfiles - 1, sizeof *out->files, by_path);
    drudge_buf m = {0};
    drudge_buf_puts(&m, "{\"main\":");
    drudge_buf_json_str(&m, out->files[0].path, strlen(out->files[0].path));
    drudge_buf_puts(&m, ",\"files\":{");
    for (size_t i = 0; i < out->nfiles; i++) {
        drudge_buf_puts(&m, i ? "," : "");
        drudge_buf_json_str(&m, out->files[i].path, strlen(out->files[i].path));
        drudge_buf_printf(&m, ":\"%s\"", out->files[i].sha256);
    }
    drudge_buf_puts(&m, "}}");
    drudge_sha256_hex(m.data, m.len, out->sha256);
    out->manifest = drudge_buf_take(&m);
    return DRUDGE_OK;
}

void drudge_script_version_copy(drudge_script_version *d, const drudge_script_version *s)
{
    *d = *s;
    d->script = s->script ? drudge_xstrdup(s->script) : NULL;
    d->path = s->path ? drudge_xstrdup(s->path) : NULL;
    d->manifest = s->manifest ? drudge_xstrdup(s->manifest) : NULL;
    d->files = s->nfiles ? drudge_xmalloc(s->nfiles * sizeof *d->files) : NULL;
    for (size_t i = 0; i < s->nfiles; i++) {
        d->files[i] = s->files[i];
        d->files[i].path = drudge_xstrdup(s->files[i].path);
        d->files[i].data = drudge_xmalloc(s->files[i].len + 1);
        memcpy(d->files[i].data, s->files[i].data, s->files[i].len);
    }
}

drudge_code drudge_script_version_record(drudge_store *s, const char *path, const char *script,
                                         char sha[65], drudge_err *err)
{
    drudge_script_version v;
    sha[0] = '\0';
    drudge_code rc = drudge_script_version_read(path, script, &v, err);
    if (!rc)
        rc = drudge_store_begin(s, DRUDGE_TX_WRITE, err);
    if (!rc) {
        rc = drudge_store_put_script_version(s, &v, drudge_now_us(), err);
        if (!rc)
            rc = drudge_store_commit(s, err);
        if (rc)
            drudge_store_rollback(s);
    }
    if (!rc)
        memcpy(sha, v.sha256, 65);
    drudge_script_version_clear(&v);
    return rc;
}

/* ---- unpacking a stored version ---- */

/* The next "key":"value" pair of a flat JSON object at *p (no escapes in
 * either: paths are module names or a file's base name). */
static int next_pair(const char **p, char *key, size_t kn, char *val, size_t vn)
{
    const char *k = strchr(*p, '"');
    if (!k)
        return 0;
    const char *ke = strchr(k + 1, '"');
    if (!ke || ke[1] != ':' || ke[2] != '"')
        return 0;
    const char *v = ke + 3, *ve = strchr(v, '"');
    if (!ve || (size_t)(ke - k - 1) >= kn || (size_t)(ve - v) >= vn)
        return 0;
    snprintf(key, kn, "%.*s", (int)(ke - k - 1), k + 1);
    snprintf(val, vn, "%.*s", (int)(ve - v), v);
    *p = ve + 1;
    return 1;
}

static int safe_rel(const char *rel)
{
    return rel[0] && rel[0] != '/' && !strstr(rel, "..") && !strchr(rel, '\\');
}

static drudge_code write_file(const char *dir, const char *rel, const unsigned char *data,
                              size_t len, drudge_err *err)
{
    char full[PATH_MAX * 2];
    snprintf(full, sizeof full, "%s/%s", dir, rel);
    for (char *s = strchr(full + strlen(dir) + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(full, 0700);
        *s = '/';
    }
    FILE *f = fopen(full, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
        return drudge_seterr(err, DRUDGE_EIO, "cannot write %s: %s", full, strerror(errno));
    return DRUDGE_OK;
}

drudge_code drudge_script_version_unpack(drudge_store *s, const char *sha, char **dir, char **main,
                                         drudge_err *err)
{
    drudge_script_version v;
    char key[PATH_MAX], val[80], tmpl[PATH_MAX];
    *dir = *main = NULL;
    drudge_code rc = drudge_store_script_version(s, sha, &v, err);
    if (rc)
        return rc;
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpl, sizeof tmpl, "%s/drudge-script.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tmpl)) {
        rc = drudge_seterr(err, DRUDGE_EIO, "cannot make a directory for the script: %s",
                           strerror(errno));
        goto cleanup;
    }
    *dir = drudge_xstrdup(tmpl);
    char mh[65];
    drudge_sha256_hex(v.manifest, strlen(v.manifest), mh);
    if (strcmp(mh, sha) != 0) {
        rc = drudge_seterr(err, DRUDGE_ETAMPER,
                           "script version %.16s...: its manifest does not match its hash", sha);
        goto cleanup;
    }
    const char *p = v.manifest, *files = strstr(v.manifest, "\"files\":{");
    if (!next_pair(&p, key, sizeof key, val, sizeof val) || strcmp(key, "main") || !files ||
        !safe_rel(val)) {
        rc = drudge_seterr(err, DRUDGE_ETAMPER, "script version %.16s...: a bad manifest", sha);
        goto cleanup;
    }
    drudge_buf mp = {0};
    drudge_buf_printf(&mp, "%s/%s", *dir, val);
    *main = drudge_buf_take(&mp);
    for (p = files + 8; !rc && next_pair(&p, key, sizeof key, val, sizeof val);) {
        unsigned char *data = NULL;
        size_t len = 0;
        char h[65];
        if (!safe_rel(key)) {
            rc = drudge_seterr(err, DRUDGE_ETAMPER, "script version %.16s...: a bad path %s", sha,
                               key);
            break;
        }
        rc = drudge_store_script_file(s, val, &data, &len, err);
        if (!rc) {
            /* The bytes must be what the manifest hashed. */
            drudge_sha256_hex(data, len, h);
            if (strcmp(h, val) != 0)
                rc = drudge_seterr(err, DRUDGE_ETAMPER,
                                   "script version %.16s...: file %s does not match its hash", sha,
                                   key);
        }
        if (!rc)
            rc = write_file(*dir, key, data, len, err);
        free(data);
    }
cleanup:
    drudge_script_version_clear(&v);
    if (rc && *dir) {
        drudge_script_version_remove(*dir);
        free(*dir);
        free(*main);
        *dir = *main = NULL;
    }
    return rc;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(path);
}

void drudge_script_version_remove(const char *dir)
{
    if (dir && *dir)
        nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

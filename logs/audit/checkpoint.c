/* checkpoint.c: Ed25519 key pairs and signed checkpoints of the chain head.
 *
 * A hash chain alone can be rewritten whole by anyone who can write the
 * database. A checkpoint is the chain head (hash, row id, row count) and a
 * time, signed with a private key kept outside the database: a rewrite of
 * anything before it no longer matches the signed head, and a new signature
 * needs the key. The signed message is plain text so that auditors can check
 * it with openssl (see logs/README.md).
 *
 * Ed25519 through Nettle (libhogweed), not libcrypto: the binary loads its
 * libraries at every start, and libcrypto's relocations were the largest
 * part of a `drudge run`. libhogweed itself (and libgmp under it) is opened
 * here when a key or a signature is first used, not linked: most commands
 * never sign. The key files are the PEM files openssl writes and reads
 * (RFC 8410: PKCS #8 and SubjectPublicKeyInfo), whose DER for Ed25519 is a
 * fixed prefix and the 32 bytes of the key. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nettle/eddsa.h>
#include "logs/audit/audit.h"
#include "drudge/util.h"

/* ---- Ed25519, from libhogweed opened on first use ---- */

#define NAME_OF(sym) #sym
#define SYMBOL(sym)  NAME_OF(sym) /* eddsa.h's names are macros: nettle_... */

static struct {
    __typeof__(&ed25519_sha512_public_key) public_key;
    __typeof__(&ed25519_sha512_sign) sign;
    __typeof__(&ed25519_sha512_verify) verify;
    char why[300]; /* why they could not be loaded, or "" */
} ed;
static pthread_once_t ed_once = PTHREAD_ONCE_INIT;

static void ed_load(void)
{
    void *h = dlopen(DRUDGE_HOGWEED_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (h) {
        ed.public_key = (__typeof__(ed.public_key))dlsym(h, SYMBOL(ed25519_sha512_public_key));
        ed.sign = (__typeof__(ed.sign))dlsym(h, SYMBOL(ed25519_sha512_sign));
        ed.verify = (__typeof__(ed.verify))dlsym(h, SYMBOL(ed25519_sha512_verify));
    }
    if (!h || !ed.public_key || !ed.sign || !ed.verify) {
        const char *e = dlerror();
        snprintf(ed.why, sizeof ed.why,
                 "Ed25519 unavailable: cannot load %s (%s; Debian package libhogweed6)",
                 DRUDGE_HOGWEED_SONAME, e ? e : "symbols missing");
        ed.public_key = NULL, ed.sign = NULL, ed.verify = NULL;
    }
}

/* DRUDGE_OK when the Ed25519 functions are there; an error naming the
 * library otherwise. */
static drudge_code ed_ready(drudge_err *err)
{
    pthread_once(&ed_once, ed_load);
    if (ed.verify)
        return DRUDGE_OK;
    return drudge_seterr(err, DRUDGE_EIO, "%s", ed.why);
}

void drudge_checkpoint_message(drudge_buf *b, const char *head_hash, int64_t step_id,
                               int64_t row_count, int64_t created_at)
{
    drudge_buf_printf(b, "drudge-checkpoint-v1\n%s\n%lld\n%lld\n%lld\n", head_hash,
                      (long long)step_id, (long long)row_count, (long long)created_at);
}

static int unhex(const char *hex, unsigned char *out, size_t n)
{
    if (strlen(hex) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            char c = hex[2 * i + j];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= (unsigned)(c - 'a' + 10);
            else
                return -1;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

int drudge_checkpoint_sig_ok(const char *pub_hex, const char *sig_hex, const char *msg, size_t len)
{
    unsigned char pub[ED25519_KEY_SIZE], sig[ED25519_SIGNATURE_SIZE];
    if (!pub_hex || !sig_hex || unhex(pub_hex, pub, sizeof pub) || unhex(sig_hex, sig, sizeof sig))
        return 0;
    drudge_err err = {0};
    if (ed_ready(&err) != DRUDGE_OK) { /* cannot check: say so, and count it as not verified */
        fprintf(stderr, "drudge: %s\n", err.msg);
        return 0;
    }
    return ed.verify(pub, len, (const uint8_t *)msg, sig) == 1;
}

/* The DER of an Ed25519 key before its 32 bytes (RFC 8410): a private key
 * (PKCS #8 v1, as openssl genpkey writes it) and a public key. */
static const unsigned char PRIVATE_DER[] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                            0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
static const unsigned char PUBLIC_DER[] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                           0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

/* The 32 key bytes of a PEM file's block labelled label whose DER starts
 * with prefix. -1 if there is no such block or it holds another key. */
static int pem_key(const char *text, const char *label, const unsigned char *prefix, size_t plen,
                   unsigned char key[32])
{
    char begin[64], end[64];
    snprintf(begin, sizeof begin, "-----BEGIN %s-----", label);
    snprintf(end, sizeof end, "-----END %s-----", label);
    const char *b = strstr(text, begin), *e = b ? strstr(b, end) : NULL;
    if (!e)
        return -1;
    drudge_buf b64 = {0};
    for (const char *p = b + strlen(begin); p < e; p++)
        if (*p != '\n' && *p != '\r' && *p != ' ' && *p != '\t')
            drudge_buf_add(&b64, p, 1);
    unsigned char *der = NULL;
    size_t n = 0;
    int rc = b64.len && !drudge_unbase64(b64.data, b64.len, &der, &n) && n == plen + 32 &&
                     !memcmp(der, prefix, plen)
                 ? 0
                 : -1;
    if (!rc)
        memcpy(key, der + plen, 32);
    if (der)
        explicit_bzero(der, n);
    free(der);
    drudge_buf_free(&b64);
    return rc;
}

drudge_code drudge_audit_read_pubkey(const char *path, char out[65], drudge_err *err)
{
    size_t len = 0;
    char *text = drudge_read_file(path, &len);
    if (!text)
        return drudge_seterr(err, DRUDGE_EIO, "public key %s: %s", path, strerror(errno));
    unsigned char pub[32];
    drudge_code rc = DRUDGE_OK;
    if (pem_key(text, "PUBLIC KEY", PUBLIC_DER, sizeof PUBLIC_DER, pub) != 0)
        rc = drudge_seterr(err, DRUDGE_EINPUT,
                           "public key %s: not a PEM Ed25519 public key (make one with drudge "
                           "audit keygen)",
                           path);
    else
        drudge_hex(pub, 32, out);
    free(text);
    return rc;
}

/* Loads a private key (its 32-byte seed), refusing a file others can read. */
static drudge_code read_private(const char *path, unsigned char key[32], drudge_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return drudge_seterr(err, DRUDGE_EIO, "private key %s: %s", path, strerror(errno));
    if (st.st_mode & 077)
        return drudge_seterr(err, DRUDGE_EIO,
                             "refusing private key %s: its mode is %04o, readable by others; "
                             "run: chmod 600 %s",
                             path, (unsigned)(st.st_mode & 0777), path);
    size_t len = 0;
    char *text = drudge_read_file(path, &len);
    if (!text)
        return drudge_seterr(err, DRUDGE_EIO, "private key %s: %s", path, strerror(errno));
    int bad = pem_key(text, "PRIVATE KEY", PRIVATE_DER, sizeof PRIVATE_DER, key);
    explicit_bzero(text, len);
    free(text);
    if (bad)
        return drudge_seterr(err, DRUDGE_EINPUT,
                             "private key %s: not a PEM Ed25519 private key (make one with "
                             "drudge audit keygen)",
                             path);
    return DRUDGE_OK;
}

/* Creates path with mode (failing if it exists) and writes the PEM block
 * label holding prefix and key. */
static drudge_code write_pem(const char *path, mode_t mode, const char *label,
                             const unsigned char *prefix, size_t plen, const unsigned char key[32],
                             drudge_err *err)
{
    unsigned char der[64];
    drudge_buf pem = {0};
    memcpy(der, prefix, plen);
    memcpy(der + plen, key, 32);
    drudge_buf_printf(&pem, "-----BEGIN %s-----\n", label);
    drudge_base64(&pem, der, plen + 32); /* at most 64 characters: one line */
    drudge_buf_printf(&pem, "\n-----END %s-----\n", label);
    explicit_bzero(der, sizeof der);
    drudge_code rc = DRUDGE_OK;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        rc = drudge_seterr(err, DRUDGE_EIO, "cannot create %s: %s%s", path, strerror(errno),
                           errno == EEXIST ? " (refusing to overwrite a key)" : "");
        goto cleanup;
    }
    ssize_t w = write(fd, pem.data, pem.len);
    if (close(fd) != 0 || w != (ssize_t)pem.len) {
        unlink(path);
        rc = drudge_seterr(err, DRUDGE_EIO, "cannot write %s", path);
    }
cleanup:
    explicit_bzero(pem.data, pem.len);
    drudge_buf_free(&pem);
    return rc;
}

drudge_code drudge_audit_keygen(const char *key_path, const char *pub_path, drudge_err *err)
{
    unsigned char key[32], pub[32];
    if (ed_ready(err) != DRUDGE_OK)
        return err->code;
    if (drudge_random(key, sizeof key) != 0)
        return drudge_seterr(err, DRUDGE_EIO, "cannot generate an Ed25519 key: %s",
                             strerror(errno));
    ed.public_key(pub, key);
    struct stat st;
    drudge_code rc = DRUDGE_OK;
    if (stat(pub_path, &st) == 0) { /* check both before writing either */
        rc = drudge_seterr(err, DRUDGE_EIO, "%s exists (refusing to overwrite a key)", pub_path);
        goto cleanup;
    }
    rc = write_pem(key_path, 0600, "PRIVATE KEY", PRIVATE_DER, sizeof PRIVATE_DER, key, err);
    if (rc)
        goto cleanup;
    rc = write_pem(pub_path, 0644, "PUBLIC KEY", PUBLIC_DER, sizeof PUBLIC_DER, pub, err);
    if (rc)
        unlink(key_path);
cleanup:
    explicit_bzero(key, sizeof key);
    return rc;
}

static void sign(const unsigned char key[32], const unsigned char pub[32], const char *msg,
                 size_t len, char out[129])
{
    unsigned char sig[ED25519_SIGNATURE_SIZE];
    ed.sign(pub, key, len, (const uint8_t *)msg, sig); /* ed_ready: by the caller's caller */
    drudge_hex(sig, sizeof sig, out);
}

/* Why the chain cannot be signed, as an error. */
static void tail_fault(void *ud, const drudge_chain_fault *f)
{
    static const char *const why[] = {
        [DRUDGE_CHAIN_ANCHOR_GONE] = ", signed by the last checkpoint, is gone",
        [DRUDGE_CHAIN_ANCHOR_CHANGED] = " no longer has the hash the last checkpoint signed",
        [DRUDGE_CHAIN_BAD_START] = " is before the chain's first row, 1",
        [DRUDGE_CHAIN_REORDERED] = " does not match its hash",
        [DRUDGE_CHAIN_EDITED] = " does not match its hash",
    };
    drudge_err *err = ud;
    int64_t id = f->row ? f->row->id : f->expected;
    if (f->problem == DRUDGE_CHAIN_GAP)
        drudge_seterr(err, DRUDGE_ETAMPER,
                      "refusing to checkpoint: rows %lld to %lld are missing; run drudge audit "
                      "verify",
                      (long long)f->expected, (long long)id - 1);
    else
        drudge_seterr(err, DRUDGE_ETAMPER,
                      "refusing to checkpoint: row %lld%s; run drudge audit verify", (long long)id,
                      why[f->problem]);
}

/* Re-hashes the rows after the newest checkpoint (last; NULL if none), from
 * its signed head up to the current head, so a checkpoint never vouches for
 * rows that were already tampered with. Cost: the rows since the last
 * checkpoint. Fills cp's step_id, head_hash and row_count. */
static drudge_code check_tail(drudge_store *s, const drudge_checkpoint_row *last,
                              drudge_checkpoint *cp, drudge_err *err)
{
    drudge_chain_visitor visit = {.fault = tail_fault, .ud = err};
    drudge_chain_walk walk;
    drudge_code rc = drudge_audit_walk(s, last ? last->step_id : 0, last ? last->head_hash : NULL,
                                       &visit, &walk, err);
    if (rc)
        return rc;
    if (walk.problem)
        return DRUDGE_ETAMPER;
    cp->step_id = walk.head_id;
    memcpy(cp->head_hash, walk.head, sizeof cp->head_hash);
    return drudge_store_count_steps(s, walk.head_id, &cp->row_count, err);
}

/* Signs cp (its head, step_id, row_count, and now) with key and adds it. */
static drudge_code add_signed(drudge_store *s, const unsigned char key[32],
                              const unsigned char pub[32], drudge_checkpoint *cp, drudge_err *err)
{
    drudge_checkpoint_row row = {.step_id = cp->step_id, .row_count = cp->row_count};
    drudge_buf msg = {0};
    cp->created_at = drudge_now_us();
    row.created_at = cp->created_at;
    memcpy(row.head_hash, cp->head_hash, sizeof row.head_hash);
    memcpy(row.public_key, cp->public_key, sizeof row.public_key);
    drudge_checkpoint_message(&msg, cp->head_hash, cp->step_id, cp->row_count, cp->created_at);
    sign(key, pub, msg.data, msg.len, row.signature);
    drudge_buf_free(&msg);
    drudge_code rc = drudge_store_add_checkpoint(s, &row, err);
    cp->id = row.id;
    return rc;
}

drudge_code drudge_audit_checkpoint_ex(drudge_store *s, const char *key_path,
                                       drudge_checkpoint *out, drudge_err *err)
{
    unsigned char key[32], pub[32];
    drudge_checkpoint cp = {0};
    drudge_checkpoint_row last;
    int has_last = 0;
    drudge_code rc = ed_ready(err);
    if (!rc)
        rc = read_private(key_path, key, err);
    if (rc)
        return rc;
    ed.public_key(pub, key);
    drudge_hex(pub, sizeof pub, cp.public_key);
    rc = drudge_store_begin(s, DRUDGE_TX_WRITE, err);
    if (rc)
        goto cleanup;
    rc = drudge_store_last_checkpoint(s, &last, &has_last, err);
    if (!rc)
        rc = check_tail(s, has_last ? &last : NULL, &cp, err);
    if (rc)
        goto cleanup;
    if (has_last && cp.step_id == last.step_id) {
        cp.unchanged = 1;
        drudge_store_rollback(s);
        goto cleanup;
    }
    rc = add_signed(s, key, pub, &cp, err);
    if (!rc)
        rc = drudge_store_commit(s, err);
cleanup:
    if (rc)
        drudge_store_rollback(s);
    explicit_bzero(key, sizeof key);
    if (out)
        *out = cp;
    return rc;
}

drudge_code drudge_audit_checkpoint(drudge_store *s, const char *key_path, drudge_err *err)
{
    return drudge_audit_checkpoint_ex(s, key_path, NULL, err);
}

/* checkpoint.c: Ed25519 key pairs and signed checkpoints of the chain head.
 *
 * A hash chain alone can be rewritten whole by anyone who can write the
 * database. A checkpoint is the chain head (hash, row id, row count) and a
 * time, signed with a private key kept outside the database: a rewrite of
 * anything before it no longer matches the signed head, and a new signature
 * needs the key. The signed message is plain text so that auditors can check
 * it with openssl (see logs/README.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "logs/audit/audit.h"
#include "drudge/util.h"

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
    unsigned char pub[32], sig[64];
    if (!pub_hex || !sig_hex || unhex(pub_hex, pub, 32) || unhex(sig_hex, sig, 64))
        return 0;
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, sizeof pub);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = key && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestVerify(ctx, sig, sizeof sig, (const unsigned char *)msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok;
}

static int raw_public_hex(EVP_PKEY *key, char out[65])
{
    unsigned char raw[32];
    size_t n = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(key, raw, &n) != 1 || n != 32)
        return -1;
    drudge_hex(raw, 32, out);
    return 0;
}

drudge_code drudge_audit_read_pubkey(const char *path, char out[65], drudge_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return drudge_seterr(err, DRUDGE_EIO, "public key %s: %s", path, strerror(errno));
    EVP_PKEY *key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    drudge_code rc = DRUDGE_OK;
    if (!key || !EVP_PKEY_is_a(key, "ED25519") || raw_public_hex(key, out) != 0)
        rc = drudge_seterr(err, DRUDGE_EINPUT,
                           "public key %s: not a PEM Ed25519 public key (make one with drudge "
                           "audit keygen)",
                           path);
    EVP_PKEY_free(key);
    return rc;
}

/* Loads a private key, refusing a file others can read. */
static drudge_code read_private(const char *path, EVP_PKEY **out, drudge_err *err)
{
    struct stat st;
    *out = NULL;
    if (stat(path, &st) != 0)
        return drudge_seterr(err, DRUDGE_EIO, "private key %s: %s", path, strerror(errno));
    if (st.st_mode & 077)
        return drudge_seterr(err, DRUDGE_EIO,
                             "refusing private key %s: its mode is %04o, readable by others; "
                             "run: chmod 600 %s",
                             path, (unsigned)(st.st_mode & 0777), path);
    FILE *f = fopen(path, "r");
    if (!f)
        return drudge_seterr(err, DRUDGE_EIO, "private key %s: %s", path, strerror(errno));
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!key || !EVP_PKEY_is_a(key, "ED25519")) {
        EVP_PKEY_free(key);
        return drudge_seterr(err, DRUDGE_EINPUT,
                             "private key %s: not a PEM Ed25519 private key (make one with "
                             "drudge audit keygen)",
                             path);
    }
    *out = key;
    return DRUDGE_OK;
}

/* Creates path with mode (failing if it exists) and writes a PEM with fn. */
static drudge_code write_pem(const char *path, mode_t mode, EVP_PKEY *key, int private_key,
                             drudge_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return drudge_seterr(err, DRUDGE_EIO, "cannot create %s: %s%s", path, strerror(errno),
                             errno == EEXIST ? " (refusing to overwrite a key)" : "");
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return drudge_seterr(err, DRUDGE_EIO, "cannot write %s: %s", path, strerror(errno));
    }
    int ok = private_key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)
                         : PEM_write_PUBKEY(f, key);
    if (fclose(f) != 0)
        ok = 0;
    if (!ok) {
        unlink(path);
        return drudge_seterr(err, DRUDGE_EIO, "cannot write %s", path);
    }
    return DRUDGE_OK;
}

drudge_code drudge_audit_keygen(const char *key_path, const char *pub_path, drudge_err *err)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!key)
        return drudge_seterr(err, DRUDGE_EIO, "cannot generate an Ed25519 key");
    struct stat st;
    drudge_code rc = DRUDGE_OK;
    if (stat(pub_path, &st) == 0) { /* check both before writing either */
        rc = drudge_seterr(err, DRUDGE_EIO, "%s exists (refusing to overwrite a key)", pub_path);
        goto cleanup;
    }
    rc = write_pem(key_path, 0600, key, 1, err);
    if (rc)
        goto cleanup;
    rc = write_pem(pub_path, 0644, key, 0, err);
    if (rc)
        unlink(key_path);
cleanup:
    EVP_PKEY_free(key);
    return rc;
}

static drudge_code sign(EVP_PKEY *key, const char *msg, size_t len, char out[129], drudge_err *err)
{
    unsigned char sig[64];
    size_t n = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestSign(ctx, sig, &n, (const unsigned char *)msg, len) == 1 && n == 64;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return drudge_seterr(err, DRUDGE_EIO, "cannot sign the checkpoint");
    drudge_hex(sig, 64, out);
    return DRUDGE_OK;
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
static drudge_code add_signed(drudge_store *s, EVP_PKEY *key, drudge_checkpoint *cp,
                              drudge_err *err)
{
    drudge_checkpoint_row row = {.step_id = cp->step_id, .row_count = cp->row_count};
    drudge_buf msg = {0};
    cp->created_at = drudge_now_us();
    row.created_at = cp->created_at;
    memcpy(row.head_hash, cp->head_hash, sizeof row.head_hash);
    memcpy(row.public_key, cp->public_key, sizeof row.public_key);
    drudge_checkpoint_message(&msg, cp->head_hash, cp->step_id, cp->row_count, cp->created_at);
    drudge_code rc = sign(key, msg.data, msg.len, row.signature, err);
    drudge_buf_free(&msg);
    if (!rc)
        rc = drudge_store_add_checkpoint(s, &row, err);
    cp->id = row.id;
    return rc;
}

drudge_code drudge_audit_checkpoint_ex(drudge_store *s, const char *key_path,
                                       drudge_checkpoint *out, drudge_err *err)
{
    EVP_PKEY *key = NULL;
    drudge_checkpoint cp = {0};
    drudge_checkpoint_row last;
    int has_last = 0;
    drudge_code rc = read_private(key_path, &key, err);
    if (rc)
        return rc;
    if (raw_public_hex(key, cp.public_key) != 0) {
        rc = drudge_seterr(err, DRUDGE_EINPUT, "private key %s: no public key", key_path);
        goto cleanup;
    }
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
    rc = add_signed(s, key, &cp, err);
    if (!rc)
        rc = drudge_store_commit(s, err);
cleanup:
    if (rc)
        drudge_store_rollback(s);
    EVP_PKEY_free(key);
    if (out)
        *out = cp;
    return rc;
}

drudge_code drudge_audit_checkpoint(drudge_store *s, const char *key_path, drudge_err *err)
{
    return drudge_audit_checkpoint_ex(s, key_path, NULL, err);
}

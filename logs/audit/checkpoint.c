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
#include "runner/store/db.h"
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

/* Re-hashes the rows after the newest checkpoint, from its signed head up to
 * the current head, so a checkpoint never vouches for rows that were already
 * tampered with. Cost: the rows since the last checkpoint. */
static drudge_code check_tail(sqlite3 *db, int64_t from_id, const char *from_hash, int64_t *head_id,
                              char head[65], int64_t *count, drudge_err *err)
{
    sqlite3_stmt *st = NULL;
    drudge_buf canon = {0};
    drudge_code rc = DRUDGE_OK;
    char prev[65];
    memcpy(prev, from_hash, 65);
    *head_id = from_id;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, task_id, attempt, seq, parent, kind, name, request, "
                           "response, started_at, duration_us, outcome, error, hash FROM steps "
                           "WHERE id >= ? ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return drudge_db_err(db, "checkpoint", err);
    sqlite3_bind_int64(st, 1, from_id);
    int src, seen_from = from_id == 0;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const char *stored = (const char *)sqlite3_column_text(st, 13);
        if (id == from_id) { /* the checkpointed row itself */
            if (!stored || strcmp(stored, from_hash) != 0) {
                rc = drudge_seterr(err, DRUDGE_ETAMPER,
                                   "refusing to checkpoint: row %lld no longer has the hash the "
                                   "last checkpoint signed; run drudge audit verify",
                                   (long long)id);
                goto cleanup;
            }
            seen_from = 1;
            continue;
        }
        if (!seen_from)
            break;
        if (id != *head_id + 1) {
            rc = drudge_seterr(err, DRUDGE_ETAMPER,
                               "refusing to checkpoint: rows %lld to %lld are missing; run "
                               "drudge audit verify",
                               (long long)*head_id + 1, (long long)id - 1);
            goto cleanup;
        }
        drudge_step s = {
            .seq = sqlite3_column_int(st, 3),
            .parent = sqlite3_column_int(st, 4),
            .kind = (char *)sqlite3_column_text(st, 5),
            .name = (char *)sqlite3_column_text(st, 6),
            .request = (char *)sqlite3_column_text(st, 7),
            .response = (char *)sqlite3_column_text(st, 8),
            .started_us = sqlite3_column_int64(st, 9),
            .duration_us = sqlite3_column_int64(st, 10),
            .outcome = (char *)sqlite3_column_text(st, 11),
            .error = (char *)sqlite3_column_text(st, 12),
        };
        drudge_buf_reset(&canon);
        drudge_audit_canonical(&canon, id, sqlite3_column_int64(st, 1), sqlite3_column_int(st, 2),
                               &s);
        drudge_audit_hash(prev, canon.data, canon.len, prev);
        stored = (const char *)sqlite3_column_text(st, 13);
        if (!stored || strcmp(stored, prev) != 0) {
            rc = drudge_seterr(err, DRUDGE_ETAMPER,
                               "refusing to checkpoint: row %lld does not match its hash; run "
                               "drudge audit verify",
                               (long long)id);
            goto cleanup;
        }
        *head_id = id;
    }
    if (src != SQLITE_DONE) {
        rc = drudge_db_err(db, "checkpoint", err);
        goto cleanup;
    }
    if (!seen_from) {
        rc = drudge_seterr(err, DRUDGE_ETAMPER,
                           "refusing to checkpoint: row %lld, signed by the last checkpoint, is "
                           "gone; run drudge audit verify",
                           (long long)from_id);
        goto cleanup;
    }
    memcpy(head, prev, 65);
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM steps WHERE id <= ?", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = drudge_db_err(db, "checkpoint", err);
        goto cleanup;
    }
    sqlite3_bind_int64(st, 1, *head_id);
    *count = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
cleanup:
    sqlite3_finalize(st);
    drudge_buf_free(&canon);
    return rc;
}

drudge_code drudge_audit_checkpoint_ex(sqlite3 *db, const char *key_path, drudge_checkpoint *out,
                                       drudge_err *err)
{
    EVP_PKEY *key = NULL;
    sqlite3_stmt *st = NULL;
    drudge_buf msg = {0};
    drudge_checkpoint cp = {0};
    char sig[129], last_hash[65];
    int64_t last_step = 0;
    drudge_code rc = read_private(key_path, &key, err);
    if (rc)
        return rc;
    if (raw_public_hex(key, cp.public_key) != 0) {
        rc = drudge_seterr(err, DRUDGE_EINPUT, "private key %s: no public key", key_path);
        goto cleanup;
    }
    rc = drudge_db_begin(db, err);
    if (rc)
        goto cleanup;
    memset(last_hash, '0', 64);
    last_hash[64] = '\0';
    if (sqlite3_prepare_v2(db,
                           "SELECT step_id, head_hash FROM checkpoints ORDER BY id DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = drudge_db_err(db, "checkpoint", err);
        goto cleanup;
    }
    int has_last = sqlite3_step(st) == SQLITE_ROW;
    if (has_last) {
        last_step = sqlite3_column_int64(st, 0);
        snprintf(last_hash, sizeof last_hash, "%s", (const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    st = NULL;
    rc = check_tail(db, last_step, last_hash, &cp.step_id, cp.head_hash, &cp.row_count, err);
    if (rc)
        goto cleanup;
    if (has_last && cp.step_id == last_step) {
        cp.unchanged = 1;
        drudge_db_rollback(db);
        goto cleanup;
    }
    cp.created_at = drudge_now_us();
    drudge_checkpoint_message(&msg, cp.head_hash, cp.step_id, cp.row_count, cp.created_at);
    rc = sign(key, msg.data, msg.len, sig, err);
    if (rc)
        goto cleanup;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO checkpoints(step_id, head_hash, row_count, created_at, "
                           "public_key, signature) VALUES (?,?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = drudge_db_err(db, "checkpoint", err);
        goto cleanup;
    }
    sqlite3_bind_int64(st, 1, cp.step_id);
    sqlite3_bind_text(st, 2, cp.head_hash, 64, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, cp.row_count);
    sqlite3_bind_int64(st, 4, cp.created_at);
    sqlite3_bind_text(st, 5, cp.public_key, 64, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, sig, 128, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = drudge_db_err(db, "checkpoint", err);
        goto cleanup;
    }
    cp.id = sqlite3_last_insert_rowid(db);
    rc = drudge_db_commit(db, err);
cleanup:
    sqlite3_finalize(st);
    if (rc)
        drudge_db_rollback(db);
    EVP_PKEY_free(key);
    drudge_buf_free(&msg);
    if (out)
        *out = cp;
    return rc;
}

drudge_code drudge_audit_checkpoint(sqlite3 *db, const char *key_path, drudge_err *err)
{
    return drudge_audit_checkpoint_ex(db, key_path, NULL, err);
}

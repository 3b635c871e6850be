/* chain.c: the audit tables and appending recorded steps to the hash chain.
 *
 * One chain per database: each row's hash is
 *   SHA-256(previous row's hash as 64 hex digits || canonical encoding)
 * with 64 zeros before the first row. The canonical encoding is documented in
 * logs/README.md so auditors can verify an export with their own tools. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "logs/audit/audit.h"
#include "runner/store/db.h"
#include "drudge/util.h"

const char *const drudge_audit_migrations[] = {
    /* v1 */
    "CREATE TABLE steps("
    "  id INTEGER PRIMARY KEY,"
    "  task_id INTEGER NOT NULL,"
    "  attempt INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  parent INTEGER,"
    "  kind TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  request TEXT,"
    "  response TEXT,"
    "  started_at INTEGER NOT NULL,"
    "  duration_us INTEGER NOT NULL,"
    "  outcome TEXT NOT NULL,"
    "  error TEXT,"
    "  hash TEXT NOT NULL);"
    "CREATE INDEX steps_task ON steps(task_id, attempt, seq);"
    "CREATE TRIGGER steps_no_update BEFORE UPDATE ON steps"
    "  BEGIN SELECT RAISE(ABORT, 'audit steps are append-only'); END;"
    "CREATE TRIGGER steps_no_delete BEFORE DELETE ON steps"
    "  BEGIN SELECT RAISE(ABORT, 'audit steps are append-only'); END;"
    /* Payloads are referenced by SHA-256 from chained rows and sit outside
     * the chain so that retention can drop their bytes. The table is mutable
     * only that far: no DELETE; an UPDATE may move used_at forward, prune
     * (data NULL + pruned_at) or put the same bytes back after a prune (the
     * bytes are re-hashed by audit verify, so a wrong restore is caught). */
    "CREATE TABLE payloads("
    "  sha256 TEXT PRIMARY KEY,"
    "  content_type TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  data BLOB,"
    "  created_at INTEGER NOT NULL,"
    "  used_at INTEGER NOT NULL,"
    "  pruned_at INTEGER);"
    "CREATE INDEX payloads_used ON payloads(used_at) WHERE data IS NOT NULL;"
    "CREATE TRIGGER payloads_no_delete BEFORE DELETE ON payloads"
    "  BEGIN SELECT RAISE(ABORT, 'audit payloads are never deleted; prune their data with "
    "drudge audit prune'); END;"
    "CREATE TRIGGER payloads_prune_only BEFORE UPDATE ON payloads"
    "  WHEN NEW.sha256 IS NOT OLD.sha256 OR NEW.content_type IS NOT OLD.content_type"
    "    OR NEW.size IS NOT OLD.size OR NEW.created_at IS NOT OLD.created_at"
    "    OR NEW.used_at < OLD.used_at"
    "    OR NOT ((NEW.data IS OLD.data AND NEW.pruned_at IS OLD.pruned_at)"
    "      OR (OLD.data IS NOT NULL AND NEW.data IS NULL AND NEW.pruned_at IS NOT NULL)"
    "      OR (OLD.data IS NULL AND NEW.pruned_at IS NULL AND length(NEW.data) = OLD.size))"
    "  BEGIN SELECT RAISE(ABORT, 'audit payloads can only be pruned (data set NULL with "
    "pruned_at)'); END;"
    "CREATE TABLE checkpoints("
    "  id INTEGER PRIMARY KEY,"
    "  step_id INTEGER NOT NULL,"
    "  head_hash TEXT NOT NULL,"
    "  row_count INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  public_key TEXT NOT NULL,"
    "  signature TEXT NOT NULL);"
    "CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints"
    "  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;"
    "CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints"
    "  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;",
    NULL,
};

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

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

struct drudge_audit_writer {
    sqlite3 *db;
    sqlite3_stmt *head, *ins, *pay;
    drudge_buf canon;
    /* The chain head as of the last append in this transaction (see
     * drudge_audit_writer_begin): saves a query per attempt. */
    int scoped, cached;
    int64_t head_id;
    char head_hash[65];
};

drudge_audit_writer *drudge_audit_writer_new(sqlite3 *db, drudge_err *err)
{
    drudge_audit_writer *w = drudge_xmalloc(sizeof *w);
    memset(w, 0, sizeof *w);
    w->db = db;
    if (sqlite3_prepare_v3(db, "SELECT id, hash FROM steps ORDER BY id DESC LIMIT 1", -1,
                           SQLITE_PREPARE_PERSISTENT, &w->head, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(db,
                           "INSERT INTO steps(id, task_id, attempt, seq, parent, kind, name, "
                           "request, response, started_at, duration_us, outcome, error, hash) "
                           "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, SQLITE_PREPARE_PERSISTENT, &w->ins, NULL) != SQLITE_OK ||
        /* The same bytes seen again: note the later use (prune goes by it),
         * and put the data back if it had been pruned. */
        sqlite3_prepare_v3(db,
                           "INSERT INTO payloads(sha256, content_type, size, data, created_at, "
                           "used_at) VALUES (?1,?2,?3,?4,?5,?5) "
                           "ON CONFLICT(sha256) DO UPDATE SET used_at = excluded.used_at, "
                           "data = coalesce(payloads.data, excluded.data), "
                           "pruned_at = CASE WHEN payloads.data IS NULL THEN NULL "
                           "ELSE payloads.pruned_at END "
                           "WHERE excluded.used_at > payloads.used_at OR payloads.data IS NULL",
                           -1, SQLITE_PREPARE_PERSISTENT, &w->pay, NULL) != SQLITE_OK) {
        drudge_db_err(db, "audit writer", err);
        drudge_audit_writer_free(w);
        return NULL;
    }
    return w;
}

void drudge_audit_writer_free(drudge_audit_writer *w)
{
    if (!w)
        return;
    sqlite3_finalize(w->head);
    sqlite3_finalize(w->ins);
    sqlite3_finalize(w->pay);
    drudge_buf_free(&w->canon);
    free(w);
}

void drudge_audit_writer_begin(drudge_audit_writer *w)
{
    w->scoped = 1;
    w->cached = 0;
}

drudge_code drudge_audit_writer_append(drudge_audit_writer *w, drudge_rec *rec, drudge_err *err)
{
    sqlite3 *db = w->db;
    sqlite3_stmt *head = w->head, *ins = w->ins, *pay = w->pay;
    drudge_code rc = DRUDGE_OK;
    size_t from = drudge_rec_flushed(rec), n = drudge_rec_count(rec);
    size_t pfrom = drudge_rec_payloads_flushed(rec), np = drudge_rec_payload_count(rec);
    int64_t task = drudge_rec_task(rec);
    int attempt = drudge_rec_attempt(rec);
    char prev[65];
    int64_t id = 0;

    if (from >= n && pfrom >= np)
        return DRUDGE_OK;
    memset(prev, '0', 64);
    prev[64] = '\0';
    int step_rc = SQLITE_DONE;
    if (w->scoped && w->cached) {
        id = w->head_id;
        memcpy(prev, w->head_hash, 65);
    } else if ((step_rc = sqlite3_step(head)) == SQLITE_ROW) {
        id = sqlite3_column_int64(head, 0);
        const unsigned char *h = sqlite3_column_text(head, 1);
        if (h && strlen((const char *)h) == 64)
            memcpy(prev, h, 64);
    } else if (step_rc != SQLITE_DONE) {
        rc = drudge_db_err(db, "audit append: reading chain head", err);
        goto cleanup;
    }
    sqlite3_reset(head);
    w->cached = 0; /* until this append has fully succeeded */
    for (size_t i = from; i < n; i++) {
        const drudge_step *s = drudge_rec_step(rec, i);
        if (s->duration_us < 0) /* still open: flushed later */
            break;
        if (s->handed) { /* appended earlier, from a drudge_rec_take_closed copy */
            drudge_rec_mark_flushed(rec, i + 1);
            continue;
        }
        id++;
        drudge_buf_reset(&w->canon);
        drudge_audit_canonical(&w->canon, id, task, attempt, s);
        drudge_audit_hash(prev, w->canon.data, w->canon.len, prev);
        sqlite3_bind_int64(ins, 1, id);
        sqlite3_bind_int64(ins, 2, task);
        sqlite3_bind_int(ins, 3, attempt);
        sqlite3_bind_int(ins, 4, s->seq);
        if (s->parent)
            sqlite3_bind_int(ins, 5, s->parent);
        else
            sqlite3_bind_null(ins, 5);
        bind_text_or_null(ins, 6, s->kind);
        bind_text_or_null(ins, 7, s->name);
        bind_text_or_null(ins, 8, s->request);
        bind_text_or_null(ins, 9, s->response);
        sqlite3_bind_int64(ins, 10, s->started_us);
        sqlite3_bind_int64(ins, 11, s->duration_us);
        bind_text_or_null(ins, 12, s->outcome);
        bind_text_or_null(ins, 13, s->error);
        sqlite3_bind_text(ins, 14, prev, 64, SQLITE_STATIC);
        int irc = sqlite3_step(ins);
        sqlite3_reset(ins);
        if (irc != SQLITE_DONE) {
            rc = drudge_db_err(db, "audit append", err);
            goto cleanup;
        }
        drudge_rec_mark_flushed(rec, i + 1);
    }
    int64_t now = drudge_now_us();
    for (size_t i = pfrom; i < np; i++) {
        const drudge_payload *p = drudge_rec_payload_at(rec, i);
        if (p->handed) {
            drudge_rec_mark_payloads_flushed(rec, i + 1);
            continue;
        }
        sqlite3_bind_text(pay, 1, p->sha256, 64, SQLITE_STATIC);
        sqlite3_bind_text(pay, 2, p->content_type, -1, SQLITE_STATIC);
        sqlite3_bind_int64(pay, 3, (sqlite3_int64)p->len);
        sqlite3_bind_blob64(pay, 4, p->len ? (const void *)p->data : "", p->len, SQLITE_STATIC);
        sqlite3_bind_int64(pay, 5, now);
        int prc = sqlite3_step(pay);
        sqlite3_reset(pay);
        if (prc != SQLITE_DONE) {
            rc = drudge_db_err(db, "audit append: payload", err);
            goto cleanup;
        }
        drudge_rec_mark_payloads_flushed(rec, i + 1);
    }
    if (w->scoped) {
        w->cached = 1;
        w->head_id = id;
        memcpy(w->head_hash, prev, 65);
    }
cleanup:
    sqlite3_reset(head);
    sqlite3_clear_bindings(ins);
    sqlite3_clear_bindings(pay);
    return rc;
}

drudge_code drudge_audit_append(sqlite3 *db, drudge_rec *rec, drudge_err *err)
{
    drudge_audit_writer *w = drudge_audit_writer_new(db, err);
    if (!w)
        return err ? err->code : DRUDGE_EDB;
    drudge_code rc = drudge_audit_writer_append(w, rec, err);
    drudge_audit_writer_free(w);
    return rc;
}

/*
 * audit.h: the audit trail in the database (logs/). Steps recorded in memory
 * by a drudge_rec are appended to one hash chain per database:
 * hash = SHA-256(prev_hash || canonical encoding of the row); see logs/README.md.
 * Large payloads live in their own table, referenced by SHA-256 from the
 * chained rows, so they can be pruned without breaking the chain. Signed
 * checkpoints (Ed25519) pin the chain head against a wholesale rewrite.
 */
#ifndef DRUDGE_AUDIT_H
#define DRUDGE_AUDIT_H

#include <stdint.h>
#include <stdio.h>
#include "drudge/error.h"
#include "drudge/record.h"
#include "runner/store/store.h"

/* --- appending (logs/audit/writer.c) --- */

/* Appends the recorder's steps not yet flushed, in seq order up to the first
 * one still open (so in practice a whole attempt once it has ended: its root
 * step stays open while it runs), and its payloads not yet flushed, to the
 * chain, and marks them flushed. Must be called inside a write transaction
 * (drudge_store_begin) so the chain head read here is the one the rows link
 * to. If that transaction is rolled back, the caller rewinds the mark
 * (drudge_rec_mark_flushed(rec, before), which rewinds the payloads' too)
 * before appending again, or the steps are lost. */
drudge_code drudge_audit_append(drudge_store *s, drudge_rec *rec, drudge_err *err);

/* The same, with the state the attempt's outcome left its task in
 * (done, failed, dead, cancelled, or queued again), written into the
 * root's response when the root is appended ({"state":"queued",...}), so
 * that the chain backs what the task row says (audit verify cross-checks
 * it). state NULL: none (the outcome changed no row). */
drudge_code drudge_audit_append_outcome(drudge_store *s, drudge_rec *rec, const char *state,
                                        drudge_err *err);

/* The same for a worker's writer, which appends many attempts per
 * transaction (one writer per store). */
typedef struct drudge_audit_writer drudge_audit_writer;
drudge_audit_writer *drudge_audit_writer_new(drudge_store *s);
void drudge_audit_writer_free(drudge_audit_writer *w);
drudge_code drudge_audit_writer_append(drudge_audit_writer *w, drudge_rec *rec, drudge_err *err);
drudge_code drudge_audit_writer_append_outcome(drudge_audit_writer *w, drudge_rec *rec,
                                               const char *state, drudge_err *err);
/* Call right after beginning a write transaction: until the next call,
 * appends carry the chain head from one to the next instead of reading it
 * back, since no other connection can append meanwhile. A writer never
 * begun reads the head on every append. */
void drudge_audit_writer_begin(drudge_audit_writer *w);

/* Resets rec for (task_id, attempt) and records the attempt as its root
 * step alone (kind "task", named after the script, with the task's input
 * and key as its request), ended with outcome and error: for an attempt no
 * host ran (a script that would not load, a lost attempt). */
void drudge_audit_root_only(drudge_rec *rec, int64_t task_id, int attempt, const char *script,
                            const char *input, const char *key, const char *outcome,
                            const char *error);

/* Builds the JSON array scripts see as task.previous (logs/audit/previous.c):
 * one object per earlier attempt of task_id (attempt number, outcome, error,
 * and its recorded steps: seq, parent, kind, name, outcome, response,
 * error), so a retried script can see what its earlier attempts already did.
 * *out is malloc'd ("[]" if none). */
drudge_code drudge_previous_attempts(drudge_store *s, int64_t task_id, int before_attempt,
                                     char **out /* OUT */, drudge_err *err);

/* The canonical encoding of a step row (see logs/README.md), appended to b. */
struct drudge_buf;
void drudge_audit_canonical(struct drudge_buf *b, int64_t id, int64_t task_id, int attempt,
                            const drudge_step *s);
/* hash = SHA-256(prev as 64 hex digits || canonical), as hex into out. */
void drudge_audit_hash(const char prev[64], const char *canon, size_t len, char out[65]);

/* Calls fn(ud, sha256, start-of-key) for every payload reference in a JSON
 * summary: a string of 64 lower-case hex digits under a key "sha256" or
 * "*_sha256", unless the same object says "*_stored":false or "stored":false
 * (hashed, deliberately not kept). */
void drudge_audit_payload_refs(const char *json, void (*fn)(void *ud, const char *sha), void *ud);

/* An attempt's root response with the task's state in front:
 * {"state":"done","output":...} from {"output":...}, {"state":"queued"}
 * from none. Malloc'd. */
char *drudge_audit_root_response(const char *response, const char *state);
/* The parts of a root's response, {"state":..,"script_version":..,
 * "output":..} each optional: the state (into state[16], "" if the row has
 * none: written before drudge recorded it, or by an outcome that changed no
 * row), the script version that ran (into script[65] unless NULL, "" if
 * none) and the output's JSON text, [*output, *output + *len) (*output
 * NULL if none). */
void drudge_audit_root_parse(const char *response, char state[16], char script[65],
                             const char **output, size_t *len);

/* --- operator actions (logs/audit/operator.c) --- */

/* Everything a person does to tasks, scripts, schedules or the trail
 * itself goes on the chain as a row of kind "operator": task_id the task
 * acted on (0 for none), attempt 0, seq 1, named after the action, with
 * the user and the arguments as its request and what it changed as its
 * response, started at now, outcome "ok". */
typedef struct drudge_operator_step {
    int64_t task_id;    /* 0: not about one task */
    const char *action; /* resolve, retry, cancel, pause, resume, schedule add, prune, ... */
    const char *user;   /* the OS user (or the control room's) */
    const char *args;   /* JSON object members ("\"note\":\"...\""), or NULL */
    const char *result; /* JSON object text: what changed ({"state":"queued"}), or NULL */
    int64_t now;
} drudge_operator_step;
/* Appends op, in the caller's write transaction (the one that makes the
 * change, so the chain and the change commit together). */
drudge_code drudge_audit_operator(drudge_store *s, const drudge_operator_step *op, drudge_err *err);
/* Where the operator steps this thread appends come from: the control room
 * sets it around each request it serves (via "room", remote the client's
 * address), so that every step it makes, through the queue's operations
 * too, names them beside the user ({"user":"ann","via":"room",
 * "remote":"192.0.2.7",...}); NULL, NULL clears it. Per thread, so that
 * the queue's operations keep their signatures for every other caller.
 * The strings must outlive the request. */
void drudge_audit_operator_origin(const char *via, const char *remote);

/* --- walking the chain (logs/audit/chain.c) --- */

/* What a walk of the chain found wrong, at the row where it stopped. */
typedef enum drudge_chain_problem {
    DRUDGE_CHAIN_INTACT = 0,
    DRUDGE_CHAIN_ANCHOR_GONE,    /* the row the walk starts after is not there */
    DRUDGE_CHAIN_ANCHOR_CHANGED, /* that row no longer has the hash it was given */
    DRUDGE_CHAIN_BAD_START,      /* from the start: an id below 1 */
    DRUDGE_CHAIN_GAP,            /* rows before this one are missing */
    DRUDGE_CHAIN_REORDERED,      /* it does not match its hash nor follow the seq above it */
    DRUDGE_CHAIN_EDITED,         /* it does not match its hash */
} drudge_chain_problem;

typedef struct drudge_chain_fault {
    drudge_chain_problem problem;
    const drudge_step_row *row; /* where the walk stopped (NULL for ANCHOR_GONE) */
    int64_t expected;           /* the id that should be there (the anchor's for ANCHOR_*) */
} drudge_chain_fault;

/* What a walk hands its caller. Rows are the store's, valid during the call. */
typedef struct drudge_chain_visitor {
    /* Each row whose hash follows from the row before, with that hash and
     * the number of rows verified so far (this one included); 0 to go on,
     * non-zero to stop. */
    int (*row)(void *ud, const drudge_step_row *r, const char *hash, int64_t n);
    /* The first fault; the walk stops there. */
    void (*fault)(void *ud, const drudge_chain_fault *f);
    void *ud;
} drudge_chain_visitor;

typedef struct drudge_chain_walk {
    int64_t rows;                 /* rows verified */
    int64_t head_id;              /* the last of them (the anchor if none) */
    char head[65];                /* its recomputed hash (the anchor's if none) */
    drudge_chain_problem problem; /* DRUDGE_CHAIN_INTACT unless a fault stopped it */
} drudge_chain_walk;

/* Walks the chain in id order after row from_id, whose hash is from_hash
 * (a checkpoint's signed head): that row must still be there with that hash
 * (it is not re-hashed), and each row after it must have the next id and
 * the hash that follows from the row before. from_id 0 walks every row from
 * the first, which must be row 1, after from_hash (NULL: 64 zeros). Stops at
 * the first fault, which v->fault gets and *out names. Returns DRUDGE_OK
 * when the walk ran (intact or not), or the store's error. */
drudge_code drudge_audit_walk(drudge_store *s, int64_t from_id, const char *from_hash,
                              const drudge_chain_visitor *v, drudge_chain_walk *out /* OUT */,
                              drudge_err *err);

/* --- verifying (logs/audit/verify.c) --- */

typedef struct drudge_verify_opts {
    const char
        *pubkey_path;  /* PEM Ed25519 public key the checkpoints must be signed with, or NULL */
    int skip_payloads; /* do not re-hash payload contents */
    /* Called every DRUDGE_VERIFY_EVERY chain rows, and once the walk is
     * over, with the rows checked so far and the rows the chain had when
     * the check began (NULL: not called). Returning non-zero stops the
     * check: drudge_audit_verify then returns DRUDGE_ESTATE. */
    int (*progress)(void *ud, int64_t checked, int64_t total);
    void *progress_ud;
} drudge_verify_opts;
#define DRUDGE_VERIFY_EVERY 1000

typedef struct drudge_verify_report {
    int64_t rows;             /* step rows walked */
    char head[65];            /* recomputed hash of the last row ("" if none) */
    int64_t payloads, pruned; /* payload rows, of which pruned */
    int64_t checkpoints;      /* checkpoints checked */
    int64_t signed_rows;      /* rows covered by the last good checkpoint */
    int64_t tasks;            /* task rows cross-checked against the chain */
    int problems;             /* number of problems found (0 = intact) */
    char *text;               /* malloc'd: one line per problem, first per kind */
} drudge_verify_report;

/* Walks the chain, the payloads and the checkpoints. Returns DRUDGE_OK with
 * report->problems == 0 when everything matches, DRUDGE_ETAMPER with the
 * problems listed in report->text (each names the row: id, task, attempt,
 * seq, and what does not match), or another code when the check itself could
 * not run. Free report->text with drudge_verify_report_clear. */
drudge_code drudge_audit_verify(drudge_store *s, const drudge_verify_opts *opts,
                                drudge_verify_report *report /* OUT */, drudge_err *err);
void drudge_verify_report_clear(drudge_verify_report *report);

/* --- checkpoints (logs/audit/checkpoint.c) --- */

/* Writes a new Ed25519 key pair: the private key (PEM, PKCS#8) to key_path
 * created 0600, the public key (PEM, SubjectPublicKeyInfo) to pub_path.
 * Refuses to overwrite an existing file. */
drudge_code drudge_audit_keygen(const char *key_path, const char *pub_path, drudge_err *err);

typedef struct drudge_checkpoint {
    int64_t id;         /* checkpoint row id; 0 if none was written */
    int64_t step_id;    /* the chain row it pins (0 for an empty chain) */
    int64_t row_count;  /* rows in the chain up to step_id */
    int64_t created_at; /* µs since the epoch, UTC */
    char head_hash[65];
    char public_key[65]; /* raw Ed25519 public key, hex */
    int unchanged;       /* the head was already checkpointed: nothing written */
} drudge_checkpoint;

/* Signs the current chain head with the private key at key_path (a PEM file
 * that must not be readable by group or others) and stores the checkpoint, in
 * its own write transaction (call it outside any transaction). The rows since
 * the newest checkpoint are re-hashed first (DRUDGE_ETAMPER if they do not
 * follow from it). If the newest checkpoint already pins the head, nothing
 * is written. For a
 * worker checkpointing periodically (drudge work --checkpoint-key FILE
 * --checkpoint-every 10m). */
drudge_code drudge_audit_checkpoint(drudge_store *s, const char *key_path, drudge_err *err);
/* The same, describing what was (or was not) written in *out. */
drudge_code drudge_audit_checkpoint_ex(drudge_store *s, const char *key_path,
                                       drudge_checkpoint *out /* OUT */, drudge_err *err);
/* The exact bytes a checkpoint's signature covers (see logs/README.md):
 * "drudge-checkpoint-v1\n<head_hash>\n<step_id>\n<row_count>\n<created_at>\n". */
void drudge_checkpoint_message(struct drudge_buf *b, const char *head_hash, int64_t step_id,
                               int64_t row_count, int64_t created_at);
/* Checks an Ed25519 signature (hex) over msg with a raw public key (hex). */
int drudge_checkpoint_sig_ok(const char *pub_hex, const char *sig_hex, const char *msg, size_t len);
/* Reads a PEM public key file as raw hex (out[65]). */
drudge_code drudge_audit_read_pubkey(const char *path, char out[65], drudge_err *err);

/* --- pruning (logs/audit/prune.c) --- */

/* Drops the data of payloads last used before cutoff_us (data set NULL,
 * pruned_at set; the rows and their hashes stay, so the chain and verify are
 * unaffected). With dry_run nothing changes. Counts go to *n and *bytes.
 * Own transaction; a prune that dropped anything is then an operator step
 * by who on the chain. */
drudge_code drudge_audit_prune(drudge_store *s, int64_t cutoff_us, int dry_run, const char *who,
                               int64_t *n /* OUT */, int64_t *bytes /* OUT */, drudge_err *err);

/* --- reading (logs/audit/show.c, logs/audit/export.c) --- */

/* A readable timeline of a task's attempts (all, or only attempt if > 0),
 * or the same as one JSON object with json. DRUDGE_ENOTFOUND if the task has
 * neither a row nor steps, or not that attempt. */
drudge_code drudge_audit_show(drudge_store *s, FILE *out, int64_t task_id, int attempt, int json,
                              drudge_err *err);
/* The same; with full, the text timeline has each step's request and
 * response (redacted JSON, as recorded) under it. */
drudge_code drudge_audit_show_ex(drudge_store *s, FILE *out, int64_t task_id, int attempt, int json,
                                 int full, drudge_err *err);
/* The case record (logs/audit/show_html.c): one self-contained, printable
 * HTML page with the task's facts (script version, input, state, output,
 * resolution), the result of verifying the whole chain and the chain head
 * when it was made, every attempt's steps as a tree (start, duration,
 * outcome, errors), the images its steps recorded inline (data: URIs), its
 * other payloads by SHA-256, and the operator steps about the task.
 * DRUDGE_ENOTFOUND as for drudge_audit_show. */
drudge_code drudge_audit_show_html(drudge_store *s, FILE *out, int64_t task_id, drudge_err *err);

/* --- evidence (logs/audit/evidence.c) --- */

typedef struct drudge_evidence_summary {
    int64_t files, pruned, bytes; /* payloads written; referenced but pruned; their bytes */
} drudge_evidence_summary;
/* Writes every payload task_id's steps reference into dir (made 0700 if
 * missing; files 0600, never overwritten): "ATTEMPT-SEQ-KEY.EXT" (KEY the
 * JSON key without "_sha256": body, message, sha256; EXT from the content
 * type: .png, .eml, .json, .html, .txt, .pdf, .bin), or with the file name
 * the step gave it ("1-4-sha256-invoice.pdf"); and manifest.json:
 * {"task","chain_head":{"id","hash"},"files":[{"file","step_id","attempt",
 * "seq","kind","name","key","content_type","size","sha256"}]} (a pruned one
 * with "file":null,"pruned":true). One read snapshot. */
/* The file name extension for a payload's content type (".png", ".eml",
 * ".json", ... ".bin"). */
const char *drudge_audit_payload_ext(const char *content_type);
/* Splits an e-mail (the bytes of a message/rfc822 payload) into its
 * attachments, calling each once per attachment with its file name as the
 * message gives it (decoded; may be "" or hostile: the caller sanitises),
 * its content type and its decoded bytes. The mail module's MIME parsing,
 * handed in from above (runner/cli/cmd_audit.c). */
typedef void (*drudge_attachment_fn)(void *ud, const char *filename, const char *content_type,
                                     const void *data, size_t len);
typedef drudge_code (*drudge_mail_split_fn)(const void *raw, size_t len, drudge_attachment_fn each,
                                            void *ud, drudge_err *err);
/* With split (else e-mails stay whole in their .eml), each attachment of
 * an e-mail is written too: "ATTEMPT-SEQ-attachment-N-NAME" (NAME made safe,
 * "unnamed.EXT" if the part has none), its manifest entry with "key":
 * "attachment", "filename" (as the message gives it), "from_file" and
 * "from_sha256" (its .eml) and "recorded" (whether the step's row holds
 * its SHA-256); an e-mail that cannot be split gets "attachments_error". */
drudge_code drudge_audit_evidence(drudge_store *s, int64_t task_id, const char *dir,
                                  drudge_mail_split_fn split,
                                  drudge_evidence_summary *out /* OUT */, drudge_err *err);

typedef enum drudge_export_format {
    DRUDGE_EXPORT_JSONL = 0,
    DRUDGE_EXPORT_CSV
} drudge_export_format;
typedef struct drudge_export_opts {
    drudge_export_format format;
    int64_t since_us, until_us; /* started_at in [since, until); 0 = open */
    const char *script;         /* only tasks of this script, or NULL */
    int64_t task_id;            /* only this task, or 0 */
    /* JSONL only: write each payload a row references into this directory
     * (made 0700; files 0600) as SHA256.EXT, once, and list them in the
     * row as "payloads":[{"sha256","file","content_type","size"}] ("file"
     * null and "pruned":true for a payload whose bytes were pruned). */
    const char *payloads_dir;
    int64_t payload_files; /* OUT: payload files written */
} drudge_export_opts;
/* One record per step, in chain order, with its hash and the previous row's
 * hash (prev_hash), so an export can be verified outside drudge. *rows gets
 * the number written. */
drudge_code drudge_audit_export(drudge_store *s, FILE *out, drudge_export_opts *opts,
                                int64_t *rows /* OUT */, drudge_err *err);

#endif

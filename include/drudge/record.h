/*
 * record.h: the recording hook every automated step passes through.
 *
 * One drudge_rec belongs to one worker (one Lua state) and holds the steps of
 * the attempt it is running, in memory, until the attempt's outcome is
 * committed: the queue writes them to the audit chain in the same transaction
 * (logs/audit/chain.c, drudge_audit_append). Nothing here touches SQLite.
 *
 * Steps form a tree: drudge_rec_begin pushes a step (its parent is the step
 * open at the time), drudge_rec_end closes it. Strings are copied and
 * redacted on the way in (secret values, configured patterns), so a secret
 * never reaches the database.
 *
 * Connectors do not call it themselves: every connector call goes through
 * drudge_call (drudge/call.h), which opens the step, records the request and
 * the response, and answers from the recording in replay.
 *
 * request/response are JSON object texts (built with drudge_buf_json_str),
 * compact, keys in a fixed order, so replay can compare them byte for byte.
 */
#ifndef DRUDGE_RECORD_H
#define DRUDGE_RECORD_H

#include <stddef.h>
#include <stdint.h>

typedef struct lua_State lua_State;
typedef struct drudge_rec drudge_rec;

/* One recorded step. All strings owned by the recorder; NULL means absent. */
typedef struct drudge_step {
    int seq;             /* 1-based position within the attempt */
    int parent;          /* seq of the enclosing step, 0 for the attempt's root */
    char *kind;          /* "task", "step", "http", "desktop", "mail", "log", "secret", "queue" */
    char *name;          /* human-readable: step name, "GET https://...", log level */
    char *request;       /* JSON object text, redacted */
    char *response;      /* JSON object text, redacted */
    int64_t started_us;  /* wall clock, UTC, µs since epoch */
    int64_t duration_us; /* -1 while open */
    char *outcome;       /* "ok", "error", "fail", "retry", "timeout", "lost" */
    char *error;         /* redacted message, or NULL */
    int handed;          /* moved out by drudge_rec_take_closed: appended already */
    /* The recorder's own steps keep their strings in two blocks, one
     * allocation each instead of six (a keep-alive GET's step was a third
     * of its mallocs, freed on another thread): when set, kind, name and
     * request point into begun, and response, outcome and error into ended,
     * and only the block is freed. NULL: each string is its own allocation. */
    char *begun, *ended;
} drudge_step;
/* Frees what s holds (its strings), not s itself. */
void drudge_step_clear(drudge_step *s);

/* A large blob (a body, a screenshot) stored apart from the chain and
 * referenced by its SHA-256 from a step's request/response JSON. */
typedef struct drudge_payload {
    char sha256[65];
    char *content_type;
    unsigned char *data;
    size_t len;
    int handed; /* copied out by drudge_rec_take_closed */
} drudge_payload;

/* Deep copies: d gets its own strings and bytes (freed as a recorder's are). */
void drudge_step_copy(drudge_step *d, const drudge_step *s);
void drudge_payload_copy(drudge_payload *d, const drudge_payload *p);

drudge_rec *drudge_rec_new(void);
void drudge_rec_free(drudge_rec *r);
/* Starts a new attempt: forgets steps and payloads of the last one, and the
 * secrets registered during it (those registered outside any attempt, e.g.
 * by a script's top level, are kept for the recorder's life). */
void drudge_rec_reset(drudge_rec *r, int64_t task_id, int attempt);

/* Opens a step under the current one; returns its seq. Strings are copied
 * and redacted. request may be NULL. */
int drudge_rec_begin(drudge_rec *r, const char *kind, const char *name, const char *request);
/* Closes step seq (and any still-open children, as "error"). response/error may be NULL. */
void drudge_rec_end(drudge_rec *r, int seq, const char *outcome, const char *response,
                    const char *error);
/* A step with no duration: a log line, a secret access. */
int drudge_rec_event(drudge_rec *r, const char *kind, const char *name, const char *request);

/* Keeps a copy of data as a payload; writes its SHA-256 hex into sha_out.
 * The bytes are redacted first when they are text (content type text/... or
 * application/json...), so the hash is of what is stored. */
void drudge_rec_payload(drudge_rec *r, const void *data, size_t len, const char *content_type,
                        char sha_out[65]);

/* Registers a secret value: from now on it is replaced by [REDACTED:<name>]
 * in everything recorded (also in its JSON-escaped form). Values shorter
 * than 4 bytes are ignored (too many false hits), as are values containing
 * "[REDACTED:" (built from a redacted value, in replay). Request and response
 * summaries additionally get the values of JSON keys named Authorization,
 * Proxy-Authorization, Cookie, Set-Cookie and Password (any case, as object
 * members or ["Name","value"] pairs) replaced, as a safety net. */
void drudge_rec_add_secret(drudge_rec *r, const char *name, const char *value);
/* Returns a redacted copy of s (caller frees). */
char *drudge_rec_redact(drudge_rec *r, const char *s);
/* Adds a redaction pattern (POSIX extended regex) with a label; 0 or -1 on a
 * bad pattern. Patterns are kept across attempts. */
int drudge_rec_add_pattern(drudge_rec *r, const char *label, const char *regex);
/* Switches on a built-in pattern by name ("email", "uk_nino"); -1 if unknown.
 * (logs/audit/redact.c) */
int drudge_rec_enable_builtin(drudge_rec *r, const char *name);
/* Loads a redaction config file: "label = regex" lines (POSIX ERE), or a
 * built-in's name alone on a line; '#' starts a comment. Errors name the
 * file and line. (logs/audit/redact.c) */
struct drudge_err;
int drudge_rec_load_patterns(drudge_rec *r, const char *path, struct drudge_err *err);

/* The attempt's steps and payloads, in seq order. */
int64_t drudge_rec_task(const drudge_rec *r);
int drudge_rec_attempt(const drudge_rec *r);
size_t drudge_rec_count(const drudge_rec *r);
const drudge_step *drudge_rec_step(const drudge_rec *r, size_t i);
size_t drudge_rec_payload_count(const drudge_rec *r);
const drudge_payload *drudge_rec_payload_at(const drudge_rec *r, size_t i);
/* Index of the first step not yet handed out by drudge_rec_mark_flushed:
 * the queue writer may persist closed steps of a long attempt early. */
size_t drudge_rec_flushed(const drudge_rec *r);
/* Rewinding (upto below the current mark, e.g. 0 after a rolled-back
 * transaction) also rewinds the payloads' mark to 0. */
void drudge_rec_mark_flushed(drudge_rec *r, size_t upto);
/* The same for payloads (so a long attempt flushed early stores each once). */
size_t drudge_rec_payloads_flushed(const drudge_rec *r);
void drudge_rec_mark_payloads_flushed(drudge_rec *r, size_t upto);

/* Early flush of a long attempt. take_closed moves the closed steps not
 * yet handed out (r keeps each one's seq, parent and times, not its
 * strings), and copies the payloads not yet handed out, into a new recorder
 * for the same task and attempt, and marks them handed in r, so the audit
 * writer appends them now and skips them when the whole attempt is
 * appended at its end; NULL when there is nothing new. The root step is
 * never handed out (it goes with the attempt's outcome), so handed steps
 * come before it in the chain.
 * on_end registers fn to run after each drudge_rec_end (in the recording
 * thread; never while replaying). */
drudge_rec *drudge_rec_take_closed(drudge_rec *r);
/* How often a running attempt hands its closed steps over (`work`, `run`):
 * a process killed mid-attempt leaves on the chain what it had done by then
 * (and task.previous shows it to the retry). */
#define DRUDGE_REC_FLUSH_US 1000000
/* take_closed at most every DRUDGE_REC_FLUSH_US: NULL until the monotonic
 * clock reaches *next_us, which it then moves on. */
drudge_rec *drudge_rec_take_due(drudge_rec *r, int64_t *next_us);
void drudge_rec_on_end(drudge_rec *r, void (*fn)(drudge_rec *r, void *ud), void *ud);

/* --- replay --- */
/* Puts the recorder in replay mode with the steps recorded for an attempt
 * (takes ownership of steps[0..n) and payloads). */
void drudge_rec_replay_load(drudge_rec *r, drudge_step *steps, size_t n, drudge_payload *payloads,
                            size_t npayloads);
int drudge_rec_replaying(const drudge_rec *r);
/* The recorded response for the step just begun with seq, or NULL. */
const char *drudge_rec_replay_response(drudge_rec *r, int seq);
const drudge_payload *drudge_rec_replay_payload(drudge_rec *r, const char *sha256);
/* The recorded step for seq (its outcome and error too), or NULL beyond the
 * recording or when not replaying. */
const drudge_step *drudge_rec_replay_step(const drudge_rec *r, int seq);
/* After the replayed attempt: a recorded step the script never made is a
 * divergence too (with answers: an answer the script never asked for). */
void drudge_rec_replay_check_end(drudge_rec *r);
/* Replay mode with answers instead of a recording (a hand-written test
 * case, runner/work/casetest.c): the script's steps are not compared with
 * anything; each connector call takes the next answer in order (its
 * response, outcome and error), checked only against the answer's kind
 * and, if the answer gives one, a part of the call's name. Takes ownership
 * as drudge_rec_replay_load. */
void drudge_rec_answers_load(drudge_rec *r, drudge_step *answers, size_t n,
                             drudge_payload *payloads, size_t npayloads);
int drudge_rec_answering(const drudge_rec *r);
/* The next answer for the call of kind and name just begun, or NULL (a
 * divergence says why: none left, another kind, another name). */
const drudge_step *drudge_rec_next_answer(drudge_rec *r, const char *kind, const char *name);
/* The first divergence found ("" if none): a step whose kind, name, parent
 * or request differs (checked as it begins), a step(...) whose outcome
 * differs (as it ends), a step beyond the
 * recording, or one the script did not make. */
const char *drudge_rec_divergence(const drudge_rec *r);

/* The recorder of the attempt running in L (set by the host). */
drudge_rec *drudge_rec_from_lua(lua_State *L);

#endif

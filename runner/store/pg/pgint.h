/*
 * pgint.h: internals shared by the PostgreSQL backend's files: db.c (the
 * connection, reconnecting, statements, transactions, migration, the
 * methods table), schema.c (the tables), queue.c (tasks, leases, attempts),
 * audit.c (the chain, payloads, checkpoints), schedule.c, reads.c (the live
 * view, metrics, the report's scans), listen.c (wake-ups by LISTEN/NOTIFY)
 * and copy.c (rows in and out for `drudge db copy`).
 *
 * The backend is built as the loadable module drudge_pg.so (only a fleet
 * needs libpq); store.c opens it through drudge_pg_open.
 */
#ifndef DRUDGE_PGINT_H
#define DRUDGE_PGINT_H

#include <libpq-fe.h>
#include <pthread.h>
#include "drudge/util.h"
#include "runner/store/storeint.h"

#define PG_CACHE  128 /* prepared statements per connection (a power of 2) */
#define PG_PARAMS 24  /* parameters of one statement at most */

typedef struct pg_listener pg_listener;

typedef struct pg_store {
    drudge_store base;
    PGconn *conn;
    char *conninfo; /* as given: libpq reads passwords from its passfile or service */
    int flags;      /* DRUDGE_STORE_* */
    int sync_off;   /* DRUDGE_DURABILITY_NORMAL: synchronous_commit off */
    /* Statements prepared once per connection, by the address of their SQL
     * text (a string constant); forgotten when the connection is remade. */
    const char *cache[PG_CACHE];
    int nprepared;
    /* The open transaction. */
    int in_tx;
    drudge_tx how;
    /* The chain head, locked by the first chain_head or append of a write
     * transaction (see audit.c) and written back once at commit. */
    int head_locked, head_moved;
    int64_t head_id;
    char head_hash[65];
    /* Rows for one COPY not sent yet (step rows appended in this
     * transaction, rows of `db copy`): sent at the next statement or the
     * commit, instead of a round trip per row. */
    drudge_buf pending;
    const char *pending_sql; /* the COPY ... FROM STDIN they are for */
    int npending;
    /* Done tasks per script in this transaction (one upsert each at commit). */
    struct pg_done {
        char *script;
        int64_t n;
    } * done;
    size_t ndone;
    /* Attempts that ended in this transaction, per minute (one upsert each
     * at commit, into throughput). */
    drudge_minutes minutes;
    /* The earliest run_at made claimable in this transaction (0: none): the
     * commit notifies idle workers of it. */
    int64_t notify_at;
    /* Run windows: every spec enqueued, read at most once a second, and
     * those this connection recorded. */
    char **windows;
    size_t nwindows;
    int64_t windows_read;
    char **known_windows;
    size_t nknown;
    char origin[128]; /* host:pid, written beside each chain row */
    unsigned cursors; /* names for the cursors of walks */
    pg_listener *listener;
    int64_t bulk_added; /* tasks this bulk connection queued: ANALYZE when they outgrow ready */
} pg_store;

/* The store's own hot statements (a bulk load, a turn's outcomes) add
 * their changes to task_counts themselves, in a CTE over the rows they
 * wrote, and tell the statement trigger so through a flag the trigger
 * takes down again (schema v13): the trigger's joins of the old and new
 * rows cost more than the sums. PG_COUNTED goes in the WHERE of the final
 * SELECT over those rows; an uncorrelated subquery, it sets the flag once a
 * statement, not once a row. The statement trigger fires once for the
 * statement's INSERT or UPDATE of tasks whether or not it wrote rows, so
 * it always takes down the flag its own statement raised. */
#define PG_COUNTED "(SELECT set_config('drudge.counted', 'on', true)) IS NOT NULL"
/* As PG_COUNTED, for the trigger that puts new tasks in ready (schema
 * v17): the statement wrote their ready rows itself. */
#define PG_READIED "(SELECT set_config('drudge.readied', 'on', true)) IS NOT NULL"
/* The deltas of a turn's outcomes, from t (the updated rows, each queued
 * before): out of queued, into failed, dead or cancelled, and open. */
#define PG_COUNTS_OF_OUTCOMES                                                                      \
    "c AS (INSERT INTO task_counts SELECT script, st, sum(d) FROM t CROSS JOIN LATERAL "           \
    "  (VALUES ('queued', -1), (CASE WHEN t.state IN ('failed','dead','cancelled') THEN t.state "  \
    "  END, 1), (CASE WHEN t.state IN ('failed','dead') AND t.resolved_at IS NULL THEN 'open' "    \
    "  END, 1)) v(st, d) WHERE t.state <> 'queued' AND st IS NOT NULL GROUP BY 1, 2 "              \
    "  ORDER BY 1, 2 ON CONFLICT (script, state) DO UPDATE SET n = task_counts.n + excluded.n), "

static inline pg_store *pgs(drudge_store *s)
{
    return (pg_store *)s;
}

/* Parameters of one statement, in text form. */
typedef struct pg_params {
    int n;
    const char *v[PG_PARAMS];
    int len[PG_PARAMS];
    int fmt[PG_PARAMS];
    char num[PG_PARAMS][24];
} pg_params;
void pg_p_str(pg_params *p, const char *s); /* NULL: SQL null; s must outlive the call */
void pg_p_int(pg_params *p, int64_t v);
void pg_p_int_or_null(pg_params *p, int64_t v); /* 0: null */
void pg_p_double(pg_params *p, double v);
void pg_p_bytes(pg_params *p, const void *data, size_t len); /* bytea, binary */

/* Runs sql (a string constant: prepared once per connection) with p; the
 * result (PQclear it) or NULL with err set "database NAME: what: message".
 * Step rows waiting to be sent go first. */
PGresult *pg_q(pg_store *q, const char *sql, const pg_params *p, const char *what, drudge_err *err);
/* The same for a statement that returns no rows the caller wants; *changed
 * (may be NULL) gets the rows it changed. */
drudge_code pg_exec(pg_store *q, const char *sql, const pg_params *p, const char *what,
                    int64_t *changed, drudge_err *err);
/* Runs sql once, unprepared and without parameters (DDL, SET, cursors). */
drudge_code pg_simple(pg_store *q, const char *sql, const char *what, drudge_err *err);
/* One integer of a one-row query (*v untouched if no row or null). */
drudge_code pg_int(pg_store *q, const char *sql, const pg_params *p, const char *what, int64_t *v,
                   drudge_err *err);
/* Fills err from a failed result (or the connection): DRUDGE_EBUSY for a
 * lock not granted, DRUDGE_EDB otherwise. */
drudge_code pg_err(pg_store *q, PGresult *r, const char *what, drudge_err *err);

/* Field access: text or NULL; "" for NULL; integers and reals (0 for NULL). */
char *pg_strdup(const PGresult *r, int row, int col);
const char *pg_text(const PGresult *r, int row, int col);
int64_t pg_i64(const PGresult *r, int row, int col);
double pg_f64(const PGresult *r, int row, int col);

/* A text[] literal of strs (NULL-terminated), or NULL for none: malloc'd. */
char *pg_array(const char *const *strs);

/* Walks the rows of sql (with p) through a cursor, batch by batch, so a
 * walk of millions of rows holds one batch in memory and fn may use the
 * store between batches (another walk included). fn returns non-zero to
 * stop. Outside a transaction the walk runs in a read-only one of its own. */
typedef int (*pg_row_fn)(void *ud, const PGresult *r, int row);
drudge_code pg_walk(pg_store *q, const char *sql, const pg_params *p, const char *what,
                    pg_row_fn fn, void *ud, drudge_err *err);

/* Own-transaction operations: begin a write transaction (reconnecting if
 * the server went away), commit it, roll it back. */
drudge_code pg_begin(pg_store *q, drudge_err *err);
drudge_code pg_commit(pg_store *q, drudge_err *err);
void pg_rollback(pg_store *q);

/* Notes one more done task of script for the commit. */
void pg_count_done(pg_store *q, const char *script);
/* Counts an attempt's outcome toward its minute (written at commit). */
drudge_code pg_count_attempt(pg_store *q, const char *outcome, int64_t ended_at, drudge_err *err);
drudge_code pg_throughput(drudge_store *s, int64_t since, drudge_minute_count **out, size_t *n,
                          drudge_err *err);
/* Notes that tasks became claimable at run_at (the commit notifies). */
void pg_note_ready(pg_store *q, int64_t run_at);
/* The buffer for rows of the COPY command copy_sql (a string that stays),
 * after sending those of another command; NULL with err set if that fails.
 * The caller appends one row and counts it in q->npending. */
drudge_buf *pg_pending(pg_store *q, const char *copy_sql, drudge_err *err);
/* Sends the rows waiting (one COPY). */
drudge_code pg_flush_pending(pg_store *q, drudge_err *err);
/* Runs copy_sql and sends len bytes of COPY text as its data. */
drudge_code pg_copy_send(pg_store *q, const char *copy_sql, const char *data, size_t len,
                         const char *what, drudge_err *err);
/* Appends a text field of a COPY row (NULL: \N), then sep. */
void pg_copy_text(drudge_buf *b, const char *s, char sep);
/* Appends an integer field of a COPY row (\N for 0 where null_if_zero),
 * then sep. */
void pg_copy_int(drudge_buf *b, int64_t v, int null_if_zero, char sep);
/* Writes the chain head back if this transaction moved it. */
drudge_code pg_head_write(pg_store *q, drudge_err *err);
/* The run windows closed at now, as a text[] literal (NULL: none closed). */
drudge_code pg_closed_windows(pg_store *q, int64_t now, char **out, drudge_err *err);
/* Records spec as a window some task waits for. */
drudge_code pg_note_window(pg_store *q, const char *spec, drudge_err *err);

/* schema.c: migrations; element i brings the schema from version i to i+1. */
extern const char *const pg_migrations[];
/* The NOTIFY channel of claimable work. */
#define PG_CHANNEL "drudge_work"

/* The operations, by file. */
/* queue.c */
drudge_code pg_enqueue(drudge_store *s, const drudge_task_spec *specs, size_t n, int64_t now,
                       int64_t *id, int *dup, int64_t *added, int64_t *duplicates, drudge_err *err);
drudge_code pg_known_script(drudge_store *s, const char *name, drudge_task_spec *spec,
                            drudge_err *err);
drudge_code pg_claim(drudge_store *s, const drudge_claim_req *req, drudge_claimed **out, size_t *n,
                     drudge_err *err);
drudge_code pg_start_adhoc(drudge_store *s, const drudge_task_spec *spec, const char *owner,
                           int64_t now, int64_t lease_until, int64_t *id, drudge_err *err);
drudge_code pg_finish_many(drudge_store *s, const char *owner, const drudge_attempt_end *e,
                           size_t n, int *held, drudge_err *err);
drudge_code pg_finish(drudge_store *s, const char *owner, const drudge_attempt_end *e, int *held,
                      drudge_err *err);
drudge_code pg_release(drudge_store *s, const char *owner, int64_t task_id, drudge_err *err);
drudge_code pg_mark_started(drudge_store *s, const char *owner, const int64_t *ids, size_t n,
                            drudge_err *err);
drudge_code pg_unclaim(drudge_store *s, const char *owner, int64_t task_id, int *held,
                       drudge_err *err);
drudge_code pg_renew(drudge_store *s, const char *owner, int64_t until, drudge_err *err);
drudge_code pg_cancel_requests(drudge_store *s, const char *owner, int64_t *ids, size_t max,
                               size_t *n, drudge_err *err);
drudge_code pg_cancel_requested(drudge_store *s, int64_t task_id, int *requested, drudge_err *err);
drudge_code pg_expired(drudge_store *s, int64_t now, drudge_expired **out, size_t *n,
                       drudge_err *err);
drudge_code pg_expire_leases(drudge_store *s, int64_t now, drudge_err *err);
drudge_code pg_leases_like(drudge_store *s, const char *prefix, int64_t now,
                           void (*fn)(void *ud, const char *owner), void *ud, drudge_err *err);
drudge_code pg_end_lease(drudge_store *s, const char *owner, int64_t until, drudge_err *err);
drudge_code pg_drop_lease(drudge_store *s, const char *owner, drudge_err *err);
drudge_code pg_idle(drudge_store *s, int64_t now, const char *const *scripts, int *idle,
                    drudge_err *err);
/* waiting.c */
drudge_code pg_paused(drudge_store *s, int (*fn)(void *ud, const drudge_paused_row *p), void *ud,
                      drudge_err *err);
drudge_code pg_waiting(drudge_store *s, int64_t now, const char *script,
                       int (*fn)(void *ud, const drudge_waiting_group *g), void *ud,
                       drudge_err *err);
drudge_code pg_list(drudge_store *s, const drudge_task_filter *f, drudge_task_row **rows, size_t *n,
                    drudge_err *err);
drudge_code pg_get(drudge_store *s, int64_t id, drudge_task_row *task,
                   drudge_attempt_row **attempts, size_t *n, drudge_err *err);
drudge_code pg_task_state(drudge_store *s, int64_t id, char state[16], drudge_err *err);
drudge_code pg_status(drudge_store *s, int64_t now, drudge_queue_stats *out, drudge_err *err);
drudge_code pg_retry(drudge_store *s, int64_t id, int64_t now, int64_t *changed, drudge_err *err);
drudge_code pg_retry_all(drudge_store *s, const char *state, const char *script, int64_t now,
                         int64_t *changed, drudge_err *err);
drudge_code pg_put_script_version(drudge_store *s, const drudge_script_version *v, int64_t now,
                                  drudge_err *err);
drudge_code pg_script_version(drudge_store *s, const char *sha256, drudge_script_version *out,
                              drudge_err *err);
drudge_code pg_script_file(drudge_store *s, const char *sha256, unsigned char **data, size_t *len,
                           drudge_err *err);
drudge_code pg_script_versions(drudge_store *s, const char *script,
                               int (*fn)(void *ud, const drudge_script_version_use *v), void *ud,
                               drudge_err *err);
drudge_code pg_backup(drudge_store *s, const char *path, int64_t *pages, drudge_err *err);
/* breaker.c */
drudge_code pg_breaker(drudge_store *s, const drudge_breaker_event *ev, int *changed,
                       int64_t *outage_id, drudge_err *err);
drudge_code pg_deadlines(drudge_store *s, const drudge_deadline_query *dq,
                         int (*fn)(void *ud, const drudge_deadline_row *r), void *ud,
                         drudge_err *err);
drudge_code pg_breakers(drudge_store *s, drudge_outage_fn fn, void *ud, drudge_err *err);
drudge_code pg_outages(drudge_store *s, int64_t since, drudge_outage_fn fn, void *ud,
                       drudge_err *err);
drudge_code pg_task_facts(drudge_store *s, int (*fn)(void *ud, const drudge_task_facts *t),
                          void *ud, drudge_err *err);
drudge_code pg_cancel(drudge_store *s, int64_t id, const char *who, int64_t now, int64_t *changed,
                      int *deferred, drudge_err *err);
drudge_code pg_pause(drudge_store *s, const char *script, const char *who, int64_t now,
                     int64_t *changed, drudge_err *err);
drudge_code pg_resume(drudge_store *s, const char *script, int64_t *changed, drudge_err *err);
drudge_code pg_resolve(drudge_store *s, int64_t id, const char *who, const char *note, int64_t now,
                       int64_t *changed, drudge_err *err);
drudge_code pg_next_due(drudge_store *s, int64_t *run_at, drudge_err *err);
/* The earliest run_at in ready after $1 (0 if none): for the listener. */
extern const char pg_next_sql[];

/* audit.c */
drudge_code pg_steps(drudge_store *s, const drudge_step_filter *f, drudge_step_fn fn, void *ud,
                     drudge_err *err);
drudge_code pg_chain_head(drudge_store *s, int64_t *id, char hash[65], drudge_err *err);
drudge_code pg_step_hash(drudge_store *s, int64_t id, char hash[65], drudge_err *err);
drudge_code pg_append_step(drudge_store *s, int64_t id, int64_t task_id, int attempt,
                           const drudge_step *step, const char *hash, drudge_err *err);
drudge_code pg_append_steps(drudge_store *s, const drudge_step_row *rows, size_t n,
                            drudge_err *err);
drudge_code pg_put_payload(drudge_store *s, const drudge_payload *p, int64_t now, drudge_err *err);
drudge_code pg_payload(drudge_store *s, const char *sha256, int want_data, drudge_payload_row *out,
                       drudge_err *err);
drudge_code pg_payloads(drudge_store *s, int (*fn)(void *ud, const drudge_payload_row *p), void *ud,
                        drudge_err *err);
drudge_code pg_payload_referrer(drudge_store *s, const char *sha256, drudge_step_row *out,
                                drudge_err *err);
drudge_code pg_prune(drudge_store *s, int64_t cutoff, int64_t now, int dry_run, int64_t *n,
                     int64_t *bytes, drudge_err *err);
drudge_code pg_checkpoints(drudge_store *s, drudge_checkpoint_row **out, size_t *n,
                           drudge_err *err);
drudge_code pg_last_checkpoint(drudge_store *s, drudge_checkpoint_row *out, int *found,
                               drudge_err *err);
drudge_code pg_add_checkpoint(drudge_store *s, drudge_checkpoint_row *c, drudge_err *err);
drudge_code pg_count_steps(drudge_store *s, int64_t upto_id, int64_t *n, drudge_err *err);
drudge_code pg_attempts_unchained(drudge_store *s, int64_t *task_id, int *attempt,
                                  int64_t *ended_at, int64_t *count, drudge_err *err);
drudge_code pg_last_recorded_attempt(drudge_store *s, int64_t task_id, int *attempt,
                                     drudge_err *err);

/* schedule.c */
drudge_code pg_schedule_add(drudge_store *s, const drudge_schedule *sc, int64_t now,
                            drudge_err *err);
drudge_code pg_schedule_remove(drudge_store *s, const char *name, drudge_err *err);
drudge_code pg_schedule_set_paused(drudge_store *s, const char *name, int paused, int64_t now,
                                   drudge_err *err);
drudge_code pg_schedules(drudge_store *s, int active_only, drudge_schedule **out, int *n,
                         drudge_err *err);
drudge_code pg_schedule_advance(drudge_store *s, const char *name, int64_t tick, drudge_err *err);

/* reads.c */
drudge_code pg_finished(drudge_store *s, const char *script,
                        int (*fn)(void *ud, const drudge_finished_row *t), void *ud,
                        drudge_err *err);
drudge_code pg_attempt_times(drudge_store *s, int (*fn)(void *ud, int64_t task_id, int64_t us),
                             void *ud, drudge_err *err);
drudge_code pg_backlog(drudge_store *s, const char *script,
                       int (*fn)(void *ud, const char *script, int64_t queued, int64_t running),
                       void *ud, drudge_err *err);
drudge_code pg_backlogs(drudge_store *s, int64_t now, int64_t rate_window, int64_t recent,
                        drudge_backlog_row *rows, int max, int *n, int *workers, drudge_err *err);
drudge_code pg_metrics(drudge_store *s, int64_t now, int64_t steps_from, drudge_step_time_fn fn,
                       void *ud, drudge_metrics_data *out, drudge_err *err);

/* listen.c */
drudge_code pg_watch(drudge_store *s, void (*wake)(void *ud), void *ud, drudge_err *err);
void pg_listener_stop(pg_store *q);

/* copy.c */
drudge_code pg_copy_out(drudge_store *s, const drudge_copy_table *t, drudge_copy_fn fn, void *ud,
                        drudge_err *err);
drudge_code pg_copy_in(drudge_store *s, const drudge_copy_row *row, drudge_err *err);
drudge_code pg_copy_finish(drudge_store *s, drudge_err *err);
drudge_code pg_empty(drudge_store *s, int *empty, drudge_err *err);

/* db.c: the entry point store.c looks up in the module. */
drudge_code drudge_pg_open(const char *url, int flags, drudge_store **out, drudge_err *err);
/* A fresh connection to the same database (the listener's), or NULL with err. */
PGconn *pg_connect(const char *conninfo, const char *name, drudge_err *err);

/* room.c */
drudge_code pg_user_add(drudge_store *s, const drudge_room_user *u, int64_t now, drudge_err *err);
drudge_code pg_user_set(drudge_store *s, const char *name, const char *role, const char *hash,
                        int disabled, int64_t now, drudge_err *err);
drudge_code pg_user(drudge_store *s, const char *name, drudge_room_user *out, drudge_err *err);
drudge_code pg_users(drudge_store *s, drudge_room_user **out, size_t *n, drudge_err *err);
drudge_code pg_key_add(drudge_store *s, const drudge_room_key *k, drudge_err *err);
drudge_code pg_key_find(drudge_store *s, const char *hash, int64_t now, drudge_room_key *key,
                        drudge_room_user *user, drudge_err *err);
drudge_code pg_key_drop(drudge_store *s, const char *hash, int *dropped, drudge_err *err);
drudge_code pg_keys(drudge_store *s, const char *user, const char *kind, drudge_room_key **out,
                    size_t *n, drudge_err *err);
drudge_code pg_keys_drop(drudge_store *s, const char *user, const char *kind, const char *keep_hash,
                         int64_t *dropped, drudge_err *err);
drudge_code pg_login_fails(drudge_store *s, const char *user_who, const char *addr_who,
                           int64_t since, int *count, drudge_err *err);
drudge_code pg_login_note(drudge_store *s, const char *who, int64_t now, int64_t since, int failed,
                          drudge_err *err);

/* notify.c */
drudge_code pg_notify_add(drudge_store *s, const drudge_notify_channel *c, int64_t now, int64_t *id,
                          drudge_err *err);
drudge_code pg_notify_remove(drudge_store *s, int64_t id, int64_t now, int *removed,
                             drudge_err *err);
drudge_code pg_notify_channels(drudge_store *s, drudge_notify_channel_fn fn, void *ud,
                               drudge_err *err);
drudge_code pg_notify_queue(drudge_store *s, int64_t channel_id, const char *category,
                            const char *event, const char *payload, int64_t now, int64_t *queued,
                            drudge_err *err);
drudge_code pg_notify_claim(drudge_store *s, const char *owner, int64_t now, int64_t lease_until,
                            int max, int64_t only_id, drudge_notify_row_fn fn, void *ud,
                            drudge_err *err);
drudge_code pg_notify_done(drudge_store *s, int64_t id, const char *owner, int outcome,
                           const char *error, int64_t now, int64_t next_due, int *changed,
                           drudge_err *err);
drudge_code pg_notify_log(drudge_store *s, int64_t since, int limit, drudge_notify_row_fn fn,
                          void *ud, drudge_err *err);
drudge_code pg_notify_counts(drudge_store *s, int64_t due_by, int64_t *sent, int64_t *failed,
                             int64_t *pending, drudge_err *err);
drudge_code pg_notify_mark_get(drudge_store *s, int64_t channel_id, const char *name, int64_t *at,
                               drudge_err *err);
drudge_code pg_notify_mark_set(drudge_store *s, int64_t channel_id, const char *name,
                               int64_t expect, int64_t at, int *won, drudge_err *err);

#endif

/*
 * sqliteint.h: internals shared by the SQLite backend's files: db.c
 * (connection, schema migration, transactions, the methods table), schema.c
 * (the tables), queue.c (tasks, leases, attempts), audit.c (the chain,
 * payloads, checkpoints), schedule.c (schedules), report.c (what the
 * time-saved report reads), reads.c (what the live view and metrics read).
 */
#ifndef DRUDGE_SQLITEINT_H
#define DRUDGE_SQLITEINT_H

#include <sqlite3.h>
#include "runner/store/storeint.h"

#define SQ_CACHE 128 /* prepared statements kept per connection (a power of 2) */

/* The task_counts rows the store adds to itself (schema.c, v14). */
#define SQ_NCOUNTS 5
extern const char *const sq_count_names[SQ_NCOUNTS]; /* queued failed dead cancelled open */

typedef struct sq_store {
    drudge_store base;
    sqlite3 *db;
    int flags; /* DRUDGE_STORE_* it was opened with */
    /* Statements prepared once and kept, by the address of their SQL text
     * (a string constant): see sq_stmt. */
    struct {
        const char *sql;
        sqlite3_stmt *st;
    } cache[SQ_CACHE];
    /* Tasks that reached 'done' in the open write transaction, per script:
     * added to done_counts once, just before it commits (one row per
     * script instead of one update per task); and the change in its queued
     * tasks from enqueues and those outcomes, added to task_counts alike
     * (schema.c, v14). */
    struct sq_done {
        char *script;
        int64_t n;
        int64_t counts[SQ_NCOUNTS]; /* changes to task_counts, by sq_count_names */
    } * done;
    size_t ndone;
    /* Attempts that ended in the open write transaction, per minute: added
     * to throughput just before it commits, as done_counts. */
    drudge_minutes minutes;
    char origin[128]; /* host:pid, written beside each chain row it appends */
} sq_store;

static inline sq_store *sq(drudge_store *s)
{
    return (sq_store *)s;
}

/* Fills err with "database NAME: what: SQLite's message"; DRUDGE_EBUSY for
 * a lock held past the busy timeout, else DRUDGE_EDB. */
drudge_code sq_err(sq_store *q, const char *what, drudge_err *err);
/* Runs sql (no rows), naming what on failure. */
drudge_code sq_exec(sq_store *q, const char *sql, const char *what, drudge_err *err);
/* The cached statement for sql, a string constant (its address is the key),
 * reset; NULL with err set if it does not prepare. Its bindings are those
 * of its last use (clearing them cost a bulk load 1.5% of its instructions):
 * bind every parameter, NULL included. Never finalize it: the store does on
 * close. */
sqlite3_stmt *sq_stmt(sq_store *q, const char *sql, const char *what, drudge_err *err);
/* Steps a statement, already bound, that returns at most one row of one
 * integer, into *v (left as it is when there is no row); resets it. */
drudge_code sq_one_int(sq_store *q, sqlite3_stmt *st, const char *what, int64_t *v,
                       drudge_err *err);
/* The cached statement sql with ?1 = arg (if it has a parameter), run by
 * sq_one_int. */
drudge_code sq_int(sq_store *q, const char *sql, const char *what, int64_t arg, int64_t *v,
                   drudge_err *err);
/* Steps a statement that returns no rows and resets it. */
drudge_code sq_done(sq_store *q, sqlite3_stmt *st, const char *what, drudge_err *err);
/* Binds s, or NULL as SQL null. */
void sq_bind_text(sqlite3_stmt *st, int i, const char *s);
/* A copy of column i's text, or NULL. */
char *sq_col_strdup(sqlite3_stmt *st, int i);
/* Column i's text, or "" for NULL (for NOT NULL columns someone may have
 * changed by hand). */
const char *sq_col_text(sqlite3_stmt *st, int i);
/* Notes one more done task of script (NULL: of task_id, looked up) for
 * the commit. */
drudge_code sq_count_done(sq_store *q, const char *script, int64_t task_id, drudge_err *err);
/* Adds n to task_counts' row (script, state) at the commit, or at once
 * outside a transaction; a NULL script is task_id's. state is one of
 * sq_count_names. */
drudge_code sq_count_task(sq_store *q, const char *script, int64_t task_id, const char *state,
                          int64_t n, drudge_err *err);
/* Begins an IMMEDIATE transaction, or commits/rolls back one, for the
 * operations that run in a transaction of their own. */
drudge_code sq_begin(sq_store *q, drudge_err *err);
drudge_code sq_commit(sq_store *q, drudge_err *err);
void sq_rollback(sq_store *q);
/* sqlite3_changes of the last statement. */
int64_t sq_changes(sq_store *q);
/* Registers the SQL functions claims use (run windows). */
drudge_code sq_register_functions(sq_store *q, drudge_err *err);
/* Registers drudge_in_window(spec, now_us) on any connection (queue.c). */
drudge_code drudge_window_register(sqlite3 *db, drudge_err *err);

/* schema.c: each area's migrations; element i brings its tables from
 * version i to i+1 ("" when it has nothing to change then). Append new
 * steps; never edit a released one. */
extern const char *const sq_queue_migrations[];
extern const char *const sq_audit_migrations[];
extern const char *const sq_schedule_migrations[];

/* The operations, one per method (storeint.h), by file. */

/* breaker.c */
drudge_code sq_breaker(drudge_store *s, const drudge_breaker_event *ev, int *changed,
                       int64_t *outage_id, drudge_err *err);
drudge_code sq_deadlines(drudge_store *s, const drudge_deadline_query *dq,
                         int (*fn)(void *ud, const drudge_deadline_row *r), void *ud,
                         drudge_err *err);
drudge_code sq_breakers(drudge_store *s, drudge_outage_fn fn, void *ud, drudge_err *err);
drudge_code sq_outages(drudge_store *s, int64_t since, drudge_outage_fn fn, void *ud,
                       drudge_err *err);

/* queue.c */
drudge_code sq_enqueue(drudge_store *s, const drudge_task_spec *specs, size_t n, int64_t now,
                       int64_t *id, int *dup, int64_t *added, int64_t *duplicates, drudge_err *err);
drudge_code sq_known_script(drudge_store *s, const char *name, drudge_task_spec *spec,
                            drudge_err *err);
drudge_code sq_claim(drudge_store *s, const drudge_claim_req *req, drudge_claimed **out, size_t *n,
                     drudge_err *err);
drudge_code sq_start_adhoc(drudge_store *s, const drudge_task_spec *spec, const char *owner,
                           int64_t now, int64_t lease_until, int64_t *id, drudge_err *err);
drudge_code sq_finish(drudge_store *s, const char *owner, const drudge_attempt_end *e, int *held,
                      drudge_err *err);
drudge_code sq_release(drudge_store *s, const char *owner, int64_t task_id, drudge_err *err);
drudge_code sq_mark_started(drudge_store *s, const char *owner, const int64_t *ids, size_t n,
                            drudge_err *err);
drudge_code sq_unclaim(drudge_store *s, const char *owner, int64_t task_id, int *held,
                       drudge_err *err);
drudge_code sq_renew(drudge_store *s, const char *owner, int64_t until, drudge_err *err);
drudge_code sq_cancel_requests(drudge_store *s, const char *owner, int64_t *ids, size_t max,
                               size_t *n, drudge_err *err);
drudge_code sq_cancel_requested(drudge_store *s, int64_t task_id, int *requested, drudge_err *err);
drudge_code sq_expired(drudge_store *s, int64_t now, drudge_expired **out, size_t *n,
                       drudge_err *err);
drudge_code sq_expire_leases(drudge_store *s, int64_t now, drudge_err *err);
drudge_code sq_leases_like(drudge_store *s, const char *prefix, int64_t now,
                           void (*fn)(void *ud, const char *owner), void *ud, drudge_err *err);
drudge_code sq_end_lease(drudge_store *s, const char *owner, int64_t until, drudge_err *err);
drudge_code sq_drop_lease(drudge_store *s, const char *owner, drudge_err *err);
drudge_code sq_idle(drudge_store *s, int64_t now, const char *const *scripts, int *idle,
                    drudge_err *err);
drudge_code sq_list(drudge_store *s, const drudge_task_filter *f, drudge_task_row **rows, size_t *n,
                    drudge_err *err);
drudge_code sq_get(drudge_store *s, int64_t id, drudge_task_row *task,
                   drudge_attempt_row **attempts, size_t *n, drudge_err *err);
drudge_code sq_task_state(drudge_store *s, int64_t id, char state[16], drudge_err *err);
drudge_code sq_status(drudge_store *s, int64_t now, drudge_queue_stats *out, drudge_err *err);
drudge_code sq_retry(drudge_store *s, int64_t id, int64_t now, int64_t *changed, drudge_err *err);
drudge_code sq_retry_all(drudge_store *s, const char *state, const char *script, int64_t now,
                         int64_t *changed, drudge_err *err);
drudge_code sq_put_script_version(drudge_store *s, const drudge_script_version *v, int64_t now,
                                  drudge_err *err);
drudge_code sq_script_version(drudge_store *s, const char *sha256, drudge_script_version *out,
                              drudge_err *err);
drudge_code sq_script_file(drudge_store *s, const char *sha256, unsigned char **data, size_t *len,
                           drudge_err *err);
drudge_code sq_script_versions(drudge_store *s, const char *script,
                               int (*fn)(void *ud, const drudge_script_version_use *v), void *ud,
                               drudge_err *err);
drudge_code sq_backup(drudge_store *s, const char *path, int64_t *pages, drudge_err *err);
/* waiting.c */
drudge_code sq_paused(drudge_store *s, int (*fn)(void *ud, const drudge_paused_row *p), void *ud,
                      drudge_err *err);
drudge_code sq_waiting(drudge_store *s, int64_t now, const char *script,
                       int (*fn)(void *ud, const drudge_waiting_group *g), void *ud,
                       drudge_err *err);
drudge_code sq_task_facts(drudge_store *s, int (*fn)(void *ud, const drudge_task_facts *t),
                          void *ud, drudge_err *err);
drudge_code sq_cancel(drudge_store *s, int64_t id, const char *who, int64_t now, int64_t *changed,
                      int *deferred, drudge_err *err);
drudge_code sq_pause(drudge_store *s, const char *script, const char *who, int64_t now,
                     int64_t *changed, drudge_err *err);
drudge_code sq_resume(drudge_store *s, const char *script, int64_t *changed, drudge_err *err);
drudge_code sq_resolve(drudge_store *s, int64_t id, const char *who, const char *note, int64_t now,
                       int64_t *changed, drudge_err *err);
drudge_code sq_next_due(drudge_store *s, int64_t *run_at, drudge_err *err);

/* audit.c */
drudge_code sq_steps(drudge_store *s, const drudge_step_filter *f, drudge_step_fn fn, void *ud,
                     drudge_err *err);
drudge_code sq_chain_head(drudge_store *s, int64_t *id, char hash[65], drudge_err *err);
drudge_code sq_step_hash(drudge_store *s, int64_t id, char hash[65], drudge_err *err);
drudge_code sq_append_step(drudge_store *s, int64_t id, int64_t task_id, int attempt,
                           const drudge_step *step, const char *hash, drudge_err *err);
drudge_code sq_append_steps(drudge_store *s, const drudge_step_row *rows, size_t n,
                            drudge_err *err);
drudge_code sq_put_payload(drudge_store *s, const drudge_payload *p, int64_t now, drudge_err *err);
drudge_code sq_payload(drudge_store *s, const char *sha256, int want_data, drudge_payload_row *out,
                       drudge_err *err);
drudge_code sq_payloads(drudge_store *s, int (*fn)(void *ud, const drudge_payload_row *p), void *ud,
                        drudge_err *err);
drudge_code sq_payload_referrer(drudge_store *s, const char *sha256, drudge_step_row *out,
                                drudge_err *err);
drudge_code sq_prune(drudge_store *s, int64_t cutoff, int64_t now, int dry_run, int64_t *n,
                     int64_t *bytes, drudge_err *err);
drudge_code sq_checkpoints(drudge_store *s, drudge_checkpoint_row **out, size_t *n,
                           drudge_err *err);
drudge_code sq_last_checkpoint(drudge_store *s, drudge_checkpoint_row *out, int *found,
                               drudge_err *err);
drudge_code sq_add_checkpoint(drudge_store *s, drudge_checkpoint_row *c, drudge_err *err);
drudge_code sq_count_steps(drudge_store *s, int64_t upto_id, int64_t *n, drudge_err *err);
drudge_code sq_attempts_unchained(drudge_store *s, int64_t *task_id, int *attempt,
                                  int64_t *ended_at, int64_t *count, drudge_err *err);
drudge_code sq_last_recorded_attempt(drudge_store *s, int64_t task_id, int *attempt,
                                     drudge_err *err);

/* schedule.c */
drudge_code sq_schedule_add(drudge_store *s, const drudge_schedule *sc, int64_t now,
                            drudge_err *err);
drudge_code sq_schedule_remove(drudge_store *s, const char *name, drudge_err *err);
drudge_code sq_schedule_set_paused(drudge_store *s, const char *name, int paused, int64_t now,
                                   drudge_err *err);
drudge_code sq_schedules(drudge_store *s, int active_only, drudge_schedule **out, int *n,
                         drudge_err *err);
drudge_code sq_schedule_advance(drudge_store *s, const char *name, int64_t tick, drudge_err *err);

/* report.c */
drudge_code sq_finished(drudge_store *s, const char *script,
                        int (*fn)(void *ud, const drudge_finished_row *t), void *ud,
                        drudge_err *err);
drudge_code sq_attempt_times(drudge_store *s, int (*fn)(void *ud, int64_t task_id, int64_t us),
                             void *ud, drudge_err *err);
drudge_code sq_backlog(drudge_store *s, const char *script,
                       int (*fn)(void *ud, const char *script, int64_t queued, int64_t running),
                       void *ud, drudge_err *err);
/* copy.c (`drudge db copy`) */
drudge_code sq_copy_out(drudge_store *s, const drudge_copy_table *t, drudge_copy_fn fn, void *ud,
                        drudge_err *err);
drudge_code sq_copy_in(drudge_store *s, const drudge_copy_row *row, drudge_err *err);
drudge_code sq_copy_finish(drudge_store *s, drudge_err *err);
drudge_code sq_empty(drudge_store *s, int *empty, drudge_err *err);

/* reads.c */
drudge_code sq_backlogs(drudge_store *s, int64_t now, int64_t rate_window, int64_t recent,
                        drudge_backlog_row *rows, int max, int *n, int *workers, drudge_err *err);
drudge_code sq_metrics(drudge_store *s, int64_t now, int64_t steps_from, drudge_step_time_fn fn,
                       void *ud, drudge_metrics_data *out, drudge_err *err);

/* room.c */
drudge_code sq_user_add(drudge_store *s, const drudge_room_user *u, int64_t now, drudge_err *err);
drudge_code sq_user_set(drudge_store *s, const char *name, const char *role, const char *hash,
                        int disabled, int64_t now, drudge_err *err);
drudge_code sq_user(drudge_store *s, const char *name, drudge_room_user *out, drudge_err *err);
drudge_code sq_users(drudge_store *s, drudge_room_user **out, size_t *n, drudge_err *err);
drudge_code sq_key_add(drudge_store *s, const drudge_room_key *k, drudge_err *err);
drudge_code sq_key_find(drudge_store *s, const char *hash, int64_t now, drudge_room_key *key,
                        drudge_room_user *user, drudge_err *err);
drudge_code sq_key_drop(drudge_store *s, const char *hash, int *dropped, drudge_err *err);
/* Counts an attempt's outcome toward its minute (flushed at commit). */
drudge_code sq_count_attempt(sq_store *q, const char *outcome, int64_t ended_at, drudge_err *err);
drudge_code sq_throughput(drudge_store *s, int64_t since, drudge_minute_count **out, size_t *n,
                          drudge_err *err);
drudge_code sq_keys(drudge_store *s, const char *user, const char *kind, drudge_room_key **out,
                    size_t *n, drudge_err *err);
drudge_code sq_keys_drop(drudge_store *s, const char *user, const char *kind, const char *keep_hash,
                         int64_t *dropped, drudge_err *err);
drudge_code sq_login_fails(drudge_store *s, const char *user_who, const char *addr_who,
                           int64_t since, int *count, drudge_err *err);
drudge_code sq_login_note(drudge_store *s, const char *who, int64_t now, int64_t since, int failed,
                          drudge_err *err);

/* notify.c */
drudge_code sq_notify_add(drudge_store *s, const drudge_notify_channel *c, int64_t now, int64_t *id,
                          drudge_err *err);
drudge_code sq_notify_remove(drudge_store *s, int64_t id, int64_t now, int *removed,
                             drudge_err *err);
drudge_code sq_notify_channels(drudge_store *s, drudge_notify_channel_fn fn, void *ud,
                               drudge_err *err);
drudge_code sq_notify_queue(drudge_store *s, int64_t channel_id, const char *category,
                            const char *event, const char *payload, int64_t now, int64_t *queued,
                            drudge_err *err);
drudge_code sq_notify_claim(drudge_store *s, const char *owner, int64_t now, int64_t lease_until,
                            int max, int64_t only_id, drudge_notify_row_fn fn, void *ud,
                            drudge_err *err);
drudge_code sq_notify_done(drudge_store *s, int64_t id, const char *owner, int outcome,
                           const char *error, int64_t now, int64_t next_due, int *changed,
                           drudge_err *err);
drudge_code sq_notify_log(drudge_store *s, int64_t since, int limit, drudge_notify_row_fn fn,
                          void *ud, drudge_err *err);
drudge_code sq_notify_counts(drudge_store *s, int64_t due_by, int64_t *sent, int64_t *failed,
                             int64_t *pending, drudge_err *err);
drudge_code sq_notify_mark_get(drudge_store *s, int64_t channel_id, const char *name, int64_t *at,
                               drudge_err *err);
drudge_code sq_notify_mark_set(drudge_store *s, int64_t channel_id, const char *name,
                               int64_t expect, int64_t at, int *won, drudge_err *err);

#endif

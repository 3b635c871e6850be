/*
 * storeint.h: what a storage backend fills in (runner/store/sqlite/, and a
 * PostgreSQL backend beside it): one function per operation of store.h,
 * with the same contract, in a table the handle points to, as SQLite's VFS
 * does. A backend's handle struct starts with a drudge_store.
 */
#ifndef DRUDGE_STOREINT_H
#define DRUDGE_STOREINT_H

#include "runner/store/store.h"

/* Attempts that ended in one write transaction, per minute: each backend
 * adds them to its throughput table just before the commit (one upsert a
 * minute instead of a row per attempt). */
typedef struct drudge_minute {
    int64_t minute, done, failed;
} drudge_minute;
typedef struct drudge_minutes {
    drudge_minute m[4];
    int n;
} drudge_minutes;
/* Counts an attempt with outcome that ended at ended_at (µs). Returns 1
 * with *spill set when that minute must be written now (a transaction
 * spans a minute or two; past four, the odd one goes at once), else 0. */
int drudge_minutes_add(drudge_minutes *acc, const char *outcome, int64_t ended_at,
                       drudge_minute *spill /* OUT */);

typedef struct drudge_store_methods drudge_store_methods;

struct drudge_store {
    const drudge_store_methods *m;
    char *name; /* for messages: the path, or host/dbname */
};

struct drudge_store_methods {
    const char *engine; /* "sqlite", "postgresql" */
    void (*close)(drudge_store *s);
    drudge_code (*set_durability)(drudge_store *s, drudge_durability d, drudge_err *err);
    void (*trim)(drudge_store *s);
    drudge_code (*sync)(drudge_store *s, drudge_err *err);
    drudge_code (*begin)(drudge_store *s, drudge_tx how, drudge_err *err);
    drudge_code (*commit)(drudge_store *s, drudge_err *err);
    void (*rollback)(drudge_store *s);
    drudge_code (*enqueue)(drudge_store *s, const drudge_task_spec *specs, size_t n, int64_t now,
                           int64_t *id /* OUT, n or NULL */, int *dup /* OUT, n or NULL */,
                           int64_t *added /* OUT */, int64_t *duplicates /* OUT */,
                           drudge_err *err);
    drudge_code (*known_script)(drudge_store *s, const char *name, drudge_task_spec *spec /* OUT */,
                                drudge_err *err);
    drudge_code (*claim)(drudge_store *s, const drudge_claim_req *req,
                         drudge_claimed **out /* OUT */, size_t *n /* OUT */, drudge_err *err);
    drudge_code (*start_adhoc)(drudge_store *s, const drudge_task_spec *spec, const char *owner,
                               int64_t now, int64_t lease_until, int64_t *id /* OUT */,
                               drudge_err *err);
    drudge_code (*finish)(drudge_store *s, const char *owner, const drudge_attempt_end *e,
                          int *held /* OUT */, drudge_err *err);
    /* Optional (NULL: finish, one by one). */
    drudge_code (*finish_many)(drudge_store *s, const char *owner, const drudge_attempt_end *e,
                               size_t n, int *held /* OUT */, drudge_err *err);
    drudge_code (*release)(drudge_store *s, const char *owner, int64_t task_id, drudge_err *err);
    drudge_code (*mark_started)(drudge_store *s, const char *owner, const int64_t *ids, size_t n,
                                drudge_err *err);
    drudge_code (*unclaim)(drudge_store *s, const char *owner, int64_t task_id, int *held /* OUT */,
                           drudge_err *err);
    drudge_code (*renew)(drudge_store *s, const char *owner, int64_t until, drudge_err *err);
    drudge_code (*cancel_requests)(drudge_store *s, const char *owner, int64_t *ids, size_t max,
                                   size_t *n /* OUT */, drudge_err *err);
    drudge_code (*cancel_requested)(drudge_store *s, int64_t task_id, int *requested /* OUT */,
                                    drudge_err *err);
    drudge_code (*expired)(drudge_store *s, int64_t now, drudge_expired **out /* OUT */,
                           size_t *n /* OUT */, drudge_err *err);
    drudge_code (*expire_leases)(drudge_store *s, int64_t now, drudge_err *err);
    drudge_code (*leases_like)(drudge_store *s, const char *prefix, int64_t now,
                               void (*fn)(void *ud, const char *owner), void *ud, drudge_err *err);
    drudge_code (*end_lease)(drudge_store *s, const char *owner, int64_t until, drudge_err *err);
    drudge_code (*drop_lease)(drudge_store *s, const char *owner, drudge_err *err);
    drudge_code (*idle)(drudge_store *s, int64_t now, const char *const *scripts,
                        int *idle /* OUT */, drudge_err *err);
    drudge_code (*list)(drudge_store *s, const drudge_task_filter *f,
                        drudge_task_row **rows /* OUT */, size_t *n /* OUT */, drudge_err *err);
    drudge_code (*get)(drudge_store *s, int64_t id, drudge_task_row *task /* OUT */,
                       drudge_attempt_row **attempts /* OUT */, size_t *n /* OUT */,
                       drudge_err *err);
    drudge_code (*task_state)(drudge_store *s, int64_t id, char state[16], drudge_err *err);
    drudge_code (*status)(drudge_store *s, int64_t now, drudge_queue_stats *out /* OUT */,
                          drudge_err *err);
    drudge_code (*retry)(drudge_store *s, int64_t id, int64_t now, int64_t *changed /* OUT */,
                         drudge_err *err);
    drudge_code (*retry_all)(drudge_store *s, const char *state, const char *script, int64_t now,
                             int64_t *changed /* OUT */, drudge_err *err);
    drudge_code (*cancel)(drudge_store *s, int64_t id, const char *who, int64_t now,
                          int64_t *changed /* OUT */, int *deferred /* OUT */, drudge_err *err);
    drudge_code (*pause)(drudge_store *s, const char *script, const char *who, int64_t now,
                         int64_t *changed /* OUT */, drudge_err *err);
    drudge_code (*resume)(drudge_store *s, const char *script, int64_t *changed /* OUT */,
                          drudge_err *err);
    drudge_code (*resolve)(drudge_store *s, int64_t id, const char *who, const char *note,
                           int64_t now, int64_t *changed /* OUT */, drudge_err *err);
    drudge_code (*next_due)(drudge_store *s, int64_t *run_at /* OUT */, drudge_err *err);
    drudge_code (*steps)(drudge_store *s, const drudge_step_filter *f, drudge_step_fn fn, void *ud,
                         drudge_err *err);
    drudge_code (*chain_head)(drudge_store *s, int64_t *id /* OUT */, char hash[65] /* OUT */,
                              drudge_err *err);
    drudge_code (*step_hash)(drudge_store *s, int64_t id, char hash[65] /* OUT */, drudge_err *err);
    drudge_code (*append_step)(drudge_store *s, int64_t id, int64_t task_id, int attempt,
                               const drudge_step *step, const char *hash, drudge_err *err);
    drudge_code (*append_steps)(drudge_store *s, const drudge_step_row *rows, size_t n,
                                drudge_err *err);
    drudge_code (*put_payload)(drudge_store *s, const drudge_payload *p, int64_t now,
                               drudge_err *err);
    drudge_code (*payload)(drudge_store *s, const char *sha256, int want_data,
                           drudge_payload_row *out /* OUT */, drudge_err *err);
    drudge_code (*payloads)(drudge_store *s, int (*fn)(void *ud, const drudge_payload_row *p),
                            void *ud, drudge_err *err);
    drudge_code (*payload_referrer)(drudge_store *s, const char *sha256,
                                    drudge_step_row *out /* OUT: ids only */, drudge_err *err);
    drudge_code (*prune)(drudge_store *s, int64_t cutoff, int64_t now, int dry_run,
                         int64_t *n /* OUT */, int64_t *bytes /* OUT */, drudge_err *err);
    drudge_code (*checkpoints)(drudge_store *s, drudge_checkpoint_row **out /* OUT */,
                               size_t *n /* OUT */, drudge_err *err);
    drudge_code (*last_checkpoint)(drudge_store *s, drudge_checkpoint_row *out /* OUT */,
                                   int *found /* OUT */, drudge_err *err);
    drudge_code (*add_checkpoint)(drudge_store *s, drudge_checkpoint_row *c, drudge_err *err);
    drudge_code (*count_steps)(drudge_store *s, int64_t upto_id, int64_t *n /* OUT */,
                               drudge_err *err);
    drudge_code (*attempts_unchained)(drudge_store *s, int64_t *task_id /* OUT */,
                                      int *attempt /* OUT */, int64_t *ended_at /* OUT */,
                                      int64_t *count /* OUT */, drudge_err *err);
    drudge_code (*put_script_version)(drudge_store *s, const drudge_script_version *v, int64_t now,
                                      drudge_err *err);
    drudge_code (*script_version)(drudge_store *s, const char *sha256,
                                  drudge_script_version *out /* OUT */, drudge_err *err);
    drudge_code (*script_file)(drudge_store *s, const char *sha256, unsigned char **data,
                               size_t *len, drudge_err *err);
    drudge_code (*script_versions)(drudge_store *s, const char *script,
                                   int (*fn)(void *ud, const drudge_script_version_use *v),
                                   void *ud, drudge_err *err);
    drudge_code (*task_facts)(drudge_store *s, int (*fn)(void *ud, const drudge_task_facts *t),
                              void *ud, drudge_err *err);
    drudge_code (*last_recorded_attempt)(drudge_store *s, int64_t task_id, int *attempt /* OUT */,
                                         drudge_err *err);
    drudge_code (*schedule_add)(drudge_store *s, const drudge_schedule *sc, int64_t now,
                                drudge_err *err);
    drudge_code (*schedule_remove)(drudge_store *s, const char *name, drudge_err *err);
    drudge_code (*schedule_set_paused)(drudge_store *s, const char *name, int paused, int64_t now,
                                       drudge_err *err);
    drudge_code (*schedules)(drudge_store *s, int active_only, drudge_schedule **out /* OUT */,
                             int *n /* OUT */, drudge_err *err);
    drudge_code (*schedule_advance)(drudge_store *s, const char *name, int64_t tick,
                                    drudge_err *err);
    drudge_code (*finished)(drudge_store *s, const char *script,
                            int (*fn)(void *ud, const drudge_finished_row *t), void *ud,
                            drudge_err *err);
    drudge_code (*attempt_times)(drudge_store *s, int (*fn)(void *ud, int64_t task_id, int64_t us),
                                 void *ud, drudge_err *err);
    drudge_code (*backlog)(drudge_store *s, const char *script,
                           int (*fn)(void *ud, const char *script, int64_t queued, int64_t running),
                           void *ud, drudge_err *err);
    drudge_code (*backlogs)(drudge_store *s, int64_t now, int64_t rate_window, int64_t recent,
                            drudge_backlog_row *rows, int max, int *n /* OUT */,
                            int *workers /* OUT */, drudge_err *err);
    drudge_code (*metrics)(drudge_store *s, int64_t now, int64_t steps_from, drudge_step_time_fn fn,
                           void *ud, drudge_metrics_data *out /* OUT */, drudge_err *err);
    drudge_code (*breaker)(drudge_store *s, const drudge_breaker_event *ev, int *changed,
                           int64_t *outage_id, drudge_err *err);
    drudge_code (*breakers)(drudge_store *s, drudge_outage_fn fn, void *ud, drudge_err *err);
    drudge_code (*outages)(drudge_store *s, int64_t since, drudge_outage_fn fn, void *ud,
                           drudge_err *err);
    drudge_code (*deadlines)(drudge_store *s, const drudge_deadline_query *dq,
                             int (*fn)(void *ud, const drudge_deadline_row *r), void *ud,
                             drudge_err *err);
    /* Added for a fleet; NULL where an engine has none (watch: SQLite). */
    drudge_code (*watch)(drudge_store *s, void (*wake)(void *ud), void *ud, drudge_err *err);
    drudge_code (*copy_out)(drudge_store *s, const drudge_copy_table *t, drudge_copy_fn fn,
                            void *ud, drudge_err *err);
    drudge_code (*copy_in)(drudge_store *s, const drudge_copy_row *row, drudge_err *err);
    drudge_code (*copy_finish)(drudge_store *s, drudge_err *err);
    drudge_code (*empty)(drudge_store *s, int *empty /* OUT */, drudge_err *err);
    drudge_code (*backup)(drudge_store *s, const char *path, int64_t *pages /* OUT */,
                          drudge_err *err);
    /* The control room's users and keys (runner/room/). */
    drudge_code (*user_add)(drudge_store *s, const drudge_room_user *u, int64_t now,
                            drudge_err *err);
    drudge_code (*user_set)(drudge_store *s, const char *name, const char *role, const char *hash,
                            int disabled, int64_t now, drudge_err *err);
    drudge_code (*user)(drudge_store *s, const char *name, drudge_room_user *out /* OUT */,
                        drudge_err *err);
    drudge_code (*users)(drudge_store *s, drudge_room_user **out /* OUT */, size_t *n /* OUT */,
                         drudge_err *err);
    drudge_code (*key_add)(drudge_store *s, const drudge_room_key *k, drudge_err *err);
    drudge_code (*key_find)(drudge_store *s, const char *hash, int64_t now,
                            drudge_room_key *key /* OUT */, drudge_room_user *user /* OUT */,
                            drudge_err *err);
    drudge_code (*key_drop)(drudge_store *s, const char *hash, int *dropped /* OUT */,
                            drudge_err *err);
    drudge_code (*throughput)(drudge_store *s, int64_t since, drudge_minute_count **out /* OUT */,
                              size_t *n /* OUT */, drudge_err *err);
    drudge_code (*keys)(drudge_store *s, const char *user, const char *kind,
                        drudge_room_key **out /* OUT */, size_t *n /* OUT */, drudge_err *err);
    drudge_code (*keys_drop)(drudge_store *s, const char *user, const char *kind,
                             const char *keep_hash, int64_t *dropped /* OUT */, drudge_err *err);
    drudge_code (*login_fails)(drudge_store *s, const char *user_who, const char *addr_who,
                               int64_t since, int *count /* OUT */, drudge_err *err);
    drudge_code (*login_note)(drudge_store *s, const char *who, int64_t now, int64_t since,
                              int failed, drudge_err *err);
    /* Why queued tasks wait (issue 22). */
    drudge_code (*paused)(drudge_store *s, int (*fn)(void *ud, const drudge_paused_row *p),
                          void *ud, drudge_err *err);
    drudge_code (*waiting)(drudge_store *s, int64_t now, const char *script,
                           int (*fn)(void *ud, const drudge_waiting_group *g), void *ud,
                           drudge_err *err);
    /* Notifications (issue 20): channels and their outbox. */
    drudge_code (*notify_add)(drudge_store *s, const drudge_notify_channel *c, int64_t now,
                              int64_t *id, drudge_err *err);
    drudge_code (*notify_remove)(drudge_store *s, int64_t id, int64_t now, int *removed,
                                 drudge_err *err);
    drudge_code (*notify_channels)(drudge_store *s, drudge_notify_channel_fn fn, void *ud,
                                   drudge_err *err);
    drudge_code (*notify_queue)(drudge_store *s, int64_t channel_id, const char *category,
                                const char *event, const char *payload, int64_t now,
                                int64_t *queued, drudge_err *err);
    drudge_code (*notify_claim)(drudge_store *s, const char *owner, int64_t now,
                                int64_t lease_until, int max, int64_t only_id,
                                drudge_notify_row_fn fn, void *ud, drudge_err *err);
    drudge_code (*notify_done)(drudge_store *s, int64_t id, const char *owner, int outcome,
                               const char *error, int64_t now, int64_t next_due, int *changed,
                               drudge_err *err);
    drudge_code (*notify_log)(drudge_store *s, int64_t since, int limit, drudge_notify_row_fn fn,
                              void *ud, drudge_err *err);
    drudge_code (*notify_counts)(drudge_store *s, int64_t due_by, int64_t *sent, int64_t *failed,
                                 int64_t *pending, drudge_err *err);
    drudge_code (*notify_mark_get)(drudge_store *s, int64_t channel_id, const char *name,
                                   int64_t *at, drudge_err *err);
    drudge_code (*notify_mark_set)(drudge_store *s, int64_t channel_id, const char *name,
                                   int64_t expect, int64_t at, int *won, drudge_err *err);
};

/* The PostgreSQL backend's entry point, in the module drudge_pg.so
 * (runner/store/pg/db.c); linked in directly where the module's objects
 * are (the unit tests), else looked up by store.c. */
typedef drudge_code (*drudge_store_open_fn)(const char *url, int flags, drudge_store **out,
                                            drudge_err *err);

/* The SQLite backend (runner/store/sqlite/db.c). */
drudge_code drudge_sqlite_open(const char *path, int flags, drudge_store **out, drudge_err *err);

#endif

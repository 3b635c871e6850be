/* store.c: opening a store by the name of its database, the dispatch of
 * every operation to the backend's table (storeint.h), and the row structs'
 * free functions, which every backend shares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runner/store/storeint.h"
#include "runner/util/module.h"

const char *const drudge_task_states[DRUDGE_NSTATES] = {"queued", "running", "done",
                                                        "failed", "dead",    "cancelled"};

static int is_url(const char *where, const char *scheme)
{
    size_t n = strlen(scheme);
    return !strncmp(where, scheme, n) && !strncmp(where + n, "://", 3);
}

/* Linked in where the backend's objects are (the unit tests); in the
 * binary it is not, and the module drudge_pg.so provides it: `drudge run`
 * on SQLite never loads libpq. */
extern drudge_code drudge_pg_open(const char *url, int flags, drudge_store **out, drudge_err *err)
    __attribute__((weak));

static drudge_code open_pg(const char *url, int flags, drudge_store **out, drudge_err *err)
{
    char why[512];
    drudge_store_open_fn open = drudge_pg_open;
    if (!open)
        open = (drudge_store_open_fn)drudge_module_sym("pg", "drudge_pg_open", why, sizeof why);
    if (!open)
        return drudge_seterr(err, DRUDGE_EUSAGE,
                             "a PostgreSQL database needs drudge's PostgreSQL module "
                             "(drudge_pg.so, installed beside the binary): %s",
                             why);
    return open(url, flags, out, err);
}

drudge_code drudge_store_open(const char *where, int flags, drudge_store **out, drudge_err *err)
{
    *out = NULL;
    if (is_url(where, "postgresql") || is_url(where, "postgres"))
        return open_pg(where, flags, out, err);
    return drudge_sqlite_open(where, flags, out, err);
}

const char *drudge_store_name(const drudge_store *s)
{
    return s->name;
}

const char *drudge_store_default(void)
{
    const char *env = getenv("DRUDGE_DB");
    return env && *env ? env : "drudge.db";
}

/* ---- what `drudge db copy` moves: the same columns on every engine ---- */

const drudge_copy_table drudge_copy_tables[] = {
    {"scripts",
     "name, path, max_attempts, manual_minutes, exception_minutes, \"window\", "
     "updated_at",
     "name", 7, 0},
    /* the code that ran (before tasks, which name it): files, then versions */
    {"script_files", "sha256, size, data, created_at", "sha256", 4, 3},
    {"script_versions", "sha256, script, path, manifest, created_at", "sha256", 5, 0},
    {"tasks",
     "id, script, script_path, key, input, output, state, priority, run_at, attempts, spent, "
     "max_attempts, manual_minutes, exception_minutes, error, error_kind, schedule, \"window\", "
     "created_at, finished_at, resolved_by, resolved_at, resolved_note, worker, started_at, "
     "outcome, cancelled_by, script_sha256, deadline",
     "id", 29, 0},
    {"attempt_log", "task_id, n, worker, started_at, ended_at, outcome, error, error_kind", "id", 8,
     0},
    {"paused", "script, paused_at, paused_by, reason", "script", 4, 0},
    {"schedules",
     "name, cron, tz, script, script_path, input, priority, catch_up, \"window\", max_attempts, "
     "manual_minutes, exception_minutes, paused, last_tick, created_at",
     "name", 15, 0},
    {"steps",
     "id, task_id, attempt, seq, parent, kind, name, request, response, started_at, "
     "duration_us, outcome, error, hash, origin",
     "id", 15, 0},
    /* in insertion order: each engine knows its own */
    {"payloads", "sha256, content_type, size, data, created_at, used_at, pruned_at", "", 7, 4},
    {"checkpoints", "id, step_id, head_hash, row_count, created_at, public_key, signature", "id", 7,
     0},
    /* the control room's users, then their keys (which name them) */
    {"room_users", "name, role, hash, disabled, created_at, changed_at", "name", 6, 0},
    {"room_keys", "hash, \"user\", kind, label, csrf, remote, created_at, expires_at", "hash", 8,
     0},
    /* outages on record (the report's net figure) and what each script uses;
     * open breakers are the live state of the machines that run, not history */
    {"script_targets", "target, script, declared", "target, script", 3, 0},
    {"outages",
     "id, target, started_at, opened_at, ended_at, trigger, opened_by, probes, tasks_held, "
     "attempts_spent",
     "id", 10, 0},
    /* the notification channels (configuration; the outbox is the machines' history) */
    {"notify_channels",
     "id, kind, target, events, secret, smtp, sender, login, dead_threshold, created_at, "
     "created_by",
     "id", 11, 0},
    {NULL, NULL, NULL, 0, 0},
};

/* ---- the rows' free functions ---- */

void drudge_task_spec_clear(drudge_task_spec *spec)
{
    free((char *)spec->script);
    free((char *)spec->script_path);
    free((char *)spec->window);
    free((char *)spec->deadline_rule);
    memset(spec, 0, sizeof *spec);
}

void drudge_claimed_free(drudge_claimed *t)
{
    if (!t)
        return;
    free(t->script);
    free(t->script_path);
    free(t->key);
    free(t->input);
}

void drudge_claimed_free_all(drudge_claimed *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        drudge_claimed_free(&v[i]);
    free(v);
}

void drudge_expired_free_all(drudge_expired *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        drudge_claimed_free(&v[i].t);
        free(v[i].owner);
    }
    free(v);
}

void drudge_task_row_clear(drudge_task_row *t)
{
    char **strs[] = {&t->script,       &t->script_path,   &t->key,         &t->state,
                     &t->input,        &t->output,        &t->error,       &t->error_kind,
                     &t->lease_owner,  &t->schedule,      &t->resolved_by, &t->resolved_note,
                     &t->cancelled_by, &t->script_sha256, &t->outcome,     &t->window};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        free(*strs[i]);
    memset(t, 0, sizeof *t);
}

void drudge_task_rows_free(drudge_task_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        drudge_task_row_clear(&rows[i]);
    free(rows);
}

void drudge_attempt_rows_free(drudge_attempt_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].worker);
        free(rows[i].outcome);
        free(rows[i].error);
        free(rows[i].error_kind);
    }
    free(rows);
}

void drudge_queue_stats_clear(drudge_queue_stats *s)
{
    for (size_t i = 0; i < s->nscripts; i++) {
        free(s->scripts[i].script);
        free(s->scripts[i].pause_reason);
    }
    free(s->scripts);
    memset(s, 0, sizeof *s);
}

void drudge_payload_row_clear(drudge_payload_row *p)
{
    free(p->content_type);
    free(p->data);
    memset(p, 0, sizeof *p);
}

void drudge_schedule_list_free(drudge_schedule *list, int n)
{
    for (int i = 0; i < n; i++) {
        drudge_schedule *s = &list[i];
        free(s->name);
        free(s->cron);
        free(s->tz);
        free(s->script);
        free(s->script_path);
        free(s->input);
        free(s->catch_up);
        free(s->window);
        free(s->deadline_rule);
    }
    free(list);
}

void drudge_metrics_data_clear(drudge_metrics_data *d)
{
    for (size_t i = 0; i < d->nscripts; i++)
        free(d->scripts[i].script);
    for (size_t i = 0; i < d->noutcomes; i++) {
        free(d->outcomes[i].script);
        free(d->outcomes[i].outcome);
    }
    free(d->scripts);
    free(d->outcomes);
    memset(d, 0, sizeof *d);
}

/* ---- dispatch: each operation to the backend's function ---- */

void drudge_store_close(drudge_store *s)
{
    if (s)
        s->m->close(s);
}

drudge_code drudge_store_set_durability(drudge_store *s, drudge_durability d, drudge_err *err)
{
    return s->m->set_durability(s, d, err);
}

void drudge_store_trim(drudge_store *s)
{
    s->m->trim(s);
}

drudge_code drudge_store_sync(drudge_store *s, drudge_err *err)
{
    return s->m->sync(s, err);
}

drudge_code drudge_store_begin(drudge_store *s, drudge_tx how, drudge_err *err)
{
    return s->m->begin(s, how, err);
}

drudge_code drudge_store_commit(drudge_store *s, drudge_err *err)
{
    return s->m->commit(s, err);
}

void drudge_store_rollback(drudge_store *s)
{
    s->m->rollback(s);
}

drudge_code drudge_store_enqueue(drudge_store *s, const drudge_task_spec *specs, size_t n,
                                 int64_t now, int64_t *id /* OUT, n or NULL */,
                                 int *dup /* OUT, n or NULL */, int64_t *added /* OUT */,
                                 int64_t *duplicates /* OUT */, drudge_err *err)
{
    return s->m->enqueue(s, specs, n, now, id, dup, added, duplicates, err);
}

drudge_code drudge_store_known_script(drudge_store *s, const char *name,
                                      drudge_task_spec *spec /* OUT */, drudge_err *err)
{
    return s->m->known_script(s, name, spec, err);
}

drudge_code drudge_store_claim(drudge_store *s, const drudge_claim_req *req,
                               drudge_claimed **out /* OUT */, size_t *n /* OUT */, drudge_err *err)
{
    return s->m->claim(s, req, out, n, err);
}

drudge_code drudge_store_start_adhoc(drudge_store *s, const drudge_task_spec *spec,
                                     const char *owner, int64_t now, int64_t lease_until,
                                     int64_t *id /* OUT */, drudge_err *err)
{
    return s->m->start_adhoc(s, spec, owner, now, lease_until, id, err);
}

drudge_code drudge_store_finish(drudge_store *s, const char *owner, const drudge_attempt_end *e,
                                int *held /* OUT */, drudge_err *err)
{
    return s->m->finish(s, owner, e, held, err);
}

drudge_code drudge_store_finish_many(drudge_store *s, const char *owner,
                                     const drudge_attempt_end *e, size_t n, int *held /* OUT */,
                                     drudge_err *err)
{
    /* A backend without a batch form (SQLite: a statement costs no round
     * trip there) records them one by one. */
    if (s->m->finish_many && n > 1)
        return s->m->finish_many(s, owner, e, n, held, err);
    for (size_t i = 0; i < n; i++) {
        drudge_code rc = s->m->finish(s, owner, &e[i], &held[i], err);
        if (rc)
            return rc;
    }
    return DRUDGE_OK;
}

drudge_code drudge_store_release(drudge_store *s, const char *owner, int64_t task_id,
                                 drudge_err *err)
{
    return s->m->release(s, owner, task_id, err);
}

drudge_code drudge_store_mark_started(drudge_store *s, const char *owner, const int64_t *ids,
                                      size_t n, drudge_err *err)
{
    return n ? s->m->mark_started(s, owner, ids, n, err) : DRUDGE_OK;
}

drudge_code drudge_store_unclaim(drudge_store *s, const char *owner, int64_t task_id,
                                 int *held /* OUT */, drudge_err *err)
{
    return s->m->unclaim(s, owner, task_id, held, err);
}

drudge_code drudge_store_renew(drudge_store *s, const char *owner, int64_t until, drudge_err *err)
{
    return s->m->renew(s, owner, until, err);
}

drudge_code drudge_store_cancel_requests(drudge_store *s, const char *owner, int64_t *ids,
                                         size_t max, size_t *n /* OUT */, drudge_err *err)
{
    return s->m->cancel_requests(s, owner, ids, max, n, err);
}

drudge_code drudge_store_cancel_requested(drudge_store *s, int64_t task_id,
                                          int *requested /* OUT */, drudge_err *err)
{
    return s->m->cancel_requested(s, task_id, requested, err);
}

drudge_code drudge_store_expired(drudge_store *s, int64_t now, drudge_expired **out /* OUT */,
                                 size_t *n /* OUT */, drudge_err *err)
{
    return s->m->expired(s, now, out, n, err);
}

drudge_code drudge_store_expire_leases(drudge_store *s, int64_t now, drudge_err *err)
{
    return s->m->expire_leases(s, now, err);
}

drudge_code drudge_store_leases_like(drudge_store *s, const char *prefix, int64_t now,
                                     void (*fn)(void *ud, const char *owner), void *ud,
                                     drudge_err *err)
{
    return s->m->leases_like(s, prefix, now, fn, ud, err);
}

drudge_code drudge_store_end_lease(drudge_store *s, const char *owner, int64_t until,
                                   drudge_err *err)
{
    return s->m->end_lease(s, owner, until, err);
}

drudge_code drudge_store_drop_lease(drudge_store *s, const char *owner, drudge_err *err)
{
    return s->m->drop_lease(s, owner, err);
}

drudge_code drudge_store_idle(drudge_store *s, int64_t now, const char *const *scripts,
                              int *idle /* OUT */, drudge_err *err)
{
    return s->m->idle(s, now, scripts, idle, err);
}

drudge_code drudge_store_list(drudge_store *s, const drudge_task_filter *f,
                              drudge_task_row **rows /* OUT */, size_t *n /* OUT */,
                              drudge_err *err)
{
    return s->m->list(s, f, rows, n, err);
}

drudge_code drudge_store_get(drudge_store *s, int64_t id, drudge_task_row *task /* OUT */,
                             drudge_attempt_row **attempts /* OUT */, size_t *n /* OUT */,
                             drudge_err *err)
{
    return s->m->get(s, id, task, attempts, n, err);
}

drudge_code drudge_store_task_state(drudge_store *s, int64_t id, char state[16], drudge_err *err)
{
    return s->m->task_state(s, id, state, err);
}

drudge_code drudge_store_status(drudge_store *s, int64_t now, drudge_queue_stats *out /* OUT */,
                                drudge_err *err)
{
    return s->m->status(s, now, out, err);
}

drudge_code drudge_store_paused(drudge_store *s, int (*fn)(void *ud, const drudge_paused_row *p),
                                void *ud, drudge_err *err)
{
    return s->m->paused(s, fn, ud, err);
}

drudge_code drudge_store_waiting(drudge_store *s, int64_t now, const char *script,
                                 int (*fn)(void *ud, const drudge_waiting_group *g), void *ud,
                                 drudge_err *err)
{
    return s->m->waiting(s, now, script, fn, ud, err);
}

drudge_code drudge_store_retry(drudge_store *s, int64_t id, int64_t now, int64_t *changed /* OUT */,
                               drudge_err *err)
{
    return s->m->retry(s, id, now, changed, err);
}

drudge_code drudge_store_retry_all(drudge_store *s, const char *state, const char *script,
                                   int64_t now, int64_t *changed /* OUT */, drudge_err *err)
{
    return s->m->retry_all(s, state, script, now, changed, err);
}

void drudge_script_version_clear(drudge_script_version *v)
{
    if (!v)
        return;
    free(v->script);
    free(v->path);
    free(v->manifest);
    for (size_t i = 0; i < v->nfiles; i++) {
        free(v->files[i].path);
        free(v->files[i].data);
    }
    free(v->files);
    memset(v, 0, sizeof *v);
}

drudge_code drudge_store_put_script_version(drudge_store *s, const drudge_script_version *v,
                                            int64_t now, drudge_err *err)
{
    return s->m->put_script_version(s, v, now, err);
}

drudge_code drudge_store_script_version(drudge_store *s, const char *sha256,
                                        drudge_script_version *out, drudge_err *err)
{
    memset(out, 0, sizeof *out);
    return s->m->script_version(s, sha256, out, err);
}

drudge_code drudge_store_script_file(drudge_store *s, const char *sha256, unsigned char **data,
                                     size_t *len, drudge_err *err)
{
    *data = NULL;
    *len = 0;
    return s->m->script_file(s, sha256, data, len, err);
}

drudge_code drudge_store_script_versions(drudge_store *s, const char *script,
                                         int (*fn)(void *ud, const drudge_script_version_use *v),
                                         void *ud, drudge_err *err)
{
    return s->m->script_versions(s, script, fn, ud, err);
}

drudge_code drudge_store_backup(drudge_store *s, const char *path, int64_t *pages, drudge_err *err)
{
    *pages = 0;
    return s->m->backup(s, path, pages, err);
}

drudge_code drudge_store_task_facts(drudge_store *s,
                                    int (*fn)(void *ud, const drudge_task_facts *t), void *ud,
                                    drudge_err *err)
{
    return s->m->task_facts(s, fn, ud, err);
}

drudge_code drudge_store_cancel(drudge_store *s, int64_t id, const char *who, int64_t now,
                                int64_t *changed /* OUT */, int *deferred /* OUT */,
                                drudge_err *err)
{
    return s->m->cancel(s, id, who, now, changed, deferred, err);
}

drudge_code drudge_store_pause(drudge_store *s, const char *script, const char *who, int64_t now,
                               int64_t *changed /* OUT */, drudge_err *err)
{
    return s->m->pause(s, script, who, now, changed, err);
}

drudge_code drudge_store_resume(drudge_store *s, const char *script, int64_t *changed /* OUT */,
                                drudge_err *err)
{
    return s->m->resume(s, script, changed, err);
}

drudge_code drudge_store_resolve(drudge_store *s, int64_t id, const char *who, const char *note,
                                 int64_t now, int64_t *changed /* OUT */, drudge_err *err)
{
    return s->m->resolve(s, id, who, note, now, changed, err);
}

drudge_code drudge_store_next_due(drudge_store *s, int64_t *run_at /* OUT */, drudge_err *err)
{
    return s->m->next_due(s, run_at, err);
}

drudge_code drudge_store_steps(drudge_store *s, const drudge_step_filter *f, drudge_step_fn fn,
                               void *ud, drudge_err *err)
{
    return s->m->steps(s, f, fn, ud, err);
}

drudge_code drudge_store_chain_head(drudge_store *s, int64_t *id /* OUT */, char hash[65] /* OUT */,
                                    drudge_err *err)
{
    return s->m->chain_head(s, id, hash, err);
}

drudge_code drudge_store_step_hash(drudge_store *s, int64_t id, char hash[65] /* OUT */,
                                   drudge_err *err)
{
    return s->m->step_hash(s, id, hash, err);
}

drudge_code drudge_store_append_step(drudge_store *s, int64_t id, int64_t task_id, int attempt,
                                     const drudge_step *step, const char *hash, drudge_err *err)
{
    return s->m->append_step(s, id, task_id, attempt, step, hash, err);
}

drudge_code drudge_store_append_steps(drudge_store *s, const drudge_step_row *rows, size_t n,
                                      drudge_err *err)
{
    return n ? s->m->append_steps(s, rows, n, err) : DRUDGE_OK;
}

drudge_code drudge_store_put_payload(drudge_store *s, const drudge_payload *p, int64_t now,
                                     drudge_err *err)
{
    return s->m->put_payload(s, p, now, err);
}

drudge_code drudge_store_payload(drudge_store *s, const char *sha256, int want_data,
                                 drudge_payload_row *out /* OUT */, drudge_err *err)
{
    return s->m->payload(s, sha256, want_data, out, err);
}

drudge_code drudge_store_payloads(drudge_store *s, int (*fn)(void *ud, const drudge_payload_row *p),
                                  void *ud, drudge_err *err)
{
    return s->m->payloads(s, fn, ud, err);
}

drudge_code drudge_store_payload_referrer(drudge_store *s, const char *sha256,
                                          drudge_step_row *out /* OUT: ids only */, drudge_err *err)
{
    return s->m->payload_referrer(s, sha256, out, err);
}

drudge_code drudge_store_prune(drudge_store *s, int64_t cutoff, int64_t now, int dry_run,
                               int64_t *n /* OUT */, int64_t *bytes /* OUT */, drudge_err *err)
{
    return s->m->prune(s, cutoff, now, dry_run, n, bytes, err);
}

drudge_code drudge_store_checkpoints(drudge_store *s, drudge_checkpoint_row **out /* OUT */,
                                     size_t *n /* OUT */, drudge_err *err)
{
    return s->m->checkpoints(s, out, n, err);
}

drudge_code drudge_store_last_checkpoint(drudge_store *s, drudge_checkpoint_row *out /* OUT */,
                                         int *found /* OUT */, drudge_err *err)
{
    return s->m->last_checkpoint(s, out, found, err);
}

drudge_code drudge_store_add_checkpoint(drudge_store *s, drudge_checkpoint_row *c, drudge_err *err)
{
    return s->m->add_checkpoint(s, c, err);
}

drudge_code drudge_store_count_steps(drudge_store *s, int64_t upto_id, int64_t *n /* OUT */,
                                     drudge_err *err)
{
    return s->m->count_steps(s, upto_id, n, err);
}

drudge_code drudge_store_attempts_unchained(drudge_store *s, int64_t *task_id /* OUT */,
                                            int *attempt /* OUT */, int64_t *ended_at /* OUT */,
                                            int64_t *count /* OUT */, drudge_err *err)
{
    return s->m->attempts_unchained(s, task_id, attempt, ended_at, count, err);
}

drudge_code drudge_store_last_recorded_attempt(drudge_store *s, int64_t task_id,
                                               int *attempt /* OUT */, drudge_err *err)
{
    return s->m->last_recorded_attempt(s, task_id, attempt, err);
}

drudge_code drudge_store_schedule_add(drudge_store *s, const drudge_schedule *sc, int64_t now,
                                      drudge_err *err)
{
    return s->m->schedule_add(s, sc, now, err);
}

drudge_code drudge_store_schedule_remove(drudge_store *s, const char *name, drudge_err *err)
{
    return s->m->schedule_remove(s, name, err);
}

drudge_code drudge_store_schedule_set_paused(drudge_store *s, const char *name, int paused,
                                             int64_t now, drudge_err *err)
{
    return s->m->schedule_set_paused(s, name, paused, now, err);
}

drudge_code drudge_store_schedules(drudge_store *s, int active_only,
                                   drudge_schedule **out /* OUT */, int *n /* OUT */,
                                   drudge_err *err)
{
    return s->m->schedules(s, active_only, out, n, err);
}

drudge_code drudge_store_schedule_advance(drudge_store *s, const char *name, int64_t tick,
                                          drudge_err *err)
{
    return s->m->schedule_advance(s, name, tick, err);
}

drudge_code drudge_store_finished(drudge_store *s, const char *script,
                                  int (*fn)(void *ud, const drudge_finished_row *t), void *ud,
                                  drudge_err *err)
{
    return s->m->finished(s, script, fn, ud, err);
}

drudge_code drudge_store_attempt_times(drudge_store *s,
                                       int (*fn)(void *ud, int64_t task_id, int64_t us), void *ud,
                                       drudge_err *err)
{
    return s->m->attempt_times(s, fn, ud, err);
}

drudge_code drudge_store_backlog(drudge_store *s, const char *script,
                                 int (*fn)(void *ud, const char *script, int64_t queued,
                                           int64_t running),
                                 void *ud, drudge_err *err)
{
    return s->m->backlog(s, script, fn, ud, err);
}

drudge_code drudge_store_backlogs(drudge_store *s, int64_t now, int64_t rate_window, int64_t recent,
                                  drudge_backlog_row *rows, int max, int *n /* OUT */,
                                  int *workers /* OUT */, drudge_err *err)
{
    return s->m->backlogs(s, now, rate_window, recent, rows, max, n, workers, err);
}

drudge_code drudge_store_metrics(drudge_store *s, int64_t now, int64_t steps_from,
                                 drudge_step_time_fn fn, void *ud,
                                 drudge_metrics_data *out /* OUT */, drudge_err *err)
{
    return s->m->metrics(s, now, steps_from, fn, ud, out, err);
}

/* ---- a fleet: wake-ups and copying ---- */

drudge_code drudge_store_watch(drudge_store *s, void (*wake)(void *ud), void *ud, int *watching,
                               drudge_err *err)
{
    *watching = 0;
    if (!s->m->watch)
        return DRUDGE_OK;
    drudge_code rc = s->m->watch(s, wake, ud, err);
    *watching = !rc && wake;
    return rc;
}

drudge_code drudge_store_copy_out(drudge_store *s, const drudge_copy_table *t, drudge_copy_fn fn,
                                  void *ud, drudge_err *err)
{
    return s->m->copy_out(s, t, fn, ud, err);
}

drudge_code drudge_store_copy_in(drudge_store *s, const drudge_copy_row *row, drudge_err *err)
{
    return s->m->copy_in(s, row, err);
}

drudge_code drudge_store_copy_finish(drudge_store *s, drudge_err *err)
{
    return s->m->copy_finish(s, err);
}

drudge_code drudge_store_empty(drudge_store *s, int *empty, drudge_err *err)
{
    return s->m->empty(s, empty, err);
}

/* ---- the control room's users and keys ---- */

void drudge_room_user_clear(drudge_room_user *u)
{
    if (!u)
        return;
    free(u->name);
    free(u->role);
    free(u->hash);
    memset(u, 0, sizeof *u);
}

void drudge_room_users_free(drudge_room_user *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        drudge_room_user_clear(&v[i]);
    free(v);
}

void drudge_room_key_clear(drudge_room_key *k)
{
    if (!k)
        return;
    free(k->user);
    free(k->kind);
    free(k->label);
    free(k->csrf);
    free(k->remote);
    memset(k, 0, sizeof *k);
}

drudge_code drudge_store_user_add(drudge_store *s, const drudge_room_user *u, int64_t now,
                                  drudge_err *err)
{
    return s->m->user_add(s, u, now, err);
}

drudge_code drudge_store_user_set(drudge_store *s, const char *name, const char *role,
                                  const char *hash, int disabled, int64_t now, drudge_err *err)
{
    return s->m->user_set(s, name, role, hash, disabled, now, err);
}

drudge_code drudge_store_user(drudge_store *s, const char *name, drudge_room_user *out,
                              drudge_err *err)
{
    return s->m->user(s, name, out, err);
}

drudge_code drudge_store_users(drudge_store *s, drudge_room_user **out, size_t *n, drudge_err *err)
{
    return s->m->users(s, out, n, err);
}

drudge_code drudge_store_key_add(drudge_store *s, const drudge_room_key *k, drudge_err *err)
{
    return s->m->key_add(s, k, err);
}

drudge_code drudge_store_key_find(drudge_store *s, const char *hash, int64_t now,
                                  drudge_room_key *key, drudge_room_user *user, drudge_err *err)
{
    return s->m->key_find(s, hash, now, key, user, err);
}

drudge_code drudge_store_key_drop(drudge_store *s, const char *hash, int *dropped, drudge_err *err)
{
    return s->m->key_drop(s, hash, dropped, err);
}

drudge_code drudge_store_throughput(drudge_store *s, int64_t since, drudge_minute_count **out,
                                    size_t *n, drudge_err *err)
{
    *out = NULL;
    *n = 0;
    return s->m->throughput(s, since, out, n, err);
}

int drudge_throughput_kind(const char *outcome, int *done, int *failed)
{
    *done = *failed = 0;
    if (!outcome)
        return 0;
    if (!strcmp(outcome, "done"))
        *done = 1;
    else if (!strcmp(outcome, "failed") || !strcmp(outcome, "error") ||
             !strcmp(outcome, "timeout") || !strcmp(outcome, "memory"))
        *failed = 1;
    return *done || *failed;
}

int drudge_minutes_add(drudge_minutes *acc, const char *outcome, int64_t ended_at,
                       drudge_minute *spill)
{
    int done, failed;
    if (!drudge_throughput_kind(outcome, &done, &failed))
        return 0;
    int64_t minute = ended_at / 60000000;
    for (int i = 0; i < acc->n; i++)
        if (acc->m[i].minute == minute) {
            acc->m[i].done += done;
            acc->m[i].failed += failed;
            return 0;
        }
    drudge_minute m = {minute, done, failed};
    if (acc->n == (int)(sizeof acc->m / sizeof acc->m[0])) {
        *spill = m;
        return 1;
    }
    acc->m[acc->n++] = m;
    return 0;
}

drudge_code drudge_store_keys(drudge_store *s, const char *user, const char *kind,
                              drudge_room_key **out, size_t *n, drudge_err *err)
{
    *out = NULL;
    *n = 0;
    return s->m->keys(s, user, kind, out, n, err);
}

void drudge_room_keys_free(drudge_room_key *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        drudge_room_key_clear(&v[i]);
    free(v);
}

drudge_code drudge_store_login_fails(drudge_store *s, const char *user_who, const char *addr_who,
                                     int64_t since, int *count, drudge_err *err)
{
    *count = 0;
    return s->m->login_fails(s, user_who, addr_who, since, count, err);
}

drudge_code drudge_store_login_note(drudge_store *s, const char *who, int64_t now, int64_t since,
                                    int failed, drudge_err *err)
{
    return s->m->login_note(s, who, now, since, failed, err);
}

drudge_code drudge_store_keys_drop(drudge_store *s, const char *user, const char *kind,
                                   const char *keep_hash, int64_t *dropped, drudge_err *err)
{
    int64_t n = 0;
    drudge_code rc = s->m->keys_drop(s, user, kind, keep_hash, &n, err);
    if (dropped)
        *dropped = rc ? 0 : n;
    return rc;
}

drudge_code drudge_store_breaker(drudge_store *s, const drudge_breaker_event *ev, int *changed,
                                 int64_t *outage_id, drudge_err *err)
{
    *changed = 0;
    if (outage_id)
        *outage_id = 0;
    return s->m->breaker(s, ev, changed, outage_id, err);
}

drudge_code drudge_store_breakers(drudge_store *s, drudge_outage_fn fn, void *ud, drudge_err *err)
{
    return s->m->breakers(s, fn, ud, err);
}

drudge_code drudge_store_outages(drudge_store *s, int64_t since, drudge_outage_fn fn, void *ud,
                                 drudge_err *err)
{
    return s->m->outages(s, since, fn, ud, err);
}

drudge_code drudge_store_deadlines(drudge_store *s, const drudge_deadline_query *dq,
                                   int (*fn)(void *ud, const drudge_deadline_row *r), void *ud,
                                   drudge_err *err)
{
    return s->m->deadlines(s, dq, fn, ud, err);
}

/* ---- notifications ---- */

drudge_code drudge_store_notify_add(drudge_store *s, const drudge_notify_channel *c, int64_t now,
                                    int64_t *id, drudge_err *err)
{
    return s->m->notify_add(s, c, now, id, err);
}

drudge_code drudge_store_notify_remove(drudge_store *s, int64_t id, int64_t now, int *removed,
                                       drudge_err *err)
{
    return s->m->notify_remove(s, id, now, removed, err);
}

drudge_code drudge_store_notify_channels(drudge_store *s, drudge_notify_channel_fn fn, void *ud,
                                         drudge_err *err)
{
    return s->m->notify_channels(s, fn, ud, err);
}

drudge_code drudge_store_notify_queue(drudge_store *s, int64_t channel_id, const char *category,
                                      const char *event, const char *payload, int64_t now,
                                      int64_t *queued, drudge_err *err)
{
    int64_t ignored = 0;
    return s->m->notify_queue(s, channel_id, category, event, payload, now,
                              queued ? queued : &ignored, err);
}

drudge_code drudge_store_notify_claim(drudge_store *s, const char *owner, int64_t now,
                                      int64_t lease_until, int max, int64_t only_id,
                                      drudge_notify_row_fn fn, void *ud, drudge_err *err)
{
    return s->m->notify_claim(s, owner, now, lease_until, max, only_id, fn, ud, err);
}

drudge_code drudge_store_notify_done(drudge_store *s, int64_t id, const char *owner, int outcome,
                                     const char *error, int64_t now, int64_t next_due, int *changed,
                                     drudge_err *err)
{
    int ignored = 0;
    return s->m->notify_done(s, id, owner, outcome, error, now, next_due,
                             changed ? changed : &ignored, err);
}

drudge_code drudge_store_notify_log(drudge_store *s, int64_t since, int limit,
                                    drudge_notify_row_fn fn, void *ud, drudge_err *err)
{
    return s->m->notify_log(s, since, limit, fn, ud, err);
}

drudge_code drudge_store_notify_counts(drudge_store *s, int64_t due_by, int64_t *sent,
                                       int64_t *failed, int64_t *pending, drudge_err *err)
{
    return s->m->notify_counts(s, due_by, sent, failed, pending, err);
}

drudge_code drudge_store_notify_mark_get(drudge_store *s, int64_t channel_id, const char *name,
                                         int64_t *at, drudge_err *err)
{
    *at = 0;
    return s->m->notify_mark_get(s, channel_id, name, at, err);
}

drudge_code drudge_store_notify_mark_set(drudge_store *s, int64_t channel_id, const char *name,
                                         int64_t expect, int64_t at, int *won, drudge_err *err)
{
    *won = 0;
    return s->m->notify_mark_set(s, channel_id, name, expect, at, won, err);
}

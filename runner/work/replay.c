/* replay.c: `drudge replay TASK`: re-run a recorded attempt offline.
 *
 * The attempt's steps and payloads are loaded from the audit trail
 * (logs/replay/recording.c) into the host's recorder in replay mode; the
 * script runs again with the recorded input (and task.previous as it was);
 * every connector call answers from the recording instead of touching the
 * world, and the recorder compares each step with the recorded one as it
 * goes (logs/audit/record.c). Nothing is written. */
#include <stdlib.h>
#include <string.h>
#include "drudge/host.h"
#include "drudge/util.h"
#include "logs/audit/audit.h"
#include "logs/replay/replay.h"
#include "runner/host/version.h"
#include "runner/work/replay.h"

static drudge_code load_task(drudge_store *s, int64_t id, int *attempt, drudge_task_row *t,
                             drudge_err *err)
{
    int last = 0;
    drudge_code rc = drudge_store_get(s, id, t, NULL, NULL, err);
    if (rc == DRUDGE_ENOTFOUND)
        return drudge_seterr(err, rc, "no task #%lld in %s", (long long)id, drudge_store_name(s));
    if (!rc)
        rc = drudge_store_last_recorded_attempt(s, id, &last, err);
    if (!rc && !last)
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "task #%lld has no recorded attempt",
                           (long long)id);
    if (!rc && *attempt <= 0)
        *attempt = last;
    return rc;
}

/* A root's output as {"output":...} (or NULL), without the task state and
 * the script version in front of it: what replay compares. */
static char *root_output(const char *response, char script[65])
{
    char state[16];
    const char *out;
    size_t len;
    drudge_audit_root_parse(response, state, script, &out, &len);
    if (!out)
        return NULL;
    drudge_buf b = {0};
    drudge_buf_puts(&b, "{\"output\":");
    drudge_buf_add(&b, out, len);
    drudge_buf_puts(&b, "}");
    return drudge_buf_take(&b);
}

/* A replayed message with the stored source's directory (from) written as
 * the directory it ran from (to): Lua names files in errors and tracebacks.
 * Malloc'd, or NULL for NULL. */
static char *as_recorded(const char *msg, const char *from, const char *to)
{
    if (!msg)
        return NULL;
    drudge_buf b = {0};
    size_t fl = from && to ? strlen(from) : 0;
    const char *p = msg;
    for (const char *hit = fl ? strstr(p, from) : NULL; hit; hit = strstr(p, from)) {
        drudge_buf_add(&b, p, (size_t)(hit - p));
        drudge_buf_puts(&b, to);
        p = hit + fl;
    }
    drudge_buf_puts(&b, p);
    return drudge_buf_take(&b);
}

drudge_code drudge_replay(drudge_store *db, const drudge_replay_opts *opts,
                          drudge_replay_result *res, drudge_err *err)
{
    drudge_task_row t = {0};
    drudge_step *steps = NULL;
    drudge_payload *pays = NULL;
    size_t n = 0, np = 0;
    drudge_host *host = NULL;
    drudge_result out = {0};
    char *previous = NULL, *recorded_output = NULL, *recorded_error = NULL;
    char *recorded_outcome = NULL, *unpacked = NULL, *stored_main = NULL, *stored_dir = NULL;
    char recorded_sha[65] = "";
    memset(res, 0, sizeof *res);
    res->attempt = opts->attempt;
    drudge_code rc = load_task(db, opts->task_id, &res->attempt, &t, err);
    if (rc)
        goto cleanup;
    rc = drudge_audit_load_attempt(db, opts->task_id, res->attempt, &steps, &n, &pays, &np,
                                   &res->pruned, err);
    if (rc)
        goto cleanup;
    if (n == 0) {
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "task #%lld has no recorded attempt %d",
                           (long long)opts->task_id, res->attempt);
        goto cleanup;
    }
    res->recorded = n;
    recorded_output = root_output(steps[0].response, recorded_sha);
    /* The version that ran: named by the attempt's root, else (an attempt
     * recorded before roots named it) the one the task was enqueued with. */
    if (!recorded_sha[0] && t.script_sha256 && strlen(t.script_sha256) == 64)
        memcpy(recorded_sha, t.script_sha256, 65);
    snprintf(res->recorded_version, sizeof res->recorded_version, "%s", recorded_sha);
    recorded_error = steps[0].error ? drudge_xstrdup(steps[0].error) : NULL;
    recorded_outcome = drudge_xstrdup(steps[0].outcome ? steps[0].outcome : "");
    /* task.previous as the attempt saw it: built again from the trail (earlier
     * attempts are immutable), if the attempt had it at all. */
    if (steps[0].request && strstr(steps[0].request, ",\"previous\":true}")) {
        rc = drudge_previous_attempts(db, opts->task_id, res->attempt, &previous, err);
        if (rc)
            goto cleanup;
    }
    /* No secrets file: in replay secret() answers "[REDACTED:name]". */
    drudge_host_opts hopts = {.files_dir = opts->files_dir, .echo_logs = opts->echo_logs};
    host = drudge_host_new(&hopts, err);
    if (!host) {
        rc = err ? err->code : DRUDGE_EIO;
        goto cleanup;
    }
    drudge_rec *rec = drudge_host_rec(host);
    /* Replay mode before the script loads, so a secret() at its top level
     * does not reach for the real value either. */
    drudge_rec_replay_load(rec, steps, n, pays, np);
    steps = NULL;
    pays = NULL;
    /* By default the stored source of that version, so that replay needs no
     * file and runs what ran; --script runs another version on purpose. */
    const char *path = opts->script_path ? opts->script_path : t.script_path;
    if (!opts->script_path && recorded_sha[0]) {
        rc = drudge_script_version_unpack(db, recorded_sha, &unpacked, &stored_main, err);
        if (rc && rc != DRUDGE_ENOTFOUND)
            goto cleanup;
        rc = DRUDGE_OK;
        if (stored_main) {
            path = stored_main;
            res->stored_source = 1;
            drudge_script_version sv;
            if (!drudge_store_script_version(db, recorded_sha, &sv, NULL) && sv.path &&
                strrchr(sv.path, '/')) {
                stored_dir = drudge_xstrdup(sv.path);
                *strrchr(stored_dir, '/') = '\0';
            }
            drudge_script_version_clear(&sv);
        }
    }
    const drudge_script_info *info;
    rc = drudge_host_load(host, path, &info, err);
    if (!rc) {
        const drudge_script_version *v = drudge_host_script_version(info);
        snprintf(res->version, sizeof res->version, "%s", v ? v->sha256 : "");
    }
    if (rc == DRUDGE_ENOTFOUND && !opts->script_path && err) {
        char detail[sizeof err->msg];
        snprintf(detail, sizeof detail, "%s", err->msg);
        drudge_seterr(err, rc, "%s (the task's script moved? replay it with --script FILE)",
                      detail);
    }
    if (rc)
        goto cleanup;
    drudge_task_view view = {.id = opts->task_id,
                             .key = t.key,
                             .attempt = res->attempt,
                             .input = t.input,
                             .script = t.script ? t.script : info->name,
                             .previous = previous};
    rc = drudge_host_run(host, path, &view, &out, err);
    if (rc)
        goto cleanup;
    drudge_rec_replay_check_end(rec);
    res->steps = drudge_rec_count(rec);
    res->outcome = drudge_xstrdup(drudge_outcome_name(out.outcome));
    /* The attempt itself: outcome, error, and output as JSON values. */
    const drudge_step *root = drudge_rec_count(rec) ? drudge_rec_step(rec, 0) : NULL;
    const char *what = NULL, *exp = NULL, *got = NULL;
    if (*drudge_rec_divergence(rec))
        res->divergence = drudge_xstrdup(drudge_rec_divergence(rec));
    else if (root && strcmp(recorded_outcome, root->outcome) != 0)
        what = "outcome", exp = recorded_outcome, got = root->outcome;
    char *replayed_error = root ? as_recorded(root->error, unpacked, stored_dir) : NULL;
    if (!res->divergence && !what && root &&
        strcmp(recorded_error ? recorded_error : "", replayed_error ? replayed_error : ""))
        what = "error", exp = recorded_error, got = replayed_error;
    char *replayed_output = root ? root_output(root->response, NULL) : NULL;
    if (!res->divergence && !what && root &&
        !drudge_replay_json_same(recorded_output, replayed_output))
        what = "output", exp = recorded_output, got = replayed_output;
    if (what) {
        drudge_buf d = {0};
        drudge_buf_printf(&d, "step 1 (task \"%s\"): %s differs: expected %s, got %s", root->name,
                          what, exp ? exp : "none", got ? got : "none");
        res->divergence = drudge_buf_take(&d);
    }
    free(replayed_output);
    free(replayed_error);
    if (res->divergence) {
        rc = drudge_seterr(err, DRUDGE_EDIVERGE, "replay of task #%lld attempt %d diverged: %s",
                           (long long)opts->task_id, res->attempt, res->divergence);
    }
cleanup:
    if (unpacked)
        drudge_script_version_remove(unpacked);
    free(unpacked);
    free(stored_main);
    free(stored_dir);
    drudge_result_clear(&out);
    drudge_host_free(host);
    if (steps)
        drudge_steps_free(steps, n);
    drudge_payloads_free(pays, np);
    free(previous);
    free(recorded_output);
    free(recorded_error);
    free(recorded_outcome);
    drudge_task_row_clear(&t);
    return rc;
}

void drudge_replay_result_clear(drudge_replay_result *res)
{
    free(res->divergence);
    free(res->outcome);
    memset(res, 0, sizeof *res);
}

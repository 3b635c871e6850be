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

/* The recorded root's response as the host wrote it ({"output":...} or
 * none), without the task state the writer put in front of it. */
static char *recorded_root_output(const char *response)
{
    char state[16];
    const char *out;
    size_t len;
    drudge_audit_root_parse(response, state, &out, &len);
    if (!state[0])
        return response ? drudge_xstrdup(response) : NULL;
    if (!out)
        return NULL;
    drudge_buf b = {0};
    drudge_buf_puts(&b, "{\"output\":");
    drudge_buf_add(&b, out, len);
    drudge_buf_puts(&b, "}");
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
    char *recorded_outcome = NULL;
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
    recorded_output = recorded_root_output(steps[0].response);
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
    const char *path = opts->script_path ? opts->script_path : t.script_path;
    const drudge_script_info *info;
    rc = drudge_host_load(host, path, &info, err);
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
    else if (root && strcmp(recorded_error ? recorded_error : "", root->error ? root->error : ""))
        what = "error", exp = recorded_error, got = root->error;
    else if (root && !drudge_replay_json_same(recorded_output, root->response))
        what = "output", exp = recorded_output, got = root->response;
    if (what) {
        drudge_buf d = {0};
        drudge_buf_printf(&d, "step 1 (task \"%s\"): %s differs: expected %s, got %s", root->name,
                          what, exp ? exp : "none", got ? got : "none");
        res->divergence = drudge_buf_take(&d);
    }
    if (res->divergence) {
        rc = drudge_seterr(err, DRUDGE_EDIVERGE, "replay of task #%lld attempt %d diverged: %s",
                           (long long)opts->task_id, res->attempt, res->divergence);
    }
cleanup:
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

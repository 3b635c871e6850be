/*
 * casetest.h: tests for robots (runner/work/casetest.c): a recorded attempt
 * saved as a case file (`drudge record-case`), and a script run against
 * case files offline (`drudge test`), on replay's machinery: the connectors
 * answer from the case, nothing touches the world.
 */
#ifndef DRUDGE_CASETEST_H
#define DRUDGE_CASETEST_H

#include <stdint.h>
#include "drudge/error.h"
#include "drudge/util.h"
#include "runner/store/store.h"

/* Appends attempt (0: the last recorded) of task_id as a case file to out:
 * {"format":"drudge-case/1","name","script","task","attempt","input","key",
 *  "expect":{"outcome","output","error"},"steps":[{"seq","parent","kind",
 *  "name","request","response","outcome","error"}],"payloads":{SHA256:
 *  {"content_type","base64"}}} (request and response as JSON text). */
drudge_code drudge_case_record(drudge_store *s, int64_t task_id, int attempt, drudge_buf *out,
                               drudge_err *err);

typedef struct drudge_case_outcome {
    char *name;    /* the case's "name", else its file name */
    char *failure; /* why it failed (malloc'd), or NULL: passed */
    char *outcome; /* the attempt's outcome ("done", ...) */
    int64_t duration_us;
} drudge_case_outcome;
void drudge_case_outcome_clear(drudge_case_outcome *o);

/* Runs the script at script_path against the case file at case_path: its
 * input, its connector answers (a step the script makes that the case does
 * not have, or makes differently, fails the case), and its expectations
 * (outcome; output, compared as JSON values; error). DRUDGE_OK when the
 * case ran (passed or not: out->failure), DRUDGE_EINPUT for a malformed case
 * (the message names the file and the field), another code when the
 * script could not be loaded. */
drudge_code drudge_case_run(const char *script_path, const char *case_path, const char *files_dir,
                            int echo_logs, drudge_case_outcome *out /* OUT */, drudge_err *err);

#endif

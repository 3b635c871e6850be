/* fuzz_json.c: JSON texts from outside: the strict checker behind JSONL
 * backlogs and --input (drudge_json_check), the comparison replay uses on
 * recorded values (drudge_replay_json_same), and the key redaction of the
 * audit trail (drudge_redact_json_keys). Input: "a\0b". */
#include "fuzz.h"
#include "drudge/util.h"
#include "logs/replay/replay.h"
#include "runner/queue/bulk.h"

#include "logs/audit/recordint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *zero = memchr(data, 0, size);
    size_t na = zero ? (size_t)(zero - data) : size;
    char *a = fuzz_str(data, na);
    char *b = zero ? fuzz_str(zero + 1, size - na - 1) : fuzz_str((const uint8_t *)"", 0);
    size_t at = 0;
    const char *bad = drudge_json_check(a, na, &at);
    if (bad && at > na)
        abort();
    if (!bad && !drudge_replay_json_same(a, a))
        abort(); /* a valid value is the same as itself */
    drudge_replay_json_same(a, b);
    if (!bad) {
        drudge_buf buf = {0};
        drudge_buf_puts(&buf, a);
        drudge_redact_json_keys(&buf);
        if (drudge_json_check(buf.data, buf.len, &at))
            abort(); /* redaction keeps it JSON */
        drudge_buf_free(&buf);
    }
    free(a);
    free(b);
    return 0;
}

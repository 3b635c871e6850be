/* fuzz_canonical.c: the canonical encoding of an audit row and its hash
 * (logs/audit/chain.c), on rows whose fields come from outside: the input
 * is split at NUL bytes into kind, name, request, response, outcome, error.
 * Two rows that differ must encode differently. */
#include "fuzz.h"
#include "drudge/record.h"
#include "drudge/util.h"
#include "logs/audit/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    char *f[6] = {0};
    char *p = s, *end = s + size;
    for (int i = 0; i < 6; i++) {
        if (p < end) {
            f[i] = p;
            p += strlen(p) + 1;
        } else {
            f[i] = (char *)"";
        }
    }
    drudge_step st = {.seq = 2,
                      .parent = 1,
                      .kind = f[0],
                      .name = f[1],
                      .request = *f[2] ? f[2] : NULL,
                      .response = *f[3] ? f[3] : NULL,
                      .started_us = 1795460400000000,
                      .duration_us = 1500,
                      .outcome = f[4],
                      .error = *f[5] ? f[5] : NULL};
    drudge_buf a = {0}, b = {0};
    drudge_audit_canonical(&a, 10, 3, 1, &st);
    char h[65];
    drudge_audit_hash("0000000000000000000000000000000000000000000000000000000000000000", a.data,
                      a.len, h);
    st.duration_us++;
    drudge_audit_canonical(&b, 10, 3, 1, &st);
    if (a.len == b.len && !memcmp(a.data, b.data, a.len))
        abort();
    drudge_buf_free(&a);
    drudge_buf_free(&b);
    free(s);
    return 0;
}

/* fuzz_redact.c: redaction patterns files (--redact, logs/audit/redact.c):
 * the input is the file; the patterns it loads are applied to a text that
 * holds an e-mail address and a National Insurance number. */
#include <stdio.h>
#include <unistd.h>
#include "fuzz.h"
#include "drudge/error.h"
#include "drudge/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/drudge-fuzz-redact.%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    drudge_rec *r = drudge_rec_new();
    drudge_err err = {0};
    if (drudge_rec_load_patterns(r, path, &err) == DRUDGE_OK) {
        char *out = drudge_rec_redact(r, "case AB123456C for jo@example.org: {\"password\":\"x\"}");
        free(out);
    }
    drudge_rec_free(r);
    return 0;
}

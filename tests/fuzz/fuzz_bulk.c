/* fuzz_bulk.c: backlog files, CSV (RFC 4180) and JSONL, as `drudge enqueue
 * --from` reads them (runner/queue/bulk.c). The first byte picks the format
 * and whether a key field is asked for; the rest is the file. */
#include <stdio.h>
#include <unistd.h>
#include "fuzz.h"
#include "runner/queue/bulk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/drudge-fuzz-bulk.%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    drudge_err err = {0};
    drudge_bulk_format fmt = (data[0] & 1) ? DRUDGE_BULK_CSV : DRUDGE_BULK_JSONL;
    const char *key = (data[0] & 2) ? "ref" : NULL;
    drudge_bulk *b = drudge_bulk_open(path, fmt, key, &err);
    if (!b)
        return 0;
    drudge_bulk_row row;
    for (int i = 0; i < 100000; i++) {
        int r = drudge_bulk_next(b, &row, &err);
        if (r == 0)
            break;
        if (r == 1) {
            size_t at;
            /* What a reader hands on must be one valid JSON value. */
            if (drudge_json_check(row.input, strlen(row.input), &at))
                abort();
        }
    }
    drudge_bulk_progress(b);
    drudge_bulk_free(b);
    return 0;
}

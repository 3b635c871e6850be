/* fuzz_time.c: the one time parser (drudge_parse_time_ex, runner/util/util.c)
 * behind --at, --since, --until and queue.enqueue{at=}. The first byte is
 * the flags. A date it accepts must be a real one. */
#include <stdio.h>
#include <time.h>
#include "fuzz.h"
#include "drudge/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *s = fuzz_str(data + 1, size - 1);
    char why[160];
    int64_t out = 0;
    int flags = data[0] & 7;
    if (drudge_parse_time_ex(s, INT64_C(1795460400000000), flags, &out, why, sizeof why) == 0 &&
        strlen(s) >= 10 && s[4] == '-' && s[7] == '-' && s[10] != ' ' && s[10] != 'T' && !s[10] &&
        !(flags & 2)) {
        /* a bare local date: it must be that day somewhere */
        int y, m, d;
        if (sscanf(s, "%4d-%2d-%2d", &y, &m, &d) == 3) {
            struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_isdst = -1};
            time_t t = mktime(&tm);
            if (tm.tm_mday != d || tm.tm_mon != m - 1)
                abort(); /* it normalised: the parser took an impossible date */
            (void)t;
        }
    }
    free(s);
    return 0;
}

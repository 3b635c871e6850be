/* fuzz_calendar.c: cron expressions (runner/calendar/cron.c) and run
 * window specs (window.c), as `schedule add --cron/--window` and a script's
 * `window` take them. Input: "cron\nwindow"; a cron that parses is asked
 * for its next fire times in UTC and Europe/London. */
#include "fuzz.h"
#include "runner/calendar/cron.h"
#include "runner/calendar/window.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    char *nl = strchr(s, '\n');
    const char *window = nl ? nl + 1 : "";
    if (nl)
        *nl = '\0';
    drudge_err err = {0};
    drudge_cron c;
    if (drudge_cron_parse(s, &c, &err) == DRUDGE_OK) {
        static const char *const zones[] = {"UTC", "Europe/London"};
        for (int z = 0; z < 2; z++) {
            const drudge_tz *tz = NULL;
            if (drudge_tz_get(zones[z], &tz, &err) != DRUDGE_OK)
                continue;
            int64_t t = INT64_C(1774828800000000); /* 2026-03-30 */
            for (int i = 0; i < 3 && t >= 0; i++) {
                int64_t next = drudge_cron_next(&c, tz, t);
                if (next >= 0 && next <= t)
                    abort(); /* strictly after */
                t = next;
            }
        }
    }
    int ok = drudge_window_parse(window, &err) == DRUDGE_OK;
    int open = drudge_window_allows(window, INT64_C(1774828800000000));
    if (!ok && *window && open)
        abort(); /* an invalid window never opens */
    free(s);
    return 0;
}

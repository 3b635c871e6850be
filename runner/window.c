/* window.c: run windows (placeholder: every window is open). */
#include <stddef.h>
#include "drudge/schedule.h"

int drudge_window_allows(const char *spec, int64_t now_us)
{
    (void)spec;
    (void)now_us;
    return 1;
}

drudge_code drudge_window_parse(const char *spec, drudge_err *err)
{
    (void)spec;
    (void)err;
    return DRUDGE_OK;
}

static void sql_in_window(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *spec = (const char *)sqlite3_value_text(argv[0]);
    sqlite3_result_int(ctx, drudge_window_allows(spec, sqlite3_value_int64(argv[1])));
}

drudge_code drudge_window_register(sqlite3 *db, drudge_err *err)
{
    if (sqlite3_create_function(db, "drudge_in_window", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                sql_in_window, NULL, NULL) != SQLITE_OK)
        return drudge_seterr(err, DRUDGE_EDB, "registering drudge_in_window: %s",
                             sqlite3_errmsg(db));
    return DRUDGE_OK;
}

/* xlsx.c: drudge.xlsx, Excel workbooks in the files directory.
 *
 *   xlsx.sheets(path) -> { name, ... }
 *   xlsx.read(path [, { sheet = 1 | "Name", header = true }]) -> { row, ... }
 *   xlsx.write(path, { { name, rows, columns, widths, formats }, ... }) -> { path, sha256, size }
 *
 * Reading is xlsx_read.c (libzip, expat); writing is libxlsxwriter, through
 * drudge_host_write_file (a "file" step with the workbook's SHA-256). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <lauxlib.h>
#include <xlsxwriter.h>
#include "connectors/xlsx/xlsxint.h"
#include "drudge/host.h"
#include "drudge/util.h"

#define BOOK_MT "drudge.xlsx.book"

static int book_gc(lua_State *L)
{
    xlsx_book_close(luaL_checkudata(L, 1, BOOK_MT));
    return 0;
}

/* Opens the workbook at the path argument 1 (confined); pushes the book. */
static xlsx_book *open_book(lua_State *L, const char *fn)
{
    const char *path = luaL_checkstring(L, 1);
    const char *full = drudge_host_confine(L, path);
    xlsx_book *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, BOOK_MT);
    drudge_err err = {0};
    if (xlsx_book_open(b, full, &err))
        luaL_error(L, "%s: %s: %s", fn, path, err.msg);
    lua_remove(L, -2);
    return b;
}

static int l_sheets(lua_State *L)
{
    xlsx_book *b = open_book(L, "xlsx.sheets");
    lua_createtable(L, b->nsheets, 0);
    for (int i = 0; i < b->nsheets; i++) {
        lua_pushstring(L, b->sheets[i].name);
        lua_rawseti(L, -2, i + 1);
    }
    xlsx_book_close(b);
    return 1;
}

/* xlsx.read(path [, opts]) -> rows: with header (the default), the first
 * row that has a value names the columns and each later row is a table
 * keyed by those names (empty rows are skipped); without, each row is a
 * list by column (holes for empty cells) and rows keep their numbers. */
static int l_read(lua_State *L)
{
    int header = 1, sheet = 0;
    const char *sheet_name = NULL;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
            if (!strcmp(k, "header")) {
                if (!lua_isboolean(L, -1))
                    drudge_host_config_error(L, "xlsx.read: 'header' must be true or false");
                header = lua_toboolean(L, -1);
            } else if (!strcmp(k, "sheet")) {
                if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1)
                    sheet = (int)lua_tointeger(L, -1) - 1;
                else if (lua_type(L, -1) == LUA_TSTRING)
                    sheet_name = lua_tostring(L, -1);
                else
                    drudge_host_config_error(L, "xlsx.read: 'sheet' must be a sheet's name or its "
                                                "number from 1");
            } else {
                drudge_host_config_error(L, "xlsx.read: unknown option '%s' (header, sheet)", k);
            }
            lua_pop(L, 1);
        }
    }
    lua_settop(L, 2);
    xlsx_book *b = open_book(L, "xlsx.read");
    int book = lua_gettop(L);
    if (sheet_name) {
        sheet = -1;
        for (int i = 0; i < b->nsheets && sheet < 0; i++)
            if (!strcmp(b->sheets[i].name, sheet_name))
                sheet = i;
        if (sheet < 0)
            return luaL_error(L, "xlsx.read: %s has no sheet '%s'", lua_tostring(L, 1), sheet_name);
    }
    if (sheet >= b->nsheets)
        return luaL_error(L, "xlsx.read: %s has %d sheet%s, not %d", lua_tostring(L, 1), b->nsheets,
                          b->nsheets == 1 ? "" : "s", sheet + 1);
    drudge_err err = {0};
    if (xlsx_sheet_rows(L, b, sheet, &err))
        return luaL_error(L, "xlsx.read: %s: %s", lua_tostring(L, 1), err.msg);
    lua_Integer last = lua_tointeger(L, -1);
    lua_pop(L, 1);
    int byrow = lua_gettop(L);
    xlsx_book_close(b);
    if (!header) {
        lua_newtable(L);
        for (lua_Integer r = 1; r <= last; r++) {
            if (lua_rawgeti(L, byrow, r) == LUA_TNIL) {
                lua_pop(L, 1);
                lua_newtable(L);
            }
            lua_rawseti(L, -2, r);
        }
        return 1;
    }
    lua_newtable(L); /* out */
    int out = lua_gettop(L), names = 0;
    lua_Integer n = 0;
    for (lua_Integer r = 1; r <= last; r++) {
        if (lua_rawgeti(L, byrow, r) != LUA_TTABLE) {
            lua_pop(L, 1);
            continue;
        }
        int row = lua_gettop(L);
        lua_pushnil(L);
        if (!lua_next(L, row)) { /* an empty row */
            lua_pop(L, 1);
            continue;
        }
        lua_pop(L, 2);
        if (!names) {        /* the header row: its values, as strings */
            lua_newtable(L); /* column -> name */
            names = lua_gettop(L);
            lua_newtable(L); /* name -> true */
            int seen = names + 1;
            lua_pushnil(L);
            while (lua_next(L, row)) {
                const char *s = luaL_tolstring(L, -1, NULL);
                lua_pushvalue(L, -1);
                if (lua_rawget(L, seen) != LUA_TNIL) /* a lookup would lose a column */
                    return luaL_error(L,
                                      "xlsx.read: %s: row %I: the header names column '%s' twice "
                                      "(header = false reads the cells by position)",
                                      lua_tostring(L, 1), r, s);
                lua_pop(L, 1);
                lua_pushvalue(L, -1);
                lua_pushboolean(L, 1);
                lua_rawset(L, seen);
                lua_pushvalue(L, -3);
                lua_pushvalue(L, -2);
                lua_rawset(L, names);
                lua_pop(L, 2);
            }
            lua_pop(L, 1);
            lua_remove(L, row); /* names moves down to row's slot */
            names = row;
            continue;
        }
        lua_newtable(L);
        lua_pushnil(L);
        while (lua_next(L, row)) {
            lua_pushvalue(L, -2);
            if (lua_rawget(L, names) != LUA_TNIL) { /* a column without a name is dropped */
                lua_pushvalue(L, -2);
                lua_rawset(L, row + 1);
            } else {
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
        lua_rawseti(L, out, ++n);
        lua_pop(L, 1);
    }
    lua_settop(L, out);
    (void)book;
    return 1;
}

/* ---- writing ---- */

typedef struct xw {
    int sheets; /* stack index of the sheets list */
    int nsheets;
    const char *fn;
} xw;

/* "2026-11-23", "2026-11-23T09:15", "2026-11-23 09:15:02" -> dt. */
static int parse_iso(const char *s, lxw_datetime *dt)
{
    int y, mo, d, h = 0, mi = 0, n = 0;
    double sec = 0;
    memset(dt, 0, sizeof *dt);
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return 0;
    if (s[10]) {
        int m = 0;
        if ((s[10] != 'T' && s[10] != ' ') || sscanf(s + 11, "%2d:%2d%n", &h, &mi, &m) != 2)
            return 0;
        if (s[11 + m] == ':' && sscanf(s + 12 + m, "%lf", &sec) != 1)
            return 0;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec >= 61)
        return 0;
    dt->year = y;
    dt->month = mo;
    dt->day = d;
    dt->hour = h;
    dt->min = mi;
    dt->sec = sec;
    return 1;
}

/* The columns of sheet spec at idx: pushed (a list of names), and whether
 * rows are keyed by them. */
static int sheet_columns(lua_State *L, int spec, int rows)
{
    if (lua_getfield(L, spec, "columns") == LUA_TTABLE)
        return 1;
    lua_pop(L, 1);
    lua_rawgeti(L, rows, 1);
    int keyed = lua_istable(L, -1) && lua_rawlen(L, -1) == 0;
    lua_pop(L, 1);
    lua_newtable(L);
    if (!keyed)
        return 0;
    /* every key found, in sorted order */
    lua_newtable(L);
    int set = lua_gettop(L);
    lua_Integer nrows = (lua_Integer)lua_rawlen(L, rows);
    for (lua_Integer i = 1; i <= nrows; i++) {
        lua_rawgeti(L, rows, i);
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) == LUA_TSTRING) {
                lua_pushvalue(L, -1);
                lua_pushboolean(L, 1);
                lua_rawset(L, set);
            }
        }
        lua_pop(L, 1);
    }
    lua_Integer k = 0;
    lua_pushnil(L);
    while (lua_next(L, set)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_rawseti(L, set - 1, ++k);
    }
    lua_pop(L, 1);
    /* insertion sort by name: few columns */
    int t = lua_gettop(L);
    for (lua_Integer i = 2; i <= k; i++)
        for (lua_Integer j = i; j > 1; j--) {
            lua_rawgeti(L, t, j - 1);
            lua_rawgeti(L, t, j);
            if (strcmp(lua_tostring(L, -2), lua_tostring(L, -1)) <= 0) {
                lua_pop(L, 2);
                break;
            }
            lua_rawseti(L, t, j - 1);
            lua_rawseti(L, t, j);
        }
    return 1;
}

static int is_date_format(const char *f)
{
    for (; f && *f; f++)
        if (strchr("dmyhs", tolower((unsigned char)*f)))
            return 1;
    return 0;
}

/* Writes one cell from the value on top of the stack (popped). */
static lxw_error put_cell(lua_State *L, lxw_worksheet *ws, lxw_row_t r, lxw_col_t c,
                          lxw_format *fmt, int date)
{
    lxw_error e = LXW_NO_ERROR;
    lxw_datetime dt;
    switch (lua_type(L, -1)) {
    case LUA_TNUMBER:
        e = worksheet_write_number(ws, r, c, lua_tonumber(L, -1), fmt);
        break;
    case LUA_TBOOLEAN:
        e = worksheet_write_boolean(ws, r, c, lua_toboolean(L, -1), fmt);
        break;
    case LUA_TSTRING:
        if (date && parse_iso(lua_tostring(L, -1), &dt))
            e = worksheet_write_datetime(ws, r, c, &dt, fmt);
        else
            e = worksheet_write_string(ws, r, c, lua_tostring(L, -1), fmt);
        break;
    default:
        break;
    }
    lua_pop(L, 1);
    return e;
}

static drudge_code write_book(lua_State *L, const char *tmp, void *ud, drudge_err *err)
{
    xw *w = ud;
    lxw_workbook_options o = {.constant_memory = LXW_FALSE, .tmpdir = NULL};
    lxw_workbook *wb = workbook_new_opt(tmp, &o);
    if (!wb)
        return drudge_seterr(err, DRUDGE_EIO, "cannot create %s", tmp);
    lxw_format *bold = workbook_add_format(wb);
    format_set_bold(bold);
    lxw_error e = LXW_NO_ERROR;
    for (int s = 1; s <= w->nsheets && !e; s++) {
        lua_rawgeti(L, w->sheets, s);
        int spec = lua_gettop(L);
        lua_getfield(L, spec, "name");
        lxw_worksheet *ws = workbook_add_worksheet(wb, lua_tostring(L, -1));
        lua_pop(L, 1);
        lua_getfield(L, spec, "rows");
        int rows = lua_gettop(L);
        int keyed = sheet_columns(L, spec, rows);
        int cols = lua_gettop(L);
        lua_Integer ncols = (lua_Integer)lua_rawlen(L, cols);
        lua_getfield(L, spec, "formats");
        int formats = lua_gettop(L);
        lua_getfield(L, spec, "widths");
        int widths = lua_gettop(L);
        if (!ws) {
            e = LXW_ERROR_MEMORY_MALLOC_FAILED;
            break;
        }
        /* per column: its number format (a date format writes ISO strings as dates) */
        lxw_format **cf = calloc((size_t)ncols + 1, sizeof *cf);
        char *isdate = calloc((size_t)ncols + 1, 1);
        for (lua_Integer c = 1; keyed && c <= ncols; c++) {
            lua_rawgeti(L, cols, c);
            if (lua_istable(L, formats)) {
                lua_pushvalue(L, -1);
                if (lua_rawget(L, formats) == LUA_TSTRING) {
                    cf[c] = workbook_add_format(wb);
                    format_set_num_format(cf[c], lua_tostring(L, -1));
                    isdate[c] = (char)is_date_format(lua_tostring(L, -1));
                }
                lua_pop(L, 1);
            }
            double width = 0; /* widths = { name = w } or a list by column */
            if (lua_istable(L, widths)) {
                lua_pushvalue(L, -1);
                if (lua_rawget(L, widths) == LUA_TNUMBER)
                    width = lua_tonumber(L, -1);
                lua_pop(L, 1);
                if (!width && lua_rawgeti(L, widths, c) == LUA_TNUMBER)
                    width = lua_tonumber(L, -1);
                if (lua_gettop(L) > widths + 1)
                    lua_pop(L, 1);
            }
            if (width > 0 || cf[c])
                worksheet_set_column(ws, (lxw_col_t)(c - 1), (lxw_col_t)(c - 1),
                                     width > 0 ? width : LXW_DEF_COL_WIDTH, NULL);
            e = put_cell(L, ws, 0, (lxw_col_t)(c - 1), bold, 0);
        }
        lua_settop(L, widths);
        if (keyed && ncols) {
            worksheet_freeze_panes(ws, 1, 0);
            worksheet_autofilter(ws, 0, 0, 0, (lxw_col_t)(ncols - 1));
        }
        lua_Integer nrows = (lua_Integer)lua_rawlen(L, rows);
        for (lua_Integer r = 1; r <= nrows && !e; r++) {
            lua_rawgeti(L, rows, r);
            lxw_row_t row = (lxw_row_t)(keyed ? r : r - 1);
            lua_Integer m = keyed ? ncols : (lua_Integer)lua_rawlen(L, -1);
            for (lua_Integer c = 1; c <= m && !e; c++) {
                if (keyed) {
                    lua_rawgeti(L, cols, c);
                    lua_rawget(L, -2);
                } else {
                    lua_rawgeti(L, -1, c);
                }
                e = put_cell(L, ws, row, (lxw_col_t)(c - 1), keyed ? cf[c] : NULL,
                             keyed && isdate[c]);
            }
            lua_pop(L, 1);
        }
        free(cf);
        free(isdate);
        lua_settop(L, spec - 1);
    }
    lxw_error ce = workbook_close(wb);
    if (e || ce)
        return drudge_seterr(err, DRUDGE_EIO, "cannot write the workbook: %s",
                             lxw_strerror(e ? e : ce));
    return DRUDGE_OK;
}

/* Checks the sheets before anything is written (the writer must not raise). */
static void check_sheets(lua_State *L, int idx, int *nsheets)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    *nsheets = (int)lua_rawlen(L, idx);
    if (*nsheets < 1)
        drudge_host_config_error(L, "xlsx.write: give at least one sheet: { { name = ..., rows = "
                                    "{...} } }");
    for (int s = 1; s <= *nsheets; s++) {
        if (lua_rawgeti(L, idx, s) != LUA_TTABLE)
            drudge_host_config_error(L, "xlsx.write: sheets[%d] must be a table", s);
        int spec = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, spec)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
            static const char *const known[] = {"name",    "rows",   "columns",
                                                "formats", "widths", NULL};
            int ok = 0;
            for (const char *const *kn = known; *kn && !ok; kn++)
                ok = !strcmp(k, *kn);
            if (!ok)
                drudge_host_config_error(L,
                                         "xlsx.write: sheets[%d]: unknown option '%s' (columns, "
                                         "formats, name, rows, widths)",
                                         s, k);
            lua_pop(L, 1);
        }
        lua_getfield(L, spec, "name");
        const char *name = lua_tostring(L, -1);
        if (lua_type(L, -1) != LUA_TSTRING || !*name || strlen(name) > 31 ||
            strpbrk(name, "[]:*?/\\") || name[0] == '\'')
            drudge_host_config_error(L,
                                     "xlsx.write: sheets[%d]: 'name' must be 1 to 31 characters "
                                     "without [ ] : * ? / \\",
                                     s);
        for (int o = 1; o < s; o++) {
            lua_rawgeti(L, idx, o);
            lua_getfield(L, -1, "name");
            if (!strcasecmp(lua_tostring(L, -1), name))
                drudge_host_config_error(L, "xlsx.write: two sheets are named '%s'", name);
            lua_pop(L, 2);
        }
        lua_pop(L, 1);
        if (lua_getfield(L, spec, "rows") != LUA_TTABLE)
            drudge_host_config_error(L, "xlsx.write: sheets[%d]: 'rows' must be a list of rows", s);
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        for (lua_Integer r = 1; r <= n; r++) {
            if (lua_rawgeti(L, -1, r) != LUA_TTABLE)
                drudge_host_config_error(L,
                                         "xlsx.write: sheets[%d].rows[%lld] is a %s, not a table",
                                         s, (long long)r, luaL_typename(L, -1));
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                int t = lua_type(L, -1);
                if (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TBOOLEAN)
                    drudge_host_config_error(L,
                                             "xlsx.write: sheets[%d].rows[%lld] holds a %s "
                                             "(strings, numbers and booleans only)",
                                             s, (long long)r, luaL_typename(L, -1));
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        static const char *const lists[] = {"columns", "formats", "widths"};
        for (int i = 0; i < 3; i++) {
            int t = lua_getfield(L, spec, lists[i]);
            if (t != LUA_TNIL && t != LUA_TTABLE)
                drudge_host_config_error(L, "xlsx.write: sheets[%d]: '%s' must be a table", s,
                                         lists[i]);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
}

static int l_write(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    xw w = {.sheets = 2, .fn = "xlsx.write"};
    check_sheets(L, 2, &w.nsheets);
    lua_settop(L, 2);
    return drudge_host_write_file(L, "xlsx.write", path, write_book, &w);
}

int luaopen_drudge_xlsx(lua_State *L)
{
    static const luaL_Reg meta[] = {{"__gc", book_gc}, {"__close", book_gc}, {NULL, NULL}};
    drudge_lua_class(L, BOOK_MT, meta, NULL);
    static const luaL_Reg fns[] = {
        {"sheets", l_sheets}, {"read", l_read}, {"write", l_write}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}

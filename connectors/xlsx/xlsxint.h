/* xlsxint.h: internals shared by drudge.xlsx's files: the reader
 * (xlsx_read.c: libzip and expat) and the module (xlsx.c). */
#ifndef DRUDGE_XLSXINT_H
#define DRUDGE_XLSXINT_H

#include <stddef.h>
#include <lua.h>
#include "drudge/error.h"

#define XLSX_MAX_SHEETS 256
#define XLSX_MAX_COLS   16384 /* XFD, Excel's last column */

typedef struct xlsx_sheet {
    char *name, *rid, *part; /* part: "xl/worksheets/sheet1.xml" */
} xlsx_sheet;

/* An open workbook: its sheets, shared strings, and which cell styles show
 * dates. xlsx_book_close frees it. */
typedef struct xlsx_book {
    struct zip *zip;
    xlsx_sheet sheets[XLSX_MAX_SHEETS];
    int nsheets;
    int date1904;
    char **strings;
    size_t nstrings, capstrings;
    char *style_date; /* per cellXfs index: 1 if its number format is a date */
    size_t nstyles, capstyles;
} xlsx_book;

/* Opens path; an error says why it is not a workbook (no zip, a damaged
 * part, XML that is not well-formed). */
drudge_code xlsx_book_open(xlsx_book *b, const char *path, drudge_err *err);
void xlsx_book_close(xlsx_book *b);
/* Pushes the rows of sheet (0-based) as a table row number -> { [col] =
 * value }, and the last row number; on an error pushes nothing. */
drudge_code xlsx_sheet_rows(lua_State *L, xlsx_book *b, int sheet, drudge_err *err);

#endif

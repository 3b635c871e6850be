/* xlsx_read.c: reading a workbook (Office Open XML, ECMA-376): the zip
 * archive with libzip, its XML parts with expat. Only what a robot needs:
 * sheet names, cell values (shared and inline strings, numbers, booleans,
 * errors) and which numbers are dates (by their cell style's number
 * format), so dates come out as ISO strings. */
#include <ctype.h>
#include <expat.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zip.h>
#include <lauxlib.h>
#include "connectors/xlsx/xlsxint.h"
#include "drudge/util.h"

#define MAX_PART ((zip_uint64_t)512 << 20) /* a part larger than this is refused */

/* Reads the part name of z into a malloc'd NUL-terminated buffer; NULL if
 * absent (*missing = 1) or unreadable (err set). */
static char *read_part(zip_t *z, const char *name, size_t *len, int *missing, drudge_err *err)
{
    zip_stat_t st;
    *missing = 0;
    if (zip_stat(z, name, 0, &st) != 0) {
        *missing = 1;
        return NULL;
    }
    if (!(st.valid & ZIP_STAT_SIZE) || st.size > MAX_PART) {
        drudge_seterr(err, DRUDGE_EINPUT, "part %s is too large", name);
        return NULL;
    }
    zip_file_t *f = zip_fopen(z, name, 0);
    if (!f) {
        drudge_seterr(err, DRUDGE_EINPUT, "cannot read part %s: %s", name, zip_strerror(z));
        return NULL;
    }
    char *buf = drudge_xmalloc((size_t)st.size + 1);
    zip_int64_t got = zip_fread(f, buf, st.size);
    zip_fclose(f);
    if (got < 0 || (zip_uint64_t)got != st.size) {
        free(buf);
        drudge_seterr(err, DRUDGE_EINPUT, "part %s is damaged (it does not decompress)", name);
        return NULL;
    }
    buf[st.size] = '\0';
    *len = (size_t)st.size;
    return buf;
}

/* The local part of an element name ("x:sheet" -> "sheet"). */
static const char *local(const char *n)
{
    const char *c = strrchr(n, ':');
    return c ? c + 1 : n;
}

static const char *attr(const char **atts, const char *name)
{
    for (int i = 0; atts[i]; i += 2)
        if (!strcmp(local(atts[i]), name))
            return atts[i + 1];
    return NULL;
}

/* One parse of a part: the handlers' state. */
typedef struct xparse {
    xlsx_book *b;
    lua_State *L;
    int depth;
    drudge_buf text; /* character data of the element being collected */
    int collect;     /* inside <t> (strings) or <v> */
    int in_si, in_rph, in_is;
    /* sheet parsing */
    int out;        /* stack index of the rows table */
    int64_t row;    /* current row number (1-based) */
    int col;        /* current cell's column (1-based) */
    char ctype[16]; /* t="" of the current cell */
    int cstyle;     /* s="" of the current cell */
    int have_value;
    drudge_buf value;
    int row_table; /* stack index of the current row's list, or 0 */
    int64_t first_row, last_pushed;
    int nrows;
} xparse;

static int parse(const char *xml, size_t len, XML_StartElementHandler start,
                 XML_EndElementHandler end, xparse *p, drudge_err *err, const char *part)
{
    XML_Parser x = XML_ParserCreate("UTF-8");
    if (!x)
        return drudge_seterr(err, DRUDGE_ENOMEM, "out of memory");
    XML_SetUserData(x, p);
    XML_SetElementHandler(x, start, end);
    XML_SetCharacterDataHandler(x, NULL);
    int rc = 0;
    extern void xlsx_chars(void *ud, const XML_Char *s, int n);
    XML_SetCharacterDataHandler(x, xlsx_chars);
    if (XML_Parse(x, xml, (int)len, 1) == XML_STATUS_ERROR) {
        drudge_seterr(err, DRUDGE_EINPUT, "part %s is not well-formed XML: %s at line %lu", part,
                      XML_ErrorString(XML_GetErrorCode(x)),
                      (unsigned long)XML_GetCurrentLineNumber(x));
        rc = -1;
    }
    XML_ParserFree(x);
    return rc;
}

void xlsx_chars(void *ud, const XML_Char *s, int n)
{
    xparse *p = ud;
    if (p->collect && !p->in_rph)
        drudge_buf_add(&p->text, s, (size_t)n);
}

/* ---- workbook.xml and its relationships ---- */

static void wb_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    xparse *p = ud;
    const char *n = local(name);
    if (!strcmp(n, "workbookPr")) {
        const char *d = attr(atts, "date1904");
        p->b->date1904 = d && (!strcmp(d, "1") || !strcmp(d, "true"));
    } else if (!strcmp(n, "sheet") && p->b->nsheets < XLSX_MAX_SHEETS) {
        const char *sn = attr(atts, "name"), *rid = attr(atts, "id");
        if (sn && rid) {
            xlsx_sheet *s = &p->b->sheets[p->b->nsheets++];
            s->name = drudge_xstrdup(sn);
            s->rid = drudge_xstrdup(rid);
        }
    }
}

static void rels_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    xparse *p = ud;
    if (strcmp(local(name), "Relationship"))
        return;
    const char *id = attr(atts, "Id"), *target = attr(atts, "Target");
    for (int i = 0; id && target && i < p->b->nsheets; i++) {
        xlsx_sheet *s = &p->b->sheets[i];
        if (!s->part && !strcmp(s->rid, id)) {
            drudge_buf b = {0};
            if (target[0] == '/')
                drudge_buf_puts(&b, target + 1);
            else
                drudge_buf_printf(&b, "xl/%s", target);
            s->part = drudge_buf_take(&b);
        }
    }
}

static void no_end(void *ud, const XML_Char *name)
{
    (void)ud;
    (void)name;
}

/* ---- sharedStrings.xml ---- */

static void ss_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    xparse *p = ud;
    const char *n = local(name);
    (void)atts;
    if (!strcmp(n, "si")) {
        p->in_si = 1;
        drudge_buf_reset(&p->text);
    } else if (!strcmp(n, "rPh")) {
        p->in_rph = 1; /* phonetic hints are not the text */
    } else if (!strcmp(n, "t") && p->in_si) {
        p->collect = 1;
    }
}

static void ss_end(void *ud, const XML_Char *name)
{
    xparse *p = ud;
    const char *n = local(name);
    xlsx_book *b = p->b;
    if (!strcmp(n, "t")) {
        p->collect = 0;
    } else if (!strcmp(n, "rPh")) {
        p->in_rph = 0;
    } else if (!strcmp(n, "si")) {
        p->in_si = 0;
        if (b->nstrings == b->capstrings) {
            b->capstrings = b->capstrings ? 2 * b->capstrings : 256;
            b->strings = drudge_xrealloc(b->strings, b->capstrings * sizeof *b->strings);
        }
        b->strings[b->nstrings++] = drudge_xstrdup(p->text.data ? p->text.data : "");
    }
}

/* ---- styles.xml: which cell styles show dates ---- */

/* A number format shows a date or time if it has d, m, y, h or s outside
 * quotes, brackets ([Red], [$-409]) and escapes. */
static int format_is_date(const char *f)
{
    for (const char *p = f; *p; p++) {
        if (*p == '"') {
            while (p[1] && p[1] != '"')
                p++;
            if (p[1])
                p++;
        } else if (*p == '[') {
            if (p[1] == 'h' || p[1] == 'm' || p[1] == 's')
                return 1; /* elapsed time: [h]:mm */
            while (p[1] && p[1] != ']')
                p++;
            if (p[1])
                p++;
        } else if (*p == '\\' && p[1]) {
            p++;
        } else if (strchr("dmyhsDMYHS", *p)) {
            return 1;
        }
    }
    return 0;
}

static int builtin_date(int id)
{
    return (id >= 14 && id <= 22) || (id >= 45 && id <= 47) || (id >= 27 && id <= 36) ||
           (id >= 50 && id <= 58);
}

typedef struct numfmt {
    int id, date;
} numfmt;

static numfmt custom[512];
static _Thread_local int ncustom;

static void st_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    xparse *p = ud;
    const char *n = local(name);
    xlsx_book *b = p->b;
    if (!strcmp(n, "numFmt") && ncustom < 512) {
        const char *id = attr(atts, "numFmtId"), *code = attr(atts, "formatCode");
        if (id && code) {
            custom[ncustom].id = atoi(id);
            custom[ncustom++].date = format_is_date(code);
        }
    } else if (!strcmp(n, "cellXfs")) {
        p->in_si = 1;
    } else if (!strcmp(n, "xf") && p->in_si) {
        const char *id = attr(atts, "numFmtId");
        int fid = id ? atoi(id) : 0, date = builtin_date(fid);
        for (int i = 0; i < ncustom; i++)
            if (custom[i].id == fid)
                date = custom[i].date;
        if (b->nstyles == b->capstyles) {
            b->capstyles = b->capstyles ? 2 * b->capstyles : 64;
            b->style_date = drudge_xrealloc(b->style_date, b->capstyles * sizeof *b->style_date);
        }
        b->style_date[b->nstyles++] = (char)date;
    }
}

static void st_end(void *ud, const XML_Char *name)
{
    xparse *p = ud;
    if (!strcmp(local(name), "cellXfs"))
        p->in_si = 0;
}

/* ---- opening ---- */

void xlsx_book_close(xlsx_book *b)
{
    if (b->zip)
        zip_discard(b->zip);
    b->zip = NULL;
    for (int i = 0; i < b->nsheets; i++) {
        free(b->sheets[i].name);
        free(b->sheets[i].rid);
        free(b->sheets[i].part);
    }
    b->nsheets = 0;
    for (size_t i = 0; i < b->nstrings; i++)
        free(b->strings[i]);
    free(b->strings);
    b->strings = NULL;
    b->nstrings = b->capstrings = 0;
    free(b->style_date);
    b->style_date = NULL;
    b->nstyles = b->capstyles = 0;
}

drudge_code xlsx_book_open(xlsx_book *b, const char *path, drudge_err *err)
{
    int zerr = 0;
    memset(b, 0, sizeof *b);
    b->zip = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    if (!b->zip) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        drudge_code rc =
            drudge_seterr(err, DRUDGE_EINPUT, "not an xlsx workbook (%s)", zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return rc;
    }
    static const struct {
        const char *part;
        XML_StartElementHandler start;
        XML_EndElementHandler end;
        int required;
    } parts[] = {
        {"xl/workbook.xml", wb_start, no_end, 1},
        {"xl/_rels/workbook.xml.rels", rels_start, no_end, 1},
        {"xl/sharedStrings.xml", ss_start, ss_end, 0},
        {"xl/styles.xml", st_start, st_end, 0},
    };
    ncustom = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t len = 0;
        int missing;
        char *xml = read_part(b->zip, parts[i].part, &len, &missing, err);
        if (!xml && missing && parts[i].required) {
            xlsx_book_close(b);
            return drudge_seterr(err, DRUDGE_EINPUT,
                                 "not an xlsx workbook (a zip archive without %s)", parts[i].part);
        }
        if (!xml && !missing) {
            xlsx_book_close(b);
            return DRUDGE_EINPUT;
        }
        if (!xml)
            continue;
        xparse p = {.b = b};
        int rc = parse(xml, len, parts[i].start, parts[i].end, &p, err, parts[i].part);
        drudge_buf_free(&p.text);
        free(xml);
        if (rc) {
            xlsx_book_close(b);
            return DRUDGE_EINPUT;
        }
    }
    for (int i = 0; i < b->nsheets; i++)
        if (!b->sheets[i].part) {
            xlsx_book_close(b);
            return drudge_seterr(err, DRUDGE_EINPUT, "sheet '%s' has no part in the workbook",
                                 b->sheets[i].name);
        }
    return DRUDGE_OK;
}

/* ---- a sheet ---- */

/* "2026-11-23" or "2026-11-23T09:15:00" from a serial date (days since
 * 1899-12-30, or since 1904-01-01). */
static void serial_to_iso(double v, int date1904, char out[64])
{
    double days = floor(v);
    int64_t secs = (int64_t)llround((v - days) * 86400.0);
    if (secs >= 86400) {
        days += 1;
        secs -= 86400;
    }
    /* Excel's day 60 is 1900-02-29, which never was: serials before it are
     * one day later than 1899-12-30 + n says; the usual epoch absorbs it. */
    int64_t base = date1904 ? 24107 : 25569; /* days from the epoch to 1970-01-01 */
    if (!date1904 && days < 61)
        days += 1;
    time_t t = (time_t)((days - (double)base) * 86400.0);
    struct tm tm;
    gmtime_r(&t, &tm);
    if (secs)
        snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
    else
        snprintf(out, 64, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* Column of a cell reference ("BC12" -> 55). */
static int ref_col(const char *r)
{
    int c = 0;
    for (; *r && isalpha((unsigned char)*r); r++)
        c = c * 26 + (toupper((unsigned char)*r) - 'A' + 1);
    return c;
}

static void push_cell(xparse *p)
{
    lua_State *L = p->L;
    xlsx_book *b = p->b;
    const char *v = p->value.data ? p->value.data : "";
    const char *t = p->ctype;
    if (!strcmp(t, "s")) {
        size_t i = (size_t)strtoull(v, NULL, 10);
        lua_pushstring(L, i < b->nstrings ? b->strings[i] : "");
    } else if (!strcmp(t, "inlineStr") || !strcmp(t, "str") || !strcmp(t, "e")) {
        lua_pushstring(L, v);
    } else if (!strcmp(t, "b")) {
        lua_pushboolean(L, !strcmp(v, "1") || !strcmp(v, "true"));
    } else if (!*v) {
        lua_pushnil(L);
    } else {
        double d = strtod(v, NULL);
        if (p->cstyle >= 0 && (size_t)p->cstyle < b->nstyles && b->style_date[p->cstyle]) {
            char iso[64];
            serial_to_iso(d, b->date1904, iso);
            lua_pushstring(L, iso);
        } else if (d == floor(d) && fabs(d) < 9e15) {
            lua_pushinteger(L, (lua_Integer)d);
        } else {
            lua_pushnumber(L, d);
        }
    }
}

static void sh_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    xparse *p = ud;
    lua_State *L = p->L;
    const char *n = local(name);
    if (!strcmp(n, "row")) {
        const char *r = attr(atts, "r");
        p->row = r ? atoll(r) : p->row + 1;
        p->col = 0;
        lua_newtable(L);
        p->row_table = lua_gettop(L);
    } else if (!strcmp(n, "c") && p->row_table) {
        const char *r = attr(atts, "r"), *t = attr(atts, "t"), *s = attr(atts, "s");
        p->col = r ? ref_col(r) : p->col + 1;
        snprintf(p->ctype, sizeof p->ctype, "%s", t ? t : "n");
        p->cstyle = s ? atoi(s) : -1;
        drudge_buf_reset(&p->value);
        p->have_value = 0;
    } else if ((!strcmp(n, "v") || (!strcmp(n, "t") && p->in_is)) && p->row_table) {
        p->collect = 1;
        drudge_buf_reset(&p->text);
    } else if (!strcmp(n, "is")) {
        p->in_is = 1;
    } else if (!strcmp(n, "rPh")) {
        p->in_rph = 1;
    }
}

static void sh_end(void *ud, const XML_Char *name)
{
    xparse *p = ud;
    lua_State *L = p->L;
    const char *n = local(name);
    if ((!strcmp(n, "v") || (!strcmp(n, "t") && p->in_is)) && p->collect) {
        p->collect = 0;
        if (p->text.len)
            drudge_buf_add(&p->value, p->text.data, p->text.len);
        p->have_value = 1;
    } else if (!strcmp(n, "is")) {
        p->in_is = 0;
    } else if (!strcmp(n, "rPh")) {
        p->in_rph = 0;
    } else if (!strcmp(n, "c") && p->row_table) {
        if (p->have_value && p->col > 0 && p->col <= XLSX_MAX_COLS) {
            push_cell(p);
            lua_rawseti(L, p->row_table, p->col);
        }
    } else if (!strcmp(n, "row") && p->row_table) {
        /* rows as a list by row number; holes (missing rows) stay nil */
        lua_rawseti(L, p->out, p->row);
        p->row_table = 0;
        if (p->row > p->last_pushed)
            p->last_pushed = p->row;
    }
}

drudge_code xlsx_sheet_rows(lua_State *L, xlsx_book *b, int sheet, drudge_err *err)
{
    size_t len = 0;
    int missing;
    const char *part = b->sheets[sheet].part;
    char *xml = read_part(b->zip, part, &len, &missing, err);
    if (!xml)
        return missing ? drudge_seterr(err, DRUDGE_EINPUT, "the part %s of sheet '%s' is missing",
                                       part, b->sheets[sheet].name)
                       : DRUDGE_EINPUT;
    lua_newtable(L);
    xparse p = {.b = b, .L = L, .out = lua_gettop(L)};
    int rc = parse(xml, len, sh_start, sh_end, &p, err, part);
    drudge_buf_free(&p.text);
    drudge_buf_free(&p.value);
    free(xml);
    if (rc) {
        lua_settop(L, p.out - 1);
        return DRUDGE_EINPUT;
    }
    lua_settop(L, p.out);
    lua_pushinteger(L, p.last_pushed);
    return DRUDGE_OK;
}

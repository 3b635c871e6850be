/* csv.c: drudge.csv, CSV files in the files directory (RFC 4180).
 *
 *   for row, line in csv.rows(path [, opts]) do ... end   -- streaming
 *   csv.read(path [, opts]) -> { row, ... }
 *   csv.parse(text [, opts]) -> { row, ... }
 *   csv.write(path, rows [, opts]) -> { path, sha256, size }
 *
 * Reading streams through a 64 KiB buffer, so a file of any size is read in
 * constant memory by csv.rows. A byte order mark is skipped (UTF-8) or
 * decides the encoding (UTF-16); other encodings are converted with iconv.
 * Broken quoting is an error naming the file and line. Writes go through
 * drudge_host_write_file: a "file" step with the file's SHA-256. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <strings.h>
#include <iconv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "drudge/host.h"
#include "drudge/util.h"

#define READER_MT "drudge.csv.reader"
#define CHUNK     65536

typedef struct csv_reader {
    FILE *f;               /* NULL: reading the string src */
    const char *src;       /* csv.parse: the text (kept alive by the stack) */
    size_t srclen, srcpos; /* ... */
    iconv_t cd;            /* (iconv_t)-1: the input is UTF-8 already */
    char raw[CHUNK];       /* undecoded bytes (with iconv) */
    size_t rawlen;
    char in[CHUNK * 4]; /* decoded bytes being parsed */
    size_t inlen, inpos;
    int eof, started;
    int64_t line;     /* line of the next byte */
    drudge_buf field; /* the field being read */
    char sep;
    int header, skip_blank, strict, check_utf8;
    int ncols;  /* header columns, or 0 */
    char *name; /* the file as the script named it, for messages */
} csv_reader;

static void reader_close(csv_reader *r)
{
    if (r->f)
        fclose(r->f);
    r->f = NULL;
    if (r->cd != (iconv_t)-1)
        iconv_close(r->cd);
    r->cd = (iconv_t)-1;
    drudge_buf_free(&r->field);
    free(r->name);
    r->name = NULL;
}

static int reader_gc(lua_State *L)
{
    reader_close(luaL_checkudata(L, 1, READER_MT));
    return 0;
}

static int csv_error(lua_State *L, csv_reader *r, int64_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int csv_error(lua_State *L, csv_reader *r, int64_t line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char full[768];
    snprintf(full, sizeof full, "csv: %s:%lld: %s", r->name ? r->name : "?", (long long)line, msg);
    return luaL_error(L, "%s", full);
}

/* Refills r->in; returns 0 at the end of the input. */
static int refill(lua_State *L, csv_reader *r)
{
    r->inpos = r->inlen = 0;
    if (r->eof)
        return 0;
    if (!r->f) {
        size_t n = r->srclen - r->srcpos < sizeof r->in ? r->srclen - r->srcpos : sizeof r->in;
        memcpy(r->in, r->src + r->srcpos, n);
        r->srcpos += n;
        r->inlen = n;
        r->eof = r->srcpos >= r->srclen;
        return n > 0;
    }
    if (r->cd == (iconv_t)-1) {
        r->inlen = fread(r->in, 1, CHUNK, r->f);
        if (ferror(r->f))
            csv_error(L, r, r->line, "read error: %s", strerror(errno));
        if (r->inlen == 0)
            r->eof = 1;
        return r->inlen > 0;
    }
    /* iconv: raw bytes (a partial character stays for the next round) */
    size_t got = fread(r->raw + r->rawlen, 1, sizeof r->raw - r->rawlen, r->f);
    if (ferror(r->f))
        csv_error(L, r, r->line, "read error: %s", strerror(errno));
    r->rawlen += got;
    if (r->rawlen == 0) {
        r->eof = 1;
        return 0;
    }
    char *ip = r->raw, *op = r->in;
    size_t il = r->rawlen, ol = sizeof r->in;
    if (iconv(r->cd, &ip, &il, &op, &ol) == (size_t)-1 && errno != EINVAL && errno != E2BIG)
        csv_error(L, r, r->line, "the bytes are not valid in the file's encoding");
    if (got == 0 && il > 0 && op == r->in)
        csv_error(L, r, r->line, "the file ends inside a character");
    memmove(r->raw, ip, il);
    r->rawlen = il;
    r->inlen = (size_t)(op - r->in);
    return 1;
}

static int next_byte(lua_State *L, csv_reader *r)
{
    while (r->inpos >= r->inlen)
        if (!refill(L, r))
            return -1;
    return (unsigned char)r->in[r->inpos++];
}

static int peek_byte(lua_State *L, csv_reader *r)
{
    while (r->inpos >= r->inlen)
        if (!refill(L, r))
            return -1;
    return (unsigned char)r->in[r->inpos];
}

static int valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xe0) == 0xc0 ? 2
                     : (c & 0xf0) == 0xe0 ? 3
                     : (c & 0xf8) == 0xf0 ? 4
                                          : 0;
        if (!len || i + len > n || (len == 2 && c < 0xc2))
            return 0;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
        i += len;
    }
    return 1;
}

/* Reads one record into a new table of fields (pushed); returns its
 * field count, or -1 at the end of the input (nothing pushed). */
static int read_record(lua_State *L, csv_reader *r, int64_t *line)
{
    int c = next_byte(L, r);
    if (c < 0)
        return -1;
    *line = r->line;
    lua_newtable(L);
    int n = 0;
    for (;;) {
        drudge_buf_reset(&r->field);
        if (c == '"') {
            int64_t qline = r->line;
            for (;;) {
                c = next_byte(L, r);
                if (c < 0)
                    csv_error(L, r, qline,
                              "field %d: the quoted field never ends (a missing closing quote)",
                              n + 1);
                if (c == '"') {
                    if (peek_byte(L, r) != '"')
                        break;
                    next_byte(L, r);
                }
                if (c == '\n')
                    r->line++;
                char ch = (char)c;
                drudge_buf_add(&r->field, &ch, 1);
            }
            c = next_byte(L, r);
            if (c >= 0 && c != r->sep && c != '\r' && c != '\n')
                csv_error(L, r, r->line,
                          "field %d: '%c' after the closing quote (a quote inside a field is "
                          "written twice: \"\")",
                          n + 1, c);
        } else {
            while (c >= 0 && c != r->sep && c != '\r' && c != '\n') {
                if (c == '"')
                    csv_error(L, r, r->line,
                              "field %d: a quote inside a field that does not start with one "
                              "(quote the field and write the quote twice)",
                              n + 1);
                char ch = (char)c;
                drudge_buf_add(&r->field, &ch, 1);
                c = next_byte(L, r);
            }
        }
        if (r->check_utf8 && r->field.len &&
            !valid_utf8((const unsigned char *)r->field.data, r->field.len))
            csv_error(L, r, r->line,
                      "field %d is not valid UTF-8 (give the file's encoding, e.g. encoding = "
                      "\"windows-1252\")",
                      n + 1);
        lua_pushlstring(L, r->field.data ? r->field.data : "", r->field.len);
        lua_rawseti(L, -2, ++n);
        if (c == r->sep) {
            c = next_byte(L, r);
            if (c < 0 || c == '\r' || c == '\n') { /* a trailing empty field */
                lua_pushliteral(L, "");
                lua_rawseti(L, -2, ++n);
                if (c < 0)
                    return n;
            } else {
                continue;
            }
        }
        if (c == '\r' && peek_byte(L, r) == '\n')
            next_byte(L, r);
        if (c == '\r' || c == '\n')
            r->line++;
        return n;
    }
}

/* Sets up encoding: a BOM decides; else opts' encoding (default UTF-8). */
static void start(lua_State *L, csv_reader *r, const char *encoding)
{
    r->started = 1;
    unsigned char bom[3] = {0};
    size_t have = 0;
    if (r->f) {
        have = fread(bom, 1, 3, r->f);
    } else {
        have = r->srclen < 3 ? r->srclen : 3;
        memcpy(bom, r->src, have);
    }
    size_t skip = 0;
    const char *from = encoding;
    if (have >= 3 && bom[0] == 0xef && bom[1] == 0xbb && bom[2] == 0xbf) {
        skip = 3;
        from = NULL;
    } else if (have >= 2 && bom[0] == 0xff && bom[1] == 0xfe) {
        skip = 2;
        from = "UTF-16LE";
    } else if (have >= 2 && bom[0] == 0xfe && bom[1] == 0xff) {
        skip = 2;
        from = "UTF-16BE";
    }
    if (from && (!strcasecmp(from, "utf-8") || !strcasecmp(from, "utf8")))
        from = NULL;
    if (r->f) {
        if (fseek(r->f, (long)skip, SEEK_SET) != 0)
            csv_error(L, r, 1, "cannot read: %s", strerror(errno));
    } else {
        r->srcpos = skip;
        r->eof = r->srcpos >= r->srclen;
    }
    r->check_utf8 = from == NULL;
    if (from) {
        if (!r->f)
            luaL_error(L, "csv.parse: the text is a Lua string: convert it first (encoding applies "
                          "to files)");
        r->cd = iconv_open("UTF-8", from);
        if (r->cd == (iconv_t)-1)
            drudge_host_config_error(L, "csv: unknown encoding '%s'", from);
    }
}

static void opts_read(lua_State *L, int idx, csv_reader *r, const char **encoding, const char *fn)
{
    r->sep = ',';
    r->header = 1;
    r->skip_blank = 1;
    r->strict = 1;
    *encoding = NULL;
    if (lua_isnoneornil(L, idx))
        return;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        if (!strcmp(k, "sep")) {
            size_t n;
            const char *s = lua_tolstring(L, -1, &n);
            if (!s || n != 1 || *s == '"' || *s == '\r' || *s == '\n')
                drudge_host_config_error(L,
                                         "%s: sep must be one character (not a quote or a line "
                                         "break)",
                                         fn);
            r->sep = *s;
        } else if (!strcmp(k, "header") || !strcmp(k, "skip_blank") || !strcmp(k, "strict")) {
            if (!lua_isboolean(L, -1))
                drudge_host_config_error(L, "%s: '%s' must be true or false", fn, k);
            int v = lua_toboolean(L, -1);
            if (k[0] == 'h')
                r->header = v;
            else if (k[1] == 'k')
                r->skip_blank = v;
            else
                r->strict = v;
        } else if (!strcmp(k, "encoding")) {
            if (lua_type(L, -1) != LUA_TSTRING)
                drudge_host_config_error(L, "%s: 'encoding' must be a string", fn);
            *encoding = lua_tostring(L, -1); /* the opts table keeps it alive */
        } else {
            drudge_host_config_error(L,
                                     "%s: unknown option '%s' (encoding, header, sep, skip_blank, "
                                     "strict)",
                                     fn, k);
        }
        lua_pop(L, 1);
    }
}

/* The next row (pushed) and its line; 0 at the end. The reader's uservalue
 * 1 holds the header names. */
static int next_row(lua_State *L, int ridx, csv_reader *r)
{
    int64_t line;
    for (;;) {
        int n = read_record(L, r, &line);
        if (n < 0)
            return 0;
        if (r->skip_blank && n == 1) {
            lua_rawgeti(L, -1, 1);
            int blank = lua_rawlen(L, -1) == 0;
            lua_pop(L, 1);
            if (blank) {
                lua_pop(L, 1);
                continue;
            }
        }
        if (r->header && !r->ncols) { /* the header row */
            for (int i = 1; i <= n; i++) {
                lua_rawgeti(L, -1, i);
                if (!lua_rawlen(L, -1))
                    csv_error(L, r, line, "column %d of the header has no name", i);
                for (int k = 1; k < i; k++) {
                    lua_rawgeti(L, -2, k);
                    if (lua_rawequal(L, -1, -2))
                        csv_error(L, r, line, "the header names column '%s' twice",
                                  lua_tostring(L, -1));
                    lua_pop(L, 1);
                }
                lua_pop(L, 1);
            }
            r->ncols = n;
            lua_setiuservalue(L, ridx, 1);
            continue;
        }
        if (r->header) {
            if (r->strict && n != r->ncols)
                csv_error(L, r, line, "%d field%s, the header has %d (strict = false allows it)", n,
                          n == 1 ? "" : "s", r->ncols);
            lua_createtable(L, 0, r->ncols);
            lua_getiuservalue(L, ridx, 1);
            for (int i = 1; i <= r->ncols && i <= n; i++) {
                lua_rawgeti(L, -1, i);
                lua_rawgeti(L, -4, i);
                lua_rawset(L, -4);
            }
            lua_pop(L, 1);
            lua_remove(L, -2);
        }
        lua_pushinteger(L, line);
        return 2;
    }
}

static csv_reader *new_reader(lua_State *L)
{
    csv_reader *r = lua_newuserdatauv(L, sizeof *r, 2);
    memset(r, 0, sizeof *r);
    r->line = 1;
    r->cd = (iconv_t)-1;
    luaL_setmetatable(L, READER_MT);
    return r;
}

/* Opens path (confined) into a new reader, pushed. */
static csv_reader *open_reader(lua_State *L, int opts, const char *fn)
{
    const char *path = luaL_checkstring(L, 1);
    const char *encoding;
    lua_settop(L, opts);
    csv_reader *r = new_reader(L);
    int ridx = lua_gettop(L);
    opts_read(L, opts, r, &encoding, fn);
    r->name = drudge_xstrdup(path);
    const char *full = drudge_host_confine(L, path);
    r->f = fopen(full, "rb");
    if (!r->f)
        luaL_error(L, "%s: cannot open %s: %s", fn, path, strerror(errno));
    lua_pop(L, 1);
    start(L, r, encoding);
    lua_settop(L, ridx);
    return r;
}

static int rows_iter(lua_State *L)
{
    csv_reader *r = luaL_checkudata(L, lua_upvalueindex(1), READER_MT);
    if (!r->started)
        return 0;
    lua_pushvalue(L, lua_upvalueindex(1));
    int n = next_row(L, lua_gettop(L), r);
    if (!n) {
        reader_close(r);
        r->started = 0;
        return 0;
    }
    return n;
}

/* csv.rows(path [, opts]) -> iterator, nil, nil, reader: the reader is the
 * loop's to-be-closed value, so breaking out of the loop closes the file. */
static int l_rows(lua_State *L)
{
    open_reader(L, 2, "csv.rows");
    int ridx = lua_gettop(L);
    lua_pushvalue(L, ridx);
    lua_pushcclosure(L, rows_iter, 1);
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushvalue(L, ridx);
    return 4;
}

static int read_all(lua_State *L, int ridx, csv_reader *r)
{
    lua_newtable(L);
    int out = lua_gettop(L);
    lua_Integer i = 0;
    while (next_row(L, ridx, r)) {
        lua_pop(L, 1); /* the line */
        lua_rawseti(L, out, ++i);
    }
    reader_close(r);
    return 1;
}

/* csv.read(path [, opts]) -> rows */
static int l_read(lua_State *L)
{
    csv_reader *r = open_reader(L, 2, "csv.read");
    return read_all(L, lua_gettop(L), r);
}

/* csv.parse(text [, opts]) -> rows */
static int l_parse(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    const char *encoding;
    lua_settop(L, 2);
    csv_reader *r = new_reader(L);
    int ridx = lua_gettop(L);
    opts_read(L, 2, r, &encoding, "csv.parse");
    r->name = drudge_xstrdup("(text)");
    r->src = text;
    r->srclen = len;
    start(L, r, encoding);
    return read_all(L, ridx, r);
}

/* ---- writing ---- */

typedef struct csv_writer {
    lua_State *L;
    int rows, cols; /* stack indexes: the rows and the column names */
    int keyed;      /* rows are tables keyed by column name */
    char sep;
    int bom, crlf;
} csv_writer;

static void put_field(FILE *f, const char *s, size_t n, char sep)
{
    int quote = n && (s[0] == ' ' || s[n - 1] == ' ');
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == sep || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!quote) {
        fwrite(s, 1, n, f);
        return;
    }
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            fputc('"', f);
        fputc(s[i], f);
    }
    fputc('"', f);
}

/* A cell's text: numbers as Lua writes integers and shortest round-trip
 * floats, booleans as true/false, nil as empty. */
static const char *cell_text(lua_State *L, int idx, char *tmp, size_t tmpn, size_t *n)
{
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            *n = (size_t)snprintf(tmp, tmpn, "%lld", (long long)lua_tointeger(L, idx));
        } else {
            double d = lua_tonumber(L, idx);
            for (int prec = 15; prec <= 17; prec++) {
                *n = (size_t)snprintf(tmp, tmpn, "%.*g", prec, d);
                if (strtod(tmp, NULL) == d)
                    break;
            }
        }
        return tmp;
    case LUA_TBOOLEAN:
        *n = lua_toboolean(L, idx) ? 4 : 5;
        return lua_toboolean(L, idx) ? "true" : "false";
    case LUA_TSTRING:
        return lua_tolstring(L, idx, n);
    default:
        *n = 0;
        return "";
    }
}

static drudge_code write_rows(lua_State *L, const char *tmp, void *ud, drudge_err *err)
{
    csv_writer *w = ud;
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return drudge_seterr(err, DRUDGE_EIO, "%s: %s", tmp, strerror(errno));
    const char *eol = w->crlf ? "\r\n" : "\n";
    char num[64];
    size_t n;
    if (w->bom)
        fputs("\xef\xbb\xbf", f);
    lua_Integer ncols = (lua_Integer)lua_rawlen(L, w->cols);
    if (w->keyed) {
        for (lua_Integer c = 1; c <= ncols; c++) {
            lua_rawgeti(L, w->cols, c);
            const char *s = cell_text(L, -1, num, sizeof num, &n);
            if (c > 1)
                fputc(w->sep, f);
            put_field(f, s, n, w->sep);
            lua_pop(L, 1);
        }
        fputs(eol, f);
    }
    lua_Integer nrows = (lua_Integer)lua_rawlen(L, w->rows);
    for (lua_Integer i = 1; i <= nrows; i++) {
        lua_rawgeti(L, w->rows, i);
        lua_Integer m = w->keyed ? ncols : (lua_Integer)lua_rawlen(L, -1);
        for (lua_Integer c = 1; c <= m; c++) {
            if (w->keyed) {
                lua_rawgeti(L, w->cols, c);
                lua_rawget(L, -2);
            } else {
                lua_rawgeti(L, -1, c);
            }
            const char *s = cell_text(L, -1, num, sizeof num, &n);
            if (c > 1)
                fputc(w->sep, f);
            put_field(f, s, n, w->sep);
            lua_pop(L, 1);
        }
        fputs(eol, f);
        lua_pop(L, 1);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return drudge_seterr(err, DRUDGE_EIO, "cannot write %s: %s", tmp, strerror(errno));
    return DRUDGE_OK;
}

static int string_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* csv.write(path, rows [, { columns = {...}, sep = ",", bom = false,
 * crlf = true }]) -> { path, sha256, size } */
static int l_write(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    csv_writer w = {.L = L, .rows = 2, .sep = ',', .crlf = 1};
    int cols = 0;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
            if (!strcmp(k, "sep")) {
                size_t n;
                const char *s = lua_tolstring(L, -1, &n);
                if (!s || n != 1 || *s == '"' || *s == '\r' || *s == '\n')
                    drudge_host_config_error(L, "csv.write: sep must be one character");
                w.sep = *s;
            } else if (!strcmp(k, "bom") || !strcmp(k, "crlf")) {
                if (!lua_isboolean(L, -1))
                    drudge_host_config_error(L, "csv.write: '%s' must be true or false", k);
                if (k[0] == 'b')
                    w.bom = lua_toboolean(L, -1);
                else
                    w.crlf = lua_toboolean(L, -1);
            } else if (!strcmp(k, "columns")) {
                if (!lua_istable(L, -1))
                    drudge_host_config_error(L, "csv.write: 'columns' must be a list of names");
                cols = 1;
            } else {
                drudge_host_config_error(
                    L, "csv.write: unknown option '%s' (bom, columns, crlf, sep)", k);
            }
            lua_pop(L, 1);
        }
    }
    lua_settop(L, 3);
    /* Rows are lists (written as they are) or tables keyed by column name
     * (columns: as given, else every key found, sorted). Checked before the
     * file is opened: the writer must not raise. */
    lua_Integer nrows = (lua_Integer)lua_rawlen(L, 2);
    lua_rawgeti(L, 2, 1);
    w.keyed = cols || (lua_istable(L, -1) && lua_rawlen(L, -1) == 0);
    lua_pop(L, 1);
    if (cols) {
        lua_getfield(L, 3, "columns");
    } else if (w.keyed) {
        lua_newtable(L); /* set of names */
        for (lua_Integer i = 1; i <= nrows; i++) {
            lua_rawgeti(L, 2, i);
            if (lua_istable(L, -1)) {
                lua_pushnil(L);
                while (lua_next(L, -2)) {
                    lua_pop(L, 1);
                    if (lua_type(L, -1) == LUA_TSTRING) {
                        lua_pushvalue(L, -1);
                        lua_pushboolean(L, 1);
                        lua_rawset(L, -5);
                    }
                }
            }
            lua_pop(L, 1);
        }
        size_t n = 0;
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            lua_pop(L, 1);
            n++;
        }
        const char **names = lua_newuserdatauv(L, (n ? n : 1) * sizeof *names, 0);
        size_t k = 0;
        lua_pushnil(L);
        while (lua_next(L, -3)) {
            lua_pop(L, 1);
            names[k++] = lua_tostring(L, -1);
        }
        qsort(names, n, sizeof *names, string_cmp);
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            lua_pushstring(L, names[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_replace(L, -3);
        lua_pop(L, 1);
    } else {
        lua_newtable(L);
    }
    w.cols = lua_gettop(L);
    for (lua_Integer i = 1; i <= nrows; i++) {
        lua_rawgeti(L, 2, i);
        if (!lua_istable(L, -1))
            drudge_host_config_error(L, "csv.write: rows[%lld] is a %s, not a table", (long long)i,
                                     luaL_typename(L, -1));
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            int t = lua_type(L, -1);
            if (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TBOOLEAN)
                drudge_host_config_error(L,
                                         "csv.write: rows[%lld].%s is a %s (strings, numbers "
                                         "and booleans only)",
                                         (long long)i,
                                         lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?",
                                         luaL_typename(L, -1));
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    return drudge_host_write_file(L, "csv.write", path, write_rows, &w);
}

int luaopen_drudge_csv(lua_State *L)
{
    static const luaL_Reg meta[] = {{"__gc", reader_gc}, {"__close", reader_gc}, {NULL, NULL}};
    drudge_lua_class(L, READER_MT, meta, NULL);
    static const luaL_Reg fns[] = {
        {"rows", l_rows}, {"read", l_read}, {"parse", l_parse}, {"write", l_write}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}

/*
 * bulk.h: reading a backlog file for `drudge enqueue --from` (runner/queue/bulk.c).
 *
 * CSV (RFC 4180: a header row of field names, quoted fields with "" for a
 * quote, commas and newlines inside quotes, CRLF or LF, an optional UTF-8
 * BOM) becomes one JSON object of strings per row. JSONL is one JSON value
 * per line, checked strictly (RFC 8259, valid UTF-8). Blank lines are skipped.
 * Errors name the file, the line a record starts on, and the reason.
 */
#ifndef DRUDGE_BULK_H
#define DRUDGE_BULK_H

#include <stddef.h>
#include <stdint.h>
#include "drudge/error.h"

typedef enum drudge_bulk_format {
    DRUDGE_BULK_AUTO = 0,
    DRUDGE_BULK_CSV,
    DRUDGE_BULK_JSONL
} drudge_bulk_format;

typedef struct drudge_bulk drudge_bulk;

/* One record. Strings belong to the reader and stay valid until the next call. */
typedef struct drudge_bulk_row {
    const char *input; /* JSON text */
    const char *key;   /* the key field's value, or NULL without --key-field */
    int line;          /* 1-based line the record starts on */
    int64_t deadline;  /* the deadline field's time (µs), 0 if none or empty */
} drudge_bulk_row;

/* Reads path whole and checks its header (CSV) and key_field (may be NULL).
 * AUTO picks the format from the extension (.csv; .jsonl, .ndjson). */
drudge_bulk *drudge_bulk_open(const char *path, drudge_bulk_format fmt, const char *key_field,
                              drudge_err *err);
/* Reads each record's deadline from field (a time as --at takes it,
 * relative ones counted from now; an empty value or JSON null: none; a
 * missing JSONL member: none). CSV: the header must have the column. */
drudge_code drudge_bulk_deadline_field(drudge_bulk *b, const char *field, int64_t now,
                                       drudge_err *err);
/* 1: a record in *row; 0: end of file; -1: this record is malformed (err
 * says "FILE:LINE: reason"); the next call goes on with the next record. */
int drudge_bulk_next(drudge_bulk *b, drudge_bulk_row *row, drudge_err *err);
/* Fraction of the file read so far, for a progress bar. */
double drudge_bulk_progress(const drudge_bulk *b);
void drudge_bulk_free(drudge_bulk *b);

/* Checks that s[0..n) is one JSON value (RFC 8259) in valid UTF-8, with
 * nothing but whitespace around it. Returns NULL if it is, else a static
 * description of the first problem; *at gets its byte offset. */
const char *drudge_json_check(const char *s, size_t n, size_t *at);

#endif

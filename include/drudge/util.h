/*
 * util.h: small shared helpers: clocks, a growable string buffer, JSON string
 * escaping, hex and SHA-256.
 */
#ifndef DRUDGE_UTIL_H
#define DRUDGE_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Wall clock, UTC, microseconds since the epoch. */
int64_t drudge_now_us(void);
/* Monotonic clock in microseconds, for durations and deadlines. */
int64_t drudge_mono_us(void);
/* Formats t (µs since epoch, UTC) as "2026-11-23T09:15:02.123456Z" into out[40]. */
void drudge_fmt_time(int64_t t, char out[40]);
/* Parses an ISO 8601 date or date-time ("2026-11-23", "2026-11-23T19:00",
 * "2026-11-23 19:00:00Z", with optional offset) or a relative "+30m"/"+2h"/"+1d",
 * or "now". Naive times are local. Returns 0 and sets *out (µs), or -1. */
int drudge_parse_time(const char *s, int64_t now_us, int64_t *out);
/* The one time parser every command and module uses (drudge_parse_time is
 * it with no flags): as above, and dates are checked against the calendar
 * (2026-02-30, 2026-04-31 and 2026-02-29 are refused, 2028-02-29 is not),
 * fields against their ranges. On failure returns -1 with why[] saying
 * what is wrong ("no such day: February 2026 has 28 days"). Flags: */
#define DRUDGE_TIME_PAST    1 /* also "-7d", "-2h" (relative, in the past) */
#define DRUDGE_TIME_UTC_DAY 2 /* a bare date is a UTC day, not local midnight */
#define DRUDGE_TIME_DAY_END 4 /* with UTC_DAY: a bare date ends that day (an --until) */
int drudge_parse_time_ex(const char *s, int64_t now_us, int flags, int64_t *out /* OUT */,
                         char *why, size_t why_len);

/* Growable NUL-terminated buffer. Start zeroed: `drudge_buf b = {0};`.
 * Allocation failure aborts the process (there is no useful recovery). */
typedef struct drudge_buf {
    char *data;
    size_t len, cap;
} drudge_buf;
void drudge_buf_add(drudge_buf *b, const void *p, size_t n);
void drudge_buf_puts(drudge_buf *b, const char *s);
void drudge_buf_printf(drudge_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends v in decimal: what "%lld" gives, without printf's cost on hot paths. */
void drudge_buf_int(drudge_buf *b, int64_t v);
/* Appends s (n bytes) as a JSON string literal, quotes included, escaping as
 * Python's json.dumps(ensure_ascii=False) does: \" \\ \b \f \n \r \t and
 * other bytes below 0x20 as \u00XX; everything else verbatim. */
void drudge_buf_json_str(drudge_buf *b, const char *s, size_t n);
/* Appends s (at most n bytes, up to a NUL) as HTML text or an attribute
 * value: & < > " ' as entities, the rest verbatim. s NULL: nothing. */
void drudge_buf_html(drudge_buf *b, const char *s, size_t n);
void drudge_buf_reset(drudge_buf *b);
void drudge_buf_free(drudge_buf *b);
/* Hands the string to the caller (free with free()) and empties b. */
char *drudge_buf_take(drudge_buf *b);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void drudge_hex(const unsigned char *in, size_t n, char *out);
/* SHA-256 of data as 64 lower-case hex digits plus NUL. */
void drudge_sha256_hex(const void *data, size_t n, char out[65]);
/* SHA-256 of a followed by b (no copy to concatenate them). */
void drudge_sha256_pair_hex(const void *a, size_t alen, const void *b, size_t blen, char out[65]);
/* SHA-256 (hex) and size of the file at path, read in chunks; -1 with errno
 * when it cannot be read. */
int drudge_sha256_file(const char *path, char out[65], int64_t *size);
/* Appends data as base64 (RFC 4648, padded, no line breaks). */
void drudge_base64(drudge_buf *b, const void *data, size_t len);
/* Decodes padded base64; *out (free it) gets *outlen bytes. -1 when text is
 * not base64. */
int drudge_unbase64(const char *text, size_t len, unsigned char **out, size_t *outlen);
/* n random bytes from the kernel (getrandom); -1 if it has none to give. */
int drudge_random(void *out, size_t n);

/* Memory helpers that abort on exhaustion. */
void *drudge_xmalloc(size_t n);
void *drudge_xrealloc(void *p, size_t n);
char *drudge_xstrdup(const char *s);

/* Reads a whole file; caller frees. Returns NULL and sets errno on failure. */
char *drudge_read_file(const char *path, size_t *len);

#endif

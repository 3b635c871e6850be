/* util.c: clocks, string buffers, JSON escaping, hex and hashing. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/random.h>
#include <nettle/base64.h>
#include <nettle/sha2.h>
#include "drudge/util.h"

int64_t drudge_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t drudge_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void drudge_fmt_time(int64_t t, char out[40])
{
    time_t secs = (time_t)(t / 1000000);
    int64_t us = t % 1000000;
    struct tm tm;
    if (us < 0) {
        us += 1000000;
        secs -= 1;
    }
    gmtime_r(&secs, &tm);
    /* strftime bounds every field; the year cannot overflow the buffer. */
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%06dZ", (int)us);
}

/* Parses the digits of a fixed-width number; -1 if any is not a digit. */
static int fixed_num(const char *s, int width)
{
    int v = 0;
    for (int i = 0; i < width; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int parse_relative(const char *s, int64_t now_us, int64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s + 1, &end);
    if (errno || end == s + 1 || v < 0)
        return -1;
    double unit;
    if (!strcmp(end, "s") || !*end)
        unit = 1;
    else if (!strcmp(end, "m"))
        unit = 60;
    else if (!strcmp(end, "h"))
        unit = 3600;
    else if (!strcmp(end, "d"))
        unit = 86400;
    else
        return -1;
    *out = now_us + (int64_t)(v * unit * 1e6);
    return 0;
}

static int days_in_month(int y, int mo)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return mo == 2 && leap ? 29 : days[mo - 1];
}

static int time_fail(char *why, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int time_fail(char *why, size_t n, const char *fmt, ...)
{
    if (why && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* "T19:00", "T19:00:05", "T19:00:05.25" at p (after the date) into tm and
 * *frac_us; returns what follows, or NULL with why set. */
static const char *parse_clock(const char *p, struct tm *tm, int64_t *frac_us, char *why, size_t n)
{
    int h = fixed_num(p + 1, 2);
    if (h < 0 || p[3] != ':' || fixed_num(p + 4, 2) < 0)
        return time_fail(why, n, "the time of day is not HH:MM"), NULL;
    int mi = fixed_num(p + 4, 2);
    if (h > 23 || mi > 59)
        return time_fail(why, n, "no such time of day: %02d:%02d", h, mi), NULL;
    tm->tm_hour = h;
    tm->tm_min = mi;
    p += 6;
    if (*p != ':')
        return p;
    int sec = fixed_num(p + 1, 2);
    if (sec < 0 || sec > 60)
        return time_fail(why, n, "seconds are 00-59"), NULL;
    tm->tm_sec = sec;
    p += 3;
    if (*p == '.') {
        int64_t scale = 100000;
        const char *start = ++p;
        for (; isdigit((unsigned char)*p); p++, scale /= 10)
            *frac_us += (*p - '0') * scale;
        if (p == start || p - start > 9)
            return time_fail(why, n, "a fraction of a second is 1 to 9 digits"), NULL;
    }
    return p;
}

static const char *const month_names[] = {"January",   "February", "March",    "April",
                                          "May",       "June",     "July",     "August",
                                          "September", "October",  "November", "December"};

int drudge_parse_time_ex(const char *s, int64_t now_us, int flags, int64_t *out, char *why,
                         size_t why_len)
{
    if (!s || !*s)
        return time_fail(why, why_len, "empty");
    if (!strcmp(s, "now")) {
        *out = now_us;
        return 0;
    }
    if (s[0] == '+' || (s[0] == '-' && (flags & DRUDGE_TIME_PAST))) {
        int64_t later;
        char plus[64];
        snprintf(plus, sizeof plus, "+%s", s + 1);
        if (strlen(s) >= sizeof plus || parse_relative(plus, now_us, &later) != 0)
            return time_fail(why, why_len, "a relative time is %cN followed by s, m, h or d", s[0]);
        *out = s[0] == '+' ? later : now_us - (later - now_us);
        return 0;
    }
    size_t n = strlen(s);
    int y = n >= 10 ? fixed_num(s, 4) : -1, mo = n >= 10 ? fixed_num(s + 5, 2) : -1;
    int d = n >= 10 ? fixed_num(s + 8, 2) : -1;
    if (y < 0 || mo < 0 || d < 0 || s[4] != '-' || s[7] != '-')
        return time_fail(why, why_len, "not a time");
    if (y < 1970 || y > 9999)
        return time_fail(why, why_len, "the year is 1970-9999");
    if (mo < 1 || mo > 12)
        return time_fail(why, why_len, "no such month: %02d", mo);
    if (d < 1 || d > days_in_month(y, mo))
        return time_fail(why, why_len, "no such day: %s %d has %d days", month_names[mo - 1], y,
                         days_in_month(y, mo));
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    const char *p = s + 10;
    int64_t frac_us = 0;
    if (*p == 'T' || *p == ' ') {
        p = parse_clock(p, &tm, &frac_us, why, why_len);
        if (!p)
            return -1;
    } else if (!*p && (flags & DRUDGE_TIME_UTC_DAY)) {
        *out = (int64_t)timegm(&tm) * 1000000 +
               ((flags & DRUDGE_TIME_DAY_END) ? INT64_C(86400000000) : 0);
        return 0;
    }
    time_t secs;
    if (*p == 'Z' && !p[1]) {
        secs = timegm(&tm);
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh = fixed_num(p + 1, 2), om = fixed_num(p + 4, 2);
        if (oh < 0 || om < 0 || oh > 23 || om > 59)
            return time_fail(why, why_len, "the offset is +HH:MM or -HH:MM");
        int off = (oh * 60 + om) * 60;
        secs = timegm(&tm) - (*p == '+' ? off : -off);
    } else if (!*p) {
        tm.tm_isdst = -1;
        secs = mktime(&tm);
    } else {
        return time_fail(why, why_len, "unexpected '%s' after the %s", p,
                         p == s + 10 ? "date" : "time");
    }
    *out = (int64_t)secs * 1000000 + frac_us;
    return 0;
}

int drudge_parse_time(const char *s, int64_t now_us, int64_t *out)
{
    return drudge_parse_time_ex(s, now_us, 0, out, NULL, 0);
}

void *drudge_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("drudge: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *drudge_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fputs("drudge: out of memory\n", stderr);
        abort();
    }
    return q;
}

char *drudge_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(drudge_xmalloc(n), s, n);
}

static void buf_reserve(drudge_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = drudge_xrealloc(b->data, cap);
    b->cap = cap;
}

void drudge_buf_add(drudge_buf *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void drudge_buf_puts(drudge_buf *b, const char *s)
{
    drudge_buf_add(b, s, strlen(s));
}

void drudge_buf_printf(drudge_buf *b, const char *fmt, ...)
{
    /* One pass when the text fits the room already there (the usual case:
     * buffers are reused call after call), a second after growing if not. */
    buf_reserve(b, 63);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->data[b->len] = '\0';
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        buf_reserve(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void drudge_buf_int(drudge_buf *b, int64_t v)
{
    char tmp[24], *e = tmp + sizeof tmp, *p = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    drudge_buf_add(b, p, (size_t)(e - p));
}

/* Written straight into the buffer, one pass: this runs for every string of
 * every audit row (logs/audit/chain.c's canonical encoding) and request summary. */
void drudge_buf_html(drudge_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; s && i < n && s[i]; i++) {
        const char *e = s[i] == '&'    ? "&amp;"
                        : s[i] == '<'  ? "&lt;"
                        : s[i] == '>'  ? "&gt;"
                        : s[i] == '"'  ? "&quot;"
                        : s[i] == '\'' ? "&#39;"
                                       : NULL;
        if (e)
            drudge_buf_puts(b, e);
        else
            drudge_buf_add(b, s + i, 1);
    }
}

/* How many of the 8 bytes of w (in memory order) come before the first
 * one that needs escaping (below 0x20, '"' or '\\'): 8 if none does. The
 * usual bit tricks: a byte that underflows when k is taken from it sets its
 * top bit unless that bit was set already; a borrow may flag bytes above
 * the first flagged one wrongly, never below it, and only the lowest is
 * used. Little-endian only (the lowest byte first in memory). */
static unsigned plain_prefix(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t quote = w ^ (ones * '"'), bslash = w ^ (ones * '\\');
    uint64_t mask =
        (((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) | ((bslash - ones) & ~bslash)) & high;
    return mask ? (unsigned)__builtin_ctzll(mask) / 8 : 8;
}

void drudge_buf_json_str(drudge_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    buf_reserve(b, 6 * n + 2); /* the worst case: every byte as \u00XX */
    char *o = b->data + b->len, *start = o;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* Eight bytes at a time up to the next byte to escape: the request
         * and response JSON of every audit row goes through here twice
         * (the recording, then the canonical row). */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            unsigned k = plain_prefix(w);
            memcpy(o, &w, 8); /* room: 6 * n was reserved */
            o += k;
            i += k;
            if (k == 8)
                continue;
            /* A quote or backslash is escaped here without leaving the
             * loop: JSON text (a request or response in a canonical row)
             * has one every few bytes. Control bytes go the long way. */
            char c = s[i];
            if (c != '"' && c != '\\')
                break;
            o[0] = '\\';
            o[1] = c;
            o += 2;
            i++;
        }
        if (i >= n)
            break;
#endif
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"':
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o++ = '"';
    b->len += (size_t)(o - start);
    b->data[b->len] = '\0';
}

void drudge_buf_reset(drudge_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void drudge_buf_free(drudge_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *drudge_buf_take(drudge_buf *b)
{
    char *s = b->data ? b->data : drudge_xstrdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

void drudge_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static void buf_reserve(drudge_buf *b, size_t extra);

/* SHA-256 and base64 through Nettle rather than libcrypto: the binary
 * loads it at every start, and libcrypto's symbol relocations alone cost
 * about 3 million cycles of each `drudge run` (LD_DEBUG=statistics), Nettle's
 * a twentieth of that. */
void drudge_sha256_hex(const void *data, size_t n, char out[65])
{
    drudge_sha256_pair_hex(data, n, NULL, 0, out);
}

void drudge_sha256_pair_hex(const void *a, size_t alen, const void *b, size_t blen, char out[65])
{
    unsigned char md[SHA256_DIGEST_SIZE];
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, alen, a);
    if (blen)
        sha256_update(&ctx, blen, b);
    sha256_digest(&ctx, sizeof md, md);
    drudge_hex(md, sizeof md, out);
}

int drudge_sha256_file(const char *path, char out[65], int64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct sha256_ctx ctx;
    unsigned char buf[65536], md[SHA256_DIGEST_SIZE];
    ssize_t n;
    int rc = 0;
    sha256_init(&ctx);
    *size = 0;
    while ((n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -1;
            break;
        }
        sha256_update(&ctx, (size_t)n, buf);
        *size += n;
    }
    close(fd);
    if (rc)
        return rc;
    sha256_digest(&ctx, sizeof md, md);
    drudge_hex(md, sizeof md, out);
    return 0;
}

void drudge_base64(drudge_buf *b, const void *data, size_t len)
{
    size_t at = b->len;
    buf_reserve(b, BASE64_ENCODE_RAW_LENGTH(len));
    base64_encode_raw(b->data + at, len, data);
    b->len = at + BASE64_ENCODE_RAW_LENGTH(len);
    b->data[b->len] = '\0';
}

int drudge_unbase64(const char *text, size_t len, unsigned char **out, size_t *outlen)
{
    struct base64_decode_ctx ctx;
    unsigned char *d = drudge_xmalloc(BASE64_DECODE_LENGTH(len) + 1);
    size_t n = BASE64_DECODE_LENGTH(len) + 1;
    base64_decode_init(&ctx);
    /* Padded groups of four, as RFC 4648 writes them (Nettle alone would
     * also take a missing '=' or a space). */
    if (len % 4 || !base64_decode_update(&ctx, &n, d, len, text) || !base64_decode_final(&ctx)) {
        free(d);
        return -1;
    }
    *out = d;
    *outlen = n;
    return 0;
}

int drudge_random(void *out, size_t n)
{
    unsigned char *p = out;
    while (n) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

char *drudge_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    drudge_buf b = {0};
    char chunk[65536];
    size_t n;
    for (n = fread(chunk, 1, sizeof chunk, f); n > 0; n = fread(chunk, 1, sizeof chunk, f))
        drudge_buf_add(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        drudge_buf_free(&b);
        errno = EIO;
        return NULL;
    }
    if (len)
        *len = b.len;
    return drudge_buf_take(&b);
}

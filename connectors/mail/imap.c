/*
 * imap.c: IMAP through libcurl, and parsers for the responses it returns.
 *
 * libcurl runs LOGIN and SELECT itself and keeps the connection (and the
 * selected mailbox) between transfers of one easy handle. Commands go out
 * as CURLOPT_CUSTOMREQUEST; libcurl hands back their untagged "* ..." lines
 * and turns a tagged NO/BAD into CURLE_QUOTE_ERROR. It drops the literal
 * of a custom FETCH, so message bodies come through libcurl's own fetch
 * (URL ";UID=n"), which sends "UID FETCH n BODY[]".
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "connectors/mail/mail.h"
#include "mailint.h"

#define CONNECT_TIMEOUT 15.0 /* seconds, at most */
#define FETCH_TRIES     3    /* a body fetch that met another session's news (imap_fetch_body) */

/* --- transport --- */

void mail_curl_common(CURL *curl, const mail_tls *tls, double timeout, char *errbuf)
{
    long ms = timeout > 0 ? (long)(timeout * 1000) : 1;
    if (ms < 1)
        ms = 1;
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     ms < (long)(CONNECT_TIMEOUT * 1000) ? ms : (long)(CONNECT_TIMEOUT * 1000));
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, tls->verify ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, tls->verify ? 2L : 0L);
    if (tls->ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, tls->ca_file);
    curl_easy_setopt(curl, CURLOPT_USE_SSL,
                     tls->starttls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_NONE);
    errbuf[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
}

const char *mail_curl_error(CURLcode rc, const char *errbuf)
{
    return errbuf && *errbuf ? errbuf : curl_easy_strerror(rc);
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    drudge_buf_add(ud, p, size * n);
    return size * n;
}

drudge_code imap_conn_init(imap_conn *c, const char *base, const char *user, const char *password,
                           const mail_tls *tls, drudge_err *err)
{
    memset(c, 0, sizeof *c);
    c->curl = curl_easy_init();
    if (!c->curl)
        return drudge_seterr(err, DRUDGE_ENOMEM, "mail.imap: cannot create a libcurl handle");
    c->base = drudge_xstrdup(base);
    c->user = drudge_xstrdup(user ? user : "");
    c->password = drudge_xstrdup(password ? password : "");
    c->ca_file = tls->ca_file ? drudge_xstrdup(tls->ca_file) : NULL;
    c->verify = tls->verify;
    c->starttls = tls->starttls;
    return DRUDGE_OK;
}

void imap_conn_close(imap_conn *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl); /* sends LOGOUT on the cached connection */
    c->curl = NULL;
    if (c->password) {
        /* volatile: the compiler must not drop the wipe of a dying buffer */
        volatile char *p = c->password;
        while (*p)
            *p++ = '\0';
    }
    free(c->password);
    free(c->user);
    free(c->base);
    free(c->ca_file);
    c->password = c->user = c->base = c->ca_file = NULL;
}

/* URL of mailbox (percent-encoded) plus suffix; caller frees. */
static char *mailbox_url(imap_conn *c, const char *mailbox, const char *suffix)
{
    drudge_buf u = {0};
    drudge_buf_printf(&u, "%s/", c->base);
    if (mailbox) {
        char *esc = curl_easy_escape(c->curl, mailbox, 0);
        drudge_buf_puts(&u, esc ? esc : "");
        curl_free(esc);
    }
    if (suffix)
        drudge_buf_puts(&u, suffix);
    return drudge_buf_take(&u);
}

static CURLcode perform(imap_conn *c, const char *url, const char *custom, double timeout,
                        drudge_buf *out)
{
    mail_tls tls = {c->verify, c->ca_file, c->starttls};
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_USERNAME, c->user);
    curl_easy_setopt(h, CURLOPT_PASSWORD, c->password);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, custom);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    mail_curl_common(h, &tls, timeout, c->errbuf);
    return curl_easy_perform(h);
}

drudge_code imap_command(imap_conn *c, const char *mailbox, const char *command, double timeout,
                         drudge_buf *resp, drudge_err *err)
{
    if (!c->curl)
        return drudge_seterr(err, DRUDGE_ESTATE, "the IMAP session is closed");
    char *url = mailbox_url(c, mailbox, NULL);
    CURLcode rc = perform(c, url, command, timeout, resp);
    drudge_code code = DRUDGE_OK;
    if (rc == CURLE_QUOTE_ERROR)
        code = drudge_seterr(err, DRUDGE_EINPUT, "the server refused '%s'%s%s", command,
                             mailbox ? " in " : "", mailbox ? mailbox : "");
    else if (rc == CURLE_LOGIN_DENIED)
        code = drudge_seterr(err, DRUDGE_ECONNECT, "login to %s as '%s' denied", c->base, c->user);
    else if (rc != CURLE_OK)
        code = drudge_seterr(err, DRUDGE_ECONNECT, "%s: %s", url, mail_curl_error(rc, c->errbuf));
    free(url);
    return code;
}

drudge_code imap_fetch_body(imap_conn *c, const char *mailbox, uint32_t uid, double timeout,
                            drudge_buf *body, drudge_err *err)
{
    if (!c->curl)
        return drudge_seterr(err, DRUDGE_ESTATE, "the IMAP session is closed");
    char suffix[32];
    snprintf(suffix, sizeof suffix, "/;UID=%u", uid);
    char *url = mailbox_url(c, mailbox, suffix);
    /* libcurl takes the first untagged FETCH line of the reply for the body
     * and fails ("Failed to parse FETCH response") when it has no literal:
     * a flag change another session made in the mailbox (two workers filing
     * from one folder) can be reported just there. libcurl then drops the
     * connection, and the same fetch on a new one succeeds. */
    CURLcode rc;
    size_t had = body->len;
    for (int tries = 0;; tries++) {
        rc = perform(c, url, NULL, timeout, body);
        if (rc != CURLE_WEIRD_SERVER_REPLY || tries == FETCH_TRIES - 1)
            break;
        body->len = had; /* nothing of the failed reply stays */
        if (body->data)
            body->data[had] = '\0';
    }
    drudge_code code = DRUDGE_OK;
    if (rc == CURLE_REMOTE_FILE_NOT_FOUND)
        code = drudge_seterr(err, DRUDGE_ENOTFOUND, "no message with UID %u in %s", uid, mailbox);
    else if (rc == CURLE_LOGIN_DENIED)
        code = drudge_seterr(err, DRUDGE_ECONNECT, "login to %s as '%s' denied", c->base, c->user);
    else if (rc != CURLE_OK)
        code = drudge_seterr(err, DRUDGE_ECONNECT, "%s: %s", url, mail_curl_error(rc, c->errbuf));
    free(url);
    return code;
}

/* --- response parsing --- */

/* Calls fn for each line of resp (without its CR LF). */
static const char *next_line(const char *p, const char *end, size_t *n)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    *n = (size_t)(e - p);
    if (*n && p[*n - 1] == '\r')
        (*n)--;
    return nl ? nl + 1 : end;
}

static int starts_ci(const char *p, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && !strncasecmp(p, prefix, k);
}

long drudge_imap_parse_search(const char *resp, size_t len, uint32_t **uids)
{
    const char *p = resp, *end = resp + len;
    size_t count = 0, cap = 0;
    *uids = NULL;
    while (p < end) {
        size_t n;
        const char *line = p;
        p = next_line(p, end, &n);
        if (!starts_ci(line, n, "* SEARCH"))
            continue;
        for (size_t i = 8; i < n;) {
            while (i < n && line[i] == ' ')
                i++;
            if (i >= n)
                break;
            if (line[i] == '(') /* ESEARCH-style (MODSEQ n) trailer */
                break;
            uint64_t v = 0;
            size_t start = i;
            while (i < n && isdigit((unsigned char)line[i]) && v <= UINT32_MAX)
                v = v * 10 + (uint64_t)(line[i++] - '0');
            if (i == start || v == 0 || v > UINT32_MAX || (i < n && line[i] != ' ')) {
                free(*uids);
                *uids = NULL;
                return -1;
            }
            if (count == cap) {
                cap = cap ? cap * 2 : 16;
                *uids = drudge_xrealloc(*uids, cap * sizeof **uids);
            }
            (*uids)[count++] = (uint32_t)v;
        }
    }
    return (long)count;
}

/* Reads an atom or a quoted string at line[*i]; returns it malloc'd. */
static char *read_astring(const char *line, size_t n, size_t *i)
{
    drudge_buf b = {0};
    drudge_buf_puts(&b, "");
    if (*i < n && line[*i] == '"') {
        for ((*i)++; *i < n && line[*i] != '"'; (*i)++) {
            if (line[*i] == '\\' && *i + 1 < n)
                (*i)++;
            drudge_buf_add(&b, &line[*i], 1);
        }
        (*i)++;
    } else {
        while (*i < n && line[*i] != ' ')
            drudge_buf_add(&b, &line[(*i)++], 1);
    }
    return drudge_buf_take(&b);
}

size_t drudge_imap_parse_list(const char *resp, size_t len, char ***names)
{
    const char *p = resp, *end = resp + len;
    size_t count = 0;
    *names = NULL;
    while (p < end) {
        size_t n;
        const char *line = p;
        p = next_line(p, end, &n);
        if (!starts_ci(line, n, "* LIST ") && !starts_ci(line, n, "* LSUB "))
            continue;
        size_t i = 7;
        if (i < n && line[i] == '(') { /* attributes */
            while (i < n && line[i] != ')')
                i++;
            i += 2;
        }
        if (i >= n)
            continue;
        char *delim = read_astring(line, n, &i); /* "/" or NIL */
        free(delim);
        i++;
        if (i >= n)
            continue;
        *names = drudge_xrealloc(*names, (count + 1) * sizeof **names);
        (*names)[count++] = read_astring(line, n, &i);
    }
    return count;
}

/* Finds "KEY " inside the parenthesised FETCH item list of a line. */
static const char *fetch_item(const char *line, size_t n, const char *key)
{
    size_t k = strlen(key);
    for (size_t i = 0; i + k < n; i++)
        if ((i == 0 || line[i - 1] == ' ' || line[i - 1] == '(') &&
            !strncasecmp(line + i, key, k) && line[i + k] == ' ')
            return line + i + k + 1;
    return NULL;
}

int drudge_imap_parse_fetch_info(const char *resp, size_t len, uint32_t uid, uint64_t *size,
                                 int *seen)
{
    const char *p = resp, *end = resp + len;
    while (p < end) {
        size_t n;
        const char *line = p;
        p = next_line(p, end, &n);
        if (n < 2 || line[0] != '*' || !memmem(line, n, " FETCH (", 8))
            continue;
        const char *u = fetch_item(line, n, "UID");
        if (!u || strtoull(u, NULL, 10) != uid)
            continue;
        const char *s = fetch_item(line, n, "RFC822.SIZE");
        *size = s ? strtoull(s, NULL, 10) : 0;
        const char *f = fetch_item(line, n, "FLAGS");
        *seen = 0;
        if (f && *f == '(') {
            const char *close = memchr(f, ')', (size_t)(line + n - f));
            size_t fl = close ? (size_t)(close - f) : (size_t)(line + n - f);
            *seen = memmem(f, fl, "\\Seen", 5) != NULL;
        }
        return 1;
    }
    return 0;
}

uint32_t drudge_imap_parse_copyuid(const char *resp, size_t len, uint32_t uid)
{
    const char *p = resp, *end = resp + len;
    while (p < end) {
        size_t n;
        const char *line = p;
        p = next_line(p, end, &n);
        const char *c = memmem(line, n, "[COPYUID ", 9);
        if (!c)
            continue;
        unsigned long validity, src, dst;
        char tail;
        if (sscanf(c + 9, "%lu %lu %lu%c", &validity, &src, &dst, &tail) == 4 && tail == ']' &&
            src == uid && dst <= UINT32_MAX)
            return (uint32_t)dst;
    }
    return 0;
}

int drudge_imap_quote(drudge_buf *b, const char *s)
{
    if (strpbrk(s, "\r\n"))
        return -1;
    drudge_buf_puts(b, "\"");
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            drudge_buf_puts(b, "\\");
        drudge_buf_add(b, p, 1);
    }
    drudge_buf_puts(b, "\"");
    return 0;
}

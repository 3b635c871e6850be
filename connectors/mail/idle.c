/*
 * idle.c: watching a mailbox with IMAP IDLE (RFC 2177) for `drudge
 * watch-mail` (runner/work/mailwatch.c).
 *
 * libcurl has no IDLE, but it logs in (and does TLS or STARTTLS) for a
 * CURLOPT_CONNECT_ONLY transfer and then lets us talk on the connection
 * with curl_easy_send/recv. So: SELECT the mailbox (its UIDVALIDITY), UID
 * SEARCH for the messages above the last UID seen, hand each to found(),
 * then IDLE until the server says "* N EXISTS" (or the IDLE period ends:
 * servers drop an IDLE after 30 minutes), DONE, and search again. A lost
 * connection is opened again after a pause that doubles up to a minute; a
 * login the server refuses ends the watch (nothing will fix it by waiting).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "connectors/mail/mail.h"
#include "mailint.h"

#define LINE_MAX_BYTES (1 << 20)         /* an untagged line longer than this is an error */
#define NO_LINE        ((drudge_code)-1) /* conn_line: nothing came in time */

typedef struct idle_conn {
    CURL *curl;
    curl_socket_t sock;
    drudge_buf in; /* received, not yet taken as lines */
    unsigned tag;
    char errbuf[CURL_ERROR_SIZE];
    volatile sig_atomic_t *stop;
} idle_conn;

static int64_t now_ms(void)
{
    return drudge_mono_us() / 1000;
}

static void conn_close(idle_conn *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    c->curl = NULL;
    drudge_buf_free(&c->in);
}

static drudge_code conn_open(idle_conn *c, const drudge_mail_watch_opts *o, const char *base,
                             drudge_err *err)
{
    mail_tls tls = {o->verify_tls, o->ca_file, o->starttls};
    c->curl = curl_easy_init();
    if (!c->curl)
        return drudge_seterr(err, DRUDGE_ENOMEM, "watch-mail: cannot create a libcurl handle");
    curl_easy_setopt(c->curl, CURLOPT_URL, base);
    curl_easy_setopt(c->curl, CURLOPT_USERNAME, o->user ? o->user : "");
    curl_easy_setopt(c->curl, CURLOPT_PASSWORD, o->password ? o->password : "");
    curl_easy_setopt(c->curl, CURLOPT_CONNECT_ONLY, 1L);
    mail_curl_common(c->curl, &tls, 30.0, c->errbuf);
    CURLcode rc = curl_easy_perform(c->curl);
    if (rc != CURLE_OK) {
        drudge_code code = rc == CURLE_LOGIN_DENIED ? DRUDGE_EINPUT : DRUDGE_ECONNECT;
        return drudge_seterr(err, code, "%s: %s%s", base, mail_curl_error(rc, c->errbuf),
                             rc == CURLE_LOGIN_DENIED ? " (login denied)" : "");
    }
    curl_socket_t s = CURL_SOCKET_BAD;
    curl_easy_getinfo(c->curl, CURLINFO_ACTIVESOCKET, &s);
    c->sock = s;
    return DRUDGE_OK;
}

static drudge_code conn_send(idle_conn *c, const char *text, drudge_err *err)
{
    size_t len = strlen(text), off = 0;
    int64_t until = now_ms() + 30000;
    while (off < len) {
        size_t n = 0;
        CURLcode rc = curl_easy_send(c->curl, text + off, len - off, &n);
        if (rc == CURLE_AGAIN) {
            struct pollfd p = {.fd = c->sock, .events = POLLOUT};
            if (now_ms() > until)
                return drudge_seterr(err, DRUDGE_ECONNECT, "the server takes no more data");
            poll(&p, 1, 1000);
            continue;
        }
        if (rc != CURLE_OK)
            return drudge_seterr(err, DRUDGE_ECONNECT, "%s", curl_easy_strerror(rc));
        off += n;
    }
    return DRUDGE_OK;
}

/* The next line (without CRLF) into line, waiting at most wait_ms (-1: 60 s);
 * NO_LINE when none came (or *stop was set), the connection's error
 * else. */
static drudge_code conn_line(idle_conn *c, drudge_buf *line, int wait_ms, drudge_err *err)
{
    int64_t until = now_ms() + (wait_ms < 0 ? 60000 : wait_ms);
    for (;;) {
        char *nl = c->in.len ? memchr(c->in.data, '\n', c->in.len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - c->in.data) + 1;
            drudge_buf_reset(line);
            drudge_buf_add(line, c->in.data, n > 1 && nl[-1] == '\r' ? n - 2 : n - 1);
            memmove(c->in.data, c->in.data + n, c->in.len - n);
            c->in.len -= n;
            c->in.data[c->in.len] = '\0';
            return DRUDGE_OK;
        }
        if (c->in.len > LINE_MAX_BYTES)
            return drudge_seterr(err, DRUDGE_EINPUT, "a line of more than 1 MiB from the server");
        char buf[16384];
        size_t n = 0;
        CURLcode rc = curl_easy_recv(c->curl, buf, sizeof buf, &n);
        if (rc == CURLE_OK && n == 0)
            return drudge_seterr(err, DRUDGE_ECONNECT, "the server closed the connection");
        if (rc == CURLE_OK) {
            drudge_buf_add(&c->in, buf, n);
            continue;
        }
        if (rc != CURLE_AGAIN)
            return drudge_seterr(err, DRUDGE_ECONNECT, "%s", curl_easy_strerror(rc));
        int64_t left = until - now_ms();
        if (left <= 0 || (c->stop && *c->stop))
            return NO_LINE;
        struct pollfd p = {.fd = c->sock, .events = POLLIN};
        poll(&p, 1, left < 500 ? (int)left : 500); /* 500: *stop is seen soon */
    }
}

/* Sends "TAG command" and reads to its tagged reply, passing every untagged
 * line to each (if not NULL). A NO or BAD is DRUDGE_EINPUT with its text. */
static drudge_code conn_command(idle_conn *c, const char *command,
                                void (*each)(void *ud, const char *line), void *ud, drudge_err *err)
{
    char tag[16];
    snprintf(tag, sizeof tag, "d%u", ++c->tag);
    drudge_buf out = {0}, line = {0};
    drudge_buf_printf(&out, "%s %s\r\n", tag, command);
    drudge_code rc = conn_send(c, out.data, err);
    size_t tl = strlen(tag);
    while (!rc) {
        rc = conn_line(c, &line, -1, err);
        if (rc == NO_LINE)
            rc = drudge_seterr(err, DRUDGE_ECONNECT, "no answer to %s in 60 s", command);
        if (rc)
            break;
        if (!strncmp(line.data, tag, tl) && line.data[tl] == ' ') {
            const char *st = line.data + tl + 1;
            if (strncasecmp(st, "OK", 2))
                rc = drudge_seterr(err, DRUDGE_EINPUT, "%s: %s", command, st);
            break;
        }
        if (each)
            each(ud, line.data);
    }
    drudge_buf_free(&out);
    drudge_buf_free(&line);
    return rc;
}

static void take_uidvalidity(void *ud, const char *line)
{
    const char *p = strstr(line, "[UIDVALIDITY ");
    if (p)
        *(uint32_t *)ud = (uint32_t)strtoul(p + 13, NULL, 10);
}

static void take_search(void *ud, const char *line)
{
    drudge_buf *b = ud;
    drudge_buf_puts(b, line);
    drudge_buf_puts(b, "\r\n");
}

/* Does an untagged line say a message came ("* 7 EXISTS")? */
static int says_exists(const char *line, size_t n)
{
    return line[0] == '*' && n > 7 && !strcmp(line + n - 7, " EXISTS");
}

/* Every UID above *last: handed to found() in order, *last moved on.
 * *again: the server said during the search that another message came,
 * which it will not say again in the IDLE that follows: search again. */
static drudge_code search_new(idle_conn *c, const drudge_mail_watch_opts *o, uint32_t validity,
                              uint32_t *last, int *again, drudge_err *err)
{
    char cmd[64];
    if (*last)
        snprintf(cmd, sizeof cmd, "UID SEARCH UID %u:*", *last + 1);
    else
        snprintf(cmd, sizeof cmd, "UID SEARCH ALL");
    drudge_buf resp = {0};
    drudge_code rc = conn_command(c, cmd, take_search, &resp, err);
    uint32_t *uids = NULL;
    *again = 0;
    for (const char *l = resp.data; !rc && l && *l;) {
        const char *e = strstr(l, "\r\n");
        size_t len = e ? (size_t)(e - l) : strlen(l);
        char one[64];
        if (len < sizeof one) {
            memcpy(one, l, len);
            one[len] = '\0';
            *again |= says_exists(one, len);
        }
        l = e ? e + 2 : NULL;
    }
    long n = rc ? 0 : drudge_imap_parse_search(resp.data ? resp.data : "", resp.len, &uids);
    if (n < 0)
        rc = drudge_seterr(err, DRUDGE_EINPUT, "the server's SEARCH reply is not a list of UIDs");
    /* "n:*" always matches the highest UID, even below n: skip those. */
    for (long i = 0; !rc && i < n; i++)
        if (uids[i] > *last) {
            rc = o->found(o->ud, validity, uids[i], err);
            if (!rc)
                *last = uids[i];
        }
    free(uids);
    drudge_buf_free(&resp);
    return rc;
}

/* One IDLE: returns when the mailbox has news, the period ends or *stop. */
static drudge_code idle_once(idle_conn *c, const drudge_mail_watch_opts *o, drudge_err *err)
{
    char tag[16];
    snprintf(tag, sizeof tag, "d%u", ++c->tag);
    drudge_buf out = {0}, line = {0};
    drudge_buf_printf(&out, "%s IDLE\r\n", tag);
    drudge_code rc = conn_send(c, out.data, err);
    drudge_buf_free(&out);
    int news = 0;
    /* Untagged news may come before the server's "+ idling". */
    while (!rc) {
        rc = conn_line(c, &line, -1, err);
        if (rc == NO_LINE)
            rc = drudge_seterr(err, DRUDGE_ECONNECT, "no answer to IDLE in 60 s");
        if (rc || line.data[0] != '*')
            break;
        news |= says_exists(line.data, line.len);
    }
    if (!rc && line.data[0] != '+')
        rc = drudge_seterr(err, DRUDGE_EINPUT, "IDLE refused: %s", line.data);
    int64_t until = now_ms() + (int64_t)(o->idle_s > 0 ? o->idle_s * 1000 : 25 * 60 * 1000);
    while (!rc && !news && !*o->stop && now_ms() < until) {
        rc = conn_line(c, &line, 1000, err);
        if (rc == NO_LINE) {
            rc = DRUDGE_OK;
            continue;
        }
        /* "* 7 EXISTS": a message came (RECENT, EXPUNGE, FETCH: nothing new to queue). */
        if (!rc && says_exists(line.data, line.len))
            news = 1;
    }
    if (!rc)
        rc = conn_send(c, "DONE\r\n", err);
    size_t tl = strlen(tag);
    while (!rc) {
        rc = conn_line(c, &line, -1, err);
        if (rc == NO_LINE)
            rc = drudge_seterr(err, DRUDGE_ECONNECT, "no answer to DONE in 60 s");
        if (!rc && !strncmp(line.data, tag, tl) && line.data[tl] == ' ')
            break;
    }
    drudge_buf_free(&line);
    return rc;
}

/* One session: connect, SELECT, then search and IDLE until *stop or an error. */
static drudge_code session(const drudge_mail_watch_opts *o, const char *base, const char *select,
                           uint32_t *validity, uint32_t *last, int *connected, drudge_err *err)
{
    idle_conn c = {.stop = o->stop};
    drudge_code rc = conn_open(&c, o, base, err);
    uint32_t v = 0;
    if (!rc)
        rc = conn_command(&c, select, take_uidvalidity, &v, err);
    if (!rc) {
        *connected = 1;
        if (v != *validity) /* a new mailbox, or renumbered: every UID is new */
            *last = 0;
        *validity = v;
        if (o->say)
            o->say(o->ud, "watching (IDLE)");
    }
    while (!rc && !*o->stop) {
        int again = 0;
        rc = search_new(&c, o, v, last, &again, err);
        if (!rc && !*o->stop && !again)
            rc = idle_once(&c, o, err);
    }
    if (!rc)
        conn_command(&c, "LOGOUT", NULL, NULL, err);
    conn_close(&c);
    return rc;
}

drudge_code drudge_mail_watch(const drudge_mail_watch_opts *o, drudge_err *err)
{
    drudge_mail_init();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    drudge_buf base = {0}, select = {0};
    drudge_buf_printf(&base, "%s/", o->base);
    drudge_buf_puts(&select, "SELECT ");
    if (drudge_imap_quote(&select, o->mailbox) != 0) {
        drudge_buf_free(&base);
        drudge_buf_free(&select);
        return drudge_seterr(err, DRUDGE_EINPUT, "bad mailbox name '%s'", o->mailbox);
    }
    uint32_t validity = 0, last = 0;
    int64_t pause_ms = 1000;
    drudge_code rc = DRUDGE_OK;
    while (!*o->stop) {
        int connected = 0;
        rc = session(o, base.data, select.data, &validity, &last, &connected, err);
        if (*o->stop)
            break;
        /* Refused (login, a mailbox that is not there) or the queue failed:
         * waiting will not help. */
        if (rc == DRUDGE_EINPUT || rc == DRUDGE_EDB || (!connected && rc != DRUDGE_ECONNECT))
            break;
        if (connected)
            pause_ms = 1000;
        if (o->say) {
            char msg[sizeof err->msg + 64];
            snprintf(msg, sizeof msg, "%s; connecting again in %lld s", err->msg,
                     (long long)(pause_ms / 1000));
            o->say(o->ud, msg);
        }
        for (int64_t t = 0; t < pause_ms && !*o->stop; t += 200)
            poll(NULL, 0, 200);
        pause_ms = pause_ms * 2 > 60000 ? 60000 : pause_ms * 2;
        rc = DRUDGE_OK;
    }
    drudge_buf_free(&base);
    drudge_buf_free(&select);
    return *o->stop && rc != DRUDGE_EINPUT && rc != DRUDGE_EDB ? DRUDGE_OK : rc;
}

/*
 * smtp.c: sending a built message through libcurl's SMTP (MAIL FROM, RCPT
 * TO, DATA; libcurl does the dot-stuffing). smtps:// is TLS from the
 * start; smtp:// with starttls upgrades or refuses.
 */
#include <stdlib.h>
#include <string.h>
#include "mailint.h"

typedef struct upload {
    const char *data;
    size_t len, pos;
} upload;

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    upload *u = ud;
    size_t want = size * n, left = u->len - u->pos;
    if (want > left)
        want = left;
    memcpy(buf, u->data + u->pos, want);
    u->pos += want;
    return want;
}

drudge_code smtp_send(const char *url, const char *user, const char *password, const mail_tls *tls,
                      const char *from, const char *const *rcpts, const char *msg, size_t len,
                      double timeout, drudge_err *err)
{
    char errbuf[CURL_ERROR_SIZE];
    drudge_code code = DRUDGE_OK;
    struct curl_slist *to = NULL;
    upload u = {msg, len, 0};
    CURL *h = curl_easy_init();
    if (!h)
        return drudge_seterr(err, DRUDGE_ENOMEM, "mail.send: cannot create a libcurl handle");
    drudge_buf addr = {0};
    for (size_t i = 0; rcpts[i]; i++) {
        drudge_buf_reset(&addr);
        drudge_buf_printf(&addr, "<%s>", rcpts[i]);
        to = curl_slist_append(to, addr.data);
    }
    drudge_buf_reset(&addr);
    drudge_buf_printf(&addr, "<%s>", from);
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (user && *user) {
        curl_easy_setopt(h, CURLOPT_USERNAME, user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, password ? password : "");
    }
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, addr.data);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, to);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &u);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    mail_curl_common(h, tls, timeout, errbuf);
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_LOGIN_DENIED)
        code =
            drudge_seterr(err, DRUDGE_ECONNECT, "%s: login as '%s' denied", url, user ? user : "");
    else if (rc != CURLE_OK)
        code = drudge_seterr(err, DRUDGE_ECONNECT, "%s: %s", url, mail_curl_error(rc, errbuf));
    curl_slist_free_all(to);
    drudge_buf_free(&addr);
    curl_easy_cleanup(h);
    return code;
}

/* http_post.c: one JSON POST outside any script, for the runner's
 * notifications (runner/work/notify.c): no recorder, no breaker, no
 * per-host limit; the caller retries. The reply's body is not kept, only
 * its status and the first bytes of it for the error message. */
#include <curl/curl.h>
#include <pthread.h>
#include <string.h>
#include "connectors/http/http.h"

#define REPLY_KEEP 200 /* bytes of a failed reply's body kept for the message */

static void init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    drudge_buf *b = ud;
    size_t len = size * n;
    if (b->len < REPLY_KEEP)
        drudge_buf_add(b, data, len < REPLY_KEEP - b->len ? len : REPLY_KEEP - b->len);
    return len;
}

drudge_code drudge_http_post_json(const drudge_http_post *p, long *status, drudge_err *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    char errbuf[CURL_ERROR_SIZE] = "";
    drudge_buf reply = {0}, auth = {0};
    struct curl_slist *headers = NULL;
    drudge_code rc = DRUDGE_OK;
    *status = 0;
    pthread_once(&once, init_once);
    CURL *h = curl_easy_init();
    if (!h)
        return drudge_seterr(err, DRUDGE_ENOMEM, "%s: cannot create a libcurl handle", p->url);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "User-Agent: drudge-notify");
    if (p->bearer && *p->bearer) {
        drudge_buf_printf(&auth, "Authorization: Bearer %s", p->bearer);
        headers = curl_slist_append(headers, auth.data);
    }
    for (size_t i = 0; p->headers && p->headers[i]; i++)
        headers = curl_slist_append(headers, p->headers[i]);
    curl_easy_setopt(h, CURLOPT_URL, p->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, p->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->len);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)((p->timeout_s > 0 ? p->timeout_s : 30) * 1000));
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        rc = drudge_seterr(err, DRUDGE_ECONNECT, "%s", *errbuf ? errbuf : curl_easy_strerror(cc));
        goto cleanup;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    if (*status < 200 || *status > 299) {
        /* The reply's first bytes, on one line, say what the receiver objected to. */
        for (size_t i = 0; i < reply.len; i++)
            if (reply.data[i] == '\n' || reply.data[i] == '\r' || reply.data[i] == '\t')
                reply.data[i] = ' ';
        rc = drudge_seterr(err, DRUDGE_ECONNECT, "HTTP %ld%s%.*s", *status, reply.len ? ": " : "",
                           (int)reply.len, reply.len ? reply.data : "");
    }
cleanup:
    if (auth.data)
        explicit_bzero(auth.data, auth.len); /* the token */
    drudge_buf_free(&auth);
    drudge_buf_free(&reply);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return rc;
}

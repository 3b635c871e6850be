/*
 * demo_service.c: the demo case-management HTTP service (see demo.h), on
 * libmicrohttpd, bound to 127.0.0.1 only.
 *
 * State (request counters per path, idempotency keys, counters) sits behind
 * one mutex: the service is a stand-in, its throughput is not the point.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "demo.h"
#include "drudge/util.h"

#define CASE_BASE 10000
#define MAX_BODY  (1 << 20)

/* An open-addressing map from 64-bit hashes to counters or document ids. */
typedef struct hmap {
    uint64_t *keys; /* 0 = empty slot */
    uint64_t *vals;
    size_t cap, n;
} hmap;

static uint64_t *hmap_slot(hmap *m, uint64_t key, int create)
{
    if (!key)
        key = 1;
    if (create && (m->n + 1) * 2 > m->cap) {
        hmap old = *m;
        m->cap = old.cap ? old.cap * 2 : 1024;
        m->keys = calloc(m->cap, sizeof *m->keys);
        m->vals = calloc(m->cap, sizeof *m->vals);
        if (!m->keys || !m->vals)
            abort();
        m->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i])
                *hmap_slot(m, old.keys[i], 1) = old.vals[i];
        free(old.keys);
        free(old.vals);
    }
    if (!m->cap)
        return NULL;
    for (size_t i = key & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key)
            return &m->vals[i];
        if (!m->keys[i]) {
            if (!create)
                return NULL;
            m->keys[i] = key;
            m->n++;
            return &m->vals[i];
        }
    }
}

static uint64_t fnv1a(const char *a, const char *b)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (; *a; a++)
        h = (h ^ (unsigned char)*a) * 0x100000001b3u;
    h = (h ^ 0xff) * 0x100000001b3u;
    for (; b && *b; b++)
        h = (h ^ (unsigned char)*b) * 0x100000001b3u;
    return h;
}

/* SplitMix64's finaliser: a well-mixed number from a counter. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

struct drudge_demo_service {
    struct MHD_Daemon *d;
    drudge_demo_opts opts;
    char *token;
    unsigned short port;
    pthread_mutex_t lock;
    hmap asked; /* hash(method, path) -> times asked */
    hmap idem;  /* hash(Idempotency-Key) -> document id << 20 | case number */
    uint64_t next_doc;
    drudge_demo_stats stats;
    uint64_t case_requests;
    int64_t down_at; /* µs (monotonic) when the outage began; 0: not yet */
};

void drudge_demo_case_ref(int i, char out[32])
{
    snprintf(out, 32, "CR-2026-%05d", CASE_BASE + i);
}

/* The case number of a known ref, or 0. */
static int case_number(const drudge_demo_service *s, const char *ref, size_t n)
{
    char buf[32];
    if (n != 13 || strncmp(ref, "CR-2026-", 8))
        return 0;
    int v = 0;
    for (size_t i = 8; i < n; i++) {
        if (ref[i] < '0' || ref[i] > '9')
            return 0;
        v = v * 10 + (ref[i] - '0');
    }
    v -= CASE_BASE;
    if (v < 1 || v > s->opts.ncases)
        return 0;
    drudge_demo_case_ref(v, buf);
    return strncmp(buf, ref, n) ? 0 : v;
}

static const char *const surnames[] = {"Okafor",  "Lindqvist", "Moreau",   "Kowalski", "Haddad",
                                       "Brennan", "Sato",      "Van Dijk", "Rossi",    "Nakamura",
                                       "Fischer", "Osei",      "Duarte",   "Novak",    "Iyer"};
static const char *const offences[] = {"burglary",    "fraud",           "assault",
                                       "theft",       "criminal damage", "harassment",
                                       "drug supply", "money laundering"};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *json)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    char body[256];
    snprintf(body, sizeof body, "{\"error\":\"%s\"}", msg);
    return reply(c, status, body);
}

/* A pseudo-random number for this request, deterministic: the n-th request
 * for a path draws the same number whatever the timing. */
static uint64_t draw(drudge_demo_service *s, const char *method, const char *url)
{
    uint64_t *n = hmap_slot(&s->asked, fnv1a(method, url), 1);
    return mix(fnv1a(method, url) ^ mix(++*n));
}

static enum MHD_Result get_case(drudge_demo_service *s, struct MHD_Connection *c, int num,
                                const char *ref)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"id\":%d,\"ref\":\"%s\",\"title\":\"R v %s\",\"offence\":\"%s\","
             "\"status\":\"open\",\"links\":{\"self\":\"http://127.0.0.1:%u/api/cases/%s\","
             "\"documents\":\"http://127.0.0.1:%u/api/cases/%s/documents\"}}",
             num, ref, surnames[mix((uint64_t)num) % 15], offences[mix((uint64_t)num + 7) % 8],
             s->port, ref, s->port, ref);
    return reply(c, MHD_HTTP_OK, body);
}

/* Called with the lock held. */
static enum MHD_Result post_document(drudge_demo_service *s, struct MHD_Connection *c, int num,
                                     const drudge_buf *body, int fail_after)
{
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    char out[256];
    uint64_t *slot = NULL;
    if (!type || strncmp(type, "application/json", 16))
        return reply_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "send application/json");
    if (!body->len || body->data[0] != '{' || !strstr(body->data, "\"subject\""))
        return reply_error(c, 422, "the body must be a JSON object with a subject");
    if (key && *key) {
        slot = hmap_slot(&s->idem, fnv1a("idem", key), 0);
        if (slot) {
            if ((int)(*slot & 0xfffff) != num)
                return reply_error(c, 422, "this Idempotency-Key was used for another case");
            s->stats.replayed++;
            snprintf(out, sizeof out, "{\"id\":%llu,\"case\":%d,\"replayed\":true}",
                     (unsigned long long)(*slot >> 20), num);
            return reply(c, MHD_HTTP_OK, out);
        }
        slot = hmap_slot(&s->idem, fnv1a("idem", key), 1);
    }
    uint64_t doc = ++s->next_doc;
    s->stats.documents++;
    if (slot)
        *slot = doc << 20 | (uint64_t)num;
    if (fail_after) {
        /* Logged, but the answer is lost: only an idempotent retry is harmless. */
        s->stats.unavailable++;
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "temporarily unavailable");
    }
    snprintf(out, sizeof out, "{\"id\":%llu,\"case\":%d}", (unsigned long long)doc, num);
    return reply(c, MHD_HTTP_CREATED, out);
}

void drudge_demo_stats_json(const drudge_demo_stats *st, char *out, size_t n)
{
    snprintf(out, n,
             "{\"cases\":%d,\"requests\":%llu,\"unauthorized\":%llu,\"not_found\":%llu,"
             "\"unavailable\":%llu,\"documents\":%llu,\"replayed\":%llu}",
             st->cases, (unsigned long long)st->requests, (unsigned long long)st->unauthorized,
             (unsigned long long)st->not_found, (unsigned long long)st->unavailable,
             (unsigned long long)st->documents, (unsigned long long)st->replayed);
}

static enum MHD_Result get_stats(drudge_demo_service *s, struct MHD_Connection *c)
{
    char out[512];
    drudge_demo_stats st = s->stats;
    st.cases = s->opts.ncases;
    drudge_demo_stats_json(&st, out, sizeof out);
    return reply(c, MHD_HTTP_OK, out);
}

static int authorized(drudge_demo_service *s, struct MHD_Connection *c)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    return auth && !strncmp(auth, "Bearer ", 7) && !strcmp(auth + 7, s->token);
}

static enum MHD_Result route(drudge_demo_service *s, struct MHD_Connection *c, const char *url,
                             const char *method, const drudge_buf *body)
{
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    s->stats.requests++;
    if (!authorized(s, c)) {
        s->stats.unauthorized++;
        return reply_error(c, MHD_HTTP_UNAUTHORIZED, "a bearer token is required");
    }
    if (!strcmp(url, "/api/stats"))
        return get ? get_stats(s, c) : reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
    if (strncmp(url, "/api/cases/", 11)) {
        s->stats.not_found++;
        return reply_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
    }
    const char *ref = url + 11, *slash = strchr(ref, '/');
    size_t n = slash ? (size_t)(slash - ref) : strlen(ref);
    int docs = slash && !strcmp(slash, "/documents");
    if (slash && !docs) {
        s->stats.not_found++;
        return reply_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint");
    }
    if ((docs && !post) || (!docs && !get))
        return reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, docs ? "use POST" : "use GET");
    if (s->opts.down_after && ++s->case_requests > s->opts.down_after) {
        int64_t now = drudge_mono_us();
        if (!s->down_at)
            s->down_at = now;
        if (now - s->down_at < (int64_t)(s->opts.down_for_s * 1e6)) {
            s->stats.unavailable++;
            s->stats.down++;
            return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "down for maintenance");
        }
    }
    uint64_t r = draw(s, method, url);
    int fail = r % 1000 < s->opts.fail_per_mille;
    /* Half the failing POSTs fail before logging, half after. */
    int fail_after = fail && docs && (r >> 40 & 1);
    if (fail && !fail_after) {
        s->stats.unavailable++;
        return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "temporarily unavailable");
    }
    char refbuf[32];
    int num = case_number(s, ref, n);
    if (!num) {
        s->stats.not_found++;
        return reply_error(c, MHD_HTTP_NOT_FOUND, "no such case");
    }
    snprintf(refbuf, sizeof refbuf, "%.*s", (int)n, ref);
    return docs ? post_document(s, c, num, body, fail_after) : get_case(s, c, num, refbuf);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    drudge_demo_service *s = cls;
    drudge_buf *body = *con_cls;
    (void)version;
    if (!body) {
        body = calloc(1, sizeof *body);
        if (!body)
            return MHD_NO;
        *con_cls = body;
        return MHD_YES;
    }
    if (*upload_size) {
        if (body->len + *upload_size <= MAX_BODY)
            drudge_buf_add(body, upload, *upload_size);
        else
            body->cap = SIZE_MAX; /* marks "too large"; the data is not kept */
        *upload_size = 0;
        return MHD_YES;
    }
    if (body->cap == SIZE_MAX)
        return reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "body over 1 MiB");
    if (!body->data)
        drudge_buf_puts(body, "");
    pthread_mutex_lock(&s->lock);
    enum MHD_Result r = route(s, c, url, method, body);
    pthread_mutex_unlock(&s->lock);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    drudge_buf *body = *con_cls;
    (void)cls, (void)c, (void)toe;
    if (body) {
        if (body->cap == SIZE_MAX)
            body->cap = 0;
        drudge_buf_free(body);
        free(body);
        *con_cls = NULL;
    }
}

drudge_demo_service *drudge_demo_service_start(const drudge_demo_opts *opts, drudge_err *err)
{
    drudge_demo_service *s = calloc(1, sizeof *s);
    if (!s) {
        drudge_seterr(err, DRUDGE_ENOMEM, "demo service: out of memory");
        return NULL;
    }
    s->opts = *opts;
    if (s->opts.ncases <= 0)
        s->opts.ncases = 300;
    if (s->opts.ncases > 89999)
        s->opts.ncases = 89999;
    s->token = drudge_xstrdup(opts->token ? opts->token : "");
    pthread_mutex_init(&s->lock, NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(opts->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, on_request, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_NOTIFY_COMPLETED,
                            on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!s->d) {
        drudge_seterr(err, DRUDGE_EIO, "demo service: cannot listen on 127.0.0.1:%u: %s",
                      opts->port, strerror(errno));
        drudge_demo_service_stop(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : opts->port;
    return s;
}

unsigned short drudge_demo_service_port(const drudge_demo_service *s)
{
    return s->port;
}

void drudge_demo_service_stats(drudge_demo_service *s, drudge_demo_stats *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->stats;
    pthread_mutex_unlock(&s->lock);
    out->cases = s->opts.ncases;
}

void drudge_demo_service_stop(drudge_demo_service *s)
{
    if (!s)
        return;
    if (s->d)
        MHD_stop_daemon(s->d);
    pthread_mutex_destroy(&s->lock);
    free(s->asked.keys);
    free(s->asked.vals);
    free(s->idem.keys);
    free(s->idem.vals);
    free(s->token);
    free(s);
}

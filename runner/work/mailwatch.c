/* mailwatch.c: `drudge watch-mail`, an e-mail intake: IMAP IDLE (the mail
 * module's drudge_mail_watch) finds the messages, this file queues them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "connectors/mail/mail.h"
#include "drudge/util.h"
#include "runner/queue/queue.h"
#include "runner/util/module.h"
#include "runner/work/mailwatch.h"

typedef struct watch {
    const drudge_mailwatch_opts *o;
    drudge_mailwatch_stats *st;
    drudge_store *s;
    const char *hostport, *mailbox;
} watch;

static drudge_code found(void *ud, uint32_t validity, uint32_t uid, drudge_err *err)
{
    watch *w = ud;
    drudge_buf key = {0}, in = {0};
    drudge_buf_printf(&key, "imap:%s/%s:%u:%u", w->hostport, w->mailbox, validity, uid);
    drudge_buf_puts(&in, "{\"url\":");
    drudge_buf_json_str(&in, w->o->url, strlen(w->o->url));
    drudge_buf_puts(&in, ",\"mailbox\":");
    drudge_buf_json_str(&in, w->mailbox, strlen(w->mailbox));
    drudge_buf_printf(&in, ",\"uid\":%u,\"uidvalidity\":%u}", uid, validity);
    drudge_task_spec spec = *w->o->spec;
    spec.key = key.data;
    spec.input = in.data;
    int64_t id = 0;
    int dup = 0;
    drudge_code rc = drudge_queue_enqueue(w->s, &spec, &id, &dup, err);
    if (!rc) {
        *(dup ? &w->st->duplicates : &w->st->queued) += 1;
        if (w->o->verbose)
            fprintf(stderr, "drudge watch-mail: UID %u -> task #%lld%s\n", uid, (long long)id,
                    dup ? " (queued before)" : "");
    } else if (rc != DRUDGE_EBUSY) {
        rc = DRUDGE_EDB; /* ends the watch: a lost database is not waited out here */
    }
    drudge_buf_free(&key);
    drudge_buf_free(&in);
    return rc;
}

static void say(void *ud, const char *msg)
{
    watch *w = ud;
    if (w->o->verbose)
        fprintf(stderr, "drudge watch-mail: %s\n", msg);
}

/* "imap://host:port/MAILBOX" split: base "imap://host:port", hostport, mailbox. */
static int split(const char *url, drudge_buf *base, drudge_buf *hostport, drudge_buf *mailbox)
{
    const char *p = !strncmp(url, "imap://", 7)    ? url + 7
                    : !strncmp(url, "imaps://", 8) ? url + 8
                                                   : NULL;
    if (!p || !*p || strchr(url, '@'))
        return -1;
    const char *slash = strchr(p, '/');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    if (!hl)
        return -1;
    drudge_buf_add(base, url, (size_t)(p - url) + hl);
    drudge_buf_add(hostport, p, hl);
    const char *mb = slash && slash[1] ? slash + 1 : "INBOX";
    size_t ml = strlen(mb);
    while (ml && mb[ml - 1] == '/')
        ml--;
    if (!ml || memchr(mb, '%', ml) || strpbrk(mb, "\r\n\"*"))
        return -1;
    drudge_buf_add(mailbox, mb, ml);
    return 0;
}

drudge_code drudge_mailwatch_run(const drudge_mailwatch_opts *o, drudge_mailwatch_stats *st,
                                 drudge_err *err)
{
    typedef drudge_code (*watch_fn)(const drudge_mail_watch_opts *, drudge_err *);
    memset(st, 0, sizeof *st);
    drudge_buf base = {0}, hostport = {0}, mailbox = {0};
    drudge_store *s = NULL;
    drudge_code rc = DRUDGE_OK;
    if (split(o->url, &base, &hostport, &mailbox) != 0) {
        rc = drudge_seterr(err, DRUDGE_EUSAGE,
                           "'%s' is not imap://HOST[:PORT]/MAILBOX or imaps://... (the user "
                           "goes in --user, not in the URL; a mailbox name without %%, *, "
                           "quotes or line breaks)",
                           o->url);
        goto cleanup;
    }
    char why[256] = "";
    watch_fn run =
        (watch_fn)(uintptr_t)drudge_module_sym("mail", "drudge_mail_watch", why, sizeof why);
    if (!run) {
        rc = drudge_seterr(err, DRUDGE_EIO, "the mail module cannot be loaded: %s", why);
        goto cleanup;
    }
    rc = drudge_store_open(o->db_path, 0, &s, err);
    if (rc)
        goto cleanup;
    watch w = {.o = o, .st = st, .s = s, .hostport = hostport.data, .mailbox = mailbox.data};
    drudge_mail_watch_opts mo = {.base = base.data,
                                 .mailbox = mailbox.data,
                                 .user = o->user,
                                 .password = o->password,
                                 .ca_file = o->ca_file,
                                 .verify_tls = o->verify_tls,
                                 .starttls = o->starttls,
                                 .idle_s = o->idle_s,
                                 .stop = o->stop,
                                 .found = found,
                                 .say = say,
                                 .ud = &w};
    rc = run(&mo, err);
cleanup:
    drudge_store_close(s);
    drudge_buf_free(&base);
    drudge_buf_free(&hostport);
    drudge_buf_free(&mailbox);
    return rc;
}

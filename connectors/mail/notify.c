/* notify.c: a plain-text message sent outside any script, for the
 * runner's notifications (runner/work/notify.c): the same build
 * (drudge_mail_build) and SMTP code (smtp.c) as mail.send, without the
 * recorder. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "connectors/mail/mail.h"
#include "mailint.h"

static void init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

drudge_code drudge_mail_send_text(const drudge_mail_text *m, drudge_err *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    char *raw = NULL, *msgid = NULL, *from = NULL;
    char **rcpts = NULL;
    size_t len = 0, n = 0;
    drudge_code rc = DRUDGE_OK;
    pthread_once(&once, init_once);
    drudge_mail_init();
    if (strncmp(m->smtp, "smtp://", 7) && strncmp(m->smtp, "smtps://", 8))
        return drudge_seterr(err, DRUDGE_EUSAGE, "'%s' is not smtp://HOST:PORT or smtps://...",
                             m->smtp);
    from = drudge_mail_bare_address(m->from);
    if (!from) {
        rc = drudge_seterr(err, DRUDGE_EUSAGE, "sender '%s' is not an e-mail address", m->from);
        goto cleanup;
    }
    while (m->to[n])
        n++;
    rcpts = calloc(n + 1, sizeof *rcpts);
    if (!rcpts) {
        rc = drudge_seterr(err, DRUDGE_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        rcpts[i] = drudge_mail_bare_address(m->to[i]);
        if (!rcpts[i]) {
            rc = drudge_seterr(err, DRUDGE_EUSAGE, "recipient '%s' is not an e-mail address",
                               m->to[i]);
            goto cleanup;
        }
    }
    drudge_mail_out out = {.from = m->from, .to = m->to, .subject = m->subject, .text = m->text};
    rc = drudge_mail_build(&out, &raw, &len, &msgid, err);
    if (rc)
        goto cleanup;
    mail_tls tls = {.verify = 1, .ca_file = NULL, .starttls = m->starttls};
    rc = smtp_send(m->smtp, m->user, m->password, &tls, from, (const char *const *)rcpts, raw, len,
                   m->timeout_s > 0 ? m->timeout_s : 30, err);
cleanup:
    for (size_t i = 0; rcpts && i < n; i++)
        free(rcpts[i]);
    free(rcpts);
    free(from);
    free(raw);
    free(msgid);
    return rc;
}

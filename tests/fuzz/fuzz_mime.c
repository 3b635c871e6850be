/* fuzz_mime.c: what the mail connector reads from a server: a raw RFC 5322
 * message (drudge_mail_parse, GMime; strict and lenient) and IMAP responses
 * (SEARCH, LIST, FETCH, COPYUID). */
#include "fuzz.h"
#include "connectors/mail/mail.h"
#include "drudge/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int inited;
    if (!inited++)
        drudge_mail_init();
    drudge_err err = {0};
    for (int lenient = 0; lenient < 2; lenient++) {
        drudge_mail_msg *m = NULL;
        if (drudge_mail_parse(data, size, lenient, &m, &err) == DRUDGE_OK)
            drudge_mail_msg_free(m);
    }
    char *s = fuzz_str(data, size);
    uint32_t *uids = NULL;
    drudge_imap_parse_search(s, size, &uids);
    free(uids);
    char **names = NULL;
    size_t n = drudge_imap_parse_list(s, size, &names);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    drudge_imap_parse_copyuid(s, size, 7);
    free(s);
    return 0;
}

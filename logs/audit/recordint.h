/* recordint.h: internals shared by the recorder's files (record.c, redact.c). */
#ifndef DRUDGE_RECORDINT_H
#define DRUDGE_RECORDINT_H

#include "drudge/util.h"

/* A redaction mark: REC_MARK, a label, "]". Labels (and secret names) are
 * letters, digits and "_-.", at most REC_LABEL_MAX of them. */
#define REC_MARK      "[REDACTED:"
#define REC_MARK_LEN  (sizeof REC_MARK - 1)
#define REC_LABEL_MAX 64
/* How many label characters s starts with, at most REC_LABEL_MAX + 1. */
size_t drudge_rec_label_len(const char *s);

/* In JSON text b, replaces the string value of every member or
 * ["Name","value"] pair whose name is a credential header or field
 * (authorization, proxy-authorization, cookie, set-cookie, password; any
 * case) by "[REDACTED:<name in lower case>]". Values already redacted stay. */
void drudge_redact_json_keys(drudge_buf *b);
/* The same for the JSON text data, left as it is: 1 and the redacted text
 * appended to out if anything was replaced, else 0 and out untouched (the
 * recorder copies a clean request or response only once). */
int drudge_redact_json_keys_to(const char *data, drudge_buf *out);

#endif

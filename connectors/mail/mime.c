/*
 * mime.c: parsing and building RFC 5322 / MIME messages with GMime 3.
 *
 * Parsing: GMime decodes encoded words (RFC 2047), parameter continuations
 * (RFC 2231) and transfer encodings; we pick the bodies and attachments,
 * convert text to UTF-8 and copy everything into plain C structures
 * (drudge_mail_msg) so the Lua side never holds GObjects. The parser's
 * warning callback tells a damaged message from a merely odd one.
 *
 * Building: a GMimeMessage with text and/or html (multipart/alternative)
 * and attachments (multipart/mixed), serialized with CRLF line ends.
 */
#include <gmime/gmime.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "connectors/mail/mail.h"
#include "drudge/util.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_gmime(void)
{
    g_mime_init();
}

void drudge_mail_init(void)
{
    pthread_once(&init_once, init_gmime);
}

/* --- parsing --- */

typedef struct parse_ctx {
    drudge_mail_msg *m;
    int fatal; /* a problem that makes the message unusable */
    char fatal_what[256];
} parse_ctx;

static const char *warning_text(GMimeParserWarning w)
{
    switch (w) {
    case GMIME_WARN_DUPLICATED_HEADER:
        return "duplicated header";
    case GMIME_WARN_DUPLICATED_PARAMETER:
        return "duplicated parameter";
    case GMIME_WARN_UNENCODED_8BIT_HEADER:
        return "unencoded 8-bit header";
    case GMIME_WARN_INVALID_CONTENT_TYPE:
        return "invalid content type";
    case GMIME_WARN_INVALID_RFC2047_HEADER_VALUE:
        return "invalid encoded word";
    case GMIME_WARN_MALFORMED_MULTIPART:
        return "malformed multipart (no parts)";
    case GMIME_WARN_TRUNCATED_MESSAGE:
        return "truncated message";
    case GMIME_WARN_MALFORMED_MESSAGE:
        return "malformed message";
    case GMIME_CRIT_INVALID_HEADER_NAME:
        return "invalid header name";
    case GMIME_CRIT_CONFLICTING_HEADER:
        return "conflicting header";
    case GMIME_CRIT_CONFLICTING_PARAMETER:
        return "conflicting parameter";
    case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
        return "multipart without boundary";
    case GMIME_WARN_INVALID_PARAMETER:
        return "invalid parameter";
    case GMIME_WARN_INVALID_ADDRESS_LIST:
        return "invalid address list";
    case GMIME_CRIT_NESTING_OVERFLOW:
        return "MIME nesting too deep";
    case GMIME_WARN_PART_WITHOUT_CONTENT:
        return "part without content";
    case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
        return "part without headers or content";
    default:
        return "unknown problem";
    }
}

/* Problems after which the parsed message is not the message that was sent. */
static int is_fatal(GMimeParserWarning w)
{
    return w == GMIME_WARN_TRUNCATED_MESSAGE || w == GMIME_WARN_MALFORMED_MESSAGE ||
           w == GMIME_CRIT_NESTING_OVERFLOW || w == GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT ||
           w == GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY;
}

static void on_warning(gint64 offset, GMimeParserWarning w, const gchar *item, gpointer ud)
{
    parse_ctx *ctx = ud;
    drudge_mail_msg *m = ctx->m;
    drudge_buf b = {0};
    drudge_buf_puts(&b, warning_text(w));
    if (offset >= 0)
        drudge_buf_printf(&b, " at byte %lld", (long long)offset);
    if (item && *item)
        drudge_buf_printf(&b, " (%.80s)", item);
    if (is_fatal(w) && !ctx->fatal) {
        ctx->fatal = 1;
        snprintf(ctx->fatal_what, sizeof ctx->fatal_what, "%s", b.data);
    }
    m->warnings = drudge_xrealloc(m->warnings, (m->nwarnings + 1) * sizeof *m->warnings);
    m->warnings[m->nwarnings++] = drudge_buf_take(&b);
}

/* Copies a GMime string (NULL -> dflt) into a malloc'd valid-UTF-8 string. */
static char *dup_utf8(const char *s, const char *dflt)
{
    if (!s)
        return dflt ? drudge_xstrdup(dflt) : NULL;
    if (g_utf8_validate(s, -1, NULL))
        return drudge_xstrdup(s);
    gchar *valid = g_utf8_make_valid(s, -1);
    char *r = drudge_xstrdup(valid);
    g_free(valid);
    return r;
}

static void add_addr(drudge_mail_addrs *a, InternetAddress *ia)
{
    if (INTERNET_ADDRESS_IS_GROUP(ia)) {
        InternetAddressList *members =
            internet_address_group_get_members((InternetAddressGroup *)ia);
        for (int i = 0; members && i < internet_address_list_length(members); i++)
            add_addr(a, internet_address_list_get_address(members, i));
        return;
    }
    if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
        return;
    a->v = drudge_xrealloc(a->v, (a->n + 1) * sizeof *a->v);
    a->v[a->n].name = dup_utf8(internet_address_get_name(ia), "");
    a->v[a->n].address =
        dup_utf8(internet_address_mailbox_get_addr((InternetAddressMailbox *)ia), "");
    a->n++;
}

static void get_addrs(drudge_mail_addrs *a, InternetAddressList *list)
{
    for (int i = 0; list && i < internet_address_list_length(list); i++)
        add_addr(a, internet_address_list_get_address(list, i));
}

/* The decoded content of a leaf part (transfer encoding undone); caller
 * frees with g_byte_array_unref. */
static GByteArray *part_bytes(GMimePart *part)
{
    GByteArray *bytes = g_byte_array_new();
    GMimeDataWrapper *content = g_mime_part_get_content(part);
    if (content) {
        GMimeStream *out = g_mime_stream_mem_new_with_byte_array(bytes);
        g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(out), FALSE);
        g_mime_data_wrapper_write_to_stream(content, out);
        g_object_unref(out);
    }
    return bytes;
}

/* Text in its declared charset to UTF-8. Without a charset (or with
 * us-ascii) text that is valid UTF-8 is kept; otherwise it is read as
 * Windows-1252, which is what mislabelled mail nearly always is (and a
 * superset of ISO-8859-1's printable characters). */
static char *to_utf8(const unsigned char *data, size_t len, const char *charset)
{
    if (!len)
        return drudge_xstrdup("");
    const char *cs = charset ? g_mime_charset_iconv_name(charset) : NULL;
    gsize out_len = 0;
    gchar *conv = NULL;
    if (cs && !g_ascii_strcasecmp(cs, "iso-8859-1"))
        cs = "WINDOWS-1252";
    if (cs && g_ascii_strcasecmp(cs, "utf-8") && g_ascii_strcasecmp(cs, "us-ascii"))
        conv = g_convert_with_fallback((const gchar *)data, (gssize)len, "UTF-8", cs,
                                       "\xEF\xBF\xBD", NULL, &out_len, NULL);
    if (!conv && g_utf8_validate((const gchar *)data, (gssize)len, NULL)) {
        char *r = drudge_xmalloc(len + 1);
        memcpy(r, data, len);
        r[len] = '\0';
        return r;
    }
    if (!conv)
        conv = g_convert_with_fallback((const gchar *)data, (gssize)len, "UTF-8", "WINDOWS-1252",
                                       "\xEF\xBF\xBD", NULL, &out_len, NULL);
    if (!conv) /* bytes 0x81, 0x8d... undefined in 1252 */
        conv = g_utf8_make_valid((const gchar *)data, (gssize)len);
    char *r = dup_utf8(conv, "");
    g_free(conv);
    return r;
}

/* Mail text travels with CRLF line ends; scripts want "\n". */
static char *body_text(const GByteArray *bytes, const char *charset)
{
    char *s = to_utf8(bytes->data, bytes->len, charset);
    char *w = s;
    for (const char *p = s; *p; p++)
        if (!(p[0] == '\r' && p[1] == '\n'))
            *w++ = *p;
    *w = '\0';
    return s;
}

static void add_attachment(drudge_mail_msg *m, const char *filename, const char *ctype,
                           const unsigned char *data, size_t size)
{
    m->atts = drudge_xrealloc(m->atts, (m->natts + 1) * sizeof *m->atts);
    drudge_mail_att *a = &m->atts[m->natts++];
    a->filename = dup_utf8(filename, "");
    a->content_type = drudge_xstrdup(ctype);
    for (char *p = a->content_type; *p; p++)
        *p = (char)g_ascii_tolower(*p);
    a->data = drudge_xmalloc(size ? size : 1);
    if (size)
        memcpy(a->data, data, size);
    a->size = size;
}

static void visit_part(GMimeObject *parent, GMimeObject *part, gpointer ud)
{
    (void)parent;
    drudge_mail_msg *m = ud;
    GMimeContentType *ct = g_mime_object_get_content_type(part);
    char *mime_type = ct ? g_mime_content_type_get_mime_type(ct) : g_strdup("text/plain");
    if (GMIME_IS_MESSAGE_PART(part)) {
        /* A forwarded message: an attachment holding its raw text. */
        GMimeMessage *inner = g_mime_message_part_get_message((GMimeMessagePart *)part);
        const char *fn = g_mime_object_get_content_disposition_parameter(part, "filename");
        if (inner) {
            GByteArray *bytes = g_byte_array_new();
            GMimeStream *out = g_mime_stream_mem_new_with_byte_array(bytes);
            g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(out), FALSE);
            g_mime_object_write_to_stream((GMimeObject *)inner, NULL, out);
            g_object_unref(out);
            add_attachment(m, fn ? fn : "message.eml", mime_type, bytes->data, bytes->len);
            g_byte_array_unref(bytes);
        }
    } else if (GMIME_IS_PART(part)) {
        GMimePart *leaf = (GMimePart *)part;
        const char *filename = g_mime_part_get_filename(leaf);
        int is_att = g_mime_part_is_attachment(leaf) || filename;
        GByteArray *bytes = part_bytes(leaf);
        if (!is_att && !m->text && !g_ascii_strcasecmp(mime_type, "text/plain"))
            m->text = body_text(bytes, g_mime_object_get_content_type_parameter(part, "charset"));
        else if (!is_att && !m->html && !g_ascii_strcasecmp(mime_type, "text/html"))
            m->html = body_text(bytes, g_mime_object_get_content_type_parameter(part, "charset"));
        else if (is_att || g_ascii_strncasecmp(mime_type, "text/", 5) != 0)
            add_attachment(m, filename, mime_type, bytes->data, bytes->len);
        g_byte_array_unref(bytes);
    }
    g_free(mime_type);
}

static char *iso_date(GDateTime *dt)
{
    if (!dt)
        return NULL;
    GDateTime *utc = g_date_time_to_utc(dt);
    gchar *s = utc ? g_date_time_format(utc, "%Y-%m-%dT%H:%M:%SZ") : NULL;
    char *r = s ? drudge_xstrdup(s) : NULL;
    g_free(s);
    if (utc)
        g_date_time_unref(utc);
    return r;
}

drudge_code drudge_mail_parse(const void *raw, size_t len, int lenient, drudge_mail_msg **out,
                              drudge_err *err)
{
    drudge_code rc = DRUDGE_OK;
    GMimeStream *stream = NULL;
    GMimeParser *parser = NULL;
    GMimeParserOptions *opts = NULL;
    GMimeMessage *msg = NULL;
    parse_ctx ctx = {0};
    *out = NULL;
    drudge_mail_init();
    drudge_mail_msg *m = calloc(1, sizeof *m);
    if (!m)
        return drudge_seterr(err, DRUDGE_ENOMEM, "out of memory");
    ctx.m = m;
    m->raw_size = len;
    if (len == 0) {
        rc = drudge_seterr(err, DRUDGE_EINPUT, "empty message");
        goto cleanup;
    }
    /* The stream copies the bytes: GMime may keep references into them. */
    stream = g_mime_stream_mem_new_with_buffer(raw, len);
    parser = g_mime_parser_new_with_stream(stream);
    opts = g_mime_parser_options_new();
    g_mime_parser_options_set_warning_callback(opts, on_warning, &ctx);
    /* Raw 8-bit headers: UTF-8 if valid, else what Windows mailers send. */
    static const char *fallback[] = {"UTF-8", "windows-1252", NULL};
    g_mime_parser_options_set_fallback_charsets(opts, fallback);
    msg = g_mime_parser_construct_message(parser, opts);
    if (!msg) {
        rc = drudge_seterr(err, DRUDGE_EINPUT, "not a mail message (no headers could be read)");
        goto cleanup;
    }
    if (ctx.fatal && !lenient) {
        rc = drudge_seterr(err, DRUDGE_EINPUT, "malformed message: %s", ctx.fatal_what);
        goto cleanup;
    }
    if (!g_mime_object_get_header((GMimeObject *)msg, "From") &&
        !g_mime_object_get_header((GMimeObject *)msg, "Subject") &&
        !g_mime_object_get_header((GMimeObject *)msg, "Date") && !lenient) {
        rc = drudge_seterr(err, DRUDGE_EINPUT,
                           "not a mail message (no From, Subject or Date header)");
        goto cleanup;
    }

    const char *mid = g_mime_message_get_message_id(msg);
    if (mid && *mid) {
        m->message_id = dup_utf8(mid, NULL);
        m->key = drudge_xstrdup(m->message_id);
    } else {
        char hex[65];
        drudge_sha256_hex(raw, len, hex);
        drudge_buf k = {0};
        drudge_buf_printf(&k, "sha256:%s", hex);
        m->key = drudge_buf_take(&k);
    }
    get_addrs(&m->from, g_mime_message_get_from(msg));
    get_addrs(&m->to, g_mime_message_get_to(msg));
    get_addrs(&m->cc, g_mime_message_get_cc(msg));
    get_addrs(&m->reply_to, g_mime_message_get_reply_to(msg));
    m->subject = dup_utf8(g_mime_message_get_subject(msg), "");
    m->date = iso_date(g_mime_message_get_date(msg));
    GMimeObject *body = g_mime_message_get_mime_part(msg);
    if (body) {
        if (GMIME_IS_MULTIPART(body))
            g_mime_multipart_foreach((GMimeMultipart *)body, visit_part, m);
        else
            visit_part(NULL, body, m);
    }

cleanup:
    if (msg)
        g_object_unref(msg);
    if (opts)
        g_mime_parser_options_free(opts);
    if (parser)
        g_object_unref(parser);
    if (stream)
        g_object_unref(stream);
    if (rc != DRUDGE_OK)
        drudge_mail_msg_free(m);
    else
        *out = m;
    return rc;
}

static void free_addrs(drudge_mail_addrs *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->v[i].name);
        free(a->v[i].address);
    }
    free(a->v);
}

void drudge_mail_msg_free(drudge_mail_msg *m)
{
    if (!m)
        return;
    free(m->message_id);
    free(m->key);
    free_addrs(&m->from);
    free_addrs(&m->to);
    free_addrs(&m->cc);
    free_addrs(&m->reply_to);
    free(m->subject);
    free(m->date);
    free(m->text);
    free(m->html);
    for (size_t i = 0; i < m->natts; i++) {
        free(m->atts[i].filename);
        free(m->atts[i].content_type);
        free(m->atts[i].data);
    }
    free(m->atts);
    for (size_t i = 0; i < m->nwarnings; i++)
        free(m->warnings[i]);
    free(m->warnings);
    free(m);
}

/* --- building --- */

char *drudge_mail_bare_address(const char *s)
{
    drudge_mail_init();
    char *r = NULL;
    InternetAddressList *list = internet_address_list_parse(NULL, s);
    if (list && internet_address_list_length(list) == 1) {
        InternetAddress *ia = internet_address_list_get_address(list, 0);
        const char *addr = INTERNET_ADDRESS_IS_MAILBOX(ia)
                               ? internet_address_mailbox_get_addr((InternetAddressMailbox *)ia)
                               : NULL;
        if (addr && strchr(addr, '@') && !strpbrk(addr, "\r\n<> "))
            r = drudge_xstrdup(addr);
    }
    if (list)
        g_object_unref(list);
    return r;
}

static drudge_code add_addresses(GMimeMessage *msg, GMimeAddressType type, const char *const *list,
                                 const char *what, drudge_err *err)
{
    InternetAddressList *dst = g_mime_message_get_addresses(msg, type);
    for (size_t i = 0; list && list[i]; i++) {
        InternetAddressList *parsed = internet_address_list_parse(NULL, list[i]);
        if (!parsed || internet_address_list_length(parsed) != 1) {
            if (parsed)
                g_object_unref(parsed);
            return drudge_seterr(err, DRUDGE_EINPUT, "%s[%zu]: not one mail address: '%s'", what,
                                 i + 1, list[i]);
        }
        internet_address_list_append(dst, parsed);
        g_object_unref(parsed);
    }
    return DRUDGE_OK;
}

static GMimeObject *text_part(const char *subtype, const char *text)
{
    GMimeTextPart *tp = g_mime_text_part_new_with_subtype(subtype);
    g_mime_text_part_set_text(tp, text);
    GMimePart *p = (GMimePart *)tp;
    g_mime_part_set_content_encoding(
        p, g_mime_part_get_best_content_encoding(p, GMIME_ENCODING_CONSTRAINT_7BIT));
    return (GMimeObject *)tp;
}

static const char *guess_type(const char *filename)
{
    static const char *const map[][2] = {
        {".pdf", "application/pdf"},
        {".txt", "text/plain"},
        {".csv", "text/csv"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".html", "text/html"},
        {".xml", "application/xml"},
        {".json", "application/json"},
        {".zip", "application/zip"},
        {".eml", "message/rfc822"},
        {".doc", "application/msword"},
        {".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
        {".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
        {".odt", "application/vnd.oasis.opendocument.text"},
    };
    const char *dot = filename ? strrchr(filename, '.') : NULL;
    for (size_t i = 0; dot && i < sizeof map / sizeof map[0]; i++)
        if (!g_ascii_strcasecmp(dot, map[i][0]))
            return map[i][1];
    return "application/octet-stream";
}

static GMimeObject *attachment_part(const drudge_mail_out_att *a, drudge_err *err, size_t idx)
{
    const char *ctype = a->content_type ? a->content_type : guess_type(a->filename);
    GMimeContentType *ct = g_mime_content_type_parse(NULL, ctype);
    if (!ct || !g_mime_content_type_get_media_type(ct) ||
        !g_mime_content_type_get_media_subtype(ct) || !strchr(ctype, '/')) {
        if (ct)
            g_object_unref(ct);
        drudge_seterr(err, DRUDGE_EINPUT, "attachments[%zu]: bad content_type '%s'", idx, ctype);
        return NULL;
    }
    GMimePart *part = g_mime_part_new_with_type(g_mime_content_type_get_media_type(ct),
                                                g_mime_content_type_get_media_subtype(ct));
    g_object_unref(ct);
    GMimeStream *s = g_mime_stream_mem_new_with_buffer(a->data, a->size);
    GMimeDataWrapper *w = g_mime_data_wrapper_new_with_stream(s, GMIME_CONTENT_ENCODING_DEFAULT);
    g_mime_part_set_content(part, w);
    g_object_unref(w);
    g_object_unref(s);
    g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_BASE64);
    g_mime_object_set_disposition((GMimeObject *)part, GMIME_DISPOSITION_ATTACHMENT);
    if (a->filename && *a->filename)
        g_mime_part_set_filename(part, a->filename); /* RFC 2231 when non-ASCII */
    return (GMimeObject *)part;
}

drudge_code drudge_mail_build(const drudge_mail_out *spec, char **raw, size_t *len,
                              char **message_id, drudge_err *err)
{
    drudge_code rc = DRUDGE_OK;
    GMimeMessage *msg = NULL;
    GMimeObject *body = NULL;
    *raw = NULL;
    *len = 0;
    *message_id = NULL;
    drudge_mail_init();
    if (!spec->from || !*spec->from)
        return drudge_seterr(err, DRUDGE_EINPUT, "from: missing");
    if (!spec->text && !spec->html)
        return drudge_seterr(err, DRUDGE_EINPUT, "give text, html or both");

    msg = g_mime_message_new(TRUE);
    const char *from[] = {spec->from, NULL};
    rc = add_addresses(msg, GMIME_ADDRESS_TYPE_FROM, from, "from", err);
    if (rc == DRUDGE_OK)
        rc = add_addresses(msg, GMIME_ADDRESS_TYPE_TO, spec->to, "to", err);
    if (rc == DRUDGE_OK)
        rc = add_addresses(msg, GMIME_ADDRESS_TYPE_CC, spec->cc, "cc", err);
    if (rc == DRUDGE_OK)
        rc = add_addresses(msg, GMIME_ADDRESS_TYPE_REPLY_TO, spec->reply_to, "reply_to", err);
    if (rc != DRUDGE_OK)
        goto cleanup;
    g_mime_message_set_subject(msg, spec->subject ? spec->subject : "", "utf-8");
    GDateTime *now = g_date_time_new_now_utc();
    g_mime_message_set_date(msg, now);
    g_date_time_unref(now);
    char *bare = drudge_mail_bare_address(spec->from);
    const char *at = bare ? strchr(bare, '@') : NULL;
    char *mid = g_mime_utils_generate_message_id(at ? at + 1 : "drudge.invalid");
    free(bare);
    g_mime_message_set_message_id(msg, mid);
    *message_id = drudge_xstrdup(mid);
    g_free(mid);
    if (spec->in_reply_to && *spec->in_reply_to) {
        drudge_buf irt = {0};
        drudge_buf_printf(&irt, "<%s>", spec->in_reply_to);
        g_mime_object_set_header((GMimeObject *)msg, "In-Reply-To", irt.data, NULL);
        g_mime_object_set_header((GMimeObject *)msg, "References", irt.data, NULL);
        drudge_buf_free(&irt);
    }

    if (spec->text && spec->html) {
        GMimeMultipart *alt = g_mime_multipart_new_with_subtype("alternative");
        GMimeObject *t = text_part("plain", spec->text), *h = text_part("html", spec->html);
        g_mime_multipart_add(alt, t);
        g_mime_multipart_add(alt, h);
        g_object_unref(t);
        g_object_unref(h);
        body = (GMimeObject *)alt;
    } else {
        body = text_part(spec->text ? "plain" : "html", spec->text ? spec->text : spec->html);
    }
    if (spec->natts) {
        GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
        g_mime_multipart_add(mixed, body);
        g_object_unref(body);
        body = (GMimeObject *)mixed;
        for (size_t i = 0; i < spec->natts; i++) {
            GMimeObject *att = attachment_part(&spec->atts[i], err, i + 1);
            if (!att) {
                rc = DRUDGE_EINPUT;
                goto cleanup;
            }
            g_mime_multipart_add(mixed, att);
            g_object_unref(att);
        }
    }
    g_mime_message_set_mime_part(msg, body);

    GMimeFormatOptions *fo = g_mime_format_options_new();
    g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
    GByteArray *bytes = g_byte_array_new();
    GMimeStream *out = g_mime_stream_mem_new_with_byte_array(bytes);
    g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(out), FALSE);
    g_mime_object_write_to_stream((GMimeObject *)msg, fo, out);
    g_object_unref(out);
    g_mime_format_options_free(fo);
    *len = bytes->len;
    *raw = drudge_xmalloc(bytes->len + 1);
    memcpy(*raw, bytes->data, bytes->len);
    (*raw)[bytes->len] = '\0';
    g_byte_array_unref(bytes);

cleanup:
    if (body)
        g_object_unref(body);
    if (msg)
        g_object_unref(msg);
    if (rc != DRUDGE_OK) {
        free(*message_id);
        *message_id = NULL;
    }
    return rc;
}

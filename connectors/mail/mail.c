/*
 * mail.c: drudge.mail, the Lua face of the mail connector.
 *
 *   mail.parse(raw [, {lenient=}])      -> message
 *   mail.imap{ url=, user=, password=, verify_tls=, ca_file=, starttls=, timeout= } -> box
 *     box:search{...} box:fetch(uid) box:move(uid, folder) box:copy(uid, folder)
 *     box:flag(uid, flag) box:unflag(uid, flag) box:list() box:create(folder) box:close()
 *   mail.send{ smtp=, from=, to=, cc=, bcc=, subject=, text=, html=, attachments=, ... } -> id
 *
 * Every IMAP/SMTP call is a "mail" step in the audit trail, made through the
 * connector call path (drudge_call): the command, mailbox and UIDs in the
 * request, counts and sizes in the response, raw messages as message/rfc822
 * payloads (redacted like text). Passwords are never part of a request. The
 * live functions below do the IMAP/SMTP work; the Lua results are built
 * from the response (and the message bytes) the same way in live and
 * replay, where nothing touches the network.
 *
 * Misuse raises with luaL_error/argerror; a failure of the world (server
 * down, login denied, a refused command, a malformed message) raises a
 * plain error, so the task is retried or the script can pcall it.
 */
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "drudge/call.h"
#include "drudge/host.h"
#include "drudge/json.h"
#include "connectors/mail/mail.h"
#include "mailint.h"

#define BOX_MT          "drudge.mail.imap"
#define ATT_MT          "drudge.mail.attachment"
#define DEFAULT_TIMEOUT 60.0
#define ATT_DATA_KEY    "drudge.mail.attdata" /* registry: attachment table -> bytes */

typedef struct imap_box {
    imap_conn conn; /* conn.curl NULL while closed or replaying */
    char *url;      /* as given, minus any user info */
    char *base;     /* scheme://host:port */
    char *mailbox;
    char *user;
    double timeout;
    int closed;
} imap_box;

/* --- small helpers --- */

static double call_timeout(lua_State *L, double want)
{
    double left = drudge_host_remaining(L);
    if (left <= 0)
        drudge_host_raise(L, "mail: the attempt's time is up");
    return want < left ? want : left;
}

/* One IMAP or SMTP call: what its live function and push use. */
typedef struct mcall {
    imap_box *b;
    int box_idx; /* the box on the stack (mail.imap) */
    lua_Integer uid;
    const char *cmd;    /* the IMAP command */
    const char *folder; /* create, move, copy: as given */
    const char *quoted; /* and quoted for IMAP */
    int move, peek, lenient;
    const char *user, *password;
    const mail_tls *tls;
    /* mail.send */
    drudge_mail_out *out;
    const char *url, *from;
    const char *const *rcpt[3]; /* to, cc, bcc */
    double timeout;
} mcall;

/* The server a mail URL reaches, as its circuit breaker's target:
 * "host:port", the port the scheme's when the URL has none ("imaps://mail.
 * example.org" is "mail.example.org:993"); "" if the URL does not parse. */
static void mail_target(const char *url, char *out, size_t n)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    out[0] = '\0';
    if (url && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
        snprintf(out, n, "%s:%s", host, port);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

/* A mail call named by the string on top of the stack, with the request
 * req (freed here: the texts live on the stack, so an error raised by the
 * call leaks nothing). Returns push's results. */
static int mail_call(lua_State *L, drudge_buf *req, drudge_call_live_fn live,
                     drudge_call_push_fn push, mcall *mc)
{
    char target[300];
    mail_target(mc->b ? mc->b->base : mc->url, target, sizeof target);
    lua_pushstring(L, req->data);
    drudge_buf_free(req);
    drudge_call_spec spec = {.kind = "mail",
                             .name = lua_tostring(L, -2),
                             .request = lua_tostring(L, -1),
                             .live = live,
                             .push = push,
                             .ud = mc,
                             .target = *target ? target : NULL};
    return drudge_call(L, &spec);
}

/* An IMAP call on box b: the step "IMAP <name> <mailbox>[ UID n]" with
 * the request req (closed here). */
static int box_call(lua_State *L, const char *name, drudge_buf *req, drudge_call_live_fn live,
                    drudge_call_push_fn push, mcall *mc)
{
    imap_box *b = mc->b;
    drudge_buf n = {0};
    drudge_buf_puts(req, "}");
    drudge_buf_printf(&n, "IMAP %s %s", name, b->mailbox);
    if (mc->uid)
        drudge_buf_printf(&n, " UID %lld", (long long)mc->uid);
    lua_pushstring(L, n.data);
    drudge_buf_free(&n);
    return mail_call(L, req, live, push, mc);
}

/* Runs a command; a refusal or a failure fails the call. */
static drudge_code box_command(lua_State *L, drudge_call_ctx *call, imap_box *b,
                               const char *mailbox, const char *cmd, drudge_buf *resp)
{
    drudge_err err = {0};
    double t = call_timeout(L, b->timeout);
    if (imap_command(&b->conn, mailbox, cmd, t, resp, &err) != DRUDGE_OK)
        return drudge_call_fail(call, DRUDGE_ECONNECT, "mail: %s", err.msg);
    return DRUDGE_OK;
}

/* push for calls whose only result is that they were done. */
static int push_nothing(lua_State *L, drudge_call_ctx *call, void *ud)
{
    return 0;
}

/* --- messages as Lua tables --- */

static void push_addrs(lua_State *L, const drudge_mail_addrs *a)
{
    lua_createtable(L, (int)a->n, 0);
    for (size_t i = 0; i < a->n; i++) {
        lua_createtable(L, 0, 2);
        lua_pushstring(L, a->v[i].name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, a->v[i].address);
        lua_setfield(L, -2, "address");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static void set_str(lua_State *L, const char *key, const char *v)
{
    if (!v)
        return;
    lua_pushstring(L, v);
    lua_setfield(L, -2, key);
}

/* Pushes the message table; attachments carry their bytes in the registry
 * (weak keys), so the table stays plain data that json.encode accepts. */
static void push_message(lua_State *L, const drudge_mail_msg *m)
{
    lua_createtable(L, 0, 16);
    set_str(L, "message_id", m->message_id);
    set_str(L, "key", m->key);
    push_addrs(L, &m->from);
    lua_setfield(L, -2, "from");
    push_addrs(L, &m->to);
    lua_setfield(L, -2, "to");
    push_addrs(L, &m->cc);
    lua_setfield(L, -2, "cc");
    push_addrs(L, &m->reply_to);
    lua_setfield(L, -2, "reply_to");
    set_str(L, "subject", m->subject);
    set_str(L, "date", m->date);
    set_str(L, "text", m->text);
    set_str(L, "html", m->html);
    lua_pushinteger(L, (lua_Integer)m->raw_size);
    lua_setfield(L, -2, "size");
    lua_getfield(L, LUA_REGISTRYINDEX, ATT_DATA_KEY);
    lua_createtable(L, (int)m->natts, 0);
    for (size_t i = 0; i < m->natts; i++) {
        const drudge_mail_att *a = &m->atts[i];
        lua_createtable(L, 0, 3);
        set_str(L, "filename", a->filename);
        set_str(L, "content_type", a->content_type);
        lua_pushinteger(L, (lua_Integer)a->size);
        lua_setfield(L, -2, "size");
        luaL_setmetatable(L, ATT_MT);
        lua_pushvalue(L, -1);
        lua_pushlstring(L, (const char *)a->data, a->size);
        lua_rawset(L, -5); /* attdata[att] = bytes */
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -3, "attachments");
    lua_pop(L, 1); /* attdata */
    lua_createtable(L, (int)m->nwarnings, 0);
    for (size_t i = 0; i < m->nwarnings; i++) {
        lua_pushstring(L, m->warnings[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "warnings");
}

/* Parses raw and pushes the message, or returns the error text in err. */
static int parse_and_push(lua_State *L, const void *raw, size_t len, int lenient, drudge_err *err)
{
    drudge_mail_msg *m = NULL;
    if (drudge_mail_parse(raw, len, lenient, &m, err) != DRUDGE_OK)
        return -1;
    push_message(L, m);
    drudge_mail_msg_free(m);
    return 0;
}

static int opt_bool(lua_State *L, int t, const char *key, int dflt)
{
    int ty = lua_getfield(L, t, key);
    int v = ty == LUA_TNIL ? dflt : lua_toboolean(L, -1);
    if (ty != LUA_TNIL && ty != LUA_TBOOLEAN)
        drudge_host_config_error(L, "%s: expected a boolean, got %s", key, luaL_typename(L, -1));
    lua_pop(L, 1);
    return v;
}

/* The string field key of table t, or NULL; raises if it is not a string. */
static const char *opt_str(lua_State *L, int t, const char *key)
{
    int ty = lua_getfield(L, t, key);
    const char *s = NULL;
    if (ty == LUA_TSTRING)
        s = lua_tostring(L, -1);
    else if (ty != LUA_TNIL)
        drudge_host_config_error(L, "%s: expected a string, got %s", key, luaL_typename(L, -1));
    lua_pop(L, 1); /* the string stays alive in the table */
    return s;
}

static int l_parse(lua_State *L)
{
    size_t len;
    const char *raw = luaL_checklstring(L, 1, &len);
    int lenient = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lenient = opt_bool(L, 2, "lenient", 0);
    }
    drudge_err err = {0};
    if (parse_and_push(L, raw, len, lenient, &err) != 0)
        return luaL_error(L, "mail.parse: %s", err.msg);
    return 1;
}

/* --- attachments --- */

static const char *att_bytes(lua_State *L, size_t *len)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, LUA_REGISTRYINDEX, ATT_DATA_KEY);
    lua_pushvalue(L, 1);
    lua_rawget(L, -2);
    const char *data = lua_tolstring(L, -1, len);
    if (!data)
        luaL_argerror(L, 1, "not an attachment of a parsed message");
    lua_replace(L, -2);
    return data; /* the string stays on the stack */
}

static int l_att_data(lua_State *L)
{
    size_t len;
    att_bytes(L, &len);
    return 1;
}

/* A file name safe to create: the last path component, without control
 * characters; "attachment" if nothing is left. */
static void safe_name(drudge_buf *b, const char *name)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *bs = strrchr(base, '\\');
    base = bs ? bs + 1 : base;
    for (const char *p = base; *p; p++)
        if ((unsigned char)*p >= 0x20 && *p != 0x7f)
            drudge_buf_add(b, p, 1);
    if (!b->len || !strcmp(b->data, ".") || !strcmp(b->data, "..")) {
        drudge_buf_reset(b);
        drudge_buf_puts(b, "attachment");
    }
}

typedef struct att_write {
    const char *data;
    size_t len;
} att_write;

static drudge_code att_write_file(lua_State *L, const char *tmp, void *ud, drudge_err *err)
{
    const att_write *w = ud;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return drudge_seterr(err, DRUDGE_EIO, "%s: %s", tmp, strerror(errno));
    for (size_t off = 0; off < w->len;) {
        ssize_t n = write(fd, w->data + off, w->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return drudge_seterr(err, DRUDGE_EIO, "%s: %s", tmp, strerror(e));
        }
        off += (size_t)n;
    }
    if (close(fd) != 0)
        return drudge_seterr(err, DRUDGE_EIO, "%s: %s", tmp, strerror(errno));
    return DRUDGE_OK;
}

/* att:save([dir [, name]]) -> path. dir (default: the files directory) is
 * created if missing; the file is created 0600. */
static int l_att_save(lua_State *L)
{
    size_t len;
    const char *dir = luaL_optstring(L, 2, NULL);
    const char *name = luaL_optstring(L, 3, NULL);
    lua_settop(L, 3);
    att_bytes(L, &len); /* at index 4 */
    int data_idx = lua_gettop(L);
    if (!name) {
        lua_getfield(L, 1, "filename");
        name = lua_tostring(L, -1);
        if (!name)
            name = "";
    }
    drudge_buf fn = {0};
    safe_name(&fn, name);
    lua_pushstring(L, fn.data);
    drudge_buf_free(&fn);
    const char *file = lua_tostring(L, -1);
    const char *path;
    if (dir) {
        /* Create missing directories one level at a time, each checked
         * against the files directory before it is made. */
        const char *full_dir = NULL;
        size_t n = strlen(dir);
        for (size_t i = 1; i <= n; i++) {
            if (i < n && dir[i] != '/')
                continue;
            lua_pushlstring(L, dir, i);
            full_dir = drudge_host_confine(L, lua_tostring(L, -1));
            struct stat st;
            if (stat(full_dir, &st) != 0 && mkdir(full_dir, 0700) != 0)
                return luaL_error(L, "att:save: cannot create %s: %s", lua_tostring(L, -2),
                                  strerror(errno));
        }
        if (!full_dir)
            return luaL_argerror(L, 2, "empty directory name");
        lua_pushfstring(L, "%s/%s", full_dir, file);
        path = drudge_host_confine(L, lua_tostring(L, -1));
    } else {
        path = drudge_host_confine(L, file);
    }
    /* A step of kind "file" with the file's SHA-256 (drudge_host_write_file). */
    att_write w = {.data = lua_tostring(L, data_idx), .len = len};
    drudge_host_write_file(L, "att:save", path, att_write_file, &w);
    lua_pop(L, 1);
    lua_pushstring(L, path);
    return 1;
}

/* --- IMAP sessions --- */

static imap_box *check_box(lua_State *L)
{
    imap_box *b = luaL_checkudata(L, 1, BOX_MT);
    if (b->closed)
        luaL_error(L, "mail: the IMAP session for %s is closed", b->url ? b->url : "?");
    return b;
}

static int l_box_gc(lua_State *L)
{
    imap_box *b = luaL_checkudata(L, 1, BOX_MT);
    if (b->conn.curl || b->conn.base)
        imap_conn_close(&b->conn);
    free(b->url);
    free(b->base);
    free(b->mailbox);
    free(b->user);
    b->url = b->base = b->mailbox = b->user = NULL;
    b->closed = 1;
    return 0;
}

static int l_box_tostring(lua_State *L)
{
    imap_box *b = luaL_checkudata(L, 1, BOX_MT);
    lua_pushfstring(L, "mail.imap(%s%s)", b->url ? b->url : "?", b->closed ? ", closed" : "");
    return 1;
}

/* Splits an imap(s):// URL into base and mailbox (percent-decoded). */
static void split_url(lua_State *L, const char *url, imap_box *b)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *userinfo = NULL;
    CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (rc == CURLUE_OK)
        rc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    if (rc == CURLUE_OK)
        rc = curl_url_get(u, CURLUPART_HOST, &host, 0);
    if (rc == CURLUE_OK)
        rc = curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    if (rc == CURLUE_OK)
        curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE);
    int bad = rc != CURLUE_OK || !scheme || (strcmp(scheme, "imap") && strcmp(scheme, "imaps"));
    if (curl_url_get(u, CURLUPART_USER, &userinfo, 0) == CURLUE_OK && userinfo)
        bad = 2;
    if (!bad) {
        drudge_buf s = {0};
        drudge_buf_printf(&s, "%s://%s:%s", scheme, host, port);
        b->base = drudge_buf_take(&s);
        const char *mb = path && path[0] == '/' ? path + 1 : (path ? path : "");
        size_t n = strlen(mb);
        while (n && mb[n - 1] == '/')
            n--;
        b->mailbox = n ? strndup(mb, n) : drudge_xstrdup("INBOX");
        drudge_buf_printf(&s, "%s://%s:%s/%s", scheme, host, port, b->mailbox);
        b->url = drudge_buf_take(&s);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(userinfo);
    curl_url_cleanup(u);
    if (bad == 2)
        drudge_host_config_error(
            L, "mail.imap: put the user and password in user= and password=, not in the "
               "URL (the URL is recorded)");
    if (bad)
        luaL_error(L, "mail.imap: url must be imap://host[:port]/MAILBOX or imaps://..., got '%s'",
                   url);
    if (strpbrk(b->mailbox, "\r\n\"*%"))
        luaL_error(L, "mail.imap: bad mailbox name '%s'", b->mailbox);
}

static void req_start(drudge_buf *req, imap_box *b)
{
    drudge_buf_puts(req, "{");
    drudge_json_str(req, "url", b->url);
}

/* Logs in now (NOOP), so a wrong password shows here and not at the first
 * search. */
static drudge_code login_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    mcall *mc = ud;
    imap_box *b = mc->b;
    drudge_err err = {0};
    if (imap_conn_init(&b->conn, b->base, mc->user, mc->password, mc->tls, &err) != DRUDGE_OK)
        return drudge_call_fail(call, DRUDGE_ECONNECT, "%s", err.msg);
    drudge_buf resp = {0};
    drudge_code rc = box_command(L, call, b, NULL, "NOOP", &resp);
    drudge_buf_free(&resp);
    if (rc == DRUDGE_OK)
        drudge_call_bool(call, "ok", 1);
    return rc;
}

static int push_box(lua_State *L, drudge_call_ctx *call, void *ud)
{
    lua_pushvalue(L, ((mcall *)ud)->box_idx);
    return 1;
}

static int l_imap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *url = opt_str(L, 1, "url");
    mcall mc = {0};
    mc.user = opt_str(L, 1, "user");
    mc.password = opt_str(L, 1, "password");
    const char *ca_file = opt_str(L, 1, "ca_file");
    if (!url)
        return luaL_error(L, "mail.imap: url is required (imaps://host/INBOX)");
    mail_tls tls = {opt_bool(L, 1, "verify_tls", 1), ca_file, opt_bool(L, 1, "starttls", 0)};
    lua_getfield(L, 1, "timeout");
    double timeout = luaL_optnumber(L, -1, DEFAULT_TIMEOUT);
    lua_pop(L, 1);
    if (timeout <= 0)
        return luaL_error(L, "mail.imap: timeout must be > 0");
    if (ca_file && access(ca_file, R_OK) != 0)
        return luaL_error(L, "mail.imap: ca_file %s: %s", ca_file, strerror(errno));

    imap_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    b->closed = 1; /* safe state until fully built */
    luaL_setmetatable(L, BOX_MT);
    mc.box_idx = lua_gettop(L);
    split_url(L, url, b);
    b->user = drudge_xstrdup(mc.user ? mc.user : "");
    b->timeout = timeout;
    b->closed = 0;
    mc.b = b;
    mc.tls = &tls;

    drudge_buf req = {0};
    req_start(&req, b);
    drudge_json_str(&req, "user", b->user);
    drudge_json_bool(&req, "verify_tls", tls.verify);
    if (tls.starttls)
        drudge_json_bool(&req, "starttls", 1);
    drudge_buf_puts(&req, "}");
    lua_pushfstring(L, "IMAP LOGIN %s", b->base);
    return mail_call(L, &req, login_live, push_box, &mc);
}

static drudge_code logout_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    imap_conn_close(&((mcall *)ud)->b->conn); /* curl sends LOGOUT */
    return DRUDGE_OK;
}

static int l_box_close(lua_State *L)
{
    imap_box *b = luaL_checkudata(L, 1, BOX_MT);
    if (b->closed)
        return 0;
    mcall mc = {.b = b};
    drudge_buf req = {0};
    req_start(&req, b);
    box_call(L, "LOGOUT", &req, logout_live, push_nothing, &mc);
    lua_settop(L, 1);
    l_box_gc(L);
    return 0;
}

static lua_Integer check_uid(lua_State *L, int idx)
{
    lua_Integer uid = luaL_checkinteger(L, idx);
    if (uid < 1 || uid > (lua_Integer)UINT32_MAX)
        luaL_argerror(L, idx, "a UID is a positive 32-bit integer");
    return uid;
}

/* --- search --- */

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Appends " KEY d-Mon-yyyy" from a date string or an os.time() number. */
static void add_date(lua_State *L, drudge_buf *cmd, int t, const char *key, const char *imap_key)
{
    int ty = lua_getfield(L, t, key);
    if (ty == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    int64_t us = 0;
    if (ty == LUA_TNUMBER)
        us = (int64_t)(lua_tonumber(L, -1) * 1e6);
    else if (ty != LUA_TSTRING || drudge_parse_time(lua_tostring(L, -1), drudge_now_us(), &us) != 0)
        luaL_error(L,
                   "search: %s: expected a date (\"2026-11-23\", \"-7d\" is not one) or "
                   "os.time(), got '%s'",
                   key, luaL_tolstring(L, -1, NULL));
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    drudge_buf_printf(cmd, " %s %d-%s-%d", imap_key, tm.tm_mday, months[tm.tm_mon],
                      tm.tm_year + 1900);
    lua_pop(L, 1);
}

static int add_text(lua_State *L, drudge_buf *cmd, int t, const char *key, const char *imap_key)
{
    const char *v = opt_str(L, t, key);
    if (!v)
        return 0;
    drudge_buf_printf(cmd, " %s ", imap_key);
    if (drudge_imap_quote(cmd, v) != 0)
        luaL_error(L, "search: %s must not contain line breaks", key);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p >= 0x80)
            return 1;
    return 0;
}

static drudge_code search_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    mcall *mc = ud;
    drudge_buf resp = {0};
    drudge_code rc = box_command(L, call, mc->b, mc->b->mailbox, mc->cmd, &resp);
    uint32_t *uids = NULL;
    long n = rc ? 0 : drudge_imap_parse_search(resp.data ? resp.data : "", resp.len, &uids);
    drudge_buf_free(&resp);
    if (rc != DRUDGE_OK)
        return rc;
    if (n < 0)
        return drudge_call_fail(call, DRUDGE_EINPUT,
                                "mail: search: the server's SEARCH reply is not a list of UIDs");
    drudge_call_int(call, "count", n);
    drudge_buf *list = drudge_call_value(call, "uids");
    drudge_buf_puts(list, "[");
    for (long i = 0; i < n; i++)
        drudge_buf_printf(list, "%s%u", i ? "," : "", uids[i]);
    drudge_buf_puts(list, "]");
    free(uids);
    return DRUDGE_OK;
}

static int push_uids(lua_State *L, drudge_call_ctx *call, void *ud)
{
    lua_getfield(L, -1, "uids");
    return 1;
}

static int l_box_search(lua_State *L)
{
    imap_box *b = check_box(L);
    drudge_buf crit = {0};
    int utf8 = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        static const char *const known[] = {"unseen", "seen",       "flagged", "since",
                                            "before", "from",       "to",      "subject",
                                            "text",   "message_id", "deleted", NULL};
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
            int ok = 0;
            for (int i = 0; k && known[i]; i++)
                ok |= !strcmp(k, known[i]);
            if (!ok)
                return luaL_error(L,
                                  "search: unknown criterion '%s' (known: unseen, seen, "
                                  "flagged, deleted, since, before, from, to, subject, text, "
                                  "message_id)",
                                  k ? k : luaL_typename(L, -2));
            lua_pop(L, 1);
        }
        if (opt_bool(L, 2, "unseen", 0))
            drudge_buf_puts(&crit, " UNSEEN");
        if (opt_bool(L, 2, "seen", 0))
            drudge_buf_puts(&crit, " SEEN");
        if (opt_bool(L, 2, "flagged", 0))
            drudge_buf_puts(&crit, " FLAGGED");
        if (opt_bool(L, 2, "deleted", 0))
            drudge_buf_puts(&crit, " DELETED");
        add_date(L, &crit, 2, "since", "SINCE");
        add_date(L, &crit, 2, "before", "BEFORE");
        utf8 |= add_text(L, &crit, 2, "from", "FROM");
        utf8 |= add_text(L, &crit, 2, "to", "TO");
        utf8 |= add_text(L, &crit, 2, "subject", "SUBJECT");
        utf8 |= add_text(L, &crit, 2, "text", "TEXT");
        utf8 |= add_text(L, &crit, 2, "message_id", "HEADER Message-ID");
    }
    drudge_buf cmd = {0};
    drudge_buf_printf(&cmd, "UID SEARCH%s%s", utf8 ? " CHARSET UTF-8" : "",
                      crit.len ? crit.data : " ALL");
    drudge_buf_free(&crit);

    lua_pushstring(L, cmd.data);
    drudge_buf_free(&cmd);
    mcall mc = {.b = b, .cmd = lua_tostring(L, -1)};
    drudge_buf req = {0};
    req_start(&req, b);
    drudge_json_str(&req, "command", mc.cmd);
    return box_call(L, "SEARCH", &req, search_live, push_uids, &mc);
}

/* --- fetch --- */

/* Is the message \Seen now? (one round trip, skipped with mark_seen) */
static drudge_code fetch_seen(lua_State *L, drudge_call_ctx *call, mcall *mc, int *seen)
{
    imap_box *b = mc->b;
    char cmd[96];
    drudge_buf info = {0};
    uint64_t size = 0;
    snprintf(cmd, sizeof cmd, "UID FETCH %u (UID FLAGS RFC822.SIZE)", (unsigned)mc->uid);
    drudge_code rc = box_command(L, call, b, b->mailbox, cmd, &info);
    int found = rc ? 1
                   : drudge_imap_parse_fetch_info(info.data ? info.data : "", info.len,
                                                  (uint32_t)mc->uid, &size, seen);
    drudge_buf_free(&info);
    if (!found)
        return drudge_call_fail(call, DRUDGE_ENOTFOUND, "mail: no message with UID %d in %s",
                                (int)mc->uid, b->mailbox);
    return rc;
}

/* The message's attachments on the trail: for each its file name, type,
 * size and SHA-256 (of the decoded bytes), so that `drudge audit evidence`
 * can write them out as files an auditor checks against the chain. Only
 * hashes: the bytes are inside the message's payload ("stored": false keeps
 * verify from looking for them as payloads of their own). A message GMime
 * cannot read has no list (its payload is still kept). */
static void record_attachments(drudge_call_ctx *call, const void *raw, size_t len)
{
    drudge_mail_msg *m = NULL;
    drudge_err err = {0};
    if (drudge_mail_parse(raw, len, 1, &m, &err) != DRUDGE_OK)
        return;
    if (m->natts) {
        drudge_buf *v = drudge_call_value(call, "attachments");
        drudge_buf_puts(v, "[");
        for (size_t i = 0; i < m->natts; i++) {
            const drudge_mail_att *a = &m->atts[i];
            char sha[65];
            drudge_sha256_hex(a->data, a->size, sha);
            drudge_buf_puts(v, i ? ",{" : "{");
            drudge_json_str(v, "filename", a->filename);
            drudge_json_str(v, "content_type", a->content_type);
            drudge_json_int(v, "size", (int64_t)a->size);
            drudge_json_str(v, "sha256", sha);
            drudge_json_bool(v, "stored", 0);
            drudge_buf_puts(v, "}");
        }
        drudge_buf_puts(v, "]");
    }
    drudge_mail_msg_free(m);
}

static drudge_code fetch_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    mcall *mc = ud;
    imap_box *b = mc->b;
    int seen = 1;
    drudge_code rc = mc->peek ? fetch_seen(L, call, mc, &seen) : DRUDGE_OK;
    if (rc != DRUDGE_OK)
        return rc;
    drudge_err err = {0};
    drudge_buf raw = {0};
    rc = imap_fetch_body(&b->conn, b->mailbox, (uint32_t)mc->uid, call_timeout(L, b->timeout), &raw,
                         &err);
    if (rc == DRUDGE_ENOTFOUND)
        drudge_call_fail(call, rc, "mail: %s", err.msg);
    else if (rc != DRUDGE_OK)
        drudge_call_fail(call, rc, "mail: fetch UID %d: %s", (int)mc->uid, err.msg);
    /* libcurl's fetch is BODY[], which sets \Seen: put the flag back so
     * fetching stays a read that changes nothing (as BODY.PEEK[]). */
    if (rc == DRUDGE_OK && mc->peek && !seen) {
        char cmd[96];
        drudge_buf ign = {0};
        snprintf(cmd, sizeof cmd, "UID STORE %u -FLAGS.SILENT (\\Seen)", (unsigned)mc->uid);
        rc = box_command(L, call, b, b->mailbox, cmd, &ign);
        drudge_buf_free(&ign);
    }
    if (rc == DRUDGE_OK) {
        drudge_call_int(call, "uid", mc->uid);
        drudge_call_int(call, "size", (int64_t)raw.len);
        drudge_call_bytes(call, "message", raw.data ? raw.data : "", raw.len, "message/rfc822", 1);
        record_attachments(call, raw.data ? raw.data : "", raw.len);
    }
    drudge_buf_free(&raw);
    return rc;
}

/* The message table, parsed from the bytes of the response's "message". */
static int push_message_of(lua_State *L, drudge_call_ctx *call, void *ud)
{
    mcall *mc = ud;
    imap_box *b = mc->b;
    lua_getfield(L, -1, "message");
    const char *sha = lua_tostring(L, -1);
    size_t len = 0;
    const void *bytes = sha ? drudge_call_payload(call, sha, &len) : NULL;
    if (!bytes)
        return drudge_host_raise(L,
                                 "replay: the message of UID %d in %s was not kept (payload %s "
                                 "pruned?)",
                                 (int)mc->uid, b->mailbox, sha ? sha : "?");
    lua_pop(L, 1);
    drudge_err err = {0};
    if (parse_and_push(L, bytes, len, mc->lenient, &err) != 0)
        return drudge_host_raise(L, "mail: message UID %d in %s: %s", (int)mc->uid, b->mailbox,
                                 err.msg);
    lua_pushinteger(L, mc->uid);
    lua_setfield(L, -2, "uid");
    lua_pushstring(L, b->mailbox);
    lua_setfield(L, -2, "mailbox");
    return 1;
}

static int l_box_fetch(lua_State *L)
{
    mcall mc = {.b = check_box(L), .uid = check_uid(L, 2), .peek = 1};
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        mc.lenient = opt_bool(L, 3, "lenient", 0);
        mc.peek = !opt_bool(L, 3, "mark_seen", 0);
    }
    drudge_buf req = {0};
    req_start(&req, mc.b);
    drudge_json_int(&req, "uid", mc.uid);
    return box_call(L, "FETCH", &req, fetch_live, push_message_of, &mc);
}

/* --- move, copy, flags --- */

static const char *check_folder(lua_State *L, int idx, drudge_buf *quoted)
{
    const char *f = luaL_checkstring(L, idx);
    if (!*f || drudge_imap_quote(quoted, f) != 0 || strpbrk(f, "*%"))
        luaL_argerror(L, idx, "bad folder name");
    return f;
}

/* Runs cmd (printf-style) in the box's mailbox: 0 or imap_command's code. */
static drudge_code box_run(lua_State *L, imap_box *b, drudge_buf *resp, drudge_err *err,
                           const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static drudge_code box_run(lua_State *L, imap_box *b, drudge_buf *resp, drudge_err *err,
                           const char *fmt, ...)
{
    double t = call_timeout(L, b->timeout);
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&cmd, fmt, ap);
    va_end(ap);
    if (n < 0)
        return drudge_seterr(err, DRUDGE_ENOMEM, "out of memory");
    drudge_code rc = imap_command(&b->conn, b->mailbox, cmd, t, resp, err);
    free(cmd);
    return rc;
}

/* No MOVE (RFC 6851) on this server, or the folder is missing: COPY tells
 * which; then flag \Deleted and expunge that UID. */
static drudge_code copy_expunge(lua_State *L, mcall *mc, drudge_buf *resp, drudge_err *err)
{
    unsigned uid = (unsigned)mc->uid;
    drudge_code rc = box_run(L, mc->b, resp, err, "UID COPY %u %s", uid, mc->quoted);
    if (rc == DRUDGE_OK)
        rc = box_run(L, mc->b, resp, err, "UID STORE %u +FLAGS.SILENT (\\Deleted)", uid);
    if (rc == DRUDGE_OK)
        rc = box_run(L, mc->b, resp, err, "UID EXPUNGE %u", uid);
    return rc;
}

static drudge_code move_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    mcall *mc = ud;
    imap_box *b = mc->b;
    drudge_buf resp = {0};
    drudge_err err = {0};
    const char *method = mc->move ? "MOVE" : "COPY";
    drudge_code rc =
        box_run(L, b, &resp, &err, "UID %s %u %s", method, (unsigned)mc->uid, mc->quoted);
    if (rc == DRUDGE_EINPUT && mc->move) {
        method = "COPY+EXPUNGE";
        rc = copy_expunge(L, mc, &resp, &err);
    }
    uint32_t nu =
        rc ? 0 : drudge_imap_parse_copyuid(resp.data ? resp.data : "", resp.len, (uint32_t)mc->uid);
    drudge_buf_free(&resp);
    if (rc == DRUDGE_EINPUT)
        return drudge_call_fail(call, rc,
                                "mail: cannot %s UID %d from %s to %s: the server refused (no "
                                "such message or folder? box:create(\"%s\") makes one)",
                                mc->move ? "move" : "copy", (int)mc->uid, b->mailbox, mc->folder,
                                mc->folder);
    if (rc != DRUDGE_OK)
        return drudge_call_fail(call, rc, "mail: %s", err.msg);
    drudge_call_str(call, "method", method);
    if (nu)
        drudge_call_int(call, "new_uid", nu);
    return DRUDGE_OK;
}

static int push_new_uid(lua_State *L, drudge_call_ctx *call, void *ud)
{
    lua_getfield(L, -1, "new_uid");
    return 1;
}

/* The folder argument at idx into mc, as given and quoted (pushed). */
static void folder_arg(lua_State *L, int idx, mcall *mc)
{
    drudge_buf quoted = {0};
    mc->folder = check_folder(L, idx, &quoted);
    lua_pushstring(L, quoted.data);
    drudge_buf_free(&quoted);
    mc->quoted = lua_tostring(L, -1);
}

/* box:move(uid, folder) / box:copy(uid, folder) -> new UID or nil */
static int move_or_copy(lua_State *L, int move)
{
    mcall mc = {.b = check_box(L), .uid = check_uid(L, 2), .move = move};
    folder_arg(L, 3, &mc);
    drudge_buf req = {0};
    req_start(&req, mc.b);
    drudge_json_int(&req, "uid", mc.uid);
    drudge_json_str(&req, "to", mc.folder);
    return box_call(L, move ? "MOVE" : "COPY", &req, move_live, push_new_uid, &mc);
}

static int l_box_move(lua_State *L)
{
    return move_or_copy(L, 1);
}

static int l_box_copy(lua_State *L)
{
    return move_or_copy(L, 0);
}

/* A command whose reply only says it was done (STORE). */
static drudge_code command_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    mcall *mc = ud;
    drudge_buf resp = {0};
    drudge_code rc = box_command(L, call, mc->b, mc->b->mailbox, mc->cmd, &resp);
    drudge_buf_free(&resp);
    return rc;
}

static int set_flag(lua_State *L, int add)
{
    imap_box *b = check_box(L);
    lua_Integer uid = check_uid(L, 2);
    const char *flag = luaL_checkstring(L, 3);
    const char *p = flag + (flag[0] == '\\');
    if (!*p)
        luaL_argerror(L, 3, "empty flag");
    for (; *p; p++)
        if (!(((*p | 32) >= 'a' && (*p | 32) <= 'z') || (*p >= '0' && *p <= '9') || *p == '$' ||
              *p == '_' || *p == '-' || *p == '.'))
            luaL_argerror(L, 3,
                          "a flag is \\Seen, \\Flagged, \\Answered, \\Deleted, \\Draft or "
                          "a keyword of letters, digits, $ _ - .");
    drudge_buf cmd = {0};
    drudge_buf_printf(&cmd, "UID STORE %u %cFLAGS.SILENT (%s)", (unsigned)uid, add ? '+' : '-',
                      flag);
    lua_pushstring(L, cmd.data);
    drudge_buf_free(&cmd);
    mcall mc = {.b = b, .uid = uid, .cmd = lua_tostring(L, -1)};
    drudge_buf req = {0};
    req_start(&req, b);
    drudge_json_int(&req, "uid", uid);
    drudge_json_str(&req, "command", mc.cmd);
    return box_call(L, "STORE", &req, command_live, push_nothing, &mc);
}

static int l_box_flag(lua_State *L)
{
    return set_flag(L, 1);
}

static int l_box_unflag(lua_State *L)
{
    return set_flag(L, 0);
}

/* --- folders --- */

/* The folder names (*names, caller frees with free_names). */
static drudge_code list_folders(lua_State *L, drudge_call_ctx *call, imap_box *b, char ***names,
                                size_t *n)
{
    drudge_buf resp = {0};
    *names = NULL;
    *n = 0;
    drudge_code rc = box_command(L, call, b, NULL, "LIST \"\" *", &resp);
    if (rc == DRUDGE_OK)
        *n = drudge_imap_parse_list(resp.data ? resp.data : "", resp.len, names);
    drudge_buf_free(&resp);
    return rc;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static drudge_code list_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    char **names;
    size_t n;
    drudge_code rc = list_folders(L, call, ((mcall *)ud)->b, &names, &n);
    if (rc != DRUDGE_OK)
        return rc;
    drudge_buf *list = drudge_call_value(call, "folders");
    drudge_buf_puts(list, "[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            drudge_buf_puts(list, ",");
        drudge_buf_json_str(list, names[i], strlen(names[i]));
    }
    drudge_buf_puts(list, "]");
    free_names(names, n);
    return DRUDGE_OK;
}

static int push_folders(lua_State *L, drudge_call_ctx *call, void *ud)
{
    lua_getfield(L, -1, "folders");
    return 1;
}

static int l_box_list(lua_State *L)
{
    mcall mc = {.b = check_box(L)};
    drudge_buf req = {0};
    req_start(&req, mc.b);
    drudge_json_str(&req, "command", "LIST \"\" *");
    return box_call(L, "LIST", &req, list_live, push_folders, &mc);
}

/* Does the folder exist? (a LIST) */
static drudge_code folder_exists(lua_State *L, drudge_call_ctx *call, mcall *mc, int *exists)
{
    char **names;
    size_t n;
    drudge_code rc = list_folders(L, call, mc->b, &names, &n);
    for (size_t i = 0; i < n; i++)
        *exists |= !strcmp(names[i], mc->folder);
    free_names(names, n);
    return rc;
}

static drudge_code create_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    mcall *mc = ud;
    int exists = 0;
    drudge_code rc = folder_exists(L, call, mc, &exists);
    if (rc != DRUDGE_OK)
        return rc;
    if (exists) {
        drudge_call_bool(call, "created", 0);
        return DRUDGE_OK;
    }
    drudge_buf cmd = {0}, resp = {0};
    drudge_err err = {0};
    double t = call_timeout(L, mc->b->timeout);
    drudge_buf_printf(&cmd, "CREATE %s", mc->quoted);
    rc = imap_command(&mc->b->conn, NULL, cmd.data, t, &resp, &err);
    drudge_buf_free(&cmd);
    drudge_buf_free(&resp);
    /* Refused: another session may have made it in between. */
    if (rc == DRUDGE_EINPUT && folder_exists(L, call, mc, &exists) != DRUDGE_OK)
        return DRUDGE_ECONNECT;
    if (rc == DRUDGE_EINPUT && !exists)
        return drudge_call_fail(call, rc, "mail: the server refused to create folder %s",
                                mc->folder);
    if (rc != DRUDGE_OK && rc != DRUDGE_EINPUT)
        return drudge_call_fail(call, rc, "mail: %s", err.msg);
    drudge_call_bool(call, "created", rc == DRUDGE_OK); /* it exists after all: not made by us */
    return DRUDGE_OK;
}

static int push_created(lua_State *L, drudge_call_ctx *call, void *ud)
{
    lua_getfield(L, -1, "created");
    return 1;
}

/* box:create(folder) -> true if created, false if it already existed */
static int l_box_create(lua_State *L)
{
    mcall mc = {.b = check_box(L)};
    folder_arg(L, 2, &mc);
    drudge_buf req = {0};
    req_start(&req, mc.b);
    drudge_json_str(&req, "folder", mc.folder);
    return box_call(L, "CREATE", &req, create_live, push_created, &mc);
}

/* --- SMTP --- */

/* Reads a string or a list of strings at field key into a NULL-terminated
 * array of bare addresses (rcpt) and of the originals (hdr); both point into
 * Lua strings kept in a table at keep. Returns the count. */
static size_t read_addrs(lua_State *L, int t, const char *key, const char ***hdr, int keep)
{
    int ty = lua_getfield(L, t, key);
    size_t n = 0;
    *hdr = NULL;
    if (ty == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    if (ty == LUA_TSTRING) {
        lua_createtable(L, 1, 0);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
    } else if (ty != LUA_TTABLE) {
        luaL_error(L, "mail.send: %s: expected an address or a list of addresses", key);
    }
    n = lua_rawlen(L, -1);
    *hdr = lua_newuserdatauv(L, (n + 1) * sizeof **hdr, 0);
    lua_rawseti(L, keep, (lua_Integer)lua_rawlen(L, keep) + 1);
    for (size_t i = 0; i < n; i++) {
        if (lua_rawgeti(L, -1, (lua_Integer)i + 1) != LUA_TSTRING)
            luaL_error(L, "mail.send: %s[%d]: expected an address string", key, (int)i + 1);
        (*hdr)[i] = lua_tostring(L, -1);
        char *bare = drudge_mail_bare_address((*hdr)[i]);
        if (!bare)
            luaL_error(L, "mail.send: %s[%d]: not a mail address: '%s'", key, (int)i + 1,
                       (*hdr)[i]);
        free(bare);
        lua_rawseti(L, keep, (lua_Integer)lua_rawlen(L, keep) + 1);
    }
    (*hdr)[n] = NULL;
    lua_pop(L, 1);
    return n;
}

static void json_list(drudge_buf *b, const char *key, const char *const *v)
{
    drudge_json_key(b, key);
    drudge_buf_puts(b, "[");
    for (size_t i = 0; v && v[i]; i++) {
        if (i)
            drudge_buf_puts(b, ",");
        drudge_buf_json_str(b, v[i], strlen(v[i]));
    }
    drudge_buf_puts(b, "]");
}

/* Reads attachments = { {filename=, content_type=, data=} | {path=, ...} }. */
static drudge_mail_out_att *read_atts(lua_State *L, int t, size_t *count, int keep)
{
    *count = 0;
    if (lua_getfield(L, t, "attachments") == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    luaL_argexpected(L, lua_istable(L, -1), t, "attachments as a list of tables");
    size_t n = lua_rawlen(L, -1);
    drudge_mail_out_att *atts = lua_newuserdatauv(L, (n ? n : 1) * sizeof *atts, 0);
    lua_rawseti(L, keep, (lua_Integer)lua_rawlen(L, keep) + 1);
    for (size_t i = 0; i < n; i++) {
        if (lua_rawgeti(L, -1, (lua_Integer)i + 1) != LUA_TTABLE)
            luaL_error(L, "mail.send: attachments[%d]: expected a table", (int)i + 1);
        int a = lua_gettop(L);
        drudge_mail_out_att *o = &atts[i];
        memset(o, 0, sizeof *o);
        o->filename = opt_str(L, a, "filename");
        o->content_type = opt_str(L, a, "content_type");
        const char *path = opt_str(L, a, "path");
        if (lua_getfield(L, a, "data") == LUA_TSTRING) {
            o->data = lua_tolstring(L, -1, &o->size);
            lua_pop(L, 1);
        } else if (path) {
            lua_pop(L, 1);
            const char *full = drudge_host_confine(L, path);
            size_t len;
            char *bytes = drudge_read_file(full, &len);
            if (!bytes)
                luaL_error(L, "mail.send: attachments[%d]: %s: %s", (int)i + 1, path,
                           strerror(errno));
            lua_pushlstring(L, bytes, len);
            free(bytes);
            o->data = lua_tolstring(L, -1, &o->size);
            lua_rawseti(L, keep, (lua_Integer)lua_rawlen(L, keep) + 1);
            lua_pop(L, 1); /* full path */
            if (!o->filename) {
                const char *slash = strrchr(path, '/');
                o->filename = slash ? slash + 1 : path;
            }
        } else {
            luaL_error(L, "mail.send: attachments[%d]: give data= or path=", (int)i + 1);
        }
        if (!o->filename)
            luaL_error(L,
                       "mail.send: attachments[%d]: filename is required with data=", (int)i + 1);
        lua_pop(L, 1); /* the attachment table; its strings stay alive in it */
    }
    lua_pop(L, 1);
    *count = n;
    return atts;
}

/* Envelope recipients: to, cc and bcc, bare (caller frees with free_names). */
static char **envelope(const mcall *mc, size_t *n)
{
    *n = 0;
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; mc->rcpt[l] && mc->rcpt[l][i]; i++)
            (*n)++;
    char **rcpts = drudge_xmalloc((*n + 1) * sizeof *rcpts);
    size_t k = 0;
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; mc->rcpt[l] && mc->rcpt[l][i]; i++)
            rcpts[k++] = drudge_mail_bare_address(mc->rcpt[l][i]);
    rcpts[k] = NULL;
    return rcpts;
}

/* Builds the message and sends it. A message that cannot be built is bad
 * input found late: no response, only the step's error. */
static drudge_code send_live(lua_State *L, drudge_call_ctx *call, void *ud)
{
    mcall *mc = ud;
    double t = call_timeout(L, mc->timeout);
    char *raw = NULL, *mid = NULL;
    size_t len = 0, nr;
    drudge_err err = {0};
    drudge_code rc = drudge_mail_build(mc->out, &raw, &len, &mid, &err);
    if (rc != DRUDGE_OK)
        return drudge_call_abort(call, rc, "mail.send: %s", err.msg);
    char **rcpts = envelope(mc, &nr);
    rc = smtp_send(mc->url, mc->user, mc->password, mc->tls, mc->from, (const char *const *)rcpts,
                   raw, len, t, &err);
    free_names(rcpts, nr);
    if (rc != DRUDGE_OK) {
        drudge_call_fail(call, rc, "mail.send: %s", err.msg);
    } else {
        drudge_call_str(call, "message_id", mid);
        drudge_call_int(call, "size", (int64_t)len);
        drudge_call_bytes(call, "message", raw, len, "message/rfc822", 1);
        record_attachments(call, raw, len);
    }
    free(raw);
    free(mid);
    return rc;
}

static int push_message_id(lua_State *L, drudge_call_ctx *call, void *ud)
{
    lua_getfield(L, -1, "message_id");
    return 1;
}

static int l_send(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_newtable(L); /* 2: keeps the strings and arrays we point into */
    const char *url = opt_str(L, 1, "smtp");
    if (!url)
        return luaL_error(L, "mail.send: smtp is required (smtp://host:port or smtps://...)");
    if (strncmp(url, "smtp://", 7) && strncmp(url, "smtps://", 8))
        return luaL_error(L,
                          "mail.send: smtp must be smtp://host:port or smtps://host:port, got "
                          "'%s'",
                          url);
    if (strchr(url + 7, '@'))
        return drudge_host_config_error(
            L, "mail.send: put the user and password in user= and password=, not "
               "in the URL (the URL is recorded)");
    drudge_mail_out out = {0};
    out.from = opt_str(L, 1, "from");
    if (!out.from)
        return luaL_error(L, "mail.send: from is required");
    char *from_bare = drudge_mail_bare_address(out.from);
    if (!from_bare)
        return luaL_error(L, "mail.send: from: not a mail address: '%s'", out.from);
    lua_pushstring(L, from_bare);
    free(from_bare);
    const char *from = lua_tostring(L, -1);
    lua_rawseti(L, 2, (lua_Integer)lua_rawlen(L, 2) + 1); /* stays alive in the keep table */
    const char **to, **cc, **bcc, **reply_to;
    size_t nto = read_addrs(L, 1, "to", &to, 2);
    size_t ncc = read_addrs(L, 1, "cc", &cc, 2);
    size_t nbcc = read_addrs(L, 1, "bcc", &bcc, 2);
    read_addrs(L, 1, "reply_to", &reply_to, 2);
    if (nto + ncc + nbcc == 0)
        return luaL_error(L, "mail.send: no recipient (to, cc or bcc)");
    out.to = to;
    out.cc = cc;
    out.reply_to = reply_to;
    out.subject = opt_str(L, 1, "subject");
    out.text = opt_str(L, 1, "text");
    out.html = opt_str(L, 1, "html");
    out.in_reply_to = opt_str(L, 1, "in_reply_to");
    if (!out.text && !out.html)
        return luaL_error(L, "mail.send: give text=, html= or both");
    out.atts = read_atts(L, 1, &out.natts, 2);
    const char *user = opt_str(L, 1, "user");
    const char *password = opt_str(L, 1, "password");
    const char *ca_file = opt_str(L, 1, "ca_file");
    mail_tls tls = {opt_bool(L, 1, "verify_tls", 1), ca_file, opt_bool(L, 1, "starttls", 0)};
    lua_getfield(L, 1, "timeout");
    double timeout = luaL_optnumber(L, -1, DEFAULT_TIMEOUT);
    lua_pop(L, 1);

    mcall mc = {.out = &out,
                .url = url,
                .from = from,
                .user = user,
                .password = password,
                .tls = &tls,
                .rcpt = {to, cc, bcc},
                .timeout = timeout};
    drudge_buf req = {0};
    drudge_buf_puts(&req, "{");
    drudge_json_str(&req, "url", url);
    drudge_json_str(&req, "from", out.from);
    json_list(&req, "to", to);
    json_list(&req, "cc", cc);
    json_list(&req, "bcc", bcc);
    drudge_json_str(&req, "subject", out.subject ? out.subject : "");
    if (user)
        drudge_json_str(&req, "user", user);
    drudge_buf_puts(&req, ",\"attachments\":[");
    for (size_t i = 0; i < out.natts; i++) {
        drudge_buf_printf(&req, "%s{", i ? "," : "");
        drudge_json_str(&req, "filename", out.atts[i].filename);
        drudge_json_int(&req, "size", (int64_t)out.atts[i].size);
        drudge_buf_puts(&req, "}");
    }
    drudge_buf_puts(&req, "]}");
    lua_pushfstring(L, "SMTP send %s", url);
    return mail_call(L, &req, send_live, push_message_id, &mc);
}

/* --- module --- */

static void init_curl_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int luaopen_drudge_mail(lua_State *L)
{
    static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
    static const luaL_Reg box_methods[] = {{"search", l_box_search}, {"fetch", l_box_fetch},
                                           {"move", l_box_move},     {"copy", l_box_copy},
                                           {"flag", l_box_flag},     {"unflag", l_box_unflag},
                                           {"list", l_box_list},     {"create", l_box_create},
                                           {"close", l_box_close},   {NULL, NULL}};
    static const luaL_Reg att_methods[] = {
        {"data", l_att_data}, {"save", l_att_save}, {NULL, NULL}};
    static const luaL_Reg funcs[] = {
        {"parse", l_parse}, {"imap", l_imap}, {"send", l_send}, {NULL, NULL}};
    pthread_once(&curl_once, init_curl_once);
    drudge_mail_init();

    static const luaL_Reg box_meta[] = {
        {"__gc", l_box_gc}, {"__close", l_box_close}, {"__tostring", l_box_tostring}, {NULL, NULL}};
    drudge_lua_class(L, BOX_MT, box_meta, box_methods);
    drudge_lua_class(L, ATT_MT, NULL, att_methods);
    if (lua_getfield(L, LUA_REGISTRYINDEX, ATT_DATA_KEY) != LUA_TTABLE) {
        lua_newtable(L);
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
        lua_setfield(L, LUA_REGISTRYINDEX, ATT_DATA_KEY);
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    return 1;
}

/*
 * room_auth.c: who asks the control room. Users and passwords (Argon2id,
 * libargon2: the winner of the Password Hashing Competition, packaged by
 * Debian, with the encoding that carries its own parameters and salt), API
 * tokens and login sessions (random secrets of which the store keeps only
 * the SHA-256), CSRF tokens for changes made through a session, and the
 * failed-login limit. Logins, failed logins, logouts and every user change
 * are operator steps on the audit chain.
 */
#include <argon2.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "drudge/json.h"
#include "logs/audit/audit.h"
#include "runner/room/roomint.h"

/* Argon2id at RFC 9106's second recommended setting (64 MiB, 3 passes). */
#define ARGON_T    3
#define ARGON_M    (64 * 1024)
#define ARGON_P    1
#define SESSION_US (12 * 3600 * (int64_t)1000000) /* a working day */
#define COOKIE     "drudge_session"
/* The login form's CSRF token, sent twice: in this cookie and in the form
 * (a double-submit token). A page of another site can make a browser post
 * the form, but can neither read nor set the cookie (SameSite=Strict keeps
 * it home), so it cannot log the victim in as the attacker. */
#define LOGIN_COOKIE "drudge_login"
#define MIN_PASSWORD 10

int room_auth_hash(const char *password, char *out, size_t n)
{
    unsigned char salt[16];
    if (getrandom(salt, sizeof salt, 0) != (ssize_t)sizeof salt)
        return -1;
    return argon2id_hash_encoded(ARGON_T, ARGON_M, ARGON_P, password, strlen(password), salt,
                                 sizeof salt, 32, out, n) == ARGON2_OK
               ? 0
               : -1;
}

int room_auth_verify(const char *encoded, const char *password)
{
    return encoded && argon2id_verify(encoded, password, strlen(password)) == ARGON2_OK;
}

/* A random secret as 64 hex digits. */
static int new_secret(char out[65])
{
    unsigned char b[32];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        return -1;
    drudge_hex(b, sizeof b, out);
    return 0;
}

static int same_secret(const char *a, const char *b);
static int cookie_get(const char *header, const char *name, char *out, size_t n);

/* ---- the user changes of `drudge user` ---- */

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._@-", *s))
            return 0;
    return 1;
}

/* Runs change in a write transaction with its operator step. */
static drudge_code with_step(drudge_store *s, const char *action, const char *actor,
                             const char *args, drudge_code (*change)(void *ud, drudge_err *err),
                             void *ud, drudge_err *err)
{
    drudge_code rc = drudge_store_begin(s, DRUDGE_TX_WRITE, err);
    if (rc)
        return rc;
    rc = change(ud, err);
    if (!rc) {
        drudge_operator_step op = {
            .action = action, .user = actor, .args = args, .now = drudge_now_us()};
        rc = drudge_audit_operator(s, &op, err);
    }
    if (!rc)
        rc = drudge_store_commit(s, err);
    if (rc)
        drudge_store_rollback(s);
    return rc;
}

typedef struct user_change {
    drudge_store *s;
    drudge_room_user u;
    drudge_room_key k;
    int disabled;
} user_change;

static drudge_code add_user(void *ud, drudge_err *err)
{
    user_change *c = ud;
    return drudge_store_user_add(c->s, &c->u, drudge_now_us(), err);
}

drudge_code drudge_room_user_add(drudge_store *s, const char *name, const char *role,
                                 const char *password, const char *actor, drudge_err *err)
{
    char hash[256];
    if (!valid_name(name))
        return drudge_seterr(err, DRUDGE_EUSAGE,
                             "user name '%s': want 1 to 64 letters, digits and . _ @ -", name);
    if (!drudge_room_role_valid(role))
        return drudge_seterr(err, DRUDGE_EUSAGE,
                             "--role '%s': want viewer, operator, auditor or admin", role);
    if (strlen(password) < MIN_PASSWORD)
        return drudge_seterr(err, DRUDGE_EUSAGE,
                             "the password for '%s' is too short: at least %d characters", name,
                             MIN_PASSWORD);
    if (room_auth_hash(password, hash, sizeof hash))
        return drudge_seterr(err, DRUDGE_EIO, "cannot hash the password (Argon2id)");
    user_change c = {.s = s, .u = {.name = (char *)name, .role = (char *)role, .hash = hash}};
    drudge_buf args = {0};
    drudge_buf_puts(&args, "\"name\":");
    drudge_buf_json_str(&args, name, strlen(name));
    drudge_buf_puts(&args, ",\"role\":");
    drudge_buf_json_str(&args, role, strlen(role));
    drudge_code rc = with_step(s, "user add", actor, args.data, add_user, &c, err);
    drudge_buf_free(&args);
    return rc;
}

static drudge_code disable_user(void *ud, drudge_err *err)
{
    user_change *c = ud;
    return drudge_store_user_set(c->s, c->u.name, NULL, NULL, c->disabled, drudge_now_us(), err);
}

drudge_code drudge_room_user_disable(drudge_store *s, const char *name, int disabled,
                                     const char *actor, drudge_err *err)
{
    user_change c = {.s = s, .u = {.name = (char *)name}, .disabled = disabled};
    drudge_buf args = {0};
    drudge_buf_puts(&args, "\"name\":");
    drudge_buf_json_str(&args, name, strlen(name));
    drudge_code rc = with_step(s, disabled ? "user disable" : "user enable", actor, args.data,
                               disable_user, &c, err);
    drudge_buf_free(&args);
    return rc;
}

static drudge_code add_token(void *ud, drudge_err *err)
{
    user_change *c = ud;
    drudge_room_user u;
    drudge_code rc = drudge_store_user(c->s, c->k.user, &u, err);
    if (rc)
        return rc;
    if (u.disabled)
        rc = drudge_seterr(err, DRUDGE_ESTATE, "user '%s' is disabled", c->k.user);
    drudge_room_user_clear(&u);
    return rc ? rc : drudge_store_key_add(c->s, &c->k, err);
}

drudge_code drudge_room_token_new(drudge_store *s, const char *name, const char *label,
                                  const char *actor, char secret[65], drudge_err *err)
{
    if (new_secret(secret))
        return drudge_seterr(err, DRUDGE_EIO, "cannot read random bytes");
    user_change c = {.s = s,
                     .k = {.user = (char *)name,
                           .kind = "token",
                           .label = (char *)label,
                           .created_at = drudge_now_us()}};
    drudge_sha256_hex(secret, 64, c.k.hash);
    drudge_buf args = {0};
    drudge_buf_puts(&args, "\"name\":");
    drudge_buf_json_str(&args, name, strlen(name));
    if (label) {
        drudge_buf_puts(&args, ",\"label\":");
        drudge_buf_json_str(&args, label, strlen(label));
    }
    drudge_code rc = with_step(s, "token add", actor, args.data, add_token, &c, err);
    drudge_buf_free(&args);
    return rc;
}

/* ---- who asks ---- */

/* The value of cookie name in a Cookie header into out (0), or -1. */
static int cookie_get(const char *header, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    for (const char *p = header; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *e = strchr(p, ';');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > nl && !strncmp(p, name, nl) && p[nl] == '=' && len - nl - 1 < n) {
            memcpy(out, p + nl + 1, len - nl - 1);
            out[len - nl - 1] = '\0';
            return 0;
        }
        p = e;
    }
    return -1;
}

static int find_key(room_req *q, const char *secret, const char *kind)
{
    char hash[65];
    drudge_err err = {0};
    drudge_sha256_hex(secret, strlen(secret), hash);
    room_lock(q);
    drudge_code rc = drudge_store_key_find(q->r->s, hash, drudge_now_us(), &q->key, &q->user, &err);
    room_unlock(q);
    if (rc || strcmp(q->key.kind, kind)) {
        drudge_room_key_clear(&q->key);
        drudge_room_user_clear(&q->user);
        return 0;
    }
    q->perms = room_role_perms(q->user.role);
    return q->perms != 0;
}

int room_auth_identify(room_req *q)
{
    char secret[128];
    if (q->user.name)
        return 1;
    if (q->auth_header && !strncasecmp(q->auth_header, "Bearer ", 7)) {
        const char *t = q->auth_header + 7;
        while (*t == ' ')
            t++;
        return strlen(t) < sizeof secret && find_key(q, t, "token");
    }
    if (q->cookie_header && !cookie_get(q->cookie_header, COOKIE, secret, sizeof secret) &&
        find_key(q, secret, "session")) {
        q->by_session = 1;
        return 1;
    }
    return 0;
}

int room_auth_csrf_ok(room_req *q)
{
    char form[128];
    if (!q->by_session)
        return 1;
    const char *given = q->csrf_header;
    if (!given && !room_form(q, "csrf", form, sizeof form))
        given = form;
    /* Both are 64 hex digits; the comparison need not hide their length. */
    return same_secret(given, q->key.csrf);
}

/* ---- the failed-login limit ---- */

/* The counts live in the database (room_fails), so that every server on it
 * slows the same guesser: five wrong passwords spread over two servers are
 * five. A count that cannot be read is taken as at the limit (a second's
 * delay): a database that fails is no reason to let guesses through fast. */
static int failures(room_req *q, const char *name, int64_t now)
{
    char user_who[160], addr_who[96];
    snprintf(user_who, sizeof user_who, "u:%s", name);
    snprintf(addr_who, sizeof addr_who, "a:%s", q->remote);
    int n = 0;
    drudge_err err = {0};
    room_lock(q);
    drudge_code rc =
        drudge_store_login_fails(q->r->s, user_who, addr_who, now - ROOM_FAIL_WINDOW, &n, &err);
    room_unlock(q);
    if (rc) {
        fprintf(stderr, "drudge serve: cannot read the failed logins of %s: %s\n", name, err.msg);
        return ROOM_FAIL_FREE;
    }
    return n;
}

/* A failure counts for the user name and the address; the right password
 * clears the user's count, not the address's. */
static void note_failure(room_req *q, const char *name, int64_t now, int failed)
{
    char who[2][160];
    snprintf(who[0], sizeof who[0], "u:%s", name);
    snprintf(who[1], sizeof who[1], "a:%s", q->remote);
    room_lock(q);
    for (int i = 0; i < (failed ? 2 : 1); i++) {
        drudge_err err = {0};
        if (drudge_store_login_note(q->r->s, who[i], now, now - ROOM_FAIL_WINDOW, failed, &err))
            fprintf(stderr, "drudge serve: cannot note the login of %s: %s\n", name, err.msg);
    }
    room_unlock(q);
}

/* ---- logging in and out ---- */

static void login_step(room_req *q, const char *action, const char *name, const char *why)
{
    drudge_err err = {0};
    drudge_buf args = {0};
    if (why) {
        drudge_buf_puts(&args, "\"reason\":");
        drudge_buf_json_str(&args, why, strlen(why));
    }
    drudge_operator_step op = {
        .action = action, .user = name, .args = args.data, .now = drudge_now_us()};
    room_lock(q);
    drudge_code rc = drudge_store_begin(q->r->s, DRUDGE_TX_WRITE, &err);
    if (!rc)
        rc = drudge_audit_operator(q->r->s, &op, &err);
    if (!rc)
        rc = drudge_store_commit(q->r->s, &err);
    if (rc) {
        drudge_store_rollback(q->r->s);
        fprintf(stderr, "drudge serve: cannot record %s of %s: %s\n", action, name, err.msg);
    }
    room_unlock(q);
    drudge_buf_free(&args);
}

static int wants_json(const room_req *q)
{
    return q->content_type && !strncmp(q->content_type, "application/json", 16);
}

/* The login's name and password, from a form or a JSON body. */
static int login_fields(room_req *q, char *name, size_t nn, char *pw, size_t pn)
{
    if (!wants_json(q))
        return room_form(q, "user", name, nn) || room_form(q, "password", pw, pn) ? -1 : 0;
    drudge_json_iter it;
    const char *k, *v;
    size_t kl, vl;
    int got = 0;
    if (!q->body || drudge_json_iter_init(&it, q->body, q->body_len))
        return -1;
    int r;
    while ((r = drudge_json_iter_next(&it, &k, &kl, &v, &vl)) == 1) {
        char *out = kl == 4 && !memcmp(k, "user", 4)       ? name
                    : kl == 8 && !memcmp(k, "password", 8) ? pw
                                                           : NULL;
        size_t cap = out == name ? nn : pn;
        if (!out || *v != '"' || vl > cap)
            continue;
        size_t n = drudge_json_unescape(v, vl, out);
        if (n == (size_t)-1)
            return -1;
        out[n] = '\0';
        got++;
    }
    return r == 0 && got == 2 ? 0 : -1;
}

static void login_failed(room_req *q, const char *msg)
{
    if (wants_json(q)) {
        room_json_error(q, 401, "%s", msg);
        return;
    }
    q->status = 303;
    q->type = "text/plain";
    drudge_buf_puts(&q->out, msg);
    room_header(q, "Location", "/login?failed=1");
}

static char dummy[160];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static void make_dummy(void)
{
    if (room_auth_hash("no user has this password", dummy, sizeof dummy))
        dummy[0] = '\0';
}

/* The login form's token: a new one into out (and its cookie); -1 on failure. */
int room_auth_login_token(room_req *q, char out[65])
{
    if (new_secret(out))
        return -1;
    room_header(q, "Set-Cookie", "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600%s",
                LOGIN_COOKIE, out, q->r->tls ? "; Secure" : "");
    return 0;
}

static int same_secret(const char *a, const char *b)
{
    if (!a || !b || strlen(a) != strlen(b) || !*a)
        return 0;
    unsigned diff = 0;
    for (size_t i = 0; a[i]; i++)
        diff |= (unsigned char)a[i] ^ (unsigned char)b[i];
    return diff == 0;
}

/* A login by form must carry the token of the login page in both the form
 * and the cookie. A JSON login need not: a page of another site cannot send
 * Content-Type application/json to this server without a CORS preflight,
 * which the server never grants. */
static int login_csrf_ok(room_req *q)
{
    char form[128], cookie[128];
    if (wants_json(q))
        return 1;
    return !room_form(q, "csrf", form, sizeof form) && q->cookie_header &&
           !cookie_get(q->cookie_header, LOGIN_COOKIE, cookie, sizeof cookie) &&
           same_secret(form, cookie);
}

void room_auth_login(room_req *q)
{
    char name[128] = "", pw[512] = "";
    int64_t now = drudge_now_us();
    if (!login_csrf_ok(q)) {
        room_json_error(q, 403,
                        "the login form's CSRF token is missing or wrong: load /login again "
                        "and log in from there");
        return;
    }
    if (login_fields(q, name, sizeof name, pw, sizeof pw) || !*name) {
        room_json_error(q, 400,
                        "a login needs the fields user and password (a form, or a JSON object)");
        return;
    }
    int n = failures(q, name, now);
    if (n >= ROOM_FAIL_FREE) {
        /* Slowed, right password or not, so the delay tells nothing: 1 s
         * after the fifth failure, doubling to 30 s. */
        int shift = n - ROOM_FAIL_FREE;
        unsigned secs = shift >= 5 ? 30 : 1u << shift;
        /* Said even with -q: whoever watches the server should see a guesser. */
        fprintf(stderr, "drudge serve: login of %s from %s slowed by %u s (%d failed logins)\n",
                name, q->remote, secs, n);
        sleep(secs);
    }
    drudge_room_user u = {0};
    drudge_err err = {0};
    room_lock(q);
    drudge_code rc = drudge_store_user(q->r->s, name, &u, &err);
    room_unlock(q);
    /* An unknown user costs the same hash as a known one. */
    pthread_once(&dummy_once, make_dummy);
    int ok = room_auth_verify(rc ? dummy : u.hash, pw) && !rc && !u.disabled;
    memset(pw, 0, sizeof pw);
    if (!ok) {
        note_failure(q, name, now, 1);
        login_step(q, "login failed", name,
                   rc           ? "no such user"
                   : u.disabled ? "user disabled"
                                : "wrong password");
        drudge_room_user_clear(&u);
        login_failed(q, "wrong user name or password");
        return;
    }
    note_failure(q, name, now, 0);
    char secret[65], csrf[65];
    drudge_room_key k = {.user = u.name,
                         .kind = "session",
                         .csrf = csrf,
                         .remote = (char *)q->remote,
                         .created_at = now,
                         .expires_at = now + SESSION_US};
    if (new_secret(secret) || new_secret(csrf)) {
        drudge_room_user_clear(&u);
        room_json_error(q, 500, "cannot read random bytes");
        return;
    }
    drudge_sha256_hex(secret, 64, k.hash);
    room_lock(q);
    rc = drudge_store_key_add(q->r->s, &k, &err);
    room_unlock(q);
    if (rc) {
        drudge_room_user_clear(&u);
        room_json_fail(q, &err);
        return;
    }
    login_step(q, "login", u.name, NULL);
    room_header(q, "Set-Cookie", "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d%s", COOKIE,
                secret, (int)(SESSION_US / 1000000), q->r->tls ? "; Secure" : "");
    if (wants_json(q)) {
        q->type = "application/json";
        drudge_buf_puts(&q->out, "{\"user\":");
        drudge_buf_json_str(&q->out, u.name, strlen(u.name));
        drudge_buf_printf(&q->out, ",\"role\":\"%s\",\"csrf\":\"%s\"}\n", u.role, csrf);
    } else {
        q->status = 303;
        q->type = "text/plain";
        drudge_buf_puts(&q->out, "logged in\n");
        room_header(q, "Location", "/");
    }
    drudge_room_user_clear(&u);
}

void room_auth_logout(room_req *q)
{
    char secret[128];
    if (room_auth_identify(q) && q->by_session && room_auth_csrf_ok(q) &&
        !cookie_get(q->cookie_header, COOKIE, secret, sizeof secret)) {
        char hash[65];
        drudge_err err = {0};
        drudge_sha256_hex(secret, strlen(secret), hash);
        room_lock(q);
        drudge_store_key_drop(q->r->s, hash, NULL, &err);
        room_unlock(q);
        login_step(q, "logout", q->user.name, NULL);
    } else if (q->by_session) {
        room_json_error(q, 403, "logging out needs the session's CSRF token");
        return;
    }
    room_header(q, "Set-Cookie", "%s=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0", COOKIE);
    q->status = 303;
    q->type = "text/plain";
    drudge_buf_puts(&q->out, "logged out\n");
    room_header(q, "Location", "/login");
}

/* ---- passwords and tokens, through the control room ---- */

/* Runs change with its operator step by q's user, under the store lock,
 * and answers a store error; 0 if done. */
static int room_step(room_req *q, const char *action, const char *args,
                     drudge_code (*change)(void *ud, drudge_err *err), void *ud)
{
    drudge_err err = {0};
    room_lock(q);
    drudge_code rc = with_step(q->r->s, action, q->user.name, args, change, ud, &err);
    room_unlock(q);
    if (rc)
        room_json_fail(q, &err);
    return rc ? -1 : 0;
}

typedef struct password_change {
    drudge_store *s;
    const char *name, *hash, *keep; /* keep: the session not ended (NULL: none) */
    int64_t dropped;
} password_change;

static drudge_code set_password(void *ud, drudge_err *err)
{
    password_change *c = ud;
    drudge_code rc = drudge_store_user_set(c->s, c->name, NULL, c->hash, -1, drudge_now_us(), err);
    if (!rc)
        rc = drudge_store_keys_drop(c->s, c->name, "session", c->keep, &c->dropped, err);
    return rc;
}

static void name_args(drudge_buf *args, const char *name)
{
    drudge_buf_puts(args, "\"name\":");
    drudge_buf_json_str(args, name, strlen(name));
}

void room_auth_password_change(room_req *q)
{
    char old[512] = "", pw[512] = "", hash[256];
    drudge_room_user u = {0};
    drudge_err err = {0};
    int64_t now = drudge_now_us();
    if (room_field(q, "old", old, sizeof old) || room_field(q, "new", pw, sizeof pw)) {
        room_json_error(q, 400, "a password change needs the fields old and new");
        goto cleanup;
    }
    if (strlen(pw) < MIN_PASSWORD) {
        room_json_error(q, 400, "the new password is too short: at least %d characters",
                        MIN_PASSWORD);
        goto cleanup;
    }
    /* Guessing the old password through a stolen session is slowed like a
     * login. */
    int n = failures(q, q->user.name, now);
    if (n >= ROOM_FAIL_FREE)
        sleep(n - ROOM_FAIL_FREE >= 5 ? 30 : 1u << (n - ROOM_FAIL_FREE));
    room_lock(q);
    drudge_code rc = drudge_store_user(q->r->s, q->user.name, &u, &err);
    room_unlock(q);
    if (rc) {
        room_json_fail(q, &err);
        goto cleanup;
    }
    if (!room_auth_verify(u.hash, old)) {
        note_failure(q, q->user.name, now, 1);
        login_step(q, "password change failed", q->user.name, "wrong old password");
        room_json_error(q, 403, "the old password is wrong");
        goto cleanup;
    }
    if (room_auth_hash(pw, hash, sizeof hash)) {
        room_json_error(q, 500, "cannot hash the password (Argon2id)");
        goto cleanup;
    }
    password_change c = {.s = q->r->s,
                         .name = q->user.name,
                         .hash = hash,
                         .keep = q->by_session ? q->key.hash : NULL};
    drudge_buf args = {0};
    name_args(&args, q->user.name);
    int failed = room_step(q, "password change", args.data, set_password, &c);
    drudge_buf_free(&args);
    if (failed)
        goto cleanup;
    drudge_buf_puts(&q->out, "{");
    drudge_json_str(&q->out, "user", q->user.name);
    drudge_json_int(&q->out, "sessions_ended", c.dropped);
    drudge_buf_puts(&q->out, "}\n");
    q->type = "application/json";
cleanup:
    memset(old, 0, sizeof old);
    memset(pw, 0, sizeof pw);
    drudge_room_user_clear(&u);
}

void room_auth_password_reset(room_req *q)
{
    char pw[512] = "", hash[256];
    if (room_field(q, "password", pw, sizeof pw)) {
        room_json_error(q, 400, "a password reset needs the field password");
        goto cleanup;
    }
    if (strlen(pw) < MIN_PASSWORD) {
        room_json_error(q, 400, "the password for '%s' is too short: at least %d characters",
                        q->arg, MIN_PASSWORD);
        goto cleanup;
    }
    if (room_auth_hash(pw, hash, sizeof hash)) {
        room_json_error(q, 500, "cannot hash the password (Argon2id)");
        goto cleanup;
    }
    password_change c = {.s = q->r->s, .name = q->arg, .hash = hash};
    drudge_buf args = {0};
    name_args(&args, q->arg);
    int failed = room_step(q, "password reset", args.data, set_password, &c);
    drudge_buf_free(&args);
    if (failed)
        goto cleanup;
    drudge_buf_puts(&q->out, "{");
    drudge_json_str(&q->out, "user", q->arg);
    drudge_json_int(&q->out, "sessions_ended", c.dropped);
    drudge_buf_puts(&q->out, "}\n");
    q->type = "application/json";
cleanup:
    memset(pw, 0, sizeof pw);
}

void room_auth_tokens(room_req *q)
{
    drudge_room_key *k = NULL;
    size_t n = 0;
    drudge_err err = {0};
    room_lock(q);
    drudge_code rc = drudge_store_keys(q->r->s, (q->perms & ROOM_USERS) ? NULL : q->user.name,
                                       "token", &k, &n, &err);
    room_unlock(q);
    if (rc)
        return room_json_fail(q, &err);
    drudge_buf *b = &q->out;
    drudge_buf_puts(b, "{\"tokens\":[");
    for (size_t i = 0; i < n; i++) {
        char id[ROOM_TOKEN_ID + 1], ts[40];
        snprintf(id, sizeof id, "%.*s", ROOM_TOKEN_ID, k[i].hash);
        drudge_buf_puts(b, i ? ",{" : "{");
        drudge_json_str(b, "id", id);
        drudge_json_str(b, "user", k[i].user);
        drudge_json_str(b, "label", k[i].label);
        drudge_fmt_time(k[i].created_at, ts);
        drudge_json_str(b, "created_at", ts);
        drudge_buf_puts(b, "}");
    }
    drudge_buf_puts(b, "]}\n");
    drudge_room_keys_free(k, n);
    q->type = "application/json";
}

typedef struct token_drop {
    room_req *q;
    char hash[65];
    char *user, *label;
    int found;
} token_drop;

/* Finds the one token whose id starts with the argument, among those the
 * user may revoke, and drops it. */
static drudge_code drop_token(void *ud, drudge_err *err)
{
    token_drop *v = ud;
    room_req *q = v->q;
    drudge_room_key *k = NULL;
    size_t n = 0;
    drudge_code rc = drudge_store_keys(q->r->s, (q->perms & ROOM_USERS) ? NULL : q->user.name,
                                       "token", &k, &n, err);
    for (size_t i = 0; !rc && i < n; i++) {
        if (strncmp(k[i].hash, q->arg, strlen(q->arg)))
            continue;
        if (v->found++)
            rc = drudge_seterr(err, DRUDGE_ESTATE,
                               "token id '%s' names more than one token: give more of it", q->arg);
        snprintf(v->hash, sizeof v->hash, "%s", k[i].hash);
        free(v->user);
        free(v->label);
        v->user = drudge_xstrdup(k[i].user);
        v->label = k[i].label ? drudge_xstrdup(k[i].label) : NULL;
    }
    drudge_room_keys_free(k, n);
    if (!rc && !v->found)
        rc = drudge_seterr(err, DRUDGE_ENOTFOUND, "no token with id '%s'%s", q->arg,
                           (q->perms & ROOM_USERS) ? "" : " among yours");
    if (!rc)
        rc = drudge_store_key_drop(q->r->s, v->hash, NULL, err);
    return rc;
}

void room_auth_token_revoke(room_req *q)
{
    size_t len = strlen(q->arg);
    if (len < 8 || len > 64 || strspn(q->arg, "0123456789abcdef") != len)
        return room_json_error(q, 400,
                               "'%s' is not a token id (8 to 64 lowercase hex digits, as "
                               "GET /api/v1/tokens lists them)",
                               q->arg);
    token_drop v = {.q = q};
    drudge_buf args = {0};
    drudge_buf_puts(&args, "\"token\":");
    drudge_buf_json_str(&args, q->arg, len);
    /* The step names the token's owner and label, known once it is found:
     * it follows the drop, in the same transaction. */
    drudge_err err = {0};
    room_lock(q);
    drudge_code rc = drudge_store_begin(q->r->s, DRUDGE_TX_WRITE, &err);
    if (!rc)
        rc = drop_token(&v, &err);
    if (!rc) {
        drudge_buf_puts(&args, ",\"name\":");
        drudge_buf_json_str(&args, v.user, strlen(v.user));
        if (v.label) {
            drudge_buf_puts(&args, ",\"label\":");
            drudge_buf_json_str(&args, v.label, strlen(v.label));
        }
        drudge_operator_step op = {.action = "token revoke",
                                   .user = q->user.name,
                                   .args = args.data,
                                   .now = drudge_now_us()};
        rc = drudge_audit_operator(q->r->s, &op, &err);
    }
    if (!rc)
        rc = drudge_store_commit(q->r->s, &err);
    if (rc)
        drudge_store_rollback(q->r->s);
    room_unlock(q);
    if (rc)
        room_json_fail(q, &err);
    else {
        char id[ROOM_TOKEN_ID + 1];
        snprintf(id, sizeof id, "%.*s", ROOM_TOKEN_ID, v.hash);
        drudge_buf_puts(&q->out, "{");
        drudge_json_str(&q->out, "id", id);
        drudge_json_str(&q->out, "user", v.user);
        drudge_json_bool(&q->out, "revoked", 1);
        drudge_buf_puts(&q->out, "}\n");
        q->type = "application/json";
    }
    drudge_buf_free(&args);
    free(v.user);
    free(v.label);
}

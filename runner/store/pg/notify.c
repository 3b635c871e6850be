/* notify.c: the PostgreSQL backend's notification channels and outbox
 * (schema v11), as SQLite's. A claim takes its rows FOR UPDATE SKIP LOCKED,
 * so senders on two machines never take the same row; a mark moves by
 * compare and set, so two scans notify once. */
#include <stdlib.h>
#include <string.h>
#include "runner/store/pg/pgint.h"

#define CHANNEL_COLS                                                                               \
    "c.id, c.kind, c.target, c.events, c.secret, c.smtp, c.sender, c.login, c.dead_threshold, "    \
    "c.created_at, c.created_by"
#define ROW_COLS                                                                                   \
    "o.id, o.channel_id, o.event, o.payload, o.attempts, o.created_at, o.due_at, "                 \
    "coalesce(o.sent_at, 0), coalesce(o.gave_up_at, 0), coalesce(o.last_error, ''), "              \
    "coalesce(c.id, 0), c.kind, c.target, c.events, c.secret, c.smtp, c.sender, c.login, "         \
    "coalesce(c.dead_threshold, 0), coalesce(c.created_at, 0), c.created_by"

static const char add_sql[] =
    "INSERT INTO notify_channels(kind, target, events, secret, smtp, sender, login, "
    "dead_threshold, created_at, created_by) VALUES ($1::text, $2::text, $3::text, $4::text, "
    "$5::text, $6::text, $7::text, $8::integer, $9::bigint, $10::text) RETURNING id";
static const char remove_sql[] =
    "WITH c AS (DELETE FROM notify_channels WHERE id = $1::bigint RETURNING id), "
    "m AS (DELETE FROM notify_marks WHERE channel_id IN (SELECT id FROM c)), "
    "o AS (UPDATE notify_outbox SET gave_up_at = $2::bigint, last_error = 'channel removed', "
    "lease_owner = NULL, lease_until = NULL WHERE channel_id IN (SELECT id FROM c) "
    "AND sent_at IS NULL AND gave_up_at IS NULL) SELECT count(*) FROM c";
static const char channels_sql[] = "SELECT " CHANNEL_COLS " FROM notify_channels c ORDER BY c.id";
static const char queue_sql[] =
    "INSERT INTO notify_outbox(channel_id, event, payload, created_at, due_at) "
    "SELECT id, $3::text, $4::text, $5::bigint, $5::bigint FROM notify_channels "
    "WHERE CASE WHEN $1::bigint = 0 THEN ',' || events || ',' LIKE '%,' || $2::text || ',%' "
    "ELSE id = $1::bigint END";
static const char claim_sql[] =
    "UPDATE notify_outbox SET lease_owner = $1::text, lease_until = $3::bigint, "
    "attempts = attempts + 1 WHERE id IN (SELECT id FROM notify_outbox "
    "WHERE sent_at IS NULL AND gave_up_at IS NULL AND due_at <= $2::bigint "
    "AND (lease_until IS NULL OR lease_until < $2::bigint) "
    "AND ($5::bigint = 0 OR id = $5::bigint) ORDER BY due_at, id "
    "LIMIT $4::integer FOR UPDATE SKIP LOCKED)";
static const char claimed_sql[] =
    "SELECT " ROW_COLS " FROM notify_outbox o LEFT JOIN notify_channels c ON c.id = o.channel_id "
    "WHERE o.lease_owner = $1::text AND o.lease_until = $2::bigint AND o.sent_at IS NULL "
    "AND o.gave_up_at IS NULL ORDER BY o.due_at, o.id";
static const char sent_sql[] =
    "UPDATE notify_outbox SET sent_at = $3::bigint, lease_owner = NULL, lease_until = NULL "
    "WHERE id = $1::bigint AND lease_owner = $2::text AND sent_at IS NULL";
static const char again_sql[] =
    "UPDATE notify_outbox SET last_error = $3::text, due_at = $4::bigint, lease_owner = NULL, "
    "lease_until = NULL WHERE id = $1::bigint AND lease_owner = $2::text AND sent_at IS NULL";
static const char gave_up_sql[] =
    "UPDATE notify_outbox SET last_error = $3::text, gave_up_at = $4::bigint, "
    "lease_owner = NULL, lease_until = NULL "
    "WHERE id = $1::bigint AND lease_owner = $2::text AND sent_at IS NULL";
static const char log_sql[] =
    "SELECT " ROW_COLS " FROM notify_outbox o LEFT JOIN notify_channels c ON c.id = o.channel_id "
    "WHERE o.created_at >= $1::bigint ORDER BY o.id DESC LIMIT $2::integer";
static const char counts_sql[] =
    "SELECT count(sent_at), count(gave_up_at), count(*) FILTER (WHERE sent_at IS NULL "
    "AND gave_up_at IS NULL AND ($1::bigint = 0 OR due_at <= $1::bigint)) FROM notify_outbox";
static const char mark_get_sql[] =
    "SELECT at FROM notify_marks WHERE channel_id = $1::bigint AND name = $2::text";
static const char mark_add_sql[] =
    "INSERT INTO notify_marks(channel_id, name, at) VALUES ($1::bigint, $2::text, $3::bigint) "
    "ON CONFLICT (channel_id, name) DO NOTHING";
static const char mark_move_sql[] =
    "UPDATE notify_marks SET at = $3::bigint WHERE channel_id = $1::bigint AND name = $2::text "
    "AND at = $4::bigint";

static const char *text_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static void channel_at(const PGresult *r, int row, int i, drudge_notify_channel *c)
{
    *c = (drudge_notify_channel){.id = pg_i64(r, row, i),
                                 .kind = pg_text(r, row, i + 1),
                                 .target = pg_text(r, row, i + 2),
                                 .events = pg_text(r, row, i + 3),
                                 .secret = text_or_null(r, row, i + 4),
                                 .smtp = text_or_null(r, row, i + 5),
                                 .from = text_or_null(r, row, i + 6),
                                 .user = text_or_null(r, row, i + 7),
                                 .dead_threshold = (int)pg_i64(r, row, i + 8),
                                 .created_at = pg_i64(r, row, i + 9),
                                 .created_by = text_or_null(r, row, i + 10)};
}

drudge_code pg_notify_add(drudge_store *s, const drudge_notify_channel *c, int64_t now, int64_t *id,
                          drudge_err *err)
{
    pg_params p = {0};
    pg_p_str(&p, c->kind);
    pg_p_str(&p, c->target);
    pg_p_str(&p, c->events);
    pg_p_str(&p, c->secret);
    pg_p_str(&p, c->smtp);
    pg_p_str(&p, c->from);
    pg_p_str(&p, c->user);
    pg_p_int(&p, c->dead_threshold);
    pg_p_int(&p, now);
    pg_p_str(&p, c->created_by);
    *id = 0;
    return pg_int(pgs(s), add_sql, &p, "adding a notification channel", id, err);
}

drudge_code pg_notify_remove(drudge_store *s, int64_t id, int64_t now, int *removed,
                             drudge_err *err)
{
    pg_params p = {0};
    int64_t n = 0;
    pg_p_int(&p, id);
    pg_p_int(&p, now);
    drudge_code rc = pg_int(pgs(s), remove_sql, &p, "removing a notification channel", &n, err);
    *removed = !rc && n > 0;
    return rc;
}

drudge_code pg_notify_channels(drudge_store *s, drudge_notify_channel_fn fn, void *ud,
                               drudge_err *err)
{
    PGresult *r = pg_q(pgs(s), channels_sql, NULL, "reading the notification channels", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    for (int i = 0; i < PQntuples(r); i++) {
        drudge_notify_channel c;
        channel_at(r, i, 0, &c);
        if (fn(ud, &c))
            break;
    }
    PQclear(r);
    return DRUDGE_OK;
}

drudge_code pg_notify_queue(drudge_store *s, int64_t channel_id, const char *category,
                            const char *event, const char *payload, int64_t now, int64_t *queued,
                            drudge_err *err)
{
    pg_params p = {0};
    pg_p_int(&p, channel_id);
    pg_p_str(&p, category ? category : "");
    pg_p_str(&p, event);
    pg_p_str(&p, payload);
    pg_p_int(&p, now);
    *queued = 0;
    return pg_exec(pgs(s), queue_sql, &p, "queueing a notification", queued, err);
}

static drudge_code rows(pg_store *q, const char *sql, const pg_params *p, const char *what,
                        drudge_notify_row_fn fn, void *ud, drudge_err *err)
{
    PGresult *r = pg_q(q, sql, p, what, err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    for (int i = 0; i < PQntuples(r); i++) {
        drudge_notify_row row = {.id = pg_i64(r, i, 0),
                                 .channel_id = pg_i64(r, i, 1),
                                 .event = pg_text(r, i, 2),
                                 .payload = pg_text(r, i, 3),
                                 .attempts = (int)pg_i64(r, i, 4),
                                 .created_at = pg_i64(r, i, 5),
                                 .due_at = pg_i64(r, i, 6),
                                 .sent_at = pg_i64(r, i, 7),
                                 .gave_up_at = pg_i64(r, i, 8),
                                 .last_error = pg_text(r, i, 9)};
        channel_at(r, i, 10, &row.ch);
        if (fn(ud, &row))
            break;
    }
    PQclear(r);
    return DRUDGE_OK;
}

drudge_code pg_notify_claim(drudge_store *s, const char *owner, int64_t now, int64_t lease_until,
                            int max, int64_t only_id, drudge_notify_row_fn fn, void *ud,
                            drudge_err *err)
{
    static const char what[] = "claiming notifications";
    pg_store *q = pgs(s);
    pg_params p = {0};
    int64_t n = 0;
    pg_p_str(&p, owner);
    pg_p_int(&p, now);
    pg_p_int(&p, lease_until);
    pg_p_int(&p, max);
    pg_p_int(&p, only_id);
    drudge_code rc = pg_exec(q, claim_sql, &p, what, &n, err);
    if (rc || !n)
        return rc;
    pg_params c = {0};
    pg_p_str(&c, owner);
    pg_p_int(&c, lease_until);
    return rows(q, claimed_sql, &c, what, fn, ud, err);
}

drudge_code pg_notify_done(drudge_store *s, int64_t id, const char *owner, int outcome,
                           const char *error, int64_t now, int64_t next_due, int *changed,
                           drudge_err *err)
{
    pg_params p = {0};
    int64_t n = 0;
    pg_p_int(&p, id);
    pg_p_str(&p, owner);
    if (outcome > 0) {
        pg_p_int(&p, now);
    } else {
        pg_p_str(&p, error ? error : "");
        pg_p_int(&p, outcome == 0 ? next_due : now);
    }
    const char *sql = outcome > 0 ? sent_sql : outcome == 0 ? again_sql : gave_up_sql;
    drudge_code rc = pg_exec(pgs(s), sql, &p, "recording a notification's attempt", &n, err);
    *changed = !rc && n > 0;
    return rc;
}

drudge_code pg_notify_log(drudge_store *s, int64_t since, int limit, drudge_notify_row_fn fn,
                          void *ud, drudge_err *err)
{
    pg_params p = {0};
    pg_p_int(&p, since);
    pg_p_int(&p, limit > 0 ? limit : 100);
    return rows(pgs(s), log_sql, &p, "reading the notifications", fn, ud, err);
}

drudge_code pg_notify_counts(drudge_store *s, int64_t due_by, int64_t *sent, int64_t *failed,
                             int64_t *pending, drudge_err *err)
{
    pg_params p = {0};
    *sent = *failed = *pending = 0;
    pg_p_int(&p, due_by);
    PGresult *r = pg_q(pgs(s), counts_sql, &p, "counting notifications", err);
    if (!r)
        return err ? err->code : DRUDGE_EDB;
    if (PQntuples(r) == 1) {
        *sent = pg_i64(r, 0, 0);
        *failed = pg_i64(r, 0, 1);
        *pending = pg_i64(r, 0, 2);
    }
    PQclear(r);
    return DRUDGE_OK;
}

drudge_code pg_notify_mark_get(drudge_store *s, int64_t channel_id, const char *name, int64_t *at,
                               drudge_err *err)
{
    pg_params p = {0};
    pg_p_int(&p, channel_id);
    pg_p_str(&p, name);
    return pg_int(pgs(s), mark_get_sql, &p, "reading a notification mark", at, err);
}

drudge_code pg_notify_mark_set(drudge_store *s, int64_t channel_id, const char *name,
                               int64_t expect, int64_t at, int *won, drudge_err *err)
{
    pg_params p = {0};
    int64_t n = 0;
    pg_p_int(&p, channel_id);
    pg_p_str(&p, name);
    pg_p_int(&p, at);
    if (expect)
        pg_p_int(&p, expect);
    drudge_code rc = pg_exec(pgs(s), expect ? mark_move_sql : mark_add_sql, &p,
                             "moving a notification mark", &n, err);
    *won = !rc && n > 0;
    return rc;
}

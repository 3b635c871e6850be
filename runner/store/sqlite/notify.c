/* notify.c: the SQLite backend's notification channels and outbox (schema
 * v13). Events are rare (an outage's opening and closing, a scan's missed
 * deadlines), so nothing here is on a claim's path: the writer's turn
 * pays one INSERT ... SELECT per breaker event, and the sender's claims
 * read the outbox's partial index of unsent rows. */
#include <stdlib.h>
#include <string.h>
#include "runner/store/sqlite/sqliteint.h"

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
    "dead_threshold, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
static const char remove_sql[] = "DELETE FROM notify_channels WHERE id = ?1";
static const char remove_rows_sql[] =
    "UPDATE notify_outbox SET gave_up_at = ?2, last_error = 'channel removed', "
    "lease_owner = NULL, lease_until = NULL "
    "WHERE channel_id = ?1 AND sent_at IS NULL AND gave_up_at IS NULL";
static const char remove_marks_sql[] = "DELETE FROM notify_marks WHERE channel_id = ?1";
static const char channels_sql[] = "SELECT " CHANNEL_COLS " FROM notify_channels c ORDER BY c.id";
/* ?1 channel (0: by category), ?2 category, ?3 event, ?4 payload, ?5 now */
static const char queue_sql[] =
    "INSERT INTO notify_outbox(channel_id, event, payload, created_at, due_at) "
    "SELECT id, ?3, ?4, ?5, ?5 FROM notify_channels "
    "WHERE CASE WHEN ?1 = 0 THEN ',' || events || ',' LIKE '%,' || ?2 || ',%' ELSE id = ?1 END";
/* ?1 owner, ?2 now, ?3 lease until, ?4 max, ?5 the only row (0: any) */
static const char claim_sql[] =
    "UPDATE notify_outbox SET lease_owner = ?1, lease_until = ?3, attempts = attempts + 1 "
    "WHERE id IN (SELECT id FROM notify_outbox INDEXED BY notify_outbox_due "
    "WHERE sent_at IS NULL AND gave_up_at IS NULL AND due_at <= ?2 "
    "AND (lease_until IS NULL OR lease_until < ?2) AND (?5 = 0 OR id = ?5) "
    "ORDER BY due_at, id LIMIT ?4)";
static const char claimed_sql[] =
    "SELECT " ROW_COLS " FROM notify_outbox o LEFT JOIN notify_channels c ON c.id = o.channel_id "
    "WHERE o.lease_owner = ?1 AND o.lease_until = ?2 AND o.sent_at IS NULL "
    "AND o.gave_up_at IS NULL ORDER BY o.due_at, o.id";
/* ?1 id, ?2 owner, ?3 error, ?4 now, ?5 next due */
static const char sent_sql[] =
    "UPDATE notify_outbox SET sent_at = ?4, lease_owner = NULL, lease_until = NULL "
    "WHERE id = ?1 AND lease_owner = ?2 AND sent_at IS NULL";
static const char again_sql[] =
    "UPDATE notify_outbox SET last_error = ?3, due_at = ?5, lease_owner = NULL, "
    "lease_until = NULL WHERE id = ?1 AND lease_owner = ?2 AND sent_at IS NULL";
static const char gave_up_sql[] =
    "UPDATE notify_outbox SET last_error = ?3, gave_up_at = ?4, lease_owner = NULL, "
    "lease_until = NULL WHERE id = ?1 AND lease_owner = ?2 AND sent_at IS NULL";
static const char log_sql[] =
    "SELECT " ROW_COLS " FROM notify_outbox o LEFT JOIN notify_channels c ON c.id = o.channel_id "
    "WHERE o.created_at >= ?1 ORDER BY o.id DESC LIMIT ?2";
static const char counts_sql[] =
    "SELECT count(sent_at), count(gave_up_at), "
    "sum(sent_at IS NULL AND gave_up_at IS NULL AND (?1 = 0 OR due_at <= ?1)) FROM notify_outbox";
static const char mark_get_sql[] =
    "SELECT at FROM notify_marks WHERE channel_id = ?1 AND name = ?2";
static const char mark_add_sql[] =
    "INSERT INTO notify_marks(channel_id, name, at) VALUES (?1, ?2, ?4) "
    "ON CONFLICT(channel_id, name) DO NOTHING";
static const char mark_move_sql[] =
    "UPDATE notify_marks SET at = ?4 WHERE channel_id = ?1 AND name = ?2 AND at = ?3";

static const char *col_or_null(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static void channel_at(sqlite3_stmt *st, int i, drudge_notify_channel *c)
{
    *c = (drudge_notify_channel){.id = sqlite3_column_int64(st, i),
                                 .kind = sq_col_text(st, i + 1),
                                 .target = sq_col_text(st, i + 2),
                                 .events = sq_col_text(st, i + 3),
                                 .secret = col_or_null(st, i + 4),
                                 .smtp = col_or_null(st, i + 5),
                                 .from = col_or_null(st, i + 6),
                                 .user = col_or_null(st, i + 7),
                                 .dead_threshold = sqlite3_column_int(st, i + 8),
                                 .created_at = sqlite3_column_int64(st, i + 9),
                                 .created_by = col_or_null(st, i + 10)};
}

drudge_code sq_notify_add(drudge_store *s, const drudge_notify_channel *c, int64_t now, int64_t *id,
                          drudge_err *err)
{
    static const char what[] = "adding a notification channel";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, add_sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sq_bind_text(st, 1, c->kind);
    sq_bind_text(st, 2, c->target);
    sq_bind_text(st, 3, c->events);
    sq_bind_text(st, 4, c->secret);
    sq_bind_text(st, 5, c->smtp);
    sq_bind_text(st, 6, c->from);
    sq_bind_text(st, 7, c->user);
    sqlite3_bind_int(st, 8, c->dead_threshold);
    sqlite3_bind_int64(st, 9, now);
    sq_bind_text(st, 10, c->created_by);
    drudge_code rc = sq_done(q, st, what, err);
    if (!rc)
        *id = sqlite3_last_insert_rowid(q->db);
    return rc;
}

/* Runs sql with ?1 = id (and ?2 = now where it has it). */
static drudge_code by_id(sq_store *q, const char *sql, int64_t id, int64_t now, const char *what,
                         drudge_err *err)
{
    sqlite3_stmt *st = sq_stmt(q, sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_int64(st, 2, now);
    return sq_done(q, st, what, err);
}

drudge_code sq_notify_remove(drudge_store *s, int64_t id, int64_t now, int *removed,
                             drudge_err *err)
{
    static const char what[] = "removing a notification channel";
    sq_store *q = sq(s);
    drudge_code rc = by_id(q, remove_sql, id, now, what, err);
    *removed = !rc && sq_changes(q) > 0;
    if (!rc && *removed)
        rc = by_id(q, remove_rows_sql, id, now, what, err);
    if (!rc && *removed)
        rc = by_id(q, remove_marks_sql, id, now, what, err);
    return rc;
}

drudge_code sq_notify_channels(drudge_store *s, drudge_notify_channel_fn fn, void *ud,
                               drudge_err *err)
{
    static const char what[] = "reading the notification channels";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, channels_sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        drudge_notify_channel c;
        channel_at(st, 0, &c);
        if (fn(ud, &c)) {
            r = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    return r == SQLITE_DONE ? DRUDGE_OK : sq_err(q, what, err);
}

drudge_code sq_notify_queue(drudge_store *s, int64_t channel_id, const char *category,
                            const char *event, const char *payload, int64_t now, int64_t *queued,
                            drudge_err *err)
{
    static const char what[] = "queueing a notification";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, queue_sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, channel_id);
    sq_bind_text(st, 2, category ? category : "");
    sq_bind_text(st, 3, event);
    sq_bind_text(st, 4, payload);
    sqlite3_bind_int64(st, 5, now);
    drudge_code rc = sq_done(q, st, what, err);
    *queued = rc ? 0 : sq_changes(q);
    return rc;
}

/* Calls fn for each row of st (columns ROW_COLS), then resets it. */
static drudge_code rows(sq_store *q, sqlite3_stmt *st, const char *what, drudge_notify_row_fn fn,
                        void *ud, drudge_err *err)
{
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        drudge_notify_row row = {.id = sqlite3_column_int64(st, 0),
                                 .channel_id = sqlite3_column_int64(st, 1),
                                 .event = sq_col_text(st, 2),
                                 .payload = sq_col_text(st, 3),
                                 .attempts = sqlite3_column_int(st, 4),
                                 .created_at = sqlite3_column_int64(st, 5),
                                 .due_at = sqlite3_column_int64(st, 6),
                                 .sent_at = sqlite3_column_int64(st, 7),
                                 .gave_up_at = sqlite3_column_int64(st, 8),
                                 .last_error = sq_col_text(st, 9)};
        channel_at(st, 10, &row.ch);
        if (fn(ud, &row)) {
            r = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    return r == SQLITE_DONE ? DRUDGE_OK : sq_err(q, what, err);
}

drudge_code sq_notify_claim(drudge_store *s, const char *owner, int64_t now, int64_t lease_until,
                            int max, int64_t only_id, drudge_notify_row_fn fn, void *ud,
                            drudge_err *err)
{
    static const char what[] = "claiming notifications";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, claim_sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sq_bind_text(st, 1, owner);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, lease_until);
    sqlite3_bind_int(st, 4, max);
    sqlite3_bind_int64(st, 5, only_id);
    drudge_code rc = sq_done(q, st, what, err);
    if (rc || sq_changes(q) == 0)
        return rc;
    st = sq_stmt(q, claimed_sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sq_bind_text(st, 1, owner);
    sqlite3_bind_int64(st, 2, lease_until);
    return rows(q, st, what, fn, ud, err);
}

drudge_code sq_notify_done(drudge_store *s, int64_t id, const char *owner, int outcome,
                           const char *error, int64_t now, int64_t next_due, int *changed,
                           drudge_err *err)
{
    static const char what[] = "recording a notification's attempt";
    sq_store *q = sq(s);
    /* The three statements number their parameters alike; a number one
     * does not use is not bound (SQLITE_RANGE, ignored). */
    const char *sql = outcome > 0 ? sent_sql : outcome == 0 ? again_sql : gave_up_sql;
    sqlite3_stmt *st = sq_stmt(q, sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, id);
    sq_bind_text(st, 2, owner);
    sq_bind_text(st, 3, error ? error : "");
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int64(st, 5, next_due);
    drudge_code rc = sq_done(q, st, what, err);
    *changed = !rc && sq_changes(q) > 0;
    return rc;
}

drudge_code sq_notify_log(drudge_store *s, int64_t since, int limit, drudge_notify_row_fn fn,
                          void *ud, drudge_err *err)
{
    static const char what[] = "reading the notifications";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, log_sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int(st, 2, limit > 0 ? limit : 100);
    return rows(q, st, what, fn, ud, err);
}

drudge_code sq_notify_counts(drudge_store *s, int64_t due_by, int64_t *sent, int64_t *failed,
                             int64_t *pending, drudge_err *err)
{
    static const char what[] = "counting notifications";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, counts_sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    *sent = *failed = *pending = 0;
    sqlite3_bind_int64(st, 1, due_by);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *sent = sqlite3_column_int64(st, 0);
        *failed = sqlite3_column_int64(st, 1);
        *pending = sqlite3_column_int64(st, 2);
        r = SQLITE_DONE;
    }
    sqlite3_reset(st);
    return r == SQLITE_DONE ? DRUDGE_OK : sq_err(q, what, err);
}

drudge_code sq_notify_mark_get(drudge_store *s, int64_t channel_id, const char *name, int64_t *at,
                               drudge_err *err)
{
    static const char what[] = "reading a notification mark";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, mark_get_sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, channel_id);
    sq_bind_text(st, 2, name);
    return sq_one_int(q, st, what, at, err);
}

drudge_code sq_notify_mark_set(drudge_store *s, int64_t channel_id, const char *name,
                               int64_t expect, int64_t at, int *won, drudge_err *err)
{
    static const char what[] = "moving a notification mark";
    sq_store *q = sq(s);
    sqlite3_stmt *st = sq_stmt(q, expect ? mark_move_sql : mark_add_sql, what, err);
    if (!st)
        return err ? err->code : DRUDGE_EDB;
    sqlite3_bind_int64(st, 1, channel_id);
    sq_bind_text(st, 2, name);
    if (expect)
        sqlite3_bind_int64(st, 3, expect);
    sqlite3_bind_int64(st, 4, at);
    drudge_code rc = sq_done(q, st, what, err);
    *won = !rc && sq_changes(q) > 0;
    return rc;
}

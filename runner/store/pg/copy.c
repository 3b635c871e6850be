/* copy.c: the PostgreSQL side of `drudge db copy`: every table's rows out
 * (through a cursor) and in (one COPY per table), then what the engine
 * derives from them: the exceptions column, the claimable queue, done
 * counts, known run windows, the chain head and the id sequences. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "drudge/util.h"
#include "runner/store/pg/pgint.h"

#define COPY_FLUSH (8 << 20) /* bytes of rows sent at a time */

static int is_payloads(const drudge_copy_table *t)
{
    return !strcmp(t->name, "payloads");
}

typedef struct out_walk {
    const drudge_copy_table *t;
    drudge_copy_fn fn;
    void *ud;
} out_walk;

static int out_row(void *ud, const PGresult *r, int i)
{
    out_walk *w = ud;
    const char *vals[64];
    size_t lens[64];
    unsigned char *raw = NULL;
    int n = w->t->ncols < 64 ? w->t->ncols : 64;
    for (int c = 0; c < n; c++) {
        vals[c] = PQgetisnull(r, i, c) ? NULL : PQgetvalue(r, i, c);
        lens[c] = vals[c] ? (size_t)PQgetlength(r, i, c) : 0;
    }
    /* a bytea column (payloads.data, script_files.data): its bytes, not its text */
    int bc = w->t->blob - 1;
    if (bc >= 0 && bc < n && vals[bc]) {
        raw = PQunescapeBytea((const unsigned char *)vals[bc], &lens[bc]);
        vals[bc] = raw ? (const char *)raw : "";
    }
    drudge_copy_row row = {.table = w->t, .values = vals, .lens = lens};
    int stop = w->fn(w->ud, &row);
    PQfreemem(raw);
    return stop;
}

drudge_code pg_copy_out(drudge_store *s, const drudge_copy_table *t, drudge_copy_fn fn, void *ud,
                        drudge_err *err)
{
    drudge_buf sql = {0};
    drudge_buf_printf(&sql, "SELECT %s FROM %s ORDER BY %s", t->columns, t->name,
                      is_payloads(t) ? "n" : t->order);
    out_walk w = {.t = t, .fn = fn, .ud = ud};
    drudge_code rc = pg_walk(pgs(s), sql.data, NULL, "copying rows out", out_row, &w, err);
    drudge_buf_free(&sql);
    return rc;
}

/* "COPY name(columns) FROM STDIN" for table t, made once per table (the
 * pending rows are matched by the command's address). */
static const char *copy_command(const drudge_copy_table *t)
{
    static struct {
        const drudge_copy_table *t;
        char *sql;
    } made[16];
    for (size_t i = 0; i < sizeof made / sizeof made[0]; i++) {
        if (made[i].t == t)
            return made[i].sql;
        if (made[i].t)
            continue;
        drudge_buf b = {0};
        drudge_buf_printf(&b, "COPY %s(%s) FROM STDIN", t->name, t->columns);
        made[i].t = t;
        made[i].sql = drudge_buf_take(&b);
        return made[i].sql;
    }
    return NULL;
}

/* A bytea field of a COPY row: \\x and its hex digits. */
static void copy_bytes(drudge_buf *b, const char *v, size_t len, char sep)
{
    static const char hex[] = "0123456789abcdef";
    drudge_buf_puts(b, "\\\\x");
    for (size_t i = 0; i < len; i++) {
        char h[2] = {hex[(unsigned char)v[i] >> 4], hex[(unsigned char)v[i] & 15]};
        drudge_buf_add(b, h, 2);
    }
    drudge_buf_add(b, &sep, 1);
}

drudge_code pg_copy_in(drudge_store *s, const drudge_copy_row *row, drudge_err *err)
{
    pg_store *q = pgs(s);
    const drudge_copy_table *t = row->table;
    const char *sql = copy_command(t);
    if (!sql)
        return drudge_seterr(err, DRUDGE_EUSAGE, "database %s: too many tables to copy",
                             q->base.name);
    drudge_buf *b = pg_pending(q, sql, err);
    if (!b)
        return err ? err->code : DRUDGE_EDB;
    for (int c = 0; c < t->ncols; c++) {
        char sep = c + 1 < t->ncols ? '\t' : '\n';
        if (c == t->blob - 1 && row->values[c])
            copy_bytes(b, row->values[c], row->lens[c], sep);
        else
            pg_copy_text(b, row->values[c], sep);
    }
    q->npending++;
    return b->len >= COPY_FLUSH ? pg_flush_pending(q, err) : DRUDGE_OK;
}

drudge_code pg_copy_finish(drudge_store *s, drudge_err *err)
{
    static const char sql[] =
        "UPDATE tasks SET exception = state WHERE state IN ('failed','dead','cancelled');"
        "INSERT INTO ready(task_id, priority, run_at, script, \"window\", deadline, retried) "
        "SELECT id, priority, run_at, script, \"window\", deadline, attempts > 0 FROM tasks "
        "WHERE state = 'queued' ON CONFLICT DO NOTHING;"
        "INSERT INTO done_counts(script, n) SELECT script, count(*) FROM tasks "
        "WHERE state = 'done' GROUP BY script ON CONFLICT (script) DO UPDATE SET n = excluded.n;"
        "DELETE FROM task_counts;"
        "INSERT INTO task_counts SELECT script, state, count(*) FROM tasks WHERE state <> 'done' "
        "  GROUP BY 1, 2;"
        "INSERT INTO task_counts SELECT script, 'open', count(*) FROM tasks "
        "  WHERE state IN ('failed','dead') AND resolved_at IS NULL GROUP BY 1;"
        "DELETE FROM throughput;"
        "INSERT INTO throughput SELECT ended_at / 60000000, "
        "  count(*) FILTER (WHERE outcome = 'done'), "
        "  count(*) FILTER (WHERE outcome IN ('failed','error','timeout','memory')) "
        "  FROM attempts WHERE outcome IN ('done','failed','error','timeout','memory') "
        "  GROUP BY 1;"
        "INSERT INTO windows(spec) SELECT DISTINCT \"window\" FROM tasks "
        "WHERE \"window\" IS NOT NULL ON CONFLICT DO NOTHING;"
        "UPDATE chain_head SET id = s.id, hash = s.hash FROM "
        "(SELECT id, hash FROM steps ORDER BY id DESC LIMIT 1) s;"
        "SELECT setval(pg_get_serial_sequence('tasks', 'id'), "
        "  greatest((SELECT max(id) FROM tasks), 1));"
        "SELECT setval(pg_get_serial_sequence('attempt_log', 'id'), "
        "  greatest((SELECT max(id) FROM attempt_log), 1));"
        "SELECT setval(pg_get_serial_sequence('checkpoints', 'id'), "
        "  greatest((SELECT max(id) FROM checkpoints), 1));"
        "SELECT setval(pg_get_serial_sequence('outages', 'id'), "
        "  greatest((SELECT max(id) FROM outages), 1));"
        "SELECT setval(pg_get_serial_sequence('notify_channels', 'id'), "
        "  greatest((SELECT max(id) FROM notify_channels), 1));"
        "ANALYZE";
    pg_store *q = pgs(s);
    drudge_code rc = pg_flush_pending(q, err);
    if (!rc)
        rc = pg_simple(q, sql, "finishing the copy", err);
    if (!rc)
        pg_note_ready(q, 1);
    return rc;
}

drudge_code pg_empty(drudge_store *s, int *empty, drudge_err *err)
{
    static const char sql[] = "SELECT (SELECT count(*) FROM (SELECT 1 FROM tasks LIMIT 1) a) + "
                              "(SELECT count(*) FROM (SELECT 1 FROM steps LIMIT 1) b)";
    int64_t n = 1;
    drudge_code rc = pg_int(pgs(s), sql, NULL, "reading the database", &n, err);
    *empty = !rc && n == 0;
    return rc;
}

/* A PostgreSQL database is backed up by the server's own tools. */
drudge_code pg_backup(drudge_store *s, const char *path, int64_t *pages, drudge_err *err)
{
    (void)path;
    (void)pages;
    return drudge_seterr(err, DRUDGE_EUSAGE,
                         "database %s is PostgreSQL: back it up with pg_dump (pg_dump -Fc -f "
                         "drudge.dump DBNAME, one consistent snapshot while workers run; "
                         "pg_restore to restore), or copy it into an SQLite file with "
                         "drudge db copy --to FILE",
                         s->name);
}

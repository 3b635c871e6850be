/* schema.c: the SQLite database's tables, as migrations.
 *
 * The schema is versioned with PRAGMA user_version. Each area keeps its own
 * list (the queue's tasks, leases and attempts; the audit trail; the
 * schedules): element i brings that area's tables from version i to i+1 (""
 * when it has nothing to change at that version). Opening a database runs
 * every area's pending steps in one BEGIN IMMEDIATE transaction, in version
 * order (db.c). Append new steps; never edit a released one.
 *
 * Indexes are chosen for the hot path: a claim reads tasks_due in order and
 * stops after LIMIT rows, so its cost does not grow with the backlog; cancel
 * requests, reaping and the idle check read `running`, which only holds
 * running tasks (queue.c says how each statement uses them). */
#include "runner/store/sqlite/sqliteint.h"

/* ---- the queue: tasks, scripts, attempts, leases ---- */

/* v14's counters (task_counts): a row of a state but done counts for its
 * state, a failed or dead one not resolved for 'open' too. The store
 * counts its own changes on the hot path per script and adds them once per
 * transaction, just before it commits, as done_counts (db.c,
 * sq_count_task): a task enqueued (inserted queued), and the writer's
 * outcomes (a queued task done, failed, dead or cancelled). Triggers there
 * cost about 3,800 instructions per task each even when their WHEN
 * excluded the row (SQLite loads the old row for them), as much as a third
 * of an insert. The operators' changes (retry, cancel, resolve: statements
 * that set resolved_at or cancelled_by, which the writer's never do) and a
 * task deleted by hand are counted by the triggers below inside the
 * changing statement: its old row's counts off and its new row's on (and a
 * task leaving done off done_counts). So a task inserted or changed by
 * hand with SQL is not counted (`drudge db copy` counts afresh); one
 * deleted by hand is. */
/* clang-format off */
#define OPEN_ROW(r) "((" r ".state = 'failed' OR " r ".state = 'dead') AND " r ".resolved_at IS NULL)"
#define COUNT_ON(r)                                                                                \
    "INSERT INTO task_counts SELECT " r ".script, " r ".state, 1 WHERE " r ".state <> 'done' "     \
    "ON CONFLICT DO UPDATE SET n = n + 1;"                                                         \
    "INSERT INTO task_counts SELECT " r ".script, 'open', 1 WHERE " OPEN_ROW(r) " "                \
    "ON CONFLICT DO UPDATE SET n = n + 1;"
#define COUNT_OFF(r)                                                                               \
    "UPDATE task_counts SET n = n - 1 WHERE script = " r ".script AND "                            \
    "((state = " r ".state AND " r ".state <> 'done') OR (state = 'open' AND " OPEN_ROW(r) "));"
#define TASK_COUNTS_TRIGGERS                                                                       \
    "CREATE TRIGGER task_counts_update AFTER UPDATE OF resolved_at, cancelled_by, script ON tasks "\
    "  WHEN (OLD.state IS NOT NEW.state OR "                                                       \
    "  OLD.script IS NOT NEW.script OR (OLD.resolved_at IS NULL) <> (NEW.resolved_at IS NULL)) "   \
    "  BEGIN " COUNT_OFF("OLD") COUNT_ON("NEW")                                                    \
    "  UPDATE done_counts SET n = n - 1 WHERE OLD.state = 'done' AND script = OLD.script;"        \
    "  END;"                                                                                       \
    "CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks BEGIN " COUNT_OFF("OLD") " END;"
/* clang-format on */

const char *const sq_queue_migrations[] = {
    /* v1 */
    "CREATE TABLE tasks("
    "  id INTEGER PRIMARY KEY,"
    "  script TEXT NOT NULL,"
    "  script_path TEXT NOT NULL,"
    "  key TEXT,"
    "  input TEXT,"
    "  output TEXT,"
    /* Comparisons, not IN (...): SQLite builds a lookup table for an IN list
     * each time a statement runs, which costs more than the update itself on
     * the one-row updates of the hot path. */
    "  state TEXT NOT NULL CHECK (state = 'queued' OR state = 'running' OR state = 'done' OR "
    "    state = 'failed' OR state = 'dead' OR state = 'cancelled'),"
    "  priority INTEGER NOT NULL DEFAULT 0,"
    "  run_at INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0," /* attempt rows so far */
    "  spent INTEGER NOT NULL DEFAULT 0,"    /* attempts counted against max_attempts */
    "  max_attempts INTEGER NOT NULL,"
    "  manual_minutes REAL NOT NULL DEFAULT 0,"
    "  exception_minutes REAL NOT NULL DEFAULT 0,"
    "  lease_owner TEXT,"
    "  lease_until INTEGER,"
    "  claimed_at INTEGER,"
    "  cancel_requested INTEGER NOT NULL DEFAULT 0,"
    "  error TEXT,"
    "  error_kind TEXT,"
    "  schedule TEXT,"
    "  window TEXT," /* the script's run window when enqueued, or NULL */
    "  created_at INTEGER NOT NULL,"
    "  finished_at INTEGER,"
    "  resolved_by TEXT,"
    "  resolved_at INTEGER,"
    "  resolved_note TEXT);"
    "CREATE UNIQUE INDEX tasks_key ON tasks(script, key) WHERE key IS NOT NULL;"
    /* Each task is in exactly one of these three partial indexes, so a
     * state change costs one index delete and one insert, and each index is
     * small where it is hot. script is in each so counts per script and the
     * claim's paused/script filters read the index alone; so is window for
     * tasks_due, so tasks waiting for their run window are skipped without
     * reading their rows. */
    "CREATE INDEX tasks_due ON tasks(priority DESC, run_at, id, script, window) "
    "  WHERE state = 'queued';"
    "CREATE INDEX tasks_lease ON tasks(lease_owner, lease_until, script) WHERE state = 'running';"
    "CREATE INDEX tasks_finished ON tasks(state, script) "
    "  WHERE state <> 'queued' AND state <> 'running';"
    /* What each script was last enqueued with: `enqueue NAME` and
     * queue.enqueue("NAME") find the file and contract here. */
    "CREATE TABLE scripts("
    "  name TEXT PRIMARY KEY,"
    "  path TEXT NOT NULL,"
    "  max_attempts INTEGER NOT NULL,"
    "  manual_minutes REAL NOT NULL,"
    "  exception_minutes REAL NOT NULL,"
    "  window TEXT,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE TABLE attempts("
    "  id INTEGER PRIMARY KEY,"
    "  task_id INTEGER NOT NULL REFERENCES tasks(id),"
    "  n INTEGER NOT NULL,"
    "  worker TEXT NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  ended_at INTEGER NOT NULL,"
    "  outcome TEXT NOT NULL," /* done failed error timeout memory retry lost cancelled */
    "  error TEXT,"
    "  error_kind TEXT," /* business system timeout memory lost cancelled */
    "  UNIQUE(task_id, n));"
    "CREATE TABLE paused(script TEXT PRIMARY KEY, paused_at INTEGER NOT NULL, paused_by TEXT);",
    /* v2: done tasks are counted, not indexed. 'done' is where nearly every
     * task ends, and its index entry cost the writer a B-tree insert per
     * task (about 5% of its work); the writer adds each turn's done
     * outcomes per script to done_counts instead (drudge_queue_end_turn).
     * The exceptions keep an index: they are few, and status lists them. A
     * task only enters 'done' through drudge_queue_complete and never leaves
     * it, except by being deleted by hand, which the trigger accounts for. */
    "DROP INDEX tasks_finished;"
    "CREATE INDEX tasks_exceptions ON tasks(state, script) "
    "  WHERE state = 'failed' OR state = 'dead' OR state = 'cancelled';"
    "CREATE TABLE done_counts(script TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO done_counts SELECT script, count(*) FROM tasks WHERE state = 'done' "
    "  GROUP BY script;"
    "CREATE TRIGGER done_counts_delete AFTER DELETE ON tasks WHEN OLD.state = 'done' "
    "  BEGIN UPDATE done_counts SET n = n - 1 WHERE script = OLD.script; END;",
    /* v3: a claim no longer rewrites the task. Rewriting the whole row, with
     * an index delete and an index insert, cost the writer about a fifth of
     * its work per task. A claimed task keeps its row (state 'queued', still
     * in tasks_due, which claims skip past) and gets a row in `running`, a
     * small table that holds only what is running now. Leases are per
     * process: the writer renews one row in `leases` instead of every task it
     * holds, and the reaper finds expired work by scanning `running`. The
     * effective state (running when a `running` row exists) is what the
     * view task_state shows. */
    "CREATE TABLE leases(owner TEXT PRIMARY KEY, until INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE running("
    "  task_id INTEGER PRIMARY KEY," /* tasks.id */
    "  owner TEXT NOT NULL,"         /* leases.owner */
    "  claimed_at INTEGER NOT NULL,"
    "  cancel_requested INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO leases SELECT coalesce(lease_owner, '?'), max(coalesce(lease_until, 0)) "
    "  FROM tasks WHERE state = 'running' GROUP BY 1;"
    "INSERT INTO running SELECT id, coalesce(lease_owner, '?'), coalesce(claimed_at, created_at), "
    "  cancel_requested FROM tasks WHERE state = 'running';"
    "UPDATE tasks SET state = 'queued' WHERE state = 'running';"
    "DROP INDEX tasks_lease;"
    "ALTER TABLE tasks DROP COLUMN lease_owner;"
    "ALTER TABLE tasks DROP COLUMN lease_until;"
    "ALTER TABLE tasks DROP COLUMN claimed_at;"
    "ALTER TABLE tasks DROP COLUMN cancel_requested;"
    "CREATE VIEW task_state(id, script, state) AS "
    "  SELECT t.id, t.script, CASE WHEN r.task_id IS NULL THEN t.state ELSE 'running' END "
    "  FROM tasks t LEFT JOIN running r ON r.task_id = t.id;",
    /* v4: a task's final attempt (the one that left it done, failed, dead or
     * cancelled) is kept in the task's own row, which the outcome rewrites
     * anyway; only an attempt that another follows (a retry, a lost attempt
     * requeued, or a final one that `drudge retry` reopens) gets a row of its
     * own, in attempt_log. The row and its unique index cost the writer
     * about a seventh of its work per task. The view `attempts` shows both,
     * as the table did; inserting into it goes to attempt_log. Final
     * attempts recorded before v4 stay in attempt_log (their tasks' outcome
     * is NULL), so nothing is moved. */
    "ALTER TABLE attempts RENAME TO attempt_log;"
    "ALTER TABLE tasks ADD COLUMN worker TEXT;" /* the final attempt's */
    "ALTER TABLE tasks ADD COLUMN started_at INTEGER;"
    "ALTER TABLE tasks ADD COLUMN outcome TEXT;" /* NULL: no final attempt in the row */
    "CREATE VIEW attempts(task_id, n, worker, started_at, ended_at, outcome, error, error_kind) "
    "  AS SELECT task_id, n, worker, started_at, ended_at, outcome, error, error_kind "
    "  FROM attempt_log UNION ALL "
    "  SELECT id, attempts, worker, started_at, finished_at, outcome, error, error_kind "
    "  FROM tasks WHERE outcome IS NOT NULL;"
    "CREATE TRIGGER attempts_insert INSTEAD OF INSERT ON attempts BEGIN "
    "  INSERT INTO attempt_log(task_id, n, worker, started_at, ended_at, outcome, error, "
    "    error_kind) VALUES (NEW.task_id, NEW.n, NEW.worker, NEW.started_at, NEW.ended_at, "
    "    NEW.outcome, NEW.error, NEW.error_kind); END;",
    /* v5: tasks not yet due wait outside tasks_due. A new task is due now,
     * so in tasks_due it went in front of every task scheduled for later
     * (a backlog queued with --at, retries waiting out a backoff), into the
     * middle of the index, where each page split moves the neighbouring
     * entries again: a bulk load into a database holding 1,000,000 tasks
     * for tomorrow cost a quarter more per task than into an empty one.
     * Queued tasks with run_at in the future when they were written have
     * later = 1 and sit in tasks_later, by time; each claim first moves the
     * ones whose time has come into tasks_due (drudge_queue_claim), so new
     * tasks of a priority are appended to it. */
    "ALTER TABLE tasks ADD COLUMN later INTEGER NOT NULL DEFAULT 0;"
    "UPDATE tasks SET later = 1 WHERE state = 'queued' "
    "  AND run_at > CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER);"
    "DROP INDEX tasks_due;"
    "CREATE INDEX tasks_due ON tasks(priority DESC, run_at, id, script, window) "
    "  WHERE state = 'queued' AND later = 0;"
    "CREATE INDEX tasks_later ON tasks(run_at, script) WHERE state = 'queued' AND later = 1;",
    /* v6: nothing */
    "",
    /* v7 (hardening, issue 24): a claim is not an attempt until it starts.
     * `running.started` is set once the attempt has run a second or has
     * steps on the chain (the writer marks it, runner/work/writer.c), or at
     * the claim if the task is suspect. The reaper counts a lost attempt
     * only for started rows; it gives the others back unspent and adds one
     * to their task's `suspect`, whose next claim is then marked started at
     * once: a task that kills its worker before the mark still stops at
     * max_attempts. Rows running at the upgrade count as started, and so
     * does a row inserted without the column. Both columns are added, not
     * rewritten: O(1). */
    "ALTER TABLE running ADD COLUMN started INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE tasks ADD COLUMN suspect INTEGER NOT NULL DEFAULT 0;",
    NULL,
};

/* ---- the audit trail: chained steps, payloads, checkpoints ---- */

const char *const sq_audit_migrations[] = {
    /* v1 */
    "CREATE TABLE steps("
    "  id INTEGER PRIMARY KEY,"
    "  task_id INTEGER NOT NULL,"
    "  attempt INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  parent INTEGER,"
    "  kind TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  request TEXT,"
    "  response TEXT,"
    "  started_at INTEGER NOT NULL,"
    "  duration_us INTEGER NOT NULL,"
    "  outcome TEXT NOT NULL,"
    "  error TEXT,"
    "  hash TEXT NOT NULL);"
    "CREATE INDEX steps_task ON steps(task_id, attempt, seq);"
    "CREATE TRIGGER steps_no_update BEFORE UPDATE ON steps"
    "  BEGIN SELECT RAISE(ABORT, 'audit steps are append-only'); END;"
    "CREATE TRIGGER steps_no_delete BEFORE DELETE ON steps"
    "  BEGIN SELECT RAISE(ABORT, 'audit steps are append-only'); END;"
    /* Payloads are referenced by SHA-256 from chained rows and sit outside
     * the chain so that retention can drop their bytes. The table is mutable
     * only that far: no DELETE; an UPDATE may move used_at forward, prune
     * (data NULL + pruned_at) or put the same bytes back after a prune (the
     * bytes are re-hashed by audit verify, so a wrong restore is caught). */
    "CREATE TABLE payloads("
    "  sha256 TEXT PRIMARY KEY,"
    "  content_type TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  data BLOB,"
    "  created_at INTEGER NOT NULL,"
    "  used_at INTEGER NOT NULL,"
    "  pruned_at INTEGER);"
    "CREATE INDEX payloads_used ON payloads(used_at) WHERE data IS NOT NULL;"
    "CREATE TRIGGER payloads_no_delete BEFORE DELETE ON payloads"
    "  BEGIN SELECT RAISE(ABORT, 'audit payloads are never deleted; prune their data with "
    "drudge audit prune'); END;"
    "CREATE TRIGGER payloads_prune_only BEFORE UPDATE ON payloads"
    "  WHEN NEW.sha256 IS NOT OLD.sha256 OR NEW.content_type IS NOT OLD.content_type"
    "    OR NEW.size IS NOT OLD.size OR NEW.created_at IS NOT OLD.created_at"
    "    OR NEW.used_at < OLD.used_at"
    "    OR NOT ((NEW.data IS OLD.data AND NEW.pruned_at IS OLD.pruned_at)"
    "      OR (OLD.data IS NOT NULL AND NEW.data IS NULL AND NEW.pruned_at IS NOT NULL)"
    "      OR (OLD.data IS NULL AND NEW.pruned_at IS NULL AND length(NEW.data) = OLD.size))"
    "  BEGIN SELECT RAISE(ABORT, 'audit payloads can only be pruned (data set NULL with "
    "pruned_at)'); END;"
    "CREATE TABLE checkpoints("
    "  id INTEGER PRIMARY KEY,"
    "  step_id INTEGER NOT NULL,"
    "  head_hash TEXT NOT NULL,"
    "  row_count INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  public_key TEXT NOT NULL,"
    "  signature TEXT NOT NULL);"
    "CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints"
    "  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;"
    "CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints"
    "  BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;",
    /* v2-v5: nothing */
    "",
    "",
    "",
    "",
    /* v6: each row names the machine and process that appended it
     * ("host:pid"), as on PostgreSQL, where a fleet shares one chain. The
     * column is outside the hashed fields (logs/README.md), so rows written
     * before it (origin NULL) verify as they did. */
    "ALTER TABLE steps ADD COLUMN origin TEXT;",
    /* v7 (evidence): what a task row says that the chain must back, and the
     * code that ran. cancelled_by names who cancelled (or asked to cancel) a
     * task; script_sha256 the script version it was enqueued with. A script
     * version is content-addressed like a payload: script_files holds each
     * source file once by its SHA-256, script_versions the version (the
     * SHA-256 of its manifest: the main file's hash and each module's name
     * and hash). Both are append-only: replay and audit depend on them. */
    "ALTER TABLE tasks ADD COLUMN cancelled_by TEXT;"
    "ALTER TABLE tasks ADD COLUMN script_sha256 TEXT;"
    "CREATE TABLE script_files("
    "  sha256 TEXT PRIMARY KEY,"
    "  size INTEGER NOT NULL,"
    "  data BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE script_versions("
    "  sha256 TEXT PRIMARY KEY,"
    "  script TEXT NOT NULL,"
    "  path TEXT NOT NULL,"
    "  manifest TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX tasks_script_version ON tasks(script_sha256) WHERE script_sha256 IS NOT NULL;"
    "CREATE TRIGGER script_files_no_update BEFORE UPDATE ON script_files"
    "  BEGIN SELECT RAISE(ABORT, 'script files are append-only'); END;"
    "CREATE TRIGGER script_files_no_delete BEFORE DELETE ON script_files"
    "  BEGIN SELECT RAISE(ABORT, 'script files are append-only'); END;"
    "CREATE TRIGGER script_versions_no_update BEFORE UPDATE ON script_versions"
    "  BEGIN SELECT RAISE(ABORT, 'script versions are append-only'); END;"
    "CREATE TRIGGER script_versions_no_delete BEFORE DELETE ON script_versions"
    "  BEGIN SELECT RAISE(ABORT, 'script versions are append-only'); END;",
    /* v8 (toolbox; the queue's, kept in this list so that it is one step): why a
     * script is paused. A worker pauses a script whose attempt hit a
     * configuration error (a missing secret, a misused API, a script that
     * no longer loads) and says why here; `drudge pause` leaves it NULL. */
    "ALTER TABLE paused ADD COLUMN reason TEXT;",
    /* v9 (control room, issue 19; kept in this list so that it is one step):
     * the people and systems who may use `drudge serve`, and their keys.
     * room_users holds each password only as its Argon2id encoding;
     * room_keys holds API tokens and login sessions by the SHA-256 of
     * their secret (a copy of the database opens nothing), with a
     * session's CSRF token and the address it was opened from. A key
     * expires (expires_at, 0: never) or is dropped (logout); a disabled
     * user's keys are refused where they are looked up. */
    "CREATE TABLE room_users("
    "  name TEXT PRIMARY KEY,"
    "  role TEXT NOT NULL CHECK (role IN ('viewer','operator','auditor','admin')),"
    "  hash TEXT,"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  changed_at INTEGER NOT NULL);"
    "CREATE TABLE room_keys("
    "  hash TEXT PRIMARY KEY,"
    "  user TEXT NOT NULL REFERENCES room_users(name),"
    "  kind TEXT NOT NULL CHECK (kind IN ('token','session')),"
    "  label TEXT,"
    "  csrf TEXT,"
    "  remote TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX room_keys_user ON room_keys(user);",
    /* v10 (outage, issue #20; the queue's, kept in this list so that it is
     * one step): circuit breakers. script_targets says which targets
     * (hosts) a script uses, learned from its calls or declared in the
     * script; breakers holds a row per open breaker, whose scripts claims
     * skip until probe_at; outages keeps a row per opening (its start is
     * the first error of the run that opened it). */
    "CREATE TABLE script_targets("
    "  target TEXT NOT NULL,"
    "  script TEXT NOT NULL,"
    "  declared INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(target, script)) WITHOUT ROWID;"
    "CREATE TABLE outages("
    "  id INTEGER PRIMARY KEY,"
    "  target TEXT NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  opened_at INTEGER NOT NULL,"
    "  ended_at INTEGER,"
    "  trigger TEXT NOT NULL,"
    "  opened_by TEXT,"
    "  probes INTEGER NOT NULL DEFAULT 0,"
    "  tasks_held INTEGER NOT NULL DEFAULT 0,"
    "  attempts_spent INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX outages_ended ON outages(ended_at);"
    "CREATE TABLE breakers("
    "  target TEXT PRIMARY KEY,"
    "  outage_id INTEGER NOT NULL REFERENCES outages(id),"
    "  probe_at INTEGER NOT NULL,"
    "  probes INTEGER NOT NULL DEFAULT 0);",
    /* v11 (control room, issue #19; the queue's, kept in this list so that
     * it is one step): attempts that ended, per minute, for the control
     * room's charts of the last hour and day. The outcomes of a write
     * transaction add to their minute's row just before it commits (as
     * done_counts: a row per minute instead of an index entry per task,
     * which would cost every outcome a B-tree insert), so the charts are
     * read from at most 1440 rows a day, survive a restart and agree on
     * every server. done: outcome done; failed: failed, error, timeout or
     * memory (drudge_throughput_kind). Filled here from the attempts on
     * record. */
    "CREATE TABLE throughput("
    "  minute INTEGER PRIMARY KEY," /* µs since the epoch / 60,000,000 */
    "  done INTEGER NOT NULL,"
    "  failed INTEGER NOT NULL);"
    "INSERT INTO throughput SELECT ended_at / 60000000, "
    "  sum(outcome = 'done'), sum(outcome IN ('failed','error','timeout','memory')) "
    "  FROM attempts WHERE outcome IN ('done','failed','error','timeout','memory') "
    "  GROUP BY 1;",
    /* v12 (outage, issue #20, second part; the queue's, kept in this list
     * so that it is one step): deadlines. A task may
     * carry a deadline (µs; NULL: none). Claims read the due deadline
     * tasks of a priority through tasks_due_deadline, nearest first, before
     * the others through tasks_due (which is not rebuilt); tasks_deadline
     * serves the at-risk and missed counts, which read only tasks with a
     * deadline. */
    "ALTER TABLE tasks ADD COLUMN deadline INTEGER;"
    "CREATE INDEX tasks_due_deadline ON tasks(priority DESC, deadline, id) "
    "  WHERE state = 'queued' AND later = 0 AND deadline IS NOT NULL;"
    "CREATE INDEX tasks_deadline ON tasks(deadline) WHERE deadline IS NOT NULL;",
    /* v13 (outage, issue #20, notifications; one step): the channels
     * operations are told through (a webhook or e-mail addresses, the
     * events each wants; a secret by its name only), the outbox (one row
     * per notification and channel, queued in the transaction that records
     * the event, claimed by a sender with a lease as tasks are, each
     * attempt's outcome on the row; no foreign key: the log outlives a
     * removed channel), and each channel's scan marks (the time up to which
     * missed deadlines and dead tasks were looked at, moved by compare and
     * set so that two workers do not notify twice). */
    "CREATE TABLE notify_channels("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL CHECK (kind IN ('webhook','email')),"
    "  target TEXT NOT NULL,"
    "  events TEXT NOT NULL,"
    "  secret TEXT,"
    "  smtp TEXT,"
    "  sender TEXT,"
    "  login TEXT,"
    "  dead_threshold INTEGER NOT NULL DEFAULT 10,"
    "  created_at INTEGER NOT NULL,"
    "  created_by TEXT);"
    "CREATE TABLE notify_outbox("
    "  id INTEGER PRIMARY KEY,"
    "  channel_id INTEGER NOT NULL,"
    "  event TEXT NOT NULL,"
    "  payload TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  due_at INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  lease_owner TEXT,"
    "  lease_until INTEGER,"
    "  last_error TEXT,"
    "  sent_at INTEGER,"
    "  gave_up_at INTEGER);"
    "CREATE INDEX notify_outbox_due ON notify_outbox(due_at) "
    "  WHERE sent_at IS NULL AND gave_up_at IS NULL;"
    "CREATE INDEX notify_outbox_created ON notify_outbox(created_at);"
    "CREATE TABLE notify_marks("
    "  channel_id INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  PRIMARY KEY(channel_id, name));",
    /* v14 (control room, issue #19: the overview at 1,000,000 tasks): the
     * tasks per script and state, kept exact in the transaction of every
     * change (by the store, or by triggers: TASK_COUNTS_TRIGGERS says
     * which), so that status, metrics and the overview read a few rows
     * instead of counting a backlog (500,000 queued tasks took status over
     * a second). Every state but done, which the writer adds to
     * done_counts per turn; 'open' counts the unresolved exceptions (failed
     * or dead, resolved_at NULL). A claimed task stays 'queued' here (its
     * row does; `running` says it runs). tasks_queued gives each script's
     * oldest queued task in one probe (without it, the oldest is found by
     * reading every queued task); new tasks go in at its end, so keeping
     * it costs little (callgrind, without this step and with it: a
     * 20,000-task bulk load 23,748 and 23,768 instructions per task; a
     * 3,000-task -j 1 run 138,900-140,100 and 137,900-139,700, run-to-run
     * noise). Filled here from the tasks. */
    "CREATE TABLE task_counts("
    "  script TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  PRIMARY KEY(script, state)) WITHOUT ROWID;"
    "INSERT INTO task_counts SELECT script, state, count(*) FROM tasks WHERE state <> 'done' "
    "  GROUP BY 1, 2;"
    "INSERT INTO task_counts SELECT script, 'open', count(*) FROM tasks "
    "  WHERE (state = 'failed' OR state = 'dead') AND resolved_at IS NULL GROUP BY 1;"
    "CREATE INDEX tasks_queued ON tasks(script, id) WHERE state = 'queued';" TASK_COUNTS_TRIGGERS
    /* And (the control room, issue #19, the same step): failed logins per
     * user name ("u:NAME") and per address ("a:ADDRESS"), so that every
     * server on the database slows the same guesser (room_auth.c). A
     * count starts again after ROOM_FAIL_WINDOW without a failure. */
    "CREATE TABLE room_fails("
    "  who TEXT PRIMARY KEY,"
    "  count INTEGER NOT NULL,"
    "  last INTEGER NOT NULL);"
    "CREATE INDEX room_fails_last ON room_fails(last);",
    NULL,
};

/* ---- schedules ---- */

const char *const sq_schedule_migrations[] = {
    /* v1 */
    "CREATE TABLE schedules("
    "  name TEXT PRIMARY KEY,"
    "  cron TEXT NOT NULL,"
    "  tz TEXT," /* IANA zone; NULL = the machine's */
    "  script TEXT NOT NULL,"
    "  script_path TEXT NOT NULL,"
    "  input TEXT,"
    "  priority INTEGER NOT NULL DEFAULT 0,"
    "  catch_up TEXT NOT NULL DEFAULT 'latest' CHECK (catch_up IN ('none','latest','all')),"
    "  window TEXT,"
    "  max_attempts INTEGER NOT NULL DEFAULT 3,"
    "  manual_minutes REAL NOT NULL DEFAULT 0,"
    "  exception_minutes REAL NOT NULL DEFAULT 0,"
    "  paused INTEGER NOT NULL DEFAULT 0,"
    "  last_tick INTEGER NOT NULL," /* µs: newest tick handled */
    "  created_at INTEGER NOT NULL);",
    NULL,
};

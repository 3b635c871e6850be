/* schema.c: the PostgreSQL database's tables, as migrations.
 *
 * The version is the highest row of drudge_schema; opening a database
 * read-write runs the pending steps in one transaction under an advisory
 * lock (db.c), so two machines starting at once migrate once. Append new
 * steps; never edit a released one.
 *
 * The shape is SQLite's (runner/store/sqlite/schema.c) with one change made
 * for MVCC: what changes on the hot path lives in small tables of its own,
 * so that the big tables are written once and rewritten in place.
 *   - ready: the claimable queue, one small row per queued task (priority,
 *     run_at, script, window), indexed in claim order. A claim deletes the
 *     rows it takes; a requeue inserts one again.
 *   - running and leases: what is running now, under whose lease.
 *   - tasks: written at enqueue and once more with the outcome. No index
 *     names a column the outcome changes (the exceptions index is on
 *     `exception`, null for done tasks), so that update is a HOT update:
 *     no index entry, and the old version is pruned from its page without
 *     a vacuum (fillfactor 45 leaves the room for it: schema v10).
 * Dead rows are then left in ready, running, leases and the counters alone,
 * which autovacuum is told to visit after a few thousand changes instead of
 * a fifth of the table (README, "Running on several machines", says what
 * the server's autovacuum_naptime should be). */
#include "runner/store/pg/pgint.h"

/* Small tables changed on every claim or outcome: vacuumed after a fixed
 * number of dead rows, at full speed. */
#define HOT_TABLE                                                                                  \
    "autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000, "                     \
    "autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0.02"

/* drudge_task_counts()'s sums of each change to tasks (v12; v13 puts a
 * test before them). A done task deleted by hand leaves done_counts too
 * (SQLite's done_counts_delete trigger; PostgreSQL had none before v12).
 * The writer adds tasks entering done (done_flush); one leaving it is
 * taken off here. */
#define TASK_COUNTS_BODY                                                                           \
    "  IF TG_OP = 'INSERT' THEN "                                                                  \
    "    INSERT INTO task_counts SELECT script, st, count(*) FROM new_rows "                       \
    "    CROSS JOIN LATERAL (VALUES (state), (CASE WHEN state IN ('failed','dead') "               \
    "      AND resolved_at IS NULL THEN 'open' END)) v(st) "                                       \
    "    WHERE st IS NOT NULL AND st <> 'done' GROUP BY 1, 2 ORDER BY 1, 2 "                       \
    "    ON CONFLICT (script, state) DO UPDATE SET n = task_counts.n + excluded.n; "               \
    "  ELSIF TG_OP = 'DELETE' THEN "                                                               \
    "    INSERT INTO task_counts SELECT script, st, -count(*) FROM old_rows "                      \
    "    CROSS JOIN LATERAL (VALUES (state), (CASE WHEN state IN ('failed','dead') "               \
    "      AND resolved_at IS NULL THEN 'open' END)) v(st) "                                       \
    "    WHERE st IS NOT NULL AND st <> 'done' GROUP BY 1, 2 ORDER BY 1, 2 "                       \
    "    ON CONFLICT (script, state) DO UPDATE SET n = task_counts.n + excluded.n; "               \
    "    UPDATE done_counts d SET n = d.n - o.k FROM (SELECT script, count(*) AS k "               \
    "      FROM old_rows WHERE state = 'done' GROUP BY 1) o WHERE d.script = o.script; "           \
    "  ELSE "                                                                                      \
    "    INSERT INTO task_counts SELECT script, st, sum(d) FROM ("                                 \
    "      SELECT o.script, o.state, o.resolved_at, -1 AS d FROM old_rows o JOIN new_rows n "      \
    "        USING (id) WHERE o.state IS DISTINCT FROM n.state OR o.script <> n.script "           \
    "        OR (o.resolved_at IS NULL) <> (n.resolved_at IS NULL) "                               \
    "      UNION ALL SELECT n.script, n.state, n.resolved_at, 1 FROM old_rows o "                  \
    "        JOIN new_rows n USING (id) WHERE o.state IS DISTINCT FROM n.state "                   \
    "        OR o.script <> n.script OR (o.resolved_at IS NULL) <> (n.resolved_at IS NULL)"        \
    "    ) c(script, state, resolved_at, d) "                                                      \
    "    CROSS JOIN LATERAL (VALUES (state), (CASE WHEN state IN ('failed','dead') "               \
    "      AND resolved_at IS NULL THEN 'open' END)) v(st) "                                       \
    "    WHERE st IS NOT NULL AND st <> 'done' GROUP BY 1, 2 HAVING sum(d) <> 0 ORDER BY 1, 2 "    \
    "    ON CONFLICT (script, state) DO UPDATE SET n = task_counts.n + excluded.n; "               \
    "    UPDATE done_counts d SET n = d.n - o.k FROM (SELECT o.script, count(*) AS k "             \
    "      FROM old_rows o JOIN new_rows n USING (id) WHERE o.state = 'done' "                     \
    "      AND (n.state <> 'done' OR n.script <> o.script) GROUP BY 1) o "                         \
    "      WHERE d.script = o.script; "                                                            \
    "  END IF; "

const char *const pg_migrations[] = {
    /* v1 */
    "CREATE TABLE drudge_schema(version integer PRIMARY KEY, "
    "  applied_at timestamptz NOT NULL DEFAULT now());"
    /* ---- the queue ---- */
    "CREATE TABLE tasks("
    "  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  script text NOT NULL,"
    "  script_path text NOT NULL,"
    "  key text,"
    "  input text,"
    "  output text,"
    /* A running task's row says queued; `running` says it runs. */
    "  state text NOT NULL CHECK (state IN ('queued','done','failed','dead','cancelled')),"
    "  priority integer NOT NULL DEFAULT 0,"
    "  run_at bigint NOT NULL,"
    "  attempts integer NOT NULL DEFAULT 0,"
    "  spent integer NOT NULL DEFAULT 0,"
    "  max_attempts integer NOT NULL,"
    "  manual_minutes double precision NOT NULL DEFAULT 0,"
    "  exception_minutes double precision NOT NULL DEFAULT 0,"
    "  error text,"
    "  error_kind text,"
    "  schedule text,"
    "  \"window\" text,"
    "  created_at bigint NOT NULL,"
    "  finished_at bigint,"
    "  resolved_by text,"
    "  resolved_at bigint,"
    "  resolved_note text,"
    "  worker text," /* the final attempt's, kept in the row (SQLite v4) */
    "  started_at bigint,"
    "  outcome text,"
    /* The state again when it is failed, dead or cancelled, else null: the
     * one indexed column an outcome sets, and only for exceptions. */
    "  exception text"
    ") WITH (fillfactor = 80);"
    "CREATE UNIQUE INDEX tasks_key ON tasks(script, key) WHERE key IS NOT NULL;"
    "CREATE INDEX tasks_exceptions ON tasks(exception, script) WHERE exception IS NOT NULL;"
    "CREATE TABLE ready("
    "  task_id bigint PRIMARY KEY,"
    "  priority integer NOT NULL,"
    "  run_at bigint NOT NULL,"
    "  script text NOT NULL,"
    "  \"window\" text"
    ") WITH (" HOT_TABLE ");"
    /* Claims read it per priority in run_at order and stop at the first
     * task not yet due, so a backlog for later costs them nothing. */
    "CREATE INDEX ready_due ON ready(priority DESC, run_at, task_id);"
    /* A queued task enters ready as it is inserted, however it is (a
     * person's INSERT too, as on SQLite, where the queue is the table). */
    "CREATE FUNCTION drudge_task_ready() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "  INSERT INTO ready(task_id, priority, run_at, script, \"window\") VALUES (NEW.id, "
    "  NEW.priority, NEW.run_at, NEW.script, NEW.\"window\") ON CONFLICT DO NOTHING; "
    "  RETURN NULL; END $$;"
    "CREATE TRIGGER tasks_ready AFTER INSERT ON tasks FOR EACH ROW "
    "  WHEN (NEW.state = 'queued') EXECUTE FUNCTION drudge_task_ready();"
    "CREATE TABLE running("
    "  task_id bigint PRIMARY KEY,"
    "  owner text NOT NULL,"
    "  claimed_at bigint NOT NULL,"
    "  cancel_requested boolean NOT NULL DEFAULT false"
    ") WITH (fillfactor = 70, " HOT_TABLE ");"
    "CREATE INDEX running_owner ON running(owner);"
    "CREATE TABLE leases(owner text PRIMARY KEY, until bigint NOT NULL) "
    "  WITH (fillfactor = 50, " HOT_TABLE ");"
    "CREATE TABLE scripts("
    "  name text PRIMARY KEY,"
    "  path text NOT NULL,"
    "  max_attempts integer NOT NULL,"
    "  manual_minutes double precision NOT NULL,"
    "  exception_minutes double precision NOT NULL,"
    "  \"window\" text,"
    "  updated_at bigint NOT NULL);"
    "CREATE TABLE attempt_log("
    "  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  task_id bigint NOT NULL,"
    "  n integer NOT NULL,"
    "  worker text NOT NULL,"
    "  started_at bigint NOT NULL,"
    "  ended_at bigint NOT NULL,"
    "  outcome text NOT NULL,"
    "  error text,"
    "  error_kind text,"
    "  UNIQUE (task_id, n));"
    "CREATE VIEW attempts(task_id, n, worker, started_at, ended_at, outcome, error, error_kind) "
    "  AS SELECT task_id, n, worker, started_at, ended_at, outcome, error, error_kind "
    "  FROM attempt_log UNION ALL "
    "  SELECT id, attempts, worker, started_at, finished_at, outcome, error, error_kind "
    "  FROM tasks WHERE outcome IS NOT NULL;"
    /* As on SQLite: inserting into attempts goes to attempt_log. */
    "CREATE FUNCTION drudge_attempts_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "  INSERT INTO attempt_log(task_id, n, worker, started_at, ended_at, outcome, error, "
    "  error_kind) VALUES (NEW.task_id, NEW.n, NEW.worker, NEW.started_at, NEW.ended_at, "
    "  NEW.outcome, NEW.error, NEW.error_kind); RETURN NEW; END $$;"
    "CREATE TRIGGER attempts_insert INSTEAD OF INSERT ON attempts "
    "  FOR EACH ROW EXECUTE FUNCTION drudge_attempts_insert();"
    "CREATE TABLE paused(script text PRIMARY KEY, paused_at bigint NOT NULL, paused_by text);"
    "CREATE TABLE done_counts(script text PRIMARY KEY, n bigint NOT NULL) "
    "  WITH (fillfactor = 50, " HOT_TABLE ");"
    /* The run windows tasks were enqueued with: a claim evaluates each
     * once (in C: drudge_window_allows) instead of once per task. */
    "CREATE TABLE windows(spec text PRIMARY KEY);"
    "CREATE VIEW task_state(id, script, state) AS "
    "  SELECT t.id, t.script, CASE WHEN r.task_id IS NULL THEN t.state ELSE 'running' END "
    "  FROM tasks t LEFT JOIN running r ON r.task_id = t.id;"
    /* ---- the audit trail ---- */
    "CREATE FUNCTION drudge_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION '% are append-only', TG_ARGV[0]; END $$;"
    "CREATE TABLE steps("
    "  id bigint PRIMARY KEY,"
    "  task_id bigint NOT NULL,"
    "  attempt integer NOT NULL,"
    "  seq integer NOT NULL,"
    "  parent integer,"
    "  kind text NOT NULL,"
    "  name text NOT NULL,"
    "  request text,"
    "  response text,"
    "  started_at bigint NOT NULL,"
    "  duration_us bigint NOT NULL,"
    "  outcome text NOT NULL,"
    "  error text,"
    "  hash text NOT NULL,"
    /* host:pid of the process that appended the row; outside the hash */
    "  origin text);"
    "CREATE INDEX steps_task ON steps(task_id, attempt, seq);"
    "CREATE TRIGGER steps_append_only BEFORE UPDATE OR DELETE ON steps "
    "  FOR EACH ROW EXECUTE FUNCTION drudge_append_only('audit steps');"
    "CREATE TRIGGER steps_no_truncate BEFORE TRUNCATE ON steps "
    "  FOR EACH STATEMENT EXECUTE FUNCTION drudge_append_only('audit steps');"
    /* The head of the chain: one row, locked by each appending transaction
     * until it commits, so that appends from every machine form one chain. */
    "CREATE TABLE chain_head(one boolean PRIMARY KEY DEFAULT true CHECK (one), "
    "  id bigint NOT NULL, hash text NOT NULL) WITH (fillfactor = 20, " HOT_TABLE ");"
    "INSERT INTO chain_head(id, hash) VALUES (0, repeat('0', 64));"
    "CREATE TABLE payloads("
    "  sha256 text PRIMARY KEY,"
    "  content_type text NOT NULL,"
    "  size bigint NOT NULL,"
    "  data bytea,"
    "  created_at bigint NOT NULL,"
    "  used_at bigint NOT NULL,"
    "  pruned_at bigint,"
    "  n bigint GENERATED ALWAYS AS IDENTITY);" /* insertion order */
    "CREATE INDEX payloads_used ON payloads(used_at) WHERE data IS NOT NULL;"
    "CREATE FUNCTION drudge_payloads_prune_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "  IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'audit payloads are never deleted; prune their "
    "data with drudge audit prune'; END IF;"
    "  IF NEW.sha256 IS DISTINCT FROM OLD.sha256 OR NEW.content_type IS DISTINCT FROM "
    "OLD.content_type OR NEW.size IS DISTINCT FROM OLD.size OR NEW.created_at IS DISTINCT FROM "
    "OLD.created_at OR NEW.used_at < OLD.used_at OR NOT ((NEW.data IS NOT DISTINCT FROM OLD.data "
    "AND NEW.pruned_at IS NOT DISTINCT FROM OLD.pruned_at) OR (OLD.data IS NOT NULL AND NEW.data "
    "IS NULL AND NEW.pruned_at IS NOT NULL) OR (OLD.data IS NULL AND NEW.pruned_at IS NULL AND "
    "length(NEW.data) = OLD.size)) THEN RAISE EXCEPTION 'audit payloads can only be pruned (data "
    "set NULL with pruned_at)'; END IF; RETURN NEW; END $$;"
    "CREATE TRIGGER payloads_prune_only BEFORE UPDATE OR DELETE ON payloads "
    "  FOR EACH ROW EXECUTE FUNCTION drudge_payloads_prune_only();"
    "CREATE TRIGGER payloads_no_truncate BEFORE TRUNCATE ON payloads "
    "  FOR EACH STATEMENT EXECUTE FUNCTION drudge_append_only('audit payloads');"
    "CREATE TABLE checkpoints("
    "  id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  step_id bigint NOT NULL,"
    "  head_hash text NOT NULL,"
    "  row_count bigint NOT NULL,"
    "  created_at bigint NOT NULL,"
    "  public_key text NOT NULL,"
    "  signature text NOT NULL);"
    "CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints "
    "  FOR EACH ROW EXECUTE FUNCTION drudge_append_only('checkpoints');"
    "CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints "
    "  FOR EACH STATEMENT EXECUTE FUNCTION drudge_append_only('checkpoints');"
    /* ---- schedules ---- */
    "CREATE TABLE schedules("
    "  name text PRIMARY KEY,"
    "  cron text NOT NULL,"
    "  tz text,"
    "  script text NOT NULL,"
    "  script_path text NOT NULL,"
    "  input text,"
    "  priority integer NOT NULL DEFAULT 0,"
    "  catch_up text NOT NULL DEFAULT 'latest' CHECK (catch_up IN ('none','latest','all')),"
    "  \"window\" text,"
    "  max_attempts integer NOT NULL DEFAULT 3,"
    "  manual_minutes double precision NOT NULL DEFAULT 0,"
    "  exception_minutes double precision NOT NULL DEFAULT 0,"
    "  paused integer NOT NULL DEFAULT 0,"
    "  last_tick bigint NOT NULL,"
    "  created_at bigint NOT NULL);",
    /* v2 (evidence): as SQLite's v7: who cancelled a task, the script
     * version it was enqueued with, and script versions stored once by
     * SHA-256 (append-only). */
    "ALTER TABLE tasks ADD COLUMN cancelled_by text;"
    "ALTER TABLE tasks ADD COLUMN script_sha256 text;"
    "CREATE TABLE script_files("
    "  sha256 text PRIMARY KEY,"
    "  size bigint NOT NULL,"
    "  data bytea NOT NULL,"
    "  created_at bigint NOT NULL);"
    "CREATE TABLE script_versions("
    "  sha256 text PRIMARY KEY,"
    "  script text NOT NULL,"
    "  path text NOT NULL,"
    "  manifest text NOT NULL,"
    "  created_at bigint NOT NULL);"
    "CREATE INDEX tasks_script_version ON tasks(script_sha256) WHERE script_sha256 IS NOT NULL;"
    "CREATE TRIGGER script_files_append_only BEFORE UPDATE OR DELETE ON script_files "
    "  FOR EACH ROW EXECUTE FUNCTION drudge_append_only('script files');"
    "CREATE TRIGGER script_versions_append_only BEFORE UPDATE OR DELETE ON script_versions "
    "  FOR EACH ROW EXECUTE FUNCTION drudge_append_only('script versions');",
    /* v3 (toolbox): why a script is paused (as SQLite's v8): a worker pauses a script
     * whose attempt hit a configuration error and says why; `drudge pause`
     * leaves it NULL. */
    "ALTER TABLE paused ADD COLUMN reason text;",
    /* v4 (hardening, issue 24): a claim is not an attempt until it starts,
     * as in SQLite's schema v7: `running.started` (the writer marks an
     * attempt that has run a second or has steps on the chain; a suspect
     * task's claim is marked at once), and `tasks.suspect`, which the
     * reaper adds one to when it gives an unstarted claim back unspent.
     * Rows running at the upgrade count as started. Both columns have
     * constant defaults: no table is rewritten. */
    "ALTER TABLE running ADD COLUMN started boolean NOT NULL DEFAULT true;"
    "ALTER TABLE tasks ADD COLUMN suspect integer NOT NULL DEFAULT 0;",
    /* v5 (control room, issue 19): as SQLite's v9: the users of `drudge
     * serve` (passwords as Argon2id encodings) and their keys, API tokens
     * and login sessions, by the SHA-256 of their secret. */
    "CREATE TABLE room_users("
    "  name text PRIMARY KEY,"
    "  role text NOT NULL CHECK (role IN ('viewer','operator','auditor','admin')),"
    "  hash text,"
    "  disabled integer NOT NULL DEFAULT 0,"
    "  created_at bigint NOT NULL,"
    "  changed_at bigint NOT NULL);"
    "CREATE TABLE room_keys("
    "  hash text PRIMARY KEY,"
    "  \"user\" text NOT NULL REFERENCES room_users(name),"
    "  kind text NOT NULL CHECK (kind IN ('token','session')),"
    "  label text,"
    "  csrf text,"
    "  remote text,"
    "  created_at bigint NOT NULL,"
    "  expires_at bigint NOT NULL DEFAULT 0);"
    "CREATE INDEX room_keys_user ON room_keys(\"user\");",
    /* v6 (outage, issue #20; one step): circuit breakers, as SQLite's v9:
     * which targets a script uses, the open breakers, an outage per opening. */
    "CREATE TABLE script_targets("
    "  target text NOT NULL,"
    "  script text NOT NULL,"
    "  declared integer NOT NULL DEFAULT 0,"
    "  PRIMARY KEY(target, script));"
    "CREATE TABLE outages("
    "  id bigserial PRIMARY KEY,"
    "  target text NOT NULL,"
    "  started_at bigint NOT NULL,"
    "  opened_at bigint NOT NULL,"
    "  ended_at bigint,"
    "  trigger text NOT NULL,"
    "  opened_by text,"
    "  probes integer NOT NULL DEFAULT 0,"
    "  tasks_held bigint NOT NULL DEFAULT 0,"
    "  attempts_spent bigint NOT NULL DEFAULT 0);"
    "CREATE INDEX outages_ended ON outages(ended_at);"
    "CREATE TABLE breakers("
    "  target text PRIMARY KEY,"
    "  outage_id bigint NOT NULL REFERENCES outages(id),"
    "  probe_at bigint NOT NULL,"
    "  probes integer NOT NULL DEFAULT 0);",
    /* v7 (fleet, issue 17): new tasks enter ready once per statement, not
     * once per row: a row trigger's PL/pgSQL call cost about 8 times the
     * statement trigger's share of a 256-row bulk load (EXPLAIN ANALYZE:
     * 260 µs a row against 31 µs), most of what a load spent. The
     * transition table holds exactly the rows the statement inserted (ON
     * CONFLICT DO NOTHING leaves the others out). */
    "DROP TRIGGER tasks_ready ON tasks;"
    "DROP FUNCTION drudge_task_ready();"
    "CREATE FUNCTION drudge_tasks_ready() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "  INSERT INTO ready(task_id, priority, run_at, script, \"window\") "
    "  SELECT id, priority, run_at, script, \"window\" FROM new_tasks WHERE state = 'queued' "
    "  ON CONFLICT DO NOTHING; "
    "  RETURN NULL; END $$;"
    "CREATE TRIGGER tasks_ready AFTER INSERT ON tasks REFERENCING NEW TABLE AS new_tasks "
    "  FOR EACH STATEMENT EXECUTE FUNCTION drudge_tasks_ready();",
    /* v8 (control room, issue #19; one step): as SQLite's v11: attempts
     * that ended, per minute, for the charts. An index on finished_at
     * instead would make every outcome's update of tasks a non-HOT update
     * (schema.c's header): each would write every index of tasks. */
    "CREATE TABLE throughput("
    "  minute bigint PRIMARY KEY,"
    "  done bigint NOT NULL,"
    "  failed bigint NOT NULL"
    ") WITH (fillfactor = 50, " HOT_TABLE ");"
    "INSERT INTO throughput SELECT ended_at / 60000000, "
    "  count(*) FILTER (WHERE outcome = 'done'), "
    "  count(*) FILTER (WHERE outcome IN ('failed','error','timeout','memory')) "
    "  FROM attempts WHERE outcome IN ('done','failed','error','timeout','memory') "
    "  GROUP BY 1;",
    /* v9 (outage, issue #20, second part; one step): deadlines, as
     * SQLite's v12. ready carries each task's deadline,
     * so that a claim reads the due deadline tasks of a priority through
     * ready_deadline, nearest first, before the others through ready_due;
     * the trigger that fills ready copies it. */
    "ALTER TABLE tasks ADD COLUMN deadline bigint;"
    "ALTER TABLE ready ADD COLUMN deadline bigint;"
    "CREATE INDEX ready_deadline ON ready(priority DESC, deadline, task_id) "
    "  WHERE deadline IS NOT NULL;"
    "CREATE INDEX tasks_deadline ON tasks(deadline) WHERE deadline IS NOT NULL;"
    "CREATE OR REPLACE FUNCTION drudge_tasks_ready() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "  INSERT INTO ready(task_id, priority, run_at, script, \"window\", deadline) "
    "  SELECT id, priority, run_at, script, \"window\", deadline FROM new_tasks "
    "  WHERE state = 'queued' ON CONFLICT DO NOTHING; "
    "  RETURN NULL; END $$;",
    /* v10 (fleet, issue 17): room on each page of tasks for every row's
     * outcome. A turn rewrites a run of neighbouring tasks in one
     * statement, whose old versions cannot be pruned before it commits, so
     * a page needs room for a second version of each of its rows: at
     * fillfactor 80 only 23% of outcomes were HOT updates (each other one
     * wrote an entry into every index of tasks), at 50 88%, at 45 all of
     * them, for a table 18% larger after 100,000 tasks (pg_stat_user_tables,
     * tests/bench/pg.sh). Pages written before keep their fill. */
    "ALTER TABLE tasks SET (fillfactor = 45);",
    /* v11 (outage, issue #20, notifications; one step): as SQLite's v13:
     * the channels, the outbox (claimed with FOR UPDATE SKIP LOCKED, so
     * two senders never take one row), each channel's scan marks. */
    "CREATE TABLE notify_channels("
    "  id bigserial PRIMARY KEY,"
    "  kind text NOT NULL CHECK (kind IN ('webhook','email')),"
    "  target text NOT NULL,"
    "  events text NOT NULL,"
    "  secret text,"
    "  smtp text,"
    "  sender text,"
    "  login text,"
    "  dead_threshold integer NOT NULL DEFAULT 10,"
    "  created_at bigint NOT NULL,"
    "  created_by text);"
    "CREATE TABLE notify_outbox("
    "  id bigserial PRIMARY KEY,"
    "  channel_id bigint NOT NULL,"
    "  event text NOT NULL,"
    "  payload text NOT NULL,"
    "  created_at bigint NOT NULL,"
    "  due_at bigint NOT NULL,"
    "  attempts integer NOT NULL DEFAULT 0,"
    "  lease_owner text,"
    "  lease_until bigint,"
    "  last_error text,"
    "  sent_at bigint,"
    "  gave_up_at bigint);"
    "CREATE INDEX notify_outbox_due ON notify_outbox(due_at) "
    "  WHERE sent_at IS NULL AND gave_up_at IS NULL;"
    "CREATE INDEX notify_outbox_created ON notify_outbox(created_at);"
    "CREATE TABLE notify_marks("
    "  channel_id bigint NOT NULL,"
    "  name text NOT NULL,"
    "  at bigint NOT NULL,"
    "  PRIMARY KEY(channel_id, name));",
    /* v12 (control room, issue #19: the overview at 1,000,000 tasks; one
     * step): as SQLite's v14, the tasks per script and state but done
     * (done_counts has those) and 'open' for unresolved exceptions, kept
     * by statement triggers that sum each statement's transition tables,
     * so that status reads a few rows instead of counting ready and the
     * exceptions. Rows are upserted in (script, state) order, so two
     * writers lock them in one order. A claim does not change tasks; a
     * claimed task counts as queued here and `running` says it runs.
     * ready_script gives each script's oldest ready task in one probe. */
    "CREATE TABLE task_counts("
    "  script text NOT NULL,"
    "  state text NOT NULL,"
    "  n bigint NOT NULL,"
    "  PRIMARY KEY(script, state)"
    ") WITH (fillfactor = 50, " HOT_TABLE ");"
    "INSERT INTO task_counts SELECT script, state, count(*) FROM tasks WHERE state <> 'done' "
    "  GROUP BY 1, 2;"
    "INSERT INTO task_counts SELECT script, 'open', count(*) FROM tasks "
    "  WHERE state IN ('failed','dead') AND resolved_at IS NULL GROUP BY 1;"
    "CREATE INDEX ready_script ON ready(script, task_id);"
    "CREATE FUNCTION drudge_task_counts() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN " TASK_COUNTS_BODY "  RETURN NULL; END $$;"
    "CREATE TRIGGER task_counts_insert AFTER INSERT ON tasks REFERENCING NEW TABLE AS new_rows "
    "  FOR EACH STATEMENT EXECUTE FUNCTION drudge_task_counts();"
    "CREATE TRIGGER task_counts_update AFTER UPDATE ON tasks "
    "  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "  FOR EACH STATEMENT EXECUTE FUNCTION drudge_task_counts();"
    "CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks REFERENCING OLD TABLE AS old_rows "
    "  FOR EACH STATEMENT EXECUTE FUNCTION drudge_task_counts();"
    /* And (the control room, issue #19, the same step): failed logins per
     * user name and per address, shared by every server, as SQLite's v14. */
    "CREATE TABLE room_fails("
    "  who text PRIMARY KEY,"
    "  count integer NOT NULL,"
    "  last bigint NOT NULL);"
    "CREATE INDEX room_fails_last ON room_fails(last);",
    /* v13 (fleet, issue 17): no statistics of the free text that no query
     * filters or groups by (key is looked up through its unique index).
     * Autovacuum ANALYZEs tasks and steps every tenth of their size: at
     * 100,000 tasks through an empty queue that took 2 s of the server's
     * CPU (log_autovacuum_min_duration), 20 us a task, most of it sorting
     * sampled inputs, outputs, keys, requests and responses, which grow
     * with the case data a task carries. */
    "ALTER TABLE tasks ALTER COLUMN input SET STATISTICS 0, "
    "  ALTER COLUMN output SET STATISTICS 0, ALTER COLUMN error SET STATISTICS 0, "
    "  ALTER COLUMN script_path SET STATISTICS 0, ALTER COLUMN resolved_note SET STATISTICS 0, "
    "  ALTER COLUMN key SET STATISTICS 0;"
    "ALTER TABLE steps ALTER COLUMN request SET STATISTICS 0, "
    "  ALTER COLUMN response SET STATISTICS 0, ALTER COLUMN error SET STATISTICS 0, "
    "  ALTER COLUMN hash SET STATISTICS 0, ALTER COLUMN origin SET STATISTICS 0;"
    /* And (the same step): the store's hot statements count their own
     * changes and raise drudge.counted for the trigger, which then leaves
     * that statement be (PG_COUNTED in pgint.h). The first firing after it
     * takes the flag down, so it covers one statement. */
    "CREATE OR REPLACE FUNCTION drudge_task_counts() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "  IF current_setting('drudge.counted', true) = 'on' THEN "
    "    PERFORM set_config('drudge.counted', 'off', true); RETURN NULL; "
    "  END IF; " TASK_COUNTS_BODY "  RETURN NULL; END $$;"
    /* And: running is looked up by task (its primary key), and by owner
     * only to find cancel requests, a worker's poll: an index of owners
     * cost each claimed task an entry (and vacuum its removal) that only
     * the rare requested rows need. A reaper reads the few rows of running
     * whole; a turn's outcomes find theirs by task. */
    "DROP INDEX running_owner;"
    "CREATE INDEX running_cancel ON running(owner) WHERE cancel_requested;",
    /* v14 (fleet, issue 17): ANALYZE samples 300 rows per unit of the
     * largest statistics target of a table's columns, so 30,000 rows of
     * tasks and of steps at the default of 100, however few columns keep
     * statistics (v13). Autovacuum ANALYZEs both every tenth of their size
     * while a backlog flows: 1.7 s of the server's CPU over 100,000 tasks
     * through an empty queue, 17 us a task. The queries that filter tasks
     * (state, script, dates, deadline, exceptions) plan as well on a sample
     * of 3,000 rows (target 10): a few states, a few scripts, and ranges.
     * Measured paired: server CPU per task 101-104 us against 76-84 us. */
    "ALTER TABLE tasks ALTER COLUMN id SET STATISTICS 10, ALTER COLUMN script SET STATISTICS 10, "
    "  ALTER COLUMN state SET STATISTICS 10, ALTER COLUMN priority SET STATISTICS 10, "
    "  ALTER COLUMN run_at SET STATISTICS 10, ALTER COLUMN attempts SET STATISTICS 10, "
    "  ALTER COLUMN spent SET STATISTICS 10, ALTER COLUMN max_attempts SET STATISTICS 10, "
    "  ALTER COLUMN manual_minutes SET STATISTICS 10, "
    "  ALTER COLUMN exception_minutes SET STATISTICS 10, "
    "  ALTER COLUMN error_kind SET STATISTICS 10, ALTER COLUMN schedule SET STATISTICS 10, "
    "  ALTER COLUMN \"window\" SET STATISTICS 10, ALTER COLUMN created_at SET STATISTICS 10, "
    "  ALTER COLUMN finished_at SET STATISTICS 10, ALTER COLUMN resolved_by SET STATISTICS 10, "
    "  ALTER COLUMN resolved_at SET STATISTICS 10, ALTER COLUMN worker SET STATISTICS 10, "
    "  ALTER COLUMN started_at SET STATISTICS 10, ALTER COLUMN outcome SET STATISTICS 10, "
    "  ALTER COLUMN exception SET STATISTICS 10, ALTER COLUMN cancelled_by SET STATISTICS 10, "
    "  ALTER COLUMN script_sha256 SET STATISTICS 10, ALTER COLUMN suspect SET STATISTICS 10, "
    "  ALTER COLUMN deadline SET STATISTICS 10;"
    "ALTER TABLE steps ALTER COLUMN id SET STATISTICS 10, ALTER COLUMN task_id SET STATISTICS 10, "
    "  ALTER COLUMN attempt SET STATISTICS 10, ALTER COLUMN seq SET STATISTICS 10, "
    "  ALTER COLUMN parent SET STATISTICS 10, ALTER COLUMN kind SET STATISTICS 10, "
    "  ALTER COLUMN name SET STATISTICS 10, ALTER COLUMN started_at SET STATISTICS 10, "
    "  ALTER COLUMN duration_us SET STATISTICS 10, ALTER COLUMN outcome SET STATISTICS 10;",
    /* v15 (fleet, issue 17): ready says whether its task has had an attempt,
     * so that status and the control room tell tasks waiting for a retry
     * from those waiting for their time from ready alone: the join of every
     * ready row with tasks took 4.8 of a status's 5.8 s at 1,000,000 queued
     * for tomorrow. Every insert into ready sets it (a new task: false). */
    "ALTER TABLE ready ADD COLUMN retried boolean NOT NULL DEFAULT false;"
    "UPDATE ready SET retried = true FROM tasks t WHERE t.id = ready.task_id AND t.attempts > 0;"
    "CREATE OR REPLACE FUNCTION drudge_tasks_ready() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "  INSERT INTO ready(task_id, priority, run_at, script, \"window\", deadline, retried) "
    "  SELECT id, priority, run_at, script, \"window\", deadline, attempts > 0 FROM new_tasks "
    "  WHERE state = 'queued' ON CONFLICT DO NOTHING; "
    "  RETURN NULL; END $$;",
    /* v16 (fleet, issue 17): ANALYZE of ready samples 3,000 rows, as v14's
     * of tasks and steps. A hot table, ready is analyzed after 2% of its
     * rows changed, and every task through the queue changes two (in, then
     * claimed out): with 1,000,000 queued for tomorrow, autovacuum ANALYZEd
     * it every 10,000 tasks or so, 0.4-0.45 s of the server's CPU each, a
     * sample of 30,000 rows (the server's log at log_autovacuum_min_duration
     * = 0). Claims plan on priority, run_at and deadline, a few levels and
     * ranges, as well from 3,000. */
    "ALTER TABLE ready ALTER COLUMN task_id SET STATISTICS 10, "
    "  ALTER COLUMN priority SET STATISTICS 10, ALTER COLUMN run_at SET STATISTICS 10, "
    "  ALTER COLUMN script SET STATISTICS 10, ALTER COLUMN \"window\" SET STATISTICS 10, "
    "  ALTER COLUMN deadline SET STATISTICS 10, ALTER COLUMN retried SET STATISTICS 10;",
    /* v17 (fleet, issue 17): a bulk load of tasks without keys COPYs them
     * into tasks and their rows into ready itself (queue.c, enqueue_copy),
     * and tells this trigger so through a flag it takes down again, as
     * drudge.counted tells drudge_task_counts(): inserting the same rows
     * again from the transition table cost a third of the load. */
    "CREATE OR REPLACE FUNCTION drudge_tasks_ready() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "  IF current_setting('drudge.readied', true) = 'on' THEN "
    "    PERFORM set_config('drudge.readied', 'off', true); RETURN NULL; "
    "  END IF; "
    "  INSERT INTO ready(task_id, priority, run_at, script, \"window\", deadline, retried) "
    "  SELECT id, priority, run_at, script, \"window\", deadline, attempts > 0 FROM new_tasks "
    "  WHERE state = 'queued' ON CONFLICT DO NOTHING; "
    "  RETURN NULL; END $$;",
    NULL,
};

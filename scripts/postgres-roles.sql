-- Least privilege for a drudge fleet on PostgreSQL (README, "Running on
-- several machines"). Run as the owner of the drudge tables (the role that
-- ran drudge first, which created and migrates the schema), after that first
-- run, and again after an upgrade that adds tables:
--   psql "postgresql://owner@db.example/drudge" -f scripts/postgres-roles.sql
-- Then give the login roles of the machines and people membership:
--   CREATE ROLE robot1 LOGIN IN ROLE drudge_worker;   -- a worker machine
--   CREATE ROLE audit1 LOGIN IN ROLE drudge_auditor;  -- an auditor
--
-- drudge_worker runs `drudge work`, `enqueue` and the operators' commands:
-- it changes the queue, and may append to the audit trail (steps,
-- checkpoints: INSERT only; payloads: prune-only updates, which a trigger
-- enforces) but never update, delete or truncate a chain row.
-- drudge_auditor may only read: verify, show, export, replay, report.
-- drudge_room runs the control room (`drudge serve`, `drudge user`): what a
-- worker may, plus the control room's users and their keys, which no
-- worker machine and no auditor role can read or change.
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'drudge_worker') THEN
    CREATE ROLE drudge_worker NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'drudge_auditor') THEN
    CREATE ROLE drudge_auditor NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'drudge_room') THEN
    CREATE ROLE drudge_room NOLOGIN IN ROLE drudge_worker;
  END IF;
END $$;

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM drudge_worker, drudge_auditor, drudge_room;
GRANT USAGE ON SCHEMA public TO drudge_worker, drudge_auditor, drudge_room;

-- The queue: what workers and operators change.
GRANT SELECT, INSERT, UPDATE, DELETE ON tasks, ready, running, leases, scripts, paused,
  done_counts, windows, schedules TO drudge_worker;
-- Attempts ended per minute (the control room's charts, issue #19): each
-- outcome adds to its minute's row as it commits.
GRANT SELECT, INSERT, UPDATE ON throughput TO drudge_worker;
-- Tasks per script and state (status and the overview, issue #19): kept by
-- triggers on tasks, which run as the role that changes tasks.
GRANT SELECT, INSERT, UPDATE ON task_counts TO drudge_worker;
GRANT SELECT, INSERT ON attempt_log TO drudge_worker;
GRANT SELECT ON drudge_schema, attempts, task_state TO drudge_worker;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO drudge_worker;
-- The audit trail: appended to, never rewritten.
GRANT SELECT, INSERT ON steps, checkpoints TO drudge_worker;
-- Script versions (the code that ran): stored once, never changed.
GRANT SELECT, INSERT ON script_files, script_versions TO drudge_worker;
GRANT SELECT, INSERT, UPDATE ON payloads TO drudge_worker;
GRANT SELECT, UPDATE ON chain_head TO drudge_worker;
-- Circuit breakers (issue #20): workers open, probe and close them, learn
-- which targets scripts use, and record each outage (never delete one).
GRANT SELECT, INSERT, UPDATE, DELETE ON breakers, script_targets TO drudge_worker;
GRANT SELECT, INSERT, UPDATE ON outages TO drudge_worker;

-- Auditors read everything and change nothing.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO drudge_auditor;

-- The control room's users and keys (password and token hashes): its own.
GRANT SELECT, INSERT, UPDATE, DELETE ON room_users, room_keys TO drudge_room;
REVOKE ALL ON room_users, room_keys FROM drudge_auditor;
-- Failed logins per user name and address, shared by every control room.
GRANT SELECT, INSERT, UPDATE, DELETE ON room_fails TO drudge_room;

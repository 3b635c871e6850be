#!/usr/bin/env bash
# Least privilege (scripts/postgres-roles.sql): a worker role runs the queue
# and appends to the audit trail but the server refuses it any UPDATE,
# DELETE or TRUNCATE of chain rows; an auditor role reads and verifies and
# is refused every write.
source "$TESTS/lib.sh"
cat >noop.lua <<'LUA'
return { name = "noop", run = function(task) step("one", function() end) return true end }
LUA
owner_url=$DRUDGE_DB
expect_exit 0 "$DRUDGE" -q enqueue noop.lua --input '{"n":0}' # the owner creates the schema
expect_exit 0 "$PSQL" -qAtX -v ON_ERROR_STOP=1 "$owner_url" -f "$SRC/scripts/postgres-roles.sql"
w="w_$pg_db" a="a_$pg_db"
pg_admin -c "CREATE ROLE $w LOGIN IN ROLE drudge_worker" -c "CREATE ROLE $a LOGIN IN ROLE drudge_auditor"
as_role() { echo "postgresql:///$pg_db?host=$DRUDGE_PG_HOST&port=$DRUDGE_PG_PORT&user=$1"; }

# The worker: the whole lifecycle.
export DRUDGE_DB=$(as_role "$w")
# ... but not the control room's users, which are drudge_room's.
expect_exit 1 "$DRUDGE" user list
contains "$err" "permission denied" "a worker role cannot read the control room's users"
expect_exit 0 "$DRUDGE" -q enqueue noop.lua --input '{"n":1}'
expect_exit 0 "$DRUDGE" -q enqueue noop.lua --input '{"n":2}' --key K2
printf '{"n":3}\n{"n":4}\n' >more.jsonl
expect_exit 0 "$DRUDGE" -q enqueue noop.lua --from more.jsonl
expect_exit 0 "$DRUDGE" -q work -j 2 --until-empty
equals "$(sql "select count(*) from tasks where state = 'done'")" 5 "the worker role ran the queue"
expect_exit 0 "$DRUDGE" -q pause noop
expect_exit 0 "$DRUDGE" -q resume noop
expect_exit 0 "$DRUDGE" audit verify
# ... but the server refuses it any rewrite of the chain
for stmt in "update steps set name = 'x' where id = 1" "delete from steps where id = 1" \
  "truncate steps" "update checkpoints set head_hash = 'x'" "delete from payloads"; do
  expect_exit 1 "$PSQL" -qAtX -v ON_ERROR_STOP=1 "$DRUDGE_DB" -c "$stmt"
  contains "$err" "permission denied" "worker refused: $stmt"
done
# The head pointer is the worker's to move, and no use to an attacker:
# verify walks the rows and their hashes, not the pointer.

# Even the owner cannot rewrite a row: the triggers refuse it.
expect_exit 1 "$PSQL" -qAtX -v ON_ERROR_STOP=1 "$owner_url" -c "update steps set name = 'x' where id = 1"
contains "$err" "append-only" "owner's update refused by the trigger"
expect_exit 1 "$PSQL" -qAtX -v ON_ERROR_STOP=1 "$owner_url" -c "truncate steps"
contains "$err" "append-only" "owner's truncate refused by the trigger"

# The auditor: reads and verifies, writes nothing.
export DRUDGE_DB=$(as_role "$a")
expect_exit 0 "$DRUDGE" audit verify
contains "$out" "ok: " "the auditor verifies the chain"
expect_exit 0 "$DRUDGE" tasks
expect_exit 0 "$DRUDGE" report
expect_exit 0 "$DRUDGE" audit export
expect_exit 1 "$DRUDGE" enqueue noop.lua --input '{"n":5}'
contains "$err" "permission denied" "the auditor cannot enqueue"
for stmt in "insert into steps select * from steps limit 0" "update tasks set priority = 1" \
  "delete from tasks" "insert into checkpoints(step_id, head_hash, row_count, created_at, public_key, signature) values (1,'x',1,1,'x','x')"; do
  expect_exit 1 "$PSQL" -qAtX -v ON_ERROR_STOP=1 "$DRUDGE_DB" -c "$stmt"
  contains "$err" "permission denied" "auditor refused: $stmt"
done
finish

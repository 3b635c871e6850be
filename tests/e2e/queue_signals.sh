#!/usr/bin/env bash
# Draining on SIGTERM, aborting on a second signal, and cancelling a running
# task at its next lease renewal.
source "$TESTS/lib.sh"
cat >slow.lua <<'LUA'
-- timeout: a spin that is never stopped fails in 60 s, not the default
return { name = "slow", timeout = 60, run = function(task)
  -- the first attempt of "spin" runs until stopped; others take half a second
  local limit = (task.input.spin and task.attempt == 1) and 1e9 or 0.5
  local c = os.clock()
  while os.clock() - c < limit do end
  return { n = task.input.n }
end }
LUA
wait_state() { wait_sql "select state from task_state where id = $1" "$2"; } # ID STATE

# 1. SIGTERM drains: the running task finishes, the claimed-but-unstarted go back
for i in 1 2 3 4; do "$DRUDGE" -q enqueue slow.lua --input "{\"n\":$i}"; done
"$DRUDGE" -q work -j 1 2>drain.err & pid=$!
wait_state 1 running || fail "task 1 never started"
kill -TERM $pid
rc=0
wait $pid || rc=$?
equals "$rc" 0 "a drained worker exits 0"
equals "$(sql "select state from tasks where id = 1")" done "the running task finished"
equals "$(sql "select count(*) from tasks where state = 'queued' and attempts = 0 and id not in (select task_id from running)")" 3 "the others are queued again, no attempt spent"

expect_exit 0 "$DRUDGE" -q work --until-empty

# 2. cancel a running task: it stops at the next lease renewal
"$DRUDGE" -q enqueue slow.lua --input '{"n":5,"spin":true}'
id=$(sql "select max(id) from tasks")
"$DRUDGE" -q pause slow
"$DRUDGE" -q resume slow
"$DRUDGE" -q work -j 2 --lease 2s 2>cancel.err & pid=$!
wait_state "$id" running || fail "the spinning task never started"
expect_exit 0 "$DRUDGE" cancel "$id"
contains "$out" "cancel requested" "cancel of a running task is deferred"
wait_state "$id" cancelled || fail "the running task was not cancelled"
equals "$(sql "select outcome, error from attempts where task_id = $id")" "cancelled|cancelled by an operator" "the attempt is recorded as cancelled"
kill -TERM $pid
rc=0
wait $pid || rc=$?
equals "$rc" 0 "exit after drain"

# 3. a second signal aborts the running attempt; its lease expires and it is retried
"$DRUDGE" -q enqueue slow.lua --input '{"n":6,"spin":true}'
id=$(sql "select max(id) from tasks")
"$DRUDGE" -q work -j 1 --lease 1s 2>abort.err & pid=$!
wait_state "$id" running || fail "the spinning task never started"
# Claimed is not started: a claim the worker had not begun goes back unspent
# (no lost attempt), so wait until the writer has marked the attempt started.
wait_sql "select count(*) from running where task_id = $id and started" 1 ||
  fail "the spinning attempt was never marked started"
kill -TERM $pid
sleep 0.3
kill -INT $pid
rc=0
wait $pid || rc=$?
equals "$rc" 1 "an aborted worker exits 1"
equals "$(sql "select s.state, t.attempts from task_state s join tasks t using (id) where id = $id")" "running|0" "the aborted task keeps its lease"
sleep 1.2
expect_exit 0 "$DRUDGE" -q work --until-empty --lease 1s
equals "$(sql "select group_concat(outcome) from attempts where task_id = $id")" "lost,done" "the lost attempt is recorded, then the retry"
finish

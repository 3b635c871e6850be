#!/usr/bin/env bash
# A claim is not an attempt until it starts (issue 24; SQLite schema v7,
# PostgreSQL v2). A `drudge work` killed with claims held ahead costs those
# tasks nothing (with max_attempts = 1 they would have ended dead); a task
# that kills its worker within its first second still stops at max_attempts
# (one crash more than the attempts: the first only makes it suspect).
source "$TESTS/lib.sh"
cat >quick.lua <<'LUA'
return { name = "quick", max_attempts = 1, run = function(task)
  local c = os.clock()
  while os.clock() - c < 0.05 do end
  return { n = task.input.n }
end }
LUA
cat >poison.lua <<'LUA'
return { name = "poison", max_attempts = 2, run = function(task)
  io.open("poison.started", "w"):close() -- the test kills its worker at once
  while true do end
end }
LUA
files=${DRUDGE_FILES:-$DRUDGE_DB.files}
mkdir -p "$files"
owner_pid() { # TASK: the pid in the owner of its running row
  sql "select owner from running where task_id = $1" | sed -n 's/^[^:]*:\([0-9]*\)\..*/\1/p'
}

# 1. Killed with claims held ahead: none of them is charged.
for n in $(seq 60); do echo "{\"n\":$n}"; done >items.jsonl
expect_exit 0 "$DRUDGE" -q enqueue quick.lua --from items.jsonl
"$DRUDGE" -q work -j 1 --prefetch 30 --lease 1s 2>w1.err & pid=$!
wait_sql "select count(*) >= 3 from tasks where state = 'done'" "$(on_pg && echo t || echo 1)" ||
  fail "the first worker did not start"
kill -9 $pid
wait $pid 2>/dev/null || true
held=$(sql "select count(*) from running")
[ "$held" -ge 2 ] || fail "the killed worker held claims ahead (held $held)"
sleep 1.2
# its own lease long: a slow (sanitizer) build on a loaded machine must not
# reap its own attempts; the killed worker's 1 s lease has run out already
expect_exit 0 "$DRUDGE" --json work -j 2 --until-empty --lease 10s
given=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["given_back"])' "$out")
[ "$given" -ge $((held - 1)) ] || fail "given back $given of the $held held"
equals "$(sql "select count(*) from tasks where script = 'quick' and state = 'done'")" 60 "every task done"
equals "$(sql "select count(*) from tasks where script = 'quick' and state = 'dead'")" 0 "none dead"
equals "$(sql "select count(*) from attempts a join tasks t on t.id = a.task_id where t.script = 'quick'")" 60 \
  "one attempt each"

# 2. A task that kills its worker: suspect after the first crash, then each
#    crash spends an attempt; dead after max_attempts (2) of them.
expect_exit 0 "$DRUDGE" -q enqueue poison.lua
id=$(sql "select max(id) from tasks")
for crash in 1 2 3; do
  rm -f "$files/poison.started"
  "$DRUDGE" -q work -j 1 --lease 1s 2>"p$crash.err" & pid=$!
  wait_until 60 test -e "$files/poison.started" || true
  kill -9 $pid
  equals "$(owner_pid "$id")" "$pid" "crash $crash: the poison task ran"
  wait $pid 2>/dev/null || true
  sleep 1.2 # the lease
  case $crash in
    1) want_suspect=1 want_spent=0 ;;
    2) want_suspect=1 want_spent=1 ;;
    3) want_suspect=1 want_spent=2 ;;
  esac
  expect_exit 0 "$DRUDGE" -q work --until-empty --lease 1s --script quick # reaps only
  equals "$(sql "select suspect, spent from tasks where id = $id")" "$want_suspect|$want_spent" \
    "crash $crash: suspect and attempts spent"
done
equals "$(sql "select state from task_state where id = $id")" dead "the poison task stops at max_attempts"
equals "$(sql "select group_concat(outcome, ',') from attempts where task_id = $id")" "lost,lost" \
  "its two started attempts are recorded as lost"
expect_exit 0 "$DRUDGE" audit verify
finish

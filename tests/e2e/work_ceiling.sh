#!/usr/bin/env bash
# The hard ceiling on an attempt (README "Timeouts that cannot be dodged"):
# the three ways a script used to dodge its timeout end at the timeout (a
# looping xpcall handler, an exponential pattern match: both seen by the
# deadline) or at timeout + the 5 s grace (a looping __gc finalizer, which
# Lua runs with hooks off: the watchdog gives its thread up), under
# `drudge run` and `drudge work`; `drudge cancel` stops each of them; the
# worker goes on with the next task (re-exec'ing itself once every worker
# thread is stuck).
source "$TESTS/lib.sh"
GRACE=5

# dodge NAME TIMEOUT: a script NAME.lua (or NAME-TIMEOUT.lua) doing dodge NAME
dodge() {
  local body
  case $1 in
    xpcall) body='xpcall(function() while true do end end, function() while true do end end)' ;;
    gc) body='setmetatable({}, {__gc = function() while true do end end}); collectgarbage("collect")' ;;
    pattern) body='local s = string.rep("a", 5000):match(string.rep("(.-)", 30) .. "b")' ;;
  esac
  cat >"$1-$2.lua" <<LUA
return { name = "$1-$2", timeout = $2, max_attempts = 1, run = function(task)
  $body
  return "escaped"
end }
LUA
}
cat >ok.lua <<'LUA'
return { name = "ok", run = function(task) return { n = task.input.n } end }
LUA
for d in xpcall gc pattern; do dodge $d 2; dodge $d 60; done
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# within X LO HI: LO <= X <= HI
within() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x <= hi) }'; }

# 1. drudge run: each dodge ends with exit 4 and a dead task, the first two
#    at the timeout, the finalizer at timeout + grace. (In parallel, each on
#    a database of its own, to keep the test short.)
for d in xpcall gc pattern; do
  (
    t0=$(now)
    rc=0
    "$DRUDGE" --db "run-$d.db" run "$d-2.lua" >"run-$d.out" 2>"run-$d.err" || rc=$?
    echo "$rc $(secs "$t0" "$(now)")" >"run-$d.rc"
  ) &
done
wait
for d in xpcall gc pattern; do
  read -r rc took <"run-$d.rc"
  equals "$rc" 4 "drudge run $d: exit 4 (timeout)"
  contains "$(cat "run-$d.err")" "timeout: the attempt ran longer than 2 s" "drudge run $d: says timeout"
  equals "$(sqlite3 "run-$d.db" "select state from task_state")" dead "drudge run $d: the task is dead"
  equals "$(sqlite3 "run-$d.db" "select outcome || '/' || error_kind from attempts")" timeout/timeout \
    "drudge run $d: the attempt is a timeout"
  expect_exit 0 "$DRUDGE" --db "run-$d.db" audit verify
  if [ "$d" = gc ]; then
    within "$took" $((2 + GRACE - 1)) $((2 + GRACE + 3)) || fail "drudge run gc took ${took}s, want about $((2 + GRACE))s"
    contains "$(cat "run-$d.err")" "did not stop within $GRACE s more" "drudge run gc: says it was stuck"
  else
    within "$took" 1.9 $((2 + GRACE - 1)) || fail "drudge run $d took ${took}s, want about 2s (before the grace)"
  fi
done

# 2. drudge cancel stops each dodge under drudge run (timeout 60 s): the two
#    the deadline sees within about a second, the finalizer after the grace.
for d in xpcall gc pattern; do
  (
    t0=$(now)
    rc=0
    "$DRUDGE" --db "cancel-$d.db" run "$d-60.lua" >"cancel-$d.out" 2>"cancel-$d.err" || rc=$?
    echo "$rc $(now)" >"cancel-$d.rc"
  ) &
done
for d in xpcall gc pattern; do
  DRUDGE_DB="cancel-$d.db" wait_sql "select count(*) from running" 1 || true
  "$DRUDGE" --db "cancel-$d.db" -q cancel "$(sqlite3 "cancel-$d.db" "select task_id from running")"
  now >"cancel-$d.at" # the grace counts from here (the run looks once a second)
done
wait
for d in xpcall gc pattern; do
  read -r rc ended <"cancel-$d.rc"
  took=$(secs "$(cat "cancel-$d.at")" "$ended")
  equals "$rc" 4 "drudge run $d cancelled: exit 4"
  contains "$(cat "cancel-$d.err")" "cancelled by an operator" "drudge run $d cancelled: says so"
  equals "$(sqlite3 "cancel-$d.db" "select state from task_state")" cancelled "drudge run $d: the task is cancelled"
  within "$took" 0 $((GRACE + 6)) || fail "drudge run $d cancelled took ${took}s"
done

# 3. drudge work -j 1: each dodge ends dead at its ceiling; the finalizer's
#    thread is abandoned, and with the only worker thread stuck the process
#    drains and re-execs itself, then goes on with the rest.
export DRUDGE_DB="$TMP/work1.db"
"$DRUDGE" -q enqueue gc-2.lua
"$DRUDGE" -q enqueue xpcall-2.lua
"$DRUDGE" -q enqueue pattern-2.lua
for n in 1 2 3; do "$DRUDGE" -q enqueue ok.lua --input "{\"n\":$n}"; done
(
  rc=0
  "$DRUDGE" -q work -j 1 --until-empty 2>work1.err || rc=$?
  echo "$rc" >work1.rc
) &
# 4. meanwhile, drudge work -j 2 on another database: a stuck thread is
#    replaced at once and no restart is needed while a worker is free.
(
  export DRUDGE_DB="$TMP/work2.db"
  "$DRUDGE" -q enqueue gc-2.lua
  for n in 1 2 3 4; do "$DRUDGE" -q enqueue ok.lua --input "{\"n\":$n}"; done
  "$DRUDGE" -q enqueue xpcall-2.lua
  "$DRUDGE" -q enqueue pattern-2.lua
  rc=0
  "$DRUDGE" -q work -j 2 --until-empty 2>work2.err || rc=$?
  echo "$rc" >work2.rc
) &
wait
equals "$(cat work1.rc)" 0 "work -j 1 exits 0"
contains "$(cat work1.err)" "restarting" "work -j 1 restarts once its only thread is stuck"
equals "$(sql "select group_concat(state || ':' || script, ' ') from (select s.state, s.script from task_state s order by id)")" \
  "dead:gc-2 dead:xpcall-2 dead:pattern-2 done:ok done:ok done:ok" "work -j 1: every task ended"
for d in xpcall gc pattern; do
  took=$(sql "select (a.ended_at - a.started_at) / 1e6 from attempts a join tasks t on t.id = a.task_id where t.script = '$d-2'")
  if [ $d = gc ]; then lo=$((2 + GRACE - 1)) hi=$((2 + GRACE + 3)); else lo=1.9 hi=$((2 + GRACE - 1)); fi
  within "$took" $lo $hi || fail "work $d: the attempt took ${took}s, want $lo-$hi"
  equals "$(sql "select a.outcome from attempts a join tasks t on t.id = a.task_id where t.script = '$d-2'")" timeout \
    "work $d: recorded as a timeout"
done
equals "$(sql "select count(*) from attempts")" 6 "work -j 1: one attempt per task, none lost or doubled"
expect_exit 0 "$DRUDGE" audit verify
equals "$(sql "select count(*) from steps where kind = 'task' and outcome = 'timeout'")" 3 "the chain has each timeout's root step"

export DRUDGE_DB="$TMP/work2.db"
equals "$(cat work2.rc)" 0 "work -j 2 exits 0"
case "$(cat work2.err)" in *restarting*) fail "work -j 2 restarted with a free worker" ;; *) pass ;; esac
contains "$(cat work2.err)" "so its worker thread was abandoned" "work -j 2 says it abandoned the thread"
equals "$(sql "select group_concat(state, ' ') from (select state from task_state order by id)")" \
  "dead done done done done dead dead" "work -j 2: every task ended"
equals "$(sql "select count(*) from attempts")" 7 "work -j 2: one attempt per task"
expect_exit 0 "$DRUDGE" audit verify

# 5. drudge cancel of each dodge under drudge work (timeout 60 s): cancelled,
#    the finalizer's after the grace; the worker then runs the next task.
export DRUDGE_DB="$TMP/work3.db"
"$DRUDGE" -q work -j 1 2>work3.err & pid=$!
for d in xpcall gc pattern; do
  "$DRUDGE" -q enqueue "$d-60.lua"
  id=$(sql "select max(id) from tasks")
  wait_sql "select state from task_state where id = $id" running ||
    fail "work: $d never started; the worker said: $(cat work3.err)"
  t0=$(now)
  "$DRUDGE" -q cancel "$id"
  for _ in $(seq $(((GRACE + 8) * 10))); do
    [ "$(sql "select state from task_state where id = $id")" = cancelled ] && break
    sleep 0.1
  done
  took=$(secs "$t0" "$(now)")
  equals "$(sql "select state from task_state where id = $id")" cancelled "work: $d cancelled"
  within "$took" 0 $((GRACE + 4)) || fail "work: cancelling $d took ${took}s"
  "$DRUDGE" -q enqueue ok.lua --input '{"n":9}'
  id=$(sql "select max(id) from tasks")
  wait_sql "select state from task_state where id = $id" done || fail "work: the task after $d did not run"
done
kill -TERM $pid
rc=0
wait $pid || rc=$?
equals "$rc" 0 "work: drains and exits 0 after the cancels"
equals "$(sql "select group_concat(outcome, ' ') from (select outcome from attempts order by task_id)")" \
  "cancelled done cancelled done cancelled done" "work: each cancel recorded, each next task done"
expect_exit 0 "$DRUDGE" audit verify
finish

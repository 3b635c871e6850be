#!/usr/bin/env bash
# I/O errors and a full disk at every write of a work turn (issue 24).
# tests/fault/sqlite_fault.c, preloaded, makes SQLite's Nth write fail
# (SQLite's own test-VFS approach). A fault-free run counts the writes a
# `drudge work` of 30 tasks makes; then, for every N up to that count, the
# same run from the same starting database with write N failing once
# (SQLITE_IOERR_WRITE: the writer retries the turn), and for a sample of N
# with the disk full from write N on (SQLITE_FULL, sticky: the worker gives
# up). After each, and a restart without faults once the lease expired:
# every task done exactly once (one attempt each, max_attempts = 1, so none
# lost or charged twice), nothing left running, one root step per task, and
# `drudge audit verify` passes.
source "$TESTS/lib.sh"
fault_shim
K=30
cat >noop.lua <<'LUA'
return { name = "noop", max_attempts = 1, run = function(task)
  step("work", function() return task.input.n end)
  return { n = task.input.n }
end }
LUA
seq 1 $K | awk '{ printf "{\"n\":%d}\n", $1 }' >items.jsonl
export DRUDGE_DB="$TMP/base.db"
"$DRUDGE" -q enqueue noop.lua --from items.jsonl
sqlite3 base.db "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
fresh() { rm -f run.db run.db-wal run.db-shm; cp base.db run.db; }
export DRUDGE_DB="$TMP/run.db" DRUDGE_FILES="$TMP/files"
mkdir -p files
faulty() { # ENV... : drudge work under the shim
  env LD_PRELOAD="$preload" "$@" "$DRUDGE" -q work -j 2 --until-empty --lease 1s
}
# check WHAT: after a restart without faults, every task done once
check() {
  local rc=0
  "$DRUDGE" -q work -j 2 --until-empty --lease 1s 2>restart.err || rc=$?
  cat restart.err >>recover.err
  local got
  got=$(sql "select (select count(*) from tasks where state = 'done'), (select count(*) from attempts),
    (select count(*) from attempts where outcome <> 'done'), (select count(*) from running),
    (select count(*) from steps where kind = 'task'), (select count(distinct task_id) from steps where kind = 'task')")
  if [ "$rc" = 0 ] && [ "$got" = "$K|$K|0|0|$K|$K" ] && "$DRUDGE" -q audit verify >/dev/null 2>&1; then
    pass
  else
    fail "$1: after a restart: exit $rc, done|attempts|not done|running|root steps|tasks = $got (want $K|$K|0|0|$K|$K)"$'\n'"its stderr: $(tail -5 restart.err)"$'\n'"audit verify: $("$DRUDGE" -q audit verify 2>&1 | tail -3)"
  fi
}

fresh
faulty DRUDGE_FAULT_COUNT="$TMP/writes" 2>/dev/null
W=$(cat writes)
[ "$W" -ge 20 ] || fail "a work run makes only $W writes?"
check "no fault"

failed_runs=0
for ((n = 1; n <= W; n++)); do
  fresh
  rc=0
  faulty DRUDGE_FAULT_AT=$n 2>>faults.err || rc=$?
  if [ "$rc" != 0 ]; then
    failed_runs=$((failed_runs + 1))
    sleep 1.1 # its lease
  fi
  check "I/O error at write $n of $W (exit $rc)"
done
contains "$(cat faults.err)" "disk I/O error (retrying)" "the writer retries a turn after an I/O error"
echo "transient faults at each of $W writes: $failed_runs runs gave up" >&2

# (A run's count of writes varies a little with the turns' timing: past
# the middle, the run may end before write n and exit 0.)
for n in 1 $((W / 4)) $((W / 2)) $((3 * W / 4)) $((W - 2)); do
  for e in full ioerr; do
    fresh
    rc=0
    faulty DRUDGE_FAULT_AT=$n DRUDGE_FAULT_ERR=$e DRUDGE_FAULT_STICKY=1 2>sticky.err || rc=$?
    if [ $n -le $((W / 2)) ]; then
      equals "$rc" 1 "a lasting $e from write $n: the worker gives up"
      case $e in
        full) contains "$(cat sticky.err)" "database $DRUDGE_DB: " "it names the database" ;;
      esac
      contains "$(cat sticky.err)" "$([ $e = full ] && echo "database or disk is full" || echo "disk I/O error")" \
        "it says what failed"
    fi
    equals "$(sql "select count(*) from tasks where state = 'dead'")" 0 "a lasting $e from write $n: nothing dead"
    sleep 1.1
    check "a lasting $e from write $n"
  done
done
finish

#!/usr/bin/env bash
# A drudge run reports its outcome only once it is on disk. Its last commit
# is not synced by itself: the fold of the WAL into the main file syncs it
# (drudge_store_sync), one fsync fewer. So a disk that stops flushing at
# any of a run's syncs (tests/fault/sqlite_fault.c, DRUDGE_FAULT_SYNC_AT,
# sticky) must make the run fail, never print an outcome; one that fails a
# single sync may let it succeed, and then its task must be done. Either
# way the database stays whole (audit verify).
source "$TESTS/lib.sh"
on_pg && { echo "skipped: SQLite's VFS"; exit 77; }
shim="$BUILD/tests/sqlite_fault.so"
[ -e "$shim" ] || { echo "skipped: no $shim"; exit 77; }
preload=$shim
if [ "${DRUDGE_SANITIZE:-}" = ON ]; then # the sanitizer's runtime must come first
  preload="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so):$shim"
fi
cat >hello.lua <<'LUA'
return { name = "hello", run = function(task)
  step("greet", function() return "hi" end)
  return { greeting = "hello" }
end }
LUA
export DRUDGE_DB="$TMP/base.db"
expect_exit 0 "$DRUDGE" -q run hello.lua # creates the database
fresh() { rm -f run.db run.db-wal run.db-shm; cp base.db run.db; }
export DRUDGE_DB="$TMP/run.db"
faulty() { env LD_PRELOAD="$preload" "$@" "$DRUDGE" -q run hello.lua; }

fresh
expect_exit 0 faulty DRUDGE_FAULT_SYNC_COUNT="$TMP/syncs"
S=$(cat syncs)
[ "$S" -ge 3 ] || fail "a run makes only $S syncs?"
equals "$(sql "select count(*) from tasks where state = 'done'")" "2" "no fault: done"

for ((n = 1; n <= S; n++)); do
  fresh
  expect_exit 1 faulty DRUDGE_FAULT_SYNC_AT=$n DRUDGE_FAULT_STICKY=1
  [ -z "$out" ] || fail "sync $n of $S failing on: an outcome printed: $out"
  contains "$err" "I/O error" "sync $n of $S failing on: the run says why"
  expect_exit 0 "$DRUDGE" -q audit verify
  fresh
  rc=0
  faulty DRUDGE_FAULT_SYNC_AT=$n >once.out 2>once.err || rc=$?
  if [ "$rc" = 0 ]; then
    equals "$(sql "select state from tasks order by id desc limit 1")" "done" \
      "sync $n failing once, the run succeeded: its task is done"
    contains "$(cat once.out)" '"greeting":"hello"' "sync $n failing once: the outcome printed"
  else
    [ ! -s once.out ] || fail "sync $n failing once, the run failed but printed: $(cat once.out)"
  fi
  expect_exit 0 "$DRUDGE" -q audit verify
done
finish

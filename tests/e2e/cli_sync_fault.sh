#!/usr/bin/env bash
# drudge run and drudge enqueue report their last commit (the outcome, the
# queued task) only once it is on disk. That commit is not synced by
# itself: the fold of the WAL into the main file syncs it
# (drudge_store_sync), one fsync fewer. So a disk that stops flushing at
# any of the command's syncs (tests/fault/sqlite_fault.c,
# DRUDGE_FAULT_SYNC_AT, sticky) must make it fail and print nothing; one
# that fails a single sync may let it succeed, and then what it printed
# must be in the database. Either way the database stays whole (audit
# verify).
source "$TESTS/lib.sh"
fault_shim
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

# sweep NAME WANT-OUT SQL WANT-SQL CMD...: CMD under each sync failing
sweep() {
  local name=$1 want_out=$2 query=$3 want_sql=$4 n rc
  shift 4
  fresh
  expect_exit 0 env LD_PRELOAD="$preload" DRUDGE_FAULT_SYNC_COUNT="$TMP/syncs" "$@"
  local S
  S=$(cat syncs)
  [ "$S" -ge 3 ] || fail "$name: makes only $S syncs?"
  for ((n = 1; n <= S; n++)); do
    fresh
    expect_exit 1 env LD_PRELOAD="$preload" DRUDGE_FAULT_SYNC_AT=$n DRUDGE_FAULT_STICKY=1 "$@"
    [ -z "$out" ] || fail "$name: sync $n of $S failing on: it printed: $out"
    contains "$err" "I/O error" "$name: sync $n of $S failing on: it says why"
    expect_exit 0 "$DRUDGE" -q audit verify
    fresh
    rc=0
    env LD_PRELOAD="$preload" DRUDGE_FAULT_SYNC_AT=$n "$@" >once.out 2>once.err || rc=$?
    if [ "$rc" = 0 ]; then
      contains "$(cat once.out)" "$want_out" "$name: sync $n failing once, it succeeded: it printed"
      equals "$(sql "$query")" "$want_sql" "$name: sync $n failing once, it succeeded: the database has it"
    else
      [ ! -s once.out ] || fail "$name: sync $n failing once, it failed but printed: $(cat once.out)"
    fi
    expect_exit 0 "$DRUDGE" -q audit verify
  done
}
sweep run '"greeting":"hello"' "select state from tasks order by id desc limit 1" done \
  "$DRUDGE" run hello.lua
sweep enqueue "enqueued task #2 of hello" "select count(*) from tasks where state = 'queued'" 1 \
  "$DRUDGE" enqueue hello.lua --input '{"n":1}'
finish

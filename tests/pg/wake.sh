#!/usr/bin/env bash
# LISTEN/NOTIFY: an idle `drudge work` starts a task soon after it is
# enqueued (by another process, as from another machine) and one scheduled
# for later soon after it is due, without polling hard; and two drudges
# opening a new database at once migrate it once (advisory lock).
source "$TESTS/lib.sh"
cat >now.lua <<'LUA'
return { name = "now", run = function(task) return true end }
LUA
# Two first opens at once: one migration.
"$DRUDGE" -q enqueue now.lua --input '{"first":1}' & p1=$!
"$DRUDGE" -q enqueue now.lua --input '{"first":2}' & p2=$!
wait $p1 && wait $p2 && pass || fail "concurrent first opens"
# each version once, every version up to the newest (no step run twice)
equals "$(sql "select count(*) = count(distinct version) and count(*) = max(version) from drudge_schema")" "t" "migrated once"
expect_exit 0 "$DRUDGE" -q work --until-empty

"$DRUDGE" -q work -j 1 >work.out 2>work.err & w=$!
sleep 2.5 # idle: its claims back off to the slow poll
# Each task's start is read once the task is done (started_at is written
# with its outcome): a fixed 0.6 s read a task not started yet as an empty
# value, which then counted as no delay at all, so that a worker that only
# polled (every 2 s when it has wake-ups) passed too. A poll's delay is
# spread over 0-2 s: the worst of five below 1 s is a wake-up (a poll would
# pass by chance 1 time in 32), with room for a loaded machine.
worst=-1000000000
for i in 1 2 3 4 5; do
  expect_exit 0 "$DRUDGE" -q enqueue now.lua --input "{\"n\":$i}"
  committed=$(date +%s%6N) # the enqueue has committed (and notified) by now
  wait_sql "select count(*) from tasks where input like '%\"n\":$i}%' and started_at is not null" 1 ||
    fail "task $i never ran"
  d=$(( $(sql "select started_at from tasks where input like '%\"n\":$i}%'") - committed ))
  [ "$d" -gt "$worst" ] && worst=$d
done
expect_exit 0 "$DRUDGE" -q enqueue now.lua --input '{"later":1}' --at +3s
wait_sql "select count(*) from tasks where input like '%later%' and started_at is not null" 1 ||
  fail "the task due later never ran"
kill -TERM $w
wait $w || fail "worker: $(cat work.err)"
# started_at is when the attempt began; created_at the enqueue, run_at when due
# started_at - (the moment the enqueue command had returned): an upper bound
# of commit to start; a load on the machine inflates it, hence the margin.
echo "enqueue (committed) to start: at most $((worst / 1000)) ms"
[ "$worst" -lt 1000000 ] && pass || fail "an idle worker took $((worst / 1000)) ms to start an enqueued task"
late=$(sql "select started_at - run_at from tasks where input like '%later%'")
echo "due to start: $((late / 1000)) ms"
[ "$late" -ge 0 ] && [ "$late" -lt 400000 ] && pass || fail "a task due later started $((late / 1000)) ms after its time"
finish

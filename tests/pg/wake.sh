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
equals "$(sql "select count(*) = count(distinct version) from drudge_schema")" "t" "each migration ran once"
expect_exit 0 "$DRUDGE" -q work --until-empty

"$DRUDGE" -q work -j 1 >work.out 2>work.err & w=$!
sleep 2.5 # idle: its claims back off to the slow poll
worst=-1000000000
for i in 1 2 3; do
  expect_exit 0 "$DRUDGE" -q enqueue now.lua --input "{\"n\":$i}"
  committed=$(date +%s%6N) # the enqueue has committed (and notified) by now
  sleep 0.6
  d=$(( $(sql "select started_at from tasks where input like '%\"n\":$i}%'") - committed ))
  [ "$d" -gt "$worst" ] && worst=$d
done
expect_exit 0 "$DRUDGE" -q enqueue now.lua --input '{"later":1}' --at +3s
sleep 4
kill -TERM $w
wait $w || fail "worker: $(cat work.err)"
# started_at is when the attempt began; created_at the enqueue, run_at when due
# started_at - (the moment the enqueue command had returned): an upper bound
# of commit to start; a load on the machine inflates it, hence the margin.
echo "enqueue (committed) to start: at most $((worst / 1000)) ms"
[ "$worst" -lt 250000 ] && pass || fail "an idle worker took $((worst / 1000)) ms to start an enqueued task"
late=$(sql "select started_at - run_at from tasks where input like '%later%'")
echo "due to start: $((late / 1000)) ms"
[ "$late" -ge 0 ] && [ "$late" -lt 400000 ] && pass || fail "a task due later started $((late / 1000)) ms after its time"
finish

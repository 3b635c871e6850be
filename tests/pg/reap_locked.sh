#!/usr/bin/env bash
# Two machines' writers reaping one dead worker's tasks at once: a reaper
# skips the rows of `running` another holds (FOR UPDATE SKIP LOCKED) and
# takes them at a later reap, instead of waiting for them. Two reapers that
# waited, each giving the tasks back one by one in its own order, deadlocked
# (pg.pg.fleet under ASan). Here psql holds one expired task's row as a
# second reaper would: the worker reaps and runs the other tasks meanwhile,
# and the held one once it is let go.
source "$TESTS/lib.sh"
cat >quick.lua <<'LUA'
return { name = "quick", run = function(task) return { n = task.input.n } end }
LUA
for i in 1 2 3 4 5 6; do echo "{\"n\":$i}"; done >items.jsonl
expect_exit 0 "$DRUDGE" -q enqueue quick.lua --from items.jsonl
# A machine claimed all six and vanished: no lease, never started.
sql "WITH d AS (DELETE FROM ready RETURNING task_id)
     INSERT INTO running(task_id, owner, claimed_at, started)
     SELECT task_id, 'ghost:1', $(date +%s%6N), false FROM d" >/dev/null
equals "$(sql "select count(*) from running where owner = 'ghost:1'")" 6 "the dead machine holds six claims"
held=$(sql "select min(task_id) from running")
(
  printf 'BEGIN;\nSELECT 1 FROM running WHERE task_id = %s FOR UPDATE;\n\\! touch held\n' "$held"
  while [ ! -e release ]; do sleep 0.1; done
  echo "COMMIT;"
) | "$PSQL" -qAtX "$DRUDGE_DB" >/dev/null &
holder=$!
wait_until 60 test -e held || fail "psql never took the row's lock"
"$DRUDGE" -q work -j 1 --backoff-base 0 2>work.err & w=$!
wait_sql "select count(*) from tasks where state = 'done'" 5 ||
  fail "the five tasks nobody held were not reaped and run while one row was locked: $(sql "select count(*) from tasks where state = 'done'") done; $(cat work.err)"
equals "$(sql "select count(*) from running where owner = 'ghost:1' and task_id = $held")" 1 "the held task is left to a later reap"
touch release
wait $holder
wait_sql "select count(*) from tasks where state = 'done'" 6 || fail "the held task was not reaped and run once let go"
kill -TERM $w
wait $w || fail "worker: $(cat work.err)"
equals "$(sql "select count(*) from attempts")" 6 "one attempt each: given back unspent, then run once"
expect_exit 0 "$DRUDGE" audit verify
finish

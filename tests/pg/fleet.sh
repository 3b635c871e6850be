#!/usr/bin/env bash
# A fleet on one PostgreSQL database: three `drudge work` processes stand
# for three machines (each its own lease owner). One is killed with kill -9
# mid-run; one is frozen with SIGSTOP past its lease, its tasks reaped and
# run by the others, then resumed: its stale outcomes must be refused. Every
# task ends exactly once, attempts add up, the one audit chain verifies, and
# a schedule with five due ticks seen by every scheduler enqueues five tasks.
source "$TESTS/lib.sh"
N=${N:-400}
cat >busy.lua <<'LUA'
return { name = "busy", max_attempts = 10, run = function(task)
  local c = os.clock()
  while os.clock() - c < 0.02 do end
  step("work", function() end)
  return { n = task.input.n }
end }
LUA
cat >tick.lua <<'LUA'
return { name = "tick", run = function(task) return true end }
LUA
for i in $(seq "$N"); do echo "{\"n\":$i}"; done >items.jsonl
expect_exit 0 "$DRUDGE" -q enqueue busy.lua --from items.jsonl
expect_exit 0 "$DRUDGE" -q schedule add every --cron "* * * * *" tick.lua --catch-up all
sql "update schedules set last_tick = last_tick - 300000000" >/dev/null # five ticks due

work() { "$DRUDGE" -q --json work -j 2 --lease 2s --backoff-base 0 >"$1.json" 2>"$1.err" & }
work a; a=$!
work b; b=$!
work c; c=$!
done_count() { sql "select count(*) from tasks where state = 'done' and script = 'busy'"; }
wait_done() { # COUNT SECONDS
  for _ in $(seq $(($2 * 10))); do [ "$(done_count)" -ge "$1" ] && return 0; sleep 0.1; done
  return 1
}
wait_done 40 60 || fail "the fleet did not start"
kill -9 $a # a machine dies mid-run
wait $a 2>/dev/null || true
held=$(sql "select count(*) from running r join leases l on l.owner = r.owner")
kill -STOP $b # a machine stalls past its lease...
sleep 5
kill -CONT $b # ... and wakes: whatever it finishes now is no longer its own
wait_done "$N" 120 || fail "not every task finished: $(done_count) of $N"
kill -TERM $b $c
wait $b || fail "worker b: $(cat b.err)"
wait $c || fail "worker c: $(cat c.err)"

equals "$(done_count)" "$N" "every task done"
equals "$(sql "select count(*) from attempts a join tasks t on t.id = a.task_id where a.outcome = 'done' and t.script = 'busy'")" "$N" "each done exactly once"
equals "$(sql "select count(*) from (select task_id from attempts where outcome = 'done' group by task_id having count(*) > 1) x")" 0 "no task done twice"
equals "$(sql "select count(*) from tasks t where attempts <> (select count(*) from attempts a where a.task_id = t.id)")" 0 "attempts add up"
# Reaped: as lost attempts if they had run a second (these take 20 ms), else
# given back unspent (schema v7: a claim is not an attempt until it starts).
lost=$(sql "select count(*) from attempts where outcome = 'lost'")
given=$(python3 -c 'import json,sys; print(sum(json.load(open(f))["given_back"] for f in sys.argv[1:]))' b.json c.json)
[ $((lost + given)) -ge 1 ] && pass || fail "the killed and the stalled worker's tasks were reaped (lost: $lost, given back: $given, held at the kill: $held)"
refused=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["lost_results"])' b.json)
[ "$refused" -ge 1 ] && pass || fail "the stalled worker's stale outcomes were refused (lost_results: $refused; $(cat b.json))"
contains "$(cat b.err)" "the lease was lost before the outcome was recorded" "the stalled worker says so"
equals "$(sql "select count(*) from steps where seq = 1 and outcome = 'done' and name = 'busy'")" "$N" "one root step per done attempt on the chain"
equals "$(sql "select count(distinct origin) from steps where kind <> 'operator'")" 3 "rows name the machine and process that wrote them"
equals "$(sql "select count(*) from steps where kind = 'operator' and origin is null")" 0 "an operator's rows name theirs too"
equals "$(sql "select count(*) from steps where kind = 'operator' and name = 'schedule add'")" 1 "the schedule add is an operator step"
expect_exit 0 "$DRUDGE" audit verify
contains "$out" "ok: " "the fleet's chain verifies"
# five ticks were due at the start; a minute may have turned since
equals "$(sql "select count(*) - count(distinct key), case when count(*) between 5 and 7 then 'ok' end from tasks where schedule = 'every'")" "0|ok" "each due tick enqueued once by three schedulers"
equals "$(sql "select count(*) from running")" 0 "nothing left running"
finish

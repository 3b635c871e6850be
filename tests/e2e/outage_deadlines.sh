#!/usr/bin/env bash
# Deadlines (issue #20): claims take the tasks with a deadline first within
# a priority, nearest first; status, show, tasks, the report and /metrics
# count met, pending, at-risk and missed deadlines and say why; a deadline
# missed while a target of the script was down is put down to the outage,
# from a real outage (the script's outage() opens the breaker, a probe
# closes it) and from a fixed database.
source "$TESTS/lib.sh"

cat >order.lua <<'LUA'
return { name = "order", deadline = "4h", run = function(task) return task.input end }
LUA
# Bad input: a deadline that is not one.
cat >badrule.lua <<'LUA'
return { name = "badrule", deadline = "soon", run = function() end }
LUA
expect_exit 6 "$DRUDGE" enqueue badrule.lua
contains "$err" "deadline 'soon' is not a duration" "a bad script deadline is named"
expect_exit 2 "$DRUDGE" enqueue order.lua --deadline tomorrowish
contains "$err" "--deadline 'tomorrowish'" "a bad --deadline is named"

# ---- ordering ----
# Same priority: C (+1h) before B (+3h) before D (the script's 4h) before
# A (none, though it is older than C and D); E has a higher priority and
# goes first.
# A is queued by name, so without the script file's default deadline.
expect_exit 0 "$DRUDGE" enqueue order.lua --input '"B"' --deadline +3h
expect_exit 0 "$DRUDGE" enqueue order --input '"A"'
expect_exit 0 "$DRUDGE" enqueue order.lua --input '"C"' --deadline +1h
expect_exit 0 "$DRUDGE" enqueue order.lua --input '"D"'
expect_exit 0 "$DRUDGE" enqueue order.lua --input '"E"' --priority 5
# The script's default is 4 h from now (within a minute of it).
equals "$(sql "SELECT deadline - created_at BETWEEN 14340000000 AND 14460000000 FROM tasks
               WHERE input = '\"D\"'")" "$(on_pg && echo t || echo 1)" "the script's deadline: 4h"
expect_exit 0 "$DRUDGE" work --until-empty -j1 --prefetch 1
equals "$(sql "SELECT string_agg(output, ' ' ORDER BY started_at) FROM tasks" 2>/dev/null ||
          sql "SELECT group_concat(output, ' ') FROM (SELECT output FROM tasks ORDER BY started_at)")" \
  '"E" "C" "B" "D" "A"' "claims: priority, then nearest deadline, then the rest"

# Bulk loads take each row's deadline from a field; an empty one takes the
# script's; a bad one names the line.
printf 'ref,due\nr1,2030-01-02T10:00Z\nr2,\n' >due.csv
expect_exit 0 "$DRUDGE" enqueue order.lua --from due.csv --key-field ref --deadline-field due
equals "$(sql "SELECT key, deadline IS NOT NULL FROM tasks WHERE key IS NOT NULL ORDER BY key" | tr '\n' ' ')" \
  "$(on_pg && echo 'r1|t r2|t ' || echo 'r1|1 r2|1 ')" "deadline_field: both rows have one"
equals "$(sql "SELECT deadline FROM tasks WHERE key = 'r1'")" "1893578400000000" "r1's deadline as written"
printf 'ref,due\nr3,next tuesday\n' >bad.csv
expect_exit 2 "$DRUDGE" enqueue order.lua --from bad.csv --key-field ref --deadline-field due
contains "$err" "bad.csv:2: deadline field 'due': 'next tuesday'" "a bad deadline names the line"
expect_exit 2 "$DRUDGE" enqueue order.lua --from bad.csv --deadline-field when
contains "$err" "--deadline-field when: no such column" "a missing column is named"
sql "DELETE FROM tasks" >/dev/null
on_pg && sql "DELETE FROM ready" >/dev/null

# ---- a real outage: the deadline passes while the target is down ----
# cms.test is a local web server whose page says "maintenance" until the
# test changes it; the script declares the outage when it sees that.
PORT=$(free_port)
mkdir site && echo "scheduled maintenance" >site/index.html
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory site >http.log 2>&1 &
hpid=$!
trap 'kill $hpid 2>/dev/null || true' EXIT
wait_port "$PORT"
cat >cms.lua <<LUA
local http = require "drudge.http"
return { name = "cms", targets = { cms = "127.0.0.1:$PORT" },
  run = function(task)
    local r = http.get("http://127.0.0.1:$PORT/")
    if r.body:find("maintenance", 1, true) then outage("cms", "maintenance page") end
    return { ok = true }
  end }
LUA
# Once the breaker is open, the deadline is set 1 s away; the site comes
# back 3 s later (so the deadline passes inside the outage however slowly
# the worker started).
expect_exit 0 "$DRUDGE" enqueue cms.lua --input 0 --deadline +1h
"$DRUDGE" work --until-empty --breaker-probe 1s --breaker-probe-max 1s >work.out 2>&1 &
wpid=$!
# (up to 60 s: a loaded machine starts a worker on PostgreSQL slowly)
for _ in $(seq 600); do [ "$(sql "SELECT count(*) FROM breakers")" = 1 ] && break; sleep 0.1; done
equals "$(sql "SELECT count(*) FROM breakers")" "1" "the breaker opens on the maintenance page"
sql "UPDATE tasks SET deadline = $(python3 -c 'import time; print(int(time.time() * 1e6) + 1000000)')" >/dev/null
sleep 3
echo "welcome" >site/index.html
wstatus=0
wait "$wpid" || wstatus=$?
equals "$wstatus" "0" "work ends once the target is back"
equals "$(sql "SELECT state FROM tasks")" "done" "the task is done after the outage"
equals "$(sql "SELECT count(*) FROM outages WHERE ended_at IS NOT NULL")" "1" "one outage, closed"
expect_exit 0 "$DRUDGE" --json tasks
equals "$(python3 -c 'import json,sys; t=json.loads(sys.argv[1])[0]; print(t["deadline_status"], t["deadline_why"], t["deadline_outage"])' "$out")" \
  "missed outage 127.0.0.1:$PORT" "tasks --json: missed, because of the outage of the site"
expect_exit 0 "$DRUDGE" show "$(sql "SELECT id FROM tasks")"
contains "$out" ": outage of 127.0.0.1:$PORT" "show: missed because of the outage"
sql "DELETE FROM tasks" >/dev/null
sql "DELETE FROM outages" >/dev/null
sql "DELETE FROM script_targets" >/dev/null
sql "INSERT INTO script_targets(target, script, declared) VALUES ('cms.test', 'cms', 1)" >/dev/null

# ---- counts on a fixed database ----
# cms uses cms.test, down from now-2h to now-1h. Six tasks of cms:
#   1 done before its deadline                 met
#   2 done after it                            missed, queue
#   3 failed, deadline passed                  missed, failure
#   4 queued, deadline in the outage           missed, outage
#   5 queued, deadline in 30 min               at risk, queue
#   6 queued, deadline in 5 h                  pending
# and 7, cancelled with a passed deadline: left out.
for i in 1 2 3 4 5 6 7; do
  expect_exit 0 "$DRUDGE" enqueue cms --input "$i" --at +1d
done
NOW=$(python3 -c 'import time; print(int(time.time() * 1e6))')
H=3600000000
sql "UPDATE tasks SET deadline = $NOW - 3 * $H WHERE input = '1' OR input = '2' OR input = '3'" >/dev/null
sql "UPDATE tasks SET state = 'done', finished_at = $NOW - 4 * $H WHERE input = '1'" >/dev/null
sql "UPDATE tasks SET state = 'done', finished_at = $NOW - 2 * $H WHERE input = '2'" >/dev/null
sql "UPDATE tasks SET state = 'failed', finished_at = $NOW - 4 * $H, spent = 1 WHERE input = '3'" >/dev/null
sql "UPDATE tasks SET deadline = $NOW - 5400000000 WHERE input = '4'" >/dev/null
sql "UPDATE tasks SET deadline = $NOW + 1800000000 WHERE input = '5'" >/dev/null
sql "UPDATE tasks SET deadline = $NOW + 5 * $H WHERE input = '6'" >/dev/null
sql "UPDATE tasks SET deadline = $NOW - $H, state = 'cancelled', finished_at = $NOW WHERE input = '7'" >/dev/null
sql "INSERT INTO outages(target, started_at, opened_at, ended_at, trigger) VALUES
     ('cms.test', $NOW - 2 * $H, $NOW - 2 * $H, $NOW - $H, 'maintenance page')" >/dev/null

expect_exit 0 "$DRUDGE" --json status
equals "$(python3 -c '
import json, sys
d = json.loads(sys.argv[1])["deadlines"]["all"]
print(d["total"], d["met"], d["pending"], d["at_risk"], d["missed"], d["missed_by"]["outage"],
      d["missed_by"]["failure"], d["missed_by"]["queue"], d["at_risk_by"]["queue"])' "$out")" \
  "6 1 1 1 3 1 1 1 1" "status --json: total met pending at-risk missed, missed by outage failure queue"
expect_exit 0 "$DRUDGE" status
contains "$out" "DEADLINES" "status: the deadline table"
contains "$out" "1 missed during an outage of cms.test" "status: the outage named"
expect_exit 0 "$DRUDGE" --json report
equals "$(python3 -c '
import json, sys
d = json.loads(sys.argv[1])["deadlines"]
print(d["total"], d["met"], d["at_risk"], d["missed"], d["missed_by"]["outage"])' "$out")" \
  "6 1 1 3 1" "report --json: the same counts"
expect_exit 0 "$DRUDGE" report
contains "$out" "Deadlines: 6 in range; 1 met, 1 pending, 1 at risk, 3 missed (outage 1, failure 1, queue 1); outages of cms.test" "report: text"
expect_exit 0 "$DRUDGE" report --format html -o r.html
contains "$(cat r.html)" "6 tasks with a deadline in range: 1 met, 1 pending, 1 at risk, 3 missed" "report: html"
expect_exit 0 "$DRUDGE" metrics
contains "$out" 'drudge_deadline_missed{script="cms",why="outage"} 1' "metrics: missed by outage"
contains "$out" 'drudge_deadline_tasks{script="cms",status="at_risk"} 1' "metrics: at risk"
expect_exit 0 "$DRUDGE" tasks
contains "$out" "deadline at risk (queue)" "tasks: the at-risk task says so"
# The same classes as a filter (both engines' SQL, the rules of deadline.h).
for st in met missed at-risk pending; do
  expect_exit 0 "$DRUDGE" --json tasks --deadline "$st"
  got=$(python3 -c 'import json,sys; print(",".join(sorted(str(t["input"]) for t in json.loads(sys.argv[1]))))' "$out")
  case $st in
    met) want=1 ;; missed) want=2,3,4 ;; at-risk) want=5 ;; pending) want=6 ;;
  esac
  equals "$got" "$want" "tasks --deadline $st"
done
expect_exit 0 "$DRUDGE" --json tasks --deadline missed --script cms --state failed
equals "$(python3 -c 'import json,sys; print([str(t["input"]) for t in json.loads(sys.argv[1])])' "$out")" "['3']" "--deadline with other filters"
expect_exit 2 "$DRUDGE" tasks --deadline late
contains "$err" "--deadline 'late': use met, missed, at-risk or pending" "a bad --deadline is named"

finish

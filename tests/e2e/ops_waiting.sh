#!/usr/bin/env bash
# Why a queued task waits, and until when (issue 22): not due, a retry's
# delay, a closed run window, a paused script; in show (text and --json),
# tasks, status (counts per reason) and /metrics, whose oldest-due gauge
# counts only tasks a worker could claim now, so that the README's alert
# (drudge_queue_oldest_due_seconds > 3600) does not fire for a paused
# backlog or a closed window, and does for a ready one.
source "$TESTS/lib.sh"
PARSE="/usr/bin/python3 $TESTS/e2e/ops_promparse.py"
me=$(id -un)

# A window that opens two hours from now (UTC, daily), so it is closed now
# whatever the time the test runs.
h=$(date -u +%H); h=$((10#$h))
open=$(((h + 2) % 24)); close=$(((h + 3) % 24))
window=$(printf '%02d:00-%02d:00 UTC' "$open" "$close")
opens=$(date -u -d @$((($(date +%s) / 3600 + 2) * 3600)) +%Y-%m-%dT%H:%M:%S)

cat >ok.lua <<'LUA'
return { name = "ok", run = function(task) return {} end }
LUA
cat >win.lua <<LUA
return { name = "win", window = "$window", run = function(task) return {} end }
LUA
cat >flaky.lua <<'LUA'
return { name = "flaky", max_attempts = 3, run = function(task) error("the service is down") end }
LUA
two_hours_ago=$(date -u -d '-2 hours' +%Y-%m-%dT%H:%M:%SZ)
in_two_hours=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)

expect_exit 0 "$DRUDGE" enqueue win.lua --key w1 --at "$two_hours_ago"          # 1: window
expect_exit 0 "$DRUDGE" enqueue ok.lua --key later --at "$in_two_hours"         # 2: not due
expect_exit 0 "$DRUDGE" enqueue flaky.lua --key f1                             # 3: backoff
expect_exit 0 "$DRUDGE" work --until-empty --script flaky --backoff-base 1h -q
equals "$(sql "select state || ' ' || attempts from tasks where id = 3")" "queued 1" "one attempt, retry later"

# show: the reason and the until
expect_exit 0 "$DRUDGE" show 1
contains "$out" "waiting      outside its run window ($window) until ${opens}Z" "window: until it opens"
expect_exit 0 "$DRUDGE" --json show 1
contains "$out" "\"waiting\":{\"reason\":\"window\",\"until\":\"${opens}.000000Z\"" "window as JSON"
expect_exit 0 "$DRUDGE" show 2
contains "$out" "waiting      not due yet until ${in_two_hours}" "not due: until run_at"
expect_exit 0 "$DRUDGE" --json show 2
contains "$out" "\"reason\":\"not_due\",\"until\":\"${in_two_hours%Z}.000000Z\"" "not due as JSON"
expect_exit 0 "$DRUDGE" show 3
contains "$out" "waiting      waiting to be retried until " "backoff"
expect_exit 0 "$DRUDGE" --json show 3
contains "$out" '"reason":"backoff"' "backoff as JSON"

# A paused backlog, due two hours ago.
for k in p1 p2 p3; do expect_exit 0 "$DRUDGE" enqueue ok.lua --key $k --at "$two_hours_ago"; done
expect_exit 0 "$DRUDGE" pause ok
expect_exit 0 "$DRUDGE" show 4
contains "$out" "waiting      its script is paused, by $me since " "paused: by whom, since when"
expect_exit 0 "$DRUDGE" --json show 4
contains "$out" "\"reason\":\"paused\",\"until\":null,\"paused_by\":\"$me\",\"paused_at\":\"" "paused as JSON"
expect_exit 0 "$DRUDGE" --json show 3
expect_exit 0 "$DRUDGE" show 2
contains "$out" "its script is paused" "a paused script holds its not-yet-due tasks too"

# tasks: a column, and a filter by reason
expect_exit 0 "$DRUDGE" tasks
contains "$out" "paused by $me" "tasks: paused"
contains "$out" "window, in " "tasks: window"
contains "$out" "backoff, in " "tasks: backoff"
expect_exit 0 "$DRUDGE" --json tasks --waiting paused
equals "$(printf '%s' "$out" | grep -o '"id":[0-9]*' | tr '\n' ' ')" '"id":6 "id":5 "id":4 "id":2 ' "tasks --waiting paused"
expect_exit 0 "$DRUDGE" --json tasks --waiting window
equals "$(printf '%s' "$out" | grep -o '"id":[0-9]*' | tr '\n' ' ')" '"id":1 ' "tasks --waiting window"
expect_exit 2 "$DRUDGE" tasks --waiting sleepy
contains "$err" "--waiting 'sleepy': use ready, paused, breaker, backoff, not_due or window" "unknown reason"
expect_exit 2 "$DRUDGE" tasks --waiting paused --state done
contains "$err" "--waiting applies to queued tasks only" "reason with another state"

# status: counts per reason
expect_exit 0 "$DRUDGE" --json status
contains "$out" '"script":"ok","paused":true,' "status: paused"
contains "$out" '"waiting":{"ready":0,"paused":4,"breaker":0,"backoff":0,"not_due":0,"window":0}' "status: ok's reasons"
contains "$out" '"waiting":{"ready":0,"paused":0,"breaker":0,"backoff":0,"not_due":0,"window":1},"waiting_until":{"window":"' "status: win's reasons"
contains "$out" '"waiting":{"ready":0,"paused":4,"breaker":0,"backoff":1,"not_due":0,"window":1}' "status: total"
expect_exit 0 "$DRUDGE" status
contains "$out" "WAITING" "status: the reasons table"

# metrics: the paused backlog and the closed window do not trip the alert
expect_exit 0 "$DRUDGE" metrics
printf '%s\n' "$out" >metrics.txt
if grep -q '^drudge_queue_oldest_due_seconds{' metrics.txt; then
  fail "held tasks counted as due: $(grep '^drudge_queue_oldest_due_seconds' metrics.txt)"
else pass; fi
check=$($PARSE metrics.txt \
  'drudge_queue_waiting_tasks{script="ok",reason="paused"}=4' \
  'drudge_queue_waiting_tasks{script="win",reason="window"}=1' \
  'drudge_queue_waiting_tasks{script="flaky",reason="backoff"}=1' \
  'drudge_queue_waiting_tasks{script="ok",reason="ready"}=0' 2>&1) && pass || fail "metrics: $check"
held=$(sed -n 's/^drudge_queue_oldest_held_seconds{script="ok",reason="paused"} //p' metrics.txt)
[ "${held%.*}" -ge 7100 ] && pass || fail "oldest held (paused): '$held'"
contains "$out" 'drudge_queue_oldest_held_seconds{script="win",reason="window"} ' "oldest held (window)"

# resumed, the same backlog is ready and old: the alert fires.
expect_exit 0 "$DRUDGE" resume ok
expect_exit 0 "$DRUDGE" metrics
due=$(printf '%s\n' "$out" | sed -n 's/^drudge_queue_oldest_due_seconds{script="ok"} //p')
[ -n "$due" ] && [ "${due%.*}" -ge 7100 ] && pass || fail "a ready backlog two hours due: '$due'"
expect_exit 0 "$DRUDGE" show 4
contains "$out" "waiting      ready: a worker may claim it now" "ready"

# breaker: a script says its target is down; its other tasks wait for the
# breaker's probe, and say so.
cat >cms.lua <<'LUA'
return { name = "cms", targets = { cms = "cms.example.org" },
  run = function(task) outage("cms", "maintenance page") end }
LUA
expect_exit 0 "$DRUDGE" enqueue cms.lua --input '{"n":1}'
expect_exit 0 "$DRUDGE" enqueue cms.lua --input '{"n":2}'
held_id=$(sql "select max(id) from tasks")
# (--until-empty would wait for the probe: a held backlog is not done)
"$DRUDGE" -q work -j 1 --script cms --breaker-probe 1h & wpid=$!
wait_sql "select count(*) from breakers" 1 || fail "the breaker did not open"
kill -TERM $wpid
wait $wpid || true
expect_exit 0 "$DRUDGE" show "$held_id"
contains "$out" "held by the open circuit breaker of cms.example.org" "breaker: show"
expect_exit 0 "$DRUDGE" --json status
contains "$out" '"breaker":2' "breaker: status counts both tasks"

finish

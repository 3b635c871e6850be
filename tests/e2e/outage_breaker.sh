#!/usr/bin/env bash
# A target system goes down for 20 s in the middle of a 500-task backlog
# worked by two `drudge work` processes (issue #20): its circuit breaker
# opens within a few failed calls, shared by both processes through the
# database; no task goes dead; the backlog finishes once the target is back;
# exactly one outage row, with the right start and end; the attempts spent
# during it are few; opening and closing are on the audit chain.
source "$TESTS/lib.sh"

DOWN_FOR=20
"$TESTS/fixtures/outage_target.py" "$TMP" 150 "$DOWN_FOR" 20 &
target_pid=$!
trap 'kill $target_pid 2>/dev/null || true' EXIT
wait_until 60 test -s "$TMP/port" || true
port=$(cat "$TMP/port")

cat >cms.lua <<LUA
local http = require "drudge.http"
return {
  name = "cms", max_attempts = 3,
  run = function(task)
    local r = http.get("http://127.0.0.1:$port/case/" .. task.input.n, { raise = true })
    return { status = r.status }
  end,
}
LUA
seq 1 500 | awk 'BEGIN { print "n" } { print }' >backlog.csv
expect_exit 0 "$DRUDGE" enqueue cms.lua --from backlog.csv
contains "$out" "enqueued 500 tasks" "backlog"

# Two processes, two workers each; quick probes so the test is short. The
# retry delay is short too: without a breaker the tasks would spend their
# three attempts in well under the outage and go dead.
work() {
  "$DRUDGE" work -j 2 --until-empty --backoff-base 300ms --backoff-cap 1s \
    --breaker-errors 5 --breaker-probe 1s --breaker-probe-max 4s --json \
    >"$TMP/work$1.json" 2>"$TMP/work$1.err"
}
work 1 &
w1=$!
work 2 &
w2=$!
set +e
wait $w1; rc1=$?
wait $w2; rc2=$?
set -e
equals "$rc1/$rc2" "0/0" "both workers exit 0 (stderr: $(cat "$TMP/work1.err" "$TMP/work2.err"))"

equals "$(sql "SELECT state, count(*) FROM tasks GROUP BY state")" "done|500" \
  "every task done, none dead"
equals "$(sql "SELECT count(*) FROM outages")" "1" "exactly one outage"
equals "$(sql "SELECT count(*) FROM breakers")" "0" "no breaker left open"

down_at=$(cat "$TMP/down_at")
up_at=$(cat "$TMP/up_at")
IFS='|' read -r started opened ended spent probes held <<<"$(sql \
  "SELECT started_at, opened_at, ended_at, attempts_spent, probes, tasks_held FROM outages")"
echo "target down $down_at .. $up_at; outage $started (opened $opened) .. $ended;" \
  "spent $spent, probes $probes, held $held"
# Start: the first failed call, at most a second after the target went down
# (a call then in flight gets its 503 later).
[ "$started" -ge "$down_at" ] && [ "$started" -le $((down_at + 1000000)) ] && pass ||
  fail "outage start $started is not within 1 s after the target went down at $down_at"
# End: the probe that got through, after the target came back and at most
# the longest probe interval (4 s) and a turn later.
[ "$ended" -ge "$up_at" ] && [ "$ended" -le $((up_at + 5500000)) ] && pass ||
  fail "outage end $ended is not within 5.5 s after the target came back at $up_at"
# Attempts spent: each process counts its own errors to 5 (the fifth, which
# opens, is given back), so at most 2 x 4 system errors are charged, plus a
# call or two in flight.
[ "$spent" -le 10 ] && pass || fail "attempts spent during the outage: $spent, want <= 10"
[ "$probes" -ge 2 ] && pass || fail "probes: $probes, want >= 2 over a 20 s outage"
[ "$held" -ge 200 ] && pass || fail "tasks held: $held, want >= 200 (the rest of the backlog)"
charged=$(sql "SELECT count(*) FROM attempts WHERE outcome IN ('error','timeout','lost')")
[ "$charged" = "$spent" ] && pass || fail "the charged attempts are those of the outage:" \
  "$charged charged, $spent in the outage; outside it: $(sql "SELECT task_id, outcome, \
  ended_at FROM attempts WHERE outcome IN ('error','timeout','lost') \
  AND (ended_at < $started OR ended_at > $ended)")"

# Both processes held: after the breaker opened (and a second for the other
# process to read it), the target saw only probes: one 503 per probe at most.
late=$(awk -v t=$((opened + 1500000)) '$2 == 503 && $1 > t' "$TMP/log" | wc -l)
echo "503 answers: $(awk '$2 == 503' "$TMP/log" | wc -l) in all, $late after the breaker opened"
[ "$late" -le "$probes" ] && pass ||
  fail "$late calls reached the down target after both workers knew, with $probes probes"
total503=$(awk '$2 == 503' "$TMP/log" | wc -l)
[ "$total503" -le 25 ] && pass || fail "$total503 calls hit the down target, want <= 25"

# Neither process spent the held tasks' attempts: no task needed a third.
equals "$(sql "SELECT CASE WHEN max(spent) <= 2 THEN 1 ELSE 0 END FROM tasks")" "1" "no task near its last attempt"

# The record: drudge outages, text and JSON; the chain has both steps.
expect_exit 0 "$DRUDGE" outages
contains "$out" "127.0.0.1:$port" "outages lists the target"
contains "$out" "HTTP 503" "outages says what triggered it"
expect_exit 0 "$DRUDGE" --json outages
contains "$out" "\"target\":\"127.0.0.1:$port\",\"open\":false" "outages --json"
contains "$out" "\"attempts_spent\":$spent" "outages --json: attempts spent"
equals "$(sql "SELECT name FROM steps WHERE kind = 'operator' ORDER BY id" | tr '\n' ,)" \
  "breaker open,breaker close," "opening and closing on the audit chain"
expect_exit 0 "$DRUDGE" audit verify
expect_exit 0 "$DRUDGE" outages --since +1h
contains "$out" "no outages on record" "--since after it ended"
expect_exit 0 "$DRUDGE" status
equals "$(grep -c DOWN <<<"$out" || true)" "0" "status: no target down"

# Metrics: the target is up, one outage, its seconds from start to end.
expect_exit 0 "$DRUDGE" metrics
contains "$out" "drudge_target_down{target=\"127.0.0.1:$port\"} 0" "metrics: target up"
contains "$out" "drudge_target_outages_total{target=\"127.0.0.1:$port\"} 1" "metrics: one outage"
secs=$(sed -n "s/^drudge_outage_seconds_total{target=\"127.0.0.1:$port\"} //p" <<<"$out")
equals "$(awk -v s="$secs" -v d=$((ended - started)) 'BEGIN { print (s * 1e6 - d < 2 && d - s * 1e6 < 2) ? "ok" : s " s vs " d " us" }')" \
  "ok" "metrics: outage seconds = end - start"

finish

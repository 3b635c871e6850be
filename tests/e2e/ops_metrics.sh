# drudge metrics: Prometheus text parsed back; /metrics served over HTTP
# (drudge_metrics_serve through a fixture, and `drudge work --metrics-listen`).
source "$TESTS/lib.sh"
PARSE="/usr/bin/python3 $TESTS/e2e/ops_promparse.py"

cat >"$TMP/ok.lua" <<'LUA'
return { name = "log-email", manual_minutes = 4, exception_minutes = 6,
  run = function(task)
    step("look up", function() return 1 end)
    if task.input.bad then fail("no such case: " .. task.input.ref) end
    return { ok = true }
  end }
LUA
expect_exit 0 "$DRUDGE" run "$TMP/ok.lua" --input '{"ref":"A"}' -q
expect_exit 0 "$DRUDGE" run "$TMP/ok.lua" --input '{"ref":"B"}' -q
expect_exit 3 "$DRUDGE" run "$TMP/ok.lua" --input '{"ref":"C\"q","bad":true}' -q
# A queued task of a script with an awkward name (label escaping).
now=$(date +%s%6N)
sql "insert into tasks(script, script_path, state, run_at, max_attempts, created_at)
     values ('we\"ird\\name', '/x.lua', 'queued', $now - 5000000, 3, $now)"
expect_exit 0 "$DRUDGE" schedule add nightly --cron "0 19 * * *" "$TMP/ok.lua" --tz Europe/London --input '{"ref":"S"}'

expect_exit 0 "$DRUDGE" metrics
printf '%s\n' "$out" >"$TMP/metrics.txt"
check=$($PARSE "$TMP/metrics.txt" \
  'drudge_tasks{script="log-email",state="done"}=2' \
  'drudge_tasks{script="log-email",state="failed"}=1' \
  'drudge_tasks{script="log-email",state="queued"}=0' \
  'drudge_tasks{script="we\"ird\\name",state="queued"}=1' \
  'drudge_attempts_total{script="log-email",outcome="done"}=2' \
  'drudge_attempts_total{script="log-email",outcome="failed"}=1' \
  'drudge_step_duration_seconds_count{kind="step"}=3' \
  'drudge_step_duration_seconds_count{kind="task"}=3' \
  'drudge_time_saved_minutes{script="log-email"}=2' \
  'drudge_manual_minutes_total{script="log-email"}=8' \
  'drudge_exception_minutes_total{script="log-email"}=6' \
  'drudge_schedule_paused{schedule="nightly"}=0' 2>&1) && pass || fail "metrics: $check"
contains "$out" "# TYPE drudge_step_duration_seconds histogram" "histogram type"
contains "$out" 'drudge_queue_oldest_due_seconds{script="we\"ird\\name"} ' "oldest due"
contains "$out" 'drudge_schedule_next_fire_timestamp_seconds{schedule="nightly"} ' "next fire"
expect_exit 2 "$DRUDGE" metrics --frob
expect_exit 0 "$DRUDGE" help metrics
contains "$out" "Prometheus" "metrics help"

# Served over HTTP by drudge_metrics_serve, from its own read-only connection.
port=$(free_port)
"$BUILD/tests/ops_serve" "$DRUDGE_DB" "127.0.0.1:$port" >"$TMP/serve.out" 2>&1 &
serve_pid=$!
work_pid=
trap 'kill $serve_pid $work_pid 2>/dev/null || true; wait 2>/dev/null || true' EXIT
wait_port "$port"
curl -sS -D "$TMP/headers" "http://127.0.0.1:$port/metrics" >"$TMP/scraped.txt"
contains "$(cat "$TMP/headers")" "Content-Type: text/plain; version=0.0.4" "content type"
check=$($PARSE "$TMP/scraped.txt" 'drudge_tasks{script="log-email",state="done"}=2' 2>&1) && pass || fail "scrape: $check"
# A task finishing between scrapes shows in the next one.
expect_exit 0 "$DRUDGE" run "$TMP/ok.lua" --input '{"ref":"D"}' -q
curl -sS "http://127.0.0.1:$port/metrics" >"$TMP/scraped.txt"
check=$($PARSE "$TMP/scraped.txt" 'drudge_tasks{script="log-email",state="done"}=3' 2>&1) && pass || fail "second scrape: $check"
# The server adds up only the steps appended since its last scrape; its
# histogram must still equal a full count (`drudge metrics` starts afresh).
check=$($PARSE "$TMP/scraped.txt" 'drudge_step_duration_seconds_count{kind="step"}=4' \
  'drudge_step_duration_seconds_count{kind="task"}=4' 2>&1) && pass || fail "second scrape steps: $check"
expect_exit 0 "$DRUDGE" metrics
equals "$(grep '^drudge_step_duration' "$TMP/scraped.txt")" "$(printf '%s\n' "$out" | grep '^drudge_step_duration')" \
  "served histogram = full count"
equals "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/nope")" "404" "other paths"
equals "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "http://127.0.0.1:$port/metrics")" "405" "other methods"
# The port is taken now: the error names the address and the reason.
expect_exit 1 "$BUILD/tests/ops_serve" "$DRUDGE_DB" "127.0.0.1:$port"
contains "$err" "--metrics-listen 127.0.0.1:$port: Address already in use" "port in use"
expect_exit 1 "$BUILD/tests/ops_serve" "$DRUDGE_DB" "localhost:99999"
contains "$err" "want ADDR:PORT" "bad port"
expect_exit 1 "$BUILD/tests/ops_serve" "$DRUDGE_DB" "nowhere:9464"
contains "$err" "'nowhere' is not an IP address" "bad address"
kill $serve_pid; wait $serve_pid 2>/dev/null || true

# `drudge work --metrics-listen`, once the queue module has it.
if "$DRUDGE" help work 2>/dev/null | grep -q -- --metrics-listen; then
  # Make the schedule's latest tick due now: the worker's scheduler enqueues it.
  sql "update schedules set cron = '* * * * *', last_tick = last_tick - 120000000"
  port=$(free_port)
  "$DRUDGE" work --metrics-listen "127.0.0.1:$port" >"$TMP/work.out" 2>&1 &
  work_pid=$!
  wait_port "$port"
  wait_sql "select count(*) from tasks where schedule = 'nightly' and state = 'done'" 1 || true
  equals "$(sql "select count(*) from tasks where schedule = 'nightly' and key like 'schedule:nightly@%:00Z'")" "1" "worker ran the tick"
  curl -sS "http://127.0.0.1:$port/metrics" >"$TMP/work.txt"
  check=$($PARSE "$TMP/work.txt" 'drudge_tasks{script="log-email",state="done"}=4' 2>&1) && pass || fail "work scrape: $check"
  kill -TERM $work_pid; wait $work_pid 2>/dev/null || true
  work_pid=
else
  echo "note: drudge work --metrics-listen not built yet; served through the fixture only"
fi

# The binary on its own, without drudge_serve.so (copied elsewhere, or a
# package that left the module out): `work` still runs, and only the commands
# that serve need the module, each saying so instead of crashing.
# (Not where an installed drudge_serve.so would be found anyway.)
if [ -e /usr/local/lib/drudge/drudge_serve.so ]; then
  echo "note: an installed drudge_serve.so is found; lone-binary check skipped"
else
  mkdir -p "$TMP/alone" "$TMP/nomods"
  cp "$DRUDGE" "$TMP/alone/drudge"
  expect_exit 0 env DRUDGE_MODULE_DIR="$TMP/nomods" "$TMP/alone/drudge" -q work --until-empty
  port=$(free_port)
  expect_exit 1 env DRUDGE_MODULE_DIR="$TMP/nomods" "$TMP/alone/drudge" -q work --until-empty \
    --metrics-listen "127.0.0.1:$port"
  contains "$err" "cannot load the serve module" "work --metrics-listen without the module"
fi

finish

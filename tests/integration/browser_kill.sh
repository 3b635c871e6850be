# A worker killed with kill -9 in the middle of a browser session: no
# chromedriver or Chromium outlives it (the parent-death signal, then the
# pipe), the next `drudge work` reaps what is left in the state directory,
# and the task is retried and done. Then the same with a driver started
# through a wrapper script, whose chromedriver the parent-death signal does
# not reach: the next `drudge work` start kills its process group.
source "$TESTS/lib.sh"
command -v chromedriver >/dev/null || { echo "chromedriver not installed: skipped"; exit 77; }

export DRUDGE_STATE_DIR="$TMP/state"
mkdir -p files
"$BUILD/tests/browser_server" >server.out 2>server.err &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 50); do [ -s server.out ] && break; sleep 0.1; done
URL="http://127.0.0.1:$(awk '{print $2}' server.out)"

ours() { ps -eo pid=,stat=,args= | awk -v d="$DRUDGE_STATE_DIR" 'index($0, d) && $2 !~ /^Z/' | grep -v awk || true; }
# wait_gone SECONDS: until none of ours is left
wait_gone() {
  for _ in $(seq $(($1 * 10))); do [ -z "$(ours)" ] && return 0; sleep 0.1; done
  return 1
}

cat > kill.lua <<EOF
local browser = require "drudge.browser"
return { name = "kill", max_attempts = 3, run = function(task)
  local b = browser.open{}
  b:go("$URL/keys")
  b:type({ label = "Search" }, "kill-secret-value", { secret = true })
  b:go("$URL/table")
  if task.attempt == 1 then
    local f = assert(io.open("opened-" .. task.input.n, "w"))
    f:close()
    b:go("$URL/never") -- hangs here until the worker is killed
  end
  return { title = b:title(), attempt = task.attempt }
end }
EOF

# run_and_kill N: enqueue, work until the browser is on the hanging page, kill -9.
run_and_kill() {
  "$DRUDGE" -q enqueue kill.lua --input "{\"n\":$1}" >/dev/null
  "$DRUDGE" --files files -q work --lease 1s --backoff-base 0 --until-empty 2>"work$1.err" &
  worker=$!
  for _ in $(seq 300); do [ -e "files/opened-$1" ] && break; sleep 0.1; done
  [ -e "files/opened-$1" ] && pass || fail "the first attempt never opened its browser"
  sleep 0.5
  [ -n "$(ours | grep chromedriver)" ] && pass || fail "chromedriver should run during the session"
  [ -n "$(ours | grep -v chromedriver)" ] && pass || fail "Chromium should run during the session"
  equals "$(grep -rl kill-secret-value "$DRUDGE_STATE_DIR" 2>/dev/null)" "" "the typed secret is in no file of the session (driver log included)"
  kill -9 $worker
  wait $worker 2>/dev/null || true
}

# 1. The driver itself: it dies with the worker, and Chromium with it.
run_and_kill 1
wait_gone 10 && pass || fail "left running 10 s after the kill: $(ours)"
ls "$DRUDGE_STATE_DIR" | grep -q '\.child$' && pass || fail "the dead worker's pid file should be left"
expect_exit 0 "$DRUDGE" --files files work --lease 1s --backoff-base 0 --until-empty
contains "$err" "reaped 1 helper process left by a worker that died" "the next work start reaps"
equals "$(sql "select state, attempts from tasks where id = 1")" "done|2" "the task was retried and done"
equals "$(sql "select group_concat(outcome) from (select outcome from attempts where task_id = 1 order by n)")" "lost,done" "the killed attempt is lost"
equals "$(sql "select json_extract(output, '$.title') from tasks where id = 1")" "People" "the retry used a browser of its own"
equals "$(ours)" "" "nothing left running"
equals "$(ls "$DRUDGE_STATE_DIR")" "" "nothing left in the state directory"

# 2. A wrapper the parent-death signal kills, leaving chromedriver (its
# child) and Chromium alive in the session's process group.
cat > driver.sh <<'EOF'
#!/bin/sh
chromedriver "$@"
exit $?
EOF
chmod +x driver.sh
export DRUDGE_CHROMEDRIVER="$TMP/driver.sh"
run_and_kill 2
sleep 1
[ -n "$(ours | grep chromedriver)" ] && pass || fail "the wrapped chromedriver should outlive the worker"
expect_exit 0 "$DRUDGE" --files files work --lease 1s --backoff-base 0 --until-empty
contains "$err" "reaped 1 helper process" "the next work start reaps the orphaned driver"
wait_gone 5 && pass || fail "the orphans are still running after the reap: $(ours)"
equals "$(sql "select state, attempts from tasks where id = 2")" "done|2" "that task was retried and done too"
equals "$(ls "$DRUDGE_STATE_DIR")" "" "nothing left in the state directory"
unset DRUDGE_CHROMEDRIVER

# 3. The browser crashes under a running attempt: a system error, retried.
cat > crash.lua <<EOF
local browser = require "drudge.browser"
return { name = "crash", max_attempts = 3, run = function(task)
  local b = browser.open{}
  b:go("$URL/table")
  if task.attempt == 1 then
    local f = assert(io.open("crash-opened", "w"))
    f:close()
    b:wait_for{ text = "words this page never shows", timeout = 60 }
  end
  return { rows = #b:table("#people") }
end }
EOF
"$DRUDGE" -q enqueue crash.lua >/dev/null
"$DRUDGE" --files files -q work --backoff-base 0 --until-empty >crash.out 2>crash.err &
worker=$!
for _ in $(seq 300); do [ -e files/crash-opened ] && break; sleep 0.1; done
sleep 0.5
# Chromium's browser process: ours, not chromedriver, not a --type= child.
browser_pid=$(ours | grep -v chromedriver | grep -v -- '--type=' | awk '{print $1}' | head -1)
[ -n "$browser_pid" ] && pass || fail "no browser process found: $(ours)"
kill -9 "$browser_pid"
wait $worker
equals "$?" 0 "the worker carries on"
equals "$(sql "select state, attempts from tasks where script = 'crash'")" "done|2" "a crashed browser is a system error, retried"
contains "$(sql "select a.error from attempts a join tasks t on t.id = a.task_id where t.script = 'crash' and a.n = 1")" "the browser is gone" "the attempt's error says the browser is gone"
equals "$(sql "select json_extract(output, '$.rows') from tasks where script = 'crash'")" "3" "the retry worked"
wait_gone 5 && pass || fail "left running after the crash: $(ours)"
finish

# A worker killed with kill -9 in the middle of a browser session: no
# chromedriver or Chromium outlives it (the parent-death signal, then the
# pipe), the next `drudge work` reaps what is left in the state directory,
# and the task is retried and done. Then the same with a driver started
# through a wrapper script, whose chromedriver the parent-death signal does
# not reach: the next `drudge work` start kills its process group.
source "$TESTS/lib.sh"
source "$TESTS/data/browser/setup.sh"
# wait_gone SECONDS: until none of ours is left (by the clock: Chromium's
# dozen processes take seconds to exit on a loaded machine)
none_left() { [ -z "$(ours)" ]; }
wait_gone() { wait_until "$1" none_left; }

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
  wait_until 120 test -e "files/opened-$1" || true
  [ -e "files/opened-$1" ] && pass || fail "the first attempt never opened its browser"
  # Killed only once its start is on record: an attempt younger than the
  # writer's mark (about a second) is given back unspent by design, and on
  # a quick machine the page was reached sooner (attempt 1 then ran again).
  started_on_record() { [ "$(sql "select started from running where task_id = $1")" = 1 ]; }
  wait_until 30 started_on_record "$1" && pass || fail "attempt 1 of task $1 never marked started"
  [ -n "$(ours | grep chromedriver)" ] && pass || fail "chromedriver should run during the session"
  [ -n "$(ours | grep -v chromedriver)" ] && pass || fail "Chromium should run during the session"
  equals "$(grep -rl kill-secret-value "$DRUDGE_STATE_DIR" 2>/dev/null)" "" "the typed secret is in no file of the session (driver log included)"
  kill -9 $worker
  wait $worker 2>/dev/null || true
}

# 1. The driver itself: it dies with the worker, and Chromium with it.
run_and_kill 1
wait_gone 30 && pass || fail "left running 30 s after the kill: $(ours)"
ls "$DRUDGE_STATE_DIR" | grep -q '\.child$' && pass || fail "the dead worker's pid file should be left"
expect_exit 0 "$DRUDGE" --files files work --lease 1s --backoff-base 0 --until-empty
contains "$err" "reaped 1 helper process left by a worker that died" "the next work start reaps"
equals "$(sql "select state, attempts from tasks where id = 1")" "done|2" "the task was retried and done"
equals "$(sql "select group_concat(outcome) from (select outcome from attempts where task_id = 1 order by n)")" "lost,done" \
  "the killed attempt is lost (attempt 1's error: $(sql "select error_kind || ': ' || error from attempts where task_id = 1 and n = 1"))"
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
wait_gone 30 && pass || fail "the orphans are still running after the reap: $(ours)"
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
wait_until 120 test -e files/crash-opened || true
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
wait_gone 30 && pass || fail "left running after the crash: $(ours)"

# 4. Chromium exits while it starts (a crash, or a binary that cannot run):
# chromedriver keeps its pipe to it open and would answer only at its own
# one-minute timeout; drudge sees the exit within a second or two, starts
# once more, and says so in the open's response. A browser that exits at
# every start fails the open at once, naming the exit.
real=/usr/lib/chromium/chromium-headless-shell
var=DRUDGE_CHROMIUM_SHELL
[ -x "$real" ] || { real=/usr/lib/chromium/chromium; var=DRUDGE_CHROMIUM; }
cat > exits-once.sh <<EOF
#!/bin/sh
[ -e "$TMP/exited" ] || { : > "$TMP/exited"; exit 3; }
exec "$real" "\$@"
EOF
printf '#!/bin/sh\nexit 3\n' > exits-always.sh
chmod +x exits-once.sh exits-always.sh
cat > start.lua <<EOF
local browser = require "drudge.browser"
return { name = "start", max_attempts = 1, run = function(task)
  local b = browser.open{}
  b:go("$URL/table")
  return { rows = #b:table("#people") }
end }
EOF
started=$(date +%s)
expect_exit 0 env "$var=$PWD/exits-once.sh" "$DRUDGE" --files files -q run start.lua
open=$(sql "select s.response from steps s join tasks t on t.id = s.task_id where t.script = 'start' and s.name = 'open'")
contains "$open" '"restarted":"browser: Chromium did not start: Chromium (pid' "the open's response says why it started twice"
contains "$open" 'exited while starting' "and names the exit"
expect_exit 4 env "$var=$PWD/exits-always.sh" "$DRUDGE" --files files -q run start.lua
contains "$err" "Chromium did not start: Chromium (pid" "a browser that exits at every start is a system error naming the exit"
took=$(($(date +%s) - started))
[ "$took" -lt 45 ] && pass || fail "both runs took $took s: the exits were not seen (chromedriver's own timeout is 60 s)"
wait_gone 30 && pass || fail "left running after the failed starts: $(ours)"
finish

# status --watch: plain snapshot when not a terminal, --json content, and the
# live view on a pseudo-terminal (alternate screen, no flicker, q and Ctrl-C
# quit and restore the terminal, NO_COLOR). Runs the view through a fixture
# (tests/fixtures/ops_watch.c) and, once built, `drudge status`.
source "$TESTS/lib.sh"
WATCH="$BUILD/tests/ops_watch"

cat >"$TMP/case.lua" <<'LUA'
return { name = "log-email", manual_minutes = 4, exception_minutes = 6,
  run = function(task)
    if task.input.bad then fail("no such case: " .. task.input.ref) end
    return true
  end }
LUA
for r in 1 2 3; do expect_exit 0 "$DRUDGE" run "$TMP/case.lua" --input "{\"ref\":\"$r\"}" -q; done
expect_exit 3 "$DRUDGE" run "$TMP/case.lua" --input '{"ref":"X-17","bad":true}' -q
# Six more waiting, one of them already tried once.
now=$(date +%s%6N)
for i in 1 2 3 4 5 6; do
  sql "insert into tasks(script, script_path, state, run_at, max_attempts, created_at, attempts)
       values ('log-email', '$TMP/case.lua', 'queued', $now, 3, $now, $((i == 1)))"
done
# The backlog starts at the oldest open task: include the finished ones too.
sql "update tasks set created_at = $now - 60000000 where state <> 'queued'"
sql "update tasks set created_at = $now - 70000000 where id = (select min(id) from tasks where state = 'queued')"
expect_exit 0 "$DRUDGE" schedule add nightly --cron "0 19 * * *" "$TMP/case.lua" --tz Europe/London

# Not a terminal: one plain snapshot, no escape sequences.
expect_exit 0 "$WATCH" "$DRUDGE_DB"
contains "$out" "log-email" "script row"
contains "$out" "4/10" "finished/total of the backlog"
contains "$out" "1 waiting to retry" "retries"
contains "$out" "last failure #4" "last failure"
contains "$out" "no such case: X-17" "failure message"
contains "$out" "NEXT SCHEDULED RUNS" "schedules section"
contains "$out" "nightly" "next run"
case "$out" in *$'\033'*) fail "plain output has escape sequences" ;; *) pass ;; esac

# JSON for status --json.
expect_exit 0 "$WATCH" "$DRUDGE_DB" --json
printf '%s\n' "$out" >"$TMP/status.json"
/usr/bin/python3 - "$TMP/status.json" <<'PY' && pass || fail "status json: $(cat "$TMP/status.json")"
import json, sys, datetime
s = json.load(open(sys.argv[1]))
[row] = s["scripts"]
assert row["script"] == "log-email" and row["queued"] == 6 and row["running"] == 0, row
assert row["retrying"] == 1, row
b = row["backlog"]
assert (b["total"], b["finished"], b["done"], b["failed"]) == (10, 4, 3, 1), b
assert row["rate_per_minute"] > 0 and row["eta_seconds"] > 0, row
assert row["last_failure"]["task"] == 4 and "X-17" in row["last_failure"]["error"], row
[n] = s["next_runs"]
assert n["schedule"] == "nightly" and n["script"] == "log-email"
assert datetime.datetime.fromisoformat(n["at"]).hour == 19
PY

if "$DRUDGE" status --json >"$TMP/st.json" 2>/dev/null; then
  # `drudge status --json` (queue module): counts by state, parsed back.
  /usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/st.json" && pass || fail "status --json is not JSON"
  contains "$(cat "$TMP/st.json")" "log-email" "status --json names the script"
  # `drudge status --watch` off a terminal: the same plain snapshot.
  expect_exit 0 "$DRUDGE" status --watch
  contains "$out" "4/10" "status --watch progress"
  contains "$out" "NEXT SCHEDULED RUNS" "status --watch schedules"
fi

# On a terminal: alternate screen, cursor home + clear to end of line each
# frame, q quits and restores; stdin is the pseudo-terminal of script(1).
tty_run() { # KEYS ENV... : runs the watch on a pty, output in $TMP/tty.out
  local keys=$1; shift
  # The keys go in once the first frame is drawn (the terminal is raw by
  # then): sent earlier, a slow start (sanitizers, a loaded machine) sees
  # them in line mode, where q waits for a newline that never comes.
  rm -f "$TMP/keys" "$TMP/tty.out"; mkfifo "$TMP/keys"
  env "$@" script -qfec "$WATCH '$DRUDGE_DB'" /dev/null <"$TMP/keys" >"$TMP/tty.out" 2>&1 &
  local pid=$!
  exec 7>"$TMP/keys"
  wait_until 60 grep -q "to quit" "$TMP/tty.out" 2>/dev/null || true
  printf "$keys" >&7
  gone() { ! kill -0 "$1" 2>/dev/null; }
  wait_until 60 gone $pid || true
  if kill -0 $pid 2>/dev/null; then fail "watch did not quit on '$keys'"; kill $pid; fi
  exec 7>&-
  wait $pid 2>/dev/null || true
}
if command -v script >/dev/null; then
  tty_run q TERM=xterm LANG=C.UTF-8
  o=$(cat "$TMP/tty.out")
  contains "$o" $'\033[?1049h' "enters the alternate screen"
  contains "$o" $'\033[?1049l' "leaves the alternate screen"
  contains "$o" $'\033[?25h' "shows the cursor again"
  contains "$o" $'\033[H' "cursor home each frame"
  contains "$o" $'\033[K' "clears to end of line"
  contains "$o" $'\033[32m' "colour"
  contains "$o" "█" "progress bar"
  contains "$o" "(q to quit)" "says how to quit"
  tty_run '\003' TERM=xterm NO_COLOR=1 LANG=C
  o=$(cat "$TMP/tty.out")
  contains "$o" $'\033[?1049l' "Ctrl-C restores the screen"
  case "$o" in *$'\033[32m'*) fail "NO_COLOR still colours" ;; *) pass ;; esac
  contains "$o" "####" "ASCII bar without UTF-8"
else
  echo "note: script(1) missing: terminal view not tested"
fi

finish

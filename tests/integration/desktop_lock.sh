# One desktop at a time: two `drudge run` processes that want the same X
# display. The second waits for the first (no interleaved keystrokes), or,
# past desktop.lock_wait, asks to be retried later (exit 5) instead of
# holding a worker; a lock dies with the process that held it.
source "$TESTS/lib.sh"
source "$TESTS/integration/desktop.inc"
start_xvfb
start_xterm "lock target" LockTarget "$TMP/out.txt"

cat >"$TMP/typer.lua" <<'LUA'
local desktop = require "drudge.desktop"
return {
  run = function(task)
    desktop.lock_wait = task.input.wait
    local w = desktop.wait_window{ class = "LockTarget", timeout = 10 }
    w:activate()
    desktop.type(task.input.text, { delay_ms = task.input.delay })
    return { typed = #task.input.text }
  end,
}
LUA
input() { echo "{\"text\":\"$1\",\"delay\":$2,\"wait\":$3}"; } # TEXT DELAY_MS WAIT_S
run_typer() { "$DRUDGE" -q run "$TMP/typer.lua" --input "$(input "$@")"; }
lockfile="$TMP/drudge-desktop-_${DISPLAY#:}.lock"
# wait_held: until a task holds the desktop (the holder writes its name in
# the lock file; the tty gives xterm's input to cat only line by line).
wait_held() { wait_file "$lockfile" "pid" 10; }

# A types slowly (~1.5 s); B starts while A holds the desktop and waits.
a_text="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
b_text="BBBBBBBBBB"
"$DRUDGE" -q run "$TMP/typer.lua" --input "$(input "$a_text" 50 10)" >"$TMP/a.out" 2>&1 &
a_pid=$!
wait_held || fail "A did not take the desktop"
run_typer "$b_text" 0 10 >"$TMP/b.out" 2>"$TMP/b.err"
equals "$?" "0" "B ran once A was done"
wait "$a_pid"
equals "$?" "0" "A ran"
run_typer '\n' 0 10 >/dev/null
wait_file "$TMP/out.txt" "B" || true
equals "$(head -1 "$TMP/out.txt")" "$a_text$b_text" "A's text then B's, not interleaved"
waited=$(sql "select json_extract(response, '\$.waited_ms') from steps where kind = 'desktop' and name = 'acquire' order by rowid limit 1 offset 1")
[ "$waited" -gt 300 ] && pass || fail "B's acquire step says it waited ${waited} ms"

# C gives up after lock_wait and asks to be retried: exit 5, a clear message.
"$DRUDGE" -q run "$TMP/typer.lua" --input "$(input "$a_text" 50 10)" >/dev/null 2>&1 &
a_pid=$!
wait_held || fail "A did not take the desktop"
expect_exit 5 run_typer "CCC" 0 0.3
contains "$err" "asked to be retried later: desktop: display $DISPLAY is in use by pid $a_pid" "busy message names the holder"
contains "$err" "retrying in 15 s" "busy message says when"
# C's own acquire, by its task: A's steps may reach the chain after C's
# (A's early flush comes about a second into its run, C may end before).
equals "$(sql "select s.outcome from steps s join tasks t on t.id = s.task_id where s.kind = 'desktop' and s.name = 'acquire' and json_extract(t.input, '\$.text') = 'CCC'")" "retry" "the busy acquire is recorded as retry"
wait "$a_pid"
case "$(cat "$TMP/out.txt")" in *C*) fail "C typed although the desktop was busy" ;; *) pass ;; esac

# A lock dies with its holder: kill -9 the holder, the next task gets the
# desktop at once.
"$DRUDGE" -q run "$TMP/typer.lua" --input "$(input "$a_text" 200 10)" >/dev/null 2>&1 &
a_pid=$!
wait_held || fail "A did not take the desktop"
sleep 0.3
kill -9 "$a_pid"
wait "$a_pid" 2>/dev/null || true
expect_exit 0 run_typer "D" 0 0
waited=$(sql "select json_extract(response, '\$.waited_ms') from steps where kind = 'desktop' and name = 'acquire' order by rowid desc limit 1")
[ "$waited" -lt 300 ] && pass || fail "after the holder died, acquire waited ${waited} ms"

finish

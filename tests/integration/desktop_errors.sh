# drudge.desktop when the world is wrong: no DISPLAY, no X server on the
# display, the X server dying mid-call, bad arguments. Each is a clear error
# (a system error, exit 4, so the task would be retried), never a crash.
source "$TESTS/lib.sh"
source "$TESTS/integration/desktop.inc"

cat >"$TMP/move.lua" <<'LUA'
local desktop = require "drudge.desktop"
return { run = function() desktop.move(1, 1) end }
LUA

# No DISPLAY at all.
saved_display=${DISPLAY-}
unset DISPLAY
expect_exit 4 "$DRUDGE" -q run "$TMP/move.lua"
contains "$err" "desktop: no X display: DISPLAY is not set" "no DISPLAY message"
[ -n "$saved_display" ] && export DISPLAY="$saved_display"

# A display where no X server runs.
DISPLAY=:4977 expect_exit 4 "$DRUDGE" -q run "$TMP/move.lua"
contains "$err" "desktop: cannot open display ':4977' — is an X server running?" "no X server message"
contains "$(sql "select outcome || ' ' || error from steps where kind = 'desktop' and name = 'acquire' order by rowid desc limit 1")" \
  "error desktop: cannot open display ':4977'" "the failed acquire is recorded"

# desktop.display overrides $DISPLAY.
cat >"$TMP/other.lua" <<'LUA'
local desktop = require "drudge.desktop"
desktop.display = ":4978"
return { run = function() desktop.mouse_location() end }
LUA
expect_exit 4 "$DRUDGE" -q run "$TMP/other.lua"
contains "$err" "cannot open display ':4978'" "desktop.display is used"

start_xvfb

# Bad arguments: clear messages naming what is wrong.
# A mistake only the script's author can fix (an unknown key name, an option
# of the wrong type) is a configuration error: exit 2, the task cancelled.
bad() { # bad LUA-CALL EXPECTED [EXIT]
  printf 'local desktop = require "drudge.desktop"\nreturn { run = function() %s end }\n' "$1" >"$TMP/bad.lua"
  expect_exit "${3:-4}" "$DRUDGE" -q run "$TMP/bad.lua"
  contains "$err" "$2" "bad call: $1"
}
bad 'desktop.key("ctlr+s")' "unknown key name 'ctlr' in \"ctlr+s\"" 2
bad 'desktop.key("ctrl+")' 'a key name is missing in "ctrl+"' 2
bad 'desktop.type("a\0b")' "cannot type control character"
bad 'desktop.type("\255")' "invalid UTF-8 at byte 1"
bad 'desktop.type("x", { delay_ms = -1 })' "'delay_ms' must be a whole number from 0 to 1000" 2
bad 'desktop.type("x", { window = 5 })' "'window' must be a window" 2
bad 'desktop.find_windows{ name = "(" }' "bad name pattern '('"
bad 'desktop.find_windows{}' "give at least one of name, class, instance, pid"
bad 'desktop.click{ x = 5 }' "give both 'x' and 'y'"
bad 'desktop.scroll{}' "give 'dy'"
bad 'desktop.screenshot{ path = "../x.png" }' "is outside the files directory"
bad 'desktop.wait_window{ name = "^never here$", class = "Nope", timeout = 0.3 }' \
  "desktop.wait_window: no window with name ~ '^never here\$', class ~ 'Nope' appeared within 0.3 s"

# The X server dies while a call waits on it: the call fails with a clear
# message and the process does not exit from inside Xlib.
cat >"$TMP/lost.lua" <<'LUA'
local desktop = require "drudge.desktop"
return { run = function()
  desktop.mouse_location()
  local ok, err = pcall(desktop.wait_window, { name = "never", timeout = 20 })
  local ok2, err2 = pcall(desktop.mouse_location)
  return { first = tostring(err), second = tostring(err2) }
end }
LUA
# Kill it once the first call is on the chain (the early flush writes it
# within a second), so the wait is under way: a fixed delay raced a slow
# start under sanitizers.
( for _ in $(seq 200); do
    [ "$(sql "select count(*) from steps where name = 'mouse_location'" 2>/dev/null)" -gt 0 ] && break
    sleep 0.1
  done
  sleep 0.5; kill "$xvfb_pid" ) &
start=$(date +%s)
expect_exit 0 "$DRUDGE" -q run "$TMP/lost.lua"
took=$(( $(date +%s) - start ))
contains "$out" "lost the connection to X display '$DISPLAY'" "lost connection message"
# The next call opens a new connection instead of using the dead one. It
# usually finds no server; under a parallel test run another test's Xvfb may
# already have taken the freed display number, and then it succeeds.
case "$out" in
  *"\"second\":\"desktop: cannot open display '$DISPLAY'"*) pass ;;
  *'"second":"'[0-9]*) pass ;;
  *) fail "the next call tries to reconnect: got $out" ;;
esac
[ "$took" -lt 15 ] && pass || fail "lost connection noticed after ${took}s"
wait

finish

# drudge.desktop: characters per second typed into xterm (default 12 ms delay
# and zero delay, ASCII and characters bound to spare keycodes), and the cost
# of a screenshot of a 1280x800 screen (capture + PNG encode + payload).
# Times are the recorded step durations.
set -euo pipefail
cd "$TMP"
command -v Xvfb >/dev/null || { echo "skipped: Xvfb is not installed"; exit 0; }
export DRUDGE_DB="$TMP/bench.db" DRUDGE_LOCK_DIR="$TMP"
Xvfb -displayfd 5 -screen 0 1280x800x24 -nolisten tcp 5>"$TMP/display" 2>/dev/null &
xvfb=$!
for ((i = 0; i < 100; i++)); do [ -s "$TMP/display" ] && break; sleep 0.05; done
export DISPLAY=":$(cat "$TMP/display")"
LC_ALL=C.UTF-8 xterm -u8 -T bench -class DrudgeBench -e sh -c 'cat > /dev/null' &
xt=$!
# A screen full of text, as a case system's screen would be.
xterm -geometry 210x60+0+0 -T filler 2>/dev/null -e sh -c 'ls -lR /usr/share | head -2000; sleep 600' &
filler=$!
trap 'kill $xt $filler $xvfb 2>/dev/null || true; rm -rf "$TMP"' EXIT

cat >bench.lua <<'LUA'
local desktop = require "drudge.desktop"
return {
  timeout = 600,
  run = function()
    local w = desktop.wait_window{ class = "DrudgeBench", timeout = 10 }
    w:activate()
    desktop.type(string.rep("abcdefghij", 20) .. "\n")                  -- 201 chars, default delay
    desktop.type(string.rep("abcdefghij", 200) .. "\n", { delay_ms = 0 }) -- 2001 chars
    desktop.type(string.rep("Zoë — £40 €", 100) .. "\n", { delay_ms = 0 }) -- 1101 chars
    for _ = 1, 20 do desktop.screenshot() end
    desktop.screenshot{ path = "last.png" }
    desktop.screenshot{ window = w }
  end,
}
LUA
mkdir -p files
"$DRUDGE" -q --files files run bench.lua >/dev/null
q() { sqlite3 "$DRUDGE_DB" "$1"; }
rate() { # rate OFFSET LABEL
  q "select json_extract(response, '\$.typed'), duration_us from steps where name = 'type' order by seq limit 1 offset $1" |
    awk -F'|' -v l="$2" '{ printf "type, %s: %.0f chars/s (%d chars in %.2f s)\n", l, $1 / ($2 / 1e6), $1, $2 / 1e6 }'
}
rate 0 "default delay (12 ms), ASCII"
rate 1 "zero delay, ASCII"
rate 2 "zero delay, non-ASCII mix (Zoë — £40 €)"
cp files/last.png "${DESKTOP_BENCH_KEEP:-/dev/null}" 2>/dev/null || true
q "select avg(duration_us), min(duration_us), avg(json_extract(response, '\$.size')) from steps where name = 'screenshot' and request = '{}'" |
  awk -F'|' '{ printf "screenshot 1280x800: %.1f ms mean, %.1f ms min, PNG %.0f KiB\n", $1 / 1000, $2 / 1000, $3 / 1024 }'
q "select duration_us, json_extract(response, '\$.width') || 'x' || json_extract(response, '\$.height') from steps where name = 'screenshot' and request like '%window%'" |
  awk -F'|' '{ printf "screenshot of the xterm window (%s): %.1f ms\n", $2, $1 / 1000 }'

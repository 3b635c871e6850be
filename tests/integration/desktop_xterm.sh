# drudge.desktop against a real X server (Xvfb) and a real application
# (xterm running `cat > out.txt`): typing ASCII and non-ASCII text, keys,
# finding and activating windows, mouse, screenshots as audit evidence,
# secrets redacted from what is recorded, screenshot_on_error.
source "$TESTS/lib.sh"
source "$TESTS/integration/desktop.inc"
start_xvfb
mkdir -p "$TMP/files"
start_xterm "drudge target" DrudgeTarget "$TMP/out.txt"

cat >"$TMP/type.lua" <<'LUA'
local desktop = require "drudge.desktop"
return {
  run = function(task)
    local w = desktop.wait_window{ name = "^drudge target$", class = "DrudgeTarget", timeout = 10 }
    local found = desktop.find_windows{ class = "^drudgetarget$" }   -- case-insensitive
    local none = desktop.find_windows{ name = "no such window" }
    w:activate()
    local active = desktop.active_window()
    local g = w:geometry()
    -- default delay, then zero delay; both ASCII and characters no key has
    desktop.type("Hello, Zoë O'Brien — £40 € ĳ 日本", { window = w })
    desktop.key("Return")
    desktop.type("fast: Zoë O'Brien — £40 € ĳ 日本\n", { delay_ms = 0 })
    desktop.type("oops")
    desktop.key("BackSpace BackSpace ctrl+u")   -- a sequence; ctrl+u kills the line
    desktop.key_down("shift"); desktop.type("x"); desktop.key_up("shift")
    desktop.type("pw=" .. secret("PW") .. "\n")
    desktop.move(200, 120)
    local mx, my = desktop.mouse_location()
    desktop.click{ window = w, x = 20, y = 20 }
    desktop.scroll{ dy = 2 }
    local shot = desktop.screenshot{ path = "screen.png" }
    local wshot = w:screenshot{ path = "window.png" }
    return {
      id = w.id, title = w:title(), class = w:class(), pid = w:pid(), same = (active == w),
      found = #found, none = #none, x = g.x, y = g.y, width = g.width, height = g.height,
      mx = mx, my = my, shot = shot, wshot = wshot, str = tostring(w),
    }
  end,
}
LUA

export DRUDGE_SECRET_PW="hunter2-secret"
expect_exit 0 "$DRUDGE" -q --files "$TMP/files" run "$TMP/type.lua"
json() { /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1" <<<"$out"; }
equals "$(json 'd["title"]')" "drudge target" "window title"
equals "$(json 'd["class"]')" "DrudgeTarget" "window class"
equals "$(json 'd["pid"]')" "${xterm_pids[0]}" "window pid is xterm's"
equals "$(json 'd["same"]')" "True" "active_window() is the activated window"
equals "$(json 'd["found"]')" "1" "find_windows by class"
equals "$(json 'd["none"]')" "0" "find_windows with no match"
equals "$(json 'd["mx"], d["my"]')" "(200, 120)" "mouse_location after move"
equals "$(json 'd["shot"]["width"], d["shot"]["height"]')" "(1280, 800)" "screen screenshot size"
equals "$(json 'd["wshot"]["width"] == d["width"] and d["wshot"]["height"] == d["height"]')" "True" "window screenshot is the window's size"
contains "$(json 'd["str"]')" 'desktop.window(0x' "tostring of a window"

# What xterm received, byte for byte.
wait_file "$TMP/out.txt" "pw=" || fail "xterm did not receive the last line"
expected=$'Hello, Zoë O\'Brien — £40 € ĳ 日本\nfast: Zoë O\'Brien — £40 € ĳ 日本\nXpw=hunter2-secret'
equals "$(cat "$TMP/out.txt")" "$expected" "text typed into xterm (ASCII and non-ASCII, default and zero delay)"

# Screenshots: real PNGs, not blank, the files 0600, stored as payloads.
read -r w h colours < <(png_info "$TMP/files/screen.png")
equals "$w x $h" "1280 x 800" "screen.png dimensions"
[ "$colours" -gt 1 ] && pass || fail "screen.png is blank (one colour)"
read -r w h colours < <(png_info "$TMP/files/window.png")
[ "$colours" -gt 1 ] && pass || fail "window.png is blank (one colour)"
equals "$(stat -c %a "$TMP/files/screen.png")" "600" "screenshot file mode"
sha=$(sha256sum "$TMP/files/screen.png" | cut -d' ' -f1)
equals "$(json 'd["shot"]["sha256"]')" "$sha" "returned sha256 is the file's"
equals "$(sql "select content_type || ' ' || length(data) from payloads where sha256 = '$sha'")" \
  "image/png $(stat -c %s "$TMP/files/screen.png")" "screenshot stored as an audit payload"
contains "$(sql "select response from steps where kind = 'desktop' and name = 'screenshot'")" "\"sha256\":\"$sha\"" "step references the payload"

# The audit trail: every call a desktop step, the text recorded, the secret not.
steps=$(sql "select name from steps where kind = 'desktop' order by seq" | tr '\n' ' ')
contains "$steps" "acquire wait_window find_windows find_windows window.activate active_window window.geometry type key type type key key_down type key_up type move mouse_location click scroll screenshot screenshot" "desktop steps in order"
contains "$(sql "select request from steps where kind = 'desktop' and name = 'type' order by seq limit 1")" "Zoë O'Brien — £40" "typed text recorded"
typed=$(sql "select group_concat(request) from steps where kind = 'desktop' and name = 'type'")
contains "$typed" "pw=[REDACTED:PW]" "secret typed is redacted"
case "$(sql "select group_concat(request || response) from steps")" in
  *hunter2*) fail "the secret value reached the audit trail" ;;
  *) pass ;;
esac

# Window management on a second xterm: move, resize, close; a closed window
# gives a clear error, not an X error that kills the process.
start_xterm "second" DrudgeSecond "$TMP/out2.txt"
cat >"$TMP/win.lua" <<'LUA'
local desktop = require "drudge.desktop"
return {
  run = function()
    local w = desktop.wait_window{ class = "DrudgeSecond", timeout = 10 }
    w:move(300, 200)
    w:resize(400, 300)
    local g = w:geometry()
    w:close()
    w:wait_closed{ timeout = 10 }
    local ok, err = pcall(w.title, w)
    return { x = g.x, y = g.y, width = g.width, height = g.height, ok = ok, err = tostring(err),
             exists = w:exists() }
  end,
}
LUA
expect_exit 0 "$DRUDGE" -q run "$TMP/win.lua"
equals "$(json 'd["x"], d["y"]')" "(300, 200)" "window moved"
equals "$(json 'd["width"], d["height"]')" "(400, 300)" "window resized"
equals "$(json 'd["exists"]')" "False" "closed window no longer exists"
equals "$(json 'd["ok"]')" "False" "method on a closed window raises"
contains "$(json 'd["err"]')" "no longer exists (it was closed)" "closed window error"

# screenshot_on_error: a failing step leaves a picture of the screen.
cat >"$TMP/onerr.lua" <<'LUA'
local desktop = require "drudge.desktop"
return {
  screenshot_on_error = true,
  run = function()
    step("fill the form", function()
      desktop.move(5, 5)
      error("the form did not open")
    end)
  end,
}
LUA
expect_exit 4 "$DRUDGE" -q run "$TMP/onerr.lua"
task=$(sql "select max(id) from tasks")
row=$(sql "select p.name, s.outcome from steps s join steps p on p.task_id = s.task_id and p.seq = s.parent where s.task_id = $task and s.name = 'screenshot_on_error'")
equals "$row" "fill the form|ok" "screenshot_on_error nested under the failed step"
sha=$(sql "select json_extract(response, '\$.sha256') from steps where task_id = $task and name = 'screenshot_on_error'")
equals "$(sql "select content_type from payloads where sha256 = '$sha'")" "image/png" "error screenshot stored"

finish

# Files a script writes are on the trail (issue 21): io.open for writing
# ("w", "a", "+") is a "file" step when the file is closed -- by f:close(), a
# <close> variable, or by drudge at the attempt's end for one left open (even
# after a timeout) -- named by its path relative to the files directory, with
# its size and the SHA-256 of what it held; reading is not a step; att:save()
# and csv.write name their file relative to the files directory too; replay
# makes the same steps.
source "$TESTS/lib.sh"
FILES="$TMP/files"
mkdir -p "$FILES/out"

cat >write.lua <<'LUA'
return { timeout = 5, run = function(task)
  local f = io.open("out/report.txt", "w"); f:write("case ", 41, "\n"); f:close()
  do local g <close> = io.open("scoped.txt", "w"); g:write("scoped") end
  local a = io.open("log.txt", "a"); a:write("first\n"); a:close()
  a = io.open("log.txt", "a"); a:write("second\n"); a:close()
  local u = io.open("out/report.txt", "r+"); u:seek("end"); u:write("amended\n"); u:close()
  local r = io.open("out/report.txt", "r"); local text = r:read("a"); r:close()
  local left = io.open("left-open.txt", "w"); left:write("never closed")
  if task.input and task.input.hang then while true do end end
  return { text = text }
end }
LUA
expect_exit 0 "$DRUDGE" --files "$FILES" run -q write.lua
contains "$out" '"text":"case 41\namended\n"' "the script read its own file back"
steps=$(sql "select name || ' ' || request || ' ' || outcome from steps where kind = 'file' order by seq")
equals "$steps" 'io.open out/report.txt {"path":"out/report.txt","mode":"w"} ok
io.open scoped.txt {"path":"scoped.txt","mode":"w"} ok
io.open log.txt {"path":"log.txt","mode":"a"} ok
io.open log.txt {"path":"log.txt","mode":"a"} ok
io.open out/report.txt {"path":"out/report.txt","mode":"r+"} ok
io.open left-open.txt {"path":"left-open.txt","mode":"w"} ok' \
  "one step per written file closed, none for reading, relative paths"

# Each step holds the size and SHA-256 of the file as it was closed.
resp() { sql "select response from steps where kind = 'file' order by seq limit 1 offset $1"; }
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
equals "$(resp 0)" "{\"path\":\"out/report.txt\",\"sha256\":\"$(sha $'case 41\n')\",\"size\":8,\"stored\":false}" "w: size and SHA-256"
equals "$(resp 2)" "{\"path\":\"log.txt\",\"sha256\":\"$(sha $'first\n')\",\"size\":6,\"stored\":false}" "a: the file after the first append"
equals "$(resp 3)" "{\"path\":\"log.txt\",\"sha256\":\"$(sha $'first\nsecond\n')\",\"size\":13,\"stored\":false}" "a: after the second"
equals "$(resp 4)" "{\"path\":\"out/report.txt\",\"sha256\":\"$(sha256sum "$FILES/out/report.txt" | cut -d' ' -f1)\",\"size\":16,\"stored\":false}" "r+: the amended file"
equals "$(resp 5)" "{\"path\":\"left-open.txt\",\"sha256\":\"$(sha 'never closed')\",\"size\":12,\"stored\":false,\"closed_at_end\":true}" \
  "a file left open: closed and recorded at the attempt's end"
equals "$(stat -c %a "$FILES/scoped.txt")" "600" "written files are 0600"
expect_exit 0 "$DRUDGE" audit verify
expect_exit 0 "$DRUDGE" --files "$FILES" replay 1
contains "$out" "identical outcome" "replay makes the same file steps"

# A file left open by an attempt that timed out is still closed and on the trail.
expect_exit 4 "$DRUDGE" --files "$FILES" run -q write.lua --input '{"hang":true}'
equals "$(sql "select count(*) from steps where task_id = 2 and kind = 'file' and name = 'io.open left-open.txt' and response like '%closed_at_end%'")" \
  "1" "after a timeout, the open file's step"
equals "$(sql "select outcome from steps where task_id = 2 and seq = 1")" "timeout" "the attempt timed out"

# Outside the files directory: refused before anything is written, no step.
cat >outside.lua <<'LUA'
return { run = function() local f = io.open("../escape.txt", "w") end }
LUA
expect_exit 4 "$DRUDGE" --files "$FILES" run -q outside.lua
contains "$err" "outside the files directory" "a write outside is refused"
[ ! -e "$TMP/escape.txt" ] && pass || fail "escape.txt written"
equals "$(sql "select count(*) from steps where task_id = 3 and kind = 'file'")" "0" "no file step for a refused open"

# att:save and csv.write name the file relative to the files directory.
printf 'From: a@b.example\r\nTo: c@d.example\r\nSubject: s\r\nMessage-ID: <m1@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhi\r\n--XX\r\nContent-Type: text/csv; name=list.csv\r\nContent-Disposition: attachment; filename=list.csv\r\n\r\nid\r\n7\r\n--XX--\r\n' >"$FILES/m.eml"
cat >att.lua <<'LUA'
local mail = require "drudge.mail"
return { run = function()
  local f = io.open("m.eml", "rb"); local raw = f:read("a"); f:close()
  return { path = mail.parse(raw).attachments[1]:save("in/case-7") }
end }
LUA
expect_exit 0 "$DRUDGE" --files "$FILES" run -q att.lua
contains "$out" "\"path\":\"$FILES/in/case-7/list.csv\"" "att:save still returns the full path"
equals "$(sql "select name || ' ' || request from steps where task_id = 4 and kind = 'file'")" \
  'att:save in/case-7/list.csv {"path":"in/case-7/list.csv"}' "att:save's step names the relative path"
contains "$(sql "select response from steps where task_id = 4 and kind = 'file'")" \
  "\"file\":\"in/case-7/list.csv\",\"sha256\":\"$(sha256sum "$FILES/in/case-7/list.csv" | cut -d' ' -f1)\"" \
  "and its size and SHA-256"
expect_exit 0 "$DRUDGE" audit verify
finish

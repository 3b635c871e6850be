#!/usr/bin/env bash
# drudge runs with umask 077 (issue 24): files a script creates with io.open
# are 0600, like every other file holding case data, whatever the shell's
# umask; a stricter umask is kept.
source "$TESTS/lib.sh"
cat >writes.lua <<'LUA'
return { name = "writes", run = function(task)
  local f = assert(io.open(task.input.name, "w"))
  f:write("case 42\n")
  f:close()
  return true
end }
LUA
files=${DRUDGE_FILES:-$DRUDGE_DB.files}
mode() { stat -c %a "$1"; }
umask 022
expect_exit 0 "$DRUDGE" -q run writes.lua --input '{"name":"note.txt"}'
equals "$(mode "$files/note.txt")" 600 "io.open creates 0600 under umask 022"
"$DRUDGE" -q enqueue writes.lua --input '{"name":"queued.txt"}'
expect_exit 0 "$DRUDGE" -q work --until-empty
equals "$(mode "$files/queued.txt")" 600 "and under drudge work"
expect_exit 0 "$DRUDGE" audit export --output export.jsonl
equals "$(mode export.jsonl)" 600 "audit export --output"
equals "$(mode "$files")" 700 "the files directory"
umask 077
chmod 755 "$files"
umask 0277
expect_exit 0 "$DRUDGE" -q run writes.lua --input '{"name":"strict.txt"}'
equals "$(mode "$files/strict.txt")" 400 "a stricter umask is kept"
finish

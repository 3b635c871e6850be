#!/usr/bin/env bash
# Bad input to the queue: each a clear error naming what and where, and
# nothing half-done.
source "$TESTS/lib.sh"

cat >noop.lua <<'LUA'
return { name = "noop", run = function(task) return true end }
LUA
count() { sql 'select count(*) from tasks'; }

# malformed CSV: the whole load is refused, naming file and line
printf 'ref,subject\nA1,ok\nA2,"never closed\nA3,fine\n' >bad.csv
expect_exit 2 "$DRUDGE" enqueue noop.lua --from bad.csv --key-field ref
contains "$err" "bad.csv:3: field 2: a quoted field is never closed" "unterminated quote"
contains "$err" "nothing was queued" "says nothing was queued"
equals "$(count)" 0 "no task from a bad CSV"
printf 'ref,subject\nA1,ok\nA2\nA3,x"y\nA4,fine\n' >bad2.csv
expect_exit 2 "$DRUDGE" enqueue noop.lua --from bad2.csv
contains "$err" "bad2.csv:3: 1 field, but the header has 2" "field count"
equals "$(count)" 0 "still nothing"
# --skip-invalid loads the rest and lists the rejected lines
expect_exit 0 "$DRUDGE" enqueue noop.lua --from bad2.csv --skip-invalid
contains "$err" "rejected: bad2.csv:3:" "rejected line 3 listed"
contains "$err" "bad2.csv:4: field 2: a quote inside an unquoted field" "rejected line 4 listed"
contains "$out" "enqueued 2 tasks of noop from bad2.csv: 0 duplicates skipped, 2 rejected" "summary"
equals "$(count)" 2 "the valid rows"
expect_exit 0 "$DRUDGE" --json enqueue noop.lua --from bad2.csv --skip-invalid
contains "$out" '"rejected":2,"rejected_lines":["' "rejected lines in JSON"

# malformed JSONL
printf '{"ref":"J1"}\n{"ref":"J2",}\n' >bad.jsonl
expect_exit 2 "$DRUDGE" enqueue noop.lua --from bad.jsonl --key-field ref
contains "$err" "bad.jsonl:2: invalid JSON at column 13: expected a member name" "JSONL error with line and column"
printf '{"ref":"J1"}\n{"id":"J2"}\n' >nokey.jsonl
expect_exit 2 "$DRUDGE" enqueue noop.lua --from nokey.jsonl --key-field ref
contains "$err" "nokey.jsonl:2: no key field 'ref'" "missing key field"
expect_exit 2 "$DRUDGE" enqueue noop.lua --from items.txt
contains "$err" "--format csv|jsonl" "unknown format"
expect_exit 1 "$DRUDGE" enqueue noop.lua --from missing.csv
contains "$err" "missing.csv: No such file or directory" "missing file"
equals "$(count)" 4 "none of these added anything"

# unknown or broken scripts
expect_exit 1 "$DRUDGE" enqueue nosuch
contains "$err" "unknown script 'nosuch'" "unknown script by name"
expect_exit 1 "$DRUDGE" enqueue nosuch.lua
contains "$err" "cannot read script nosuch.lua" "unknown script file"
printf 'return { run = 42 }\n' >broken.lua
expect_exit 6 "$DRUDGE" enqueue broken.lua
contains "$err" "broken.lua:1: the returned table needs a 'run' function" "invalid script"

# invalid priority, time, input
expect_exit 2 "$DRUDGE" enqueue noop.lua --priority high
contains "$err" "--priority 'high' is not a whole number" "bad priority"
expect_exit 2 "$DRUDGE" enqueue noop.lua --priority 99999999
expect_exit 2 "$DRUDGE" enqueue noop.lua --at tomorrowish
contains "$err" "--at 'tomorrowish': not a time" "bad time"
expect_exit 2 "$DRUDGE" enqueue noop.lua --input '{"a":'
contains "$err" "not valid JSON" "bad input JSON"
expect_exit 2 "$DRUDGE" enqueue noop.lua --from bad.csv --key x
contains "$err" "--from takes inputs and keys from the file" "--from with --key"
equals "$(count)" 4 "no task from bad arguments"

# a file that is not a SQLite database
printf 'this is not a database, just text that is long enough to be noticed\n%.0s' {1..50} >notdb.db
expect_exit 1 "$DRUDGE" --db notdb.db enqueue noop.lua
contains "$err" "notdb.db" "names the file"
contains "$err" "not a database" "says it is not a database"
expect_exit 1 "$DRUDGE" --db notdb.db status
contains "$err" "not a database" "status on a non-database"
expect_exit 1 "$DRUDGE" --db notdb.db work --until-empty
contains "$err" "not a database" "work on a non-database"
equals "$(head -c 20 notdb.db)" "this is not a databa" "the file is untouched"

# a read-only database (as another user when running as root, whom modes do not stop)
cp drudge.db ro.db
chmod 0444 ro.db
chmod 0755 "$TMP"
asuser=()
if [ "$(id -u)" = 0 ]; then
  if command -v setpriv >/dev/null; then
    asuser=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  fi
fi
if [ "$(id -u)" != 0 ] || [ ${#asuser[@]} -gt 0 ]; then
  chmod 0644 noop.lua
  expect_exit 1 "${asuser[@]}" "$DRUDGE" --db ro.db enqueue noop.lua
  contains "$err" "ro.db is read-only" "read-only database"
  expect_exit 1 "${asuser[@]}" "$DRUDGE" --db ro.db cancel 1
  contains "$err" "read-only" "cancel on a read-only database"
  equals "$(sqlite3 ro.db 'select count(*) from tasks')" 4 "nothing written"
fi
finish

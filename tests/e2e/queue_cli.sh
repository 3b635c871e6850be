#!/usr/bin/env bash
# The queue from the command line: enqueue (one, duplicate, bulk), work,
# and the operations commands, in text and --json.
source "$TESTS/lib.sh"

cat >noop.lua <<'LUA'
return { name = "noop", manual_minutes = 2, exception_minutes = 5,
  run = function(task) return { got = task.input, key = task.key } end }
LUA
cat >flaky.lua <<'LUA'
return { name = "flaky", max_attempts = 2, run = function(task)
  local k = task.input.kind
  if k == "fail" then fail("bad item " .. task.input.n) end
  if k == "error" then error("the service is down") end
  if k == "later" and task.attempt == 1 then retry_later(0, "busy") end
  return { n = task.input.n }
end }
LUA
cat >parent.lua <<'LUA'
local queue = require "drudge.queue"
return { name = "parent", run = function(task)
  local id, dup = queue.enqueue("noop.lua", { from = task.id }, { key = "child-" .. task.key, priority = 7 })
  local again, dup2 = queue.enqueue("noop", { from = task.id }, { key = "child-" .. task.key })
  return { id = id, dup = dup, same = (again == id), dup2 = dup2 }
end }
LUA

# --help for every command
for c in enqueue work status tasks show retry cancel pause resume resolve; do
  expect_exit 0 "$DRUDGE" "$c" --help
  contains "$out" "usage: drudge $c" "$c --help"
done

# one task, a duplicate key, JSON output
expect_exit 0 "$DRUDGE" enqueue noop.lua --input '{"a":1}' --key K1 --priority 3
contains "$out" "enqueued task #1 of noop" "enqueue"
expect_exit 0 "$DRUDGE" enqueue noop.lua --input '{"a":2}' --key K1
contains "$out" "duplicate: task #1 of noop already has key 'K1'" "duplicate reported"
expect_exit 0 "$DRUDGE" --json enqueue noop.lua --key K1
equals "$out" '{"id":1,"duplicate":true,"script":"noop","key":"K1"}' "duplicate as JSON"
equals "$(sql 'select count(*) from tasks')" 1 "a duplicate adds no task"
equals "$(sql 'select priority, cast(manual_minutes as integer), cast(exception_minutes as integer), script_path from tasks')" \
  "3|2|5|$TMP/noop.lua" "enqueue stores the script's contract and absolute path"
# by name, with overrides and a start time
expect_exit 0 "$DRUDGE" --json enqueue noop --input '{"a":3}' --manual-minutes 9 --at +1h
equals "$(sql 'select cast(manual_minutes as integer), case when run_at > created_at + 3500000000 then 1 else 0 end from tasks where id = 2')" "9|1" "--manual-minutes and --at"

# a bulk load with keys; duplicates within and across loads are skipped
printf 'ref,subject\nA1,"Hello, ""world"""\nA2,"two\nlines"\nK1,dup of the first\nA1,again\n' >items.csv
expect_exit 0 "$DRUDGE" enqueue noop.lua --from items.csv --key-field ref
contains "$out" "enqueued 2 tasks of noop from items.csv: 2 duplicates skipped, 0 rejected" "bulk summary"
contains "$out" "1 duplicate key within items.csv: line 6 repeats line 2" "a duplicate within the file is named by line"
equals "$(sql "select input from tasks where key = 'A2'")" '{"ref":"A2","subject":"two\nlines"}' "CSV row as a JSON object"
printf '{"ref":"J1","n":1}\n{"ref":"J2","n":2}\n' >items.jsonl
expect_exit 0 "$DRUDGE" --json enqueue noop.lua --from items.jsonl --key-field ref
contains "$out" '"enqueued":2,"duplicates":0,"duplicates_in_file":0,"duplicate_lines":[],"rejected":0' "bulk JSON summary"

for k in fail error later ok; do "$DRUDGE" -q enqueue flaky.lua --input "{\"kind\":\"$k\",\"n\":1}"; done
expect_exit 0 "$DRUDGE" enqueue parent.lua --key P1
expect_exit 0 "$DRUDGE" -q --json work -j 3 --until-empty --backoff-base 0
contains "$out" '"done":' "work summary"
# the retry of "error" came back due at once (backoff 0) and then died
equals "$(sql "select state from tasks where script = 'flaky' order by id")" $'failed\ndead\ndone\ndone' "outcomes"
equals "$(sql "select group_concat(outcome) from attempts where task_id = (select id from tasks where input like '%later%')")" "retry,done" "retry_later is an attempt that spends nothing"
equals "$(sql "select spent from tasks where input like '%later%'")" 0 "retry_later spent"
equals "$(sql "select group_concat(outcome || ':' || error_kind) from attempts where task_id = (select id from tasks where input like '%\"error\"%')")" "error:system,error:system" "each system error is an attempt"
equals "$(sql "select state, priority from tasks where key = 'child-P1'")" "done|7" "drudge.queue enqueued a child"
equals "$(sql "select count(*) from steps where kind = 'queue'")" 2 "queue steps recorded"
equals "$(sql "select count(*) from tasks where state not in ('done','failed','dead') and run_at <= created_at")" 0 "everything due ran"
# every attempt has its root step on the chain, ids without gaps
equals "$(sql "select count(*) from attempts")" "$(sql "select count(*) from steps where parent is null")" "a root step per attempt"
equals "$(sql "select max(id) - count(*) from steps")" 0 "the chain has no gaps"

# status, tasks, show
expect_exit 0 "$DRUDGE" status
contains "$out" "flaky" "status lists scripts"
contains "$out" "2 unresolved exceptions" "status shows unresolved exceptions"
expect_exit 0 "$DRUDGE" --json status
contains "$out" '"script":"flaky","paused":false,"queued":0,"running":0,"done":2,"failed":1,"dead":1' "status JSON"
expect_exit 0 "$DRUDGE" tasks --state dead
contains "$out" "the service is down" "tasks shows the error"
expect_exit 0 "$DRUDGE" --json tasks --script flaky --limit 2
equals "$(printf '%s' "$out" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" 2 "tasks --limit"
dead=$(sql "select id from tasks where state = 'dead'")
failed=$(sql "select id from tasks where state = 'failed'")
expect_exit 0 "$DRUDGE" show "$dead"
contains "$out" "attempts     2 made; 2 of 2 counted against max_attempts since the last retry" "show attempts"
contains "$out" "the service is down" "show errors"
expect_exit 0 "$DRUDGE" --json show "#$dead"
contains "$out" '"attempt_list":[{"n":1,' "show JSON attempts"

# resolve, retry
expect_exit 2 "$DRUDGE" resolve "$dead"
contains "$err" "--note" "resolve needs a note"
expect_exit 0 "$DRUDGE" resolve "$dead" --note "entered by hand"
contains "$out" "resolved by $(id -un)" "resolve records the OS user"
equals "$(sql "select resolved_by, resolved_note, case when resolved_at > 0 then 1 else 0 end from tasks where id = $dead")" "$(id -un)|entered by hand|1" "resolution kept"
expect_exit 0 "$DRUDGE" --json status
contains "$out" '"unresolved":1,' "a resolved task is no longer unresolved"
expect_exit 1 "$DRUDGE" resolve 1 --note x
contains "$err" "cannot resolve task #1: it is done" "resolve only failed/dead"
expect_exit 0 "$DRUDGE" retry "$failed"
equals "$(sql "select state, spent from tasks where id = $failed")" "queued|0" "retry requeues"
expect_exit 0 "$DRUDGE" --json retry --dead
contains "$out" '"matched":1,"changed":1,' "retry --dead"
expect_exit 1 "$DRUDGE" retry 9999
contains "$err" "no task #9999" "retry of a missing task"

# pause / resume / cancel
expect_exit 0 "$DRUDGE" pause flaky
contains "$out" "flaky paused" "pause"
expect_exit 0 "$DRUDGE" -q work --until-empty
equals "$(sql "select count(*) from tasks where script = 'flaky' and state = 'queued'")" 2 "a paused script's tasks wait"
expect_exit 0 "$DRUDGE" --json status
contains "$out" '"script":"flaky","paused":true' "status shows paused"
expect_exit 0 "$DRUDGE" cancel "$failed"
contains "$out" "task #$failed cancelled" "cancel a queued task"
expect_exit 1 "$DRUDGE" cancel "$failed"
contains "$err" "it is cancelled" "cancel twice"
expect_exit 0 "$DRUDGE" resume flaky
expect_exit 0 "$DRUDGE" -q work --until-empty --backoff-base 0
equals "$(sql "select state from tasks where id = $dead")" dead "requeued dead task ran and died again"
equals "$(sql "select count(*) from tasks where state in ('queued','running') and run_at <= created_at")" 0 "nothing left"

# redaction patterns apply to every attempt of every worker, not just the first
printf 'case_ref = CPS-[0-9]{6}\n' >redact.conf
cat >leak.lua <<'LUA'
return { name = "leak", run = function(task)
  log.info("working on CPS-" .. task.input.n)
  return { ref = "CPS-" .. task.input.n }
end }
LUA
for n in 123456 234567 345678 456789 567890; do "$DRUDGE" -q enqueue leak.lua --input "{\"n\":\"$n\"}"; done
expect_exit 0 "$DRUDGE" -q --redact redact.conf work -j 2 --until-empty
equals "$(sql "select count(*) from tasks where script = 'leak' and state = 'done'")" 5 "leak tasks done"
equals "$(sql "select count(*) from steps where task_id in (select id from tasks where script = 'leak') and (coalesce(request,'') || coalesce(response,'') || name) like '%CPS-%'")" 0 "no case reference in the audit trail"
equals "$(sql "select count(*) from tasks where script = 'leak' and output like '%REDACTED:case_ref%'")" 5 "outputs redacted"

# usage errors
expect_exit 2 "$DRUDGE" work -j 0
expect_exit 2 "$DRUDGE" work --lease soon
contains "$err" "--lease 'soon'" "bad duration"
expect_exit 2 "$DRUDGE" tasks --state finished
contains "$err" "--state 'finished'" "bad state"
expect_exit 2 "$DRUDGE" show abc
expect_exit 1 "$DRUDGE" show 12345
contains "$err" "no task #12345" "show of a missing task"
finish

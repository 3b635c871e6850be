#!/usr/bin/env bash
# Bulk actions by ids, ranges and filters (issue 22): cancel, retry
# (--cancelled too), resolve, each with --dry-run, a confirmation on a
# terminal above 100 tasks, --json, one operator step per changed task (so
# audit verify's cross-check holds), and bad input: an empty range, an
# unknown state, a selection that matches nothing (exit 7).
source "$TESTS/lib.sh"

cat >ok.lua <<'LUA'
return { name = "ok", run = function(task)
  if task.input.fail then fail("no such customer " .. task.input.fail) end
  if task.input.err then error("timeout talking to " .. task.input.err) end
  return {}
end }
LUA
cat >other.lua <<'LUA'
return { name = "other", run = function(task) return {} end }
LUA
# 1-3 done, 4-5 failed (business), 6 dead, 7-9 queued (not run), 10 other queued
for i in 1 2 3; do expect_exit 0 "$DRUDGE" enqueue ok.lua --key "inv-$i" --input '{}' -q; done
expect_exit 0 "$DRUDGE" enqueue ok.lua --key inv-4 --input '{"fail":"ACME"}' -q
expect_exit 0 "$DRUDGE" enqueue ok.lua --key inv-5 --input '{"fail":"Globex"}' -q
expect_exit 0 "$DRUDGE" enqueue ok.lua --key ord-6 --input '{"err":"ERP"}' -q
expect_exit 0 "$DRUDGE" work --until-empty --backoff-base 0 -q
equals "$(sql "select state from tasks order by id" | paste -sd,)" \
  "done,done,done,failed,failed,dead" "the set-up"
for k in q-7 q-8 q-9; do expect_exit 0 "$DRUDGE" enqueue ok.lua --key "$k" --input '{}' --at +1d -q; done
expect_exit 0 "$DRUDGE" enqueue other.lua --key q-10 --at +1d -q

# tasks: filters
expect_exit 0 "$DRUDGE" --json tasks --key-prefix inv-
equals "$(printf '%s' "$out" | grep -o '"id":[0-9]*' | tr '\n' ' ')" '"id":5 "id":4 "id":3 "id":2 "id":1 ' "--key-prefix"
expect_exit 0 "$DRUDGE" --json tasks --key inv-4
equals "$(printf '%s' "$out" | grep -o '"id":[0-9]*' | tr '\n' ' ')" '"id":4 ' "--key"
expect_exit 0 "$DRUDGE" --json tasks --error acme
equals "$(printf '%s' "$out" | grep -o '"id":[0-9]*' | tr '\n' ' ')" '"id":4 ' "--error, case ignored"
expect_exit 0 "$DRUDGE" --json tasks --state failed --state dead
equals "$(printf '%s' "$out" | grep -o '"id":[0-9]*' | tr '\n' ' ')" '"id":6 "id":5 "id":4 ' "two states"
expect_exit 0 "$DRUDGE" --json tasks 2 4-6 9
equals "$(printf '%s' "$out" | grep -o '"id":[0-9]*' | tr '\n' ' ')" '"id":9 "id":6 "id":5 "id":4 "id":2 ' "ids and ranges"
expect_exit 0 "$DRUDGE" --json tasks --finished-since "$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)" --state done
equals "$(printf '%s' "$out" | grep -o '"id":[0-9]*' | tr '\n' ' ')" '"id":3 "id":2 "id":1 ' "--finished-since"
expect_exit 0 "$DRUDGE" --json tasks --until "$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)"
equals "$out" "[]" "--until an hour ago: none"
expect_exit 0 "$DRUDGE" --json tasks --since "$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)" --limit 2
equals "$(printf '%s' "$out" | grep -o '"id":[0-9]*' | tr '\n' ' ')" '"id":10 "id":9 ' "--since, --limit"

# bad input
expect_exit 2 "$DRUDGE" cancel 20-10
contains "$err" "the range '20-10' is empty: it starts after it ends (write 10-20)" "empty range"
expect_exit 2 "$DRUDGE" tasks 5-x
contains "$err" "'5-x' is not a task id or a range of them" "bad range"
expect_exit 2 "$DRUDGE" cancel --state finished
contains "$err" "--state 'finished': use queued, running, done, failed, dead or cancelled" "unknown state"
expect_exit 2 "$DRUDGE" cancel
contains "$err" "which tasks? give TASK ids or ranges" "no selection"
expect_exit 2 "$DRUDGE" tasks --since 2026-12-01 --until 2026-11-01
contains "$err" "--since is not before --until: the range is empty" "empty date range"
expect_exit 2 "$DRUDGE" cancel --cancelled 1
contains "$err" "unknown option '--cancelled'" "--cancelled is retry's"
expect_exit 2 "$DRUDGE" resolve --state failed
contains "$err" "say what was done: --note TEXT" "resolve needs a note"
steps0=$(sql "select count(*) from steps where kind = 'operator'")
expect_exit 7 "$DRUDGE" cancel 100-200
contains "$err" "nothing to cancel: no task matches (ids 100-200)" "nothing matched"
expect_exit 7 "$DRUDGE" cancel --key-prefix inv-
contains "$err" "nothing to cancel: no task matched is in a state it applies to (key prefix 'inv-')" "nothing applies"
contains "$out" "skipped 5: only queued or running tasks can be cancelled: #1 (done) #2 (done) #3 (done) #4 (failed) #5 (failed)" "skipped, by reason"
expect_exit 7 "$DRUDGE" --json retry --cancelled
contains "$out" '"matched":0,"changed":0' "retry --cancelled, none yet"
equals "$(sql "select count(*) from steps where kind = 'operator'")" "$steps0" "nothing recorded when nothing changes"

# cancel: a dry run changes nothing, then the same for real
expect_exit 0 "$DRUDGE" cancel 1 7-9 --dry-run
contains "$out" "dry run: drudge would cancel 3 of the 4 tasks matched (ids 1, 7-9):" "dry run summary"
contains "$out" "#7  ok                   queued    -> cancelled" "dry run lists each"
contains "$out" "skipped 1: only queued or running tasks can be cancelled: #1 (done)" "dry run skipped"
equals "$(sql "select count(*) from tasks where state = 'cancelled'")" "0" "dry run changed nothing"
equals "$(sql "select count(*) from steps where kind = 'operator'")" "$steps0" "dry run recorded nothing"
expect_exit 0 "$DRUDGE" --json cancel 1 7-9
contains "$out" '"action":"cancel","dry_run":false,"selection":"ids 1, 7-9","matched":4,"changed":3,' "cancel as JSON"
contains "$out" '{"id":1,"script":"ok","state":"done","changed":false,"requested":false,"skipped":"only queued or running tasks can be cancelled"}' "JSON skipped"
equals "$(sql "select id from tasks where state = 'cancelled' order by id" | paste -sd,)" "7,8,9" "cancelled"
equals "$(sql "select task_id from steps where kind = 'operator' and name = 'cancel' order by id" | paste -sd,)" "7,8,9" "an operator step per task"

# retry --cancelled, retry --dead --script, retry by filter
expect_exit 0 "$DRUDGE" retry --cancelled --key-prefix q-
contains "$out" "3 tasks queued again (of 3 matched: state cancelled, key prefix 'q-')" "retry --cancelled"
equals "$(sql "select count(*) from tasks where state = 'queued' and id in (7,8,9)")" "3" "requeued"
expect_exit 0 "$DRUDGE" retry --dead --script ok
equals "$(sql "select state || ' ' || spent from tasks where id = 6")" "queued 0" "retry --dead"

# resolve by error text; again: already resolved (exit 7)
expect_exit 0 "$DRUDGE" resolve --error "no such customer" --note "fixed by hand in the ERP"
contains "$out" "2 tasks resolved" "resolve by filter"
equals "$(sql "select resolved_note from tasks where id in (4,5)" | paste -sd,)" "fixed by hand in the ERP,fixed by hand in the ERP" "notes kept"
expect_exit 7 "$DRUDGE" resolve 4-5 --note again
contains "$out" "skipped 2: it is resolved already" "resolved already"

# A terminal asks before changing more than 100 tasks; --yes does not.
for i in $(seq 101); do echo "{\"n\":$i}"; done >many.jsonl
expect_exit 0 "$DRUDGE" enqueue other.lua --from many.jsonl --at +1d -q
if command -v script >/dev/null; then
  printf 'n\n' | script -qec "$DRUDGE --db '$DRUDGE_DB' cancel --script other" /dev/null >tty.out 2>&1 || true
  contains "$(cat tty.out)" "this changes 102 tasks. Go on? [y/N]" "a terminal asks"
  contains "$(cat tty.out)" "not confirmed: nothing changed" "refused"
  equals "$(sql "select count(*) from tasks where script = 'other' and state = 'queued'")" "102" "nothing changed"
  printf 'y\n' | script -qec "$DRUDGE --db '$DRUDGE_DB' cancel --script other" /dev/null >tty.out 2>&1 || true
  contains "$(cat tty.out)" "102 tasks cancelled" "confirmed"
  expect_exit 0 "$DRUDGE" retry --cancelled --script other --yes -q
fi
expect_exit 0 "$DRUDGE" cancel --script other -q
equals "$(sql "select count(*) from tasks where script = 'other' and state = 'cancelled'")" "102" "not a terminal: no question"

# The chain backs every row.
expect_exit 0 "$DRUDGE" audit verify
finish

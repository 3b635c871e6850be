# Everything a person does goes on the audit chain as an operator step (who,
# when, arguments), and audit verify cross-checks each task row's state,
# outcome, output and resolution against the chain: a row edited by hand, or
# an operator step deleted, is reported naming the task and the field. Runs
# on SQLite and on PostgreSQL (label pg).
source "$TESTS/lib.sh"
me=$(id -un)

cat > s.lua <<'EOF2'
return {
  name = "s", max_attempts = 1,
  run = function(task)
    if task.input.fail then fail("no such case: " .. task.input.ref) end
    return { filed = task.input.ref }
  end,
}
EOF2
expect_exit 0 "$DRUDGE" -q enqueue s.lua --input '{"ref":"A"}'
expect_exit 0 "$DRUDGE" -q enqueue s.lua --input '{"ref":"B","fail":true}'
expect_exit 0 "$DRUDGE" -q enqueue s.lua --input '{"ref":"C"}'
expect_exit 0 "$DRUDGE" -q enqueue s.lua --input '{"ref":"D","fail":true}'
expect_exit 0 "$DRUDGE" cancel 3
expect_exit 0 "$DRUDGE" pause s
expect_exit 0 "$DRUDGE" resume s
expect_exit 0 "$DRUDGE" -q work --until-empty
expect_exit 0 "$DRUDGE" retry 4
expect_exit 0 "$DRUDGE" -q work --until-empty
expect_exit 0 "$DRUDGE" schedule add nightly --cron '0 19 * * *' s.lua
expect_exit 0 "$DRUDGE" schedule pause nightly
expect_exit 0 "$DRUDGE" schedule rm nightly
expect_exit 0 "$DRUDGE" resolve 2 --note 'phoned the court: "B" filed by hand'

equals "$(sql "select task_id || ' ' || name from steps where kind = 'operator' order by id" | tr '\n' ',')" \
  "3 cancel,0 pause,0 resume,4 retry,0 schedule add,0 schedule pause,0 schedule remove,2 resolve," \
  "every operator action is a step, in order, naming its task"
equals "$(sql "select count(*) from steps where kind = 'operator' and request like '{\"user\":\"$me\"%' and attempt = 0 and outcome = 'ok'")" \
  "8" "each names the OS user"
contains "$(sql "select request from steps where name = 'resolve'")" \
  '"note":"phoned the court: \"B\" filed by hand"' "the resolve's note is on the chain"
contains "$(sql "select request from steps where name = 'pause'")" '"script":"s"' "pause names its script"
contains "$(sql "select request from steps where name = 'schedule add'")" '"cron":"0 19 * * *"' "schedule add's arguments"
equals "$(sql "select response from steps where name = 'cancel'")" '{"state":"cancelled"}' "a queued task's cancel"
equals "$(sql "select cancelled_by from tasks where id = 3")" "$me" "the row names who cancelled"
# Each attempt's root names the state its outcome left the task in.
v=$(sql "select script_sha256 from tasks where id = 1")
equals "$(sql "select response from steps where task_id = 1 and seq = 1 and kind = 'task'")" \
  "{\"state\":\"done\",\"script_version\":\"$v\",\"output\":{\"filed\":\"A\"}}" "a done root: state, version and output"
equals "$(sql "select group_concat(response) from (select response from steps where task_id = 4 and seq = 1 and kind = 'task' order by id) r")" \
  "{\"state\":\"failed\",\"script_version\":\"$v\"},{\"state\":\"failed\",\"script_version\":\"$v\"}" "a failed root, before and after its retry"
# Nothing changed, nothing recorded: a refused retry is no step.
expect_exit 1 "$DRUDGE" retry 1
equals "$(sql "select count(*) from steps where kind = 'operator'")" "8" "a refused action is not recorded"

expect_exit 0 "$DRUDGE" audit verify
contains "$out" "ok:" "the untouched database verifies"
# Replay still compares the output (the state in the root is not the script's).
expect_exit 0 "$DRUDGE" replay 1
contains "$out" "identical outcome (done)" "replay of a root with a state"

# forge SQL WANT...: the edit is reported, naming the task and field; then undone.
forge() {
  local edit=$1 undo=$2; shift 2
  sql "$edit" >/dev/null
  expect_exit 6 "$DRUDGE" audit verify
  for want in "$@"; do contains "$err" "$want" "verify after: $edit"; done
  sql "$undo" >/dev/null
  expect_exit 0 "$DRUDGE" audit verify
}
note=$(sql "select resolved_note from tasks where id = 2")
forge "update tasks set resolved_note = 'forged note' where id = 2" \
      "update tasks set resolved_note = '$(printf '%s' "$note" | sed "s/'/''/g")' where id = 2" \
      "task 2: resolved_note:" "not the note the chain recorded"
forge "update tasks set resolved_by = 'alice' where id = 2" \
      "update tasks set resolved_by = '$me' where id = 2" "task 2: resolved_by: the tasks table says alice"
forge "update tasks set output = '{\"forged\":1}' where id = 1" \
      "update tasks set output = '{\"filed\":\"A\"}' where id = 1" "task 1: output:"
forge "update tasks set state = 'done', outcome = 'done', output = '{\"filed\":\"B\"}' where id = 2" \
      "update tasks set state = 'failed', outcome = 'failed', output = null where id = 2" \
      "task 2: state: the tasks table says done, the chain (row"
forge "update tasks set outcome = 'done' where id = 4" \
      "update tasks set outcome = 'failed' where id = 4" "task 4: outcome: the tasks table says done"
forge "update tasks set resolved_by = 'alice', resolved_note = 'made up', resolved_at = 1 where id = 4" \
      "update tasks set resolved_by = null, resolved_note = null, resolved_at = null where id = 4" \
      "task 4: resolved_by/resolved_note: the tasks table says it was resolved by alice, but the chain records no resolve"
forge "update tasks set state = 'cancelled' where id = 1" \
      "update tasks set state = 'done' where id = 1" "task 1: state: the tasks table says cancelled"

# An operator step deleted (the last row: no gap in the ids to give it away).
if on_pg; then
  sql "alter table steps disable trigger steps_append_only" >/dev/null
else
  sqlite3 "$DRUDGE_DB" "drop trigger steps_no_delete"
fi
sql "delete from steps where id = (select max(id) from steps) and name = 'resolve'" >/dev/null
expect_exit 6 "$DRUDGE" audit verify
contains "$err" "task 2: resolved_by/resolved_note: the tasks table says it was resolved by $me, but the chain records no resolve of it" \
  "a deleted operator step is detected through the row"

finish

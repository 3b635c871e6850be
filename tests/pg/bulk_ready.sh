#!/usr/bin/env bash
# A bulk load on PostgreSQL writes each task's row in ready itself (loads
# without keys by COPY, keyed ones in the statement that skips duplicates)
# and tells the trigger so (schema v17): every queued task must still have
# exactly one ready row, with its own priority, time, script, window and
# deadline, ids in the order of the file, counts that add up, and the
# trigger must go on filling ready for every other insert into tasks.
source "$TESTS/lib.sh"
cat >win.lua <<'LUA'
return { name = "win", window = "Mon-Sun", deadline = "2h",
  run = function(task) return true end }
LUA
# 5,000 rows: more than one batch of the load (4,096)
awk 'BEGIN { for (i = 0; i < 5000; i++) printf "{\"n\":%d}\n", i }' >plain.jsonl
expect_exit 0 "$DRUDGE" -q enqueue win.lua --from plain.jsonl --priority 3 --at 2026-01-02T03:04
# keyed: a key twice in the file (the first wins) and one queued before
expect_exit 0 "$DRUDGE" -q enqueue win.lua --input '{"n":-1}' --key k7
printf '{"ref":"k%d","n":%d}\n' 1 1 2 2 1 3 7 4 5 5 >keyed.jsonl
expect_exit 0 "$DRUDGE" enqueue win.lua --from keyed.jsonl --key-field ref
contains "$out" "enqueued 3 tasks of win from keyed.jsonl: 2 duplicates skipped" "duplicates skipped"
equals "$(sql "select string_agg(input::json->>'n', ',' order by id) from tasks where key is not null")" \
  "-1,1,2,5" "keyed: the first of a key wins, in the file's order"

equals "$(sql "select count(*) from tasks")" "5004" "every task queued"
equals "$(sql "select count(*) from ready")" "5004" "one ready row a task"
equals "$(sql "select count(*) from tasks t join ready r on r.task_id = t.id
  where r.priority = t.priority and r.run_at = t.run_at and r.script = t.script
  and r.\"window\" is not distinct from t.\"window\" and r.deadline is not distinct from t.deadline
  and t.\"window\" = 'Mon-Sun' and t.deadline is not null and not r.retried")" \
  "5004" "each ready row has its task's priority, time, script, window and deadline"
equals "$(sql "select count(*) from tasks where key is null and priority = 3
  and run_at = $(date -d 2026-01-02T03:04 +%s)000000")" "5000" "--priority and --at of the load"
equals "$(sql "select bool_and(n = lag) from (select (input::json->>'n')::int n,
  (row_number() over (order by id) - 1)::int lag from tasks where key is null) x")" "t" \
  "ids in the order of the file"
equals "$(sql "select n from task_counts where script = 'win' and state = 'queued'")" "5004" \
  "the queued count"

# The trigger still fills ready for an insert drudge did not make itself,
# also in a session that loaded before (the flags are taken down).
sql "insert into tasks(script, script_path, state, run_at, max_attempts, created_at)
  select script, script_path, 'queued', 0, 3, 0 from tasks limit 1" >/dev/null
equals "$(sql "select count(*) from ready")" "5005" "a hand insert enters ready"
equals "$(sql "select count(*) from tasks t where not exists
  (select 1 from ready r where r.task_id = t.id)")" "0" "no queued task outside ready"

# and every task runs once
expect_exit 0 "$DRUDGE" -q work -j 2 --until-empty
equals "$(sql "select state, count(*) from tasks group by 1")" "done|5005" "all done"
equals "$(sql "select count(*) from ready")" "0" "ready emptied"
equals "$(sql "select count(*) from steps")" "5005" "one step a task"
expect_exit 0 "$DRUDGE" audit verify
finish

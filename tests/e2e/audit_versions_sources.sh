# Every way a task is enqueued names the script version it will run, as
# `drudge enqueue` does: tasks a schedule enqueues and tasks a script
# enqueues with queue.enqueue carry script_sha256, stored in the database,
# so replay needs no script file for them either. SQLite and PostgreSQL.
source "$TESTS/lib.sh"
mkdir robot
cat > robot/child.lua <<'LUA'
return { name = "child", max_attempts = 1, run = function(task) return { got = task.input.n } end }
LUA
cat > robot/parent.lua <<'LUA'
local queue = require "drudge.queue"
return { name = "parent", max_attempts = 1, run = function(task)
  local id = queue.enqueue("child.lua", { n = task.input.n }, { key = "c" .. task.input.n })
  return { child = id }
end }
LUA
cat > robot/nightly.lua <<'LUA'
return { name = "nightly", max_attempts = 1, run = function(task) return { ok = true } end }
LUA
# The reference: what `drudge enqueue` records for the same files.
expect_exit 0 "$DRUDGE" -q enqueue robot/child.lua --input '{"n":0}' --key ref
child_v=$(sql "select script_sha256 from tasks where key = 'ref'")
equals "${#child_v}" "64" "enqueue names a version"

# queue.enqueue from a script.
expect_exit 0 "$DRUDGE" -q enqueue robot/parent.lua --input '{"n":1}'
expect_exit 0 "$DRUDGE" -q work --until-empty
equals "$(sql "select state || ',' || ifnull(script_sha256, 'NULL') from tasks where key = 'c1'")" "done,$child_v" \
  "a task queue.enqueue added names the child's version"

# A schedule's tick (last_tick moved back an hour, so one tick is due now).
expect_exit 0 "$DRUDGE" -q schedule add hourly --cron "@hourly" robot/nightly.lua --catch-up latest
sql "update schedules set last_tick = last_tick - 3700000000 where name = 'hourly'"
"$DRUDGE" -q work >work.log 2>&1 &
work_pid=$!
wait_sql "select count(*) from tasks where schedule = 'hourly' and state = 'done'" 1 || true
kill -TERM $work_pid; wait $work_pid 2>/dev/null || true
expect_exit 0 "$DRUDGE" -q enqueue robot/nightly.lua --key ref2
nightly_v=$(sql "select script_sha256 from tasks where key = 'ref2'")
equals "$(sql "select count(*) from tasks where schedule = 'hourly'")" "1" "the schedule enqueued its tick"
equals "$(sql "select script_sha256 from tasks where schedule = 'hourly'")" "$nightly_v" \
  "a scheduled task names its version"
equals "$(sql "select count(*) from script_versions where sha256 in ('$child_v', '$nightly_v')")" "2" \
  "both versions are stored"

# With the scripts gone, both replay from the stored source.
sched=$(sql "select id from tasks where schedule = 'hourly'")
child=$(sql "select id from tasks where key = 'c1'")
rm -rf robot
expect_exit 0 "$DRUDGE" replay "$sched"
contains "$err" "from the database" "the scheduled task replays without its file"
expect_exit 0 "$DRUDGE" replay "$child"
contains "$err" "from the database" "the queued child replays without its file"
expect_exit 0 "$DRUDGE" audit verify
finish

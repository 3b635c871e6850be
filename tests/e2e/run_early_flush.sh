# `drudge run` of a long script hands its closed steps to the audit chain
# about once a second, as `drudge work` does: a run killed midway (kill -9)
# leaves on the chain what it had done, and a run that ends normally has
# every step once and a chain that verifies. A run's task can be cancelled.
source "$TESTS/lib.sh"
cat > long.lua <<'LUA'
return {
  run = function(task)
    step("post document", function() return 201 end)
    local t = os.clock()
    while os.clock() - t < 1.2 do end
    step("file receipt", function() return true end)
    t = os.clock()
    while os.clock() - t < (task.input.spin or 0) do end
    step("close case", function() return true end)
    return "ok"
  end,
}
LUA
# A run killed while it spins: its first two steps are already committed.
"$DRUDGE" -q run long.lua --input '{"spin":60}' >run1.out 2>&1 &
pid=$!
wait_sql "select count(*) from steps where task_id = 1" 2 || true
equals "$(sql "select group_concat(name, ',') from (select name from steps where task_id = 1 order by seq) x")" \
  "post document,file receipt" "closed steps committed while the run still ran"
kill -9 $pid
wait $pid 2>/dev/null || true
equals "$(sql "select state from task_state where id = 1")" "running" "the killed run's task is still leased"
# Its row says queued (a claim leaves it alone); every command shows it running.
expect_exit 0 "$DRUDGE" tasks --state running --json
contains "$out" '"id":1,' "tasks --state running"
expect_exit 0 "$DRUDGE" status --json
contains "$out" '"running":1' "status counts it running"
expect_exit 0 "$DRUDGE" report --format json
contains "$out" '"running":1' "report counts it in the backlog as running"
expect_exit 0 "$DRUDGE" audit verify

# A run that ends normally: every step once (those flushed early first, then
# the rest in seq order, root included), the chain whole.
expect_exit 0 "$DRUDGE" -q run long.lua --input '{"spin":0}'
equals "$(sql "select state from tasks where id = 2")" "done" "the second run is done"
# (Which steps go early depends on where the clock's second falls: the first
# does, the rest may go with the root.)
equals "$(sql "select group_concat(seq || ':' || name, ',') from (select * from steps where task_id = 2 order by seq) x")" \
  "1:long,2:post document,3:file receipt,4:close case" "steps once each"
equals "$(sql "select count(*) from steps a, steps r where a.task_id = 2 and r.task_id = 2 and a.seq = 2 and r.seq = 1 and a.id < r.id")" \
  "1" "the step flushed early precedes the root"
expect_exit 0 "$DRUDGE" audit verify

# The killed run's lease would hold for a day; its process is gone, so the
# next `drudge work` on this machine takes it back at once, as a lost attempt
# (one attempt allowed here, so it ends dead rather than running again).
sql "update tasks set max_attempts = 1 where id = 1"
expect_exit 0 timeout 90 "$DRUDGE" -q work --until-empty
equals "$(sql "select state from task_state where id = 1")" "dead" "the killed run's task came back"
equals "$(sql "select outcome || ' ' || substr(worker, 1, 4) from attempts where task_id = 1")" "lost run@" \
  "its attempt is recorded as lost, by the run"
# A run that is alive keeps its task while a worker reaps around it.
"$DRUDGE" -q run long.lua --input '{"spin":2}' >run3.out 2>&1 &
pid=$!
wait_sql "select count(*) from running" 1 || true
expect_exit 0 timeout 90 "$DRUDGE" -q work --until-empty
wait $pid
equals "$?" 0 "the live run finished"
equals "$(sql "select state || ' ' || attempts from tasks where id = 3")" "done 1" "the live run's task was not reaped"
expect_exit 0 "$DRUDGE" audit verify

# `drudge cancel` of a run's task stops the run within about a second, as a
# worker's would be at its next lease renewal: state and attempt cancelled,
# exit 4, the steps it took on the chain.
"$DRUDGE" -q run long.lua --input '{"spin":60}' >run4.out 2>&1 &
pid=$!
wait_sql "select count(*) from running where task_id = 4" 1 || true
expect_exit 0 "$DRUDGE" cancel 4
contains "$out" "cancel requested" "a running task's cancel is a request"
start=$(date +%s)
rc=0
wait $pid || rc=$?
equals "$rc" 4 "the cancelled run exits 4"
took=$(($(date +%s) - start))
[ "$took" -le 5 ] || fail "the run took ${took}s to stop after drudge cancel"
contains "$(cat run4.out)" "task #4 cancelled by an operator" "the run says why it stopped"
equals "$(sql "select state from task_state where id = 4")" "cancelled" "the run's task is cancelled"
equals "$(sql "select outcome || ': ' || error from attempts where task_id = 4")" \
  "cancelled: cancelled by an operator" "its attempt is recorded as cancelled"
expect_exit 0 "$DRUDGE" audit verify
finish

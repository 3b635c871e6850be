# A worker killed in the middle of a long attempt: the steps it had closed
# were already on the audit chain (handed to the writer about every second
# while the attempt ran), so the lost attempt keeps its record, the chain
# verifies, and the retry sees those steps in task.previous.
source "$TESTS/lib.sh"
cat > long.lua <<'LUA'
return {
  max_attempts = 3,
  run = function(task)
    if task.attempt > 1 then
      local p = task.previous[1]
      local names = {}
      for _, s in ipairs(p.steps) do names[#names + 1] = s.name end
      return { outcome = p.outcome, steps = table.concat(names, ",") }
    end
    step("post document", function() return 201 end)
    local t = os.clock()
    while os.clock() - t < 1.2 do end
    step("file receipt", function() return true end)
    t = os.clock()
    while os.clock() - t < 60 do end -- killed in here
    return true
  end,
}
LUA
expect_exit 0 "$DRUDGE" enqueue long.lua --input '{}' --key doc-1
"$DRUDGE" -q work --lease 2s >work1.out 2>&1 &
pid=$!
# Wait until both closed steps are on the chain, then kill -9 the worker.
wait_sql "select count(*) from steps where task_id = 1 and attempt = 1" 2 || true
equals "$(sql "select group_concat(name, ',') from (select name from steps where task_id = 1 and attempt = 1 order by seq) x")" \
  "post document,file receipt" "closed steps committed while the attempt still ran"
kill -9 $pid
wait $pid 2>/dev/null || true
equals "$(sql "select state from task_state")" "running" "the killed worker's task is still leased"
sleep 2.2 # the lease runs out
expect_exit 0 "$DRUDGE" -q work --until-empty --backoff-base 0
equals "$(sql "select state, attempts from tasks")" "done|2" "done on the second attempt"
equals "$(sql "select outcome from attempts where n = 1")" "lost" "the first attempt is recorded as lost"
# The reaper closed the attempt's root step as lost, after the two it had.
equals "$(sql "select group_concat(seq || ':' || name || ':' || outcome, ',') from (select * from steps where task_id = 1 and attempt = 1 order by id) x")" \
  "2:post document:ok,3:file receipt:ok,1:long:lost" "its steps stayed, once each, and the root says lost"
out_json=$(sql "select output from tasks")
contains "$out_json" '"outcome":"lost"' "the retry sees the lost attempt"
contains "$out_json" '"steps":"long,post document,file receipt"' "and what it had done"
expect_exit 0 "$DRUDGE" audit verify
finish

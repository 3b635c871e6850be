# `drudge run` writes its task's row (running, under the run's lease) before
# run() starts without a sync of its own (README, "What a `drudge run`
# commits"): the row must still survive the process's death at once, before
# any step or the early flush's first second, so that the run is not
# forgotten: every command sees it running, the chain verifies, and the next
# `drudge work` takes it back as a lost attempt of the run.
source "$TESTS/lib.sh"
cat > spin.lua <<'LUA'
return {
  run = function(task)
    local t = os.clock()
    while os.clock() - t < 60 do end
    return "never"
  end,
}
LUA
"$DRUDGE" -q run spin.lua >run.out 2>&1 &
pid=$!
# Killed as soon as another connection sees the row: well within the
# first second, before anything of the run is synced.
wait_sql "select count(*) from running where task_id = 1" 1 || fail "the run's row never appeared"
kill -9 $pid
wait $pid 2>/dev/null || true
equals "$(sql "select state from task_state where id = 1")" "running" "the killed run's task is still leased"
equals "$(sql "select count(*) from steps where task_id = 1")" "0" "nothing of the run reached the chain"
expect_exit 0 "$DRUDGE" tasks --state running --json
contains "$out" '"id":1,' "tasks --state running shows it"
expect_exit 0 "$DRUDGE" audit verify
sql "update tasks set max_attempts = 1 where id = 1"
expect_exit 0 timeout 90 "$DRUDGE" -q work --until-empty
equals "$(sql "select state from task_state where id = 1")" "dead" "the next worker took it back"
equals "$(sql "select outcome || ' ' || substr(worker, 1, 4) from attempts where task_id = 1")" "lost run@" \
  "its attempt is recorded as lost, by the run"
expect_exit 0 "$DRUDGE" audit verify
finish

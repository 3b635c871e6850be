# drudge replay: a recorded attempt re-run offline, compared step by step.
source "$TESTS/lib.sh"

export DRUDGE_SECRET_CMS_TOKEN=replay-secret-value-123
cat > work.lua <<'EOF'
return {
  name = "work",
  run = function(task)
    local tok = secret "CMS_TOKEN"
    step("find case", function()
      log.info("looking up " .. task.input.ref .. " with " .. tok)
    end)
    local n = step("file document", function()
      log.info("filing")
      if task.input.ref == "BAD" then fail("no such case: BAD") end
      return 3
    end)
    return { ref = task.input.ref, pages = n, nested = { a = 1, b = { 2, 3 }, c = "x" } }
  end,
}
EOF
cp work.lua original.lua
expect_exit 0 "$DRUDGE" -q run work.lua --input '{"ref":"A1"}'
expect_exit 3 "$DRUDGE" -q run work.lua --input '{"ref":"BAD"}'
rows=$(sql "select count(*) from steps")

# Identical: also without the secret (replay never reads it).
unset DRUDGE_SECRET_CMS_TOKEN
expect_exit 0 "$DRUDGE" -q replay 1
equals "$out" "task #1 attempt 1: replayed 6 steps, identical outcome (done)" "replay identical"
expect_exit 0 "$DRUDGE" -q replay 2 --attempt 1
equals "$out" "task #2 attempt 1: replayed 6 steps, identical outcome (failed)" "failed attempt replays"
expect_exit 0 "$DRUDGE" -q --json replay 1
contains "$out" '"identical":true' "json identical"
contains "$out" '"steps":6,"recorded":6' "json counts"
equals "$(sql "select count(*) from steps")" "$rows" "replay writes nothing"

# The script changed on disk: replay still runs the version that ran, stored
# in the database; --script FILE replays the changed one, whose first
# divergence is named.
sed 's/"looking up "/"searching for "/' original.lua > work.lua
expect_exit 0 "$DRUDGE" -q replay 1
contains "$out" "identical outcome (done)" "the stored source, not the changed file"
expect_exit 6 "$DRUDGE" -q replay 1 --script work.lua
contains "$out" "DIVERGED at step 4: request differs" "changed call: step named"
contains "$out" 'expected log "info" {"message":"looking up A1 with [REDACTED:CMS_TOKEN]"}' "changed call: expected"
contains "$out" 'got log "info" {"message":"searching for A1 with [REDACTED:CMS_TOKEN]"}' "changed call: actual"

# A step renamed.
sed 's/step("file document"/step("file doc"/' original.lua > work.lua
expect_exit 6 "$DRUDGE" -q replay 1 --script work.lua
contains "$out" 'step 5: name differs: expected step "file document"' "renamed step"

# An extra call at the end, and a call left out.
sed 's/return { ref = task.input.ref/log.warn("extra"); return { ref = task.input.ref/' original.lua > work.lua
expect_exit 6 "$DRUDGE" -q replay 1 --script work.lua
contains "$out" 'step 7: the recording ends at step 6, but the script made log "warn"' "extra call"
sed 's/log.info("filing")//' original.lua > work.lua
expect_exit 6 "$DRUDGE" -q replay 2 --script work.lua
contains "$out" 'step 6: expected log "info" {"message":"filing"}, but the attempt ended after 5 steps' "left-out call"
sed 's/      log.info("filing")//; s/if task.input.ref == "BAD" then fail("no such case: BAD") end//' original.lua > work.lua
expect_exit 6 "$DRUDGE" -q replay 1 --script work.lua
contains "$out" 'expected log "info" {"message":"filing"}, but the attempt ended after 5 steps' "missing last call"

# A different outcome, and a different output.
sed 's/return 3/fail("changed")/' original.lua > work.lua
expect_exit 6 "$DRUDGE" -q replay 1 --script work.lua
contains "$out" 'step 5 (step "file document"): outcome differs: expected ok, got fail' "outcome differs"
sed 's/return 3/return 4/' original.lua > work.lua
expect_exit 6 "$DRUDGE" -q replay 1 --script work.lua
contains "$out" 'step 1 (task "work"): output differs' "output differs"

sed 's/fail("no such case: BAD")/fail("case BAD unknown")/' original.lua > work.lua
expect_exit 6 "$DRUDGE" -q replay 2 --script work.lua
contains "$out" 'step 1 (task "work"): error differs: expected no such case: BAD, got case BAD unknown' "attempt error differs"

# --script: replay the recording against another version of the script.
expect_exit 0 "$DRUDGE" -q replay 1 --script original.lua
contains "$out" "identical outcome" "--script with the original"

# Errors.
expect_exit 1 "$DRUDGE" replay 99
contains "$err" "no task #99" "unknown task"
expect_exit 1 "$DRUDGE" replay 1 --attempt 2
contains "$err" "no recorded attempt 2" "unknown attempt"
expect_exit 2 "$DRUDGE" replay
contains "$err" "give exactly one TASK" "no task given"
rm work.lua original.lua
expect_exit 0 "$DRUDGE" replay 1
contains "$err" "from the database" "script gone: the stored source replays"
expect_exit 1 "$DRUDGE" replay 1 --script gone.lua
contains "$err" "cannot read script" "a --script that is not there"

# A queued task retried by `drudge work`: each attempt replays on its own.
cat > retry.lua <<'EOF'
return { max_attempts = 3, run = function(task)
  log.info("attempt " .. task.attempt)
  if task.attempt == 1 then error("transient failure") end
  return { attempt = task.attempt }
end }
EOF
expect_exit 0 "$DRUDGE" enqueue retry.lua --input '{}'
id=$(sql "select max(id) from tasks")
for i in 1 2 3 4 5 6 7 8 9 10; do
  "$DRUDGE" -q work --until-empty --backoff-base 1ms >/dev/null 2>&1 || true
  [ "$(sql "select state from tasks where id = $id")" = done ] && break
  sleep 0.2
done
equals "$(sql "select state, attempts from tasks where id = $id")" "done|2" "retried task done"
expect_exit 0 "$DRUDGE" -q replay "$id"
equals "$out" "task #$id attempt 2: replayed 2 steps, identical outcome (done)" "last attempt by default"
expect_exit 0 "$DRUDGE" -q replay "$id" --attempt 1
equals "$out" "task #$id attempt 1: replayed 2 steps, identical outcome (error)" "--attempt 1"

finish

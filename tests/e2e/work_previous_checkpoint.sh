# drudge work: a retry sees its earlier attempts (task.previous), and
# --checkpoint-key signs the audit chain head, which verify --pubkey checks.
source "$TESTS/lib.sh"
cat > flaky.lua <<'LUA'
return {
  max_attempts = 3,
  run = function(task)
    if task.attempt == 1 then
      step("post document", function() return true end)
      error("connection reset after posting")
    end
    local p = task.previous[1]
    return { seen = #task.previous, outcome = p.outcome, first_step = p.steps[2].name }
  end,
}
LUA
expect_exit 0 "$DRUDGE" enqueue flaky.lua --input '{}' --key one
expect_exit 0 "$DRUDGE" audit keygen signing.pem
equals "$(stat -c %a signing.pem)" "600" "private key mode"
expect_exit 0 "$DRUDGE" -q work --until-empty --backoff-base 0 --checkpoint-key signing.pem
equals "$(sql "select state, attempts from tasks")" "done|2" "done on the second attempt"
out_json=$(sql "select output from tasks")
contains "$out_json" '"seen":1' "one earlier attempt seen"
contains "$out_json" '"outcome":"error"' "its outcome"
contains "$out_json" '"first_step":"post document"' "its recorded steps"
equals "$(sql "select count(*) from checkpoints")" "1" "the drained worker signed the head"
expect_exit 0 "$DRUDGE" audit verify --pubkey signing.pem.pub
expect_exit 2 "$DRUDGE" work --checkpoint-key missing.pem
contains "$err" "missing.pem" "missing key named"
expect_exit 2 "$DRUDGE" work --checkpoint-every 0s
finish

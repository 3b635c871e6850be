# End to end: queued HTTP tasks against the fixture server, worked by
# `drudge work`, then shown, exported (and verified by the README's Python
# verifier), verified, checkpointed, replayed with the server gone, pruned.
source "$TESTS/lib.sh"

PORT=$(free_port)
"$BUILD/tests/fixture_server" --port "$PORT" >"$TMP/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
wait_port "$PORT"
BASE="http://127.0.0.1:$PORT"
export DRUDGE_SECRET_API_TOKEN=tok-audit-e2e-31337

cat > case.lua <<EOF
local http = require "drudge.http"
return {
  name = "case-http",
  manual_minutes = 3,
  run = function(task)
    local tok = secret "API_TOKEN"
    local who = step("authenticate", function()
      local r = http.get{ url = "$BASE/bearer/" .. tok, auth = { bearer = tok } }
      if r.status ~= 200 then fail("not authenticated: " .. r.status) end
      return r:json()
    end)
    local case = step("find case", function()
      return http.get("$BASE/json"):json()
    end)
    local doc = http.get("$BASE/large?bytes=" .. task.input.bytes)
    log.info("case " .. case.id .. " document of " .. doc.size .. " bytes")
    local echo = http.post("$BASE/echo", { json = { case = case.id, ref = task.input.ref } }):json()
    return { case = case.id, name = case.name, ok = who.authenticated, echoed = echo.method }
  end,
}
EOF
cp case.lua original.lua
expect_exit 0 "$DRUDGE" enqueue case.lua --input '{"ref":"R1","bytes":100000}' --key R1
expect_exit 0 "$DRUDGE" enqueue case.lua --input '{"ref":"R2","bytes":120000}' --key R2
expect_exit 0 "$DRUDGE" work --until-empty -j 2
equals "$(sql "select group_concat(state) from tasks")" "done,done" "tasks done"
equals "$(sql "select count(*) from payloads where data is not null")" "2" "large bodies stored as payloads"

# show: the timeline with HTTP statuses, nothing secret.
expect_exit 0 "$DRUDGE" audit show 1
contains "$out" "task #1  case-http  key R1  done after 1 attempt" "show: task"
contains "$out" 'step "authenticate"  ok' "show: step"
contains "$out" "http GET $BASE/bearer/[REDACTED:API_TOKEN]  ok  status 200" "show: http call, token redacted"
contains "$out" "http POST $BASE/echo  ok  status 200" "show: post"
contains "$out" "log info: case 42 document of 100000 bytes" "show: log"

# The secret never reaches the database, in any file.
sql "pragma wal_checkpoint(truncate)" >/dev/null
if grep -a -q -F "tok-audit-e2e" "$DRUDGE_DB" "$DRUDGE_DB"-wal 2>/dev/null; then
  fail "the API token is in the database"
else
  pass
fi

# export + the README's verifier; verify; checkpoint.
sed -n '/^```python$/,/^```$/p' "$SRC/logs/README.md" | sed '1d;$d' > verify.py
expect_exit 0 "$DRUDGE" audit export -o audit.jsonl
expect_exit 0 /usr/bin/python3 verify.py audit.jsonl
contains "$out" "ok: $(sql "select count(*) from steps") rows" "export verifies outside drudge"
expect_exit 0 "$DRUDGE" audit keygen audit.key
expect_exit 0 "$DRUDGE" audit checkpoint --key audit.key
expect_exit 0 "$DRUDGE" audit verify --pubkey audit.key.pub
contains "$out" "2 payloads (0 pruned), 1 checkpoint signed by audit.key.pub" "verify with payloads and a checkpoint"

# Replay with the server gone: every call answered from the recording.
kill $SERVER; wait $SERVER 2>/dev/null || true
unset DRUDGE_SECRET_API_TOKEN
expect_exit 0 "$DRUDGE" -q replay 1
contains "$out" "task #1 attempt 1: replayed" "replay offline"
contains "$out" "identical outcome (done)" "replay identical"
expect_exit 0 "$DRUDGE" -q replay 2
contains "$out" "identical outcome (done)" "second task replays"

# A changed script that calls another URL diverges at that call.
# (replay runs the stored version that ran unless --script names another.)
sed "s#\"$BASE/json\"#\"$BASE/json?v=2\"#" original.lua > case.lua
expect_exit 0 "$DRUDGE" -q replay 1
contains "$out" "identical outcome (done)" "the stored version, not the changed file"
expect_exit 6 "$DRUDGE" -q replay 1 --script case.lua
contains "$out" "DIVERGED at step" "changed URL diverges"
contains "$out" "expected http \"GET $BASE/json\"" "divergence: expected call"
contains "$out" "got http \"GET $BASE/json?v=2\"" "divergence: actual call"
cp original.lua case.lua

# Prune the bodies: the chain still verifies; replay says what is missing.
expect_exit 0 "$DRUDGE" audit prune --payloads-older-than 0s
contains "$out" "pruned 2 payloads" "prune"
expect_exit 0 "$DRUDGE" audit verify --pubkey audit.key.pub
contains "$out" "2 payloads (2 pruned)" "pruned, not tampered"
expect_exit 6 "$DRUDGE" -q replay 1
contains "$err" "1 payload of this attempt was pruned" "replay names pruned payloads"

finish

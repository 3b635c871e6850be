# drudge.http under `drudge replay`: a run recorded against the fixture
# server replays identically after the server is gone (responses, retries,
# payloads, a transport error, a secret), and a changed script diverges.
source "$TESTS/lib.sh"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

PORT=$(free_port)
"$BUILD/tests/fixture_server" --port "$PORT" >"$TMP/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
wait_port "$PORT"
BASE="http://127.0.0.1:$PORT"
DEAD=$(free_port)

cat >"$TMP/case.lua" <<EOF
local http = require "drudge.http"
return { run = function(task)
  local token = secret "CMS_TOKEN"
  local who = http.get("$BASE/bearer/" .. token, { auth = { bearer = token } })
  local j = http.get("$BASE/json"):json()
  local f = http.get("$BASE/flaky?key=" .. task.input.key .. "&fail=1",
                     { retry = { attempts = 3, backoff = 0.01 } })
  local p = http.post("$BASE/echo", { json = { case = task.input.key, n = 2 } }):json()
  local big = http.get("$BASE/binary?bytes=70000")
  local ok, e = pcall(http.get, "http://127.0.0.1:$DEAD/nothing")
  return { who.status, j.name, f.status, f.attempts, p.body, #big.body, big.body:byte(300),
           not ok and tostring(e):find("Failed to connect", 1, true) ~= nil }
end }
EOF
DRUDGE_SECRET_CMS_TOKEN=tok-replay-424242 expect_exit 0 "$DRUDGE" run "$TMP/case.lua" --input '{"key":"R-1"}'
recorded=$out
contains "$recorded" '[200,"Zoë",200,2,"{\"case\":\"R-1\",\"n\":2}",70000,43,true]' "recorded run"

kill $SERVER
wait $SERVER 2>/dev/null || true
# The world is gone (and so is the secret): replay must not need either.
expect_exit 0 "$DRUDGE" replay 1
contains "$out$err" "identical outcome" "replay without the server"

# A script that asks for something else diverges, naming the step.
mkdir "$TMP/v2"
sed 's/n = 2/n = 3/' "$TMP/case.lua" >"$TMP/v2/case.lua"
expect_exit 6 "$DRUDGE" replay 1 --script "$TMP/v2/case.lua"
contains "$out$err" "DIVERGED at step 7: request differs" "a changed request is a divergence, at the POST"
finish

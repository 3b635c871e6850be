# drudge.http under `drudge work -j 4`: the per-host concurrency cap from
# $DRUDGE_HTTP_LIMITS holds across all worker threads of the process, and
# each worker's cookies stay with its task.
source "$TESTS/lib.sh"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

PORT=$(free_port)
"$BUILD/tests/fixture_server" --port "$PORT" >"$TMP/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
wait_port "$PORT"
BASE="http://127.0.0.1:$PORT"

cat >"$TMP/slow.lua" <<EOF2
local http = require "drudge.http"
return { name = "slow", run = function(task)
  -- a session per task: the cookie set here must not leak into another task
  http.get("$BASE/cookies/set?task=t" .. task.input.i)
  local seen = http.get("$BASE/cookies"):json().cookie
  assert(seen == "task=t" .. task.input.i, "cookie of another task: " .. seen)
  return http.get("$BASE/slow?ms=150").status
end }
EOF2
for i in $(seq 1 12); do echo "{\"i\":$i}"; done >"$TMP/tasks.jsonl"

# capped at 2 requests in flight for this host:port, whatever the workers
echo "127.0.0.1:$PORT concurrent=2" >"$TMP/limits.conf"
expect_exit 0 "$DRUDGE" enqueue "$TMP/slow.lua" --from "$TMP/tasks.jsonl"
DRUDGE_HTTP_LIMITS="$TMP/limits.conf" expect_exit 0 "$DRUDGE" work -j 4 --until-empty
equals "$(sql "select count(*) from tasks where state='done'")" 12 "all tasks done"
max=$(curl -s "$BASE/concurrency" | sed 's/[^0-9]//g')
[ "$max" -ge 1 ] && [ "$max" -le 2 ] && pass || fail "concurrent=2 but the server saw $max at once"

# without the cap the same workers do overlap (so the check above means something)
expect_exit 0 "$DRUDGE" enqueue "$TMP/slow.lua" --from "$TMP/tasks.jsonl" --key-field i
expect_exit 0 "$DRUDGE" work -j 4 --until-empty
max=$(curl -s "$BASE/concurrency" | sed 's/[^0-9]//g')
[ "$max" -ge 3 ] && pass || fail "4 workers never overlapped (max $max): the cap test proves nothing"
finish

# sleep/wait_until (no CPU burnt, recorded, cut short by the timeout and by
# drudge cancel) and configuration errors (a missing secret, a secrets file
# others can read, an unknown key name, an option of the wrong type, a
# script that no longer compiles): not retried, the script paused with the
# reason in status, resumed once fixed.
source "$TESTS/lib.sh"

cat > waits.lua <<'LUA'
return { timeout = 5, run = function(task)
  local c0 = os.clock()
  sleep(0.4)
  local n = 0
  local v = wait_until(function() n = n + 1; return n >= 3 and "ready" end, { every = 0.1, timeout = 3 })
  return { v = v, n = n, cpu = os.clock() - c0 }
end }
LUA
t0=$(date +%s%N)
expect_exit 0 "$DRUDGE" run waits.lua
t1=$(date +%s%N)
contains "$out" '"v":"ready"' "wait_until returns the function's value"
contains "$out" '"n":3' "wait_until tried three times"
ms=$(( (t1 - t0) / 1000000 ))
[ "$ms" -ge 600 ] && pass || fail "sleep(0.4) + 2 waits of 0.1 s took only $ms ms"
cpu=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cpu"])')
python3 -c "import sys; sys.exit(0 if $cpu < 0.2 else 1)" && pass || fail "waiting burnt $cpu s of CPU"
equals "$(sql "select name || ':' || outcome from steps where kind = 'wait' order by seq" | tr '\n' ' ')" \
  "sleep:ok wait_until:ok " "wait steps recorded"
contains "$(sql "select request from steps where name = 'sleep'")" '"seconds":0.4' "sleep's request"
contains "$(sql "select response from steps where name = 'wait_until'")" '"tries":3' "wait_until's tries"

# The attempt's timeout ends a long sleep early.
cat > long.lua <<'LUA'
return { timeout = 0.5, run = function() sleep(60) end }
LUA
expect_exit 4 "$DRUDGE" run long.lua
# the step's own duration (a sanitizer build takes seconds to start)
ms=$(sql "select duration_us / 1000 from steps where name = 'sleep' and task_id = (select max(id) from tasks)")
[ "$ms" -lt 1500 ] && pass || fail "sleep(60) with timeout 0.5 took $ms ms"
contains "$err" "timeout" "timeout reported"
equals "$(sql "select outcome from steps where name = 'sleep' and task_id = (select max(id) from tasks)")" "timeout" "sleep step ends as timeout"

# wait_until past its own timeout: a system error naming the tries.
cat > never.lua <<'LUA'
return { run = function() return wait_until(function() return false end, { every = 0.1, timeout = 0.35 }) end }
LUA
expect_exit 4 "$DRUDGE" run never.lua
contains "$err" "wait_until: the condition was not met within 0.35 s" "wait_until timeout message"
cat > badopt.lua <<'LUA'
return { run = function() wait_until(function() return true end, { timout = 3 }) end }
LUA
expect_exit 2 "$DRUDGE" run badopt.lua
contains "$err" "wait_until: unknown option 'timout'" "a misspelt option is a configuration error"

# drudge cancel ends a sleeping attempt within about a second.
cat > cancel.lua <<'LUA'
return { timeout = 120, run = function() sleep(100) end }
LUA
"$DRUDGE" run cancel.lua >"$TMP/cancel.out" 2>&1 &
pid=$!
wait_sql "select count(*) from steps s join tasks t on t.id = s.task_id where t.script = 'cancel' and s.name = 'sleep'" 1 ||
  sleep 1.5
id=$(sql "select id from tasks where script = 'cancel'")
t0=$(date +%s%N)
"$DRUDGE" cancel "$id" >/dev/null
set +e; wait $pid; rc=$?; set -e
t1=$(date +%s%N)
equals "$rc" "4" "cancelled run exits 4"
ms=$(( (t1 - t0) / 1000000 ))
[ "$ms" -lt 5000 ] && pass || fail "cancel of a sleeping task took $ms ms"

# ---- configuration errors ----
cat > needs_secret.lua <<'LUA'
return { max_attempts = 5, run = function(task) return { len = #secret("CMS_TOKEN") } end }
LUA
for i in 1 2 3 4; do "$DRUDGE" enqueue needs_secret.lua --key "k$i" >/dev/null; done
expect_exit 0 timeout 30 "$DRUDGE" work -j 1 --until-empty --backoff-base 0
equals "$(sql "select state, count(*) from task_state where script = 'needs_secret' group by state")" "queued|4" "tasks stay queued"
equals "$(sql "select count(*) from attempts a join tasks t on t.id = a.task_id where t.script = 'needs_secret'")" \
  "$(sql "select count(distinct a.task_id) from attempts a join tasks t on t.id = a.task_id where t.script = 'needs_secret'")" \
  "no task tried twice"
equals "$(sql "select max(spent) from tasks where script = 'needs_secret'")" "0" "no attempt counted"
equals "$(sql "select distinct a.error_kind from attempts a join tasks t on t.id = a.task_id where t.script = 'needs_secret'")" "config" "error kind"
expect_exit 0 "$DRUDGE" status
contains "$out" "needs_secret is paused by a configuration error" "status says the script is paused"
contains "$out" "secret 'CMS_TOKEN' is not set" "status says why"
expect_exit 0 "$DRUDGE" --json status
contains "$out" '"pause_reason":"' "status --json has the reason"
# Another worker does not touch them while paused (the first stopped
# claiming them once the script was paused: tasks it had claimed ahead ran).
n1=$(sql "select count(*) from attempts a join tasks t on t.id = a.task_id where t.script = 'needs_secret'")
[ "$n1" -ge 1 ] && [ "$n1" -le 4 ] && pass || fail "attempts before the pause: $n1"
expect_exit 0 timeout 30 "$DRUDGE" work -j 1 --until-empty
equals "$(sql "select count(*) from attempts a join tasks t on t.id = a.task_id where t.script = 'needs_secret'")" "$n1" "paused: no more attempts"
# Fixed and resumed: every task runs once more and is done.
expect_exit 0 "$DRUDGE" resume needs_secret
DRUDGE_SECRET_CMS_TOKEN=s3cret-value expect_exit 0 timeout 30 "$DRUDGE" work -j 1 --until-empty
equals "$(sql "select state, count(*) from task_state where script = 'needs_secret' group by state")" "done|4" "done after the fix"

# A secrets file others can read: drudge work refuses to start; secret() is a configuration error.
printf 'CMS_TOKEN=s3cret-value\n' > secrets.env
chmod 644 secrets.env
expect_exit 2 "$DRUDGE" --secrets secrets.env work --until-empty
contains "$err" "refusing secrets file" "work refuses a readable secrets file"
contains "$err" "chmod 600" "and says how to fix it"
expect_exit 2 "$DRUDGE" --secrets secrets.env run needs_secret.lua
contains "$err" "configuration error" "run: a configuration error"
equals "$(sql "select state, error_kind from tasks where id = (select max(id) from tasks)")" "cancelled|config" "run: cancelled, kind config"
expect_exit 1 "$DRUDGE" --secrets missing.env work --until-empty
contains "$err" "cannot read secrets file" "work refuses a missing secrets file"
chmod 600 secrets.env
expect_exit 0 "$DRUDGE" --secrets secrets.env run needs_secret.lua
contains "$out" '"len":12' "secret from a 0600 file"

# A wrong option type to a connector and a script that stopped compiling.
cat > badtype.lua <<'LUA'
local http = require "drudge.http"
return { run = function() http.get("http://127.0.0.1:1/", { timeout = "soon" }) end }
LUA
expect_exit 2 "$DRUDGE" run badtype.lua
contains "$err" "'timeout' must be a number" "connector option type"
cat > broken.lua <<'LUA'
return { run = function() return 1 end }
LUA
"$DRUDGE" enqueue broken.lua --key b1 >/dev/null
echo 'return { run = function() return 1 end' > broken.lua
expect_exit 0 timeout 30 "$DRUDGE" work -j 1 --until-empty
equals "$(sql "select state, spent from tasks where script = 'broken'")" "queued|0" "a script that no longer compiles: task waits"
expect_exit 0 "$DRUDGE" status
contains "$out" "broken is paused by a configuration error" "broken script paused"

finish
